//! Property tests over the shipped frameworks: totals stay within [0, max],
//! raising any indicator never lowers the total or the grade, and the advanced
//! selection never exceeds its cap.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use pingyi_analysis::scoring::{
    compute, Event, Framework, IndicatorKind, InputScale, ObjectiveScore, Outcome, SurveyValues,
};
use proptest::prelude::*;

const FILES: [&str; 4] = [
    "bureau_division.toml",
    "bureau_individual.toml",
    "beijing_sanxiao_yichuang.toml",
    "feicheng_institutional.toml",
];

fn shipped(name: &str) -> Framework {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../surveys/frameworks")
        .join(name);
    Framework::load_path(&path).unwrap_or_else(|e| panic!("{e}"))
}

/// One input a unit needs: an objective (indicator, period) or a survey key,
/// with the largest value it may take.
#[derive(Clone, Debug)]
enum Slot {
    Objective {
        id: String,
        period: Option<String>,
        max: f64,
    },
    Survey {
        key: String,
    },
}

fn slots(fw: &Framework) -> Vec<Slot> {
    let mut out = Vec::new();
    for k in fw.leaves() {
        let ind = &fw.indicators[k];
        match &ind.kind {
            IndicatorKind::Objective { input } => {
                let max = match input {
                    InputScale::Percent => 100.0,
                    InputScale::Points => ind.max_points,
                };
                let periods: Vec<Option<String>> = match ind.period_scope {
                    None => vec![None],
                    Some(sc) => fw.indicators[sc]
                        .periods
                        .as_ref()
                        .map(|p| p.labels.iter().cloned().map(Some).collect())
                        .unwrap_or_default(),
                };
                for period in periods {
                    out.push(Slot::Objective {
                        id: ind.id.clone(),
                        period,
                        max,
                    });
                }
            }
            IndicatorKind::Survey { binding } => out.push(Slot::Survey { key: binding.key() }),
            IndicatorKind::Composite => {}
        }
    }
    out
}

/// Fractions in [0, 1] → values on each slot's scale, rounded to 0.01.
fn value(slot: &Slot, f: f64) -> f64 {
    let max = match slot {
        Slot::Objective { max, .. } => *max,
        Slot::Survey { .. } => 100.0,
    };
    ((f * max * 100.0).floor() / 100.0).min(max)
}

struct Case {
    scores: Vec<ObjectiveScore>,
    events: Vec<Event>,
    survey: SurveyValues,
}

fn build(fw: &Framework, units: &[(Vec<f64>, f64, bool)]) -> Case {
    let sl = slots(fw);
    let mut scores = Vec::new();
    let mut events = Vec::new();
    let mut survey = BTreeMap::new();
    let kinds: Vec<&str> = fw.event_kinds().into_iter().collect();
    for (u, (fracs, deduction, violation)) in units.iter().enumerate() {
        let unit = format!("unit{u:02}");
        for (slot, f) in sl.iter().zip(fracs) {
            let v = value(slot, *f);
            match slot {
                Slot::Objective { id, period, .. } => scores.push(ObjectiveScore {
                    unit: unit.clone(),
                    indicator: id.clone(),
                    period: period.clone(),
                    score: v,
                    note: None,
                    line: None,
                }),
                Slot::Survey { key } => {
                    survey.insert((unit.clone(), key.clone()), v);
                }
            }
        }
        if let Some(d) = fw.deductions.first() {
            scores.push(ObjectiveScore {
                unit: unit.clone(),
                indicator: d.id.clone(),
                period: None,
                score: *deduction,
                note: None,
                line: None,
            });
        }
        if *violation {
            if let Some(kind) = kinds.first() {
                events.push(Event {
                    unit: unit.clone(),
                    kind: kind.to_string(),
                    note: None,
                    line: None,
                });
            }
        }
    }
    Case {
        scores,
        events,
        survey,
    }
}

fn run(fw: &Framework, c: &Case) -> Outcome {
    compute(fw, &c.scores, &c.events, &c.survey).unwrap_or_else(|e| panic!("{e}"))
}

/// Up to 12 units: per unit, fractions for up to 60 slots (enough for every
/// shipped framework), a deduction and whether a rule event happened.
fn units_strategy() -> impl Strategy<Value = Vec<(Vec<f64>, f64, bool)>> {
    prop::collection::vec(
        (
            prop::collection::vec(0.0..=1.0f64, 60),
            0.0..30.0f64,
            prop::bool::weighted(0.2),
        ),
        1..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn totals_stay_within_zero_and_max(file in 0..FILES.len(), units in units_strategy()) {
        let fw = shipped(FILES[file]);
        let o = run(&fw, &build(&fw, &units));
        prop_assert_eq!(o.units.len(), units.len());
        for u in &o.units {
            prop_assert!(u.total >= 0.0 && u.total <= fw.total, "{} total {}", u.unit, u.total);
            prop_assert!(u.gross >= 0.0 && u.gross <= fw.total + 1e-9);
            for (g, d) in u.deduction_groups.iter().zip(&fw.deduction_groups) {
                prop_assert!(g.applied <= d.cap);
            }
            for (p, ind) in u.indicators.iter().zip(&fw.indicators) {
                prop_assert!(p.points >= 0.0 && p.points <= ind.max_points + 1e-9);
            }
        }
    }

    #[test]
    fn raising_an_indicator_never_lowers_total_or_grade(
        file in 0..FILES.len(),
        units in units_strategy(),
        which in 0usize..60,
        bump in 0.0..=1.0f64,
    ) {
        let fw = shipped(FILES[file]);
        let n_slots = slots(&fw).len();
        let slot = which % n_slots;
        let before = run(&fw, &build(&fw, &units));
        let mut raised = units.clone();
        raised[0].0[slot] = (raised[0].0[slot] + bump).min(1.0);
        let after = run(&fw, &build(&fw, &raised));
        let (b, a) = (before.unit("unit00").unwrap(), after.unit("unit00").unwrap());
        prop_assert!(a.total >= b.total, "{} → {}", b.total, a.total);
        let gi = |g: &str| fw.grade_index(g).unwrap();
        prop_assert!(gi(&a.grade_before) <= gi(&b.grade_before));
        prop_assert!(gi(&a.grade) <= gi(&b.grade));
    }

    #[test]
    fn advanced_never_exceeds_its_cap(file in 0..FILES.len(), units in units_strategy()) {
        let fw = shipped(FILES[file]);
        let o = run(&fw, &build(&fw, &units));
        let n = o.units.len();
        let cap = (fw.advanced.share * n as f64 / 100.0 + 1e-9).floor() as usize;
        prop_assert_eq!(o.advanced_cap, cap);
        let advanced: Vec<_> = o.units.iter().filter(|u| u.advanced).collect();
        prop_assert!(advanced.len() <= cap);
        for u in &advanced {
            let g = fw.grade_index(&u.grade).unwrap();
            prop_assert!(fw.advanced.eligible.contains(&g));
        }
        // Nobody left out ranks above someone selected among the eligible.
        if let Some(worst) = advanced.iter().map(|u| u.total).reduce(f64::min) {
            for u in &o.units {
                let g = fw.grade_index(&u.grade).unwrap();
                if fw.advanced.eligible.contains(&g) && !u.advanced {
                    prop_assert!(u.total <= worst);
                }
            }
        }
        // Ranks: competition ranking.
        for (i, u) in o.units.iter().enumerate() {
            let better = o.units.iter().filter(|x| x.total > u.total).count();
            prop_assert_eq!(u.rank, better + 1, "position {}", i);
        }
    }
}
