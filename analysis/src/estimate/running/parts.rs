//! The sums a running table keeps per (domain, stratum) and what one variable reads from them.

use std::collections::BTreeMap;

use super::super::engine::Variable;
use super::super::exact::Exact;

/// Sums of one answer code in one (domain, stratum). Rows of weight exactly 1 (public links,
/// unweighted uploads: most rows) are only counted; the sums hold the other rows.
#[derive(Debug, Clone, Default)]
pub(super) struct CodeSums {
    pub(super) n: i64,
    pub(super) n_pos: i64,
    /// rows of weight 1
    pub(super) n1: i64,
    pub(super) w: Exact,
    pub(super) ww: Exact,
}

impl CodeSums {
    pub(super) fn w(&self) -> Exact {
        plus(self.w, self.n1)
    }
    pub(super) fn ww(&self) -> Exact {
        plus(self.ww, self.n1)
    }
}

/// Sums of a numeric column's non-empty values in one (domain, stratum); rows of weight 1
/// keep only Σy and Σy² (with `n1` they are all their sums).
#[derive(Debug, Clone, Default)]
pub(super) struct RawSums {
    pub(super) n: i64,
    pub(super) n_pos: i64,
    pub(super) n1: i64,
    pub(super) y1: Exact,
    pub(super) yy1: Exact,
    pub(super) w: Exact,
    pub(super) wy: Exact,
    pub(super) wyy: Exact,
    pub(super) ww: Exact,
    pub(super) wwy: Exact,
    pub(super) wwyy: Exact,
}

impl RawSums {
    pub(super) fn w(&self) -> Exact {
        plus(self.w, self.n1)
    }
    pub(super) fn wy(&self) -> Exact {
        joined(self.wy, &self.y1)
    }
    pub(super) fn wyy(&self) -> Exact {
        joined(self.wyy, &self.yy1)
    }
    pub(super) fn ww(&self) -> Exact {
        plus(self.ww, self.n1)
    }
    pub(super) fn wwy(&self) -> Exact {
        joined(self.wwy, &self.y1)
    }
    pub(super) fn wwyy(&self) -> Exact {
        joined(self.wwyy, &self.yy1)
    }
}

impl CodeSums {
    /// Adds another cell's sums of the same code.
    pub(super) fn merge(&mut self, o: &CodeSums) {
        self.n += o.n;
        self.n_pos += o.n_pos;
        self.n1 += o.n1;
        self.w.merge(&o.w);
        self.ww.merge(&o.ww);
    }
}

impl RawSums {
    /// Adds another cell's sums.
    pub(super) fn merge(&mut self, o: &RawSums) {
        self.n += o.n;
        self.n_pos += o.n_pos;
        self.n1 += o.n1;
        for (a, b) in [
            (&mut self.y1, &o.y1),
            (&mut self.yy1, &o.yy1),
            (&mut self.w, &o.w),
            (&mut self.wy, &o.wy),
            (&mut self.wyy, &o.wyy),
            (&mut self.ww, &o.ww),
            (&mut self.wwy, &o.wwy),
            (&mut self.wwyy, &o.wwyy),
        ] {
            a.merge(b);
        }
    }
}

/// Adds a cell's per-code sums (codes ascending) into another's, keeping codes ascending.
pub(super) fn merge_codes(into: &mut Vec<(f64, CodeSums)>, from: &[(f64, CodeSums)]) {
    for (code, sums) in from {
        match into.binary_search_by(|(c, _)| c.total_cmp(code)) {
            Ok(i) => into[i].1.merge(sums),
            Err(i) => into.insert(i, (*code, sums.clone())),
        }
    }
}

/// `e` plus a count (exact: counts are far below 2^53).
fn plus(mut e: Exact, n: i64) -> Exact {
    let _ = e.add(n as f64, false);
    e
}

fn joined(mut a: Exact, b: &Exact) -> Exact {
    a.merge(b);
    a
}

/// Σ q Σw and Σ q² Σw over the valid codes of a domain's cells, codes ascending.
pub(super) fn coded_totals<'a>(
    cells: impl Iterator<Item = &'a Vec<(f64, CodeSums)>>,
    v: &Variable,
) -> (f64, f64) {
    let mut merged: BTreeMap<u64, (f64, Exact)> = BTreeMap::new();
    for hist in cells {
        for (code, s) in hist {
            if v.is_valid(*code) {
                // total order of the codes: ascending values (all finite)
                let key = order_key(*code);
                merged
                    .entry(key)
                    .or_insert((*code, Exact::default()))
                    .1
                    .merge(&s.w());
            }
        }
    }
    let (mut y, mut yy) = (0.0, 0.0);
    for (code, w) in merged.values() {
        let q = v.quantity(*code);
        let w = w.value();
        y += q * w;
        yy += q * q * w;
    }
    (y, yy)
}

/// A key whose unsigned order is the numeric order of finite values.
fn order_key(x: f64) -> u64 {
    let b = x.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

/// One (domain, stratum)'s sums for one variable.
pub(super) struct Part {
    pub(super) n: i64,
    pub(super) n_pos: i64,
    pub(super) w: Exact,
    pub(super) ww: Exact,
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) spread: Spread,
}

pub(super) enum Spread {
    /// (q, Σw² of the code) per valid code
    Codes(Vec<(f64, f64)>),
    /// Σw²y², Σw²y, Σw²
    Raw(f64, f64, f64),
}

impl Part {
    pub(super) fn raw(s: &RawSums) -> Part {
        let (w, ww) = (s.w(), s.ww());
        Part {
            n: s.n,
            n_pos: s.n_pos,
            w,
            ww,
            x: w.value(),
            y: s.wy().value(),
            spread: Spread::Raw(s.wwyy().value(), s.wwy().value(), ww.value()),
        }
    }

    pub(super) fn coded(hist: &[(f64, CodeSums)], v: &Variable) -> Part {
        let (mut n, mut n_pos) = (0, 0);
        let (mut w, mut ww) = (Exact::default(), Exact::default());
        let mut y = 0.0;
        let mut codes = Vec::new();
        for (code, s) in hist.iter().filter(|(c, _)| v.is_valid(*c)) {
            n += s.n;
            n_pos += s.n_pos;
            let (sw, sww) = (s.w(), s.ww());
            w.merge(&sw);
            ww.merge(&sww);
            let q = v.quantity(*code);
            y += q * sw.value();
            codes.push((q, sww.value()));
        }
        Part {
            n,
            n_pos,
            w,
            ww,
            x: w.value(),
            y,
            spread: Spread::Codes(codes),
        }
    }

    /// Σ w² (y − r)² over the valid answers.
    pub(super) fn spread(&self, r: f64) -> f64 {
        match &self.spread {
            Spread::Codes(codes) => codes.iter().map(|&(q, ww)| ww * (q - r) * (q - r)).sum(),
            Spread::Raw(a, b, c) => {
                let e = a - 2.0 * r * b + r * r * c;
                let noise = 16.0 * f64::EPSILON * (a.abs() + 2.0 * (r * b).abs() + r * r * c.abs());
                if e <= noise {
                    0.0
                } else {
                    e
                }
            }
        }
    }
}
