//! `pipevideo generate`: builds the request from the flags (the Responses API, or the legacy one
//! with `--legacy`), creates the generation, then waits for it like `pipevideo wait` (unless
//! `--no-wait`).

use std::time::Instant;

use pipevideo::WaitOptions;
use pipevideo::core::RequestError;
use pipevideo::model::{
    ContentPart, CreateGeneration, CreateResponse, Engine, Input, LegacyProvider, Message,
};
use serde_json::json;

use crate::cli::{DEFAULT_LEGACY_MODEL, DEFAULT_MODEL, GenerateArgs};
use crate::exit::{self, Failure, Stage, classify};
use crate::output;

use super::shared::{Ctx, check_output};
use super::wait::drive;

impl Ctx {
    pub(super) async fn generate(&self, args: &GenerateArgs) -> Result<i32, Failure> {
        if let Some(path) = &args.wait.output {
            check_output(path, args.wait.force)?;
        }
        let started = Instant::now();
        let client = &self.session.client;
        let created = if args.legacy {
            let request = legacy_request(args)?;
            self.interruptible(
                client.create_legacy(&request),
                None,
                "before the generation was created (if the request reached the server, \
                 `pipevideo usage` lists it)",
            )
            .await?
        } else {
            let request = responses_request(args)?;
            self.interruptible(
                client.create(&request),
                None,
                "before the generation was created (if the request reached the server, \
                 `pipevideo usage` lists it)",
            )
            .await?
        };
        let handle = created.map_err(|e| classify(&e, Stage::Create, started.elapsed()))?;
        let reference = handle.reference().clone();
        if args.no_wait {
            let generation = handle.generation().clone();
            self.ui.note(&format!(
                "Created {reference}. Wait for it with: pipevideo wait {reference}"
            ));
            self.ui.result(&reference.to_string());
            self.ui.json(&json!({
                "ok": true,
                "reference": reference.to_string(),
                "generation": output::generation_json(&generation),
            }));
            return Ok(exit::OK);
        }
        self.ui.note(&format!(
            "Created {reference}. If this stops early, resume with: pipevideo wait {reference}"
        ));
        let progress = handle.progress();
        let options = WaitOptions::new()
            .with_deadline(args.wait.timeout)
            .with_cancel(self.cancel.clone());
        self.ui.start_wait(&reference);
        let result = drive(handle.wait_with(options), progress, &self.ui).await;
        self.finish(reference, result, &args.wait, started).await
    }
}

fn responses_request(args: &GenerateArgs) -> Result<CreateResponse, Failure> {
    let model = args
        .model
        .clone()
        .unwrap_or_else(|| DEFAULT_MODEL.to_owned());
    let input = if args.images.is_empty() && args.videos.is_empty() {
        Input::from(args.prompt.as_str())
    } else {
        let mut parts = vec![ContentPart::text(args.prompt.as_str())];
        parts.extend(args.images.iter().map(|u| ContentPart::image(u.as_str())));
        parts.extend(args.videos.iter().map(|u| ContentPart::video(u.as_str())));
        Input::Messages(vec![Message::user(parts)])
    };
    let mut request = CreateResponse::new(model, input);
    if let Some(engine) = &args.engine {
        request = request.engine(Engine::from_wire(engine));
    }
    if let Some(ratio) = &args.aspect_ratio {
        request = request.aspect_ratio(ratio.as_str());
    }
    if let (Some(w), Some(h)) = (args.width, args.height) {
        request = request.canvas(w, h);
    }
    if let Some(i) = &args.instructions {
        request = request.instructions(i.as_str());
    }
    if args.expand_prompt {
        request = request.expand_prompt(true);
    }
    if !args.providers.is_empty() {
        request = request.provider_order(args.providers.iter().map(String::as_str));
    }
    request.validate().map_err(refused)?;
    Ok(request)
}

fn legacy_request(args: &GenerateArgs) -> Result<CreateGeneration, Failure> {
    let model = args
        .model
        .clone()
        .unwrap_or_else(|| DEFAULT_LEGACY_MODEL.to_owned());
    let mut request = CreateGeneration::new(model, args.prompt.as_str());
    if let Some(ratio) = &args.aspect_ratio {
        request = request.aspect_ratio(ratio.as_str());
    }
    match args.images.as_slice() {
        [] => {}
        [url] => request = request.image_url(url.as_str()),
        _ => {
            return Err(Failure::new(
                exit::USAGE,
                "usage",
                "The legacy API takes one reference image; pass --image once.",
            ));
        }
    }
    match args.providers.as_slice() {
        [] => {}
        [slug] => request = request.provider(LegacyProvider::slug(slug.as_str())),
        _ => {
            return Err(Failure::new(
                exit::USAGE,
                "usage",
                "The legacy API takes one provider; pass --provider once.",
            ));
        }
    }
    request.validate().map_err(refused)?;
    Ok(request)
}

fn refused(e: RequestError) -> Failure {
    Failure::new(
        exit::USAGE,
        "usage",
        format!("The request was refused before sending: {e}."),
    )
    .hint("Nothing was sent; fix the argument and run the command again.")
}
