//! The API key newtype.

use std::fmt;

/// A Pipevideo API key (`pv_…`), checked before any request is made and never printed.
///
/// `Debug` and `Display` print `ApiKey(pv_…redacted)`-style placeholders only; the key itself is
/// reachable through [`ApiKey::expose`], whose name makes every use easy to audit.
///
/// The docs name stray whitespace as the most common cause of a 401, so a key with any
/// whitespace or control character is refused with a message that says where:
///
/// ```
/// use pipevideo_core::{ApiKey, ApiKeyError};
/// let key = ApiKey::new("pv_0123abcd").unwrap();
/// assert_eq!(format!("{key:?}"), "ApiKey(\"pv_…\")");
/// assert!(matches!(ApiKey::new("pv_0123abcd\n"), Err(ApiKeyError::Whitespace { position: 11 })));
/// assert!(matches!(ApiKey::new(""), Err(ApiKeyError::Empty)));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(Box<str>);

/// Why a string is not a usable API key. The messages never contain the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// No key was given at all.
    #[error("no API key was given: pass one, or set PIPEVIDEO_API_KEY")]
    Missing,
    /// The key is empty.
    #[error("the API key is empty")]
    Empty,
    /// The key contains whitespace (a copied newline or space is the usual cause of a 401).
    #[error(
        "the API key contains whitespace at byte {position}; remove stray spaces or newlines \
         (a copy-paste artefact and the most common cause of 401 Unauthorized)"
    )]
    Whitespace {
        /// Byte offset of the first whitespace character.
        position: usize,
    },
    /// The key contains a control character.
    #[error("the API key contains a control character at byte {position}")]
    Control {
        /// Byte offset of the first control character.
        position: usize,
    },
}

impl ApiKey {
    /// Checks and wraps a key. The `pv_` prefix is documented but not required, so that keys
    /// of a future format keep working.
    pub fn new(key: impl Into<String>) -> Result<Self, ApiKeyError> {
        let key: String = key.into();
        if key.is_empty() {
            return Err(ApiKeyError::Empty);
        }
        for (position, c) in key.char_indices() {
            if c.is_whitespace() {
                return Err(ApiKeyError::Whitespace { position });
            }
            if c.is_control() {
                return Err(ApiKeyError::Control { position });
            }
        }
        Ok(Self(key.into_boxed_str()))
    }

    /// The key itself, for building the `Authorization` header. Keep its uses few.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ApiKey").field(&"pv_…").finish()
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pv_…(redacted)")
    }
}

impl std::str::FromStr for ApiKey {
    type Err = ApiKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}
