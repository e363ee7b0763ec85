//! The API model: every example body of the API notes round-trips, responses tolerate what
//! the server may send, and generation failures get a typed cause.

use http::Response;
use pipevideo_core::{
    Flavor, Status, codec,
    model::{
        ContentPart, CreateGeneration, CreateResponse, EngineCatalog, FailureCause, Generation,
        GenerationBody, GenerationFailure, ImageDetail, Input, LegacyProvider, Message,
        ModelDetail, ModelList, ResponseObject, Role, Timestamp, Usage,
    },
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        // 12 and 12.0 are the same number on the wire.
        Value::Number(n) => json!(n.as_f64()),
        other => other,
    }
}

/// Decodes, re-encodes and decodes again: the two decoded values are equal, and the
/// re-encoded JSON equals the original (nulls aside, which read as absent, and integer vs
/// float spelling of the same number).
fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(original: Value) -> T {
    let first: T = serde_json::from_value(original.clone()).expect("example decodes");
    let encoded = serde_json::to_value(&first).unwrap();
    assert_eq!(
        strip_nulls(encoded.clone()),
        strip_nulls(original),
        "re-encoded body differs"
    );
    let second: T = serde_json::from_value(encoded).unwrap();
    assert_eq!(first, second);
    first
}

fn gen_of(flavor: Flavor, body: Value) -> Generation {
    codec::decode_generation(flavor, &Response::new(body.to_string().into_bytes())).unwrap()
}

#[test]
fn example_create_response_body() {
    let body = json!({
        "id": "gen_abc123xyz", "object": "response", "status": "queued",
        "model": "moonshotai/kimi-k2.5", "engine": "hyperframes", "provider": "framerate",
        "created_at": 1709827200,
        "output": [{ "type": "message", "id": "gen_abc123xyz_msg", "role": "assistant" }]
    });
    let r: ResponseObject = round_trip(body.clone());
    assert_eq!(r.status, Status::Queued);
    assert_eq!(
        r.created_at,
        Some(Timestamp::from_unix_seconds(1_709_827_200))
    );
    assert_eq!(r.output[0].kind.as_deref(), Some("message"));
    let g = gen_of(Flavor::Responses, body);
    assert_eq!(g.reference().to_string(), "responses:gen_abc123xyz");
    assert_eq!(g.status(), &Status::Queued);
    assert_eq!(g.video_url(), None);
    assert_eq!(g.failure(), None);
    assert_eq!(g.created_at().unwrap().unix_seconds(), 1_709_827_200);
}

#[test]
fn example_create_request_bodies() {
    let simple = json!({
        "model": "moonshotai/kimi-k2.5", "input": "A paper plane over Lisbon",
        "instructions": "Keep it calm", "engine": "hyperframes", "expand_prompt": true,
        "width": 1080, "height": 1920, "aspectRatio": "9:16", "provider": { "order": ["framerate"] }
    });
    let r: CreateResponse = round_trip(simple.clone());
    let built = CreateResponse::new("moonshotai/kimi-k2.5", "A paper plane over Lisbon")
        .instructions("Keep it calm")
        .engine(pipevideo_core::model::Engine::Hyperframes)
        .expand_prompt(true)
        .canvas(1080, 1920)
        .aspect_ratio("9:16")
        .provider_order(["framerate"]);
    assert_eq!(r, built);
    assert_eq!(serde_json::to_value(&built).unwrap(), simple);

    let multimodal = json!({
        "model": "moonshotai/kimi-k2.5",
        "input": [{ "role": "user", "content": [
            { "type": "input_text", "text": "Animate this logo like the reference clip" },
            { "type": "input_image", "image_url": { "url": "https://example.com/logo.png", "detail": "high" } },
            { "type": "input_image", "image_url": { "url": "data:image/png;base64,iVBORw0KGgo=" } },
            { "type": "input_video", "video_url": { "url": "https://example.com/ref.mp4" } }
        ]}]
    });
    let r: CreateResponse = round_trip(multimodal);
    let built = CreateResponse::new(
        "moonshotai/kimi-k2.5",
        Input::Messages(vec![Message::new(
            Role::User,
            [
                ContentPart::text("Animate this logo like the reference clip"),
                ContentPart::image_with_detail("https://example.com/logo.png", ImageDetail::High),
                ContentPart::image("data:image/png;base64,iVBORw0KGgo="),
                ContentPart::video("https://example.com/ref.mp4"),
            ],
        )]),
    );
    assert_eq!(r, built);
    assert!(r.validate().is_ok());
}

#[test]
fn example_legacy_bodies() {
    let create_req = json!({
        "model": "google/veo-3.1", "prompt": "A cat surfing", "provider": "fal",
        "aspectRatio": "16:9", "duration": 8, "resolution": "1080p",
        "imageUrl": "https://example.com/cat.png"
    });
    let r: CreateGeneration = round_trip(create_req);
    assert_eq!(r.provider, Some(LegacyProvider::slug("fal")));
    let with_object = json!({ "models": ["kling-kling-video-v3-pro", "veo-veo-3-1"], "prompt": "x",
        "provider": { "order": ["fal", "replicate"], "allow_fallbacks": true } });
    let r: CreateGeneration = round_trip(with_object);
    assert!(matches!(r.provider, Some(LegacyProvider::Preferences(_))));
    assert!(r.validate().is_ok());

    let created = json!({ "id": "gen_abc123xyz", "status": "pending", "created_at": 1709827200 });
    let g = gen_of(Flavor::Legacy, created.clone());
    let GenerationBody::Legacy(b) = g.body() else {
        panic!()
    };
    assert_eq!(
        strip_nulls(serde_json::to_value(b).unwrap()),
        strip_nulls(created)
    );
    assert_eq!(g.status(), &Status::Queued);
    assert_eq!(g.reference().flavor(), Flavor::Legacy);

    let done = json!({ "id": "gen_abc123xyz", "status": "completed",
        "output_url": "https://cdn.pipevideo.co/v/gen_abc123xyz.mp4?sig=abc", "cost_cents": 12,
        "latency_ms": 55000, "error_message": null, "created_at": 1709827200,
        "completed_at": 1709827255000_i64 });
    let g = gen_of(Flavor::Legacy, done.clone());
    assert_eq!(
        g.video_url(),
        Some("https://cdn.pipevideo.co/v/gen_abc123xyz.mp4?sig=abc")
    );
    assert_eq!(g.status(), &Status::Completed);
    let GenerationBody::Legacy(b) = g.into_body() else {
        panic!()
    };
    assert_eq!(b.completed_at.unwrap().unix_millis(), 1_709_827_255_000);
    assert_eq!(
        b.completed_at.unwrap().unix_seconds() - b.created_at.unwrap().unix_seconds(),
        55
    );
    let again: pipevideo_core::model::LegacyGeneration = round_trip(done);
    assert_eq!(again, b);
}

#[test]
fn example_usage_body() {
    let body = json!({
        "credit_balance": 1250,
        "totals": { "total_requests": 3, "completed_requests": 2, "failed_requests": 1, "total_cost_cents": 36 },
        "daily_usage": [{ "date": "2026-03-07", "request_count": 3, "completed_count": 2, "failed_count": 1,
            "total_cost_cents": 36, "total_duration_seconds": 24 }],
        "daily_usage_by_route": [{ "date": "2026-03-07", "routes": [{ "engine": "hyperframes",
            "model": "moonshotai/kimi-k2.5", "provider": "framerate", "request_count": 3, "completed_count": 2,
            "failed_count": 1, "total_cost_cents": 36, "total_prompt_tokens": 3600,
            "total_completion_tokens": 10200, "avg_latency_ms": 55000 }] }],
        "recent_requests": [
            { "id": "gen_abc123xyz", "status": "completed", "model_name": "moonshotai/kimi-k2.5",
              "engine": "hyperframes", "cost_cents": 12, "latency_ms": 52000,
              "created_at": 1709827200000_i64, "completed_at": 1709827252000_i64 },
            { "id": "gen_def456", "status": "in_progress", "model_name": "moonshotai/kimi-k2.5",
              "engine": "hyperframes", "cost_cents": null, "latency_ms": null,
              "created_at": 1709827300000_i64, "completed_at": null }
        ]
    });
    // Numbers come back as floats where the model uses f64 (12 → 12.0), so compare decoded values.
    let u: Usage = serde_json::from_value(body).unwrap();
    let again: Usage = serde_json::from_value(serde_json::to_value(&u).unwrap()).unwrap();
    assert_eq!(u, again);
    assert_eq!(u.credit_balance, Some(1250.0));
    assert_eq!(
        u.daily_usage_by_route[0].routes[0].total_completion_tokens,
        Some(10200)
    );
    assert_eq!(
        u.recent_requests[0].created_at,
        Some(Timestamp::from_unix_seconds(1_709_827_200))
    );
    assert_eq!(u.recent_requests[1].status, Some(Status::Running));
    assert_eq!(u.recent_requests[1].completed_at, None);
    // Counters and amounts are read tolerantly: whole floats and numeric strings count,
    // anything else reads as absent instead of failing the whole body.
    let odd: Usage = serde_json::from_value(json!({ "credit_balance": "12.5",
        "totals": { "total_requests": 3.0, "completed_requests": "2", "failed_requests": -1,
                    "total_cost_cents": "n/a" } }))
    .unwrap();
    assert_eq!(odd.credit_balance, Some(12.5));
    let t = odd.totals.unwrap();
    assert_eq!(
        (t.total_requests, t.completed_requests, t.failed_requests),
        (Some(3), Some(2), None)
    );
    assert_eq!(t.total_cost_cents, None);
    let empty: Usage =
        serde_json::from_str(r#"{"credit_balance":0,"daily_usage":null,"recent_requests":null}"#)
            .unwrap();
    assert!(empty.daily_usage.is_empty() && empty.recent_requests.is_empty());
}

#[test]
fn example_model_bodies() {
    let list = json!({ "models": [{ "slug": "google/veo-3.1", "name": "Veo 3.1", "display_name": "Google Veo 3.1",
        "description": null, "capabilities": { "image_to_video": true }, "pricing": { "per_second_cents": 40 },
        "maker": { "slug": "google", "name": "Google" }, "family": { "slug": "veo", "name": "Veo" },
        "routes": [{ "provider": "fal", "host": "fal" }, { "provider": "replicate", "host": "replicate" }] }] });
    let l: ModelList = round_trip(list);
    assert_eq!(l.models[0].routes[1].provider.slug(), Some("replicate"));

    let one = json!({ "model": { "id": "m_1", "slug": "google/veo-3.1", "name": "Veo 3.1",
        "capabilities": {}, "pricing": {},
        "routes": [{ "provider": { "slug": "fal", "name": "fal.ai" }, "host": { "slug": "fal", "name": "fal.ai" } }] },
        "metrics": { "totalRequests": 120, "completedRequests": 114, "failedRequests": 6, "successRate": 0.95,
            "avgLatencyMs": 55000, "p50LatencyMs": 54000, "p95LatencyMs": null } });
    let d: ModelDetail = serde_json::from_value(one).unwrap();
    assert_eq!(d.model.routes[0].host.slug(), Some("fal"));
    let m = d.metrics.as_ref().unwrap();
    assert_eq!((m.total_requests, m.p95_latency_ms), (Some(120), None));
    let again: ModelDetail = serde_json::from_value(serde_json::to_value(&d).unwrap()).unwrap();
    assert_eq!(again, d);
}

#[test]
fn engines_are_read_tolerantly() {
    for body in [
        json!({ "engines": [{ "id": "hyperframes", "models": [{ "id": "moonshotai/kimi-k2.5", "input_per_million": 0.6, "output_per_million": 2.5 }] }, { "slug": "lottie" }] }),
        json!({ "data": [{ "id": "hyperframes", "models": [{ "slug": "moonshotai/kimi-k2.5", "input_per_million": 0.6, "output_per_million": 2.5 }] }, { "id": "lottie", "models": null }] }),
        json!([{ "id": "hyperframes", "models": [{ "id": "moonshotai/kimi-k2.5", "input_per_million": 0.6, "output_per_million": 2.5 }, 17] }, { "id": "lottie", "models": "n/a" }]),
    ] {
        let c: EngineCatalog = round_trip(body);
        assert_eq!(c.engines.len(), 2);
        assert_eq!(c.engines[0].id.as_deref(), Some("hyperframes"));
        assert_eq!(c.engines[0].models[0].input_per_million, Some(0.6));
        assert_eq!(c.engines[1].id.as_deref(), Some("lottie"));
        assert!(c.engines[1].models.is_empty());
    }
    let odd: EngineCatalog = serde_json::from_str(r#""hyperframes,lottie""#).unwrap();
    assert!(odd.engines.is_empty());
    assert_eq!(odd.raw, json!("hyperframes,lottie"));
}

#[test]
fn video_url_spellings_and_nesting() {
    let url = "https://cdn.pipevideo.co/v/x.mp4";
    let cases = [
        json!({ "video_url": url }),
        json!({ "output_url": url }),
        json!({ "outputUrl": url }),
        json!({ "output": [{ "type": "message", "video_url": url }] }),
        json!({ "output": [{ "type": "message", "video_url": { "url": url } }] }),
        json!({ "output": [{ "type": "message", "content": [{ "type": "output_video", "video_url": url }] }] }),
        json!({ "output": [{ "type": "message" }, { "type": "video", "output": { "outputUrl": { "url": url } } }] }),
        json!({ "output": null, "video_url": { "url": url } }),
    ];
    for (i, extra) in cases.into_iter().enumerate() {
        let mut body = json!({ "id": "gen_1", "status": "completed" });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let g = gen_of(Flavor::Responses, body.clone());
        assert_eq!(g.video_url(), Some(url), "case {i}: {body}");
        let g = gen_of(Flavor::Legacy, body);
        assert_eq!(g.video_url(), Some(url), "legacy case {i}");
    }
    let g = gen_of(
        Flavor::Responses,
        json!({ "id": "gen_1", "status": "completed", "video_url": "", "output": [] }),
    );
    assert_eq!(g.video_url(), None);
}

#[test]
fn responses_tolerate_nulls_unknowns_and_odd_fields() {
    let body = json!({ "id": "gen_1", "status": "in_progress", "object": null, "model": null, "provider": { "slug": "framerate" },
        "created_at": "1709827200", "completed_at": "yesterday", "output": null, "usage": "n/a",
        "brand_new_field": { "deep": [1, 2, 3] }, "error": null });
    let g = gen_of(Flavor::Responses, body);
    assert_eq!(g.status(), &Status::Running);
    let GenerationBody::Responses(r) = g.body() else {
        panic!()
    };
    assert_eq!(r.created_at.unwrap().unix_millis(), 1_709_827_200_000);
    assert_eq!(r.completed_at, None);
    assert_eq!(r.usage, None);
    assert!(r.extra.contains_key("brand_new_field"));

    let g = gen_of(
        Flavor::Responses,
        json!({ "id": "gen_1", "status": "throttled" }),
    );
    assert_eq!(g.status(), &Status::Unknown("throttled".into()));
    assert!(g.failure().is_none());

    let g = gen_of(
        Flavor::Responses,
        json!({ "id": "gen_1", "status": "completed",
        "usage": { "prompt_tokens": 1200, "completion_tokens": 3400, "cost_usd": 0.12 } }),
    );
    let GenerationBody::Responses(r) = g.body() else {
        panic!()
    };
    let u = r.usage.as_ref().unwrap();
    assert_eq!(
        (u.input_tokens, u.output_tokens, u.cost_usd),
        (Some(1200), Some(3400), Some(0.12))
    );
}

#[test]
fn timestamp_unit_rule_property() {
    // Every whole-second time from 1973 to 5138, sent in either unit, reads as the same
    // instant and re-encodes in the unit it came in.
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    runner
        .run(
            &(100_000_000i64..99_999_999_999, proptest::bool::ANY),
            |(secs, as_ms)| {
                let wire = if as_ms {
                    json!(secs * 1000)
                } else {
                    json!(secs)
                };
                let t: Timestamp = serde_json::from_value(wire.clone()).unwrap();
                proptest::prop_assert_eq!(t.unix_seconds(), secs);
                proptest::prop_assert_eq!(serde_json::to_value(t).unwrap(), wire);
                Ok(())
            },
        )
        .unwrap();
}

#[test]
fn timestamp_unit_rule() {
    let cases: &[(Value, Option<i64>)] = &[
        (json!(1709827200), Some(1_709_827_200_000)),
        (json!(1709827200123_i64), Some(1_709_827_200_123)),
        (json!(1709827200.5), Some(1_709_827_200_500)),
        (json!("1709827200"), Some(1_709_827_200_000)),
        (json!(" 1709827200123 "), Some(1_709_827_200_123)),
        (json!(0), Some(0)),
        (json!(99_999_999_999_i64), Some(99_999_999_999_000)), // just below 10^11: seconds
        (json!(100_000_000_000_i64), Some(100_000_000_000)),   // 10^11: milliseconds
        (json!(-5), Some(-5000)),
        (json!("2026-03-07T12:00:00Z"), None),
        (json!(true), None),
        (json!(null), None),
        (json!(1e300), None),
    ];
    for (wire, want) in cases {
        let g = gen_of(
            Flavor::Legacy,
            json!({ "id": "gen_1", "status": "pending", "created_at": wire }),
        );
        assert_eq!(
            g.created_at().map(Timestamp::unix_millis),
            *want,
            "created_at: {wire}"
        );
    }
    assert_eq!(
        Timestamp::from_unix_seconds(2).to_system_time(),
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(2)
    );
    assert!(serde_json::from_value::<Timestamp>(json!("soon")).is_err());
}

/// One row per generation-failure cause, from every place the text may come from.
#[test]
fn failure_causes() {
    let rows: &[(&str, Option<&str>, FailureCause)] = &[
        (
            "Insufficient credits",
            None,
            FailureCause::InsufficientCredits,
        ),
        (
            "Your credit balance is zero",
            None,
            FailureCause::InsufficientCredits,
        ),
        (
            "Charge failed for organization",
            None,
            FailureCause::InsufficientCredits,
        ),
        (
            "Credit reservation failed",
            None,
            FailureCause::InsufficientCredits,
        ),
        (
            "anything",
            Some("insufficient_credits"),
            FailureCause::InsufficientCredits,
        ),
        (
            "Provider failure: upstream returned 500",
            None,
            FailureCause::ProviderFailure,
        ),
        ("Provider timeout", None, FailureCause::ProviderFailure),
        (
            "Render pipeline crashed",
            None,
            FailureCause::ProviderFailure,
        ),
        ("Orchestration failed", None, FailureCause::ProviderFailure),
        ("", Some("PROVIDER_ERROR"), FailureCause::ProviderFailure),
        (
            "Model not supported on the selected provider",
            None,
            FailureCause::ModelNotSupported,
        ),
        (
            "provider framerate does not support anthropic/claude-opus-4.8",
            None,
            FailureCause::ModelNotSupported,
        ),
        (
            "x",
            Some("model_not_supported"),
            FailureCause::ModelNotSupported,
        ),
        ("Invalid prompt", None, FailureCause::InvalidPrompt),
        ("Prompt is required", None, FailureCause::InvalidPrompt),
        (
            "prompt must not be empty",
            None,
            FailureCause::InvalidPrompt,
        ),
        ("missing input_text", None, FailureCause::InvalidPrompt),
        ("y", Some("INVALID_PROMPT"), FailureCause::InvalidPrompt),
        ("Out of credits", None, FailureCause::InsufficientCredits),
        (
            "Could not charge credits",
            None,
            FailureCause::InsufficientCredits,
        ),
        ("Load balancer timeout", None, FailureCause::ProviderFailure),
        ("Generation error", None, FailureCause::Other),
        ("", None, FailureCause::Other),
        // An unhelpful code falls back to the message.
        (
            "Insufficient credits",
            Some("E1234"),
            FailureCause::InsufficientCredits,
        ),
    ];
    for (message, code, cause) in rows {
        assert_eq!(
            FailureCause::classify(*code, message),
            *cause,
            "{message:?} / {code:?}"
        );
        // Through the responses API `error` object…
        let mut err = json!({ "message": message });
        if let Some(c) = code {
            err["code"] = json!(c);
        }
        let g = gen_of(
            Flavor::Responses,
            json!({ "id": "gen_1", "status": "failed", "error": err }),
        );
        let f = g.failure().expect("failed generations carry a failure");
        assert_eq!(f.cause, *cause, "error object {message:?}");
        assert_eq!(f.code.as_deref(), *code);
        if code.is_none() {
            // …through `errorMessage` (responses API, webhooks) and `error_message` (legacy).
            for key in ["errorMessage", "error_message"] {
                for flavor in [Flavor::Responses, Flavor::Legacy] {
                    let g = gen_of(
                        flavor,
                        json!({ "id": "gen_1", "status": "failed", key: message }),
                    );
                    assert_eq!(g.failure().unwrap().cause, *cause, "{key} {flavor}");
                }
            }
            assert_eq!(GenerationFailure::from_message(*message).cause, *cause);
        }
    }
}

#[test]
fn failure_messages_and_placeholders() {
    let g = gen_of(
        Flavor::Responses,
        json!({ "id": "gen_1", "status": "failed", "error": "Provider timeout" }),
    );
    assert_eq!(g.failure().unwrap().message, "Provider timeout");
    assert_eq!(
        g.failure().unwrap().to_string(),
        "generation failed (provider_failure): Provider timeout"
    );
    let g = gen_of(
        Flavor::Responses,
        json!({ "id": "gen_1", "status": "failed" }),
    );
    let f = g.failure().unwrap();
    assert_eq!(f.cause, FailureCause::Other);
    assert_eq!(f.message, "the generation failed without an error message");
    // The `error` object wins over `errorMessage` when both are present.
    let g = gen_of(
        Flavor::Responses,
        json!({ "id": "gen_1", "status": "failed",
        "error": { "message": "Insufficient credits" }, "errorMessage": "Generation error" }),
    );
    assert_eq!(
        g.failure().unwrap().cause,
        FailureCause::InsufficientCredits
    );
    // Not failed → no failure, even with an error message present.
    let g = gen_of(
        Flavor::Legacy,
        json!({ "id": "gen_1", "status": "completed", "error_message": "stale" }),
    );
    assert!(g.failure().is_none());
}
