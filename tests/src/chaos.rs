//! Shared pieces of the chaos soak (`tests/chaos.rs`) and the secret sweep (`tests/secrets.rs`)
//! that need only the core: a client configuration scaled to an emulator's clock, and a
//! [`Recording`] transport that remembers every exchange as the client saw it.
//!
//! The emulator itself is a dev-dependency of this package, so the parts of the soak that read
//! its request log live in the test file.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use pipevideo_core::ApiError;
use pipevideo_core::codec::IDEMPOTENCY_KEY_HEADER;
use pipevideo_core::policy::PacingPolicy;
use pipevideo_core::policy::RetryPolicy;
use pipevideo_core::policy::TimeScale;
use pipevideo_core::policy::WaitPolicy;
use pipevideo_core::retry::{RetryBudget, ServerDelay};
use pipevideo_core::transport::{
    ChunkSink, Clock, DownloadBody, DownloadOptions, HttpClient, SendOptions, Transport,
    TransportError,
};

/// The client's settings for an emulator whose time runs `scale` real seconds per emulated
/// second, and whose rate limit is `server_limit` requests per emulated minute.
///
/// Every duration follows the emulator's clock as [`TimeScale`] decides (pacing window, poll
/// schedule, 404 grace, wait deadline, backoff, and the per-attempt timeout, per-call deadline
/// and server-asked-wait cap with their floors for a loopback network and a debug build).
/// The soak changes only two counts: the pacing limit, 90 % of `server_limit` (the default
/// margin), and [`SoakClock::ATTEMPTS`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SoakClock {
    /// Client pacing: 90 % of `server_limit` per scaled minute, bursts of 10.
    pub pacing: PacingPolicy,
    /// The wait policy: scaled schedule, grace and deadline.
    pub wait: WaitPolicy,
    /// The retry policy: scaled backoff, floored timeouts, [`SoakClock::ATTEMPTS`] attempts.
    pub retry: RetryPolicy,
    /// The retry budget: the default.
    pub budget: RetryBudget,
}

impl SoakClock {
    /// Attempts per call in the soak. At the soak's fault rate (about 29 % of requests fail),
    /// the default 4 attempts would give up on 0.29⁴ ≈ 0.7 % of calls, by design; 8 attempts
    /// bring that to about 5 in 100,000, so that what the soak measures is the client's
    /// correctness rather than the attempt limit.
    pub const ATTEMPTS: u32 = 8;

    /// The settings for `scale` and `server_limit` (requests per emulated minute).
    ///
    /// # Panics
    ///
    /// If `scale` is not a valid [`TimeScale`] (a test's own constant or environment setting).
    pub fn for_scale(scale: f64, server_limit: u32) -> Self {
        let scale = TimeScale::new(scale).expect("the soak's time scale is valid");
        Self {
            pacing: scale
                .pacing()
                .with_limit((server_limit / 10 * 9).max(1))
                .with_burst(PacingPolicy::DEFAULT_BURST),
            wait: scale.wait_policy(),
            retry: scale.retry_policy().with_attempt_limit(Self::ATTEMPTS),
            budget: RetryBudget::default(),
        }
    }
}

/// One request as the client's transport saw it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Exchange {
    /// When the transport was asked to send it (after the client's pacing let it go).
    pub started: Instant,
    /// When the transport returned.
    pub ended: Instant,
    /// `GET`, `POST`.
    pub method: String,
    /// The path (and query).
    pub path: String,
    /// The `Idempotency-Key` header, if any.
    pub idempotency_key: Option<String>,
    /// The status, or `None` for a transport failure.
    pub status: Option<u16>,
    /// For a 429: the wait the server asked for (body `data.retry_after` or `Retry-After`,
    /// the later), as the client reads it.
    pub retry_after: Option<Duration>,
}

/// A transport that forwards to `T` and records every [`Exchange`]. Clones share the record.
#[derive(Debug, Clone)]
pub struct Recording<T> {
    inner: T,
    log: Arc<Mutex<Vec<Exchange>>>,
}

impl<T> Recording<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        Self {
            inner,
            log: Arc::default(),
        }
    }

    /// Every exchange so far, in the order they ended.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// The HTTP half records; it reads the wrapped transport's clock for the timestamps.
#[async_trait::async_trait]
impl<T: Transport> HttpClient for Recording<T> {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        options: SendOptions,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let started = self.inner.now();
        let method = request.method().to_string();
        let path = request
            .uri()
            .path_and_query()
            .map_or_else(String::new, |p| p.to_string());
        let idempotency_key = request
            .headers()
            .get(IDEMPOTENCY_KEY_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let result = self.inner.send(request, options).await;
        let ended = self.inner.now();
        let (status, retry_after) = match &result {
            Ok(response) => {
                let status = response.status();
                let retry_after = (status.as_u16() == 429)
                    .then(|| {
                        let api =
                            ApiError::from_response(status, response.headers(), response.body());
                        ServerDelay::read(
                            api.retry_after(),
                            response.headers(),
                            self.inner.wall_now(),
                        )
                        .delay()
                    })
                    .flatten();
                (Some(status.as_u16()), retry_after)
            }
            Err(_) => (None, None),
        };
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Exchange {
                started,
                ended,
                method,
                path,
                idempotency_key,
                status,
                retry_after,
            });
        result
    }

    async fn download(
        &self,
        request: http::Request<Vec<u8>>,
        sink: &mut dyn ChunkSink,
        options: DownloadOptions,
    ) -> Result<http::Response<DownloadBody>, TransportError> {
        self.inner.download(request, sink, options).await
    }
}

/// The clock half is the wrapped transport's.
#[async_trait::async_trait]
impl<T: Clock> Clock for Recording<T> {
    async fn sleep(&self, duration: Duration) {
        self.inner.sleep(duration).await;
    }

    async fn sleep_until(&self, deadline: Instant) {
        self.inner.sleep_until(deadline).await;
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn wall_now(&self) -> SystemTime {
        self.inner.wall_now()
    }
}

/// Sends that started inside a 429's window: for every exchange answered 429 with a wait `r`,
/// any later send that started in `[ended, ended + r)`. The client learns of the 429 when the
/// transport returns (`ended`) and holds every request of the key until at least `ended + r`,
/// so this list must be empty; it is exact, with no tolerance, because the client's futures
/// run on one thread and pacing and sending happen in the same poll.
pub fn sends_inside_retry_after(exchanges: &[Exchange]) -> Vec<(usize, usize)> {
    let mut violations = Vec::new();
    for (i, refused) in exchanges.iter().enumerate() {
        let Some(wait) = refused.retry_after else {
            continue;
        };
        let until = refused.ended + wait;
        for (j, later) in exchanges.iter().enumerate() {
            if later.started >= refused.ended && later.started < until {
                violations.push((i, j));
            }
        }
    }
    violations
}
