//! Create a video, show its progress, wait for it and download it: tokio + reqwest.
//!
//! With `PIPEVIDEO_API_URL` and `PIPEVIDEO_API_KEY` set, this talks to that server. Without
//! `PIPEVIDEO_API_URL`, it starts the local emulator in-process with time running 100× fast
//! (a one-minute generation takes about half a second) and points the client at it, so it runs
//! anywhere, CI included:
//!
//! ```sh
//! cargo run -p pipevideo --example tokio_reqwest
//! ```

use futures_util::StreamExt;
use pipevideo::core::poll::Event;
use pipevideo::{ApiKey, BaseUrl, Client, CreateResponse, ReqwestTransport, TimeScale, TokioSink};
use pipevideo_emulator::Emulator;

/// How fast the in-process emulator's clock runs: 0.01 = a minute lasts 0.6 s.
const TIME_SCALE: f64 = 0.01;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let transport = ReqwestTransport::new()?;
    // Keep the emulator alive until the end of `main`.
    let (client, _emulator) = if std::env::var_os("PIPEVIDEO_API_URL").is_some() {
        (Client::builder(transport).from_env()?.build()?, None)
    } else {
        let emulator = Emulator::builder().time_scale(TIME_SCALE).start().await?;
        println!(
            "no PIPEVIDEO_API_URL: using a local emulator at {}",
            emulator.base_url()
        );
        // The client follows the emulator's clock: pacing window, poll schedule, backoff,
        // deadlines (see `TimeScale` for the floors).
        let client = Client::builder(transport)
            .time_scale(TimeScale::new(TIME_SCALE)?)
            .base_url(BaseUrl::parse(&emulator.base_url())?)
            .api_key(ApiKey::new(emulator.demo_key())?)
            .build()?;
        (client, Some(emulator))
    };

    let request = CreateResponse::new("moonshotai/kimi-k2.5", "A paper plane over Lisbon at dawn");
    let handle = client.create(&request).await?;
    // The reference exists before any waiting: store it, and `client.wait(&reference)` resumes.
    println!("created {}", handle.reference());

    // Subscribe before waiting; the stream ends when the wait does.
    let mut progress = handle.progress();
    let printer = tokio::spawn(async move {
        while let Some(event) = progress.next().await {
            if let Event::StatusChanged { to, elapsed, .. } = event {
                println!("  {to} after {:.1} s", elapsed.as_secs_f64());
            }
        }
    });
    let video = handle.wait().await?;
    printer.await?;

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("video.mp4");
    let file = tokio::fs::File::create(&path).await?;
    let mut sink = TokioSink::new(file);
    let written = client.download(&video, &mut sink).await?;
    let size = tokio::fs::metadata(&path).await?.len();
    println!(
        "downloaded {written} bytes to {} ({size} bytes on disk)",
        path.display()
    );
    Ok(())
}
