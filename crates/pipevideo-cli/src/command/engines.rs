//! `pipevideo engines`: the engines and their orchestration models with prices (no key needed).

use std::time::Instant;

use serde_json::json;

use crate::exit::{self, Failure, Stage, classify};
use crate::output;

use super::shared::Ctx;

impl Ctx {
    pub(super) async fn engines(&self) -> Result<i32, Failure> {
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
}
