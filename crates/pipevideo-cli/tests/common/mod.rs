//! What every test of the `pipevideo` binary shares: the binary with nothing inherited from the
//! caller's environment that could change what it does, and the check that a secret is not in
//! its output. Each test file includes it with `mod common;` and uses what it needs.
#![allow(dead_code, reason = "each test file uses a part of the harness")]

use std::process::{Command, Stdio};

/// The variables a developer's or CI's environment may hold that change the binary's behaviour:
/// keys and URLs, certificates, proxies, logging.
const INHERITED: [&str; 17] = [
    "PIPEVIDEO_API_KEY",
    "PIPEVIDEO_API_URL",
    "PIPEVIDEO_CA_CERT",
    "PIPEVIDEO_WEBHOOK_SECRET",
    "RUST_LOG",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_COLOR",
    "CLICOLOR",
    "CLICOLOR_FORCE",
    "FORCE_COLOR",
];

/// The `pipevideo` binary built for this test run, with none of [`INHERITED`] and no stdin. A
/// test sets what it tests on the returned command.
pub(crate) fn pipevideo() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipevideo"));
    for name in INHERITED {
        cmd.env_remove(name);
    }
    cmd.stdin(Stdio::null());
    cmd
}

/// Whether `text` holds `secret` or its distinctive last 12 characters (a redaction that kept a
/// prefix is fine; one that kept the rest is not).
pub(crate) fn leaks(text: &str, secret: &str) -> bool {
    let tail = &secret[secret.len().saturating_sub(12)..];
    text.contains(secret) || text.contains(tail)
}

/// Fails the test when `secret` (or its tail) is in stdout or stderr.
pub(crate) fn assert_no_secret(stdout: &str, stderr: &str, secret: &str) {
    for (name, text) in [("stdout", stdout), ("stderr", stderr)] {
        assert!(!leaks(text, secret), "a secret leaked into {name}:\n{text}");
    }
}
