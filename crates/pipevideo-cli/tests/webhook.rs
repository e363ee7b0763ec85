//! `pipevideo webhook verify` and `pipevideo webhook listen`, end to end.
//!
//! Signatures are made here with the RustCrypto primitives, following Svix's published scheme
//! (HMAC-SHA256 over `id.timestamp.body`, base64), not with the SDK's own signing helper. No
//! output of any command may contain the secret or its base64 key.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use pipevideo_emulator::{Emulator, WebhookConfig};
use serde_json::Value;
use sha2::Sha256;

const KEY: &[u8] = b"the cli test endpoint key";

fn secret() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(KEY)
    )
}

use common::pipevideo;

mod common;

fn sign(id: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY).unwrap();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

fn now_secs() -> String {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

fn assert_no_secret(texts: &[&str]) {
    let secret = secret();
    let key = &secret["whsec_".len()..];
    for text in texts {
        assert!(
            !text.contains(&secret) && !text.contains(key),
            "the secret leaked:\n{text}"
        );
    }
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `webhook verify` with `body` on stdin.
fn verify(extra: &[&str], id: &str, timestamp: &str, signature: &str, body: &[u8]) -> Out {
    let mut child = pipevideo()
        .args(extra)
        .args(["webhook", "verify", "--id", id, "--timestamp", timestamp])
        .args(["--signature", signature])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that refuses its arguments exits before reading stdin: the pipe may be closed
    // by then, and that is not the test's failure (the exit code and stderr are checked).
    match child.stdin.take().unwrap().write_all(body) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => panic!("writing stdin: {e}"),
        _ => {}
    }
    let output = child.wait_with_output().unwrap();
    let out = Out {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert_no_secret(&[&out.stdout, &out.stderr]);
    out
}

const BODY: &str = r#"{"eventType":"video.generation.completed","generationId":"gen_abc123","status":"completed","outputUrl":"https://cdn.example/v.mp4","errorMessage":null}"#;

#[test]
fn verify_prints_a_correctly_signed_event_as_json() {
    let ts = now_secs();
    let signature = sign("msg_1", &ts, BODY.as_bytes());
    let secret = secret();
    let mut cmd = pipevideo();
    let out = {
        let mut child = cmd
            .args(["webhook", "verify", "--secret", &secret, "--id", "msg_1"])
            .args(["--timestamp", &ts, "--signature", &signature])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(BODY.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_no_secret(&[&stdout, &stderr]);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let event: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(event["generationId"], "gen_abc123");
    assert_eq!(event["status"], "completed");
    assert_eq!(event["deliveryId"], "msg_1");
    assert_eq!(event["outputUrl"], "https://cdn.example/v.mp4");
}

#[test]
fn verify_without_a_secret_is_a_usage_error() {
    let ts = now_secs();
    let out = verify(&[], "msg_1", &ts, "v1,AAAA", BODY.as_bytes());
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("--secret"), "{}", out.stderr);
}

#[test]
fn verify_reads_the_secret_from_the_environment_and_rejects_a_tampered_body() {
    let ts = now_secs();
    let signature = sign("msg_2", &ts, BODY.as_bytes());
    let mut tampered = BODY.as_bytes().to_vec();
    let i = BODY.find("gen_abc123").unwrap() + 4;
    tampered[i] = b'x'; // one byte
    let mut child = pipevideo()
        .env("PIPEVIDEO_WEBHOOK_SECRET", secret())
        .args(["webhook", "verify", "--id", "msg_2", "--timestamp", &ts])
        .args(["--signature", &signature])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&tampered).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_no_secret(&[&stdout, &stderr]);
    assert_eq!(out.status.code(), Some(6), "{stdout}\n{stderr}");
    assert!(stderr.contains("no webhook signature matches"), "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");

    // The same with --json: the reason as a document on stdout.
    let mut child = pipevideo()
        .env("PIPEVIDEO_WEBHOOK_SECRET", secret())
        .args([
            "--json",
            "webhook",
            "verify",
            "--id",
            "msg_2",
            "--timestamp",
            &ts,
        ])
        .args(["--signature", &signature])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&tampered).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_no_secret(&[&stdout, &String::from_utf8_lossy(&out.stderr)]);
    assert_eq!(out.status.code(), Some(6));
    let doc: Value = serde_json::from_str(&stdout).expect("one JSON document");
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["exit_code"], 6);
    assert_eq!(doc["error"]["kind"], "webhook_rejected");
}

#[test]
fn verify_rejects_a_stale_delivery_and_says_so() {
    let old = (SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 3600)
        .to_string();
    let signature = sign("msg_3", &old, BODY.as_bytes());
    let mut child = pipevideo()
        .env("PIPEVIDEO_WEBHOOK_SECRET", secret())
        .args(["webhook", "verify", "--id", "msg_3", "--timestamp", &old])
        .args(["--signature", &signature])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(BODY.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("in the past"), "{stderr}");
    assert!(stderr.contains("--tolerance"), "{stderr}");
}

/// Starts `webhook listen --port 0`, returns the child and the port it printed.
fn start_listen(
    global: &[&str],
    extra: &[&str],
) -> (Child, u16, BufReader<std::process::ChildStderr>) {
    let mut child = pipevideo()
        .args(global)
        .args(["webhook", "listen", "--port", "0", "--secret", &secret()])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert_no_secret(&[&line]);
    let port = line
        .split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    (child, port, stderr)
}

fn wait_exit(child: &mut Child, limit: Duration) -> i32 {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("the listener did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn listen_receives_a_delivery_from_the_emulator() {
    let (mut child, port, mut stderr) = start_listen(&["--json"], &["--count", "1"]);
    let_emulator_deliver(port, |emu, id| {
        let code = wait_exit(&mut child, Duration::from_secs(60));
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let mut rest = String::new();
        stderr.read_to_string(&mut rest).unwrap();
        assert_no_secret(&[&stdout, &rest]);
        assert_eq!(code, 0, "{stdout}\n{rest}");
        let event: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
        assert_eq!(event["generationId"], id);
        assert_eq!(event["status"], "completed");
        let deliveries = emu.webhook_deliveries();
        assert!(
            deliveries.iter().any(|d| d.status == Some(200)),
            "{deliveries:?}"
        );
    });
}

#[test]
fn listen_answers_4xx_to_a_forged_delivery_and_keeps_going() {
    let (mut child, port, mut stderr) = start_listen(&[], &[]);
    // A forgery first: signed with another key.
    let ts = now_secs();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"not the key").unwrap();
    mac.update(format!("msg_f.{ts}.{BODY}").as_bytes());
    let forged = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    let status = post(port, "msg_f", &ts, &forged, BODY);
    assert_eq!(status, 400);
    // Then a genuine one, twice (a retry): 200 both times, printed once.
    let good = sign("msg_g", &ts, BODY.as_bytes());
    assert_eq!(post(port, "msg_g", &ts, &good, BODY), 200);
    assert_eq!(post(port, "msg_g", &ts, &good, BODY), 200);
    // No --count: stop it from here (as Ctrl-C would) once the lines are out.
    std::thread::sleep(Duration::from_millis(200));
    let _ = child.kill();
    let _ = child.wait();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_no_secret(&[&stdout, &rest]);
    assert!(rest.contains("rejected delivery msg_f"), "{rest}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(
        stdout.starts_with("msg_g video.generation.completed gen_abc123 completed"),
        "{stdout}"
    );
}

#[test]
fn listen_counts_a_retried_delivery_once() {
    let (mut child, port, _stderr) = start_listen(&[], &["--count", "2"]);
    let ts = now_secs();
    let a = sign("msg_a", &ts, BODY.as_bytes());
    assert_eq!(post(port, "msg_a", &ts, &a, BODY), 200);
    assert_eq!(
        post(port, "msg_a", &ts, &a, BODY),
        200,
        "a retry is acknowledged"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "a retry does not count towards --count"
    );
    let b = sign("msg_b", &ts, BODY.as_bytes());
    assert_eq!(post(port, "msg_b", &ts, &b, BODY), 200);
    assert_eq!(wait_exit(&mut child, Duration::from_secs(20)), 0);
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
}

/// Whether the listener closed `stream` within `within` (an EOF or a reset, not a timeout).
fn closed_within(stream: &mut std::net::TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn listen_closes_slow_and_idle_connections_and_keeps_serving() {
    let (mut child, port, _stderr) = start_listen(
        &[],
        &["--header-timeout", "300ms", "--max-connections", "4"],
    );
    let start = Instant::now();
    // Four half-sent heads fill the cap; two connections that send nothing wait behind them.
    let mut slow: Vec<std::net::TcpStream> = (0..4)
        .map(|_| {
            let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                .unwrap();
            s
        })
        .collect();
    let mut idle: Vec<std::net::TcpStream> = (0..2)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", port)).unwrap())
        .collect();
    // A genuine delivery still gets through, once the slow ones are cut.
    let ts = now_secs();
    let good = sign("msg_s", &ts, BODY.as_bytes());
    assert_eq!(post(port, "msg_s", &ts, &good, BODY), 200);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "answered after {:?}",
        start.elapsed()
    );
    for (i, s) in slow.iter_mut().chain(idle.iter_mut()).enumerate() {
        assert!(
            closed_within(s, Duration::from_secs(2)),
            "connection {i} is still open"
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn listen_answers_408_to_a_body_trickled_too_slowly() {
    let (mut child, port, _stderr) = start_listen(&[], &["--header-timeout", "300ms"]);
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    slow.write_all(b"POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n{\"a\"")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let start = Instant::now();
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    let _ = child.kill();
    let _ = child.wait();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

/// POSTs a delivery with a bare HTTP/1.1 request; returns the status code.
fn post(port: u16, id: &str, ts: &str, signature: &str, body: &str) -> u16 {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "POST /hooks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\
         svix-id: {id}\r\nsvix-timestamp: {ts}\r\nsvix-signature: {signature}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {response:?}"))
}

/// Starts an emulator delivering to the listener on `port`, creates one generation through the
/// CLI, and hands the emulator and the generation id to `check`.
fn let_emulator_deliver(port: u16, check: impl FnOnce(&Emulator, &str)) {
    let emu = Emulator::builder()
        .time_scale(0.02)
        .seed(5)
        .failure_rate(0.0)
        .webhooks(WebhookConfig::new(secret()).endpoint(format!("http://127.0.0.1:{port}/hooks")))
        .start_in_background()
        .expect("the emulator starts");
    let output = pipevideo()
        .args([
            "--json",
            "--base-url",
            &emu.base_url(),
            "--api-key",
            emu.demo_key(),
        ])
        .args(["generate", "A cat on a beach", "--no-wait"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let doc: Value = serde_json::from_str(&stdout).expect("one JSON document");
    let reference = doc["reference"].as_str().expect("a reference").to_owned();
    let id = reference.rsplit(':').next().unwrap().to_owned();
    check(&emu, &id);
}
