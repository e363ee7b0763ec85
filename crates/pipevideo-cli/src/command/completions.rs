//! `pipevideo completions <SHELL>` and `pipevideo man`: generated from the clap command itself,
//! so they always match the options of this build. Neither needs a key or the network.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::cli::Cli;
use crate::exit::{self, Failure};

/// The name the scripts complete, and the man page's title.
const BIN: &str = "pipevideo";

/// Prints the completion script of `shell` on stdout.
pub(crate) fn completions(shell: Shell) -> Result<i32, Failure> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, BIN, &mut script);
    print(&script, "the completion script")
}

/// Prints the man page (roff) on stdout.
pub(crate) fn man() -> Result<i32, Failure> {
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command().name(BIN))
        .render(&mut page)
        .map_err(|e| write_failure("the man page", &e))?;
    print(&page, "the man page")
}

/// Writes `bytes` on stdout. A reader that stops early (`| head`) is not an error.
fn print(bytes: &[u8], what: &str) -> Result<i32, Failure> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(exit::OK),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit::OK),
        Err(e) => Err(write_failure(what, &e)),
    }
}

fn write_failure(what: &str, error: &std::io::Error) -> Failure {
    Failure::new(
        exit::USAGE,
        "usage",
        format!("Could not write {what} on stdout: {error}."),
    )
    .hint("Redirect it to a file in a directory you can write to.")
}
