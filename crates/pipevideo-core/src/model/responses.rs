//! The current "responses" API: `POST /v1/responses` and `GET /v1/responses/{id}`.
//!
//! Longer than the house's ~600 lines on purpose: the request builder, its validation and the
//! tolerant response reader (a hand-written visitor, see ARCHITECTURE's Decisions) describe
//! one wire format, and splitting them would scatter its field list.

use serde::de::MapAccess;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::RequestError;
use super::object::{self, Key, Lenient, LenientTime, NullDefault, ReadObject};
use super::{null_default, time::Timestamp};
use crate::Status;

/// The body of `POST /v1/responses`: create a video from a prompt.
///
/// `model` is the orchestration LLM (`moonshotai/kimi-k2.5`), not a video model. Optional
/// fields are set with the consuming setters; [`CreateResponse::validate`] runs before the
/// request is encoded, so bad input never reaches the server.
///
/// ```
/// use pipevideo_core::model::{CreateResponse, Engine, Input, Message, ContentPart, ImageDetail};
///
/// let simple = CreateResponse::new("moonshotai/kimi-k2.5", "A paper plane over Lisbon")
///     .engine(Engine::Hyperframes)
///     .aspect_ratio("16:9")
///     .provider_order(["framerate"]);
/// assert!(simple.validate().is_ok());
/// let json = serde_json::to_value(&simple).unwrap();
/// assert_eq!(json["aspectRatio"], "16:9");
/// assert_eq!(json["provider"]["order"][0], "framerate");
///
/// let multimodal = CreateResponse::new("moonshotai/kimi-k2.5", Input::Messages(vec![
///     Message::user([
///         ContentPart::text("Animate this logo"),
///         ContentPart::image_with_detail("https://example.com/logo.png", ImageDetail::High),
///     ]),
/// ]));
/// assert!(multimodal.validate().is_ok());
///
/// // No text part anywhere: refused before sending.
/// let no_text = CreateResponse::new("moonshotai/kimi-k2.5", Input::Messages(vec![
///     Message::user([ContentPart::image("https://example.com/logo.png")]),
/// ]));
/// assert!(no_text.validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct CreateResponse {
    /// Orchestration LLM id.
    pub model: String,
    /// The prompt: a string or message items.
    pub input: Input,
    /// System-level guidance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Rendering engine (`hyperframes` by default on the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Engine>,
    /// Rewrite the prompt with the engine's guide first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expand_prompt: Option<bool>,
    /// Canvas width in px (server default 1080).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Canvas height in px (server default 1920).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Aspect ratio such as `16:9` (camelCase on the wire).
    #[serde(
        default,
        rename = "aspectRatio",
        skip_serializing_if = "Option::is_none"
    )]
    pub aspect_ratio: Option<String>,
    /// Provider routing preferences.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderPreferences>,
}

impl CreateResponse {
    /// A request with the two required fields.
    pub fn new(model: impl Into<String>, input: impl Into<Input>) -> Self {
        Self {
            model: model.into(),
            input: input.into(),
            instructions: None,
            engine: None,
            expand_prompt: None,
            width: None,
            height: None,
            aspect_ratio: None,
            provider: None,
        }
    }

    /// Sets `instructions`.
    pub fn instructions(mut self, instructions: impl Into<String>) -> Self {
        self.instructions = Some(instructions.into());
        self
    }

    /// Sets `engine`.
    pub fn engine(mut self, engine: Engine) -> Self {
        self.engine = Some(engine);
        self
    }

    /// Sets `expand_prompt`.
    pub fn expand_prompt(mut self, expand: bool) -> Self {
        self.expand_prompt = Some(expand);
        self
    }

    /// Sets the canvas size in px.
    pub fn canvas(mut self, width: u32, height: u32) -> Self {
        self.width = Some(width);
        self.height = Some(height);
        self
    }

    /// Sets `aspectRatio`, e.g. `16:9`.
    pub fn aspect_ratio(mut self, ratio: impl Into<String>) -> Self {
        self.aspect_ratio = Some(ratio.into());
        self
    }

    /// Sets `provider.order`: provider slugs in preference order.
    pub fn provider_order<I, S>(mut self, order: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.provider = Some(ProviderPreferences::new(order));
        self
    }

    /// Checks the request as far as the docs allow: non-empty `model`; non-empty `input`
    /// with at least one non-empty `input_text` part; image/video URLs `https://` or `data:`;
    /// no zero canvas size; `aspectRatio` of the form `W:H`; no empty provider slug.
    pub fn validate(&self) -> Result<(), RequestError> {
        non_empty("model", &self.model)?;
        self.input.validate()?;
        if let Some(i) = &self.instructions {
            non_empty("instructions", i)?;
        }
        if self.width == Some(0) {
            return Err(RequestError::InvalidValue {
                field: "width",
                reason: "must be positive",
            });
        }
        if self.height == Some(0) {
            return Err(RequestError::InvalidValue {
                field: "height",
                reason: "must be positive",
            });
        }
        if let Some(r) = &self.aspect_ratio {
            validate_aspect_ratio(r)?;
        }
        if let Some(Engine::Other(e)) = &self.engine {
            non_empty("engine", e)?;
        }
        if let Some(p) = &self.provider
            && p.order.iter().any(|s| s.trim().is_empty())
        {
            return Err(RequestError::Empty {
                field: "provider.order[]",
            });
        }
        Ok(())
    }
}

/// A one-line summary for logs: the model and the shape of the input, never the prompt text
/// (prompts can be long and are the caller's data).
impl std::fmt::Display for CreateResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "create response with model `{}`, ", self.model)?;
        match &self.input {
            Input::Text(t) => write!(f, "text input of {} characters", t.chars().count()),
            Input::Messages(m) => write!(
                f,
                "{} message item(s) with {} part(s)",
                m.len(),
                m.iter().map(|i| i.content.len()).sum::<usize>()
            ),
        }
    }
}

pub(crate) fn non_empty(field: &'static str, s: &str) -> Result<(), RequestError> {
    if s.trim().is_empty() {
        Err(RequestError::Empty { field })
    } else {
        Ok(())
    }
}

pub(crate) fn validate_aspect_ratio(r: &str) -> Result<(), RequestError> {
    let ok = r.split_once(':').is_some_and(|(w, h)| {
        let num = |s: &str| {
            !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_digit())
                && !s.trim_start_matches('0').is_empty()
        };
        num(w) && num(h)
    });
    if ok {
        Ok(())
    } else {
        Err(RequestError::InvalidValue {
            field: "aspectRatio",
            reason: "must look like `16:9` (two positive whole numbers)",
        })
    }
}

/// Accepts `https://…` URLs with a host and `data:` URIs with a `,`.
pub(crate) fn validate_media_url(field: &'static str, s: &str) -> Result<(), RequestError> {
    const REASON: &str = "must be an https:// URL or a data: URI";
    if let Some(rest) = s.strip_prefix("data:") {
        return if rest.contains(',') {
            Ok(())
        } else {
            Err(RequestError::InvalidUrl {
                field,
                reason: "is a data: URI without a `,` before its payload",
            })
        };
    }
    // Only the shape is checked (the server fetches the URL and judges the rest): an `https`
    // scheme, a well-formed host (which may be internationalised) and port.
    use crate::uri_parts::{SplitError, parse_host, parse_port, split};
    let well_formed = split(s).ok().is_some_and(|u| {
        u.scheme == "https"
            && u.authority.as_ref().is_some_and(|a| {
                matches!(
                    parse_host(a.raw_host),
                    Ok(_) | Err(SplitError::NonAsciiHost { .. })
                ) && parse_port(&u.scheme, a.port).is_ok()
            })
    });
    if well_formed {
        Ok(())
    } else {
        Err(RequestError::InvalidUrl {
            field,
            reason: REASON,
        })
    }
}

/// The rendering engine.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Engine {
    /// `hyperframes`: MP4 motion graphics (the server's default).
    Hyperframes,
    /// `lottie`: vector animation.
    Lottie,
    /// `auto`: let the server choose.
    Auto,
    /// An engine this SDK does not know yet, sent verbatim.
    Other(String),
}

impl Engine {
    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Hyperframes => "hyperframes",
            Self::Lottie => "lottie",
            Self::Auto => "auto",
            Self::Other(s) => s,
        }
    }

    /// Reads a wire string (never fails).
    pub fn from_wire(s: &str) -> Self {
        match s {
            "hyperframes" => Self::Hyperframes,
            "lottie" => Self::Lottie,
            "auto" => Self::Auto,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl Serialize for Engine {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Engine {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(Self::from_wire(&s))
    }
}

/// `provider` on the responses API: `{ "order": ["framerate"] }`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProviderPreferences {
    /// Provider slugs in preference order. If none supports the model the server answers 400.
    #[serde(default, deserialize_with = "null_default")]
    pub order: Vec<String>,
    /// Fields this SDK does not model, passed through.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ProviderPreferences {
    /// Preferences with an `order`.
    pub fn new<I, S>(order: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            order: order.into_iter().map(Into::into).collect(),
            extra: Map::new(),
        }
    }
}

/// `input`: a prompt string or a list of message items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Input {
    /// A plain prompt.
    Text(String),
    /// Message items with text, image and video parts.
    Messages(Vec<Message>),
}

impl Input {
    fn validate(&self) -> Result<(), RequestError> {
        match self {
            Self::Text(t) => non_empty("input", t),
            Self::Messages(items) => {
                if items.is_empty() {
                    return Err(RequestError::Empty { field: "input" });
                }
                let mut has_text = false;
                for item in items {
                    if item.content.is_empty() {
                        return Err(RequestError::Empty {
                            field: "input[].content",
                        });
                    }
                    for part in &item.content {
                        match part {
                            ContentPart::InputText { text } => has_text |= !text.trim().is_empty(),
                            ContentPart::InputImage { image_url } => {
                                validate_media_url("input_image.image_url.url", &image_url.url)?
                            }
                            ContentPart::InputVideo { video_url } => {
                                validate_media_url("input_video.video_url.url", &video_url.url)?
                            }
                        }
                    }
                }
                if has_text {
                    Ok(())
                } else {
                    Err(RequestError::NoInputText)
                }
            }
        }
    }
}

impl From<&str> for Input {
    fn from(s: &str) -> Self {
        Self::Text(s.to_owned())
    }
}

impl From<String> for Input {
    fn from(s: String) -> Self {
        Self::Text(s)
    }
}

impl From<Vec<Message>> for Input {
    fn from(m: Vec<Message>) -> Self {
        Self::Messages(m)
    }
}

/// One message item of a multimodal `input`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Message {
    /// Who speaks.
    pub role: Role,
    /// The parts, in order.
    pub content: Vec<ContentPart>,
}

impl Message {
    /// A message with a role and parts.
    pub fn new(role: Role, content: impl IntoIterator<Item = ContentPart>) -> Self {
        Self {
            role,
            content: content.into_iter().collect(),
        }
    }

    /// A `user` message.
    pub fn user(content: impl IntoIterator<Item = ContentPart>) -> Self {
        Self::new(Role::User, content)
    }
}

/// The role of a message item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Role {
    /// `system`.
    System,
    /// `user`.
    User,
    /// `assistant`.
    Assistant,
    /// `developer`.
    Developer,
}

/// One part of a message item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ContentPart {
    /// `{ "type": "input_text", "text": … }`.
    InputText {
        /// The text.
        text: String,
    },
    /// `{ "type": "input_image", "image_url": { "url", "detail" } }`.
    InputImage {
        /// The image reference.
        image_url: ImageUrl,
    },
    /// `{ "type": "input_video", "video_url": { "url" } }`.
    InputVideo {
        /// The video reference.
        video_url: VideoUrl,
    },
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        Self::InputText { text: text.into() }
    }

    /// An image part (https URL or data URI), detail left to the server.
    pub fn image(url: impl Into<String>) -> Self {
        Self::InputImage {
            image_url: ImageUrl {
                url: url.into(),
                detail: None,
            },
        }
    }

    /// An image part with a detail level.
    pub fn image_with_detail(url: impl Into<String>, detail: ImageDetail) -> Self {
        Self::InputImage {
            image_url: ImageUrl {
                url: url.into(),
                detail: Some(detail),
            },
        }
    }

    /// A video part (https URL or data URI).
    pub fn video(url: impl Into<String>) -> Self {
        Self::InputVideo {
            video_url: VideoUrl { url: url.into() },
        }
    }
}

/// The `image_url` object of an `input_image` part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ImageUrl {
    /// An `https://` URL or a `data:` URI.
    pub url: String,
    /// How closely the model looks at the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<ImageDetail>,
}

/// The `video_url` object of an `input_video` part.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct VideoUrl {
    /// An `https://` URL or a `data:` URI.
    pub url: String,
}

/// The `detail` of an image part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ImageDetail {
    /// `auto`.
    Auto,
    /// `low`.
    Low,
    /// `high`.
    High,
    /// `original`.
    Original,
}

/// The body of `POST /v1/responses` and `GET /v1/responses/{id}`: a generation on the
/// responses API. Usually read through [`Generation`](super::Generation).
///
/// Every field but `id` and `status` is optional, unknown fields are kept in `extra`, and
/// nulls read as absent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ResponseObject {
    /// The generation id (`gen_…`).
    pub id: String,
    /// `"response"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// The lifecycle status (re-encoded in this flavour's wire words).
    #[serde(serialize_with = "super::wire_status::responses")]
    pub status: Status,
    /// The orchestration model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The engine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// The chosen provider's slug.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<Value>,
    /// Creation time (seconds on the wire; see [`Timestamp`] for the unit rule).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// Completion time, if sent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    /// Output items (the first is an assistant `message`; the rest is undocumented).
    pub output: Vec<OutputItem>,
    /// Token counts and cost, once known (an unreadable `usage` reads as absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<ResponseUsage>,
    /// The failure detail object (shape undocumented).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Fields this SDK does not model (including `video_url`/`errorMessage` spellings).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One item of `output`. Only `type`, `id` and `role` are documented; everything else is kept
/// in `extra` and searched for the video URL.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct OutputItem {
    /// The item type, e.g. `message`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The item id (`<generation id>_msg`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The role (`assistant`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `usage` of a completed response: token counts and cost. Key names beyond the documented
/// `cost_usd` are guesses kept tolerant; every other key is kept in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[non_exhaustive]
pub struct ResponseUsage {
    /// Prompt / input tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Completion / output tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Total tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_tokens: Option<u64>,
    /// Cost in US dollars.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cost_usd: Option<f64>,
    /// Everything else.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for ResponseObject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        object::deserialize(d)
    }
}

impl ResponseObject {
    /// A body with only its id and status (the reader fills the rest; a webhook event gives
    /// no more).
    pub(crate) fn bare(id: String, status: Status) -> Self {
        Self {
            id,
            object: None,
            status,
            model: None,
            engine: None,
            provider: None,
            created_at: None,
            completed_at: None,
            output: Vec::new(),
            usage: None,
            error: None,
            extra: Map::new(),
        }
    }
}

impl ReadObject for ResponseObject {
    const EXPECTING: &'static str = "a response object";

    fn read<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let (mut id, mut status) = (None, None);
        let mut body = Self::bare(String::new(), Status::Queued);
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match key.as_str() {
                "id" => id = Some(map.next_value()?),
                "object" => body.object = map.next_value()?,
                "status" => status = Some(map.next_value()?),
                "model" => body.model = map.next_value()?,
                "engine" => body.engine = map.next_value()?,
                "provider" => body.provider = map.next_value()?,
                "created_at" => body.created_at = map.next_value::<LenientTime>()?.0,
                "completed_at" => body.completed_at = map.next_value::<LenientTime>()?.0,
                "output" => body.output = map.next_value::<NullDefault<_>>()?.0,
                "usage" => body.usage = map.next_value::<Lenient<_>>()?.0,
                "error" => body.error = map.next_value()?,
                _ => key.keep(&mut map, &mut body.extra)?,
            }
        }
        body.id = object::required(id, "id")?;
        body.status = object::required(status, "status")?;
        Ok(body)
    }
}

impl<'de> Deserialize<'de> for OutputItem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        object::deserialize(d)
    }
}

impl ReadObject for OutputItem {
    const EXPECTING: &'static str = "an output item";

    fn read<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut item = Self {
            kind: None,
            id: None,
            role: None,
            extra: Map::new(),
        };
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match key.as_str() {
                "type" => item.kind = map.next_value()?,
                "id" => item.id = map.next_value()?,
                "role" => item.role = map.next_value()?,
                _ => key.keep(&mut map, &mut item.extra)?,
            }
        }
        Ok(item)
    }
}

impl<'de> Deserialize<'de> for ResponseUsage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        object::deserialize(d)
    }
}

impl ReadObject for ResponseUsage {
    const EXPECTING: &'static str = "a usage object";

    /// `prompt_tokens` and `completion_tokens` are read as aliases: the documented-style
    /// name wins when a body carries both, in either order.
    fn read<'de, A: MapAccess<'de>>(mut map: A) -> Result<Self, A::Error> {
        let mut usage = Self::default();
        let (mut prompt, mut completion) = (None, None);
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match key.as_str() {
                "input_tokens" => usage.input_tokens = map.next_value::<Lenient<_>>()?.0,
                "prompt_tokens" => prompt = map.next_value::<Lenient<_>>()?.0,
                "output_tokens" => usage.output_tokens = map.next_value::<Lenient<_>>()?.0,
                "completion_tokens" => completion = map.next_value::<Lenient<_>>()?.0,
                "total_tokens" => usage.total_tokens = map.next_value::<Lenient<_>>()?.0,
                "cost_usd" => usage.cost_usd = map.next_value::<Lenient<_>>()?.0,
                _ => key.keep(&mut map, &mut usage.extra)?,
            }
        }
        usage.input_tokens = usage.input_tokens.or(prompt);
        usage.output_tokens = usage.output_tokens.or(completion);
        Ok(usage)
    }
}
