//! The client driver with a shared pacing store, in virtual time: a scripted store answers
//! (the real one, over Redis, is tested in `pipevideo-redis` against a real `redis-server`).
//! Each test checks one thing the driver must do with [`SharedPacing`]'s decisions: sleep to a
//! booked slot, ask again when busy, publish a 429's hold, put the store's hold on the local
//! pacer, refuse when fail-closed, and not wait past the call's deadline.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_executor::block_on;
use http::Response;
use pipevideo_core::client::Client;
use pipevideo_core::pacing::shared::{
    HoldAsk, OnStoreDown, PacingStore, SharedPacingOptions, SlotAsk, StoreError,
};
use pipevideo_core::policy::PacingPolicy;
use pipevideo_core::transport::testing::{FnTransport, VirtualClock};
use pipevideo_core::transport::{Transport, TransportError};
use pipevideo_core::{ApiKey, ErrorKind};

const KEY: &str = "pv_0123456789abcdef";
const USAGE: &[u8] = br#"{"credit_balance":100}"#;
const MS: fn(u64) -> Duration = Duration::from_millis;

/// A store answering from a script; records what it was asked.
#[derive(Debug, Default)]
struct Scripted {
    replies: Mutex<VecDeque<Result<Vec<i64>, StoreError>>>,
    asks: Mutex<Vec<SlotAsk>>,
    holds: Mutex<Vec<HoldAsk>>,
}

#[async_trait::async_trait]
impl PacingStore for Scripted {
    async fn reserve(&self, ask: &SlotAsk) -> Result<Vec<i64>, StoreError> {
        self.asks.lock().unwrap().push(ask.clone());
        self.replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Ok(vec![1, 0, 0, 0]))
    }
    async fn publish_hold(&self, ask: &HoldAsk) -> Result<(), StoreError> {
        self.holds.lock().unwrap().push(ask.clone());
        Ok(())
    }
}

fn store(replies: Vec<Result<Vec<i64>, StoreError>>) -> Arc<Scripted> {
    let store = Arc::new(Scripted::default());
    store.replies.lock().unwrap().extend(replies);
    store
}

/// A client whose transport answers `answers` in turn (then 200 with a usage body) and records
/// the virtual time of each send.
fn client(
    store: &Arc<Scripted>,
    options: SharedPacingOptions,
    answers: Vec<Response<Vec<u8>>>,
) -> (
    Client<impl Transport + std::fmt::Debug + use<>>,
    VirtualClock,
    Arc<Mutex<Vec<Duration>>>,
) {
    let clock = VirtualClock::new(Instant::now());
    let sent = Arc::new(Mutex::new(Vec::new()));
    let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
    let (c, s) = (clock.clone(), sent.clone());
    let transport = FnTransport::new(clock.clone(), move |_request| {
        s.lock().unwrap().push(c.elapsed());
        let answer = answers.lock().unwrap().pop_front();
        async move { Ok::<_, TransportError>(answer.unwrap_or_else(|| Response::new(USAGE.to_vec()))) }
    });
    let client = Client::builder(transport)
        .api_key(ApiKey::new(KEY).unwrap())
        .pacing(PacingPolicy::new(100, Duration::from_secs(60)))
        .shared_pacing(Arc::clone(store))
        .shared_pacing_options(options)
        .seed(1)
        .build()
        .unwrap();
    (client, clock, sent)
}

#[test]
fn the_driver_sleeps_to_the_booked_slot_and_asks_again_when_busy() {
    // Busy for 500 ms (asked again one 600 ms interval early: at once), then booked 100 ms
    // ahead: the request goes at 100 ms.
    let store = store(vec![Ok(vec![0, 500_000, 0, 0]), Ok(vec![1, 100_000, 0, 0])]);
    let (client, _clock, sent) = client(&store, SharedPacingOptions::default(), vec![]);
    block_on(client.usage()).unwrap();
    assert_eq!(*sent.lock().unwrap(), vec![MS(100)]);
    let asks = store.asks.lock().unwrap();
    assert_eq!(asks.len(), 2);
    assert_eq!(asks[0].limit(), 100);
    assert!(!asks[0].scope().contains("0123456789abcdef"));
    let stats = client.shared_pacing_stats().unwrap();
    assert_eq!((stats.busy, stats.granted), (1, 1));
}

#[test]
fn a_429_publishes_its_hold_for_every_process() {
    let store = store(vec![]);
    let refused = Response::builder()
        .status(429)
        .body(br#"{"message":"Rate limit exceeded.","data":{"retry_after":2}}"#.to_vec())
        .unwrap();
    let (client, _clock, sent) = client(&store, SharedPacingOptions::default(), vec![refused]);
    block_on(client.usage()).unwrap();
    let holds = store.holds.lock().unwrap();
    assert_eq!(holds.len(), 1);
    assert_eq!(holds[0].hold_micros(), 2_000_000);
    assert_eq!(*sent.lock().unwrap(), vec![MS(0), MS(2000)]);
}

#[test]
fn the_stores_hold_holds_this_client_too() {
    // Booked at once, but another process's 429 holds the key for 3 s more: the next call of
    // this client waits for it even before asking the store.
    let store = store(vec![Ok(vec![1, 0, 3_000_000, 0])]);
    let (client, _clock, sent) = client(&store, SharedPacingOptions::default(), vec![]);
    block_on(client.usage()).unwrap();
    block_on(client.usage()).unwrap();
    assert_eq!(*sent.lock().unwrap(), vec![MS(0), MS(3000)]);
}

#[test]
fn fail_closed_sends_nothing_and_fails_with_the_pacing_kind() {
    let store = store(vec![Err(StoreError::new(
        "redis connect: connection refused",
    ))]);
    let options = SharedPacingOptions::default().on_down(OnStoreDown::FailClosed);
    let (client, _clock, sent) = client(&store, options, vec![]);
    let error = block_on(client.usage()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Pacing);
    assert!(error.to_string().contains("connection refused"), "{error}");
    assert!(sent.lock().unwrap().is_empty());
}

#[test]
fn fail_open_sends_on_local_pacing_without_asking_again_for_a_while() {
    let store = store(vec![Err(StoreError::new(
        "redis connect: connection refused",
    ))]);
    let options = SharedPacingOptions::default().retry_store_after(Duration::from_secs(1));
    let (client, clock, sent) = client(&store, options, vec![]);
    block_on(client.usage()).unwrap();
    block_on(client.usage()).unwrap();
    assert_eq!(store.asks.lock().unwrap().len(), 1, "not asked while down");
    clock.advance(Duration::from_secs(1));
    block_on(client.usage()).unwrap();
    assert_eq!(
        store.asks.lock().unwrap().len(),
        2,
        "asked again after the pause"
    );
    assert_eq!(sent.lock().unwrap().len(), 3);
    let stats = client.shared_pacing_stats().unwrap();
    assert_eq!(
        (stats.store_errors, stats.local_fallbacks, stats.granted),
        (1, 2, 1)
    );
}

#[test]
fn a_slot_past_the_calls_deadline_is_not_waited_for() {
    // Busy for 10 minutes on every ask, past the call's 90 s deadline: the call does not sleep
    // for it; it gives up within its deadline without sending anything.
    let busy: Vec<_> = (0..64).map(|_| Ok(vec![0, 600_000_000, 0, 0])).collect();
    let store = store(busy);
    let (client, clock, sent) = client(&store, SharedPacingOptions::default(), vec![]);
    let error = block_on(client.usage()).unwrap_err();
    assert!(sent.lock().unwrap().is_empty());
    assert!(
        error.to_string().contains("no shared pacing slot"),
        "{error}"
    );
    assert!(
        clock.elapsed() <= Duration::from_secs(90),
        "{:?}",
        clock.elapsed()
    );
}
