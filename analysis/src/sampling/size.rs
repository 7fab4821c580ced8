//! Sample size for estimating a proportion.
//!
//! `n0 = z² p (1 − p) / e²` with `z` the two-sided standard-normal quantile
//! for confidence `C` (`z = Φ⁻¹(1 − (1 − C)/2)`, from statrs);
//! with a population `N`, the finite-population correction
//! `n = N n0 / (N − 1 + n0)`; then `× deff` and `÷ response rate`; finally
//! rounded up. A floating-point excess below 1e-9 over an integer is ignored
//! (so an exact 880 does not become 881), and with a population the result is
//! capped at `N` (one cannot invite more than everyone).

use statrs::distribution::{ContinuousCDF, Normal};

use super::error::{Result, SamplingError};

#[derive(Debug, Clone, PartialEq)]
pub struct SampleSizeSpec {
    /// Margin of error `e`, as a proportion (0.03 = ±3 points).
    pub moe: f64,
    /// Confidence level, e.g. 0.95.
    pub confidence: f64,
    /// Anticipated proportion; 0.5 is the conservative choice.
    pub p: f64,
    pub population: Option<u64>,
    /// Design effect (≥ 1 for clustered designs).
    pub deff: f64,
    /// Expected response rate in (0, 1].
    pub response_rate: f64,
}

impl SampleSizeSpec {
    pub fn new(moe: f64, confidence: f64) -> Self {
        SampleSizeSpec {
            moe,
            confidence,
            p: 0.5,
            population: None,
            deff: 1.0,
            response_rate: 1.0,
        }
    }
}

/// The result with its intermediate values, so a report can show the working.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleSize {
    pub z: f64,
    pub n0: f64,
    /// After the finite-population correction (= n0 without a population).
    pub n_fpc: f64,
    /// After deff and response rate, before rounding.
    pub n_exact: f64,
    pub n: u64,
    /// True when the rounded figure exceeded the population and was capped.
    pub capped: bool,
}

fn bad(option: &'static str, reason: impl Into<String>) -> SamplingError {
    SamplingError::Option {
        option,
        reason: reason.into(),
    }
}

/// x in (0, 1); false for NaN.
fn open_unit(x: f64) -> bool {
    x > 0.0 && x < 1.0
}

/// Finite and > 0.
fn positive(x: f64) -> bool {
    x.is_finite() && x > 0.0
}

/// x in (0, 1]; false for NaN.
pub(crate) fn half_open_unit(x: f64) -> bool {
    x > 0.0 && x <= 1.0
}

/// `ceil`, ignoring floating-point excess below 1e-9.
pub(crate) fn ceil_tolerant(x: f64) -> f64 {
    let r = x.round();
    if (x - r).abs() <= 1e-9 * r.abs().max(1.0) {
        r
    } else {
        x.ceil()
    }
}

pub fn sample_size(spec: &SampleSizeSpec) -> Result<SampleSize> {
    if !open_unit(spec.moe) {
        return Err(bad(
            "--moe",
            format!("{} must be in (0, 1), e.g. 0.03", spec.moe),
        ));
    }
    if !open_unit(spec.confidence) {
        return Err(bad(
            "--confidence",
            format!("{} must be in (0, 1), e.g. 0.95", spec.confidence),
        ));
    }
    if !open_unit(spec.p) {
        return Err(bad(
            "--p",
            format!("{} must be in (0, 1); use 0.5 when unsure", spec.p),
        ));
    }
    if !positive(spec.deff) {
        return Err(bad("--deff", format!("{} must be positive", spec.deff)));
    }
    if !half_open_unit(spec.response_rate) {
        return Err(bad(
            "--response-rate",
            format!("{} must be in (0, 1]", spec.response_rate),
        ));
    }
    if spec.population == Some(0) {
        return Err(bad("--population", "must be at least 1"));
    }
    let normal = Normal::new(0.0, 1.0).map_err(|e| bad("--confidence", e.to_string()))?;
    let z = normal.inverse_cdf(1.0 - (1.0 - spec.confidence) / 2.0);
    let n0 = z * z * spec.p * (1.0 - spec.p) / (spec.moe * spec.moe);
    let n_fpc = match spec.population {
        Some(pop) => {
            let pop = pop as f64;
            pop * n0 / (pop - 1.0 + n0)
        }
        None => n0,
    };
    let n_exact = n_fpc * spec.deff / spec.response_rate;
    let rounded = ceil_tolerant(n_exact);
    let (n, capped) = match spec.population {
        Some(pop) if rounded > pop as f64 => (pop, true),
        _ => (rounded as u64, false),
    };
    Ok(SampleSize {
        z,
        n0,
        n_fpc,
        n_exact,
        n,
        capped,
    })
}
