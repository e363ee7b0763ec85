//! The legacy "generation" API: `POST /v1/video/generations` and
//! `GET /v1/video/generations/{id}`.

use serde::de::MapAccess;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::object::{self, Key, Lenient, LenientTime, ReadObject};

use super::RequestError;
use super::{
    responses::{non_empty, validate_aspect_ratio, validate_media_url},
    time::Timestamp,
};
use crate::Status;

/// The body of legacy `POST /v1/video/generations`.
///
/// Here `model` is a *video* model slug (`google/veo-3.1`). Give one model with
/// [`CreateGeneration::new`], or several in priority order with
/// [`CreateGeneration::with_fallbacks`] (sent as `models`; the server tries the next on
/// downtime, rate limit or moderation).
///
/// ```
/// use pipevideo_core::model::{CreateGeneration, LegacyProvider};
/// let req = CreateGeneration::new("google/veo-3.1", "A paper plane over Lisbon")
///     .aspect_ratio("16:9")
///     .duration(8)
///     .resolution("1080p")
///     .provider(LegacyProvider::slug("fal"));
/// assert!(req.validate().is_ok());
/// let json = serde_json::to_value(&req).unwrap();
/// assert_eq!(json["provider"], "fal");
/// assert_eq!(json["aspectRatio"], "16:9");
///
/// let fallbacks = CreateGeneration::with_fallbacks(["google/veo-3.1", "veo-veo-3-1"], "A cat");
/// assert_eq!(serde_json::to_value(&fallbacks).unwrap()["models"][1], "veo-veo-3-1");
/// assert!(CreateGeneration::new("google/veo-3.1", "  ").validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateGeneration {
    /// One video model slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Video model slugs in priority order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<String>>,
    /// The prompt.
    pub prompt: String,
    /// Routing preference: a slug (`fal`, as the official client sends) or an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<LegacyProvider>,
    /// `16:9`, `9:16` or `1:1`.
    #[serde(
        default,
        rename = "aspectRatio",
        skip_serializing_if = "Option::is_none"
    )]
    pub aspect_ratio: Option<String>,
    /// Length in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u32>,
    /// `720p` or `1080p`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
    /// A reference image (https URL or data URI).
    #[serde(default, rename = "imageUrl", skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
}

impl CreateGeneration {
    /// A request for one model.
    pub fn new(model: impl Into<String>, prompt: impl Into<String>) -> Self {
        Self::blank(Some(model.into()), None, prompt.into())
    }

    /// A request for several models in priority order (sent as `models`).
    pub fn with_fallbacks<I, S>(models: I, prompt: impl Into<String>) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::blank(
            None,
            Some(models.into_iter().map(Into::into).collect()),
            prompt.into(),
        )
    }

    fn blank(model: Option<String>, models: Option<Vec<String>>, prompt: String) -> Self {
        Self {
            model,
            models,
            prompt,
            provider: None,
            aspect_ratio: None,
            duration: None,
            resolution: None,
            image_url: None,
        }
    }

    /// Sets `provider`.
    pub fn provider(mut self, provider: LegacyProvider) -> Self {
        self.provider = Some(provider);
        self
    }

    /// Sets `aspectRatio`.
    pub fn aspect_ratio(mut self, ratio: impl Into<String>) -> Self {
        self.aspect_ratio = Some(ratio.into());
        self
    }

    /// Sets `duration` in seconds.
    pub fn duration(mut self, seconds: u32) -> Self {
        self.duration = Some(seconds);
        self
    }

    /// Sets `resolution`, e.g. `1080p`.
    pub fn resolution(mut self, resolution: impl Into<String>) -> Self {
        self.resolution = Some(resolution.into());
        self
    }

    /// Sets `imageUrl`.
    pub fn image_url(mut self, url: impl Into<String>) -> Self {
        self.image_url = Some(url.into());
        self
    }

    /// Checks: exactly one of `model`/`models`, no empty slug, non-empty `prompt`, positive
    /// `duration`, `aspectRatio` of the form `W:H`, non-empty `resolution`, and `imageUrl`
    /// `https://` or `data:`.
    pub fn validate(&self) -> Result<(), RequestError> {
        match (&self.model, &self.models) {
            (Some(_), Some(_)) => {
                return Err(RequestError::Conflict {
                    first: "model",
                    second: "models",
                });
            }
            (None, None) => return Err(RequestError::Missing { field: "model" }),
            (Some(m), None) => non_empty("model", m)?,
            (None, Some(ms)) => {
                if ms.is_empty() {
                    return Err(RequestError::Empty { field: "models" });
                }
                for m in ms {
                    non_empty("models[]", m)?;
                }
            }
        }
        non_empty("prompt", &self.prompt)?;
        if self.duration == Some(0) {
            return Err(RequestError::InvalidValue {
                field: "duration",
                reason: "must be positive",
            });
        }
        if let Some(r) = &self.aspect_ratio {
            validate_aspect_ratio(r)?;
        }
        if let Some(r) = &self.resolution {
            non_empty("resolution", r)?;
        }
        if let Some(u) = &self.image_url {
            validate_media_url("imageUrl", u)?;
        }
        match &self.provider {
            Some(LegacyProvider::Slug(s)) => non_empty("provider", s)?,
            Some(LegacyProvider::Preferences(_)) | None => {}
        }
        Ok(())
    }
}

/// A one-line summary for logs: the model(s) and the prompt length, never the prompt text.
impl std::fmt::Display for CreateGeneration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("create legacy generation with ")?;
        match (&self.model, &self.models) {
            (Some(m), _) => write!(f, "model `{m}`")?,
            (None, Some(ms)) => write!(f, "models `{}`", ms.join("`, `"))?,
            (None, None) => f.write_str("no model")?,
        }
        write!(f, ", prompt of {} characters", self.prompt.chars().count())
    }
}

/// The legacy `provider` field, in either documented form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum LegacyProvider {
    /// A provider slug, e.g. `fal` (what the official client sends).
    Slug(String),
    /// An object of routing preferences (what the docs describe; keys undocumented).
    Preferences(Map<String, Value>),
}

impl LegacyProvider {
    /// A slug.
    pub fn slug(slug: impl Into<String>) -> Self {
        Self::Slug(slug.into())
    }
}

/// The body of legacy create (`{id, status, created_at}`) and retrieve.
/// Usually read through [`Generation`](super::Generation).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct LegacyGeneration {
    /// The generation id.
    pub id: String,
    /// The lifecycle status (re-encoded in this flavour's wire words).
    #[serde(serialize_with = "super::wire_status::legacy")]
    pub status: Status,
    /// The video URL once completed (other spellings, if any, stay in `extra` and are found
    /// by [`Generation::video_url`](super::Generation::video_url)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_url: Option<String>,
    /// Cost in US cents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_cents: Option<f64>,
    /// Latency in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// The failure message when failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Creation time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// Completion time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    /// Fields this SDK does not model.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for LegacyGeneration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        object::deserialize(d)
    }
}

impl LegacyGeneration {
    /// A body with only its id and status (the reader fills the rest; a webhook event gives
    /// no more).
    pub(crate) fn bare(id: String, status: Status) -> Self {
        Self {
            id,
            status,
            output_url: None,
            cost_cents: None,
            latency_ms: None,
            error_message: None,
            created_at: None,
            completed_at: None,
            extra: Map::new(),
        }
    }
}

impl ReadObject for LegacyGeneration {
    const EXPECTING: &'static str = "a generation object";

    fn read<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let (mut id, mut status) = (None, None);
        let mut body = Self::bare(String::new(), Status::Queued);
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match key.as_str() {
                "id" => id = Some(map.next_value()?),
                "status" => status = Some(map.next_value()?),
                "output_url" => body.output_url = map.next_value::<Lenient<_>>()?.0,
                "cost_cents" => body.cost_cents = map.next_value::<Lenient<_>>()?.0,
                "latency_ms" => body.latency_ms = map.next_value::<Lenient<_>>()?.0,
                "error_message" => body.error_message = map.next_value::<Lenient<_>>()?.0,
                "created_at" => body.created_at = map.next_value::<LenientTime>()?.0,
                "completed_at" => body.completed_at = map.next_value::<LenientTime>()?.0,
                _ => key.keep(&mut map, &mut body.extra)?,
            }
        }
        body.id = object::required(id, "id")?;
        body.status = object::required(status, "status")?;
        Ok(body)
    }
}
