//! The Rust SDK for the Pipevideo video-generation API.
//!
//! This is the crate to depend on: it re-exports, by name, what an application needs to
//! create, wait for and download videos, and one or more transports, chosen by features, with a
//! ready client for each.
//!
//! # What is here
//!
//! **At the root, the common case:**
//!
//! - The client: `Client` (over reqwest, for tokio; `surf::Client` for async-std and smol),
//!   its [`ClientBuilder`], the [`GenerationHandle`] a create returns, [`WaitOptions`],
//!   [`CancelToken`], the [`ProgressStream`] of a wait, and [`TimeScale`] (for a client that
//!   follows an emulator's faster clock).
//! - The request and response model: the [`model`] module, with [`CreateResponse`],
//!   [`CreateGeneration`] and [`Generation`] also at the root.
//! - Errors: [`Error`], what kind it is ([`ErrorKind`]), and the two a caller most often looks
//!   into, [`ApiError`] (a non-2xx answer; its [`ErrorCode`]) and [`InputError`] (refused
//!   before sending).
//! - Checked values: [`ApiKey`], [`BaseUrl`], [`Attribution`], [`GenerationId`],
//!   [`GenerationRef`] (the resumable reference every outcome carries), [`Flavor`],
//!   [`Status`], [`IdempotencyKey`].
//! - Webhooks: the [`webhook`] module verifies and parses deliveries.
//! - Transports: `ReqwestTransport` and `TokioSink` (feature `reqwest`), `SurfTransport` and
//!   `AsyncWriteSink` (features `surf`, `surf-curl`), and the [`http`] crate they speak.
//!
//! **Under [`core`](crate::core), the machinery:** the whole transport-independent core
//! ([`pipevideo_core`]): the state machines (retry, poll, pacing, codec, transport traits) for
//! those who drive them, the generic `Client<T>` and its error types, every checked value's own
//! error type, and the progress [`Event`](crate::core::poll::Event)s a [`ProgressStream`]
//! yields. A test suite of this crate lists the root's names, so it grows only on purpose.
//!
//! # Feature flags
//!
//! The defaults (`reqwest` and `rustls`) suit a tokio application.
//!
#![doc = document_features::document_features!()]
//!
//! An async-std or smol application turns the defaults off:
//!
//! ```toml
//! pipevideo = { version = "0.1", default-features = false, features = ["surf"] }
//! ```
//!
//! Every transport implements [`Transport`](crate::core::transport::Transport) and passes the
//! same conformance suite, so the SDK behaves the same, decision for decision, whichever one you
//! pick.
//!
//! # The common case: create, wait, download
//!
//! A client reads its key from `PIPEVIDEO_API_KEY` (and, if set, the base URL from
//! `PIPEVIDEO_API_URL`, e.g. a local emulator).
//! [`Client::create`](crate::core::client::Client::create) returns as soon as the generation
//! exists, with its resumable reference; waiting and downloading are separate steps, so a crash
//! in between loses nothing.
#![cfg_attr(
    feature = "reqwest",
    doc = r#"
```no_run
# async fn demo() -> Result<(), Box<dyn std::error::Error>> {
use pipevideo::{Client, ReqwestTransport, SaveOptions, model::CreateResponse};

let client = Client::builder(ReqwestTransport::new()?).from_env()?.build()?;
let handle = client
    .create(&CreateResponse::new("moonshotai/kimi-k2.5", "A cat on a beach"))
    .await?;
println!("created {}", handle.reference()); // store it: `client.wait(&reference)` resumes
let video = handle.wait().await?;

// Safe (temporary file beside it, never through a symlink, atomic rename), bounded (timeouts,
// size cap) and resumed with `Range` if the connection is cut. An existing file is kept
// unless `SaveOptions::new().overwrite(true)`.
let saved = client.save(&video, "cat.mp4", SaveOptions::new()).await?;
println!("saved {} bytes", saved.bytes);
# Ok(()) }
```

The one-liners `Client::from_env()?` and `Client::new(key)?` build the default transport (the
README's example):

```no_run
# async fn demo() -> Result<(), pipevideo::Error> {
use pipevideo::{Client, model::CreateResponse};

let client = Client::from_env()?; // PIPEVIDEO_API_KEY, optional PIPEVIDEO_API_URL
let handle = client
    .create(&CreateResponse::new("moonshotai/kimi-k2.5", "A cat on a beach"))
    .await?;
let video = handle.wait().await?;
println!("{}", video.video_url().unwrap_or("(no URL)"));
# Ok(()) }
```
"#
)]
//!
//! The builder takes everything else: [`ClientBuilder::api_key`],
//! [`base_url`](ClientBuilder::base_url), retry, wait and pacing policies, the body cap.
//! Bring your own `reqwest::Client` (proxy, custom CA) with `ReqwestTransport::from(client)`.
//!
//! Progress while waiting is a stream: subscribe with [`GenerationHandle::progress`] before
//! calling `wait` (and with `Client::progress` before `save`, for the download's bytes). The crate's `examples/` directory has complete programs for tokio + reqwest
//! and async-std + surf that run against a local emulator when no API URL is set.
//!
//! # Public dependencies
//!
//! Types of these crates appear in this crate's public API, so their major versions are part
//! of it (a major upgrade of one is a breaking change here):
//!
//! - [`http`] 1 (re-exported): `Request<Vec<u8>>`/`Response<Vec<u8>>` (what transports
//!   speak), `StatusCode`, `HeaderMap`, `HeaderName`, `HeaderValue`.
//! - `serde` 1: the model, ids, statuses and webhook events implement `Serialize` and/or
//!   `Deserialize`.
//! - `serde_json` 1: `Value` and `Map<String, Value>` hold the fields of a response the model
//!   does not name (`extra`) and free-form catalogue fields.
//! - `futures-core` 0.3: [`ProgressStream`] is a `futures_core::Stream`.
//! - `rand_core` 0.9 (re-exported as `pipevideo::core::rand_core`): the state machines under
//!   [`core`](crate::core) that jitter take `&mut impl RngCore` (as does
//!   [`IdempotencyKey::generate`]; the client itself draws its keys from the OS RNG). It is the
//!   `rand_core` of `rand` 0.9, so `rand`'s generators (`SmallRng`, `StdRng`) can be passed.
//! - `async-trait` 0.1: the transport traits under `core::transport` are `#[async_trait]`
//!   traits; implement them with that attribute.
//! - With `reqwest`: `reqwest` 0.13 (re-exported as `pipevideo::reqwest` for
//!   `ReqwestTransport::from(client)`, `client_builder` and `into_inner`) and `tokio` 1
//!   (`TokioSink` wraps a `tokio::io::AsyncWrite`).
//! - With `surf` or `surf-curl`: `surf` 2 (`surf::Client`, `surf::Config` convert into a
//!   `SurfTransport`) and `futures-util` 0.3 (`AsyncWriteSink` wraps a
//!   `futures_util::AsyncWrite`, the `futures-io` trait).
//!
//! Every other dependency is private. `tests/public_api.rs` checks both lists against the
//! manifests and the public signatures.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

// The client: the common case. (`Client` itself is the reqwest alias below, or `surf::Client`.)
pub use pipevideo_core::client::{
    CancelToken, ClientBuilder, GenerationHandle, ProgressStream, SaveOptions, SavedVideo,
    WaitOptions,
};
pub use pipevideo_core::policy::TimeScale;

// The request and response model.
pub use pipevideo_core::model;
pub use pipevideo_core::model::{CreateGeneration, CreateResponse, Generation};

// Errors.
pub use pipevideo_core::{ApiError, Error, ErrorCode, ErrorKind, InputError};

// Checked values.
pub use pipevideo_core::{
    ApiKey, Attribution, BaseUrl, Flavor, GenerationId, GenerationRef, IdempotencyKey, Status,
};

// Webhook verification.
pub use pipevideo_core::webhook;

/// The transport-independent core, whole: the state machines (retry, poll, pacing, codec,
/// transport traits) for those who drive them, the generic `client::Client<T>` and everything
/// the root does not re-export.
pub use pipevideo_core as core;

/// The `http` crate, whose `Request` and `Response` every transport speaks.
pub use http;

#[cfg(feature = "reqwest")]
pub use pipevideo_reqwest::{
    BuildError as ReqwestBuildError, ReqwestTransport, TokioClock, TokioSink,
};

/// The reqwest crate the [`ReqwestTransport`] is built on: build your own client (proxy,
/// custom CA) with these types and hand it over with `ReqwestTransport::from(client)`.
#[cfg(feature = "reqwest")]
pub use pipevideo_reqwest::reqwest;

/// The Pipevideo client over reqwest, for tokio applications: the common case.
///
/// The same type as [`core::client::Client`]`<`[`ReqwestTransport`]`>`; every method is
/// documented there. Build one with `Client::builder(ReqwestTransport::new()?)`.
#[cfg(feature = "reqwest")]
pub type Client = pipevideo_core::client::Client<ReqwestTransport>;

/// Shared pacing through Redis: one key's budget for every process and machine that uses it
/// (the `pipevideo-redis` crate). Hand a [`RedisStore`](redis::RedisStore) to
/// [`ClientBuilder::shared_pacing`]; the options (fail-open or fail-closed) are
/// [`core::pacing::shared::SharedPacingOptions`].
///
/// ```no_run
/// # fn demo<T: pipevideo::core::transport::Transport>(transport: T)
/// #     -> Result<(), Box<dyn std::error::Error>> {
/// use pipevideo::core::client::Client;
/// use pipevideo::core::pacing::shared::{OnStoreDown, SharedPacingOptions};
/// use pipevideo::redis::RedisStore;
/// use pipevideo::ApiKey;
///
/// // `transport`: `ReqwestTransport::new()?` on tokio, `SurfTransport::new()` on async-std.
/// let client = Client::builder(transport)
///     .api_key(ApiKey::new("pv_0123456789abcdef")?)
///     .shared_pacing(RedisStore::open("redis://127.0.0.1:6379/")?)
///     .shared_pacing_options(SharedPacingOptions::default().on_down(OnStoreDown::FailOpen))
///     .build()?;
/// # Ok(()) }
/// ```
#[cfg(feature = "redis")]
pub use pipevideo_redis as redis;

#[cfg(any(feature = "surf", feature = "surf-curl"))]
pub use pipevideo_surf::{
    AsyncIoClock, AsyncWriteSink, ConfigError as SurfConfigError, SurfTransport,
};

/// The client over surf, for async-std and smol applications.
///
/// ```no_run
/// # async fn demo() -> Result<(), pipevideo::Error> {
/// use pipevideo::model::CreateResponse;
///
/// let client = pipevideo::surf::Client::from_env()?; // PIPEVIDEO_API_KEY, PIPEVIDEO_API_URL
/// let video = client
///     .generate(&CreateResponse::new("moonshotai/kimi-k2.5", "A cat on a beach"))
///     .await?;
/// println!("{:?}", video.video_url());
/// # Ok(()) }
/// ```
#[cfg(any(feature = "surf", feature = "surf-curl"))]
pub mod surf {
    /// The Pipevideo client over surf: [`Client`](crate::core::client::Client)`<`[`SurfTransport`](crate::SurfTransport)`>`.
    ///
    /// `Client::new(key)` and `Client::from_env()` build one with a default `SurfTransport`.
    pub type Client = pipevideo_core::client::Client<pipevideo_surf::SurfTransport>;
}
