//! The [reqwest] transport of the Pipevideo SDK, for the tokio runtime.
//!
//! [`ReqwestTransport`] implements [`pipevideo_core::transport::Transport`]: it sends requests
//! through a [`reqwest::Client`], sleeps and reads the time on tokio's timer, and nothing
//! else. It knows nothing of Pipevideo; retries, pacing and polling live in the core.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use pipevideo_core::transport::{HttpClient, SendOptions};
//! use pipevideo_reqwest::ReqwestTransport;
//!
//! let transport = ReqwestTransport::new()?; // the common case, one line
//! let request = http::Request::get("https://api.pipevideo.co/v1/engines").body(Vec::new())?;
//! let response = transport.send(request, SendOptions::new()).await?;
//! println!("{}", response.status());
//! # Ok(()) }
//! ```
//!
//! # Bring your own client: proxy, custom CA, timeouts
//!
//! Everything about the connection comes from the `reqwest::Client` you hand over with
//! [`From`]. Start from [`ReqwestTransport::client_builder`], which carries this crate's
//! defaults (no redirects), and add what you need:
//!
//! ```no_run
//! # // Certificates exist only in builds with a TLS feature (the default).
//! # #[cfg(any(feature = "rustls", feature = "native-tls"))]
//! # fn demo(pem: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use pipevideo_reqwest::{ReqwestTransport, reqwest};
//!
//! let client = ReqwestTransport::client_builder()
//!     .proxy(reqwest::Proxy::https("http://proxy.internal:3128")?)
//!     .tls_certs_merge([reqwest::Certificate::from_pem(pem)?])
//!     .build()?;
//! let transport = ReqwestTransport::from(client);
//! # Ok(()) }
//! ```
//!
//! # Proxies
//!
//! A plain `http://` request never goes through a proxy. [`ReqwestTransport::new`] and
//! [`ReqwestTransport::client_builder`] take the proxy from the environment for `https://`
//! requests only (`HTTPS_PROXY`, else `ALL_PROXY`, with `NO_PROXY`), a `CONNECT` tunnel in
//! which the proxy never sees the key; `HTTP_PROXY` is not used, and `ALL_PROXY` does not apply
//! to `http://`: a plain-http base (the loopback emulator) would otherwise send the
//! `Authorization` header, the key, to the proxy in clear text. The proxy settings of the
//! macOS and Windows system configuration are not read (reqwest's own default reads them).
//! A proxy you add to the builder is yours: it is consulted after the environment's, and
//! `Proxy::http` or `Proxy::all` sends plain-http requests through it. A client you build
//! with `reqwest::Client::builder()` yourself keeps reqwest's defaults, which send plain-http
//! requests to `HTTP_PROXY` or `ALL_PROXY`.
//!
//! # Redirects
//!
//! The SDK's contract is that a transport does not follow redirects: a `3xx` comes back as a
//! response, so the `Authorization` header can never be carried to another host behind the
//! SDK's back, and both transports behave alike. [`ReqwestTransport::new`] and
//! [`ReqwestTransport::client_builder`] set [`reqwest::redirect::Policy::none`]. A client you
//! build yourself keeps its own policy: reqwest's default follows up to 10 redirects and drops
//! `Authorization`, `Cookie` and `Proxy-Authorization` when one leads to another host, port or
//! scheme (the conformance suite checks this).
//!
//! # Feature flags
//!
#![doc = document_features::document_features!()]
//!
//! Built with neither `rustls` nor `native-tls`, the transport speaks plain `http://` only (a
//! local emulator). It says so through [`HttpClient::tls_support`]: the SDK's client refuses an
//! `https://` base URL when it is built, with an error naming these features, and an
//! `https://` request that reaches [`HttpClient::send`] anyway (a video URL) fails at once,
//! without retries. The check follows this crate's features, not reqwest's: enable one of them
//! here even if another crate of your build already turns TLS on in reqwest.
//!
//! # Custom certificate authorities
//!
//! With `rustls`, the platform verifier reads the system's trust store, and on Linux also the
//! `SSL_CERT_FILE` and `SSL_CERT_DIR` variables. To trust one more CA in code, merge it into
//! the client builder (`tls_certs_merge`, as in the example above). [`reqwest`] is re-exported
//! so that the types you pass are the ones this crate was built with.
//!
//! # Runtime
//!
//! Every method must run inside a tokio runtime with the time driver enabled (what
//! `#[tokio::main]` gives). [`now`](Clock::now) reads `tokio::time::Instant`, so a test
//! runtime with paused time drives the SDK in virtual time.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::error::Error as StdError;
use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use pipevideo_core::transport::{
    CappedSink, Cause, ChunkSink, Clock, DownloadBody, DownloadOptions, FailureKind, HttpClient,
    MissingTls, PREALLOCATE_AT_MOST, SendOptions, TransportError, check_request_headers,
};
use tokio::io::AsyncWriteExt;

/// The reqwest crate this transport is built on, for building your own client (proxies,
/// certificates) with the very types [`ReqwestTransport::from`] takes.
pub use reqwest;

/// Whether this build has a TLS backend: one of this crate's `rustls` or `native-tls` features.
const HAS_TLS: bool = cfg!(any(feature = "rustls", feature = "native-tls"));

/// What a build without TLS answers [`HttpClient::tls_support`] with.
const NO_TLS: MissingTls = MissingTls::new(
    "the reqwest transport",
    "enable the `rustls` or `native-tls` feature of `pipevideo` (or of `pipevideo-reqwest`)",
);

/// The environment's proxy for `https://` requests only, as reqwest reads it (`HTTPS_PROXY`,
/// else `ALL_PROXY`, upper or lower case, with `NO_PROXY`). Through it an `https://` request is a
/// `CONNECT` tunnel, so the proxy never sees the key. A value reqwest cannot use is ignored, as
/// reqwest ignores it.
fn https_proxy_from_env() -> Option<reqwest::Proxy> {
    let url = ["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))?;
    let proxy = reqwest::Proxy::https(url.as_str()).ok()?;
    Some(proxy.no_proxy(reqwest::NoProxy::from_env()))
}

/// A [`Transport`](pipevideo_core::transport::Transport) over a [`reqwest::Client`], on tokio:
/// the HTTP half is reqwest, the clock half is [`TokioClock`].
///
/// Cheap to clone: clones share the client's connection pool.
#[derive(Debug, Clone)]
pub struct ReqwestTransport {
    client: reqwest::Client,
}

/// The reqwest client could not be built (for example the TLS backend failed to initialise).
#[derive(Debug, thiserror::Error)]
#[error("could not build the HTTP client: {0}")]
pub struct BuildError(#[source] reqwest::Error);

impl ReqwestTransport {
    /// A transport over a new client with this crate's defaults (see
    /// [`client_builder`](Self::client_builder)).
    pub fn new() -> Result<Self, BuildError> {
        Self::client_builder()
            .build()
            .map(Self::from)
            .map_err(BuildError)
    }

    /// A `reqwest::ClientBuilder` with this crate's defaults: redirects are not followed, and
    /// a plain `http://` request never goes through a proxy (see the
    /// [crate docs](crate#proxies)). Add proxies, certificates or connection settings, build,
    /// and pass the client to [`From`].
    pub fn client_builder() -> reqwest::ClientBuilder {
        // `no_proxy` drops reqwest's own proxies from the environment and the system, which
        // would send a plain-http request (the key in clear) to `HTTP_PROXY` or `ALL_PROXY`.
        let builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy();
        match https_proxy_from_env() {
            Some(proxy) => builder.proxy(proxy),
            None => builder,
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The underlying client back.
    pub fn into_inner(self) -> reqwest::Client {
        self.client
    }

    async fn execute(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<reqwest::Response, TransportError> {
        check_request_headers(request.headers())?;
        if !HAS_TLS && request.uri().scheme() == Some(&http::uri::Scheme::HTTPS) {
            return Err(TransportError::invalid_request(NO_TLS.to_string()));
        }
        let request = reqwest::Request::try_from(request)
            .map_err(|e| TransportError::invalid_request(describe(&e.without_url())))?;
        self.client.execute(request).await.map_err(map_error)
    }
}

/// The same client as [`ReqwestTransport::new`]; what `pipevideo::Client::new(key)` and
/// `Client::from_env()` use.
///
/// # Panics
/// If the TLS backend cannot be initialised, as `reqwest::Client::default` does. Use
/// [`ReqwestTransport::new`] to get that failure as an error.
impl Default for ReqwestTransport {
    fn default() -> Self {
        match Self::new() {
            Ok(transport) => transport,
            Err(error) => panic!("the reqwest client could not be built: {error}"),
        }
    }
}

impl From<reqwest::Client> for ReqwestTransport {
    fn from(client: reqwest::Client) -> Self {
        Self { client }
    }
}

#[async_trait::async_trait]
impl HttpClient for ReqwestTransport {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        options: SendOptions,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let attempt = async {
            let mut response = self.execute(request).await?;
            let body = read_capped(&mut response, options.body_limit(), None).await?;
            Ok(into_http(&mut response, body))
        };
        within(options.timeout(), attempt).await
    }

    async fn download(
        &self,
        request: http::Request<Vec<u8>>,
        sink: &mut dyn ChunkSink,
        options: DownloadOptions,
    ) -> Result<http::Response<DownloadBody>, TransportError> {
        let mut response = within(options.timeout(), self.execute(request)).await?;
        let idle = options.idle_timeout();
        if !response.status().is_success() {
            let body = read_capped(&mut response, options.error_body_limit(), idle).await?;
            return Ok(into_http(&mut response, DownloadBody::NotWritten(body)));
        }
        let mut capped = CappedSink::new(
            sink,
            &options,
            response.status(),
            response.headers(),
            response.content_length(),
        )?;
        while let Some(chunk) = next_chunk(&mut response, idle).await? {
            capped.write(&chunk).await?;
        }
        let written = capped.finish().await?;
        Ok(into_http(&mut response, DownloadBody::Written(written)))
    }

    fn tls_support(&self) -> Result<(), MissingTls> {
        if HAS_TLS { Ok(()) } else { Err(NO_TLS) }
    }
}

/// Tokio's timer and clock: the clock half of [`ReqwestTransport`], to pair with an HTTP half
/// of your own in a [`Stack`](pipevideo_core::transport::Stack).
///
/// Needs a tokio runtime with the time driver; a runtime with paused time drives the SDK in
/// virtual time.
#[derive(Debug, Clone, Copy, Default)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a unit value users name to build a Stack; it will never carry fields"
)]
pub struct TokioClock;

#[async_trait::async_trait]
impl Clock for TokioClock {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    async fn sleep_until(&self, deadline: Instant) {
        tokio::time::sleep_until(tokio::time::Instant::from_std(deadline)).await;
    }

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn wall_now(&self) -> SystemTime {
        SystemTime::now()
    }
}

#[async_trait::async_trait]
impl Clock for ReqwestTransport {
    async fn sleep(&self, duration: Duration) {
        TokioClock.sleep(duration).await;
    }

    async fn sleep_until(&self, deadline: Instant) {
        TokioClock.sleep_until(deadline).await;
    }

    fn now(&self) -> Instant {
        TokioClock.now()
    }

    fn wall_now(&self) -> SystemTime {
        TokioClock.wall_now()
    }
}

/// A [`ChunkSink`] over a tokio [`AsyncWrite`](tokio::io::AsyncWrite), such as a
/// `tokio::fs::File`: the way to stream a video to disk without blocking the runtime.
///
/// [`ChunkSink::finish`] flushes the writer.
///
/// ```no_run
/// # async fn demo(transport: pipevideo_reqwest::ReqwestTransport) -> Result<(), Box<dyn std::error::Error>> {
/// use pipevideo_core::transport::{DownloadOptions, HttpClient};
/// use pipevideo_reqwest::TokioSink;
///
/// let mut sink = TokioSink::new(tokio::fs::File::create("video.mp4").await?);
/// let request = http::Request::get("https://cdn.example/video.mp4").body(Vec::new())?;
/// transport.download(request, &mut sink, DownloadOptions::new()).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct TokioSink<W>(W);

impl<W: tokio::io::AsyncWrite + Unpin + Send> TokioSink<W> {
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
impl<W: tokio::io::AsyncWrite + Unpin + Send> ChunkSink for TokioSink<W> {
    async fn write_chunk(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.0.write_all(chunk).await
    }

    async fn finish(&mut self) -> std::io::Result<()> {
        self.0.flush().await
    }
}

async fn within<T>(
    timeout: Option<Duration>,
    future: impl Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    match timeout {
        Some(limit) => tokio::time::timeout(limit, future)
            .await
            .map_err(|_| TransportError::timeout(limit))?,
        None => future.await,
    }
}

async fn next_chunk(
    response: &mut reqwest::Response,
    idle: Option<Duration>,
) -> Result<Option<bytes::Bytes>, TransportError> {
    within(idle, async { response.chunk().await.map_err(map_error) }).await
}

/// Read the body chunk by chunk, failing as soon as it is known to exceed `limit`.
async fn read_capped(
    response: &mut reqwest::Response,
    limit: u64,
    idle: Option<Duration>,
) -> Result<Vec<u8>, TransportError> {
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(TransportError::body_too_large(limit));
    }
    // Sized once from the announced length, within `PREALLOCATE_AT_MOST`.
    let announced = usize::try_from(response.content_length().unwrap_or(0)).unwrap_or(usize::MAX);
    let mut body = Vec::with_capacity(announced.min(PREALLOCATE_AT_MOST));
    while let Some(chunk) = next_chunk(response, idle).await? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(TransportError::body_too_large(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The response's head around `body`. Its headers are moved out (the body has been read, so
/// nothing needs them any more), not copied.
fn into_http<B>(response: &mut reqwest::Response, body: B) -> http::Response<B> {
    let mut out = http::Response::new(body);
    *out.status_mut() = response.status();
    *out.version_mut() = response.version();
    *out.headers_mut() = std::mem::take(response.headers_mut());
    out
}

/// Classify a reqwest error by how far the exchange got. The message never contains the URL
/// (a signed video URL carries its signature in the query).
fn map_error(error: reqwest::Error) -> TransportError {
    let error = error.without_url();
    let message = describe(&error);
    if error.is_builder() {
        TransportError::invalid_request(message)
    } else if error.is_connect() {
        TransportError::connect(message)
    } else if error.is_timeout() {
        TransportError::maybe_sent(message).with_cause(Cause::Timeout)
    } else if error.is_redirect() {
        TransportError::new(FailureKind::Permanent, message)
    } else if error.is_decode() {
        TransportError::maybe_sent(message).with_cause(Cause::InvalidResponse)
    } else {
        TransportError::maybe_sent(message).with_cause(Cause::Io)
    }
}

/// The error and its sources, joined. Call on an error stripped of its URL.
fn describe(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
