//! The commands, one file each, and the dispatch from the parsed command line to them.
//!
//! `generate`, `get`, `wait`, `usage`, `engines` and `models` run with a [`Ctx`] (the
//! session, the UI and Ctrl-C), defined with the helpers they share in `shared`; saving a video
//! to `--output` is `save`. `webhook` and `completions` (which also holds `man`) need no key
//! and no client, and run before a session is opened.

mod completions;
mod engines;
mod generate;
mod get;
mod models;
mod save;
mod shared;
mod usage;
mod wait;
mod webhook;

use std::sync::Arc;

use pipevideo::CancelToken;

use crate::cli::{Cli, Command, WebhookCommand};
use crate::exit::{self, Failure};
use crate::session::{self, KeyNeed};
use crate::ui::Ui;

use self::shared::{Ctx, reference};

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
                WebhookCommand::Verify(args) => webhook::verify(args, &ui, cli.json),
                WebhookCommand::Listen(args) => webhook::listen(args, cli.json, cancel).await,
            };
        }
        Command::Completions { shell } => return completions::completions(shell),
        Command::Man => return completions::man(),
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
