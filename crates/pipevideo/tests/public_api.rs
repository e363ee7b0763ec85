//! The facade's public surface, checked, so that it changes only on purpose.
//!
//! - `the_facade_exports_exactly_the_snapshot`: every name `src/lib.rs` exports (with the
//!   features it needs) against `tests/public_api.txt`. A new `pub use` fails it until the
//!   snapshot is updated: `PIPEVIDEO_UPDATE_SNAPSHOT=1 cargo test -p pipevideo --test public_api`.
//! - A glob re-export (`pub use x::*`) fails outright: the facade re-exports by name.
//! - `public_dependencies_are_declared_and_documented`: stable Rust has no
//!   `cargo-check-external-types`, so this reads the manifests and the public signatures of the
//!   facade, the core and the transports, and checks that the foreign crates whose names
//!   appear in them are exactly the ones listed below (and in the crate docs).
//!
//! Everything here reads source files; nothing depends on the features this test is built with.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

const SNAPSHOT: &str = "tests/public_api.txt";
const UPDATE_VAR: &str = "PIPEVIDEO_UPDATE_SNAPSHOT";

// ---------------------------------------------------------------------------------------------
// The snapshot of names.
// ---------------------------------------------------------------------------------------------

#[test]
fn the_facade_exports_exactly_the_snapshot() {
    let lib = read(&manifest_dir().join("src/lib.rs"));
    let names = match exported_names(&lib) {
        Ok(names) => names,
        Err(e) => panic!("src/lib.rs: {e}"),
    };
    let actual: String = names.iter().fold(String::new(), |mut out, n| {
        let _ = writeln!(out, "{n}");
        out
    });
    let path = manifest_dir().join(SNAPSHOT);
    if std::env::var_os(UPDATE_VAR).is_some_and(|v| v == "1") {
        fs::write(&path, &actual).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let expected = fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let old: BTreeSet<&str> = expected.lines().collect();
        let new: BTreeSet<&str> = actual.lines().collect();
        let added: Vec<&&str> = new.difference(&old).collect();
        let removed: Vec<&&str> = old.difference(&new).collect();
        panic!(
            "the facade's public names changed.\n  added:   {added:?}\n  removed: {removed:?}\n\
             Growing (or shrinking) the facade is a decision: if this one is intended, update \
             the snapshot with\n  {UPDATE_VAR}=1 cargo test -p pipevideo --test public_api\n\
             and commit crates/pipevideo/{SNAPSHOT} with the change."
        );
    }
}

#[test]
fn a_glob_re_export_is_refused() {
    let err = exported_names("pub use pipevideo_core::*;").unwrap_err();
    assert!(err.contains("re-exports by name"), "{err}");
    let err = exported_names("pub use pipevideo_core::{model, client::*};").unwrap_err();
    assert!(err.contains("re-exports by name"), "{err}");
}

#[test]
fn the_parser_sees_every_kind_of_export() {
    let src = r##"
        //! Docs that mention pub use fake::Name; are not code.
        #![doc = r#"pub use also::NotCode;"#]
        /* pub use not::Code; */
        pub use a::{B, c::D as E, f::{self, G}};
        pub use h;
        pub use i as j;
        #[cfg(feature = "x")]
        pub use k::L;
        #[cfg(any(feature = "y", feature = "z"))]
        pub mod m {
            pub type N = u8;
            pub(crate) fn hidden() {}
            fn private() {}
        }
        pub(crate) use o::P;
        use q::R;
        pub fn s<T: Into<u8>>(t: T) -> u8 { let _ = '{'; t.into() }
        pub const T: &str = "}";
        pub struct U { pub field: u8 }
        pub enum V { W }
        pub trait X { fn y(&self) {} }
        pub static Z: u8 = 0;
        #[macro_export]
        macro_rules! mac { () => {} }
        impl U { pub fn not_an_item(&self) {} }
    "##;
    let names = exported_names(src).unwrap();
    let expected = [
        "B",
        "E",
        "G",
        "L [x]",
        "T",
        "U",
        "V",
        "X",
        "Z",
        "f",
        "h",
        "j",
        "m [y|z]",
        "m::N [y|z]",
        "mac",
        "s",
    ];
    assert_eq!(names, expected.map(String::from).into_iter().collect());
}

/// Every public name `src` exports at its root (and in its inline public modules, as
/// `module::Name`), each with the features it needs: `Name` or `Name [feature]`, sorted.
fn exported_names(src: &str) -> Result<BTreeSet<String>, String> {
    let tokens = tokenize(src);
    let mut names = BTreeSet::new();
    collect_items(&tokens, "", None, &mut names)?;
    Ok(names)
}

fn collect_items(
    tokens: &[Tok],
    prefix: &str,
    outer_cfg: Option<&str>,
    names: &mut BTreeSet<String>,
) -> Result<(), String> {
    let mut i = 0;
    let mut cfg: Option<String> = None;
    let mut macro_export = false;
    while i < tokens.len() {
        // Attributes: keep the `cfg` and `macro_export` ones for the item they precede.
        if tokens[i].is("#") {
            let inner = tokens.get(i + 1).is_some_and(|t| t.is("!"));
            let open = if inner { i + 2 } else { i + 1 };
            let close = matching(tokens, open)?;
            if !inner {
                let attr = &tokens[open + 1..close];
                if attr.first().is_some_and(|t| t.is("cfg")) {
                    cfg = Some(render_cfg(&attr[1..]));
                } else if attr.len() == 1 && attr[0].is("macro_export") {
                    macro_export = true;
                }
            }
            i = close + 1;
            continue;
        }
        let start = i;
        let public = tokens[i].is("pub") && !tokens.get(i + 1).is_some_and(|t| t.is("("));
        if tokens[i].is("pub") {
            i += if public {
                1
            } else {
                matching(tokens, i + 1)? + 1 - i
            };
        }
        // Qualifiers before the item's keyword.
        while tokens.get(i).is_some_and(|t| {
            t.is("unsafe")
                || t.is("async")
                || t.is("extern") && tokens.get(i + 1).is_some_and(|n| n.kind == Kind::Literal)
                || t.is("const")
                    && tokens
                        .get(i + 1)
                        .is_some_and(|n| n.is("fn") || n.is("unsafe"))
        }) {
            i += if tokens[i].is("extern") { 2 } else { 1 };
        }
        let Some(keyword) = tokens.get(i) else { break };
        let features = match (outer_cfg, cfg.as_deref()) {
            (Some(a), Some(b)) => Some(format!("{a}+{b}")),
            (a, b) => a.or(b).map(str::to_owned),
        };
        let name_with = |name: &str| match &features {
            Some(f) => format!("{prefix}{name} [{f}]"),
            None => format!("{prefix}{name}"),
        };
        if keyword.is("use") {
            let end = find_semicolon(tokens, i + 1)?;
            if public {
                for name in use_tree_names(&tokens[i + 1..end])? {
                    names.insert(name_with(&name));
                }
            }
            i = end + 1;
        } else if keyword.is("mod") {
            let name = ident_at(tokens, i + 1)?;
            if public {
                names.insert(name_with(&name));
            }
            if tokens.get(i + 2).is_some_and(|t| t.is("{")) {
                let close = matching(tokens, i + 2)?;
                if public {
                    collect_items(
                        &tokens[i + 3..close],
                        &format!("{prefix}{name}::"),
                        features.as_deref(),
                        names,
                    )?;
                }
                i = close + 1;
            } else {
                i = find_semicolon(tokens, i + 2)? + 1;
            }
        } else if keyword.is("macro_rules") {
            // `macro_rules! name { … }`
            let name = ident_at(tokens, i + 2)?;
            if macro_export {
                names.insert(name_with(&name));
            }
            i = skip_item(tokens, i + 3)?;
        } else if [
            "fn", "const", "static", "struct", "enum", "union", "trait", "type",
        ]
        .iter()
        .any(|k| keyword.is(k))
        {
            let mut at = i + 1;
            if keyword.is("static") && tokens.get(at).is_some_and(|t| t.is("mut")) {
                at += 1;
            }
            let name = ident_at(tokens, at)?;
            if public {
                names.insert(name_with(&name));
            }
            i = skip_item(tokens, at + 1)?;
        } else if keyword.is(";") {
            i += 1;
        } else {
            // `impl`, `extern crate`, anything else: not an export of a name at this level
            // (an `impl`'s methods are not items).
            if public {
                return Err(format!(
                    "cannot read the public item starting at token {start}: `{}`",
                    keyword.text
                ));
            }
            i = skip_item(tokens, i + 1)?;
        }
        cfg = None;
        macro_export = false;
    }
    Ok(())
}

/// The names a `use` tree brings in: `a::b`, `a::b as c`, `a::{b, c::d as e, f::{self, g}}`.
fn use_tree_names(tree: &[Tok]) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    use_tree(tree, None, &mut names)?;
    Ok(names)
}

fn use_tree(tree: &[Tok], parent: Option<&str>, names: &mut Vec<String>) -> Result<(), String> {
    // Split on top-level commas (for the contents of a group).
    let mut parts = Vec::new();
    let (mut depth, mut from) = (0_i32, 0);
    for (k, t) in tree.iter().enumerate() {
        match t.text.as_str() {
            "{" => depth += 1,
            "}" => depth -= 1,
            "," if depth == 0 => {
                parts.push(&tree[from..k]);
                from = k + 1;
            }
            _ => {}
        }
    }
    parts.push(&tree[from..]);
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        let mut last: Option<String> = parent.map(str::to_owned);
        let mut k = 0;
        while k < part.len() {
            let t = &part[k];
            if t.is("*") {
                return Err(
                    "a glob re-export (`pub use …::*`): the facade re-exports by name, so that \
                     every public name is a decision listed in tests/public_api.txt"
                        .to_owned(),
                );
            } else if t.is("{") {
                let close = matching(part, k)?;
                use_tree(&part[k + 1..close], last.as_deref(), names)?;
                last = None;
                k = close + 1;
                continue;
            } else if t.is("as") {
                last = Some(ident_at(part, k + 1)?);
                k += 2;
                continue;
            } else if t.is("self") {
                last = parent.map(str::to_owned);
            } else if t.kind == Kind::Ident {
                last = Some(t.text.clone());
            }
            k += 1;
        }
        if let Some(name) = last.filter(|n| n != "_") {
            names.push(name);
        }
    }
    Ok(())
}

/// `feature = "x"` → `x`; `any(a, b)` → `a|b`; `all(a, b)` → `a+b`; `not(a)` → `!a`.
fn render_cfg(tokens: &[Tok]) -> String {
    let mut out = String::new();
    let mut stack: Vec<&str> = Vec::new();
    for t in tokens {
        match t.text.as_str() {
            "(" => {}
            ")" => {
                stack.pop();
            }
            "any" => stack.push("|"),
            "all" => stack.push("+"),
            "not" => {
                out.push('!');
                stack.push("");
            }
            "," => out.push_str(stack.last().copied().unwrap_or(",")),
            "feature" | "=" => {}
            _ if t.kind == Kind::Literal => out.push_str(t.text.trim_matches('"')),
            other => out.push_str(other),
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Public dependencies.
// ---------------------------------------------------------------------------------------------

/// A crate whose public API is checked, and how its dependencies are classified.
struct Checked {
    /// Its directory, relative to `crates/`.
    dir: &'static str,
    /// Dependencies whose names appear in its public signatures (its own items' signatures,
    /// fields, variants, derives and trait impls, and its `pub use`s).
    public: &'static [&'static str],
    /// Dependencies that must not appear there.
    private: &'static [&'static str],
}

const CHECKED: &[Checked] = &[
    Checked {
        dir: "pipevideo",
        public: &[
            "http",
            "pipevideo-core",
            "pipevideo-redis",
            "pipevideo-reqwest",
            "pipevideo-surf",
        ],
        private: &["document-features"],
    },
    Checked {
        dir: "pipevideo-core",
        public: &[
            "async-trait",
            "futures-core",
            "http",
            "rand_core",
            "serde",
            "serde_json",
        ],
        private: &[
            "futures-channel",
            "getrandom",
            "hmac-sha256",
            "httpdate",
            "percent-encoding",
            "serde_path_to_error",
            "tempfile",
            "thiserror",
            "tracing",
        ],
    },
    Checked {
        dir: "pipevideo-reqwest",
        public: &["pipevideo-core", "reqwest", "tokio"],
        private: &[
            "async-trait",
            "bytes",
            "document-features",
            "http",
            "thiserror",
        ],
    },
    Checked {
        dir: "pipevideo-redis",
        public: &["pipevideo-core"],
        private: &["async-trait", "redis", "url"],
    },
    Checked {
        dir: "pipevideo-surf",
        public: &["futures-util", "pipevideo-core", "surf"],
        private: &[
            "async-h1",
            "async-io",
            "async-native-tls",
            "async-std",
            "async-trait",
            "document-features",
            "http",
            "http-client",
        ],
    },
];

/// Derive macros that may sit on public items without making their crate public: they
/// implement standard-library traits only.
const STD_ONLY_DERIVES: &[&str] = &["thiserror"];

/// The crates whose docs carry a "Public dependencies" section, and whose lists it must name.
const DOCUMENTED: &[(&str, &[&str])] = &[
    (
        "pipevideo-core",
        &["pipevideo-core"], // its own list
    ),
    (
        "pipevideo",
        // The facade re-exports the core and the transports: their lists are its own.
        &[
            "pipevideo",
            "pipevideo-core",
            "pipevideo-redis",
            "pipevideo-reqwest",
            "pipevideo-surf",
        ],
    ),
];

#[test]
fn public_dependencies_are_declared_and_documented() {
    let mut problems = Vec::new();
    let crates_dir = manifest_dir().join("..");
    for checked in CHECKED {
        let dir = crates_dir.join(checked.dir);
        let deps = manifest_dependencies(&read(&dir.join("Cargo.toml")));
        let listed: BTreeSet<&str> = checked
            .public
            .iter()
            .chain(checked.private)
            .copied()
            .collect();
        for dep in &deps {
            if !listed.contains(dep.as_str()) {
                problems.push(format!(
                    "{}: new dependency `{dep}`: add it to `public` (and to the crate docs' \
                     \"Public dependencies\") or to `private` in tests/public_api.rs",
                    checked.dir
                ));
            }
        }
        for dep in &listed {
            if !deps.contains(*dep) {
                problems.push(format!(
                    "{}: `{dep}` is listed in tests/public_api.rs but is no longer a dependency",
                    checked.dir
                ));
            }
        }
        let seen = public_mentions(&dir.join("src"), &deps);
        for (dep, places) in &seen {
            if checked.private.contains(&dep.as_str()) {
                problems.push(format!(
                    "{}: private dependency `{dep}` appears in the public API at {}: make it \
                     public (a decision: its major version becomes ours; list it in `public` \
                     and in the crate docs) or keep it out of public signatures",
                    checked.dir,
                    places.join(", ")
                ));
            }
        }
        for dep in checked.public {
            if !seen.contains_key(*dep) {
                problems.push(format!(
                    "{}: `{dep}` is listed as public but no public signature names it any more: \
                     move it to `private` (and out of the crate docs)",
                    checked.dir
                ));
            }
        }
    }
    for (documented, lists) in DOCUMENTED {
        let lib = read(&crates_dir.join(documented).join("src/lib.rs"));
        let section = doc_section(&lib, "# Public dependencies");
        if section.is_empty() {
            problems.push(format!(
                "{documented}: the crate docs have no \"# Public dependencies\" section"
            ));
        }
        let internal = |d: &str| d.starts_with("pipevideo");
        for checked in CHECKED.iter().filter(|c| lists.contains(&c.dir)) {
            for dep in checked.public.iter().filter(|d| !internal(d)) {
                if !section.contains(&format!("`{dep}`"))
                    && !section.contains(&format!("[`{dep}`]"))
                {
                    problems.push(format!(
                        "{documented}: the docs' \"Public dependencies\" do not name `{dep}` \
                         (public in {})",
                        checked.dir
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn the_signature_scan_sees_public_uses_only() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(
        src.join("lib.rs"),
        r#"
        use std::fmt;
        use tracing::Level;
        use serde::Serialize;
        pub fn level() -> Level { hmac::inside_a_body(); Level::INFO }
        #[derive(Debug, thiserror::Error, Serialize)]
        #[error("{0}")]
        pub struct E(String, base64::Private);
        pub struct F { pub public: url::Url, private: sha2::Sha256 }
        pub trait T { fn m(&self) -> http::StatusCode { subtle::in_a_default_body() } }
        impl From<rand::Thing> for F { fn from(_: rand::Thing) -> Self { loop {} } }
        impl fmt::Display for Private { }
        impl From<bytes::Bytes> for Private { }
        pub(crate) fn hidden(_: httpdate::X) {}
        const C: futures_util::X = 0;
        #[cfg(test)]
        mod tests { pub fn g() -> percent_encoding::X {} }
        "#,
    )
    .unwrap();
    let deps: BTreeSet<String> = [
        "base64",
        "bytes",
        "futures-util",
        "hmac",
        "http",
        "httpdate",
        "percent-encoding",
        "rand",
        "serde",
        "sha2",
        "subtle",
        "thiserror",
        "tracing",
        "url",
    ]
    .map(String::from)
    .into();
    let seen: Vec<String> = public_mentions(&src, &deps).into_keys().collect();
    assert_eq!(seen, ["http", "rand", "serde", "tracing", "url"]);
}

/// The `[dependencies]` of a manifest (not dev- or build-dependencies).
fn manifest_dependencies(manifest: &str) -> BTreeSet<String> {
    let mut deps = BTreeSet::new();
    let mut in_deps = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if !in_deps || line.starts_with('#') || line.is_empty() {
            continue;
        }
        let key = line.split(['=', '.']).next().unwrap_or("").trim();
        if !key.is_empty() {
            deps.insert(key.to_owned());
        }
    }
    deps
}

/// The lines of the crate docs (`//!`) under `heading`, up to the next heading.
fn doc_section(lib: &str, heading: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in lib.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.trim();
        if doc.starts_with('#') {
            inside = doc == heading;
            continue;
        }
        if inside {
            out.push_str(doc);
            out.push('\n');
        }
    }
    out
}

/// For each dependency of `deps` named in a public signature under `src`, where.
///
/// A heuristic that the workspace's `unreachable_pub` lint keeps honest: every `pub` item is
/// reachable, so a `pub` signature is a public one. Read: `pub` functions up to their body,
/// `pub` fields, the bodies of `pub` enums and traits (without default method bodies), `pub
/// use`s, `pub type`s, the attributes (derives) on `pub` items, and the headers of trait impls
/// for the crate's `pub` types. A dependency is named through a path (`http::StatusCode`) or
/// a name the file imports from it (`use http::StatusCode;`). `#[cfg(test)]` items are skipped.
fn public_mentions(src: &Path, deps: &BTreeSet<String>) -> BTreeMap<String, Vec<String>> {
    let idents: BTreeMap<String, String> = deps
        .iter()
        .map(|d| (d.replace('-', "_"), d.clone()))
        .collect();
    let files = rust_files(src);
    let parsed: Vec<(PathBuf, Vec<Tok>)> = files
        .into_iter()
        .map(|f| {
            let tokens = strip_cfg_test(tokenize(&read(&f)));
            (f, tokens)
        })
        .collect();
    // The crate's public type names, for trait impls.
    let mut public_types = BTreeSet::new();
    for (_, tokens) in &parsed {
        for w in tokens.windows(3) {
            if w[0].is("pub")
                && ["struct", "enum", "trait", "type", "union"]
                    .iter()
                    .any(|k| w[1].is(k))
            {
                public_types.insert(w[2].text.clone());
            }
        }
    }
    let mut seen: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (file, tokens) in &parsed {
        let imports = imported_names(tokens, &idents);
        let name = file
            .strip_prefix(src.parent().unwrap_or(src))
            .unwrap_or(file)
            .display()
            .to_string();
        for range in public_fragments(tokens, &public_types) {
            let fragment = &tokens[range];
            for (k, t) in fragment.iter().enumerate() {
                if t.kind != Kind::Ident {
                    continue;
                }
                let is_path_root = fragment.get(k + 1).is_some_and(|n| n.is("::"))
                    && !(k > 0 && fragment[k - 1].is("::"));
                let dep = if is_path_root || (k > 0 && fragment[k - 1].is("use")) {
                    idents.get(&t.text)
                } else {
                    None
                }
                .or_else(|| imports.get(&t.text));
                if let Some(dep) = dep {
                    let derive_only = STD_ONLY_DERIVES.contains(&dep.as_str());
                    if derive_only && in_derive(fragment, k) {
                        continue;
                    }
                    let places = seen.entry(dep.clone()).or_default();
                    let place = format!("{name}:{}", t.line);
                    if !places.contains(&place) {
                        places.push(place);
                    }
                }
            }
        }
    }
    seen
}

/// Whether token `k` of `fragment` sits inside a `#[derive(…)]` attribute.
fn in_derive(fragment: &[Tok], k: usize) -> bool {
    let mut depth = 0_i32;
    for j in (0..k).rev() {
        match fragment[j].text.as_str() {
            ")" | "]" => depth += 1,
            "(" | "[" if depth > 0 => depth -= 1,
            "(" => return j > 0 && fragment[j - 1].is("derive"),
            _ => {}
        }
    }
    false
}

/// Names a file imports from a dependency: `use dep::a::{B, C as D};` maps `B` and `D` (and
/// `use dep;` or `use dep as e;` maps the crate name or its alias).
fn imported_names(tokens: &[Tok], idents: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, t) in tokens.iter().enumerate() {
        if !t.is("use") {
            continue;
        }
        let Some(root) = tokens.get(k + 1) else {
            continue;
        };
        let root = if root.is("::") {
            tokens.get(k + 2)
        } else {
            Some(root)
        };
        let Some(dep) = root.and_then(|r| idents.get(&r.text)) else {
            continue;
        };
        let Ok(end) = find_semicolon(tokens, k + 1) else {
            continue;
        };
        if let Ok(names) = use_tree_names(&tokens[k + 1..end]) {
            for name in names {
                out.insert(name, dep.clone());
            }
        }
    }
    out
}

/// The token ranges of a file that belong to its public API (see [`public_mentions`]).
fn public_fragments(
    tokens: &[Tok],
    public_types: &BTreeSet<String>,
) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    for (k, t) in tokens.iter().enumerate() {
        if t.is("pub") && !tokens.get(k + 1).is_some_and(|n| n.is("(")) {
            let start = attributes_before(tokens, k);
            let keyword = tokens.get(k + 1).map_or("", |n| n.text.as_str());
            let end = match keyword {
                // Up to the `=`: the value is not part of the signature.
                "const" | "static" if !tokens.get(k + 2).is_some_and(|n| n.is("fn")) => {
                    find_at_depth(tokens, k + 1, &["=", ";"])
                }
                "enum" | "trait" | "union" => find_at_depth(tokens, k + 1, &["{", ";"])
                    .and_then(|open| matching(tokens, open).ok()),
                // The header: `pub` tuple fields are read on their own.
                "struct" => find_at_depth(tokens, k + 1, &["{", ";", "("]),
                "mod" => Some(k + 2),
                // fn (any qualifiers), use, type, and fields (`pub name: Type`).
                _ => find_at_depth(tokens, k + 1, &["{", ";", ",", "}"]),
            };
            let end = end.unwrap_or(tokens.len()).min(tokens.len());
            if keyword == "trait" {
                // Keep the method signatures, not the default bodies.
                push_without_bodies(tokens, start, end, &mut out);
            } else {
                out.push(start..end);
            }
        } else if t.is("impl") {
            // `impl<…> Trait for Type<…> {`: public when `Type` is.
            let Some(open) = find_at_depth(tokens, k + 1, &["{", ";"]) else {
                continue;
            };
            let header = &tokens[k..open];
            if let Some(f) = header.iter().position(|t| t.is("for"))
                && header
                    .get(f + 1..)
                    .into_iter()
                    .flatten()
                    .find(|t| t.kind == Kind::Ident && !t.is("dyn"))
                    .is_some_and(|t| public_types.contains(&t.text))
            {
                out.push(k..open);
            }
        }
    }
    out
}

fn push_without_bodies(
    tokens: &[Tok],
    start: usize,
    end: usize,
    out: &mut Vec<std::ops::Range<usize>>,
) {
    // The trait's own `{`: everything up to it, then each item up to its body.
    let Some(open) = find_at_depth(tokens, start, &["{"]).filter(|&o| o < end) else {
        out.push(start..end);
        return;
    };
    out.push(start..open + 1);
    let mut k = open + 1;
    let mut from = k;
    while k < end.saturating_sub(1) {
        if tokens[k].is("{") {
            out.push(from..k);
            k = matching(tokens, k).unwrap_or(end) + 1;
            from = k;
        } else {
            k += 1;
        }
    }
    out.push(from..end);
}

/// The first token of the outer attributes directly before token `k`, or `k`.
fn attributes_before(tokens: &[Tok], k: usize) -> usize {
    let mut start = k;
    while start > 0 && tokens[start - 1].is("]") {
        let Some(open) = opening(tokens, start - 1) else {
            break;
        };
        if open >= 1 && tokens[open - 1].is("#") {
            start = open - 1;
        } else {
            break;
        }
    }
    start
}

/// Removes every item marked `#[cfg(test)]`.
fn strip_cfg_test(tokens: Vec<Tok>) -> Vec<Tok> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut k = 0;
    while k < tokens.len() {
        let is_cfg_test = tokens[k].is("#")
            && tokens.get(k + 1).is_some_and(|t| t.is("["))
            && tokens.get(k + 2).is_some_and(|t| t.is("cfg"))
            && tokens.get(k + 3).is_some_and(|t| t.is("("))
            && tokens.get(k + 4).is_some_and(|t| t.is("test"))
            && tokens.get(k + 5).is_some_and(|t| t.is(")"))
            && tokens.get(k + 6).is_some_and(|t| t.is("]"));
        if is_cfg_test {
            k = skip_item(&tokens, k + 7).unwrap_or(tokens.len());
        } else {
            out.push(tokens[k].clone());
            k += 1;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// A small Rust tokenizer: enough to tell code from comments and string literals, and to match
// brackets.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ident,
    Punct,
    Literal,
}

#[derive(Debug, Clone)]
struct Tok {
    kind: Kind,
    text: String,
    line: usize,
}

impl Tok {
    fn is(&self, text: &str) -> bool {
        self.kind != Kind::Literal && self.text == text
    }
}

fn tokenize(src: &str) -> Vec<Tok> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        let start_line = line;
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if let Some(len) = raw_string_at(&chars, i) {
            line += chars[i..i + len].iter().filter(|&&c| c == '\n').count();
            out.push(tok(
                Kind::Literal,
                chars[i..i + len].iter().collect(),
                start_line,
            ));
            i += len;
        } else if c == '"' || (c == 'b' || c == 'c') && at(i + 1) == '"' {
            let from = i;
            i += if c == '"' { 1 } else { 2 };
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                line += usize::from(at(i) == '\n');
                i += 1;
            }
            i += 1;
            let text: String = chars[from..i.min(chars.len())].iter().collect();
            out.push(tok(Kind::Literal, text, start_line));
        } else if c == '\'' || c == 'b' && at(i + 1) == '\'' {
            // A char literal ('x', '\n', '\''), or a lifetime ('a).
            let q = if c == 'b' { i + 1 } else { i };
            let is_char = at(q + 1) == '\\' || at(q + 2) == '\'';
            if is_char {
                let mut j = q + 1;
                if at(j) == '\\' {
                    j += 2;
                }
                while j < chars.len() && chars[j] != '\'' {
                    j += 1;
                }
                out.push(tok(
                    Kind::Literal,
                    chars[i..=j].iter().collect(),
                    start_line,
                ));
                i = j + 1;
            } else {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                out.push(tok(Kind::Ident, chars[i..j].iter().collect(), start_line));
                i = j;
            }
        } else if c.is_alphabetic() || c == '_' {
            let from = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            // `r#ident`
            let text: String = chars[from..i].iter().collect();
            out.push(tok(Kind::Ident, text, start_line));
        } else if c.is_ascii_digit() {
            let from = i;
            while i < chars.len()
                && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
            {
                i += 1;
            }
            out.push(tok(
                Kind::Literal,
                chars[from..i].iter().collect(),
                start_line,
            ));
        } else if c == ':' && at(i + 1) == ':' {
            out.push(tok(Kind::Punct, "::".to_owned(), start_line));
            i += 2;
        } else if c == '-' && at(i + 1) == '>' {
            out.push(tok(Kind::Punct, "->".to_owned(), start_line));
            i += 2;
        } else if c == '=' && at(i + 1) == '>' {
            out.push(tok(Kind::Punct, "=>".to_owned(), start_line));
            i += 2;
        } else {
            out.push(tok(Kind::Punct, c.to_string(), start_line));
            i += 1;
        }
    }
    out
}

fn tok(kind: Kind, text: String, line: usize) -> Tok {
    Tok { kind, text, line }
}

/// The length of a raw (byte/C) string literal starting at `i` (`r"…"`, `r#"…"#`, `br#"…"#`).
fn raw_string_at(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if matches!(chars.get(j), Some('b' | 'c')) {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    // Not part of a longer identifier.
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    if chars.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < chars.len() {
        if chars[j] == '"'
            && chars[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return Some(j + 1 + hashes - i);
        }
        j += 1;
    }
    Some(chars.len() - i)
}

fn closing_of(open: &str) -> Option<&'static str> {
    match open {
        "(" => Some(")"),
        "[" => Some("]"),
        "{" => Some("}"),
        _ => None,
    }
}

/// The index of the bracket closing the one at `open`.
fn matching(tokens: &[Tok], open: usize) -> Result<usize, String> {
    let opener = tokens
        .get(open)
        .ok_or_else(|| "unexpected end of file".to_owned())?;
    if closing_of(&opener.text).is_none() || opener.kind != Kind::Punct {
        return Err(format!(
            "line {}: expected a bracket, found `{}`",
            opener.line, opener.text
        ));
    }
    let mut depth = 0_i32;
    for (k, t) in tokens.iter().enumerate().skip(open) {
        if t.kind != Kind::Punct {
            continue;
        }
        match t.text.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => {
                depth -= 1;
                if depth == 0 {
                    return Ok(k);
                }
            }
            _ => {}
        }
    }
    Err(format!("line {}: unclosed `{}`", opener.line, opener.text))
}

/// The index of the bracket opening the one closing at `close`.
fn opening(tokens: &[Tok], close: usize) -> Option<usize> {
    let mut depth = 0_i32;
    for k in (0..=close).rev() {
        let t = &tokens[k];
        if t.kind != Kind::Punct {
            continue;
        }
        match t.text.as_str() {
            ")" | "]" | "}" => depth += 1,
            "(" | "[" | "{" => {
                depth -= 1;
                if depth == 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

/// The first of `stops` at bracket depth 0 from `from` on, or the first unmatched closing
/// bracket (the end of the enclosing group).
fn find_at_depth(tokens: &[Tok], from: usize, stops: &[&str]) -> Option<usize> {
    let mut depth = 0_i32;
    for (k, t) in tokens.iter().enumerate().skip(from) {
        if t.kind != Kind::Punct {
            continue;
        }
        if depth == 0 && stops.contains(&t.text.as_str()) {
            return Some(k);
        }
        match t.text.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => {
                depth -= 1;
                if depth < 0 {
                    return Some(k);
                }
            }
            _ => {}
        }
    }
    None
}

fn find_semicolon(tokens: &[Tok], from: usize) -> Result<usize, String> {
    find_at_depth(tokens, from, &[";"]).ok_or_else(|| "expected `;`".to_owned())
}

/// The end of an item whose name is before `from`: after its `;` or its `{ … }` body
/// (and a `;` right after the body).
fn skip_item(tokens: &[Tok], from: usize) -> Result<usize, String> {
    let stop = find_at_depth(tokens, from, &[";", "{"]).ok_or_else(|| {
        format!(
            "line {}: expected an item body",
            tokens.get(from).map_or(0, |t| t.line)
        )
    })?;
    if tokens[stop].is(";") {
        return Ok(stop + 1);
    }
    let close = matching(tokens, stop)?;
    Ok(if tokens.get(close + 1).is_some_and(|t| t.is(";")) {
        close + 2
    } else {
        close + 1
    })
}

fn ident_at(tokens: &[Tok], k: usize) -> Result<String, String> {
    match tokens.get(k) {
        Some(t) if t.kind == Kind::Ident => Ok(t.text.clone()),
        Some(t) => Err(format!(
            "line {}: expected a name, found `{}`",
            t.line, t.text
        )),
        None => Err("unexpected end of file".to_owned()),
    }
}

// ---------------------------------------------------------------------------------------------

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let entries = fs::read_dir(&d).unwrap_or_else(|e| panic!("reading {}: {e}", d.display()));
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}
