//! The retry engine: the API's retry rules, one deadline per call, a retry budget shared by
//! the client's calls, and client-side pacing. Sans-IO: `now` and the RNG for jitter come in as
//! arguments, so every rule here is tested in virtual time.
//!
//! # The rules
//!
//! | Outcome | Read / keyed create | Create without key |
//! |---|---|---|
//! | status < 400 | done | done |
//! | 400, 401, 404, any other status not listed | give up: [`GiveUpReason::NotRetryable`] | same |
//! | 429 | wait exactly the server's delay (see below) | same: a 429 was refused before processing |
//! | 500, 502, 503, 504 | backoff with jitter (longer if a `Retry-After` asks) | give up: [`GiveUpReason::NotIdempotent`] |
//! | transport failure, not sent | backoff with jitter | same: it never reached the server |
//! | transport failure, maybe sent | backoff with jitter | give up: [`GiveUpReason::NotIdempotent`] |
//! | transport failure, permanent (body over the cap, invalid request, failing sink) | give up: [`GiveUpReason::NotRetryable`] | same |
//!
//! - **429.** The delay is the later of the body's `data.retry_after` and a `Retry-After` header
//!   (delta-seconds or any RFC 9110 HTTP-date, relative to the response's `Date`), see
//!   [`ServerDelay`]. The retry goes exactly then, never earlier, and
//!   [`Decision::hold_until`] makes every call of the client wait as long (through the
//!   [`Pacer`](crate::pacing::Pacer)). A 429 without any delay falls back to the backoff.
//! - **One deadline per call** covers every attempt and every wait. A wait that would end at or
//!   after it is not slept: the call gives up at once with
//!   [`GiveUpReason::DeadlineWouldPass`], saying what was asked and how much time was left. A
//!   server-asked wait beyond the policy's cap gives up the same way
//!   ([`GiveUpReason::ServerDelayBeyondCap`]), and still holds the client: every 429 with a
//!   delay sets the client-wide hold (at most [`MAX_HOLD`]), and a call that would start (or
//!   retry) inside a hold longer than its cap fails at once, before sending, with the time
//!   left ([`GiveUpReason::HeldBeyondCap`], [`Error::retry_after`](crate::Error::retry_after)).
//!   The client never sends earlier than asked.
//! - **Attempts** are limited per call ([`GiveUpReason::AttemptsExhausted`]).
//! - **The retry budget** ([`RetryBudget`]) is shared by all calls of a client: under a
//!   sustained outage calls stop retrying ([`GiveUpReason::BudgetExhausted`]).
//! - **Idempotent create.** A create carries an `Idempotency-Key` (one value per logical create,
//!   reused across its retries); only then ([`RequestKind::KeyedCreate`]) is it retried after a
//!   5xx or a lost response. The Pipevideo docs do not say that the server deduplicates on the
//!   key: a retried create *may* start a second generation. The key is what the caller uses to
//!   reconcile, and the client's error carries it. How often such a create is *replayed* is the
//!   policy's [`CreateReplay`](crate::policy::CreateReplay): with its key as often as the
//!   attempt limit allows (the default, as the API's rule to retry 500s asks), at most once,
//!   or never ([`GiveUpReason::ReplayLimit`]). A 429 or a request that never left is not a
//!   replay under any setting.
//!
//! Every decision is a [`Decision`], a small `Copy` record (attempt, outcome, verdict, wait,
//! reason) built without allocating.
//!
//! # Defaults
//!
//! Every number is configurable; the [table of defaults](crate::policy#defaults) lives with
//! the policies in [`policy`](crate::policy), and the [`Pacer`](crate::pacing::Pacer) that
//! keeps a client under the key's limit in [`pacing`](crate::pacing).
//!
//! # One call
//!
//! [`Call`](crate::call::Call) is one request's state machine: it owns the [`RetryState`], asks the client's
//! [`Pacer`](crate::pacing::Pacer) and [`RetryBudget`], and tells the driver what to send and
//! when; see its docs for the drain rule.

mod budget;
mod decision;
mod retry_after;

pub use budget::RetryBudget;
pub use decision::{
    Decision, GiveUp, GiveUpReason, MAX_HOLD, Outcome, RequestKind, RetryState, Verdict, WaitCause,
};
pub use retry_after::{DelaySource, ServerDelay};
