//! The store: what the emulator remembers and the rules that keep it consistent.
//!
//! `Shared` is everything the server shares between connections: the settings fixed at start,
//! the clock (one time scale maps emulated time to real time), the signing key of video URLs, and
//! the locks around the mutable parts. `State` is the mutable heart behind one of those locks:
//! keys and organizations, credit, generations in creation order, rate-limit counters, idempotency
//! records, and the two seeded random streams. Its invariants live here and nowhere else:
//!
//! - a generation's phase is derived from the clock, never stored (`Generation::phase`);
//! - the balance is derived too: starting credit + manual adjustments − charges + refunds of the
//!   failures that have become visible (`State::balance`);
//! - a generation enters the map, the creation order and (with a key) the idempotency records
//!   together (`State::insert`);
//! - failures draw from a stream of their own, two draws per create, so the n-th generation's fate
//!   depends on the seed and n alone (`State::draw_failure`).
//!
//! Everything here is synchronous: no lock is held across an await. Matching requests lives in
//! `routes`, the endpoints in `handlers`, the usage and model reports in `reports`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use rand::Rng;
use rand::rngs::SmallRng;
use sha2::Sha256;

use crate::config::{
    DurationDistribution, ErrorShape, FailureCause, KeyState, RateLimit, RateWindow, WebhookConfig,
};
use crate::fault::FaultPlan;
use crate::log::{LogEntry, WebhookAttempt};

/// Settings fixed at start.
pub(crate) struct Settings {
    pub(crate) scale: f64,
    pub(crate) durations: DurationDistribution,
    pub(crate) rate_limit: Option<RateLimit>,
    pub(crate) idempotency: bool,
    pub(crate) webhooks: Option<WebhookConfig>,
    pub(crate) failure_rate: f64,
    pub(crate) scripted_failures: Vec<(String, FailureCause)>,
    pub(crate) price_cents: i64,
    pub(crate) url_ttl: Duration,
    pub(crate) error_shape: ErrorShape,
    /// Whether `/files` supports `Range` (see `EmulatorBuilder::file_ranges`).
    pub(crate) file_ranges: bool,
    /// How long a connection may take to send a request's headers (also the idle time allowed
    /// between two requests on one connection).
    pub(crate) header_read_timeout: Duration,
    /// How many connections are served at once; more wait to be accepted.
    pub(crate) max_connections: usize,
}

/// What `/_emulator/*` requires: the per-run token and a `Host` that is this machine.
pub(crate) struct ControlGuard {
    /// `emu_` + 32 hex digits from the OS RNG, made at start.
    pub(crate) token: String,
    /// The bound IP, when it is a specific address (not `0.0.0.0` or `::`).
    pub(crate) bound_ip: Option<std::net::IpAddr>,
    /// More host names the control plane answers (lowercase, without a port).
    pub(crate) extra_hosts: Vec<String>,
}

/// The request log: the most recent `capacity` entries, and how many older ones were dropped.
#[derive(Debug)]
pub(crate) struct RequestLog {
    entries: VecDeque<LogEntry>,
    capacity: usize,
    dropped: u64,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: VecDeque::with_capacity(capacity.min(1024)),
            capacity,
            dropped: 0,
        }
    }

    /// Appends an entry, dropping the oldest when full.
    pub(crate) fn push(&mut self, entry: LogEntry) {
        if self.capacity == 0 {
            self.dropped += 1;
            return;
        }
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
            self.dropped += 1;
        }
        self.entries.push_back(entry);
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &LogEntry> {
        self.entries.iter()
    }

    /// Forgets the entries (the count of dropped ones stays: it counts what the cap took).
    pub(crate) fn clear(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// Everything the server shares between connections.
pub(crate) struct Shared {
    pub(crate) started: Instant,
    pub(crate) origin: String,
    pub(crate) settings: Settings,
    pub(crate) state: Mutex<State>,
    pub(crate) faults: Mutex<FaultPlan>,
    pub(crate) log: Mutex<RequestLog>,
    pub(crate) control: ControlGuard,
    pub(crate) log_seq: Mutex<u64>,
    pub(crate) deliveries: Mutex<Vec<WebhookAttempt>>,
    pub(crate) url_key: [u8; 32],
    pub(crate) video: std::sync::Arc<crate::file::Video>,
    pub(crate) tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

/// The longest real wait the emulator computes with: a century. Anything a fault or a
/// setting asks beyond it (a `retry_after` of 1e19 s) is this, so that a wait added to an
/// `Instant`, a `SystemTime` or a count of Unix milliseconds can never overflow.
pub(crate) const MAX_REAL: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// `emulated × scale`, at most [`MAX_REAL`]: `Duration::mul_f64` panics when the product does
/// not fit a `Duration` (1e19 emulated seconds at a scale of 2). A product that is not a number
/// (no finite scale makes one) is taken as [`MAX_REAL`] too.
pub(crate) fn scale_duration(emulated: Duration, scale: f64) -> Duration {
    Duration::try_from_secs_f64(emulated.as_secs_f64() * scale)
        .map_or(MAX_REAL, |real| real.min(MAX_REAL))
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Shared {
    /// Emulated time to real time (see [`scale_duration`]).
    pub(crate) fn real(&self, emulated: Duration) -> Duration {
        scale_duration(emulated, self.settings.scale)
    }
    pub(crate) fn elapsed_ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.started).as_millis() as u64
    }

    pub(crate) fn sign_url(&self, id: &str, expires_ms: u64) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.url_key).expect("HMAC accepts any key length");
        mac.update(format!("{id}.{expires_ms}").as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub(crate) fn video_url(&self, id: &str) -> (String, u64) {
        let expires =
            unix_ms_now().saturating_add(self.real(self.settings.url_ttl).as_millis() as u64);
        let sig = self.sign_url(id, expires);
        (
            format!(
                "{}/files/{id}.mp4?expires={expires}&signature={sig}",
                self.origin
            ),
            expires,
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Api {
    Responses,
    Legacy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Queued,
    InProgress,
    Completed,
    Failed,
}

impl Phase {
    pub(crate) fn word(self, api: Api) -> &'static str {
        match (self, api) {
            (Self::Queued, Api::Responses) => "queued",
            (Self::Queued, Api::Legacy) => "pending",
            (Self::InProgress, Api::Responses) => "in_progress",
            (Self::InProgress, Api::Legacy) => "processing",
            (Self::Completed, _) => "completed",
            (Self::Failed, _) => "failed",
        }
    }
}

/// One generation. Its phase is derived from elapsed real time and the time scale.
#[derive(Clone, Debug)]
pub(crate) struct Generation {
    pub(crate) id: String,
    pub(crate) org: String,
    pub(crate) model: String,
    pub(crate) engine: Option<String>,
    pub(crate) provider: String,
    pub(crate) created_at: Instant,
    pub(crate) created_unix_ms: u64,
    /// Real time spent queued.
    pub(crate) queued_for: Duration,
    /// Real time from creation to the terminal state.
    pub(crate) runs_for: Duration,
    /// Emulated latency in milliseconds (what the API reports).
    pub(crate) latency_ms: u64,
    pub(crate) failure: Option<FailureCause>,
    pub(crate) price_cents: i64,
    pub(crate) charged: bool,
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
}

impl Generation {
    pub(crate) fn phase(&self, now: Instant) -> Phase {
        let elapsed = now.saturating_duration_since(self.created_at);
        if elapsed >= self.runs_for {
            if self.failure.is_some() {
                Phase::Failed
            } else {
                Phase::Completed
            }
        } else if elapsed >= self.queued_for {
            Phase::InProgress
        } else {
            Phase::Queued
        }
    }
    pub(crate) fn terminal_at(&self) -> Instant {
        self.created_at + self.runs_for
    }
    pub(crate) fn completed_unix_ms(&self) -> u64 {
        self.created_unix_ms + self.latency_ms
    }
    pub(crate) fn cost_cents(&self, phase: Phase) -> Option<i64> {
        match phase {
            Phase::Completed => Some(self.price_cents),
            Phase::Failed => Some(0),
            _ => None,
        }
    }
}

struct OrgState {
    initial_cents: i64,
    adjust_cents: i64,
}

#[derive(Default)]
struct RateState {
    sliding: VecDeque<Instant>,
    fixed_window: u64,
    fixed_count: u32,
}

pub(crate) struct State {
    pub(crate) rng: SmallRng,
    /// Failure draws only, so the n-th generation's fate depends on the seed and n alone.
    fail_rng: SmallRng,
    keys: HashMap<String, (String, KeyState)>,
    orgs: HashMap<String, OrgState>,
    generations: HashMap<String, Generation>,
    order: Vec<String>,
    rate: HashMap<String, RateState>,
    idempotency: HashMap<(String, String), (String, Bytes)>,
}

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

pub(crate) fn random_id(rng: &mut impl Rng, prefix: &str, len: usize) -> String {
    let mut s = String::with_capacity(prefix.len() + len);
    s.push_str(prefix);
    for _ in 0..len {
        s.push(ALNUM[rng.random_range(0..ALNUM.len())] as char);
    }
    s
}

pub(crate) fn random_hex(rng: &mut impl Rng, len: usize) -> String {
    (0..len)
        .map(|_| char::from_digit(rng.random_range(0..16u32), 16).unwrap_or('0'))
        .collect()
}

impl State {
    pub(crate) fn new(seed: u64, orgs: &[crate::config::Organization]) -> Self {
        use rand::SeedableRng;
        let rng = SmallRng::seed_from_u64(seed);
        let fail_rng = SmallRng::seed_from_u64(seed ^ 0x5eed_fa11_0000_0001);
        let mut keys = HashMap::new();
        let mut org_states = HashMap::new();
        for org in orgs {
            org_states.insert(
                org.id.clone(),
                OrgState {
                    initial_cents: org.credits_cents,
                    adjust_cents: 0,
                },
            );
            for key in &org.keys {
                keys.insert(key.secret().to_owned(), (org.id.clone(), key.state()));
            }
        }
        Self {
            rng,
            fail_rng,
            keys,
            orgs: org_states,
            generations: HashMap::new(),
            order: Vec::new(),
            rate: HashMap::new(),
            idempotency: HashMap::new(),
        }
    }

    pub(crate) fn set_key_state(&mut self, secret: &str, state: KeyState) -> bool {
        match self.keys.get_mut(secret) {
            Some(entry) => {
                entry.1 = state;
                true
            }
            None => false,
        }
    }

    pub(crate) fn add_key(&mut self, org: &str, secret: &str, state: KeyState) {
        self.orgs.entry(org.to_owned()).or_insert(OrgState {
            initial_cents: 0,
            adjust_cents: 0,
        });
        self.keys.insert(secret.to_owned(), (org.to_owned(), state));
    }

    /// The balance as seen at `now`: starting credit, plus manual adjustments, minus charges,
    /// plus refunds of failures that have become visible.
    pub(crate) fn balance(&self, org: &str, now: Instant) -> i64 {
        let Some(o) = self.orgs.get(org) else {
            return 0;
        };
        let mut balance = o.initial_cents + o.adjust_cents;
        for g in self
            .generations
            .values()
            .filter(|g| g.org == org && g.charged)
        {
            balance -= g.price_cents;
            if g.failure.is_some() && now >= g.terminal_at() {
                balance += g.price_cents;
            }
        }
        balance
    }

    pub(crate) fn set_balance(&mut self, org: &str, cents: i64, now: Instant) {
        let current = self.balance(org, now);
        let o = self.orgs.entry(org.to_owned()).or_insert(OrgState {
            initial_cents: 0,
            adjust_cents: 0,
        });
        o.adjust_cents += cents - current;
    }

    pub(crate) fn generation(&self, id: &str) -> Option<&Generation> {
        self.generations.get(id)
    }

    pub(crate) fn all_generations(&self) -> Vec<Generation> {
        self.order
            .iter()
            .filter_map(|id| self.generations.get(id).cloned())
            .collect()
    }

    /// Generations in creation order.
    pub(crate) fn generations_in_order(&self) -> impl Iterator<Item = &Generation> {
        self.order.iter().filter_map(|id| self.generations.get(id))
    }

    /// Every generation, in no particular order.
    pub(crate) fn generations(&self) -> impl Iterator<Item = &Generation> {
        self.generations.values()
    }

    /// The organization and state of a key. Keys are matched exactly, stray whitespace included.
    pub(crate) fn key(&self, secret: &str) -> Option<(String, KeyState)> {
        self.keys.get(secret).cloned()
    }

    /// The generation id and the body of the first create `org` sent with this idempotency key.
    pub(crate) fn replay(&self, org: &str, key: &str) -> Option<&(String, Bytes)> {
        self.idempotency.get(&(org.to_owned(), key.to_owned()))
    }

    /// The failure draws of one create: a number in `[0, 1)` to compare with the failure rate, and
    /// the runtime cause to use if it is below. Always two draws per create, so the stream stays
    /// aligned whatever the prompt says.
    pub(crate) fn draw_failure(&mut self) -> (f64, FailureCause) {
        const RUNTIME: [FailureCause; 4] = [
            FailureCause::ProviderFailure,
            FailureCause::ProviderTimeout,
            FailureCause::GenerationError,
            FailureCause::CreditReservationFailed,
        ];
        let draw: f64 = self.fail_rng.random();
        let random_cause = RUNTIME[self.fail_rng.random_range(0..RUNTIME.len())];
        (draw, random_cause)
    }

    /// Records a new generation, with the idempotency key and reply body of its create if any.
    pub(crate) fn insert(&mut self, g: Generation, idempotency: Option<(&str, Bytes)>) {
        let id = g.id.clone();
        if let Some((key, body)) = idempotency {
            self.idempotency
                .insert((g.org.clone(), key.to_owned()), (id.clone(), body));
        }
        self.generations.insert(id.clone(), g);
        self.order.push(id);
    }

    /// Counts one request against the key's limit, or says how long (real time) to wait.
    pub(crate) fn check_rate(
        &mut self,
        fp: &str,
        limit: &RateLimit,
        window_real: Duration,
        started: Instant,
        now: Instant,
    ) -> Result<(), Duration> {
        let st = self.rate.entry(fp.to_owned()).or_default();
        match limit.kind {
            RateWindow::Sliding => {
                while st.sliding.front().is_some_and(|t| *t + window_real <= now) {
                    st.sliding.pop_front();
                }
                if st.sliding.len() >= limit.requests as usize {
                    let oldest = st.sliding.front().copied().unwrap_or(now);
                    return Err((oldest + window_real).saturating_duration_since(now));
                }
                st.sliding.push_back(now);
                Ok(())
            }
            RateWindow::Fixed => {
                let win = window_real.as_nanos().max(1);
                let idx = (now.saturating_duration_since(started).as_nanos() / win) as u64;
                if idx != st.fixed_window {
                    st.fixed_window = idx;
                    st.fixed_count = 0;
                }
                if st.fixed_count >= limit.requests {
                    let end = started + Duration::from_nanos(((idx + 1) as u128 * win) as u64);
                    return Err(end.saturating_duration_since(now));
                }
                st.fixed_count += 1;
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod scale_tests {
    use std::time::Duration;

    use proptest::prelude::*;

    use super::{MAX_REAL, scale_duration};

    proptest! {
        /// Every emulated duration at every valid scale (0, 1000]: never a panic, at most
        /// `MAX_REAL`, and exactly `mul_f64` wherever that fits.
        #[test]
        fn scaling_never_overflows(
            secs in prop_oneof![Just(u64::MAX), any::<u64>(), 0u64..1_000_000],
            nanos in 0u32..1_000_000_000,
            scale in prop_oneof![Just(1000.0), Just(f64::MIN_POSITIVE), 1e-9f64..=1000.0],
        ) {
            let emulated = Duration::new(secs, nanos);
            let real = scale_duration(emulated, scale);
            prop_assert!(real <= MAX_REAL);
            if emulated.as_secs_f64() * scale < MAX_REAL.as_secs_f64() {
                prop_assert_eq!(real, emulated.mul_f64(scale));
            }
        }
    }
}
