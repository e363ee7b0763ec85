//! `cargo xtask standalone` (ci's `standalone` step): every publishable crate built and tested on
//! its own, as `cargo install` and a user's `cargo add` build it.
//!
//! Why a step of its own: cargo resolves features for everything it builds at once. A build of
//! the whole workspace (clippy, `cargo test --workspace`) turns on the union of every member's
//! features, so a crate that forgot to enable one (the CLI's TLS backend, once) still passed
//! every workspace-wide check while `cargo install` built a command that could not reach
//! `https://`. Here each publishable crate is built with `-p <crate>` alone:
//!
//! 1. with its default features: `cargo test -p <crate>` (every target and the doctests);
//! 2. for a crate with features: `cargo test -p <crate> --no-default-features`, then once more per
//!    feature with `--features <feature>` alone, skipping a set that equals the default one;
//! 3. the builds that must not compile ([`MUST_FAIL`]): a combination a crate cannot serve is a
//!    compile error that names the feature to enable, and the step checks the message.
//!
//! The matrix comes from the manifests (`cargo metadata`), so a new feature joins it by itself.
//! It ends with one table: crate, features, result, time.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::workspace::{Member, Workspace};
use crate::{Result, bail, exec};

/// Which features one build turns on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Features {
    /// The crate's defaults.
    Default,
    /// `--no-default-features`, plus these (comma-separated in the command; empty for none).
    Only(Vec<String>),
}

impl Features {
    fn label(&self) -> String {
        match self {
            Features::Default => "default".to_owned(),
            Features::Only(list) if list.is_empty() => "--no-default-features".to_owned(),
            Features::Only(list) => format!("only {}", list.join(",")),
        }
    }
}

/// One build of the matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Build {
    pub(crate) package: String,
    pub(crate) features: Features,
    /// `Some(words)`: the build must fail to compile with an error containing `words`.
    pub(crate) must_fail_with: Option<&'static str>,
}

/// The combinations that must not compile, and what their error must say: the feature to
/// enable. (crate, the features given after `--no-default-features`, words of the error.)
pub(crate) const MUST_FAIL: &[(&str, &[&str], &str)] = &[(
    "pipevideo-surf",
    &[],
    "enable its `h1-client` feature (the default) or `curl-client`",
)];

/// The matrix for `ws`: per publishable member, its defaults, then, if it has features, none and
/// each one alone (a set equal to the defaults is built once).
pub(crate) fn plan(ws: &Workspace) -> Vec<Build> {
    let mut builds = Vec::new();
    for member in ws.members.iter().filter(|m| m.publishable) {
        builds.push(Build {
            package: member.name.clone(),
            features: Features::Default,
            must_fail_with: None,
        });
        let named: Vec<&String> = member.features.keys().filter(|f| *f != "default").collect();
        if named.is_empty() {
            continue;
        }
        let defaults = enabled(member, member.features.get("default").into_iter().flatten());
        let mut alone: Vec<Vec<String>> = vec![Vec::new()];
        alone.extend(named.into_iter().map(|f| vec![f.clone()]));
        for features in alone {
            if enabled(member, &features) == defaults {
                continue;
            }
            let must_fail_with = MUST_FAIL
                .iter()
                .find(|(package, given, _)| {
                    *package == member.name
                        && given
                            .iter()
                            .copied()
                            .eq(features.iter().map(String::as_str))
                })
                .map(|(_, _, words)| *words);
            builds.push(Build {
                package: member.name.clone(),
                features: Features::Only(features),
                must_fail_with,
            });
        }
    }
    builds
}

/// The member's own features that `given` turns on, following `a = ["b"]` implications
/// (`dep:x` and `x/y` entries are about dependencies, not the member's features).
fn enabled<'a>(member: &Member, given: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    let mut on = BTreeSet::new();
    let mut todo: Vec<String> = given.into_iter().cloned().collect();
    while let Some(feature) = todo.pop() {
        if !member.features.contains_key(&feature) || !on.insert(feature.clone()) {
            continue;
        }
        todo.extend(member.features[&feature].iter().cloned());
    }
    on
}

impl Build {
    fn command(&self, root: &Path) -> std::process::Command {
        let mut command = exec::cargo(root);
        // A build that must fail only needs to reach the compiler's verdict.
        let verb = if self.must_fail_with.is_some() {
            "check"
        } else {
            "test"
        };
        command.args([verb, "-p", &self.package]);
        if let Features::Only(list) = &self.features {
            command.arg("--no-default-features");
            if !list.is_empty() {
                command.args(["--features", &list.join(",")]);
            }
        }
        command
    }
}

/// Runs the whole matrix, stopping at the first unexpected result, and prints the table.
pub(crate) fn run(root: &Path) -> Result<()> {
    let ws = Workspace::load(root)?;
    let builds = plan(&ws);
    let mut rows: Vec<(String, String, String, Duration)> = Vec::new();
    for (index, build) in builds.iter().enumerate() {
        let mut command = build.command(root);
        println!(
            "\n--> standalone [{}/{}] {} ({}): {}",
            index + 1,
            builds.len(),
            build.package,
            build.features.label(),
            exec::show(&command)
        );
        let started = Instant::now();
        let verdict = match build.must_fail_with {
            None => exec::run(&mut command).map(|()| "ok".to_owned()),
            Some(words) => expect_compile_error(&mut command, words),
        };
        let took = started.elapsed();
        let failed = verdict.is_err();
        let result = verdict.unwrap_or_else(|e| format!("FAILED: {e}"));
        rows.push((build.package.clone(), build.features.label(), result, took));
        if failed {
            print_table(&rows);
            bail!(
                "{} does not build and test on its own with {}",
                build.package,
                build.features.label()
            );
        }
    }
    print_table(&rows);
    Ok(())
}

/// Runs a build that must fail, and checks that its error names the remedy.
fn expect_compile_error(command: &mut std::process::Command, words: &str) -> Result<String> {
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("could not start `{}`: {e}", exec::show(command)))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        bail!("it compiled, but it must stop with a compile error saying: {words}");
    }
    if !stderr.contains(words) {
        bail!("it failed, but its error does not say \"{words}\":\n{stderr}");
    }
    Ok("refused at compile time, naming the feature (expected)".to_owned())
}

fn print_table(rows: &[(String, String, String, Duration)]) {
    println!("\nstandalone builds:");
    for (package, features, result, took) in rows {
        println!(
            "  {package:<20} {features:<32} {:>7.1}s  {result}",
            took.as_secs_f64()
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use super::*;

    fn member(name: &str, publishable: bool, features: &[(&str, &[&str])]) -> Member {
        Member {
            features: features
                .iter()
                .map(|(f, on)| {
                    let on: Vec<String> = on.iter().map(|s| (*s).to_owned()).collect();
                    ((*f).to_owned(), on)
                })
                .collect::<BTreeMap<_, _>>(),
            ..Member::for_test(name, publishable)
        }
    }

    fn labels(builds: &[Build]) -> Vec<String> {
        builds
            .iter()
            .map(|b| {
                let fail = if b.must_fail_with.is_some() {
                    " (must fail)"
                } else {
                    ""
                };
                format!("{} {}{fail}", b.package, b.features.label())
            })
            .collect()
    }

    #[test]
    fn the_matrix_covers_none_and_each_feature_alone_once_and_skips_unpublished_crates() {
        let ws = Workspace {
            root: PathBuf::from("/nowhere"),
            version: semver::Version::new(0, 1, 0),
            members: vec![
                member(
                    "facade",
                    true,
                    &[
                        ("default", &["reqwest", "rustls"]),
                        ("reqwest", &["dep:transport", "transport/http2"]),
                        ("rustls", &["reqwest", "transport/rustls"]),
                        ("surf", &["dep:surf"]),
                    ],
                ),
                member("core", true, &[]),
                member("tests", false, &[("default", &["x"]), ("x", &[])]),
            ],
        };
        assert_eq!(
            labels(&plan(&ws)),
            [
                "facade default",
                "facade --no-default-features",
                "facade only reqwest",
                // `rustls` alone turns on `reqwest` too: the default set, built once.
                "facade only surf",
                "core default",
            ]
        );
    }

    #[test]
    fn a_combination_listed_as_impossible_must_fail_with_its_words() {
        let ws = Workspace {
            root: PathBuf::from("/nowhere"),
            version: semver::Version::new(0, 1, 0),
            members: vec![member(
                "pipevideo-surf",
                true,
                &[
                    ("default", &["h1-client"]),
                    ("h1-client", &[]),
                    ("curl-client", &[]),
                ],
            )],
        };
        let builds = plan(&ws);
        assert_eq!(
            labels(&builds),
            [
                "pipevideo-surf default",
                "pipevideo-surf --no-default-features (must fail)",
                "pipevideo-surf only curl-client",
            ]
        );
        assert_eq!(builds[1].must_fail_with, Some(MUST_FAIL[0].2));
        let command = exec::show(&builds[1].command(Path::new("/")));
        assert!(
            command.ends_with("check -p pipevideo-surf --no-default-features"),
            "{command}"
        );
        let command = exec::show(&builds[2].command(Path::new("/")));
        assert!(
            command
                .ends_with("test -p pipevideo-surf --no-default-features --features curl-client"),
            "{command}"
        );
    }
}
