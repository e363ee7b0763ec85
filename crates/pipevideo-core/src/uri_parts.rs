//! A small splitter for absolute `http(s)` URLs: scheme, user-info, host, port and the rest.
//!
//! It replaces the `url` crate (which brings `idna` and the ICU tree) for the three places the
//! core reads a URL: the base URL, the attribution referer and the media-URL check. It does not
//! implement the whole URL standard, only what those need; the base URL is then checked again by
//! `http::Uri`, the type every request is built with.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// The URL standard's path percent-encode set (controls, space, `"`, `#`, `<`, `>`, `?`, `` ` ``,
/// `{`, `}`) and everything outside ASCII.
pub(crate) const PATH_SET: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// The query and fragment set: like the path set, but `?` stays.
const QUERY_SET: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// A host, as written in a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Host {
    /// An ASCII domain name, lower-cased (punycode labels are kept as given).
    Domain(String),
    /// A dotted-quad IPv4 address.
    V4(Ipv4Addr),
    /// A bracketed IPv6 address.
    V6(Ipv6Addr),
}

impl Host {
    pub(crate) fn is_loopback(&self) -> bool {
        match self {
            Host::Domain(d) => d == "localhost",
            Host::V4(ip) => IpAddr::V4(*ip).is_loopback(),
            Host::V6(ip) => ip.is_loopback(),
        }
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(ip) => write!(f, "{ip}"),
            Host::V6(ip) => write!(f, "[{ip}]"),
        }
    }
}

/// Why a URL could not be split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SplitError {
    /// Not an absolute URL, or malformed: the reason.
    Malformed(&'static str),
    /// The host has a character outside ASCII.
    NonAsciiHost { host: String, character: char },
}

/// An absolute URL split into its parts. `scheme` is lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parts<'a> {
    pub scheme: String,
    /// `None` when the URL has no `//` authority (`data:…`, `mailto:…`).
    pub authority: Option<Authority<'a>>,
    /// The path, exactly as written (not encoded or normalised).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub fragment: Option<&'a str>,
}

/// The `//user@host:port` part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authority<'a> {
    pub has_userinfo: bool,
    /// The host as written (for hosts of schemes other than http and https, not checked).
    pub raw_host: &'a str,
    /// The port as written, if any (`Some("")` for `host:`).
    pub port: Option<&'a str>,
}

/// Splits an absolute URL. The host is not interpreted here: see [`parse_host`].
pub(crate) fn split(s: &str) -> Result<Parts<'_>, SplitError> {
    let colon = s
        .find(':')
        .ok_or(SplitError::Malformed("relative URL without a base"))?;
    let scheme = &s[..colon];
    let valid_scheme = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme {
        return Err(SplitError::Malformed("relative URL without a base"));
    }
    let scheme = scheme.to_ascii_lowercase();
    let rest = &s[colon + 1..];
    // The URL standard reads `\` as `/` in http(s) URLs, so `https://a.com\@b.com/` means host
    // `a.com` to it and host `b.com` to a plain splitter: refused rather than guessed at.
    if matches!(scheme.as_str(), "http" | "https")
        && rest
            .split(['?', '#'])
            .next()
            .is_some_and(|r| r.contains('\\'))
    {
        return Err(SplitError::Malformed(
            "a backslash in an http(s) URL (write `/`)",
        ));
    }
    let (rest, fragment) = match rest.split_once('#') {
        Some((r, f)) => (r, Some(f)),
        None => (rest, None),
    };
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match rest.strip_prefix("//") {
        Some(after) => {
            let end = after.find('/').unwrap_or(after.len());
            let (auth, path) = after.split_at(end);
            let (has_userinfo, host_port) = match auth.rfind('@') {
                Some(at) => (true, &auth[at + 1..]),
                None => (false, auth),
            };
            let (raw_host, port) = split_port(host_port);
            (
                Some(Authority {
                    has_userinfo,
                    raw_host,
                    port,
                }),
                path,
            )
        }
        None => (None, rest),
    };
    if authority.is_none() && matches!(scheme.as_str(), "http" | "https") {
        return Err(SplitError::Malformed(
            "an http(s) URL needs `//` and a host",
        ));
    }
    Ok(Parts {
        scheme,
        authority,
        path,
        query,
        fragment,
    })
}

fn split_port(host_port: &str) -> (&str, Option<&str>) {
    if host_port.starts_with('[') {
        if let Some(close) = host_port.find(']') {
            let (host, after) = host_port.split_at(close + 1);
            if after.is_empty() || after.starts_with(':') {
                return (host, after.strip_prefix(':'));
            }
        }
        // Unclosed, or text after `]` that is not a port (`[::1]evil.com`): the whole is the
        // host, which `parse_host` refuses as an invalid IPv6 address.
        return (host_port, None);
    }
    match host_port.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (host_port, None),
    }
}

/// Interprets an http(s) host: a bracketed IPv6 address, a dotted-quad IPv4 address or an
/// ASCII domain name (letters, digits, `-`, `_`, `.`), lower-cased.
///
/// Internationalised names must be given in punycode (`xn--…`): a character outside ASCII is
/// refused, named. Numeric hosts that are not a dotted quad (`127.1`, `0x7f.1`) are refused
/// rather than guessed at.
pub(crate) fn parse_host(raw: &str) -> Result<Host, SplitError> {
    if raw.is_empty() {
        return Err(SplitError::Malformed("empty host"));
    }
    if let Some(inner) = raw.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or(SplitError::Malformed("invalid IPv6 address"))?;
        return inner
            .parse()
            .map(Host::V6)
            .map_err(|_| SplitError::Malformed("invalid IPv6 address"));
    }
    if let Some(character) = raw.chars().find(|c| !c.is_ascii()) {
        return Err(SplitError::NonAsciiHost {
            host: raw.to_owned(),
            character,
        });
    }
    if !raw
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(SplitError::Malformed("invalid domain character"));
    }
    let last_label = raw.trim_end_matches('.').rsplit('.').next().unwrap_or("");
    let hex = last_label
        .get(..2)
        .is_some_and(|p| p.eq_ignore_ascii_case("0x"));
    if last_label.bytes().all(|b| b.is_ascii_digit()) || hex {
        // The URL standard reads such a host as an IPv4 address; only the plain form is taken.
        return raw
            .parse()
            .map(Host::V4)
            .map_err(|_| SplitError::Malformed("invalid IPv4 address"));
    }
    Ok(Host::Domain(raw.to_ascii_lowercase()))
}

/// Checks an http(s) port (`""` means none) and drops the scheme's default one.
pub(crate) fn parse_port(scheme: &str, port: Option<&str>) -> Result<Option<u16>, SplitError> {
    let Some(p) = port.filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    if !p.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SplitError::Malformed("invalid port number"));
    }
    let n: u16 = p
        .parse()
        .map_err(|_| SplitError::Malformed("invalid port number"))?;
    let default = match scheme {
        "https" => 443,
        "http" => 80,
        _ => 0,
    };
    Ok((n != default).then_some(n))
}

/// Percent-encodes a path (or query, fragment) the way the URL standard serialises it; `%` is
/// kept, so already-encoded text is unchanged.
pub(crate) fn encode_path(s: &str) -> String {
    utf8_percent_encode(s, PATH_SET).to_string()
}

/// Percent-encodes a query or fragment.
pub(crate) fn encode_query(s: &str) -> String {
    utf8_percent_encode(s, QUERY_SET).to_string()
}
