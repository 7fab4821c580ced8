//! Exact, order-free sums of `f64` values.
//!
//! [`Exact`] holds a sum as seven signed 64-bit chunks of 32 bits each, covering the binary
//! places 2⁻¹²⁸ to 2⁹⁶: a value is split at fixed bit positions and its pieces added to the
//! chunks as integers, so adding and removing values is exact and the chunks depend only on
//! the multiset of values held, never on the order they came in or went. [`Exact::value`]
//! rounds the held sum to `f64` once. Bits below 2⁻¹²⁸ are dropped (the same way for every
//! value, so the result is still order-free); values of 2⁹⁶ or more are refused.
//!
//! This is what lets the running tables ([`super::running`]) bring sums forward by the rows
//! that came and went and still equal, bit for bit, the same sums taken afresh.

/// Lowest binary place held: 2^-128.
const LOW: i32 = -128;
/// Number of 32-bit chunks (2^-128 … 2^96).
const CHUNKS: usize = 7;
/// Bits held.
const BITS: i32 = 32 * CHUNKS as i32;

/// A value too large (or not finite) for an [`Exact`] sum.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutOfRange(pub f64);

/// An exact sum of `f64` values (see the module docs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Exact([i64; CHUNKS]);

impl Exact {
    /// Adds `x` (`remove`: subtracts it).
    #[inline]
    pub fn add(&mut self, x: f64, remove: bool) -> Result<(), OutOfRange> {
        let bits = x.to_bits();
        let exp = ((bits >> 52) & 0x7ff) as i32;
        if exp == 0x7ff {
            return Err(OutOfRange(x));
        }
        let frac = bits & ((1u64 << 52) - 1);
        let (mut mant, e) = if exp == 0 {
            (frac, -1074)
        } else {
            (frac | (1u64 << 52), exp - 1075)
        };
        if mant == 0 {
            return Ok(());
        }
        // position of the mantissa's lowest bit above 2^-128
        let mut p = e - LOW;
        if p < 0 {
            mant = if -p >= 64 { 0 } else { mant >> -p };
            p = 0;
            if mant == 0 {
                return Ok(());
            }
        }
        if p + 53 > BITS {
            return Err(OutOfRange(x));
        }
        let negative = (bits >> 63 == 1) != remove;
        let k = (p / 32) as usize;
        let v = u128::from(mant) << (p % 32);
        for (j, chunk) in self.0.iter_mut().enumerate().skip(k).take(3) {
            let piece = ((v >> (32 * (j - k))) & 0xffff_ffff) as i64;
            if negative {
                *chunk -= piece;
            } else {
                *chunk += piece;
            }
        }
        Ok(())
    }

    /// Adds another exact sum (exactly).
    pub fn merge(&mut self, other: &Exact) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    #[cfg(test)]
    fn is_zero(&self) -> bool {
        self.normalised().iter().all(|&c| c == 0)
    }

    /// Chunks with every carry moved up: the lower six in 0..2^32, the top one signed.
    fn normalised(&self) -> [i64; CHUNKS] {
        let mut c = self.0;
        for k in 0..CHUNKS - 1 {
            let carry = c[k] >> 32;
            c[k] -= carry << 32;
            c[k + 1] += carry;
        }
        c
    }

    /// The sum, rounded to `f64`.
    pub fn value(&self) -> f64 {
        let c = self.normalised();
        // places 2^-32 … 2^64 and 2^-128 … 2^-32 as two integers (chunks 0..=5 are in 0..2^32)
        let mid = (u128::from(c[5] as u64) << 64)
            + (u128::from(c[4] as u64) << 32)
            + u128::from(c[3] as u64);
        let lo = (u128::from(c[2] as u64) << 64)
            + (u128::from(c[1] as u64) << 32)
            + u128::from(c[0] as u64);
        let low = (lo as f64) * 2f64.powi(-128);
        if c[6].unsigned_abs() < 1 << 30 {
            // the top chunk joins the middle exactly: one rounding of the high part
            let hi = (i128::from(c[6]) << 96) + mid as i128;
            (hi as f64) * 2f64.powi(-32) + low
        } else {
            (c[6] as f64) * 2f64.powi(64) + (mid as f64) * 2f64.powi(-32) + low
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sum(xs: &[f64]) -> Exact {
        let mut s = Exact::default();
        for &x in xs {
            s.add(x, false).unwrap();
        }
        s
    }

    #[test]
    fn small_sums_are_exact() {
        // the exact sum of the three doubles, rounded once (a running f64 sum gives 0.6000000000000001)
        assert_eq!(sum(&[0.1, 0.2, 0.3]).value(), 0.6);
        assert_eq!(sum(&[1e16, 1.0, -1e16]).value(), 1.0);
        assert_eq!(sum(&[]).value(), 0.0);
        assert_eq!(sum(&[-2.5, 0.5]).value(), -2.0);
        assert_eq!(sum(&[3.0; 10]).value(), 30.0);
        assert!(sum(&[1.0, -1.0]).is_zero());
    }

    #[test]
    fn out_of_range_is_refused() {
        let mut s = Exact::default();
        assert!(s.add(f64::NAN, false).is_err());
        assert!(s.add(f64::INFINITY, false).is_err());
        assert!(s.add(2f64.powi(96), false).is_err());
        assert!(s.add(2f64.powi(95), false).is_ok());
        // far below the lowest place: dropped, not an error
        assert!(s.add(1e-300, false).is_ok());
        assert_eq!(s.value(), 2f64.powi(95));
    }

    proptest! {
        /// Adding in any order, or adding extra values and removing them again, gives the
        /// same chunks (so the same f64), and the value is the correctly rounded sum when the
        /// inputs are integers times a power of two.
        #[test]
        fn order_free(xs in prop::collection::vec(-1e12f64..1e12, 0..60),
                      extra in prop::collection::vec(-1e9f64..1e9, 0..20),
                      seed in 0u64..1000) {
            let a = sum(&xs);
            let mut shuffled = xs.clone();
            let n = shuffled.len();
            for i in 0..n {
                let j = ((seed as usize).wrapping_mul(31).wrapping_add(i * 17)) % n;
                shuffled.swap(i, j);
            }
            let mut b = Exact::default();
            for &x in &extra { b.add(x, false).unwrap(); }
            for &x in &shuffled { b.add(x, false).unwrap(); }
            for &x in extra.iter().rev() { b.add(x, true).unwrap(); }
            prop_assert_eq!(a.normalised(), b.normalised());
            prop_assert_eq!(a.value().to_bits(), b.value().to_bits());
            let k: Vec<i64> = xs.iter().map(|x| (x * 1024.0).round() as i64).collect();
            let ints: Vec<f64> = k.iter().map(|&v| v as f64 / 1024.0).collect();
            let want = k.iter().map(|&v| i128::from(v)).sum::<i128>() as f64 / 1024.0;
            prop_assert_eq!(sum(&ints).value(), want);
        }
    }
}
