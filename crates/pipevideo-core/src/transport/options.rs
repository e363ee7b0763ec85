//! Per-attempt settings of [`HttpClient::send`](super::HttpClient::send) and
//! [`HttpClient::download`](super::HttpClient::download), and their defaults.

use std::time::Duration;

/// The default cap on a response body read by [`HttpClient::send`](super::HttpClient::send): 8 MiB.
///
/// Every Pipevideo JSON response is far smaller; the cap exists so that a misbehaving server or
/// proxy that sends a gigabyte produces a typed error instead of exhausting memory.
pub const DEFAULT_BODY_LIMIT: u64 = 8 * 1024 * 1024;

/// The default cap on the body of a non-success response to [`HttpClient::download`](super::HttpClient::download): 64 KiB.
pub const DEFAULT_ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// The most a transport reserves for a body before its bytes arrive, whatever `Content-Length`
/// announces: a length is only the server's word, and a cap raised to gigabytes must not become
/// a gigabyte allocation (or an aborted process) on that word alone. Past this, a buffer grows
/// as bytes come in.
pub const PREALLOCATE_AT_MOST: usize = 64 * 1024;

/// Per-attempt settings for [`HttpClient::send`](super::HttpClient::send).
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::transport::{SendOptions, DEFAULT_BODY_LIMIT};
///
/// let options = SendOptions::new().with_timeout(Duration::from_secs(30));
/// assert_eq!(options.timeout(), Some(Duration::from_secs(30)));
/// assert_eq!(options.body_limit(), DEFAULT_BODY_LIMIT);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SendOptions {
    timeout: Option<Duration>,
    body_limit: u64,
}

impl SendOptions {
    /// No timeout and the [`DEFAULT_BODY_LIMIT`].
    pub const fn new() -> Self {
        Self {
            timeout: None,
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Bound the whole attempt (connect, send, headers, body) by `timeout`.
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Set or clear the per-attempt timeout.
    #[must_use]
    pub const fn with_timeout_opt(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Cap the response body at `limit` bytes.
    #[must_use]
    pub const fn with_body_limit(mut self, limit: u64) -> Self {
        self.body_limit = limit;
        self
    }

    /// The per-attempt timeout, if any.
    pub const fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The cap on the response body, in bytes.
    pub const fn body_limit(&self) -> u64 {
        self.body_limit
    }
}

impl Default for SendOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Settings for [`HttpClient::download`](super::HttpClient::download).
///
/// A video can be large and slow to arrive, so a download is not bounded by a total time but by
/// how long the response headers may take ([`timeout`](Self::timeout)) and how long the stream
/// may stall between two chunks ([`idle_timeout`](Self::idle_timeout)).
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::transport::DownloadOptions;
///
/// let options = DownloadOptions::new()
///     .with_timeout(Duration::from_secs(30))
///     .with_idle_timeout(Duration::from_secs(60))
///     .with_max_bytes(2 << 30);
/// assert_eq!(options.max_bytes(), Some(2 << 30));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DownloadOptions {
    timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    max_bytes: Option<u64>,
    error_body_limit: u64,
}

impl DownloadOptions {
    /// No timeouts, no size cap on the streamed body, and [`DEFAULT_ERROR_BODY_LIMIT`].
    pub const fn new() -> Self {
        Self {
            timeout: None,
            idle_timeout: None,
            max_bytes: None,
            error_body_limit: DEFAULT_ERROR_BODY_LIMIT,
        }
    }

    /// Bound the time until the response headers arrive.
    #[must_use]
    pub const fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Bound the time the body may stall between two chunks.
    #[must_use]
    pub const fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout);
        self
    }

    /// Fail with [`Cause::BodyTooLarge`](super::Cause::BodyTooLarge) when the body is over `max` bytes: before writing
    /// anything when the response announces its length, else once the cap is crossed, with
    /// exactly `max` bytes in the sink by then.
    #[must_use]
    pub const fn with_max_bytes(mut self, max: u64) -> Self {
        self.max_bytes = Some(max);
        self
    }

    /// Cap the body of a non-success response (which is returned, not streamed).
    #[must_use]
    pub const fn with_error_body_limit(mut self, limit: u64) -> Self {
        self.error_body_limit = limit;
        self
    }

    /// The time allowed until the response headers arrive, if bounded.
    pub const fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// The time the body may stall between two chunks, if bounded.
    pub const fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// The cap on the streamed body, if any.
    pub const fn max_bytes(&self) -> Option<u64> {
        self.max_bytes
    }

    /// The cap on the body of a non-success response.
    pub const fn error_body_limit(&self) -> u64 {
        self.error_body_limit
    }
}

impl Default for DownloadOptions {
    fn default() -> Self {
        Self::new()
    }
}
