//! What the client learned of generation durations: read it, forget it. The rules live in
//! [`DurationLearner`](crate::poll::DurationLearner); the driver only feeds it (`wait.rs`).

use super::{Client, lock};
use crate::policy::LogNormal;
use crate::poll::DurationKey;

impl<T> Client<T> {
    /// The duration distribution this client learned for `key` (shared by its clones), once
    /// [`MIN_OBSERVATIONS`](crate::poll::DurationLearner::MIN_OBSERVATIONS) generations of it
    /// completed; `None` before, or with learning off
    /// ([`ClientBuilder::learn_durations`](super::ClientBuilder::learn_durations)).
    ///
    /// ```
    /// # async fn demo<T: pipevideo_core::transport::Transport>(client: pipevideo_core::client::Client<T>) -> Result<(), pipevideo_core::Error> {
    /// use pipevideo_core::model::CreateResponse;
    /// use pipevideo_core::poll::DurationKey;
    ///
    /// let request = CreateResponse::new("moonshotai/kimi-k2.5", "A cat on a beach");
    /// for _ in 0..3 {
    ///     client.generate(&request).await?;
    /// }
    /// let key = DurationKey::for_request(&request);
    /// if let Some(learned) = client.learned_prior(&key) {
    ///     println!("{key}: median {:?}, sigma {:.2}", learned.median(), learned.sigma());
    /// }
    /// // The model was redeployed: start over from the default prior.
    /// client.reset_learned_duration(&key);
    /// # Ok(()) }
    /// ```
    pub fn learned_prior(&self, key: &DurationKey) -> Option<LogNormal> {
        lock(&self.inner.shared).learner.as_ref()?.learned(key)
    }

    /// Forgets what was learned for `key`: its next waits use the default prior again until
    /// it has completed enough generations. Returns whether anything was learned.
    pub fn reset_learned_duration(&self, key: &DurationKey) -> bool {
        lock(&self.inner.shared)
            .learner
            .as_mut()
            .is_some_and(|learner| learner.reset(key))
    }

    /// Forgets every learned duration.
    pub fn clear_learned_durations(&self) {
        if let Some(learner) = lock(&self.inner.shared).learner.as_mut() {
            learner.clear();
        }
    }
}
