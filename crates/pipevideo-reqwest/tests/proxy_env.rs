//! Proxies from the environment never see a plain-http request: with `HTTP_PROXY` or
//! `ALL_PROXY` set, a request to a plain-http base (the loopback emulator) would otherwise carry
//! the API key to the proxy in clear text. An `https://` request still goes through
//! `HTTPS_PROXY` (a `CONNECT` tunnel: the proxy never sees the key).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;

use pipevideo_core::transport::{HttpClient, SendOptions};
use pipevideo_reqwest::ReqwestTransport;

const CHILD: &str = "PIPEVIDEO_PROXY_TEST_CHILD";
const KEY: &str = "pv_PROXYTEST0123456789abcdef";

/// A loopback listener standing in for a proxy: it records the first line of every request it
/// gets (`GET http://…` for a proxied plain request, `CONNECT host:443` for a tunnel) and
/// answers `502` from "the proxy".
struct Proxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Proxy {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let mut reader = BufReader::new(stream);
                let mut first = String::new();
                let _ = reader.read_line(&mut first);
                record
                    .lock()
                    .expect("the record")
                    .push(first.trim().to_owned());
                let _ = reader.get_mut().write_all(
                    b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\nConnection: close\r\n\r\nproxy",
                );
            }
        });
        Self { addr, seen }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("the record").clone()
    }
}

/// The origin: answers every request `200 origin`, then closes.
fn origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream);
            loop {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) if line == "\r\n" => break,
                    Ok(_) => {}
                }
            }
            let _ = reader.get_mut().write_all(
                b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\norigin",
            );
        }
    });
    addr
}

/// Runs `test` again in a child process of this test binary with every proxy variable pointing
/// at a recording proxy (the environment is process-wide, and changing it is `unsafe`), and
/// returns what the proxy saw.
fn in_child_with_proxy_env(test: &str, origin: SocketAddr) -> Vec<String> {
    let proxy = Proxy::start();
    let url = format!("http://{}", proxy.addr);
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, origin.to_string())
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env_remove("REQUEST_METHOD");
    for name in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        command.env(name, &url);
    }
    let output = command.output().expect("the child runs");
    assert!(
        output.status.success(),
        "the child failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    proxy.seen()
}

/// In the child: the origin's address, set by the parent.
fn child_origin() -> Option<SocketAddr> {
    std::env::var(CHILD)
        .ok()
        .map(|a| a.parse().expect("an address"))
}

fn plain_requests(origin: SocketAddr) -> Vec<http::Request<Vec<u8>>> {
    [
        format!("http://{origin}/v1/usage"),
        format!("http://localhost:{}/v1/usage", origin.port()),
    ]
    .into_iter()
    .map(|url| {
        http::Request::get(url)
            .header("authorization", format!("Bearer {KEY}"))
            .body(Vec::new())
            .expect("a request")
    })
    .collect()
}

const TEST: &str = "plain_http_never_goes_through_a_proxy_from_the_environment";

#[test]
fn plain_http_never_goes_through_a_proxy_from_the_environment() {
    if let Some(origin) = child_origin() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(async {
            let transport = ReqwestTransport::new().expect("a transport");
            for request in plain_requests(origin) {
                let url = request.uri().to_string();
                let response = transport
                    .send(request, SendOptions::new())
                    .await
                    .unwrap_or_else(|e| panic!("{url}: {e}"));
                assert_eq!(response.into_body(), b"origin", "{url} went to the proxy");
            }
            // https keeps the environment's proxy: a tunnel the proxy refuses here.
            let request = http::Request::get("https://api.example.invalid/v1/usage")
                .body(Vec::new())
                .expect("a request");
            let _ = transport.send(request, SendOptions::new()).await;
        });
        return;
    }
    let seen = in_child_with_proxy_env(TEST, origin());
    assert!(
        seen.iter()
            .all(|line| !line.contains("/v1/usage") || line.starts_with("CONNECT")),
        "a plain-http request went to the proxy: {seen:?}"
    );
    // Without a TLS feature reqwest refuses an https URL before it looks for a proxy, so the
    // proxy sees nothing at all (the standalone matrix builds this crate without TLS).
    let expected: &[&str] = if cfg!(any(feature = "rustls", feature = "native-tls")) {
        &["CONNECT api.example.invalid:443 HTTP/1.1"]
    } else {
        &[]
    };
    assert_eq!(seen, expected, "only the https request, tunnelled");
}
