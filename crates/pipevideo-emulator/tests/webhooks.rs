//! Webhook delivery with the Svix signature checked independently, and retries with the same id.

mod common;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use common::*;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use pipevideo_emulator::{FailureCause, WebhookConfig};
use serde_json::Value;
use sha2::Sha256;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: Bytes,
}

/// A receiver on loopback that answers 500 to the first `fail_first` deliveries, then 200.
async fn receiver(fail_first: usize) -> (String, Arc<Mutex<Vec<Received>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/pipevideo", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let store = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let store = Arc::clone(&store);
                    async move {
                        let h = |n: &str| {
                            req.headers()
                                .get(n)
                                .map(|v| v.to_str().unwrap().to_owned())
                                .unwrap_or_default()
                        };
                        let (id, timestamp, signature) =
                            (h("svix-id"), h("svix-timestamp"), h("svix-signature"));
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let n = {
                            let mut s = store.lock().unwrap();
                            s.push(Received {
                                id,
                                timestamp,
                                signature,
                                body,
                            });
                            s.len()
                        };
                        let status = if n <= fail_first { 500 } else { 200 };
                        Ok::<_, Infallible>(
                            hyper::Response::builder()
                                .status(status)
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (url, seen)
}

/// Verification written here from the Standard Webhooks spec, not borrowed from the emulator.
fn verify(secret: &str, r: &Received) -> bool {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(r.id.as_bytes());
    mac.update(b".");
    mac.update(r.timestamp.as_bytes());
    mac.update(b".");
    mac.update(&r.body);
    let expected = mac.finalize().into_bytes();
    r.signature.split(' ').any(|entry| {
        entry
            .strip_prefix("v1,")
            .and_then(|b64| STANDARD.decode(b64).ok())
            .is_some_and(|sig| sig.as_slice() == expected.as_slice())
    })
}

async fn wait_for(seen: &Arc<Mutex<Vec<Received>>>, n: usize) -> Vec<Received> {
    for _ in 0..300 {
        let s = seen.lock().unwrap().clone();
        if s.len() >= n {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "only {} of {n} deliveries arrived",
        seen.lock().unwrap().len()
    );
}

#[tokio::test]
async fn completed_generations_are_delivered_signed_and_retried_with_the_same_id() {
    let (url, seen) = receiver(1).await;
    // Attempts at 0, then 10 emulated seconds later (0.1 s real).
    let hooks = WebhookConfig::new(SECRET)
        .endpoint(url.clone())
        .schedule(vec![
            Duration::ZERO,
            Duration::from_secs(10),
            Duration::from_secs(10),
        ]);
    let emu = fast().webhooks(hooks).start().await.unwrap();
    let c = post(
        &emu,
        "/responses",
        Some(emu.demo_key()),
        &create_body("hooked"),
    )
    .await
    .json();
    let id = c["id"].as_str().unwrap().to_owned();

    let got = wait_for(&seen, 2).await;
    assert_eq!(got[0].id, got[1].id, "a retry keeps its svix-id");
    assert!(got[0].id.starts_with("msg_"));
    assert_eq!(got[0].body, got[1].body);
    for r in &got {
        assert!(verify(SECRET, r), "signature of {r:?}");
        assert!(!verify("whsec_d3JvbmcgZ3Vlc3M=", r), "a wrong secret fails");
        let ts: u64 = r.timestamp.parse().unwrap();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(
            now.abs_diff(ts) <= 5,
            "real Unix seconds, within the 5-minute tolerance"
        );
    }
    let payload: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(payload["eventType"], "video.generation.completed");
    assert_eq!(payload["generationId"], id.as_str());
    assert_eq!(payload["status"], "completed");
    assert!(
        payload["outputUrl"]
            .as_str()
            .unwrap()
            .contains(&format!("/files/{id}.mp4"))
    );
    assert_eq!(payload["errorMessage"], Value::Null);

    tokio::time::sleep(Duration::from_millis(150)).await;
    let attempts = emu.webhook_deliveries();
    assert_eq!(
        attempts
            .iter()
            .map(|a| (a.attempt, a.status))
            .collect::<Vec<_>>(),
        [(1, Some(500)), (2, Some(200))]
    );
    assert!(
        attempts[1].elapsed_ms - attempts[0].elapsed_ms >= 100,
        "scaled 10 s = 100 ms apart"
    );
    assert_eq!(seen.lock().unwrap().len(), 2, "no attempt after a 2xx");
}

#[tokio::test]
async fn failed_generations_carry_the_error_message() {
    let (url, seen) = receiver(0).await;
    let emu = fast()
        .webhooks(WebhookConfig::new(SECRET).endpoint(url))
        .start()
        .await
        .unwrap();
    let c = post(
        &emu,
        "/video/generations",
        Some(emu.demo_key()),
        &legacy_body("x [fail:provider_timeout]"),
    )
    .await
    .json();
    let got = wait_for(&seen, 1).await;
    assert!(verify(SECRET, &got[0]));
    let payload: Value = serde_json::from_slice(&got[0].body).unwrap();
    assert_eq!(payload["generationId"], c["id"]);
    assert_eq!(payload["status"], "failed");
    assert_eq!(payload["outputUrl"], Value::Null);
    assert_eq!(
        payload["errorMessage"],
        FailureCause::ProviderTimeout.message()
    );
}

#[tokio::test]
async fn an_unreachable_endpoint_is_retried_then_given_up() {
    // A port nobody listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hooks = WebhookConfig::new(SECRET)
        .endpoint(format!("http://127.0.0.1:{port}/gone"))
        .schedule(vec![
            Duration::ZERO,
            Duration::from_secs(1),
            Duration::from_secs(1),
        ]);
    let emu = fast().webhooks(hooks).start().await.unwrap();
    post(&emu, "/responses", Some(emu.demo_key()), &create_body("x")).await;
    for _ in 0..200 {
        if emu.webhook_deliveries().len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let attempts = emu.webhook_deliveries();
    assert_eq!(attempts.len(), 3);
    assert!(
        attempts
            .iter()
            .all(|a| a.status.is_none() && a.error.is_some())
    );
    assert!(attempts.iter().all(|a| a.svix_id == attempts[0].svix_id));
}

#[tokio::test]
async fn rotated_secrets_sign_twice_and_duplicates_share_the_id() {
    const OLD: &str = "whsec_b2xkLXNlY3JldC1zdGlsbC1hY2NlcHRlZA==";
    let (url, seen) = receiver(0).await;
    let hooks = WebhookConfig::new(SECRET)
        .also_sign_with(OLD)
        .duplicate_deliveries(true)
        .endpoint(url);
    let emu = fast().webhooks(hooks).start().await.unwrap();
    post(&emu, "/responses", Some(emu.demo_key()), &create_body("x")).await;
    let got = wait_for(&seen, 2).await;
    for r in &got {
        assert_eq!(r.signature.split(' ').count(), 2, "{}", r.signature);
        assert!(verify(SECRET, r) && verify(OLD, r));
    }
    assert_eq!(got[0].id, got[1].id);
    assert_eq!(got[0].body, got[1].body);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(seen.lock().unwrap().len(), 2, "exactly one duplicate");
}
