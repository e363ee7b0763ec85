//! The base URL every request path is joined onto.

use std::{fmt, str::FromStr};

use crate::uri_parts;

/// The production base URL.
pub const DEFAULT_BASE_URL: &str = "https://api.pipevideo.co/v1";

/// The base URL of the API, checked once so the API key never travels in clear by accident.
///
/// Rules, all applied here and nowhere else:
///
/// - `https://` to any host is accepted.
/// - `http://` is accepted only to a loopback host: `localhost`, `127.0.0.0/8` or `::1`
///   (a local emulator or the product's dev server). Plain http to any other host is refused
///   unless built with [`BaseUrl::parse_allowing_insecure_http`], whose name says what it does:
///   the key would cross the network unencrypted.
/// - No user-info, query or fragment.
/// - The host is a domain name in ASCII, a dotted-quad IPv4 address or a bracketed IPv6
///   address. **Internationalised host names are accepted only in their punycode form**
///   (`https://xn--exmple-cua.com`, not `https://exämple.com`): a host with a character
///   outside ASCII is refused with [`BaseUrlError::NonAsciiHost`], naming the character.
///   (Converting it would need IDNA mapping and its Unicode tables, which this small core does
///   not carry; your platform's `idna` tooling or any browser gives the punycode form.)
///   Numeric hosts other than a dotted quad (`127.1`, `0X7f000001`) are refused rather than
///   guessed at, and so are a backslash (the URL standard reads it as `/`, so
///   `https://a.com\@b.com` has host `a.com` to it) and text after an IPv6 literal that is
///   not a port (`[::1]evil.com`).
/// - Scheme and host are lower-cased, the scheme's default port dropped, and the path
///   percent-encoded as the URL standard does (`.` and `..` segments resolved).
/// - The path is a prefix that every endpoint is appended to: trailing slashes are normalised
///   (`…/v1`, `…/v1/` and `…/v1//` are the same base) and empty segments collapsed. The SDK
///   never adds `/v1` itself: give the base exactly as the server mounts the API.
///
/// ```
/// use pipevideo_core::BaseUrl;
/// let base = BaseUrl::default();
/// assert_eq!(base.as_str(), "https://api.pipevideo.co/v1");
/// assert_eq!(base.join("responses/gen_1").as_str(), "https://api.pipevideo.co/v1/responses/gen_1");
///
/// let local: BaseUrl = "http://127.0.0.1:3001/v1/".parse().unwrap();
/// assert_eq!(local.join("usage").as_str(), "http://127.0.0.1:3001/v1/usage");
///
/// assert!("http://api.example.com/v1".parse::<BaseUrl>().is_err());
/// assert!(BaseUrl::parse_allowing_insecure_http("http://api.example.com/v1").is_ok());
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BaseUrl {
    /// Scheme, host, port (unless the default) and path; always ends with `/`.
    base: String,
    https: bool,
    insecure: bool,
}

/// Why a base URL was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BaseUrlError {
    /// Not an absolute URL.
    #[error("not an absolute URL: {0}")]
    Parse(String),
    /// A scheme other than `https` or `http`.
    #[error("unsupported scheme `{0}` (use https://)")]
    Scheme(String),
    /// `http://` to a host that is not loopback.
    #[error(
        "plain http:// to `{host}` would send the API key unencrypted; use https://, a loopback \
         host, or BaseUrl::parse_allowing_insecure_http"
    )]
    InsecureHttp {
        /// The refused host.
        host: String,
    },
    /// The URL has a user name or password.
    #[error("the base URL must not contain a user name or password")]
    UserInfo,
    /// The URL has a query string.
    #[error("the base URL must not contain a query string")]
    Query,
    /// The URL has a fragment.
    #[error("the base URL must not contain a fragment")]
    Fragment,
    /// The URL has no host.
    #[error("the base URL has no host")]
    NoHost,
    /// The host has a character outside ASCII: give an internationalised name in its
    /// punycode form (`xn--…`).
    #[error(
        "the host `{host}` has the non-ASCII character {character:?}; write an \
         internationalised host name in its punycode form (xn--…)"
    )]
    NonAsciiHost {
        /// The host as given.
        host: String,
        /// The first character outside ASCII.
        character: char,
    },
}

impl BaseUrl {
    /// Parses and checks a base URL (see the type's docs for the rules).
    pub fn parse(s: &str) -> Result<Self, BaseUrlError> {
        Self::parse_inner(s, false)
    }

    /// Like [`BaseUrl::parse`], but also accepts plain `http://` to a non-loopback host.
    ///
    /// **Dangerous:** the API key is then sent unencrypted over the network. Meant only for
    /// test rigs on a private network.
    pub fn parse_allowing_insecure_http(s: &str) -> Result<Self, BaseUrlError> {
        Self::parse_inner(s, true)
    }

    fn parse_inner(s: &str, allow_insecure: bool) -> Result<Self, BaseUrlError> {
        let parts = uri_parts::split(s.trim()).map_err(split_error)?;
        let authority = parts.authority.as_ref().ok_or(BaseUrlError::NoHost)?;
        let special = matches!(parts.scheme.as_str(), "http" | "https");
        if !special {
            if authority.raw_host.is_empty() {
                return Err(BaseUrlError::NoHost);
            }
            return Err(BaseUrlError::Scheme(parts.scheme));
        }
        let host = uri_parts::parse_host(authority.raw_host).map_err(split_error)?;
        let port = uri_parts::parse_port(&parts.scheme, authority.port).map_err(split_error)?;
        let insecure = match parts.scheme.as_str() {
            "https" => false,
            _ if host.is_loopback() => false,
            _ if allow_insecure => true,
            _ => {
                return Err(BaseUrlError::InsecureHttp {
                    host: host.to_string(),
                });
            }
        };
        if authority.has_userinfo {
            return Err(BaseUrlError::UserInfo);
        }
        if parts.query.is_some() {
            return Err(BaseUrlError::Query);
        }
        if parts.fragment.is_some() {
            return Err(BaseUrlError::Fragment);
        }
        let mut base = format!("{}://{host}", parts.scheme);
        if let Some(port) = port {
            base.push_str(&format!(":{port}"));
        }
        base.push('/');
        // The URL standard's dot segments (`%2e` included) are resolved first, on every
        // segment, empty ones included; then empty segments are collapsed.
        let mut segments: Vec<&str> = Vec::new();
        for seg in parts.path.split('/').skip(1) {
            match seg.to_ascii_lowercase().as_str() {
                "." | "%2e" => {}
                ".." | ".%2e" | "%2e." | "%2e%2e" => {
                    segments.pop();
                }
                _ => segments.push(seg),
            }
        }
        segments.retain(|s| !s.is_empty());
        for seg in segments {
            base.push_str(&uri_parts::encode_path(seg));
            base.push('/');
        }
        // Every request URI is this base and an encoded path: check it is one `http` takes.
        http::Uri::try_from(base.as_str()).map_err(|e| BaseUrlError::Parse(e.to_string()))?;
        Ok(Self {
            base,
            https: parts.scheme == "https",
            insecure,
        })
    }

    /// The base without its trailing slash, e.g. `https://api.pipevideo.co/v1`.
    pub fn as_str(&self) -> &str {
        self.base.strip_suffix('/').unwrap_or(&self.base)
    }

    /// The base as an [`http::Uri`], with its trailing slash
    /// (`https://api.pipevideo.co/v1/`).
    pub fn to_uri(&self) -> http::Uri {
        http::Uri::try_from(self.base.as_str()).expect("checked when the base was parsed")
    }

    /// Whether requests go over TLS (`https://`).
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// Whether this base sends requests in clear to a non-loopback host (only possible
    /// through [`BaseUrl::parse_allowing_insecure_http`]).
    pub fn is_insecure(&self) -> bool {
        self.insecure
    }

    /// Appends an already-encoded relative path (`responses/gen_1`) to the base path.
    ///
    /// Leading slashes in `path` are ignored, so `join("/usage")` and `join("usage")` agree.
    /// Segments must already be percent-encoded; the SDK's own paths always are. The result
    /// is a `String` (parse it into an [`http::Uri`] if you need one).
    pub fn join(&self, path: &str) -> String {
        let path = path.trim_start_matches('/');
        let mut url = String::with_capacity(self.base.len() + path.len());
        url.push_str(&self.base);
        url.push_str(path);
        url
    }
}

fn split_error(e: uri_parts::SplitError) -> BaseUrlError {
    match e {
        uri_parts::SplitError::Malformed(reason) => BaseUrlError::Parse(reason.to_owned()),
        uri_parts::SplitError::NonAsciiHost { host, character } => {
            BaseUrlError::NonAsciiHost { host, character }
        }
    }
}

impl Default for BaseUrl {
    fn default() -> Self {
        Self {
            // A constant that parses to itself (checked by a test).
            base: "https://api.pipevideo.co/v1/".to_owned(),
            https: true,
            insecure: false,
        }
    }
}

impl FromStr for BaseUrl {
    type Err = BaseUrlError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for BaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BaseUrl").field(&self.as_str()).finish()
    }
}
