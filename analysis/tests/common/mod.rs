//! What the R-fixture tests share: the expected values written by
//! tests/fixtures/make_fixtures.R, the fixture files and the designs they were made with.
#![allow(dead_code)]

use std::collections::HashMap;

use pingyi_analysis::estimate::{Calibration, DesignSpec, RakeMargin};
use polars::prelude::*;

pub const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");

pub fn expected() -> HashMap<(String, String, String), f64> {
    let text = std::fs::read_to_string(format!("{FIX}expected.csv")).unwrap();
    let mut m = HashMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let v: f64 = f[3].trim().parse().unwrap_or(f64::NAN);
        m.insert((f[0].to_string(), f[1].to_string(), f[2].to_string()), v);
    }
    m
}

pub fn load(name: &str) -> LazyFrame {
    LazyCsvReader::new(PlRefPath::new(format!("{FIX}{name}")))
        .with_has_header(true)
        .finish()
        .unwrap()
}

pub struct Check {
    pub exp: HashMap<(String, String, String), f64>,
    pub count: usize,
}

impl Check {
    pub fn get(&self, case: &str, group: &str, stat: &str) -> f64 {
        *self
            .exp
            .get(&(case.to_string(), group.to_string(), stat.to_string()))
            .unwrap_or_else(|| panic!("no expected value {case}/{group}/{stat}"))
    }
    pub fn close(&mut self, case: &str, group: &str, stat: &str, got: f64, tol: f64) {
        let want = self.get(case, group, stat);
        let ok = (got - want).abs() <= tol * want.abs().max(1e-300);
        assert!(ok, "{case} [{group}] {stat}: got {got:.17e}, R {want:.17e}");
        self.count += 1;
    }
    /// As `close`, where R's NA or NaN (no interval) must be NaN here too.
    pub fn close_or_nan(&mut self, case: &str, group: &str, stat: &str, got: f64, tol: f64) {
        let want = self.get(case, group, stat);
        if want.is_nan() {
            assert!(
                got.is_nan(),
                "{case} [{group}] {stat}: got {got:.17e}, R NA"
            );
            self.count += 1;
        } else {
            self.close(case, group, stat, got, tol);
        }
    }
    /// Groups (domains) R wrote for a case.
    pub fn groups(&self, case: &str) -> Vec<String> {
        let mut g: Vec<String> = self
            .exp
            .keys()
            .filter(|k| k.0 == case)
            .map(|k| k.1.clone())
            .collect();
        g.sort();
        g.dedup();
        g
    }
}

pub fn check() -> Check {
    Check {
        exp: expected(),
        count: 0,
    }
}

pub fn pop(file: &str, col: &str) -> Vec<(String, f64)> {
    let text = std::fs::read_to_string(format!("{FIX}{file}")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[0].trim_matches('"'), col);
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].trim_matches('"').to_string(), f[1].parse().unwrap())
        })
        .collect()
}

pub fn rake_cal() -> Calibration {
    Calibration {
        rake: vec![
            RakeMargin {
                column: "stype".into(),
                population: pop("pop_stype.csv", "stype"),
            },
            RakeMargin {
                column: "sch_wide".into(),
                population: pop("pop_sch_wide.csv", "sch_wide"),
            },
        ],
        epsilon: 1e-12,
        max_iter: 100,
        ..Calibration::default()
    }
}

pub fn clus1() -> DesignSpec {
    DesignSpec {
        weight: Some("pw".into()),
        clusters: vec!["dnum".into()],
        fpc: vec!["fpc".into()],
        ..DesignSpec::default()
    }
}

pub fn synth_design() -> DesignSpec {
    DesignSpec {
        weight: Some("weight".into()),
        strata: Some("stratum".into()),
        clusters: vec!["cluster".into()],
        ..DesignSpec::default()
    }
}

pub fn post_strata_cal() -> Calibration {
    Calibration {
        post_strata: Some(pingyi_analysis::estimate::PostStrata {
            columns: vec!["stype".into()],
            population: pop("pop_stype.csv", "stype")
                .into_iter()
                .map(|(k, v)| (vec![k], v))
                .collect(),
        }),
        ..Calibration::default()
    }
}

pub fn synth(year: i64) -> LazyFrame {
    load("synth.csv").filter(col("year").eq(lit(year)))
}
