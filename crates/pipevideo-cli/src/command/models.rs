//! `pipevideo models [SLUG]`: the legacy video models, or one model in detail.

use std::time::Instant;

use serde_json::json;

use crate::exit::{self, Failure, Stage, classify};
use crate::output;

use super::shared::Ctx;

impl Ctx {
    pub(super) async fn models(&self, slug: Option<&str>) -> Result<i32, Failure> {
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
