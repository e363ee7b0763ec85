//! Exponential backoff with full jitter, for 500/502/503/504 and transport failures.
//!
//! The `n`-th retry (counting from 1) waits a uniformly random duration in
//! `[0, min(cap, base * factor^(n-1))]` — "full jitter" as in the AWS architecture blog's study
//! of backoff: of the common schemes it spreads a crowd of clients the most evenly and finishes
//! the fewest total calls, at the price of sometimes retrying almost at once. Defaults:
//! base 500 ms, factor 2, cap 20 s, so the ceilings run 0.5 s, 1 s, 2 s, 4 s … 20 s.
//! [`Jitter::None`] waits the ceiling exactly, for callers who want determinism.

use std::time::Duration;

use rand_core::RngCore;

/// How a backoff wait is drawn below its ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Jitter {
    /// Uniform in `[0, ceiling]` (the default).
    Full,
    /// Exactly the ceiling.
    None,
}

/// An exponential backoff schedule: data, with decorator-style builders.
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::policy::Backoff;
/// use pipevideo_core::policy::Jitter;
///
/// let backoff = Backoff::default().with_jitter(Jitter::None);
/// assert_eq!(backoff.ceiling(1), Duration::from_millis(500));
/// assert_eq!(backoff.ceiling(3), Duration::from_secs(2));
/// assert_eq!(backoff.ceiling(30), Duration::from_secs(20)); // capped
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backoff {
    base: Duration,
    factor: u32,
    cap: Duration,
    jitter: Jitter,
}

impl Backoff {
    /// Default first ceiling: 500 ms.
    pub const DEFAULT_BASE: Duration = Duration::from_millis(500);
    /// Default growth factor per retry: 2.
    pub const DEFAULT_FACTOR: u32 = 2;
    /// Default largest ceiling: 20 s.
    pub const DEFAULT_CAP: Duration = Duration::from_secs(20);

    /// The same schedule starting from a different first ceiling.
    #[must_use]
    pub fn with_base(self, base: Duration) -> Self {
        Self { base, ..self }
    }

    /// The same schedule growing by a different factor per retry (0 is read as 1: constant).
    #[must_use]
    pub fn with_factor(self, factor: u32) -> Self {
        Self {
            factor: factor.max(1),
            ..self
        }
    }

    /// The same schedule with a different largest ceiling.
    #[must_use]
    pub fn with_cap(self, cap: Duration) -> Self {
        Self { cap, ..self }
    }

    /// The same schedule with a different jitter.
    #[must_use]
    pub fn with_jitter(self, jitter: Jitter) -> Self {
        Self { jitter, ..self }
    }

    /// The first ceiling.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The growth factor per retry.
    pub fn factor(&self) -> u32 {
        self.factor
    }

    /// The largest ceiling.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// The jitter.
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The ceiling of the `retry`-th retry (1 for the first retry; 0 is read as 1):
    /// `min(cap, base * factor^(retry-1))`, without overflow.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let exponent = retry.saturating_sub(1);
        let grown = self
            .factor
            .checked_pow(exponent)
            .and_then(|f| self.base.checked_mul(f))
            .unwrap_or(Duration::MAX);
        grown.min(self.cap)
    }

    /// The wait before the `retry`-th retry, jittered with `rng`. Allocates nothing.
    pub fn wait(&self, retry: u32, rng: &mut impl RngCore) -> Duration {
        let ceiling = self.ceiling(retry);
        match self.jitter {
            Jitter::None => ceiling,
            Jitter::Full => {
                // Nanosecond resolution; ceilings beyond u64 nanoseconds (584 years) saturate.
                let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
                Duration::from_nanos(crate::random::up_to(rng, nanos))
            }
        }
    }
}

impl Default for Backoff {
    /// Base 500 ms, factor 2, cap 20 s, full jitter.
    fn default() -> Self {
        Self {
            base: Self::DEFAULT_BASE,
            factor: Self::DEFAULT_FACTOR,
            cap: Self::DEFAULT_CAP,
            jitter: Jitter::Full,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn ceilings_double_up_to_the_cap_without_overflow() {
        let b = Backoff::default();
        let secs: Vec<f64> = (1..=8).map(|n| b.ceiling(n).as_secs_f64()).collect();
        assert_eq!(secs, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(20));
        assert_eq!(b.ceiling(0), b.ceiling(1));
        let huge = b.with_cap(Duration::MAX).with_factor(u32::MAX);
        assert_eq!(huge.ceiling(5), Duration::MAX);
    }

    #[test]
    fn full_jitter_stays_under_the_ceiling_and_spreads() {
        let b = Backoff::default();
        let mut rng = SmallRng::seed_from_u64(7);
        let waits: Vec<Duration> = (0..1000).map(|_| b.wait(4, &mut rng)).collect();
        assert!(waits.iter().all(|w| *w <= Duration::from_secs(4)));
        let below_half = waits
            .iter()
            .filter(|w| **w < Duration::from_secs(2))
            .count();
        assert!(
            (400..600).contains(&below_half),
            "{below_half} of 1000 below half"
        );
        assert_eq!(
            b.with_jitter(Jitter::None).wait(4, &mut rng),
            Duration::from_secs(4)
        );
    }
}
