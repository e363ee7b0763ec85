//! The download driver: streams a finished video into a sink, following
//! [`VideoFetch`]'s rules (no credentials, refresh an expired signed URL).

use tracing::Instrument;

use super::Client;
use crate::Error;
use crate::download::{FetchStep, VideoFetch};
use crate::model::Generation;
use crate::transport::{ChunkSink, Transport};

impl<T: Transport> Client<T> {
    /// Downloads the generation's video into `sink`, streaming: the video never passes through
    /// the capped body path and is never held whole in memory. The request carries no
    /// `Authorization` header (the URL is signed). If the signed URL has expired (403 or 410
    /// before any byte was written), the generation is retrieved again for a fresh URL, up to
    /// twice. Returns the number of bytes written.
    pub async fn download(
        &self,
        generation: &Generation,
        sink: &mut dyn ChunkSink,
    ) -> Result<u64, Error> {
        let mut fetch = VideoFetch::new(generation);
        loop {
            let request = fetch.request()?;
            let reference = fetch.reference().clone();
            let span = tracing::debug_span!("pipevideo.download", generation = %reference);
            let response = self
                .inner
                .transport
                .download(request, sink, self.inner.settings.download)
                .instrument(span)
                .await
                .map_err(|e| fetch.handle_transport_error(e))?;
            match fetch.handle_response(&response) {
                FetchStep::Done(written) => return Ok(written),
                FetchStep::Refresh => {
                    tracing::info!(generation = %reference, status = %response.status(), "video URL expired; fetching a fresh one");
                    let fresh = self.retrieve(&reference).await?;
                    fetch.handle_refreshed(&fresh);
                }
                FetchStep::Failed(error) => return Err(error.into()),
            }
        }
    }
}
