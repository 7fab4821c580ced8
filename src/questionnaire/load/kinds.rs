//! Building each kind of question (likert, choices, rating, number, text) from its raw fields,
//! with every problem at its line and field.

use super::*;
/// Likert settings after merging file defaults with a question's own fields.
pub(super) struct LikertSpec<'a> {
    pub(super) scores: Option<&'a Spanned<BTreeMap<String, f64>>>,
    pub(super) satisfied: Option<&'a Spanned<Vec<i64>>>,
    pub(super) dont_know: Option<&'a Spanned<DontKnowSpec>>,
}

pub(super) fn build_likert(cx: &mut Ctx, spec: LikertSpec, qcode: Option<&str>) -> Likert {
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

pub(super) fn build_choices(
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
pub(super) fn check_fields_allowed(cx: &mut Ctx, q: &RawQuestion, kind: &str, qcode: &str) {
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

pub(super) fn bound(
    cx: &mut Ctx,
    v: Option<&Spanned<f64>>,
    qcode: &str,
    field: &str,
) -> Option<f64> {
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

pub(super) fn build_kind(
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
