//! Running a client on a faster (or slower) clock: the settings for a server whose time is
//! scaled, such as the emulator's.

use std::time::Duration;

use super::{PacingPolicy, RetryPolicy, WaitPolicy};
use crate::policy::AdaptiveSchedule;
use crate::policy::Backoff;
use crate::policy::LogNormal;
use crate::policy::PollSchedule;

/// Why a [`TimeScale`] was refused.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeScaleError {
    /// NaN or an infinity.
    #[error("a time scale must be a finite number, got {0}")]
    NotFinite(f64),
    /// Zero or negative: time that stands still or runs backwards.
    #[error("a time scale must be greater than 0, got {0}")]
    NotPositive(f64),
    /// Above [`TimeScale::MAX`].
    #[error("a time scale must be at most {max}, got {0}", max = TimeScale::MAX)]
    TooLarge(f64),
}

/// How many real seconds one second of the server's time lasts: `0.02` is a server (the
/// emulator with `time_scale(0.02)`) whose one-minute generation takes 1.2 real seconds.
///
/// A client talking to such a server must follow its clock: a client on the real-time
/// schedule would make its first poll after 4 s, when the generation finished long ago, and
/// would pace itself to a 60-second rate-limit window the server counts in 1.2 s.
/// [`ClientBuilder::time_scale`](crate::client::ClientBuilder::time_scale) sets the three policies this type derives; the methods
/// return them one by one, to adjust before use.
///
/// Every duration that is about the *server's* behaviour is multiplied by the scale. A few
/// are also about *this machine* (how long a loopback round trip takes on a loaded CI runner,
/// in a debug build), and those keep a floor, so that a very fast clock never turns them into
/// false timeouts:
///
/// | Setting | Default (scale 1) | Scaled, at least | Why that floor |
/// |---|---|---|---|
/// | pacing window ([`PacingPolicy::window`]) | 60 s | 1 ms | a zero window turns pacing off; a floor keeps it on (a longer window only makes the client stricter) |
/// | expected duration, median ([`LogNormal`] prior) | 55 s | 10 ms | the schedule never polls at shorter intervals, so a shorter expectation changes nothing |
/// | peak poll interval ([`AdaptiveSchedule::peak_interval`]) | 1.5 s | 10 ms | the schedule's minimum interval |
/// | first poll after creation | 4 s | 10 ms | the schedule's minimum interval |
/// | longest poll interval ([`AdaptiveSchedule::max_interval`]) | 18 s (12 × peak) | follows the peak | — |
/// | wait deadline ([`WaitPolicy::deadline`]) | 10 min | 5 s | a wait gets at least as long as one call (below): one slow poll must not end it |
/// | 404 grace after creation ([`WaitPolicy::not_found_grace`]) | 10 s | 500 ms | a 404 is judged when its answer arrives; on a loaded machine that can take hundreds of ms, and a grace spent on the round trip would turn "not visible yet" into a hard not-found |
/// | backoff base ([`Backoff::base`]) | 0.5 s | 10 ms | a retry sooner than the schedule's minimum interval only hammers a server that just failed |
/// | backoff cap ([`Backoff::cap`]) | 20 s | 100 ms | ten times the base floor, so backoff still grows over several retries |
/// | call deadline ([`RetryPolicy::deadline`]) | 90 s | 5 s | room for a few attempts at the attempt-timeout floor |
/// | attempt timeout ([`RetryPolicy::attempt_timeout`]) | 30 s | 2 s | what a loopback request needs in a debug build on a busy machine: a scaled 0.3 s would time out healthy requests |
/// | server-asked wait cap ([`RetryPolicy::server_wait_cap`]) | 120 s | 3 s | a server-asked wait shorter than that is always worth sleeping: giving up would cost more than the wait |
///
/// Counts are not durations and stay as they are: the pacing limit (90 per window) and
/// burst, the attempt limit (4), the retry budget, the schedule's jitter. At scale 1 every
/// method returns exactly the default policy.
///
/// The accepted range is the emulator's: finite, greater than 0 and at most
/// [`TimeScale::MAX`] (1000; scales above 1 slow the server down, to watch a run).
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::client::Client;
/// use pipevideo_core::policy::TimeScale;
/// use pipevideo_core::policy::RetryPolicy;
///
/// // The emulator runs 50× faster than real time.
/// let scale = TimeScale::new(0.02)?;
/// assert_eq!(scale.pacing().window(), Duration::from_millis(1200));
/// assert_eq!(scale.retry_policy().attempt_timeout(), Duration::from_secs(2)); // floored
/// assert_eq!(TimeScale::REAL_TIME.retry_policy(), RetryPolicy::default());
/// assert!(TimeScale::new(0.0).is_err());
///
/// # fn build<T: pipevideo_core::transport::Transport>(transport: T, scale: TimeScale) {
/// // Set the three policies, then adjust one: more attempts for a run with faults.
/// let builder = Client::builder(transport)
///     .time_scale(scale)
///     .retry_policy(scale.retry_policy().with_attempt_limit(8));
/// # }
/// # Ok::<(), pipevideo_core::policy::TimeScaleError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct TimeScale(f64);

impl Default for TimeScale {
    /// [`TimeScale::REAL_TIME`].
    fn default() -> Self {
        Self::REAL_TIME
    }
}

impl TryFrom<f64> for TimeScale {
    type Error = TimeScaleError;

    fn try_from(factor: f64) -> Result<Self, TimeScaleError> {
        Self::new(factor)
    }
}

impl std::fmt::Display for TimeScale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "×{}", self.0)
    }
}

/// The floors of the table in [`TimeScale`]'s docs.
mod floor {
    use std::time::Duration;

    pub(super) const PACING_WINDOW: Duration = Duration::from_millis(1);
    pub(super) const PRIOR_MEDIAN: Duration = Duration::from_millis(10);
    pub(super) const POLL_INTERVAL: Duration = Duration::from_millis(10);
    pub(super) const WAIT_DEADLINE: Duration = Duration::from_secs(5);
    pub(super) const NOT_FOUND_GRACE: Duration = Duration::from_millis(500);
    pub(super) const BACKOFF_BASE: Duration = Duration::from_millis(10);
    pub(super) const BACKOFF_CAP: Duration = Duration::from_millis(100);
    pub(super) const CALL_DEADLINE: Duration = Duration::from_secs(5);
    pub(super) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
    pub(super) const SERVER_WAIT_CAP: Duration = Duration::from_secs(3);
}

impl TimeScale {
    /// Real time: every policy at its default.
    pub const REAL_TIME: Self = Self(1.0);
    /// The largest scale accepted (the emulator's limit): one server second lasts 1000 s.
    pub const MAX: f64 = 1000.0;

    /// A scale of `factor` real seconds per server second; refused unless finite, greater
    /// than 0 and at most [`TimeScale::MAX`].
    pub const fn new(factor: f64) -> Result<Self, TimeScaleError> {
        if !factor.is_finite() {
            Err(TimeScaleError::NotFinite(factor))
        } else if factor <= 0.0 {
            Err(TimeScaleError::NotPositive(factor))
        } else if factor > Self::MAX {
            Err(TimeScaleError::TooLarge(factor))
        } else {
            Ok(Self(factor))
        }
    }

    /// Real seconds per server second.
    pub fn factor(self) -> f64 {
        self.0
    }

    /// Whether this is [`TimeScale::REAL_TIME`].
    pub fn is_real_time(self) -> bool {
        self.0 == 1.0
    }

    /// How long `server_time` of the server's clock lasts in real time (no floor; saturates
    /// at `Duration::MAX`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use pipevideo_core::policy::TimeScale;
    /// let scale = TimeScale::new(0.05)?;
    /// assert_eq!(scale.real(Duration::from_secs(60)), Duration::from_secs(3));
    /// # Ok::<(), pipevideo_core::policy::TimeScaleError>(())
    /// ```
    pub fn real(self, server_time: Duration) -> Duration {
        if self.is_real_time() {
            return server_time;
        }
        Duration::try_from_secs_f64(server_time.as_secs_f64() * self.0).unwrap_or(Duration::MAX)
    }

    fn floored(self, server_time: Duration, floor: Duration) -> Duration {
        self.real(server_time).max(floor)
    }

    /// The default pacing with its window scaled (limit and burst unchanged).
    pub fn pacing(self) -> PacingPolicy {
        PacingPolicy::default()
            .with_window(self.floored(PacingPolicy::DEFAULT_WINDOW, floor::PACING_WINDOW))
    }

    /// The default adaptive poll schedule following the scaled clock: its expected duration,
    /// peak and first-poll intervals scaled (and, above scale 1, its longest interval).
    pub fn schedule(self) -> AdaptiveSchedule {
        let default = AdaptiveSchedule::default();
        if self.is_real_time() {
            return default;
        }
        let prior = *default.prior();
        let prior = LogNormal::new(
            self.floored(prior.median(), floor::PRIOR_MEDIAN),
            prior.sigma(),
        )
        .unwrap_or(prior);
        // A scaled default is still a default: learned durations may replace it.
        let mut schedule = default.with_learnable_prior(prior);
        // Every value below is at least the schedule's 10 ms minimum (the floors) and at most
        // 5 h at `MAX` (18 s × 1000), under its one-day maximum: none is refused (the unit
        // tests check both ends); an `Err` would keep the previous value.
        let longest = schedule.max_interval();
        schedule = schedule
            .clone()
            .with_peak_interval(self.floored(schedule.peak_interval(), floor::POLL_INTERVAL))
            .unwrap_or(schedule);
        schedule = schedule
            .clone()
            .with_first_poll(
                self.floored(AdaptiveSchedule::DEFAULT_FIRST_POLL, floor::POLL_INTERVAL),
            )
            .unwrap_or(schedule);
        if self.0 > 1.0 {
            // Below scale 1 the default (12 × peak, at most 60 s) already follows the peak;
            // above it, its 60 s cap would not scale.
            schedule = schedule
                .clone()
                .with_max_interval(self.real(longest))
                .unwrap_or(schedule);
        }
        schedule
    }

    /// The default wait policy with the scaled [`schedule`](Self::schedule), deadline and 404
    /// grace.
    pub fn wait_policy(self) -> WaitPolicy {
        let policy = WaitPolicy::default()
            .with_schedule(PollSchedule::from(self.schedule()))
            .with_not_found_grace(
                self.floored(WaitPolicy::DEFAULT_NOT_FOUND_GRACE, floor::NOT_FOUND_GRACE),
            );
        // At most 10 min × 1000, under the one-week maximum.
        policy
            .clone()
            .with_deadline(self.floored(WaitPolicy::DEFAULT_DEADLINE, floor::WAIT_DEADLINE))
            .unwrap_or(policy)
    }

    /// The default retry policy with its backoff, deadline, attempt timeout and server-asked
    /// wait cap scaled (the attempt limit unchanged).
    pub fn retry_policy(self) -> RetryPolicy {
        let backoff = Backoff::default()
            .with_base(self.floored(Backoff::DEFAULT_BASE, floor::BACKOFF_BASE))
            .with_cap(self.floored(Backoff::DEFAULT_CAP, floor::BACKOFF_CAP));
        RetryPolicy::default()
            .with_deadline(self.floored(RetryPolicy::DEFAULT_DEADLINE, floor::CALL_DEADLINE))
            .with_attempt_timeout(
                self.floored(RetryPolicy::DEFAULT_ATTEMPT_TIMEOUT, floor::ATTEMPT_TIMEOUT),
            )
            .with_server_wait_cap(
                self.floored(RetryPolicy::DEFAULT_SERVER_WAIT_CAP, floor::SERVER_WAIT_CAP),
            )
            .with_backoff(backoff)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;
    const SECS: fn(u64) -> Duration = Duration::from_secs;

    fn scale(f: f64) -> TimeScale {
        TimeScale::new(f).expect("a valid scale")
    }

    /// The schedule's decisions up to the first at or past `horizon`, which `PartialEq` on the schedule cannot see in full.
    fn polls(schedule: &AdaptiveSchedule, horizon: Duration) -> Vec<Duration> {
        let schedule = PollSchedule::from(schedule.clone());
        let mut rng = SmallRng::seed_from_u64(3);
        let mut at = Duration::ZERO;
        let mut out = Vec::new();
        loop {
            at = schedule.next_poll(at, out.len() as u32, &mut rng);
            out.push(at);
            if at >= horizon {
                return out;
            }
        }
    }

    #[test]
    fn real_time_gives_exactly_the_defaults() {
        let real = TimeScale::REAL_TIME;
        assert_eq!(TimeScale::default(), real);
        assert_eq!(scale(1.0), real);
        assert!(real.is_real_time());
        assert_eq!(real.pacing(), PacingPolicy::default());
        assert_eq!(real.wait_policy(), WaitPolicy::default());
        assert_eq!(real.retry_policy(), RetryPolicy::default());
        assert_eq!(real.schedule(), AdaptiveSchedule::default());
        assert_eq!(real.real(SECS(55)), SECS(55));
    }

    #[test]
    fn the_first_poll_default_is_the_schedules() {
        // The schedule's first decision shows the constant is the one it uses.
        const DEFAULT_FIRST_POLL: Duration = AdaptiveSchedule::DEFAULT_FIRST_POLL;
        let mut rng = SmallRng::seed_from_u64(1);
        let first = PollSchedule::default().next_poll(Duration::ZERO, 0, &mut rng);
        let jitter = DEFAULT_FIRST_POLL.mul_f64(0.1);
        assert!(first.abs_diff(DEFAULT_FIRST_POLL) <= jitter, "{first:?}");
    }

    #[test]
    fn a_fiftieth_scales_every_server_duration() {
        let s = scale(0.02);
        assert_eq!(s.real(SECS(60)), MS(1200));

        let pacing = s.pacing();
        assert_eq!(pacing.window(), MS(1200));
        assert_eq!(pacing.limit(), PacingPolicy::DEFAULT_LIMIT);
        assert_eq!(pacing.burst(), PacingPolicy::DEFAULT_BURST);

        let schedule = s.schedule();
        assert_eq!(schedule.prior().median().as_millis(), 1100);
        assert_eq!(schedule.prior().sigma(), LogNormal::PIPEVIDEO.sigma());
        assert_eq!(schedule.peak_interval(), MS(30));
        assert_eq!(schedule.max_interval(), MS(360));

        let wait = s.wait_policy();
        assert_eq!(wait.deadline(), SECS(12));
        assert_eq!(wait.not_found_grace(), MS(500)); // 200 ms, floored
        assert_eq!(wait.schedule(), &PollSchedule::from(schedule));
        assert!(!wait.expects_webhooks());

        let retry = s.retry_policy();
        assert_eq!(retry.attempt_limit(), RetryPolicy::DEFAULT_ATTEMPT_LIMIT);
        assert_eq!(retry.backoff().base(), MS(10));
        assert_eq!(retry.backoff().cap(), MS(400));
        assert_eq!(retry.backoff().factor(), Backoff::DEFAULT_FACTOR);
        assert_eq!(retry.deadline(), SECS(5)); // 1.8 s, floored
        assert_eq!(retry.attempt_timeout(), SECS(2)); // 0.6 s, floored
        assert_eq!(retry.server_wait_cap(), SECS(3)); // 2.4 s, floored
    }

    #[test]
    fn the_scaled_schedule_is_the_default_one_on_a_faster_clock() {
        // Same seed, same decisions: every poll time is the default's times the scale, so a scaled client polls a scaled generation as often as a real-time
        // client polls a real one.
        let real = polls(&AdaptiveSchedule::default(), SECS(120));
        let fast = polls(&scale(0.05).schedule(), SECS(6));
        // Within 1 % (the schedule settles each step to 10 ms, which is coarser on a faster
        // clock), so the counts may differ by the one poll nearest the horizon.
        assert!(real.len().abs_diff(fast.len()) <= 1, "{real:?} vs {fast:?}");
        for (r, f) in real.iter().zip(&fast) {
            let ratio = f.as_secs_f64() / (r.as_secs_f64() * 0.05);
            assert!((0.99..=1.01).contains(&ratio), "{f:?} vs {r:?}");
        }
    }

    #[test]
    fn floors_hold_at_the_fastest_clocks() {
        for f in [1e-6, 1e-9, f64::MIN_POSITIVE, 5e-324] {
            let s = scale(f);
            assert_eq!(s.pacing().window(), floor::PACING_WINDOW, "{f}");
            let schedule = s.schedule();
            assert_eq!(schedule.peak_interval(), floor::POLL_INTERVAL, "{f}");
            assert!(schedule.prior().median() >= floor::PRIOR_MEDIAN, "{f}");
            let first = polls(&schedule, Duration::ZERO);
            assert!(first[0] >= MS(9), "first poll {first:?} at {f}");
            let wait = s.wait_policy();
            assert_eq!(wait.deadline(), floor::WAIT_DEADLINE, "{f}");
            assert_eq!(wait.not_found_grace(), floor::NOT_FOUND_GRACE, "{f}");
            let retry = s.retry_policy();
            assert_eq!(retry.backoff().base(), floor::BACKOFF_BASE, "{f}");
            assert_eq!(retry.backoff().cap(), floor::BACKOFF_CAP, "{f}");
            assert_eq!(retry.deadline(), floor::CALL_DEADLINE, "{f}");
            assert_eq!(retry.attempt_timeout(), floor::ATTEMPT_TIMEOUT, "{f}");
            assert_eq!(retry.server_wait_cap(), floor::SERVER_WAIT_CAP, "{f}");
        }
    }

    #[test]
    fn the_slowest_clock_scales_without_clamping() {
        let s = scale(TimeScale::MAX);
        assert_eq!(s.pacing().window(), SECS(60_000));
        let schedule = s.schedule();
        assert_eq!(schedule.peak_interval(), SECS(1500));
        assert_eq!(schedule.max_interval(), SECS(18_000));
        assert_eq!(polls(&schedule, Duration::ZERO).len(), 1);
        assert_eq!(s.wait_policy().deadline(), SECS(600_000));
        assert_eq!(s.wait_policy().not_found_grace(), SECS(10_000));
        let retry = s.retry_policy();
        assert_eq!(retry.deadline(), SECS(90_000));
        assert_eq!(retry.attempt_timeout(), SECS(30_000));
        assert_eq!(retry.server_wait_cap(), SECS(120_000));
        assert_eq!(retry.backoff().base(), SECS(500));
        assert_eq!(retry.backoff().cap(), SECS(20_000));
        // The first poll too: 4000 s, give or take the jitter.
        let first = polls(&schedule, Duration::ZERO)[0];
        assert!((3600..=4400).contains(&first.as_secs()), "{first:?}");
    }

    #[test]
    fn bad_scales_are_refused_with_their_reason() {
        assert!(matches!(
            TimeScale::new(f64::NAN),
            Err(TimeScaleError::NotFinite(_))
        ));
        assert_eq!(
            TimeScale::new(f64::INFINITY),
            Err(TimeScaleError::NotFinite(f64::INFINITY))
        );
        assert_eq!(
            TimeScale::new(f64::NEG_INFINITY),
            Err(TimeScaleError::NotFinite(f64::NEG_INFINITY))
        );
        assert_eq!(TimeScale::new(0.0), Err(TimeScaleError::NotPositive(0.0)));
        assert_eq!(TimeScale::new(-0.0), Err(TimeScaleError::NotPositive(-0.0)));
        assert_eq!(TimeScale::new(-0.5), Err(TimeScaleError::NotPositive(-0.5)));
        assert_eq!(
            TimeScale::new(1000.5),
            Err(TimeScaleError::TooLarge(1000.5))
        );
        assert_eq!(
            TimeScale::try_from(-1.0),
            Err(TimeScaleError::NotPositive(-1.0))
        );
        assert_eq!(
            TimeScale::new(0.0).unwrap_err().to_string(),
            "a time scale must be greater than 0, got 0"
        );
        assert_eq!(
            TimeScale::new(2000.0).unwrap_err().to_string(),
            "a time scale must be at most 1000, got 2000"
        );
        assert_eq!(scale(TimeScale::MAX).factor(), 1000.0);
        assert_eq!(scale(0.05).to_string(), "×0.05");
    }
}
