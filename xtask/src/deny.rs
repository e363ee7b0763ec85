//! The supply-chain step of `cargo xtask ci`: `cargo deny check licenses bans sources` against the
//! policy in `deny.toml` at the workspace root, over every feature of every member and every
//! platform.
//!
//! - **licenses**: every crate that can end up in a user's build is under a license `deny.toml`
//!   allows, or has a per-crate exception there that says why.
//! - **bans**: no crate appears in two incompatible versions, except the duplicates listed in
//!   `deny.toml`'s `skip` (most come from the unmaintained surf stack that only `pipevideo-surf`
//!   pulls), and no dependency requirement is a wildcard.
//! - **sources**: every crate comes from crates.io: no other registry, no git dependency.
//!
//! Security advisories are not checked here: they need the RustSec advisory database, which
//! cargo-deny fetches from GitHub, and CI cannot reach it. Naming only these three checks is what
//! keeps cargo-deny from trying. On a machine with internet access a maintainer runs
//!
//! ```text
//! cargo deny check advisories
//! ```
//!
//! which fetches the database into `$CARGO_HOME/advisory-dbs` and reports vulnerable, unsound,
//! unmaintained and yanked crates; accepted ones go to `[advisories] ignore` in `deny.toml`, each
//! with its advisory id and a reason (see RELEASE.md).
//!
//! The command passes `--locked` rather than `--offline`: cargo-deny first runs `cargo fetch`, and
//! on a fresh machine the all-features graph holds crates that no earlier step has downloaded
//! (`--offline` then fails to resolve them). Fetching crates only talks to crates.io, like every
//! build; `--locked` makes a stale `Cargo.lock` an error instead of a silent update.

use std::path::Path;
use std::process::Command;

use crate::{Result, bail, exec};

/// The cargo-deny release that CI installs; `.ci/run` pins the same one (keep the two equal).
pub(crate) const PINNED_VERSION: &str = "0.20.2";

/// The oldest cargo-deny (major, minor) accepted: the series `deny.toml` was written and tested
/// with. Older releases may reject its keys or read them differently.
const OLDEST_SUPPORTED: (u64, u64) = (0, 20);

/// The checks CI runs: all of cargo-deny's but `advisories`, which needs the network.
const CHECKS: [&str; 3] = ["licenses", "bans", "sources"];

/// `cargo deny --locked check licenses bans sources`, run in `root`.
///
/// Fails first, with the command that installs it, when cargo-deny is missing, does not run, or
/// is older than the release `deny.toml` is written for.
pub(crate) fn command(root: &Path) -> Result<Command> {
    let installed = installed_version(root)?;
    if (installed.major, installed.minor) < OLDEST_SUPPORTED {
        bail!(
            "cargo-deny {installed} is too old for deny.toml (written for {PINNED_VERSION}); {}",
            install_hint()
        );
    }
    let mut command = exec::cargo(root);
    command.args(["deny", "--locked", "check"]).args(CHECKS);
    Ok(command)
}

/// The version `cargo deny --version` reports, or an error that says how to install it.
fn installed_version(root: &Path) -> Result<semver::Version> {
    let mut probe = exec::cargo(root);
    probe.args(["deny", "--version"]);
    let output = exec::read(&mut probe).map_err(|error| {
        format!(
            "cargo-deny is needed for the supply-chain check and does not run: {}\n\
             caused by: {error}",
            install_hint()
        )
    })?;
    parse_version(&output)
}

/// The version in `cargo deny --version`'s output (`cargo-deny 0.20.2`).
fn parse_version(output: &str) -> Result<semver::Version> {
    let line = output.trim();
    let Some(number) = line.strip_prefix("cargo-deny ") else {
        bail!(
            "`cargo deny --version` printed `{line}`, not `cargo-deny X.Y.Z`; {}",
            install_hint()
        );
    };
    semver::Version::parse(number.trim()).map_err(|error| {
        format!(
            "`cargo deny --version` printed `{line}`, which is not a version ({error}); {}",
            install_hint()
        )
        .into()
    })
}

/// What to run to get the pinned cargo-deny (built from crates.io, as `.ci/run` does).
fn install_hint() -> String {
    format!(
        "install it with `cargo install cargo-deny --locked --version {PINNED_VERSION}` \
         (a few minutes of compiling)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_version_line() {
        let version = parse_version("cargo-deny 0.20.2\n").unwrap();
        assert_eq!(version, semver::Version::new(0, 20, 2));
        assert!(parse_version("cargo-audit 0.21.0").is_err());
        assert!(parse_version("cargo-deny nightly").is_err());
    }

    #[test]
    fn the_pinned_version_is_supported() {
        let pinned = semver::Version::parse(PINNED_VERSION).unwrap();
        assert!((pinned.major, pinned.minor) >= OLDEST_SUPPORTED);
    }

    #[test]
    fn the_hint_names_the_pinned_version() {
        let hint = install_hint();
        assert!(hint.contains("cargo install cargo-deny --locked"));
        assert!(hint.contains(PINNED_VERSION));
    }
}
