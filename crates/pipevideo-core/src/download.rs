//! Downloading a finished video: the request, and what to do with the host's answer.
//!
//! The rules, written once for every driver:
//!
//! - The request is a plain `GET` of the signed URL, with the SDK's `User-Agent` and **no**
//!   `Authorization` header: the URL carries its own signature, and the API key must never
//!   reach a video host.
//! - A `2xx` is the video. A `403` or `410` before any byte was written means the signed URL
//!   has expired: the generation is retrieved again for a fresh URL, up to
//!   [`MAX_URL_REFRESHES`] times. Any other status is a [`DownloadError`] naming it.
//!
//! [`VideoFetch`] holds that state; the client's `download` drives it.

use http::{Request, Response, StatusCode};

use crate::model::Generation;
use crate::transport::{DownloadBody, TransportError};
use crate::{DownloadError, GenerationRef, codec};

/// How many times an expired signed URL is refreshed before the download fails.
pub const MAX_URL_REFRESHES: u32 = 2;

/// What to do after one download attempt.
#[derive(Debug)]
#[non_exhaustive]
pub enum FetchStep {
    /// The video is in the sink: this many bytes.
    Done(u64),
    /// The signed URL expired: retrieve the generation again and pass it to
    /// [`VideoFetch::handle_refreshed`].
    Refresh,
    /// The download failed.
    Failed(DownloadError),
}

/// The download of one generation's video: its current URL and the refreshes spent.
///
/// ```
/// use pipevideo_core::download::{FetchStep, VideoFetch};
/// use pipevideo_core::transport::DownloadBody;
/// use pipevideo_core::{Flavor, codec};
///
/// let body = br#"{"id":"gen_1","status":"completed","video_url":"https://cdn.example/v.mp4?sig=1"}"#;
/// let generation = codec::decode_generation(Flavor::Legacy, &http::Response::new(body.to_vec()))?;
/// let mut fetch = VideoFetch::new(&generation);
/// let request = fetch.request()?;
/// assert!(request.headers().get(http::header::AUTHORIZATION).is_none());
///
/// let mut expired = http::Response::new(DownloadBody::NotWritten(Vec::new()));
/// *expired.status_mut() = http::StatusCode::FORBIDDEN;
/// assert!(matches!(fetch.handle_response(&expired), FetchStep::Refresh));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct VideoFetch {
    reference: GenerationRef,
    url: Option<String>,
    refreshes: u32,
}

impl VideoFetch {
    /// Starts with the generation's current video URL.
    pub fn new(generation: &Generation) -> Self {
        Self {
            reference: generation.reference().clone(),
            url: generation.video_url().map(str::to_owned),
            refreshes: 0,
        }
    }

    /// The generation whose video this is.
    pub fn reference(&self) -> &GenerationRef {
        &self.reference
    }

    /// The request for the current URL: a `GET` without credentials.
    pub fn request(&self) -> Result<Request<Vec<u8>>, DownloadError> {
        let url = self.url.as_deref().ok_or_else(|| {
            DownloadError::new(&self.reference, "the generation has no video URL")
        })?;
        let uri: http::Uri = url.parse().map_err(|e| {
            DownloadError::new(
                &self.reference,
                format!("the video URL is not a valid URI: {e}"),
            )
        })?;
        if !matches!(uri.scheme_str(), Some("https" | "http")) {
            return Err(DownloadError::new(
                &self.reference,
                "the video URL is not http(s)",
            ));
        }
        Request::get(uri)
            .header(http::header::USER_AGENT, codec::USER_AGENT_VALUE)
            .body(Vec::new())
            .map_err(|e| {
                DownloadError::new(
                    &self.reference,
                    format!("the video request could not be built: {e}"),
                )
            })
    }

    /// Judges the host's answer.
    pub fn handle_response(&mut self, response: &Response<DownloadBody>) -> FetchStep {
        let status = response.status();
        match response.body() {
            DownloadBody::Written(n) if status.is_success() => FetchStep::Done(*n),
            _ if matches!(status, StatusCode::FORBIDDEN | StatusCode::GONE)
                && self.refreshes < MAX_URL_REFRESHES =>
            {
                self.refreshes += 1;
                FetchStep::Refresh
            }
            _ => FetchStep::Failed(DownloadError::status_from_host(&self.reference, status)),
        }
    }

    /// The attempt failed in the transport.
    pub fn handle_transport_error(&self, error: TransportError) -> DownloadError {
        DownloadError::transport(&self.reference, error)
    }

    /// The generation retrieved again after [`FetchStep::Refresh`]: its fresh URL is used next.
    pub fn handle_refreshed(&mut self, generation: &Generation) {
        self.url = generation.video_url().map(str::to_owned);
    }

    /// URL refreshes spent so far.
    pub fn refreshes(&self) -> u32 {
        self.refreshes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Flavor;

    fn generation(url: &str) -> Generation {
        let body = format!(r#"{{"id":"gen_1","status":"completed","video_url":"{url}"}}"#);
        codec::decode_generation(Flavor::Legacy, &Response::new(body.into_bytes())).unwrap()
    }

    fn answer(status: u16, body: DownloadBody) -> Response<DownloadBody> {
        let mut r = Response::new(body);
        *r.status_mut() = StatusCode::from_u16(status).unwrap();
        r
    }

    #[test]
    fn an_expired_url_is_refreshed_twice_then_fails() {
        let mut fetch = VideoFetch::new(&generation("https://cdn.example/a.mp4"));
        for _ in 0..MAX_URL_REFRESHES {
            let step = fetch.handle_response(&answer(410, DownloadBody::NotWritten(Vec::new())));
            assert!(matches!(step, FetchStep::Refresh));
            fetch.handle_refreshed(&generation("https://cdn.example/b.mp4"));
        }
        assert_eq!(fetch.request().unwrap().uri(), "https://cdn.example/b.mp4");
        let step = fetch.handle_response(&answer(403, DownloadBody::NotWritten(Vec::new())));
        let FetchStep::Failed(e) = step else {
            panic!("{step:?}")
        };
        assert_eq!(e.status(), Some(StatusCode::FORBIDDEN));
    }

    #[test]
    fn success_and_other_statuses() {
        let mut fetch = VideoFetch::new(&generation("http://127.0.0.1:9/v.mp4"));
        assert!(matches!(
            fetch.handle_response(&answer(200, DownloadBody::Written(7))),
            FetchStep::Done(7)
        ));
        let FetchStep::Failed(e) =
            fetch.handle_response(&answer(500, DownloadBody::NotWritten(Vec::new())))
        else {
            panic!()
        };
        assert_eq!(e.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    }

    #[test]
    fn bad_urls_are_typed_errors() {
        for url in ["ftp://x/v.mp4", "not a url"] {
            let e = VideoFetch::new(&generation(url)).request().unwrap_err();
            assert!(e.to_string().contains("video URL"), "{e}");
        }
        let body = br#"{"id":"gen_1","status":"completed"}"#;
        let g = codec::decode_generation(Flavor::Legacy, &Response::new(body.to_vec())).unwrap();
        let e = VideoFetch::new(&g).request().unwrap_err();
        assert!(e.to_string().contains("no video URL"), "{e}");
    }
}
