//! The poll schedule simulation: the adaptive schedule against the classic baselines, and the
//! fleet scheduler for 1 to 500 generations on one key, in virtual time. The simulator itself
//! is `sim.rs` next to this file (shared with `tests/poll_simulation.rs`).
//!
//! Run: `cargo run --release -p pipevideo-core --example poll-simulation [seed] [sections]`
//! (`sections`: a comma-separated subset of `single,fleet,webhooks,mixed`; all by default).
//!
//! Every row has its own RNG seeded from `seed` (default 2026), so the table is reproducible
//! (all but the CPU column). "CPU ms" is the CPU time this thread spent simulating the row
//! (Linux: from `/proc/thread-self/schedstat`; elsewhere the wall time), so a busy machine
//! does not inflate it.

mod mixed;
mod sim;

use std::time::{Duration, Instant};

use pipevideo_core::policy::AdaptiveSchedule;
use pipevideo_core::policy::PacingPolicy;
use pipevideo_core::policy::PollSchedule;
use pipevideo_core::policy::TerminalWebhook;
use rand::{SeedableRng, rngs::SmallRng};
use sim::{Report, Simulation, Workload};

const GENERATIONS: usize = 10_000;

type BoxError = Box<dyn std::error::Error>;

fn main() -> Result<(), BoxError> {
    let seed: u64 = match std::env::args().nth(1) {
        Some(s) => s.parse()?,
        None => 2026,
    };
    // Optional second argument: the sections to print, e.g. `fleet,webhooks` (default: all).
    let only = std::env::args().nth(2);
    let show = |section: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|s| s == section))
    };
    // Virtual time starts here; nothing sleeps.
    let base = Instant::now();
    let pacing = PacingPolicy::default();
    let bare = Simulation::new(base);
    // The SDK's rows: the client paces itself as it does by default.
    let sdk = Simulation::new(base).with_pacing(pacing);
    let heavy = Simulation::new(base).with_workload(Workload::heavy_tailed());
    let heavy_sdk = heavy.clone().with_pacing(pacing);
    let official = Simulation::new(base).with_deadline(Duration::from_secs(55));
    // Paced at the documented limit itself, for the fastest setting.
    let full_pacing = PacingPolicy::new(100, Duration::from_secs(60)).with_burst(10);
    let sdk_full = Simulation::new(base).with_pacing(full_pacing);

    let adaptive = |ms: u64| -> Result<PollSchedule, BoxError> {
        Ok(AdaptiveSchedule::default()
            .with_peak_interval(Duration::from_millis(ms))?
            .into())
    };
    let fixed_05 = PollSchedule::fixed(Duration::from_millis(500))?;
    let fixed_3 = PollSchedule::fixed(Duration::from_secs(3))?;
    let expo = PollSchedule::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(60))?;

    if show("single") {
        println!(
            "Workload: lognormal durations, median 55 s, sigma 0.35 (heavy: 5% take 3x longer).\n\
         Server: 100 requests per sliding 60 s per key; a 429 carries retry_after in whole seconds.\n\
         Single rows: {GENERATIONS} generations, each alone on its key; seed {seed}.\n\
         Adaptive rows go through the SDK's pacer ({} requests / {} s, bursts of {}); the baselines\n\
         send whenever their schedule says (honouring retry_after after a 429).\n",
            pacing.limit(),
            pacing.window().as_secs(),
            pacing.burst(),
        );
        header();
        let rows: Vec<(&str, &Simulation, PollSchedule)> = vec![
            (
                "adaptive (default, peak 1.5 s)",
                &sdk,
                PollSchedule::default(),
            ),
            (
                "adaptive, peak 0.4 s, paced at 100/min",
                &sdk_full,
                adaptive(400)?,
            ),
            ("adaptive, peak 7 s", &sdk, adaptive(7000)?),
            ("fixed 0.5 s", &bare, fixed_05),
            ("fixed 3 s", &bare, fixed_3.clone()),
            ("exponential 1 s x2, cap 60 s", &bare, expo),
            (
                "official client (3 s, gives up at 55 s)",
                &official,
                fixed_3.clone(),
            ),
            (
                "heavy tail: adaptive (default)",
                &heavy_sdk,
                PollSchedule::default(),
            ),
            ("heavy tail: fixed 3 s", &heavy, fixed_3),
        ];
        for (i, (name, sim, schedule)) in rows.into_iter().enumerate() {
            let mut rng = SmallRng::seed_from_u64(seed ^ i as u64);
            let clock = CpuClock::start();
            let report = sim.alone(&schedule, GENERATIONS, &mut rng);
            row(name, &report, clock.elapsed());
        }
    }

    if show("fleet") {
        println!(
            "\nFleet rows: N generations created at the same instant on one key, waited on by one Fleet\n\
         (default schedule) through one pacer ({} requests / {} s, bursts of {}).\n\
         \"oracle bound\": each generation polled exactly once, at the first instant after it\n\
         completes that the same sliding limit allows (no client can do better).\n\
         \"online ... bound\": the best a scheduler that learns of completions only by polling can\n\
         reach, under this pacer (derived in ARCHITECTURE.md, \"How close to the bound\", with its\n\
         approximations; distributions, not runs).\n",
            pacing.limit(),
            pacing.window().as_secs(),
            pacing.burst(),
        );
        header();
        for (j, (n, rounds)) in [(1, 2000), (3, 700), (50, 40), (500, 4)]
            .into_iter()
            .enumerate()
        {
            let row_seed = seed ^ (100 + j as u64);
            let mut rng = SmallRng::seed_from_u64(row_seed);
            let clock = CpuClock::start();
            let report = sdk.fleet(&PollSchedule::default(), pacing, n, rounds, &mut rng);
            row(
                &format!("fleet N = {n} (x{rounds} batches)"),
                &report,
                clock.elapsed(),
            );
            if n >= 50 {
                let mut rng = SmallRng::seed_from_u64(row_seed);
                let clock = CpuClock::start();
                let limit = usize::try_from(pacing.limit())?;
                let report = sdk.fleet_bound(n, rounds, limit, pacing.window(), &mut rng);
                row(&format!("  oracle bound N = {n}"), &report, clock.elapsed());
                let rate = f64::from(pacing.limit()) / pacing.window().as_secs_f64();
                let clock = CpuClock::start();
                let report = sdk.fluid_bound(n, rate);
                row(
                    &format!("  online fluid bound N = {n}"),
                    &report,
                    clock.elapsed(),
                );
                let clock = CpuClock::start();
                let report = sdk.detection_bound(n, limit, pacing.window());
                row(
                    &format!("  online detection bound N = {n}"),
                    &report,
                    clock.elapsed(),
                );
            }
        }
    }

    if show("webhooks") {
        println!(
            "\nWebhook rows: N generations created at the same instant on one key, completing evenly\n\
         over one minute (60 s to 120 s after creation), each announced by a verified webhook the\n\
         instant it completes; one Fleet with `WaitPolicy::with_webhooks(true)` (a safety-net poll\n\
         every 60 s). The delay is from completion to the instant the wait returns.\n\
         \"fetch bound\": one fetch per generation, first announced first, each at the first instant\n\
         the same pacer allows (the least time the budget allows).\n"
        );
        header();
        let n = 500;
        let rounds = 4;
        let webhook_seed = seed ^ 300;
        let rows = [
            (
                "webhooks N = 500, one fetch each (default)",
                TerminalWebhook::Fetch,
            ),
            (
                "webhooks N = 500, event only (UseEvent)",
                TerminalWebhook::UseEvent,
            ),
        ];
        for (name, terminal) in rows {
            let mut rng = SmallRng::seed_from_u64(webhook_seed);
            let clock = CpuClock::start();
            let report = sdk.fleet_webhooks(pacing, terminal, n, rounds, &mut rng);
            row(name, &report, clock.elapsed());
        }
        let mut rng = SmallRng::seed_from_u64(webhook_seed);
        let clock = CpuClock::start();
        let report = sdk.fetch_bound(pacing, n, rounds, &mut rng);
        row("  fetch bound N = 500", &report, clock.elapsed());
    }
    if show("mixed") {
        println!(
            "\nMixed rows (learned durations): three models, medians 25 s, 55 s and 140 s (sigma 0.35),\n\
             drawn at random; {GENERATIONS} generations one after another, each alone on its key, default\n\
             schedule through the SDK's pacer. \"learned\": each wait's prior is what a DurationLearner\n\
             learned from the earlier completions of its model (the calls the client makes); \"true\":\n\
             each model's own distribution, given up front (what learning can at best reach).\n\
             The indented rows split the same run per model (its CPU time is on the row above).\n"
        );
        header();
        for (k, (name, priors)) in [
            ("mixed, default prior (no learning)", mixed::Priors::Default),
            ("mixed, learned priors", mixed::Priors::Learned),
            ("mixed, true priors (bound)", mixed::Priors::True),
        ]
        .into_iter()
        .enumerate()
        {
            let mut rng = SmallRng::seed_from_u64(seed ^ (200 + k as u64));
            let clock = CpuClock::start();
            let report = mixed::run(base, priors, GENERATIONS, &mut rng);
            let cpu = clock.elapsed();
            row(name, &report.all, cpu);
            for (model, r) in &report.per_model {
                row(&format!("  {model}"), r, Duration::ZERO);
            }
        }
    }
    Ok(())
}

fn header() {
    println!(
        "| {:<42} | {:>6} | {:>9} | {:>7} | {:>7} | {:>7} | {:>6} | {:>7} | {:>7} |",
        "schedule", "gens", "polls/gen", "p50 s", "p95 s", "max s", "429s", "gave up", "CPU ms"
    );
    println!(
        "|{:-<44}|{:->8}|{:->11}|{:->9}|{:->9}|{:->9}|{:->8}|{:->9}|{:->9}|",
        "", "", "", "", "", "", "", "", ""
    );
}

fn row(name: &str, r: &Report, cpu: Duration) {
    println!(
        "| {:<42} | {:>6} | {:>9.2} | {:>7.2} | {:>7.2} | {:>7.2} | {:>6} | {:>7} | {:>7.1} |",
        name,
        r.generations,
        r.polls_mean,
        r.delay_p50,
        r.delay_p95,
        r.delay_max,
        r.rejected,
        r.given_up,
        cpu.as_secs_f64() * 1e3
    );
}

/// CPU time of this thread where the OS tells it cheaply, else wall time.
struct CpuClock {
    cpu: Option<u64>,
    wall: Instant,
}

impl CpuClock {
    fn start() -> Self {
        Self {
            cpu: thread_cpu_ns(),
            wall: Instant::now(),
        }
    }

    fn elapsed(&self) -> Duration {
        match (self.cpu, thread_cpu_ns()) {
            (Some(a), Some(b)) => Duration::from_nanos(b.saturating_sub(a)),
            _ => self.wall.elapsed(),
        }
    }
}

fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}
