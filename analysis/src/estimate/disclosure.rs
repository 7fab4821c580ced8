//! Disclosure control and reliability flags.

/// Cells to suppress: every cell with `n < k`, then complementary suppression so a
/// suppressed cell cannot be recovered from its margin. Cells are grouped by `group`
/// (e.g. the row of a unit × respondent-type table: same unit and item); in any group with
/// exactly one suppressed cell, the unsuppressed cell with the smallest n (first on ties)
/// is suppressed as well. Groups with a single cell need nothing more.
pub fn suppress(n: &[u64], group: &[usize], k: u64) -> Vec<bool> {
    let mut out: Vec<bool> = n.iter().map(|&n| n < k).collect();
    let n_groups = group.iter().copied().max().map_or(0, |m| m + 1);
    let mut members: Vec<Vec<usize>> = vec![Vec::new(); n_groups];
    for (i, &g) in group.iter().enumerate() {
        members[g].push(i);
    }
    for m in members {
        let hidden = m.iter().filter(|&&i| out[i]).count();
        if hidden == 1 && m.len() > 1 {
            if let Some(&j) = m.iter().filter(|&&i| !out[i]).min_by_key(|&&i| n[i]) {
                out[j] = true;
            }
        }
    }
    out
}

/// NCHS-style reliability flag: Kish effective n below 30, or a proportion interval that
/// is 30 points wide or more, or wider than 130% of the estimate (when wider than 5 points).
/// For means only the effective-n rule applies (`proportion = false`).
pub fn unreliable(n_eff: f64, estimate: f64, ci: (f64, f64), proportion: bool) -> bool {
    if n_eff.is_nan() || n_eff < 30.0 {
        return true;
    }
    if proportion {
        let width = ci.1 - ci.0;
        if !width.is_finite() || width >= 0.30 {
            return true;
        }
        if width > 0.05 && estimate > 0.0 && width / estimate > 1.30 {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_small_cell_takes_a_partner() {
        // group 0: cells 0,1,2 (cell 1 small) ; group 1: cells 3,4 (none small)
        let s = suppress(&[40, 3, 12, 50, 60], &[0, 0, 0, 1, 1], 5);
        assert_eq!(s, vec![false, true, true, false, false]);
    }

    #[test]
    fn two_small_cells_need_no_partner() {
        let s = suppress(&[2, 3, 12], &[0, 0, 0], 5);
        assert_eq!(s, vec![true, true, false]);
    }

    #[test]
    fn flags() {
        assert!(unreliable(20.0, 0.5, (0.45, 0.55), true));
        assert!(unreliable(100.0, 0.5, (0.3, 0.65), true));
        assert!(!unreliable(100.0, 0.5, (0.45, 0.55), true));
        assert!(unreliable(100.0, 0.04, (0.001, 0.09), true));
    }
}
