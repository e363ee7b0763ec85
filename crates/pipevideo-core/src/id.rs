//! Generation ids and the resumable reference (API flavour + id).

use std::{fmt, str::FromStr};

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// Characters escaped when an id is put into a URL path segment (RFC 3986 `pchar` complement).
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The id of a generation (`gen_…`), checked so that it can never change the request path.
///
/// Refused: the empty string, a lone `.`, and ids containing `/`, `?`, `#`, `%`, `\`, `..`,
/// whitespace or control characters (a `.` or `..` segment would be normalised away).
/// Whatever passes is still percent-encoded by [`GenerationId::path_segment`].
///
/// ```
/// use pipevideo_core::{GenerationId, IdError};
/// let id: GenerationId = "gen_abc123xyz".parse().unwrap();
/// assert_eq!(id.as_str(), "gen_abc123xyz");
/// assert_eq!("gen/x".parse::<GenerationId>(), Err(IdError::Forbidden { what: "`/`" }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GenerationId(Box<str>);

/// Why a string is not a usable generation id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The id is empty.
    #[error("the generation id is empty")]
    Empty,
    /// The id contains something that would change or pre-encode the URL path.
    #[error("the generation id contains {what}, which would change the request path")]
    Forbidden {
        /// What was found, e.g. "`/`" or "whitespace".
        what: &'static str,
    },
}

impl GenerationId {
    /// Checks and wraps an id.
    pub fn new(id: impl Into<String>) -> Result<Self, IdError> {
        let id: String = id.into();
        if id.is_empty() {
            return Err(IdError::Empty);
        }
        if id == "." {
            return Err(IdError::Forbidden { what: "a lone `.`" });
        }
        if id.contains("..") {
            return Err(IdError::Forbidden { what: "`..`" });
        }
        for c in id.chars() {
            let what = match c {
                '/' => "`/`",
                '?' => "`?`",
                '#' => "`#`",
                '%' => "`%`",
                '\\' => "`\\`",
                c if c.is_whitespace() => "whitespace",
                c if c.is_control() => "a control character",
                _ => continue,
            };
            return Err(IdError::Forbidden { what });
        }
        Ok(Self(id.into_boxed_str()))
    }

    /// The id as the server issued it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The id percent-encoded as one URL path segment.
    pub fn path_segment(&self) -> String {
        utf8_percent_encode(&self.0, PATH_SEGMENT).to_string()
    }
}

impl fmt::Display for GenerationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for GenerationId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl<'de> serde::Deserialize<'de> for GenerationId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(s).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for GenerationId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// Which generation of the Pipevideo API a generation was created on.
///
/// Both issue `gen_…` ids, so the flavour is needed to poll the right route.
///
/// Closed: the SDK speaks exactly these two API generations. A third would need its own
/// requests, routes and body type ([`GenerationBody`](crate::model::GenerationBody) mirrors
/// this enum), which is a major release anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed: the two API generations the SDK speaks; users match it exhaustively"
)]
pub enum Flavor {
    /// The current API: `POST/GET /v1/responses`.
    Responses,
    /// The legacy API: `POST/GET /v1/video/generations`.
    Legacy,
}

impl Flavor {
    /// The word used in a printed [`GenerationRef`]: `responses` or `legacy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Responses => "responses",
            Self::Legacy => "legacy",
        }
    }
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A generation's resumable reference: its API flavour and id.
///
/// Every wait outcome and every error after a create carries one, so a caller can always
/// resume waiting on the right route. It prints as `responses:gen_…` or `legacy:gen_…` and
/// parses back; a bare id parses as the responses API.
///
/// ```
/// use pipevideo_core::{Flavor, GenerationRef};
/// let r: GenerationRef = "legacy:gen_abc".parse().unwrap();
/// assert_eq!(r.flavor(), Flavor::Legacy);
/// assert_eq!(r.to_string().parse::<GenerationRef>().unwrap(), r);
/// assert_eq!("gen_abc".parse::<GenerationRef>().unwrap().flavor(), Flavor::Responses);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GenerationRef {
    flavor: Flavor,
    id: GenerationId,
}

/// Why a string is not a generation reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RefParseError {
    /// The prefix before `:` is not `responses` or `legacy`.
    #[error("unknown API flavour `{0}` (expected `responses:` or `legacy:` before the id)")]
    Flavor(String),
    /// The id part is not a valid id.
    #[error(transparent)]
    Id(#[from] IdError),
}

impl GenerationRef {
    /// A reference from its parts.
    pub fn new(flavor: Flavor, id: GenerationId) -> Self {
        Self { flavor, id }
    }

    /// The API flavour the generation lives on.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// The generation id.
    pub fn id(&self) -> &GenerationId {
        &self.id
    }

    /// The retrieve path relative to the base URL, id percent-encoded:
    /// `responses/{id}` or `video/generations/{id}`.
    pub fn retrieve_path(&self) -> String {
        match self.flavor {
            Flavor::Responses => format!("responses/{}", self.id.path_segment()),
            Flavor::Legacy => format!("video/generations/{}", self.id.path_segment()),
        }
    }
}

impl fmt::Display for GenerationRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.flavor, self.id)
    }
}

impl FromStr for GenerationRef {
    type Err = RefParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.split_once(':') {
            Some(("responses", id)) => Ok(Self::new(Flavor::Responses, id.parse()?)),
            Some(("legacy", id)) => Ok(Self::new(Flavor::Legacy, id.parse()?)),
            Some((other, _)) => Err(RefParseError::Flavor(other.to_owned())),
            None => Ok(Self::new(Flavor::Responses, s.parse()?)),
        }
    }
}
