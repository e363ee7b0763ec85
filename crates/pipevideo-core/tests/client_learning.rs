//! Learned durations in the client, in virtual time: after a few completed generations of a
//! model, a wait on that model polls where that model finishes; with learning off, or with an
//! explicit prior, waits keep their schedule.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_executor::block_on;
use http::{Request, Response};
use pipevideo_core::client::{Client, ClientBuilder};
use pipevideo_core::model::CreateResponse;
use pipevideo_core::policy::{AdaptiveSchedule, LogNormal, WaitPolicy};
use pipevideo_core::poll::{DurationKey, DurationLearner};
use pipevideo_core::transport::TransportError;
use pipevideo_core::transport::testing::{FnTransport, VirtualClock};
use pipevideo_core::{ApiKey, BaseUrl, Status};

/// Spreads of the durations, in sigmas: the `k`-th generation of a model takes its median
/// × `exp(0.1 × SPREAD[k % 10])`.
const SPREAD: [f64; 10] = [0.0, 0.8, -0.6, 0.3, -1.1, 1.2, -0.2, 0.5, -0.9, 1.6];

/// A server whose generations take about 25 s (model `fast`) or 140 s (any other model).
#[derive(Default)]
struct Generations {
    done_at: HashMap<String, Instant>,
    polls: HashMap<String, u32>,
    created: u32,
    per_model: HashMap<String, usize>,
}

type Timed = FnTransport<
    Box<
        dyn Fn(Request<Vec<u8>>) -> std::future::Ready<Result<Response<Vec<u8>>, TransportError>>
            + Send
            + Sync,
    >,
>;

struct Setup {
    client: Client<Timed>,
    server: Arc<Mutex<Generations>>,
    clock: VirtualClock,
}

fn json(body: String) -> Response<Vec<u8>> {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body.into_bytes())
        .unwrap()
}

fn setup(configure: impl FnOnce(ClientBuilder<Timed>) -> ClientBuilder<Timed>) -> Setup {
    let clock = VirtualClock::new(Instant::now());
    let server = Arc::new(Mutex::new(Generations::default()));
    let (s, c) = (Arc::clone(&server), clock.clone());
    let transport: Timed = FnTransport::new(
        clock.clone(),
        Box::new(move |request: Request<Vec<u8>>| {
            let mut s = s.lock().unwrap();
            let now = c.now();
            if request.method() == http::Method::POST {
                let body: serde_json::Value = serde_json::from_slice(request.body()).unwrap();
                let model = body["model"].as_str().unwrap().to_owned();
                let median = if model == "fast" { 25.0 } else { 140.0 };
                let k = s.per_model.entry(model).or_default();
                let secs = median * (0.1 * SPREAD[*k % SPREAD.len()]).exp();
                *k += 1;
                s.created += 1;
                let id = format!("gen_{:04}", s.created);
                s.done_at
                    .insert(id.clone(), now + Duration::from_secs_f64(secs));
                return std::future::ready(Ok(json(format!(
                    r#"{{"id":"{id}","object":"response","status":"queued"}}"#
                ))));
            }
            let id = request.uri().path().rsplit('/').next().unwrap().to_owned();
            *s.polls.entry(id.clone()).or_default() += 1;
            let status = if now >= s.done_at[&id] {
                "completed"
            } else {
                "in_progress"
            };
            std::future::ready(Ok(json(format!(
                r#"{{"id":"{id}","object":"response","status":"{status}"}}"#
            ))))
        }),
    );
    let builder = Client::builder(transport)
        .api_key(ApiKey::new("pv_0123456789abcdef").unwrap())
        .base_url(BaseUrl::parse("http://127.0.0.1:3001/v1").unwrap())
        .seed(7);
    Setup {
        client: configure(builder).build().unwrap(),
        server,
        clock,
    }
}

/// What one generation's wait cost and bought.
#[derive(Debug, Clone, Copy)]
struct Waited {
    polls: u32,
    /// From completion on the server to the wait's return.
    delay: Duration,
}

impl Setup {
    fn generate(&self, model: &str) -> Waited {
        let request = CreateResponse::new(model, "A cat on a beach");
        let generation = block_on(self.client.generate(&request)).unwrap();
        assert_eq!(generation.status(), &Status::Completed);
        let s = self.server.lock().unwrap();
        let id = generation.id().as_str();
        Waited {
            polls: s.polls[id],
            delay: self.clock.now() - s.done_at[id],
        }
    }
}

fn key(model: &str) -> DurationKey {
    DurationKey::for_request(&CreateResponse::new(model, "A cat on a beach"))
}

fn mean_delay(waits: &[Waited]) -> Duration {
    waits.iter().map(|w| w.delay).sum::<Duration>() / waits.len() as u32
}

fn mean_polls(waits: &[Waited]) -> f64 {
    waits.iter().map(|w| f64::from(w.polls)).sum::<f64>() / waits.len() as f64
}

#[test]
fn after_three_completions_a_fast_model_is_found_sooner_and_a_slow_one_polled_less() {
    const N: usize = 13;
    let learning = setup(|b| b);
    let off = setup(|b| b.learn_durations(false));
    let run = |s: &Setup, model| -> Vec<Waited> { (0..N).map(|_| s.generate(model)).collect() };
    let (fast, fast_off) = (run(&learning, "fast"), run(&off, "fast"));
    let (slow, slow_off) = (run(&learning, "slow"), run(&off, "slow"));

    let learned = learning.client.learned_prior(&key("fast")).unwrap();
    let median = learned.median().as_secs_f64();
    assert!((24.0..28.0).contains(&median), "{learned:?}");
    // The first three waits follow the default prior (55 s), with or without learning.
    for i in 0..3 {
        assert_eq!(fast[i].polls, fast_off[i].polls);
        assert_eq!(slow[i].polls, slow_off[i].polls);
    }
    // A 25 s generation on the 55 s prior is polled where it is unlikely to finish, so it is
    // found late (intervals of several seconds there); on its own prior, sooner (more polls
    // near 25 s: about 6 instead of 3.5).
    let (learned_delay, default_delay) = (mean_delay(&fast[3..]), mean_delay(&fast_off[3..]));
    assert!(
        learned_delay < Duration::from_millis(1_200) && learned_delay * 4 < default_delay * 3,
        "learned {learned_delay:?} {fast:?}\ndefault {default_delay:?} {fast_off:?}"
    );
    // A 140 s generation on the 55 s prior is polled densely around 55 s for nothing, then
    // found late (past the prior's 99th percentile the intervals double); on its own prior
    // with fewer polls (about 25 instead of 67), and sooner.
    let slow_median = learning
        .client
        .learned_prior(&key("slow"))
        .unwrap()
        .median();
    assert!(slow_median > Duration::from_secs(130), "{slow_median:?}");
    let (learned_polls, default_polls) = (mean_polls(&slow[3..]), mean_polls(&slow_off[3..]));
    assert!(
        learned_polls < default_polls * 0.8,
        "learned {learned_polls} {slow:?}\ndefault {default_polls} {slow_off:?}"
    );
    assert!(
        mean_delay(&slow[3..]) * 2 < mean_delay(&slow_off[3..]),
        "{slow:?}\n{slow_off:?}"
    );
}

#[test]
fn learning_is_shared_by_clones_and_can_be_reset() {
    let setup = setup(|b| b);
    let clone = setup.client.clone();
    for _ in 0..DurationLearner::MIN_OBSERVATIONS - 1 {
        setup.generate("fast");
    }
    assert_eq!(clone.learned_prior(&key("fast")), None, "not before three");
    setup.generate("fast");
    assert!(clone.learned_prior(&key("fast")).is_some());
    assert_eq!(setup.client.learned_prior(&key("slow")), None);
    assert!(clone.reset_learned_duration(&key("fast")));
    assert_eq!(setup.client.learned_prior(&key("fast")), None);
    for _ in 0..3 {
        setup.generate("fast");
    }
    setup.client.clear_learned_durations();
    assert_eq!(clone.learned_prior(&key("fast")), None);
}

#[test]
fn a_wait_from_a_bare_reference_uses_the_default_prior_and_teaches_nothing() {
    let setup = setup(|b| b);
    for _ in 0..3 {
        let handle = block_on(setup.client.create(&CreateResponse::new("fast", "A cat"))).unwrap();
        let reference = handle.reference().clone();
        drop(handle);
        block_on(setup.client.wait(&reference)).unwrap();
    }
    assert_eq!(setup.client.learned_prior(&key("fast")), None);
}

/// The opt-outs: `learn_durations(false)`, and an explicit prior on the wait policy. Both
/// poll exactly as a client that never learned (same seed, same server).
#[test]
fn the_opt_outs_keep_the_default_schedule() {
    let pinned = WaitPolicy::default().with_schedule(
        AdaptiveSchedule::default()
            .with_prior(LogNormal::PIPEVIDEO)
            .into(),
    );
    let clients = [
        setup(|b| b.learn_durations(false)),
        setup(|b| b.wait_policy(pinned)),
        setup(|b| b),
    ];
    let waits: Vec<Vec<(u32, Duration)>> = clients
        .iter()
        .map(|s| {
            (0..6)
                .map(|_| s.generate("fast"))
                .map(|w| (w.polls, w.delay))
                .collect()
        })
        .collect();
    assert_eq!(waits[0], waits[1], "an explicit prior is kept");
    assert_ne!(waits[0][3..], waits[2][3..], "the default prior is not");
    assert_eq!(clients[0].client.learned_prior(&key("fast")), None);
    // With an explicit prior the waits still teach the learner; they just do not follow it.
    assert!(clients[1].client.learned_prior(&key("fast")).is_some());
}
