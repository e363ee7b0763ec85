//! One view of a generation of either API flavour, and typed generation failures.

use std::fmt;

use serde_json::{Map, Value};

use super::{LegacyGeneration, ResponseObject, Timestamp};
use crate::webhook::WebhookEvent;
use crate::{Flavor, GenerationId, GenerationRef, IdError, Status};

/// Keys under which a video URL has been seen: `video_url` (responses API, data-handling
/// page), `output_url` (legacy API) and `outputUrl` (webhooks).
const URL_KEYS: [&str; 3] = ["video_url", "output_url", "outputUrl"];
/// Keys under which a failure message has been seen.
const MESSAGE_KEYS: [&str; 2] = ["errorMessage", "error_message"];
/// How deep [`Generation::video_url`] looks into output items.
const MAX_DEPTH: usize = 8;

/// A polled (or just created) generation of either API flavour, in one view.
///
/// The accessors answer the questions a caller has — where is it ([`Generation::status`]),
/// where is the video ([`Generation::video_url`]), why did it fail
/// ([`Generation::failure`]) — whatever the flavour and whichever field spelling the server
/// used. The full flavour-specific body stays available through [`Generation::body`].
///
/// ```
/// use pipevideo_core::{codec, Flavor, Status, model::FailureCause};
///
/// let body = br#"{"id":"gen_abc123xyz","object":"response","status":"completed",
///   "output":[{"type":"message","id":"gen_abc123xyz_msg","role":"assistant",
///              "content":[{"type":"output_video","video_url":"https://cdn.example/v.mp4"}]}]}"#;
/// let g = codec::decode_generation(Flavor::Responses, &http::Response::new(body.to_vec())).unwrap();
/// assert_eq!(g.status(), &Status::Completed);
/// assert_eq!(g.video_url(), Some("https://cdn.example/v.mp4"));
/// assert_eq!(g.reference().to_string(), "responses:gen_abc123xyz");
///
/// let body = br#"{"id":"gen_1","status":"failed","error_message":"Insufficient credits"}"#;
/// let g = codec::decode_generation(Flavor::Legacy, &http::Response::new(body.to_vec())).unwrap();
/// assert_eq!(g.failure().unwrap().cause, FailureCause::InsufficientCredits);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    reference: GenerationRef,
    video_url: Option<String>,
    failure: Option<GenerationFailure>,
    body: GenerationBody,
    from_webhook: bool,
}

/// The flavour-specific body behind a [`Generation`].
///
/// Closed, one variant per [`Flavor`](crate::Flavor): match it exhaustively.
#[derive(Debug, Clone, PartialEq)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed: one variant per Flavor, which is closed"
)]
pub enum GenerationBody {
    /// A responses-API body.
    Responses(ResponseObject),
    /// A legacy-API body.
    Legacy(LegacyGeneration),
}

impl Generation {
    /// Replaces the client's key in the server text this generation keeps (its failure
    /// message); `pv_…` tokens were scrubbed when it was decoded.
    ///
    /// The body's free-form parts (the `error` object, unknown fields, the provider, output
    /// items' extra fields, a legacy `error_message`) are scrubbed too: this generation may be
    /// kept in an error (a failed wait), whose `Debug` prints it.
    pub(crate) fn redact_secret(&mut self, secret: &str) {
        use crate::redact::{scrub_in_place, scrub_value};
        let secret = Some(secret);
        if let Some(failure) = &mut self.failure {
            scrub_in_place(&mut failure.message, secret);
        }
        let scrub_map = |map: &mut serde_json::Map<String, Value>| {
            for value in map.values_mut() {
                scrub_value(value, secret);
            }
        };
        match &mut self.body {
            GenerationBody::Responses(body) => {
                if let Some(error) = &mut body.error {
                    scrub_value(error, secret);
                }
                if let Some(provider) = &mut body.provider {
                    scrub_value(provider, secret);
                }
                scrub_map(&mut body.extra);
                for item in &mut body.output {
                    scrub_map(&mut item.extra);
                }
            }
            GenerationBody::Legacy(body) => {
                if let Some(message) = &mut body.error_message {
                    scrub_in_place(message, secret);
                }
                scrub_map(&mut body.extra);
            }
        }
    }

    /// Wraps a responses-API body. Fails only if its `id` is not a usable generation id.
    pub fn from_responses(body: ResponseObject) -> Result<Self, IdError> {
        let id = GenerationId::new(body.id.clone())?;
        Ok(Self::wrap_responses(
            GenerationRef::new(Flavor::Responses, id),
            body,
        ))
    }

    /// Wraps a legacy-API body. Fails only if its `id` is not a usable generation id.
    pub fn from_legacy(body: LegacyGeneration) -> Result<Self, IdError> {
        let id = GenerationId::new(body.id.clone())?;
        Ok(Self::wrap_legacy(
            GenerationRef::new(Flavor::Legacy, id),
            body,
        ))
    }

    /// Where a responses body keeps its video URL and failure: the one reading of it.
    fn wrap_responses(reference: GenerationRef, body: ResponseObject) -> Self {
        let video_url = find_in_map(&body.extra, 0)
            .or_else(|| {
                body.output
                    .iter()
                    .find_map(|item| find_in_map(&item.extra, 0))
            })
            .map(str::to_owned);
        let failure = (body.status == Status::Failed)
            .then(|| failure_from(body.error.as_ref(), &body.extra, None));
        Self {
            reference,
            video_url,
            failure,
            body: GenerationBody::Responses(body),
            from_webhook: false,
        }
    }

    /// Where a legacy body keeps its video URL and failure: the one reading of it.
    fn wrap_legacy(reference: GenerationRef, body: LegacyGeneration) -> Self {
        let video_url = body
            .output_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .or_else(|| find_in_map(&body.extra, 0))
            .map(str::to_owned);
        let failure = (body.status == Status::Failed).then(|| {
            failure_from(
                body.extra.get("error"),
                &body.extra,
                body.error_message.as_deref(),
            )
        });
        Self {
            reference,
            video_url,
            failure,
            body: GenerationBody::Legacy(body),
            from_webhook: false,
        }
    }

    /// The generation a verified webhook event describes, built from the event alone: its
    /// status, its video URL and, for a failure, its error message (classified as a fetched
    /// failure is). The body holds only those (in the flavour's own spelling: `video_url` or
    /// `error` for the responses API, `output_url` or `error_message` for the legacy one); the
    /// model, engine, timestamps, output items and `usage` are absent, and
    /// [`Generation::is_from_webhook`] says so. A wait returns this instead of fetching when
    /// its policy says [`TerminalWebhook::UseEvent`](crate::policy::TerminalWebhook::UseEvent);
    /// [`Client::retrieve`](crate::client::Client::retrieve) gives the whole generation later.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use pipevideo_core::{Flavor, Status, model::Generation};
    /// use pipevideo_core::webhook::{Verifier, WebhookSecret, sign};
    ///
    /// let secret = WebhookSecret::new("whsec_c2VjcmV0")?;
    /// let body = br#"{"eventType":"video.generation.completed","generationId":"gen_1","status":"completed","outputUrl":"https://cdn.example/v.mp4"}"#;
    /// let sent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_827_200);
    /// let signed = sign(&secret, "msg_1", sent, body);
    /// let event = Verifier::new(secret).verify_headers(signed.as_headers(), body, sent)?;
    ///
    /// let g = Generation::from_webhook_event(&event.generation_ref(Flavor::Responses), &event);
    /// assert_eq!(g.status(), &Status::Completed);
    /// assert_eq!(g.video_url(), Some("https://cdn.example/v.mp4"));
    /// assert!(g.is_from_webhook());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_webhook_event(reference: &GenerationRef, event: &WebhookEvent) -> Self {
        let id = reference.id().as_str().to_owned();
        let url = event.output_url().map(str::to_owned);
        let message = event.error_message().map(str::to_owned);
        // The event's fields in the flavour's own spelling, read as a fetched body is.
        let mut generation = match reference.flavor() {
            Flavor::Responses => {
                let mut body = ResponseObject::bare(id, event.status().clone());
                if let Some(url) = url {
                    body.extra.insert("video_url".into(), Value::String(url));
                }
                body.error = message.map(|m| {
                    let mut o = Map::new();
                    o.insert("message".into(), Value::String(m));
                    Value::Object(o)
                });
                Self::wrap_responses(reference.clone(), body)
            }
            Flavor::Legacy => {
                let mut body = LegacyGeneration::bare(id, event.status().clone());
                body.output_url = url;
                body.error_message = message;
                Self::wrap_legacy(reference.clone(), body)
            }
        };
        generation.from_webhook = true;
        generation
    }

    /// Whether this generation was built from a webhook event rather than fetched
    /// ([`Generation::from_webhook_event`]): then only its status, video URL and failure are
    /// known; the body lacks the model, engine, timestamps and `usage`.
    pub fn is_from_webhook(&self) -> bool {
        self.from_webhook
    }

    /// The flavour and id, printable and parseable to resume a wait later.
    pub fn reference(&self) -> &GenerationRef {
        &self.reference
    }

    /// The generation id.
    pub fn id(&self) -> &GenerationId {
        self.reference.id()
    }

    /// The lifecycle status.
    pub fn status(&self) -> &Status {
        match &self.body {
            GenerationBody::Responses(b) => &b.status,
            GenerationBody::Legacy(b) => &b.status,
        }
    }

    /// The video URL (signed and time-limited), from whichever spelling the server used:
    /// `output_url` (legacy), `video_url`, `outputUrl`, at the top level or nested in output
    /// items (as a string or as `{ "url": … }`). The first found, top level first.
    pub fn video_url(&self) -> Option<&str> {
        self.video_url.as_deref()
    }

    /// Why the generation failed; `Some` only when [`Generation::status`] is `Failed`.
    pub fn failure(&self) -> Option<&GenerationFailure> {
        self.failure.as_ref()
    }

    /// When the generation was created, if the body says.
    pub fn created_at(&self) -> Option<Timestamp> {
        match &self.body {
            GenerationBody::Responses(b) => b.created_at,
            GenerationBody::Legacy(b) => b.created_at,
        }
    }

    /// When the generation completed (or failed), if the body says (the legacy API sends it;
    /// the responses API may).
    pub fn completed_at(&self) -> Option<Timestamp> {
        match &self.body {
            GenerationBody::Responses(b) => b.completed_at,
            GenerationBody::Legacy(b) => b.completed_at,
        }
    }

    /// The full flavour-specific body.
    pub fn body(&self) -> &GenerationBody {
        &self.body
    }

    /// Takes the full flavour-specific body.
    pub fn into_body(self) -> GenerationBody {
        self.body
    }
}

fn url_value(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s),
        Value::Object(o) => o
            .get("url")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty()),
        _ => None,
    }
}

fn find_in_map(map: &Map<String, Value>, depth: usize) -> Option<&str> {
    if let Some(u) = URL_KEYS
        .iter()
        .find_map(|k| map.get(*k).and_then(url_value))
    {
        return Some(u);
    }
    if depth >= MAX_DEPTH {
        return None;
    }
    map.values().find_map(|v| find_in_value(v, depth + 1))
}

fn find_in_value(v: &Value, depth: usize) -> Option<&str> {
    match v {
        Value::Object(o) => find_in_map(o, depth),
        Value::Array(items) if depth < MAX_DEPTH => {
            items.iter().find_map(|i| find_in_value(i, depth + 1))
        }
        _ => None,
    }
}

fn failure_from(
    error: Option<&Value>,
    extra: &Map<String, Value>,
    legacy_message: Option<&str>,
) -> GenerationFailure {
    let (mut code, mut message) = (None, None);
    match error {
        Some(Value::Object(o)) => {
            code = ["code", "type"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str))
                .map(str::to_owned);
            message = o.get("message").and_then(Value::as_str).map(str::to_owned);
        }
        Some(Value::String(s)) => message = Some(s.clone()),
        _ => {}
    }
    let message = message
        .filter(|m| !m.trim().is_empty())
        .or_else(|| {
            legacy_message
                .filter(|m| !m.trim().is_empty())
                .map(str::to_owned)
        })
        .or_else(|| {
            MESSAGE_KEYS
                .iter()
                .find_map(|k| extra.get(*k).and_then(Value::as_str))
                .filter(|m| !m.trim().is_empty())
                .map(str::to_owned)
        });
    let message = message.map(|m| crate::redact::scrub(&m, None).into_owned());
    let cause = FailureCause::classify(code.as_deref(), message.as_deref().unwrap_or(""));
    GenerationFailure {
        cause,
        message: message.unwrap_or_else(|| "the generation failed without an error message".into()),
        code,
    }
}

/// Why a generation failed: a typed cause and the server's message.
///
/// A failed generation is not an HTTP error: the create call succeeded and the failure shows
/// up when polling (or in the webhook).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct GenerationFailure {
    /// The cause, derived as [`FailureCause::classify`] documents.
    pub cause: FailureCause,
    /// The server's message (or a placeholder if it sent none).
    pub message: String,
    /// The `code` (or `type`) of the `error` object, if any.
    pub code: Option<String>,
}

impl GenerationFailure {
    /// A failure from a message alone (for example a webhook's `errorMessage`), its cause
    /// classified from the text.
    pub fn from_message(message: impl Into<String>) -> Self {
        let mut message = message.into();
        crate::redact::scrub_in_place(&mut message, None);
        Self {
            cause: FailureCause::classify(None, &message),
            message,
            code: None,
        }
    }
}

impl fmt::Display for GenerationFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "generation failed ({}): {}", self.cause, self.message)
    }
}

/// The documented causes of a generation failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureCause {
    /// The balance is zero, a charge failed or credits could not be reserved.
    InsufficientCredits,
    /// The orchestration provider or the render pipeline failed or timed out.
    ProviderFailure,
    /// The model is not supported on the selected provider.
    ModelNotSupported,
    /// The prompt is missing, empty or otherwise invalid.
    InvalidPrompt,
    /// Anything else, including a failure with no message.
    Other,
}

impl FailureCause {
    /// Derives a cause from the `error` object's `code` (if any) and the message text.
    ///
    /// The server documents causes but not their codes, so this is text matching. Both inputs
    /// are lower-cased and `_`/`-` read as spaces; the code is tried first, then the message;
    /// the first rule that matches wins, in this order:
    ///
    /// 1. **InsufficientCredits**: `insufficient credit`, `insufficient fund`, `insufficient
    ///    balance`, `credit balance`, `out of credit`, `not enough credit`, `no credits`,
    ///    `charge failed`, `payment`, or `credit` together with `reserv`, `charge` or
    ///    `exhausted`. (A bare `balance` is not enough: "load balancer" is not about money.)
    /// 2. **ModelNotSupported**: `not supported`, `unsupported`, `does not support`.
    /// 3. **InvalidPrompt**: `prompt` together with one of `invalid`, `empty`, `missing`,
    ///    `required`; or `input text`.
    /// 4. **ProviderFailure**: `provider`, `timeout`, `timed out`, `render`, `orchestrat`,
    ///    `upstream`.
    /// 5. **Other**: everything else (e.g. the webhooks page's bare "generation error").
    ///
    /// Order matters: "model not supported on the selected provider" mentions the provider
    /// but is a `ModelNotSupported`.
    ///
    /// ```
    /// use pipevideo_core::model::FailureCause;
    /// assert_eq!(FailureCause::classify(None, "Insufficient credits"), FailureCause::InsufficientCredits);
    /// assert_eq!(FailureCause::classify(Some("PROVIDER_TIMEOUT"), ""), FailureCause::ProviderFailure);
    /// assert_eq!(FailureCause::classify(None, "Model not supported on provider framerate"),
    ///            FailureCause::ModelNotSupported);
    /// assert_eq!(FailureCause::classify(None, "Prompt must not be empty"), FailureCause::InvalidPrompt);
    /// assert_eq!(FailureCause::classify(None, "Generation error"), FailureCause::Other);
    /// ```
    pub fn classify(code: Option<&str>, message: &str) -> Self {
        code.map(Self::classify_text)
            .filter(|c| *c != Self::Other)
            .unwrap_or_else(|| Self::classify_text(message))
    }

    fn classify_text(text: &str) -> Self {
        let t: String = text
            .chars()
            .map(|c| {
                if c == '_' || c == '-' {
                    ' '
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        let has = |s: &str| t.contains(s);
        if has("insufficient credit")
            || has("insufficient fund")
            || has("insufficient balance")
            || has("credit balance")
            || has("out of credit")
            || has("not enough credit")
            || has("no credits")
            || has("charge failed")
            || has("payment")
            || (has("credit") && (has("reserv") || has("charge") || has("exhausted")))
        {
            Self::InsufficientCredits
        } else if has("not supported") || has("unsupported") || has("does not support") {
            Self::ModelNotSupported
        } else if (has("prompt")
            && (has("invalid") || has("empty") || has("missing") || has("required")))
            || has("input text")
        {
            Self::InvalidPrompt
        } else if has("provider")
            || has("timeout")
            || has("timed out")
            || has("render")
            || has("orchestrat")
            || has("upstream")
        {
            Self::ProviderFailure
        } else {
            Self::Other
        }
    }

    /// A short snake_case name: `insufficient_credits`, `provider_failure`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InsufficientCredits => "insufficient_credits",
            Self::ProviderFailure => "provider_failure",
            Self::ModelNotSupported => "model_not_supported",
            Self::InvalidPrompt => "invalid_prompt",
            Self::Other => "other",
        }
    }
}

impl fmt::Display for FailureCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
