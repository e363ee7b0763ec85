//! Webhook verification against signatures made independently here, with the RustCrypto and
//! base64 primitives, following the published Svix / Standard Webhooks scheme (never with the
//! crate's own `sign`, except in the one test that checks `sign` itself).

use std::time::{Duration, SystemTime};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use pipevideo_core::{
    Flavor, Status,
    webhook::{EventType, SecretError, Verifier, VerifyError, WebhookHeaders, WebhookSecret, sign},
};
use sha2::Sha256;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const OTHER_SECRET: &str = "whsec_b3RoZXItc2VjcmV0LWJ5dGVzLWhlcmU=";
const ID: &str = "msg_2bVlQ9rT4ZJ0n1pLxYwKcH7s";
const TS: u64 = 1_709_827_200;
const BODY: &[u8] = br#"{"eventType":"video.generation.completed","generationId":"gen_abc123xyz","status":"completed","outputUrl":"https://cdn.pipevideo.co/v/gen_abc123xyz.mp4?sig=abc","errorMessage":null}"#;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn key(secret: &str) -> Vec<u8> {
    STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap()
}

/// `v1,` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), made here from the primitives.
fn v1(secret: &str, id: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(&key(secret)).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn verifier() -> Verifier {
    Verifier::new(SECRET.parse().unwrap())
}

fn map(prefix: &str, id: &str, timestamp: &str, signature: &str) -> HeaderMap {
    let mut m = HeaderMap::new();
    m.insert(
        http::HeaderName::from_bytes(format!("{prefix}-id").as_bytes()).unwrap(),
        HeaderValue::from_str(id).unwrap(),
    );
    m.insert(
        http::HeaderName::from_bytes(format!("{prefix}-timestamp").as_bytes()).unwrap(),
        HeaderValue::from_str(timestamp).unwrap(),
    );
    m.insert(
        http::HeaderName::from_bytes(format!("{prefix}-signature").as_bytes()).unwrap(),
        HeaderValue::from_str(signature).unwrap(),
    );
    m
}

fn good_map(prefix: &str) -> HeaderMap {
    map(
        prefix,
        ID,
        &TS.to_string(),
        &v1(SECRET, ID, &TS.to_string(), BODY),
    )
}

#[test]
fn published_svix_test_vector_verifies() {
    // The example delivery used by Svix's own libraries' tests.
    let secret: WebhookSecret = SECRET.parse().unwrap();
    let headers = WebhookHeaders::new(
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "1614265330",
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    );
    let ts = Verifier::new(secret)
        .verify_signature(headers, br#"{"test": 2432232314}"#, at(1_614_265_330))
        .unwrap();
    assert_eq!(ts, at(1_614_265_330));
}

#[test]
fn svix_spelling_verifies_and_decodes_the_event() {
    let event = verifier().verify(&good_map("svix"), BODY, at(TS)).unwrap();
    assert_eq!(event.event_type(), &EventType::GenerationCompleted);
    assert_eq!(event.generation_id().as_str(), "gen_abc123xyz");
    assert_eq!(event.status(), &Status::Completed);
    assert_eq!(
        event.output_url(),
        Some("https://cdn.pipevideo.co/v/gen_abc123xyz.mp4?sig=abc")
    );
    assert_eq!(event.error_message(), None);
    assert_eq!(event.delivery_id(), ID);
    assert_eq!(event.timestamp(), at(TS));
    let r = event.generation_ref(Flavor::Legacy);
    assert_eq!(r.to_string(), "legacy:gen_abc123xyz");
}

#[test]
fn standard_webhooks_spelling_verifies() {
    let event = verifier()
        .verify(&good_map("webhook"), BODY, at(TS))
        .unwrap();
    assert_eq!(event.delivery_id(), ID);
}

#[test]
fn plain_strings_verify() {
    let ts = TS.to_string();
    let sig = v1(SECRET, ID, &ts, BODY);
    let event = verifier()
        .verify_headers(WebhookHeaders::new(ID, &ts, &sig), BODY, at(TS))
        .unwrap();
    assert_eq!(event.generation_id().as_str(), "gen_abc123xyz");
}

#[test]
fn failed_generation_with_snake_case_url_name() {
    let body = br#"{"eventType":"video.generation.completed","generationId":"gen_f","status":"failed","video_url":null,"errorMessage":"insufficient credits","unknownField":{"a":1}}"#;
    let ts = TS.to_string();
    let sig = v1(SECRET, ID, &ts, body);
    let event = verifier()
        .verify(&map("svix", ID, &ts, &sig), body, at(TS))
        .unwrap();
    assert_eq!(event.status(), &Status::Failed);
    assert_eq!(event.output_url(), None);
    assert_eq!(event.error_message(), Some("insufficient credits"));
}

#[test]
fn rotation_either_of_two_signatures_matches() {
    let ts = TS.to_string();
    let old = v1(OTHER_SECRET, ID, &ts, BODY);
    let new = v1(SECRET, ID, &ts, BODY);
    // The sender signs with its old and new secrets; a receiver holding either accepts.
    for header in [format!("{old} {new}"), format!("{new} {old}")] {
        for secret in [SECRET, OTHER_SECRET] {
            let v = Verifier::new(secret.parse().unwrap());
            v.verify(&map("svix", ID, &ts, &header), BODY, at(TS))
                .unwrap_or_else(|e| panic!("{secret:?} with {header}: {e}"));
        }
    }
    // A receiver holding a third secret rejects both.
    let third = Verifier::new("whsec_dGhpcmQ=".parse().unwrap());
    assert_eq!(
        third.verify(&map("svix", ID, &ts, &format!("{old} {new}")), BODY, at(TS)),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn receiver_side_rotation_with_an_additional_secret() {
    let ts = TS.to_string();
    let sig = v1(OTHER_SECRET, ID, &ts, BODY);
    let headers = map("svix", ID, &ts, &sig);
    assert_eq!(
        verifier().verify(&headers, BODY, at(TS)),
        Err(VerifyError::NoMatchingSignature)
    );
    let both = verifier().with_additional_secret(OTHER_SECRET.parse().unwrap());
    both.verify(&headers, BODY, at(TS)).unwrap();
}

#[test]
fn other_versions_and_malformed_entries_are_skipped() {
    let ts = TS.to_string();
    let good = v1(SECRET, ID, &ts, BODY);
    let header = format!("v1a,c2lnbmF0dXJl nocomma v1,!!notbase64!! v2,AAAA {good}");
    verifier()
        .verify(&map("svix", ID, &ts, &header), BODY, at(TS))
        .unwrap();
}

#[test]
fn body_tampered_by_one_byte_is_rejected() {
    for i in [0, BODY.len() / 2, BODY.len() - 1] {
        let mut tampered = BODY.to_vec();
        tampered[i] ^= 0x01;
        assert_eq!(
            verifier().verify(&good_map("svix"), &tampered, at(TS)),
            Err(VerifyError::NoMatchingSignature),
            "byte {i}"
        );
    }
    // One byte more (a trailing newline added by a proxy or a re-serializer).
    let mut longer = BODY.to_vec();
    longer.push(b'\n');
    assert_eq!(
        verifier().verify(&good_map("svix"), &longer, at(TS)),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn id_and_timestamp_are_signed_too() {
    let ts = TS.to_string();
    let sig = v1(SECRET, ID, &ts, BODY);
    assert_eq!(
        verifier().verify(&map("svix", "msg_other", &ts, &sig), BODY, at(TS)),
        Err(VerifyError::NoMatchingSignature)
    );
    let ts2 = (TS + 1).to_string();
    assert_eq!(
        verifier().verify(&map("svix", ID, &ts2, &sig), BODY, at(TS)),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn tolerance_edges_are_inclusive_at_exactly_five_minutes() {
    let v = verifier();
    let h = good_map("svix");
    let five = Duration::from_secs(300);
    // now − ts = +300 s and −300 s: pass.
    v.verify(&h, BODY, at(TS) + five).unwrap();
    v.verify(&h, BODY, at(TS) - five).unwrap();
    // One second beyond, either way: rejected with the measured gap.
    assert_eq!(
        v.verify(&h, BODY, at(TS) + five + Duration::from_secs(1)),
        Err(VerifyError::TooOld {
            age: Duration::from_secs(301),
            tolerance: five
        })
    );
    assert_eq!(
        v.verify(&h, BODY, at(TS) - five - Duration::from_secs(1)),
        Err(VerifyError::TooNew {
            ahead: Duration::from_secs(301),
            tolerance: five
        })
    );
    // The comparison is exact: a millisecond beyond is beyond.
    assert!(matches!(
        v.verify(&h, BODY, at(TS) + five + Duration::from_millis(1)),
        Err(VerifyError::TooOld { .. })
    ));
}

#[test]
fn tolerance_is_configurable() {
    let v = verifier().with_tolerance(Duration::from_secs(30));
    assert_eq!(v.tolerance(), Duration::from_secs(30));
    assert_eq!(Verifier::DEFAULT_TOLERANCE, Duration::from_secs(300));
    let h = good_map("svix");
    v.verify(&h, BODY, at(TS + 30)).unwrap();
    assert!(matches!(
        v.verify(&h, BODY, at(TS + 31)),
        Err(VerifyError::TooOld { .. })
    ));
    let wide = verifier().with_tolerance(Duration::from_secs(3600));
    wide.verify(&h, BODY, at(TS + 3600)).unwrap();
}

#[test]
fn missing_headers_are_named() {
    let full = good_map("svix");
    for name in ["svix-id", "svix-timestamp", "svix-signature"] {
        let mut h = full.clone();
        h.remove(name);
        assert_eq!(
            verifier().verify(&h, BODY, at(TS)),
            Err(VerifyError::MissingHeader(name))
        );
    }
    // An empty value counts as missing.
    let mut h = full.clone();
    h.insert("svix-id", HeaderValue::from_static(""));
    assert_eq!(
        verifier().verify(&h, BODY, at(TS)),
        Err(VerifyError::MissingHeader("svix-id"))
    );
    assert_eq!(
        verifier().verify_headers(WebhookHeaders::new(ID, "", "v1,AAAA"), BODY, at(TS)),
        Err(VerifyError::MissingHeader("svix-timestamp"))
    );
}

#[test]
fn non_ascii_header_value_is_unreadable() {
    let mut h = good_map("webhook");
    h.insert(
        "webhook-signature",
        HeaderValue::from_bytes(b"v1,\xffabc").unwrap(),
    );
    assert_eq!(
        verifier().verify(&h, BODY, at(TS)),
        Err(VerifyError::UnreadableHeader("webhook-signature"))
    );
}

#[test]
fn signature_header_without_a_v1_entry_is_bad() {
    let ts = TS.to_string();
    for header in ["v2,AAAA", "garbage", "v1,***", "   "] {
        assert_eq!(
            verifier().verify_headers(WebhookHeaders::new(ID, &ts, header), BODY, at(TS)),
            Err(VerifyError::BadSignatureHeader),
            "{header:?}"
        );
    }
}

#[test]
fn wrong_secret_finds_no_matching_signature() {
    let ts = TS.to_string();
    let sig = v1(OTHER_SECRET, ID, &ts, BODY);
    let err = verifier()
        .verify(&map("svix", ID, &ts, &sig), BODY, at(TS))
        .unwrap_err();
    assert_eq!(err, VerifyError::NoMatchingSignature);
    // A well-formed v1 entry of the wrong length is simply not a match.
    let short = verifier().verify_headers(WebhookHeaders::new(ID, &ts, "v1,AAAA"), BODY, at(TS));
    assert_eq!(short, Err(VerifyError::NoMatchingSignature));
}

#[test]
fn bad_timestamps_are_rejected_after_an_authentic_signature() {
    for ts in [
        "17098272OO",
        "-1709827200",
        "+1709827200",
        "1709827200.5",
        " 1709827200",
    ] {
        let sig = v1(SECRET, ID, ts, BODY);
        assert_eq!(
            verifier().verify_headers(WebhookHeaders::new(ID, ts, &sig), BODY, at(TS)),
            Err(VerifyError::BadTimestamp),
            "{ts:?}"
        );
    }
    // Milliseconds instead of seconds: a valid number far in the future.
    let ms = (TS * 1000).to_string();
    let sig = v1(SECRET, ID, &ms, BODY);
    assert!(matches!(
        verifier().verify_headers(WebhookHeaders::new(ID, &ms, &sig), BODY, at(TS)),
        Err(VerifyError::TooNew { .. })
    ));
}

#[test]
fn stale_forgery_reports_the_signature_not_the_age() {
    // The signature is checked first: a forged old delivery says nothing about time.
    let ts = (TS - 3600).to_string();
    let sig = v1(OTHER_SECRET, ID, &ts, BODY);
    assert_eq!(
        verifier().verify_headers(WebhookHeaders::new(ID, &ts, &sig), BODY, at(TS)),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn authentic_body_that_is_not_the_event_is_a_body_error() {
    let ts = TS.to_string();
    let cases: [(&[u8], &str); 3] = [
        (br#"{"eventType":"video.generation.completed","generationId":"gen_1","status":5}"#, "status"),
        (br#"{"eventType":"video.generation.completed","generationId":"a/b","status":"completed"}"#, "generationId"),
        (br#""a string""#, "."),
    ];
    for (body, want_path) in cases {
        let sig = v1(SECRET, ID, &ts, body);
        match verifier().verify_headers(WebhookHeaders::new(ID, &ts, &sig), body, at(TS)) {
            Err(VerifyError::Body { path, message }) => {
                assert_eq!(path, want_path);
                assert!(!message.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }
    // The same body passes the signature-only check.
    let body = b"[1,2,3]";
    let sig = v1(SECRET, ID, &ts, body);
    verifier()
        .verify_signature(WebhookHeaders::new(ID, &ts, &sig), body, at(TS))
        .unwrap();
}

#[test]
fn bad_secrets_become_bad_secret_errors_without_the_secret() {
    fn build(s: &str) -> Result<Verifier, VerifyError> {
        Ok(Verifier::new(s.parse::<WebhookSecret>()?))
    }
    for (s, want) in [
        (
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            SecretError::MissingPrefix,
        ),
        ("whsec_", SecretError::Empty),
        (
            "whsec_MfKQ9r8G*YqrTw",
            SecretError::NotBase64 { position: Some(14) },
        ),
        (
            "whsec_MfKQ9r8GKYqrTw\n",
            SecretError::Whitespace { position: 20 },
        ),
    ] {
        let err = build(s).unwrap_err();
        assert_eq!(err, VerifyError::BadSecret(want));
        assert!(!err.to_string().contains("MfKQ9r8G"), "{err}");
    }
}

#[test]
fn secrets_never_print() {
    let v = verifier();
    let text = format!(
        "{v:?} {:?} {}",
        v.clone(),
        SECRET.parse::<WebhookSecret>().unwrap()
    );
    assert!(!text.contains("MfKQ9r8G"), "{text}");
}

#[test]
fn sign_helper_matches_the_independent_signature() {
    let secret: WebhookSecret = SECRET.parse().unwrap();
    let signed = sign(&secret, ID, at(TS) + Duration::from_millis(999), BODY);
    assert_eq!(signed.id(), ID);
    assert_eq!(signed.timestamp(), TS.to_string());
    assert_eq!(signed.signature(), v1(SECRET, ID, &TS.to_string(), BODY));
    let map = signed.header_map().unwrap();
    assert_eq!(map.get("svix-signature").unwrap(), signed.signature());
    verifier().verify(&map, BODY, at(TS)).unwrap();
}

#[test]
fn whole_http_request_verifies() {
    let ts = TS.to_string();
    let request = http::Request::post("/hooks")
        .header("webhook-id", ID)
        .header("webhook-timestamp", &ts)
        .header("webhook-signature", v1(SECRET, ID, &ts, BODY))
        .body(BODY.to_vec())
        .unwrap();
    let event = verifier().verify_request(&request, at(TS)).unwrap();
    assert_eq!(event.generation_id().as_str(), "gen_abc123xyz");
    let (parts, mut body) = request.into_parts();
    body[0] = b' ';
    let tampered = http::Request::from_parts(parts, body);
    assert_eq!(
        verifier().verify_request(&tampered, at(TS)),
        Err(VerifyError::NoMatchingSignature)
    );
}
