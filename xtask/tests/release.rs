//! `cargo xtask release` against a fixture workspace in a temporary git repository. Nothing here
//! touches the network: cargo runs offline and `--publish` is only ever refused.

mod fixture;

use fixture::{
    CHANGELOG, CORE_MANIFEST, FACADE_MANIFEST, Fixture, ROOT_MANIFEST, TESTKIT_MANIFEST,
    TRANSPORT_MANIFEST, position,
};

const NOTES: &str = "### Fixed\n- The transport retries once more.";

/// The fixture released as v0.3.1, then one change to the transport with a changelog note.
fn released_then_changed() -> Fixture {
    let f = Fixture::new();
    f.git(&["tag", "v0.3.1"]);
    f.write(
        "crates/fix-transport/src/lib.rs",
        "//! Fixture transport, changed.\n\n/// The core's answer.\npub fn send() -> u32 {\n    fix_core::answer()\n}\n",
    );
    f.write(
        "CHANGELOG.md",
        &CHANGELOG.replace("## Unreleased\n", &format!("## Unreleased\n\n{NOTES}\n")),
    );
    f.commit_all("Transport change");
    f
}

#[test]
fn dry_run_prints_the_plan_in_dependency_order_and_changes_nothing() {
    let f = released_then_changed();
    let head = f.head();
    let run = f.xtask(&["release", "minor", "--no-package"]);
    run.assert_ok();
    let out = &run.stdout;
    assert!(out.contains("Release 0.3.1 → 0.4.0 (dry run"), "{out}");
    assert!(out.contains("Last release: v0.3.1"), "{out}");
    // Dependency order, not alphabetical order.
    let core = position(out, "1. fix-core ");
    let transport = position(out, "2. fix-transport ");
    let facade = position(out, "3. fix ");
    assert!(core < transport && transport < facade, "{out}");
    let line = |name: &str| out.lines().find(|l| l.contains(name)).unwrap().to_owned();
    assert!(line("2. fix-transport").contains("0.3.1 → 0.4.0  changed since v0.3.1"));
    assert!(line("1. fix-core").contains("unchanged since v0.3.1"));
    assert!(
        out.contains("Not published (publish = false): fix-testkit"),
        "{out}"
    );
    assert!(
        out.contains("Cargo.toml: [workspace.package] version: 0.3.1 → 0.4.0"),
        "{out}"
    );
    assert!(
        out.contains("crates/fix/Cargo.toml: [dependencies] fixcore: =0.3.1 → =0.4.0"),
        "{out}"
    );
    assert!(out.contains("Dry run done: nothing was changed"), "{out}");
    assert_eq!(f.head(), head);
    assert_eq!(f.status(), "");
    assert_eq!(f.git(&["tag", "--list"]), "v0.3.1");
    assert_eq!(f.read("Cargo.toml"), ROOT_MANIFEST);
}

#[test]
fn execute_bumps_every_version_exactly_moves_the_changelog_commits_and_tags() {
    let f = released_then_changed();
    let run = f.xtask(&["release", "minor", "--execute", "--no-package"]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("Committed \"Release 0.4.0\" and tagged v0.4.0.")
    );
    assert!(run.stdout.contains("Not published."), "{}", run.stdout);

    // Manifests: exactly the versions moved, comments and layout kept.
    assert_eq!(
        f.read("Cargo.toml"),
        ROOT_MANIFEST.replace("0.3.1", "0.4.0")
    );
    assert_eq!(f.read("crates/fix-core/Cargo.toml"), CORE_MANIFEST);
    assert_eq!(
        f.read("crates/fix-transport/Cargo.toml"),
        TRANSPORT_MANIFEST.replace("0.3.1", "0.4.0")
    );
    assert_eq!(
        f.read("crates/fix/Cargo.toml"),
        FACADE_MANIFEST.replace("=0.3.1", "=0.4.0")
    );
    assert_eq!(f.read("tests/Cargo.toml"), TESTKIT_MANIFEST);
    let lock = f.read("Cargo.lock");
    for name in ["fix", "fix-core", "fix-transport"] {
        assert!(
            lock.contains(&format!("name = \"{name}\"\nversion = \"0.4.0\"")),
            "{name} not at 0.4.0 in Cargo.lock:\n{lock}"
        );
    }

    // CHANGELOG: the notes under the new heading, a fresh empty Unreleased above.
    let changelog = f.read("CHANGELOG.md");
    let at = position(&changelog, "## 0.4.0 — ") + "## 0.4.0 — ".len();
    let date = &changelog[at..at + 10];
    assert!(
        date.chars().enumerate().all(|(i, c)| if i == 4 || i == 7 {
            c == '-'
        } else {
            c.is_ascii_digit()
        }),
        "not a date: {date}"
    );
    assert_eq!(
        changelog,
        format!(
            "# Changelog\n\n## Unreleased\n\n## 0.4.0 — {date}\n\n{NOTES}\n\n## 0.3.1 — 2026-10-01\n\n- Fixed the fixture.\n"
        )
    );

    // One commit with exactly the release files; the tag on it; a clean tree.
    assert_eq!(f.git(&["log", "-1", "--format=%s"]), "Release 0.4.0");
    let files = f.git(&["show", "--name-only", "--format=", "HEAD"]);
    let mut files: Vec<&str> = files.lines().collect();
    files.sort();
    assert_eq!(
        files,
        [
            "CHANGELOG.md",
            "Cargo.lock",
            "Cargo.toml",
            "crates/fix-transport/Cargo.toml",
            "crates/fix/Cargo.toml"
        ]
    );
    assert_eq!(f.git(&["rev-parse", "v0.4.0^{commit}"]), f.head());
    assert_eq!(
        f.git(&["cat-file", "-t", "v0.4.0"]),
        "tag",
        "an annotated tag"
    );
    assert_eq!(f.status(), "");

    // The same bump again is refused: the tag exists and 0.4.0 is no longer higher.
    f.xtask(&["release", "0.4.0", "--execute", "--no-package"])
        .assert_refused("must be higher than the current 0.4.0");
}

#[test]
fn a_dirty_tree_is_refused() {
    let f = released_then_changed();
    f.write("notes.txt", "scratch\n");
    f.xtask(&["release", "patch", "--no-package"])
        .assert_refused("the working tree is not clean")
        .assert_refused("?? notes.txt");
    f.write(
        "crates/fix-core/src/lib.rs",
        "//! Edited but not committed.\n",
    );
    f.xtask(&["release", "patch", "--execute", "--no-package"])
        .assert_refused(" M crates/fix-core/src/lib.rs");
    assert_eq!(f.git(&["tag", "--list"]), "v0.3.1");
}

#[test]
fn a_branch_other_than_main_is_refused() {
    let f = released_then_changed();
    f.git(&["switch", "--quiet", "--create", "feature"]);
    f.xtask(&["release", "patch", "--execute", "--no-package"])
        .assert_refused("releases are made from `main`, but the checked-out branch is `feature`");
    f.git(&["switch", "--quiet", "--detach", "HEAD"]);
    f.xtask(&["release", "patch", "--no-package"])
        .assert_refused("HEAD is detached");
    assert_eq!(f.git(&["tag", "--list"]), "v0.3.1");
    assert_eq!(f.read("Cargo.toml"), ROOT_MANIFEST);
}

#[test]
fn an_empty_unreleased_section_is_refused() {
    let f = Fixture::new();
    f.write(
        "CHANGELOG.md",
        &CHANGELOG.replace(
            "## Unreleased\n",
            "## Unreleased\n\n### Added\n\n### Fixed\n",
        ),
    );
    f.commit_all("Empty headings only");
    f.xtask(&["release", "patch", "--execute", "--no-package"])
        .assert_refused("`## Unreleased` section is empty");
    assert_eq!(f.git(&["log", "-1", "--format=%s"]), "Empty headings only");
}

#[test]
fn publishing_is_refused_without_execute_or_token_and_nothing_changes() {
    let f = released_then_changed();
    let head = f.head();
    f.xtask(&["release", "patch", "--publish", "--no-package"])
        .assert_refused("--publish needs --execute");
    f.xtask(&["release", "patch", "--execute", "--publish", "--no-package"])
        .assert_refused("publishing to crates.io needs a token in CARGO_REGISTRY_TOKEN");
    assert_eq!(f.head(), head);
    assert_eq!(f.status(), "");
    assert_eq!(f.git(&["tag", "--list"]), "v0.3.1");
}

#[test]
fn the_first_release_calls_every_crate_new() {
    let f = Fixture::new();
    f.write(
        "CHANGELOG.md",
        &CHANGELOG.replace("## Unreleased\n", "## Unreleased\n\n- First.\n"),
    );
    f.commit_all("Notes");
    let run = f.xtask(&["release", "1.0.0", "--no-package"]);
    run.assert_ok();
    assert!(run.stdout.contains("Last release: none"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("1. fix-core       0.3.1 → 1.0.0  first release"),
        "{}",
        run.stdout
    );
}

/// The packaging check for real (offline: the fixture has no external dependencies): a dry run
/// packages the bumped crates in a scratch worktree and leaves no trace.
#[test]
fn dry_run_packages_the_bumped_crates_in_a_scratch_worktree() {
    let f = released_then_changed();
    let run = f.xtask(&["release", "patch"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("packaging check (scratch worktree)"),
        "{}",
        run.stdout
    );
    for name in ["fix-core", "fix-transport", "fix"] {
        assert!(
            run.stderr.contains(&format!("Packaging {name} v0.3.2")),
            "{name} not packaged at 0.3.2:\n{}",
            run.stderr
        );
    }
    assert!(
        !run.stderr.contains("Packaging fix-testkit"),
        "{}",
        run.stderr
    );
    assert_eq!(f.status(), "");
    assert_eq!(
        f.git(&["worktree", "list"]).lines().count(),
        1,
        "scratch worktree left behind"
    );
    assert_eq!(f.read("Cargo.toml"), ROOT_MANIFEST);
}

/// A release whose packaging check fails (the facade does not compile) is abandoned: the edited
/// files are restored, and there is no commit and no tag.
#[test]
fn a_failed_packaging_check_abandons_the_release() {
    let f = released_then_changed();
    f.write(
        "crates/fix/src/lib.rs",
        "//! Broken facade.\n\n/// Not a number.\npub fn both() -> u32 {\n    \"forty-two\"\n}\n",
    );
    f.commit_all("Break the facade");
    let head = f.head();
    f.xtask(&["release", "patch", "--execute"])
        .assert_refused("the release was abandoned and the edited files restored");
    assert_eq!(f.head(), head);
    assert_eq!(f.status(), "");
    assert_eq!(f.git(&["tag", "--list"]), "v0.3.1");
}
