//! Optional app-attribution headers.

use http::{HeaderName, HeaderValue};

use crate::uri_parts::{self, SplitError};

/// Most characters `X-Application-Name` and `X-Pipevideo-Title` may have.
pub const ATTRIBUTION_TEXT_MAX_CHARS: usize = 256;
/// Most characters `HTTP-Referer` may have.
pub const REFERER_MAX_CHARS: usize = 2048;

/// App-attribution headers sent with every request: `X-Application-Name`, `X-Pipevideo-Title`
/// and `HTTP-Referer`.
///
/// They are optional, and the server silently ignores invalid values, so this type checks
/// them up front instead: names and titles are 1..=256 characters of visible ASCII and spaces
/// (no control character, nothing outside ASCII: neither transport can send it, so it is
/// refused here, naming the character); the referer is an `http://` or `https://` URL of at
/// most 2048 characters, sent in its ASCII form (percent-encoded path). Its host must be ASCII:
/// an internationalised name is refused ([`AttributionError::NotAscii`], naming the
/// character) unless given in its punycode form (`xn--…`).
///
/// ```
/// use pipevideo_core::Attribution;
/// let a = Attribution::new()
///     .app_name("my-batch-renderer")?
///     .title("My Batch Renderer")?
///     .referer("https://example.com/renderer")?;
/// assert_eq!(a.app_name_str(), Some("my-batch-renderer"));
/// assert_eq!(a.headers().count(), 3);
/// assert!(Attribution::new().title("bad\ntitle").is_err());
/// # Ok::<(), pipevideo_core::AttributionError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attribution {
    app_name: Option<HeaderValue>,
    title: Option<HeaderValue>,
    referer: Option<HeaderValue>,
}

/// Why an attribution header value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttributionError {
    /// The value is empty or only whitespace.
    #[error("`{header}` must not be empty")]
    Empty {
        /// The header name.
        header: &'static str,
    },
    /// The value is longer than allowed.
    #[error("`{header}` has {chars} characters, more than the {max} allowed")]
    TooLong {
        /// The header name.
        header: &'static str,
        /// Its length in characters.
        chars: usize,
        /// The limit.
        max: usize,
    },
    /// The value contains a control character (including newlines).
    #[error("`{header}` contains a control character")]
    Control {
        /// The header name.
        header: &'static str,
    },
    /// The value has a character no HTTP header can carry: neither transport sends bytes
    /// outside visible ASCII and space (RFC 9110's obs-text is obsolete), so a value with one
    /// would make every request fail.
    #[error(
        "`{header}` has {character:?} (U+{:04X}) at character {position}: only visible ASCII \
         and spaces can travel in an HTTP header",
        u32::from(*character)
    )]
    NotAscii {
        /// The header name.
        header: &'static str,
        /// The first character refused.
        character: char,
        /// Its position, counted in characters from 0.
        position: usize,
    },
    /// The referer is not an http(s) URL.
    #[error("`HTTP-Referer` must be an http:// or https:// URL")]
    NotHttpUrl,
}

impl Attribution {
    /// No attribution headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `X-Application-Name`: an app identifier of 1..=256 visible ASCII characters and
    /// spaces.
    pub fn app_name(mut self, name: &str) -> Result<Self, AttributionError> {
        self.app_name = Some(text_value("X-Application-Name", name)?);
        Ok(self)
    }

    /// Sets `X-Pipevideo-Title`: a display name of 1..=256 visible ASCII characters and
    /// spaces.
    pub fn title(mut self, title: &str) -> Result<Self, AttributionError> {
        self.title = Some(text_value("X-Pipevideo-Title", title)?);
        Ok(self)
    }

    /// Sets `HTTP-Referer`: the app's http(s) URL, at most 2048 characters.
    pub fn referer(mut self, url: &str) -> Result<Self, AttributionError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(AttributionError::Empty {
                header: "HTTP-Referer",
            });
        }
        let s = ascii_http_url(url)?;
        let s = s.as_str();
        let chars = s.chars().count();
        if chars > REFERER_MAX_CHARS {
            return Err(AttributionError::TooLong {
                header: "HTTP-Referer",
                chars,
                max: REFERER_MAX_CHARS,
            });
        }
        let value = HeaderValue::from_str(s).map_err(|_| AttributionError::NotHttpUrl)?;
        self.referer = Some(value);
        Ok(self)
    }

    /// The `X-Application-Name` value, if set.
    pub fn app_name_str(&self) -> Option<&str> {
        self.app_name.as_ref().and_then(|v| v.to_str().ok())
    }

    /// Whether no header is set.
    pub fn is_empty(&self) -> bool {
        self.app_name.is_none() && self.title.is_none() && self.referer.is_none()
    }

    /// The headers to send, in a fixed order.
    pub fn headers(&self) -> impl Iterator<Item = (HeaderName, &HeaderValue)> {
        [
            (
                HeaderName::from_static("x-application-name"),
                self.app_name.as_ref(),
            ),
            (
                HeaderName::from_static("x-pipevideo-title"),
                self.title.as_ref(),
            ),
            (
                HeaderName::from_static("http-referer"),
                self.referer.as_ref(),
            ),
        ]
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
    }
}

fn text_value(header: &'static str, s: &str) -> Result<HeaderValue, AttributionError> {
    if s.trim().is_empty() {
        return Err(AttributionError::Empty { header });
    }
    if s.chars().any(char::is_control) {
        return Err(AttributionError::Control { header });
    }
    let chars = s.chars().count();
    if chars > ATTRIBUTION_TEXT_MAX_CHARS {
        return Err(AttributionError::TooLong {
            header,
            chars,
            max: ATTRIBUTION_TEXT_MAX_CHARS,
        });
    }
    if let Some((position, character)) = s.chars().enumerate().find(|(_, c)| !c.is_ascii()) {
        return Err(AttributionError::NotAscii {
            header,
            character,
            position,
        });
    }
    HeaderValue::from_str(s).map_err(|_| AttributionError::Control { header })
}

/// An http(s) URL in the form a header carries: scheme and host lower-cased, default port
/// dropped, path, query and fragment percent-encoded as the URL standard serialises them.
fn ascii_http_url(url: &str) -> Result<String, AttributionError> {
    const HEADER: &str = "HTTP-Referer";
    let not_http = |_| AttributionError::NotHttpUrl;
    let parts = uri_parts::split(url).map_err(not_http)?;
    let Some(authority) = parts.authority.as_ref() else {
        return Err(AttributionError::NotHttpUrl);
    };
    if !matches!(parts.scheme.as_str(), "http" | "https") {
        return Err(AttributionError::NotHttpUrl);
    }
    let host = uri_parts::parse_host(authority.raw_host).map_err(|e| match e {
        SplitError::NonAsciiHost { character, .. } => AttributionError::NotAscii {
            header: HEADER,
            character,
            position: url.chars().position(|c| c == character).unwrap_or(0),
        },
        SplitError::Malformed(_) => AttributionError::NotHttpUrl,
    })?;
    let port = uri_parts::parse_port(&parts.scheme, authority.port).map_err(not_http)?;
    // User-info is dropped: a referer never carries credentials.
    let mut out = format!("{}://{host}", parts.scheme);
    if let Some(port) = port {
        out.push_str(&format!(":{port}"));
    }
    if parts.path.is_empty() {
        out.push('/');
    } else {
        out.push_str(&uri_parts::encode_path(parts.path));
    }
    if let Some(q) = parts.query {
        out.push('?');
        out.push_str(&uri_parts::encode_query(q));
    }
    if let Some(f) = parts.fragment {
        out.push('#');
        out.push_str(&uri_parts::encode_query(f));
    }
    Ok(out)
}
