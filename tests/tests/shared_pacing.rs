//! The multi-process proof of shared pacing: 8 client processes (4 on reqwest + tokio, 4 on
//! surf + async-std: `src/bin/pacing_worker.rs`) on one API key against one emulator with the
//! real limit, 100 requests per sliding minute on its scaled clock, 25 videos each.
//!
//! - With shared pacing through one real `redis-server`: no 429 at all, and the aggregate
//!   request rate while every process still has work (saturation) within 10 % of the limit.
//! - With per-process pacing only (the same policy, no store): the 429 count the key draws,
//!   printed as the contrast.
//!
//! The emulator runs at 0.1 real seconds per emulated second: an emulated minute is 6 s, so
//! the 5 % margin of the policy is 5 slots of 63 ms of arrival jitter (8 processes, the
//! emulator and Redis share 2 cores).
//! Run with `--nocapture` to see the numbers.

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use pipevideo_emulator::Emulator;
use pipevideo_tests::redis_server::RedisServer;

const SCALE: f64 = 0.1;
const PROCESSES: usize = 8;
const VIDEOS: usize = 25;
/// The server's limit per emulated minute (the emulator's default, the documented one).
const SERVER_LIMIT: usize = 100;
/// The pacing policy of every worker: the limit of all of them together with shared pacing,
/// of each one alone without. 5 % under the server's, for the arrival jitter of a loaded
/// machine (at this scale 5 slots are 316 ms of it).
const CLIENT_LIMIT: u32 = 95;

struct FleetRun {
    requests: usize,
    status_429: u64,
    rate_limited: u64,
    /// Requests per emulated minute from the first request until the first worker finished.
    saturated_rate: f64,
    /// The most requests that arrived in any sliding emulated minute (429s included).
    busiest_window: usize,
    took: Duration,
    workers: Vec<String>,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

fn run_fleet(redis: Option<&str>) -> FleetRun {
    let emulator = Emulator::builder()
        .time_scale(SCALE)
        .failure_rate(0.0)
        .seed(18)
        .start_in_background()
        .expect("the emulator starts");
    let start = Instant::now();
    let children: Vec<_> = (0..PROCESSES)
        .map(|i| {
            let transport = if i % 2 == 0 { "reqwest" } else { "surf" };
            let mut cmd = Command::new(env!("CARGO_BIN_EXE_pacing_worker"));
            cmd.args([
                transport,
                &emulator.base_url(),
                emulator.demo_key(),
                &SCALE.to_string(),
                &VIDEOS.to_string(),
                &CLIENT_LIMIT.to_string(),
            ]);
            if let Some(url) = redis {
                cmd.arg(url);
            }
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().expect("a worker process starts")
        })
        .collect();
    // Each worker waited on its own thread, so that the instant it ends is known.
    let waiters: Vec<_> = children
        .into_iter()
        .map(|child| thread::spawn(move || (child.wait_with_output(), SystemTime::now())))
        .collect();
    let mut workers = Vec::new();
    let mut first_done = u64::MAX;
    for waiter in waiters {
        let (output, ended) = waiter.join().unwrap();
        let output = output.expect("the worker ran");
        let stdout = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert!(
            output.status.success(),
            "a worker failed: {}\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON line");
        assert_eq!(doc["completed"], VIDEOS, "{stdout}");
        first_done = first_done.min(unix_ms(ended));
        workers.push(stdout);
    }
    let took = start.elapsed();
    let log = emulator.requests();
    let report = emulator.rate_limits();
    let fingerprint = pipevideo_emulator::fingerprint(emulator.demo_key());
    let row = report.key(&fingerprint).expect("the key's row").clone();
    assert_eq!(report.keys.len(), 1, "one key only");

    let window_ms = (60_000.0 * SCALE) as u64;
    let arrivals: Vec<u64> = log.iter().map(|e| e.unix_ms).collect();
    let first = arrivals[0];
    let saturated = arrivals.iter().filter(|&&t| t < first_done).count();
    let saturated_rate = saturated as f64 * window_ms as f64 / (first_done - first) as f64;
    let mut busiest_window = 0;
    let mut lo = 0;
    for hi in 0..arrivals.len() {
        while arrivals[hi] - arrivals[lo] >= window_ms {
            lo += 1;
        }
        busiest_window = busiest_window.max(hi - lo + 1);
    }
    FleetRun {
        requests: log.len(),
        status_429: row.status_429,
        rate_limited: row.rate_limited,
        saturated_rate,
        busiest_window,
        took,
        workers,
    }
}

fn report(name: &str, run: &FleetRun) {
    eprintln!(
        "{name}: {} requests, {} x 429 ({} by the rate limiter), {:.1} requests per emulated \
         minute at saturation (limit {SERVER_LIMIT}), busiest sliding minute {} requests, {:.1} s",
        run.requests,
        run.status_429,
        run.rate_limited,
        run.saturated_rate,
        run.busiest_window,
        run.took.as_secs_f64()
    );
    for worker in &run.workers {
        eprintln!("  {worker}");
    }
}

#[test]
fn eight_processes_on_one_key_draw_no_429_with_shared_pacing() {
    let redis = RedisServer::start();
    let shared = run_fleet(Some(&redis.url()));
    report("shared pacing (Redis)", &shared);
    let local = run_fleet(None);
    report("per-process pacing only", &local);

    assert_eq!(
        shared.status_429, 0,
        "with shared pacing the key must never be refused"
    );
    let limit = SERVER_LIMIT as f64;
    assert!(
        shared.saturated_rate >= 0.9 * limit && shared.saturated_rate <= limit,
        "the aggregate rate at saturation, {:.1} per minute, is not within 10 % of {limit}",
        shared.saturated_rate
    );
    // The contrast: without the store, 8 processes each under the limit overrun it together.
    assert!(
        local.status_429 > 0,
        "per-process pacing alone was expected to draw 429s"
    );
}
