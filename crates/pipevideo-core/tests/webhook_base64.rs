//! Webhook secrets are decoded by the core's own base64 (`webhook/b64.rs`, written to keep the
//! core within its dependency budget). Through the public API, on random strings, a secret
//! must parse exactly as it did when the `base64` crate (now a dev-dependency) decoded it:
//! standard alphabet, padding optional, the same key bytes, the same error and position.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use pipevideo_core::webhook::{SecretError, WebhookSecret};
use proptest::prelude::*;

const BEFORE: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What `WebhookSecret::new("whsec_" + encoded)` returned with the `base64` crate.
fn before(encoded: &str) -> Result<Vec<u8>, SecretError> {
    if encoded.is_empty() {
        return Err(SecretError::Empty);
    }
    let key = BEFORE.decode(encoded).map_err(|e| {
        let position = match e {
            base64::DecodeError::InvalidByte(offset, _)
            | base64::DecodeError::InvalidLastSymbol(offset, _) => Some("whsec_".len() + offset),
            _ => None,
        };
        SecretError::NotBase64 { position }
    })?;
    if key.is_empty() {
        return Err(SecretError::Empty);
    }
    Ok(key)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn secrets_parse_as_with_the_base64_crate(encoded in "[A-Za-z0-9+/=_!-]{0,30}") {
        let now = WebhookSecret::new(&format!("whsec_{encoded}")).map(|s| s.expose().to_vec());
        prop_assert_eq!(now, before(&encoded));
    }

    #[test]
    fn encoded_keys_round_trip(key in prop::collection::vec(any::<u8>(), 1..64), pad in any::<bool>()) {
        let mut encoded = BEFORE.encode(&key);
        if !pad {
            encoded = encoded.trim_end_matches('=').to_owned();
        }
        let secret = WebhookSecret::new(&format!("whsec_{encoded}")).unwrap();
        prop_assert_eq!(secret.expose(), key.as_slice());
    }
}
