//! Shared pacing for the Pipevideo SDK: one API key's budget, kept in Redis, for every process
//! and machine that uses the key.
//!
//! A Pipevideo key allows 100 requests per minute. One client keeps itself under that with its
//! own pacer; eight worker processes on one key each keep *themselves* under it and together
//! send eight times the budget, draw 429s, and each 429's hold is known only to the process
//! that got it. [`RedisStore`] puts the key's pacing in the Redis (or Valkey) your deployment
//! already runs:
//!
//! ```no_run
//! # async fn demo<T: pipevideo_core::transport::Transport>(transport: T)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! use pipevideo_core::{ApiKey, client::Client};
//! use pipevideo_redis::RedisStore;
//!
//! let store = RedisStore::open("redis://127.0.0.1:6379/")?;
//! let client = Client::builder(transport)
//!     .api_key(ApiKey::new("pv_0123456789abcdef")?)
//!     .shared_pacing(store)
//!     .build()?;
//! # Ok(()) }
//! ```
//!
//! (With the `pipevideo` facade: its `redis` feature re-exports this crate as
//! `pipevideo::redis`, and the builder is the same.)
//!
//! # What runs in Redis
//!
//! One Lua script per send, run atomically by `EVALSHA` (loaded with `SCRIPT LOAD` the first
//! time, and again after a `NOSCRIPT` answer, such as after a Redis restart). It reads the
//! clock with `TIME` *inside Redis*, so machines with skewed clocks agree: the script answers a
//! wait in microseconds, and each client turns it into an instant of its own clock. In the
//! script, for the key's scope:
//!
//! 1. **The 429 hold.** No slot before the hold a 429 published ([`HoldAsk`] →
//!    `SET … PX`, so it ends by itself). Read in the same round trip as the reservation.
//! 2. **An exact sliding log** (the guarantee): the last `limit` booked slots, in a list. A
//!    new slot is never before the last one booked, and never before the `limit`-th most recent
//!    one plus the window. So booked slots never go backwards and any `limit + 1` of them span
//!    at least a window: **no half-open window `[t, t + window)` of Redis's clock holds more
//!    than `limit` slots**, across every process (the proof is in
//!    [`pacing::shared`](pipevideo_core::pacing::shared)).
//! 3. **A GCRA** on top (the shape, as the local pacer): bursts of up to `burst`, then one slot
//!    per `window / limit`. It only ever delays. And no burst while one would not fit in the
//!    window (the slots of the last window plus `burst` over `limit`): then one slot per
//!    interval after the last. Otherwise the slots of a burst leave the window together and
//!    come back together one window later, where a few milliseconds of arrival jitter put
//!    them over the server's limit (the multi-process proof drew 1 to 4 × 429 per run until
//!    this rule, with 101 to 104 arrivals in its busiest minute).
//! 4. The first slot allowed is **booked** if it is at most one emission interval away (the
//!    client sleeps until it and sends); a later one is only announced and the client asks
//!    again then. So a key with room costs **one round trip per send**; a busy key costs one
//!    more round trip per waiting process per slot, and never books slots nobody will use soon.
//!
//! The keys are `{prefix}{k:<hash>}:log`, `…:tat` and `…:hold`, where `<hash>` is a
//! domain-separated SHA-256 of the API key (never the key itself) and the braces make them one
//! Redis Cluster hash slot. Each expires by itself once the key is idle for a window.
//!
//! # When Redis is down
//!
//! The client's choice ([`SharedPacingOptions`], on the client builder): **fail-open** (the
//! default) sends on the client's local pacer alone, logs one `WARN` per outage (target
//! `pipevideo_core::pacing::shared`), counts each such send in `Client::shared_pacing_stats`,
//! and asks Redis again a second later; **fail-closed** sends nothing and fails the call with
//! `ErrorKind::Pacing`. This store connects lazily, with a connect and a response timeout
//! ([`RedisStoreBuilder::timeout`], default 250 ms), and drops a failed connection so that
//! the next ask reconnects.
//!
//! # Secrets
//!
//! A Redis URL may hold a password. It is never printed: [`RedisStore`]'s `Debug` shows the
//! URL with the password replaced by `***`, and no error carries the URL.
//!
//! [`HoldAsk`]: pipevideo_core::pacing::shared::HoldAsk
//! [`SharedPacingOptions`]: pipevideo_core::pacing::shared::SharedPacingOptions

#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use pipevideo_core::pacing::shared::{HoldAsk, PacingStore, SlotAsk, StoreError};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Script};

/// The key prefix used unless [`RedisStoreBuilder::prefix`] sets another.
pub const DEFAULT_PREFIX: &str = "pipevideo:pacing:";

/// The connect and response timeout used unless [`RedisStoreBuilder::timeout`] sets another.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(250);

/// The reservation, run atomically. KEYS: log, tat, hold. ARGV: limit, window, interval,
/// burst, lookahead (µs). Answers `{granted, wait_us, hold_left_us, slot_us}` (the last on
/// Redis's clock, for audits). Times are microseconds of
/// Redis's `TIME`, below 2^53, exact in Lua's doubles; they are written with `%.0f` so that no
/// digit is lost to Lua's default number format.
const RESERVE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local interval = tonumber(ARGV[3])
local burst = tonumber(ARGV[4])
local lookahead = tonumber(ARGV[5])
local hold = tonumber(redis.call('GET', KEYS[3]) or '0')
local at = now
if hold > at then at = hold end
local log = redis.call('LRANGE', KEYS[1], 0, -1)
local n = #log
local last = 0
if n > 0 then
  last = tonumber(log[n])
  if last > at then at = last end
end
if n >= limit then
  local oldest = tonumber(log[n - limit + 1])
  if oldest + window > at then at = oldest + window end
end
local tat = tonumber(redis.call('GET', KEYS[2]) or '0')
local conforming = tat - (burst - 1) * interval
if conforming > at then at = conforming end
-- No burst while one would not fit in the window: one slot per interval after the last.
-- Otherwise the slots of a burst leave the window together and come back together one window
-- later, where a few ms of arrival jitter put them over the server's limit.
local recent = 0
for i = 1, n do
  if tonumber(log[i]) + window > now then recent = recent + 1 end
end
if n > 0 and recent + burst > limit and last + interval > at then at = last + interval end
local hold_left = 0
if hold > now then hold_left = hold - now end
if at - now > lookahead then
  return {0, at - now, hold_left, at}
end
redis.call('RPUSH', KEYS[1], string.format('%.0f', at))
redis.call('LTRIM', KEYS[1], -limit, -1)
if tat < at then tat = at end
tat = tat + interval
local ttl = math.ceil((tat - now + window) / 1000) + 1000
redis.call('SET', KEYS[2], string.format('%.0f', tat), 'PX', ttl)
redis.call('PEXPIRE', KEYS[1], ttl)
return {1, at - now, hold_left, at}
"#;

/// Publishes a hold. KEYS: hold. ARGV: hold (µs from Redis's now). Never shortens one.
const HOLD: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local hold = tonumber(ARGV[1])
local untill = now + hold
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if untill > current then
  redis.call('SET', KEYS[1], string.format('%.0f', untill), 'PX', math.ceil(hold / 1000) + 1)
end
return 0
"#;

/// A Redis URL that could not be used. Never contains the URL (it may hold a password).
#[derive(Debug)]
#[non_exhaustive]
pub struct RedisStoreError {
    message: String,
}

impl fmt::Display for RedisStoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid Redis URL for shared pacing: {}", self.message)
    }
}

impl std::error::Error for RedisStoreError {}

/// Builds a [`RedisStore`]: the key prefix and the timeout.
#[derive(Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct RedisStoreBuilder {
    url: String,
    prefix: String,
    timeout: Duration,
}

impl RedisStoreBuilder {
    /// The prefix of every Redis key (default [`DEFAULT_PREFIX`]). Processes share a budget
    /// when they use the same API key, the same Redis and the same prefix.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// The connect and the response timeout of each round trip (default 250 ms). A store that
    /// does not answer within it counts as down.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The store. Checks the URL; does not connect (the first send does).
    pub fn build(self) -> Result<RedisStore, RedisStoreError> {
        let shown = redact_url(&self.url)?;
        let client = redis::Client::open(self.url.as_str()).map_err(|e| RedisStoreError {
            // redis-rs's parse errors describe the problem, not the URL.
            message: e.to_string(),
        })?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        Ok(RedisStore {
            client,
            config,
            shown,
            prefix: self.prefix,
            connection: Mutex::new(None),
            reserve: Script::new(RESERVE),
            hold: Script::new(HOLD),
        })
    }
}

/// A [`PacingStore`] in Redis (or Valkey): see the [crate docs](crate) for what runs there.
///
/// Cheap to share: one multiplexed connection carries every ask of the client, from any task.
pub struct RedisStore {
    client: redis::Client,
    config: AsyncConnectionConfig,
    /// The URL without its password, for `Debug`.
    shown: String,
    prefix: String,
    connection: Mutex<Option<MultiplexedConnection>>,
    reserve: Script,
    hold: Script,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.shown)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store at `url` (`redis://[user:password@]host:port[/db]`; TLS, `rediss://`, is not
    /// built in) with the default prefix and timeout.
    ///
    /// ```
    /// let store = pipevideo_redis::RedisStore::open("redis://:s3cret@127.0.0.1:6379/")?;
    /// assert!(!format!("{store:?}").contains("s3cret"));
    /// # Ok::<(), pipevideo_redis::RedisStoreError>(())
    /// ```
    pub fn open(url: &str) -> Result<Self, RedisStoreError> {
        Self::builder(url).build()
    }

    /// A builder for a store at `url`.
    pub fn builder(url: &str) -> RedisStoreBuilder {
        RedisStoreBuilder {
            url: url.to_owned(),
            prefix: DEFAULT_PREFIX.to_owned(),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The URL with its password replaced by `***`: safe to print.
    pub fn redacted_url(&self) -> &str {
        &self.shown
    }

    /// The Redis key of `part` (`log`, `tat`, `hold`) in `scope`: one Cluster hash slot.
    fn key(&self, scope: &str, part: &str) -> String {
        format!("{}{{{scope}}}:{part}", self.prefix)
    }

    async fn connection(&self) -> Result<MultiplexedConnection, StoreError> {
        if let Some(connection) = self.slot().clone() {
            return Ok(connection);
        }
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await
            .map_err(|e| describe("connect", &e))?;
        *self.slot() = Some(connection.clone());
        Ok(connection)
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<MultiplexedConnection>> {
        self.connection
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A failed round trip: drop the connection so that the next ask reconnects.
    fn failed(&self, what: &str, error: &redis::RedisError) -> StoreError {
        if error.is_io_error()
            || error.is_connection_dropped()
            || error.is_connection_refusal()
            || error.is_timeout()
        {
            *self.slot() = None;
        }
        describe(what, error)
    }
}

fn describe(what: &str, error: &redis::RedisError) -> StoreError {
    StoreError::new(format!("redis {what}: {error}"))
}

/// The URL with its password (if any) replaced by `***`.
fn redact_url(raw: &str) -> Result<String, RedisStoreError> {
    let mut url = url::Url::parse(raw).map_err(|e| RedisStoreError {
        message: e.to_string(),
    })?;
    if url.password().is_some() {
        url.set_password(Some("***"))
            .map_err(|()| RedisStoreError {
                message: "the URL cannot hold a password".to_owned(),
            })?;
    }
    Ok(url.to_string())
}

#[async_trait::async_trait]
impl PacingStore for RedisStore {
    async fn reserve(&self, ask: &SlotAsk) -> Result<Vec<i64>, StoreError> {
        let mut connection = self.connection().await?;
        let scope = ask.scope();
        self.reserve
            .key(self.key(scope, "log"))
            .key(self.key(scope, "tat"))
            .key(self.key(scope, "hold"))
            .arg(ask.limit())
            .arg(ask.window_micros())
            .arg(ask.interval_micros())
            .arg(ask.burst())
            .arg(ask.lookahead_micros())
            .invoke_async::<Vec<i64>>(&mut connection)
            .await
            .map_err(|e| self.failed("reserve", &e))
    }

    async fn publish_hold(&self, ask: &HoldAsk) -> Result<(), StoreError> {
        let mut connection = self.connection().await?;
        self.hold
            .key(self.key(ask.scope(), "hold"))
            .arg(ask.hold_micros())
            .invoke_async::<i64>(&mut connection)
            .await
            .map(drop)
            .map_err(|e| self.failed("hold", &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_never_shown() {
        let store = RedisStore::open("redis://user:hunter2@127.0.0.1:6379/0").unwrap();
        let shown = format!("{store:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***") && shown.contains("127.0.0.1:6379"));
        let bad = RedisStore::open("redis//:hunter2@nowhere").unwrap_err();
        assert!(!bad.to_string().contains("hunter2"), "{bad}");
    }

    #[test]
    fn keys_share_one_cluster_slot_and_hide_the_key() {
        let store = RedisStore::builder("redis://127.0.0.1/")
            .prefix("app:")
            .build()
            .unwrap();
        assert_eq!(store.key("k:ab", "log"), "app:{k:ab}:log");
    }
}
