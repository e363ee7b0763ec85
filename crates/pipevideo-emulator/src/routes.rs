//! Routes: from a parsed request to the handler that answers it, and the error answers.
//!
//! `process` is the one entry point the HTTP layer calls for `/v1/...` and `/files/...`. It
//! matches the path, lets `GET /v1/engines` through unauthenticated, checks the key (exactly as
//! sent: missing, unknown, expired, revoked are four different 401s), counts the request against
//! the key's rate limit, then matches method and path segments to one function of `handlers`.
//! Checking request bodies is `validate`'s job.
//!
//! Every answer is a `Reply` (status, headers, body) before it goes on the wire, and every error
//! answer is written here: `Shared::error` in the configured `ErrorShape`, `Shared::rate_limited`
//! with its `retry_after` in real seconds (`Shared::retry_after_value`), and `orpc_code`, which the
//! fault layer in `server` shares.

use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::config::{ErrorShape, KeyState, fingerprint};
use crate::handlers;
use crate::state::{Api, Shared, lock};

pub(crate) const RATE_LIMIT_MESSAGE: &str = "Rate limit exceeded. Please try again later.";

impl Shared {
    /// The `retry_after` number for a real wait: whole seconds (rounded up) at scale 1, otherwise
    /// real seconds rounded up to the millisecond, e.g. 0.42.
    pub(crate) fn retry_after_value(&self, real_wait: Duration) -> Value {
        if self.settings.scale == 1.0 {
            let secs = real_wait.as_secs() + u64::from(real_wait.subsec_nanos() > 0);
            json!(secs.max(1))
        } else {
            let ms = real_wait.as_nanos().div_ceil(1_000_000).max(1) as f64;
            json!(ms / 1000.0)
        }
    }

    pub(crate) fn error(&self, status: u16, message: &str) -> Reply {
        let body = match self.settings.error_shape {
            ErrorShape::Message => json!({ "message": message }),
            ErrorShape::Orpc => json!({
                "defined": false,
                "code": orpc_code(status),
                "status": status,
                "message": message,
            }),
        };
        Reply::json(status, &body)
    }

    pub(crate) fn rate_limited(&self, real_wait: Duration) -> Reply {
        let mut body = Map::new();
        if self.settings.error_shape == ErrorShape::Orpc {
            body.insert("defined".into(), json!(false));
            body.insert("code".into(), json!("TOO_MANY_REQUESTS"));
            body.insert("status".into(), json!(429));
        }
        body.insert("message".into(), json!(RATE_LIMIT_MESSAGE));
        body.insert(
            "data".into(),
            json!({ "retry_after": self.retry_after_value(real_wait) }),
        );
        Reply::json(429, &Value::Object(body))
    }
}

pub(crate) fn orpc_code(status: u16) -> &'static str {
    match status {
        400 => "BAD_REQUEST",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        409 => "CONFLICT",
        429 => "TOO_MANY_REQUESTS",
        502 => "BAD_GATEWAY",
        503 => "SERVICE_UNAVAILABLE",
        504 => "GATEWAY_TIMEOUT",
        _ => "INTERNAL_SERVER_ERROR",
    }
}

/// A response before it goes on the wire.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Bytes,
    /// Bytes `start..end` of the video, streamed after `body` (which is then empty).
    pub(crate) stream: Option<(u64, u64)>,
}

impl Reply {
    pub(crate) fn json(status: u16, value: &Value) -> Self {
        Self::raw(status, "application/json", Bytes::from(value.to_string()))
    }
    pub(crate) fn raw(status: u16, content_type: &str, body: Bytes) -> Self {
        Self {
            status,
            headers: vec![("content-type", content_type.to_owned())],
            body,
            stream: None,
        }
    }
    pub(crate) fn is_json(&self) -> bool {
        self.headers
            .iter()
            .any(|(n, v)| *n == "content-type" && v.starts_with("application/json"))
    }
}

/// What processing one request produced.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) reply: Reply,
    pub(crate) org: Option<String>,
    pub(crate) key_fingerprint: Option<String>,
    pub(crate) generation_created: Option<String>,
    pub(crate) replay_of: Option<String>,
    pub(crate) rate_limited: bool,
}

impl Outcome {
    fn reply(reply: Reply) -> Self {
        Self {
            reply,
            org: None,
            key_fingerprint: None,
            generation_created: None,
            replay_of: None,
            rate_limited: false,
        }
    }
}

/// A parsed request, as far as processing needs it.
pub(crate) struct Req<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    pub(crate) authorization: Option<&'a str>,
    pub(crate) idempotency_key: Option<&'a str>,
    pub(crate) body: &'a [u8],
    /// The `Range` and `If-Range` headers, for `/files`; `None` when the host ignores ranges
    /// (the `no_ranges` fault).
    pub(crate) range: Option<(Option<&'a str>, Option<&'a str>)>,
}

/// The token after the `Bearer` scheme (matched case-insensitively, as RFC 9110 asks). The token
/// itself is taken verbatim: stray whitespace makes it an invalid key, as on the real service.
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

pub(crate) fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then_some(v)
    })
}

pub(crate) fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Handles one `/v1/...` or `/files/...` request.
pub(crate) fn process(shared: &Shared, req: &Req<'_>, now: Instant) -> Outcome {
    if let Some(rest) = req.path.strip_prefix("/files/") {
        return Outcome::reply(handlers::serve_file(shared, req, rest));
    }
    let Some(route) = req.path.strip_prefix("/v1") else {
        return Outcome::reply(shared.error(404, "Not found"));
    };
    let route = route.trim_end_matches('/');
    if req.method == "GET" && route == "/engines" {
        return Outcome::reply(handlers::engines());
    }

    // Authentication.
    let Some(auth) = req.authorization else {
        return Outcome::reply(
            shared.error(401, "Missing API key. Send `Authorization: Bearer <key>`."),
        );
    };
    let token = bearer_token(auth).unwrap_or("");
    let fp = fingerprint(token);
    let mut st = lock(&shared.state);
    let known = st.key(token);
    let mut outcome = Outcome::reply(Reply::json(200, &json!({})));
    outcome.key_fingerprint = (!token.is_empty()).then(|| fp.clone());
    let org = match known {
        None => {
            outcome.reply = shared.error(401, "Invalid API key");
            return outcome;
        }
        Some((org, KeyState::Expired)) => {
            outcome.org = Some(org);
            outcome.reply = shared.error(401, "API key has expired");
            return outcome;
        }
        Some((org, KeyState::Revoked)) => {
            outcome.org = Some(org);
            outcome.reply = shared.error(401, "API key has been revoked");
            return outcome;
        }
        Some((org, KeyState::Active)) => org,
    };
    outcome.org = Some(org.clone());

    // Rate limit, per key.
    if let Some(limit) = shared.settings.rate_limit {
        let window_real = shared.real(limit.window);
        if let Err(wait) = st.check_rate(&fp, &limit, window_real, shared.started, now) {
            outcome.rate_limited = true;
            outcome.reply = shared.rate_limited(wait);
            return outcome;
        }
    }

    let segments: Vec<&str> = route.split('/').skip(1).collect();
    let reply = match (req.method, segments.as_slice()) {
        ("POST", ["responses"]) | ("POST", ["video", "generations"]) => {
            let api = if segments[0] == "responses" {
                Api::Responses
            } else {
                Api::Legacy
            };
            return handlers::create(shared, &mut st, req, now, api, outcome);
        }
        ("GET", ["responses", id]) => {
            handlers::retrieve(shared, &st, &org, id, Api::Responses, now)
        }
        ("GET", ["video", "generations", id]) => {
            handlers::retrieve(shared, &st, &org, id, Api::Legacy, now)
        }
        ("GET", ["usage"]) => handlers::usage(&st, &org, now),
        ("GET", ["models"]) => handlers::models(),
        ("GET", ["models", slug @ ..]) if !slug.is_empty() => {
            handlers::model(shared, &st, slug, now)
        }
        _ => shared.error(404, &format!("No route for {} {}", req.method, req.path)),
    };
    outcome.reply = reply;
    outcome
}
