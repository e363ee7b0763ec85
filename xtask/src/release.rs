//! `cargo xtask release`: one shared version, one tag, crates in dependency order.
//!
//! The steps, each refusing with a clear message rather than guessing:
//! 1. the tree is clean and on `main`; the publishable crates share `[workspace.package] version`;
//! 2. the new version is computed and is higher; its tag does not exist yet;
//! 3. CHANGELOG.md's `## Unreleased` has notes (an empty one is refused: a release says what changed);
//! 4. the plan is printed: every crate `old → new` in publishing order, changed or not since the
//!    last tag, and every manifest edit;
//! 5. the edits are applied (in a scratch worktree for a dry run, in the tree with `--execute`), the
//!    lockfile follows, and the packaging check runs bottom-up against the bumped versions;
//! 6. with `--execute`: commit `Release X.Y.Z`, tag `vX.Y.Z`; with `--publish` too: `cargo publish`
//!    crate by crate in the same order, to crates.io or to the registry `--registry NAME` names
//!    (see `publish.rs`). Before anything changes, the registry's index must not hold the new
//!    version of any crate yet; a failure half-way prints `cargo xtask publish [--registry NAME]`,
//!    which finishes the release.

use std::fs;
use std::path::{Path, PathBuf};

use crate::publish::AfterUpload;
use crate::registry::Registry;
use crate::workspace::{self, Workspace};
use crate::{Result, bail, changelog, ci, exec, git, publish};

/// The branch releases are made from.
const RELEASE_BRANCH: &str = "main";

/// How to move the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bump {
    Patch,
    Minor,
    Major,
    Exact(semver::Version),
}

impl Bump {
    pub(crate) fn parse(text: &str) -> Result<Bump> {
        Ok(match text {
            "patch" => Bump::Patch,
            "minor" => Bump::Minor,
            "major" => Bump::Major,
            _ => Bump::Exact(
                semver::Version::parse(text.strip_prefix('v').unwrap_or(text)).map_err(|e| {
                    format!("`{text}` is neither patch, minor, major nor a version X.Y.Z: {e}")
                })?,
            ),
        })
    }

    /// The version after `current`. Bumps drop any pre-release or build suffix.
    pub(crate) fn apply(&self, current: &semver::Version) -> semver::Version {
        let (major, minor, patch) = (current.major, current.minor, current.patch);
        match self {
            Bump::Patch if current.pre.is_empty() => semver::Version::new(major, minor, patch + 1),
            // 1.0.0-rc.1 + patch = 1.0.0: the pre-release was for this version.
            Bump::Patch => semver::Version::new(major, minor, patch),
            Bump::Minor => semver::Version::new(major, minor + 1, 0),
            Bump::Major => semver::Version::new(major + 1, 0, 0),
            Bump::Exact(version) => version.clone(),
        }
    }
}

/// What `cargo xtask release` was asked to do.
pub(crate) struct Options<'a> {
    pub(crate) bump: Bump,
    /// Edit, commit and tag for real; otherwise a dry run that leaves the tree untouched.
    pub(crate) execute: bool,
    /// After tagging, publish (needs `--execute` and the registry's token).
    pub(crate) publish: bool,
    /// The registry `--publish` publishes to: crates.io when `None`.
    pub(crate) registry: Option<String>,
    /// Called after each upload (the rehearsal's fault injection); `None` for a real release.
    pub(crate) after_upload: Option<AfterUpload<'a>>,
    /// Run the packaging check (xtask's tests turn it off; a real release never should).
    pub(crate) package: bool,
}

pub(crate) fn run(root: &Path, options: Options<'_>) -> Result<()> {
    if options.publish && !options.execute {
        bail!("--publish needs --execute: crates are published from the tagged release commit");
    }
    if options.registry.is_some() && !options.publish {
        bail!("--registry names where --publish publishes; add --execute --publish");
    }
    let registry = Registry::from_option(options.registry.as_deref())?;
    if options.publish {
        registry.require_token()?;
    }
    let dirty = git::dirty_paths(root)?;
    if !dirty.is_empty() {
        bail!(
            "the working tree is not clean; commit or remove these first:\n  {}",
            dirty.join("\n  ")
        );
    }
    match git::current_branch(root)? {
        Some(branch) if branch == RELEASE_BRANCH => {}
        Some(branch) => bail!(
            "releases are made from `{RELEASE_BRANCH}`, but the checked-out branch is `{branch}`"
        ),
        None => bail!("releases are made from `{RELEASE_BRANCH}`, but HEAD is detached"),
    }

    let ws = Workspace::load(root)?;
    let off = ws.members_off_the_shared_version()?;
    if !off.is_empty() {
        bail!(
            "every publishable crate takes `version.workspace = true` ({}); these do not: {}",
            ws.version,
            off.join(", ")
        );
    }
    let old = ws.version.clone();
    let new = options.bump.apply(&old);
    if new <= old {
        bail!("the new version {new} must be higher than the current {old}");
    }
    let tag = format!("v{new}");
    if git::tag_exists(root, &tag) {
        bail!(
            "the tag {tag} already exists: {new} was released; to publish what is missing of it, \
             check it out and run `{}`",
            publish::finishing_command(&registry)
        );
    }

    let changelog_path = ws.root.join("CHANGELOG.md");
    let changelog_text = fs::read_to_string(&changelog_path)
        .map_err(|e| format!("cannot read {}: {e}", changelog_path.display()))?;
    let notes = changelog::unreleased_notes(&changelog_text)?;
    if changelog::is_empty(&notes) {
        bail!(
            "CHANGELOG.md's `## Unreleased` section is empty: write what {new} changes for its users \
             before releasing it"
        );
    }
    let date = changelog::today();
    let new_changelog = changelog::cut_release(&changelog_text, &new.to_string(), &date)?;

    let order = ws.publish_order()?;
    if options.publish {
        let taken: Vec<&str> = order
            .iter()
            .map(|m| Ok((m.name.as_str(), registry.checksums(&m.name, &new)?)))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .filter(|(_, checksums)| !checksums.is_empty())
            .map(|(name, _)| name)
            .collect();
        if !taken.is_empty() {
            bail!(
                "{} already has {new} of {}: a published version cannot be replaced, and these \
                 were not published from the commit this release would make; nothing was changed, \
                 release another version",
                registry.label(),
                taken.join(", ")
            );
        }
    }
    let last = git::last_release_tag(root)?;
    let changed_crates = match &last {
        Some((tag, _)) => Some(changed_members(&ws, tag)?),
        None => None,
    };
    let edits = workspace::bump_manifests(&ws, &new)?;

    // The plan, before anything happens.
    let mode = if options.execute {
        "executing"
    } else {
        "dry run: add --execute to make it"
    };
    println!("Release {old} → {new} ({mode})");
    match &last {
        Some((tag, _)) => println!("Last release: {tag}"),
        None => {
            println!("Last release: none (no vX.Y.Z tag reachable from HEAD): every crate is new")
        }
    }
    println!("\nCrates, in publishing order (each after the crates it depends on):");
    let width = order.iter().map(|m| m.name.len()).max().unwrap_or(0);
    for (index, member) in order.iter().enumerate() {
        let status = match (&changed_crates, &last) {
            (Some(changed), Some((tag, _))) if changed.contains(&member.name) => {
                format!("changed since {tag}")
            }
            (Some(_), Some((tag, _))) => {
                format!("unchanged since {tag} (released for the shared version)")
            }
            _ => "first release".to_owned(),
        };
        println!(
            "  {}. {:<width$}  {} → {new}  {status}",
            index + 1,
            member.name,
            member.version
        );
    }
    let unpublished = ws.unpublished();
    if !unpublished.is_empty() {
        println!(
            "Not published (publish = false): {}",
            unpublished.join(", ")
        );
    }
    println!("\nEdits:");
    for edit in &edits {
        for change in &edit.changes {
            println!("  {}: {change}", edit.path);
        }
    }
    println!("  Cargo.lock: the workspace crates move to {new}");
    println!(
        "  CHANGELOG.md: `## Unreleased` ({} line{}) → `## {new} — {date}`; a fresh `## Unreleased` above it",
        notes.lines().count(),
        if notes.lines().count() == 1 { "" } else { "s" }
    );
    println!("\nThen:");
    if options.package {
        println!("  packaging check of every crate above, bottom-up, against {new}");
    } else {
        println!("  (no packaging check: --no-package)");
    }
    println!("  commit \"Release {new}\" and tag {tag}");
    if options.publish {
        println!(
            "  cargo publish each crate above, in order, to {}",
            registry.label()
        );
    }
    println!();

    let mut files: Vec<String> = edits.iter().map(|e| e.path.clone()).collect();
    files.push("CHANGELOG.md".to_owned());
    if ws.root.join("Cargo.lock").exists() {
        files.push("Cargo.lock".to_owned());
    }

    if !options.execute {
        if options.package {
            dry_run_check(&ws, &edits, &new_changelog)?;
        }
        println!("Dry run done: nothing was changed. Run again with --execute to release {new}.");
        return Ok(());
    }

    let applied = apply(&ws.root, &edits, &new_changelog).and_then(|()| {
        if options.package {
            check_packages(&ws.root)
        } else {
            Ok(())
        }
    });
    if let Err(error) = applied {
        git::restore(&ws.root, &files)?;
        bail!("{error}\nthe release was abandoned and the edited files restored");
    }
    let message = format!("Release {new}");
    git::commit(&ws.root, &files, &message)?;
    git::tag(&ws.root, &tag, &message)?;
    println!("Committed \"{message}\" and tagged {tag}.");

    if !options.publish {
        println!(
            "Not published. Next: `git push origin {RELEASE_BRANCH} {tag}`, then `{}` (it \
             publishes the crates above in this order, and can be rerun until all are out).",
            publish::finishing_command(&registry)
        );
        return Ok(());
    }
    // The packaging check just built every package of this very tree (the commit only records
    // it), so the uploads skip cargo's second verification; without the check, cargo verifies.
    let ws = Workspace::load(root)?;
    if let Err(error) = publish::publish(&ws, &registry, !options.package, options.after_upload) {
        bail!("{error}\n{tag} is committed and tagged, and only partly published");
    }
    println!("Push: `git push origin {RELEASE_BRANCH} {tag}`.");
    Ok(())
}

/// Names of the members with files changed since `base`.
pub(crate) fn changed_members(ws: &Workspace, base: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> = git::changed_files(&ws.root, base)?
        .iter()
        .filter_map(|path| ws.owner_of(path))
        .map(|m| m.name.clone())
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// Writes the bumped manifests and changelog under `root`, then brings Cargo.lock along.
fn apply(root: &Path, edits: &[workspace::ManifestEdit], new_changelog: &str) -> Result<()> {
    for edit in edits {
        let path = root.join(&edit.path);
        fs::write(&path, &edit.new_text)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let path = root.join("CHANGELOG.md");
    fs::write(&path, new_changelog).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    // Only the workspace's own entries move; every other locked version stays as it is.
    exec::read(exec::cargo(root).args(["update", "--workspace", "--quiet"]))?;
    Ok(())
}

fn check_packages(root: &Path) -> Result<()> {
    let ws = Workspace::load(root)?;
    ci::forget_earlier_packages(&ws, None)?;
    let mut command = ci::package_command(&ws, true);
    println!("==> packaging check: {}", exec::show(&command));
    exec::run(&mut command)
}

/// Applies the edits to a scratch worktree of HEAD and runs the packaging check there, so a dry
/// run checks exactly what `--execute` would package while the real tree stays untouched.
fn dry_run_check(
    ws: &Workspace,
    edits: &[workspace::ManifestEdit],
    new_changelog: &str,
) -> Result<()> {
    let scratch: PathBuf =
        std::env::temp_dir().join(format!("xtask-release-dry-run-{}", std::process::id()));
    git::add_worktree(&ws.root, &scratch)?;
    let result = apply(&scratch, edits, new_changelog).and_then(|()| {
        let scratch_ws = Workspace::load(&scratch)?;
        // Reuse the real tree's builds rather than compile everything again.
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .is_none()
            .then(|| ws.root.join("target"));
        ci::forget_earlier_packages(&scratch_ws, target.as_deref())?;
        let mut command = ci::package_command(&scratch_ws, true);
        if let Some(target) = &target {
            command.env("CARGO_TARGET_DIR", target);
        }
        println!(
            "==> packaging check (scratch worktree): {}",
            exec::show(&command)
        );
        exec::run(&mut command)
    });
    let removed = git::remove_worktree(&ws.root, &scratch);
    result?;
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> semver::Version {
        semver::Version::parse(text).unwrap()
    }

    #[test]
    fn bumps() {
        assert_eq!(Bump::Patch.apply(&v("0.1.0")), v("0.1.1"));
        assert_eq!(Bump::Minor.apply(&v("0.1.7")), v("0.2.0"));
        assert_eq!(Bump::Major.apply(&v("0.9.3")), v("1.0.0"));
        assert_eq!(Bump::Patch.apply(&v("1.0.0-rc.1")), v("1.0.0"));
        assert_eq!(
            Bump::parse("v2.3.4").unwrap().apply(&v("1.0.0")),
            v("2.3.4")
        );
        assert!(Bump::parse("mayor").is_err());
    }
}
