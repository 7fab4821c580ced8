//! Property tests of the estimation engine.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use pingyi_analysis::estimate::{estimate, Calibration, DesignSpec, Measure, RakeMargin, Variable};
use polars::prelude::*;
use proptest::prelude::*;

fn frame(cols: Vec<Column>) -> LazyFrame {
    DataFrame::new_infer_height(cols).unwrap().lazy()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(1e-300)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Multiplying every weight by a constant changes no estimate, SE or deff... nor n_eff.
    #[test]
    fn scaling_weights_changes_nothing(
        rows in prop::collection::vec((0u8..3, 0u8..4, 0.2f64..5.0, 1u8..6), 20..120),
        k in 0.01f64..100.0,
    ) {
        let s: Vec<i64> = rows.iter().map(|r| r.0 as i64).collect();
        let c: Vec<i64> = rows.iter().map(|r| r.1 as i64).collect();
        let w: Vec<f64> = rows.iter().map(|r| r.2).collect();
        let wk: Vec<f64> = w.iter().map(|x| x * k).collect();
        let y: Vec<f64> = rows.iter().map(|r| r.3 as f64).collect();
        let mk = |w: Vec<f64>| frame(vec![
            Column::new("s".into(), s.clone()),
            Column::new("c".into(), c.clone()),
            Column::new("w".into(), w),
            Column::new("y".into(), y.clone()),
        ]);
        let d = DesignSpec {
            weight: Some("w".into()),
            strata: Some("s".into()),
            clusters: vec!["c".into()],
            lonely_psu: pingyi_analysis::estimate::LonelyPsu::Remove,
            ..DesignSpec::default()
        };
        let vars = [
            Variable::new("m", "y", Measure::Mean),
            Variable::new("p", "y", Measure::Proportion(vec![4.0, 5.0])),
        ];
        let a = estimate(mk(w), &d, None, &[], &vars).unwrap();
        let b = estimate(mk(wk), &d, None, &[], &vars).unwrap();
        for v in 0..2 {
            let (x, z) = (a.cell(0, v), b.cell(0, v));
            prop_assert!(rel(x.estimate, z.estimate) < 1e-12);
            if x.se() > 1e-12 {
                prop_assert!(rel(x.se(), z.se()) < 1e-9);
            }
            prop_assert!(rel(x.n_eff, z.n_eff) < 1e-12);
        }
    }

    /// One stratum, no clusters, no weights: the textbook mean, s/sqrt(n) and, with a
    /// population size N, s/sqrt(n) * sqrt(1 - n/N).
    #[test]
    fn srs_is_textbook(y in prop::collection::vec(-50.0f64..50.0, 3..80), extra in 1usize..1000) {
        let n = y.len() as f64;
        let big_n = n + extra as f64;
        let lf = frame(vec![
            Column::new("y".into(), y.clone()),
            Column::new("N".into(), vec![big_n; y.len()]),
        ]);
        let mean = y.iter().sum::<f64>() / n;
        let s2 = y.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
        let vars = [Variable::new("m", "y", Measure::Mean)];
        let e = estimate(lf.clone(), &DesignSpec::srs(None), None, &[], &vars).unwrap();
        prop_assert!((e.cell(0, 0).estimate - mean).abs() < 1e-9 * (1.0 + mean.abs()));
        let se = (s2 / n).sqrt();
        if se > 1e-9 {
            prop_assert!(rel(e.cell(0, 0).se(), se) < 1e-9);
        }
        prop_assert_eq!(e.degf, n - 1.0);
        let d = DesignSpec { fpc: vec!["N".into()], ..DesignSpec::default() };
        let e = estimate(lf, &d, None, &[], &vars).unwrap();
        let se_fpc = (s2 / n * (1.0 - n / big_n)).sqrt();
        if se_fpc > 1e-9 {
            prop_assert!(rel(e.cell(0, 0).se(), se_fpc) < 1e-9);
        }
    }

    /// After raking, the weighted count of every margin level is its population.
    #[test]
    fn raking_reproduces_margins(
        rows in prop::collection::vec((0u8..3, 0u8..2, 0.5f64..3.0), 30..150),
        pa in prop::collection::vec(50.0f64..500.0, 3),
        pb in prop::collection::vec(50.0f64..500.0, 2),
    ) {
        let a: Vec<String> = rows.iter().map(|r| format!("a{}", r.0)).collect();
        let b: Vec<String> = rows.iter().map(|r| format!("b{}", r.1)).collect();
        // every level must be in the sample
        for l in 0..3 { prop_assume!(a.contains(&format!("a{l}"))); }
        for l in 0..2 { prop_assume!(b.contains(&format!("b{l}"))); }
        let w: Vec<f64> = rows.iter().map(|r| r.2).collect();
        // the margins must agree on the total
        let ta: f64 = pa.iter().sum();
        let tb: f64 = pb.iter().sum();
        let pb: Vec<f64> = pb.iter().map(|x| x * ta / tb).collect();
        let lf = frame(vec![
            Column::new("a".into(), a),
            Column::new("b".into(), b),
            Column::new("w".into(), w),
            Column::new("one".into(), vec![1.0; rows.len()]),
        ]);
        let cal = Calibration {
            rake: vec![
                RakeMargin { column: "a".into(), population: (0..3).map(|l| (format!("a{l}"), pa[l])).collect() },
                RakeMargin { column: "b".into(), population: (0..2).map(|l| (format!("b{l}"), pb[l])).collect() },
            ],
            epsilon: 1e-10,
            max_iter: 500,
            ..Calibration::default()
        };
        let vars = [Variable::new("one", "one", Measure::Mean)];
        let e = estimate(lf.clone(), &DesignSpec::srs(Some("w")), Some(&cal), &["a".into()], &vars);
        // a sample too sparse to rake (a zero cell) may not converge; that is reported
        let e = match e { Ok(e) => e, Err(err) => { prop_assert!(err.to_string().contains("converge")); return Ok(()); } };
        let rep = e.calibration.clone().unwrap();
        prop_assert!(rep.converged && rep.max_rel_error < 1e-8);
        for (l, &p) in pa.iter().enumerate() {
            let d = e.domain_index(&[&format!("a{l}")]).unwrap();
            prop_assert!(rel(e.cell(d, 0).total, p) < 1e-8);
        }
        let e = estimate(lf, &DesignSpec::srs(Some("w")), Some(&cal), &["b".into()], &vars).unwrap();
        for (l, &p) in pb.iter().enumerate() {
            let d = e.domain_index(&[&format!("b{l}")]).unwrap();
            prop_assert!(rel(e.cell(d, 0).total, p) < 1e-8);
        }
    }

    /// The byte-code path (small integer answers, several columns summed together) and the
    /// raw-value path give the same numbers: the same answers scaled by 1000 leave the
    /// code range, so they are summed from raw values. Zero weights, empty cells, missing
    /// codes, strata, clusters and domains included.
    #[test]
    fn code_and_raw_paths_agree(
        rows in prop::collection::vec((0u8..6, 0u32..3, 0u32..4, 0u32..3, 0.0f64..3.0, 0u8..10), 30..200)
    ) {
        let y: Vec<Option<i32>> = rows.iter().map(|r| (r.0 > 0).then_some(i32::from(r.0))).collect();
        let big: Vec<Option<f64>> = y.iter().map(|v| v.map(|x| f64::from(x) * 1000.0 + 0.5)).collect();
        let z: Vec<i32> = rows.iter().map(|r| i32::from(r.5)).collect();
        // some weights exactly zero
        let w: Vec<f64> = rows.iter().map(|r| if r.4 < 0.3 { 0.0 } else { r.4 }).collect();
        let df = frame(vec![
            Column::new("y".into(), y),
            Column::new("big".into(), big),
            Column::new("z".into(), z),
            Column::new("d".into(), rows.iter().map(|r| r.1).collect::<Vec<u32>>()),
            Column::new("s".into(), rows.iter().map(|r| r.2).collect::<Vec<u32>>()),
            Column::new("p".into(), rows.iter().map(|r| r.2 * 10 + r.3).collect::<Vec<u32>>()),
            Column::new("w".into(), w),
        ]);
        let design = DesignSpec {
            weight: Some("w".into()),
            strata: Some("s".into()),
            clusters: vec!["p".into()],
            lonely_psu: pingyi_analysis::estimate::LonelyPsu::Remove,
            ..DesignSpec::default()
        };
        let vars = vec![
            Variable::new("y", "y", Measure::Mean).with_missing(&[5.0]),
            Variable::new("big", "big", Measure::Mean).with_missing(&[5000.5]),
            Variable::new("zp", "z", Measure::Proportion(vec![7.0, 8.0])),
        ];
        let e = estimate(df, &design, None, &["d".into()], &vars).unwrap();
        for d in 0..e.domains.len() {
            let (a, b) = (e.cell(d, 0), e.cell(d, 1));
            prop_assert_eq!(a.n, b.n);
            if a.n == 0 || a.total == 0.0 {
                continue;
            }
            prop_assert!(rel(a.estimate * 1000.0 + 0.5, b.estimate) < 1e-9);
            if a.se() > 1e-9 {
                prop_assert!(rel(a.se() * 1000.0, b.se()) < 1e-7, "{} {}", a.se(), b.se());
            }
            prop_assert_eq!(a.deff.is_some(), b.deff.is_some());
            if let (Some(x), Some(y)) = (a.deff, b.deff) {
                if x.is_finite() && y.is_finite() && x > 1e-6 {
                    prop_assert!(rel(x, y) < 1e-6, "deff {} {}", x, y);
                }
            }
            prop_assert!(rel(a.n_eff, b.n_eff) < 1e-9);
        }
    }
}

/// Variables estimated without influence totals give the same estimates and SEs (code and
/// raw-value columns alike), and refuse to enter a contrast instead of giving a wrong SE.
#[test]
fn without_influence_same_numbers_and_no_contrast() {
    let n = 400;
    let s: Vec<i64> = (0..n).map(|i| i % 3).collect();
    let g: Vec<&str> = (0..n).map(|i| if i % 2 == 0 { "a" } else { "b" }).collect();
    let w: Vec<f64> = (0..n).map(|i| 1.0 + (i % 7) as f64 / 3.0).collect();
    // small integer codes (the code path) and fractional values (the raw path)
    let y: Vec<f64> = (0..n).map(|i| ((i * 7) % 5 + 1) as f64).collect();
    let z: Vec<f64> = (0..n).map(|i| (i % 11) as f64 / 3.0).collect();
    let lf = frame(vec![
        Column::new("s".into(), s),
        Column::new("g".into(), g),
        Column::new("w".into(), w),
        Column::new("y".into(), y),
        Column::new("z".into(), z),
    ]);
    let d = DesignSpec {
        weight: Some("w".into()),
        strata: Some("s".into()),
        ..DesignSpec::default()
    };
    let vars = vec![
        Variable::new("rate", "y", Measure::Proportion(vec![4.0, 5.0])),
        Variable::new("mean", "y", Measure::Mean),
        Variable::new("z", "z", Measure::Mean),
    ];
    let lean: Vec<Variable> = vars
        .iter()
        .cloned()
        .map(Variable::without_influence)
        .collect();
    let by = ["g".to_string()];
    let full = estimate(lf.clone(), &d, None, &by, &vars).unwrap();
    let thin = estimate(lf, &d, None, &by, &lean).unwrap();
    assert_eq!(full.cells.len(), thin.cells.len());
    for (a, b) in full.cells.iter().zip(&thin.cells) {
        assert_eq!(a.n, b.n);
        assert_eq!(a.estimate.to_bits(), b.estimate.to_bits());
        assert_eq!(a.variance.to_bits(), b.variance.to_bits());
        assert!(a.variance > 0.0);
    }
    // the difference between the two domains: fine with influence, an error without
    let nv = vars.len();
    let terms = [(0, 1.0), (nv, -1.0)];
    assert!(full.combination_variance(&terms).unwrap() > 0.0);
    let err = thin.combination_variance(&terms).unwrap_err().to_string();
    assert!(err.contains("without influence"), "{err}");
}
