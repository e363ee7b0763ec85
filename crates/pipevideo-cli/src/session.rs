//! The client a command runs with: key, base URL, policies, and the in-process emulator of
//! `--emulator` with the client scaled to its clock.

use std::sync::Arc;
use std::time::Duration;

use pipevideo_core::client::Client;
use pipevideo_core::poll::{AdaptiveSchedule, LogNormal, PollSchedule, WaitPolicy};
use pipevideo_core::retry::pacing::PacingPolicy;
use pipevideo_core::retry::{Backoff, RetryPolicy};
use pipevideo_core::{ApiKey, Attribution, BaseUrl};
use pipevideo_emulator::{Emulator, RandomFaults};
use pipevideo_reqwest::ReqwestTransport;

use crate::cli::{Cli, DEFAULT_TIME_SCALE};
use crate::exit::{self, Failure};
use crate::observe::Observed;
use crate::ui::Ui;

/// The transport every command uses.
pub(crate) type Transport = Observed<ReqwestTransport>;

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

/// The client's clock settings, scaled to the emulator's time (1.0 = real time).
///
/// Every duration that is about the server's behaviour shrinks with the emulator's clock: the
/// rate-limit window (so pacing is neither too strict nor too loose), the expected generation
/// time the poll schedule follows (so the client does not over-poll or wait a real minute),
/// the retry backoff, the server-asked-wait cap and the 404 grace. Floors keep loopback
/// round-trips and a debug build's speed from tripping a scaled-down timeout.
#[derive(Debug, Clone)]
pub(crate) struct Clock {
    pub(crate) pacing: PacingPolicy,
    pub(crate) wait: WaitPolicy,
    pub(crate) retry: RetryPolicy,
}

fn scaled(d: Duration, scale: f64, floor: Duration) -> Duration {
    d.mul_f64(scale).max(floor)
}

impl Clock {
    pub(crate) fn for_scale(scale: f64, faults: bool) -> Clock {
        if (scale - 1.0).abs() < f64::EPSILON && !faults {
            return Clock {
                pacing: PacingPolicy::default(),
                wait: WaitPolicy::default(),
                retry: RetryPolicy::default(),
            };
        }
        let ms = Duration::from_millis;
        let secs = Duration::from_secs;
        let pacing =
            PacingPolicy::default().with_window(scaled(PacingPolicy::DEFAULT_WINDOW, scale, ms(1)));
        let prior =
            LogNormal::new(scaled(secs(55), scale, ms(10)), 0.35).unwrap_or(LogNormal::PIPEVIDEO);
        let schedule = AdaptiveSchedule::default().with_prior(prior);
        let schedule = schedule
            .clone()
            .with_peak_interval(scaled(
                AdaptiveSchedule::DEFAULT_PEAK_INTERVAL,
                scale,
                ms(10),
            ))
            .and_then(|s| s.with_first_poll(scaled(secs(4), scale, ms(10))))
            .unwrap_or(schedule);
        let wait = WaitPolicy::default()
            .with_schedule(PollSchedule::from(schedule))
            .with_not_found_grace(scaled(WaitPolicy::DEFAULT_NOT_FOUND_GRACE, scale, ms(500)));
        let backoff = Backoff::default()
            .with_base(scaled(Backoff::DEFAULT_BASE, scale, ms(10)))
            .with_cap(scaled(Backoff::DEFAULT_CAP, scale, ms(100)));
        let mut retry = RetryPolicy::default()
            .with_deadline(scaled(RetryPolicy::DEFAULT_DEADLINE, scale, secs(5)))
            .with_attempt_timeout(scaled(RetryPolicy::DEFAULT_ATTEMPT_TIMEOUT, scale, secs(2)))
            .with_server_wait_cap(scaled(RetryPolicy::DEFAULT_SERVER_WAIT_CAP, scale, secs(3)))
            .with_backoff(backoff);
        if faults {
            // A demo of faults should show retries working, not the rare call that drew four
            // faults in a row: more attempts, all inside the same (scaled) deadline.
            retry = retry.with_attempt_limit(8);
        }
        Clock {
            pacing,
            wait,
            retry,
        }
    }
}

/// Starts the emulator (with `--emulator`) and builds the client.
pub(crate) async fn open(
    cli: &Cli,
    key_from_command_line: bool,
    need: KeyNeed,
    ui: &Arc<Ui>,
) -> Result<Session, Failure> {
    let transport = ReqwestTransport::new().map_err(|e| {
        Failure::new(
            exit::API,
            "network",
            format!("Could not start the HTTP client: {e}."),
        )
    })?;
    let transport = Observed::new(transport, Arc::clone(ui));

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

    let (emulator, base_url, key, clock) = if cli.emulator {
        let scale = cli.emulator_time_scale.unwrap_or(DEFAULT_TIME_SCALE);
        let seed = cli.emulator_seed.unwrap_or_else(clock_seed);
        let mut builder = Emulator::builder()
            .time_scale(scale)
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
            "Using the built-in emulator at {} with {whose}; time runs ×{scale} (a one-minute \
             job takes about {}){}. It lives only as long as this command.",
            emulator.base_url(),
            crate::duration::human(Duration::from_secs(55).mul_f64(scale)),
            if faults {
                format!(
                    ", with faults on {:.0}% of requests",
                    cli.emulator_faults.unwrap_or(0.0) * 100.0
                )
            } else {
                String::new()
            }
        ));
        (Some(emulator), base, key, Clock::for_scale(scale, faults))
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
        let scale = cli.emulator_time_scale.unwrap_or(1.0);
        (None, base, key, Clock::for_scale(scale, false))
    };

    let client = Client::builder(transport)
        .api_key(key)
        .base_url(base_url)
        .attribution(attribution)
        .pacing(clock.pacing)
        .wait_policy(clock.wait)
        .retry_policy(clock.retry)
        .build()
        .map_err(|e| crate::exit::classify(&e, crate::exit::Stage::Usage, Duration::ZERO))?;
    Ok(Session {
        client,
        _emulator: emulator,
    })
}

fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
