//! `cargo xtask soak`: the long chaos soak (tests/tests/chaos.rs) with many generations over both
//! transports, in a release build. CI runs the same test with a few hundred generations as part of
//! `cargo test`; this is the long version, run by hand before a release.

use std::path::Path;

use crate::{Result, exec};

/// Generations per transport when none are asked for.
pub(crate) const DEFAULT_GENERATIONS: u32 = 10_000;

pub(crate) fn run(root: &Path, generations: u32) -> Result<()> {
    let mut command = exec::cargo(root);
    command
        .env("PIPEVIDEO_SOAK_GENERATIONS", generations.to_string())
        .args([
            "test",
            "--release",
            "-p",
            "pipevideo-tests",
            "--test",
            "chaos",
            "--",
            "--nocapture",
            "--test-threads=1",
        ]);
    println!(
        "==> soak: {generations} generations per transport: {}",
        exec::show(&command)
    );
    exec::run(&mut command)
}
