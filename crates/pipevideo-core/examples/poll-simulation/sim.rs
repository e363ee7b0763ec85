//! A virtual-time simulator of waiting: generations with random durations, a server with the
//! key's 100-per-minute sliding limit, and the [`Poller`] or [`Fleet`] deciding when to poll.
//!
//! It measures what a schedule costs (polls per generation, 429s) and what it buys (detection
//! delay: from the instant a generation completes to the instant a poll sees it). Time is
//! virtual: `start` is any instant, and nothing sleeps, so 10,000 generations take a few
//! milliseconds.
//!
//! Not part of the library: it drives the core's public state machines like any user would.
//! The `poll-simulation` example (`main.rs` next to this file) prints the comparison table,
//! and `tests/poll_simulation.rs` includes this file (`#[path]`) to assert the schedule's
//! goals on fixed seeds.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::Rng;

use pipevideo_core::policy::LogNormal;
use pipevideo_core::policy::PollSchedule;
use pipevideo_core::policy::WaitPolicy;
use pipevideo_core::poll::{Fleet, OutcomeKind, PollFailure, Poller};
use pipevideo_core::{Flavor, GenerationId, GenerationRef, Status};
use pipevideo_core::{pacing::Pacer, policy::PacingPolicy};

/// How long the simulated generations take.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Workload {
    durations: LogNormal,
    /// `(fraction, factor)`: a fraction of generations take `factor` times longer.
    heavy_tail: Option<(f64, f64)>,
}

impl Default for Workload {
    /// Lognormal, median 55 s, sigma 0.35, no heavy tail.
    fn default() -> Self {
        Self::new(LogNormal::PIPEVIDEO)
    }
}

impl Workload {
    /// Durations drawn from `durations`.
    pub(crate) fn new(durations: LogNormal) -> Self {
        Self {
            durations,
            heavy_tail: None,
        }
    }

    /// The default workload where 5% of generations take 3× longer (stuck renders, queues).
    pub(crate) fn heavy_tailed() -> Self {
        Self::default().with_heavy_tail(0.05, 3.0)
    }

    /// A `fraction` (clamped into `0..=1`) of generations take `factor` (at least 1) times
    /// longer.
    #[must_use]
    pub(crate) fn with_heavy_tail(mut self, fraction: f64, factor: f64) -> Self {
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        let factor = if factor.is_finite() {
            factor.max(1.0)
        } else {
            1.0
        };
        self.heavy_tail = Some((fraction, factor));
        self
    }

    fn sample(&self, rng: &mut impl Rng) -> f64 {
        // Inverse-transform sampling through the distribution's public quantile function.
        let u: f64 = rng.random_range(1e-12..1.0 - 1e-12);
        let d = self.durations.quantile(u).as_secs_f64();
        match self.heavy_tail {
            Some((fraction, factor)) if rng.random::<f64>() < fraction => d * factor,
            _ => d,
        }
    }
}

/// What a simulation measured.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Report {
    /// Generations simulated.
    pub(crate) generations: usize,
    /// Mean polls per generation (429s included: they were sent).
    pub(crate) polls_mean: f64,
    /// Detection delay, median, in seconds (generations whose completion was seen).
    pub(crate) delay_p50: f64,
    /// Detection delay, 95th percentile, in seconds.
    pub(crate) delay_p95: f64,
    /// Detection delay, maximum, in seconds.
    pub(crate) delay_max: f64,
    /// 429 responses received.
    pub(crate) rejected: u64,
    /// Generations whose wait ended without seeing them complete.
    pub(crate) given_up: usize,
}

impl Report {
    fn new(generations: usize, polls: u64, mut delays: Vec<f64>, rejected: u64) -> Self {
        delays.sort_by(f64::total_cmp);
        let pick = |q: f64| -> f64 {
            if delays.is_empty() {
                return f64::NAN;
            }
            // Nearest-rank percentile.
            let rank = (q * delays.len() as f64).ceil() as usize;
            delays[rank.clamp(1, delays.len()) - 1]
        };
        Self {
            generations,
            polls_mean: polls as f64 / generations.max(1) as f64,
            delay_p50: pick(0.50),
            delay_p95: pick(0.95),
            delay_max: delays.last().copied().unwrap_or(f64::NAN),
            rejected,
            given_up: generations - delays.len(),
        }
    }
}

/// The server's rate limit: at most `limit` accepted requests in any sliding `window`.
/// Rejected requests do not count; a rejection says when a request would be accepted.
#[derive(Debug, Clone)]
pub(crate) struct ServerLimit {
    limit: usize,
    window: Duration,
    accepted: VecDeque<Instant>,
}

impl ServerLimit {
    /// A limit of `limit` requests per sliding `window`.
    pub(crate) fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit,
            window,
            accepted: VecDeque::with_capacity(limit),
        }
    }

    /// Pipevideo's documented limit: 100 requests per minute.
    pub(crate) fn pipevideo() -> Self {
        Self::new(100, Duration::from_secs(60))
    }

    /// A request arrives at `now`: `Ok` if accepted, else the instant it would be
    /// (`retry_after` rounded up to whole seconds, as the API sends it).
    pub(crate) fn admit(&mut self, now: Instant) -> Result<(), Instant> {
        while self
            .accepted
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= self.window)
        {
            self.accepted.pop_front();
        }
        if self.accepted.len() < self.limit {
            self.accepted.push_back(now);
            return Ok(());
        }
        let free_at = self.accepted[0] + self.window;
        let secs = free_at
            .saturating_duration_since(now)
            .as_secs_f64()
            .ceil()
            .max(1.0);
        Err(now + Duration::from_secs_f64(secs))
    }
}

/// The simulator. See the [module docs](self).
#[derive(Debug, Clone)]
pub(crate) struct Simulation {
    start: Instant,
    workload: Workload,
    deadline: Duration,
    pacing: Option<PacingPolicy>,
}

impl Simulation {
    /// A simulation of the default [`Workload`] with the default 10-minute wait deadline,
    /// whose virtual time starts at `start`.
    pub(crate) fn new(start: Instant) -> Self {
        Self {
            start,
            workload: Workload::default(),
            deadline: WaitPolicy::DEFAULT_DEADLINE,
            pacing: None,
        }
    }

    /// Paces each lone generation's polls as the SDK's client does (its [`Pacer`]), instead
    /// of sending each poll when the schedule says (as a bare loop would).
    #[must_use]
    pub(crate) fn with_pacing(mut self, pacing: PacingPolicy) -> Self {
        self.pacing = Some(pacing);
        self
    }

    /// Simulates another workload.
    #[must_use]
    pub(crate) fn with_workload(mut self, workload: Workload) -> Self {
        self.workload = workload;
        self
    }

    /// Gives up each wait after `deadline` (e.g. 55 s, as the official client does).
    #[must_use]
    pub(crate) fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    fn policy(&self, schedule: &PollSchedule) -> WaitPolicy {
        WaitPolicy::default()
            .with_schedule(schedule.clone())
            .with_deadline(self.deadline)
            .unwrap_or_default()
    }

    /// `generations` generations, one after another, each alone on its key, polled by a
    /// [`Poller`] following `schedule` (a 429 is honoured: no poll before its `retry_after`).
    pub(crate) fn alone(
        &self,
        schedule: &PollSchedule,
        generations: usize,
        rng: &mut impl Rng,
    ) -> Report {
        let policy = self.policy(schedule);
        let reference = sim_ref(0);
        let (mut polls, mut rejected) = (0_u64, 0_u64);
        let mut delays = Vec::with_capacity(generations);
        // Each generation runs in its own stretch of virtual time, an hour apart, so the
        // server's window never carries over from one to the next.
        for g in 0..generations {
            let t0 = self.start + Duration::from_secs(3600 * g as u64);
            let done_at = t0 + Duration::from_secs_f64(self.workload.sample(rng));
            let mut server = ServerLimit::pipevideo();
            let mut poller = Poller::<Status>::new(reference.clone(), policy.clone(), t0, rng);
            let mut pacer = self.pacing.map(Pacer::new);
            let mut now = t0;
            let outcome = loop {
                if let Some(outcome) = poller.poll_outcome() {
                    break outcome;
                }
                // The client's pacer delays a due poll; the poller's deadline still rules.
                let paced = pacer.as_ref().map_or(now, |p| p.next_send_at(now));
                if paced <= now && poller.poll_transmit(now).is_some() {
                    if let Some(p) = pacer.as_mut() {
                        p.record_send(now);
                    }
                    let result = respond(&mut server, now, done_at, &mut rejected);
                    poller.handle_response(now, result);
                    continue;
                }
                // A running poller always has a timeout.
                let wake = poller.poll_timeout().unwrap_or(now);
                now = now.max(wake.max(paced.min(poller.deadline())));
                poller.handle_timeout(now);
            };
            polls += u64::from(outcome.polls);
            if let OutcomeKind::Completed(_) = outcome.kind {
                delays.push((now - done_at).as_secs_f64());
            }
        }
        Report::new(generations, polls, delays, rejected)
    }

    /// `rounds` batches of `size` generations created at the same instant on one key, waited
    /// on by one [`Fleet`] under `pacing`, against the server's 100-per-minute limit.
    pub(crate) fn fleet(
        &self,
        schedule: &PollSchedule,
        pacing: PacingPolicy,
        size: usize,
        rounds: usize,
        rng: &mut impl Rng,
    ) -> Report {
        let policy = self.policy(schedule);
        let (mut polls, mut rejected) = (0_u64, 0_u64);
        let mut delays = Vec::with_capacity(size * rounds);
        for round in 0..rounds {
            let t0 = self.start + Duration::from_secs(24 * 3600 * round as u64);
            let mut server = ServerLimit::pipevideo();
            let mut pacer = Pacer::new(pacing);
            let mut fleet = Fleet::<Status>::new();
            let mut done_at = Vec::with_capacity(size);
            for i in 0..size {
                let reference = sim_ref(i);
                done_at.push(t0 + Duration::from_secs_f64(self.workload.sample(rng)));
                // Unique references: insertion cannot fail.
                let _ = fleet.insert(reference, policy.clone(), t0, rng);
            }
            let mut now = t0;
            loop {
                while let Some(outcome) = fleet.poll_outcome() {
                    polls += u64::from(outcome.polls);
                    if let OutcomeKind::Completed(_) = outcome.kind {
                        let i = sim_index(&outcome.reference);
                        delays.push((now - done_at[i]).as_secs_f64());
                    }
                }
                if fleet.is_empty() {
                    break;
                }
                while let Some(t) = fleet.poll_transmit(now, &mut pacer) {
                    let i = sim_index(&t.reference);
                    let result = respond(&mut server, now, done_at[i], &mut rejected);
                    let _ = fleet.handle_response(now, &mut pacer, &t.reference, result);
                }
                if let Some(t) = fleet.poll_timeout(&pacer) {
                    now = now.max(t);
                }
                fleet.handle_timeout(now);
            }
        }
        Report::new(size * rounds, polls, delays, rejected)
    }

    /// The best any client that learns of completions only by polling could do with
    /// `size`-generation batches under a sliding limit of `limit` requests per `window`: each
    /// generation polled exactly once, at the first instant after it completes that the limit
    /// allows. A lower bound for [`Simulation::fleet`] with the same budget.
    pub(crate) fn fleet_bound(
        &self,
        size: usize,
        rounds: usize,
        limit: usize,
        window: Duration,
        rng: &mut impl Rng,
    ) -> Report {
        let mut delays = Vec::with_capacity(size * rounds);
        let limit = limit.max(1);
        for _ in 0..rounds {
            let mut done: Vec<f64> = (0..size).map(|_| self.workload.sample(rng)).collect();
            done.sort_by(f64::total_cmp);
            let mut sent: Vec<f64> = Vec::with_capacity(size);
            for (i, &c) in done.iter().enumerate() {
                let mut s = c;
                if i >= limit {
                    s = s.max(sent[i - limit] + window.as_secs_f64());
                }
                if let Some(&prev) = sent.last() {
                    s = s.max(prev);
                }
                sent.push(s);
                delays.push(s - c);
            }
        }
        let n = size * rounds;
        Report::new(n, n as u64, delays, 0)
    }
}

fn respond(
    server: &mut ServerLimit,
    now: Instant,
    done_at: Instant,
    rejected: &mut u64,
) -> Result<Status, PollFailure> {
    match server.admit(now) {
        Ok(()) if now >= done_at => Ok(Status::Completed),
        Ok(()) => Ok(Status::Running),
        Err(at) => {
            *rejected += 1;
            Err(PollFailure::Transient {
                not_before: Some(at),
                message: "Rate limit exceeded. Please try again later.".into(),
            })
        }
    }
}

fn sim_ref(i: usize) -> GenerationRef {
    let id = GenerationId::new(format!("gen_sim{i}")).unwrap_or_else(|_| unreachable!());
    GenerationRef::new(Flavor::Responses, id)
}

fn sim_index(r: &GenerationRef) -> usize {
    r.id().as_str()["gen_sim".len()..].parse().unwrap_or(0)
}
