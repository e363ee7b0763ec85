//! The error model: one public [`Error`] for everything a call can fail with, and one
//! classification of it, [`ErrorKind`], that answers through every wrapper.
//!
//! A user matches [`Error::kind`]; the variants of [`Error`] say where in the SDK the failure
//! was met (a create, a call that stopped retrying, a wait, a download) and carry the context
//! (the idempotency key, the attempts, the generation's reference). The accessors
//! ([`Error::status`], [`Error::api_error`], [`Error::retry_after`], [`Error::generation`], …)
//! look through those wrappers to the failure that decided.
//!
//! A *failed generation* is not an HTTP error: the create call succeeded and the failure shows
//! up when waiting, as [`ErrorKind::GenerationFailed`] (or [`ErrorKind::InsufficientCredits`])
//! with the typed [`GenerationFailure`](crate::model::GenerationFailure) in [`Error::failure`].
//!
//! No error ever contains the API key: keys are only printed redacted, and text the server
//! sent (messages, raw bodies, failure messages) is scrubbed of the client's key and of any
//! `pv_…`-shaped token before it is stored.

use std::{fmt, time::Duration};

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use crate::client::{CreateError, DownloadError, GaveUpError, WaitError, WaitErrorKind};
use crate::model::{FailureCause, GenerationFailure};
use crate::redact;
use crate::retry::{GiveUpReason, WaitCause};
use crate::transport::Cause;
use crate::{
    ApiKeyError, GenerationRef, IdError, IdempotencyKey, RefParseError,
    attribution::AttributionError, base_url::BaseUrlError, idempotency::IdempotencyKeyError,
    transport::TransportError,
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
/// Match [`kind`](Error::kind): it is the whole story, whichever call failed and however many
/// retries it made. The accessors look through every wrapper to the failure that decided.
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::{ApiError, Error, ErrorKind};
/// use http::{HeaderMap, StatusCode};
///
/// fn advice(err: &Error) -> String {
///     match err.kind() {
///         ErrorKind::RateLimited => format!(
///             "slow down; the server asked for {:?}",
///             err.retry_after().unwrap_or(Duration::from_secs(1))
///         ),
///         ErrorKind::InvalidInput | ErrorKind::BadRequest => "fix the request".into(),
///         ErrorKind::Unauthorized => "check the API key".into(),
///         ErrorKind::InsufficientCredits => "top up credits".into(),
///         ErrorKind::Server | ErrorKind::Timeout | ErrorKind::Connection => {
///             "the service is having trouble; try again later".into()
///         }
///         ErrorKind::GenerationFailed => format!("the video failed: {:?}", err.failure()),
///         _ => err.to_string(),
///     }
/// }
///
/// let body = br#"{"message":"Rate limit exceeded. Please try again later.","data":{"retry_after":42}}"#;
/// let err: Error = ApiError::from_response(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body).into();
/// assert_eq!(err.kind(), ErrorKind::RateLimited);
/// assert!(err.is_retryable());
/// assert_eq!(err.status(), Some(StatusCode::TOO_MANY_REQUESTS));
/// assert_eq!(err.retry_after(), Some(Duration::from_secs(42)));
/// assert_eq!(advice(&err), "slow down; the server asked for 42s");
/// ```
///
/// `Display` is the whole story on one line, each cause printed once; `source()` never returns
/// an error whose text that line already holds, so an `anyhow`/`eyre` report does not repeat
/// it either.
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
    Create(Box<CreateError>),
    /// A call stopped retrying: why, and the error of its last attempt.
    #[error(transparent)]
    GaveUp(Box<GaveUpError>),
    /// A wait ended without a video; carries the generation's reference for resuming.
    #[error(transparent)]
    Wait(Box<WaitError>),
    /// Downloading a video failed.
    #[error(transparent)]
    Download(Box<DownloadError>),
}

/// What kind of failure an [`Error`] is, looked up through every wrapper: the one thing to
/// match on.
///
/// | Kind | When | [`is_retryable`](Error::is_retryable) |
/// |---|---|---|
/// | `InvalidInput` | refused before sending: a bad key, id, body, base URL, or `https://` on a transport built without TLS | no |
/// | `Unauthorized` | 401: missing, invalid, expired or revoked key (also while waiting) | no |
/// | `BadRequest` | 400 for any reason but credits | no |
/// | `InsufficientCredits` | a 400 or 402 about credits, balance or a charge, or a generation that failed for that reason ([`FailureCause::classify`] is the one rule) | no |
/// | `NotFound` | 404: no such generation on this key (a wait's 404 after its grace) | no |
/// | `RateLimited` | 429, including a call that ran out of attempts or time on it, or whose asked wait was beyond the cap; see [`Error::retry_after`] | yes |
/// | `Server` | 5xx, including a call that ran out of attempts or time on them | yes |
/// | `Timeout` | an attempt's timeout, a call's deadline, a wait's deadline | yes |
/// | `Connection` | no usable answer: refused, reset, cut off, not HTTP | yes |
/// | `Decode` | a 2xx whose body does not have the documented shape, or is over the size cap | no |
/// | `GenerationFailed` | the generation reached `failed`; the cause is in [`Error::failure`] | no |
/// | `Cancelled` | a wait cancelled through its token or `cancel` | no |
/// | `Download` | the video could not be downloaded or written | no |
/// | `Unexpected` | a status the API does not document (403, 409, a 3xx, …), or a wait that could not start | no |
///
/// New kinds may be added (the enum is `#[non_exhaustive]`): keep a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Refused before sending.
    InvalidInput,
    /// 401.
    Unauthorized,
    /// 400, not about credits.
    BadRequest,
    /// Out of credits: a 400/402 about credits, or a generation that failed for it.
    InsufficientCredits,
    /// 404.
    NotFound,
    /// 429.
    RateLimited,
    /// 5xx.
    Server,
    /// An attempt's timeout, a call's or a wait's deadline.
    Timeout,
    /// No usable answer: not sent, or cut.
    Connection,
    /// A 2xx body that does not decode.
    Decode,
    /// The generation failed on the server.
    GenerationFailed,
    /// The wait was cancelled.
    Cancelled,
    /// The video could not be downloaded or saved.
    Download,
    /// A status the API does not document.
    Unexpected,
}

impl ErrorKind {
    /// A short phrase for people: `"rate limited"`, `"server error"`, …
    pub fn describe(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid input",
            Self::Unauthorized => "unauthorized",
            Self::BadRequest => "bad request",
            Self::InsufficientCredits => "insufficient credits",
            Self::NotFound => "not found",
            Self::RateLimited => "rate limited",
            Self::Server => "server error",
            Self::Timeout => "timed out",
            Self::Connection => "connection failed",
            Self::Decode => "undecodable response",
            Self::GenerationFailed => "generation failed",
            Self::Cancelled => "cancelled",
            Self::Download => "download failed",
            Self::Unexpected => "unexpected answer",
        }
    }

    /// Whether trying the same call later may help: rate limits, server errors, timeouts and
    /// connection failures.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited | Self::Server | Self::Timeout | Self::Connection
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

impl Error {
    /// What kind of failure this is, through every wrapper: see [`ErrorKind`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Input(_) => ErrorKind::InvalidInput,
            Self::Api(e) => e.kind(),
            Self::Decode(_) => ErrorKind::Decode,
            Self::Transport(e) => transport_kind(e),
            Self::Create(e) => e.error().kind(),
            Self::GaveUp(e) => match (e.last_error(), e.give_up().reason()) {
                (Some(last), _) => last.kind(),
                (
                    None,
                    GiveUpReason::ServerDelayBeyondCap { .. }
                    | GiveUpReason::DeadlineWouldPass {
                        cause: WaitCause::ServerAsked(_) | WaitCause::ClientPacing,
                        ..
                    },
                ) => ErrorKind::RateLimited,
                (None, _) => ErrorKind::Timeout,
            },
            Self::Wait(e) => match e.kind() {
                WaitErrorKind::Failed(_) => match e.failure().map(|f| f.cause) {
                    Some(FailureCause::InsufficientCredits) => ErrorKind::InsufficientCredits,
                    _ => ErrorKind::GenerationFailed,
                },
                // A wait the server's 429 pushed past the deadline was rate limited.
                WaitErrorKind::DeadlineExceeded { .. } => match e.cause().map(Error::kind) {
                    Some(ErrorKind::RateLimited) => ErrorKind::RateLimited,
                    _ => ErrorKind::Timeout,
                },
                WaitErrorKind::Cancelled => ErrorKind::Cancelled,
                WaitErrorKind::Unauthorized { .. } => ErrorKind::Unauthorized,
                WaitErrorKind::NotFound { .. } => ErrorKind::NotFound,
                WaitErrorKind::Fatal { .. } => e.cause().map_or(ErrorKind::Unexpected, Error::kind),
            },
            Self::Download(_) => ErrorKind::Download,
        }
    }

    /// The failure that decided, below the wrappers: a create's error, a call's last attempt, a
    /// wait's last poll. `self` when there is nothing below.
    fn deciding(&self) -> &Error {
        match self {
            Self::Create(e) => e.error().deciding(),
            Self::GaveUp(e) => e.last_error().map_or(self, Error::deciding),
            Self::Wait(e) => e.cause().map_or(self, Error::deciding),
            _ => self,
        }
    }

    /// The HTTP status of the answer that decided: the API's (through a create, the last
    /// attempt of a call, a wait's last poll), a 2xx that did not decode, or the video host's
    /// for a download.
    pub fn status(&self) -> Option<StatusCode> {
        match self.deciding() {
            Self::Api(e) => Some(e.status()),
            Self::Decode(e) => Some(e.status()),
            Self::Download(e) => e.status(),
            _ => None,
        }
    }

    /// The server's error answer that decided, through every wrapper.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self.deciding() {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    /// Text the server sent about the failure: its error `message`, or a failed generation's
    /// message. `None` when the server said nothing readable (a proxy page, a cut connection).
    /// Scrubbed of the API key like every server text.
    pub fn server_message(&self) -> Option<&str> {
        if let Some(api) = self.api_error() {
            return api.has_server_message().then(|| api.message());
        }
        self.failure().map(|f| f.message.as_str())
    }

    /// How long the server asked the client to wait (a 429's `retry_after`, or a
    /// `Retry-After` header): as the retry engine read it when it gave up on that wait, else as
    /// the deciding answer said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Create(e) => return e.error().retry_after(),
            Self::GaveUp(e) => match e.give_up().reason() {
                GiveUpReason::ServerDelayBeyondCap { asked, .. }
                | GiveUpReason::DeadlineWouldPass {
                    asked,
                    cause: WaitCause::ServerAsked(_),
                    ..
                } => return Some(asked),
                _ => {}
            },
            _ => {}
        }
        let api = self.api_error()?;
        api.retry_after().or_else(|| {
            api.retry_after_header()
                .and_then(|h| h.parse::<u64>().ok())
                .map(Duration::from_secs)
        })
    }

    /// Whether trying the same call later may help: [`ErrorKind::is_retryable`] of
    /// [`kind`](Error::kind) (rate limits, server errors, timeouts, connection failures).
    pub fn is_retryable(&self) -> bool {
        self.kind().is_retryable()
    }

    /// The generation this error is about, when one exists: a failed, expired or cancelled
    /// wait, a download. Resume with `Client::wait`.
    pub fn generation(&self) -> Option<&GenerationRef> {
        match self {
            Self::Wait(e) => Some(e.reference()),
            Self::Download(e) => Some(e.reference()),
            _ => None,
        }
    }

    /// The idempotency key of a create that failed for good: look the generation up with it
    /// before creating again, the create may have reached the server.
    pub fn idempotency_key(&self) -> Option<&IdempotencyKey> {
        match self {
            Self::Create(e) => e.idempotency_key(),
            _ => None,
        }
    }

    /// Why the generation failed, when it did ([`ErrorKind::GenerationFailed`] or a credit
    /// failure).
    pub fn failure(&self) -> Option<&GenerationFailure> {
        match self {
            Self::Wait(e) => e.failure(),
            _ => None,
        }
    }

    /// The API error, if this is one, unwrapped (see [`api_error`](Error::api_error) for the
    /// lookup through wrappers).
    pub fn as_api(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }
}

/// The kind of a transport failure: a timeout, a body over the cap, a request the library could
/// not express, a sink that refused a chunk, or a failed connection.
fn transport_kind(e: &TransportError) -> ErrorKind {
    match e.cause() {
        Cause::Timeout => ErrorKind::Timeout,
        Cause::BodyTooLarge { .. } => ErrorKind::Decode,
        Cause::InvalidRequest => ErrorKind::InvalidInput,
        Cause::Sink => ErrorKind::Download,
        _ => ErrorKind::Connection,
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
    /// A wait's options were refused (a zero deadline, …).
    #[error("invalid wait options: {0}")]
    WaitPolicy(crate::poll::WaitPolicyError),
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
