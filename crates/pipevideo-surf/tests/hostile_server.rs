//! A hostile HTTP/1.1 server on loopback (raw bytes written on a `TcpListener`) against this
//! crate's pool: malformed response heads are errors, never panics, and extreme configuration
//! values never overflow.
#![cfg(feature = "h1-client")]

use std::cell::Cell;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Once;
use std::thread;
use std::time::Duration;

use pipevideo_core::transport::{Cause, FailureKind, HttpClient, SendOptions, TransportError};
use pipevideo_surf::SurfTransport;
use proptest::prelude::*;

thread_local! {
    /// Panics on this thread, caught or not.
    static PANICS: Cell<usize> = const { Cell::new(0) };
}

/// Counts panics per thread (a `catch_unwind` hides a panic from the result, not from the
/// hook), then lets the default hook print it.
fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.with(|count| count.set(count.get() + 1));
            previous(info);
        }));
    });
}

/// Answers every request of every connection with `reply`, then closes the connection.
fn hostile(reply: Vec<u8>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let reply = reply.clone();
            thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => break,
                        Ok(_) => {}
                    }
                }
                let _ = reader.get_mut().write_all(&reply);
            });
        }
    });
    addr
}

async fn get(
    transport: &SurfTransport,
    addr: SocketAddr,
) -> Result<http::Response<Vec<u8>>, TransportError> {
    let request = http::Request::get(format!("http://{addr}/v1/usage"))
        .body(Vec::new())
        .expect("a request");
    transport
        .send(
            request,
            SendOptions::new().with_timeout(Duration::from_secs(5)),
        )
        .await
}

/// The exchange fails as an invalid response, on this thread without any panic.
fn refused_without_panic(reply: &[u8], names: &str) {
    count_panics();
    let addr = hostile(reply.to_vec());
    let error = async_io::block_on(get(&SurfTransport::new(), addr)).expect_err("refused");
    assert_eq!(
        PANICS.with(Cell::get),
        0,
        "the HTTP stack panicked on the response (caught or not): {error}"
    );
    assert_eq!(error.kind(), FailureKind::MaybeSent, "{error}");
    assert_eq!(error.cause(), Cause::InvalidResponse, "{error}");
    assert!(error.to_string().contains(names), "{error}");
}

#[test]
fn a_utf8_header_value_beyond_ascii_is_an_invalid_response_not_a_panic() {
    refused_without_panic(
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Cafe: café\r\n\r\nok".as_bytes(),
        "x-cafe",
    );
}

#[test]
fn a_latin1_header_value_is_an_invalid_response_not_a_panic() {
    refused_without_panic(
        b"HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 2\r\n\r\nok",
        "x-name",
    );
}

#[test]
fn a_head_longer_than_8_kib_is_an_invalid_response() {
    let mut reply = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..200 {
        reply.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "a".repeat(60)).as_bytes());
    }
    reply.extend_from_slice(b"Content-Length: 2\r\n\r\nok");
    refused_without_panic(&reply, "8");
}

#[test]
fn a_reason_phrase_beyond_ascii_is_accepted() {
    count_panics();
    let addr = hostile(
        "HTTP/1.1 200 Ökay\r\nContent-Length: 2\r\n\r\nok"
            .as_bytes()
            .to_vec(),
    );
    let response = async_io::block_on(get(&SurfTransport::new(), addr)).expect("an answer");
    assert_eq!(response.status(), 200);
    assert_eq!(response.into_body(), b"ok");
    assert_eq!(PANICS.with(Cell::get), 0);
}

/// A config's timeout too large for an `Instant` means "no timeout", not an overflow panic.
#[test]
fn a_timeout_past_what_an_instant_holds_is_no_timeout() {
    let addr = hostile(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec());
    for timeout in [
        Duration::MAX,
        Duration::from_secs(u64::MAX / 2),
        Duration::from_secs(1 << 40),
    ] {
        let config = surf::Config::new().set_timeout(Some(timeout));
        let transport = SurfTransport::try_from(config).expect("a transport");
        let response = async_io::block_on(get(&transport, addr))
            .unwrap_or_else(|e| panic!("timeout {timeout:?}: {e}"));
        assert_eq!(response.into_body(), b"ok", "timeout {timeout:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Any surf config timeout, from zero to `Duration::MAX`: an answer or a typed timeout.
    #[test]
    fn any_config_timeout_gives_an_answer_or_a_typed_timeout(
        secs in prop_oneof![Just(u64::MAX), Just(0u64), any::<u64>(), 0u64..5],
        nanos in 0u32..1_000_000_000,
    ) {
        let addr = hostile(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec());
        let timeout = Duration::new(secs, nanos);
        let config = surf::Config::new().set_timeout(Some(timeout));
        let transport = SurfTransport::try_from(config).expect("a transport");
        match async_io::block_on(get(&transport, addr)) {
            Ok(response) => prop_assert_eq!(response.into_body(), b"ok".to_vec()),
            Err(error) => prop_assert_eq!(error.cause(), Cause::Timeout, "{}", error),
        }
    }
}
