//! Reading a JSON object whose unknown keys are kept: the hand-written alternative to
//! `#[serde(flatten)]` for the response types that every poll decodes.
//!
//! `#[serde(flatten)]` makes serde buffer the whole object into an intermediate tree before any
//! field is read, and then read every unknown field a second time; on the retrieve body of a
//! poll that made typed decoding cost about twice what decoding the same bytes into a
//! `serde_json::Value` costs (measured by `tests/benches/overhead.rs`). The types read here
//! ([`ResponseObject`](super::ResponseObject), [`OutputItem`](super::OutputItem),
//! [`ResponseUsage`](super::ResponseUsage), [`LegacyGeneration`](super::LegacyGeneration)) go
//! through the object once instead: a known key is decoded straight into its field, any other
//! key into `extra`.
//!
//! The rules are those of the derived code they replace, with one deliberate change: **a
//! repeated key is read again and the last occurrence wins** (as `JSON.parse` does), for known
//! keys and for `extra` alike, where the derived code refused the body (`duplicate field`). A
//! server that repeats a key has sent something odd, not something unusable.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, DeserializeOwned, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

use super::time::Timestamp;

/// A type read from a JSON object key by key.
pub(crate) trait ReadObject: Sized {
    /// What the error message says was expected (`invalid type: ..., expected <this>`).
    const EXPECTING: &'static str;

    /// Reads every entry of `map` and builds the value.
    fn read<'de, A: MapAccess<'de>>(map: A) -> Result<Self, A::Error>;
}

/// The body of a `Deserialize` impl for a [`ReadObject`] type.
pub(crate) fn deserialize<'de, D: Deserializer<'de>, T: ReadObject>(d: D) -> Result<T, D::Error> {
    struct ObjectVisitor<T>(PhantomData<T>);

    impl<'de, T: ReadObject> Visitor<'de> for ObjectVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(T::EXPECTING)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::read(map)
        }
    }

    d.deserialize_map(ObjectVisitor(PhantomData))
}

/// An object key, borrowed from the input when it has no escapes (no allocation for the keys
/// that name a known field).
pub(crate) struct Key<'de>(Cow<'de, str>);

impl Key<'_> {
    /// The key's text.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads the value of this key into `extra`, replacing an earlier occurrence.
    pub(crate) fn keep<'de, A: MapAccess<'de>>(
        self,
        map: &mut A,
        extra: &mut Map<String, Value>,
    ) -> Result<(), A::Error> {
        let value: Value = map.next_value()?;
        extra.insert(self.0.into_owned(), value);
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }

            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }

        d.deserialize_str(KeyVisitor)
    }
}

/// A field read by [`super::lenient`]: null, absent or of the wrong shape is `None`.
pub(crate) struct Lenient<T>(pub(crate) Option<T>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::lenient(d).map(Lenient)
    }
}

/// A timestamp read by [`super::time::lenient`] (seconds or milliseconds; anything else is
/// `None`).
pub(crate) struct LenientTime(pub(crate) Option<Timestamp>);

impl<'de> Deserialize<'de> for LenientTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::time::lenient(d).map(LenientTime)
    }
}

/// A list read by [`super::null_default`]: `null` is the empty list.
pub(crate) struct NullDefault<T>(pub(crate) T);

impl<'de, T: Deserialize<'de> + Default> Deserialize<'de> for NullDefault<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::null_default(d).map(NullDefault)
    }
}

/// The value of a required field, or serde's `missing field` error.
pub(crate) fn required<T, E: de::Error>(value: Option<T>, field: &'static str) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(field))
}
