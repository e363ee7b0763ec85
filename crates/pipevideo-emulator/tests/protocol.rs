//! Every documented endpoint over plain HTTP, with realistic state and the documented units.

mod common;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use pipevideo_emulator::{
    DEMO_ORG, DurationDistribution, Emulator, ErrorShape, FailureCause, fingerprint,
};
use serde_json::{Value, json};

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn is_gen_id(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        s.strip_prefix("gen_")
            .is_some_and(|rest| rest.len() == 24 && rest.chars().all(|c| c.is_ascii_alphanumeric()))
    })
}

#[tokio::test]
async fn engines_need_no_key_and_list_models_with_rates() {
    let emu = fast().start().await.unwrap();
    let r = get(&emu, "/engines", None).await;
    assert_eq!(r.status, 200);
    let v = r.json();
    let ids: Vec<&str> = v["engines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["hyperframes", "lottie", "auto"]);
    let model = &v["engines"][0]["models"][0];
    assert_eq!(model["id"], "moonshotai/kimi-k2.5");
    assert!(model["input_per_million_usd"].as_f64().unwrap() > 0.0);
    assert!(model["output_per_million_usd"].as_f64().unwrap() > 0.0);
    // Unauthenticated requests are logged too, without a fingerprint.
    assert_eq!(emu.requests()[0].key_fingerprint, None);
}

#[tokio::test]
async fn responses_lifecycle_follows_the_scaled_clock() {
    let emu = fast()
        .durations(DurationDistribution::Fixed(Duration::from_secs(40)))
        .start()
        .await
        .unwrap();
    let key = emu.demo_key().to_owned();
    let before = now_s();
    let created = post(
        &emu,
        "/responses",
        Some(&key),
        &create_body("a fox in the snow"),
    )
    .await;
    assert_eq!(created.status, 200);
    let c = created.json();
    assert!(is_gen_id(&c["id"]), "{c}");
    assert_eq!(c["object"], "response");
    assert_eq!(c["status"], "queued");
    assert_eq!(c["model"], "moonshotai/kimi-k2.5");
    assert_eq!(c["engine"], "hyperframes");
    assert_eq!(c["provider"], "framerate");
    let created_at = c["created_at"].as_u64().unwrap();
    assert!(
        created_at >= before && created_at <= now_s(),
        "created_at is Unix seconds"
    );
    let id = c["id"].as_str().unwrap().to_owned();
    assert_eq!(c["output"][0]["id"], format!("{id}_msg"));
    assert_eq!(c["output"][0]["type"], "message");

    // 40 emulated seconds at 0.01 = 0.4 s real; queued for 3 emulated seconds = 30 ms.
    let path = format!("/responses/{id}");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mid = get(&emu, &path, Some(&key)).await.json();
    assert_eq!(mid["status"], "in_progress", "{mid}");
    assert_eq!(mid["video_url"], Value::Null);
    assert_eq!(mid["usage"], Value::Null);

    tokio::time::sleep(Duration::from_millis(350)).await;
    let done = get(&emu, &path, Some(&key)).await.json();
    assert_eq!(done["status"], "completed", "{done}");
    let url = done["video_url"].as_str().unwrap();
    let content = done["output"][0]["content"].as_array().unwrap();
    let video = content
        .iter()
        .find(|p| p["type"] == "output_video")
        .unwrap();
    assert_eq!(video["video_url"], url);
    assert_eq!(done["usage"]["cost_usd"], 0.12);
    assert_eq!(
        done["usage"]["total_tokens"].as_u64().unwrap(),
        done["usage"]["input_tokens"].as_u64().unwrap()
            + done["usage"]["output_tokens"].as_u64().unwrap()
    );
    // completed_at = created_at + the emulated 40 s.
    assert_eq!(done["completed_at"].as_u64().unwrap(), created_at + 40);
    assert_eq!(done["error"], Value::Null);
}

#[tokio::test]
async fn legacy_generations_use_legacy_words_and_units() {
    let emu = fast()
        .durations(DurationDistribution::Fixed(Duration::from_secs(40)))
        .start()
        .await
        .unwrap();
    let key = emu.demo_key().to_owned();
    let c = post(
        &emu,
        "/video/generations",
        Some(&key),
        &legacy_body("waves at dusk"),
    )
    .await
    .json();
    assert_eq!(c["status"], "pending");
    assert!(is_gen_id(&c["id"]));
    let created_at = c["created_at"].as_u64().unwrap();
    assert!(created_at.abs_diff(now_s()) <= 1);
    let path = format!("/video/generations/{}", c["id"].as_str().unwrap());
    let first = get(&emu, &path, Some(&key)).await.json();
    assert_eq!(first["status"], "pending");
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        get(&emu, &path, Some(&key)).await.json()["status"],
        "processing"
    );
    let done = wait_terminal(&emu, &path).await;
    assert_eq!(done["status"], "completed");
    assert!(done["output_url"].as_str().unwrap().contains("/files/"));
    assert_eq!(done["latency_ms"], 40_000);
    assert_eq!(
        done["cost_cents"], 200,
        "veo-3.1 at 40 cents/s for the default 5 s"
    );
    assert_eq!(done["error_message"], Value::Null);
    // completed_at is milliseconds: created_at (seconds, truncated) + the emulated 40 s.
    let completed_ms = done["completed_at"].as_u64().unwrap();
    let created_ms_floor = done["created_at"].as_u64().unwrap() * 1000;
    assert!(
        (created_ms_floor + 40_000..created_ms_floor + 41_000).contains(&completed_ms),
        "{done}"
    );
}

#[tokio::test]
async fn models_list_and_detail() {
    let emu = fast().start().await.unwrap();
    let key = emu.demo_key().to_owned();
    let list = get(&emu, "/models", Some(&key)).await.json();
    let models = list["models"].as_array().unwrap();
    let slugs: Vec<&str> = models.iter().map(|m| m["slug"].as_str().unwrap()).collect();
    assert_eq!(
        slugs,
        ["google/veo-3.1", "kling-kling-video-v3-pro", "veo-veo-3-1"]
    );
    assert!(
        models[0]["routes"][0]["provider"].is_string(),
        "list routes are strings"
    );
    assert_eq!(models[0]["maker"]["slug"], "google");

    for path in ["/models/google%2Fveo-3.1", "/models/google/veo-3.1"] {
        let one = get(&emu, path, Some(&key)).await;
        assert_eq!(one.status, 200, "{path}");
        let v = one.json();
        assert_eq!(v["model"]["slug"], "google/veo-3.1");
        assert_eq!(
            v["model"]["routes"][0]["provider"]["slug"], "fal",
            "detail routes are objects"
        );
        assert_eq!(v["metrics"]["totalRequests"], 0);
        assert_eq!(v["metrics"]["p50LatencyMs"], Value::Null);
    }
    let missing = get(&emu, "/models/nope%2Fnothing", Some(&key)).await;
    assert_eq!(missing.status, 404);
    assert!(
        missing.json()["message"]
            .as_str()
            .unwrap()
            .contains("nope/nothing")
    );
    assert_eq!(get(&emu, "/models", None).await.status, 401);
}

#[tokio::test]
async fn usage_reports_balance_totals_and_ms_times() {
    let emu = fast().start().await.unwrap();
    let key = emu.demo_key().to_owned();
    let empty = get(&emu, "/usage", Some(&key)).await.json();
    assert_eq!(empty["credit_balance"], 10_000);
    assert_eq!(empty["totals"]["total_requests"], 0);

    post(&emu, "/responses", Some(&key), &create_body("one")).await;
    post(
        &emu,
        "/responses",
        Some(&key),
        &create_body("two [fail:provider_failure]"),
    )
    .await;
    // While running: both charged.
    assert_eq!(
        get(&emu, "/usage", Some(&key)).await.json()["credit_balance"],
        10_000 - 24
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let v = get(&emu, "/usage", Some(&key)).await.json();
    assert_eq!(
        v["credit_balance"],
        10_000 - 12,
        "the failed one is refunded: {v}"
    );
    assert_eq!(
        v["totals"],
        json!({ "total_requests": 2, "completed_requests": 1, "failed_requests": 1, "total_cost_cents": 12 })
    );
    let day = &v["daily_usage"][0];
    assert_eq!(day["request_count"], 2);
    assert_eq!(day["date"].as_str().unwrap().len(), 10);
    assert_eq!(
        v["daily_usage_by_route"][0]["routes"][0]["provider"],
        "framerate"
    );
    let recent = v["recent_requests"].as_array().unwrap();
    assert_eq!(recent.len(), 2);
    let created_ms = recent[0]["created_at"].as_u64().unwrap();
    assert!(
        created_ms > 1_000_000_000_000,
        "recent_requests times are milliseconds"
    );
    assert_eq!(recent[0]["status"], "failed");
    assert_eq!(recent[0]["cost_cents"], 0);
    assert_eq!(
        recent[1]["completed_at"].as_u64().unwrap(),
        recent[1]["created_at"].as_u64().unwrap() + 10_000
    );
    // Another organization sees none of it.
    let other = get(&emu, "/usage", Some(emu.other_org_key())).await.json();
    assert_eq!(other["totals"]["total_requests"], 0);
    assert_eq!(emu.credits_cents(DEMO_ORG), 10_000 - 12);
}

#[tokio::test]
async fn auth_failures_are_401_with_their_messages() {
    let emu = fast().start().await.unwrap();
    let body = create_body("x");
    let cases: [(Option<String>, &str); 5] = [
        (None, "Missing API key"),
        (Some("pv_0000".into()), "Invalid API key"),
        (Some(format!(" {}", emu.demo_key())), "Invalid API key"),
        (Some(emu.expired_key().into()), "API key has expired"),
        (Some(emu.revoked_key().into()), "API key has been revoked"),
    ];
    for (key, message) in cases {
        for (method, path) in [
            ("POST", "/responses"),
            ("GET", "/usage"),
            ("GET", "/video/generations/gen_x"),
        ] {
            let r = send(
                method,
                &format!("{}{path}", emu.base_url()),
                key.as_deref(),
                (method == "POST").then_some(&body),
            )
            .await;
            assert_eq!(r.status, 401, "{method} {path} with {key:?}");
            assert!(
                r.json()["message"].as_str().unwrap().starts_with(message),
                "{}",
                r.json()
            );
        }
    }
    // The scheme is case-insensitive; a non-bearer scheme is no key at all.
    let url = format!("{}/usage", emu.base_url());
    let lower = format!("bearer {}", emu.demo_key());
    assert_eq!(
        try_send("GET", &url, None, &[("authorization", &lower)], None)
            .await
            .unwrap()
            .status,
        200
    );
    let basic = format!("Basic {}", emu.demo_key());
    assert_eq!(
        try_send("GET", &url, None, &[("authorization", &basic)], None)
            .await
            .unwrap()
            .status,
        401
    );
    // Revocation is immediate.
    assert_eq!(get(&emu, "/usage", Some(emu.demo_key())).await.status, 200);
    assert!(emu.revoke_key(emu.demo_key()));
    assert_eq!(get(&emu, "/usage", Some(emu.demo_key())).await.status, 401);
    // The log never holds a key, only its fingerprint.
    let log = emu.requests();
    let dump = serde_json::to_string(&log).unwrap();
    assert!(!dump.contains(emu.demo_key()) && !dump.contains(emu.expired_key()));
    assert_eq!(
        log.last().unwrap().key_fingerprint.as_deref(),
        Some(fingerprint(emu.demo_key()).as_str())
    );
    assert_eq!(
        log.last().unwrap().header("authorization").unwrap(),
        format!("Bearer {}", fingerprint(emu.demo_key()))
    );
}

#[tokio::test]
async fn other_organizations_generations_are_404() {
    let emu = fast().start().await.unwrap();
    let c = post(
        &emu,
        "/responses",
        Some(emu.demo_key()),
        &create_body("mine"),
    )
    .await
    .json();
    let id = c["id"].as_str().unwrap();
    for path in [
        format!("/responses/{id}"),
        format!("/video/generations/{id}"),
    ] {
        assert_eq!(get(&emu, &path, Some(emu.demo_key())).await.status, 200);
        let r = get(&emu, &path, Some(emu.other_org_key())).await;
        assert_eq!(r.status, 404);
        assert!(r.json()["message"].as_str().unwrap().contains("not found"));
    }
    assert_eq!(
        get(&emu, "/responses/gen_doesnotexist", Some(emu.demo_key()))
            .await
            .status,
        404
    );
    assert_eq!(
        get(&emu, "/nothing/here", Some(emu.demo_key()))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn zero_balance_is_400_and_low_balance_fails_the_generation() {
    let emu = fast().start().await.unwrap();
    for (path, body) in [
        ("/responses", create_body("x")),
        ("/video/generations", legacy_body("x")),
    ] {
        let r = post(&emu, path, Some(emu.no_credits_key()), &body).await;
        assert_eq!(r.status, 400);
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .starts_with("Insufficient credits")
        );
    }
    assert!(emu.generations().is_empty());
    // 5 cents: positive, below the 12-cent price: accepted, then fails uncharged.
    emu.set_credits_cents(DEMO_ORG, 5);
    let c = post(&emu, "/responses", Some(emu.demo_key()), &create_body("x"))
        .await
        .json();
    let done = wait_terminal(&emu, &format!("/responses/{}", c["id"].as_str().unwrap())).await;
    assert_eq!(done["status"], "failed");
    assert_eq!(done["error"]["code"], "insufficient_credits");
    assert_eq!(emu.credits_cents(DEMO_ORG), 5);
}

#[tokio::test]
async fn validation_errors_are_400_with_a_message() {
    let emu = fast()
        .error_shape(ErrorShape::Message)
        .start()
        .await
        .unwrap();
    let key = emu.demo_key().to_owned();
    let cases = [
        (
            "/responses",
            json!({ "model": "moonshotai/kimi-k2.5", "input": "" }),
            "Invalid prompt",
        ),
        (
            "/responses",
            json!({ "model": "moonshotai/kimi-k2.5", "input": "   " }),
            "Invalid prompt",
        ),
        (
            "/responses",
            json!({ "model": "moonshotai/kimi-k2.5" }),
            "Invalid prompt",
        ),
        (
            "/responses",
            json!({ "model": "moonshotai/kimi-k2.5", "input": [{ "role": "user", "content": [{ "type": "input_image", "image_url": { "url": "https://x/y.png" } }] }] }),
            "Invalid prompt",
        ),
        (
            "/responses",
            json!({ "model": "moonshotai/kimi-k2.5", "input": [{ "role": "robot", "content": [] }] }),
            "Invalid input",
        ),
        (
            "/responses",
            json!({ "model": "moonshotai/kimi-k2.5", "input": [{ "role": "user", "content": [{ "type": "input_image", "image_url": { "url": "ftp://x" } }] }] }),
            "Invalid input",
        ),
        (
            "/responses",
            json!({ "model": "nobody/nothing", "input": "x" }),
            "Invalid model",
        ),
        ("/responses", json!({ "input": "x" }), "Invalid request"),
        (
            "/responses",
            json!({ "model": "moonshotai/kimi-k2.5", "input": "x", "engine": "flash" }),
            "Invalid engine",
        ),
        (
            "/responses",
            json!({ "model": "anthropic/claude-opus-4.8", "input": "x", "provider": { "order": ["framerate"] } }),
            "Unsupported provider",
        ),
        (
            "/responses",
            json!({ "model": "moonshotai/kimi-k2.5", "input": "x", "provider": { "order": ["acme"] } }),
            "Unsupported provider",
        ),
        (
            "/responses",
            json!({ "model": "moonshotai/kimi-k2.5", "input": "x", "width": -5 }),
            "Invalid request",
        ),
        (
            "/video/generations",
            json!({ "model": "google/veo-3.1", "prompt": "" }),
            "Invalid prompt",
        ),
        (
            "/video/generations",
            json!({ "model": "google/sora", "prompt": "x" }),
            "Invalid model",
        ),
        (
            "/video/generations",
            json!({ "model": "kling-kling-video-v3-pro", "prompt": "x", "provider": "replicate" }),
            "Unsupported provider",
        ),
        (
            "/video/generations",
            json!({ "model": "google/veo-3.1", "prompt": "x", "aspectRatio": "4:3" }),
            "Invalid request",
        ),
        (
            "/video/generations",
            json!({ "model": "google/veo-3.1", "prompt": "x", "resolution": "8k" }),
            "Invalid request",
        ),
        (
            "/video/generations",
            json!({ "model": "google/veo-3.1", "prompt": "x", "duration": 600 }),
            "Invalid request",
        ),
    ];
    for (path, body, prefix) in cases {
        let r = post(&emu, path, Some(&key), &body).await;
        assert_eq!(r.status, 400, "{path} {body}");
        let v = r.json();
        assert!(
            v["message"].as_str().unwrap().starts_with(prefix),
            "{body} -> {v}"
        );
        assert_eq!(v.as_object().unwrap().len(), 1, "only `message`: {v}");
    }
    let malformed = common::try_send(
        "POST",
        &format!("{}/responses", emu.base_url()),
        Some(&key),
        &[],
        None,
    )
    .await
    .unwrap();
    assert_eq!(malformed.status, 400);
    assert!(emu.generations().is_empty());

    // Valid variants: multimodal input, provider order with fallback, legacy models list.
    let ok = [
        (
            "/responses",
            json!({ "model": "moonshotai/kimi-k2.5", "input": [{ "role": "user", "content": [{ "type": "input_text", "text": "hi" }, { "type": "input_image", "image_url": { "url": "data:image/png;base64,AA==", "detail": "low" } }] }], "instructions": "be brief", "engine": "lottie", "expand_prompt": true, "width": 1920, "height": 1080, "aspectRatio": "16:9", "provider": { "order": ["acme-none", "pipevideo"] } }),
        ),
        (
            "/video/generations",
            json!({ "models": ["kling-kling-video-v3-pro", "google/veo-3.1"], "prompt": "x", "provider": "replicate", "aspectRatio": "9:16", "duration": 8, "resolution": "1080p" }),
        ),
    ];
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for (path, body) in &ok {
            v.push(post(&emu, path, Some(&key), body).await.status);
        }
        v
    };
    // The first lists an unknown provider first: that is a 400 (unknown slugs are rejected)...
    assert_eq!(statuses, [400, 200]);
    let r = post(&emu, "/responses", Some(&key), &{
        let mut b = ok[0].1.clone();
        b["provider"] = json!({ "order": ["framerate", "pipevideo"] });
        b
    })
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["provider"], "framerate");
    assert_eq!(r.json()["engine"], "lottie");
}

#[tokio::test]
async fn orpc_error_shape_is_available() {
    let emu = fast().error_shape(ErrorShape::Orpc).start().await.unwrap();
    let v = post(
        &emu,
        "/responses",
        Some(emu.demo_key()),
        &json!({ "model": "x", "input": "y" }),
    )
    .await
    .json();
    assert_eq!(v["code"], "BAD_REQUEST");
    assert_eq!(v["status"], 400);
    assert_eq!(v["defined"], false);
    let v = get(&emu, "/usage", None).await.json();
    assert_eq!(v["code"], "UNAUTHORIZED");
}

#[tokio::test]
async fn every_failure_cause_shows_on_both_apis() {
    let emu = fast()
        .fail_prompts_containing("MAGIC-TIMEOUT", FailureCause::ProviderTimeout)
        .start()
        .await
        .unwrap();
    let key = emu.demo_key().to_owned();
    let mut ids = Vec::new();
    for cause in FailureCause::ALL {
        let prompt = format!("please fail [fail:{}]", cause.code());
        let r = post(&emu, "/responses", Some(&key), &create_body(&prompt))
            .await
            .json();
        let l = post(
            &emu,
            "/video/generations",
            Some(&key),
            &legacy_body(&prompt),
        )
        .await
        .json();
        ids.push((
            cause,
            r["id"].as_str().unwrap().to_owned(),
            l["id"].as_str().unwrap().to_owned(),
        ));
    }
    let scripted = post(
        &emu,
        "/responses",
        Some(&key),
        &create_body("MAGIC-TIMEOUT now"),
    )
    .await
    .json();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for (cause, rid, lid) in ids {
        let r = get(&emu, &format!("/responses/{rid}"), Some(&key))
            .await
            .json();
        assert_eq!(r["status"], "failed");
        assert_eq!(r["error"]["code"], cause.code());
        assert_eq!(r["error"]["message"], cause.message());
        assert_eq!(r["errorMessage"], cause.message());
        assert_eq!(r["video_url"], Value::Null);
        let l = get(&emu, &format!("/video/generations/{lid}"), Some(&key))
            .await
            .json();
        assert_eq!(l["status"], "failed");
        assert_eq!(l["error_message"], cause.message());
        assert_eq!(l["output_url"], Value::Null);
    }
    let s = get(
        &emu,
        &format!("/responses/{}", scripted["id"].as_str().unwrap()),
        Some(&key),
    )
    .await
    .json();
    assert_eq!(s["error"]["code"], "provider_timeout");
    assert_eq!(
        emu.credits_cents(DEMO_ORG),
        10_000,
        "every failure refunded"
    );
}

#[tokio::test]
async fn random_failures_follow_the_rate_and_the_seed() {
    async fn outcomes(seed: u64) -> Vec<String> {
        let emu = fast()
            .seed(seed)
            .failure_rate(0.5)
            .no_rate_limit()
            .start()
            .await
            .unwrap();
        for i in 0..20 {
            post(
                &emu,
                "/responses",
                Some(emu.demo_key()),
                &create_body(&format!("p{i}")),
            )
            .await;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
        emu.generations()
            .into_iter()
            .map(|g| format!("{} {}", g.id, g.status))
            .collect()
    }
    let a = outcomes(9).await;
    assert_eq!(a, outcomes(9).await, "same seed, same ids and outcomes");
    let failed = a.iter().filter(|s| s.ends_with("failed")).count();
    assert!((3..=17).contains(&failed), "about half fail: {failed}");
}

#[tokio::test]
async fn video_urls_serve_a_valid_mp4_and_expire() {
    let emu = fast()
        .video_url_ttl(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let c = post(&emu, "/responses", Some(emu.demo_key()), &create_body("x"))
        .await
        .json();
    let done = wait_terminal(&emu, &format!("/responses/{}", c["id"].as_str().unwrap())).await;
    let url = done["video_url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(emu.origin()) && url.contains("expires=") && url.contains("signature=")
    );

    let video = send("GET", &url, None, None).await;
    assert_eq!(video.status, 200);
    assert_eq!(video.header("content-type"), Some("video/mp4"));
    assert_eq!(
        video
            .header("content-length")
            .unwrap()
            .parse::<usize>()
            .unwrap(),
        video.body.len()
    );
    let first_box = u32::from_be_bytes(video.body[0..4].try_into().unwrap()) as usize;
    assert_eq!(&video.body[4..8], b"ftyp");
    assert!(first_box >= 16 && first_box < video.body.len());
    assert_eq!(&video.body[first_box + 4..first_box + 8], b"moov");
    assert_eq!(
        video.body.as_ref(),
        pipevideo_emulator::sample_mp4(12_000).as_slice()
    );

    let tampered = url.replace("signature=", "signature=0");
    assert_eq!(send("GET", &tampered, None, None).await.status, 403);
    let unsigned = url.split('?').next().unwrap();
    assert_eq!(send("GET", unsigned, None, None).await.status, 403);

    // 60 emulated seconds = 0.6 s real.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let expired = send("GET", &url, None, None).await;
    assert_eq!(expired.status, 410);
    // Refetching the generation signs a fresh URL.
    let again = get(
        &emu,
        &format!("/responses/{}", c["id"].as_str().unwrap()),
        Some(emu.demo_key()),
    )
    .await
    .json();
    let fresh = again["video_url"].as_str().unwrap();
    assert_ne!(fresh, url);
    assert_eq!(send("GET", fresh, None, None).await.status, 200);
}

#[tokio::test]
async fn idempotency_keys_replay_the_first_create() {
    let emu = fast().start().await.unwrap();
    let url = format!("{}/responses", emu.base_url());
    let body = create_body("same");
    let h = [("idempotency-key", "order-17")];
    let a = common::try_send("POST", &url, Some(emu.demo_key()), &h, Some(&body))
        .await
        .unwrap();
    let b = common::try_send("POST", &url, Some(emu.demo_key()), &h, Some(&body))
        .await
        .unwrap();
    assert_eq!(a.body, b.body, "byte-for-byte replay");
    assert_eq!(b.header("idempotent-replayed"), Some("true"));
    assert_eq!(emu.generations().len(), 1);
    assert_eq!(emu.credits_cents(DEMO_ORG), 10_000 - 12, "charged once");
    let log = emu.requests();
    assert_eq!(
        log[0].generation_created.as_deref(),
        a.json()["id"].as_str()
    );
    assert_eq!(log[1].generation_created, None);
    assert_eq!(
        log[1].idempotent_replay_of.as_deref(),
        a.json()["id"].as_str()
    );
    assert_eq!(log[1].header("idempotency-key"), Some("order-17"));

    // Another organization with the same key gets its own generation; no key, a new one each time.
    let c = common::try_send("POST", &url, Some(emu.other_org_key()), &h, Some(&body))
        .await
        .unwrap();
    assert_ne!(c.json()["id"], a.json()["id"]);
    post(&emu, "/responses", Some(emu.demo_key()), &body).await;
    assert_eq!(emu.generations().len(), 3);

    // Switched off: duplicates.
    let off = fast().idempotency(false).start().await.unwrap();
    let url = format!("{}/responses", off.base_url());
    let a = common::try_send("POST", &url, Some(off.demo_key()), &h, Some(&body))
        .await
        .unwrap();
    let b = common::try_send("POST", &url, Some(off.demo_key()), &h, Some(&body))
        .await
        .unwrap();
    assert_ne!(a.json()["id"], b.json()["id"]);
}

#[tokio::test]
async fn time_scale_one_keeps_generations_running() {
    // At scale 1 a default generation takes about 55 s: it is still queued right after create.
    let emu = Emulator::builder().failure_rate(0.0).start().await.unwrap();
    let c = post(
        &emu,
        "/responses",
        Some(emu.demo_key()),
        &create_body("slow"),
    )
    .await
    .json();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let v = get(
        &emu,
        &format!("/responses/{}", c["id"].as_str().unwrap()),
        Some(emu.demo_key()),
    )
    .await
    .json();
    assert_eq!(v["status"], "queued");
    assert_eq!(emu.scaled(Duration::from_secs(60)), Duration::from_secs(60));
    emu.shutdown().await;
}

#[tokio::test]
async fn default_seed_generations_for_other_suites() {
    // Other suites rely on this: with the default seed and failure rate, the first generations
    // created in sequence all complete. Print which fail if this ever changes.
    let emu = Emulator::builder()
        .time_scale(0.001)
        .durations(DurationDistribution::Fixed(Duration::from_secs(10)))
        .no_rate_limit()
        .start()
        .await
        .unwrap();
    for i in 0..60 {
        post(
            &emu,
            "/responses",
            Some(emu.demo_key()),
            &create_body(&format!("p{i}")),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let failed: Vec<usize> = emu
        .generations()
        .iter()
        .enumerate()
        .filter(|(_, g)| g.status == "failed")
        .map(|(i, _)| i)
        .collect();
    println!("failed indices with seed 0: {failed:?}");
    assert!(failed.first().is_none_or(|i| *i >= 50), "{failed:?}");
}
