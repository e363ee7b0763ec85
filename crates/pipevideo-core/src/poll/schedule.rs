//! When to poll next: the adaptive schedule and the classic baselines, as data.

use std::time::Duration;

use rand::Rng;

use super::LogNormal;

/// Why a schedule could not be built.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// An interval must be at least 10 ms.
    #[error("the {what} must be at least 10 ms, got {got:?}")]
    TooShort {
        /// Which interval.
        what: &'static str,
        /// The value given.
        got: Duration,
    },
    /// A growth factor must be finite and in `1.0..=10.0`.
    #[error("the growth factor must be a finite number in 1.0..=10.0, got {0}")]
    Factor(f64),
    /// The jitter fraction must be finite and in `0.0..=0.5`.
    #[error("the jitter fraction must be a finite number in 0.0..=0.5, got {0}")]
    Jitter(f64),
}

const MIN_INTERVAL: Duration = Duration::from_millis(10);

fn check(what: &'static str, got: Duration) -> Result<Duration, ScheduleError> {
    if got < MIN_INTERVAL {
        Err(ScheduleError::TooShort { what, got })
    } else {
        Ok(got)
    }
}

/// The adaptive schedule: polls follow the likelihood that the generation finishes now.
///
/// The interval between two polls at time `t` since creation is
///
/// ```text
/// interval(t) = peak_interval × (pdf(mode) / pdf(t))^0.5,  at most max_interval
/// ```
///
/// where `pdf` is the density of the expected duration ([`LogNormal`], by default median
/// 55 s, sigma 0.35). So polls are sparse while the generation cannot plausibly be done yet,
/// densest around the most likely finish, and thin out again in the long tail. An interval is
/// chosen so that it also fits the density where it ends (a poll never jumps over the dense
/// part), and is jittered by ±10% so that many clients do not poll in lockstep. A first
/// early poll (`first_poll`, default 4 s) catches generations that fail at once.
///
/// # The knob: `peak_interval`
///
/// [`AdaptiveSchedule::with_peak_interval`] trades cost for latency; everything else follows
/// from it (`max_interval` is 12 × `peak_interval`, at most 60 s, unless set). Measured by
/// `cargo run --release -p pipevideo-core --example poll-simulation` on the default workload:
///
/// | `peak_interval` | polls / generation | detection delay p50 | p95 | compare |
/// |---|---|---|---|---|
/// | 0.3 s | ≈ 85 | ≈ 0.2 s | ≈ 0.4 s | fixed 0.5 s: ≈ 116 polls, 0.25 s, 0.48 s |
/// | 1.6 s (default) | ≈ 19 | ≈ 0.9 s | ≈ 2.3 s | fixed 3 s: ≈ 20 polls, 1.5 s, 2.85 s |
/// | 6 s | ≈ 6 | ≈ 3.5 s | ≈ 10 s | exponential 1 s ×2 ≤ 60 s: ≈ 6.6 polls, 14 s, 49 s |
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::poll::{AdaptiveSchedule, LogNormal, PollSchedule};
///
/// // A slower model, and twice the default's polling effort near its likely finish.
/// let prior = LogNormal::new(Duration::from_secs(120), 0.4)?;
/// let schedule = AdaptiveSchedule::default()
///     .with_prior(prior)
///     .with_peak_interval(Duration::from_millis(800))?;
/// let schedule = PollSchedule::from(schedule);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveSchedule {
    prior: LogNormal,
    peak_interval: Duration,
    max_interval: Option<Duration>,
    first_poll: Duration,
    jitter: f64,
}

impl Default for AdaptiveSchedule {
    fn default() -> Self {
        Self {
            prior: LogNormal::PIPEVIDEO,
            peak_interval: Self::DEFAULT_PEAK_INTERVAL,
            max_interval: None,
            first_poll: Duration::from_secs(4),
            jitter: 0.1,
        }
    }
}

impl AdaptiveSchedule {
    /// The default interval between polls around the most likely finish: 1.6 s.
    pub const DEFAULT_PEAK_INTERVAL: Duration = Duration::from_millis(1600);

    /// The expected duration the schedule follows.
    #[must_use]
    pub fn with_prior(mut self, prior: LogNormal) -> Self {
        self.prior = prior;
        self
    }

    /// The interval between polls around the most likely finish: the cost/latency knob.
    pub fn with_peak_interval(mut self, interval: Duration) -> Result<Self, ScheduleError> {
        self.peak_interval = check("peak interval", interval)?;
        Ok(self)
    }

    /// The longest interval between two polls (default: 12 × the peak interval, at most 60 s).
    pub fn with_max_interval(mut self, interval: Duration) -> Result<Self, ScheduleError> {
        self.max_interval = Some(check("maximum interval", interval)?);
        Ok(self)
    }

    /// When the first poll after creation goes out (default 4 s), to catch generations that
    /// fail at once.
    pub fn with_first_poll(mut self, after: Duration) -> Result<Self, ScheduleError> {
        self.first_poll = check("first poll delay", after)?;
        Ok(self)
    }

    /// The jitter applied to each interval, as a fraction (default 0.1, i.e. ±10%).
    pub fn with_jitter(mut self, fraction: f64) -> Result<Self, ScheduleError> {
        if !fraction.is_finite() || !(0.0..=0.5).contains(&fraction) {
            return Err(ScheduleError::Jitter(fraction));
        }
        self.jitter = fraction;
        Ok(self)
    }

    /// The expected duration the schedule follows.
    pub fn prior(&self) -> &LogNormal {
        &self.prior
    }

    /// The interval between polls around the most likely finish.
    pub fn peak_interval(&self) -> Duration {
        self.peak_interval
    }

    /// The longest interval between two polls.
    pub fn max_interval(&self) -> Duration {
        self.max_interval.unwrap_or_else(|| {
            (self.peak_interval * 12)
                .min(Duration::from_secs(60))
                .max(self.peak_interval)
        })
    }

    /// The unjittered interval wanted around `t` seconds since creation.
    fn interval_at(&self, t: f64, peak: f64, max: f64) -> f64 {
        let rel = self.prior.relative_pdf(t);
        if rel <= 0.0 {
            return max;
        }
        (peak / rel.sqrt()).min(max)
    }

    fn next(&self, elapsed: Duration, polls: u32, rng: &mut impl Rng) -> Duration {
        let t = elapsed.as_secs_f64();
        let jitter = if self.jitter > 0.0 {
            rng.random_range(1.0 - self.jitter..=1.0 + self.jitter)
        } else {
            1.0
        };
        if polls == 0 && elapsed < self.first_poll {
            return self.first_poll.mul_f64(jitter).max(elapsed + MIN_INTERVAL);
        }
        let peak = self.peak_interval.as_secs_f64();
        let max = self.max_interval().as_secs_f64();
        // The smallest step s with s >= interval(t + s): the poll lands no further out than
        // the density where it lands allows. g(s) = s - interval(t + s) is negative at s = 0
        // and non-negative at s = max; bisect.
        let (mut lo, mut hi) = (0.0_f64, max);
        if hi - self.interval_at(t + hi, peak, max) > 0.0 {
            for _ in 0..40 {
                let mid = 0.5 * (lo + hi);
                if mid - self.interval_at(t + mid, peak, max) >= 0.0 {
                    hi = mid;
                } else {
                    lo = mid;
                }
                if hi - lo < 1e-3 {
                    break;
                }
            }
        }
        let step = (hi * jitter).max(MIN_INTERVAL.as_secs_f64());
        elapsed + Duration::from_secs_f64(step)
    }
}

/// When to poll a generation: adaptive (the default) or one of the classic baselines.
///
/// A schedule is a pure function from "how long since the generation was created, how many
/// polls so far" (plus an RNG for jitter) to "when, since creation, to poll next". The
/// [`Poller`](super::Poller) may poll later than asked (a 429's `retry_after`, the fleet's
/// request budget), never earlier.
///
/// ```
/// use std::time::Duration;
/// use rand::{SeedableRng, rngs::SmallRng};
/// use pipevideo_core::poll::PollSchedule;
///
/// let mut rng = SmallRng::seed_from_u64(7);
/// let fixed = PollSchedule::fixed(Duration::from_secs(3))?;
/// assert_eq!(fixed.next_poll(Duration::from_secs(6), 2, &mut rng), Duration::from_secs(9));
///
/// let adaptive = PollSchedule::default();
/// // Early on, polls are sparse; near the likely finish (about 50 s) they are dense.
/// let early = adaptive.next_poll(Duration::from_secs(10), 1, &mut rng) - Duration::from_secs(10);
/// let peak = adaptive.next_poll(Duration::from_secs(50), 9, &mut rng) - Duration::from_secs(50);
/// assert!(early > 3 * peak);
/// # Ok::<(), pipevideo_core::poll::ScheduleError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PollSchedule {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Adaptive(AdaptiveSchedule),
    Fixed(Duration),
    Exponential {
        initial: Duration,
        factor: f64,
        cap: Duration,
    },
}

impl Default for PollSchedule {
    /// [`AdaptiveSchedule::default`].
    fn default() -> Self {
        Self::from(AdaptiveSchedule::default())
    }
}

impl From<AdaptiveSchedule> for PollSchedule {
    fn from(s: AdaptiveSchedule) -> Self {
        Self {
            kind: Kind::Adaptive(s),
        }
    }
}

impl PollSchedule {
    /// Polls every `interval`, first at `interval` after creation, without jitter.
    pub fn fixed(interval: Duration) -> Result<Self, ScheduleError> {
        Ok(Self {
            kind: Kind::Fixed(check("interval", interval)?),
        })
    }

    /// Waits `initial`, then `initial × factor`, … up to `cap` between polls, without
    /// jitter (`exponential(1 s, 2.0, 60 s)` polls at 1, 3, 7, 15, 31, 63, 123, … s).
    pub fn exponential(
        initial: Duration,
        factor: f64,
        cap: Duration,
    ) -> Result<Self, ScheduleError> {
        let initial = check("initial interval", initial)?;
        let cap = check("interval cap", cap)?;
        if !factor.is_finite() || !(1.0..=10.0).contains(&factor) {
            return Err(ScheduleError::Factor(factor));
        }
        Ok(Self {
            kind: Kind::Exponential {
                initial,
                factor,
                cap,
            },
        })
    }

    /// The adaptive schedule, if this is one.
    pub fn as_adaptive(&self) -> Option<&AdaptiveSchedule> {
        match &self.kind {
            Kind::Adaptive(a) => Some(a),
            _ => None,
        }
    }

    /// The expected duration this schedule assumes (the default prior for the baselines).
    pub fn prior(&self) -> &LogNormal {
        match &self.kind {
            Kind::Adaptive(a) => &a.prior,
            _ => &LogNormal::PIPEVIDEO,
        }
    }

    /// When to poll next, as time since creation, given the time since creation now and the
    /// number of polls already sent. Always later than `elapsed`.
    pub fn next_poll(&self, elapsed: Duration, polls: u32, rng: &mut impl Rng) -> Duration {
        match &self.kind {
            Kind::Adaptive(a) => a.next(elapsed, polls, rng),
            Kind::Fixed(d) => elapsed + *d,
            Kind::Exponential {
                initial,
                factor,
                cap,
            } => {
                let exp = i32::try_from(polls).unwrap_or(i32::MAX).min(64);
                let wait = initial.as_secs_f64() * factor.powi(exp);
                elapsed + Duration::from_secs_f64(wait.min(cap.as_secs_f64()))
            }
        }
    }
}
