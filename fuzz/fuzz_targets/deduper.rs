//! The webhook `DeliveryDeduper` driven by arbitrary operations (insert, contains, remove) at
//! an arbitrary clock that moves forward, stands still or steps back, against a plain map model:
//! it never panics, never holds more than its capacity, and while nothing was evicted for
//! capacity and the clock has not stepped back it answers exactly as the model (a repeat within
//! the expiry is a repeat; an expired or removed id is new). After a step back the model is not
//! compared: a record the deduper dropped as expired at a later reading stays forgotten, which
//! the plain model cannot tell.
//!
//! Input layout: byte 0 capacity, byte 1 expiry (seconds), then 3 bytes per operation:
//! opcode/clock step, id (one of 16, or a long one), clock amount.
#![no_main]

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use pipevideo_core::webhook::DeliveryDeduper;

fn id(n: u8) -> String {
    match n % 17 {
        16 => "msg_".to_owned() + &"x".repeat(usize::from(n)),
        i => format!("msg_{i}"),
    }
}

fn expired(recorded: SystemTime, now: SystemTime, expiry: Duration) -> bool {
    now.duration_since(recorded).is_ok_and(|age| age >= expiry)
}

fuzz_target!(|data: &[u8]| {
    let [capacity, expiry, ops @ ..] = data else {
        return;
    };
    let capacity = usize::from(*capacity % 64);
    let expiry = Duration::from_secs(u64::from(*expiry) * 60);
    let mut dedup = DeliveryDeduper::with_capacity(capacity).with_expiry(expiry);
    assert_eq!(dedup.capacity(), capacity.max(1));
    // The model: each id's first record, for as long as nothing was evicted for capacity.
    let mut model: HashMap<String, SystemTime> = HashMap::new();
    let mut records = 0usize;
    let mut monotone = true;
    let mut now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_827_200);
    for op in ops.chunks_exact(3) {
        let (code, which, amount) = (op[0], op[1], op[2]);
        let step = Duration::from_secs(u64::from(amount) * 30);
        now = match code >> 6 {
            0 => now,
            1 | 2 => now + step,
            _ => {
                monotone &= step.is_zero();
                now.checked_sub(step).unwrap_or(now)
            }
        };
        let id = id(which);
        // Exact while every record ever made still fits (no eviction for capacity yet).
        let exact = monotone && records < dedup.capacity();
        match code % 3 {
            0 => {
                let before = dedup.contains(&id, now);
                let new = dedup.insert(&id, now);
                assert_eq!(new, !before, "insert disagrees with contains");
                if new {
                    records += 1;
                }
                if exact {
                    let model_new = model
                        .get(&id)
                        .is_none_or(|&at| expired(at, now, expiry));
                    assert_eq!(new, model_new, "{id} at {now:?}");
                    if new {
                        model.insert(id.clone(), now);
                    }
                }
                // A new record is live unless the expiry is zero; a repeat stays contained.
                assert_eq!(dedup.contains(&id, now), !new || !expiry.is_zero());
            }
            1 => {
                let seen = dedup.contains(&id, now);
                if exact {
                    let model_seen = model.get(&id).is_some_and(|&at| !expired(at, now, expiry));
                    assert_eq!(seen, model_seen, "{id} at {now:?}");
                }
            }
            _ => {
                let was = dedup.remove(&id);
                let recorded = model.remove(&id);
                // An expired record may or may not have been dropped yet: either answer.
                if exact && recorded.is_none_or(|at| !expired(at, now, expiry)) {
                    assert_eq!(was, recorded.is_some(), "{id}");
                }
                assert!(!dedup.contains(&id, now));
            }
        }
        assert!(dedup.len() <= dedup.capacity(), "over capacity");
    }
});
