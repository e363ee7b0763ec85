//! What a create returns and what a wait takes: [`GenerationHandle`], [`WaitOptions`], and the
//! [`ProgressStream`] of a wait's events.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use futures_channel::mpsc;
use futures_core::Stream;

use super::{CancelToken, Client};
use crate::model::Generation;
use crate::poll::{DurationKey, Event, WaitStart};
use crate::transport::Transport;
use crate::{Error, GenerationRef, IdempotencyKey};

/// Options of one wait.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct WaitOptions {
    /// The wait's deadline; `None` takes the client's wait policy (default 10 minutes).
    pub deadline: Option<Duration>,
    /// A token that cancels the wait from elsewhere.
    pub cancel: Option<CancelToken>,
    /// How long ago the generation was created, if known (a resumed wait); `None` for
    /// "unknown", which polls at once and has no 404 grace (the first 404 ends the wait).
    pub age: Option<Duration>,
    /// When the generation was created (its `created_at`), if known: the age is read from it
    /// against the transport's wall clock when `age` is `None`.
    pub created_at: Option<SystemTime>,
}

impl WaitOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the deadline.
    #[must_use]
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Sets how long ago the generation was created: a resumed wait on a generation younger
    /// than the wait policy's 404 grace tolerates a 404 until the grace is over (it may not
    /// be readable yet); one of unknown age ends on the first 404.
    #[must_use]
    pub fn with_age(mut self, age: Duration) -> Self {
        self.age = Some(age);
        self
    }

    /// Sets when the generation was created (for example from
    /// [`Generation::created_at`](crate::model::Generation::created_at) and
    /// [`Timestamp::to_system_time`](crate::model::Timestamp::to_system_time)), for the same
    /// purpose as
    /// [`with_age`](Self::with_age); a time in the future counts as just created.
    #[must_use]
    pub fn with_created_at(mut self, created_at: SystemTime) -> Self {
        self.created_at = Some(created_at);
        self
    }

    /// Sets the cancellation token.
    #[must_use]
    pub fn with_cancel(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }
}

/// A generation just created: its reference exists before any waiting starts, so a dropped or
/// cancelled wait never loses it.
pub struct GenerationHandle<T> {
    pub(super) client: Client<T>,
    pub(super) generation: Generation,
    pub(super) idempotency_key: Option<IdempotencyKey>,
    pub(super) created: Instant,
    /// The key its completion teaches the client's duration learner (from the request).
    pub(super) learn_as: DurationKey,
}

impl<T> std::fmt::Debug for GenerationHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenerationHandle")
            .field("reference", self.generation.reference())
            .field("status", self.generation.status())
            .field("idempotency_key", &self.idempotency_key)
            .finish_non_exhaustive()
    }
}

impl<T> GenerationHandle<T> {
    /// The generation's resumable reference (`responses:gen_…`).
    pub fn reference(&self) -> &GenerationRef {
        self.generation.reference()
    }

    /// The generation as the create call returned it.
    pub fn generation(&self) -> &Generation {
        &self.generation
    }

    /// The idempotency key the create carried.
    pub fn idempotency_key(&self) -> Option<&IdempotencyKey> {
        self.idempotency_key.as_ref()
    }
}

impl<T: Transport> GenerationHandle<T> {
    /// Progress of this generation's wait (poll attempts, status changes), as a stream that
    /// ends with the wait. Subscribe before calling [`GenerationHandle::wait`].
    pub fn progress(&self) -> ProgressStream {
        self.client.progress(self.reference())
    }

    /// Waits until the generation completes (its video URL is then in
    /// [`Generation::video_url`]), fails, or the wait's deadline passes.
    ///
    /// The wait follows the prior the client learned for the create request's model and
    /// engine, once three of them completed, and its completion teaches it
    /// ([`ClientBuilder::learn_durations`](super::ClientBuilder::learn_durations)).
    pub async fn wait(self) -> Result<Generation, Error> {
        self.wait_with(WaitOptions::default()).await
    }

    /// [`GenerationHandle::wait`] with options.
    pub async fn wait_with(self, options: WaitOptions) -> Result<Generation, Error> {
        let age = options.age.unwrap_or_else(|| {
            self.client
                .inner
                .transport
                .now()
                .saturating_duration_since(self.created)
        });
        self.client
            .wait_inner(
                self.generation.reference().clone(),
                options,
                WaitStart::Created { age },
                Some(self.learn_as),
            )
            .await
    }
}

/// Progress events of one wait, from [`Client::progress`]. Ends when the wait ends.
#[derive(Debug)]
#[must_use = "streams do nothing unless polled"]
pub struct ProgressStream {
    pub(super) rx: mpsc::UnboundedReceiver<Event>,
}

impl Stream for ProgressStream {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        Pin::new(&mut self.rx).poll_next(cx)
    }
}
