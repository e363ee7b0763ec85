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
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod attribution;
mod base_url;
mod error;
mod id;
mod idempotency;
mod key;
mod status;

pub mod codec;
pub mod model;

pub use attribution::{
    ATTRIBUTION_TEXT_MAX_CHARS, Attribution, AttributionError, REFERER_MAX_CHARS,
};
pub use base_url::{BaseUrl, BaseUrlError, DEFAULT_BASE_URL};
pub use error::{
    ApiError, DecodeError, ERROR_BODY_PARSE_LIMIT, Error, ErrorCode, InputError, RAW_BODY_LIMIT,
    RETRY_AFTER_HUGE_SECS, RequestError,
};
pub use id::{Flavor, GenerationId, GenerationRef, IdError, RefParseError};
pub use idempotency::{
    IDEMPOTENCY_KEY_MAX_LEN, IDEMPOTENCY_KEY_PREFIX, IdempotencyKey, IdempotencyKeyError,
};
pub use key::{ApiKey, ApiKeyError};
pub use status::Status;

pub mod poll;
pub mod retry;
pub mod transport;
pub mod webhook;
