//! Configuration types: organizations and keys, durations, rate limits, failures, webhooks.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Whether an API key is accepted, and if not, which 401 message it earns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum KeyState {
    /// Accepted.
    Active,
    /// Rejected with 401 `API key has expired`.
    Expired,
    /// Rejected with 401 `API key has been revoked`.
    Revoked,
}

/// An API key the emulator knows. Its `Debug` output never shows the secret, only a fingerprint.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey {
    secret: String,
    state: KeyState,
}

impl ApiKey {
    /// A key that is accepted.
    pub fn active(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            state: KeyState::Active,
        }
    }
    /// A key that is rejected with 401 `API key has expired`.
    pub fn expired(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            state: KeyState::Expired,
        }
    }
    /// A key that is rejected with 401 `API key has been revoked`.
    pub fn revoked(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            state: KeyState::Revoked,
        }
    }
    /// The key text, as a client sends it after `Bearer `.
    pub fn secret(&self) -> &str {
        &self.secret
    }
    /// Whether the key is accepted.
    pub fn state(&self) -> KeyState {
        self.state
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("fingerprint", &fingerprint(&self.secret))
            .field("state", &self.state)
            .finish()
    }
}

/// The fingerprint the request log records instead of a key: `sha256:` and the first 12 hex digits
/// of the key's SHA-256. Stable, so tests can compare it with `fingerprint(key)`.
pub fn fingerprint(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// An organization: the owner of keys, generations and a prepaid balance in US cents.
#[derive(Clone, Debug)]
pub struct Organization {
    pub(crate) id: String,
    pub(crate) credits_cents: i64,
    pub(crate) keys: Vec<ApiKey>,
}

impl Organization {
    /// A new organization with no keys and 10 000 cents ($100) of credit.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            credits_cents: 10_000,
            keys: Vec::new(),
        }
    }
    /// Sets the starting balance in US cents (0 makes every create answer 400 insufficient credits).
    #[must_use]
    pub fn credits_cents(mut self, cents: i64) -> Self {
        self.credits_cents = cents;
        self
    }
    /// Adds a key.
    #[must_use]
    pub fn key(mut self, key: ApiKey) -> Self {
        self.keys.push(key);
        self
    }
    /// The organization id (`org_...`).
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// How long generations take, in emulated time (before the time scale applies).
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum DurationDistribution {
    /// Always the same.
    Fixed(Duration),
    /// Uniform between `min` and `max`.
    Uniform {
        /// Shortest.
        min: Duration,
        /// Longest.
        max: Duration,
    },
    /// Log-normal around `median` with shape `sigma` (0.05 keeps 95% within about ±10%).
    LogNormal {
        /// The median duration.
        median: Duration,
        /// The standard deviation of the logarithm.
        sigma: f64,
    },
}

impl Default for DurationDistribution {
    /// About a minute: log-normal around 55 s with sigma 0.06, so most fall in the documented 52–58 s.
    fn default() -> Self {
        Self::LogNormal {
            median: Duration::from_secs(55),
            sigma: 0.06,
        }
    }
}

impl DurationDistribution {
    pub(crate) fn sample(&self, rng: &mut impl Rng) -> Duration {
        match *self {
            Self::Fixed(d) => d,
            Self::Uniform { min, max } => {
                if max <= min {
                    return min;
                }
                let t: f64 = rng.random();
                min + (max - min).mul_f64(t)
            }
            Self::LogNormal { median, sigma } => {
                // Box-Muller: one standard normal from two uniforms.
                let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
                let u2: f64 = rng.random();
                let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
                let factor = (sigma * z).exp();
                let secs = (median.as_secs_f64() * factor).clamp(0.001, 86_400.0);
                Duration::from_secs_f64(secs)
            }
        }
    }
}

/// Whether the rate limit counts requests in a sliding or a fixed window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RateWindow {
    /// The last `window` before each request (the default: the strictest reading of the docs).
    Sliding,
    /// Windows aligned to the emulator's start; the count resets at each boundary.
    Fixed,
}

/// The per-key rate limit. Default: 100 requests per (emulated) minute, sliding.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub(crate) requests: u32,
    pub(crate) window: Duration,
    pub(crate) kind: RateWindow,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self::per_minute(100)
    }
}

impl RateLimit {
    /// `requests` per emulated minute, sliding window.
    pub fn per_minute(requests: u32) -> Self {
        Self {
            requests,
            window: Duration::from_secs(60),
            kind: RateWindow::Sliding,
        }
    }
    /// `requests` per `window` (emulated time), sliding.
    pub fn new(requests: u32, window: Duration) -> Self {
        Self {
            requests,
            window,
            kind: RateWindow::Sliding,
        }
    }
    /// Uses a fixed window instead of a sliding one.
    #[must_use]
    pub fn fixed(mut self) -> Self {
        self.kind = RateWindow::Fixed;
        self
    }
    /// Uses a sliding window (the default).
    #[must_use]
    pub fn sliding(mut self) -> Self {
        self.kind = RateWindow::Sliding;
        self
    }
    /// Requests allowed per window.
    pub fn requests(&self) -> u32 {
        self.requests
    }
    /// The window, in emulated time.
    pub fn window(&self) -> Duration {
        self.window
    }
    /// Sliding or fixed.
    pub fn kind(&self) -> RateWindow {
        self.kind
    }
}

/// Why a generation failed: each cause the docs name, with the message the emulator reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureCause {
    /// The charge failed at render time (the balance ran out meanwhile).
    InsufficientCredits,
    /// Credits could not be reserved.
    CreditReservationFailed,
    /// The orchestration provider or the render pipeline failed.
    ProviderFailure,
    /// The provider did not answer in time.
    ProviderTimeout,
    /// The model is not supported on the selected provider.
    ModelNotSupported,
    /// The prompt was rejected (missing or empty text).
    InvalidPrompt,
    /// The generation itself errored.
    GenerationError,
}

impl FailureCause {
    /// Every cause, in declaration order.
    pub const ALL: [FailureCause; 7] = [
        Self::InsufficientCredits,
        Self::CreditReservationFailed,
        Self::ProviderFailure,
        Self::ProviderTimeout,
        Self::ModelNotSupported,
        Self::InvalidPrompt,
        Self::GenerationError,
    ];

    /// The machine-readable code (`error.code` on the responses API).
    pub fn code(self) -> &'static str {
        match self {
            Self::InsufficientCredits => "insufficient_credits",
            Self::CreditReservationFailed => "credit_reservation_failed",
            Self::ProviderFailure => "provider_failure",
            Self::ProviderTimeout => "provider_timeout",
            Self::ModelNotSupported => "model_not_supported",
            Self::InvalidPrompt => "invalid_prompt",
            Self::GenerationError => "generation_error",
        }
    }

    /// The human-readable message (`error.message`, `errorMessage`, `error_message`).
    pub fn message(self) -> &'static str {
        match self {
            Self::InsufficientCredits => {
                "Insufficient credits: the charge for this generation failed"
            }
            Self::CreditReservationFailed => "Credit reservation failed",
            Self::ProviderFailure => "Provider failure: the render pipeline returned an error",
            Self::ProviderTimeout => "Provider timeout: the provider did not respond in time",
            Self::ModelNotSupported => "Model not supported on the selected provider",
            Self::InvalidPrompt => "Invalid prompt: missing or empty text",
            Self::GenerationError => "Generation error: the video could not be generated",
        }
    }
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The error for an unknown failure-cause code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown failure cause `{0}` (expected one of: insufficient_credits, credit_reservation_failed, provider_failure, provider_timeout, model_not_supported, invalid_prompt, generation_error)"
)]
pub struct UnknownFailureCause(String);

impl UnknownFailureCause {
    /// The code that was not recognised.
    pub fn code(&self) -> &str {
        &self.0
    }
}

impl FromStr for FailureCause {
    type Err = UnknownFailureCause;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.code() == s)
            .ok_or_else(|| UnknownFailureCause(s.to_owned()))
    }
}

/// The shape of error bodies for the ordinary (non-fault) errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorShape {
    /// `{ "message": ... }` (plus `data` on 429), as the errors page documents. The default.
    #[default]
    Message,
    /// oRPC's fuller shape: `{ "defined": false, "code": "BAD_REQUEST", "status": 400, "message": ... }`.
    Orpc,
}

/// Webhook delivery: where to, the signing secret, and the retry schedule.
#[derive(Clone)]
pub struct WebhookConfig {
    pub(crate) endpoints: Vec<String>,
    pub(crate) secret: String,
    pub(crate) extra_secrets: Vec<String>,
    pub(crate) schedule: Vec<Duration>,
    pub(crate) duplicate: bool,
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("endpoints", &self.endpoints)
            .field("secret", &"whsec_<redacted>")
            .field("extra_secrets", &self.extra_secrets.len())
            .field("schedule", &self.schedule)
            .field("duplicate", &self.duplicate)
            .finish()
    }
}

impl WebhookConfig {
    /// Deliveries signed with `secret` (`whsec_` + base64; a secret without the prefix is used as-is
    /// after base64 decoding). No endpoints yet; add them with [`WebhookConfig::endpoint`].
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            endpoints: Vec::new(),
            secret: secret.into(),
            extra_secrets: Vec::new(),
            schedule: Self::svix_schedule(),
            duplicate: false,
        }
    }
    /// Also signs with `secret`, as during a secret rotation: `svix-signature` then carries one
    /// space-separated `v1,<base64>` entry per secret, the primary secret's first.
    #[must_use]
    pub fn also_sign_with(mut self, secret: impl Into<String>) -> Self {
        self.extra_secrets.push(secret.into());
        self
    }
    /// After a successful delivery, delivers the same message once more (same `svix-id` and body,
    /// fresh timestamp and signature), as Svix may: for testing receivers' deduplication.
    #[must_use]
    pub fn duplicate_deliveries(mut self, yes: bool) -> Self {
        self.duplicate = yes;
        self
    }
    /// Adds an endpoint URL (plain `http://`, typically loopback).
    #[must_use]
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoints.push(url.into());
        self
    }
    /// Replaces the retry schedule: the delay before each attempt, in emulated time (the time scale
    /// applies). The first entry is the delay of the first attempt after the generation ends.
    #[must_use]
    pub fn schedule(mut self, delays: Vec<Duration>) -> Self {
        self.schedule = delays;
        self
    }
    /// Svix's documented schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h.
    pub fn svix_schedule() -> Vec<Duration> {
        [0, 5, 300, 1800, 7200, 18_000, 36_000, 36_000]
            .into_iter()
            .map(Duration::from_secs)
            .collect()
    }
}
