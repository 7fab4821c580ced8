//! Confidence intervals as R's `svyciprop(..., method = ...)` and
//! `confint(svymean(...), df = ...)` compute them.
//!
//! Every method takes the df it is given; [`super::Estimates::interval`] gives each domain
//! its own, `degf(design[domain, ])`, as `svyby(..., svyciprop)` does.

use super::dist::{qbeta, qnorm_upper, qt_upper};
use super::AnalysisError;
use statrs::distribution::{ContinuousCDF, Normal};

/// Interval method for a proportion (the first six are svyciprop's), or the t interval of
/// a mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CiMethod {
    /// logit-transformed Wald interval: `svyciprop(method = "xlogit")`; the default.
    #[default]
    Xlogit,
    /// Wald interval of the intercept of a quasibinomial `svyglm`: `svyciprop(method =
    /// "logit")`. The same interval as xlogit, except that R passes the t quantile through
    /// a normal confidence level, which breaks (an upper end of NaN) when the t quantile
    /// is beyond about 8.3, e.g. df = 1 at 95 %.
    Logit,
    /// Profile-likelihood interval of that `svyglm`, scaled by its design effect:
    /// `svyciprop(method = "likelihood")`. Needs the per-response start of R's fit, which
    /// [`super::estimate`] records for variables asked to ([`super::Variable::with_profile`]).
    Likelihood,
    /// Korn–Graubard: `svyciprop(method = "beta")`.
    Beta,
    /// Survey Wilson score interval: Wilson's formula with the effective sample size
    /// n* = p(1−p)/Var(p) and the t quantile with the df (not in svyciprop).
    Wilson,
    /// p ± t·SE: `svyciprop(method = "mean")`; may leave [0, 1].
    Wald,
    /// arcsine-square-root transformed: `svyciprop(method = "asin")`. Where the lower end
    /// passes 0 on the arcsine scale R squares its sine anyway, so the interval folds back.
    Asin,
    /// t interval for a mean: estimate ± t·SE (`confint(svymean(...), df = df)`).
    Mean,
}

impl CiMethod {
    /// The name the method is parsed from and shown as.
    pub fn name(self) -> &'static str {
        match self {
            Self::Xlogit => "xlogit",
            Self::Logit => "logit",
            Self::Likelihood => "likelihood",
            Self::Beta => "beta",
            Self::Wilson => "wilson",
            Self::Wald => "wald",
            Self::Asin => "asin",
            Self::Mean => "mean",
        }
    }
    /// Whether every interval of the method lies inside [0, 1] and covers the estimate
    /// (Wald leaves [0, 1]; asin folds back at 0; logit loses its upper end at small df).
    pub fn stays_in_unit_interval(self) -> bool {
        matches!(
            self,
            Self::Xlogit | Self::Likelihood | Self::Beta | Self::Wilson
        )
    }
}

impl std::str::FromStr for CiMethod {
    type Err = AnalysisError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "xlogit" => Self::Xlogit,
            "logit" => Self::Logit,
            "likelihood" => Self::Likelihood,
            "beta" | "korn-graubard" => Self::Beta,
            "wilson" => Self::Wilson,
            "wald" | "mean" => Self::Wald,
            "asin" => Self::Asin,
            other => {
                return Err(AnalysisError::Invalid(format!(
                    "interval method `{other}`: use xlogit, logit, likelihood, beta, wilson, \
                     wald (svyciprop's mean) or asin"
                )))
            }
        })
    }
}

/// R's `expit` in survey (`exp(x) / (1 + exp(x))`: NaN beyond x ≈ 709, as in R).
fn expit(x: f64) -> f64 {
    x.exp() / (1.0 + x.exp())
}

fn pnorm(x: f64) -> f64 {
    Normal::new(0.0, 1.0).map_or(f64::NAN, |n| n.cdf(x))
}

/// Interval for estimate `p` with standard error `se`, df `df`, confidence `level`.
/// `nrow` (rows of the design handed to svyciprop) is used by Korn–Graubard only.
/// [`CiMethod::Likelihood`] needs more than this and gives NaN here; see [`likelihood`].
pub fn interval(method: CiMethod, p: f64, se: f64, df: f64, level: f64, nrow: f64) -> (f64, f64) {
    let t = qt_upper((1.0 - level) / 2.0, df);
    let alpha = 1.0 - level;
    match method {
        CiMethod::Mean | CiMethod::Wald => (p - t * se, p + t * se),
        CiMethod::Xlogit => {
            let l = (p / (1.0 - p)).ln();
            let s = se / (p * (1.0 - p));
            (expit(l - t * s), expit(l + t * s))
        }
        CiMethod::Logit => {
            // confint.svyglm: tlevel = 1 - 2 pnorm(qt(alpha/2, df)), then a normal
            // interval at that level
            let l = (p / (1.0 - p)).ln();
            let s = se / (p * (1.0 - p));
            if df <= 0.0 {
                return (f64::NAN, f64::NAN);
            }
            let tlevel = 1.0 - 2.0 * pnorm(-t);
            let a = (1.0 - tlevel) / 2.0;
            let z = qnorm_upper(a);
            let lo = if a == 0.0 { f64::NEG_INFINITY } else { -z };
            let hi = if a == 0.0 { f64::INFINITY } else { z };
            (expit(l + lo * s), expit(l + hi * s))
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
            if n_eff == f64::INFINITY {
                // SE 0 (e.g. a census stratum that answered in full, fpc 1 − n/N = 0): the
                // interval's limit as n_eff grows, the estimate itself (R's qbeta(., Inf, Inf)
                // is the point mass at 1/2, which is no interval around p)
                return (p, p);
            }
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
        CiMethod::Likelihood => (f64::NAN, f64::NAN),
    }
}

/// What the profile-likelihood interval of a proportion needs beyond estimate and variance:
/// the sums of the domain's valid answers, the sizes R's `svyglm` sees, and the first
/// iteration of its fit (the only one that needs each response: R starts every response
/// at its own fitted value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Σw over the valid answers of the domain
    pub total: f64,
    /// Σw·y over them (y is 0 or 1)
    pub hits: f64,
    /// valid answers with a nonzero weight (svyvar's n in the dispersion)
    pub n_pos: f64,
    /// rows of the design handed to svyglm (its weights are rescaled to mean 1 over them)
    pub design_rows: f64,
    /// rows of the fit (rows of that design with an answer)
    pub fit_rows: f64,
    /// first iteration of the fit with weights W = w·design_rows/total: Σ working weight,
    /// Σ working weight × working response, and the deviance at the start
    pub start: IrlsStart,
}

/// The first IRLS iteration of R's `glm.fit` on the domain's valid answers.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct IrlsStart {
    pub sum_w: f64,
    pub sum_wz: f64,
    pub deviance: f64,
}

const THRESH: f64 = 30.0;

/// R's binomial logit inverse link (C `logit_linkinv`).
pub(crate) fn linkinv(eta: f64) -> f64 {
    let t = if eta < -THRESH {
        f64::EPSILON
    } else if eta > THRESH {
        1.0 / f64::EPSILON
    } else {
        eta.exp()
    };
    t / (1.0 + t)
}

/// R's binomial logit dμ/dη (C `logit_mu_eta`).
pub(crate) fn mu_eta(eta: f64) -> f64 {
    if !(-THRESH..=THRESH).contains(&eta) {
        f64::EPSILON
    } else {
        let op = 1.0 + eta.exp();
        eta.exp() / (op * op)
    }
}

/// `y log(y / μ)`, 0 at y = 0 (R's `y_log_y`).
pub(crate) fn y_log_y(y: f64, mu: f64) -> f64 {
    if y != 0.0 {
        y * (y / mu).ln()
    } else {
        0.0
    }
}

/// One response's contribution to [`IrlsStart`]: prior weight `w` (already rescaled),
/// answer `y` in [0, 1]. Zero weights contribute nothing.
pub fn irls_start_add(acc: &mut IrlsStart, w: f64, y: f64) {
    if w <= 0.0 {
        return;
    }
    let m = (w * y + 0.5) / (w + 1.0);
    let eta = (m / (1.0 - m)).ln();
    let mu = linkinv(eta);
    acc.deviance += 2.0 * w * (y_log_y(y, mu) + y_log_y(1.0 - y, 1.0 - mu));
    let me = mu_eta(eta);
    if me == 0.0 {
        return;
    }
    let z = eta + (y - mu) / me;
    let ww = w * me * me / (mu * (1.0 - mu));
    acc.sum_w += ww;
    acc.sum_wz += ww * z;
}

/// `svyciprop(method = "likelihood")` for a proportion `p` with variance `var`, df `df`.
///
/// R fits the intercept of a quasibinomial `svyglm` (IRLS, repeated here from the recorded
/// first iteration), profiles its deviance over the intercept in at most 9 steps each way
/// (MASS's `profile.glm`, the deviance divided by the design-based dispersion), and reads
/// the ends off an FMM spline of the profile at ±t·√λ, λ the design effect of the
/// intercept. NaN when R fails or the profile does not reach an end (R's NA).
pub fn likelihood(p: f64, var: f64, df: f64, level: f64, prof: &Profile) -> (f64, f64) {
    let nan = (f64::NAN, f64::NAN);
    // NaN fails every comparison, so it lands here too
    let usable = p > 0.0 && p < 1.0 && var > 0.0 && df > 0.0 && prof.n_pos >= 2.0;
    if !usable {
        return nan;
    }
    let c = prof.design_rows / prof.total;
    let (sw, swy) = (c * prof.total, c * prof.hits);
    let dev = |b: f64| {
        let mu = linkinv(b);
        2.0 * (swy * (1.0 / mu).ln() + (sw - swy) * (1.0 / (1.0 - mu)).ln())
    };
    // IRLS: iteration 1 from each response's start, then from the common fit
    let st = prof.start;
    let mut b = st.sum_wz / st.sum_w;
    let mut naive_inv = st.sum_w;
    let mut devold = st.deviance;
    let mut d = dev(b);
    let mut it = 1;
    while (d - devold).abs() / (d.abs() + 0.1) >= 1e-8 && it < 25 {
        devold = d;
        it += 1;
        let mu = linkinv(b);
        let me = mu_eta(b);
        naive_inv = sw * me * me / (mu * (1.0 - mu));
        b += (swy / sw - mu) / me;
        d = dev(b);
    }
    let mu_f = linkinv(b);
    let var_b = var / mu_eta(b).powi(2);
    let se_b = var_b.sqrt();
    let lambda = var_b * naive_inv;
    let q = -qt_upper((1.0 - level) / 2.0, df);
    let alpha = pnorm(q * lambda.sqrt()) / 2.0;
    let zmax = qt_upper(alpha / 2.0, prof.fit_rows - 1.0);
    if !zmax.is_finite() {
        return nan;
    }
    let del = zmax / 5.0;
    // dispersion: svyvar of the Pearson residuals (y - μ)/√(μ(1-μ)) over the domain
    let vf = mu_f * (1.0 - mu_f);
    let (s1, s0, s) = (prof.hits, prof.total - prof.hits, prof.total);
    let xbar = (s1 * (1.0 - mu_f) - s0 * mu_f) / vf.sqrt() / s;
    let r1 = (1.0 - mu_f) / vf.sqrt() - xbar;
    let r0 = -mu_f / vf.sqrt() - xbar;
    let n = prof.n_pos;
    let phi = (s1 * r1 * r1 + s0 * r0 * r0) * n / (n - 1.0) / s;
    let d0 = dev(b);
    let mut pts: Vec<(f64, f64)> = vec![(0.0, b)];
    for sgn in [-1.0, 1.0] {
        let mut z: f64 = 0.0;
        let mut step = 0;
        loop {
            step += 1;
            if step >= 10 || z.abs() >= zmax {
                break;
            }
            let bi = b + sgn * f64::from(step) * del * se_b;
            let mut zz = (dev(bi) - d0) / phi;
            if zz > -0.001 {
                zz = zz.max(0.0);
            } else {
                // R: "profiling has found a better solution"
                return nan;
            }
            z = sgn * zz.sqrt();
            pts.push((z, bi));
        }
    }
    // order by z (stable, as R's order())
    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
    let xs: Vec<f64> = pts.iter().map(|p| p.1).collect();
    let ys: Vec<f64> = pts.iter().map(|p| p.0).collect();
    let Some((sx, sy)) = spline_fmm_grid(&xs, &ys) else {
        return nan;
    };
    let cut = q * lambda.sqrt();
    let lo = approx_linear(&sy, &sx, cut);
    let hi = approx_linear(&sy, &sx, -cut);
    (expit(lo), expit(hi))
}

/// Sort `(x, y)` by x and average y over equal x (R's `regularize.values(ties = mean)`).
fn regularize(x: &[f64], y: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&a, &b| x[a].total_cmp(&x[b]));
    let mut ox: Vec<f64> = Vec::with_capacity(x.len());
    let mut oy: Vec<f64> = Vec::with_capacity(x.len());
    let mut count: Vec<f64> = Vec::with_capacity(x.len());
    for i in idx {
        if ox.last() == Some(&x[i]) {
            if let (Some(s), Some(c)) = (oy.last_mut(), count.last_mut()) {
                *s += y[i];
                *c += 1.0;
            }
        } else {
            ox.push(x[i]);
            oy.push(y[i]);
            count.push(1.0);
        }
    }
    for (s, c) in oy.iter_mut().zip(&count) {
        *s /= c;
    }
    (ox, oy)
}

/// R's `spline(x, y)` with its defaults: the Forsythe–Malcolm–Moler cubic spline through
/// the points, evaluated at `3 n` equally spaced x from min to max. None below 2 points.
fn spline_fmm_grid(x: &[f64], y: &[f64]) -> Option<(Vec<f64>, Vec<f64>)> {
    let (x, y) = regularize(x, y);
    let n = x.len();
    if n < 2 {
        return None;
    }
    let (b, c, d) = fmm_coefficients(&x, &y);
    let nout = 3 * n;
    let (from, to) = (x[0], x[n - 1]);
    let by = (to - from) / (nout - 1) as f64;
    let xout: Vec<f64> = (0..nout)
        .map(|i| {
            if i == 0 {
                from
            } else if i == nout - 1 {
                to
            } else if i < nout / 2 {
                from + i as f64 * by
            } else {
                to - (nout - 1 - i) as f64 * by
            }
        })
        .collect();
    let mut k = 0usize;
    let yout = xout
        .iter()
        .map(|&u| {
            // the node k with x[k] <= u <= x[k + 1] (the last node beyond the end)
            if u < x[k] || (k + 1 < n && x[k + 1] < u) {
                let (mut i, mut j) = (0usize, n);
                while j > i + 1 {
                    let m = (i + j) / 2;
                    if u < x[m] {
                        j = m;
                    } else {
                        i = m;
                    }
                }
                k = i;
            }
            let dx = u - x[k];
            y[k] + dx * (b[k] + dx * (c[k] + dx * d[k]))
        })
        .collect();
    Some((xout, yout))
}

/// Coefficients of the FMM cubic spline through (x, y), x increasing, n >= 2:
/// s(u) = y[i] + b[i]·h + c[i]·h² + d[i]·h³ on [x[i], x[i+1]], h = u − x[i]. The end
/// conditions match the third derivatives of the cubics through the first and the last
/// four points (none with three points: the ends are then free of curvature change).
fn fmm_coefficients(x: &[f64], y: &[f64]) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let n = x.len();
    let mut b = vec![0.0; n];
    let mut c = vec![0.0; n];
    let mut d = vec![0.0; n];
    if n < 3 {
        let slope = (y[1] - y[0]) / (x[1] - x[0]);
        b[0] = slope;
        b[1] = slope;
        return (b, c, d);
    }
    // tridiagonal system for the second-derivative terms: diagonal b, off-diagonal d,
    // right-hand side c (divided differences)
    d[0] = x[1] - x[0];
    c[1] = (y[1] - y[0]) / d[0];
    for i in 1..n - 1 {
        d[i] = x[i + 1] - x[i];
        b[i] = 2.0 * (d[i - 1] + d[i]);
        c[i + 1] = (y[i + 1] - y[i]) / d[i];
        c[i] = c[i + 1] - c[i];
    }
    b[0] = -d[0];
    b[n - 1] = -d[n - 2];
    c[0] = 0.0;
    c[n - 1] = 0.0;
    if n > 3 {
        let third_first = c[2] / (x[3] - x[1]) - c[1] / (x[2] - x[0]);
        let third_last = c[n - 2] / (x[n - 1] - x[n - 3]) - c[n - 3] / (x[n - 2] - x[n - 4]);
        c[0] = third_first * d[0] * d[0] / (x[3] - x[0]);
        c[n - 1] = -third_last * d[n - 2] * d[n - 2] / (x[n - 1] - x[n - 4]);
    }
    // elimination, then back substitution
    for i in 1..n {
        let t = d[i - 1] / b[i - 1];
        b[i] -= t * d[i - 1];
        c[i] -= t * c[i - 1];
    }
    c[n - 1] /= b[n - 1];
    for i in (0..n - 1).rev() {
        c[i] = (c[i] - d[i] * c[i + 1]) / b[i];
    }
    // polynomial coefficients
    b[n - 1] = (y[n - 1] - y[n - 2]) / d[n - 2] + d[n - 2] * (c[n - 2] + 2.0 * c[n - 1]);
    for i in 0..n - 1 {
        b[i] = (y[i + 1] - y[i]) / d[i] - d[i] * (c[i + 1] + 2.0 * c[i]);
        d[i] = (c[i + 1] - c[i]) / d[i];
        c[i] *= 3.0;
    }
    c[n - 1] *= 3.0;
    d[n - 1] = d[n - 2];
    (b, c, d)
}

/// R's `approx(x, y, xout = v)` (linear, rule 1: NaN outside the range of x).
fn approx_linear(x: &[f64], y: &[f64], v: f64) -> f64 {
    let (x, y) = regularize(x, y);
    let n = x.len();
    if n == 0 || v.is_nan() || v < x[0] || v > x[n - 1] {
        return f64::NAN;
    }
    let (mut i, mut j) = (0usize, n - 1);
    while i + 1 < j {
        let m = (i + j) / 2;
        if v < x[m] {
            j = m;
        } else {
            i = m;
        }
    }
    if v == x[j] {
        return y[j];
    }
    if v == x[i] {
        return y[i];
    }
    y[i] + (y[j] - y[i]) * ((v - x[i]) / (x[j] - x[i]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fmm_spline_matches_r() {
        // R: s <- spline(c(0, 1, 2.5, 3, 4.2), c(1, 3, 2, 5, 4)); s$y[c(2, 7, 15)]
        let (sx, sy) = spline_fmm_grid(&[0.0, 1.0, 2.5, 3.0, 4.2], &[1.0, 3.0, 2.0, 5.0, 4.0])
            .unwrap_or_default();
        assert_eq!(sx.len(), 15);
        for (i, want) in [
            (1, 2.573_795_138_329_304_5),
            (6, 1.286_123_870_633_997_2),
            (14, 4.0),
        ] {
            assert!((sy[i] - want).abs() < 1e-12, "{i}: {} vs {want}", sy[i]);
        }
    }

    #[test]
    fn intervals_of_a_zero_se_are_the_estimate() {
        // a census stratum that answered in full: SE 0
        for m in [CiMethod::Beta, CiMethod::Xlogit, CiMethod::Wilson] {
            let (lo, hi) = interval(m, 0.8, 0.0, 12.0, 0.95, 13.0);
            assert_eq!((lo, hi), (0.8, 0.8), "{m:?}");
        }
    }

    #[test]
    fn approx_is_linear_inside_and_nan_outside() {
        let x = [0.0, 1.0, 3.0];
        let y = [0.0, 2.0, 3.0];
        assert_eq!(approx_linear(&x, &y, 2.0), 2.5);
        assert!(approx_linear(&x, &y, 3.5).is_nan());
        // ties are averaged
        assert_eq!(approx_linear(&[0.0, 1.0, 1.0], &[0.0, 1.0, 3.0], 1.0), 2.0);
    }
}
