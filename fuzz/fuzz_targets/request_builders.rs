//! The request builders over arbitrary input: generation ids and references, model slugs,
//! attribution values and idempotency keys. Building a request from any of them either fails
//! with a typed error or gives a request that cannot be used for header or path injection:
//!
//! - every header value is visible ASCII or space (no CR, LF, NUL or other control, nothing
//!   outside ASCII), and the attribution headers carry exactly what was accepted;
//! - the path is the base's path followed by the endpoint's fixed segments and exactly one
//!   segment for the id or slug, which contains no `/`, `?`, `#` or `\`, is not `.` or `..`,
//!   and percent-decodes to exactly the input (no pre-encoded `%2F` or `%2e%2e` surviving);
//! - the URI has no query and no fragment.
//!
//! Input layout: byte 0 picks the builder and base; the rest, split at the first `\n`, is the
//! value under test and (for attribution) a second value.
#![no_main]

use http::Request;
use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use pipevideo_core::codec::RequestEncoder;
use pipevideo_core::model::CreateResponse;
use pipevideo_core::{ApiKey, Attribution, BaseUrl, GenerationId, GenerationRef, IdempotencyKey};

const BASES: [&str; 3] = [
    "https://api.pipevideo.co/v1",
    "http://127.0.0.1:3001/v1/",
    "https://proxy.example/pipevideo/api/v1",
];

fn check_headers(request: &Request<Vec<u8>>) {
    for (name, value) in request.headers() {
        assert!(
            value
                .as_bytes()
                .iter()
                .all(|&b| b == b' ' || b == b'\t' || (0x21..=0x7e).contains(&b)),
            "header {name} has a byte that is not visible ASCII: {value:?}"
        );
    }
}

/// The request's path is `base path` + `prefix` + one segment that decodes to `value`.
fn check_path(request: &Request<Vec<u8>>, base: &BaseUrl, prefix: &str, value: &str) {
    let uri = request.uri();
    assert!(uri.query().is_none(), "a query crept in: {uri}");
    assert!(!uri.to_string().contains('#'), "a fragment crept in: {uri}");
    let base_path = base
        .as_str()
        .split_once("://")
        .and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]))
        .expect("a base with a path");
    // The base is used with a trailing `/` whether or not it was written with one.
    let base_path = format!("{}/", base_path.trim_end_matches('/'));
    let path = uri.path();
    let rest = path
        .strip_prefix(base_path.as_str())
        .and_then(|p| p.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("{path} does not start with {base_path}{prefix}"));
    assert!(!rest.is_empty());
    for c in ['/', '?', '#', '\\'] {
        assert!(!rest.contains(c), "the segment {rest:?} has {c:?}");
    }
    assert!(rest != "." && rest != "..", "a dot segment: {rest:?}");
    let decoded = percent_decode_str(rest)
        .decode_utf8()
        .expect("the segment decodes to UTF-8");
    assert_eq!(decoded, value, "the segment {rest:?} is not the input");
}

fuzz_target!(|data: &[u8]| {
    let [selector, rest @ ..] = data else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (first, second) = text.split_once('\n').unwrap_or((text, ""));
    let base = BaseUrl::parse_allowing_insecure_http(BASES[usize::from(selector >> 6) % 3])
        .expect("a valid base");
    let key = ApiKey::new("pv_0123456789abcdef").expect("a valid key");
    let encoder = RequestEncoder::new(base.clone(), key).expect("an encoder");

    match selector % 6 {
        // A bare id, both flavours.
        0 => {
            if let Ok(id) = GenerationId::new(first) {
                for (request, prefix) in [
                    (encoder.retrieve_response(&id), "responses/"),
                    (encoder.retrieve_generation(&id), "video/generations/"),
                ] {
                    let request = request.expect("a valid id builds a request");
                    check_headers(&request);
                    check_path(&request, &base, prefix, first);
                }
            }
        }
        // A stored reference (`responses:gen_…`).
        1 => {
            if let Ok(reference) = first.parse::<GenerationRef>() {
                let request = encoder.retrieve(&reference).expect("a valid reference");
                check_headers(&request);
                let prefix = match reference.flavor() {
                    pipevideo_core::Flavor::Responses => "responses/",
                    _ => "video/generations/",
                };
                check_path(&request, &base, prefix, reference.id().as_str());
                assert_eq!(reference.to_string().parse::<GenerationRef>(), Ok(reference));
            }
        }
        // A model slug.
        2 => {
            if let Ok(request) = encoder.model(first) {
                check_headers(&request);
                check_path(&request, &base, "models/", first);
            }
        }
        // Attribution: app name and title, then a referer.
        3 | 4 => {
            let built = if selector % 6 == 3 {
                Attribution::new()
                    .app_name(first)
                    .and_then(|a| a.title(second))
            } else {
                Attribution::new().referer(first)
            };
            let Ok(attribution) = built else {
                return;
            };
            let encoder = encoder.with_attribution(attribution);
            for request in [encoder.usage(), encoder.engines()] {
                let request = request.expect("accepted attribution builds every request");
                check_headers(&request);
                if selector % 6 == 3 {
                    assert_eq!(request.headers()["x-application-name"], first);
                    assert_eq!(request.headers()["x-pipevideo-title"], second);
                }
            }
        }
        // An idempotency key on a create.
        _ => {
            if let Ok(key) = IdempotencyKey::new(first) {
                let create = CreateResponse::new("moonshotai/kimi-k2.5", "A cat");
                let request = encoder
                    .create_response(&create, Some(&key))
                    .expect("a valid key builds a create");
                check_headers(&request);
                assert_eq!(request.headers()["idempotency-key"], first);
                assert!(request.uri().path().ends_with("/responses"));
            }
        }
    }
});
