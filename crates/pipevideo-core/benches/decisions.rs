//! Benchmarks of the core's per-call decisions: a retry decision, reading a server's delay, and
//! the pacer's check and record, in ns/op.
//!
//! Run: `cargo bench -p pipevideo-core --bench decisions -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, StatusCode};
use pipevideo_core::policy::RetryPolicy;
use pipevideo_core::retry::{Outcome, RequestKind, RetryBudget, RetryState, ServerDelay};
use pipevideo_core::transport::FailureKind;
use pipevideo_core::{pacing::Pacer, policy::PacingPolicy};
use rand::SeedableRng;
use rand::rngs::SmallRng;

fn retry_decisions(c: &mut Criterion) {
    let t0 = Instant::now();
    let fresh = RetryState::new(&RetryPolicy::default(), RequestKind::KeyedCreate, t0);
    let budget = RetryBudget::default();
    let mut rng = SmallRng::seed_from_u64(1);
    let now = t0 + Duration::from_millis(250);

    let cases = [
        ("decide/200_done", Outcome::status(StatusCode::OK)),
        ("decide/404_final", Outcome::status(StatusCode::NOT_FOUND)),
        (
            "decide/429_retry_after",
            Outcome::Response {
                status: StatusCode::TOO_MANY_REQUESTS,
                asked: ServerDelay::from_body(Duration::from_secs(42)),
            },
        ),
        (
            "decide/503_backoff_jitter",
            Outcome::status(StatusCode::SERVICE_UNAVAILABLE),
        ),
        ("decide/maybe_sent", Outcome::failed(FailureKind::MaybeSent)),
    ];
    for (name, outcome) in cases {
        c.bench_function(name, |b| {
            b.iter(|| {
                let mut call = fresh;
                let mut budget = budget;
                black_box(call.decide(black_box(outcome), black_box(now), &mut budget, &mut rng))
            })
        });
    }

    let mut headers = HeaderMap::new();
    headers.insert(
        "date",
        HeaderValue::from_static("Thu, 01 Jan 2026 12:00:00 GMT"),
    );
    headers.insert(
        "retry-after",
        HeaderValue::from_static("Thu, 01 Jan 2026 12:00:30 GMT"),
    );
    c.bench_function("server_delay/read_http_date", |b| {
        b.iter(|| {
            ServerDelay::read(
                black_box(Some(Duration::from_secs(10))),
                black_box(&headers),
                SystemTime::UNIX_EPOCH,
            )
        })
    });
}

fn pacer(c: &mut Criterion) {
    let t0 = Instant::now();
    let mut pacer = Pacer::new(PacingPolicy::default());
    // A full log: 90 sends in the last minute.
    let mut now = t0;
    for _ in 0..200 {
        now = pacer.next_send_at(now);
        pacer.record_send(now);
    }
    c.bench_function("pacer/next_send_at", |b| {
        b.iter(|| pacer.next_send_at(black_box(now)))
    });
    c.bench_function("pacer/record_send", |b| {
        let mut p = pacer.clone();
        b.iter(|| p.record_send(black_box(now)))
    });
}

criterion_group!(benches, retry_decisions, pacer);
criterion_main!(benches);
