//! Quantiles of the t and beta distributions, accurate to near machine precision
//! (intervals must agree with R's `qt`/`qbeta` to 1e-7 at the interval ends).

use std::cell::RefCell;
use std::collections::HashMap;

use statrs::distribution::{ContinuousCDF, Normal};
use statrs::function::beta::{beta_reg, ln_beta};

/// Inverse of the regularised incomplete beta function: x with I_x(a, b) = p.
/// Safeguarded Newton on the bracket [0, 1].
pub fn qbeta(p: f64, a: f64, b: f64) -> f64 {
    // NaN parameters fail every check
    let positive = |v: f64| v.partial_cmp(&0.0) == Some(std::cmp::Ordering::Greater);
    if !(0.0..=1.0).contains(&p) || !positive(a) || !positive(b) || !a.is_finite() || !b.is_finite()
    {
        return f64::NAN;
    }
    if p == 0.0 {
        return 0.0;
    }
    if p == 1.0 {
        return 1.0;
    }
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    let lb = ln_beta(a, b);
    // Start from the mean; Newton steps that leave the bracket fall back to bisection.
    let mut x = a / (a + b);
    for _ in 0..300 {
        let f = beta_reg(a, b, x) - p;
        if f == 0.0 {
            return x;
        }
        if f < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        let ln_pdf = (a - 1.0) * x.ln() + (b - 1.0) * (1.0 - x).ln() - lb;
        let pdf = ln_pdf.exp();
        let mut next = x - f / pdf;
        if !(next > lo && next < hi && next.is_finite()) {
            next = 0.5 * (lo + hi);
        }
        if (next - x).abs() <= 1e-16 * x.abs().max(1e-300) || hi - lo <= 1e-17 {
            return next;
        }
        x = next;
    }
    x
}

/// Upper quantile of Student's t: q with P(T > q) = `upper` (0 < upper < 0.5),
/// for df degrees of freedom; df = infinity gives the normal quantile. Each thread keeps
/// the quantiles it computed (a table has few distinct df, one per domain size).
pub fn qt_upper(upper: f64, df: f64) -> f64 {
    if df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if df.is_infinite() || df > 1e12 {
        return qnorm_upper(upper);
    }
    thread_local! {
        static SEEN: RefCell<HashMap<(u64, u64), f64>> = RefCell::new(HashMap::new());
    }
    let key = (upper.to_bits(), df.to_bits());
    if let Some(q) = SEEN.with(|m| m.borrow().get(&key).copied()) {
        return q;
    }
    // P(|T| > q) = I_{df/(df+q^2)}(df/2, 1/2) = 2 * upper
    let x = qbeta(2.0 * upper, df / 2.0, 0.5);
    let q = (df * (1.0 - x) / x).sqrt();
    SEEN.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() > 4096 {
            m.clear();
        }
        m.insert(key, q);
    });
    q
}

/// Upper standard-normal quantile.
pub fn qnorm_upper(upper: f64) -> f64 {
    match Normal::new(0.0, 1.0) {
        Ok(n) => -n.inverse_cdf(upper),
        Err(_) => f64::NAN,
    }
}

/// Two-sided p-value of a t statistic with df degrees of freedom.
pub fn pt_two_sided(t: f64, df: f64) -> f64 {
    if !t.is_finite() {
        return if t.is_nan() { f64::NAN } else { 0.0 };
    }
    if df.is_infinite() || df > 1e12 {
        return match Normal::new(0.0, 1.0) {
            Ok(n) => 2.0 * n.cdf(-t.abs()),
            Err(_) => f64::NAN,
        };
    }
    beta_reg(df / 2.0, 0.5, df / (df + t * t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_r() {
        // R: qt(0.975, c(1, 5, 14)), qt(0.95, 13)
        assert!((qt_upper(0.025, 1.0) - 12.706204736174698).abs() < 1e-11);
        assert!((qt_upper(0.025, 5.0) - 2.570581835636314).abs() < 1e-12);
        assert!((qt_upper(0.025, 14.0) - 2.144_786_687_917_804).abs() < 1e-12);
        assert!((qt_upper(0.05, 13.0) - 1.7709333959868725).abs() < 1e-12);
        assert!((qnorm_upper(0.025) - 1.959963984540054).abs() < 1e-12);
    }

    #[test]
    fn beta_quantiles_match_r() {
        // R: qbeta(0.025, 3.5, 20), qbeta(0.975, 0.2, 40)
        assert!((qbeta(0.025, 3.5, 20.0) - 0.039028732941033525).abs() < 1e-12);
        assert!((qbeta(0.975, 0.2, 40.0) - 0.03743816184008153).abs() < 1e-12);
        assert!((pt_two_sided(2.0, 10.0) - 0.07338803477074483).abs() < 1e-12);
    }
}
