//! The domain sums: one row per (domain, leaf cluster[, calibration cell]) with, for every
//! variable, Σx, Σx·[w>0], Σw·x, Σw·y, Σw·y², Σw²·x (and Σ(w/w0)·x, Σ(w/w0)·y when
//! calibrated), where x marks a valid answer and y is its value.
//!
//! Polars finds the groups once; each value column is then gathered into group order and
//! summed group by group in registers, the columns shared out over the cores. Evaluating ~120
//! `sum` expressions in a polars aggregation instead costs one full-length temporary per
//! expression, several times slower on 10 million rows.

use polars::prelude::*;

use super::engine::{Measure, Variable};
use super::AnalysisError;

impl Variable {
    /// Whether a value (NaN = empty) is a valid answer; mirrors the row filter R sees
    /// after the missing codes are set to NA.
    fn is_valid(&self, v: f64) -> bool {
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
    fn quantity(&self, v: f64) -> f64 {
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

/// A column as f64 values, empty cells as NaN.
fn values(df: &DataFrame, name: &str) -> Result<Vec<f64>, AnalysisError> {
    let c = df.column(name)?.cast(&DataType::Float64)?;
    Ok(c.f64()?.iter().map(|o| o.unwrap_or(f64::NAN)).collect())
}

const STATS: [&str; 8] = ["n", "np", "wx", "wy", "wyy", "wwx", "rx", "ry"];

/// Per variable, (valid, quantity) for the codes 0..=254; slot 255 marks an empty or
/// out-of-range value in the code representation and is never valid.
type Lut = [(bool, f64); 256];

fn lut(var: &Variable) -> Lut {
    let mut t = [(false, 0.0f64); 256];
    for (c, slot) in t.iter_mut().enumerate().take(255) {
        let v = c as f64;
        if var.is_valid(v) {
            *slot = (true, var.quantity(v));
        }
    }
    t
}

/// A value column in group order: small integer codes (the usual likert answers, one
/// byte each, so gathering them stays in cache) or raw values.
enum Values {
    Codes(Vec<u8>),
    Raw(Vec<f64>),
}

impl Values {
    fn gathered(raw: Vec<f64>, order: &[IdxSize]) -> Self {
        let codes: Option<Vec<u8>> = raw
            .iter()
            .map(|&x| {
                if x.is_nan() {
                    Some(255)
                } else if (0.0..255.0).contains(&x) && x.fract() == 0.0 {
                    Some(x as u8)
                } else {
                    None
                }
            })
            .collect();
        match codes {
            Some(c) => {
                drop(raw);
                Values::Codes(order.iter().map(|&i| c[i as usize]).collect())
            }
            None => Values::Raw(gather(&raw, order)),
        }
    }
}

/// Sums of one value column's variables over the groups: `out[k][stat][group]`. The
/// values come in group order (`offsets[g]..offsets[g + 1]` is group g), so every group
/// is summed in registers from contiguous memory.
fn column_sums(
    v: &Values,
    w: &[f64],
    ratio: Option<&[f64]>,
    offsets: &[usize],
    vars: &[&Variable],
) -> Vec<Vec<Vec<f64>>> {
    let luts: Vec<Lut> = vars.iter().map(|v| lut(v)).collect();
    match v {
        Values::Codes(c) => sums_with(c, w, ratio, offsets, vars.len(), |k, x: u8| {
            luts[k][x as usize]
        }),
        Values::Raw(r) => sums_with(r, w, ratio, offsets, vars.len(), |k, x: f64| {
            if (0.0..255.0).contains(&x) && x.fract() == 0.0 {
                luts[k][x as usize]
            } else if vars[k].is_valid(x) {
                (true, vars[k].quantity(x))
            } else {
                (false, 0.0)
            }
        }),
    }
}

fn sums_with<T: Copy>(
    v: &[T],
    w: &[f64],
    ratio: Option<&[f64]>,
    offsets: &[usize],
    nvars: usize,
    look: impl Fn(usize, T) -> (bool, f64),
) -> Vec<Vec<Vec<f64>>> {
    let nstat = if ratio.is_some() { 8 } else { 6 };
    let ng = offsets.len() - 1;
    let mut out: Vec<Vec<Vec<f64>>> = (0..nvars)
        .map(|_| (0..nstat).map(|_| vec![0.0; ng]).collect())
        .collect();
    for (k, out_k) in out.iter_mut().enumerate() {
        for (g, o) in offsets.windows(2).enumerate() {
            let (vs, ws) = (&v[o[0]..o[1]], &w[o[0]..o[1]]);
            let rs = ratio.map(|r| &r[o[0]..o[1]]);
            let mut a = [0.0f64; 8];
            for (j, (&val, &wi)) in vs.iter().zip(ws).enumerate() {
                let (ok, y) = look(k, val);
                if !ok {
                    continue;
                }
                a[0] += 1.0;
                a[1] += f64::from(u8::from(wi > 0.0));
                a[2] += wi;
                a[3] += wi * y;
                a[4] += wi * y * y;
                a[5] += wi * wi;
                if let Some(r) = rs {
                    a[6] += r[j];
                    a[7] += r[j] * y;
                }
            }
            for (s, &x) in out_k.iter_mut().zip(&a) {
                s[g] = x;
            }
        }
    }
    out
}

/// `values` gathered in `order`.
fn gather(values: &[f64], order: &[IdxSize]) -> Vec<f64> {
    order.iter().map(|&i| values[i as usize]).collect()
}

/// The domain sums table with columns `keys…`, `__rows`, `__wnz`, and per variable k
/// `n{k}`, `np{k}`, `wx{k}`, `wy{k}`, `wyy{k}`, `wwx{k}` (+ `rx{k}`, `ry{k}` when
/// `calibrated`). `lf` holds the keys, the variables' columns, `__w` and `__w0`.
pub(crate) fn domain_sums(
    lf: LazyFrame,
    keys: &[String],
    vars: &[Variable],
    calibrated: bool,
) -> Result<DataFrame, AnalysisError> {
    let mut columns: Vec<String> = vars.iter().map(|v| v.column.clone()).collect();
    columns.sort();
    columns.dedup();
    let mut select: Vec<Expr> = keys.iter().map(|k| col(k.as_str())).collect();
    select.push(col("__w").cast(DataType::Float64));
    select.push(col("__w0").cast(DataType::Float64));
    for (j, c) in columns.iter().enumerate() {
        select.push(col(c.as_str()).alias(format!("__v{j}")));
    }
    let df = lf.select(select).collect()?;
    let n = df.height();
    // rows in group order: one gather per column, then contiguous sums
    let (order, offsets, firsts) = {
        let gb = df.group_by(keys.iter().map(String::as_str))?;
        let groups = gb.get_groups();
        let mut order: Vec<IdxSize> = Vec::with_capacity(n);
        let mut offsets: Vec<usize> = Vec::with_capacity(groups.len() + 1);
        let mut firsts: Vec<IdxSize> = Vec::with_capacity(groups.len());
        offsets.push(0);
        for ind in groups.iter() {
            firsts.push(ind.first());
            match ind {
                GroupsIndicator::Idx((_, idx)) => order.extend_from_slice(idx),
                GroupsIndicator::Slice([first, len]) => order.extend(first..first + len),
            }
            offsets.push(order.len());
        }
        (order, offsets, firsts)
    };
    let w_raw = values(&df, "__w")?;
    let ratio: Option<Vec<f64>> = if calibrated {
        let w0 = values(&df, "__w0")?;
        Some(
            order
                .iter()
                .map(|&i| {
                    let (a, b) = (w_raw[i as usize], w0[i as usize]);
                    if b != 0.0 {
                        a / b
                    } else {
                        0.0
                    }
                })
                .collect(),
        )
    } else {
        None
    };
    let w = gather(&w_raw, &order);
    drop(w_raw);
    let rows: Vec<f64> = offsets.windows(2).map(|o| (o[1] - o[0]) as f64).collect();
    let wnz: Vec<bool> = offsets
        .windows(2)
        .map(|o| w[o[0]..o[1]].iter().any(|&x| x != 0.0))
        .collect();

    // share the value columns out over the cores; each worker casts its own column
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, columns.len().max(1));
    let jobs: Vec<(usize, Vec<usize>)> = columns
        .iter()
        .enumerate()
        .map(|(j, c)| {
            let ks: Vec<usize> = (0..vars.len()).filter(|&k| vars[k].column == *c).collect();
            (j, ks)
        })
        .collect();
    let mut results: Vec<Option<Vec<Vec<Vec<f64>>>>> = vec![None; jobs.len()];
    std::thread::scope(|scope| -> Result<(), AnalysisError> {
        let mut handles = Vec::new();
        for t in 0..workers {
            let (df, jobs, order, offsets, w, ratio) = (&df, &jobs, &order, &offsets, &w, &ratio);
            handles.push(scope.spawn(move || {
                let mut out = Vec::new();
                for (j, ks) in jobs.iter().skip(t).step_by(workers) {
                    let v = Values::gathered(values(df, &format!("__v{j}"))?, order);
                    let vs: Vec<&Variable> = ks.iter().map(|&k| &vars[k]).collect();
                    out.push((*j, column_sums(&v, w, ratio.as_deref(), offsets, &vs)));
                }
                Ok::<_, AnalysisError>(out)
            }));
        }
        for h in handles {
            let done = h.join().map_err(|_| {
                AnalysisError::Invalid("internal: a summing thread panicked".into())
            })??;
            for (j, sums) in done {
                results[j] = Some(sums);
            }
        }
        Ok(())
    })?;

    let idx = IdxCa::from_vec("".into(), firsts);
    let mut out = df.select(keys.iter().map(String::as_str))?.take(&idx)?;
    out.with_column(Column::new("__rows".into(), rows))?;
    out.with_column(Column::new("__wnz".into(), wnz))?;
    let nstat = if calibrated { 8 } else { 6 };
    let mut per_var: Vec<Option<Vec<Vec<f64>>>> = vec![None; vars.len()];
    for ((_, ks), sums) in jobs.iter().zip(results) {
        let sums = sums.ok_or_else(|| AnalysisError::Invalid("internal: missing sums".into()))?;
        for (&k, s) in ks.iter().zip(sums) {
            per_var[k] = Some(s);
        }
    }
    for (k, s) in per_var.into_iter().enumerate() {
        let s = s.ok_or_else(|| AnalysisError::Invalid("internal: missing sums".into()))?;
        for (name, vals) in STATS.iter().take(nstat).zip(s) {
            out.with_column(Column::new(format!("{name}{k}").as_str().into(), vals))?;
        }
    }
    Ok(out)
}
