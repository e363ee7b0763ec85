//! The pacing claim: a client that sends only at or after `Pacer::next_send_at` never has more
//! than the limit in any sliding window, proven on the limiter alone in virtual time.

use std::time::{Duration, Instant};

use pipevideo_core::{pacing::Pacer, policy::PacingPolicy};
use proptest::prelude::*;

const MIN: Duration = Duration::from_secs(60);

/// The most sends in any half-open window `[t, t + window)` of a sorted list of instants.
/// The worst window always starts at a send, so checking those starts is exhaustive.
fn max_in_any_window(sends: &[Instant], window: Duration) -> usize {
    let mut worst = 0;
    let mut end = 0;
    for (start, &s) in sends.iter().enumerate() {
        while end < sends.len() && sends[end] < s + window {
            end += 1;
        }
        worst = worst.max(end - start);
    }
    worst
}

/// Drives a pacer with a client that wants to send at `wants` offsets (sorted) and always
/// waits for the pacer; returns the instants it really sent at.
fn follow(pacer: &mut Pacer, t0: Instant, wants: &[Duration]) -> Vec<Instant> {
    let mut sent = Vec::with_capacity(wants.len());
    let mut now = t0;
    for &want in wants {
        now = now.max(t0 + want);
        let at = pacer.next_send_at(now);
        assert!(at >= now, "next_send_at went backwards");
        now = at;
        pacer.record_send(now);
        sent.push(now);
    }
    sent
}

#[test]
fn a_burst_of_500_at_once_is_spread_to_the_limit() {
    let mut pacer = Pacer::new(PacingPolicy::default());
    let t0 = Instant::now();
    let sent = follow(&mut pacer, t0, &[Duration::ZERO; 500]);
    assert_eq!(max_in_any_window(&sent, MIN), 90);
    // The first ten go at once (the burst), then one every 2/3 s.
    assert!(sent[..10].iter().all(|&s| s == t0));
    assert!(sent[10] > t0);
    // 500 requests at 90 per minute need more than five minutes.
    assert!(*sent.last().unwrap() - t0 >= 5 * MIN);
}

#[test]
fn the_documented_limit_is_exact_with_full_bursts() {
    // burst == limit: only the sliding log constrains, and it is exact.
    let policy = PacingPolicy::new(100, MIN).with_burst(100);
    let mut pacer = Pacer::new(policy);
    let t0 = Instant::now();
    let sent = follow(&mut pacer, t0, &[Duration::ZERO; 350]);
    assert_eq!(max_in_any_window(&sent, MIN), 100);
    assert_eq!(sent[99], t0);
    assert_eq!(sent[100], t0 + MIN);
    assert_eq!(sent[200], t0 + 2 * MIN);
}

#[test]
fn repeated_bursts_after_quiet_periods_stay_under_the_limit() {
    let mut pacer = Pacer::new(PacingPolicy::default());
    let t0 = Instant::now();
    let mut wants = Vec::new();
    for round in 0..20u32 {
        // 40 requests at once every 25 s: far more than 90 per minute on average.
        wants.extend(std::iter::repeat_n(Duration::from_secs(25) * round, 40));
    }
    let sent = follow(&mut pacer, t0, &wants);
    assert!(max_in_any_window(&sent, MIN) <= 90);
}

#[test]
fn a_hold_stops_every_request_of_the_client() {
    let mut pacer = Pacer::new(PacingPolicy::default());
    let t0 = Instant::now();
    pacer.record_send(t0);
    pacer.hold_until(t0 + Duration::from_secs(42));
    for offset in [0, 1, 30, 41] {
        assert_eq!(
            pacer.next_send_at(t0 + Duration::from_secs(offset)),
            t0 + Duration::from_secs(42)
        );
    }
    assert_eq!(
        pacer.next_send_at(t0 + Duration::from_secs(43)),
        t0 + Duration::from_secs(43)
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// No sliding window of the policy's length ever holds more than its limit, whatever the
    /// limit, burst, window, arrival pattern and server holds.
    #[test]
    fn no_window_ever_holds_more_than_the_limit(
        limit in 1u32..120,
        burst in 1u32..120,
        window_ms in 1u64..120_000,
        gaps_ms in prop::collection::vec(0u64..3_000, 1..600),
        hold in prop::option::of((0usize..600, 0u64..90_000)),
    ) {
        let window = Duration::from_millis(window_ms);
        let mut pacer = Pacer::new(PacingPolicy::new(limit, window).with_burst(burst));
        let t0 = Instant::now();
        let mut now = t0;
        let mut sent = Vec::with_capacity(gaps_ms.len());
        for (i, gap) in gaps_ms.iter().enumerate() {
            now += Duration::from_millis(*gap);
            if let Some((at, len)) = hold
                && at == i
            {
                pacer.hold_until(now + Duration::from_millis(len));
            }
            let at = pacer.next_send_at(now);
            prop_assert!(at >= now);
            if let Some(held) = pacer.held_until() {
                prop_assert!(at >= held);
            }
            now = at;
            pacer.record_send(now);
            sent.push(now);
        }
        let worst = max_in_any_window(&sent, window);
        prop_assert!(worst <= limit as usize, "{worst} sends in one window, limit {limit}");
    }

    /// The default policy, checked against the API's own 60 s window and 100 per minute.
    #[test]
    fn the_default_never_exceeds_the_key_limit(gaps_ms in prop::collection::vec(0u64..2_000, 1..800)) {
        let mut pacer = Pacer::new(PacingPolicy::default());
        let t0 = Instant::now();
        let mut wants = Vec::with_capacity(gaps_ms.len());
        let mut at = Duration::ZERO;
        for gap in gaps_ms {
            at += Duration::from_millis(gap);
            wants.push(at);
        }
        let sent = follow(&mut pacer, t0, &wants);
        prop_assert!(max_in_any_window(&sent, MIN) <= 90);
        prop_assert!(max_in_any_window(&sent, MIN) <= PacingPolicy::DOCUMENTED_LIMIT as usize);
    }
}
