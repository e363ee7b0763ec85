//! The transport-generic async client: the only async code that touches the engine.
//!
//! [`Client<T>`] moves requests, responses and sleeps between the core's decisions and a
//! [`Transport`]; it decides nothing itself. Every call goes through the same loop:
//!
//! 1. The client's [`Pacer`] says when the request may go (the key's request limit, and any
//!    hold a 429 put on the whole client); a send that could not start before the call's
//!    deadline is not waited for.
//! 2. The request is encoded by the [`RequestEncoder`] and sent
//!    with a per-attempt timeout cut to the deadline.
//! 3. The outcome goes to the call's [`RetryState`], which answers done, retry at `T`, or give
//!    up; the client sleeps until `T` and goes back to 1.
//!
//! Waiting for generations uses one shared [`Fleet`]: every concurrent wait of a client puts its
//! generation into it, and whichever wait is awake sends the poll the fleet picks, so that all
//! waits share the key's budget and the polls go where they find the most finished work.
//!
//! ```no_run
//! # async fn demo<T: pipevideo_core::transport::Transport>(transport: T) -> Result<(), pipevideo_core::Error> {
//! use pipevideo_core::{ApiKey, client::Client, model::CreateResponse};
//!
//! let client = Client::builder(transport)
//!     .api_key(ApiKey::new("pv_0123456789abcdef")?)
//!     .build()?;
//! let handle = client
//!     .create(&CreateResponse::new("moonshotai/kimi-k2.5", "A cat on a beach"))
//!     .await?;
//! // The reference exists before any waiting starts: store it to resume after a crash.
//! println!("created {}", handle.reference());
//! let video = handle.wait().await?;
//! println!("video at {:?}", video.video_url());
//! # Ok(()) }
//! ```

mod cancel;
mod error;
mod scale;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, UNIX_EPOCH};

use futures_channel::{mpsc, oneshot};
use futures_core::Stream;
use futures_util::future::{self, Either};
use http::{Request, Response, StatusCode};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tracing::Instrument;

pub use cancel::{CancelToken, Cancelled};
pub use error::{CreateError, DownloadError, GaveUpError, WaitError, WaitErrorKind};
pub use scale::{TimeScale, TimeScaleError};

use crate::codec::{self, RequestEncoder};
use crate::model::{
    CreateGeneration, CreateResponse, EngineCatalog, Generation, ModelDetail, ModelList, Usage,
};
use crate::poll::{Event, Fleet, OutcomeKind, PollFailure, Snapshot, WaitPolicy};
use crate::retry::pacing::{Pacer, PacingPolicy};
use crate::retry::{Outcome, RequestKind, RetryBudget, RetryPolicy, RetryState, Verdict};
use crate::transport::{
    ChunkSink, DownloadBody, DownloadOptions, FailureKind, SendOptions, Transport, TransportError,
};
use crate::{
    ApiError, ApiKey, ApiKeyError, Attribution, BaseUrl, Error, Flavor, GenerationRef,
    IdempotencyKey, InputError, Status,
};

/// The environment variable the key is read from by [`ClientBuilder::from_env`].
pub const API_KEY_ENV: &str = "PIPEVIDEO_API_KEY";
/// The environment variable that overrides the base URL (the official client's name for it).
pub const API_URL_ENV: &str = "PIPEVIDEO_API_URL";

/// A webhook event does not carry a whole [`Generation`] (its body, model, usage…), so
/// `from_webhook` keeps the default `None`: after a terminal webhook the wait fetches the
/// finished generation once (one `GET`, not a polling loop), and returns that, with a fresh
/// signed video URL.
impl Snapshot for Generation {
    fn status(&self) -> Status {
        Generation::status(self).clone()
    }
}

/// A Pipevideo client over a transport `T`. Cheap to clone; clones share the key, the pacing,
/// the retry budget and the fleet of waits.
///
/// Most users get one from the `pipevideo` facade (`pipevideo::Client::new(key)`), which picks
/// the reqwest transport; [`Client::builder`] takes any [`Transport`].
pub struct Client<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Client<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> std::fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &read(&self.inner.encoder).base_url().as_str())
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

struct Inner<T> {
    transport: T,
    /// Swapped whole on key rotation; each call takes a cheap `Arc` clone.
    encoder: RwLock<Arc<RequestEncoder>>,
    settings: Settings,
    shared: Mutex<Shared>,
}

#[derive(Debug, Clone)]
struct Settings {
    retry: RetryPolicy,
    wait: WaitPolicy,
    body_limit: u64,
    idempotency: bool,
    download: DownloadOptions,
}

struct Shared {
    pacer: Pacer,
    budget: RetryBudget,
    rng: SmallRng,
    fleet: Fleet<Generation>,
    waits: HashMap<GenerationRef, Waits>,
    /// Retry state of the polls of each generation, kept across polls so that a run of
    /// failures backs off; reset by a successful poll.
    poll_retry: HashMap<GenerationRef, RetryState>,
    /// The error of each generation's last failed poll, handed to its waits with an outcome
    /// that a poll decided (401, 404, fatal), so their error can say what the server said.
    poll_errors: HashMap<GenerationRef, Error>,
    /// Waits asleep until their next timeout: a webhook wakes them so that the fetch it made
    /// due goes out now rather than at the next scheduled poll.
    sleepers: Vec<oneshot::Sender<()>>,
}

/// How a generation's waits end: the fleet's outcome, and the poll error that decided it.
type Ended = (crate::poll::WaitOutcome<Generation>, Option<Error>);

#[derive(Default)]
struct Waits {
    notify: Vec<oneshot::Sender<Ended>>,
    progress: Vec<mpsc::UnboundedSender<Event>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

/// Builds a [`Client`]: key, base URL, attribution, policies, limits.
///
/// ```
/// use std::time::{Duration, Instant};
/// use pipevideo_core::{ApiKey, BaseUrl, client::Client, retry::RetryPolicy};
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
    download: DownloadOptions,
    seed: Option<u64>,
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
            download: DownloadOptions::default(),
            seed: None,
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

    /// Limits of video downloads.
    pub fn download_options(mut self, options: DownloadOptions) -> Self {
        self.download = options;
        self
    }

    /// Seeds the client's RNG (jitter, idempotency keys, poll schedule) for reproducible runs.
    /// Without a seed, one is derived from the transport's wall clock, the process id and a
    /// counter, so that clients spread their jitter.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
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
        let encoder = RequestEncoder::new(base_url, key)?.with_attribution(self.attribution);
        let seed = self.seed.unwrap_or_else(|| default_seed(&self.transport));
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
                shared: Mutex::new(Shared {
                    pacer: Pacer::new(self.pacing),
                    budget: self.budget,
                    rng: SmallRng::seed_from_u64(seed),
                    fleet: Fleet::new(),
                    waits: HashMap::new(),
                    poll_retry: HashMap::new(),
                    poll_errors: HashMap::new(),
                    sleepers: Vec::new(),
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

/// Options of one wait.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct WaitOptions {
    /// The wait's deadline; `None` takes the client's wait policy (default 10 minutes).
    pub deadline: Option<Duration>,
    /// A token that cancels the wait from elsewhere.
    pub cancel: Option<CancelToken>,
    /// How long ago the generation was created, if known (a resumed wait); `None` for
    /// "unknown", which polls at once.
    pub age: Option<Duration>,
}

impl WaitOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the deadline.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets the cancellation token.
    #[must_use]
    pub fn with_cancel(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }
}

/// A generation just created: its reference exists before any waiting starts, so a dropped or
/// cancelled wait never loses it.
pub struct GenerationHandle<T> {
    client: Client<T>,
    generation: Generation,
    idempotency_key: Option<IdempotencyKey>,
    created: Instant,
}

impl<T> std::fmt::Debug for GenerationHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerationHandle")
            .field("reference", self.generation.reference())
            .field("status", self.generation.status())
            .field("idempotency_key", &self.idempotency_key)
            .finish_non_exhaustive()
    }
}

impl<T> GenerationHandle<T> {
    /// The generation's resumable reference (`responses:gen_…`).
    pub fn reference(&self) -> &GenerationRef {
        self.generation.reference()
    }

    /// The generation as the create call returned it.
    pub fn generation(&self) -> &Generation {
        &self.generation
    }

    /// The idempotency key the create carried.
    pub fn idempotency_key(&self) -> Option<&IdempotencyKey> {
        self.idempotency_key.as_ref()
    }
}

impl<T: Transport> GenerationHandle<T> {
    /// Progress of this generation's wait (poll attempts, status changes), as a stream that
    /// ends with the wait. Subscribe before calling [`GenerationHandle::wait`].
    pub fn progress(&self) -> ProgressStream {
        self.client.progress(self.reference())
    }

    /// Waits until the generation completes (its video URL is then in
    /// [`Generation::video_url`]), fails, or the wait's deadline passes.
    pub async fn wait(self) -> Result<Generation, Error> {
        self.wait_with(WaitOptions::default()).await
    }

    /// [`GenerationHandle::wait`] with options.
    pub async fn wait_with(self, mut options: WaitOptions) -> Result<Generation, Error> {
        if options.age.is_none() {
            let age = self
                .client
                .inner
                .transport
                .now()
                .saturating_duration_since(self.created);
            options.age = Some(age);
        }
        self.client
            .wait_inner(self.generation.reference().clone(), options, true)
            .await
    }
}

/// Progress events of one wait, from [`Client::progress`]. Ends when the wait ends.
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct ProgressStream {
    rx: mpsc::UnboundedReceiver<Event>,
}

impl Stream for ProgressStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        Pin::new(&mut self.rx).poll_next(cx)
    }
}

impl<T: Transport> Client<T> {
    /// A builder over `transport`.
    pub fn builder(transport: T) -> ClientBuilder<T> {
        ClientBuilder::new(transport)
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.inner.transport
    }

    /// Replaces the API key of every later request (rotation: create the new key, deploy it
    /// with this method, then revoke the old one). Requests already sent keep the old key.
    pub fn set_api_key(&self, key: ApiKey) -> Result<(), Error> {
        let mut encoder = self
            .inner
            .encoder
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let fresh = RequestEncoder::new(encoder.base_url().clone(), key)?
            .with_attribution(encoder.attribution().clone());
        *encoder = Arc::new(fresh);
        Ok(())
    }

    fn encoder(&self) -> Arc<RequestEncoder> {
        Arc::clone(&read(&self.inner.encoder))
    }

    /// Creates a generation on the responses API (`POST /v1/responses`) and returns its handle
    /// without waiting. The request is validated first; nothing is sent if it is invalid.
    pub async fn create(&self, request: &CreateResponse) -> Result<GenerationHandle<T>, Error> {
        let key = self.new_idempotency_key();
        self.create_with_key(request, key).await
    }

    /// [`Client::create`] with a caller-chosen idempotency key (`None`: send none).
    pub async fn create_with_key(
        &self,
        request: &CreateResponse,
        key: Option<IdempotencyKey>,
    ) -> Result<GenerationHandle<T>, Error> {
        let encoder = self.encoder();
        encoder.create_response(request, key.as_ref())?;
        self.create_inner(Flavor::Responses, key, move |e, k| {
            e.create_response(request, k)
        })
        .await
    }

    /// Creates a generation on the legacy API (`POST /v1/video/generations`).
    pub async fn create_legacy(
        &self,
        request: &CreateGeneration,
    ) -> Result<GenerationHandle<T>, Error> {
        let key = self.new_idempotency_key();
        self.create_legacy_with_key(request, key).await
    }

    /// [`Client::create_legacy`] with a caller-chosen idempotency key.
    pub async fn create_legacy_with_key(
        &self,
        request: &CreateGeneration,
        key: Option<IdempotencyKey>,
    ) -> Result<GenerationHandle<T>, Error> {
        let encoder = self.encoder();
        encoder.create_generation(request, key.as_ref())?;
        self.create_inner(Flavor::Legacy, key, move |e, k| {
            e.create_generation(request, k)
        })
        .await
    }

    fn new_idempotency_key(&self) -> Option<IdempotencyKey> {
        self.inner
            .settings
            .idempotency
            .then(|| IdempotencyKey::generate(&mut lock(&self.inner.shared).rng))
    }

    async fn create_inner(
        &self,
        flavor: Flavor,
        key: Option<IdempotencyKey>,
        build: impl Fn(&RequestEncoder, Option<&IdempotencyKey>) -> Result<Request<Vec<u8>>, Error>,
    ) -> Result<GenerationHandle<T>, Error> {
        let kind = if key.is_some() {
            RequestKind::KeyedCreate
        } else {
            RequestKind::UnkeyedCreate
        };
        let path = match flavor {
            Flavor::Responses => "/responses",
            Flavor::Legacy => "/video/generations",
        };
        let result = self
            .execute(
                "POST",
                path,
                kind,
                |e| build(e, key.as_ref()),
                |r| {
                    let mut generation = codec::decode_generation(flavor, r)?;
                    generation.redact_secret(self.encoder().secret());
                    Ok(generation)
                },
            )
            .await;
        match result {
            Ok(generation) => {
                tracing::info!(generation = %generation.reference(), "created");
                Ok(GenerationHandle {
                    client: self.clone(),
                    generation,
                    idempotency_key: key,
                    created: self.inner.transport.now(),
                })
            }
            Err(source) => Err(Error::Create(Box::new(CreateError {
                idempotency_key: key,
                source,
            }))),
        }
    }

    /// Creates a generation and waits for it: [`Client::create`] then
    /// [`GenerationHandle::wait`]. A failure after the create carries the reference.
    pub async fn generate(&self, request: &CreateResponse) -> Result<Generation, Error> {
        self.create(request).await?.wait().await
    }

    /// Retrieves a generation once (`GET /v1/responses/{id}` or the legacy route).
    pub async fn retrieve(&self, reference: &GenerationRef) -> Result<Generation, Error> {
        let flavor = reference.flavor();
        let path = match flavor {
            Flavor::Responses => "/responses/{id}",
            Flavor::Legacy => "/video/generations/{id}",
        };
        self.execute(
            "GET",
            path,
            RequestKind::Read,
            |e| e.retrieve(reference),
            |r| {
                let mut generation = codec::decode_generation(flavor, r)?;
                generation.redact_secret(self.encoder().secret());
                Ok(generation)
            },
        )
        .await
    }

    /// `GET /v1/engines`: the public catalogue (sent without the key).
    pub async fn engines(&self) -> Result<EngineCatalog, Error> {
        self.execute(
            "GET",
            "/engines",
            RequestKind::Read,
            RequestEncoder::engines,
            codec::decode_engines,
        )
        .await
    }

    /// `GET /v1/usage`: balance and usage.
    pub async fn usage(&self) -> Result<Usage, Error> {
        self.execute(
            "GET",
            "/usage",
            RequestKind::Read,
            RequestEncoder::usage,
            codec::decode_usage,
        )
        .await
    }

    /// `GET /v1/models` (legacy catalogue).
    pub async fn models(&self) -> Result<ModelList, Error> {
        self.execute(
            "GET",
            "/models",
            RequestKind::Read,
            RequestEncoder::models,
            codec::decode_models,
        )
        .await
    }

    /// `GET /v1/models/{slug}` (legacy).
    pub async fn model(&self, slug: &str) -> Result<ModelDetail, Error> {
        self.execute(
            "GET",
            "/models/{slug}",
            RequestKind::Read,
            |e| e.model(slug),
            codec::decode_model,
        )
        .await
    }

    /// Progress of the wait on `reference` (poll attempts, status changes). The stream ends
    /// when that wait ends; events before subscribing are not replayed.
    pub fn progress(&self, reference: &GenerationRef) -> ProgressStream {
        let (tx, rx) = mpsc::unbounded();
        lock(&self.inner.shared)
            .waits
            .entry(reference.clone())
            .or_default()
            .progress
            .push(tx);
        ProgressStream { rx }
    }

    /// Waits on a generation by its reference: resumes a wait that ended (deadline, crash,
    /// Ctrl-C) or waits on one created elsewhere. Polls at once, then on the schedule.
    pub async fn wait(&self, reference: &GenerationRef) -> Result<Generation, Error> {
        self.wait_with(reference, WaitOptions::default()).await
    }

    /// [`Client::wait`] with options.
    pub async fn wait_with(
        &self,
        reference: &GenerationRef,
        options: WaitOptions,
    ) -> Result<Generation, Error> {
        self.wait_inner(reference.clone(), options, false).await
    }

    /// Feeds a verified webhook event to the waits of this client: a `completed` or `failed`
    /// event ends the wait on that generation (matched by id; the event carries no flavour)
    /// without continuing its polling loop. Returns whether a wait was on that generation;
    /// events for other generations are ignored.
    ///
    /// **One fetch.** A webhook does not carry the whole [`Generation`], so the wait then
    /// retrieves it once (a single `GET`, through the shared pacing, ahead of any other poll)
    /// and returns that, with a fresh signed video URL; a failed generation ends the wait with
    /// [`WaitErrorKind::Failed`] as a failed poll does. Other statuses only update the last
    /// status seen. Pair it with [`WaitPolicy::with_webhooks`] on the client's wait policy so
    /// that polling only runs as a rare safety net.
    ///
    /// Holding a [`WebhookEvent`](crate::webhook::WebhookEvent) proves it was verified
    /// ([`Verifier`](crate::webhook::Verifier)); deduplicate deliveries before or after, as
    /// you like: a repeated event is harmless here.
    ///
    /// ```no_run
    /// # async fn demo<T: pipevideo_core::transport::Transport>(
    /// #     client: pipevideo_core::client::Client<T>,
    /// #     verifier: pipevideo_core::webhook::Verifier,
    /// #     headers: http::HeaderMap, body: Vec<u8>,
    /// # ) {
    /// // In the webhook route (while other tasks are in `handle.wait()`):
    /// if let Ok(event) = verifier.verify(&headers, &body, std::time::SystemTime::now()) {
    ///     client.handle_webhook(&event);
    /// }
    /// # }
    /// ```
    pub fn handle_webhook(&self, event: &crate::webhook::WebhookEvent) -> bool {
        let now = self.inner.transport.now();
        let mut shared = lock(&self.inner.shared);
        let found = shared.fleet.handle_webhook(now, event).is_ok();
        dispatch(&mut shared);
        if found {
            wake_sleepers(&mut shared);
        }
        tracing::debug!(generation = %event.generation_id(), status = %event.status(), found, "webhook");
        found
    }

    /// Stops every wait on `reference` ([`WaitErrorKind::Cancelled`]). Returns whether a wait
    /// was running.
    pub fn cancel_wait(&self, reference: &GenerationRef) -> bool {
        let mut shared = lock(&self.inner.shared);
        let found = shared.fleet.cancel(reference);
        dispatch(&mut shared);
        wake_sleepers(&mut shared);
        found
    }

    /// Downloads the generation's video into `sink`, streaming: the video never passes through
    /// the capped body path and is never held whole in memory. The request carries no
    /// `Authorization` header (the URL is signed). If the signed URL has expired (403 or 410
    /// before any byte was written), the generation is retrieved again for a fresh URL, up to
    /// twice. Returns the number of bytes written.
    pub async fn download(
        &self,
        generation: &Generation,
        sink: &mut dyn ChunkSink,
    ) -> Result<u64, Error> {
        let mut current = generation.clone();
        let mut refreshes = 0;
        loop {
            let reference = current.reference().clone();
            let url = current
                .video_url()
                .ok_or_else(|| DownloadError::new(&reference, "the generation has no video URL"))?
                .to_owned();
            let request = download_request(&url).map_err(|m| DownloadError::new(&reference, m))?;
            let span = tracing::debug_span!("pipevideo.download", generation = %reference);
            let response = self
                .inner
                .transport
                .download(request, sink, self.inner.settings.download)
                .instrument(span)
                .await
                .map_err(|e| DownloadError::transport(&reference, e))?;
            let status = response.status();
            match response.into_body() {
                DownloadBody::Written(n) if status.is_success() => return Ok(n),
                _ if matches!(status, StatusCode::FORBIDDEN | StatusCode::GONE)
                    && refreshes < 2 =>
                {
                    refreshes += 1;
                    tracing::info!(generation = %reference, %status, "video URL expired; fetching a fresh one");
                    current = self.retrieve(&reference).await?;
                }
                _ => return Err(DownloadError::status_from_host(&reference, status).into()),
            }
        }
    }

    /// One call: pace, send, decide, sleep, repeat — until the retry engine says done or give up.
    async fn execute<R>(
        &self,
        method: &'static str,
        path: &'static str,
        kind: RequestKind,
        build: impl Fn(&RequestEncoder) -> Result<Request<Vec<u8>>, Error>,
        decode: impl Fn(&Response<Vec<u8>>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let span = tracing::debug_span!("pipevideo.call", method, path);
        self.execute_inner(kind, build, decode)
            .instrument(span)
            .await
    }

    async fn execute_inner<R>(
        &self,
        kind: RequestKind,
        build: impl Fn(&RequestEncoder) -> Result<Request<Vec<u8>>, Error>,
        decode: impl Fn(&Response<Vec<u8>>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let transport = &self.inner.transport;
        let settings = &self.inner.settings;
        let started = transport.now();
        let mut state = RetryState::new(&settings.retry, kind, started);
        let mut not_before: Option<Instant> = None;
        let mut last_error: Option<Error> = None;
        loop {
            // 1. Pace.
            if let Err(give_up) = self.pace(not_before, &state).await {
                let elapsed = transport.now().saturating_duration_since(started);
                return Err(gave_up(give_up, last_error, elapsed));
            }
            // 2. Send.
            let request = build(&self.encoder())?;
            let now = transport.now();
            let options = SendOptions::new()
                .with_timeout(state.attempt_timeout(now))
                .with_body_limit(settings.body_limit);
            let result = transport.send(request, options).await;
            let now = transport.now();
            // 3. Decide.
            let (outcome, value) = self.judge(result, &decode);
            let decision = {
                let mut shared = lock(&self.inner.shared);
                let Shared {
                    budget, rng, pacer, ..
                } = &mut *shared;
                let decision = state.decide(outcome, now, budget, rng);
                if let Some(hold) = decision.hold_until() {
                    pacer.hold_until(hold);
                }
                decision
            };
            tracing::debug!(attempt = decision.attempt(), decision = %decision, "attempt");
            match decision.verdict() {
                Verdict::Done => return value,
                Verdict::Retry { at, .. } => {
                    not_before = Some(at);
                    last_error = value.err();
                }
                Verdict::GiveUp(crate::retry::GiveUpReason::NotRetryable) => return value,
                Verdict::GiveUp(_) => {
                    let give_up = decision.give_up().expect("a GiveUp verdict has a give-up");
                    let elapsed = now.saturating_duration_since(started);
                    return Err(gave_up(give_up, value.err(), elapsed));
                }
            }
        }
    }

    /// Turns one attempt's result into the retry engine's outcome and the value or error the
    /// call would return.
    fn judge<R>(
        &self,
        result: Result<Response<Vec<u8>>, TransportError>,
        decode: &impl Fn(&Response<Vec<u8>>) -> Result<R, Error>,
    ) -> (Outcome, Result<R, Error>) {
        // Server text kept in an error must not carry the key, whatever its shape: it is
        // scrubbed with the client's own key here (`pv_…` tokens are scrubbed wherever such text
        // is first stored).
        let encoder = self.encoder();
        let secret = encoder.secret();
        match result {
            Ok(response) if response.status().is_success() => match decode(&response) {
                Ok(value) => (Outcome::status(response.status()), Ok(value)),
                // A 2xx whose body does not decode (cut off, or a proxy's page): the request
                // may have been processed, so it is retried only where a replay is safe.
                Err(mut e) => {
                    if let Error::Decode(decode) = &mut e {
                        decode.redact_secret(secret);
                    }
                    (Outcome::failed(FailureKind::MaybeSent), Err(e))
                }
            },
            Ok(response) => {
                let status = response.status();
                let api = ApiError::from_response_scrubbed(
                    status,
                    response.headers(),
                    response.body(),
                    Some(secret),
                );
                let outcome = Outcome::response(
                    status,
                    api.retry_after(),
                    response.headers(),
                    self.inner.transport.wall_now(),
                );
                (outcome, Err(Error::Api(api)))
            }
            Err(e) => (Outcome::failed(e.kind()), Err(Error::Transport(e))),
        }
    }

    /// Waits until the pacer lets a request go at or after `not_before`, and records the send.
    /// Gives up at once if that moment is at or past the call's deadline.
    async fn pace(
        &self,
        not_before: Option<Instant>,
        state: &RetryState,
    ) -> Result<(), crate::retry::GiveUp> {
        let transport = &self.inner.transport;
        let mut earliest = not_before;
        loop {
            let now = transport.now();
            let at = earliest.map_or(now, |t| t.max(now));
            let send_at = {
                let mut shared = lock(&self.inner.shared);
                let send_at = shared.pacer.next_send_at(at);
                if send_at <= now {
                    shared.pacer.record_send(now);
                    return Ok(());
                }
                send_at
            };
            state.check_send_at(send_at, now)?;
            transport.sleep_until(send_at).await;
            earliest = Some(send_at);
        }
    }

    async fn wait_inner(
        &self,
        reference: GenerationRef,
        options: WaitOptions,
        just_created: bool,
    ) -> Result<Generation, Error> {
        let span = tracing::info_span!("pipevideo.wait", generation = %reference);
        self.wait_loop(reference, options, just_created)
            .instrument(span)
            .await
    }

    async fn wait_loop(
        &self,
        reference: GenerationRef,
        options: WaitOptions,
        just_created: bool,
    ) -> Result<Generation, Error> {
        let transport = &self.inner.transport;
        let mut policy = self.inner.settings.wait.clone();
        if let Some(deadline) = options.deadline {
            policy = policy.with_deadline(deadline).map_err(|e| {
                let message = e.to_string();
                let cause = Error::Input(crate::InputError::WaitPolicy(e));
                Error::Wait(Box::new(fatal_wait(&reference, message, Some(cause))))
            })?;
        }
        let deadline = policy.deadline();
        let deadline_at = transport.now().checked_add(deadline);
        let (tx, mut rx) = oneshot::channel();
        {
            let mut shared = lock(&self.inner.shared);
            let now = transport.now();
            if shared.fleet.poller(&reference).is_none() {
                let Shared { fleet, rng, .. } = &mut *shared;
                let age = options.age.unwrap_or(Duration::ZERO);
                let inserted = if just_created && age < Duration::from_secs(1) {
                    fleet.insert(reference.clone(), policy, now, rng)
                } else {
                    fleet.insert_resumed(reference.clone(), policy, now, age, rng)
                };
                inserted.map_err(|e| {
                    Error::Wait(Box::new(fatal_wait(&reference, e.to_string(), None)))
                })?;
            }
            shared
                .waits
                .entry(reference.clone())
                .or_default()
                .notify
                .push(tx);
        }
        let _registration = Registration {
            client: self,
            reference: &reference,
        };
        let no_cancel = CancelToken::new();
        let cancel = options.cancel.as_ref().unwrap_or(&no_cancel);
        loop {
            if cancel.is_cancelled() {
                self.cancel_wait(&reference);
            }
            if let Ok(Some((outcome, cause))) = rx.try_recv() {
                return finish(outcome, cause, deadline, deadline_at);
            }
            let now = transport.now();
            let (action, nudged) = {
                let mut shared = lock(&self.inner.shared);
                shared.fleet.handle_timeout(now);
                let Shared { fleet, pacer, .. } = &mut *shared;
                let action = match fleet.poll_transmit(now, pacer) {
                    Some(transmit) => Either::Left(transmit.reference),
                    None => Either::Right(fleet.poll_timeout(pacer)),
                };
                dispatch(&mut shared);
                // Registered under the same lock as the decision, so a webhook arriving
                // after it always wakes this wait.
                let (nudge, nudged) = oneshot::channel();
                shared.sleepers.retain(|tx| !tx.is_canceled());
                shared.sleepers.push(nudge);
                (action, nudged)
            };
            match action {
                Either::Left(target) => {
                    let mut in_flight = InFlight {
                        client: self,
                        reference: Some(target.clone()),
                    };
                    let result = self.poll_once(&target).await;
                    in_flight.reference = None;
                    let now = transport.now();
                    let mut shared = lock(&self.inner.shared);
                    // The generation may have left the fleet while the poll was in flight
                    // (deadline, cancel): then the answer is no longer needed.
                    let _ = shared.fleet.handle_response(now, &target, result);
                    dispatch(&mut shared);
                    wake_sleepers(&mut shared);
                }
                Either::Right(wake) => {
                    let Some(wake) = wake else {
                        // Nothing left in the fleet: our outcome is in the channel.
                        continue;
                    };
                    let sleep = std::pin::pin!(transport.sleep_until(wake));
                    let cancelled = std::pin::pin!(cancel.cancelled());
                    let woken = future::select(
                        future::select(sleep, nudged),
                        future::select(&mut rx, cancelled),
                    )
                    .await;
                    if let Either::Right((Either::Left((Ok((outcome, cause)), _)), _)) = woken {
                        return finish(outcome, cause, deadline, deadline_at);
                    }
                }
            }
        }
    }

    /// One poll of one generation: a single attempt, judged by the retry engine (which spends
    /// the shared budget and holds the client after a 429), then classified for the poller.
    async fn poll_once(&self, reference: &GenerationRef) -> Result<Generation, PollFailure> {
        let transport = &self.inner.transport;
        let request = self
            .encoder()
            .retrieve(reference)
            .map_err(|e| PollFailure::Fatal {
                message: e.to_string(),
            })?;
        let start = transport.now();
        let mut state = lock(&self.inner.shared)
            .poll_retry
            .remove(reference)
            .unwrap_or_else(|| {
                RetryState::new(&self.inner.settings.retry, RequestKind::Read, start)
            });
        let options = SendOptions::new()
            .with_timeout(self.inner.settings.retry.attempt_timeout())
            .with_body_limit(self.inner.settings.body_limit);
        let span = tracing::debug_span!("pipevideo.poll", generation = %reference);
        let result = transport.send(request, options).instrument(span).await;
        let now = transport.now();
        let flavor = reference.flavor();
        let (outcome, value) = self.judge(result, &|r: &Response<Vec<u8>>| {
            codec::decode_generation(flavor, r)
        });
        let decision = {
            let mut shared = lock(&self.inner.shared);
            let Shared {
                budget,
                rng,
                pacer,
                poll_retry,
                ..
            } = &mut *shared;
            let decision = state.decide(outcome, now, budget, rng);
            if let Some(hold) = decision.hold_until() {
                pacer.hold_until(hold);
            }
            if matches!(decision.verdict(), Verdict::Retry { .. }) {
                poll_retry.insert(reference.clone(), state);
            }
            decision
        };
        tracing::debug!(generation = %reference, decision = %decision, "poll");
        let error = match value {
            Ok(mut generation) => {
                generation.redact_secret(self.encoder().secret());
                lock(&self.inner.shared).poll_errors.remove(reference);
                return Ok(generation);
            }
            Err(error) => error,
        };
        let message = error.to_string();
        lock(&self.inner.shared)
            .poll_errors
            .insert(reference.clone(), error);
        Err(match outcome {
            Outcome::Response { status, asked } => match status.as_u16() {
                401 => PollFailure::Unauthorized { message },
                404 => PollFailure::NotFound { message },
                429 => PollFailure::Transient {
                    not_before: asked.delay().and_then(|d| now.checked_add(d)),
                    message,
                },
                500..=599 => PollFailure::Transient {
                    not_before: None,
                    message,
                },
                _ => PollFailure::Fatal { message },
            },
            Outcome::Failed(FailureKind::Permanent) => PollFailure::Fatal { message },
            _ => PollFailure::Transient {
                not_before: None,
                message,
            },
        })
    }
}

/// Keeps the fleet consistent when a wait's future is dropped: a wait nobody awaits any more is
/// cancelled in the fleet.
struct Registration<'a, T> {
    client: &'a Client<T>,
    reference: &'a GenerationRef,
}

impl<T> Drop for Registration<'_, T> {
    fn drop(&mut self) {
        let mut shared = lock(&self.client.inner.shared);
        let orphaned = match shared.waits.get_mut(self.reference) {
            Some(waits) => {
                waits.notify.retain(|tx| !tx.is_canceled());
                waits.notify.is_empty()
            }
            None => false,
        };
        if orphaned {
            shared.fleet.cancel(self.reference);
            shared.poll_retry.remove(self.reference);
            dispatch(&mut shared);
            shared.waits.remove(self.reference);
            wake_sleepers(&mut shared);
        }
    }
}

/// A poll in flight: if its future is dropped before the answer, the fleet is told the poll
/// failed, so the generation is polled again by another wait.
struct InFlight<'a, T: Transport> {
    client: &'a Client<T>,
    reference: Option<GenerationRef>,
}

impl<T: Transport> Drop for InFlight<'_, T> {
    fn drop(&mut self) {
        if let Some(reference) = self.reference.take() {
            let now = self.client.inner.transport.now();
            let mut shared = lock(&self.client.inner.shared);
            let _ = shared.fleet.handle_response(
                now,
                &reference,
                Err(PollFailure::Transient {
                    not_before: None,
                    message: "poll abandoned".into(),
                }),
            );
            dispatch(&mut shared);
            wake_sleepers(&mut shared);
        }
    }
}

/// Wakes every sleeping wait so that it recomputes when to wake: called whenever the fleet
/// changed other than through the sleeper's own decision (a poll answered, a poll or wait
/// abandoned, a webhook). Without it, a wait that went to sleep while its generation's poll was
/// in flight in another wait's loop would sleep until its deadline.
fn wake_sleepers(shared: &mut Shared) {
    for sleeper in shared.sleepers.drain(..) {
        let _ = sleeper.send(());
    }
}

/// Hands the fleet's events and outcomes to the waits that await them.
fn dispatch(shared: &mut Shared) {
    while let Some(event) = shared.fleet.poll_event() {
        if let Some(waits) = shared.waits.get_mut(&event.reference) {
            waits
                .progress
                .retain(|tx| tx.unbounded_send(event.event.clone()).is_ok());
        }
    }
    while let Some(outcome) = shared.fleet.poll_outcome() {
        shared.poll_retry.remove(&outcome.reference);
        let last_error = shared.poll_errors.remove(&outcome.reference);
        // Only an outcome a poll decided takes that poll's error as its cause; a deadline or a
        // cancel is its own cause.
        let cause = match outcome.kind {
            OutcomeKind::Unauthorized { .. }
            | OutcomeKind::NotFound { .. }
            | OutcomeKind::Fatal { .. }
            // The server asked for a wait that ends after the deadline: its 429 decided.
            | OutcomeKind::DeadlineExceeded {
                server_ready_at: Some(_),
            } => last_error,
            _ => None,
        };
        if let Some(waits) = shared.waits.remove(&outcome.reference) {
            for tx in waits.notify {
                let _ = tx.send((outcome.clone(), cause.clone()));
            }
        }
    }
}

fn finish(
    outcome: crate::poll::WaitOutcome<Generation>,
    cause: Option<Error>,
    deadline: Duration,
    deadline_at: Option<Instant>,
) -> Result<Generation, Error> {
    let crate::poll::WaitOutcome {
        reference,
        last_status,
        polls,
        kind,
        ..
    } = outcome;
    let kind = match kind {
        OutcomeKind::Completed(generation) => return Ok(generation),
        OutcomeKind::Failed(generation) => WaitErrorKind::Failed(Box::new(generation)),
        OutcomeKind::DeadlineExceeded { server_ready_at } => WaitErrorKind::DeadlineExceeded {
            deadline,
            server_ready_after_deadline: server_ready_at
                .zip(deadline_at)
                .map(|(ready, end)| ready.saturating_duration_since(end)),
        },
        OutcomeKind::Cancelled => WaitErrorKind::Cancelled,
        OutcomeKind::Unauthorized { message } => WaitErrorKind::Unauthorized { message },
        OutcomeKind::NotFound { message } => WaitErrorKind::NotFound { message },
        OutcomeKind::Fatal { message } => WaitErrorKind::Fatal { message },
    };
    Err(Error::Wait(Box::new(WaitError {
        reference,
        last_status,
        polls,
        kind,
        cause,
    })))
}

fn fatal_wait(reference: &GenerationRef, message: String, cause: Option<Error>) -> WaitError {
    WaitError {
        reference: reference.clone(),
        last_status: None,
        polls: 0,
        kind: WaitErrorKind::Fatal { message },
        cause,
    }
}

fn gave_up(give_up: crate::retry::GiveUp, last: Option<Error>, elapsed: Duration) -> Error {
    Error::GaveUp(Box::new(GaveUpError {
        give_up,
        last,
        elapsed,
    }))
}

fn download_request(url: &str) -> Result<Request<Vec<u8>>, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("the video URL is not a valid URI: {e}"))?;
    match uri.scheme_str() {
        Some("https" | "http") => {}
        _ => return Err("the video URL is not http(s)".into()),
    }
    Request::get(uri)
        .header(http::header::USER_AGENT, codec::USER_AGENT_VALUE)
        .body(Vec::new())
        .map_err(|e| format!("the video request could not be built: {e}"))
}
