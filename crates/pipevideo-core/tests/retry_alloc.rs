//! The decision path allocates nothing: counted per thread (tests run in parallel) by the
//! `allocation-counter` dev-dependency, whose global allocator counts each thread's allocations.

use std::time::{Duration, Instant, SystemTime};

use http::{HeaderMap, HeaderValue, StatusCode};
use pipevideo_core::policy::RetryPolicy;
use pipevideo_core::retry::{Outcome, RequestKind, RetryBudget, RetryState, ServerDelay, Verdict};
use pipevideo_core::transport::FailureKind;
use pipevideo_core::{pacing::Pacer, policy::PacingPolicy};
use rand::SeedableRng;
use rand::rngs::SmallRng;

#[test]
fn the_counter_sees_allocations_on_this_thread() {
    // Guards against a counter that silently counts nothing.
    let info = allocation_counter::measure(|| {
        std::hint::black_box(vec![0u8; 16]);
    });
    assert_eq!(info.count_total, 1);
}

#[test]
fn deciding_pacing_and_reading_delays_allocate_nothing() {
    let t0 = Instant::now();
    let mut headers = HeaderMap::new();
    headers.insert(
        "date",
        HeaderValue::from_static("Thu, 01 Jan 2026 12:00:00 GMT"),
    );
    headers.append(
        "retry-after",
        HeaderValue::from_static("Thu, 01 Jan 2026 12:00:30 GMT"),
    );
    headers.append("retry-after", HeaderValue::from_static("not a delay"));
    let mut rng = SmallRng::seed_from_u64(3);
    let mut budget = RetryBudget::default();
    let mut pacer = Pacer::new(PacingPolicy::default());
    let policy = RetryPolicy::default()
        .with_attempt_limit(1000)
        .with_deadline(Duration::MAX);
    let mut decisions = 0u32;
    let info = allocation_counter::measure(|| {
        let mut now = t0;
        let mut call = RetryState::new(&policy, RequestKind::KeyedCreate, now);
        for i in 0..300u32 {
            now = pacer.next_send_at(now);
            pacer.record_send(now);
            let outcome = match i % 6 {
                0 => Outcome::response(
                    StatusCode::TOO_MANY_REQUESTS,
                    Some(Duration::from_secs(1)),
                    &headers,
                    SystemTime::UNIX_EPOCH,
                ),
                1 => Outcome::status(StatusCode::SERVICE_UNAVAILABLE),
                2 => Outcome::failed(FailureKind::MaybeSent),
                3 => Outcome::failed(FailureKind::NotSent),
                4 => Outcome::Response {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    asked: ServerDelay::read(None, &headers, SystemTime::UNIX_EPOCH),
                },
                _ => Outcome::status(StatusCode::NOT_FOUND),
            };
            let d = call.decide(outcome, now, &mut budget, &mut rng);
            if let Some(hold) = d.hold_until() {
                pacer.hold_until(hold);
            }
            if let Some(give_up) = d.give_up() {
                std::hint::black_box(give_up);
                call = RetryState::new(&policy, RequestKind::KeyedCreate, now);
            }
            if let Verdict::Retry { at, .. } = d.verdict() {
                now = at;
            }
            decisions += 1;
        }
    });
    assert_eq!(decisions, 300);
    assert_eq!(info.count_total, 0, "the decision path allocated: {info:?}");
}
