//! Saving a completed generation's video to the `--output` file: streamed through `FILE.part`
//! with a download bar, renamed to `FILE` when complete, removed if the download fails or is
//! interrupted. Issue #17 replaces this room with a `Client::save` call.

use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::ProgressBar;
use pipevideo::core::transport::ChunkSink;
use pipevideo::model::Generation;
use tokio::io::AsyncWriteExt;

use crate::exit::{self, Failure, Stage, classify};

use super::shared::Ctx;

impl Ctx {
    /// Streams the video into `path` (through `path.part`, renamed when complete).
    pub(super) async fn save(&self, generation: &Generation, path: &Path) -> Result<u64, Failure> {
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
}

fn part_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".part");
    path.with_file_name(name)
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
