//! Timestamps in either unit.

use std::{
    fmt,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Numbers at or above this (in absolute value) are read as milliseconds, below as seconds.
///
/// 10^11 seconds is the year 5138; 10^11 milliseconds is 3 March 1973. Every real timestamp
/// between 1973 and 5138 is therefore read correctly in either unit.
pub const MILLIS_THRESHOLD: f64 = 1e11;

/// A point in time from the API, which sends Unix seconds in some places (`created_at` on
/// create) and Unix milliseconds in others (`recent_requests`, legacy `completed_at`).
///
/// **The rule:** a number whose absolute value is below [`MILLIS_THRESHOLD`] (10^11) is
/// seconds, anything else milliseconds. Integers, floats (fractional seconds) and numeric
/// strings are accepted; the value is kept in milliseconds. A timestamp field that holds
/// anything else (an unparseable string, an object) decodes as absent rather than failing the
/// whole body: a wait must not break on a cosmetic field.
///
/// ```
/// use pipevideo_core::model::Timestamp;
/// assert_eq!(Timestamp::from_wire_number(1709827200.0).unwrap().unix_millis(), 1_709_827_200_000);
/// assert_eq!(Timestamp::from_wire_number(1709827258123.0).unwrap().unix_millis(), 1_709_827_258_123);
/// ```
///
/// The unit it arrived in is remembered only so that re-serialising a body reproduces it;
/// comparisons look at the instant alone (`1709827200` s == `1709827200000` ms).
#[derive(Debug, Clone, Copy)]
pub struct Timestamp {
    ms: i64,
    seconds_on_wire: bool,
}

impl PartialEq for Timestamp {
    fn eq(&self, other: &Self) -> bool {
        self.ms == other.ms
    }
}

impl Eq for Timestamp {}

impl std::hash::Hash for Timestamp {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.ms.hash(state);
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.ms.cmp(&other.ms)
    }
}

impl Timestamp {
    /// A timestamp from Unix milliseconds.
    pub fn from_unix_millis(ms: i64) -> Self {
        Self {
            ms,
            seconds_on_wire: false,
        }
    }

    /// A timestamp from Unix seconds.
    pub fn from_unix_seconds(secs: i64) -> Self {
        Self {
            ms: secs.saturating_mul(1000),
            seconds_on_wire: true,
        }
    }

    /// Reads a wire number with the seconds-or-milliseconds rule; `None` for NaN, infinities
    /// and values out of range.
    pub fn from_wire_number(n: f64) -> Option<Self> {
        if !n.is_finite() {
            return None;
        }
        let seconds_on_wire = n.abs() < MILLIS_THRESHOLD;
        let ms = if seconds_on_wire { n * 1000.0 } else { n };
        // i64 milliseconds cover ±292 million years.
        if ms.abs() >= 9.2e18 {
            return None;
        }
        Some(Self {
            ms: ms.round() as i64,
            seconds_on_wire,
        })
    }

    /// Milliseconds since the Unix epoch.
    pub fn unix_millis(self) -> i64 {
        self.ms
    }

    /// Whole seconds since the Unix epoch (rounded down).
    pub fn unix_seconds(self) -> i64 {
        self.ms.div_euclid(1000)
    }

    /// As a `SystemTime` (pure arithmetic: no clock is read).
    pub fn to_system_time(self) -> SystemTime {
        let d = Duration::from_millis(self.ms.unsigned_abs());
        if self.ms >= 0 {
            UNIX_EPOCH.checked_add(d).unwrap_or(UNIX_EPOCH)
        } else {
            UNIX_EPOCH.checked_sub(d).unwrap_or(UNIX_EPOCH)
        }
    }

    fn from_value(v: &Value) -> Option<Self> {
        match v {
            Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) if i.unsigned_abs() >= MILLIS_THRESHOLD as u64 => {
                    Some(Self::from_unix_millis(i))
                }
                (Some(i), _) => Some(Self::from_unix_seconds(i)),
                (None, Some(f)) => Self::from_wire_number(f),
                _ => None,
            },
            Value::String(s) => Self::from_wire_number(s.trim().parse::<f64>().ok()?),
            _ => None,
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms since the Unix epoch", self.ms)
    }
}

/// Serialises in the unit it arrived in (seconds, fractional if needed, or milliseconds),
/// which reads back to the same instant under the rule.
impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if !self.seconds_on_wire {
            s.serialize_i64(self.ms)
        } else if self.ms % 1000 == 0 {
            s.serialize_i64(self.ms / 1000)
        } else {
            s.serialize_f64(self.ms as f64 / 1000.0)
        }
    }
}

/// Strict: fails on a value that is not a timestamp. Response fields use the lenient
/// lenient reader instead (unreadable → absent).
impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Self::from_value(&v).ok_or_else(|| serde::de::Error::custom("not a Unix timestamp"))
    }
}

/// Reads an optional timestamp, mapping null, absence and unreadable values to `None`.
pub(crate) fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.as_ref().and_then(Timestamp::from_value))
}
