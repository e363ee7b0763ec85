//! The delivery deduper: retries recognised across Svix's whole schedule, bounded memory,
//! expiry, and forgetting on failure. Virtual time only.

use std::{
    collections::VecDeque,
    time::{Duration, SystemTime},
};

use pipevideo_core::webhook::DeliveryDeduper;
use proptest::{prelude::*, test_runner::RngSeed};

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_827_200)
}

const fn mins(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

const fn hours(h: u64) -> Duration {
    Duration::from_secs(h * 3600)
}

#[test]
fn every_svix_retry_is_recognised() {
    // Svix's schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after each failure.
    let gaps = [
        Duration::ZERO,
        Duration::from_secs(5),
        mins(5),
        mins(30),
        hours(2),
        hours(5),
        hours(10),
        hours(10),
    ];
    let mut seen = DeliveryDeduper::with_capacity(8);
    let mut now = t0();
    assert!(seen.insert("msg_1", now));
    for gap in gaps {
        now += gap;
        assert!(
            !seen.insert("msg_1", now),
            "retry at {now:?} not recognised"
        );
        assert!(seen.contains("msg_1", now));
    }
    // The whole schedule spans about 27.6 h, well inside the default expiry.
    assert!(now.duration_since(t0()).unwrap() < DeliveryDeduper::DEFAULT_EXPIRY);
    assert!(DeliveryDeduper::DEFAULT_EXPIRY >= hours(28));
}

#[test]
fn ids_expire_from_first_record() {
    let mut seen = DeliveryDeduper::with_capacity(4).with_expiry(hours(1));
    assert_eq!(seen.expiry(), hours(1));
    assert!(seen.insert("a", t0()));
    // A repeat does not extend the memory.
    assert!(!seen.insert("a", t0() + mins(59)));
    assert!(seen.contains("a", t0() + mins(59)));
    assert!(!seen.contains("a", t0() + hours(1)));
    assert!(seen.insert("a", t0() + hours(1)));
    assert!(!seen.insert("a", t0() + hours(1) + mins(1)));
}

#[test]
fn expired_ids_are_dropped_from_memory() {
    let mut seen = DeliveryDeduper::with_capacity(100).with_expiry(mins(10));
    for i in 0..50 {
        assert!(seen.insert(&format!("msg_{i}"), t0()));
    }
    assert_eq!(seen.len(), 50);
    assert!(seen.insert("late", t0() + mins(10)));
    assert_eq!(seen.len(), 1);
}

#[test]
fn capacity_bounds_memory_and_forgets_the_oldest() {
    let mut seen = DeliveryDeduper::with_capacity(3);
    assert_eq!(seen.capacity(), 3);
    for id in ["a", "b", "c", "d"] {
        assert!(seen.insert(id, t0()));
    }
    assert_eq!(seen.len(), 3);
    assert!(!seen.contains("a", t0()), "the oldest is forgotten");
    for id in ["b", "c", "d"] {
        assert!(seen.contains(id, t0()), "{id}");
    }
    assert_eq!(DeliveryDeduper::with_capacity(0).capacity(), 1);
}

#[test]
fn remove_lets_the_retry_through_and_keeps_others() {
    let mut seen = DeliveryDeduper::with_capacity(2);
    assert!(seen.insert("a", t0()));
    assert!(seen.insert("b", t0()));
    assert!(seen.remove("a"));
    assert!(!seen.remove("a"));
    assert!(seen.insert("a", t0()));
    // "a" re-recorded at the same instant: "b" is now the oldest and goes first.
    assert!(seen.insert("c", t0()));
    assert!(seen.contains("a", t0()));
    assert!(!seen.contains("b", t0()));
    assert!(seen.contains("c", t0()));
}

#[test]
fn a_clock_stepping_back_does_not_break_it() {
    let mut seen = DeliveryDeduper::with_capacity(2).with_expiry(hours(1));
    assert!(seen.insert("a", t0() + hours(3)));
    assert!(seen.insert("b", t0()));
    assert!(!seen.insert("a", t0()));
    assert!(seen.len() <= 2);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        rng_seed: RngSeed::Fixed(0xdead_beef),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Against a simple model (a list of live records): same answers, never more than
    /// `capacity` ids, for random operation sequences over a small id alphabet.
    #[test]
    fn agrees_with_a_model(
        capacity in 1usize..6,
        ops in proptest::collection::vec((0u8..3, 0u8..8, 0u64..90), 1..200),
    ) {
        let expiry = mins(60);
        let mut seen = DeliveryDeduper::with_capacity(capacity).with_expiry(expiry);
        let mut model: VecDeque<(String, SystemTime)> = VecDeque::new();
        let mut now = t0();
        for (op, id, advance) in ops {
            now += mins(advance) / 4;
            let id = format!("msg_{id}");
            let live = |m: &VecDeque<(String, SystemTime)>, id: &str| {
                m.iter().any(|(i, at)| i == id && now.duration_since(*at).unwrap() < expiry)
            };
            match op {
                0 => {
                    let want = !live(&model, &id);
                    prop_assert_eq!(seen.insert(&id, now), want);
                    if want {
                        model.retain(|(i, _)| *i != id);
                        model.push_back((id, now));
                        while model.len() > capacity {
                            model.pop_front();
                        }
                    }
                }
                1 => {
                    // An expired id may or may not have been dropped yet.
                    let removed = seen.remove(&id);
                    if live(&model, &id) {
                        prop_assert!(removed);
                    } else if !model.iter().any(|(i, _)| *i == id) {
                        prop_assert!(!removed);
                    }
                    model.retain(|(i, _)| *i != id);
                }
                _ => prop_assert_eq!(seen.contains(&id, now), live(&model, &id)),
            }
            prop_assert!(seen.len() <= capacity);
        }
    }
}
