//! `cargo xtask bump-check` against a fixture workspace in a temporary git repository.

mod fixture;

use fixture::{CHANGELOG, Fixture, ROOT_MANIFEST};

/// Released as v0.3.1, then the core's source changed (committed).
fn core_changed_since_tag() -> Fixture {
    let f = Fixture::new();
    f.git(&["tag", "v0.3.1"]);
    f.write(
        "crates/fix-core/src/lib.rs",
        "//! Fixture core.\n\n/// The answer, now documented.\npub fn answer() -> u32 {\n    42\n}\n",
    );
    f.commit_all("Core change");
    f
}

#[test]
fn passes_without_any_release_tag_and_says_why() {
    let f = Fixture::new();
    let run = f.xtask(&["bump-check"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("nothing has been released yet"),
        "{}",
        run.stdout
    );
}

#[test]
fn fails_when_a_published_crate_changed_with_the_same_version_and_no_notes() {
    let f = core_changed_since_tag();
    let run = f.xtask(&["bump-check"]);
    run.assert_refused("bump-check FAILED")
        .assert_refused("`## Unreleased` section is empty");
    assert!(
        run.stdout
            .contains("fix-core: 1 file changed since v0.3.1 (crates/fix-core/src/lib.rs); version still 0.3.1"),
        "{}",
        run.stdout
    );
    // Uncommitted work counts too.
    let f = Fixture::new();
    f.git(&["tag", "v0.3.1"]);
    f.write("crates/fix/src/extra.rs", "");
    f.git(&["add", "crates/fix/src/extra.rs"]);
    f.xtask(&["bump-check"]).assert_refused("bump-check FAILED");
}

#[test]
fn passes_when_unreleased_has_notes() {
    let f = core_changed_since_tag();
    f.write(
        "CHANGELOG.md",
        &CHANGELOG.replace(
            "## Unreleased\n",
            "## Unreleased\n\n- Documented the answer.\n",
        ),
    );
    let run = f.xtask(&["bump-check"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("Unreleased` notes cover these changes"),
        "{}",
        run.stdout
    );
}

#[test]
fn passes_when_the_version_moved() {
    let f = core_changed_since_tag();
    f.write(
        "Cargo.toml",
        &ROOT_MANIFEST.replace("version = \"0.3.1\" #", "version = \"0.3.2\" #"),
    );
    let run = f.xtask(&["bump-check"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("version 0.3.1 → 0.3.2"),
        "{}",
        run.stdout
    );
}

#[test]
fn changes_outside_published_crates_pass() {
    let f = Fixture::new();
    f.git(&["tag", "v0.3.1"]);
    f.write("tests/src/lib.rs", "//! Fixture tests, more of them.\n");
    f.write("README.md", "# Fixture\n");
    f.commit_all("Tests and readme");
    let run = f.xtask(&["bump-check"]);
    run.assert_ok();
    assert!(
        run.stdout
            .contains("every changed publishable crate has a new version")
    );
}

#[test]
fn an_explicit_base_is_used_and_checked() {
    let f = core_changed_since_tag();
    // Against HEAD nothing changed.
    f.xtask(&["bump-check", "HEAD"]).assert_ok();
    // Against the commit before the change, the core changed.
    f.xtask(&["bump-check", "HEAD~1"])
        .assert_refused("bump-check FAILED");
    f.xtask(&["bump-check", "no-such-rev"])
        .assert_refused("`no-such-rev` is not a commit");
}
