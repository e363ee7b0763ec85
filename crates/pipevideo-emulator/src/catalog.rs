//! The static catalogue: orchestration models, engines, providers and legacy video models.

use serde_json::{Value, json};

/// An orchestration LLM of the responses API.
pub(crate) struct LlmModel {
    pub(crate) id: &'static str,
    pub(crate) input_per_million_usd: f64,
    pub(crate) output_per_million_usd: f64,
    /// Provider slugs that serve it, in default preference order.
    pub(crate) providers: &'static [&'static str],
}

pub(crate) const LLM_MODELS: &[LlmModel] = &[
    LlmModel {
        id: "moonshotai/kimi-k2.5",
        input_per_million_usd: 0.6,
        output_per_million_usd: 2.5,
        providers: &["framerate", "pipevideo"],
    },
    LlmModel {
        id: "anthropic/claude-opus-4.8",
        input_per_million_usd: 15.0,
        output_per_million_usd: 75.0,
        providers: &["pipevideo"],
    },
];

pub(crate) const ENGINES: &[(&str, &str, &str)] = &[
    (
        "hyperframes",
        "HyperFrames",
        "MP4 motion graphics composed from HTML frames",
    ),
    (
        "lottie",
        "Lottie",
        "Vector animation rendered from Lottie JSON",
    ),
    ("auto", "Auto", "Picks the engine that suits the prompt"),
];

pub(crate) const KNOWN_PROVIDERS: &[&str] = &["framerate", "pipevideo"];

/// A legacy video model of the generations API.
pub(crate) struct VideoModel {
    pub(crate) id: &'static str,
    pub(crate) slug: &'static str,
    pub(crate) name: &'static str,
    pub(crate) display_name: &'static str,
    pub(crate) description: Option<&'static str>,
    pub(crate) maker: (&'static str, &'static str),
    pub(crate) family: (&'static str, &'static str),
    /// (provider slug, provider name, host slug, host name)
    pub(crate) routes: &'static [(&'static str, &'static str, &'static str, &'static str)],
    pub(crate) cents_per_second: u32,
}

pub(crate) const VIDEO_MODELS: &[VideoModel] = &[
    VideoModel {
        id: "mdl_veo31",
        slug: "google/veo-3.1",
        name: "veo-3.1",
        display_name: "Veo 3.1",
        description: Some("Google's text-to-video model with native audio."),
        maker: ("google", "Google"),
        family: ("veo", "Veo"),
        routes: &[
            ("fal", "fal", "fal-ai", "fal.ai"),
            ("replicate", "Replicate", "replicate", "Replicate"),
        ],
        cents_per_second: 40,
    },
    VideoModel {
        id: "mdl_klingv3pro",
        slug: "kling-kling-video-v3-pro",
        name: "kling-video-v3-pro",
        display_name: "Kling Video v3 Pro",
        description: Some("Kling's high-fidelity video model."),
        maker: ("kling", "Kling AI"),
        family: ("kling-video", "Kling Video"),
        routes: &[("fal", "fal", "fal-ai", "fal.ai")],
        cents_per_second: 28,
    },
    VideoModel {
        id: "mdl_veoveo31",
        slug: "veo-veo-3-1",
        name: "veo-3-1",
        display_name: "Veo 3.1 (Replicate)",
        description: None,
        maker: ("veo", "Veo"),
        family: ("veo", "Veo"),
        routes: &[("replicate", "Replicate", "replicate", "Replicate")],
        cents_per_second: 40,
    },
];

pub(crate) const LEGACY_PROVIDERS: &[&str] = &["fal", "replicate"];

pub(crate) fn llm(id: &str) -> Option<&'static LlmModel> {
    LLM_MODELS.iter().find(|m| m.id == id)
}

pub(crate) fn video_model(slug: &str) -> Option<&'static VideoModel> {
    VIDEO_MODELS.iter().find(|m| m.slug == slug)
}

pub(crate) fn engines_json() -> Value {
    let models: Vec<Value> = LLM_MODELS
        .iter()
        .map(|m| {
            json!({
                "id": m.id,
                "input_per_million_usd": m.input_per_million_usd,
                "output_per_million_usd": m.output_per_million_usd,
                "providers": m.providers,
            })
        })
        .collect();
    let engines: Vec<Value> = ENGINES
        .iter()
        .map(|(id, name, description)| {
            json!({
                "id": id,
                "name": name,
                "description": description,
                "default": *id == "hyperframes",
                "models": models,
            })
        })
        .collect();
    json!({ "object": "list", "engines": engines })
}

fn pricing(m: &VideoModel) -> Value {
    json!({ "per_second_cents": m.cents_per_second, "currency": "usd" })
}

pub(crate) fn model_list_json() -> Value {
    let models: Vec<Value> = VIDEO_MODELS
        .iter()
        .map(|m| {
            json!({
                "slug": m.slug,
                "name": m.name,
                "display_name": m.display_name,
                "description": m.description,
                "capabilities": ["text-to-video", "image-to-video"],
                "pricing": pricing(m),
                "maker": { "slug": m.maker.0, "name": m.maker.1 },
                "family": { "slug": m.family.0, "name": m.family.1 },
                "routes": m.routes.iter().map(|r| json!({ "provider": r.0, "host": r.2 })).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "models": models })
}

pub(crate) fn model_json(m: &VideoModel, metrics: Value) -> Value {
    json!({
        "model": {
            "id": m.id,
            "slug": m.slug,
            "name": m.name,
            "display_name": m.display_name,
            "description": m.description,
            "capabilities": ["text-to-video", "image-to-video"],
            "pricing": pricing(m),
            "maker": { "slug": m.maker.0, "name": m.maker.1 },
            "family": { "slug": m.family.0, "name": m.family.1 },
            "routes": m.routes.iter().map(|r| json!({
                "provider": { "slug": r.0, "name": r.1 },
                "host": { "slug": r.2, "name": r.3 },
            })).collect::<Vec<_>>(),
        },
        "metrics": metrics,
    })
}
