//! Random draws over [`rand_core::RngCore`], and the client's own seeded generator.
//!
//! The core takes its randomness as `&mut impl RngCore` and needs only a few draws of it
//! (jitter, the poll schedule, temporary names, idempotency keys). `rand` brought them as
//! `Rng::random_range` and `Rng::random`; the core depends on `rand_core` alone (the crate
//! `rand` 0.9 re-exports as `rand::rand_core`, so `SmallRng`, `StdRng` and `ThreadRng` still
//! fit), and these helpers draw the same distributions:
//!
//! - [`unit`]: uniform in `[0, 1)`, the top 53 bits of a `u64` times 2⁻⁵³ (every value a
//!   multiple of 2⁻⁵³, each equally likely), as `rand`'s `StandardUniform` for `f64`.
//! - [`unit_inclusive`]: uniform in `[0, 1]`, the top 53 bits over 2⁵³ − 1.
//! - [`below`]: uniform in `0..n` without modulo bias: draws that fall in the incomplete last
//!   block of `n` values (fewer than `n` of the 2⁶⁴) are rejected and drawn again.
//! - [`up_to`], [`between`], [`between_inclusive`]: the ranges the core draws, built on those.
//!
//! [`Sha256Rng`] is the generator the client seeds (`ClientBuilder::seed`) and the poller
//! carries: SHA-256 in counter mode, by `hmac-sha256`, which the core already uses for webhook
//! signatures. Not a hand-written PRNG algorithm, and not `rand`'s `SmallRng` (which the core
//! would need `rand` for).

use hmac_sha256::Hash;
use rand_core::{RngCore, SeedableRng};

/// 2⁻⁵³: the spacing of the `f64`s in `[0.5, 1)`, and of the values [`unit`] draws.
#[cfg(test)]
const TWO_POW_MINUS_53: f64 = 1.0 / (1u64 << 53) as f64;

/// Uniform in `[0, 1)`: `(next_u64 >> 11) × 2⁻⁵³`. (Only the tests draw half-open today.)
#[cfg(test)]
pub(crate) fn unit(rng: &mut impl RngCore) -> f64 {
    (rng.next_u64() >> 11) as f64 * TWO_POW_MINUS_53
}

/// Uniform in `[0, 1]`: `(next_u64 >> 11) / (2⁵³ − 1)`, so both ends can be drawn.
pub(crate) fn unit_inclusive(rng: &mut impl RngCore) -> f64 {
    (rng.next_u64() >> 11) as f64 / ((1u64 << 53) - 1) as f64
}

/// Uniform in `[low, high)` (`low < high`, both finite).
#[cfg(test)]
pub(crate) fn between(rng: &mut impl RngCore, low: f64, high: f64) -> f64 {
    // `unit < 1`, so the result stays below `high` but for rounding at the very top; clamp.
    let x = low + (high - low) * unit(rng);
    if x < high {
        x
    } else {
        low.max(high.next_down())
    }
}

/// Uniform in `[low, high]` (`low <= high`, both finite).
pub(crate) fn between_inclusive(rng: &mut impl RngCore, low: f64, high: f64) -> f64 {
    (low + (high - low) * unit_inclusive(rng)).clamp(low, high)
}

/// Uniform in `0..n` (`n > 0`), without modulo bias.
///
/// The 2⁶⁴ values of a `u64` split into whole blocks of `n` and a remainder of `2⁶⁴ mod n`
/// values; a draw in the remainder (taken at the bottom) would favour the small results, so it
/// is rejected and drawn again: at most half the draws are rejected (for `n` just over 2⁶³),
/// almost none for the small `n` the core uses.
pub(crate) fn below(rng: &mut impl RngCore, n: u64) -> u64 {
    assert!(n > 0, "below(0): an empty range");
    // 2⁶⁴ mod n, computed in u64 as (2⁶⁴ − n) mod n.
    let remainder = n.wrapping_neg() % n;
    loop {
        let x = rng.next_u64();
        if x >= remainder {
            return x % n;
        }
    }
}

/// Uniform in `0..=max`.
pub(crate) fn up_to(rng: &mut impl RngCore, max: u64) -> u64 {
    match max.checked_add(1) {
        Some(n) => below(rng, n),
        None => rng.next_u64(),
    }
}

/// SHA-256 in counter mode: block `i` is `SHA-256(seed ‖ i as u64 little-endian)`, and the
/// output is the blocks one after the other.
///
/// The client's seeded generator (jitter, the poll schedule; `ClientBuilder::seed`) and the
/// poller's: reproducible from its 32-byte seed on every platform and version of the SDK's
/// dependencies, and, SHA-256 being what it is, as good a source of uniform bits as the draws
/// need. About 32 bytes per SHA-256 compression, plenty for a few draws per request. Never for
/// secrets: idempotency keys and temporary names come from the OS (the client's `Entropy`).
#[derive(Debug, Clone)]
pub(crate) struct Sha256Rng {
    seed: [u8; 32],
    /// The next block's number.
    counter: u64,
    block: [u8; 32],
    /// Bytes of `block` already handed out.
    used: usize,
}

impl Sha256Rng {
    fn refill(&mut self) {
        let mut hash = Hash::new();
        hash.update(self.seed);
        hash.update(self.counter.to_le_bytes());
        self.block = hash.finalize();
        // 2⁶⁴ blocks would take longer than anyone runs a client; wrapping is unreachable.
        self.counter = self.counter.wrapping_add(1);
        self.used = 0;
    }
}

impl SeedableRng for Sha256Rng {
    type Seed = [u8; 32];

    fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            seed,
            counter: 0,
            block: [0; 32],
            // Empty: the first draw computes block 0.
            used: 32,
        }
    }
}

impl RngCore for Sha256Rng {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    fn fill_bytes(&mut self, mut dst: &mut [u8]) {
        while !dst.is_empty() {
            if self.used == self.block.len() {
                self.refill();
            }
            let n = dst.len().min(self.block.len() - self.used);
            let (head, rest) = dst.split_at_mut(n);
            head.copy_from_slice(&self.block[self.used..self.used + n]);
            self.used += n;
            dst = rest;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_is_sha256_of_seed_and_counter() {
        let seed = [7u8; 32];
        let mut rng = Sha256Rng::from_seed(seed);
        let mut out = [0u8; 80];
        rng.fill_bytes(&mut out[..5]);
        rng.fill_bytes(&mut out[5..]);
        for (i, block) in out.chunks(32).enumerate() {
            let mut input = seed.to_vec();
            input.extend_from_slice(&(i as u64).to_le_bytes());
            let want = Hash::hash(&input);
            assert_eq!(block, &want[..block.len()], "block {i}");
        }
        // And it is reproducible.
        let mut again = Sha256Rng::from_seed(seed);
        let mut out2 = [0u8; 80];
        again.fill_bytes(&mut out2);
        assert_eq!(out, out2);
        assert_ne!(
            Sha256Rng::seed_from_u64(1).next_u64(),
            Sha256Rng::seed_from_u64(2).next_u64()
        );
    }

    /// Hands out the given `u64`s in turn.
    struct Script(Vec<u64>);
    impl RngCore for Script {
        fn next_u32(&mut self) -> u32 {
            self.next_u64() as u32
        }
        fn next_u64(&mut self) -> u64 {
            self.0.remove(0)
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            rand_core::impls::fill_bytes_via_next(self, dst);
        }
    }

    #[test]
    fn the_unit_draws_reach_their_ends() {
        assert_eq!(unit(&mut Script(vec![0])), 0.0);
        assert_eq!(unit(&mut Script(vec![u64::MAX])), 1.0 - TWO_POW_MINUS_53);
        assert_eq!(unit(&mut Script(vec![1 << 63])), 0.5);
        assert_eq!(unit_inclusive(&mut Script(vec![0])), 0.0);
        assert_eq!(unit_inclusive(&mut Script(vec![u64::MAX])), 1.0);
        assert_eq!(
            between_inclusive(&mut Script(vec![u64::MAX]), 0.8, 1.2),
            1.2
        );
        assert_eq!(between_inclusive(&mut Script(vec![0]), 0.8, 1.2), 0.8);
        assert!(between(&mut Script(vec![u64::MAX]), 0.8, 1.2) < 1.2);
        assert_eq!(between(&mut Script(vec![0]), 0.8, 1.2), 0.8);
    }

    #[test]
    fn below_rejects_the_biased_remainder() {
        // n = 3: 2⁶⁴ mod 3 = 1, so only 0 is rejected.
        assert_eq!(below(&mut Script(vec![0, 4]), 3), 1);
        assert_eq!(below(&mut Script(vec![1]), 3), 1);
        // n = 2⁶³ + 1: the remainder is 2⁶³ − 1 values, all rejected.
        let n = (1u64 << 63) + 1;
        assert_eq!(
            below(&mut Script(vec![5, (1 << 63) - 2, u64::MAX]), n),
            u64::MAX % n
        );
        // Powers of two reject nothing.
        assert_eq!(below(&mut Script(vec![0]), 8), 0);
        assert_eq!(up_to(&mut Script(vec![u64::MAX]), u64::MAX), u64::MAX);
        assert_eq!(up_to(&mut Script(vec![9]), 0), 0);
    }

    #[test]
    fn the_draws_are_uniform_enough() {
        // 36 buckets (the temporary-name alphabet), 72 000 draws: each bucket within 10% of
        // its 2 000 (over 8 standard deviations).
        let mut rng = Sha256Rng::seed_from_u64(42);
        let mut counts = [0u32; 36];
        for _ in 0..72_000 {
            counts[below(&mut rng, 36) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (1_800..=2_200).contains(&c)),
            "{counts:?}"
        );
        let mean = (0..10_000).map(|_| unit(&mut rng)).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }
}
