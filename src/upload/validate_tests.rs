//! Row validation of uploads: cells, flags and the report of every problem.

use super::*;
use chrono::NaiveDate;

fn d(y: i32, m: u32, day: u32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m, day)
}

#[test]
fn dates_in_the_accepted_forms() {
    assert_eq!(parse_date("2024-03-15", false), d(2024, 3, 15));
    assert_eq!(parse_date("2024/3/5", false), d(2024, 3, 5));
    assert_eq!(parse_date("2024年3月15日", false), d(2024, 3, 15));
    assert_eq!(parse_date("２０２４年０３月１５日", false), d(2024, 3, 15));
    assert_eq!(parse_date("2024/3/15 0:00", false), d(2024, 3, 15));
    assert_eq!(parse_date("45366", true), d(2024, 3, 15));
    assert_eq!(parse_date("45366", false), None);
    for bad in [
        "2024-02-30",
        "2024-13-01",
        "15/03/2024",
        "2024-3",
        "yesterday",
        "1899-01-01",
        "2024-03-15-1",
        "2024年3月15",
        "60",
        "1e5",
    ] {
        assert_eq!(parse_date(bad, true), None, "{bad}");
    }
}

/// The rule walk used for uploads must agree with `questionnaire::check_answers` (strict
/// mode), `Answers::to_json` and `Answers::straight_lined` on every row whose cells parse.
#[test]
fn rules_agree_with_check_answers() {
    use crate::questionnaire::{check_answers, HiddenAnswers, Question};
    let mut qs = crate::questionnaire::builtin().unwrap();
    qs.push(
        crate::questionnaire::parse(
            "questionnaire.toml",
            include_str!("../../tests/fixtures/uploads/questionnaire.toml"),
        )
        .unwrap(),
    );
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let pool = |question: &Question| -> Vec<String> {
        let mut v: Vec<String> = vec![String::new(), String::new(), "不了解".into()];
        for (code, label) in question.options() {
            v.push(code);
            v.push(label.zh);
        }
        match &question.kind {
            QuestionKind::Rating { .. } => v.extend(["0", "7", "10"].map(String::from)),
            QuestionKind::Number { min, max, .. } => {
                v.extend([number_code(*min), number_code(*max)])
            }
            QuestionKind::Text { .. } => v.extend(["好", "a \"b\"\n"].map(String::from)),
            QuestionKind::Multiple { choices, .. } if choices.len() > 1 => {
                v.push(format!("{};{}", choices[0].code, choices[1].code))
            }
            _ => {}
        }
        v
    };
    let (mut compared, mut complete) = (0, 0);
    for q in &qs {
        let plan = Plan::new(q);
        let pools: Vec<Vec<String>> = q.questions.iter().map(pool).collect();
        for _ in 0..3000 {
            // Half the rows without empty cells, so that many are complete.
            let skip = if next(2) == 0 { 3 } else { 0 };
            let parsed: Vec<CellResult> = q
                .questions
                .iter()
                .zip(&pools)
                .map(|(qq, p)| parse_cell(qq, &p[skip + next(p.len() - skip)]))
                .collect();
            if parsed.iter().any(Result::is_err) {
                continue;
            }
            compared += 1;
            let mut kept = Vec::new();
            let mut errs = Vec::new();
            apply_rules(q, &plan, &parsed, &mut kept, &mut errs);
            let values: BTreeMap<String, AnswerValue> = q
                .questions
                .iter()
                .zip(&parsed)
                .filter_map(|(qq, r)| match r {
                    Ok(Some(v)) => Some((qq.code.clone(), v.clone())),
                    _ => None,
                })
                .collect();
            match check_answers(q, values, HiddenAnswers::Reject) {
                Ok(a) => {
                    complete += 1;
                    assert!(errs.is_empty(), "{}: {errs:?}", q.id);
                    assert_eq!(answers_json(&plan, &parsed, &kept), a.to_json());
                    for min in [1, 3, 8] {
                        assert_eq!(
                            straight_lined(&parsed, &kept, min),
                            a.straight_lined(q, min)
                        );
                    }
                }
                Err(expected) => {
                    let got: BTreeMap<String, AnswerError> = errs
                        .into_iter()
                        .map(|(i, e)| (q.questions[i].code.clone(), e))
                        .collect();
                    assert_eq!(got, expected, "{}", q.id);
                }
            }
        }
    }
    assert!(compared > 5000 && complete > 1000, "{compared} {complete}");
}

#[test]
fn hex_matches_the_hex_crate() {
    let bytes: Vec<u8> = (0..=255).collect();
    assert_eq!(to_hex(&bytes), hex::encode(&bytes));
}

#[test]
fn excel_serials_follow_the_1900_system() {
    assert_eq!(serial_date(32_874.0), d(1990, 1, 1));
    assert_eq!(serial_date(45_292.0), d(2024, 1, 1));
    assert_eq!(serial_date(45_292.75), d(2024, 1, 1));
    assert_eq!(serial_date(60.0), None);
    assert_eq!(serial_date(0.0), None);
}
