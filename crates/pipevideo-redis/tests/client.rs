//! The whole client with a Redis store, against the emulator on loopback: skewed local clocks,
//! a 429's hold across clients, and Redis down (fail-open recovers, fail-closed errors clearly).

mod common;

use std::time::{Duration, Instant, SystemTime};

use common::RedisServer;
use pipevideo_core::client::Client;
use pipevideo_core::pacing::shared::{OnStoreDown, SharedPacingOptions};
use pipevideo_core::policy::{PacingPolicy, TimeScale};
use pipevideo_core::transport::{Clock, Stack, Transport};
use pipevideo_core::{ApiKey, BaseUrl, ErrorKind};
use pipevideo_emulator::{Emulator, Fault, FaultRule, RateLimit};
use pipevideo_redis::RedisStore;
use pipevideo_reqwest::ReqwestTransport;

const SCALE: f64 = 0.01;

/// A clock running `ahead` of the machine's monotonic clock and `wall_behind` behind its wall
/// clock: another machine's clock, as far as this client can tell.
#[derive(Debug, Clone, Copy)]
struct SkewedClock {
    ahead: Duration,
    wall_behind: Duration,
}

#[async_trait::async_trait]
impl Clock for SkewedClock {
    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
    fn now(&self) -> Instant {
        Instant::now() + self.ahead
    }
    fn wall_now(&self) -> SystemTime {
        SystemTime::now() - self.wall_behind
    }
}

async fn emulator(limit: RateLimit) -> Emulator {
    Emulator::builder()
        .time_scale(SCALE)
        .failure_rate(0.0)
        .rate_limit(limit)
        .start()
        .await
        .expect("the emulator starts")
}

fn client<T: Transport + 'static>(
    transport: T,
    emulator: &Emulator,
    store: Option<RedisStore>,
    policy: PacingPolicy,
    options: SharedPacingOptions,
) -> Client<T> {
    let scale = TimeScale::new(SCALE).unwrap();
    let mut builder = Client::builder(transport)
        .api_key(ApiKey::new(emulator.demo_key()).unwrap())
        .base_url(BaseUrl::parse(&emulator.base_url()).unwrap())
        .time_scale(scale)
        .pacing(policy)
        .shared_pacing_options(options);
    if let Some(store) = store {
        builder = builder.shared_pacing(store);
    }
    builder.build().unwrap()
}

/// The most log entries that arrived in any sliding `window`.
fn busiest(emulator: &Emulator, window: Duration) -> usize {
    let arrivals: Vec<u64> = emulator.requests().iter().map(|e| e.elapsed_ms).collect();
    let window = window.as_millis() as u64;
    let (mut most, mut lo) = (0, 0);
    for hi in 0..arrivals.len() {
        while arrivals[hi] - arrivals[lo] >= window {
            lo += 1;
        }
        most = most.max(hi - lo + 1);
    }
    most
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_with_skewed_clocks_share_the_key_without_a_429() {
    let redis = RedisServer::start();
    // The server allows 10 per emulated minute (0.6 s here); the clients share 8.
    let emulator = emulator(RateLimit::per_minute(10)).await;
    let window = Duration::from_millis(600);
    let policy = PacingPolicy::new(8, window).with_burst(2);
    let clocks = [
        SkewedClock {
            ahead: Duration::ZERO,
            wall_behind: Duration::ZERO,
        },
        SkewedClock {
            ahead: Duration::from_secs(3600),
            wall_behind: Duration::from_secs(3 * 3600),
        },
        SkewedClock {
            ahead: Duration::from_secs(86_400),
            wall_behind: Duration::from_secs(17),
        },
    ];
    let clients: Vec<_> = clocks
        .iter()
        .map(|&clock| {
            client(
                Stack::new(ReqwestTransport::new().unwrap(), clock),
                &emulator,
                Some(RedisStore::open(&redis.url()).unwrap()),
                policy,
                SharedPacingOptions::default(),
            )
        })
        .collect();
    let mut tasks = Vec::new();
    for client in &clients {
        for _ in 0..6 {
            let client = client.clone();
            tasks.push(tokio::spawn(async move { client.usage().await }));
        }
    }
    for task in tasks {
        task.await.unwrap().expect("every call succeeds");
    }
    let report = emulator.rate_limits();
    assert_eq!(report.keys.len(), 1);
    assert_eq!(
        report.keys[0].status_429, 0,
        "clocks an hour and a day apart still share one schedule"
    );
    assert_eq!(report.keys[0].requests, 18);
    let most = busiest(&emulator, window);
    assert!(most <= 9, "{most} requests in one window");
    for client in &clients {
        let stats = client.shared_pacing_stats().unwrap();
        assert_eq!(stats.granted, 6, "{stats:?}");
    }
}

#[tokio::test]
async fn a_429_on_one_client_holds_the_other_until_it_expires() {
    let redis = RedisServer::start();
    let emulator = emulator(RateLimit::per_minute(100)).await;
    // The next usage request is refused with retry_after 40 emulated s: 0.4 s here.
    emulator.push_fault(
        FaultRule::new(Fault::rate_limited(40.0))
            .path("/v1/usage")
            .times(1),
    );
    let make = || {
        client(
            ReqwestTransport::new().unwrap(),
            &emulator,
            Some(RedisStore::open(&redis.url()).unwrap()),
            PacingPolicy::new(100, Duration::from_millis(600)),
            SharedPacingOptions::default(),
        )
    };
    let (a, b) = (make(), make());
    let a_call = tokio::spawn(async move { a.usage().await });
    // Wait for A's 429 to be logged, then let B send.
    let start = Instant::now();
    while emulator.requests().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    tokio::time::sleep(Duration::from_millis(20)).await; // A publishes its hold
    b.usage().await.expect("B succeeds after the hold");
    a_call.await.unwrap().expect("A succeeds after the hold");
    let log = emulator.requests();
    assert_eq!(log.len(), 3, "A's 429, then A and B once each");
    assert_eq!(log[0].status, 429);
    for later in &log[1..] {
        let after = later.elapsed_ms - log[0].elapsed_ms;
        assert!(
            after >= 390,
            "a request went {after} ms after the 429, inside its 400 ms hold"
        );
    }
}

#[tokio::test]
async fn redis_down_fail_open_keeps_sending_and_recovers() {
    let mut redis = RedisServer::start();
    let emulator = emulator(RateLimit::per_minute(100)).await;
    let client = client(
        ReqwestTransport::new().unwrap(),
        &emulator,
        Some(RedisStore::open(&redis.url()).unwrap()),
        PacingPolicy::new(100, Duration::from_millis(600)),
        SharedPacingOptions::default().retry_store_after(Duration::from_millis(100)),
    );
    client.usage().await.unwrap();
    redis.kill();
    client
        .usage()
        .await
        .expect("fail-open: sent on local pacing");
    client
        .usage()
        .await
        .expect("still local, without asking Redis");
    let stats = client.shared_pacing_stats().unwrap();
    assert_eq!(
        (stats.granted, stats.store_errors, stats.local_fallbacks),
        (1, 1, 2)
    );
    redis.restart();
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.usage().await.unwrap();
    let stats = client.shared_pacing_stats().unwrap();
    assert_eq!(stats.granted, 2, "back on the shared store: {stats:?}");
    assert_eq!(emulator.requests().len(), 4);
}

#[tokio::test]
async fn redis_down_fail_closed_sends_nothing_and_says_why() {
    let mut redis = RedisServer::start();
    let emulator = emulator(RateLimit::per_minute(100)).await;
    let client = client(
        ReqwestTransport::new().unwrap(),
        &emulator,
        Some(RedisStore::open(&redis.url()).unwrap()),
        PacingPolicy::new(100, Duration::from_millis(600)),
        SharedPacingOptions::default().on_down(OnStoreDown::FailClosed),
    );
    client.usage().await.unwrap();
    redis.kill();
    let error = client.usage().await.expect_err("fail-closed");
    assert_eq!(error.kind(), ErrorKind::Pacing);
    assert!(error.is_retryable());
    let message = error.to_string();
    assert!(
        message.contains("fail-closed") && message.contains("redis"),
        "{message}"
    );
    assert_eq!(emulator.requests().len(), 1, "nothing was sent");
}
