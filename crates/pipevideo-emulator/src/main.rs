//! `pipevideo-emulator`: a local Pipevideo API server. Run `pipevideo-emulator --help`.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

use clap::Parser;
use pipevideo_emulator::{Emulator, FaultConfig, RandomFaults, WebhookConfig};

/// A local Pipevideo API server: the documented protocol, realistic state, faults on demand.
#[derive(Debug, Parser)]
#[command(name = "pipevideo-emulator", version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1", env = "PIPEVIDEO_EMULATOR_BIND")]
    bind: IpAddr,
    /// Port to listen on (3001 is the product's own local-development port; 0 picks a free one).
    #[arg(long, default_value_t = pipevideo_emulator::DEFAULT_PORT, env = "PIPEVIDEO_EMULATOR_PORT")]
    port: u16,
    /// Real seconds per emulated second: 0.01 runs a one-minute generation in 0.6 s.
    #[arg(long, default_value_t = 1.0)]
    time_scale: f64,
    /// Seed for keys, ids, durations and failures (the demo key is stable for a given seed).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Probability that a generation fails with a random runtime cause.
    #[arg(long, default_value_t = 0.02)]
    failure_rate: f64,
    /// Fault configuration as JSON (`{"rules":[...],"random":{...}}`), or `@path` to a JSON file.
    #[arg(long)]
    faults: Option<String>,
    /// Random faults of every kind on this fraction of /v1 requests (e.g. 0.1), seeded by --seed.
    #[arg(long)]
    chaos: Option<f64>,
    /// One more `Host` name the control plane (`/_emulator/*`) answers, besides localhost, the
    /// loopback addresses and the bound address: e.g. the name other containers use (repeatable).
    #[arg(long = "control-host", value_name = "NAME")]
    control_hosts: Vec<String>,
    /// Deliver `video.generation.completed` webhooks to this http:// URL (repeatable).
    #[arg(long = "webhook-url")]
    webhook_urls: Vec<String>,
    /// Webhook signing secret (`whsec_` + base64). Only its fingerprint is printed. The
    /// variable is the emulator's own: `PIPEVIDEO_WEBHOOK_SECRET`, which applications and the
    /// CLI read, is not used, so an app's real secret never lands in the emulator's output.
    #[arg(
        long,
        default_value = "whsec_cGlwZXZpZGVvLWVtdWxhdG9yLWRlbW8tc2VjcmV0",
        env = "PIPEVIDEO_EMULATOR_WEBHOOK_SECRET",
        hide_env_values = true
    )]
    webhook_secret: String,
}

fn load_faults(spec: &str) -> Result<FaultConfig, String> {
    let text = match spec.strip_prefix('@') {
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?
        }
        None => spec.to_owned(),
    };
    serde_json::from_str(&text).map_err(|e| format!("invalid --faults JSON: {e}"))
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut builder = Emulator::builder()
        .bind(SocketAddr::new(args.bind, args.port))
        .time_scale(args.time_scale)
        .seed(args.seed)
        .failure_rate(args.failure_rate);
    if let Some(spec) = &args.faults {
        match load_faults(spec) {
            Ok(cfg) => builder = builder.faults(cfg),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    for host in &args.control_hosts {
        builder = builder.allow_control_host(host.clone());
    }
    if let Some(rate) = args.chaos {
        builder = builder.random_faults(RandomFaults::chaos(args.seed, rate));
    }
    if !args.webhook_urls.is_empty() {
        let mut cfg = WebhookConfig::new(args.webhook_secret.clone());
        for url in &args.webhook_urls {
            cfg = cfg.endpoint(url.clone());
        }
        builder = builder.webhooks(cfg);
    }
    let emu = match builder.start().await {
        Ok(emu) => emu,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "pipevideo-emulator listening on {} (time scale {})",
        emu.base_url(),
        emu.time_scale()
    );
    println!("Point the SDK and the CLI at it:");
    println!("  export PIPEVIDEO_API_URL={}", emu.base_url());
    println!("  export PIPEVIDEO_API_KEY={}", emu.demo_key());
    println!(
        "Other keys: expired {}  revoked {}  other org {}  no credits {}",
        emu.expired_key(),
        emu.revoked_key(),
        emu.other_org_key(),
        emu.no_credits_key()
    );
    if !args.webhook_urls.is_empty() {
        println!(
            "Webhooks to {} signed with the secret whose fingerprint is {}",
            args.webhook_urls.join(", "),
            pipevideo_emulator::fingerprint(&args.webhook_secret)
        );
    }
    println!(
        "Control: {}/_emulator/log, {}/_emulator/faults with the header X-Emulator-Token: {} \
         (and Content-Type: application/json on POST and PUT). Ctrl-C stops.",
        emu.origin(),
        emu.origin(),
        emu.control_token()
    );
    let _ = tokio::signal::ctrl_c().await;
    emu.shutdown().await;
    ExitCode::SUCCESS
}
