//! High-level tables for the service and the CLI.

use polars::prelude::*;

use super::ci::CiMethod;
use super::contrast::contrast;
use super::disclosure::{suppress, unreliable};
use super::engine::{estimate, Estimates, Measure, Variable, SEP};
use super::{AnalysisError, Calibration, DesignSpec};

/// A composite across the values of one grouping column with fixed weights, e.g. the
/// evaluation rules' 领导班子 40% / 中层以下 60% (`column = "respondent_type"`,
/// `weights = [("leader", 0.4), ("staff", 0.6)]`) or the five-in-one weights.
/// Its variance includes the covariances between the parts (a linear contrast).
#[derive(Debug, Clone)]
pub struct Composite {
    pub column: String,
    pub weights: Vec<(String, f64)>,
    /// label written in `column` for the composite rows
    pub label: String,
}

/// What [`satisfaction_table`] computes.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// grouping columns, e.g. `["unit", "respondent_type"]` (add the wave to split by it)
    pub by: Vec<String>,
    /// likert item columns (numeric codes)
    pub items: Vec<String>,
    /// codes counted as satisfied (default 很满意, 满意, 基本满意 = 5, 4, 3)
    pub satisfied: Vec<f64>,
    /// code → score on 0–100 for the satisfaction index (default 5→100 … 1→20)
    pub scores: Vec<(f64, f64)>,
    /// codes that are not answers (e.g. 9 = 不了解 / don't know)
    pub missing_codes: Vec<f64>,
    pub design: DesignSpec,
    pub calibration: Option<Calibration>,
    pub ci: CiMethod,
    pub level: f64,
    /// cells with fewer valid answers are suppressed (with a complementary cell)
    pub min_cell: u64,
    pub composite: Option<Composite>,
}

impl Default for TableSpec {
    fn default() -> Self {
        Self {
            by: Vec::new(),
            items: Vec::new(),
            satisfied: vec![3.0, 4.0, 5.0],
            scores: vec![
                (5.0, 100.0),
                (4.0, 80.0),
                (3.0, 60.0),
                (2.0, 40.0),
                (1.0, 20.0),
            ],
            missing_codes: vec![9.0],
            design: DesignSpec::default(),
            calibration: None,
            ci: CiMethod::Xlogit,
            level: 0.95,
            min_cell: 5,
            composite: None,
        }
    }
}

struct Row {
    keys: Vec<String>,
    item: String,
    n: u64,
    total: f64,
    n_eff: f64,
    rate: [f64; 5],  // estimate, se, lo, hi, deff
    index: [f64; 5], // estimate, se, lo, hi, deff
    group: String,
}

/// The satisfaction table: one row per group × item with the satisfaction rate (share of
/// valid answers in `satisfied`) and index (mean score), each with SE, interval and deff,
/// plus n, weighted total, Kish n_eff, `suppressed` and `unreliable`.
///
/// `frame` holds one row per response: the `by` columns, the design columns and one column
/// per item. Composite rows (if asked) follow with the composite label in the composite
/// column; their n is the sum of the parts' n, n_eff and deff are empty.
///
/// Columns: by…, `item`, `n`, `total`, `rate`, `rate_se`, `rate_ci_low`, `rate_ci_high`,
/// `rate_deff`, `index`, `index_se`, `index_ci_low`, `index_ci_high`, `index_deff`,
/// `n_eff`, `suppressed`, `unreliable`. Estimate columns are null when suppressed.
pub fn satisfaction_table(frame: LazyFrame, spec: &TableSpec) -> Result<DataFrame, AnalysisError> {
    let mut vars = Vec::new();
    for item in &spec.items {
        vars.push(
            Variable::new(
                &format!("{item}:rate"),
                item,
                Measure::Proportion(spec.satisfied.clone()),
            )
            .with_missing(&spec.missing_codes),
        );
        vars.push(
            Variable::new(
                &format!("{item}:index"),
                item,
                Measure::Score(spec.scores.clone()),
            )
            .with_missing(&spec.missing_codes),
        );
    }
    let est = estimate(
        frame,
        &spec.design,
        spec.calibration.as_ref(),
        &spec.by,
        &vars,
    )?;
    let mut rows: Vec<Row> = Vec::new();
    let comp_pos = spec
        .composite
        .as_ref()
        .and_then(|c| spec.by.iter().position(|b| *b == c.column));
    for (d, keys) in est.domains.iter().enumerate() {
        for (k, item) in spec.items.iter().enumerate() {
            let r = est.cell(d, 2 * k);
            let x = est.cell(d, 2 * k + 1);
            let (rl, rh) = est.interval(d, 2 * k, spec.ci, spec.level);
            let (il, ih) = est.interval(d, 2 * k + 1, CiMethod::Mean, spec.level);
            let group = group_key(keys, comp_pos, item);
            rows.push(Row {
                keys: keys.clone(),
                item: item.clone(),
                n: r.n,
                total: r.total,
                n_eff: r.n_eff,
                rate: [r.estimate, r.se(), rl, rh, r.deff.unwrap_or(f64::NAN)],
                index: [x.estimate, x.se(), il, ih, x.deff.unwrap_or(f64::NAN)],
                group,
            });
        }
    }
    if let (Some(c), Some(pos)) = (&spec.composite, comp_pos) {
        rows.extend(composite_rows(&est, spec, c, pos)?);
    }
    // suppression groups: same keys except the last `by` column (or the composite column)
    let mut gix = std::collections::HashMap::new();
    let group: Vec<usize> = rows
        .iter()
        .map(|r| {
            let n = gix.len();
            *gix.entry(r.group.clone()).or_insert(n)
        })
        .collect();
    let ns: Vec<u64> = rows.iter().map(|r| r.n).collect();
    let hidden = suppress(&ns, &group, spec.min_cell);
    build_frame(&spec.by, &rows, &hidden)
}

fn group_key(keys: &[String], comp_pos: Option<usize>, item: &str) -> String {
    // cells that share a margin: all keys but the composite column (or the last one)
    let drop = comp_pos.unwrap_or(keys.len().saturating_sub(1));
    let mut parts: Vec<&str> = keys
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != drop)
        .map(|(_, k)| k.as_str())
        .collect();
    parts.push(item);
    parts.join(&SEP.to_string())
}

fn composite_rows(
    est: &Estimates,
    spec: &TableSpec,
    c: &Composite,
    pos: usize,
) -> Result<Vec<Row>, AnalysisError> {
    let mut out = Vec::new();
    // groups: the domains with the composite column removed
    let mut seen: Vec<Vec<String>> = Vec::new();
    let mut seen_ix: std::collections::HashSet<Vec<String>> = std::collections::HashSet::new();
    let index: std::collections::HashMap<&[String], usize> = est
        .domains
        .iter()
        .enumerate()
        .map(|(d, k)| (k.as_slice(), d))
        .collect();
    for keys in &est.domains {
        let mut g = keys.clone();
        g[pos] = c.label.clone();
        if seen_ix.insert(g.clone()) {
            seen.push(g);
        }
    }
    for g in seen {
        for (k, item) in spec.items.iter().enumerate() {
            let mut terms_r = Vec::new();
            let mut terms_i = Vec::new();
            let mut n = 0;
            let mut total = 0.0;
            let mut complete = true;
            for (value, w) in &c.weights {
                let mut key = g.clone();
                key[pos] = value.clone();
                match index.get(key.as_slice()).copied() {
                    Some(d) if est.cell(d, 2 * k).n > 0 => {
                        let nv = est.variables.len();
                        terms_r.push((d * nv + 2 * k, *w));
                        terms_i.push((d * nv + 2 * k + 1, *w));
                        n += est.cell(d, 2 * k).n;
                        total += est.cell(d, 2 * k).total;
                    }
                    _ => complete = false,
                }
            }
            let nan5 = [f64::NAN; 5];
            let (rate, index) = if complete {
                let r = contrast(est, &terms_r)?;
                let x = contrast(est, &terms_i)?;
                let (rl, rh) = r.ci(spec.level);
                let (il, ih) = x.ci(spec.level);
                (
                    [r.estimate, r.se, rl, rh, f64::NAN],
                    [x.estimate, x.se, il, ih, f64::NAN],
                )
            } else {
                (nan5, nan5)
            };
            let group = g
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join("\u{1e}")
                + item;
            out.push(Row {
                keys: g.clone(),
                item: item.clone(),
                n,
                total,
                n_eff: f64::NAN,
                rate,
                index,
                group,
            });
        }
    }
    Ok(out)
}

fn opt(v: f64, hidden: bool) -> Option<f64> {
    (!hidden && v.is_finite()).then_some(v)
}

fn build_frame(by: &[String], rows: &[Row], hidden: &[bool]) -> Result<DataFrame, AnalysisError> {
    let mut cols: Vec<Column> = Vec::new();
    for (k, b) in by.iter().enumerate() {
        let v: Vec<&str> = rows.iter().map(|r| r.keys[k].as_str()).collect();
        cols.push(Column::new(b.as_str().into(), v));
    }
    let item: Vec<&str> = rows.iter().map(|r| r.item.as_str()).collect();
    cols.push(Column::new("item".into(), item));
    cols.push(Column::new(
        "n".into(),
        rows.iter().map(|r| r.n).collect::<Vec<u64>>(),
    ));
    let total: Vec<Option<f64>> = rows
        .iter()
        .zip(hidden)
        .map(|(r, &h)| opt(r.total, h))
        .collect();
    cols.push(Column::new("total".into(), total));
    let names = ["", "_se", "_ci_low", "_ci_high", "_deff"];
    for (prefix, pick) in [("rate", 0usize), ("index", 1)] {
        for (j, suffix) in names.iter().enumerate() {
            let v: Vec<Option<f64>> = rows
                .iter()
                .zip(hidden)
                .map(|(r, &h)| opt(if pick == 0 { r.rate[j] } else { r.index[j] }, h))
                .collect();
            cols.push(Column::new(format!("{prefix}{suffix}").as_str().into(), v));
        }
    }
    let n_eff: Vec<Option<f64>> = rows
        .iter()
        .zip(hidden)
        .map(|(r, &h)| opt(r.n_eff, h))
        .collect();
    cols.push(Column::new("n_eff".into(), n_eff));
    cols.push(Column::new("suppressed".into(), hidden.to_vec()));
    let flags: Vec<bool> = rows
        .iter()
        .map(|r| {
            let ne = if r.n_eff.is_nan() {
                f64::INFINITY
            } else {
                r.n_eff
            };
            unreliable(ne, r.rate[0], (r.rate[2], r.rate[3]), true)
        })
        .collect();
    cols.push(Column::new("unreliable".into(), flags));
    Ok(DataFrame::new_infer_height(cols)?)
}

/// One variable's domain estimates as the CLI prints them: the `by` columns, then `n`,
/// `estimate`, `se`, `ci_low`, `ci_high`, `deff`, `n_eff`, `suppressed` (estimate columns
/// null when suppressed). Proportions use `method`; means the t interval; each domain with
/// its own df (`degf(design[domain, ])`, as `svyby(..., svyciprop)`).
///
/// `scale`: the variable is a mean on 0–scale (e.g. an index on 0–100) whose interval is
/// `method` applied to it as a proportion of `scale` ([`Estimates::interval_on_scale`]).
pub fn domain_table(
    est: &Estimates,
    variable: usize,
    method: CiMethod,
    level: f64,
    min_cell: u64,
    scale: Option<f64>,
) -> Result<DataFrame, AnalysisError> {
    let nd = est.domains.len();
    let cells: Vec<_> = (0..nd).map(|d| est.cell(d, variable)).collect();
    let ns: Vec<u64> = cells.iter().map(|c| c.n).collect();
    let group: Vec<usize> = {
        let mut gix = std::collections::HashMap::new();
        est.domains
            .iter()
            .map(|k| {
                let key = k[..k.len().saturating_sub(1)].join(&SEP.to_string());
                let n = gix.len();
                *gix.entry(key).or_insert(n)
            })
            .collect()
    };
    let hidden = if est.by.is_empty() {
        ns.iter().map(|&n| n < min_cell).collect()
    } else {
        suppress(&ns, &group, min_cell)
    };
    let mut cols: Vec<Column> = Vec::new();
    for (k, b) in est.by.iter().enumerate() {
        let v: Vec<&str> = est.domains.iter().map(|d| d[k].as_str()).collect();
        cols.push(Column::new(b.as_str().into(), v));
    }
    cols.push(Column::new("n".into(), ns.clone()));
    let mut e = Vec::new();
    let mut se = Vec::new();
    let mut lo = Vec::new();
    let mut hi = Vec::new();
    let mut deff = Vec::new();
    let mut neff = Vec::new();
    for (d, (c, &h)) in cells.iter().zip(&hidden).enumerate() {
        let (l, u) = match scale {
            Some(top) => est.interval_on_scale(d, variable, method, level, top),
            None => est.interval(d, variable, method, level),
        };
        e.push(opt(c.estimate, h));
        se.push(opt(c.se(), h));
        lo.push(opt(l, h));
        hi.push(opt(u, h));
        deff.push(c.deff.and_then(|d| opt(d, h)));
        neff.push(opt(c.n_eff, h));
    }
    for (name, v) in [
        ("estimate", e),
        ("se", se),
        ("ci_low", lo),
        ("ci_high", hi),
        ("deff", deff),
        ("n_eff", neff),
    ] {
        cols.push(Column::new(name.into(), v));
    }
    cols.push(Column::new("suppressed".into(), hidden));
    Ok(DataFrame::new_infer_height(cols)?)
}
