//! Domain cells from rows in group order.
//!
//! A group is one (domain, leaf cluster[, calibration cell]); groups are numbered so that
//! a domain's groups are contiguous and sorted by leaf. The engine gives each row its
//! position in group order (a stable counting sort). Value columns whose values are small
//! integer codes (the usual likert answers) are packed with the weight into one record
//! per row, written straight to the row's position (one scattered write per row for all
//! columns, instead of one random read per row and column), the rows split over the
//! cores. The records are then summed group by group into a small histogram per column
//! and answer code (count, Σw, Σw², count of w > 0, and Σ w/w0 when calibrated), from
//! which every variable reads its sums through a lookup table; the domains are split
//! over the cores. At the end of each domain the variable's estimate, influence totals
//! per leaf and design variance follow in closed form. Columns with other values are
//! summed one by one from their values in group order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use polars::prelude::*;

use super::calibrate::{self, Fitted};
use super::design::Structure;
use super::engine::{Cell, Measure, Variable};
use super::kernel::{column_values, ColVals};
use super::AnalysisError;

impl Variable {
    /// Whether a value (NaN = empty) is a valid answer; mirrors the row filter R sees
    /// after the missing codes are set to NA.
    pub(crate) fn is_valid(&self, v: f64) -> bool {
        if v.is_nan() || self.missing_codes.contains(&v) {
            return false;
        }
        match &self.measure {
            Measure::Score(map) => map.iter().any(|&(c, _)| c == v),
            Measure::Nps => (0.0..=10.0).contains(&v),
            Measure::Mean | Measure::Proportion(_) => true,
        }
    }
    /// The quantity averaged for a valid value.
    pub(crate) fn quantity(&self, v: f64) -> f64 {
        match &self.measure {
            Measure::Mean => v,
            Measure::Proportion(set) => f64::from(u8::from(set.contains(&v))),
            Measure::Score(map) => map.iter().find(|&&(c, _)| c == v).map_or(0.0, |&(_, s)| s),
            Measure::Nps => {
                if v >= 9.0 {
                    1.0
                } else if v <= 6.0 {
                    -1.0
                } else {
                    0.0
                }
            }
        }
    }
}

/// Rows in group order and what each group is.
pub(crate) struct Groups {
    /// each row's position in group order
    pub dest: Vec<u32>,
    /// group g's rows are positions `offsets[g]..offsets[g + 1]`
    pub offsets: Vec<usize>,
    /// leaf and calibration cell of each group
    pub leaf: Vec<u32>,
    pub cell: Vec<u32>,
    /// domain d's groups are `dom_groups[d]..dom_groups[d + 1]`
    pub dom_groups: Vec<usize>,
}

/// Per domain: its rows (any answer).
pub(crate) struct DomainInfo {
    pub rows: u64,
}

/// What the variance of a calibrated design needs.
pub(crate) struct CalContext<'a> {
    pub fit: &'a Fitted,
    pub cell_w0: &'a [f64],
    pub cell_cnt: &'a [f64],
    pub leaf_cell_w0: &'a [(u32, usize, f64)],
}

/// Everything the workers share.
pub(crate) struct Context<'a> {
    pub groups: &'a Groups,
    pub domains: &'a [DomainInfo],
    pub structure: &'a Structure,
    pub cal: Option<CalContext<'a>>,
    /// (calibrated) weights and w / w0, in row order
    pub w: &'a [f64],
    pub ratio: Option<&'a [f64]>,
    /// rows of the sample
    pub nrow: u64,
    /// post-stratified or raked: R's subsets of such a design keep every row (weight 0
    /// outside), so the design a domain's interval sees has all rows
    pub keeps_rows: bool,
}

/// Sums of one group for one variable: n, n with w > 0, Σw·x, Σw·y, Σw·y², Σw²·x,
/// Σ(w/w0)·x, Σ(w/w0)·y (x: valid answer, y: its quantity).
type St = [f64; 8];

/// An error with the (domain, variable) it belongs to, so the first in output order is
/// reported.
type Failed = (usize, usize, AnalysisError);

/// Cells with their (domain, variable), or the first error.
type Placed = Result<Vec<(usize, usize, Cell)>, Failed>;

/// Phase timings are `tracing` debug events of target `pingyi_analysis::phases` (benchmarks
/// turn them on with `RUST_LOG=pingyi_analysis::phases=debug`); the crate never prints.
fn phases_on() -> bool {
    tracing::enabled!(target: "pingyi_analysis::phases", tracing::Level::DEBUG)
}

fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A pointer shared by threads that write disjoint positions.
#[derive(Clone, Copy)]
struct Shared<T>(*mut T);
// SAFETY: only used to write positions that no other thread writes (each row has its own
// destination), while the owning buffer outlives the scoped threads.
unsafe impl<T> Send for Shared<T> {}
unsafe impl<T> Sync for Shared<T> {}
impl<T> Shared<T> {
    fn get(self) -> *mut T {
        self.0
    }
}

/// `vals` moved to group order.
fn scatter<T: Copy + Default>(vals: &[T], dest: &[u32]) -> Vec<T> {
    let mut out = vec![T::default(); vals.len()];
    for (&v, &d) in vals.iter().zip(dest) {
        out[d as usize] = v;
    }
    out
}

/// Run `f(t)` for t in 0..n on scoped threads (inline when n == 1).
fn par<R: Send>(n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    if n <= 1 {
        return vec![f(0)];
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .map(|t| {
                scope.spawn({
                    let f = &f;
                    move || f(t)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(r) => r,
                Err(p) => std::panic::resume_unwind(p),
            })
            .collect()
    })
}

/// A value column of small integer codes, renumbered densely, with the lookup of each
/// variable on it.
struct CodeCol {
    /// dense code per row
    codes: Vec<u8>,
    /// number of dense codes
    kk: usize,
    /// offset of this column's codes in the shared histogram
    base: usize,
    /// (variable index, (valid, quantity) per dense code)
    vars: Vec<(usize, Vec<(bool, f64)>)>,
}

fn code_col(codes: Vec<u8>, ks: &[usize], vars: &[Variable]) -> CodeCol {
    let mut present = [false; 256];
    for &c in &codes {
        present[c as usize] = true;
    }
    let mut dense = [0u8; 256];
    let mut values: Vec<u8> = Vec::new();
    for (c, (&p, slot)) in present.iter().zip(dense.iter_mut()).enumerate() {
        if p {
            *slot = values.len() as u8;
            values.push(c as u8);
        }
    }
    let mut codes = codes;
    for c in codes.iter_mut() {
        *c = dense[*c as usize];
    }
    let luts = ks
        .iter()
        .map(|&k| {
            let v = &vars[k];
            let lut = values
                .iter()
                .map(|&c| {
                    let x = if c == 255 { f64::NAN } else { f64::from(c) };
                    if v.is_valid(x) {
                        (true, v.quantity(x))
                    } else {
                        (false, 0.0)
                    }
                })
                .collect();
            (k, lut)
        })
        .collect();
    CodeCol {
        codes,
        kk: values.len(),
        base: 0,
        vars: luts,
    }
}

/// The value columns read and coded, ready for [`domain_cells`].
pub(crate) struct ValueColumns<'v> {
    code_cols: Vec<CodeCol>,
    raw_cols: Vec<(Vec<f64>, Vec<usize>)>,
    vars: &'v [Variable],
}

/// Read the value columns of `vars` (codes when every value is a small integer, raw values
/// otherwise), `threads` columns at a time. Independent of the design, so the engine runs
/// it while it builds the design structure.
pub(crate) fn read_columns<'v>(
    df: &DataFrame,
    vars: &'v [Variable],
    threads: usize,
) -> Result<ValueColumns<'v>, AnalysisError> {
    let t0 = Instant::now();
    let mut columns: Vec<&str> = vars.iter().map(|v| v.column.as_str()).collect();
    columns.sort_unstable();
    columns.dedup();
    let jobs: Vec<(&str, Vec<usize>)> = columns
        .iter()
        .map(|&c| {
            (
                c,
                (0..vars.len()).filter(|&k| vars[k].column == c).collect(),
            )
        })
        .collect();
    let nw = threads.clamp(1, jobs.len().max(1));
    let next = AtomicUsize::new(0);
    enum Read {
        Codes(CodeCol),
        Raw(Vec<f64>),
    }
    let read = par(nw, |_| -> Result<Vec<(usize, Read)>, AnalysisError> {
        let mut got = Vec::new();
        loop {
            let j = next.fetch_add(1, Ordering::Relaxed);
            let Some((name, ks)) = jobs.get(j) else {
                return Ok(got);
            };
            got.push((
                j,
                match column_values(df.column(name)?)? {
                    ColVals::Codes(c) => Read::Codes(code_col(c, ks, vars)),
                    ColVals::Raw(r) => Read::Raw(r),
                },
            ));
        }
    });
    let mut all: Vec<(usize, Read)> = Vec::new();
    for r in read {
        all.extend(r?);
    }
    all.sort_by_key(|(j, _)| *j);
    let mut out = ValueColumns {
        code_cols: Vec::new(),
        raw_cols: Vec::new(),
        vars,
    };
    for (j, v) in all {
        match v {
            Read::Codes(c) => out.code_cols.push(c),
            Read::Raw(r) => out.raw_cols.push((r, jobs[j].1.clone())),
        }
    }
    if phases_on() {
        tracing::debug!(target: "pingyi_analysis::phases", seconds = t0.elapsed().as_secs_f64(), "read value columns");
    }
    Ok(out)
}

/// Cells of every domain × variable, `out[d * vars.len() + k]`.
pub(crate) fn domain_cells(cols: ValueColumns, ctx: &Context) -> Result<Vec<Cell>, AnalysisError> {
    let t0 = Instant::now();
    let ValueColumns {
        mut code_cols,
        raw_cols,
        vars,
    } = cols;
    let nd = ctx.domains.len();
    let nv = vars.len();
    let mut slots: Vec<Option<Cell>> = (0..nd * nv).map(|_| None).collect();
    let mut first_err: Option<Failed> = None;
    let mut keep = |r: Placed| match r {
        Ok(cells) => {
            for (d, k, c) in cells {
                slots[d * nv + k] = Some(c);
            }
        }
        Err(e) => {
            if first_err.as_ref().is_none_or(|f| (e.0, e.1) < (f.0, f.1)) {
                first_err = Some(e);
            }
        }
    };
    // code columns in chunks that fit a 32-byte record with the weight
    for chunk in code_cols.chunks_mut(24) {
        for r in code_chunk(chunk, vars, ctx) {
            keep(r);
        }
    }
    if phases_on() {
        tracing::debug!(target: "pingyi_analysis::phases", seconds = t0.elapsed().as_secs_f64(), "code columns");
    }
    if !raw_cols.is_empty() {
        let ws = scatter(ctx.w, &ctx.groups.dest);
        let rs = ctx.ratio.map(|r| scatter(r, &ctx.groups.dest));
        let next = AtomicUsize::new(0);
        let nw = workers().clamp(1, raw_cols.len());
        let done = par(nw, |_| {
            let mut out = Vec::new();
            loop {
                let j = next.fetch_add(1, Ordering::Relaxed);
                let Some((raw, ks)) = raw_cols.get(j) else {
                    return out;
                };
                out.push(raw_column(raw, ks, vars, &ws, rs.as_deref(), ctx));
            }
        });
        for r in done.into_iter().flatten() {
            keep(r);
        }
    }
    if let Some((_, _, e)) = first_err {
        return Err(e);
    }
    slots
        .into_iter()
        .map(|c| c.ok_or_else(|| AnalysisError::Invalid("internal: missing domain cell".into())))
        .collect()
}

/// The weight at the start of a record.
#[inline]
fn weight(r: &[u8]) -> f64 {
    let mut wb = [0u8; 8];
    wb.copy_from_slice(&r[..8]);
    f64::from_ne_bytes(wb)
}

/// Cells of the variables on up to 24 code columns: pack (weight, codes) per row in group
/// order, then sum the domains, both split over the cores. Returns one result per worker.
fn code_chunk(cols: &mut [CodeCol], vars: &[Variable], ctx: &Context) -> Vec<Placed> {
    let t0 = Instant::now();
    let g = ctx.groups;
    let n = g.dest.len();
    let nc = cols.len();
    let stride = (8 + nc).div_ceil(8) * 8;
    let mut base = 0;
    for c in cols.iter_mut() {
        c.base = base;
        base += c.kk;
    }
    let nh = base;
    let nw = workers().clamp(1, 64);
    // records: weight (8 bytes) then one dense code per column
    let mut rec = vec![0u8; n * stride];
    {
        let out = Shared(rec.as_mut_ptr());
        let cols = &*cols;
        par(nw, |t| {
            let (lo, hi) = (t * n / nw, (t + 1) * n / nw);
            for (i, &dst) in g.dest.iter().enumerate().take(hi).skip(lo) {
                let at = dst as usize * stride;
                // SAFETY: `dest` is a permutation of 0..n, so each record is written by
                // exactly one row, within the buffer of n * stride bytes.
                unsafe {
                    let r = out.get().add(at);
                    std::ptr::write_unaligned(r.cast::<f64>(), ctx.w[i]);
                    for (k, c) in cols.iter().enumerate() {
                        *r.add(8 + k) = c.codes[i];
                    }
                }
            }
        });
    }
    for c in cols.iter_mut() {
        c.codes = Vec::new();
    }
    let ratio = ctx.ratio.map(|r| scatter(r, &g.dest));
    if phases_on() {
        tracing::debug!(target: "pingyi_analysis::phases", seconds = t0.elapsed().as_secs_f64(), "records");
    }
    // domains split over the workers by rows
    let nd = ctx.domains.len();
    let total: u64 = ctx.domains.iter().map(|d| d.rows).sum();
    let mut cuts = vec![0usize];
    let mut acc = 0u64;
    for (d, info) in ctx.domains.iter().enumerate() {
        acc += info.rows;
        if cuts.len() < nw && acc * nw as u64 >= total * cuts.len() as u64 {
            cuts.push(d + 1);
        }
    }
    while cuts.len() <= nw {
        cuts.push(nd);
    }
    let cols = &*cols;
    let rec = &rec;
    let ratio = ratio.as_deref();
    let res = par(nw, |t| {
        let (d0, d1) = (cuts[t], cuts[t + 1]);
        let slots: Vec<usize> = cols
            .iter()
            .flat_map(|c| c.vars.iter().map(|v| v.0))
            .collect();
        let keep: Vec<bool> = slots.iter().map(|&k| vars[k].keep_influence).collect();
        let mut buf: Vec<Vec<St>> = vec![Vec::new(); slots.len()];
        let mut out: Vec<Vec<Cell>> = (0..slots.len()).map(|_| Vec::new()).collect();
        let bases: Vec<usize> = cols.iter().map(|c| c.base).collect();
        let mut hist = vec![[0.0f64; 4]; nh];
        let mut hr = vec![0.0f64; nh];
        let mut cells = Vec::new();
        for d in d0..d1 {
            for gi in g.dom_groups[d]..g.dom_groups[d + 1] {
                hist.iter_mut().for_each(|h| *h = [0.0; 4]);
                let (a, b) = (g.offsets[gi], g.offsets[gi + 1]);
                let rows = &rec[a * stride..b * stride];
                let mut nonpos = false;
                for r in rows.chunks_exact(stride) {
                    let wi = weight(r);
                    nonpos |= wi <= 0.0 || wi.is_nan();
                    let w2 = wi * wi;
                    for (&bs, &code) in bases.iter().zip(&r[8..8 + nc]) {
                        // SAFETY: each column's codes are dense (< its kk) and the bases
                        // partition 0..nh, so the index is in bounds.
                        let h = unsafe { hist.get_unchecked_mut(bs + code as usize) };
                        h[0] += 1.0;
                        h[1] += wi;
                        h[2] += w2;
                    }
                }
                // count of w > 0: the count itself unless the group has other weights
                if nonpos {
                    for r in rows.chunks_exact(stride) {
                        if weight(r) > 0.0 {
                            for (&bs, &code) in bases.iter().zip(&r[8..8 + nc]) {
                                hist[bs + code as usize][3] += 1.0;
                            }
                        }
                    }
                } else {
                    hist.iter_mut().for_each(|h| h[3] = h[0]);
                }
                if let Some(rs) = ratio {
                    hr.iter_mut().for_each(|h| *h = 0.0);
                    for (r, &ri) in rec[a * stride..b * stride]
                        .chunks_exact(stride)
                        .zip(&rs[a..b])
                    {
                        for (c, &code) in cols.iter().zip(&r[8..8 + nc]) {
                            hr[c.base + code as usize] += ri;
                        }
                    }
                }
                let mut slot = 0;
                for c in cols {
                    let hs = &hist[c.base..c.base + c.kk];
                    let rs = &hr[c.base..c.base + c.kk];
                    for (_, lut) in &c.vars {
                        let mut s: St = [0.0; 8];
                        for ((&(ok, y), h), &r) in lut.iter().zip(hs).zip(rs) {
                            if !ok {
                                continue;
                            }
                            s[0] += h[0];
                            s[1] += h[3];
                            s[2] += h[1];
                            s[3] += y * h[1];
                            s[4] += y * y * h[1];
                            s[5] += h[2];
                            s[6] += r;
                            s[7] += y * r;
                        }
                        buf[slot].push(s);
                        slot += 1;
                    }
                }
            }
            finish_domain(d, &mut buf, &mut out, &keep, ctx)
                .map_err(|(d, k, e)| (d, slots[k], e))?;
        }
        for (k, o) in out.into_iter().enumerate() {
            for (i, c) in o.into_iter().enumerate() {
                cells.push((d0 + i, slots[k], c));
            }
        }
        Ok(cells)
    });
    if phases_on() {
        tracing::debug!(target: "pingyi_analysis::phases", seconds = t0.elapsed().as_secs_f64(), "records + sums");
    }
    res
}

/// Cells of the variables on one column of arbitrary values, summed from the values in
/// group order.
fn raw_column(
    raw: &[f64],
    ks: &[usize],
    vars: &[Variable],
    ws: &[f64],
    ratio: Option<&[f64]>,
    ctx: &Context,
) -> Placed {
    let g = ctx.groups;
    let sorted = scatter(raw, &g.dest);
    let vs: Vec<&Variable> = ks.iter().map(|&k| &vars[k]).collect();
    let keep: Vec<bool> = vs.iter().map(|v| v.keep_influence).collect();
    let mut buf: Vec<Vec<St>> = vec![Vec::new(); vs.len()];
    let mut out: Vec<Vec<Cell>> = (0..vs.len()).map(|_| Vec::new()).collect();
    for d in 0..ctx.domains.len() {
        for gi in g.dom_groups[d]..g.dom_groups[d + 1] {
            let (a, b) = (g.offsets[gi], g.offsets[gi + 1]);
            for (v, bk) in vs.iter().zip(buf.iter_mut()) {
                let mut s: St = [0.0; 8];
                for (j, (&x, &wi)) in sorted[a..b].iter().zip(&ws[a..b]).enumerate() {
                    if !v.is_valid(x) {
                        continue;
                    }
                    let y = v.quantity(x);
                    s[0] += 1.0;
                    s[1] += f64::from(u8::from(wi > 0.0));
                    s[2] += wi;
                    s[3] += wi * y;
                    s[4] += wi * y * y;
                    s[5] += wi * wi;
                    if let Some(r) = ratio {
                        s[6] += r[a + j];
                        s[7] += r[a + j] * y;
                    }
                }
                bk.push(s);
            }
        }
        finish_domain(d, &mut buf, &mut out, &keep, ctx).map_err(|(d, k, e)| (d, ks[k], e))?;
    }
    let mut cells = Vec::new();
    for (k, o) in out.into_iter().enumerate() {
        for (d, c) in o.into_iter().enumerate() {
            cells.push((d, ks[k], c));
        }
    }
    Ok(cells)
}

/// Turn the group sums of domain `d` (in `buf[k]`, one per group) into each variable's
/// cell.
fn finish_domain(
    d: usize,
    buf: &mut [Vec<St>],
    out: &mut [Vec<Cell>],
    keep: &[bool],
    ctx: &Context,
) -> Result<(), (usize, usize, AnalysisError)> {
    let g = ctx.groups;
    let groups = g.dom_groups[d]..g.dom_groups[d + 1];
    let info = &ctx.domains[d];
    for (k, (stats, o)) in buf.iter_mut().zip(out.iter_mut()).enumerate() {
        let mut t: St = [0.0; 8];
        for s in stats.iter() {
            for (a, b) in t.iter_mut().zip(s) {
                *a += b;
            }
        }
        let [n, np, wx, wy, wyy, wwx, _, _] = t;
        let r = wy / wx;
        // degf(design[domain, ]) of the valid answers: their PSUs with a nonzero weight
        // minus the strata of those PSUs (groups come in leaf order, leaves in PSU order,
        // PSUs in stratum order)
        let (mut dpsu, mut dstrata) = (0usize, 0usize);
        let (mut last_psu, mut last_h) = (usize::MAX, usize::MAX);
        for (s, gi) in stats.iter().zip(groups.clone()) {
            if s[1] > 0.0 {
                let p = ctx.structure.leaves[g.leaf[gi] as usize].psu;
                if p != last_psu {
                    dpsu += 1;
                    last_psu = p;
                    let h = ctx.structure.psus[p].stratum;
                    if h != last_h {
                        dstrata += 1;
                        last_h = h;
                    }
                }
            }
        }
        let mut infl: Vec<(u32, f64)> = if let Some(cal) = &ctx.cal {
            let nc = cal.cell_w0.len();
            let mut x0 = vec![0.0; nc];
            let mut u0 = vec![0.0; nc];
            let mut dense = vec![0.0; ctx.structure.leaves.len()];
            for (s, gi) in stats.iter().zip(groups.clone()) {
                let c = g.cell[gi] as usize;
                let tz = (s[3] - r * s[2]) / wx;
                x0[c] += tz;
                u0[c] += (s[7] - r * s[6]) / wx;
                dense[g.leaf[gi] as usize] += tz;
            }
            let b = calibrate::residual_coefficients(
                &cal.fit.blocks,
                &x0,
                &u0,
                cal.cell_w0,
                cal.cell_cnt,
            );
            for &(leaf, c, w0) in cal.leaf_cell_w0 {
                dense[leaf as usize] -= w0 * b[c];
            }
            dense
                .into_iter()
                .enumerate()
                .map(|(l, t)| (l as u32, t))
                .collect()
        } else {
            // one group per leaf, already in leaf order
            stats
                .iter()
                .zip(groups.clone())
                .filter(|(s, _)| s[0] > 0.0)
                .map(|(s, gi)| (g.leaf[gi], (s[3] - r * s[2]) / wx))
                .collect()
        };
        stats.clear();
        if n == 0.0 {
            infl.clear();
        }
        let variance = if n == 0.0 {
            f64::NAN
        } else {
            ctx.structure
                .variance(&infl, ctx.cal.is_some())
                .map_err(|e| (d, k, e))?
        };
        // R: svyvar(x) * (psum - nobs) / (psum * nobs), svyvar with n/(n-1)
        let deff = super::design::deff(variance, r, wyy, wy, wx, np);
        o.push(Cell {
            n: n as u64,
            n_pos: np as u64,
            rows: info.rows,
            design_rows: if ctx.keeps_rows { ctx.nrow } else { n as u64 },
            degf: dpsu as f64 - dstrata as f64,
            profile: None,
            total: wx,
            estimate: r,
            variance,
            n_eff: wx * wx / wwx,
            deff,
            // dropped now, not when the table is done: with one PSU per response these are
            // most of an estimate's memory
            infl: if keep[k] { infl } else { Vec::new() },
            infl_kept: keep[k],
        });
    }
    Ok(())
}
