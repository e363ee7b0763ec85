//! The few git operations xtask needs, by running `git` in the workspace root.

use std::path::Path;
use std::process::Command;

use crate::{Result, bail, exec};

fn git(root: &Path) -> Command {
    let mut command = Command::new("git");
    command.current_dir(root);
    command
}

fn read(root: &Path, args: &[&str]) -> Result<String> {
    exec::read(git(root).args(args))
}

/// `git status --porcelain` lines: empty when the tree is clean (untracked files count as dirty).
pub(crate) fn dirty_paths(root: &Path) -> Result<Vec<String>> {
    Ok(read(root, &["status", "--porcelain"])?
        .lines()
        .map(str::to_owned)
        .collect())
}

/// The checked-out branch, or `None` on a detached HEAD.
pub(crate) fn current_branch(root: &Path) -> Result<Option<String>> {
    let name = read(root, &["rev-parse", "--abbrev-ref", "HEAD"])?;
    let name = name.trim();
    Ok((name != "HEAD").then(|| name.to_owned()))
}

/// Whether `rev` names a commit.
pub(crate) fn is_commit(root: &Path, rev: &str) -> bool {
    let spec = format!("{rev}^{{commit}}");
    exec::read(git(root).args(["rev-parse", "--verify", "--quiet", &spec])).is_ok()
}

/// The commit id `rev` names.
pub(crate) fn rev(root: &Path, rev: &str) -> Result<String> {
    Ok(read(root, &["rev-parse", "--verify", rev])?
        .trim()
        .to_owned())
}

/// Whether the tag `name` exists.
pub(crate) fn tag_exists(root: &Path, name: &str) -> bool {
    is_commit(root, &format!("refs/tags/{name}"))
}

/// The highest `vX.Y.Z` tag reachable from HEAD, with its version.
pub(crate) fn last_release_tag(root: &Path) -> Result<Option<(String, semver::Version)>> {
    let tags = read(root, &["tag", "--list", "v*", "--merged", "HEAD"])?;
    Ok(tags
        .lines()
        .filter_map(|tag| {
            let version = semver::Version::parse(tag.trim().strip_prefix('v')?).ok()?;
            Some((tag.trim().to_owned(), version))
        })
        .max_by(|a, b| a.1.cmp(&b.1)))
}

/// Paths (relative to the root, `/`-separated) of tracked files that differ between `base` and
/// the working tree.
pub(crate) fn changed_files(root: &Path, base: &str) -> Result<Vec<String>> {
    Ok(
        read(root, &["diff", "--name-only", "--no-renames", base, "--"])?
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

/// The contents of `path` at `rev`, or `None` when the file did not exist there.
pub(crate) fn show(root: &Path, rev: &str, path: &str) -> Result<Option<String>> {
    let spec = format!("{rev}:{path}");
    if exec::read(git(root).args(["cat-file", "-e", &spec])).is_err() {
        return Ok(None);
    }
    read(root, &["show", &spec]).map(Some)
}

/// Commits exactly `paths` with `message`.
pub(crate) fn commit(root: &Path, paths: &[String], message: &str) -> Result<()> {
    if paths.is_empty() {
        bail!("nothing to commit");
    }
    let mut add = git(root);
    add.args(["add", "--"]).args(paths);
    exec::read(&mut add)?;
    let mut commit = git(root);
    commit
        .args(["commit", "--quiet", "-m", message, "--"])
        .args(paths);
    exec::read(&mut commit).map(drop)
}

/// Creates the annotated tag `name` on HEAD.
pub(crate) fn tag(root: &Path, name: &str, message: &str) -> Result<()> {
    read(root, &["tag", "--annotate", name, "--message", message]).map(drop)
}

/// Puts `paths` back as they are in HEAD (used to undo a failed release on a tree that was clean).
pub(crate) fn restore(root: &Path, paths: &[String]) -> Result<()> {
    let mut command = git(root);
    command.args(["checkout", "HEAD", "--"]).args(paths);
    exec::read(&mut command).map(drop)
}

/// Adds a detached worktree of HEAD at `dir` (a scratch copy for dry runs).
pub(crate) fn add_worktree(root: &Path, dir: &Path) -> Result<()> {
    let mut command = git(root);
    command
        .args(["worktree", "add", "--detach", "--quiet"])
        .arg(dir)
        .arg("HEAD");
    exec::read(&mut command).map(drop)
}

/// Removes the worktree at `dir`, changes and all.
pub(crate) fn remove_worktree(root: &Path, dir: &Path) -> Result<()> {
    let mut command = git(root);
    command.args(["worktree", "remove", "--force"]).arg(dir);
    exec::read(&mut command).map(drop)
}
