//! A wait against a server that stalls or answers garbage, in virtual time (issue 19, items 7
//! and 8): a poll in flight never carries a wait past its deadline, a cancel ends a wait with
//! a poll in flight at once, and an over-size or undecodable poll answer is one failed poll.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use futures_executor::block_on;
use http::{Request, Response};
use pipevideo_core::client::{CancelToken, Client, WaitOptions};
use pipevideo_core::transport::testing::VirtualClock;
use pipevideo_core::transport::{
    ChunkSink, Clock, DownloadBody, DownloadOptions, HttpClient, SendOptions, TransportError,
};
use pipevideo_core::{ApiKey, BaseUrl, Error, GenerationRef, Status, WaitErrorKind};

/// What the server does with the next poll.
#[derive(Clone, Debug)]
enum Step {
    /// Takes this long to answer `in_progress` (the attempt times out first if its timeout is
    /// shorter: the clock then moves by the timeout only, as a real transport's timer fires).
    Stall(Duration),
    /// Returns to the executor once (the poll is in flight), then stalls as [`Step::Stall`].
    PendThenStall(Duration),
    /// Answers 200 with this body.
    Body(Vec<u8>),
}

/// One GET: when it was sent and the timeout it carried.
type Sent = (Instant, Option<Duration>);

#[derive(Clone)]
struct Server {
    clock: VirtualClock,
    steps: Arc<Mutex<VecDeque<Step>>>,
    /// Per GET: when it was sent and the timeout it carried.
    sent: Arc<Mutex<Vec<Sent>>>,
    in_flight: Arc<Mutex<bool>>,
}

impl Server {
    fn new(steps: Vec<Step>) -> Self {
        Self {
            clock: VirtualClock::new(Instant::now()),
            steps: Arc::new(Mutex::new(steps.into())),
            sent: Arc::default(),
            in_flight: Arc::default(),
        }
    }

    fn sent(&self) -> Vec<Sent> {
        self.sent.lock().unwrap().clone()
    }
}

/// Ready on the second poll: lets the executor run something else while a request is "on the
/// wire".
struct YieldOnce(bool);

impl Future for YieldOnce {
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

fn json(body: &str) -> Response<Vec<u8>> {
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(body.as_bytes().to_vec())
        .unwrap()
}

fn in_progress() -> Response<Vec<u8>> {
    json(r#"{"id":"gen_1","object":"response","status":"in_progress"}"#)
}

#[async_trait::async_trait]
impl HttpClient for Server {
    async fn send(
        &self,
        _request: Request<Vec<u8>>,
        options: SendOptions,
    ) -> Result<Response<Vec<u8>>, TransportError> {
        self.sent
            .lock()
            .unwrap()
            .push((self.clock.now(), options.timeout()));
        let step = self
            .steps
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Step::Stall(Duration::ZERO));
        let stall = match step {
            Step::Body(body) => {
                if body.len() as u64 > options.body_limit() {
                    return Err(TransportError::body_too_large(options.body_limit()));
                }
                return Ok(json(std::str::from_utf8(&body).unwrap_or("\u{fffd}")));
            }
            Step::Stall(d) => d,
            Step::PendThenStall(d) => {
                *self.in_flight.lock().unwrap() = true;
                YieldOnce(false).await;
                d
            }
        };
        match options.timeout() {
            Some(timeout) if timeout < stall => {
                Clock::sleep(&self.clock, timeout).await;
                Err(TransportError::timeout(timeout))
            }
            _ => {
                Clock::sleep(&self.clock, stall).await;
                Ok(in_progress())
            }
        }
    }

    async fn download(
        &self,
        _request: Request<Vec<u8>>,
        _sink: &mut dyn ChunkSink,
        _options: DownloadOptions,
    ) -> Result<Response<DownloadBody>, TransportError> {
        Err(TransportError::connect("no downloads here"))
    }
}

#[async_trait::async_trait]
impl Clock for Server {
    async fn sleep(&self, duration: Duration) {
        Clock::sleep(&self.clock, duration).await;
    }

    fn now(&self) -> Instant {
        self.clock.now()
    }

    fn wall_now(&self) -> SystemTime {
        self.clock.wall_now()
    }
}

fn client(server: &Server) -> Client<Server> {
    Client::builder(server.clone())
        .api_key(ApiKey::new("pv_secret_0123456789abcdef").unwrap())
        .base_url(BaseUrl::parse("http://127.0.0.1:3001/v1").unwrap())
        .seed(3)
        .build()
        .unwrap()
}

fn reference() -> GenerationRef {
    "responses:gen_1".parse().unwrap()
}

fn wait_kind(err: &Error) -> &WaitErrorKind {
    match err {
        Error::Wait(w) => w.kind(),
        other => panic!("{other:?}"),
    }
}

/// Item 7: every poll's attempt timeout is cut to the time left before the wait's deadline,
/// so a server that never answers cannot carry the wait past it (it used to overrun by up to
/// one attempt timeout, 30 s).
#[test]
fn a_poll_in_flight_never_carries_the_wait_past_its_deadline() {
    let server = Server::new(vec![Step::Stall(Duration::from_secs(600)); 50]);
    let client = client(&server);
    let start = server.clock.now();
    let deadline = Duration::from_secs(40);
    let err = block_on(client.wait_with(&reference(), WaitOptions::new().with_deadline(deadline)))
        .unwrap_err();
    assert!(
        matches!(wait_kind(&err), WaitErrorKind::DeadlineExceeded { .. }),
        "{err}"
    );
    let sent = server.sent();
    assert!(sent.len() >= 2, "{sent:?}");
    for (at, timeout) in &sent {
        let left = (start + deadline).saturating_duration_since(*at);
        assert!(
            timeout.is_some_and(|t| t <= left),
            "a poll sent {:?} before the deadline carried a timeout of {timeout:?}",
            left
        );
    }
    assert!(
        server.clock.now() <= start + deadline,
        "the wait ended {:?} after its start, past its {deadline:?} deadline",
        server.clock.now() - start
    );
}

/// Item 7: a cancel while a poll is in flight ends the wait at once (it used to wait for the
/// poll to end, up to one attempt timeout: a slow Ctrl-C).
#[test]
fn a_cancel_ends_the_wait_while_a_poll_is_in_flight() {
    let server = Server::new(vec![Step::PendThenStall(Duration::from_secs(25))]);
    let client = client(&server);
    let start = server.clock.now();
    let token = CancelToken::new();
    let reference = reference();
    let wait = client.wait_with(&reference, WaitOptions::new().with_cancel(token.clone()));
    let in_flight = server.in_flight.clone();
    let canceller = async {
        // Runs once the wait's first poll is on the wire.
        while !*in_flight.lock().unwrap() {
            YieldOnce(false).await;
        }
        token.cancel();
    };
    let (result, ()) = block_on(futures_util::future::join(wait, canceller));
    let err = result.unwrap_err();
    assert!(matches!(wait_kind(&err), WaitErrorKind::Cancelled), "{err}");
    assert_eq!(
        server.clock.now(),
        start,
        "the cancel waited for the poll in flight"
    );
}

/// Item 8: a 25 MB poll answer (over the 8 MiB body cap) is one failed poll: the wait polls
/// again and completes (it used to end as "not retryable").
#[test]
fn an_over_size_poll_answer_is_one_failed_poll() {
    let huge = vec![b' '; 25 * 1024 * 1024];
    let completed = br#"{"id":"gen_1","object":"response","status":"completed"}"#.to_vec();
    let server = Server::new(vec![Step::Body(huge), Step::Body(completed)]);
    let client = client(&server);
    let generation = block_on(client.wait(&reference())).expect("the next poll completes");
    assert_eq!(generation.status(), &Status::Completed);
    assert_eq!(server.sent().len(), 2);
}

/// Item 8: an undecodable poll answer (garbage, a proxy's page, JSON of the wrong shape) is one
/// failed poll too.
#[test]
fn an_undecodable_poll_answer_is_one_failed_poll() {
    let completed = br#"{"id":"gen_1","object":"response","status":"completed"}"#.to_vec();
    let server = Server::new(vec![
        Step::Body(b"\x00garbage<html>".to_vec()),
        Step::Body(br#"{"id":5}"#.to_vec()),
        Step::Body(completed),
    ]);
    let client = client(&server);
    let generation = block_on(client.wait(&reference())).expect("the third poll completes");
    assert_eq!(generation.status(), &Status::Completed);
    assert_eq!(server.sent().len(), 3);
}
