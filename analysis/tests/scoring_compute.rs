//! Worked examples from the evaluation rules' arithmetic, rules, ranks and advanced selection.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use pingyi_analysis::scoring::{
    as_of, compute, compute_units, Event, Framework, ObjectiveScore, Outcome, ScoreChange,
    SurveyValues,
};

fn shipped(name: &str) -> Framework {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../surveys/frameworks")
        .join(name);
    Framework::load_path(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn s(unit: &str, indicator: &str, period: Option<&str>, score: f64) -> ObjectiveScore {
    ObjectiveScore {
        unit: unit.to_string(),
        indicator: indicator.to_string(),
        period: period.map(str::to_string),
        score,
        note: None,
        line: None,
    }
}

fn ev(unit: &str, kind: &str) -> Event {
    Event {
        unit: unit.to_string(),
        kind: kind.to_string(),
        note: None,
        line: None,
    }
}

fn points(o: &Outcome, unit: &str, id: &str) -> f64 {
    let u = o.unit(unit).unwrap_or_else(|| panic!("no unit {unit}"));
    u.indicators
        .iter()
        .find(|i| i.id == id)
        .unwrap_or_else(|| panic!("no indicator {id}"))
        .points
}

/// The division example of the evaluation rules: quarters 92, 88, 95, 90 in 职能工作 (here as uneven
/// sub-scores that weight to those quarter scores), 85 in 管理工作, 80 in
/// 创新创优, satisfaction 90 (leaders) / 85 (staff).
fn division_scores(unit: &str) -> Vec<ObjectiveScore> {
    // (key, routine, other) per quarter: 0.5 k + 0.3 r + 0.2 o = 92, 88, 95, 90.
    let quarters = [
        ("Q1", 94.0, 90.0, 90.0),
        ("Q2", 88.0, 88.0, 88.0),
        ("Q3", 96.0, 95.0, 92.5),
        ("Q4", 90.0, 100.0, 75.0),
    ];
    let mut out = Vec::new();
    for (q, k, r, o) in quarters {
        out.push(s(unit, "functional.key", Some(q), k));
        out.push(s(unit, "functional.routine", Some(q), r));
        out.push(s(unit, "functional.other", Some(q), o));
    }
    // 0.2·80 + 0.2·90 + 0.2·85 + 0.4·85 = 85
    out.push(s(unit, "management.lawful", None, 80.0));
    out.push(s(unit, "management.efficient", None, 90.0));
    out.push(s(unit, "management.clean", None, 85.0));
    out.push(s(unit, "management.other", None, 85.0));
    // 0.6·85 + 0.4·72.5 = 80
    out.push(s(unit, "innovation.results", None, 85.0));
    out.push(s(unit, "innovation.improvement", None, 72.5));
    out
}

fn division_survey(unit: &str, leader: f64, staff: f64) -> SurveyValues {
    let mut m = BTreeMap::new();
    m.insert(
        (unit.to_string(), "satisfaction_index:leader".to_string()),
        leader,
    );
    m.insert(
        (unit.to_string(), "satisfaction_index:staff".to_string()),
        staff,
    );
    m
}

#[test]
fn seed_worked_example_is_87_4_and_good() {
    let fw = shipped("bureau_division.toml");
    let o = compute(
        &fw,
        &division_scores("办公室"),
        &[],
        &division_survey("办公室", 90.0, 85.0),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(points(&o, "办公室", "functional"), 36.5);
    assert_eq!(points(&o, "办公室", "management"), 25.5);
    assert_eq!(points(&o, "办公室", "innovation"), 8.0);
    assert_eq!(points(&o, "办公室", "satisfaction"), 17.4);
    let u = o.unit("办公室").unwrap();
    assert_eq!(u.total, 87.4);
    assert_eq!(u.grade_before, "良好");
    assert_eq!(u.grade, "良好");
    assert_eq!(u.rank, 1);
    assert!(!u.advanced, "良好 is not eligible for 先进");
    assert!(!u.rectification);
    // Quarter breakdown of 职能工作: 92, 88, 95, 90 on 0–100 (36.8, 35.2, 38, 36 points).
    let f = u.indicators.iter().find(|i| i.id == "functional").unwrap();
    let q: Vec<(String, f64, f64)> = f
        .periods
        .iter()
        .map(|p| (p.period.clone(), p.score, p.points))
        .collect();
    assert_eq!(
        q,
        vec![
            ("Q1".to_string(), 92.0, 36.8),
            ("Q2".to_string(), 88.0, 35.2),
            ("Q3".to_string(), 95.0, 38.0),
            ("Q4".to_string(), 90.0, 36.0)
        ]
    );
    assert_eq!(f.score, 91.25);
}

#[test]
fn seed_worked_example_with_a_violation_drops_to_pass() {
    let fw = shipped("bureau_division.toml");
    let o = compute(
        &fw,
        &division_scores("办公室"),
        &[ev("办公室", "violation")],
        &division_survey("办公室", 90.0, 85.0),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let u = o.unit("办公室").unwrap();
    assert_eq!(u.total, 87.4);
    assert_eq!(u.grade_before, "良好");
    assert_eq!(u.grade, "达标");
    assert_eq!(u.rules_applied.len(), 1);
    // A violation and a major accident together still lower one grade (one rule).
    let o = compute(
        &fw,
        &division_scores("办公室"),
        &[ev("办公室", "violation"), ev("办公室", "major_accident")],
        &division_survey("办公室", 90.0, 85.0),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(o.unit("办公室").unwrap().grade, "达标");
}

#[test]
fn an_admonished_unit_with_a_violation_stays_admonished_and_is_listed() {
    let fw = shipped("bureau_division.toml");
    let mut scores = division_scores("A");
    for x in scores.iter_mut() {
        x.score = 50.0;
    }
    let o = compute(
        &fw,
        &scores,
        &[ev("A", "violation")],
        &division_survey("A", 50.0, 50.0),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let u = o.unit("A").unwrap();
    assert_eq!(u.total, 50.0);
    assert_eq!(u.grade_before, "诫勉");
    assert_eq!(u.grade, "诫勉");
    assert!(u.rectification);
}

#[test]
fn an_individual_with_a_violation_is_admonished() {
    let fw = shipped("bureau_individual.toml");
    let mut scores = Vec::new();
    for q in ["Q1", "Q2", "Q3", "Q4"] {
        scores.push(s("张三", "work", Some(q), 95.0));
    }
    scores.push(s("张三", "internal", None, 96.0));
    let survey = division_survey("张三", 95.0, 90.0);
    let o = compute(&fw, &scores, &[], &survey).unwrap();
    let u = o.unit("张三").unwrap();
    // 0.6·95 + 0.2·96 + 0.2·(0.4·95 + 0.6·90) = 57 + 19.2 + 18.4
    assert_eq!(u.total, 94.6);
    assert_eq!(u.grade, "优秀");
    let o = compute(&fw, &scores, &[ev("张三", "violation")], &survey).unwrap();
    let u = o.unit("张三").unwrap();
    assert_eq!(u.grade_before, "优秀");
    assert_eq!(u.grade, "诫勉");
    assert!(u.rectification);
}

fn beijing_full(unit: &str) -> Vec<ObjectiveScore> {
    vec![
        s(unit, "efficiency.duties", None, 17.5),
        s(unit, "efficiency.leaders", None, 17.5),
        s(unit, "management.law", None, 10.0),
        s(unit, "management.capacity", None, 10.0),
        s(unit, "service.central", None, 10.0),
        s(unit, "service.grassroots", None, 10.0),
        s(unit, "innovation", None, 5.0),
    ]
}

fn beijing_survey(unit: &str, v: f64) -> SurveyValues {
    let mut m = BTreeMap::new();
    m.insert(
        (
            unit.to_string(),
            "satisfaction_index:resident+service_user".to_string(),
        ),
        v,
    );
    m
}

#[test]
fn beijing_deductions_of_25_are_capped_at_20() {
    let fw = shipped("beijing_sanxiao_yichuang.toml");
    let mut scores = beijing_full("市科委");
    scores.push(s("市科委", "accountability.safety", Some("case-1"), 10.0));
    scores.push(s("市科委", "accountability.safety", Some("case-2"), 5.0));
    scores.push(s("市科委", "accountability.budget", None, 10.0));
    let o = compute(&fw, &scores, &[], &beijing_survey("市科委", 90.0)).unwrap();
    let u = o.unit("市科委").unwrap();
    // 80 objective points + 公众评价 90 × 0.20 = 18
    assert_eq!(points(&o, "市科委", "service.public"), 18.0);
    assert_eq!(u.gross, 98.0);
    assert_eq!(u.deduction_groups[0].entered, 25.0);
    assert_eq!(u.deduction_groups[0].applied, 20.0);
    assert_eq!(u.deduction_total, 20.0);
    assert_eq!(u.total, 78.0);
    assert_eq!(u.grade, "达标");
    let safety = u
        .deductions
        .iter()
        .find(|d| d.id == "accountability.safety")
        .unwrap();
    assert_eq!(safety.entered, 15.0);
}

#[test]
fn band_edges() {
    // Three objective indicators entered in points: 60 + 30 + 10.
    let fw = Framework::parse(
        "[framework]\nid = \"edge\"\nname = \"边界\"\ninput = \"points\"\n\
         [[indicator]]\nid = \"a\"\nname = \"A\"\npoints = 60\n\
         [[indicator]]\nid = \"b\"\nname = \"B\"\npoints = 30\n\
         [[indicator]]\nid = \"c\"\nname = \"C\"\npoints = 10\n",
        "edge.toml",
    )
    .unwrap();
    let case = |a: f64, b: f64, c: f64| {
        let rows = [
            s("u", "a", None, a),
            s("u", "b", None, b),
            s("u", "c", None, c),
        ];
        let o = compute(&fw, &rows, &[], &BTreeMap::new()).unwrap();
        let u = o.unit("u").unwrap().clone();
        (u.total, u.grade)
    };
    assert_eq!(case(50.0, 30.0, 10.0), (90.0, "优秀".to_string()));
    assert_eq!(case(49.999, 30.0, 10.0), (89.999, "良好".to_string()));
    assert_eq!(case(40.0, 30.0, 10.0), (80.0, "良好".to_string()));
    assert_eq!(case(39.99, 30.0, 10.0), (79.99, "达标".to_string()));
    assert_eq!(case(30.0, 30.0, 10.0), (70.0, "达标".to_string()));
    assert_eq!(case(30.0, 29.9, 10.0), (69.9, "诫勉".to_string()));
    // Float drift: 50.3 + 29.9 + 9.8 is 89.99999999999999 in f64 but stands
    // for 90 → 优秀; 50.7 + 29.6 + 9.7 (90.00000000000001) is reported as 90.
    assert_ne!(50.3_f64 + 29.9 + 9.8, 90.0);
    assert_eq!(case(50.3, 29.9, 9.8), (90.0, "优秀".to_string()));
    assert_ne!(50.7_f64 + 29.6 + 9.7, 90.0);
    assert_eq!(case(50.7, 29.6, 9.7), (90.0, "优秀".to_string()));
}

/// A Beijing unit `short` points below full marks in 履职效率 (taken from 职责任务
/// first, then 领导考评) with 公众评价 `public`.
fn beijing_unit(unit: &str, short: f64, public: f64) -> (Vec<ObjectiveScore>, SurveyValues) {
    let mut scores = beijing_full(unit);
    scores[0].score -= short.min(17.5);
    scores[1].score -= (short - 17.5).max(0.0);
    (scores, beijing_survey(unit, public))
}

#[test]
fn ranks_are_shared_and_advanced_respects_the_cap() {
    let fw = shipped("beijing_sanxiao_yichuang.toml");
    let mut scores = Vec::new();
    let mut survey = BTreeMap::new();
    // totals: A 100, B 98, C 98, D 95, E 90, F 85, G 80 (7 units → cap floor(2.1) = 2)
    for (u, short, public) in [
        ("A", 0.0, 100.0),
        ("B", 2.0, 100.0),
        ("C", 0.0, 90.0),
        ("D", 5.0, 100.0),
        ("E", 10.0, 100.0),
        ("F", 15.0, 100.0),
        ("G", 20.0, 100.0),
    ] {
        let (sc, sv) = beijing_unit(u, short, public);
        scores.extend(sc);
        survey.extend(sv);
    }
    let o = compute(&fw, &scores, &[], &survey).unwrap();
    let ranks: Vec<(&str, f64, usize)> = o
        .units
        .iter()
        .map(|u| (u.unit.as_str(), u.total, u.rank))
        .collect();
    assert_eq!(
        ranks,
        vec![
            ("A", 100.0, 1),
            ("B", 98.0, 2),
            ("C", 98.0, 2),
            ("D", 95.0, 4),
            ("E", 90.0, 5),
            ("F", 85.0, 6),
            ("G", 80.0, 7)
        ]
    );
    assert_eq!(o.advanced_cap, 2);
    // A is taken; B and C tie for the last place and would make 3 > 2: neither.
    let adv: Vec<&str> = o
        .units
        .iter()
        .filter(|u| u.advanced)
        .map(|u| u.unit.as_str())
        .collect();
    assert_eq!(adv, vec!["A"]);
    assert_eq!(o.advanced_tied_out, vec!["B", "C"]);
}

#[test]
fn advanced_only_among_excellent_after_rules() {
    let fw = shipped("bureau_division.toml");
    let mut scores = Vec::new();
    let mut survey = BTreeMap::new();
    // 10 units, cap 3; all 优秀 at different totals, but the best has a violation.
    for (i, u) in ["u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"]
        .iter()
        .enumerate()
    {
        let v = 99.0 - i as f64;
        let mut sc = division_scores(u);
        for x in sc.iter_mut() {
            x.score = v;
        }
        scores.extend(sc);
        survey.extend(division_survey(u, v, v));
    }
    let o = compute(&fw, &scores, &[ev("u0", "major_accident")], &survey).unwrap();
    assert_eq!(o.advanced_cap, 3);
    let adv: Vec<&str> = o
        .units
        .iter()
        .filter(|u| u.advanced)
        .map(|u| u.unit.as_str())
        .collect();
    assert_eq!(adv, vec!["u1", "u2", "u3"]);
    let u0 = o.unit("u0").unwrap();
    assert_eq!((u0.rank, u0.grade.as_str()), (1, "良好"));
}

#[test]
fn missing_scores_are_errors_naming_unit_indicator_and_period() {
    let fw = shipped("bureau_division.toml");
    let mut scores = division_scores("办公室");
    scores.retain(|x| !(x.indicator == "functional.other" && x.period.as_deref() == Some("Q3")));
    scores.retain(|x| x.indicator != "management.clean");
    let mut survey = division_survey("办公室", 90.0, 85.0);
    survey.remove(&("办公室".to_string(), "satisfaction_index:staff".to_string()));
    let e = compute(&fw, &scores, &[], &survey).unwrap_err();
    let text = e.to_string();
    assert_eq!(e.problems.len(), 3, "{text}");
    assert!(
        text.contains("unit `办公室`, indicator `functional.other`, period `Q3`: missing score")
    );
    assert!(text.contains("indicator `management.clean`: missing score"));
    assert!(text.contains("missing survey result `satisfaction_index:staff`"));
}

#[test]
fn bad_rows_are_errors() {
    let fw = shipped("bureau_division.toml");
    let survey = division_survey("办公室", 90.0, 85.0);
    let cases: Vec<(ObjectiveScore, &str)> = vec![
        (s("办公室", "nope", None, 1.0), "no such indicator"),
        (s("办公室", "functional", Some("Q1"), 1.0), "sub-indicators"),
        (
            s("办公室", "satisfaction.staff", None, 1.0),
            "survey results",
        ),
        (s("办公室", "management.lawful", None, 101.0), "0–100"),
        (
            s("办公室", "management.lawful", Some("Q1"), 50.0),
            "not periodic",
        ),
        (
            s("办公室", "management.lawful", None, 50.0),
            "more than once",
        ),
        (
            s("办公室", "functional.key", Some("Q5"), 50.0),
            "unknown period",
        ),
        (
            s("办公室", "functional.key", None, 50.0),
            "period is required",
        ),
    ];
    for (row, needle) in cases {
        let mut scores = division_scores("办公室");
        scores.push(row.clone());
        let e = compute(&fw, &scores, &[], &survey).unwrap_err();
        assert!(e.to_string().contains(needle), "{row:?}: {e}");
    }
    let e = compute(
        &fw,
        &division_scores("办公室"),
        &[ev("办公室", "late")],
        &survey,
    )
    .unwrap_err();
    assert!(e.to_string().contains("unknown event `late`"), "{e}");
}

#[test]
fn explicit_units_without_scores_are_reported_missing() {
    let fw = shipped("bureau_individual.toml");
    let e = compute_units(&fw, &["李四".to_string()], &[], &[], &BTreeMap::new()).unwrap_err();
    // 4 quarters + internal + 2 survey values
    assert_eq!(e.problems.len(), 7, "{e}");
}

#[test]
fn recompute_for_a_past_moment() {
    let fw = shipped("bureau_individual.toml");
    let change = |at: u32, indicator: &str, period: Option<&str>, v: Option<f64>| ScoreChange {
        at,
        unit: "王五".to_string(),
        indicator: indicator.to_string(),
        period: period.map(str::to_string),
        value: v,
        note: None,
    };
    let mut log = Vec::new();
    for q in ["Q1", "Q2", "Q3", "Q4"] {
        log.push(change(1, "work", Some(q), Some(90.0)));
    }
    log.push(change(1, "internal", None, Some(90.0)));
    log.push(change(5, "work", Some("Q4"), Some(70.0)));
    log.push(change(9, "internal", None, None));
    let survey = division_survey("王五", 90.0, 90.0);
    let at = |t: u32| compute(&fw, &as_of(&log, &t), &[], &survey);
    assert_eq!(at(1).unwrap().unit("王五").unwrap().total, 90.0);
    // Q4 lowered to 70 at t=5: 60 × (90·3 + 70)/400 = 51 → 51 + 18 + 18 = 87
    assert_eq!(at(5).unwrap().unit("王五").unwrap().total, 87.0);
    // At t=9 the internal score was withdrawn: computing now is an error, not a zero.
    let e = at(9).unwrap_err();
    assert!(
        e.to_string()
            .contains("indicator `internal`: missing score"),
        "{e}"
    );
}
