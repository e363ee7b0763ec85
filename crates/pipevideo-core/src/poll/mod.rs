//! Waiting for a generation: the sans-IO [`Poller`], the adaptive [`PollSchedule`](crate::policy::PollSchedule), the
//! [`Fleet`] scheduler for many generations on one key, and the [`DurationLearner`] that
//! moves the schedule's prior to each model's observed durations. (The virtual-time simulator
//! that measures them lives with the `poll-simulation` example.)
//!
//! Everything here decides and nothing acts: time comes in as `now`, jitter from an RNG the
//! caller seeds, and the caller (the client driver, or a test) sends the requests and sleeps.
//!
//! # The run loop
//!
//! A [`Poller`] is driven like quinn's or str0m's state machines:
//!
//! 1. Create it with [`Poller::new`] when the create call returns (or [`Poller::resume`] for
//!    a generation created earlier: the first poll goes out at once).
//! 2. If [`Poller::poll_outcome`] returns an [`WaitOutcome`], the wait is over.
//! 3. Drain [`Poller::poll_event`]: status changes and poll attempts ([`Event`]), for a UI or
//!    a log (the client exposes them as a `Stream`).
//! 4. If [`Poller::poll_transmit`] returns a [`Transmit`], send that retrieve request (through
//!    the retry engine), map its result to `Result<G, PollFailure>`, feed it to
//!    [`Poller::handle_response`], and go to 2.
//! 5. Otherwise sleep until [`Poller::poll_timeout`], call [`Poller::handle_timeout`] with the
//!    time now, and go to 2.
//!
//! The instant from `poll_timeout` is exactly actionable: at it, a poll is due or the wait
//! ends, so the loop never spins and never oversleeps. See [`Poller`] for a `no_run` example
//! and [`Fleet`] for the same loop over many generations sharing one request budget.
//!
//! # The rules of a wait
//!
//! * Every wait ends: completed, failed, deadline exceeded, cancelled, unauthorized, not
//!   found or a fatal error ([`OutcomeKind`]); every outcome carries the [`GenerationRef`]
//!   and the last status seen, so it can be resumed.
//! * `completed` and `failed` end it; an unknown status never does.
//! * 429, 5xx and transport failures (after the retry engine's own retries for that call)
//!   never end it; no poll goes out before a 429's `retry_after`, and a `retry_after` that
//!   ends after the deadline ends the wait at once, saying when the server would have
//!   accepted the request.
//! * 401 ends it at once; 404 is tolerated for [`WaitPolicy::DEFAULT_NOT_FOUND_GRACE`](crate::policy::WaitPolicy::DEFAULT_NOT_FOUND_GRACE)
//!   (10 s) after creation, re-checked every second, then ends it.
//! * The deadline ([`WaitPolicy::DEFAULT_DEADLINE`](crate::policy::WaitPolicy::DEFAULT_DEADLINE), 10 min from the start of the wait) is
//!   mandatory; a last look goes out just before it when the schedule would skip past it.
//!
//! # The schedule, measured
//!
//! [`AdaptiveSchedule`](crate::policy::AdaptiveSchedule) polls where the generation is likely to finish: the interval is
//! proportional to `1/sqrt(hazard)` of the expected duration (lognormal, median 55 s,
//! sigma 0.35; learned per flavour, model and engine by the client, see
//! [below](#learned-durations)). On the default
//! workload, from `cargo run --release -p pipevideo-core --example poll-simulation`
//! (10,000 generations per row, seed 2026; the adaptive rows paced by the SDK's default
//! pacer, the baselines sending whenever their schedule says):
//!
//! | schedule | polls / generation | delay p50 | p95 | max | 429s |
//! |---|---|---|---|---|---|
//! | **adaptive, default (peak interval 1.5 s)** | **18.8** | **0.94 s** | **2.14 s** | 18.9 s | 0 |
//! | adaptive, peak 0.4 s, paced at 100/min | 58.5 | 0.30 s | 0.72 s | 4.3 s | 0 |
//! | adaptive, peak 7 s | 5.8 | 4.2 s | 8.6 s | 65 s | 0 |
//! | fixed 0.5 s | 107.9 | 0.32 s | 8.2 s | 10.5 s | 6,295 |
//! | fixed 3 s | 20.0 | 1.49 s | 2.85 s | 3.0 s | 0 |
//! | exponential 1 s ×2, cap 60 s | 6.3 | 20.0 s | 57.1 s | 60 s | 0 |
//! | official client (3 s, gives up at 55 s) | — | — | — | — | gives up on 52% |
//!
//! The one knob, [`AdaptiveSchedule::with_peak_interval`](crate::policy::AdaptiveSchedule::with_peak_interval), trades cost for latency: for each
//! baseline a setting above spends no more polls with a lower p50 and p95. The test suite
//! asserts these goals on fixed seeds.
//!
//! # Many generations on one key
//!
//! A [`Fleet`] shares the key's budget (a [`Pacer`](crate::pacing::Pacer), 90
//! requests per minute by default) among its generations and polls first the one with the
//! largest expected accrued detection delay. Small fleets poll each generation on its own
//! schedule; with 500 generations created at once on 90 requests per minute it never receives
//! a 429 (the pacer's sliding log guarantees it) and spends about 1.2 polls per generation.
//! Beside it, what no client can beat: an oracle that knows every completion time and polls each
//! generation once, the first moment the budget allows after it completes, and two bounds for
//! any client that learns of completions only by polling (derived in ARCHITECTURE.md, "How close
//! to the bound"; the larger binds):
//!
//! | fleet (default schedule, pacer 90/min) | polls / generation | delay p50 | p95 | max | 429s |
//! |---|---|---|---|---|---|
//! | N = 1 | 18.7 | 0.95 s | 2.16 s | 14 s | 0 |
//! | N = 3 | 18.4 | 0.95 s | 2.27 s | 19 s | 0 |
//! | N = 50 | 3.5 | 11.9 s | **28.8 s** | 36 s | 0 |
//! | N = 50, online fluid bound | — | 6.1 s | **23.2 s** | 31 s | — |
//! | N = 500 | 1.18 | 163 s | **311 s** | 334 s | 0 |
//! | N = 500, online detection bound | — | 137 s | **248 s** | 249 s | — |
//! | N = 500, oracle | 1 | 103 s | 233 s | 240 s | — |
//!
//! 50 generations are found at p95 within 1.24× the online bound; 500 within 1.26× the online
//! bound and 1.33× the oracle: the order in which the unpolled ones finished is what no poller
//! can know, and its last detection is at the horizon the pacer allows any poller.
//!
//! With webhooks ([`Poller::handle_webhook`], [`Fleet::handle_webhook`]), 500 generations
//! finishing over one minute: the default fetch of each (first announced first, ahead of every
//! schedule poll) returns at p95 259.8 s against 253.2 s for the fetches alone at the same
//! pacer (the least the budget allows); with
//! [`TerminalWebhook::UseEvent`](crate::policy::TerminalWebhook::UseEvent) every wait returns
//! with its event.
//!
//! # Learned durations
//!
//! Models differ: one finishes in 25 s, another in 140 s, and the default prior (55 s) polls
//! the first where it is unlikely to finish (found late) and the second densely around 55 s
//! for nothing (then late again, past the prior's 99th percentile). The client's
//! [`DurationLearner`] learns a prior per [`DurationKey`] (flavour, model, engine) from the
//! generations that completed, and after three of them a wait on that key follows its own
//! prior ([`DurationLearner::wait_policy`]: only an adaptive schedule whose prior was not set
//! explicitly). On a mixed workload (three models, medians 25 s, 55 s and 140 s, sigma 0.35,
//! drawn at random; 10,000 generations one after another, each alone on its key; seed 2026),
//! from the same example:
//!
//! | priors | polls / generation | delay p50 | p95 | max | 429s |
//! |---|---|---|---|---|---|
//! | default prior for every model (no learning) | 27.3 | 1.36 s | 10.5 s | 19.7 s | 0 |
//! | 25 s model | 4.4 | 2.04 s | 5.7 s | 12.2 s | 0 |
//! | 55 s model | 18.8 | 0.95 s | 2.22 s | 15.4 s | 0 |
//! | 140 s model | 60.0 | 1.47 s | 15.4 s | 19.7 s | 0 |
//! | **learned priors** | **24.8** | **0.94 s** | **2.26 s** | 19.4 s | 0 |
//! | 25 s model | 9.9 | 0.93 s | 2.10 s | 19.4 s | 0 |
//! | 55 s model | 19.2 | 0.93 s | 2.30 s | 15.8 s | 0 |
//! | 140 s model | 45.5 | 0.95 s | 2.39 s | 19.1 s | 0 |
//! | each model's true prior, given up front (the bound) | 24.1 | 0.95 s | 2.15 s | 19.3 s | 0 |
//!
//! Learning costs 9% fewer polls and cuts the p95 delay by more than three quarters; it spends more
//! polls on the fast model (where its generations finish) and far fewer on the slow one, and
//! comes within 3% (polls) and 0.1 s (p95) of knowing every model's distribution in advance.
//! `tests/poll_learning.rs` asserts it on a fixed seed.
//!
//! [`GenerationRef`]: crate::GenerationRef

mod answer;
mod fleet;
mod learn;
mod poller;
mod progress;

pub use answer::{FRESH_HANDLE_AGE, PollAnswer, WaitStart};
pub use fleet::{Fleet, FleetError, FleetEvent};
pub use learn::{DurationKey, DurationLearner, ServerDuration};
pub use poller::{OutcomeKind, PollFailure, Poller, Snapshot, Transmit, WaitOutcome};
pub use progress::{Event, PollFailureKind};
