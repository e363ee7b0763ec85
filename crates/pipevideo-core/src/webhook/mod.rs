//! Webhook verification and deduplication, sans-IO.
//!
//! Pipevideo delivers `video.generation.completed` through Svix, on success and on failure.
//! A delivery is a `POST` with three headers, `svix-id`, `svix-timestamp` and
//! `svix-signature` (or the `webhook-` spellings of the Standard Webhooks spec), and a JSON
//! body. This module checks that a delivery is authentic and fresh and turns it into a typed
//! [`WebhookEvent`]; it does no I/O and reads no clock, so it fits any HTTP framework.
//!
//! - [`WebhookSecret`]: the endpoint secret (`whsec_…`), never printed.
//! - [`Verifier`]: signature (HMAC-SHA256, constant-time, every `v1` entry tried), timestamp
//!   (±5 minutes inclusive by default), then the body → [`WebhookEvent`] or [`VerifyError`].
//! - [`DeliveryDeduper`]: a bounded memory of delivery ids, because Svix retries with the same id.
//! - [`sign`]: signs a delivery as Svix does, to test your own receiver.
//!
//! # Receiving a delivery
//!
//! Whatever the framework, hand the verifier the headers and the **raw body bytes** (not a
//! parsed and re-serialized JSON value), and answer 2xx only once the event is safely handled:
//! Svix retries anything else.
//!
//! ```
//! use std::{sync::Mutex, time::SystemTime};
//! use http::{HeaderMap, StatusCode};
//! use pipevideo_core::{Flavor, Status, webhook::{DeliveryDeduper, Verifier, WebhookEvent}};
//!
//! struct Endpoint {
//!     verifier: Verifier,
//!     seen: Mutex<DeliveryDeduper>,
//! }
//!
//! impl Endpoint {
//!     /// Call from your route with the request's headers and body bytes.
//!     fn handle(&self, headers: &HeaderMap, body: &[u8]) -> StatusCode {
//!         let now = SystemTime::now(); // the core never reads the clock: you pass it in
//!         let event = match self.verifier.verify(headers, body, now) {
//!             Ok(event) => event,
//!             Err(reason) => {
//!                 eprintln!("webhook rejected: {reason}"); // never contains the secret
//!                 return StatusCode::BAD_REQUEST;
//!             }
//!         };
//!         if !self.seen.lock().unwrap().insert(event.delivery_id(), now) {
//!             return StatusCode::OK; // a retry of a delivery already handled
//!         }
//!         match process(&event) {
//!             Ok(()) => StatusCode::OK,
//!             Err(()) => {
//!                 // Forget it so that Svix's retry is handled, and ask for that retry.
//!                 self.seen.lock().unwrap().remove(event.delivery_id());
//!                 StatusCode::INTERNAL_SERVER_ERROR
//!             }
//!         }
//!     }
//! }
//!
//! fn process(event: &WebhookEvent) -> Result<(), ()> {
//!     // You know which API flavour you created the generation on.
//!     let generation = event.generation_ref(Flavor::Responses);
//!     match event.status() {
//!         Status::Completed => println!("{generation} done: {:?}", event.output_url()),
//!         Status::Failed => println!("{generation} failed: {:?}", event.error_message()),
//!         other => println!("{generation} reported {other}"),
//!     }
//!     Ok(())
//! }
//!
//! # let secret = pipevideo_core::webhook::WebhookSecret::new("whsec_c2VjcmV0")?;
//! let endpoint = Endpoint {
//!     verifier: Verifier::new(secret), // e.g. from an environment variable
//!     seen: Mutex::new(DeliveryDeduper::with_capacity(100_000)),
//! };
//! # let body = br#"{"eventType":"video.generation.completed","generationId":"gen_1","status":"completed","outputUrl":"https://v"}"#;
//! # let secret = pipevideo_core::webhook::WebhookSecret::new("whsec_c2VjcmV0")?;
//! # let headers = pipevideo_core::webhook::sign(&secret, "msg_1", SystemTime::now(), body).header_map()?;
//! assert_eq!(endpoint.handle(&headers, body), StatusCode::OK);
//! assert_eq!(endpoint.handle(&HeaderMap::new(), body), StatusCode::BAD_REQUEST);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod b64;
mod dedupe;
mod event;
mod secret;
mod verify;

pub use dedupe::DeliveryDeduper;
pub use event::{EventType, WebhookEvent};
pub use secret::{SecretError, WebhookSecret};
pub use verify::{SignedHeaders, Verifier, VerifyError, WebhookHeaders, sign};
