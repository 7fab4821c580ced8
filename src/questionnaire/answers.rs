//! Turning raw form values or upload cells into a validated, compact [`Answers`] set.

use super::model::*;
use super::scrub::scrub;
use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

/// Cells that mean "not answered" in uploads and forms (compared case-insensitively, trimmed).
/// `不了解` becomes [`AnswerValue::DontKnow`] on a likert question that offers "don't know".
pub const MISSING_MARKERS: [&str; 4] = ["", "不了解", "N/A", "#N/A"];

/// One validated answer.
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerValue {
    /// Likert code 1–5.
    Likert(u8),
    /// "不了解 / don't know" on a likert question: excluded from every denominator.
    DontKnow,
    /// Code of a `single` choice.
    Choice(String),
    /// Codes of `multiple` choices, in the questionnaire's choice order.
    Choices(Vec<String>),
    /// `rating` (0–10) and `number` answers.
    Number(f64),
    /// Free text, already scrubbed of phone numbers, ID numbers and e-mail addresses.
    Text(String),
}

/// Why one answer was refused. Messages exist in both languages for the re-rendered form.
#[derive(Debug, Clone, PartialEq)]
pub enum AnswerError {
    Required,
    /// A value that is neither a code nor a label of the question.
    UnknownChoice {
        value: String,
        allowed: Vec<String>,
    },
    /// Several values for a question that takes one.
    SeveralValues,
    TooFew {
        min: usize,
    },
    TooMany {
        max: usize,
    },
    NotANumber {
        value: String,
    },
    NotWhole {
        value: String,
    },
    OutOfRange {
        min: f64,
        max: f64,
    },
    TooLong {
        max: usize,
        len: usize,
    },
    /// Answered although `show_if` hides the question (strict checking of uploads only).
    Hidden {
        depends_on: String,
    },
}

fn fmt_num(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

impl AnswerError {
    /// Short machine-readable name, e.g. for upload error reports.
    pub fn kind(&self) -> &'static str {
        match self {
            AnswerError::Required => "required",
            AnswerError::UnknownChoice { .. } => "unknown_choice",
            AnswerError::SeveralValues => "several_values",
            AnswerError::TooFew { .. } => "too_few",
            AnswerError::TooMany { .. } => "too_many",
            AnswerError::NotANumber { .. } => "not_a_number",
            AnswerError::NotWhole { .. } => "not_whole",
            AnswerError::OutOfRange { .. } => "out_of_range",
            AnswerError::TooLong { .. } => "too_long",
            AnswerError::Hidden { .. } => "hidden",
        }
    }

    pub fn zh(&self) -> String {
        match self {
            AnswerError::Required => "此题为必答题，请作答。".to_string(),
            AnswerError::UnknownChoice { value, allowed } => {
                format!("“{value}”不是本题的选项；可选：{}。", allowed.join("、"))
            }
            AnswerError::SeveralValues => "本题只能选择一个答案。".to_string(),
            AnswerError::TooFew { min } => format!("请至少选择 {min} 项。"),
            AnswerError::TooMany { max } => format!("最多只能选择 {max} 项。"),
            AnswerError::NotANumber { value } => format!("“{value}”不是有效的数字。"),
            AnswerError::NotWhole { value } => format!("“{value}”不是整数，请填写整数。"),
            AnswerError::OutOfRange { min, max } => {
                format!("请填写 {} 到 {} 之间的数。", fmt_num(*min), fmt_num(*max))
            }
            AnswerError::TooLong { max, len } => {
                format!("内容过长（{len} 字），最多 {max} 字。")
            }
            AnswerError::Hidden { depends_on } => {
                format!("根据第“{depends_on}”题的回答，本题不应作答。")
            }
        }
    }

    pub fn en(&self) -> String {
        match self {
            AnswerError::Required => "This question is required.".to_string(),
            AnswerError::UnknownChoice { value, allowed } => format!(
                "\"{value}\" is not an option of this question; allowed: {}.",
                allowed.join(", ")
            ),
            AnswerError::SeveralValues => "Choose only one answer.".to_string(),
            AnswerError::TooFew { min } => format!("Choose at least {min}."),
            AnswerError::TooMany { max } => format!("Choose at most {max}."),
            AnswerError::NotANumber { value } => format!("\"{value}\" is not a number."),
            AnswerError::NotWhole { value } => {
                format!("\"{value}\" is not a whole number.")
            }
            AnswerError::OutOfRange { min, max } => format!(
                "Enter a number from {} to {}.",
                fmt_num(*min),
                fmt_num(*max)
            ),
            AnswerError::TooLong { max, len } => {
                format!("Too long ({len} characters); at most {max}.")
            }
            AnswerError::Hidden { depends_on } => {
                format!("This question must be left empty given the answer to \"{depends_on}\".")
            }
        }
    }
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.en())
    }
}

impl std::error::Error for AnswerError {}

impl Serialize for AnswerError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("AnswerError", 3)?;
        st.serialize_field("kind", self.kind())?;
        st.serialize_field("zh", &self.zh())?;
        st.serialize_field("en", &self.en())?;
        st.end()
    }
}

/// Full-width digits, letters and punctuation (what Chinese IMEs type) to ASCII; trims.
/// Borrows in the common case: uploads validate tens of millions of cells.
fn normalize(cell: &str) -> Cow<'_, str> {
    let t = cell.trim();
    let needs = |c: char| matches!(c, '\u{FF01}'..='\u{FF5E}' | '\u{3000}' | '’' | '‘');
    if !t.chars().any(needs) {
        return Cow::Borrowed(t);
    }
    let mapped: String = t
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            '’' | '‘' => '\'',
            _ => c,
        })
        .collect();
    Cow::Owned(mapped.trim().to_string())
}

/// `norm` is the likert code `code` written as one digit.
fn is_code_digit(norm: &str, code: u8) -> bool {
    norm.len() == 1 && norm.as_bytes()[0] == b'0' + code
}

fn is_missing(norm: &str) -> bool {
    MISSING_MARKERS.iter().any(|m| m.eq_ignore_ascii_case(norm))
}

fn same_label(norm: &str, label: &Text) -> bool {
    norm == label.zh || norm.eq_ignore_ascii_case(&label.en)
}

/// Resolve one token (code, zh label or en label) among a question's options.
fn resolve_option(question: &Question, norm: &str) -> Option<AnswerValue> {
    match &question.kind {
        QuestionKind::Likert5(l) => {
            if let Some(d) = &l.dont_know {
                if norm == d.code
                    || same_label(norm, &d.label)
                    || norm.eq_ignore_ascii_case("dont know")
                {
                    return Some(AnswerValue::DontKnow);
                }
            }
            l.choices
                .iter()
                .find(|c| is_code_digit(norm, c.code) || same_label(norm, &c.label))
                .map(|c| AnswerValue::Likert(c.code))
        }
        QuestionKind::Single { choices } | QuestionKind::Multiple { choices, .. } => choices
            .iter()
            .find(|c| norm == c.code || same_label(norm, &c.label))
            .map(|c| AnswerValue::Choice(c.code.clone())),
        _ => None,
    }
}

fn unknown(question: &Question, value: &str) -> AnswerError {
    AnswerError::UnknownChoice {
        value: value.trim().to_string(),
        allowed: question
            .options()
            .into_iter()
            .map(|(code, t)| format!("{code} {}", t.zh))
            .collect(),
    }
}

fn parse_number(
    raw: &str,
    norm: &str,
    min: f64,
    max: f64,
    integer: bool,
) -> Result<AnswerValue, AnswerError> {
    let dotted;
    let text = if norm.contains('。') {
        dotted = norm.replace('。', ".");
        dotted.as_str()
    } else {
        norm
    };
    let x: f64 = text
        .parse()
        .ok()
        .filter(|x: &f64| x.is_finite())
        .ok_or_else(|| AnswerError::NotANumber {
            value: raw.trim().to_string(),
        })?;
    if integer && x.fract() != 0.0 {
        return Err(AnswerError::NotWhole {
            value: raw.trim().to_string(),
        });
    }
    if x < min || x > max {
        return Err(AnswerError::OutOfRange { min, max });
    }
    Ok(AnswerValue::Number(x))
}

/// Order ticked codes as the questionnaire lists them and drop repeats.
fn ordered_choices(choices: &[Choice], picked: &[String]) -> Vec<String> {
    choices
        .iter()
        .filter(|c| picked.contains(&c.code))
        .map(|c| c.code.clone())
        .collect()
}

fn check_count(min: usize, max: usize, n: usize) -> Result<(), AnswerError> {
    if n > max {
        return Err(AnswerError::TooMany { max });
    }
    if n < min {
        return Err(AnswerError::TooFew { min });
    }
    Ok(())
}

/// Parse one cell of an upload (or one form value) for `question`.
///
/// Accepts codes (`5`), Chinese or English labels (`很满意`, `very satisfied`), full-width digits,
/// and the missing markers (`""`, `不了解`, `N/A`) which give `Ok(None)` — except that `不了解`
/// gives `DontKnow` on a likert question offering it. A `multiple` cell lists several options
/// separated by `;` `,` `|` (ASCII or full-width). Text is scrubbed and length-checked.
/// Whether an empty answer is allowed (required / `show_if`) is checked by [`check_answers`].
pub fn parse_cell(question: &Question, cell: &str) -> Result<Option<AnswerValue>, AnswerError> {
    let norm = normalize(cell);
    if let QuestionKind::Likert5(l) = &question.kind {
        if l.dont_know.is_some() {
            if let Some(v) = resolve_option(question, &norm) {
                return Ok(Some(v));
            }
        }
    }
    if is_missing(&norm) {
        return Ok(None);
    }
    match &question.kind {
        QuestionKind::Likert5(_) | QuestionKind::Single { .. } => resolve_option(question, &norm)
            .map(Some)
            .ok_or_else(|| unknown(question, cell)),
        QuestionKind::Multiple { choices, min, max } => {
            // A label may itself contain a separator, so try the whole cell first.
            let tokens: Vec<&str> = if resolve_option(question, &norm).is_some() {
                vec![&*norm]
            } else {
                norm.split([';', ',', '|', '；', '，'])
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .collect()
            };
            let mut picked = Vec::new();
            for t in tokens {
                match resolve_option(question, t) {
                    Some(AnswerValue::Choice(c)) => picked.push(c),
                    _ => return Err(unknown(question, t)),
                }
            }
            let picked = ordered_choices(choices, &picked);
            check_count(*min, *max, picked.len())?;
            Ok(Some(AnswerValue::Choices(picked)))
        }
        QuestionKind::Rating { .. } => parse_number(cell, &norm, 0.0, 10.0, true).map(Some),
        QuestionKind::Number {
            min, max, integer, ..
        } => parse_number(cell, &norm, *min, *max, *integer).map(Some),
        QuestionKind::Text { max_length } => {
            let t = cell.trim();
            let len = t.chars().count();
            if len > *max_length {
                return Err(AnswerError::TooLong {
                    max: *max_length,
                    len,
                });
            }
            Ok(Some(AnswerValue::Text(scrub(t))))
        }
    }
}

/// What to do with an answer to a question that `show_if` hides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HiddenAnswers {
    /// Drop it silently: a form without JavaScript shows every question, and a respondent may
    /// fill one in before changing the answer it depends on.
    Ignore,
    /// Refuse it: an upload row answering a hidden question is a data error.
    Reject,
}

/// A validated answer set in questionnaire order; stored as one compact JSON object per response.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Answers {
    values: Vec<(String, AnswerValue)>,
}

/// Whether `question` is shown given the answers to earlier questions. A question whose
/// controlling question is unanswered or itself hidden is hidden.
pub fn is_shown(q: &Questionnaire, question: &Question, earlier: &Answers) -> bool {
    let Some(cond) = &question.show_if else {
        return true;
    };
    match earlier.get(&cond.question) {
        None | Some(AnswerValue::Text(_)) => false,
        Some(AnswerValue::Likert(c)) => cond.values.contains(&c.to_string()),
        Some(AnswerValue::DontKnow) => q
            .question(&cond.question)
            .and_then(Question::likert)
            .and_then(|l| l.dont_know.as_ref())
            .is_some_and(|d| cond.values.contains(&d.code)),
        Some(AnswerValue::Choice(c)) => cond.values.contains(c),
        Some(AnswerValue::Choices(cs)) => cs.iter().any(|c| cond.values.contains(c)),
        Some(AnswerValue::Number(x)) => cond.values.contains(&fmt_num(*x)),
    }
}

/// Walk the questions in order applying `show_if` and `required` to per-question parse results.
fn assemble(
    q: &Questionnaire,
    mut parsed: BTreeMap<String, Result<AnswerValue, AnswerError>>,
    hidden: HiddenAnswers,
) -> Result<Answers, BTreeMap<String, AnswerError>> {
    let mut answers = Answers::default();
    let mut errors = BTreeMap::new();
    for question in &q.questions {
        let value = parsed.remove(&question.code);
        if !is_shown(q, question, &answers) {
            if value.is_some() && hidden == HiddenAnswers::Reject {
                let depends_on = question
                    .show_if
                    .as_ref()
                    .map(|s| s.question.clone())
                    .unwrap_or_default();
                errors.insert(question.code.clone(), AnswerError::Hidden { depends_on });
            }
            continue;
        }
        match value {
            Some(Ok(v)) => answers.values.push((question.code.clone(), v)),
            Some(Err(e)) => {
                errors.insert(question.code.clone(), e);
            }
            None if question.required => {
                errors.insert(question.code.clone(), AnswerError::Required);
            }
            None => {}
        }
    }
    if errors.is_empty() {
        Ok(answers)
    } else {
        Err(errors)
    }
}

/// Check a row of values parsed with [`parse_cell`] against `required` and `show_if`, in
/// questionnaire order. Codes not in the questionnaire are ignored (callers that must refuse
/// unknown columns check them first).
pub fn check_answers(
    q: &Questionnaire,
    values: BTreeMap<String, AnswerValue>,
    hidden: HiddenAnswers,
) -> Result<Answers, BTreeMap<String, AnswerError>> {
    assemble(
        q,
        values.into_iter().map(|(k, v)| (k, Ok(v))).collect(),
        hidden,
    )
}

/// Parse the values a form sent for one question.
fn parse_form_values(
    question: &Question,
    given: &[&str],
) -> Option<Result<AnswerValue, AnswerError>> {
    match (&question.kind, given) {
        (_, []) => None,
        (QuestionKind::Multiple { choices, min, max }, many) if many.len() > 1 => {
            let mut picked = Vec::new();
            for v in many {
                match resolve_option(question, &normalize(v)) {
                    Some(AnswerValue::Choice(c)) => picked.push(c),
                    _ => return Some(Err(unknown(question, v))),
                }
            }
            let picked = ordered_choices(choices, &picked);
            Some(check_count(*min, *max, picked.len()).map(|_| AnswerValue::Choices(picked)))
        }
        (_, [one]) => parse_cell(question, one).transpose(),
        (_, _) => Some(Err(AnswerError::SeveralValues)),
    }
}

/// Validate submitted form values (question code → values; several only for `multiple`; an
/// empty string means not answered). Answers to questions hidden by `show_if` are dropped,
/// even if invalid. Unknown keys (CSRF token, nonce, honeypot …) are ignored. Errors are keyed
/// by question code.
pub fn validate_answers(
    q: &Questionnaire,
    raw: &BTreeMap<String, Vec<String>>,
) -> Result<Answers, BTreeMap<String, AnswerError>> {
    let mut parsed = BTreeMap::new();
    for question in &q.questions {
        let given: Vec<&str> = raw
            .get(&question.code)
            .map(|v| {
                v.iter()
                    .map(String::as_str)
                    .filter(|s| !s.trim().is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(r) = parse_form_values(question, &given) {
            parsed.insert(question.code.clone(), r);
        }
    }
    assemble(q, parsed, HiddenAnswers::Ignore)
}

/// Stored answers could not be decoded against their questionnaire.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("answers of {questionnaire} v{version}: {message}")]
pub struct DecodeError {
    pub questionnaire: String,
    pub version: u32,
    pub message: String,
}

impl Answers {
    pub fn get(&self, code: &str) -> Option<&AnswerValue> {
        self.values.iter().find(|(c, _)| c == code).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &AnswerValue)> {
        self.values.iter().map(|(c, v)| (c.as_str(), v))
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Compact JSON keyed by question code in questionnaire order: likert → integer 1–5,
    /// don't know → null, single → "code", multiple → ["a","b"], rating/number → number,
    /// text → "string". Unanswered questions are absent.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(16 * self.values.len() + 2);
        out.push('{');
        for (i, (code, v)) in self.values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_json_str(&mut out, code);
            out.push(':');
            match v {
                AnswerValue::Likert(c) => out.push(char::from(b'0' + c)),
                AnswerValue::DontKnow => out.push_str("null"),
                AnswerValue::Choice(c) | AnswerValue::Text(c) => push_json_str(&mut out, c),
                AnswerValue::Choices(cs) => {
                    out.push('[');
                    for (j, c) in cs.iter().enumerate() {
                        if j > 0 {
                            out.push(',');
                        }
                        push_json_str(&mut out, c);
                    }
                    out.push(']');
                }
                AnswerValue::Number(x) => out.push_str(&fmt_num(*x)),
            }
        }
        out.push('}');
        out
    }

    /// Decode what [`Answers::to_json`] wrote. The questionnaire tells the kinds apart (a likert
    /// 5 and a number 5 look alike), and every code and value is checked against it.
    pub fn from_json(q: &Questionnaire, json: &str) -> Result<Answers, DecodeError> {
        let err = |message: String| DecodeError {
            questionnaire: q.id.clone(),
            version: q.version,
            message,
        };
        let map: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(json).map_err(|e| err(format!("not a JSON object: {e}")))?;
        let mut values = Vec::new();
        for question in &q.questions {
            let Some(v) = map.get(&question.code) else {
                continue;
            };
            let bad = || {
                err(format!(
                    "question \"{}\" ({}): unexpected value {v}",
                    question.code,
                    question.kind.name()
                ))
            };
            let value = match (&question.kind, v) {
                (QuestionKind::Likert5(l), serde_json::Value::Null) if l.dont_know.is_some() => {
                    AnswerValue::DontKnow
                }
                (QuestionKind::Likert5(_), serde_json::Value::Number(n)) => match n.as_u64() {
                    Some(c @ 1..=5) => AnswerValue::Likert(c as u8),
                    _ => return Err(bad()),
                },
                (QuestionKind::Single { choices }, serde_json::Value::String(s))
                    if choices.iter().any(|c| &c.code == s) =>
                {
                    AnswerValue::Choice(s.clone())
                }
                (QuestionKind::Multiple { choices, .. }, serde_json::Value::Array(items)) => {
                    let mut picked = Vec::new();
                    for it in items {
                        match it.as_str() {
                            Some(s) if choices.iter().any(|c| c.code == s) => {
                                picked.push(s.to_string())
                            }
                            _ => return Err(bad()),
                        }
                    }
                    AnswerValue::Choices(picked)
                }
                (
                    QuestionKind::Rating { .. } | QuestionKind::Number { .. },
                    serde_json::Value::Number(n),
                ) => AnswerValue::Number(n.as_f64().ok_or_else(bad)?),
                (QuestionKind::Text { .. }, serde_json::Value::String(s)) => {
                    AnswerValue::Text(s.clone())
                }
                _ => return Err(bad()),
            };
            values.push((question.code.clone(), value));
        }
        if let Some(k) = map.keys().find(|k| q.question(k).is_none()) {
            return Err(err(format!("unknown question code \"{k}\"")));
        }
        Ok(Answers { values })
    }

    /// Score of a likert answer on the question's map (default 100/80/60/40/20); `None` if the
    /// question is not likert, unanswered or answered "don't know".
    pub fn likert_score(&self, q: &Questionnaire, code: &str) -> Option<f64> {
        match (self.get(code)?, q.question(code)?.likert()?) {
            (AnswerValue::Likert(c), l) => l.choice(*c).map(|ch| ch.score),
            _ => None,
        }
    }

    /// Whether a likert answer is in the satisfied set; `None` when it does not count
    /// (unanswered, "don't know", not likert).
    pub fn is_satisfied(&self, q: &Questionnaire, code: &str) -> Option<bool> {
        match (self.get(code)?, q.question(code)?.likert()?) {
            (AnswerValue::Likert(c), l) => l.choice(*c).map(|ch| ch.satisfied),
            _ => None,
        }
    }

    /// Straight-lining: at least `min_items` likert answers (don't know excluded) and all equal.
    pub fn straight_lined(&self, q: &Questionnaire, min_items: usize) -> bool {
        let codes: Vec<u8> = q
            .likert_questions()
            .filter_map(|lq| match self.get(&lq.code) {
                Some(AnswerValue::Likert(c)) => Some(*c),
                _ => None,
            })
            .collect();
        codes.len() >= min_items.max(1) && codes.iter().all(|c| *c == codes[0])
    }
}

/// Append `s` as a JSON string. Codes are plain ASCII and need no escaping, so only free text
/// goes through serde_json.
fn push_json_str(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        // Serialising a &str cannot fail.
        out.push_str(&serde_json::to_string(s).unwrap_or_default());
    }
}
