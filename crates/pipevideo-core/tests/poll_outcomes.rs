//! Virtual-time tests of every way a wait ends, and of the rules on the way there.

use std::time::{Duration, Instant};

use pipevideo_core::policy::PollSchedule;
use pipevideo_core::policy::WaitPolicy;
use pipevideo_core::policy::WaitPolicyError;
use pipevideo_core::poll::{
    Event, Fleet, FleetError, OutcomeKind, PollFailure, PollFailureKind, Poller,
};
use pipevideo_core::{GenerationRef, Status};
use pipevideo_core::{pacing::Pacer, policy::PacingPolicy};
use rand::{SeedableRng, rngs::SmallRng};

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

fn reference() -> GenerationRef {
    "legacy:gen_abc123".parse().unwrap()
}

fn policy(fixed: f64, deadline: f64) -> WaitPolicy {
    WaitPolicy::default()
        .with_schedule(PollSchedule::fixed(secs(fixed)).unwrap())
        .with_deadline(secs(deadline))
        .unwrap()
}

/// Drives a poller in virtual time; `server(attempt, now)` answers each poll at once.
/// Returns the outcome, the instant it was known, and every poll instant.
fn drive(
    mut poller: Poller<Status>,
    t0: Instant,
    mut server: impl FnMut(u32, Instant) -> Result<Status, PollFailure>,
) -> (
    pipevideo_core::poll::WaitOutcome<Status>,
    Instant,
    Vec<Instant>,
) {
    let mut now = t0;
    let mut sent = Vec::new();
    for _ in 0..100_000 {
        if let Some(outcome) = poller.poll_outcome() {
            return (outcome, now, sent);
        }
        if let Some(t) = poller.poll_transmit(now) {
            sent.push(now);
            let r = server(t.attempt, now);
            poller.handle_response(now, r);
            continue;
        }
        let wake = poller
            .poll_timeout()
            .expect("a running poller has a timeout");
        assert!(wake >= now || poller.poll_transmit(now).is_none());
        now = now.max(wake);
        poller.handle_timeout(now);
    }
    panic!("the wait never ended");
}

fn new_poller(policy: WaitPolicy, t0: Instant) -> Poller<Status> {
    Poller::new(reference(), policy, t0, &mut SmallRng::seed_from_u64(1))
}

#[test]
fn completed_carries_the_generation_reference_and_status() {
    let t0 = Instant::now();
    let mut p = new_poller(policy(3.0, 600.0), t0);
    // Nothing before the first scheduled poll.
    assert!(p.poll_transmit(t0).is_none());
    assert_eq!(p.poll_timeout(), Some(t0 + secs(3.0)));
    let (outcome, at, sent) = drive(p, t0, |n, _| {
        Ok(match n {
            1 => Status::Queued,
            2..=4 => Status::Running,
            _ => Status::Completed,
        })
    });
    assert!(matches!(
        outcome.kind,
        OutcomeKind::Completed(Status::Completed)
    ));
    assert_eq!(outcome.reference, reference());
    assert_eq!(outcome.last_status, Some(Status::Completed));
    assert_eq!(outcome.polls, 5);
    assert_eq!(sent.len(), 5);
    assert_eq!(at, t0 + secs(15.0));
    // Seen unfinished at 12 s (the fourth poll), finished by 15 s: what the learner reads.
    assert_eq!(outcome.finished_between, Some((secs(12.0), secs(15.0))));
    assert!(outcome.is_completed());
    assert_eq!(
        outcome.to_string(),
        "legacy:gen_abc123: completed (last status: completed)"
    );
}

#[test]
fn failed_ends_the_wait_with_the_generation() {
    let t0 = Instant::now();
    let (outcome, _, _) = drive(new_poller(policy(1.0, 600.0), t0), t0, |n, _| {
        Ok(if n < 3 {
            Status::Running
        } else {
            Status::Failed
        })
    });
    assert!(matches!(outcome.kind, OutcomeKind::Failed(Status::Failed)));
    assert_eq!(outcome.finished_between, Some((secs(2.0), secs(3.0))));
    assert_eq!(outcome.last_status, Some(Status::Failed));
    assert_eq!(outcome.into_generation(), Some(Status::Failed));
}

#[test]
fn the_deadline_ends_the_wait_exactly_at_the_deadline() {
    let t0 = Instant::now();
    let (outcome, at, sent) = drive(new_poller(policy(7.0, 30.0), t0), t0, |_, _| {
        Ok(Status::Running)
    });
    assert!(matches!(
        outcome.kind,
        OutcomeKind::DeadlineExceeded {
            server_ready_at: None
        }
    ));
    assert_eq!(at, t0 + secs(30.0));
    assert_eq!(outcome.last_status, Some(Status::Running));
    // 7, 14, 21, 28 and a last look at 29 s (the next at 35 s would fall after the deadline).
    let offsets: Vec<f64> = sent.iter().map(|t| (*t - t0).as_secs_f64()).collect();
    assert_eq!(offsets, [7.0, 14.0, 21.0, 28.0, 29.0]);
}

#[test]
fn an_unknown_status_never_ends_the_wait() {
    let t0 = Instant::now();
    let (outcome, at, sent) = drive(new_poller(policy(2.0, 60.0), t0), t0, |_, _| {
        Ok(Status::from_wire("throttled"))
    });
    assert!(matches!(outcome.kind, OutcomeKind::DeadlineExceeded { .. }));
    assert_eq!(at, t0 + secs(60.0));
    assert_eq!(
        outcome.last_status,
        Some(Status::Unknown("throttled".into()))
    );
    assert!(sent.len() >= 29);
}

#[test]
fn cancel_ends_the_wait_once() {
    let t0 = Instant::now();
    let mut p = new_poller(policy(1.0, 60.0), t0);
    assert!(p.cancel());
    assert!(!p.cancel());
    assert!(p.poll_transmit(t0 + secs(5.0)).is_none());
    assert_eq!(p.poll_timeout(), None);
    let outcome = p.poll_outcome().unwrap();
    assert!(matches!(outcome.kind, OutcomeKind::Cancelled));
    assert_eq!(outcome.reference, reference());
    assert_eq!(outcome.last_status, None);
    assert!(p.poll_outcome().is_none(), "an outcome is given once");
}

#[test]
fn unauthorized_ends_the_wait_at_once() {
    let t0 = Instant::now();
    let (outcome, at, sent) = drive(new_poller(policy(1.0, 60.0), t0), t0, |n, _| {
        if n == 1 {
            Ok(Status::Running)
        } else {
            Err(PollFailure::Unauthorized {
                message: "API key has expired".into(),
            })
        }
    });
    assert!(
        matches!(&outcome.kind, OutcomeKind::Unauthorized { message } if message == "API key has expired")
    );
    assert_eq!(sent.len(), 2);
    assert_eq!(at, t0 + secs(2.0));
    assert_eq!(outcome.last_status, Some(Status::Running));
}

#[test]
fn fatal_ends_the_wait_at_once() {
    let t0 = Instant::now();
    let (outcome, _, sent) = drive(new_poller(policy(1.0, 60.0), t0), t0, |_, _| {
        Err(PollFailure::Fatal {
            message: "undecodable body".into(),
        })
    });
    assert!(matches!(outcome.kind, OutcomeKind::Fatal { .. }));
    assert_eq!(sent.len(), 1);
}

#[test]
fn not_found_is_tolerated_within_the_grace_then_ends_the_wait() {
    let t0 = Instant::now();
    let not_found = || PollFailure::NotFound {
        message: "Generation not found".into(),
    };
    // Visible from the third poll: the wait goes on.
    let (outcome, _, _) = drive(new_poller(policy(3.0, 600.0), t0), t0, |n, _| match n {
        1 | 2 => Err(not_found()),
        _ => Ok(Status::Completed),
    });
    assert!(outcome.is_completed());
    // Never visible: ends once the grace (10 s) has passed, re-checking at least every second.
    let (outcome, at, sent) = drive(new_poller(policy(3.0, 600.0), t0), t0, |_, _| {
        Err(not_found())
    });
    assert!(matches!(outcome.kind, OutcomeKind::NotFound { .. }));
    assert!(
        at >= t0 + WaitPolicy::DEFAULT_NOT_FOUND_GRACE && at <= t0 + secs(11.0),
        "{at:?}"
    );
    assert!(sent.windows(2).all(|w| w[1] - w[0] <= secs(1.0)));
    // A resumed wait on an old generation gets no grace.
    let p = Poller::resume(
        reference(),
        policy(3.0, 600.0),
        t0,
        secs(300.0),
        &mut SmallRng::seed_from_u64(2),
    );
    let (outcome, at, _) = drive(p, t0, |_, _| Err(not_found()));
    assert!(matches!(outcome.kind, OutcomeKind::NotFound { .. }));
    assert_eq!(at, t0, "a resumed wait polls at once");
}

#[test]
fn server_errors_never_end_the_wait_and_429_is_honoured() {
    let t0 = Instant::now();
    let mut last_429_until = None;
    let (outcome, _, sent) = drive(new_poller(policy(1.0, 600.0), t0), t0, |n, now| {
        if let Some(until) = last_429_until {
            assert!(now >= until, "a poll went out before retry_after");
        }
        match n {
            1..=5 => Err(PollFailure::Transient {
                not_before: None,
                message: "500".into(),
            }),
            6 => {
                let until = now + secs(42.0);
                last_429_until = Some(until);
                Err(PollFailure::Transient {
                    not_before: Some(until),
                    message: "429".into(),
                })
            }
            7 => Ok(Status::Running),
            _ => Ok(Status::Completed),
        }
    });
    assert!(outcome.is_completed());
    assert_eq!(sent[6] - sent[5], secs(42.0));
}

#[test]
fn a_429_beyond_the_deadline_ends_the_wait_at_once_and_says_when() {
    let t0 = Instant::now();
    let mut p = new_poller(policy(1.0, 30.0), t0);
    let now = t0 + secs(1.0);
    assert!(p.poll_transmit(now).is_some());
    let until = now + secs(45.0);
    p.handle_response(
        now,
        Err(PollFailure::Transient {
            not_before: Some(until),
            message: "429".into(),
        }),
    );
    let outcome = p.poll_outcome().unwrap();
    assert_eq!(
        outcome.kind,
        OutcomeKind::DeadlineExceeded {
            server_ready_at: Some(until)
        }
    );
}

#[test]
fn a_request_in_flight_at_the_deadline_ends_the_wait_and_its_late_response_is_ignored() {
    let t0 = Instant::now();
    let mut p = new_poller(policy(5.0, 20.0), t0);
    let now = t0 + secs(5.0);
    p.handle_timeout(now);
    assert!(p.poll_transmit(now).is_some());
    assert!(p.poll_transmit(now).is_none(), "one request at a time");
    assert_eq!(p.poll_timeout(), Some(t0 + secs(20.0)));
    p.handle_timeout(t0 + secs(20.0));
    let outcome = p.poll_outcome().unwrap();
    assert!(matches!(outcome.kind, OutcomeKind::DeadlineExceeded { .. }));
    p.handle_response(t0 + secs(25.0), Ok(Status::Completed));
    assert!(p.poll_outcome().is_none());
    assert!(p.is_finished());
}

#[test]
fn poll_timeout_is_exactly_actionable() {
    let t0 = Instant::now();
    let mut p = new_poller(WaitPolicy::default(), t0);
    let mut now = t0;
    for _ in 0..40 {
        let wake = p.poll_timeout().unwrap();
        now = wake;
        p.handle_timeout(now);
        let t = p
            .poll_transmit(now)
            .expect("waking at poll_timeout makes a poll due");
        assert!(t.attempt >= 1);
        p.handle_response(now, Ok(Status::Running));
    }
    assert!(now > t0);
}

#[test]
fn events_report_polls_and_status_changes() {
    let t0 = Instant::now();
    let mut p = new_poller(policy(2.0, 60.0), t0);
    let mut events = Vec::new();
    let mut now;
    for status in [Status::Queued, Status::Queued, Status::Running] {
        now = p.poll_timeout().unwrap();
        p.handle_timeout(now);
        let _ = p.poll_transmit(now).unwrap();
        p.handle_response(now, Ok(status));
    }
    now = p.poll_timeout().unwrap();
    let _ = p.poll_transmit(now).unwrap();
    p.handle_response(
        now,
        Err(PollFailure::Transient {
            not_before: None,
            message: "502".into(),
        }),
    );
    while let Some(e) = p.poll_event() {
        events.push(e);
    }
    let sent = events
        .iter()
        .filter(|e| matches!(e, Event::PollSent { .. }))
        .count();
    assert_eq!(sent, 4);
    let changes: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::StatusChanged { from, to, .. } => Some((from.clone(), to.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        changes,
        [
            (None, Status::Queued),
            (Some(Status::Queued), Status::Running)
        ]
    );
    assert!(events.iter().any(|e| matches!(
        e,
        Event::PollFailed {
            attempt: 4,
            kind: PollFailureKind::Transient,
            next_poll: Some(_)
        }
    )));
}

#[test]
fn bad_policies_are_typed_errors() {
    assert_eq!(
        WaitPolicy::default().with_deadline(Duration::ZERO),
        Err(WaitPolicyError::ZeroDeadline)
    );
    assert!(PollSchedule::fixed(Duration::ZERO).is_err());
    assert!(PollSchedule::exponential(secs(1.0), f64::NAN, secs(60.0)).is_err());
    assert!(PollSchedule::exponential(secs(1.0), 0.5, secs(60.0)).is_err());
}

#[test]
fn fleet_rejects_duplicates_and_unknown_generations_and_reports_every_outcome() {
    let t0 = Instant::now();
    let mut rng = SmallRng::seed_from_u64(3);
    let mut fleet = Fleet::<Status>::new();
    let a: GenerationRef = "gen_a".parse().unwrap();
    let b: GenerationRef = "gen_b".parse().unwrap();
    let c: GenerationRef = "gen_c".parse().unwrap();
    for r in [&a, &b, &c] {
        fleet
            .insert(r.clone(), policy(2.0, 20.0), t0, &mut rng)
            .unwrap();
    }
    assert_eq!(
        fleet.insert(a.clone(), policy(2.0, 20.0), t0, &mut rng),
        Err(FleetError::Duplicate(a.clone()))
    );
    let mut pacer = Pacer::new(PacingPolicy::default());
    let stranger: GenerationRef = "gen_z".parse().unwrap();
    assert_eq!(
        fleet.handle_response(t0, &mut pacer, &stranger, Ok(Status::Running)),
        Err(FleetError::Unknown(stranger))
    );
    assert!(fleet.cancel(&c));
    let mut now = t0;
    let mut outcomes = Vec::new();
    while !fleet.is_empty() {
        while let Some(t) = fleet.poll_transmit(now, &mut pacer) {
            let status = if t.reference == a && t.attempt >= 2 {
                Status::Completed
            } else {
                Status::Running
            };
            fleet
                .handle_response(now, &mut pacer, &t.reference, Ok(status))
                .unwrap();
        }
        now = fleet.poll_timeout(&pacer).unwrap().max(now);
        fleet.handle_timeout(now);
        while let Some(o) = fleet.poll_outcome() {
            outcomes.push(o);
        }
    }
    while let Some(o) = fleet.poll_outcome() {
        outcomes.push(o);
    }
    assert_eq!(outcomes.len(), 3);
    let kind_of = |r: &GenerationRef| &outcomes.iter().find(|o| &o.reference == r).unwrap().kind;
    assert!(matches!(kind_of(&a), OutcomeKind::Completed(_)));
    assert!(matches!(kind_of(&b), OutcomeKind::DeadlineExceeded { .. }));
    assert!(matches!(kind_of(&c), OutcomeKind::Cancelled));
    assert!(now <= t0 + secs(20.0));
    assert!(fleet.poll_event().is_some());
}
