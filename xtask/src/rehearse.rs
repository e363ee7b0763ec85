//! `cargo xtask rehearse` (ci's `rehearse` step): the release, for real, against a real registry,
//! on a scratch clone, with a fault on the way; then proof from the registry alone that what was
//! published works.
//!
//! Longer than the house's ~600 lines on purpose: the rehearsal is one script (registry, clone,
//! release with a fault, resume, refusals, proofs, table) whose steps share its scratch state;
//! split, each piece would need all of it passed in.
//!
//! 1. `cargo-http-registry` (a small registry server with cargo's publish API; installed with
//!    `cargo install --locked` at [`PINNED_VERSION`] when missing) serves a fresh root on a free
//!    loopback port. Cargo knows it as the registry `rehearsal`, the standard way:
//!    `CARGO_REGISTRIES_REHEARSAL_INDEX=file://<root>` and `CARGO_REGISTRIES_REHEARSAL_TOKEN`.
//! 2. HEAD is cloned into a scratch directory (the real tree is only read: uncommitted changes are
//!    not part of the rehearsal) and checked out as `main`.
//! 3. The real release runs there, in this process: `release <level> --execute --publish
//!    --registry rehearsal`, with the packaging check. After the second upload the registry is
//!    stopped, so the third upload fails; the error must name the command that finishes the
//!    release. The registry is started again on the same root (same port when it is free).
//! 4. The refusals are checked against that half-published registry, each before anything is
//!    uploaded (the index's HEAD must not move): a dirty tree, a release whose tag exists.
//! 5. The finishing command runs as printed (`cargo xtask publish --registry rehearsal`, a child
//!    process in the clone), and publishes the rest; run again, it publishes nothing and says so.
//!    Then a commit that changes the core under the same tag must be refused: its version is
//!    already published with other contents.
//! 6. The proofs, from the registry alone (every workspace crate patched to it, as any consumer
//!    of a registry other than crates.io must): `cargo install pipevideo-emulator` starts and
//!    prints its address; `cargo install pipevideo-cli` runs the README's main job
//!    (`--emulator generate … --output`) and writes the video; a fresh project outside the
//!    workspace, with the README's `cargo add` lines at the released version, resolves
//!    `pipevideo` from the registry, builds the README's quick start and runs it against the
//!    installed emulator.
//!
//! One table sums it up. Everything builds into one scratch target directory (the packaging
//! check's dependencies serve cargo's verification of the resumed uploads, the installs and the
//! quick start); installs are `--debug` for that reason and `--locked` so that a new release of a
//! dependency on crates.io cannot fail the rehearsal. The scratch directory, and what cargo
//! cached of the scratch registry in `$CARGO_HOME`, are removed at the end; on failure the
//! registry and the clone are kept (the target directory never is) and their path printed.

use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::consumer::{self, Emulator};
use crate::publish::{self, Outcome};
use crate::registry::Registry;
use crate::release::{self, Bump};
use crate::workspace::Workspace;
use crate::{Result, bail, changelog, ci, exec, git};

/// The cargo-http-registry release installed when none is; `.ci/run` and README.md name the same
/// one (a test keeps the three equal). 0.1.8 builds with `--locked` on Rust 1.95 (3.5 min on 2 cores).
pub(crate) const PINNED_VERSION: &str = "0.1.8";

/// The registry's name in cargo's configuration.
const REGISTRY: &str = "rehearsal";
/// The registry is stopped after this many uploads.
const FAULT_AFTER: usize = 2;
/// How long the registry may take to accept connections.
const REGISTRY_START: Duration = Duration::from_secs(30);
/// How long the CLI's main job may take (one generation on the emulator's fast clock).
const MAIN_JOB_RUN: Duration = Duration::from_secs(180);

pub(crate) fn run(root: &Path, bump: Bump) -> Result<()> {
    let started = Instant::now();
    let server = installed_server()?;
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let scratch = std::env::temp_dir().join(format!(
        "pipevideo-rehearsal-{}-{stamp}",
        std::process::id()
    ));
    let registry_root = scratch.join("registry");
    let target = scratch.join("target");
    fs::create_dir_all(&scratch)
        .map_err(|e| format!("cannot create {}: {e}", scratch.display()))?;
    let index = format!("file://{}", registry_root.display());
    let key = crate::registry::env_key(REGISTRY);
    exec::set_cargo_env(vec![
        (format!("CARGO_REGISTRIES_{key}_INDEX"), index.clone()),
        // cargo-http-registry checks no token, but cargo sends one.
        (
            format!("CARGO_REGISTRIES_{key}_TOKEN"),
            "rehearsal".to_owned(),
        ),
        ("CARGO_TARGET_DIR".to_owned(), target.display().to_string()),
    ])?;
    println!(
        "==> rehearsal in {}\n    every cargo below runs with CARGO_REGISTRIES_{key}_INDEX={index} \
         CARGO_REGISTRIES_{key}_TOKEN=rehearsal CARGO_TARGET_DIR={}",
        scratch.display(),
        target.display()
    );

    let mut registry = Server::new(server, registry_root);
    let outcome = rehearse(root, &scratch, &mut registry, bump);
    registry.stop();
    let _ = fs::remove_dir_all(&target);
    forget_cached_registry(&index);
    // The packaging check's verification unpacked the bumped crates under `$CARGO_HOME` too.
    if let Ok(ws) = Workspace::load(&scratch.join("repo")) {
        let _ = ci::forget_unpacked_copies(&ws, &ci::cargo_home());
    }
    match outcome {
        Ok(report) => {
            let _ = fs::remove_dir_all(&scratch);
            print!("{report}");
            println!(
                "<== rehearsal passed in {:.1}s",
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Err(error) => bail!(
            "{error}\n(the scratch registry and clone are kept at {}; remove it when done)",
            scratch.display()
        ),
    }
}

/// One row of the proofs table.
struct Proof {
    what: String,
    result: String,
    took: Duration,
}

fn rehearse(root: &Path, scratch: &Path, registry: &mut Server, bump: Bump) -> Result<String> {
    let mut proofs = Vec::new();
    let clone = scratch.join("repo");
    let step = Instant::now();
    prepare_clone(root, &clone)?;
    let old = Workspace::load(&clone)?.version;
    let version = bump.apply(&old);
    registry.start()?;

    // The release, for real, with the registry stopped after the second upload.
    let step_started = Instant::now();
    let mut released: Vec<String> = Vec::new();
    let error = {
        let released = &mut released;
        let server = &mut *registry;
        let options = release::Options {
            bump: Bump::Exact(version.clone()),
            execute: true,
            publish: true,
            registry: Some(REGISTRY.to_owned()),
            package: true,
            after_upload: Some(Box::new(move |name: &str, uploads: usize| {
                released.push(name.to_owned());
                if uploads == FAULT_AFTER {
                    println!("==> rehearsal: stopping the registry after the upload of {name}");
                    server.stop();
                }
                Ok(())
            })),
        };
        match release::run(&clone, options) {
            Ok(()) => bail!(
                "the release succeeded although the registry was stopped after {FAULT_AFTER} \
                 uploads"
            ),
            Err(error) => error.to_string(),
        }
    };
    let finish = finishing_command(&error)?;
    if released.len() != FAULT_AFTER {
        bail!("the release uploaded {released:?} before the fault, not {FAULT_AFTER} crates");
    }
    println!("==> rehearsal: the release failed as it should:\n{error}");
    proofs.push(Proof {
        what: format!("release {old} → {version}, registry stopped after upload {FAULT_AFTER}"),
        result: format!("failed with `{finish}` in its message"),
        took: step_started.elapsed(),
    });

    registry.start()?;
    let ws = Workspace::load(&clone)?;
    proofs.extend(refusals(&ws, registry)?);

    // The finishing command, exactly as printed, in the clone.
    let step_started = Instant::now();
    let words = consumer::shell_words(&finish);
    let Some(("cargo", args)) = words.split_first().map(|(a, b)| (a.as_str(), b)) else {
        bail!("the finishing command `{finish}` is not a cargo command");
    };
    let mut command = exec::cargo(&clone);
    command.args(args);
    println!("==> rehearsal: {}", exec::show(&command));
    exec::run(&mut command)?;
    proofs.push(Proof {
        what: format!("registry restarted; `{finish}`"),
        result: "finished the release".to_owned(),
        took: step_started.elapsed(),
    });

    // Once more: nothing left to do.
    let step_started = Instant::now();
    let outcomes = publish::run(&clone, Some(REGISTRY))?;
    let again: Vec<&Outcome> = outcomes.iter().filter(|o| o.uploaded).collect();
    if !again.is_empty() {
        bail!("a second `publish` uploaded {again:?} although the release was whole");
    }
    proofs.push(Proof {
        what: "`cargo xtask publish` again".to_owned(),
        result: format!(
            "published nothing ({} crates already there)",
            outcomes.len()
        ),
        took: step_started.elapsed(),
    });
    proofs.push(changed_contents_refused(&ws, registry)?);

    proofs.extend(from_the_registry(&ws, scratch, registry)?);

    let mut report = String::new();
    let _ = writeln!(
        report,
        "\nRehearsal of {old} → {version} into cargo-http-registry ({:.0}s in all)",
        step.elapsed().as_secs_f64()
    );
    let width = outcomes
        .iter()
        .map(|o| o.name.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = writeln!(
        report,
        "  {:<width$}  {:<8}  {:<34}  {:>9}",
        "crate", "version", "published", "size"
    );
    for outcome in &outcomes {
        let by = if released.contains(&outcome.name) {
            "published by the release"
        } else {
            "published by `publish` (resumed)"
        };
        let _ = writeln!(
            report,
            "  {:<width$}  {:<8}  {:<34}  {:>9}",
            outcome.name,
            version.to_string(),
            by,
            format!("{:.1} KiB", outcome.size as f64 / 1024.0)
        );
    }
    let width = proofs
        .iter()
        .map(|p| p.what.chars().count())
        .max()
        .unwrap_or(0);
    let _ = writeln!(report, "\n  {:<width$}  result", "proof");
    for proof in &proofs {
        let _ = writeln!(
            report,
            "  {:<width$}  ok ({:.1}s): {}",
            proof.what,
            proof.took.as_secs_f64(),
            proof.result
        );
    }
    Ok(report)
}

/// The command between backticks after "finish the release with" in the release's error.
fn finishing_command(error: &str) -> Result<String> {
    let marker = "finish the release with `";
    let Some(start) = error.find(marker).map(|i| i + marker.len()) else {
        bail!("the failed release does not say how to finish it:\n{error}");
    };
    let Some(len) = error[start..].find('`') else {
        bail!("the failed release's finishing command is not closed:\n{error}");
    };
    let command = &error[start..start + len];
    let expected = format!("cargo xtask publish --registry {REGISTRY}");
    if command != expected {
        bail!("the failed release says to run `{command}`, not `{expected}`:\n{error}");
    }
    Ok(command.to_owned())
}

/// A clone of `root`'s HEAD at `clone`, on `main`, with an identity to commit as and a note in
/// CHANGELOG.md's `## Unreleased` (added when it has none, as the release demands one).
fn prepare_clone(root: &Path, clone: &Path) -> Result<()> {
    let head = git::rev(root, "HEAD")?;
    if !git::dirty_paths(root)?.is_empty() {
        println!(
            "==> rehearsal: the tree has uncommitted changes; the rehearsal releases HEAD ({}) \
             without them",
            &head[..12.min(head.len())]
        );
    }
    let git = |dir: &Path, args: &[&str]| -> Result<String> {
        exec::read(Command::new("git").current_dir(dir).args(args))
    };
    exec::read(
        Command::new("git")
            .args(["clone", "--quiet", "--no-hardlinks", "--no-checkout"])
            .arg(root)
            .arg(clone),
    )?;
    git(
        clone,
        &["fetch", "--quiet", &root.display().to_string(), "HEAD"],
    )?;
    git(clone, &["checkout", "--quiet", "-B", "main", "FETCH_HEAD"])?;
    for (key, value) in [
        ("user.name", "xtask rehearse"),
        ("user.email", "rehearse@xtask.invalid"),
        ("commit.gpgSign", "false"),
        ("tag.gpgSign", "false"),
    ] {
        git(clone, &["config", key, value])?;
    }
    let path = clone.join("CHANGELOG.md");
    let text = fs::read_to_string(&path).map_err(|e| format!("cannot read CHANGELOG.md: {e}"))?;
    if changelog::is_empty(&changelog::unreleased_notes(&text)?) {
        let noted = text.replacen(
            "## Unreleased\n",
            "## Unreleased\n\n- Rehearsal of the release process (scratch clone only).\n",
            1,
        );
        consumer::write(&path, &noted)?;
        git(
            clone,
            &[
                "commit",
                "--quiet",
                "-m",
                "Rehearsal note",
                "--",
                "CHANGELOG.md",
            ],
        )?;
    }
    Ok(())
}

/// A dirty tree and an existing tag are refused before anything is uploaded.
fn refusals(ws: &Workspace, registry: &Server) -> Result<Vec<Proof>> {
    let mut proofs = Vec::new();
    let before = registry.head()?;

    let started = Instant::now();
    let stray = ws.root.join("stray-file.txt");
    consumer::write(&stray, "not committed\n")?;
    let dirty = publish::run(&ws.root, Some(REGISTRY));
    fs::remove_file(&stray).map_err(|e| format!("cannot remove {}: {e}", stray.display()))?;
    expect_refusal(
        dirty.map(drop),
        "the working tree is not clean",
        registry,
        &before,
    )?;
    proofs.push(Proof {
        what: "`publish` on a dirty tree".to_owned(),
        result: "refused, nothing uploaded".to_owned(),
        took: started.elapsed(),
    });

    let started = Instant::now();
    let next = Bump::Patch.apply(&ws.version);
    let tag = format!("v{next}");
    exec::read(
        Command::new("git")
            .current_dir(&ws.root)
            .args(["tag", &tag]),
    )?;
    let tagged = release::run(
        &ws.root,
        release::Options {
            bump: Bump::Patch,
            execute: true,
            publish: true,
            registry: Some(REGISTRY.to_owned()),
            package: false,
            after_upload: None,
        },
    );
    exec::read(
        Command::new("git")
            .current_dir(&ws.root)
            .args(["tag", "--delete", &tag]),
    )?;
    expect_refusal(
        tagged,
        &format!("the tag {tag} already exists"),
        registry,
        &before,
    )?;
    proofs.push(Proof {
        what: format!("release {next} when its tag exists"),
        result: "refused, nothing uploaded".to_owned(),
        took: started.elapsed(),
    });
    Ok(proofs)
}

/// A commit under the release's tag that changes the core: its version is already in the
/// registry with other contents, so `publish` must refuse before uploading anything.
fn changed_contents_refused(ws: &Workspace, registry: &Server) -> Result<Proof> {
    let started = Instant::now();
    let before = registry.head()?;
    let root = &ws.root;
    let git = |args: &[&str]| exec::read(Command::new("git").current_dir(root).args(args));
    let tag = format!("v{}", ws.version);
    let core = ws
        .members
        .iter()
        .find(|m| m.name == "pipevideo-core")
        .ok_or("the workspace has no pipevideo-core")?;
    let lib = root.join(&core.dir).join("src/lib.rs");
    let text =
        fs::read_to_string(&lib).map_err(|e| format!("cannot read {}: {e}", lib.display()))?;
    consumer::write(&lib, &format!("{text}\n// Changed after the release.\n"))?;
    let rel = format!("{}/src/lib.rs", core.dir);
    git(&[
        "commit",
        "--quiet",
        "-m",
        "Change the core under the same version",
        "--",
        &rel,
    ])?;
    git(&["tag", "--force", "--annotate", &tag, "-m", "moved"])?;
    let refused = publish::run(root, Some(REGISTRY));
    git(&["reset", "--quiet", "--hard", "HEAD~1"])?;
    git(&["tag", "--force", "--annotate", &tag, "-m", "back"])?;
    expect_refusal(
        refused.map(drop),
        "is already on registry `rehearsal` with different contents",
        registry,
        &before,
    )?;
    Ok(Proof {
        what: "`publish` of a changed core under the same version".to_owned(),
        result: "refused, nothing uploaded".to_owned(),
        took: started.elapsed(),
    })
}

fn expect_refusal(
    result: Result<()>,
    message: &str,
    registry: &Server,
    before: &str,
) -> Result<()> {
    match result {
        Ok(()) => bail!("expected a refusal ({message}), but it succeeded"),
        Err(error) if error.to_string().contains(message) => {}
        Err(error) => bail!("expected a refusal saying `{message}`, got: {error}"),
    }
    if registry.head()? != before {
        bail!("the registry changed although the command was refused ({message})");
    }
    println!("==> rehearsal: refused as it should: {message}");
    Ok(())
}

/// The proofs from the registry alone.
fn from_the_registry(ws: &Workspace, scratch: &Path, registry: &Server) -> Result<Vec<Proof>> {
    let version = &ws.version;
    let target = consumer::target_dir(&ws.root)?;
    let bin = scratch.join("installed");
    let work = scratch.join("proofs");
    fs::create_dir_all(&work).map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    let named = Registry {
        name: Some(REGISTRY.to_owned()),
        index: registry.index(),
    };
    let mut proofs = Vec::new();

    let install = |name: &str| -> Result<(PathBuf, Duration)> {
        let started = Instant::now();
        let member = ws
            .members
            .iter()
            .find(|m| m.name == name)
            .ok_or_else(|| format!("the workspace has no {name}"))?;
        let mut command = exec::cargo(scratch);
        command
            .args([
                "install",
                "--quiet",
                "--locked",
                "--debug",
                "--registry",
                REGISTRY,
            ])
            .args(["--version", &format!("={version}"), "--root"])
            .arg(&bin)
            .arg(name)
            .args(named.patch_args(&publish::needs(ws, member), version));
        println!("==> rehearsal: {}", exec::show(&command));
        exec::run(&mut command)?;
        Ok((bin.join("bin"), started.elapsed()))
    };

    let (dir, took) = install("pipevideo-emulator")?;
    let started = Instant::now();
    let emulator = Emulator::start(&dir.join("pipevideo-emulator"))?;
    proofs.push(Proof {
        what: "cargo install pipevideo-emulator; it starts".to_owned(),
        result: format!("listens at {}", emulator.url),
        took: took + started.elapsed(),
    });

    let (dir, took) = install("pipevideo-cli")?;
    let started = Instant::now();
    let readme = fs::read_to_string(ws.root.join("README.md"))
        .map_err(|e| format!("cannot read README.md: {e}"))?;
    let args = main_job(&readme)?;
    let output_name = args
        .iter()
        .skip_while(|a| *a != "--output")
        .nth(1)
        .ok_or("the README's main job has no --output")?
        .clone();
    let child = Command::new(dir.join("pipevideo"))
        .args(&args)
        .current_dir(&work)
        .env_remove("PIPEVIDEO_API_KEY")
        .env_remove("PIPEVIDEO_API_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start the installed pipevideo: {e}"))?;
    let output = consumer::wait_with_timeout(child, MAIN_JOB_RUN)?;
    let saved = work.join(&output_name);
    let size = fs::metadata(&saved).map(|m| m.len()).unwrap_or(0);
    if !output.status.success() || size == 0 {
        bail!(
            "the installed `pipevideo {}` exited with {} and saved {size} bytes:\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    proofs.push(Proof {
        what: "cargo install pipevideo-cli; the README's main job".to_owned(),
        result: format!(
            "`pipevideo {}` exited 0, saved {output_name} ({size} bytes)",
            shown(&args)
        ),
        took: took + started.elapsed(),
    });

    // The README's quick start in a fresh project that resolves pipevideo from the registry.
    let started = Instant::now();
    let project = work.join("quickstart");
    fs::create_dir_all(project.join("src"))
        .map_err(|e| format!("cannot create the project: {e}"))?;
    let lockfile = fs::read_to_string(ws.root.join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let mut versions = consumer::locked_versions(&lockfile)?;
    let publishable: Vec<_> = ws.members.iter().filter(|m| m.publishable).collect();
    for member in &publishable {
        versions.insert(member.name.clone(), member.version.clone());
    }
    let patches: Vec<(String, String)> = publishable
        .iter()
        .map(|m| {
            (
                m.name.clone(),
                format!("{{ version = \"={version}\", registry = \"{REGISTRY}\" }}"),
            )
        })
        .collect();
    let deps = consumer::install_dependencies(&readme)?;
    let cargo_toml = consumer::manifest(&deps, &versions, &patches)?;
    consumer::write(&project.join("Cargo.toml"), &cargo_toml)?;
    consumer::write(
        &project.join("src/main.rs"),
        &consumer::quick_start(&readme)?,
    )?;
    consumer::write(&project.join("Cargo.lock"), &lockfile)?;
    println!("==> rehearsal: a project outside the workspace:\n{cargo_toml}");
    let quick_start = consumer::build(
        &ws.root,
        &target,
        &project.join("Cargo.toml"),
        "pipevideo-quickstart",
        false,
    )?;
    let resolved = fs::read_to_string(project.join("Cargo.lock"))
        .map_err(|e| format!("cannot read the project's Cargo.lock: {e}"))?;
    let source = format!("source = \"registry+{}\"", registry.index());
    let entry = format!("name = \"pipevideo\"\nversion = \"{version}\"\n{source}");
    if !resolved.contains(&entry) {
        bail!("the quick start did not resolve pipevideo {version} from the rehearsal registry");
    }
    let summary = consumer::run_quick_start(&quick_start, &emulator.url, &emulator.key)?;
    proofs.push(Proof {
        what: format!("README quick start, pipevideo = \"{version}\" from the registry"),
        result: format!("{summary}, against the installed emulator"),
        took: started.elapsed(),
    });
    drop(emulator);
    Ok(proofs)
}

/// Arguments as typed in a shell (quoted when they hold a space).
fn shown(args: &[String]) -> String {
    let words: Vec<String> = args
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("\"{a}\"")
            } else {
                a.clone()
            }
        })
        .collect();
    words.join(" ")
}

/// The CLI's arguments in the README's main job: the `cargo run -p pipevideo-cli -- …` line of
/// the first ```sh block of `## The two commands`.
fn main_job(readme: &str) -> Result<Vec<String>> {
    let section = consumer::section(readme, "## The two commands")?;
    let block = consumer::fenced_block(section, "sh")
        .ok_or("README.md's `## The two commands` has no ```sh block")?;
    let prefix = "cargo run -p pipevideo-cli -- ";
    let line = block
        .lines()
        .find_map(|l| l.trim().strip_prefix(prefix))
        .ok_or_else(|| format!("README.md's main job is not a `{prefix}…` line"))?;
    Ok(consumer::shell_words(line))
}

/// The cargo-http-registry binary: on PATH or in `$CARGO_HOME/bin`, else installed.
fn installed_server() -> Result<PathBuf> {
    let candidates = [
        PathBuf::from("cargo-http-registry"),
        ci::cargo_home().join("bin").join("cargo-http-registry"),
    ];
    for candidate in &candidates {
        if let Some(version) = server_version(candidate) {
            if version != PINNED_VERSION {
                println!(
                    "==> rehearsal: using cargo-http-registry {version} (CI pins {PINNED_VERSION})"
                );
            }
            return Ok(candidate.clone());
        }
    }
    println!(
        "==> rehearsal: cargo-http-registry is not installed; installing it with `cargo install \
         cargo-http-registry --locked --version {PINNED_VERSION}` (about 3.5 minutes on 2 cores)"
    );
    let mut command = exec::cargo(Path::new("."));
    command.env_remove("CARGO_TARGET_DIR").args([
        "install",
        "--quiet",
        "--locked",
        "cargo-http-registry",
        "--version",
        PINNED_VERSION,
    ]);
    exec::run(&mut command).map_err(|e| {
        format!(
            "{e}\nthe rehearsal needs cargo-http-registry: install it with `cargo install \
             cargo-http-registry --locked --version {PINNED_VERSION}`"
        )
    })?;
    let installed = &candidates[1];
    if server_version(installed).is_none() {
        bail!(
            "cargo-http-registry was installed but {} does not run",
            installed.display()
        );
    }
    Ok(installed.clone())
}

/// The version `binary --version` prints, when it is cargo-http-registry. (0.1.8 prints it and
/// then exits with 1, so the exit status says nothing.)
fn server_version(binary: &Path) -> Option<String> {
    let output = Command::new(binary)
        .arg("--version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    parse_server_version(&stdout)
}

fn parse_server_version(stdout: &str) -> Option<String> {
    let version = stdout.trim().strip_prefix("cargo-http-registry ")?;
    semver::Version::parse(version).ok().map(|v| v.to_string())
}

/// A cargo-http-registry process serving `root` on a loopback port.
struct Server {
    binary: PathBuf,
    root: PathBuf,
    port: Option<u16>,
    child: Option<Child>,
}

impl Server {
    fn new(binary: PathBuf, root: PathBuf) -> Server {
        Server {
            binary,
            root,
            port: None,
            child: None,
        }
    }

    fn index(&self) -> String {
        format!("file://{}", self.root.display())
    }

    /// Starts the server: on the port it had when there was one and it is free, else on a new
    /// free port (the server rewrites its `config.json` then).
    fn start(&mut self) -> Result<()> {
        let port = match self.port {
            Some(port) if TcpListener::bind(("127.0.0.1", port)).is_ok() => port,
            _ => free_port()?,
        };
        let log = self.root.with_extension("log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(|e| format!("cannot open {}: {e}", log.display()))?;
        let err = log
            .try_clone()
            .map_err(|e| format!("cannot share the registry's log: {e}"))?;
        let mut child = Command::new(&self.binary)
            .arg("--addr")
            .arg(format!("127.0.0.1:{port}"))
            .arg(&self.root)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", self.binary.display()))?;
        let deadline = Instant::now() + REGISTRY_START;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                bail!(
                    "cargo-http-registry exited ({status}) on 127.0.0.1:{port}; see {}",
                    self.root.with_extension("log").display()
                );
            }
            match TcpStream::connect(("127.0.0.1", port)) {
                Ok(_) => break,
                Err(e) if e.kind() == ErrorKind::ConnectionRefused && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    bail!("cargo-http-registry did not accept connections on port {port}: {e}");
                }
            }
        }
        println!(
            "==> rehearsal: cargo-http-registry serves {} on 127.0.0.1:{port} (pid {})",
            self.root.display(),
            child.id()
        );
        self.port = Some(port);
        self.child = Some(child);
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The index's last commit: it moves with every upload.
    fn head(&self) -> Result<String> {
        git::rev(&self.root, "HEAD")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .map_err(|e| format!("cannot find a free loopback port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("cannot read the free port: {e}").into())
}

/// Removes what cargo keeps of the scratch registry under `$CARGO_HOME/registry` (its index clone,
/// downloaded `.crate` files and unpacked sources): a directory per registry URL, named `-<hash>`
/// for `file://` URLs, found by the URL its index clone fetched from.
fn forget_cached_registry(index: &str) {
    let home = ci::cargo_home().join("registry");
    let Ok(entries) = fs::read_dir(home.join("index")) else {
        return;
    };
    for entry in entries.flatten() {
        let fetched = fs::read_to_string(entry.path().join(".git/FETCH_HEAD")).unwrap_or_default();
        if !fetched.lines().any(|l| l.trim_end().ends_with(index)) {
            continue;
        }
        let name = entry.file_name();
        for kind in ["index", "cache", "src"] {
            let _ = fs::remove_dir_all(home.join(kind).join(&name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_finishing_command_is_read_from_the_error() {
        let error = "`cargo publish` failed (exit status: 101)\nstill to publish, in this order: \
                     a, b\nfinish the release with `cargo xtask publish --registry rehearsal` (run \
                     in /tmp/x; it skips what is already published)";
        assert_eq!(
            finishing_command(error).unwrap(),
            "cargo xtask publish --registry rehearsal"
        );
        assert!(finishing_command("still to publish: a, b").is_err());
        assert!(finishing_command("finish the release with `cargo publish -p a`").is_err());
    }

    #[test]
    fn the_main_job_is_read_from_the_readme() {
        let readme = "# x\n\n## The two commands\n\n**The main job**\n\n```sh\ncargo run -p \
                      pipevideo-cli -- --emulator generate \"A cat\" --output cat.mp4\n```\n\n\
                      ```sh\ncargo xtask ci\n```\n\n## Next\n";
        assert_eq!(
            main_job(readme).unwrap(),
            ["--emulator", "generate", "A cat", "--output", "cat.mp4"]
        );
        assert!(main_job("# x\n\n## The two commands\n\n```sh\ncargo xtask ci\n```\n").is_err());
    }

    #[test]
    fn the_real_readme_has_a_main_job_with_an_output() {
        let readme =
            fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
        let args = main_job(&readme).unwrap();
        assert!(args.contains(&"--emulator".to_owned()), "{args:?}");
        assert!(args.contains(&"--output".to_owned()), "{args:?}");
    }

    #[test]
    fn the_servers_version_line() {
        assert_eq!(
            parse_server_version("cargo-http-registry 0.1.8").as_deref(),
            Some("0.1.8")
        );
        assert_eq!(parse_server_version("cargo-deny 0.20.2\n"), None);
        assert_eq!(parse_server_version(""), None);
    }

    #[test]
    fn the_pin_matches_ci() {
        let run =
            fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/run")).unwrap();
        assert!(
            run.contains(&format!("http_registry_version={PINNED_VERSION}\n")),
            ".ci/run must pin cargo-http-registry {PINNED_VERSION}"
        );
        let readme =
            fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
        assert!(
            readme.contains(&format!(
                "cargo-http-registry --locked --version {PINNED_VERSION}`"
            )),
            "README.md must name cargo-http-registry {PINNED_VERSION}"
        );
    }
}
