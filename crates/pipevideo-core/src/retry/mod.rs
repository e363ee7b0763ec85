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
//!   [`Pacer`](pacing::Pacer)). A 429 without any delay falls back to the backoff.
//! - **One deadline per call** covers every attempt and every wait. A wait that would end at or
//!   after it is not slept: the call gives up at once with
//!   [`GiveUpReason::DeadlineWouldPass`], saying what was asked and how much time was left. A
//!   server-asked wait beyond the policy's cap gives up the same way
//!   ([`GiveUpReason::ServerDelayBeyondCap`]). The client never sends earlier than asked.
//! - **Attempts** are limited per call ([`GiveUpReason::AttemptsExhausted`]).
//! - **The retry budget** ([`RetryBudget`]) is shared by all calls of a client: under a
//!   sustained outage calls stop retrying ([`GiveUpReason::BudgetExhausted`]).
//! - **Idempotent create.** A create carries an `Idempotency-Key` (one value per logical create,
//!   reused across its retries); only then ([`RequestKind::KeyedCreate`]) is it retried after a
//!   5xx or a lost response. The Pipevideo docs do not say that the server deduplicates on the
//!   key: a retried create *may* start a second generation. The key is what the caller uses to
//!   reconcile, and the client's error carries it.
//!
//! Every decision is a [`Decision`], a small `Copy` record (attempt, outcome, verdict, wait,
//! reason) built without allocating.
//!
//! # Defaults
//!
//! Every number is configurable: [`RetryPolicy`] and [`Backoff`] per call, [`RetryBudget`] and
//! [`PacingPolicy`](pacing::PacingPolicy) per client.
//!
//! | Setting | Default | Why |
//! |---|---|---|
//! | Per-attempt timeout | 30 s | Create answers at once (`queued`) and polls are small reads; 30 s tolerates a slow proxy yet leaves room for more attempts within the deadline. |
//! | Per-call deadline | 90 s | Room to wait out one full rate-limit window (a 429 asks at most ~60 s; the documented example is 42 s) and still make an attempt. |
//! | Attempts per call | 4 (1 + 3 retries) | Enough to ride out a blip or a proxy restart; more mostly adds load during an outage. |
//! | Backoff | base 500 ms, factor 2, cap 20 s, full jitter | Ceilings 0.5, 1, 2 s for the 3 retries; full jitter (uniform in `[0, ceiling]`) spreads many clients the most evenly. |
//! | Cap on server-asked waits | 120 s | Two rate-limit windows: a longer `retry_after` is not a rate limit the client can wait out within a call. |
//! | Retry budget | 500 tokens; retry 5, retry after timeout 10; success refunds 1 | The AWS SDKs' retry quota: ~100 failed retries in a row stop retries client-wide. |
//! | Pacing | 90 requests per 60 s, bursts of 10 | A 10 % margin under the key's 100/min for arrival jitter and other users of the key. |
//! | Wait for a generation | 10 min ([`WaitPolicy::DEFAULT_DEADLINE`](crate::poll::WaitPolicy::DEFAULT_DEADLINE)) | Generations take about a minute; ten times that means something is wrong, and the error keeps the id for resuming. |
//! | Generate (create + wait) | the create call's deadline, then the wait's | No deadline of its own: `generate` is `create` (one call, 90 s) followed by `wait` (10 min). |
//!
//! # Modules
//!
//! [`pacing`] keeps a client under the key's limit; the rest is re-exported here.

mod backoff;
mod budget;
mod decision;
pub mod pacing;
mod policy;
mod retry_after;

pub use backoff::{Backoff, Jitter};
pub use budget::RetryBudget;
pub use decision::{
    Decision, GiveUp, GiveUpReason, Outcome, RequestKind, RetryState, Verdict, WaitCause,
};
pub use policy::RetryPolicy;
pub use retry_after::{DelaySource, ServerDelay};
