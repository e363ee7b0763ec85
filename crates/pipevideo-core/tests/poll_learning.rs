//! Learned durations, asserted on the mixed-workload simulator with a fixed seed: three models
//! (medians 25 s, 55 s, 140 s) waited on with the default prior, with learned priors, and with
//! each model's true prior. (The full table: `cargo run --release -p pipevideo-core --example
//! poll-simulation`.)

// The simulators live with the example that prints the table; this suite shares their source.
#[allow(dead_code, reason = "the example uses the rest of the simulator")]
#[path = "../examples/poll-simulation/sim.rs"]
mod sim;

#[path = "../examples/poll-simulation/mixed.rs"]
mod mixed;

use std::time::Instant;

use mixed::{MixedReport, Priors};
use rand::{SeedableRng, rngs::SmallRng};

const N: usize = 3_000;

fn run(priors: Priors) -> MixedReport {
    mixed::run(Instant::now(), priors, N, &mut SmallRng::seed_from_u64(20))
}

#[test]
fn learned_priors_cost_fewer_polls_and_find_generations_sooner() {
    let default = run(Priors::Default);
    let learned = run(Priors::Learned);
    let bound = run(Priors::True);
    let (d, l, b) = (&default.all, &learned.all, &bound.all);
    // Fewer polls overall (the 140 s model is no longer polled densely around 55 s)...
    assert!(l.polls_mean < 0.93 * d.polls_mean, "{l:?} vs {d:?}");
    // ... and a far shorter tail: without learning the 25 s and 140 s models are found
    // late (p95 about 11 s), with it all three as the 55 s model is on its own prior.
    assert!(l.delay_p95 < 0.5 * d.delay_p95, "{l:?} vs {d:?}");
    assert!(l.delay_p95 < 3.0 && l.delay_p50 < 1.2, "{l:?}");
    assert!(l.delay_p50 <= d.delay_p50, "{l:?} vs {d:?}");
    // Close to knowing every model's distribution up front.
    assert!(l.polls_mean < 1.05 * b.polls_mean, "{l:?} vs {b:?}");
    assert!(l.delay_p95 < 1.3 * b.delay_p95, "{l:?} vs {b:?}");
    for r in [d, l, b] {
        assert_eq!((r.rejected, r.given_up), (0, 0), "{r:?}");
    }
    // Per model: the slow one costs fewer polls, the fast one is found sooner.
    let model = |r: &MixedReport, i: usize| r.per_model[i].1.clone();
    let (fast_d, fast_l) = (model(&default, 0), model(&learned, 0));
    let (slow_d, slow_l) = (model(&default, 2), model(&learned, 2));
    assert!(
        fast_l.delay_p95 < 0.6 * fast_d.delay_p95,
        "{fast_l:?} vs {fast_d:?}"
    );
    assert!(
        slow_l.polls_mean < 0.8 * slow_d.polls_mean,
        "{slow_l:?} vs {slow_d:?}"
    );
    assert!(
        slow_l.delay_p95 < 0.3 * slow_d.delay_p95,
        "{slow_l:?} vs {slow_d:?}"
    );
    // The 55 s model is the default prior already: learning changes little.
    let (usual_d, usual_l) = (model(&default, 1), model(&learned, 1));
    assert!(
        (usual_l.polls_mean - usual_d.polls_mean).abs() < 1.5,
        "{usual_l:?} vs {usual_d:?}"
    );
}
