//! Running other programs (cargo, git) with clear errors.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use crate::{Result, bail};

/// Environment variables this process gives every cargo it starts, and reads as its own
/// ([`env_var`]): `cargo xtask rehearse` names its scratch registry and target directory here
/// and then runs the real release in-process, without changing its own environment (which
/// would need `unsafe`). Set at most once; empty otherwise.
static CARGO_ENV: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// Sets the variables of [`CARGO_ENV`]; fails when they were already set.
pub(crate) fn set_cargo_env(vars: Vec<(String, String)>) -> Result<()> {
    CARGO_ENV
        .set(vars)
        .map_err(|_| "the cargo environment of this process is already set".into())
}

/// A variable of [`CARGO_ENV`], else of the process environment (when it is UTF-8).
pub(crate) fn env_var(name: &str) -> Option<String> {
    CARGO_ENV
        .get()
        .and_then(|vars| vars.iter().find(|(key, _)| key == name))
        .map(|(_, value)| value.clone())
        .or_else(|| std::env::var(name).ok())
}

/// A `cargo` command run in `dir`: the cargo that runs xtask (`$CARGO`) when there is one, with
/// the variables of [`CARGO_ENV`].
pub(crate) fn cargo(dir: &Path) -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(program);
    command.current_dir(dir);
    for (key, value) in CARGO_ENV.get().into_iter().flatten() {
        command.env(key, value);
    }
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

/// The command as a maintainer would type it (environment overrides first, but for those of
/// [`CARGO_ENV`], which are printed once by whoever sets them).
pub(crate) fn show(command: &Command) -> String {
    let shared = |key: &OsStr| {
        CARGO_ENV
            .get()
            .is_some_and(|vars| vars.iter().any(|(k, _)| OsStr::new(k) == key))
    };
    let mut words: Vec<String> = command
        .get_envs()
        .filter(|(key, _)| !shared(key))
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
