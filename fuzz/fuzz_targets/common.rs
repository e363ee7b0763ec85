//! Helpers shared by the fuzz targets (each target includes this file with `#[path]`).
#![allow(dead_code)]

use http::StatusCode;

/// Splits a fuzz input into a status and a body: the first byte picks the status (most inputs
/// get `200`, so the body decoders see most of the work), the rest is the body.
///
/// - byte 0 below `0xE0`: `200 OK`;
/// - otherwise byte 1 and 2 pick any status in `100..=999`.
///
/// Seed files are written as `\0` followed by the JSON body.
pub fn status_and_body(data: &[u8]) -> (StatusCode, &[u8]) {
    match data {
        [] => (StatusCode::OK, &[]),
        [b0, rest @ ..] if *b0 < 0xE0 => (StatusCode::OK, rest),
        [_, b1, b2, rest @ ..] => (any_status(u16::from_be_bytes([*b1, *b2])), rest),
        [_, rest @ ..] => (StatusCode::INTERNAL_SERVER_ERROR, rest),
    }
}

/// Any status code `100..=999` from a number.
pub fn any_status(n: u16) -> StatusCode {
    StatusCode::from_u16(100 + n % 900).expect("100..=999 is always a valid status")
}

/// Checks what every `ApiError` must satisfy, whatever bytes built it.
pub fn check_api_error(e: &pipevideo_core::ApiError, status: StatusCode, body: &[u8]) {
    use pipevideo_core::{ErrorCode, RAW_BODY_LIMIT};
    assert_eq!(e.status(), status);
    assert_eq!(e.code(), ErrorCode::from_status(status));
    assert_eq!(e.body_len(), body.len());
    assert!(e.raw_body().chars().count() <= RAW_BODY_LIMIT);
    let prefix = String::from_utf8_lossy(&body[..body.len().min(RAW_BODY_LIMIT)]);
    assert_eq!(e.raw_body(), prefix);
    assert!(
        !e.message().trim().is_empty(),
        "an ApiError always has a message"
    );
    // "…" may be appended to a cut message.
    assert!(e.message().chars().count() <= 1025);
    assert_eq!(
        e.retryable(),
        matches!(status.as_u16(), 429 | 500 | 502 | 503 | 504)
    );
    let shown = e.to_string();
    assert!(shown.starts_with(&format!("HTTP {}", status.as_u16())));
    let _ = format!("{e:?}");
}
