//! Starting an emulator: [`EmulatorBuilder`], its settings and their checks, and [`StartError`].
//!
//! The builder collects settings (all plain values with documented defaults), checks them in
//! `validate`, then `start` binds the socket, derives the well-known keys and the URL-signing key
//! from the seed, seeds the store with the three built-in organizations plus the caller's, and
//! spawns the server. `start_in_background` does the same on a thread of its own with its own
//! runtime. What a running emulator offers is in `handle`.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;

use crate::config::{
    ApiKey, DurationDistribution, ErrorShape, FailureCause, Organization, RateLimit, WebhookConfig,
    fingerprint,
};
use crate::fault::{self, FaultConfig, FaultRule, RandomFaults};
use crate::file::Video;
use crate::handle::{BackgroundEmulator, Emulator, WellKnownKeys};
use crate::state::{self, ControlGuard, RequestLog, Settings, Shared, State, lock};
use crate::{BROKE_ORG, DEMO_ORG, OTHER_ORG, server};

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// A setting is out of range.
    #[error("invalid emulator configuration: {0}")]
    InvalidConfig(String),
    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The background thread or its runtime could not start.
    #[error("cannot start the emulator's runtime: {0}")]
    Runtime(std::io::Error),
}

/// The control plane's per-run token: `emu_` and 32 hex digits from the operating system's RNG
/// (never the seed: a seeded token would be the same for every run).
fn control_token() -> Result<String, StartError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| StartError::Runtime(std::io::Error::other(e.to_string())))?;
    Ok(format!(
        "emu_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// Configures an [`Emulator`]; made by [`Emulator::builder`]. Its `Debug` output redacts keys.
pub struct EmulatorBuilder {
    bind: SocketAddr,
    time_scale: f64,
    seed: u64,
    durations: DurationDistribution,
    organizations: Vec<Organization>,
    demo_key: Option<String>,
    demo_credits: i64,
    rate_limit: Option<RateLimit>,
    idempotency: bool,
    webhooks: Option<WebhookConfig>,
    faults: FaultConfig,
    failure_rate: f64,
    scripted_failures: Vec<(String, FailureCause)>,
    price_cents: i64,
    url_ttl: Duration,
    error_shape: ErrorShape,
    video_size: Option<u64>,
    file_ranges: bool,
    request_log_capacity: usize,
    header_read_timeout: Duration,
    max_connections: usize,
    control_hosts: Vec<String>,
}

/// The default of `EmulatorBuilder::request_log_capacity`.
const DEFAULT_REQUEST_LOG_CAPACITY: usize = 100_000;
/// The default of `EmulatorBuilder::header_read_timeout` (hyper's own default).
const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// The default of `EmulatorBuilder::max_connections`.
const DEFAULT_MAX_CONNECTIONS: usize = 512;

impl std::fmt::Debug for EmulatorBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatorBuilder")
            .field("bind", &self.bind)
            .field("time_scale", &self.time_scale)
            .field("seed", &self.seed)
            .field("durations", &self.durations)
            .field("organizations", &self.organizations)
            .field("demo_key", &self.demo_key.as_deref().map(fingerprint))
            .field("demo_credits", &self.demo_credits)
            .field("rate_limit", &self.rate_limit)
            .field("idempotency", &self.idempotency)
            .field("webhooks", &self.webhooks)
            .field("faults", &self.faults)
            .field("failure_rate", &self.failure_rate)
            .field("price_cents", &self.price_cents)
            .field("url_ttl", &self.url_ttl)
            .field("error_shape", &self.error_shape)
            .field("video_size", &self.video_size)
            .field("file_ranges", &self.file_ranges)
            .field("request_log_capacity", &self.request_log_capacity)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_connections", &self.max_connections)
            .field("control_hosts", &self.control_hosts)
            .finish_non_exhaustive()
    }
}

impl Default for EmulatorBuilder {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            time_scale: 1.0,
            seed: 0,
            durations: DurationDistribution::default(),
            organizations: Vec::new(),
            demo_key: None,
            demo_credits: 10_000,
            rate_limit: Some(RateLimit::default()),
            idempotency: true,
            webhooks: None,
            faults: FaultConfig::default(),
            failure_rate: 0.02,
            scripted_failures: Vec::new(),
            price_cents: 12,
            url_ttl: Duration::from_secs(3600),
            error_shape: ErrorShape::Message,
            video_size: None,
            file_ranges: true,
            request_log_capacity: DEFAULT_REQUEST_LOG_CAPACITY,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            control_hosts: Vec::new(),
        }
    }
}

impl EmulatorBuilder {
    /// Listen address. Default `127.0.0.1:0` (an ephemeral port).
    #[must_use]
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }
    /// Listen on this port of the current bind address (0 = ephemeral).
    #[must_use]
    pub fn port(mut self, port: u16) -> Self {
        self.bind.set_port(port);
        self
    }
    /// Real seconds per emulated second (default 1.0). `0.01` runs a minute in 0.6 s. Must be
    /// finite and in `(0, 1000]`.
    #[must_use]
    pub fn time_scale(mut self, scale: f64) -> Self {
        self.time_scale = scale;
        self
    }
    /// Seed of every random choice: keys, ids, durations, failures (default 0).
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// How long generations take, in emulated time.
    #[must_use]
    pub fn durations(mut self, durations: DurationDistribution) -> Self {
        self.durations = durations;
        self
    }
    /// Adds an organization with its keys and credit.
    #[must_use]
    pub fn organization(mut self, org: Organization) -> Self {
        self.organizations.push(org);
        self
    }
    /// Replaces the generated demo key (any string; by convention `pv_` + hex).
    #[must_use]
    pub fn demo_key(mut self, key: impl Into<String>) -> Self {
        self.demo_key = Some(key.into());
        self
    }
    /// Starting balance of `org_demo`, in cents (default 10 000).
    #[must_use]
    pub fn demo_credits_cents(mut self, cents: i64) -> Self {
        self.demo_credits = cents;
        self
    }
    /// The per-key rate limit (default 100 per emulated minute, sliding).
    #[must_use]
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }
    /// No rate limit at all.
    #[must_use]
    pub fn no_rate_limit(mut self) -> Self {
        self.rate_limit = None;
        self
    }
    /// Whether `Idempotency-Key` replays the first create (default true).
    #[must_use]
    pub fn idempotency(mut self, honour: bool) -> Self {
        self.idempotency = honour;
        self
    }
    /// Deliver webhooks.
    #[must_use]
    pub fn webhooks(mut self, config: WebhookConfig) -> Self {
        self.webhooks = Some(config);
        self
    }
    /// The fault configuration at start (replaces any earlier rules).
    #[must_use]
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.faults = faults;
        self
    }
    /// Adds one scripted fault rule.
    #[must_use]
    pub fn fault(mut self, rule: FaultRule) -> Self {
        self.faults.rules.push(rule);
        self
    }
    /// Random faults from the start.
    #[must_use]
    pub fn random_faults(mut self, random: RandomFaults) -> Self {
        self.faults.random = Some(random);
        self
    }
    /// Probability that a generation fails with a random runtime cause (default 0.02; use 0.0 for
    /// tests that need every generation to complete).
    #[must_use]
    pub fn failure_rate(mut self, rate: f64) -> Self {
        self.failure_rate = rate;
        self
    }
    /// Generations whose prompt contains `marker` fail with `cause`.
    #[must_use]
    pub fn fail_prompts_containing(
        mut self,
        marker: impl Into<String>,
        cause: FailureCause,
    ) -> Self {
        self.scripted_failures.push((marker.into(), cause));
        self
    }
    /// Price of a responses-API generation in cents (default 12).
    #[must_use]
    pub fn price_cents(mut self, cents: i64) -> Self {
        self.price_cents = cents;
        self
    }
    /// How long a video URL stays valid, in emulated time (default 1 h).
    #[must_use]
    pub fn video_url_ttl(mut self, ttl: Duration) -> Self {
        self.url_ttl = ttl;
        self
    }
    /// The size of every video in bytes: an MP4 whose `mdat` box is filled with a fixed
    /// pattern, generated as it is served (a gigabyte costs no memory). Default: a valid sample
    /// MP4 of about 180 bytes. [`Emulator::video_bytes`] gives the bytes for comparison.
    #[must_use]
    pub fn video_size(mut self, bytes: u64) -> Self {
        self.video_size = Some(bytes);
        self
    }
    /// Whether the video host supports `Range` (default yes). Off, it is a host without range
    /// support for good, as [`Fault::NoRanges`](crate::Fault::NoRanges) is for one request.
    #[must_use]
    pub fn file_ranges(mut self, enabled: bool) -> Self {
        self.file_ranges = enabled;
        self
    }
    /// How many requests the request log keeps (default 100 000): past it the oldest entry is
    /// dropped for each new one, and [`Emulator::dropped_requests`] counts them. Sequence
    /// numbers keep counting. 0 keeps none.
    #[must_use]
    pub fn request_log_capacity(mut self, entries: usize) -> Self {
        self.request_log_capacity = entries;
        self
    }
    /// How long a connection may take to send a request's headers (default 30 s, as hyper):
    /// a slower one is closed (slowloris). It also bounds how long a kept-alive connection may
    /// sit idle between two requests, and how long a request's body may take (then `408`).
    /// Must not be zero.
    #[must_use]
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout;
        self
    }
    /// How many connections are served at once (default 512). Further connections wait in the
    /// listening socket's backlog until one closes (an idle one within
    /// [`header_read_timeout`](Self::header_read_timeout)). At least 1.
    #[must_use]
    pub fn max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }
    /// One more host name the control plane answers in the `Host` header, besides
    /// `localhost`, loopback addresses and the bound address: the name other containers reach
    /// an emulator bound to `0.0.0.0` by (e.g. `emulator` in a compose file). Any port.
    #[must_use]
    pub fn allow_control_host(mut self, name: impl Into<String>) -> Self {
        self.control_hosts.push(name.into().to_ascii_lowercase());
        self
    }
    /// The shape of ordinary error bodies (default `{ "message" }`).
    #[must_use]
    pub fn error_shape(mut self, shape: ErrorShape) -> Self {
        self.error_shape = shape;
        self
    }

    fn validate(&self) -> Result<(), StartError> {
        let bad = |m: String| Err(StartError::InvalidConfig(m));
        if !(self.time_scale.is_finite() && self.time_scale > 0.0 && self.time_scale <= 1000.0) {
            return bad(format!(
                "time_scale must be in (0, 1000], got {}",
                self.time_scale
            ));
        }
        if !(0.0..=1.0).contains(&self.failure_rate) {
            return bad(format!(
                "failure_rate must be in [0, 1], got {}",
                self.failure_rate
            ));
        }
        if self.header_read_timeout.is_zero() {
            return bad("header_read_timeout must not be zero".into());
        }
        if self.max_connections == 0 {
            return bad("max_connections must be at least 1".into());
        }
        if let Some(l) = self.rate_limit
            && (l.requests == 0 || l.window.is_zero())
        {
            return bad("rate limit needs at least 1 request per non-zero window".into());
        }
        if let Some(r) = &self.faults.random {
            let total: f64 = r.faults.iter().map(|(_, p)| *p).sum();
            if r.faults.iter().any(|(_, p)| !(0.0..=1.0).contains(p)) || total > 1.0 + 1e-9 {
                return bad(format!(
                    "random fault probabilities must each be in [0, 1] and sum to at most 1, got {total}"
                ));
            }
        }
        if let Some(w) = &self.webhooks {
            if w.schedule.is_empty() {
                return bad("webhook schedule needs at least one attempt".into());
            }
            if let Some(e) = w.endpoints.iter().find(|e| !e.starts_with("http://")) {
                return bad(format!(
                    "webhook endpoint must be a plain http:// URL, got {e}"
                ));
            }
        }
        Ok(())
    }

    /// Binds the socket and starts serving on the current tokio runtime.
    pub async fn start(self) -> Result<Emulator, StartError> {
        self.validate()?;
        let listener = tokio::net::TcpListener::bind(self.bind)
            .await
            .map_err(|source| StartError::Bind {
                addr: self.bind,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: self.bind,
            source,
        })?;

        if !addr.ip().is_loopback() {
            tracing::warn!(
                %addr,
                "the emulator listens on a non-loopback address: anyone who can reach it can use \
                 its demo keys (the control plane still needs the token)"
            );
        }
        let token = control_token()?;
        let mut key_rng = SmallRng::seed_from_u64(self.seed ^ 0x9e37_79b9_7f4a_7c15);
        let keys = WellKnownKeys {
            demo: self
                .demo_key
                .clone()
                .unwrap_or_else(|| format!("pv_demo_{}", state::random_hex(&mut key_rng, 32))),
            expired: format!("pv_expired_{}", state::random_hex(&mut key_rng, 32)),
            revoked: format!("pv_revoked_{}", state::random_hex(&mut key_rng, 32)),
            other: format!("pv_other_{}", state::random_hex(&mut key_rng, 32)),
            broke: format!("pv_broke_{}", state::random_hex(&mut key_rng, 32)),
        };
        let mut url_key = [0u8; 32];
        key_rng.fill(&mut url_key);

        let mut orgs = vec![
            Organization::new(DEMO_ORG)
                .credits_cents(self.demo_credits)
                .key(ApiKey::active(keys.demo.clone()))
                .key(ApiKey::expired(keys.expired.clone()))
                .key(ApiKey::revoked(keys.revoked.clone())),
            Organization::new(OTHER_ORG).key(ApiKey::active(keys.other.clone())),
            Organization::new(BROKE_ORG)
                .credits_cents(0)
                .key(ApiKey::active(keys.broke.clone())),
        ];
        orgs.extend(self.organizations.iter().cloned());

        let shared = Arc::new(Shared {
            started: Instant::now(),
            origin: format!("http://{addr}"),
            settings: Settings {
                scale: self.time_scale,
                durations: self.durations,
                rate_limit: self.rate_limit,
                idempotency: self.idempotency,
                webhooks: self.webhooks.clone(),
                failure_rate: self.failure_rate,
                scripted_failures: self.scripted_failures.clone(),
                price_cents: self.price_cents,
                url_ttl: self.url_ttl,
                error_shape: self.error_shape,
                file_ranges: self.file_ranges,
                header_read_timeout: self.header_read_timeout,
                max_connections: self.max_connections,
            },
            control: ControlGuard {
                token,
                bound_ip: Some(addr.ip()).filter(|ip| !ip.is_unspecified()),
                extra_hosts: self.control_hosts.clone(),
            },
            state: Mutex::new(State::new(self.seed, &orgs)),
            faults: Mutex::new(fault::FaultPlan::new(self.faults.clone())),
            log: Mutex::new(RequestLog::new(self.request_log_capacity)),
            log_seq: Mutex::new(0),
            deliveries: Mutex::new(Vec::new()),
            url_key,
            video: Arc::new(Video::new(self.video_size)),
            tasks: Mutex::new(Vec::new()),
        });
        let (tx, rx) = watch::channel(false);
        let server = tokio::spawn(server::serve(listener, Arc::clone(&shared), rx));
        tracing::info!(%addr, "pipevideo emulator listening");
        Ok(Emulator {
            shared,
            addr,
            keys,
            shutdown: tx,
            server: Mutex::new(Some(server)),
        })
    }

    /// Starts the emulator on a thread of its own with its own tokio runtime, for callers without
    /// one (async-std, smol, synchronous tests). Blocks until the socket is bound.
    pub fn start_in_background(self) -> Result<BackgroundEmulator, StartError> {
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("pipevideo-emulator".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = tx.send(Err(StartError::Runtime(e)));
                        return;
                    }
                };
                rt.block_on(async move {
                    match self.start().await {
                        Ok(emu) => {
                            let server = lock(&emu.server).take();
                            if tx.send(Ok(emu)).is_ok()
                                && let Some(server) = server
                            {
                                let _ = server.await;
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            })
            .map_err(StartError::Runtime)?;
        match rx.recv() {
            Ok(Ok(emulator)) => Ok(BackgroundEmulator {
                emulator: Some(emulator),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(StartError::Runtime(std::io::Error::other(
                    "emulator thread exited before starting",
                )))
            }
        }
    }
}
