//! The workspace as `cargo metadata` sees it, the publishing order computed from the crate graph,
//! and exact manifest edits for a version bump.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use toml_edit::{DocumentMut, Item};

use crate::{Result, bail, exec};

/// One workspace member.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) version: semver::Version,
    /// The directory holding its Cargo.toml, relative to the root, `/`-separated (`crates/x`).
    pub(crate) dir: String,
    /// `publish` is not `false` in its manifest.
    pub(crate) publishable: bool,
    /// Other members it depends on, with the edge kinds that matter for publishing.
    pub(crate) internal_deps: Vec<InternalDep>,
    /// The `[features]` table of its manifest, `default` included (empty when it has none).
    pub(crate) features: BTreeMap<String, Vec<String>>,
}

#[cfg(test)]
impl Member {
    /// A member at version 0.1.0 in `crates/<name>`, with no dependencies and no features, for
    /// tests to build on with struct update syntax.
    pub(crate) fn for_test(name: &str, publishable: bool) -> Member {
        Member {
            name: name.to_owned(),
            version: semver::Version::new(0, 1, 0),
            dir: format!("crates/{name}"),
            publishable,
            internal_deps: Vec::new(),
            features: BTreeMap::new(),
        }
    }
}

/// A dependency of one member on another.
#[derive(Debug, Clone)]
pub(crate) struct InternalDep {
    pub(crate) name: String,
    /// `None` for normal dependencies, else `dev` or `build`.
    pub(crate) kind: Option<String>,
    /// The requirement as cargo reports it: `*` for a path-only dependency.
    pub(crate) req: String,
}

impl InternalDep {
    /// Whether the dependency ends up in the published manifest and so must be on crates.io
    /// first. Cargo drops path-only dev-dependencies when packaging; everything else stays.
    pub(crate) fn constrains_publishing(&self) -> bool {
        !(self.kind.as_deref() == Some("dev") && self.req == "*")
    }
}

/// The workspace at a root directory.
#[derive(Debug)]
pub(crate) struct Workspace {
    pub(crate) root: PathBuf,
    /// `[workspace.package] version` in the root manifest.
    pub(crate) version: semver::Version,
    /// Members sorted by name.
    pub(crate) members: Vec<Member>,
}

impl Workspace {
    /// Reads the workspace at `root` with `cargo metadata --no-deps` (no network, no build).
    pub(crate) fn load(root: &Path) -> Result<Workspace> {
        let json =
            exec::read(exec::cargo(root).args(["metadata", "--format-version", "1", "--no-deps"]))?;
        let metadata: Value = serde_json::from_str(&json)
            .map_err(|e| format!("cargo metadata printed invalid JSON: {e}"))?;
        let root = fs::canonicalize(root)
            .map_err(|e| format!("cannot resolve workspace root {}: {e}", root.display()))?;
        let version = workspace_version(&root)?;
        let members = members_from_metadata(&metadata, &root)?;
        Ok(Workspace {
            root,
            version,
            members,
        })
    }

    /// Names of the members that are never published (`publish = false`).
    pub(crate) fn unpublished(&self) -> Vec<&str> {
        self.members
            .iter()
            .filter(|m| !m.publishable)
            .map(|m| m.name.as_str())
            .collect()
    }

    /// The publishable members in an order where every crate comes after the members it needs on
    /// crates.io (dependencies first; ties broken by name so the order is stable).
    pub(crate) fn publish_order(&self) -> Result<Vec<&Member>> {
        let publishable: BTreeMap<&str, &Member> = self
            .members
            .iter()
            .filter(|m| m.publishable)
            .map(|m| (m.name.as_str(), m))
            .collect();
        let mut waiting_on: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for member in publishable.values() {
            let mut needs = BTreeSet::new();
            for dep in member
                .internal_deps
                .iter()
                .filter(|d| d.constrains_publishing())
            {
                if !publishable.contains_key(dep.name.as_str()) {
                    bail!(
                        "{} depends on {}, which is `publish = false`: it could never be published",
                        member.name,
                        dep.name
                    );
                }
                if dep.name != member.name {
                    needs.insert(dep.name.as_str());
                }
            }
            waiting_on.insert(member.name.as_str(), needs);
        }
        let graph = waiting_on.clone();
        // Among the crates that are ready, the one more crates depend on goes first (the core
        // before a leaf that happens to sort earlier), then by name.
        let dependents = |name: &str| -> usize {
            let mut seen = BTreeSet::from([name]);
            let mut grew = true;
            while grew {
                grew = false;
                for (other, needs) in &graph {
                    if !seen.contains(other) && needs.iter().any(|n| seen.contains(n)) {
                        seen.insert(other);
                        grew = true;
                    }
                }
            }
            seen.len() - 1
        };
        let mut order = Vec::with_capacity(waiting_on.len());
        while !waiting_on.is_empty() {
            let Some(next) = waiting_on
                .iter()
                .filter(|(_, needs)| needs.is_empty())
                .map(|(name, _)| *name)
                .min_by_key(|name| (std::cmp::Reverse(dependents(name)), *name))
            else {
                let stuck: Vec<&str> = waiting_on.keys().copied().collect();
                bail!(
                    "the publishable crates depend on each other in a cycle: {}",
                    stuck.join(", ")
                );
            };
            waiting_on.remove(next);
            for needs in waiting_on.values_mut() {
                needs.remove(next);
            }
            order.push(publishable[next]);
        }
        Ok(order)
    }

    /// The member whose directory holds `path` (relative, `/`-separated).
    pub(crate) fn owner_of(&self, path: &str) -> Option<&Member> {
        self.members
            .iter()
            .filter(|m| m.dir.is_empty() || path.starts_with(&format!("{}/", m.dir)))
            .max_by_key(|m| m.dir.len())
    }

    /// Publishable members that do not take their version from `[workspace.package]`.
    pub(crate) fn members_off_the_shared_version(&self) -> Result<Vec<String>> {
        let mut off = Vec::new();
        for member in self.members.iter().filter(|m| m.publishable) {
            let manifest = read_manifest(&self.root.join(&member.dir).join("Cargo.toml"))?;
            let inherits = manifest
                .get("package")
                .and_then(|p| p.get("version"))
                .and_then(|v| v.get("workspace"))
                .and_then(Item::as_bool)
                == Some(true);
            if !inherits || member.version != self.version {
                off.push(format!("{} ({})", member.name, member.version));
            }
        }
        Ok(off)
    }
}

fn members_from_metadata(metadata: &Value, root: &Path) -> Result<Vec<Member>> {
    let ids: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .ok_or("cargo metadata has no workspace_members")?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let packages = metadata["packages"]
        .as_array()
        .ok_or("cargo metadata has no packages")?;
    let in_workspace: Vec<&Value> = packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| ids.contains(id)))
        .collect();
    let names: BTreeSet<&str> = in_workspace
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();

    let mut members = Vec::new();
    for package in in_workspace {
        let name = package["name"].as_str().ok_or("a package without a name")?;
        let version = package["version"].as_str().unwrap_or_default();
        let version = semver::Version::parse(version)
            .map_err(|e| format!("{name} has version `{version}`, not semver: {e}"))?;
        let manifest = Path::new(package["manifest_path"].as_str().unwrap_or_default());
        let dir = manifest
            .parent()
            .and_then(|d| d.strip_prefix(root).ok())
            .ok_or_else(|| format!("{name}'s manifest is outside the workspace root"))?;
        let dir = dir
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        // `publish`: null means any registry, [] means `publish = false`.
        let publishable = !matches!(&package["publish"], Value::Array(list) if list.is_empty());
        let internal_deps = package["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["name"].as_str().is_some_and(|n| names.contains(n)))
            .filter(|d| d["path"].is_string())
            .map(|d| InternalDep {
                name: d["name"].as_str().unwrap_or_default().to_owned(),
                kind: d["kind"].as_str().map(str::to_owned),
                req: d["req"].as_str().unwrap_or("*").to_owned(),
            })
            .collect();
        let features = package["features"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(feature, enables)| {
                let enables = enables
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect();
                (feature.clone(), enables)
            })
            .collect();
        members.push(Member {
            name: name.to_owned(),
            version,
            dir,
            publishable,
            internal_deps,
            features,
        });
    }
    members.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(members)
}

/// Parses a Cargo.toml, keeping its layout.
pub(crate) fn read_manifest(path: &Path) -> Result<DocumentMut> {
    let text =
        fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_manifest(&text, path)
}

pub(crate) fn parse_manifest(text: &str, path: &Path) -> Result<DocumentMut> {
    text.parse()
        .map_err(|e| format!("{} is not valid TOML: {e}", path.display()).into())
}

/// `[workspace.package] version` of the manifest text `root_manifest`.
pub(crate) fn shared_version_of(root_manifest: &DocumentMut) -> Option<&str> {
    root_manifest
        .get("workspace")?
        .get("package")?
        .get("version")?
        .as_str()
}

fn workspace_version(root: &Path) -> Result<semver::Version> {
    let path = root.join("Cargo.toml");
    let manifest = read_manifest(&path)?;
    let Some(version) = shared_version_of(&manifest) else {
        bail!(
            "{} has no [workspace.package] version: the crates share one version (see RELEASE.md)",
            path.display()
        );
    };
    semver::Version::parse(version)
        .map_err(|e| format!("[workspace.package] version `{version}` is not semver: {e}").into())
}

/// One manifest rewritten for a new version, and what changed in it.
#[derive(Debug)]
pub(crate) struct ManifestEdit {
    /// Relative to the workspace root, `/`-separated.
    pub(crate) path: String,
    pub(crate) new_text: String,
    /// Human-readable lines: `[workspace.package] version: 0.1.0 → 0.2.0`.
    pub(crate) changes: Vec<String>,
}

/// Computes (without writing) the manifest edits that move the workspace to `new`: the
/// `[workspace.package]` version, every `[workspace.dependencies]` entry naming a member, and every
/// dependency on a member written with its own `version` in a member's manifest (all dependency
/// tables, target-specific ones included). Formatting and comments are kept.
pub(crate) fn bump_manifests(ws: &Workspace, new: &semver::Version) -> Result<Vec<ManifestEdit>> {
    let names: BTreeSet<&str> = ws.members.iter().map(|m| m.name.as_str()).collect();
    let new = new.to_string();
    let mut edits = Vec::new();

    let mut paths = vec!["Cargo.toml".to_owned()];
    paths.extend(
        ws.members
            .iter()
            .filter(|m| !m.dir.is_empty())
            .map(|m| format!("{}/Cargo.toml", m.dir)),
    );
    for path in paths {
        let file = ws.root.join(&path);
        let text = fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let mut doc = parse_manifest(&text, &file)?;
        let mut changes = Vec::new();
        if let Some(workspace) = doc.get_mut("workspace") {
            if let Some(version) = workspace
                .get_mut("package")
                .and_then(|p| p.get_mut("version"))
                && let Some(old) = set_str(version, &new)
            {
                changes.push(format!("[workspace.package] version: {old} → {new}"));
            }
            if let Some(deps) = workspace.get_mut("dependencies") {
                bump_dep_table(deps, "[workspace.dependencies]", &names, &new, &mut changes);
            }
        }
        for table in DEP_TABLES {
            if let Some(deps) = doc.get_mut(table) {
                bump_dep_table(deps, &format!("[{table}]"), &names, &new, &mut changes);
            }
        }
        if let Some(targets) = doc.get_mut("target").and_then(Item::as_table_like_mut) {
            for (cfg, target) in targets.iter_mut() {
                for table in DEP_TABLES {
                    if let Some(deps) = target.get_mut(table) {
                        let label = format!("[target.{cfg}.{table}]");
                        bump_dep_table(deps, &label, &names, &new, &mut changes);
                    }
                }
            }
        }
        if !changes.is_empty() {
            edits.push(ManifestEdit {
                path,
                new_text: doc.to_string(),
                changes,
            });
        }
    }
    Ok(edits)
}

const DEP_TABLES: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];

fn bump_dep_table(
    deps: &mut Item,
    label: &str,
    members: &BTreeSet<&str>,
    new: &str,
    changes: &mut Vec<String>,
) {
    let Some(deps) = deps.as_table_like_mut() else {
        return;
    };
    for (key, dep) in deps.iter_mut() {
        let Some(dep) = dep.as_table_like_mut() else {
            // `foo = "1"` is a registry dependency: never one of ours.
            continue;
        };
        let package = dep
            .get("package")
            .and_then(Item::as_str)
            .unwrap_or(key.get());
        if !members.contains(package) {
            continue;
        }
        let Some(version) = dep.get_mut("version") else {
            continue;
        };
        let Some(old) = version.as_str().map(str::to_owned) else {
            continue;
        };
        let req = new_requirement(&old, new);
        if req != old {
            set_str(version, &req);
            changes.push(format!("{label} {}: {old} → {req}", key.get()));
        }
    }
}

/// The requirement `old` moved to `new`, keeping its operator (`=0.1.0` → `=0.2.0`).
pub(crate) fn new_requirement(old: &str, new: &str) -> String {
    let trimmed = old.trim();
    let operator: String = trimmed
        .chars()
        .take_while(|c| matches!(c, '=' | '^' | '~' | '>' | '<' | ' '))
        .collect();
    format!("{operator}{new}")
}

/// Replaces a string value, keeping its surrounding whitespace and comments. Returns the old value
/// when it changed.
fn set_str(item: &mut Item, new: &str) -> Option<String> {
    let value = item.as_value_mut()?;
    let old = value.as_str()?.to_owned();
    if old == new {
        return None;
    }
    let decor = value.decor().clone();
    *value = toml_edit::Value::from(new);
    *value.decor_mut() = decor;
    Some(old)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(name: &str, deps: &[(&str, Option<&str>, &str)]) -> Member {
        Member {
            internal_deps: deps
                .iter()
                .map(|(dep, kind, req)| InternalDep {
                    name: (*dep).to_owned(),
                    kind: kind.map(str::to_owned),
                    req: (*req).to_owned(),
                })
                .collect(),
            ..Member::for_test(name, true)
        }
    }

    fn order_of(members: Vec<Member>) -> Result<Vec<String>> {
        let ws = Workspace {
            root: PathBuf::from("/nowhere"),
            version: semver::Version::new(0, 1, 0),
            members,
        };
        Ok(ws
            .publish_order()?
            .into_iter()
            .map(|m| m.name.clone())
            .collect())
    }

    #[test]
    fn publish_order_puts_dependencies_first_and_widely_used_crates_early() {
        let order = order_of(vec![
            member(
                "a-cli",
                &[("facade", None, "^0.1.0"), ("emulator", None, "^0.1.0")],
            ),
            member("emulator", &[]),
            member(
                "facade",
                &[("core", None, "^0.1.0"), ("transport", None, "^0.1.0")],
            ),
            member("transport", &[("core", None, "^0.1.0")]),
            // A path-only dev-dependency is dropped when packaging: no edge, no cycle.
            member("core", &[("emulator", Some("dev"), "*")]),
        ])
        .unwrap();
        assert_eq!(order, ["core", "transport", "emulator", "facade", "a-cli"]);
    }

    #[test]
    fn publish_order_rejects_cycles_and_unpublished_dependencies() {
        let cycle = order_of(vec![
            member("a", &[("b", None, "^0.1.0")]),
            member("b", &[("a", Some("dev"), "^0.1.0")]),
        ]);
        assert!(cycle.unwrap_err().to_string().contains("cycle: a, b"));
        let mut hidden = member("hidden", &[]);
        hidden.publishable = false;
        let error = order_of(vec![member("a", &[("hidden", None, "^0.1.0")]), hidden]).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("a depends on hidden, which is `publish = false`")
        );
    }

    #[test]
    fn requirements_keep_their_operator() {
        assert_eq!(new_requirement("0.1.0", "0.2.0"), "0.2.0");
        assert_eq!(new_requirement("=0.1.0", "0.2.0"), "=0.2.0");
        assert_eq!(new_requirement("^0.1", "0.2.0"), "^0.2.0");
    }

    #[test]
    fn set_str_keeps_comments() {
        let mut doc: DocumentMut = "[package]\nversion = \"0.1.0\" # bumped by xtask\n"
            .parse()
            .unwrap();
        let old = set_str(&mut doc["package"]["version"], "0.2.0");
        assert_eq!(old.as_deref(), Some("0.1.0"));
        assert_eq!(
            doc.to_string(),
            "[package]\nversion = \"0.2.0\" # bumped by xtask\n"
        );
        assert_eq!(set_str(&mut doc["package"]["version"], "0.2.0"), None);
    }
}
