//! Running tables: the engine's estimates for designs without clusters or calibration, from
//! sums per (domain, stratum) that rows are added to and removed from.
//!
//! For a design whose PSUs are the rows (`svydesign(ids = ~1, strata =, weights =, fpc =)`),
//! everything [`super::estimate`] reports for a ratio mean follows from a few sums per
//! (domain, stratum) of the valid answers: their count, the count with a positive weight,
//! Σw, Σwy, Σwy², Σw², Σw²y and Σw²y², and per stratum its rows (the PSUs R counts) and
//! population size. The linearised variance of stratum h is
//! `scale_h · (S2 − S1² / n_h)` with `S1 = Σ z`, `S2 = Σ z²` and
//! `z = w (y − r) / Σw` (`survey:::onestrat` with the lonely-PSU rules, see
//! `design::onestrat_sums`).
//!
//! * **Order-free, so incremental equals afresh.** Every sum is an [`Exact`] sum of per-row
//!   terms: the held sums depend only on which rows are held, so sums brought forward by
//!   the rows that came and went equal, bit for bit, sums taken afresh over the same rows,
//!   whatever the row order. An update costs the rows that changed, not the table.
//! * **Answer codes.** A column whose variables are proportions, scores or NPS (integer
//!   codes: likert answers, satisfied flags) keeps the sums per code (count, Σw, Σw²); every
//!   variable on it reads its sums through its codes, and the spread about the domain's
//!   estimate is summed centred, `Σ_c Σw²_c (q_c − r)²`, so a domain where everyone gave the
//!   same answer has a variance of exactly zero, as R's two-pass sums give.
//! * **Numeric values** (per-response indices): plain means keep Σw, Σwy, Σwy², Σw², Σw²y,
//!   Σw²y²; the spread is `Σw²y² − 2rΣw²y + r²Σw²`. That form loses the digits the terms
//!   share, so a result within rounding of zero (16 ε of the terms) is taken as zero: the
//!   same answer everywhere gives zero, and a real spread is never that small on survey
//!   scores.
//!
//! The numbers agree with the engine (and so with R) to rounding; they are not the engine's
//! bits, because the engine sums in row order. Tables that must carry influence values
//! (contrasts), calibrated designs, clusters and profile-likelihood starts need the engine.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use polars::prelude::*;

use super::design::{deff, onestrat_sums, over_strata, DesignSpec, LonelyPsu, Stratum, Structure};
use super::engine::{Cell, Estimates, Measure, Variable};
use super::exact::{Exact, OutOfRange};
use super::kernel;
use super::AnalysisError;

mod parts;
use parts::{coded_totals, CodeSums, Part, RawSums};

/// Rows per update below which one thread does all columns.
const PARALLEL_ROWS: usize = 20_000;
/// Distinct codes a column may have in one (domain, stratum).
const MAX_CODES: usize = 1024;

/// One value column's sums, per (domain, stratum) cell.
#[derive(Debug, Clone)]
struct ValueColumn {
    name: String,
    /// sums per answer code, codes ascending (for proportions, scores, NPS)
    coded: bool,
    /// sums of the values (for plain means)
    raw: bool,
    codes: Vec<Vec<(f64, CodeSums)>>,
    sums: Vec<RawSums>,
}

#[derive(Debug, Clone)]
struct StratumState {
    name: String,
    rows: i64,
    /// rows with a nonzero weight (the design's df counts their PSUs)
    nonzero: i64,
    /// rows per fpc value (bits); one value per stratum
    fpc: BTreeMap<u64, i64>,
}

/// Running sums of one grouping under one design (see the module docs).
#[derive(Debug, Clone)]
pub struct Running {
    by: Vec<String>,
    weight: Option<String>,
    strata_col: Option<String>,
    fpc_col: Option<String>,
    lonely: LonelyPsu,
    strata: Vec<StratumState>,
    stratum_ix: HashMap<String, u32>,
    /// key values and rows per domain
    domains: Vec<(Vec<String>, i64)>,
    domain_ix: HashMap<Vec<String>, u32>,
    /// (domain, stratum) per cell
    cells: Vec<(u32, u32)>,
    cell_ix: HashMap<(u32, u32), u32>,
    columns: Vec<ValueColumn>,
    column_ix: HashMap<String, usize>,
    rows: i64,
}

fn plain_mean(v: &Variable) -> bool {
    v.measure == Measure::Mean && v.missing_codes.is_empty()
}

fn range(column: &str, e: OutOfRange) -> AnalysisError {
    AnalysisError::Invalid(format!(
        "column `{column}`: the value {} is too large for a running table (at most 2^96 per \
         weighted term)",
        e.0
    ))
}

fn not_held(what: &str) -> AnalysisError {
    AnalysisError::Invalid(format!(
        "a running table was asked to remove {what} it does not hold"
    ))
}

impl Running {
    /// Empty sums for `vars` by `by` under `design`, which must have no clusters (every row
    /// is its own PSU) and at most one fpc column.
    pub fn new(
        design: &DesignSpec,
        by: &[String],
        vars: &[Variable],
    ) -> Result<Self, AnalysisError> {
        design.validate()?;
        if !design.clusters.is_empty() || design.fpc.len() > 1 {
            return Err(AnalysisError::Invalid(
                "running tables are for designs whose PSUs are the rows (no clusters)".into(),
            ));
        }
        let mut r = Running {
            by: by.to_vec(),
            weight: design.weight.clone(),
            strata_col: design.strata.clone(),
            fpc_col: design.fpc.first().cloned(),
            lonely: design.lonely_psu,
            strata: Vec::new(),
            stratum_ix: HashMap::new(),
            domains: Vec::new(),
            domain_ix: HashMap::new(),
            cells: Vec::new(),
            cell_ix: HashMap::new(),
            columns: Vec::new(),
            column_ix: HashMap::new(),
            rows: 0,
        };
        for v in vars {
            if v.profile {
                return Err(AnalysisError::Invalid(format!(
                    "variable `{}`: profile-likelihood starts need the engine, not a running table",
                    v.name
                )));
            }
            let ix = match r.column_ix.get(&v.column) {
                Some(&i) => i,
                None => {
                    r.columns.push(ValueColumn {
                        name: v.column.clone(),
                        coded: false,
                        raw: false,
                        codes: Vec::new(),
                        sums: Vec::new(),
                    });
                    r.column_ix.insert(v.column.clone(), r.columns.len() - 1);
                    r.columns.len() - 1
                }
            };
            let c = &mut r.columns[ix];
            if plain_mean(v) {
                c.raw = true;
            } else {
                c.coded = true;
            }
        }
        Ok(r)
    }

    /// Whether these sums can estimate `vars` (each variable's column is kept in the form
    /// its measure needs).
    pub fn supports(&self, vars: &[Variable]) -> bool {
        vars.iter().all(|v| {
            !v.profile
                && self.column_ix.get(&v.column).is_some_and(|&i| {
                    let c = &self.columns[i];
                    if plain_mean(v) {
                        c.raw
                    } else {
                        c.coded
                    }
                })
        })
    }

    /// Rows held.
    pub fn rows(&self) -> i64 {
        self.rows
    }

    /// Whether every stratum holding rows has the fpc `expected(stratum, rows)` (its rows
    /// all carry that value); true when the design has no fpc.
    pub fn fpc_matches(&self, expected: impl Fn(&str, i64) -> f64) -> bool {
        if self.fpc_col.is_none() {
            return true;
        }
        self.strata.iter().filter(|s| s.rows > 0).all(|s| {
            let want = expected(&s.name, s.rows).to_bits();
            s.fpc.len() == 1 && s.fpc.get(&want) == Some(&s.rows)
        })
    }

    /// The same sums grouped by `by`, a coarser grouping: `key_of` maps each domain's key
    /// values to its key values under `by` (domains that map to the same keys are merged).
    /// The sums are exact, so when `key_of` gives every row's key values under `by`, the
    /// result is the running table of `by` summed from the same rows, bit for bit, at the
    /// cost of the cells instead of the rows.
    pub fn regroup(&self, by: &[String], key_of: impl Fn(&[String]) -> Vec<String>) -> Running {
        let mut out = Running {
            by: by.to_vec(),
            weight: self.weight.clone(),
            strata_col: self.strata_col.clone(),
            fpc_col: self.fpc_col.clone(),
            lonely: self.lonely,
            strata: self.strata.clone(),
            stratum_ix: self.stratum_ix.clone(),
            domains: Vec::new(),
            domain_ix: HashMap::new(),
            cells: Vec::new(),
            cell_ix: HashMap::new(),
            columns: self
                .columns
                .iter()
                .map(|c| ValueColumn {
                    name: c.name.clone(),
                    coded: c.coded,
                    raw: c.raw,
                    codes: Vec::new(),
                    sums: Vec::new(),
                })
                .collect(),
            column_ix: self.column_ix.clone(),
            rows: self.rows,
        };
        let mut to: Vec<u32> = Vec::with_capacity(self.domains.len());
        for (keys, rows) in &self.domains {
            let key = key_of(keys);
            let d = match out.domain_ix.get(&key) {
                Some(&d) => d,
                None => {
                    out.domains.push((key.clone(), 0));
                    let d = (out.domains.len() - 1) as u32;
                    out.domain_ix.insert(key, d);
                    d
                }
            };
            out.domains[d as usize].1 += rows;
            to.push(d);
        }
        for (c, &(d, h)) in self.cells.iter().enumerate() {
            let key = (to[d as usize], h);
            let nc = match out.cell_ix.get(&key) {
                Some(&i) => i as usize,
                None => {
                    out.cells.push(key);
                    out.cell_ix.insert(key, (out.cells.len() - 1) as u32);
                    for col in out.columns.iter_mut() {
                        if col.coded {
                            col.codes.push(Vec::new());
                        }
                        if col.raw {
                            col.sums.push(RawSums::default());
                        }
                    }
                    out.cells.len() - 1
                }
            };
            for (o, i) in out.columns.iter_mut().zip(&self.columns) {
                if let (true, Some(from)) = (o.coded, i.codes.get(c)) {
                    parts::merge_codes(&mut o.codes[nc], from);
                }
                if let (true, Some(from)) = (o.raw, i.sums.get(c)) {
                    o.sums[nc].merge(from);
                }
            }
        }
        out
    }

    /// Adds the rows of `df` (`remove`: takes them away again; they must be rows added
    /// before, with the same values). A value column `df` lacks counts as empty. On an
    /// error the sums are left part-updated: drop them and build afresh.
    pub fn add(&mut self, df: &DataFrame, remove: bool) -> Result<(), AnalysisError> {
        let n = df.height();
        if n == 0 {
            return Ok(());
        }
        let step: i64 = if remove { -1 } else { 1 };
        let w: Vec<f64> = match &self.weight {
            Some(c) => kernel::f64_values(df.column(c)?, f64::NAN)?,
            None => vec![1.0; n],
        };
        if let Some(row) = w.iter().position(|x| x.is_nan() || *x < 0.0) {
            return Err(AnalysisError::BadValue {
                column: self.weight.clone().unwrap_or_default(),
                row,
                msg: "weight is missing or negative".into(),
            });
        }
        // strata
        let strata = match &self.strata_col {
            Some(s) => kernel::encode(df.column(s)?)?,
            None => kernel::Coded::constant(n, "1"),
        };
        let mut s_ids = Vec::with_capacity(strata.card());
        for label in &strata.labels {
            let id = match self.stratum_ix.get(label) {
                Some(&i) => i,
                None if remove => return Err(not_held(&format!("rows of stratum `{label}`"))),
                None => {
                    self.strata.push(StratumState {
                        name: label.clone(),
                        rows: 0,
                        nonzero: 0,
                        fpc: BTreeMap::new(),
                    });
                    let i = (self.strata.len() - 1) as u32;
                    self.stratum_ix.insert(label.clone(), i);
                    i
                }
            };
            s_ids.push(id);
        }
        let fpc = match &self.fpc_col {
            Some(f) => Some(kernel::f64_values(df.column(f)?, f64::NAN)?),
            None => None,
        };
        for (i, &code) in strata.codes.iter().enumerate() {
            let s = &mut self.strata[s_ids[code as usize] as usize];
            s.rows += step;
            if w[i] != 0.0 {
                s.nonzero += step;
            }
            if let Some(f) = fpc.as_ref().map(|f| f[i]).filter(|f| !f.is_nan()) {
                let e = s.fpc.entry(f.to_bits()).or_insert(0);
                *e += step;
                if *e == 0 {
                    s.fpc.remove(&f.to_bits());
                } else if *e < 0 {
                    return Err(not_held("an fpc value"));
                }
            }
        }
        // domains
        let keys: Vec<kernel::Coded> = self
            .by
            .iter()
            .map(|c| kernel::encode(df.column(c)?))
            .collect::<Result<_, _>>()?;
        let refs: Vec<&kernel::Coded> = keys.iter().collect();
        let (dom_codes, tuples) = kernel::combine_many(&refs, n);
        let mut d_ids = Vec::with_capacity(tuples.len());
        for t in &tuples {
            let key: Vec<String> = t
                .iter()
                .zip(&keys)
                .map(|(&k, c)| c.labels[k as usize].clone())
                .collect();
            let id = match self.domain_ix.get(&key) {
                Some(&i) => i,
                None if remove => return Err(not_held("rows of a domain")),
                None => {
                    self.domains.push((key.clone(), 0));
                    let i = (self.domains.len() - 1) as u32;
                    self.domain_ix.insert(key, i);
                    i
                }
            };
            d_ids.push(id);
        }
        // cells
        let (pair_codes, pairs) =
            kernel::combine(&dom_codes, tuples.len(), &strata.codes, strata.card());
        let mut c_ids = Vec::with_capacity(pairs.len());
        for &(d, s) in &pairs {
            let key = (d_ids[d as usize], s_ids[s as usize]);
            let id = match self.cell_ix.get(&key) {
                Some(&i) => i,
                None if remove => return Err(not_held("rows of a domain and stratum")),
                None => {
                    self.cells.push(key);
                    let i = (self.cells.len() - 1) as u32;
                    self.cell_ix.insert(key, i);
                    i
                }
            };
            c_ids.push(id);
        }
        let cell_of: Vec<u32> = pair_codes.iter().map(|&p| c_ids[p as usize]).collect();
        for &d in &dom_codes {
            self.domains[d_ids[d as usize] as usize].1 += step;
        }
        self.rows += step * n as i64;
        if self.rows < 0 || self.domains.iter().any(|d| d.1 < 0) {
            return Err(not_held("more rows than"));
        }
        // value columns, split over the cores for large updates
        let n_cells = self.cells.len();
        let ctx = RowCtx {
            w: &w,
            cell_of: &cell_of,
            remove,
        };
        let work: Vec<(&mut ValueColumn, Option<&Column>)> = self
            .columns
            .iter_mut()
            .map(|c| {
                // each column keeps only the form its variables need
                if c.coded {
                    c.codes.resize_with(n_cells, Vec::new);
                }
                if c.raw {
                    c.sums.resize_with(n_cells, RawSums::default);
                }
                let col = df.column(&c.name).ok();
                (c, col)
            })
            .collect();
        if n < PARALLEL_ROWS || work.len() < 2 {
            for (c, col) in work {
                add_column(c, col, &ctx)?;
            }
            return Ok(());
        }
        let mut work = work;
        let half = work.len() / 2;
        let second = work.split_off(half);
        std::thread::scope(|s| {
            let h = s.spawn(|| -> Result<(), AnalysisError> {
                for (c, col) in second {
                    add_column(c, col, &ctx)?;
                }
                Ok(())
            });
            for (c, col) in work {
                add_column(c, col, &ctx)?;
            }
            match h.join() {
                Ok(r) => r,
                Err(p) => std::panic::resume_unwind(p),
            }
        })
    }

    /// The estimates of `vars` in every domain holding rows, domains in the engine's order
    /// (their key values as text), as [`super::estimate`] reports them (without influence
    /// values: the cells cannot enter contrasts).
    pub fn estimates(&self, vars: &[Variable]) -> Result<Estimates, AnalysisError> {
        if let Some(v) = vars
            .iter()
            .find(|v| !self.supports(std::slice::from_ref(v)))
        {
            return Err(match self.column_ix.get(&v.column) {
                None => AnalysisError::MissingColumn(v.column.clone()),
                Some(_) => AnalysisError::Invalid(format!(
                    "variable `{}`: its column's sums are not kept in the form its measure needs",
                    v.name
                )),
            });
        }
        let popsize = self.popsizes()?;
        // the design's df: PSUs with a nonzero weight minus their strata
        let held: Vec<&StratumState> = self.strata.iter().filter(|s| s.nonzero > 0).collect();
        let degf = held.iter().map(|s| s.nonzero as f64).sum::<f64>() - held.len() as f64;
        let mut order: Vec<usize> = (0..self.domains.len())
            .filter(|&d| self.domains[d].1 > 0)
            .collect();
        order.sort_by(|&a, &b| self.domains[a].0.cmp(&self.domains[b].0));
        // each domain's cells, strata in name order
        let mut dom_cells: Vec<Vec<usize>> = vec![Vec::new(); self.domains.len()];
        for (c, &(d, _)) in self.cells.iter().enumerate() {
            dom_cells[d as usize].push(c);
        }
        for cs in dom_cells.iter_mut() {
            cs.sort_by(|&a, &b| {
                let (ha, hb) = (self.cells[a].1 as usize, self.cells[b].1 as usize);
                self.strata[ha].name.cmp(&self.strata[hb].name)
            });
        }
        let mut cells = Vec::with_capacity(order.len() * vars.len());
        for &d in &order {
            for v in vars {
                let col = &self.columns[self.column_ix[&v.column]];
                cells.push(self.cell(d, &dom_cells[d], col, v, &popsize)?);
            }
        }
        let nrow = self.rows.max(0) as usize;
        let structure = Structure {
            strata: self
                .strata
                .iter()
                .zip(&popsize)
                .map(|(s, p)| Stratum {
                    name: s.name.clone(),
                    n_psu: s.rows.max(0) as usize,
                    popsize: *p,
                })
                .collect(),
            psus: Vec::new(),
            leaves: Vec::new(),
            two_stage: false,
            lonely: self.lonely,
            degf,
            nrow,
        };
        Ok(Estimates {
            by: self.by.clone(),
            domains: order.iter().map(|&d| self.domains[d].0.clone()).collect(),
            variables: vars.iter().map(|v| v.name.clone()).collect(),
            cells,
            degf,
            nrow,
            calibration: None,
            structure: Arc::new(structure),
            calibrated: false,
            keeps_rows: false,
        })
    }

    /// Population size per stratum from the fpc values (R's `as.fpc`: sizes when any value
    /// exceeds 1, else sampling fractions of the stratum's rows).
    fn popsizes(&self) -> Result<Vec<Option<f64>>, AnalysisError> {
        let col = self.fpc_col.clone().unwrap_or_default();
        let mut first: Vec<Option<f64>> = Vec::with_capacity(self.strata.len());
        for s in &self.strata {
            if s.fpc.len() > 1 {
                return Err(AnalysisError::Invalid(format!(
                    "fpc column `{col}` has more than one value in stratum `{}`",
                    s.name
                )));
            }
            first.push(
                s.fpc
                    .keys()
                    .next()
                    .filter(|_| s.rows > 0)
                    .map(|&b| f64::from_bits(b)),
            );
        }
        let present: Vec<f64> = first.iter().flatten().copied().collect();
        if present.is_empty() {
            return Ok(first);
        }
        let is_pop = present.iter().any(|&v| v > 1.0);
        if is_pop && present.iter().any(|&v| v < 1.0) {
            return Err(AnalysisError::Invalid(format!(
                "fpc column `{col}` mixes population sizes (> 1) and sampling fractions (< 1)"
            )));
        }
        first
            .iter()
            .zip(&self.strata)
            .map(|(v, s)| match v {
                None => Ok(None),
                Some(v) => {
                    let n = s.rows as f64;
                    let pop = if is_pop { *v } else { n / v };
                    if pop < n {
                        Err(AnalysisError::Invalid(format!(
                            "fpc column `{col}` implies more than 100% sampling (population \
                             {pop}, sample {n})"
                        )))
                    } else {
                        Ok(Some(pop))
                    }
                }
            })
            .collect()
    }

    /// One domain × variable cell.
    fn cell(
        &self,
        d: usize,
        cells: &[usize],
        col: &ValueColumn,
        v: &Variable,
        popsize: &[Option<f64>],
    ) -> Result<Cell, AnalysisError> {
        let per: Vec<Part> = if plain_mean(v) {
            cells.iter().map(|&c| Part::raw(&col.sums[c])).collect()
        } else {
            cells
                .iter()
                .map(|&c| Part::coded(&col.codes[c], v))
                .collect()
        };
        // domain totals, exact where they are sums
        let mut x = Exact::default();
        let mut ww = Exact::default();
        let (mut n, mut n_pos) = (0i64, 0i64);
        for p in &per {
            x.merge(&p.w);
            ww.merge(&p.ww);
            n += p.n;
            n_pos += p.n_pos;
        }
        let (y, yy) = if plain_mean(v) {
            let (mut y, mut yy) = (Exact::default(), Exact::default());
            for &c in cells {
                y.merge(&col.sums[c].wy());
                yy.merge(&col.sums[c].wyy());
            }
            (y.value(), yy.value())
        } else {
            coded_totals(cells.iter().map(|&c| &col.codes[c]), v)
        };
        let (x, c2) = (x.value(), ww.value());
        let r = y / x;
        let mut total = 0.0;
        let (mut ok, mut nstrat) = (0usize, 0usize);
        let (mut dpsu, mut dstrata) = (0i64, 0i64);
        for (p, &c) in per.iter().zip(cells) {
            if p.n_pos > 0 {
                dpsu += p.n_pos;
                dstrata += 1;
            }
            if p.n == 0 || n == 0 {
                continue;
            }
            nstrat += 1;
            let h = self.cells[c].1 as usize;
            let s = &self.strata[h];
            let s1 = (p.y - r * p.x) / x;
            let s2 = p.spread(r) / (x * x);
            let name = || s.name.clone();
            if let Some(var) = onestrat_sums(
                s1,
                s2,
                p.n as usize,
                s.rows.max(0) as usize,
                popsize[h],
                self.lonely,
                &name,
                1,
            )? {
                total += var;
                ok += 1;
            }
        }
        let variance = if n == 0 {
            f64::NAN
        } else {
            over_strata(total, ok, nstrat)
        };
        let deff = deff(variance, r, yy, y, x, n_pos as f64);
        Ok(Cell {
            n: n.max(0) as u64,
            n_pos: n_pos.max(0) as u64,
            rows: self.domains[d].1.max(0) as u64,
            design_rows: n.max(0) as u64,
            degf: (dpsu - dstrata) as f64,
            profile: None,
            total: x,
            estimate: r,
            variance,
            n_eff: x * x / c2,
            deff,
            infl: Vec::new(),
            infl_kept: false,
        })
    }
}

/// What adding one column's values needs of the rows.
struct RowCtx<'a> {
    w: &'a [f64],
    cell_of: &'a [u32],
    remove: bool,
}

fn add_column(
    c: &mut ValueColumn,
    col: Option<&Column>,
    ctx: &RowCtx,
) -> Result<(), AnalysisError> {
    let Some(col) = col.filter(|c| c.null_count() < c.len()) else {
        return Ok(());
    };
    let vals = kernel::f64_values(col, f64::NAN)?;
    let step: i64 = if ctx.remove { -1 } else { 1 };
    let name = c.name.clone();
    let err = |e| range(&name, e);
    for (i, &y) in vals.iter().enumerate() {
        if y.is_nan() {
            continue;
        }
        let w = ctx.w[i];
        let cell = ctx.cell_of[i] as usize;
        let pos = i64::from(w > 0.0) * step;
        let ww = w * w;
        if c.coded {
            let hist = &mut c.codes[cell];
            let at = match hist.binary_search_by(|(k, _)| k.total_cmp(&y)) {
                Ok(at) => at,
                Err(_) if ctx.remove => return Err(not_held("an answer code")),
                Err(at) => {
                    if hist.len() >= MAX_CODES {
                        return Err(AnalysisError::Invalid(format!(
                            "column `{name}` has more than {MAX_CODES} distinct values in one \
                             domain: estimate it as a mean"
                        )));
                    }
                    hist.insert(at, (y, CodeSums::default()));
                    at
                }
            };
            let s = &mut hist[at].1;
            s.n += step;
            s.n_pos += pos;
            if w == 1.0 {
                s.n1 += step;
            } else {
                s.w.add(w, ctx.remove).map_err(err)?;
                s.ww.add(ww, ctx.remove).map_err(err)?;
            }
            if s.n == 0 {
                hist.remove(at);
            } else if s.n < 0 {
                return Err(not_held("an answer"));
            }
        }
        if c.raw {
            let s = &mut c.sums[cell];
            s.n += step;
            s.n_pos += pos;
            if w == 1.0 {
                s.n1 += step;
                s.y1.add(y, ctx.remove).map_err(err)?;
                s.yy1.add(y * y, ctx.remove).map_err(err)?;
            } else {
                let wy = w * y;
                let wwy = ww * y;
                s.w.add(w, ctx.remove).map_err(err)?;
                s.wy.add(wy, ctx.remove).map_err(err)?;
                s.wyy.add(wy * y, ctx.remove).map_err(err)?;
                s.ww.add(ww, ctx.remove).map_err(err)?;
                s.wwy.add(wwy, ctx.remove).map_err(err)?;
                s.wwyy.add(wwy * y, ctx.remove).map_err(err)?;
            }
            if s.n < 0 {
                return Err(not_held("an answer"));
            }
        }
    }
    Ok(())
}
