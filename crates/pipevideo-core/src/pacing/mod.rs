//! Client-side pacing: keep one client under the key's request limit in every sliding window.
//!
//! Pipevideo allows 100 requests per minute per API key and does not say whether its window is
//! fixed or sliding. A client that is under the limit in *every* sliding window is under it in
//! any fixed window too, so that is what the [`Pacer`] guarantees.
//!
//! # How it decides
//!
//! Two rules, and a request may go at the later of the instants they allow:
//!
//! 1. **An exact sliding log** (the guarantee). The pacer remembers the send instants of the
//!    last `limit` requests. A new request may go once the oldest of them is at least `window`
//!    old. So any two requests `limit` sends apart are at least `window` apart, and no half-open
//!    window `[t, t + window)` ever holds more than `limit` sends, wherever `t` falls.
//! 2. **A GCRA smoother** (the shape). With emission interval `T = window / limit` and a burst
//!    tolerance of `burst` requests, a quiet client may send `burst` requests back to back and
//!    then one every `T`. On its own a GCRA admits up to `burst + window / T` requests in one
//!    window, more than the limit, which is why it is only the shape and the log is the bound.
//!
//! 3. On top, a **hold**: after a 429 the server's `retry_after` applies to the whole client
//!    (every request of the key would be refused), so [`Pacer::hold_until`] makes every request
//!    of this client wait until then, not only the one that was refused. The hold is set by
//!    every 429 that asked for a delay, also one beyond a call's cap (that call gives up, and
//!    a call that would wait for the hold longer than its own cap fails at once, before
//!    sending, with the time left: [`RetryState::check_hold`](crate::retry::RetryState::check_hold)).
//!
//! Past one process, [`shared`] puts the key's budget in a store every process asks (Redis,
//! through `pipevideo-redis`); this pacer still runs beside it and is what a client falls back
//! to when the store is down.
//!
//! # Defaults
//!
//! [`PacingPolicy::default`] is **90 requests per 60 s, bursts of up to 10**: a 10 % margin
//! under the documented 100 per minute, because the server counts *arrivals* (network latency
//! varies, so two sends exactly 60 s apart may arrive 59.9 s apart), and because other programs
//! using the same key (the CLI, a second process) spend the same allowance.
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use pipevideo_core::{pacing::Pacer, policy::PacingPolicy};
//!
//! let policy = PacingPolicy::new(3, Duration::from_secs(60)).with_burst(3);
//! let mut pacer = Pacer::new(policy);
//! let t0 = Instant::now(); // tests take one base instant and add virtual offsets
//!
//! for _ in 0..3 {
//!     let at = pacer.next_send_at(t0);
//!     assert_eq!(at, t0); // the burst goes at once
//!     pacer.record_send(at);
//! }
//! // The fourth request waits until the first leaves the 60 s window.
//! assert_eq!(pacer.next_send_at(t0), t0 + Duration::from_secs(60));
//! ```

pub mod shared;

use std::collections::VecDeque;
use std::time::Instant;

use crate::policy::PacingPolicy;

/// The most send instants the sliding log preallocates room for. A larger limit still works:
/// the log grows as requests are recorded (it never holds more than `limit` instants).
const PREALLOCATED_LOG: usize = 1024;

/// The pacing state of one client: shared by all of its calls (the driver keeps it behind a
/// lock).
///
/// Sans-IO: every method takes the instant it is about, and nothing reads a clock. Instants
/// passed to [`record_send`](Self::record_send) should not go backwards; one that does is
/// recorded as the latest instant already seen, which only makes later requests wait longer.
#[derive(Debug, Clone)]
pub struct Pacer {
    policy: PacingPolicy,
    /// Send instants of the most recent `limit` requests, oldest first, non-decreasing.
    log: VecDeque<Instant>,
    /// GCRA theoretical arrival time; `None` before the first send.
    tat: Option<Instant>,
    held: Option<Instant>,
}

impl Pacer {
    /// A pacer that has seen no request yet.
    pub fn new(policy: PacingPolicy) -> Self {
        let room = usize::try_from(policy.limit)
            .unwrap_or(usize::MAX)
            .min(PREALLOCATED_LOG);
        let room = if policy.window.is_zero() { 0 } else { room };
        Self {
            policy,
            log: VecDeque::with_capacity(room),
            tat: None,
            held: None,
        }
    }

    /// The policy this pacer enforces.
    pub fn policy(&self) -> &PacingPolicy {
        &self.policy
    }

    /// The earliest instant (`>= now`) at which the next request may be sent. Does not reserve
    /// anything: call [`record_send`](Self::record_send) when the request really goes.
    ///
    /// A client that sends only at or after this instant never has more than
    /// [`PacingPolicy::limit`] requests in any sliding [`PacingPolicy::window`].
    pub fn next_send_at(&self, now: Instant) -> Instant {
        let mut at = now;
        if let Some(held) = self.held {
            at = at.max(held);
        }
        if self.policy.window.is_zero() {
            return at;
        }
        // The sliding log: once `limit` sends are logged, the oldest must leave the window.
        if self.log.len() >= self.log_len()
            && let Some(&oldest) = self.log.front()
        {
            at = at.max(oldest + self.policy.window);
        }
        // The GCRA smoother: conforming once `tat - (burst - 1) * interval` is reached.
        if let Some(tat) = self.tat {
            let tolerance = self.policy.interval() * (self.policy.burst - 1);
            if let Some(earliest) = tat.checked_sub(tolerance) {
                at = at.max(earliest);
            }
        }
        at
    }

    /// Records that a request was sent at `now` (whether or not it waited for
    /// [`next_send_at`](Self::next_send_at)). Allocates nothing once the log has reached its
    /// preallocated size.
    pub fn record_send(&mut self, now: Instant) {
        if self.policy.window.is_zero() {
            return;
        }
        let now = match self.log.back() {
            Some(&last) if last > now => last,
            _ => now,
        };
        if self.log.len() >= self.log_len() {
            self.log.pop_front();
        }
        self.log.push_back(now);
        let interval = self.policy.interval();
        self.tat = Some(self.tat.map_or(now, |tat| tat.max(now)) + interval);
    }

    /// The server refused a request with 429 and asked to wait until `until`: no request of
    /// this client goes before then. A later hold extends an earlier one; an earlier one does
    /// not shorten it.
    pub fn hold_until(&mut self, until: Instant) {
        self.held = Some(self.held.map_or(until, |held| held.max(until)));
    }

    /// The instant the current server-asked hold ends, if one was ever set (it may be past).
    pub fn held_until(&self) -> Option<Instant> {
        self.held
    }

    /// How many sends the log keeps: the limit, as a length.
    fn log_len(&self) -> usize {
        usize::try_from(self.policy.limit).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::policy::MAX_WINDOW;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn default_is_ninety_per_minute_with_bursts_of_ten() {
        let p = PacingPolicy::default();
        assert_eq!((p.limit(), p.window(), p.burst()), (90, MIN, 10));
        assert_eq!(
            p.interval(),
            Duration::from_millis(666) + Duration::from_nanos(666_666)
        );
    }

    #[test]
    fn builders_clamp_bad_numbers_instead_of_panicking() {
        let p = PacingPolicy::new(0, Duration::MAX).with_burst(0);
        assert_eq!((p.limit(), p.window(), p.burst()), (1, MAX_WINDOW, 1));
        let p = PacingPolicy::new(5, MIN).with_burst(50);
        assert_eq!(p.burst(), 5);
        assert_eq!(p.with_limit(2).burst(), 2);
    }

    #[test]
    fn burst_then_steady_interval() {
        let policy = PacingPolicy::new(60, MIN).with_burst(3);
        let mut pacer = Pacer::new(policy);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(pacer.next_send_at(t0), t0);
            pacer.record_send(t0);
        }
        // After the burst, one per second (60 per minute).
        assert_eq!(pacer.next_send_at(t0), t0 + Duration::from_secs(1));
    }

    #[test]
    fn hold_delays_everything_and_only_grows() {
        let mut pacer = Pacer::new(PacingPolicy::default());
        let t0 = Instant::now();
        assert_eq!(pacer.held_until(), None);
        pacer.hold_until(t0 + Duration::from_secs(42));
        pacer.hold_until(t0 + Duration::from_secs(5));
        assert_eq!(pacer.held_until(), Some(t0 + Duration::from_secs(42)));
        assert_eq!(pacer.next_send_at(t0), t0 + Duration::from_secs(42));
        assert_eq!(pacer.next_send_at(t0 + MIN), t0 + MIN);
    }

    #[test]
    fn unlimited_never_waits_but_honours_holds() {
        let mut pacer = Pacer::new(PacingPolicy::unlimited());
        let t0 = Instant::now();
        for _ in 0..10_000 {
            pacer.record_send(t0);
        }
        assert_eq!(pacer.next_send_at(t0), t0);
        pacer.hold_until(t0 + Duration::from_secs(1));
        assert_eq!(pacer.next_send_at(t0), t0 + Duration::from_secs(1));
    }

    #[test]
    fn backwards_instants_only_make_the_pacer_stricter() {
        let mut pacer = Pacer::new(PacingPolicy::new(2, MIN).with_burst(2));
        let t0 = Instant::now();
        pacer.record_send(t0 + Duration::from_secs(10));
        pacer.record_send(t0); // out of order: counted as sent at +10 s
        assert_eq!(pacer.next_send_at(t0), t0 + Duration::from_secs(70));
    }
}
