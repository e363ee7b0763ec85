//! The base URL every request path is joined onto.

use std::{fmt, net::IpAddr, str::FromStr};

use url::{Host, Url};

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
    /// Always ends with `/`.
    url: Url,
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
        let mut url = Url::parse(s.trim()).map_err(|e| BaseUrlError::Parse(e.to_string()))?;
        let host = url.host().ok_or(BaseUrlError::NoHost)?;
        let loopback = is_loopback(&host);
        let host_str = host.to_string();
        let insecure = match url.scheme() {
            "https" => false,
            "http" if loopback => false,
            "http" if allow_insecure => true,
            "http" => return Err(BaseUrlError::InsecureHttp { host: host_str }),
            other => return Err(BaseUrlError::Scheme(other.to_owned())),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(BaseUrlError::UserInfo);
        }
        if url.query().is_some() {
            return Err(BaseUrlError::Query);
        }
        if url.fragment().is_some() {
            return Err(BaseUrlError::Fragment);
        }
        let segments: Vec<&str> = url.path().split('/').filter(|s| !s.is_empty()).collect();
        let mut path = String::from("/");
        for seg in segments {
            path.push_str(seg);
            path.push('/');
        }
        url.set_path(&path);
        Ok(Self { url, insecure })
    }

    /// The base without its trailing slash, e.g. `https://api.pipevideo.co/v1`.
    pub fn as_str(&self) -> &str {
        let s = self.url.as_str();
        s.strip_suffix('/').unwrap_or(s)
    }

    /// Whether requests go over TLS (`https://`).
    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    /// Whether this base sends requests in clear to a non-loopback host (only possible
    /// through [`BaseUrl::parse_allowing_insecure_http`]).
    pub fn is_insecure(&self) -> bool {
        self.insecure
    }

    /// Appends an already-encoded relative path (`responses/gen_1`) to the base path.
    ///
    /// Leading slashes in `path` are ignored, so `join("/usage")` and `join("usage")` agree.
    /// Segments must already be percent-encoded; the SDK's own paths always are.
    pub fn join(&self, path: &str) -> Url {
        let mut url = self.url.clone();
        let full = format!("{}{}", self.url.path(), path.trim_start_matches('/'));
        url.set_path(&full);
        url
    }
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

impl Default for BaseUrl {
    fn default() -> Self {
        Self {
            // A constant that always parses (checked by a unit test).
            url: Url::parse("https://api.pipevideo.co/v1/").expect("constant URL parses"),
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
