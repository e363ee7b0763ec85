//! The commands.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use indicatif::{HumanBytes, ProgressBar};
use pipevideo::core::transport::ChunkSink;
use pipevideo::core::{RefParseError, RequestError};
use pipevideo::model::{
    ContentPart, CreateGeneration, CreateResponse, Engine, Generation, Input, LegacyProvider,
    Message,
};
use pipevideo::{
    CancelToken, Error, Flavor, GenerationId, GenerationRef, ProgressStream, WaitOptions,
};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::cli::{
    Cli, Command, DEFAULT_LEGACY_MODEL, DEFAULT_MODEL, GenerateArgs, RefArgs, WaitFlags,
    WebhookCommand,
};
use crate::duration::human;
use crate::exit::{self, Failure, Stage, classify};
use crate::output;
use crate::session::{self, KeyNeed, Session};
use crate::ui::Ui;

/// Runs the parsed command; `Ok` carries the exit code of a success.
pub(crate) async fn run(
    cli: Cli,
    key_from_command_line: bool,
    ui: Arc<Ui>,
    cancel: CancelToken,
) -> Result<i32, Failure> {
    // The webhook, completion and man page commands need no key and no client.
    match cli.command {
        Command::Webhook(command) => {
            return match command {
                WebhookCommand::Verify(args) => crate::webhook::verify(args, &ui, cli.json),
                WebhookCommand::Listen(args) => {
                    crate::webhook::listen(args, cli.json, cancel).await
                }
            };
        }
        Command::Completions { shell } => return crate::completions::completions(shell),
        Command::Man => return crate::completions::man(),
        _ => {}
    }
    let need = match cli.command {
        Command::Engines => KeyNeed::NotNeeded,
        _ => KeyNeed::Required,
    };
    let session = session::open(&cli, key_from_command_line, need, &ui).await?;
    if cli.emulator && matches!(cli.command, Command::Get(_) | Command::Wait(_)) {
        ui.note(
            "Note: --emulator starts a fresh emulator that knows no earlier generation. To come \
             back to one, run the emulator on its own (cargo run -p pipevideo-emulator) and point \
             --base-url (or PIPEVIDEO_API_URL) at it.",
        );
    }
    let ctx = Ctx {
        session,
        ui,
        cancel,
    };
    match &cli.command {
        Command::Generate(args) => ctx.generate(args).await,
        Command::Get(args) => ctx.get(args).await,
        Command::Wait(args) => {
            let reference = reference(&args.target)?;
            ctx.wait(reference, &args.wait).await
        }
        Command::Usage => ctx.usage().await,
        Command::Engines => ctx.engines().await,
        Command::Models { slug } => ctx.models(slug.as_deref()).await,
        // Dispatched above, before the session; kept total without a panic.
        Command::Webhook(_) | Command::Completions { .. } | Command::Man => Err(Failure::new(
            exit::USAGE,
            "usage",
            "The webhook, completions and man commands run without a session.",
        )),
    }
}

struct Ctx {
    session: Session,
    ui: Arc<Ui>,
    cancel: CancelToken,
}

fn reference(args: &RefArgs) -> Result<GenerationRef, Failure> {
    let bad = |e: String| {
        Failure::new(exit::USAGE, "usage", format!("That is not a generation reference: {e}."))
            .hint("Pass the reference `pipevideo generate` printed, e.g. responses:gen_abc123, or --legacy gen_abc123.")
    };
    match (&args.reference, &args.legacy) {
        (_, Some(id)) => GenerationId::new(id.trim())
            .map(|id| GenerationRef::new(Flavor::Legacy, id))
            .map_err(|e| bad(e.to_string())),
        (Some(r), None) => r
            .trim()
            .parse()
            .map_err(|e: RefParseError| bad(e.to_string())),
        (None, None) => Err(bad("none was given".into())),
    }
}

impl Ctx {
    /// Runs `fut` unless Ctrl-C comes first.
    async fn interruptible<T>(
        &self,
        fut: impl Future<Output = T>,
        reference: Option<&GenerationRef>,
        what: &str,
    ) -> Result<T, Failure> {
        tokio::select! {
            value = fut => Ok(value),
            () = self.cancel.cancelled() => Err(Failure::interrupted(reference.cloned(), what)),
        }
    }

    async fn generate(&self, args: &GenerateArgs) -> Result<i32, Failure> {
        if let Some(path) = &args.wait.output {
            check_output(path)?;
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

    async fn wait(&self, reference: GenerationRef, flags: &WaitFlags) -> Result<i32, Failure> {
        if let Some(path) = &flags.output {
            check_output(path)?;
        }
        let started = Instant::now();
        let client = &self.session.client;
        let progress = client.progress(&reference);
        let options = WaitOptions::new()
            .with_deadline(flags.timeout)
            .with_cancel(self.cancel.clone());
        self.ui.start_wait(&reference);
        let result = drive(client.wait_with(&reference, options), progress, &self.ui).await;
        self.finish(reference, result, flags, started).await
    }

    /// After a wait: report, download with `--output`.
    async fn finish(
        &self,
        reference: GenerationRef,
        result: Result<Generation, Error>,
        flags: &WaitFlags,
        started: Instant,
    ) -> Result<i32, Failure> {
        let (polls, waited) = self.ui.end_wait();
        let generation = result.map_err(|e| {
            classify(&e, Stage::Wait, started.elapsed()).reference(Some(reference.clone()))
        })?;
        let requests = self.ui.requests();
        let troubles = self.ui.troubles();
        let cost = output::cost_usd(&generation)
            .map(|c| format!(", cost ${c:.2}"))
            .unwrap_or_default();
        let mut summary = format!(
            "{reference} completed in {}{cost} ({polls} poll{}, {requests} HTTP request{}",
            human(waited),
            if polls == 1 { "" } else { "s" },
            if requests == 1 { "" } else { "s" },
        );
        if troubles > 0 {
            summary.push_str(&format!(
                ", {troubles} met a fault and {} retried",
                if troubles == 1 { "was" } else { "were" }
            ));
        }
        summary.push(')');
        self.ui.result(&summary);
        if let Some(url) = generation.video_url() {
            self.ui.result(&format!("video  {url}"));
        }
        let mut saved = Value::Null;
        if let Some(path) = &flags.output {
            let bytes = self.save(&generation, path).await?;
            let size = if bytes < 1024 {
                format!("{bytes} bytes")
            } else {
                format!("{}, {bytes} bytes", HumanBytes(bytes))
            };
            self.ui
                .result(&format!("saved  {} ({size})", path.display()));
            saved = json!({ "path": path.display().to_string(), "bytes": bytes });
        }
        self.ui.json(&json!({
            "ok": true,
            "reference": reference.to_string(),
            "status": generation.status().as_str(),
            "video_url": generation.video_url(),
            "cost_usd": output::cost_usd(&generation),
            "output": saved,
            "polls": polls,
            "elapsed_seconds": round3(started.elapsed()),
            "http_requests": requests,
            "http_faults": troubles,
            "generation": output::generation_json(&generation),
        }));
        Ok(exit::OK)
    }

    /// Streams the video into `path` (through `path.part`, renamed when complete).
    async fn save(&self, generation: &Generation, path: &Path) -> Result<u64, Failure> {
        let reference = generation.reference().clone();
        let local =
            |e: std::io::Error, what: &str| {
                Failure::new(
                exit::DOWNLOAD,
                "download",
                format!("The generation completed, but {what} {}: {e}.", path.display()),
            )
            .hint(format!(
                "Pick another --output path, then run `pipevideo wait {reference} --output FILE`."
            ))
            .reference(Some(reference.clone()))
            };
        let part = part_path(path);
        let file = tokio::fs::File::create(&part)
            .await
            .map_err(|e| local(e, "could not create"))?;
        let bar = self.ui.start_download(&path.display().to_string());
        let mut sink = FileSink {
            file: tokio::io::BufWriter::new(file),
            bar,
        };
        let started = Instant::now();
        let outcome = self
            .interruptible(
                self.session.client.download(generation, &mut sink),
                Some(&reference),
                &format!("while downloading the video of {reference}"),
            )
            .await;
        self.ui.end_download();
        let written = match outcome {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(classify(&e, Stage::Download, started.elapsed())
                    .reference(Some(reference.clone())));
            }
            Err(interrupted) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(interrupted);
            }
        };
        sink.file
            .flush()
            .await
            .map_err(|e| local(e, "could not write"))?;
        drop(sink);
        tokio::fs::rename(&part, path)
            .await
            .map_err(|e| local(e, "could not move the download to"))?;
        Ok(written)
    }

    async fn get(&self, args: &RefArgs) -> Result<i32, Failure> {
        let reference = reference(args)?;
        let started = Instant::now();
        let generation = self
            .interruptible(
                self.session.client.retrieve(&reference),
                Some(&reference),
                "while retrieving the generation",
            )
            .await?
            .map_err(|e| {
                classify(&e, Stage::Retrieve, started.elapsed()).reference(Some(reference.clone()))
            })?;
        for line in output::generation_lines(&generation) {
            self.ui.result(&line);
        }
        self.ui.json(&json!({
            "ok": true,
            "reference": reference.to_string(),
            "generation": output::generation_json(&generation),
        }));
        Ok(exit::OK)
    }

    async fn usage(&self) -> Result<i32, Failure> {
        let started = Instant::now();
        let usage = self
            .interruptible(self.session.client.usage(), None, "while reading the usage")
            .await?
            .map_err(|e| classify(&e, Stage::Usage, started.elapsed()))?;
        for line in output::usage_lines(&usage) {
            self.ui.result(&line);
        }
        self.ui.json(&json!({ "ok": true, "usage": usage }));
        Ok(exit::OK)
    }

    async fn engines(&self) -> Result<i32, Failure> {
        let started = Instant::now();
        let catalog = self
            .interruptible(
                self.session.client.engines(),
                None,
                "while reading the engines",
            )
            .await?
            .map_err(|e| classify(&e, Stage::Catalogue, started.elapsed()))?;
        for line in output::engine_lines(&catalog) {
            self.ui.result(&line);
        }
        self.ui.json(&json!({ "ok": true, "engines": catalog }));
        Ok(exit::OK)
    }

    async fn models(&self, slug: Option<&str>) -> Result<i32, Failure> {
        let started = Instant::now();
        let client = &self.session.client;
        match slug {
            None => {
                let list = self
                    .interruptible(client.models(), None, "while reading the models")
                    .await?
                    .map_err(|e| classify(&e, Stage::Catalogue, started.elapsed()))?;
                for line in output::model_list_lines(&list) {
                    self.ui.result(&line);
                }
                self.ui.json(&json!({ "ok": true, "models": list }));
            }
            Some(slug) => {
                let detail = self
                    .interruptible(client.model(slug), None, "while reading the model")
                    .await?
                    .map_err(|e| classify(&e, Stage::Catalogue, started.elapsed()))?;
                for line in output::model_detail_lines(&detail) {
                    self.ui.result(&line);
                }
                self.ui.json(&json!({ "ok": true, "model": detail }));
            }
        }
        Ok(exit::OK)
    }
}

/// Drives a wait while rendering its progress events; drains the events left at the end.
async fn drive(
    wait: impl Future<Output = Result<Generation, Error>>,
    mut progress: ProgressStream,
    ui: &Ui,
) -> Result<Generation, Error> {
    let mut wait = std::pin::pin!(wait);
    let result = loop {
        tokio::select! {
            result = &mut wait => break result,
            Some(event) = progress.next() => ui.event(&event),
        }
    };
    while let Some(Some(event)) = progress.next().now_or_never() {
        ui.event(&event);
    }
    result
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

/// Refuses an `--output` path that cannot work before anything is created (and paid for).
fn check_output(path: &Path) -> Result<(), Failure> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let refuse = |why: String| {
        Failure::new(
            exit::USAGE,
            "usage",
            format!("--output {}: {why}.", path.display()),
        )
        .hint("Nothing was created; pick a path in an existing directory.")
    };
    if path.is_dir() {
        return Err(refuse("is a directory".into()));
    }
    if !dir.is_dir() {
        return Err(refuse(format!(
            "the directory {} does not exist",
            dir.display()
        )));
    }
    Ok(())
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    path.with_file_name(name)
}

fn round3(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// Streams the video into a file and moves the download bar.
struct FileSink {
    file: tokio::io::BufWriter<tokio::fs::File>,
    bar: Option<ProgressBar>,
}

#[async_trait::async_trait]
impl ChunkSink for FileSink {
    async fn write_chunk(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.file.write_all(chunk).await?;
        if let Some(bar) = &self.bar {
            bar.inc(chunk.len() as u64);
        }
        Ok(())
    }

    async fn finish(&mut self) -> std::io::Result<()> {
        self.file.flush().await
    }
}
