//! The endpoint's signing secret.

use std::{fmt, str::FromStr};

use super::b64;

/// The prefix of every endpoint secret shown by the dashboard.
const PREFIX: &str = "whsec_";

/// A webhook endpoint's signing secret: `whsec_` followed by base64, as the dashboard shows it.
///
/// Only the decoded key bytes are kept. `Debug` and `Display` never print them, and no error
/// of this module contains any part of the secret (a bad base64 character is reported by its
/// position only).
///
/// ```
/// use pipevideo_core::webhook::{SecretError, WebhookSecret};
///
/// let secret: WebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
/// assert_eq!(format!("{secret:?}"), "WebhookSecret(\"whsec_…\")");
/// assert_eq!(secret.to_string(), "whsec_…(redacted)");
///
/// assert_eq!("MfKQ9r8G".parse::<WebhookSecret>().unwrap_err(), SecretError::MissingPrefix);
/// assert_eq!("whsec_".parse::<WebhookSecret>().unwrap_err(), SecretError::Empty);
/// assert_eq!(
///     "whsec_ab$d".parse::<WebhookSecret>().unwrap_err(),
///     SecretError::NotBase64 { position: Some(8) },
/// );
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    key: Box<[u8]>,
}

/// Why a string is not a usable webhook secret. The messages never contain the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The string does not start with `whsec_`.
    #[error(
        "the webhook secret does not start with `whsec_`; copy the whole secret from the \
         endpoint's page in the dashboard"
    )]
    MissingPrefix,
    /// Nothing follows the prefix, or the decoded key is empty.
    #[error("the webhook secret is empty")]
    Empty,
    /// The secret contains whitespace (usually a copied newline).
    #[error(
        "the webhook secret contains whitespace at byte {position}; remove stray spaces or \
         newlines"
    )]
    Whitespace {
        /// Byte offset of the first whitespace character in the whole string.
        position: usize,
    },
    /// The part after `whsec_` is not standard base64.
    #[error(
        "the webhook secret is not `whsec_` followed by base64{}",
        match position {
            Some(p) => format!(" (invalid character at byte {p})"),
            None => String::new(),
        }
    )]
    NotBase64 {
        /// Byte offset in the whole string of the offending character, when one is to blame
        /// (a wrong length or padding has none).
        position: Option<usize>,
    },
}

impl WebhookSecret {
    /// Parses a secret as the dashboard shows it: `whsec_` followed by standard base64
    /// (padding optional).
    pub fn new(secret: &str) -> Result<Self, SecretError> {
        if let Some(position) = secret.find(|c: char| c.is_whitespace()) {
            return Err(SecretError::Whitespace { position });
        }
        let encoded = secret
            .strip_prefix(PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        if encoded.is_empty() {
            return Err(SecretError::Empty);
        }
        let key = b64::decode(encoded.as_bytes()).map_err(|e| SecretError::NotBase64 {
            position: e.offset().map(|offset| PREFIX.len() + offset),
        })?;
        Self::from_bytes(key)
    }

    /// Wraps raw key bytes (the already-decoded part after `whsec_`). Refuses an empty key.
    pub fn from_bytes(key: impl Into<Vec<u8>>) -> Result<Self, SecretError> {
        let key: Vec<u8> = key.into();
        if key.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self {
            key: key.into_boxed_slice(),
        })
    }

    /// The decoded key bytes, the HMAC key. Keep its uses few.
    pub fn expose(&self) -> &[u8] {
        &self.key
    }
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WebhookSecret").field(&"whsec_…").finish()
    }
}

impl fmt::Display for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("whsec_…(redacted)")
    }
}

impl FromStr for WebhookSecret {
    type Err = SecretError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_with_and_without_padding() {
        let padded = WebhookSecret::new("whsec_AQID").unwrap();
        assert_eq!(padded.expose(), &[1, 2, 3]);
        let unpadded = WebhookSecret::new("whsec_AQI").unwrap();
        assert_eq!(unpadded.expose(), &[1, 2]);
        let with_pad = WebhookSecret::new("whsec_AQI=").unwrap();
        assert_eq!(with_pad.expose(), &[1, 2]);
    }

    #[test]
    fn errors_never_contain_the_secret() {
        for bad in [
            "whsec_c2VjcmV0!!",
            "whsec_c2Vjc",
            "c2VjcmV0c2VjcmV0",
            "whsec_c2Vj cmV0",
        ] {
            let err = WebhookSecret::new(bad).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(!text.contains("c2Vj"), "{text}");
        }
    }

    #[test]
    fn whitespace_is_reported_with_its_position() {
        assert_eq!(
            WebhookSecret::new("whsec_AQID\n").unwrap_err(),
            SecretError::Whitespace { position: 10 }
        );
    }

    #[test]
    fn length_errors_have_no_position() {
        // A single base64 character cannot encode a whole byte.
        assert_eq!(
            WebhookSecret::new("whsec_A").unwrap_err(),
            SecretError::NotBase64 { position: None }
        );
    }

    #[test]
    fn empty_raw_key_is_refused() {
        assert_eq!(
            WebhookSecret::from_bytes(Vec::new()).unwrap_err(),
            SecretError::Empty
        );
    }
}
