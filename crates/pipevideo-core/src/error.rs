//! The error model: one public [`Error`] for everything a call can fail with.
//!
//! | Variant | Meaning | Retry? |
//! |---|---|---|
//! | [`Error::Input`] | the SDK refused bad input before sending anything | never: fix the input |
//! | [`Error::Api`] | the server (or a proxy in front of it) answered with a non-2xx status | see [`ApiError::retryable`] |
//! | [`Error::Decode`] | a 2xx body did not have the documented shape | no |
//! | [`Error::Transport`] | no usable HTTP response arrived | see [`TransportError::kind`] |
//!
//! A *failed generation* is not an error of this type: the create call succeeded and the
//! failure is part of the polled [`Generation`](crate::model::Generation), see
//! [`GenerationFailure`](crate::model::GenerationFailure).
//!
//! No error in this module ever contains the API key: keys are only ever printed redacted,
//! and bodies are kept verbatim only as the server sent them.

use std::{fmt, time::Duration};

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::{
    ApiKeyError, IdError, RefParseError, attribution::AttributionError, base_url::BaseUrlError,
    idempotency::IdempotencyKeyError, transport::TransportError,
};

/// How many bytes of a response body an [`ApiError`] or [`DecodeError`] keeps for debugging.
pub const RAW_BODY_LIMIT: usize = 2048;

/// Error bodies larger than this are not parsed as JSON at all (only the truncated raw
/// body is kept): an error body is a few hundred bytes, anything much larger is a proxy page.
pub const ERROR_BODY_PARSE_LIMIT: usize = 64 * 1024;

/// How many characters of the server's `message` an [`ApiError`] keeps.
const MESSAGE_LIMIT: usize = 1024;

/// `retry_after` values above this many seconds (about 136 years) are read as
/// [`Duration::MAX`]: "beyond any deadline".
pub const RETRY_AFTER_HUGE_SECS: f64 = u32::MAX as f64;

/// Everything a Pipevideo call can fail with.
///
/// ```
/// use pipevideo_core::{Error, ApiError};
/// use http::{HeaderMap, StatusCode};
///
/// let body = br#"{"message":"Rate limit exceeded. Please try again later.","data":{"retry_after":42}}"#;
/// let err: Error = ApiError::from_response(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body).into();
/// assert!(err.is_retryable());
/// if let Error::Api(api) = &err {
///     assert_eq!(api.retry_after(), Some(std::time::Duration::from_secs(42)));
/// }
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bad input, refused before any request was sent.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The server answered with a non-2xx status.
    #[error(transparent)]
    Api(#[from] ApiError),
    /// A 2xx body could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// No usable HTTP response was received.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// A create failed for good; carries the idempotency key it sent, for reconciling.
    #[error(transparent)]
    Create(Box<crate::client::CreateError>),
    /// A call stopped retrying: why, and the error of its last attempt.
    #[error(transparent)]
    GaveUp(Box<crate::client::GaveUpError>),
    /// A wait ended without a video; carries the generation's reference for resuming.
    #[error(transparent)]
    Wait(Box<crate::client::WaitError>),
    /// Downloading a video failed.
    #[error(transparent)]
    Download(Box<crate::client::DownloadError>),
}

impl Error {
    /// Whether trying the same request again may succeed.
    ///
    /// `Api` errors answer [`ApiError::retryable`]; transport failures are retryable (whether
    /// a retry is *safe* depends on [`TransportError::kind`] and the request, which the retry
    /// engine decides); input and decode errors never are.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api(e) => e.retryable(),
            Self::Transport(_) => true,
            Self::Create(e) => e.error().is_retryable(),
            Self::Input(_)
            | Self::Decode(_)
            | Self::GaveUp(_)
            | Self::Wait(_)
            | Self::Download(_) => false,
        }
    }

    /// The generation this error is about, when one exists: a failed or expired wait, a
    /// download. Resume with `Client::wait`.
    pub fn generation(&self) -> Option<&crate::GenerationRef> {
        match self {
            Self::Wait(e) => Some(e.reference()),
            Self::Download(e) => Some(e.reference()),
            _ => None,
        }
    }

    /// The idempotency key of a create that failed for good.
    pub fn idempotency_key(&self) -> Option<&crate::IdempotencyKey> {
        match self {
            Self::Create(e) => e.idempotency_key(),
            _ => None,
        }
    }

    /// The API error, if this is one.
    pub fn as_api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }
}

// Each cause converts into `InputError` and straight into `Error`, so `?` works on both.
// The cause is not also exposed as `source()`: its text is already in the message, and an
// error-chain printer would otherwise repeat it.
macro_rules! input_from {
    ($($t:ty => $v:ident),* $(,)?) => {$(
        impl From<$t> for InputError {
            fn from(e: $t) -> Self {
                Self::$v(e)
            }
        }
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Self::Input(InputError::$v(e))
            }
        }
    )*};
}
input_from!(
    ApiKeyError => ApiKey,
    IdError => Id,
    RefParseError => Ref,
    BaseUrlError => BaseUrl,
    AttributionError => Attribution,
    IdempotencyKeyError => IdempotencyKey,
    RequestError => Request,
);

/// Input the SDK refused before sending anything. Each cause has its own typed error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The API key is not usable.
    #[error("invalid API key: {0}")]
    ApiKey(ApiKeyError),
    /// The API key has a non-ASCII character, which cannot go into an HTTP header portably.
    #[error("invalid API key: non-ASCII character at byte {position}")]
    KeyNotAscii {
        /// Byte offset of the first non-ASCII byte.
        position: usize,
    },
    /// A generation id is not usable.
    #[error("invalid generation id: {0}")]
    Id(IdError),
    /// A generation reference (`responses:gen_…`) did not parse.
    #[error("invalid generation reference: {0}")]
    Ref(RefParseError),
    /// The base URL was refused.
    #[error("invalid base URL: {0}")]
    BaseUrl(BaseUrlError),
    /// An attribution header value was refused.
    #[error("invalid attribution header: {0}")]
    Attribution(AttributionError),
    /// An idempotency key was refused.
    #[error("invalid idempotency key: {0}")]
    IdempotencyKey(IdempotencyKeyError),
    /// A request body failed validation.
    #[error("invalid request: {0}")]
    Request(RequestError),
    /// The base URL is `https://` but the transport was built without TLS; the error names
    /// the Cargo feature to enable.
    #[error(transparent)]
    Tls(crate::transport::MissingTls),
}

/// Why a request body was refused before sending.
///
/// Messages name the field but never echo its value (a value may be a multi-megabyte data URI).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A required field is absent.
    #[error("`{field}` is required")]
    Missing {
        /// The wire name of the field.
        field: &'static str,
    },
    /// A field that must carry text is empty or only whitespace.
    #[error("`{field}` must not be empty")]
    Empty {
        /// The wire name of the field.
        field: &'static str,
    },
    /// A multimodal input has no `input_text` part anywhere (the API requires at least one).
    #[error("`input` needs at least one `input_text` part with text")]
    NoInputText,
    /// A URL field is neither an `https://` URL nor a `data:` URI (or, for `HTTP-Referer`-like
    /// fields, not an http(s) URL).
    #[error("`{field}` {reason}")]
    InvalidUrl {
        /// The wire name of the field.
        field: &'static str,
        /// What is wrong, e.g. "must be an https:// URL or a data: URI".
        reason: &'static str,
    },
    /// A field's value is out of the accepted range or format.
    #[error("`{field}` {reason}")]
    InvalidValue {
        /// The wire name of the field.
        field: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// Two fields that exclude each other are both set (e.g. legacy `model` and `models`).
    #[error("`{first}` and `{second}` cannot both be set")]
    Conflict {
        /// One field.
        first: &'static str,
        /// The other field.
        second: &'static str,
    },
}

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
                .map(|m| truncate_chars(m, MESSAGE_LIMIT));
            orpc_code = obj
                .get("code")
                .and_then(Value::as_str)
                .map(|c| truncate_chars(c, 64));
            retry_after = obj
                .get("data")
                .and_then(|d| d.get("retry_after"))
                .and_then(parse_retry_after);
        }
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
            raw_body: raw_body_prefix(body),
            body_len: body.len(),
        }))
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.0.status
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
        s.push_str(": ");
        s.push_str(&self.0.message);
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
            message: truncate_chars(&message, MESSAGE_LIMIT),
            raw_body: raw_body_prefix(body),
            body_len: body.len(),
        }))
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

fn raw_body_prefix(body: &[u8]) -> String {
    let end = body.len().min(RAW_BODY_LIMIT);
    String::from_utf8_lossy(&body[..end]).into_owned()
}

pub(crate) fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}
