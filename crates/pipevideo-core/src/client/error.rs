//! The errors the client adds to the core's model: a call that stopped retrying, a create that
//! failed for good, and a wait that ended without a video.

use std::fmt;
use std::time::Duration;

use crate::model::{Generation, GenerationFailure};
use crate::retry::GiveUp;
use crate::{Error, GenerationRef, IdempotencyKey, Status};

/// A call whose retries stopped: why (from the retry engine), and the error of its last
/// attempt, whose message is usually what a person needs.
#[derive(Debug, Clone)]
pub struct GaveUpError {
    pub(crate) give_up: GiveUp,
    pub(crate) last: Option<Error>,
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
}

impl fmt::Display for GaveUpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.give_up)?;
        if let Some(last) = &self.last {
            write!(f, " (last error: {last})")?;
        }
        Ok(())
    }
}

impl std::error::Error for GaveUpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.last.as_ref().map(|e| e as _)
    }
}

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

impl std::error::Error for CreateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A wait that ended without a completed generation. It always carries the generation's
/// [`GenerationRef`], so the wait can be resumed with
/// [`Client::wait`](super::Client::wait), and the last status seen.
#[derive(Debug, Clone)]
pub struct WaitError {
    pub(crate) reference: GenerationRef,
    pub(crate) last_status: Option<Status>,
    pub(crate) polls: u32,
    pub(crate) kind: WaitErrorKind,
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
            WaitErrorKind::DeadlineExceeded { deadline, .. } => write!(
                f,
                "generation {} did not finish within the wait deadline of {} s",
                self.reference,
                deadline.as_secs_f64()
            )?,
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

impl std::error::Error for WaitError {}
