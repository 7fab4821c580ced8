//! Running tables against the engine: the same numbers (to rounding) on stratified,
//! weighted designs with fpc, lonely strata, empty cells, missing codes and zero weights;
//! and sums brought forward by added and removed rows equal, bit for bit, sums taken afresh.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pingyi_analysis::estimate::{
    estimate, DesignSpec, Estimates, LonelyPsu, Measure, Running, Variable,
};
use polars::prelude::*;
use proptest::prelude::*;

/// One generated response.
#[derive(Debug, Clone)]
struct Row {
    unit: Option<u8>,
    kind: u8,
    stratum: u8,
    weight: f64,
    /// likert code 1–5, 9 = don't know, None = not asked
    item: Option<u8>,
    /// a per-response index (None: no answer)
    index: Option<f64>,
}

fn row() -> impl Strategy<Value = Row> {
    (
        prop::option::weighted(0.9, 0u8..4),
        0u8..3,
        0u8..4,
        prop_oneof![Just(0.0), 0.3f64..6.0, Just(2.5), Just(1.0), Just(1.0)],
        prop::option::weighted(0.85, prop_oneof![1u8..6, Just(9u8)]),
        prop::option::weighted(
            0.9,
            prop_oneof![(0u32..=20).prop_map(|k| k as f64 * 5.0), 0.0f64..100.0],
        ),
    )
        .prop_map(|(unit, kind, stratum, weight, item, index)| Row {
            unit,
            kind,
            stratum,
            weight,
            item,
            index,
        })
}

/// Stratum 3 is sampled with replacement; the others have population sizes.
fn frame(rows: &[Row]) -> DataFrame {
    let pop = [40.0, 300.0, 55.0, f64::INFINITY];
    DataFrame::new_infer_height(vec![
        Column::new(
            "unit".into(),
            rows.iter()
                .map(|r| r.unit.map(|u| format!("u{u}")))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "year".into(),
            rows.iter()
                .map(|r| 2020 + i64::from(r.kind))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "stratum".into(),
            rows.iter()
                .map(|r| format!("s{}", r.stratum))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "fpc".into(),
            rows.iter()
                .map(|r| pop[r.stratum as usize])
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "w".into(),
            rows.iter().map(|r| r.weight).collect::<Vec<_>>(),
        ),
        Column::new(
            "item".into(),
            rows.iter()
                .map(|r| r.item.map(u32::from))
                .collect::<Vec<_>>(),
        ),
        Column::new(
            "index".into(),
            rows.iter().map(|r| r.index).collect::<Vec<_>>(),
        ),
    ])
    .unwrap()
}

fn design(stratified: bool, lonely: LonelyPsu) -> DesignSpec {
    if stratified {
        DesignSpec {
            weight: Some("w".into()),
            strata: Some("stratum".into()),
            clusters: Vec::new(),
            fpc: vec!["fpc".into()],
            lonely_psu: lonely,
        }
    } else {
        DesignSpec::srs(Some("w"))
    }
}

fn vars() -> Vec<Variable> {
    [
        Variable::new("rate", "item", Measure::Proportion(vec![4.0, 5.0])).with_missing(&[9.0]),
        Variable::new(
            "score",
            "item",
            Measure::Score(vec![
                (1.0, 0.0),
                (2.0, 25.0),
                (3.0, 50.0),
                (4.0, 75.0),
                (5.0, 100.0),
            ]),
        ),
        Variable::new("item_mean", "item", Measure::Mean).with_missing(&[9.0]),
        Variable::new("index", "index", Measure::Mean),
        Variable::new("nps", "item", Measure::Nps),
    ]
    .into_iter()
    .map(Variable::without_influence)
    .collect()
}

fn close(a: f64, b: f64, scale: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b || (a - b).abs() <= 1e-9 * scale.max(1.0)
}

/// Every reported number of two estimates agrees (counts exactly, values to 1e-9).
fn same_numbers(run: &Estimates, eng: &Estimates) -> Result<(), TestCaseError> {
    prop_assert_eq!(&run.domains, &eng.domains);
    prop_assert_eq!(&run.variables, &eng.variables);
    prop_assert_eq!(run.degf, eng.degf);
    prop_assert_eq!(run.nrow, eng.nrow);
    for (a, b) in run.cells.iter().zip(&eng.cells) {
        prop_assert_eq!(
            (a.n, a.n_pos, a.rows, a.design_rows),
            (b.n, b.n_pos, b.rows, b.design_rows)
        );
        prop_assert_eq!(a.degf, b.degf);
        prop_assert!(
            close(a.estimate, b.estimate, b.estimate.abs()),
            "estimate {} vs {}",
            a.estimate,
            b.estimate
        );
        prop_assert!(close(a.total, b.total, b.total.abs()));
        prop_assert!(
            close(a.se(), b.se(), b.estimate.abs()),
            "se {} vs {} ({:?})",
            a.se(),
            b.se(),
            b
        );
        prop_assert!(close(a.n_eff, b.n_eff, b.n_eff.abs()));
        match (a.deff, b.deff) {
            (Some(x), Some(y)) if y.is_finite() && x.is_finite() => {
                // deff's SRS variance is Σwy² − rΣwy in both, which loses the digits the
                // two terms share (the running sums are exact, the engine's are not)
                prop_assert!((x - y).abs() <= 1e-6 * y.abs().max(1.0), "deff {x} vs {y}")
            }
            (x, y) => prop_assert_eq!(x.is_some(), y.is_some()),
        }
    }
    Ok(())
}

fn fresh(
    df: &DataFrame,
    d: &DesignSpec,
    by: &[String],
) -> Result<Estimates, pingyi_analysis::estimate::AnalysisError> {
    let mut r = Running::new(d, by, &vars())?;
    r.add(df, false)?;
    r.estimates(&vars())
}

/// Every `n`th row (from the first) and the others.
fn every_nth(rows: &[Row], n: usize) -> (Vec<Row>, Vec<Row>) {
    let gone = rows.iter().step_by(n).cloned().collect();
    let kept = rows
        .iter()
        .enumerate()
        .filter(|(i, _)| i % n != 0)
        .map(|(_, r)| r.clone())
        .collect();
    (gone, kept)
}

fn bits(e: &Estimates) -> Vec<[u64; 6]> {
    e.cells
        .iter()
        .map(|c| {
            [
                c.estimate.to_bits(),
                c.variance.to_bits(),
                c.total.to_bits(),
                c.n_eff.to_bits(),
                c.deff.map_or(0, f64::to_bits),
                c.degf.to_bits(),
            ]
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The running table gives the engine's numbers, for every grouping and design.
    #[test]
    fn same_as_the_engine(rows in prop::collection::vec(row(), 1..150), stratified: bool, adjust: bool) {
        let df = frame(&rows);
        let d = design(stratified, if adjust { LonelyPsu::Adjust } else { LonelyPsu::Remove });
        for by in [vec![], vec!["unit".to_string()], vec!["unit".to_string(), "year".to_string()]] {
            let eng = estimate(df.clone().lazy(), &d, None, &by, &vars());
            let run = fresh(&df, &d, &by);
            match (run, eng) {
                (Ok(run), Ok(eng)) => same_numbers(&run, &eng)?,
                (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                (a, b) => prop_assert!(false, "running {:?} vs engine {:?}", a.err(), b.err()),
            }
        }
    }

    /// Rows added in steps and some removed again give the bits of the table built afresh
    /// from the rows left, whatever the order.
    #[test]
    fn incremental_equals_afresh(
        rows in prop::collection::vec(row(), 2..120),
        cut in 0usize..120,
        drop_every in 2usize..5,
        stratified: bool,
    ) {
        let d = design(stratified, LonelyPsu::Adjust);
        let by = vec!["unit".to_string(), "year".to_string()];
        let cut = cut % rows.len();
        let (first, second) = rows.split_at(cut);
        let mut run = Running::new(&d, &by, &vars()).unwrap();
        run.add(&frame(second), false).unwrap();
        run.add(&frame(first), false).unwrap();
        let (gone, kept) = every_nth(&rows, drop_every);
        run.add(&frame(&gone), true).unwrap();
        prop_assert_eq!(run.rows(), kept.len() as i64);
        let afresh = fresh(&frame(&kept), &d, &by);
        match (run.estimates(&vars()), afresh) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(&a.domains, &b.domains);
                prop_assert_eq!(bits(&a), bits(&b));
                prop_assert_eq!(a.degf.to_bits(), b.degf.to_bits());
            }
            (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
            (a, b) => prop_assert!(false, "{:?} vs {:?}", a.err(), b.err()),
        }
    }
}

/// Key values under a coarser grouping from those under the finer one.
type KeyOf = fn(&[String]) -> Vec<String>;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A finer grouping's sums regrouped to a coarser one (after rows came and went) give
    /// the bits of the coarser table summed from the rows.
    #[test]
    fn regrouped_equals_summed(
        rows in prop::collection::vec(row(), 1..150),
        drop_every in 2usize..6,
        stratified: bool,
    ) {
        let d = design(stratified, LonelyPsu::Adjust);
        let fine = vec!["unit".to_string(), "year".to_string()];
        let mut run = Running::new(&d, &fine, &vars()).unwrap();
        run.add(&frame(&rows), false).unwrap();
        let (gone, kept) = every_nth(&rows, drop_every);
        run.add(&frame(&gone), true).unwrap();
        let coarser: [(Vec<String>, KeyOf); 4] = [
            (vec!["unit".into()], |k| vec![k[0].clone()]),
            (vec!["year".into()], |k| vec![k[1].clone()]),
            (vec![], |_| vec![]),
            (vec!["year".into(), "unit".into()], |k| vec![k[1].clone(), k[0].clone()]),
        ];
        for (by, key_of) in coarser {
            let regrouped = run.regroup(&by, key_of);
            prop_assert_eq!(regrouped.rows(), kept.len() as i64);
            match (regrouped.estimates(&vars()), fresh(&frame(&kept), &d, &by)) {
                (Ok(a), Ok(b)) => {
                    prop_assert_eq!(&a.domains, &b.domains);
                    prop_assert_eq!(bits(&a), bits(&b));
                    prop_assert_eq!(a.degf.to_bits(), b.degf.to_bits());
                }
                (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                (a, b) => prop_assert!(false, "by {:?}: {:?} vs {:?}", by, a.err(), b.err()),
            }
        }
    }
}

/// Everyone in a domain gave the same answer: the SE is exactly zero, as R's is.
#[test]
fn no_spread_is_exactly_zero() {
    let rows: Vec<Row> = (0..30)
        .map(|i| Row {
            unit: Some(1),
            kind: 0,
            stratum: (i % 2) as u8,
            weight: [1.0, 1.7, 2.05][i % 3],
            item: Some(5),
            index: Some(83.33333333333333),
        })
        .collect();
    let df = frame(&rows);
    let e = fresh(&df, &design(true, LonelyPsu::Adjust), &[]).unwrap();
    for c in &e.cells {
        assert_eq!(c.variance, 0.0, "{c:?}");
    }
    assert_eq!(e.cells[0].estimate, 1.0);
    assert_eq!(e.cells[1].estimate, 100.0);
}

/// Removing what was never added is refused, as are weights a table cannot hold.
#[test]
fn refusals() {
    let d = design(true, LonelyPsu::Adjust);
    let rows: Vec<Row> = (0..4)
        .map(|i| Row {
            unit: Some(i),
            kind: 0,
            stratum: 0,
            weight: 1.0,
            item: Some(4),
            index: Some(50.0),
        })
        .collect();
    let mut r = Running::new(&d, &["unit".into()], &vars()).unwrap();
    r.add(&frame(&rows[..2]), false).unwrap();
    let e = r.add(&frame(&rows[2..]), true).unwrap_err();
    assert!(e.to_string().contains("does not hold"), "{e}");
    let mut big = rows.clone();
    big[0].weight = 1e40;
    let mut r = Running::new(&d, &["unit".into()], &vars()).unwrap();
    let e = r.add(&frame(&big), false).unwrap_err();
    assert!(e.to_string().contains("too large"), "{e}");
    let mut neg = rows;
    neg[1].weight = -1.0;
    let e = Running::new(&d, &[], &vars())
        .unwrap()
        .add(&frame(&neg), false)
        .unwrap_err();
    assert!(e.to_string().contains("row 1"), "{e}");
    let clustered = DesignSpec {
        clusters: vec!["unit".into()],
        ..design(false, LonelyPsu::Adjust)
    };
    assert!(Running::new(&clustered, &[], &vars()).is_err());
}
