//! `pipevideo usage`: the credit balance and recent usage.

use std::time::Instant;

use serde_json::json;

use crate::exit::{self, Failure, Stage, classify};
use crate::output;

use super::shared::Ctx;

impl Ctx {
    pub(super) async fn usage(&self) -> Result<i32, Failure> {
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
}
