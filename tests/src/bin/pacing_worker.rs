//! One client process of the multi-process pacing proof (`tests/shared_pacing.rs`): generates
//! videos on one key against an emulator, with or without shared pacing through Redis, on the
//! reqwest transport (tokio) or the surf transport (async-std), then prints one line of JSON.
//!
//! ```text
//! pacing_worker <reqwest|surf> <base_url> <key> <time_scale> <videos> <limit> [redis_url]
//! ```

use std::process::ExitCode;
use std::time::Duration;

use futures_util::future::join_all;
use pipevideo_core::client::Client;
use pipevideo_core::model::CreateResponse;
use pipevideo_core::policy::{PacingPolicy, TimeScale};
use pipevideo_core::transport::Transport;
use pipevideo_core::{ApiKey, BaseUrl};
use pipevideo_redis::RedisStore;

struct Args {
    transport: String,
    base_url: String,
    key: String,
    scale: f64,
    videos: usize,
    limit: u32,
    redis: Option<String>,
}

fn args() -> Result<Args, String> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    if a.len() < 6 {
        return Err(
            "usage: pacing_worker <reqwest|surf> <base_url> <key> <time_scale> <videos> <limit> [redis_url]"
                .into(),
        );
    }
    Ok(Args {
        transport: a[0].clone(),
        base_url: a[1].clone(),
        key: a[2].clone(),
        scale: a[3].parse().map_err(|e| format!("time scale: {e}"))?,
        videos: a[4].parse().map_err(|e| format!("videos: {e}"))?,
        limit: a[5].parse().map_err(|e| format!("limit: {e}"))?,
        redis: a.get(6).cloned(),
    })
}

async fn run<T: Transport + 'static>(transport: T, args: &Args) -> Result<String, String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    let scale = TimeScale::new(args.scale).map_err(|e| text(&e))?;
    // The limit per window of the key, for this process alone or for all of them together.
    let pacing = PacingPolicy::new(args.limit, scale.real(Duration::from_secs(60))).with_burst(10);
    let mut builder = Client::builder(transport)
        .api_key(ApiKey::new(args.key.as_str()).map_err(|e| text(&e))?)
        .base_url(BaseUrl::parse(&args.base_url).map_err(|e| text(&e))?)
        .time_scale(scale)
        // 200 generations in flight on a 100-per-minute key: a create may wait its turn for
        // minutes of emulated time, so the call's deadline is long (each attempt still waits
        // at most its attempt timeout for a slot, then retries).
        .retry_policy(
            scale
                .retry_policy()
                .with_attempt_limit(1000)
                .with_deadline(Duration::from_secs(120)),
        )
        .pacing(pacing);
    if let Some(url) = &args.redis {
        let store = RedisStore::open(url).map_err(|e| text(&e))?;
        builder = builder.shared_pacing(store);
    }
    let client = builder.build().map_err(|e| text(&e))?;
    let request = CreateResponse::new("moonshotai/kimi-k2.5", "A cat on a beach");
    let results = join_all((0..args.videos).map(|_| client.generate(&request))).await;
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| r.as_ref().err().map(|e| e.to_string()))
        .collect();
    let stats = client.shared_pacing_stats();
    Ok(serde_json::json!({
        "transport": args.transport,
        "completed": results.len() - failed.len(),
        "failed": failed,
        "shared": stats.map(|s| serde_json::json!({
            "granted": s.granted,
            "busy": s.busy,
            "store_errors": s.store_errors,
            "local_fallbacks": s.local_fallbacks,
        })),
    })
    .to_string())
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let result = match args.transport.as_str() {
        // One thread: eight of these share two cores with the emulator and Redis.
        "reqwest" => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(async {
                match pipevideo_reqwest::ReqwestTransport::new() {
                    Ok(transport) => run(transport, &args).await,
                    Err(e) => Err(e.to_string()),
                }
            }),
        "surf" => async_std::task::block_on(run(pipevideo_surf::SurfTransport::new(), &args)),
        other => {
            eprintln!("unknown transport {other}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("worker failed: {e}");
            ExitCode::FAILURE
        }
    }
}
