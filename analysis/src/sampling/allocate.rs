//! Allocation of a total sample size across strata.
//!
//! Every method first fixes per-stratum bounds `lo_h = min(K, N_h)` (the
//! minimum `K`, but never more than the stratum has) and `hi_h = N_h`, then
//! finds the real-valued allocation `x_h = clamp(λ w_h, lo_h, hi_h)` with
//! `Σ x_h = n` (one `λ`, solved exactly on the piecewise-linear sum), where
//! the weight `w_h` is `N_h` (proportional), `N_h S_h` (Neyman) or 1 (equal).
//! Without binding bounds this is the textbook formula, e.g. `n N_h / N`.
//!
//! Integer rounding (largest remainder): each stratum gets `⌊x_h⌋`; the
//! `r = n − Σ⌊x_h⌋` units left over go one each to the strata with the largest
//! fractional parts `x_h − ⌊x_h⌋` among those below their cap, ties broken by
//! stratum key order (the earlier key wins). The total is exactly `n`
//! whenever `Σ lo_h ≤ n ≤ Σ N_h`; otherwise allocation fails with a message.
//!
//! The thirty-percent preset is the evaluation rules' requirement "check at least 30% of each
//! unit's sub-units": `n_h = min(N_h, max(⌈0.3 N_h⌉, 1, K))`, computed in
//! integers as `⌈3 N_h / 10⌉ = (3 N_h + 9) div 10` so that e.g. N_h = 10 gives 3
//! (the float 0.3 × 10 is 3.0000000000000004). It sets `n` itself.

use super::error::{Result, SamplingError};
use super::size::{ceil_tolerant, half_open_unit};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocation {
    Proportional,
    Neyman,
    Equal,
    ThirtyPercent,
}

impl Allocation {
    pub fn name(self) -> &'static str {
        match self {
            Allocation::Proportional => "proportional",
            Allocation::Neyman => "neyman",
            Allocation::Equal => "equal",
            Allocation::ThirtyPercent => "thirty-percent",
        }
    }
}

/// How large the whole sample is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizeSpec {
    Total(u64),
    /// Fraction of the population in (0, 1]; `n = ⌈f N⌉` (float excess below
    /// 1e-9 ignored).
    Fraction(f64),
}

impl SizeSpec {
    pub fn resolve(self, population: u64) -> Result<u64> {
        match self {
            SizeSpec::Total(n) => {
                if n > population {
                    Err(SamplingError::Option {
                        option: "--size",
                        reason: format!(
                            "{n} is larger than the population of {population} rows; \
                             sampling is without replacement"
                        ),
                    })
                } else {
                    Ok(n)
                }
            }
            SizeSpec::Fraction(f) => {
                if !half_open_unit(f) {
                    return Err(SamplingError::Option {
                        option: "--fraction",
                        reason: format!("{f} must be in (0, 1]"),
                    });
                }
                let n = ceil_tolerant(f * population as f64) as u64;
                Ok(n.min(population))
            }
        }
    }
}

/// One stratum as allocation sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct StratumInput {
    pub key: String,
    pub population: u64,
    /// Standard deviation for Neyman allocation.
    pub sd: Option<f64>,
}

/// Allocates `size` over `strata`. The result is in the order of `strata`;
/// ties in rounding go to the smaller key. `size` must be `None` for the
/// thirty-percent preset and `Some` for the others.
pub fn allocate(
    strata: &[StratumInput],
    size: Option<SizeSpec>,
    method: Allocation,
    min_per_stratum: u64,
) -> Result<Vec<u64>> {
    if strata.is_empty() {
        return Err(SamplingError::Allocation("there are no strata".into()));
    }
    let lo: Vec<u64> = strata
        .iter()
        .map(|s| s.population.min(min_per_stratum))
        .collect();
    let hi: Vec<u64> = strata.iter().map(|s| s.population).collect();
    let population: u64 = hi.iter().sum();

    if method == Allocation::ThirtyPercent {
        if size.is_some() {
            return Err(SamplingError::Option {
                option: "--allocation thirty-percent",
                reason: "the preset sets the sample size itself (30% of each stratum); \
                         drop --size/--fraction"
                    .into(),
            });
        }
        return Ok(strata
            .iter()
            .map(|s| {
                let thirty = (3 * s.population).div_ceil(10);
                thirty.max(1).max(min_per_stratum).min(s.population)
            })
            .collect());
    }

    let Some(size) = size else {
        return Err(SamplingError::Option {
            option: "--size/--fraction",
            reason: format!(
                "{} allocation needs a total sample size: give --size N or --fraction F",
                method.name()
            ),
        });
    };
    let n = size.resolve(population)?;
    let sum_lo: u64 = lo.iter().sum();
    if n < sum_lo {
        return Err(SamplingError::Allocation(format!(
            "the minimum of {min_per_stratum} per stratum over {} strata needs {sum_lo} units, \
             but the sample size is {n}; raise the size or lower --min-per-stratum",
            strata.len()
        )));
    }

    let weights: Vec<f64> = match method {
        Allocation::Proportional => strata.iter().map(|s| s.population as f64).collect(),
        Allocation::Equal => strata
            .iter()
            .map(|s| if s.population > 0 { 1.0 } else { 0.0 })
            .collect(),
        Allocation::Neyman => strata
            .iter()
            .map(|s| match s.sd {
                Some(sd) if sd.is_finite() && sd >= 0.0 => Ok(s.population as f64 * sd),
                Some(sd) => Err(SamplingError::Allocation(format!(
                    "stratum '{}' has standard deviation {sd}; it must be a finite number ≥ 0",
                    s.key
                ))),
                None => Err(SamplingError::Allocation(format!(
                    "Neyman allocation needs a standard deviation for stratum '{}'; give --sd COL",
                    s.key
                ))),
            })
            .collect::<Result<_>>()?,
        Allocation::ThirtyPercent => {
            return Err(SamplingError::Allocation(
                "internal: the thirty-percent preset has no weights".into(),
            ))
        }
    };
    let x = solve_clamped(n, &weights, &lo, &hi).ok_or_else(|| {
        SamplingError::Allocation(format!(
            "{} allocation cannot place {n} units: strata with weight 0 (standard deviation 0) \
             only get their minimum and the others are full; lower the size or raise \
             --min-per-stratum",
            method.name()
        ))
    })?;
    let order = key_order(strata);
    Ok(largest_remainder(n, &x, &lo, &hi, &order))
}

/// Indices of `strata` sorted by key (stable for equal keys).
fn key_order(strata: &[StratumInput]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..strata.len()).collect();
    order.sort_by(|&a, &b| strata[a].key.cmp(&strata[b].key));
    order
}

fn clamp_at(lambda: f64, w: f64, lo: u64, hi: u64) -> f64 {
    (lambda * w).clamp(lo as f64, hi as f64)
}

/// Real allocation `clamp(λ w_h, lo_h, hi_h)` summing to `n`; `None` if no λ
/// reaches `n`. Caller guarantees `Σ lo ≤ n ≤ Σ hi` and `lo ≤ hi`.
fn solve_clamped(n: u64, w: &[f64], lo: &[u64], hi: &[u64]) -> Option<Vec<f64>> {
    let h = w.len();
    let total = |lambda: f64| -> f64 {
        (0..h)
            .map(|i| {
                if w[i] > 0.0 {
                    clamp_at(lambda, w[i], lo[i], hi[i])
                } else {
                    lo[i] as f64
                }
            })
            .sum()
    };
    let nf = n as f64;
    // Breakpoints where a stratum starts or stops being bound.
    let mut bps: Vec<f64> = Vec::with_capacity(2 * h + 1);
    bps.push(0.0);
    for i in 0..h {
        if w[i] > 0.0 {
            bps.push(lo[i] as f64 / w[i]);
            bps.push(hi[i] as f64 / w[i]);
        }
    }
    bps.sort_by(f64::total_cmp);
    bps.dedup();
    // First breakpoint whose total reaches n.
    let k = bps.partition_point(|&b| total(b) < nf);
    if k == bps.len() {
        return None;
    }
    if k == 0 {
        // n equals the total at λ = 0: everyone at the minimum.
        return Some(lo.iter().map(|&l| l as f64).collect());
    }
    let (a, b) = (bps[k - 1], bps[k]);
    // On (a, b) the free strata are those not bound anywhere inside it.
    let mut fixed_sum = 0.0;
    let mut free_w = 0.0;
    let mut free = vec![false; h];
    for i in 0..h {
        if w[i] > 0.0 && (lo[i] as f64) / w[i] <= a && (hi[i] as f64) / w[i] >= b {
            free[i] = true;
            free_w += w[i];
        } else {
            fixed_sum += if w[i] > 0.0 {
                clamp_at((a + b) / 2.0, w[i], lo[i], hi[i])
            } else {
                lo[i] as f64
            };
        }
    }
    if free_w <= 0.0 {
        return Some(
            (0..h)
                .map(|i| {
                    if w[i] > 0.0 {
                        clamp_at(b, w[i], lo[i], hi[i])
                    } else {
                        lo[i] as f64
                    }
                })
                .collect(),
        );
    }
    let rest = nf - fixed_sum;
    Some(
        (0..h)
            .map(|i| {
                if free[i] {
                    // Same expression for equal weights, so ties stay exact.
                    (rest * w[i] / free_w).clamp(lo[i] as f64, hi[i] as f64)
                } else if w[i] > 0.0 {
                    clamp_at((a + b) / 2.0, w[i], lo[i], hi[i])
                } else {
                    lo[i] as f64
                }
            })
            .collect(),
    )
}

/// Largest-remainder rounding of `x` to integers summing to `n`, within
/// `[lo, hi]`; ties by `order` (key order).
fn largest_remainder(n: u64, x: &[f64], lo: &[u64], hi: &[u64], order: &[usize]) -> Vec<u64> {
    let mut out: Vec<u64> = (0..x.len())
        .map(|i| (x[i].floor().max(0.0) as u64).clamp(lo[i], hi[i]))
        .collect();
    let assigned: u64 = out.iter().sum();
    if assigned <= n {
        let mut left = n - assigned;
        let mut cands: Vec<usize> = order.iter().copied().filter(|&i| out[i] < hi[i]).collect();
        // Stable sort: equal fractions keep key order.
        cands.sort_by(|&a, &b| frac(x[b]).total_cmp(&frac(x[a])));
        for &i in &cands {
            if left == 0 {
                break;
            }
            out[i] += 1;
            left -= 1;
        }
        // Only reachable through float error: fill remaining capacity in key order.
        for &i in order {
            while left > 0 && out[i] < hi[i] {
                out[i] += 1;
                left -= 1;
            }
        }
    } else {
        // Float error made the floors overshoot: take back from the smallest
        // fractions, later keys first.
        let mut extra = assigned - n;
        let mut cands: Vec<usize> = order.iter().rev().copied().collect();
        cands.sort_by(|&a, &b| frac(x[a]).total_cmp(&frac(x[b])));
        for &i in &cands {
            if extra > 0 && out[i] > lo[i] {
                out[i] -= 1;
                extra -= 1;
            }
        }
    }
    out
}

fn frac(v: f64) -> f64 {
    v - v.floor()
}
