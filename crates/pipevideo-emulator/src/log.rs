//! The request log and the webhook delivery log.

use serde::{Deserialize, Serialize};

use crate::fault::FaultTiming;

/// A fault that struck a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppliedFault {
    /// The fault's name ([`crate::Fault::name`]).
    pub kind: String,
    /// Before or after processing. Faults that mangle a real response (reset, truncated JSON,
    /// unknown status, huge body) are always recorded as `after`.
    pub timing: FaultTiming,
}

/// One request the emulator received (control endpoints under `/_emulator` are not logged).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogEntry {
    /// 0, 1, 2... in arrival order.
    pub seq: u64,
    /// Real milliseconds since the emulator started, when the request arrived.
    pub elapsed_ms: u64,
    /// Real Unix milliseconds when the request arrived.
    pub unix_ms: u64,
    /// `GET`, `POST`...
    pub method: String,
    /// The path with its query string.
    pub path: String,
    /// Request headers, lowercase names. `authorization` is replaced by `Bearer <fingerprint>`
    /// ([`crate::fingerprint`]); the key itself is never recorded.
    pub headers: Vec<(String, String)>,
    /// The key's fingerprint, when a bearer token was sent.
    pub key_fingerprint: Option<String>,
    /// The organization the key belongs to, when it is known.
    pub org: Option<String>,
    /// The request body (lossy UTF-8, cut at 64 KiB).
    pub body: String,
    /// The status sent (for a reset, the status line that was sent before the cut).
    pub status: u16,
    /// The fault that struck, if any.
    pub fault: Option<AppliedFault>,
    /// The id of the generation this request created, if it created one (a fault with timing
    /// `after` can lose the response of a request that did).
    pub generation_created: Option<String>,
    /// The generation an `Idempotency-Key` replay returned instead of creating a new one.
    pub idempotent_replay_of: Option<String>,
    /// Whether the rate limiter rejected the request.
    pub rate_limited: bool,
}

impl LogEntry {
    /// A header value by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Per API key (by fingerprint), how many requests arrived and how many were answered 429:
/// [`Emulator::rate_limits`](crate::Emulator::rate_limits) and
/// [`RateLimitReport::from_log`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeyRateLimits {
    /// The key's fingerprint ([`crate::fingerprint`]); the key itself is never recorded.
    pub key_fingerprint: String,
    /// Requests that carried the key.
    pub requests: u64,
    /// Of those, the ones the per-key rate limiter refused with 429.
    pub rate_limited: u64,
    /// Of those, every 429 sent, the limiter's and injected faults' alike.
    pub status_429: u64,
}

/// The 429s the emulator sent, per key, in the order keys first appeared.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RateLimitReport {
    /// One row per key fingerprint.
    pub keys: Vec<KeyRateLimits>,
}

impl RateLimitReport {
    /// Counts the entries of `log` per key.
    pub fn from_log<'a>(log: impl IntoIterator<Item = &'a LogEntry>) -> Self {
        let mut keys: Vec<KeyRateLimits> = Vec::new();
        for entry in log {
            let Some(fp) = &entry.key_fingerprint else {
                continue;
            };
            let row = match keys.iter().position(|k| &k.key_fingerprint == fp) {
                Some(i) => &mut keys[i],
                None => {
                    keys.push(KeyRateLimits {
                        key_fingerprint: fp.clone(),
                        ..KeyRateLimits::default()
                    });
                    keys.last_mut().expect("just pushed")
                }
            };
            row.requests += 1;
            row.rate_limited += u64::from(entry.rate_limited);
            row.status_429 += u64::from(entry.status == 429);
        }
        Self { keys }
    }

    /// The row of the key with this fingerprint.
    pub fn key(&self, fingerprint: &str) -> Option<&KeyRateLimits> {
        self.keys.iter().find(|k| k.key_fingerprint == fingerprint)
    }
}

/// One attempt to deliver a webhook.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebhookAttempt {
    /// The `svix-id` (the same for every attempt of one message).
    pub svix_id: String,
    /// The endpoint URL.
    pub endpoint: String,
    /// The generation the event is about.
    pub generation_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// Real milliseconds since the emulator started.
    pub elapsed_ms: u64,
    /// The endpoint's status, or `None` when the connection failed.
    pub status: Option<u16>,
    /// The connection error, if any.
    pub error: Option<String>,
    /// The raw body sent (signed as-is).
    pub body: String,
}
