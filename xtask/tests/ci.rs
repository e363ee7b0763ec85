//! `cargo xtask ci` against the fixture workspace: steps are named and timed, the packaging
//! step excludes the unpublished crates it finds, and the first failure stops the run.

mod fixture;

use fixture::{Fixture, position};

#[test]
fn the_package_step_packages_the_publishable_crates_only() {
    let f = Fixture::new();
    let run = f.xtask(&["ci", "--only", "package"]);
    run.assert_ok();
    assert!(
        run.stdout.contains(
            "==> ci [1/1] package: cargo package --workspace --allow-dirty --exclude fix-testkit"
        ),
        "{}",
        run.stdout
    );
    for name in ["fix-core", "fix-transport", "fix"] {
        assert!(
            run.stderr.contains(&format!("Packaging {name} v0.3.1")),
            "{}",
            run.stderr
        );
    }
    assert!(
        !run.stderr.contains("Packaging fix-testkit"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains("<== ci package: ok in "),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("==> ci ok: 1 step in "),
        "{}",
        run.stdout
    );
}

#[test]
fn the_first_failing_step_stops_the_run_with_a_clear_line() {
    let f = Fixture::new();
    f.write(
        "crates/fix-core/src/lib.rs",
        "//! Badly formatted.\npub fn   answer( )->u32{42}\n",
    );
    let run = f.xtask(&["ci", "--only", "fmt,package"]);
    run.assert_refused("ci failed at step `fmt`");
    let failed = position(&run.stdout, "==> ci FAILED at step `fmt` after ");
    assert!(position(&run.stdout, "==> ci [1/2] fmt: cargo fmt --all --check") < failed);
    assert!(
        !run.stdout.contains("[2/2] package"),
        "ran on after a failure:\n{}",
        run.stdout
    );
}

#[test]
fn unknown_steps_and_empty_selections_are_refused() {
    let f = Fixture::new();
    f.xtask(&["ci", "--only", "lint"])
        .assert_refused("unknown ci step `lint`");
    f.xtask(&["ci", "--only", "fmt", "--skip", "fmt"])
        .assert_refused("left no step to run");
}
