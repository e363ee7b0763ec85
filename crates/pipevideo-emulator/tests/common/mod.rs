//! A small HTTP client for the protocol tests (hyper-util's client; one connection per request).
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::HeaderMap;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use pipevideo_emulator::{Emulator, EmulatorBuilder};
use serde_json::Value;

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends one request; `Err` when the exchange itself failed (reset, truncated body...).
pub async fn try_send(
    method: &str,
    url: &str,
    key: Option<&str>,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> Result<Resp, String> {
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(0)
        .build_http::<Full<Bytes>>();
    let mut req = hyper::Request::builder().method(method).uri(url);
    if let Some(k) = key {
        req = req.header("authorization", format!("Bearer {k}"));
    }
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let payload = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Bytes::from(b.to_string())
        }
        None => Bytes::new(),
    };
    let req = req.body(Full::new(payload)).map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(20), client.request(req))
        .await
        .map_err(|_| "timeout".to_owned())?
        .map_err(|e| format!("request: {e}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("body: {e}"))?
        .to_bytes();
    Ok(Resp {
        status,
        headers,
        body,
    })
}

/// A control-plane request (`/_emulator/...`) with the run's token.
pub async fn control(emu: &Emulator, method: &str, path: &str, body: Option<&Value>) -> Resp {
    let url = format!("{}{path}", emu.origin());
    try_send(
        method,
        &url,
        None,
        &[("x-emulator-token", emu.control_token())],
        body,
    )
    .await
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

pub async fn send(method: &str, url: &str, key: Option<&str>, body: Option<&Value>) -> Resp {
    try_send(method, url, key, &[], body)
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

pub async fn get(emu: &Emulator, path: &str, key: Option<&str>) -> Resp {
    send("GET", &format!("{}{path}", emu.base_url()), key, None).await
}

pub async fn post(emu: &Emulator, path: &str, key: Option<&str>, body: &Value) -> Resp {
    send(
        "POST",
        &format!("{}{path}", emu.base_url()),
        key,
        Some(body),
    )
    .await
}

/// A fast emulator: a minute is 0.6 s, every generation takes exactly 10 emulated seconds (0.1 s),
/// no random failures.
pub fn fast() -> EmulatorBuilder {
    Emulator::builder()
        .time_scale(0.01)
        .seed(42)
        .failure_rate(0.0)
        .durations(pipevideo_emulator::DurationDistribution::Fixed(
            Duration::from_secs(10),
        ))
}

pub fn create_body(prompt: &str) -> Value {
    serde_json::json!({ "model": "moonshotai/kimi-k2.5", "input": prompt })
}

pub fn legacy_body(prompt: &str) -> Value {
    serde_json::json!({ "model": "google/veo-3.1", "prompt": prompt })
}

/// Polls `path` until its status is terminal (bounded: 200 polls 20 ms apart).
pub async fn wait_terminal(emu: &Emulator, path: &str) -> Value {
    for _ in 0..200 {
        let v = get(emu, path, Some(emu.demo_key())).await.json();
        if matches!(v["status"].as_str(), Some("completed" | "failed")) {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{path} never reached a terminal status");
}
