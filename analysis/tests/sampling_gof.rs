//! Chi-square goodness of fit over many seeded draws: each unit is drawn with
//! its stated inclusion probability.
//!
//! For unit i over R independent draws (seeds "gof-0" … "gof-{R−1}"), the
//! count c_i of draws containing it is Binomial(R, π_i). The two-cell
//! (drawn / not drawn) Pearson statistic
//!   X_i = (c_i − Rπ_i)²/(Rπ_i) + (c_i − Rπ_i)²/(R(1 − π_i)) = (c_i − Rπ_i)²/(Rπ_i(1 − π_i))
//! is χ² with 1 degree of freedom. Every unit must pass at a Bonferroni level
//! of 0.001/N. Certainty units must be drawn every time. A control run against
//! deliberately wrong probabilities checks that the test has power. The seeds
//! are fixed, so the outcome is deterministic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use pingyi_analysis::sampling::{draw, Allocation, DrawOptions, SizeSpec};
use statrs::distribution::{ChiSquared, ContinuousCDF};

const DRAWS: usize = 4000;

/// 14 units in two strata; sizes range widely, one unit is a certainty unit for PPS.
const FRAME: &[u8] = b"id,stratum,size\n\
a1,A,10\na2,A,20\na3,A,30\na4,A,40\na5,A,400\na6,A,15\n\
b1,B,5\nb2,B,5\nb3,B,50\nb4,B,25\nb5,B,10\nb6,B,80\nb7,B,35\nb8,B,60\n";

/// Draws DRAWS times; returns (id → times drawn, id → stated π, the π of every
/// frame unit as the design defines it).
fn run(o: &DrawOptions) -> (BTreeMap<String, u64>, BTreeMap<String, f64>) {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut stated: BTreeMap<String, f64> = BTreeMap::new();
    for r in 0..DRAWS {
        let d = draw(FRAME, o, &format!("gof-{r}")).unwrap();
        let mut rdr = csv::Reader::from_reader(&d.output[..]);
        for rec in rdr.records() {
            let rec = rec.unwrap();
            *counts.entry(rec[0].to_owned()).or_default() += 1;
            let pi: f64 = rec[5].parse().unwrap(); // inclusion_probability
            let prev = stated.insert(rec[0].to_owned(), pi);
            assert!(
                prev.is_none_or(|p| p == pi),
                "π of {} changes between draws",
                &rec[0]
            );
        }
    }
    (counts, stated)
}

/// Smallest p-value over units of the 1-df test against `pi`.
fn min_p_value(counts: &BTreeMap<String, u64>, pi: &BTreeMap<String, f64>) -> f64 {
    let chi1 = ChiSquared::new(1.0).unwrap();
    let r = DRAWS as f64;
    let mut min_p: f64 = 1.0;
    for (id, &p) in pi {
        let c = counts.get(id).copied().unwrap_or(0) as f64;
        if p >= 1.0 {
            assert_eq!(c, r, "certainty unit {id} must be drawn every time");
            continue;
        }
        let x = (c - r * p).powi(2) / (r * p * (1.0 - p));
        min_p = min_p.min(1.0 - chi1.cdf(x));
    }
    min_p
}

fn options(pps: bool) -> DrawOptions {
    DrawOptions {
        id_column: "id".into(),
        strata_column: Some("stratum".into()),
        size: Some(SizeSpec::Total(6)),
        allocation: Allocation::Proportional,
        sd_column: None,
        min_per_stratum: 0,
        pps_size_column: pps.then(|| "size".into()),
    }
}

#[test]
fn srs_draws_each_unit_with_its_inclusion_probability() {
    let (counts, stated) = run(&options(false));
    // Proportional: 6·6/14 = 2.571, 6·8/14 = 3.429 → floors 2 + 3; the one left goes
    // to the larger fraction, A (.571 > .429) → A 3, B 3; π = 3/6 and 3/8.
    let mut pi = BTreeMap::new();
    for line in std::str::from_utf8(FRAME).unwrap().lines().skip(1) {
        let id = line.split(',').next().unwrap().to_owned();
        pi.insert(
            id.clone(),
            if id.starts_with('a') {
                3.0 / 6.0
            } else {
                3.0 / 8.0
            },
        );
    }
    assert_eq!(pi.len(), 14);
    for (id, p) in &stated {
        assert!(
            (p - pi[id]).abs() < 1e-15,
            "{id}: stated {p}, formula {}",
            pi[id]
        );
    }
    let p = min_p_value(&counts, &pi);
    assert!(p > 0.001 / 14.0, "some unit deviates: min p = {p}");
    // Power: pretending everyone had π = 6/14 must be rejected.
    let wrong: BTreeMap<String, f64> = pi.keys().map(|k| (k.clone(), 6.0 / 14.0)).collect();
    assert!(min_p_value(&counts, &wrong) < 1e-6);
}

#[test]
fn pps_draws_each_unit_with_its_inclusion_probability() {
    let (counts, stated) = run(&options(true));
    // Stratum A (n = 3, sizes 10,20,30,40,400,15; T = 515): 3·400 ≥ 515 → a5 certain;
    // then n' = 2, T = 115: π = 2x/115. Stratum B (n = 3, T = 270): 3·80 < 270, so
    // π = 3x/270.
    let mut pi = BTreeMap::new();
    for line in std::str::from_utf8(FRAME).unwrap().lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let x: f64 = f[2].parse().unwrap();
        let p = match (f[1], f[0]) {
            ("A", "a5") => 1.0,
            ("A", _) => 2.0 * x / 115.0,
            _ => 3.0 * x / 270.0,
        };
        pi.insert(f[0].to_owned(), p);
    }
    assert!((pi.values().sum::<f64>() - 6.0).abs() < 1e-12, "Σπ = n");
    for (id, p) in &stated {
        assert!(
            (p - pi[id]).abs() < 1e-12,
            "{id}: stated {p}, formula {}",
            pi[id]
        );
    }
    // Every unit with π > 0 must have been seen, so every π was checked above.
    assert_eq!(stated.len(), 14);
    let p = min_p_value(&counts, &pi);
    assert!(p > 0.001 / 14.0, "some unit deviates: min p = {p}");
    // Power: equal probabilities within strata (SRS) must be rejected.
    let wrong: BTreeMap<String, f64> = pi
        .keys()
        .map(|k| (k.clone(), if k.starts_with('a') { 0.5 } else { 0.375 }))
        .collect();
    assert!(min_p_value(&counts, &wrong) < 1e-6);
}
