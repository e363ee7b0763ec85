//! Starting without a tokio runtime, and the binary's startup line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use pipevideo_emulator::Emulator;

fn raw_get(addr: std::net::SocketAddr, path: &str, key: Option<&str>) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    let auth = key
        .map(|k| format!("authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: localhost\r\n{auth}connection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn starts_on_its_own_thread_for_non_tokio_callers() {
    let emu = Emulator::builder()
        .time_scale(0.01)
        .start_in_background()
        .unwrap();
    let engines = raw_get(emu.addr(), "/v1/engines", None);
    assert!(engines.starts_with("HTTP/1.1 200"), "{engines}");
    assert!(engines.contains("hyperframes"));
    let usage = raw_get(emu.addr(), "/v1/usage", Some(emu.demo_key()));
    assert!(usage.contains("\"credit_balance\":10000"), "{usage}");
    assert_eq!(emu.requests().len(), 2);
    // A connection opened before shutdown is closed by it. (Connecting to the port afterwards
    // proves nothing: tests running in parallel may have bound the freed port already.)
    let mut open = TcpStream::connect(emu.addr()).unwrap();
    emu.shutdown();
    let request = "GET /v1/engines HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let _ = open.write_all(request.as_bytes());
    let mut answer = String::new();
    let _ = open.read_to_string(&mut answer);
    assert!(answer.is_empty(), "answered after shutdown: {answer}");
}

#[test]
fn a_bad_configuration_is_an_error_not_a_panic() {
    let err = Emulator::builder()
        .time_scale(0.0)
        .start_in_background()
        .unwrap_err();
    assert!(err.to_string().contains("time_scale"));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let err = Emulator::builder()
        .bind(taken.local_addr().unwrap())
        .start_in_background()
        .unwrap_err();
    assert!(
        matches!(err, pipevideo_emulator::StartError::Bind { .. }),
        "{err}"
    );
}

#[test]
fn the_binary_rejects_bad_fault_json() {
    let out = Command::new(env!("CARGO_BIN_EXE_pipevideo-emulator"))
        .args(["--port", "0", "--faults", "{not json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("invalid --faults JSON"));
}

#[test]
fn the_binary_prints_how_to_point_the_sdk_at_it() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipevideo-emulator"))
        .args(["--port", "0", "--time-scale", "0.01", "--seed", "5"])
        .args([
            "--faults",
            r#"{"rules":[{"path_prefix":"/v1/models","fault":{"kind":"server_error"}}]}"#,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut url = None;
    let mut key = None;
    for line in lines.by_ref().take(10) {
        let line = line.unwrap();
        if let Some(v) = line.trim().strip_prefix("export PIPEVIDEO_API_URL=") {
            url = Some(v.to_owned());
        }
        if let Some(v) = line.trim().strip_prefix("export PIPEVIDEO_API_KEY=") {
            key = Some(v.to_owned());
            break;
        }
    }
    let (url, key) = (url.expect("url line"), key.expect("key line"));
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/v1"),
        "{url}"
    );
    assert!(key.starts_with("pv_demo_"));
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches("/v1")
        .parse()
        .unwrap();
    let usage = raw_get(addr, "/v1/usage", Some(&key));
    let models = raw_get(addr, "/v1/models", Some(&key));
    child.kill().unwrap();
    let _ = child.wait();
    assert!(usage.starts_with("HTTP/1.1 200"), "{usage}");
    assert!(
        models.starts_with("HTTP/1.1 500"),
        "the --faults rule: {models}"
    );
}

#[test]
fn debug_output_never_shows_keys_or_secrets() {
    use pipevideo_emulator::{ApiKey, Organization, WebhookConfig};
    let builder = Emulator::builder()
        .demo_key("pv_demo_0123456789abcdef")
        .organization(Organization::new("org_x").key(ApiKey::active("pv_fedcba9876543210")))
        .webhooks(
            WebhookConfig::new("whsec_c2VjcmV0LXNlY3JldA==").endpoint("http://127.0.0.1:1/x"),
        );
    let text = format!("{builder:?}");
    assert!(
        !text.contains("0123456789abcdef") && !text.contains("fedcba9876543210"),
        "{text}"
    );
    assert!(!text.contains("c2VjcmV0LXNlY3JldA"), "{text}");
    let emu = builder.start_in_background().unwrap();
    assert!(!format!("{:?}", *emu).contains("0123456789abcdef"));
}

/// Starts the binary with webhooks on and `env`, returns its stdout up to the control line.
fn startup_output(env: &[(&str, &str)]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_pipevideo-emulator"));
    command
        .args(["--port", "0", "--webhook-url", "http://127.0.0.1:9/hooks"])
        .env_remove("PIPEVIDEO_WEBHOOK_SECRET")
        .env_remove("PIPEVIDEO_EMULATOR_WEBHOOK_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (name, value) in env {
        command.env(name, value);
    }
    let mut child = command.spawn().unwrap();
    let mut out = String::new();
    for line in BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(12)
    {
        let line = line.unwrap();
        out.push_str(&line);
        out.push('\n');
        if line.starts_with("Control") {
            break;
        }
    }
    child.kill().unwrap();
    let _ = child.wait();
    out
}

#[test]
fn the_binary_prints_a_fingerprint_of_its_webhook_secret_and_ignores_the_apps_variable() {
    use pipevideo_emulator::fingerprint;
    // An application's own secret, in the variable the CLI and real apps read.
    let app = "whsec_QVBQU0VDUkVUX0FQUFNFQ1JFVF9BUFBTRUNSRVQ=";
    let out = startup_output(&[("PIPEVIDEO_WEBHOOK_SECRET", app)]);
    assert!(!out.contains(app), "{out}");
    assert!(!out.contains("QVBQU0VDUkVU"), "{out}");
    assert!(
        !out.contains(&fingerprint(app)),
        "the app's variable is not the emulator's: {out}"
    );
    let default = "whsec_cGlwZXZpZGVvLWVtdWxhdG9yLWRlbW8tc2VjcmV0";
    assert!(out.contains(&fingerprint(default)), "{out}");
    assert!(!out.contains("cGlwZXZpZGVv"), "{out}");

    // The emulator's own variable.
    let mine = "whsec_RU1VTEFUT1JTRUNSRVRfRU1VTEFUT1JTRUNSRVQ=";
    let out = startup_output(&[("PIPEVIDEO_EMULATOR_WEBHOOK_SECRET", mine)]);
    assert!(!out.contains("RU1VTEFUT1JTRUNSRVQ"), "{out}");
    assert!(out.contains(&fingerprint(mine)), "{out}");
}

#[test]
fn the_binary_prints_its_control_token_and_warns_on_a_non_loopback_address() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipevideo-emulator"))
        .args(["--bind", "0.0.0.0", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = None;
    let mut token = None;
    for line in BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(12)
    {
        let line = line.unwrap();
        if let Some(url) = line.trim().strip_prefix("export PIPEVIDEO_API_URL=") {
            port = url
                .trim_end_matches("/v1")
                .rsplit(':')
                .next()
                .map(str::to_owned);
        }
        if line.starts_with("Control") {
            token = line
                .split_whitespace()
                .find(|word| word.starts_with("emu_"))
                .map(str::to_owned);
            break;
        }
    }
    let port: u16 = port.expect("the URL line").parse().unwrap();
    let token = token.expect("the token on the control line");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let health = |token: &str| {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /_emulator/health HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n\
             x-emulator-token: {token}\r\nconnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let with = health(&token);
    let without = health("emu_guess");
    child.kill().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let _ = child.wait();
    assert!(with.starts_with("HTTP/1.1 200"), "{with}");
    assert!(without.starts_with("HTTP/1.1 401"), "{without}");
    assert!(stderr.contains("non-loopback"), "{stderr}");
}
