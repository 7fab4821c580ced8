//! The model → `surveys/*.toml` text, in the layout of the shipped files. The likert settings
//! most questions share go into the file-wide `[likert]` table; a question that differs says
//! so itself. Reading the text back gives the same content hash.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::expr::number;
use crate::questionnaire::{
    Likert, Question, QuestionKind, Questionnaire, Text, DEFAULT_DONT_KNOW_CODE,
    DEFAULT_LIKERT_SCORES, DEFAULT_SATISFIED,
};

/// A TOML basic string with every character escaped as TOML requires.
fn s(v: &str) -> String {
    toml::Value::String(v.to_string()).to_string()
}

fn text_inline(t: &Text) -> String {
    format!("{{ zh = {}, en = {} }}", s(&t.zh), s(&t.en))
}

fn text_table(out: &mut String, name: &str, t: &Text) {
    let _ = writeln!(out, "\n[{name}]\nzh = {}\nen = {}", s(&t.zh), s(&t.en));
}

/// The three likert settings, each as the TOML value it is written with.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct LikertSpec {
    scores: Option<String>,
    satisfied: Option<String>,
    dont_know: String,
}

fn spec(l: &Likert) -> LikertSpec {
    let scores: Vec<(u8, f64)> = l.choices.iter().map(|c| (c.code, c.score)).collect();
    let default_scores = DEFAULT_LIKERT_SCORES
        .iter()
        .all(|(c, v)| scores.iter().any(|(k, x)| k == c && x == v));
    let satisfied: Vec<u8> = l
        .choices
        .iter()
        .filter(|c| c.satisfied)
        .map(|c| c.code)
        .collect();
    let mut default_sat = DEFAULT_SATISFIED.to_vec();
    default_sat.sort_unstable();
    let mut sat_sorted = satisfied.clone();
    sat_sorted.sort_unstable();
    LikertSpec {
        scores: (!default_scores).then(|| {
            let parts: Vec<String> = scores
                .iter()
                .map(|(c, v)| format!("{c} = {}", toml_number(*v)))
                .collect();
            format!("{{ {} }}", parts.join(", "))
        }),
        satisfied: (sat_sorted != default_sat).then(|| {
            let parts: Vec<String> = satisfied.iter().map(u8::to_string).collect();
            format!("[{}]", parts.join(", "))
        }),
        dont_know: match &l.dont_know {
            None => "false".to_string(),
            Some(c) if c.code == DEFAULT_DONT_KNOW_CODE => "true".to_string(),
            Some(c) => s(&c.code),
        },
    }
}

/// A float TOML reads back exactly: integers without a point when they fit, else `{}` with a
/// point so TOML does not take a huge whole number for an overflowing integer.
fn toml_number(v: f64) -> String {
    let t = number(v);
    if v.fract() == 0.0 && v.abs() >= 1e15 && !t.contains(['.', 'e', 'E']) {
        format!("{t}.0")
    } else {
        t
    }
}

/// Writes the questionnaire as a `surveys/*.toml` file.
pub fn export_toml(q: &Questionnaire) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Written by pingyi from questionnaire {} version {} (content hash {}).",
        s(&q.id),
        q.version,
        q.content_hash
    );
    let _ = writeln!(out, "id = {}", s(&q.id));
    let _ = writeln!(out, "version = {}", q.version);
    let _ = writeln!(out, "respondent_type = {}", s(q.respondent_type.as_str()));
    if let Some(m) = q.min_duration_seconds {
        let _ = writeln!(out, "min_duration_seconds = {m}");
    }
    text_table(&mut out, "title", &q.title);
    text_table(&mut out, "intro", &q.intro);

    // The most common likert settings become the file default.
    let mut counts: BTreeMap<LikertSpec, usize> = BTreeMap::new();
    for l in q.questions.iter().filter_map(Question::likert) {
        *counts.entry(spec(l)).or_default() += 1;
    }
    let default = counts
        .iter()
        .max_by_key(|(_, n)| **n)
        .map(|(k, _)| k.clone())
        .unwrap_or(LikertSpec {
            scores: None,
            satisfied: None,
            dont_know: "false".into(),
        });
    let file_lines: Vec<String> = [
        default.scores.as_ref().map(|v| format!("scores = {v}")),
        default
            .satisfied
            .as_ref()
            .map(|v| format!("satisfied = {v}")),
        (default.dont_know != "false").then(|| format!("dont_know = {}", default.dont_know)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if !file_lines.is_empty() {
        let _ = writeln!(out, "\n[likert]\n{}", file_lines.join("\n"));
    }

    for d in &q.dimensions {
        let _ = writeln!(
            out,
            "\n[[dimensions]]\ncode = {}\nzh = {}\nen = {}",
            s(&d.code),
            s(&d.name.zh),
            s(&d.name.en)
        );
    }
    for question in &q.questions {
        question_toml(&mut out, question, &default);
    }
    out
}

fn question_toml(out: &mut String, q: &Question, default: &LikertSpec) {
    let _ = writeln!(out, "\n[[questions]]\ncode = {}", s(&q.code));
    let _ = writeln!(out, "kind = {}", s(q.kind.name()));
    if let Some(d) = &q.dimension {
        let _ = writeln!(out, "dimension = {}", s(d));
    }
    let _ = writeln!(out, "text = {}", text_inline(&q.text));
    if let Some(h) = &q.hint {
        let _ = writeln!(out, "hint = {}", text_inline(h));
    }
    // The TOML default is required = true.
    if !q.required {
        let _ = writeln!(out, "required = false");
    }
    if let Some(c) = &q.show_if {
        let values: Vec<String> = c.values.iter().map(|v| s(v)).collect();
        let _ = writeln!(
            out,
            "show_if = {{ question = {}, in = [{}] }}",
            s(&c.question),
            values.join(", ")
        );
    }
    match &q.kind {
        QuestionKind::Likert5(l) => {
            let own = spec(l);
            let file_scores = default.scores.as_deref().unwrap_or("");
            let own_scores = own.scores.as_deref().unwrap_or("");
            if own_scores != file_scores {
                // Spelled out even when default, so a file-wide override does not apply.
                let all: Vec<String> = l
                    .choices
                    .iter()
                    .map(|c| format!("{} = {}", c.code, toml_number(c.score)))
                    .collect();
                let _ = writeln!(out, "scores = {{ {} }}", all.join(", "));
            }
            if own.satisfied != default.satisfied {
                let sat: Vec<String> = l
                    .choices
                    .iter()
                    .filter(|c| c.satisfied)
                    .map(|c| c.code.to_string())
                    .collect();
                let _ = writeln!(out, "satisfied = [{}]", sat.join(", "));
            }
            if own.dont_know != default.dont_know {
                let _ = writeln!(out, "dont_know = {}", own.dont_know);
            }
        }
        QuestionKind::Single { choices } | QuestionKind::Multiple { choices, .. } => {
            let _ = writeln!(out, "choices = [");
            for c in choices {
                let _ = writeln!(
                    out,
                    "  {{ code = {}, zh = {}, en = {} }},",
                    s(&c.code),
                    s(&c.label.zh),
                    s(&c.label.en)
                );
            }
            let _ = writeln!(out, "]");
            if let QuestionKind::Multiple { choices, min, max } = &q.kind {
                if *min != usize::from(q.required) {
                    let _ = writeln!(out, "min = {min}");
                }
                if *max != choices.len() {
                    let _ = writeln!(out, "max = {max}");
                }
            }
        }
        QuestionKind::Rating { low, high } => {
            if let Some(l) = low {
                let _ = writeln!(out, "low = {}", text_inline(l));
            }
            if let Some(h) = high {
                let _ = writeln!(out, "high = {}", text_inline(h));
            }
        }
        QuestionKind::Number {
            min,
            max,
            integer,
            unit,
        } => {
            let _ = writeln!(out, "min = {}", toml_number(*min));
            let _ = writeln!(out, "max = {}", toml_number(*max));
            if !integer {
                let _ = writeln!(out, "integer = false");
            }
            if let Some(u) = unit {
                let _ = writeln!(out, "unit = {}", text_inline(u));
            }
        }
        QuestionKind::Text { max_length } => {
            let _ = writeln!(out, "max_length = {max_length}");
        }
    }
}
