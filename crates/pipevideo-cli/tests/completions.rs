//! `pipevideo completions <SHELL>` and `pipevideo man`: printed on stdout, with no key, no
//! network and no session.

use std::io::Write;
use std::process::{Command, Output, Stdio};

mod common;

/// The binary with nothing of the caller's Pipevideo settings, and a proxy that goes nowhere: a
/// command that opened a connection would fail.
fn pipevideo(args: &[&str]) -> Output {
    common::pipevideo()
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("HTTP_PROXY", "http://127.0.0.1:9")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn stdout_of(args: &[&str]) -> String {
    let out = pipevideo(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{args:?}:\n{stderr}");
    assert!(stderr.is_empty(), "{args:?} wrote on stderr:\n{stderr}");
    String::from_utf8(out.stdout).expect("UTF-8 on stdout")
}

const SUBCOMMANDS: [&str; 9] = [
    "generate",
    "get",
    "wait",
    "usage",
    "engines",
    "models",
    "webhook",
    "completions",
    "man",
];

#[test]
fn bash_completion_names_the_subcommands_and_options_and_is_valid_bash() {
    let script = stdout_of(&["completions", "bash"]);
    for word in SUBCOMMANDS {
        assert!(script.contains(word), "{word} is missing:\n{script}");
    }
    for option in [
        "--api-key",
        "--base-url",
        "--ca-cert",
        "--output",
        "--timeout",
    ] {
        assert!(script.contains(option), "{option} is missing");
    }
    assert!(script.contains("complete -F _pipevideo"), "{script}");

    // `bash -n` reads the script without running it: a syntax check.
    let Ok(mut bash) = Command::new("bash")
        .arg("-n")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    else {
        eprintln!("no bash here: the syntax check is skipped");
        return;
    };
    bash.stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("the script is written");
    let checked = bash.wait_with_output().expect("bash ran");
    assert!(
        checked.status.success(),
        "bash -n refused the script:\n{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[test]
fn every_shell_gets_a_script() {
    for (shell, mark) in [
        ("bash", "_pipevideo"),
        ("zsh", "#compdef pipevideo"),
        ("fish", "complete -c pipevideo"),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "edit:completion:arg-completer[pipevideo]"),
    ] {
        let script = stdout_of(&["completions", shell]);
        assert!(script.contains(mark), "{shell}: no {mark}:\n{script}");
        assert!(script.contains("generate"), "{shell}");
    }
}

#[test]
fn an_unknown_shell_is_bad_usage() {
    let out = pipevideo(&["completions", "cmd.exe"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bash"),
        "the shells are not listed:\n{stderr}"
    );
}

#[test]
fn the_man_page_is_roff_and_names_the_options() {
    let page = stdout_of(&["man"]);
    let header = page
        .lines()
        .find(|line| line.starts_with(".TH"))
        .unwrap_or_else(|| panic!("no .TH header:\n{page}"));
    assert!(header.starts_with(".TH pipevideo 1"), "{header}");
    // Nothing but roff's own setup comes before the header.
    for line in page.lines().take_while(|line| !line.starts_with(".TH")) {
        assert!(
            line.starts_with(".ie") || line.starts_with(".el") || line.starts_with(".\\\""),
            "{line}"
        );
    }
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION"] {
        assert!(page.contains(section), "{section} is missing");
    }
    // roff escapes every hyphen of an option.
    for option in [
        "\\-\\-api\\-key",
        "\\-\\-base\\-url",
        "\\-\\-ca\\-cert",
        "\\-\\-emulator",
        "\\-\\-json",
    ] {
        assert!(page.contains(option), "{option} is missing");
    }
    for variable in ["PIPEVIDEO_API_KEY", "PIPEVIDEO_CA_CERT"] {
        assert!(page.contains(variable), "{variable} is missing");
    }
    for word in SUBCOMMANDS {
        assert!(page.contains(word), "{word} is missing");
    }
    assert!(page.contains("Exit codes"), "the exit codes are missing");
}

#[test]
fn neither_prints_the_key_from_the_environment() {
    let key = "pv_completionsmustnotshowthis0123";
    for args in [
        &["man"][..],
        &["completions", "bash"],
        &["completions", "zsh"],
    ] {
        let out = common::pipevideo()
            .env("PIPEVIDEO_API_KEY", key)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("the binary runs");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        for text in [&out.stdout, &out.stderr] {
            assert!(
                !String::from_utf8_lossy(text).contains("mustnotshowthis"),
                "{args:?} printed the key"
            );
        }
    }
}
