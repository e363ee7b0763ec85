//! The secret sweep: one run with a recognisable API key and webhook secret, capturing every
//! log line the process writes (tracing at TRACE from the SDK, hyper, reqwest and the emulator;
//! the `log` crate's records at TRACE from surf and its HTTP stack, async-h1 included) and the
//! Debug and Display of every error it can provoke, then asserting that neither secret appears
//! anywhere.
//!
//! ```text
//! cargo test -p pipevideo-tests --test secrets -- --nocapture
//! ```
//!
//! The run covers, over both transports (reqwest on tokio, surf on async-std) with the
//! emulator's random faults on: generate (create + wait), retrieve, usage, models, the video
//! download; errors 401 (the key revoked), 404, a 429 whose wait is beyond the client's cap,
//! a wait deadline, bad inputs (the key itself with a newline, an empty prompt, a bad base
//! URL); webhook verification of a good delivery and of rejected ones (wrong signature, stale
//! timestamp, missing headers), and secrets refused by the parser.
//!
//! The CLI's own output is not covered here: its binary is only reachable from its own
//! package's tests (`CARGO_BIN_EXE_pipevideo`), where the CLI's tests already check that the
//! key never appears in any output.
//!
//! Everything runs in one `#[test]`, because the tracing subscriber and the `log` logger are
//! process-wide.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use pipevideo_core::client::{Client, WaitOptions};
use pipevideo_core::model::CreateResponse;
use pipevideo_core::transport::Transport;
use pipevideo_core::webhook::{Verifier, WebhookSecret, sign};
use pipevideo_core::{ApiKey, BaseUrl, Error, Flavor, GenerationId, GenerationRef};
use pipevideo_emulator::{Emulator, Fault, FaultRule, Organization, RandomFaults, WebhookConfig};
use pipevideo_tests::chaos::SoakClock;

/// The API key: recognisable, registered in the emulator's own organization.
const KEY: &str = "pv_SWEEPKEY0123456789abcdef";
/// The decoded webhook key bytes, as text.
const SECRET_BYTES: &str = "SWEEPWEBHOOKSECRET-0123456789abc";
/// Standard base64 of [`SECRET_BYTES`].
const SECRET_B64: &str = "U1dFRVBXRUJIT09LU0VDUkVULTAxMjM0NTY3ODlhYmM=";
const SCALE: f64 = 0.01;
const MODEL: &str = "moonshotai/kimi-k2.5";

fn secret() -> String {
    format!("whsec_{SECRET_B64}")
}

type Buffer = Arc<Mutex<Vec<u8>>>;

struct BufferWriter(Buffer);

impl Write for BufferWriter {
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

/// Records every `log` record, at every level, `TRACE` included. (async-h1's own client logs
/// each request's `Debug`, headers included, at `TRACE`; pipevideo-surf's pool drives async-h1's
/// encoder and decoder without that record, and this sweep holds it to that.)
struct LogCapture {
    all: Buffer,
}

impl log::Log for LogCapture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {} {}\n", record.level(), record.target(), record.args());
        self.all
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(line.as_bytes());
    }
    fn flush(&self) {}
}

/// Debug and Display of everything the run provokes.
#[derive(Default)]
struct Texts(Vec<String>);

impl Texts {
    fn both(&mut self, what: &str, value: &(impl std::fmt::Debug + std::fmt::Display)) {
        self.0.push(format!("{what}: {value}"));
        self.0.push(format!("{what}: {value:?}"));
        self.0.push(format!("{what}: {value:#?}"));
    }
    fn debug(&mut self, what: &str, value: &impl std::fmt::Debug) {
        self.0.push(format!("{what}: {value:?}"));
        self.0.push(format!("{what}: {value:#?}"));
    }
    fn error(&mut self, what: &str, error: &Error) {
        self.both(what, error);
        let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
        while let Some(e) = source {
            self.0.push(format!("{what} (source): {e} / {e:?}"));
            source = e.source();
        }
    }
}

fn client<T: Transport>(transport: T, base: &str, clock: &SoakClock) -> Client<T> {
    Client::builder(transport)
        .api_key(ApiKey::new(KEY).expect("a valid key"))
        .base_url(BaseUrl::parse(base).expect("a valid base URL"))
        .pacing(clock.pacing)
        .wait_policy(clock.wait.clone())
        .retry_policy(clock.retry)
        .seed(7)
        .build()
        .expect("a client")
}

/// Everything the API side can do with the key, over one transport.
async fn exercise<T: Transport + std::fmt::Debug>(
    name: &str,
    transport: T,
    emu: &Emulator,
    texts: &mut Texts,
) -> Vec<String> {
    let clock = SoakClock::for_scale(SCALE, 100);
    let client = client(transport, &emu.base_url(), &clock);
    texts.debug(&format!("{name} client"), &client);
    let mut references = Vec::new();

    for i in 0..3 {
        let request = CreateResponse::new(MODEL, format!("sweep {name} #{i}"));
        match client.generate(&request).await {
            Ok(generation) => {
                references.push(generation.reference().to_string());
                texts.debug("generation", &generation);
                let mut video = Vec::new();
                match client.download(&generation, &mut video).await {
                    Ok(n) => assert!(n > 0),
                    Err(e) => texts.error("download", &e),
                }
            }
            Err(e) => texts.error("generate", &e),
        }
    }
    match client.usage().await {
        Ok(usage) => texts.debug("usage", &usage),
        Err(e) => texts.error("usage", &e),
    }
    match client.models().await {
        Ok(models) => texts.debug("models", &models),
        Err(e) => texts.error("models", &e),
    }

    // 404.
    let unknown = GenerationRef::new(
        Flavor::Responses,
        GenerationId::new("gen_000000000000000000sweep0").expect("an id"),
    );
    let error = client.retrieve(&unknown).await.expect_err("unknown id");
    texts.error("404", &error);

    // A wait deadline.
    let handle = client
        .create(&CreateResponse::new(MODEL, "sweep deadline"))
        .await;
    match handle {
        Ok(handle) => {
            texts.debug("handle", &handle);
            let options = WaitOptions::new().with_deadline(Duration::from_millis(1));
            if let Err(e) = handle.wait_with(options).await {
                texts.error("deadline", &e);
            }
        }
        Err(e) => texts.error("create", &e),
    }

    // A 429 asking for longer than the client's cap: given up at once.
    emu.push_fault(FaultRule::new(Fault::rate_limited(100_000.0)).times(1));
    let error = client.usage().await.expect_err("a 429 beyond the cap");
    texts.error("429 give-up", &error);

    // Bad inputs, some carrying the key itself.
    let error = client
        .create(&CreateResponse::new(MODEL, ""))
        .await
        .expect_err("an empty prompt");
    texts.error("empty prompt", &error);
    for bad in [format!("{KEY}\n"), format!(" {KEY}"), format!("{KEY} x")] {
        if let Err(e) = ApiKey::new(bad) {
            texts.both("bad key", &e);
        }
    }
    if let Err(e) = BaseUrl::parse("ftp://example.invalid/v1?key=x") {
        texts.both("bad base URL", &e);
    }
    let key = ApiKey::new(KEY).expect("a key");
    texts.debug("key", &key);
    references
}

/// 401 with the key itself: revoked on the emulator.
async fn revoked<T: Transport + std::fmt::Debug>(transport: T, emu: &Emulator, texts: &mut Texts) {
    let clock = SoakClock::for_scale(SCALE, 100);
    let client = client(transport, &emu.base_url(), &clock);
    let error = client.usage().await.expect_err("a revoked key");
    texts.error("401", &error);
    let error = client
        .create(&CreateResponse::new(MODEL, "revoked"))
        .await
        .expect_err("a revoked key");
    texts.error("401 create", &error);
}

fn webhooks(texts: &mut Texts) {
    let whsec = secret();
    let secret = WebhookSecret::new(&whsec).expect("a valid secret");
    texts.debug("webhook secret", &secret);
    let verifier = Verifier::new(secret.clone());
    texts.debug("verifier", &verifier);
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
    let body = br#"{"eventType":"video.generation.completed","generationId":"gen_sweep","status":"completed","outputUrl":"http://127.0.0.1/files/gen_sweep.mp4"}"#;
    let signed = sign(&secret, "msg_sweep", now, body);
    texts.debug("signed", &signed);
    let headers = signed.header_map().expect("headers");
    let event = verifier
        .verify(&headers, body, now)
        .expect("a good delivery");
    texts.debug("event", &event);

    // Rejections: a body changed after signing, a stale timestamp, a wrong secret, no headers.
    let tampered = br#"{"eventType":"video.generation.completed","generationId":"gen_other","status":"completed"}"#;
    let rejected = [
        verifier.verify(&headers, tampered, now),
        verifier.verify(&headers, body, now + Duration::from_secs(3600)),
        Verifier::new(WebhookSecret::from_bytes(b"another key".to_vec()).expect("a key"))
            .verify(&headers, body, now),
        verifier.verify(&http::HeaderMap::new(), body, now),
    ];
    for result in rejected {
        let error = result.expect_err("a rejected delivery");
        texts.both("webhook rejected", &error);
    }
    // Secrets the parser refuses: without the prefix, with whitespace, not base64.
    for bad in [
        SECRET_B64.to_owned(),
        format!("{whsec} "),
        format!("whsec_{SECRET_BYTES}!"),
        format!("WHSEC_{SECRET_B64}"),
    ] {
        let error = WebhookSecret::new(&bad).expect_err("a refused secret");
        texts.both("bad secret", &error);
    }
}

fn text(buffer: &Buffer) -> String {
    String::from_utf8_lossy(&buffer.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
}

#[test]
fn secrets_never_appear_in_logs_errors_or_debug_output() {
    let traces: Buffer = Arc::default();
    let logs: Buffer = Arc::default();
    let writer = Arc::clone(&traces);
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || BufferWriter(Arc::clone(&writer)))
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");
    log::set_boxed_logger(Box::new(LogCapture {
        all: Arc::clone(&logs),
    }))
    .expect("no other logger");
    log::set_max_level(log::LevelFilter::Trace);

    let mut texts = Texts::default();
    let emu = Emulator::builder()
        .time_scale(SCALE)
        .seed(11)
        .organization(Organization::new("org_sweep").key(pipevideo_emulator::ApiKey::active(KEY)))
        .webhooks(
            WebhookConfig::new(secret())
                .endpoint("http://127.0.0.1:9/webhooks")
                .schedule(vec![Duration::ZERO, Duration::from_secs(5)]),
        )
        .random_faults(
            RandomFaults::new(11)
                .fault(Fault::ServerError, 0.15)
                .fault(Fault::rate_limited(2.0), 0.05)
                .fault(Fault::ResetMidBody, 0.03)
                .fault(Fault::TruncatedJson, 0.02)
                .fault(Fault::BadGatewayHtml, 0.02),
        )
        .start_in_background()
        .expect("the emulator starts");
    texts.debug("emulator", &*emu);

    let reqwest = pipevideo_reqwest::ReqwestTransport::new().expect("a reqwest client");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut references = rt.block_on(exercise("reqwest", reqwest, &emu, &mut texts));
    references.extend(async_std::task::block_on(exercise(
        "surf",
        pipevideo_surf::SurfTransport::new(),
        &emu,
        &mut texts,
    )));
    webhooks(&mut texts);

    assert!(emu.revoke_key(KEY));
    emu.clear_faults();
    let reqwest = pipevideo_reqwest::ReqwestTransport::new().expect("a reqwest client");
    rt.block_on(revoked(reqwest, &emu, &mut texts));
    async_std::task::block_on(revoked(
        pipevideo_surf::SurfTransport::new(),
        &emu,
        &mut texts,
    ));
    // Let the emulator's webhook attempts (to a closed port) run and log.
    std::thread::sleep(Duration::from_millis(300));
    texts.debug("requests", &emu.requests());
    emu.shutdown();

    let traces = text(&traces);
    let logs = text(&logs);
    let texts = texts.0.join("\n");
    println!(
        "secret sweep: {} bytes of tracing ({} lines), {} bytes of log records ({} lines), \
         {} bytes of Debug/Display; {} generations",
        traces.len(),
        traces.lines().count(),
        logs.len(),
        logs.lines().count(),
        texts.len(),
        references.len()
    );

    // Not vacuous: the capture holds the run (the SDK's spans, the generations' references,
    // surf's stack logging through `log`, the provoked errors).
    assert!(traces.contains("pipevideo"), "no SDK trace was captured");
    assert!(!references.is_empty(), "no generation completed");
    for reference in &references {
        assert!(
            traces.contains(reference.as_str()),
            "{reference} is not in the traces"
        );
    }
    assert!(!logs.is_empty(), "no `log` record was captured");
    assert!(
        logs.lines().any(|line| line.starts_with("TRACE")),
        "no `log` record at TRACE was captured"
    );
    for needle in ["401", "404", "429", "did not finish within"] {
        assert!(texts.contains(needle), "no {needle} error was provoked");
    }

    let secret = secret();
    for (what, haystack) in [
        ("tracing", &traces),
        ("log", &logs),
        ("Debug/Display", &texts),
    ] {
        for needle in [
            KEY,
            secret.as_str(),
            SECRET_B64,
            SECRET_BYTES,
            "SWEEPKEY",
            "U1dFRVBXRUJIT09L",
        ] {
            let count = haystack.matches(needle).count();
            if count > 0 {
                for line in haystack.lines().filter(|l| l.contains(needle)).take(3) {
                    eprintln!(
                        "LEAK in {what}: {}",
                        line.chars().take(400).collect::<String>()
                    );
                }
            }
            assert_eq!(
                count, 0,
                "{needle:?} appears {count} times in the {what} output"
            );
        }
    }
}
