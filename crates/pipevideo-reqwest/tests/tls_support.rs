//! What a build of this crate says about TLS, with whatever features it was built with: the
//! standalone CI step runs this file with no features, with `rustls` alone and with
//! `native-tls` alone, so each answer below is checked in the build that gives it.

use pipevideo_core::client::Client;
use pipevideo_core::transport::HttpClient;
#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
use pipevideo_core::transport::{FailureKind, SendOptions};
use pipevideo_core::{ApiKey, BaseUrl, Error, InputError};
use pipevideo_reqwest::ReqwestTransport;

const HAS_TLS: bool = cfg!(any(feature = "rustls", feature = "native-tls"));
const REMEDY: &str = "enable the `rustls` or `native-tls` feature of `pipevideo`";

fn key() -> ApiKey {
    ApiKey::new("pv_0123456789abcdef").unwrap()
}

#[tokio::test]
async fn an_https_base_url_is_refused_at_build_time_exactly_when_no_tls_feature_is_on() {
    let transport = ReqwestTransport::new().unwrap();
    assert_eq!(transport.tls_support().is_ok(), HAS_TLS);

    // The default base URL is https://api.pipevideo.co/v1.
    let refusal = match Client::builder(transport.clone()).api_key(key()).build() {
        Ok(_) => None,
        Err(Error::Input(InputError::Tls(missing))) => Some(missing.to_string()),
        Err(other) => panic!("unexpected error: {other:?}"),
    };
    assert_eq!(refusal.is_some(), !HAS_TLS, "{refusal:?}");
    if let Some(message) = refusal {
        assert!(message.contains(REMEDY), "{message}");
    }

    // Plain http:// builds either way.
    Client::builder(transport)
        .api_key(key())
        .base_url(BaseUrl::parse("http://127.0.0.1:3001/v1").unwrap())
        .build()
        .unwrap();
}

/// Only in a build without TLS (with TLS, the request would try to connect: the conformance
/// suite's business).
#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
#[tokio::test]
async fn without_tls_an_https_request_fails_at_once_and_is_never_retried() {
    let transport = ReqwestTransport::new().unwrap();
    // Port 9 (discard) on loopback: never reached, the transport refuses first.
    let request = http::Request::get("https://127.0.0.1:9/video.mp4")
        .body(Vec::new())
        .unwrap();
    let error = transport
        .send(request, SendOptions::new())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), FailureKind::Permanent);
    assert!(error.message().contains(REMEDY), "{error}");
}
