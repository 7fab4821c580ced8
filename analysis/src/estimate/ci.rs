//! Confidence intervals as R's `confint(svymean(...), df = degf(design))` and
//! `svyciprop(..., method = ...)`.

use super::dist::{qbeta, qt_upper};
use super::AnalysisError;

/// Interval method for a proportion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CiMethod {
    /// logit-transformed Wald interval (svyciprop "xlogit"); the default.
    #[default]
    Xlogit,
    /// as "xlogit": the intercept-only `svyglm` logit fit gives the same interval
    /// (svyciprop "logit").
    Logit,
    /// Korn–Graubard (svyciprop "beta").
    Beta,
    /// Survey Wilson score interval: Wilson's formula with the effective sample size
    /// n* = p(1−p)/Var(p) and the t quantile with the design df (not in svyciprop).
    Wilson,
    /// p ± t·SE (svyciprop "mean"); may leave [0, 1].
    Wald,
    /// arcsine-square-root transformed (svyciprop "asin").
    Asin,
    /// t interval for a mean: estimate ± t·SE.
    Mean,
}

impl std::str::FromStr for CiMethod {
    type Err = AnalysisError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "xlogit" => Self::Xlogit,
            "logit" => Self::Logit,
            "beta" | "korn-graubard" => Self::Beta,
            "wilson" => Self::Wilson,
            "wald" | "mean" => Self::Wald,
            "asin" => Self::Asin,
            other => {
                return Err(AnalysisError::Invalid(format!(
                    "interval method `{other}`: use xlogit, beta, wilson or wald"
                )))
            }
        })
    }
}

/// Interval for estimate `p` with standard error `se`, design df `df`, confidence `level`.
/// `nrow` (rows of the design or domain) is used by the Korn–Graubard df adjustment only.
pub fn interval(method: CiMethod, p: f64, se: f64, df: f64, level: f64, nrow: f64) -> (f64, f64) {
    let t = qt_upper((1.0 - level) / 2.0, df);
    interval_with_t(method, p, se, t, level, nrow)
}

/// As [`interval`], with the t quantile `qt_upper((1 - level) / 2, df)` already computed
/// (tables reuse it for every cell of one design).
pub fn interval_with_t(
    method: CiMethod,
    p: f64,
    se: f64,
    t: f64,
    level: f64,
    nrow: f64,
) -> (f64, f64) {
    let alpha = 1.0 - level;
    match method {
        CiMethod::Mean | CiMethod::Wald => (p - t * se, p + t * se),
        CiMethod::Xlogit | CiMethod::Logit => {
            let l = (p / (1.0 - p)).ln();
            let s = se / (p * (1.0 - p));
            let expit = |x: f64| 1.0 / (1.0 + (-x).exp());
            (expit(l - t * s), expit(l + t * s))
        }
        CiMethod::Asin => {
            let a = p.sqrt().asin();
            let s = se / (2.0 * (p * (1.0 - p)).sqrt());
            ((a - t * s).sin().powi(2), (a + t * s).sin().powi(2))
        }
        CiMethod::Beta => {
            let v = se * se;
            let mut n_eff = p * (1.0 - p) / v;
            n_eff *= (qt_upper(alpha / 2.0, nrow - 1.0) / t).powi(2);
            (
                qbeta(alpha / 2.0, n_eff * p, n_eff * (1.0 - p) + 1.0),
                qbeta(1.0 - alpha / 2.0, n_eff * p + 1.0, n_eff * (1.0 - p)),
            )
        }
        CiMethod::Wilson => {
            let ne = p * (1.0 - p) / (se * se);
            let z2 = t * t;
            let ctr = (p + z2 / (2.0 * ne)) / (1.0 + z2 / ne);
            let hw = t * (p * (1.0 - p) / ne + z2 / (4.0 * ne * ne)).sqrt() / (1.0 + z2 / ne);
            (ctr - hw, ctr + hw)
        }
    }
}
