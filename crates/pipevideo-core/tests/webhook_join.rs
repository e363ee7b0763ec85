//! Webhooks joined with waiting: a verified event ends a wait without continuing its polling
//! loop, in the sans-IO poller and fleet and through the async client, in virtual time.
//!
//! Events are signed here with the RustCrypto primitives, following Svix's published scheme
//! (HMAC-SHA256 over `id.timestamp.body`, base64), and verified with the crate's `Verifier`:
//! holding a `WebhookEvent` is the proof of verification the APIs ask for.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use futures_executor::block_on;
use hmac::{Hmac, Mac};
use http::{Request, Response};
use pipevideo_core::WaitErrorKind;
use pipevideo_core::client::Client;
use pipevideo_core::model::CreateResponse;
use pipevideo_core::policy::{TerminalWebhook, WaitPolicy};
use pipevideo_core::poll::{Fleet, FleetError, OutcomeKind, PollFailure, Poller};
use pipevideo_core::transport::testing::{FnTransport, VirtualClock};
use pipevideo_core::transport::{
    ChunkSink, Clock, DownloadBody, DownloadOptions, HttpClient, SendOptions, TransportError,
};
use pipevideo_core::webhook::{Verifier, WebhookEvent, WebhookHeaders, WebhookSecret};
use pipevideo_core::{ApiKey, BaseUrl, Error, GenerationRef, Status};
use pipevideo_core::{pacing::Pacer, policy::PacingPolicy};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use sha2::Sha256;

const KEY_BYTES: &[u8] = b"an endpoint secret of 24b";
const SENT_SECS: u64 = 1_767_225_600;

fn secret_string() -> String {
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(KEY_BYTES)
    )
}

/// Signs and verifies an event about `generation` with `status`: Svix's scheme, done by hand.
fn event(delivery: &str, generation: &str, status: &str) -> WebhookEvent {
    let body = match status {
        "completed" => format!(
            r#"{{"eventType":"video.generation.completed","generationId":"{generation}","status":"completed","outputUrl":"https://cdn.example/{generation}.mp4?sig=x"}}"#
        ),
        "failed" => format!(
            r#"{{"eventType":"video.generation.completed","generationId":"{generation}","status":"failed","errorMessage":"Insufficient credits"}}"#
        ),
        other => format!(
            r#"{{"eventType":"video.generation.completed","generationId":"{generation}","status":"{other}"}}"#
        ),
    };
    let timestamp = SENT_SECS.to_string();
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY_BYTES).unwrap();
    mac.update(format!("{delivery}.{timestamp}.{body}").as_bytes());
    let signature = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    let verifier = Verifier::new(WebhookSecret::new(&secret_string()).unwrap());
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(SENT_SECS + 1);
    verifier
        .verify_headers(
            WebhookHeaders::new(delivery, &timestamp, &signature),
            body.as_bytes(),
            now,
        )
        .expect("the test's own signature verifies")
}

fn reference(id: &str) -> GenerationRef {
    format!("responses:{id}").parse().unwrap()
}

// ---------------------------------------------------------------- the sans-IO poller and fleet

#[test]
fn poller_ends_on_a_completed_webhook_without_another_poll() {
    let start = Instant::now();
    let mut rng = SmallRng::seed_from_u64(1);
    let mut poller =
        Poller::<Status>::new(reference("gen_a"), WaitPolicy::default(), start, &mut rng);
    // Poll a few times, always "in_progress".
    let mut now = start;
    while poller.polls() < 3 {
        now = poller.poll_timeout().unwrap();
        poller.handle_timeout(now);
        if let Some(t) = poller.poll_transmit(now) {
            assert_eq!(t.reference, reference("gen_a"));
            poller.handle_response(now, Ok(Status::Running));
        }
    }
    let at = now + Duration::from_millis(300);
    assert!(poller.handle_webhook(at, &event("msg_1", "gen_a", "completed")));
    assert_eq!(poller.poll_transmit(at), None, "no poll after the webhook");
    assert_eq!(poller.poll_timeout(), None, "the wait is over");
    let outcome = poller.poll_outcome().unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Completed(Status::Completed));
    assert_eq!(outcome.polls, 3);
    assert_eq!(outcome.last_status, Some(Status::Completed));
}

#[test]
fn poller_ignores_other_generations_and_non_terminal_events() {
    let start = Instant::now();
    let mut rng = SmallRng::seed_from_u64(2);
    let mut poller =
        Poller::<Status>::new(reference("gen_a"), WaitPolicy::default(), start, &mut rng);
    let before = poller.poll_timeout();
    assert!(!poller.handle_webhook(start, &event("msg_1", "gen_other", "completed")));
    assert!(!poller.is_finished());
    assert!(poller.handle_webhook(start, &event("msg_2", "gen_a", "in_progress")));
    assert!(poller.handle_webhook(start, &event("msg_3", "gen_a", "brand_new_status")));
    assert!(
        !poller.is_finished(),
        "only completed and failed end a wait"
    );
    assert_eq!(
        poller.last_status(),
        Some(&Status::Unknown("brand_new_status".into()))
    );
    assert_eq!(poller.poll_timeout(), before, "the schedule is unchanged");
    assert_eq!(poller.poll_outcome(), None);
}

#[test]
fn fleet_routes_by_generation_id_and_reports_unknown_generations() {
    let start = Instant::now();
    let mut rng = SmallRng::seed_from_u64(3);
    let mut pacer = Pacer::new(PacingPolicy::default());
    let mut fleet = Fleet::<Status>::new();
    for id in ["gen_a", "gen_b", "gen_c"] {
        fleet
            .insert(reference(id), WaitPolicy::default(), start, &mut rng)
            .unwrap();
    }
    let legacy: GenerationRef = "legacy:gen_l".parse().unwrap();
    fleet
        .insert(legacy.clone(), WaitPolicy::default(), start, &mut rng)
        .unwrap();
    let at = start + Duration::from_secs(2);
    assert_eq!(
        fleet.handle_webhook(at, &event("msg_0", "gen_zzz", "completed")),
        Err(FleetError::NoWaitFor("gen_zzz".parse().unwrap()))
    );
    assert_eq!(fleet.len(), 4);
    fleet
        .handle_webhook(at, &event("msg_1", "gen_b", "failed"))
        .unwrap();
    fleet
        .handle_webhook(at, &event("msg_2", "gen_l", "completed"))
        .unwrap();
    let first = fleet.poll_outcome().unwrap();
    assert_eq!(first.reference, reference("gen_b"));
    assert_eq!(first.kind, OutcomeKind::Failed(Status::Failed));
    let second = fleet.poll_outcome().unwrap();
    assert_eq!(
        second.reference, legacy,
        "matched by id whatever the flavour"
    );
    assert!(second.is_completed());
    assert_eq!(fleet.poll_outcome(), None);
    assert_eq!(fleet.len(), 2);
    // The ended waits send nothing; the others still poll.
    assert!(fleet.poller(&reference("gen_b")).is_none());
    let late = start + Duration::from_secs(30);
    fleet.handle_timeout(late);
    while let Some(t) = fleet.poll_transmit(late, &mut pacer) {
        assert!(t.reference == reference("gen_a") || t.reference == reference("gen_c"));
        fleet
            .handle_response(
                late,
                &mut pacer,
                &t.reference,
                Err(PollFailure::Transient {
                    not_before: None,
                    message: "x".into(),
                }),
            )
            .unwrap();
    }
    // A retry of a delivery whose wait already ended is an error the caller may ignore.
    assert!(matches!(
        fleet.handle_webhook(late, &event("msg_1", "gen_b", "failed")),
        Err(FleetError::NoWaitFor(_))
    ));
}

/// A snapshot that cannot be built from an event (like the client's `Generation`): the
/// terminal webhook makes exactly one fetch due at once.
#[derive(Debug, Clone, PartialEq)]
struct Full(Status);

impl pipevideo_core::poll::Snapshot for Full {
    fn status(&self) -> Status {
        self.0.clone()
    }
}

#[test]
fn a_snapshot_the_event_cannot_stand_for_is_fetched_exactly_once() {
    let start = Instant::now();
    let mut rng = SmallRng::seed_from_u64(4);
    let policy = WaitPolicy::default().with_webhooks(true);
    let mut poller = Poller::<Full>::new(reference("gen_a"), policy, start, &mut rng);
    assert_eq!(
        poller.poll_timeout(),
        Some(start + WaitPolicy::WEBHOOK_SAFETY_NET),
        "the safety net polls first after a minute"
    );
    let at = start + Duration::from_secs(40);
    assert!(poller.handle_webhook(at, &event("msg_1", "gen_a", "completed")));
    assert!(poller.awaits_webhook_fetch());
    assert_eq!(poller.poll_timeout(), Some(at), "the fetch is due at once");
    let t = poller.poll_transmit(at).expect("one fetch");
    assert_eq!(t.attempt, 1);
    assert_eq!(poller.poll_transmit(at), None, "only one in flight");
    poller.handle_response(at, Ok(Full(Status::Completed)));
    let outcome = poller.poll_outcome().unwrap();
    assert_eq!(
        outcome.kind,
        OutcomeKind::Completed(Full(Status::Completed))
    );
    assert_eq!(outcome.polls, 1);
    // The webhook said when; the fetch only brought the body.
    assert_eq!(outcome.finished_between, Some((at - start, at - start)));
}

#[test]
fn a_fetch_that_lags_behind_the_webhook_is_repeated_within_a_second() {
    let start = Instant::now();
    let mut rng = SmallRng::seed_from_u64(5);
    let policy = WaitPolicy::default().with_webhooks(true);
    let mut poller = Poller::<Full>::new(reference("gen_a"), policy, start, &mut rng);
    let at = start + Duration::from_secs(10);
    poller.handle_webhook(at, &event("msg_1", "gen_a", "failed"));
    let _ = poller.poll_transmit(at).unwrap();
    poller.handle_response(at, Ok(Full(Status::Running)));
    let next = poller.poll_timeout().unwrap();
    assert!(next <= at + Duration::from_secs(1), "{:?}", next - at);
    let _ = poller.poll_transmit(next).unwrap();
    poller.handle_response(next, Ok(Full(Status::Failed)));
    let outcome = poller.poll_outcome().unwrap();
    assert_eq!(outcome.kind, OutcomeKind::Failed(Full(Status::Failed)));
    assert_eq!(outcome.polls, 2);
}

// ---------------------------------------------------------------- the async client

/// The scripted server: every generation reports `state` (shared, flipped by the test).
#[derive(Clone)]
struct Server {
    state: Arc<Mutex<ServerState>>,
}

struct ServerState {
    status: &'static str,
    gets: Vec<Duration>,
    clock: VirtualClock,
}

impl Server {
    fn answer(&self, request: &Request<Vec<u8>>) -> Response<Vec<u8>> {
        let mut s = self.state.lock().unwrap();
        let body = if request.method() == http::Method::POST {
            r#"{"id":"gen_0001","object":"response","status":"queued"}"#.to_owned()
        } else {
            let at = s.clock.elapsed();
            s.gets.push(at);
            match s.status {
                "completed" => r#"{"id":"gen_0001","object":"response","status":"completed","video_url":"https://cdn.example/fresh.mp4"}"#.to_owned(),
                "failed" => r#"{"id":"gen_0001","object":"response","status":"failed","errorMessage":"Insufficient credits"}"#.to_owned(),
                other => format!(r#"{{"id":"gen_0001","object":"response","status":"{other}"}}"#),
            }
        };
        Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(body.into_bytes())
            .unwrap()
    }

    fn set(&self, status: &'static str) {
        self.state.lock().unwrap().status = status;
    }

    fn gets(&self) -> Vec<Duration> {
        self.state.lock().unwrap().gets.clone()
    }
}

type Scripted = FnTransport<
    Box<
        dyn Fn(Request<Vec<u8>>) -> std::future::Ready<Result<Response<Vec<u8>>, TransportError>>
            + Send
            + Sync,
    >,
>;

/// A transport whose sleeps really wait, for a driver future that moves the virtual clock:
/// so a webhook can arrive while a wait sleeps.
struct Stepped {
    inner: Scripted,
}

struct UntilClock {
    clock: VirtualClock,
    at: Instant,
}

impl Future for UntilClock {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.clock.now() >= self.at {
            Poll::Ready(())
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for Stepped {
    async fn send(
        &self,
        request: Request<Vec<u8>>,
        options: SendOptions,
    ) -> Result<Response<Vec<u8>>, TransportError> {
        self.inner.send(request, options).await
    }

    async fn download(
        &self,
        request: Request<Vec<u8>>,
        sink: &mut dyn ChunkSink,
        options: DownloadOptions,
    ) -> Result<Response<DownloadBody>, TransportError> {
        self.inner.download(request, sink, options).await
    }
}

#[async_trait::async_trait]
impl Clock for Stepped {
    async fn sleep(&self, duration: Duration) {
        let clock = self.inner.clock().clone();
        let at = clock.now() + duration;
        UntilClock { clock, at }.await;
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn wall_now(&self) -> SystemTime {
        self.inner.wall_now()
    }
}

/// Returns `Pending` once, so that the other future of a `join` runs.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Moves the clock one second at a time up to `until`, calling `each` after every step.
async fn drive(clock: VirtualClock, until: Duration, mut each: impl FnMut(Duration)) {
    while clock.elapsed() < until {
        YieldNow(false).await;
        clock.advance(Duration::from_secs(1));
        each(clock.elapsed());
    }
}

fn setup(policy: WaitPolicy) -> (Client<Stepped>, Server, VirtualClock) {
    let clock = VirtualClock::new(Instant::now());
    let server = Server {
        state: Arc::new(Mutex::new(ServerState {
            status: "in_progress",
            gets: Vec::new(),
            clock: clock.clone(),
        })),
    };
    let s = server.clone();
    let inner: Scripted = FnTransport::new(
        clock.clone(),
        Box::new(move |req| std::future::ready(Ok(s.answer(&req)))),
    );
    let client = Client::builder(Stepped { inner })
        .api_key(ApiKey::new("pv_secret_0123456789abcdef").unwrap())
        .base_url(BaseUrl::parse("http://127.0.0.1:3001/v1").unwrap())
        .wait_policy(policy)
        .seed(7)
        .build()
        .unwrap();
    (client, server, clock)
}

fn prompt() -> CreateResponse {
    CreateResponse::new("moonshotai/kimi-k2.5", "A cat on a beach")
}

/// Creates a generation, waits on it while the driver runs `each` every virtual second;
/// returns the wait's result and the virtual time it ended.
fn run(
    client: &Client<Stepped>,
    clock: &VirtualClock,
    each: impl FnMut(Duration),
) -> (Result<pipevideo_core::model::Generation, Error>, Duration) {
    let wait = async {
        let handle = client.create(&prompt()).await.unwrap();
        let result = handle.wait().await;
        (result, clock.elapsed())
    };
    let (out, ()) = block_on(futures_util::future::join(
        wait,
        drive(clock.clone(), Duration::from_secs(700), each),
    ));
    out
}

#[test]
fn client_wait_ends_on_a_webhook_with_one_fetch_and_no_further_polls() {
    let (client, server, clock) = setup(WaitPolicy::default().with_webhooks(true));
    let c = client.clone();
    let s = server.clone();
    let (result, ended) = run(&client, &clock, move |t| {
        if t == Duration::from_secs(50) {
            s.set("completed");
            assert!(c.handle_webhook(&event("msg_1", "gen_0001", "completed")));
        }
    });
    let video = result.unwrap();
    assert_eq!(video.status(), &Status::Completed);
    assert_eq!(
        video.video_url(),
        Some("https://cdn.example/fresh.mp4"),
        "the fetched generation, with its fresh URL"
    );
    assert_eq!(
        ended,
        Duration::from_secs(50),
        "ended when the webhook came"
    );
    assert_eq!(
        server.gets(),
        [Duration::from_secs(50)],
        "no poll before (safety net at 60 s), one fetch after, nothing else"
    );
}

#[test]
fn with_the_adaptive_schedule_a_webhook_still_stops_the_polling_loop() {
    let (client, server, clock) = setup(WaitPolicy::default());
    let c = client.clone();
    let s = server.clone();
    let polls_before = Arc::new(Mutex::new(0));
    let pb = Arc::clone(&polls_before);
    let (result, ended) = run(&client, &clock, move |t| {
        if t == Duration::from_secs(45) {
            *pb.lock().unwrap() = s.gets().len();
            s.set("completed");
            assert!(c.handle_webhook(&event("msg_1", "gen_0001", "completed")));
        }
    });
    assert!(result.is_ok());
    assert_eq!(ended, Duration::from_secs(45));
    let before = *polls_before.lock().unwrap();
    assert!(before >= 2, "the adaptive schedule polled before: {before}");
    assert_eq!(
        server.gets().len(),
        before + 1,
        "exactly one fetch after the webhook"
    );
}

#[test]
fn a_failed_webhook_ends_the_wait_with_the_typed_failure() {
    let (client, server, clock) = setup(WaitPolicy::default().with_webhooks(true));
    let c = client.clone();
    let s = server.clone();
    let (result, ended) = run(&client, &clock, move |t| {
        if t == Duration::from_secs(20) {
            s.set("failed");
            assert!(c.handle_webhook(&event("msg_1", "gen_0001", "failed")));
        }
    });
    let Err(Error::Wait(wait)) = result else {
        panic!("expected a wait error, got {result:?}");
    };
    let WaitErrorKind::Failed(generation) = wait.kind() else {
        panic!("expected Failed, got {:?}", wait.kind());
    };
    assert_eq!(generation.status(), &Status::Failed);
    assert_eq!(
        wait.failure().map(|f| f.message.as_str()),
        Some("Insufficient credits")
    );
    assert_eq!(ended, Duration::from_secs(20));
    assert_eq!(server.gets(), [Duration::from_secs(20)]);
}

#[test]
fn an_unknown_generations_webhook_is_ignored() {
    let (client, server, clock) = setup(WaitPolicy::default().with_webhooks(true));
    let c = client.clone();
    let s = server.clone();
    let (result, ended) = run(&client, &clock, move |t| {
        if t == Duration::from_secs(30) {
            assert!(!c.handle_webhook(&event("msg_1", "gen_other", "completed")));
        }
        if t == Duration::from_secs(100) {
            s.set("completed");
        }
    });
    assert!(result.is_ok());
    // Found by the safety net: polls at 60 s (still running) and 120 s (completed).
    assert_eq!(
        server.gets(),
        [Duration::from_secs(60), Duration::from_secs(120)]
    );
    assert_eq!(ended, Duration::from_secs(120));
}

#[test]
fn the_hybrid_mode_polls_rarely_and_still_ends_by_the_deadline() {
    let (client, server, clock) = setup(WaitPolicy::default().with_webhooks(true));
    let (result, ended) = run(&client, &clock, |_| {});
    let Err(Error::Wait(wait)) = result else {
        panic!("expected a wait error, got {result:?}");
    };
    assert!(
        matches!(wait.kind(), WaitErrorKind::DeadlineExceeded { .. }),
        "{:?}",
        wait.kind()
    );
    assert!(ended <= WaitPolicy::DEFAULT_DEADLINE, "{ended:?}");
    let gets = server.gets();
    // One poll a minute, and a last look just before the deadline.
    assert!(gets.len() <= 11, "{gets:?}");
    assert!(
        gets.windows(2)
            .all(|w| w[1] - w[0] >= Duration::from_secs(59)),
        "{gets:?}"
    );
    assert_eq!(gets.len() as u32, wait.polls());

    // The adaptive schedule, over the same ten minutes, polls several times as often.
    let (client, server, clock) = setup(WaitPolicy::default());
    let (result, _) = run(&client, &clock, |_| {});
    assert!(result.is_err());
    assert!(
        server.gets().len() >= 2 * gets.len(),
        "{} vs {}",
        server.gets().len(),
        gets.len()
    );
}

#[test]
fn fleet_fetches_after_webhooks_go_first_come_first_served_ahead_of_every_poll() {
    let start = Instant::now();
    let mut rng = SmallRng::seed_from_u64(5);
    // One request per minute, already spent: nothing goes until the window turns.
    let mut pacer = Pacer::new(PacingPolicy::new(1, Duration::from_secs(60)));
    pacer.record_send(start);
    let mut fleet = Fleet::<Full>::new();
    let ids = ["gen_a", "gen_b", "gen_c", "gen_d", "gen_e"];
    for id in ids {
        fleet
            .insert(reference(id), WaitPolicy::default(), start, &mut rng)
            .unwrap();
    }
    // Announced in the order d, b, e; a and c stay due on their schedules meanwhile.
    for (k, id) in ["gen_d", "gen_b", "gen_e"].into_iter().enumerate() {
        let at = start + Duration::from_secs(40 + k as u64);
        fleet
            .handle_webhook(at, &event(&format!("msg_{k}"), id, "completed"))
            .unwrap();
    }
    let mut order = Vec::new();
    let mut now = start + Duration::from_secs(50);
    while order.len() < 3 {
        fleet.handle_timeout(now);
        if let Some(t) = fleet.poll_transmit(now, &mut pacer) {
            order.push(t.reference.id().to_string());
            fleet
                .handle_response(now, &mut pacer, &t.reference, Ok(Full(Status::Completed)))
                .unwrap();
        }
        now += Duration::from_secs(1);
    }
    assert_eq!(
        order,
        ["gen_d", "gen_b", "gen_e"],
        "the first announced first"
    );
    let done: Vec<_> = std::iter::from_fn(|| fleet.poll_outcome())
        .map(|o| (o.reference.id().to_string(), o.polls))
        .collect();
    assert_eq!(
        done,
        [
            ("gen_d".into(), 1),
            ("gen_b".into(), 1),
            ("gen_e".into(), 1)
        ],
        "one fetch each, no schedule poll went out before them"
    );
}

/// Like the client's `Generation`: the event alone stands for it only when the wait accepts a
/// partial snapshot ([`TerminalWebhook::UseEvent`]).
#[derive(Debug, Clone, PartialEq)]
struct Partial(Status);

impl pipevideo_core::poll::Snapshot for Partial {
    fn status(&self) -> Status {
        self.0.clone()
    }

    fn from_webhook_alone(_: &GenerationRef, event: &WebhookEvent) -> Option<Self> {
        Some(Self(event.status().clone()))
    }
}

#[test]
fn use_event_ends_a_wait_the_event_cannot_stand_for_without_a_fetch() {
    let start = Instant::now();
    let mut rng = SmallRng::seed_from_u64(6);
    let at = start + Duration::from_secs(40);
    // By default the event makes one fetch due.
    let policy = WaitPolicy::default().with_webhooks(true);
    let mut fetching = Poller::<Partial>::new(reference("gen_a"), policy.clone(), start, &mut rng);
    assert!(fetching.handle_webhook(at, &event("msg_1", "gen_a", "completed")));
    assert!(fetching.awaits_webhook_fetch());
    assert_eq!(fetching.poll_outcome(), None);
    // With UseEvent it ends the wait, no request.
    let policy = policy.with_terminal_webhook(TerminalWebhook::UseEvent);
    let mut poller = Poller::<Partial>::new(reference("gen_a"), policy.clone(), start, &mut rng);
    assert!(poller.handle_webhook(at, &event("msg_1", "gen_a", "completed")));
    assert!(!poller.awaits_webhook_fetch());
    let outcome = poller.poll_outcome().expect("ended by the event");
    assert_eq!(
        outcome.kind,
        OutcomeKind::Completed(Partial(Status::Completed))
    );
    assert_eq!(outcome.polls, 0);
    // The event's arrival says when it finished.
    let forty = Duration::from_secs(40);
    assert_eq!(outcome.finished_between, Some((forty, forty)));
    // A snapshot that cannot be built from an event at all is still fetched.
    let mut full = Poller::<Full>::new(reference("gen_a"), policy, start, &mut rng);
    assert!(full.handle_webhook(at, &event("msg_1", "gen_a", "completed")));
    assert!(full.awaits_webhook_fetch());
}

#[test]
fn client_wait_with_use_event_returns_the_event_without_a_request() {
    let policy = WaitPolicy::default()
        .with_webhooks(true)
        .with_terminal_webhook(TerminalWebhook::UseEvent);
    let (client, server, clock) = setup(policy);
    let c = client.clone();
    let s = server.clone();
    let (result, ended) = run(&client, &clock, move |t| {
        if t == Duration::from_secs(50) {
            s.set("completed");
            assert!(c.handle_webhook(&event("msg_1", "gen_0001", "completed")));
        }
    });
    let video = result.unwrap();
    assert_eq!(video.status(), &Status::Completed);
    assert!(video.is_from_webhook());
    assert_eq!(
        video.video_url(),
        Some("https://cdn.example/gen_0001.mp4?sig=x"),
        "the event's URL"
    );
    assert_eq!(video.reference().to_string(), "responses:gen_0001");
    let pipevideo_core::model::GenerationBody::Responses(body) = video.body() else {
        panic!("a responses body");
    };
    assert!(
        body.usage.is_none() && body.model.is_none(),
        "only a fetch has them"
    );
    assert_eq!(ended, Duration::from_secs(50));
    assert!(
        server.gets().is_empty(),
        "no request after the create: {:?}",
        server.gets()
    );
}

#[test]
fn client_wait_with_use_event_ends_a_failed_generation_with_the_typed_failure() {
    let policy = WaitPolicy::default()
        .with_webhooks(true)
        .with_terminal_webhook(TerminalWebhook::UseEvent);
    let (client, server, clock) = setup(policy);
    let c = client.clone();
    let (result, ended) = run(&client, &clock, move |t| {
        if t == Duration::from_secs(20) {
            assert!(c.handle_webhook(&event("msg_1", "gen_0001", "failed")));
        }
    });
    let Err(Error::Wait(wait)) = result else {
        panic!("expected a wait error, got {result:?}");
    };
    let WaitErrorKind::Failed(generation) = wait.kind() else {
        panic!("expected Failed, got {:?}", wait.kind());
    };
    assert!(generation.is_from_webhook());
    assert_eq!(
        wait.failure().map(|f| f.message.as_str()),
        Some("Insufficient credits")
    );
    assert_eq!(
        wait.failure().map(|f| f.cause),
        Some(pipevideo_core::model::FailureCause::InsufficientCredits)
    );
    assert_eq!(ended, Duration::from_secs(20));
    assert!(server.gets().is_empty());
}
