//! What a wait reports while it runs (status changes and poll attempts), and a download after
//! it (bytes so far, resumes), for UIs and logs.

use std::time::{Duration, Instant};

use crate::Status;

/// Which kind of failed poll a [`PollFailure`](super::PollFailure) was, without its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PollFailureKind {
    /// 401: the key was refused. Ends the wait.
    Unauthorized,
    /// 404: the generation is not (yet) visible.
    NotFound,
    /// 429, 5xx or a transport failure the retry engine gave up on for this one call.
    Transient,
    /// Anything else that cannot succeed by polling again. Ends the wait.
    Fatal,
}

/// One step of a wait, drained with [`Poller::poll_event`](super::Poller::poll_event)
/// (or [`Fleet::poll_event`](super::Fleet::poll_event)); the client driver exposes them as a
/// `Stream`.
///
/// Events are informational: the wait's result is its [`WaitOutcome`](super::WaitOutcome), never an
/// event. `elapsed` is the time since the generation was created (as far as the poller knows).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A retrieve request is going out.
    PollSent {
        /// 1 for the first poll of this wait.
        attempt: u32,
        /// Time since the generation was created.
        elapsed: Duration,
    },
    /// A poll saw a status different from the previous one (the first status seen counts).
    StatusChanged {
        /// The status seen before, if any.
        from: Option<Status>,
        /// The status now.
        to: Status,
        /// Time since the generation was created.
        elapsed: Duration,
    },
    /// A poll failed.
    PollFailed {
        /// The attempt that failed.
        attempt: u32,
        /// What kind of failure.
        kind: PollFailureKind,
        /// When the next poll goes out, if the wait goes on.
        next_poll: Option<Instant>,
    },
    /// Bytes of the video arrived: sent at most every
    /// [`PROGRESS_EVERY`](crate::download::PROGRESS_EVERY) while they flow, and once when the
    /// body is complete.
    Downloading {
        /// Bytes of the video kept so far (across resumes).
        received: u64,
        /// The video's size, when the host announced it.
        total: Option<u64>,
    },
    /// A cut download goes on with a new request.
    DownloadResumed {
        /// Where it continues: the bytes kept, or 0 when the host could not resume and the
        /// video starts over.
        offset: u64,
    },
}
