//! A deterministic transport for tests: a closure answers requests, a [`VirtualClock`] tells
//! the time, and sleeping advances that clock instantly.
//!
//! Nothing here reads a real clock: a [`VirtualClock`] starts at an [`Instant`] you give it
//! (take `Instant::now()` once in your test) and only moves when something sleeps or you
//! [`advance`](VirtualClock::advance) it. A driver that waits an hour of backoff runs in
//! microseconds, and the same test gives the same result every time.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use pipevideo_core::transport::testing::{FnTransport, VirtualClock};
//! use pipevideo_core::transport::{Clock, TransportError};
//!
//! let clock = VirtualClock::new(Instant::now());
//! let transport = FnTransport::new(clock.clone(), |_request| async {
//!     Err::<http::Response<Vec<u8>>, _>(TransportError::connect("connection refused"))
//! });
//! futures_util::FutureExt::now_or_never(transport.sleep(Duration::from_secs(60)));
//! assert_eq!(clock.elapsed(), Duration::from_secs(60));
//! assert_eq!(clock.sleeps(), [Duration::from_secs(60)]);
//! ```

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use super::{
    ChunkSink, Clock, DownloadBody, DownloadOptions, HttpClient, SendOptions, TransportError,
};

/// The wall-clock time a [`VirtualClock`] starts at unless told otherwise, in seconds since
/// the Unix epoch: 2026-01-01T00:00:00Z.
pub const DEFAULT_WALL_START_SECS: u64 = 1_767_225_600;

fn default_wall_start() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(DEFAULT_WALL_START_SECS)
}

/// A shared virtual clock: monotonic and wall time that move only when told to.
///
/// Clones share one clock. Sleeping for `d` moves the clock to at least "now when the sleep
/// began + `d`", so two tasks that both sleep one second from the same moment end up one
/// second later, not two.
#[derive(Clone)]
pub struct VirtualClock {
    state: Arc<Mutex<ClockState>>,
}

#[derive(Debug)]
struct ClockState {
    start: Instant,
    wall_start: SystemTime,
    elapsed: Duration,
    sleeps: Vec<Duration>,
}

impl VirtualClock {
    /// A clock whose monotonic time starts at `start` and wall time at [`DEFAULT_WALL_START_SECS`].
    pub fn new(start: Instant) -> Self {
        Self {
            state: Arc::new(Mutex::new(ClockState {
                start,
                wall_start: default_wall_start(),
                elapsed: Duration::ZERO,
                sleeps: Vec::new(),
            })),
        }
    }

    /// The same clock with its wall time starting at `wall_start` instead.
    #[must_use]
    pub fn with_wall_start(self, wall_start: SystemTime) -> Self {
        self.lock().wall_start = wall_start;
        self
    }

    fn lock(&self) -> MutexGuard<'_, ClockState> {
        // A panic elsewhere in a test must not turn every later clock read into a panic.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The current virtual [`Instant`].
    pub fn now(&self) -> Instant {
        let state = self.lock();
        state.start + state.elapsed
    }

    /// The current virtual wall-clock time.
    pub fn wall_now(&self) -> SystemTime {
        let state = self.lock();
        state.wall_start + state.elapsed
    }

    /// How far the clock has moved since it was created.
    pub fn elapsed(&self) -> Duration {
        self.lock().elapsed
    }

    /// Move the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        self.lock().elapsed += by;
    }

    /// Move the clock forward to `instant`, if it is later than now.
    pub fn advance_to(&self, instant: Instant) {
        let mut state = self.lock();
        let target = instant.saturating_duration_since(state.start);
        if target > state.elapsed {
            state.elapsed = target;
        }
    }

    /// Every sleep requested so far through a transport on this clock, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    fn record_sleep(&self, duration: Duration) {
        let mut state = self.lock();
        state.sleeps.push(duration);
        // The sleep began "now"; it ends at now + duration unless another sleeper already
        // moved the clock past that point.
        let target = state.elapsed + duration;
        if target > state.elapsed {
            state.elapsed = target;
        }
    }
}

impl fmt::Debug for VirtualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VirtualClock")
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

/// A [`Transport`](super::Transport) whose responses come from a closure and whose time is a [`VirtualClock`].
///
/// The closure gets each request and returns a future of the response (or a
/// [`TransportError`] to simulate a failure). The transport keeps the contract around it:
///
/// - the response body is checked against [`SendOptions::body_limit`] (so a test can provoke
///   [`Cause::BodyTooLarge`](super::Cause::BodyTooLarge));
/// - if the closure advances the clock by more than [`SendOptions::timeout`] (to simulate a
///   slow server), the attempt fails with a timeout;
/// - [`HttpClient::download`] feeds a success body to the sink in [`WHOLE_BODY_CHUNK`](super::WHOLE_BODY_CHUNK)-sized
///   chunks; a body over [`DownloadOptions::max_bytes`] fails before anything is written, as
///   with an announced length;
/// - [`Clock::sleep`] returns at once after advancing the clock.
///
/// Its futures never wait, so `futures_util::FutureExt::now_or_never` or any executor can drive
/// them.
pub struct FnTransport<F> {
    clock: VirtualClock,
    respond: F,
}

impl<F, Fut> FnTransport<F>
where
    F: Fn(http::Request<Vec<u8>>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send,
{
    /// A transport answering with `respond`, on `clock`.
    pub fn new(clock: VirtualClock, respond: F) -> Self {
        Self { clock, respond }
    }
}

impl<F> FnTransport<F> {
    /// The transport's clock.
    pub fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    async fn respond<Fut>(
        &self,
        request: http::Request<Vec<u8>>,
        timeout: Option<Duration>,
    ) -> Result<http::Response<Vec<u8>>, TransportError>
    where
        F: Fn(http::Request<Vec<u8>>) -> Fut,
        Fut: Future<Output = Result<http::Response<Vec<u8>>, TransportError>>,
    {
        let started = self.clock.now();
        let result = (self.respond)(request).await;
        match timeout {
            Some(timeout) if self.clock.now().saturating_duration_since(started) > timeout => {
                Err(TransportError::timeout(timeout))
            }
            _ => result,
        }
    }
}

impl<F> fmt::Debug for FnTransport<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnTransport")
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl<F, Fut> HttpClient for FnTransport<F>
where
    F: Fn(http::Request<Vec<u8>>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send,
{
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        options: SendOptions,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let response = self.respond(request, options.timeout()).await?;
        if response.body().len() as u64 > options.body_limit() {
            return Err(TransportError::body_too_large(options.body_limit()));
        }
        Ok(response)
    }

    async fn download(
        &self,
        request: http::Request<Vec<u8>>,
        sink: &mut dyn ChunkSink,
        options: DownloadOptions,
    ) -> Result<http::Response<DownloadBody>, TransportError> {
        let response = self.respond(request, options.timeout()).await?;
        super::deliver_whole(response, sink, &options).await
    }
}

#[async_trait::async_trait]
impl<F: Send + Sync> Clock for FnTransport<F> {
    async fn sleep(&self, duration: Duration) {
        self.clock.record_sleep(duration);
    }

    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn wall_now(&self) -> SystemTime {
        self.clock.wall_now()
    }
}

/// The virtual clock is a [`Clock`] of its own, to pair with any HTTP half in a
/// [`Stack`](super::Stack): sleeping advances it at once.
#[async_trait::async_trait]
impl Clock for VirtualClock {
    async fn sleep(&self, duration: Duration) {
        self.record_sleep(duration);
    }

    fn now(&self) -> Instant {
        VirtualClock::now(self)
    }

    fn wall_now(&self) -> SystemTime {
        VirtualClock::wall_now(self)
    }
}

/// The generator a client built with
/// [`predictable_keys_and_temp_names(seed)`](crate::client::ClientBuilder::predictable_keys_and_temp_names)
/// draws its idempotency keys and a save's temporary names from, in the same order: pass it
/// to [`temp_file_name`](crate::download::temp_file_name) to know the names a save of that
/// client will try, e.g. to plant files at them.
///
/// ```
/// use pipevideo_core::{download::temp_file_name, transport::testing::predictable_rng};
///
/// let first = temp_file_name("out.mp4".as_ref(), &mut predictable_rng(7));
/// assert_eq!(first, temp_file_name("out.mp4".as_ref(), &mut predictable_rng(7)));
/// assert_ne!(first, temp_file_name("out.mp4".as_ref(), &mut predictable_rng(8)));
/// ```
pub fn predictable_rng(seed: u64) -> impl rand_core::RngCore + Clone + fmt::Debug {
    <crate::random::Sha256Rng as rand_core::SeedableRng>::seed_from_u64(seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::{Cause, FailureKind, Transport};
    use futures_util::FutureExt;

    fn ok(body: &'static [u8]) -> Result<http::Response<Vec<u8>>, TransportError> {
        Ok(http::Response::new(body.to_vec()))
    }

    fn get() -> http::Request<Vec<u8>> {
        http::Request::get("http://example.test/")
            .body(Vec::new())
            .unwrap()
    }

    #[test]
    fn concurrent_sleeps_from_one_moment_do_not_add_up() {
        let start = Instant::now();
        let clock = VirtualClock::new(start);
        let t = FnTransport::new(clock.clone(), |_| async { ok(b"") });
        t.sleep(Duration::from_secs(2)).now_or_never().unwrap();
        assert_eq!(t.now(), start + Duration::from_secs(2));
        t.sleep_until(start + Duration::from_secs(1))
            .now_or_never()
            .unwrap();
        assert_eq!(
            clock.elapsed(),
            Duration::from_secs(2),
            "a past deadline does not sleep"
        );
        t.sleep_until(start + Duration::from_secs(5))
            .now_or_never()
            .unwrap();
        assert_eq!(clock.elapsed(), Duration::from_secs(5));
        assert_eq!(
            clock.sleeps(),
            [Duration::from_secs(2), Duration::from_secs(3)]
        );
        assert_eq!(t.wall_now(), default_wall_start() + Duration::from_secs(5));
        clock.advance_to(start + Duration::from_secs(1));
        assert_eq!(
            clock.elapsed(),
            Duration::from_secs(5),
            "the clock never goes back"
        );
    }

    #[test]
    fn body_over_the_cap_is_a_permanent_error() {
        let t = FnTransport::new(VirtualClock::new(Instant::now()), |_| async {
            ok(b"12345")
        });
        let options = SendOptions::new().with_body_limit(4);
        let err = t.send(get(), options).now_or_never().unwrap().unwrap_err();
        assert_eq!(err.cause(), Cause::BodyTooLarge { limit: 4 });
        assert_eq!(err.kind(), FailureKind::Permanent);
        let exact = t
            .send(get(), options.with_body_limit(5))
            .now_or_never()
            .unwrap()
            .unwrap();
        assert_eq!(exact.body(), b"12345");
    }

    #[test]
    fn a_closure_that_takes_too_long_times_out() {
        let clock = VirtualClock::new(Instant::now());
        let inner = clock.clone();
        let t = FnTransport::new(clock, move |_| {
            inner.advance(Duration::from_secs(3));
            async { ok(b"late") }
        });
        let options = SendOptions::new().with_timeout(Duration::from_secs(2));
        let err = t.send(get(), options).now_or_never().unwrap().unwrap_err();
        assert!(err.is_timeout());
        assert_eq!(err.kind(), FailureKind::MaybeSent);
        let options = SendOptions::new().with_timeout(Duration::from_secs(3));
        assert!(t.send(get(), options).now_or_never().unwrap().is_ok());
    }

    #[test]
    fn download_streams_in_chunks_and_honours_the_cap() {
        struct Chunks(Vec<usize>);
        #[async_trait::async_trait]
        impl ChunkSink for Chunks {
            async fn write_chunk(&mut self, chunk: &[u8]) -> std::io::Result<()> {
                self.0.push(chunk.len());
                Ok(())
            }
        }
        let t = FnTransport::new(VirtualClock::new(Instant::now()), |_| async {
            Ok(http::Response::new(vec![7u8; 40 * 1024]))
        });
        let mut sink = Chunks(Vec::new());
        let response = t
            .download(get(), &mut sink, DownloadOptions::new())
            .now_or_never()
            .unwrap()
            .unwrap();
        assert_eq!(*response.body(), DownloadBody::Written(40 * 1024));
        assert_eq!(sink.0, [16 * 1024, 16 * 1024, 8 * 1024]);

        let mut sink = Chunks(Vec::new());
        let options = DownloadOptions::new().with_max_bytes(20 * 1024);
        let err = t
            .download(get(), &mut sink, options)
            .now_or_never()
            .unwrap()
            .unwrap_err();
        assert_eq!(err.cause(), Cause::BodyTooLarge { limit: 20 * 1024 });
        assert!(
            sink.0.is_empty(),
            "a known length over the cap writes nothing"
        );
    }

    #[test]
    fn download_of_an_error_status_writes_nothing() {
        let t = FnTransport::new(VirtualClock::new(Instant::now()), |_| async {
            let mut response = http::Response::new(b"<Error>expired</Error>".to_vec());
            *response.status_mut() = http::StatusCode::FORBIDDEN;
            Ok(response)
        });
        let mut sink = Vec::new();
        let response = t
            .download(get(), &mut sink, DownloadOptions::new())
            .now_or_never()
            .unwrap()
            .unwrap();
        assert_eq!(response.status(), 403);
        assert_eq!(
            *response.body(),
            DownloadBody::NotWritten(b"<Error>expired</Error>".to_vec())
        );
        assert!(sink.is_empty());
        let options = DownloadOptions::new().with_error_body_limit(4);
        let err = t
            .download(get(), &mut sink, options)
            .now_or_never()
            .unwrap()
            .unwrap_err();
        assert_eq!(err.cause(), Cause::BodyTooLarge { limit: 4 });
    }

    #[test]
    fn arc_dyn_transport_forwards() {
        let clock = VirtualClock::new(Instant::now());
        let t: Arc<dyn Transport> =
            Arc::new(FnTransport::new(clock.clone(), |_| async { ok(b"hi") }));
        let response = t
            .send(get(), SendOptions::new())
            .now_or_never()
            .unwrap()
            .unwrap();
        assert_eq!(response.body(), b"hi");
        t.sleep(Duration::from_millis(10)).now_or_never().unwrap();
        assert_eq!(clock.elapsed(), Duration::from_millis(10));
    }
}
