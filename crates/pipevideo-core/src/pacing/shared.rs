//! Shared pacing: one key's budget kept by a store that every process of that key asks.
//!
//! The in-process [`Pacer`](super::Pacer) keeps *one client* under the key's limit. Eight
//! processes on one key each keep themselves under it and together send eight times the
//! budget. A [`PacingStore`] (Redis, through the `pipevideo-redis` crate) holds the key's
//! sliding log, its GCRA state and its 429 hold in one place, and every client asks it before
//! each send.
//!
//! # Who does what
//!
//! The split is the same as for HTTP: the decisions are here, sans-IO; the round trip is the
//! driver's.
//!
//! - [`SharedPacing::ask`] says what to ask the store before a send: a [`SlotAsk`] (the key's
//!   scope, the limit, the window, the burst, how far ahead a slot may be booked), or nothing
//!   while the store is known to be down (fail-open: the local pacer alone) or an error
//!   (fail-closed).
//! - The store runs the reservation atomically, on **its own clock**, and answers four
//!   integers (see [`SlotReply::parse`]): granted or not, the wait in microseconds, the hold
//!   left in microseconds, and, for audits, the slot as a reading of the store's clock. A
//!   client uses only the durations, so clients whose clocks disagree by hours still agree on
//!   the schedule: each turns the wait into an instant of its own clock.
//! - [`SharedPacing::handle_reply`] reads the answer: send at `t` (a booked slot), ask again at
//!   `t` (the key is busy: nothing was booked), fall back to local pacing, or refuse.
//! - After a 429, [`SharedPacing::hold_to_publish`] says what hold to publish ([`HoldAsk`]), so
//!   that every other process waits too.
//!
//! # The guarantee, in any sliding window
//!
//! A store implements the reservation as an **exact sliding log** under a lock (Redis runs a
//! script atomically). Booked slots `r₁ ≤ r₂ ≤ …` never go backwards (a slot is never booked
//! before the last one booked), and slot `k` is booked no earlier than `r(k−limit) + window`.
//! So a half-open window `[a, a + window)` holding `limit + 1` slots `r(j) … r(j+limit)` would
//! need `r(j+limit) ≥ r(j) + window ≥ a + window`: impossible. Every window of the store's clock
//! holds at most `limit` booked sends, across every process, whatever their clocks say. A GCRA
//! on top shapes bursts (as the local pacer does); it only ever delays.
//!
//! The server counts *arrivals*, which lag sends by a varying network delay; the default
//! policy's 10 % margin under the documented limit absorbs that.
//!
//! # When the store is down
//!
//! [`OnStoreDown::FailOpen`] (the default): the send goes on the local pacer alone, a
//! `WARN` event is logged once per outage (target `pipevideo_core::pacing::shared`), the
//! [`SharedPacingStats`] counters count it, and the store is asked again after
//! [`SharedPacingOptions::retry_store_after`]. [`OnStoreDown::FailClosed`]: nothing is sent;
//! the call fails with [`SharedPacingError`] (kind [`ErrorKind::Pacing`](crate::ErrorKind::Pacing)).
//!
//! # Example
//!
//! ```
//! use std::time::{Duration, Instant};
//! use pipevideo_core::ApiKey;
//! use pipevideo_core::pacing::shared::{SharedPacing, SharedPacingOptions, SlotDecision, StoreAsk};
//! use pipevideo_core::policy::PacingPolicy;
//!
//! let key = ApiKey::new("pv_0123456789abcdef")?;
//! let mut shared = SharedPacing::new(&key, PacingPolicy::default(), SharedPacingOptions::default());
//! let t0 = Instant::now();
//! let StoreAsk::Ask(ask) = shared.ask(t0) else { unreachable!("the store is up") };
//! assert!(!ask.scope().contains("0123456789abcdef")); // a hash, never the key
//! // The store booked a slot 5 ms from now, by its own clock; no hold is on.
//! let decision = shared.handle_reply(t0, Ok(vec![1, 5_000, 0, 0]), None);
//! assert_eq!(decision, SlotDecision::SendAt(t0 + Duration::from_millis(5)));
//! # Ok::<(), pipevideo_core::Error>(())
//! ```

use std::fmt;
use std::time::{Duration, Instant};

use hmac_sha256::Hash;

use crate::ApiKey;
use crate::policy::PacingPolicy;
use crate::transport::TransportError;

/// How long a client paces locally after a store failure before it asks the store again.
pub const DEFAULT_RETRY_STORE_AFTER: Duration = Duration::from_secs(1);

/// A store that keeps one key's pacing for every process of that key: the round trip of
/// [`SharedPacing`]. `pipevideo-redis` implements it over Redis.
///
/// An implementation only moves the ask to the store and the answer back: it runs the
/// reservation described on the [module](self) atomically on the store's own clock, and
/// answers the four integers [`SlotReply::parse`] reads.
#[async_trait::async_trait]
pub trait PacingStore: Send + Sync + fmt::Debug {
    /// Reserves a send slot for `ask`'s scope now (by the store's clock), or says when to ask
    /// again. Answers `[granted (0 or 1), wait in µs, hold left in µs, the slot on the store's
    /// clock in µs]` ([`SlotReply::parse`]).
    async fn reserve(&self, ask: &SlotAsk) -> Result<Vec<i64>, StoreError>;

    /// Publishes a 429 hold: no slot of the scope is granted before `ask.hold()` from now (by the
    /// store's clock). A shorter hold never shortens a longer one.
    async fn publish_hold(&self, ask: &HoldAsk) -> Result<(), StoreError>;
}

/// A store shared by several clients of one process (one connection for all of them).
#[async_trait::async_trait]
impl<S: PacingStore + ?Sized> PacingStore for std::sync::Arc<S> {
    async fn reserve(&self, ask: &SlotAsk) -> Result<Vec<i64>, StoreError> {
        (**self).reserve(ask).await
    }

    async fn publish_hold(&self, ask: &HoldAsk) -> Result<(), StoreError> {
        (**self).publish_hold(ask).await
    }
}

/// A store could not be reached or answered something unreadable. Its message never holds a
/// password or the API key (implementations must not put a connection URL in it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError {
    message: String,
}

impl StoreError {
    /// A store error with this message (it must not contain secrets).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// What went wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StoreError {}

/// A send refused because the shared pacing store failed and the client was built
/// [fail-closed](OnStoreDown::FailClosed): nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "shared pacing store unavailable and the client is fail-closed, so nothing was sent: {cause}"
)]
pub struct SharedPacingError {
    cause: StoreError,
}

impl SharedPacingError {
    /// The store's failure.
    pub fn cause(&self) -> &StoreError {
        &self.cause
    }
}

/// What a client does when its pacing store cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum OnStoreDown {
    /// Send anyway, on the local pacer alone (the key's budget is then shared by nobody: several
    /// processes may draw 429s, which the retry engine handles). A warning and a counter say so.
    /// Asks the store again after [`SharedPacingOptions::retry_store_after`].
    #[default]
    FailOpen,
    /// Send nothing: the call fails with [`SharedPacingError`].
    FailClosed,
}

/// The settings of shared pacing that are not the store itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedPacingOptions {
    on_down: OnStoreDown,
    retry_store_after: Duration,
}

impl Default for SharedPacingOptions {
    fn default() -> Self {
        Self {
            on_down: OnStoreDown::FailOpen,
            retry_store_after: DEFAULT_RETRY_STORE_AFTER,
        }
    }
}

impl SharedPacingOptions {
    /// What to do when the store is down (default [`OnStoreDown::FailOpen`]).
    pub fn on_down(mut self, on_down: OnStoreDown) -> Self {
        self.on_down = on_down;
        self
    }

    /// How long to pace locally after a failure before asking the store again (default 1 s).
    pub fn retry_store_after(mut self, after: Duration) -> Self {
        self.retry_store_after = after;
        self
    }

    /// What the client does when the store is down ([`on_down`](Self::on_down)).
    pub fn when_down(&self) -> OnStoreDown {
        self.on_down
    }

    /// The pause after a failure ([`retry_store_after`](Self::retry_store_after)).
    pub fn store_retry_pause(&self) -> Duration {
        self.retry_store_after
    }
}

/// What to ask the store before a send: everything the reservation needs, in the store's units
/// (microseconds). Built by [`SharedPacing::ask`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotAsk {
    scope: String,
    limit: u32,
    window_micros: u64,
    interval_micros: u64,
    burst: u32,
    lookahead_micros: u64,
}

impl SlotAsk {
    /// The key's scope: `"k:"` and the first 32 hex digits of a domain-separated SHA-256 of
    /// the API key. Never the key. A store prefixes it with its own namespace.
    pub fn scope(&self) -> &str {
        &self.scope
    }
    /// At most this many sends in any window.
    pub fn limit(&self) -> u32 {
        self.limit
    }
    /// The sliding window, in µs.
    pub fn window_micros(&self) -> u64 {
        self.window_micros
    }
    /// The GCRA emission interval (`window / limit`), in µs.
    pub fn interval_micros(&self) -> u64 {
        self.interval_micros
    }
    /// The GCRA burst: this many sends may go back to back.
    pub fn burst(&self) -> u32 {
        self.burst
    }
    /// A slot at most this far ahead is booked (the client sleeps until it); a later one is
    /// only announced (the client asks again then). One emission interval.
    pub fn lookahead_micros(&self) -> u64 {
        self.lookahead_micros
    }
}

/// A 429 hold to publish for every process of the key: built by
/// [`SharedPacing::hold_to_publish`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldAsk {
    scope: String,
    hold_micros: u64,
}

impl HoldAsk {
    /// The key's scope (see [`SlotAsk::scope`]).
    pub fn scope(&self) -> &str {
        &self.scope
    }
    /// How long from now (by the store's clock) no slot is granted, in µs.
    pub fn hold_micros(&self) -> u64 {
        self.hold_micros
    }
}

/// The store's answer to a [`SlotAsk`], as the core reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlotReply {
    /// A slot is booked `wait` from now: send then.
    Granted {
        /// From the store's now to the slot.
        wait: Duration,
        /// The key's 429 hold still to run, if any.
        hold: Duration,
    },
    /// Nothing was booked: the first slot is `retry_in` from now; ask again then.
    Busy {
        /// From the store's now to the first free slot.
        retry_in: Duration,
        /// The key's 429 hold still to run, if any.
        hold: Duration,
    },
}

impl SlotReply {
    /// Reads `[granted, wait_us, hold_us, slot_us]`: `granted` is 1 (booked) or 0 (busy); the
    /// two durations are non-negative microseconds; `slot_us` is the slot as a reading of the
    /// store's own clock (for audits: a client never compares it with its clock, and the
    /// decision does not use it). Anything else is a [`StoreError`].
    pub fn parse(raw: &[i64]) -> Result<Self, StoreError> {
        let &[granted, wait, hold, _slot] = raw else {
            return Err(StoreError::new(format!(
                "a pacing store answered {} values, expected 4",
                raw.len()
            )));
        };
        let micros = |v: i64| {
            u64::try_from(v)
                .map(Duration::from_micros)
                .map_err(|_| StoreError::new("a pacing store answered a negative duration"))
        };
        let (wait, hold) = (micros(wait)?, micros(hold)?);
        match granted {
            1 => Ok(Self::Granted { wait, hold }),
            0 => Ok(Self::Busy {
                retry_in: wait,
                hold,
            }),
            other => Err(StoreError::new(format!(
                "a pacing store answered granted = {other}, expected 0 or 1"
            ))),
        }
    }
}

/// Whether to ask the store before this send: [`SharedPacing::ask`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreAsk {
    /// Ask the store this, then hand the answer to [`SharedPacing::handle_reply`].
    Ask(SlotAsk),
    /// The store is down and the client fails open: send on the local pacer alone.
    Local,
    /// The store is down and the client fails closed: do not send.
    Refuse(SharedPacingError),
}

/// What to do with a send after the store answered: [`SharedPacing::handle_reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlotDecision {
    /// A slot is booked at this instant (of the local clock): sleep until then and send.
    SendAt(Instant),
    /// Nothing was booked: sleep until this instant and ask again (one interval before the
    /// first free slot, so that the store books that slot then).
    AskAgainAt(Instant),
    /// The next slot is past `send_by` (the call's or poll's budget): do not wait for it.
    TooLate {
        /// The first instant the store would allow a send.
        first_slot: Instant,
    },
    /// The store failed and the client fails open: send on the local pacer alone.
    Local,
    /// The store failed and the client fails closed: do not send.
    Refuse(SharedPacingError),
}

impl SlotDecision {
    /// The failure a call hands to its retry engine when it gets no slot in time (the request
    /// was not sent).
    pub fn too_late_error(first_slot: Instant, now: Instant) -> TransportError {
        TransportError::not_sent(format!(
            "no shared pacing slot before the deadline (the next is {} ms away)",
            first_slot.saturating_duration_since(now).as_millis()
        ))
    }
}

/// Counters of a client's shared pacing, for metrics: [`SharedPacing::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SharedPacingStats {
    /// Slots the store booked.
    pub granted: u64,
    /// Answers "busy, ask again later" (each one a round trip that booked nothing).
    pub busy: u64,
    /// Round trips that failed.
    pub store_errors: u64,
    /// Sends that went on the local pacer alone because the store was down (fail-open).
    pub local_fallbacks: u64,
    /// Sends refused because the store was down (fail-closed).
    pub refused: u64,
    /// Holds published after a 429.
    pub holds_published: u64,
}

/// The shared-pacing state of one client: what to ask its store, how to read the answers,
/// whether the store is up. Sans-IO; the driver keeps it beside the [`Pacer`](super::Pacer).
#[derive(Debug, Clone)]
pub struct SharedPacing {
    scope: String,
    policy: PacingPolicy,
    options: SharedPacingOptions,
    /// `Some(t)`: the store failed; do not ask it again before `t`.
    down_until: Option<Instant>,
    last_error: Option<StoreError>,
    stats: SharedPacingStats,
}

impl SharedPacing {
    /// Shared pacing of `key` under `policy` (the same policy as the client's local pacer:
    /// its limit is then the limit of all processes together).
    pub fn new(key: &ApiKey, policy: PacingPolicy, options: SharedPacingOptions) -> Self {
        Self {
            scope: scope_of(key),
            policy,
            options,
            down_until: None,
            last_error: None,
            stats: SharedPacingStats::default(),
        }
    }

    /// Follows a key rotation: later asks use the new key's scope.
    pub fn set_key(&mut self, key: &ApiKey) {
        self.scope = scope_of(key);
    }

    /// The counters so far.
    pub fn stats(&self) -> SharedPacingStats {
        self.stats
    }

    /// The options.
    pub fn options(&self) -> SharedPacingOptions {
        self.options
    }

    /// Whether the store is taken as down at `now` (a failure less than
    /// [`retry_store_after`](SharedPacingOptions::retry_store_after) ago).
    pub fn is_down(&self, now: Instant) -> bool {
        self.down_until.is_some_and(|until| now < until)
    }

    /// What to do before a send at `now`: ask the store, or (while it is down) send locally or
    /// refuse.
    #[must_use]
    pub fn ask(&mut self, now: Instant) -> StoreAsk {
        if self.is_down(now) {
            return match self.options.on_down {
                OnStoreDown::FailOpen => {
                    self.stats.local_fallbacks += 1;
                    StoreAsk::Local
                }
                OnStoreDown::FailClosed => {
                    self.stats.refused += 1;
                    StoreAsk::Refuse(SharedPacingError {
                        cause: self
                            .last_error
                            .clone()
                            .unwrap_or_else(|| StoreError::new("the store is down")),
                    })
                }
            };
        }
        let window = self.policy.window();
        let interval = self.policy.interval();
        StoreAsk::Ask(SlotAsk {
            scope: self.scope.clone(),
            limit: self.policy.limit(),
            window_micros: micros(window),
            interval_micros: micros(interval),
            burst: self.policy.burst(),
            lookahead_micros: micros(interval),
        })
    }

    /// Reads the store's answer (`now` is read when the answer arrived: the store's wait
    /// starts then). `send_by`: the latest instant the send may start (the call's deadline;
    /// a poll's attempt timeout); a slot past it is [`SlotDecision::TooLate`].
    #[must_use]
    pub fn handle_reply(
        &mut self,
        now: Instant,
        reply: Result<Vec<i64>, StoreError>,
        send_by: Option<Instant>,
    ) -> SlotDecision {
        self.handle_reply_with_hold(now, reply, send_by).0
    }

    /// [`handle_reply`](Self::handle_reply), and the key's 429 hold as an instant of the
    /// local clock, if one is on: put it on the local [`Pacer`](super::Pacer) (`hold_until`)
    /// so that this client's schedulers wait too. The driver uses this one.
    #[must_use]
    pub fn handle_reply_with_hold(
        &mut self,
        now: Instant,
        reply: Result<Vec<i64>, StoreError>,
        send_by: Option<Instant>,
    ) -> (SlotDecision, Option<Instant>) {
        let parsed = reply.and_then(|raw| SlotReply::parse(&raw));
        let reply = match parsed {
            Ok(reply) => reply,
            Err(error) => {
                self.stats.store_errors += 1;
                let first = self.down_until.is_none();
                self.down_until = Some(now + self.options.retry_store_after);
                self.last_error = Some(error.clone());
                return match self.options.on_down {
                    OnStoreDown::FailOpen => {
                        if first {
                            tracing::warn!(
                                error = %error,
                                "shared pacing store unavailable: pacing locally until it answers again"
                            );
                        }
                        self.stats.local_fallbacks += 1;
                        (SlotDecision::Local, None)
                    }
                    OnStoreDown::FailClosed => {
                        self.stats.refused += 1;
                        (
                            SlotDecision::Refuse(SharedPacingError { cause: error }),
                            None,
                        )
                    }
                };
            }
        };
        if self.down_until.take().is_some() {
            tracing::info!("shared pacing store answers again");
            self.last_error = None;
        }
        let (decision, hold) = match reply {
            SlotReply::Granted { wait, hold } => {
                self.stats.granted += 1;
                let at = now + wait;
                match send_by {
                    Some(by) if at > by => (SlotDecision::TooLate { first_slot: at }, hold),
                    _ => (SlotDecision::SendAt(at), hold),
                }
            }
            SlotReply::Busy { retry_in, hold } => {
                self.stats.busy += 1;
                let at = now + retry_in;
                // Ask again one lookahead (an interval) early: the store then books the slot
                // itself, rather than the next one after this client's wake-up latency.
                let ask_at = now + retry_in.saturating_sub(self.policy.interval());
                match send_by {
                    Some(by) if at > by => (SlotDecision::TooLate { first_slot: at }, hold),
                    _ => (SlotDecision::AskAgainAt(ask_at), hold),
                }
            }
        };
        let hold = (!hold.is_zero()).then(|| now + hold);
        (decision, hold)
    }

    /// The hold to publish after the local pacer's hold went from `before` to `after` (a 429
    /// was judged), or `None` if it did not grow or already ended at `now`.
    #[must_use]
    pub fn hold_to_publish(
        &mut self,
        now: Instant,
        before: Option<Instant>,
        after: Option<Instant>,
    ) -> Option<HoldAsk> {
        let after = after?;
        if before.is_some_and(|b| b >= after) || after <= now {
            return None;
        }
        self.stats.holds_published += 1;
        Some(HoldAsk {
            scope: self.scope.clone(),
            hold_micros: micros(after - now),
        })
    }

    /// Records that publishing a hold failed (the store is then taken as down, as for a
    /// reservation; the hold still holds this client).
    pub fn handle_publish_error(&mut self, now: Instant, error: StoreError) {
        self.stats.store_errors += 1;
        self.down_until = Some(now + self.options.retry_store_after);
        self.last_error = Some(error);
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// `"k:"` + 32 hex digits of SHA-256(`"pipevideo-pacing-v1\0"` + key).
fn scope_of(key: &ApiKey) -> String {
    let mut hasher = Hash::new();
    hasher.update(b"pipevideo-pacing-v1\0");
    hasher.update(key.expose().as_bytes());
    let digest = hasher.finalize();
    let mut scope = String::with_capacity(34);
    scope.push_str("k:");
    for byte in &digest[..16] {
        scope.push_str(&format!("{byte:02x}"));
    }
    scope
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    fn shared(on_down: OnStoreDown) -> SharedPacing {
        let key = ApiKey::new("pv_deadbeef").unwrap();
        SharedPacing::new(
            &key,
            PacingPolicy::new(100, Duration::from_secs(60)).with_burst(5),
            SharedPacingOptions::default().on_down(on_down),
        )
    }

    #[test]
    fn the_ask_carries_the_policy_in_micros_and_a_hash_of_the_key() {
        let mut s = shared(OnStoreDown::FailOpen);
        let StoreAsk::Ask(ask) = s.ask(Instant::now()) else {
            panic!("up")
        };
        assert_eq!(ask.limit(), 100);
        assert_eq!(ask.window_micros(), 60_000_000);
        assert_eq!(ask.interval_micros(), 600_000);
        assert_eq!(ask.burst(), 5);
        assert_eq!(ask.lookahead_micros(), 600_000);
        assert_eq!(ask.scope().len(), 34);
        assert!(!ask.scope().contains("deadbeef"));
        let other = SharedPacing::new(
            &ApiKey::new("pv_other").unwrap(),
            PacingPolicy::default(),
            SharedPacingOptions::default(),
        );
        assert_ne!(other.scope, s.scope);
    }

    /// The scope is a key name in a store other clients share: it must not change between
    /// versions (or SHA-256 implementations), or two versions of the SDK pacing one key would
    /// pace apart. Pinned, and checked against RustCrypto's `sha2` (a dev-dependency).
    #[test]
    fn the_scope_is_stable_and_matches_sha2() {
        use sha2::Digest as _;
        assert_eq!(
            scope_of(&ApiKey::new("pv_deadbeef").unwrap()),
            "k:64d428aefd0fb8cf7b2b364a72139e16"
        );
        for key in ["pv_deadbeef", "pv_other", "x", &"pv_".repeat(100)] {
            let digest = sha2::Sha256::new()
                .chain_update(b"pipevideo-pacing-v1\0")
                .chain_update(key.as_bytes())
                .finalize();
            let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(scope_of(&ApiKey::new(key).unwrap()), format!("k:{hex}"));
        }
    }

    #[test]
    fn replies_become_local_instants() {
        let mut s = shared(OnStoreDown::FailOpen);
        let t0 = Instant::now();
        assert_eq!(
            s.handle_reply(t0, Ok(vec![1, 0, 0, 0]), None),
            SlotDecision::SendAt(t0)
        );
        assert_eq!(
            s.handle_reply_with_hold(t0, Ok(vec![0, 2_000_000, 1_500_000, 0]), None),
            (SlotDecision::AskAgainAt(t0 + MS(1400)), Some(t0 + MS(1500)))
        );
        assert_eq!(
            s.handle_reply(t0, Ok(vec![0, 2_000_000, 0, 0]), Some(t0 + MS(1000))),
            SlotDecision::TooLate {
                first_slot: t0 + MS(2000)
            }
        );
        let stats = s.stats();
        assert_eq!((stats.granted, stats.busy), (1, 2));
    }

    #[test]
    fn malformed_replies_are_store_errors() {
        for raw in [
            vec![],
            vec![1, 2, 0],
            vec![2, 0, 0, 0],
            vec![1, -1, 0, 0],
            vec![1, 0, -1, 0],
            vec![1, 0, 0, 0, 0],
        ] {
            assert!(SlotReply::parse(&raw).is_err(), "{raw:?}");
        }
    }

    #[test]
    fn fail_open_paces_locally_then_asks_again_and_recovers() {
        let mut s = shared(OnStoreDown::FailOpen);
        let t0 = Instant::now();
        let down = s.handle_reply(t0, Err(StoreError::new("connection refused")), None);
        assert_eq!(down, SlotDecision::Local);
        assert_eq!(s.ask(t0 + MS(500)), StoreAsk::Local);
        assert!(matches!(s.ask(t0 + MS(1000)), StoreAsk::Ask(_)));
        assert_eq!(
            s.handle_reply(t0 + MS(1000), Ok(vec![1, 0, 0, 0]), None),
            SlotDecision::SendAt(t0 + MS(1000))
        );
        assert!(!s.is_down(t0 + MS(1000)));
        let stats = s.stats();
        assert_eq!((stats.store_errors, stats.local_fallbacks), (1, 2));
    }

    #[test]
    fn fail_closed_refuses_with_the_cause() {
        let mut s = shared(OnStoreDown::FailClosed);
        let t0 = Instant::now();
        let SlotDecision::Refuse(e) =
            s.handle_reply(t0, Err(StoreError::new("connection refused")), None)
        else {
            panic!("refused")
        };
        assert_eq!(e.cause().message(), "connection refused");
        assert!(e.to_string().contains("fail-closed"));
        assert!(matches!(s.ask(t0), StoreAsk::Refuse(_)));
        assert_eq!(s.stats().refused, 2);
    }

    #[test]
    fn only_a_grown_hold_is_published() {
        let mut s = shared(OnStoreDown::FailOpen);
        let t0 = Instant::now();
        assert_eq!(s.hold_to_publish(t0, None, None), None);
        let ask = s.hold_to_publish(t0, None, Some(t0 + MS(42))).unwrap();
        assert_eq!(ask.hold_micros(), 42_000);
        assert_eq!(
            s.hold_to_publish(t0, Some(t0 + MS(42)), Some(t0 + MS(42))),
            None
        );
        assert_eq!(
            s.hold_to_publish(t0 + MS(50), None, Some(t0 + MS(42))),
            None
        );
    }
}
