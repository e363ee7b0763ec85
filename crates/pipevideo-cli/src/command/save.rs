//! Saving a completed generation's video to the `--output` file: one call to
//! `Client::save` (temporary file beside the target, never through a symlink, resumed when
//! cut, renamed when complete, removed on failure and on Ctrl-C), with the download bar fed
//! by the save's progress events.

use std::path::Path;
use std::time::Instant;

use futures_util::{FutureExt, StreamExt};
use pipevideo::core::client::SaveOptions;
use pipevideo::model::Generation;

use crate::exit::{self, Failure, Stage, classify};

use super::shared::Ctx;

impl Ctx {
    /// Saves the video into `path`; returns its size in bytes.
    pub(super) async fn save(
        &self,
        generation: &Generation,
        path: &Path,
        force: bool,
    ) -> Result<u64, Failure> {
        let reference = generation.reference().clone();
        let client = &self.session.client;
        let mut progress = client.progress(&reference);
        self.ui.start_download(&path.display().to_string());
        let started = Instant::now();
        let options = SaveOptions::new().overwrite(force);
        let save = async {
            let mut save = std::pin::pin!(client.save(generation, path, options));
            let result = loop {
                tokio::select! {
                    result = &mut save => break result,
                    Some(event) = progress.next() => self.ui.download_event(&event),
                }
            };
            while let Some(Some(event)) = progress.next().now_or_never() {
                self.ui.download_event(&event);
            }
            result
        };
        let outcome = self
            .interruptible(
                save,
                Some(&reference),
                &format!("while downloading the video of {reference} (nothing was left behind)"),
            )
            .await;
        self.ui.end_download();
        match outcome? {
            Ok(saved) => Ok(saved.bytes),
            Err(e) => {
                let failure = classify(&e, Stage::Download, started.elapsed())
                    .reference(Some(reference.clone()));
                // A local failure (the file, its directory) is the path's fault, not the host's.
                let local = matches!(&e, pipevideo::Error::Download(d) if d.io_kind().is_some());
                Err(if local {
                    Failure::new(
                        exit::DOWNLOAD,
                        "download",
                        format!("The generation completed, but {}.", printable_error(&e)),
                    )
                    .hint(format!(
                        "Pick another --output path, then run `pipevideo wait {reference} --output FILE`."
                    ))
                    .reference(Some(reference))
                } else {
                    failure
                })
            }
        }
    }
}

/// The error's line, for a sentence.
fn printable_error(e: &pipevideo::Error) -> String {
    crate::ui::printable(&e.to_string()).into_owned()
}
