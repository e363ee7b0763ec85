//! The command line: clap structures, and the value parsers that keep the key out of errors.

use std::ffi::OsStr;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgGroup, Args, Parser, Subcommand, ValueHint};
use clap_complete::Shell;
use pipevideo::webhook::WebhookSecret;
use pipevideo::{ApiKey, BaseUrl, TimeScale};

use crate::exit;

/// The default orchestration model of `generate`.
pub(crate) const DEFAULT_MODEL: &str = "moonshotai/kimi-k2.5";
/// The default video model of `generate --legacy`.
pub(crate) const DEFAULT_LEGACY_MODEL: &str = "google/veo-3.1";
/// The default emulator time scale: a 55 s job takes about 3 s.
pub(crate) const DEFAULT_TIME_SCALE: TimeScale = match TimeScale::new(0.05) {
    Ok(scale) => scale,
    Err(_) => panic!("0.05 is a valid time scale"),
};

const ABOUT: &str = "Generate videos with Pipevideo, wait for them, download them.";

const LONG_ABOUT: &str = "Generate videos with Pipevideo, wait for them, download them.

Try it with no account and no network: the built-in emulator answers like the real API.

  pipevideo --emulator generate \"A cat on a beach\" --output cat.mp4

Against the real API, pass your key with --api-key or PIPEVIDEO_API_KEY.";

/// The `pipevideo` command.
#[derive(Debug, Parser)]
#[command(
    name = "pipevideo",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = exit::CODES_HELP,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// API key (`pv_…`). Never printed; refused before any request if it contains whitespace.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "PIPEVIDEO_API_KEY",
        hide_env_values = true,
        value_name = "KEY",
        value_parser = KeyParser,
        allow_hyphen_values = true
    )]
    pub(crate) api_key: Option<ApiKey>,

    /// The API base URL (the help text names the production default).
    #[arg(
        long,
        help = "API base URL [default: https://api.pipevideo.co/v1]",
        global = true,
        help_heading = "Global options",
        env = "PIPEVIDEO_API_URL",
        hide_env_values = true,
        value_name = "URL",
        value_parser = BaseUrlParser,
        conflicts_with = "emulator"
    )]
    pub(crate) base_url: Option<BaseUrl>,

    /// A PEM file of CA certificates to trust in addition to the system's (a company proxy, a
    /// private CA).
    ///
    /// The file may hold several certificates. A file that cannot be read or holds no valid
    /// certificate is bad usage (exit code 2), and nothing is sent. With the default rustls
    /// build on Linux, the system's store is itself read from SSL_CERT_FILE (a PEM file) and
    /// SSL_CERT_DIR (directories) when either is set, instead of the usual locations.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "PIPEVIDEO_CA_CERT",
        value_name = "FILE",
        value_hint = ValueHint::FilePath
    )]
    pub(crate) ca_cert: Option<PathBuf>,

    /// Share the API key's budget (100 requests per minute) with every other process that uses
    /// the key, through Redis: `redis://[:PASSWORD@]HOST:PORT[/DB]`. Every send asks Redis for
    /// a slot first, and a 429 holds every process. When Redis is down the command paces
    /// locally and warns (see --shared-pacing-fail-closed). The URL's password is never printed.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        env = "PIPEVIDEO_PACING_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub(crate) shared_pacing: Option<String>,

    /// With --shared-pacing: when Redis cannot be reached, send nothing and fail (exit code 3)
    /// instead of pacing locally.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        requires = "shared_pacing"
    )]
    pub(crate) shared_pacing_fail_closed: bool,

    /// Your application's name, sent as `X-Application-Name` (at most 256 characters).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "NAME"
    )]
    pub(crate) app_name: Option<String>,

    /// Print one JSON document on stdout instead of text (errors too).
    #[arg(long, global = true, help_heading = "Global options")]
    pub(crate) json: bool,

    /// Log what the SDK does to stderr (-v info, -vv debug, -vvv trace; RUST_LOG overrides).
    #[arg(short, long, global = true, help_heading = "Global options", action = ArgAction::Count)]
    pub(crate) verbose: u8,

    /// Run against a built-in emulator on a loopback port, with its demo key: no account, no
    /// network.
    #[arg(long, global = true, help_heading = "Global options")]
    pub(crate) emulator: bool,

    /// Real seconds per emulated second [default with --emulator: 0.05, a one-minute job in
    /// 3 s; 1 shows it in real time]. Also tells the client the clock of an emulator started
    /// separately (`cargo run -p pipevideo-emulator -- --time-scale S`) and given with --base-url.
    #[arg(long, global = true, help_heading = "Global options", value_name = "SCALE", value_parser = parse_time_scale)]
    pub(crate) emulator_time_scale: Option<TimeScale>,

    /// Make the emulator misbehave (500s, 429s, cut connections, broken bodies) with this
    /// probability per request (default 0.2), to watch the SDK retry and pace itself.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "RATE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "0.2",
        value_parser = parse_fault_rate,
        requires = "emulator"
    )]
    pub(crate) emulator_faults: Option<f64>,

    /// Seed of the emulator (ids, durations, faults), for reproducible runs.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "N",
        requires = "emulator"
    )]
    pub(crate) emulator_seed: Option<u64>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create a video from a prompt, wait for it, and optionally download it.
    Generate(GenerateArgs),
    /// Show a generation once (status, video URL, failure).
    Get(RefArgs),
    /// Wait for a generation to finish (resumes an interrupted `generate`).
    Wait(WaitArgs),
    /// Show the credit balance and recent usage.
    Usage,
    /// List the engines and their orchestration models with prices (no key needed).
    Engines,
    /// List the legacy video models, or show one model in detail.
    Models {
        /// A model slug, e.g. `google/veo-3.1`.
        slug: Option<String>,
    },
    /// Verify webhook deliveries (Svix-signed), by hand or on a local endpoint. No API key
    /// needed.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Print a shell completion script on stdout (no key, no network).
    ///
    /// For bash: `pipevideo completions bash >
    /// ~/.local/share/bash-completion/completions/pipevideo`. The README says where zsh and fish
    /// look for theirs.
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print the man page (roff) on stdout (no key, no network).
    ///
    /// Install it with `pipevideo man > ~/.local/share/man/man1/pipevideo.1`.
    Man,
}

/// `webhook …`.
#[derive(Debug, Subcommand)]
pub(crate) enum WebhookCommand {
    /// Verify one delivery: the body on stdin, the three headers as flags. Prints the event
    /// as JSON, or why it was rejected (exit code 6).
    Verify(VerifyArgs),
    /// Serve a local HTTP endpoint that verifies each delivery, answers 2xx (verified) or 4xx
    /// (rejected), skips Svix's retries of a delivery already seen, and prints one line per
    /// delivery (one JSON object per line with --json).
    Listen(ListenArgs),
}

/// `webhook verify`.
#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub(crate) secret: SecretFlag,

    /// The `svix-id` (or `webhook-id`) header value.
    #[arg(long, value_name = "ID")]
    pub(crate) id: String,

    /// The `svix-timestamp` header value (Unix seconds).
    #[arg(long, value_name = "SECONDS")]
    pub(crate) timestamp: String,

    /// The `svix-signature` header value (`v1,<base64>`, several space-separated).
    #[arg(long, value_name = "SIGNATURE", allow_hyphen_values = true)]
    pub(crate) signature: String,

    /// How far the timestamp may be from this machine's clock, either way.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_timeout)]
    pub(crate) tolerance: Duration,
}

/// `webhook listen`.
#[derive(Debug, Args)]
pub(crate) struct ListenArgs {
    #[command(flatten)]
    pub(crate) secret: SecretFlag,

    /// The port to listen on (0: any free port, printed on stderr).
    #[arg(long, value_name = "PORT")]
    pub(crate) port: u16,

    /// The address to listen on (loopback by default; 0.0.0.0 exposes it to the network).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
    pub(crate) bind: IpAddr,

    /// Stop after this many verified deliveries (retries of one delivery count once).
    #[arg(long, value_name = "N")]
    pub(crate) count: Option<u64>,

    /// How far a delivery's timestamp may be from this machine's clock, either way.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = parse_timeout)]
    pub(crate) tolerance: Duration,

    /// How long a connection may take to send a request's headers (then closed), and then its
    /// body (then answered 408): a slow or idle client cannot hold the listener.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_timeout)]
    pub(crate) header_timeout: Duration,

    /// How many connections are served at once; more wait to be accepted.
    #[arg(long, value_name = "N", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections: u32,
}

/// The endpoint secret of the webhook commands.
#[derive(Debug, Args)]
pub(crate) struct SecretFlag {
    /// The endpoint's signing secret (`whsec_…`). Never printed.
    #[arg(
        long = "secret",
        env = "PIPEVIDEO_WEBHOOK_SECRET",
        hide_env_values = true,
        value_name = "SECRET",
        value_parser = SecretParser,
        allow_hyphen_values = true
    )]
    pub(crate) secret: WebhookSecret,
}

/// Parses `--secret` (and `PIPEVIDEO_WEBHOOK_SECRET`) with errors that never contain the value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SecretParser;

impl TypedValueParser for SecretParser {
    type Value = WebhookSecret;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<WebhookSecret, clap::Error> {
        let refuse = |why: String| {
            clap::Error::raw(
                ErrorKind::InvalidValue,
                format!(
                    "the webhook secret (from --secret or PIPEVIDEO_WEBHOOK_SECRET) was refused: \
                     {why}\n"
                ),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("it is not valid UTF-8".into()))?;
        WebhookSecret::new(text).map_err(|e| refuse(e.to_string()))
    }
}

/// `generate`.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// What the video should show.
    pub(crate) prompt: String,

    /// Orchestration model [default: moonshotai/kimi-k2.5; with --legacy: google/veo-3.1, a
    /// video model].
    #[arg(long, value_name = "MODEL")]
    pub(crate) model: Option<String>,

    /// Rendering engine: hyperframes (server default), lottie or auto.
    #[arg(long, value_name = "ENGINE", conflicts_with = "legacy")]
    pub(crate) engine: Option<String>,

    /// Aspect ratio, e.g. 16:9.
    #[arg(long, value_name = "W:H")]
    pub(crate) aspect_ratio: Option<String>,

    /// Canvas width in pixels (with --height).
    #[arg(
        long,
        value_name = "PX",
        requires = "height",
        conflicts_with = "legacy"
    )]
    pub(crate) width: Option<u32>,

    /// Canvas height in pixels (with --width).
    #[arg(long, value_name = "PX", requires = "width", conflicts_with = "legacy")]
    pub(crate) height: Option<u32>,

    /// System-level guidance for the orchestration model.
    #[arg(long, value_name = "TEXT", conflicts_with = "legacy")]
    pub(crate) instructions: Option<String>,

    /// Let the engine rewrite the prompt with its guide first.
    #[arg(long, conflicts_with = "legacy")]
    pub(crate) expand_prompt: bool,

    /// A reference image (https:// URL or data: URI); repeat for several.
    #[arg(long = "image", value_name = "URL")]
    pub(crate) images: Vec<String>,

    /// A reference video (https:// URL or data: URI); repeat for several.
    #[arg(long = "video", value_name = "URL", conflicts_with = "legacy")]
    pub(crate) videos: Vec<String>,

    /// A provider slug, e.g. framerate; repeat to give an order of preference.
    #[arg(long = "provider", value_name = "SLUG")]
    pub(crate) providers: Vec<String>,

    /// Use the legacy API (/v1/video/generations), where --model is a video model slug.
    #[arg(long)]
    pub(crate) legacy: bool,

    /// Print the reference and exit without waiting (resume with `pipevideo wait <ref>`).
    #[arg(long, conflicts_with = "output")]
    pub(crate) no_wait: bool,

    #[command(flatten)]
    pub(crate) wait: WaitFlags,
}

/// The flags of every command that waits.
#[derive(Debug, Args)]
pub(crate) struct WaitFlags {
    /// How long to wait before giving up (the generation keeps running): 90s, 10m, 1h30m.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_timeout)]
    pub(crate) timeout: Duration,

    /// Download the finished video into this file (checked before anything is sent: its
    /// directory must exist and be writable, and the file must not exist unless --force).
    #[arg(long, short, value_name = "FILE")]
    pub(crate) output: Option<PathBuf>,

    /// Replace the --output file if it exists.
    #[arg(long, requires = "output")]
    pub(crate) force: bool,
}

/// A generation, by reference or legacy id.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("which").required(true).args(["reference", "legacy"])))]
pub(crate) struct RefArgs {
    /// The reference `generate` printed (`responses:gen_…`; a bare `gen_…` is a responses id).
    pub(crate) reference: Option<String>,

    /// A legacy generation id (`gen_…` from /v1/video/generations).
    #[arg(long, value_name = "ID", conflicts_with = "reference")]
    pub(crate) legacy: Option<String>,
}

/// `wait`.
#[derive(Debug, Args)]
pub(crate) struct WaitArgs {
    #[command(flatten)]
    pub(crate) target: RefArgs,

    #[command(flatten)]
    pub(crate) wait: WaitFlags,
}

/// Parses `--api-key` (and `PIPEVIDEO_API_KEY`) into an [`ApiKey`], with errors that never
/// contain the value: clap's own invalid-value errors quote it, so this parser builds its
/// errors by hand.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KeyParser;

impl TypedValueParser for KeyParser {
    type Value = ApiKey;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<ApiKey, clap::Error> {
        let refuse = |why: String| {
            clap::Error::raw(
                ErrorKind::InvalidValue,
                format!(
                    "the API key (from --api-key or PIPEVIDEO_API_KEY) was refused before any \
                     request was sent: {why}\n"
                ),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("it is not valid UTF-8".into()))?;
        ApiKey::new(text).map_err(|e| refuse(e.to_string()))
    }
}

/// Parses `--base-url` (and `PIPEVIDEO_API_URL`) into a [`BaseUrl`], with errors that echo the
/// value without what may be a secret: clap's own invalid-value errors quote it whole, and a
/// refused URL may carry `user:password@` or a token in its query. See [`echoable_url`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct BaseUrlParser;

impl TypedValueParser for BaseUrlParser {
    type Value = BaseUrl;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&Arg>,
        value: &OsStr,
    ) -> Result<BaseUrl, clap::Error> {
        let refuse = |shown: &str, why: String| {
            clap::Error::raw(
                ErrorKind::InvalidValue,
                format!(
                    "the base URL {shown}(from --base-url or PIPEVIDEO_API_URL) was refused: \
                     {why}\n"
                ),
            )
            .with_cmd(cmd)
        };
        let text = value
            .to_str()
            .ok_or_else(|| refuse("", "it is not valid UTF-8".into()))?;
        BaseUrl::parse(text).map_err(|e| {
            let shown = echoable_url(text).map_or_else(String::new, |url| format!("`{url}` "));
            refuse(&shown, e.to_string())
        })
    }
}

/// What of a refused URL can be shown: scheme, host, port and path, without a user name or
/// password (`user:pass@`), query or fragment. `None` when it does not even look like
/// `scheme://…`: then nothing of it is shown.
fn echoable_url(text: &str) -> Option<String> {
    let text = text.trim();
    let (scheme, rest) = text.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    // Query and fragment go first: an `@` in them is not userinfo.
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if host.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    let path: String = path.chars().filter(|c| !c.is_control()).collect();
    Some(format!("{scheme}://{host}{path}"))
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    crate::duration::parse(s)
}

/// A time scale for the command line: the core's rules ([`TimeScale::new`]) within the range
/// that makes sense for a demo run (0.001 to 100).
fn parse_time_scale(s: &str) -> Result<TimeScale, String> {
    let scale: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number (try 0.05 or 1)"))?;
    if !scale.is_finite() || !(0.001..=100.0).contains(&scale) {
        return Err("the time scale must be between 0.001 and 100".into());
    }
    TimeScale::new(scale).map_err(|e| e.to_string())
}

fn parse_fault_rate(s: &str) -> Result<f64, String> {
    let rate: f64 = s
        .parse()
        .map_err(|_| format!("`{s}` is not a number (try 0.2)"))?;
    if !rate.is_finite() || !(0.0..=0.9).contains(&rate) {
        return Err("the fault rate must be between 0 and 0.9".into());
    }
    Ok(rate)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn a_refused_key_is_never_echoed() {
        let secret = "pv_secret 123";
        let err = Cli::try_parse_from(["pipevideo", "--api-key", secret, "usage"]).unwrap_err();
        let text = err.render().to_string();
        assert!(text.contains("whitespace"), "{text}");
        assert!(!text.contains("pv_secret"), "{text}");
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn a_refused_base_url_is_echoed_without_credentials_or_query() {
        for url in [
            "ftp://alice:hunter2@example.com/v1?token=tok_SECRET",
            "https://alice:hunter2@api.example.com/v1?token=tok_SECRET",
            "http://alice:hunter2@example.com/v1?token=tok_SECRET#frag_SECRET",
            "https://api.example.com/v1?token=tok_SECRET",
        ] {
            let err = Cli::try_parse_from(["pipevideo", "--base-url", url, "usage"]).unwrap_err();
            let text = err.render().to_string();
            for secret in ["alice", "hunter2", "tok_SECRET", "frag_SECRET"] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
            assert!(text.contains("example.com"), "the host is named: {text}");
            assert!(text.contains("--base-url"), "{text}");
            assert_eq!(err.exit_code(), 2);
        }
        // What cannot be parsed as a URL is not echoed at all: it may be anything.
        let err =
            Cli::try_parse_from(["pipevideo", "--base-url", "alice:hunter2 nonsense", "usage"])
                .unwrap_err();
        let text = err.render().to_string();
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn a_refused_webhook_secret_is_never_echoed() {
        for secret in ["whsec_not base64!", "nope_c2VjcmV0c2VjcmV0"] {
            let err = Cli::try_parse_from([
                "pipevideo",
                "webhook",
                "listen",
                "--port",
                "0",
                "--secret",
                secret,
            ])
            .unwrap_err();
            let text = err.render().to_string();
            assert!(text.contains("webhook secret"), "{text}");
            assert!(!text.contains(secret), "{text}");
            assert!(!text.contains("c2VjcmV0"), "{text}");
            assert_eq!(err.exit_code(), 2);
        }
    }

    #[test]
    fn fault_rate_needs_equals_so_the_subcommand_is_not_eaten() {
        let cli =
            Cli::try_parse_from(["pipevideo", "--emulator", "--emulator-faults", "usage"]).unwrap();
        assert_eq!(cli.emulator_faults, Some(0.2));
        let cli =
            Cli::try_parse_from(["pipevideo", "--emulator", "--emulator-faults=0.5", "usage"])
                .unwrap();
        assert_eq!(cli.emulator_faults, Some(0.5));
    }

    #[test]
    fn get_needs_a_reference_or_a_legacy_id() {
        assert!(Cli::try_parse_from(["pipevideo", "get"]).is_err());
        assert!(Cli::try_parse_from(["pipevideo", "get", "responses:gen_1"]).is_ok());
        assert!(Cli::try_parse_from(["pipevideo", "get", "--legacy", "gen_1"]).is_ok());
        assert!(Cli::try_parse_from(["pipevideo", "get", "gen_1", "--legacy", "gen_2"]).is_err());
    }
}
