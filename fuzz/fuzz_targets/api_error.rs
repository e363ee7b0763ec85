//! `ApiError::from_response` over any status, any `Retry-After` bytes and any body: never
//! panics, keeps the documented limits, and agrees with `codec::decode_json` on non-2xx.
//!
//! Input layout: bytes 0..2 status (`100 + n % 900`), byte 2 the length of a `Retry-After`
//! value (0: no header), that many header bytes, then the body.
#![no_main]

#[path = "common.rs"]
mod common;

use http::{HeaderMap, HeaderValue, Response, header::RETRY_AFTER};
use libfuzzer_sys::fuzz_target;
use pipevideo_core::{ApiError, Error, RETRY_AFTER_HUGE_SECS, codec, model::Usage};

fuzz_target!(|data: &[u8]| {
    let [s0, s1, len, rest @ ..] = data else {
        return;
    };
    let status = common::any_status(u16::from_be_bytes([*s0, *s1]));
    let len = usize::from(*len % 64).min(rest.len());
    let (header, body) = rest.split_at(len);
    let mut headers = HeaderMap::new();
    if len > 0
        && let Ok(value) = HeaderValue::from_bytes(header)
    {
        headers.insert(RETRY_AFTER, value);
    }

    let e = ApiError::from_response(status, &headers, body);
    common::check_api_error(&e, status, body);
    if let Some(d) = e.retry_after() {
        // Either a representable number of seconds or "beyond any deadline".
        assert!(d == std::time::Duration::MAX || d.as_secs_f64() <= RETRY_AFTER_HUGE_SECS);
    }
    if let Some(h) = e.retry_after_header() {
        assert!(h.chars().count() <= 129);
    }

    // The generic decoder classifies a non-2xx body the same way.
    let mut response = Response::new(body.to_vec());
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    match codec::decode_json::<Usage, _>(&response) {
        Err(Error::Api(same)) => assert_eq!(same, e),
        Err(Error::Decode(_)) | Ok(_) => assert!(status.is_success()),
        Err(other) => panic!("unexpected error kind: {other:?}"),
    }
});
