//! Validation: whether a create's JSON body is one the real API accepts, and what it asks for.
//!
//! `validate_responses` (`POST /v1/responses`) and `validate_legacy` (`POST /v1/video/generations`)
//! turn a body into a `Validated` request (model, engine, provider, prompt) or into the exact 400
//! message the service would send. They are pure functions of the body and the `catalog`: no
//! state, no clock, no randomness, so the create handler can check a body before it touches the
//! store. Routing and the error shape are `routes`' job; what a valid create does is `handlers`'.

use serde_json::{Map, Value};

use crate::catalog;

fn prompt_text(v: &Value) -> Result<String, String> {
    const ROLES: &[&str] = &["system", "user", "assistant", "developer"];
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Array(items) => {
            let mut text = String::new();
            for item in items {
                let role = item.get("role").and_then(Value::as_str).unwrap_or("");
                if !ROLES.contains(&role) {
                    return Err(format!("Invalid input: unknown role `{role}`"));
                }
                let Some(parts) = item.get("content").and_then(Value::as_array) else {
                    return Err("Invalid input: each message needs a `content` array".into());
                };
                for part in parts {
                    match part.get("type").and_then(Value::as_str) {
                        Some("input_text") => match part.get("text").and_then(Value::as_str) {
                            Some(t) => {
                                text.push_str(t);
                                text.push('\n');
                            }
                            None => return Err("Invalid input: input_text needs `text`".into()),
                        },
                        Some(kind @ ("input_image" | "input_video")) => {
                            let field = if kind == "input_image" {
                                "image_url"
                            } else {
                                "video_url"
                            };
                            let url = part
                                .get(field)
                                .and_then(|u| u.get("url"))
                                .and_then(Value::as_str)
                                .unwrap_or("");
                            if !(url.starts_with("https://") || url.starts_with("data:")) {
                                return Err(format!(
                                    "Invalid input: {field}.url must be https or a data URI"
                                ));
                            }
                            if let Some(detail) = part.get(field).and_then(|u| u.get("detail")) {
                                let ok = detail.as_str().is_some_and(|d| {
                                    ["auto", "low", "high", "original"].contains(&d)
                                });
                                if !ok {
                                    return Err("Invalid input: image detail must be auto, low, high or original".into());
                                }
                            }
                        }
                        other => {
                            return Err(format!(
                                "Invalid input: unknown content part type {other:?}"
                            ));
                        }
                    }
                }
            }
            Ok(text)
        }
        _ => Err("Invalid input: expected a string or an array of messages".into()),
    }
}

fn provider_order(v: Option<&Value>) -> Result<Option<Vec<String>>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Object(o)) => {
            let list = o.get("order").or_else(|| o.get("only"));
            match list {
                None => Ok(None),
                Some(Value::Array(a)) => a
                    .iter()
                    .map(|x| {
                        x.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| "Invalid provider: order must list slugs".to_owned())
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map(Some),
                Some(_) => Err("Invalid provider: order must be an array of provider slugs".into()),
            }
        }
        Some(_) => {
            Err("Invalid provider: expected an object like {\"order\": [\"framerate\"]}".into())
        }
    }
}

/// A create request that passed validation, as far as the store needs it.
pub(crate) struct Validated {
    pub(crate) model: String,
    /// `None` on the legacy route, which has no engines.
    pub(crate) engine: Option<String>,
    pub(crate) provider: String,
    /// The text the failure markers are looked for in (on the responses route, with
    /// `instructions` appended).
    pub(crate) prompt: String,
}

/// Validates a `POST /v1/responses` body.
pub(crate) fn validate_responses(body: &Map<String, Value>) -> Result<Validated, String> {
    let model = match body.get("model") {
        Some(Value::String(m)) => m.clone(),
        None => return Err("Invalid request: `model` is required".into()),
        Some(_) => return Err("Invalid request: `model` must be a string".into()),
    };
    let Some(llm) = catalog::llm(&model) else {
        return Err(format!("Invalid model: {model}"));
    };
    let Some(input) = body.get("input") else {
        return Err("Invalid prompt: `input` is required".into());
    };
    let mut prompt = prompt_text(input)?;
    if prompt.trim().is_empty() {
        return Err("Invalid prompt: missing or empty text".into());
    }
    if let Some(instr) = body.get("instructions") {
        match instr {
            Value::String(s) => {
                prompt.push('\n');
                prompt.push_str(s);
            }
            Value::Null => {}
            _ => return Err("Invalid request: `instructions` must be a string".into()),
        }
    }
    let engine = match body.get("engine") {
        None | Some(Value::Null) => "hyperframes".to_owned(),
        Some(Value::String(e)) if catalog::ENGINES.iter().any(|(id, _, _)| id == e) => e.clone(),
        Some(other) => {
            return Err(format!(
                "Invalid engine: {other}. Expected hyperframes, lottie or auto"
            ));
        }
    };
    if let Some(v) = body.get("expand_prompt")
        && !v.is_boolean()
        && !v.is_null()
    {
        return Err("Invalid request: `expand_prompt` must be a boolean".into());
    }
    for dim in ["width", "height"] {
        if let Some(v) = body.get(dim)
            && !v.is_null()
        {
            let ok = v.as_f64().is_some_and(|n| (16.0..=4096.0).contains(&n));
            if !ok {
                return Err(format!(
                    "Invalid request: `{dim}` must be a number between 16 and 4096"
                ));
            }
        }
    }
    if let Some(v) = body.get("aspectRatio")
        && !v.is_null()
        && !v.as_str().is_some_and(|s| {
            s.split_once(':')
                .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok())
        })
    {
        return Err("Invalid request: `aspectRatio` must look like `16:9`".into());
    }
    let provider = match provider_order(body.get("provider"))? {
        None => llm.providers[0].to_owned(),
        Some(order) => {
            if let Some(unknown) = order
                .iter()
                .find(|p| !catalog::KNOWN_PROVIDERS.contains(&p.as_str()))
            {
                return Err(format!("Unsupported provider: {unknown}"));
            }
            match order.iter().find(|p| llm.providers.contains(&p.as_str())) {
                Some(p) => p.clone(),
                None => {
                    return Err(format!(
                        "Unsupported provider: none of {order:?} supports model {model}"
                    ));
                }
            }
        }
    };
    Ok(Validated {
        model,
        engine: Some(engine),
        provider,
        prompt,
    })
}

/// Validates a `POST /v1/video/generations` body; also returns the price in cents (the
/// model's per-second price times `duration`).
pub(crate) fn validate_legacy(body: &Map<String, Value>) -> Result<(Validated, i64), String> {
    let prompt = match body.get("prompt") {
        Some(Value::String(p)) if !p.trim().is_empty() => p.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err("Invalid prompt: missing or empty text".into());
        }
        Some(_) => return Err("Invalid prompt: `prompt` must be a string".into()),
    };
    let candidates: Vec<String> = match (body.get("model"), body.get("models")) {
        (Some(Value::String(m)), _) => vec![m.clone()],
        (_, Some(Value::Array(ms))) if !ms.is_empty() => {
            let mut out = Vec::new();
            for m in ms {
                match m.as_str() {
                    Some(s) => out.push(s.to_owned()),
                    None => return Err("Invalid request: `models` must list model slugs".into()),
                }
            }
            out
        }
        _ => return Err("Invalid request: `model` (or `models`) is required".into()),
    };
    if let Some(unknown) = candidates
        .iter()
        .find(|m| catalog::video_model(m).is_none())
    {
        return Err(format!("Invalid model: {unknown}"));
    }
    let order = provider_order(body.get("provider"))?;
    if let Some(order) = &order
        && let Some(unknown) = order
            .iter()
            .find(|p| !catalog::LEGACY_PROVIDERS.contains(&p.as_str()))
    {
        return Err(format!("Unsupported provider: {unknown}"));
    }
    let mut chosen = None;
    for slug in &candidates {
        let Some(m) = catalog::video_model(slug) else {
            continue;
        };
        let provider = match &order {
            None => Some(m.routes[0].0.to_owned()),
            Some(order) => order
                .iter()
                .find(|p| m.routes.iter().any(|r| r.0 == p.as_str()))
                .cloned(),
        };
        if let Some(p) = provider {
            chosen = Some((m, p));
            break;
        }
    }
    let Some((model, provider)) = chosen else {
        return Err(format!(
            "Unsupported provider: model {} is not available on {:?}",
            candidates[0],
            order.unwrap_or_default()
        ));
    };
    if let Some(v) = body.get("aspectRatio")
        && !v.is_null()
        && !v
            .as_str()
            .is_some_and(|s| ["16:9", "9:16", "1:1"].contains(&s))
    {
        return Err("Invalid request: `aspectRatio` must be 16:9, 9:16 or 1:1".into());
    }
    if let Some(v) = body.get("resolution")
        && !v.is_null()
        && !v.as_str().is_some_and(|s| ["720p", "1080p"].contains(&s))
    {
        return Err("Invalid request: `resolution` must be 720p or 1080p".into());
    }
    let seconds = match body.get("duration") {
        None | Some(Value::Null) => 5,
        Some(v) => match v.as_f64() {
            Some(n) if (1.0..=60.0).contains(&n) => n.ceil() as i64,
            _ => return Err("Invalid request: `duration` must be between 1 and 60 seconds".into()),
        },
    };
    if let Some(v) = body.get("imageUrl")
        && !v.is_null()
        && !v
            .as_str()
            .is_some_and(|s| s.starts_with("https://") || s.starts_with("data:"))
    {
        return Err("Invalid request: `imageUrl` must be an https URL or a data URI".into());
    }
    let price = i64::from(model.cents_per_second) * seconds;
    Ok((
        Validated {
            model: model.slug.to_owned(),
            engine: None,
            provider,
            prompt,
        },
        price,
    ))
}
