//! Publishing the tagged release, crate by crate, in a way that can be resumed: `cargo xtask
//! publish [--registry NAME]`, and the last step of `cargo xtask release --execute --publish`.
//!
//! 1. The registry's index is asked, for every publishable crate, whether it already has the
//!    version (see `registry.rs`).
//! 2. Each crate it has is packaged again (`cargo package --no-verify`, exactly as it was
//!    published: same commit, same patches) and its SHA-256 compared with the index's checksum.
//!    Equal: skipped. Different: an error that names the crates, before anything is uploaded.
//! 3. The others are published in dependency order with `cargo publish -p <crate>`. Cargo waits
//!    until each crate is in the index before it returns (its `publish.timeout`, 60 s by
//!    default), so the next one resolves; this relies on that.
//! 4. On another registry than crates.io the workspace's crates still depend on each other "from
//!    crates.io" once published, so each `cargo publish` gets a `[patch.crates-io]` entry, as
//!    `--config`, for every workspace crate it needs (its dependencies, transitively), pointing at
//!    the same registry at the same version. Only those: an unused patch would be recorded in the
//!    packaged `Cargo.lock`, and the package would then differ from one run to the next. Cargo
//!    writes the patches it did not use into the workspace's `Cargo.lock` as `[[patch.unused]]`;
//!    that change alone is undone after each command, so the tree stays clean for the next one.
//!
//! A failure stops at the crate that failed and prints the command that finishes the release,
//! which is this one again: anything published is skipped the next time.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::registry::Registry;
use crate::workspace::{Member, Workspace};
use crate::{Result, bail, exec, git};

/// Called after each upload with the crate's name and the number of uploads so far (the
/// rehearsal stops its registry there to prove a release can be finished).
pub(crate) type AfterUpload<'a> = Box<dyn FnMut(&str, usize) -> Result<()> + 'a>;

/// What happened to one crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) name: String,
    /// `true` when this run uploaded it, `false` when the registry already had it.
    pub(crate) uploaded: bool,
    /// Size of its `.crate` file in bytes.
    pub(crate) size: u64,
}

/// The command that publishes whatever is missing of the release at `root`.
pub(crate) fn finishing_command(registry: &Registry) -> String {
    let mut words = vec!["cargo".to_owned(), "xtask".to_owned(), "publish".to_owned()];
    words.extend(registry.cargo_args());
    words.join(" ")
}

/// `cargo xtask publish [--registry NAME]`: publishes the version HEAD is tagged with.
pub(crate) fn run(root: &Path, registry: Option<&str>) -> Result<Vec<Outcome>> {
    let registry = Registry::from_option(registry)?;
    registry.require_token()?;
    let dirty = git::dirty_paths(root)?;
    if !dirty.is_empty() {
        bail!(
            "the working tree is not clean; publish from the tagged release commit as it is:\n  {}",
            dirty.join("\n  ")
        );
    }
    let ws = Workspace::load(root)?;
    let tag = format!("v{}", ws.version);
    if !git::tag_exists(root, &tag) {
        bail!(
            "there is no tag {tag}: `cargo xtask publish` publishes a release made with \
             `cargo xtask release <level> --execute`"
        );
    }
    let head = git::rev(root, "HEAD")?;
    if git::rev(root, &format!("{tag}^{{commit}}"))? != head {
        bail!(
            "HEAD is not the release commit {tag}: publish {tag} from it (`git switch --detach \
             {tag}`), or release a new version"
        );
    }
    let outcomes = publish(&ws, &registry, true, None)?;
    Ok(outcomes)
}

/// Publishes every publishable crate of `ws` at its version that `registry` does not have yet,
/// after checking that the ones it has are these very packages. `verify` builds each package
/// before uploading it (false only right after the release's own verified packaging check).
pub(crate) fn publish(
    ws: &Workspace,
    registry: &Registry,
    verify: bool,
    mut after_upload: Option<AfterUpload<'_>>,
) -> Result<Vec<Outcome>> {
    let version = &ws.version;
    let order = ws.publish_order()?;
    println!(
        "==> asking the index of {} which crates it has at {version}",
        registry.label()
    );
    let mut present = Vec::new();
    for member in &order {
        let checksums = registry.checksums(&member.name, version)?;
        present.push(!checksums.is_empty());
        if checksums.is_empty() {
            println!("  {:<20} missing", member.name);
            continue;
        }
        let (local, _) = package(ws, registry, member)?;
        if checksums.iter().any(|c| *c != local) {
            bail!(
                "{} {version} is already on {} with different contents (its checksum there is \
                 {}, this commit packages to {local}); a published version cannot change: \
                 nothing was uploaded, release a new version instead",
                member.name,
                registry.label(),
                checksums.join(", ")
            );
        }
        println!("  {:<20} already published, same contents", member.name);
    }

    if registry.name.is_some() && present.iter().any(|p| !p) {
        println!(
            "    (cargo warns below that the patches to {} are not used: the workspace takes its \
             own crates by path; the patches serve the packaged crate, its verification and its \
             Cargo.lock)",
            registry.label()
        );
    }
    let mut outcomes = Vec::new();
    let mut uploads = 0;
    for (index, member) in order.iter().enumerate() {
        if present[index] {
            let size = crate_file(ws, member)?
                .metadata()
                .map(|m| m.len())
                .unwrap_or(0);
            outcomes.push(Outcome {
                name: member.name.clone(),
                uploaded: false,
                size,
            });
            continue;
        }
        println!(
            "==> publishing {} {version} to {}",
            member.name,
            registry.label()
        );
        let mut command = exec::cargo(&ws.root);
        command.args(["publish", "--package", &member.name]);
        command.args(registry.cargo_args());
        command.args(registry.patch_args(&needs(ws, member), version));
        if !verify {
            command.arg("--no-verify");
        }
        println!("    {}", exec::show(&command));
        let published = exec::run(&mut command);
        let restored = forget_unused_patches(&ws.root);
        if let Err(error) = published.and(restored) {
            let rest: Vec<&str> = order[index..]
                .iter()
                .zip(&present[index..])
                .filter(|(_, present)| !**present)
                .map(|(m, _)| m.name.as_str())
                .collect();
            bail!(
                "{error}\nstill to publish, in this order: {}\nfinish the release with `{}` (run \
                 in {}; it skips what is already published)",
                rest.join(", "),
                finishing_command(registry),
                ws.root.display()
            );
        }
        uploads += 1;
        let size = crate_file(ws, member)?
            .metadata()
            .map(|m| m.len())
            .unwrap_or(0);
        outcomes.push(Outcome {
            name: member.name.clone(),
            uploaded: true,
            size,
        });
        if let Some(hook) = after_upload.as_mut() {
            hook(&member.name, uploads)?;
        }
    }
    if uploads == 0 {
        println!(
            "Nothing to publish: {} has all {} crates at {version}, with these contents.",
            registry.label(),
            order.len()
        );
    } else {
        println!(
            "Published {uploads} crate{} at {version} to {}; {} were there already.",
            if uploads == 1 { "" } else { "s" },
            registry.label(),
            order.len() - uploads
        );
    }
    Ok(outcomes)
}

/// Packages `member` as `cargo publish` would (same patches, no build) and returns its checksum
/// and file.
fn package(ws: &Workspace, registry: &Registry, member: &Member) -> Result<(String, PathBuf)> {
    let mut command = exec::cargo(&ws.root);
    command.args([
        "package",
        "--quiet",
        "--no-verify",
        "--package",
        &member.name,
    ]);
    command.args(registry.patch_args(&needs(ws, member), &ws.version));
    let packaged = exec::read(&mut command);
    forget_unused_patches(&ws.root)?;
    packaged?;
    let file = crate_file(ws, member)?;
    let bytes = fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    Ok((hex(&Sha256::digest(&bytes)), file))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where cargo writes `member`'s `.crate` file.
fn crate_file(ws: &Workspace, member: &Member) -> Result<PathBuf> {
    Ok(crate::consumer::target_dir(&ws.root)?
        .join("package")
        .join(format!("{}-{}.crate", member.name, member.version)))
}

/// The workspace crates `member` needs from the registry once published: its dependencies that
/// stay in the published manifest, and theirs, in name order.
pub(crate) fn needs<'a>(ws: &'a Workspace, member: &Member) -> Vec<&'a str> {
    let mut seen = BTreeSet::new();
    let mut queue: Vec<&str> = vec![member.name.as_str()];
    while let Some(name) = queue.pop() {
        let Some(current) = ws.members.iter().find(|m| m.name == name) else {
            continue;
        };
        for dep in current
            .internal_deps
            .iter()
            .filter(|d| d.constrains_publishing())
        {
            if let Some(found) = ws.members.iter().find(|m| m.name == dep.name)
                && found.name != member.name
                && seen.insert(found.name.as_str())
            {
                queue.push(found.name.as_str());
            }
        }
    }
    seen.into_iter().collect()
}

/// Undoes the `[[patch.unused]]` entries cargo writes into `Cargo.lock` when patches are given
/// on the command line, when they are the only change; fails on any other change.
pub(crate) fn forget_unused_patches(root: &Path) -> Result<()> {
    let path = root.join("Cargo.lock");
    let Ok(now) = fs::read_to_string(&path) else {
        return Ok(());
    };
    let Some(committed) = git::show(root, "HEAD", "Cargo.lock")? else {
        return Ok(());
    };
    if now == committed {
        return Ok(());
    }
    if without_patches(&now)? != without_patches(&committed)? {
        bail!(
            "publishing changed Cargo.lock beyond its `[[patch.unused]]` entries: run `cargo \
             update --workspace` and make a new release; see `git diff Cargo.lock`"
        );
    }
    fs::write(&path, committed).map_err(|e| format!("cannot restore Cargo.lock: {e}").into())
}

fn without_patches(lockfile: &str) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = lockfile
        .parse()
        .map_err(|e| format!("Cargo.lock does not parse: {e}"))?;
    doc.remove("patch");
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::InternalDep;

    fn dep(name: &str, kind: Option<&str>, req: &str) -> InternalDep {
        InternalDep {
            name: name.to_owned(),
            kind: kind.map(str::to_owned),
            req: req.to_owned(),
        }
    }

    #[test]
    fn each_crate_needs_its_published_dependencies_transitively() {
        let core = Member::for_test("core", true);
        let transport = Member {
            internal_deps: vec![dep("core", None, "^0.1.0")],
            ..Member::for_test("transport", true)
        };
        let facade = Member {
            internal_deps: vec![
                dep("transport", None, "^0.1.0"),
                // A path-only dev-dependency is dropped from the package: not needed.
                dep("testkit", Some("dev"), "*"),
            ],
            ..Member::for_test("facade", true)
        };
        let cli = Member {
            internal_deps: vec![
                dep("facade", None, "^0.1.0"),
                dep("emulator", Some("dev"), "^0.1.0"),
            ],
            ..Member::for_test("cli", true)
        };
        let emulator = Member {
            internal_deps: vec![dep("core", None, "^0.1.0")],
            ..Member::for_test("emulator", true)
        };
        let testkit = Member {
            internal_deps: vec![dep("facade", None, "*")],
            ..Member::for_test("testkit", false)
        };
        let ws = Workspace {
            root: PathBuf::from("/nowhere"),
            version: semver::Version::new(0, 1, 0),
            members: vec![
                cli.clone(),
                core.clone(),
                emulator,
                facade.clone(),
                testkit,
                transport,
            ],
        };
        assert!(needs(&ws, &core).is_empty());
        assert_eq!(needs(&ws, &facade), ["core", "transport"]);
        assert_eq!(
            needs(&ws, &cli),
            ["core", "emulator", "facade", "transport"]
        );
    }

    #[test]
    fn only_unused_patch_entries_are_undone() {
        let lock = "version = 4\n\n[[package]]\nname = \"a\"\nversion = \"0.1.0\"\n";
        let patched = format!(
            "{lock}\n[[patch.unused]]\nname = \"a\"\nversion = \"0.1.0\"\nsource = \"registry+file:///r\"\n"
        );
        assert_eq!(
            without_patches(&patched).unwrap(),
            without_patches(lock).unwrap()
        );
        let other = lock.replace("0.1.0", "0.1.1");
        assert_ne!(
            without_patches(&other).unwrap(),
            without_patches(lock).unwrap()
        );
    }

    #[test]
    fn the_finishing_command_names_the_registry() {
        assert_eq!(
            finishing_command(&Registry::crates_io()),
            "cargo xtask publish"
        );
        let named = Registry {
            name: Some("rehearsal".into()),
            index: "file:///r".into(),
        };
        assert_eq!(
            finishing_command(&named),
            "cargo xtask publish --registry rehearsal"
        );
    }

    #[test]
    fn checksums_are_lower_case_hex_sha256() {
        assert_eq!(
            hex(&Sha256::digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
