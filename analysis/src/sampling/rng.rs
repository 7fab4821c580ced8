//! The seed → random-number mapping. Everything a re-derivation needs is here
//! and in the module documentation of `sampling`.
//!
//! * `seed_digest = SHA-256(seed as UTF-8 bytes)`.
//! * Stratum key: `K_h = SHA-256(seed_digest ‖ stratum key as UTF-8 bytes)`
//!   (the key is the empty string when the draw is not stratified).
//! * `K_h` is the 32-byte key of the original ChaCha20 stream cipher (20 rounds,
//!   64-bit block counter starting at 0, 64-bit nonce 0), as implemented by
//!   `rand_chacha::ChaCha20Rng::from_seed`. It is the same keystream as RFC 8439
//!   ChaCha20 with a zero 96-bit nonce and counter 0.
//! * Each random number is one `u64`: the next 8 keystream bytes read
//!   little-endian. Nothing else consumes the stream.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

/// SHA-256 of the seed text.
pub fn seed_digest(seed: &str) -> [u8; 32] {
    Sha256::digest(seed.as_bytes()).into()
}

/// The independent ChaCha20 stream for one stratum. Separate streams mean a
/// stratum's draw depends only on the seed, its key and its own members.
pub fn stratum_rng(seed: &str, stratum_key: &str) -> ChaCha20Rng {
    let mut hasher = Sha256::new();
    hasher.update(seed_digest(seed));
    hasher.update(stratum_key.as_bytes());
    ChaCha20Rng::from_seed(hasher.finalize().into())
}

/// Uniform integer in `0..n` (n > 0) by rejection: draw `x`; accept if
/// `x < 2^64 − (2^64 mod n)` and return `x mod n`, otherwise draw again.
/// Returns 0 for n = 0 without drawing (callers never ask for it).
pub fn uniform_below(rng: &mut impl RngCore, n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    // 2^64 mod n without 128-bit arithmetic.
    let rem = (u64::MAX % n + 1) % n;
    loop {
        let x = rng.next_u64();
        if x <= u64::MAX - rem {
            return x % n;
        }
    }
}

/// Uniform real in (0, 1]: `((x >> 11) + 1) / 2^53`. Exact in f64.
pub fn uniform_open_closed(rng: &mut impl RngCore) -> f64 {
    let x = rng.next_u64() >> 11;
    (x + 1) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pins the keystream and byte order: RFC 8439 appendix A.1, test vector #1
    /// all-zero key and nonce, block 0: 76 b8 e0 ad a0 f1 3d 90 | 40 5d 6a e5 ...
    #[test]
    fn chacha20_keystream_matches_the_published_vector() {
        let mut rng = ChaCha20Rng::from_seed([0u8; 32]);
        assert_eq!(
            rng.next_u64(),
            u64::from_le_bytes([0x76, 0xb8, 0xe0, 0xad, 0xa0, 0xf1, 0x3d, 0x90])
        );
        assert_eq!(
            rng.next_u64(),
            u64::from_le_bytes([0x40, 0x5d, 0x6a, 0xe5, 0x53, 0x86, 0xbd, 0x28])
        );
    }

    #[test]
    fn uniform_below_stays_in_range_and_hits_every_value() {
        let mut rng = stratum_rng("t", "");
        let mut seen = [0u32; 7];
        for _ in 0..7000 {
            let v = uniform_below(&mut rng, 7);
            seen[v as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 800 && c < 1200), "{seen:?}");
    }

    #[test]
    fn uniform_open_closed_is_in_range() {
        let mut rng = stratum_rng("t", "x");
        for _ in 0..10_000 {
            let u = uniform_open_closed(&mut rng);
            assert!(u > 0.0 && u <= 1.0);
        }
    }
}
