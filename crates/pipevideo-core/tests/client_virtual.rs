//! The async client driven in virtual time over a scripted server: every decision the engine
//! makes is carried out by the driver exactly (waits, retries, pacing, idempotency, waits that
//! end with their reference), with no sleeps and no network.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_executor::block_on;
use http::{Request, Response};
use pipevideo_core::WaitErrorKind;
use pipevideo_core::client::{CancelToken, Client, WaitOptions};
use pipevideo_core::model::{CreateResponse, FailureCause};
use pipevideo_core::policy::PacingPolicy;
use pipevideo_core::policy::RetryPolicy;
use pipevideo_core::policy::WaitPolicy;
use pipevideo_core::retry::GiveUpReason;
use pipevideo_core::transport::testing::{FnTransport, VirtualClock};
use pipevideo_core::transport::{Clock, TransportError};
use pipevideo_core::{ApiKey, BaseUrl, Error, Flavor, Status};

const KEY: &str = "pv_secret_0123456789abcdef";

/// What the scripted server answers for one request, before its normal behaviour.
#[derive(Clone, Debug)]
enum Fault {
    Status(u16, &'static str),
    Reset,
}

#[derive(Default)]
struct ServerState {
    /// Per generation id: the statuses its polls report, in order; the last one repeats.
    scripts: HashMap<String, VecDeque<&'static str>>,
    /// Statuses the next generations will follow.
    next_scripts: VecDeque<Vec<&'static str>>,
    /// Faults for the next requests, in order, by method.
    faults: VecDeque<(http::Method, Fault)>,
    /// Every request: method, path, headers, virtual instant.
    log: Vec<(http::Method, String, http::HeaderMap, Instant)>,
    created: u32,
    /// Idempotency keys seen on creates, with the id they created.
    idempotency: HashMap<String, String>,
}

#[derive(Clone)]
struct Server {
    state: Arc<Mutex<ServerState>>,
    clock: VirtualClock,
}

impl Server {
    fn new(clock: VirtualClock) -> Self {
        Self {
            state: Arc::default(),
            clock,
        }
    }

    fn script(&self, statuses: &[&'static str]) {
        self.state
            .lock()
            .unwrap()
            .next_scripts
            .push_back(statuses.to_vec());
    }

    fn fault(&self, method: http::Method, fault: Fault) {
        self.state.lock().unwrap().faults.push_back((method, fault));
    }

    fn log(&self) -> Vec<(http::Method, String, http::HeaderMap, Instant)> {
        self.state.lock().unwrap().log.clone()
    }

    fn answer(&self, request: Request<Vec<u8>>) -> Result<Response<Vec<u8>>, TransportError> {
        let mut s = self.state.lock().unwrap();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        s.log.push((
            method.clone(),
            path.clone(),
            request.headers().clone(),
            self.clock.now(),
        ));
        if s.faults.front().is_some_and(|(m, _)| *m == method) {
            let (_, fault) = s.faults.pop_front().unwrap();
            return match fault {
                Fault::Status(code, body) => Ok(Response::builder()
                    .status(code)
                    .body(body.as_bytes().to_vec())
                    .unwrap()),
                Fault::Reset => Err(TransportError::maybe_sent("connection reset")),
            };
        }
        if method == http::Method::POST {
            let key = request
                .headers()
                .get("idempotency-key")
                .map(|v| v.to_str().unwrap().to_owned());
            if let Some(id) = key.as_ref().and_then(|k| s.idempotency.get(k)) {
                return Ok(json(&format!(
                    r#"{{"id":"{id}","object":"response","status":"queued"}}"#
                )));
            }
            s.created += 1;
            let id = format!("gen_{:04}", s.created);
            let script = s
                .next_scripts
                .pop_front()
                .unwrap_or_else(|| vec!["in_progress", "completed"]);
            s.scripts.insert(id.clone(), script.into());
            if let Some(k) = key {
                s.idempotency.insert(k, id.clone());
            }
            return Ok(json(&format!(
                r#"{{"id":"{id}","object":"response","status":"queued","created_at":1709827200}}"#
            )));
        }
        if let Some(url) = path.strip_prefix("/files/") {
            return Ok(Response::builder()
                .status(200)
                .body(format!("video:{url}").into_bytes())
                .unwrap());
        }
        let id = path.rsplit('/').next().unwrap().to_owned();
        let Some(script) = s.scripts.get_mut(&id) else {
            return Ok(Response::builder()
                .status(404)
                .body(br#"{"message":"Generation not found"}"#.to_vec())
                .unwrap());
        };
        let status = if script.len() > 1 {
            script.pop_front().unwrap()
        } else {
            script[0]
        };
        let body = match status {
            "completed" => format!(
                r#"{{"id":"{id}","object":"response","status":"completed","video_url":"https://cdn.example/files/{id}.mp4"}}"#
            ),
            "failed" => format!(
                r#"{{"id":"{id}","object":"response","status":"failed","errorMessage":"Insufficient credits"}}"#
            ),
            other => format!(r#"{{"id":"{id}","object":"response","status":"{other}"}}"#),
        };
        Ok(json(&body))
    }
}

fn json(body: &str) -> Response<Vec<u8>> {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

type Scripted = FnTransport<
    Box<
        dyn Fn(Request<Vec<u8>>) -> std::future::Ready<Result<Response<Vec<u8>>, TransportError>>
            + Send
            + Sync,
    >,
>;

fn setup() -> (Client<Scripted>, Server, VirtualClock) {
    setup_with(|b| b)
}

fn setup_with(
    configure: impl FnOnce(
        pipevideo_core::client::ClientBuilder<Scripted>,
    ) -> pipevideo_core::client::ClientBuilder<Scripted>,
) -> (Client<Scripted>, Server, VirtualClock) {
    let clock = VirtualClock::new(Instant::now());
    let server = Server::new(clock.clone());
    let s = server.clone();
    let transport: Scripted = FnTransport::new(
        clock.clone(),
        Box::new(move |req| std::future::ready(s.answer(req))),
    );
    let builder = Client::builder(transport)
        .api_key(ApiKey::new(KEY).unwrap())
        .base_url(BaseUrl::parse("http://127.0.0.1:3001/v1").unwrap())
        .seed(42);
    (configure(builder).build().unwrap(), server, clock)
}

fn prompt() -> CreateResponse {
    CreateResponse::new("moonshotai/kimi-k2.5", "A cat on a beach")
}

#[test]
fn generate_creates_then_polls_until_completed() {
    let (client, server, clock) = setup();
    server.script(&["queued", "in_progress", "in_progress", "completed"]);
    let video = block_on(client.generate(&prompt())).unwrap();
    assert_eq!(video.status(), &Status::Completed);
    assert_eq!(
        video.video_url(),
        Some("https://cdn.example/files/gen_0001.mp4")
    );
    assert_eq!(video.reference().flavor(), Flavor::Responses);
    let log = server.log();
    assert_eq!(log[0].0, http::Method::POST);
    assert_eq!(
        log.len(),
        1 + 4,
        "one create and one poll per scripted status"
    );
    assert!(
        log[1..]
            .iter()
            .all(|(m, p, ..)| m == http::Method::GET && p == "/v1/responses/gen_0001")
    );
    // The wait took virtual time, and polls were spread, not hammered.
    assert!(
        clock.elapsed() > Duration::from_secs(5),
        "{:?}",
        clock.elapsed()
    );
}

#[test]
fn every_create_carries_one_idempotency_key_reused_across_retries() {
    let (client, server, _clock) = setup();
    server.fault(
        http::Method::POST,
        Fault::Status(500, r#"{"message":"boom"}"#),
    );
    server.fault(http::Method::POST, Fault::Reset);
    let handle = block_on(client.create(&prompt())).unwrap();
    let keys: Vec<_> = server
        .log()
        .iter()
        .filter(|(m, ..)| m == http::Method::POST)
        .map(|(_, _, h, _)| h.get("idempotency-key").unwrap().clone())
        .collect();
    assert_eq!(keys.len(), 3, "500, reset, then success");
    assert!(keys.iter().all(|k| *k == keys[0]));
    assert_eq!(
        handle.idempotency_key().unwrap().as_str(),
        keys[0].to_str().unwrap()
    );
    assert_eq!(handle.reference().to_string(), "responses:gen_0001");
}

#[test]
fn a_create_without_a_key_is_not_replayed_after_a_500() {
    let (client, server, _clock) = setup_with(|b| b.idempotency(false));
    server.fault(
        http::Method::POST,
        Fault::Status(500, r#"{"message":"boom"}"#),
    );
    let err = block_on(client.create(&prompt())).unwrap_err();
    let Error::Create(create) = &err else {
        panic!("{err:?}")
    };
    assert!(create.idempotency_key().is_none());
    let Error::GaveUp(gave_up) = create.error() else {
        panic!("{err:?}")
    };
    assert_eq!(gave_up.give_up().reason(), GiveUpReason::NotIdempotent);
    assert_eq!(server.log().len(), 1);
}

#[test]
fn a_429_waits_exactly_retry_after() {
    let (client, server, _clock) = setup();
    server.fault(
        http::Method::POST,
        Fault::Status(429, r#"{"message":"Rate limit exceeded. Please try again later.","data":{"retry_after":42}}"#),
    );
    block_on(client.create(&prompt())).unwrap();
    let log = server.log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].3 - log[0].3, Duration::from_secs(42));
}

#[test]
fn a_429_holds_every_call_of_the_client_even_when_its_own_call_gives_up() {
    // One attempt per call: the 429'd call gives up at once, yet its `retry_after` must still
    // hold the next call of the same client (the limit is per key, not per call).
    let (client, server, _clock) =
        setup_with(|b| b.retry_policy(RetryPolicy::default().with_attempt_limit(1)));
    server.fault(
        http::Method::GET,
        Fault::Status(429, r#"{"message":"slow down","data":{"retry_after":7}}"#),
    );
    let err = block_on(client.usage()).unwrap_err();
    let Error::GaveUp(g) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        g.give_up().reason(),
        GiveUpReason::AttemptsExhausted { limit: 1 }
    );
    block_on(client.create(&prompt())).unwrap();
    let log = server.log();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].0, http::Method::POST);
    assert_eq!(
        log[1].3 - log[0].3,
        Duration::from_secs(7),
        "the create waits out the other call's 429, exactly"
    );
}

#[test]
fn errors_that_retrying_cannot_fix_are_returned_after_one_attempt() {
    for (code, body) in [
        (400, r#"{"message":"Insufficient credits"}"#),
        (401, r#"{"message":"API key has expired"}"#),
        (404, r#"{"message":"Not found"}"#),
    ] {
        let (client, server, _clock) = setup();
        server.fault(http::Method::POST, Fault::Status(code, body));
        let err = block_on(client.create(&prompt())).unwrap_err();
        let Error::Create(create) = &err else {
            panic!("{err:?}")
        };
        let api = create.error().as_api().unwrap_or_else(|| panic!("{err:?}"));
        assert_eq!(api.status().as_u16(), code);
        assert!(
            create.idempotency_key().is_some(),
            "the key is kept for reconciling"
        );
        assert_eq!(server.log().len(), 1, "HTTP {code} must not be retried");
    }
}

#[test]
fn a_failed_generation_ends_the_wait_with_its_cause_and_reference() {
    let (client, server, _clock) = setup();
    server.script(&["queued", "failed"]);
    let err = block_on(client.generate(&prompt())).unwrap_err();
    let Error::Wait(wait) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(wait.reference().to_string(), "responses:gen_0001");
    assert_eq!(
        wait.failure().unwrap().cause,
        FailureCause::InsufficientCredits
    );
    assert_eq!(err.generation(), Some(wait.reference()));
}

#[test]
fn a_wait_ends_at_its_deadline_with_the_reference_and_last_status() {
    let (client, server, clock) = setup();
    server.script(&["in_progress"]); // never finishes
    let handle = block_on(client.create(&prompt())).unwrap();
    let start = clock.now();
    let deadline = Duration::from_secs(120);
    let err = block_on(handle.wait_with(WaitOptions::new().with_deadline(deadline))).unwrap_err();
    let Error::Wait(wait) = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(wait.kind(), WaitErrorKind::DeadlineExceeded { .. }),
        "{err}"
    );
    assert_eq!(wait.last_status(), Some(&Status::Running));
    assert_eq!(
        clock.now() - start,
        deadline,
        "ends exactly at its deadline"
    );
    // Resuming works with the reference from the error.
    let resumed = wait.reference().clone();
    server
        .state
        .lock()
        .unwrap()
        .scripts
        .insert("gen_0001".into(), ["completed"].into());
    let video = block_on(client.wait(&resumed)).unwrap();
    assert_eq!(video.status(), &Status::Completed);
}

#[test]
fn server_errors_while_polling_do_not_end_the_wait_but_401_does() {
    let (client, server, _clock) = setup();
    server.script(&["queued", "in_progress", "completed"]);
    let handle = block_on(client.create(&prompt())).unwrap();
    for _ in 0..3 {
        server.fault(
            http::Method::GET,
            Fault::Status(500, r#"{"message":"boom"}"#),
        );
    }
    server.fault(
        http::Method::GET,
        Fault::Status(502, "<html>Bad Gateway</html>"),
    );
    server.fault(http::Method::GET, Fault::Reset);
    assert_eq!(
        block_on(handle.wait()).unwrap().status(),
        &Status::Completed
    );

    let (client, server, _clock) = setup();
    server.script(&["queued", "in_progress", "completed"]);
    let handle = block_on(client.create(&prompt())).unwrap();
    server.fault(
        http::Method::GET,
        Fault::Status(401, r#"{"message":"API key has been revoked"}"#),
    );
    let err = block_on(handle.wait()).unwrap_err();
    let Error::Wait(wait) = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(wait.kind(), WaitErrorKind::Unauthorized { .. }),
        "{err}"
    );
    assert_eq!(
        server
            .log()
            .iter()
            .filter(|(m, ..)| m == http::Method::GET)
            .count(),
        1,
        "a 401 ends the wait at once"
    );
}

#[test]
fn unknown_statuses_keep_the_wait_going() {
    let (client, server, _clock) = setup();
    server.script(&["queued", "throttled", "moderation_review", "completed"]);
    let video = block_on(client.generate(&prompt())).unwrap();
    assert_eq!(video.status(), &Status::Completed);
}

#[test]
fn a_cancelled_wait_keeps_its_reference() {
    let (client, server, _clock) = setup();
    server.script(&["in_progress"]);
    let handle = block_on(client.create(&prompt())).unwrap();
    let token = CancelToken::new();
    token.cancel();
    let err = block_on(handle.wait_with(WaitOptions::new().with_cancel(token))).unwrap_err();
    let Error::Wait(wait) = &err else {
        panic!("{err:?}")
    };
    assert!(matches!(wait.kind(), WaitErrorKind::Cancelled));
    assert_eq!(wait.reference().to_string(), "responses:gen_0001");
}

#[test]
fn concurrent_waits_share_the_pacing_budget() {
    // A tight budget: 10 requests per minute, bursts of 2.
    let (client, server, _clock) = setup_with(|b| {
        b.pacing(PacingPolicy::new(10, Duration::from_secs(60)).with_burst(2))
            .wait_policy(WaitPolicy::default())
            .retry_policy(RetryPolicy::default().with_deadline(Duration::from_secs(600)))
    });
    let mut handles = Vec::new();
    for _ in 0..4 {
        server.script(&["queued", "in_progress", "completed"]);
        handles.push(block_on(client.create(&prompt())).unwrap());
    }
    let results = block_on(futures_util::future::join_all(
        handles.into_iter().map(|h| h.wait()),
    ));
    assert!(
        results
            .iter()
            .all(|r| r.as_ref().is_ok_and(|g| g.status() == &Status::Completed))
    );
    let times: Vec<Instant> = server.log().iter().map(|e| e.3).collect();
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..]
            .iter()
            .take_while(|u| **u < *t + Duration::from_secs(60))
            .count();
        assert!(
            in_window <= 10,
            "{in_window} requests within 60 s of request {i}"
        );
    }
}

#[test]
fn download_streams_without_the_key_and_refreshes_an_expired_url() {
    let (client, server, _clock) = setup();
    server.script(&["completed"]);
    let video = block_on(client.generate(&prompt())).unwrap();
    server.fault(http::Method::GET, Fault::Status(410, "expired"));
    let mut sink = Vec::new();
    let n = block_on(client.download(&video, &mut sink)).unwrap();
    assert_eq!(sink, b"video:gen_0001.mp4");
    assert_eq!(n, sink.len() as u64);
    let log = server.log();
    let downloads: Vec<_> = log
        .iter()
        .filter(|(_, p, ..)| p.starts_with("/files/"))
        .collect();
    assert_eq!(downloads.len(), 2, "the expired URL, then the fresh one");
    assert!(
        downloads
            .iter()
            .all(|(_, _, h, _)| h.get("authorization").is_none())
    );
    assert!(
        log.iter().any(|(_, p, ..)| p == "/v1/responses/gen_0001"),
        "refetched for a fresh URL"
    );
}

#[test]
fn key_rotation_applies_to_later_requests() {
    let (client, server, _clock) = setup();
    block_on(client.create(&prompt())).unwrap();
    client
        .set_api_key(ApiKey::new("pv_new_key_fedcba").unwrap())
        .unwrap();
    block_on(client.create(&prompt())).unwrap();
    let log = server.log();
    assert_eq!(log[0].2["authorization"], format!("Bearer {KEY}").as_str());
    assert_eq!(log[1].2["authorization"], "Bearer pv_new_key_fedcba");
    assert!(log[0].2["authorization"].is_sensitive());
}

#[test]
fn the_key_never_appears_in_debug_or_errors() {
    let (client, server, _clock) = setup();
    server.fault(
        http::Method::POST,
        Fault::Status(401, r#"{"message":"API key has expired"}"#),
    );
    let err = block_on(client.create(&prompt())).unwrap_err();
    for text in [format!("{client:?}"), format!("{err:?}"), err.to_string()] {
        assert!(!text.contains(KEY), "{text}");
        assert!(!text.contains("0123456789abcdef"), "{text}");
    }
}

#[test]
fn a_429_beyond_the_deadline_fails_at_once_and_says_what_was_asked() {
    let (client, server, clock) = setup_with(|b| {
        b.retry_policy(RetryPolicy::default().with_deadline(Duration::from_secs(30)))
    });
    server.fault(
        http::Method::GET,
        Fault::Status(
            429,
            r#"{"message":"Rate limit exceeded.","data":{"retry_after":45}}"#,
        ),
    );
    let start = clock.now();
    let err = block_on(client.usage()).unwrap_err();
    assert_eq!(clock.now(), start, "a wait past the deadline is not slept");
    let Error::GaveUp(g) = &err else {
        panic!("{err:?}")
    };
    match g.give_up().reason() {
        GiveUpReason::DeadlineWouldPass {
            asked, remaining, ..
        } => {
            assert_eq!(asked, Duration::from_secs(45));
            assert_eq!(remaining, Duration::from_secs(30));
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("45"), "{err}");
    assert_eq!(server.log().len(), 1);
}

#[test]
fn the_transport_clock_is_the_only_clock() {
    let (client, server, clock) = setup();
    server.script(&["completed"]);
    let before = clock.now();
    block_on(client.generate(&prompt())).unwrap();
    assert!(client.transport().now() >= before);
    assert_eq!(client.transport().now(), clock.now());
}

/// The pacing claim of the retry engine, proven on what the driver really sends: many
/// concurrent creates and waits, with 500s, resets and 429s sprinkled in (retries included),
/// never put more than the pacing limit into any sliding 60-second window.
#[test]
fn the_driver_never_exceeds_the_pacing_limit_in_any_window() {
    use rand::{Rng, SeedableRng, rngs::SmallRng};
    for seed in 0..4u64 {
        let (client, server, _clock) = setup_with(|b| {
            b.pacing(PacingPolicy::new(30, Duration::from_secs(60)).with_burst(5))
                .seed(seed)
        });
        let mut rng = SmallRng::seed_from_u64(seed);
        for _ in 0..40 {
            let fault = match rng.random_range(0..10) {
                0 => Fault::Status(500, r#"{"message":"boom"}"#),
                1 => Fault::Reset,
                2 => Fault::Status(429, r#"{"message":"slow","data":{"retry_after":3}}"#),
                _ => continue,
            };
            let method = if rng.random_bool(0.5) {
                http::Method::GET
            } else {
                http::Method::POST
            };
            server.fault(method, fault);
        }
        let request = prompt();
        let jobs = (0..12).map(|_| {
            server.script(&["queued", "in_progress", "in_progress", "completed"]);
            client.generate(&request)
        });
        let results = block_on(futures_util::future::join_all(jobs));
        let completed = results.iter().filter(|r| r.is_ok()).count();
        assert!(
            completed >= 10,
            "seed {seed}: only {completed} of 12 completed: {results:?}"
        );
        let times: Vec<Instant> = server.log().iter().map(|e| e.3).collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        for (i, t) in times.iter().enumerate() {
            let n = times[i..]
                .iter()
                .take_while(|u| **u < *t + Duration::from_secs(60))
                .count();
            assert!(
                n <= 30,
                "seed {seed}: {n} requests within 60 s of request {i}"
            );
        }
    }
}

#[test]
fn a_body_over_the_cap_is_a_typed_error_and_not_retried() {
    let (client, server, _clock) = setup_with(|b| b.body_limit(16));
    let err = block_on(client.create(&prompt())).unwrap_err();
    let Error::Create(create) = &err else {
        panic!("{err:?}")
    };
    let Error::Transport(t) = create.error() else {
        panic!("{err:?}")
    };
    assert_eq!(
        t.cause(),
        pipevideo_core::transport::Cause::BodyTooLarge { limit: 16 }
    );
    assert_eq!(
        server.log().len(),
        1,
        "the same answer would be too large again"
    );
}

/// A user with an HTTP stack of their own writes a function, not a trait impl: `http_fn` is the
/// HTTP half, any clock the other. The client's rules run unchanged over it (here: a 503 retried
/// after a backoff slept on the clock, the key sent, the video downloaded through the default
/// `download`, which goes through `send`).
#[test]
fn a_closure_and_a_clock_make_a_transport() {
    use pipevideo_core::transport::{SendOptions, Stack, http_fn};

    let clock = VirtualClock::new(Instant::now());
    let calls = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = Arc::clone(&calls);
    let http = http_fn(move |request: Request<Vec<u8>>, options: SendOptions| {
        let mut seen = seen.lock().unwrap();
        let authorized = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .is_some_and(|v| v.as_bytes() == format!("Bearer {KEY}").as_bytes());
        seen.push(format!(
            "{} {} {authorized}",
            request.method(),
            request.uri().path()
        ));
        if request.uri().path().starts_with("/v1/") {
            assert!(options.timeout().is_some(), "every API attempt is bounded");
        }
        let response = match (seen.len(), request.uri().path()) {
            (1, _) => {
                let mut r = json(r#"{"message":"busy"}"#);
                *r.status_mut() = http::StatusCode::SERVICE_UNAVAILABLE;
                r
            }
            (_, "/files/v.mp4") => Response::new(b"MP4!".to_vec()),
            _ => json(
                r#"{"id":"gen_fn1","object":"response","status":"completed","video_url":"https://cdn.test/files/v.mp4"}"#,
            ),
        };
        async move { Ok::<_, TransportError>(response) }
    });
    let client = Client::builder(Stack::new(http, clock.clone()))
        .api_key(ApiKey::new(KEY).unwrap())
        .base_url(BaseUrl::parse("https://api.test/v1").unwrap())
        .seed(3)
        .build()
        .unwrap();
    let reference = "responses:gen_fn1".parse().unwrap();
    let generation = block_on(client.retrieve(&reference)).unwrap();
    assert_eq!(generation.status(), &Status::Completed);
    assert_eq!(
        clock.sleeps().len(),
        1,
        "one backoff, slept on the clock half"
    );
    let mut video = Vec::new();
    assert_eq!(
        block_on(client.download(&generation, &mut video)).unwrap(),
        4
    );
    assert_eq!(video, b"MP4!");
    assert_eq!(
        *calls.lock().unwrap(),
        [
            "GET /v1/responses/gen_fn1 true",
            "GET /v1/responses/gen_fn1 true",
            "GET /files/v.mp4 false",
        ],
        "the video host never sees the key"
    );
}

/// Issue 19, item 3: `.seed(n)` seeds jitter and the poll schedule only. Idempotency keys
/// come from the OS RNG, so two processes (here: two clients) built with the same seed never
/// send the same key, and a deduplicating server never hands one the other's generation.
#[test]
fn two_clients_with_the_same_seed_draw_different_idempotency_keys() {
    let (a, server_a, _) = setup();
    let (b, server_b, _) = setup();
    let ka = block_on(a.create(&prompt())).unwrap();
    let kb = block_on(b.create(&prompt())).unwrap();
    let (ka, kb) = (ka.idempotency_key().unwrap(), kb.idempotency_key().unwrap());
    assert_ne!(
        ka, kb,
        "same seed, same key: the key came from the seeded RNG"
    );
    for (server, key) in [(server_a, ka), (server_b, kb)] {
        assert_eq!(
            server.log()[0].2.get("idempotency-key").unwrap(),
            key.as_str()
        );
    }
}

/// Issue 19, item 5: a 429 asking longer than the call's cap on server-asked waits ends that
/// call, and still holds the whole client: a call that would start inside the hold fails at
/// once (no request, no sleep) with the time left; once the hold is over, calls go again.
#[test]
fn a_429_beyond_the_cap_holds_the_client_and_calls_inside_the_hold_fail_fast() {
    let cap = Duration::from_secs(10);
    let (client, server, clock) =
        setup_with(|b| b.retry_policy(RetryPolicy::default().with_server_wait_cap(cap)));
    server.fault(
        http::Method::GET,
        Fault::Status(429, r#"{"message":"slow down","data":{"retry_after":120}}"#),
    );
    let err = block_on(client.usage()).unwrap_err();
    let Error::GaveUp(g) = &err else {
        panic!("{err:?}")
    };
    assert!(
        matches!(
            g.give_up().reason(),
            GiveUpReason::ServerDelayBeyondCap { .. }
        ),
        "{err}"
    );
    assert_eq!(server.log().len(), 1);

    let start = clock.now();
    clock.advance(Duration::from_secs(20));
    let err = block_on(client.usage()).unwrap_err();
    assert_eq!(clock.now(), start + Duration::from_secs(20), "not slept");
    assert_eq!(server.log().len(), 1, "nothing sent inside the hold");
    let Error::GaveUp(g) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        g.give_up().reason(),
        GiveUpReason::HeldBeyondCap {
            left: Duration::from_secs(100),
            cap
        }
    );
    assert_eq!(err.retry_after(), Some(Duration::from_secs(100)));
    assert_eq!(err.kind(), pipevideo_core::ErrorKind::RateLimited);
    assert!(err.to_string().contains("100.000 s"), "{err}");

    clock.advance(Duration::from_secs(100));
    // The scripted server knows no usage (404): what matters is that the call went out.
    let after = block_on(client.usage());
    assert_eq!(server.log().len(), 2, "the hold is over: {after:?}");
}

/// Issue 19, item 6: the 404 grace is for a generation created moments ago. A resumed wait on
/// a reference of unknown age (`pipevideo wait gen_doesnotexist`) ends on the first 404, with
/// one GET, instead of polling through the 10 s grace; a reference whose age says it was just
/// created keeps the grace, and so does a handle from this client's create.
#[test]
fn a_resumed_wait_of_unknown_age_ends_on_the_first_404() {
    let (client, server, clock) = setup();
    let missing: pipevideo_core::GenerationRef = "responses:gen_doesnotexist".parse().unwrap();
    let start = clock.now();
    let err = block_on(client.wait(&missing)).unwrap_err();
    assert_eq!(err.kind(), pipevideo_core::ErrorKind::NotFound, "{err}");
    assert_eq!(server.log().len(), 1, "one GET, no grace");
    assert_eq!(clock.now(), start);
    assert_eq!(err.generation(), Some(&missing));

    // Known to be 2 s old: inside the 10 s grace, so a 404 is polled again until it ends.
    let (client, server, _) = setup();
    let err = block_on(client.wait_with(
        &missing,
        WaitOptions::new().with_age(Duration::from_secs(2)),
    ))
    .unwrap_err();
    assert_eq!(err.kind(), pipevideo_core::ErrorKind::NotFound, "{err}");
    assert!(
        server.log().len() > 1,
        "the grace applies: {}",
        server.log().len()
    );

    // The same from the generation's creation time, read against the transport's wall clock.
    let (client, server, clock) = setup();
    let created_at = clock.wall_now() - Duration::from_secs(3);
    block_on(client.wait_with(&missing, WaitOptions::new().with_created_at(created_at)))
        .unwrap_err();
    assert!(
        server.log().len() > 1,
        "the grace applies: {}",
        server.log().len()
    );
    // An hour-old creation time: no grace.
    let (client, server, clock) = setup();
    let created_at = clock.wall_now() - Duration::from_secs(3600);
    block_on(client.wait_with(&missing, WaitOptions::new().with_created_at(created_at)))
        .unwrap_err();
    assert_eq!(server.log().len(), 1);
}
