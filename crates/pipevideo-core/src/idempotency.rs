//! Idempotency keys for create requests.

use std::{fmt, str::FromStr};

/// The prefix of generated idempotency keys.
pub const IDEMPOTENCY_KEY_PREFIX: &str = "pvidem_";

/// Most characters an idempotency key may have.
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 255;

/// The value of an `Idempotency-Key` header sent on create requests.
///
/// One key is made per logical create and reused on every retry of it, so that a retried
/// POST after a lost response can be recognised as the same request. **The Pipevideo docs do
/// not document idempotency keys**: the header is harmless if ignored, but the server does not
/// promise deduplication. See the retry engine's docs for what the SDK does about that.
///
/// A key is 1..=255 visible ASCII characters (`!`..=`~`). It is not a secret and prints as is.
///
/// ```
/// use pipevideo_core::IdempotencyKey;
/// use rand::{SeedableRng, rngs::SmallRng};
///
/// let key = IdempotencyKey::generate(&mut SmallRng::seed_from_u64(7));
/// assert!(key.as_str().starts_with("pvidem_"));
/// assert_eq!(key.as_str().len(), 7 + 32);
///
/// let mine: IdempotencyKey = "order-1234-render".parse().unwrap();
/// assert_eq!(mine.to_string(), "order-1234-render");
/// assert!("has space".parse::<IdempotencyKey>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(Box<str>);

/// Why a string is not a usable idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdempotencyKeyError {
    /// The key is empty.
    #[error("the idempotency key is empty")]
    Empty,
    /// The key is longer than 255 characters.
    #[error("the idempotency key has {len} characters, more than the 255 allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The key has a character outside visible ASCII.
    #[error("the idempotency key has a character that is not visible ASCII at byte {position}")]
    Invalid {
        /// Byte offset of the first bad character.
        position: usize,
    },
}

impl IdempotencyKey {
    /// Checks and wraps a caller-chosen key.
    pub fn new(key: impl Into<String>) -> Result<Self, IdempotencyKeyError> {
        let key: String = key.into();
        if key.is_empty() {
            return Err(IdempotencyKeyError::Empty);
        }
        if let Some(position) = key.bytes().position(|b| !(0x21..=0x7e).contains(&b)) {
            return Err(IdempotencyKeyError::Invalid { position });
        }
        if key.len() > IDEMPOTENCY_KEY_MAX_LEN {
            return Err(IdempotencyKeyError::TooLong { len: key.len() });
        }
        Ok(Self(key.into_boxed_str()))
    }

    /// A fresh key: `pvidem_` and 128 random bits as 32 lowercase hex digits.
    ///
    /// The RNG is an argument (the core's decisions never touch a global RNG). The client
    /// passes the OS RNG, never its seeded jitter RNG, so that two processes built with the
    /// same [`seed`](crate::client::ClientBuilder::seed) never send the same key; tests may
    /// pass a seeded one.
    pub fn generate(rng: &mut impl rand_core::RngCore) -> Self {
        // Two draws, the first the low half: as `rand`'s `random::<u128>()`.
        let low = u128::from(rng.next_u64());
        let bits = u128::from(rng.next_u64()) << 64 | low;
        Self(format!("{IDEMPOTENCY_KEY_PREFIX}{bits:032x}").into_boxed_str())
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for IdempotencyKey {
    type Err = IdempotencyKeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}
