//! Webhooks at scale, as a user gets them: the emulator delivers Svix-signed events to a loopback
//! receiver that verifies each one and hands it to the client (`Client::handle_webhook`), while
//! many waits run at once over reqwest. With `TerminalWebhook::UseEvent` every wait returns the
//! generation its event describes and the API sees no retrieve at all; with the default `Fetch`
//! it sees exactly one per generation.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use pipevideo_core::client::Client;
use pipevideo_core::model::{CreateResponse, Generation};
use pipevideo_core::policy::{TerminalWebhook, TimeScale};
use pipevideo_core::webhook::{Verifier, WebhookSecret};
use pipevideo_core::{ApiKey, BaseUrl, Status};
use pipevideo_emulator::{BackgroundEmulator, Emulator, WebhookConfig};
use pipevideo_reqwest::ReqwestTransport;
use pipevideo_tests::server::{Reply, Server, response};

/// One emulated minute lasts 0.6 s.
const TIME_SCALE: f64 = 0.01;
const SECRET: &str = "whsec_d2ViaG9va3MgYXQgc2NhbGUsIGVuZCB0byBlbmQ=";
const GENERATIONS: usize = 30;

type Slot = Arc<OnceLock<Client<ReqwestTransport>>>;

/// A webhook endpoint that verifies each delivery with the shared secret and feeds it to the
/// client in `slot`; 400 for anything that does not verify.
fn receiver(slot: Slot) -> Server {
    let verifier = Verifier::new(WebhookSecret::new(SECRET).expect("a valid secret"));
    Server::start(move |request| {
        let mut headers = http::HeaderMap::new();
        for (name, value) in &request.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_bytes(value),
            ) {
                headers.append(name, value);
            }
        }
        let status = match verifier.verify(&headers, &request.body, std::time::SystemTime::now()) {
            Ok(event) => {
                if let Some(client) = slot.get() {
                    client.handle_webhook(&event);
                }
                200
            }
            Err(_) => 400,
        };
        Reply::Close(response(status, "OK", &[], b""))
    })
}

fn emulator(hook: &Server) -> BackgroundEmulator {
    Emulator::builder()
        .time_scale(TIME_SCALE)
        .seed(20)
        .failure_rate(0.0)
        .webhooks(WebhookConfig::new(SECRET).endpoint(hook.url("/hook")))
        .start_in_background()
        .expect("the emulator starts")
}

fn client(emu: &Emulator, terminal: TerminalWebhook) -> Client<ReqwestTransport> {
    let scale = TimeScale::new(TIME_SCALE).expect("a valid scale");
    Client::builder(ReqwestTransport::new().expect("a reqwest client"))
        .base_url(BaseUrl::parse(&emu.base_url()).expect("the emulator's URL"))
        .api_key(ApiKey::new(emu.demo_key()).expect("a valid key"))
        .time_scale(scale)
        // The safety net polls once a minute of real time: with events after about 0.55 s it
        // never fires, so every request after the creates is a fetch the webhooks asked for.
        .wait_policy(
            scale
                .wait_policy()
                .with_webhooks(true)
                .with_terminal_webhook(terminal),
        )
        .seed(3)
        .build()
        .expect("a client")
}

/// Creates `GENERATIONS` generations and waits on all of them at once; returns the results
/// and how many retrieves the emulator answered after the creates.
fn run(terminal: TerminalWebhook) -> (Vec<Generation>, usize) {
    let slot: Slot = Arc::new(OnceLock::new());
    let hook = receiver(Arc::clone(&slot));
    let emu = emulator(&hook);
    let client = client(&emu, terminal);
    let _ = slot.set(client.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let generations = runtime.block_on(async {
        let waits = (0..GENERATIONS).map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let request = CreateResponse::new("moonshotai/kimi-k2.5", format!("Scene {i}"));
                let handle = client.create(&request).await.expect("the create succeeds");
                tokio::time::timeout(Duration::from_secs(30), handle.wait())
                    .await
                    .expect("the wait ends within 30 s")
                    .expect("the generation completes")
            })
        });
        let mut out = Vec::new();
        for wait in waits.collect::<Vec<_>>() {
            out.push(wait.await.expect("the wait task"));
        }
        out
    });
    let retrieves = emu
        .requests()
        .into_iter()
        .filter(|e| e.method == "GET" && e.path.starts_with("/v1/responses/"))
        .count();
    assert!(
        hook.requests().len() >= GENERATIONS,
        "every generation's event was delivered: {}",
        hook.requests().len()
    );
    (generations, retrieves)
}

#[test]
fn with_use_event_every_wait_returns_its_event_and_the_api_sees_no_retrieve() {
    let (generations, retrieves) = run(TerminalWebhook::UseEvent);
    assert_eq!(generations.len(), GENERATIONS);
    for g in &generations {
        assert_eq!(g.status(), &Status::Completed);
        assert!(g.is_from_webhook(), "{g:?}");
        let url = g.video_url().expect("the event carries the video URL");
        assert!(url.contains("/files/"), "the emulator's video URL: {url}");
    }
    assert_eq!(
        retrieves, 0,
        "no GET of a generation: the events were enough"
    );
}

#[test]
fn with_fetch_each_wait_retrieves_its_generation_exactly_once() {
    let (generations, retrieves) = run(TerminalWebhook::Fetch);
    assert_eq!(generations.len(), GENERATIONS);
    for g in &generations {
        assert_eq!(g.status(), &Status::Completed);
        assert!(!g.is_from_webhook(), "the fetched generation: {g:?}");
        assert!(g.video_url().is_some());
    }
    assert_eq!(retrieves, GENERATIONS, "one fetch per finished generation");
}
