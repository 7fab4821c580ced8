//! The estimation core: ratio means for every domain × variable with Taylor-linearised
//! variance, from a single `group_by` over (domain, stratum, PSU[, SSU][, calibration cell]).
//!
//! For a domain d and variable v the estimate is r = Σ w·y / Σ w·x (x: the row is in d and
//! has a valid answer; y: the value, 0 when not valid). Its influence is
//! z_i = w_i (y_i − r x_i) / Σ w·x, zero outside the domain, so the design keeps every
//! stratum and PSU (R: `svyby(..., svymean, na.rm = TRUE)`). The variance needs only the
//! sums of z per leaf cluster, which come out of the aggregation.

use std::collections::HashMap;
use std::sync::Arc;

use polars::prelude::*;

use super::calibrate::{self, Calibration, CalibrationReport, Cells};
use super::ci::{self, CiMethod};
use super::design::{DesignSpec, Leaf, Psu, Stratum, Structure};
use super::sums;
use super::AnalysisError;

/// How a variable's values become the quantity estimated.
#[derive(Debug, Clone, PartialEq)]
pub enum Measure {
    /// Weighted mean of the value.
    Mean,
    /// Weighted share of valid answers whose value is one of these codes.
    Proportion(Vec<f64>),
    /// Weighted mean of a score looked up from the code (code, score); other codes are
    /// missing.
    Score(Vec<(f64, f64)>),
    /// Net promoter score on 0–10: share 9–10 minus share 0–6 (a mean of +1/0/−1).
    Nps,
}

/// One estimated quantity: a column, how to measure it and which codes are missing
/// (e.g. 9 = "don't know"). Empty cells are always missing.
#[derive(Debug, Clone)]
pub struct Variable {
    /// name used in the output
    pub name: String,
    pub column: String,
    pub measure: Measure,
    pub missing_codes: Vec<f64>,
}

impl Variable {
    pub fn new(name: &str, column: &str, measure: Measure) -> Self {
        Self {
            name: name.to_string(),
            column: column.to_string(),
            measure,
            missing_codes: Vec::new(),
        }
    }
    pub fn with_missing(mut self, codes: &[f64]) -> Self {
        self.missing_codes = codes.to_vec();
        self
    }
}

/// One domain × variable estimate.
#[derive(Debug, Clone)]
pub struct Cell {
    /// valid answers in the domain
    pub n: u64,
    /// rows in the domain (any answer)
    pub rows: u64,
    /// rows of the design R hands to `svyciprop` for this domain (`nrow(design[domain, ])`):
    /// the domain's rows, or every row for calibrated designs (their subsets keep all rows)
    pub design_rows: u64,
    /// the domain's own design df, `degf(design[domain, ])`: PSUs with a nonzero weight
    /// among the domain's rows minus their strata (used by Korn–Graubard intervals)
    pub degf: f64,
    /// Σ w over valid answers (the weighted total)
    pub total: f64,
    pub estimate: f64,
    pub variance: f64,
    /// Kish effective sample size (Σw)² / Σw²
    pub n_eff: f64,
    /// design effect as R's `svymean(deff = TRUE)`: design variance over the SRS
    /// without-replacement variance `svyvar · (N̂ − n)/(N̂ n)`; None when N̂ < n (R: NA)
    pub deff: Option<f64>,
    /// influence totals per leaf cluster, sorted by leaf
    pub(crate) infl: Vec<(u32, f64)>,
}

impl Cell {
    pub fn se(&self) -> f64 {
        self.variance.sqrt()
    }
}

/// Estimates for every domain × variable, with what is needed for contrasts.
#[derive(Debug, Clone)]
pub struct Estimates {
    /// grouping columns
    pub by: Vec<String>,
    /// key values per domain (same order as `by`)
    pub domains: Vec<Vec<String>>,
    /// variable names
    pub variables: Vec<String>,
    /// cells, index `domain * variables.len() + variable`
    pub cells: Vec<Cell>,
    /// design degrees of freedom: PSUs − strata (R's `degf`)
    pub degf: f64,
    /// rows in the design (R's `nrow(design)`)
    pub nrow: usize,
    pub calibration: Option<CalibrationReport>,
    pub(crate) structure: Arc<Structure>,
    pub(crate) calibrated: bool,
}

impl Estimates {
    pub fn cell(&self, domain: usize, variable: usize) -> &Cell {
        &self.cells[domain * self.variables.len() + variable]
    }
    /// Index of a domain by its key values.
    pub fn domain_index(&self, key: &[&str]) -> Option<usize> {
        self.domains
            .iter()
            .position(|d| d.iter().map(String::as_str).eq(key.iter().copied()))
    }
    /// Interval for one cell as `svyby(..., svyciprop)` / `confint(svyby(...), df = degf)`
    /// give it: every method uses the design df, except Korn–Graubard (`Beta`), which R
    /// computes from the domain's own subset design (its rows and its `degf`).
    pub fn interval(
        &self,
        domain: usize,
        variable: usize,
        method: CiMethod,
        level: f64,
    ) -> (f64, f64) {
        let c = self.cell(domain, variable);
        let df = if method == CiMethod::Beta {
            c.degf
        } else {
            self.degf
        };
        ci::interval(method, c.estimate, c.se(), df, level, c.design_rows as f64)
    }
    /// Variance of a linear combination of cells (covariances included).
    pub fn combination_variance(&self, terms: &[(usize, f64)]) -> Result<f64, AnalysisError> {
        let mut acc: HashMap<u32, f64> = HashMap::new();
        for &(i, c) in terms {
            for &(leaf, t) in &self.cells[i].infl {
                *acc.entry(leaf).or_insert(0.0) += c * t;
            }
        }
        let mut v: Vec<(u32, f64)> = acc.into_iter().collect();
        v.sort_unstable_by_key(|(l, _)| *l);
        self.structure.variance(&v, self.calibrated)
    }
}

pub(crate) const SEP: char = '\u{1f}';

fn str_col(df: &DataFrame, name: &str) -> Result<Vec<Option<String>>, AnalysisError> {
    let c = df.column(name)?.cast(&DataType::String)?;
    Ok(c.str()?.iter().map(|o| o.map(str::to_string)).collect())
}

fn f64_col(df: &DataFrame, name: &str) -> Result<Vec<f64>, AnalysisError> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().map(|o| o.unwrap_or(0.0)).collect())
}

fn opt_f64_col(df: &DataFrame, name: &str) -> Result<Vec<Option<f64>>, AnalysisError> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().collect())
}

/// Check that every needed column exists and that design and value columns are usable;
/// return the first problem naming column and row.
fn check_input(
    frame: &LazyFrame,
    design: &DesignSpec,
    cal_cols: &[String],
    by: &[String],
    vars: &[Variable],
) -> Result<(), AnalysisError> {
    let schema = frame.clone().collect_schema()?;
    let mut needed: Vec<&String> = Vec::new();
    needed.extend(design.weight.iter());
    needed.extend(design.strata.iter());
    needed.extend(design.clusters.iter());
    needed.extend(design.fpc.iter());
    needed.extend(cal_cols.iter());
    needed.extend(by.iter());
    needed.extend(vars.iter().map(|v| &v.column));
    for c in &needed {
        if schema.get(c.as_str()).is_none() {
            return Err(AnalysisError::MissingColumn((*c).clone()));
        }
    }
    // Numeric columns: a value that is present but not a number is an error.
    let mut numeric: Vec<&String> = vars.iter().map(|v| &v.column).collect();
    numeric.extend(design.weight.iter());
    numeric.extend(design.fpc.iter());
    numeric.sort();
    numeric.dedup();
    // columns already numeric cannot hold text; only NaN needs checking there
    numeric.retain(|c| {
        schema
            .get(c.as_str())
            .is_some_and(|dt| !dt.is_primitive_numeric())
    });
    let mut exprs = Vec::new();
    for (i, c) in numeric.iter().enumerate() {
        let v = col(c.as_str());
        let cast = v.clone().cast(DataType::Float64);
        exprs.push(
            (v.is_not_null().and(cast.clone().is_null()))
                .or(cast.is_nan().fill_null(lit(false)))
                .alias(format!("__bad{i}")),
        );
    }
    if let Some(w) = &design.weight {
        let v = col(w.as_str()).cast(DataType::Float64);
        exprs.push(
            v.clone()
                .is_null()
                .or(v.lt(lit(0.0)).fill_null(lit(false)))
                .alias("__badw"),
        );
    }
    let mut ids: Vec<&String> = Vec::new();
    ids.extend(design.strata.iter());
    ids.extend(design.clusters.iter());
    ids.extend(design.fpc.iter());
    ids.extend(cal_cols.iter());
    for (i, c) in ids.iter().enumerate() {
        exprs.push(col(c.as_str()).is_null().alias(format!("__null{i}")));
    }
    if exprs.is_empty() {
        return Ok(());
    }
    let flags = frame
        .clone()
        .select(exprs.clone())
        .with_row_index("__row", Some(1));
    let names: Vec<String> = exprs
        .iter()
        .enumerate()
        .map(|(k, _)| {
            if k < numeric.len() {
                format!("__bad{k}")
            } else if design.weight.is_some() && k == numeric.len() {
                "__badw".to_string()
            } else {
                let off = numeric.len() + usize::from(design.weight.is_some());
                format!("__null{}", k - off)
            }
        })
        .collect();
    let any: Vec<Expr> = names.iter().map(|n| col(n.as_str()).any(true)).collect();
    let summary = flags.clone().select(any).collect()?;
    for n in &names {
        let hit = summary.column(n)?.bool()?.get(0).unwrap_or(false);
        if !hit {
            continue;
        }
        let first = flags
            .clone()
            .filter(col(n.as_str()))
            .select([col("__row")])
            .limit(1)
            .collect()?;
        let row = first
            .column("__row")?
            .cast(&DataType::UInt64)?
            .u64()?
            .get(0)
            .unwrap_or(0);
        // the row number counts data rows from 1 (a CSV's line is row + 1)
        return Err(if let Some(i) = n.strip_prefix("__bad") {
            if i == "w" {
                AnalysisError::BadValue {
                    column: design.weight.clone().unwrap_or_default(),
                    row: row as usize,
                    msg: "weight is missing or negative".into(),
                }
            } else {
                let k: usize = i.parse().unwrap_or(0);
                AnalysisError::BadValue {
                    column: numeric[k].clone(),
                    row: row as usize,
                    msg: "not a number".into(),
                }
            }
        } else {
            let k: usize = n.trim_start_matches("__null").parse().unwrap_or(0);
            AnalysisError::BadValue {
                column: ids[k].clone(),
                row: row as usize,
                msg: "empty design or calibration value".into(),
            }
        });
    }
    Ok(())
}

/// Estimate every variable in every domain defined by `by` (an empty `by` is the whole
/// sample), under `design`, optionally calibrated.
///
/// Collects twice: once for the design structure (one row per leaf cluster × calibration
/// cell) and once for the domain sums (one row per domain × leaf × cell).
pub fn estimate(
    frame: LazyFrame,
    design: &DesignSpec,
    calibration: Option<&Calibration>,
    by: &[String],
    vars: &[Variable],
) -> Result<Estimates, AnalysisError> {
    design.validate()?;
    let cal_cols = calibration.map(Calibration::columns).unwrap_or_default();
    check_input(&frame, design, &cal_cols, by, vars)?;

    // Design and calibration key columns as strings; weights as f64.
    let mut lf = frame;
    let mut leaf_cols: Vec<String> = Vec::new();
    let mut prep: Vec<Expr> = Vec::new();
    prep.push(
        match &design.weight {
            Some(w) => col(w.as_str()).cast(DataType::Float64),
            None => lit(1.0),
        }
        .alias("__w0"),
    );
    prep.push(
        match &design.strata {
            Some(s) => col(s.as_str()),
            None => lit(1i32),
        }
        .alias("__s"),
    );
    leaf_cols.push("__s".into());
    let use_stages = if design.two_stage() { 2 } else { 1 };
    if design.clusters.is_empty() {
        lf = lf.with_row_index("__rowid", None);
        prep.push(col("__rowid").alias("__c1"));
        leaf_cols.push("__c1".into());
    } else {
        for (k, c) in design.clusters.iter().take(use_stages).enumerate() {
            let name = format!("__c{}", k + 1);
            // group on the raw key columns (fast); keys become text after aggregation
            prep.push(col(c.as_str()).alias(name.as_str()));
            leaf_cols.push(name);
        }
    }
    for (k, f) in design.fpc.iter().take(use_stages).enumerate() {
        prep.push(
            col(f.as_str())
                .cast(DataType::Float64)
                .alias(format!("__f{}", k + 1)),
        );
    }
    let cal_keys: Vec<String> = (0..cal_cols.len()).map(|k| format!("__k{k}")).collect();
    for (k, c) in cal_cols.iter().enumerate() {
        prep.push(
            col(c.as_str())
                .cast(DataType::String)
                .alias(cal_keys[k].as_str()),
        );
    }
    lf = lf.with_columns(prep);

    // ---- design structure (+ calibration cells) ----
    let mut keys: Vec<Expr> = leaf_cols.iter().map(|c| col(c.as_str())).collect();
    keys.extend(cal_keys.iter().map(|c| col(c.as_str())));
    let mut aggs = vec![
        len().alias("__len"),
        col("__w0").sum().alias("__w0sum"),
        col("__w0").neq(lit(0.0)).any(true).alias("__pos"),
    ];
    for k in 0..design.fpc.len().min(use_stages) {
        let f = format!("__f{}", k + 1);
        aggs.push(col(f.as_str()).first().alias(f.as_str()));
    }
    let sdf = lf.clone().group_by(keys).agg(aggs).collect()?;
    let s_keys: Vec<Vec<Option<String>>> = leaf_cols
        .iter()
        .map(|c| str_col(&sdf, c))
        .collect::<Result<_, _>>()?;
    let s_cal: Vec<Vec<Option<String>>> = cal_keys
        .iter()
        .map(|c| str_col(&sdf, c))
        .collect::<Result<_, _>>()?;
    let s_len = f64_col(&sdf, "__len")?;
    let s_w0 = f64_col(&sdf, "__w0sum")?;
    let s_pos: Vec<bool> = sdf
        .column("__pos")?
        .bool()?
        .iter()
        .map(|b| b.unwrap_or(false))
        .collect();
    let s_fpc: Vec<Vec<Option<f64>>> = (0..design.fpc.len().min(use_stages))
        .map(|k| opt_f64_col(&sdf, &format!("__f{}", k + 1)))
        .collect::<Result<_, _>>()?;
    let nrow = s_len.iter().sum::<f64>() as usize;

    // order leaves by (stratum, psu, ssu) so PSUs are contiguous
    let gkey = |i: usize, k: usize| s_keys[k][i].clone().unwrap_or_default();
    let mut order: Vec<usize> = (0..sdf.height()).collect();
    order.sort_by(|&a, &b| {
        (0..leaf_cols.len())
            .map(|k| gkey(a, k))
            .cmp((0..leaf_cols.len()).map(|k| gkey(b, k)))
    });
    let mut strata: Vec<Stratum> = Vec::new();
    let mut psus: Vec<Psu> = Vec::new();
    let mut leaves: Vec<Leaf> = Vec::new();
    let mut leaf_index: HashMap<String, u32> = HashMap::new();
    let mut stratum_ix: HashMap<String, usize> = HashMap::new();
    let mut psu_ix: HashMap<(usize, String), usize> = HashMap::new();
    let mut ssu_ix: HashMap<(usize, String), usize> = HashMap::new();
    let mut psu_pos: Vec<bool> = Vec::new();
    // first-stage and second-stage fpc values as read
    let mut f1: Vec<Option<f64>> = Vec::new();
    let mut f2: Vec<Option<f64>> = Vec::new();
    let mut cell_ix: HashMap<Vec<String>, usize> = HashMap::new();
    let mut cell_keys: Vec<Vec<String>> = Vec::new();
    let mut cell_w0: Vec<f64> = Vec::new();
    let mut cell_cnt: Vec<f64> = Vec::new();
    // (leaf, cell, w0 sum)
    let mut leaf_cell_w0: Vec<(u32, usize, f64)> = Vec::new();
    for &i in &order {
        let s = gkey(i, 0);
        let h = *stratum_ix.entry(s.clone()).or_insert_with(|| {
            strata.push(Stratum {
                name: s.clone(),
                n_psu: 0,
                popsize: None,
            });
            f1.push(None);
            strata.len() - 1
        });
        let p_name = gkey(i, 1);
        let p = *psu_ix.entry((h, p_name.clone())).or_insert_with(|| {
            psus.push(Psu {
                stratum: h,
                name: p_name.clone(),
                n_ssu: 0,
                popsize2: None,
            });
            psu_pos.push(false);
            f2.push(None);
            strata[h].n_psu += 1;
            psus.len() - 1
        });
        psu_pos[p] |= s_pos[i];
        if let Some(v) = s_fpc.first() {
            f1[h] = f1[h].or(v[i]);
        }
        if use_stages == 2 {
            let q_name = gkey(i, 2);
            let n_before = psus[p].n_ssu;
            let q = *ssu_ix.entry((p, q_name)).or_insert(n_before);
            if q == n_before {
                psus[p].n_ssu += 1;
            }
            if let Some(v) = s_fpc.get(1) {
                f2[p] = f2[p].or(v[i]);
            }
        }
        let lkey: String = (0..leaf_cols.len())
            .map(|k| gkey(i, k))
            .collect::<Vec<_>>()
            .join(&SEP.to_string());
        let n_leaves = leaves.len() as u32;
        let leaf = *leaf_index.entry(lkey).or_insert_with(|| {
            leaves.push(Leaf { psu: p });
            n_leaves
        });
        if calibration.is_some() {
            let ck: Vec<String> = s_cal
                .iter()
                .map(|c| c[i].clone().unwrap_or_default())
                .collect();
            let n_cells = cell_keys.len();
            let c = *cell_ix.entry(ck.clone()).or_insert_with(|| {
                cell_keys.push(ck);
                cell_w0.push(0.0);
                cell_cnt.push(0.0);
                n_cells
            });
            cell_w0[c] += s_w0[i];
            cell_cnt[c] += s_len[i];
            leaf_cell_w0.push((leaf, c, s_w0[i]));
        }
    }
    // fpc: population sizes, or fractions when every value is <= 1 (R's as.fpc)
    let resolve = |vals: &[Option<f64>],
                   ns: &[usize],
                   stage: usize|
     -> Result<Vec<Option<f64>>, AnalysisError> {
        let present: Vec<f64> = vals.iter().flatten().copied().collect();
        if present.is_empty() {
            return Ok(vec![None; vals.len()]);
        }
        let is_pop = present.iter().any(|&v| v > 1.0);
        if is_pop && present.iter().any(|&v| v < 1.0) {
            return Err(AnalysisError::Invalid(format!(
                "fpc column `{}` mixes population sizes (> 1) and sampling fractions (< 1)",
                design.fpc[stage - 1]
            )));
        }
        vals.iter()
            .zip(ns)
            .map(|(v, &n)| match v {
                None => Ok(None),
                Some(v) => {
                    let pop = if is_pop { *v } else { n as f64 / v };
                    if pop < n as f64 {
                        Err(AnalysisError::Invalid(format!(
                            "fpc column `{}` implies more than 100% sampling (population {pop}, sample {n})",
                            design.fpc[stage - 1]
                        )))
                    } else {
                        Ok(Some(pop))
                    }
                }
            })
            .collect()
    };
    let n1: Vec<usize> = strata.iter().map(|s| s.n_psu).collect();
    for (s, p) in strata.iter_mut().zip(resolve(&f1, &n1, 1)?) {
        s.popsize = p;
    }
    if use_stages == 2 {
        let n2: Vec<usize> = psus.iter().map(|p| p.n_ssu).collect();
        for (q, p) in psus.iter_mut().zip(resolve(&f2, &n2, 2)?) {
            q.popsize2 = p;
        }
    }
    // degf: PSUs with a nonzero weight minus their strata
    let mut pos_strata = vec![false; strata.len()];
    let mut n_pos_psu = 0usize;
    for (p, psu) in psus.iter().enumerate() {
        if psu_pos[p] {
            n_pos_psu += 1;
            pos_strata[psu.stratum] = true;
        }
    }
    let degf = n_pos_psu as f64 - pos_strata.iter().filter(|&&b| b).count() as f64;
    let structure = Arc::new(Structure {
        strata,
        psus,
        leaves,
        two_stage: use_stages == 2,
        lonely: design.lonely_psu,
        degf,
        nrow,
    });

    // ---- calibration ----
    let mut fitted = None;
    if let Some(cal) = calibration {
        let cells = Cells {
            keys: &cell_keys,
            columns: &cal_cols,
            w0: &cell_w0,
        };
        let fit = calibrate::fit(&cells, cal)?;
        // inconsistent margins can settle into a stable cycle that never meets them all
        if !fit.report.converged || fit.report.max_rel_error > 1e-6 {
            return Err(AnalysisError::NoConvergence {
                iterations: fit.report.iterations,
                max_rel_error: fit.report.max_rel_error,
            });
        }
        // join the cell factor back onto the rows
        let mut key_series: Vec<Column> = Vec::new();
        for (k, name) in cal_keys.iter().enumerate() {
            let vals: Vec<&str> = cell_keys.iter().map(|c| c[k].as_str()).collect();
            key_series.push(Column::new(name.as_str().into(), vals));
        }
        key_series.push(Column::new("__g".into(), fit.factor.clone()));
        if cal_keys.is_empty() {
            // trimming alone: one cell
            lf = lf.with_columns([lit(fit.factor.first().copied().unwrap_or(1.0)).alias("__g")]);
        } else {
            let table = DataFrame::new_infer_height(key_series)?.lazy();
            let on: Vec<Expr> = cal_keys.iter().map(|c| col(c.as_str())).collect();
            lf = lf.join(table, on.clone(), on, JoinArgs::new(JoinType::Left));
        }
        let mut w = col("__w0") * col("__g");
        if let Some((lower, upper)) = cal.trim {
            let clipped = when(w.clone().lt(lit(lower))).then(lit(lower)).otherwise(
                when(w.clone().gt(lit(upper)))
                    .then(lit(upper))
                    .otherwise(w.clone()),
            );
            let outside = w.clone().lt(lit(lower)).or(w.clone().gt(lit(upper)));
            let trimmed = (w.clone() - clipped.clone()).sum();
            let inside = outside.clone().not().cast(DataType::Float64).sum();
            w = when(outside)
                .then(clipped.clone())
                .otherwise(clipped + trimmed / inside);
        }
        lf = lf.with_columns([w.alias("__w")]);
        fitted = Some(fit);
    } else {
        lf = lf.with_columns([col("__w0").alias("__w")]);
    }

    // ---- domain sums ----
    let mut gkeys: Vec<String> = by.to_vec();
    gkeys.extend(leaf_cols.iter().cloned());
    gkeys.extend(cal_keys.iter().cloned());
    let ddf = sums::domain_sums(lf, &gkeys, vars, calibration.is_some())?;
    let by_vals: Vec<Vec<Option<String>>> = by
        .iter()
        .map(|c| str_col(&ddf, c))
        .collect::<Result<_, _>>()?;
    let l_vals: Vec<Vec<Option<String>>> = leaf_cols
        .iter()
        .map(|c| str_col(&ddf, c))
        .collect::<Result<_, _>>()?;
    let c_vals: Vec<Vec<Option<String>>> = cal_keys
        .iter()
        .map(|c| str_col(&ddf, c))
        .collect::<Result<_, _>>()?;
    let rows_col = f64_col(&ddf, "__rows")?;
    let wnz: Vec<bool> = ddf
        .column("__wnz")?
        .bool()?
        .iter()
        .map(|b| b.unwrap_or(false))
        .collect();
    struct Sums {
        n: Vec<f64>,
        np: Vec<f64>,
        wx: Vec<f64>,
        wy: Vec<f64>,
        wyy: Vec<f64>,
        wwx: Vec<f64>,
        rx: Vec<f64>,
        ry: Vec<f64>,
    }
    let mut sums = Vec::new();
    for k in 0..vars.len() {
        let cal = calibration.is_some();
        sums.push(Sums {
            n: f64_col(&ddf, &format!("n{k}"))?,
            np: f64_col(&ddf, &format!("np{k}"))?,
            wx: f64_col(&ddf, &format!("wx{k}"))?,
            wy: f64_col(&ddf, &format!("wy{k}"))?,
            wyy: f64_col(&ddf, &format!("wyy{k}"))?,
            wwx: f64_col(&ddf, &format!("wwx{k}"))?,
            rx: if cal {
                f64_col(&ddf, &format!("rx{k}"))?
            } else {
                Vec::new()
            },
            ry: if cal {
                f64_col(&ddf, &format!("ry{k}"))?
            } else {
                Vec::new()
            },
        });
    }
    // group rows of the aggregate by domain
    let mut dom_ix: HashMap<Vec<String>, usize> = HashMap::new();
    let mut domains: Vec<Vec<String>> = Vec::new();
    let mut dom_rows: Vec<Vec<(usize, u32, usize)>> = Vec::new(); // (row, leaf, cell)
    for i in 0..ddf.height() {
        let key: Vec<String> = by_vals
            .iter()
            .map(|c| c[i].clone().unwrap_or_default())
            .collect();
        let nd = domains.len();
        let d = *dom_ix.entry(key.clone()).or_insert_with(|| {
            domains.push(key);
            dom_rows.push(Vec::new());
            nd
        });
        let lkey: String = l_vals
            .iter()
            .map(|c| c[i].clone().unwrap_or_default())
            .collect::<Vec<_>>()
            .join(&SEP.to_string());
        let leaf = *leaf_index
            .get(&lkey)
            .ok_or_else(|| AnalysisError::Invalid("internal: leaf cluster not found".into()))?;
        let cell = if calibration.is_some() {
            let ck: Vec<String> = c_vals
                .iter()
                .map(|c| c[i].clone().unwrap_or_default())
                .collect();
            *cell_ix.get(&ck).ok_or_else(|| {
                AnalysisError::Invalid("internal: calibration cell not found".into())
            })?
        } else {
            0
        };
        dom_rows[d].push((i, leaf, cell));
    }
    // sort domains by key for stable output
    let mut dorder: Vec<usize> = (0..domains.len()).collect();
    dorder.sort_by(|&a, &b| domains[a].cmp(&domains[b]));

    let n_leaves = structure.leaves.len();
    let mut cells_out = Vec::with_capacity(domains.len() * vars.len());
    for &d in &dorder {
        let rows = &dom_rows[d];
        let drows: f64 = rows.iter().map(|&(i, _, _)| rows_col[i]).sum();
        let design_rows = if calibration.is_some() {
            nrow as u64
        } else {
            drows as u64
        };
        // the domain's own degf: distinct PSUs (and their strata) with a nonzero weight
        let mut dpsu: Vec<(usize, usize)> = rows
            .iter()
            .filter(|&&(i, _, _)| wnz[i])
            .map(|&(_, leaf, _)| {
                let p = structure.leaves[leaf as usize].psu;
                (structure.psus[p].stratum, p)
            })
            .collect();
        dpsu.sort_unstable();
        dpsu.dedup();
        let mut dstrata: Vec<usize> = dpsu.iter().map(|&(h, _)| h).collect();
        dstrata.dedup();
        let ddegf = dpsu.len() as f64 - dstrata.len() as f64;
        for s in &sums {
            let mut n = 0.0;
            let mut np = 0.0;
            let mut wx = 0.0;
            let mut wy = 0.0;
            let mut wyy = 0.0;
            let mut wwx = 0.0;
            for &(i, _, _) in rows {
                n += s.n[i];
                np += s.np[i];
                wx += s.wx[i];
                wy += s.wy[i];
                wyy += s.wyy[i];
                wwx += s.wwx[i];
            }
            let r = wy / wx;
            let mut infl: Vec<(u32, f64)> = if let Some(fit) = &fitted {
                let nc = cell_keys.len();
                let mut x0 = vec![0.0; nc];
                let mut u0 = vec![0.0; nc];
                let mut dense = vec![0.0; n_leaves];
                for &(i, leaf, c) in rows {
                    let t = (s.wy[i] - r * s.wx[i]) / wx;
                    x0[c] += t;
                    u0[c] += (s.ry[i] - r * s.rx[i]) / wx;
                    dense[leaf as usize] += t;
                }
                let b =
                    calibrate::residual_coefficients(&fit.blocks, &x0, &u0, &cell_w0, &cell_cnt);
                for &(leaf, c, w0) in &leaf_cell_w0 {
                    dense[leaf as usize] -= w0 * b[c];
                }
                dense
                    .into_iter()
                    .enumerate()
                    .map(|(l, t)| (l as u32, t))
                    .collect()
            } else {
                let mut acc: Vec<(u32, f64)> = rows
                    .iter()
                    .filter(|&&(i, _, _)| s.n[i] > 0.0)
                    .map(|&(i, leaf, _)| (leaf, (s.wy[i] - r * s.wx[i]) / wx))
                    .collect();
                acc.sort_unstable_by_key(|(l, _)| *l);
                acc.dedup_by(|b, a| {
                    if a.0 == b.0 {
                        a.1 += b.1;
                        true
                    } else {
                        false
                    }
                });
                acc
            };
            if n == 0.0 {
                infl.clear();
            }
            let variance = if n == 0.0 {
                f64::NAN
            } else {
                structure.variance(&infl, fitted.is_some())?
            };
            // R: svyvar(x) * (psum - nobs) / (psum * nobs), svyvar with n/(n-1)
            let deff = if np > 1.0 && wx >= np {
                let svyvar = (wyy - r * wy) / wx * np / (np - 1.0);
                let vsrs = svyvar * (wx - np) / (wx * np);
                Some(variance / vsrs)
            } else {
                None
            };
            cells_out.push(Cell {
                n: n as u64,
                rows: drows as u64,
                design_rows,
                degf: ddegf,
                total: wx,
                estimate: r,
                variance,
                n_eff: wx * wx / wwx,
                deff,
                infl,
            });
        }
    }
    let domains: Vec<Vec<String>> = dorder.iter().map(|&d| domains[d].clone()).collect();
    Ok(Estimates {
        by: by.to_vec(),
        domains,
        variables: vars.iter().map(|v| v.name.clone()).collect(),
        cells: cells_out,
        degf: structure.degf,
        nrow: structure.nrow,
        calibration: fitted.map(|f| f.report),
        calibrated: calibration.is_some(),
        structure,
    })
}
