//! The shared-pacing round trips: before a send, ask the client's [`PacingStore`] for a slot
//! as [`SharedPacing`] says, sleep as its answer says; after a 429, publish the hold it says.
//! Every decision is [`SharedPacing`]'s; this file only moves asks, answers and sleeps.

use std::time::Instant;

use super::{Client, Shared, lock};
use crate::pacing::shared::{SharedPacingError, SharedPacingStats, SlotDecision, StoreAsk};
use crate::transport::Transport;

/// Whether a send may go, after the shared store was asked.
pub(super) enum Slot {
    /// Send now (a slot was booked, or the client fails open while the store is down, or no
    /// store is configured).
    Go,
    /// The store's first slot is past the send's budget.
    TooLate(Instant),
    /// The store is down and the client fails closed.
    Refused(SharedPacingError),
}

impl<T: Transport> Client<T> {
    /// Counters of this client's shared pacing (`None` without
    /// [`ClientBuilder::shared_pacing`](super::ClientBuilder::shared_pacing)): slots booked,
    /// busy answers, store errors, sends paced locally while the store was down, refusals,
    /// holds published. Read them into your metrics.
    pub fn shared_pacing_stats(&self) -> Option<SharedPacingStats> {
        lock(&self.inner.shared)
            .shared_pacing
            .as_ref()
            .map(|s| s.stats())
    }

    /// Asks the shared store for a slot and sleeps until it; `send_by` is the latest instant
    /// the send may start.
    pub(super) async fn shared_slot(&self, send_by: Option<Instant>) -> Slot {
        let Some(store) = self.inner.store.as_deref() else {
            return Slot::Go;
        };
        let transport = &self.inner.transport;
        // Waiting in this queue comes out of the send's budget like the store's wait.
        let queued = self.inner.slot_queue.acquire().await;
        loop {
            let ask = {
                let mut shared = lock(&self.inner.shared);
                match shared.shared_pacing.as_mut() {
                    Some(pacing) => pacing.ask(transport.now()),
                    None => return Slot::Go,
                }
            };
            let ask = match ask {
                StoreAsk::Ask(ask) => ask,
                StoreAsk::Local => return Slot::Go,
                StoreAsk::Refuse(error) => return Slot::Refused(error),
            };
            let reply = store.reserve(&ask).await;
            let now = transport.now();
            let decision = {
                let mut shared = lock(&self.inner.shared);
                let Shared {
                    shared_pacing,
                    pacer,
                    ..
                } = &mut *shared;
                let Some(pacing) = shared_pacing.as_mut() else {
                    return Slot::Go;
                };
                let (decision, hold) = pacing.handle_reply_with_hold(now, reply, send_by);
                if let Some(hold) = hold {
                    pacer.hold_until(hold);
                }
                decision
            };
            match decision {
                SlotDecision::SendAt(at) => {
                    // Booked: the next task of this client may ask for the following slot.
                    drop(queued);
                    if at > now {
                        transport.sleep_until(at).await;
                    }
                    return Slot::Go;
                }
                SlotDecision::AskAgainAt(at) => transport.sleep_until(at).await,
                SlotDecision::TooLate { first_slot } => return Slot::TooLate(first_slot),
                SlotDecision::Local => return Slot::Go,
                SlotDecision::Refuse(error) => return Slot::Refused(error),
            }
        }
    }

    /// Publishes the client's hold to the shared store if judging an answer grew it from
    /// `before` (a 429).
    pub(super) async fn publish_hold(&self, now: Instant, before: Option<Instant>) {
        let Some(store) = self.inner.store.as_deref() else {
            return;
        };
        let ask = {
            let mut shared = lock(&self.inner.shared);
            let Shared {
                shared_pacing,
                pacer,
                ..
            } = &mut *shared;
            let after = pacer.held_until();
            match shared_pacing.as_mut() {
                Some(pacing) => pacing.hold_to_publish(now, before, after),
                None => None,
            }
        };
        if let Some(ask) = ask
            && let Err(error) = store.publish_hold(&ask).await
        {
            let now = self.inner.transport.now();
            if let Some(pacing) = lock(&self.inner.shared).shared_pacing.as_mut() {
                pacing.handle_publish_error(now, error);
            }
        }
    }
}
