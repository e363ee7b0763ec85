//! The client a command runs with: key, base URL, policies, and the in-process emulator of
//! `--emulator` with the client scaled to its clock.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use pipevideo::core::client::Client;
use pipevideo::core::pacing::shared::{OnStoreDown, SharedPacingOptions};
use pipevideo::core::transport::Stack;
use pipevideo::redis::RedisStore;
use pipevideo::{ApiKey, Attribution, BaseUrl, ReqwestTransport, TimeScale, TokioClock};
use pipevideo_emulator::{Emulator, RandomFaults};

use crate::cli::{Cli, DEFAULT_TIME_SCALE};
use crate::exit::{self, Failure};
use crate::observe::Observed;
use crate::ui::Ui;

/// The transport every command uses.
pub(crate) type Transport = Stack<Observed<ReqwestTransport>, TokioClock>;

/// A ready client, and the emulator it talks to, if any (kept alive as long as the session).
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) client: Client<Transport>,
    /// The in-process emulator of `--emulator`, held so that it serves until the command ends.
    _emulator: Option<Emulator>,
}

/// Whether the command needs a key (`engines` is public).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyNeed {
    Required,
    NotNeeded,
}

/// How many attempts one call makes when `--emulator-faults` is on: a demo of faults should
/// show retries working, not the rare call that drew four faults in a row. All of them fit in
/// the same (scaled) deadline.
const ATTEMPTS_UNDER_FAULTS: u32 = 8;

/// Starts the emulator (with `--emulator`) and builds the client.
pub(crate) async fn open(
    cli: &Cli,
    key_from_command_line: bool,
    need: KeyNeed,
    ui: &Arc<Ui>,
) -> Result<Session, Failure> {
    let transport = match &cli.ca_cert {
        None => ReqwestTransport::new().map_err(|e| {
            Failure::new(
                exit::API,
                "network",
                format!("Could not start the HTTP client: {e}."),
            )
        })?,
        Some(path) => with_ca_certs(path)?,
    };
    let transport = Stack::new(Observed::new(transport, Arc::clone(ui)), TokioClock);

    let mut attribution = Attribution::new();
    if let Some(name) = &cli.app_name {
        attribution = attribution.app_name(name).map_err(|e| {
            Failure::new(
                exit::USAGE,
                "usage",
                format!("--app-name was refused: {e}."),
            )
        })?;
    }

    // Every duration about the server's behaviour follows the emulator's clock (pacing window,
    // expected generation time, backoff, deadlines, 404 grace), with the core's floors for the
    // ones that are about this machine: see `TimeScale`.
    let (emulator, base_url, key, scale, faults) = if cli.emulator {
        let scale = cli.emulator_time_scale.unwrap_or(DEFAULT_TIME_SCALE);
        let seed = cli.emulator_seed.unwrap_or_else(clock_seed);
        let mut builder = Emulator::builder()
            .time_scale(scale.factor())
            .seed(seed)
            .failure_rate(0.0);
        if let Some(rate) = cli.emulator_faults {
            builder = builder.random_faults(RandomFaults::chaos(seed, rate));
        }
        let emulator = builder.start().await.map_err(|e| {
            Failure::new(
                exit::API,
                "emulator",
                format!("The emulator could not start: {e}."),
            )
        })?;
        let base = BaseUrl::parse(&emulator.base_url()).map_err(|e| {
            Failure::new(
                exit::API,
                "emulator",
                format!("The emulator's URL was refused: {e}."),
            )
        })?;
        // With --emulator only a key typed on the command line replaces the demo key: a
        // production key in PIPEVIDEO_API_KEY means nothing to the emulator.
        let (key, whose) = match (&cli.api_key, key_from_command_line) {
            (Some(key), true) => (key.clone(), "the key given with --api-key"),
            _ => (
                ApiKey::new(emulator.demo_key()).map_err(|e| {
                    Failure::new(
                        exit::API,
                        "emulator",
                        format!("The emulator's demo key was refused: {e}."),
                    )
                })?,
                "its demo key",
            ),
        };
        let faults = cli.emulator_faults.is_some();
        ui.note(&format!(
            "Using the built-in emulator at {} with {whose}; time runs {scale} (a one-minute \
             job takes about {}){}. It lives only as long as this command.",
            emulator.base_url(),
            crate::duration::human(scale.real(Duration::from_secs(55))),
            if faults {
                format!(
                    ", with faults on {:.0}% of requests",
                    cli.emulator_faults.unwrap_or(0.0) * 100.0
                )
            } else {
                String::new()
            }
        ));
        (Some(emulator), base, key, scale, faults)
    } else {
        let base = cli.base_url.clone().unwrap_or_default();
        let key = match (&cli.api_key, need) {
            (Some(key), _) => key.clone(),
            // `GET /v1/engines` is sent without the key; the builder still wants one.
            (None, KeyNeed::NotNeeded) => ApiKey::new("pv_unused")
                .map_err(|e| Failure::new(exit::USAGE, "usage", format!("{e}")))?,
            (None, KeyNeed::Required) => {
                return Err(Failure::new(
                    exit::USAGE,
                    "usage",
                    "No API key: pass --api-key or set PIPEVIDEO_API_KEY.",
                )
                .hint("To try the command without an account, add --emulator."));
            }
        };
        let scale = cli.emulator_time_scale.unwrap_or(TimeScale::REAL_TIME);
        (None, base, key, scale, false)
    };
    let retry = if faults {
        scale
            .retry_policy()
            .with_attempt_limit(ATTEMPTS_UNDER_FAULTS)
    } else {
        scale.retry_policy()
    };

    let mut builder = Client::builder(transport)
        .api_key(key)
        .base_url(base_url)
        .attribution(attribution)
        .time_scale(scale)
        .retry_policy(retry);
    if let Some(url) = &cli.shared_pacing {
        // The store's errors never hold the URL, which may hold a password.
        let store = RedisStore::open(url).map_err(|e| {
            Failure::new(exit::USAGE, "usage", format!("--shared-pacing: {e}."))
                .hint("Give a URL such as redis://127.0.0.1:6379/ (or set PIPEVIDEO_PACING_URL).")
        })?;
        let on_down = if cli.shared_pacing_fail_closed {
            OnStoreDown::FailClosed
        } else {
            OnStoreDown::FailOpen
        };
        ui.note(&format!(
            "Sharing the key's pacing through {} ({} when it is down).",
            store.redacted_url(),
            match on_down {
                OnStoreDown::FailClosed => "failing",
                _ => "pacing locally",
            }
        ));
        builder = builder
            .shared_pacing(store)
            .shared_pacing_options(SharedPacingOptions::default().on_down(on_down));
    }
    let client = builder
        .build()
        .map_err(|e| crate::exit::classify(&e, crate::exit::Stage::Usage, Duration::ZERO))?;
    Ok(Session {
        client,
        _emulator: emulator,
    })
}

/// `--ca-cert FILE` (or `PIPEVIDEO_CA_CERT`) could not be used: bad usage, nothing was sent.
fn bad_ca_file(path: &Path, why: impl std::fmt::Display) -> Failure {
    Failure::new(
        exit::USAGE,
        "usage",
        format!("--ca-cert {}: {why}.", path.display()),
    )
    .hint(
        "Nothing was sent. Pass (with --ca-cert or PIPEVIDEO_CA_CERT) a PEM file of CA \
         certificates, each between -----BEGIN CERTIFICATE----- and -----END CERTIFICATE-----.",
    )
}

/// Reads the `--ca-cert` file.
fn read_ca_file(path: &Path) -> Result<Vec<u8>, Failure> {
    std::fs::read(path).map_err(|e| bad_ca_file(path, format_args!("could not read it: {e}")))
}

/// A transport that trusts the CA certificates of the PEM file at `path` besides the system's.
#[cfg(any(feature = "rustls", feature = "native-tls"))]
fn with_ca_certs(path: &Path) -> Result<ReqwestTransport, Failure> {
    use pipevideo::reqwest::Certificate;

    let invalid = |e: pipevideo::reqwest::Error| {
        bad_ca_file(
            path,
            format_args!(
                "it holds a certificate that is not valid: {}",
                error_chain(&e)
            ),
        )
    };
    let pem = read_ca_file(path)?;
    let certs = Certificate::from_pem_bundle(&pem).map_err(invalid)?;
    if certs.is_empty() {
        return Err(bad_ca_file(
            path,
            "it holds no PEM certificate (no -----BEGIN CERTIFICATE----- block)",
        ));
    }
    // With rustls, a block whose content is not a certificate is refused only here, when the
    // verifier loads the roots.
    ReqwestTransport::client_builder()
        .tls_certs_merge(certs)
        .build()
        .map(ReqwestTransport::from)
        .map_err(invalid)
}

/// Without a TLS backend there is nothing to give the certificates to: say so rather than
/// ignore the option (the file is still read, so a wrong path reads as such).
#[cfg(not(any(feature = "rustls", feature = "native-tls")))]
fn with_ca_certs(path: &Path) -> Result<ReqwestTransport, Failure> {
    read_ca_file(path)?;
    Err(Failure::new(
        exit::USAGE,
        "usage",
        format!(
            "--ca-cert {}: this pipevideo was built without TLS, so it cannot use certificates \
             (and reaches http:// URLs only).",
            path.display()
        ),
    )
    .hint(
        "Install it with TLS: `cargo install pipevideo-cli` (rustls, the default) or \
         `cargo install pipevideo-cli --features native-tls`.",
    ))
}

/// A reqwest error's causes, joined: its own message says only "builder error".
#[cfg(any(feature = "rustls", feature = "native-tls"))]
fn error_chain(error: &pipevideo::reqwest::Error) -> String {
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    if causes.is_empty() {
        error.to_string()
    } else {
        causes.join(": ")
    }
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
