//! [`ClientBuilder`]: the key, the base URL, the policies and limits, and the one check a
//! client makes before it exists (TLS for an `https` base).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::UNIX_EPOCH;

use rand_core::SeedableRng;

use super::{API_KEY_ENV, API_URL_ENV, Client, Inner, Settings, Shared};
use crate::codec::RequestEncoder;
use crate::pacing::Pacer;
use crate::pacing::shared::{PacingStore, SharedPacing, SharedPacingOptions};
use crate::policy::DownloadPolicy;
use crate::policy::{PacingPolicy, RetryPolicy, TimeScale, WaitPolicy};
use crate::poll::{DurationLearner, Fleet};
use crate::random::Sha256Rng;
use crate::retry::RetryBudget;
use crate::transport::Transport;
use crate::{ApiKey, ApiKeyError, Attribution, BaseUrl, Error, InputError};

/// Builds a [`Client`]: key, base URL, attribution, policies, limits.
///
/// ```
/// use std::time::{Duration, Instant};
/// use pipevideo_core::{ApiKey, BaseUrl, client::Client, policy::RetryPolicy};
/// use pipevideo_core::transport::testing::{FnTransport, VirtualClock};
///
/// let transport = FnTransport::new(VirtualClock::new(Instant::now()), |_req| async {
///     Ok(http::Response::new(Vec::new()))
/// });
/// let client = Client::builder(transport)
///     .api_key(ApiKey::new("pv_test")?)
///     .base_url(BaseUrl::parse("http://127.0.0.1:3001/v1")?)
///     .retry_policy(RetryPolicy::default().with_attempt_limit(3))
///     .seed(7)
///     .build()?;
/// assert!(format!("{client:?}").contains("127.0.0.1:3001"));
/// # Ok::<(), pipevideo_core::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ClientBuilder<T> {
    transport: T,
    key: Option<ApiKey>,
    base_url: Option<BaseUrl>,
    attribution: Attribution,
    retry: RetryPolicy,
    wait: WaitPolicy,
    pacing: PacingPolicy,
    budget: RetryBudget,
    body_limit: u64,
    idempotency: bool,
    download: DownloadPolicy,
    seed: Option<u64>,
    learn_durations: bool,
    store: Option<Arc<dyn PacingStore>>,
    shared_options: SharedPacingOptions,
    #[cfg(feature = "testing")]
    entropy_seed: Option<u64>,
}

impl<T: Transport> ClientBuilder<T> {
    /// A builder with every default (see the [table of defaults](crate::retry#defaults)).
    pub fn new(transport: T) -> Self {
        Self {
            transport,
            key: None,
            base_url: None,
            attribution: Attribution::default(),
            retry: RetryPolicy::default(),
            wait: WaitPolicy::default(),
            pacing: PacingPolicy::default(),
            budget: RetryBudget::default(),
            body_limit: crate::transport::DEFAULT_BODY_LIMIT,
            idempotency: true,
            download: DownloadPolicy::default(),
            seed: None,
            learn_durations: true,
            store: None,
            shared_options: SharedPacingOptions::default(),
            #[cfg(feature = "testing")]
            entropy_seed: None,
        }
    }

    /// The API key every request carries.
    pub fn api_key(mut self, key: ApiKey) -> Self {
        self.key = Some(key);
        self
    }

    /// The base URL (default `https://api.pipevideo.co/v1`).
    pub fn base_url(mut self, base_url: BaseUrl) -> Self {
        self.base_url = Some(base_url);
        self
    }

    /// Fills what is not set yet from the environment: the key from `PIPEVIDEO_API_KEY`, the
    /// base URL from `PIPEVIDEO_API_URL`. A variable that is set but invalid is an error (a
    /// typo should not silently send requests elsewhere); an unset one is skipped.
    pub fn from_env(mut self) -> Result<Self, Error> {
        if self.key.is_none()
            && let Ok(key) = std::env::var(API_KEY_ENV)
        {
            self.key = Some(ApiKey::new(key).map_err(InputError::from)?);
        }
        if self.base_url.is_none()
            && let Ok(url) = std::env::var(API_URL_ENV)
        {
            self.base_url = Some(BaseUrl::parse(&url).map_err(InputError::from)?);
        }
        Ok(self)
    }

    /// Attribution headers sent with every request.
    pub fn attribution(mut self, attribution: Attribution) -> Self {
        self.attribution = attribution;
        self
    }

    /// The retry policy of every call (attempts, deadline, per-attempt timeout, backoff).
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The default policy of waits (deadline, poll schedule, 404 grace).
    pub fn wait_policy(mut self, policy: WaitPolicy) -> Self {
        self.wait = policy;
        self
    }

    /// The client-side request pacing (default: 90 requests per 60 s, bursts of 10).
    pub fn pacing(mut self, pacing: PacingPolicy) -> Self {
        self.pacing = pacing;
        self
    }

    /// Shares the key's budget with every other process that uses the same key and store:
    /// before each send the client asks `store` for a slot (the [pacing](Self::pacing)
    /// policy's limit then holds for all of them together), and a 429's hold is published to
    /// it for all. The local pacer keeps running beside it. See
    /// [`pacing::shared`](crate::pacing::shared); `pipevideo-redis` provides a Redis store.
    ///
    /// When the store is down the client fails open by default (local pacing, a warning, a
    /// counter in [`Client::shared_pacing_stats`]); [`shared_pacing_options`](Self::shared_pacing_options)
    /// chooses fail-closed instead.
    pub fn shared_pacing(mut self, store: impl PacingStore + 'static) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// What shared pacing does when its store is down, and how soon it asks again.
    pub fn shared_pacing_options(mut self, options: SharedPacingOptions) -> Self {
        self.shared_options = options;
        self
    }

    /// The retry budget shared by all calls of the client.
    pub fn retry_budget(mut self, budget: RetryBudget) -> Self {
        self.budget = budget;
        self
    }

    /// The largest response body read into memory (default 8 MiB); a larger one is a typed
    /// error, never an out-of-memory.
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Whether creates carry an `Idempotency-Key` (default: yes). Without one, a create that
    /// may have reached the server is never sent again.
    pub fn idempotency(mut self, enabled: bool) -> Self {
        self.idempotency = enabled;
        self
    }

    /// The bounds of video downloads and saves (header and idle timeouts, deadline, size cap,
    /// resumes); default [`DownloadPolicy::default`].
    pub fn download_policy(mut self, policy: DownloadPolicy) -> Self {
        self.download = policy;
        self
    }

    /// Whether waits learn how long generations take per model and engine (default: yes).
    ///
    /// With learning on, every completed generation created by this client (or a clone) feeds
    /// a [`DurationLearner`] keyed by the create request's flavour, model and engine
    /// ([`DurationKey`](crate::poll::DurationKey)); after
    /// [`MIN_OBSERVATIONS`](DurationLearner::MIN_OBSERVATIONS) (3) completions of a key,
    /// waits on that key poll on its learned prior instead of the default 55 s one, if their
    /// schedule is adaptive with a default prior ([`DurationLearner::wait_policy`]). A wait
    /// from a bare reference has no model: it keeps the default prior and feeds nothing.
    /// `false` turns all of it off: every wait follows the wait policy as set.
    ///
    /// Learning on, a wait policy whose schedule has an explicit prior
    /// ([`AdaptiveSchedule::with_prior`](crate::policy::AdaptiveSchedule::with_prior)), a
    /// fixed or exponential schedule, or the webhook safety net is still followed as set
    /// (those waits feed the learner all the same). [`Client::reset_learned_duration`] and
    /// [`Client::clear_learned_durations`] forget what was learned; [`Client::learned_prior`]
    /// tells it.
    pub fn learn_durations(mut self, enabled: bool) -> Self {
        self.learn_durations = enabled;
        self
    }

    /// Seeds the client's RNG (jitter, poll schedule) for reproducible runs. Without a seed,
    /// one is derived from the transport's wall clock, the process id and a counter, so that
    /// clients spread their jitter. The RNG is SHA-256 in counter mode over the seed: a seed
    /// replays the same draws on every platform.
    ///
    /// Idempotency keys and a save's temporary file names do not come from this RNG but from
    /// the OS RNG, whatever the seed: two processes with the same seed must never send the
    /// same key (a deduplicating server would hand one the other's generation), and a
    /// temporary name must not be computable by another process.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// **Test kit only** (feature `testing`): draws idempotency keys and a save's temporary
    /// file names from an RNG seeded with `seed` instead of the OS RNG, so that a test can
    /// know them in advance (plant a file at the names a save will try, expect a key): the
    /// draws are those of [`predictable_rng(seed)`](crate::transport::testing::predictable_rng).
    /// Never use it outside tests: keys and names become predictable and shared by every
    /// client of that seed.
    #[cfg(feature = "testing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
    pub fn predictable_keys_and_temp_names(mut self, seed: u64) -> Self {
        self.entropy_seed = Some(seed);
        self
    }

    /// Builds the client. Fails if no key was given, or if the base URL is `https://` and the
    /// transport was built without TLS ([`InputError::Tls`], naming the feature to enable).
    pub fn build(self) -> Result<Client<T>, Error> {
        let key = self.key.ok_or(InputError::ApiKey(ApiKeyError::Missing))?;
        let base_url = self.base_url.unwrap_or_default();
        if base_url.is_https() {
            self.transport.tls_support().map_err(InputError::Tls)?;
        }
        let shared_pacing = self
            .store
            .as_ref()
            .map(|_| SharedPacing::new(&key, self.pacing, self.shared_options));
        let encoder = RequestEncoder::new(base_url, key)?.with_attribution(self.attribution);
        let seed = self.seed.unwrap_or_else(|| default_seed(&self.transport));
        let entropy = super::entropy::Entropy::os(default_seed(&self.transport));
        #[cfg(feature = "testing")]
        let entropy = self
            .entropy_seed
            .map_or(entropy, super::entropy::Entropy::seeded);
        let learner = self
            .learn_durations
            .then(|| DurationLearner::new(*self.wait.schedule().prior()));
        Ok(Client {
            inner: Arc::new(Inner {
                transport: self.transport,
                encoder: RwLock::new(Arc::new(encoder)),
                settings: Settings {
                    retry: self.retry,
                    wait: self.wait,
                    body_limit: self.body_limit,
                    idempotency: self.idempotency,
                    download: self.download,
                },
                store: self.store,
                slot_queue: super::baton::BatonQueue::new(),
                shared: Mutex::new(Shared {
                    pacer: Pacer::new(self.pacing),
                    shared_pacing,
                    budget: self.budget,
                    rng: Sha256Rng::seed_from_u64(seed),
                    entropy,
                    fleet: Fleet::new(),
                    waits: HashMap::new(),
                    poll_errors: HashMap::new(),
                    sleepers: Vec::new(),
                    learner,
                    learning: HashMap::new(),
                }),
            }),
        })
    }
}

fn default_seed<T: Transport>(transport: &T) -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let wall = transport
        .wall_now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    wall ^ u64::from(std::process::id()).rotate_left(32) ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl<T: Transport + Default> Client<T> {
    /// A client with the default transport and every default setting.
    pub fn new(key: &str) -> Result<Self, Error> {
        Self::builder(T::default())
            .api_key(ApiKey::new(key).map_err(InputError::from)?)
            .build()
    }

    /// A client configured from `PIPEVIDEO_API_KEY` and `PIPEVIDEO_API_URL`.
    pub fn from_env() -> Result<Self, Error> {
        Self::builder(T::default()).from_env()?.build()
    }
}

impl<T: Transport> ClientBuilder<T> {
    /// Follows a server whose clock runs at `scale` (such as the emulator): sets the
    /// [pacing](TimeScale::pacing), [wait](TimeScale::wait_policy) and
    /// [retry](TimeScale::retry_policy) policies derived from it, replacing any set before.
    /// Call it first and adjust afterwards (e.g. `.retry_policy(scale.retry_policy()
    /// .with_attempt_limit(8))`). [`TimeScale::REAL_TIME`] restores the defaults.
    ///
    /// That includes an earlier `wait_policy(...)`: a `with_webhooks(true)` set before is lost;
    /// set `.wait_policy(scale.wait_policy().with_webhooks(true))` after this call instead (its
    /// 60 s safety-net poll is not scaled).
    pub fn time_scale(mut self, scale: TimeScale) -> Self {
        self.pacing = scale.pacing();
        self.wait = scale.wait_policy();
        self.retry = scale.retry_policy();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::TransportError;
    use crate::transport::testing::{FnTransport, VirtualClock};

    fn scale(factor: f64) -> TimeScale {
        TimeScale::new(factor).unwrap()
    }

    #[test]
    fn the_builder_takes_all_three_policies_and_later_settings_win() {
        let clock = VirtualClock::new(std::time::Instant::now());
        let transport = FnTransport::new(clock, |_| async {
            Err(TransportError::not_sent("the builder test never sends"))
        });
        let s = scale(0.02);
        let builder = ClientBuilder::new(transport)
            .retry_policy(RetryPolicy::no_retries())
            .time_scale(s)
            .retry_policy(s.retry_policy().with_attempt_limit(8));
        assert_eq!(builder.pacing, s.pacing());
        assert_eq!(builder.wait, s.wait_policy());
        assert_eq!(builder.retry, s.retry_policy().with_attempt_limit(8));
        let builder = builder.time_scale(TimeScale::REAL_TIME);
        assert_eq!(builder.pacing, PacingPolicy::default());
        assert_eq!(builder.wait, WaitPolicy::default());
        assert_eq!(builder.retry, RetryPolicy::default());
    }
}
