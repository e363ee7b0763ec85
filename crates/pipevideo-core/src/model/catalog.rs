//! Catalogues: `GET /v1/engines` (responses API) and legacy `GET /v1/models[/{slug}]`.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::null_default;

/// The body of `GET /v1/engines` (public, no auth). **Its schema is not documented**, so this
/// reads it tolerantly: a top-level array of engines, or an object whose `engines` or `data`
/// holds one. The body is always kept whole in [`EngineCatalog::raw`].
///
/// ```
/// use pipevideo_core::model::EngineCatalog;
/// let c: EngineCatalog = serde_json::from_str(r#"{"engines":[{"id":"hyperframes",
///   "models":[{"id":"moonshotai/kimi-k2.5","input_per_million":0.6}]}]}"#).unwrap();
/// assert_eq!(c.engines[0].id.as_deref(), Some("hyperframes"));
/// assert_eq!(c.engines[0].models[0].id.as_deref(), Some("moonshotai/kimi-k2.5"));
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct EngineCatalog {
    /// The engines found (empty if the shape was not recognised).
    pub engines: Vec<EngineInfo>,
    /// The body as sent.
    pub raw: Value,
}

/// Serialises as the body received ([`EngineCatalog::raw`]).
impl Serialize for EngineCatalog {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for EngineCatalog {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = Value::deserialize(d)?;
        let list = match &raw {
            Value::Array(a) => Some(a),
            Value::Object(o) => ["engines", "data"]
                .iter()
                .find_map(|k| o.get(*k)?.as_array()),
            _ => None,
        };
        let engines = list
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| EngineInfo::deserialize(v).ok())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self { engines, raw })
    }
}

/// One engine of an [`EngineCatalog`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EngineInfo {
    /// Identifier (`hyperframes`, …), read from `id`, `slug` or `name`.
    #[serde(default, alias = "slug", deserialize_with = "super::lenient")]
    pub id: Option<String>,
    /// Display name.
    #[serde(default, alias = "display_name", deserialize_with = "super::lenient")]
    pub name: Option<String>,
    /// Description.
    #[serde(default, deserialize_with = "super::lenient")]
    pub description: Option<String>,
    /// Orchestration models usable with this engine.
    #[serde(default, deserialize_with = "lenient_list")]
    pub models: Vec<EngineModel>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One orchestration model of an [`EngineInfo`], with its per-million-token rates when the
/// server names them in a way this SDK recognises (everything is in `extra` regardless).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EngineModel {
    /// Model id (`moonshotai/kimi-k2.5`), from `id` or `slug`.
    #[serde(default, alias = "slug", deserialize_with = "super::lenient")]
    pub id: Option<String>,
    /// Display name.
    #[serde(default, deserialize_with = "super::lenient")]
    pub name: Option<String>,
    /// Rate per million input tokens.
    #[serde(
        default,
        alias = "input_price_per_million",
        deserialize_with = "super::lenient"
    )]
    pub input_per_million: Option<f64>,
    /// Rate per million output tokens.
    #[serde(
        default,
        alias = "output_price_per_million",
        deserialize_with = "super::lenient"
    )]
    pub output_per_million: Option<f64>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn lenient_list<'de, D: Deserializer<'de>, T: serde::de::DeserializeOwned>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    let v = Option::<Value>::deserialize(d)?;
    Ok(match v {
        Some(Value::Array(items)) => items
            .into_iter()
            .filter_map(|i| T::deserialize(i).ok())
            .collect(),
        _ => Vec::new(),
    })
}

/// The body of legacy `GET /v1/models`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelList {
    /// The models.
    #[serde(default, deserialize_with = "null_default")]
    pub models: Vec<ModelInfo>,
    /// Fields this SDK does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The body of legacy `GET /v1/models/{slug}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelDetail {
    /// The model.
    pub model: ModelInfo,
    /// Request metrics.
    #[serde(default)]
    pub metrics: Option<ModelMetrics>,
    /// Fields this SDK does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A legacy video model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelInfo {
    /// Id (only in the single-model answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
    /// Slug (`google/veo-3.1`).
    pub slug: String,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// Capabilities (schema undocumented).
    #[serde(default)]
    pub capabilities: Value,
    /// Pricing (schema undocumented).
    #[serde(default)]
    pub pricing: Value,
    /// Maker.
    #[serde(default)]
    pub maker: Option<Named>,
    /// Family.
    #[serde(default)]
    pub family: Option<Named>,
    /// Routes: provider and host, as strings (list answer) or objects (single answer).
    #[serde(default, deserialize_with = "null_default")]
    pub routes: Vec<ModelRoute>,
    /// Fields this SDK does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `{slug, name}` pair.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Named {
    /// Slug.
    #[serde(default)]
    pub slug: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
}

/// A route of a [`ModelInfo`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ModelRoute {
    /// The provider.
    pub provider: RouteEndpoint,
    /// The host.
    pub host: RouteEndpoint,
}

/// A provider or host of a route: a string in the list answer, `{slug, name}` in the single one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum RouteEndpoint {
    /// A bare string.
    Slug(String),
    /// An object.
    Named(Named),
}

impl RouteEndpoint {
    /// The slug, whichever the form.
    pub fn slug(&self) -> Option<&str> {
        match self {
            Self::Slug(s) => Some(s),
            Self::Named(n) => n.slug.as_deref(),
        }
    }
}

/// `metrics` of a [`ModelDetail`] (camelCase on the wire).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ModelMetrics {
    /// Requests.
    #[serde(default, deserialize_with = "super::lenient_count")]
    pub total_requests: Option<u64>,
    /// Completed.
    #[serde(default, deserialize_with = "super::lenient_count")]
    pub completed_requests: Option<u64>,
    /// Failed.
    #[serde(default, deserialize_with = "super::lenient_count")]
    pub failed_requests: Option<u64>,
    /// Success rate (as sent: a fraction or a percentage).
    #[serde(default, deserialize_with = "super::lenient_amount")]
    pub success_rate: Option<f64>,
    /// Mean latency.
    #[serde(default, deserialize_with = "super::lenient_amount")]
    pub avg_latency_ms: Option<f64>,
    /// Median latency.
    #[serde(default, deserialize_with = "super::lenient_amount")]
    pub p50_latency_ms: Option<f64>,
    /// 95th percentile latency.
    #[serde(default, deserialize_with = "super::lenient_amount")]
    pub p95_latency_ms: Option<f64>,
    /// Fields this SDK does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
