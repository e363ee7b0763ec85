//! A running emulator: the [`Emulator`] handle a test holds, and [`BackgroundEmulator`] for callers
//! without a tokio runtime.
//!
//! The handle is the test-helper API: the addresses and well-known keys to point a client at, the
//! request and webhook logs to assert on, faults to push, and the store to inspect or change
//! (credits, keys, generations) while the server runs. Every method takes the store's or the log's
//! lock for a moment and never across an await. How an emulator is configured and started is in
//! `builder`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::builder::EmulatorBuilder;
use crate::config::{ApiKey, FailureCause, KeyState};
use crate::fault::{FaultConfig, FaultRule, RandomFaults};
use crate::log::{LogEntry, WebhookAttempt};
use crate::state::{self, Shared, lock};

/// The keys `start` derives from the seed (or is given), which the handle hands out.
#[derive(Clone)]
pub(crate) struct WellKnownKeys {
    pub(crate) demo: String,
    pub(crate) expired: String,
    pub(crate) revoked: String,
    pub(crate) other: String,
    pub(crate) broke: String,
}

/// A summary of one generation, for assertions (e.g. "how many generations did the soak create").
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GenerationInfo {
    /// `gen_...`
    pub id: String,
    /// The owning organization.
    pub org: String,
    /// The status now, in the responses API's words (`queued`, `in_progress`, `completed`, `failed`).
    pub status: String,
    /// The failure cause, decided at create (visible once the generation ends).
    pub failure: Option<FailureCause>,
}

/// A running emulator. Dropping it stops the server (without waiting); [`Emulator::shutdown`]
/// stops it and waits.
pub struct Emulator {
    pub(crate) shared: Arc<Shared>,
    pub(crate) addr: SocketAddr,
    pub(crate) keys: WellKnownKeys,
    pub(crate) shutdown: watch::Sender<bool>,
    pub(crate) server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl std::fmt::Debug for Emulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emulator")
            .field("addr", &self.addr)
            .field("time_scale", &self.shared.settings.scale)
            .finish_non_exhaustive()
    }
}

impl Emulator {
    /// A builder with the defaults: ephemeral port on 127.0.0.1, time scale 1, seed 0.
    pub fn builder() -> EmulatorBuilder {
        EmulatorBuilder::default()
    }

    /// The API base URL, `http://127.0.0.1:<port>/v1` (what `PIPEVIDEO_API_URL` takes).
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.shared.origin)
    }
    /// `http://127.0.0.1:<port>`: the control endpoints live under `/_emulator`.
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }
    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// The time scale (real seconds per emulated second).
    pub fn time_scale(&self) -> f64 {
        self.shared.settings.scale
    }
    /// Converts an emulated duration to the real one (e.g. the 60 s rate-limit window).
    pub fn scaled(&self, emulated: Duration) -> Duration {
        self.shared.real(emulated)
    }

    /// The bytes every video URL serves, whole (see
    /// [`EmulatorBuilder::video_size`](crate::EmulatorBuilder::video_size)): what a download
    /// must equal byte for byte.
    pub fn video_bytes(&self) -> Vec<u8> {
        self.shared.video.to_vec()
    }

    /// The size of every video in bytes.
    pub fn video_size(&self) -> u64 {
        self.shared.video.size()
    }

    /// The active key of `org_demo` (`pv_demo_` + 32 hex digits unless set by the builder).
    pub fn demo_key(&self) -> &str {
        &self.keys.demo
    }
    /// A key of `org_demo` that gets 401 `API key has expired`.
    pub fn expired_key(&self) -> &str {
        &self.keys.expired
    }
    /// A key of `org_demo` that gets 401 `API key has been revoked`.
    pub fn revoked_key(&self) -> &str {
        &self.keys.revoked
    }
    /// The active key of `org_other` (a different organization: its generations are 404 to the demo key).
    pub fn other_org_key(&self) -> &str {
        &self.keys.other
    }
    /// The active key of `org_broke`, which has 0 cents: every create answers 400 insufficient credits.
    pub fn no_credits_key(&self) -> &str {
        &self.keys.broke
    }

    /// The token the control plane (`/_emulator/*` over HTTP) requires in the
    /// `X-Emulator-Token` header: `emu_` and 32 hex digits, drawn from the OS RNG at start (so
    /// never the same twice, whatever the seed). The binary prints it at start. The handle's
    /// own methods need no token.
    pub fn control_token(&self) -> &str {
        &self.shared.control.token
    }

    /// Every request the log holds, in arrival order: the most recent
    /// [`request_log_capacity`](crate::EmulatorBuilder::request_log_capacity) ones.
    pub fn requests(&self) -> Vec<LogEntry> {
        lock(&self.shared.log).iter().cloned().collect()
    }
    /// Requests with `seq >= since` (of those the log holds).
    pub fn requests_since(&self, since: u64) -> Vec<LogEntry> {
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.seq >= since)
            .cloned()
            .collect()
    }
    /// Per key, the requests logged so far and the 429s sent to them (the per-key rate
    /// limiter's, and all 429s including injected faults): who drew the limit, and how often.
    pub fn rate_limits(&self) -> crate::RateLimitReport {
        crate::RateLimitReport::from_log(lock(&self.shared.log).iter())
    }
    /// How many requests the log dropped, oldest first, to stay within its capacity.
    pub fn dropped_requests(&self) -> u64 {
        lock(&self.shared.log).dropped()
    }
    /// Forgets the logged requests (sequence numbers keep counting).
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Appends a scripted fault rule.
    pub fn push_fault(&self, rule: FaultRule) {
        lock(&self.shared.faults).push(rule);
    }
    /// Replaces the whole fault configuration.
    pub fn set_faults(&self, config: FaultConfig) {
        lock(&self.shared.faults).replace(config);
    }
    /// Sets or clears the random faults (the fault RNG is reseeded).
    pub fn set_random_faults(&self, random: Option<RandomFaults>) {
        lock(&self.shared.faults).set_random(random);
    }
    /// Removes every fault rule and the random faults.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).replace(FaultConfig::default());
    }
    /// The current fault configuration (rules with their remaining counts).
    pub fn faults(&self) -> FaultConfig {
        lock(&self.shared.faults).config()
    }

    /// Every webhook delivery attempt so far.
    pub fn webhook_deliveries(&self) -> Vec<WebhookAttempt> {
        lock(&self.shared.deliveries).clone()
    }

    /// The balance of `org` in cents, as `GET /v1/usage` would report it now.
    pub fn credits_cents(&self, org: &str) -> i64 {
        lock(&self.shared.state).balance(org, Instant::now())
    }
    /// Sets the balance of `org` in cents (creates the organization if needed).
    pub fn set_credits_cents(&self, org: &str, cents: i64) {
        lock(&self.shared.state).set_balance(org, cents, Instant::now());
    }
    /// Adds a key to `org` (created if needed).
    pub fn add_key(&self, org: &str, key: &ApiKey) {
        lock(&self.shared.state).add_key(org, key.secret(), key.state());
    }
    /// Revokes a key at once (later requests get 401). Returns false for an unknown key.
    pub fn revoke_key(&self, secret: &str) -> bool {
        lock(&self.shared.state).set_key_state(secret, KeyState::Revoked)
    }
    /// Expires a key at once. Returns false for an unknown key.
    pub fn expire_key(&self, secret: &str) -> bool {
        lock(&self.shared.state).set_key_state(secret, KeyState::Expired)
    }

    /// Every generation created so far, in creation order.
    pub fn generations(&self) -> Vec<GenerationInfo> {
        let now = Instant::now();
        lock(&self.shared.state)
            .all_generations()
            .into_iter()
            .map(|g| GenerationInfo {
                status: match g.phase(now) {
                    state::Phase::Queued => "queued",
                    state::Phase::InProgress => "in_progress",
                    state::Phase::Completed => "completed",
                    state::Phase::Failed => "failed",
                }
                .to_owned(),
                id: g.id,
                org: g.org,
                failure: g.failure,
            })
            .collect()
    }

    /// Stops accepting connections, drops open ones and pending webhooks, and waits for the server.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        let server = lock(&self.server).take();
        if let Some(server) = server {
            let _ = server.await;
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// An emulator running on its own thread and runtime; see [`EmulatorBuilder::start_in_background`].
/// Derefs to [`Emulator`]. Dropping it stops the server and joins the thread.
#[derive(Debug)]
pub struct BackgroundEmulator {
    pub(crate) emulator: Option<Emulator>,
    pub(crate) thread: Option<std::thread::JoinHandle<()>>,
}

impl BackgroundEmulator {
    /// Stops the server and joins its thread.
    pub fn shutdown(mut self) {
        self.stop();
    }
    fn stop(&mut self) {
        if let Some(emu) = self.emulator.take() {
            drop(emu);
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::ops::Deref for BackgroundEmulator {
    type Target = Emulator;
    fn deref(&self) -> &Emulator {
        self.emulator
            .as_ref()
            .expect("the emulator lives until shutdown")
    }
}

impl Drop for BackgroundEmulator {
    fn drop(&mut self) {
        self.stop();
    }
}
