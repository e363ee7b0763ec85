//! One poll's answer, judged: the table from an HTTP exchange to a [`PollFailure`], and where
//! the wait starts from. Pure rules the client's driver applies without knowing them.

use std::time::{Duration, Instant, SystemTime};

use http::StatusCode;

use super::{OutcomeKind, PollFailure, Snapshot, WaitOutcome};
use crate::call::Judged;
use crate::model::Generation;
use crate::policy::WaitPolicy;
use crate::retry::Outcome;
use crate::transport::{Cause, FailureKind, TransportError};
use crate::{Error, Flavor, Status, WaitError, WaitErrorKind, codec};

/// A webhook event does not carry a whole [`Generation`] (its body, model, usage…), so
/// `from_webhook` keeps the default `None`: after a terminal webhook the wait fetches the
/// finished generation once (one `GET`, not a polling loop), and returns that, with a fresh
/// signed video URL. A wait whose policy says
/// [`TerminalWebhook::UseEvent`](crate::policy::TerminalWebhook::UseEvent) returns
/// [`Generation::from_webhook_event`] instead, with no request.
impl Snapshot for Generation {
    fn status(&self) -> Status {
        Generation::status(self).clone()
    }

    fn from_webhook_alone(
        reference: &crate::GenerationRef,
        event: &crate::webhook::WebhookEvent,
    ) -> Option<Self> {
        Some(Generation::from_webhook_event(reference, event))
    }
}

/// How old a handle may be and still count as "created moments ago": such a wait polls on the
/// schedule from creation (its first poll after the schedule's first interval, with the 404
/// grace of a generation that may not be visible yet); an older one is polled at once.
pub const FRESH_HANDLE_AGE: Duration = Duration::from_secs(1);

/// Where a wait starts from.
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::poll::WaitStart;
///
/// let fresh = WaitStart::Created { age: Duration::from_millis(20) };
/// assert!(fresh.is_fresh());
/// // A handle kept for a minute, and a reference from storage, are polled at once.
/// assert!(!WaitStart::Created { age: Duration::from_secs(60) }.is_fresh());
/// assert_eq!(WaitStart::Resumed { age: None }.age(), Duration::ZERO);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitStart {
    /// A handle from a create of this client, `age` after the create returned.
    Created {
        /// Time since the create returned.
        age: Duration,
    },
    /// A reference from elsewhere (storage, another process), of known age or not.
    Resumed {
        /// Time since creation, if known.
        age: Option<Duration>,
    },
}

impl WaitStart {
    /// Whether the wait is on a handle created less than [`FRESH_HANDLE_AGE`] ago.
    pub fn is_fresh(self) -> bool {
        matches!(self, Self::Created { age } if age < FRESH_HANDLE_AGE)
    }

    /// The wait policy for this start: a reference of unknown age gets no 404 grace (nothing
    /// says it was created moments ago, so a 404 means it does not exist, and the wait ends on
    /// the first one); a handle of this client, or a reference of known age, keeps the
    /// policy's grace, counted from creation.
    pub fn policy(self, policy: WaitPolicy) -> WaitPolicy {
        match self {
            Self::Resumed { age: None } => policy.with_not_found_grace(Duration::ZERO),
            _ => policy,
        }
    }

    /// The generation's age as far as known (zero when unknown).
    pub fn age(self) -> Duration {
        match self {
            Self::Created { age } | Self::Resumed { age: Some(age) } => age,
            Self::Resumed { age: None } => Duration::ZERO,
        }
    }
}

/// Whether a transport failure is a bad answer (over the body cap, not valid HTTP) rather than
/// a request that cannot be sent.
fn is_bad_answer(error: &Error) -> bool {
    matches!(
        error,
        Error::Transport(e) if matches!(e.cause(), Cause::BodyTooLarge { .. } | Cause::InvalidResponse)
    )
}

/// A poll's answer, judged for the fleet: the generation or the [`PollFailure`], and the
/// error behind a failure (the wait's error quotes it when that failure ends the wait).
///
/// The table (a poll is one attempt; the poller's schedule, not the retry engine, decides when
/// to poll again):
///
/// | Answer | Poll failure |
/// |---|---|
/// | `2xx` that decodes | the generation |
/// | 401 | [`PollFailure::Unauthorized`] |
/// | 404 | [`PollFailure::NotFound`] (the poller applies its grace) |
/// | 429 | [`PollFailure::Transient`], not before the server's delay |
/// | 5xx | [`PollFailure::Transient`] |
/// | any other status | [`PollFailure::Fatal`] |
/// | transport failure: the request cannot be sent (invalid request) | [`PollFailure::Fatal`] |
/// | a body over the cap, an answer that is not HTTP, any other transport failure; a `2xx` that does not decode | [`PollFailure::Transient`] |
///
/// ```
/// use std::time::{Duration, Instant, SystemTime};
/// use pipevideo_core::Flavor;
/// use pipevideo_core::poll::{PollAnswer, PollFailure};
///
/// let now = Instant::now();
/// let mut limited = http::Response::new(br#"{"message":"slow","data":{"retry_after":3}}"#.to_vec());
/// *limited.status_mut() = http::StatusCode::TOO_MANY_REQUESTS;
/// let answer = PollAnswer::judge(now, SystemTime::now(), Flavor::Responses, Ok(limited), None);
/// let (result, error) = answer.into_parts();
/// assert!(matches!(
///     result,
///     Err(PollFailure::Transient { not_before: Some(t), .. }) if t == now + Duration::from_secs(3)
/// ));
/// assert!(error.is_some());
/// ```
#[derive(Debug)]
pub struct PollAnswer {
    result: Result<Generation, PollFailure>,
    error: Option<Error>,
}

impl PollAnswer {
    /// Judges the exchange of a poll of a generation of `flavor` that ended at `now`. The
    /// generation and any server text kept in an error are scrubbed of `secret`.
    pub fn judge(
        now: Instant,
        wall_now: SystemTime,
        flavor: Flavor,
        result: Result<http::Response<Vec<u8>>, TransportError>,
        secret: Option<&str>,
    ) -> Self {
        let judged = match result {
            Ok(response) => Judged::response(&response, wall_now, secret, |r| match secret {
                Some(secret) => codec::decode_generation_scrubbed(flavor, r, secret),
                None => codec::decode_generation(flavor, r),
            }),
            Err(e) => Judged::transport_error(e),
        };
        let outcome = judged.outcome();
        let error = match judged.into_value() {
            Ok(generation) => {
                return Self {
                    result: Ok(generation),
                    error: None,
                };
            }
            Err(error) => error,
        };
        let message = error.to_string();
        let failure = match outcome {
            Outcome::Response { status, asked } => match status {
                StatusCode::UNAUTHORIZED => PollFailure::Unauthorized { message },
                StatusCode::NOT_FOUND => PollFailure::NotFound { message },
                StatusCode::TOO_MANY_REQUESTS => PollFailure::Transient {
                    not_before: asked.delay().and_then(|d| now.checked_add(d)),
                    message,
                },
                s if s.is_server_error() => PollFailure::Transient {
                    not_before: None,
                    message,
                },
                _ => PollFailure::Fatal { message },
            },
            // An answer too big or not HTTP at all is the server's (or a proxy's) doing, as an
            // undecodable 2xx is: one failed poll, polled again on the schedule; the wait's
            // deadline stays the only deadline. (A one-off call gives up on it instead.)
            Outcome::Failed(FailureKind::Permanent) if is_bad_answer(&error) => {
                PollFailure::Transient {
                    not_before: None,
                    message,
                }
            }
            Outcome::Failed(FailureKind::Permanent) => PollFailure::Fatal { message },
            Outcome::Failed(_) => PollFailure::Transient {
                not_before: None,
                message,
            },
        };
        Self {
            result: Err(failure),
            error: Some(error),
        }
    }

    /// A poll whose request could not even be built: fatal.
    pub fn unsendable(error: Error) -> Self {
        Self {
            result: Err(PollFailure::Fatal {
                message: error.to_string(),
            }),
            error: Some(error),
        }
    }

    /// A poll that got no shared pacing slot within its budget: not sent, polled again once
    /// the store's first slot (`first_slot`) has come.
    pub fn unpaced(first_slot: std::time::Instant, now: std::time::Instant) -> Self {
        let error = crate::pacing::shared::SlotDecision::too_late_error(first_slot, now);
        Self {
            result: Err(PollFailure::Transient {
                not_before: Some(first_slot),
                message: error.to_string(),
            }),
            error: Some(Error::Transport(error)),
        }
    }

    /// A poll refused because the shared pacing store is down and the client fails closed:
    /// ends the wait with [`ErrorKind::Pacing`](crate::ErrorKind::Pacing) as its cause.
    pub fn refused(error: crate::pacing::shared::SharedPacingError) -> Self {
        Self {
            result: Err(PollFailure::Fatal {
                message: error.to_string(),
            }),
            error: Some(Error::Pacing(error)),
        }
    }

    /// The generation, or the failure.
    pub fn result(&self) -> &Result<Generation, PollFailure> {
        &self.result
    }

    /// The error behind a failure.
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// The generation or failure, and the error behind a failure.
    pub fn into_parts(self) -> (Result<Generation, PollFailure>, Option<Error>) {
        (self.result, self.error)
    }
}

impl WaitOutcome<Generation> {
    /// How a wait ends for its caller: the completed generation, or a [`WaitError`].
    /// `cause` is the error of the poll that decided (see
    /// [`OutcomeKind::is_decided_by_poll`]); `deadline_at` the instant the wait's deadline
    /// fell on, to say how far past it the server wanted the next poll.
    pub(crate) fn conclude(
        self,
        cause: Option<Error>,
        deadline: Duration,
        deadline_at: Option<Instant>,
    ) -> Result<Generation, Error> {
        let WaitOutcome {
            reference,
            last_status,
            polls,
            kind,
            ..
        } = self;
        let kind = match kind {
            OutcomeKind::Completed(generation) => return Ok(generation),
            OutcomeKind::Failed(generation) => WaitErrorKind::Failed(Box::new(generation)),
            OutcomeKind::DeadlineExceeded { server_ready_at } => WaitErrorKind::DeadlineExceeded {
                deadline,
                server_ready_after_deadline: server_ready_at
                    .zip(deadline_at)
                    .map(|(ready, end)| ready.saturating_duration_since(end)),
            },
            OutcomeKind::Cancelled => WaitErrorKind::Cancelled,
            OutcomeKind::Unauthorized { message } => WaitErrorKind::Unauthorized { message },
            OutcomeKind::NotFound { message } => WaitErrorKind::NotFound { message },
            OutcomeKind::Fatal { message } => WaitErrorKind::Fatal { message },
        };
        Err(Error::Wait(Box::new(WaitError::new(
            reference,
            last_status,
            polls,
            kind,
            cause,
        ))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(status: u16, body: &str) -> PollFailure {
        let mut response = http::Response::new(body.as_bytes().to_vec());
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        let answer = PollAnswer::judge(
            Instant::now(),
            SystemTime::UNIX_EPOCH,
            Flavor::Responses,
            Ok(response),
            Some("pv_poll_secret_1"),
        );
        assert!(answer.error().is_some());
        answer.into_parts().0.unwrap_err()
    }

    #[test]
    fn the_status_table() {
        assert!(matches!(judge(401, ""), PollFailure::Unauthorized { .. }));
        assert!(matches!(judge(404, ""), PollFailure::NotFound { .. }));
        for s in [500, 502, 503, 504, 599] {
            assert!(
                matches!(
                    judge(s, ""),
                    PollFailure::Transient {
                        not_before: None,
                        ..
                    }
                ),
                "{s}"
            );
        }
        for s in [400, 403, 409, 422, 302] {
            assert!(matches!(judge(s, ""), PollFailure::Fatal { .. }), "{s}");
        }
        assert!(matches!(
            judge(429, r#"{"message":"x"}"#),
            PollFailure::Transient {
                not_before: None,
                ..
            }
        ));
        // A 2xx that does not decode is one failed poll, not the end of the wait.
        assert!(matches!(
            judge(200, "{\"id\":"),
            PollFailure::Transient { .. }
        ));
    }

    #[test]
    fn server_text_is_scrubbed_of_the_key() {
        let PollFailure::Fatal { message } = judge(400, r#"{"message":"key pv_poll_secret_1"}"#)
        else {
            panic!()
        };
        assert!(!message.contains("pv_poll_secret_1"), "{message}");
    }

    #[test]
    fn transport_failures() {
        let at = |e| {
            PollAnswer::judge(
                Instant::now(),
                SystemTime::UNIX_EPOCH,
                Flavor::Legacy,
                Err(e),
                None,
            )
            .into_parts()
            .0
            .unwrap_err()
        };
        // An over-size answer is one failed poll (issue 19, item 8); a request that cannot be
        // sent stays fatal.
        assert!(matches!(
            at(TransportError::body_too_large(5)),
            PollFailure::Transient { .. }
        ));
        assert!(matches!(
            at(TransportError::invalid_request("bad header")),
            PollFailure::Fatal { .. }
        ));
        assert!(matches!(
            at(TransportError::connect("refused")),
            PollFailure::Transient { .. }
        ));
        assert!(matches!(
            at(TransportError::maybe_sent("reset")),
            PollFailure::Transient { .. }
        ));
    }

    #[test]
    fn wait_start() {
        let ms = Duration::from_millis;
        assert!(WaitStart::Created { age: ms(999) }.is_fresh());
        assert!(!WaitStart::Created { age: ms(1000) }.is_fresh());
        assert!(!WaitStart::Resumed { age: Some(ms(5)) }.is_fresh());
        assert!(!WaitStart::Resumed { age: None }.is_fresh());
        assert_eq!(WaitStart::Resumed { age: Some(ms(5)) }.age(), ms(5));
    }
}
