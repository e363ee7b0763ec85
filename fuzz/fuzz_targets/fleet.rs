//! The `Fleet` (what the client really drives): up to four generations on one key, polled
//! concurrently under a `Pacer`, fed random answers with random delays, 429 holds, cancels
//! and stalls, through its documented run loop. Invariants:
//!
//! - it never panics; each generation's outcome comes out exactly once, and the fleet empties;
//! - `poll_timeout` is never after the earliest deadline and is exactly actionable (a wake-up
//!   there ends a wait or lets a poll go: the loop never spins);
//! - no poll goes out before a 429's `not_before` (the hold is per key), while the same
//!   generation has one in flight, or at/after its deadline;
//! - the pacer's sliding-window limit is never exceeded;
//! - every wait ends by its deadline (or the wake-up after a stall that overslept it), and an
//!   unknown status never ends one.
//!
//! Input: an `arbitrary` plan (see `Plan`).
#![no_main]

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pipevideo_core::{
    GenerationRef, Status,
    pacing::Pacer,
    poll::{Fleet, OutcomeKind, PollFailure},
    policy::{PacingPolicy, PollSchedule, WaitPolicy},
};
use rand::{SeedableRng, rngs::SmallRng};

#[derive(Arbitrary, Debug)]
struct Plan {
    jobs: Vec<Job>,
    /// Pacing: `None` the default (90 per 60 s, bursts of 10).
    pacing: Option<(u16, u16, u8)>,
    seed: u64,
    /// Answers handed out to the polls in the order they are sent; then "still running".
    answers: Vec<(u16, Answer)>,
    /// Events at given moments (ms from the start).
    events: Vec<(u32, Action)>,
}

#[derive(Arbitrary, Debug)]
struct Job {
    deadline_ms: u32,
    grace_ms: u16,
    fixed_interval_ms: Option<u16>,
    resume_age_ms: Option<u32>,
}

#[derive(Arbitrary, Debug, Clone)]
enum Answer {
    Status(u8),
    Other(String),
    Unauthorized,
    NotFound,
    Transient { not_before_ms: Option<u16> },
    Fatal,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Action {
    Cancel(u8),
    Stall(u16),
}

const WORDS: [&str; 6] = [
    "pending",
    "queued",
    "processing",
    "in_progress",
    "completed",
    "failed",
];
const HORIZON_MS: u32 = 120_000;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

struct InFlight {
    reference: GenerationRef,
    arrives: Instant,
    answer: Answer,
}

fuzz_target!(|plan: Plan| {
    if plan.jobs.is_empty() || plan.jobs.len() > 4 {
        return;
    }
    let t0 = Instant::now();
    let policy = match plan.pacing {
        None => PacingPolicy::default(),
        Some((limit, window_ms, burst)) => {
            PacingPolicy::new(u32::from(limit), ms(u64::from(window_ms) * 10))
                .with_burst(u32::from(burst))
        }
    };
    let mut pacer = Pacer::new(policy);
    let mut rng = SmallRng::seed_from_u64(plan.seed);
    let mut fleet = Fleet::<Status>::new();
    let mut deadlines = HashMap::new();
    let mut refs = Vec::new();
    for (i, job) in plan.jobs.iter().enumerate() {
        let reference: GenerationRef = format!("responses:gen_{i}").parse().expect("valid");
        let mut wait = WaitPolicy::default()
            .with_deadline(ms(u64::from((job.deadline_ms % HORIZON_MS).max(1))))
            .expect("positive")
            .with_not_found_grace(ms(u64::from(job.grace_ms)));
        if let Some(n) = job.fixed_interval_ms {
            match PollSchedule::fixed(ms(u64::from(n))) {
                Ok(s) => wait = wait.with_schedule(s),
                Err(_) => return,
            }
        }
        let inserted = match job.resume_age_ms {
            Some(age) => {
                fleet.insert_resumed(reference.clone(), wait, t0, ms(u64::from(age)), &mut rng)
            }
            None => fleet.insert(reference.clone(), wait, t0, &mut rng),
        };
        inserted.expect("distinct references");
        deadlines.insert(
            reference.clone(),
            fleet.poller(&reference).expect("inserted").deadline(),
        );
        refs.push(reference);
    }
    let min_deadline_of = |fleet: &Fleet<Status>, refs: &[GenerationRef]| {
        refs.iter()
            .filter_map(|r| fleet.poller(r).map(|p| p.deadline()))
            .min()
    };

    let mut now = t0;
    let mut stalled_to = t0;
    let mut hold: Option<Instant> = None;
    let mut in_flight: Vec<InFlight> = Vec::new();
    let mut answers: VecDeque<(u16, Answer)> = plan.answers.iter().cloned().collect();
    let mut events: Vec<(u32, Action)> = plan.events.clone();
    events.sort_by_key(|(at, _)| *at);
    let mut events: VecDeque<(u32, Action)> = events.into();
    let mut ended: HashMap<GenerationRef, Instant> = HashMap::new();
    let mut sends: VecDeque<Instant> = VecDeque::new();
    let mut expect_progress = false;
    let mut iterations = 0u32;

    loop {
        iterations += 1;
        assert!(iterations < 2_000_000, "the fleet does not empty");
        // 2. Outcomes.
        let mut progressed = false;
        while let Some(outcome) = fleet.poll_outcome() {
            progressed = true;
            let r = outcome.reference.clone();
            assert!(
                ended.insert(r.clone(), now).is_none(),
                "two outcomes for {r}"
            );
            let deadline = deadlines[&r];
            assert!(
                now <= deadline.max(stalled_to),
                "{r} ended after its deadline"
            );
            if let OutcomeKind::Completed(s) | OutcomeKind::Failed(s) = &outcome.kind {
                assert!(s.is_terminal());
            }
        }
        while fleet.poll_event().is_some() {}
        // 3. Send what is due.
        while let Some(t) = fleet.poll_transmit(now, &mut pacer) {
            progressed = true;
            let r = t.reference;
            if let Some(h) = hold {
                assert!(now >= h, "a poll inside a 429 hold");
            }
            assert!(now < deadlines[&r], "a poll at or after the deadline");
            assert!(
                !in_flight.iter().any(|f| f.reference == r),
                "two polls in flight for {r}"
            );
            assert!(!ended.contains_key(&r));
            // The sliding-window limit of the pacer.
            let p = pacer.policy();
            if !p.window().is_zero() {
                while sends.front().is_some_and(|&s| s + p.window() <= now) {
                    sends.pop_front();
                }
                assert!(
                    (sends.len() as u64) < u64::from(p.limit()),
                    "more than {} sends in {:?}",
                    p.limit(),
                    p.window()
                );
                sends.push_back(now);
            }
            let (delay, answer) = answers
                .pop_front()
                .unwrap_or((0, Answer::Other("still_thinking".into())));
            in_flight.push(InFlight {
                reference: r,
                arrives: now + ms(u64::from(delay)),
                answer,
            });
        }
        if expect_progress {
            assert!(
                progressed,
                "poll_timeout was not actionable: the loop would spin"
            );
            expect_progress = false;
        }
        if fleet.is_empty() && in_flight.is_empty() {
            break;
        }
        // 4. Sleep until the fleet's timeout, a response, or an event.
        let wake = fleet.poll_timeout(&pacer);
        if let (Some(w), Some(d)) = (wake, min_deadline_of(&fleet, &refs)) {
            assert!(w <= d, "poll_timeout after a deadline");
        }
        let arrival = in_flight.iter().map(|f| f.arrives).min();
        let event_at = events.front().map(|(at, _)| t0 + ms(u64::from(*at)));
        let next = [wake, arrival, event_at].into_iter().flatten().min();
        let Some(next) = next else {
            assert!(fleet.is_empty(), "a waiting fleet with nothing to wake it");
            break;
        };
        now = now.max(next);
        if arrival == Some(next) {
            let i = in_flight
                .iter()
                .position(|f| f.arrives == next)
                .expect("found");
            let f = in_flight.swap_remove(i);
            let result = match &f.answer {
                Answer::Status(n) => Ok(Status::from_wire(WORDS[usize::from(*n) % WORDS.len()])),
                Answer::Other(s) => Ok(Status::from_wire(s)),
                Answer::Unauthorized => Err(PollFailure::Unauthorized {
                    message: String::new(),
                }),
                Answer::NotFound => Err(PollFailure::NotFound {
                    message: String::new(),
                }),
                Answer::Transient { not_before_ms } => {
                    let nb = not_before_ms.map(|n| now + ms(u64::from(n)));
                    // Every 429 holds the whole client, through the pacer, even one that
                    // answers a wait that has ended meanwhile.
                    if let Some(t) = nb {
                        hold = Some(hold.map_or(t, |h| h.max(t)));
                    }
                    Err(PollFailure::Transient {
                        not_before: nb,
                        message: String::new(),
                    })
                }
                Answer::Fatal => Err(PollFailure::Fatal {
                    message: String::new(),
                }),
            };
            let unknown = matches!(&result, Ok(s) if !s.is_terminal());
            let was_waiting = fleet.poller(&f.reference).is_some();
            let _ = fleet.handle_response(now, &mut pacer, &f.reference, result);
            if unknown && was_waiting {
                assert!(
                    fleet.poller(&f.reference).is_some(),
                    "a non-terminal status ended a wait"
                );
            }
        } else if event_at == Some(next) {
            let (_, action) = events.pop_front().expect("found");
            match action {
                Action::Cancel(i) => {
                    let r = &refs[usize::from(i) % refs.len()];
                    let was = fleet.poller(r).is_some();
                    assert_eq!(fleet.cancel(r), was);
                }
                Action::Stall(n) => {
                    now += ms(u64::from(n));
                    stalled_to = now;
                    fleet.handle_timeout(now);
                }
            }
        } else {
            fleet.handle_timeout(now);
            expect_progress = true;
        }
    }
    assert_eq!(ended.len(), refs.len(), "every wait ends with an outcome");
});
