//! The catalogue and usage decoders (`decode_usage`, `decode_engines`, `decode_models`,
//! `decode_model`) over the same bytes: never panic; a 2xx gives a value or a `DecodeError`
//! whose path is set, anything else an `ApiError`; a decoded value re-encodes to JSON that
//! decodes again.
//!
//! Input layout: see `common::status_and_body` (seeds are `\0` + JSON).
#![no_main]

#[path = "common.rs"]
mod common;

use http::Response;
use libfuzzer_sys::fuzz_target;
use pipevideo_core::{Error, codec};
use serde::{Serialize, de::DeserializeOwned};

fuzz_target!(|data: &[u8]| {
    let (status, body) = common::status_and_body(data);
    let mut response = Response::new(body);
    *response.status_mut() = status;
    check(status, body, codec::decode_usage(&response));
    check(status, body, codec::decode_engines(&response));
    check(status, body, codec::decode_models(&response));
    check(status, body, codec::decode_model(&response));
});

fn check<T: Serialize + DeserializeOwned + std::fmt::Debug>(
    status: http::StatusCode,
    body: &[u8],
    result: Result<T, Error>,
) {
    match result {
        Ok(value) => {
            assert!(status.is_success());
            let _ = format!("{value:?}");
            let bytes = serde_json::to_vec(&value).expect("a decoded value serialises");
            if let Err(e) = codec::decode_json::<T, _>(&Response::new(bytes.as_slice())) {
                panic!(
                    "re-encoded value does not decode: {e}\nre-encoded: {}",
                    String::from_utf8_lossy(&bytes)
                );
            }
        }
        Err(Error::Decode(e)) => {
            assert!(status.is_success());
            assert!(!e.path().is_empty());
            assert_eq!(e.body_len(), body.len());
            let _ = e.to_string();
        }
        Err(Error::Api(e)) => {
            assert!(!status.is_success());
            common::check_api_error(&e, status, body);
        }
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
}
