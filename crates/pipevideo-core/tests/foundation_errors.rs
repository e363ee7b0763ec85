//! The error model, row by row: the status table of the errors page, every body shape the
//! server or a proxy may send, `retry_after` in all its forms, and decode failures.

use std::time::Duration;

use http::{HeaderMap, HeaderValue, Response, StatusCode};
use pipevideo_core::{
    ApiError, Error, ErrorCode, Flavor, RAW_BODY_LIMIT, RequestError, codec,
    model::{Generation, Usage},
};
use proptest::prelude::*;

fn api(status: u16, body: &[u8]) -> ApiError {
    ApiError::from_response(
        StatusCode::from_u16(status).unwrap(),
        &HeaderMap::new(),
        body,
    )
}

/// One row per line of the errors page's table, plus the proxy statuses.
#[test]
fn status_table_rows() {
    struct Row {
        status: u16,
        code: ErrorCode,
        orpc: &'static str,
        message: &'static str,
        retryable: bool,
    }
    let rows = [
        Row {
            status: 400,
            code: ErrorCode::BadRequest,
            orpc: "BAD_REQUEST",
            message: "Insufficient credits",
            retryable: false,
        },
        Row {
            status: 401,
            code: ErrorCode::Unauthorized,
            orpc: "UNAUTHORIZED",
            message: "API key has expired",
            retryable: false,
        },
        Row {
            status: 404,
            code: ErrorCode::NotFound,
            orpc: "NOT_FOUND",
            message: "Generation not found",
            retryable: false,
        },
        Row {
            status: 429,
            code: ErrorCode::TooManyRequests,
            orpc: "TOO_MANY_REQUESTS",
            message: "Rate limit exceeded. Please try again later.",
            retryable: true,
        },
        Row {
            status: 500,
            code: ErrorCode::InternalServerError,
            orpc: "INTERNAL_SERVER_ERROR",
            message: "Internal server error",
            retryable: true,
        },
        Row {
            status: 502,
            code: ErrorCode::Other(502),
            orpc: "BAD_GATEWAY",
            message: "Bad gateway",
            retryable: true,
        },
        Row {
            status: 503,
            code: ErrorCode::Other(503),
            orpc: "SERVICE_UNAVAILABLE",
            message: "Unavailable",
            retryable: true,
        },
        Row {
            status: 504,
            code: ErrorCode::Other(504),
            orpc: "GATEWAY_TIMEOUT",
            message: "Timeout",
            retryable: true,
        },
        Row {
            status: 403,
            code: ErrorCode::Other(403),
            orpc: "FORBIDDEN",
            message: "Forbidden",
            retryable: false,
        },
        Row {
            status: 422,
            code: ErrorCode::Other(422),
            orpc: "UNPROCESSABLE_CONTENT",
            message: "Nope",
            retryable: false,
        },
    ];
    for row in rows {
        // The documented short body…
        let short = format!(r#"{{"message":"{}"}}"#, row.message);
        let e = api(row.status, short.as_bytes());
        assert_eq!(e.status().as_u16(), row.status);
        assert_eq!(e.code(), row.code, "status {}", row.status);
        assert_eq!(e.message(), row.message);
        assert!(e.has_server_message());
        assert_eq!(e.orpc_code(), None);
        assert_eq!(e.retryable(), row.retryable, "status {}", row.status);
        assert_eq!(Error::from(e.clone()).is_retryable(), row.retryable);
        assert_eq!(e.retry_after(), None);
        // …and oRPC's fuller one.
        let full = format!(
            r#"{{"defined":false,"code":"{}","status":{},"message":"{}","data":{{}}}}"#,
            row.orpc, row.status, row.message
        );
        let e = api(row.status, full.as_bytes());
        assert_eq!(e.code(), row.code);
        assert_eq!(e.orpc_code(), Some(row.orpc));
        assert_eq!(e.message(), row.message);
        let shown = e.to_string();
        assert!(
            shown.contains(&row.status.to_string()) && shown.contains(row.message),
            "{shown}"
        );
    }
}

#[test]
fn orpc_json_envelope() {
    let body = br#"{"json":{"defined":false,"code":"NOT_FOUND","status":404,"message":"Generation not found"},"meta":[]}"#;
    let e = api(404, body);
    assert_eq!(e.message(), "Generation not found");
    assert_eq!(e.orpc_code(), Some("NOT_FOUND"));
    let body =
        br#"{"json":{"code":"TOO_MANY_REQUESTS","message":"slow","data":{"retry_after":"7"}}}"#;
    assert_eq!(api(429, body).retry_after(), Some(Duration::from_secs(7)));
    // A top-level message wins over an envelope.
    let body = br#"{"message":"outer","json":{"message":"inner"}}"#;
    assert_eq!(api(400, body).message(), "outer");
}

/// Input errors say what was wrong in one message and do not repeat it as a `source()`.
#[test]
fn input_errors_read_once() {
    use std::error::Error as _;
    let cases: Vec<(Error, &str)> = vec![
        (
            RequestError::NoInputText.into(),
            "invalid request: `input` needs at least one `input_text` part with text",
        ),
        (
            pipevideo_core::ApiKey::new("").unwrap_err().into(),
            "invalid API key: the API key is empty",
        ),
        (
            pipevideo_core::IdempotencyKey::new("").unwrap_err().into(),
            "invalid idempotency key: the idempotency key is empty",
        ),
        (
            pipevideo_core::BaseUrl::parse("ftp://x")
                .unwrap_err()
                .into(),
            "invalid base URL: unsupported scheme `ftp` (use https://)",
        ),
    ];
    for (e, shown) in cases {
        assert_eq!(e.to_string(), shown);
        assert!(e.source().is_none(), "{shown}");
        assert!(!e.is_retryable());
    }
    let t: Error = pipevideo_core::transport::TransportError::not_sent("connection refused").into();
    assert_eq!(t.to_string(), "request not sent: connection refused");
    assert!(t.is_retryable());
}

#[test]
fn error_code_spellings() {
    assert_eq!(ErrorCode::BadRequest.as_str(), "BAD_REQUEST");
    assert_eq!(ErrorCode::Unauthorized.as_str(), "UNAUTHORIZED");
    assert_eq!(ErrorCode::NotFound.as_str(), "NOT_FOUND");
    assert_eq!(ErrorCode::TooManyRequests.as_str(), "TOO_MANY_REQUESTS");
    assert_eq!(
        ErrorCode::InternalServerError.as_str(),
        "INTERNAL_SERVER_ERROR"
    );
    assert_eq!(ErrorCode::Other(502).to_string(), "HTTP 502");
}

/// The generic example body of the errors page.
#[test]
fn generic_example_body() {
    let e = api(400, br#"{ "message": "Human readable error description" }"#);
    assert_eq!(e.message(), "Human readable error description");
    assert_eq!(e.code(), ErrorCode::BadRequest);
    assert_eq!(
        e.to_string(),
        "HTTP 400 Bad Request: Human readable error description"
    );
}

/// The 429 example body of the errors page.
#[test]
fn rate_limit_example_body() {
    let body = br#"{ "message": "Rate limit exceeded. Please try again later.", "data": { "retry_after": 42 } }"#;
    let e = api(429, body);
    assert_eq!(e.retry_after(), Some(Duration::from_secs(42)));
    assert_eq!(e.message(), "Rate limit exceeded. Please try again later.");
    assert!(e.retryable());
    assert!(e.to_string().contains("retry after 42"));
}

#[test]
fn retry_after_forms() {
    let cases: &[(&str, Option<Duration>)] = &[
        ("42", Some(Duration::from_secs(42))),
        ("0", Some(Duration::ZERO)),
        ("1.5", Some(Duration::from_millis(1500))),
        ("\"42\"", Some(Duration::from_secs(42))),
        ("\" 2.25 \"", Some(Duration::from_millis(2250))),
        ("-1", None),
        ("-0.5", None),
        ("\"-3\"", None),
        ("\"NaN\"", None),
        ("\"soon\"", None),
        ("null", None),
        ("true", None),
        ("[1]", None),
        ("{}", None),
        ("1e12", Some(Duration::MAX)),
        ("1000000000000", Some(Duration::MAX)),
        ("\"1e12\"", Some(Duration::MAX)),
        ("\"inf\"", Some(Duration::MAX)),
        ("1e400", None), // not representable by serde_json as a number: the body fails to parse
        ("18446744073709551615", Some(Duration::MAX)),
        ("4294967295", Some(Duration::from_secs(4_294_967_295))),
    ];
    for (raw, want) in cases {
        let body = format!(r#"{{"message":"slow down","data":{{"retry_after":{raw}}}}}"#);
        let e = api(429, body.as_bytes());
        assert_eq!(e.retry_after(), *want, "retry_after: {raw}");
        assert!(e.retryable());
    }
}

#[test]
fn retry_after_header_is_kept_verbatim() {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::RETRY_AFTER,
        HeaderValue::from_static("Wed, 21 Oct 2026 07:28:00 GMT"),
    );
    let e = ApiError::from_response(StatusCode::SERVICE_UNAVAILABLE, &h, b"");
    assert_eq!(
        e.retry_after_header(),
        Some("Wed, 21 Oct 2026 07:28:00 GMT")
    );
    assert_eq!(e.retry_after(), None);
    assert_eq!(api(503, b"").retry_after_header(), None);
}

#[test]
fn non_json_bodies_are_classified() {
    let html = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>";
    let cases: &[(u16, &[u8], &str)] = &[
        (502, html, "Bad Gateway (body is not a JSON error object)"),
        (503, b"", "Service Unavailable (empty body)"),
        (
            500,
            br#"{"message":"Internal"#,
            "Internal Server Error (body is not a JSON error object)",
        ),
        (
            400,
            b"\xff\xfe\x00garbage",
            "Bad Request (body is not a JSON error object)",
        ),
        (
            400,
            br#"["message"]"#,
            "Bad Request (body is not a JSON error object)",
        ),
        (
            401,
            br#"{"message":""}"#,
            "Unauthorized (body is not a JSON error object)",
        ),
        (
            404,
            br#"{"message":42}"#,
            "Not Found (body is not a JSON error object)",
        ),
        (599, b"", "unknown status (empty body)"),
    ];
    for (status, body, message) in cases {
        let e = api(*status, body);
        assert_eq!(e.message(), *message, "status {status}");
        assert!(!e.has_server_message());
        assert_eq!(e.body_len(), body.len());
        assert_eq!(e.raw_body(), String::from_utf8_lossy(body));
    }
}

#[test]
fn huge_bodies_are_truncated_and_not_parsed() {
    let mut big = br#"{"message":"x","pad":""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 200_000));
    big.extend(br#""}"#);
    let e = api(500, &big);
    assert_eq!(e.body_len(), big.len());
    assert_eq!(e.raw_body().len(), RAW_BODY_LIMIT);
    assert!(
        !e.has_server_message(),
        "bodies over the parse cap are not parsed"
    );
    // A long message is cut, with a marker.
    let long = format!(r#"{{"message":"{}"}}"#, "m".repeat(5000));
    let e = api(400, long.as_bytes());
    assert!(e.message().chars().count() <= 1025 && e.message().ends_with('…'));
}

#[test]
fn truncation_never_splits_utf8() {
    let mut body = vec![b'a'; RAW_BODY_LIMIT - 1];
    body.extend("é".as_bytes()); // straddles the limit
    let e = api(502, &body);
    assert!(e.raw_body().starts_with("aaa"));
    assert!(e.raw_body().len() <= RAW_BODY_LIMIT + 3);
}

#[test]
fn decode_errors_keep_path_and_body() {
    let body =
        br#"{"credit_balance":1,"daily_usage":[{"request_count":3},{"date":["2026-01-01"]}]}"#;
    let resp = Response::new(body.to_vec());
    let Err(Error::Decode(e)) = codec::decode_json::<Usage, _>(&resp) else {
        panic!("expected a decode error")
    };
    assert_eq!(e.path(), "daily_usage[1].date");
    assert_eq!(e.status(), StatusCode::OK);
    assert_eq!(e.what(), "Usage");
    assert_eq!(e.raw_body(), String::from_utf8_lossy(body));
    assert!(e.to_string().contains("daily_usage[1].date"));
    assert!(!Error::Decode(e).is_retryable());

    // Not JSON at all: the path is the root.
    let resp = Response::new(b"<html>".to_vec());
    let Err(Error::Decode(e)) = codec::decode_generation(Flavor::Legacy, &resp) else {
        panic!()
    };
    assert_eq!(e.path(), ".");

    // A 2xx generation without an id, or with an id that would change the path.
    let resp = Response::new(br#"{"status":"queued"}"#.to_vec());
    assert!(matches!(
        codec::decode_generation(Flavor::Responses, &resp),
        Err(Error::Decode(_))
    ));
    let resp = Response::new(br#"{"id":"../usage","status":"queued"}"#.to_vec());
    let Err(Error::Decode(e)) = codec::decode_generation(Flavor::Responses, &resp) else {
        panic!()
    };
    assert_eq!(e.path(), "id");
}

#[test]
fn non_2xx_is_an_api_error_for_every_decoder() {
    let mut resp = Response::new(br#"{"message":"Generation not found"}"#.to_vec());
    *resp.status_mut() = StatusCode::NOT_FOUND;
    let check = |r: Result<(), Error>| match r {
        Err(Error::Api(e)) => assert_eq!(e.code(), ErrorCode::NotFound),
        other => panic!("expected an API error, got {other:?}"),
    };
    check(codec::decode_generation(Flavor::Responses, &resp).map(drop));
    check(codec::decode_generation(Flavor::Legacy, &resp).map(drop));
    check(codec::decode_usage(&resp).map(drop));
    check(codec::decode_engines(&resp).map(drop));
    check(codec::decode_models(&resp).map(drop));
    check(codec::decode_model(&resp).map(drop));
}

fn any_status() -> impl Strategy<Value = StatusCode> {
    (100u16..=999).prop_map(|s| StatusCode::from_u16(s).unwrap())
}

fn bodyish() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        // JSON-looking text, to get past the first byte often.
        "[{}\\[\\]\":,a-z0-9 .eE+-]{0,200}".prop_map(String::into_bytes),
        (any::<f64>(), "[a-z ]{0,20}").prop_map(|(n, m)| {
            format!(r#"{{"message":"{m}","data":{{"retry_after":{n}}}}}"#).into_bytes()
        }),
        ("[a-z_]{0,12}", "[a-z_]{1,12}").prop_map(|(id, st)| {
            format!(
                r#"{{"id":"gen_{id}","status":"{st}","output":[{{"video_url":{{"url":"x"}}}}]}}"#
            )
            .into_bytes()
        }),
    ]
}

proptest! {
    /// Decoding arbitrary bytes under any status never panics and always gives a value or a
    /// typed error of the right kind.
    #[test]
    fn decoding_never_panics(status in any_status(), body in bodyish()) {
        let mut resp = Response::new(body.clone());
        *resp.status_mut() = status;
        let results: Vec<Result<(), Error>> = vec![
            codec::decode_generation(Flavor::Responses, &resp).map(drop),
            codec::decode_generation(Flavor::Legacy, &resp).map(drop),
            codec::decode_usage(&resp).map(drop),
            codec::decode_engines(&resp).map(drop),
            codec::decode_models(&resp).map(drop),
            codec::decode_model(&resp).map(drop),
        ];
        for r in results {
            match r {
                Ok(()) => prop_assert!(status.is_success()),
                Err(Error::Api(e)) => {
                    prop_assert!(!status.is_success());
                    prop_assert_eq!(e.status(), status);
                    prop_assert!(e.raw_body().len() <= RAW_BODY_LIMIT + 3);
                    prop_assert!(!e.message().is_empty());
                    let _ = e.to_string();
                }
                Err(Error::Decode(e)) => {
                    prop_assert!(status.is_success());
                    prop_assert!(!e.path().is_empty());
                    let _ = e.to_string();
                }
                Err(other) => prop_assert!(false, "unexpected error kind: {other:?}"),
            }
        }
    }

    /// `retry_after` is never negative-turned-short: whatever the value, the result is absent,
    /// exact, or `Duration::MAX`.
    #[test]
    fn retry_after_never_shortens(n in any::<f64>()) {
        let body = serde_json::json!({"message": "m", "data": {"retry_after": n}}).to_string();
        let e = api(429, body.as_bytes());
        match e.retry_after() {
            None => prop_assert!(n.is_nan() || n < 0.0 || n.is_infinite()),
            Some(d) if d == Duration::MAX => prop_assert!(n > 4.0e9),
            Some(d) => prop_assert!((d.as_secs_f64() - n).abs() <= 1e-6 * n.max(1.0)),
        }
    }

    /// Any 2xx body that decodes to a generation keeps the documented invariants.
    #[test]
    fn generation_invariants(body in bodyish()) {
        if let Ok(g) = codec::decode_generation(Flavor::Responses, &Response::new(body)) {
            prop_assert_eq!(g.failure().is_some(), g.status() == &pipevideo_core::Status::Failed);
            let _: &Generation = &g;
        }
    }
}
