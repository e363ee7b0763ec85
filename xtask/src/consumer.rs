//! `cargo xtask consumer` (ci's `consumer` step): the README's quick start, built as a user builds
//! it, from the packaged crates, outside the workspace, and run against the emulator; the
//! README's other examples compiled there too, so that one that stops compiling fails CI.
//!
//! Over ~1,000 lines because it also holds the README readers the rehearsal reuses and their
//! tests (about half of it); the steps below are one script.
//!
//! 1. `cargo package --no-verify` makes the `.crate` files of every publishable crate (what
//!    crates.io would serve), and each is unpacked into a scratch directory under the system's
//!    temp dir: the workspace sources are never used.
//! 2. A new cargo project there gets the dependencies of the README's `## Install` section (its
//!    `cargo add` lines, each turned into the manifest entry `cargo add` writes, at the version
//!    the workspace's lockfile holds), a `[patch.crates-io]` entry per unpacked crate, and the
//!    README's `## Quick start` Rust block, verbatim, as `src/main.rs`.
//! 3. Every other ```rust block of the README whose info string includes `no_run` (the shared
//!    budget and webhooks example, the Redis one...) goes in verbatim as its own binary,
//!    `src/bin/readme_<section slug>.rs`, and is built alone: compiled, never run, and a failure
//!    names the README section. The `cargo add` lines of the ```sh blocks in those sections
//!    (`cargo add pipevideo --features redis`) join step 2's, one entry per crate with the
//!    features unioned, so the quick start is built with them too. Blocks marked `ignore`, Rust
//!    blocks without `no_run` (the emulator test, step 5) and blocks in other languages are
//!    skipped.
//! 4. The emulator is built from its unpacked package (as `cargo install pipevideo-emulator`
//!    would, `--locked`), started on a free loopback port, and the quick start runs with its
//!    `PIPEVIDEO_API_URL` and demo key. It passes when the program exits 0 after printing a
//!    generation id and a video URL served by that emulator.
//! 5. The README's `### The emulator in your tests` example goes in as `tests/emulator.rs`, with
//!    the `cargo add --dev` line of that section, and `cargo test` runs it.
//!
//! The scratch project copies the workspace's `Cargo.lock` (same dependency versions) and builds
//! into the workspace's target directory, so dependencies compiled by the `standalone` step for
//! `pipevideo` alone are reused. The scratch directory is removed on success and kept (its path
//! printed) on failure.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::workspace::Workspace;
use crate::{Result, bail, exec};

/// How long the emulator may take to say where it listens.
const EMULATOR_START: Duration = Duration::from_secs(60);
/// How long the quick start may run: one generation on the emulator's fast clock.
const QUICK_START_RUN: Duration = Duration::from_secs(180);
/// The emulator's clock: a one-minute generation takes 3 s, so the quick start's first poll (on
/// the client's real-time schedule) finds it done.
const EMULATOR_TIME_SCALE: &str = "0.05";

/// One dependency of the README's install section: what `cargo add NAME [-F a,b]` adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dependency {
    pub(crate) name: String,
    pub(crate) features: Vec<String>,
    pub(crate) default_features: bool,
    /// `cargo add --dev`.
    pub(crate) dev: bool,
}

/// The README section whose Rust block is a test against the emulator, with its own
/// `cargo add --dev` line.
const TEST_SECTION: &str = "### The emulator in your tests";
/// The README section whose Rust block is built and run against the emulator.
const QUICK_START: &str = "## Quick start";

/// The `cargo add` lines of the first ```sh block of the README's `## Install` section and of
/// its test section, parsed.
pub(crate) fn install_dependencies(readme: &str) -> Result<Vec<Dependency>> {
    let mut deps = Vec::new();
    for heading in ["## Install", TEST_SECTION] {
        let block = fenced_block(section(readme, heading)?, "sh").ok_or_else(|| {
            format!("README.md's `{heading}` section has no ```sh block of `cargo add` lines")
        })?;
        let found = cargo_add_lines(block)?;
        if found.is_empty() {
            bail!("README.md's `{heading}` block has no `cargo add` line");
        }
        deps.extend(found);
    }
    Ok(deps)
}

/// Parses the `cargo add` lines of a shell block.
///
/// Only what a quick start needs is understood: one crate per line, `--features`/`-F` (comma- or
/// space-separated), `--no-default-features`, `--dev`. Anything else is an error, so that a
/// README that grows an option this parser does not know fails loudly instead of being
/// half-read.
fn cargo_add_lines(block: &str) -> Result<Vec<Dependency>> {
    let mut deps = Vec::new();
    for line in block.lines().map(str::trim) {
        let Some(rest) = line.strip_prefix("cargo add ") else {
            continue;
        };
        let words = shell_words(rest.split('#').next().unwrap_or_default());
        let mut dep = Dependency {
            name: String::new(),
            features: Vec::new(),
            default_features: true,
            dev: false,
        };
        let mut words = words.into_iter();
        while let Some(word) = words.next() {
            match word.as_str() {
                "--features" | "-F" => {
                    let list = words
                        .next()
                        .ok_or_else(|| format!("`{line}`: {word} needs a value"))?;
                    dep.features.extend(
                        list.split([',', ' '])
                            .filter(|f| !f.is_empty())
                            .map(str::to_owned),
                    );
                }
                "--no-default-features" => dep.default_features = false,
                "--dev" => dep.dev = true,
                flag if flag.starts_with('-') => {
                    bail!("`{line}`: the consumer check does not understand `{flag}`")
                }
                name if dep.name.is_empty() => dep.name = name.to_owned(),
                other => bail!("`{line}`: one crate per `cargo add` line, please (`{other}`)"),
            }
        }
        if dep.name.is_empty() {
            bail!("`{line}` names no crate");
        }
        deps.push(dep);
    }
    Ok(deps)
}

/// The README's test against the emulator, exactly as printed.
pub(crate) fn emulator_test(readme: &str) -> Result<String> {
    fenced_block(section(readme, TEST_SECTION)?, "rust")
        .map(str::to_owned)
        .ok_or_else(|| format!("README.md's `{TEST_SECTION}` section has no ```rust block").into())
}

/// The README's `## Quick start` Rust block, exactly as printed.
pub(crate) fn quick_start(readme: &str) -> Result<String> {
    let section = section(readme, QUICK_START)?;
    fenced_block(section, "rust")
        .map(str::to_owned)
        .ok_or_else(|| "README.md's `## Quick start` section has no ```rust block".into())
}

/// A README example that is compiled, not run: a ```rust block marked `no_run`, other than the
/// quick start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Example {
    /// The heading of the section it is printed in, as written (`## Many processes ...`).
    pub(crate) heading: String,
    /// The binary it is built as, `src/bin/{bin}.rs`: `readme_` and the heading's slug, with
    /// `_2`, `_3`... for a section's later blocks.
    pub(crate) bin: String,
    /// The block, exactly as printed.
    pub(crate) code: String,
}

/// Every ```rust block of the README whose info string includes `no_run`, but the quick start
/// (built and run on its own), each with the section it is in. A block marked `ignore`, a
/// `rust` block without `no_run` (the emulator test, run on its own) and a block in another
/// language are not examples.
pub(crate) fn examples(readme: &str) -> Result<Vec<Example>> {
    let quick_start = fenced_block(section(readme, QUICK_START)?, "rust");
    let mut examples: Vec<Example> = Vec::new();
    for block in fenced_blocks(readme) {
        if block.lang() != "rust"
            || !block.attributes().any(|a| a == "no_run")
            || block.attributes().any(|a| a == "ignore")
            || quick_start.is_some_and(|q| std::ptr::eq(q, block.body))
        {
            continue;
        }
        let heading = block
            .heading
            .ok_or("README.md has a ```rust,no_run block above its first heading")?;
        let slug = format!("readme_{}", slug(heading));
        let earlier = examples.iter().filter(|e| e.heading == heading).count();
        let bin = match earlier {
            0 => slug,
            n => format!("{slug}_{}", n + 1),
        };
        examples.push(Example {
            heading: heading.to_owned(),
            bin,
            code: block.body.to_owned(),
        });
    }
    Ok(examples)
}

/// A heading as a binary name: `## Many processes on one key: Redis` is
/// `many_processes_on_one_key_redis`.
fn slug(heading: &str) -> String {
    let words: Vec<String> = heading
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    words.join("_")
}

/// What the scratch project depends on: the install and test sections' `cargo add` lines (see
/// [`install_dependencies`]) and those of every ```sh block in the sections of the `examples`
/// (`cargo add pipevideo --features redis`), one entry per crate (and table), their features
/// unioned.
pub(crate) fn project_dependencies(readme: &str, examples: &[Example]) -> Result<Vec<Dependency>> {
    let mut deps = install_dependencies(readme)?;
    let mut headings: Vec<&str> = examples.iter().map(|e| e.heading.as_str()).collect();
    headings.dedup();
    for heading in headings {
        for block in fenced_blocks(section(readme, heading)?) {
            if block.lang() == "sh" {
                deps.extend(cargo_add_lines(block.body)?);
            }
        }
    }
    Ok(union(deps))
}

/// One entry per crate and table (`dependencies`, `dev-dependencies`), in the order of their
/// first `cargo add`, with every feature any line asks for, and the default features when any
/// line keeps them.
fn union(deps: Vec<Dependency>) -> Vec<Dependency> {
    let mut merged: Vec<Dependency> = Vec::new();
    for dep in deps {
        match merged
            .iter_mut()
            .find(|d| d.name == dep.name && d.dev == dep.dev)
        {
            Some(first) => {
                first.default_features |= dep.default_features;
                for feature in dep.features {
                    if !first.features.contains(&feature) {
                        first.features.push(feature);
                    }
                }
            }
            None => merged.push(dep),
        }
    }
    merged
}

/// The text from a `heading` line to the next heading of the same or a higher level.
pub(crate) fn section<'a>(markdown: &'a str, heading: &str) -> Result<&'a str> {
    let level = heading.chars().take_while(|c| *c == '#').count();
    let mut lines = markdown.split_inclusive('\n');
    let mut offset = 0;
    for line in lines.by_ref() {
        offset += line.len();
        if line.trim_end() == heading {
            break;
        }
    }
    if offset >= markdown.len() {
        bail!("README.md has no `{heading}` section");
    }
    let start = offset;
    let mut in_fence = false;
    for line in lines {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        }
        if !in_fence && heading_level(line).is_some_and(|l| l <= level) {
            return Ok(&markdown[start..offset]);
        }
        offset += line.len();
    }
    Ok(&markdown[start..])
}

/// The level of a Markdown heading line (`## x` is 2), or `None` when it is not one.
fn heading_level(line: &str) -> Option<usize> {
    let hashes = line.chars().take_while(|c| *c == '#').count();
    (hashes > 0 && line[hashes..].starts_with(' ')).then_some(hashes)
}

/// The body of the first fenced block whose info string starts with `lang` (`rust`,
/// `rust,no_run`, ...).
pub(crate) fn fenced_block<'a>(text: &'a str, lang: &str) -> Option<&'a str> {
    fenced_blocks(text)
        .into_iter()
        .find(|block| block.lang() == lang)
        .map(|block| block.body)
}

/// A fenced block of a Markdown text, with the heading it is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fenced<'a> {
    /// The nearest heading line above the block (`## Install`), `None` before the first.
    pub(crate) heading: Option<&'a str>,
    /// What follows the opening backticks: `rust,no_run`.
    pub(crate) info: &'a str,
    pub(crate) body: &'a str,
}

impl Fenced<'_> {
    /// The first word of the info string: `rust`, `sh`, ...
    pub(crate) fn lang(&self) -> &str {
        self.attributes().next().unwrap_or_default()
    }

    /// The comma-separated words of the info string: `rust`, `no_run`.
    pub(crate) fn attributes(&self) -> impl Iterator<Item = &str> {
        self.info.split(',').map(str::trim)
    }
}

/// Every fenced block of `text`, in order; a heading inside a block is not a heading.
pub(crate) fn fenced_blocks(text: &str) -> Vec<Fenced<'_>> {
    let mut blocks = Vec::new();
    let mut heading = None;
    let mut offset = 0;
    let mut open: Option<(&str, usize)> = None;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim();
        match open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some((info, offset + line.len()));
                } else if heading_level(line).is_some() {
                    heading = Some(line.trim_end());
                }
            }
            Some((info, begin)) if trimmed == "```" => {
                blocks.push(Fenced {
                    heading,
                    info,
                    body: &text[begin..offset],
                });
                open = None;
            }
            Some(_) => {}
        }
        offset += line.len();
    }
    blocks
}

/// Splits on whitespace, keeping double-quoted runs together (`-F "a b"`).
pub(crate) fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// The highest version of each package in a `Cargo.lock`.
pub(crate) fn locked_versions(lockfile: &str) -> Result<BTreeMap<String, semver::Version>> {
    let doc: toml_edit::DocumentMut = lockfile
        .parse()
        .map_err(|e| format!("Cargo.lock does not parse: {e}"))?;
    let mut versions: BTreeMap<String, semver::Version> = BTreeMap::new();
    let packages = doc
        .get("package")
        .and_then(toml_edit::Item::as_array_of_tables)
        .ok_or("Cargo.lock has no [[package]] entries")?;
    for package in packages {
        let (Some(name), Some(version)) = (
            package.get("name").and_then(toml_edit::Item::as_str),
            package.get("version").and_then(toml_edit::Item::as_str),
        ) else {
            continue;
        };
        let Ok(version) = semver::Version::parse(version) else {
            continue;
        };
        let entry = versions.entry(name.to_owned()).or_insert(version.clone());
        if version > *entry {
            *entry = version;
        }
    }
    Ok(versions)
}

/// A `[patch.crates-io]` entry that takes a crate from an unpacked package.
pub(crate) fn path_patch(dir: &Path) -> String {
    let path = dir.to_string_lossy().replace('\\', "/");
    format!("{{ path = \"{path}\" }}")
}

/// The scratch project's manifest; `patches` are `[patch.crates-io]` entries, each a crate name
/// and its inline table (see [`path_patch`]).
pub(crate) fn manifest(
    deps: &[Dependency],
    versions: &BTreeMap<String, semver::Version>,
    patches: &[(String, String)],
) -> Result<String> {
    let mut text = String::from(
        "[package]\nname = \"pipevideo-quickstart\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\
         publish = false\n",
    );
    for (table, dev) in [("dependencies", false), ("dev-dependencies", true)] {
        let _ = write!(text, "\n[{table}]\n");
        for dep in deps.iter().filter(|d| d.dev == dev) {
            text.push_str(&entry(dep, versions)?);
        }
    }
    text.push_str("\n[patch.crates-io]\n");
    for (name, table) in patches {
        let _ = writeln!(text, "{name} = {table}");
    }
    // Not a member of any workspace above the scratch directory.
    text.push_str("\n[workspace]\n");
    Ok(text)
}

/// One manifest line, as `cargo add` writes it, at the locked version.
fn entry(dep: &Dependency, versions: &BTreeMap<String, semver::Version>) -> Result<String> {
    let Some(version) = versions.get(&dep.name) else {
        bail!(
            "README.md's install section adds `{}`, which the workspace's Cargo.lock does not \
             hold: the consumer check pins the versions the workspace was tested with",
            dep.name
        );
    };
    let mut fields = vec![format!("version = \"{version}\"")];
    if !dep.default_features {
        fields.push("default-features = false".to_owned());
    }
    if !dep.features.is_empty() {
        let list: Vec<String> = dep.features.iter().map(|f| format!("\"{f}\"")).collect();
        fields.push(format!("features = [{}]", list.join(", ")));
    }
    Ok(format!("{} = {{ {} }}\n", dep.name, fields.join(", ")))
}

/// Runs the whole check.
pub(crate) fn run(root: &Path) -> Result<()> {
    let ws = Workspace::load(root)?;
    let readme = fs::read_to_string(root.join("README.md"))
        .map_err(|e| format!("cannot read README.md: {e}"))?;
    let examples = examples(&readme)?;
    let deps = project_dependencies(&readme, &examples)?;
    let main_rs = quick_start(&readme)?;
    let test_rs = emulator_test(&readme)?;
    let lockfile = fs::read_to_string(root.join("Cargo.lock"))
        .map_err(|e| format!("cannot read Cargo.lock: {e}"))?;
    let mut versions = locked_versions(&lockfile)?;
    let publishable: Vec<_> = ws.members.iter().filter(|m| m.publishable).collect();
    for member in &publishable {
        versions.insert(member.name.clone(), member.version.clone());
    }

    println!("--> packaging the publishable crates (as crates.io would serve them)");
    // `--no-verify`: nothing is built from cargo's own overlay here (the `package` step verifies),
    // so no stale overlay copy can matter; the `.crate` files are written anew.
    exec::run(&mut crate::ci::package_command(&ws, false))?;
    let target = target_dir(root)?;

    let scratch = std::env::temp_dir().join(format!("pipevideo-consumer-{}", std::process::id()));
    if scratch.exists() {
        fs::remove_dir_all(&scratch)
            .map_err(|e| format!("cannot clear {}: {e}", scratch.display()))?;
    }
    let unpacked = scratch.join("crates");
    fs::create_dir_all(&unpacked)
        .map_err(|e| format!("cannot create {}: {e}", unpacked.display()))?;
    let mut patches = Vec::new();
    for member in &publishable {
        let file = target
            .join("package")
            .join(format!("{}-{}.crate", member.name, member.version));
        exec::run(
            Command::new("tar")
                .arg("-xzf")
                .arg(&file)
                .arg("-C")
                .arg(&unpacked),
        )?;
        patches.push((
            member.name.clone(),
            unpacked.join(format!("{}-{}", member.name, member.version)),
        ));
    }

    let project = scratch.join("quickstart");
    fs::create_dir_all(project.join("src"))
        .map_err(|e| format!("cannot create the project: {e}"))?;
    let entries: Vec<(String, String)> = patches
        .iter()
        .map(|(name, dir)| (name.clone(), path_patch(dir)))
        .collect();
    let cargo_toml = manifest(&deps, &versions, &entries)?;
    write(&project.join("Cargo.toml"), &cargo_toml)?;
    write(&project.join("src/main.rs"), &main_rs)?;
    fs::create_dir_all(project.join("src/bin"))
        .map_err(|e| format!("cannot create src/bin/: {e}"))?;
    for example in &examples {
        write(
            &project.join("src/bin").join(format!("{}.rs", example.bin)),
            &example.code,
        )?;
    }
    fs::create_dir_all(project.join("tests")).map_err(|e| format!("cannot create tests/: {e}"))?;
    write(&project.join("tests/emulator.rs"), &test_rs)?;
    write(&project.join("Cargo.lock"), &lockfile)?;
    println!(
        "--> a project outside the workspace at {}:\n{cargo_toml}",
        project.display()
    );

    let outcome = build_and_run(root, &target, &project, &patches, &examples);
    match outcome {
        Ok(summary) => {
            let _ = fs::remove_dir_all(&scratch);
            println!("<-- the README's quick start, built from the packages: {summary}");
            Ok(())
        }
        Err(error) => bail!(
            "{error}\n(the scratch project is kept at {})",
            scratch.display()
        ),
    }
}

fn build_and_run(
    root: &Path,
    target: &Path,
    project: &Path,
    patches: &[(String, PathBuf)],
    examples: &[Example],
) -> Result<String> {
    let quick_start = build(
        root,
        target,
        &project.join("Cargo.toml"),
        "pipevideo-quickstart",
        false,
    )?;
    compile_examples(root, target, project, examples)?;
    let emulator_dir = patches
        .iter()
        .find(|(name, _)| name == "pipevideo-emulator")
        .map(|(_, dir)| dir)
        .ok_or("pipevideo-emulator is not among the packaged crates")?;
    let emulator = build(
        root,
        target,
        &emulator_dir.join("Cargo.toml"),
        "pipevideo-emulator",
        true,
    )?;

    let mut server = Emulator::start(&emulator)?;
    let result = run_quick_start(&quick_start, &server.url, &server.key);
    server.stop();
    let summary = result?;

    let mut test = exec::cargo(root);
    test.env("CARGO_TARGET_DIR", target)
        .args(["test", "--manifest-path"])
        .arg(project.join("Cargo.toml"))
        .args(["--test", "emulator"]);
    println!("--> the README's emulator test: {}", exec::show(&test));
    exec::run(&mut test)?;
    Ok(format!(
        "{summary}; its emulator test passed; the README's {} other examples compiled",
        examples.len()
    ))
}

/// Builds each example as its own binary; fails naming every README section whose example does
/// not compile.
fn compile_examples(
    root: &Path,
    target: &Path,
    project: &Path,
    examples: &[Example],
) -> Result<()> {
    let mut broken = Vec::new();
    for example in examples {
        println!(
            "--> compiling the README's `{}` example as src/bin/{}.rs",
            example.heading, example.bin
        );
        if let Err(error) = build(
            root,
            target,
            &project.join("Cargo.toml"),
            &example.bin,
            false,
        ) {
            broken.push(format!(
                "README.md's `{}` example (src/bin/{}.rs) does not compile: {error}",
                example.heading, example.bin
            ));
        }
    }
    if !broken.is_empty() {
        bail!("{}", broken.join("\n"));
    }
    Ok(())
}

/// An emulator binary running on a free loopback port, with its API URL and demo key; stopped
/// when dropped.
pub(crate) struct Emulator {
    child: Child,
    pub(crate) url: String,
    pub(crate) key: String,
}

impl Emulator {
    /// Starts `binary` on a free port with the fast clock and no faults, and reads its address.
    pub(crate) fn start(binary: &Path) -> Result<Emulator> {
        let mut child = Command::new(binary)
            .args([
                "--port",
                "0",
                "--time-scale",
                EMULATOR_TIME_SCALE,
                "--failure-rate",
                "0",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", binary.display()))?;
        match emulator_address(&mut child) {
            Ok((url, key)) => Ok(Emulator { child, url, key }),
            Err(error) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(error)
            }
        }
    }

    pub(crate) fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Runs the quick start binary against the emulator at `url`; passes when it exits 0 after
/// printing a generation id and a video URL of that emulator.
pub(crate) fn run_quick_start(quick_start: &Path, url: &str, key: &str) -> Result<String> {
    println!("--> running the quick start against the emulator at {url}");
    let started = Instant::now();
    let child = Command::new(quick_start)
        .env("PIPEVIDEO_API_URL", url)
        .env("PIPEVIDEO_API_KEY", key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start the quick start: {e}"))?;
    let output = wait_with_timeout(child, QUICK_START_RUN)?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    print!("{stdout}");
    if !output.status.success() {
        bail!(
            "the quick start exited with {} against the emulator:\n{stdout}{stderr}",
            output.status
        );
    }
    let origin = url.trim_end_matches("/v1");
    if !stdout.contains("gen_") || !stdout.contains(origin) {
        bail!(
            "the quick start exited 0 but did not print a generation id and a video URL of \
             the emulator ({origin}):\n{stdout}"
        );
    }
    Ok(format!(
        "ran in {:.1}s and printed a generation and its video URL",
        started.elapsed().as_secs_f64()
    ))
}

/// Builds the one binary of the manifest, into the shared target directory; returns its path.
pub(crate) fn build(
    root: &Path,
    target: &Path,
    manifest: &Path,
    bin: &str,
    locked: bool,
) -> Result<PathBuf> {
    let mut command = exec::cargo(root);
    command
        .env("CARGO_TARGET_DIR", target)
        .args([
            "build",
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(manifest)
        .args(["--bin", bin]);
    if locked {
        command.arg("--locked");
    }
    println!("--> {}", exec::show(&command));
    let output = command
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("could not start `{}`: {e}", exec::show(&command)))?;
    if !output.status.success() {
        bail!("`{}` failed ({})", exec::show(&command), output.status);
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["target"]["name"] == bin)
        .find_map(|message| message["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| format!("cargo built no `{bin}` executable").into())
}

/// Reads the emulator's banner until it has printed the two `export` lines.
fn emulator_address(server: &mut Child) -> Result<(String, String)> {
    let stdout = server
        .stdout
        .take()
        .ok_or("the emulator's stdout is not captured")?;
    let (tx, rx) = mpsc::channel();
    // Drain the emulator's stdout to its end, even after the address was read: a closed pipe
    // would make its next `println!` fail and the emulator exit under the quick start.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + EMULATOR_START;
    let (mut url, mut key) = (None, None);
    while url.is_none() || key.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .map_err(|_| "the emulator did not print its address in time")?;
        if let Some(value) = line.trim().strip_prefix("export PIPEVIDEO_API_URL=") {
            url = Some(value.to_owned());
        } else if let Some(value) = line.trim().strip_prefix("export PIPEVIDEO_API_KEY=") {
            key = Some(value.to_owned());
        }
    }
    Ok((url.unwrap_or_default(), key.unwrap_or_default()))
}

/// Waits for `child`, killing it after `limit`.
pub(crate) fn wait_with_timeout(child: Child, limit: Duration) -> Result<std::process::Output> {
    let id = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(output) => output.map_err(|e| format!("waiting for the quick start: {e}").into()),
        Err(_) => {
            let _ = Command::new("kill").arg(id.to_string()).status();
            bail!("the program did not finish within {}s", limit.as_secs())
        }
    }
}

/// The workspace's target directory, as cargo reports it.
pub(crate) fn target_dir(root: &Path) -> Result<PathBuf> {
    let json =
        exec::read(exec::cargo(root).args(["metadata", "--format-version", "1", "--no-deps"]))?;
    let metadata: serde_json::Value = serde_json::from_str(&json)
        .map_err(|e| format!("cargo metadata printed invalid JSON: {e}"))?;
    metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| "cargo metadata names no target directory".into())
}

pub(crate) fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

#[cfg(test)]
mod tests {
    use super::*;

    const README: &str = "# x\n\nintro\n\n## Install\n\n```sh\ncargo add pipevideo\n\
        cargo add tokio --features macros,rt-multi-thread\n```\n\n```sh\ncargo add ignored\n```\n\n\
        ### The emulator in your tests\n\n```sh\ncargo add --dev pipevideo-emulator\n```\n\n\
        ```rust\n#[tokio::test]\nasync fn t() {}\n```\n\n## Quick start\n\n```rust,no_run\n\
        fn main() {}\n// # not a heading\n```\n\n```rust\nsecond block\n```\n\n## Next\n";

    fn dep(name: &str, features: &[&str], dev: bool) -> Dependency {
        Dependency {
            name: name.into(),
            features: features.iter().map(|f| (*f).to_owned()).collect(),
            default_features: true,
            dev,
        }
    }

    #[test]
    fn the_install_blocks_are_read_as_cargo_add_would_write_them() {
        let deps = install_dependencies(README).unwrap();
        assert_eq!(
            deps,
            [
                dep("pipevideo", &[], false),
                dep("tokio", &["macros", "rt-multi-thread"], false),
                dep("pipevideo-emulator", &[], true),
            ]
        );
        let versions = BTreeMap::from([
            ("pipevideo".to_owned(), semver::Version::new(0, 1, 0)),
            (
                "pipevideo-emulator".to_owned(),
                semver::Version::new(0, 1, 0),
            ),
            ("tokio".to_owned(), semver::Version::new(1, 48, 0)),
        ]);
        let patches = [
            (
                "pipevideo".to_owned(),
                path_patch(Path::new("/s/crates/pipevideo-0.1.0")),
            ),
            (
                "pipevideo-core".to_owned(),
                "{ version = \"=0.1.0\", registry = \"r\" }".to_owned(),
            ),
        ];
        let manifest = manifest(&deps, &versions, &patches).unwrap();
        assert!(
            manifest.contains(
                "[dependencies]\npipevideo = { version = \"0.1.0\" }\n\
                 tokio = { version = \"1.48.0\", features = [\"macros\", \"rt-multi-thread\"] }\n\n\
                 [dev-dependencies]\npipevideo-emulator = { version = \"0.1.0\" }\n"
            ),
            "{manifest}"
        );
        assert!(
            manifest.contains(
                "[patch.crates-io]\npipevideo = { path = \"/s/crates/pipevideo-0.1.0\" }\n\
                 pipevideo-core = { version = \"=0.1.0\", registry = \"r\" }\n"
            ),
            "{manifest}"
        );
        assert!(manifest.ends_with("[workspace]\n"));
        // A crate the lockfile does not hold cannot be pinned.
        assert!(manifest_missing_version_fails(&deps));
        assert_eq!(
            emulator_test(README).unwrap(),
            "#[tokio::test]\nasync fn t() {}\n"
        );
    }

    fn manifest_missing_version_fails(deps: &[Dependency]) -> bool {
        manifest(deps, &BTreeMap::new(), &[]).is_err()
    }

    #[test]
    fn the_quick_start_is_the_first_rust_block_of_its_section_verbatim() {
        assert_eq!(
            quick_start(README).unwrap(),
            "fn main() {}\n// # not a heading\n"
        );
    }

    #[test]
    fn unknown_options_missing_sections_and_two_crates_per_line_are_errors() {
        let odd = README.replace("cargo add pipevideo\n", "cargo add pipevideo --git x\n");
        assert!(
            install_dependencies(&odd)
                .unwrap_err()
                .to_string()
                .contains("--git")
        );
        let two = README.replace("cargo add pipevideo\n", "cargo add pipevideo serde\n");
        assert!(install_dependencies(&two).is_err());
        assert!(quick_start("# x\n## Install\n").is_err());
        assert!(install_dependencies("# x\n## Quick start\n```rust\n```\n").is_err());
        let no_dev = README.replace("cargo add --dev pipevideo-emulator\n", "");
        assert!(install_dependencies(&no_dev).is_err());
        let no_block = README.replace("```rust,no_run", "```text");
        assert_eq!(quick_start(&no_block).unwrap(), "second block\n");
    }

    /// [`README`] grown with examples: a section with its own `cargo add` line, one with two
    /// examples, one in a subsection, and blocks that are not examples.
    fn readme_with_examples() -> String {
        README.replace(
            "## Next\n",
            "## Redis\n\n```sh\ncargo add pipevideo --features redis\n\
             cargo add tokio -F macros,time\n```\n\n```rust,no_run\nuse redis;\n```\n\n\
             ## Two: webhooks, at once!\n\n```rust, no_run\nfn one() {}\n```\n\n\
             ```rust,ignore\nnot compiled\n```\n\n```rust,no_run,ignore\nnot either\n```\n\n\
             ```text\nno_run\n```\n\n```rust,no_run\n# not a heading\nfn two() {}\n```\n\n\
             ### Deeper\n\n```rust,no_run\nfn three() {}\n```\n\n\
             ## Elsewhere\n\n```sh\ncargo add pipevideo --features surf\n```\n",
        )
    }

    fn example(heading: &str, bin: &str, code: &str) -> Example {
        Example {
            heading: heading.into(),
            bin: bin.into(),
            code: code.into(),
        }
    }

    #[test]
    fn every_no_run_block_but_the_quick_start_is_an_example_named_by_its_section() {
        let readme = readme_with_examples();
        assert_eq!(
            examples(&readme).unwrap(),
            [
                example("## Redis", "readme_redis", "use redis;\n"),
                example(
                    "## Two: webhooks, at once!",
                    "readme_two_webhooks_at_once",
                    "fn one() {}\n"
                ),
                example(
                    "## Two: webhooks, at once!",
                    "readme_two_webhooks_at_once_2",
                    "# not a heading\nfn two() {}\n"
                ),
                example("### Deeper", "readme_deeper", "fn three() {}\n"),
            ]
        );
        // The quick start (a `rust,no_run` block) and the emulator test (`rust`) are not among
        // them: they are built and run on their own.
        assert!(examples(README).unwrap().is_empty());
        // A second `no_run` block of the quick start's section is an example.
        let second = README.replace("```rust\nsecond block", "```rust,no_run\nsecond block");
        assert_eq!(
            examples(&second).unwrap(),
            [example(
                "## Quick start",
                "readme_quick_start",
                "second block\n"
            )]
        );
        let orphan = examples("```rust,no_run\nfn main() {}\n```\n## Quick start\n\nnone\n");
        assert!(
            orphan
                .unwrap_err()
                .to_string()
                .contains("above its first heading")
        );
    }

    #[test]
    fn the_examples_sections_add_their_cargo_add_lines_with_features_unioned() {
        let readme = readme_with_examples();
        let deps = project_dependencies(&readme, &examples(&readme).unwrap()).unwrap();
        // `## Elsewhere` holds no example: its `surf` feature is not added.
        assert_eq!(
            deps,
            [
                dep("pipevideo", &["redis"], false),
                dep("tokio", &["macros", "rt-multi-thread", "time"], false),
                dep("pipevideo-emulator", &[], true),
            ]
        );
        // Without examples, the install and test sections alone.
        assert_eq!(
            project_dependencies(&readme, &[]).unwrap(),
            install_dependencies(&readme).unwrap()
        );
        // The default features stay when any line keeps them; dev and normal stay apart.
        let mut lean = dep("pipevideo", &["surf"], false);
        lean.default_features = false;
        let merged = union(vec![
            lean.clone(),
            dep("pipevideo", &["surf", "redis"], false),
            dep("pipevideo", &[], true),
        ]);
        assert_eq!(
            merged,
            [
                dep("pipevideo", &["surf", "redis"], false),
                dep("pipevideo", &[], true)
            ]
        );
        assert_eq!(union(vec![lean.clone(), lean.clone()]), [lean]);
        // An example section's unknown `cargo add` option fails as the install section's does.
        let odd = readme.replace(
            "cargo add pipevideo --features redis",
            "cargo add x --git y",
        );
        assert!(project_dependencies(&odd, &examples(&odd).unwrap()).is_err());
    }

    #[test]
    fn fenced_blocks_know_their_heading_and_ignore_headings_inside_blocks() {
        let blocks =
            fenced_blocks("intro\n```sh\na\n```\n# One\n```rust, no_run\n# x\n```\n```\nb\n```\n");
        assert_eq!(
            blocks,
            [
                Fenced {
                    heading: None,
                    info: "sh",
                    body: "a\n"
                },
                Fenced {
                    heading: Some("# One"),
                    info: "rust, no_run",
                    body: "# x\n"
                },
                Fenced {
                    heading: Some("# One"),
                    info: "",
                    body: "b\n"
                },
            ]
        );
        assert_eq!(blocks[1].lang(), "rust");
        assert_eq!(
            blocks[1].attributes().collect::<Vec<_>>(),
            ["rust", "no_run"]
        );
        assert_eq!(fenced_block("```rust\nunclosed\n", "rust"), None);
    }

    #[test]
    fn the_lockfile_gives_the_highest_version_of_each_package() {
        let lock = "version = 4\n\n[[package]]\nname = \"a\"\nversion = \"1.2.0\"\n\n\
                    [[package]]\nname = \"a\"\nversion = \"0.9.1\"\n\n[[package]]\nname = \"b\"\n\
                    version = \"2.0.0\"\n";
        let versions = locked_versions(lock).unwrap();
        assert_eq!(versions["a"], semver::Version::new(1, 2, 0));
        assert_eq!(versions["b"], semver::Version::new(2, 0, 0));
    }
}
