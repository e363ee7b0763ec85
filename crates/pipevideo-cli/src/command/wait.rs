//! `pipevideo wait`, and the end of every wait (`generate` hands over to it): drives the wait
//! while rendering its progress, then reports the result and saves the video with `--output`.

use std::future::Future;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use indicatif::HumanBytes;
use pipevideo::model::Generation;
use pipevideo::{Error, GenerationRef, ProgressStream, WaitOptions};
use serde_json::{Value, json};

use crate::cli::WaitFlags;
use crate::duration::human;
use crate::exit::{self, Failure, Stage, classify};
use crate::output;
use crate::ui::Ui;

use super::shared::{Ctx, check_output};

impl Ctx {
    pub(super) async fn wait(
        &self,
        reference: GenerationRef,
        flags: &WaitFlags,
    ) -> Result<i32, Failure> {
        if let Some(path) = &flags.output {
            check_output(path, flags.force)?;
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
    pub(super) async fn finish(
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
            let bytes = self.save(&generation, path, flags.force).await?;
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
}

/// Drives a wait while rendering its progress events; drains the events left at the end.
pub(super) async fn drive(
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

fn round3(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}
