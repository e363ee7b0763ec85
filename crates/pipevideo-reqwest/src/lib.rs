//! reqwest (tokio) transport for the Pipevideo SDK.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
