//! Handlers: one function per endpoint, each turning a routed request into a `Reply`.
//!
//! | Endpoint | Handler |
//! |---|---|
//! | `GET /v1/engines` (no auth) | `engines` |
//! | `POST /v1/responses`, `POST /v1/video/generations` | `create` |
//! | `GET /v1/responses/{id}`, `GET /v1/video/generations/{id}` | `retrieve` (body: `generation_json`) |
//! | `GET /v1/usage` | `usage` (body: `reports::usage`) |
//! | `GET /v1/models`, `GET /v1/models/{slug}` | `models`, `model` (metrics: `reports::model_metrics`) |
//! | `GET /files/{id}.mp4` | `serve_file` |
//!
//! By the time a handler runs, `routes` has matched the path and, for `/v1`, authenticated the key
//! and counted it against the rate limit; the handlers of the authenticated routes get the locked
//! `State`. `create` is the one that changes it: it replays an idempotent create, validates the
//! body (`validate`), checks the balance, decides the generation's duration and fate from the
//! seeded streams, and records it. `generation_json` is the retrieve body in either API's words.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::Rng;
use serde_json::{Map, Value, json};

use crate::catalog;
use crate::config::FailureCause;
use crate::file::{RangeAsk, parse_range};
use crate::reports;
use crate::routes::{Outcome, Reply, Req, percent_decode, query_param};
use crate::state::{Api, Generation, Phase, Shared, State, random_id, unix_ms_now};
use crate::validate::{validate_legacy, validate_responses};

/// `GET /v1/engines`: the engine catalogue (the one route without authentication).
pub(crate) fn engines() -> Reply {
    Reply::json(200, &catalog::engines_json())
}

/// `GET /v1/models`: the video model list.
pub(crate) fn models() -> Reply {
    Reply::json(200, &catalog::model_list_json())
}

/// `GET /v1/models/{slug}`: one video model with its metrics; the slug may be URL-encoded or span
/// several path segments.
pub(crate) fn model(shared: &Shared, st: &State, slug: &[&str], now: Instant) -> Reply {
    let slug = percent_decode(&slug.join("/"));
    match catalog::video_model(&slug) {
        Some(m) => Reply::json(
            200,
            &catalog::model_json(m, reports::model_metrics(st, m.slug, now)),
        ),
        None => shared.error(404, &format!("Model not found: {slug}")),
    }
}

/// `GET /v1/usage`: the organization's usage report.
pub(crate) fn usage(st: &State, org: &str, now: Instant) -> Reply {
    Reply::json(200, &reports::usage(st, org, now))
}

/// `GET|HEAD /files/{id}.mp4?expires=&signature=`: the video behind a signed URL, with
/// `Range` support (`Accept-Ranges: bytes`, a strong `ETag`, `If-Range`, `206` with
/// `Content-Range`, `416` past the end) unless the `no_ranges` fault struck.
pub(crate) fn serve_file(shared: &Shared, req: &Req<'_>, rest: &str) -> Reply {
    if req.method != "GET" && req.method != "HEAD" {
        return shared.error(405, "Method not allowed");
    }
    let Some(id) = rest.strip_suffix(".mp4") else {
        return shared.error(404, "Not found");
    };
    let expires = query_param(req.query, "expires").and_then(|e| e.parse::<u64>().ok());
    let signature = query_param(req.query, "signature");
    let (Some(expires), Some(signature)) = (expires, signature) else {
        return Reply::raw(403, "text/plain", Bytes::from_static(b"Missing signature"));
    };
    if shared.sign_url(id, expires) != signature {
        return Reply::raw(
            403,
            "text/plain",
            Bytes::from_static(b"Signature does not match"),
        );
    }
    if unix_ms_now() > expires {
        return Reply::raw(
            410,
            "text/plain",
            Bytes::from_static(b"Request has expired"),
        );
    }
    let size = shared.video.size();
    let etag = format!("\"{id}-{size}\"");
    let ask = match req.range {
        // `If-Range` with another validator: the whole video, as RFC 9110 says.
        Some((range, if_range)) if if_range.is_none_or(|v| v.trim() == etag) => {
            parse_range(range, size)
        }
        _ => RangeAsk::Whole,
    };
    let mut reply = Reply::raw(200, "video/mp4", Bytes::new());
    reply
        .headers
        .push(("cache-control", "private, max-age=60".to_owned()));
    if req.range.is_some() {
        reply.headers.push(("accept-ranges", "bytes".to_owned()));
        reply.headers.push(("etag", etag));
    }
    match ask {
        RangeAsk::Whole => reply.stream = Some((0, size)),
        RangeAsk::Part { start, end } => {
            reply.status = 206;
            reply
                .headers
                .push(("content-range", format!("bytes {start}-{}/{size}", end - 1)));
            reply.stream = Some((start, end));
        }
        RangeAsk::Unsatisfiable => {
            reply.status = 416;
            reply
                .headers
                .push(("content-range", format!("bytes */{size}")));
        }
    }
    reply
}

/// The cause a prompt asks for: a marker registered with the builder, else `[fail:<cause code>]`.
fn scripted_failure(shared: &Shared, prompt: &str) -> Option<FailureCause> {
    for (marker, cause) in &shared.settings.scripted_failures {
        if prompt.contains(marker.as_str()) {
            return Some(*cause);
        }
    }
    let start = prompt.find("[fail:")?;
    let rest = &prompt[start + 6..];
    let end = rest.find(']')?;
    rest[..end].trim().parse().ok()
}

/// `POST /v1/responses` and `POST /v1/video/generations`.
pub(crate) fn create(
    shared: &Shared,
    st: &mut State,
    req: &Req<'_>,
    now: Instant,
    api: Api,
    mut outcome: Outcome,
) -> Outcome {
    let org = outcome.org.clone().unwrap_or_default();
    let idem = req
        .idempotency_key
        .filter(|k| !k.is_empty() && shared.settings.idempotency);
    if let Some(key) = idem
        && let Some((id, body)) = st.replay(&org, key)
    {
        outcome.replay_of = Some(id.clone());
        let mut reply = Reply::raw(200, "application/json", body.clone());
        reply
            .headers
            .push(("idempotent-replayed", "true".to_owned()));
        outcome.reply = reply;
        return outcome;
    }
    let body: Map<String, Value> = match serde_json::from_slice(req.body) {
        Ok(Value::Object(m)) => m,
        _ => {
            outcome.reply = shared.error(400, "Malformed request: the body must be a JSON object");
            return outcome;
        }
    };
    let validated = match api {
        Api::Responses => validate_responses(&body).map(|v| (v, shared.settings.price_cents)),
        Api::Legacy => validate_legacy(&body),
    };
    let (v, price) = match validated {
        Ok(v) => v,
        Err(msg) => {
            outcome.reply = shared.error(400, &msg);
            return outcome;
        }
    };
    let balance = st.balance(&org, now);
    if balance <= 0 {
        outcome.reply = shared.error(
            400,
            "Insufficient credits. Add credits to your organization to continue.",
        );
        return outcome;
    }

    let emulated = shared.settings.durations.sample(&mut st.rng);
    let runs_for = shared.real(emulated);
    let queued_for = shared.real(emulated.mul_f64(0.1).min(Duration::from_secs(3)));
    let (draw, random_cause) = st.draw_failure();
    let mut failure = scripted_failure(shared, &v.prompt);
    if failure.is_none() && draw < shared.settings.failure_rate {
        failure = Some(random_cause);
    }
    let charged = balance >= price;
    if !charged && failure.is_none() {
        failure = Some(FailureCause::InsufficientCredits);
    }
    let id = random_id(&mut st.rng, "gen_", 24);
    let created_unix_ms = unix_ms_now();
    let g = Generation {
        id: id.clone(),
        org: org.clone(),
        model: v.model,
        engine: v.engine,
        provider: v.provider,
        created_at: now,
        created_unix_ms,
        queued_for,
        runs_for,
        latency_ms: emulated.as_millis() as u64,
        failure,
        price_cents: price,
        charged,
        prompt_tokens: st.rng.random_range(1000..1400),
        completion_tokens: st.rng.random_range(3000..3800),
    };
    let reply_body = match api {
        Api::Responses => json!({
            "id": g.id,
            "object": "response",
            "status": "queued",
            "model": g.model,
            "engine": g.engine,
            "provider": g.provider,
            "created_at": created_unix_ms / 1000,
            "output": [{
                "type": "message",
                "id": format!("{}_msg", g.id),
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            }],
        }),
        Api::Legacy => {
            json!({ "id": g.id, "status": "pending", "created_at": created_unix_ms / 1000 })
        }
    };
    let bytes = Bytes::from(reply_body.to_string());
    st.insert(g, idem.map(|key| (key, bytes.clone())));
    outcome.generation_created = Some(id);
    outcome.reply = Reply::raw(200, "application/json", bytes);
    outcome
}

/// `GET /v1/responses/{id}` and `GET /v1/video/generations/{id}`: another organization's
/// generation is as unknown as a missing one (404).
pub(crate) fn retrieve(
    shared: &Shared,
    st: &State,
    org: &str,
    id: &str,
    api: Api,
    now: Instant,
) -> Reply {
    let id = percent_decode(id);
    match st.generation(&id) {
        Some(g) if g.org == org => Reply::json(200, &generation_json(shared, g, api, now)),
        _ => shared.error(404, &format!("Generation not found: {id}")),
    }
}

/// The retrieve body of a generation in the vocabulary of `api`.
pub(crate) fn generation_json(shared: &Shared, g: &Generation, api: Api, now: Instant) -> Value {
    let phase = g.phase(now);
    let terminal = matches!(phase, Phase::Completed | Phase::Failed);
    let url = (phase == Phase::Completed).then(|| shared.video_url(&g.id));
    let error_message = match phase {
        Phase::Failed => g.failure.map(FailureCause::message),
        _ => None,
    };
    match api {
        Api::Legacy => json!({
            "id": g.id,
            "status": phase.word(api),
            "output_url": url.as_ref().map(|u| &u.0),
            "cost_cents": g.cost_cents(phase),
            "latency_ms": terminal.then_some(g.latency_ms),
            "error_message": error_message,
            "created_at": g.created_unix_ms / 1000,
            "completed_at": terminal.then(|| g.completed_unix_ms()),
        }),
        Api::Responses => {
            let mut content = Vec::new();
            if let Some((u, expires)) = &url {
                content.push(json!({ "type": "output_text", "text": format!("Rendered a video with the {} engine.", g.engine.as_deref().unwrap_or("hyperframes")) }));
                content.push(json!({ "type": "output_video", "video_url": u, "mime_type": "video/mp4", "expires_at": expires / 1000 }));
            }
            let msg_status = match phase {
                Phase::Completed => "completed",
                Phase::Failed => "incomplete",
                _ => "in_progress",
            };
            let cost_usd = g.cost_cents(phase).unwrap_or(0) as f64 / 100.0;
            json!({
                "id": g.id,
                "object": "response",
                "status": phase.word(api),
                "model": g.model,
                "engine": g.engine,
                "provider": g.provider,
                "created_at": g.created_unix_ms / 1000,
                "completed_at": terminal.then(|| g.completed_unix_ms() / 1000),
                "output": [{
                    "type": "message",
                    "id": format!("{}_msg", g.id),
                    "role": "assistant",
                    "status": msg_status,
                    "content": content,
                }],
                "video_url": url.as_ref().map(|u| &u.0),
                "usage": terminal.then(|| json!({
                    "input_tokens": g.prompt_tokens,
                    "output_tokens": g.completion_tokens,
                    "total_tokens": g.prompt_tokens + g.completion_tokens,
                    "cost_usd": cost_usd,
                })),
                "error": g.failure.filter(|_| phase == Phase::Failed).map(|c| json!({ "code": c.code(), "message": c.message() })),
                "errorMessage": error_message,
            })
        }
    }
}
