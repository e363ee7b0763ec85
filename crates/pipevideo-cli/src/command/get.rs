//! `pipevideo get`: retrieves a generation once and shows it (status, video URL, failure).

use std::time::Instant;

use serde_json::json;

use crate::cli::RefArgs;
use crate::exit::{self, Failure, Stage, classify};
use crate::output;

use super::shared::{Ctx, reference};

impl Ctx {
    pub(super) async fn get(&self, args: &RefArgs) -> Result<i32, Failure> {
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
}
