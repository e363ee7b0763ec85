//! Fuzz-style properties: whatever arrives (headers, bodies, secrets, clocks), verification
//! returns a typed answer and never panics; authentic deliveries always pass and any one-byte
//! change to them always fails. Fixed seeds, so runs are reproducible.

use std::time::{Duration, SystemTime};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use pipevideo_core::webhook::{Verifier, VerifyError, WebhookHeaders, WebhookSecret};
use proptest::{prelude::*, test_runner::RngSeed};
use sha2::Sha256;

fn config(seed: u64) -> ProptestConfig {
    ProptestConfig {
        cases: 512,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

fn v1(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

fn verifier(key: &[u8]) -> Verifier {
    Verifier::new(WebhookSecret::from_bytes(key.to_vec()).unwrap())
}

fn any_time() -> impl Strategy<Value = SystemTime> {
    (0u64..=u64::from(u32::MAX) * 4).prop_map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
}

/// Header names that matter, plus noise.
fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("svix-id".to_owned()),
        Just("svix-timestamp".to_owned()),
        Just("svix-signature".to_owned()),
        Just("webhook-id".to_owned()),
        Just("webhook-timestamp".to_owned()),
        Just("webhook-signature".to_owned()),
        "[a-z-]{1,12}",
    ]
}

/// Header values: plausible ones and arbitrary bytes.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[0-9]{0,25}".prop_map(String::into_bytes),
        "(v[0-9a-z]{0,2},[A-Za-z0-9+/=]{0,60} ?){0,4}".prop_map(String::into_bytes),
        proptest::collection::vec(any::<u8>(), 0..80),
    ]
}

fn any_body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        r#"\{("[a-zA-Z_]{1,12}":("[ -~]{0,20}"|null|[0-9]{1,5}),?){0,6}\}"#
            .prop_map(String::into_bytes),
        (
            "[ -~]{0,12}",
            "[ -~]{0,12}",
            prop_oneof![Just("completed"), Just("failed"), Just("x")],
        )
            .prop_map(|(ty, id, status)| {
                serde_json::json!({ "eventType": ty, "generationId": id, "status": status })
                    .to_string()
                    .into_bytes()
            }),
    ]
}

proptest! {
    #![proptest_config(config(0x00c0_ffee))]

    #[test]
    fn random_header_maps_and_bodies_never_panic(
        headers in proptest::collection::vec((header_name(), header_value()), 0..8),
        body in any_body(),
        now in any_time(),
        tolerance in 0u64..100_000,
    ) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(&value)) {
                map.append(n, v);
            }
        }
        let v = verifier(b"key").with_tolerance(Duration::from_secs(tolerance));
        // Random headers never carry a valid signature under this key.
        prop_assert!(v.verify(&map, &body, now).is_err());
    }

    #[test]
    fn random_header_strings_never_panic(
        id in "\\PC{0,30}",
        ts in prop_oneof!["\\PC{0,25}", "[0-9]{0,30}"],
        sig in "\\PC{0,120}",
        body in any_body(),
        now in any_time(),
    ) {
        let result = verifier(b"key").verify_headers(WebhookHeaders::new(&id, &ts, &sig), &body, now);
        prop_assert!(result.is_err());
    }

    #[test]
    fn random_secrets_never_panic_and_never_leak(s in "\\PC{0,60}") {
        if let Err(e) = s.parse::<WebhookSecret>() {
            let text = format!("{e} {e:?}");
            // The message never repeats the input when there is something to repeat.
            if s.len() > 8 {
                prop_assert!(!text.contains(&s));
            }
        }
    }

    #[test]
    fn authentic_deliveries_pass_the_signature_and_one_byte_changes_fail(
        key in proptest::collection::vec(any::<u8>(), 1..64),
        id in "[A-Za-z0-9_]{1,30}",
        secs in 0u64..4_000_000_000,
        skew in -300i64..=300,
        body in any_body(),
        flip in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let ts = secs.to_string();
        let sig = v1(&key, &id, &ts, &body);
        let sent = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        let now = if skew >= 0 {
            sent + Duration::from_secs(skew.unsigned_abs())
        } else {
            sent - Duration::from_secs(skew.unsigned_abs())
        };
        let v = verifier(&key);
        let headers = WebhookHeaders::new(&id, &ts, &sig);
        prop_assert_eq!(v.verify_signature(headers, &body, now), Ok(sent));
        // Full verification either decodes the event or says the body is not the event.
        match v.verify_headers(headers, &body, now) {
            Ok(event) => prop_assert_eq!(event.delivery_id(), id.as_str()),
            Err(VerifyError::Body { .. }) => {}
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
        if !body.is_empty() {
            let mut tampered = body.clone();
            tampered[flip.index(body.len())] ^= 1 << bit;
            prop_assert_eq!(
                v.verify_signature(headers, &tampered, now),
                Err(VerifyError::NoMatchingSignature)
            );
        }
    }
}
