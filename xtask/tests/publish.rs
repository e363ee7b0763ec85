//! `cargo xtask publish` and `release --publish --registry` against the fixture workspace and a
//! registry index made by hand (a local git repository, as cargo-http-registry keeps one). No
//! registry server runs here: every case must stop before an upload, or fail at the upload and say
//! how to finish. `cargo xtask rehearse` (a ci step) is the end-to-end proof with a real registry.

mod fixture;

use std::path::PathBuf;
use std::process::Command;

use fixture::{CHANGELOG, Fixture};
use sha2::{Digest, Sha256};

/// A registry index in a git repository: `config.json` names an API nobody listens on.
struct Index {
    dir: PathBuf,
}

impl Index {
    fn new(f: &Fixture) -> Index {
        let dir = f.root.parent().unwrap().join("index");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.json"),
            "{\"dl\":\"http://127.0.0.1:9/api/v1/crates/{crate}/{version}/download\",\
             \"api\":\"http://127.0.0.1:9\"}\n",
        )
        .unwrap();
        let index = Index { dir };
        index.git(&["init", "--quiet"]);
        index.commit("config");
        index
    }

    fn git(&self, args: &[&str]) {
        let output = Command::new("git")
            .current_dir(&self.dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@t.invalid"])
            .args(["-c", "commit.gpgSign=false"])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn commit(&self, message: &str) {
        self.git(&["add", "--all"]);
        self.git(&["commit", "--quiet", "--allow-empty", "-m", message]);
    }

    /// Lists `name` at `version` with `cksum`, committed.
    fn add(&self, name: &str, version: &str, cksum: &str) {
        let path = self
            .dir
            .join(format!("{}/{}/{name}", &name[..2], &name[2..4]));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let line = format!(
            "{{\"name\":\"{name}\",\"vers\":\"{version}\",\"deps\":[],\"cksum\":\"{cksum}\",\
             \"features\":{{}},\"yanked\":false}}\n"
        );
        let mut text = std::fs::read_to_string(&path).unwrap_or_default();
        text.push_str(&line);
        std::fs::write(&path, text).unwrap();
        self.commit(&format!("Add {name} {version}"));
    }

    fn head(&self) -> String {
        let output = Command::new("git")
            .current_dir(&self.dir)
            .args(["rev-parse", "HEAD"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// The registry's variables, and a cargo home of the test's own: cargo keeps a copy of every
    /// index it reads there, one per URL, and each test's index has a new one.
    fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "CARGO_REGISTRIES_LOCAL_INDEX".to_owned(),
                format!("file://{}", self.dir.display()),
            ),
            ("CARGO_REGISTRIES_LOCAL_TOKEN".to_owned(), "t".to_owned()),
            (
                "CARGO_HOME".to_owned(),
                self.dir.with_file_name("cargo-home").display().to_string(),
            ),
        ]
    }
}

fn run(f: &Fixture, args: &[&str], index: &Index) -> fixture::Run {
    let env = index.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    f.xtask_with(args, &env)
}

/// The fixture released as v0.3.1 (tagged, as `release --execute` leaves it).
fn tagged() -> Fixture {
    let f = Fixture::new();
    f.git(&["tag", "--annotate", "v0.3.1", "-m", "Release 0.3.1"]);
    f
}

/// The SHA-256 of `name`'s package at 0.3.1, packaged as `publish` packages it.
fn packaged_checksum(f: &Fixture, name: &str) -> String {
    f.cargo(&["package", "--quiet", "--no-verify", "--package", name]);
    let file = f
        .root
        .parent()
        .unwrap()
        .join("target/package")
        .join(format!("{name}-0.3.1.crate"));
    let bytes = std::fs::read(&file).unwrap();
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn a_crate_published_with_other_contents_is_refused_before_any_upload() {
    let f = tagged();
    let index = Index::new(&f);
    index.add("fix-core", "0.3.1", &"0".repeat(64));
    let before = index.head();
    run(&f, &["publish", "--registry", "local"], &index)
        .assert_refused("fix-core 0.3.1 is already on registry `local` with different contents")
        .assert_refused("nothing was uploaded");
    assert_eq!(index.head(), before);
    assert_eq!(f.status(), "");
}

#[test]
fn crates_already_published_are_skipped_and_a_failed_upload_says_how_to_finish() {
    let f = tagged();
    let index = Index::new(&f);
    index.add("fix-core", "0.3.1", &packaged_checksum(&f, "fix-core"));
    let run = run(&f, &["publish", "--registry", "local"], &index);
    assert!(
        run.stdout
            .contains("fix-core             already published, same contents"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("fix-transport        missing"),
        "{}",
        run.stdout
    );
    // Nobody listens at the registry's API: the first upload fails, and the message lists what
    // is left, in order, and the command that finishes it.
    run.assert_refused("still to publish, in this order: fix-transport, fix\n")
        .assert_refused("finish the release with `cargo xtask publish --registry local`");
    // The patches cargo writes into Cargo.lock are undone: the tree is clean for the rerun.
    assert_eq!(f.status(), "");
}

#[test]
fn publish_needs_a_clean_tree_at_the_release_tag() {
    let f = Fixture::new();
    let index = Index::new(&f);
    run(&f, &["publish", "--registry", "local"], &index).assert_refused("there is no tag v0.3.1");
    f.git(&["tag", "v0.3.1"]);
    f.write("notes.txt", "scratch\n");
    run(&f, &["publish", "--registry", "local"], &index)
        .assert_refused("the working tree is not clean")
        .assert_refused("?? notes.txt");
    std::fs::remove_file(f.path("notes.txt")).unwrap();
    f.write(
        "CHANGELOG.md",
        &CHANGELOG.replace("## Unreleased\n", "## Unreleased\n\n- x\n"),
    );
    f.commit_all("After the release");
    run(&f, &["publish", "--registry", "local"], &index)
        .assert_refused("HEAD is not the release commit v0.3.1");
}

#[test]
fn a_registry_needs_its_index_and_token() {
    let f = tagged();
    f.xtask(&["publish", "--registry", "local"]).assert_refused(
        "--registry local needs the registry's index URL in CARGO_REGISTRIES_LOCAL_INDEX",
    );
    let index = Index::new(&f);
    let env = index.env();
    f.xtask_with(
        &["publish", "--registry", "local"],
        &[(env[0].0.as_str(), env[0].1.as_str())],
    )
    .assert_refused("publishing to registry `local` needs a token in CARGO_REGISTRIES_LOCAL_TOKEN");
}

fn with_notes() -> Fixture {
    let f = tagged();
    f.write(
        "CHANGELOG.md",
        &CHANGELOG.replace("## Unreleased\n", "## Unreleased\n\n- A fix.\n"),
    );
    f.commit_all("Notes");
    f
}

#[test]
fn a_release_whose_version_the_registry_has_is_refused_before_anything_changes() {
    let f = with_notes();
    let index = Index::new(&f);
    index.add("fix-transport", "0.3.2", "abc");
    let head = f.head();
    run(
        &f,
        &[
            "release",
            "patch",
            "--execute",
            "--publish",
            "--registry",
            "local",
            "--no-package",
        ],
        &index,
    )
    .assert_refused("registry `local` already has 0.3.2 of fix-transport")
    .assert_refused("nothing was changed");
    assert_eq!(f.head(), head);
    assert_eq!(f.status(), "");
    assert_eq!(f.git(&["tag", "--list"]), "v0.3.1");
}

#[test]
fn a_release_whose_tag_exists_is_refused_and_names_the_finishing_command() {
    let f = with_notes();
    let index = Index::new(&f);
    f.git(&["tag", "v0.3.2"]);
    let head = f.head();
    run(
        &f,
        &[
            "release",
            "patch",
            "--execute",
            "--publish",
            "--registry",
            "local",
            "--no-package",
        ],
        &index,
    )
    .assert_refused("the tag v0.3.2 already exists")
    .assert_refused("`cargo xtask publish --registry local`");
    assert_eq!(f.head(), head);
    assert_eq!(f.status(), "");
}

#[test]
fn a_registry_without_publish_is_refused() {
    let f = with_notes();
    let index = Index::new(&f);
    run(
        &f,
        &[
            "release",
            "patch",
            "--execute",
            "--registry",
            "local",
            "--no-package",
        ],
        &index,
    )
    .assert_refused("--registry names where --publish publishes");
    assert_eq!(f.git(&["tag", "--list"]), "v0.3.1");
}

#[test]
fn a_half_published_release_is_tagged_and_says_how_to_finish() {
    let f = with_notes();
    let index = Index::new(&f);
    let run = run(
        &f,
        &[
            "release",
            "patch",
            "--execute",
            "--publish",
            "--registry",
            "local",
            "--no-package",
        ],
        &index,
    );
    run.assert_refused("still to publish, in this order: fix-core, fix-transport, fix\n")
        .assert_refused("finish the release with `cargo xtask publish --registry local`")
        .assert_refused("v0.3.2 is committed and tagged, and only partly published");
    assert_eq!(f.git(&["log", "-1", "--format=%s"]), "Release 0.3.2");
    assert_eq!(f.status(), "");
}
