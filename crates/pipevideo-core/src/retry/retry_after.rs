//! What the server asked for: the delay of a 429 (or 503), from the body and the headers.
//!
//! Pipevideo documents only the body's `data.retry_after` (seconds). A standard `Retry-After`
//! header (RFC 9110 §10.2.3) may appear too, from the server or a proxy, as delta-seconds or as an
//! HTTP-date in any of the three forms RFC 9110 requires recipients to accept (IMF-fixdate,
//! obsolete RFC 850, asctime), all parsed by [`httpdate`]. When both are present the **later**
//! one wins: the client never sends earlier than anyone asked.
//!
//! An HTTP-date is turned into a delay relative to the response's own `Date` header when that is
//! present and valid (so a skewed local clock does not matter), else relative to the wall clock
//! passed in. A date in the past means "now" (a zero delay). A malformed header is ignored, as if
//! absent, and [`ServerDelay::header_malformed`] says so for the decision record.

use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::{DATE, RETRY_AFTER};

/// Which part of the response the winning delay came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DelaySource {
    /// The JSON body's `data.retry_after`.
    Body,
    /// A `Retry-After` header.
    Header,
}

/// The delay a response asked for, read from its body and headers.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use http::HeaderMap;
/// use pipevideo_core::retry::{DelaySource, ServerDelay};
///
/// let mut headers = HeaderMap::new();
/// headers.insert("retry-after", "50".parse().unwrap());
/// let body = Some(Duration::from_secs(42)); // from `data.retry_after`
/// let asked = ServerDelay::read(body, &headers, SystemTime::UNIX_EPOCH);
/// assert_eq!(asked.delay(), Some(Duration::from_secs(50))); // the later one wins
/// assert_eq!(asked.source(), Some(DelaySource::Header));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ServerDelay {
    delay: Option<(Duration, DelaySource)>,
    header_malformed: bool,
}

impl ServerDelay {
    /// No delay asked.
    pub const NONE: Self = Self {
        delay: None,
        header_malformed: false,
    };

    /// Reads the delay of a response: `body` is the body's `data.retry_after` if the error body
    /// had one (`Duration::MAX` standing for a number too large to represent), `headers` the
    /// response's headers, `wall_clock` the local wall-clock time, used for an HTTP-date only
    /// when the response has no valid `Date` header. Allocates nothing.
    pub fn read(body: Option<Duration>, headers: &HeaderMap, wall_clock: SystemTime) -> Self {
        let mut header_delay: Option<Duration> = None;
        let mut header_malformed = false;
        for value in headers.get_all(RETRY_AFTER) {
            match value
                .to_str()
                .ok()
                .and_then(|v| parse_retry_after(v, headers, wall_clock))
            {
                Some(d) => header_delay = Some(header_delay.map_or(d, |h| h.max(d))),
                None => header_malformed = true,
            }
        }
        let delay = match (body, header_delay) {
            (Some(b), Some(h)) if h > b => Some((h, DelaySource::Header)),
            (Some(b), _) => Some((b, DelaySource::Body)),
            (None, Some(h)) => Some((h, DelaySource::Header)),
            (None, None) => None,
        };
        Self {
            delay,
            header_malformed,
        }
    }

    /// A delay asked for in the body only (no headers to read).
    pub fn from_body(body: Duration) -> Self {
        Self {
            delay: Some((body, DelaySource::Body)),
            header_malformed: false,
        }
    }

    /// The delay asked for, the later of body and header; `None` when neither asked.
    pub fn delay(&self) -> Option<Duration> {
        self.delay.map(|(d, _)| d)
    }

    /// Where the winning delay came from (the body when both asked for the same delay).
    pub fn source(&self) -> Option<DelaySource> {
        self.delay.map(|(_, s)| s)
    }

    /// Whether a `Retry-After` header was present but could not be read (it was ignored).
    pub fn header_malformed(&self) -> bool {
        self.header_malformed
    }
}

/// One `Retry-After` value: delta-seconds or an HTTP-date; `None` when malformed.
fn parse_retry_after(value: &str, headers: &HeaderMap, wall_clock: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // delay-seconds = 1*DIGIT; a number too large for u64 is an absurd delay, not garbage.
        return Some(
            value
                .parse::<u64>()
                .map_or(Duration::MAX, Duration::from_secs),
        );
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let reference = headers
        .get(DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d.trim()).ok())
        .unwrap_or(wall_clock);
    Some(at.duration_since(reference).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    /// 2026-01-01T00:00:00Z.
    fn epoch() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
    }

    #[test]
    fn all_three_http_date_forms_are_read() {
        let date = ("date", "Thu, 01 Jan 2026 00:00:00 GMT");
        for form in [
            "Thu, 01 Jan 2026 00:00:30 GMT",
            "Thursday, 01-Jan-26 00:00:30 GMT",
            "Thu Jan  1 00:00:30 2026",
        ] {
            let h = headers(&[date, ("retry-after", form)]);
            let d = ServerDelay::read(None, &h, SystemTime::UNIX_EPOCH);
            assert_eq!(d.delay(), Some(Duration::from_secs(30)), "{form}");
        }
    }

    #[test]
    fn date_header_is_the_reference_else_the_wall_clock() {
        let h = headers(&[("retry-after", "Thu, 01 Jan 2026 00:01:00 GMT")]);
        let d = ServerDelay::read(None, &h, epoch());
        assert_eq!(d.delay(), Some(Duration::from_secs(60)));
        let h = headers(&[
            ("date", "Thu, 01 Jan 2026 00:00:50 GMT"),
            ("retry-after", "Thu, 01 Jan 2026 00:01:00 GMT"),
        ]);
        // The wall clock is ignored when the response says what time it is.
        let d = ServerDelay::read(None, &h, SystemTime::UNIX_EPOCH);
        assert_eq!(d.delay(), Some(Duration::from_secs(10)));
    }

    #[test]
    fn a_malformed_date_header_falls_back_to_the_wall_clock() {
        let h = headers(&[
            ("date", "yesterday"),
            ("retry-after", "Thu, 01 Jan 2026 00:00:07 GMT"),
        ]);
        let d = ServerDelay::read(None, &h, epoch());
        assert_eq!(d.delay(), Some(Duration::from_secs(7)));
    }

    #[test]
    fn huge_delta_seconds_is_absurd_not_malformed() {
        let h = headers(&[("retry-after", "99999999999999999999999")]);
        let d = ServerDelay::read(None, &h, epoch());
        assert_eq!(d.delay(), Some(Duration::MAX));
        assert!(!d.header_malformed());
    }

    #[test]
    fn negative_and_fractional_seconds_are_malformed() {
        for bad in ["-5", "1.5", "", "soon", "5 s"] {
            let h = headers(&[("retry-after", bad)]);
            let d = ServerDelay::read(Some(Duration::from_secs(3)), &h, epoch());
            assert_eq!(d.delay(), Some(Duration::from_secs(3)), "{bad:?}");
            assert_eq!(d.source(), Some(DelaySource::Body));
            assert!(d.header_malformed(), "{bad:?}");
        }
    }

    #[test]
    fn several_headers_take_the_latest() {
        let h = headers(&[
            ("retry-after", "5"),
            ("retry-after", "9"),
            ("retry-after", "2"),
        ]);
        let d = ServerDelay::read(None, &h, epoch());
        assert_eq!(d.delay(), Some(Duration::from_secs(9)));
    }
}
