//! One rule for every output: small-cell suppression, and year-over-year comparisons of a
//! satisfaction table (`compare=YEAR`).
//!
//! * **Suppression**: a cell with fewer than `min_cell` valid answers (default
//!   [`MIN_CELL`](super::MIN_CELL)) is hidden, and in any margin with exactly one hidden cell
//!   the smallest other cell too, so it cannot be recovered by subtraction
//!   (`pingyi_analysis::estimate::disclosure::suppress`). Satisfaction tables (pages, API,
//!   exports) apply it per unit × item margin; the scores API and page apply it to the parts
//!   of each composite ([`shown_parts`]); the composite value itself, the score the grade is
//!   formed from, stays.
//! * **Comparisons**: each row of this year's table is compared with the row of the same keys
//!   and item in the other year's table (same grouping, interval, level, threshold), as
//!   independent samples: `change = this − other`, `change_se = √(se² + se_other²)`,
//!   `df = degf(this) + degf(other)` (one design stacking both samples with year-specific
//!   strata), `p_value` two-sided from t with `df` — what the results and report pages show,
//!   and what R gives with `svyby` on both years' designs and a t test with those df. A
//!   suppressed cell in either year gives no change; the other year's values are shown only
//!   when its own cell is not suppressed.
//! * **Compared items**: where the two years' questionnaires differ, both years are scored on
//!   the likert items each respondent type was asked in both years
//!   ([`crate::analytics::ComparedItems`]), and the comparison is of those scores: `basis_*`
//!   is this year's estimate on the compared items (the row's own estimate where both years
//!   asked the same items), `change = basis − other`. [`Compared::items`] names the items.

use pingyi_analysis::estimate::contrast::compare_independent;
use pingyi_analysis::estimate::disclosure::suppress;

use super::ALPHA;
use crate::analytics::{self, Est, SatisfactionRow};
use crate::store::Evaluation;

/// The other year's value of one measure of a row and the change to it.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct MeasureChange {
    /// this year's estimate on the compared items (the row's own estimate when both years
    /// asked the same items; None when suppressed)
    pub basis: Option<f64>,
    /// the other year's estimate and se (None when its cell is suppressed or absent)
    pub estimate: Option<f64>,
    pub se: Option<f64>,
    /// this year − the other year (None when either cell is suppressed)
    pub change: Option<f64>,
    pub change_se: Option<f64>,
    /// degf of this year's design + degf of the other year's
    pub df: Option<f64>,
    pub p_value: Option<f64>,
}

/// A row's comparison: the satisfaction index and the rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct RowChange {
    pub index: MeasureChange,
    pub rate: MeasureChange,
}

/// This year's table compared with another year's.
pub struct Compared {
    /// the evaluation of the other year
    pub evaluation: Evaluation,
    /// one per row of this year's table, in its order
    pub rows: Vec<RowChange>,
    /// the items both years were scored on
    pub items: analytics::ComparedItems,
    /// those items named, and the items one year asked and the other did not
    pub named: (Vec<analytics::NamedItem>, Vec<analytics::NamedItem>),
}

/// Columns a compared table adds .
pub const COMPARE_COLUMNS: [&str; 13] = [
    "basis_estimate",
    "compare_estimate",
    "compare_se",
    "change",
    "change_se",
    "df",
    "p_value",
    "rate_basis_estimate",
    "rate_compare_estimate",
    "rate_compare_se",
    "rate_change",
    "rate_change_se",
    "rate_p_value",
];

/// The compare columns of one row, in [`COMPARE_COLUMNS`] order.
pub fn compare_cells(c: &RowChange) -> [Option<f64>; 13] {
    let (i, r) = (&c.index, &c.rate);
    [
        i.basis,
        i.estimate,
        i.se,
        i.change,
        i.change_se,
        i.df,
        i.p_value,
        r.basis,
        r.estimate,
        r.se,
        r.change,
        r.change_se,
        r.p_value,
    ]
}

fn measure(
    this: &Est,
    this_df: f64,
    other: Option<(&Est, f64)>,
    this_hidden: bool,
) -> MeasureChange {
    let Some((o, odf)) = other else {
        return MeasureChange::default();
    };
    let mut m = MeasureChange {
        estimate: o.estimate,
        se: o.se,
        ..MeasureChange::default()
    };
    if this_hidden {
        return m;
    }
    m.basis = this.estimate;
    if let (Some(a), Some(sa), Some(b), Some(sb)) = (this.estimate, this.se, o.estimate, o.se) {
        let c = compare_independent((a, sa, this_df), (b, sb, odf), ALPHA);
        m.change = Some(c.difference);
        m.change_se = Some(c.se);
        m.df = Some(c.df);
        m.p_value = c.p_value.is_finite().then_some(c.p_value);
    }
    m
}

/// Each row of `this` against the row of the same keys and item in `other`.
pub fn compare_rows(this: &[SatisfactionRow], other: &[SatisfactionRow]) -> Vec<RowChange> {
    compare_rows_on(this, this, other)
}

/// Each row of `this` through the row of the same keys and item in `basis` (this year scored
/// on the compared items) against the one in `other` (the other year, scored the same way).
pub fn compare_rows_on(
    this: &[SatisfactionRow],
    basis: &[SatisfactionRow],
    other: &[SatisfactionRow],
) -> Vec<RowChange> {
    this.iter()
        .map(|r| {
            let keys: Vec<&str> = r.keys.iter().map(String::as_str).collect();
            let o = analytics::find(other, &keys, &r.item).filter(|o| !o.suppressed);
            let Some(b) = analytics::find(basis, &keys, &r.item) else {
                // nothing of this row was asked in both years
                return RowChange::default();
            };
            let hidden = r.suppressed || b.suppressed;
            RowChange {
                index: measure(&b.index, b.df, o.map(|o| (&o.index, o.df)), hidden),
                rate: measure(&b.rate, b.df, o.map(|o| (&o.rate, o.df)), hidden),
            }
        })
        .collect()
}

/// Which parts of a composite may be shown: (respondent type, weight, value, n) parts, the
/// suppression rule above with the composite as the margin.
pub fn shown_parts(parts: &[(String, f64, f64, u64)], min_cell: u64) -> Vec<bool> {
    let n: Vec<u64> = parts.iter().map(|p| p.3).collect();
    suppress(&n, &vec![0; n.len()], min_cell)
        .into_iter()
        .map(|hidden| !hidden)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(keys: &[&str], est: f64, se: f64, df: f64, suppressed: bool) -> SatisfactionRow {
        let e = Est {
            estimate: (!suppressed).then_some(est),
            se: (!suppressed).then_some(se),
            ci_low: None,
            ci_high: None,
        };
        SatisfactionRow {
            keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            item: "overall".into(),
            n: 10,
            rate: e,
            index: e,
            n_eff: None,
            suppressed,
            df,
        }
    }

    #[test]
    fn independent_samples_with_summed_df() {
        let this = vec![
            row(&["a"], 80.0, 3.0, 40.0, false),
            row(&["b"], 1.0, 1.0, 40.0, true),
        ];
        let other = vec![
            row(&["a"], 75.0, 4.0, 30.0, false),
            row(&["b"], 70.0, 2.0, 30.0, false),
        ];
        let c = compare_rows(&this, &other);
        let a = c[0].index;
        assert_eq!(a.estimate, Some(75.0));
        assert_eq!(a.change, Some(5.0));
        assert_eq!(a.change_se, Some(5.0));
        assert_eq!(a.df, Some(70.0));
        // R: 2 * pt(-1, 70)
        assert!((a.p_value.unwrap() - 0.320_754_857_775_473_6).abs() < 1e-9);
        // suppressed this year: the other year's value, no change
        assert_eq!(c[1].index.estimate, Some(70.0));
        assert_eq!(c[1].index.change, None);
        // the other year suppressed: nothing
        let c = compare_rows(&other, &this);
        assert_eq!(c[1].index, MeasureChange::default());
    }

    #[test]
    fn parts_follow_the_tables_rule() {
        let p = |n| ("leader".to_owned(), 10.0, 80.0, n);
        assert_eq!(
            shown_parts(&[p(3), p(40), p(8)], 5),
            vec![false, true, false]
        );
        assert_eq!(shown_parts(&[p(30), p(40)], 5), vec![true, true]);
        assert_eq!(shown_parts(&[p(3)], 5), vec![false]);
    }
}
