//! The Rust SDK for the Pipevideo video-generation API.
//!
//! This is the crate to depend on: it re-exports the transport-independent core
//! ([`pipevideo_core`], everything at this crate's root) and one or more transports, chosen by
//! features, with a ready client for each.
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
//! Every transport implements [`transport::Transport`] and passes the same conformance suite,
//! so the SDK behaves the same, decision for decision, whichever one you pick.
//!
//! # The common case: create, wait, download
//!
//! A client reads its key from `PIPEVIDEO_API_KEY` (and, if set, the base URL from
//! `PIPEVIDEO_API_URL`, e.g. a local emulator). [`Client::create`](client::Client::create)
//! returns as soon as the generation exists, with its resumable reference; waiting and
//! downloading are separate steps, so a crash in between loses nothing.
#![cfg_attr(
    feature = "reqwest",
    doc = r#"
```no_run
# async fn demo() -> Result<(), Box<dyn std::error::Error>> {
use pipevideo::{Client, ReqwestTransport, TokioSink, model::CreateResponse};

let client = Client::builder(ReqwestTransport::new()?).from_env()?.build()?;
let handle = client
    .create(&CreateResponse::new("moonshotai/kimi-k2.5", "A cat on a beach"))
    .await?;
println!("created {}", handle.reference()); // store it: `client.wait(&reference)` resumes
let video = handle.wait().await?;

let file = tokio::fs::File::create("cat.mp4").await?;
let bytes = client.download(&video, &mut TokioSink::new(file)).await?;
println!("saved {bytes} bytes");
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

The builder takes everything else: [`ClientBuilder::api_key`](client::ClientBuilder::api_key),
[`base_url`](client::ClientBuilder::base_url), retry, wait and pacing policies, the body cap.
Bring your own `reqwest::Client` (proxy, custom CA) with `ReqwestTransport::from(client)`.

Progress while waiting is a stream: subscribe with
[`GenerationHandle::progress`](client::GenerationHandle::progress) before calling `wait`.
The crate's `examples/` directory has complete programs for tokio + reqwest and async-std +
surf that run against a local emulator when no API URL is set.
"#
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use pipevideo_core::*;

/// The `http` crate, whose `Request` and `Response` every transport speaks.
pub use http;

#[cfg(feature = "reqwest")]
pub use pipevideo_reqwest::{BuildError as ReqwestBuildError, ReqwestTransport, TokioSink};

/// The reqwest crate the [`ReqwestTransport`] is built on: build your own client (proxy,
/// custom CA) with these types and hand it over with `ReqwestTransport::from(client)`.
#[cfg(feature = "reqwest")]
pub use pipevideo_reqwest::reqwest;

/// The Pipevideo client over reqwest, for tokio applications: the common case.
///
/// The same type as [`client::Client`]`<`[`ReqwestTransport`]`>`; every method is documented
/// there. Build one with `Client::builder(ReqwestTransport::new()?)`.
#[cfg(feature = "reqwest")]
pub type Client = pipevideo_core::client::Client<ReqwestTransport>;

#[cfg(any(feature = "surf", feature = "surf-curl"))]
pub use pipevideo_surf::{AsyncWriteSink, ConfigError as SurfConfigError, SurfTransport};

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
    /// The Pipevideo client over surf: [`client::Client`](crate::client::Client)`<`[`SurfTransport`](crate::SurfTransport)`>`.
    ///
    /// `Client::new(key)` and `Client::from_env()` build one with a default `SurfTransport`.
    pub type Client = pipevideo_core::client::Client<pipevideo_surf::SurfTransport>;
}
