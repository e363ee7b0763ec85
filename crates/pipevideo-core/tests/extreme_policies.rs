//! Extreme configuration values never panic (issue 19, item 12): a huge or tiny `LogNormal`
//! median, any probability, any elapsed time or age, extreme backoff and retry numbers. Every
//! duration computed from them saturates instead of overflowing.

use std::time::{Duration, Instant};

use futures_executor::block_on;
use pipevideo_core::client::{Client, WaitOptions};
use pipevideo_core::policy::{
    AdaptiveSchedule, Backoff, LogNormal, PollSchedule, RetryPolicy, WaitPolicy,
};
use pipevideo_core::retry::{Outcome, RequestKind, RetryBudget, RetryState};
use pipevideo_core::transport::FailureKind;
use pipevideo_core::transport::testing::{FnTransport, VirtualClock};
use pipevideo_core::{ApiKey, BaseUrl, GenerationRef};
use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::SmallRng;

/// Any duration, with the edges (zero, one nanosecond, `Duration::MAX`) often.
fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        Just(Duration::from_nanos(1)),
        Just(Duration::MAX),
        Just(Duration::from_secs(u64::MAX / 2)),
        (0..u64::MAX, 0..1_000_000_000u32).prop_map(|(s, n)| Duration::new(s, n)),
        (0..10_000_000u64).prop_map(Duration::from_millis),
    ]
}

fn any_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        Just(1.0),
        Just(-1.0),
        any::<f64>(),
        0.0..1.0f64,
    ]
}

fn any_prior() -> impl Strategy<Value = LogNormal> {
    (any_duration(), 0.01..=3.0f64).prop_filter_map("a zero median is refused", |(m, s)| {
        LogNormal::new(m, s).ok()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every accessor of any valid `LogNormal` returns a duration or a number, never a panic.
    #[test]
    fn lognormal_never_panics(prior in any_prior(), p in any_f64(), t in any_duration()) {
        let _ = prior.median();
        let _ = prior.mode();
        let _ = prior.quantile(p);
        let c = prior.cdf(t);
        prop_assert!(c.is_nan() || (0.0..=1.0).contains(&c), "{c}");
    }

    /// The adaptive schedule over any prior, at any elapsed time and poll count, answers a
    /// time after `elapsed` (or `Duration::MAX` when nothing later exists).
    #[test]
    fn schedules_never_panic(
        prior in any_prior(),
        elapsed in any_duration(),
        polls in any::<u32>(),
        seed in any::<u64>(),
        factor in 1.0..=10.0f64,
    ) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let adaptive = PollSchedule::from(AdaptiveSchedule::default().with_prior(prior));
        let fixed = PollSchedule::fixed(pipevideo_core::policy::MAX_INTERVAL).unwrap();
        let exponential = PollSchedule::exponential(
            Duration::from_millis(10),
            factor,
            pipevideo_core::policy::MAX_INTERVAL,
        )
        .unwrap();
        for schedule in [adaptive, fixed, exponential] {
            let next = schedule.next_poll(elapsed, polls, &mut rng);
            prop_assert!(next > elapsed || next == Duration::MAX, "{next:?} after {elapsed:?}");
        }
    }

    /// Extreme backoff and retry numbers: every decision is made without a panic.
    #[test]
    fn retry_decisions_never_panic(
        base in any_duration(),
        factor in any::<u32>(),
        cap in any_duration(),
        deadline in any_duration(),
        attempt_timeout in any_duration(),
        server_cap in any_duration(),
        retries in 1..40u32,
        seed in any::<u64>(),
    ) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let backoff = Backoff::default().with_base(base).with_factor(factor).with_cap(cap);
        for retry in 0..retries {
            let _ = backoff.ceiling(retry);
            let _ = backoff.wait(retry, &mut rng);
        }
        let policy = RetryPolicy::default()
            .with_backoff(backoff)
            .with_attempt_limit(retries)
            .with_deadline(deadline)
            .with_attempt_timeout(attempt_timeout)
            .with_server_wait_cap(server_cap);
        let t0 = Instant::now();
        let mut state = RetryState::new(&policy, RequestKind::Read, t0);
        let mut budget = RetryBudget::default();
        let mut now = t0;
        for _ in 0..retries {
            let _ = state.attempt_timeout(now);
            let d = state.decide(Outcome::failed(FailureKind::NotSent), now, &mut budget, &mut rng);
            match d.retry_at() {
                Some(at) => now = at,
                None => break,
            }
        }
    }

    /// Any accepted time scale (the tiniest positive factor up to `TimeScale::MAX`) gives
    /// policies and real durations without a panic.
    #[test]
    fn time_scales_never_panic(factor in any_f64(), server in any_duration()) {
        if let Ok(scale) = pipevideo_core::policy::TimeScale::new(factor) {
            let _ = scale.real(server);
            let _ = scale.pacing();
            let _ = scale.wait_policy();
            let _ = scale.retry_policy();
            let _ = scale.schedule();
        }
        for factor in [f64::MIN_POSITIVE, 1e-300, pipevideo_core::policy::TimeScale::MAX] {
            let scale = pipevideo_core::policy::TimeScale::new(factor).unwrap();
            let _ = (scale.real(server), scale.wait_policy(), scale.retry_policy());
        }
    }

    /// A whole wait in virtual time over any prior and any known age: it ends (here at its
    /// deadline, the server never finishing) without a panic.
    #[test]
    fn a_wait_over_any_prior_and_age_never_panics(
        prior in any_prior(),
        age in prop::option::of(any_duration()),
        deadline_secs in 1..600u64,
    ) {
        let clock = VirtualClock::new(Instant::now());
        let transport = FnTransport::new(clock.clone(), |_req| async {
            Ok(http::Response::builder()
                .status(200)
                .body(br#"{"id":"gen_1","object":"response","status":"in_progress"}"#.to_vec())
                .unwrap())
        });
        let policy = WaitPolicy::default()
            .with_schedule(AdaptiveSchedule::default().with_prior(prior).into());
        let client = Client::builder(transport)
            .api_key(ApiKey::new("pv_0123456789abcdef").unwrap())
            .base_url(BaseUrl::parse("http://127.0.0.1:3001/v1").unwrap())
            .wait_policy(policy)
            .seed(1)
            .build()
            .unwrap();
        let reference: GenerationRef = "responses:gen_1".parse().unwrap();
        let mut options = WaitOptions::new().with_deadline(Duration::from_secs(deadline_secs));
        if let Some(age) = age {
            options = options.with_age(age);
        }
        let err = block_on(client.wait_with(&reference, options)).unwrap_err();
        prop_assert_eq!(err.generation(), Some(&reference));
    }
}
