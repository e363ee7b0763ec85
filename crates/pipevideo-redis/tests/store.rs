//! The Redis store against a real `redis-server`: the script's guarantee under concurrency, the
//! hold across clients, and Redis killed mid-run (fail-open and fail-closed).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::RedisServer;
use pipevideo_core::ApiKey;
use pipevideo_core::pacing::shared::{
    HoldAsk, OnStoreDown, PacingStore, SharedPacing, SharedPacingOptions, SlotDecision, StoreAsk,
};
use pipevideo_core::policy::PacingPolicy;
use pipevideo_redis::RedisStore;

const KEY: &str = "pv_0123456789abcdef0123456789abcdef";

fn pacing(policy: PacingPolicy, options: SharedPacingOptions) -> SharedPacing {
    SharedPacing::new(&ApiKey::new(KEY).unwrap(), policy, options)
}

/// One send through the store, the way the client driver does it: ask, read, sleep, ask again
/// while busy. Returns the booked slot on Redis's clock (µs).
async fn send_once(store: &RedisStore, shared: &Mutex<SharedPacing>) -> i64 {
    loop {
        let StoreAsk::Ask(ask) = shared.lock().unwrap().ask(Instant::now()) else {
            panic!("the store is up")
        };
        let raw = store.reserve(&ask).await.expect("redis answers");
        let slot = raw[3];
        let decision = shared
            .lock()
            .unwrap()
            .handle_reply(Instant::now(), Ok(raw), None);
        match decision {
            SlotDecision::SendAt(at) => {
                tokio::time::sleep_until(at.into()).await;
                return slot;
            }
            SlotDecision::AskAgainAt(at) => tokio::time::sleep_until(at.into()).await,
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// The most slots in any half-open window `[t, t + window)`, `slots` sorted.
fn max_in_any_window(slots: &[i64], window_us: i64) -> usize {
    let mut most = 0;
    let mut start = 0;
    for end in 0..slots.len() {
        while slots[end] - slots[start] >= window_us {
            start += 1;
        }
        most = most.max(end - start + 1);
    }
    most
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reservations_under_concurrency_never_exceed_the_limit_in_any_window() {
    let redis = RedisServer::start();
    let (limit, window) = (20u32, Duration::from_millis(300));
    let policy = PacingPolicy::new(limit, window).with_burst(4);
    let slots = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    // 4 clients (each its own connection and its own SharedPacing), 5 tasks each, 6 sends each.
    for _client in 0..4 {
        let store = Arc::new(RedisStore::open(&redis.url()).unwrap());
        let shared = Arc::new(Mutex::new(pacing(policy, SharedPacingOptions::default())));
        for _task in 0..5 {
            let (store, shared, slots) = (store.clone(), shared.clone(), slots.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..6 {
                    let slot = send_once(&store, &shared).await;
                    slots.lock().unwrap().push(slot);
                }
            }));
        }
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut slots = slots.lock().unwrap().clone();
    slots.sort_unstable();
    assert_eq!(slots.len(), 120);
    let window_us = window.as_micros() as i64;
    let most = max_in_any_window(&slots, window_us);
    assert!(
        most <= limit as usize,
        "{most} slots in one window of {window:?}, limit {limit}"
    );
    // And the key's budget is used, not wasted: after the burst of 4, the GCRA's one slot per
    // 15 ms gives 116 x 15 ms = 1.74 s; the span from first to last slot is within 15 % of it.
    let span = Duration::from_micros((slots[119] - slots[0]) as u64);
    let ideal = policy.interval() * (120 - 4);
    assert!(
        span <= ideal.mul_f64(1.15),
        "the slots span {span:?}, ideal {ideal:?}"
    );
    eprintln!(
        "120 sends, 4 clients x 5 tasks: at most {most} per window (limit {limit}), span {span:?} (ideal {ideal:?})"
    );
}

#[async_std::test]
async fn the_store_works_on_async_std_without_tokio() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&redis.url()).unwrap();
    let mut shared = pacing(
        PacingPolicy::new(3, Duration::from_secs(60)).with_burst(2),
        SharedPacingOptions::default(),
    );
    for expected_granted in [true, true, false] {
        let StoreAsk::Ask(ask) = shared.ask(Instant::now()) else {
            panic!("up")
        };
        let raw = store
            .reserve(&ask)
            .await
            .expect("redis answers on async-std");
        let now = Instant::now();
        let granted = matches!(
            shared.handle_reply(now, Ok(raw), None),
            SlotDecision::SendAt(at) if at <= now
        );
        assert_eq!(granted, expected_granted);
    }
}

#[tokio::test]
async fn a_hold_published_by_one_client_stops_the_others_until_it_expires() {
    let redis = RedisServer::start();
    let policy = PacingPolicy::new(100, Duration::from_secs(60));
    let (a, b) = (
        RedisStore::open(&redis.url()).unwrap(),
        RedisStore::open(&redis.url()).unwrap(),
    );
    let mut pa = pacing(policy, SharedPacingOptions::default());
    let mut pb = pacing(policy, SharedPacingOptions::default());
    // Client A drew a 429 asking for 400 ms.
    let t0 = Instant::now();
    let hold: HoldAsk = pa
        .hold_to_publish(t0, None, Some(t0 + Duration::from_millis(400)))
        .unwrap();
    a.publish_hold(&hold).await.unwrap();
    // Client B is told to wait for it, with the hold to put on its own pacer.
    let StoreAsk::Ask(ask) = pb.ask(Instant::now()) else {
        panic!("up")
    };
    let raw = b.reserve(&ask).await;
    let now = Instant::now(); // read when the answer arrived, as the driver does
    let (decision, held) = pb.handle_reply_with_hold(now, raw, None);
    // Booked at the hold's end (it is within one interval) or told to ask again then.
    let (SlotDecision::AskAgainAt(at) | SlotDecision::SendAt(at)) = decision else {
        panic!("B must wait for A's hold, got {decision:?}")
    };
    assert!(at >= now + Duration::from_millis(350), "{:?}", at - now);
    assert!(held.is_some_and(|h| h >= now + Duration::from_millis(350)));
    // A shorter hold does not shorten it.
    let short = pa
        .hold_to_publish(now, None, Some(now + Duration::from_millis(10)))
        .unwrap();
    b.publish_hold(&short).await.unwrap();
    // Once it has expired, B gets its slot at once (a fresh client, without B's booking).
    tokio::time::sleep_until(at.into()).await;
    let mut pb = pacing(
        PacingPolicy::new(100, Duration::from_secs(60)).with_burst(10),
        SharedPacingOptions::default(),
    );
    let StoreAsk::Ask(ask) = pb.ask(Instant::now()) else {
        panic!("up")
    };
    let raw = b.reserve(&ask).await;
    let now = Instant::now();
    let (decision, held) = pb.handle_reply_with_hold(now, raw.clone(), None);
    assert!(
        matches!(decision, SlotDecision::SendAt(at) if at <= now + Duration::from_millis(5)),
        "{decision:?} {raw:?}"
    );
    assert_eq!(held, None, "{raw:?}");
    assert!(t0.elapsed() >= Duration::from_millis(400));
}

#[tokio::test]
async fn redis_killed_mid_run_fail_open_paces_locally_and_recovers() {
    let mut redis = RedisServer::start();
    let store = RedisStore::open(&redis.url()).unwrap();
    let options = SharedPacingOptions::default().retry_store_after(Duration::from_millis(100));
    let mut shared = pacing(PacingPolicy::default(), options);
    let ask = |s: &mut SharedPacing| match s.ask(Instant::now()) {
        StoreAsk::Ask(ask) => Some(ask),
        StoreAsk::Local => None,
        other => panic!("fail-open never refuses: {other:?}"),
    };
    let a = ask(&mut shared).unwrap();
    let reply = store.reserve(&a).await;
    assert!(matches!(
        shared.handle_reply(Instant::now(), reply, None),
        SlotDecision::SendAt(_)
    ));

    redis.kill();
    let a = ask(&mut shared).unwrap();
    let reply = store.reserve(&a).await;
    assert!(reply.is_err());
    assert_eq!(
        shared.handle_reply(Instant::now(), reply, None),
        SlotDecision::Local
    );
    // Until the retry pause is over, sends go on local pacing without a round trip.
    assert!(ask(&mut shared).is_none());
    let stats = shared.stats();
    assert_eq!((stats.store_errors, stats.local_fallbacks), (1, 2));

    redis.restart();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let a = ask(&mut shared).expect("the store is asked again after the pause");
    let reply = store.reserve(&a).await;
    assert!(
        matches!(
            shared.handle_reply(Instant::now(), reply, None),
            SlotDecision::SendAt(_)
        ),
        "recovered: the store reconnects and books again"
    );
    assert!(!shared.is_down(Instant::now()));
}

#[tokio::test]
async fn redis_killed_mid_run_fail_closed_refuses_with_a_clear_error() {
    let mut redis = RedisServer::start();
    let store = RedisStore::open(&redis.url()).unwrap();
    let options = SharedPacingOptions::default().on_down(OnStoreDown::FailClosed);
    let mut shared = pacing(PacingPolicy::default(), options);
    let StoreAsk::Ask(a) = shared.ask(Instant::now()) else {
        panic!("up")
    };
    assert!(matches!(
        shared.handle_reply(Instant::now(), store.reserve(&a).await, None),
        SlotDecision::SendAt(_)
    ));
    redis.kill();
    let StoreAsk::Ask(a) = shared.ask(Instant::now()) else {
        panic!("still up as far as it knows")
    };
    let SlotDecision::Refuse(error) =
        shared.handle_reply(Instant::now(), store.reserve(&a).await, None)
    else {
        panic!("fail-closed refuses")
    };
    let message = error.to_string();
    assert!(
        message.contains("fail-closed") && message.contains("redis"),
        "{message}"
    );
    assert!(matches!(shared.ask(Instant::now()), StoreAsk::Refuse(_)));
}

#[tokio::test]
async fn a_flushed_script_cache_is_reloaded_on_noscript() {
    let redis = RedisServer::start();
    let store = RedisStore::open(&redis.url()).unwrap();
    let mut shared = pacing(PacingPolicy::default(), SharedPacingOptions::default());
    let StoreAsk::Ask(ask) = shared.ask(Instant::now()) else {
        panic!("up")
    };
    store
        .reserve(&ask)
        .await
        .expect("first EVALSHA loads the script");
    // What a Redis restart or failover does to the script cache.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut raw = client.get_multiplexed_async_connection().await.unwrap();
    let flushed: String = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert_eq!(flushed, "OK");
    let reply = store
        .reserve(&ask)
        .await
        .expect("NOSCRIPT, SCRIPT LOAD, EVALSHA again");
    assert_eq!(reply[0], 1);
    // The keys name a hash of the API key, never the key.
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(!keys.is_empty());
    assert!(
        keys.iter()
            .all(|k| k.starts_with("pipevideo:pacing:{k:") && !k.contains(&KEY[3..])),
        "{keys:?}"
    );
}

/// A burst's slots leave the window together; they must not come back together one window
/// later (there a few ms of arrival jitter would put them over the server's limit): while the
/// budget is used up, slots are one interval apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_does_not_echo_one_window_later() {
    let redis = RedisServer::start();
    let (limit, window) = (10u32, Duration::from_millis(200));
    let policy = PacingPolicy::new(limit, window).with_burst(5);
    let store = Arc::new(RedisStore::open(&redis.url()).unwrap());
    let shared = Arc::new(Mutex::new(pacing(policy, SharedPacingOptions::default())));
    // Saturated: 6 tasks always waiting for a slot.
    let slots = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (store, shared, slots) = (store.clone(), shared.clone(), slots.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..5 {
                let slot = send_once(&store, &shared).await;
                slots.lock().unwrap().push(slot);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let mut slots = slots.lock().unwrap().clone();
    slots.sort_unstable();
    let interval_us = policy.interval().as_micros() as i64;
    // The first burst of 5 goes at once; from the 11th slot on (the budget used up), every
    // slot is at least one interval after the one before.
    assert!(
        slots[4] - slots[0] < interval_us,
        "the first burst: {slots:?}"
    );
    for pair in slots[10..].windows(2) {
        assert!(
            pair[1] - pair[0] >= interval_us,
            "slots {} µs apart, interval {interval_us} µs: {slots:?}",
            pair[1] - pair[0]
        );
    }
    assert!(max_in_any_window(&slots, window.as_micros() as i64) <= limit as usize);
}
