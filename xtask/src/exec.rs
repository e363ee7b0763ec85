//! Running other programs (cargo, git) with clear errors.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::{Result, bail};

/// A `cargo` command run in `dir`: the cargo that runs xtask (`$CARGO`) when there is one.
pub(crate) fn cargo(dir: &Path) -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(program);
    command.current_dir(dir);
    command
}

/// Runs `command` with its output captured; returns stdout, or fails with its stderr.
pub(crate) fn read(command: &mut Command) -> Result<String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not start `{}`: {e}", show(command)))?;
    if !output.status.success() {
        bail!(
            "`{}` failed ({}):\n{}",
            show(command),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    String::from_utf8(output.stdout)
        .map_err(|_| format!("`{}` printed something that is not UTF-8", show(command)).into())
}

/// Runs `command` with the terminal's stdout and stderr; fails when it exits unsuccessfully.
pub(crate) fn run(command: &mut Command) -> Result<()> {
    let status = command
        .stdin(Stdio::null())
        .status()
        .map_err(|e| format!("could not start `{}`: {e}", show(command)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", show(command));
    }
    Ok(())
}

/// The command as a maintainer would type it (environment overrides first).
pub(crate) fn show(command: &Command) -> String {
    let mut words: Vec<String> = command
        .get_envs()
        .filter_map(|(key, value)| Some(format!("{}={}", lossy(key), lossy(value?))))
        .collect();
    let program = Path::new(command.get_program());
    // `$CARGO` is an absolute path; the name alone reads better.
    words.push(lossy(program.file_name().unwrap_or(program.as_os_str())));
    words.extend(command.get_args().map(lossy));
    words.join(" ")
}

fn lossy(s: &OsStr) -> String {
    s.to_string_lossy().into_owned()
}
