//! Issue 15, "Errors a user matches in one line": every way a call can fail, driven through the
//! client in virtual time over a scripted server, and read back through `Error::kind()` and the
//! accessors (`status`, `api_error`, `server_message`, `retry_after`, `is_retryable`,
//! `generation`, `idempotency_key`, `failure`).
//!
//! Each row of [`table`] is one failure scenario: the answers the server gives on the route the
//! call uses (the last one repeats), the calls it applies to (`create`, `retrieve`, `wait`,
//! `generate` = create then wait, `download`), and what every accessor must say. On top of the
//! accessors, every error obeys the report rule:
//!
//! - its `Display` is the whole story on one line and names the cause's distinctive text
//!   (the server's message, the status, the transport's message, …) exactly once;
//! - walking `source()` from the top never yields a text already contained in that line, so an
//!   anyhow-style report (`top: source: source…`) names the cause exactly once too.
//!
//! Every mismatch of every case is collected and reported together, as
//! `scenario [call]: what: expected …, got …`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_executor::block_on;
use http::{Request, Response};
use pipevideo_core::client::{CancelToken, Client, WaitOptions};
use pipevideo_core::model::{CreateResponse, FailureCause};
use pipevideo_core::policy::RetryPolicy;
use pipevideo_core::transport::TransportError;
use pipevideo_core::transport::testing::{FnTransport, VirtualClock};
use pipevideo_core::{ApiKey, BaseUrl, Error, ErrorKind, GenerationRef};

const KEY: &str = "pv_kinds_5f0e1d2c3b4a59687706";
const BASE: &str = "http://127.0.0.1:3001/v1";
const ID: &str = "gen_kindcase0001";
const REF: &str = "responses:gen_kindcase0001";
const CDN_HOST: &str = "cdn.example";

fn queued() -> String {
    format!(
        r#"{{"id":"{ID}","object":"response","status":"queued","created_at":1767225600,"model":"moonshotai/kimi-k2.5"}}"#
    )
}

fn in_progress() -> String {
    format!(
        r#"{{"id":"{ID}","object":"response","status":"in_progress","created_at":1767225600,"model":"moonshotai/kimi-k2.5"}}"#
    )
}

fn completed() -> String {
    format!(
        r#"{{"id":"{ID}","object":"response","status":"completed","created_at":1767225600,"model":"moonshotai/kimi-k2.5","video_url":"https://{CDN_HOST}/files/{ID}.mp4"}}"#
    )
}

/// A `failed` generation; `error` is the JSON of its failure detail (`"error":{…}`,
/// `"error":"…"` or `"errorMessage":"…"`).
fn failed(error: &str) -> String {
    format!(
        r#"{{"id":"{ID}","object":"response","status":"failed","created_at":1767225600,"model":"moonshotai/kimi-k2.5",{error}}}"#
    )
}

// ---------------------------------------------------------------------------------------------
// Body shapes of an error answer
// ---------------------------------------------------------------------------------------------

/// The documented `{ "message": … }`.
fn doc(message: &str) -> String {
    serde_json::json!({ "message": message }).to_string()
}

/// The documented 429: `{ "message": …, "data": { "retry_after": N } }`.
fn doc_retry(message: &str, retry_after: u64) -> String {
    serde_json::json!({ "message": message, "data": { "retry_after": retry_after } }).to_string()
}

/// oRPC's fuller default shape.
fn orpc(code: &str, status: u16, message: &str) -> String {
    serde_json::json!({
        "defined": false,
        "code": code,
        "status": status,
        "message": message,
        "data": {},
    })
    .to_string()
}

/// oRPC's shape with `data.retry_after`.
fn orpc_retry(status: u16, message: &str, retry_after: u64) -> String {
    serde_json::json!({
        "defined": true,
        "code": "TOO_MANY_REQUESTS",
        "status": status,
        "message": message,
        "data": { "retry_after": retry_after },
    })
    .to_string()
}

/// A proxy's HTML page. It never contains the status number, so that a status counted in the
/// `Display` is the SDK's, not a piece of the page.
fn html(title: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><title>{title}</title></head><body><h1>{title}</h1>\
         <p>The proxy could not complete the request.</p><hr><address>nginx</address></body></html>"
    )
}

// ---------------------------------------------------------------------------------------------
// The scripted server
// ---------------------------------------------------------------------------------------------

/// One answer of the scripted server.
#[derive(Clone, Debug)]
enum Answer {
    Http {
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        body: String,
    },
    Fail(TransportError),
    /// The server takes this long (the attempt times out before it answers).
    Hang(Duration),
}

fn http(status: u16, body: impl Into<String>) -> Answer {
    Answer::Http {
        status,
        headers: Vec::new(),
        body: body.into(),
    }
}

fn http_with(
    status: u16,
    headers: &[(&'static str, &'static str)],
    body: impl Into<String>,
) -> Answer {
    Answer::Http {
        status,
        headers: headers.to_vec(),
        body: body.into(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Route {
    /// `POST /v1/responses`.
    Create,
    /// `GET /v1/responses/{id}`: retrieve and every poll of a wait.
    Poll,
    /// The video's host.
    Video,
}

#[derive(Default)]
struct Script {
    answers: HashMap<Route, VecDeque<Answer>>,
    requests: HashMap<Route, usize>,
}

#[derive(Clone)]
struct Server {
    script: Arc<Mutex<Script>>,
    clock: VirtualClock,
}

impl Server {
    fn set(&self, route: Route, answers: Vec<Answer>) {
        self.script
            .lock()
            .unwrap()
            .answers
            .insert(route, answers.into());
    }

    fn requests(&self, route: Route) -> usize {
        self.script
            .lock()
            .unwrap()
            .requests
            .get(&route)
            .copied()
            .unwrap_or(0)
    }

    fn answer(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, TransportError> {
        let route = if request.uri().host() == Some(CDN_HOST) {
            Route::Video
        } else if request.method() == http::Method::POST {
            Route::Create
        } else {
            Route::Poll
        };
        let answer = {
            let mut script = self.script.lock().unwrap();
            *script.requests.entry(route).or_default() += 1;
            let queue = script.answers.entry(route).or_default();
            if queue.len() > 1 {
                queue.pop_front()
            } else {
                queue.front().cloned()
            }
        };
        let answer = answer.unwrap_or_else(|| match route {
            Route::Create => http(200, queued()),
            Route::Poll => http(200, in_progress()),
            Route::Video => http(200, "\0\0\0\x18ftypmp42 video bytes"),
        });
        match answer {
            Answer::Http {
                status,
                headers,
                body,
            } => {
                let mut response = Response::builder().status(status);
                if body.starts_with('{') {
                    response = response.header("content-type", "application/json");
                } else if body.starts_with('<') {
                    response = response.header("content-type", "text/html");
                }
                for (name, value) in headers {
                    response = response.header(name, value);
                }
                Ok(response.body(body.into_bytes()).unwrap())
            }
            Answer::Fail(error) => Err(error),
            Answer::Hang(duration) => {
                self.clock.advance(duration);
                Ok(Response::builder()
                    .status(200)
                    .body(queued().into_bytes())
                    .unwrap())
            }
        }
    }
}

type Scripted = FnTransport<
    Box<
        dyn Fn(Request<Vec<u8>>) -> std::future::Ready<Result<Response<Vec<u8>>, TransportError>>
            + Send
            + Sync,
    >,
>;

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Call {
    Create,
    Retrieve,
    Wait,
    /// `create` (answered `queued`), then the handle's wait.
    Generate,
    /// `retrieve` (answered `completed`), then `download`.
    Download,
}

use Call::{Create, Download, Generate, Retrieve, Wait};

const API: &[Call] = &[Create, Retrieve];
const API_AND_WAIT: &[Call] = &[Create, Retrieve, Wait];
const WAITS: &[Call] = &[Wait, Generate];

#[derive(Clone, Debug, Default)]
struct Setup {
    retry: Option<RetryPolicy>,
    body_limit: Option<u64>,
    wait_deadline: Option<Duration>,
    cancelled: bool,
    prompt: Option<&'static str>,
}

#[derive(Clone, Debug)]
struct Expect {
    kind: ErrorKind,
    status: Option<u16>,
    retry_after: Option<Duration>,
    server_message: Option<String>,
    /// Whether `api_error()` is `Some` (with the same status as `status()`); `None`: not asserted.
    api_error: Option<bool>,
    failure: Option<FailureCause>,
    /// The text that names the cause: it must appear exactly once in the `Display`.
    distinctive: String,
    /// Requests on the call's route (`create` and `retrieve` only); `None`: not asserted.
    attempts: Option<usize>,
    /// Whether `idempotency_key()` is `Some`; `None`: derived from the call (a create that
    /// failed for good carries it, nothing else does).
    idempotency: Option<Option<bool>>,
}

#[derive(Clone, Debug)]
struct Row {
    name: &'static str,
    calls: &'static [Call],
    answers: Vec<Answer>,
    setup: Setup,
    expect: Expect,
}

fn row(name: &'static str, calls: &'static [Call], answers: Vec<Answer>, kind: ErrorKind) -> Row {
    Row {
        name,
        calls,
        answers,
        setup: Setup::default(),
        expect: Expect {
            kind,
            status: None,
            retry_after: None,
            server_message: None,
            api_error: Some(false),
            failure: None,
            distinctive: String::new(),
            attempts: None,
            idempotency: None,
        },
    }
}

impl Row {
    /// An answer with this status decided: `status()` and `api_error()` carry it.
    fn status(mut self, status: u16) -> Self {
        self.expect.status = Some(status);
        self.expect.api_error = Some(true);
        if self.expect.distinctive.is_empty() {
            self.expect.distinctive = status.to_string();
        }
        self
    }

    /// The server's message: `server_message()` returns it, and it is the distinctive text.
    fn message(mut self, message: &str) -> Self {
        self.expect.server_message = Some(message.to_owned());
        self.expect.distinctive = message.to_owned();
        self
    }

    fn distinctive(mut self, text: &str) -> Self {
        self.expect.distinctive = text.to_owned();
        self
    }

    fn retry_after(mut self, secs: u64) -> Self {
        self.expect.retry_after = Some(Duration::from_secs(secs));
        self
    }

    fn attempts(mut self, n: usize) -> Self {
        self.expect.attempts = Some(n);
        self
    }

    fn failure(mut self, cause: FailureCause) -> Self {
        self.expect.failure = Some(cause);
        self
    }

    fn no_api_error(mut self) -> Self {
        self.expect.api_error = Some(false);
        self
    }

    fn api_error_unchecked(mut self) -> Self {
        self.expect.api_error = None;
        self
    }

    fn idempotency_unchecked(mut self) -> Self {
        self.expect.idempotency = Some(None);
        self
    }

    fn setup(mut self, f: impl FnOnce(&mut Setup)) -> Self {
        f(&mut self.setup);
        self
    }
}

use ErrorKind as K;

/// The scenarios. Messages are distinct across rows so that a count in a `Display` cannot be
/// fooled by another row's text.
fn table() -> Vec<Row> {
    let retry_after_limit = RetryPolicy::default().with_deadline(Duration::from_secs(600));
    vec![
        // ---- 400, not about credits ------------------------------------------------------
        row("400, documented body", API_AND_WAIT, vec![http(400, doc("Invalid model: acme/nope"))], K::BadRequest)
            .status(400).message("Invalid model: acme/nope").attempts(1),
        row("400, oRPC body", API_AND_WAIT,
            vec![http(400, orpc("BAD_REQUEST", 400, "Input validation failed: width must be positive"))], K::BadRequest)
            .status(400).message("Input validation failed: width must be positive").attempts(1),
        row("400, HTML proxy page", API, vec![http(400, html("Bad Request"))], K::BadRequest)
            .status(400).attempts(1),
        row("400, empty body", API, vec![http(400, "")], K::BadRequest).status(400).attempts(1),
        // ---- 400 / 402 about credits -----------------------------------------------------
        row("400 insufficient credits, documented body", API_AND_WAIT,
            vec![http(400, doc("Insufficient credits"))], K::InsufficientCredits)
            .status(400).message("Insufficient credits").attempts(1),
        row("400 insufficient credits, oRPC body", API,
            vec![http(400, orpc("BAD_REQUEST", 400, "Insufficient credits: your balance is 0 cents"))], K::InsufficientCredits)
            .status(400).message("Insufficient credits: your balance is 0 cents").attempts(1),
        row("400 charge failed, documented body", API,
            vec![http(400, doc("The charge failed for card ending 4242"))], K::InsufficientCredits)
            .status(400).message("The charge failed for card ending 4242").attempts(1),
        row("402 about the balance", API,
            vec![http(402, doc("Payment required: credit balance exhausted"))], K::InsufficientCredits)
            .status(402).message("Payment required: credit balance exhausted").attempts(1),
        // ---- 401 -------------------------------------------------------------------------
        row("401, documented body", API_AND_WAIT, vec![http(401, doc("API key has expired"))], K::Unauthorized)
            .status(401).message("API key has expired").attempts(1),
        row("401, oRPC body", API_AND_WAIT,
            vec![http(401, orpc("UNAUTHORIZED", 401, "Missing or inactive API key"))], K::Unauthorized)
            .status(401).message("Missing or inactive API key").attempts(1),
        row("401, HTML proxy page", API, vec![http(401, html("Authorization Required"))], K::Unauthorized)
            .status(401).attempts(1),
        row("401, empty body", API_AND_WAIT, vec![http(401, "")], K::Unauthorized).status(401).attempts(1),
        // ---- 404 -------------------------------------------------------------------------
        row("404, documented body", API_AND_WAIT,
            vec![http(404, doc("No generation with this id in your organization"))], K::NotFound)
            .status(404).message("No generation with this id in your organization").attempts(1),
        row("404, oRPC body", API_AND_WAIT, vec![http(404, orpc("NOT_FOUND", 404, "Resource is gone"))], K::NotFound)
            .status(404).message("Resource is gone").attempts(1),
        row("404, empty body", API, vec![http(404, "")], K::NotFound).status(404).attempts(1),
        // ---- 429 -------------------------------------------------------------------------
        row("429 with data.retry_after, retries run out", API,
            vec![http(429, doc_retry("Rate limit exceeded. Please try again later.", 5))], K::RateLimited)
            .status(429).message("Rate limit exceeded. Please try again later.").retry_after(5).attempts(4),
        row("429 oRPC body with data.retry_after 42, the call's deadline comes first", API,
            vec![http(429, orpc_retry(429, "Too many requests for this key", 42))], K::RateLimited)
            .status(429).message("Too many requests for this key").retry_after(42).attempts(3),
        row("429 without a delay, retries run out", API,
            vec![http(429, doc("Slow down, please"))], K::RateLimited)
            .status(429).message("Slow down, please").attempts(4),
        row("429 HTML page with a Retry-After header", API,
            vec![http_with(429, &[("retry-after", "7")], html("Too Many Requests"))], K::RateLimited)
            .status(429).retry_after(7).attempts(4),
        row("429 empty body", API, vec![http(429, "")], K::RateLimited).status(429).attempts(4),
        row("429 asking 200 s, beyond the 120 s cap", API,
            vec![http(429, doc_retry("Quota window resets later", 200))], K::RateLimited)
            .status(429).message("Quota window resets later").retry_after(200).attempts(1)
            .setup(|s| s.retry = Some(retry_after_limit)),
        row("429 while waiting, asking beyond the wait's deadline", &[Wait],
            vec![http(429, doc_retry("Hold on for a quarter hour", 900))], K::RateLimited)
            .status(429).message("Hold on for a quarter hour").retry_after(900),
        // ---- 5xx -------------------------------------------------------------------------
        row("500, documented body, retries run out", API,
            vec![http(500, doc("Unexpected failure in the render queue"))], K::Server)
            .status(500).message("Unexpected failure in the render queue").attempts(4),
        row("500, oRPC body, retries run out", API,
            vec![http(500, orpc("INTERNAL_SERVER_ERROR", 500, "Internal server error (ref 7c1e)"))], K::Server)
            .status(500).message("Internal server error (ref 7c1e)").attempts(4),
        row("500, HTML page, retries run out", API, vec![http(500, html("Internal Server Error"))], K::Server)
            .status(500).attempts(4),
        row("500, empty body, retries run out", API, vec![http(500, "")], K::Server).status(500).attempts(4),
        row("502 HTML from a proxy", API, vec![http(502, html("Bad Gateway"))], K::Server).status(502).attempts(4),
        row("503 HTML from a proxy", API, vec![http(503, html("Service Unavailable"))], K::Server).status(503).attempts(4),
        row("504 HTML from a proxy", API, vec![http(504, html("Gateway Time-out"))], K::Server).status(504).attempts(4),
        row("500 then 502 then 503 then 504, retries run out on the last", API,
            vec![http(500, doc("first of four")), http(502, html("Bad Gateway")), http(503, ""),
                 http(504, doc("Upstream timed out at the edge"))], K::Server)
            .status(504).message("Upstream timed out at the edge").attempts(4),
        // ---- statuses the API does not document --------------------------------------------
        row("403 HTML page", API_AND_WAIT, vec![http(403, html("Forbidden"))], K::Unexpected)
            .status(403).attempts(1),
        row("403 JSON body", API, vec![http(403, doc("Your IP address is not allowed"))], K::Unexpected)
            .status(403).message("Your IP address is not allowed").attempts(1),
        row("409 JSON body", API, vec![http(409, doc("Conflicting request in flight"))], K::Unexpected)
            .status(409).message("Conflicting request in flight").attempts(1),
        row("302 redirect", API,
            vec![http_with(302, &[("location", "https://login.example/")], "")], K::Unexpected)
            .status(302).attempts(1),
        // ---- transport -------------------------------------------------------------------
        row("every attempt times out", API,
            vec![Answer::Fail(TransportError::timeout(Duration::from_secs(30)))], K::Timeout)
            .distinctive("within 30s").attempts(4),
        row("the server hangs past the call's deadline", API, vec![Answer::Hang(Duration::from_secs(3600))], K::Timeout)
            .distinctive("within 17s").attempts(1)
            .setup(|s| s.retry = Some(RetryPolicy::default().with_deadline(Duration::from_secs(17)))),
        row("connection refused", API,
            vec![Answer::Fail(TransportError::connect("connection refused (os error 111)"))], K::Connection)
            .distinctive("os error 111").attempts(4),
        row("connection cut after sending", API,
            vec![Answer::Fail(TransportError::maybe_sent("connection reset by peer"))], K::Connection)
            .distinctive("reset by peer").attempts(4),
        // ---- undecodable answers -------------------------------------------------------------
        // The answer that decided was a 200 whose body is unreadable: `status()` says 200, and
        // there is no `ApiError` (the status was not an error).
        row("200 with an HTML page", API, vec![http(200, html("Welcome"))], K::Decode)
            .status(200).no_api_error().distinctive("expected value at line 1 column 1").attempts(4),
        row("200 with a truncated body", API, vec![http(200, r#"{"id":"gen_kindcase0001","obj"#)], K::Decode)
            .status(200).no_api_error().distinctive("EOF while parsing").attempts(4),
        row("200 with a body over the cap", API, vec![http(200, queued())], K::Decode)
            .distinctive("16-byte limit").attempts(1)
            .setup(|s| s.body_limit = Some(16)),
        // ---- refused before sending ----------------------------------------------------------
        row("create with an empty prompt", &[Create], vec![], K::InvalidInput)
            .distinctive("`input`").attempts(0).idempotency_unchecked()
            .setup(|s| s.prompt = Some("")),
        // ---- failed generations ----------------------------------------------------------------
        row("generation failed for credits", WAITS,
            vec![http(200, in_progress()), http(200, failed(r#""error":{"message":"Insufficient credits to render this video"}"#))],
            K::InsufficientCredits)
            .message("Insufficient credits to render this video").failure(FailureCause::InsufficientCredits),
        row("generation failed: provider", WAITS,
            vec![http(200, failed(r#""errorMessage":"Provider framerate failed while rendering""#))], K::GenerationFailed)
            .message("Provider framerate failed while rendering").failure(FailureCause::ProviderFailure),
        row("generation failed: model not supported", WAITS,
            vec![http(200, failed(r#""error":{"code":"model_not_supported","message":"Model moonshotai/kimi-k2.5 is not supported on provider fal"}"#))],
            K::GenerationFailed)
            .message("Model moonshotai/kimi-k2.5 is not supported on provider fal").failure(FailureCause::ModelNotSupported),
        row("generation failed: invalid prompt", WAITS,
            vec![http(200, failed(r#""error":"Prompt must not be empty""#))], K::GenerationFailed)
            .message("Prompt must not be empty").failure(FailureCause::InvalidPrompt),
        row("generation failed: other", WAITS,
            vec![http(200, failed(r#""error":{"message":"Generation error 0x3f"}"#))], K::GenerationFailed)
            .message("Generation error 0x3f").failure(FailureCause::Other),
        // ---- waits that end without a video ---------------------------------------------------
        row("a cancelled wait", WAITS, vec![http(200, in_progress())], K::Cancelled)
            .distinctive("cancel").setup(|s| s.cancelled = true),
        row("a wait's deadline", WAITS, vec![http(200, in_progress())], K::Timeout)
            .distinctive("137").setup(|s| s.wait_deadline = Some(Duration::from_secs(137))),
        row("a wait's 404 after the grace", &[Wait, Generate], vec![http(404, doc("Unknown generation for this key"))], K::NotFound)
            .status(404).message("Unknown generation for this key"),
        // ---- download ---------------------------------------------------------------------------
        row("the video host answers 403", &[Download], vec![http(403, "<Error><Code>AccessDenied</Code></Error>")], K::Download)
            .status(403).api_error_unchecked(),
    ]
}

// ---------------------------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------------------------

fn client(server: &Server, setup: &Setup) -> Client<Scripted> {
    let s = server.clone();
    let transport: Scripted = FnTransport::new(
        server.clock.clone(),
        Box::new(move |request| std::future::ready(s.answer(request))),
    );
    let mut builder = Client::builder(transport)
        .api_key(ApiKey::new(KEY).unwrap())
        .base_url(BaseUrl::parse(BASE).unwrap())
        .seed(15)
        // Keys from the OS RNG are random hex: one holding "302" would fail the "names the
        // status once" rule by chance. Seeded keys make every run the same run.
        .predictable_keys_and_temp_names(15);
    if let Some(retry) = setup.retry {
        builder = builder.retry_policy(retry);
    }
    if let Some(limit) = setup.body_limit {
        builder = builder.body_limit(limit);
    }
    builder.build().unwrap()
}

fn wait_options(setup: &Setup) -> WaitOptions {
    let mut options = WaitOptions::new();
    if let Some(deadline) = setup.wait_deadline {
        options = options.with_deadline(deadline);
    }
    if setup.cancelled {
        let token = CancelToken::new();
        token.cancel();
        options = options.with_cancel(token);
    }
    options
}

/// Runs one call of one row: the error, and the requests sent on the call's route.
fn run(row: &Row, call: Call) -> Result<(Error, usize), String> {
    let server = Server {
        script: Arc::default(),
        clock: VirtualClock::new(Instant::now()),
    };
    let route = match call {
        Create => Route::Create,
        Retrieve | Wait | Generate => Route::Poll,
        Download => Route::Video,
    };
    server.set(route, row.answers.clone());
    if call == Download {
        server.set(Route::Poll, vec![http(200, completed())]);
    }
    let client = client(&server, &row.setup);
    let reference: GenerationRef = REF.parse().unwrap();
    let prompt = CreateResponse::new(
        "moonshotai/kimi-k2.5",
        row.setup.prompt.unwrap_or("A cat on a beach"),
    );
    let result = match call {
        Create => block_on(client.create(&prompt)).map(|h| format!("{h:?}")),
        Retrieve => block_on(client.retrieve(&reference)).map(|g| format!("{g:?}")),
        Wait => block_on(client.wait_with(&reference, wait_options(&row.setup)))
            .map(|g| format!("{g:?}")),
        Generate => {
            let handle = block_on(client.create(&prompt))
                .map_err(|e| format!("the create before the wait failed: {e}"))?;
            block_on(handle.wait_with(wait_options(&row.setup))).map(|g| format!("{g:?}"))
        }
        Download => {
            let generation = block_on(client.retrieve(&reference))
                .map_err(|e| format!("the retrieve before the download failed: {e}"))?;
            let mut sink = Vec::new();
            block_on(client.download(&generation, &mut sink)).map(|n| format!("{n} bytes"))
        }
    };
    match result {
        Ok(value) => Err(format!("the call succeeded: {value}")),
        Err(error) => Ok((error, server.requests(route))),
    }
}

/// `true` exactly for the kinds the spec calls retryable.
fn retryable(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::RateLimited | ErrorKind::Server | ErrorKind::Timeout | ErrorKind::Connection
    )
}

/// Occurrences of `needle` in `hay`. A needle made of digits only counts where it stands as a
/// number of its own (`502` is not found in `15020` or `5.502`).
fn occurrences(hay: &str, needle: &str) -> usize {
    if needle.is_empty() {
        return 0;
    }
    let numeric = needle.chars().all(|c| c.is_ascii_digit());
    let mut count = 0;
    let mut from = 0;
    while let Some(at) = hay[from..].find(needle) {
        let start = from + at;
        let end = start + needle.len();
        let number_char = |c: char| c.is_ascii_digit() || c == '.';
        let standalone = !numeric
            || (hay[..start]
                .chars()
                .next_back()
                .is_none_or(|c| !number_char(c))
                && hay[end..].chars().next().is_none_or(|c| !number_char(c)));
        if standalone {
            count += 1;
        }
        from = end;
    }
    count
}

/// Every mismatch of one case, as `what: expected …, got …`.
fn check(row: &Row, call: Call, error: &Error, requests: usize) -> Vec<String> {
    let mut problems = Vec::new();
    let e = &row.expect;
    let mut expect = |what: &str, got: String, want: String| {
        if got != want {
            problems.push(format!("{what}: expected {want}, got {got}"));
        }
    };
    expect(
        "kind()",
        format!("{:?}", error.kind()),
        format!("{:?}", e.kind),
    );
    expect(
        "status()",
        format!("{:?}", error.status().map(|s| s.as_u16())),
        format!("{:?}", e.status),
    );
    expect(
        "retry_after()",
        format!("{:?}", error.retry_after()),
        format!("{:?}", e.retry_after),
    );
    expect(
        "is_retryable()",
        error.is_retryable().to_string(),
        retryable(e.kind).to_string(),
    );
    let generation = matches!(call, Wait | Generate | Download).then_some(REF);
    expect(
        "generation()",
        format!("{:?}", error.generation().map(ToString::to_string)),
        format!("{:?}", generation.map(str::to_owned)),
    );
    let idempotency = match e.idempotency {
        Some(explicit) => explicit,
        None => Some(call == Create),
    };
    if let Some(want) = idempotency {
        expect(
            "idempotency_key().is_some()",
            error.idempotency_key().is_some().to_string(),
            want.to_string(),
        );
    }
    expect(
        "failure() cause",
        format!("{:?}", error.failure().map(|f| f.cause)),
        format!("{:?}", e.failure),
    );
    expect(
        "server_message()",
        format!("{:?}", error.server_message()),
        format!("{:?}", e.server_message.as_deref()),
    );
    if let Some(want) = e.api_error {
        expect(
            "api_error().is_some()",
            error.api_error().is_some().to_string(),
            want.to_string(),
        );
    }
    if let Some(api) = error.api_error() {
        expect(
            "api_error().status() == status()",
            format!("{:?}", Some(api.status())),
            format!("{:?}", error.status()),
        );
    }
    if let Some(n) = e.attempts
        && matches!(call, Create | Retrieve)
    {
        expect("requests sent", requests.to_string(), n.to_string());
    }

    // The report rule.
    let top = error.to_string();
    if top.contains('\n') {
        problems.push(format!("Display is not one line: {top:?}"));
    }
    let n = occurrences(&top, &e.distinctive);
    if n != 1 {
        problems.push(format!(
            "Display names {:?} {n} times, expected once: {top:?}",
            e.distinctive
        ));
    }
    let mut report = top.clone();
    let mut source = std::error::Error::source(error);
    let mut depth = 0;
    while let Some(s) = source {
        depth += 1;
        let text = s.to_string();
        if top.contains(&text) {
            problems.push(format!(
                "source() #{depth} repeats text already in the Display: {text:?} (Display: {top:?})"
            ));
        }
        let _ = write!(report, ": {text}");
        source = s.source();
    }
    let n = occurrences(&report, &e.distinctive);
    if depth > 0 && n != 1 {
        problems.push(format!(
            "an anyhow-style report names {:?} {n} times, expected once: {report:?}",
            e.distinctive
        ));
    }
    problems
}

#[test]
fn every_failure_has_its_kind_and_accessors() {
    let rows = table();
    let mut failures = Vec::new();
    let mut cases = 0;
    let mut kinds = HashSet::new();
    for row in &rows {
        assert!(!row.calls.is_empty(), "{}: no call", row.name);
        assert!(
            !row.expect.distinctive.is_empty(),
            "{}: nothing to count",
            row.name
        );
        kinds.insert(row.expect.kind);
        for &call in row.calls {
            cases += 1;
            match run(row, call) {
                Err(why) => failures.push(format!("{} [{call:?}]: {why}", row.name)),
                Ok((error, requests)) => {
                    println!("{} [{call:?}]: {:?} | {error}", row.name, error.kind());
                    for problem in check(row, call, &error, requests) {
                        failures.push(format!(
                            "{} [{call:?}]: {problem}\n      error: {error}\n      debug: {error:?}",
                            row.name
                        ));
                    }
                }
            }
        }
    }
    println!("{} scenarios, {cases} cases", rows.len());
    assert!(rows.len() >= 25);
    assert!(
        failures.is_empty(),
        "{} mismatches in {cases} cases of {} scenarios:\n\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n\n")
    );
    let every_kind = [
        K::InvalidInput,
        K::Unauthorized,
        K::BadRequest,
        K::InsufficientCredits,
        K::NotFound,
        K::RateLimited,
        K::Server,
        K::Timeout,
        K::Connection,
        K::Decode,
        K::GenerationFailed,
        K::Cancelled,
        K::Download,
        K::Unexpected,
    ];
    for kind in every_kind {
        assert!(kinds.contains(&kind), "no scenario ends in {kind:?}");
    }
}

/// Without a server message (an HTML page, an empty body), the status names the cause, and its
/// reason phrase is part of that name: `HTTP 502 Bad Gateway` once, not `HTTP 502 Bad Gateway:
/// Bad Gateway (…)`, the reason again as a stand-in message.
#[test]
fn a_status_without_a_message_names_its_reason_once() {
    let mut failures = Vec::new();
    for row in table()
        .iter()
        .filter(|r| r.expect.api_error == Some(true) && r.expect.server_message.is_none())
    {
        let Some(reason) = row
            .expect
            .status
            .and_then(|s| http::StatusCode::from_u16(s).ok())
            .and_then(|s| s.canonical_reason())
        else {
            continue;
        };
        for &call in row.calls {
            let Ok((error, _)) = run(row, call) else {
                continue; // reported by the table test
            };
            let top = error.to_string();
            let n = occurrences(&top, reason);
            if n != 1 {
                failures.push(format!(
                    "{} [{call:?}]: Display names the reason {reason:?} {n} times, expected once: {top:?}",
                    row.name
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `ErrorKind` is a plain value a user can match, compare, hash and copy.
#[test]
fn error_kind_is_a_plain_value() {
    fn assert_traits<T: Copy + Eq + std::hash::Hash + std::fmt::Debug + Send + Sync + 'static>() {}
    assert_traits::<ErrorKind>();
    let set: HashSet<ErrorKind> = [K::Server, K::Server, K::Timeout].into_iter().collect();
    assert_eq!(set.len(), 2);
}

/// The usual way to use the kind: one `match` that decides what to do next.
#[test]
fn one_line_match_reads_like_the_docs() {
    let row = table()
        .into_iter()
        .find(|r| r.name == "429 with data.retry_after, retries run out")
        .unwrap();
    let (error, _) = run(&row, Create).unwrap();
    let advice = match error.kind() {
        ErrorKind::RateLimited => format!("retry after {:?}", error.retry_after()),
        ErrorKind::Unauthorized => "fix the key".to_owned(),
        other => format!("other: {other:?}"),
    };
    assert_eq!(advice, "retry after Some(5s)");
}
