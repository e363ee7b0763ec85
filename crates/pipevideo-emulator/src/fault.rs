//! Faults on demand: what can go wrong, when, and on which requests.
//!
//! A fault is chosen per request, before the emulator handles it. Scripted [`FaultRule`]s are
//! checked first, in order ("the next `count` requests matching `method`/`path_prefix` get `fault`");
//! then, if configured, [`RandomFaults`] draws from a seeded RNG. Faults apply only to `/v1/...` and
//! `/files/...` paths, never to the `/_emulator/...` control endpoints.
//!
//! [`FaultTiming`] says whether the fault strikes **before** the request is processed (nothing
//! happens on the server: no generation, no charge, no rate-limit count) or **after** (the request
//! is fully processed, a generation may have been created, and only the response is lost or
//! mangled). The request log records which, and whether a generation was created.

use rand::Rng;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use serde::{Deserialize, Serialize};

/// Where a `Retry-After` header, if any, goes on an injected 429.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RetryAfterHeader {
    /// No header (the documented API sends none).
    #[default]
    None,
    /// `Retry-After: <seconds>`: the scaled wait rounded **up** to whole seconds (HTTP allows no
    /// fractions), so never earlier than the body's `retry_after`.
    Seconds,
    /// `Retry-After: <HTTP-date>`: now plus the scaled wait, rounded up to the next whole second.
    HttpDate,
}

/// One way a response can go wrong.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Fault {
    /// 500 with `{ "message": "Internal server error" }`.
    ServerError,
    /// A 429: `retry_after` is in emulated seconds (scaled like everything else) and goes into
    /// `data.retry_after` when `with_data`. `header` adds a `Retry-After` header.
    RateLimited {
        /// The wait to advertise, emulated seconds.
        #[serde(default = "default_retry_after")]
        retry_after: f64,
        /// Whether the body carries `data: { retry_after }` (the docs say it "may").
        #[serde(default = "yes")]
        with_data: bool,
        /// Whether and how to send a `Retry-After` header.
        #[serde(default)]
        header: RetryAfterHeader,
    },
    /// 502 with an nginx-style HTML page (`text/html`).
    BadGatewayHtml,
    /// 503 with an HTML page (`text/html`).
    ServiceUnavailableHtml,
    /// 504 with an HTML page (`text/html`).
    GatewayTimeoutHtml,
    /// The real response's status and headers (with its full `Content-Length`), then half the body,
    /// then the connection is closed: the client sees the body end early. On a `/files` range
    /// answer, half of the range.
    ResetMidBody,
    /// The response's headers are held back for `delay_ms` milliseconds of **real** time (not
    /// scaled: it exists to trip client timeouts).
    SlowHeaders {
        /// Real milliseconds.
        delay_ms: u64,
    },
    /// The real response with its JSON body cut in half (`Content-Length` matches the cut body, so
    /// the HTTP exchange is clean and only the JSON is broken).
    TruncatedJson,
    /// An oRPC-shaped error body: `{ "defined": false, "code", "status", "message", "data"? }`.
    OrpcError {
        /// The HTTP status (400, 401, 404, 429, 500 pick their oRPC codes).
        status: u16,
    },
    /// The real response with its `status` field replaced by `status` (default `"rendering"`).
    UnknownStatus {
        /// The status word to report.
        #[serde(default = "default_unknown_status")]
        status: String,
    },
    /// The real response with an extra `"padding"` string field of `bytes` bytes: still valid JSON.
    HugeBody {
        /// Padding size in bytes.
        #[serde(default = "default_huge")]
        bytes: usize,
    },
    /// The real response's status and headers, then nothing for `delay_ms` milliseconds of
    /// **real** time, then its body: a host that stalls after its headers (it exists to trip
    /// a download's idle timeout).
    StallBody {
        /// Real milliseconds.
        delay_ms: u64,
    },
    /// The real response's status and headers without a `Content-Length`, then its body, then
    /// bytes of the video's fill pattern without end (chunked): a body that never ends.
    EndlessBody,
    /// A video host without ranges: `/files` ignores `Range` and `If-Range` and sends neither
    /// `Accept-Ranges` nor `ETag`. Other requests are unchanged.
    NoRanges,
}

fn default_retry_after() -> f64 {
    42.0
}
fn yes() -> bool {
    true
}
fn default_unknown_status() -> String {
    "rendering".to_owned()
}
fn default_huge() -> usize {
    8 * 1024 * 1024
}

impl Fault {
    /// A short stable name (the serde tag), as recorded in the request log.
    pub fn name(&self) -> &'static str {
        match self {
            Self::ServerError => "server_error",
            Self::RateLimited { .. } => "rate_limited",
            Self::BadGatewayHtml => "bad_gateway_html",
            Self::ServiceUnavailableHtml => "service_unavailable_html",
            Self::GatewayTimeoutHtml => "gateway_timeout_html",
            Self::ResetMidBody => "reset_mid_body",
            Self::SlowHeaders { .. } => "slow_headers",
            Self::TruncatedJson => "truncated_json",
            Self::OrpcError { .. } => "orpc_error",
            Self::UnknownStatus { .. } => "unknown_status",
            Self::HugeBody { .. } => "huge_body",
            Self::StallBody { .. } => "stall_body",
            Self::EndlessBody => "endless_body",
            Self::NoRanges => "no_ranges",
        }
    }

    /// A 429 with `data.retry_after` of `secs` emulated seconds and no header.
    pub fn rate_limited(secs: f64) -> Self {
        Self::RateLimited {
            retry_after: secs,
            with_data: true,
            header: RetryAfterHeader::None,
        }
    }

    /// Faults that change a real response rather than replacing it; they always strike after
    /// processing, whatever timing was asked.
    pub(crate) fn needs_real_response(&self) -> bool {
        matches!(
            self,
            Self::ResetMidBody
                | Self::TruncatedJson
                | Self::UnknownStatus { .. }
                | Self::HugeBody { .. }
                | Self::StallBody { .. }
                | Self::EndlessBody
                | Self::NoRanges
        )
    }
}

/// When a fault strikes relative to processing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FaultTiming {
    /// Before the server processes the request: nothing is created, charged or counted.
    #[default]
    Before,
    /// After processing: the request took effect (a create made its generation), the response is lost.
    After,
}

/// A scripted fault: the next `count` requests matching `method` and `path_prefix` get `fault`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FaultRule {
    /// `GET`, `POST`...; `None` matches any method.
    #[serde(default)]
    pub method: Option<String>,
    /// Matches request paths that start with it, e.g. `/v1/responses`. Default `/v1`.
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
    /// How many matching requests get the fault.
    #[serde(default = "one")]
    pub count: u32,
    /// The fault.
    pub fault: Fault,
    /// Before or after processing.
    #[serde(default)]
    pub timing: FaultTiming,
}

fn default_prefix() -> String {
    "/v1".to_owned()
}
fn one() -> u32 {
    1
}

impl FaultRule {
    /// The next request under `/v1` gets `fault`, before processing.
    pub fn new(fault: Fault) -> Self {
        Self {
            method: None,
            path_prefix: default_prefix(),
            count: 1,
            fault,
            timing: FaultTiming::Before,
        }
    }
    /// Only requests with this method.
    #[must_use]
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }
    /// Only paths starting with `prefix` (e.g. `/v1/responses`).
    #[must_use]
    pub fn path(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = prefix.into();
        self
    }
    /// The next `n` matching requests (default 1).
    #[must_use]
    pub fn times(mut self, n: u32) -> Self {
        self.count = n;
        self
    }
    /// Strike after processing (the request takes effect, the response is lost).
    #[must_use]
    pub fn after(mut self) -> Self {
        self.timing = FaultTiming::After;
        self
    }
    /// Strike before processing (the default).
    #[must_use]
    pub fn before(mut self) -> Self {
        self.timing = FaultTiming::Before;
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.count > 0
            && self
                .method
                .as_deref()
                .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.starts_with(&self.path_prefix)
    }
}

/// Random faults: each request under `path_prefix` independently draws at most one fault.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RandomFaults {
    /// Seed of the fault RNG (separate from the emulator's own RNG).
    #[serde(default)]
    pub seed: u64,
    /// `(fault, probability)` pairs; probabilities add up to at most 1.
    pub faults: Vec<(Fault, f64)>,
    /// Probability that a drawn fault strikes after processing rather than before.
    #[serde(default = "half")]
    pub after_probability: f64,
    /// Only requests whose path starts with this (default `/v1`).
    #[serde(default = "default_prefix")]
    pub path_prefix: String,
}

fn half() -> f64 {
    0.5
}

impl RandomFaults {
    /// No faults yet (add them with [`RandomFaults::fault`]); half strike after processing.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            faults: Vec::new(),
            after_probability: 0.5,
            path_prefix: default_prefix(),
        }
    }
    /// Adds `fault` with probability `p` per request.
    #[must_use]
    pub fn fault(mut self, fault: Fault, p: f64) -> Self {
        self.faults.push((fault, p));
        self
    }
    /// The probability that a drawn fault strikes after processing (default 0.5).
    #[must_use]
    pub fn after_probability(mut self, p: f64) -> Self {
        self.after_probability = p;
        self
    }
    /// Only paths starting with `prefix` (default `/v1`).
    #[must_use]
    pub fn path(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = prefix.into();
        self
    }
    /// A chaos mix: a total fault probability `rate` spread over every kind of fault that a robust
    /// client must survive (500, 429 with and without data/headers, HTML 502/503, reset, truncated
    /// JSON, oRPC body, unknown status, short slow headers).
    pub fn chaos(seed: u64, rate: f64) -> Self {
        let kinds = vec![
            Fault::ServerError,
            Fault::rate_limited(2.0),
            Fault::RateLimited {
                retry_after: 1.0,
                with_data: false,
                header: RetryAfterHeader::Seconds,
            },
            Fault::RateLimited {
                retry_after: 3.0,
                with_data: true,
                header: RetryAfterHeader::HttpDate,
            },
            Fault::BadGatewayHtml,
            Fault::ServiceUnavailableHtml,
            Fault::ResetMidBody,
            Fault::TruncatedJson,
            Fault::OrpcError { status: 500 },
            Fault::UnknownStatus {
                status: default_unknown_status(),
            },
            Fault::SlowHeaders { delay_ms: 50 },
        ];
        let each = rate / kinds.len() as f64;
        Self {
            seed,
            faults: kinds.into_iter().map(|k| (k, each)).collect(),
            after_probability: 0.5,
            path_prefix: default_prefix(),
        }
    }
}

/// The whole fault configuration: scripted rules (checked first) and optional random faults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FaultConfig {
    /// Scripted rules, checked in order.
    #[serde(default)]
    pub rules: Vec<FaultRule>,
    /// Random faults, drawn when no rule matched.
    #[serde(default)]
    pub random: Option<RandomFaults>,
}

impl FaultConfig {
    /// No faults.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a scripted rule.
    #[must_use]
    pub fn rule(mut self, rule: FaultRule) -> Self {
        self.rules.push(rule);
        self
    }
    /// Sets the random faults.
    #[must_use]
    pub fn random(mut self, random: RandomFaults) -> Self {
        self.random = Some(random);
        self
    }
}

/// The live fault state inside the server.
#[derive(Debug)]
pub(crate) struct FaultPlan {
    config: FaultConfig,
    rng: SmallRng,
}

impl FaultPlan {
    pub(crate) fn new(config: FaultConfig) -> Self {
        let seed = config.random.as_ref().map_or(0, |r| r.seed);
        Self {
            config,
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    pub(crate) fn config(&self) -> FaultConfig {
        let mut c = self.config.clone();
        c.rules.retain(|r| r.count > 0);
        c
    }

    pub(crate) fn replace(&mut self, config: FaultConfig) {
        *self = Self::new(config);
    }

    pub(crate) fn push(&mut self, rule: FaultRule) {
        self.config.rules.push(rule);
    }

    pub(crate) fn set_random(&mut self, random: Option<RandomFaults>) {
        if let Some(r) = &random {
            self.rng = SmallRng::seed_from_u64(r.seed);
        }
        self.config.random = random;
    }

    /// Picks the fault for one request, consuming a scripted rule's count.
    pub(crate) fn pick(&mut self, method: &str, path: &str) -> Option<(Fault, FaultTiming)> {
        if let Some(rule) = self
            .config
            .rules
            .iter_mut()
            .find(|r| r.matches(method, path))
        {
            rule.count -= 1;
            let picked = (rule.fault.clone(), rule.timing);
            self.config.rules.retain(|r| r.count > 0);
            return Some(picked);
        }
        let random = self.config.random.as_ref()?;
        if !path.starts_with(&random.path_prefix) {
            return None;
        }
        let draw: f64 = self.rng.random();
        let mut acc = 0.0;
        for (fault, p) in &random.faults {
            acc += p;
            if draw < acc {
                let after = self.rng.random::<f64>() < random.after_probability;
                let timing = if after {
                    FaultTiming::After
                } else {
                    FaultTiming::Before
                };
                return Some((fault.clone(), timing));
            }
        }
        None
    }
}
