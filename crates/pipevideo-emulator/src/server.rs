//! HTTP plumbing on hyper: connections, fault application, control endpoints, the request log.

use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderName, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::config::fingerprint;
use crate::fault::{Fault, FaultConfig, FaultRule, FaultTiming, RandomFaults, RetryAfterHeader};
use crate::file::{self, Video};
use crate::log::{AppliedFault, LogEntry};
use crate::routes::{Outcome, RATE_LIMIT_MESSAGE, Reply, Req, orpc_code, process};
use crate::state::{ControlGuard, Shared, lock, unix_ms_now};

const MAX_REQUEST_BODY: usize = 4 * 1024 * 1024;
const LOGGED_BODY: usize = 64 * 1024;

/// The response body: bytes at once, then a stretch of the video generated as it goes, with
/// an optional stall before the first byte and an optional connection reset after the last.
pub(crate) struct EmuBody {
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
    data: Option<Bytes>,
    stream: Option<VideoStream>,
    reset: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// Bytes `pos..end` of the video (`end` may be `u64::MAX`: endless).
struct VideoStream {
    video: Arc<Video>,
    pos: u64,
    end: u64,
}

impl EmuBody {
    fn full(data: Bytes) -> Self {
        Self {
            stall: None,
            data: (!data.is_empty()).then_some(data),
            stream: None,
            reset: None,
        }
    }
}

impl Body for EmuBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if let Some(stall) = this.stall.as_mut() {
            ready!(stall.as_mut().poll(cx));
            this.stall = None;
        }
        if let Some(data) = this.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(stream) = this.stream.as_mut() {
            if stream.pos < stream.end {
                let chunk = stream.video.chunk(stream.pos, stream.end, file::CHUNK);
                stream.pos += chunk.len() as u64;
                return Poll::Ready(Some(Ok(Frame::data(chunk))));
            }
            this.stream = None;
        }
        if let Some(sleep) = this.reset.as_mut() {
            // Give hyper time to flush the partial body before the connection dies.
            ready!(sleep.as_mut().poll(cx));
            this.reset = None;
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "emulated connection reset",
            ))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.stall.is_none() && self.data.is_none() && self.stream.is_none() && self.reset.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.reset.is_some() {
            return SizeHint::default();
        }
        let data = self.data.as_ref().map_or(0, |d| d.len() as u64);
        match &self.stream {
            Some(s) if s.end == u64::MAX => SizeHint::default(),
            Some(s) => SizeHint::with_exact(data + (s.end - s.pos)),
            None => SizeHint::with_exact(data),
        }
    }
}

/// How a fault changes the body of a real reply.
#[derive(Clone, Copy, Debug, Default)]
struct Effect {
    /// Half the body, then a reset.
    reset: bool,
    /// Nothing for this long after the headers.
    stall: Option<Duration>,
    /// The body, then the fill pattern without end.
    endless: bool,
}

fn into_response(
    shared: &Shared,
    reply: Reply,
    effect: Effect,
    head_only: bool,
) -> Response<EmuBody> {
    let (start, end) = reply.stream.unwrap_or((0, 0));
    let full_len = reply.body.len() as u64 + (end - start);
    let mut body = EmuBody::full(reply.body);
    if reply.stream.is_some() {
        body.stream = Some(VideoStream {
            video: Arc::clone(&shared.video),
            pos: start,
            end,
        });
    }
    if head_only {
        body = EmuBody::full(Bytes::new());
    } else if effect.reset {
        match (&mut body.stream, &mut body.data) {
            (Some(stream), _) => stream.end = stream.pos + (stream.end - stream.pos) / 2,
            (None, Some(data)) => {
                let cut = data.slice(..data.len() / 2);
                body.data = (!cut.is_empty()).then_some(cut);
            }
            (None, None) => {}
        }
        body.reset = Some(Box::pin(tokio::time::sleep(Duration::from_millis(30))));
    } else if effect.endless {
        let stream = body.stream.get_or_insert_with(|| VideoStream {
            video: Arc::clone(&shared.video),
            pos: 0,
            end: 0,
        });
        stream.end = u64::MAX;
    }
    if let Some(stall) = effect.stall.filter(|_| !head_only) {
        body.stall = Some(Box::pin(tokio::time::sleep(stall)));
    }
    let mut resp = Response::new(body);
    *resp.status_mut() = hyper::StatusCode::from_u16(reply.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = resp.headers_mut();
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.append(HeaderName::from_static(name), v);
        }
    }
    if effect.reset || head_only {
        headers.insert(hyper::header::CONTENT_LENGTH, HeaderValue::from(full_len));
    }
    if effect.reset {
        headers.insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

const HTML_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
const HTML_503: &str = "<!DOCTYPE html>\n<html><head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1><p>The server is temporarily unable to service your request due to maintenance downtime or capacity problems. Please try again later.</p></body></html>\n";
const HTML_504: &str = "<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

/// The emulated wait of a rate-limit fault's `retry_after`: any number a rule holds (1e19,
/// infinity, NaN, negative) is a wait that fits. Negative and NaN are none, anything past what
/// a `Duration` holds is `Duration::MAX` (which [`Shared::real`] caps).
fn fault_wait(retry_after: f64) -> Duration {
    if retry_after.is_nan() || retry_after <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(retry_after).unwrap_or(Duration::MAX)
    }
}

/// A 429 for a wait of `retry_after` emulated seconds, with or without `data` and a header.
fn rate_limited_fault(
    shared: &Shared,
    retry_after: f64,
    with_data: bool,
    header: RetryAfterHeader,
) -> Reply {
    let real = shared.real(fault_wait(retry_after));
    let body = if with_data {
        json!({ "message": RATE_LIMIT_MESSAGE, "data": { "retry_after": shared.retry_after_value(real) } })
    } else {
        json!({ "message": RATE_LIMIT_MESSAGE })
    };
    let mut reply = Reply::json(429, &body);
    let whole_secs = real.as_secs() + u64::from(real.subsec_nanos() > 0);
    match header {
        RetryAfterHeader::None => {}
        RetryAfterHeader::Seconds => reply.headers.push(("retry-after", whole_secs.to_string())),
        RetryAfterHeader::HttpDate => {
            // `real` is at most a century (`state::MAX_REAL`): no overflow here.
            let at_ms = unix_ms_now().saturating_add(real.as_millis() as u64);
            let at = UNIX_EPOCH + Duration::from_secs(at_ms.div_ceil(1000));
            reply
                .headers
                .push(("retry-after", httpdate::fmt_http_date(at)));
        }
    }
    reply
}

/// The reply that replaces a response for a fault, or a mangled real reply, and how its body
/// misbehaves.
fn apply_fault(shared: &Shared, fault: &Fault, real: Option<Reply>) -> (Reply, Effect) {
    let plain = Effect::default();
    let real_or_500 =
        |real: Option<Reply>| real.unwrap_or_else(|| shared.error(500, "Internal server error"));
    match fault {
        Fault::ServerError => (shared.error(500, "Internal server error"), plain),
        Fault::RateLimited {
            retry_after,
            with_data,
            header,
        } => (
            rate_limited_fault(shared, *retry_after, *with_data, *header),
            plain,
        ),
        Fault::BadGatewayHtml => (
            Reply::raw(502, "text/html", Bytes::from_static(HTML_502.as_bytes())),
            plain,
        ),
        Fault::ServiceUnavailableHtml => (
            Reply::raw(
                503,
                "text/html; charset=utf-8",
                Bytes::from_static(HTML_503.as_bytes()),
            ),
            plain,
        ),
        Fault::GatewayTimeoutHtml => (
            Reply::raw(504, "text/html", Bytes::from_static(HTML_504.as_bytes())),
            plain,
        ),
        Fault::OrpcError { status } => {
            let status = if (400..600).contains(status) {
                *status
            } else {
                500
            };
            let mut body = json!({
                "defined": false,
                "code": orpc_code(status),
                "status": status,
                "message": if status == 429 { RATE_LIMIT_MESSAGE } else { "Internal server error" },
            });
            if status == 429 {
                body["data"] = json!({ "retry_after": shared.retry_after_value(shared.real(Duration::from_secs(2))) });
            }
            (Reply::json(status, &body), plain)
        }
        Fault::SlowHeaders { .. } => (
            real.unwrap_or_else(|| shared.error(500, "Internal server error")),
            plain,
        ),
        Fault::ResetMidBody => (
            real_or_500(real),
            Effect {
                reset: true,
                ..plain
            },
        ),
        Fault::StallBody { delay_ms } => (
            real_or_500(real),
            Effect {
                stall: Some(Duration::from_millis(*delay_ms)),
                ..plain
            },
        ),
        Fault::EndlessBody => (
            real_or_500(real),
            Effect {
                endless: true,
                ..plain
            },
        ),
        Fault::NoRanges => (real_or_500(real), plain),
        Fault::TruncatedJson => {
            let mut reply = real.unwrap_or_else(|| shared.error(500, "Internal server error"));
            let len = reply.body.len();
            reply.body = reply.body.slice(..len / 2);
            (reply, plain)
        }
        Fault::UnknownStatus { status } => {
            let mut reply = real.unwrap_or_else(|| shared.error(500, "Internal server error"));
            if reply.is_json()
                && let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&reply.body)
                && map.contains_key("status")
            {
                map.insert("status".into(), Value::String(status.clone()));
                reply.body = Bytes::from(Value::Object(map).to_string());
            }
            (reply, plain)
        }
        Fault::HugeBody { bytes } => {
            let mut reply = real.unwrap_or_else(|| shared.error(500, "Internal server error"));
            if reply.is_json()
                && let Ok(Value::Object(mut map)) = serde_json::from_slice::<Value>(&reply.body)
            {
                map.insert("padding".into(), Value::String("x".repeat(*bytes)));
                reply.body = Bytes::from(Value::Object(map).to_string());
            }
            (reply, plain)
        }
    }
}

fn header_str<'a>(headers: &'a hyper::HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn logged_headers(headers: &hyper::HeaderMap) -> (Vec<(String, String)>, Option<String>) {
    let mut out = Vec::new();
    let mut fp = None;
    for (name, value) in headers {
        let value = value.to_str().unwrap_or("<non-utf8>");
        if name == hyper::header::AUTHORIZATION {
            let token = crate::routes::bearer_token(value).unwrap_or(value);
            let f = fingerprint(token);
            out.push((name.as_str().to_owned(), format!("Bearer {f}")));
            fp = Some(f);
        } else if name == hyper::header::COOKIE || name == hyper::header::PROXY_AUTHORIZATION {
            out.push((name.as_str().to_owned(), "<redacted>".to_owned()));
        } else {
            out.push((name.as_str().to_owned(), value.to_owned()));
        }
    }
    (out, fp)
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<EmuBody>, Infallible> {
    let arrived = Instant::now();
    let arrived_unix_ms = unix_ms_now();
    let (parts, body) = req.into_parts();
    if parts.uri.path().starts_with("/_emulator")
        && let Err(refused) = guard_control(&shared, &parts)
    {
        return Ok(into_response(&shared, refused, Effect::default(), false));
    }
    // A body trickled in slowly holds a connection as well as slow headers do: the same bound.
    let collect = Limited::new(body, MAX_REQUEST_BODY).collect();
    let body = match tokio::time::timeout(shared.settings.header_read_timeout, collect).await {
        Ok(Ok(c)) => c.to_bytes(),
        Err(_) => {
            return Ok(into_response(
                &shared,
                shared.error(408, "Request body not received in time"),
                Effect::default(),
                false,
            ));
        }
        Ok(Err(_)) => {
            return Ok(into_response(
                &shared,
                shared.error(413, "Request body too large"),
                Effect::default(),
                false,
            ));
        }
    };
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().unwrap_or("").to_owned();

    if path.starts_with("/_emulator") {
        return Ok(into_response(
            &shared,
            control(&shared, &method, &path, &query, &body),
            Effect::default(),
            false,
        ));
    }

    let fault = lock(&shared.faults).pick(&method, &path);
    let mut applied = None;
    let mut before_reply = None;
    let mut effect = Effect::default();
    let mut delay = None;
    if let Some((f, timing)) = &fault {
        let timing = if f.needs_real_response() {
            FaultTiming::After
        } else {
            *timing
        };
        applied = Some(AppliedFault {
            kind: f.name().to_owned(),
            timing,
        });
        if timing == FaultTiming::Before {
            match f {
                Fault::SlowHeaders { delay_ms } => {
                    tokio::time::sleep(Duration::from_millis(*delay_ms)).await
                }
                other => before_reply = Some(apply_fault(&shared, other, None).0),
            }
        } else if let Fault::SlowHeaders { delay_ms } = f {
            delay = Some(Duration::from_millis(*delay_ms));
        }
    }

    let (reply, outcome) = match before_reply {
        Some(reply) => (reply, None),
        None => {
            let r = Req {
                method: &method,
                path: &path,
                query: &query,
                authorization: header_str(&parts.headers, "authorization"),
                idempotency_key: header_str(&parts.headers, "idempotency-key"),
                body: &body,
                range: (shared.settings.file_ranges
                    && !matches!(&fault, Some((Fault::NoRanges, _))))
                .then(|| {
                    (
                        header_str(&parts.headers, "range"),
                        header_str(&parts.headers, "if-range"),
                    )
                }),
            };
            let outcome: Outcome = process(&shared, &r, Instant::now());
            if let Some(id) = &outcome.generation_created {
                crate::webhook::schedule(&shared, id.clone());
            }
            let mut reply = outcome.reply.clone();
            if let Some((f, timing)) = &fault
                && (*timing == FaultTiming::After || f.needs_real_response())
            {
                let (r, e) = apply_fault(&shared, f, Some(reply));
                reply = r;
                effect = e;
            }
            (reply, Some(outcome))
        }
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }

    let (headers, fp) = logged_headers(&parts.headers);
    let org = outcome.as_ref().and_then(|o| o.org.clone());
    let mut seq = lock(&shared.log_seq);
    let entry = LogEntry {
        seq: *seq,
        elapsed_ms: shared.elapsed_ms(arrived),
        unix_ms: arrived_unix_ms,
        method: method.clone(),
        path: if query.is_empty() {
            path.clone()
        } else {
            format!("{path}?{query}")
        },
        headers,
        key_fingerprint: fp,
        org,
        body: String::from_utf8_lossy(&body[..body.len().min(LOGGED_BODY)]).into_owned(),
        status: reply.status,
        fault: applied,
        generation_created: outcome.as_ref().and_then(|o| o.generation_created.clone()),
        idempotent_replay_of: outcome.as_ref().and_then(|o| o.replay_of.clone()),
        rate_limited: outcome.as_ref().is_some_and(|o| o.rate_limited),
    };
    *seq += 1;
    lock(&shared.log).push(entry);
    drop(seq);
    tracing::debug!(%method, %path, status = reply.status, "request");
    Ok(into_response(&shared, reply, effect, method == "HEAD"))
}

/// The header that carries the control plane's token.
pub(crate) const CONTROL_TOKEN_HEADER: &str = "x-emulator-token";

/// What a control request must bring, checked before its body is read: a `Host` naming this
/// machine (a loopback name or address, or the bound address: a page whose name was rebound
/// to 127.0.0.1 sends its own name), the run's token, and `application/json` on a write (a
/// cross-site form can post `text/plain` or a form type without a preflight, never JSON).
fn guard_control(shared: &Shared, parts: &hyper::http::request::Parts) -> Result<(), Reply> {
    let refuse = |status: u16, message: &str| Reply::json(status, &json!({ "message": message }));
    let host = header_str(&parts.headers, "host").unwrap_or("");
    if !is_local_host(host, &shared.control) {
        return Err(refuse(
            403,
            "The control plane answers only a Host naming this machine (localhost, a loopback \
             address or the bound address).",
        ));
    }
    let token = header_str(&parts.headers, CONTROL_TOKEN_HEADER).unwrap_or("");
    if !same_secret(token.as_bytes(), shared.control.token.as_bytes()) {
        return Err(refuse(
            401,
            "The control plane needs the X-Emulator-Token header: the token the emulator \
             printed at start (Emulator::control_token in code).",
        ));
    }
    let writes = parts.method == hyper::Method::POST || parts.method == hyper::Method::PUT;
    let json = header_str(&parts.headers, "content-type").is_some_and(|value| {
        value
            .split(';')
            .next()
            .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"))
    });
    if writes && !json {
        return Err(refuse(
            415,
            "The control plane takes Content-Type: application/json.",
        ));
    }
    Ok(())
}

/// Whether a `Host` header names this machine: `localhost` (or a name under `.localhost`), a
/// loopback address, the address the emulator is bound to, or a name allowed with
/// `EmulatorBuilder::allow_control_host`; with or without a port.
fn is_local_host(host: &str, guard: &ControlGuard) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6] or [v6]:port
        match rest.split_once(']') {
            Some((ip, port)) if port.is_empty() || port.starts_with(':') => ip,
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            Some(_) => return false,
            None => host,
        }
    };
    let name = name.to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") || guard.extra_hosts.contains(&name) {
        return true;
    }
    match name.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback() || Some(ip) == guard.bound_ip,
        Err(_) => false,
    }
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn control(shared: &Shared, method: &str, path: &str, query: &str, body: &[u8]) -> Reply {
    let ok = |v: &Value| Reply::json(200, v);
    let to_json = |v: Result<Value, serde_json::Error>| {
        v.unwrap_or_else(|e| json!({ "message": e.to_string() }))
    };
    match (method, path.trim_end_matches('/')) {
        ("GET", "/_emulator/health") => {
            ok(&json!({ "ok": true, "base_url": format!("{}/v1", shared.origin) }))
        }
        ("GET", "/_emulator/log") => {
            let since = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("since="))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
            let log = lock(&shared.log);
            let entries: Vec<&LogEntry> = log.iter().filter(|e| e.seq >= since).collect();
            let mut reply = ok(&to_json(serde_json::to_value(entries)));
            reply
                .headers
                .push(("x-emulator-log-dropped", log.dropped().to_string()));
            reply
        }
        ("GET", "/_emulator/rate-limits") => {
            let report = crate::RateLimitReport::from_log(lock(&shared.log).iter());
            ok(&to_json(serde_json::to_value(report)))
        }
        ("DELETE", "/_emulator/log") => {
            lock(&shared.log).clear();
            ok(&json!({ "ok": true }))
        }
        ("GET", "/_emulator/faults") => ok(&to_json(serde_json::to_value(
            lock(&shared.faults).config(),
        ))),
        ("POST", "/_emulator/faults") => {
            let rules: Result<Vec<FaultRule>, _> = serde_json::from_slice::<FaultRule>(body)
                .map(|r| vec![r])
                .or_else(|_| serde_json::from_slice::<Vec<FaultRule>>(body));
            match rules {
                Ok(rules) => {
                    let mut plan = lock(&shared.faults);
                    for r in rules {
                        plan.push(r);
                    }
                    ok(&to_json(serde_json::to_value(plan.config())))
                }
                Err(e) => Reply::json(
                    400,
                    &json!({ "message": format!("Invalid fault rule: {e}") }),
                ),
            }
        }
        ("PUT", "/_emulator/faults") => match serde_json::from_slice::<FaultConfig>(body) {
            Ok(cfg) => {
                let mut plan = lock(&shared.faults);
                plan.replace(cfg);
                ok(&to_json(serde_json::to_value(plan.config())))
            }
            Err(e) => Reply::json(
                400,
                &json!({ "message": format!("Invalid fault config: {e}") }),
            ),
        },
        ("PUT", "/_emulator/faults/random") => {
            match serde_json::from_slice::<Option<RandomFaults>>(body) {
                Ok(random) => {
                    let mut plan = lock(&shared.faults);
                    plan.set_random(random);
                    ok(&to_json(serde_json::to_value(plan.config())))
                }
                Err(e) => Reply::json(
                    400,
                    &json!({ "message": format!("Invalid random faults: {e}") }),
                ),
            }
        }
        ("DELETE", "/_emulator/faults") => {
            lock(&shared.faults).replace(FaultConfig::default());
            ok(&json!({ "ok": true }))
        }
        ("GET", "/_emulator/webhooks") => {
            ok(&to_json(serde_json::to_value(&*lock(&shared.deliveries))))
        }
        _ => Reply::json(
            404,
            &json!({ "message": format!("No control route for {method} {path}") }),
        ),
    }
}

/// Accepts connections until `shutdown` flips, then drops every connection and webhook task.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    // One permit per connection served: at the cap, further connections wait in the listening
    // socket's backlog, and the header read timeout closes the idle and the slow ones.
    let permits = Arc::new(Semaphore::new(shared.settings.max_connections));
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
                continue;
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let shared = Arc::clone(&shared);
                    conns.spawn(async move {
                        let header_read_timeout = shared.settings.header_read_timeout;
                        let svc = service_fn(move |req| handle(Arc::clone(&shared), req));
                        let _ = hyper::server::conn::http1::Builder::new()
                            .timer(TokioTimer::new())
                            .header_read_timeout(header_read_timeout)
                            .serve_connection(TokioIo::new(stream), svc)
                            .await;
                        drop(permit);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
    conns.abort_all();
    for task in lock(&shared.tasks).drain(..) {
        task.abort();
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::state::{MAX_REAL, scale_duration};

    fn extreme_f64() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(1e19),
            Just(f64::MAX),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::NAN),
            Just(-0.0),
            0.0..1e6,
        ]
    }

    proptest! {
        /// Any `retry_after` a fault rule holds, at any valid time scale: a wait of at most
        /// `MAX_REAL` whose Unix milliseconds still fit, never a panic.
        #[test]
        fn any_fault_retry_after_at_any_scale_is_a_bounded_wait(
            retry_after in extreme_f64(),
            scale in prop_oneof![Just(1000.0), Just(1.0), Just(1e-9), 1e-9f64..=1000.0],
        ) {
            let real = scale_duration(fault_wait(retry_after), scale);
            prop_assert!(real <= MAX_REAL);
            let at_ms = crate::state::unix_ms_now().saturating_add(real.as_millis() as u64);
            let at = UNIX_EPOCH + Duration::from_secs(at_ms.div_ceil(1000));
            prop_assert!(!httpdate::fmt_http_date(at).is_empty());
        }
    }
}
