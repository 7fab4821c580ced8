//! `[[composite]]` sections and `composite:` survey bindings: loading checks, the
//! engine's composite per unit (value and linearised SE re-derived by hand here),
//! filling composites from their parts, and scoring with them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use pingyi_analysis::estimate::DesignSpec;
use pingyi_analysis::scoring::{
    composite_estimates, compute, fill_composites, measure_values, Framework, ObjectiveScore,
    SurveyColumns, SurveyMeasure, SurveyValues,
};
use polars::prelude::*;

/// 工作满意度 as one composite leaf (领导班子 40 / 中层以下 60) next to one objective indicator.
const FW: &str = r#"
[framework]
id = "comp"
name = "组合"
input = "percent"

[[indicator]]
id = "work"
name = "工作"
weight = 80

[[indicator]]
id = "satisfaction"
name = "工作满意度"
weight = 20
survey = "composite:leaders_staff"

[[composite]]
id = "leaders_staff"
name = "领导班子 40% / 中层以下 60%"
weights = { staff = 60, leader = 40 }
"#;

fn fw() -> Framework {
    Framework::parse(FW, "comp.toml").unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn composites_load_in_respondent_type_order() {
    let fw = fw();
    assert_eq!(fw.composites.len(), 1);
    let c = fw.composite("leaders_staff").unwrap();
    assert_eq!(c.measure, SurveyMeasure::SatisfactionIndex);
    assert_eq!(
        c.weights,
        vec![("leader".to_string(), 40.0), ("staff".to_string(), 60.0)]
    );
    assert_eq!(c.key(), "composite:leaders_staff");
    assert_eq!(c.part_key("staff"), "satisfaction_index:staff");
    assert_eq!(c.line, 19);
}

#[test]
fn undeclared_or_bad_composites_are_refused_with_file_line_and_indicator() {
    let undeclared = FW.replace("composite:leaders_staff", "composite:five_in_one");
    let e = Framework::parse(&undeclared, "comp.toml").unwrap_err();
    assert_eq!(e.file, "comp.toml");
    assert_eq!(e.line, 16);
    assert_eq!(e.indicator.as_deref(), Some("satisfaction"));
    assert!(
        e.message
            .contains("composite `five_in_one` is not declared")
            && e.message.contains("leaders_staff"),
        "{e}"
    );
    let sum = FW.replace("leader = 40", "leader = 30");
    let e = Framework::parse(&sum, "comp.toml").unwrap_err();
    assert_eq!(e.line, 19);
    assert!(e.message.contains("add up to 90, expected 100"), "{e}");
    let unknown = FW.replace("leader = 40", "boss = 40");
    let e = Framework::parse(&unknown, "comp.toml").unwrap_err();
    assert!(e.message.contains("unknown respondent type `boss`"), "{e}");
    let one = FW.replace("staff = 60, leader = 40", "staff = 100");
    let e = Framework::parse(&one, "comp.toml").unwrap_err();
    assert!(e.message.contains("at least two respondent types"), "{e}");
    let twice = format!(
        "{FW}\n[[composite]]\nid = \"leaders_staff\"\nweights = {{ leader = 50, staff = 50 }}\n"
    );
    let e = Framework::parse(&twice, "comp.toml").unwrap_err();
    assert!(e.message.contains("declared twice"), "{e}");
}

/// (unit, type, weight, per-respondent index, per-respondent rate)
const ROWS: [(&str, &str, f64, Option<f64>, f64); 12] = [
    ("A", "leader", 1.0, Some(100.0), 1.0),
    ("A", "leader", 3.0, Some(80.0), 1.0),
    ("A", "staff", 2.0, Some(60.0), 0.5),
    ("A", "staff", 1.0, Some(90.0), 1.0),
    ("A", "staff", 1.5, Some(70.0), 0.75),
    ("A", "staff", 0.5, None, 0.0), // answered nothing on the scale: not counted
    ("B", "leader", 1.0, Some(60.0), 0.5),
    ("B", "staff", 2.0, Some(40.0), 0.0),
    ("B", "staff", 2.0, Some(100.0), 1.0),
    ("B", "resident", 4.0, Some(20.0), 0.0),
    ("C", "staff", 1.0, Some(80.0), 1.0), // no leader: incomplete
    ("C", "staff", 1.0, Some(70.0), 1.0),
];

fn frame() -> LazyFrame {
    let rate: Vec<Option<f64>> = ROWS
        .iter()
        .map(|r| r.3.map(|_| r.4)) // no index → no rate either
        .collect();
    df!(
        "unit" => ROWS.iter().map(|r| r.0).collect::<Vec<_>>(),
        "respondent_type" => ROWS.iter().map(|r| r.1).collect::<Vec<_>>(),
        "weight" => ROWS.iter().map(|r| r.2).collect::<Vec<_>>(),
        "all:index" => ROWS.iter().map(|r| r.3).collect::<Vec<_>>(),
        "all:rate" => rate,
    )
    .unwrap()
    .lazy()
}

/// Weighted mean of the index over one unit's respondents of one type.
fn wmean(unit: &str, t: &str) -> (f64, f64) {
    let (mut sw, mut swy) = (0.0, 0.0);
    for r in ROWS.iter().filter(|r| r.0 == unit && r.1 == t) {
        if let Some(y) = r.3 {
            sw += r.2;
            swy += r.2 * y;
        }
    }
    (swy / sw, sw)
}

/// Linearised SE of 0.4·θ(unit, leader) + 0.6·θ(unit, staff) under a weighted
/// with-replacement design of single-row PSUs (R: svydesign(ids = ~1, weights = ~weight)):
/// var = n/(n−1) Σ (zᵢ − z̄)², zᵢ = wᵢ Σₜ cₜ 1[i ∈ t](yᵢ − θₜ)/Wₜ over all n rows.
fn linearised_se(unit: &str) -> f64 {
    let parts = [("leader", 0.4), ("staff", 0.6)];
    let z: Vec<f64> = ROWS
        .iter()
        .map(|r| {
            let Some(y) = r.3 else { return 0.0 };
            parts
                .iter()
                .filter(|(t, _)| r.0 == unit && r.1 == *t)
                .map(|(t, c)| {
                    let (theta, w) = wmean(unit, t);
                    r.2 * c * (y - theta) / w
                })
                .sum()
        })
        .collect();
    let n = z.len() as f64;
    let mean = z.iter().sum::<f64>() / n;
    (n / (n - 1.0) * z.iter().map(|v| (v - mean).powi(2)).sum::<f64>()).sqrt()
}

#[test]
fn engine_composite_is_the_weighted_combination_of_weighted_means() {
    let fw = fw();
    let r = composite_estimates(
        frame(),
        &DesignSpec::srs(Some("weight")),
        &fw,
        &SurveyColumns::default(),
    )
    .unwrap();
    for unit in ["A", "B"] {
        let expected = 0.4 * wmean(unit, "leader").0 + 0.6 * wmean(unit, "staff").0;
        let got = &r.values[&(unit.to_string(), "composite:leaders_staff".to_string())];
        assert!(
            (got.value - expected).abs() < 1e-9,
            "{unit}: {} vs {expected}",
            got.value
        );
        assert!(
            (got.se - linearised_se(unit)).abs() < 1e-9,
            "{unit}: se {} vs {}",
            got.se,
            linearised_se(unit)
        );
        assert_eq!(got.parts.len(), 2);
    }
    // A: leaders (1·100 + 3·80)/4 = 85; staff (2·60 + 1·90 + 1.5·70)/4.5 = 70 → 76
    let a = &r.values[&("A".to_string(), "composite:leaders_staff".to_string())];
    assert!((a.value - 76.0).abs() < 1e-9);
    assert_eq!(
        a.n, 5,
        "the respondent without a scale answer is not counted"
    );
    // C has no leader answers: no value, and the missing type is named
    assert!(!r
        .values
        .contains_key(&("C".to_string(), "composite:leaders_staff".to_string())));
    assert_eq!(
        r.incomplete[&("C".to_string(), "composite:leaders_staff".to_string())],
        vec!["leader".to_string()]
    );
}

#[test]
fn rate_composites_are_percentages() {
    let text = FW.replace(
        "name = \"领导班子 40% / 中层以下 60%\"",
        "measure = \"satisfaction_rate\"",
    );
    let fw = Framework::parse(&text, "comp.toml").unwrap();
    let r = composite_estimates(
        frame(),
        &DesignSpec::srs(Some("weight")),
        &fw,
        &SurveyColumns::default(),
    )
    .unwrap();
    // B: leaders 0.5; staff (2·0 + 2·1)/4 = 0.5 → 50%
    let b = &r.values[&("B".to_string(), "composite:leaders_staff".to_string())];
    assert!((b.value - 50.0).abs() < 1e-9, "{}", b.value);
}

#[test]
fn measure_bindings_are_weighted_means_over_the_pooled_types() {
    let text = FW.replace(
        "survey = \"composite:leaders_staff\"",
        "survey = \"satisfaction_index:leader+staff\"",
    );
    let text = text.replace(
        "weight = 80\n",
        "weight = 80\nsurvey = \"satisfaction_rate:staff\"\n",
    );
    let fw = Framework::parse(&text, "pooled.toml").unwrap_or_else(|e| panic!("{e}"));
    let df = frame().collect().unwrap();
    let v = measure_values(&df, &fw, &SurveyColumns::default(), "weight").unwrap();
    let get = |u: &str, k: &str| v.get(&(u.to_string(), k.to_string())).copied();
    // A, leaders and staff pooled: (1·100 + 3·80 + 2·60 + 1·90 + 1.5·70) / 8.5; the
    // respondent without an index is left out
    let a = get("A", "satisfaction_index:leader+staff").unwrap();
    assert!((a - 655.0 / 8.5).abs() < 1e-12, "{a}");
    // B: the resident is not pooled: (1·60 + 2·40 + 2·100) / 5 = 68
    let b = get("B", "satisfaction_index:leader+staff").unwrap();
    assert!((b - 68.0).abs() < 1e-12, "{b}");
    // rates are percentages: B staff (2·0 + 2·1) / 4 = 50 %
    let r = get("B", "satisfaction_rate:staff").unwrap();
    assert!((r - 50.0).abs() < 1e-12, "{r}");
    // C has no leaders but staff: pooled over what there is
    assert!((get("C", "satisfaction_index:leader+staff").unwrap() - 75.0).abs() < 1e-12);
    assert_eq!(v.len(), 6);
    // a frame without the weight column names it
    let e = measure_values(&df, &fw, &SurveyColumns::default(), "w").unwrap_err();
    assert!(e.to_string().contains("`w`"), "{e}");
}

fn s(unit: &str, id: &str, v: f64) -> ObjectiveScore {
    ObjectiveScore {
        unit: unit.into(),
        indicator: id.into(),
        period: None,
        score: v,
        note: None,
        line: None,
    }
}

#[test]
fn composites_fill_from_parts_and_score() {
    let fw = fw();
    let mut survey: SurveyValues = BTreeMap::new();
    survey.insert(("A".into(), "satisfaction_index:leader".into()), 90.0);
    survey.insert(("A".into(), "satisfaction_index:staff".into()), 85.0);
    survey.insert(("B".into(), "satisfaction_index:staff".into()), 85.0);
    // a composite given directly is kept as given
    survey.insert(("C".into(), "composite:leaders_staff".into()), 50.0);
    let added = fill_composites(&fw, &mut survey);
    assert_eq!(
        added,
        vec![("A".to_string(), "composite:leaders_staff".to_string())]
    );
    assert!(
        (survey[&("A".to_string(), "composite:leaders_staff".to_string())] - 87.0).abs() < 1e-9
    );
    // A: 80% × 90 + 20% × (0.4·90 + 0.6·85 = 87) = 72 + 17.4
    let o = compute(&fw, &[s("A", "work", 90.0)], &[], &survey).unwrap();
    assert_eq!(o.unit("A").unwrap().total, 89.4);
    // B lacks leaders: the problem names the composite and what it weights
    let e = compute(&fw, &[s("B", "work", 90.0)], &[], &survey).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("unit `B`, indicator `satisfaction`")
            && msg.contains("composite:leaders_staff")
            && msg.contains("leader 40%, staff 60%"),
        "{msg}"
    );
}
