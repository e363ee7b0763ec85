//! surf (async-std, smol) transport for the Pipevideo SDK.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
