//! The transport contract of [`pipevideo_core::transport`], as generic test cases.
//!
//! Each case is an `async fn(&T)` for any [`Transport`]; it starts its own scripted
//! [`Server`], exercises the transport and panics on a broken promise.
//! [`transport_conformance!`](crate::transport_conformance) turns every case into a `#[test]`
//! for one transport and executor. Real time is used, in short spans: the timeouts here are
//! a few hundred milliseconds.

use std::io;
use std::time::Duration;

use pipevideo_core::transport::{
    Cause, ChunkSink, DownloadBody, DownloadOptions, FailureKind, SendOptions, Transport,
};

use crate::server::{Recorded, Reply, Server, chunked_head, head, refused_url, response};

const JSON: (&str, &[u8]) = ("content-type", b"application/json");

fn get(url: &str) -> http::Request<Vec<u8>> {
    http::Request::get(url)
        .body(Vec::new())
        .expect("a valid request")
}

/// The statuses of the API's error table plus the usual successes, each with its own body.
pub const STATUSES: &[u16] = &[
    200, 201, 202, 400, 401, 402, 403, 404, 409, 422, 429, 500, 502, 503, 504,
];

fn status_body(status: u16) -> Vec<u8> {
    format!(r#"{{"error":{{"code":"E{status}","message":"status {status}"}},"data":{{"retry_after":3}}}}"#)
        .into_bytes()
}

/// Every status comes back as a response, never an error, with its body byte for byte.
pub async fn every_status_and_body_pass_through<T: Transport>(transport: &T) {
    let server = Server::start(|request: &Recorded| {
        let status: u16 = request
            .target
            .trim_start_matches('/')
            .parse()
            .unwrap_or(500);
        let body = if status == 204 {
            Vec::new()
        } else {
            status_body(status)
        };
        Reply::Raw(response(status, "Whatever", &[JSON], &body))
    });
    for &status in STATUSES {
        let reply = transport
            .send(get(&server.url(&format!("/{status}"))), SendOptions::new())
            .await
            .unwrap_or_else(|e| panic!("status {status} must be a response, got {e}"));
        assert_eq!(reply.status().as_u16(), status);
        assert_eq!(reply.body(), &status_body(status), "body of {status}");
        assert_eq!(reply.headers()["content-type"], "application/json");
    }
    let reply = transport
        .send(get(&server.url("/204")), SendOptions::new())
        .await
        .unwrap();
    assert_eq!(reply.status(), 204);
    assert!(reply.body().is_empty());
}

/// A proxy's HTML error page is a response like any other; decoding it is the core's job.
pub async fn html_502_is_a_response<T: Transport>(transport: &T) {
    let page = b"<html><body><h1>502 Bad Gateway</h1></body></html>\n";
    let server = Server::start(move |_: &Recorded| {
        Reply::Raw(response(
            502,
            "Bad Gateway",
            &[("content-type", b"text/html")],
            page,
        ))
    });
    let reply = transport
        .send(get(&server.url("/")), SendOptions::new())
        .await
        .unwrap();
    assert_eq!(reply.status(), 502);
    assert_eq!(reply.headers()["content-type"], "text/html");
    assert_eq!(reply.body(), page);
}

/// Method, path, query, every header (repeats in order, no Content-Type added or doubled) and
/// the body reach the server as given.
pub async fn request_is_sent_faithfully<T: Transport>(transport: &T) {
    let server = Server::start(|_: &Recorded| Reply::Raw(response(200, "OK", &[], b"{}")));
    let body = br#"{"model":"pv-1","input":"a cat"}"#.to_vec();
    let request = http::Request::post(server.url("/v1/responses?x=1&y=%20"))
        .header("authorization", "Bearer pv_test_key")
        .header("content-type", "application/json")
        .header("idempotency-key", "idem-123")
        .header("x-repeat", "first")
        .header("x-repeat", "second")
        .body(body.clone())
        .unwrap();
    transport.send(request, SendOptions::new()).await.unwrap();
    let bodiless = http::Request::post(server.url("/v1/cancel"))
        .body(b"raw".to_vec())
        .unwrap();
    transport.send(bodiless, SendOptions::new()).await.unwrap();
    transport
        .send(get(&server.url("/v1/engines")), SendOptions::new())
        .await
        .unwrap();

    let seen = server.requests();
    assert_eq!(seen.len(), 3);
    let post = seen
        .iter()
        .find(|r| r.target.starts_with("/v1/responses"))
        .unwrap();
    assert_eq!(post.method, "POST");
    assert_eq!(post.target, "/v1/responses?x=1&y=%20");
    assert_eq!(post.body, body);
    assert_eq!(post.header_values("content-type"), [b"application/json"]);
    assert_eq!(post.header_values("authorization"), [b"Bearer pv_test_key"]);
    assert_eq!(post.header_values("idempotency-key"), [b"idem-123"]);
    assert_eq!(
        post.header_values("x-repeat"),
        [b"first".as_slice(), b"second"],
        "both, in order"
    );

    let raw = seen.iter().find(|r| r.target == "/v1/cancel").unwrap();
    assert_eq!(raw.body, b"raw");
    assert!(
        raw.header_values("content-type").is_empty(),
        "no Content-Type was asked for"
    );
    let get = seen.iter().find(|r| r.target == "/v1/engines").unwrap();
    assert_eq!(get.method, "GET");
    assert!(get.header_values("content-type").is_empty());
}

/// Repeated response headers come back as separate values, in order.
pub async fn repeated_response_headers_are_kept<T: Transport>(transport: &T) {
    let server = Server::start(|_: &Recorded| {
        Reply::Raw(response(
            200,
            "OK",
            &[
                ("x-multi", b"a"),
                ("link", b"<x>"),
                ("x-multi", b"b"),
                ("x-multi", b"c"),
            ],
            b"",
        ))
    });
    let reply = transport
        .send(get(&server.url("/")), SendOptions::new())
        .await
        .unwrap();
    let values: Vec<_> = reply.headers().get_all("x-multi").iter().collect();
    assert_eq!(values, ["a", "b", "c"]);
    assert_eq!(reply.headers()["link"], "<x>");
}

/// A request header value that is not visible ASCII fails with a typed, permanent error and
/// nothing is sent.
pub async fn non_ascii_request_header_is_refused_before_sending<T: Transport>(transport: &T) {
    let server = Server::start(|_: &Recorded| Reply::Raw(response(200, "OK", &[], b"")));
    let value = http::HeaderValue::from_bytes("café".as_bytes()).unwrap();
    let request = http::Request::get(server.url("/"))
        .header("x-name", value)
        .body(Vec::new());
    let err = transport
        .send(request.unwrap(), SendOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), FailureKind::Permanent);
    assert_eq!(err.cause(), Cause::InvalidRequest);
    assert!(err.message().contains("x-name"), "{err}");
    assert_eq!(server.connections(), 0, "nothing may reach the server");
}

/// A response header value with bytes beyond ASCII: the response still arrives with its
/// status and body, and any transport that keeps the header keeps its bytes exactly.
pub async fn non_ascii_response_header<T: Transport>(transport: &T) {
    let server = Server::start(|_: &Recorded| {
        Reply::Raw(response(
            200,
            "OK",
            &[("x-name", "café".as_bytes())],
            b"body",
        ))
    });
    match transport
        .send(get(&server.url("/")), SendOptions::new())
        .await
    {
        Ok(reply) => {
            assert_eq!(reply.body(), b"body");
            if let Some(value) = reply.headers().get("x-name") {
                assert_eq!(value.as_bytes(), "café".as_bytes());
            }
        }
        Err(err) => {
            // Refusing the response is allowed, but only as an invalid response.
            assert_eq!(err.cause(), Cause::InvalidResponse, "{err}");
            assert_ne!(err.kind(), FailureKind::NotSent);
        }
    }
}

/// Nobody listening: the request never left, so even a create may be retried.
pub async fn connection_refused_is_not_sent<T: Transport>(transport: &T) {
    let err = transport
        .send(get(&refused_url()), SendOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), FailureKind::NotSent, "{err}");
    assert_eq!(err.cause(), Cause::Connect, "{err}");
}

/// A reset after part of the body: the server may have acted on the request.
pub async fn reset_mid_body_is_maybe_sent<T: Transport>(transport: &T) {
    let server = Server::start(|_: &Recorded| {
        let mut bytes = head(200, "OK", &[("content-length", b"1000")]);
        bytes.extend_from_slice(&[b'{'; 100]);
        Reply::ResetAfter(bytes)
    });
    let err = transport
        .send(get(&server.url("/")), SendOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), FailureKind::MaybeSent, "{err}");
    assert_eq!(server.requests().len(), 1);
}

/// A clean close before `Content-Length` bytes arrived is a cut-off body, not a short one.
pub async fn closed_mid_body_is_maybe_sent<T: Transport>(transport: &T) {
    let server = Server::start(|_: &Recorded| {
        let mut bytes = head(200, "OK", &[("content-length", b"1000")]);
        bytes.extend_from_slice(&[b'{'; 100]);
        Reply::Close(bytes)
    });
    let err = transport
        .send(get(&server.url("/")), SendOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), FailureKind::MaybeSent, "{err}");
}

/// Headers that do not come within the per-attempt timeout: a timeout, maybe sent.
pub async fn slow_headers_time_out_as_maybe_sent<T: Transport>(transport: &T) {
    let server = Server::start(|_: &Recorded| {
        Reply::After(
            Duration::from_secs(3),
            Box::new(Reply::Raw(response(200, "OK", &[], b""))),
        )
    });
    let timeout = Duration::from_millis(300);
    let started = transport.now();
    let options = SendOptions::new().with_timeout(timeout);
    let err = transport
        .send(get(&server.url("/")), options)
        .await
        .unwrap_err();
    let took = transport.now() - started;
    assert!(err.is_timeout(), "{err}");
    assert_eq!(err.kind(), FailureKind::MaybeSent);
    assert!(
        took >= timeout && took < Duration::from_secs(2),
        "took {took:?}"
    );
}

/// The per-attempt timeout covers the body too, not only the headers.
pub async fn slow_body_times_out<T: Transport>(transport: &T) {
    let server = Server::start(|_: &Recorded| Reply::Trickle {
        head: head(200, "OK", &[("content-length", b"40")]),
        chunk: 10,
        count: 4,
        pause: Duration::from_millis(400),
    });
    let options = SendOptions::new().with_timeout(Duration::from_millis(300));
    let err = transport
        .send(get(&server.url("/")), options)
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
}

/// A `Content-Length` over the cap is refused before reading the body.
pub async fn declared_oversized_body_is_refused_at_once<T: Transport>(transport: &T) {
    let server = Server::start(|_: &Recorded| {
        let mut bytes = head(200, "OK", &[("content-length", b"10000000000")]);
        bytes.extend_from_slice(&[b'x'; 64 * 1024]);
        Reply::Close(bytes)
    });
    let options = SendOptions::new().with_body_limit(1024 * 1024);
    let err = transport
        .send(get(&server.url("/")), options)
        .await
        .unwrap_err();
    assert_eq!(err.cause(), Cause::BodyTooLarge { limit: 1024 * 1024 });
    assert_eq!(err.kind(), FailureKind::Permanent);
}

/// A huge `Content-Length` under a raised cap reserves nothing up front: the length is only the
/// server's word, and a buffer of that size would abort the process. The short body that
/// follows is a cut-off body.
pub async fn a_huge_declared_length_is_not_allocated<T: Transport>(transport: &T) {
    let server = Server::start(|_: &Recorded| {
        let mut bytes = head(200, "OK", &[("content-length", b"4611686018427387904")]);
        bytes.extend_from_slice(b"abc");
        Reply::Close(bytes)
    });
    let options = SendOptions::new().with_body_limit(u64::MAX);
    let err = transport
        .send(get(&server.url("/")), options)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), FailureKind::MaybeSent, "{err}");
}

/// A chunked body that goes on and on: reading stops once the cap is crossed, long
/// before the server is done.
pub async fn endless_body_stops_at_the_cap<T: Transport>(transport: &T) {
    let cap = 4u64 << 30;
    let server = Server::start(move |_: &Recorded| Reply::Endless {
        head: chunked_head(200, "OK", &[]),
        chunk: 64 * 1024,
        cap,
    });
    let options = SendOptions::new().with_body_limit(1024 * 1024);
    let err = transport
        .send(get(&server.url("/")), options)
        .await
        .unwrap_err();
    assert_eq!(err.cause(), Cause::BodyTooLarge { limit: 1024 * 1024 });
    // Give the server a moment to notice the client is gone, then check it stopped early.
    std::thread::sleep(Duration::from_millis(200));
    let sent = server.body_bytes_sent();
    assert!(
        sent < 256 << 20,
        "the transport kept reading: {sent} bytes sent"
    );
}

/// A body of exactly the cap is accepted.
pub async fn body_at_the_cap_is_accepted<T: Transport>(transport: &T) {
    let server = Server::start(|_: &Recorded| Reply::Raw(response(200, "OK", &[], &[b'a'; 4096])));
    let options = SendOptions::new().with_body_limit(4096);
    let reply = transport
        .send(get(&server.url("/")), options)
        .await
        .unwrap();
    assert_eq!(reply.body().len(), 4096);
    let err = transport
        .send(get(&server.url("/")), options.with_body_limit(4095))
        .await;
    assert_eq!(
        err.unwrap_err().cause(),
        Cause::BodyTooLarge { limit: 4095 }
    );
}

/// A redirect to another host comes back as the `3xx` itself: the `Authorization` header is
/// never carried to the other host.
pub async fn redirect_is_returned_not_followed<T: Transport>(transport: &T) {
    let elsewhere = Server::start(|_: &Recorded| Reply::Raw(response(200, "OK", &[], b"stolen")));
    let location = elsewhere.url("/collect");
    let server = Server::start(move |_: &Recorded| {
        Reply::Raw(response(
            302,
            "Found",
            &[("location", location.as_bytes())],
            b"",
        ))
    });
    let request = http::Request::get(server.url("/v1/responses/gen_1"))
        .header("authorization", "Bearer pv_secret")
        .body(Vec::new())
        .unwrap();
    let reply = transport.send(request, SendOptions::new()).await.unwrap();
    assert_eq!(reply.status(), 302);
    assert_eq!(
        reply.headers()["location"],
        elsewhere.url("/collect").as_str()
    );
    assert!(elsewhere.requests().is_empty(), "the redirect was followed");
}

/// Counts chunks and bytes, keeps none of them.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct CountingSink {
    /// Chunks received.
    pub chunks: usize,
    /// Bytes received.
    pub bytes: u64,
    /// The largest chunk.
    pub largest: usize,
    /// Whether `finish` was called.
    pub finished: bool,
}

#[async_trait::async_trait]
impl ChunkSink for CountingSink {
    async fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        assert!(!chunk.is_empty(), "chunks are never empty");
        self.chunks += 1;
        self.bytes += chunk.len() as u64;
        self.largest = self.largest.max(chunk.len());
        Ok(())
    }

    async fn finish(&mut self) -> io::Result<()> {
        self.finished = true;
        Ok(())
    }
}

/// A 64 MiB video arrives in many small chunks: the transport never holds the whole body.
pub async fn download_streams_in_chunks<T: Transport>(transport: &T) {
    let size: u64 = 64 << 20;
    let server = Server::start(move |_: &Recorded| Reply::Endless {
        head: chunked_head(200, "OK", &[("content-type", b"video/mp4")]),
        chunk: 64 * 1024,
        cap: size,
    });
    let mut sink = CountingSink::default();
    let reply = transport.download(
        get(&server.url("/v.mp4")),
        &mut sink,
        DownloadOptions::new(),
    );
    let reply = reply.await.unwrap();
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.headers()["content-type"], "video/mp4");
    assert_eq!(*reply.body(), DownloadBody::Written(size));
    assert_eq!(sink.bytes, size);
    assert!(sink.finished);
    assert!(sink.chunks >= 64, "only {} chunks", sink.chunks);
    assert!(sink.largest <= 1 << 20, "a chunk of {} bytes", sink.largest);
}

/// An expired signed URL answers 403: the sink gets nothing, the caller gets the error page.
pub async fn download_of_an_error_status_writes_nothing<T: Transport>(transport: &T) {
    let page = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>";
    let server = Server::start(move |_: &Recorded| {
        Reply::Raw(response(
            403,
            "Forbidden",
            &[("content-type", b"application/xml")],
            page,
        ))
    });
    let mut sink = CountingSink::default();
    let reply = transport.download(
        get(&server.url("/v.mp4")),
        &mut sink,
        DownloadOptions::new(),
    );
    let reply = reply.await.unwrap();
    assert_eq!(reply.status(), 403);
    assert_eq!(*reply.body(), DownloadBody::NotWritten(page.to_vec()));
    assert_eq!((sink.chunks, sink.finished), (0, false));
}

/// `max_bytes` stops a download: at once when the length is announced, at the cap otherwise.
pub async fn download_stops_at_max_bytes<T: Transport>(transport: &T) {
    let announced = Server::start(|_: &Recorded| Reply::Raw(response(200, "OK", &[], &[1; 5000])));
    let options = DownloadOptions::new().with_max_bytes(4000);
    let mut sink = CountingSink::default();
    let err = transport
        .download(get(&announced.url("/")), &mut sink, options)
        .await
        .unwrap_err();
    assert_eq!(err.cause(), Cause::BodyTooLarge { limit: 4000 });
    assert_eq!(
        sink.bytes, 0,
        "a announced length over the cap writes nothing"
    );

    let unannounced = Server::start(|_: &Recorded| Reply::Endless {
        head: chunked_head(200, "OK", &[]),
        chunk: 1000,
        cap: 1 << 30,
    });
    let options = DownloadOptions::new().with_max_bytes(100_000);
    let mut sink = CountingSink::default();
    let err = transport
        .download(get(&unannounced.url("/")), &mut sink, options)
        .await
        .unwrap_err();
    assert_eq!(err.cause(), Cause::BodyTooLarge { limit: 100_000 });
    assert_eq!(
        sink.bytes, 100_000,
        "everything up to the cap, nothing past it"
    );
    assert!(!sink.finished);
}

/// A stream that stalls longer than the idle timeout fails, though each chunk came in time
/// before it.
pub async fn download_idle_timeout<T: Transport>(transport: &T) {
    let server = Server::start(|_: &Recorded| Reply::Trickle {
        head: head(200, "OK", &[("content-length", b"30")]),
        chunk: 10,
        count: 3,
        pause: Duration::from_millis(100),
    });
    let options = DownloadOptions::new().with_idle_timeout(Duration::from_millis(1000));
    let mut sink = CountingSink::default();
    let reply = transport
        .download(get(&server.url("/")), &mut sink, options)
        .await
        .unwrap();
    assert_eq!(
        *reply.body(),
        DownloadBody::Written(30),
        "pauses under the idle timeout are fine"
    );

    let stalling = Server::start(|_: &Recorded| Reply::Trickle {
        head: head(200, "OK", &[("content-length", b"20")]),
        chunk: 10,
        count: 2,
        pause: Duration::from_millis(1500),
    });
    let options = DownloadOptions::new().with_idle_timeout(Duration::from_millis(300));
    let mut sink = CountingSink::default();
    let err = transport
        .download(get(&stalling.url("/")), &mut sink, options)
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(sink.bytes, 10);
}

struct FullDisk;

#[async_trait::async_trait]
impl ChunkSink for FullDisk {
    async fn write_chunk(&mut self, _: &[u8]) -> io::Result<()> {
        Err(io::Error::new(io::ErrorKind::StorageFull, "no space left"))
    }
}

/// A sink that fails ends the download with a permanent error naming the sink.
pub async fn download_sink_failure_is_permanent<T: Transport>(transport: &T) {
    let server = Server::start(|_: &Recorded| Reply::Raw(response(200, "OK", &[], &[1; 100])));
    let err = transport
        .download(get(&server.url("/")), &mut FullDisk, DownloadOptions::new())
        .await
        .unwrap_err();
    assert_eq!(err.cause(), Cause::Sink);
    assert_eq!(err.kind(), FailureKind::Permanent);
    assert!(err.message().contains("no space left"), "{err}");
}

/// `sleep` and `now` read one clock: a sleep of 50 ms moves `now` by at least 50 ms, and
/// `sleep_until` a deadline taken from `now` wakes after it.
pub async fn sleep_and_now_share_one_clock<T: Transport>(transport: &T) {
    let before = transport.now();
    transport.sleep(Duration::from_millis(50)).await;
    let slept = transport.now() - before;
    assert!(slept >= Duration::from_millis(50), "slept {slept:?}");
    assert!(slept < Duration::from_secs(2), "slept {slept:?}");

    let deadline = transport.now() + Duration::from_millis(30);
    transport.sleep_until(deadline).await;
    assert!(transport.now() >= deadline);
    let past = transport.now();
    transport.sleep_until(past - Duration::from_millis(1)).await;
}

/// `wall_now` is the real wall clock for the real transports.
pub async fn wall_clock_is_the_system_clock<T: Transport>(transport: &T) {
    let system = std::time::SystemTime::now();
    let wall = transport.wall_now();
    let skew = wall.duration_since(system).unwrap_or_else(|e| e.duration());
    assert!(skew < Duration::from_secs(1), "skew {skew:?}");
}
