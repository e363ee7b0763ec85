//! Property tests over random server behaviour: statuses, errors and response delays.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use pipevideo_core::policy::PollSchedule;
use pipevideo_core::policy::WaitPolicy;
use pipevideo_core::poll::{Fleet, OutcomeKind, PollFailure, Poller};
use pipevideo_core::{GenerationRef, Status};
use pipevideo_core::{pacing::Pacer, policy::PacingPolicy};
use proptest::prelude::*;
use rand::{SeedableRng, rngs::SmallRng};

/// One scripted answer: what the server says, and how long the answer takes (ms).
#[derive(Debug, Clone)]
enum Answer {
    Status(Status),
    Server5xx,
    TooMany { retry_after_ms: u64 },
    NotFound,
    Unauthorized,
    Fatal,
}

fn answer() -> impl Strategy<Value = Answer> {
    prop_oneof![
        6 => prop_oneof![
            Just(Status::Queued),
            Just(Status::Running),
            Just(Status::Completed),
            Just(Status::Failed),
            "[a-z_]{1,12}".prop_map(|s| Status::from_wire(&s)),
        ]
        .prop_map(Answer::Status),
        2 => Just(Answer::Server5xx),
        2 => (0_u64..200_000).prop_map(|ms| Answer::TooMany { retry_after_ms: ms }),
        1 => Just(Answer::NotFound),
        1 => Just(Answer::Unauthorized),
        1 => Just(Answer::Fatal),
    ]
}

fn schedule() -> impl Strategy<Value = PollSchedule> {
    prop_oneof![
        Just(PollSchedule::default()),
        (10_u64..10_000).prop_map(|ms| PollSchedule::fixed(Duration::from_millis(ms)).unwrap()),
        (10_u64..5_000, 1.0_f64..4.0).prop_map(|(ms, f)| {
            PollSchedule::exponential(Duration::from_millis(ms), f, Duration::from_secs(60))
                .unwrap()
        }),
    ]
}

fn to_result(a: &Answer, now: Instant) -> Result<Status, PollFailure> {
    match a {
        Answer::Status(s) => Ok(s.clone()),
        Answer::Server5xx => Err(PollFailure::Transient {
            not_before: None,
            message: "503".into(),
        }),
        Answer::TooMany { retry_after_ms } => Err(PollFailure::Transient {
            not_before: Some(now + Duration::from_millis(*retry_after_ms)),
            message: "429".into(),
        }),
        Answer::NotFound => Err(PollFailure::NotFound {
            message: "404".into(),
        }),
        Answer::Unauthorized => Err(PollFailure::Unauthorized {
            message: "401".into(),
        }),
        Answer::Fatal => Err(PollFailure::Fatal {
            message: "bad body".into(),
        }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every wait ends, by its deadline plus at most one wake-up; no poll goes out before a
    /// 429's retry_after; waking at `poll_timeout` always makes progress; an unknown status
    /// never ends a wait.
    #[test]
    fn every_wait_ends_by_its_deadline(
        answers in prop::collection::vec((answer(), 0_u64..40_000), 1..60),
        schedule in schedule(),
        deadline_s in 1_u64..900,
        resumed_age in prop::option::of(0_u64..1_000),
        seed in any::<u64>(),
    ) {
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(deadline_s);
        let policy = WaitPolicy::default()
            .with_schedule(schedule)
            .with_deadline(Duration::from_secs(deadline_s))
            .unwrap();
        let mut rng = SmallRng::seed_from_u64(seed);
        let r: GenerationRef = "gen_prop".parse().unwrap();
        let mut p = match resumed_age {
            Some(age) => Poller::<Status>::resume(r, policy, t0, Duration::from_secs(age), &mut rng),
            None => Poller::<Status>::new(r, policy, t0, &mut rng),
        };
        prop_assert_eq!(p.deadline(), deadline);
        let mut now = t0;
        let mut script: VecDeque<_> = answers.into_iter().collect();
        let mut not_before: Option<Instant> = None;
        let mut wakeups_at_or_after_deadline = 0;
        let mut just_woke = false;
        let outcome = loop {
            if let Some(o) = p.poll_outcome() {
                break o;
            }
            prop_assert!(now <= deadline, "still running after the deadline");
            if p.poll_transmit(now).is_some() {
                just_woke = false;
                if let Some(nb) = not_before {
                    prop_assert!(now >= nb, "polled before retry_after");
                }
                // Script exhausted: the server keeps saying "running".
                let (a, latency_ms) = script.pop_front().unwrap_or((Answer::Status(Status::Running), 500));
                let arrives = now + Duration::from_millis(latency_ms);
                let wake = p.poll_timeout().unwrap();
                if arrives >= wake {
                    // The deadline comes first: the driver wakes for it.
                    now = wake;
                    wakeups_at_or_after_deadline += 1;
                    p.handle_timeout(now);
                    prop_assert!(p.is_finished(), "a wake-up while in flight is the deadline");
                    continue;
                }
                now = arrives;
                if let Answer::TooMany { retry_after_ms } = &a {
                    not_before = Some(now + Duration::from_millis(*retry_after_ms));
                }
                let unknown = matches!(&a, Answer::Status(Status::Unknown(_)));
                p.handle_response(now, to_result(&a, now));
                if unknown {
                    prop_assert!(!p.is_finished(), "an unknown status ended the wait");
                }
                continue;
            }
            // Exactly actionable: a wake-up at poll_timeout ends the wait or makes a poll due.
            prop_assert!(!just_woke, "woke at {:?} without progress", now - t0);
            let wake = p.poll_timeout().expect("a running poller has a timeout");
            now = now.max(wake);
            if now >= deadline {
                wakeups_at_or_after_deadline += 1;
            }
            p.handle_timeout(now);
            just_woke = true;
        };
        prop_assert!(now <= deadline);
        prop_assert!(wakeups_at_or_after_deadline <= 1);
        // Only a terminal status ends a wait with the generation.
        match &outcome.kind {
            OutcomeKind::Completed(_) => prop_assert_eq!(&outcome.last_status, &Some(Status::Completed)),
            OutcomeKind::Failed(_) => prop_assert_eq!(&outcome.last_status, &Some(Status::Failed)),
            _ => {}
        }
    }

    /// A server that only ever answers unknown statuses (and transient errors) keeps the wait
    /// going until exactly its deadline.
    #[test]
    fn unknown_statuses_never_end_a_wait(
        words in prop::collection::vec("[a-z]{1,10}", 1..20),
        deadline_s in 1_u64..300,
        seed in any::<u64>(),
    ) {
        let words: Vec<String> = words.into_iter().filter(|w| !Status::from_wire(w).is_terminal()).collect();
        prop_assume!(!words.is_empty());
        let t0 = Instant::now();
        let policy = WaitPolicy::default().with_deadline(Duration::from_secs(deadline_s)).unwrap();
        let mut p = Poller::<Status>::new("gen_u".parse().unwrap(), policy, t0, &mut SmallRng::seed_from_u64(seed));
        let mut now = t0;
        let mut i = 0;
        let outcome = loop {
            if let Some(o) = p.poll_outcome() {
                break o;
            }
            if p.poll_transmit(now).is_some() {
                i += 1;
                let r = if i % 5 == 0 {
                    Err(PollFailure::Transient { not_before: None, message: "500".into() })
                } else {
                    Ok(Status::from_wire(&words[i % words.len()]))
                };
                p.handle_response(now, r);
                continue;
            }
            now = now.max(p.poll_timeout().unwrap());
            p.handle_timeout(now);
        };
        let expected = OutcomeKind::DeadlineExceeded { server_ready_at: None };
        prop_assert_eq!(outcome.kind, expected);
        prop_assert_eq!(now, t0 + Duration::from_secs(deadline_s));
    }

    /// However many generations and whatever the server says, a fleet never sends more than
    /// its pacer's limit in any sliding window.
    #[test]
    fn the_fleet_never_exceeds_its_budget(
        n in 1_usize..80,
        limit in 1_u32..40,
        burst in 1_u32..10,
        durations in prop::collection::vec(0_u64..400_000, 80),
        errors in prop::collection::vec(0_u8..10, 64),
        seed in any::<u64>(),
    ) {
        let window = Duration::from_secs(60);
        let t0 = Instant::now();
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut pacer = Pacer::new(PacingPolicy::new(limit, window).with_burst(burst.min(limit)));
        let mut fleet = Fleet::<Status>::new();
        let policy = WaitPolicy::default().with_deadline(Duration::from_secs(300)).unwrap();
        let refs: Vec<GenerationRef> = (0..n).map(|i| format!("gen_{i}").parse().unwrap()).collect();
        for r in &refs {
            fleet.insert(r.clone(), policy.clone(), t0, &mut rng).unwrap();
        }
        let mut sends: Vec<Instant> = Vec::new();
        let mut now = t0;
        let mut k = 0;
        let mut outcomes = 0;
        while !fleet.is_empty() {
            while let Some(t) = fleet.poll_transmit(now, &mut pacer) {
                sends.push(now);
                let i: usize = t.reference.id().as_str()[4..].parse().unwrap();
                k += 1;
                let r = match errors[k % errors.len()] {
                    0 => Err(PollFailure::Transient { not_before: None, message: "500".into() }),
                    1 => Err(PollFailure::Transient {
                        not_before: Some(now + Duration::from_secs(7)),
                        message: "429".into(),
                    }),
                    _ if now >= t0 + Duration::from_millis(durations[i]) => Ok(Status::Completed),
                    _ => Ok(Status::Running),
                };
                fleet.handle_response(now, &mut pacer, &t.reference, r).unwrap();
            }
            let Some(wake) = fleet.poll_timeout(&pacer) else {
                prop_assert!(fleet.is_empty());
                break;
            };
            prop_assert!(wake <= t0 + Duration::from_secs(300));
            now = now.max(wake);
            fleet.handle_timeout(now);
            while fleet.poll_outcome().is_some() {
                outcomes += 1;
            }
        }
        while fleet.poll_outcome().is_some() {
            outcomes += 1;
        }
        prop_assert_eq!(outcomes, n);
        prop_assert!(now <= t0 + Duration::from_secs(300));
        let limit = limit as usize;
        for (i, &s) in sends.iter().enumerate() {
            let in_window = sends[i..].iter().take_while(|&&t| t < s + window).count();
            prop_assert!(in_window <= limit, "{} sends in the 60 s from {:?}", in_window, s - t0);
        }
    }
}
