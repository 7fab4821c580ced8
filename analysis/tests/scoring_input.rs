//! CSV readers for scores, events and survey results.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pingyi_analysis::scoring::{
    parse_events_csv, parse_scores_csv, parse_survey_csv, SurveyMeasure,
};

#[test]
fn scores_columns_by_name_with_bom_quotes_and_blank_lines() {
    let text = "\u{feff}Score,Unit,Period,Indicator,Note\n\
                92,办公室,Q1,functional.key,\"季度报告, 第一季度\"\n\
                \n\
                85.5,人事处,,management.lawful,\n";
    let rows = parse_scores_csv(text, "s.csv").unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].unit, "办公室");
    assert_eq!(rows[0].indicator, "functional.key");
    assert_eq!(rows[0].period.as_deref(), Some("Q1"));
    assert_eq!(rows[0].score, 92.0);
    assert_eq!(rows[0].note.as_deref(), Some("季度报告, 第一季度"));
    assert_eq!(rows[0].line, Some(2));
    assert_eq!(rows[1].period, None);
    assert_eq!(rows[1].note, None);
    assert_eq!(rows[1].line, Some(4));
}

#[test]
fn scores_errors_name_file_and_line() {
    let e = parse_scores_csv("unit,indicator,period,score\na,b,,x\n", "s.csv").unwrap_err();
    assert_eq!(e.to_string(), "s.csv:2: score `x` is not a number");
    let e = parse_scores_csv("unit,indicator,period,score\na,,,1\n", "s.csv").unwrap_err();
    assert_eq!(e.to_string(), "s.csv:2: `indicator` is empty");
    let e = parse_scores_csv("unit,indicator,period,score\na,b,,1,extra\n", "s.csv").unwrap_err();
    assert_eq!(e.line, 2);
    let e = parse_scores_csv("", "s.csv").unwrap_err();
    assert!(e.message.contains("empty"), "{e}");
    let e = parse_scores_csv("unit,indicator,score\n", "s.csv").unwrap_err();
    assert!(e.message.contains("missing column `period`"), "{e}");
}

#[test]
fn events_are_read() {
    let ev = parse_events_csv(
        "unit,event,note\n办公室,violation,纪委通报\n人事处,major_accident,\n",
        "e.csv",
    )
    .unwrap();
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].kind, "violation");
    assert_eq!(ev[0].note.as_deref(), Some("纪委通报"));
    assert_eq!(ev[1].line, Some(3));
}

#[test]
fn survey_long_form_canonicalises_bindings() {
    let m = parse_survey_csv(
        "unit,binding,value\nA,satisfaction_index:service_user+resident,88.5\nA,composite:five_in_one,90\n",
        "v.csv",
        SurveyMeasure::SatisfactionIndex,
    )
    .unwrap();
    assert_eq!(
        m.get(&(
            "A".to_string(),
            "satisfaction_index:resident+service_user".to_string()
        )),
        Some(&88.5)
    );
    assert_eq!(
        m.get(&("A".to_string(), "composite:five_in_one".to_string())),
        Some(&90.0)
    );
    // The same binding written in the other order is a duplicate.
    let e = parse_survey_csv(
        "unit,binding,value\nA,satisfaction_index:resident+service_user,1\nA,satisfaction_index:service_user+resident,2\n",
        "v.csv",
        SurveyMeasure::SatisfactionIndex,
    )
    .unwrap_err();
    assert_eq!(e.line, 3);
    assert!(e.message.contains("first on line 2"), "{e}");
    let e = parse_survey_csv(
        "unit,binding,value\nA,satisfaction_index:leader,101\n",
        "v.csv",
        SurveyMeasure::SatisfactionIndex,
    )
    .unwrap_err();
    assert!(e.message.contains("outside 0–100"), "{e}");
}

#[test]
fn survey_from_analyze_output() {
    let text = "unit,rtype,n,estimate,se,ci_low,ci_high,deff,n_eff,suppressed\n\
                A,leader,10,0.8,0.1,0.6,0.9,1,10,false\n\
                A,regulator,2,,,,,,,true\n";
    let m = parse_survey_csv(text, "r.csv", SurveyMeasure::SatisfactionRate).unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(
        m.get(&("A".to_string(), "satisfaction_rate:leader".to_string())),
        Some(&80.0)
    );
    let e = parse_survey_csv(
        "unit,x,y\nA,1,2\n",
        "r.csv",
        SurveyMeasure::SatisfactionIndex,
    )
    .unwrap_err();
    assert!(e.message.contains("cannot tell the survey format"), "{e}");
    let e = parse_survey_csv(
        "unit,respondent_type,estimate\nA,citizen,50\n",
        "r.csv",
        SurveyMeasure::SatisfactionIndex,
    )
    .unwrap_err();
    assert!(
        e.message.contains("unknown respondent type `citizen`"),
        "{e}"
    );
}
