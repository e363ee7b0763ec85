//! The sans-IO core of the Pipevideo SDK.
//!
//! Everything that decides lives here, written once; nothing here performs I/O, reads a clock
//! or touches a global random number generator. Time comes in as `now` arguments and jitter
//! from a caller-supplied RNG, so every decision can be replayed in virtual time.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod id;
mod key;
mod status;

pub use id::{Flavor, GenerationId, GenerationRef, IdError, RefParseError};
pub use key::{ApiKey, ApiKeyError};
pub use status::Status;

pub mod transport;
pub mod poll;
pub mod retry;
pub mod webhook;
