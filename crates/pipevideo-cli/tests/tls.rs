//! The `pipevideo` binary over https, against a TLS server on 127.0.0.1 whose certificate for
//! `localhost` is signed by a CA made for this run (no key in the repository).
//!
//! The binary gets its TLS from its own features (`rustls` by default): nothing here enables a
//! TLS feature of `reqwest` or `pipevideo`, so a build without one fails these tests with its
//! "built without TLS" error instead of passing by accident. The standalone CI step also builds
//! the CLI with `--no-default-features`: in that build only the last test runs, and it checks
//! that https is refused before anything is sent, naming the features to enable.
#![cfg_attr(not(any(feature = "rustls", feature = "native-tls")), allow(dead_code))]

use std::collections::hash_map::RandomState;
use std::convert::Infallible;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

mod common;

/// The body of `GET /v1/usage`, as the API documents it.
const USAGE_BODY: &str = r#"{
  "credit_balance": 1250,
  "totals": {"total_requests": 3, "completed_requests": 2, "failed_requests": 1, "total_cost_cents": 36},
  "daily_usage": [],
  "daily_usage_by_route": [],
  "recent_requests": []
}"#;

/// What `pipevideo usage` prints for [`USAGE_BODY`].
const USAGE_PRINTED: &str = "balance   $12.50 (1250 cents)";

/// A fresh `pv_<hex>` key, so that a leak is unmistakable.
fn api_key() -> String {
    let half = || RandomState::new().build_hasher().finish();
    format!("pv_{:016x}{:016x}", half(), half())
}

/// A CA and a `localhost` certificate it signed: the CA's PEM, the server's chain and key.
fn certificates() -> (String, CertificateDer<'static>, PrivateKeyDer<'static>) {
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "pipevideo-cli test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().expect("a CA key");
    let ca_cert = ca.self_signed(&ca_key).expect("the CA certificate");

    let mut leaf = CertificateParams::new(vec!["localhost".to_owned()]).expect("leaf parameters");
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf_key = KeyPair::generate().expect("a server key");
    let leaf_cert = leaf
        .signed_by(&leaf_key, &ca_cert, &ca_key)
        .expect("the server certificate");

    (
        ca_cert.pem(),
        leaf_cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
    )
}

/// A TLS server for one test, on its own thread; it lives until the test process ends.
struct Server {
    port: u16,
    /// The CA certificate in PEM, in a file (kept with the directory).
    ca_file: PathBuf,
    _dir: tempfile::TempDir,
    /// TLS handshakes that failed (the client refused the certificate).
    refused: Arc<AtomicUsize>,
    /// HTTP requests that arrived over an accepted connection.
    requests: Arc<AtomicUsize>,
}

impl Server {
    fn start(key: &str) -> Self {
        let (ca_pem, chain, private_key) = certificates();
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_pem).expect("the CA file is written");

        let mut config =
            ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("TLS versions")
                .with_no_client_auth()
                .with_single_cert(vec![chain], private_key)
                .expect("the server certificate is usable");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("the port").port();
        let refused = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (refused_, requests_) = (Arc::clone(&refused), Arc::clone(&requests));
        let authorization = format!("Bearer {key}");
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(serve(
                listener,
                acceptor,
                Arc::new(authorization),
                refused_,
                requests_,
            ));
        });
        Self {
            port,
            ca_file,
            _dir: dir,
            refused,
            requests,
        }
    }

    fn base_url(&self) -> String {
        format!("https://localhost:{}/v1", self.port)
    }
}

async fn serve(
    listener: std::net::TcpListener,
    acceptor: TlsAcceptor,
    authorization: Arc<String>,
    refused: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (acceptor, authorization, refused, requests) = (
            acceptor.clone(),
            Arc::clone(&authorization),
            Arc::clone(&refused),
            Arc::clone(&requests),
        );
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                refused.fetch_add(1, Ordering::SeqCst);
                return;
            };
            let service = service_fn(move |request: Request<Incoming>| {
                requests.fetch_add(1, Ordering::SeqCst);
                let answer = answer(&request, &authorization);
                async move { Ok::<_, Infallible>(answer) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

/// `GET /v1/usage` with the right key: the usage; anything else: the API's error shapes.
fn answer(request: &Request<Incoming>, authorization: &str) -> Response<Full<Bytes>> {
    let (status, body) = if request.uri().path() != "/v1/usage" {
        (StatusCode::NOT_FOUND, r#"{"message":"Not found"}"#)
    } else if request
        .headers()
        .get(hyper::header::AUTHORIZATION)
        .is_none_or(|value| value.as_bytes() != authorization.as_bytes())
    {
        (StatusCode::UNAUTHORIZED, r#"{"message":"Invalid API key"}"#)
    } else {
        (StatusCode::OK, USAGE_BODY)
    };
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("a response")
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// `pipevideo --base-url <server> --api-key <key> usage`, with no certificate setting, proxy or
/// key inherited from the environment; `tweak` adds the one under test.
fn usage(server: &Server, key: &str, tweak: impl FnOnce(&mut Command)) -> Run {
    let mut cmd = common::pipevideo();
    cmd.args(["--base-url", &server.base_url(), "--api-key", key, "usage"]);
    tweak(&mut cmd);
    let out = cmd.output().expect("the binary runs");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    common::assert_no_secret(&run.stdout, &run.stderr, key);
    run
}

/// The mistakes of a build without TLS, which none of these runs may show.
fn assert_tls_was_tried(run: &Run) {
    for wrong in ["scheme is not http", "without TLS"] {
        assert!(
            !run.stderr.contains(wrong),
            "the binary has no TLS (code {}):\n{}",
            run.code,
            run.stderr
        );
    }
}

fn assert_usage_printed(run: &Run, server: &Server) {
    assert_tls_was_tried(run);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(run.stdout.contains(USAGE_PRINTED), "{}", run.stdout);
    assert!(
        run.stdout.contains("3 total, 2 completed, 1 failed"),
        "{}",
        run.stdout
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 1);
}

#[cfg(any(feature = "rustls", feature = "native-tls"))]
#[test]
fn an_untrusted_certificate_is_refused_with_a_certificate_error() {
    let key = api_key();
    let server = Server::start(&key);
    let run = usage(&server, &key, |_| {});
    assert_tls_was_tried(&run);
    assert_eq!(
        run.code, 3,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains("certificate"),
        "no word of the certificate:\n{}",
        run.stderr
    );
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(server.refused.load(Ordering::SeqCst) >= 1);
    // The key never travelled over a connection the client did not trust.
    assert_eq!(server.requests.load(Ordering::SeqCst), 0);
}

#[cfg(any(feature = "rustls", feature = "native-tls"))]
#[test]
fn ca_cert_trusts_the_servers_ca() {
    let key = api_key();
    let server = Server::start(&key);
    let run = usage(&server, &key, |cmd| {
        cmd.arg("--ca-cert").arg(&server.ca_file);
    });
    assert_usage_printed(&run, &server);
}

#[cfg(any(feature = "rustls", feature = "native-tls"))]
#[test]
fn pipevideo_ca_cert_in_the_environment_works_too() {
    let key = api_key();
    let server = Server::start(&key);
    let run = usage(&server, &key, |cmd| {
        cmd.env("PIPEVIDEO_CA_CERT", &server.ca_file);
    });
    assert_usage_printed(&run, &server);
}

/// rustls-platform-verifier reads the system's roots on Linux with rustls-native-certs, which
/// takes them from `SSL_CERT_FILE` / `SSL_CERT_DIR` when either is set. (OpenSSL, in a
/// `native-tls` build, reads `SSL_CERT_FILE` as well.)
#[cfg(all(target_os = "linux", any(feature = "rustls", feature = "native-tls")))]
#[test]
fn ssl_cert_file_is_honoured_on_linux() {
    let key = api_key();
    let server = Server::start(&key);
    let run = usage(&server, &key, |cmd| {
        cmd.env("SSL_CERT_FILE", &server.ca_file);
    });
    assert_usage_printed(&run, &server);
}

/// Any PEM file in the directory counts with rustls (OpenSSL wants `c_rehash` names instead).
#[cfg(all(target_os = "linux", feature = "rustls", not(feature = "native-tls")))]
#[test]
fn ssl_cert_dir_is_honoured_on_linux() {
    let key = api_key();
    let server = Server::start(&key);
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::copy(&server.ca_file, dir.path().join("pipevideo-test-ca.pem")).expect("copied");
    let run = usage(&server, &key, |cmd| {
        cmd.env("SSL_CERT_DIR", dir.path());
    });
    assert_usage_printed(&run, &server);
}

#[cfg(any(feature = "rustls", feature = "native-tls"))]
#[test]
fn a_bad_ca_file_is_bad_usage_and_nothing_is_sent() {
    let key = api_key();
    let server = Server::start(&key);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let no_cert = dir.path().join("key-only.pem");
    std::fs::write(&no_cert, "just some text\n").expect("written");
    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .expect("written");
    let missing = dir.path().join("missing.pem");
    for (file, says) in [
        (&missing, "could not read it"),
        (&no_cert, "no PEM certificate"),
        (&broken, "not valid"),
    ] {
        let run = usage(&server, &key, |cmd| {
            cmd.arg("--ca-cert").arg(file);
        });
        assert_eq!(run.code, 2, "{file:?}:\n{}", run.stderr);
        assert!(
            run.stderr.contains(&format!("--ca-cert {}", shown(file))),
            "the file is not named:\n{}",
            run.stderr
        );
        assert!(run.stderr.contains(says), "{}", run.stderr);
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
    assert_eq!(
        server.refused.load(Ordering::SeqCst),
        0,
        "a connection was made"
    );
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        0,
        "a request was sent"
    );
}

/// A build without TLS (`--no-default-features`) refuses https when the client is built: a
/// usage error naming the features, no connection, no retries.
#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
#[test]
fn a_build_without_tls_refuses_https_before_connecting_and_names_the_features() {
    let key = api_key();
    let server = Server::start(&key);
    let run = usage(&server, &key, |_| {});
    assert_eq!(
        run.code, 2,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    assert!(
        run.stderr.contains("built without TLS")
            && run
                .stderr
                .contains("enable the `rustls` or `native-tls` feature"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("attempts"),
        "it was retried:\n{}",
        run.stderr
    );
    assert_eq!(
        server.refused.load(Ordering::SeqCst),
        0,
        "a connection was made"
    );
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        0,
        "a request was sent"
    );
}

fn shown(path: &Path) -> String {
    path.display().to_string()
}
