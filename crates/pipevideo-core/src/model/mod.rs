//! The API model: typed requests and tolerant responses for every documented endpoint of
//! both API generations.
//!
//! | Endpoint | Request | Response |
//! |---|---|---|
//! | `POST /v1/responses` | [`CreateResponse`] | [`Generation`] ([`ResponseObject`]) |
//! | `GET /v1/responses/{id}` | — | [`Generation`] ([`ResponseObject`]) |
//! | `GET /v1/engines` | — | [`EngineCatalog`] |
//! | `GET /v1/usage` | — | [`Usage`] |
//! | `POST /v1/video/generations` | [`CreateGeneration`] | [`Generation`] ([`LegacyGeneration`]) |
//! | `GET /v1/video/generations/{id}` | — | [`Generation`] ([`LegacyGeneration`]) |
//! | `GET /v1/models` | — | [`ModelList`] |
//! | `GET /v1/models/{slug}` | — | [`ModelDetail`] |
//!
//! Requests are checked by their `validate` method (the [`codec`](crate::codec) encoder
//! calls it), so invalid input never reaches the server. Responses tolerate unknown fields
//! (kept in `extra`), nulls (read as absent), timestamps in seconds or milliseconds (see
//! [`Timestamp`]) and every spelling of the video URL (see [`Generation::video_url`]).

use serde::{Deserialize, Deserializer, de::DeserializeOwned};
use serde_json::Value;

mod catalog;
mod generation;
mod legacy;
mod object;
mod request_error;
mod responses;
mod time;
mod usage;

pub use catalog::{
    EngineCatalog, EngineInfo, EngineModel, ModelDetail, ModelInfo, ModelList, ModelMetrics,
    ModelRoute, Named, RouteEndpoint,
};
pub use generation::{FailureCause, Generation, GenerationBody, GenerationFailure};
pub use legacy::{CreateGeneration, LegacyGeneration, LegacyProvider};
pub use request_error::RequestError;
pub use responses::{
    ContentPart, CreateResponse, Engine, ImageDetail, ImageUrl, Input, Message, OutputItem,
    ProviderPreferences, ResponseObject, ResponseUsage, Role, VideoUrl,
};
pub use time::{MILLIS_THRESHOLD, Timestamp};
pub use usage::{DailyRouteUsage, DailyUsage, RecentRequest, RouteUsage, Usage, UsageTotals};

/// Reads `null` as the type's default (for lists).
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Reads a field that must not break decoding: null, absent or of the wrong shape → `None`.
pub(crate) fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    let v = Option::<Value>::deserialize(d)?;
    Ok(v.and_then(|v| T::deserialize(v).ok()))
}

/// Serialises a [`Status`](crate::Status) in the wire vocabulary of one API flavour, so a
/// re-encoded body reads back to the same status (the lifecycle words of `Status`'s own
/// `Serialize` — `running` — are not wire words).
pub(crate) mod wire_status {
    use serde::Serializer;

    use crate::Status;

    fn word(status: &Status, legacy: bool) -> &str {
        match (status, legacy) {
            (Status::Queued, false) => "queued",
            (Status::Queued, true) => "pending",
            (Status::Running, false) => "in_progress",
            (Status::Running, true) => "processing",
            (other, _) => other.as_str(),
        }
    }

    pub(crate) fn responses<S: Serializer>(status: &Status, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(word(status, false))
    }

    pub(crate) fn legacy<S: Serializer>(status: &Status, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(word(status, true))
    }

    #[allow(clippy::ref_option)] // the signature serde's `serialize_with` requires
    pub(crate) fn responses_opt<S: Serializer>(
        status: &Option<Status>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match status {
            Some(st) => responses(st, s),
            None => s.serialize_none(),
        }
    }
}

/// Reads a count tolerantly: integers, whole floats (`3.0`) and numeric strings; anything
/// else (negative, fractional, another type) reads as absent rather than failing the body.
pub(crate) fn lenient_count<'de, D>(d: D) -> Result<Option<u64>, D::Error>
where
    D: Deserializer<'de>,
{
    let v = Option::<Value>::deserialize(d)?;
    let n = match v {
        Some(Value::Number(n)) => n.as_u64().or_else(|| whole(n.as_f64()?)),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    Ok(n)
}

/// Reads an amount tolerantly: numbers and numeric strings; anything else reads as absent.
pub(crate) fn lenient_amount<'de, D>(d: D) -> Result<Option<f64>, D::Error>
where
    D: Deserializer<'de>,
{
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        _ => None,
    })
}

fn whole(f: f64) -> Option<u64> {
    (f >= 0.0 && f.fract() == 0.0 && f <= u64::MAX as f64).then_some(f as u64)
}
