//! The core's house rules, checked on its source:
//!
//! 1. **The driver holds no rule.** Nothing under `src/client/` names an HTTP status, builds a
//!    `Duration` constant or makes a retry decision: those live in the sans-IO modules
//!    (`call`, `retry`, `poll`, `download`, `policy`), where they are tested in virtual time.
//! 2. **No import cycle.** The core's top-level modules form layers: each may use the ones
//!    below it, never one that uses it back (directly or through others).
//!
//! Only code counts: comments, doc comments and `#[cfg(test)]` modules are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The code of a file: without its `#[cfg(test)] mod tests` block, comments and doc comments.
/// String literals are blanked so that a message mentioning "404" is not code.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                return None;
            }
            let code = match line.find("//") {
                Some(j) if !line[..j].contains('"') => &line[..j],
                _ => line,
            };
            Some((i + 1, blank_strings(code)))
        })
        .collect()
}

fn blank_strings(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in line.chars() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
                out.push('"');
            }
            continue;
        }
        if c == '"' {
            in_string = true;
        }
        out.push(c);
    }
    out
}

/// A three-digit number from 100 to 599 standing alone: an HTTP status written as a literal.
fn status_literal(line: &str) -> Option<&str> {
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let before = start.checked_sub(1).map(|j| bytes[j]);
            let word = &line[start..i];
            let standalone = !before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_');
            if standalone
                && word.len() == 3
                && word.chars().all(|c| c.is_ascii_digit())
                && ("100"..="599").contains(&word)
            {
                return Some(word);
            }
        } else {
            i += 1;
        }
    }
    None
}

#[test]
fn the_client_driver_holds_no_pipevideo_rule() {
    let forbidden = [
        ("StatusCode::", "an HTTP status"),
        ("as_u16()", "an HTTP status"),
        ("is_success()", "a status rule"),
        ("is_server_error()", "a status rule"),
        ("Duration::from_", "a Duration constant"),
        ("Duration::ZERO", "a Duration constant"),
        ("Duration::MAX", "a Duration constant"),
        ("RetryState", "a retry decision"),
        (".decide(", "a retry decision"),
        ("Verdict::", "a retry decision"),
        ("RequestKind::KeyedCreate", "a retry decision"),
        ("RequestKind::UnkeyedCreate", "a retry decision"),
    ];
    let files = rust_files(&src().join("client"));
    assert!(files.len() >= 6, "the client's rooms: {files:?}");
    let mut found = Vec::new();
    for file in &files {
        for (n, line) in code_lines(file) {
            for (needle, what) in forbidden {
                if line.contains(needle) {
                    found.push(format!("{}:{n}: {what}: {}", file.display(), line.trim()));
                }
            }
            if let Some(status) = status_literal(&line) {
                found.push(format!(
                    "{}:{n}: an HTTP status literal {status}: {}",
                    file.display(),
                    line.trim()
                ));
            }
        }
    }
    assert!(
        found.is_empty(),
        "rules belong in the sans-IO core, not in the async driver:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scanner_sees_what_it_must() {
    assert_eq!(status_literal("match s { 429 => x }"), Some("429"));
    assert_eq!(status_literal("let n = 4290;"), None);
    assert_eq!(status_literal("v2_404"), None);
    assert_eq!(status_literal("Some(600)"), None);
    assert_eq!(blank_strings(r#"say("404 \" 500") + 1"#), r#"say("") + 1"#);
}

/// The top-level modules of the crate and which others each one's code names.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = src();
    let lib = fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut modules = BTreeMap::<String, Vec<PathBuf>>::new();
    for entry in fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        if name == "lib" {
            continue;
        }
        let files = if path.is_dir() {
            rust_files(&path)
        } else {
            vec![path]
        };
        modules.insert(name, files);
    }
    // Names re-exported at the crate root, and the module each comes from.
    let mut root = BTreeMap::<String, String>::new();
    let code: String = lib
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    for stmt in code.split(';') {
        let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, names)) = rest.split_once("::") else {
            continue;
        };
        for name in names
            .split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|n| !n.is_empty())
        {
            root.insert(name.to_owned(), module.to_owned());
        }
    }
    let mut graph = BTreeMap::<String, BTreeSet<String>>::new();
    for (module, files) in &modules {
        let uses = graph.entry(module.clone()).or_default();
        for file in files {
            let code: String = code_lines(file)
                .into_iter()
                .map(|(_, l)| l)
                .collect::<Vec<_>>()
                .join("\n");
            let mut rest = code.as_str();
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                // `crate::a` or `crate::{a, b::c, D}`: the first segment of each path.
                let names: Vec<&str> = if let Some(group) = rest.strip_prefix('{') {
                    let end = group.find("};").or_else(|| group.find('}')).unwrap_or(0);
                    group[..end]
                        .split(',')
                        .map(|p| p.trim().split("::").next().unwrap_or("").trim())
                        .collect()
                } else {
                    let end = rest
                        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .unwrap_or(rest.len());
                    vec![&rest[..end]]
                };
                for name in names {
                    let target = if modules.contains_key(name) {
                        Some(name.to_owned())
                    } else {
                        root.get(name).cloned()
                    };
                    if let Some(target) = target.filter(|t| t != module) {
                        uses.insert(target);
                    }
                }
            }
        }
    }
    graph
}

#[test]
fn the_core_has_no_import_cycle() {
    let graph = module_graph();
    assert!(graph.contains_key("client") && graph.contains_key("error"));
    assert!(
        graph["client"].contains("call"),
        "the scan sees the client's uses: {graph:?}"
    );
    // Depth-first search for a path back to the start.
    fn path_back(
        graph: &BTreeMap<String, BTreeSet<String>>,
        start: &str,
        at: &str,
        seen: &mut BTreeSet<String>,
        path: &mut Vec<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.insert(next.clone()) {
                path.push(next.clone());
                if path_back(graph, start, next, seen, path) {
                    return true;
                }
                path.pop();
            }
        }
        false
    }
    let mut cycles = Vec::new();
    for start in graph.keys() {
        let mut path = vec![start.clone()];
        if path_back(&graph, start, start, &mut BTreeSet::new(), &mut path) {
            cycles.push(path.join(" -> "));
        }
    }
    assert!(
        cycles.is_empty(),
        "import cycles between the core's modules:\n{}\nthe graph: {graph:#?}",
        cycles.join("\n")
    );
    // The layering ARCHITECTURE.md describes, spelled out where it matters most.
    assert!(!graph["error"].contains("client"));
    assert!(!graph["retry"].contains("error"));
    assert!(!graph["policy"].contains("retry") && !graph["policy"].contains("poll"));
}
