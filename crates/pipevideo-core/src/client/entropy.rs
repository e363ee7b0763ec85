//! The client's second source of randomness: the OS RNG, for the draws that another process
//! must never repeat.
//!
//! The client's seeded RNG ([`ClientBuilder::seed`](super::ClientBuilder::seed)) drives jitter
//! and the poll schedule, where reproducing a run is the point. Idempotency keys and a save's
//! temporary file names are different: two processes built with the same seed would send the
//! same key, and a deduplicating server would hand one of them the other's generation; and a
//! temporary name another process can compute is one it can plant a file at. So those come
//! from here, from the operating system (`getrandom`), whatever the seed.
//!
//! If the OS RNG fails (on Linux: only a kernel without `getrandom(2)` and without
//! `/dev/urandom`), the draw falls back to a generator seeded from the wall clock, the process
//! id and a counter, so that a create never fails for lack of entropy; keys then stay distinct
//! across processes but are no longer unpredictable.

use rand_core::{RngCore, SeedableRng};

use crate::random::Sha256Rng;

/// The RNG of idempotency keys and temporary names (see the module docs).
#[derive(Debug)]
pub(super) enum Entropy {
    /// The OS RNG, with the fallback used only if it fails.
    Os(Sha256Rng),
    /// The test kit's seeded draws, so that a test can know the names a save will try.
    #[cfg(feature = "testing")]
    Seeded(Sha256Rng),
}

impl Entropy {
    /// The OS RNG; `fallback_seed` seeds the generator used only if the OS RNG fails.
    pub(super) fn os(fallback_seed: u64) -> Self {
        Self::Os(Sha256Rng::seed_from_u64(fallback_seed))
    }

    /// Seeded draws (test kit only).
    #[cfg(feature = "testing")]
    pub(super) fn seeded(seed: u64) -> Self {
        Self::Seeded(Sha256Rng::seed_from_u64(seed))
    }
}

impl RngCore for Entropy {
    fn next_u32(&mut self) -> u32 {
        rand_core::impls::next_u32_via_fill(self)
    }

    fn next_u64(&mut self) -> u64 {
        rand_core::impls::next_u64_via_fill(self)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        match self {
            Self::Os(fallback) => {
                if getrandom::fill(dst).is_err() {
                    fallback.fill_bytes(dst);
                }
            }
            #[cfg(feature = "testing")]
            Self::Seeded(rng) => rng.fill_bytes(dst),
        }
    }
}
