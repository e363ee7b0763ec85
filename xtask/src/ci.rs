//! `cargo xtask ci`: the checks CI runs, in order, each named and timed.
//!
//! The packaging step packages and verifies (builds) every publishable crate, as the release
//! command does (see [`VERIFY_PACKAGES`]); RELEASE.md gives the measured costs.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::workspace::Workspace;
use crate::{Result, bail, exec};

/// One named check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Fmt,
    Clippy,
    Test,
    Examples,
    Doc,
    Package,
}

impl Step {
    const ALL: [Step; 6] = [
        Step::Fmt,
        Step::Clippy,
        Step::Test,
        Step::Examples,
        Step::Doc,
        Step::Package,
    ];

    fn name(self) -> &'static str {
        match self {
            Step::Fmt => "fmt",
            Step::Clippy => "clippy",
            Step::Test => "test",
            Step::Examples => "examples",
            Step::Doc => "doc",
            Step::Package => "package",
        }
    }

    pub(crate) fn parse(name: &str) -> Result<Step> {
        match Step::ALL.into_iter().find(|step| step.name() == name) {
            Some(step) => Ok(step),
            None => {
                bail!(
                    "unknown ci step `{name}`; the steps are fmt, clippy, test, examples, doc, package"
                )
            }
        }
    }

    fn command(self, root: &Path) -> Result<Command> {
        let mut command = exec::cargo(root);
        match self {
            Step::Fmt => {
                command.args(["fmt", "--all", "--check"]);
            }
            Step::Clippy => {
                command.args([
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ]);
            }
            // Plain cargo test rather than nextest: it also runs the doctests, and it is on every
            // machine that has cargo.
            Step::Test => {
                command.args(["test", "--workspace"]);
            }
            // The SDK's two example programs, run end to end (each starts the emulator
            // in-process when PIPEVIDEO_API_URL is unset): tokio + reqwest, async-std + surf.
            Step::Examples => {
                let mut script = Command::new("sh");
                script.current_dir(root).arg("-c").arg(
                    "cargo run -p pipevideo --example tokio_reqwest && \
                     cargo run -p pipevideo --features surf --example async_std_surf",
                );
                command = script;
            }
            Step::Doc => {
                command.env("RUSTDOCFLAGS", "-D warnings").args([
                    "doc",
                    "--workspace",
                    "--no-deps",
                ]);
            }
            Step::Package => {
                command = package_command(&Workspace::load(root)?, VERIFY_PACKAGES);
            }
        }
        Ok(command)
    }
}

/// Whether ci's packaging step builds each packaged crate (`cargo package` without
/// `--no-verify`). See RELEASE.md, "Packaging check", for the timings behind the choice.
pub(crate) const VERIFY_PACKAGES: bool = true;

/// `cargo package` for every publishable crate of `ws`, in dependency order (cargo orders
/// `--workspace` itself and resolves each crate against the freshly packaged ones through a local
/// registry overlay). `--allow-dirty` because ci runs on work in progress and a release runs it on
/// the bumped, not yet committed, manifests.
pub(crate) fn package_command(ws: &Workspace, verify: bool) -> Command {
    let mut command = exec::cargo(&ws.root);
    command.args(["package", "--workspace", "--allow-dirty"]);
    for name in ws.unpublished() {
        command.args(["--exclude", name]);
    }
    if !verify {
        command.arg("--no-verify");
    }
    command
}

/// Which steps to run.
#[derive(Debug, Default)]
pub(crate) struct Options {
    pub(crate) skip: Vec<Step>,
    pub(crate) only: Vec<Step>,
}

pub(crate) fn run(root: &Path, options: &Options) -> Result<()> {
    let steps: Vec<Step> = Step::ALL
        .into_iter()
        .filter(|step| options.only.is_empty() || options.only.contains(step))
        .filter(|step| !options.skip.contains(step))
        .collect();
    if steps.is_empty() {
        bail!("--only/--skip left no step to run");
    }
    let started = Instant::now();
    let mut timings = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let mut command = step.command(root)?;
        println!(
            "\n==> ci [{}/{}] {}: {}",
            index + 1,
            steps.len(),
            step.name(),
            exec::show(&command)
        );
        let step_started = Instant::now();
        let result = exec::run(&mut command);
        let took = step_started.elapsed();
        if let Err(error) = result {
            print_timings(&timings);
            println!(
                "==> ci FAILED at step `{}` after {} ({} in all): {error}",
                step.name(),
                seconds(took),
                seconds(started.elapsed())
            );
            bail!("ci failed at step `{}`", step.name());
        }
        println!("<== ci {}: ok in {}", step.name(), seconds(took));
        timings.push((*step, took));
    }
    print_timings(&timings);
    let plural = if steps.len() == 1 { "" } else { "s" };
    println!(
        "==> ci ok: {} step{plural} in {}",
        steps.len(),
        seconds(started.elapsed())
    );
    Ok(())
}

fn print_timings(timings: &[(Step, Duration)]) {
    if timings.is_empty() {
        return;
    }
    println!("\nci timings:");
    for (step, took) in timings {
        println!("  {:<8} {:>9}", step.name(), seconds(*took));
    }
}

fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}
