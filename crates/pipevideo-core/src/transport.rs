//! The boundary between the SDK and an HTTP library: the [`Transport`] trait, what it reports
//! when an exchange fails, and the [`ChunkSink`] a video download streams into.
//!
//! A transport knows nothing of Pipevideo. It turns an [`http::Request`] into an
//! [`http::Response`], streams a download into a sink, sleeps, and tells the time. It has no
//! retry logic: when an exchange fails it says how far the exchange got ([`FailureKind`]) and
//! the retry engine decides. Two implementations ship as their own crates
//! (`pipevideo-reqwest` for tokio, `pipevideo-surf` for async-std and smol), and `testing`
//! (behind the `testing` feature) holds a deterministic virtual-time transport built from a
//! closure, for tests.
//!
//! # The contract every transport keeps
//!
//! 1. [`Transport::send`] returns every status unchanged (a 404 or a 502 is a response, not an
//!    error), with every header as received (repeated headers stay repeated, in order).
//! 2. The response body is read with a cap ([`SendOptions::body_limit`], default
//!    [`DEFAULT_BODY_LIMIT`]); a body over the cap fails with [`Cause::BodyTooLarge`] as soon as
//!    the cap is crossed, without reading the rest.
//! 3. [`SendOptions::timeout`] bounds one whole attempt: connecting, sending, waiting for the
//!    headers and reading the body.
//! 4. Redirects are not followed: a `3xx` comes back as a response. (A transport built around a
//!    client the user configured may follow them as that client does; see its docs.)
//! 5. [`Transport::download`] never holds the whole body: chunks go to the sink as they arrive.
//! 6. [`Transport::now`] and [`Transport::sleep`] read the same clock, so a driver that sleeps
//!    until a deadline taken from `now()` wakes at that deadline, in real or virtual time.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

#[cfg(any(test, feature = "testing"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

/// The default cap on a response body read by [`Transport::send`]: 8 MiB.
///
/// Every Pipevideo JSON response is far smaller; the cap exists so that a misbehaving server or
/// proxy that sends a gigabyte produces a typed error instead of exhausting memory.
pub const DEFAULT_BODY_LIMIT: u64 = 8 * 1024 * 1024;

/// The default cap on the body of a non-success response to [`Transport::download`]: 64 KiB.
pub const DEFAULT_ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// The most a transport reserves for a body before its bytes arrive, whatever `Content-Length`
/// announces: a length is only the server's word, and a cap raised to gigabytes must not become
/// a gigabyte allocation (or an aborted process) on that word alone. Past this, a buffer grows
/// as bytes come in.
pub const PREALLOCATE_AT_MOST: usize = 64 * 1024;

/// How far a failed exchange got, which decides whether a retry can duplicate work.
///
/// Closed: a request was not sent, may have been sent, or cannot succeed however often it is
/// sent. A transport picks one; the retry engine matches them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed by nature: not sent, maybe sent, or permanent"
)]
pub enum FailureKind {
    /// The request never left: DNS failure, connection refused, TLS handshake failure.
    /// Always safe to retry, even a create.
    NotSent,
    /// The request may have reached the server: a timeout or reset after sending, a body cut
    /// off. Safe to retry only for reads, or a create that carries an idempotency key.
    MaybeSent,
    /// Retrying the same request cannot help, whether or not it was sent: the response body
    /// exceeded its cap, the request cannot be put on the wire (a header value the HTTP library
    /// refuses), or the download's sink failed. The retry engine stops at once.
    Permanent,
}

/// What went wrong in a failed exchange, in more detail than [`FailureKind`].
///
/// The cause is for callers that want to react to one failure in particular (report a
/// too-large body, tell a timeout from a reset); the retry engine only needs the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// No connection could be made: DNS, refused, TLS handshake.
    Connect,
    /// The attempt ran past its [`SendOptions::timeout`] (or a download's idle timeout).
    Timeout,
    /// The connection failed after it was made: reset, closed early, body cut off.
    Io,
    /// The response body is larger than the cap; reading stopped when the cap was crossed.
    BodyTooLarge {
        /// The cap in bytes that was exceeded.
        limit: u64,
    },
    /// The request cannot be expressed by the HTTP library (for example a header value that is
    /// not visible ASCII, or a URL it rejects). Nothing was sent.
    InvalidRequest,
    /// The server's response is not valid HTTP, or cannot be represented as an
    /// [`http::Response`].
    InvalidResponse,
    /// The sink of a download refused a chunk.
    Sink,
    /// Anything else.
    Other,
}

/// A transport-level failure: no usable HTTP response was received.
///
/// Carries a [`FailureKind`] for the retry engine, a [`Cause`] for callers, and a message for
/// people. It never names the HTTP library that produced it.
///
/// ```
/// use pipevideo_core::transport::{Cause, FailureKind, TransportError};
///
/// let err = TransportError::body_too_large(1024);
/// assert_eq!(err.kind(), FailureKind::Permanent);
/// assert_eq!(err.cause(), Cause::BodyTooLarge { limit: 1024 });
/// assert_eq!(err.to_string(), "not retryable: response body exceeds the 1024-byte limit");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct TransportError {
    kind: FailureKind,
    cause: Cause,
    message: String,
}

impl TransportError {
    /// A failure of the given kind, with [`Cause::Other`].
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            cause: Cause::Other,
            message: message.into(),
        }
    }

    /// The request never left the client.
    pub fn not_sent(message: impl Into<String>) -> Self {
        Self::new(FailureKind::NotSent, message)
    }

    /// The request may have reached the server.
    pub fn maybe_sent(message: impl Into<String>) -> Self {
        Self::new(FailureKind::MaybeSent, message)
    }

    /// No connection could be made ([`FailureKind::NotSent`], [`Cause::Connect`]).
    pub fn connect(message: impl Into<String>) -> Self {
        Self::not_sent(message).with_cause(Cause::Connect)
    }

    /// The attempt ran past its timeout after the request may have left
    /// ([`FailureKind::MaybeSent`], [`Cause::Timeout`]).
    pub fn timeout(timeout: Duration) -> Self {
        Self::maybe_sent(format!("no complete response within {timeout:?}"))
            .with_cause(Cause::Timeout)
    }

    /// The response body is larger than `limit` bytes ([`FailureKind::Permanent`],
    /// [`Cause::BodyTooLarge`]).
    pub fn body_too_large(limit: u64) -> Self {
        Self::new(
            FailureKind::Permanent,
            format!("response body exceeds the {limit}-byte limit"),
        )
        .with_cause(Cause::BodyTooLarge { limit })
    }

    /// The request cannot be put on the wire ([`FailureKind::Permanent`],
    /// [`Cause::InvalidRequest`]).
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Permanent, message).with_cause(Cause::InvalidRequest)
    }

    /// The download's sink failed ([`FailureKind::Permanent`], [`Cause::Sink`]).
    pub fn sink(error: &io::Error) -> Self {
        Self::new(
            FailureKind::Permanent,
            format!("download sink failed: {error}"),
        )
        .with_cause(Cause::Sink)
    }

    /// The same error with another cause.
    #[must_use]
    pub fn with_cause(mut self, cause: Cause) -> Self {
        self.cause = cause;
        self
    }

    /// How far the exchange got.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// What went wrong, in detail.
    pub fn cause(&self) -> Cause {
        self.cause
    }

    /// What went wrong, for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether this is a timeout.
    pub fn is_timeout(&self) -> bool {
        self.cause == Cause::Timeout
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotSent => "request not sent",
            Self::MaybeSent => "request may have been sent",
            Self::Permanent => "not retryable",
        })
    }
}

/// Per-attempt settings for [`Transport::send`].
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::transport::{SendOptions, DEFAULT_BODY_LIMIT};
///
/// let options = SendOptions::new().with_timeout(Duration::from_secs(30));
/// assert_eq!(options.timeout(), Some(Duration::from_secs(30)));
/// assert_eq!(options.body_limit(), DEFAULT_BODY_LIMIT);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SendOptions {
    timeout: Option<Duration>,
    body_limit: u64,
}

impl SendOptions {
    /// No timeout and the [`DEFAULT_BODY_LIMIT`].
    pub const fn new() -> Self {
        Self {
            timeout: None,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Bound the whole attempt (connect, send, headers, body) by `timeout`.
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Set or clear the per-attempt timeout.
    #[must_use]
    pub const fn with_timeout_opt(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Cap the response body at `limit` bytes.
    #[must_use]
    pub const fn with_body_limit(mut self, limit: u64) -> Self {
        self.body_limit = limit;
        self
    }

    /// The per-attempt timeout, if any.
    pub const fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The cap on the response body, in bytes.
    pub const fn body_limit(&self) -> u64 {
        self.body_limit
    }
}

impl Default for SendOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Settings for [`Transport::download`].
///
/// A video can be large and slow to arrive, so a download is not bounded by a total time but by
/// how long the response headers may take ([`timeout`](Self::timeout)) and how long the stream
/// may stall between two chunks ([`idle_timeout`](Self::idle_timeout)).
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::transport::DownloadOptions;
///
/// let options = DownloadOptions::new()
///     .with_timeout(Duration::from_secs(30))
///     .with_idle_timeout(Duration::from_secs(60))
///     .with_max_bytes(2 << 30);
/// assert_eq!(options.max_bytes(), Some(2 << 30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DownloadOptions {
    timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    max_bytes: Option<u64>,
    error_body_limit: u64,
}

impl DownloadOptions {
    /// No timeouts, no size cap on the streamed body, and [`DEFAULT_ERROR_BODY_LIMIT`].
    pub const fn new() -> Self {
        Self {
            timeout: None,
            idle_timeout: None,
            max_bytes: None,
            error_body_limit: DEFAULT_ERROR_BODY_LIMIT,
        }
    }

    /// Bound the time until the response headers arrive.
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Bound the time the body may stall between two chunks.
    #[must_use]
    pub const fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Fail with [`Cause::BodyTooLarge`] when the body is over `max` bytes: before writing
    /// anything when the response announces its length, else once the cap is crossed, with
    /// exactly `max` bytes in the sink by then.
    #[must_use]
    pub const fn with_max_bytes(mut self, max: u64) -> Self {
        self.max_bytes = Some(max);
        self
    }

    /// Cap the body of a non-success response (which is returned, not streamed).
    #[must_use]
    pub const fn with_error_body_limit(mut self, limit: u64) -> Self {
        self.error_body_limit = limit;
        self
    }

    /// The time allowed until the response headers arrive, if bounded.
    pub const fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The time the body may stall between two chunks, if bounded.
    pub const fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// The cap on the streamed body, if any.
    pub const fn max_bytes(&self) -> Option<u64> {
        self.max_bytes
    }

    /// The cap on the body of a non-success response.
    pub const fn error_body_limit(&self) -> u64 {
        self.error_body_limit
    }
}

impl Default for DownloadOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// The body of a response to [`Transport::download`].
///
/// Closed: the status was a success and the body went to the sink, or it was not.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed by nature: written to the sink, or not"
)]
pub enum DownloadBody {
    /// The status was a success (`2xx`): the body went to the sink, this many bytes of it.
    Written(u64),
    /// Any other status: the sink received nothing; this is the body (an error page), read
    /// under [`DownloadOptions::error_body_limit`].
    NotWritten(Vec<u8>),
}

/// Where a download's chunks go, one at a time, as they arrive.
///
/// Implemented for `Vec<u8>` (collects everything: for tests and small files) and for any
/// [`std::io::Write`] through [`WriteSink`]. The transport crates add adapters for their
/// runtime's async writers. A sink error ends the download with [`Cause::Sink`].
///
/// ```
/// use pipevideo_core::transport::ChunkSink;
///
/// /// Counts bytes without keeping them.
/// struct Counter(u64);
///
/// #[async_trait::async_trait]
/// impl ChunkSink for Counter {
///     async fn write_chunk(&mut self, chunk: &[u8]) -> std::io::Result<()> {
///         self.0 += chunk.len() as u64;
///         Ok(())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait ChunkSink: Send {
    /// Take the next chunk of the body. Chunks arrive in order and are never empty.
    async fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()>;

    /// Called once after the last chunk of a complete body. The default does nothing.
    async fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl ChunkSink for Vec<u8> {
    async fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.extend_from_slice(chunk);
        Ok(())
    }
}

#[async_trait::async_trait]
impl<S: ChunkSink + ?Sized> ChunkSink for &mut S {
    async fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        (**self).write_chunk(chunk).await
    }

    async fn finish(&mut self) -> io::Result<()> {
        (**self).finish().await
    }
}

/// A [`ChunkSink`] over a blocking [`std::io::Write`], such as a [`std::fs::File`].
///
/// Each chunk is written with a blocking call on the task that runs the download. That is fine
/// for a local file (writes land in the page cache); for a slow writer, use the async adapter
/// of your transport crate instead. [`ChunkSink::finish`] flushes the writer.
#[derive(Debug)]
pub struct WriteSink<W>(W);

impl<W: io::Write + Send> WriteSink<W> {
    /// Wrap a writer.
    pub fn new(writer: W) -> Self {
        Self(writer)
    }

    /// The wrapped writer back.
    pub fn into_inner(self) -> W {
        self.0
    }
}

#[async_trait::async_trait]
impl<W: io::Write + Send> ChunkSink for WriteSink<W> {
    async fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.0.write_all(chunk)
    }

    async fn finish(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// A transport that cannot reach `https://` URLs because it was built without a TLS backend.
///
/// Cargo features choose a transport's TLS backend (`rustls` or `native-tls` for reqwest). A
/// build without one can still speak plain `http://` (a local emulator), so this is not a
/// compile error; instead [`Transport::tls_support`] reports it and
/// [`ClientBuilder::build`](crate::client::ClientBuilder::build) refuses an `https://` base URL
/// with [`InputError::Tls`](crate::InputError::Tls), before anything is sent. The message names
/// the feature to enable.
///
/// ```
/// use pipevideo_core::transport::MissingTls;
///
/// let missing = MissingTls::new("the reqwest transport", "enable the `rustls` feature");
/// assert_eq!(
///     missing.to_string(),
///     "the reqwest transport was built without TLS and cannot reach https:// URLs: \
///      enable the `rustls` feature"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{transport} was built without TLS and cannot reach https:// URLs: {remedy}")]
pub struct MissingTls {
    transport: &'static str,
    remedy: &'static str,
}

impl MissingTls {
    /// `transport` names the transport ("the reqwest transport"); `remedy` says which feature
    /// brings TLS ("enable the `rustls` or `native-tls` feature of `pipevideo`").
    pub const fn new(transport: &'static str, remedy: &'static str) -> Self {
        Self { transport, remedy }
    }

    /// The transport's name, as given to [`new`](Self::new).
    pub const fn transport(&self) -> &'static str {
        self.transport
    }

    /// What to enable, as given to [`new`](Self::new).
    pub const fn remedy(&self) -> &'static str {
        self.remedy
    }
}

/// An HTTP client plus the runtime's clock: everything the SDK's driver needs from the outside.
///
/// Implementations: `pipevideo_reqwest::ReqwestTransport` (tokio),
/// `pipevideo_surf::SurfTransport` (async-std, smol) and `testing::FnTransport` (a closure in
/// virtual time, for tests; `testing` feature). The [module docs](self) state the contract.
///
/// Every method takes `&self`: one transport serves many concurrent calls. It is implemented
/// for `&T`, `Box<T>` and `Arc<T>` of any transport, so `Arc<dyn Transport>` works too.
///
/// ```
/// use std::time::{Duration, Instant};
/// use pipevideo_core::transport::{SendOptions, Transport};
/// use pipevideo_core::transport::testing::{FnTransport, VirtualClock};
///
/// let clock = VirtualClock::new(Instant::now());
/// let transport = FnTransport::new(clock.clone(), |request: http::Request<Vec<u8>>| async move {
///     assert_eq!(request.uri().path(), "/v1/engines");
///     Ok(http::Response::new(br#"{"data":[]}"#.to_vec()))
/// });
///
/// let response = futures_util::FutureExt::now_or_never(async {
///     transport.sleep(Duration::from_secs(5)).await; // instant: virtual time
///     let request = http::Request::get("https://api.pipevideo.co/v1/engines").body(Vec::new())?;
///     Ok::<_, Box<dyn std::error::Error>>(transport.send(request, SendOptions::new()).await?)
/// })
/// .expect("a virtual transport never waits")?;
/// assert_eq!(response.status(), 200);
/// assert_eq!(clock.elapsed(), Duration::from_secs(5));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Send one request and read the whole response, its body capped at
    /// [`SendOptions::body_limit`], the attempt bounded by [`SendOptions::timeout`].
    ///
    /// Every status is a response; only a failure to get one is an error.
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        options: SendOptions,
    ) -> Result<http::Response<Vec<u8>>, TransportError>;

    /// Send one request and stream a success body into `sink`, chunk by chunk, never holding
    /// the whole body. A non-success status writes nothing to the sink and returns its (capped)
    /// body in [`DownloadBody::NotWritten`].
    ///
    /// On an error, part of the body may already be in the sink.
    async fn download(
        &self,
        request: http::Request<Vec<u8>>,
        sink: &mut dyn ChunkSink,
        options: DownloadOptions,
    ) -> Result<http::Response<DownloadBody>, TransportError>;

    /// Wait for `duration` on the runtime's timer (or advance virtual time).
    async fn sleep(&self, duration: Duration);

    /// Wait until `deadline` as told by [`now`](Self::now); returns at once if it has passed.
    async fn sleep_until(&self, deadline: Instant) {
        let now = self.now();
        if deadline > now {
            self.sleep(deadline - now).await;
        }
    }

    /// The runtime's monotonic clock: the `now` every core decision takes.
    fn now(&self) -> Instant;

    /// The wall clock, for HTTP dates such as a `Retry-After: <date>` header.
    fn wall_now(&self) -> SystemTime;

    /// Whether this transport can reach `https://` URLs: `Err` when it was built without a
    /// TLS backend, naming the feature that adds one. The client checks it when it is built,
    /// so a missing feature is a typed error at start-up, never a retried failure at send
    /// time. The default says TLS is available.
    fn tls_support(&self) -> Result<(), MissingTls> {
        Ok(())
    }
}

macro_rules! forward_transport {
    ($($ty:ty),*) => {$(
        #[async_trait::async_trait]
        impl<T: Transport + ?Sized> Transport for $ty {
            async fn send(
                &self,
                request: http::Request<Vec<u8>>,
                options: SendOptions,
            ) -> Result<http::Response<Vec<u8>>, TransportError> {
                (**self).send(request, options).await
            }

            async fn download(
                &self,
                request: http::Request<Vec<u8>>,
                sink: &mut dyn ChunkSink,
                options: DownloadOptions,
            ) -> Result<http::Response<DownloadBody>, TransportError> {
                (**self).download(request, sink, options).await
            }

            async fn sleep(&self, duration: Duration) {
                (**self).sleep(duration).await
            }

            async fn sleep_until(&self, deadline: Instant) {
                (**self).sleep_until(deadline).await
            }

            fn now(&self) -> Instant {
                (**self).now()
            }

            fn wall_now(&self) -> SystemTime {
                (**self).wall_now()
            }

            fn tls_support(&self) -> Result<(), MissingTls> {
                (**self).tls_support()
            }
        }
    )*};
}

forward_transport!(&T, Box<T>, Arc<T>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_causes_of_the_constructors() {
        assert_eq!(
            TransportError::connect("refused").kind(),
            FailureKind::NotSent
        );
        assert_eq!(TransportError::connect("refused").cause(), Cause::Connect);
        let timeout = TransportError::timeout(Duration::from_millis(250));
        assert_eq!(timeout.kind(), FailureKind::MaybeSent);
        assert!(timeout.is_timeout());
        assert_eq!(
            timeout.to_string(),
            "request may have been sent: no complete response within 250ms"
        );
        assert_eq!(
            TransportError::invalid_request("x").kind(),
            FailureKind::Permanent
        );
        let sink = TransportError::sink(&io::Error::other("disk full"));
        assert_eq!(sink.cause(), Cause::Sink);
        assert_eq!(sink.message(), "download sink failed: disk full");
        assert_eq!(TransportError::maybe_sent("reset").cause(), Cause::Other);
    }

    #[test]
    fn options_defaults() {
        assert_eq!(SendOptions::default().body_limit(), 8 * 1024 * 1024);
        assert_eq!(SendOptions::default().timeout(), None);
        let d = DownloadOptions::default();
        assert_eq!(
            (d.timeout(), d.idle_timeout(), d.max_bytes()),
            (None, None, None)
        );
        assert_eq!(d.error_body_limit(), 64 * 1024);
    }

    #[test]
    fn write_sink_writes_and_flushes() {
        let mut sink = WriteSink::new(Vec::new());
        let done = futures_util::FutureExt::now_or_never(async {
            sink.write_chunk(b"ab").await?;
            sink.write_chunk(b"c").await?;
            sink.finish().await
        });
        assert!(matches!(done, Some(Ok(()))));
        assert_eq!(sink.into_inner(), b"abc");
    }
}
