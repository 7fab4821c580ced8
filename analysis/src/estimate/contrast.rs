//! Linear contrasts of domain estimates (R's `svycontrast` on `svyby(..., covmat = TRUE)`)
//! and comparisons between waves as independent samples.

use super::dist::{pt_two_sided, qt_upper};
use super::engine::Estimates;
use super::AnalysisError;

/// A linear combination Σ c_k θ_k of cells of one `Estimates`, with its standard error.
#[derive(Debug, Clone, PartialEq)]
pub struct Contrast {
    pub estimate: f64,
    pub se: f64,
    pub df: f64,
}

impl Contrast {
    /// t statistic against 0
    pub fn t(&self) -> f64 {
        self.estimate / self.se
    }
    /// two-sided p-value with the design df
    pub fn p_value(&self) -> f64 {
        pt_two_sided(self.t(), self.df)
    }
    /// t interval at `level`
    pub fn ci(&self, level: f64) -> (f64, f64) {
        let q = qt_upper((1.0 - level) / 2.0, self.df);
        (self.estimate - q * self.se, self.estimate + q * self.se)
    }
}

/// Σ c_k θ_k over cells given as (cell index, coefficient), covariances included.
pub fn contrast(est: &Estimates, terms: &[(usize, f64)]) -> Result<Contrast, AnalysisError> {
    let estimate = terms.iter().map(|&(i, c)| c * est.cells[i].estimate).sum();
    let v = est.combination_variance(terms)?;
    Ok(Contrast {
        estimate,
        se: v.sqrt(),
        df: est.degf,
    })
}

/// Difference of two estimates from independent samples (e.g. two years): the
/// variance is the sum, df the sum of the two designs' df (as one design stacking
/// both samples with year-specific strata).
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub difference: f64,
    pub se: f64,
    pub t: f64,
    pub df: f64,
    pub p_value: f64,
    pub significant: bool,
}

impl Comparison {
    /// The t interval of the difference at confidence `level` (e.g. 0.95), with the
    /// comparison's df: `difference ± qt(1 − (1 − level)/2, df) · se`.
    pub fn interval(&self, level: f64) -> (f64, f64) {
        let half = qt_upper((1.0 - level) / 2.0, self.df) * self.se;
        (self.difference - half, self.difference + half)
    }
}

pub fn compare_independent(a: (f64, f64, f64), b: (f64, f64, f64), alpha: f64) -> Comparison {
    // tuples are (estimate, se, df); difference is a − b
    let difference = a.0 - b.0;
    let se = (a.1 * a.1 + b.1 * b.1).sqrt();
    let t = difference / se;
    let df = a.2 + b.2;
    let p_value = pt_two_sided(t, df);
    Comparison {
        difference,
        se,
        t,
        df,
        p_value,
        significant: p_value < alpha,
    }
}

/// Difference of two cells of the same design (units in one wave), covariance-aware.
pub fn compare_within(
    est: &Estimates,
    a: usize,
    b: usize,
    alpha: f64,
) -> Result<Comparison, AnalysisError> {
    let c = contrast(est, &[(a, 1.0), (b, -1.0)])?;
    let p_value = c.p_value();
    Ok(Comparison {
        difference: c.estimate,
        se: c.se,
        t: c.t(),
        df: c.df,
        p_value,
        significant: p_value < alpha,
    })
}

/// Year-over-year comparisons along a series of independent samples: for each point
/// (estimate, se, df) in wave order, its comparison with the point before — None for the
/// first point and wherever either point is missing (e.g. a suppressed cell).
pub fn wave_changes(points: &[Option<(f64, f64, f64)>], alpha: f64) -> Vec<Option<Comparison>> {
    points
        .iter()
        .enumerate()
        .map(
            |(i, p)| match (p, i.checked_sub(1).and_then(|j| points[j])) {
                (Some(a), Some(b)) => Some(compare_independent(*a, b, alpha)),
                _ => None,
            },
        )
        .collect()
}

/// One point of a trend series.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendPoint {
    pub wave: String,
    pub estimate: f64,
    pub se: f64,
    /// comparison with the previous wave (None for the first)
    pub change: Option<Comparison>,
}

/// A series over waves estimated from independent samples: (wave, estimate, se, df),
/// in wave order; each point is compared with the one before.
pub fn trend(points: &[(String, f64, f64, f64)], alpha: f64) -> Vec<TrendPoint> {
    points
        .iter()
        .enumerate()
        .map(|(i, p)| TrendPoint {
            wave: p.0.clone(),
            estimate: p.1,
            se: p.2,
            change: (i > 0).then(|| {
                let q = &points[i - 1];
                compare_independent((p.1, p.2, p.3), (q.1, q.2, q.3), alpha)
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_of_a_difference_uses_students_t_with_the_summed_df() {
        // two independent samples with df 4 and 6: df 10; R: qt(0.975, 10) = 2.228138851986274
        let c = compare_independent((0.9, 0.03, 4.0), (0.8, 0.04, 6.0), 0.05);
        assert!((c.difference - 0.1).abs() < 1e-15);
        assert!((c.se - 0.05).abs() < 1e-15);
        assert_eq!(c.df, 10.0);
        let (lo, hi) = c.interval(0.95);
        let half = 2.228_138_851_986_274 * 0.05;
        assert!((lo - (0.1 - half)).abs() < 1e-9, "{lo}");
        assert!((hi - (0.1 + half)).abs() < 1e-9, "{hi}");
        // R: 2 * pt(-2, 10) = 0.07338803
        assert!((c.p_value - 0.073_388_03).abs() < 1e-8, "{}", c.p_value);
        assert!(!c.significant);
    }
}
