//! The per-call retry policy: limits as data, with decorator-style builders.

use std::time::Duration;

use crate::policy::Backoff;

/// How one call retries: attempt limit, overall deadline, per-attempt timeout, backoff and the
/// cap on server-asked waits. A plain `Copy` value; the client holds a default and a call may
/// override it. Every default is in the [table of defaults](crate::retry#defaults), with its
/// reason.
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::policy::Backoff;
/// use pipevideo_core::policy::RetryPolicy;
///
/// let policy = RetryPolicy::default()
///     .with_attempt_limit(6)
///     .with_deadline(Duration::from_secs(300))
///     .with_backoff(Backoff::default().with_cap(Duration::from_secs(30)));
/// assert_eq!(policy.attempt_limit(), 6);
/// assert_eq!(RetryPolicy::no_retries().attempt_limit(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetryPolicy {
    attempt_limit: u32,
    deadline: Duration,
    attempt_timeout: Duration,
    backoff: Backoff,
    server_wait_cap: Duration,
    create_replay: CreateReplay,
}

/// Whether a create that may have reached the server is sent again.
///
/// A create answered with a 5xx, cut off by a timeout or a reset after it was sent, or answered
/// with a `2xx` that does not decode may have started a generation. Sending it again is a
/// *replay*. Every attempt of a create carries the same `Idempotency-Key`, but **the Pipevideo
/// docs do not say that the server deduplicates on it**: on a server that ignores the key, each
/// replay may start (and bill) one more generation. The API's own rule is to retry 500s, so
/// the default replays; the stricter settings bound what a server that ignores the key can
/// cost. Retries that certainly did not create anything (a 429, a connection that was never
/// made) are not replays and follow the retry policy under every setting. A create without an
/// idempotency key is never replayed.
///
/// | Setting | Replays of one create | Generations on a server that ignores the key, at worst |
/// |---|---|---|
/// | [`WithKey`](Self::WithKey) (default) | as many as the attempt limit allows | the attempt limit (4 by default) |
/// | [`AtMostOnce`](Self::AtMostOnce) | 1 | 2 |
/// | [`Never`](Self::Never) | 0 | 1 |
///
/// A create that stops for this reason fails with
/// [`GiveUpReason::ReplayLimit`](crate::retry::GiveUpReason::ReplayLimit), carrying its
/// idempotency key so that the caller can reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum CreateReplay {
    /// Replay with the same idempotency key as often as the retry policy allows (default).
    #[default]
    WithKey,
    /// Replay at most once.
    AtMostOnce,
    /// Never replay: a create that may have reached the server ends the call.
    Never,
}

impl CreateReplay {
    /// The most replays of one create, `None` for "as the retry policy allows".
    pub fn limit(self) -> Option<u32> {
        match self {
            Self::WithKey => None,
            Self::AtMostOnce => Some(1),
            Self::Never => Some(0),
        }
    }
}

impl RetryPolicy {
    /// Default attempts per call, the first included: 4.
    pub const DEFAULT_ATTEMPT_LIMIT: u32 = 4;
    /// Default overall deadline of one call, all attempts and waits included: 90 s.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(90);
    /// Default timeout of one attempt: 30 s.
    pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);
    /// Default cap on a wait the server asks for: 120 s.
    pub const DEFAULT_SERVER_WAIT_CAP: Duration = Duration::from_secs(120);

    /// One attempt, no retries; the other limits stay the defaults.
    pub fn no_retries() -> Self {
        Self::default().with_attempt_limit(1)
    }

    /// The same policy with a different number of attempts, the first included (0 is read as 1:
    /// a call always makes its first attempt).
    #[must_use]
    pub fn with_attempt_limit(self, attempts: u32) -> Self {
        Self {
            attempt_limit: attempts.max(1),
            ..self
        }
    }

    /// The same policy with a different overall deadline, covering every attempt and every
    /// wait of the call. `Duration::MAX` means no deadline.
    #[must_use]
    pub fn with_deadline(self, deadline: Duration) -> Self {
        Self { deadline, ..self }
    }

    /// The same policy with a different timeout per attempt (an attempt also never runs past
    /// the call's deadline).
    #[must_use]
    pub fn with_attempt_timeout(self, timeout: Duration) -> Self {
        Self {
            attempt_timeout: timeout,
            ..self
        }
    }

    /// The same policy with a different backoff for server errors and transport failures.
    #[must_use]
    pub fn with_backoff(self, backoff: Backoff) -> Self {
        Self { backoff, ..self }
    }

    /// The same policy with a different cap on server-asked waits: a 429 (or 5xx) asking for
    /// longer makes the call give up at once rather than sleep.
    #[must_use]
    pub fn with_server_wait_cap(self, cap: Duration) -> Self {
        Self {
            server_wait_cap: cap,
            ..self
        }
    }

    /// The same policy with a different [`CreateReplay`]: whether a create that may have
    /// reached the server is sent again (default [`CreateReplay::WithKey`]).
    #[must_use]
    pub fn with_create_replay(self, replay: CreateReplay) -> Self {
        Self {
            create_replay: replay,
            ..self
        }
    }

    /// Whether a create that may have reached the server is sent again.
    pub fn create_replay(&self) -> CreateReplay {
        self.create_replay
    }

    /// Attempts per call, the first included (at least 1).
    pub fn attempt_limit(&self) -> u32 {
        self.attempt_limit
    }

    /// The overall deadline of one call.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The timeout of one attempt.
    pub fn attempt_timeout(&self) -> Duration {
        self.attempt_timeout
    }

    /// The backoff schedule.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The cap on server-asked waits.
    pub fn server_wait_cap(&self) -> Duration {
        self.server_wait_cap
    }
}

impl Default for RetryPolicy {
    /// 4 attempts, 90 s deadline, 30 s per attempt, the default [`Backoff`], 120 s cap on
    /// server-asked waits, creates replayed with their key ([`CreateReplay::WithKey`]).
    fn default() -> Self {
        Self {
            attempt_limit: Self::DEFAULT_ATTEMPT_LIMIT,
            deadline: Self::DEFAULT_DEADLINE,
            attempt_timeout: Self::DEFAULT_ATTEMPT_TIMEOUT,
            backoff: Backoff::default(),
            server_wait_cap: Self::DEFAULT_SERVER_WAIT_CAP,
            create_replay: CreateReplay::WithKey,
        }
    }
}
