//! The server's state and the protocol handlers (synchronous: no lock is held across an await).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use rand::Rng;
use rand::rngs::SmallRng;
use serde_json::{Map, Value, json};
use sha2::Sha256;

use crate::catalog;
use crate::config::{
    DurationDistribution, ErrorShape, FailureCause, KeyState, RateLimit, RateWindow, WebhookConfig,
    fingerprint,
};
use crate::fault::FaultPlan;
use crate::log::{LogEntry, WebhookAttempt};

pub(crate) const RATE_LIMIT_MESSAGE: &str = "Rate limit exceeded. Please try again later.";

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
}

/// Everything the server shares between connections.
pub(crate) struct Shared {
    pub(crate) started: Instant,
    pub(crate) origin: String,
    pub(crate) settings: Settings,
    pub(crate) state: Mutex<State>,
    pub(crate) faults: Mutex<FaultPlan>,
    pub(crate) log: Mutex<Vec<LogEntry>>,
    pub(crate) log_seq: Mutex<u64>,
    pub(crate) deliveries: Mutex<Vec<WebhookAttempt>>,
    pub(crate) url_key: [u8; 32],
    pub(crate) mp4: Bytes,
    pub(crate) tasks: Mutex<Vec<tokio::task::AbortHandle>>,
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
    /// Emulated time to real time.
    pub(crate) fn real(&self, emulated: Duration) -> Duration {
        emulated.mul_f64(self.settings.scale)
    }
    pub(crate) fn elapsed_ms(&self, at: Instant) -> u64 {
        at.saturating_duration_since(self.started).as_millis() as u64
    }

    /// The `retry_after` number for a real wait: whole seconds (rounded up) at scale 1, otherwise
    /// real seconds rounded up to the millisecond, e.g. 0.42.
    pub(crate) fn retry_after_value(&self, real_wait: Duration) -> Value {
        if self.settings.scale == 1.0 {
            let secs = real_wait.as_secs() + u64::from(real_wait.subsec_nanos() > 0);
            json!(secs.max(1))
        } else {
            let ms = real_wait.as_nanos().div_ceil(1_000_000).max(1) as f64;
            json!(ms / 1000.0)
        }
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
        let expires = unix_ms_now() + self.real(self.settings.url_ttl).as_millis() as u64;
        let sig = self.sign_url(id, expires);
        (
            format!(
                "{}/files/{id}.mp4?expires={expires}&signature={sig}",
                self.origin
            ),
            expires,
        )
    }

    pub(crate) fn error(&self, status: u16, message: &str) -> Reply {
        let body = match self.settings.error_shape {
            ErrorShape::Message => json!({ "message": message }),
            ErrorShape::Orpc => json!({
                "defined": false,
                "code": orpc_code(status),
                "status": status,
                "message": message,
            }),
        };
        Reply::json(status, &body)
    }

    pub(crate) fn rate_limited(&self, real_wait: Duration) -> Reply {
        let mut body = Map::new();
        if self.settings.error_shape == ErrorShape::Orpc {
            body.insert("defined".into(), json!(false));
            body.insert("code".into(), json!("TOO_MANY_REQUESTS"));
            body.insert("status".into(), json!(429));
        }
        body.insert("message".into(), json!(RATE_LIMIT_MESSAGE));
        body.insert(
            "data".into(),
            json!({ "retry_after": self.retry_after_value(real_wait) }),
        );
        Reply::json(429, &Value::Object(body))
    }
}

pub(crate) fn orpc_code(status: u16) -> &'static str {
    match status {
        400 => "BAD_REQUEST",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        409 => "CONFLICT",
        429 => "TOO_MANY_REQUESTS",
        502 => "BAD_GATEWAY",
        503 => "SERVICE_UNAVAILABLE",
        504 => "GATEWAY_TIMEOUT",
        _ => "INTERNAL_SERVER_ERROR",
    }
}

/// A response before it goes on the wire.
#[derive(Clone, Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn json(status: u16, value: &Value) -> Self {
        Self::raw(status, "application/json", Bytes::from(value.to_string()))
    }
    pub(crate) fn raw(status: u16, content_type: &str, body: Bytes) -> Self {
        Self {
            status,
            headers: vec![("content-type", content_type.to_owned())],
            body,
        }
    }
    pub(crate) fn is_json(&self) -> bool {
        self.headers
            .iter()
            .any(|(n, v)| *n == "content-type" && v.starts_with("application/json"))
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
    fn word(self, api: Api) -> &'static str {
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
    fn completed_unix_ms(&self) -> u64 {
        self.created_unix_ms + self.latency_ms
    }
    fn cost_cents(&self, phase: Phase) -> Option<i64> {
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

    /// Counts one request against the key's limit, or says how long (real time) to wait.
    fn check_rate(
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

/// What processing one request produced.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) reply: Reply,
    pub(crate) org: Option<String>,
    pub(crate) key_fingerprint: Option<String>,
    pub(crate) generation_created: Option<String>,
    pub(crate) replay_of: Option<String>,
    pub(crate) rate_limited: bool,
}

impl Outcome {
    fn reply(reply: Reply) -> Self {
        Self {
            reply,
            org: None,
            key_fingerprint: None,
            generation_created: None,
            replay_of: None,
            rate_limited: false,
        }
    }
}

/// A parsed request, as far as processing needs it.
pub(crate) struct Req<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) query: &'a str,
    pub(crate) authorization: Option<&'a str>,
    pub(crate) idempotency_key: Option<&'a str>,
    pub(crate) body: &'a [u8],
}

/// The token after the `Bearer` scheme (matched case-insensitively, as RFC 9110 asks). The token
/// itself is taken verbatim: stray whitespace makes it an invalid key, as on the real service.
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then_some(v)
    })
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Handles one `/v1/...` or `/files/...` request.
pub(crate) fn process(shared: &Shared, req: &Req<'_>, now: Instant) -> Outcome {
    if let Some(rest) = req.path.strip_prefix("/files/") {
        return Outcome::reply(serve_file(shared, req, rest));
    }
    let Some(route) = req.path.strip_prefix("/v1") else {
        return Outcome::reply(shared.error(404, "Not found"));
    };
    let route = route.trim_end_matches('/');
    if req.method == "GET" && route == "/engines" {
        return Outcome::reply(Reply::json(200, &catalog::engines_json()));
    }

    // Authentication.
    let Some(auth) = req.authorization else {
        return Outcome::reply(
            shared.error(401, "Missing API key. Send `Authorization: Bearer <key>`."),
        );
    };
    let token = bearer_token(auth).unwrap_or("");
    let fp = fingerprint(token);
    let mut st = lock(&shared.state);
    let known = st.keys.get(token).cloned();
    let mut outcome = Outcome::reply(Reply::json(200, &json!({})));
    outcome.key_fingerprint = (!token.is_empty()).then(|| fp.clone());
    let org = match known {
        None => {
            outcome.reply = shared.error(401, "Invalid API key");
            return outcome;
        }
        Some((org, KeyState::Expired)) => {
            outcome.org = Some(org);
            outcome.reply = shared.error(401, "API key has expired");
            return outcome;
        }
        Some((org, KeyState::Revoked)) => {
            outcome.org = Some(org);
            outcome.reply = shared.error(401, "API key has been revoked");
            return outcome;
        }
        Some((org, KeyState::Active)) => org,
    };
    outcome.org = Some(org.clone());

    // Rate limit, per key.
    if let Some(limit) = shared.settings.rate_limit {
        let window_real = shared.real(limit.window);
        if let Err(wait) = st.check_rate(&fp, &limit, window_real, shared.started, now) {
            outcome.rate_limited = true;
            outcome.reply = shared.rate_limited(wait);
            return outcome;
        }
    }

    let segments: Vec<&str> = route.split('/').skip(1).collect();
    let reply = match (req.method, segments.as_slice()) {
        ("POST", ["responses"]) | ("POST", ["video", "generations"]) => {
            let api = if segments[0] == "responses" {
                Api::Responses
            } else {
                Api::Legacy
            };
            return create(shared, &mut st, req, now, api, outcome);
        }
        ("GET", ["responses", id]) => retrieve(shared, &st, &org, id, Api::Responses, now),
        ("GET", ["video", "generations", id]) => retrieve(shared, &st, &org, id, Api::Legacy, now),
        ("GET", ["usage"]) => Reply::json(200, &usage(&st, &org, now)),
        ("GET", ["models"]) => Reply::json(200, &catalog::model_list_json()),
        ("GET", ["models", slug @ ..]) if !slug.is_empty() => {
            let slug = percent_decode(&slug.join("/"));
            match catalog::video_model(&slug) {
                Some(m) => Reply::json(
                    200,
                    &catalog::model_json(m, model_metrics(&st, m.slug, now)),
                ),
                None => shared.error(404, &format!("Model not found: {slug}")),
            }
        }
        _ => shared.error(404, &format!("No route for {} {}", req.method, req.path)),
    };
    outcome.reply = reply;
    outcome
}

fn serve_file(shared: &Shared, req: &Req<'_>, rest: &str) -> Reply {
    if req.method != "GET" && req.method != "HEAD" {
        return shared.error(405, "Method not allowed");
    }
    let Some(id) = rest.strip_suffix(".mp4") else {
        return shared.error(404, "Not found");
    };
    let expires = query_param(req.query, "expires").and_then(|e| e.parse::<u64>().ok());
    let signature = query_param(req.query, "signature");
    let (Some(expires), Some(signature)) = (expires, signature) else {
        return Reply::raw(403, "text/plain", Bytes::from_static(b"Missing signature"));
    };
    if shared.sign_url(id, expires) != signature {
        return Reply::raw(
            403,
            "text/plain",
            Bytes::from_static(b"Signature does not match"),
        );
    }
    if unix_ms_now() > expires {
        return Reply::raw(
            410,
            "text/plain",
            Bytes::from_static(b"Request has expired"),
        );
    }
    let mut reply = Reply::raw(200, "video/mp4", shared.mp4.clone());
    reply
        .headers
        .push(("cache-control", "private, max-age=60".to_owned()));
    reply
}

fn prompt_text(v: &Value) -> Result<String, String> {
    const ROLES: &[&str] = &["system", "user", "assistant", "developer"];
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Array(items) => {
            let mut text = String::new();
            for item in items {
                let role = item.get("role").and_then(Value::as_str).unwrap_or("");
                if !ROLES.contains(&role) {
                    return Err(format!("Invalid input: unknown role `{role}`"));
                }
                let Some(parts) = item.get("content").and_then(Value::as_array) else {
                    return Err("Invalid input: each message needs a `content` array".into());
                };
                for part in parts {
                    match part.get("type").and_then(Value::as_str) {
                        Some("input_text") => match part.get("text").and_then(Value::as_str) {
                            Some(t) => {
                                text.push_str(t);
                                text.push('\n');
                            }
                            None => return Err("Invalid input: input_text needs `text`".into()),
                        },
                        Some(kind @ ("input_image" | "input_video")) => {
                            let field = if kind == "input_image" {
                                "image_url"
                            } else {
                                "video_url"
                            };
                            let url = part
                                .get(field)
                                .and_then(|u| u.get("url"))
                                .and_then(Value::as_str)
                                .unwrap_or("");
                            if !(url.starts_with("https://") || url.starts_with("data:")) {
                                return Err(format!(
                                    "Invalid input: {field}.url must be https or a data URI"
                                ));
                            }
                            if let Some(detail) = part.get(field).and_then(|u| u.get("detail")) {
                                let ok = detail.as_str().is_some_and(|d| {
                                    ["auto", "low", "high", "original"].contains(&d)
                                });
                                if !ok {
                                    return Err("Invalid input: image detail must be auto, low, high or original".into());
                                }
                            }
                        }
                        other => {
                            return Err(format!(
                                "Invalid input: unknown content part type {other:?}"
                            ));
                        }
                    }
                }
            }
            Ok(text)
        }
        _ => Err("Invalid input: expected a string or an array of messages".into()),
    }
}

fn provider_order(v: Option<&Value>) -> Result<Option<Vec<String>>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Object(o)) => {
            let list = o.get("order").or_else(|| o.get("only"));
            match list {
                None => Ok(None),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| "Invalid provider: order must list slugs".to_owned())
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
                Some(_) => Err("Invalid provider: order must be an array of provider slugs".into()),
            }
        }
        Some(_) => {
            Err("Invalid provider: expected an object like {\"order\": [\"framerate\"]}".into())
        }
    }
}

struct Validated {
    model: String,
    engine: Option<String>,
    provider: String,
    prompt: String,
}

fn validate_responses(body: &Map<String, Value>) -> Result<Validated, String> {
    let model = match body.get("model") {
        Some(Value::String(m)) => m.clone(),
        None => return Err("Invalid request: `model` is required".into()),
        Some(_) => return Err("Invalid request: `model` must be a string".into()),
    };
    let Some(llm) = catalog::llm(&model) else {
        return Err(format!("Invalid model: {model}"));
    };
    let Some(input) = body.get("input") else {
        return Err("Invalid prompt: `input` is required".into());
    };
    let mut prompt = prompt_text(input)?;
    if prompt.trim().is_empty() {
        return Err("Invalid prompt: missing or empty text".into());
    }
    if let Some(instr) = body.get("instructions") {
        match instr {
            Value::String(s) => {
                prompt.push('\n');
                prompt.push_str(s);
            }
            Value::Null => {}
            _ => return Err("Invalid request: `instructions` must be a string".into()),
        }
    }
    let engine = match body.get("engine") {
        None | Some(Value::Null) => "hyperframes".to_owned(),
        Some(Value::String(e)) if catalog::ENGINES.iter().any(|(id, _, _)| id == e) => e.clone(),
        Some(other) => {
            return Err(format!(
                "Invalid engine: {other}. Expected hyperframes, lottie or auto"
            ));
        }
    };
    if let Some(v) = body.get("expand_prompt")
        && !v.is_boolean()
        && !v.is_null()
    {
        return Err("Invalid request: `expand_prompt` must be a boolean".into());
    }
    for dim in ["width", "height"] {
        if let Some(v) = body.get(dim)
            && !v.is_null()
        {
            let ok = v.as_f64().is_some_and(|n| (16.0..=4096.0).contains(&n));
            if !ok {
                return Err(format!(
                    "Invalid request: `{dim}` must be a number between 16 and 4096"
                ));
            }
        }
    }
    if let Some(v) = body.get("aspectRatio")
        && !v.is_null()
        && !v.as_str().is_some_and(|s| {
            s.split_once(':')
                .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
        })
    {
        return Err("Invalid request: `aspectRatio` must look like `16:9`".into());
    }
    let provider = match provider_order(body.get("provider"))? {
        None => llm.providers[0].to_owned(),
        Some(order) => {
            if let Some(unknown) = order
                .iter()
                .find(|p| !catalog::KNOWN_PROVIDERS.contains(&p.as_str()))
            {
                return Err(format!("Unsupported provider: {unknown}"));
            }
            match order.iter().find(|p| llm.providers.contains(&p.as_str())) {
                Some(p) => p.clone(),
                None => {
                    return Err(format!(
                        "Unsupported provider: none of {order:?} supports model {model}"
                    ));
                }
            }
        }
    };
    Ok(Validated {
        model,
        engine: Some(engine),
        provider,
        prompt,
    })
}

fn validate_legacy(body: &Map<String, Value>) -> Result<(Validated, i64), String> {
    let prompt = match body.get("prompt") {
        Some(Value::String(p)) if !p.trim().is_empty() => p.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err("Invalid prompt: missing or empty text".into());
        }
        Some(_) => return Err("Invalid prompt: `prompt` must be a string".into()),
    };
    let candidates: Vec<String> = match (body.get("model"), body.get("models")) {
        (Some(Value::String(m)), _) => vec![m.clone()],
        (_, Some(Value::Array(ms))) if !ms.is_empty() => {
            let mut out = Vec::new();
            for m in ms {
                match m.as_str() {
                    Some(s) => out.push(s.to_owned()),
                    None => return Err("Invalid request: `models` must list model slugs".into()),
                }
            }
            out
        }
        _ => return Err("Invalid request: `model` (or `models`) is required".into()),
    };
    if let Some(unknown) = candidates
        .iter()
        .find(|m| catalog::video_model(m).is_none())
    {
        return Err(format!("Invalid model: {unknown}"));
    }
    let order = provider_order(body.get("provider"))?;
    if let Some(order) = &order
        && let Some(unknown) = order
            .iter()
            .find(|p| !catalog::LEGACY_PROVIDERS.contains(&p.as_str()))
    {
        return Err(format!("Unsupported provider: {unknown}"));
    }
    let mut chosen = None;
    for slug in &candidates {
        let Some(m) = catalog::video_model(slug) else {
            continue;
        };
        let provider = match &order {
            None => Some(m.routes[0].0.to_owned()),
            Some(order) => order
                .iter()
                .find(|p| m.routes.iter().any(|r| r.0 == p.as_str()))
                .cloned(),
        };
        if let Some(p) = provider {
            chosen = Some((m, p));
            break;
        }
    }
    let Some((model, provider)) = chosen else {
        return Err(format!(
            "Unsupported provider: model {} is not available on {:?}",
            candidates[0],
            order.unwrap_or_default()
        ));
    };
    if let Some(v) = body.get("aspectRatio")
        && !v.is_null()
        && !v
            .as_str()
            .is_some_and(|s| ["16:9", "9:16", "1:1"].contains(&s))
    {
        return Err("Invalid request: `aspectRatio` must be 16:9, 9:16 or 1:1".into());
    }
    if let Some(v) = body.get("resolution")
        && !v.is_null()
        && !v.as_str().is_some_and(|s| ["720p", "1080p"].contains(&s))
    {
        return Err("Invalid request: `resolution` must be 720p or 1080p".into());
    }
    let seconds = match body.get("duration") {
        None | Some(Value::Null) => 5,
        Some(v) => match v.as_f64() {
            Some(n) if (1.0..=60.0).contains(&n) => n.ceil() as i64,
            _ => return Err("Invalid request: `duration` must be between 1 and 60 seconds".into()),
        },
    };
    if let Some(v) = body.get("imageUrl")
        && !v.is_null()
        && !v
            .as_str()
            .is_some_and(|s| s.starts_with("https://") || s.starts_with("data:"))
    {
        return Err("Invalid request: `imageUrl` must be an https URL or a data URI".into());
    }
    let price = i64::from(model.cents_per_second) * seconds;
    Ok((
        Validated {
            model: model.slug.to_owned(),
            engine: None,
            provider,
            prompt,
        },
        price,
    ))
}

fn scripted_failure(shared: &Shared, prompt: &str) -> Option<FailureCause> {
    for (marker, cause) in &shared.settings.scripted_failures {
        if prompt.contains(marker.as_str()) {
            return Some(*cause);
        }
    }
    let start = prompt.find("[fail:")?;
    let rest = &prompt[start + 6..];
    let end = rest.find(']')?;
    rest[..end].trim().parse().ok()
}

fn create(
    shared: &Shared,
    st: &mut State,
    req: &Req<'_>,
    now: Instant,
    api: Api,
    mut outcome: Outcome,
) -> Outcome {
    let org = outcome.org.clone().unwrap_or_default();
    let idem = req
        .idempotency_key
        .filter(|k| !k.is_empty() && shared.settings.idempotency);
    if let Some(key) = idem
        && let Some((id, body)) = st.idempotency.get(&(org.clone(), key.to_owned()))
    {
        outcome.replay_of = Some(id.clone());
        let mut reply = Reply::raw(200, "application/json", body.clone());
        reply
            .headers
            .push(("idempotent-replayed", "true".to_owned()));
        outcome.reply = reply;
        return outcome;
    }
    let body: Map<String, Value> = match serde_json::from_slice(req.body) {
        Ok(Value::Object(m)) => m,
        _ => {
            outcome.reply = shared.error(400, "Malformed request: the body must be a JSON object");
            return outcome;
        }
    };
    let validated = match api {
        Api::Responses => validate_responses(&body).map(|v| (v, shared.settings.price_cents)),
        Api::Legacy => validate_legacy(&body),
    };
    let (v, price) = match validated {
        Ok(v) => v,
        Err(msg) => {
            outcome.reply = shared.error(400, &msg);
            return outcome;
        }
    };
    let balance = st.balance(&org, now);
    if balance <= 0 {
        outcome.reply = shared.error(
            400,
            "Insufficient credits. Add credits to your organization to continue.",
        );
        return outcome;
    }

    let emulated = shared.settings.durations.sample(&mut st.rng);
    let runs_for = shared.real(emulated);
    let queued_for = shared.real(emulated.mul_f64(0.1).min(Duration::from_secs(3)));
    const RUNTIME: [FailureCause; 4] = [
        FailureCause::ProviderFailure,
        FailureCause::ProviderTimeout,
        FailureCause::GenerationError,
        FailureCause::CreditReservationFailed,
    ];
    // Always two draws per create, so the stream stays aligned whatever the prompt says.
    let draw: f64 = st.fail_rng.random();
    let random_cause = RUNTIME[st.fail_rng.random_range(0..RUNTIME.len())];
    let mut failure = scripted_failure(shared, &v.prompt);
    if failure.is_none() && draw < shared.settings.failure_rate {
        failure = Some(random_cause);
    }
    let charged = balance >= price;
    if !charged && failure.is_none() {
        failure = Some(FailureCause::InsufficientCredits);
    }
    let id = random_id(&mut st.rng, "gen_", 24);
    let created_unix_ms = unix_ms_now();
    let g = Generation {
        id: id.clone(),
        org: org.clone(),
        model: v.model,
        engine: v.engine,
        provider: v.provider,
        created_at: now,
        created_unix_ms,
        queued_for,
        runs_for,
        latency_ms: emulated.as_millis() as u64,
        failure,
        price_cents: price,
        charged,
        prompt_tokens: st.rng.random_range(1000..1400),
        completion_tokens: st.rng.random_range(3000..3800),
    };
    let reply_body = match api {
        Api::Responses => json!({
            "id": g.id,
            "object": "response",
            "status": "queued",
            "model": g.model,
            "engine": g.engine,
            "provider": g.provider,
            "created_at": created_unix_ms / 1000,
            "output": [{
                "type": "message",
                "id": format!("{}_msg", g.id),
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }],
        }),
        Api::Legacy => {
            json!({ "id": g.id, "status": "pending", "created_at": created_unix_ms / 1000 })
        }
    };
    let bytes = Bytes::from(reply_body.to_string());
    if let Some(key) = idem {
        st.idempotency
            .insert((org, key.to_owned()), (id.clone(), bytes.clone()));
    }
    st.generations.insert(id.clone(), g);
    st.order.push(id.clone());
    outcome.generation_created = Some(id);
    outcome.reply = Reply::raw(200, "application/json", bytes);
    outcome
}

fn retrieve(shared: &Shared, st: &State, org: &str, id: &str, api: Api, now: Instant) -> Reply {
    let id = percent_decode(id);
    match st.generations.get(&id) {
        Some(g) if g.org == org => Reply::json(200, &generation_json(shared, g, api, now)),
        _ => shared.error(404, &format!("Generation not found: {id}")),
    }
}

/// The retrieve body of a generation in the vocabulary of `api`.
pub(crate) fn generation_json(shared: &Shared, g: &Generation, api: Api, now: Instant) -> Value {
    let phase = g.phase(now);
    let terminal = matches!(phase, Phase::Completed | Phase::Failed);
    let url = (phase == Phase::Completed).then(|| shared.video_url(&g.id));
    let error_message = match phase {
        Phase::Failed => g.failure.map(FailureCause::message),
        _ => None,
    };
    match api {
        Api::Legacy => json!({
            "id": g.id,
            "status": phase.word(api),
            "output_url": url.as_ref().map(|u| &u.0),
            "cost_cents": g.cost_cents(phase),
            "latency_ms": terminal.then_some(g.latency_ms),
            "error_message": error_message,
            "created_at": g.created_unix_ms / 1000,
            "completed_at": terminal.then(|| g.completed_unix_ms()),
        }),
        Api::Responses => {
            let mut content = Vec::new();
            if let Some((u, expires)) = &url {
                content.push(json!({ "type": "output_text", "text": format!("Rendered a video with the {} engine.", g.engine.as_deref().unwrap_or("hyperframes")) }));
                content.push(json!({ "type": "output_video", "video_url": u, "mime_type": "video/mp4", "expires_at": expires / 1000 }));
            }
            let msg_status = match phase {
                Phase::Completed => "completed",
                Phase::Failed => "incomplete",
                _ => "in_progress",
            };
            let cost_usd = g.cost_cents(phase).unwrap_or(0) as f64 / 100.0;
            json!({
                "id": g.id,
                "object": "response",
                "status": phase.word(api),
                "model": g.model,
                "engine": g.engine,
                "provider": g.provider,
                "created_at": g.created_unix_ms / 1000,
                "completed_at": terminal.then(|| g.completed_unix_ms() / 1000),
                "output": [{
                    "type": "message",
                    "id": format!("{}_msg", g.id),
                    "role": "assistant",
                    "status": msg_status,
                    "content": content,
                }],
                "video_url": url.as_ref().map(|u| &u.0),
                "usage": terminal.then(|| json!({
                    "input_tokens": g.prompt_tokens,
                    "output_tokens": g.completion_tokens,
                    "total_tokens": g.prompt_tokens + g.completion_tokens,
                    "cost_usd": cost_usd,
                })),
                "error": g.failure.filter(|_| phase == Phase::Failed).map(|c| json!({ "code": c.code(), "message": c.message() })),
                "errorMessage": error_message,
            })
        }
    }
}

/// Civil date (YYYY-MM-DD) of a Unix time in milliseconds, UTC.
pub(crate) fn utc_date(unix_ms: u64) -> String {
    let days = (unix_ms / 86_400_000) as i64;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[derive(Default)]
struct Tally {
    requests: u64,
    completed: u64,
    failed: u64,
    cost: i64,
    duration_s: f64,
    prompt_tokens: u64,
    completion_tokens: u64,
    latency_sum: u64,
}

impl Tally {
    fn add(&mut self, g: &Generation, phase: Phase) {
        self.requests += 1;
        match phase {
            Phase::Completed => {
                self.completed += 1;
                self.cost += g.price_cents;
                self.duration_s += g.latency_ms as f64 / 1000.0;
                self.prompt_tokens += g.prompt_tokens;
                self.completion_tokens += g.completion_tokens;
                self.latency_sum += g.latency_ms;
            }
            Phase::Failed => {
                self.failed += 1;
                self.latency_sum += g.latency_ms;
            }
            _ => {}
        }
    }
}

fn usage(st: &State, org: &str, now: Instant) -> Value {
    let gens: Vec<&Generation> = st
        .order
        .iter()
        .filter_map(|id| st.generations.get(id))
        .filter(|g| g.org == org)
        .collect();
    let mut totals = Tally::default();
    let mut daily: Vec<(String, Tally)> = Vec::new();
    let mut routes: Vec<(String, String, String, String, Tally)> = Vec::new();
    for g in &gens {
        let phase = g.phase(now);
        totals.add(g, phase);
        let date = utc_date(g.created_unix_ms);
        match daily.iter_mut().find(|(d, _)| *d == date) {
            Some((_, t)) => t.add(g, phase),
            None => {
                let mut t = Tally::default();
                t.add(g, phase);
                daily.push((date.clone(), t));
            }
        }
        let engine = g.engine.clone().unwrap_or_else(|| "legacy".to_owned());
        match routes
            .iter_mut()
            .find(|r| r.0 == date && r.1 == engine && r.2 == g.model && r.3 == g.provider)
        {
            Some(r) => r.4.add(g, phase),
            None => {
                let mut t = Tally::default();
                t.add(g, phase);
                routes.push((date, engine, g.model.clone(), g.provider.clone(), t));
            }
        }
    }
    let daily_usage: Vec<Value> = daily
        .iter()
        .map(|(date, t)| {
            json!({
                "date": date,
                "request_count": t.requests,
                "completed_count": t.completed,
                "failed_count": t.failed,
                "total_cost_cents": t.cost,
                "total_duration_seconds": (t.duration_s * 10.0).round() / 10.0,
            })
        })
        .collect();
    let by_route: Vec<Value> = daily
        .iter()
        .map(|(date, _)| {
            let rs: Vec<Value> = routes
                .iter()
                .filter(|r| &r.0 == date)
                .map(|(_, engine, model, provider, t)| {
                    let terminal = t.completed + t.failed;
                    json!({
                        "engine": engine,
                        "model": model,
                        "provider": provider,
                        "request_count": t.requests,
                        "completed_count": t.completed,
                        "failed_count": t.failed,
                        "total_cost_cents": t.cost,
                        "total_prompt_tokens": t.prompt_tokens,
                        "total_completion_tokens": t.completion_tokens,
                        "avg_latency_ms": t.latency_sum.checked_div(terminal).unwrap_or(0),
                    })
                })
                .collect();
            json!({ "date": date, "routes": rs })
        })
        .collect();
    let recent: Vec<Value> = gens
        .iter()
        .rev()
        .take(20)
        .map(|g| {
            let phase = g.phase(now);
            let terminal = matches!(phase, Phase::Completed | Phase::Failed);
            json!({
                "id": g.id,
                "status": phase.word(Api::Responses),
                "model_name": g.model,
                "engine": g.engine,
                "cost_cents": g.cost_cents(phase),
                "latency_ms": terminal.then_some(g.latency_ms),
                "created_at": g.created_unix_ms,
                "completed_at": terminal.then(|| g.completed_unix_ms()),
            })
        })
        .collect();
    json!({
        "credit_balance": st.balance(org, now),
        "totals": {
            "total_requests": totals.requests,
            "completed_requests": totals.completed,
            "failed_requests": totals.failed,
            "total_cost_cents": totals.cost,
        },
        "daily_usage": daily_usage,
        "daily_usage_by_route": by_route,
        "recent_requests": recent,
    })
}

fn model_metrics(st: &State, slug: &str, now: Instant) -> Value {
    let mut latencies: Vec<u64> = Vec::new();
    let (mut total, mut completed, mut failed) = (0u64, 0u64, 0u64);
    for g in st.generations.values().filter(|g| g.model == slug) {
        total += 1;
        match g.phase(now) {
            Phase::Completed => {
                completed += 1;
                latencies.push(g.latency_ms);
            }
            Phase::Failed => failed += 1,
            _ => {}
        }
    }
    latencies.sort_unstable();
    let pct = |p: f64| -> Option<u64> {
        if latencies.is_empty() {
            return None;
        }
        let idx = ((latencies.len() as f64 - 1.0) * p).round() as usize;
        latencies.get(idx).copied()
    };
    let avg =
        (!latencies.is_empty()).then(|| latencies.iter().sum::<u64>() / latencies.len() as u64);
    let terminal = completed + failed;
    json!({
        "totalRequests": total,
        "completedRequests": completed,
        "failedRequests": failed,
        "successRate": if terminal == 0 { 0.0 } else { completed as f64 / terminal as f64 },
        "avgLatencyMs": avg,
        "p50LatencyMs": pct(0.5),
        "p95LatencyMs": pct(0.95),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_are_civil() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(1_709_827_200_000), "2024-03-07");
        assert_eq!(utc_date(951_782_400_000), "2000-02-29");
    }
}
