//! Where crates are published: crates.io, or a registry named the standard way
//! (`CARGO_REGISTRIES_<NAME>_INDEX`, `CARGO_REGISTRIES_<NAME>_TOKEN`), and what its index says.
//!
//! The index is asked directly, the way cargo reads it, so that a resumed publish knows which
//! crates are already there without trying to upload them:
//!
//! - `sparse+http(s)://…` (crates.io's `https://index.crates.io/`): one `curl` GET per crate;
//!   404, 410 and 451 mean "never published";
//! - `file://…` (a local git index, as `cargo-http-registry` serves): `git show HEAD:<path>`;
//! - any other URL is a git index: a shallow bare clone into a temporary directory, then the same.
//!
//! Each crate's index file holds one JSON object per published version; the `cksum` field is the
//! SHA-256 of the `.crate` file, which is what tells "already published" from "a different crate
//! under the same version".

use std::path::Path;
use std::process::Command;

use crate::{Result, bail, exec};

/// crates.io's index, as cargo reads it by default.
const CRATES_IO_INDEX: &str = "sparse+https://index.crates.io/";

/// A registry to publish to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Registry {
    /// `None` for crates.io.
    pub(crate) name: Option<String>,
    /// The index URL.
    pub(crate) index: String,
}

impl Registry {
    pub(crate) fn crates_io() -> Registry {
        Registry {
            name: None,
            index: CRATES_IO_INDEX.to_owned(),
        }
    }

    /// crates.io for `None`, else the registry configured by `CARGO_REGISTRIES_<NAME>_INDEX`.
    pub(crate) fn from_option(name: Option<&str>) -> Result<Registry> {
        let Some(name) = name else {
            return Ok(Registry::crates_io());
        };
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            bail!("`{name}` is not a registry name (letters, digits, `-` and `_`)");
        }
        let variable = format!("CARGO_REGISTRIES_{}_INDEX", env_key(name));
        match exec::env_var(&variable) {
            Some(index) if !index.is_empty() => Ok(Registry {
                name: Some(name.to_owned()),
                index,
            }),
            _ => bail!(
                "--registry {name} needs the registry's index URL in {variable} (and its token in \
                 {}); nothing was changed",
                token_variable(Some(name))
            ),
        }
    }

    /// `crates.io` or `registry \`NAME\``, for messages.
    pub(crate) fn label(&self) -> String {
        match &self.name {
            None => "crates.io".to_owned(),
            Some(name) => format!("registry `{name}`"),
        }
    }

    /// The environment variable holding the publish token.
    pub(crate) fn token_variable(&self) -> String {
        token_variable(self.name.as_deref())
    }

    /// Fails, saying which variable to set, when there is no token to publish with.
    pub(crate) fn require_token(&self) -> Result<()> {
        let variable = self.token_variable();
        if exec::env_var(&variable).is_none_or(|t| t.is_empty()) {
            bail!(
                "publishing to {} needs a token in {variable}; nothing was changed",
                self.label()
            );
        }
        Ok(())
    }

    /// `--registry NAME`, or nothing for crates.io.
    pub(crate) fn cargo_args(&self) -> Vec<String> {
        match &self.name {
            None => Vec::new(),
            Some(name) => vec!["--registry".to_owned(), name.clone()],
        }
    }

    /// `--config` arguments that resolve the crates.io dependencies named in `crates` from this
    /// registry at `version` (nothing for crates.io itself).
    ///
    /// The workspace's crates depend on each other by path and version; the published manifests
    /// keep the version and point at crates.io. On another registry they only resolve when patched
    /// to it: `[patch.crates-io] <crate> = { version = "=X.Y.Z", registry = "<name>" }`.
    pub(crate) fn patch_args(&self, crates: &[&str], version: &semver::Version) -> Vec<String> {
        let Some(name) = &self.name else {
            return Vec::new();
        };
        let mut args = Vec::new();
        for krate in crates {
            args.push("--config".to_owned());
            args.push(format!("patch.crates-io.{krate}.version=\"={version}\""));
            args.push("--config".to_owned());
            args.push(format!("patch.crates-io.{krate}.registry=\"{name}\""));
        }
        args
    }

    /// The checksums the index lists for `krate` at `version` (empty when it has no such version).
    pub(crate) fn checksums(&self, krate: &str, version: &semver::Version) -> Result<Vec<String>> {
        let path = index_path(krate);
        let file = if let Some(url) = self.index.strip_prefix("sparse+") {
            fetch_sparse(url, &path)?
        } else if let Some(dir) = self.index.strip_prefix("file://") {
            read_git_index(Path::new(dir), &path)?
        } else {
            fetch_git(&self.index, &path)?
        };
        match file {
            None => Ok(Vec::new()),
            Some(text) => checksums_in(&text, krate, version),
        }
    }
}

fn token_variable(name: Option<&str>) -> String {
    match name {
        None => "CARGO_REGISTRY_TOKEN".to_owned(),
        Some(name) => format!("CARGO_REGISTRIES_{}_TOKEN", env_key(name)),
    }
}

/// A registry name as cargo spells it in environment variables: upper case, `-` as `_`.
pub(crate) fn env_key(name: &str) -> String {
    name.to_ascii_uppercase().replace('-', "_")
}

/// Where a crate's file lives in an index: `1/a`, `2/ab`, `3/a/abc`, `ab/cd/abcd…` (lower case).
pub(crate) fn index_path(krate: &str) -> String {
    let name = krate.to_ascii_lowercase();
    match name.len() {
        1 => format!("1/{name}"),
        2 => format!("2/{name}"),
        3 => format!("3/{}/{name}", &name[..1]),
        _ => format!("{}/{}/{name}", &name[..2], &name[2..4]),
    }
}

/// The `cksum` of every line of an index file that describes `krate` at `version`.
pub(crate) fn checksums_in(
    text: &str,
    krate: &str,
    version: &semver::Version,
) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("the index file of {krate} has a line that is not JSON: {e}"))?;
        let Some(vers) = entry["vers"].as_str() else {
            bail!("the index file of {krate} has a line without `vers`");
        };
        // Versions compare as semver: `1.0.0+build` is `1.0.0` to cargo and to the registry.
        let same = semver::Version::parse(vers).is_ok_and(|v| {
            v.major == version.major
                && v.minor == version.minor
                && v.patch == version.patch
                && v.pre == version.pre
        });
        if !same
            || !entry["name"]
                .as_str()
                .is_some_and(|n| n.eq_ignore_ascii_case(krate))
        {
            continue;
        }
        match entry["cksum"].as_str() {
            Some(cksum) => found.push(cksum.to_owned()),
            None => bail!("the index lists {krate} {vers} without a checksum"),
        }
    }
    Ok(found)
}

fn fetch_sparse(base: &str, path: &str) -> Result<Option<String>> {
    let url = format!("{}/{path}", base.trim_end_matches('/'));
    let output = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--location",
            "--write-out",
            "\n%{http_code}",
        ])
        .arg(&url)
        .output()
        .map_err(|e| format!("could not run curl to read the index at {url}: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
    if !output.status.success() {
        bail!(
            "cannot read the index at {url}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    match status.trim() {
        "200" => Ok(Some(body.to_owned())),
        "404" | "410" | "451" => Ok(None),
        other => bail!("the index at {url} answered HTTP {other}"),
    }
}

/// Reads `path` at HEAD of the git index in `dir` (a working tree or a bare repository).
fn read_git_index(dir: &Path, path: &str) -> Result<Option<String>> {
    if !dir.exists() {
        bail!("the registry index {} does not exist", dir.display());
    }
    let spec = format!("HEAD:{path}");
    let exists = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["cat-file", "-e", &spec])
        .output()
        .map_err(|e| format!("could not run git: {e}"))?;
    if !exists.status.success() {
        // Either the crate was never published or the directory is no git repository at all.
        exec::read(
            Command::new("git")
                .arg("-C")
                .arg(dir)
                .args(["rev-parse", "HEAD"]),
        )
        .map_err(|e| format!("{} is not a git index: {e}", dir.display()))?;
        return Ok(None);
    }
    exec::read(Command::new("git").arg("-C").arg(dir).args(["show", &spec])).map(Some)
}

fn fetch_git(url: &str, path: &str) -> Result<Option<String>> {
    let dir = std::env::temp_dir().join(format!("xtask-index-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cloned = exec::read(
        Command::new("git")
            .args(["clone", "--quiet", "--bare", "--depth", "1", url])
            .arg(&dir),
    );
    let result = cloned.and_then(|_| read_git_index(&dir, path));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> semver::Version {
        semver::Version::parse(text).unwrap()
    }

    #[test]
    fn index_paths_follow_cargos_layout() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("xy"), "2/xy");
        assert_eq!(index_path("abc"), "3/a/abc");
        assert_eq!(index_path("pipevideo-core"), "pi/pe/pipevideo-core");
        assert_eq!(index_path("Serde"), "se/rd/serde");
    }

    #[test]
    fn checksums_of_one_version_only() {
        let text = concat!(
            r#"{"name":"fix-core","vers":"0.3.1","deps":[],"cksum":"aaa","features":{},"yanked":false}"#,
            "\n",
            r#"{"name":"fix-core","vers":"0.4.0","deps":[],"cksum":"bbb","features":{},"yanked":false}"#,
            "\n\n",
            r#"{"name":"fix-core","vers":"0.4.0+meta","deps":[],"cksum":"ccc","features":{}}"#,
            "\n",
        );
        assert_eq!(
            checksums_in(text, "fix-core", &v("0.3.1")).unwrap(),
            ["aaa"]
        );
        assert_eq!(
            checksums_in(text, "fix-core", &v("0.4.0")).unwrap(),
            ["bbb", "ccc"]
        );
        assert!(
            checksums_in(text, "fix-core", &v("0.4.1"))
                .unwrap()
                .is_empty()
        );
        assert!(
            checksums_in(text, "fix-core", &v("0.4.0-rc.1"))
                .unwrap()
                .is_empty()
        );
        assert!(checksums_in("not json\n", "fix-core", &v("0.1.0")).is_err());
        let no_cksum = r#"{"name":"fix-core","vers":"0.1.0"}"#;
        assert!(checksums_in(no_cksum, "fix-core", &v("0.1.0")).is_err());
    }

    #[test]
    fn registry_names_and_their_variables() {
        assert_eq!(env_key("my-reg"), "MY_REG");
        let crates_io = Registry::crates_io();
        assert_eq!(crates_io.token_variable(), "CARGO_REGISTRY_TOKEN");
        assert!(crates_io.cargo_args().is_empty());
        assert!(crates_io.patch_args(&["a"], &v("1.0.0")).is_empty());
        let named = Registry {
            name: Some("my-reg".into()),
            index: "file:///nowhere".into(),
        };
        assert_eq!(named.token_variable(), "CARGO_REGISTRIES_MY_REG_TOKEN");
        assert_eq!(named.cargo_args(), ["--registry", "my-reg"]);
        assert_eq!(
            named.patch_args(&["fix-core"], &v("0.4.0")),
            [
                "--config",
                "patch.crates-io.fix-core.version=\"=0.4.0\"",
                "--config",
                "patch.crates-io.fix-core.registry=\"my-reg\"",
            ]
        );
        assert!(Registry::from_option(Some("a b")).is_err());
        assert!(
            Registry::from_option(Some("xtask-unset-registry"))
                .unwrap_err()
                .to_string()
                .contains("CARGO_REGISTRIES_XTASK_UNSET_REGISTRY_INDEX")
        );
        assert_eq!(Registry::from_option(None).unwrap(), Registry::crates_io());
    }

    #[test]
    fn a_local_git_index_is_read_at_head() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args([
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@t",
                    "-c",
                    "commit.gpgsign=false",
                ])
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        git(&["init", "--quiet"]);
        std::fs::create_dir_all(dir.path().join("fi/x-")).unwrap();
        std::fs::write(
            dir.path().join("fi/x-/fix-core"),
            r#"{"name":"fix-core","vers":"0.3.1","cksum":"abc"}"#,
        )
        .unwrap();
        git(&["add", "."]);
        git(&["commit", "--quiet", "-m", "one"]);
        let registry = Registry {
            name: Some("local".into()),
            index: format!("file://{}", dir.path().display()),
        };
        assert_eq!(
            registry.checksums("fix-core", &v("0.3.1")).unwrap(),
            ["abc"]
        );
        assert!(
            registry
                .checksums("fix-core", &v("0.3.2"))
                .unwrap()
                .is_empty()
        );
        assert!(
            registry
                .checksums("fix-other", &v("0.3.1"))
                .unwrap()
                .is_empty()
        );
        // An uncommitted file is not in the index yet.
        std::fs::write(dir.path().join("fi/x-/fix-core"), "").unwrap();
        assert_eq!(
            registry.checksums("fix-core", &v("0.3.1")).unwrap(),
            ["abc"]
        );
        let missing = Registry {
            index: "file:///nonexistent/xtask-index".into(),
            ..registry
        };
        assert!(missing.checksums("fix-core", &v("0.3.1")).is_err());
    }
}
