//! `pipevideo webhook verify` and `pipevideo webhook listen`: check Svix-signed deliveries with
//! the core's [`Verifier`], by hand or on a local HTTP endpoint.
//!
//! Neither command needs an API key or sends a request to the API. The endpoint secret comes
//! from `--secret` or `PIPEVIDEO_WEBHOOK_SECRET` and is never printed, not even in argument
//! errors.

use std::convert::Infallible;
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use pipevideo::CancelToken;
use pipevideo::webhook::{DeliveryDeduper, Verifier, VerifyError, WebhookEvent, WebhookHeaders};
use serde_json::json;
use tokio::sync::mpsc;

use crate::cli::{ListenArgs, VerifyArgs};
use crate::exit::{self, Failure};
use crate::ui::Ui;

/// The largest delivery body `listen` reads (a Pipevideo event is a few hundred bytes).
const BODY_LIMIT: usize = 1024 * 1024;
/// How many delivery ids `listen` remembers to recognise Svix's retries.
const DEDUPE_CAPACITY: usize = 10_000;
/// How long `listen` waits, once done, for the answers still being written.
const DRAIN: Duration = Duration::from_secs(5);

fn verifier(secret: pipevideo::webhook::WebhookSecret, tolerance: Duration) -> Verifier {
    Verifier::new(secret).with_tolerance(tolerance)
}

fn rejected(reason: &VerifyError) -> Failure {
    let hint = match reason {
        VerifyError::NoMatchingSignature => {
            "Check --secret (the endpoint's whsec_… secret) and pass the body exactly as received, \
             byte for byte (no trailing newline added by an editor)."
        }
        VerifyError::TooOld { .. } | VerifyError::TooNew { .. } => {
            "The signature is valid but the timestamp is outside the tolerance: check this \
             machine's clock, or widen it with --tolerance."
        }
        VerifyError::MissingHeader(_) | VerifyError::UnreadableHeader(_) => {
            "Pass the svix-id, svix-timestamp and svix-signature header values with --id, \
             --timestamp and --signature."
        }
        _ => "The delivery was not accepted; nothing about it can be trusted.",
    };
    Failure::new(
        exit::WEBHOOK_REJECTED,
        "webhook_rejected",
        format!("The webhook was rejected: {reason}."),
    )
    .hint(hint)
}

/// `webhook verify`: the body from stdin, the headers from flags. Prints the event as JSON on
/// stdout (wrapped in `{"ok": true, "event": …}` with `--json`); a rejection exits with
/// [`exit::WEBHOOK_REJECTED`] and says which check failed.
pub(crate) fn verify(args: VerifyArgs, ui: &Ui, json_mode: bool) -> Result<i32, Failure> {
    let mut body = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut body)
        .map_err(|e| {
            Failure::new(
                exit::USAGE,
                "usage",
                format!("Could not read the body from stdin: {e}."),
            )
        })?;
    let headers = WebhookHeaders::new(&args.id, &args.timestamp, &args.signature);
    let event = verifier(args.secret.secret, args.tolerance)
        .verify_headers(headers, &body, SystemTime::now())
        .map_err(|e| rejected(&e))?;
    if json_mode {
        ui.json(&json!({ "ok": true, "event": event }));
    } else {
        let text = serde_json::to_string_pretty(&event).unwrap_or_default();
        ui.result(&text);
    }
    Ok(exit::OK)
}

/// What the connection handlers share.
struct Endpoint {
    verifier: Verifier,
    seen: Mutex<DeliveryDeduper>,
    /// Verified, first-time deliveries so far.
    delivered: AtomicU64,
    json: bool,
    done: mpsc::UnboundedSender<()>,
    count: Option<u64>,
    /// How long a delivery's body may take to arrive (`--header-timeout` again).
    body_timeout: Duration,
}

/// `webhook listen`: serves `POST <any path>` on `--bind:--port` until `--count` verified
/// deliveries or Ctrl-C (which ends it with exit code 0: stopping is how it is used). A
/// connection must send its headers within `--header-timeout`, and at most
/// `--max-connections` are served at once (slowloris).
pub(crate) async fn listen(
    args: ListenArgs,
    json_mode: bool,
    cancel: CancelToken,
) -> Result<i32, Failure> {
    let addr = SocketAddr::new(args.bind, args.port);
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Failure::new(
            exit::USAGE,
            "usage",
            format!("Could not listen on {addr}: {e}."),
        )
        .hint("Pick another --port (0 lets the system choose), or check --bind.")
    })?;
    let local = listener.local_addr().map_err(|e| {
        Failure::new(
            exit::USAGE,
            "usage",
            format!("Could not listen on {addr}: {e}."),
        )
    })?;
    // On stderr in every mode: it is what a person (or a test) needs to point Svix here.
    eprintln!(
        "Listening for webhook deliveries on http://{local}/ (POST, any path){}",
        match args.count {
            Some(n) => format!("; stopping after {n}"),
            None => "; Ctrl-C stops".into(),
        }
    );
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    let endpoint = Arc::new(Endpoint {
        verifier: verifier(args.secret.secret, args.tolerance),
        seen: Mutex::new(DeliveryDeduper::with_capacity(DEDUPE_CAPACITY)),
        delivered: AtomicU64::new(0),
        json: json_mode,
        done: done_tx,
        count: args.count,
        body_timeout: args.header_timeout,
    });
    if args.count == Some(0) {
        return Ok(exit::OK);
    }
    let mut connections = tokio::task::JoinSet::new();
    // One permit per connection served: at the cap, further connections wait in the backlog
    // until the header timeout has closed the slow and idle ones (slowloris).
    let permits = Arc::new(tokio::sync::Semaphore::new(args.max_connections as usize));
    let header_timeout = args.header_timeout;
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            Some(()) = done_rx.recv() => break,
            () = cancel.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let endpoint = Arc::clone(&endpoint);
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let endpoint = Arc::clone(&endpoint);
                        async move { Ok::<_, Infallible>(handle(&endpoint, request).await) }
                    });
                    // One request per connection, so that every answer is complete when its
                    // connection task ends.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(false)
                        .timer(TokioTimer::new())
                        .header_read_timeout(header_timeout)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    drop(permit);
                });
            }
            Some(()) = done_rx.recv() => break,
            () = cancel.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    // Let the answers in flight (the last delivery's 200 above all) reach the sender.
    let _ = tokio::time::timeout(DRAIN, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    Ok(exit::OK)
}

fn answer(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!("{text}\n"))));
    *response.status_mut() = status;
    response
}

async fn handle(endpoint: &Endpoint, request: Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != hyper::Method::POST {
        return answer(
            StatusCode::METHOD_NOT_ALLOWED,
            "POST webhook deliveries here",
        );
    }
    let (parts, body) = request.into_parts();
    let collect = Limited::new(body, BODY_LIMIT).collect();
    let body = match tokio::time::timeout(endpoint.body_timeout, collect).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Err(_) => {
            eprintln!("rejected a delivery: its body did not arrive within --header-timeout");
            return answer(StatusCode::REQUEST_TIMEOUT, "body too slow");
        }
        Ok(Err(_)) => {
            eprintln!("rejected a delivery: the body is larger than 1 MiB or was cut off");
            return answer(StatusCode::PAYLOAD_TOO_LARGE, "body too large or cut off");
        }
    };
    let now = SystemTime::now();
    let event = match endpoint.verifier.verify(&parts.headers, &body, now) {
        Ok(event) => event,
        Err(reason) => {
            let id = parts
                .headers
                .get("svix-id")
                .or_else(|| parts.headers.get("webhook-id"))
                .and_then(|v| v.to_str().ok())
                .unwrap_or("?");
            eprintln!("rejected delivery {id}: {reason}");
            return answer(StatusCode::BAD_REQUEST, "rejected");
        }
    };
    let first = lock(&endpoint.seen).insert(event.delivery_id(), now);
    if !first {
        eprintln!(
            "delivery {} again (a retry): already handled, answered 200",
            event.delivery_id()
        );
        return answer(StatusCode::OK, "duplicate");
    }
    let n = endpoint.delivered.fetch_add(1, Ordering::SeqCst) + 1;
    if endpoint.count.is_some_and(|count| n > count) {
        // Past --count: the listener is closing; let Svix retry it elsewhere or later.
        lock(&endpoint.seen).remove(event.delivery_id());
        return answer(StatusCode::SERVICE_UNAVAILABLE, "closing");
    }
    print_event(&event, endpoint.json);
    if endpoint.count.is_some_and(|count| n >= count) {
        let _ = endpoint.done.send(());
    }
    answer(StatusCode::OK, "ok")
}

/// One line per delivery on stdout: a sentence, or with `--json` one compact JSON object
/// (newline-delimited).
fn print_event(event: &WebhookEvent, json_mode: bool) {
    if json_mode {
        println!("{}", serde_json::to_string(event).unwrap_or_default());
        return;
    }
    let detail = match (event.output_url(), event.error_message()) {
        (Some(url), _) => format!(" {url}"),
        (None, Some(message)) => format!(" ({message})"),
        (None, None) => String::new(),
    };
    println!(
        "{} {} {} {}{detail}",
        event.delivery_id(),
        event.event_type(),
        event.generation_id(),
        event.status()
    );
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
