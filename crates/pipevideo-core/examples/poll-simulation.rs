//! The poll schedule simulation: the adaptive schedule against the classic baselines, and the
//! fleet scheduler for 1 to 500 generations on one key, in virtual time.
//!
//! Run: `cargo run --release -p pipevideo-core --example poll-simulation [seed]`
//!
//! Every row uses its own RNG seeded from `seed` (default 2026), so the table is reproducible.
//! "CPU" is the real time the row took to simulate (the only clock read in this program).
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use pipevideo_core::poll::sim::{Report, Simulation, Workload};
use pipevideo_core::poll::{AdaptiveSchedule, PollSchedule};
use pipevideo_core::retry::pacing::PacingPolicy;
use rand::{SeedableRng, rngs::SmallRng};

const GENERATIONS: usize = 10_000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seed: u64 = match std::env::args().nth(1) {
        Some(s) => s.parse()?,
        None => 2026,
    };
    let base = Instant::now();
    let sim = Simulation::new(base);
    let heavy = Simulation::new(base).with_workload(Workload::heavy_tailed());
    let official = Simulation::new(base).with_deadline(Duration::from_secs(55));

    let adaptive = |ms: u64| -> Result<PollSchedule, Box<dyn std::error::Error>> {
        Ok(AdaptiveSchedule::default()
            .with_peak_interval(Duration::from_millis(ms))?
            .into())
    };
    let fixed_05 = PollSchedule::fixed(Duration::from_millis(500))?;
    let fixed_3 = PollSchedule::fixed(Duration::from_secs(3))?;
    let expo = PollSchedule::exponential(Duration::from_secs(1), 2.0, Duration::from_secs(60))?;

    println!(
        "Workload: lognormal durations, median 55 s, sigma 0.35 (heavy: 5% take 3x); server: 100 requests / sliding 60 s."
    );
    println!("Single rows: {GENERATIONS} generations, each alone on its key. Seed {seed}.\n");
    header();
    let rows: Vec<(&str, &Simulation, PollSchedule)> = vec![
        (
            "adaptive (default, peak 1.6 s)",
            &sim,
            PollSchedule::default(),
        ),
        ("adaptive, peak 0.3 s", &sim, adaptive(300)?),
        ("adaptive, peak 5 s", &sim, adaptive(5000)?),
        ("fixed 0.5 s", &sim, fixed_05.clone()),
        ("fixed 3 s", &sim, fixed_3.clone()),
        ("exponential 1 s x2, cap 60 s", &sim, expo.clone()),
        (
            "official client (3 s, gives up at 55 s)",
            &official,
            fixed_3.clone(),
        ),
        (
            "heavy tail: adaptive (default)",
            &heavy,
            PollSchedule::default(),
        ),
        ("heavy tail: fixed 3 s", &heavy, fixed_3),
    ];
    for (i, (name, sim, schedule)) in rows.into_iter().enumerate() {
        let mut rng = SmallRng::seed_from_u64(seed ^ i as u64);
        let cpu = Instant::now();
        let report = sim.alone(&schedule, GENERATIONS, &mut rng);
        row(name, &report, cpu.elapsed());
    }

    println!(
        "\nFleet rows: N generations created at once on one key, one Fleet, default schedule, pacing {} req / {} s (burst {}).",
        PacingPolicy::default().limit(),
        PacingPolicy::default().window().as_secs(),
        PacingPolicy::default().burst()
    );
    println!(
        "\"bound\": each generation polled once, at the first instant after it completes that the same budget allows.\n"
    );
    header();
    for (j, (n, rounds)) in [(1, 2000), (3, 700), (50, 40), (500, 4)]
        .into_iter()
        .enumerate()
    {
        let mut rng = SmallRng::seed_from_u64(seed ^ (100 + j as u64));
        let cpu = Instant::now();
        let report = sim.fleet(
            &PollSchedule::default(),
            PacingPolicy::default(),
            n,
            rounds,
            &mut rng,
        );
        row(
            &format!("fleet N = {n} (x{rounds})"),
            &report,
            cpu.elapsed(),
        );
        if n >= 50 {
            let mut rng = SmallRng::seed_from_u64(seed ^ (100 + j as u64));
            let cpu = Instant::now();
            let limit = PacingPolicy::default().limit() as usize;
            let report =
                sim.fleet_bound(n, rounds, limit, PacingPolicy::default().window(), &mut rng);
            row(&format!("  bound N = {n}"), &report, cpu.elapsed());
        }
    }
    Ok(())
}

fn header() {
    println!(
        "| {:<42} | {:>7} | {:>9} | {:>8} | {:>8} | {:>8} | {:>6} | {:>8} | {:>8} |",
        "schedule", "gens", "polls/gen", "p50 s", "p95 s", "max s", "429s", "gave up", "CPU ms"
    );
    println!(
        "|{:-<44}|{:->9}|{:->11}|{:->10}|{:->10}|{:->10}|{:->8}|{:->10}|{:->10}|",
        "", "", "", "", "", "", "", "", ""
    );
}

fn row(name: &str, r: &Report, cpu: Duration) {
    println!(
        "| {:<42} | {:>7} | {:>9.2} | {:>8.2} | {:>8.2} | {:>8.2} | {:>6} | {:>8} | {:>8.1} |",
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
