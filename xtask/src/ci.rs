//! `cargo xtask ci`: the checks CI runs, in order, each named and timed.
//!
//! The packaging step packages and verifies (builds) every publishable crate, as the release
//! command does (see [`VERIFY_PACKAGES`]); RELEASE.md gives the measured costs.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::workspace::Workspace;
use crate::{Result, bail, exec};

/// One named check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Fmt,
    Deny,
    Clippy,
    Standalone,
    Test,
    Examples,
    Doc,
    Package,
    Consumer,
    Rehearse,
}

impl Step {
    const ALL: [Step; 10] = [
        Step::Fmt,
        Step::Deny,
        Step::Clippy,
        Step::Standalone,
        Step::Test,
        Step::Examples,
        Step::Doc,
        Step::Package,
        Step::Consumer,
        Step::Rehearse,
    ];

    fn name(self) -> &'static str {
        match self {
            Step::Fmt => "fmt",
            Step::Deny => "deny",
            Step::Clippy => "clippy",
            Step::Standalone => "standalone",
            Step::Test => "test",
            Step::Examples => "examples",
            Step::Doc => "doc",
            Step::Package => "package",
            Step::Consumer => "consumer",
            Step::Rehearse => "rehearse",
        }
    }

    pub(crate) fn parse(name: &str) -> Result<Step> {
        match Step::ALL.into_iter().find(|step| step.name() == name) {
            Some(step) => Ok(step),
            None => {
                let names: Vec<&str> = Step::ALL.iter().map(|s| s.name()).collect();
                bail!(
                    "unknown ci step `{name}`; the steps are {}",
                    names.join(", ")
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
            // Licenses, duplicate versions and sources of the whole graph (`deny.toml`); cheap,
            // so it runs early. Advisories need the network: see `deny.rs`.
            Step::Deny => command = crate::deny::command(root)?,
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
            // Each publishable crate alone, with its default features and its feature matrix:
            // what `cargo install` and a user's `cargo add` build (see `standalone.rs`).
            Step::Standalone => command = xtask(root, "standalone")?,
            // The unpublished members (the end-to-end suites, xtask): the publishable crates'
            // own tests ran alone in `standalone`, which a workspace-wide run would only repeat
            // with unified features. Plain cargo test rather than nextest: it also runs the
            // doctests, and it is on every machine that has cargo.
            Step::Test => {
                let ws = Workspace::load(root)?;
                command.args(["test", "--workspace"]);
                for member in ws.members.iter().filter(|m| m.publishable) {
                    command.args(["--exclude", &member.name]);
                }
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
                let ws = Workspace::load(root)?;
                forget_earlier_packages(&ws, None)?;
                command = package_command(&ws, VERIFY_PACKAGES);
            }
            // The README's quick start from the packaged crates, outside the workspace, against
            // the emulator (see `consumer.rs`).
            Step::Consumer => command = xtask(root, "consumer")?,
            // The release for real into a scratch cargo-http-registry, on a scratch clone of
            // HEAD, with the registry stopped half-way and the release finished; then the README's
            // quick start, CLI and emulator from that registry alone (see `rehearse.rs`).
            Step::Rehearse => command = xtask(root, "rehearse")?,
        }
        Ok(command)
    }
}

/// xtask running one of its own commands on `root`, as `cargo run -p xtask` (what the
/// `cargo xtask` alias runs): the steps written in Rust run in a child process like every
/// other step, so they are named, timed and shown alike. Not `current_exe()`: the `test` step
/// builds xtask again with its dev-dependencies' features and replaces the binary that is
/// running, so a later step would find it deleted (seen on a fresh clone).
fn xtask(root: &Path, subcommand: &str) -> Result<Command> {
    let mut command = exec::cargo(root);
    command
        .args(["run", "--quiet", "--package", "xtask", "--", "--root"])
        .arg(root)
        .arg(subcommand);
    Ok(command)
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

/// Cargo's home directory: `$CARGO_HOME`, else `~/.cargo`.
pub(crate) fn cargo_home() -> PathBuf {
    std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"))
}

/// Makes packaging verify this tree's sources, not an earlier run's at the same version.
///
/// Verification builds each packaged crate against the others as if they came from a registry
/// (a local overlay), and cargo treats a registry crate of a given version as immutable: it
/// reuses both the copy it unpacked and the artifacts it compiled from it on an earlier run. So
/// after an API change in one crate, a second `ci` at the same version failed to build a crate
/// that uses the change, while a fresh machine passed. This removes the unpacked copies
/// ([`forget_unpacked_copies`]) and runs `cargo clean -p` for every publishable member, which
/// removes the artifacts of every build of those names, the registry-sourced ones included (the
/// next build of the workspace compiles them again; on CI the packaging step is the last).
/// `target_dir` overrides the target directory, as for the packaging command that follows.
pub(crate) fn forget_earlier_packages(ws: &Workspace, target_dir: Option<&Path>) -> Result<()> {
    forget_unpacked_copies(ws, &cargo_home())?;
    let mut clean = exec::cargo(&ws.root);
    if let Some(dir) = target_dir {
        clean.env("CARGO_TARGET_DIR", dir);
    }
    clean.args(["clean", "--quiet"]);
    for member in ws.members.iter().filter(|m| m.publishable) {
        clean.args(["-p", &member.name]);
    }
    exec::run(&mut clean)
}

/// Removes the copies of this workspace's crates that an earlier `cargo package` unpacked from
/// its local registry overlay, and returns how many it removed.
///
/// Verification builds each packaged crate against the others, unpacked from the overlay into
/// `$CARGO_HOME/registry/src/-<hash>/<name>-<version>` (unnamed local registries start with
/// `-`; the hash comes from the overlay's path, so it is the same on every run with the same
/// target directory). Cargo unpacks only if that directory is missing, so a second run at the
/// same version built against the first run's sources: after an API change in one crate, ci
/// failed here for a crate that uses it although a fresh machine passed. Removing them is safe,
/// they are a cache that cargo rebuilds.
pub(crate) fn forget_unpacked_copies(ws: &Workspace, cargo_home: &Path) -> Result<usize> {
    let src = cargo_home.join("registry").join("src");
    let Ok(registries) = std::fs::read_dir(&src) else {
        return Ok(0);
    };
    let mut removed = 0;
    for registry in registries.flatten() {
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        for member in ws.members.iter().filter(|m| m.publishable) {
            let copy = registry
                .path()
                .join(format!("{}-{}", member.name, member.version));
            if copy.is_dir() {
                if let Err(e) = std::fs::remove_dir_all(&copy) {
                    bail!("removing the stale unpacked copy {}: {e}", copy.display());
                }
                removed += 1;
            }
        }
    }
    Ok(removed)
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

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::workspace::Member;

    fn member(name: &str, publishable: bool) -> Member {
        Member::for_test(name, publishable)
    }

    #[test]
    fn only_unpacked_overlay_copies_of_publishable_members_at_their_version_are_removed() {
        let home = tempfile::tempdir().unwrap();
        let src = home.path().join("registry/src");
        let overlay = src.join("-1443cb8d9c1f8d14");
        let crates_io = src.join("index.crates.io-1949cf8c6b5b557f");
        let dirs = [
            overlay.join("core-0.1.0"),   // removed
            overlay.join("cli-0.1.0"),    // removed
            overlay.join("core-0.0.9"),   // another version: kept
            overlay.join("tests-0.1.0"),  // unpublished member: kept
            overlay.join("serde-1.0.0"),  // not a member: kept
            crates_io.join("core-0.1.0"), // a named registry: kept
        ];
        for dir in &dirs {
            fs::create_dir_all(dir.join("src")).unwrap();
            fs::write(dir.join("src/lib.rs"), "// stale").unwrap();
        }
        let ws = Workspace {
            root: PathBuf::from("/nowhere"),
            version: semver::Version::new(0, 1, 0),
            members: vec![
                member("core", true),
                member("cli", true),
                member("tests", false),
            ],
        };
        assert_eq!(forget_unpacked_copies(&ws, home.path()).unwrap(), 2);
        let left: Vec<bool> = dirs.iter().map(|d| d.exists()).collect();
        assert_eq!(left, [false, false, true, true, true, true]);
        // Nothing left to remove the second time, and a home without registry is fine.
        assert_eq!(forget_unpacked_copies(&ws, home.path()).unwrap(), 0);
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(forget_unpacked_copies(&ws, empty.path()).unwrap(), 0);
    }
}
