//! The Rust SDK for the Pipevideo video-generation API.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
