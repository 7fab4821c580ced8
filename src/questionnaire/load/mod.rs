//! Reading `surveys/*.toml`: TOML → raw structs with spans → validated [`Questionnaire`].
//! Every problem is reported with file, line and field so an evaluator can fix the file.

use super::model::*;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use toml::Spanned;

mod files;
mod kinds;
mod raw;

pub use files::{builtin, load_dir, BUILTIN_FILES};
use kinds::*;
use raw::*;

/// One problem found in a questionnaire file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    /// 1-based line; `None` when the problem is not tied to a place (e.g. unreadable file).
    pub line: Option<usize>,
    /// Code of the question the problem is in, if any.
    pub question: Option<String>,
    /// Field path inside the question or file, e.g. `dimension`, `show_if.question`, `title.en`.
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(q) = &self.question {
            write!(f, "question \"{q}\" ")?;
        }
        if !self.field.is_empty() {
            write!(f, "field \"{}\": ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Loading failed; every problem found is listed (one per line in `Display`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

// ---------------------------------------------------------------------------------------------

const KINDS: [&str; 6] = ["likert5", "single", "multiple", "rating", "number", "text"];
pub(super) const DEFAULT_TEXT_MAX: usize = 1000;
pub(super) const TEXT_MAX_LIMIT: usize = 10_000;

/// Collects problems for one file and turns byte offsets into line numbers.
struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
    problems: Vec<Problem>,
}

impl Ctx<'_> {
    fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    fn push(&mut self, at: Option<usize>, question: Option<&str>, field: &str, msg: String) {
        let line = at.map(|o| self.line_of(o));
        self.problems.push(Problem {
            file: self.file.to_string(),
            line,
            question: question.map(str::to_string),
            field: field.to_string(),
            message: msg,
        });
    }
}

pub(super) fn valid_code(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Requires both translations; `at` locates the enclosing item when a translation is absent.
fn text_of(
    cx: &mut Ctx,
    raw: Option<&RawText>,
    at: usize,
    question: Option<&str>,
    field: &str,
) -> Text {
    let empty = RawText::default();
    let raw = raw.unwrap_or(&empty);
    let mut get = |lang: &str, v: &Option<Spanned<String>>, other: &Option<Spanned<String>>| match v
    {
        Some(s) if !s.get_ref().trim().is_empty() => s.get_ref().trim().to_string(),
        Some(s) => {
            cx.push(
                Some(s.span().start),
                question,
                &format!("{field}.{lang}"),
                format!("the {} translation is empty", lang_name(lang)),
            );
            String::new()
        }
        None => {
            let pos = other.as_ref().map(|o| o.span().start).unwrap_or(at);
            cx.push(
                Some(pos),
                question,
                &format!("{field}.{lang}"),
                format!(
                    "missing {} translation; add `{field}.{lang} = \"…\"`",
                    lang_name(lang)
                ),
            );
            String::new()
        }
    };
    let zh = get("zh", &raw.zh, &raw.en);
    let en = get("en", &raw.en, &raw.zh);
    Text { zh, en }
}

fn lang_name(lang: &str) -> &'static str {
    if lang == "zh" {
        "Chinese (zh)"
    } else {
        "English (en)"
    }
}

fn optional_text(
    cx: &mut Ctx,
    raw: &Option<RawText>,
    at: usize,
    question: Option<&str>,
    field: &str,
) -> Option<Text> {
    raw.as_ref()
        .map(|r| text_of(cx, Some(r), at, question, field))
}

fn toml_error(file: &str, text: &str, e: &toml::de::Error) -> Problem {
    let line = e.span().map(|s| {
        text.as_bytes()[..s.start.min(text.len())]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    });
    Problem {
        file: file.to_string(),
        line,
        question: None,
        field: String::new(),
        message: e.message().trim().to_string(),
    }
}

/// The codes `show_if` may name for a controlling question, or `None` if it cannot control.
fn show_if_codes(q: &Question) -> Option<Vec<String>> {
    match &q.kind {
        QuestionKind::Likert5(_) | QuestionKind::Single { .. } | QuestionKind::Multiple { .. } => {
            Some(q.options().into_iter().map(|(c, _)| c).collect())
        }
        QuestionKind::Rating { .. } => Some((0..=10).map(|i| i.to_string()).collect()),
        QuestionKind::Number { .. } | QuestionKind::Text { .. } => None,
    }
}

fn build_show_if(
    cx: &mut Ctx,
    raw: &Spanned<RawShowIf>,
    earlier: &[Question],
    all_codes: &BTreeSet<String>,
    qcode: &str,
) -> Option<ShowIf> {
    let s = raw.get_ref();
    let target = s.question.get_ref().trim();
    let at = Some(s.question.span().start);
    let Some(tq) = earlier.iter().find(|q| q.code == target) else {
        let msg = if target == qcode {
            "a question cannot depend on itself".to_string()
        } else if all_codes.contains(target) {
            format!("\"{target}\" comes later in the file; show_if may only depend on an earlier question")
        } else {
            format!("unknown question \"{target}\"")
        };
        cx.push(at, Some(qcode), "show_if.question", msg);
        return None;
    };
    let Some(codes) = show_if_codes(tq) else {
        cx.push(
            at,
            Some(qcode),
            "show_if.question",
            format!(
                "\"{target}\" is a {} question; show_if can depend only on likert5, single, multiple or rating questions",
                tq.kind.name()
            ),
        );
        return None;
    };
    let values_at = Some(s.values.span().start);
    if s.values.get_ref().is_empty() {
        cx.push(
            values_at,
            Some(qcode),
            "show_if.in",
            "give at least one answer code".to_string(),
        );
    }
    let mut values = Vec::new();
    for v in s.values.get_ref() {
        let v = v.trim().to_string();
        if !codes.contains(&v) {
            cx.push(
                values_at,
                Some(qcode),
                "show_if.in",
                format!(
                    "\"{v}\" is not a choice of question \"{target}\"; its codes are: {}",
                    codes.join(", ")
                ),
            );
        } else if !values.contains(&v) {
            values.push(v);
        }
    }
    Some(ShowIf {
        question: target.to_string(),
        values,
    })
}

/// Location info kept for cross-file checks.
struct Parsed {
    questionnaire: Questionnaire,
    version_line: usize,
}

fn parse_inner(file: &str, text: &str) -> Result<Parsed, Vec<Problem>> {
    let raw: RawFile = toml::from_str(text).map_err(|e| vec![toml_error(file, text, &e)])?;
    let mut cx = Ctx {
        file,
        text,
        problems: Vec::new(),
    };

    let id = raw.id.get_ref().trim().to_string();
    if !valid_code(&id) {
        cx.push(
            Some(raw.id.span().start),
            None,
            "id",
            format!("\"{id}\" is not a valid id (letters, digits, _ or -), e.g. \"service_user\""),
        );
    }
    let version = match u32::try_from(*raw.version.get_ref()) {
        Ok(v) if v >= 1 => v,
        _ => {
            cx.push(
                Some(raw.version.span().start),
                None,
                "version",
                format!("must be a whole number ≥ 1, got {}", raw.version.get_ref()),
            );
            0
        }
    };
    let rt_at = raw.respondent_type.span().start;
    let respondent_type = match raw.respondent_type.get_ref().parse::<RespondentType>() {
        Ok(r) => Some(r),
        Err(e) => {
            cx.push(Some(rt_at), None, "respondent_type", e.to_string());
            None
        }
    };
    // Root tables have no span; point at `id` (the first line that matters) instead.
    let root_at = raw.id.span().start;
    let title = text_of(&mut cx, Some(&raw.title), root_at, None, "title");
    let intro = text_of(&mut cx, Some(&raw.intro), root_at, None, "intro");
    let min_duration_seconds = raw
        .min_duration_seconds
        .as_ref()
        .and_then(|s| match u32::try_from(*s.get_ref()) {
            Ok(v) => Some(v),
            Err(_) => {
                cx.push(
                    Some(s.span().start),
                    None,
                    "min_duration_seconds",
                    format!("must be a whole number ≥ 0, got {}", s.get_ref()),
                );
                None
            }
        });
    if let Some(d) = &raw.likert {
        // Validate file-wide defaults once, even if no likert question uses them.
        let mut probe = Ctx {
            file,
            text,
            problems: Vec::new(),
        };
        build_likert(
            &mut probe,
            LikertSpec {
                scores: d.scores.as_ref(),
                satisfied: d.satisfied.as_ref(),
                dont_know: d.dont_know.as_ref(),
            },
            None,
        );
        for mut p in probe.problems {
            p.field = format!("likert.{}", p.field);
            cx.problems.push(p);
        }
    }

    let mut dimensions: Vec<Dimension> = Vec::new();
    for (i, d) in raw.dimensions.iter().enumerate() {
        let d_at = d.span().start;
        let d = d.get_ref();
        let code = d.code.get_ref().trim().to_string();
        let field = format!("dimensions[{i}]");
        if !valid_code(&code) {
            cx.push(
                Some(d.code.span().start),
                None,
                &format!("{field}.code"),
                format!("\"{code}\" is not a valid code (letters, digits, _ or -)"),
            );
        } else if dimensions.iter().any(|x| x.code == code) {
            cx.push(
                Some(d.code.span().start),
                None,
                &format!("{field}.code"),
                format!("duplicate dimension code \"{code}\""),
            );
        }
        let rt = RawText {
            zh: d.zh.clone(),
            en: d.en.clone(),
        };
        let name = text_of(&mut cx, Some(&rt), d_at, None, &field);
        dimensions.push(Dimension { code, name });
    }
    let known_dims = || {
        dimensions
            .iter()
            .map(|d| d.code.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };

    if raw.questions.is_empty() {
        cx.push(
            None,
            None,
            "questions",
            "the file has no questions; add `[[questions]]` tables".to_string(),
        );
    }
    let all_codes: BTreeSet<String> = raw
        .questions
        .iter()
        .map(|q| q.get_ref().code.get_ref().trim().to_string())
        .collect();
    let mut questions: Vec<Question> = Vec::new();
    let mut seen = BTreeSet::new();
    for q in &raw.questions {
        let q_at = q.span().start;
        let q = q.get_ref();
        let code = q.code.get_ref().trim().to_string();
        let c_at = Some(q.code.span().start);
        if !valid_code(&code) {
            cx.push(
                c_at,
                Some(&code),
                "code",
                "not a valid question code (letters, digits, _ or -)".to_string(),
            );
        } else if !seen.insert(code.clone()) {
            cx.push(
                c_at,
                Some(&code),
                "code",
                format!("duplicate question code \"{code}\"; codes must be unique in a file"),
            );
        }
        let text = text_of(&mut cx, q.text.as_ref(), q_at, Some(&code), "text");
        let hint = optional_text(&mut cx, &q.hint, q_at, Some(&code), "hint");
        let required = q.required.unwrap_or(true);
        let dimension = match &q.dimension {
            Some(d) => {
                let dc = d.get_ref().trim();
                if !dimensions.iter().any(|x| x.code == dc) {
                    let known = known_dims();
                    cx.push(
                        Some(d.span().start),
                        Some(&code),
                        "dimension",
                        if known.is_empty() {
                            format!(
                                "unknown dimension \"{dc}\"; the file declares no [[dimensions]]"
                            )
                        } else {
                            format!("unknown dimension \"{dc}\"; known: {known}")
                        },
                    );
                }
                Some(dc.to_string())
            }
            None => {
                if q.kind.get_ref() == "likert5" {
                    cx.push(
                        Some(q.kind.span().start),
                        Some(&code),
                        "dimension",
                        match known_dims() {
                            k if k.is_empty() => "missing; every likert5 question belongs to a dimension, and the file declares no [[dimensions]] (add e.g. code = \"attitude\", zh = \"服务态度\", en = \"Service attitude\")".to_string(),
                            k => format!("missing; every likert5 question belongs to a dimension (known: {k})"),
                        },
                    );
                }
                None
            }
        };
        let Some(kind) = build_kind(&mut cx, q, raw.likert.as_ref(), q_at, &code, required) else {
            continue;
        };
        let show_if = q
            .show_if
            .as_ref()
            .and_then(|s| build_show_if(&mut cx, s, &questions, &all_codes, &code));
        questions.push(Question {
            code,
            text,
            dimension,
            required,
            show_if,
            hint,
            kind,
        });
    }

    if !cx.problems.is_empty() {
        return Err(cx.problems);
    }
    let Some(respondent_type) = respondent_type else {
        return Err(cx.problems);
    };
    let mut questionnaire = Questionnaire {
        id,
        version,
        title,
        respondent_type,
        intro,
        min_duration_seconds,
        dimensions,
        questions,
        content_hash: String::new(),
    };
    questionnaire.content_hash = questionnaire.compute_hash();
    let version_line = cx.line_of(raw.version.span().start);
    Ok(Parsed {
        questionnaire,
        version_line,
    })
}

/// Parse and validate one questionnaire file. `file_name` is only used in error messages.
pub fn parse(file_name: &str, text: &str) -> Result<Questionnaire, LoadError> {
    parse_inner(file_name, text)
        .map(|p| p.questionnaire)
        .map_err(|problems| LoadError { problems })
}
