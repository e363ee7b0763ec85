//! Webhook delivery: Svix-signed `video.generation.completed` events, retried with the same id.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use sha2::Sha256;

use crate::log::WebhookAttempt;
use crate::state::{Phase, Shared, lock, random_id};

/// `v1,<base64 HMAC-SHA256>` of `"{id}.{timestamp}.{body}"`, keyed by the secret after `whsec_`,
/// base64-decoded (a secret that is not valid base64 is used as raw bytes).
pub(crate) fn signature(secret: &str, msg_id: &str, timestamp: u64, body: &str) -> String {
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = STANDARD
        .decode(raw)
        .unwrap_or_else(|_| raw.as_bytes().to_vec());
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC accepts any key length");
    mac.update(format!("{msg_id}.{timestamp}.{body}").as_bytes());
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// Schedules the event for generation `id` at its terminal time, if webhooks are configured.
pub(crate) fn schedule(shared: &Arc<Shared>, id: String) {
    let Some(cfg) = &shared.settings.webhooks else {
        return;
    };
    if cfg.endpoints.is_empty() {
        return;
    }
    let Some(fire_at) = lock(&shared.state).generation(&id).map(|g| g.terminal_at()) else {
        return;
    };
    let task = tokio::spawn(deliver(Arc::clone(shared), id, fire_at));
    let mut tasks = lock(&shared.tasks);
    tasks.retain(|t| !t.is_finished());
    tasks.push(task.abort_handle());
}

async fn deliver(shared: Arc<Shared>, id: String, fire_at: std::time::Instant) {
    tokio::time::sleep_until(fire_at.into()).await;
    let now = std::time::Instant::now();
    let (body, msg_id) = {
        let mut st = lock(&shared.state);
        let Some(g) = st.generation(&id).cloned() else {
            return;
        };
        let failed = g.phase(now) == Phase::Failed;
        let body = json!({
            "eventType": "video.generation.completed",
            "generationId": g.id,
            "status": if failed { "failed" } else { "completed" },
            "outputUrl": if failed { None } else { Some(shared.video_url(&g.id).0) },
            "errorMessage": if failed { g.failure.map(|c| c.message()) } else { None },
        })
        .to_string();
        (body, random_id(&mut st.rng, "msg_", 24))
    };
    let Some(cfg) = &shared.settings.webhooks else {
        return;
    };
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut handles = Vec::new();
    for endpoint in &cfg.endpoints {
        let fut = deliver_to(
            Arc::clone(&shared),
            client.clone(),
            endpoint.clone(),
            msg_id.clone(),
            id.clone(),
            body.clone(),
        );
        handles.push(tokio::spawn(fut));
    }
    for h in handles {
        let _ = h.await;
    }
}

async fn deliver_to(
    shared: Arc<Shared>,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    endpoint: String,
    msg_id: String,
    generation_id: String,
    body: String,
) {
    let Some(cfg) = &shared.settings.webhooks else {
        return;
    };
    let mut delays: Vec<Duration> = cfg.schedule.clone();
    let mut duplicate_pending = cfg.duplicate;
    let mut n = 0;
    while n < delays.len() {
        tokio::time::sleep(shared.real(delays[n])).await;
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let request = hyper::Request::post(endpoint.as_str())
            .header("content-type", "application/json")
            .header("user-agent", "Svix-Webhooks/1.0 (pipevideo-emulator)")
            .header("svix-id", msg_id.as_str())
            .header("svix-timestamp", ts.to_string())
            .header("svix-signature", {
                let mut sig = signature(&cfg.secret, &msg_id, ts, &body);
                for extra in &cfg.extra_secrets {
                    sig.push(' ');
                    sig.push_str(&signature(extra, &msg_id, ts, &body));
                }
                sig
            })
            .body(Full::new(Bytes::from(body.clone())));
        let (status, error) = match request {
            Err(e) => (None, Some(format!("invalid endpoint: {e}"))),
            Ok(request) => {
                match tokio::time::timeout(Duration::from_secs(15), client.request(request)).await {
                    Ok(Ok(resp)) => (Some(resp.status().as_u16()), None),
                    Ok(Err(e)) => (None, Some(e.to_string())),
                    Err(_) => (None, Some("timed out after 15 s".to_owned())),
                }
            }
        };
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        tracing::debug!(%endpoint, %msg_id, attempt = n + 1, ?status, "webhook attempt");
        lock(&shared.deliveries).push(WebhookAttempt {
            svix_id: msg_id.clone(),
            endpoint: endpoint.clone(),
            generation_id: generation_id.clone(),
            attempt: n as u32 + 1,
            elapsed_ms: shared.elapsed_ms(std::time::Instant::now()),
            status,
            error,
            body: body.clone(),
        });
        n += 1;
        if ok {
            if !duplicate_pending {
                return;
            }
            // One more delivery of the same message, right away, then stop.
            duplicate_pending = false;
            delays.truncate(n);
            delays.push(Duration::ZERO);
        }
    }
}
