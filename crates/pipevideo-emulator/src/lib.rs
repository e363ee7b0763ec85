//! A local Pipevideo API server for tests, demos and CI: the documented protocol, realistic state,
//! faults on demand.
//!
//! The emulator is a real HTTP/1.1 server (hyper on tokio) that speaks both generations of the
//! Pipevideo API, keeps per-organization state (keys, credits, generations, usage), runs each
//! generation through `queued → in_progress → completed | failed` on a clock you can speed up,
//! serves the finished videos itself, delivers Svix-signed webhooks, and misbehaves exactly when and
//! how a test asks. It shares no code with the SDK: its wire types are its own, so a mistake in the
//! SDK's serde types cannot hide on both sides of a test.
//!
//! # Start it inside a test (tokio)
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use pipevideo_emulator::Emulator;
//!
//! // A "minute" lasts 0.6 s: generations finish in about 0.55 s, the rate-limit window is 0.6 s.
//! let emu = Emulator::builder().time_scale(0.01).seed(7).start().await?;
//! let base_url = emu.base_url(); // "http://127.0.0.1:<port>/v1": point PIPEVIDEO_API_URL here
//! let key = emu.demo_key();      // "pv_demo_<hex>": send as `Authorization: Bearer <key>`
//! assert!(base_url.ends_with("/v1") && key.starts_with("pv_demo_"));
//! // ... drive your client against base_url, then inspect what it sent:
//! assert!(emu.requests().is_empty());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Start it from code that has no tokio runtime (async-std, smol, plain threads)
//!
//! ```
//! use pipevideo_emulator::Emulator;
//!
//! let emu = Emulator::builder().time_scale(0.01).start_in_background()?;
//! println!("{} {}", emu.base_url(), emu.demo_key()); // `BackgroundEmulator` derefs to `Emulator`
//! emu.shutdown(); // or just drop it
//! # Ok::<(), pipevideo_emulator::StartError>(())
//! ```
//!
//! # Run it as a program
//!
//! `cargo run -p pipevideo-emulator` listens on `127.0.0.1:3001` (the product's own local port) and
//! prints the two environment variables to export (`PIPEVIDEO_API_URL`, `PIPEVIDEO_API_KEY`).
//! Options: `--port`, `--bind`, `--time-scale`, `--seed`, `--faults <JSON | @file>`, `--chaos <rate>`,
//! `--failure-rate`, `--webhook-url` (repeatable), `--webhook-secret`. `--help` lists them all.
//!
//! # The protocol
//!
//! | Route | Auth | Answer |
//! |---|---|---|
//! | `POST /v1/responses` | yes | `{ id, object: "response", status: "queued", model, engine, provider, created_at (s), output: [message] }` |
//! | `GET /v1/responses/{id}` | yes | as above with the current status, `completed_at` (s), and when completed `output[0].content` = `[output_text, { type: "output_video", video_url, mime_type, expires_at }]`, a top-level `video_url`, `usage { input_tokens, output_tokens, total_tokens, cost_usd }`; when failed `error { code, message }` and `errorMessage` |
//! | `GET /v1/engines` | **no** | `{ object: "list", engines: [{ id, name, description, default, models: [{ id, input_per_million_usd, output_per_million_usd, providers }] }] }` |
//! | `GET /v1/usage` | yes | `credit_balance` (cents), `totals`, `daily_usage`, `daily_usage_by_route`, `recent_requests` (times in **ms**) |
//! | `POST /v1/video/generations` | yes | `{ id, status: "pending", created_at (s) }` |
//! | `GET /v1/video/generations/{id}` | yes | `{ id, status: pending/processing/completed/failed, output_url, cost_cents, latency_ms, error_message, created_at (s), completed_at (ms) }` |
//! | `GET /v1/models`, `GET /v1/models/{slug}` | yes | the documented list and detail shapes (`slug` URL-encoded or not) |
//! | `GET /files/{id}.mp4?expires=&signature=` | signed URL | a small valid MP4 (`video/mp4`); 403 when the signature is wrong, **410** once expired |
//!
//! Ids are `gen_` + 24 lowercase alphanumerics; the output message id is `<id>_msg`. Models:
//! `moonshotai/kimi-k2.5` (providers `framerate`, `pipevideo`) and `anthropic/claude-opus-4.8`
//! (`pipevideo` only); legacy `google/veo-3.1` (`fal`, `replicate`), `kling-kling-video-v3-pro`
//! (`fal`), `veo-veo-3-1` (`replicate`). Every status code is 200 on success.
//!
//! **Errors** are `{ "message": ... }` ([`ErrorShape::Orpc`] switches to oRPC's
//! `{ defined, code, status, message }`): 400 for malformed JSON, unknown model, empty prompt,
//! unknown engine/provider or a provider that does not serve the model, and a zero balance
//! (`Insufficient credits...`); 401 for a missing, unknown (`Invalid API key`), expired
//! (`API key has expired`) or revoked (`API key has been revoked`) key — keys are matched exactly,
//! stray whitespace included; 404 for an unknown id or another organization's generation.
//!
//! **Keys.** Every emulator has the organization `org_demo` with [`Emulator::demo_key`] (active),
//! [`Emulator::expired_key`], [`Emulator::revoked_key`]; `org_other` with
//! [`Emulator::other_org_key`]; and `org_broke` (0 cents) with [`Emulator::no_credits_key`]. They
//! derive from the seed, so they are stable across runs with the same seed. Add more with
//! [`EmulatorBuilder::organization`].
//!
//! **Credits.** Prices: 12 cents per responses-API generation ([`EmulatorBuilder::price_cents`]);
//! legacy generations cost the model's per-second price times `duration` (default 5 s). A create
//! needs a positive balance (else 400). When the balance covers the price, the price is charged at
//! create; a generation that then fails is refunded in full at the moment its failure becomes
//! visible. When the balance is positive but below the price, the create succeeds, nothing is
//! charged, and the generation fails with [`FailureCause::InsufficientCredits`].
//!
//! # Time
//!
//! One factor, [`EmulatorBuilder::time_scale`], maps emulated time to real time: real = emulated ×
//! scale. It scales generation durations, the queued phase (10% of the duration, at most 3 s
//! emulated), the rate-limit window, the video URL lifetime (1 h emulated), the webhook retry
//! schedule and every `retry_after` the server sends. **`retry_after` values are real seconds to
//! wait:** at scale 1 a whole number of seconds rounded up (e.g. `42`); at any other scale the real
//! wait rounded up to the millisecond, so fractional (`0.42` for 42 emulated seconds at 0.01). A
//! `Retry-After` header carries whole seconds, rounded up (`1` for 0.42), or an HTTP-date rounded up
//! to the next second; neither ever asks for less than the real wait. Timestamps in bodies are real
//! wall-clock times, except that `completed_at` = `created_at` + the emulated latency, which keeps
//! `latency_ms` realistic (about 55 000) at any scale. [`Fault::SlowHeaders`] delays are real time.
//!
//! # Generations
//!
//! Durations come from a seeded [`DurationDistribution`] (default log-normal around 55 s). A
//! generation fails when its prompt (or `instructions`) contains a marker registered with
//! [`EmulatorBuilder::fail_prompts_containing`] or the built-in marker `[fail:<cause code>]`
//! (e.g. `[fail:provider_timeout]`, see [`FailureCause::code`]), else with probability
//! [`EmulatorBuilder::failure_rate`] (default 0.02) with a runtime cause. All randomness comes from
//! the seed, so one sequence of requests always gives the same ids, durations and failures; the
//! random failures draw from a stream of their own, so the n-th generation's fate depends only on
//! the seed and n. With the default seed (0) and rate, the first 50 generations all complete (a
//! test pins this); call `.failure_rate(0.0)` to rule random failures out entirely.
//!
//! # Rate limit and idempotency
//!
//! 100 requests per emulated minute per key ([`RateLimit`]), sliding window by default, counted on
//! every authenticated `/v1` request that passes authentication (401s and `GET /v1/engines` are not
//! counted; requests rejected with 429 are not counted either). Over it: 429
//! `{ "message": "Rate limit exceeded. Please try again later.", "data": { "retry_after": N } }`.
//!
//! A create with an `Idempotency-Key` header already seen for the same organization returns the
//! first create's body byte for byte (whatever the new body says, on either create route), with the
//! header `idempotent-replayed: true`, and creates and charges nothing ([`EmulatorBuilder::idempotency`] turns this off). The real API does not document
//! idempotency keys: this is emulator behaviour.
//!
//! # Faults
//!
//! See the [`fault`] module. Scripted rules and random faults are set at start
//! ([`EmulatorBuilder::fault`], [`EmulatorBuilder::random_faults`]), from the handle
//! ([`Emulator::push_fault`]...) or over HTTP:
//!
//! | Control endpoint | Effect |
//! |---|---|
//! | `POST /_emulator/faults` | append one [`FaultRule`] or an array of them, e.g. `{"path_prefix":"/v1/responses","method":"POST","count":3,"fault":{"kind":"server_error"},"timing":"after"}` |
//! | `PUT /_emulator/faults` | replace the whole [`FaultConfig`] (`{"rules":[...],"random":{...}}`) |
//! | `PUT /_emulator/faults/random` | set (or with `null` clear) the [`RandomFaults`] |
//! | `GET`/`DELETE /_emulator/faults` | show / clear everything |
//! | `GET /_emulator/log?since=N`, `DELETE /_emulator/log` | the request log ([`LogEntry`] as JSON) |
//! | `GET /_emulator/webhooks` | webhook attempts ([`WebhookAttempt`]) |
//! | `GET /_emulator/health` | `{ "ok": true, "base_url": ... }` |
//!
//! A connection reset ([`Fault::ResetMidBody`]) sends the real status line and headers with the
//! full `Content-Length`, half the body, then fails the body stream so hyper closes the connection:
//! the client sees an incomplete message (an EOF, not necessarily a TCP RST).
//!
//! # Webhooks
//!
//! With [`EmulatorBuilder::webhooks`], every generation's end sends `video.generation.completed`
//! (`{ eventType, generationId, status, outputUrl, errorMessage }`) to each endpoint, signed the
//! Svix way: `svix-id` (`msg_...`), `svix-timestamp` (real Unix seconds), `svix-signature`
//! `v1,<base64 HMAC-SHA256("{id}.{ts}.{body}")>` keyed by the base64-decoded secret after `whsec_`.
//! A non-2xx answer or a connection error is retried on the (scaled) schedule with the same
//! `svix-id` and body (Svix's schedule by default: 0 s, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h,
//! emulated). [`WebhookConfig::also_sign_with`] adds a second signature as during a secret
//! rotation; [`WebhookConfig::duplicate_deliveries`] sends each delivered message once more, to
//! test deduplication on `svix-id`. Attempts are listed by [`Emulator::webhook_deliveries`].
//!
//! # The request log
//!
//! Every `/v1` and `/files` request is logged ([`Emulator::requests`]) with arrival time, method,
//! path, headers (the key replaced by its [`fingerprint`]), body, status, the fault that struck and
//! whether it struck before or after processing, and the generation it created, if any.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod catalog;
mod config;
pub mod fault;
mod handlers;
mod log;
mod mp4;
mod reports;
mod routes;
mod server;
mod state;
mod validate;
mod webhook;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::watch;

pub use config::{
    ApiKey, DurationDistribution, ErrorShape, FailureCause, KeyState, Organization, RateLimit,
    RateWindow, UnknownFailureCause, WebhookConfig, fingerprint,
};
pub use fault::{Fault, FaultConfig, FaultRule, FaultTiming, RandomFaults, RetryAfterHeader};
pub use log::{AppliedFault, LogEntry, WebhookAttempt};
pub use mp4::sample_mp4;

use state::{Settings, Shared, State, lock};

/// The port `cargo run -p pipevideo-emulator` listens on by default (the product's own local port).
pub const DEFAULT_PORT: u16 = 3001;
/// The organization of [`Emulator::demo_key`], [`Emulator::expired_key`], [`Emulator::revoked_key`].
pub const DEMO_ORG: &str = "org_demo";
/// The organization of [`Emulator::other_org_key`].
pub const OTHER_ORG: &str = "org_other";
/// The organization of [`Emulator::no_credits_key`] (0 cents).
pub const BROKE_ORG: &str = "org_broke";

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
}

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
            },
            state: Mutex::new(State::new(self.seed, &orgs)),
            faults: Mutex::new(fault::FaultPlan::new(self.faults.clone())),
            log: Mutex::new(Vec::new()),
            log_seq: Mutex::new(0),
            deliveries: Mutex::new(Vec::new()),
            url_key,
            mp4: Bytes::from(sample_mp4(12_000)),
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

#[derive(Clone)]
struct WellKnownKeys {
    demo: String,
    expired: String,
    revoked: String,
    other: String,
    broke: String,
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
    shared: Arc<Shared>,
    addr: SocketAddr,
    keys: WellKnownKeys,
    shutdown: watch::Sender<bool>,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
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

    /// Every request logged so far, in arrival order.
    pub fn requests(&self) -> Vec<LogEntry> {
        lock(&self.shared.log).clone()
    }
    /// Requests with `seq >= since`.
    pub fn requests_since(&self, since: u64) -> Vec<LogEntry> {
        lock(&self.shared.log)
            .iter()
            .filter(|e| e.seq >= since)
            .cloned()
            .collect()
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
    emulator: Option<Emulator>,
    thread: Option<std::thread::JoinHandle<()>>,
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
