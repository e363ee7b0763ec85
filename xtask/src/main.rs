//! Maintainer automation for pipevideo-rs, run as `cargo xtask <command>` (the alias lives in
//! `.cargo/config.toml`).
//!
//! - `cargo xtask ci`: every check CI runs, named and timed, stopping at the first failure.
//! - `cargo xtask standalone`: each publishable crate built and tested alone, feature by feature.
//! - `cargo xtask consumer`: the README's quick start built from the packaged crates, outside the
//!   workspace, and run against the emulator; the README's other examples compiled there.
//! - `cargo xtask release <patch|minor|major|X.Y.Z>`: plan (and with `--execute`, make) a release.
//! - `cargo xtask publish [--registry NAME]`: publish what is missing of the tagged release.
//! - `cargo xtask rehearse`: the whole release, for real, into a scratch registry, with a fault.
//! - `cargo xtask bump-check [<base>]`: fail when a published crate changed without a note.
//!
//! The command line is parsed by hand: a few subcommands and a handful of flags do not justify
//! clap's build time in the first step of every CI run. See RELEASE.md for the release process.
#![forbid(unsafe_code)]

mod bump_check;
mod changelog;
mod ci;
mod consumer;
mod deny;
mod exec;
mod git;
mod publish;
mod registry;
mod rehearse;
mod release;
mod soak;
mod standalone;
mod workspace;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// An xtask failure: one line (or a few) that tells the maintainer what went wrong and what to do.
#[derive(Debug)]
pub(crate) struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for Error {
    fn from(message: String) -> Self {
        Error(message)
    }
}

impl From<&str> for Error {
    fn from(message: &str) -> Self {
        Error(message.to_owned())
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// Returns early with an [`Error`] built from a format string.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::Error(format!($($arg)*)))
    };
}
pub(crate) use bail;

const USAGE: &str = "\
usage: cargo xtask [--root DIR] <command> [options]

commands:
  ci [--skip STEP,..] [--only STEP,..]
        run the checks CI runs, in order, each named and timed; stops at the first failure.
        steps: fmt, deny, clippy, standalone, test, examples, doc, package, consumer, rehearse
  standalone
        build and test each publishable crate on its own (`-p <crate>`): default features, no
        default features, and each feature alone; combinations a crate cannot serve must fail
        to compile with an error that names the feature to enable.
  consumer
        package the publishable crates, build the README's quick start in a scratch project
        outside the workspace from those packages (with the README's `cargo add` lines), and
        run it against the emulator built from its package; compile the README's other
        `rust,no_run` examples there too, each as its own binary named by its section.
  release <patch|minor|major|X.Y.Z> [--execute] [--publish [--registry NAME]] [--no-package]
        print the release plan and check it (a dry run, in a scratch worktree); with --execute
        bump the versions, move CHANGELOG.md's Unreleased notes, commit \"Release X.Y.Z\" and tag
        vX.Y.Z; with --execute --publish also publish, in dependency order, to crates.io (needs
        CARGO_REGISTRY_TOKEN) or to the registry NAME (CARGO_REGISTRIES_<NAME>_INDEX and
        CARGO_REGISTRIES_<NAME>_TOKEN). A failure half-way prints the command that finishes it.
        --no-package skips the packaging check (xtask's own tests; never for a real release).
  publish [--registry NAME]
        publish the version HEAD is tagged with: crates the registry's index already has (with
        the same contents) are skipped, the rest published in dependency order. Rerun it until
        the release is whole; a crate published with other contents is an error.
  rehearse [<patch|minor|major|X.Y.Z>]
        the release for real (default: patch) on a scratch clone of HEAD into a scratch
        cargo-http-registry, the registry stopped after the second upload and the release
        finished with `publish`; then, from the registry alone: the README's quick start in a
        fresh project against the emulator, `cargo install` of the CLI running the main job, and
        of the emulator. Installs cargo-http-registry when missing.
  soak [--generations N]
        the long chaos soak: N generations (default 10000) per transport against the emulator
        with random faults, in a release build (CI runs a few hundred inside `cargo test`).
  bump-check [<base>]
        fail when a publishable crate changed since <base> (default: the last vX.Y.Z tag) while
        its version still equals <base>'s and CHANGELOG.md's Unreleased section is empty.
  help  print this message

--root DIR runs against the workspace at DIR instead of this repository (used by xtask's tests).
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<()> {
    let mut args = Args::new(args);
    let root = match args.value_of("--root")? {
        Some(dir) => PathBuf::from(dir),
        None => project_root(),
    };
    let Some(command) = args.next_positional()? else {
        print!("{USAGE}");
        bail!("no command given");
    };
    match command.as_str() {
        "ci" => {
            let options = ci::Options {
                skip: args.steps_of("--skip")?,
                only: args.steps_of("--only")?,
            };
            args.finish()?;
            ci::run(&root, &options)
        }
        "release" => {
            let execute = args.flag("--execute");
            let publish = args.flag("--publish");
            let package = !args.flag("--no-package");
            let registry = args.value_of("--registry")?;
            let Some(bump) = args.next_positional()? else {
                bail!("release needs a bump: patch, minor, major or an explicit X.Y.Z");
            };
            let bump = release::Bump::parse(&bump)?;
            args.finish()?;
            release::run(
                &root,
                release::Options {
                    bump,
                    execute,
                    publish,
                    registry,
                    package,
                    after_upload: None,
                },
            )
        }
        "publish" => {
            let registry = args.value_of("--registry")?;
            args.finish()?;
            publish::run(&root, registry.as_deref()).map(drop)
        }
        "rehearse" => {
            let bump = match args.next_positional()? {
                Some(bump) => release::Bump::parse(&bump)?,
                None => release::Bump::Patch,
            };
            args.finish()?;
            rehearse::run(&root, bump)
        }
        "standalone" => {
            args.finish()?;
            standalone::run(&root)
        }
        "consumer" => {
            args.finish()?;
            consumer::run(&root)
        }
        "soak" => {
            let generations = match args.value_of("--generations")? {
                Some(n) => n
                    .parse()
                    .map_err(|_| Error(format!("--generations takes a whole number, not `{n}`")))?,
                None => soak::DEFAULT_GENERATIONS,
            };
            args.finish()?;
            soak::run(&root, generations)
        }
        "bump-check" => {
            let base = args.next_positional()?;
            args.finish()?;
            bump_check::run(&root, base.as_deref())
        }
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            print!("{USAGE}");
            bail!("unknown command `{other}`")
        }
    }
}

/// The repository root: xtask lives in `<root>/xtask`.
fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask's manifest directory has a parent")
        .to_path_buf()
}

/// A tiny hand-written argument parser: flags may appear anywhere, positionals keep their order.
struct Args {
    rest: Vec<String>,
}

impl Args {
    fn new(rest: Vec<String>) -> Self {
        Args { rest }
    }

    /// Removes a boolean flag, reporting whether it was there.
    fn flag(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|arg| arg != name);
        self.rest.len() != before
    }

    /// Removes every `--name VALUE` or `--name=VALUE`, returning the values in order.
    fn values_of(&mut self, name: &str) -> Result<Vec<String>> {
        let mut values = Vec::new();
        let mut kept = Vec::new();
        let mut iter = std::mem::take(&mut self.rest).into_iter();
        while let Some(arg) = iter.next() {
            if arg == name {
                match iter.next() {
                    Some(value) if !value.starts_with("--") => values.push(value),
                    _ => bail!("`{name}` needs a value"),
                }
            } else if let Some(value) = arg.strip_prefix(name).and_then(|v| v.strip_prefix('=')) {
                values.push(value.to_owned());
            } else {
                kept.push(arg);
            }
        }
        self.rest = kept;
        Ok(values)
    }

    /// Like [`Args::values_of`] for an option given at most once.
    fn value_of(&mut self, name: &str) -> Result<Option<String>> {
        let mut values = self.values_of(name)?;
        if values.len() > 1 {
            bail!("`{name}` given more than once");
        }
        Ok(values.pop())
    }

    /// The ci step names given to `--skip`/`--only`, comma-separated or repeated.
    fn steps_of(&mut self, name: &str) -> Result<Vec<ci::Step>> {
        let mut steps = Vec::new();
        for value in self.values_of(name)? {
            for step in value.split(',').filter(|s| !s.is_empty()) {
                steps.push(ci::Step::parse(step)?);
            }
        }
        Ok(steps)
    }

    /// Removes and returns the first argument that is not a flag.
    fn next_positional(&mut self) -> Result<Option<String>> {
        match self.rest.iter().position(|arg| !arg.starts_with('-')) {
            Some(index) => Ok(Some(self.rest.remove(index))),
            None => Ok(None),
        }
    }

    /// Fails on anything left over, so that a typo is never silently ignored.
    fn finish(self) -> Result<()> {
        match self.rest.first() {
            None => Ok(()),
            Some(arg) => bail!("unexpected argument `{arg}` (see `cargo xtask help`)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::new(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn flags_values_and_positionals_in_any_order() {
        let mut a = args(&["--execute", "release", "--root=/tmp/x", "minor"]);
        assert_eq!(a.value_of("--root").unwrap().as_deref(), Some("/tmp/x"));
        assert!(a.flag("--execute"));
        assert!(!a.flag("--publish"));
        assert_eq!(a.next_positional().unwrap().as_deref(), Some("release"));
        assert_eq!(a.next_positional().unwrap().as_deref(), Some("minor"));
        assert!(a.finish().is_ok());
    }

    #[test]
    fn steps_split_on_commas_and_repeat() {
        let mut a = args(&["--skip", "package,doc", "--skip=fmt"]);
        let steps = a.steps_of("--skip").unwrap();
        assert_eq!(steps, vec![ci::Step::Package, ci::Step::Doc, ci::Step::Fmt]);
        assert!(args(&["--only", "lint"]).steps_of("--only").is_err());
    }

    #[test]
    fn leftovers_and_missing_values_are_errors() {
        assert!(args(&["--frobnicate"]).finish().is_err());
        assert!(args(&["--root"]).value_of("--root").is_err());
        assert!(
            args(&["--root", "a", "--root", "b"])
                .value_of("--root")
                .is_err()
        );
    }
}
