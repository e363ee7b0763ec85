//! The `pipevideo` command: generate videos, wait for them, download them, inspect usage.
//!
//! ```text
//! pipevideo --emulator generate "A cat on a beach" --output cat.mp4
//! ```
//!
//! runs the whole job against a built-in emulator (no key, no network) in a few seconds. Against
//! the real API, pass the key with `--api-key` or `PIPEVIDEO_API_KEY`. `pipevideo --help` lists
//! the commands and the exit codes.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod cli;
mod command;
mod duration;
mod exit;
mod observe;
mod output;
mod session;
mod ui;

use std::sync::Arc;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use pipevideo::CancelToken;
use serde_json::json;

use crate::cli::Cli;
use crate::exit::Failure;
use crate::ui::{Mode, Ui};

fn main() {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let key_from_command_line = matches.value_source("api_key") == Some(ValueSource::CommandLine);
    init_tracing(cli.verbose);
    let ui = Arc::new(Ui::new(Mode::detect(cli.json, cli.verbose > 0)));

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            std::process::exit(exit::API);
        }
    };
    let code = runtime.block_on(async {
        let cancel = CancelToken::new();
        tokio::spawn(watch_ctrl_c(cancel.clone()));
        match command::run(cli, key_from_command_line, Arc::clone(&ui), cancel).await {
            Ok(code) => code,
            Err(failure) => {
                report(&ui, &failure);
                failure.code
            }
        }
    });
    // The emulator's connections and timers may still be alive: do not wait for them.
    runtime.shutdown_timeout(Duration::from_millis(200));
    std::process::exit(code);
}

/// The first Ctrl-C cancels what is running (the command then says how to resume); a second
/// one exits at once.
async fn watch_ctrl_c(cancel: CancelToken) {
    if tokio::signal::ctrl_c().await.is_ok() {
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(exit::INTERRUPTED);
        }
    }
}

/// Prints a failure: the sentence and hint on stderr, and with `--json` a document on stdout.
fn report(ui: &Ui, failure: &Failure) {
    ui.end_wait();
    ui.end_download();
    eprintln!("error: {}", failure.message);
    if let Some(hint) = &failure.hint {
        eprintln!("hint: {hint}");
    }
    ui.json(&json!({
        "ok": false,
        "exit_code": failure.code,
        "reference": failure.reference.as_ref().map(ToString::to_string),
        "error": {
            "kind": failure.kind,
            "message": failure.message,
            "hint": failure.hint,
            "http_status": failure.http_status,
        },
    }));
}

fn init_tracing(verbose: u8) {
    if verbose == 0 && std::env::var_os("RUST_LOG").is_none() {
        // Quiet, but a shared pacing store that went down is worth a line on stderr.
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "pipevideo_core::pacing=warn",
            ))
            .with_writer(std::io::stderr)
            .with_target(false)
            .without_time()
            .init();
        return;
    }
    let level = match verbose {
        0 | 1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let default = format!(
        "pipevideo_core={level},pipevideo_cli={level},pipevideo_reqwest={level},pipevideo_emulator={level}"
    );
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
