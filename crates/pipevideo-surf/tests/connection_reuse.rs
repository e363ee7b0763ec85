//! Connection reuse by the transport's pool: a connection goes back to the pool only after its
//! exchange completed, so an abandoned exchange (a timeout, a body over the cap) can never hand
//! its late bytes to the next request.
//!
//! The loopback server below speaks just enough HTTP/1.1 for that: one thread per connection,
//! requests answered in order on each connection, and a count of the connections it accepted.
#![cfg(feature = "h1-client")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use pipevideo_core::transport::{Cause, FailureKind, HttpClient, SendOptions, TransportError};
use pipevideo_surf::SurfTransport;

/// A loopback HTTP/1.1 server whose paths script the replies:
///
/// - `/echo/<tag>`: `200` with the body `<tag>` at once;
/// - `/slow/<ms>/<tag>`: the same, the whole response held back `<ms>` milliseconds;
/// - `/big/<bytes>`: `200` with a body of that many bytes;
/// - `/close/<tag>`: `200` with `Connection: close`, then the server closes the connection;
/// - `/drop/<tag>`: `200` (keep-alive as far as the client knows), then the server closes the
///   connection;
/// - `/chunked/<tag>`: `200` with the body `<tag>` in two chunks.
struct Server {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    tls: bool,
}

impl Server {
    fn start() -> Self {
        Self::with_tls(None)
    }

    /// The same server behind TLS, with a self-signed certificate for `localhost` made at run time.
    fn start_tls() -> Self {
        let identity = native_tls::Identity::from_pkcs8(&identity().0, &identity().1)
            .expect("the test identity");
        let acceptor = native_tls::TlsAcceptor::new(identity).expect("a TLS acceptor");
        Self::with_tls(Some(Arc::new(acceptor)))
    }

    fn with_tls(acceptor: Option<Arc<native_tls::TlsAcceptor>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let tls = acceptor.is_some();
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                counter.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                thread::spawn(move || match acceptor {
                    None => serve(stream),
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(stream) {
                            serve(stream);
                        }
                    }
                });
            }
        });
        Self {
            addr,
            accepted,
            tls,
        }
    }

    fn url(&self, path: &str) -> String {
        if self.tls {
            format!("https://localhost:{}{path}", self.addr.port())
        } else {
            format!("http://{}{path}", self.addr)
        }
    }

    fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// The test certificate for `localhost` and its key (PEM), made once per run.
fn identity() -> &'static (Vec<u8>, Vec<u8>) {
    static IDENTITY: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();
    IDENTITY.get_or_init(|| {
        let rcgen::CertifiedKey { cert, key_pair } =
            rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
                .expect("a self-signed certificate");
        (
            cert.pem().into_bytes(),
            key_pair.serialize_pem().into_bytes(),
        )
    })
}

/// Answer the requests of one connection in order until the client goes away.
fn serve(stream: impl Read + Write) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        match reader.read_line(&mut request_line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        // Skip the headers (the client's requests here carry no body).
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        let path = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .to_owned();
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (response, close) = match parts.as_slice() {
            ["echo", tag] => (plain(tag.as_bytes(), ""), false),
            ["slow", ms, tag] => {
                thread::sleep(Duration::from_millis(ms.parse().expect("a delay")));
                (plain(tag.as_bytes(), ""), false)
            }
            ["big", bytes] => (
                plain(&vec![b'x'; bytes.parse().expect("a size")], ""),
                false,
            ),
            ["close", tag] => (plain(tag.as_bytes(), "Connection: close\r\n"), true),
            ["drop", tag] => (plain(tag.as_bytes(), ""), true),
            ["chunked", tag] => {
                let (a, b) = tag.split_at(tag.len() / 2);
                let body = format!("{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n", a.len(), b.len());
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\
                            Transfer-Encoding: chunked\r\n\r\n";
                ([head.as_bytes(), body.as_bytes()].concat(), false)
            }
            _ => (
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                false,
            ),
        };
        let writer = reader.get_mut();
        if writer
            .write_all(&response)
            .and_then(|()| writer.flush())
            .is_err()
            || close
        {
            return;
        }
    }
}

fn plain(body: &[u8], extra_headers: &str) -> Vec<u8> {
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{extra_headers}\r\n",
        body.len()
    );
    [head.as_bytes(), body].concat()
}

async fn get(
    transport: &SurfTransport,
    url: &str,
    options: SendOptions,
) -> Result<http::Response<Vec<u8>>, TransportError> {
    let request = http::Request::get(url).body(Vec::new()).expect("a request");
    transport.send(request, options).await
}

/// GETs `path` and checks that the answer is `expected`: the request got its own response.
async fn expect_body(transport: &SurfTransport, server: &Server, path: &str, expected: &str) {
    assert_eq!(
        body_of(transport, &server.url(path)).await,
        expected,
        "GET {path}"
    );
}

async fn body_of(transport: &SurfTransport, url: &str) -> String {
    let response = get(
        transport,
        url,
        SendOptions::new().with_timeout(Duration::from_secs(5)),
    )
    .await
    .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert_eq!(response.status(), 200, "GET {url}");
    String::from_utf8(response.into_body()).expect("a UTF-8 body")
}

#[test]
fn a_completed_exchange_reuses_its_connection() {
    async_io::block_on(async {
        let server = Server::start();
        let transport = SurfTransport::new();
        for tag in ["one", "two", "three"] {
            assert_eq!(
                body_of(&transport, &server.url(&format!("/echo/{tag}"))).await,
                tag
            );
        }
        assert_eq!(
            server.connections(),
            1,
            "the three GETs share one connection"
        );
    });
}

#[test]
fn a_chunked_exchange_reuses_its_connection() {
    async_io::block_on(async {
        let server = Server::start();
        let transport = SurfTransport::new();
        expect_body(&transport, &server, "/chunked/first", "first").await;
        expect_body(&transport, &server, "/chunked/second", "second").await;
        expect_body(&transport, &server, "/echo/third", "third").await;
        assert_eq!(server.connections(), 1);
    });
}

/// The defect this pool exists for: the attempt times out while the server holds the headers
/// back; the next request must get its own response, not the late one of the abandoned attempt.
#[test]
fn a_timed_out_exchange_never_hands_its_late_response_to_the_next_request() {
    async_io::block_on(async {
        let server = Server::start();
        let transport = SurfTransport::new();
        expect_body(&transport, &server, "/echo/warm", "warm").await;

        let timeout = Duration::from_millis(100);
        let error = get(
            &transport,
            &server.url("/slow/400/late"),
            SendOptions::new().with_timeout(timeout),
        )
        .await
        .expect_err("the headers come after the timeout");
        assert_eq!(error.cause(), Cause::Timeout, "{error}");

        // Sent at once, answered on a fresh connection with its own body (the old connection
        // would have handed it the slow reply's).
        expect_body(&transport, &server, "/echo/mine", "mine").await;
        // Once the slow reply is due, the connections still answer their own requests.
        async_io::Timer::after(Duration::from_millis(400)).await;
        expect_body(&transport, &server, "/echo/after", "after").await;
        assert_eq!(
            server.connections(),
            2,
            "the timed-out connection was closed, not reused"
        );
    });
}

/// A timeout on one request leaves the other requests in flight on the same transport alone.
#[test]
fn a_timeout_does_not_disturb_concurrent_requests() {
    async_io::block_on(async {
        let server = Server::start();
        let transport = SurfTransport::new();
        let (patient_url, hasty_url) = (
            server.url("/slow/300/patient"),
            server.url("/slow/300/hasty"),
        );
        let patient = get(
            &transport,
            &patient_url,
            SendOptions::new().with_timeout(Duration::from_secs(5)),
        );
        let hasty = get(
            &transport,
            &hasty_url,
            SendOptions::new().with_timeout(Duration::from_millis(50)),
        );
        let (patient, hasty) = futures_util::future::join(patient, hasty).await;
        let patient = patient.expect("the patient request waits for its reply");
        assert_eq!(patient.body(), b"patient");
        assert!(hasty.expect_err("the hasty one times out").is_timeout());
        for tag in ["next", "again"] {
            assert_eq!(
                body_of(&transport, &server.url(&format!("/echo/{tag}"))).await,
                tag
            );
        }
        // Two connections for the concurrent pair; the patient one is reused afterwards.
        assert_eq!(server.connections(), 2);
    });
}

/// A body abandoned at the cap leaves unread bytes on its connection: it must not be reused.
#[test]
fn a_body_abandoned_at_the_cap_is_not_reused() {
    async_io::block_on(async {
        let server = Server::start();
        let transport = SurfTransport::new();
        let error = get(
            &transport,
            &server.url("/big/200000"),
            SendOptions::new().with_body_limit(1024),
        )
        .await
        .expect_err("over the cap");
        assert_eq!(
            error.cause(),
            Cause::BodyTooLarge { limit: 1024 },
            "{error}"
        );
        expect_body(&transport, &server, "/echo/clean", "clean").await;
        assert_eq!(server.connections(), 2);
    });
}

/// `Connection: close` from the server is honoured: the next request opens a new connection
/// instead of failing on the closed one.
#[test]
fn connection_close_is_honoured() {
    async_io::block_on(async {
        let server = Server::start();
        let transport = SurfTransport::new();
        for tag in ["first", "second", "third"] {
            assert_eq!(
                body_of(&transport, &server.url(&format!("/close/{tag}"))).await,
                tag
            );
        }
        assert_eq!(server.connections(), 3);
    });
}

/// A connection the server closed while it sat idle in the pool is noticed before reuse: the
/// next request opens a new one instead of failing on the dead one.
#[test]
fn an_idle_connection_closed_by_the_server_is_not_reused() {
    async_io::block_on(async {
        let server = Server::start();
        let transport = SurfTransport::new();
        expect_body(&transport, &server, "/drop/first", "first").await;
        // Give the server's FIN time to arrive.
        async_io::Timer::after(Duration::from_millis(50)).await;
        expect_body(&transport, &server, "/echo/second", "second").await;
        assert_eq!(server.connections(), 2);
    });
}

/// A refused connection fails before anything was sent, and says so.
#[test]
fn a_refused_connection_is_a_connect_error() {
    async_io::block_on(async {
        let addr = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address")
        };
        let transport = SurfTransport::new();
        let error = get(&transport, &format!("http://{addr}/"), SendOptions::new())
            .await
            .expect_err("nobody listens");
        assert_eq!(error.kind(), FailureKind::NotSent, "{error}");
        assert_eq!(error.cause(), Cause::Connect, "{error}");
    });
}

/// A transport built from a `surf::Config` pools its connections the same way, and the
/// config's own timeout (connect and headers) is a typed timeout too.
#[test]
fn a_configured_transport_keeps_the_pool_and_its_timeout() {
    async_io::block_on(async {
        let server = Server::start();
        let config = surf::Config::new().set_timeout(Some(Duration::from_millis(100)));
        let transport = SurfTransport::try_from(config).expect("a client from a config");
        expect_body(&transport, &server, "/echo/warm", "warm").await;
        let error = get(
            &transport,
            &server.url("/slow/400/late"),
            SendOptions::new(),
        )
        .await
        .expect_err("the headers come after the config's timeout");
        assert_eq!(error.cause(), Cause::Timeout, "{error}");
        expect_body(&transport, &server, "/echo/mine", "mine").await;
        assert_eq!(server.connections(), 2);
    });
}

/// The client's side of the TLS tests: the pool's TLS connector, trusting the test certificate.
fn tls_transport() -> SurfTransport {
    let connector = async_native_tls::TlsConnector::new().add_root_certificate(
        async_native_tls::Certificate::from_pem(&identity().0).expect("the test certificate"),
    );
    let config = surf::Config::new().set_tls_config(Some(Arc::new(connector)));
    SurfTransport::try_from(config).expect("a client from a config")
}

#[test]
fn a_completed_tls_exchange_reuses_its_connection() {
    async_io::block_on(async {
        let server = Server::start_tls();
        let transport = tls_transport();
        for tag in ["one", "two", "three"] {
            assert_eq!(
                body_of(&transport, &server.url(&format!("/echo/{tag}"))).await,
                tag
            );
        }
        expect_body(&transport, &server, "/chunked/four", "four").await;
        assert_eq!(server.connections(), 1, "the GETs share one TLS connection");
    });
}

#[test]
fn a_timed_out_tls_exchange_is_not_reused() {
    async_io::block_on(async {
        let server = Server::start_tls();
        let transport = tls_transport();
        expect_body(&transport, &server, "/echo/warm", "warm").await;
        let error = get(
            &transport,
            &server.url("/slow/400/late"),
            SendOptions::new().with_timeout(Duration::from_millis(100)),
        )
        .await
        .expect_err("the headers come after the timeout");
        assert_eq!(error.cause(), Cause::Timeout, "{error}");
        expect_body(&transport, &server, "/echo/mine", "mine").await;
        async_io::Timer::after(Duration::from_millis(400)).await;
        expect_body(&transport, &server, "/echo/after", "after").await;
        assert_eq!(server.connections(), 2);
    });
}

/// An untrusted certificate fails the handshake: nothing was sent.
#[test]
fn an_untrusted_certificate_is_a_connect_error() {
    async_io::block_on(async {
        let server = Server::start_tls();
        let error = get(
            &SurfTransport::new(),
            &server.url("/echo/x"),
            SendOptions::new(),
        )
        .await
        .expect_err("the test certificate is not trusted by default");
        assert_eq!(error.kind(), FailureKind::NotSent, "{error}");
        assert_eq!(error.cause(), Cause::Connect, "{error}");
    });
}

/// A `surf::Client` of your own (surf's H1Client and its pool) still reports a refused
/// connection as not sent: its pool's error only survives as text, which the transport reads.
#[test]
fn a_refused_connection_through_surfs_own_client_is_a_connect_error() {
    async_io::block_on(async {
        let addr = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("address")
        };
        let transport = SurfTransport::from(surf::Client::new());
        let error = get(&transport, &format!("http://{addr}/"), SendOptions::new())
            .await
            .expect_err("nobody listens");
        assert_eq!(error.kind(), FailureKind::NotSent, "{error}");
        assert_eq!(error.cause(), Cause::Connect, "{error}");
    });
}
