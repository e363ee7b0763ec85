//! The SDK's per-call overhead over its raw transport.
//!
//! The same sequential GETs of one retrieve response from a loopback server, through
//! `Client<T>::retrieve` (A) and through the bare HTTP library (B: send, read the body, decode it
//! with `serde_json`), for reqwest on tokio and for surf on async-std. The arms run interleaved in
//! batches (A, B, A, B, ...) so that drift of the machine hits both alike; the result is the
//! ratio of the median batch time of A to that of B. Pacing is off (`PacingPolicy::unlimited`):
//! this measures the SDK's own work (encoding, the retry engine's bookkeeping, typed decoding,
//! tracing spans), not a deliberate wait. Goal: ≤ 1.03.
//!
//! ```sh
//! cargo bench -p pipevideo-tests --bench overhead
//! ```
//!
//! `OVERHEAD_REQUESTS` (default 10000) sets the requests per arm and transport;
//! `OVERHEAD_ONLY=reqwest|surf` runs one transport.
//!
//! Wall time on a shared 2-core VM drifts by ±10 % between runs, so the bench also prints a
//! CPU-only figure (the whole `Client::retrieve` over an in-memory transport, against a send
//! plus `serde_json::Value` decode), and `OVERHEAD_ARM=sdk|bare|transport` runs one arm alone,
//! untimed, for an instruction count that does not drift. Hardware counters are often
//! unavailable in VMs; valgrind works anywhere (the difference of two runs cancels the setup):
//!
//! ```sh
//! B=$(cargo bench -p pipevideo-tests --bench overhead --no-run 2>&1 | sed -n 's/.*Executable.*(\(.*\))$/\1/p')
//! for n in 500 2500; do
//!   OVERHEAD_ONLY=reqwest OVERHEAD_ARM=sdk OVERHEAD_REQUESTS=$n \
//!     valgrind --tool=cachegrind --cache-sim=no --cachegrind-out-file=/dev/null $B 2>&1 | grep 'I *refs'
//! done   # (second - first) / 2000 = instructions per request, server thread included
//! ```

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Connections the server accepted: both arms should keep theirs alive.
static CONNECTIONS: AtomicUsize = AtomicUsize::new(0);
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use pipevideo_core::client::Client;
use pipevideo_core::codec::RequestEncoder;
use pipevideo_core::policy::PacingPolicy;
use pipevideo_core::transport::testing::{FnTransport, VirtualClock};
use pipevideo_core::transport::{HttpClient, SendOptions, Transport};
use pipevideo_core::{ApiKey, BaseUrl, GenerationRef};
use pipevideo_reqwest::ReqwestTransport;
use pipevideo_surf::SurfTransport;

const KEY: &str = "pv_bench_0123456789abcdef";
const ID: &str = "gen_benchbenchbenchbench01";
const BATCH: usize = 250;

fn body() -> Vec<u8> {
    format!(
        r#"{{"id":"{ID}","object":"response","status":"completed","model":"moonshotai/kimi-k2.5","engine":"hyperframes","provider":"pipevideo","created_at":1764000000,"completed_at":1764000055,"output":[{{"type":"message","id":"{ID}_msg","role":"assistant","content":[{{"type":"output_text","text":"Your video is ready."}},{{"type":"output_video","video_url":"https://cdn.pipevideo.co/files/{ID}.mp4?expires=1764003655&signature=abcdef0123456789","mime_type":"video/mp4","expires_at":1764003655}}]}}],"video_url":"https://cdn.pipevideo.co/files/{ID}.mp4?expires=1764003655&signature=abcdef0123456789","usage":{{"input_tokens":12,"output_tokens":0,"total_tokens":12,"cost_usd":0.12}}}}"#
    )
    .into_bytes()
}

/// A minimal keep-alive HTTP/1.1 server answering every request with the same JSON body.
fn serve() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let body = body();
    let mut reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    reply.extend_from_slice(&body);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            CONNECTIONS.fetch_add(1, Ordering::Relaxed);
            let reply = reply.clone();
            std::thread::spawn(move || connection(stream, &reply));
        }
    });
    format!("http://{addr}")
}

fn connection(stream: TcpStream, reply: &[u8]) {
    let _ = stream.set_nodelay(true);
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        // Read the head up to the blank line; GETs carry no body.
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        if writer.write_all(reply).is_err() {
            return;
        }
    }
}

fn client<T: Transport>(transport: T, origin: &str) -> Client<T> {
    Client::builder(transport)
        .base_url(BaseUrl::parse(&format!("{origin}/v1")).expect("url"))
        .api_key(ApiKey::new(KEY).expect("key"))
        .pacing(PacingPolicy::unlimited())
        .seed(1)
        .build()
        .expect("client")
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

struct Result {
    sdk: Vec<Duration>,
    bare: Vec<Duration>,
    transport: Vec<Duration>,
}

impl Result {
    fn report(&self, name: &str, per_arm: usize) {
        let (a, b) = (median(self.sdk.clone()), median(self.bare.clone()));
        let c = median(self.transport.clone());
        let per = |d: Duration| d.as_secs_f64() * 1e6 / BATCH as f64;
        println!(
            "{name}: {per_arm} requests per arm, batches of {BATCH}; per request median: SDK {:.1} µs, bare {:.1} µs; ratio {:.3}",
            per(a),
            per(b),
            a.as_secs_f64() / b.as_secs_f64()
        );
        println!(
            "  diagnosis: Transport::send alone {:.1} µs per request, ratio {:.3} to bare",
            per(c),
            c.as_secs_f64() / b.as_secs_f64()
        );
    }
}

async fn run<FA, FB, FC>(
    per_arm: usize,
    mut sdk: impl FnMut() -> FA,
    mut bare: impl FnMut() -> FB,
    mut transport: impl FnMut() -> FC,
) -> Result
where
    FA: std::future::Future<Output = ()>,
    FB: std::future::Future<Output = ()>,
    FC: std::future::Future<Output = ()>,
{
    // One arm alone, for counting its work with an outside tool, e.g.
    // `OVERHEAD_ARM=sdk perf stat -e instructions:u target/release/deps/overhead-*`.
    if let Ok(arm) = std::env::var("OVERHEAD_ARM") {
        for _ in 0..per_arm {
            match arm.as_str() {
                "sdk" => sdk().await,
                "bare" => bare().await,
                "transport" => transport().await,
                other => panic!("OVERHEAD_ARM must be sdk, bare or transport, not {other}"),
            }
        }
        return Result {
            sdk: vec![Duration::ZERO],
            bare: vec![Duration::ZERO],
            transport: vec![Duration::ZERO],
        };
    }
    // Warm up all arms: connections, allocator, caches.
    for _ in 0..BATCH {
        sdk().await;
        bare().await;
        transport().await;
    }
    let mut result = Result {
        sdk: Vec::new(),
        bare: Vec::new(),
        transport: Vec::new(),
    };
    for _ in 0..per_arm / BATCH {
        let start = Instant::now();
        for _ in 0..BATCH {
            sdk().await;
        }
        result.sdk.push(start.elapsed());
        let start = Instant::now();
        for _ in 0..BATCH {
            bare().await;
        }
        result.bare.push(start.elapsed());
        let start = Instant::now();
        for _ in 0..BATCH {
            transport().await;
        }
        result.transport.push(start.elapsed());
    }
    result
}

/// The third arm, for finding where overhead lives: the SDK's `Transport::send` alone (the
/// same request the client sends, no retry engine, no typed decoding), then `serde_json`.
async fn via_transport<T: Transport>(transport: &T, request: &http::Request<Vec<u8>>) {
    let mut copy = http::Request::new(request.body().clone());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.headers_mut() = request.headers().clone();
    let response = transport
        .send(
            copy,
            SendOptions::new().with_timeout(Duration::from_secs(30)),
        )
        .await
        .expect("send");
    assert!(response.status().is_success());
    let value: serde_json::Value = serde_json::from_slice(response.body()).expect("json");
    assert!(value["video_url"].is_string());
}

/// CPU cost of the client's own steps, per call, without any I/O: building the request and
/// decoding the body into the typed `Generation`, against decoding into a `serde_json::Value`.
fn diagnose_cpu(origin: &str, reference: &GenerationRef) {
    const N: u32 = 20_000;
    let encoder = RequestEncoder::new(
        BaseUrl::parse(&format!("{origin}/v1")).expect("url"),
        ApiKey::new(KEY).expect("key"),
    )
    .expect("encoder");
    let response = http::Response::new(body());
    let time = |f: &mut dyn FnMut()| {
        let start = Instant::now();
        for _ in 0..N {
            f();
        }
        start.elapsed().as_secs_f64() * 1e6 / f64::from(N)
    };
    let encode = time(&mut || {
        std::hint::black_box(encoder.clone().retrieve(reference).expect("request"));
    });
    let typed = time(&mut || {
        std::hint::black_box(
            pipevideo_core::codec::decode_generation(reference.flavor(), &response)
                .expect("decode"),
        );
    });
    let value = time(&mut || {
        std::hint::black_box(
            serde_json::from_slice::<serde_json::Value>(response.body()).expect("json"),
        );
    });
    println!(
        "cpu per call: encoder clone + retrieve request {encode:.2} µs; typed decode {typed:.2} µs; serde_json::Value decode {value:.2} µs"
    );

    // The whole call path without I/O: `Client::retrieve` over a transport that answers at
    // once with a copy of the canned response, against the same copy decoded into a `Value`.
    let clock = VirtualClock::new(Instant::now());
    let canned = response;
    let instant = FnTransport::new(clock, move |_request| {
        let mut copy = http::Response::new(canned.body().clone());
        *copy.headers_mut() = canned.headers().clone();
        std::future::ready(Ok(copy))
    });
    let sdk = client(instant, origin);
    let transport = sdk.transport();
    let request = encoder.retrieve(reference).expect("request");
    let call = time(&mut || {
        let generation = sdk.retrieve(reference).now_or_never().expect("instant");
        std::hint::black_box(generation.expect("retrieve"));
    });
    let floor = time(&mut || {
        let mut copy = http::Request::new(Vec::new());
        *copy.uri_mut() = request.uri().clone();
        *copy.headers_mut() = request.headers().clone();
        let response = transport
            .send(copy, SendOptions::new())
            .now_or_never()
            .expect("instant")
            .expect("send");
        std::hint::black_box(
            serde_json::from_slice::<serde_json::Value>(response.body()).expect("json"),
        );
    });
    println!(
        "cpu per call, no I/O: Client::retrieve {call:.2} µs; send + serde_json::Value {floor:.2} µs; SDK adds {:.2} µs",
        call - floor
    );
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (e.g. a filter) is ignored.
    let per_arm: usize = std::env::var("OVERHEAD_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let origin = serve();
    let url = format!("{origin}/v1/responses/{ID}");
    let reference: GenerationRef = format!("responses:{ID}").parse().expect("reference");
    let expected = body();
    let request = RequestEncoder::new(
        BaseUrl::parse(&format!("{origin}/v1")).expect("url"),
        ApiKey::new(KEY).expect("key"),
    )
    .expect("encoder")
    .retrieve(&reference)
    .expect("request");

    let only = std::env::var("OVERHEAD_ONLY").ok();
    let wanted = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if std::env::var_os("OVERHEAD_ARM").is_none() {
        diagnose_cpu(&origin, &reference);
    }

    // reqwest on tokio (current thread, as in most request handlers' own task).
    if wanted("reqwest") {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let reqwest_result = rt.block_on(async {
            let transport = ReqwestTransport::new().expect("reqwest");
            let raw = transport.client().clone();
            let adapter = transport.clone();
            let sdk = client(transport, &origin);
            let (reference, url, expected) = (&reference, &url, &expected);
            run(
                per_arm,
                || {
                    let sdk = &sdk;
                    async move {
                        let generation = sdk.retrieve(reference).await.expect("retrieve");
                        assert!(generation.video_url().is_some());
                    }
                },
                || {
                    let raw = &raw;
                    async move {
                        let response = raw
                            .get(url.as_str())
                            .header("authorization", format!("Bearer {KEY}"))
                            .header("accept", "application/json")
                            .header("user-agent", "pipevideo-rs/0.1.0")
                            .send()
                            .await
                            .expect("send");
                        assert!(response.status().is_success());
                        let bytes = response.bytes().await.expect("body");
                        assert_eq!(bytes.len(), expected.len());
                        let value: serde_json::Value =
                            serde_json::from_slice(&bytes).expect("json");
                        assert!(value["video_url"].is_string());
                    }
                },
                || via_transport(&adapter, &request),
            )
            .await
        });
        reqwest_result.report("reqwest (tokio)", per_arm);
        println!(
            "  connections so far: {}",
            CONNECTIONS.load(Ordering::Relaxed)
        );
    }

    // surf on async-std.
    if wanted("surf") {
        let surf_result = async_std::task::block_on(async {
            let transport = SurfTransport::new();
            let raw = transport.client().clone();
            let adapter = transport.clone();
            let sdk = client(transport, &origin);
            let (reference, url, expected) = (&reference, &url, &expected);
            run(
                per_arm,
                || {
                    let sdk = &sdk;
                    async move {
                        let generation = sdk.retrieve(reference).await.expect("retrieve");
                        assert!(generation.video_url().is_some());
                    }
                },
                || {
                    let raw = &raw;
                    async move {
                        let mut response = raw
                            .get(url.as_str())
                            .header("authorization", format!("Bearer {KEY}"))
                            .header("accept", "application/json")
                            .header("user-agent", "pipevideo-rs/0.1.0")
                            .await
                            .expect("send");
                        assert!(response.status().is_success());
                        let bytes = response.body_bytes().await.expect("body");
                        assert_eq!(bytes.len(), expected.len());
                        let value: serde_json::Value =
                            serde_json::from_slice(&bytes).expect("json");
                        assert!(value["video_url"].is_string());
                    }
                },
                || via_transport(&adapter, &request),
            )
            .await
        });
        surf_result.report("surf (async-std)", per_arm);
        println!(
            "  connections so far: {}",
            CONNECTIONS.load(Ordering::Relaxed)
        );
    }
}
