//! The transport-generic async client: the only async code that touches the engine.
//!
//! [`Client<T>`] moves requests, responses and sleeps between the core's decisions and a
//! [`Transport`]; it decides nothing itself. Every call goes through the same loop:
//!
//! 1. The client's [`Pacer`] says when the request may go (the key's request limit, and any
//!    hold a 429 put on the whole client); a send that could not start before the call's
//!    deadline is not waited for. With a shared [`PacingStore`], the store is then asked for
//!    the key's slot across every process ([`SharedPacing`] decides what to ask and what the
//!    answer means), and a 429's hold is published to it.
//! 2. The request is encoded by the [`RequestEncoder`] and sent
//!    with a per-attempt timeout cut to the deadline.
//! 3. The outcome goes to the call's [`Call`](crate::call::Call) state machine, which answers
//!    done, retry at `T`, or give up; the client sleeps until `T` and goes back to 1.
//!
//! Waiting for generations uses one shared [`Fleet`]: every concurrent wait of a client puts its
//! generation into it, and whichever wait is awake sends the poll the fleet picks, so that all
//! waits share the key's budget and the polls go where they find the most finished work.
//!
//! ```no_run
//! # async fn demo<T: pipevideo_core::transport::Transport>(transport: T) -> Result<(), pipevideo_core::Error> {
//! use pipevideo_core::{ApiKey, client::Client, model::CreateResponse};
//!
//! let client = Client::builder(transport)
//!     .api_key(ApiKey::new("pv_0123456789abcdef")?)
//!     .build()?;
//! let handle = client
//!     .create(&CreateResponse::new("moonshotai/kimi-k2.5", "A cat on a beach"))
//!     .await?;
//! // The reference exists before any waiting starts: store it to resume after a crash.
//! println!("created {}", handle.reference());
//! let video = handle.wait().await?;
//! println!("video at {:?}", video.video_url());
//! # Ok(()) }
//! ```

mod baton;
mod builder;
mod call;
mod cancel;
mod download;
mod entropy;
mod handle;
mod learn;
mod pacing;
#[cfg(feature = "fs")]
mod save;
mod select;
mod wait;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};

use futures_channel::{mpsc, oneshot};

pub use builder::ClientBuilder;
pub use cancel::{CancelToken, Cancelled};
pub use handle::{GenerationHandle, ProgressStream, WaitOptions};
#[cfg(feature = "fs")]
#[cfg_attr(docsrs, doc(cfg(feature = "fs")))]
pub use save::{SaveOptions, SavedVideo, VideoSource};

use crate::codec::RequestEncoder;
use crate::model::Generation;
use crate::pacing::Pacer;
use crate::pacing::shared::{PacingStore, SharedPacing};
use crate::policy::{DownloadPolicy, RetryPolicy, WaitPolicy};
use crate::poll::{DurationKey, DurationLearner, Event, Fleet};
use crate::retry::RetryBudget;
use crate::transport::Transport;
use crate::{ApiKey, Error, GenerationRef};

/// The environment variable the key is read from by [`ClientBuilder::from_env`].
pub const API_KEY_ENV: &str = "PIPEVIDEO_API_KEY";
/// The environment variable that overrides the base URL (the official client's name for it).
pub const API_URL_ENV: &str = "PIPEVIDEO_API_URL";

/// A Pipevideo client over a transport `T`. Cheap to clone; clones share the key, the pacing,
/// the retry budget and the fleet of waits.
///
/// Most users get one from the `pipevideo` facade (`pipevideo::Client::new(key)`), which picks
/// the reqwest transport; [`Client::builder`] takes any [`Transport`].
pub struct Client<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Client<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> std::fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &read(&self.inner.encoder).base_url().as_str())
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

struct Inner<T> {
    transport: T,
    /// Swapped whole on key rotation; each call takes a cheap `Arc` clone.
    encoder: RwLock<Arc<RequestEncoder>>,
    settings: Settings,
    /// The shared pacing store, when the key's budget is shared across processes.
    store: Option<Arc<dyn PacingStore>>,
    /// One ask of the store at a time per client: the calls and polls of this client waiting
    /// for a slot queue here, so that a busy key costs one round trip per client per slot,
    /// not one per waiting task. Served in arrival order (see `baton`).
    slot_queue: baton::BatonQueue,
    shared: Mutex<Shared>,
}

#[derive(Debug, Clone)]
struct Settings {
    retry: RetryPolicy,
    wait: WaitPolicy,
    body_limit: u64,
    idempotency: bool,
    download: DownloadPolicy,
}

struct Shared {
    pacer: Pacer,
    /// What to ask the shared store and how to read it (with a store only).
    shared_pacing: Option<SharedPacing>,
    budget: RetryBudget,
    /// Jitter and the poll schedule: seeded by [`ClientBuilder::seed`] for reproducible runs.
    rng: crate::random::Sha256Rng,
    /// Idempotency keys and temporary names: the OS RNG whatever the seed (see `entropy`).
    entropy: entropy::Entropy,
    fleet: Fleet<Generation>,
    waits: HashMap<GenerationRef, Waits>,
    /// The error of each generation's last failed poll, handed to its waits with an outcome
    /// that a poll decided (401, 404, fatal), so their error can say what the server said.
    poll_errors: HashMap<GenerationRef, Error>,
    /// Waits asleep until their next timeout: a webhook wakes them so that the fetch it made
    /// due goes out now rather than at the next scheduled poll.
    sleepers: Vec<oneshot::Sender<()>>,
    /// What the client learned of durations per model and engine (`None`: learning is off,
    /// [`ClientBuilder::learn_durations`]).
    learner: Option<DurationLearner>,
    /// The waits whose outcome the learner is fed, and the key each teaches (the outcome says
    /// when the generation finished: `WaitOutcome::finished_between`).
    learning: HashMap<GenerationRef, DurationKey>,
}

/// How a generation's waits end: the fleet's outcome, and the poll error that decided it.
type Ended = (crate::poll::WaitOutcome<Generation>, Option<Error>);

#[derive(Default)]
struct Waits {
    notify: Vec<oneshot::Sender<Ended>>,
    progress: Vec<mpsc::UnboundedSender<Event>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(m: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(PoisonError::into_inner)
}

impl<T: Transport> Client<T> {
    /// A builder over `transport`.
    pub fn builder(transport: T) -> ClientBuilder<T> {
        ClientBuilder::new(transport)
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.inner.transport
    }

    /// Replaces the API key of every later request (rotation: create the new key, deploy it
    /// with this method, then revoke the old one). Requests already sent keep the old key.
    pub fn set_api_key(&self, key: ApiKey) -> Result<(), Error> {
        let mut encoder = self
            .inner
            .encoder
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(pacing) = lock(&self.inner.shared).shared_pacing.as_mut() {
            pacing.set_key(&key);
        }
        let fresh = RequestEncoder::new(encoder.base_url().clone(), key)?
            .with_attribution(encoder.attribution().clone());
        *encoder = Arc::new(fresh);
        Ok(())
    }

    fn encoder(&self) -> Arc<RequestEncoder> {
        Arc::clone(&read(&self.inner.encoder))
    }
}
