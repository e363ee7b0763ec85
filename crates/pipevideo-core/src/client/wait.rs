//! The wait driver: every wait of a client shares one [`Fleet`]; whichever wait is awake sends
//! the poll the fleet picks, hands the judged answer back, and sleeps until the fleet's next
//! timeout, a webhook, or its own end.

use futures_channel::{mpsc, oneshot};
use tracing::Instrument;

use super::pacing::Slot;
use super::select::{Either, select};
use super::{CancelToken, Client, ProgressStream, Shared, WaitOptions, lock};
use crate::model::Generation;
use crate::poll::DurationKey;
use crate::poll::{PollAnswer, PollFailure, WaitStart};
use crate::transport::{SendOptions, Transport};
use crate::{Error, GenerationRef, WaitError};

impl<T: Transport> Client<T> {
    /// Progress of the wait on `reference` (poll attempts, status changes). The stream ends
    /// when that wait ends; events before subscribing are not replayed.
    pub fn progress(&self, reference: &GenerationRef) -> ProgressStream {
        let (tx, rx) = mpsc::unbounded();
        lock(&self.inner.shared)
            .waits
            .entry(reference.clone())
            .or_default()
            .progress
            .push(tx);
        ProgressStream { rx }
    }

    /// Waits on a generation by its reference: resumes a wait that ended (deadline, crash,
    /// Ctrl-C) or waits on one created elsewhere. Polls at once, then on the schedule. The
    /// 404 grace of the wait policy applies only when the generation's age is known
    /// ([`WaitOptions::with_age`], [`WaitOptions::with_created_at`]) and inside it; a
    /// reference of unknown age ends on the first 404.
    ///
    /// A reference does not say its model: the wait follows the wait policy's prior, not a
    /// learned one, and teaches the learner nothing
    /// ([`ClientBuilder::learn_durations`](super::ClientBuilder::learn_durations)).
    pub async fn wait(&self, reference: &GenerationRef) -> Result<Generation, Error> {
        self.wait_with(reference, WaitOptions::default()).await
    }

    /// [`Client::wait`] with options.
    pub async fn wait_with(
        &self,
        reference: &GenerationRef,
        options: WaitOptions,
    ) -> Result<Generation, Error> {
        let wall_now = self.inner.transport.wall_now();
        let age = options.age.or_else(|| {
            options
                .created_at
                .map(|at| wall_now.duration_since(at).unwrap_or_default())
        });
        let start = WaitStart::Resumed { age };
        // A bare reference: no model known, so the default prior and nothing learned.
        self.wait_inner(reference.clone(), options, start, None)
            .await
    }

    /// Feeds a verified webhook event to the waits of this client: a `completed` or `failed`
    /// event ends the wait on that generation (matched by id; the event carries no flavour)
    /// without continuing its polling loop. Returns whether a wait was on that generation;
    /// events for other generations are ignored.
    ///
    /// **One fetch.** A webhook does not carry the whole [`Generation`], so the wait then
    /// retrieves it once (a single `GET`, through the shared pacing, ahead of any other poll,
    /// first announced first) and returns that, with a fresh signed video URL; a failed
    /// generation ends the wait with [`WaitErrorKind::Failed`](crate::WaitErrorKind::Failed) as
    /// a failed poll does. **Or none:** with
    /// [`TerminalWebhook::UseEvent`](crate::policy::TerminalWebhook::UseEvent) on the wait
    /// policy the wait returns [`Generation::from_webhook_event`] at once (no `usage`, model or
    /// timestamps until you [`retrieve`](Client::retrieve) it). Other statuses only update the last
    /// status seen. Pair it with [`WaitPolicy::with_webhooks`](crate::policy::WaitPolicy::with_webhooks) on the client's wait policy so
    /// that polling only runs as a rare safety net.
    ///
    /// Holding a [`WebhookEvent`](crate::webhook::WebhookEvent) proves it was verified
    /// ([`Verifier`](crate::webhook::Verifier)); deduplicate deliveries before or after, as
    /// you like: a repeated event is harmless here.
    ///
    /// ```no_run
    /// # async fn demo<T: pipevideo_core::transport::Transport>(
    /// #     client: pipevideo_core::client::Client<T>,
    /// #     verifier: pipevideo_core::webhook::Verifier,
    /// #     headers: http::HeaderMap, body: Vec<u8>,
    /// # ) {
    /// // In the webhook route (while other tasks are in `handle.wait()`):
    /// if let Ok(event) = verifier.verify(&headers, &body, std::time::SystemTime::now()) {
    ///     client.handle_webhook(&event);
    /// }
    /// # }
    /// ```
    pub fn handle_webhook(&self, event: &crate::webhook::WebhookEvent) -> bool {
        let now = self.inner.transport.now();
        let mut shared = lock(&self.inner.shared);
        let found = shared.fleet.handle_webhook(now, event).is_ok();
        dispatch(&mut shared);
        if found {
            wake_sleepers(&mut shared);
        }
        tracing::debug!(generation = %event.generation_id(), status = %event.status(), found, "webhook");
        found
    }

    /// Stops every wait on `reference` ([`WaitErrorKind::Cancelled`](crate::WaitErrorKind::Cancelled)). Returns whether a wait
    /// was running.
    pub fn cancel_wait(&self, reference: &GenerationRef) -> bool {
        let mut shared = lock(&self.inner.shared);
        let found = shared.fleet.cancel(reference);
        dispatch(&mut shared);
        wake_sleepers(&mut shared);
        found
    }

    pub(super) async fn wait_inner(
        &self,
        reference: GenerationRef,
        options: WaitOptions,
        start: WaitStart,
        learning: Option<DurationKey>,
    ) -> Result<Generation, Error> {
        let span = tracing::info_span!("pipevideo.wait", generation = %reference);
        self.wait_loop(reference, options, start, learning)
            .instrument(span)
            .await
    }

    async fn wait_loop(
        &self,
        reference: GenerationRef,
        options: WaitOptions,
        start: WaitStart,
        learning: Option<DurationKey>,
    ) -> Result<Generation, Error> {
        let transport = &self.inner.transport;
        let mut policy = self.inner.settings.wait.clone();
        if let Some(deadline) = options.deadline {
            policy = policy.with_deadline(deadline).map_err(|e| {
                let message = e.to_string();
                let cause = Error::Input(crate::InputError::WaitPolicy(e));
                Error::Wait(Box::new(WaitError::fatal(&reference, message, Some(cause))))
            })?;
        }
        let deadline = policy.deadline();
        let deadline_at = transport.now().checked_add(deadline);
        let (tx, mut rx) = oneshot::channel();
        {
            let mut shared = lock(&self.inner.shared);
            let now = transport.now();
            if shared.fleet.poller(&reference).is_none() {
                let Shared {
                    fleet,
                    rng,
                    learner,
                    learning: learned_waits,
                    ..
                } = &mut *shared;
                // The learned prior of the handle's model, if the policy takes one.
                let policy = match learner {
                    Some(learner) => learner.wait_policy(&policy, learning.as_ref()),
                    None => policy,
                };
                fleet
                    .insert_wait(reference.clone(), policy, now, start, rng)
                    .map_err(|e| {
                        Error::Wait(Box::new(WaitError::fatal(&reference, e.to_string(), None)))
                    })?;
                if let (Some(_), Some(learning)) = (learner, learning) {
                    learned_waits.insert(reference.clone(), learning);
                }
            }
            shared
                .waits
                .entry(reference.clone())
                .or_default()
                .notify
                .push(tx);
        }
        let _registration = Registration {
            client: self,
            reference: &reference,
        };
        let no_cancel = CancelToken::new();
        let cancel = options.cancel.as_ref().unwrap_or(&no_cancel);
        loop {
            if cancel.is_cancelled() {
                self.cancel_wait(&reference);
            }
            if let Ok(Some((outcome, cause))) = rx.try_recv() {
                return outcome.conclude(cause, deadline, deadline_at);
            }
            let now = transport.now();
            let (action, nudged) = {
                let mut shared = lock(&self.inner.shared);
                shared.fleet.handle_timeout(now);
                let Shared { fleet, pacer, .. } = &mut *shared;
                let action = match fleet.poll_transmit(now, pacer) {
                    Some(transmit) => {
                        let timeout = fleet.attempt_timeout(
                            now,
                            self.inner.settings.retry.attempt_timeout(),
                            &transmit.reference,
                            &reference,
                        );
                        Either::Left((transmit.reference, timeout))
                    }
                    None => Either::Right(fleet.poll_timeout(pacer)),
                };
                dispatch(&mut shared);
                // Registered under the same lock as the decision, so a webhook arriving
                // after it always wakes this wait.
                let (nudge, nudged) = oneshot::channel();
                shared.sleepers.retain(|tx| !tx.is_canceled());
                shared.sleepers.push(nudge);
                (action, nudged)
            };
            match action {
                Either::Left((target, timeout)) => {
                    let mut in_flight = InFlight {
                        client: self,
                        reference: Some(target.clone()),
                    };
                    // The cancel is raced against the poll in flight: a Ctrl-C does not wait
                    // for the answer. The abandoned poll is reported to the fleet by
                    // `in_flight`'s drop, and the loop's top ends the wait.
                    let poll = std::pin::pin!(self.poll_once(&target, timeout));
                    let cancelled = std::pin::pin!(cancel.cancelled());
                    let result = match select(cancelled, poll).await {
                        Either::Left(()) => continue,
                        Either::Right(result) => result,
                    };
                    in_flight.reference = None;
                    let now = transport.now();
                    let held_before = {
                        let mut shared = lock(&self.inner.shared);
                        // The generation may have left the fleet while the poll was in flight
                        // (deadline, cancel): then the answer is no longer needed.
                        let Shared { fleet, pacer, .. } = &mut *shared;
                        let held_before = pacer.held_until();
                        let _ = fleet.handle_response(now, pacer, &target, result);
                        dispatch(&mut shared);
                        wake_sleepers(&mut shared);
                        held_before
                    };
                    self.publish_hold(now, held_before).await;
                }
                Either::Right(wake) => {
                    let Some(wake) = wake else {
                        // Nothing left in the fleet: our outcome is in the channel.
                        continue;
                    };
                    let sleep = std::pin::pin!(transport.sleep_until(wake));
                    let cancelled = std::pin::pin!(cancel.cancelled());
                    let woken = select(select(sleep, nudged), select(&mut rx, cancelled)).await;
                    if let Either::Right(Either::Left(Ok((outcome, cause)))) = woken {
                        return outcome.conclude(cause, deadline, deadline_at);
                    }
                }
            }
        }
    }

    /// One poll of one generation: a single attempt, judged by [`PollAnswer`]. The answer's
    /// error is kept for the waits, in case this poll decides how they end.
    /// `timeout` is the attempt's timeout, already cut to the waits' deadlines
    /// ([`Fleet::attempt_timeout`](crate::poll::Fleet::attempt_timeout)).
    async fn poll_once(
        &self,
        reference: &GenerationRef,
        timeout: std::time::Duration,
    ) -> Result<Generation, PollFailure> {
        let transport = &self.inner.transport;
        let encoder = self.encoder();
        let answer = match encoder.retrieve(reference) {
            Err(error) => PollAnswer::unsendable(error),
            Ok(request) => {
                // A poll waits for a shared pacing slot at most one attempt's time (a slot
                // further away reschedules it there), then has its whole attempt's time.
                let send_by = transport.now().checked_add(timeout);
                match self.shared_slot(send_by).await {
                    Slot::Go => {
                        let options = SendOptions::new()
                            .with_timeout(timeout)
                            .with_body_limit(self.inner.settings.body_limit);
                        let span = tracing::debug_span!("pipevideo.poll", generation = %reference);
                        let result = transport.send(request, options).instrument(span).await;
                        let (now, wall_now) = (transport.now(), transport.wall_now());
                        PollAnswer::judge(
                            now,
                            wall_now,
                            reference.flavor(),
                            result,
                            Some(encoder.secret()),
                        )
                    }
                    Slot::TooLate(first_slot) => PollAnswer::unpaced(first_slot, transport.now()),
                    Slot::Refused(error) => PollAnswer::refused(error),
                }
            }
        };
        let (result, error) = answer.into_parts();
        tracing::debug!(generation = %reference, ok = result.is_ok(), "poll");
        let mut shared = lock(&self.inner.shared);
        match error {
            Some(error) => shared.poll_errors.insert(reference.clone(), error),
            None => shared.poll_errors.remove(reference),
        };
        result
    }
}

/// Keeps the fleet consistent when a wait's future is dropped: a wait nobody awaits any more is
/// cancelled in the fleet.
struct Registration<'a, T> {
    client: &'a Client<T>,
    reference: &'a GenerationRef,
}

impl<T> Drop for Registration<'_, T> {
    fn drop(&mut self) {
        let mut shared = lock(&self.client.inner.shared);
        let orphaned = match shared.waits.get_mut(self.reference) {
            Some(waits) => {
                waits.notify.retain(|tx| !tx.is_canceled());
                waits.notify.is_empty()
            }
            None => false,
        };
        if orphaned {
            shared.fleet.cancel(self.reference);
            dispatch(&mut shared);
            shared.waits.remove(self.reference);
            wake_sleepers(&mut shared);
        }
    }
}

/// A poll in flight: if its future is dropped before the answer, the fleet is told the poll
/// failed, so the generation is polled again by another wait.
struct InFlight<'a, T: Transport> {
    client: &'a Client<T>,
    reference: Option<GenerationRef>,
}

impl<T: Transport> Drop for InFlight<'_, T> {
    fn drop(&mut self) {
        if let Some(reference) = self.reference.take() {
            let now = self.client.inner.transport.now();
            let mut shared = lock(&self.client.inner.shared);
            let Shared { fleet, pacer, .. } = &mut *shared;
            let _ = fleet.handle_response(
                now,
                pacer,
                &reference,
                Err(PollFailure::Transient {
                    not_before: None,
                    message: "poll abandoned".into(),
                }),
            );
            dispatch(&mut shared);
            wake_sleepers(&mut shared);
        }
    }
}

/// Wakes every sleeping wait so that it recomputes when to wake: called whenever the fleet
/// changed other than through the sleeper's own decision (a poll answered, a poll or wait
/// abandoned, a webhook). Without it, a wait that went to sleep while its generation's poll was
/// in flight in another wait's loop would sleep until its deadline.
fn wake_sleepers(shared: &mut Shared) {
    for sleeper in shared.sleepers.drain(..) {
        let _ = sleeper.send(());
    }
}

/// Hands the fleet's events and outcomes to the waits that await them.
fn dispatch(shared: &mut Shared) {
    while let Some(event) = shared.fleet.poll_event() {
        if let Some(waits) = shared.waits.get_mut(&event.reference) {
            waits
                .progress
                .retain(|tx| tx.unbounded_send(event.event.clone()).is_ok());
        }
    }
    while let Some(outcome) = shared.fleet.poll_outcome() {
        // A wait on a handle of this client teaches the learner (only a completion counts, and
        // the outcome says when it finished: `handle_outcome` decides).
        if let Some(key) = shared.learning.remove(&outcome.reference)
            && let Some(learner) = shared.learner.as_mut()
        {
            learner.handle_outcome(&key, &outcome, None);
        }
        let last_error = shared.poll_errors.remove(&outcome.reference);
        // Only an outcome a poll decided takes that poll's error as its cause; a deadline or a
        // cancel is its own cause.
        let cause = last_error.filter(|_| outcome.kind.is_decided_by_poll());
        if let Some(waits) = shared.waits.remove(&outcome.reference) {
            for tx in waits.notify {
                let _ = tx.send((outcome.clone(), cause.clone()));
            }
        }
    }
}
