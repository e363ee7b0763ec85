//! A mixed workload for learned durations: three models whose generations take a median of
//! 25 s, 55 s and 140 s (sigma 0.35), created one after another in random order, each alone on
//! its key (so pacing is never the bottleneck), each waited on by a [`Poller`](pipevideo_core::poll::Poller) through the
//! SDK's default pacer against the server's 100-per-minute limit.
//!
//! What differs between runs is only the prior each wait follows ([`Priors`]): the SDK's
//! default for every model, what a [`DurationLearner`] learned from the completions before
//! it (through the same calls the client makes: [`DurationLearner::wait_policy`] before a wait,
//! [`DurationLearner::handle_outcome`] after it, which reads when the generation finished from
//! the outcome), or each model's true distribution (what learning can at best reach).
//!
//! Shared by the `poll-simulation` example (`main.rs`) and `tests/poll_learning.rs`, which
//! includes it next to `sim.rs` (`#[path]`).

use std::time::{Duration, Instant};

use rand::Rng;

use pipevideo_core::policy::{AdaptiveSchedule, LogNormal, PacingPolicy, WaitPolicy};
use pipevideo_core::poll::{DurationKey, DurationLearner, OutcomeKind};
use pipevideo_core::{Flavor, GenerationId, GenerationRef};

use crate::sim::{Report, wait_alone};

/// One model of the mixed workload.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    /// Its name, as a create request would carry it.
    pub(crate) name: &'static str,
    /// How long its generations take.
    pub(crate) durations: LogNormal,
}

/// The three models: medians 25 s, 55 s and 140 s, sigma 0.35.
pub(crate) fn models() -> Vec<Model> {
    [("fast-25s", 25), ("usual-55s", 55), ("slow-140s", 140)]
        .into_iter()
        .map(|(name, secs)| Model {
            name,
            durations: LogNormal::new(Duration::from_secs(secs), 0.35)
                .unwrap_or(LogNormal::PIPEVIDEO),
        })
        .collect()
}

/// Which prior each wait follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priors {
    /// The SDK's default (median 55 s) for every model: no learning.
    Default,
    /// What a [`DurationLearner`] learned from the earlier completions of the same model (the
    /// default until it has three).
    Learned,
    /// Each model's true distribution, given up front: the best learning can do.
    True,
}

/// What a mixed run measured: all generations, and each model's alone.
#[derive(Debug, Clone)]
pub(crate) struct MixedReport {
    /// Every generation.
    pub(crate) all: Report,
    /// Per model, in the order of [`models`].
    pub(crate) per_model: Vec<(&'static str, Report)>,
}

/// `generations` generations of models drawn at random, one after another, each waited on
/// with `priors`.
pub(crate) fn run(
    start: Instant,
    priors: Priors,
    generations: usize,
    rng: &mut impl Rng,
) -> MixedReport {
    let models = models();
    let keys: Vec<DurationKey> = models
        .iter()
        .map(|m| DurationKey::new(Flavor::Responses, m.name, None))
        .collect();
    let mut learner = DurationLearner::default();
    let reference = GenerationRef::new(
        Flavor::Responses,
        GenerationId::new("gen_mixed").unwrap_or_else(|_| unreachable!()),
    );
    let mut runs: Vec<Tally> = models.iter().map(|_| Tally::default()).collect();
    for g in 0..generations {
        let m = rng.random_range(0..models.len());
        let policy = match priors {
            Priors::Default => WaitPolicy::default(),
            Priors::Learned => learner.wait_policy(&WaitPolicy::default(), Some(&keys[m])),
            Priors::True => WaitPolicy::default().with_schedule(
                AdaptiveSchedule::default()
                    .with_prior(models[m].durations)
                    .into(),
            ),
        };
        // Each generation in its own hour of virtual time: the server's window never carries
        // over from one to the next.
        let t0 = start + Duration::from_secs(3600 * g as u64);
        let u: f64 = rng.random_range(1e-12..1.0 - 1e-12);
        let done_at = t0 + models[m].durations.quantile(u);
        let (outcome, now, rejected) = wait_alone(
            &reference,
            policy,
            t0,
            done_at,
            Some(PacingPolicy::default()),
            rng,
        );
        if priors == Priors::Learned {
            // What the client does when a wait on one of its handles ends.
            learner.handle_outcome(&keys[m], &outcome, None);
        }
        let tally = &mut runs[m];
        tally.generations += 1;
        tally.polls += u64::from(outcome.polls);
        tally.rejected += rejected;
        if let OutcomeKind::Completed(_) = outcome.kind {
            tally.delays.push((now - done_at).as_secs_f64());
        }
    }
    let mut all = Tally::default();
    for t in &runs {
        all.generations += t.generations;
        all.polls += t.polls;
        all.rejected += t.rejected;
        all.delays.extend_from_slice(&t.delays);
    }
    MixedReport {
        all: all.report(),
        per_model: models
            .iter()
            .zip(runs)
            .map(|(m, t)| (m.name, t.report()))
            .collect(),
    }
}

#[derive(Debug, Default)]
struct Tally {
    generations: usize,
    polls: u64,
    rejected: u64,
    delays: Vec<f64>,
}

impl Tally {
    fn report(self) -> Report {
        Report::new(self.generations, self.polls, self.delays, self.rejected)
    }
}
