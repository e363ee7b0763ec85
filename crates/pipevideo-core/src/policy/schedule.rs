//! When to poll next: the adaptive schedule and the classic baselines, as data.

use std::time::Duration;

use rand_core::RngCore;

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
    /// An interval must be at most [`MAX_INTERVAL`] (one day).
    #[error("the {what} must be at most one day, got {got:?}")]
    TooLong {
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

/// The longest interval a schedule accepts: one day. Longer ones are refused rather than left
/// to overflow instant arithmetic (a wait's deadline is at most a week anyway).
pub const MAX_INTERVAL: Duration = Duration::from_secs(24 * 60 * 60);

fn check(what: &'static str, got: Duration) -> Result<Duration, ScheduleError> {
    if got < MIN_INTERVAL {
        Err(ScheduleError::TooShort { what, got })
    } else if got > MAX_INTERVAL {
        Err(ScheduleError::TooLong { what, got })
    } else {
        Ok(got)
    }
}

/// The adaptive schedule: polls follow the chance that the generation finishes now.
///
/// The interval between two polls at `t` seconds after creation is
///
/// ```text
/// interval(t) = peak_interval × sqrt(h_peak / h(t)),   at most max_interval
/// ```
///
/// where `h(t)` is the **completion hazard** of the expected duration ([`LogNormal`], by
/// default median 55 s, sigma 0.35): how likely a generation still running at `t` is to finish
/// in the next second. `h_peak` is its maximum. Why this shape: a poll at `t` is paid only by
/// generations still running (weight `S(t)`, the survival function), and saves delay only for
/// those finishing near `t` (weight `f(t)`); minimising polls plus expected delay gives an
/// interval proportional to `sqrt(S/f) = 1/sqrt(h)`. So polls are sparse while the
/// generation cannot plausibly be done, densest where it most likely finishes, and, past the
/// 99th percentile of the expected duration (where the prior no longer says much), the
/// interval doubles every quarter of the median until `max_interval`: a stuck generation is not
/// polled densely for ten minutes.
///
/// An interval is chosen so that it also fits the hazard where it ends (a poll never jumps
/// over the dense part) and is jittered by ±10% so that many clients do not poll in lockstep.
/// A first early poll (`first_poll`, default 4 s) catches generations that fail at once.
///
/// # The knob: `peak_interval`
///
/// [`AdaptiveSchedule::with_peak_interval`] trades cost for latency; everything else follows
/// from it (`max_interval` is 12 × `peak_interval`, at most 60 s, unless set). Measured by
/// `cargo run --release -p pipevideo-core --example poll-simulation` on the default workload
/// (see the table in the [module docs](super)): the default, 1.5 s, spends fewer polls than
/// fixed 3 s with a lower p50 and p95 delay; 0.5 s beats fixed 0.5 s; 6 s beats exponential
/// backoff 1 s ×2 capped at 60 s.
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::policy::AdaptiveSchedule;
/// use pipevideo_core::policy::LogNormal;
/// use pipevideo_core::policy::PollSchedule;
///
/// // A slower model, and more polling effort near its likely finish.
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
    /// The prior's largest hazard, cached.
    peak_hazard: f64,
    /// The prior's 99th percentile in seconds, cached: where the tail backoff starts.
    tail_start: f64,
    peak_interval: Duration,
    max_interval: Option<Duration>,
    first_poll: Duration,
    jitter: f64,
    /// Whether the prior was chosen by the caller ([`AdaptiveSchedule::with_prior`]): then a
    /// client's learned durations never replace it.
    explicit_prior: bool,
}

impl Default for AdaptiveSchedule {
    fn default() -> Self {
        Self {
            prior: LogNormal::PIPEVIDEO,
            peak_hazard: LogNormal::PIPEVIDEO.peak_hazard(),
            tail_start: LogNormal::PIPEVIDEO.quantile(0.99).as_secs_f64(),
            peak_interval: Self::DEFAULT_PEAK_INTERVAL,
            max_interval: None,
            first_poll: Self::DEFAULT_FIRST_POLL,
            jitter: 0.1,
            explicit_prior: false,
        }
    }
}

impl AdaptiveSchedule {
    /// The default interval between polls where finishing is most likely: 1.5 s.
    pub const DEFAULT_PEAK_INTERVAL: Duration = Duration::from_millis(1500);

    /// The default delay of the first, early poll (catches generations that fail at once): 4 s.
    pub const DEFAULT_FIRST_POLL: Duration = Duration::from_secs(4);

    /// The expected duration the schedule follows, chosen by the caller: the client's
    /// [learned durations](crate::poll::DurationLearner) never replace a prior set here
    /// (setting [`LogNormal::PIPEVIDEO`] here keeps a wait on the SDK's default whatever was
    /// learned). See [`AdaptiveSchedule::has_explicit_prior`].
    #[must_use]
    pub fn with_prior(mut self, prior: LogNormal) -> Self {
        self = self.with_learnable_prior(prior);
        self.explicit_prior = true;
        self
    }

    /// The expected duration, as a default the client may still replace with what it learned
    /// (the scaled default of a [`TimeScale`](super::TimeScale), a learned prior).
    #[must_use]
    pub(crate) fn with_learnable_prior(mut self, prior: LogNormal) -> Self {
        self.prior = prior;
        self.peak_hazard = prior.peak_hazard();
        self.tail_start = prior.quantile(0.99).as_secs_f64();
        self
    }

    /// Whether the prior was set with [`AdaptiveSchedule::with_prior`]. Only a schedule whose
    /// prior was not (the default, or a [`TimeScale`](super::TimeScale)'s scaled default,
    /// whatever its peak interval, first poll or jitter) follows the durations a client
    /// learned per model and engine.
    pub fn has_explicit_prior(&self) -> bool {
        self.explicit_prior
    }

    /// The interval between polls where finishing is most likely: the cost/latency knob.
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

    /// The interval between polls where finishing is most likely.
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
        let h = self.prior.hazard(t);
        if h <= 0.0 {
            return max;
        }
        let mut interval = peak * (self.peak_hazard / h).sqrt();
        if t > self.tail_start {
            let doubling = 0.25 * self.prior.median().as_secs_f64();
            interval *= ((t - self.tail_start) / doubling).min(64.0).exp2();
        }
        interval.min(max)
    }

    fn next(&self, elapsed: Duration, polls: u32, rng: &mut impl RngCore) -> Duration {
        let t = elapsed.as_secs_f64();
        let jitter = if self.jitter > 0.0 {
            crate::random::between_inclusive(rng, 1.0 - self.jitter, 1.0 + self.jitter)
        } else {
            1.0
        };
        if polls == 0 && elapsed < self.first_poll {
            return self
                .first_poll
                .mul_f64(jitter)
                .max(elapsed.saturating_add(MIN_INTERVAL));
        }
        let peak = self.peak_interval.as_secs_f64();
        let max = self.max_interval().as_secs_f64();
        // The smallest step s with s >= interval(t + s): the poll lands no further out than
        // the hazard where it lands allows. g(s) = s - interval(t + s) is negative at s = 0
        // and non-negative at s = max; bisect to 1% (or 10 ms).
        // Where the interval barely changes over one step (most of the time), one look ahead
        // settles it.
        let here = self.interval_at(t, peak, max);
        let ahead = self.interval_at(t + here, peak, max);
        let (mut lo, mut hi) = (0.0_f64, max);
        if (ahead - here).abs() <= 0.02 * here {
            hi = ahead;
        } else if hi - self.interval_at(t + hi, peak, max) > 0.0 {
            while hi - lo > (0.01 * hi).max(0.01) {
                let mid = 0.5 * (lo + hi);
                if mid - self.interval_at(t + mid, peak, max) >= 0.0 {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
        }
        let step = (hi * jitter).max(MIN_INTERVAL.as_secs_f64());
        elapsed.saturating_add(super::saturating_secs(step))
    }
}

/// When to poll a generation: adaptive (the default) or one of the classic baselines.
///
/// A schedule is a pure function from "how long since the generation was created, how many
/// polls so far" (plus an RNG for jitter) to "when, since creation, to poll next". The
/// [`Poller`](crate::poll::Poller) may poll later than asked (a 429's `retry_after`, the fleet's
/// request budget), never earlier.
///
/// ```
/// use std::time::Duration;
/// use rand::{SeedableRng, rngs::SmallRng};
/// use pipevideo_core::policy::PollSchedule;
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
/// # Ok::<(), pipevideo_core::policy::ScheduleError>(())
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
    pub fn next_poll(&self, elapsed: Duration, polls: u32, rng: &mut impl RngCore) -> Duration {
        match &self.kind {
            Kind::Adaptive(a) => a.next(elapsed, polls, rng),
            Kind::Fixed(d) => elapsed.saturating_add(*d),
            Kind::Exponential {
                initial,
                factor,
                cap,
            } => {
                let exp = i32::try_from(polls).unwrap_or(i32::MAX).min(64);
                let wait = initial.as_secs_f64() * factor.powi(exp);
                elapsed.saturating_add(super::saturating_secs(wait.min(cap.as_secs_f64())))
            }
        }
    }
}
