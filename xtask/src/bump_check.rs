//! `cargo xtask bump-check [<base>]`: a change to a published crate must be announced.
//!
//! It fails when a publishable crate has changed files since `<base>` while its version is still
//! `<base>`'s (or the crate did not exist at `<base>`) and CHANGELOG.md's `## Unreleased` section
//! says nothing. Either note closes the gap: a line under `## Unreleased` (the usual way: the
//! release command bumps versions), or a version that already moved on.
//!
//! Without a `<base>` it compares with the last `vX.Y.Z` tag reachable from HEAD. With no such tag
//! nothing has been released, so there is no published version to protect: it passes and says so.

use std::path::Path;

use crate::workspace::{Workspace, parse_manifest, shared_version_of};
use crate::{Result, bail, changelog, git};

pub(crate) fn run(root: &Path, base: Option<&str>) -> Result<()> {
    let base = match base {
        Some(base) => base.to_owned(),
        None => match git::last_release_tag(root)? {
            Some((tag, _)) => tag,
            None => {
                println!(
                    "bump-check: ok: no vX.Y.Z tag is reachable from HEAD, so nothing has been \
                     released yet and there is no published version to compare with"
                );
                return Ok(());
            }
        },
    };
    if !git::is_commit(root, &base) {
        bail!("bump-check: `{base}` is not a commit, branch or tag of this repository");
    }
    let ws = Workspace::load(root)?;
    let changed = git::changed_files(root, &base)?;
    let changelog_path = ws.root.join("CHANGELOG.md");
    let changelog_text = std::fs::read_to_string(&changelog_path)
        .map_err(|e| format!("cannot read {}: {e}", changelog_path.display()))?;
    let notes_empty = changelog::is_empty(&changelog::unreleased_notes(&changelog_text)?);

    let mut unannounced = Vec::new();
    let mut announced = Vec::new();
    for member in ws.members.iter().filter(|m| m.publishable) {
        let files: Vec<&String> = changed
            .iter()
            .filter(|path| ws.owner_of(path).is_some_and(|o| o.name == member.name))
            .collect();
        if files.is_empty() {
            continue;
        }
        let base_version = version_at(root, &base, &member.dir)?;
        let summary = format!(
            "{}: {} file{} changed since {base} ({}{})",
            member.name,
            files.len(),
            if files.len() == 1 { "" } else { "s" },
            files
                .iter()
                .take(3)
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if files.len() > 3 { ", ..." } else { "" },
        );
        match base_version {
            Some(version) if version != member.version => {
                announced.push(format!("{summary}; version {version} → {}", member.version));
            }
            Some(_) => unannounced.push(format!("{summary}; version still {}", member.version)),
            None => unannounced.push(format!("{summary}; new since {base}")),
        }
    }

    for line in &announced {
        println!("bump-check: {line}");
    }
    if unannounced.is_empty() {
        println!("bump-check: ok: every changed publishable crate has a new version");
        return Ok(());
    }
    for line in &unannounced {
        println!("bump-check: {line}");
    }
    if notes_empty {
        bail!(
            "bump-check FAILED: the crates above changed since {base} without a new version, and \
             CHANGELOG.md's `## Unreleased` section is empty: say what changed for users there"
        );
    }
    println!(
        "bump-check: ok: CHANGELOG.md's `## Unreleased` notes cover these changes for the next release"
    );
    Ok(())
}

/// The version a member had at `rev`: its own `version`, or the workspace's when it inherits it;
/// `None` when it did not exist there.
fn version_at(root: &Path, rev: &str, dir: &str) -> Result<Option<semver::Version>> {
    let path = if dir.is_empty() {
        "Cargo.toml".to_owned()
    } else {
        format!("{dir}/Cargo.toml")
    };
    let Some(text) = git::show(root, rev, &path)? else {
        return Ok(None);
    };
    let manifest = parse_manifest(&text, Path::new(&path))?;
    let version = manifest.get("package").and_then(|p| p.get("version"));
    let text = match version {
        Some(v) if v.as_str().is_some() => v.as_str().map(str::to_owned),
        Some(v) if v.get("workspace").and_then(|w| w.as_bool()) == Some(true) => {
            let root_text = git::show(root, rev, "Cargo.toml")?
                .ok_or_else(|| format!("{rev} has no root Cargo.toml"))?;
            let root_manifest = parse_manifest(&root_text, Path::new("Cargo.toml"))?;
            shared_version_of(&root_manifest).map(str::to_owned)
        }
        // No version at all means 0.0.0 to cargo.
        _ => Some("0.0.0".to_owned()),
    };
    let Some(text) = text else {
        bail!("{path} at {rev} inherits a version the root manifest does not set");
    };
    semver::Version::parse(&text)
        .map(Some)
        .map_err(|e| format!("{path} at {rev} has version `{text}`, not semver: {e}").into())
}
