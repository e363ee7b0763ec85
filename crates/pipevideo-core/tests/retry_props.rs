//! Property tests of the retry engine: whatever the policy, the outcomes and the timing, waits
//! are never negative nor beyond their cap or the deadline, attempts never exceed the limit,
//! 400/401/404 are never retried, and the whole sequence of sends a driver makes (retries
//! included) never puts more than the limit in any sliding window.

use std::time::{Duration, Instant};

use http::StatusCode;
use pipevideo_core::policy::Backoff;
use pipevideo_core::policy::Jitter;
use pipevideo_core::policy::RetryPolicy;
use pipevideo_core::retry::{
    GiveUpReason, Outcome, RequestKind, RetryBudget, RetryState, ServerDelay, Verdict, WaitCause,
};
use pipevideo_core::transport::FailureKind;
use pipevideo_core::{pacing::Pacer, policy::PacingPolicy};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;

fn kind() -> impl Strategy<Value = RequestKind> {
    prop_oneof![
        Just(RequestKind::Read),
        Just(RequestKind::KeyedCreate),
        Just(RequestKind::UnkeyedCreate)
    ]
}

fn delay() -> impl Strategy<Value = Option<Duration>> {
    prop_oneof![
        Just(None),
        (0u64..200_000).prop_map(|ms| Some(Duration::from_millis(ms))),
        Just(Some(Duration::MAX)),
    ]
}

/// An attempt's outcome: a status (with body and header delays) or a transport failure, and how
/// long the attempt took.
fn outcome() -> impl Strategy<Value = (Outcome, Duration)> {
    let status = prop_oneof![
        Just(200u16),
        Just(201),
        Just(400),
        Just(401),
        Just(404),
        Just(409),
        Just(429),
        Just(429),
        Just(500),
        Just(502),
        Just(503),
        Just(504),
    ];
    let response = (status, delay(), delay()).prop_map(|(code, body, header)| {
        let mut headers = http::HeaderMap::new();
        if let Some(h) = header {
            let secs = if h == Duration::MAX {
                u64::MAX
            } else {
                h.as_secs()
            };
            headers.insert("retry-after", secs.into());
        }
        let status = StatusCode::from_u16(code).unwrap();
        Outcome::response(status, body, &headers, std::time::SystemTime::UNIX_EPOCH)
    });
    let failure = prop_oneof![Just(FailureKind::NotSent), Just(FailureKind::MaybeSent)]
        .prop_map(Outcome::failed);
    let took = (0u64..40_000).prop_map(Duration::from_millis);
    (prop_oneof![3 => response, 1 => failure], took)
}

fn policy() -> impl Strategy<Value = RetryPolicy> {
    (
        1u32..8,
        0u64..400_000,
        0u64..150_000,
        1u64..5_000,
        1u32..4,
        0u64..60_000,
        any::<bool>(),
    )
        .prop_map(
            |(attempts, deadline, cap, base, factor, backoff_cap, jitter)| {
                RetryPolicy::default()
                    .with_attempt_limit(attempts)
                    .with_deadline(Duration::from_millis(deadline))
                    .with_server_wait_cap(Duration::from_millis(cap))
                    .with_backoff(
                        Backoff::default()
                            .with_base(Duration::from_millis(base))
                            .with_factor(factor)
                            .with_cap(Duration::from_millis(backoff_cap))
                            .with_jitter(if jitter { Jitter::Full } else { Jitter::None }),
                    )
            },
        )
}

fn is_final_client_error(o: &Outcome) -> bool {
    matches!(o, Outcome::Response { status, .. } if [400, 401, 404].contains(&status.as_u16()))
}

/// The most sends in any half-open window `[t, t + window)` of sorted instants.
fn max_in_any_window(sends: &[Instant], window: Duration) -> usize {
    let mut worst = 0;
    let mut end = 0;
    for (start, &s) in sends.iter().enumerate() {
        while end < sends.len() && sends[end] < s + window {
            end += 1;
        }
        worst = worst.max(end - start);
    }
    worst
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_decision_respects_its_limits(
        policy in policy(),
        kind in kind(),
        script in prop::collection::vec(outcome(), 1..12),
        budget_tokens in 0u32..60,
        seed in any::<u64>(),
    ) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut budget = RetryBudget::default().with_capacity(budget_tokens);
        let t0 = Instant::now();
        let mut call = RetryState::new(&policy, kind, t0);
        let deadline = t0 + policy.deadline();
        let mut now = t0;
        for (i, (outcome, took)) in script.iter().enumerate() {
            now += *took;
            let d = call.decide(*outcome, now, &mut budget, &mut rng);
            prop_assert_eq!(d.attempt() as usize, i + 1);
            prop_assert!(d.attempt() <= policy.attempt_limit());
            if let Some(hold) = d.hold_until() {
                prop_assert!(hold >= now);
                // Every 429 with a delay holds the client (beyond the cap too: issue 19,
                // item 5), never longer than MAX_HOLD.
                prop_assert!(hold - now <= pipevideo_core::retry::MAX_HOLD);
                let Outcome::Response { status, .. } = outcome else { panic!("hold on a failure") };
                prop_assert_eq!(status.as_u16(), 429);
            }
            match d.verdict() {
                Verdict::Done => {
                    let Outcome::Response { status, .. } = outcome else { panic!("done on a failure") };
                    prop_assert!(status.as_u16() < 400);
                    break;
                }
                Verdict::Retry { at, wait, cause } => {
                    prop_assert!(!is_final_client_error(outcome), "retried {:?}", outcome);
                    prop_assert!(d.attempt() < policy.attempt_limit());
                    prop_assert_eq!(at, now + wait); // never negative: at >= now
                    prop_assert!(at < deadline, "the retry would start after the deadline");
                    match cause {
                        WaitCause::Backoff => prop_assert!(wait <= policy.backoff().cap()),
                        WaitCause::ServerAsked(_) => prop_assert!(wait <= policy.server_wait_cap()),
                        WaitCause::ClientPacing => prop_assert!(false, "pacing is not decided here"),
                        _ => prop_assert!(false, "unknown cause"),
                    }
                    if let Outcome::Response { status, asked } = outcome {
                        if status.as_u16() == 429 {
                            // Exactly the server's delay when it gave one: never earlier.
                            if let Some(asked) = asked.delay() {
                                prop_assert_eq!(wait, asked);
                            }
                        } else if let Some(asked) = asked.delay() {
                            prop_assert!(wait >= asked, "a 5xx retried before its Retry-After");
                        }
                    }
                    if kind == RequestKind::UnkeyedCreate {
                        let safe = matches!(outcome, Outcome::Failed(FailureKind::NotSent))
                            || matches!(outcome, Outcome::Response { status, .. } if status.as_u16() == 429);
                        prop_assert!(safe, "an unkeyed create was replayed after {:?}", outcome);
                    }
                    now = at;
                }
                Verdict::GiveUp(reason) => {
                    if is_final_client_error(outcome) {
                        prop_assert_eq!(reason, GiveUpReason::NotRetryable);
                    }
                    if let GiveUpReason::DeadlineWouldPass { asked, remaining, .. } = reason {
                        prop_assert!(now + asked >= deadline);
                        prop_assert_eq!(remaining, deadline.saturating_duration_since(now));
                    }
                    if let GiveUpReason::ServerDelayBeyondCap { asked, cap } = reason {
                        prop_assert!(asked > cap);
                    }
                    let give_up = d.give_up().unwrap();
                    prop_assert_eq!(give_up.reason(), reason);
                    prop_assert!(!give_up.to_string().is_empty());
                    break;
                }
            }
        }
    }

    #[test]
    fn bad_requests_unauthorized_and_not_found_are_never_retried(
        code in prop::sample::select(vec![400u16, 401, 404]),
        kind in kind(),
        body in delay(),
        prior_retries in 0u32..5,
        seed in any::<u64>(),
    ) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut budget = RetryBudget::default();
        let t0 = Instant::now();
        let policy = RetryPolicy::default().with_attempt_limit(10).with_deadline(Duration::MAX);
        let mut call = RetryState::new(&policy, kind, t0);
        let mut now = t0;
        for _ in 0..prior_retries {
            let d = call.decide(Outcome::failed(FailureKind::NotSent), now, &mut budget, &mut rng);
            now = d.retry_at().unwrap();
        }
        let asked = body.map_or(ServerDelay::NONE, ServerDelay::from_body);
        let outcome = Outcome::Response { status: StatusCode::from_u16(code).unwrap(), asked };
        let d = call.decide(outcome, now, &mut budget, &mut rng);
        prop_assert_eq!(d.verdict(), Verdict::GiveUp(GiveUpReason::NotRetryable));
        prop_assert_eq!(d.hold_until(), None);
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// A driver that follows the engine and the pacer, with many calls in flight at once on one
    /// client (each retrying on 429s, 5xx and failures), never sends more than the limit in any
    /// sliding 60 s window. A small event simulation in virtual time.
    #[test]
    fn concurrent_calls_following_pacing_and_retries_stay_under_the_limit(
        script in prop::collection::vec(outcome(), 1..300),
        call_gaps_ms in prop::collection::vec(prop_oneof![3 => Just(0u64), 1 => 0u64..3_000], 1..150),
        seed in any::<u64>(),
    ) {
        enum State { Waiting(Instant), InFlight(Instant, Outcome), Finished }
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut budget = RetryBudget::default();
        let mut pacer = Pacer::new(PacingPolicy::default());
        let policy = RetryPolicy::default();
        let t0 = Instant::now();
        let mut start = t0;
        let mut calls: Vec<(RetryState, State)> = call_gaps_ms
            .iter()
            .map(|gap| {
                start += Duration::from_millis(*gap);
                (RetryState::new(&policy, RequestKind::Read, start), State::Waiting(start))
            })
            .collect();
        let mut outcomes = script.iter().cycle();
        let mut now = t0;
        let mut sends = Vec::new();
        loop {
            // The next event: the earliest response, or the earliest send the pacer allows.
            // The pacer's limits do not depend on the instant asked about, so one look serves
            // every waiting call: `next_send_at(max(ready, now)) == max(ready, next_send_at(now))`.
            let slot = pacer.next_send_at(now);
            let mut next: Option<(Instant, usize)> = None;
            for (i, (_, state)) in calls.iter().enumerate() {
                let at = match state {
                    State::Waiting(ready) => (*ready).max(slot),
                    State::InFlight(done, _) => *done,
                    State::Finished => continue,
                };
                if next.is_none_or(|(best, _)| at < best) {
                    next = Some((at, i));
                }
            }
            let Some((at, i)) = next else { break };
            prop_assert!(at >= now);
            now = at;
            let (call, state) = &mut calls[i];
            match *state {
                State::Waiting(_) => {
                    if call.check_send_at(now, now).is_err() {
                        *state = State::Finished;
                        continue;
                    }
                    pacer.record_send(now);
                    sends.push(now);
                    let (outcome, took) = outcomes.next().unwrap();
                    *state = State::InFlight(now + (*took).min(call.attempt_timeout(now)), *outcome);
                }
                State::InFlight(_, outcome) => {
                    let d = call.decide(outcome, now, &mut budget, &mut rng);
                    if let Some(hold) = d.hold_until() {
                        pacer.hold_until(hold);
                    }
                    *state = match d.verdict() {
                        Verdict::Retry { at, .. } => State::Waiting(at),
                        _ => State::Finished,
                    };
                }
                State::Finished => unreachable!("finished calls are skipped"),
            }
        }
        prop_assert!(max_in_any_window(&sends, Duration::from_secs(60)) <= 90);
        prop_assert!(max_in_any_window(&sends, Duration::from_secs(60)) <= PacingPolicy::DOCUMENTED_LIMIT as usize);
    }
}
