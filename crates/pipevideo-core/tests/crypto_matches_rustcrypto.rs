//! Webhook signatures are made and checked with `hmac-sha256` (one crate with no dependencies,
//! where RustCrypto's `hmac` + `sha2` + `subtle` brought nine). On random secrets, ids and
//! bodies, `webhook::sign` must give the tag `hmac`/`sha2` (dev-dependencies only) give, and
//! the verifier must accept it and refuse it with any one bit flipped.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use pipevideo_core::webhook::{Verifier, VerifyError, WebhookHeaders, WebhookSecret, sign};
use proptest::prelude::*;
use sha2::Sha256;

proptest! {
    #[test]
    fn signatures_match_rustcrypto(
        secret in prop::collection::vec(any::<u8>(), 1..200),
        id in "msg_[a-zA-Z0-9]{1,20}",
        body in prop::collection::vec(any::<u8>(), 0..300),
        flip in 0usize..256,
    ) {
        let b64 = base64::engine::general_purpose::STANDARD;
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut mac = Hmac::<Sha256>::new_from_slice(&secret).unwrap();
        mac.update(format!("{id}.1700000000.").as_bytes());
        mac.update(&body);
        let want = mac.finalize().into_bytes();
        let secret = WebhookSecret::from_bytes(secret).unwrap();
        let signed = sign(&secret, &id, at, &body);
        prop_assert_eq!(signed.signature(), format!("v1,{}", b64.encode(want)));

        let verifier = Verifier::new(secret);
        fn headers<'a>(id: &'a str, signature: &'a str) -> WebhookHeaders<'a> {
            WebhookHeaders::new(id, "1700000000", signature)
        }
        prop_assert!(verifier.verify_signature(headers(&id, signed.signature()), &body, at).is_ok());
        let mut wrong = want;
        wrong[flip / 8] ^= 1 << (flip % 8);
        let wrong = format!("v1,{}", b64.encode(wrong));
        prop_assert!(matches!(
            verifier.verify_signature(headers(&id, &wrong), &body, at),
            Err(VerifyError::NoMatchingSignature)
        ));
        // A wrong entry next to the right one (rotation) still passes.
        let both = format!("{wrong} {}", signed.signature());
        prop_assert!(verifier.verify_signature(headers(&id, &both), &body, at).is_ok());
    }
}
