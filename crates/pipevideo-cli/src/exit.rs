//! Exit codes, and every failure turned into one sentence and the hint that fixes it.

use std::time::Duration;

use pipevideo::core::WaitError;
use pipevideo::core::WaitErrorKind;
use pipevideo::core::retry::GiveUpReason;
use pipevideo::model::FailureCause;
use pipevideo::{Error, ErrorKind, GenerationRef, InputError};

use crate::duration::human;

/// The video was generated (and saved, with `--output`), or the command did what it was asked.
pub(crate) const OK: i32 = 0;
/// The generation failed on the server (its cause is printed).
pub(crate) const GENERATION_FAILED: i32 = 1;
/// Bad usage: invalid arguments, a missing or malformed key (clap's own code).
pub(crate) const USAGE: i32 = 2;
/// The API refused the request (400, 401, 404), or kept failing until the SDK gave up.
pub(crate) const API: i32 = 3;
/// The generation did not finish within `--timeout`; it keeps running on the server.
pub(crate) const DEADLINE: i32 = 4;
/// The video could not be downloaded or written to the `--output` file.
pub(crate) const DOWNLOAD: i32 = 5;
/// `webhook verify`: the delivery was rejected (bad signature, stale timestamp, bad body…).
pub(crate) const WEBHOOK_REJECTED: i32 = 6;
/// Interrupted with Ctrl-C (128 + SIGINT).
pub(crate) const INTERRUPTED: i32 = 130;

/// The exit-code table, shown at the end of `--help`.
pub(crate) const CODES_HELP: &str = "\
Exit codes:
  0    completed: the video is ready (and saved, with --output)
  1    the generation failed on the server (the cause is printed)
  2    bad usage: invalid arguments, or a missing or malformed API key
  3    the API refused the request (400, 401, 404) or kept failing until the SDK gave up
  4    --timeout passed first; the generation keeps running: pipevideo wait <ref>
  5    the video could not be downloaded or saved
  6    webhook verify: the delivery was rejected (the reason is printed)
  130  interrupted (Ctrl-C); resume with: pipevideo wait <ref>";

/// A command's failure, ready to print: one sentence, a hint, the generation if any.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: i32,
    /// A stable word for scripts (`--json`): `usage`, `api`, `generation_failed`, …
    pub(crate) kind: &'static str,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
    pub(crate) reference: Option<GenerationRef>,
    pub(crate) http_status: Option<u16>,
}

impl Failure {
    /// A failure; control characters in `message` (which may quote the server) are escaped,
    /// so a server cannot drive the terminal.
    pub(crate) fn new(code: i32, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            kind,
            message: crate::ui::printable(&message.into()).into_owned(),
            hint: None,
            reference: None,
            http_status: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(crate::ui::printable(&hint.into()).into_owned());
        self
    }

    /// Adds a sentence after the hint (or as the hint, if there is none).
    fn also_hint(mut self, extra: &str) -> Self {
        self.hint = Some(match self.hint.take() {
            Some(hint) => format!("{hint} {extra}"),
            None => extra.to_owned(),
        });
        self
    }

    pub(crate) fn reference(mut self, reference: Option<GenerationRef>) -> Self {
        if self.reference.is_none() {
            self.reference = reference;
        }
        self
    }

    /// An interruption (Ctrl-C) at some stage.
    pub(crate) fn interrupted(reference: Option<GenerationRef>, what: &str) -> Self {
        let failure = Self::new(INTERRUPTED, "interrupted", format!("Interrupted {what}."));
        match &reference {
            Some(r) => failure
                .hint(format!(
                    "The generation keeps running on the server: resume with `pipevideo wait {r}`."
                ))
                .reference(reference),
            None => failure,
        }
    }
}

/// What a call was doing, for the sentence.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stage {
    Create,
    Retrieve,
    Wait,
    Download,
    Usage,
    Catalogue,
}

impl Stage {
    fn doing(self) -> &'static str {
        match self {
            Self::Create => "create the generation",
            Self::Retrieve => "retrieve the generation",
            Self::Wait => "wait for the generation",
            Self::Download => "download the video",
            Self::Usage => "read the usage",
            Self::Catalogue => "read the catalogue",
        }
    }
}

/// Turns an SDK error into a [`Failure`]: one `match` on [`ErrorKind`], the SDK's one
/// classification. `elapsed` is how long the call ran (what a 429 made the SDK wait shows up
/// there). Exit codes by kind:
///
/// | kind | exit code |
/// |---|---|
/// | `InvalidInput` | 2 (usage) |
/// | `GenerationFailed`, `InsufficientCredits` of a failed generation | 1 |
/// | a wait's deadline (`Timeout`, or `RateLimited` past it) | 4 |
/// | `Download` | 5 |
/// | `Cancelled` | 130 |
/// | everything else (the API refused, or kept failing until the SDK gave up) | 3 |
pub(crate) fn classify(error: &Error, stage: Stage, elapsed: Duration) -> Failure {
    let reference = error.generation().cloned();
    let server = error
        .server_message()
        .map(|m| m.trim_end_matches('.').to_owned());
    let status = error.status().map(|s| s.as_u16());
    // `HTTP 400: message`, or the SDK's one line when the server said nothing readable.
    let said = |code: u16| match &server {
        Some(message) => format!("{code}: {message}"),
        None => error.to_string(),
    };
    let retries = retries(error, elapsed);
    let failure = match error.kind() {
        ErrorKind::InvalidInput => match error {
            Error::Input(InputError::ApiKey(e)) => Failure::new(
                USAGE,
                "usage",
                format!("The API key was refused before any request was sent: {e}."),
            )
            .hint("Copy the key again from the dashboard, with no spaces or newlines."),
            _ => Failure::new(USAGE, "usage", format!("{}.", capitalise(&error.to_string())))
                .hint("Nothing was sent; fix the argument and run the command again."),
        },
        _ if error.failure().is_some() => generation_failed(error),
        _ if wait_deadline(error).is_some() => {
            let (wait, deadline) = wait_deadline(error).unwrap_or_default();
            let r = reference.clone().map(|r| r.to_string()).unwrap_or_default();
            let seen = match wait.and_then(|w| w.last_status()) {
                Some(status) => format!(" (last status {status}, {} polls)", polls(wait)),
                None => format!(" ({} polls)", polls(wait)),
            };
            let asked = match (error.kind(), error.retry_after()) {
                (ErrorKind::RateLimited, Some(d)) => {
                    format!("; the server asked to wait {} more", human(d))
                }
                _ => String::new(),
            };
            Failure::new(
                DEADLINE,
                "deadline",
                format!(
                    "Generation {r} did not finish within {}{seen}{asked}.",
                    human(deadline)
                ),
            )
            .hint(format!(
                "It keeps running on the server: resume with `pipevideo wait {r}` \
                 (--timeout sets how long to wait)."
            ))
        }
        ErrorKind::Cancelled => {
            let r = reference.clone().map(|r| r.to_string()).unwrap_or_default();
            Failure::interrupted(reference.clone(), &format!("while waiting for {r}"))
        }
        ErrorKind::Download => {
            let r = reference.clone().map(|r| r.to_string()).unwrap_or_default();
            Failure::new(
                DOWNLOAD,
                "download",
                format!("The generation completed, but {error}."),
            )
            .hint(format!("Download it again with `pipevideo wait {r} --output FILE`."))
        }
        ErrorKind::Unauthorized => {
            let lower = server.as_deref().unwrap_or_default().to_ascii_lowercase();
            let sentence = match &reference {
                Some(r) => format!("The API key was refused while waiting for {r} ({}).", said(401)),
                None => format!("The API key was refused ({}).", said(401)),
            };
            Failure::new(API, "unauthorized", sentence).hint(
                if lower.contains("expired") || lower.contains("revoked") {
                    "Create a new key in the dashboard and pass it with --api-key or \
                     PIPEVIDEO_API_KEY."
                } else {
                    "Check the key: copy it again from the dashboard, with no spaces or newlines, \
                     and pass it with --api-key or PIPEVIDEO_API_KEY."
                },
            )
        }
        ErrorKind::InsufficientCredits => Failure::new(
            API,
            "insufficient_credits",
            format!(
                "Your balance is too low to {} ({}).",
                stage.doing(),
                said(status.unwrap_or(400))
            ),
        )
        .hint(
            "Top up your credits in the dashboard, then run the command again (`pipevideo \
             usage` shows the balance).",
        ),
        ErrorKind::BadRequest => Failure::new(
            API,
            "bad_request",
            format!("The server refused the request ({}).", said(400)),
        )
        .hint("Check --model, --engine, --provider and the prompt; `pipevideo engines` lists the models."),
        ErrorKind::NotFound => {
            let sentence = match &reference {
                Some(r) => format!("Generation {r} was not found ({}).", said(404)),
                None => format!("Not found ({}).", said(404)),
            };
            Failure::new(API, "not_found", sentence).hint(
                "Check the reference: it must belong to this key's organization, and legacy ids \
                 need --legacy.",
            )
        }
        ErrorKind::RateLimited => {
            let waited = error
                .retry_after()
                .map(|d| format!("; the server asked to wait {}", human(d)))
                .unwrap_or_default();
            Failure::new(
                API,
                "rate_limited",
                format!(
                    "Could not {}: rate limited (429 Too Many Requests{}){waited}{retries}.",
                    stage.doing(),
                    server.as_deref().map(|m| format!(": {m}")).unwrap_or_default()
                ),
            )
            .hint(
                "Wait a minute and try again; programs using the same key share its 100 requests \
                 per minute.",
            )
        }
        ErrorKind::Server => Failure::new(
            API,
            "server_error",
            format!(
                "Could not {}: the server answered HTTP {}{}{retries}.",
                stage.doing(),
                status.unwrap_or(500),
                server.as_deref().map(|m| format!(" ({m})")).unwrap_or_default()
            ),
        )
        .hint("The service may be having trouble; try again in a minute."),
        ErrorKind::Decode => Failure::new(
            API,
            "decode",
            format!(
                "Could not {}: the server's answer could not be read ({error}).",
                stage.doing()
            ),
        )
        .hint("The API may have changed; run again with -vv and report the output."),
        ErrorKind::Timeout | ErrorKind::Connection => Failure::new(
            API,
            "network",
            format!(
                "Could not {}: no usable answer from the server ({error}).",
                stage.doing()
            ),
        )
        .hint("Check your network, proxy and --base-url (or PIPEVIDEO_API_URL), then try again."),
        ErrorKind::Pacing => Failure::new(
            API,
            "shared-pacing",
            format!("Could not {}: {error}.", stage.doing()),
        )
        .hint(
            "Nothing was sent. Start Redis at the --shared-pacing URL (or PIPEVIDEO_PACING_URL), \
             or drop --shared-pacing-fail-closed to pace locally while it is down.",
        ),
        _ => Failure::new(
            API,
            "unexpected",
            format!("Could not {}: {error}.", stage.doing()),
        )
        .hint("The server answered in a way the API does not document; run again with -vv."),
    };
    let mut failure = failure.reference(reference);
    failure.http_status = status.filter(|s| !(200..300).contains(s));
    if error.idempotency_key().is_some() && error.kind().is_retryable() {
        failure = failure.also_hint(
            "If the create reached the server, the generation may exist anyway: `pipevideo \
             usage` lists recent requests.",
        );
    }
    failure
}

/// `; the SDK made 4 attempts over 7.2 s and stopped because …` for a call that gave up.
fn retries(error: &Error, elapsed: Duration) -> String {
    let gave_up = match error {
        Error::GaveUp(g) => g,
        Error::Create(c) => match c.error() {
            Error::GaveUp(g) => g,
            _ => return String::new(),
        },
        _ => return String::new(),
    };
    let give_up = gave_up.give_up();
    let why = match give_up.reason() {
        GiveUpReason::DeadlineWouldPass { asked, .. } => format!(
            "the next attempt had to wait {} more, past the call's deadline",
            human(asked)
        ),
        GiveUpReason::ServerDelayBeyondCap { asked, cap } => format!(
            "the server asked to wait {}, beyond the {} the SDK waits at most",
            human(asked),
            human(cap)
        ),
        other => other.to_string(),
    };
    let attempts = give_up.attempts();
    format!(
        "; the SDK made {attempts} attempt{} over {} and stopped because {why}",
        if attempts == 1 { "" } else { "s" },
        human(elapsed.max(gave_up.elapsed()))
    )
}

/// A wait that ended at its deadline (with or without a 429 that asked past it), and that
/// deadline.
fn wait_deadline(error: &Error) -> Option<(Option<&WaitError>, Duration)> {
    match error {
        Error::Wait(w) => match w.kind() {
            WaitErrorKind::DeadlineExceeded { deadline, .. } => Some((Some(&**w), *deadline)),
            _ => None,
        },
        _ => None,
    }
}

fn polls(wait: Option<&WaitError>) -> u32 {
    wait.map_or(0, WaitError::polls)
}

/// The generation failed on the server: exit code 1, the cause's own hint.
fn generation_failed(error: &Error) -> Failure {
    let r = error
        .generation()
        .map(ToString::to_string)
        .unwrap_or_default();
    let (cause, message) = match error.failure() {
        Some(f) => (f.cause, f.message.trim_end_matches('.').to_owned()),
        None => (FailureCause::Other, "no reason given".to_owned()),
    };
    Failure::new(
        GENERATION_FAILED,
        "generation_failed",
        format!("Generation {r} failed ({cause}): {message}."),
    )
    .hint(failure_hint(cause))
}

fn failure_hint(cause: FailureCause) -> &'static str {
    match cause {
        FailureCause::InsufficientCredits => {
            "Top up your credits in the dashboard, then generate again (`pipevideo usage` shows the balance)."
        }
        FailureCause::InvalidPrompt => "Fix the prompt (it needs some text), then generate again.",
        FailureCause::ModelNotSupported => {
            "Pick a model the provider serves (`pipevideo engines` lists them) or drop --provider."
        }
        FailureCause::ProviderFailure => {
            "The provider failed; generating again usually works. Credits for a failed generation are refunded."
        }
        _ => "Generate again; if it keeps failing, try another model or engine.",
    }
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, StatusCode};
    use pipevideo::ApiError;
    use pipevideo::core::ApiKeyError;

    use super::*;

    fn api(status: u16, body: &str) -> Error {
        ApiError::from_response(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.as_bytes(),
        )
        .into()
    }

    fn classify_api(status: u16, message: &str) -> Failure {
        let body = serde_json::json!({ "message": message }).to_string();
        classify(&api(status, &body), Stage::Create, Duration::ZERO)
    }

    #[test]
    fn each_api_error_gets_its_sentence_and_hint() {
        let f = classify_api(401, "API key has expired");
        assert_eq!(
            (f.code, f.kind, f.http_status),
            (API, "unauthorized", Some(401))
        );
        assert!(f.message.contains("API key has expired"), "{}", f.message);
        assert!(f.hint.unwrap().contains("Create a new key"));

        let f = classify_api(401, "Invalid API key");
        assert!(f.hint.unwrap().contains("no spaces or newlines"));

        let f = classify_api(400, "Insufficient credits: balance is 0");
        assert_eq!(f.kind, "insufficient_credits");
        assert!(f.hint.unwrap().contains("Top up"));

        // The core's one rule decides what is about credits: a "load balancer" is not a balance.
        let f = classify_api(400, "The load balancer rejected the request");
        assert_eq!(f.kind, "bad_request", "{}", f.message);

        let f = classify_api(400, "Unknown model: nope");
        assert_eq!(f.kind, "bad_request");
        assert!(f.hint.unwrap().contains("pipevideo engines"));

        let f = classify_api(404, "Generation not found");
        assert_eq!((f.kind, f.http_status), ("not_found", Some(404)));

        let body = r#"{"message":"Rate limit exceeded. Please try again later.","data":{"retry_after":42}}"#;
        let f = classify(&api(429, body), Stage::Usage, Duration::ZERO);
        assert_eq!(f.kind, "rate_limited");
        assert!(f.message.contains("asked to wait 42.0 s"), "{}", f.message);

        let f = classify(
            &api(502, "<html>bad gateway</html>"),
            Stage::Usage,
            Duration::ZERO,
        );
        assert_eq!((f.code, f.kind), (API, "server_error"));
        assert!(f.message.contains("HTTP 502"), "{}", f.message);
    }

    #[test]
    fn a_refused_key_is_bad_usage_and_says_why() {
        let e: Error = ApiKeyError::Whitespace { position: 3 }.into();
        let f = classify(&e, Stage::Create, Duration::ZERO);
        assert_eq!(f.code, USAGE);
        assert!(f.message.contains("before any request"), "{}", f.message);
        assert!(f.message.contains("whitespace"), "{}", f.message);
    }

    #[test]
    fn codes_are_distinct_and_documented() {
        let codes = [
            OK,
            GENERATION_FAILED,
            USAGE,
            API,
            DEADLINE,
            DOWNLOAD,
            INTERRUPTED,
        ];
        for (i, a) in codes.iter().enumerate() {
            assert!(codes[i + 1..].iter().all(|b| a != b), "{a} is used twice");
            assert!(
                CODES_HELP.contains(&format!("\n  {a} ")),
                "{a} is not in the help"
            );
        }
    }
}
