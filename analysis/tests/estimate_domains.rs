//! Intervals of small domains exactly as R computes them: the cases `smalldom*`,
//! `synthdom`, `psdom_*`, `rakedom_*` and `clusdom_*` of tests/fixtures/expected.csv,
//! written by section 13 of make_fixtures.R from
//! `svyby(~I(q >= 3), ~by, subset(design, !is.na(q)), svyciprop, method = m)`.
//! Every value (estimate, SE, each domain's df and rows, both ends of every interval
//! method) must agree to 1e-9 relative; where R gives no interval (NA, NaN) neither do we.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use pingyi_analysis::estimate::{
    ci, estimate, Calibration, CiMethod, DesignSpec, Estimates, Measure, Variable,
};
use polars::prelude::LazyFrame;

use common::*;

const TOL: f64 = 1e-9;

const METHODS: [(&str, CiMethod); 7] = [
    ("logit", CiMethod::Logit),
    ("likelihood", CiMethod::Likelihood),
    ("asin", CiMethod::Asin),
    ("beta", CiMethod::Beta),
    ("mean", CiMethod::Wald),
    ("xlogit", CiMethod::Xlogit),
    ("wilson", CiMethod::Wilson),
];

fn scores() -> Measure {
    Measure::Score(vec![
        (1.0, 20.0),
        (2.0, 40.0),
        (3.0, 60.0),
        (4.0, 80.0),
        (5.0, 100.0),
    ])
}

/// Variable 0: the proportion (with what likelihood intervals need); variable 1 (when
/// `index`): the satisfaction index on 0-100 from the same answers.
fn vars(column: &str, satisfied: &[f64], index: bool) -> Vec<Variable> {
    let mut v = vec![
        Variable::new("p", column, Measure::Proportion(satisfied.to_vec()))
            .with_missing(&[9.0])
            .with_profile(),
    ];
    if index {
        v.push(Variable::new("idx", column, scores()).with_missing(&[9.0]));
    }
    v
}

/// Compare every domain of `est` with R's case; returns the number of domains.
fn domains_case(c: &mut Check, case: &str, est: &Estimates, level: f64) -> usize {
    let groups = c.groups(case);
    assert_eq!(est.domains.len(), groups.len(), "{case}: domains");
    let index = est.variables.len() > 1;
    for (d, key) in est.domains.iter().enumerate() {
        let g = key.join("|");
        let cell = est.cell(d, 0);
        c.close(case, &g, "estimate", cell.estimate, TOL);
        c.close(case, &g, "se", cell.se(), TOL);
        assert_eq!(cell.degf, c.get(case, &g, "degf"), "{case} [{g}] degf");
        assert_eq!(
            cell.design_rows as f64,
            c.get(case, &g, "nrow"),
            "{case} [{g}] nrow"
        );
        for (name, m) in METHODS {
            let (lo, hi) = est.interval(d, 0, m, level);
            c.close_or_nan(case, &g, &format!("ci_low_{name}"), lo, TOL);
            c.close_or_nan(case, &g, &format!("ci_high_{name}"), hi, TOL);
        }
        if index {
            let x = est.cell(d, 1);
            c.close(case, &g, "index", x.estimate, TOL);
            c.close(case, &g, "index_se", x.se(), TOL);
            let (lo, hi) = est.interval(d, 1, CiMethod::Mean, level);
            c.close(case, &g, "index_ci_low", lo, TOL);
            c.close(case, &g, "index_ci_high", hi, TOL);
            // the index's logit interval on 0-1, as the service shows it
            let (lo, hi) = ci::interval(
                CiMethod::Xlogit,
                x.estimate / 100.0,
                x.se() / 100.0,
                x.degf,
                level,
                x.design_rows as f64,
            );
            c.close(case, &g, "index_ci_low_xlogit", 100.0 * lo, TOL);
            c.close(case, &g, "index_ci_high_xlogit", 100.0 * hi, TOL);
        }
    }
    est.domains.len()
}

fn smalldom_design() -> DesignSpec {
    DesignSpec {
        weight: Some("weight".into()),
        strata: Some("stratum".into()),
        fpc: vec!["fpc".into()],
        ..DesignSpec::default()
    }
}

fn run(
    frame: LazyFrame,
    design: &DesignSpec,
    cal: Option<&Calibration>,
    by: &[&str],
    vars: &[Variable],
) -> Estimates {
    let by: Vec<String> = by.iter().map(|s| (*s).to_string()).collect();
    estimate(frame, design, cal, &by, vars).unwrap()
}

#[test]
fn rows_as_psus_in_small_domains_over_strata() {
    let mut c = check();
    let v = vars("q", &[3.0, 4.0, 5.0], true);
    let d = smalldom_design();
    let e = run(load("smalldom.csv"), &d, None, &["unit", "rtype"], &v);
    assert_eq!(e.degf, c.get("smalldom_design", "", "degf"));
    let n = domains_case(&mut c, "smalldom", &e, 0.95);
    assert_eq!(n, 9);
    // the leaders' df is their own: far below the design's
    let l = e.domain_index(&["u2", "leader"]).unwrap();
    assert_eq!(e.cell(l, 0).degf, 3.0);
    assert_eq!(e.degf, 270.0 - 5.0);
    domains_case(&mut c, "smalldom90", &e, 0.9);
    let e = run(load("smalldom.csv"), &d, None, &["unit"], &v);
    domains_case(&mut c, "smalldom_unit", &e, 0.95);
}

#[test]
fn clusters_in_strata_with_missing_answers() {
    let mut c = check();
    let v = vars("q1", &[4.0, 5.0], true);
    let e = run(synth(2025), &synth_design(), None, &["unit", "rtype"], &v);
    assert_eq!(domains_case(&mut c, "synthdom", &e, 0.95), 9);
}

#[test]
fn post_stratified_and_raked_domains() {
    let mut c = check();
    let v = vars("hi_na", &[1.0], false);
    let ps = post_strata_cal();
    let rk = rake_cal();
    for (case, cal, by) in [
        ("psdom_awards", Some(&ps), vec!["awards"]),
        ("psdom_stype_awards", Some(&ps), vec!["stype", "awards"]),
        ("rakedom_awards", Some(&rk), vec!["awards"]),
        ("rakedom_stype_awards", Some(&rk), vec!["stype", "awards"]),
        ("clusdom_awards", None, vec!["awards"]),
    ] {
        let e = run(load("api_clus1_na.csv"), &clus1(), cal, &by, &v);
        let n = domains_case(&mut c, case, &e, 0.95);
        // calibrated designs hand svyciprop every row; the others the domain's answers
        let rows = e.cell(0, 0).design_rows;
        if cal.is_some() {
            assert_eq!(rows as usize, e.nrow, "{case}");
        } else {
            assert!((rows as usize) < e.nrow, "{case}");
        }
        assert!(n >= 2);
    }
}

#[test]
fn likelihood_needs_a_proportion_and_the_profile() {
    // without the recorded start there is no likelihood interval, never a made-up one
    let plain =
        Variable::new("p", "q", Measure::Proportion(vec![3.0, 4.0, 5.0])).with_missing(&[9.0]);
    let e = run(
        load("smalldom.csv"),
        &smalldom_design(),
        None,
        &["unit"],
        &[plain],
    );
    let (lo, hi) = e.interval(0, 0, CiMethod::Likelihood, 0.95);
    assert!(lo.is_nan() && hi.is_nan());
    let (lo, hi) = e.interval(0, 0, CiMethod::Xlogit, 0.95);
    assert!(lo > 0.0 && hi < 1.0 && lo < hi);
    // a mean cannot have one
    let bad = Variable::new("idx", "q", scores()).with_profile();
    let err = estimate(load("smalldom.csv"), &smalldom_design(), None, &[], &[bad]).unwrap_err();
    assert!(err.to_string().contains("proportions"), "{err}");
}
