//! The chaos soak: many generations through the real client, over both transports (reqwest on
//! tokio, surf on async-std), against the emulator with random faults on, checked against the
//! emulator's request log and its own record of every generation.
//!
//! # Running it
//!
//! ```text
//! cargo test -p pipevideo-tests --test chaos -- --nocapture          # quick: the CI version
//! PIPEVIDEO_SOAK_GENERATIONS=10000 cargo test --release -p pipevideo-tests --test chaos \
//!     -- --nocapture --test-threads=1                                 # long
//! ```
//!
//! Environment variables (all optional):
//!
//! | Variable | Default | Meaning |
//! |---|---|---|
//! | `PIPEVIDEO_SOAK_GENERATIONS` | 200 | logical generations per transport in the main run (the idempotency-off run does a third as many) |
//! | `PIPEVIDEO_SOAK_CONCURRENCY` | 40 | generations in flight at once |
//! | `PIPEVIDEO_SOAK_SCALE` | 0.01 | emulator time scale (a 55 s generation takes 0.55 s) |
//! | `PIPEVIDEO_SOAK_SEED` | 2026 | seed of the emulator, its faults and the client |
//!
//! # The faults
//!
//! Per request, independently: 20 % HTTP 500, 5 % 429 with `data.retry_after` of 5 emulated
//! seconds, 2 % connection reset mid-body, 1 % truncated JSON, 1 % HTML 502, and 7 % extra
//! latency (5, 25 or 100 ms held before the headers). Half strike after the server processed
//! the request (the create happened, only the answer is lost). Plus 2 % of generations fail on
//! the server at random and every 25th is scripted to fail (`[fail:provider_timeout]`).
//!
//! A second run turns the emulator's idempotency-key honouring off and keeps only faults that
//! strike before processing (500, 429, HTML 502, latency: a reset or a truncated body always
//! strikes after, since it mangles a real answer).
//!
//! # What is asserted
//!
//! - Every generation reaches a typed outcome carrying its reference (`Ok`, or `Error::Wait`
//!   whose `generation()` is the reference), or a typed `Error::Create` carrying its
//!   idempotency key; no panic.
//! - At least 99.5 % end as the emulator decided (completed, or failed as it scripted); the rest
//!   only through a documented limit: the retry policy's attempts, the retry budget, a call's
//!   deadline, or the wait deadline.
//! - At most one generation per idempotency key, with honouring on; and with it off under
//!   before-processing faults, exactly one generation per successful create and none more.
//! - No request sent inside a `retry_after` window: exactly, from the client's recorded sends
//!   (no send of the key starts between reading a 429 and the end of its wait); and from the
//!   emulator's log, for the call that was refused (its retry arrives no earlier than the asked
//!   wait after the refused request did, within the log's 1 ms resolution). The log cannot
//!   judge other calls' requests: under concurrency, requests the client sent before it read
//!   the 429 can reach the emulator's one-thread accept loop tens of milliseconds later.
//! - No 400, 401 or 404 retried (deliberately provoked: unknown model, revoked key, unknown id).
//! - No logical call sent more attempts than the policy allows.
//! - Every wait ended within its deadline (plus one attempt timeout, for a poll in flight).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::time::Duration;

use futures_util::StreamExt;
use pipevideo_core::WaitErrorKind;
use pipevideo_core::client::Client;
use pipevideo_core::model::CreateResponse;
use pipevideo_core::retry::GiveUpReason;
use pipevideo_core::transport::{Clock, Transport};
use pipevideo_core::{ApiKey, BaseUrl, Error, Flavor, GenerationId, GenerationRef};
use pipevideo_emulator::{
    BackgroundEmulator, Emulator, Fault, LogEntry, RandomFaults, RateLimit, fingerprint,
};
use pipevideo_tests::chaos::{Recording, SoakClock, sends_inside_retry_after};

/// The emulator's rate limit in the soak, per emulated minute: raised from the documented 100
/// so that a run is fast; the client paces at 90 % of it.
const SERVER_LIMIT: u32 = 1000;
/// The 429 fault's `retry_after`, emulated seconds.
const RETRY_AFTER_EMULATED_SECS: f64 = 5.0;
/// The emulator's log has whole-millisecond arrival times: a retry that arrives exactly the
/// asked wait after the 429's request may show up to this much earlier.
const CLOCK_TOLERANCE_MS: u64 = 1;
const MODEL: &str = "moonshotai/kimi-k2.5";

#[derive(Debug, Clone)]
struct Params {
    generations: usize,
    concurrency: usize,
    scale: f64,
    seed: u64,
    honour_idempotency: bool,
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Params {
    fn from_env(honour_idempotency: bool) -> Self {
        let generations: usize = env("PIPEVIDEO_SOAK_GENERATIONS", 200);
        Self {
            generations: if honour_idempotency {
                generations
            } else {
                (generations / 3).max(10)
            },
            concurrency: env("PIPEVIDEO_SOAK_CONCURRENCY", 40),
            scale: env("PIPEVIDEO_SOAK_SCALE", 0.01),
            seed: env("PIPEVIDEO_SOAK_SEED", 2026),
            honour_idempotency,
        }
    }
}

fn faults(seed: u64, before_only: bool) -> RandomFaults {
    let mut random = RandomFaults::new(seed)
        .fault(Fault::ServerError, 0.20)
        .fault(Fault::rate_limited(RETRY_AFTER_EMULATED_SECS), 0.05)
        .fault(Fault::BadGatewayHtml, 0.01)
        .fault(Fault::SlowHeaders { delay_ms: 5 }, 0.04)
        .fault(Fault::SlowHeaders { delay_ms: 25 }, 0.02)
        .fault(Fault::SlowHeaders { delay_ms: 100 }, 0.01);
    if before_only {
        random = random.after_probability(0.0);
    } else {
        random = random
            .fault(Fault::ResetMidBody, 0.02)
            .fault(Fault::TruncatedJson, 0.01);
    }
    random
}

fn start_emulator(p: &Params) -> BackgroundEmulator {
    Emulator::builder()
        .time_scale(p.scale)
        .seed(p.seed)
        .rate_limit(RateLimit::per_minute(SERVER_LIMIT))
        .idempotency(p.honour_idempotency)
        .demo_credits_cents(1_000_000_000)
        .random_faults(faults(p.seed, !p.honour_idempotency))
        .start_in_background()
        .expect("the emulator starts")
}

fn client<T: Transport>(
    transport: T,
    key: &str,
    base: &str,
    clock: &SoakClock,
    seed: u64,
) -> Client<T> {
    Client::builder(transport)
        .api_key(ApiKey::new(key).expect("a valid key"))
        .base_url(BaseUrl::parse(base).expect("a valid base URL"))
        .pacing(clock.pacing)
        .wait_policy(clock.wait.clone())
        .retry_policy(clock.retry)
        .retry_budget(clock.budget)
        .seed(seed)
        .build()
        .expect("a client")
}

/// How one logical operation ended, as the client reported it.
#[derive(Debug)]
enum Ended {
    /// The wait returned the completed generation.
    Completed(GenerationRef),
    /// The wait ended with an error that carries the reference.
    WaitError {
        reference: GenerationRef,
        kind: &'static str,
    },
    /// The create failed for good, carrying its key.
    CreateFailed {
        key: Option<String>,
        reason: String,
        documented_limit: bool,
    },
}

#[derive(Debug)]
struct Op {
    ended: Ended,
    /// How long the wait took, if there was one.
    waited: Option<Duration>,
}

fn documented_limit(error: &Error) -> bool {
    match error {
        Error::GaveUp(g) => matches!(
            g.give_up().reason(),
            GiveUpReason::AttemptsExhausted { .. }
                | GiveUpReason::BudgetExhausted { .. }
                | GiveUpReason::DeadlineWouldPass { .. }
                | GiveUpReason::ServerDelayBeyondCap { .. }
        ),
        _ => false,
    }
}

async fn one_generation<T: Transport>(client: &Client<T>, i: usize) -> Op {
    let prompt = if i % 25 == 24 {
        format!("soak #{i} [fail:provider_timeout]")
    } else {
        format!("soak #{i}: a lighthouse in a storm")
    };
    let request = CreateResponse::new(MODEL, prompt);
    let handle = match client.create(&request).await {
        Ok(handle) => handle,
        Err(error) => {
            let Error::Create(create) = &error else {
                panic!("a create failed without Error::Create: {error:?}");
            };
            return Op {
                ended: Ended::CreateFailed {
                    key: create.idempotency_key().map(|k| k.as_str().to_owned()),
                    reason: create.error().to_string(),
                    documented_limit: documented_limit(create.error()),
                },
                waited: None,
            };
        }
    };
    let reference = handle.reference().clone();
    let start = client.transport().now();
    let result = handle.wait().await;
    let waited = Some(client.transport().now() - start);
    let ended = match result {
        Ok(generation) => {
            assert_eq!(
                generation.reference(),
                &reference,
                "the wait returned another generation"
            );
            Ended::Completed(reference)
        }
        Err(error) => {
            assert_eq!(
                error.generation(),
                Some(&reference),
                "a wait error must carry its reference: {error:?}"
            );
            let Error::Wait(wait) = &error else {
                panic!("a wait failed without Error::Wait: {error:?}");
            };
            let kind = match wait.kind() {
                WaitErrorKind::Failed(_) => "failed",
                WaitErrorKind::DeadlineExceeded { .. } => "deadline",
                other => panic!("a wait ended in {other:?}: {error}"),
            };
            Ended::WaitError { reference, kind }
        }
    };
    Op { ended, waited }
}

#[derive(Debug, Default)]
struct Bad {
    /// Idempotency keys of the creates that must end in 400 / 401 without a retry.
    keys_400: Vec<String>,
    keys_401: Vec<String>,
    /// Paths of the retrieves that must end in 404 without a retry.
    paths_404: Vec<String>,
}

/// Provokes 400 (unknown model), 401 (revoked key) and 404 (unknown id), `n` of each.
async fn bad_inputs<T: Transport + std::fmt::Debug, U: Transport + std::fmt::Debug>(
    good: &Client<T>,
    revoked: &Client<U>,
    n: usize,
) -> Bad {
    let mut bad = Bad::default();
    for i in 0..n {
        let request = CreateResponse::new("acme/no-such-model", format!("bad #{i}"));
        let error = good
            .create(&request)
            .await
            .expect_err("an unknown model is refused");
        assert_eq!(error.as_api_status(), Some(400), "{error:?}");
        bad.keys_400
            .push(error.idempotency_key().expect("a key").as_str().to_owned());

        let request = CreateResponse::new(MODEL, format!("revoked #{i}"));
        let error = revoked
            .create(&request)
            .await
            .expect_err("a revoked key is refused");
        assert_eq!(error.as_api_status(), Some(401), "{error:?}");
        bad.keys_401
            .push(error.idempotency_key().expect("a key").as_str().to_owned());

        let id = format!("gen_{:0>24}", format!("nosuch{i}"));
        let reference = GenerationRef::new(
            Flavor::Responses,
            GenerationId::new(id).expect("a valid id"),
        );
        let error = good
            .retrieve(&reference)
            .await
            .expect_err("an unknown id is 404");
        assert_eq!(error.as_api_status(), Some(404), "{error:?}");
        bad.paths_404
            .push(format!("/v1/{}", reference.retrieve_path()));
    }
    bad
}

trait ApiStatus {
    fn as_api_status(&self) -> Option<u16>;
}

impl ApiStatus for Error {
    fn as_api_status(&self) -> Option<u16> {
        match self {
            Error::Api(api) => Some(api.status().as_u16()),
            Error::Create(c) => c.error().as_api_status(),
            _ => None,
        }
    }
}

struct Figures {
    transport: &'static str,
    generations: usize,
    completed: usize,
    failed_as_scripted: usize,
    as_decided: usize,
    create_gave_up: usize,
    wait_deadline: usize,
    requests: usize,
    faults: BTreeMap<String, usize>,
    limiter_429: usize,
    replays: usize,
    orphans: usize,
    longest_wait: Duration,
    elapsed: Duration,
}

impl Figures {
    fn print(&self, run: &str) {
        let injected: usize = self.faults.values().sum();
        println!(
            "chaos[{}/{run}]: {} generations in {:.2} s: {} completed, {} failed as the emulator decided, \
             {} as decided ({:.2} %), {} creates gave up on a documented limit, {} waits hit the deadline; \
             {} requests ({:.1} per generation), {} faults injected ({:.1} %), {} 429s from the rate limiter, \
             {} idempotent replays, {} generations created by a create whose answer never arrived; \
             longest wait {:.3} s",
            self.transport,
            self.generations,
            self.elapsed.as_secs_f64(),
            self.completed,
            self.failed_as_scripted,
            self.as_decided,
            100.0 * self.as_decided as f64 / self.generations.max(1) as f64,
            self.create_gave_up,
            self.wait_deadline,
            self.requests,
            self.requests as f64 / self.generations.max(1) as f64,
            injected,
            100.0 * injected as f64 / self.requests.max(1) as f64,
            self.limiter_429,
            self.replays,
            self.orphans,
            self.longest_wait.as_secs_f64(),
        );
        for (kind, n) in &self.faults {
            println!("chaos[{}/{run}]:   fault {kind}: {n}", self.transport);
        }
    }
}

/// The whole soak for one transport. `make` builds a fresh transport.
async fn soak<T: Transport + Clone + std::fmt::Debug>(
    name: &'static str,
    emu: &Emulator,
    p: &Params,
    make: impl Fn() -> T,
) -> Figures {
    let clock = SoakClock::for_scale(p.scale, SERVER_LIMIT);
    let recording = Recording::new(make());
    let good = client(
        recording.clone(),
        emu.demo_key(),
        &emu.base_url(),
        &clock,
        p.seed,
    );
    let revoked = client(
        make(),
        emu.revoked_key(),
        &emu.base_url(),
        &clock,
        p.seed + 1,
    );
    let started = std::time::Instant::now();

    let bad = if p.honour_idempotency {
        bad_inputs(&good, &revoked, 3).await
    } else {
        Bad::default()
    };
    let ops: Vec<Op> = futures_util::stream::iter(0..p.generations)
        .map(|i| one_generation(&good, i))
        .buffer_unordered(p.concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    // Let every generation the emulator knows reach its end (an orphan created by a create whose
    // answer was lost is never waited on).
    recording.sleep(emu.scaled(Duration::from_secs(200))).await;

    let demo = fingerprint(emu.demo_key());
    let log = emu.requests();
    let gens: HashMap<String, _> = emu
        .generations()
        .into_iter()
        .filter(|g| g.org == pipevideo_emulator::DEMO_ORG)
        .map(|g| (g.id.clone(), g))
        .collect();

    // 1. Typed outcomes, and how many ended as the emulator decided.
    let mut figures = Figures {
        transport: name,
        generations: ops.len(),
        completed: 0,
        failed_as_scripted: 0,
        as_decided: 0,
        create_gave_up: 0,
        wait_deadline: 0,
        requests: log.len(),
        faults: BTreeMap::new(),
        limiter_429: log.iter().filter(|e| e.rate_limited).count(),
        replays: log
            .iter()
            .filter(|e| e.idempotent_replay_of.is_some())
            .count(),
        orphans: 0,
        longest_wait: Duration::ZERO,
        elapsed,
    };
    let mut succeeded_keys = Vec::new();
    for op in &ops {
        match &op.ended {
            Ended::Completed(reference) => {
                let g = &gens[reference.id().as_str()];
                assert_eq!(
                    g.status, "completed",
                    "{reference} completed for the client only"
                );
                figures.completed += 1;
                figures.as_decided += 1;
            }
            Ended::WaitError { reference, kind } => {
                let g = &gens[reference.id().as_str()];
                match *kind {
                    "failed" => {
                        assert_eq!(g.status, "failed", "{reference} failed for the client only");
                        assert!(g.failure.is_some());
                        figures.failed_as_scripted += 1;
                        figures.as_decided += 1;
                    }
                    _ => {
                        eprintln!(
                            "chaos[{name}]: wait for {reference} hit its deadline after {:?}; emulator: {g:?}",
                            op.waited
                        );
                        for e in log.iter().filter(|e| {
                            e.path.contains(reference.id().as_str())
                                || e.generation_created.as_deref() == Some(reference.id().as_str())
                        }) {
                            eprintln!(
                                "   seq {} at {} ms {} {} -> {} {:?}",
                                e.seq, e.elapsed_ms, e.method, e.path, e.status, e.fault
                            );
                        }
                        figures.wait_deadline += 1
                    }
                }
            }
            Ended::CreateFailed {
                key,
                reason,
                documented_limit,
            } => {
                assert!(
                    key.is_some(),
                    "a failed create must carry its idempotency key"
                );
                assert!(
                    documented_limit,
                    "a create failed other than on a documented limit: {reason}"
                );
                eprintln!("chaos[{name}]: create {key:?} gave up: {reason}");
                figures.create_gave_up += 1;
            }
        }
        if let Some(waited) = op.waited {
            figures.longest_wait = figures.longest_wait.max(waited);
            assert!(
                waited <= clock.wait.deadline() + clock.retry.attempt_timeout(),
                "a wait took {waited:?}, past its deadline {:?}",
                clock.wait.deadline()
            );
        }
    }
    let ratio = figures.as_decided as f64 / ops.len() as f64;
    assert!(
        ratio >= 0.995,
        "only {:.3} % ended as the emulator decided",
        100.0 * ratio
    );

    // 2. Faults per kind.
    for e in &log {
        if let Some(fault) = &e.fault {
            *figures
                .faults
                .entry(format!("{} ({:?})", fault.kind, fault.timing).to_lowercase())
                .or_default() += 1;
        }
    }

    // 3. Creates grouped by idempotency key: at most one generation each, attempts within the
    //    policy, no 4xx retried.
    let mut creates: BTreeMap<&str, Vec<&LogEntry>> = BTreeMap::new();
    for e in log
        .iter()
        .filter(|e| e.method == "POST" && e.path == "/v1/responses")
    {
        let key = e
            .header("idempotency-key")
            .expect("every create carries a key");
        creates.entry(key).or_default().push(e);
    }
    for (key, group) in &creates {
        let created: Vec<_> = group
            .iter()
            .filter_map(|e| e.generation_created.as_ref())
            .collect();
        assert!(
            created.len() <= 1,
            "idempotency key {key} created {created:?}"
        );
        assert!(
            group.len() <= clock.retry.attempt_limit() as usize,
            "idempotency key {key} was sent {} times",
            group.len()
        );
        assert_no_retry_after_refusal(group, key);
    }
    for op in &ops {
        if let Ended::Completed(r) | Ended::WaitError { reference: r, .. } = &op.ended {
            succeeded_keys.push(r.id().as_str().to_owned());
        }
    }
    let created_ids: Vec<&str> = creates
        .values()
        .flat_map(|g| g.iter().filter_map(|e| e.generation_created.as_deref()))
        .collect();
    figures.orphans = created_ids
        .iter()
        .filter(|id| !succeeded_keys.iter().any(|s| s == *id))
        .count();
    if !p.honour_idempotency {
        // Before-processing faults only: exactly one generation per successful create.
        assert_eq!(
            figures.orphans, 0,
            "a create made a generation nobody got back"
        );
        assert_eq!(created_ids.len(), succeeded_keys.len());
    }
    for key in bad.keys_400.iter().chain(&bad.keys_401) {
        let group = &creates[key.as_str()];
        assert!(
            group
                .iter()
                .any(|e| matches!(e.status, 400 | 401) && e.fault.is_none()),
            "key {key} never got its refusal"
        );
    }
    for path in &bad.paths_404 {
        let group: Vec<&LogEntry> = log.iter().filter(|e| &e.path == path).collect();
        assert!(group.len() <= clock.retry.attempt_limit() as usize);
        assert!(group.iter().any(|e| e.status == 404 && e.fault.is_none()));
        assert_no_retry_after_refusal(&group, path);
    }

    // 4. retry_after windows: exact on the client's sends ...
    let exchanges = recording.exchanges();
    let ours: Vec<&LogEntry> = log
        .iter()
        .filter(|e| e.key_fingerprint.as_deref() == Some(demo.as_str()))
        .collect();
    let client_429: Vec<_> = exchanges.iter().filter(|x| x.status == Some(429)).collect();
    let server_429 = ours.iter().filter(|e| e.status == 429).count();
    eprintln!(
        "chaos[{name}]: client saw {} 429s ({} with a wait, e.g. {:?}), server sent {server_429}",
        client_429.len(),
        client_429
            .iter()
            .filter(|x| x.retry_after.is_some())
            .count(),
        client_429.first().map(|x| x.retry_after)
    );
    let inside = sends_inside_retry_after(&exchanges);
    assert!(
        inside.is_empty(),
        "sends inside a retry_after window: {:?}",
        &inside[..inside.len().min(5)]
    );
    // ... and from the emulator's arrivals, for the same call: its retry is sent only after
    // the 429 was read, so it must arrive at least the asked wait after the 429's request did
    // (less one millisecond for the log's whole-millisecond arrival times). Other calls'
    // requests may legitimately arrive inside the window: they were on the wire (or queued in
    // the emulator's accept loop) before the client read the 429; the client-side check above
    // covers them exactly.
    let injected_wait_ms = (RETRY_AFTER_EMULATED_SECS * p.scale * 1000.0).ceil() as u64;
    let call_of = |e: &LogEntry| match e.header("idempotency-key") {
        Some(key) if e.method == "POST" => format!("POST {key}"),
        _ => format!("{} {}", e.method, e.path),
    };
    let mut windows_checked = 0;
    for (i, refused) in ours.iter().enumerate() {
        if refused
            .fault
            .as_ref()
            .is_none_or(|f| f.kind != "rate_limited")
        {
            continue;
        }
        windows_checked += 1;
        let call = call_of(refused);
        let until = refused.elapsed_ms + injected_wait_ms - CLOCK_TOLERANCE_MS;
        let early: Vec<_> = ours[i + 1..]
            .iter()
            .filter(|e| e.elapsed_ms < until && call_of(e) == call)
            .map(|e| (e.seq, e.elapsed_ms))
            .collect();
        assert!(
            early.is_empty(),
            "429 at {} ms (seq {}, {call}) asked for {injected_wait_ms} ms; retried at {early:?}",
            refused.elapsed_ms,
            refused.seq
        );
    }
    assert_eq!(
        windows_checked,
        client_429.len() - figures.limiter_429.min(client_429.len())
    );
    figures
}

/// After a genuine 400/401/404 (not an injected fault), nothing more is sent in that group.
fn assert_no_retry_after_refusal(group: &[&LogEntry], what: &str) {
    if let Some(pos) = group
        .iter()
        .position(|e| matches!(e.status, 400 | 401 | 404) && e.fault.is_none())
    {
        assert_eq!(
            pos + 1,
            group.len(),
            "{what}: a {} was retried",
            group[pos].status
        );
    }
}

fn report(figures: &Figures, p: &Params, emu: BackgroundEmulator) {
    let run = if p.honour_idempotency {
        "idempotency on"
    } else {
        "idempotency off, faults before processing"
    };
    figures.print(run);
    assert_eq!(figures.generations, p.generations);
    assert!(
        figures.faults.values().sum::<usize>() > 0,
        "no fault was injected"
    );
    emu.shutdown();
}

fn tokio_block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future)
}

fn reqwest() -> pipevideo_reqwest::ReqwestTransport {
    pipevideo_reqwest::ReqwestTransport::new().expect("a reqwest client")
}

macro_rules! soak_test {
    ($name:ident, $label:literal, honour: $honour:expr, block_on: $block_on:path, transport: $make:expr) => {
        #[test]
        fn $name() {
            let p = Params::from_env($honour);
            let emu = start_emulator(&p);
            let figures = $block_on(soak($label, &emu, &p, $make));
            report(&figures, &p, emu);
        }
    };
}

soak_test!(soak_reqwest_on_tokio, "reqwest", honour: true, block_on: tokio_block_on, transport: reqwest);
soak_test!(soak_surf_on_async_std, "surf", honour: true, block_on: async_std::task::block_on,
    transport: pipevideo_surf::SurfTransport::new);
soak_test!(no_duplicates_without_server_idempotency_reqwest, "reqwest", honour: false,
    block_on: tokio_block_on, transport: reqwest);
soak_test!(no_duplicates_without_server_idempotency_surf, "surf", honour: false,
    block_on: async_std::task::block_on, transport: pipevideo_surf::SurfTransport::new);
