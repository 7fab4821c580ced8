//! The per-row answer rules of an upload (`show_if` and `required` as the questionnaire
//! applies them), the answers as stored JSON and straight-lining, worked out once per file
//! and walked per row without per-row maps.

use super::validate::*;
use crate::questionnaire::{AnswerError, AnswerValue, Questionnaire};

/// What the per-row rule walk needs from the questionnaire, worked out once per file.
pub(crate) struct Plan {
    /// Per question: the index of the question its `show_if` depends on, when that question
    /// comes earlier (otherwise `Missing`: the question is never shown).
    show_if: Vec<ShowIfPlan>,
    /// Per question: `"code":` as JSON, the key prefix of [`answers_json`].
    keys: Vec<String>,
    required: Vec<bool>,
}

pub(crate) enum ShowIfPlan {
    Always,
    Missing,
    On {
        index: usize,
        code: String,
        values: Vec<String>,
        /// Code of the "don't know" option of the controlling likert question.
        dont_know: Option<String>,
    },
}

impl Plan {
    pub(crate) fn new(q: &Questionnaire) -> Plan {
        let show_if = q
            .questions
            .iter()
            .enumerate()
            .map(|(i, question)| match &question.show_if {
                None => ShowIfPlan::Always,
                Some(cond) => match q.question_index(&cond.question) {
                    Some(index) if index < i => ShowIfPlan::On {
                        index,
                        code: cond.question.clone(),
                        values: cond.values.clone(),
                        dont_know: q.questions[index]
                            .likert()
                            .and_then(|l| l.dont_know.as_ref())
                            .map(|d| d.code.clone()),
                    },
                    _ => ShowIfPlan::Missing,
                },
            })
            .collect();
        Plan {
            show_if,
            keys: q
                .questions
                .iter()
                .map(|qq| format!("{}:", serde_json::Value::String(qq.code.clone())))
                .collect(),
            required: q.questions.iter().map(|qq| qq.required).collect(),
        }
    }
}

pub(crate) fn kept_value<'p>(
    parsed: &'p [CellResult],
    kept: &[bool],
    i: usize,
) -> Option<&'p AnswerValue> {
    match (kept.get(i), parsed.get(i)) {
        (Some(true), Some(Ok(Some(v)))) => Some(v),
        _ => None,
    }
}

/// Whether a number answer matches a `show_if` code, formatted as the questionnaire module
/// formats numbers (whole numbers without a decimal point).
pub(crate) fn number_code(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// `show_if` and `required` over one row's parsed cells, in questionnaire order, exactly as
/// `questionnaire::check_answers` with `HiddenAnswers::Reject` applies them (a unit test
/// checks the two agree), without its per-row maps and string copies, which dominated the
/// cost of large uploads. `kept[i]` tells whether question i's answer is stored. Errors are
/// only for cells that parsed: a refused cell was reported already, and a question hidden
/// because the one it depends on was refused would only repeat that error.
pub(crate) fn apply_rules(
    q: &Questionnaire,
    plan: &Plan,
    parsed: &[CellResult],
    kept: &mut Vec<bool>,
    errors: &mut Vec<(usize, AnswerError)>,
) {
    kept.clear();
    for (i, value) in parsed.iter().enumerate() {
        let shown = match &plan.show_if[i] {
            ShowIfPlan::Always => true,
            ShowIfPlan::Missing => false,
            ShowIfPlan::On {
                index,
                values,
                dont_know,
                ..
            } => match kept_value(parsed, kept, *index) {
                None | Some(AnswerValue::Text(_)) => false,
                Some(AnswerValue::Likert(c)) if *c < 10 => {
                    values.iter().any(|v| v.as_bytes() == [b'0' + *c])
                }
                Some(AnswerValue::Likert(c)) => values.contains(&c.to_string()),
                Some(AnswerValue::DontKnow) => {
                    dont_know.as_ref().is_some_and(|d| values.contains(d))
                }
                Some(AnswerValue::Choice(c)) => values.contains(c),
                Some(AnswerValue::Choices(cs)) => cs.iter().any(|c| values.contains(c)),
                Some(AnswerValue::Number(x)) => values.contains(&number_code(*x)),
            },
        };
        let keep = match value {
            Ok(Some(_)) if shown => true,
            Ok(Some(_)) => {
                if let ShowIfPlan::On { index, code, .. } = &plan.show_if[i] {
                    if parsed[*index].is_ok() {
                        errors.push((
                            i,
                            AnswerError::Hidden {
                                depends_on: code.clone(),
                            },
                        ));
                    }
                } else {
                    let depends_on = q.questions[i]
                        .show_if
                        .as_ref()
                        .map(|c| c.question.clone())
                        .unwrap_or_default();
                    errors.push((i, AnswerError::Hidden { depends_on }));
                }
                false
            }
            Ok(None) if shown && plan.required[i] => {
                errors.push((i, AnswerError::Required));
                false
            }
            _ => false,
        };
        kept.push(keep);
    }
}

/// The compact JSON of the kept answers, byte for byte what `Answers::to_json` writes.
pub(crate) fn answers_json(plan: &Plan, parsed: &[CellResult], kept: &[bool]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(16 * parsed.len());
    out.push('{');
    let mut first = true;
    for i in 0..parsed.len() {
        let Some(v) = kept_value(parsed, kept, i) else {
            continue;
        };
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(&plan.keys[i]);
        match v {
            AnswerValue::Likert(c) => {
                let _ = write!(out, "{c}");
            }
            AnswerValue::DontKnow => out.push_str("null"),
            AnswerValue::Choice(c) | AnswerValue::Text(c) => push_json_string(&mut out, c),
            AnswerValue::Choices(cs) => {
                out.push('[');
                for (j, c) in cs.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    push_json_string(&mut out, c);
                }
                out.push(']');
            }
            AnswerValue::Number(x) => out.push_str(&number_code(*x)),
        }
    }
    out.push('}');
    out
}

pub(crate) fn push_json_string(out: &mut String, s: &str) {
    if s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') {
        out.push('"');
        out.push_str(s);
        out.push('"');
    } else {
        out.push_str(&serde_json::Value::String(s.to_string()).to_string());
    }
}

/// Straight-lining as `Answers::straight_lined`: at least `min_items` likert answers (don't
/// know excluded), all equal.
pub(crate) fn straight_lined(parsed: &[CellResult], kept: &[bool], min_items: usize) -> bool {
    let mut first = None;
    let mut n = 0;
    for i in 0..parsed.len() {
        if let Some(AnswerValue::Likert(c)) = kept_value(parsed, kept, i) {
            match first {
                None => first = Some(*c),
                Some(f) if f != *c => return false,
                _ => {}
            }
            n += 1;
        }
    }
    n >= min_items.max(1)
}
