//! [`WaitPolicy`]: how long a wait lasts and how it polls.

use std::time::Duration;

use crate::policy::PollSchedule;

/// Why a wait policy could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WaitPolicyError {
    /// The deadline must be positive.
    #[error("the wait deadline must be positive")]
    ZeroDeadline,
    /// The deadline must be at most [`WaitPolicy::MAX_DEADLINE`] (a week).
    #[error("the wait deadline must be at most a week, got {0:?}")]
    TooLong(Duration),
}

/// How to wait: the deadline, the schedule and the grace for a 404 after creation.
///
/// | Setting | Default | Why |
/// |---|---|---|
/// | deadline | 10 min | about six times the median generation (55 s) and far beyond its 99.9th percentile (≈ 160 s); a wait always ends |
/// | schedule | [`PollSchedule::default`] (adaptive; its prior learned per model by the client, see [`DurationLearner`](crate::poll::DurationLearner)) | ≈ 19 polls per generation, detection in ≈ 1 s |
/// | 404 grace | 10 s after creation (a handle of this client, or a resumed wait of known age; none for unknown age) | a generation may not be readable for a moment after its create returns |
///
/// The deadline counts from the start of the wait ([`Poller::new`](crate::poll::Poller::new)/[`Poller::resume`](crate::poll::Poller::resume)), not
/// from creation, so a resumed wait gets a full deadline again.
///
/// # With webhooks: polling as a safety net
///
/// When webhook deliveries are fed to the wait ([`Poller::handle_webhook`](crate::poll::Poller::handle_webhook), or the client's
/// `handle_webhook`), [`WaitPolicy::with_webhooks`]`(true)` replaces the schedule with one poll
/// every [`WaitPolicy::WEBHOOK_SAFETY_NET`] (60 s): the webhook ends the wait, and the rare
/// polls only catch a delivery that never arrives (endpoint down, Svix giving up). A lost
/// webhook then costs at most 60 s of latency; a 55 s generation whose webhook arrives costs no
/// poll at all (plus one fetch for a client that needs the full generation). The deadline
/// still ends the wait, with a last look just before it.
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::policy::WaitPolicy;
/// let policy = WaitPolicy::default().with_webhooks(true);
/// assert!(policy.expects_webhooks());
/// assert_eq!(WaitPolicy::WEBHOOK_SAFETY_NET, Duration::from_secs(60));
/// assert_eq!(policy.deadline(), WaitPolicy::DEFAULT_DEADLINE);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WaitPolicy {
    pub(crate) deadline: Duration,
    pub(crate) schedule: PollSchedule,
    pub(crate) not_found_grace: Duration,
    pub(crate) webhooks: bool,
    pub(crate) terminal_webhook: TerminalWebhook,
}

/// What a wait does with a verified terminal webhook event (`completed` or `failed`) when the
/// snapshot it returns cannot be built from the event alone (the client's full
/// [`Generation`](crate::model::Generation)).
///
/// A terminal event carries the generation's id, status, video URL and, for a failure, the
/// error message; it does not carry the body a `GET` returns (model, engine, timestamps,
/// output items, `usage` with its token counts and cost).
///
/// | | [`Fetch`](Self::Fetch) (default) | [`UseEvent`](Self::UseEvent) |
/// |---|---|---|
/// | requests per finished generation | one `GET` | none |
/// | the returned generation | the whole body, `usage` included, a fresh signed URL | status, video URL, failure message; [`Generation::is_from_webhook`](crate::model::Generation::is_from_webhook) is `true`; no `usage`, model, engine or timestamps until you fetch it ([`Client::retrieve`](crate::client::Client::retrieve)) |
/// | 500 completions in one minute, 90 requests per minute | the last wait returns about 5.5 min later (each fetch waits its turn in the key's budget; the fetches go first-come first-served, ahead of every schedule poll) | every wait returns when its event arrives |
///
/// Choose [`UseEvent`](Self::UseEvent) when many generations finish together and you need the
/// video before the bill: the request budget then goes to creates. The event was verified
/// (signature and timestamp), so its status and URL are the server's word; the URL is the one
/// signed when the event was sent, so download it promptly or fetch a fresh one.
///
/// ```
/// use pipevideo_core::policy::{TerminalWebhook, WaitPolicy};
///
/// let policy = WaitPolicy::default()
///     .with_webhooks(true)
///     .with_terminal_webhook(TerminalWebhook::UseEvent);
/// assert_eq!(policy.terminal_webhook(), TerminalWebhook::UseEvent);
/// assert_eq!(WaitPolicy::default().terminal_webhook(), TerminalWebhook::Fetch);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum TerminalWebhook {
    /// Fetch the finished generation once (one `GET`, ahead of every schedule poll) and return
    /// that. The default.
    #[default]
    Fetch,
    /// Return the generation the event describes, with no request.
    UseEvent,
}

impl Default for WaitPolicy {
    fn default() -> Self {
        Self {
            deadline: Self::DEFAULT_DEADLINE,
            schedule: PollSchedule::default(),
            not_found_grace: Self::DEFAULT_NOT_FOUND_GRACE,
            webhooks: false,
            terminal_webhook: TerminalWebhook::Fetch,
        }
    }
}

impl WaitPolicy {
    /// The default wait deadline: 10 minutes.
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(600);
    /// The default grace for a 404 after creation: 10 seconds.
    pub const DEFAULT_NOT_FOUND_GRACE: Duration = Duration::from_secs(10);

    /// Sets the deadline (from the start of the wait); zero is refused.
    pub fn with_deadline(mut self, deadline: Duration) -> Result<Self, WaitPolicyError> {
        if deadline.is_zero() {
            return Err(WaitPolicyError::ZeroDeadline);
        }
        if deadline > Self::MAX_DEADLINE {
            return Err(WaitPolicyError::TooLong(deadline));
        }
        self.deadline = deadline;
        Ok(self)
    }

    /// The longest wait deadline accepted: a week. Generations take about a minute; a longer
    /// deadline is a mistake (e.g. `Duration::MAX` meant as "forever"), and refusing it keeps
    /// instant arithmetic from overflowing.
    pub const MAX_DEADLINE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

    /// The interval of the safety-net schedule of [`WaitPolicy::with_webhooks`]: 60 s. Long
    /// enough that a generation of typical length (median 55 s) is not polled before its
    /// webhook arrives, short enough that a lost delivery costs at most a minute.
    pub const WEBHOOK_SAFETY_NET: Duration = Duration::from_secs(60);

    /// What a terminal webhook event does to a wait whose snapshot the event cannot stand for:
    /// one fetch (the default) or nothing more ([`TerminalWebhook`] has the trade-off).
    #[must_use]
    pub fn with_terminal_webhook(mut self, terminal: TerminalWebhook) -> Self {
        self.terminal_webhook = terminal;
        self
    }

    /// What a terminal webhook event does: see [`TerminalWebhook`].
    pub fn terminal_webhook(&self) -> TerminalWebhook {
        self.terminal_webhook
    }

    /// Sets the schedule.
    #[must_use]
    pub fn with_schedule(mut self, schedule: PollSchedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// Whether webhook deliveries are expected to end the wait. `true` replaces the schedule
    /// with the safety net (one poll every [`WaitPolicy::WEBHOOK_SAFETY_NET`], no jitter);
    /// `false` restores the default adaptive schedule. Set a custom schedule afterwards with
    /// [`WaitPolicy::with_schedule`] if you want a different safety net.
    #[must_use]
    pub fn with_webhooks(mut self, expected: bool) -> Self {
        self.webhooks = expected;
        self.schedule = if expected {
            PollSchedule::fixed(Self::WEBHOOK_SAFETY_NET)
                .expect("the safety-net interval is far above the minimum")
        } else {
            PollSchedule::default()
        };
        self
    }

    /// Whether [`WaitPolicy::with_webhooks`] was set.
    pub fn expects_webhooks(&self) -> bool {
        self.webhooks
    }

    /// Sets how long after creation a 404 is taken for "not visible yet" (zero: never).
    #[must_use]
    pub fn with_not_found_grace(mut self, grace: Duration) -> Self {
        self.not_found_grace = grace;
        self
    }

    /// The deadline, counted from the start of the wait.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The schedule.
    pub fn schedule(&self) -> &PollSchedule {
        &self.schedule
    }

    /// How long after creation a 404 is tolerated.
    pub fn not_found_grace(&self) -> Duration {
        self.not_found_grace
    }
}
