//! Learning how long generations take, per API flavour, model and engine, from the
//! generations that completed: the [`DurationLearner`], its [`DurationKey`], and what a
//! finished wait tells it ([`ServerDuration`]).

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use super::{OutcomeKind, WaitOutcome};
use crate::model::{CreateGeneration, CreateResponse, Generation};
use crate::policy::{LogNormal, WaitPolicy};
use crate::{Flavor, Status};

/// What the durations of generations are learned per: the API flavour, the model and the
/// engine, built in one place so that the client and a caller agree on it.
///
/// * Responses API: the request's `model` (the orchestration LLM) and `engine`; a request
///   without an engine is its own key (`default`), since the server picks the engine then.
/// * Legacy API: the request's `model`, or its `models` fallback list joined with `,` (the
///   same list may end on any of them); the engine is always `default`.
///
/// Model and engine names longer than [`DurationKey::MAX_NAME`] bytes are cut there, so a
/// learner's memory stays bounded whatever the names.
///
/// ```
/// use pipevideo_core::Flavor;
/// use pipevideo_core::model::{CreateResponse, Engine};
/// use pipevideo_core::poll::DurationKey;
///
/// let request = CreateResponse::new("moonshotai/kimi-k2.5", "A cat").engine(Engine::Lottie);
/// let key = DurationKey::for_request(&request);
/// assert_eq!(key, DurationKey::new(Flavor::Responses, "moonshotai/kimi-k2.5", Some("lottie")));
/// assert_eq!(key.to_string(), "responses/lottie/moonshotai/kimi-k2.5");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DurationKey {
    flavor: Flavor,
    engine: String,
    model: String,
}

impl DurationKey {
    /// The longest model or engine name kept in a key, in bytes (longer ones are cut at a
    /// character boundary).
    pub const MAX_NAME: usize = 256;

    /// The key of generations of `model` on `engine` (`None`: the server's default engine).
    pub fn new(flavor: Flavor, model: &str, engine: Option<&str>) -> Self {
        Self {
            flavor,
            engine: cut(engine.unwrap_or("default")),
            model: cut(model),
        }
    }

    /// The key of a responses-API create request: its model and engine.
    pub fn for_request(request: &CreateResponse) -> Self {
        Self::new(
            Flavor::Responses,
            &request.model,
            request.engine.as_ref().map(|e| e.as_str()),
        )
    }

    /// The key of a legacy create request: its model, or its fallback list joined with `,`.
    pub fn for_legacy_request(request: &CreateGeneration) -> Self {
        let model = match (&request.model, &request.models) {
            (Some(model), _) => model.clone(),
            (None, Some(models)) => models.join(","),
            (None, None) => String::new(),
        };
        Self::new(Flavor::Legacy, &model, None)
    }

    /// The API flavour.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The model (or the legacy fallback list).
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The engine: `default` when the request named none, and on the legacy API (which has
    /// no engine).
    pub fn engine(&self) -> &str {
        &self.engine
    }
}

impl fmt::Display for DurationKey {
    /// `flavour/engine/model`, e.g. `responses/hyperframes/moonshotai/kimi-k2.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.flavor, self.engine, self.model)
    }
}

fn cut(name: &str) -> String {
    let mut end = name.len().min(DurationKey::MAX_NAME);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name[..end].to_owned()
}

/// A snapshot that may say how long its generation took by the server's own clock
/// (`completed_at − created_at`). [`DurationLearner::handle_outcome`] prefers it to the time
/// the wait saw, when the two agree.
///
/// [`Generation`] reads both timestamps when the body carries them (the legacy API sends
/// both; the responses API `created_at`, and `completed_at` if the server sends it);
/// [`Status`] carries none.
pub trait ServerDuration {
    /// `completed_at − created_at`, if both are known and the first is later.
    fn server_duration(&self) -> Option<Duration> {
        None
    }
}

impl ServerDuration for Status {}

impl ServerDuration for Generation {
    fn server_duration(&self) -> Option<Duration> {
        let (created, completed) = (self.created_at()?, self.completed_at()?);
        let ms = completed.unix_millis().checked_sub(created.unix_millis())?;
        u64::try_from(ms)
            .ok()
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis)
    }
}

/// Learns how long generations take, per [`DurationKey`] (flavour, model, engine), from the
/// generations that completed, so that a wait polls where *that* model finishes: a model that
/// takes 25 s is not polled on the default 55 s prior.
///
/// # What it learns, and how fast
///
/// Per key, a [`LogNormal`]: where `ln(duration)` is centred (the median) and how wide it is
/// (sigma).
///
/// * **Nothing before [`MIN_OBSERVATIONS`](Self::MIN_OBSERVATIONS) (3) completions.** Until
///   then [`learned`](Self::learned) is `None` and waits keep the base prior (by default
///   [`LogNormal::PIPEVIDEO`], median 55 s, sigma 0.35). The third completion sets the median
///   to the median of the three (so one odd generation among them is ignored) and keeps the
///   base sigma.
/// * **Then each completion moves it**, by `1/n` of the way for the `n`-th, never less than
///   `1/`[`MEMORY`](Self::MEMORY) (a tenth): a running mean of `ln(duration)` that turns into
///   an exponential moving average with a memory of about ten generations, so a model that
///   gets faster (or slower) is followed within ten to twenty completions.
/// * **Robust to outliers.** Each completion counts at most [`CLIP`](Self::CLIP) (2) sigmas
///   away from the current median: once a key has ten completions, one generation ten times
///   slower than usual moves its median by at most `2 × sigma / 10` in log space (7% at
///   sigma 0.35; 2% for a model as steady as sigma 0.1), and the spread by as little; before
///   that by `2 × sigma / n`. A lasting change still gets through: the clipped distances
///   widen sigma, which widens the clip.
/// * **Sigma** is learned the same way, from the mean clipped distance to the median (a
///   robust scale), and the exposed sigma adds the uncertainty of the median itself (wide
///   after three completions, about 3% wider than the data's after many), so a young estimate
///   polls a wider window rather than a wrong narrow one.
///
/// # Bounds
///
/// A learned median stays within [`MEDIAN_RANGE`](Self::MEDIAN_RANGE) (20) times the base
/// prior's median either way (2.75 s to 18 min 20 s for the default), sigma within
/// [`SIGMA_RANGE`](Self::SIGMA_RANGE) (0.1 to 1.0), and at most [`MAX_KEYS`](Self::MAX_KEYS)
/// keys are kept (a completion of a new key past it forgets the key completed least
/// recently). Zero durations are ignored.
///
/// # What to feed it
///
/// Only completed generations: a failed one says nothing about render time, and a wait that
/// ended at its deadline only that the generation took longer.
/// [`handle_outcome`](Self::handle_outcome) does that choice: it feeds a
/// [`OutcomeKind::Completed`] outcome, with the server's own duration
/// ([`ServerDuration`]: `completed_at − created_at`) when the body has both timestamps and
/// it is no longer than when the wait saw it done (plus a little for the create's latency and
/// the timestamps' whole seconds), else the middle of what the wait saw: the
/// generation finished after the last poll that saw it running and by the poll that saw it
/// `completed`, or when its terminal webhook arrived ([`WaitOutcome::finished_between`]), so the
/// middle is off by at most half a poll interval (under a second with the default schedule).
/// A bracket wider than the key's current median is not fed: it is mostly time spent waiting
/// for a poll (hundreds of waits sharing one key's budget), not rendering. A server on another
/// clock (the emulator's emulated latencies under a time scale) thus falls back to the client's
/// measure.
///
/// # In the client
///
/// The [`Client`](crate::client::Client) learns by default, from every wait on a handle of
/// its own `create` or `create_legacy` (the key
/// comes from the request; a wait from a bare [`GenerationRef`](crate::GenerationRef) has no
/// model and keeps the base prior, and is not fed). The learner is shared by the client's
/// clones. [`wait_policy`](Self::wait_policy) is the one rule for which waits follow it: a wait
/// whose schedule is adaptive and whose prior was not set with
/// [`AdaptiveSchedule::with_prior`](crate::policy::AdaptiveSchedule::with_prior) (the default,
/// or a [`TimeScale`](crate::policy::TimeScale)'s) gets the learned prior of its key; a fixed
/// or exponential schedule, the webhook safety net, or an explicit prior is kept as set.
/// [`ClientBuilder::learn_durations(false)`](crate::client::ClientBuilder::learn_durations)
/// turns learning off for a client;
/// [`Client::reset_learned_duration`](crate::client::Client::reset_learned_duration) and
/// [`Client::clear_learned_durations`](crate::client::Client::clear_learned_durations)
/// forget, and [`Client::learned_prior`](crate::client::Client::learned_prior) tells what was
/// learned.
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::Flavor;
/// use pipevideo_core::policy::{LogNormal, WaitPolicy};
/// use pipevideo_core::poll::{DurationKey, DurationLearner};
///
/// let fast = DurationKey::new(Flavor::Responses, "fast-model", None);
/// let mut learner = DurationLearner::default();
/// learner.observe(&fast, Duration::from_secs(24));
/// learner.observe(&fast, Duration::from_secs(26));
/// // Two completions are not enough: waits keep the default prior.
/// assert_eq!(learner.learned(&fast), None);
/// learner.observe(&fast, Duration::from_secs(25));
/// let learned = learner.learned(&fast).expect("three completions");
/// assert_eq!(learned.median(), Duration::from_secs(25));
///
/// // A wait on the default schedule follows it; one with an explicit prior does not.
/// let policy = learner.wait_policy(&WaitPolicy::default(), Some(&fast));
/// assert_eq!(policy.schedule().prior().median(), Duration::from_secs(25));
///
/// // One generation ten times slower barely moves it.
/// learner.observe(&fast, Duration::from_secs(250));
/// let after = learner.prior(&fast).median().as_secs_f64();
/// assert!(after < 25.0 * 1.2, "{after}");
///
/// // Keys never seen, and forgotten keys, use the base prior.
/// learner.reset(&fast);
/// assert_eq!(learner.prior(&fast), LogNormal::PIPEVIDEO);
/// ```
#[derive(Debug, Clone)]
pub struct DurationLearner {
    base: LogNormal,
    keys: HashMap<DurationKey, Estimate>,
    /// Counts observations, for forgetting the key completed least recently.
    tick: u64,
}

/// One key's estimate of `ln(seconds)`.
#[derive(Debug, Clone, Copy)]
struct Estimate {
    /// Completions seen (saturating).
    n: u32,
    /// The first completions, until there are enough for a median.
    warm_up: [f64; WARM_UP],
    /// Centre of `ln(seconds)`.
    mu: f64,
    /// Robust spread of `ln(seconds)`.
    sigma: f64,
    /// The variance of `mu` as an estimate, in units of `sigma²`.
    uncertainty: f64,
    /// The learner's tick at this key's last completion.
    used: u64,
}

const WARM_UP: usize = DurationLearner::MIN_OBSERVATIONS as usize;

/// `E[min(|Z|, 2)]` for a standard normal `Z`: the mean of a clipped distance is this many
/// sigmas, so dividing by it reads sigma off the clipped distances without bias.
const CLIPPED_ABS_MEAN: f64 = 0.780_9;

/// The variance of the median of three standard normal draws: how uncertain the median is
/// right after the warm-up, in units of `sigma²`.
const MEDIAN_OF_THREE_VARIANCE: f64 = 0.449;

/// How much longer than what the wait saw the server's own duration may be and still be
/// believed: the create's answer latency and timestamps in whole seconds, at most 2 s (and at
/// most a quarter of the measure, so that a server on another clock is never believed).
const SERVER_SLACK: Duration = Duration::from_secs(2);

impl Default for DurationLearner {
    /// A learner whose base prior is [`LogNormal::PIPEVIDEO`].
    fn default() -> Self {
        Self::new(LogNormal::PIPEVIDEO)
    }
}

impl DurationLearner {
    /// The most keys kept: a completion of a new key beyond it forgets the key completed least
    /// recently.
    pub const MAX_KEYS: usize = 1024;

    /// Completions of a key before its learned prior is used at all.
    pub const MIN_OBSERVATIONS: u32 = 3;

    /// The memory, in completions: each completion moves the estimate by at least
    /// `1/MEMORY` of the way toward itself (an exponential moving average once a key has
    /// this many).
    pub const MEMORY: u32 = 10;

    /// How many sigmas from the current median one completion counts at most.
    pub const CLIP: f64 = 2.0;

    /// A learned median stays within this factor of the base prior's median, either way.
    pub const MEDIAN_RANGE: f64 = 20.0;

    /// The range of a learned sigma.
    pub const SIGMA_RANGE: (f64, f64) = (0.1, 1.0);

    /// A learner whose keys start from `base` (the prior of waits on keys with fewer than
    /// [`MIN_OBSERVATIONS`](Self::MIN_OBSERVATIONS) completions, and the centre of the
    /// bounds). The client uses its wait policy's prior (scaled with a time scale).
    pub fn new(base: LogNormal) -> Self {
        Self {
            base,
            keys: HashMap::new(),
            tick: 0,
        }
    }

    /// The prior of keys not learned yet.
    pub fn base(&self) -> LogNormal {
        self.base
    }

    /// Records the duration of one completed generation of `key`. Zero durations are
    /// ignored; see the [type docs](Self) for how far one completion moves the estimate.
    pub fn observe(&mut self, key: &DurationKey, duration: Duration) {
        let secs = duration.as_secs_f64();
        if secs <= 0.0 || !secs.is_finite() {
            return;
        }
        self.tick += 1;
        if !self.keys.contains_key(key) && self.keys.len() >= Self::MAX_KEYS {
            let oldest = self
                .keys
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.keys.remove(&oldest);
            }
        }
        let (lo, hi) = self.log_bounds();
        let base_sigma = self
            .base
            .sigma()
            .clamp(Self::SIGMA_RANGE.0, Self::SIGMA_RANGE.1);
        let tick = self.tick;
        let estimate = self.keys.entry(key.clone()).or_insert(Estimate {
            n: 0,
            warm_up: [0.0; WARM_UP],
            mu: self.base.mu(),
            sigma: base_sigma,
            uncertainty: 0.0,
            used: tick,
        });
        estimate.used = tick;
        estimate.add(secs.ln().clamp(lo, hi), base_sigma, lo, hi);
    }

    /// Feeds what a finished wait on a generation of `key` says, and returns the duration fed:
    /// only a [completed](OutcomeKind::Completed) generation is fed, with the server's own
    /// duration when it has one that agrees with what the wait saw; else the middle of the
    /// outcome's [`finished_between`](WaitOutcome::finished_between) bracket, unless that is
    /// wider than the key's current median (then nothing: the wait mostly waited for a poll);
    /// else `measured` (the time from the create's answer to the poll that saw it complete, if
    /// known). See the [type docs](Self#what-to-feed-it).
    pub fn handle_outcome<G: ServerDuration>(
        &mut self,
        key: &DurationKey,
        outcome: &WaitOutcome<G>,
        measured: Option<Duration>,
    ) -> Option<Duration> {
        let OutcomeKind::Completed(generation) = &outcome.kind else {
            return None;
        };
        // A measure whose bracket is wider than the key's median is mostly time spent waiting
        // for a poll (a fleet short of budget): it says little about the render.
        let widest = self.prior(key).median();
        let measured = match (outcome.finished_between, measured) {
            (Some((lower, upper)), _) => Some(Measure {
                lower: lower.min(upper),
                upper,
            }),
            // No bracket (an outcome built elsewhere): the measure itself.
            (None, Some(upper)) => Some(Measure {
                lower: upper,
                upper,
            }),
            (None, None) => None,
        };
        let duration = pick_duration(generation.server_duration(), measured, widest)?;
        self.observe(key, duration);
        Some(duration)
    }

    /// How many completions of `key` were fed (since it was last reset or forgotten).
    pub fn observations(&self, key: &DurationKey) -> u32 {
        self.keys.get(key).map_or(0, |e| e.n)
    }

    /// The learned distribution of `key`, once it had
    /// [`MIN_OBSERVATIONS`](Self::MIN_OBSERVATIONS) completions.
    pub fn learned(&self, key: &DurationKey) -> Option<LogNormal> {
        let estimate = self.keys.get(key)?;
        if estimate.n < Self::MIN_OBSERVATIONS {
            return None;
        }
        let (lo, hi) = self.log_bounds();
        let sigma = estimate.sigma * (1.0 + estimate.uncertainty).sqrt();
        Some(LogNormal::from_log_params(
            estimate.mu.clamp(lo, hi),
            sigma.clamp(Self::SIGMA_RANGE.0, Self::SIGMA_RANGE.1),
        ))
    }

    /// The prior a wait on `key` should follow: the learned one, else the base.
    pub fn prior(&self, key: &DurationKey) -> LogNormal {
        self.learned(key).unwrap_or(self.base)
    }

    /// The wait policy for a wait on `key` (`None`: a generation of unknown model): `policy`
    /// with its schedule's prior replaced by the learned one when the schedule is adaptive,
    /// its prior was not set explicitly
    /// ([`AdaptiveSchedule::has_explicit_prior`](crate::policy::AdaptiveSchedule::has_explicit_prior))
    /// and the key has been learned; `policy` unchanged otherwise.
    pub fn wait_policy(&self, policy: &WaitPolicy, key: Option<&DurationKey>) -> WaitPolicy {
        let learned = key.and_then(|k| self.learned(k));
        match (policy.schedule().as_adaptive(), learned) {
            (Some(schedule), Some(prior)) if !schedule.has_explicit_prior() => policy
                .clone()
                .with_schedule(schedule.clone().with_learnable_prior(prior).into()),
            _ => policy.clone(),
        }
    }

    /// Forgets what was learned about `key`; returns whether anything was.
    pub fn reset(&mut self, key: &DurationKey) -> bool {
        self.keys.remove(key).is_some()
    }

    /// Forgets every key.
    pub fn clear(&mut self) {
        self.keys.clear();
    }

    /// How many keys have at least one completion.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key has a completion.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The bounds of a learned `ln(median)`.
    fn log_bounds(&self) -> (f64, f64) {
        let range = Self::MEDIAN_RANGE.ln();
        (self.base.mu() - range, self.base.mu() + range)
    }
}

impl Estimate {
    fn add(&mut self, x: f64, base_sigma: f64, lo: f64, hi: f64) {
        self.n = self.n.saturating_add(1);
        let n = self.n as usize;
        if n <= WARM_UP {
            self.warm_up[n - 1] = x;
            if n == WARM_UP {
                let mut first = self.warm_up;
                first.sort_by(f64::total_cmp);
                self.mu = first[WARM_UP / 2];
                self.sigma = base_sigma;
                self.uncertainty = MEDIAN_OF_THREE_VARIANCE;
            }
            return;
        }
        let (min_sigma, max_sigma) = DurationLearner::SIGMA_RANGE;
        let alpha = (1.0 / f64::from(self.n)).max(1.0 / f64::from(DurationLearner::MEMORY));
        let clip = DurationLearner::CLIP * self.sigma;
        let r = (x - self.mu).clamp(-clip, clip);
        self.mu = (self.mu + alpha * r).clamp(lo, hi);
        self.sigma = ((1.0 - alpha) * self.sigma + alpha * r.abs() / CLIPPED_ABS_MEAN)
            .clamp(min_sigma, max_sigma);
        self.uncertainty = (1.0 - alpha).powi(2) * self.uncertainty + alpha * alpha;
    }
}

/// What a wait saw of one generation: it finished after `lower` (the last poll that
/// saw it running; zero if none did) and by `upper` (the poll that saw it complete), both
/// counted from the create's answer.
#[derive(Debug, Clone, Copy)]
struct Measure {
    lower: Duration,
    upper: Duration,
}

/// The duration to learn from: the server's when it has one no longer than the client's
/// upper bound plus [`SERVER_SLACK`] (at most a quarter of it); else the middle of the client's
/// bracket, unless the bracket is wider than `widest` (then nothing).
fn pick_duration(
    server: Option<Duration>,
    measured: Option<Measure>,
    widest: Duration,
) -> Option<Duration> {
    let server = server.filter(|s| !s.is_zero());
    match (server, measured) {
        (Some(s), Some(m)) if s <= m.upper.saturating_add(SERVER_SLACK.min(m.upper / 4)) => Some(s),
        (Some(s), None) => Some(s),
        (_, Some(m)) => {
            let gap = m.upper.saturating_sub(m.lower);
            (gap <= widest)
                .then(|| m.lower + gap / 2)
                .filter(|d| !d.is_zero())
        }
        (_, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GenerationRef;
    use rand::{SeedableRng, rngs::SmallRng};

    fn key(model: &str) -> DurationKey {
        DurationKey::new(Flavor::Responses, model, Some("hyperframes"))
    }

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn median(learner: &DurationLearner, k: &DurationKey) -> f64 {
        learner.prior(k).median().as_secs_f64()
    }

    #[test]
    fn moves_toward_a_25s_model_after_three_completions() {
        let truth = LogNormal::new(secs(25.0), 0.35).unwrap();
        let mut rng = SmallRng::seed_from_u64(3);
        let mut learner = DurationLearner::default();
        let fast = key("fast");
        for _ in 0..2 {
            learner.observe(&fast, secs(truth.sample_secs(&mut rng)));
            assert_eq!(learner.prior(&fast), LogNormal::PIPEVIDEO);
        }
        learner.observe(&fast, secs(truth.sample_secs(&mut rng)));
        let m = median(&learner, &fast);
        assert!((15.0..40.0).contains(&m), "{m}");
        // Young: wider than the data's spread.
        assert!(
            learner.prior(&fast).sigma() > 0.4,
            "{:?}",
            learner.prior(&fast)
        );
        for _ in 0..200 {
            learner.observe(&fast, secs(truth.sample_secs(&mut rng)));
        }
        let learned = learner.prior(&fast);
        assert!(
            (21.0..30.0).contains(&median(&learner, &fast)),
            "{learned:?}"
        );
        assert!((0.25..0.5).contains(&learned.sigma()), "{learned:?}");
        assert_eq!(learner.observations(&fast), 203);
        // Other keys are untouched.
        assert_eq!(learner.prior(&key("other")), LogNormal::PIPEVIDEO);
        assert_eq!(learner.learned(&key("other")), None);
    }

    #[test]
    fn one_ten_fold_outlier_barely_moves_it() {
        let mut learner = DurationLearner::default();
        let k = key("steady");
        for i in 0..30 {
            learner.observe(&k, secs(if i % 2 == 0 { 24.0 } else { 26.0 }));
        }
        let before = learner.prior(&k);
        learner.observe(&k, secs(250.0));
        let after = learner.prior(&k);
        let moved = after.median().as_secs_f64() / before.median().as_secs_f64();
        assert!((1.0..1.05).contains(&moved), "{before:?} -> {after:?}");
        assert!(
            after.sigma() < before.sigma() * 1.3,
            "{before:?} -> {after:?}"
        );
        // An outlier among the first three is ignored by their median.
        let mut learner = DurationLearner::default();
        for s in [25.0, 900.0, 26.0] {
            learner.observe(&k, secs(s));
        }
        assert_eq!(learner.prior(&k).median(), secs(26.0));
    }

    #[test]
    fn forgetting_follows_a_model_that_speeds_up() {
        let mut rng = SmallRng::seed_from_u64(9);
        let slow = LogNormal::new(secs(60.0), 0.3).unwrap();
        let fast = LogNormal::new(secs(30.0), 0.3).unwrap();
        let mut learner = DurationLearner::default();
        let k = key("improving");
        for _ in 0..100 {
            learner.observe(&k, secs(slow.sample_secs(&mut rng)));
        }
        assert!((50.0..72.0).contains(&median(&learner, &k)));
        for _ in 0..25 {
            learner.observe(&k, secs(fast.sample_secs(&mut rng)));
        }
        let m = median(&learner, &k);
        assert!((25.0..36.0).contains(&m), "{m}");
    }

    #[test]
    fn reset_and_clear_forget() {
        let mut learner = DurationLearner::default();
        let (a, b) = (key("a"), key("b"));
        for _ in 0..3 {
            learner.observe(&a, secs(20.0));
            learner.observe(&b, secs(90.0));
        }
        assert!(learner.learned(&a).is_some());
        assert!(learner.reset(&a));
        assert!(!learner.reset(&a));
        assert_eq!(learner.observations(&a), 0);
        assert_eq!(learner.prior(&a), LogNormal::PIPEVIDEO);
        assert!(learner.learned(&b).is_some());
        learner.clear();
        assert!(learner.is_empty());
        assert_eq!(learner.learned(&b), None);
    }

    #[test]
    fn the_number_of_keys_is_bounded_and_the_stalest_goes() {
        let mut learner = DurationLearner::default();
        for i in 0..DurationLearner::MAX_KEYS + 10 {
            learner.observe(&key(&format!("k{i}")), secs(50.0));
            // `k0` keeps completing: it is never the least recent.
            learner.observe(&key("k0"), secs(50.0));
        }
        assert_eq!(learner.len(), DurationLearner::MAX_KEYS);
        assert!(learner.observations(&key("k0")) > 0);
        assert_eq!(learner.observations(&key("k1")), 0);
        let last = key(&format!("k{}", DurationLearner::MAX_KEYS + 9));
        assert_eq!(learner.observations(&last), 1);
    }

    #[test]
    fn medians_and_sigmas_stay_in_range() {
        let mut learner = DurationLearner::default();
        let (tiny, huge) = (key("tiny"), key("huge"));
        for _ in 0..200 {
            learner.observe(&tiny, Duration::from_millis(1));
            learner.observe(&huge, Duration::from_secs(1_000_000));
        }
        learner.observe(&tiny, Duration::ZERO);
        assert_eq!(learner.observations(&tiny), 200);
        let (t, h) = (learner.prior(&tiny), learner.prior(&huge));
        assert!(
            (t.median().as_secs_f64() - 55.0 / 20.0).abs() < 0.01,
            "{t:?}"
        );
        assert!(
            (h.median().as_secs_f64() - 55.0 * 20.0).abs() < 1.0,
            "{h:?}"
        );
        for d in [t, h] {
            assert!((0.1..=1.0).contains(&d.sigma()), "{d:?}");
        }
    }

    #[test]
    fn only_completions_are_fed_and_server_durations_win_when_they_agree() {
        let reference: GenerationRef = "responses:gen_1".parse().unwrap();
        let outcome = |kind| WaitOutcome {
            reference: reference.clone(),
            last_status: None,
            polls: 3,
            finished_between: None,
            kind,
        };
        let mut learner = DurationLearner::default();
        let k = key("m");
        let failed = outcome(OutcomeKind::Failed(Status::Failed));
        assert_eq!(learner.handle_outcome(&k, &failed, Some(secs(30.0))), None);
        let cancelled = outcome(OutcomeKind::<Status>::Cancelled);
        assert_eq!(
            learner.handle_outcome(&k, &cancelled, Some(secs(30.0))),
            None
        );
        let done = outcome(OutcomeKind::Completed(Status::Completed));
        assert_eq!(
            learner.handle_outcome(&k, &done, Some(secs(30.0))),
            Some(secs(30.0))
        );
        assert_eq!(learner.handle_outcome(&k, &done, None), None);
        assert_eq!(learner.observations(&k), 1);

        // The server's own duration, when it is no longer than the measure (plus slack).
        let exact = |s: f64| {
            Some(Measure {
                lower: secs(s),
                upper: secs(s),
            })
        };
        let wide = secs(55.0);
        assert_eq!(
            pick_duration(Some(secs(52.0)), exact(53.1), wide),
            Some(secs(52.0))
        );
        assert_eq!(
            pick_duration(Some(secs(54.0)), exact(53.0), wide),
            Some(secs(54.0))
        );
        // Found late by a safety-net poll: the server knows better.
        assert_eq!(
            pick_duration(Some(secs(40.0)), exact(95.0), wide),
            Some(secs(40.0))
        );
        // A server on another clock (the emulator's emulated latency under a time scale).
        assert_eq!(
            pick_duration(Some(secs(55.0)), exact(0.6), wide),
            Some(secs(0.6))
        );
        assert_eq!(
            pick_duration(Some(Duration::ZERO), exact(5.0), wide),
            Some(secs(5.0))
        );
        assert_eq!(pick_duration(Some(secs(7.0)), None, wide), Some(secs(7.0)));
    }

    #[test]
    fn the_middle_of_the_bracket_is_learned_unless_the_wait_mostly_waited_for_a_poll() {
        let reference: GenerationRef = "responses:gen_1".parse().unwrap();
        let done = |between: Option<(f64, f64)>| WaitOutcome {
            reference: reference.clone(),
            last_status: None,
            polls: 2,
            finished_between: between.map(|(a, b)| (secs(a), secs(b))),
            kind: OutcomeKind::Completed(Status::Completed),
        };
        let mut learner = DurationLearner::default();
        let k = key("m");
        // A lone wait: last seen running at 50 s, seen done at 51.5 s.
        assert_eq!(
            learner.handle_outcome(&k, &done(Some((50.0, 51.5))), Some(secs(51.6))),
            Some(secs(50.75))
        );
        // A webhook's arrival: both ends.
        assert_eq!(
            learner.handle_outcome(&k, &done(Some((47.0, 47.0))), Some(secs(47.3))),
            Some(secs(47.0))
        );
        // One of 500 waits on one key's budget: running at 40 s, next polled at 200 s. The
        // bracket (160 s) is wider than the key's median (55 s): nothing is learned.
        assert_eq!(
            learner.handle_outcome(&k, &done(Some((40.0, 200.0))), Some(secs(200.0))),
            None
        );
        assert_eq!(learner.observations(&k), 2);
        // ... unless the server says when.
        assert_eq!(
            pick_duration(
                Some(secs(61.0)),
                Some(Measure {
                    lower: secs(40.0),
                    upper: secs(200.0)
                }),
                secs(55.0)
            ),
            Some(secs(61.0))
        );
    }

    #[test]
    fn a_generation_reads_its_server_duration() {
        use crate::codec;
        let decode = |flavor, body: &str| {
            codec::decode_generation(flavor, &http::Response::new(body.as_bytes().to_vec()))
                .unwrap()
        };
        let legacy = decode(
            Flavor::Legacy,
            r#"{"id":"gen_1","status":"completed","created_at":1709827200,"completed_at":1709827254500}"#,
        );
        assert_eq!(
            legacy.server_duration(),
            Some(Duration::from_millis(54_500))
        );
        let responses = decode(
            Flavor::Responses,
            r#"{"id":"gen_1","status":"completed","created_at":1709827200,"completed_at":1709827231}"#,
        );
        assert_eq!(responses.server_duration(), Some(secs(31.0)));
        let no_end = decode(
            Flavor::Responses,
            r#"{"id":"gen_1","status":"completed","created_at":1709827200}"#,
        );
        assert_eq!(no_end.server_duration(), None);
        let backwards = decode(
            Flavor::Legacy,
            r#"{"id":"gen_1","status":"completed","created_at":1709827200,"completed_at":1709827100000}"#,
        );
        assert_eq!(backwards.server_duration(), None);
    }

    #[test]
    fn only_a_default_adaptive_schedule_takes_the_learned_prior() {
        use crate::policy::{AdaptiveSchedule, PollSchedule, TimeScale};
        let mut learner = DurationLearner::default();
        let k = key("fast");
        for _ in 0..3 {
            learner.observe(&k, secs(25.0));
        }
        let median_of = |p: &WaitPolicy| p.schedule().prior().median();
        let default = WaitPolicy::default();
        assert_eq!(
            median_of(&learner.wait_policy(&default, Some(&k))),
            secs(25.0)
        );
        assert_eq!(median_of(&learner.wait_policy(&default, None)), secs(55.0));
        assert_eq!(
            median_of(&learner.wait_policy(&default, Some(&key("new")))),
            secs(55.0)
        );
        // Another peak interval is still the default prior.
        let knob = default.clone().with_schedule(
            AdaptiveSchedule::default()
                .with_peak_interval(secs(3.0))
                .unwrap()
                .into(),
        );
        let learned = learner.wait_policy(&knob, Some(&k));
        assert_eq!(median_of(&learned), secs(25.0));
        assert_eq!(
            learned.schedule().as_adaptive().unwrap().peak_interval(),
            secs(3.0)
        );
        // An explicit prior, even the default one, is kept.
        let pinned = default.clone().with_schedule(
            AdaptiveSchedule::default()
                .with_prior(LogNormal::PIPEVIDEO)
                .into(),
        );
        assert_eq!(learner.wait_policy(&pinned, Some(&k)), pinned);
        // Fixed schedules and the webhook safety net are kept.
        let fixed = default
            .clone()
            .with_schedule(PollSchedule::fixed(secs(3.0)).unwrap());
        assert_eq!(learner.wait_policy(&fixed, Some(&k)), fixed);
        let webhooks = default.with_webhooks(true);
        assert_eq!(learner.wait_policy(&webhooks, Some(&k)), webhooks);
        // A time scale's default learns too.
        let scaled = TimeScale::new(0.01).unwrap().wait_policy();
        assert!(
            !scaled
                .schedule()
                .as_adaptive()
                .unwrap()
                .has_explicit_prior()
        );
    }

    #[test]
    fn keys_are_built_in_one_place() {
        use crate::model::Engine;
        let plain = CreateResponse::new("moonshotai/kimi-k2.5", "A cat");
        assert_eq!(DurationKey::for_request(&plain).engine(), "default");
        let hf = plain.clone().engine(Engine::Hyperframes);
        assert_ne!(
            DurationKey::for_request(&hf),
            DurationKey::for_request(&plain)
        );
        let legacy = CreateGeneration::new("google/veo-3.1", "A cat");
        let key = DurationKey::for_legacy_request(&legacy);
        assert_eq!(
            (key.flavor(), key.model()),
            (Flavor::Legacy, "google/veo-3.1")
        );
        let fallbacks = CreateGeneration::with_fallbacks(["a", "b"], "A cat");
        assert_eq!(DurationKey::for_legacy_request(&fallbacks).model(), "a,b");
        let long = "é".repeat(200);
        assert_eq!(key_of(&long).model().len(), DurationKey::MAX_NAME);
    }

    fn key_of(model: &str) -> DurationKey {
        DurationKey::new(Flavor::Responses, model, None)
    }
}
