//! The boundary between the SDK and the outside world, in two halves: an [`HttpClient`] (send
//! a request, stream a download) and a [`Clock`] (sleep, tell the time). A [`Transport`] is
//! both; what they report when an exchange fails; and the [`ChunkSink`] a download streams
//! into.
//!
//! A transport knows nothing of Pipevideo. It turns an [`http::Request`] into an
//! [`http::Response`], streams a download into a sink, sleeps, and tells the time. It has no
//! retry logic: when an exchange fails it says how far the exchange got ([`FailureKind`]) and
//! the retry engine decides. Two implementations ship as their own crates
//! (`pipevideo-reqwest` for tokio, `pipevideo-surf` for async-std and smol), and `testing`
//! (behind the `testing` feature) holds a deterministic virtual-time transport built from a
//! closure, for tests.
//!
//! # Two halves
//!
//! The halves are separate traits because they vary separately: a user with an HTTP stack of
//! their own writes a function ([`http_fn`]) and pairs it with their runtime's clock in a
//! [`Stack`]; a test keeps the real HTTP half and swaps in a virtual clock; a wrapper that
//! observes requests implements [`HttpClient`] alone (three methods) and borrows the clock of
//! what it wraps. Any type that implements both halves is a [`Transport`]: there is nothing more
//! to implement.
//!
//! # The contract every transport keeps
//!
//! 1. [`HttpClient::send`] returns every status unchanged (a 404 or a 502 is a response, not
//!    an error), with every header as received (repeated headers stay repeated, in order).
//! 2. The response body is read with a cap ([`SendOptions::body_limit`], default
//!    [`DEFAULT_BODY_LIMIT`]); a body over the cap fails with [`Cause::BodyTooLarge`] as soon as
//!    the cap is crossed, without reading the rest.
//! 3. [`SendOptions::timeout`] bounds one whole attempt: connecting, sending, waiting for the
//!    headers and reading the body.
//! 4. Redirects are not followed: a `3xx` comes back as a response. (A transport built around a
//!    client the user configured may follow them as that client does; see its docs.)
//! 5. [`HttpClient::download`] never holds the whole body: chunks go to the sink as they
//!    arrive, through a [`CappedSink`] so that the size cap works the same everywhere.
//! 6. [`Clock::now`] and [`Clock::sleep`] read the same clock, so a driver that sleeps until a
//!    deadline taken from `now()` wakes at that deadline, in real or virtual time.
//! 7. Header values that are not visible ASCII are refused before anything is sent
//!    ([`check_request_headers`]).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

mod error;
mod options;
mod sink;

#[cfg(any(test, feature = "testing"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use error::{Cause, FailureKind, MissingTls, TransportError};
pub use options::{
    DEFAULT_BODY_LIMIT, DEFAULT_ERROR_BODY_LIMIT, DownloadOptions, PREALLOCATE_AT_MOST, SendOptions,
};
pub use sink::{CappedSink, ChunkSink, DownloadBody, WHOLE_BODY_CHUNK, WriteSink, deliver_whole};

/// The HTTP half of a [`Transport`]: send a request and read the answer, or stream a download.
///
/// Implementations: `pipevideo_reqwest::ReqwestTransport`, `pipevideo_surf::SurfTransport`,
/// `testing::FnTransport`, and any closure through [`http_fn`]. It is implemented for `&T`,
/// `Box<T>` and `Arc<T>` of any HTTP half. The [module docs](self) state the contract.
#[async_trait::async_trait]
pub trait HttpClient: Send + Sync {
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
    ///
    /// The default sends the request with [`send`](Self::send) (the body capped at
    /// [`DownloadOptions::max_bytes`], or at [`DEFAULT_BODY_LIMIT`] without one) and hands the
    /// whole body on through [`deliver_whole`]: right for a small HTTP half such as a closure,
    /// wrong for videos of gigabytes. The shipped transports stream.
    async fn download(
        &self,
        request: http::Request<Vec<u8>>,
        sink: &mut dyn ChunkSink,
        options: DownloadOptions,
    ) -> Result<http::Response<DownloadBody>, TransportError> {
        let send = SendOptions::new()
            .with_timeout_opt(options.timeout())
            .with_body_limit(options.max_bytes().unwrap_or(DEFAULT_BODY_LIMIT));
        let response = self.send(request, send).await?;
        deliver_whole(response, sink, &options).await
    }

    /// Whether this HTTP half can reach `https://` URLs: `Err` when it was built without a TLS
    /// backend, naming the feature that adds one. The client checks it when it is built, so a
    /// missing feature is a typed error at start-up, never a retried failure at send time. The
    /// default says TLS is available.
    fn tls_support(&self) -> Result<(), MissingTls> {
        Ok(())
    }
}

/// The clock half of a [`Transport`]: the runtime's timer and clocks.
///
/// Every core decision takes a `now`; the driver reads it here and sleeps here, so the same
/// driver runs in real time (tokio, async-io) or in virtual time (`testing::VirtualClock`).
/// Implemented for `&T`, `Box<T>` and `Arc<T>` of any clock.
#[async_trait::async_trait]
pub trait Clock: Send + Sync {
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
}

/// An HTTP half plus a clock: everything the SDK's driver needs from the outside. Implemented
/// for every type that implements [`HttpClient`] and [`Clock`]; there is nothing more to write.
///
/// Implementations: `pipevideo_reqwest::ReqwestTransport` (tokio),
/// `pipevideo_surf::SurfTransport` (async-std, smol), `testing::FnTransport` (a closure in
/// virtual time, for tests; `testing` feature), and a [`Stack`] of any two halves. Every method
/// takes `&self`: one transport serves many concurrent calls; `Arc<dyn Transport>` works too.
///
/// ```
/// use std::time::{Duration, Instant};
/// use pipevideo_core::transport::{Clock, HttpClient, SendOptions};
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
pub trait Transport: HttpClient + Clock {}

impl<T: HttpClient + Clock + ?Sized> Transport for T {}

/// Two halves made one [`Transport`]: requests go to `http`, time comes from `clock`.
///
/// ```
/// use std::time::Instant;
/// use pipevideo_core::transport::{Stack, Transport, TransportError, http_fn};
/// use pipevideo_core::transport::testing::VirtualClock;
///
/// // An HTTP stack of your own is a function from request to response.
/// let http = http_fn(|request: http::Request<Vec<u8>>, _options| async move {
///     let _ = request; // hand it to your client here
///     Ok::<_, TransportError>(http::Response::new(br#"{"data":[]}"#.to_vec()))
/// });
/// let transport = Stack::new(http, VirtualClock::new(Instant::now()));
/// fn is_transport(_: &impl Transport) {}
/// is_transport(&transport);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Stack<H, C> {
    http: H,
    clock: C,
}

impl<H: HttpClient, C: Clock> Stack<H, C> {
    /// `http` carries the requests, `clock` tells the time and sleeps.
    pub fn new(http: H, clock: C) -> Self {
        Self { http, clock }
    }
}

impl<H, C> Stack<H, C> {
    /// The HTTP half.
    pub fn http(&self) -> &H {
        &self.http
    }

    /// The clock half.
    pub fn clock(&self) -> &C {
        &self.clock
    }
}

#[async_trait::async_trait]
impl<H: HttpClient, C: Send + Sync> HttpClient for Stack<H, C> {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        options: SendOptions,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        self.http.send(request, options).await
    }

    async fn download(
        &self,
        request: http::Request<Vec<u8>>,
        sink: &mut dyn ChunkSink,
        options: DownloadOptions,
    ) -> Result<http::Response<DownloadBody>, TransportError> {
        self.http.download(request, sink, options).await
    }

    fn tls_support(&self) -> Result<(), MissingTls> {
        self.http.tls_support()
    }
}

#[async_trait::async_trait]
impl<H: Send + Sync, C: Clock> Clock for Stack<H, C> {
    async fn sleep(&self, duration: Duration) {
        self.clock.sleep(duration).await;
    }

    async fn sleep_until(&self, deadline: Instant) {
        self.clock.sleep_until(deadline).await;
    }

    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn wall_now(&self) -> SystemTime {
        self.clock.wall_now()
    }
}

/// An [`HttpClient`] made of a function `(request, options) -> future of the response`: the
/// way to plug an HTTP stack of your own in without writing a trait impl. Downloads use
/// [`HttpClient::download`]'s default (the whole body through `send`). See [`Stack`].
pub fn http_fn<F, Fut>(send: F) -> HttpFn<F>
where
    F: Fn(http::Request<Vec<u8>>, SendOptions) -> Fut + Send + Sync,
    Fut: Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send,
{
    HttpFn(send)
}

/// The [`HttpClient`] of [`http_fn`].
#[derive(Clone)]
pub struct HttpFn<F>(F);

impl<F> std::fmt::Debug for HttpFn<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpFn")
    }
}

#[async_trait::async_trait]
impl<F, Fut> HttpClient for HttpFn<F>
where
    F: Fn(http::Request<Vec<u8>>, SendOptions) -> Fut + Send + Sync,
    Fut: Future<Output = Result<http::Response<Vec<u8>>, TransportError>> + Send,
{
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        options: SendOptions,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        check_request_headers(request.headers())?;
        let response = (self.0)(request, options).await?;
        if response.body().len() as u64 > options.body_limit() {
            return Err(TransportError::body_too_large(options.body_limit()));
        }
        Ok(response)
    }
}

/// Refuses header values that are not visible ASCII (plus space and tab) before anything is
/// sent: `http` accepts such bytes, one HTTP library would put them on the wire verbatim and
/// another cannot carry them at all. One rule for every transport.
///
/// ```
/// use pipevideo_core::transport::check_request_headers;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-ok", http::HeaderValue::from_static("plain"));
/// assert!(check_request_headers(&headers).is_ok());
/// headers.insert("x-bad", http::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
/// assert!(check_request_headers(&headers).is_err());
/// ```
pub fn check_request_headers(headers: &http::HeaderMap) -> Result<(), TransportError> {
    for (name, value) in headers {
        if value.to_str().is_err() {
            return Err(TransportError::invalid_request(format!(
                "the value of header `{name}` is not visible ASCII"
            )));
        }
    }
    Ok(())
}

macro_rules! forward {
    ($($ty:ty),*) => {$(
        #[async_trait::async_trait]
        impl<T: HttpClient + ?Sized> HttpClient for $ty {
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

            fn tls_support(&self) -> Result<(), MissingTls> {
                (**self).tls_support()
            }
        }

        #[async_trait::async_trait]
        impl<T: Clock + ?Sized> Clock for $ty {
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
        }
    )*};
}

forward!(&T, Box<T>, Arc<T>);

#[cfg(test)]
mod tests {
    use std::io;

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
