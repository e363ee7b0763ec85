//! Regression tests from fuzzing (`fuzz/`, see `fuzz/README.md`) and from the boundary probes
//! made alongside it: configuration and input values at the edges of their types (durations of
//! `Duration::MAX`, timestamps of `u64::MAX`, clocks at the epoch) that the fuzz targets keep
//! inside smaller ranges. Each test pins that the answer is typed and nothing panics.

use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, HeaderValue, StatusCode};
use pipevideo_core::policy::Backoff;
use pipevideo_core::policy::Jitter;
use pipevideo_core::policy::RetryPolicy;
use pipevideo_core::retry::{Outcome, RequestKind, RetryBudget, RetryState, ServerDelay, Verdict};
use pipevideo_core::transport::FailureKind;
use pipevideo_core::webhook::{Verifier, VerifyError, WebhookHeaders, WebhookSecret, sign};
use pipevideo_core::{ApiError, Flavor, codec};
use pipevideo_core::{pacing::Pacer, policy::PacingPolicy};
use rand::{SeedableRng, rngs::SmallRng};

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(*name, HeaderValue::from_str(value).unwrap());
    }
    map
}

/// Drives one retry state through many failures under a policy; returns the verdicts seen.
fn drive(policy: &RetryPolicy, outcome: Outcome) -> Vec<Verdict> {
    let t0 = Instant::now();
    let mut state = RetryState::new(policy, RequestKind::Read, t0);
    let mut budget = RetryBudget::default();
    let mut rng = SmallRng::seed_from_u64(9);
    let mut now = t0;
    let mut verdicts = Vec::new();
    for _ in 0..64 {
        let _ = state.attempt_timeout(now);
        let decision = state.decide(outcome, now, &mut budget, &mut rng);
        let _ = decision.to_string();
        verdicts.push(decision.verdict());
        match decision.verdict() {
            Verdict::Retry { at, .. } => {
                assert!(at >= now);
                now = at;
            }
            _ => break,
        }
    }
    verdicts
}

#[test]
fn retry_engine_with_extreme_policies_answers_and_never_panics() {
    let extreme = [
        RetryPolicy::default().with_deadline(Duration::MAX),
        RetryPolicy::default().with_attempt_timeout(Duration::MAX),
        RetryPolicy::default().with_server_wait_cap(Duration::MAX),
        RetryPolicy::default()
            .with_attempt_limit(u32::MAX)
            .with_backoff(
                Backoff::default()
                    .with_base(Duration::MAX)
                    .with_factor(u32::MAX)
                    .with_cap(Duration::MAX)
                    .with_jitter(Jitter::None),
            ),
        RetryPolicy::default()
            .with_deadline(Duration::ZERO)
            .with_attempt_timeout(Duration::ZERO),
    ];
    let asked_forever = Outcome::response(
        StatusCode::TOO_MANY_REQUESTS,
        Some(Duration::MAX),
        &headers(&[("retry-after", "99999999999999999999999")]),
        SystemTime::UNIX_EPOCH,
    );
    for policy in &extreme {
        for outcome in [
            Outcome::status(StatusCode::INTERNAL_SERVER_ERROR),
            Outcome::failed(FailureKind::MaybeSent),
            asked_forever,
        ] {
            let verdicts = drive(policy, outcome);
            assert!(!verdicts.is_empty());
        }
    }
}

#[test]
fn a_retry_after_beyond_any_deadline_gives_up_at_once() {
    let outcome = Outcome::response(
        StatusCode::TOO_MANY_REQUESTS,
        Some(Duration::MAX),
        &HeaderMap::new(),
        SystemTime::UNIX_EPOCH,
    );
    let verdicts = drive(
        &RetryPolicy::default().with_deadline(Duration::MAX),
        outcome,
    );
    assert_eq!(verdicts.len(), 1);
    assert!(matches!(verdicts[0], Verdict::GiveUp(_)), "{verdicts:?}");
}

#[test]
fn http_dates_at_the_ends_of_time_are_read() {
    // A date far in the past is "now"; the last representable HTTP-date from the epoch is a
    // long but finite wait; a `Date` header after the `Retry-After` date means "now".
    let far_past = headers(&[("retry-after", "Thu, 01 Jan 1970 00:00:00 GMT")]);
    let d = ServerDelay::read(
        None,
        &far_past,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 40),
    );
    assert_eq!(d.delay(), Some(Duration::ZERO));
    let far_future = headers(&[("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")]);
    let d = ServerDelay::read(None, &far_future, SystemTime::UNIX_EPOCH);
    assert_eq!(d.delay(), Some(Duration::from_secs(253_402_300_799)));
    let date_after = headers(&[
        ("retry-after", "Thu, 01 Jan 2026 00:00:00 GMT"),
        ("date", "Fri, 31 Dec 9999 23:59:59 GMT"),
    ]);
    let d = ServerDelay::read(
        Some(Duration::from_secs(2)),
        &date_after,
        SystemTime::UNIX_EPOCH,
    );
    assert_eq!(d.delay(), Some(Duration::from_secs(2)));
    assert!(!d.header_malformed());
}

#[test]
fn pacer_with_extreme_windows_and_holds_answers() {
    let t0 = Instant::now();
    for policy in [
        PacingPolicy::new(1, Duration::MAX),
        PacingPolicy::new(0, Duration::MAX).with_burst(0),
        PacingPolicy::new(u32::MAX, Duration::ZERO),
        PacingPolicy::unlimited(),
    ] {
        let mut pacer = Pacer::new(policy);
        let mut now = t0;
        for _ in 0..4 {
            let at = pacer.next_send_at(now);
            assert!(at >= now);
            pacer.record_send(at);
            now = at;
        }
        pacer.hold_until(t0 + Duration::from_secs(1 << 40));
        assert!(pacer.next_send_at(now) >= t0 + Duration::from_secs(1 << 40));
    }
}

#[test]
fn webhook_timestamps_and_tolerances_at_the_ends_of_time() {
    let secret = WebhookSecret::from_bytes(b"fuzz".to_vec()).unwrap();
    let body = br#"{"eventType":"video.generation.completed","generationId":"gen_1","status":"completed"}"#;
    // Signed at the epoch, received at the epoch with no tolerance: accepted.
    let signed = sign(&secret, "msg_1", SystemTime::UNIX_EPOCH, body);
    let v = Verifier::new(secret.clone()).with_tolerance(Duration::ZERO);
    assert!(
        v.verify_headers(signed.as_headers(), body, SystemTime::UNIX_EPOCH)
            .is_ok()
    );
    // A tolerance of Duration::MAX accepts any authentic timestamp, however far.
    let v = Verifier::new(secret.clone()).with_tolerance(Duration::MAX);
    let far = SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 40);
    assert!(v.verify_headers(signed.as_headers(), body, far).is_ok());
    // Signed before the epoch: `sign` writes 0, which verifies at the epoch.
    let before = SystemTime::UNIX_EPOCH - Duration::from_secs(10);
    let signed = sign(&secret, "msg_1", before, body);
    assert_eq!(signed.timestamp(), "0");
    // A timestamp of 20 digits (beyond u64) is a typed refusal, never a panic (the signature
    // is checked first; the unit tests of `verify` cover the authentic far-future case).
    let ts = "99999999999999999999";
    let err = Verifier::new(secret)
        .verify_headers(WebhookHeaders::new("msg_1", ts, "v1,AAAA"), body, far)
        .unwrap_err();
    assert_eq!(err, VerifyError::NoMatchingSignature);
}

#[test]
fn error_bodies_with_deep_nesting_are_typed() {
    // serde_json stops at 128 levels: a deeply nested body is "not a JSON error object".
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let e = ApiError::from_response(StatusCode::BAD_GATEWAY, &HeaderMap::new(), deep.as_bytes());
    assert_eq!(e.message(), "Bad Gateway (body is not a JSON error object)");
    let resp = http::Response::new(deep.into_bytes());
    let err = codec::decode_generation(Flavor::Responses, &resp).unwrap_err();
    assert!(matches!(err, pipevideo_core::Error::Decode(_)), "{err:?}");
}

/// Found by `fuzz/webhook_signed` (its harness wrongly expected a non-empty path): an
/// authentic body whose bad value sits under the JSON key `""` is a typed `Body` error whose
/// path is that empty key, not a panic.
#[test]
fn webhook_body_error_under_an_empty_key_is_typed() {
    let secret = WebhookSecret::from_bytes(vec![2; 24]).unwrap();
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_827_200);
    let body = b"{\"ee ventType\":\"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xffvi\xb6eo.generated\",\
\"\":\"pro\x01\x01vider timeout\":\"\xff\xff\xff\xff\xff\xff\xff\xffvi\xb6eo\"}";
    let signed = sign(&secret, "msg_1", at, body);
    let err = Verifier::new(secret)
        .verify_headers(signed.as_headers(), body, at)
        .unwrap_err();
    let VerifyError::Body { message, .. } = &err else {
        panic!("expected a body error, got {err:?}");
    };
    assert!(message.starts_with("control character"), "{message}");
    assert!(
        err.to_string()
            .starts_with("the webhook body is not the documented event JSON at `")
    );
}

// Found by probing the wait settings at their extremes and by the `poller`/`fleet` fuzz targets.

#[test]
fn absurd_wait_settings_are_refused_not_overflowed() {
    use pipevideo_core::policy::AdaptiveSchedule;
    use pipevideo_core::policy::PollSchedule;
    use pipevideo_core::policy::ScheduleError;
    use pipevideo_core::policy::WaitPolicy;
    use pipevideo_core::policy::WaitPolicyError;
    assert_eq!(
        WaitPolicy::default()
            .with_deadline(Duration::MAX)
            .unwrap_err(),
        WaitPolicyError::TooLong(Duration::MAX)
    );
    assert!(
        WaitPolicy::default()
            .with_deadline(WaitPolicy::MAX_DEADLINE)
            .is_ok()
    );
    assert!(matches!(
        PollSchedule::fixed(Duration::MAX),
        Err(ScheduleError::TooLong { .. })
    ));
    assert!(matches!(
        PollSchedule::exponential(Duration::MAX, 10.0, Duration::MAX),
        Err(ScheduleError::TooLong { .. })
    ));
    assert!(matches!(
        AdaptiveSchedule::default().with_first_poll(Duration::MAX),
        Err(ScheduleError::TooLong { .. })
    ));
    assert!(matches!(
        AdaptiveSchedule::default().with_peak_interval(Duration::MAX),
        Err(ScheduleError::TooLong { .. })
    ));
    // A resumed wait on a generation of absurd age starts and polls at once.
    let t0 = Instant::now();
    let mut p = pipevideo_core::poll::Poller::<pipevideo_core::Status>::resume(
        "gen_1".parse().unwrap(),
        WaitPolicy::default(),
        t0,
        Duration::MAX,
        &mut SmallRng::seed_from_u64(0),
    );
    assert!(p.poll_transmit(t0).is_some());
}

#[test]
fn a_poller_keeps_a_429_window_across_later_answers() {
    use pipevideo_core::Status;
    use pipevideo_core::policy::WaitPolicy;
    use pipevideo_core::poll::{PollFailure, Poller};
    let t0 = Instant::now();
    let mut p = Poller::<Status>::new(
        "gen_1".parse().unwrap(),
        WaitPolicy::default(),
        t0,
        &mut SmallRng::seed_from_u64(0),
    );
    let first = p.poll_timeout().unwrap();
    assert!(p.poll_transmit(first).is_some());
    let hold = first + Duration::from_secs(30);
    p.handle_response(
        first,
        Err(PollFailure::Transient {
            not_before: Some(hold),
            message: "429".into(),
        }),
    );
    // A late answer (say, of an abandoned poll) must not pull the next poll into the window.
    p.handle_response(first + Duration::from_secs(1), Ok(Status::Queued));
    let next = p.poll_timeout().unwrap();
    assert!(next >= hold, "next poll {:?} before the hold", next - first);
    assert!(p.poll_transmit(hold - Duration::from_millis(1)).is_none());
}

#[test]
fn a_late_429_still_holds_the_whole_fleet() {
    use pipevideo_core::Status;
    use pipevideo_core::policy::WaitPolicy;
    use pipevideo_core::poll::{Fleet, PollFailure};
    let t0 = Instant::now();
    let mut rng = SmallRng::seed_from_u64(0);
    let mut pacer = Pacer::new(PacingPolicy::unlimited());
    let mut fleet = Fleet::<Status>::new();
    let a: pipevideo_core::GenerationRef = "gen_a".parse().unwrap();
    let b: pipevideo_core::GenerationRef = "gen_b".parse().unwrap();
    fleet
        .insert_resumed(
            a.clone(),
            WaitPolicy::default(),
            t0,
            Duration::from_secs(50),
            &mut rng,
        )
        .unwrap();
    fleet
        .insert_resumed(
            b.clone(),
            WaitPolicy::default(),
            t0,
            Duration::from_secs(50),
            &mut rng,
        )
        .unwrap();
    let sent = fleet.poll_transmit(t0, &mut pacer).unwrap();
    assert!(fleet.cancel(&sent.reference));
    let hold = t0 + Duration::from_secs(30);
    let late = fleet.handle_response(
        t0,
        &mut pacer,
        &sent.reference,
        Err(PollFailure::Transient {
            not_before: Some(hold),
            message: "429".into(),
        }),
    );
    assert!(late.is_err(), "the generation had left the fleet");
    assert!(
        fleet.poll_transmit(t0, &mut pacer).is_none(),
        "inside the 429 window"
    );
    assert!(fleet.poll_transmit(hold, &mut pacer).is_some());
}
