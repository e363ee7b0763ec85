//! Peak memory of `Client::save` for a large video: a 1 GiB download (size settable) from the
//! emulator, in this process, over reqwest on tokio, with the process's resident memory
//! sampled every 20 ms and its kernel-kept peak (`VmHWM`, reset just before the save).
//!
//! ```sh
//! cargo run --release -p pipevideo-tests --example save_memory          # 1 GiB
//! cargo run --release -p pipevideo-tests --example save_memory -- 256    # 256 MiB
//! ```
//!
//! Linux only (it reads `/proc/self/status`). The emulator generates the video as it serves
//! it, so the figure is the whole process: client, transport, file writes and server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use pipevideo_core::client::{Client, SaveOptions};
use pipevideo_core::model::CreateResponse;
use pipevideo_core::policy::TimeScale;
use pipevideo_core::{ApiKey, BaseUrl};
use pipevideo_emulator::Emulator;
use pipevideo_reqwest::ReqwestTransport;

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let size_mib: u64 = std::env::args()
        .nth(1)
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1024);
    let size = size_mib << 20;
    let emu = Emulator::builder()
        .time_scale(0.01)
        .failure_rate(0.0)
        .video_size(size)
        .start()
        .await?;
    let client = Client::builder(ReqwestTransport::new()?)
        .api_key(ApiKey::new(emu.demo_key())?)
        .base_url(BaseUrl::parse(&emu.base_url())?)
        .time_scale(TimeScale::new(0.01)?)
        .build()?;
    let video = client
        .generate(&CreateResponse::new("moonshotai/kimi-k2.5", "A long video"))
        .await?;
    let dir = tempfile::tempdir()?;
    let target = dir.path().join("big.mp4");

    // Idle: everything started, one generation done, nothing downloading.
    let idle = status_kib("VmRSS:");
    // Reset the kernel's peak (`VmHWM`) to the current RSS.
    std::fs::write("/proc/self/clear_refs", "5")?;
    let max_sampled = Arc::new(AtomicU64::new(idle));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (max_sampled, done) = (Arc::clone(&max_sampled), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                max_sampled.fetch_max(status_kib("VmRSS:"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let started = Instant::now();
    let saved = client.save(&video, &target, SaveOptions::new()).await?;
    let took = started.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.join().ok();
    let peak = status_kib("VmHWM:");
    assert_eq!(saved.bytes, size);
    assert_eq!(std::fs::metadata(&target)?.len(), size);

    println!(
        "video            {size_mib} MiB saved in {took:.2?} ({:.0} MiB/s)",
        size_mib as f64 / took.as_secs_f64()
    );
    println!("RSS idle         {:.1} MiB", mib(idle));
    println!(
        "RSS max sampled  {:.1} MiB (every 20 ms)",
        mib(max_sampled.load(Ordering::Relaxed))
    );
    println!("RSS peak (HWM)   {:.1} MiB", mib(peak));
    println!("peak above idle  {:.1} MiB", mib(peak.saturating_sub(idle)));
    Ok(())
}
