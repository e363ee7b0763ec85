//! The client's conformance suite: [`Client<T>`] over a real transport against the emulator on
//! loopback, written once as generic `async fn(T)` cases.
//!
//! Over ~600 lines on purpose: one case per behaviour, each short, all in one list that both
//! transports' test files run.
//!
//! This file is compiled into each client test binary (`tests/client_reqwest.rs`,
//! `tests/client_surf.rs`) with `#[path]`, not into the library: the cases need the emulator
//! and a tracing subscriber, which are dev-dependencies. [`client_conformance!`] turns every
//! case into a `#[test]` for one transport and one executor.
//!
//! Every case starts its own emulator with time running 100× fast (`TIME_SCALE`), so a
//! one-minute generation takes about half a second, and scales the client's clock to match
//! (pacing window, poll schedule, backoff). Faults are scripted per case; assertions read the
//! emulator's request log: how many requests arrived, when, and with which headers.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use pipevideo_core::client::{Client, ClientBuilder};
use pipevideo_core::model::CreateResponse;
use pipevideo_core::policy::AdaptiveSchedule;
use pipevideo_core::policy::Backoff;
use pipevideo_core::policy::CreateReplay;
use pipevideo_core::policy::LogNormal;
use pipevideo_core::policy::PacingPolicy;
use pipevideo_core::policy::PollSchedule;
use pipevideo_core::policy::RetryPolicy;
use pipevideo_core::policy::WaitPolicy;
use pipevideo_core::retry::GiveUpReason;
use pipevideo_core::transport::{Cause, FailureKind, Transport, TransportError};
use pipevideo_core::{ApiKey, BaseUrl, Error, ErrorCode, GenerationRef};
use pipevideo_emulator::{BackgroundEmulator, Emulator, Fault, FaultRule, LogEntry};

// The cases of `Client::save` (listed above with the others), in a file of their own.
#[path = "save_cases.rs"]
mod save_cases;
pub(crate) use save_cases::*;

/// How fast the emulator's clock runs: a minute lasts 0.6 s.
pub(crate) const TIME_SCALE: f64 = 0.01;

pub(crate) const MODEL: &str = "moonshotai/kimi-k2.5";

/// Instantiate every client case as a `#[test]` for one transport on one executor.
macro_rules! client_conformance {
    (transport: $make:expr, block_on: $block_on:path $(,)?) => {
        $crate::client_cases::client_conformance!(@cases $make, $block_on;
            bad_request_is_final,
            no_credits_is_a_final_bad_request,
            unauthorized_is_final,
            not_found_is_final,
            orpc_error_shapes_through_the_client,
            retry_after_is_honoured_in_real_time,
            server_error_is_retried_with_backoff,
            html_gateway_pages_are_retried,
            connection_refused_is_a_typed_not_sent_error,
            reset_mid_body_is_retried,
            slow_headers_hit_the_attempt_timeout,
            oversized_body_is_a_typed_error,
            pacing_keeps_every_window_under_the_limit,
            retried_create_keeps_its_idempotency_key,
            create_replay_policy_against_a_server_that_ignores_the_key,
            generate_and_download_a_valid_mp4,
            no_key_in_any_log_line,
            save_keeps_an_existing_target,
            save_never_follows_a_symlink_at_a_temp_name,
            save_stall_after_headers_hits_the_idle_timeout,
            save_endless_body_hits_the_size_cap,
            save_resumes_a_cut_download_with_range,
            save_restarts_on_a_host_without_ranges,
            save_refreshes_an_expired_url,
            save_cancelled_mid_download_leaves_no_temp_file,
        );
    };
    (@cases $make:expr, $block_on:path; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let transport = $make;
                $block_on($crate::client_cases::$case(transport));
            }
        )*
    };
}
pub(crate) use client_conformance;

fn emulator() -> BackgroundEmulator {
    Emulator::builder()
        .time_scale(TIME_SCALE)
        .seed(11)
        .failure_rate(0.0)
        .start_in_background()
        .expect("the emulator starts")
}

/// A builder with the client's clock scaled to the emulator's, pointed at it with the demo key.
pub(crate) fn builder<T: Transport>(transport: T, emu: &Emulator) -> ClientBuilder<T> {
    builder_with_key(transport, emu, emu.demo_key())
}

fn builder_with_key<T: Transport>(transport: T, emu: &Emulator, key: &str) -> ClientBuilder<T> {
    let ms = Duration::from_millis;
    let prior =
        LogNormal::new(Duration::from_secs(55).mul_f64(TIME_SCALE), 0.35).expect("a valid prior");
    let schedule = AdaptiveSchedule::default()
        .with_prior(prior)
        .with_peak_interval(ms(20))
        .and_then(|s| s.with_first_poll(ms(40)))
        .expect("a valid schedule");
    let wait = WaitPolicy::default()
        .with_schedule(PollSchedule::from(schedule))
        .with_not_found_grace(ms(500));
    let retry = RetryPolicy::default()
        .with_attempt_timeout(Duration::from_secs(5))
        .with_deadline(Duration::from_secs(20))
        .with_server_wait_cap(Duration::from_secs(3))
        .with_backoff(Backoff::default().with_base(ms(20)).with_cap(ms(200)));
    Client::builder(transport)
        .base_url(BaseUrl::parse(&emu.base_url()).expect("the emulator's URL"))
        .api_key(ApiKey::new(key).expect("a valid key"))
        .pacing(
            PacingPolicy::default().with_window(PacingPolicy::DEFAULT_WINDOW.mul_f64(TIME_SCALE)),
        )
        .wait_policy(wait)
        .retry_policy(retry)
        .seed(5)
}

/// The error of a call that must fail (a handle has no `Debug` unless the transport has).
fn refused<V>(result: Result<V, Error>) -> Error {
    match result {
        Ok(_) => panic!("the call succeeded but must fail"),
        Err(e) => e,
    }
}

/// The error of the last attempt, through the create and give-up wrappers.
fn root(error: &Error) -> &Error {
    match error {
        Error::Create(e) => root(e.error()),
        Error::GaveUp(e) => e.last_error().map_or(error, root),
        _ => error,
    }
}

fn api_code(error: &Error) -> ErrorCode {
    root(error)
        .as_api()
        .unwrap_or_else(|| panic!("expected an API error, got {error:?}"))
        .code()
}

fn transport_error(error: &Error) -> &TransportError {
    match root(error) {
        Error::Transport(e) => e,
        other => panic!("expected a transport error, got {other:?}"),
    }
}

/// The log entries of `/v1` requests whose path starts with `prefix`.
pub(crate) fn logged(emu: &Emulator, method: &str, prefix: &str) -> Vec<LogEntry> {
    emu.requests()
        .into_iter()
        .filter(|e| e.method == method && e.path.starts_with(prefix))
        .collect()
}

/// A generation to retrieve; the log is cleared afterwards.
async fn created<T: Transport>(client: &Client<T>, emu: &Emulator) -> GenerationRef {
    let handle = client
        .create(&CreateResponse::new(MODEL, "A lighthouse in a storm"))
        .await
        .expect("the create succeeds");
    emu.clear_requests();
    handle.reference().clone()
}

fn retrieve_fault(fault: Fault, times: u32) -> FaultRule {
    FaultRule::new(fault)
        .method("GET")
        .path("/v1/responses/")
        .times(times)
}

/// 400 (unknown model) comes back typed, after exactly one request.
pub(crate) async fn bad_request_is_final<T: Transport>(transport: T) {
    let emu = emulator();
    let client = builder(transport, &emu).build().unwrap();
    let error = refused(
        client
            .create(&CreateResponse::new("nobody/no-such-model", "A cat"))
            .await,
    );
    assert_eq!(api_code(&error), ErrorCode::BadRequest, "{error}");
    assert!(
        error.idempotency_key().is_some(),
        "a failed create names its key"
    );
    assert_eq!(logged(&emu, "POST", "/v1/responses").len(), 1);
    assert!(emu.generations().is_empty());
}

/// A zero balance is a 400 too, with the server's message kept, and is not retried.
pub(crate) async fn no_credits_is_a_final_bad_request<T: Transport>(transport: T) {
    let emu = emulator();
    let client = builder_with_key(transport, &emu, emu.no_credits_key())
        .build()
        .unwrap();
    let error = refused(client.create(&CreateResponse::new(MODEL, "A cat")).await);
    let api = root(&error).as_api().expect("an API error");
    assert_eq!(api.code(), ErrorCode::BadRequest);
    assert!(
        api.message().contains("Insufficient credits"),
        "{}",
        api.message()
    );
    assert_eq!(logged(&emu, "POST", "/v1/responses").len(), 1);
}

/// 401 for an unknown, a revoked and an expired key: one request each, never retried.
pub(crate) async fn unauthorized_is_final<T: Transport + Clone>(transport: T) {
    let emu = emulator();
    let keys = [
        "pv_not_a_known_key_0000".to_owned(),
        emu.revoked_key().to_owned(),
        emu.expired_key().to_owned(),
    ];
    for key in &keys {
        emu.clear_requests();
        let client = builder_with_key(transport.clone(), &emu, key)
            .build()
            .unwrap();
        let error = client.usage().await.expect_err("the key is refused");
        assert_eq!(api_code(&error), ErrorCode::Unauthorized, "{error}");
        assert_eq!(
            logged(&emu, "GET", "/v1/usage").len(),
            1,
            "one request for {error}"
        );
    }
}

/// 404 for an unknown id: one request, typed.
pub(crate) async fn not_found_is_final<T: Transport>(transport: T) {
    let emu = emulator();
    let client = builder(transport, &emu).build().unwrap();
    let unknown: GenerationRef = "responses:gen_000000000000000000000000".parse().unwrap();
    let error = client.retrieve(&unknown).await.expect_err("unknown id");
    assert_eq!(api_code(&error), ErrorCode::NotFound, "{error}");
    assert_eq!(logged(&emu, "GET", "/v1/responses/").len(), 1);
}

/// oRPC-shaped errors (`{defined, code, status, message}`): 400, 401 and 404 are final after
/// one request with their code read back; 429 and 500 are retried to success.
pub(crate) async fn orpc_error_shapes_through_the_client<T: Transport>(transport: T) {
    let emu = emulator();
    let client = builder(transport, &emu).build().unwrap();
    let reference = created(&client, &emu).await;
    for (status, code) in [
        (400, ErrorCode::BadRequest),
        (401, ErrorCode::Unauthorized),
        (404, ErrorCode::NotFound),
    ] {
        emu.clear_requests();
        emu.push_fault(retrieve_fault(Fault::OrpcError { status }, 1));
        let error = client
            .retrieve(&reference)
            .await
            .expect_err("a final error");
        let api = root(&error).as_api().expect("an API error");
        assert_eq!(api.code(), code);
        assert!(api.orpc_code().is_some(), "the oRPC code is read: {api:?}");
        assert_eq!(
            logged(&emu, "GET", "/v1/responses/").len(),
            1,
            "{status} is not retried"
        );
    }
    for status in [429, 500] {
        emu.clear_requests();
        emu.push_fault(retrieve_fault(Fault::OrpcError { status }, 1));
        let generation = client
            .retrieve(&reference)
            .await
            .expect("retried to success");
        assert_eq!(generation.reference(), &reference);
        assert_eq!(
            logged(&emu, "GET", "/v1/responses/").len(),
            2,
            "{status} is retried once"
        );
    }
}

/// A 429's `retry_after` (30 emulated seconds = 0.3 s real) is honoured: the second attempt
/// arrives no earlier than asked.
pub(crate) async fn retry_after_is_honoured_in_real_time<T: Transport>(transport: T) {
    let emu = emulator();
    let client = builder(transport, &emu).build().unwrap();
    let reference = created(&client, &emu).await;
    emu.push_fault(retrieve_fault(Fault::rate_limited(30.0), 1));
    client
        .retrieve(&reference)
        .await
        .expect("the retry succeeds");
    let log = logged(&emu, "GET", "/v1/responses/");
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0].status, 429);
    let asked = emu.scaled(Duration::from_secs(30)).as_millis() as u64;
    // Arrival times are whole milliseconds: allow the truncation of each.
    let gap = log[1].elapsed_ms - log[0].elapsed_ms;
    assert!(gap + 1 >= asked, "retried after {gap} ms, asked {asked} ms");
    assert!(
        gap < asked + 2_000,
        "retried after {gap} ms, asked {asked} ms"
    );
}

/// 500 is retried with backoff until it succeeds; each retry comes later than the previous.
pub(crate) async fn server_error_is_retried_with_backoff<T: Transport>(transport: T) {
    let emu = emulator();
    let client = builder(transport, &emu).build().unwrap();
    let reference = created(&client, &emu).await;
    emu.push_fault(retrieve_fault(Fault::ServerError, 3));
    client
        .retrieve(&reference)
        .await
        .expect("the fourth attempt succeeds");
    let log = logged(&emu, "GET", "/v1/responses/");
    let statuses: Vec<u16> = log.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [500, 500, 500, 200]);
    for pair in log.windows(2) {
        assert!(pair[1].elapsed_ms >= pair[0].elapsed_ms);
    }
    // Full jitter can draw a short wait, but three in a row all near zero is a missing backoff.
    let total = log[3].elapsed_ms - log[0].elapsed_ms;
    assert!(total >= 5, "three backoffs took {total} ms");
}

/// A proxy's HTML 502/503/504 page is retried like a 5xx, and after the last attempt it is a
/// typed API error with its status, not a decode error.
pub(crate) async fn html_gateway_pages_are_retried<T: Transport>(transport: T) {
    let emu = emulator();
    let client = builder(transport, &emu).build().unwrap();
    let reference = created(&client, &emu).await;
    for fault in [
        Fault::BadGatewayHtml,
        Fault::ServiceUnavailableHtml,
        Fault::GatewayTimeoutHtml,
    ] {
        emu.clear_requests();
        emu.push_fault(retrieve_fault(fault.clone(), 1));
        client
            .retrieve(&reference)
            .await
            .expect("retried to success");
        assert_eq!(logged(&emu, "GET", "/v1/responses/").len(), 2, "{fault:?}");
    }
    emu.clear_requests();
    emu.push_fault(retrieve_fault(Fault::BadGatewayHtml, 100));
    let error = client
        .retrieve(&reference)
        .await
        .expect_err("every attempt gets a 502");
    assert_eq!(api_code(&error), ErrorCode::Other(502), "{error}");
    assert!(matches!(error, Error::GaveUp(_)), "{error:?}");
    assert_eq!(
        logged(&emu, "GET", "/v1/responses/").len() as u32,
        RetryPolicy::DEFAULT_ATTEMPT_LIMIT
    );
    emu.clear_faults();
}

/// Nothing listens: a typed transport error of kind `NotSent`, cause `Connect`.
pub(crate) async fn connection_refused_is_a_typed_not_sent_error<T: Transport>(transport: T) {
    let emu = emulator();
    let refused = crate_server_refused_base();
    let client = builder(transport, &emu)
        .base_url(BaseUrl::parse(&refused).unwrap())
        .build()
        .unwrap();
    let error = client.usage().await.expect_err("nothing listens");
    let transport_error = transport_error(&error);
    assert_eq!(transport_error.kind(), FailureKind::NotSent, "{error}");
    assert_eq!(transport_error.cause(), Cause::Connect, "{error}");
    assert!(emu.requests().is_empty());
}

fn crate_server_refused_base() -> String {
    let url = pipevideo_tests::server::refused_url();
    format!("{}v1", url)
}

/// A response cut off mid-body on a read is retried (the read is safe to repeat).
pub(crate) async fn reset_mid_body_is_retried<T: Transport>(transport: T) {
    let emu = emulator();
    let client = builder(transport, &emu).build().unwrap();
    let reference = created(&client, &emu).await;
    emu.push_fault(retrieve_fault(Fault::ResetMidBody, 1));
    let generation = client
        .retrieve(&reference)
        .await
        .expect("retried to success");
    assert_eq!(generation.reference(), &reference);
    let log = logged(&emu, "GET", "/v1/responses/");
    assert_eq!(log.len(), 2);
    assert_eq!(
        log[0].fault.as_ref().map(|f| f.kind.as_str()),
        Some("reset_mid_body")
    );
}

/// Headers held back past the per-attempt timeout: the attempt is abandoned at the timeout
/// (not when the headers finally come) and retried.
pub(crate) async fn slow_headers_hit_the_attempt_timeout<T: Transport>(transport: T) {
    let emu = emulator();
    let timeout = Duration::from_millis(300);
    let client = builder(transport, &emu)
        .retry_policy(
            RetryPolicy::default()
                .with_attempt_timeout(timeout)
                .with_backoff(
                    Backoff::default()
                        .with_base(Duration::from_millis(10))
                        .with_cap(Duration::from_millis(20)),
                ),
        )
        .build()
        .unwrap();
    let reference = created(&client, &emu).await;
    emu.push_fault(retrieve_fault(Fault::SlowHeaders { delay_ms: 2_000 }, 1));
    let started = Instant::now();
    client
        .retrieve(&reference)
        .await
        .expect("the second attempt succeeds");
    let took = started.elapsed();
    assert!(
        took >= timeout,
        "returned after {took:?}, before the timeout"
    );
    assert!(
        took < Duration::from_millis(1_800),
        "waited for the slow headers: {took:?}"
    );
    // The slow attempt struck (its rule is used up) but, abandoned by the client before the
    // emulator answered, it never reaches the request log; the retry does.
    assert!(
        emu.faults().rules.iter().all(|r| r.count == 0),
        "{:?}",
        emu.faults()
    );
    let log = logged(&emu, "GET", "/v1/responses/");
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!((log[0].status, log[0].fault.is_none()), (200, true));
    assert!(log[0].elapsed_ms >= timeout.as_millis() as u64, "{log:?}");
}

/// A body over the client's cap is a typed, final error (`BodyTooLarge`), not an allocation.
pub(crate) async fn oversized_body_is_a_typed_error<T: Transport>(transport: T) {
    let emu = emulator();
    let limit = 64 * 1024;
    let client = builder(transport, &emu).body_limit(limit).build().unwrap();
    let reference = created(&client, &emu).await;
    emu.push_fault(retrieve_fault(Fault::HugeBody { bytes: 1024 * 1024 }, 1));
    let error = client.retrieve(&reference).await.expect_err("over the cap");
    let transport_error = transport_error(&error);
    assert_eq!(
        transport_error.cause(),
        Cause::BodyTooLarge { limit },
        "{error}"
    );
    assert_eq!(transport_error.kind(), FailureKind::Permanent);
    assert_eq!(
        logged(&emu, "GET", "/v1/responses/").len(),
        1,
        "not retried"
    );
    // The next call is unaffected.
    client.retrieve(&reference).await.expect("a normal body");
}

/// A tight pacing policy (4 requests per 400 ms): no 400 ms window of the emulator's log holds
/// more than 4 requests, and the calls are not held back more than the policy needs.
pub(crate) async fn pacing_keeps_every_window_under_the_limit<T: Transport>(transport: T) {
    let emu = emulator();
    let (limit, window) = (4_usize, Duration::from_millis(400));
    let client = builder(transport, &emu)
        .pacing(PacingPolicy::new(limit as u32, window).with_burst(limit as u32))
        .build()
        .unwrap();
    let started = Instant::now();
    for _ in 0..12 {
        client.usage().await.expect("usage");
    }
    let took = started.elapsed();
    let arrivals: Vec<u64> = logged(&emu, "GET", "/v1/usage")
        .iter()
        .map(|e| e.elapsed_ms)
        .collect();
    assert_eq!(arrivals.len(), 12);
    // The pacer spaces the sends; arrivals trail them by a few ms each (a debug build, a
    // loaded machine: 12 ms was seen), and in whole ms. Shave 50 ms off the window so that
    // arrival jitter cannot make a paced run look like a burst; without pacing, all 12 would
    // arrive within a few ms.
    let strict = window.as_millis() as u64 - 50;
    for (i, &t) in arrivals.iter().enumerate() {
        let in_window = arrivals[i..]
            .iter()
            .take_while(|&&u| u - t < strict)
            .count();
        assert!(
            in_window <= limit,
            "{in_window} requests within {strict} ms from {t}: {arrivals:?}"
        );
    }
    // 12 requests at 4 per window need at least two full windows after the first burst.
    assert!(took >= window * 2 - Duration::from_millis(10), "{took:?}");
    assert!(took < window * 2 + Duration::from_secs(2), "{took:?}");
}

/// A create whose response is lost (500 after processing) is retried with the same
/// `Idempotency-Key`, and the emulator replays the first generation instead of making more.
pub(crate) async fn retried_create_keeps_its_idempotency_key<T: Transport>(transport: T) {
    let emu = emulator();
    let client = builder(transport, &emu).build().unwrap();
    emu.push_fault(
        FaultRule::new(Fault::ServerError)
            .method("POST")
            .path("/v1/responses")
            .times(2)
            .after(),
    );
    let handle = client
        .create(&CreateResponse::new(MODEL, "A kite over dunes"))
        .await
        .expect("the third attempt succeeds");
    let log = logged(&emu, "POST", "/v1/responses");
    assert_eq!(log.len(), 3, "{log:?}");
    let keys: Vec<&str> = log
        .iter()
        .map(|e| e.header("idempotency-key").expect("a key"))
        .collect();
    assert!(!keys[0].is_empty());
    assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
    assert_eq!(Some(keys[0]), handle.idempotency_key().map(|k| k.as_str()));
    let created = log[0]
        .generation_created
        .clone()
        .expect("the first attempt created it");
    assert_eq!(
        log[1].idempotent_replay_of.as_deref(),
        Some(created.as_str())
    );
    assert_eq!(
        log[2].idempotent_replay_of.as_deref(),
        Some(created.as_str())
    );
    assert_eq!(handle.reference().id().as_str(), created);
    assert_eq!(emu.generations().len(), 1);
}

/// Issue 19, item 9: the create replay policy, against the emulator in its mode that ignores
/// `Idempotency-Key` (a server that does not deduplicate, which the docs do not rule out).
/// Each of the first two creates is processed and then answered 500; the generations made
/// per logical create are counted: replay with the key (the default) makes three, at most one
/// replay two, never replay one. Every attempt carries the same key.
pub(crate) async fn create_replay_policy_against_a_server_that_ignores_the_key<
    T: Transport + Clone,
>(
    transport: T,
) {
    for (replay, generations) in [
        (CreateReplay::WithKey, 3),
        (CreateReplay::AtMostOnce, 2),
        (CreateReplay::Never, 1),
    ] {
        let emu = Emulator::builder()
            .time_scale(TIME_SCALE)
            .seed(11)
            .failure_rate(0.0)
            .idempotency(false)
            .start_in_background()
            .expect("the emulator starts");
        let retry = RetryPolicy::default()
            .with_attempt_timeout(Duration::from_secs(5))
            .with_deadline(Duration::from_secs(20))
            .with_backoff(Backoff::default().with_base(Duration::from_millis(20)))
            .with_create_replay(replay);
        let client = builder(transport.clone(), &emu)
            .retry_policy(retry)
            .build()
            .unwrap();
        emu.push_fault(
            FaultRule::new(Fault::ServerError)
                .method("POST")
                .path("/v1/responses")
                .times(2)
                .after(),
        );
        let result = client
            .create(&CreateResponse::new(MODEL, "A kite over dunes"))
            .await;
        assert_eq!(
            emu.generations().len(),
            generations,
            "{replay:?}: generations per logical create"
        );
        let log = logged(&emu, "POST", "/v1/responses");
        assert_eq!(log.len(), generations, "{replay:?}: {log:?}");
        let keys: Vec<&str> = log
            .iter()
            .map(|e| e.header("idempotency-key").expect("a key"))
            .collect();
        assert!(keys.iter().all(|k| *k == keys[0]), "{keys:?}");
        match replay {
            CreateReplay::WithKey => {
                result.expect("the third attempt succeeds");
            }
            _ => {
                let error = refused(result);
                assert_eq!(error.idempotency_key().map(|k| k.as_str()), Some(keys[0]));
                let Error::GaveUp(gave_up) = root_give_up(&error) else {
                    panic!("{error:?}")
                };
                assert_eq!(
                    gave_up.give_up().reason(),
                    GiveUpReason::ReplayLimit {
                        replays: generations as u32 - 1
                    },
                    "{error}"
                );
            }
        }
    }
}

/// The give-up inside a create's error.
fn root_give_up(error: &Error) -> &Error {
    match error {
        Error::Create(e) => root_give_up(e.error()),
        _ => error,
    }
}

/// Create, wait and download end to end: the video is a valid MP4 (an `ftyp` box first), and
/// the download request carries no `Authorization` header.
pub(crate) async fn generate_and_download_a_valid_mp4<T: Transport>(transport: T) {
    let emu = emulator();
    let client = builder(transport, &emu).build().unwrap();
    let video = client
        .generate(&CreateResponse::new(MODEL, "A paper plane over Lisbon"))
        .await
        .expect("the generation completes");
    assert!(video.video_url().is_some());
    let mut bytes = Vec::new();
    let written = client
        .download(&video, &mut bytes)
        .await
        .expect("the download");
    assert_eq!(written, bytes.len() as u64);
    assert!(bytes.len() > 8);
    assert_eq!(&bytes[4..8], b"ftyp", "an MP4 starts with its ftyp box");
    let files = logged(&emu, "GET", "/files/");
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].header("authorization"), None);
    assert_eq!(files[0].status, 200);
}

/// A `MakeWriter` that appends every line to a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }
}

/// The process-wide capture of every tracing line at TRACE.
///
/// A global subscriber, not a scoped one: tracing caches each callsite's interest and the
/// global maximum level across threads, so a thread-local subscriber set while other tests run
/// in parallel misses events. Every case of the binary then logs into this buffer, which only
/// makes the key check wider (all emulators share a seed, hence the demo key).
fn capture() -> &'static Captured {
    static CAPTURE: OnceLock<Captured> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the client suites");
        captured
    })
}

/// Everything the client logs at TRACE during a generate with retries, a download, a 401 and a
/// key rotation: lines are captured, and no key appears in any of them.
pub(crate) async fn no_key_in_any_log_line<T: Transport + Clone>(transport: T) {
    let captured = capture();
    let emu = emulator();
    let wrong_key = "pv_wrong_but_wellformed_9f8e7d";
    let before = captured.text().lines().count();
    let client = builder(transport.clone(), &emu).build().unwrap();
    emu.push_fault(
        FaultRule::new(Fault::ServerError)
            .method("POST")
            .times(1)
            .after(),
    );
    emu.push_fault(retrieve_fault(Fault::rate_limited(5.0), 1));
    let video = client
        .generate(&CreateResponse::new(MODEL, "A fox in the snow"))
        .await
        .expect("the generation completes");
    client
        .download(&video, &mut Vec::new())
        .await
        .expect("the download");
    let wrong = builder_with_key(transport, &emu, wrong_key)
        .build()
        .unwrap();
    let _ = refused(wrong.usage().await);
    client
        .set_api_key(ApiKey::new(emu.demo_key()).unwrap())
        .unwrap();
    client.usage().await.expect("usage");
    tracing::info!(client = ?client, "debug view of the client");
    let text = captured.text();
    let lines = text.lines().count() - before;
    assert!(lines >= 10, "only {lines} lines captured:\n{text}");
    for needle in ["pipevideo.call", "pipevideo.wait", "poll", "created"] {
        assert!(
            text.contains(needle),
            "no {needle:?} in the captured lines:\n{text}"
        );
    }
    for key in [emu.demo_key(), wrong_key] {
        assert_eq!(
            text.matches(key).count(),
            0,
            "the key {key} leaked:\n{text}"
        );
    }
}
