//! A server that echoes the key: text the server sends (error messages, raw bodies, failure
//! messages) is scrubbed of the client's API key, whatever its shape, and of any `pv_…`-shaped
//! token, before it is stored in an error. Neither the key nor its 12-character tail may appear
//! in an error's `Display`, `Debug` (plain or `#`), its `source()` chain, `server_message()`,
//! `api_error().message()` / `raw_body()`, `failure().message`, or any log record the SDK
//! writes at TRACE.
//!
//! The keys come in three shapes: `pv_` + hex (the documented one, which the `pv_` token rule
//! catches too), and two that only the exact-key scrub can catch (`sk-live-…`, a bare
//! alphanumeric string). The echoed key is taken from the request's `Authorization` header, as a
//! careless (or hostile) server would.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures_executor::block_on;
use http::{Request, Response};
use pipevideo_core::client::{Client, WaitOptions};
use pipevideo_core::model::CreateResponse;
use pipevideo_core::transport::testing::{FnTransport, VirtualClock};
use pipevideo_core::transport::{Transport, TransportError};
use pipevideo_core::{ApiKey, BaseUrl, Error, GenerationRef};

const PV_KEY: &str = "pv_5e1f0c2a9b8d7e6f4a3b2c1d0e9f8a7b";
const ODD_KEY: &str = "sk-live-abc123def456";
const BARE_KEY: &str = "Zx9Qk2Lm7Np4Rt6Vw8Yb3Hc5";
/// A `pv_` token that is not the client's key (another organization's, say).
const FOREIGN: &str = "pv_ffffeeee0000111122223333";
const ID: &str = "gen_echo0001";
const REF: &str = "responses:gen_echo0001";
const CDN_HOST: &str = "cdn.example";
/// Text next to the key in every echoed message: its presence proves the message reached the
/// error (scrubbed, not dropped).
const ORG: &str = "org_7f3a";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Create,
    Poll,
    Usage,
    Video,
}

/// What the server answers on a route, given the key it was sent.
type Respond = fn(Route, &str) -> (u16, String);

fn queued() -> String {
    format!(r#"{{"id":"{ID}","object":"response","status":"queued","created_at":1767225600}}"#)
}

fn completed() -> String {
    format!(
        r#"{{"id":"{ID}","object":"response","status":"completed","created_at":1767225600,"video_url":"https://{CDN_HOST}/files/{ID}.mp4"}}"#
    )
}

fn json_message(status: u16, message: &str) -> (u16, String) {
    (
        status,
        serde_json::json!({ "message": message }).to_string(),
    )
}

// ---- the scenarios -------------------------------------------------------------------------

fn unauthorized_echo(_: Route, key: &str) -> (u16, String) {
    json_message(401, &format!("Invalid API key {key} for org {ORG}"))
}

fn unauthorized_orpc_echo(_: Route, key: &str) -> (u16, String) {
    (
        401,
        serde_json::json!({
            "defined": false,
            "code": "UNAUTHORIZED",
            "status": 401,
            "message": format!("API key {key} is inactive ({ORG})"),
            "data": { "authorization": format!("Bearer {key}"), "also": FOREIGN },
        })
        .to_string(),
    )
}

fn foreign_token(_: Route, _key: &str) -> (u16, String) {
    json_message(401, &format!("Key {FOREIGN} was revoked for org {ORG}"))
}

fn html_bad_request(_: Route, key: &str) -> (u16, String) {
    (
        400,
        format!(
            "<html><body><h1>Bad Request</h1><pre>Authorization: Bearer {key}</pre>\
             <p>{ORG}</p></body></html>"
        ),
    )
}

fn html_server_error(_: Route, key: &str) -> (u16, String) {
    (
        500,
        format!("<html><body><h1>Oops</h1><!-- request key={key} --><p>{ORG}</p></body></html>"),
    )
}

fn rate_limited_echo(_: Route, key: &str) -> (u16, String) {
    (
        429,
        serde_json::json!({
            "message": format!("Rate limit exceeded for key {key} ({ORG})"),
            "data": { "retry_after": 5 },
        })
        .to_string(),
    )
}

fn undecodable_ok(_: Route, key: &str) -> (u16, String) {
    (200, format!("<html>Welcome back, {key} ({ORG})</html>"))
}

fn failed_generation(route: Route, key: &str) -> (u16, String) {
    match route {
        Route::Create => (200, queued()),
        _ => (
            200,
            serde_json::json!({
                "id": ID,
                "object": "response",
                "status": "failed",
                "created_at": 1767225600,
                "error": { "message": format!("Provider rejected credentials {key} ({ORG})") },
            })
            .to_string(),
        ),
    }
}

fn failed_generation_legacy_field(route: Route, key: &str) -> (u16, String) {
    match route {
        Route::Create => (200, queued()),
        _ => (
            200,
            serde_json::json!({
                "id": ID,
                "object": "response",
                "status": "failed",
                "created_at": 1767225600,
                "errorMessage": format!("Render failed: token {key} ({ORG})"),
            })
            .to_string(),
        ),
    }
}

fn download_denied(route: Route, key: &str) -> (u16, String) {
    match route {
        Route::Video => (
            403,
            format!("<Error><Code>AccessDenied</Code><Message>key {key}</Message></Error>"),
        ),
        _ => (200, completed()),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Create,
    Retrieve,
    Usage,
    Wait,
    Generate,
    Download,
}

struct Scenario {
    name: &'static str,
    respond: Respond,
    calls: &'static [Call],
    /// Whether the Display must still carry the non-secret part of the message ([`ORG`]).
    message_kept: bool,
}

fn scenarios() -> Vec<Scenario> {
    use Call::*;
    vec![
        Scenario {
            name: "401 echoing the key",
            respond: unauthorized_echo,
            calls: &[Create, Retrieve, Usage, Wait, Generate],
            message_kept: true,
        },
        Scenario {
            name: "401 oRPC body echoing the key in message and data",
            respond: unauthorized_orpc_echo,
            calls: &[Create, Retrieve, Wait],
            message_kept: true,
        },
        Scenario {
            name: "401 naming another pv_ token",
            respond: foreign_token,
            calls: &[Create, Retrieve, Wait],
            message_kept: true,
        },
        Scenario {
            name: "400 HTML page with the Authorization header",
            respond: html_bad_request,
            calls: &[Create, Retrieve, Wait],
            message_kept: false,
        },
        Scenario {
            name: "500 HTML page with the key, retries run out",
            respond: html_server_error,
            calls: &[Create, Retrieve],
            message_kept: false,
        },
        Scenario {
            name: "429 echoing the key, retries run out",
            respond: rate_limited_echo,
            calls: &[Create, Usage],
            message_kept: true,
        },
        Scenario {
            name: "200 that does not decode, with the key",
            respond: undecodable_ok,
            calls: &[Create, Retrieve],
            message_kept: false,
        },
        Scenario {
            name: "failed generation whose error names the key",
            respond: failed_generation,
            calls: &[Wait, Generate],
            message_kept: true,
        },
        Scenario {
            name: "failed generation whose errorMessage names the key",
            respond: failed_generation_legacy_field,
            calls: &[Wait, Generate],
            message_kept: true,
        },
        Scenario {
            name: "the video host's 403 names the key",
            respond: download_denied,
            calls: &[Download],
            message_kept: false,
        },
    ]
}

// ---- the client over the echoing server ------------------------------------------------------

fn client(key: &'static str, respond: Respond) -> Client<impl Transport + use<>> {
    let transport = FnTransport::new(
        VirtualClock::new(Instant::now()),
        move |request: Request<Vec<u8>>| {
            let route = if request.uri().host() == Some(CDN_HOST) {
                Route::Video
            } else if request.method() == http::Method::POST {
                Route::Create
            } else if request.uri().path().ends_with("/usage") {
                Route::Usage
            } else {
                Route::Poll
            };
            // The server echoes what it was sent; the video host is sent no key, so it echoes
            // the one it knows of (a signed URL's owner, say).
            let sent = request
                .headers()
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned);
            assert!(
                route == Route::Video || sent.as_deref() == Some(key),
                "the request did not carry the key"
            );
            let echoed = sent.unwrap_or_else(|| key.to_owned());
            let (status, body) = respond(route, &echoed);
            let content_type = if body.starts_with('{') {
                "application/json"
            } else {
                "text/html"
            };
            let response = Response::builder()
                .status(status)
                .header("content-type", content_type)
                .body(body.into_bytes())
                .unwrap();
            async move { Ok::<_, TransportError>(response) }
        },
    );
    Client::builder(transport)
        .api_key(ApiKey::new(key).unwrap())
        .base_url(BaseUrl::parse("http://127.0.0.1:3001/v1").unwrap())
        .seed(15)
        .build()
        .unwrap()
}

fn call<T: Transport>(client: &Client<T>, call: Call) -> Result<String, Error> {
    let reference: GenerationRef = REF.parse().unwrap();
    let prompt = CreateResponse::new("moonshotai/kimi-k2.5", "A cat on a beach");
    let deadline = WaitOptions::new().with_deadline(Duration::from_secs(120));
    block_on(async {
        match call {
            Call::Create => client.create(&prompt).await.map(|h| format!("{h:?}")),
            Call::Retrieve => client.retrieve(&reference).await.map(|g| format!("{g:?}")),
            Call::Usage => client.usage().await.map(|u| format!("{u:?}")),
            Call::Wait => client
                .wait_with(&reference, deadline)
                .await
                .map(|g| format!("{g:?}")),
            Call::Generate => {
                let handle = client.create(&prompt).await?;
                handle.wait_with(deadline).await.map(|g| format!("{g:?}"))
            }
            Call::Download => {
                let generation = client.retrieve(&reference).await?;
                let mut sink = Vec::new();
                client
                    .download(&generation, &mut sink)
                    .await
                    .map(|n| format!("{n} bytes"))
            }
        }
    })
}

/// Every text an error exposes, labelled.
fn texts(error: &Error) -> Vec<(String, String)> {
    let mut out = vec![
        ("Display".to_owned(), error.to_string()),
        ("Debug".to_owned(), format!("{error:?}")),
        ("Debug (alternate)".to_owned(), format!("{error:#?}")),
    ];
    let mut source = std::error::Error::source(error);
    let mut depth = 0;
    while let Some(s) = source {
        depth += 1;
        out.push((format!("source #{depth} Display"), s.to_string()));
        out.push((format!("source #{depth} Debug"), format!("{s:?}")));
        source = s.source();
    }
    if let Some(message) = error.server_message() {
        out.push(("server_message()".to_owned(), message.to_owned()));
    }
    if let Some(api) = error.api_error() {
        out.push(("api_error().message()".to_owned(), api.message().to_owned()));
        out.push((
            "api_error().raw_body()".to_owned(),
            api.raw_body().to_owned(),
        ));
        out.push(("api_error() Debug".to_owned(), format!("{api:?}")));
    }
    if let Some(failure) = error.failure() {
        out.push(("failure().message".to_owned(), failure.message.clone()));
        out.push(("failure() Debug".to_owned(), format!("{failure:?}")));
    }
    out
}

/// The secrets a text must not contain: each whole, and its 12-character tail.
fn secrets(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for secret in [key, FOREIGN] {
        out.push(secret.to_owned());
        out.push(secret[secret.len() - 12..].to_owned());
    }
    out
}

/// Up to 60 characters either side of the first `needle` in `text`, on one line.
fn around(text: &str, needle: &str) -> String {
    let at = text.find(needle).unwrap_or(0);
    let start = text[..at]
        .char_indices()
        .rev()
        .nth(59)
        .map_or(0, |(i, _)| i);
    let end = text[at + needle.len()..]
        .char_indices()
        .nth(60)
        .map_or(text.len(), |(i, _)| at + needle.len() + i);
    text[start..end].replace('\n', "⏎")
}

type Buffer = Arc<Mutex<Vec<u8>>>;

struct BufferWriter(Buffer);

impl Write for BufferWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with every tracing record of this thread, at TRACE, written to a buffer; returns
/// `f`'s value and the log.
fn capture_logs<R>(f: impl FnOnce() -> R) -> (R, String) {
    let buffer: Buffer = Arc::default();
    let writer = Arc::clone(&buffer);
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || BufferWriter(Arc::clone(&writer)))
        .finish();
    let value = tracing::subscriber::with_default(subscriber, f);
    let log = String::from_utf8_lossy(&buffer.lock().unwrap_or_else(PoisonError::into_inner))
        .into_owned();
    (value, log)
}

fn sweep(key: &'static str) -> Vec<String> {
    let mut leaks = Vec::new();
    let forbidden = secrets(key);
    let mut errors = 0;
    let ((), log) = capture_logs(|| {
        for scenario in scenarios() {
            for &c in scenario.calls {
                let client = client(key, scenario.respond);
                let case = format!("{key:?} / {} [{c:?}]", scenario.name);
                let error = match call(&client, c) {
                    Ok(value) => {
                        leaks.push(format!("{case}: the call succeeded: {value}"));
                        continue;
                    }
                    Err(e) => e,
                };
                errors += 1;
                for (what, text) in texts(&error) {
                    for secret in &forbidden {
                        if text.contains(secret.as_str()) {
                            leaks.push(format!(
                                "{case}: {what} contains {secret:?}: …{}…",
                                around(&text, secret)
                            ));
                        }
                    }
                }
                let top = error.to_string();
                if scenario.message_kept && !top.contains(ORG) {
                    leaks.push(format!(
                        "{case}: the server's message was dropped, not scrubbed: {top}"
                    ));
                }
            }
        }
    });
    assert!(errors > 20, "only {errors} errors were provoked");
    assert!(
        log.contains("pipevideo"),
        "the log capture caught nothing:\n{log}"
    );
    for secret in &forbidden {
        for line in log.lines().filter(|l| l.contains(secret.as_str())) {
            leaks.push(format!(
                "{key:?}: a log record contains {secret:?}: …{}…",
                around(line, secret)
            ));
        }
    }
    leaks
}

#[test]
fn a_pv_key_echoed_by_the_server_is_scrubbed_everywhere() {
    let leaks = sweep(PV_KEY);
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

#[test]
fn an_odd_shaped_key_echoed_by_the_server_is_scrubbed_everywhere() {
    let leaks = sweep(ODD_KEY);
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

#[test]
fn a_bare_alphanumeric_key_echoed_by_the_server_is_scrubbed_everywhere() {
    let leaks = sweep(BARE_KEY);
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}

/// The scrub happens before the text is cut to its limits: a key that straddles the cut of the
/// message (1024 characters) or of the raw body (`RAW_BODY_LIMIT` bytes) leaves no piece of
/// itself behind (no 12-character run of the key survives anywhere).
#[test]
fn a_key_cut_by_a_length_limit_leaves_no_piece_behind() {
    fn windows(key: &str) -> Vec<&str> {
        (0..=key.len() - 12).map(|i| &key[i..i + 12]).collect()
    }
    let mut leaks = Vec::new();
    for key in [PV_KEY, ODD_KEY, BARE_KEY] {
        // Key starts placed so that the limit falls inside the key, at every position.
        let limits = [1024usize, pipevideo_core::RAW_BODY_LIMIT];
        for limit in limits {
            for inside in 1..key.len() {
                let start = limit - inside;
                // For the message limit, the padding is in the message itself; for the raw body,
                // the body's first bytes (`{"message":"`) count too.
                let prefix_len = if limit == 1024 {
                    start
                } else {
                    start - r#"{"message":""#.len()
                };
                // "…aaaa {key} for org …": the key is a word of its own, as an echo puts it.
                let message = format!("{} {key} for org {ORG}", "a".repeat(prefix_len - 1));
                let body = serde_json::json!({ "message": message }).to_string();
                let transport = FnTransport::new(VirtualClock::new(Instant::now()), {
                    let body = body.clone();
                    move |_request: Request<Vec<u8>>| {
                        let response = Response::builder()
                            .status(401)
                            .header("content-type", "application/json")
                            .body(body.clone().into_bytes())
                            .unwrap();
                        async move { Ok::<_, TransportError>(response) }
                    }
                });
                let client = Client::builder(transport)
                    .api_key(ApiKey::new(key).unwrap())
                    .base_url(BaseUrl::parse("http://127.0.0.1:3001/v1").unwrap())
                    .seed(15)
                    .build()
                    .unwrap();
                let error = block_on(client.usage()).unwrap_err();
                for (what, text) in texts(&error) {
                    if let Some(piece) = windows(key).into_iter().find(|w| text.contains(w)) {
                        leaks.push(format!(
                            "{key:?} cut at {inside} by the {limit} limit: {what} keeps {piece:?}: …{}…",
                            around(&text, piece)
                        ));
                        break;
                    }
                }
            }
        }
    }
    assert!(leaks.is_empty(), "{}", leaks.join("\n"));
}
