//! Agreement with R's `survey` package: the values in tests/fixtures/expected.csv were
//! produced by tests/fixtures/make_fixtures.R (survey 4.1.1). Estimates and SEs must agree
//! to 1e-9 relative, interval ends to 1e-7.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use pingyi_analysis::estimate::contrast::{
    compare_independent, compare_within, contrast, wave_changes,
};
use pingyi_analysis::estimate::{
    ci::interval, estimate, satisfaction_table, Calibration, CiMethod, Composite, DesignSpec,
    Estimates, LonelyPsu, Measure, PostStrata, TableSpec, Variable,
};
use polars::prelude::*;

use common::*;

const EST: f64 = 1e-9;
const CI: f64 = 1e-7;

fn mean(name: &str) -> Variable {
    Variable::new(name, name, Measure::Mean)
}

fn strat() -> DesignSpec {
    DesignSpec {
        weight: Some("pw".into()),
        strata: Some("stype".into()),
        fpc: vec!["fpc".into()],
        ..DesignSpec::default()
    }
}

fn clus2(fpc: bool) -> DesignSpec {
    DesignSpec {
        weight: Some("pw".into()),
        clusters: vec!["dnum".into(), "snum".into()],
        fpc: if fpc {
            vec!["fpc1".into(), "fpc2".into()]
        } else {
            vec![]
        },
        ..DesignSpec::default()
    }
}

/// estimate, se, deff (when present) and t interval of a mean
fn mean_case(c: &mut Check, case: &str, group: &str, est: &Estimates, d: usize, v: usize) {
    let cell = est.cell(d, v);
    c.close(case, group, "estimate", cell.estimate, EST);
    c.close(case, group, "se", cell.se(), EST);
    if c.exp
        .contains_key(&(case.into(), group.into(), "deff".into()))
    {
        c.close(case, group, "deff", cell.deff.unwrap(), EST);
    }
    let (lo, hi) = interval(
        CiMethod::Mean,
        cell.estimate,
        cell.se(),
        est.degf,
        0.95,
        0.0,
    );
    c.close(case, group, "ci_low", lo, CI);
    c.close(case, group, "ci_high", hi, CI);
}

fn by_case(c: &mut Check, case: &str, est: &Estimates) {
    for (d, key) in est.domains.iter().enumerate() {
        mean_case(c, case, &key.join("|"), est, d, 0);
    }
}

fn prop_case(c: &mut Check, case: &str, est: &Estimates, level: f64) {
    let cell = est.cell(0, 0);
    c.close(case, "", "se", cell.se(), EST);
    assert_eq!(est.degf, c.get(case, "", "degf"));
    assert_eq!(est.nrow as f64, c.get(case, "", "nrow"));
    for (name, m) in [
        ("logit", CiMethod::Logit),
        ("xlogit", CiMethod::Xlogit),
        ("beta", CiMethod::Beta),
        ("mean", CiMethod::Wald),
        ("asin", CiMethod::Asin),
        ("wilson", CiMethod::Wilson),
    ] {
        let (lo, hi) = interval(
            m,
            cell.estimate,
            cell.se(),
            est.degf,
            level,
            est.nrow as f64,
        );
        c.close(case, "", &format!("ci_low_{name}"), lo, CI);
        c.close(case, "", &format!("ci_high_{name}"), hi, CI);
        if name != "wilson" {
            // svyglm's fitted logit is the weighted mean up to its convergence tolerance
            let tol = if name == "logit" { 1e-7 } else { EST };
            c.close(case, "", &format!("estimate_{name}"), cell.estimate, tol);
        }
    }
}

#[test]
fn stratified_with_fpc() {
    let mut c = check();
    let e = estimate(load("api_strat.csv"), &strat(), None, &[], &[mean("api00")]).unwrap();
    mean_case(&mut c, "strat_api00", "", &e, 0, 0);
    assert_eq!(e.degf, c.get("strat_api00", "", "degf"));
    let v = Variable::new("p", "sch_wide", Measure::Proportion(vec![1.0]));
    let e = estimate(load("api_strat.csv"), &strat(), None, &[], &[v]).unwrap();
    prop_case(&mut c, "strat_prop", &e, 0.95);
    let e = estimate(
        load("api_strat.csv"),
        &strat(),
        None,
        &["awards".into()],
        &[mean("api00")],
    )
    .unwrap();
    assert_eq!(e.domains.len(), 2);
    by_case(&mut c, "strat_by_awards", &e);
    assert!(c.count > 30);
}

#[test]
fn one_stage_cluster_with_fpc() {
    let mut c = check();
    let e = estimate(load("api_clus1.csv"), &clus1(), None, &[], &[mean("api00")]).unwrap();
    mean_case(&mut c, "clus1_api00", "", &e, 0, 0);
    assert_eq!(e.degf, c.get("clus1_api00", "", "degf"));
    let v = Variable::new("p", "sch_wide", Measure::Proportion(vec![1.0]));
    let e = estimate(load("api_clus1.csv"), &clus1(), None, &[], &[v]).unwrap();
    prop_case(&mut c, "clus1_prop", &e, 0.95);
    prop_case(&mut c, "clus1_prop90", &e, 0.90);
    let e = estimate(
        load("api_clus1.csv"),
        &clus1(),
        None,
        &["stype".into()],
        &[mean("api00")],
    )
    .unwrap();
    by_case(&mut c, "clus1_by_stype", &e);
    // fpc as a sampling fraction
    let frame = load("api_clus1.csv").with_columns([(lit(15.0) / col("fpc")).alias("frac")]);
    let mut d = clus1();
    d.fpc = vec!["frac".into()];
    let e = estimate(frame, &d, None, &[], &[mean("api00")]).unwrap();
    mean_case(&mut c, "clus1_frac_api00", "", &e, 0, 0);
}

#[test]
fn two_stage_cluster() {
    let mut c = check();
    let e = estimate(
        load("api_clus2.csv"),
        &clus2(true),
        None,
        &[],
        &[mean("api00")],
    )
    .unwrap();
    mean_case(&mut c, "clus2_api00", "", &e, 0, 0);
    assert_eq!(e.degf, c.get("clus2_api00", "", "degf"));
    let e = estimate(
        load("api_clus2.csv"),
        &clus2(true),
        None,
        &["stype".into()],
        &[mean("api00")],
    )
    .unwrap();
    by_case(&mut c, "clus2_by_stype", &e);
    let e = estimate(
        load("api_clus2.csv"),
        &clus2(false),
        None,
        &[],
        &[mean("api00")],
    )
    .unwrap();
    mean_case(&mut c, "clus2wr_api00", "", &e, 0, 0);
}

#[test]
fn post_stratified() {
    let mut c = check();
    let cal = Calibration {
        post_strata: Some(PostStrata {
            columns: vec!["stype".into()],
            population: pop("pop_stype.csv", "stype")
                .into_iter()
                .map(|(k, v)| (vec![k], v))
                .collect(),
        }),
        ..Calibration::default()
    };
    let e = estimate(
        load("api_clus1.csv"),
        &clus1(),
        Some(&cal),
        &[],
        &[mean("api00")],
    )
    .unwrap();
    mean_case(&mut c, "ps_api00", "", &e, 0, 0);
    let e = estimate(
        load("api_clus1.csv"),
        &clus1(),
        Some(&cal),
        &["awards".into()],
        &[mean("api00")],
    )
    .unwrap();
    by_case(&mut c, "ps_by_awards", &e);
    let v = Variable::new("p", "sch_wide", Measure::Proportion(vec![1.0]));
    let e = estimate(load("api_clus1.csv"), &clus1(), Some(&cal), &[], &[v]).unwrap();
    mean_case(&mut c, "ps_prop", "", &e, 0, 0);
    // post-stratum totals are the population counts
    let e = estimate(
        load("api_clus1.csv"),
        &clus1(),
        Some(&cal),
        &["stype".into()],
        &[mean("api00")],
    )
    .unwrap();
    for (k, p) in pop("pop_stype.csv", "stype") {
        let d = e.domain_index(&[&k]).unwrap();
        assert!((e.cell(d, 0).total - p).abs() < 1e-9 * p);
    }
}

#[test]
fn raked() {
    let mut c = check();
    let cal = rake_cal();
    let e = estimate(
        load("api_clus1.csv"),
        &clus1(),
        Some(&cal),
        &[],
        &[mean("api00")],
    )
    .unwrap();
    mean_case(&mut c, "rake_api00", "", &e, 0, 0);
    c.close("rake_weights", "", "sum", e.cell(0, 0).total, EST);
    let report = e.calibration.clone().unwrap();
    assert!(report.converged && report.max_rel_error < 1e-9 && report.iterations > 1);
    let e = estimate(
        load("api_clus1.csv"),
        &clus1(),
        Some(&cal),
        &["awards".into()],
        &[mean("api00")],
    )
    .unwrap();
    by_case(&mut c, "rake_by_awards", &e);
    // a raked design that cannot reach its margins in 1 pass reports non-convergence
    let mut one = rake_cal();
    one.max_iter = 1;
    let err = estimate(
        load("api_clus1.csv"),
        &clus1(),
        Some(&one),
        &[],
        &[mean("api00")],
    )
    .unwrap_err();
    assert!(err.to_string().contains("did not converge"), "{err}");
}

#[test]
fn contrasts_composite_and_difference() {
    let mut c = check();
    let e = estimate(
        load("api_clus1.csv"),
        &clus1(),
        None,
        &["stype".into()],
        &[mean("api00")],
    )
    .unwrap();
    let ix = |k: &str| e.domain_index(&[k]).unwrap();
    let comp = contrast(&e, &[(ix("E"), 0.4), (ix("H"), 0.3), (ix("M"), 0.3)]).unwrap();
    c.close("contrast_composite", "", "estimate", comp.estimate, EST);
    c.close("contrast_composite", "", "se", comp.se, EST);
    let diff = contrast(&e, &[(ix("E"), 1.0), (ix("H"), -1.0)]).unwrap();
    c.close("contrast_diff", "", "estimate", diff.estimate, EST);
    c.close("contrast_diff", "", "se", diff.se, EST);
    // covariance from var(E - H) = var E + var H - 2 cov
    let ve = e.cell(ix("E"), 0).variance;
    let vh = e.cell(ix("H"), 0).variance;
    c.close("contrast_cov", "", "var_E", ve, EST);
    c.close(
        "contrast_cov",
        "",
        "cov_E_H",
        (ve + vh - diff.se * diff.se) / 2.0,
        1e-6,
    );
}

#[test]
fn skewed_proportion_near_zero() {
    let mut c = check();
    let d = DesignSpec {
        weight: Some("w".into()),
        strata: Some("strat".into()),
        clusters: vec!["psu".into()],
        ..DesignSpec::default()
    };
    let v = Variable::new("y", "y", Measure::Proportion(vec![1.0]));
    let e = estimate(load("skewed.csv"), &d, None, &[], &[v]).unwrap();
    prop_case(&mut c, "skewed_prop", &e, 0.95);
    let cell = e.cell(0, 0);
    let (wald_lo, _) = interval(CiMethod::Wald, cell.estimate, cell.se(), e.degf, 0.95, 0.0);
    let (x_lo, _) = interval(
        CiMethod::Xlogit,
        cell.estimate,
        cell.se(),
        e.degf,
        0.95,
        0.0,
    );
    assert!(wald_lo < 0.0 && x_lo > 0.0);
}

fn synth_vars() -> Vec<Variable> {
    vec![
        Variable::new("sat", "q1", Measure::Proportion(vec![4.0, 5.0])).with_missing(&[9.0]),
        Variable::new(
            "idx",
            "q1",
            Measure::Score(vec![
                (1.0, 20.0),
                (2.0, 40.0),
                (3.0, 60.0),
                (4.0, 80.0),
                (5.0, 100.0),
            ]),
        )
        .with_missing(&[9.0]),
    ]
}

#[test]
fn synthetic_survey_domains() {
    let mut c = check();
    let by = vec!["unit".to_string(), "rtype".to_string()];
    let e = estimate(synth(2025), &synth_design(), None, &by, &synth_vars()).unwrap();
    assert_eq!(e.degf, c.get("synth_design", "", "degf"));
    assert_eq!(e.domains.len(), 9);
    for (d, key) in e.domains.iter().enumerate() {
        let g = key.join("|");
        mean_case(&mut c, "synth_rate", &g, &e, d, 0);
        mean_case(&mut c, "synth_index", &g, &e, d, 1);
        let cell = e.cell(d, 0);
        assert_eq!(cell.n as f64, c.get("synth_neff", &g, "n"));
        c.close("synth_neff", &g, "n_eff", cell.n_eff, EST);
        c.close("synth_neff", &g, "total", cell.total, EST);
        for (name, m) in [
            ("xlogit", CiMethod::Xlogit),
            ("mean", CiMethod::Wald),
            ("logit", CiMethod::Logit),
            ("asin", CiMethod::Asin),
        ] {
            let (lo, hi) = interval(m, cell.estimate, cell.se(), e.degf, 0.95, cell.rows as f64);
            c.close("synth_ci", &g, &format!("ci_low_{name}"), lo, CI);
            c.close("synth_ci", &g, &format!("ci_high_{name}"), hi, CI);
        }
    }
}

#[test]
fn synthetic_composite_and_comparisons() {
    let mut c = check();
    let by = vec!["rtype".to_string(), "unit".to_string()];
    let e = estimate(synth(2025), &synth_design(), None, &by, &synth_vars()).unwrap();
    let nv = e.variables.len();
    for u in ["u1", "u2", "u3"] {
        let l = e.domain_index(&["leader", u]).unwrap();
        let s = e.domain_index(&["staff", u]).unwrap();
        let comp = contrast(&e, &[(l * nv + 1, 0.4), (s * nv + 1, 0.6)]).unwrap();
        c.close("synth_composite", u, "estimate", comp.estimate, EST);
        c.close("synth_composite", u, "se", comp.se, EST);
    }
    // units compared in one wave, covariance-aware
    let e = estimate(
        synth(2025),
        &synth_design(),
        None,
        &["unit".to_string()],
        &synth_vars(),
    )
    .unwrap();
    let (a, b) = (
        e.domain_index(&["u1"]).unwrap(),
        e.domain_index(&["u2"]).unwrap(),
    );
    let cmp = compare_within(&e, a * nv, b * nv, 0.05).unwrap();
    c.close("synth_unit_diff", "u1-u2", "estimate", cmp.difference, EST);
    c.close("synth_unit_diff", "u1-u2", "se", cmp.se, EST);
    c.close("synth_unit_diff", "u1-u2", "p", cmp.p_value, 1e-7);
    // years as independent samples
    let e24 = estimate(synth(2024), &synth_design(), None, &[], &synth_vars()).unwrap();
    let e25 = estimate(synth(2025), &synth_design(), None, &[], &synth_vars()).unwrap();
    let (x, y) = (e25.cell(0, 0), e24.cell(0, 0));
    let cmp = compare_independent(
        (x.estimate, x.se(), e25.degf),
        (y.estimate, y.se(), e24.degf),
        0.05,
    );
    c.close(
        "synth_year_diff",
        "2025-2024",
        "estimate",
        cmp.difference,
        EST,
    );
    c.close("synth_year_diff", "2025-2024", "se", cmp.se, EST);
    c.close("synth_year_diff", "2025-2024", "t", cmp.t, EST);
    assert_eq!(cmp.df, c.get("synth_year_diff", "2025-2024", "df"));
    c.close("synth_year_diff", "2025-2024", "p", cmp.p_value, 1e-7);
    assert_eq!(cmp.significant, cmp.p_value < 0.05);
    // the same comparison along a series, with a missing wave breaking the chain
    let (p24, p25) = (
        Some((y.estimate, y.se(), e24.degf)),
        Some((x.estimate, x.se(), e25.degf)),
    );
    let changes = wave_changes(&[p24, p25, None, p25], 0.05);
    assert_eq!(changes.len(), 4);
    assert_eq!(changes[0], None);
    assert_eq!(changes[1].as_ref(), Some(&cmp));
    assert_eq!(changes[2], None);
    assert_eq!(changes[3], None);
}

#[test]
fn satisfaction_table_matches_domains() {
    let mut c = check();
    let spec = TableSpec {
        by: vec!["unit".into(), "rtype".into()],
        items: vec!["q1".into()],
        satisfied: vec![4.0, 5.0],
        design: synth_design(),
        min_cell: 5,
        composite: Some(Composite {
            column: "rtype".into(),
            weights: vec![("leader".into(), 0.4), ("staff".into(), 0.6)],
            label: "composite".into(),
        }),
        ..TableSpec::default()
    };
    let t = satisfaction_table(synth(2025), &spec).unwrap();
    assert_eq!(t.height(), 9 + 3);
    let unit = t.column("unit").unwrap().str().unwrap().clone();
    let rtype = t.column("rtype").unwrap().str().unwrap().clone();
    let rate = t.column("rate").unwrap().f64().unwrap().clone();
    let rate_se = t.column("rate_se").unwrap().f64().unwrap().clone();
    let index = t.column("index").unwrap().f64().unwrap().clone();
    let index_se = t.column("index_se").unwrap().f64().unwrap().clone();
    let supp = t.column("suppressed").unwrap().bool().unwrap().clone();
    for i in 0..t.height() {
        let (u, r) = (unit.get(i).unwrap(), rtype.get(i).unwrap());
        assert!(!supp.get(i).unwrap());
        if r == "composite" {
            c.close("synth_composite", u, "estimate", index.get(i).unwrap(), EST);
            c.close("synth_composite", u, "se", index_se.get(i).unwrap(), EST);
        } else {
            let g = format!("{u}|{r}");
            c.close("synth_rate", &g, "estimate", rate.get(i).unwrap(), EST);
            c.close("synth_rate", &g, "se", rate_se.get(i).unwrap(), EST);
            c.close("synth_index", &g, "estimate", index.get(i).unwrap(), EST);
        }
    }
}

#[test]
fn lonely_psu_rules() {
    let mut c = check();
    for (name, rule) in [
        ("remove", LonelyPsu::Remove),
        ("adjust", LonelyPsu::Adjust),
        ("average", LonelyPsu::Average),
        ("certainty", LonelyPsu::Certainty),
    ] {
        let d = DesignSpec {
            weight: Some("pw".into()),
            strata: Some("stype".into()),
            clusters: vec!["snum".into()],
            lonely_psu: rule,
            ..DesignSpec::default()
        };
        let e = estimate(load("lonely.csv"), &d, None, &[], &[mean("api00")]).unwrap();
        c.close(
            &format!("lonely_{name}"),
            "",
            "estimate",
            e.cell(0, 0).estimate,
            EST,
        );
        c.close(&format!("lonely_{name}"), "", "se", e.cell(0, 0).se(), EST);
    }
    let d = DesignSpec {
        weight: Some("pw".into()),
        strata: Some("stype".into()),
        clusters: vec!["snum".into()],
        ..DesignSpec::default()
    };
    let err = estimate(load("lonely.csv"), &d, None, &[], &[mean("api00")]).unwrap_err();
    assert!(
        err.to_string().contains("stratum `H` has only one PSU"),
        "{err}"
    );
}

#[test]
fn net_promoter_score() {
    let mut c = check();
    let design = DesignSpec {
        weight: Some("weight".into()),
        strata: Some("stratum".into()),
        clusters: vec!["cluster".into()],
        ..DesignSpec::default()
    };
    let v = Variable::new("nps", "rating", Measure::Nps);
    let e = estimate(
        load("nps.csv"),
        &design,
        None,
        &[],
        std::slice::from_ref(&v),
    )
    .unwrap();
    assert_eq!(e.degf, c.get("nps_all", "", "degf"));
    mean_case(&mut c, "nps_all", "", &e, 0, 0);
    let e = estimate(load("nps.csv"), &design, None, &["unit".into()], &[v]).unwrap();
    assert_eq!(e.domains.len(), 3);
    by_case(&mut c, "nps_by_unit", &e);
    // NPS is promoters' share minus detractors' share of the same valid answers
    let parts = [
        Variable::new("pro", "rating", Measure::Proportion(vec![9.0, 10.0])),
        Variable::new(
            "det",
            "rating",
            Measure::Proportion((0..=6).map(f64::from).collect()),
        ),
    ];
    let p = estimate(load("nps.csv"), &design, None, &["unit".into()], &parts).unwrap();
    for d in 0..3 {
        let want = p.cell(d, 0).estimate - p.cell(d, 1).estimate;
        assert!((e.cell(d, 0).estimate - want).abs() < 1e-12);
        assert_eq!(e.cell(d, 0).n, p.cell(d, 0).n);
    }
    assert_eq!(c.count, 5 + 3 * 5);
}

#[test]
fn trimmed_weights() {
    let mut c = check();
    // plain stratified design, weights capped at 40 (R: trimWeights(dstrat, upper = 40))
    let trim_only = Calibration {
        trim: Some((f64::NEG_INFINITY, 40.0)),
        ..Calibration::default()
    };
    let e = estimate(
        load("api_strat.csv"),
        &strat(),
        Some(&trim_only),
        &[],
        &[mean("api00")],
    )
    .unwrap();
    mean_case(&mut c, "trim_strat_api00", "", &e, 0, 0);
    let e = estimate(
        load("api_strat.csv"),
        &strat(),
        Some(&trim_only),
        &["awards".into()],
        &[mean("api00")],
    )
    .unwrap();
    by_case(&mut c, "trim_strat_by_awards", &e);
    // post-stratified, then trimmed to [32, 45]
    let cal = Calibration {
        post_strata: Some(PostStrata {
            columns: vec!["stype".into()],
            population: pop("pop_stype.csv", "stype")
                .into_iter()
                .map(|(k, v)| (vec![k], v))
                .collect(),
        }),
        trim: Some((32.0, 45.0)),
        ..Calibration::default()
    };
    let e = estimate(
        load("api_clus1.csv"),
        &clus1(),
        Some(&cal),
        &[],
        &[mean("api00")],
    )
    .unwrap();
    mean_case(&mut c, "trim_ps_api00", "", &e, 0, 0);
    c.close("trim_ps_weights", "", "sum", e.cell(0, 0).total, EST);
    let e = estimate(
        load("api_clus1.csv"),
        &clus1(),
        Some(&cal),
        &["awards".into()],
        &[mean("api00")],
    )
    .unwrap();
    by_case(&mut c, "trim_ps_by_awards", &e);
    assert_eq!(c.count, 4 + 2 * 4 + 4 + 1 + 2 * 4);
}

#[test]
fn korn_graubard_by_domain_uses_each_domains_df() {
    let mut c = check();
    let by = vec!["unit".to_string(), "rtype".to_string()];
    let e = estimate(synth(2025), &synth_design(), None, &by, &synth_vars()).unwrap();
    let mut own_df = false;
    for (d, key) in e.domains.iter().enumerate() {
        let g = key.join("|");
        let cell = e.cell(d, 0);
        assert_eq!(cell.degf, c.get("synth_beta", &g, "degf"), "{g}");
        assert_eq!(
            cell.design_rows as f64,
            c.get("synth_beta", &g, "nrow"),
            "{g}"
        );
        own_df |= cell.degf != e.degf;
        let (lo, hi) = e.interval(d, 0, CiMethod::Beta, 0.95);
        c.close("synth_beta", &g, "ci_low", lo, CI);
        c.close("synth_beta", &g, "ci_high", hi, CI);
    }
    assert!(
        own_df,
        "the fixture has a domain whose df differs from the design's"
    );
    // one-stage cluster design with fpc, by school type
    let v = Variable::new("p", "sch_wide", Measure::Proportion(vec![1.0]));
    let e = estimate(
        load("api_clus1.csv"),
        &clus1(),
        None,
        &["stype".into()],
        &[v],
    )
    .unwrap();
    for (d, key) in e.domains.iter().enumerate() {
        let g = &key[0];
        assert_eq!(e.cell(d, 0).degf, c.get("clus1_beta", g, "degf"), "{g}");
        let (lo, hi) = e.interval(d, 0, CiMethod::Beta, 0.95);
        c.close("clus1_beta", g, "ci_low", lo, CI);
        c.close("clus1_beta", g, "ci_high", hi, CI);
    }
    assert_eq!(c.count, 9 * 2 + 3 * 2);
}
