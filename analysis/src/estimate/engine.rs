//! The estimation core: ratio means for every domain × variable with Taylor-linearised
//! variance, from sums per (domain, leaf cluster[, calibration cell]) computed over
//! integer-coded keys (see `kernel` and `sums`).
//!
//! For a domain d and variable v the estimate is r = Σ w·y / Σ w·x (x: the row is in d and
//! has a valid answer; y: the value, 0 when not valid). Its influence is
//! z_i = w_i (y_i − r x_i) / Σ w·x, zero outside the domain, so the design keeps every
//! stratum and PSU (R: `svyby(..., svymean, na.rm = TRUE)`). The variance needs only the
//! sums of z per leaf cluster, which come out of the group sums.

use std::borrow::Cow;
use std::sync::Arc;

use polars::prelude::*;

use super::calibrate::{self, Calibration, CalibrationReport, Cells};
use super::checks::{check_columns, check_values};
use super::ci::{self, CiMethod, IrlsStart, Profile};
use super::design::{DesignSpec, Leaf, Psu, Stratum, Structure};
use super::kernel::{self, Coded};
use super::sums::{self, CalContext, Context, DomainInfo, Groups};
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
    /// keep each cell's influence totals per PSU, which [`Estimates::combination_variance`]
    /// (contrasts, composites) needs: 16 bytes per PSU per cell, i.e. per response per
    /// variable when every response is its own PSU
    pub keep_influence: bool,
    /// record what profile-likelihood intervals need (one more pass over the responses;
    /// proportions only)
    pub profile: bool,
}

impl Variable {
    pub fn new(name: &str, column: &str, measure: Measure) -> Self {
        Self {
            name: name.to_string(),
            column: column.to_string(),
            measure,
            missing_codes: Vec::new(),
            keep_influence: true,
            profile: false,
        }
    }
    /// Also record, per cell, the start of R's logistic fit, so
    /// [`CiMethod::Likelihood`] intervals can be computed (a proportion only).
    pub fn with_profile(mut self) -> Self {
        self.profile = true;
        self
    }
    /// Estimates and SEs only: the cells cannot enter a contrast (it fails with an error
    /// saying so), and the influence totals are dropped as soon as each variance is known.
    pub fn without_influence(mut self) -> Self {
        self.keep_influence = false;
        self
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
    /// valid answers in the domain with a nonzero weight
    pub n_pos: u64,
    /// rows in the domain (any answer)
    pub rows: u64,
    /// rows of the design R hands to `svyciprop` for this domain, `nrow(design[domain, ])`
    /// of the design of the valid answers (`subset(design, !is.na(y))`): the domain's valid
    /// answers, or every row of the sample for post-stratified and raked designs (their
    /// subsets keep all rows, with weight zero)
    pub design_rows: u64,
    /// the domain's own design df, `degf(design[domain, ])` of that design: the PSUs with
    /// a nonzero weight among the domain's valid answers minus the strata they are in.
    /// Every interval of the cell uses it, as `svyby(..., svyciprop)` does.
    pub degf: f64,
    /// the first iteration of R's logistic fit on the cell (profile-likelihood intervals;
    /// recorded for variables made with [`Variable::with_profile`])
    pub profile: Option<IrlsStart>,
    /// Σ w over valid answers (the weighted total)
    pub total: f64,
    pub estimate: f64,
    pub variance: f64,
    /// Kish effective sample size (Σw)² / Σw²
    pub n_eff: f64,
    /// design effect as R's `svymean(deff = TRUE)`: design variance over the SRS
    /// without-replacement variance `svyvar · (N̂ − n)/(N̂ n)`; None when N̂ < n (R: NA)
    pub deff: Option<f64>,
    /// influence totals per leaf cluster, sorted by leaf (empty when not kept)
    pub(crate) infl: Vec<(u32, f64)>,
    /// whether `infl` was kept ([`Variable::without_influence`])
    pub(crate) infl_kept: bool,
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
    /// post-stratified or raked (subsets keep every row)
    pub(crate) keeps_rows: bool,
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
    /// Interval for one cell as `svyby(..., svyciprop, method = m)` computes it on the
    /// design of the valid answers: with the domain's own df, `degf(design[domain, ])`, for
    /// every method (Korn–Graubard also with its `nrow`), and the t interval of a mean
    /// (`CiMethod::Mean`) with the same df. Likelihood intervals need a variable made with
    /// [`Variable::with_profile`] (NaN otherwise).
    pub fn interval(
        &self,
        domain: usize,
        variable: usize,
        method: CiMethod,
        level: f64,
    ) -> (f64, f64) {
        let c = self.cell(domain, variable);
        self.interval_with_df(domain, variable, method, level, c.degf)
    }
    /// As [`Estimates::interval`] with the df given, e.g. the design's `degf` as in
    /// `confint(svyby(...), df = degf(design))`. Korn–Graubard ignores it (R's "beta" uses
    /// the domain's own `degf` whatever df is passed).
    pub fn interval_with_df(
        &self,
        domain: usize,
        variable: usize,
        method: CiMethod,
        level: f64,
        df: f64,
    ) -> (f64, f64) {
        let c = self.cell(domain, variable);
        match method {
            CiMethod::Beta => ci::interval(
                method,
                c.estimate,
                c.se(),
                c.degf,
                level,
                c.design_rows as f64,
            ),
            CiMethod::Likelihood => {
                let Some(start) = c.profile else {
                    return (f64::NAN, f64::NAN);
                };
                // the fit drops the rows without an answer; a calibrated design's subset
                // keeps those of the other domains
                let fit_rows = if self.keeps_rows {
                    (0..self.domains.len())
                        .map(|d| self.cell(d, variable).n)
                        .sum::<u64>()
                } else {
                    c.n
                };
                let prof = Profile {
                    total: c.total,
                    hits: c.estimate * c.total,
                    n_pos: c.n_pos as f64,
                    design_rows: c.design_rows as f64,
                    fit_rows: fit_rows as f64,
                    start,
                };
                ci::likelihood(c.estimate, c.variance, df, level, &prof)
            }
            _ => ci::interval(method, c.estimate, c.se(), df, level, c.design_rows as f64),
        }
    }
    /// As [`Estimates::interval`] for a mean on 0–`scale`, taken as a proportion: the
    /// method applied to estimate / scale and SE / scale, the ends times scale (R:
    /// `svyciprop(~I(y / scale), design[domain, ], method = m)`). Likelihood needs a
    /// yes/no answer and gives NaN here.
    pub fn interval_on_scale(
        &self,
        domain: usize,
        variable: usize,
        method: CiMethod,
        level: f64,
        scale: f64,
    ) -> (f64, f64) {
        let c = self.cell(domain, variable);
        let (lo, hi) = ci::interval(
            method,
            c.estimate / scale,
            c.se() / scale,
            c.degf,
            level,
            c.design_rows as f64,
        );
        (lo * scale, hi * scale)
    }
    /// Variance of a linear combination of cells (covariances included).
    pub fn combination_variance(&self, terms: &[(usize, f64)]) -> Result<f64, AnalysisError> {
        if let Some(&(i, _)) = terms.iter().find(|&&(i, _)| !self.cells[i].infl_kept) {
            let v = &self.variables[i % self.variables.len()];
            return Err(AnalysisError::Invalid(format!(
                "variable `{v}` was estimated without influence values, so it cannot enter a \
                 contrast: estimate it without `without_influence()`"
            )));
        }
        let m: usize = terms.iter().map(|&(i, _)| self.cells[i].infl.len()).sum();
        let n_leaves = self.structure.leaves.len();
        if n_leaves > 4 * m + 4096 {
            // few leaves touched out of many (e.g. one leaf per row): sort and merge
            let mut v: Vec<(u32, f64)> = terms
                .iter()
                .flat_map(|&(i, c)| self.cells[i].infl.iter().map(move |&(l, t)| (l, c * t)))
                .collect();
            v.sort_by_key(|(l, _)| *l);
            v.dedup_by(|b, a| {
                if a.0 == b.0 {
                    a.1 += b.1;
                    true
                } else {
                    false
                }
            });
            return self.structure.variance(&v, self.calibrated);
        }
        // dense over the leaves; a leaf is present if any term has it
        let mut acc: Vec<Option<f64>> = vec![None; n_leaves];
        for &(i, c) in terms {
            for &(leaf, t) in &self.cells[i].infl {
                let slot = &mut acc[leaf as usize];
                *slot = Some(slot.unwrap_or(0.0) + c * t);
            }
        }
        let v: Vec<(u32, f64)> = acc
            .into_iter()
            .enumerate()
            .filter_map(|(l, t)| t.map(|t| (l as u32, t)))
            .collect();
        self.structure.variance(&v, self.calibrated)
    }
}

pub(crate) const SEP: char = '\u{1f}';

/// Phase timings as `tracing` debug events (target `pingyi_analysis::phases`; benchmarks only).
struct Phases {
    on: bool,
    t: std::time::Instant,
}

impl Phases {
    fn new() -> Self {
        Self {
            on: tracing::enabled!(target: "pingyi_analysis::phases", tracing::Level::DEBUG),
            t: std::time::Instant::now(),
        }
    }
    fn mark(&mut self, what: &str) {
        if self.on {
            tracing::debug!(target: "pingyi_analysis::phases", phase = what, seconds = self.t.elapsed().as_secs_f64());
            self.t = std::time::Instant::now();
        }
    }
}

/// First non-empty value per code of `keys` (in row order).
fn first_per(keys: &[u32], card: usize, vals: &[f64]) -> Vec<Option<f64>> {
    let mut out = vec![None; card];
    let mut left = card;
    for (&k, &v) in keys.iter().zip(vals) {
        if left == 0 {
            break;
        }
        let slot = &mut out[k as usize];
        if slot.is_none() && !v.is_nan() {
            *slot = Some(v);
            left -= 1;
        }
    }
    out
}

/// The first iteration of R's logistic fit per cell of every variable that asked for it
/// ([`Variable::with_profile`]): each valid answer with its weight rescaled as `svyglm`
/// rescales it on the domain's design (`w · design_rows / Σw`).
fn profile_starts(
    df: &DataFrame,
    vars: &[Variable],
    dom_codes: &[u32],
    w: &[f64],
    cells: &mut [Cell],
) -> Result<(), AnalysisError> {
    let nv = vars.len();
    let nd = cells.len() / nv.max(1);
    for (k, v) in vars.iter().enumerate().filter(|(_, v)| v.profile) {
        let vals = kernel::f64_values(df.column(&v.column)?, f64::NAN)?;
        let scale: Vec<f64> = (0..nd)
            .map(|d| {
                let c = &cells[d * nv + k];
                c.design_rows as f64 / c.total
            })
            .collect();
        let mut acc = vec![IrlsStart::default(); nd];
        for ((&x, &d), &wi) in vals.iter().zip(dom_codes).zip(w) {
            if v.is_valid(x) {
                let d = d as usize;
                ci::irls_start_add(&mut acc[d], scale[d] * wi, v.quantity(x));
            }
        }
        for (d, a) in acc.into_iter().enumerate() {
            cells[d * nv + k].profile = Some(a);
        }
    }
    Ok(())
}

/// Estimate every variable in every domain defined by `by` (an empty `by` is the whole
/// sample), under `design`, optionally calibrated.
///
/// One collect of the needed columns; everything after is integer-coded Rust: keys become
/// dense codes, rows are put in (domain, leaf cluster[, calibration cell]) order by one
/// counting sort, and the value columns are summed group by group over both cores
/// (see `sums`).
pub fn estimate(
    frame: LazyFrame,
    design: &DesignSpec,
    calibration: Option<&Calibration>,
    by: &[String],
    vars: &[Variable],
) -> Result<Estimates, AnalysisError> {
    let mut ph = Phases::new();
    design.validate()?;
    let cal_cols = calibration.map(Calibration::columns).unwrap_or_default();
    let needed = check_columns(&frame, design, &cal_cols, by, vars)?;
    let df = frame
        .select(needed.iter().map(|c| col(c.as_str())).collect::<Vec<_>>())
        .collect()?;
    check_values(&df, design, &cal_cols, vars)?;
    if let Some(v) = vars
        .iter()
        .find(|v| v.profile && !matches!(v.measure, Measure::Proportion(_)))
    {
        return Err(AnalysisError::Invalid(format!(
            "variable `{}`: likelihood intervals are for proportions (give the satisfied codes)",
            v.name
        )));
    }
    let keeps_rows = calibration.is_some_and(|c| c.post_strata.is_some() || !c.rake.is_empty());
    ph.mark("collect + checks");
    let nrow = df.height();
    // the value columns are read on another core while this one builds the design
    std::thread::scope(|scope| -> Result<Estimates, AnalysisError> {
        let df = &df;
        let reader = scope.spawn(move || sums::read_columns(df, vars, 1));

        // ---- keys as dense codes ----
        // the weight column itself when it is plain f64 (no copy)
        let w0: Cow<[f64]> = match &design.weight {
            Some(w) => kernel::f64_cow(df.column(w)?)?,
            None => Cow::Owned(vec![1.0; nrow]),
        };
        let use_stages = if design.two_stage() { 2 } else { 1 };
        let coded = |name: &String| kernel::encode(df.column(name)?);
        let strata = match &design.strata {
            Some(s) => coded(s)?,
            None => Coded::constant(nrow, "1"),
        };
        // first-stage PSUs: (stratum, cluster) pairs; without clusters every row
        let (psu_codes, psu_pairs, c1_labels) = if design.clusters.is_empty() {
            let (rows, n) = Coded::rows(nrow);
            let (codes, pairs) = kernel::combine(&strata.codes, strata.card(), &rows, n);
            (codes, pairs, None)
        } else {
            let c1 = coded(&design.clusters[0])?;
            let (codes, pairs) =
                kernel::combine(&strata.codes, strata.card(), &c1.codes, c1.card());
            (codes, pairs, Some(c1.labels))
        };
        let n_psu = psu_pairs.len();
        // PSUs with a nonzero weight
        let mut psu_pos = vec![false; n_psu];
        for (&p, &w) in psu_codes.iter().zip(w0.iter()) {
            if w != 0.0 {
                psu_pos[p as usize] = true;
            }
        }
        // second-stage fpc: first value per PSU
        let f2: Vec<Option<f64>> = match design.fpc.get(1).filter(|_| use_stages == 2) {
            Some(f) => first_per(
                &psu_codes,
                n_psu,
                &kernel::f64_values(df.column(f)?, f64::NAN)?,
            ),
            None => vec![None; n_psu],
        };
        let (leaf_codes, leaf_psu): (Vec<u32>, Vec<u32>) = if use_stages == 2 {
            let c2 = coded(&design.clusters[1])?;
            let (codes, pairs) = kernel::combine(&psu_codes, n_psu, &c2.codes, c2.card());
            (codes, pairs.into_iter().map(|(p, _)| p).collect())
        } else {
            (psu_codes, (0..n_psu as u32).collect())
        };
        let n_leaves = leaf_psu.len();
        let mut strata_v: Vec<Stratum> = strata
            .labels
            .iter()
            .map(|name| Stratum {
                name: name.clone(),
                n_psu: 0,
                popsize: None,
            })
            .collect();
        let mut psus: Vec<Psu> = psu_pairs
            .iter()
            .map(|&(h, c)| {
                strata_v[h as usize].n_psu += 1;
                Psu {
                    stratum: h as usize,
                    name: c1_labels
                        .as_ref()
                        .map_or_else(String::new, |l| l[c as usize].clone()),
                    n_ssu: 0,
                    popsize2: None,
                }
            })
            .collect();
        drop(psu_pairs);
        if use_stages == 2 {
            for &p in &leaf_psu {
                psus[p as usize].n_ssu += 1;
            }
        }
        let leaves: Vec<Leaf> = leaf_psu.iter().map(|&p| Leaf { psu: p as usize }).collect();
        // first-stage fpc: first value per stratum
        let f1: Vec<Option<f64>> = match design.fpc.first() {
            Some(f) => first_per(
                &strata.codes,
                strata.card(),
                &kernel::f64_values(df.column(f)?, f64::NAN)?,
            ),
            None => vec![None; strata.card()],
        };
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
        let n1: Vec<usize> = strata_v.iter().map(|s| s.n_psu).collect();
        for (s, p) in strata_v.iter_mut().zip(resolve(&f1, &n1, 1)?) {
            s.popsize = p;
        }
        if use_stages == 2 {
            let n2: Vec<usize> = psus.iter().map(|p| p.n_ssu).collect();
            for (q, p) in psus.iter_mut().zip(resolve(&f2, &n2, 2)?) {
                q.popsize2 = p;
            }
        }
        // degf: PSUs with a nonzero weight minus their strata
        let mut pos_strata = vec![false; strata_v.len()];
        let mut n_pos_psu = 0usize;
        for (p, psu) in psus.iter().enumerate() {
            if psu_pos[p] {
                n_pos_psu += 1;
                pos_strata[psu.stratum] = true;
            }
        }
        let degf = n_pos_psu as f64 - pos_strata.iter().filter(|&&b| b).count() as f64;
        let structure = Arc::new(Structure {
            strata: strata_v,
            psus,
            leaves,
            two_stage: use_stages == 2,
            lonely: design.lonely_psu,
            degf,
            nrow,
        });
        drop(strata);
        ph.mark("design structure");

        // ---- calibration ----
        let mut fitted = None;
        // calibration cell per row, Σw0 and rows per cell, Σw0 per (leaf, cell)
        type CalData = (Vec<u32>, Vec<f64>, Vec<f64>, Vec<(u32, usize, f64)>);
        let mut cal_data: Option<CalData> = None;
        let mut w = w0;
        let mut ratio: Option<Vec<f64>> = None;
        if let Some(cal) = calibration {
            let cc: Vec<Coded> = cal_cols
                .iter()
                .map(|c| kernel::encode(df.column(c)?))
                .collect::<Result<_, _>>()?;
            let refs: Vec<&Coded> = cc.iter().collect();
            let (cell_codes, tuples) = kernel::combine_many(&refs, nrow);
            let cell_keys: Vec<Vec<String>> = tuples
                .iter()
                .map(|t| {
                    t.iter()
                        .zip(&cc)
                        .map(|(&k, c)| c.labels[k as usize].clone())
                        .collect()
                })
                .collect();
            let nc = cell_keys.len();
            let mut cell_w0 = vec![0.0; nc];
            let mut cell_cnt = vec![0.0; nc];
            for (&c, &x) in cell_codes.iter().zip(w.iter()) {
                cell_w0[c as usize] += x;
                cell_cnt[c as usize] += 1.0;
            }
            let (lc_codes, lc_pairs) = kernel::combine(&leaf_codes, n_leaves, &cell_codes, nc);
            let mut lc_w0 = vec![0.0; lc_pairs.len()];
            for (&k, &x) in lc_codes.iter().zip(w.iter()) {
                lc_w0[k as usize] += x;
            }
            drop(lc_codes);
            let leaf_cell_w0: Vec<(u32, usize, f64)> = lc_pairs
                .iter()
                .zip(lc_w0)
                .map(|(&(l, c), x)| (l, c as usize, x))
                .collect();
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
            let w0 = w;
            let mut wc: Vec<f64> = cell_codes
                .iter()
                .zip(w0.iter())
                .map(|(&c, &x)| x * fit.factor[c as usize])
                .collect();
            if let Some((lower, upper)) = cal.trim {
                let mut trimmed = 0.0;
                let mut inside = 0.0;
                for x in &wc {
                    let clipped = x.clamp(lower, upper);
                    if *x < lower || *x > upper {
                        trimmed += x - clipped;
                    } else {
                        inside += 1.0;
                    }
                }
                let add = trimmed / inside;
                for x in wc.iter_mut() {
                    *x = if *x < lower || *x > upper {
                        x.clamp(lower, upper)
                    } else {
                        *x + add
                    };
                }
            }
            ratio = Some(
                wc.iter()
                    .zip(w0.iter())
                    .map(|(&a, &b)| if b != 0.0 { a / b } else { 0.0 })
                    .collect(),
            );
            w = Cow::Owned(wc);
            fitted = Some(fit);
            cal_data = Some((cell_codes, cell_w0, cell_cnt, leaf_cell_w0));
            ph.mark("calibration");
        }

        // ---- domains and groups ----
        let bc: Vec<Coded> = by
            .iter()
            .map(|c| kernel::encode(df.column(c)?))
            .collect::<Result<_, _>>()?;
        let refs: Vec<&Coded> = bc.iter().collect();
        let (dom_codes, dom_tuples) = kernel::combine_many(&refs, nrow);
        let domains: Vec<Vec<String>> = dom_tuples
            .iter()
            .map(|t| {
                t.iter()
                    .zip(&bc)
                    .map(|(&k, c)| c.labels[k as usize].clone())
                    .collect()
            })
            .collect();
        drop(bc);
        let nd = domains.len();
        let (g_codes, g_pairs) = kernel::combine(&dom_codes, nd, &leaf_codes, n_leaves);
        // each row's domain stays only for the profile-likelihood pass
        let dom_codes = vars.iter().any(|v| v.profile).then_some(dom_codes);
        drop(leaf_codes);
        // (domain, leaf, cell) per group
        let (g_codes, g_triples): (Vec<u32>, Vec<(u32, u32, u32)>) = match &cal_data {
            Some((cell_codes, cell_w0, _, _)) => {
                let (codes, pairs) =
                    kernel::combine(&g_codes, g_pairs.len(), cell_codes, cell_w0.len());
                let triples = pairs
                    .iter()
                    .map(|&(g, c)| {
                        let (d, l) = g_pairs[g as usize];
                        (d, l, c)
                    })
                    .collect();
                (codes, triples)
            }
            None => (g_codes, g_pairs.iter().map(|&(d, l)| (d, l, 0)).collect()),
        };
        let ng = g_triples.len();
        // group order: each row's position (a stable counting sort)
        let mut offsets = vec![0usize; ng + 1];
        for &g in &g_codes {
            offsets[g as usize + 1] += 1;
        }
        for i in 0..ng {
            offsets[i + 1] += offsets[i];
        }
        let mut next: Vec<u32> = offsets[..ng].iter().map(|&o| o as u32).collect();
        let dest: Vec<u32> = g_codes
            .iter()
            .map(|&g| {
                let slot = &mut next[g as usize];
                let d = *slot;
                *slot += 1;
                d
            })
            .collect();
        drop(next);
        drop(g_codes);
        let mut dom_groups = vec![0usize; nd + 1];
        for &(d, _, _) in &g_triples {
            dom_groups[d as usize + 1] += 1;
        }
        for d in 0..nd {
            dom_groups[d + 1] += dom_groups[d];
        }
        let infos: Vec<DomainInfo> = (0..nd)
            .map(|d| DomainInfo {
                rows: (offsets[dom_groups[d + 1]] - offsets[dom_groups[d]]) as u64,
            })
            .collect();
        let groups = Groups {
            dest,
            offsets,
            leaf: g_triples.iter().map(|t| t.1).collect(),
            cell: g_triples.iter().map(|t| t.2).collect(),
            dom_groups,
        };
        drop(g_triples);
        ph.mark("domains + group order");

        // ---- sums, estimates and variances per column ----
        let cal_ctx = match (&fitted, &cal_data) {
            (Some(fit), Some((_, cell_w0, cell_cnt, leaf_cell_w0))) => Some(CalContext {
                fit,
                cell_w0,
                cell_cnt,
                leaf_cell_w0,
            }),
            _ => None,
        };
        let ctx = Context {
            groups: &groups,
            domains: &infos,
            structure: &structure,
            cal: cal_ctx,
            w: &w[..],
            ratio: ratio.as_deref(),
            nrow: nrow as u64,
            keeps_rows,
        };
        let cols = match reader.join() {
            Ok(c) => c?,
            Err(p) => std::panic::resume_unwind(p),
        };
        ph.mark("value columns read (other core)");
        let mut cells = sums::domain_cells(cols, &ctx)?;
        ph.mark("column sums + variances");
        drop(groups);
        if let Some(dom_codes) = dom_codes {
            profile_starts(df, vars, &dom_codes, &w, &mut cells)?;
            ph.mark("profile-likelihood starts");
        }
        Ok(Estimates {
            by: by.to_vec(),
            domains,
            variables: vars.iter().map(|v| v.name.clone()).collect(),
            cells,
            degf: structure.degf,
            nrow: structure.nrow,
            calibration: fitted.map(|f| f.report),
            calibrated: calibration.is_some(),
            keeps_rows,
            structure,
        })
    })
}
