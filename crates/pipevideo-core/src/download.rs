//! Downloading a finished video: the request, what to do with the host's answer, when to
//! resume, which bound was hit, and what to report.
//!
//! Over ~600 lines only because its virtual-time unit tests live beside it (a third of the
//! file).
//!
//! The rules, written once for every driver:
//!
//! - The request is a plain `GET` of the signed URL, with the SDK's `User-Agent` and **no**
//!   `Authorization` header: the URL carries its own signature, and the API key must never
//!   reach a video host.
//! - A `2xx` is the video. A `403` or `410` means the signed URL has expired: the generation is
//!   retrieved again for a fresh URL, up to [`MAX_URL_REFRESHES`] times. Any other status is a
//!   [`DownloadError`] naming it.
//! - **Bounds** ([`DownloadPolicy`]): a header timeout and an idle timeout per attempt (the
//!   transport keeps them; a timeout before the headers is [`DownloadBound::HeaderTimeout`],
//!   after them [`DownloadBound::IdleTimeout`]), a deadline for the whole download
//!   ([`DownloadBound::Deadline`]) and a size cap over every byte kept, across resumes
//!   ([`DownloadBound::SizeCap`]): an announced size over it is refused before a byte is
//!   written, and a chunk that would cross it is refused whole.
//! - **Resume** (a resumable fetch, [`VideoFetch::resumable`]): a body cut mid-way (reset,
//!   closed early, not HTTP) continues from the bytes kept with `Range: bytes=N-` (and
//!   `If-Range` with the host's strong `ETag`) when the host said `Accept-Ranges: bytes`. A
//!   `206` is appended only if its `Content-Range` starts at exactly `N` and names the same
//!   total; a `200` starts the video over; a `206` for another range or a `416` makes the next
//!   request a plain `GET`. A resume after an attempt that brought new bytes goes at once; one
//!   after an attempt that brought none waits [`DownloadPolicy::resume_delay`], and
//!   [`DownloadPolicy::max_resumes`] of those in a row fail the download. Timeouts and the
//!   size cap are never resumed: they are bounds.
//! - **Progress**: [`Event::Downloading`] (bytes kept, total when announced) at most every
//!   [`PROGRESS_EVERY`] and once at the end; [`Event::DownloadResumed`] when a resumed
//!   attempt's body starts.
//!
//! [`VideoFetch`] holds that state; the client's `download` and `save` drive it: `request`,
//! then the transport's download with a sink that hands the head to
//! [`handle_head`](VideoFetch::handle_head) and every chunk to
//! [`handle_chunk`](VideoFetch::handle_chunk), then
//! [`handle_response`](VideoFetch::handle_response) or
//! [`handle_transport_error`](VideoFetch::handle_transport_error), which say what comes next.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use http::header::{ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};

use crate::model::Generation;
use crate::policy::DownloadPolicy;
use crate::poll::Event;
use crate::transport::{Cause, DownloadBody, DownloadOptions, TransportError};
use crate::{DownloadBound, DownloadError, GenerationRef, codec};

/// How many times an expired signed URL is refreshed before the download fails.
pub const MAX_URL_REFRESHES: u32 = 2;

/// The shortest time between two [`Event::Downloading`] events of one download.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// What to do after one download attempt.
#[derive(Debug)]
#[non_exhaustive]
pub enum FetchStep {
    /// The video is in the sink: this many bytes.
    Done(u64),
    /// The signed URL expired: retrieve the generation again and pass it to
    /// [`VideoFetch::handle_refreshed`].
    Refresh,
    /// The body was cut: send [`VideoFetch::request`] again, not before this instant.
    Resume {
        /// When the next attempt may go.
        not_before: Instant,
    },
    /// The download failed.
    Failed(DownloadError),
}

/// Where the body that starts now goes, decided from its head by [`VideoFetch::handle_head`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed by nature: after the bytes kept, or from the start"
)]
pub enum Placement {
    /// After the bytes kept so far ([`VideoFetch::kept`]; 0 for a first attempt).
    Append,
    /// From byte 0: the host sent the whole video again; drop what was kept.
    StartOver,
}

/// The download of one generation's video: its URL, the bytes kept, what the host said about
/// ranges, the refreshes and resumes spent, and the progress to report.
///
/// ```
/// use pipevideo_core::download::{FetchStep, Placement, VideoFetch};
/// use pipevideo_core::transport::DownloadBody;
/// use pipevideo_core::{Flavor, codec};
/// use std::time::Instant;
///
/// let body = br#"{"id":"gen_1","status":"completed","video_url":"https://cdn.example/v.mp4?sig=1"}"#;
/// let generation = codec::decode_generation(Flavor::Legacy, &http::Response::new(body.to_vec()))?;
/// let mut fetch = VideoFetch::new(&generation).resumable();
/// let request = fetch.request()?;
/// assert!(request.headers().get(http::header::AUTHORIZATION).is_none());
///
/// // The host answers with the whole video and says it can resume; 4 bytes arrive, then a cut.
/// let mut head = http::HeaderMap::new();
/// head.insert("accept-ranges", "bytes".parse()?);
/// head.insert("content-length", "10".parse()?);
/// assert_eq!(fetch.handle_head(http::StatusCode::OK, &head)?, Placement::Append);
/// let now = Instant::now();
/// fetch.handle_chunk(4, now)?;
/// let cut = pipevideo_core::transport::TransportError::maybe_sent("reset")
///     .with_cause(pipevideo_core::transport::Cause::Io);
/// assert!(matches!(fetch.handle_transport_error(now, cut), FetchStep::Resume { .. }));
/// assert_eq!(fetch.request()?.headers()["range"], "bytes=4-");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct VideoFetch {
    reference: GenerationRef,
    url: Option<String>,
    policy: DownloadPolicy,
    resumable: bool,
    refreshes: u32,
    resumes: u32,
    /// Resumes in a row whose attempt brought no new byte.
    stalled: u32,
    kept: u64,
    total: Option<u64>,
    ranges: bool,
    etag: Option<HeaderValue>,
    content_type: Option<String>,
    /// This attempt: the range asked for, whether its head arrived, the bytes kept before it,
    /// and why the sink refused its body, if it did.
    asked_from: Option<u64>,
    head_seen: bool,
    kept_before: u64,
    attempts: u32,
    refused: Option<Refused>,
    events: VecDeque<Event>,
    last_progress: Option<Instant>,
}

#[derive(Debug, Clone)]
enum Refused {
    /// A bound: the download fails.
    Fatal(DownloadError),
    /// The host answered a range request with another range: ask again without one.
    WrongRange,
}

impl VideoFetch {
    /// Starts with the generation's current video URL, the default [`DownloadPolicy`], not
    /// resumable (the bytes go to a sink that cannot be rewound).
    pub fn new(generation: &Generation) -> Self {
        Self {
            reference: generation.reference().clone(),
            url: generation.video_url().map(str::to_owned),
            policy: DownloadPolicy::default(),
            resumable: false,
            refreshes: 0,
            resumes: 0,
            stalled: 0,
            kept: 0,
            total: None,
            ranges: false,
            etag: None,
            content_type: None,
            asked_from: None,
            head_seen: false,
            kept_before: 0,
            attempts: 0,
            refused: None,
            events: VecDeque::new(),
            last_progress: None,
        }
    }

    /// Under `policy`'s bounds.
    #[must_use]
    pub fn with_policy(mut self, policy: DownloadPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// A cut body is resumed: the destination can take [`Placement::StartOver`] (a file).
    #[must_use]
    pub fn resumable(mut self) -> Self {
        self.resumable = true;
        self
    }

    /// The generation whose video this is.
    pub fn reference(&self) -> &GenerationRef {
        &self.reference
    }

    /// The bounds this fetch keeps.
    pub fn policy(&self) -> &DownloadPolicy {
        &self.policy
    }

    /// When the whole download must be over, for a download that started at `started`.
    pub fn deadline(&self, started: Instant) -> Instant {
        started
            .checked_add(self.policy.deadline())
            .unwrap_or(started + Duration::from_secs(100 * 365 * 24 * 3600))
    }

    /// The error of a download that reached [`deadline`](Self::deadline).
    pub fn handle_deadline(&self) -> DownloadError {
        DownloadError::hit(
            &self.reference,
            DownloadBound::Deadline(self.policy.deadline()),
        )
    }

    /// The error of a download cancelled through its token.
    pub fn handle_cancel(&self) -> DownloadError {
        DownloadError::cancelled(&self.reference)
    }

    /// What the next attempt asks of the transport (header and idle timeouts, size cap).
    pub fn attempt_options(&self) -> DownloadOptions {
        self.policy.attempt_options()
    }

    /// The request for the next attempt: a `GET` of the current URL without credentials, from
    /// the bytes kept (`Range`) when the host can resume.
    pub fn request(&mut self) -> Result<Request<Vec<u8>>, DownloadError> {
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
        let from = (self.resumable && self.ranges && self.kept > 0).then_some(self.kept);
        let mut builder =
            Request::get(uri).header(http::header::USER_AGENT, codec::USER_AGENT_VALUE);
        if let Some(from) = from {
            builder = builder.header(http::header::RANGE, format!("bytes={from}-"));
            if let Some(etag) = &self.etag {
                builder = builder.header(http::header::IF_RANGE, etag.clone());
            }
        }
        let request = builder.body(Vec::new()).map_err(|e| {
            DownloadError::new(
                &self.reference,
                format!("the video request could not be built: {e}"),
            )
        })?;
        self.asked_from = from;
        self.head_seen = false;
        self.kept_before = self.kept;
        self.refused = None;
        self.attempts += 1;
        Ok(request)
    }

    /// The head of a success response, before its body: where the body goes, or why it is
    /// refused (the sink then fails the attempt, and
    /// [`handle_transport_error`](Self::handle_transport_error) says what comes next).
    pub fn handle_head(
        &mut self,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Result<Placement, DownloadError> {
        self.head_seen = true;
        if let Some(kind) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
            self.content_type = Some(kind.to_owned());
        }
        let placement = if status == StatusCode::PARTIAL_CONTENT {
            match content_range(headers) {
                Some((start, total))
                    if start == self.kept
                        && (self.total.is_none() || total.is_none() || total == self.total) =>
                {
                    self.total = total.or(self.total);
                    Placement::Append
                }
                _ => {
                    self.ranges = false;
                    let error = DownloadError::new(
                        &self.reference,
                        format!(
                            "the host answered a request from byte {} with another range",
                            self.kept
                        ),
                    );
                    self.refused = Some(Refused::WrongRange);
                    return Err(error);
                }
            }
        } else {
            self.ranges = headers
                .get_all(ACCEPT_RANGES)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .any(|unit| unit.trim().eq_ignore_ascii_case("bytes"));
            self.etag = headers
                .get(ETAG)
                .filter(|v| !v.as_bytes().starts_with(b"W/"))
                .cloned();
            self.total = headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
            let placement = if self.kept > 0 {
                Placement::StartOver
            } else {
                Placement::Append
            };
            self.kept = 0;
            self.kept_before = 0;
            placement
        };
        if let Some(total) = self.total
            && total > self.policy.max_bytes()
        {
            let error = DownloadError::hit(
                &self.reference,
                DownloadBound::SizeCap(self.policy.max_bytes()),
            );
            self.refused = Some(Refused::Fatal(error.clone()));
            return Err(error);
        }
        if self.attempts > 1 {
            self.events
                .push_back(Event::DownloadResumed { offset: self.kept });
        }
        Ok(placement)
    }

    /// `len` more bytes of the body arrived at `now`: kept, or refused whole when they would
    /// cross the size cap.
    pub fn handle_chunk(&mut self, len: usize, now: Instant) -> Result<(), DownloadError> {
        let after = self.kept.saturating_add(len as u64);
        if after > self.policy.max_bytes() {
            let error = DownloadError::hit(
                &self.reference,
                DownloadBound::SizeCap(self.policy.max_bytes()),
            );
            self.refused = Some(Refused::Fatal(error.clone()));
            return Err(error);
        }
        self.kept = after;
        if self
            .last_progress
            .is_none_or(|at| now.saturating_duration_since(at) >= PROGRESS_EVERY)
        {
            self.last_progress = Some(now);
            self.push_progress();
        }
        Ok(())
    }

    /// Judges the host's answer once the attempt is over.
    pub fn handle_response(
        &mut self,
        now: Instant,
        response: &Response<DownloadBody>,
    ) -> FetchStep {
        let status = response.status();
        match response.body() {
            DownloadBody::Written(_) if status.is_success() => {
                if self.resumable
                    && let Some(total) = self.total
                    && self.kept < total
                {
                    return self.resume(now, "the body ended early".into());
                }
                self.push_progress();
                FetchStep::Done(self.kept)
            }
            _ if matches!(status, StatusCode::FORBIDDEN | StatusCode::GONE)
                && self.refreshes < MAX_URL_REFRESHES =>
            {
                self.refreshes += 1;
                FetchStep::Refresh
            }
            _ if status == StatusCode::RANGE_NOT_SATISFIABLE && self.asked_from.is_some() => {
                self.ranges = false;
                self.resume(now, "the host could not serve the range".into())
            }
            _ => FetchStep::Failed(DownloadError::status_from_host(&self.reference, status)),
        }
    }

    /// The attempt failed in the transport (or its sink refused the body) at `now`.
    pub fn handle_transport_error(&mut self, now: Instant, error: TransportError) -> FetchStep {
        match self.refused.take() {
            Some(Refused::Fatal(error)) => return FetchStep::Failed(error),
            Some(Refused::WrongRange) => return self.resume(now, error.to_string()),
            None => {}
        }
        let bound = match error.cause() {
            Cause::Timeout if self.head_seen => {
                Some(DownloadBound::IdleTimeout(self.policy.idle_timeout()))
            }
            Cause::Timeout => Some(DownloadBound::HeaderTimeout(self.policy.header_timeout())),
            Cause::BodyTooLarge { .. } => Some(DownloadBound::SizeCap(self.policy.max_bytes())),
            _ => None,
        };
        if let Some(bound) = bound {
            return FetchStep::Failed(DownloadError::hit(&self.reference, bound));
        }
        match error.cause() {
            Cause::Io | Cause::Connect | Cause::InvalidResponse if self.resumable => {
                self.resume(now, error.to_string())
            }
            _ => FetchStep::Failed(DownloadError::transport(&self.reference, error)),
        }
    }

    fn resume(&mut self, now: Instant, why: String) -> FetchStep {
        let progressed = self.kept > self.kept_before;
        let delay = if progressed {
            self.stalled = 0;
            Duration::ZERO
        } else {
            self.stalled += 1;
            self.policy.resume_delay()
        };
        if self.policy.max_resumes() == 0 || self.stalled > self.policy.max_resumes() {
            return FetchStep::Failed(DownloadError::new(
                &self.reference,
                format!(
                    "{why} ({} attempt(s) in a row brought no new byte)",
                    self.stalled
                ),
            ));
        }
        self.resumes += 1;
        FetchStep::Resume {
            not_before: now + delay,
        }
    }

    fn push_progress(&mut self) {
        self.events.push_back(Event::Downloading {
            received: self.kept,
            total: self.total,
        });
    }

    /// The generation retrieved again after [`FetchStep::Refresh`]: its fresh URL is used next.
    pub fn handle_refreshed(&mut self, generation: &Generation) {
        self.url = generation.video_url().map(str::to_owned);
    }

    /// The next progress event to report, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// URL refreshes spent so far.
    pub fn refreshes(&self) -> u32 {
        self.refreshes
    }

    /// Resumes made so far (a start-over counts).
    pub fn resumes(&self) -> u32 {
        self.resumes
    }

    /// Bytes of the video kept so far.
    pub fn kept(&self) -> u64 {
        self.kept
    }

    /// The video's size, once the host announced it.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// The `Content-Type` of the last body.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }
}

/// How many temporary names a save tries in the target's directory before it gives up (each
/// one is created with `create_new`, so a name that exists, a symlink included, is skipped).
pub const TEMP_NAME_TRIES: u32 = 8;

/// The name of a save's temporary file beside `target`: `.{target}.{12 random
/// characters}.part`, hidden on Unix. The characters come from `rng`: the client passes the
/// OS RNG (never its seeded jitter RNG), so another process cannot compute the names a save
/// will try. Even a predicted name would be harmless, because the file is created with
/// `create_new` and a name that exists is never opened; unpredictable names keep a planted
/// file from making the save give up after [`TEMP_NAME_TRIES`].
///
/// ```
/// use rand::{SeedableRng, rngs::SmallRng};
/// let name = pipevideo_core::download::temp_file_name("cat.mp4".as_ref(), &mut SmallRng::seed_from_u64(1));
/// let name = name.to_string_lossy();
/// assert!(name.starts_with(".cat.mp4.") && name.ends_with(".part"), "{name}");
/// assert_eq!(name.len(), ".cat.mp4.".len() + 12 + ".part".len());
/// ```
pub fn temp_file_name(
    target: &std::ffi::OsStr,
    rng: &mut impl rand_core::RngCore,
) -> std::ffi::OsString {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut name = std::ffi::OsString::from(".");
    name.push(target);
    name.push(".");
    let token: String = (0..12)
        .map(|_| char::from(ALPHABET[crate::random::below(rng, ALPHABET.len() as u64) as usize]))
        .collect();
    name.push(token);
    name.push(".part");
    name
}

/// `Content-Range: bytes START-END/TOTAL` (or `/*`): the start and the total.
fn content_range(headers: &HeaderMap) -> Option<(u64, Option<u64>)> {
    let value = headers.get(CONTENT_RANGE)?.to_str().ok()?.trim();
    let (unit, rest) = value.split_once(' ')?;
    if !unit.eq_ignore_ascii_case("bytes") {
        return None;
    }
    let (range, total) = rest.trim().split_once('/')?;
    let (start, end) = range.split_once('-')?;
    let start: u64 = start.trim().parse().ok()?;
    let end: u64 = end.trim().parse().ok()?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse::<u64>().ok()?),
    };
    if end < start || total.is_some_and(|t| end >= t) {
        return None;
    }
    Some((start, total))
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

    fn head(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn cut() -> TransportError {
        TransportError::maybe_sent("connection reset").with_cause(Cause::Io)
    }

    fn resumable() -> VideoFetch {
        VideoFetch::new(&generation("https://cdn.example/a.mp4"))
            .resumable()
            .with_policy(DownloadPolicy::default().with_max_bytes(1000))
    }

    #[test]
    fn an_expired_url_is_refreshed_twice_then_fails() {
        let now = Instant::now();
        let mut fetch = VideoFetch::new(&generation("https://cdn.example/a.mp4"));
        for _ in 0..MAX_URL_REFRESHES {
            let step =
                fetch.handle_response(now, &answer(410, DownloadBody::NotWritten(Vec::new())));
            assert!(matches!(step, FetchStep::Refresh));
            fetch.handle_refreshed(&generation("https://cdn.example/b.mp4"));
        }
        assert_eq!(fetch.request().unwrap().uri(), "https://cdn.example/b.mp4");
        let step = fetch.handle_response(now, &answer(403, DownloadBody::NotWritten(Vec::new())));
        let FetchStep::Failed(e) = step else {
            panic!("{step:?}")
        };
        assert_eq!(e.status(), Some(StatusCode::FORBIDDEN));
    }

    #[test]
    fn success_and_other_statuses() {
        let now = Instant::now();
        let mut fetch = VideoFetch::new(&generation("http://127.0.0.1:9/v.mp4"));
        fetch.request().unwrap();
        fetch
            .handle_head(StatusCode::OK, &HeaderMap::new())
            .unwrap();
        fetch.handle_chunk(7, now).unwrap();
        assert!(matches!(
            fetch.handle_response(now, &answer(200, DownloadBody::Written(7))),
            FetchStep::Done(7)
        ));
        let FetchStep::Failed(e) =
            fetch.handle_response(now, &answer(500, DownloadBody::NotWritten(Vec::new())))
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

    #[test]
    fn a_cut_body_resumes_with_a_range_from_the_bytes_kept() {
        let t0 = Instant::now();
        let mut fetch = resumable();
        let first = fetch.request().unwrap();
        assert!(first.headers().get(http::header::RANGE).is_none());
        let ok = head(&[
            ("accept-ranges", "bytes"),
            ("content-length", "100"),
            ("etag", "\"v1\""),
            ("content-type", "video/mp4"),
        ]);
        assert_eq!(
            fetch.handle_head(StatusCode::OK, &ok).unwrap(),
            Placement::Append
        );
        fetch.handle_chunk(50, t0).unwrap();
        // Progress made: the resume goes at once.
        let FetchStep::Resume { not_before } = fetch.handle_transport_error(t0, cut()) else {
            panic!()
        };
        assert_eq!(not_before, t0);
        let second = fetch.request().unwrap();
        assert_eq!(second.headers()["range"], "bytes=50-");
        assert_eq!(second.headers()["if-range"], "\"v1\"");
        let partial = head(&[
            ("content-range", "bytes 50-99/100"),
            ("content-length", "50"),
        ]);
        assert_eq!(
            fetch
                .handle_head(StatusCode::PARTIAL_CONTENT, &partial)
                .unwrap(),
            Placement::Append
        );
        assert_eq!(
            fetch.poll_event(),
            Some(Event::Downloading {
                received: 50,
                total: Some(100)
            })
        );
        assert_eq!(
            fetch.poll_event(),
            Some(Event::DownloadResumed { offset: 50 })
        );
        fetch
            .handle_chunk(50, t0 + Duration::from_millis(10))
            .unwrap();
        let step = fetch.handle_response(t0, &answer(206, DownloadBody::Written(50)));
        assert!(matches!(step, FetchStep::Done(100)), "{step:?}");
        assert_eq!(fetch.resumes(), 1);
        assert_eq!(fetch.content_type(), Some("video/mp4"));
        // The final count is always reported.
        assert_eq!(
            fetch.poll_event(),
            Some(Event::Downloading {
                received: 100,
                total: Some(100)
            })
        );
    }

    #[test]
    fn a_wrong_range_or_a_200_starts_over() {
        let t0 = Instant::now();
        let mut fetch = resumable();
        fetch.request().unwrap();
        let ok = head(&[("accept-ranges", "bytes"), ("content-length", "100")]);
        fetch.handle_head(StatusCode::OK, &ok).unwrap();
        fetch.handle_chunk(30, t0).unwrap();
        assert!(matches!(
            fetch.handle_transport_error(t0, cut()),
            FetchStep::Resume { .. }
        ));
        assert_eq!(fetch.request().unwrap().headers()["range"], "bytes=30-");
        // A 206 that starts elsewhere is refused, and the next request asks for everything.
        let wrong = head(&[("content-range", "bytes 0-99/100")]);
        assert!(
            fetch
                .handle_head(StatusCode::PARTIAL_CONTENT, &wrong)
                .is_err()
        );
        let err = TransportError::sink(&std::io::Error::other("refused"));
        assert!(matches!(
            fetch.handle_transport_error(t0, err),
            FetchStep::Resume { .. }
        ));
        assert!(fetch.request().unwrap().headers().get("range").is_none());
        // A 200 now: start over.
        assert_eq!(
            fetch.handle_head(StatusCode::OK, &ok).unwrap(),
            Placement::StartOver
        );
        assert_eq!(fetch.kept(), 0);
        // A host that forgot ranges: a cut resumes with a plain GET.
        let mut plain = resumable();
        plain.request().unwrap();
        plain
            .handle_head(StatusCode::OK, &head(&[("content-length", "100")]))
            .unwrap();
        plain.handle_chunk(10, t0).unwrap();
        assert!(matches!(
            plain.handle_transport_error(t0, cut()),
            FetchStep::Resume { .. }
        ));
        assert!(plain.request().unwrap().headers().get("range").is_none());
        assert_eq!(
            plain.handle_head(StatusCode::OK, &head(&[])).unwrap(),
            Placement::StartOver
        );
        // A 416 to a range request: ask again for everything.
        let mut unsatisfiable = resumable();
        unsatisfiable.request().unwrap();
        unsatisfiable.handle_head(StatusCode::OK, &ok).unwrap();
        unsatisfiable.handle_chunk(10, t0).unwrap();
        let _ = unsatisfiable.handle_transport_error(t0, cut());
        unsatisfiable.request().unwrap();
        let step =
            unsatisfiable.handle_response(t0, &answer(416, DownloadBody::NotWritten(vec![])));
        assert!(matches!(step, FetchStep::Resume { .. }), "{step:?}");
        assert!(
            unsatisfiable
                .request()
                .unwrap()
                .headers()
                .get("range")
                .is_none()
        );
    }

    #[test]
    fn resumes_without_progress_wait_and_run_out() {
        let t0 = Instant::now();
        let policy = DownloadPolicy::default()
            .with_max_resumes(2)
            .with_resume_delay(Duration::from_secs(1));
        let mut fetch = VideoFetch::new(&generation("https://cdn.example/a.mp4"))
            .resumable()
            .with_policy(policy);
        for n in 1..=2u64 {
            fetch.request().unwrap();
            let FetchStep::Resume { not_before } = fetch.handle_transport_error(t0, cut()) else {
                panic!()
            };
            assert_eq!(not_before, t0 + Duration::from_secs(1), "attempt {n}");
        }
        fetch.request().unwrap();
        let FetchStep::Failed(e) = fetch.handle_transport_error(t0, cut()) else {
            panic!()
        };
        assert!(e.to_string().contains("3 attempt(s) in a row"), "{e}");
        // Not resumable: a cut fails at once, with the transport's error.
        let mut once = VideoFetch::new(&generation("https://cdn.example/a.mp4"));
        once.request().unwrap();
        let FetchStep::Failed(e) = once.handle_transport_error(t0, cut()) else {
            panic!()
        };
        assert!(e.transport_error().is_some());
    }

    #[test]
    fn each_bound_is_named() {
        let t0 = Instant::now();
        let policy = DownloadPolicy::default()
            .with_header_timeout(Duration::from_secs(3))
            .with_idle_timeout(Duration::from_secs(4))
            .with_deadline(Duration::from_secs(5))
            .with_max_bytes(10);
        let bound = |step: FetchStep| match step {
            FetchStep::Failed(e) => e.bound(),
            other => panic!("{other:?}"),
        };
        let g = generation("https://cdn.example/a.mp4");
        let timeout = || TransportError::timeout(Duration::from_secs(3));

        let mut f = VideoFetch::new(&g).resumable().with_policy(policy);
        f.request().unwrap();
        assert_eq!(
            bound(f.handle_transport_error(t0, timeout())),
            Some(DownloadBound::HeaderTimeout(Duration::from_secs(3)))
        );
        f.request().unwrap();
        f.handle_head(StatusCode::OK, &HeaderMap::new()).unwrap();
        assert_eq!(
            bound(f.handle_transport_error(t0, timeout())),
            Some(DownloadBound::IdleTimeout(Duration::from_secs(4)))
        );
        // Announced over the cap: refused before a byte.
        f.request().unwrap();
        assert!(
            f.handle_head(StatusCode::OK, &head(&[("content-length", "11")]))
                .is_err()
        );
        let sink = TransportError::sink(&std::io::Error::other("refused"));
        assert_eq!(
            bound(f.handle_transport_error(t0, sink)),
            Some(DownloadBound::SizeCap(10))
        );
        // Crossed while streaming: the crossing chunk is refused whole.
        f.request().unwrap();
        f.handle_head(StatusCode::OK, &HeaderMap::new()).unwrap();
        f.handle_chunk(8, t0).unwrap();
        assert!(f.handle_chunk(3, t0).is_err());
        assert_eq!(f.kept(), 8);
        let sink = TransportError::sink(&std::io::Error::other("refused"));
        assert_eq!(
            bound(f.handle_transport_error(t0, sink)),
            Some(DownloadBound::SizeCap(10))
        );
        // The transport's own cap names the same bound.
        f.request().unwrap();
        assert_eq!(
            bound(f.handle_transport_error(t0, TransportError::body_too_large(10))),
            Some(DownloadBound::SizeCap(10))
        );
        assert_eq!(f.deadline(t0), t0 + Duration::from_secs(5));
        assert_eq!(
            f.handle_deadline().bound(),
            Some(DownloadBound::Deadline(Duration::from_secs(5)))
        );
        assert!(f.handle_cancel().is_cancelled());
    }

    #[test]
    fn progress_is_throttled_in_virtual_time() {
        let t0 = Instant::now();
        let mut fetch = resumable();
        fetch.request().unwrap();
        fetch
            .handle_head(StatusCode::OK, &HeaderMap::new())
            .unwrap();
        for ms in 0..=250u64 {
            fetch
                .handle_chunk(1, t0 + Duration::from_millis(ms))
                .unwrap();
        }
        let mut seen = Vec::new();
        while let Some(Event::Downloading { received, .. }) = fetch.poll_event() {
            seen.push(received);
        }
        assert_eq!(seen, [1, 101, 201]);
    }

    #[test]
    fn content_ranges() {
        let cr = |v: &str| content_range(&head(&[("content-range", v)]));
        assert_eq!(cr("bytes 5-9/10"), Some((5, Some(10))));
        assert_eq!(cr("bytes 5-9/*"), Some((5, None)));
        assert_eq!(cr("bytes 5-10/10"), None);
        assert_eq!(cr("bytes 9-5/10"), None);
        assert_eq!(cr("items 0-1/2"), None);
        assert_eq!(cr("bytes */10"), None);
    }
}
