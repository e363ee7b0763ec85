//! The cost of shared pacing per send: the extra latency of the Redis round trip before each
//! request, against local pacing alone, measured in the same run.
//!
//! Two clients on one key send the same sequential `GET /v1/usage` to an emulator on loopback
//! (rate limit off): A paces locally (the default), B also asks a real `redis-server` on
//! loopback for each slot (one `EVALSHA` round trip). The pacing policy has room for every
//! request, so neither ever waits for a slot: this measures the round trip itself. The arms run
//! interleaved in batches (A, B, A, B, ...) so that drift of the machine hits both alike; the
//! result is the median batch time per request of each arm, their difference (the extra
//! latency per send) and their ratio.
//!
//! ```sh
//! cargo bench -p pipevideo-tests --bench shared_pacing
//! ```
//!
//! `SHARED_PACING_REQUESTS` (default 4000) sets the requests per arm. Needs `redis-server`
//! (Debian's package of that name).

use std::time::{Duration, Instant};

use pipevideo_core::client::Client;
use pipevideo_core::policy::PacingPolicy;
use pipevideo_core::{ApiKey, BaseUrl};
use pipevideo_emulator::Emulator;
use pipevideo_redis::RedisStore;
use pipevideo_reqwest::ReqwestTransport;
use pipevideo_tests::redis_server::RedisServer;

const BATCH: usize = 100;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn main() {
    let requests: usize = std::env::var("SHARED_PACING_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let redis = RedisServer::start();
    runtime.block_on(async {
        let emulator = Emulator::builder()
            .no_rate_limit()
            .failure_rate(0.0)
            .start()
            .await
            .expect("the emulator starts");
        // The real limit's log (100 entries: the script reads it whole on each send), over a
        // 1 ms window, so that no send ever waits for a slot, locally or in Redis: this
        // measures the round trip and the script, not a wait.
        let policy = PacingPolicy::new(100, Duration::from_millis(1)).with_burst(100);
        let build = |store: Option<RedisStore>| {
            let mut builder = Client::builder(ReqwestTransport::new().unwrap())
                .api_key(ApiKey::new(emulator.demo_key()).unwrap())
                .base_url(BaseUrl::parse(&emulator.base_url()).unwrap())
                .pacing(policy);
            if let Some(store) = store {
                builder = builder.shared_pacing(store);
            }
            builder.build().unwrap()
        };
        let local = build(None);
        let shared = build(Some(RedisStore::open(&redis.url()).unwrap()));
        // Warm up both (connections, the script's SCRIPT LOAD).
        for _ in 0..BATCH {
            local.usage().await.unwrap();
            shared.usage().await.unwrap();
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..requests.div_ceil(BATCH) {
            for (client, times) in [(&local, &mut a), (&shared, &mut b)] {
                let start = Instant::now();
                for _ in 0..BATCH {
                    client.usage().await.unwrap();
                }
                times.push(start.elapsed() / BATCH as u32);
            }
        }
        let stats = shared.shared_pacing_stats().unwrap();
        assert_eq!(stats.store_errors, 0, "{stats:?}");
        assert_eq!(stats.busy, 0, "no send waited: {stats:?}");
        let (a, b) = (median(a), median(b));
        println!(
            "per send, median of {} batches of {BATCH}: local pacing {:.1} µs, shared pacing \
             (Redis on loopback) {:.1} µs: +{:.1} µs per send, ratio {:.2}",
            requests.div_ceil(BATCH),
            a.as_secs_f64() * 1e6,
            b.as_secs_f64() * 1e6,
            (b.as_secs_f64() - a.as_secs_f64()) * 1e6,
            b.as_secs_f64() / a.as_secs_f64()
        );
    });
}
