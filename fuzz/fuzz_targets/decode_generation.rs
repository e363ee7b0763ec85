//! `codec::decode_generation` in both flavours over any body (and sometimes any status):
//! never panics; a 2xx gives a generation or a `DecodeError`, anything else an `ApiError`;
//! a decoded generation keeps its flavour and re-encodes to a body that decodes to the same
//! reference and status.
//!
//! Input layout: see `common::status_and_body` (seeds are `\0` + JSON).
#![no_main]

#[path = "common.rs"]
mod common;

use http::{HeaderMap, Response};
use libfuzzer_sys::fuzz_target;
use pipevideo_core::{
    Error, Flavor, RAW_BODY_LIMIT, codec,
    model::{Generation, GenerationBody},
};

fuzz_target!(|data: &[u8]| {
    let (status, body) = common::status_and_body(data);
    for flavor in [Flavor::Responses, Flavor::Legacy] {
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let result = codec::decode_generation(flavor, &response);
        let parts = codec::decode_generation_parts(flavor, status, &HeaderMap::new(), body);
        assert_eq!(result.is_ok(), parts.is_ok());
        match result {
            Ok(g) => {
                assert!(status.is_success());
                check_generation(flavor, &g);
            }
            Err(Error::Decode(e)) => {
                assert!(status.is_success());
                assert_eq!(e.status(), status);
                assert_eq!(e.body_len(), body.len());
                assert!(!e.path().is_empty());
                assert!(e.raw_body().chars().count() <= RAW_BODY_LIMIT);
                let _ = e.to_string();
            }
            Err(Error::Api(e)) => {
                assert!(!status.is_success());
                common::check_api_error(&e, status, body);
            }
            Err(other) => panic!("unexpected error kind: {other:?}"),
        }
    }
});

fn check_generation(flavor: Flavor, g: &Generation) {
    assert_eq!(g.reference().flavor(), flavor);
    // The reference prints and parses back (it is what callers store to resume).
    let printed = g.reference().to_string();
    assert_eq!(
        printed
            .parse::<pipevideo_core::GenerationRef>()
            .ok()
            .as_ref(),
        Some(g.reference())
    );
    let _ = (g.video_url(), g.failure(), g.created_at(), format!("{g:?}"));
    if let Some(f) = g.failure() {
        let _ = f.cause.as_str();
    }
    // Re-encode the typed body: it must read back as the same generation and status.
    let bytes = match g.body() {
        GenerationBody::Responses(b) => serde_json::to_vec(b),
        GenerationBody::Legacy(b) => serde_json::to_vec(b),
    }
    .expect("a decoded body serialises");
    let again = codec::decode_generation(flavor, &Response::new(bytes.as_slice()))
        .unwrap_or_else(|e| panic!("re-encoded body does not decode: {e}"));
    assert_eq!(again.reference(), g.reference());
    assert_eq!(again.status(), g.status());
}
