//! End-to-end tests of the `pipevideo` binary against the emulator: `--emulator` in-process, or
//! an emulator started here and passed with `--base-url` (so its request log can be read).
//!
//! Every run goes through [`run`], which searches stdout and stderr for every key the test
//! knows: no output of any command, including argument-parsing errors, may contain one.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use assert_cmd::prelude::*;
use pipevideo::core::policy::PollSchedule;
use pipevideo_emulator::{BackgroundEmulator, Emulator, Fault, FaultRule};
use serde_json::Value;

/// Emulated time runs 50× faster in the tests' own emulators: a 55 s job takes about 1.1 s.
const SCALE: &str = "0.02";

use common::pipevideo;

mod common;

/// An emulator for a test, started on its own thread.
fn emulator(seed: u64) -> BackgroundEmulator {
    Emulator::builder()
        .time_scale(0.02)
        .seed(seed)
        .failure_rate(0.0)
        .start_in_background()
        .expect("the emulator starts")
}

/// The demo key `--emulator --emulator-seed <seed>` uses (keys derive from the seed only).
fn demo_key_for_seed(seed: u64) -> String {
    emulator(seed).demo_key().to_owned()
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs the command and checks that no secret appears anywhere in its output.
fn run(cmd: &mut Command, secrets: &[&str]) -> Run {
    let assert = cmd.assert();
    let out = assert.get_output();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_no_secret(&run.stdout, &run.stderr, secrets);
    run
}

fn assert_no_secret(stdout: &str, stderr: &str, secrets: &[&str]) {
    for secret in secrets {
        common::assert_no_secret(stdout, stderr, secret);
    }
}

fn is_mp4(bytes: &[u8]) -> bool {
    bytes.len() > 8 && &bytes[4..8] == b"ftyp"
}

/// GETs a loopback `http://` URL with a bare HTTP/1.1 request; returns the body.
fn fetch(url: &str) -> Vec<u8> {
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').expect("a path"));
    let mut stream = TcpStream::connect(host).expect("connects");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("writes");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("reads");
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("headers end");
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let body = response[split + 4..].to_vec();
    if let Some(len) = head.lines().find_map(|l| l.strip_prefix("content-length:")) {
        assert_eq!(len.trim().parse::<usize>().unwrap(), body.len());
    }
    body
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not one JSON document ({e}):\n{text}"))
}

#[test]
fn the_readme_command_saves_a_valid_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cat.mp4");
    let key = demo_key_for_seed(11);
    let r = run(
        pipevideo()
            .args([
                "--emulator",
                "--emulator-seed",
                "11",
                "generate",
                "A cat on a beach",
                "--output",
            ])
            .arg(&out),
        &[&key],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let video = std::fs::read(&out).unwrap();
    assert!(is_mp4(&video), "not an MP4");
    assert!(!dir.path().join("cat.mp4.part").exists());
    assert!(r.stdout.contains("completed in"), "{}", r.stdout);
    assert!(
        r.stdout.contains(&format!("{} bytes", video.len())),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("pipevideo wait responses:gen_"),
        "{}",
        r.stderr
    );
}

#[test]
fn generate_without_output_prints_the_video_url_and_the_file_matches_what_is_served() {
    let emu = emulator(21);
    let key = emu.demo_key().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("video.mp4");
    let base = emu.base_url();
    let r = run(
        pipevideo()
            .args([
                "--base-url",
                &base,
                "--api-key",
                &key,
                "--emulator-time-scale",
                SCALE,
            ])
            .args(["generate", "A paper plane over Lisbon"]),
        &[&key],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!out.exists());
    let url = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("video  "))
        .expect("a video line")
        .trim()
        .to_owned();
    assert!(url.starts_with(emu.origin()), "{url}");
    assert!(!r.stdout.contains("saved"));

    // The same generation again with --output: the file is byte for byte what is served.
    let reference = r
        .stdout
        .split_whitespace()
        .next()
        .expect("the summary starts with the reference")
        .to_owned();
    let r = run(
        pipevideo()
            .args([
                "--base-url",
                &base,
                "--api-key",
                &key,
                "--emulator-time-scale",
                SCALE,
            ])
            .args(["--json", "wait", &reference, "--output"])
            .arg(&out),
        &[&key],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = json(&r.stdout);
    let saved = std::fs::read(&out).unwrap();
    let served = fetch(doc["video_url"].as_str().unwrap());
    assert!(is_mp4(&served));
    assert_eq!(saved, served);
    assert_eq!(doc["output"]["bytes"].as_u64(), Some(served.len() as u64));
}

#[test]
fn json_output_is_one_document() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cat.mp4");
    let key = demo_key_for_seed(12);
    let r = run(
        pipevideo()
            .args([
                "--emulator",
                "--emulator-seed",
                "12",
                "--json",
                "generate",
                "A cat",
                "-o",
            ])
            .arg(&out),
        &[&key],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = json(&r.stdout);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["status"], "completed");
    let reference = doc["reference"].as_str().unwrap();
    assert!(reference.starts_with("responses:gen_"), "{reference}");
    assert_eq!(doc["generation"]["reference"], reference);
    assert_eq!(doc["generation"]["body"]["status"], "completed");
    assert!(doc["polls"].as_u64().unwrap() >= 1);
    assert_eq!(
        doc["cost_usd"], 0.12,
        "the emulator's price of a generation"
    );
    let bytes = std::fs::metadata(&out).unwrap().len();
    assert_eq!(doc["output"]["bytes"].as_u64(), Some(bytes));
    // No spinner, no notes: stderr is empty with --json on success.
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}

#[test]
fn exit_code_1_when_the_generation_fails() {
    let key = demo_key_for_seed(13);
    let r = run(
        pipevideo().args([
            "--emulator",
            "--emulator-seed",
            "13",
            "generate",
            "A cat [fail:provider_timeout]",
        ]),
        &[&key],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("error: Generation responses:gen_"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("failed"), "{}", r.stderr);
    assert!(r.stderr.contains("hint: "), "{}", r.stderr);
}

#[test]
fn exit_code_2_for_bad_usage() {
    let r = run(pipevideo().args(["generate"]), &[]);
    assert_eq!(r.code, 2);
    let r = run(
        pipevideo().args(["--emulator", "generate", "x", "--timeout", "soon"]),
        &[],
    );
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--timeout"), "{}", r.stderr);
    let r = run(pipevideo().args(["usage"]), &[]);
    assert_eq!(r.code, 2, "no key at all");
    assert!(r.stderr.contains("PIPEVIDEO_API_KEY") && r.stderr.contains("--emulator"));
    let r = run(
        pipevideo().args([
            "--emulator",
            "generate",
            "x",
            "--output",
            "/nonexistent/dir/x.mp4",
        ]),
        &[],
    );
    assert_eq!(
        r.code, 2,
        "an --output that cannot work is refused before creating"
    );
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
}

#[test]
fn exit_code_3_and_the_hint_for_an_expired_key() {
    let emu = emulator(31);
    let expired = emu.expired_key().to_owned();
    let demo = emu.demo_key().to_owned();
    let r = run(
        pipevideo().args([
            "--base-url",
            &emu.base_url(),
            "--api-key",
            &expired,
            "usage",
        ]),
        &[&expired, &demo],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("401"), "{}", r.stderr);
    assert!(r.stderr.contains("API key has expired"), "{}", r.stderr);
    assert!(r.stderr.contains("hint: Create a new key"), "{}", r.stderr);
    // The key did reach the server (and was refused there).
    assert_eq!(emu.requests().len(), 1);
    assert_eq!(emu.requests()[0].status, 401);

    let r = run(
        pipevideo().args([
            "--base-url",
            &emu.base_url(),
            "--api-key",
            &expired,
            "--json",
            "generate",
            "x",
        ]),
        &[&expired, &demo],
    );
    assert_eq!(r.code, 3);
    let doc = json(&r.stdout);
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["exit_code"], 3);
    assert_eq!(doc["error"]["http_status"], 401);
    assert_eq!(doc["error"]["kind"], "unauthorized");
}

#[test]
fn exit_code_3_with_a_top_up_hint_when_credits_run_out() {
    let emu = emulator(32);
    let broke = emu.no_credits_key().to_owned();
    let r = run(
        pipevideo().args([
            "--base-url",
            &emu.base_url(),
            "--api-key",
            &broke,
            "generate",
            "x",
        ]),
        &[&broke],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("balance is too low"), "{}", r.stderr);
    assert!(r.stderr.contains("Top up"), "{}", r.stderr);
}

#[test]
fn exit_code_4_when_the_timeout_passes_first_with_the_resume_command() {
    let key = demo_key_for_seed(14);
    let r = run(
        pipevideo().args([
            "--emulator",
            "--emulator-seed",
            "14",
            "--emulator-time-scale",
            "1",
            "generate",
            "A slow cat",
            "--timeout",
            "1s",
        ]),
        &[&key],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    assert!(
        r.stderr.contains("did not finish within 1.0 s"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("resume with `pipevideo wait responses:gen_"),
        "{}",
        r.stderr
    );
}

#[test]
fn exit_code_5_when_the_video_cannot_be_downloaded() {
    let emu = emulator(15);
    emu.push_fault(FaultRule::new(Fault::ServerError).path("/files").times(10));
    let key = emu.demo_key().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v.mp4");
    let r = run(
        pipevideo()
            .args([
                "--base-url",
                &emu.base_url(),
                "--api-key",
                &key,
                "--emulator-time-scale",
                SCALE,
            ])
            .args(["generate", "x", "--output"])
            .arg(&out),
        &[&key],
    );
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("The generation completed, but"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("pipevideo wait responses:gen_"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no temporary file left"
    );
}

/// `--output` is checked before anything is sent: an existing file (without `--force`), a
/// missing directory and a directory that cannot be written are refused with exit 2, and the
/// emulator sees no request at all.
#[test]
fn an_output_that_cannot_be_written_is_refused_before_any_request() {
    let emu = emulator(17);
    let key = emu.demo_key().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("kept.mp4");
    std::fs::write(&existing, b"keep me").unwrap();
    let cases = [
        (existing.clone(), "the file exists"),
        (dir.path().join("missing/v.mp4"), "does not exist"),
        // Not writable even for root.
        (std::path::PathBuf::from("/proc/v.mp4"), "not writable"),
    ];
    for (path, why) in cases {
        let r = run(
            pipevideo()
                .args(["--base-url", &emu.base_url(), "--api-key", &key])
                .args(["generate", "x", "--output"])
                .arg(&path),
            &[&key],
        );
        assert_eq!(r.code, 2, "{}: {}", path.display(), r.stderr);
        assert!(r.stderr.contains(why), "{}", r.stderr);
        assert!(r.stderr.contains("Nothing was sent"), "{}", r.stderr);
        assert!(
            emu.requests().is_empty(),
            "a request was sent for {}",
            path.display()
        );
    }
    assert_eq!(std::fs::read(&existing).unwrap(), b"keep me");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // With --force the file is replaced by the video.
    let r = run(
        pipevideo()
            .args(["--base-url", &emu.base_url(), "--api-key", &key])
            .args(["--emulator-time-scale", SCALE])
            .args(["generate", "x", "--force", "--output"])
            .arg(&existing),
        &[&key],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(is_mp4(&std::fs::read(&existing).unwrap()));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// Ctrl-C while the video downloads: exit 130 and nothing left in the directory.
#[test]
fn ctrl_c_during_the_download_leaves_no_temporary_file() {
    let emu = emulator(18);
    emu.push_fault(FaultRule::new(Fault::StallBody { delay_ms: 60_000 }).path("/files"));
    let key = emu.demo_key().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let mut child = pipevideo()
        .args(["--base-url", &emu.base_url(), "--api-key", &key])
        .args(["--emulator-time-scale", SCALE])
        .args(["generate", "x", "--output"])
        .arg(dir.path().join("v.mp4"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "ended early: {seen}"
        );
        seen.push_str(&line);
        if line.starts_with("Downloading ") {
            break;
        }
    }
    // The request reaches the stalled host; the temporary file exists.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "{seen}");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    seen.push_str(&rest);
    let code = child.wait().unwrap().code();
    assert_no_secret("", &seen, &[&key]);
    assert_eq!(code, Some(130), "{seen}");
    assert!(seen.contains("while downloading the video of"), "{seen}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{seen}");
}

#[test]
fn exit_code_130_on_ctrl_c_with_the_resume_command() {
    let key = demo_key_for_seed(16);
    let mut child = pipevideo()
        .args([
            "--emulator",
            "--emulator-seed",
            "16",
            "--emulator-time-scale",
            "1",
        ])
        .args(["generate", "A cat that takes a minute"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "ended early: {seen}"
        );
        seen.push_str(&line);
        if line.starts_with("Created ") {
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    seen.push_str(&rest);
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let code = child.wait().unwrap().code();
    assert_no_secret(&stdout, &seen, &[&key]);
    assert_eq!(code, Some(130), "{seen}");
    assert!(
        seen.contains("Interrupted while waiting for responses:gen_"),
        "{seen}"
    );
    assert!(
        seen.contains("resume with `pipevideo wait responses:gen_"),
        "{seen}"
    );
}

#[test]
fn faults_on_and_the_video_still_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cat.mp4");
    let key = demo_key_for_seed(3);
    let r = run(
        pipevideo()
            .args([
                "--emulator",
                "--emulator-seed",
                "3",
                "--emulator-faults=0.4",
            ])
            .args(["generate", "A cat on a beach", "--output"])
            .arg(&out),
        &[&key],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(is_mp4(&std::fs::read(&out).unwrap()));
    assert!(
        r.stderr.contains("with faults on 40% of requests"),
        "{}",
        r.stderr
    );
    // The fault draws are seeded: with seed 3 the create itself is answered 429 first, and the
    // person watching sees the SDK hold and retry.
    assert!(
        r.stderr
            .contains("↻ POST /v1/responses: 429 Too Many Requests"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains("met a fault and"), "{}", r.stdout);
}

#[test]
fn a_key_with_a_space_is_refused_before_any_request() {
    let emu = emulator(41);
    let real = emu.demo_key().to_owned();
    let spaced = format!("{} ", real);
    let inner = format!("{} {}", &real[..10], &real[10..]);
    for bad in [&spaced, &inner] {
        let r = run(
            pipevideo().args([
                "--base-url",
                &emu.base_url(),
                "--api-key",
                bad,
                "generate",
                "x",
            ]),
            &[&real, bad],
        );
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains("whitespace"), "{}", r.stderr);
        assert!(r.stderr.contains("before any request"), "{}", r.stderr);
    }
    // From the environment too (a pasted newline).
    let r = run(
        pipevideo()
            .env("PIPEVIDEO_API_KEY", format!("{real}\n"))
            .args(["--base-url", &emu.base_url(), "usage"]),
        &[&real],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("whitespace"), "{}", r.stderr);
    assert!(
        emu.requests().is_empty(),
        "a request was sent: {:?}",
        emu.requests()
    );
}

#[test]
fn argument_errors_never_echo_the_key() {
    let key = "pv_0123456789abcdef0123456789abcdef";
    let cases: Vec<Vec<&str>> = vec![
        vec!["--api-key", "pv_01234 56789abcdef0123456789abcdef"],
        vec!["--api-key", key, "--bogus", "usage"],
        vec!["--api-key", key, "generate"],
        vec!["--api-key", key, "frobnicate"],
        vec!["--api-key", key, "--api-key", key, "usage"],
        vec!["--api-key", key, "generate", "x", "--timeout", "never"],
        vec!["--api-key", key, "--base-url", "ftp://example.com", "usage"],
        vec!["--api-key=-pv_dash key", "usage"],
        vec!["--api-key", key, "get"],
        vec!["--api-key", key, "get", "weird:gen_1"],
        vec!["--help"],
        vec!["--api-key", key, "generate", "--help"],
    ];
    for args in cases {
        let r = run(
            pipevideo().args(&args),
            &[key, "pv_01234 56789abcdef", "pv_dash key"],
        );
        assert!(
            r.code != 0 || args.contains(&"--help"),
            "{args:?} succeeded?"
        );
    }
    // The environment variable's value is never shown in --help either.
    let r = run(
        pipevideo().env("PIPEVIDEO_API_KEY", key).arg("--help"),
        &[key],
    );
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("PIPEVIDEO_API_KEY"));
}

#[test]
fn help_documents_the_exit_codes() {
    let r = run(pipevideo().arg("--help"), &[]);
    assert_eq!(r.code, 0);
    for needle in ["Exit codes:", "130", "pipevideo wait <ref>", "--emulator"] {
        assert!(r.stdout.contains(needle), "{needle} missing:\n{}", r.stdout);
    }
}

#[test]
fn no_wait_then_wait_then_get_resume_one_generation() {
    let emu = emulator(51);
    let key = emu.demo_key().to_owned();
    let base = emu.base_url();
    let common = [
        "--base-url",
        base.as_str(),
        "--api-key",
        key.as_str(),
        "--emulator-time-scale",
        SCALE,
    ];
    let r = run(
        pipevideo()
            .args(common)
            .args(["generate", "A cat", "--no-wait"]),
        &[&key],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let reference = r.stdout.trim().to_owned();
    assert!(
        reference.starts_with("responses:gen_"),
        "stdout is only the reference: {reference}"
    );

    let r = run(pipevideo().args(common).args(["wait", &reference]), &[&key]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.contains(&format!("{reference} completed")),
        "{}",
        r.stdout
    );

    let r = run(
        pipevideo().args(common).args(["--json", "get", &reference]),
        &[&key],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = json(&r.stdout);
    assert_eq!(doc["generation"]["status"], "completed");
    assert!(doc["generation"]["video_url"].is_string());

    let id = reference.strip_prefix("responses:").unwrap();
    let r = run(pipevideo().args(common).args(["get", id]), &[&key]);
    assert_eq!(r.code, 0, "a bare id is a responses id");
    let r = run(
        pipevideo()
            .args(common)
            .args(["get", "--legacy", "gen_doesnotexist"]),
        &[&key],
    );
    assert_eq!(r.code, 3, "no such generation: 404");
    assert!(r.stderr.contains("404"), "{}", r.stderr);
}

#[test]
fn legacy_generate_works_end_to_end() {
    let key = demo_key_for_seed(52);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("legacy.mp4");
    let r = run(
        pipevideo()
            .args(["--emulator", "--emulator-seed", "52", "--json"])
            .args([
                "generate",
                "A cat",
                "--legacy",
                "--aspect-ratio",
                "16:9",
                "--output",
            ])
            .arg(&out),
        &[&key],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = json(&r.stdout);
    assert!(
        doc["reference"]
            .as_str()
            .unwrap()
            .starts_with("legacy:gen_")
    );
    assert!(is_mp4(&std::fs::read(&out).unwrap()));
}

#[test]
fn usage_engines_and_models() {
    let emu = emulator(61);
    let key = emu.demo_key().to_owned();
    let base = emu.base_url();
    let common = ["--base-url", base.as_str(), "--api-key", key.as_str()];

    let r = run(pipevideo().args(common).arg("usage"), &[&key]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("balance   $100.00"), "{}", r.stdout);
    let r = run(pipevideo().args(common).args(["--json", "usage"]), &[&key]);
    assert_eq!(json(&r.stdout)["usage"]["credit_balance"], 10000.0);

    // Engines need no key at all.
    let r = run(pipevideo().args(["--base-url", &base, "engines"]), &[&key]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("hyperframes"), "{}", r.stdout);
    assert!(r.stdout.contains("moonshotai/kimi-k2.5"), "{}", r.stdout);
    assert!(
        r.stdout.contains("$0.60 / M input tokens"),
        "rates are read: {}",
        r.stdout
    );

    let r = run(pipevideo().args(common).arg("models"), &[&key]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("google/veo-3.1"), "{}", r.stdout);
    let r = run(
        pipevideo()
            .args(common)
            .args(["--json", "models", "google/veo-3.1"]),
        &[&key],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(json(&r.stdout)["model"]["model"]["slug"], "google/veo-3.1");
}

#[test]
fn verbose_logs_never_contain_the_key() {
    let key = demo_key_for_seed(71);
    let r = run(
        pipevideo().args([
            "--emulator",
            "--emulator-seed",
            "71",
            "-vvv",
            "generate",
            "A cat",
        ]),
        &[&key],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("DEBUG") || r.stderr.contains("TRACE"),
        "no tracing output:\n{}",
        r.stderr
    );
}

/// How many polls the default (real-time) schedule makes before one at or past `length` after
/// creation, for each of `seeds` jitter draws: the fewest and the most.
fn default_schedule_polls(length: Duration, seeds: u64) -> (u32, u32) {
    use rand::SeedableRng;
    let schedule = PollSchedule::default();
    let (mut fewest, mut most) = (u32::MAX, 0);
    for seed in 0..seeds {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
        let (mut at, mut polls) = (Duration::ZERO, 0);
        while at < length {
            at = schedule.next_poll(at, polls, &mut rng);
            polls += 1;
        }
        fewest = fewest.min(polls);
        most = most.max(polls);
    }
    (fewest, most)
}

#[test]
fn an_emulator_run_follows_the_emulators_clock() {
    // The client must poll an emulated generation as a real-time client polls a real one: the
    // default schedule's number of polls for the generation's emulated length. A client on the
    // real-time schedule would make its first poll after 4 real seconds, when this one (about
    // 51 emulated seconds, 2.55 real ones at the default ×0.05) has finished: 1 poll.
    let key = demo_key_for_seed(81);
    let r = run(
        pipevideo().args([
            "--emulator",
            "--emulator-seed",
            "81",
            "--json",
            "generate",
            "A cat",
        ]),
        &[&key],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let doc = json(&r.stdout);
    let body = &doc["generation"]["body"];
    let emulated = body["completed_at"].as_u64().expect("completed_at")
        - body["created_at"].as_u64().expect("created_at");
    // The seed fixes the generation (51 emulated seconds; the whole-second timestamps may say
    // 52). Under a minute it lasts under 3 real seconds, before a real-time client's first
    // poll (4 s ± 10 %).
    assert!((50..=60).contains(&emulated), "{body}");
    // Whole-second timestamps: the length is within a second of the difference.
    let (fewest, _) = default_schedule_polls(Duration::from_secs(emulated - 1), 64);
    let (_, most) = default_schedule_polls(Duration::from_secs(emulated + 1), 64);
    assert!(fewest >= 8, "the default schedule polls {fewest} times");
    let polls = doc["polls"].as_u64().expect("polls") as u32;
    // A poll may go later than scheduled (round trips, a loaded machine), never earlier: at
    // most the schedule's count, and, slowed down, still well above the 1 or 2 polls of a
    // client on the real-time schedule.
    assert!(
        (fewest / 2..=most).contains(&polls),
        "{polls} polls; the default schedule makes {fewest}..={most} for {emulated} s"
    );
    assert_eq!(
        doc["http_requests"],
        polls + 1,
        "one create, then only polls"
    );
}

#[test]
fn a_429_asking_too_long_says_what_the_server_asked_and_exits_3() {
    let emu = emulator(91);
    // 600 emulated seconds are 12 real seconds at this scale: beyond what the client waits for
    // one call, so it gives up at once instead of sleeping.
    emu.push_fault(
        FaultRule::new(Fault::rate_limited(600.0))
            .path("/v1/usage")
            .times(5),
    );
    let key = emu.demo_key().to_owned();
    let r = run(
        pipevideo()
            .args([
                "--base-url",
                &emu.base_url(),
                "--api-key",
                &key,
                "--emulator-time-scale",
                SCALE,
            ])
            .arg("usage"),
        &[&key],
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("429 Too Many Requests"), "{}", r.stderr);
    assert!(
        r.stderr.contains("the server asked to wait 12.0 s"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: Wait a minute"), "{}", r.stderr);
    assert_eq!(emu.requests().len(), 1, "no retry was slept for");
}

#[test]
fn a_429_within_reach_is_waited_out() {
    let emu = emulator(92);
    emu.push_fault(
        FaultRule::new(Fault::rate_limited(10.0))
            .path("/v1/usage")
            .times(1),
    );
    let key = emu.demo_key().to_owned();
    let r = run(
        pipevideo()
            .args([
                "--base-url",
                &emu.base_url(),
                "--api-key",
                &key,
                "--emulator-time-scale",
                SCALE,
            ])
            .arg("usage"),
        &[&key],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("the server asked to wait 200 ms"),
        "{}",
        r.stderr
    );
    let log = emu.requests();
    assert_eq!(log.len(), 2);
    let gap = log[1].elapsed_ms - log[0].elapsed_ms;
    assert!(
        gap >= 200,
        "the retry went {gap} ms after the 429, before the 200 ms asked"
    );
}

/// `--shared-pacing` with a password in the URL: the password appears in no output (the note,
/// the fail-open warning, a fail-closed error, `--help` with the variable set), and the store's
/// being down is fail-open by default and a clear exit 3 with `--shared-pacing-fail-closed`.
/// (Nothing listens on port 1, so this needs no Redis; the real store is tested in
/// pipevideo-redis and the tests crate.)
#[test]
fn shared_pacing_never_shows_the_redis_password_and_fails_as_asked() {
    let secret = "hunter2-redis-password";
    let url = format!("redis://:{secret}@127.0.0.1:1/");
    let open = run(
        pipevideo().args(["--emulator", "--shared-pacing", &url, "usage"]),
        &[secret],
    );
    assert_eq!(open.code, 0, "fail-open: {}", open.stderr);
    assert!(
        open.stderr.contains("redis://:***@127.0.0.1:1/"),
        "{}",
        open.stderr
    );
    assert!(open.stderr.contains("pacing locally"), "{}", open.stderr);
    let closed = run(
        pipevideo().env("PIPEVIDEO_PACING_URL", &url).args([
            "--emulator",
            "--shared-pacing-fail-closed",
            "usage",
        ]),
        &[secret],
    );
    assert_eq!(closed.code, 3, "{}", closed.stderr);
    assert!(closed.stderr.contains("fail-closed"), "{}", closed.stderr);
    let help = run(
        pipevideo().env("PIPEVIDEO_PACING_URL", &url).arg("--help"),
        &[secret],
    );
    assert!(help.stdout.contains("--shared-pacing"));
    let bad = run(
        pipevideo().args([
            "--emulator",
            "--shared-pacing",
            &format!("redis//:{secret}@x"),
            "usage",
        ]),
        &[secret],
    );
    assert_eq!(bad.code, 2, "{}", bad.stderr);
}

/// With every proxy variable set, a plain-http base (the emulator on loopback) is still
/// reached directly, for the API calls and the video download alike: the key never goes to a
/// proxy in clear text.
#[test]
fn a_plain_http_base_never_goes_through_a_proxy_from_the_environment() {
    use std::sync::{Arc, Mutex};

    let proxy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_url = format!("http://{}", proxy.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in proxy.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream);
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            record.lock().unwrap().push(first.trim().to_owned());
            let _ = reader.get_mut().write_all(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });

    let emu = emulator(67);
    let key = emu.demo_key().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("cat.mp4");
    let mut command = pipevideo();
    for name in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        command.env(name, &proxy_url);
    }
    let r = run(
        command
            .args(["--base-url", &emu.base_url(), "--api-key", &key])
            .args(["generate", "A cat", "--output"])
            .arg(&output),
        &[&key],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(is_mp4(&std::fs::read(&output).unwrap()));
    assert!(
        seen.lock().unwrap().is_empty(),
        "requests went to the proxy: {:?}",
        seen.lock().unwrap()
    );
}
