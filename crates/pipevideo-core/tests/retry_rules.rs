//! Every retry rule of the API, in virtual time: one base `Instant` plus offsets, seeded RNG.

use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, HeaderValue, StatusCode};
use pipevideo_core::policy::Backoff;
use pipevideo_core::policy::Jitter;
use pipevideo_core::policy::RetryPolicy;
use pipevideo_core::retry::{
    Decision, DelaySource, GiveUpReason, Outcome, RequestKind, RetryBudget, RetryState,
    ServerDelay, Verdict, WaitCause,
};
use pipevideo_core::transport::FailureKind;
use pipevideo_core::{pacing::Pacer, policy::PacingPolicy};
use rand::SeedableRng;
use rand::rngs::SmallRng;

const S: Duration = Duration::from_secs(1);

fn rng() -> SmallRng {
    SmallRng::seed_from_u64(0x5eed)
}

/// 2026-01-01T00:00:00Z, the virtual wall clock.
fn wall() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

fn status(code: u16) -> Outcome {
    Outcome::status(StatusCode::from_u16(code).unwrap())
}

fn rate_limited(body: Option<u64>, header: Option<&str>) -> Outcome {
    let h = match header {
        Some(v) => headers(&[("retry-after", v)]),
        None => HeaderMap::new(),
    };
    Outcome::response(
        StatusCode::TOO_MANY_REQUESTS,
        body.map(Duration::from_secs),
        &h,
        wall(),
    )
}

/// Judges one outcome as the first attempt of a fresh call.
fn first(kind: RequestKind, outcome: Outcome) -> Decision {
    let t0 = Instant::now();
    let mut call = RetryState::new(&RetryPolicy::default(), kind, t0);
    call.decide(outcome, t0, &mut RetryBudget::default(), &mut rng())
}

fn reason(d: &Decision) -> GiveUpReason {
    match d.verdict() {
        Verdict::GiveUp(r) => r,
        other => panic!("expected a give-up, got {other:?}"),
    }
}

const KINDS: [RequestKind; 3] = [
    RequestKind::Read,
    RequestKind::KeyedCreate,
    RequestKind::UnkeyedCreate,
];

#[test]
fn success_is_done_and_refunds_the_budget() {
    let t0 = Instant::now();
    let mut budget = RetryBudget::default().with_capacity(10);
    assert!(budget.try_spend(5));
    let mut call = RetryState::new(&RetryPolicy::default(), RequestKind::Read, t0);
    let d = call.decide(status(200), t0, &mut budget, &mut rng());
    assert_eq!(d.verdict(), Verdict::Done);
    assert_eq!(d.attempt(), 1);
    assert_eq!(budget.available(), 6);
}

#[test]
fn client_errors_are_never_retried() {
    for kind in KINDS {
        for code in [400, 401, 403, 404, 409, 422, 501, 505] {
            let d = first(kind, status(code));
            assert_eq!(reason(&d), GiveUpReason::NotRetryable, "{code} {kind:?}");
            assert_eq!(d.hold_until(), None);
        }
    }
    // Even a 400 that (oddly) carries a Retry-After is final.
    let h = headers(&[("retry-after", "1")]);
    let d = first(
        RequestKind::Read,
        Outcome::response(StatusCode::BAD_REQUEST, None, &h, wall()),
    );
    assert_eq!(reason(&d), GiveUpReason::NotRetryable);
}

#[test]
fn rate_limit_with_body_only_waits_exactly_the_body_delay() {
    let t0 = Instant::now();
    let mut call = RetryState::new(&RetryPolicy::default(), RequestKind::Read, t0);
    let now = t0 + 3 * S;
    let d = call.decide(
        rate_limited(Some(42), None),
        now,
        &mut RetryBudget::default(),
        &mut rng(),
    );
    assert_eq!(
        d.verdict(),
        Verdict::Retry {
            at: now + 42 * S,
            wait: 42 * S,
            cause: WaitCause::ServerAsked(DelaySource::Body)
        }
    );
    assert_eq!(d.hold_until(), Some(now + 42 * S));
}

#[test]
fn rate_limit_with_header_only_waits_exactly_the_header_delay() {
    let d = first(RequestKind::Read, rate_limited(None, Some("17")));
    let Verdict::Retry { wait, cause, .. } = d.verdict() else {
        panic!("{d:?}")
    };
    assert_eq!(
        (wait, cause),
        (17 * S, WaitCause::ServerAsked(DelaySource::Header))
    );
}

#[test]
fn rate_limit_with_both_waits_for_the_later() {
    let d = first(RequestKind::Read, rate_limited(Some(42), Some("50")));
    let Verdict::Retry { wait, cause, .. } = d.verdict() else {
        panic!("{d:?}")
    };
    assert_eq!(
        (wait, cause),
        (50 * S, WaitCause::ServerAsked(DelaySource::Header))
    );

    let d = first(RequestKind::Read, rate_limited(Some(42), Some("5")));
    let Verdict::Retry { wait, cause, .. } = d.verdict() else {
        panic!("{d:?}")
    };
    assert_eq!(
        (wait, cause),
        (42 * S, WaitCause::ServerAsked(DelaySource::Body))
    );

    // An HTTP-date 30 s after the response's own Date header beats a body of 10 s.
    let h = headers(&[
        ("date", "Thu, 01 Jan 2026 12:00:00 GMT"),
        ("retry-after", "Thu, 01 Jan 2026 12:00:30 GMT"),
    ]);
    let outcome = Outcome::response(StatusCode::TOO_MANY_REQUESTS, Some(10 * S), &h, wall());
    let Verdict::Retry { wait, .. } = first(RequestKind::Read, outcome).verdict() else {
        panic!()
    };
    assert_eq!(wait, 30 * S);
}

#[test]
fn rate_limit_with_an_http_date_in_the_past_retries_now() {
    let t0 = Instant::now();
    let mut call = RetryState::new(&RetryPolicy::default(), RequestKind::Read, t0);
    let d = call.decide(
        rate_limited(None, Some("Wed, 31 Dec 2025 23:59:00 GMT")),
        t0,
        &mut RetryBudget::default(),
        &mut rng(),
    );
    assert_eq!(d.retry_at(), Some(t0));
    // ... but a body delay still holds, since it is later.
    let d = first(
        RequestKind::Read,
        rate_limited(Some(8), Some("Wed, 31 Dec 2025 23:59:00 GMT")),
    );
    let Verdict::Retry { wait, .. } = d.verdict() else {
        panic!()
    };
    assert_eq!(wait, 8 * S);
}

#[test]
fn rate_limit_with_a_malformed_header_uses_the_body_or_backs_off() {
    let outcome = rate_limited(Some(9), Some("in a minute"));
    let Outcome::Response { asked, .. } = outcome else {
        panic!()
    };
    assert!(asked.header_malformed());
    let Verdict::Retry { wait, .. } = first(RequestKind::Read, outcome).verdict() else {
        panic!()
    };
    assert_eq!(wait, 9 * S);

    // Nothing usable at all: the backoff schedule, never a negative or unbounded wait.
    let d = first(RequestKind::Read, rate_limited(None, Some("in a minute")));
    let Verdict::Retry { wait, cause, .. } = d.verdict() else {
        panic!()
    };
    assert_eq!(cause, WaitCause::Backoff);
    assert!(wait <= Backoff::DEFAULT_BASE);
    assert_eq!(d.hold_until(), None);
}

#[test]
fn rate_limit_beyond_the_deadline_gives_up_at_once_and_says_why() {
    let t0 = Instant::now();
    let policy = RetryPolicy::default().with_deadline(60 * S);
    let mut call = RetryState::new(&policy, RequestKind::Read, t0);
    let now = t0 + 20 * S;
    let mut budget = RetryBudget::default();
    let d = call.decide(rate_limited(Some(42), None), now, &mut budget, &mut rng());
    assert_eq!(
        reason(&d),
        GiveUpReason::DeadlineWouldPass {
            asked: 42 * S,
            remaining: 40 * S,
            cause: WaitCause::ServerAsked(DelaySource::Body)
        }
    );
    // The whole client still waits: other calls must not send before the server accepts.
    assert_eq!(d.hold_until(), Some(now + 42 * S));
    assert_eq!(
        budget.available(),
        RetryBudget::DEFAULT_CAPACITY,
        "no token for a retry not made"
    );
    let message = d.give_up().unwrap().to_string();
    assert!(message.contains("HTTP 429"), "{message}");
    assert!(message.contains("42.000 s"), "{message}");
    assert!(message.contains("40.000 s"), "{message}");
}

/// A 429 beyond the cap ends the call and still holds the whole client for what the server
/// asked (issue 19, item 5: it used to set no hold, so other calls went out early), at most
/// `MAX_HOLD` for an absurd number.
#[test]
fn rate_limit_beyond_the_cap_gives_up_and_still_holds_the_client() {
    let t0 = Instant::now();
    let decide = |outcome| {
        let mut call = RetryState::new(&RetryPolicy::default(), RequestKind::Read, t0);
        call.decide(outcome, t0, &mut RetryBudget::default(), &mut rng())
    };
    let d = decide(rate_limited(Some(3600), None));
    assert_eq!(
        reason(&d),
        GiveUpReason::ServerDelayBeyondCap {
            asked: 3600 * S,
            cap: RetryPolicy::DEFAULT_SERVER_WAIT_CAP
        }
    );
    assert_eq!(d.hold_until(), Some(t0 + 3600 * S));
    // Absurd numbers (the error model maps them to Duration::MAX) read well, and hold a day.
    let d = decide(rate_limited(None, Some("184467440737095516150")));
    assert!(
        d.give_up()
            .unwrap()
            .to_string()
            .contains("an unbounded time")
    );
    assert_eq!(d.hold_until(), Some(t0 + pipevideo_core::retry::MAX_HOLD));

    // A call that would start inside that hold fails at once, with the time left.
    let call = RetryState::new(&RetryPolicy::default(), RequestKind::Read, t0);
    let give_up = call
        .check_hold(Some(t0 + 3600 * S), t0 + 600 * S)
        .unwrap_err();
    assert_eq!(
        give_up.reason(),
        GiveUpReason::HeldBeyondCap {
            left: 3000 * S,
            cap: RetryPolicy::DEFAULT_SERVER_WAIT_CAP
        }
    );
    assert_eq!(call.check_hold(Some(t0 + 3600 * S), t0 + 3590 * S), Ok(()));
    assert_eq!(call.check_hold(None, t0), Ok(()));
}

#[test]
fn rate_limit_retries_even_a_create_without_key() {
    let d = first(RequestKind::UnkeyedCreate, rate_limited(Some(1), None));
    assert!(d.retry_at().is_some(), "{d:?}");
}

#[test]
fn server_errors_back_off_with_jitter_below_the_ceiling() {
    for code in [500, 502, 503, 504] {
        for kind in [RequestKind::Read, RequestKind::KeyedCreate] {
            let d = first(kind, status(code));
            let Verdict::Retry { wait, cause, .. } = d.verdict() else {
                panic!("{code}: {d:?}")
            };
            assert_eq!(cause, WaitCause::Backoff);
            assert!(wait <= Backoff::DEFAULT_BASE);
            assert_eq!(d.hold_until(), None, "only a 429 holds the client");
        }
    }
}

#[test]
fn the_backoff_ceiling_doubles_per_retry() {
    let t0 = Instant::now();
    let policy = RetryPolicy::default()
        .with_attempt_limit(10)
        .with_deadline(Duration::MAX)
        .with_backoff(Backoff::default().with_jitter(Jitter::None));
    let mut call = RetryState::new(&policy, RequestKind::Read, t0);
    let mut budget = RetryBudget::default();
    let mut now = t0;
    let mut waits = Vec::new();
    for _ in 0..7 {
        let d = call.decide(status(503), now, &mut budget, &mut rng());
        let Verdict::Retry { at, wait, .. } = d.verdict() else {
            panic!()
        };
        waits.push(wait.as_secs_f64());
        now = at;
    }
    assert_eq!(waits, [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 20.0]);
}

#[test]
fn a_retry_after_on_a_5xx_is_honoured_when_longer_than_the_backoff() {
    let h = headers(&[("retry-after", "10")]);
    let outcome = Outcome::response(StatusCode::SERVICE_UNAVAILABLE, None, &h, wall());
    let Verdict::Retry { wait, cause, .. } = first(RequestKind::Read, outcome).verdict() else {
        panic!()
    };
    assert_eq!(
        (wait, cause),
        (10 * S, WaitCause::ServerAsked(DelaySource::Header))
    );
}

#[test]
fn a_create_is_replayed_only_with_an_idempotency_key() {
    let maybe = Outcome::failed(FailureKind::MaybeSent);
    let not_sent = Outcome::failed(FailureKind::NotSent);
    for outcome in [status(500), status(502), status(503), status(504), maybe] {
        assert_eq!(
            reason(&first(RequestKind::UnkeyedCreate, outcome)),
            GiveUpReason::NotIdempotent
        );
        assert!(
            first(RequestKind::KeyedCreate, outcome)
                .retry_at()
                .is_some()
        );
        assert!(first(RequestKind::Read, outcome).retry_at().is_some());
    }
    for kind in KINDS {
        assert!(
            first(kind, not_sent).retry_at().is_some(),
            "not sent is always safe: {kind:?}"
        );
    }
    let message = first(RequestKind::UnkeyedCreate, maybe)
        .give_up()
        .unwrap()
        .to_string();
    assert!(message.contains("idempotency key"), "{message}");
}

/// Issue 19, item 9: the create replay policy bounds the replays of a keyed create (after
/// outcomes that may have created something); a 429 or a request that never left is not a
/// replay, and reads are never limited.
#[test]
fn the_create_replay_policy_bounds_replays_not_safe_retries() {
    use pipevideo_core::policy::CreateReplay;
    let t0 = Instant::now();
    let replays_made = |replay: CreateReplay, kind: RequestKind, outcomes: &[Outcome]| {
        let policy = RetryPolicy::default()
            .with_attempt_limit(10)
            .with_deadline(Duration::from_secs(3600))
            .with_create_replay(replay);
        let mut state = RetryState::new(&policy, kind, t0);
        let (mut budget, mut rng, mut now) = (RetryBudget::default(), rng(), t0);
        let mut sent = 1;
        for outcome in outcomes {
            let d = state.decide(*outcome, now, &mut budget, &mut rng);
            match d.retry_at() {
                Some(at) => {
                    now = at;
                    sent += 1;
                }
                None => return (sent, Some(reason(&d))),
            }
        }
        (sent, None)
    };
    let five_hundreds = [
        status(500),
        Outcome::failed(FailureKind::MaybeSent),
        status(503),
    ];
    assert_eq!(
        replays_made(
            CreateReplay::WithKey,
            RequestKind::KeyedCreate,
            &five_hundreds
        ),
        (4, None)
    );
    assert_eq!(
        replays_made(
            CreateReplay::AtMostOnce,
            RequestKind::KeyedCreate,
            &five_hundreds
        ),
        (2, Some(GiveUpReason::ReplayLimit { replays: 1 }))
    );
    assert_eq!(
        replays_made(
            CreateReplay::Never,
            RequestKind::KeyedCreate,
            &five_hundreds
        ),
        (1, Some(GiveUpReason::ReplayLimit { replays: 0 }))
    );
    // Never replay still retries what certainly created nothing.
    let safe = [
        rate_limited(Some(1), None),
        Outcome::failed(FailureKind::NotSent),
        status(500),
    ];
    assert_eq!(
        replays_made(CreateReplay::Never, RequestKind::KeyedCreate, &safe),
        (3, Some(GiveUpReason::ReplayLimit { replays: 0 }))
    );
    // Reads are not creates.
    assert_eq!(
        replays_made(CreateReplay::Never, RequestKind::Read, &five_hundreds),
        (4, None)
    );
    let message = GiveUpReason::ReplayLimit { replays: 1 }.to_string();
    assert!(message.contains("replay policy"), "{message}");
}

#[test]
fn a_timeout_costs_more_budget_than_a_refused_connection() {
    let t0 = Instant::now();
    let mut budget = RetryBudget::default();
    let mut call = RetryState::new(&RetryPolicy::default(), RequestKind::Read, t0);
    let _ = call.decide(
        Outcome::failed(FailureKind::MaybeSent),
        t0,
        &mut budget,
        &mut rng(),
    );
    assert_eq!(budget.available(), 490);
    let _ = call.decide(
        Outcome::failed(FailureKind::NotSent),
        t0,
        &mut budget,
        &mut rng(),
    );
    assert_eq!(budget.available(), 485);
    // Success after a retry returns what the last retry took.
    let d = call.decide(status(200), t0, &mut budget, &mut rng());
    assert_eq!((d.verdict(), budget.available()), (Verdict::Done, 490));
}

#[test]
fn attempts_are_limited() {
    let t0 = Instant::now();
    let policy = RetryPolicy::default().with_deadline(Duration::MAX);
    let mut call = RetryState::new(&policy, RequestKind::Read, t0);
    let mut budget = RetryBudget::default();
    let mut now = t0;
    for attempt in 1..=3 {
        let d = call.decide(status(500), now, &mut budget, &mut rng());
        assert_eq!(d.attempt(), attempt);
        now = d.retry_at().unwrap();
    }
    let d = call.decide(status(500), now, &mut budget, &mut rng());
    assert_eq!(reason(&d), GiveUpReason::AttemptsExhausted { limit: 4 });
    let give_up = d.give_up().unwrap();
    assert_eq!(give_up.attempts(), 4);
    assert_eq!(give_up.last(), Some(status(500)));
    assert!(
        give_up
            .to_string()
            .starts_with("gave up after 4 attempt(s), last HTTP 500: all 4")
    );
    assert_eq!(
        RetryState::new(&RetryPolicy::no_retries(), RequestKind::Read, t0)
            .policy()
            .attempt_limit(),
        1
    );
}

#[test]
fn one_deadline_covers_attempts_and_waits() {
    // Each attempt times out after its full 30 s: with a 90 s deadline there is no room for a
    // fourth attempt, whatever the backoff.
    let t0 = Instant::now();
    let mut call = RetryState::new(&RetryPolicy::default(), RequestKind::Read, t0);
    let mut budget = RetryBudget::default();
    let mut now = t0;
    let mut sends = 0;
    loop {
        assert!(call.check_send_at(now, now).is_ok());
        sends += 1;
        let timeout = call.attempt_timeout(now);
        assert!(
            now + timeout <= t0 + 90 * S,
            "an attempt never runs past the deadline"
        );
        now += timeout;
        let d = call.decide(
            Outcome::failed(FailureKind::MaybeSent),
            now,
            &mut budget,
            &mut rng(),
        );
        match d.verdict() {
            Verdict::Retry { at, .. } => now = at,
            Verdict::GiveUp(GiveUpReason::DeadlineWouldPass { remaining, .. }) => {
                assert!(remaining < S);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(sends, 3);
    assert!(now <= t0 + 90 * S);
}

#[test]
fn pacing_past_the_deadline_gives_up_before_sending() {
    let t0 = Instant::now();
    let policy = RetryPolicy::default().with_deadline(10 * S);
    let call = RetryState::new(&policy, RequestKind::Read, t0);
    let mut pacer = Pacer::new(PacingPolicy::default());
    pacer.hold_until(t0 + 42 * S); // another call's 429
    let err = call.check_send_at(pacer.next_send_at(t0), t0).unwrap_err();
    assert_eq!(err.attempts(), 0);
    assert_eq!(err.last(), None);
    assert_eq!(
        err.reason(),
        GiveUpReason::DeadlineWouldPass {
            asked: 42 * S,
            remaining: 10 * S,
            cause: WaitCause::ClientPacing
        }
    );
    assert!(
        err.to_string().starts_with("gave up before attempt 1: "),
        "{err}"
    );
}

#[test]
fn the_budget_runs_out_under_a_run_of_500s_and_refills_with_successes() {
    let t0 = Instant::now();
    let policy = RetryPolicy::default().with_deadline(Duration::MAX);
    let mut budget = RetryBudget::default();
    let mut rng = rng();
    let mut now = t0;
    let mut retries = 0;
    let mut exhausted = None;
    // Many calls in a row against a server that only answers 500: each retries 3 times and
    // runs out of attempts, until the shared budget runs out.
    for _ in 0..50 {
        let mut call = RetryState::new(&policy, RequestKind::Read, now);
        let give_up = loop {
            let d = call.decide(status(500), now, &mut budget, &mut rng);
            match d.verdict() {
                Verdict::Retry { at, .. } => {
                    retries += 1;
                    now = at;
                }
                Verdict::GiveUp(reason) => break (d, reason),
                other => panic!("a 500 is never done: {other:?}"),
            }
        };
        match give_up {
            (_, GiveUpReason::AttemptsExhausted { limit: 4 }) => {}
            (d, _) => {
                exhausted = Some(d);
                break;
            }
        }
    }
    // 500 tokens at 5 per retry: exactly 100 retries, then every call fails at once.
    assert_eq!(retries, 100);
    let d = exhausted.unwrap();
    assert_eq!(
        reason(&d),
        GiveUpReason::BudgetExhausted {
            available: 0,
            cost: 5
        }
    );
    assert!(
        d.give_up()
            .unwrap()
            .to_string()
            .contains("retry budget is exhausted")
    );
    let mut next = RetryState::new(&policy, RequestKind::Read, now);
    let d = next.decide(status(503), now, &mut budget, &mut rng);
    assert_eq!(d.attempt(), 1);
    assert!(matches!(reason(&d), GiveUpReason::BudgetExhausted { .. }));
    // Five first-attempt successes buy one retry again.
    for _ in 0..5 {
        let mut ok = RetryState::new(&policy, RequestKind::Read, now);
        assert_eq!(
            ok.decide(status(200), now, &mut budget, &mut rng).verdict(),
            Verdict::Done
        );
    }
    let mut after = RetryState::new(&policy, RequestKind::Read, now);
    assert!(
        after
            .decide(status(500), now, &mut budget, &mut rng)
            .retry_at()
            .is_some()
    );
}

#[test]
fn a_429_holds_every_call_of_the_client() {
    let t0 = Instant::now();
    let mut pacer = Pacer::new(PacingPolicy::default());
    let mut budget = RetryBudget::default();
    let mut rng = rng();
    let mut a = RetryState::new(&RetryPolicy::default(), RequestKind::Read, t0);
    let b = RetryState::new(&RetryPolicy::default(), RequestKind::Read, t0);
    pacer.record_send(t0);
    let d = a.decide(rate_limited(Some(30), None), t0 + S, &mut budget, &mut rng);
    if let Some(until) = d.hold_until() {
        pacer.hold_until(until);
    }
    // Call b, which never saw the 429, may not send before the server accepts again.
    let b_at = pacer.next_send_at(t0 + 2 * S);
    assert_eq!(b_at, t0 + 31 * S);
    assert!(b.check_send_at(b_at, t0 + 2 * S).is_ok());
}

#[test]
fn decisions_print_for_logs() {
    let d = first(RequestKind::Read, rate_limited(Some(2), None));
    assert_eq!(
        d.to_string(),
        "attempt 1: HTTP 429 -> retry in 2.000 s (the server asked (data.retry_after))"
    );
    let d = first(RequestKind::Read, status(404));
    assert_eq!(
        d.to_string(),
        "attempt 1: HTTP 404 -> give up: the response is final and is not retried"
    );
    let d = first(RequestKind::Read, Outcome::failed(FailureKind::NotSent));
    assert!(
        d.to_string()
            .starts_with("attempt 1: request not sent -> retry in ")
    );
    assert_eq!(ServerDelay::NONE.delay(), None);
}
