//! The typed, verified webhook event.

use std::{
    fmt,
    time::{Duration, SystemTime},
};

use serde::Deserialize;

use super::VerifyError;
use crate::{Flavor, GenerationId, GenerationRef, Status};

/// What a delivery announces (`eventType` on the wire).
///
/// Pipevideo documents one event, `video.generation.completed`, sent on success and on failure
/// alike (look at [`WebhookEvent::status`]). Any other string is kept as
/// [`EventType::Unknown`] rather than refused, so a new event type never breaks a receiver.
///
/// ```
/// use pipevideo_core::webhook::EventType;
/// assert_eq!(EventType::from_wire("video.generation.completed"), EventType::GenerationCompleted);
/// assert_eq!(EventType::from_wire("video.new").as_str(), "video.new");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventType {
    /// `video.generation.completed`: a generation reached `completed` or `failed`.
    GenerationCompleted,
    /// An event type this SDK does not know, kept verbatim.
    Unknown(String),
}

impl EventType {
    /// Maps the wire string. Never fails.
    pub fn from_wire(s: &str) -> Self {
        match s {
            "video.generation.completed" => Self::GenerationCompleted,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// The wire string.
    pub fn as_str(&self) -> &str {
        match self {
            Self::GenerationCompleted => "video.generation.completed",
            Self::Unknown(s) => s,
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A webhook delivery whose signature and timestamp have been checked.
///
/// Only [`Verifier`](super::Verifier) makes one (there is no public constructor and no
/// `Deserialize`), so holding a `WebhookEvent` proves that the delivery was authentic and fresh:
/// code that acts on events can take one without re-checking.
///
/// The webhook does not say which API flavour the generation was created on; the receiver
/// knows, and [`WebhookEvent::generation_ref`] builds the resumable reference from it.
///
/// `Debug` leaves the query string out of the output URL (signed video URLs are bearer
/// capabilities); [`WebhookEvent::output_url`] gives the whole URL. It serializes (for logs
/// and the CLI) as JSON with the wire's camelCase names plus `deliveryId` and `timestamp`
/// (Unix seconds).
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookEvent {
    event_type: EventType,
    generation_id: GenerationId,
    status: Status,
    output_url: Option<String>,
    error_message: Option<String>,
    delivery_id: Box<str>,
    timestamp: SystemTime,
}

/// The documented payload, tolerant of unknown fields and of both names of the video URL.
#[derive(Deserialize)]
struct Wire {
    #[serde(rename = "eventType")]
    event_type: String,
    #[serde(rename = "generationId")]
    generation_id: GenerationId,
    status: Status,
    #[serde(rename = "outputUrl", default)]
    output_url_camel: Option<String>,
    #[serde(rename = "output_url", default)]
    output_url_snake: Option<String>,
    #[serde(rename = "video_url", default)]
    video_url: Option<String>,
    #[serde(rename = "errorMessage", default)]
    error_message_camel: Option<String>,
    #[serde(rename = "error_message", default)]
    error_message_snake: Option<String>,
}

impl WebhookEvent {
    /// Decodes a verified body. Called only after the signature check.
    pub(super) fn from_verified_body(
        body: &[u8],
        delivery_id: &str,
        timestamp: SystemTime,
    ) -> Result<Self, VerifyError> {
        let de = &mut serde_json::Deserializer::from_slice(body);
        let wire: Wire = serde_path_to_error::deserialize(de).map_err(|e| VerifyError::Body {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
        Ok(Self {
            event_type: EventType::from_wire(&wire.event_type),
            generation_id: wire.generation_id,
            status: wire.status,
            output_url: wire
                .output_url_camel
                .or(wire.output_url_snake)
                .or(wire.video_url),
            error_message: wire.error_message_camel.or(wire.error_message_snake),
            delivery_id: delivery_id.into(),
            timestamp,
        })
    }

    /// What the delivery announces (`eventType`).
    pub fn event_type(&self) -> &EventType {
        &self.event_type
    }

    /// The generation the event is about (`generationId`).
    pub fn generation_id(&self) -> &GenerationId {
        &self.generation_id
    }

    /// The generation's resumable reference, given the API flavour it was created on (the
    /// webhook itself does not say).
    ///
    /// ```
    /// # use pipevideo_core::{Flavor, webhook::WebhookEvent};
    /// # fn f(event: &WebhookEvent) {
    /// let r = event.generation_ref(Flavor::Responses);
    /// assert_eq!(r.id(), event.generation_id());
    /// # }
    /// ```
    pub fn generation_ref(&self, flavor: Flavor) -> GenerationRef {
        GenerationRef::new(flavor, self.generation_id.clone())
    }

    /// The generation's status: [`Status::Completed`] or [`Status::Failed`] as documented;
    /// any other string is kept as [`Status::Unknown`].
    pub fn status(&self) -> &Status {
        &self.status
    }

    /// The signed, time-limited video URL, read from `outputUrl`, else `output_url`, else
    /// `video_url` (the docs name both `outputUrl` and `video_url`). `None` when absent or null.
    pub fn output_url(&self) -> Option<&str> {
        self.output_url.as_deref()
    }

    /// Why the generation failed (`errorMessage`, or `error_message`), when it did.
    pub fn error_message(&self) -> Option<&str> {
        self.error_message.as_deref()
    }

    /// The delivery id (`svix-id` / `webhook-id`): the same on every retry of one delivery, so
    /// it is the key to deduplicate on (see [`DeliveryDeduper`](super::DeliveryDeduper)).
    pub fn delivery_id(&self) -> &str {
        &self.delivery_id
    }

    /// The signed delivery timestamp (`svix-timestamp`, whole seconds). Svix signs each attempt
    /// anew, so retries of one delivery carry different timestamps.
    pub fn timestamp(&self) -> SystemTime {
        self.timestamp
    }
}

/// The URL up to (not including) its query string or fragment.
fn without_query(url: &str) -> &str {
    url.find(['?', '#']).map_or(url, |i| &url[..i])
}

impl fmt::Debug for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = self.output_url.as_deref().map(|u| {
            if without_query(u).len() < u.len() {
                format!("{}?…", without_query(u))
            } else {
                u.to_owned()
            }
        });
        f.debug_struct("WebhookEvent")
            .field("event_type", &self.event_type)
            .field("generation_id", &self.generation_id)
            .field("status", &self.status)
            .field("output_url", &url)
            .field("error_message", &self.error_message)
            .field("delivery_id", &self.delivery_id)
            .field("timestamp", &self.timestamp)
            .finish()
    }
}

impl serde::Serialize for WebhookEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Out<'a> {
            delivery_id: &'a str,
            timestamp: u64,
            event_type: &'a str,
            generation_id: &'a GenerationId,
            status: &'a Status,
            output_url: Option<&'a str>,
            error_message: Option<&'a str>,
        }
        Out {
            delivery_id: &self.delivery_id,
            timestamp: self
                .timestamp
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or(Duration::ZERO)
                .as_secs(),
            event_type: self.event_type.as_str(),
            generation_id: &self.generation_id,
            status: &self.status,
            output_url: self.output_url.as_deref(),
            error_message: self.error_message.as_deref(),
        }
        .serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(body: &str) -> Result<WebhookEvent, VerifyError> {
        WebhookEvent::from_verified_body(body.as_bytes(), "msg_1", SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn reads_the_documented_payload_and_ignores_unknown_fields() {
        let e = decode(
            r#"{"eventType":"video.generation.completed","generationId":"gen_abc",
                "status":"completed","outputUrl":"https://cdn.example/v.mp4?sig=s3cr3t",
                "errorMessage":null,"extra":{"nested":[1,2]}}"#,
        )
        .unwrap();
        assert_eq!(e.event_type(), &EventType::GenerationCompleted);
        assert_eq!(e.generation_id().as_str(), "gen_abc");
        assert_eq!(e.status(), &Status::Completed);
        assert_eq!(e.output_url(), Some("https://cdn.example/v.mp4?sig=s3cr3t"));
        assert_eq!(e.error_message(), None);
        assert_eq!(e.delivery_id(), "msg_1");
        let debug = format!("{e:?}");
        assert!(debug.contains("https://cdn.example/v.mp4?…"), "{debug}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
    }

    #[test]
    fn reads_the_other_url_and_message_names() {
        let e = decode(
            r#"{"eventType":"video.generation.completed","generationId":"gen_abc",
                "status":"failed","video_url":"https://v","error_message":"provider timeout"}"#,
        )
        .unwrap();
        assert_eq!(e.output_url(), Some("https://v"));
        assert_eq!(e.error_message(), Some("provider timeout"));
        assert_eq!(e.status(), &Status::Failed);
        let e = decode(
            r#"{"eventType":"x","generationId":"gen_abc","status":"odd","output_url":"https://o"}"#,
        )
        .unwrap();
        assert_eq!(e.output_url(), Some("https://o"));
        assert_eq!(e.event_type(), &EventType::Unknown("x".into()));
        assert_eq!(e.status(), &Status::Unknown("odd".into()));
    }

    #[test]
    fn body_errors_name_the_path() {
        let err = decode(r#"{"eventType":"x","generationId":7,"status":"completed"}"#).unwrap_err();
        assert!(
            matches!(&err, VerifyError::Body { path, .. } if path == "generationId"),
            "{err:?}"
        );
        let err = decode(r#"{"eventType":"x","generationId":"gen/../x","status":"completed"}"#)
            .unwrap_err();
        assert!(
            matches!(&err, VerifyError::Body { path, .. } if path == "generationId"),
            "{err:?}"
        );
        let err = decode(r#"{"eventType":"x","status":"completed"}"#).unwrap_err();
        assert!(
            matches!(&err, VerifyError::Body { message, .. } if message.contains("generationId")),
            "{err:?}"
        );
        assert!(matches!(decode("not json"), Err(VerifyError::Body { .. })));
    }

    #[test]
    fn serializes_with_wire_names() {
        let e = decode(r#"{"eventType":"video.generation.completed","generationId":"gen_a","status":"completed"}"#)
            .unwrap();
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "deliveryId": "msg_1", "timestamp": 0,
                "eventType": "video.generation.completed", "generationId": "gen_a",
                "status": "completed", "outputUrl": null, "errorMessage": null
            })
        );
    }
}
