//! The h1 backend's keep-alive pool: a connection is reused only after its exchange completed.
//!
//! surf's own h1 client (`http_client::h1::H1Client`) keeps connections in a `deadpool` pool
//! and puts a connection back whenever its handle is dropped, whether the response was read to
//! its end or the exchange was abandoned halfway (a timeout before the headers, a body left
//! unread). Its only check before reuse is one non-blocking read: a connection whose late
//! response has not arrived yet looks idle and is handed to the next request, which then reads
//! the previous request's response (or, once those bytes have arrived, the check itself eats
//! the first four of them and the next request fails on "invalid HTTP version").
//!
//! [`H1Pool`] speaks HTTP/1.1 through the same async-h1 codec and TLS (async-native-tls), but
//! a connection goes back to the pool only when the response body was read to its end (its
//! `Content-Length` reached, or the last chunk of a chunked body). Everything else (a dropped
//! future, a timeout, an error, a body abandoned at the cap, a body without framing, a `HEAD`,
//! `Connection: close` on either side) closes the connection. The pool never holds a connection
//! that is still in an exchange, so there is nothing to race with: concurrent requests simply
//! never see it.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use async_io::Async;
use futures_util::future::{Either, select};
use futures_util::io::{AsyncBufRead, AsyncRead, AsyncWrite};
use http_client::{Config, HttpClient};
use surf::http::headers::{CONNECTION, CONTENT_LENGTH, HeaderValues, TRANSFER_ENCODING};
use surf::http::url::Host;
use surf::http::{Body, Error, Method, Request, Response, StatusCode};

type TlsStream = async_native_tls::TlsStream<Async<TcpStream>>;

/// An `http_client::HttpClient` over async-h1 with a pool that reuses only connections whose
/// exchange completed. See the [module docs](self).
pub(crate) struct H1Pool {
    shared: Arc<Shared>,
}

struct Shared {
    config: Config,
    /// Idle connections, every one at a message boundary; the most recently used last.
    idle: Mutex<Vec<Conn>>,
}

impl Shared {
    fn idle(&self) -> MutexGuard<'_, Vec<Conn>> {
        // A panic elsewhere cannot leave the list half-updated: every critical section is a
        // single push or remove.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// An idle, still open connection to `origin`, if any.
    fn checkout(&self, origin: &Origin<'_>) -> Option<Conn> {
        let mut idle = self.idle();
        prune(&mut idle, Instant::now());
        while let Some(index) = idle.iter().rposition(|conn| conn.origin.is(origin)) {
            let conn = idle.remove(index);
            if conn.is_idle_and_open() {
                return Some(conn);
            }
        }
        None
    }

    /// Put a connection whose exchange completed back, unless enough are idle already.
    fn check_in(&self, mut conn: Conn) {
        let max = self.config.max_connections_per_host;
        let now = Instant::now();
        let mut idle = self.idle();
        prune(&mut idle, now);
        let same = idle.iter().filter(|c| c.origin == conn.origin).count();
        if same < max {
            if idle.len() >= MAX_IDLE {
                // The least recently used goes, whatever its host.
                idle.remove(0);
            }
            conn.idle_since = now;
            idle.push(conn);
        }
    }
}

/// How long a connection may sit unused in the pool: hyper's default. Servers and load
/// balancers close idle connections on their own schedule (often sooner); the `peek` before
/// reuse catches those, this bounds how long the sockets of a host no longer used stay open.
/// Without a background task the pool prunes on its next checkout or check-in.
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

/// The most idle connections kept across all hosts (each host also has
/// `max_connections_per_host`).
const MAX_IDLE: usize = 64;

/// Closes the connections idle for longer than [`IDLE_TIMEOUT`].
fn prune(idle: &mut Vec<Conn>, now: Instant) {
    idle.retain(|conn| now.saturating_duration_since(conn.idle_since) < IDLE_TIMEOUT);
}

impl H1Pool {
    pub(crate) fn new(config: Config) -> Self {
        Self {
            shared: Arc::new(Shared {
                config,
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    async fn connect(&self, origin: &Origin<'_>) -> Result<Conn, ConnectError> {
        let fail = |source: io::Error| ConnectError {
            origin: origin.to_string(),
            source,
        };
        let addrs: Vec<SocketAddr> = match origin.host {
            Host::Ipv4(ip) => vec![SocketAddr::from((ip, origin.port))],
            Host::Ipv6(ip) => vec![SocketAddr::from((ip, origin.port))],
            Host::Domain(name) => {
                async_std::net::ToSocketAddrs::to_socket_addrs(&(name, origin.port))
                    .await
                    .map_err(fail)?
                    .collect()
            }
        };
        let mut last = io::Error::new(io::ErrorKind::NotFound, "the host has no address");
        let mut stream = None;
        for addr in addrs {
            match Async::<TcpStream>::connect(addr).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let stream = stream.ok_or_else(|| fail(last))?;
        stream
            .get_ref()
            .set_nodelay(self.shared.config.tcp_no_delay)
            .map_err(fail)?;
        let io = if origin.tls {
            let connector = self.shared.config.tls_config.clone().unwrap_or_default();
            let name = match origin.host {
                Host::Domain(name) => name.to_owned(),
                Host::Ipv4(ip) => ip.to_string(),
                Host::Ipv6(ip) => ip.to_string(),
            };
            let tls = connector
                .connect(name, stream)
                .await
                .map_err(|e| fail(io::Error::other(e)))?;
            Io::Tls(Box::new(tls))
        } else {
            Io::Plain(stream)
        };
        Ok(Conn {
            io,
            origin: origin.to_owned(),
            done: Arc::new(AtomicBool::new(false)),
            idle_since: Instant::now(),
        })
    }

    async fn exchange(&self, mut req: Request) -> Result<Response, Error> {
        let url = req.url();
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            other => {
                return Err(Error::from_str(
                    StatusCode::BadRequest,
                    format!("invalid URL scheme `{other}`"),
                ));
            }
        };
        let (Some(host), Some(port)) = (url.host(), url.port_or_known_default()) else {
            return Err(Error::from_str(
                StatusCode::BadRequest,
                "the URL has no host",
            ));
        };
        let origin = Origin { tls, host, port };
        let conn = match self.shared.checkout(&origin) {
            Some(conn) => conn,
            None => self
                .connect(&origin)
                .await
                .map_err(|e| Error::new(StatusCode::BadGateway, e))?,
        };
        let config = &self.shared.config;
        let keep_alive = config.http_keep_alive
            && req.method() != Method::Head
            && !asks_to_close(req.header(CONNECTION));
        if !config.http_keep_alive {
            req.insert_header(CONNECTION, "close");
        }
        let done = Arc::clone(&conn.done);
        let lease = Lease {
            conn: Some(conn),
            shared: Arc::clone(&self.shared),
        };
        let mut res = exchange_on(lease, req).await?;
        // async-h1 gives the connection to the body only when the response is framed (chunked
        // or with a Content-Length); otherwise the connection is gone already. The test is
        // async-h1's own, to the letter (`client/decode.rs`).
        let chunked = res
            .header(TRANSFER_ENCODING)
            .is_some_and(|te| te.last().as_str() == "chunked");
        if chunked || res.header(CONTENT_LENGTH).is_some() {
            let reusable = keep_alive && !asks_to_close(res.header(CONNECTION));
            let body = res.take_body();
            let len = body.len();
            let mut tracked = Tracked {
                body,
                len,
                read: 0,
                done: reusable.then_some(done),
            };
            tracked.advance(0, false);
            res.set_body(Body::from_reader(tracked, len));
        }
        Ok(res)
    }
}

#[async_trait::async_trait]
impl HttpClient for H1Pool {
    async fn send(&self, req: Request) -> Result<Response, Error> {
        let Some(limit) = self.shared.config.timeout else {
            return self.exchange(req).await;
        };
        let exchange = std::pin::pin!(self.exchange(req));
        // `after`, not `at(now + limit)`: a limit past what an `Instant` holds (a config's
        // `Duration::MAX`) is a timer that never fires, not an overflow panic.
        let timer = std::pin::pin!(async_io::Timer::after(limit));
        match select(exchange, timer).await {
            Either::Left((result, _)) => result,
            Either::Right(_) => Err(Error::new(
                StatusCode::GatewayTimeout,
                io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no response headers within {limit:?} (the surf client's timeout)"),
                ),
            )),
        }
    }

    fn set_config(&mut self, config: Config) -> surf::http::Result<()> {
        *self = Self::new(config);
        Ok(())
    }

    fn config(&self) -> &Config {
        &self.shared.config
    }
}

impl fmt::Debug for H1Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("H1Pool")
            .field("idle", &self.shared.idle().len())
            .field("config", &self.shared.config)
            .finish()
    }
}

/// One exchange on a leased connection, through async-h1's public encoder and decoder.
///
/// `async_h1::client::connect` does the same but logs the request's `Debug` at `TRACE` through
/// the `log` crate, headers included: the `Authorization` header, i.e. the API key, would reach
/// any logger that records `TRACE`. Nothing here logs the request. The response head is checked
/// by [`read_head`] before async-h1 parses it into `http-types`, which panics on a header value
/// beyond ASCII.
async fn exchange_on(mut lease: Lease, req: Request) -> Result<Response, Error> {
    let mut encoder = async_h1::client::Encoder::new(req);
    futures_util::io::copy(&mut encoder, &mut lease).await?;
    let mut reader = futures_util::io::BufReader::new(lease);
    let head = read_head(&mut reader).await?;
    let replay = futures_util::io::AsyncReadExt::chain(futures_util::io::Cursor::new(head), reader);
    async_h1::client::decode(replay).await
}

/// async-h1's limit on a response head (`MAX_HEAD_LENGTH`): it refuses a head of this length
/// or more, and so does [`read_head`], as an invalid response.
const MAX_HEAD: usize = 8 * 1024;

/// Reads the response head (status line and headers, up to the empty line) and refuses a
/// header line with a byte beyond ASCII, naming the header: `http-types` panics on such a value
/// (`HeaderValue` must be ASCII, and async-h1 appends the value with an `unwrap`), and a
/// server's bytes must never take the caller's task down, nor rely on `catch_unwind` (which a
/// `panic = "abort"` build does not have). The status line may carry any reason phrase:
/// async-h1 ignores it.
async fn read_head<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<Vec<u8>> {
    use futures_util::io::{AsyncBufReadExt, AsyncReadExt};
    let mut head = Vec::with_capacity(512);
    let mut start = 0;
    loop {
        let n = (&mut *reader)
            .take((MAX_HEAD - head.len()) as u64)
            .read_until(b'\n', &mut head)
            .await?;
        if n == 0 {
            // async-h1 says what went wrong ("connection closed", "empty response").
            return Ok(head);
        }
        if head.len() >= MAX_HEAD {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the response head is {MAX_HEAD} bytes or longer"),
            ));
        }
        let line = &head[start..];
        if start > 0 && !line.is_ascii() {
            let name = line.split(|&b| b == b':').next().unwrap_or_default();
            let name = String::from_utf8_lossy(name);
            let name: String = name
                .chars()
                .filter(char::is_ascii_graphic)
                .take(64)
                .map(|c| c.to_ascii_lowercase())
                .collect();
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the response header `{name}` has a byte beyond ASCII"),
            ));
        }
        if line == b"\r\n" || line == b"\n" {
            return Ok(head);
        }
        start = head.len();
    }
}

/// Whether a `Connection` header carries the `close` token.
fn asks_to_close(values: Option<&HeaderValues>) -> bool {
    values.is_some_and(|values| {
        values.iter().any(|value| {
            value
                .as_str()
                .split(',')
                .any(|token| token.trim().eq_ignore_ascii_case("close"))
        })
    })
}

/// A connection failed before any byte of the request was written (DNS, TCP or TLS).
#[derive(Debug)]
pub(crate) struct ConnectError {
    origin: String,
    source: io::Error,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "connecting to {}: {}", self.origin, self.source)
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Where a connection goes: scheme, host and port.
struct Origin<'a> {
    tls: bool,
    host: Host<&'a str>,
    port: u16,
}

impl Origin<'_> {
    fn to_owned(&self) -> OwnedOrigin {
        OwnedOrigin {
            tls: self.tls,
            host: match self.host {
                Host::Domain(name) => Host::Domain(name.into()),
                Host::Ipv4(ip) => Host::Ipv4(ip),
                Host::Ipv6(ip) => Host::Ipv6(ip),
            },
            port: self.port,
        }
    }
}

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

#[derive(PartialEq, Eq)]
struct OwnedOrigin {
    tls: bool,
    host: Host<Box<str>>,
    port: u16,
}

impl OwnedOrigin {
    fn is(&self, origin: &Origin<'_>) -> bool {
        self.tls == origin.tls
            && self.port == origin.port
            && match (&self.host, &origin.host) {
                (Host::Domain(a), Host::Domain(b)) => **a == **b,
                (Host::Ipv4(a), Host::Ipv4(b)) => a == b,
                (Host::Ipv6(a), Host::Ipv6(b)) => a == b,
                _ => false,
            }
    }
}

enum Io {
    Plain(Async<TcpStream>),
    Tls(Box<TlsStream>),
}

/// One connection, pooled or leased.
struct Conn {
    io: Io,
    origin: OwnedOrigin,
    /// Set by the response body once it was read to its end; allocated once per connection.
    done: Arc<AtomicBool>,
    /// When it last went back to the pool.
    idle_since: Instant,
}

impl Conn {
    /// An idle connection has nothing to read: bytes waiting (a late response, a TLS alert) or
    /// the end of the stream mean it cannot carry another exchange. `peek` leaves the bytes
    /// where they are and never blocks (async-io sockets are non-blocking).
    fn is_idle_and_open(&self) -> bool {
        let tcp = match &self.io {
            Io::Plain(stream) => stream.get_ref(),
            Io::Tls(stream) => stream.get_ref().get_ref(),
        };
        matches!(tcp.peek(&mut [0u8; 1]), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }
}

/// A connection lent to one exchange. Dropped, it goes back to the pool if and only if the
/// exchange's response body was read to its end; otherwise it is closed.
struct Lease {
    conn: Option<Conn>,
    shared: Arc<Shared>,
}

impl Lease {
    fn io(&mut self) -> io::Result<Pin<&mut (dyn AsyncReadWrite + 'static)>> {
        match self.conn.as_mut().map(|conn| &mut conn.io) {
            Some(Io::Plain(stream)) => Ok(Pin::new(stream)),
            Some(Io::Tls(stream)) => Ok(Pin::new(&mut **stream)),
            None => Err(io::Error::from(io::ErrorKind::NotConnected)),
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && conn.done.swap(false, Ordering::AcqRel)
        {
            self.shared.check_in(conn);
        }
    }
}

trait AsyncReadWrite: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> AsyncReadWrite for T {}

impl AsyncRead for Lease {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io()?.poll_read(cx, buf)
    }
}

impl AsyncWrite for Lease {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().io()?.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().io()?.poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().io()?.poll_close(cx)
    }
}

/// A response body that marks its connection reusable once read to its end.
///
/// With a `Content-Length` the end is that many bytes (an `http_types::Body` of known length
/// stops reading at it without asking for the end of the stream); a chunked body ends at the
/// end of its stream, i.e. after the last chunk.
struct Tracked {
    body: Body,
    len: Option<usize>,
    read: usize,
    /// The connection's flag, or `None` once set or when the connection must close anyway.
    done: Option<Arc<AtomicBool>>,
}

impl Tracked {
    fn advance(&mut self, n: usize, end_of_stream: bool) {
        self.read += n;
        let finished = match self.len {
            Some(len) => self.read >= len,
            None => end_of_stream,
        };
        if finished && let Some(done) = self.done.take() {
            done.store(true, Ordering::Release);
        }
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.body).poll_read(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            this.advance(n, n == 0 && !buf.is_empty());
        }
        poll
    }
}

impl AsyncBufRead for Tracked {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.body).poll_fill_buf(cx);
        if let Poll::Ready(Ok(bytes)) = &poll
            && bytes.is_empty()
            && this.len.is_none()
            && let Some(done) = this.done.take()
        {
            done.store(true, Ordering::Release);
        }
        poll
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        Pin::new(&mut this.body).consume(amt);
        this.advance(amt, false);
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, TcpListener};
    use std::time::Duration;

    use super::*;

    /// A pooled connection to a loopback listener, idle since `since`.
    fn conn(listener: &TcpListener, since: Instant) -> Conn {
        let stream = TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        Conn {
            io: Io::Plain(Async::new(stream).expect("async")),
            origin: Origin {
                tls: false,
                host: Host::Ipv4(Ipv4Addr::LOCALHOST),
                port: 1,
            }
            .to_owned(),
            done: Arc::new(AtomicBool::new(false)),
            idle_since: since,
        }
    }

    #[test]
    fn connections_idle_longer_than_the_timeout_are_closed() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let start = Instant::now();
        let mut idle = vec![
            conn(&listener, start),
            conn(&listener, start + Duration::from_secs(30)),
        ];
        prune(&mut idle, start + IDLE_TIMEOUT - Duration::from_millis(1));
        assert_eq!(idle.len(), 2, "both are younger than the timeout");
        prune(&mut idle, start + IDLE_TIMEOUT);
        assert_eq!(idle.len(), 1, "the older one reached the timeout");
        assert_eq!(idle[0].idle_since, start + Duration::from_secs(30));
        prune(&mut idle, start + IDLE_TIMEOUT + Duration::from_secs(30));
        assert!(idle.is_empty());
    }

    #[test]
    fn the_pool_keeps_at_most_max_idle_connections_dropping_the_least_recently_used() {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let shared = Shared {
            config: Config::new().set_max_connections_per_host(MAX_IDLE * 2),
            idle: Mutex::new(Vec::new()),
        };
        let port = |conn: &Conn| match &conn.io {
            Io::Plain(stream) => stream.get_ref().local_addr().expect("addr").port(),
            Io::Tls(_) => unreachable!("plain connections only here"),
        };
        let mut ports = Vec::new();
        for _ in 0..=MAX_IDLE {
            let conn = conn(&listener, Instant::now());
            ports.push(port(&conn));
            shared.check_in(conn);
        }
        let idle = shared.idle();
        let kept: Vec<u16> = idle.iter().map(port).collect();
        assert_eq!(
            kept,
            ports[1..],
            "the first one checked in went, the rest kept in order"
        );
    }
}
