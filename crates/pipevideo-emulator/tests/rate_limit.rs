//! The documented 100 requests per minute per key, on a scaled minute.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pipevideo_emulator::RateLimit;
use serde_json::Value;

#[tokio::test]
async fn the_101st_request_in_a_sliding_minute_is_429_with_retry_after() {
    // Scale 0.05: the minute is 3 s, long enough for 100 sequential loopback requests.
    let emu = fast().time_scale(0.05).start().await.unwrap();
    let key = emu.demo_key().to_owned();
    let start = Instant::now();
    for i in 0..100 {
        let r = get(&emu, "/usage", Some(&key)).await;
        assert_eq!(r.status, 200, "request {i}");
    }
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "the test needs the 100 inside one window"
    );
    let r = get(&emu, "/usage", Some(&key)).await;
    assert_eq!(r.status, 429);
    let v = r.json();
    assert_eq!(v["message"], "Rate limit exceeded. Please try again later.");
    let retry_after = v["data"]["retry_after"].as_f64().unwrap();
    assert!(
        retry_after > 0.0 && retry_after <= 3.0,
        "real seconds: {retry_after}"
    );
    assert!(emu.requests().last().unwrap().rate_limited);

    // Other keys have their own budget; /engines needs no key and is not counted.
    assert_eq!(
        get(&emu, "/usage", Some(emu.other_org_key())).await.status,
        200
    );
    assert_eq!(get(&emu, "/engines", None).await.status, 200);

    // Waiting exactly retry_after is enough.
    tokio::time::sleep(Duration::from_secs_f64(retry_after)).await;
    assert_eq!(get(&emu, "/usage", Some(&key)).await.status, 200);
}

/// 3 per emulated minute at scale 0.02 (a 1.2 s window): one request at 0, two at 0.6 s, a refused
/// fourth, a wait of its retry_after (to the 1.2 s mark), then three more. Returns their statuses.
async fn window_script(limit: RateLimit) -> Vec<u16> {
    let emu = fast()
        .time_scale(0.02)
        .rate_limit(limit)
        .start()
        .await
        .unwrap();
    let key = emu.demo_key().to_owned();
    assert_eq!(get(&emu, "/usage", Some(&key)).await.status, 200);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(get(&emu, "/usage", Some(&key)).await.status, 200);
    assert_eq!(get(&emu, "/usage", Some(&key)).await.status, 200);
    let refused = get(&emu, "/usage", Some(&key)).await;
    assert_eq!(refused.status, 429);
    let retry = refused.json()["data"]["retry_after"].as_f64().unwrap();
    assert!(
        retry > 0.3 && retry <= 0.6,
        "about 0.6 s to the first request's expiry or the boundary: {retry}"
    );
    tokio::time::sleep(Duration::from_secs_f64(retry)).await;
    let mut after = Vec::new();
    for _ in 0..3 {
        after.push(get(&emu, "/usage", Some(&key)).await.status);
    }
    after
}

#[tokio::test]
async fn fixed_windows_reset_at_the_boundary_sliding_ones_do_not() {
    let limit = RateLimit::per_minute(3);
    // Fixed: the boundary at 1.2 s frees all three slots.
    assert_eq!(window_script(limit.fixed()).await, [200, 200, 200]);
    // Sliding: only the request from 0 s has left the window; the two from 0.6 s are still in it.
    assert_eq!(window_script(limit.sliding()).await, [200, 429, 429]);
}

#[tokio::test]
async fn a_client_paced_on_the_scaled_minute_never_sees_429() {
    // 10 per emulated minute (0.6 s real): a client sending one every 60 ms stays under it.
    let emu = fast()
        .rate_limit(RateLimit::per_minute(10))
        .start()
        .await
        .unwrap();
    let key = emu.demo_key().to_owned();
    for _ in 0..25 {
        let r = get(&emu, "/usage", Some(&key)).await;
        assert_eq!(
            r.status,
            200,
            "{:?}",
            r.json().get("data").cloned().unwrap_or(Value::Null)
        );
        tokio::time::sleep(Duration::from_millis(65)).await;
    }
    // Without pacing the limit bites within the window.
    let mut saw_429 = false;
    for _ in 0..12 {
        saw_429 |= get(&emu, "/usage", Some(&key)).await.status == 429;
    }
    assert!(saw_429);
}

/// The request log's report: per key (by fingerprint), the requests and the 429s sent to it,
/// the rate limiter's apart from injected ones; also served as JSON on the control endpoint.
#[tokio::test]
async fn the_report_counts_429s_per_key() {
    let emu = fast()
        .time_scale(0.02)
        .rate_limit(RateLimit::per_minute(2))
        .start()
        .await
        .unwrap();
    let (key, other) = (emu.demo_key().to_owned(), emu.other_org_key().to_owned());
    let statuses: Vec<u16> = {
        let mut s = Vec::new();
        for _ in 0..4 {
            s.push(get(&emu, "/usage", Some(&key)).await.status);
        }
        s
    };
    assert_eq!(statuses, [200, 200, 429, 429]);
    assert_eq!(get(&emu, "/usage", Some(&other)).await.status, 200);
    let report = emu.rate_limits();
    let mine = report.key(&pipevideo_emulator::fingerprint(&key)).unwrap();
    assert_eq!(
        (mine.requests, mine.rate_limited, mine.status_429),
        (4, 2, 2)
    );
    let theirs = report
        .key(&pipevideo_emulator::fingerprint(&other))
        .unwrap();
    assert_eq!((theirs.requests, theirs.status_429), (1, 0));
    assert_eq!(report.keys.len(), 2);
    assert!(
        report
            .keys
            .iter()
            .all(|k| !k.key_fingerprint.contains(&key[3..])),
        "fingerprints, never keys"
    );
    let served = control(&emu, "GET", "/_emulator/rate-limits", None)
        .await
        .json();
    assert_eq!(served["keys"][0]["status_429"], 2);
    assert_eq!(served["keys"][1]["requests"], 1);
}
