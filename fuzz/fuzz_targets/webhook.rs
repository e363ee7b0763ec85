//! Webhook verification over any headers (either spelling), any body, any receipt time and
//! tolerance, and secrets parsed from any string: never panics, never accepts a forgery,
//! and no error ever contains the secret. Secrets are decoded by the core's own base64
//! (`webhook/b64.rs`): every string must parse as the `base64` crate it replaced decodes it
//! (standard alphabet, padding optional).
//!
//! Input layout: byte 0 flags, bytes 1..9 receipt time (seconds), bytes 9..13 tolerance
//! (seconds), then `\n`-separated: id, timestamp, signature, secret string, body (the rest).
#![no_main]

use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderName, HeaderValue};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use libfuzzer_sys::fuzz_target;
use pipevideo_core::webhook::{SecretError, Verifier, VerifyError, WebhookHeaders, WebhookSecret};

/// The decoder the core used before its own: what a secret must still decode to.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The fixed secret most inputs are checked against (`whsec_` + base64 of these bytes).
const KEY: &[u8] = b"pipevideo-fuzz-webhook-secret-key";
const KEY_B64: &str = "cGlwZXZpZGVvLWZ1enotd2ViaG9vay1zZWNyZXQta2V5";

fuzz_target!(|data: &[u8]| {
    let [
        flags,
        n0,
        n1,
        n2,
        n3,
        n4,
        n5,
        n6,
        n7,
        t0,
        t1,
        t2,
        t3,
        rest @ ..,
    ] = data
    else {
        return;
    };
    let now_secs = u64::from_le_bytes([*n0, *n1, *n2, *n3, *n4, *n5, *n6, *n7]) >> (flags & 0x1f);
    let now = SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(now_secs))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let tolerance = Duration::from_secs(u64::from(u32::from_le_bytes([*t0, *t1, *t2, *t3])));
    let mut parts = rest.splitn(5, |&b| b == b'\n');
    let id = parts.next().unwrap_or_default();
    let timestamp = parts.next().unwrap_or_default();
    let signature = parts.next().unwrap_or_default();
    let secret_text = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();

    // Secrets from any string: typed errors that never echo the secret.
    if let Ok(text) = std::str::from_utf8(secret_text) {
        if let Some(encoded) = text.strip_prefix("whsec_") {
            if !encoded.is_empty() && !text.contains(char::is_whitespace) {
                match (BASE64.decode(encoded), WebhookSecret::new(text)) {
                    (Ok(key), Ok(secret)) => assert_eq!(secret.expose(), key.as_slice()),
                    (Ok(key), Err(SecretError::Empty)) => assert!(key.is_empty()),
                    (Err(_), Err(SecretError::NotBase64 { .. })) => {}
                    (before, now) => panic!(
                        "the core's base64 disagrees with the base64 crate: {} vs {}",
                        before.is_ok(),
                        now.is_ok()
                    ),
                }
            }
        }
        match WebhookSecret::new(text) {
            Ok(s) => {
                let secret_part = text.strip_prefix("whsec_").unwrap_or(text);
                if secret_part.len() >= 6 {
                    assert!(!format!("{s:?} {s}").contains(secret_part));
                }
            }
            Err(e) => {
                let shown = format!("{e} {e:?}");
                let secret_part = text.strip_prefix("whsec_").unwrap_or(text);
                if secret_part.len() >= 6 {
                    assert!(
                        !shown.contains(secret_part),
                        "error echoes the secret: {shown}"
                    );
                }
            }
        }
    }

    let secret = WebhookSecret::from_bytes(KEY.to_vec()).expect("non-empty key");
    assert_eq!(
        WebhookSecret::new(&format!("whsec_{KEY_B64}"))
            .ok()
            .as_ref(),
        Some(&secret)
    );
    let verifier = Verifier::new(secret.clone()).with_tolerance(tolerance);

    // The header map, under the Svix or the Standard Webhooks names (or both).
    let mut headers = HeaderMap::new();
    let names: [(&[u8], [&str; 2]); 3] = [
        (id, ["svix-id", "webhook-id"]),
        (timestamp, ["svix-timestamp", "webhook-timestamp"]),
        (signature, ["svix-signature", "webhook-signature"]),
    ];
    for (i, (value, spellings)) in names.iter().enumerate() {
        let Ok(v) = HeaderValue::from_bytes(value) else {
            continue;
        };
        if flags & (0x20 << i) == 0 {
            headers.insert(HeaderName::from_static(spellings[0]), v);
        } else {
            headers.insert(HeaderName::from_static(spellings[1]), v);
        }
    }
    let from_map = verifier.verify(&headers, body, now);
    check_error_secrecy(&from_map);

    // The same values as plain strings.
    let (Ok(id), Ok(timestamp), Ok(signature)) = (
        std::str::from_utf8(id),
        std::str::from_utf8(timestamp),
        std::str::from_utf8(signature),
    ) else {
        return;
    };
    let result = verifier.verify_headers(WebhookHeaders::new(id, timestamp, signature), body, now);
    check_error_secrecy(&result);
    // Nothing here was signed with the key (the fuzzer cannot compute an HMAC without it),
    // so an acceptance would be a forgery.
    assert!(result.is_err(), "accepted an unsigned delivery");
    assert!(from_map.is_err(), "accepted an unsigned delivery");
});

fn check_error_secrecy<T>(result: &Result<T, VerifyError>) {
    if let Err(e) = result {
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains(KEY_B64) && !shown.contains("pipevideo-fuzz-webhook"));
    }
}
