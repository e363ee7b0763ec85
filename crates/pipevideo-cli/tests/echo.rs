//! The `pipevideo` binary against a server that echoes the key back, over plain http on
//! 127.0.0.1: every request is answered 401 with the key (taken from the request's
//! `Authorization` header) in the message, or 400 with the key and terminal control sequences
//! (an ANSI colour, a C1 CSI, a bell, a backspace, a carriage return, DEL, NUL) in the message.
//!
//! `usage` and `generate` run in text mode and with `--json`. Each run must exit 3 (the API
//! refused the request), show the server's message with the key scrubbed (neither the key nor
//! its 12-character tail anywhere in stdout or stderr), and let no control character but the
//! newline through: a server must not be able to recolour, rewrite or ring the user's terminal.

use std::convert::Infallible;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

mod common;

/// The documented key shape.
const PV_KEY: &str = "pv_5e1f0c2a9b8d7e6f4a3b2c1d0e9f8a7b";
/// A key only an exact-key scrub can catch.
const ODD_KEY: &str = "sk-live-abc123def456";
/// Text next to the key in every echoed message: its presence in the output proves the message
/// was shown (scrubbed), not dropped.
const ORG: &str = "org_7f3a";

/// What the server answers, given the key it was sent.
type Respond = fn(&str) -> (StatusCode, String);

fn unauthorized_echo(key: &str) -> (StatusCode, String) {
    (
        StatusCode::UNAUTHORIZED,
        serde_json::json!({ "message": format!("Invalid API key {key} for org {ORG}") })
            .to_string(),
    )
}

fn bad_request_with_controls(key: &str) -> (StatusCode, String) {
    let message = format!(
        "Bad input for key {key} ({ORG}): \u{1b}[31mRED\u{1b}[0m bell\u{7} back\u{8}space \
         cr\rreturn csi\u{9b}2J del\u{7f} nul\u{0} tab\tend \u{1b}]0;pwned\u{7}title"
    );
    (
        StatusCode::BAD_REQUEST,
        serde_json::json!({ "message": message }).to_string(),
    )
}

/// A plain-http server for one test, on its own thread; it lives until the test process ends.
struct Server {
    port: u16,
    requests: Arc<AtomicUsize>,
}

impl Server {
    fn start(respond: Respond) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("the port").port();
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(serve(listener, respond, counter));
        });
        Self { port, requests }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }
}

async fn serve(listener: std::net::TcpListener, respond: Respond, requests: Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let requests = Arc::clone(&requests);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                requests.fetch_add(1, Ordering::SeqCst);
                // Echo what was sent, as a careless (or hostile) server would.
                let key = request
                    .headers()
                    .get(hyper::header::AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .unwrap_or("(no key)")
                    .to_owned();
                let (status, body) = respond(&key);
                let response = Response::builder()
                    .status(status)
                    .header(hyper::header::CONTENT_TYPE, "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .expect("a response");
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

struct Run {
    what: String,
    code: i32,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// Runs the binary against `server` with `key` (on the command line in text mode, from
/// `PIPEVIDEO_API_KEY` with `--json`), with nothing inherited that could change its output.
fn run(server: &Server, key: &str, json: bool, command: &[&str]) -> Run {
    let mut cmd = common::pipevideo();
    // Loopback must not go through a proxy from the environment.
    cmd.env("NO_PROXY", "127.0.0.1")
        .env("no_proxy", "127.0.0.1");
    cmd.args(["--base-url", &server.base_url()]);
    if json {
        cmd.env("PIPEVIDEO_API_KEY", key).arg("--json");
    } else {
        cmd.args(["--api-key", key]);
    }
    cmd.args(command);
    let before = server.requests.load(Ordering::SeqCst);
    let out = cmd.output().expect("the binary runs");
    assert!(
        server.requests.load(Ordering::SeqCst) > before,
        "{command:?}: no request reached the server"
    );
    Run {
        what: format!(
            "`pipevideo {}{}` with {key:?}",
            if json { "--json " } else { "" },
            command.join(" ")
        ),
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

/// Every control character in `bytes` but the newline, with its byte offset.
fn control_characters(bytes: &[u8]) -> Vec<(usize, String)> {
    let text = String::from_utf8_lossy(bytes);
    text.char_indices()
        .filter(|&(_, c)| c.is_control() && c != '\n')
        .map(|(i, c)| (i, c.escape_unicode().to_string()))
        .collect()
}

/// The checks every run passes; returns what went wrong.
fn check(run: &Run, key: &str, status: u16, json: bool) -> Vec<String> {
    let mut problems = Vec::new();
    let (stdout, stderr) = (run.stdout(), run.stderr());
    let dump = format!("--- stdout:\n{stdout:?}\n--- stderr:\n{stderr:?}");
    if run.code != 3 {
        problems.push(format!("exit code {}, expected 3\n{dump}", run.code));
    }
    for (name, text) in [("stdout", &stdout), ("stderr", &stderr)] {
        if common::leaks(text, key) {
            problems.push(format!("{name} contains the key or its tail\n{dump}"));
        }
    }
    for (name, bytes) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        if bytes.contains(&0x1b) {
            problems.push(format!("{name} carries a raw ESC byte (0x1b)\n{dump}"));
        }
        let controls = control_characters(bytes);
        if !controls.is_empty() {
            problems.push(format!(
                "{name} carries control characters other than newline: {controls:?}\n{dump}"
            ));
        }
    }
    if !stderr.contains(ORG) {
        problems.push(format!(
            "stderr does not show the server's message (scrubbed)\n{dump}"
        ));
    }
    if json {
        match serde_json::from_str::<Value>(&stdout) {
            Err(e) => problems.push(format!("stdout is not one JSON document: {e}\n{dump}")),
            Ok(doc) => {
                let error = &doc["error"];
                if doc["ok"] != Value::Bool(false) {
                    problems.push(format!("`ok` is not false: {doc}"));
                }
                if doc["exit_code"] != 3 {
                    problems.push(format!("`exit_code` is not 3: {doc}"));
                }
                if error["kind"].as_str().is_none_or(str::is_empty) {
                    problems.push(format!("`error.kind` is not a non-empty string: {doc}"));
                }
                if error["http_status"] != status {
                    problems.push(format!("`error.http_status` is not {status}: {doc}"));
                }
                match error["message"].as_str() {
                    None => problems.push(format!("`error.message` is not a string: {doc}")),
                    Some(message) => {
                        // What `jq -r .error.message` would print to a terminal.
                        let controls = control_characters(message.as_bytes());
                        if !controls.is_empty() {
                            problems.push(format!(
                                "`error.message`, once decoded, carries control characters \
                                 other than newline: {controls:?}: {message:?}"
                            ));
                        }
                        if !message.contains(ORG) {
                            problems.push(format!(
                                "`error.message` does not show the server's message: {message:?}"
                            ));
                        }
                    }
                }
            }
        }
    }
    problems
}

fn sweep(respond: Respond, status: u16) {
    let server = Server::start(respond);
    let mut failures = Vec::new();
    for key in [PV_KEY, ODD_KEY] {
        for command in [&["usage"][..], &["generate", "x"][..]] {
            for json in [false, true] {
                let run = run(&server, key, json, command);
                for problem in check(&run, key, status, json) {
                    failures.push(format!("{}: {problem}", run.what));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn a_401_echoing_the_key_shows_the_message_without_the_key() {
    sweep(unauthorized_echo, 401);
}

#[test]
fn a_400_with_the_key_and_control_sequences_reaches_no_terminal_raw() {
    sweep(bad_request_with_controls, 400);
}
