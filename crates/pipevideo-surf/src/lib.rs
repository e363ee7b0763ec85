//! The [surf] transport of the Pipevideo SDK, for async-std and smol.
//!
//! [`SurfTransport`] implements [`pipevideo_core::transport::Transport`] over a
//! [`surf::Client`]: it converts between the `http` crate's types and surf's `http-types`,
//! sleeps on [`async_io::Timer`] (which runs on async-std, smol and tokio alike) and nothing
//! else. Retries, pacing and polling live in the core.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use pipevideo_core::transport::{HttpClient, SendOptions};
//! use pipevideo_surf::SurfTransport;
//!
//! let transport = SurfTransport::new(); // the common case, one line
//! let request = http::Request::get("https://api.pipevideo.co/v1/engines").body(Vec::new())?;
//! let response = transport.send(request, SendOptions::new()).await?;
//! println!("{}", response.status());
//! # Ok(()) }
//! ```
//!
//! # Why this crate exists, and its status
//!
//! surf is **unmaintained upstream**: its last release (2.3.2) dates from 2021 and it sits on
//! `http-types` 2 and `async-h1` 2. It is still the HTTP client that async-std and smol
//! applications have, and this crate lets them use the SDK without pulling a tokio runtime in.
//! If you already run tokio, use `pipevideo-reqwest`, the default transport of the `pipevideo`
//! crate. Both pass the same conformance suite.
//!
//! # Feature flags
//!
#![doc = document_features::document_features!()]
//!
//! surf's `h1-client-rustls` backend is deliberately not offered: it pulls rustls 0.18,
//! webpki 0.21 and ring 0.16, which carry published security advisories.
//!
//! # Conversions
//!
//! Requests and responses are converted faithfully: every header value is kept, repeated
//! headers stay repeated and in order, and the request's headers are set before its body, so
//! surf never adds a second `Content-Type` (nor one the request did not have). A request header
//! value that is not visible ASCII cannot be carried by `http-types`; it fails before anything is
//! sent with [`Cause::InvalidRequest`].
//!
//! # Known limits of the h1 backend
//!
//! - A response body delimited only by the connection closing (no `Content-Length`, not
//!   chunked) reads as empty: async-h1 does not support that HTTP/1.0-style framing (the
//!   connection is closed, never reused with the body's bytes on it). The Pipevideo API and
//!   video CDNs send `Content-Length` or chunked bodies.
//! - A body cut off before its `Content-Length` is detected here, since async-h1 would end it
//!   quietly.
//!
//! # Hostile responses, logs and proxies
//!
//! This crate's pool (see below) drives async-h1's encoder and decoder itself:
//!
//! - **No `log` record carries a request header.** async-h1's own client function logs every
//!   request's `Debug` at `TRACE`, the `Authorization` header (the key) included; the pool does
//!   not call it, and logs nothing of the request. The repository's secret sweep
//!   (`tests/tests/secrets.rs`) captures every `log` record at `TRACE` and finds the key 0 times.
//! - **A response head is checked before http-types sees it**: a header value beyond ASCII (on
//!   which http-types panics) or a head over 8 KiB is [`Cause::InvalidResponse`], naming the
//!   header. Nothing relies on `catch_unwind`, so a `panic = "abort"` build is as safe.
//! - **Only a failed connect is "not sent"** ([`Cause::Connect`]): refused, unreachable, DNS or
//!   TLS handshake while the pool opens a connection. An io error of any kind after that is
//!   "maybe sent".
//! - **No proxy**: the pool connects directly, whatever `HTTP_PROXY`, `HTTPS_PROXY` or
//!   `ALL_PROXY` say, so a plain-http base (the loopback emulator) never sends the key to a
//!   proxy.
//!
//! A `surf::Client` of your own passed to [`From`] keeps surf's own h1 client, which does none
//! of this: it logs the key at `TRACE` (filter the `async_h1` target out), panics on a header
//! value beyond ASCII (the task that sent the request panics), and reports a refused
//! connection only through its pool's message. The `curl-client` backend goes through libcurl,
//! which reads `http_proxy` and `ALL_PROXY` for plain-http requests: set `NO_PROXY` (e.g.
//! `127.0.0.1,localhost`) when such a proxy is set and the base is plain http.
//!
//! # Connection reuse on the h1 backend
//!
//! surf's own h1 client (`http_client::h1::H1Client`) is not used: its connection pool
//! (deadpool) takes a connection back whenever the handle is dropped, also in the middle of
//! an exchange, and checks it before reuse with a single non-blocking read, which a connection
//! still waiting for its response passes. After an attempt timed out waiting for the response
//! headers, the retry was sent on that connection and read the abandoned request's late
//! response (or failed on its leftovers).
//!
//! [`SurfTransport::new`] and [`SurfTransport::try_from`]`(surf::Config)` build the
//! `surf::Client` on this crate's own pool instead, over the same async-h1 codec and the same
//! TLS (async-native-tls):
//!
//! - a connection goes back to the pool only when its response body was read to its end (the
//!   `Content-Length` reached, or the last chunk); a timeout, a cancelled future, an error, a
//!   body abandoned at the cap, a response without framing, a `HEAD` request or
//!   `Connection: close` from either side closes it instead;
//! - an idle connection is checked with `peek` before reuse: a byte waiting or the end of the
//!   stream means the server closed it or sent something unasked, and it is closed;
//! - a connection in an exchange is never in the pool, so concurrent requests cannot pick it
//!   up; nothing is swapped or locked beyond the pool's list of idle connections (one short
//!   critical section to take a connection, one to put it back);
//! - DNS is resolved when a connection is opened (not for every request, as surf's client did),
//!   on async-std's blocking pool; [`SurfTransport::new`] turns `TCP_NODELAY` on (a config
//!   given to `TryFrom` keeps its own setting);
//! - a connection idle for 90 s (hyper's default) is closed at the pool's next use, and at most
//!   64 idle connections are kept across hosts, the least recently used going first;
//! - `max_connections_per_host` of the surf config caps the idle connections kept per host (surf's
//!   client made requests beyond it wait for a connection; this pool opens one).
//!
//! A `surf::Client` you build yourself and pass to [`From`] keeps its own HTTP client and pool.
//!
//! # Redirects and connection settings
//!
//! The client built by [`SurfTransport::new`] has no middleware: redirects are not followed,
//! a `3xx` comes back as a response (surf's `Redirect` middleware would carry the
//! `Authorization` header to any host, so do not add it). For TLS settings or a connection
//! timeout, pass a `surf::Config` to [`TryFrom`] (the h1 backend has no proxy support).
//! A config's timeout too large for an `Instant` (e.g. `Duration::MAX`) means no timeout.
//! The surf config's timeout (60 seconds by default) bounds connecting and the wait for the
//! response headers; the per-attempt timeout of [`SendOptions`] bounds the whole attempt on top.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::future::Future;
use std::io;
use std::pin::pin;
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::{Either, select};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use pipevideo_core::transport::{
    CappedSink, Cause, ChunkSink, Clock, DownloadBody, DownloadOptions, HttpClient,
    PREALLOCATE_AT_MOST, SendOptions, TransportError, check_request_headers,
};
use surf::http as ht;

#[cfg(feature = "h1-client")]
mod pool;

// surf has no HTTP client of its own without a backend: say which features bring one, instead
// of the unresolved `surf::Client::new` a build would otherwise stop at.
#[cfg(not(any(feature = "h1-client", feature = "curl-client")))]
compile_error!(
    "pipevideo-surf needs an HTTP backend: enable its `h1-client` feature (the default) or \
     `curl-client` (with the `pipevideo` crate: its `surf` or `surf-curl` feature)"
);

/// The size of the buffer a body is read through.
const READ_CHUNK: usize = 16 * 1024;

/// A [`Transport`](pipevideo_core::transport::Transport) over a [`surf::Client`], on async-std
/// or smol: the HTTP half is surf, the clock half is [`AsyncIoClock`].
///
/// Cheap to clone: clones share the client.
#[derive(Debug, Clone)]
pub struct SurfTransport {
    client: surf::Client,
}

impl SurfTransport {
    /// A transport over a new `surf::Client` with no middleware (redirects not followed).
    ///
    /// With the `h1-client` feature the client's connections are pooled by this crate, which
    /// reuses a connection only after its exchange completed (see the
    /// [crate docs](crate#connection-reuse-on-the-h1-backend)), and sets `TCP_NODELAY`.
    pub fn new() -> Self {
        #[cfg(feature = "h1-client")]
        let client = surf::Client::with_http_client(pool::H1Pool::new(
            surf::Config::new().set_tcp_no_delay(true).http_config,
        ));
        #[cfg(not(feature = "h1-client"))]
        let client = surf::Client::new();
        Self { client }
    }

    /// The underlying client.
    pub fn client(&self) -> &surf::Client {
        &self.client
    }

    /// The underlying client back.
    pub fn into_inner(self) -> surf::Client {
        self.client
    }

    async fn execute(
        &self,
        request: http::Request<Vec<u8>>,
    ) -> Result<surf::Response, TransportError> {
        check_request_headers(request.headers())?;
        let request = to_surf(request)?;
        // No `catch_unwind`: this crate's pool checks a response head before http-types sees
        // it (http-types panics on a header value beyond ASCII), see `pool::read_head`.
        self.client.send(request).await.map_err(|e| map_error(&e))
    }
}

impl Default for SurfTransport {
    fn default() -> Self {
        Self::new()
    }
}

/// Your `surf::Client`, as is: its middleware, its settings and its HTTP client (with surf's
/// own h1 client, its connection pool and that pool's reuse after an abandoned exchange: see
/// the [crate docs](crate#connection-reuse-on-the-h1-backend)). To configure a client and keep
/// this crate's pool, use [`TryFrom<surf::Config>`](#impl-TryFrom%3CConfig%3E-for-SurfTransport).
impl From<surf::Client> for SurfTransport {
    fn from(client: surf::Client) -> Self {
        Self { client }
    }
}

/// A client built from a `surf::Config`: base URL, headers, timeout, `TCP_NODELAY`,
/// keep-alive, TLS connector, idle connections per host.
///
/// With the `h1-client` feature and no HTTP client set in the config
/// (`surf::Config::set_http_client`), the connections are pooled by this crate as for
/// [`SurfTransport::new`], with the config's `http_config`. Unlike `new`, the config's settings
/// are taken as they are: `TCP_NODELAY` is on only if the config sets it (surf's default is off).
/// The error can only happen with the `curl-client` backend; its type is this crate's whatever
/// the features, so enabling `curl-client` elsewhere in a build never changes your code's types.
///
/// ```
/// # fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use pipevideo_surf::SurfTransport;
///
/// let config = surf::Config::new()
///     .set_timeout(Some(Duration::from_secs(20)))
///     .set_tcp_no_delay(true);
/// let transport = SurfTransport::try_from(config)?;
/// # let _ = transport; Ok(()) }
/// # demo().unwrap();
/// ```
impl TryFrom<surf::Config> for SurfTransport {
    type Error = ConfigError;

    fn try_from(config: surf::Config) -> Result<Self, Self::Error> {
        #[cfg(feature = "h1-client")]
        let config = match config.http_client {
            Some(_) => config,
            None => {
                let pool = pool::H1Pool::new(config.http_config.clone());
                config.set_http_client(pool)
            }
        };
        surf::Client::try_from(config)
            .map(Self::from)
            .map_err(|e| ConfigError(Box::new(e)))
    }
}

/// A `surf::Config` that could not make a client (only possible with the `curl-client`
/// backend, whose HTTP client can fail to initialise).
#[derive(Debug)]
pub struct ConfigError(Box<dyn std::error::Error + Send + Sync>);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the surf client could not be built: {}", self.0)
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.0)
    }
}

#[async_trait::async_trait]
impl HttpClient for SurfTransport {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        options: SendOptions,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let attempt = async {
            let mut response = self.execute(request).await?;
            let head = to_http(&response)?;
            let mut body = response.take_body();
            let bytes = read_capped(&mut body, options.body_limit(), None).await?;
            Ok(head.map(|()| bytes))
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
        let head = to_http(&response)?;
        let mut body = response.take_body();
        let idle = options.idle_timeout();
        if !head.status().is_success() {
            let bytes = read_capped(&mut body, options.error_body_limit(), idle).await?;
            return Ok(head.map(|()| DownloadBody::NotWritten(bytes)));
        }
        let declared = body.len();
        let mut capped = CappedSink::new(
            sink,
            &options,
            head.status(),
            head.headers(),
            declared.map(|len| len as u64),
        )?;
        let mut buf = vec![0u8; READ_CHUNK];
        loop {
            let n = read_some(&mut body, &mut buf, idle).await?;
            if n == 0 {
                check_complete(declared, capped.written())?;
                break;
            }
            capped.write(&buf[..n]).await?;
        }
        let written = capped.finish().await?;
        Ok(head.map(|()| DownloadBody::Written(written)))
    }
}

/// async-io's timer and the system clocks: the clock half of [`SurfTransport`], to pair with an
/// HTTP half of your own in a [`Stack`](pipevideo_core::transport::Stack). Works on async-std,
/// smol and any executor (async-io runs its own timer thread).
#[derive(Debug, Clone, Copy, Default)]
#[allow(
    clippy::exhaustive_structs,
    reason = "a unit value users name to build a Stack; it will never carry fields"
)]
pub struct AsyncIoClock;

#[async_trait::async_trait]
impl Clock for AsyncIoClock {
    async fn sleep(&self, duration: Duration) {
        async_io::Timer::after(duration).await;
    }

    async fn sleep_until(&self, deadline: Instant) {
        async_io::Timer::at(deadline).await;
    }

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn wall_now(&self) -> SystemTime {
        SystemTime::now()
    }
}

#[async_trait::async_trait]
impl Clock for SurfTransport {
    async fn sleep(&self, duration: Duration) {
        AsyncIoClock.sleep(duration).await;
    }

    async fn sleep_until(&self, deadline: Instant) {
        AsyncIoClock.sleep_until(deadline).await;
    }

    fn now(&self) -> Instant {
        AsyncIoClock.now()
    }

    fn wall_now(&self) -> SystemTime {
        AsyncIoClock.wall_now()
    }
}

/// A [`ChunkSink`] over a `futures-io` [`AsyncWrite`](futures_util::AsyncWrite), such as an
/// `async_std::fs::File` or a `smol::fs::File`: the way to stream a video to disk without
/// blocking the executor. [`ChunkSink::finish`] flushes the writer.
#[derive(Debug)]
pub struct AsyncWriteSink<W>(W);

impl<W: futures_util::AsyncWrite + Unpin + Send> AsyncWriteSink<W> {
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
impl<W: futures_util::AsyncWrite + Unpin + Send> ChunkSink for AsyncWriteSink<W> {
    async fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.0.write_all(chunk).await
    }

    async fn finish(&mut self) -> io::Result<()> {
        self.0.flush().await
    }
}

async fn within<T>(
    timeout: Option<Duration>,
    future: impl Future<Output = Result<T, TransportError>>,
) -> Result<T, TransportError> {
    let Some(limit) = timeout else {
        return future.await;
    };
    let future = pin!(future);
    let timer = pin!(async_io::Timer::after(limit));
    match select(future, timer).await {
        Either::Left((result, _)) => result,
        Either::Right(_) => Err(TransportError::timeout(limit)),
    }
}

async fn read_some(
    body: &mut ht::Body,
    buf: &mut [u8],
    idle: Option<Duration>,
) -> Result<usize, TransportError> {
    within(idle, async {
        body.read(buf).await.map_err(|e| {
            TransportError::maybe_sent(format!("reading the response body: {e}"))
                .with_cause(Cause::Io)
        })
    })
    .await
}

/// async-h1 ends a body at a clean close even when fewer bytes than its `Content-Length`
/// arrived; a cut-off body must be an error, not a short success.
fn check_complete(declared: Option<usize>, received: u64) -> Result<(), TransportError> {
    match declared {
        Some(len) if (len as u64) > received => Err(TransportError::maybe_sent(format!(
            "the connection closed after {received} of {len} body bytes"
        ))
        .with_cause(Cause::Io)),
        _ => Ok(()),
    }
}

/// Read the body, failing as soon as it is known to exceed `limit`.
async fn read_capped(
    body: &mut ht::Body,
    limit: u64,
    idle: Option<Duration>,
) -> Result<Vec<u8>, TransportError> {
    if body.len().is_some_and(|len| len as u64 > limit) {
        return Err(TransportError::body_too_large(limit));
    }
    let declared = body.len();
    // Read straight into the result, zeroing each byte once: the announced length plus one
    // byte (to see the end) when there is one, else 1 KiB, and doubling from there. Never more
    // than `PREALLOCATE_AT_MOST` before bytes arrive, nor more than one byte past the cap (that
    // byte proves the body is over it).
    let max_len = usize::try_from(limit)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let first = declared.map_or(1024, |len| len.saturating_add(1));
    let mut out = vec![0u8; first.min(PREALLOCATE_AT_MOST).min(max_len)];
    let mut filled = 0;
    loop {
        if filled == out.len() {
            out.resize(filled + filled.max(1024).min(max_len - filled), 0);
        }
        let n = read_some(body, &mut out[filled..], idle).await?;
        if n == 0 {
            out.truncate(filled);
            check_complete(declared, filled as u64)?;
            return Ok(out);
        }
        filled += n;
        if filled as u64 > limit {
            return Err(TransportError::body_too_large(limit));
        }
    }
}

/// `http` → `http-types`: method, URL, every header (repeats in order), then the body.
fn to_surf(request: http::Request<Vec<u8>>) -> Result<ht::Request, TransportError> {
    let (parts, body) = request.into_parts();
    let method: ht::Method = parts.method.as_str().parse().map_err(|_| {
        TransportError::invalid_request(format!("unsupported method {}", parts.method))
    })?;
    let url = ht::Url::parse(&parts.uri.to_string())
        .map_err(|e| TransportError::invalid_request(format!("invalid URL: {e}")))?;
    let mut out = ht::Request::new(method, url);
    for (name, value) in &parts.headers {
        // Visible ASCII: `execute` checked every value with the core's header rule.
        let value = value.as_bytes();
        let name = ht::headers::HeaderName::from_bytes(name.as_str().as_bytes().to_vec())
            .map_err(|e| TransportError::invalid_request(format!("header `{name}`: {e}")))?;
        let value = ht::headers::HeaderValue::from_bytes(value.to_vec())
            .map_err(|e| TransportError::invalid_request(format!("header `{name}`: {e}")))?;
        out.append_header(name, value);
    }
    let had_content_type = parts.headers.contains_key(http::header::CONTENT_TYPE);
    if !body.is_empty() {
        // Headers first: `set_body` only adds the body's MIME type when no Content-Type is set.
        out.set_body(ht::Body::from_bytes(body));
        if !had_content_type {
            out.remove_header(ht::headers::CONTENT_TYPE);
        }
    }
    Ok(out)
}

/// `http-types` → `http`: status, version and every header; the body is read separately.
fn to_http(response: &surf::Response) -> Result<http::Response<()>, TransportError> {
    let invalid =
        |what: String| TransportError::maybe_sent(what).with_cause(Cause::InvalidResponse);
    let status = http::StatusCode::from_u16(u16::from(response.status()))
        .map_err(|e| invalid(format!("invalid status: {e}")))?;
    let mut out = http::Response::new(());
    *out.status_mut() = status;
    if let Some(version) = response.version() {
        *out.version_mut() = match version {
            ht::Version::Http0_9 => http::Version::HTTP_09,
            ht::Version::Http1_0 => http::Version::HTTP_10,
            ht::Version::Http1_1 => http::Version::HTTP_11,
            ht::Version::Http2_0 => http::Version::HTTP_2,
            ht::Version::Http3_0 => http::Version::HTTP_3,
            _ => http::Version::HTTP_11,
        };
    }
    let headers = out.headers_mut();
    for (name, values) in response.iter() {
        let name = http::HeaderName::from_bytes(name.as_str().as_bytes())
            .map_err(|e| invalid(format!("invalid header name: {e}")))?;
        for value in values.iter() {
            if name == http::header::DATE && value.as_str().starts_with("date: ") {
                // async-h1 invents this malformed Date (its own "name: value\r\n" line) when
                // the server sent none. The server sent none: neither do we.
                continue;
            }
            let value = http::HeaderValue::from_bytes(value.as_str().as_bytes())
                .map_err(|e| invalid(format!("invalid value of header `{name}`: {e}")))?;
            headers.append(name.clone(), value);
        }
    }
    Ok(out)
}

/// Classify a surf error by how far the exchange got.
///
/// Only a failure to open a connection means the request was not sent. This crate's pool
/// reports that (refused, DNS, TLS handshake) as a `pool::ConnectError`, and nothing else is
/// taken for it: an io error of kind "refused" or "unreachable" found anywhere else in the
/// chain may come after the request was written (a host unreachable mid-exchange), so it is
/// "maybe sent" like any other io error. surf's own h1 client (a `surf::Client` passed to
/// `From`) reports a failed connect only as the text of its connection pool's error: the type
/// is gone by the time it reaches us. The conformance suite's refused-connection case and
/// `tests/connection_reuse.rs` pin both down.
fn map_error(error: &surf::Error) -> TransportError {
    let message = error.to_string();
    if message.starts_with("An error occured while creating a new object")
        || message.starts_with("A timeout occured while creating a new object")
    {
        return TransportError::connect(message);
    }
    let root: &(dyn std::error::Error + 'static) = error.as_ref();
    let mut next = Some(root);
    while let Some(cause) = next {
        #[cfg(feature = "h1-client")]
        if cause.is::<pool::ConnectError>() {
            return TransportError::connect(message);
        }
        if let Some(io) = cause.downcast_ref::<io::Error>() {
            return map_io(io, message);
        }
        next = cause.source();
    }
    TransportError::maybe_sent(message).with_cause(Cause::Io)
}

fn map_io(io: &io::Error, message: String) -> TransportError {
    match io.kind() {
        io::ErrorKind::TimedOut => TransportError::maybe_sent(message).with_cause(Cause::Timeout),
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
            TransportError::maybe_sent(message).with_cause(Cause::InvalidResponse)
        }
        _ => TransportError::maybe_sent(message).with_cause(Cause::Io),
    }
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use pipevideo_core::transport::FailureKind;

    use super::*;

    /// An error that wraps an io error one level down, as a TLS or codec layer would.
    #[derive(Debug)]
    struct Wrapped(io::Error);

    impl fmt::Display for Wrapped {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "a layer above the socket")
        }
    }

    impl std::error::Error for Wrapped {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    /// Only the pool's own connect error means "not sent": a refused or unreachable io error
    /// anywhere else in the chain may come after the request was written.
    #[test]
    fn refused_or_unreachable_io_errors_outside_the_pools_connect_are_maybe_sent() {
        for kind in [
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::AddrNotAvailable,
            io::ErrorKind::NetworkUnreachable,
            io::ErrorKind::HostUnreachable,
        ] {
            let direct = surf::Error::new(
                ht::StatusCode::BadGateway,
                io::Error::new(kind, "mid-exchange"),
            );
            let deeper = surf::Error::new(
                ht::StatusCode::BadGateway,
                Wrapped(io::Error::new(kind, "mid-exchange")),
            );
            for error in [direct, deeper] {
                let mapped = map_error(&error);
                assert_eq!(mapped.kind(), FailureKind::MaybeSent, "{kind:?}: {mapped}");
                assert_eq!(mapped.cause(), Cause::Io, "{kind:?}: {mapped}");
            }
        }
    }
}
