//! [`Call`]: one request's life, from the first send to done or give up, as a sans-IO state
//! machine, next to the retry engine it drives.
//!
//! Over ~600 lines only because its virtual-time unit tests live beside it (half the file).
//!
//! The retry engine's [`RetryState`] judges one outcome; a call is more: it waits for the
//! client's [`Pacer`], turns each HTTP answer into an [`Outcome`] (a `2xx` that does not decode
//! counts as *maybe sent*), spends the client's [`RetryBudget`], puts a 429's hold on the pacer,
//! and builds the error the caller gets. All of that is here, as pure code; the async driver
//! only sends, sleeps and hands results in.

use std::time::{Duration, Instant, SystemTime};

use http::Response;
use rand_core::RngCore;

use crate::pacing::Pacer;
use crate::policy::RetryPolicy;
use crate::retry::{
    Decision, GiveUp, GiveUpReason, Outcome, RequestKind, RetryBudget, RetryState, Verdict,
};
use crate::transport::{FailureKind, TransportError};
use crate::{ApiError, Error, GaveUpError};

/// What a [`Call`] borrows from its client while it judges an attempt: the shared pacer and
/// retry budget, the RNG for jitter, and two facts of the moment (the wall clock, for
/// `Retry-After` dates, and the key, to scrub from anything the server echoed).
#[derive(Debug)]
#[non_exhaustive]
pub struct CallContext<'a, G> {
    /// The client's pacer: a 429's hold goes here, the one place holds are kept.
    pub pacer: &'a mut Pacer,
    /// The client's retry budget.
    pub budget: &'a mut RetryBudget,
    /// Jitter.
    pub rng: &'a mut G,
    /// The wall clock when the answer arrived.
    pub wall_now: SystemTime,
    /// The API key the request carried, scrubbed from server text kept in errors.
    pub secret: Option<&'a str>,
}

impl<'a, G: RngCore> CallContext<'a, G> {
    /// A context over the client's pacer, budget and RNG, at `wall_now` (the wall clock when
    /// the answer arrived, which a `Retry-After` date is read against), with no secret to
    /// scrub; add it with [`with_secret`](Self::with_secret).
    pub fn new(
        pacer: &'a mut Pacer,
        budget: &'a mut RetryBudget,
        rng: &'a mut G,
        wall_now: SystemTime,
    ) -> Self {
        Self {
            pacer,
            budget,
            rng,
            wall_now,
            secret: None,
        }
    }

    /// The key to scrub from server text.
    #[must_use]
    pub fn with_secret(mut self, secret: &'a str) -> Self {
        self.secret = Some(secret);
        self
    }
}

/// An attempt to send now, from [`Call::poll_transmit`]: the pacer has recorded the send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transmit {
    /// The attempt's number, from 1.
    pub attempt: u32,
    /// Its timeout: the policy's per-attempt timeout cut to the call's deadline.
    pub timeout: Duration,
    /// The call's deadline, if it has one: a send not started by then is not sent. A driver
    /// that waits for a shared pacing slot waits until then at most, as the call waits for
    /// the local pacer, and then sends with [`Call::attempt_timeout`] at that moment.
    pub deadline: Option<Instant>,
}

/// One attempt's result, judged: the [`Outcome`] the retry engine needs, and the value or the
/// error the call would return if this attempt were its last.
///
/// The rules, written once:
///
/// - a `2xx` whose body decodes is the value, outcome "that status";
/// - a `2xx` whose body does not decode (cut off, a proxy's page) is the decode error, outcome
///   [`FailureKind::MaybeSent`]: the request may have been processed, so it is replayed only
///   where that is safe;
/// - any other status is an [`ApiError`] (its server text scrubbed of the key), outcome "that
///   status with the delay it asked for";
/// - a transport failure is [`Error::Transport`], outcome "how far the exchange got".
///
/// ```
/// use std::time::SystemTime;
/// use pipevideo_core::call::Judged;
/// use pipevideo_core::retry::Outcome;
/// use pipevideo_core::transport::FailureKind;
///
/// let cut = http::Response::new(br#"{"id":"gen_1","sta"#.to_vec());
/// let judged = Judged::response(&cut, SystemTime::UNIX_EPOCH, None, |r| {
///     pipevideo_core::codec::decode_json::<serde_json::Value, _>(r)
/// });
/// assert_eq!(judged.outcome(), Outcome::Failed(FailureKind::MaybeSent));
/// assert!(judged.into_value().is_err());
/// ```
#[derive(Debug)]
pub struct Judged<R> {
    outcome: Outcome,
    value: Result<R, Error>,
}

impl<R> Judged<R> {
    /// Judges an HTTP answer; `decode` reads a success body. Server text kept in an error is
    /// scrubbed of `secret` (and of any `pv_…` token).
    pub fn response(
        response: &Response<Vec<u8>>,
        wall_now: SystemTime,
        secret: Option<&str>,
        decode: impl FnOnce(&Response<Vec<u8>>) -> Result<R, Error>,
    ) -> Self {
        let status = response.status();
        if status.is_success() {
            return match decode(response) {
                Ok(value) => Self {
                    outcome: Outcome::status(status),
                    value: Ok(value),
                },
                Err(mut e) => {
                    if let (Error::Decode(decode), Some(secret)) = (&mut e, secret) {
                        decode.redact_secret(secret);
                    }
                    Self {
                        outcome: Outcome::failed(FailureKind::MaybeSent),
                        value: Err(e),
                    }
                }
            };
        }
        let api =
            ApiError::from_response_scrubbed(status, response.headers(), response.body(), secret);
        let outcome = Outcome::response(status, api.retry_after(), response.headers(), wall_now);
        Self {
            outcome,
            value: Err(Error::Api(api)),
        }
    }

    /// Judges a transport failure.
    pub fn transport_error(error: TransportError) -> Self {
        Self {
            outcome: Outcome::failed(error.kind()),
            value: Err(Error::Transport(error)),
        }
    }

    /// The outcome, for the retry engine.
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// The value or error.
    pub fn value(&self) -> &Result<R, Error> {
        &self.value
    }

    /// The value or error, owned.
    pub fn into_value(self) -> Result<R, Error> {
        self.value
    }
}

/// One request's state machine: pace, send, judge, wait, until done or given up.
///
/// A call owns its [`RetryState`] (attempts, deadline) and borrows the client-wide pieces only
/// while it decides ([`Pacer`] and [`RetryBudget`], through [`CallContext`]). It never reads a
/// clock or sleeps: every method takes `now`.
///
/// # The drain rule
///
/// The driver loops:
///
/// 1. [`poll_transmit(now, pacer)`](Self::poll_transmit): `Some` means send now (the pacer
///    has recorded it) with the returned timeout, then feed the answer to
///    [`handle_response`](Self::handle_response) or
///    [`handle_transport_error`](Self::handle_transport_error). `None` means not now.
/// 2. [`poll_outcome()`](Self::poll_outcome): `Some` ends the call with the value or error.
/// 3. Otherwise sleep until [`poll_timeout()`](Self::poll_timeout), call
///    [`handle_timeout(now)`](Self::handle_timeout), and go back to 1.
///
/// ```
/// use std::time::{Duration, Instant, SystemTime};
/// use rand::{SeedableRng, rngs::SmallRng};
/// use pipevideo_core::pacing::Pacer;
/// use pipevideo_core::policy::{PacingPolicy, RetryPolicy};
/// use pipevideo_core::call::{Call, CallContext};
/// use pipevideo_core::retry::{RequestKind, RetryBudget};
///
/// let t0 = Instant::now();
/// let (mut pacer, mut budget) = (Pacer::new(PacingPolicy::default()), RetryBudget::default());
/// let mut rng = SmallRng::seed_from_u64(1);
/// let mut call = Call::<serde_json::Value>::new(&RetryPolicy::default(), RequestKind::Read, t0);
///
/// // First attempt: goes at once. The server is rate limited: 429, retry in 42 s.
/// let transmit = call.poll_transmit(t0, &mut pacer).expect("sends at once");
/// assert_eq!(transmit.attempt, 1);
/// let mut limited = http::Response::new(br#"{"message":"slow down","data":{"retry_after":42}}"#.to_vec());
/// *limited.status_mut() = http::StatusCode::TOO_MANY_REQUESTS;
/// let mut ctx = CallContext::new(&mut pacer, &mut budget, &mut rng, SystemTime::UNIX_EPOCH);
/// call.handle_response(t0, &limited, pipevideo_core::codec::decode_json, &mut ctx);
/// assert!(call.poll_outcome().is_none());
///
/// // Not before the server's time, and the hold is on the pacer for every other call too.
/// assert!(call.poll_transmit(t0, &mut pacer).is_none());
/// assert_eq!(call.poll_timeout(), Some(t0 + Duration::from_secs(42)));
/// assert_eq!(pacer.held_until(), Some(t0 + Duration::from_secs(42)));
///
/// let t1 = t0 + Duration::from_secs(42);
/// call.handle_timeout(t1);
/// assert_eq!(call.poll_transmit(t1, &mut pacer).map(|t| t.attempt), Some(2));
/// let mut ctx = CallContext::new(&mut pacer, &mut budget, &mut rng, SystemTime::UNIX_EPOCH);
/// call.handle_response(t1, &http::Response::new(b"{}".to_vec()), pipevideo_core::codec::decode_json, &mut ctx);
/// assert!(matches!(call.poll_outcome(), Some(Ok(_))));
/// ```
#[derive(Debug)]
pub struct Call<R> {
    state: RetryState,
    started: Instant,
    /// The earliest instant of the next send: a retry's `at`, or a pacer slot waited for.
    not_before: Option<Instant>,
    /// When [`poll_transmit`](Self::poll_transmit) should be asked again.
    wake: Option<Instant>,
    in_flight: bool,
    /// The error of the last attempt, for the give-up error if the next cannot be sent.
    last_error: Option<Error>,
    last_decision: Option<Decision>,
    outcome: Option<Result<R, Error>>,
    done: bool,
}

impl<R> Call<R> {
    /// A call of `kind` starting at `now` under `policy`.
    pub fn new(policy: &RetryPolicy, kind: RequestKind, now: Instant) -> Self {
        Self {
            state: RetryState::new(policy, kind, now),
            started: now,
            not_before: None,
            wake: None,
            in_flight: false,
            last_error: None,
            last_decision: None,
            outcome: None,
            done: false,
        }
    }

    /// The call's retry state (attempts, deadline).
    pub fn state(&self) -> &RetryState {
        &self.state
    }

    /// The decision on the last attempt, for logs.
    pub fn last_decision(&self) -> Option<&Decision> {
        self.last_decision.as_ref()
    }

    /// Whether the next attempt may go at `now`: if the pacer allows it (and any retry wait
    /// is over), the send is recorded on `pacer` and the attempt is returned. If the earliest
    /// moment it could go is at or past the call's deadline, or a 429's client-wide hold lasts
    /// longer than the call's cap on server-asked waits, the call gives up at once (its
    /// outcome is then ready, carrying the time left) rather than sleep for nothing.
    pub fn poll_transmit(&mut self, now: Instant, pacer: &mut Pacer) -> Option<Transmit> {
        if self.in_flight || self.done {
            return None;
        }
        if let Err(give_up) = self.state.check_hold(pacer.held_until(), now) {
            let last = self.last_error.take();
            self.give_up(give_up, last, now);
            return None;
        }
        let at = self.not_before.map_or(now, |t| t.max(now));
        let send_at = pacer.next_send_at(at);
        if send_at <= now {
            pacer.record_send(now);
            self.in_flight = true;
            self.wake = None;
            return Some(Transmit {
                attempt: self.state.attempts().saturating_add(1),
                timeout: self.state.attempt_timeout(now),
                deadline: self.state.deadline(),
            });
        }
        match self.state.check_send_at(send_at, now) {
            Ok(()) => self.wake = Some(send_at),
            Err(give_up) => {
                let last = self.last_error.take();
                self.give_up(give_up, last, now);
            }
        }
        None
    }

    /// The timeout of an attempt that starts at `now` (after waiting for a shared pacing slot):
    /// the policy's per-attempt timeout cut to the call's deadline.
    pub fn attempt_timeout(&self, now: Instant) -> Duration {
        self.state.attempt_timeout(now)
    }

    /// When to call [`handle_timeout`](Self::handle_timeout) and ask again; `None` while an
    /// attempt is in flight or once the call is over.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.in_flight || self.done {
            None
        } else {
            self.wake
        }
    }

    /// Time passed: once the instant from [`poll_timeout`](Self::poll_timeout) is reached, the
    /// next send goes no earlier than the slot that was waited for. An early wake changes
    /// nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(wake) = self.wake.filter(|wake| *wake <= now) {
            self.wake = None;
            self.not_before = Some(self.not_before.map_or(wake, |t| t.max(wake)));
        }
    }

    /// The answer to the attempt in flight arrived at `now`; `decode` reads a success body.
    pub fn handle_response<G: RngCore>(
        &mut self,
        now: Instant,
        response: &Response<Vec<u8>>,
        decode: impl FnOnce(&Response<Vec<u8>>) -> Result<R, Error>,
        ctx: &mut CallContext<'_, G>,
    ) {
        let judged = Judged::response(response, ctx.wall_now, ctx.secret, decode);
        self.handle(now, judged, ctx);
    }

    /// The attempt in flight failed in the transport at `now`.
    pub fn handle_transport_error<G: RngCore>(
        &mut self,
        now: Instant,
        error: TransportError,
        ctx: &mut CallContext<'_, G>,
    ) {
        self.handle(now, Judged::transport_error(error), ctx);
    }

    /// An attempt judged elsewhere (see [`Judged`]) ended at `now`.
    pub fn handle<G: RngCore>(
        &mut self,
        now: Instant,
        judged: Judged<R>,
        ctx: &mut CallContext<'_, G>,
    ) {
        if self.done {
            return;
        }
        self.in_flight = false;
        let Judged { outcome, value } = judged;
        let decision = self.state.decide(outcome, now, ctx.budget, ctx.rng);
        if let Some(hold) = decision.hold_until() {
            ctx.pacer.hold_until(hold);
        }
        self.last_decision = Some(decision);
        match decision.verdict() {
            // The API error itself is the better error for a final status.
            Verdict::Done | Verdict::GiveUp(GiveUpReason::NotRetryable) => self.finish(value),
            Verdict::Retry { at, .. } => {
                self.not_before = Some(at);
                self.last_error = value.err();
            }
            Verdict::GiveUp(_) => {
                if let Some(give_up) = decision.give_up() {
                    self.give_up(give_up, value.err(), now);
                }
            }
        }
    }

    /// The call's result, once: `Some` when it is over.
    pub fn poll_outcome(&mut self) -> Option<Result<R, Error>> {
        self.outcome.take()
    }

    /// Whether the call is over (its outcome may already have been taken).
    pub fn is_done(&self) -> bool {
        self.done
    }

    fn give_up(&mut self, give_up: GiveUp, last: Option<Error>, now: Instant) {
        let elapsed = now.saturating_duration_since(self.started);
        self.finish(Err(Error::GaveUp(Box::new(GaveUpError {
            give_up,
            last,
            elapsed,
        }))));
    }

    fn finish(&mut self, value: Result<R, Error>) {
        self.done = true;
        self.wake = None;
        self.outcome = Some(value);
    }
}

#[cfg(test)]
mod tests {
    use http::StatusCode;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    use super::*;
    use crate::policy::PacingPolicy;
    use crate::retry::WaitCause;
    use crate::transport::Cause;
    use crate::{ErrorKind, codec};

    const S: Duration = Duration::from_secs(1);

    struct World {
        pacer: Pacer,
        budget: RetryBudget,
        rng: SmallRng,
    }

    impl World {
        fn new() -> Self {
            Self::with_pacing(PacingPolicy::unlimited())
        }

        fn with_pacing(pacing: PacingPolicy) -> Self {
            Self {
                pacer: Pacer::new(pacing),
                budget: RetryBudget::default(),
                rng: SmallRng::seed_from_u64(7),
            }
        }

        fn answer(
            &mut self,
            call: &mut Call<serde_json::Value>,
            now: Instant,
            status: u16,
            body: &str,
        ) {
            let mut response = Response::new(body.as_bytes().to_vec());
            *response.status_mut() = StatusCode::from_u16(status).unwrap();
            let mut ctx = CallContext::new(
                &mut self.pacer,
                &mut self.budget,
                &mut self.rng,
                SystemTime::UNIX_EPOCH,
            )
            .with_secret("pv_secret_key_123");
            call.handle_response(now, &response, codec::decode_json, &mut ctx);
        }

        fn fail(&mut self, call: &mut Call<serde_json::Value>, now: Instant, e: TransportError) {
            let mut ctx = CallContext::new(
                &mut self.pacer,
                &mut self.budget,
                &mut self.rng,
                SystemTime::UNIX_EPOCH,
            );
            call.handle_transport_error(now, e, &mut ctx);
        }
    }

    fn read_call(t0: Instant) -> Call<serde_json::Value> {
        Call::new(&RetryPolicy::default(), RequestKind::Read, t0)
    }

    #[test]
    fn a_success_ends_the_call_with_the_value() {
        let (t0, mut w) = (Instant::now(), World::new());
        let mut call = read_call(t0);
        let tx = call.poll_transmit(t0, &mut w.pacer).unwrap();
        assert_eq!(
            tx,
            Transmit {
                attempt: 1,
                timeout: 30 * S,
                deadline: Some(t0 + 90 * S),
            }
        );
        assert_eq!(
            call.poll_transmit(t0, &mut w.pacer),
            None,
            "one attempt in flight"
        );
        assert_eq!(call.poll_timeout(), None);
        w.answer(&mut call, t0, 200, r#"{"ok":true}"#);
        assert_eq!(call.poll_outcome().unwrap().unwrap()["ok"], true);
        assert!(call.is_done());
        assert_eq!(
            call.poll_outcome().map(|_| ()),
            None,
            "the outcome is handed out once"
        );
    }

    #[test]
    fn a_2xx_that_does_not_decode_counts_as_maybe_sent() {
        let (t0, mut w) = (Instant::now(), World::new());
        // A read is replayed…
        let mut call = read_call(t0);
        call.poll_transmit(t0, &mut w.pacer).unwrap();
        w.answer(&mut call, t0, 200, r#"{"id":"gen_1","st"#);
        let d = call.last_decision().copied().unwrap();
        assert_eq!(d.outcome(), Outcome::Failed(FailureKind::MaybeSent));
        assert!(matches!(d.verdict(), Verdict::Retry { .. }));
        // …a create without a key is not: it may have started a generation.
        let mut call: Call<serde_json::Value> =
            Call::new(&RetryPolicy::default(), RequestKind::UnkeyedCreate, t0);
        call.poll_transmit(t0, &mut w.pacer).unwrap();
        w.answer(&mut call, t0, 200, "<html>proxy</html>");
        let e = call.poll_outcome().unwrap().unwrap_err();
        assert!(
            matches!(&e, Error::GaveUp(g) if g.give_up.reason() == GiveUpReason::NotIdempotent),
            "{e:?}"
        );
        assert_eq!(
            e.kind(),
            ErrorKind::Decode,
            "the last error decides the kind: {e}"
        );
    }

    #[test]
    fn a_final_status_returns_the_api_error_itself_scrubbed() {
        let (t0, mut w) = (Instant::now(), World::new());
        let mut call = read_call(t0);
        call.poll_transmit(t0, &mut w.pacer).unwrap();
        w.answer(
            &mut call,
            t0,
            401,
            r#"{"message":"bad key pv_secret_key_123"}"#,
        );
        let e = call.poll_outcome().unwrap().unwrap_err();
        assert!(matches!(e, Error::Api(_)), "{e:?}");
        assert_eq!(e.status(), Some(StatusCode::UNAUTHORIZED));
        assert!(!e.to_string().contains("pv_secret_key_123"), "{e}");
    }

    #[test]
    fn a_429_waits_exactly_and_holds_the_pacer_for_every_call() {
        let (t0, mut w) = (Instant::now(), World::new());
        let mut call = read_call(t0);
        call.poll_transmit(t0, &mut w.pacer).unwrap();
        w.answer(
            &mut call,
            t0,
            429,
            r#"{"message":"slow","data":{"retry_after":42}}"#,
        );
        assert_eq!(w.pacer.held_until(), Some(t0 + 42 * S));
        // Another call of the same client cannot go either.
        let mut other = read_call(t0);
        assert_eq!(other.poll_transmit(t0 + S, &mut w.pacer), None);
        assert_eq!(other.poll_timeout(), Some(t0 + 42 * S));
        // This one wakes exactly then, not a nanosecond earlier.
        assert_eq!(call.poll_transmit(t0 + 41 * S, &mut w.pacer), None);
        assert_eq!(call.poll_timeout(), Some(t0 + 42 * S));
        call.handle_timeout(t0 + 42 * S);
        assert_eq!(
            call.poll_transmit(t0 + 42 * S, &mut w.pacer)
                .map(|t| t.attempt),
            Some(2)
        );
    }

    #[test]
    fn a_5xx_backs_off_with_jitter_within_the_ceiling() {
        let (t0, mut w) = (Instant::now(), World::new());
        let mut call = read_call(t0);
        call.poll_transmit(t0, &mut w.pacer).unwrap();
        w.answer(&mut call, t0, 503, "");
        let d = call.last_decision().copied().unwrap();
        let Verdict::Retry { wait, cause, .. } = d.verdict() else {
            panic!("{d}")
        };
        assert_eq!(cause, WaitCause::Backoff);
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        assert_eq!(
            call.poll_transmit(t0, &mut w.pacer).is_some(),
            wait.is_zero()
        );
    }

    #[test]
    fn a_pacer_slot_past_the_deadline_gives_up_at_once_with_the_last_error() {
        let t0 = Instant::now();
        let mut w = World::with_pacing(PacingPolicy::new(1, 600 * S).with_burst(1));
        let mut call = read_call(t0);
        call.poll_transmit(t0, &mut w.pacer).unwrap();
        w.fail(&mut call, t0, TransportError::connect("refused"));
        // The pacer's next slot is 10 minutes away, past the 90 s deadline: no sleep.
        assert_eq!(call.poll_transmit(t0 + S, &mut w.pacer), None);
        assert_eq!(call.poll_timeout(), None);
        let e = call.poll_outcome().unwrap().unwrap_err();
        let Error::GaveUp(gave_up) = &e else {
            panic!("{e:?}")
        };
        assert!(matches!(
            gave_up.give_up.reason(),
            GiveUpReason::DeadlineWouldPass {
                cause: WaitCause::ClientPacing,
                ..
            }
        ));
        assert_eq!(gave_up.elapsed, S);
        assert!(
            matches!(&gave_up.last, Some(Error::Transport(t)) if t.cause() == Cause::Connect),
            "the last attempt's error is kept: {e}"
        );
    }

    #[test]
    fn attempts_run_out_and_the_give_up_carries_the_last_error() {
        let (t0, mut w) = (Instant::now(), World::new());
        let mut call = read_call(t0);
        let mut now = t0;
        for attempt in 1..=4 {
            loop {
                if let Some(tx) = call.poll_transmit(now, &mut w.pacer) {
                    assert_eq!(tx.attempt, attempt);
                    break;
                }
                now = call.poll_timeout().expect("a retry waits");
                call.handle_timeout(now);
            }
            w.answer(&mut call, now, 500, r#"{"message":"boom"}"#);
        }
        let e = call.poll_outcome().unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Server, "{e}");
        assert!(e.to_string().contains("boom"), "{e}");
        assert_eq!(call.state().attempts(), 4);
    }

    #[test]
    fn a_permanent_transport_failure_is_not_retried() {
        let (t0, mut w) = (Instant::now(), World::new());
        let mut call = read_call(t0);
        call.poll_transmit(t0, &mut w.pacer).unwrap();
        w.fail(&mut call, t0, TransportError::body_too_large(8));
        let e = call.poll_outcome().unwrap().unwrap_err();
        assert!(matches!(e, Error::Transport(_)), "{e:?}");
    }

    #[test]
    fn the_attempt_timeout_is_cut_to_the_deadline() {
        let (t0, mut w) = (Instant::now(), World::new());
        let mut call = read_call(t0);
        let late = t0 + 80 * S;
        let tx = call.poll_transmit(late, &mut w.pacer).unwrap();
        assert_eq!(tx.timeout, 10 * S);
    }

    #[test]
    fn answers_after_the_end_change_nothing() {
        let (t0, mut w) = (Instant::now(), World::new());
        let mut call = read_call(t0);
        call.poll_transmit(t0, &mut w.pacer).unwrap();
        w.answer(&mut call, t0, 404, "");
        assert!(call.poll_outcome().is_some());
        w.answer(&mut call, t0, 200, "{}");
        assert!(call.poll_outcome().is_none());
        assert_eq!(call.poll_transmit(t0, &mut w.pacer), None);
    }

    #[test]
    fn a_spent_budget_stops_the_retries_of_every_call() {
        let (t0, mut w) = (Instant::now(), World::new());
        w.budget = RetryBudget::default().with_capacity(5).with_retry_cost(5);
        let mut first = read_call(t0);
        first.poll_transmit(t0, &mut w.pacer).unwrap();
        w.answer(&mut first, t0, 502, "");
        assert!(
            first.poll_outcome().is_none(),
            "the first retry is paid for"
        );
        // A second call of the same client finds the budget empty.
        let mut second = read_call(t0);
        second.poll_transmit(t0, &mut w.pacer).unwrap();
        w.answer(&mut second, t0, 502, "");
        let e = second.poll_outcome().unwrap().unwrap_err();
        let Error::GaveUp(gave_up) = &e else {
            panic!("{e:?}")
        };
        assert!(matches!(
            gave_up.give_up.reason(),
            GiveUpReason::BudgetExhausted {
                available: 0,
                cost: 5
            }
        ));
    }

    #[test]
    fn a_keyed_create_is_replayed_after_a_lost_answer_an_unkeyed_one_is_not() {
        let (t0, mut w) = (Instant::now(), World::new());
        let mut keyed: Call<serde_json::Value> =
            Call::new(&RetryPolicy::default(), RequestKind::KeyedCreate, t0);
        keyed.poll_transmit(t0, &mut w.pacer).unwrap();
        w.fail(&mut keyed, t0, TransportError::maybe_sent("reset"));
        assert!(keyed.poll_outcome().is_none());
        let mut unkeyed: Call<serde_json::Value> =
            Call::new(&RetryPolicy::default(), RequestKind::UnkeyedCreate, t0);
        unkeyed.poll_transmit(t0, &mut w.pacer).unwrap();
        w.fail(&mut unkeyed, t0, TransportError::maybe_sent("reset"));
        assert!(unkeyed.poll_outcome().unwrap().is_err());
        // Refused before sending: safe even without a key.
        let mut refused: Call<serde_json::Value> =
            Call::new(&RetryPolicy::default(), RequestKind::UnkeyedCreate, t0);
        refused.poll_transmit(t0, &mut w.pacer).unwrap();
        w.fail(&mut refused, t0, TransportError::connect("refused"));
        assert!(refused.poll_outcome().is_none());
    }
}
