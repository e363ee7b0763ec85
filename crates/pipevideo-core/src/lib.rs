//! The sans-IO core of the Pipevideo SDK.
//!
//! Everything that decides lives here, written once; nothing here performs I/O, reads a clock
//! or touches a global random number generator. Time comes in as `now` arguments and jitter
//! from a caller-supplied RNG, so every decision can be replayed in virtual time.
//!
//! - [`model`]: typed requests and tolerant responses of both API generations, and the one
//!   [`Generation`](model::Generation) view with its typed failure.
//! - [`codec`]: requests to `http::Request<Vec<u8>>`, `http::Response` to `Result<T, Error>`.
//! - [`Error`]: the error model ([`ApiError`], [`DecodeError`], [`InputError`]).
//! - Checked newtypes: [`ApiKey`], [`GenerationId`], [`GenerationRef`], [`BaseUrl`],
//!   [`Attribution`], [`IdempotencyKey`].
//! - The decisions, as sans-IO state machines that take `now`: [`call`] (one request:
//!   pace, send, judge, retry), [`retry`] (the rules of one outcome), [`pacing`] (the key's
//!   limit and 429 holds), [`poll`] (when to poll one generation, which of many to poll next),
//!   [`download`] (the video request and its refresh), [`webhook`] (verification); every
//!   number they use is in [`policy`].
//! - [`client`]: the async drivers that run them over a [`transport`] (an
//!   [`HttpClient`](transport::HttpClient) and a [`Clock`](transport::Clock)).
//!
//! # One exchange, by hand
//!
//! The async client drives these pieces for you; done by hand, an exchange is three steps:
//! encode a typed request, let any HTTP stack carry it, decode what comes back.
//!
//! ```
//! use pipevideo_core::{
//!     ApiKey, BaseUrl, Error, ErrorCode, Flavor, IdempotencyKey, Status,
//!     codec::{self, RequestEncoder},
//!     model::{CreateResponse, Engine, FailureCause},
//! };
//! use rand::{SeedableRng, rngs::SmallRng};
//!
//! // 1. Encode. Bad input is refused here, before anything is sent.
//! let encoder = RequestEncoder::new(BaseUrl::default(), ApiKey::new("pv_a1b2c3d4e5f6")?)?;
//! let create = CreateResponse::new("moonshotai/kimi-k2.5", "A paper plane over Lisbon at dawn")
//!     .engine(Engine::Hyperframes)
//!     .aspect_ratio("16:9");
//! let idempotency = IdempotencyKey::generate(&mut SmallRng::seed_from_u64(1));
//! let request = encoder.create_response(&create, Some(&idempotency))?;
//! assert_eq!(request.uri(), "https://api.pipevideo.co/v1/responses");
//!
//! // 2. A transport sends `request` and hands back an `http::Response<Vec<u8>>`.
//! let response = http::Response::new(
//!     br#"{"id":"gen_abc123xyz","object":"response","status":"queued","created_at":1709827200}"#.to_vec(),
//! );
//!
//! // 3. Decode into one view of the generation, whichever API flavour it lives on.
//! let generation = codec::decode_generation(Flavor::Responses, &response)?;
//! assert_eq!(generation.status(), &Status::Queued);
//! let resume_later = generation.reference().to_string(); // "responses:gen_abc123xyz"
//!
//! // Polling uses the reference, so the right route is used even after a restart.
//! let poll = encoder.retrieve(&resume_later.parse()?)?;
//! assert_eq!(poll.uri().path(), "/v1/responses/gen_abc123xyz");
//!
//! // A failed generation is data, not an error…
//! let failed = http::Response::new(
//!     br#"{"id":"gen_abc123xyz","status":"failed","error":{"message":"Insufficient credits"}}"#.to_vec(),
//! );
//! let generation = codec::decode_generation(Flavor::Responses, &failed)?;
//! assert_eq!(generation.failure().map(|f| f.cause), Some(FailureCause::InsufficientCredits));
//!
//! // …while a non-2xx answer is an `Error::Api` that says whether retrying can help.
//! let mut limited = http::Response::new(
//!     br#"{"message":"Rate limit exceeded. Please try again later.","data":{"retry_after":42}}"#.to_vec(),
//! );
//! *limited.status_mut() = http::StatusCode::TOO_MANY_REQUESTS;
//! match codec::decode_generation(Flavor::Responses, &limited) {
//!     Err(Error::Api(e)) => {
//!         assert_eq!(e.code(), ErrorCode::TooManyRequests);
//!         assert!(e.retryable());
//!         assert_eq!(e.retry_after(), Some(std::time::Duration::from_secs(42)));
//!     }
//!     other => panic!("expected a rate-limit error, got {other:?}"),
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Features
//!
//! - `testing` (off by default): `transport::testing`, a transport built from a closure and a
//!   virtual clock, to drive the client in virtual time in your own tests. Enable it in
//!   `[dev-dependencies]`.
//!
//! # Public dependencies
//!
//! Types and traits of these crates appear in this crate's public API, so their major versions
//! are part of it:
//!
//! - `http` 1: `Request<Vec<u8>>` and `Response<Vec<u8>>` (the [`codec`] and the
//!   [`HttpClient`](transport::HttpClient) trait), `StatusCode`, `HeaderMap`, `HeaderName`,
//!   `HeaderValue` (errors, retry decisions, attribution and webhook headers).
//! - `serde` 1: the [`model`], the ids, [`Status`] and webhook events implement `Serialize`
//!   and/or `Deserialize`; [`codec::decode_json`] takes any `DeserializeOwned`.
//! - `serde_json` 1: `Value` and `Map<String, Value>` hold the response fields the model does
//!   not name (`extra`) and free-form catalogue fields.
//! - `rand_core` 0.9, re-exported as [`pipevideo_core::rand_core`](rand_core): what draws at
//!   random takes `&mut impl RngCore` (the retry engine, the poll schedule, the poller and
//!   fleet, [`IdempotencyKey::generate`], [`download::temp_file_name`]). It is the `rand_core`
//!   that `rand` 0.9 re-exports, so `rand`'s generators (`SmallRng`, `StdRng`, `rand::rng()`)
//!   fit as they are; the core itself does not depend on `rand`.
//! - `futures-core` 0.3: [`ProgressStream`](client::ProgressStream) is a `futures_core::Stream`.
//! - `async-trait` 0.1: [`HttpClient`](transport::HttpClient), [`Clock`](transport::Clock)
//!   and [`ChunkSink`](transport::ChunkSink) are `#[async_trait]` traits; implement them with
//!   that attribute.
//!
//! Every other dependency is private: `thiserror`, `tracing` (without `std`),
//! `futures-channel`, `getrandom` (idempotency keys, temporary names), `hmac-sha256` (webhook
//! signatures, the shared-pacing scope, the client's seeded RNG), `httpdate` (`Retry-After`),
//! `percent-encoding` (request paths), `serde_path_to_error` (where a body failed to decode)
//! and, with `fs`, `tempfile`. The facade's `tests/public_api.rs` checks this list against the
//! manifest and the public signatures.
//!
//! The whole tree stays at 30 crates or fewer (see ARCHITECTURE.md): base64, a two-way select,
//! the slot queue and the random draws are small private modules, each tested against the
//! crate it replaces.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod attribution;
mod base_url;
mod error;
mod id;
mod idempotency;
mod key;
mod random;
mod redact;
mod status;
mod uri_parts;

pub mod codec;
pub mod download;
pub mod model;

pub use attribution::{
    ATTRIBUTION_TEXT_MAX_CHARS, Attribution, AttributionError, REFERER_MAX_CHARS,
};
pub use base_url::{BaseUrl, BaseUrlError, DEFAULT_BASE_URL};
pub use error::{
    ApiError, CreateError, DecodeError, DownloadBound, DownloadError, ERROR_BODY_PARSE_LIMIT,
    Error, ErrorCode, ErrorKind, GaveUpError, InputError, RAW_BODY_LIMIT, RETRY_AFTER_HUGE_SECS,
    RequestError, WaitError, WaitErrorKind,
};
pub use id::{Flavor, GenerationId, GenerationRef, IdError, RefParseError};
pub use idempotency::{
    IDEMPOTENCY_KEY_MAX_LEN, IDEMPOTENCY_KEY_PREFIX, IdempotencyKey, IdempotencyKeyError,
};
pub use key::{ApiKey, ApiKeyError};
/// The RNG trait the core draws from (`RngCore`): the crate `rand` 0.9 re-exports as
/// `rand::rand_core`, so any of `rand`'s generators can be passed.
pub use rand_core;
pub use status::Status;

pub mod call;
pub mod client;
pub mod pacing;
pub mod policy;
pub mod poll;
pub mod retry;
pub mod transport;
pub mod webhook;
