//! What the server said when it refused ([`ApiError`], with its [`ErrorCode`]) and what could
//! not be read ([`DecodeError`]).

use std::{fmt, time::Duration};

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::{
    ERROR_BODY_PARSE_LIMIT, ErrorKind, MESSAGE_LIMIT, RAW_BODY_LIMIT, RETRY_AFTER_HUGE_SECS,
};
use crate::model::FailureCause;
use crate::redact;

/// The error code of an [`ApiError`], derived from the HTTP status (the server's oRPC `code`
/// string, when the body has one, is kept separately: [`ApiError::orpc_code`]).
///
/// ```
/// use pipevideo_core::ErrorCode;
/// use http::StatusCode;
/// assert_eq!(ErrorCode::from_status(StatusCode::NOT_FOUND), ErrorCode::NotFound);
/// assert_eq!(ErrorCode::from_status(StatusCode::BAD_GATEWAY), ErrorCode::Other(502));
/// assert_eq!(ErrorCode::TooManyRequests.as_str(), "TOO_MANY_REQUESTS");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 400 `BAD_REQUEST`: invalid model, insufficient credits, malformed input, unsupported provider.
    BadRequest,
    /// 401 `UNAUTHORIZED`: missing, invalid, expired or inactive key.
    Unauthorized,
    /// 404 `NOT_FOUND`: wrong id, or a generation of another organization.
    NotFound,
    /// 429 `TOO_MANY_REQUESTS`: over 100 requests per minute per key.
    TooManyRequests,
    /// 500 `INTERNAL_SERVER_ERROR`: unexpected server failure.
    InternalServerError,
    /// Any other status (502/503/504 from proxies, and anything undocumented).
    Other(u16),
}

impl ErrorCode {
    /// The code for an HTTP status.
    pub fn from_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => Self::BadRequest,
            401 => Self::Unauthorized,
            404 => Self::NotFound,
            429 => Self::TooManyRequests,
            500 => Self::InternalServerError,
            other => Self::Other(other),
        }
    }

    /// The oRPC spelling (`BAD_REQUEST`, …), or `OTHER` for [`ErrorCode::Other`].
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::NotFound => "NOT_FOUND",
            Self::TooManyRequests => "TOO_MANY_REQUESTS",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
            Self::Other(_) => "OTHER",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Other(s) => write!(f, "HTTP {s}"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// A non-2xx answer from the server or a proxy in front of it.
///
/// Built by [`ApiError::from_response`], which accepts any bytes and never panics: the
/// documented `{message}` and `{message, data: {retry_after}}`, oRPC's fuller
/// `{defined, code, status, message, data}` (also inside oRPC's `{json: …}` envelope), an
/// HTML page from a proxy, an empty body,
/// truncated JSON, invalid UTF-8, or a huge body (only the first [`RAW_BODY_LIMIT`] bytes
/// are kept, in [`ApiError::raw_body`]).
///
/// ```
/// use pipevideo_core::{ApiError, ErrorCode};
/// use http::{HeaderMap, StatusCode};
///
/// let e = ApiError::from_response(StatusCode::BAD_GATEWAY, &HeaderMap::new(), b"<html>502</html>");
/// assert_eq!(e.code(), ErrorCode::Other(502));
/// assert!(e.retryable());
/// assert_eq!(e.raw_body(), "<html>502</html>");
///
/// let e = ApiError::from_response(StatusCode::UNAUTHORIZED, &HeaderMap::new(),
///     br#"{"defined":false,"code":"UNAUTHORIZED","status":401,"message":"API key has expired"}"#);
/// assert_eq!(e.message(), "API key has expired");
/// assert_eq!(e.orpc_code(), Some("UNAUTHORIZED"));
/// assert!(!e.retryable());
/// ```
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ApiError(Box<ApiErrorRepr>);

/// Boxed so that `Result<T, Error>` stays small.
#[derive(Debug, Clone, PartialEq)]
struct ApiErrorRepr {
    status: StatusCode,
    code: ErrorCode,
    orpc_code: Option<String>,
    message: String,
    has_server_message: bool,
    retry_after: Option<Duration>,
    retry_after_header: Option<String>,
    raw_body: String,
    body_len: usize,
}

impl ApiError {
    /// Classifies a non-2xx response. Never panics, whatever the bytes.
    ///
    /// `headers` is read only for `Retry-After`, which is kept verbatim
    /// ([`ApiError::retry_after_header`]) for the retry engine to interpret (an HTTP-date
    /// needs the current time, which this crate never reads).
    pub fn from_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        Self::from_response_scrubbed(status, headers, body, None)
    }

    /// [`ApiError::from_response`], scrubbing `secret` (the client's key) from the server's
    /// text before it is cut to its limits, so that no piece of it survives a cut.
    pub(crate) fn from_response_scrubbed(
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        secret: Option<&str>,
    ) -> Self {
        let retry_after_header = headers
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(|s| truncate_chars(s.trim(), 128));
        let mut orpc_code = None;
        let mut message = None;
        let mut retry_after = None;
        if body.len() <= ERROR_BODY_PARSE_LIMIT
            && let Ok(Value::Object(outer)) = serde_json::from_slice::<Value>(body)
        {
            // oRPC's RPC protocol wraps the error as `{"json": {...}, "meta": [...]}`.
            let obj = match outer.get("json") {
                Some(Value::Object(inner)) if !outer.contains_key("message") => inner,
                _ => &outer,
            };
            message = obj
                .get("message")
                .and_then(Value::as_str)
                .filter(|m| !m.trim().is_empty())
                .map(|m| truncate_chars(&redact::scrub(m, secret), MESSAGE_LIMIT));
            orpc_code = obj
                .get("code")
                .and_then(Value::as_str)
                .map(|c| truncate_chars(c, 64));
            retry_after = obj
                .get("data")
                .and_then(|d| d.get("retry_after"))
                .and_then(parse_retry_after);
        }
        let orpc_code = orpc_code.map(|c| redact::scrub(&c, secret).into_owned());
        let has_server_message = message.is_some();
        let message = message.unwrap_or_else(|| {
            let reason = status.canonical_reason().unwrap_or("unknown status");
            if body.is_empty() {
                format!("{reason} (empty body)")
            } else {
                format!("{reason} (body is not a JSON error object)")
            }
        });
        Self(Box::new(ApiErrorRepr {
            status,
            code: ErrorCode::from_status(status),
            orpc_code,
            message,
            has_server_message,
            retry_after,
            retry_after_header,
            raw_body: raw_body_prefix(body, secret),
            body_len: body.len(),
        }))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The [`ErrorKind`] of this answer: by status, and for a 400 by whether its message is
    /// about credits ([`FailureCause::classify`]).
    pub fn kind(&self) -> ErrorKind {
        match self.0.status.as_u16() {
            400 => {
                let cause = FailureCause::classify(self.orpc_code(), self.message());
                if self.0.has_server_message && cause == FailureCause::InsufficientCredits {
                    ErrorKind::InsufficientCredits
                } else {
                    ErrorKind::BadRequest
                }
            }
            401 => ErrorKind::Unauthorized,
            402 => ErrorKind::InsufficientCredits,
            404 => ErrorKind::NotFound,
            408 => ErrorKind::Timeout,
            429 => ErrorKind::RateLimited,
            500..=599 => ErrorKind::Server,
            _ => ErrorKind::Unexpected,
        }
    }

    /// The error code derived from the status.
    pub fn code(&self) -> ErrorCode {
        self.0.code
    }

    /// The `code` string from an oRPC body (`"TOO_MANY_REQUESTS"`, …), if there was one.
    pub fn orpc_code(&self) -> Option<&str> {
        self.0.orpc_code.as_deref()
    }

    /// The server's `message`, or, when the body had none (a proxy page, an empty body), a
    /// description built from the status. See [`ApiError::has_server_message`].
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// Whether [`ApiError::message`] came from the server's JSON body.
    pub fn has_server_message(&self) -> bool {
        self.0.has_server_message
    }

    /// The wait the server asked for in `data.retry_after` (seconds on the wire).
    ///
    /// Integers, floats and numeric strings are accepted. Negative, NaN and unparseable values
    /// read as `None` (absent: they never shorten a wait); values above
    /// [`RETRY_AFTER_HUGE_SECS`] (and infinity) read as [`Duration::MAX`], "beyond any
    /// deadline". Callers must add it to an `Instant` with `checked_add`.
    pub fn retry_after(&self) -> Option<Duration> {
        self.0.retry_after
    }

    /// The raw `Retry-After` header, if the response had one (seconds or an HTTP-date).
    pub fn retry_after_header(&self) -> Option<&str> {
        self.0.retry_after_header.as_deref()
    }

    /// Whether retrying the same request can help: 429, 500, 502, 503 and 504 yes
    /// (429 after [`ApiError::retry_after`], the others with backoff); 400, 401, 404 and
    /// every other status no.
    pub fn retryable(&self) -> bool {
        matches!(self.0.status.as_u16(), 429 | 500 | 502 | 503 | 504)
    }

    /// The first [`RAW_BODY_LIMIT`] bytes of the body, lossily decoded as UTF-8.
    pub fn raw_body(&self) -> &str {
        &self.0.raw_body
    }

    /// The full length of the body in bytes (the raw body kept may be shorter).
    pub fn body_len(&self) -> usize {
        self.0.body_len
    }

    fn render(&self) -> String {
        let mut s = format!("HTTP {}", self.0.status.as_u16());
        if let Some(reason) = self.0.status.canonical_reason() {
            s.push(' ');
            s.push_str(reason);
        }
        if let Some(code) = &self.0.orpc_code {
            s.push_str(&format!(" ({code})"));
        }
        if self.0.has_server_message {
            s.push_str(": ");
            s.push_str(&self.0.message);
        } else {
            // The message is only the status's reason and what the body was: print the
            // reason once (it is already in `HTTP 400 Bad Request`).
            let reason = self.0.status.canonical_reason().unwrap_or("unknown status");
            let detail = self
                .0
                .message
                .strip_prefix(reason)
                .unwrap_or(&self.0.message);
            s.push(' ');
            s.push_str(detail.trim_start());
        }
        if let Some(d) = self.0.retry_after {
            if d == Duration::MAX {
                s.push_str(" (retry after: beyond any deadline)");
            } else {
                s.push_str(&format!(" (retry after {:.3}s)", d.as_secs_f64()));
            }
        }
        s
    }
}

/// Reads a `retry_after` value: integer, float or numeric string, in seconds.
/// See [`ApiError::retry_after`] for the rules.
pub(crate) fn parse_retry_after(v: &Value) -> Option<Duration> {
    let secs = match v {
        Value::Number(n) => n.as_f64()?,
        Value::String(s) => s.trim().parse::<f64>().ok()?,
        _ => return None,
    };
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    if secs > RETRY_AFTER_HUGE_SECS {
        return Some(Duration::MAX);
    }
    Duration::try_from_secs_f64(secs).ok()
}

/// A 2xx response whose body did not decode into the expected type.
///
/// Keeps the JSON path where decoding stopped (`output[0].status`, `.` for the root) and the
/// first [`RAW_BODY_LIMIT`] bytes of the body.
///
/// ```
/// use pipevideo_core::{codec, Error, model::Usage};
/// let resp = http::Response::new(br#"{"daily_usage":[{"date":20260307}]}"#.to_vec());
/// let Err(Error::Decode(e)) = codec::decode_json::<Usage, _>(&resp) else { panic!() };
/// assert_eq!(e.path(), "daily_usage[0].date");
/// assert!(e.raw_body().contains("20260307"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "could not decode the {} in an HTTP {} response at `{}`: {}",
    self.0.what, self.0.status.as_u16(), self.0.path, self.0.message
)]
pub struct DecodeError(Box<DecodeErrorRepr>);

/// Boxed so that `Result<T, Error>` stays small.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DecodeErrorRepr {
    status: StatusCode,
    what: &'static str,
    path: String,
    message: String,
    raw_body: String,
    body_len: usize,
}

impl DecodeError {
    pub(crate) fn new(
        status: StatusCode,
        what: &'static str,
        path: String,
        message: String,
        body: &[u8],
    ) -> Self {
        Self(Box::new(DecodeErrorRepr {
            status,
            what,
            path: if path.is_empty() {
                ".".to_owned()
            } else {
                path
            },
            message: redact::scrub(&truncate_chars(&message, MESSAGE_LIMIT), None).into_owned(),
            raw_body: raw_body_prefix(body, None),
            body_len: body.len(),
        }))
    }

    /// Scrubs the client's key from the kept text (decoding does not know it). The text was
    /// cut to its limits first, so a piece of the key left at a cut is scrubbed too.
    pub(crate) fn redact_secret(&mut self, secret: &str) {
        redact::scrub_cut_in_place(&mut self.0.message, secret);
        redact::scrub_cut_in_place(&mut self.0.raw_body, secret);
    }

    /// The HTTP status of the response (a 2xx).
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// What was being decoded, e.g. `"usage"` or `"generation"`.
    pub fn what(&self) -> &'static str {
        self.0.what
    }

    /// The JSON path where decoding failed (`.` is the root).
    pub fn path(&self) -> &str {
        &self.0.path
    }

    /// The decoder's description of the problem.
    pub fn message(&self) -> &str {
        &self.0.message
    }

    /// The first [`RAW_BODY_LIMIT`] bytes of the body, lossily decoded as UTF-8.
    pub fn raw_body(&self) -> &str {
        &self.0.raw_body
    }

    /// The full length of the body in bytes.
    pub fn body_len(&self) -> usize {
        self.0.body_len
    }
}

/// The first [`RAW_BODY_LIMIT`] bytes of a body, lossily decoded, with `pv_…` tokens and
/// `secret` scrubbed before the cut (a window past the limit is scrubbed, so that a token
/// across the limit is replaced whole rather than cut in two).
fn raw_body_prefix(body: &[u8], secret: Option<&str>) -> String {
    let window = RAW_BODY_LIMIT + secret.map_or(0, str::len) + 64;
    let end = body.len().min(window);
    let text = String::from_utf8_lossy(&body[..end]);
    let mut text = redact::scrub(&text, secret).into_owned();
    if text.len() > RAW_BODY_LIMIT {
        let mut cut = RAW_BODY_LIMIT;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    text
}

pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
