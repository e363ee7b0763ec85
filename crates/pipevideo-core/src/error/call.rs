//! The errors the client adds to the core's model: a call that stopped retrying, a create that
//! failed for good, a wait that ended without a video, and a download that failed.
//!
//! Each prints its cause once, in its own `Display`, and returns no `source()`: the line is
//! the whole story, and a report printer that walks sources has nothing to repeat.
//! [`Error::kind`](crate::Error::kind) and the other accessors of [`Error`] look through them.

use std::fmt;
use std::time::Duration;

use http::StatusCode;

use crate::model::{Generation, GenerationFailure};
use crate::retry::GiveUp;
use crate::transport::TransportError;
use crate::{Error, GenerationRef, IdempotencyKey, Status};

/// A call whose retries stopped: why (from the retry engine), and the error of its last
/// attempt, whose message is usually what a person needs.
#[derive(Debug, Clone)]
pub struct GaveUpError {
    pub(crate) give_up: GiveUp,
    pub(crate) last: Option<Error>,
    pub(crate) elapsed: Duration,
}

impl GaveUpError {
    /// The retry engine's account: attempts made, last outcome, reason.
    pub fn give_up(&self) -> &GiveUp {
        &self.give_up
    }

    /// The error of the last attempt, if an attempt was made.
    pub fn last_error(&self) -> Option<&Error> {
        self.last.as_ref()
    }

    /// How long the call ran, from its first attempt to giving up.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }
}

/// `<the last attempt's error> (the SDK made 4 attempts over 7.2 s and stopped: <why>)`.
impl fmt::Display for GaveUpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attempts = self.give_up.attempts();
        let reason = self.give_up.reason();
        match &self.last {
            Some(last) => write!(
                f,
                "{last} (the SDK made {attempts} attempt{} over {:.1} s and stopped: {reason})",
                if attempts == 1 { "" } else { "s" },
                self.elapsed.as_secs_f64()
            ),
            None => write!(
                f,
                "the call stopped before attempt {} after {:.1} s: {reason}",
                attempts + 1,
                self.elapsed.as_secs_f64()
            ),
        }
    }
}

/// No `source()`: the last attempt's error is already in the message.
impl std::error::Error for GaveUpError {}

/// A create that failed for good, with the idempotency key it sent (if any), so the caller can
/// reconcile: the create may have reached the server before the failure.
#[derive(Debug, Clone)]
pub struct CreateError {
    pub(crate) idempotency_key: Option<IdempotencyKey>,
    pub(crate) source: Error,
}

impl CreateError {
    /// The `Idempotency-Key` every attempt of this create carried.
    pub fn idempotency_key(&self) -> Option<&IdempotencyKey> {
        self.idempotency_key.as_ref()
    }

    /// Why the create failed.
    pub fn error(&self) -> &Error {
        &self.source
    }
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "create failed: {}", self.source)?;
        if let Some(key) = &self.idempotency_key {
            write!(f, " (idempotency key {key})")?;
        }
        Ok(())
    }
}

/// No `source()`: the create's error is already in the message.
impl std::error::Error for CreateError {}

/// A wait that ended without a completed generation. It always carries the generation's
/// [`GenerationRef`], so the wait can be resumed with
/// [`Client::wait`](crate::client::Client::wait), and the last status seen.
#[derive(Debug, Clone)]
pub struct WaitError {
    pub(crate) reference: GenerationRef,
    pub(crate) last_status: Option<Status>,
    pub(crate) polls: u32,
    pub(crate) kind: WaitErrorKind,
    /// The error of the poll (or the check) that ended the wait, when one did: a 401, a 404
    /// after the grace, a fatal answer, or a 429 whose wait ends past the deadline.
    pub(crate) cause: Option<Error>,
}

/// How a wait ended without a video.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum WaitErrorKind {
    /// The generation failed on the server; here it is, with its typed failure.
    Failed(Box<Generation>),
    /// The wait's deadline passed first.
    DeadlineExceeded {
        /// The wait's deadline, measured from its start.
        deadline: Duration,
        /// How long after the deadline the server would have accepted the next poll, if it had
        /// asked for a wait that ended after the deadline.
        server_ready_after_deadline: Option<Duration>,
    },
    /// The wait was cancelled (token or `cancel`).
    Cancelled,
    /// 401: the key was refused while waiting (revoked, expired).
    Unauthorized {
        /// The server's message.
        message: String,
    },
    /// 404 after the grace period: no such generation on this key.
    NotFound {
        /// The server's message.
        message: String,
    },
    /// A failure that polling again cannot fix.
    Fatal {
        /// What happened.
        message: String,
    },
}

impl WaitError {
    pub(crate) fn new(
        reference: GenerationRef,
        last_status: Option<Status>,
        polls: u32,
        kind: WaitErrorKind,
        cause: Option<Error>,
    ) -> Self {
        Self {
            reference,
            last_status,
            polls,
            kind,
            cause,
        }
    }

    /// A wait that could not start (bad options, a duplicate in the fleet).
    pub(crate) fn fatal(reference: &GenerationRef, message: String, cause: Option<Error>) -> Self {
        WaitError {
            reference: reference.clone(),
            last_status: None,
            polls: 0,
            kind: WaitErrorKind::Fatal { message },
            cause,
        }
    }

    /// The generation waited on: resume with it.
    pub fn reference(&self) -> &GenerationRef {
        &self.reference
    }

    /// The last status a poll saw.
    pub fn last_status(&self) -> Option<&Status> {
        self.last_status.as_ref()
    }

    /// Polls this wait sent.
    pub fn polls(&self) -> u32 {
        self.polls
    }

    /// How the wait ended.
    pub fn kind(&self) -> &WaitErrorKind {
        &self.kind
    }

    /// The error of the poll that ended the wait (a 401, a 404 after the grace, a 400, an
    /// undecodable answer), or of the options that kept it from starting.
    pub fn cause(&self) -> Option<&Error> {
        self.cause.as_ref()
    }

    /// The generation's failure, when it failed on the server.
    pub fn failure(&self) -> Option<&GenerationFailure> {
        match &self.kind {
            WaitErrorKind::Failed(g) => g.failure(),
            _ => None,
        }
    }
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            WaitErrorKind::Failed(g) => match g.failure() {
                Some(failure) => write!(f, "generation {} failed: {failure}", self.reference)?,
                None => write!(f, "generation {} failed", self.reference)?,
            },
            WaitErrorKind::DeadlineExceeded { deadline, .. } => {
                write!(
                    f,
                    "generation {} did not finish within the wait deadline of {} s",
                    self.reference,
                    deadline.as_secs_f64()
                )?;
                if let Some(cause) = &self.cause {
                    write!(f, ": the server asked to wait past it ({cause})")?;
                }
            }
            WaitErrorKind::Cancelled => write!(f, "wait for {} was cancelled", self.reference)?,
            WaitErrorKind::Unauthorized { message } => write!(
                f,
                "the API key was refused while waiting for {}: {message}",
                self.reference
            )?,
            WaitErrorKind::NotFound { message } => {
                write!(f, "generation {} was not found: {message}", self.reference)?
            }
            WaitErrorKind::Fatal { message } => {
                write!(f, "waiting for {} failed: {message}", self.reference)?
            }
        }
        if let Some(status) = &self.last_status {
            write!(f, " (last status: {status})")?;
        }
        Ok(())
    }
}

/// No `source()`: the ending poll's error is already in the message.
impl std::error::Error for WaitError {}

/// Which bound of a download was hit (see
/// [`DownloadPolicy`](crate::policy::DownloadPolicy), where each is set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DownloadBound {
    /// The host sent no response headers within this time.
    HeaderTimeout(Duration),
    /// The body stalled, no chunk arriving within this time.
    IdleTimeout(Duration),
    /// The whole download (resumes and refreshes included) ran past this deadline.
    Deadline(Duration),
    /// The video is larger than this many bytes (announced, or crossed while streaming).
    SizeCap(u64),
}

impl fmt::Display for DownloadBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeaderTimeout(d) => write!(f, "no response headers within {d:?}"),
            Self::IdleTimeout(d) => write!(f, "the body stalled for {d:?}"),
            Self::Deadline(d) => write!(f, "the download ran past its {d:?} deadline"),
            Self::SizeCap(n) => write!(f, "the video is over the {n}-byte size cap"),
        }
    }
}

/// A video download (or save) that failed: the generation it was for, and what went wrong:
/// a bound hit ([`bound`](Self::bound)), the host's status ([`status`](Self::status)), the
/// transport ([`transport_error`](Self::transport_error)), the local file
/// ([`io_kind`](Self::io_kind): `AlreadyExists` for a target kept without `overwrite`), or a
/// cancel ([`is_cancelled`](Self::is_cancelled)).
#[derive(Debug, Clone, thiserror::Error)]
#[error("downloading the video of {reference} failed: {message}")]
pub struct DownloadError {
    reference: GenerationRef,
    message: String,
    status: Option<StatusCode>,
    transport: Option<Box<TransportError>>,
    bound: Option<DownloadBound>,
    io_kind: Option<std::io::ErrorKind>,
    cancelled: bool,
}

impl DownloadError {
    pub(crate) fn new(reference: &GenerationRef, message: impl Into<String>) -> Self {
        Self {
            reference: reference.clone(),
            message: message.into(),
            status: None,
            transport: None,
            bound: None,
            io_kind: None,
            cancelled: false,
        }
    }

    pub(crate) fn status_from_host(reference: &GenerationRef, status: StatusCode) -> Self {
        Self {
            status: Some(status),
            ..Self::new(
                reference,
                format!("the video server answered HTTP {}", status.as_u16()),
            )
        }
    }

    pub(crate) fn transport(reference: &GenerationRef, error: TransportError) -> Self {
        Self {
            message: error.to_string(),
            transport: Some(Box::new(error)),
            ..Self::new(reference, "")
        }
    }

    pub(crate) fn hit(reference: &GenerationRef, bound: DownloadBound) -> Self {
        Self {
            bound: Some(bound),
            ..Self::new(reference, bound.to_string())
        }
    }

    #[cfg_attr(not(feature = "fs"), allow(dead_code))]
    pub(crate) fn local(reference: &GenerationRef, what: &str, error: &std::io::Error) -> Self {
        Self {
            io_kind: Some(error.kind()),
            ..Self::new(reference, format!("{what}: {error}"))
        }
    }

    pub(crate) fn cancelled(reference: &GenerationRef) -> Self {
        Self {
            cancelled: true,
            ..Self::new(reference, "cancelled")
        }
    }

    /// The generation whose video it was.
    pub fn reference(&self) -> &GenerationRef {
        &self.reference
    }

    /// The video host's status, when it answered with one that is not a success.
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }

    /// The transport failure, if that was the cause.
    pub fn transport_error(&self) -> Option<&TransportError> {
        self.transport.as_deref()
    }

    /// The bound that was hit, if that was the cause: a header or idle timeout, the deadline,
    /// the size cap.
    pub fn bound(&self) -> Option<DownloadBound> {
        self.bound
    }

    /// The kind of the local file error, if writing or placing the file failed
    /// (`AlreadyExists`: the target exists and `overwrite` was not set).
    pub fn io_kind(&self) -> Option<std::io::ErrorKind> {
        self.io_kind
    }

    /// Whether the download was cancelled through its token.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled
    }
}

impl From<DownloadError> for Error {
    fn from(e: DownloadError) -> Self {
        Error::Download(Box::new(e))
    }
}
