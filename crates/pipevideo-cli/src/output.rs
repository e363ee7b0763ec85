//! Results as text lines for people and as JSON values for scripts.

use pipevideo::model::{
    EngineCatalog, Generation, GenerationBody, ModelDetail, ModelInfo, ModelList, Usage,
};
use serde_json::{Value, json};

/// A generation as JSON: the SDK's view (reference, status, video URL, failure) and the body
/// as the server sent it.
pub(crate) fn generation_json(g: &Generation) -> Value {
    let body = match g.body() {
        GenerationBody::Responses(b) => serde_json::to_value(b).unwrap_or(Value::Null),
        GenerationBody::Legacy(b) => serde_json::to_value(b).unwrap_or(Value::Null),
    };
    json!({
        "reference": g.reference().to_string(),
        "id": g.id().as_str(),
        "api": g.reference().flavor().as_str(),
        "status": g.status().as_str(),
        "video_url": g.video_url(),
        "failure": g.failure().map(|f| json!({
            "cause": f.cause.as_str(),
            "message": f.message,
            "code": f.code,
        })),
        "created_at": g.created_at().map(|t| t.unix_seconds()),
        "body": body,
    })
}

/// What the generation cost in US dollars, if the server said.
pub(crate) fn cost_usd(g: &Generation) -> Option<f64> {
    match g.body() {
        GenerationBody::Responses(b) => b.usage.as_ref().and_then(|u| u.cost_usd),
        GenerationBody::Legacy(b) => b.cost_cents.map(|c| c / 100.0),
    }
}

/// A generation as lines.
pub(crate) fn generation_lines(g: &Generation) -> Vec<String> {
    let mut lines = vec![
        format!("reference  {}", g.reference()),
        format!("status     {}", g.status()),
    ];
    if let Some(t) = g.created_at() {
        lines.push(format!("created    {t}"));
    }
    if let Some(url) = g.video_url() {
        lines.push(format!("video      {url}"));
    }
    if let Some(cost) = cost_usd(g) {
        lines.push(format!("cost       ${cost:.2}"));
    }
    if let Some(f) = g.failure() {
        lines.push(format!("failure    {} ({})", f.message, f.cause));
    }
    if !g.status().is_terminal() {
        lines.push(format!(
            "Still running: pipevideo wait {} waits for it.",
            g.reference()
        ));
    }
    lines
}

fn dollars(cents: f64) -> String {
    format!("${:.2}", cents / 100.0)
}

/// `usage` as lines.
pub(crate) fn usage_lines(u: &Usage) -> Vec<String> {
    let mut lines = Vec::new();
    match u.credit_balance {
        Some(c) => lines.push(format!("balance   {} ({c} cents)", dollars(c))),
        None => lines.push("balance   (not reported)".to_owned()),
    }
    if let Some(t) = &u.totals {
        let n = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
        lines.push(format!(
            "requests  {} total, {} completed, {} failed, {} spent",
            n(t.total_requests),
            n(t.completed_requests),
            n(t.failed_requests),
            t.total_cost_cents.map_or_else(|| "?".to_owned(), dollars)
        ));
    }
    if !u.recent_requests.is_empty() {
        lines.push("recent:".to_owned());
        for r in u.recent_requests.iter().take(10) {
            lines.push(format!(
                "  {}  {:<9}  {}  {}  {}  {}",
                r.id,
                r.status
                    .as_ref()
                    .map_or_else(|| "?".to_owned(), ToString::to_string),
                r.model_name.as_deref().unwrap_or("?"),
                r.engine.as_deref().unwrap_or("?"),
                r.cost_cents.map_or_else(|| "-".to_owned(), dollars),
                r.latency_ms
                    .map_or_else(|| "-".to_owned(), |ms| format!("{:.1} s", ms / 1000.0)),
            ));
        }
    }
    lines
}

/// `engines` as lines.
pub(crate) fn engine_lines(c: &EngineCatalog) -> Vec<String> {
    if c.engines.is_empty() {
        return vec![
            "The server listed no engines this CLI could read; --json shows the raw answer."
                .to_owned(),
        ];
    }
    let mut lines = Vec::new();
    for e in &c.engines {
        let id = e.id.as_deref().unwrap_or("?");
        match &e.description {
            Some(d) => lines.push(format!("{id} — {d}")),
            None => lines.push(id.to_owned()),
        }
        for m in &e.models {
            let rate = |r: Option<f64>| r.map_or_else(|| "?".to_owned(), |r| format!("${r:.2}"));
            // The schema is undocumented: also read any numeric `input…`/`output…` field.
            let guess = |prefix: &str| {
                m.extra
                    .iter()
                    .find(|(k, v)| k.starts_with(prefix) && v.is_number())
                    .and_then(|(_, v)| v.as_f64())
            };
            lines.push(format!(
                "  {:<28} {} / M input tokens, {} / M output tokens",
                m.id.as_deref().unwrap_or("?"),
                rate(m.input_per_million.or_else(|| guess("input"))),
                rate(m.output_per_million.or_else(|| guess("output")))
            ));
        }
    }
    lines
}

fn routes(m: &ModelInfo) -> String {
    let providers: Vec<&str> = m.routes.iter().filter_map(|r| r.provider.slug()).collect();
    if providers.is_empty() {
        "-".to_owned()
    } else {
        providers.join(", ")
    }
}

/// `models` as lines.
pub(crate) fn model_list_lines(l: &ModelList) -> Vec<String> {
    l.models
        .iter()
        .map(|m| {
            format!(
                "{:<28} {:<28} providers: {}",
                m.slug,
                m.display_name
                    .as_deref()
                    .or(m.name.as_deref())
                    .unwrap_or(""),
                routes(m)
            )
        })
        .collect()
}

/// `models <slug>` as lines.
pub(crate) fn model_detail_lines(d: &ModelDetail) -> Vec<String> {
    let m = &d.model;
    let mut lines = vec![format!("model      {}", m.slug)];
    if let Some(name) = m.display_name.as_deref().or(m.name.as_deref()) {
        lines.push(format!("name       {name}"));
    }
    if let Some(desc) = &m.description {
        lines.push(format!("about      {desc}"));
    }
    lines.push(format!("providers  {}", routes(m)));
    if let Some(metrics) = &d.metrics {
        let n = |v: Option<u64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
        let ms =
            |v: Option<f64>| v.map_or_else(|| "?".to_owned(), |v| format!("{:.1} s", v / 1000.0));
        lines.push(format!(
            "requests   {} total, {} completed, {} failed",
            n(metrics.total_requests),
            n(metrics.completed_requests),
            n(metrics.failed_requests)
        ));
        if metrics.p50_latency_ms.is_some() || metrics.avg_latency_ms.is_some() {
            lines.push(format!(
                "latency    p50 {}, p95 {}, mean {}",
                ms(metrics.p50_latency_ms),
                ms(metrics.p95_latency_ms),
                ms(metrics.avg_latency_ms)
            ));
        }
    }
    lines
}
