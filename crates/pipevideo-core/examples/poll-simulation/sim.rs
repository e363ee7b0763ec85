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
use pipevideo_core::policy::{TerminalWebhook, WaitPolicy};
use pipevideo_core::poll::{Fleet, OutcomeKind, PollFailure, Poller, Snapshot, WaitOutcome};
use pipevideo_core::webhook::{Verifier, WebhookEvent, WebhookSecret, sign};
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
    /// Percentiles (nearest rank) of the detection delays of `generations` generations.
    pub(crate) fn new(generations: usize, polls: u64, mut delays: Vec<f64>, rejected: u64) -> Self {
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

impl Report {
    /// A bound's delay distribution (a grid of points, not runs) for `generations`
    /// generations, each polled once.
    fn bound(generations: usize, delays: Vec<f64>) -> Self {
        let n = delays.len();
        Self {
            generations,
            given_up: 0,
            ..Self::new(n, n as u64, delays, 0)
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
            let (outcome, now, refused) =
                wait_alone(&reference, policy.clone(), t0, done_at, self.pacing, rng);
            rejected += refused;
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
            let mut pacer = Pacer::new(pacing);
            let mut fleet = Fleet::<Status>::new();
            let mut done_at = Vec::with_capacity(size);
            for i in 0..size {
                let reference = sim_ref(i);
                done_at.push(t0 + Duration::from_secs_f64(self.workload.sample(rng)));
                // Unique references: insertion cannot fail.
                let _ = fleet.insert(reference, policy.clone(), t0, rng);
            }
            let tally = drive_fleet(
                &mut fleet,
                &mut pacer,
                t0,
                &done_at,
                Status::clone,
                |_, _| None,
            );
            polls += tally.polls;
            rejected += tally.rejected;
            delays.extend(tally.delays);
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

/// A snapshot that, like the client's `Generation`, a webhook event cannot stand for unless the
/// wait accepts one built from the event alone ([`TerminalWebhook::UseEvent`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Full(Status);

impl Snapshot for Full {
    fn status(&self) -> Status {
        self.0.clone()
    }

    fn from_webhook_alone(_: &GenerationRef, event: &WebhookEvent) -> Option<Self> {
        Some(Self(event.status().clone()))
    }
}

impl Simulation {
    /// `rounds` batches of `size` generations created at the same instant on one key whose
    /// completions spread evenly over one minute (from 60 s to 120 s after creation), each
    /// announced by a verified webhook the instant it completes, waited on by one
    /// [`Fleet`] with [`WaitPolicy::with_webhooks`] and `terminal` through `pacing`.
    ///
    /// The delay is from completion to the instant the wait returns.
    pub(crate) fn fleet_webhooks(
        &self,
        pacing: PacingPolicy,
        terminal: TerminalWebhook,
        size: usize,
        rounds: usize,
        rng: &mut impl Rng,
    ) -> Report {
        let policy = WaitPolicy::default()
            .with_webhooks(true)
            .with_terminal_webhook(terminal);
        let secret =
            WebhookSecret::new("whsec_c2ltdWxhdGlvbg==").unwrap_or_else(|_| unreachable!());
        let verifier = Verifier::new(secret.clone());
        let (mut polls, mut rejected) = (0_u64, 0_u64);
        let mut delays = Vec::with_capacity(size * rounds);
        for round in 0..rounds {
            let t0 = self.start + Duration::from_secs(24 * 3600 * round as u64);
            let mut pacer = Pacer::new(pacing);
            let mut fleet = Fleet::<Full>::new();
            let mut done_at = Vec::with_capacity(size);
            for i in 0..size {
                let spread = 60.0 * (i as f64 + rng.random::<f64>()) / size as f64;
                done_at.push(t0 + Duration::from_secs_f64(60.0 + spread));
                let _ = fleet.insert(sim_ref(i), policy.clone(), t0, rng);
            }
            // Deliveries in completion order (the spread is already sorted).
            let mut deliveries = (0..size).collect::<VecDeque<_>>();
            let deliver = |now: Instant, fleet: &mut Fleet<Full>| {
                while let Some(&i) = deliveries.front().filter(|&&i| done_at[i] <= now) {
                    deliveries.pop_front();
                    let _ = fleet.handle_webhook(now, &completed_event(&secret, &verifier, i));
                }
                deliveries.front().map(|&i| done_at[i])
            };
            let tally = drive_fleet(
                &mut fleet,
                &mut pacer,
                t0,
                &done_at,
                |s| Full(s.clone()),
                deliver,
            );
            polls += tally.polls;
            rejected += tally.rejected;
            delays.extend(tally.delays);
        }
        Report::new(size * rounds, polls, delays, rejected)
    }

    /// The least time the budget allows for [`Simulation::fleet_webhooks`] when every
    /// finished generation needs one fetch: the fetches alone, first announced first, each at
    /// the first instant the same pacer allows after its event (no schedule poll spends a
    /// slot). First-come first-served minimises the latest return of every prefix of events.
    pub(crate) fn fetch_bound(
        &self,
        pacing: PacingPolicy,
        size: usize,
        rounds: usize,
        rng: &mut impl Rng,
    ) -> Report {
        let mut delays = Vec::with_capacity(size * rounds);
        for round in 0..rounds {
            let t0 = self.start + Duration::from_secs(24 * 3600 * round as u64);
            let mut pacer = Pacer::new(pacing);
            let mut last = t0;
            for i in 0..size {
                let spread = 60.0 * (i as f64 + rng.random::<f64>()) / size as f64;
                let done = t0 + Duration::from_secs_f64(60.0 + spread);
                let at = pacer.next_send_at(done.max(last));
                pacer.record_send(at);
                last = at;
                delays.push((at - done).as_secs_f64());
            }
        }
        let n = size * rounds;
        Report::new(n, n as u64, delays, 0)
    }
}

/// A verified `completed` event for generation `i`, as the receiving endpoint would hold it.
fn completed_event(secret: &WebhookSecret, verifier: &Verifier, i: usize) -> WebhookEvent {
    let body = format!(
        r#"{{"eventType":"video.generation.completed","generationId":"gen_sim{i}","status":"completed","outputUrl":"https://cdn.example/{i}.mp4"}}"#
    );
    let sent = std::time::SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let signed = sign(secret, &format!("msg_{i}"), sent, body.as_bytes());
    verifier
        .verify_headers(signed.as_headers(), body.as_bytes(), sent)
        .unwrap_or_else(|_| unreachable!())
}

/// How many points the online bounds evaluate their distributions on.
const BOUND_GRID: usize = 4000;

impl Simulation {
    /// The **fluid bound** of an online fleet of `size` generations created together whose
    /// polls share `rate` requests per second (ARCHITECTURE.md, "How close to the bound",
    /// bound 2): at `t` at least `size · S(t)` generations are unfinished and share the rate,
    /// so one that finishes at `t` waits at best a uniform share of the gap `size · S(t) / rate`.
    /// Returned as the delay distribution, evaluated on a grid of quantiles (not sampled).
    pub(crate) fn fluid_bound(&self, size: usize, rate: f64) -> Report {
        let prior = self.workload.durations;
        let mut delays = Vec::with_capacity(BOUND_GRID * 8);
        for k in 0..BOUND_GRID {
            let u = (k as f64 + 0.5) / BOUND_GRID as f64;
            let t = prior.quantile(u);
            let gap = size as f64 * (1.0 - prior.cdf(t)) / rate;
            for j in 0..8 {
                delays.push(gap * (j as f64 + 0.5) / 8.0);
            }
        }
        Report::bound(size, delays)
    }

    /// The **detection bound** of an online fleet of `size` generations created together under
    /// a sliding limit of `limit` requests per `window` (ARCHITECTURE.md, bound 3): a poll at
    /// `t` finds a finished generation with probability at most `F(t)`, so by `t` at most
    /// `min(size · F(t), limit · Σₘ F(t − m · window))` are detected in expectation; detections
    /// paired with completions first-come first-served (the best case) give the delays.
    pub(crate) fn detection_bound(&self, size: usize, limit: usize, window: Duration) -> Report {
        let prior = self.workload.durations;
        let f = |t: f64| {
            if t <= 0.0 {
                0.0
            } else {
                prior.cdf(Duration::from_secs_f64(t))
            }
        };
        let w = window.as_secs_f64();
        let envelope = |t: f64| {
            let windows: f64 = (0..64).map(|m| f(t - f64::from(m) * w)).sum();
            (size as f64 * f(t)).min(limit as f64 * windows)
        };
        let step = 0.01;
        let mut t = 0.0;
        let mut delays = Vec::with_capacity(size);
        for k in 0..size {
            // The k-th completion (first-come first-served) and the first instant the envelope
            // has room for its detection.
            let completed = prior.quantile((k as f64 + 0.5) / size as f64).as_secs_f64();
            while envelope(t) < k as f64 + 0.5 {
                t += step;
            }
            delays.push((t - completed).max(0.0));
        }
        Report::bound(size, delays)
    }
}

/// What one batch of a fleet cost and found.
struct Tally {
    polls: u64,
    rejected: u64,
    delays: Vec<f64>,
}

/// Runs `fleet` (generation `i` finishing at `done_at[i]`) from `t0` until every wait ended,
/// against the key's 100-per-minute limit: each answer is `snapshot(status)`, and before each
/// step `deliver(now, fleet)` hands over what arrived by `now` (webhooks) and says when the
/// next arrives. Outcomes are taken at the instant they happened, before time moves on.
fn drive_fleet<G: Snapshot>(
    fleet: &mut Fleet<G>,
    pacer: &mut Pacer,
    t0: Instant,
    done_at: &[Instant],
    snapshot: impl Fn(&Status) -> G,
    mut deliver: impl FnMut(Instant, &mut Fleet<G>) -> Option<Instant>,
) -> Tally {
    let mut server = ServerLimit::pipevideo();
    let mut tally = Tally {
        polls: 0,
        rejected: 0,
        delays: Vec::with_capacity(done_at.len()),
    };
    let mut now = t0;
    loop {
        let next_delivery = deliver(now, fleet);
        while let Some(t) = fleet.poll_transmit(now, pacer) {
            let i = sim_index(&t.reference);
            let result = respond(&mut server, now, done_at[i], &mut tally.rejected);
            let _ = fleet.handle_response(now, pacer, &t.reference, result.map(|s| snapshot(&s)));
        }
        while let Some(outcome) = fleet.poll_outcome() {
            tally.polls += u64::from(outcome.polls);
            if let OutcomeKind::Completed(_) = outcome.kind {
                let i = sim_index(&outcome.reference);
                tally.delays.push((now - done_at[i]).as_secs_f64());
            }
        }
        if fleet.is_empty() {
            return tally;
        }
        let wake = match (fleet.poll_timeout(pacer), next_delivery) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(t) = wake {
            now = now.max(t);
        }
        fleet.handle_timeout(now);
    }
}

/// One generation finishing at `done_at`, alone on its key, waited on by a [`Poller`] from `t0`
/// (paced as the client paces when `pacing` is given, else sending when the schedule says)
/// against the key's 100-per-minute limit. Returns the outcome, the instant it was known and
/// the 429s drawn.
pub(crate) fn wait_alone(
    reference: &GenerationRef,
    policy: WaitPolicy,
    t0: Instant,
    done_at: Instant,
    pacing: Option<PacingPolicy>,
    rng: &mut impl Rng,
) -> (WaitOutcome<Status>, Instant, u64) {
    let mut server = ServerLimit::pipevideo();
    let mut poller = Poller::<Status>::new(reference.clone(), policy, t0, rng);
    let mut pacer = pacing.map(Pacer::new);
    let mut rejected = 0;
    let mut now = t0;
    loop {
        if let Some(outcome) = poller.poll_outcome() {
            return (outcome, now, rejected);
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
