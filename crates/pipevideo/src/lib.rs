//! The Rust SDK for the Pipevideo video-generation API.
//!
//! This is the crate to depend on: it re-exports the transport-independent core
//! ([`pipevideo_core`], everything at this crate's root) and one or more transports, chosen by
//! features:
//!
//! | feature | what it brings | runtime |
//! |---|---|---|
//! | `reqwest` (default) | [`ReqwestTransport`], [`TokioSink`] | tokio |
//! | `rustls` (default) | TLS for reqwest through rustls | |
//! | `native-tls` | TLS for reqwest through OpenSSL / the platform | |
//! | `surf` | `SurfTransport`, `AsyncWriteSink` (surf's h1 backend) | async-std, smol |
//! | `surf-curl` | the surf transport on libcurl instead | async-std, smol |
//!
//! An async-std or smol application turns the defaults off:
//!
//! ```toml
//! pipevideo = { version = "0.1", default-features = false, features = ["surf"] }
//! ```
//!
//! Every transport implements [`transport::Transport`] and passes the same conformance suite,
//! so the SDK behaves the same, decision for decision, whichever one you pick.
#![cfg_attr(
    feature = "reqwest",
    doc = r#"
```no_run
# async fn demo() -> Result<(), Box<dyn std::error::Error>> {
use pipevideo::ReqwestTransport;
use pipevideo::transport::{SendOptions, Transport};

let transport = ReqwestTransport::new()?;
let request = pipevideo::http::Request::get("https://api.pipevideo.co/v1/engines").body(Vec::new())?;
let response = transport.send(request, SendOptions::new()).await?;
# Ok(()) }
```
"#
)]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use pipevideo_core::*;

/// The `http` crate, whose `Request` and `Response` every transport speaks.
pub use http;

#[cfg(feature = "reqwest")]
pub use pipevideo_reqwest::{BuildError as ReqwestBuildError, ReqwestTransport, TokioSink};

#[cfg(any(feature = "surf", feature = "surf-curl"))]
pub use pipevideo_surf::{AsyncWriteSink, SurfTransport};
