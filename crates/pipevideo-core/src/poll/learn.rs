//! Learning the duration distribution per model and engine from completed generations.

use std::collections::HashMap;
use std::time::Duration;

use super::LogNormal;

/// Learns how long generations take, per key (e.g. `"hyperframes/moonshotai/kimi-k2.5"`),
/// from the durations of completed generations, starting from a prior.
///
/// It keeps, per key, the running mean and variance of `ln(seconds)` and blends them with the
/// prior as if the prior were `prior_weight` observations (default 10), so one odd
/// generation does not swing the schedule. Feed it the time from create to the poll that saw
/// `completed` (an overestimate by at most one poll interval); failed generations say
/// nothing about render time and should not be fed.
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::poll::{AdaptiveSchedule, DurationLearner};
///
/// let mut learner = DurationLearner::default();
/// for secs in [118, 125, 131, 122, 127, 120, 135, 119, 124, 128, 126, 121] {
///     learner.observe("lottie/kimi", Duration::from_secs(secs));
/// }
/// let prior = learner.prior("lottie/kimi");
/// assert!(prior.median() > Duration::from_secs(90));
/// let schedule = AdaptiveSchedule::default().with_prior(prior);
/// // Keys never seen use the prior.
/// assert_eq!(learner.prior("other").median(), Duration::from_secs(55));
/// ```
#[derive(Debug, Clone)]
pub struct DurationLearner {
    prior: LogNormal,
    prior_weight: f64,
    keys: HashMap<String, Moments>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    n: f64,
    mean: f64,
    m2: f64,
}

impl Default for DurationLearner {
    fn default() -> Self {
        Self::new(LogNormal::PIPEVIDEO, 10)
    }
}

impl DurationLearner {
    /// The most keys kept; past it, observations for new keys are ignored.
    pub const MAX_KEYS: usize = 1024;

    /// A learner starting from `prior`, weighted as `prior_weight` observations.
    pub fn new(prior: LogNormal, prior_weight: u32) -> Self {
        Self {
            prior,
            prior_weight: f64::from(prior_weight),
            keys: HashMap::new(),
        }
    }

    /// Records the duration of one completed generation. Zero durations are ignored.
    pub fn observe(&mut self, key: &str, duration: Duration) {
        let secs = duration.as_secs_f64();
        if secs <= 0.0 || !secs.is_finite() {
            return;
        }
        if !self.keys.contains_key(key) && self.keys.len() >= Self::MAX_KEYS {
            return;
        }
        let m = self.keys.entry(key.to_owned()).or_default();
        let x = secs.ln();
        m.n += 1.0;
        let delta = x - m.mean;
        m.mean += delta / m.n;
        m.m2 += delta * (x - m.mean);
    }

    /// How many generations were observed for `key`.
    pub fn observations(&self, key: &str) -> u64 {
        // `n` only ever counts whole observations.
        self.keys.get(key).map_or(0, |m| m.n as u64)
    }

    /// The learned distribution for `key`: the prior blended with what was observed.
    pub fn prior(&self, key: &str) -> LogNormal {
        let Some(m) = self.keys.get(key) else {
            return self.prior;
        };
        let w = self.prior_weight;
        let (p_mu, p_s) = (self.prior.mu(), self.prior.sigma());
        let n = m.n;
        let mu = (w * p_mu + n * m.mean) / (w + n);
        // Pooled second moment around the blended mean.
        let p_second = p_s * p_s + (p_mu - mu).powi(2);
        let o_second = if n > 0.0 {
            m.m2 / n + (m.mean - mu).powi(2)
        } else {
            0.0
        };
        let var = (w * p_second + n * o_second) / (w + n);
        LogNormal::from_log_params(mu, var.sqrt())
    }
}
