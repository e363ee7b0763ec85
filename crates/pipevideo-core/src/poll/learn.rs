//! Learning the duration distribution per model and engine from completed generations.

use std::collections::HashMap;
use std::time::Duration;

use crate::policy::LogNormal;

/// Learns how long generations take, per key (e.g. `"hyperframes/moonshotai/kimi-k2.5"`),
/// from the durations of completed generations, starting from a prior.
///
/// It keeps, per key, the running mean and variance of `ln(seconds)` and blends them with the
/// prior as if the prior were `prior_weight` observations (default 10), so one odd
/// generation does not swing the schedule. Feed it the time from create to the poll that saw
/// `completed` (an overestimate by at most one poll interval); failed generations say
/// nothing about render time and should not be fed.
///
/// Not yet used by the client: its waits start from [`LogNormal::PIPEVIDEO`]. A caller that
/// drives its own [`Poller`](super::Poller) can learn priors with it and hand them to
/// [`AdaptiveSchedule::with_prior`](crate::policy::AdaptiveSchedule::with_prior).
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::poll::DurationLearner;
/// use pipevideo_core::policy::AdaptiveSchedule;
///
/// let mut learner = DurationLearner::default();
/// for secs in [118, 125, 131, 122, 127, 120, 135, 119, 124, 128, 126, 121] {
///     learner.observe("lottie/kimi", Duration::from_secs(secs));
/// }
/// let prior = learner.prior("lottie/kimi");
/// // Blended with the prior (weighted as 10 observations): between 55 s and the ~125 s seen.
/// assert!(prior.median() > Duration::from_secs(80) && prior.median() < Duration::from_secs(125));
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::SmallRng};

    #[test]
    fn learns_a_slower_model_and_keeps_keys_apart() {
        let truth = LogNormal::new(Duration::from_secs(120), 0.2).unwrap();
        let mut rng = SmallRng::seed_from_u64(8);
        let mut learner = DurationLearner::default();
        for _ in 0..2_000 {
            learner.observe("slow", Duration::from_secs_f64(truth.sample_secs(&mut rng)));
        }
        let learned = learner.prior("slow");
        assert!(
            (learned.median().as_secs_f64() - 120.0).abs() < 5.0,
            "{learned:?}"
        );
        assert!((learned.sigma() - 0.2).abs() < 0.05, "{learned:?}");
        assert_eq!(learner.observations("slow"), 2_000);
        assert_eq!(learner.prior("fast"), LogNormal::PIPEVIDEO);
        learner.observe("zero", Duration::ZERO);
        assert_eq!(learner.observations("zero"), 0);
    }

    #[test]
    fn the_number_of_keys_is_bounded() {
        let mut learner = DurationLearner::default();
        for i in 0..DurationLearner::MAX_KEYS + 10 {
            learner.observe(&format!("k{i}"), Duration::from_secs(50));
        }
        assert_eq!(learner.keys.len(), DurationLearner::MAX_KEYS);
    }
}
