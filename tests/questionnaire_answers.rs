//! Answer validation for forms (`validate_answers`) and upload cells (`parse_cell`,
//! `check_answers`), and the compact JSON storage form.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pingyi::questionnaire::{
    check_answers, parse, parse_cell, validate_answers, AnswerError, AnswerValue, Answers,
    HiddenAnswers, Questionnaire, HIDDEN,
};
use std::collections::BTreeMap;

const SURVEY: &str = r#"id = "t"
version = 1
respondent_type = "resident"
title = { zh = "标题", en = "Title" }
intro = { zh = "说明", en = "Intro" }

[likert]
dont_know = true

[[dimensions]]
code = "attitude"
zh = "服务态度"
en = "Attitude"

[[questions]]
code = "contact"
kind = "single"
text = { zh = "是否办过事", en = "Dealt with them?" }
choices = [
  { code = "1", zh = "是", en = "Yes" },
  { code = "2", zh = "否", en = "No" },
]

[[questions]]
code = "q1"
kind = "likert5"
dimension = "attitude"
show_if = { question = "contact", in = ["1"] }
text = { zh = "态度", en = "Attitude" }

[[questions]]
code = "why"
kind = "text"
max_length = 20
show_if = { question = "q1", in = ["1", "2"] }
text = { zh = "原因", en = "Why" }

[[questions]]
code = "q2"
kind = "likert5"
dimension = "attitude"
text = { zh = "作风", en = "Style" }
scores = { 5 = 100, 4 = 75, 3 = 50, 2 = 25, 1 = 0 }
satisfied = [5, 4]

[[questions]]
code = "channels"
kind = "multiple"
required = false
max = 2
text = { zh = "渠道", en = "Channels" }
choices = [
  { code = "hall", zh = "大厅", en = "Service hall" },
  { code = "web", zh = "网上", en = "Online" },
  { code = "tel", zh = "电话、短信", en = "Phone, SMS" },
]

[[questions]]
code = "score"
kind = "rating"
required = false
text = { zh = "打分", en = "Score" }

[[questions]]
code = "visits"
kind = "number"
required = false
min = 0
max = 50
text = { zh = "次数", en = "Visits" }

[[questions]]
code = "hours"
kind = "number"
required = false
min = 0
max = 24
integer = false
text = { zh = "小时", en = "Hours" }

[[questions]]
code = "suggestions"
kind = "text"
required = false
text = { zh = "建议", en = "Suggestions" }
"#;

fn survey() -> Questionnaire {
    parse("surveys/t.toml", SURVEY).unwrap()
}

fn form(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
    let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, v) in pairs {
        m.entry(k.to_string()).or_default().push(v.to_string());
    }
    m
}

fn errors(q: &Questionnaire, pairs: &[(&str, &str)]) -> BTreeMap<String, AnswerError> {
    match validate_answers(q, &form(pairs)) {
        Ok(a) => panic!("expected errors, got {}", a.to_json()),
        Err(e) => e,
    }
}

#[test]
fn a_complete_form_validates_in_questionnaire_order() {
    let q = survey();
    let a = validate_answers(
        &q,
        &form(&[
            ("suggestions", "  多开窗口  "),
            ("q2", "4"),
            ("contact", "1"),
            ("q1", "2"),
            ("why", "排队太久"),
            ("channels", "web"),
            ("channels", "hall"),
            ("score", "7"),
            ("visits", "3"),
            ("hours", "1.5"),
            ("csrf_token", "ignored"),
        ]),
    )
    .unwrap();
    assert_eq!(
        a.to_json(),
        r#"{"contact":"1","q1":2,"why":"排队太久","q2":4,"channels":["hall","web"],"score":7,"visits":3,"hours":1.5,"suggestions":"多开窗口"}"#
    );
    assert_eq!(a.len(), 9);
}

#[test]
fn required_questions_must_be_answered() {
    let q = survey();
    let e = errors(&q, &[("contact", "1"), ("q2", "")]);
    assert_eq!(e.get("q1"), Some(&AnswerError::Required));
    assert_eq!(e.get("q2"), Some(&AnswerError::Required));
    assert_eq!(e.len(), 2, "{e:?}");
    assert_eq!(e["q1"].zh(), "此题为必答题，请作答。");
    assert_eq!(e["q1"].en(), "This question is required.");
    // Optional questions may stay empty.
    let a = validate_answers(&q, &form(&[("contact", "2"), ("q2", "5")])).unwrap();
    assert_eq!(a.to_json(), r#"{"contact":"2","q2":5}"#);
}

#[test]
fn show_if_hides_and_drops_answers_in_forms() {
    let q = survey();
    // contact = no: q1 is hidden (not required), its answer and the chained `why` are dropped,
    // even when `why` is too long to be valid.
    let a = validate_answers(
        &q,
        &form(&[
            ("contact", "2"),
            ("q1", "1"),
            (
                "why",
                "这是一个远远超过二十个字符限制的很长很长很长的回答内容",
            ),
            ("q2", "3"),
        ]),
    )
    .unwrap();
    assert_eq!(a.get("q1"), None);
    assert_eq!(a.get("why"), None);
    // contact = yes and q1 satisfied: `why` stays hidden.
    let a = validate_answers(
        &q,
        &form(&[("contact", "1"), ("q1", "5"), ("why", "x"), ("q2", "3")]),
    )
    .unwrap();
    assert_eq!(a.get("why"), None);
    // q1 dissatisfied: `why` is shown and required.
    let e = errors(&q, &[("contact", "1"), ("q1", "很不满意"), ("q2", "3")]);
    assert_eq!(e.get("why"), Some(&AnswerError::Required));
    // Don't know on q1 does not trigger `why`.
    let a = validate_answers(&q, &form(&[("contact", "1"), ("q1", "0"), ("q2", "3")])).unwrap();
    assert_eq!(a.get("q1"), Some(&AnswerValue::DontKnow));
}

#[test]
fn uploads_reject_answers_to_hidden_questions() {
    let q = survey();
    let mut row = BTreeMap::new();
    row.insert("contact".to_string(), AnswerValue::Choice("2".into()));
    row.insert("q1".to_string(), AnswerValue::Likert(4));
    row.insert("q2".to_string(), AnswerValue::Likert(4));
    let e = check_answers(&q, row.clone(), HiddenAnswers::Reject).unwrap_err();
    assert_eq!(
        e.get("q1"),
        Some(&AnswerError::Hidden {
            depends_on: "contact".into()
        })
    );
    assert!(e["q1"].zh().contains("contact"));
    let a = check_answers(&q, row, HiddenAnswers::Ignore).unwrap();
    assert_eq!(a.get("q1"), None);
}

#[test]
fn dont_know_is_an_answer_but_has_no_score() {
    let q = survey();
    for dk in ["0", "不了解", "Don't know", "DON’T KNOW"] {
        let a = validate_answers(&q, &form(&[("contact", "1"), ("q1", "5"), ("q2", dk)])).unwrap();
        assert_eq!(a.get("q2"), Some(&AnswerValue::DontKnow), "{dk}");
        assert_eq!(a.likert_score(&q, "q2"), None);
        assert_eq!(a.is_satisfied(&q, "q2"), None);
        assert_eq!(a.to_json(), r#"{"contact":"1","q1":5,"q2":null}"#);
    }
}

#[test]
fn likert_scores_and_satisfied_sets_per_question() {
    let q = survey();
    let a = validate_answers(&q, &form(&[("contact", "1"), ("q1", "3"), ("q2", "3")])).unwrap();
    assert_eq!(a.likert_score(&q, "q1"), Some(60.0));
    assert_eq!(a.is_satisfied(&q, "q1"), Some(true));
    assert_eq!(a.likert_score(&q, "q2"), Some(50.0));
    assert_eq!(a.is_satisfied(&q, "q2"), Some(false));
    assert_eq!(a.likert_score(&q, "contact"), None);
    assert_eq!(a.likert_score(&q, "score"), None);
}

#[test]
fn labels_in_either_language_and_full_width_digits() {
    let q = survey();
    let q1 = q.question("q1").unwrap();
    assert_eq!(parse_cell(q1, "很满意"), Ok(Some(AnswerValue::Likert(5))));
    assert_eq!(
        parse_cell(q1, " very satisfied "),
        Ok(Some(AnswerValue::Likert(5)))
    );
    assert_eq!(parse_cell(q1, "基本满意"), Ok(Some(AnswerValue::Likert(3))));
    assert_eq!(parse_cell(q1, "２"), Ok(Some(AnswerValue::Likert(2))));
    assert_eq!(
        parse_cell(q1, "Dissatisfied"),
        Ok(Some(AnswerValue::Likert(2)))
    );
    let contact = q.question("contact").unwrap();
    assert_eq!(
        parse_cell(contact, "否"),
        Ok(Some(AnswerValue::Choice("2".into())))
    );
    assert_eq!(
        parse_cell(contact, "yes"),
        Ok(Some(AnswerValue::Choice("1".into())))
    );
}

#[test]
fn missing_markers() {
    let q = survey();
    let contact = q.question("contact").unwrap();
    for m in ["", "   ", "N/A", "n/a", "#N/A", "不了解"] {
        assert_eq!(parse_cell(contact, m), Ok(None), "{m:?}");
    }
    // On a likert question offering it, 不了解 is the don't-know answer, N/A is missing.
    let q1 = q.question("q1").unwrap();
    assert_eq!(parse_cell(q1, "不了解"), Ok(Some(AnswerValue::DontKnow)));
    assert_eq!(parse_cell(q1, "N/A"), Ok(None));
    let text = q.question("suggestions").unwrap();
    assert_eq!(parse_cell(text, "N/A"), Ok(None));
}

#[test]
fn out_of_range_codes_and_unknown_labels() {
    let q = survey();
    let q1 = q.question("q1").unwrap();
    let e = parse_cell(q1, "6").unwrap_err();
    match &e {
        AnswerError::UnknownChoice { value, allowed } => {
            assert_eq!(value, "6");
            assert_eq!(allowed.len(), 6);
            assert_eq!(allowed[0], "5 很满意");
            assert_eq!(allowed[5], "0 不了解");
        }
        other => panic!("{other:?}"),
    }
    assert!(e.en().contains("\"6\" is not an option"));
    assert!(e.zh().contains("“6”不是本题的选项"));
    assert!(matches!(
        parse_cell(q.question("contact").unwrap(), "maybe"),
        Err(AnswerError::UnknownChoice { .. })
    ));
    // A likert without don't-know refuses code 0.
    let q2 = q.question("q2").unwrap();
    assert!(
        parse_cell(q2, "0").is_ok(),
        "q2 inherits the file-wide dont_know"
    );
}

#[test]
fn multiple_choice_cells_and_form_values() {
    let q = survey();
    let m = q.question("channels").unwrap();
    let choices = |v: &[&str]| {
        Ok(Some(AnswerValue::Choices(
            v.iter().map(|s| s.to_string()).collect(),
        )))
    };
    assert_eq!(parse_cell(m, "web;hall"), choices(&["hall", "web"]));
    assert_eq!(parse_cell(m, "网上，大厅"), choices(&["hall", "web"]));
    assert_eq!(parse_cell(m, "hall|hall"), choices(&["hall"]));
    // A label containing a separator still matches as a whole.
    assert_eq!(parse_cell(m, "电话、短信"), choices(&["tel"]));
    assert_eq!(parse_cell(m, "Phone, SMS"), choices(&["tel"]));
    assert_eq!(
        parse_cell(m, "hall;web;tel"),
        Err(AnswerError::TooMany { max: 2 })
    );
    assert!(matches!(
        parse_cell(m, "hall;fax"),
        Err(AnswerError::UnknownChoice { value, .. }) if value == "fax"
    ));
    let e = errors(
        &q,
        &[
            ("contact", "2"),
            ("q2", "5"),
            ("channels", "hall"),
            ("channels", "web"),
            ("channels", "tel"),
        ],
    );
    assert_eq!(e.get("channels"), Some(&AnswerError::TooMany { max: 2 }));
    assert_eq!(e["channels"].zh(), "最多只能选择 2 项。");
}

#[test]
fn several_values_for_a_single_question() {
    let q = survey();
    let e = errors(&q, &[("contact", "1"), ("contact", "2"), ("q2", "5")]);
    assert_eq!(e.get("contact"), Some(&AnswerError::SeveralValues));
}

#[test]
fn multiple_min_when_required() {
    let text = SURVEY.replace("required = false\nmax = 2", "min = 2\nmax = 3");
    let q = parse("surveys/t.toml", &text).unwrap();
    let m = q.question("channels").unwrap();
    assert_eq!(parse_cell(m, "hall"), Err(AnswerError::TooFew { min: 2 }));
    let e = errors(&q, &[("contact", "2"), ("q2", "5")]);
    assert_eq!(e.get("channels"), Some(&AnswerError::Required));
}

#[test]
fn numbers_and_ratings() {
    let q = survey();
    let rating = q.question("score").unwrap();
    assert_eq!(parse_cell(rating, "0"), Ok(Some(AnswerValue::Number(0.0))));
    assert_eq!(
        parse_cell(rating, "１０"),
        Ok(Some(AnswerValue::Number(10.0)))
    );
    assert_eq!(
        parse_cell(rating, "8.0"),
        Ok(Some(AnswerValue::Number(8.0)))
    );
    assert_eq!(
        parse_cell(rating, "11"),
        Err(AnswerError::OutOfRange {
            min: 0.0,
            max: 10.0
        })
    );
    assert_eq!(
        parse_cell(rating, "7.5"),
        Err(AnswerError::NotWhole {
            value: "7.5".into()
        })
    );
    assert_eq!(
        parse_cell(rating, "-1"),
        Err(AnswerError::OutOfRange {
            min: 0.0,
            max: 10.0
        })
    );
    let visits = q.question("visits").unwrap();
    assert_eq!(
        parse_cell(visits, "三次"),
        Err(AnswerError::NotANumber {
            value: "三次".into()
        })
    );
    assert_eq!(
        parse_cell(visits, "51"),
        Err(AnswerError::OutOfRange {
            min: 0.0,
            max: 50.0
        })
    );
    assert_eq!(
        parse_cell(visits, "NaN"),
        Err(AnswerError::NotANumber {
            value: "NaN".into()
        })
    );
    assert_eq!(parse_cell(visits, "2.5").unwrap_err().kind(), "not_whole");
    let hours = q.question("hours").unwrap();
    assert_eq!(parse_cell(hours, "2.5"), Ok(Some(AnswerValue::Number(2.5))));
    assert_eq!(
        parse_cell(hours, "０．５"),
        Ok(Some(AnswerValue::Number(0.5)))
    );
    assert_eq!(
        AnswerError::OutOfRange {
            min: 0.0,
            max: 24.0
        }
        .zh(),
        "请填写 0 到 24 之间的数。"
    );
}

#[test]
fn text_is_scrubbed_and_length_checked() {
    let q = survey();
    let t = q.question("suggestions").unwrap();
    assert_eq!(
        parse_cell(t, "请回电13812345678或发邮件a@b.cn"),
        Ok(Some(AnswerValue::Text(format!(
            "请回电{HIDDEN}或发邮件{HIDDEN}"
        ))))
    );
    let why = q.question("why").unwrap();
    let long = "很".repeat(21);
    assert_eq!(
        parse_cell(why, &long),
        Err(AnswerError::TooLong { max: 20, len: 21 })
    );
    assert!(parse_cell(why, &"很".repeat(20)).is_ok());
}

#[test]
fn json_round_trip_and_decoding_checks() {
    let q = survey();
    let a = validate_answers(
        &q,
        &form(&[
            ("contact", "1"),
            ("q1", "1"),
            ("why", "太慢\"了\"\n"),
            ("q2", "0"),
            ("channels", "tel"),
            ("score", "10"),
            ("hours", "0.25"),
            ("suggestions", "无"),
        ]),
    )
    .unwrap();
    let json = a.to_json();
    let back = Answers::from_json(&q, &json).unwrap();
    assert_eq!(back, a);
    assert_eq!(back.to_json(), json);
    // The JSON is an ordinary object other tools can read.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["why"], "太慢\"了\"");
    assert_eq!(v["q2"], serde_json::Value::Null);

    for bad in [
        r#"{"q9":5}"#,
        r#"{"q2":6}"#,
        r#"{"contact":"3"}"#,
        r#"{"channels":["fax"]}"#,
        r#"{"q2":"5"}"#,
        r#"[1,2]"#,
        "not json",
    ] {
        let e = Answers::from_json(&q, bad).unwrap_err();
        assert_eq!(e.questionnaire, "t", "{bad}");
    }
}

#[test]
fn straight_lining_counts_only_likert_answers() {
    let text = {
        let mut s = SURVEY.to_string();
        for i in 3..=9 {
            s.push_str(&format!(
                "\n[[questions]]\ncode = \"l{i}\"\nkind = \"likert5\"\ndimension = \"attitude\"\ntext = {{ zh = \"题{i}\", en = \"Item {i}\" }}\n"
            ));
        }
        s
    };
    let q = parse("surveys/t.toml", &text).unwrap();
    let mut pairs = vec![("contact", "1"), ("q1", "4"), ("q2", "4")];
    let codes: Vec<String> = (3..=9).map(|i| format!("l{i}")).collect();
    for c in &codes {
        pairs.push((c.as_str(), "4"));
    }
    let a = validate_answers(&q, &form(&pairs)).unwrap();
    assert!(a.straight_lined(&q, 8));
    assert!(!a.straight_lined(&q, 10));
    pairs[2] = ("q2", "3");
    let a = validate_answers(&q, &form(&pairs)).unwrap();
    assert!(!a.straight_lined(&q, 8));
    // Don't know answers do not count as items.
    pairs[2] = ("q2", "不了解");
    let a = validate_answers(&q, &form(&pairs)).unwrap();
    assert!(!a.straight_lined(&q, 9));
    assert!(a.straight_lined(&q, 8));
}

#[test]
fn answer_errors_serialize_with_both_languages() {
    let v = serde_json::to_value(AnswerError::TooFew { min: 2 }).unwrap();
    assert_eq!(v["kind"], "too_few");
    assert_eq!(v["zh"], "请至少选择 2 项。");
    assert_eq!(v["en"], "Choose at least 2.");
}
