//! The download driver: streams a finished video into a sink, following [`VideoFetch`]'s
//! rules (no credentials, refresh an expired signed URL, the bounds, resume a cut body when
//! the destination can start over), and hands its progress events to the generation's
//! progress streams.

use std::io;

use tracing::Instrument;

use super::select::{Either, select};
use super::{CancelToken, Client, lock};
use crate::Error;
use crate::download::{FetchStep, Placement, VideoFetch};
use crate::model::Generation;
use crate::transport::{ChunkSink, Transport};

/// Where a fetch's bytes go: a sink that can also be told where a body starts.
pub(super) trait Destination: ChunkSink {
    /// The next body goes after the first `kept` bytes (0: from the start); drop the rest.
    fn place(&mut self, placement: Placement, kept: u64) -> io::Result<()>;
}

/// A user's sink: never rewound, so its fetch is not resumable and every body is appended.
struct Forward<'a>(&'a mut dyn ChunkSink);

#[async_trait::async_trait]
impl ChunkSink for Forward<'_> {
    fn start(&mut self, status: http::StatusCode, headers: &http::HeaderMap) -> io::Result<()> {
        self.0.start(status, headers)
    }

    async fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.0.write_chunk(chunk).await
    }

    async fn finish(&mut self) -> io::Result<()> {
        self.0.finish().await
    }
}

impl Destination for Forward<'_> {
    fn place(&mut self, placement: Placement, _kept: u64) -> io::Result<()> {
        match placement {
            Placement::Append => Ok(()),
            Placement::StartOver => Err(io::Error::other("a sink cannot start over")),
        }
    }
}

/// The sink a transport writes into: the head and every chunk go through the fetch's rules
/// first, then to the destination.
struct Tracked<'a, T> {
    client: &'a Client<T>,
    fetch: &'a mut VideoFetch,
    out: &'a mut dyn Destination,
}

#[async_trait::async_trait]
impl<T: Transport> ChunkSink for Tracked<'_, T> {
    fn start(&mut self, status: http::StatusCode, headers: &http::HeaderMap) -> io::Result<()> {
        let placement = self
            .fetch
            .handle_head(status, headers)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.out.place(placement, self.fetch.kept())?;
        self.out.start(status, headers)
    }

    async fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        let now = self.client.inner.transport.now();
        self.fetch
            .handle_chunk(chunk.len(), now)
            .map_err(|e| io::Error::other(e.to_string()))?;
        self.out.write_chunk(chunk).await?;
        self.client.report(self.fetch);
        Ok(())
    }

    async fn finish(&mut self) -> io::Result<()> {
        self.out.finish().await
    }
}

impl<T: Transport> Client<T> {
    /// Downloads the generation's video into `sink`, streaming: the video never passes through
    /// the capped body path and is never held whole in memory. The request carries no
    /// `Authorization` header (the URL is signed). If the signed URL has expired (403 or 410),
    /// the generation is retrieved again for a fresh URL, up to twice. Returns the number of
    /// bytes written.
    ///
    /// Bounded by the client's [`DownloadPolicy`](crate::policy::DownloadPolicy) (header and
    /// idle timeouts, deadline, size cap: a typed [`DownloadError`](crate::DownloadError) names
    /// the bound hit). A sink cannot be rewound, so a cut body is not resumed here:
    /// `Client::save` (feature `fs`) writes to a file and resumes. Progress events
    /// ([`Event::Downloading`](crate::poll::Event::Downloading)) go to the generation's
    /// [`progress`](Client::progress) streams.
    pub async fn download(
        &self,
        generation: &Generation,
        sink: &mut dyn ChunkSink,
    ) -> Result<u64, Error> {
        let mut fetch = VideoFetch::new(generation).with_policy(self.inner.settings.download);
        let result = self
            .fetch_bounded(&mut fetch, &mut Forward(sink), None)
            .await;
        self.end_report(fetch.reference());
        result
    }

    /// Runs `fetch` into `out` until done, within its deadline and until `cancel`.
    pub(super) async fn fetch_bounded(
        &self,
        fetch: &mut VideoFetch,
        out: &mut dyn Destination,
        cancel: Option<&CancelToken>,
    ) -> Result<u64, Error> {
        let deadline = fetch.deadline(self.inner.transport.now());
        let late = fetch.handle_deadline();
        let cancelled_error = fetch.handle_cancel();
        let never = CancelToken::new();
        let cancel = cancel.unwrap_or(&never);
        if cancel.is_cancelled() {
            return Err(cancelled_error.into());
        }
        let work = std::pin::pin!(self.fetch_loop(fetch, out));
        let timer = std::pin::pin!(self.inner.transport.sleep_until(deadline));
        let cancelled = std::pin::pin!(cancel.cancelled());
        match select(work, select(timer, cancelled)).await {
            Either::Left(result) => result,
            Either::Right(Either::Left(())) => Err(late.into()),
            Either::Right(Either::Right(())) => Err(cancelled_error.into()),
        }
    }

    async fn fetch_loop(
        &self,
        fetch: &mut VideoFetch,
        out: &mut dyn Destination,
    ) -> Result<u64, Error> {
        loop {
            let request = fetch.request()?;
            let options = fetch.attempt_options();
            let reference = fetch.reference().clone();
            let span = tracing::debug_span!("pipevideo.download", generation = %reference);
            let result = {
                let mut sink = Tracked {
                    client: self,
                    fetch: &mut *fetch,
                    out: &mut *out,
                };
                self.inner
                    .transport
                    .download(request, &mut sink, options)
                    .instrument(span)
                    .await
            };
            let now = self.inner.transport.now();
            let step = match &result {
                Ok(response) => fetch.handle_response(now, response),
                Err(error) => fetch.handle_transport_error(now, error.clone()),
            };
            self.report(fetch);
            match step {
                FetchStep::Done(written) => return Ok(written),
                FetchStep::Refresh => {
                    tracing::info!(generation = %reference, "video URL expired; fetching a fresh one");
                    let fresh = self.retrieve(&reference).await?;
                    fetch.handle_refreshed(&fresh);
                }
                FetchStep::Resume { not_before } => {
                    if let Err(error) = &result {
                        tracing::info!(generation = %reference, kept = fetch.kept(), %error, "video download cut; resuming");
                    }
                    self.inner.transport.sleep_until(not_before).await;
                }
                FetchStep::Failed(error) => return Err(error.into()),
            }
        }
    }

    /// Hands the fetch's pending progress events to the generation's progress streams.
    fn report(&self, fetch: &mut VideoFetch) {
        let mut events = Vec::new();
        while let Some(event) = fetch.poll_event() {
            events.push(event);
        }
        if events.is_empty() {
            return;
        }
        let mut shared = lock(&self.inner.shared);
        if let Some(waits) = shared.waits.get_mut(fetch.reference()) {
            for event in events {
                waits
                    .progress
                    .retain(|tx| tx.unbounded_send(event.clone()).is_ok());
            }
        }
    }

    /// A download is over: a progress stream subscribed for it (no wait running on the
    /// generation) ends here.
    pub(super) fn end_report(&self, reference: &crate::GenerationRef) {
        let mut shared = lock(&self.inner.shared);
        if shared
            .waits
            .get(reference)
            .is_some_and(|w| w.notify.is_empty())
        {
            shared.waits.remove(reference);
        }
    }
}
