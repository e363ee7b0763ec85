//! The per-call retry state machine: one outcome in, one [`Decision`] out.

use std::fmt;
use std::time::{Duration, Instant};

use http::{HeaderMap, StatusCode};
use rand_core::RngCore;

use super::budget::RetryBudget;
use super::retry_after::{DelaySource, ServerDelay};
use crate::policy::RetryPolicy;
use crate::transport::FailureKind;

/// What kind of request a call sends, which decides whether a request that may have reached the
/// server can be sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RequestKind {
    /// A read (`GET`): sending it twice changes nothing.
    Read,
    /// A create that carries an `Idempotency-Key` header, the same value on every attempt.
    /// Retried after a lost response or a 5xx. The Pipevideo docs do not promise that the server
    /// deduplicates on the key: the key lets a caller reconcile, it does not guarantee that no
    /// second generation is billed.
    KeyedCreate,
    /// A create without an idempotency key (the caller turned it off). Retried only when it
    /// certainly did not reach the server or was refused before processing (429).
    UnkeyedCreate,
}

impl RequestKind {
    /// The kind of a create that carries `key`, or none.
    pub fn create(key: Option<&crate::IdempotencyKey>) -> Self {
        if key.is_some() {
            Self::KeyedCreate
        } else {
            Self::UnkeyedCreate
        }
    }

    /// Whether a request of this kind that may have been processed can be sent again.
    pub fn may_replay(self) -> bool {
        matches!(self, Self::Read | Self::KeyedCreate)
    }
}

/// The outcome of one attempt, as the retry engine needs it. `Copy`: it is also part of the
/// [`Decision`] record.
///
/// Closed: a response arrived or it did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed by nature: a response arrived or the transport failed"
)]
pub enum Outcome {
    /// An HTTP response arrived.
    Response {
        /// Its status.
        status: StatusCode,
        /// The delay it asked for (body `data.retry_after` and/or `Retry-After`), see
        /// [`ServerDelay::read`].
        asked: ServerDelay,
    },
    /// No usable response: the transport failed.
    Failed(FailureKind),
}

impl Outcome {
    /// A response that asked for no delay.
    pub fn status(status: StatusCode) -> Self {
        Self::Response {
            status,
            asked: ServerDelay::NONE,
        }
    }

    /// A response, reading the delay it asked for from the body's `retry_after` and the
    /// headers (see [`ServerDelay::read`] for the rules, and for `wall_clock`).
    pub fn response(
        status: StatusCode,
        body_retry_after: Option<Duration>,
        headers: &HeaderMap,
        wall_clock: std::time::SystemTime,
    ) -> Self {
        Self::Response {
            status,
            asked: ServerDelay::read(body_retry_after, headers, wall_clock),
        }
    }

    /// A transport failure of the given kind.
    pub fn failed(kind: FailureKind) -> Self {
        Self::Failed(kind)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Response { status, .. } => write!(f, "HTTP {}", status.as_u16()),
            Self::Failed(kind) => write!(f, "{kind}"),
        }
    }
}

/// Why a retry waits as long as it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WaitCause {
    /// The server asked for this delay (429 `retry_after`, or a `Retry-After` on a 5xx that is
    /// longer than the backoff).
    ServerAsked(DelaySource),
    /// Exponential backoff with jitter.
    Backoff,
    /// The client's own pacing (the key's request limit, or a hold after another call's 429).
    ClientPacing,
}

impl fmt::Display for WaitCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ServerAsked(DelaySource::Body) => "the server asked (data.retry_after)",
            Self::ServerAsked(DelaySource::Header) => "the server asked (Retry-After)",
            Self::Backoff => "backoff",
            Self::ClientPacing => "client pacing",
        })
    }
}

/// The longest client-wide hold a 429 sets: a `retry_after` beyond it (a server asking for
/// years, or a number too large for an `Instant`) holds the client this long. One day: longer
/// than any sane rate-limit window, short enough that a broken answer does not silence a
/// long-running service for good.
pub const MAX_HOLD: Duration = Duration::from_secs(24 * 60 * 60);

/// Why a call stops retrying. `Copy`, and [`fmt::Display`] says what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GiveUpReason {
    /// The outcome is final: 400, 401, 404 and every status the API does not mark retryable.
    /// Fix the request or the credentials.
    NotRetryable,
    /// A create without an idempotency key may have reached the server (a 5xx, or a timeout or
    /// reset after sending): sending it again could start a second paid generation.
    NotIdempotent,
    /// The call made all the attempts its policy allows.
    AttemptsExhausted {
        /// The policy's attempt limit.
        limit: u32,
    },
    /// The wait before the next attempt would end at or after the call's deadline, so it was not
    /// slept.
    DeadlineWouldPass {
        /// The wait the next attempt needed.
        asked: Duration,
        /// Time left before the deadline when the call gave up.
        remaining: Duration,
        /// Who asked for the wait.
        cause: WaitCause,
    },
    /// The server asked for a wait longer than the policy's cap on server-asked waits.
    ServerDelayBeyondCap {
        /// What the server asked for (`Duration::MAX`: an absurdly large number).
        asked: Duration,
        /// The policy's cap.
        cap: Duration,
    },
    /// A create that may have reached the server (a 5xx, a timeout or reset after sending, an
    /// undecodable `2xx`) was not sent again: the policy's
    /// [`CreateReplay`](crate::policy::CreateReplay) allows no more replays than `replays`,
    /// already made.
    ReplayLimit {
        /// Replays already made of this create.
        replays: u32,
    },
    /// An earlier 429 holds the whole client for longer than this call's cap on server-asked
    /// waits, so the call failed at once, before sending (or before its next attempt), rather
    /// than sleep past the cap. `left` is the time until the server accepts requests again.
    HeldBeyondCap {
        /// Time left in the client-wide hold when the call gave up.
        left: Duration,
        /// The policy's cap.
        cap: Duration,
    },
    /// The client's shared retry budget is spent: the server has been failing for many calls,
    /// and retrying would only add load.
    BudgetExhausted {
        /// Tokens left in the budget.
        available: u32,
        /// Tokens this retry would have cost.
        cost: u32,
    },
}

impl fmt::Display for GiveUpReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::NotRetryable => f.write_str("the response is final and is not retried"),
            Self::NotIdempotent => f.write_str(
                "the create may have reached the server and carries no idempotency key, \
                 so it was not sent again",
            ),
            Self::AttemptsExhausted { limit } => write!(f, "all {limit} attempts were used"),
            Self::DeadlineWouldPass {
                asked,
                remaining,
                cause,
            } => write!(
                f,
                "the next attempt had to wait {} ({cause}), but only {} were left before \
                 the call's deadline",
                Secs(asked),
                Secs(remaining)
            ),
            Self::ServerDelayBeyondCap { asked, cap } => write!(
                f,
                "the server asked to wait {}, beyond the cap of {} on server-asked waits",
                Secs(asked),
                Secs(cap)
            ),
            Self::ReplayLimit { replays } => write!(
                f,
                "the create may have reached the server, and the create replay policy allows \
                 no more than the {replays} replay(s) made, so it was not sent again (check for \
                 the generation before creating again)"
            ),
            Self::HeldBeyondCap { left, cap } => write!(
                f,
                "an earlier 429 holds this client for another {}, beyond the cap of {} on \
                 server-asked waits, so nothing was sent",
                Secs(left),
                Secs(cap)
            ),
            Self::BudgetExhausted { available, cost } => write!(
                f,
                "the client's retry budget is exhausted ({available} tokens left, a retry costs \
                 {cost}): the server keeps failing, so this client stopped retrying"
            ),
        }
    }
}

/// Formats a duration in seconds, `Duration::MAX` as "forever".
struct Secs(Duration);

impl fmt::Display for Secs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == Duration::MAX {
            f.write_str("an unbounded time")
        } else {
            write!(f, "{:.3} s", self.0.as_secs_f64())
        }
    }
}

/// A call that stopped retrying: the error the client wraps, with the last outcome and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub struct GiveUp {
    attempts: u32,
    last: Option<Outcome>,
    reason: GiveUpReason,
}

impl GiveUp {
    /// Attempts the call made.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The outcome of the last attempt; `None` when the call gave up before its first.
    pub fn last(&self) -> Option<Outcome> {
        self.last
    }

    /// Why the call stopped.
    pub fn reason(&self) -> GiveUpReason {
        self.reason
    }
}

impl fmt::Display for GiveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.last {
            Some(last) => write!(
                f,
                "gave up after {} attempt(s), last {last}: ",
                self.attempts
            )?,
            None => write!(f, "gave up before attempt {}: ", self.attempts + 1)?,
        }
        write!(f, "{}", self.reason)
    }
}

/// What to do after an attempt.
///
/// Closed: an attempt ends the call, or the call tries again, or it stops. Match it
/// exhaustively.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed by nature: done, retry or give up; users match it exhaustively"
)]
pub enum Verdict {
    /// The attempt succeeded (a status below 400): hand the response to the caller.
    Done,
    /// Send again at `at` (or later, if pacing says so).
    Retry {
        /// When the next attempt may go.
        at: Instant,
        /// `at - now`.
        wait: Duration,
        /// Who asked for the wait.
        cause: WaitCause,
    },
    /// Stop: the call fails with this reason.
    GiveUp(GiveUpReason),
}

/// The record of one decision: which attempt, what came back, what was decided. `Copy` and
/// built without allocating, so the driver can log every one (through `tracing`) and tests can
/// assert on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decision {
    attempt: u32,
    outcome: Outcome,
    verdict: Verdict,
    hold_until: Option<Instant>,
}

impl Decision {
    /// The number of the attempt judged, from 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// What the attempt produced.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// What to do next.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// When the server asked the whole client to wait (every 429 with a delay, also one beyond
    /// the cap, at most [`MAX_HOLD`] ahead): pass it to
    /// [`Pacer::hold_until`](crate::pacing::Pacer::hold_until) so that every call of the client
    /// waits, even when this call gives up. A call that would wait for it longer than its cap
    /// fails at once ([`GiveUpReason::HeldBeyondCap`]).
    pub fn hold_until(&self) -> Option<Instant> {
        self.hold_until
    }

    /// The instant of the next attempt, when the verdict is to retry.
    pub fn retry_at(&self) -> Option<Instant> {
        match self.verdict {
            Verdict::Retry { at, .. } => Some(at),
            _ => None,
        }
    }

    /// The error to return, when the verdict is to give up.
    pub fn give_up(&self) -> Option<GiveUp> {
        match self.verdict {
            Verdict::GiveUp(reason) => Some(GiveUp {
                attempts: self.attempt,
                last: Some(self.outcome),
                reason,
            }),
            _ => None,
        }
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "attempt {}: {} -> ", self.attempt, self.outcome)?;
        match self.verdict {
            Verdict::Done => f.write_str("done"),
            Verdict::Retry { wait, cause, .. } => write!(f, "retry in {} ({cause})", Secs(wait)),
            Verdict::GiveUp(reason) => write!(f, "give up: {reason}"),
        }
    }
}

/// The retry state of one call: made at the call's start, fed each attempt's outcome.
///
/// The run loop of a driver (sans-IO: the driver owns the clock, the sleeps and the RNG):
///
/// 1. Ask the client's [`Pacer`](crate::pacing::Pacer) when the attempt may go and pass that
///    instant to [`check_send_at`](Self::check_send_at); on `Err`, fail the call with it.
/// 2. Sleep until then, record the send on the pacer, and send with
///    [`attempt_timeout`](Self::attempt_timeout).
/// 3. Feed the outcome to [`decide`](Self::decide); pass
///    [`Decision::hold_until`] to the pacer, log the decision, then: `Done` returns the
///    response, `Retry` goes back to 1 no earlier than its `at`, `GiveUp` fails the call with
///    [`Decision::give_up`] (for `NotRetryable`, the API error itself is the better error).
///
/// ```
/// use std::time::{Duration, Instant};
/// use http::StatusCode;
/// use rand::{SeedableRng, rngs::SmallRng};
/// use pipevideo_core::retry::{GiveUpReason, Outcome, RequestKind, RetryBudget,
///     RetryState, ServerDelay, Verdict};
/// use pipevideo_core::policy::RetryPolicy;
///
/// let t0 = Instant::now();
/// let mut rng = SmallRng::seed_from_u64(1);
/// let mut budget = RetryBudget::default();
/// let mut call = RetryState::new(&RetryPolicy::default(), RequestKind::Read, t0);
///
/// // A 429 asking for 42 s: retry exactly then, and hold the whole client until then.
/// let asked = ServerDelay::from_body(Duration::from_secs(42));
/// let outcome = Outcome::Response { status: StatusCode::TOO_MANY_REQUESTS, asked };
/// let d = call.decide(outcome, t0, &mut budget, &mut rng);
/// assert_eq!(d.retry_at(), Some(t0 + Duration::from_secs(42)));
/// assert_eq!(d.hold_until(), Some(t0 + Duration::from_secs(42)));
///
/// // A 404 is final.
/// let t1 = t0 + Duration::from_secs(42);
/// let d = call.decide(Outcome::status(StatusCode::NOT_FOUND), t1, &mut budget, &mut rng);
/// assert_eq!(d.verdict(), Verdict::GiveUp(GiveUpReason::NotRetryable));
/// assert_eq!(d.attempt(), 2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryState {
    policy: RetryPolicy,
    kind: RequestKind,
    deadline: Option<Instant>,
    attempts: u32,
    last_retry_cost: Option<u32>,
    last: Option<Outcome>,
    /// Retries of a create after an outcome that may have created something.
    replays: u32,
}

impl RetryState {
    /// The state of a call of `kind` starting at `now` under `policy`. Its deadline is
    /// `now + policy.deadline()` (none if that overflows).
    pub fn new(policy: &RetryPolicy, kind: RequestKind, now: Instant) -> Self {
        Self {
            policy: *policy,
            kind,
            deadline: now.checked_add(policy.deadline()),
            attempts: 0,
            last_retry_cost: None,
            last: None,
            replays: 0,
        }
    }

    /// The policy of this call.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    /// The kind of request this call sends.
    pub fn kind(&self) -> RequestKind {
        self.kind
    }

    /// The instant by which the whole call ends; `None` when it has no deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Attempts judged so far.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Time left before the deadline (`Duration::MAX` without one).
    pub fn remaining(&self, now: Instant) -> Duration {
        self.deadline
            .map_or(Duration::MAX, |d| d.saturating_duration_since(now))
    }

    /// The timeout for an attempt sent at `now`: the policy's per-attempt timeout, shortened so
    /// the attempt never runs past the call's deadline.
    pub fn attempt_timeout(&self, now: Instant) -> Duration {
        self.policy.attempt_timeout().min(self.remaining(now))
    }

    /// Checks that the next attempt may still be sent at `send_at` (the later of the retry's
    /// `at` and the pacer's next slot): an attempt that cannot start before the deadline is not
    /// waited for, and the call gives up at once.
    pub fn check_send_at(&self, send_at: Instant, now: Instant) -> Result<(), GiveUp> {
        match self.deadline {
            Some(deadline) if send_at >= deadline => Err(GiveUp {
                attempts: self.attempts,
                last: self.last,
                reason: GiveUpReason::DeadlineWouldPass {
                    asked: send_at.saturating_duration_since(now),
                    remaining: deadline.saturating_duration_since(now),
                    cause: WaitCause::ClientPacing,
                },
            }),
            _ => Ok(()),
        }
    }

    /// Checks that the client-wide hold (a 429's, from the pacer: `held_until`) does not keep
    /// the next attempt waiting longer than the cap on server-asked waits: if it does, the
    /// call gives up at once with the time left in the hold ([`GiveUpReason::HeldBeyondCap`])
    /// rather than sleep past what the caller accepted.
    pub fn check_hold(&self, held_until: Option<Instant>, now: Instant) -> Result<(), GiveUp> {
        let cap = self.policy.server_wait_cap();
        match held_until.map(|held| held.saturating_duration_since(now)) {
            Some(left) if left > cap => Err(GiveUp {
                attempts: self.attempts,
                last: self.last,
                reason: GiveUpReason::HeldBeyondCap { left, cap },
            }),
            _ => Ok(()),
        }
    }

    /// Judges the outcome of the attempt that just ended at `now`. Takes retry tokens from the
    /// client's `budget` when it decides to retry (and refunds them on success); draws jitter
    /// from `rng`. Allocates nothing.
    #[must_use = "the decision says whether to retry, when, or why to stop"]
    pub fn decide(
        &mut self,
        outcome: Outcome,
        now: Instant,
        budget: &mut RetryBudget,
        rng: &mut impl RngCore,
    ) -> Decision {
        self.attempts = self.attempts.saturating_add(1);
        self.last = Some(outcome);
        let mut hold_until = None;
        let verdict = self.judge(outcome, now, budget, rng, &mut hold_until);
        if matches!(verdict, Verdict::Retry { .. }) && self.is_replay(outcome) {
            self.replays = self.replays.saturating_add(1);
        }
        Decision {
            attempt: self.attempts,
            outcome,
            verdict,
            hold_until,
        }
    }

    /// Whether sending again after `outcome` replays a create that may have reached the
    /// server: a 5xx, or a transport failure after sending (an undecodable `2xx` arrives as
    /// one). A 429 and a request that never left are not replays.
    fn is_replay(&self, outcome: Outcome) -> bool {
        self.kind == RequestKind::KeyedCreate
            && match outcome {
                Outcome::Response { status, .. } => status.is_server_error(),
                Outcome::Failed(kind) => {
                    !matches!(kind, FailureKind::NotSent | FailureKind::Permanent)
                }
            }
    }

    fn judge(
        &mut self,
        outcome: Outcome,
        now: Instant,
        budget: &mut RetryBudget,
        rng: &mut impl RngCore,
        hold_until: &mut Option<Instant>,
    ) -> Verdict {
        use GiveUpReason as R;
        let cap = self.policy.server_wait_cap();
        let (asked, replayable, cost) = match outcome {
            Outcome::Response { status, .. } if status.as_u16() < 400 => {
                budget.refund(self.last_retry_cost.unwrap_or(budget.success_refund()));
                return Verdict::Done;
            }
            Outcome::Response { status, asked } => match status.as_u16() {
                // Refused before processing: safe even for a create without a key.
                // The hold is recorded whatever this call does next: the server refuses every
                // request of the key until then, not only this call's.
                429 => {
                    if let Some(delay) = asked.delay() {
                        *hold_until = now.checked_add(delay.min(MAX_HOLD));
                    }
                    (asked, true, budget.retry_cost())
                }
                500 | 502 | 503 | 504 => (asked, self.kind.may_replay(), budget.retry_cost()),
                _ => return Verdict::GiveUp(R::NotRetryable),
            },
            // A body over the cap, an invalid request, a failing sink: the same attempt would
            // fail the same way.
            Outcome::Failed(FailureKind::Permanent) => return Verdict::GiveUp(R::NotRetryable),
            Outcome::Failed(FailureKind::NotSent) => (ServerDelay::NONE, true, budget.retry_cost()),
            Outcome::Failed(_) => (
                ServerDelay::NONE,
                self.kind.may_replay(),
                budget.timeout_cost(),
            ),
        };
        if !replayable {
            return Verdict::GiveUp(R::NotIdempotent);
        }
        if self.is_replay(outcome)
            && let Some(limit) = self.policy.create_replay().limit()
            && self.replays >= limit
        {
            return Verdict::GiveUp(R::ReplayLimit {
                replays: self.replays,
            });
        }
        if self.attempts >= self.policy.attempt_limit() {
            return Verdict::GiveUp(R::AttemptsExhausted {
                limit: self.policy.attempt_limit(),
            });
        }
        let is_429 = matches!(outcome, Outcome::Response { status, .. } if status.as_u16() == 429);
        let (wait, cause) = match (asked.delay(), asked.source()) {
            (Some(delay), _) if delay > cap => {
                return Verdict::GiveUp(R::ServerDelayBeyondCap { asked: delay, cap });
            }
            // A 429 waits exactly what the server asked, never less and never jittered.
            (Some(delay), Some(source)) if is_429 => (delay, WaitCause::ServerAsked(source)),
            // A 5xx waits the backoff, or longer if it carried a Retry-After.
            (Some(delay), Some(source)) => {
                let backoff = self.policy.backoff().wait(self.attempts, rng);
                if delay > backoff {
                    (delay, WaitCause::ServerAsked(source))
                } else {
                    (backoff, WaitCause::Backoff)
                }
            }
            _ => (
                self.policy.backoff().wait(self.attempts, rng),
                WaitCause::Backoff,
            ),
        };
        let remaining = self.remaining(now);
        let at = match now.checked_add(wait) {
            Some(at) if wait < remaining => at,
            _ => {
                return Verdict::GiveUp(R::DeadlineWouldPass {
                    asked: wait,
                    remaining,
                    cause,
                });
            }
        };
        if !budget.try_spend(cost) {
            return Verdict::GiveUp(R::BudgetExhausted {
                available: budget.available(),
                cost,
            });
        }
        self.last_retry_cost = Some(cost);
        Verdict::Retry { at, wait, cause }
    }
}
