//! [`PacingPolicy`]: how fast one client may send (the [`Pacer`](crate::pacing::Pacer) applies it).

use std::time::Duration;

/// The longest window a [`PacingPolicy`] accepts; longer windows are clamped to it.
///
/// A day is far beyond any documented limit and keeps every instant computation in range.
pub const MAX_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// How fast one client may send: `limit` requests in any sliding `window`, in bursts of at most
/// `burst`.
///
/// A plain value with decorator-style builders. See the [pacing module docs](crate::pacing) for the default and
/// its reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PacingPolicy {
    pub(crate) limit: u32,
    pub(crate) window: Duration,
    pub(crate) burst: u32,
}

impl PacingPolicy {
    /// The limit the Pipevideo docs give for one API key: 100 requests per minute.
    pub const DOCUMENTED_LIMIT: u32 = 100;
    /// The default limit: 90 per window, a 10 % margin under [`Self::DOCUMENTED_LIMIT`].
    pub const DEFAULT_LIMIT: u32 = 90;
    /// The default window: 60 seconds, the documented one.
    pub const DEFAULT_WINDOW: Duration = Duration::from_secs(60);
    /// The default burst: 10 requests back to back after a quiet period.
    pub const DEFAULT_BURST: u32 = 10;

    /// At most `limit` requests in any sliding `window`, with the default burst (capped at
    /// `limit`).
    ///
    /// A `limit` of 0 is read as 1 (a client that may never send is not a policy); a `window`
    /// longer than [`MAX_WINDOW`] is clamped to it. A zero window turns pacing off.
    pub fn new(limit: u32, window: Duration) -> Self {
        let limit = limit.max(1);
        Self {
            limit,
            window: window.min(MAX_WINDOW),
            burst: Self::DEFAULT_BURST.min(limit),
        }
    }

    /// No pacing at all: every request may go at once (server holds after a 429 still apply).
    pub fn unlimited() -> Self {
        Self {
            limit: u32::MAX,
            window: Duration::ZERO,
            burst: u32::MAX,
        }
    }

    /// The same policy with a different request limit per window (0 is read as 1; the burst is
    /// capped at the new limit).
    #[must_use]
    pub fn with_limit(self, limit: u32) -> Self {
        let limit = limit.max(1);
        Self {
            limit,
            burst: self.burst.min(limit),
            ..self
        }
    }

    /// The same policy with a different window (clamped to [`MAX_WINDOW`]).
    #[must_use]
    pub fn with_window(self, window: Duration) -> Self {
        Self {
            window: window.min(MAX_WINDOW),
            ..self
        }
    }

    /// The same policy with a different burst: how many requests a quiet client may send back
    /// to back. Clamped to `1..=limit`; a burst equal to the limit turns the smoother off and
    /// leaves only the sliding-window bound.
    #[must_use]
    pub fn with_burst(self, burst: u32) -> Self {
        Self {
            burst: burst.clamp(1, self.limit),
            ..self
        }
    }

    /// Requests allowed in any sliding window.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// The length of the sliding window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Requests a quiet client may send back to back.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The GCRA emission interval `window / limit`: the steady spacing between requests.
    pub fn interval(&self) -> Duration {
        self.window / self.limit
    }
}

impl Default for PacingPolicy {
    /// 90 requests per 60 s, bursts of 10: see the [pacing module docs](crate::pacing) for why.
    fn default() -> Self {
        Self::new(Self::DEFAULT_LIMIT, Self::DEFAULT_WINDOW).with_burst(Self::DEFAULT_BURST)
    }
}
