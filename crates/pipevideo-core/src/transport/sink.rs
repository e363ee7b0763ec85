//! Where a download's bytes go: the [`ChunkSink`] trait, its adapters, and [`CappedSink`], the
//! size cap every transport applies the same way.

use std::io;

use super::{DownloadOptions, TransportError};

/// The body of a response to [`HttpClient::download`](super::HttpClient::download).
///
/// Closed: the status was a success and the body went to the sink, or it was not.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed by nature: written to the sink, or not"
)]
pub enum DownloadBody {
    /// The status was a success (`2xx`): the body went to the sink, this many bytes of it.
    Written(u64),
    /// Any other status: the sink received nothing; this is the body (an error page), read
    /// under [`DownloadOptions::error_body_limit`].
    NotWritten(Vec<u8>),
}

/// Where a download's chunks go, one at a time, as they arrive.
///
/// Implemented for `Vec<u8>` (collects everything: for tests and small files) and for any
/// [`std::io::Write`] through [`WriteSink`]. The transport crates add adapters for their
/// runtime's async writers. A sink error ends the download with [`Cause::Sink`](super::Cause::Sink).
///
/// ```
/// use pipevideo_core::transport::ChunkSink;
///
/// /// Counts bytes without keeping them.
/// struct Counter(u64);
///
/// #[async_trait::async_trait]
/// impl ChunkSink for Counter {
///     async fn write_chunk(&mut self, chunk: &[u8]) -> std::io::Result<()> {
///         self.0 += chunk.len() as u64;
///         Ok(())
///     }
/// }
/// ```
#[async_trait::async_trait]
pub trait ChunkSink: Send {
    /// Called once before the first chunk, with the status (a `2xx`) and the headers of the
    /// response whose body follows: a sink that resumes a download reads `Content-Range` here,
    /// one that shows progress reads `Content-Length`. An error ends the download with
    /// [`Cause::Sink`](super::Cause::Sink) before any chunk. The default does nothing.
    fn start(&mut self, status: http::StatusCode, headers: &http::HeaderMap) -> io::Result<()> {
        let _ = (status, headers);
        Ok(())
    }

    /// Take the next chunk of the body. Chunks arrive in order and are never empty.
    async fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()>;

    /// Called once after the last chunk of a complete body. The default does nothing.
    async fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[async_trait::async_trait]
impl ChunkSink for Vec<u8> {
    async fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.extend_from_slice(chunk);
        Ok(())
    }
}

#[async_trait::async_trait]
impl<S: ChunkSink + ?Sized> ChunkSink for &mut S {
    fn start(&mut self, status: http::StatusCode, headers: &http::HeaderMap) -> io::Result<()> {
        (**self).start(status, headers)
    }

    async fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        (**self).write_chunk(chunk).await
    }

    async fn finish(&mut self) -> io::Result<()> {
        (**self).finish().await
    }
}

/// A [`ChunkSink`] over a blocking [`std::io::Write`], such as a [`std::fs::File`].
///
/// Each chunk is written with a blocking call on the task that runs the download. That is fine
/// for a local file (writes land in the page cache); for a slow writer, use the async adapter
/// of your transport crate instead. [`ChunkSink::finish`] flushes the writer.
#[derive(Debug)]
pub struct WriteSink<W>(W);

impl<W: io::Write + Send> WriteSink<W> {
    /// Wrap a writer.
    pub fn new(writer: W) -> Self {
        Self(writer)
    }

    /// The wrapped writer back.
    pub fn into_inner(self) -> W {
        self.0
    }
}

#[async_trait::async_trait]
impl<W: io::Write + Send> ChunkSink for WriteSink<W> {
    async fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.0.write_all(chunk)
    }

    async fn finish(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// A [`ChunkSink`] behind the download's size cap ([`DownloadOptions::max_bytes`]): the one
/// place the cap is applied, so every transport clips the same way.
///
/// - [`new`](Self::new) hands the response's status and headers to [`ChunkSink::start`], the
///   one call every transport makes before the body.
/// - An announced length (`Content-Length`) over the cap fails [`new`](Self::new) before a
///   byte is written.
/// - Otherwise the bytes up to the cap go to the sink, and the chunk that crosses it fails
///   with [`Cause::BodyTooLarge`](super::Cause::BodyTooLarge) after writing exactly the part that fits.
/// - A failing sink is [`Cause::Sink`](super::Cause::Sink).
///
/// ```
/// use pipevideo_core::transport::{CappedSink, Cause, DownloadOptions};
///
/// let options = DownloadOptions::new().with_max_bytes(5);
/// let mut out = Vec::new();
/// let result = futures_util::FutureExt::now_or_never(async {
///     let mut capped = CappedSink::new(&mut out, &options, http::StatusCode::OK, &http::HeaderMap::new(), None)?;
///     capped.write(b"abc").await?;
///     capped.write(b"defg").await // crosses the cap: "de" is written, then the error
/// })
/// .expect("a Vec never waits");
/// assert_eq!(result.unwrap_err().cause(), Cause::BodyTooLarge { limit: 5 });
/// assert_eq!(out, b"abcde");
/// ```
pub struct CappedSink<'a> {
    sink: &'a mut dyn ChunkSink,
    max: Option<u64>,
    written: u64,
}

impl std::fmt::Debug for CappedSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CappedSink")
            .field("max", &self.max)
            .field("written", &self.written)
            .finish_non_exhaustive()
    }
}

impl<'a> CappedSink<'a> {
    /// Wraps `sink` under `options`' cap for the body of a success response with this
    /// `status` and these `headers`, which go to [`ChunkSink::start`]. `announced` is the length
    /// the response announced, if any: over the cap, nothing is written and this fails.
    pub fn new(
        sink: &'a mut dyn ChunkSink,
        options: &DownloadOptions,
        status: http::StatusCode,
        headers: &http::HeaderMap,
        announced: Option<u64>,
    ) -> Result<Self, TransportError> {
        let max = options.max_bytes();
        if let (Some(max), Some(len)) = (max, announced)
            && len > max
        {
            return Err(TransportError::body_too_large(max));
        }
        sink.start(status, headers)
            .map_err(|e| TransportError::sink(&e))?;
        Ok(Self {
            sink,
            max,
            written: 0,
        })
    }

    /// Writes `chunk`, or the part of it under the cap and then fails.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), TransportError> {
        let len = chunk.len() as u64;
        if let Some(max) = self.max
            && self.written.saturating_add(len) > max
        {
            let fits = usize::try_from(max - self.written).unwrap_or(usize::MAX);
            if fits > 0 {
                self.put(&chunk[..fits]).await?;
            }
            return Err(TransportError::body_too_large(max));
        }
        self.put(chunk).await
    }

    async fn put(&mut self, chunk: &[u8]) -> Result<(), TransportError> {
        self.sink
            .write_chunk(chunk)
            .await
            .map_err(|e| TransportError::sink(&e))?;
        self.written += chunk.len() as u64;
        Ok(())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Finishes the sink (flushes it) and returns the bytes written.
    pub async fn finish(self) -> Result<u64, TransportError> {
        self.sink
            .finish()
            .await
            .map_err(|e| TransportError::sink(&e))?;
        Ok(self.written)
    }
}

/// The size of the chunks [`deliver_whole`] hands to a sink: 16 KiB.
pub const WHOLE_BODY_CHUNK: usize = 16 * 1024;

/// A download answered by a body already read whole (an HTTP half that only `send`s, or a test
/// transport), delivered as a streaming transport would: a non-success body over
/// [`DownloadOptions::error_body_limit`] is [`Cause::BodyTooLarge`](super::Cause::BodyTooLarge),
/// otherwise returned unwritten; a success body goes through a [`CappedSink`] (its length is
/// known, so a body over the cap writes nothing) in [`WHOLE_BODY_CHUNK`]-sized chunks.
///
/// [`HttpClient::download`](super::HttpClient::download)'s default and `testing::FnTransport`
/// both end here, so the two cannot drift apart.
pub async fn deliver_whole(
    response: http::Response<Vec<u8>>,
    sink: &mut dyn ChunkSink,
    options: &DownloadOptions,
) -> Result<http::Response<DownloadBody>, TransportError> {
    let (parts, body) = response.into_parts();
    if !parts.status.is_success() {
        if body.len() as u64 > options.error_body_limit() {
            return Err(TransportError::body_too_large(options.error_body_limit()));
        }
        return Ok(http::Response::from_parts(
            parts,
            DownloadBody::NotWritten(body),
        ));
    }
    let mut capped = CappedSink::new(
        sink,
        options,
        parts.status,
        &parts.headers,
        Some(body.len() as u64),
    )?;
    for chunk in body.chunks(WHOLE_BODY_CHUNK) {
        capped.write(chunk).await?;
    }
    let written = capped.finish().await?;
    Ok(http::Response::from_parts(
        parts,
        DownloadBody::Written(written),
    ))
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;
    use crate::transport::Cause;

    fn ok() -> http::StatusCode {
        http::StatusCode::OK
    }

    fn run<T>(f: impl std::future::Future<Output = T>) -> T {
        f.now_or_never().expect("no await point waits")
    }

    #[test]
    fn an_announced_length_over_the_cap_writes_nothing() {
        let options = DownloadOptions::new().with_max_bytes(10);
        let mut out = Vec::new();
        let err = CappedSink::new(&mut out, &options, ok(), &http::HeaderMap::new(), Some(11))
            .unwrap_err();
        assert_eq!(err.cause(), Cause::BodyTooLarge { limit: 10 });
        assert!(out.is_empty());
        assert!(
            CappedSink::new(&mut out, &options, ok(), &http::HeaderMap::new(), Some(10)).is_ok()
        );
    }

    #[test]
    fn exactly_the_cap_is_written_and_the_next_byte_fails() {
        let options = DownloadOptions::new().with_max_bytes(4);
        let mut out = Vec::new();
        let written = run(async {
            let mut capped =
                CappedSink::new(&mut out, &options, ok(), &http::HeaderMap::new(), None)?;
            capped.write(b"ab").await?;
            capped.write(b"cd").await?;
            assert_eq!(capped.written(), 4);
            capped.write(b"").await?;
            let err = capped.write(b"e").await.unwrap_err();
            assert_eq!(err.cause(), Cause::BodyTooLarge { limit: 4 });
            Ok::<_, TransportError>(capped.written())
        })
        .unwrap();
        assert_eq!((written, out.as_slice()), (4, &b"abcd"[..]));
    }

    #[test]
    fn without_a_cap_everything_goes_through() {
        let options = DownloadOptions::new();
        let mut out = Vec::new();
        let n = run(async {
            let mut capped = CappedSink::new(
                &mut out,
                &options,
                ok(),
                &http::HeaderMap::new(),
                Some(u64::MAX),
            )?;
            capped.write(&[7; 100]).await?;
            capped.finish().await
        })
        .unwrap();
        assert_eq!((n, out.len()), (100, 100));
    }

    #[test]
    fn a_whole_body_is_delivered_as_a_streaming_transport_would() {
        let options = DownloadOptions::new()
            .with_max_bytes(40_000)
            .with_error_body_limit(4);
        let answer = |status: u16, body: &[u8]| {
            let mut r = http::Response::new(body.to_vec());
            *r.status_mut() = http::StatusCode::from_u16(status).unwrap();
            r
        };
        // A success in 16 KiB chunks.
        let mut out = Vec::new();
        let r = run(deliver_whole(answer(200, &[1; 33_000]), &mut out, &options)).unwrap();
        assert_eq!(r.body(), &DownloadBody::Written(33_000));
        assert_eq!(out.len(), 33_000);
        // An error page is returned unwritten, and one over its limit is a typed error.
        let mut out = Vec::new();
        let r = run(deliver_whole(answer(404, b"gone"), &mut out, &options)).unwrap();
        assert_eq!(r.body(), &DownloadBody::NotWritten(b"gone".to_vec()));
        let e = run(deliver_whole(answer(500, b"too long"), &mut out, &options)).unwrap_err();
        assert_eq!(e.cause(), Cause::BodyTooLarge { limit: 4 });
        // A body over the cap writes nothing: its length is known.
        let e = run(deliver_whole(answer(200, &[1; 40_001]), &mut out, &options)).unwrap_err();
        assert_eq!(e.cause(), Cause::BodyTooLarge { limit: 40_000 });
        assert!(out.is_empty());
    }
}
