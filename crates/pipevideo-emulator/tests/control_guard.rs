//! The control plane (`/_emulator/*`) is guarded: a per-run token, a loopback `Host` (against
//! DNS rebinding), `application/json` for writes (against cross-site form posts). Raw requests
//! on a socket, so that every header is exactly what a browser or an attacker would send.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};

use pipevideo_emulator::{Emulator, FaultConfig};

/// One raw HTTP/1.1 request; the status code of the answer.
fn status(addr: SocketAddr, request: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer:?}"))
}

fn post_faults(host: &str, content_type: &str, token_header: &str) -> String {
    let body = r#"{"fault":{"kind":"server_error"}}"#;
    format!(
        "POST /_emulator/faults HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n\
         {token_header}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

fn get_log(host: &str, token_header: &str) -> String {
    format!(
        "GET /_emulator/log HTTP/1.1\r\nHost: {host}\r\n{token_header}Connection: close\r\n\r\n"
    )
}

#[test]
fn the_control_plane_refuses_a_request_without_the_token() {
    let emu = Emulator::builder().start_in_background().unwrap();
    let host = emu.addr().to_string();
    assert_eq!(status(emu.addr(), &get_log(&host, "")), 401);
    assert_eq!(
        status(
            emu.addr(),
            &get_log(&host, "X-Emulator-Token: emu_not_the_token\r\n")
        ),
        401
    );
    assert_eq!(
        status(emu.addr(), &post_faults(&host, "application/json", "")),
        401
    );
    assert_eq!(emu.faults(), FaultConfig::default(), "nothing was set");
    // The API itself needs no control token.
    let engines = "GET /v1/engines HTTP/1.1\r\nHost: x.example\r\nConnection: close\r\n\r\n";
    assert_eq!(status(emu.addr(), engines), 200);
}

#[test]
fn the_control_plane_refuses_a_foreign_host_and_a_form_post() {
    let emu = Emulator::builder().start_in_background().unwrap();
    let port = emu.addr().port();
    // A page on attacker.example whose name now resolves to 127.0.0.1 (DNS rebinding).
    for host in [
        format!("attacker.example:{port}"),
        "attacker.example".to_owned(),
        format!("127.0.0.1.nip.example:{port}"),
    ] {
        assert_eq!(
            status(emu.addr(), &post_faults(&host, "application/json", "")),
            403,
            "{host}"
        );
        assert_eq!(status(emu.addr(), &get_log(&host, "")), 403, "{host}");
    }
    // A cross-site form post (no preflight): a form's content types.
    let host = emu.addr().to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let code = status(emu.addr(), &post_faults(&host, content_type, ""));
        assert!(
            code == 401 || code == 415,
            "{content_type}: answered {code}"
        );
    }
    assert_eq!(emu.faults(), FaultConfig::default(), "nothing was set");
}

fn token_header(emu: &Emulator) -> String {
    format!("X-Emulator-Token: {}\r\n", emu.control_token())
}

#[test]
fn the_control_plane_answers_the_token_on_a_local_host() {
    let emu = Emulator::builder().seed(3).start_in_background().unwrap();
    let token = emu.control_token().to_owned();
    assert!(
        token.len() == 36
            && token.starts_with("emu_")
            && token[4..].bytes().all(|b| b.is_ascii_hexdigit()),
        "{token}"
    );
    let again = Emulator::builder().seed(3).start_in_background().unwrap();
    assert_ne!(
        again.control_token(),
        token,
        "from the OS RNG, not the seed"
    );

    let port = emu.addr().port();
    for host in [
        emu.addr().to_string(),
        "127.0.0.1".to_owned(),
        format!("localhost:{port}"),
        format!("LOCALHOST:{port}"),
        format!("[::1]:{port}"),
        "127.1.2.3".to_owned(),
    ] {
        assert_eq!(
            status(emu.addr(), &get_log(&host, &token_header(&emu))),
            200,
            "{host}"
        );
    }
    let host = emu.addr().to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        assert_eq!(
            status(
                emu.addr(),
                &post_faults(&host, content_type, &token_header(&emu))
            ),
            415,
            "{content_type}"
        );
    }
    assert_eq!(emu.faults(), FaultConfig::default(), "nothing was set");
    assert_eq!(
        status(
            emu.addr(),
            &post_faults(
                &host,
                "application/json; charset=utf-8",
                &token_header(&emu)
            )
        ),
        200
    );
    assert_eq!(emu.faults().rules.len(), 1);
}

#[test]
fn the_request_log_keeps_the_most_recent_entries_and_counts_the_dropped() {
    let emu = Emulator::builder()
        .request_log_capacity(3)
        .start_in_background()
        .unwrap();
    let engines = "GET /v1/engines HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    for _ in 0..5 {
        assert_eq!(status(emu.addr(), engines), 200);
    }
    let seqs: Vec<u64> = emu.requests().iter().map(|e| e.seq).collect();
    assert_eq!(seqs, [2, 3, 4]);
    assert_eq!(emu.dropped_requests(), 2);

    let mut stream = TcpStream::connect(emu.addr()).unwrap();
    let request = get_log(&emu.addr().to_string(), &token_header(&emu));
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-emulator-log-dropped: 2\r\n"),
        "{answer}"
    );
}

#[test]
fn a_host_name_allowed_at_start_reaches_the_control_plane() {
    let emu = Emulator::builder()
        .allow_control_host("Emulator")
        .start_in_background()
        .unwrap();
    let port = emu.addr().port();
    for host in [format!("emulator:{port}"), "EMULATOR".to_owned()] {
        assert_eq!(
            status(emu.addr(), &get_log(&host, &token_header(&emu))),
            200,
            "{host}"
        );
    }
    assert_eq!(
        status(
            emu.addr(),
            &get_log(&format!("other:{port}"), &token_header(&emu))
        ),
        403
    );
}
