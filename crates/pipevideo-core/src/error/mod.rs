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

mod api;
mod call;

use std::{fmt, time::Duration};

use http::StatusCode;

use crate::model::{FailureCause, GenerationFailure};
use crate::retry::{GiveUpReason, WaitCause};
use crate::transport::Cause;
use crate::{
    ApiKeyError, GenerationRef, IdError, IdempotencyKey, RefParseError,
    attribution::AttributionError, base_url::BaseUrlError, idempotency::IdempotencyKeyError,
    transport::TransportError,
};

pub use crate::model::RequestError;
pub use api::{ApiError, DecodeError, ErrorCode};
pub use call::{CreateError, DownloadBound, DownloadError, GaveUpError, WaitError, WaitErrorKind};

/// How many bytes of a response body an [`ApiError`] or [`DecodeError`] keeps for debugging.
pub const RAW_BODY_LIMIT: usize = 2048;

/// Error bodies larger than this are not parsed as JSON at all (only the truncated raw
/// body is kept): an error body is a few hundred bytes, anything much larger is a proxy page.
pub const ERROR_BODY_PARSE_LIMIT: usize = 64 * 1024;

/// How many characters of the server's `message` an [`ApiError`] keeps.
pub(crate) const MESSAGE_LIMIT: usize = 1024;

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
    /// The shared pacing store could not be reached and the client is fail-closed: nothing
    /// was sent ([`OnStoreDown::FailClosed`](crate::pacing::shared::OnStoreDown::FailClosed)).
    #[error(transparent)]
    Pacing(#[from] crate::pacing::shared::SharedPacingError),
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
/// | `Cancelled` | a wait or a save cancelled through its token (or a wait through `cancel`) | no |
/// | `Download` | the video could not be downloaded or written: a bound hit (header or idle timeout, deadline, size cap: [`DownloadError::bound`]), the host's status, a cut it could not resume, the local file | no |
/// | `Unexpected` | a status the API does not document (403, 409, a 3xx, …), or a wait that could not start | no |
/// | `Pacing` | the shared pacing store was down and the client is fail-closed: nothing was sent | yes |
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
    /// The shared pacing store was down and the client fails closed: nothing was sent.
    Pacing,
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
            Self::Pacing => "shared pacing store unavailable",
        }
    }

    /// Whether trying the same call later may help: rate limits, server errors, timeouts and
    /// connection failures.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Self::RateLimited | Self::Server | Self::Timeout | Self::Connection | Self::Pacing
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
                    | GiveUpReason::HeldBeyondCap { .. }
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
            Self::Download(e) if e.is_cancelled() => ErrorKind::Cancelled,
            Self::Download(_) => ErrorKind::Download,
            Self::Pacing(_) => ErrorKind::Pacing,
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
                GiveUpReason::HeldBeyondCap { left, .. } => return Some(left),
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
    WaitPolicy(crate::policy::WaitPolicyError),
}
