//! Reading `surveys/*.toml`: TOML → raw structs with spans → validated [`Questionnaire`].
//! Every problem is reported with file, line and field so an evaluator can fix the file.

use super::model::*;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;
use toml::Spanned;

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
// Raw file shape. Spans are kept on every value we may have to complain about. Tables that may be
// written with dotted keys (`text.zh = …`) carry no span in toml 0.8, so `Spanned` is only used
// on scalars, arrays and `[[array-of-tables]]` entries.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    id: Spanned<String>,
    version: Spanned<i64>,
    title: RawText,
    respondent_type: Spanned<String>,
    intro: RawText,
    #[serde(default)]
    min_duration_seconds: Option<Spanned<i64>>,
    #[serde(default)]
    likert: Option<RawLikert>,
    #[serde(default)]
    dimensions: Vec<Spanned<RawDimension>>,
    #[serde(default)]
    questions: Vec<Spanned<RawQuestion>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawText {
    #[serde(default)]
    zh: Option<Spanned<String>>,
    #[serde(default)]
    en: Option<Spanned<String>>,
}

/// File-wide likert defaults, overridable per question.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLikert {
    #[serde(default)]
    scores: Option<Spanned<BTreeMap<String, f64>>>,
    #[serde(default)]
    satisfied: Option<Spanned<Vec<i64>>>,
    #[serde(default)]
    dont_know: Option<Spanned<DontKnowSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDimension {
    code: Spanned<String>,
    #[serde(default)]
    zh: Option<Spanned<String>>,
    #[serde(default)]
    en: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChoice {
    code: Spanned<String>,
    #[serde(default)]
    zh: Option<Spanned<String>>,
    #[serde(default)]
    en: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShowIf {
    question: Spanned<String>,
    #[serde(rename = "in")]
    values: Spanned<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuestion {
    code: Spanned<String>,
    kind: Spanned<String>,
    #[serde(default)]
    text: Option<RawText>,
    #[serde(default)]
    dimension: Option<Spanned<String>>,
    #[serde(default)]
    required: Option<bool>,
    #[serde(default)]
    show_if: Option<Spanned<RawShowIf>>,
    #[serde(default)]
    hint: Option<RawText>,
    // likert5
    #[serde(default)]
    scores: Option<Spanned<BTreeMap<String, f64>>>,
    #[serde(default)]
    satisfied: Option<Spanned<Vec<i64>>>,
    #[serde(default)]
    dont_know: Option<Spanned<DontKnowSpec>>,
    // single / multiple
    #[serde(default)]
    choices: Option<Spanned<Vec<Spanned<RawChoice>>>>,
    #[serde(default)]
    min: Option<Spanned<f64>>,
    #[serde(default)]
    max: Option<Spanned<f64>>,
    // rating
    #[serde(default)]
    low: Option<RawText>,
    #[serde(default)]
    high: Option<RawText>,
    // number
    #[serde(default)]
    integer: Option<Spanned<bool>>,
    #[serde(default)]
    unit: Option<RawText>,
    // text
    #[serde(default)]
    max_length: Option<Spanned<i64>>,
}

/// `dont_know = true` (code "0"), `dont_know = false` (none), or `dont_know = "dk"` (that code).
enum DontKnowSpec {
    Off,
    Code(String),
}

impl<'de> Deserialize<'de> for DontKnowSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DontKnowSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("true, false or the code of the \"don't know\" option (e.g. \"dk\")")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<DontKnowSpec, E> {
                Ok(if v {
                    DontKnowSpec::Code(DEFAULT_DONT_KNOW_CODE.to_string())
                } else {
                    DontKnowSpec::Off
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DontKnowSpec, E> {
                Ok(DontKnowSpec::Code(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DontKnowSpec, E> {
                Ok(DontKnowSpec::Code(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

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

/// Likert settings after merging file defaults with a question's own fields.
struct LikertSpec<'a> {
    scores: Option<&'a Spanned<BTreeMap<String, f64>>>,
    satisfied: Option<&'a Spanned<Vec<i64>>>,
    dont_know: Option<&'a Spanned<DontKnowSpec>>,
}

fn build_likert(cx: &mut Ctx, spec: LikertSpec, qcode: Option<&str>) -> Likert {
    let mut scores: BTreeMap<u8, f64> = DEFAULT_LIKERT_SCORES.into_iter().collect();
    if let Some(map) = spec.scores {
        let at = Some(map.span().start);
        let mut given = BTreeMap::new();
        for (k, v) in map.get_ref() {
            match k.trim().parse::<u8>() {
                Ok(c) if (1..=5).contains(&c) => {
                    if !v.is_finite() {
                        cx.push(at, qcode, "scores", format!("score of {c} is not a number"));
                    }
                    given.insert(c, *v);
                }
                _ => cx.push(
                    at,
                    qcode,
                    "scores",
                    format!("\"{k}\" is not a likert code; codes are 5 (很满意) to 1 (很不满意)"),
                ),
            }
        }
        let missing: Vec<String> = (1..=5u8)
            .rev()
            .filter(|c| !given.contains_key(c))
            .map(|c| c.to_string())
            .collect();
        if !missing.is_empty() {
            cx.push(
                at,
                qcode,
                "scores",
                format!(
                    "the score map does not cover the choices {}; give a score for each of 5, 4, 3, 2, 1",
                    missing.join(", ")
                ),
            );
        }
        scores = given;
    }
    let mut satisfied: BTreeSet<u8> = DEFAULT_SATISFIED.into_iter().collect();
    if let Some(list) = spec.satisfied {
        let at = Some(list.span().start);
        satisfied.clear();
        for v in list.get_ref() {
            if (1..=5).contains(v) {
                satisfied.insert(*v as u8);
            } else {
                cx.push(
                    at,
                    qcode,
                    "satisfied",
                    format!("unknown likert code {v} in the satisfied set; codes are 5 to 1"),
                );
            }
        }
        if list.get_ref().is_empty() {
            cx.push(
                at,
                qcode,
                "satisfied",
                "the satisfied set is empty; the default is [5, 4, 3]".to_string(),
            );
        }
    }
    let dont_know = match spec.dont_know {
        Some(s) => match s.get_ref() {
            DontKnowSpec::Off => None,
            DontKnowSpec::Code(code) => {
                let code = code.trim();
                let clash = code.parse::<u8>().is_ok_and(|c| (1..=5).contains(&c));
                if !valid_code(code) || clash {
                    cx.push(
                        Some(s.span().start),
                        qcode,
                        "dont_know",
                        format!(
                            "\"{code}\" cannot be the \"don't know\" code; use e.g. \"0\" or \"dk\" (letters, digits, _ or -; not 1–5)"
                        ),
                    );
                }
                Some(Choice {
                    code: code.to_string(),
                    label: Text::new(DONT_KNOW_ZH, DONT_KNOW_EN),
                })
            }
        },
        None => None,
    };
    Likert {
        choices: LIKERT_LABELS
            .iter()
            .map(|(code, zh, en)| LikertChoice {
                code: *code,
                label: Text::new(*zh, *en),
                score: scores.get(code).copied().unwrap_or(f64::NAN),
                satisfied: satisfied.contains(code),
            })
            .collect(),
        dont_know,
    }
}

fn build_choices(
    cx: &mut Ctx,
    raw: Option<&Spanned<Vec<Spanned<RawChoice>>>>,
    at: usize,
    qcode: &str,
) -> Vec<Choice> {
    let Some(list) = raw else {
        cx.push(
            Some(at),
            Some(qcode),
            "choices",
            "missing; give `choices = [{ code = \"1\", zh = \"…\", en = \"…\" }, …]`".to_string(),
        );
        return Vec::new();
    };
    if list.get_ref().len() < 2 {
        cx.push(
            Some(list.span().start),
            Some(qcode),
            "choices",
            "give at least two choices".to_string(),
        );
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, c) in list.get_ref().iter().enumerate() {
        let c_at = c.span().start;
        let c = c.get_ref();
        let code = c.code.get_ref().trim().to_string();
        let field = format!("choices[{i}]");
        if !valid_code(&code) {
            cx.push(
                Some(c.code.span().start),
                Some(qcode),
                &format!("{field}.code"),
                format!("\"{code}\" is not a valid code (letters, digits, _ or -)"),
            );
        } else if !seen.insert(code.clone()) {
            cx.push(
                Some(c.code.span().start),
                Some(qcode),
                &format!("{field}.code"),
                format!("duplicate choice code \"{code}\""),
            );
        }
        let raw_text = RawText {
            zh: c.zh.clone(),
            en: c.en.clone(),
        };
        let label = text_of(cx, Some(&raw_text), c_at, Some(qcode), &field);
        out.push(Choice { code, label });
    }
    out
}

/// Fields that only make sense for some kinds; naming one on another kind is a mistake.
fn check_fields_allowed(cx: &mut Ctx, q: &RawQuestion, kind: &str, qcode: &str) {
    let present: [(&str, Option<usize>); 10] = [
        ("scores", q.scores.as_ref().map(|s| s.span().start)),
        ("satisfied", q.satisfied.as_ref().map(|s| s.span().start)),
        ("dont_know", q.dont_know.as_ref().map(|s| s.span().start)),
        ("choices", q.choices.as_ref().map(|s| s.span().start)),
        ("min", q.min.as_ref().map(|s| s.span().start)),
        ("max", q.max.as_ref().map(|s| s.span().start)),
        ("integer", q.integer.as_ref().map(|s| s.span().start)),
        ("max_length", q.max_length.as_ref().map(|s| s.span().start)),
        ("low", q.low.as_ref().map(|_| 0)),
        ("high", q.high.as_ref().map(|_| 0)),
    ];
    let allowed: &[&str] = match kind {
        "likert5" => &["scores", "satisfied", "dont_know"],
        "single" => &["choices"],
        "multiple" => &["choices", "min", "max"],
        "rating" => &["low", "high"],
        "number" => &["min", "max", "integer", "unit"],
        "text" => &["max_length"],
        _ => return,
    };
    let mut extra: Vec<(&str, Option<usize>)> = present
        .iter()
        .filter(|(name, at)| at.is_some() && !allowed.contains(name))
        .copied()
        .collect();
    if q.unit.is_some() && !allowed.contains(&"unit") {
        extra.push(("unit", Some(0)));
    }
    for (name, at) in extra {
        // Tables without spans (low/high/unit) fall back to the `kind` line.
        let at = match at {
            Some(0) | None => q.kind.span().start,
            Some(a) => a,
        };
        cx.push(
            Some(at),
            Some(qcode),
            name,
            format!(
                "not allowed for kind {kind}; allowed: {}",
                allowed.join(", ")
            ),
        );
    }
}

fn bound(cx: &mut Ctx, v: Option<&Spanned<f64>>, qcode: &str, field: &str) -> Option<f64> {
    let v = v?;
    if !v.get_ref().is_finite() {
        cx.push(
            Some(v.span().start),
            Some(qcode),
            field,
            "must be a finite number".to_string(),
        );
        return None;
    }
    Some(*v.get_ref())
}

fn build_kind(
    cx: &mut Ctx,
    q: &RawQuestion,
    defaults: Option<&RawLikert>,
    at: usize,
    qcode: &str,
    required: bool,
) -> Option<QuestionKind> {
    let kind = q.kind.get_ref().as_str();
    check_fields_allowed(cx, q, kind, qcode);
    Some(match kind {
        "likert5" => QuestionKind::Likert5(build_likert(
            cx,
            LikertSpec {
                scores: q
                    .scores
                    .as_ref()
                    .or(defaults.and_then(|d| d.scores.as_ref())),
                satisfied: q
                    .satisfied
                    .as_ref()
                    .or(defaults.and_then(|d| d.satisfied.as_ref())),
                dont_know: q
                    .dont_know
                    .as_ref()
                    .or(defaults.and_then(|d| d.dont_know.as_ref())),
            },
            Some(qcode),
        )),
        "single" => QuestionKind::Single {
            choices: build_choices(cx, q.choices.as_ref(), at, qcode),
        },
        "multiple" => {
            let choices = build_choices(cx, q.choices.as_ref(), at, qcode);
            let n = choices.len();
            let mut count = |v: Option<&Spanned<f64>>, field: &str, default: usize| {
                let Some(s) = v else { return default };
                let x = *s.get_ref();
                if x.fract() != 0.0 || x < 0.0 || x > n as f64 {
                    cx.push(
                        Some(s.span().start),
                        Some(qcode),
                        field,
                        format!("must be a whole number from 0 to the number of choices ({n})"),
                    );
                    return default;
                }
                x as usize
            };
            let min = count(q.min.as_ref(), "min", usize::from(required));
            let max = count(q.max.as_ref(), "max", n);
            if min > max {
                let at = q.min.as_ref().map(|s| s.span().start).unwrap_or(at);
                cx.push(
                    Some(at),
                    Some(qcode),
                    "min",
                    format!("min ({min}) is greater than max ({max})"),
                );
            }
            if max == 0 && n > 0 {
                let at = q.max.as_ref().map(|s| s.span().start).unwrap_or(at);
                cx.push(
                    Some(at),
                    Some(qcode),
                    "max",
                    "max must be at least 1".to_string(),
                );
            }
            QuestionKind::Multiple { choices, min, max }
        }
        "rating" => QuestionKind::Rating {
            low: optional_text(cx, &q.low, q.kind.span().start, Some(qcode), "low"),
            high: optional_text(cx, &q.high, q.kind.span().start, Some(qcode), "high"),
        },
        "number" => {
            let integer = q.integer.as_ref().map(|s| *s.get_ref()).unwrap_or(true);
            let min = bound(cx, q.min.as_ref(), qcode, "min");
            let max = bound(cx, q.max.as_ref(), qcode, "max");
            for (name, v, raw) in [("min", min, &q.min), ("max", max, &q.max)] {
                match (v, raw) {
                    (Some(x), Some(s)) if integer && x.fract() != 0.0 => cx.push(
                        Some(s.span().start),
                        Some(qcode),
                        name,
                        format!("{x} is not a whole number but `integer` is true"),
                    ),
                    (None, None) => cx.push(
                        Some(at),
                        Some(qcode),
                        name,
                        format!("missing; a number question needs both bounds (`{name} = …`)"),
                    ),
                    _ => {}
                }
            }
            if let (Some(lo), Some(hi)) = (min, max) {
                if lo >= hi {
                    let at = q.min.as_ref().map(|s| s.span().start).unwrap_or(at);
                    cx.push(
                        Some(at),
                        Some(qcode),
                        "min",
                        format!("min ({lo}) must be less than max ({hi})"),
                    );
                }
            }
            QuestionKind::Number {
                min: min.unwrap_or(0.0),
                max: max.unwrap_or(0.0),
                integer,
                unit: optional_text(cx, &q.unit, q.kind.span().start, Some(qcode), "unit"),
            }
        }
        "text" => {
            let max_length = match &q.max_length {
                None => DEFAULT_TEXT_MAX,
                Some(s) => {
                    let v = *s.get_ref();
                    if v < 1 || v > TEXT_MAX_LIMIT as i64 {
                        cx.push(
                            Some(s.span().start),
                            Some(qcode),
                            "max_length",
                            format!("must be from 1 to {TEXT_MAX_LIMIT} characters, got {v}"),
                        );
                        DEFAULT_TEXT_MAX
                    } else {
                        v as usize
                    }
                }
            };
            QuestionKind::Text { max_length }
        }
        other => {
            cx.push(
                Some(q.kind.span().start),
                Some(qcode),
                "kind",
                format!("unknown kind \"{other}\"; known: {}", KINDS.join(", ")),
            );
            return None;
        }
    })
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

/// Parse several files and check that no `(id, version)` appears twice.
fn parse_all<'a>(
    files: impl IntoIterator<Item = (String, &'a str)>,
) -> Result<Vec<Questionnaire>, LoadError> {
    let mut problems = Vec::new();
    let mut out: Vec<Questionnaire> = Vec::new();
    let mut origin: BTreeMap<(String, u32), String> = BTreeMap::new();
    for (name, text) in files {
        match parse_inner(&name, text) {
            Ok(p) => {
                let key = (p.questionnaire.id.clone(), p.questionnaire.version);
                if let Some(first) = origin.get(&key) {
                    problems.push(Problem {
                        file: name.clone(),
                        line: Some(p.version_line),
                        question: None,
                        field: "version".to_string(),
                        message: format!(
                            "questionnaire \"{}\" version {} is also defined in {first}; give one of them a new version",
                            key.0, key.1
                        ),
                    });
                } else {
                    origin.insert(key, name.clone());
                    out.push(p.questionnaire);
                }
            }
            Err(ps) => problems.extend(ps),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(LoadError { problems })
    }
}

/// Load every `*.toml` directly in `dir` (not sub-directories such as `frameworks/`), in file
/// name order. All problems of all files are reported together.
pub fn load_dir(dir: &Path) -> Result<Vec<Questionnaire>, LoadError> {
    let io_problem = |file: String, e: std::io::Error| LoadError {
        problems: vec![Problem {
            file,
            line: None,
            question: None,
            field: String::new(),
            message: format!("cannot read: {e}"),
        }],
    };
    let entries = std::fs::read_dir(dir).map_err(|e| io_problem(dir.display().to_string(), e))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| io_problem(dir.display().to_string(), e))?;
        let path = entry.path();
        if path.is_file() && path.extension().is_some_and(|x| x == "toml") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut texts = Vec::new();
    for p in &paths {
        let name = p.display().to_string();
        let text = std::fs::read_to_string(p).map_err(|e| io_problem(name.clone(), e))?;
        texts.push((name, text));
    }
    parse_all(texts.iter().map(|(n, t)| (n.clone(), t.as_str())))
}

/// The shipped default questionnaires, embedded at compile time so the binary works from any
/// working directory.
pub const BUILTIN_FILES: [(&str, &str); 6] = [
    (
        "surveys/leader.toml",
        include_str!("../../surveys/leader.toml"),
    ),
    (
        "surveys/staff.toml",
        include_str!("../../surveys/staff.toml"),
    ),
    (
        "surveys/service_user.toml",
        include_str!("../../surveys/service_user.toml"),
    ),
    (
        "surveys/peer_department.toml",
        include_str!("../../surveys/peer_department.toml"),
    ),
    (
        "surveys/regulator.toml",
        include_str!("../../surveys/regulator.toml"),
    ),
    (
        "surveys/resident.toml",
        include_str!("../../surveys/resident.toml"),
    ),
];

/// Parse the embedded defaults. They are covered by tests, so an error here means a broken build.
pub fn builtin() -> Result<Vec<Questionnaire>, LoadError> {
    parse_all(BUILTIN_FILES.iter().map(|(n, t)| (n.to_string(), *t)))
}
