//! Tidy checks on the real workspace: invariants that keep every crate publishable and the release
//! command's assumptions true. They read files only; nothing is built.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
use toml_edit::{DocumentMut, Item};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn manifest(path: &Path) -> DocumentMut {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .parse()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A workspace package as `cargo metadata --no-deps` reports it.
struct Package {
    name: String,
    publishable: bool,
    manifest_path: PathBuf,
    /// lib and bin entry points.
    roots: Vec<PathBuf>,
}

fn packages() -> Vec<Package> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| Package {
            name: p["name"].as_str().unwrap().to_owned(),
            publishable: !matches!(&p["publish"], Value::Array(list) if list.is_empty()),
            manifest_path: PathBuf::from(p["manifest_path"].as_str().unwrap()),
            roots: p["targets"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| {
                    t["kind"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k == "lib" || k == "bin" || k == "proc-macro")
                })
                .map(|t| PathBuf::from(t["src_path"].as_str().unwrap()))
                .collect(),
        })
        .collect()
}

fn publishable() -> Vec<Package> {
    let all: Vec<Package> = packages().into_iter().filter(|p| p.publishable).collect();
    assert!(!all.is_empty(), "no publishable crate found");
    all
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn published_sources_have_no_todo_or_unimplemented() {
    let mut offenders = Vec::new();
    for package in publishable() {
        let mut files = Vec::new();
        rust_files(
            &package.manifest_path.parent().unwrap().join("src"),
            &mut files,
        );
        for file in files {
            let text = fs::read_to_string(&file).unwrap();
            for (number, line) in text.lines().enumerate() {
                // Doc comments may stub out a doctest's helper; only shipped code counts here.
                if line.trim_start().starts_with("//") {
                    continue;
                }
                // Split so that this file does not trip its own check.
                for macro_name in [concat!("todo", "!("), concat!("unimplemented", "!(")] {
                    if line.contains(macro_name) {
                        offenders.push(format!(
                            "{}:{}: {}",
                            file.display(),
                            number + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "unfinished code in published crates:\n{}",
        offenders.join("\n")
    );
}

/// `missing_docs` is denied for every publishable crate: by `#![deny(missing_docs)]` in each crate
/// root, or by `[lints] workspace = true` with the workspace denying it. Each root also opens with
/// crate documentation (`//!`).
#[test]
fn every_published_crate_denies_missing_docs_and_has_crate_docs() {
    let workspace_denies = manifest(&root().join("Cargo.toml"))
        .get("workspace")
        .and_then(|w| w.get("lints"))
        .and_then(|l| l.get("rust"))
        .and_then(|r| r.get("missing_docs"))
        .and_then(Item::as_str)
        == Some("deny");
    let mut offenders = Vec::new();
    for package in publishable() {
        let inherits_lints = manifest(&package.manifest_path)
            .get("lints")
            .and_then(|l| l.get("workspace"))
            .and_then(Item::as_bool)
            == Some(true);
        for crate_root in &package.roots {
            let text = fs::read_to_string(crate_root).unwrap();
            let attribute = text.contains("#![deny(missing_docs)]");
            let denied = attribute || (inherits_lints && workspace_denies);
            if !denied {
                offenders.push(format!(
                    "{}: missing_docs is not denied",
                    crate_root.display()
                ));
            }
            if !text.trim_start().starts_with("//!") {
                offenders.push(format!(
                    "{}: no crate documentation (//!)",
                    crate_root.display()
                ));
            }
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}

/// The release command's invariant: one shared version. Every publishable crate inherits
/// `[workspace.package] version`, and every requirement on a workspace crate (in
/// `[workspace.dependencies]` or written directly in a manifest) names exactly that version.
#[test]
fn one_shared_version_and_internal_requirements_match_it() {
    let root_manifest = manifest(&root().join("Cargo.toml"));
    let version = root_manifest["workspace"]["package"]["version"]
        .as_str()
        .expect("[workspace.package] version")
        .to_owned();
    let all = packages();
    let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
    let mut offenders = Vec::new();

    let check_table = |label: &str, deps: &Item, offenders: &mut Vec<String>| {
        let Some(deps) = deps.as_table_like() else {
            return;
        };
        for (key, dep) in deps.iter() {
            let Some(dep) = dep.as_table_like() else {
                continue;
            };
            let name = dep.get("package").and_then(Item::as_str).unwrap_or(key);
            if !names.contains(&name) {
                continue;
            }
            if let Some(req) = dep.get("version").and_then(Item::as_str) {
                let bare = req.trim_start_matches(['=', '^', '~', ' ']);
                if bare != version {
                    offenders.push(format!(
                        "{label} {key}: requires {req}, workspace is {version}"
                    ));
                }
            }
        }
    };
    check_table(
        "Cargo.toml [workspace.dependencies]",
        &root_manifest["workspace"]["dependencies"],
        &mut offenders,
    );
    for package in &all {
        let doc = manifest(&package.manifest_path);
        if package.publishable
            && doc["package"]["version"]
                .get("workspace")
                .and_then(Item::as_bool)
                != Some(true)
        {
            offenders.push(format!(
                "{}: does not use version.workspace = true",
                package.name
            ));
        }
        for table in ["dependencies", "dev-dependencies", "build-dependencies"] {
            if let Some(deps) = doc.get(table) {
                check_table(&format!("{} [{table}]", package.name), deps, &mut offenders);
            }
        }
    }
    assert!(offenders.is_empty(), "{}", offenders.join("\n"));
}
