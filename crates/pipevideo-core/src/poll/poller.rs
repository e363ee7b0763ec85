//! The sans-IO poller: one generation's wait as a state machine.
//!
//! Longer than the house's ~600 lines on purpose: the state machine, its outcome types and
//! its runnable doc examples read best as one piece; its tests live in `tests/poll_*.rs`.

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use rand_core::{RngCore, SeedableRng};

use super::{Event, PollFailureKind};
use crate::policy::{TerminalWebhook, WaitPolicy};
use crate::random::Sha256Rng;
use crate::webhook::WebhookEvent;
use crate::{GenerationRef, Status};

/// A value the poller can wait on: anything that tells a generation's [`Status`].
///
/// The client implements it for its generation type; tests implement it for a bare status.
///
/// ```
/// use pipevideo_core::{Status, poll::Snapshot};
/// struct Seen(Status);
/// impl Snapshot for Seen {
///     fn status(&self) -> Status { self.0.clone() }
/// }
/// ```
pub trait Snapshot {
    /// The status this snapshot reports.
    fn status(&self) -> Status;

    /// The snapshot a verified webhook event stands for, if one can be built from the event
    /// alone. The default is `None`: the event does not carry everything this type holds, so
    /// after a terminal event the poller asks for **one fetch** of the finished generation
    /// instead of inventing it (see [`Poller::handle_webhook`]). [`Status`] returns the
    /// event's status, so a `Poller<Status>` ends on the event itself.
    fn from_webhook(reference: &GenerationRef, event: &WebhookEvent) -> Option<Self>
    where
        Self: Sized,
    {
        let _ = (reference, event);
        None
    }

    /// The snapshot a verified terminal event stands for when the wait's policy accepts one
    /// built from the event alone ([`TerminalWebhook::UseEvent`]), even though it lacks what
    /// only a fetch gives (the client's [`Generation`](crate::model::Generation) returns
    /// [`Generation::from_webhook_event`](crate::model::Generation::from_webhook_event)). The
    /// default is [`Snapshot::from_webhook`].
    fn from_webhook_alone(reference: &GenerationRef, event: &WebhookEvent) -> Option<Self>
    where
        Self: Sized,
    {
        Self::from_webhook(reference, event)
    }
}

impl Snapshot for Status {
    fn status(&self) -> Status {
        self.clone()
    }

    fn from_webhook(_reference: &GenerationRef, event: &WebhookEvent) -> Option<Self> {
        Some(event.status().clone())
    }
}

/// Why one poll did not return a generation, in the poller's terms. The client driver maps its
/// call errors onto these (after the retry engine has done what it may for that call).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PollFailure {
    /// 401: the key was refused. Ends the wait at once.
    Unauthorized {
        /// The server's message.
        message: String,
    },
    /// 404: no such generation. Tolerated during [`WaitPolicy::not_found_grace`] after
    /// creation (a just-created generation may not be visible yet), then ends the wait.
    NotFound {
        /// The server's message.
        message: String,
    },
    /// 429, 5xx or a transport failure: never ends the wait. A 429 sets `not_before` (from
    /// `retry_after`), and no poll goes out earlier.
    Transient {
        /// The earliest instant the server will accept another request, if it said.
        not_before: Option<Instant>,
        /// What happened.
        message: String,
    },
    /// Anything polling again cannot fix (a 400, an undecodable body…). Ends the wait.
    Fatal {
        /// What happened.
        message: String,
    },
}

impl PollFailure {
    /// The kind of failure, without the message.
    pub fn kind(&self) -> PollFailureKind {
        match self {
            Self::Unauthorized { .. } => PollFailureKind::Unauthorized,
            Self::NotFound { .. } => PollFailureKind::NotFound,
            Self::Transient { .. } => PollFailureKind::Transient,
            Self::Fatal { .. } => PollFailureKind::Fatal,
        }
    }
}

/// A retrieve request to send now, from [`Poller::poll_transmit`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transmit {
    /// The generation to retrieve (its route follows from the flavour).
    pub reference: GenerationRef,
    /// 1 for the first poll of this wait.
    pub attempt: u32,
}

/// How a wait ended, with everything needed to resume it.
///
/// Every outcome carries the generation's [`GenerationRef`] and the last status a poll saw,
/// so a wait that ended without a result can be resumed with [`Poller::resume`] (or the
/// client's `wait`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WaitOutcome<G> {
    /// The generation waited on.
    pub reference: GenerationRef,
    /// The last status a poll saw, if any poll succeeded.
    pub last_status: Option<Status>,
    /// How many polls this wait sent.
    pub polls: u32,
    /// When the generation finished, as far as this wait saw it, as ages (time since creation,
    /// as far as the wait knows it): after the first and by the second. From polls: the last
    /// poll that saw it unfinished (zero if none did) and the answer that saw it finished; from
    /// a terminal webhook: the event's arrival, twice (an event follows the finish within its
    /// delivery time). `None` unless the wait ended [`Completed`](OutcomeKind::Completed) or
    /// [`Failed`](OutcomeKind::Failed). What
    /// [`DurationLearner::handle_outcome`](super::DurationLearner::handle_outcome) learns from.
    pub finished_between: Option<(Duration, Duration)>,
    /// How it ended.
    pub kind: OutcomeKind<G>,
}

/// How a wait ended. Only `Completed` means there is a video.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum OutcomeKind<G> {
    /// The generation completed; here it is.
    Completed(G),
    /// The generation failed; here it is, with its error detail.
    Failed(G),
    /// The deadline passed first (or a server-asked wait would have ended after it).
    DeadlineExceeded {
        /// When the server would have accepted the next poll, if it asked for a wait that
        /// ended after the deadline.
        server_ready_at: Option<Instant>,
    },
    /// [`Poller::cancel`] was called.
    Cancelled,
    /// 401: the key was refused.
    Unauthorized {
        /// The server's message.
        message: String,
    },
    /// 404 after the grace period: no such generation on this key.
    NotFound {
        /// The server's message.
        message: String,
    },
    /// A failure polling again cannot fix.
    Fatal {
        /// What happened.
        message: String,
    },
}

impl<G> OutcomeKind<G> {
    /// Whether a poll's answer decided this outcome (401, 404, a fatal answer, or a 429
    /// whose wait ends after the deadline): then that poll's error is the outcome's cause.
    /// A completion, a failure, a plain deadline or a cancel is its own cause.
    pub fn is_decided_by_poll(&self) -> bool {
        matches!(
            self,
            Self::Unauthorized { .. }
                | Self::NotFound { .. }
                | Self::Fatal { .. }
                | Self::DeadlineExceeded {
                    server_ready_at: Some(_)
                }
        )
    }
}

impl<G> WaitOutcome<G> {
    /// The generation, if the wait saw it finish (completed or failed).
    pub fn into_generation(self) -> Option<G> {
        match self.kind {
            OutcomeKind::Completed(g) | OutcomeKind::Failed(g) => Some(g),
            _ => None,
        }
    }

    /// Whether the generation completed.
    pub fn is_completed(&self) -> bool {
        matches!(self.kind, OutcomeKind::Completed(_))
    }
}

impl<G> fmt::Display for WaitOutcome<G> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.kind {
            OutcomeKind::Completed(_) => "completed",
            OutcomeKind::Failed(_) => "failed",
            OutcomeKind::DeadlineExceeded { .. } => "wait deadline exceeded",
            OutcomeKind::Cancelled => "wait cancelled",
            OutcomeKind::Unauthorized { .. } => "API key refused (401)",
            OutcomeKind::NotFound { .. } => "generation not found (404)",
            OutcomeKind::Fatal { .. } => "polling failed",
        };
        write!(f, "{}: {what}", self.reference)?;
        if let Some(s) = &self.last_status {
            write!(f, " (last status: {s})")?;
        }
        Ok(())
    }
}

/// How long before the deadline the last look goes out when the schedule's next poll would
/// fall after it.
const LAST_LOOK: Duration = Duration::from_secs(1);

/// One generation's wait, as a sans-IO state machine (quinn/str0m style).
///
/// The poller sends nothing and reads no clock: it says what to do, the caller does it and
/// reports back. Inputs are `handle_*` methods, outputs `poll_*` methods.
///
/// # The run loop
///
/// 1. Create it with [`Poller::new`] right after the create call (or [`Poller::resume`] for
///    a generation created earlier).
/// 2. If [`Poller::poll_outcome`] returns an outcome, the wait is over: stop.
/// 3. Drain [`Poller::poll_event`] (progress for UIs and logs; optional, but drain it).
/// 4. If [`Poller::poll_transmit`] returns a [`Transmit`], send that retrieve request, then
///    feed its result to [`Poller::handle_response`] (map the call's error to a
///    [`PollFailure`]) and go to 2.
/// 5. Otherwise sleep until [`Poller::poll_timeout`], call [`Poller::handle_timeout`] with
///    the time now, and go to 2.
///
/// The instant from `poll_timeout` is exactly actionable: calling `handle_timeout` at it
/// always makes progress (a poll becomes due or the wait ends), so the loop never spins.
/// While a request is in flight `poll_timeout` is the deadline: if the response has not
/// arrived by then the wait ends, and a late response is ignored. Every wait ends no later
/// than its deadline (a 429 whose `retry_after` ends after the deadline ends it at once).
///
/// ```no_run
/// use std::time::{Duration, Instant};
/// use rand::{SeedableRng, rngs::SmallRng};
/// use pipevideo_core::{GenerationRef, Status};
/// use pipevideo_core::poll::{PollFailure, Poller};
/// use pipevideo_core::policy::WaitPolicy;
///
/// # // Stands for your HTTP call: encode, send, decode.
/// # fn retrieve(_: &GenerationRef) -> Result<Status, PollFailure> { Ok(Status::Completed) }
/// # fn sleep_until(_: Instant) {}
/// let reference: GenerationRef = "responses:gen_abc123xyz".parse()?;
/// let mut rng = SmallRng::seed_from_u64(1);
/// let mut poller = Poller::<Status>::new(reference, WaitPolicy::default(), Instant::now(), &mut rng);
/// let outcome = loop {
///     if let Some(outcome) = poller.poll_outcome() {
///         break outcome;
///     }
///     while let Some(event) = poller.poll_event() {
///         println!("{event:?}");
///     }
///     if let Some(transmit) = poller.poll_transmit(Instant::now()) {
///         let result = retrieve(&transmit.reference);
///         poller.handle_response(Instant::now(), result);
///         continue;
///     }
///     if let Some(at) = poller.poll_timeout() {
///         sleep_until(at);
///     }
///     poller.handle_timeout(Instant::now());
/// };
/// println!("{outcome}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Poller<G> {
    reference: GenerationRef,
    policy: WaitPolicy,
    started: Instant,
    /// Age of the generation when the wait started.
    age: Duration,
    deadline: Instant,
    /// When the next poll is wanted; `None` while in flight or finished.
    next_poll: Option<Instant>,
    /// When the request in flight was sent.
    in_flight: Option<Instant>,
    polls: u32,
    last_status: Option<Status>,
    /// Time since creation at which a poll last saw the generation unfinished, if one did.
    last_alive: Option<Duration>,
    /// When it finished, once a terminal answer or event said so (see
    /// [`WaitOutcome::finished_between`]).
    finished_between: Option<(Duration, Duration)>,
    finished: bool,
    /// When a terminal webhook arrived whose generation `G` could not be built from: the next
    /// poll is the one fetch of the finished generation, due at once (fetches go first-come
    /// first-served, by this instant).
    webhook_fetch: Option<Instant>,
    /// The latest instant a 429 asked this wait not to poll before; kept across later answers
    /// so that no poll goes out inside the window.
    server_hold: Option<Instant>,
    outcome: Option<WaitOutcome<G>>,
    events: VecDeque<Event>,
    rng: Sha256Rng,
}

impl<G: Snapshot> Poller<G> {
    /// Starts waiting on a generation created just now. The first poll follows the schedule.
    pub fn new(
        reference: GenerationRef,
        policy: WaitPolicy,
        now: Instant,
        rng: &mut impl RngCore,
    ) -> Self {
        let mut p = Self::start(reference, policy, now, Duration::ZERO, rng);
        let first = p.policy.schedule.next_poll(Duration::ZERO, 0, &mut p.rng);
        let first = now.checked_add(first).unwrap_or(p.deadline);
        p.next_poll = p.clamp_to_deadline(first, now, now);
        p
    }

    /// Resumes waiting on a generation created `age` ago (from an earlier outcome or a
    /// stored [`GenerationRef`]). The first poll goes out at once.
    pub fn resume(
        reference: GenerationRef,
        policy: WaitPolicy,
        now: Instant,
        age: Duration,
        rng: &mut impl RngCore,
    ) -> Self {
        let mut p = Self::start(reference, policy, now, age, rng);
        p.next_poll = Some(now);
        p
    }

    fn start(
        reference: GenerationRef,
        policy: WaitPolicy,
        now: Instant,
        age: Duration,
        rng: &mut impl RngCore,
    ) -> Self {
        // The deadline is at most a week (`WaitPolicy::MAX_DEADLINE`); an age beyond a year is
        // as good as "long ago" and is capped so that it cannot overflow.
        let deadline = now + policy.deadline;
        let age = age.min(Duration::from_secs(365 * 24 * 60 * 60));
        Self {
            reference,
            policy,
            started: now,
            age,
            deadline,
            next_poll: None,
            in_flight: None,
            polls: 0,
            last_status: None,
            last_alive: None,
            finished_between: None,
            finished: false,
            webhook_fetch: None,
            server_hold: None,
            outcome: None,
            events: VecDeque::new(),
            rng: Sha256Rng::from_rng(rng),
        }
    }

    /// The generation waited on.
    pub fn reference(&self) -> &GenerationRef {
        &self.reference
    }

    /// The last status a poll saw.
    pub fn last_status(&self) -> Option<&Status> {
        self.last_status.as_ref()
    }

    /// The instant the wait gives up.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// How many polls were sent.
    pub fn polls(&self) -> u32 {
        self.polls
    }

    /// Whether the wait has ended (its outcome may still be waiting in
    /// [`Poller::poll_outcome`]).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Time since the generation was created, as far as this poller knows.
    fn elapsed(&self, now: Instant) -> Duration {
        self.age
            .saturating_add(now.saturating_duration_since(self.started))
    }

    /// The retrieve request to send now, if one is due.
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        if !self.is_due(now) {
            return None;
        }
        Some(self.send(now))
    }

    pub(crate) fn is_due(&self, now: Instant) -> bool {
        !self.finished
            && self.in_flight.is_none()
            && now < self.deadline
            && self.next_poll.is_some_and(|t| t <= now)
    }

    pub(crate) fn send(&mut self, now: Instant) -> Transmit {
        self.polls += 1;
        self.in_flight = Some(now);
        self.next_poll = None;
        self.events.push_back(Event::PollSent {
            attempt: self.polls,
            elapsed: self.elapsed(now),
        });
        Transmit {
            reference: self.reference.clone(),
            attempt: self.polls,
        }
    }

    /// When to call [`Poller::handle_timeout`] next: the next poll or the deadline, whichever
    /// is first. `None` once the wait has ended.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        Some(
            self.next_poll
                .map_or(self.deadline, |t| t.min(self.deadline)),
        )
    }

    /// The instant the next poll is wanted, if none is in flight.
    pub(crate) fn next_poll(&self) -> Option<Instant> {
        if self.finished { None } else { self.next_poll }
    }

    /// Time passes: ends the wait at its deadline. (A poll that falls due is returned by
    /// [`Poller::poll_transmit`].)
    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.finished && now >= self.deadline {
            self.finish(OutcomeKind::DeadlineExceeded {
                server_ready_at: None,
            });
        }
    }

    /// The result of the poll sent last. Ignored once the wait has ended (a late response).
    ///
    /// A response while no poll is in flight is still taken as news about the generation.
    pub fn handle_response(&mut self, now: Instant, result: Result<G, PollFailure>) {
        if self.finished {
            return;
        }
        let sent_at = self.in_flight.take().unwrap_or(now);
        let attempt = self.polls;
        match result {
            Ok(generation) => {
                let status = generation.status();
                self.note_status(now, &status);
                if matches!(status, Status::Completed | Status::Failed) {
                    let lower = self.last_alive.unwrap_or_default();
                    // A terminal webhook already said when (the fetch only brings the body).
                    self.finished_between
                        .get_or_insert((lower, self.elapsed(now)));
                }
                match status {
                    Status::Completed => self.finish(OutcomeKind::Completed(generation)),
                    Status::Failed => self.finish(OutcomeKind::Failed(generation)),
                    _ => {
                        self.last_alive = Some(self.elapsed(sent_at));
                        self.schedule_next(now, sent_at, Bound::Schedule);
                    }
                }
            }
            Err(failure) => {
                let kind = failure.kind();
                match failure {
                    PollFailure::Unauthorized { message } => {
                        self.finish(OutcomeKind::Unauthorized { message });
                    }
                    PollFailure::Fatal { message } => self.finish(OutcomeKind::Fatal { message }),
                    PollFailure::NotFound { message } => {
                        if self.elapsed(now) < self.policy.not_found_grace {
                            // Not visible yet: look again soon, within the grace.
                            let soon = now + Duration::from_secs(1);
                            self.schedule_next(now, sent_at, Bound::NoLaterThan(soon));
                        } else {
                            self.finish(OutcomeKind::NotFound { message });
                        }
                    }
                    PollFailure::Transient { not_before, .. } => match not_before {
                        Some(t) if t >= self.deadline => {
                            self.finish(OutcomeKind::DeadlineExceeded {
                                server_ready_at: Some(t),
                            });
                        }
                        _ => {
                            let bound = not_before.map_or(Bound::Schedule, Bound::NotBefore);
                            self.schedule_next(now, sent_at, bound);
                        }
                    },
                }
                self.events.push_back(Event::PollFailed {
                    attempt,
                    kind,
                    next_poll: self.next_poll(),
                });
            }
        }
    }

    /// Ends the wait now with [`OutcomeKind::Cancelled`]. Returns whether it was still running.
    pub fn cancel(&mut self) -> bool {
        if self.finished {
            return false;
        }
        self.finish(OutcomeKind::Cancelled);
        true
    }

    /// A verified webhook event. Returns whether it was about this wait's generation (same
    /// generation id; the event carries no flavour) while the wait was running; any other
    /// event is ignored.
    ///
    /// - `completed` or `failed`: ends the wait **without continuing the polling loop**. If
    ///   `G` can be built from the event ([`Snapshot::from_webhook`], e.g. [`Status`]), the
    ///   wait ends now with [`OutcomeKind::Completed`]/[`OutcomeKind::Failed`] and no further
    ///   poll. Otherwise (the client's full `Generation`), exactly one fetch of the finished
    ///   generation becomes due at once, whatever the schedule, and its answer ends the wait
    ///   as a terminal poll does; it is counted in [`Poller::polls`]. Should that read still
    ///   say "running" (the API lagging behind its own webhook), it is repeated within a
    ///   second until it agrees, the deadline still bounding the wait.
    /// - Any other status (including unknown ones): only updates the last status seen.
    ///
    /// ```
    /// use std::time::{Duration, Instant, SystemTime};
    /// use rand::{SeedableRng, rngs::SmallRng};
    /// use pipevideo_core::{Status, policy::WaitPolicy, poll::{OutcomeKind, Poller}};
    /// use pipevideo_core::webhook::{Verifier, WebhookSecret, sign};
    ///
    /// let secret = WebhookSecret::new("whsec_c2VjcmV0")?;
    /// let body = br#"{"eventType":"video.generation.completed","generationId":"gen_1","status":"completed","outputUrl":"https://v"}"#;
    /// let sent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_827_200);
    /// let signed = sign(&secret, "msg_1", sent, body);
    /// let event = Verifier::new(secret).verify_headers(signed.as_headers(), body, sent)?;
    ///
    /// let start = Instant::now();
    /// let policy = WaitPolicy::default().with_webhooks(true);
    /// let mut poller = Poller::<Status>::new("responses:gen_1".parse()?, policy, start, &mut SmallRng::seed_from_u64(1));
    /// assert!(poller.handle_webhook(start + Duration::from_secs(50), &event));
    /// let outcome = poller.poll_outcome().expect("the webhook ended the wait");
    /// assert!(matches!(outcome.kind, OutcomeKind::Completed(Status::Completed)));
    /// assert_eq!(outcome.polls, 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn handle_webhook(&mut self, now: Instant, event: &WebhookEvent) -> bool {
        if self.finished || event.generation_id() != self.reference.id() {
            return false;
        }
        let status = event.status().clone();
        self.note_status(now, &status);
        if matches!(status, Status::Completed | Status::Failed) {
            let arrived = self.elapsed(now);
            self.finished_between.get_or_insert((arrived, arrived));
            let built = match self.policy.terminal_webhook {
                TerminalWebhook::Fetch => G::from_webhook(&self.reference, event),
                TerminalWebhook::UseEvent => G::from_webhook_alone(&self.reference, event),
            };
            match built {
                Some(generation) if status == Status::Completed => {
                    self.finish(OutcomeKind::Completed(generation));
                }
                Some(generation) => self.finish(OutcomeKind::Failed(generation)),
                None => {
                    self.webhook_fetch.get_or_insert(now);
                    // A poll in flight will bring the answer; otherwise fetch at once.
                    if self.in_flight.is_none() {
                        self.next_poll = Some(now);
                    }
                }
            }
        }
        true
    }

    /// Whether a terminal webhook arrived and the one fetch of the finished generation is
    /// pending (only for snapshot types that cannot be built from an event).
    pub fn awaits_webhook_fetch(&self) -> bool {
        !self.finished && self.webhook_fetch.is_some()
    }

    fn note_status(&mut self, now: Instant, status: &Status) {
        if self.last_status.as_ref() != Some(status) {
            self.events.push_back(Event::StatusChanged {
                from: self.last_status.take(),
                to: status.clone(),
                elapsed: self.elapsed(now),
            });
            self.last_status = Some(status.clone());
        }
    }

    /// How the wait ended, once. `None` while it runs (and after the outcome was taken).
    #[must_use]
    pub fn poll_outcome(&mut self) -> Option<WaitOutcome<G>> {
        self.outcome.take()
    }

    /// The next progress event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Which due poll the fleet sends first: the largest [`Urgency`].
    pub(crate) fn urgency(&self, now: Instant) -> Urgency {
        if let Some(at) = self.webhook_fetch {
            // Known to be finished: this fetch finds it for sure. Oldest event first.
            return Urgency::Fetch(now.saturating_duration_since(at));
        }
        let prior = self.policy.schedule.prior();
        Urgency::Poll(prior.expected_accrued_delay(
            self.last_alive.unwrap_or_default().as_secs_f64(),
            self.elapsed(now).as_secs_f64(),
        ))
    }

    fn schedule_next(&mut self, now: Instant, sent_at: Instant, bound: Bound) {
        // After a terminal webhook, fetch again soon rather than on the (safety-net) schedule.
        let bound = match (bound, self.webhook_fetch.is_some()) {
            (Bound::Schedule, true) => Bound::NoLaterThan(now + Duration::from_secs(1)),
            (bound, _) => bound,
        };
        let elapsed_at_send = self.elapsed(sent_at);
        let wanted = self
            .policy
            .schedule
            .next_poll(elapsed_at_send, self.polls, &mut self.rng);
        // Past the deadline (or past what an `Instant` holds) is the same: the last look.
        let at = self
            .started
            .checked_add(wanted.saturating_sub(self.age))
            .unwrap_or(self.deadline);
        if let Bound::NotBefore(t) = bound {
            self.server_hold = Some(self.server_hold.map_or(t, |h| h.max(t)));
        }
        let (mut at, mut earliest) = match bound {
            Bound::Schedule => (at, now),
            Bound::NoLaterThan(t) => (at.min(t), now),
            Bound::NotBefore(t) => (at.max(t), now.max(t)),
        };
        if let Some(hold) = self.server_hold {
            at = at.max(hold);
            earliest = earliest.max(hold);
        }
        self.next_poll = self.clamp_to_deadline(at, earliest, sent_at);
    }

    /// A poll wanted after the deadline becomes a last look just before it (never before
    /// `earliest`), unless the poll sent at `sent` already was that last look: then no poll,
    /// and the deadline ends the wait.
    fn clamp_to_deadline(&self, at: Instant, earliest: Instant, sent: Instant) -> Option<Instant> {
        let at = at.max(earliest);
        if at < self.deadline {
            return Some(at);
        }
        let last = self
            .deadline
            .checked_sub(LAST_LOOK)
            .unwrap_or(self.deadline)
            .max(earliest);
        (last > sent && last < self.deadline).then_some(last)
    }

    fn finish(&mut self, kind: OutcomeKind<G>) {
        self.finished = true;
        self.next_poll = None;
        self.in_flight = None;
        self.outcome = Some(WaitOutcome {
            reference: self.reference.clone(),
            last_status: self.last_status.clone(),
            polls: self.polls,
            finished_between: matches!(kind, OutcomeKind::Completed(_) | OutcomeKind::Failed(_))
                .then_some(self.finished_between)
                .flatten(),
            kind,
        });
    }
}

/// How much a due poll is worth now, for the [`Fleet`](super::Fleet) to choose among due
/// polls. Every fetch a terminal webhook asked for outranks every schedule poll; fetches go in
/// the order their events arrived (so that N completions at once all return in about the least time
/// the budget allows, the first announced first), schedule polls by the detection delay the
/// generation has accrued by now, in expectation (seconds): what polling it now would save.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub(crate) enum Urgency {
    /// A schedule poll and its expected accrued delay.
    Poll(f64),
    /// The one fetch after a terminal webhook, and how long ago the event arrived.
    Fetch(Duration),
}

/// What bounds the next poll besides the schedule.
#[derive(Debug, Clone, Copy)]
enum Bound {
    /// The schedule alone.
    Schedule,
    /// No later than this (a quick re-check).
    NoLaterThan(Instant),
    /// Never earlier than this (a server-asked wait).
    NotBefore(Instant),
}
