//! Exit codes, and every failure turned into one sentence and the hint that fixes it.

use std::time::Duration;

use pipevideo::client::{WaitError, WaitErrorKind};
use pipevideo::model::FailureCause;
use pipevideo::retry::GiveUpReason;
use pipevideo::{ApiError, Error, GenerationRef, InputError};

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
    pub(crate) fn new(code: i32, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            kind,
            message: message.into(),
            hint: None,
            reference: None,
            http_status: None,
        }
    }

    pub(crate) fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub(crate) fn reference(mut self, reference: Option<GenerationRef>) -> Self {
        if self.reference.is_none() {
            self.reference = reference;
        }
        self
    }

    fn status(mut self, status: u16) -> Self {
        self.http_status = Some(status);
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

/// Turns an SDK error into a [`Failure`]. `elapsed` is how long the call ran (what a 429 made
/// the SDK wait shows up there).
pub(crate) fn classify(error: &Error, stage: Stage, elapsed: Duration) -> Failure {
    match error {
        Error::Input(InputError::ApiKey(e)) => Failure::new(
            USAGE,
            "usage",
            format!("The API key was refused before any request was sent: {e}."),
        )
        .hint("Copy the key again from the dashboard, with no spaces or newlines."),
        Error::Input(e) => Failure::new(USAGE, "usage", format!("{}.", capitalise(&e.to_string())))
            .hint("Nothing was sent; fix the argument and run the command again."),
        Error::Api(api) => api_failure(api, stage),
        Error::Decode(e) => Failure::new(
            API,
            "decode",
            format!(
                "Could not {}: the server's answer could not be read ({e}).",
                stage.doing()
            ),
        )
        .hint("The API may have changed; run again with -vv and report the output."),
        Error::Transport(e) => Failure::new(
            API,
            "network",
            format!(
                "Could not {}: no usable answer from the server ({e}).",
                stage.doing()
            ),
        )
        .hint("Check your network, proxy and --base-url (or PIPEVIDEO_API_URL), then try again."),
        Error::Create(create) => {
            let inner = create.error();
            let mut failure = classify(inner, Stage::Create, elapsed);
            if matches!(inner, Error::GaveUp(_) | Error::Transport(_)) {
                let extra = "If the create reached the server, the generation may exist anyway: \
                             `pipevideo usage` lists recent requests.";
                failure.hint = Some(match failure.hint {
                    Some(h) => format!("{h} {extra}"),
                    None => extra.to_owned(),
                });
            }
            failure
        }
        Error::GaveUp(gave_up) => {
            let give_up = gave_up.give_up();
            let last_api = gave_up.last_error().and_then(Error::as_api);
            let kept = if give_up.attempts() > 1 {
                "kept answering"
            } else {
                "answered"
            };
            let what = match last_api {
                Some(api) if api.status().as_u16() == 429 => format!(
                    "the server {kept} 429 Too Many Requests ({})",
                    api.message().trim_end_matches('.')
                ),
                Some(api) => format!(
                    "the server {kept} HTTP {} ({})",
                    api.status().as_u16(),
                    api.message().trim_end_matches('.')
                ),
                None => match gave_up.last_error() {
                    Some(e) => format!("the last attempt failed: {e}"),
                    None => "no attempt could be made in time".to_owned(),
                },
            };
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
            let mut failure = Failure::new(
                API,
                if last_api.is_some_and(|a| a.status().as_u16() == 429) {
                    "rate_limited"
                } else {
                    "gave_up"
                },
                format!(
                    "Could not {}: {what}; the SDK made {} attempt{} over {} and stopped because {why}.",
                    stage.doing(),
                    give_up.attempts(),
                    if give_up.attempts() == 1 { "" } else { "s" },
                    human(elapsed)
                ),
            );
            failure = match last_api.map(|a| a.status().as_u16()) {
                Some(429) => failure.hint(
                    "Wait a minute and try again; other programs using the same key share its \
                     100 requests per minute.",
                ),
                _ => failure.hint("The service may be having trouble; try again in a minute."),
            };
            if let Some(api) = last_api {
                failure = failure.status(api.status().as_u16());
            }
            failure
        }
        Error::Wait(wait) => wait_failure(wait),
        Error::Download(download) => {
            let reference = download.reference().clone();
            Failure::new(
                DOWNLOAD,
                "download",
                format!("The generation completed, but {download}."),
            )
            .hint(format!(
                "Download it again with `pipevideo wait {reference} --output FILE`."
            ))
            .reference(Some(reference))
        }
        other => Failure::new(
            API,
            "error",
            format!("Could not {}: {other}.", stage.doing()),
        ),
    }
}

fn api_failure(api: &ApiError, stage: Stage) -> Failure {
    let status = api.status().as_u16();
    let message = api.message().trim_end_matches('.');
    let lower = message.to_ascii_lowercase();
    let failure = match status {
        401 => Failure::new(
            API,
            "unauthorized",
            format!("The API key was refused (401 Unauthorized: {message})."),
        )
        .hint(if lower.contains("expired") || lower.contains("revoked") {
            "Create a new key in the dashboard and pass it with --api-key or PIPEVIDEO_API_KEY."
        } else {
            "Check the key: copy it again from the dashboard, with no spaces or newlines, and pass \
             it with --api-key or PIPEVIDEO_API_KEY."
        }),
        400 if lower.contains("credit") || lower.contains("balance") => Failure::new(
            API,
            "insufficient_credits",
            format!("Your balance is too low to {} (400: {message}).", stage.doing()),
        )
        .hint("Top up your credits in the dashboard, then run the command again (`pipevideo usage` shows the balance)."),
        400 => Failure::new(
            API,
            "bad_request",
            format!("The server refused the request (400: {message})."),
        )
        .hint("Check --model, --engine, --provider and the prompt; `pipevideo engines` lists the models."),
        404 => Failure::new(
            API,
            "not_found",
            format!("Not found (404: {message})."),
        )
        .hint("Check the reference: it must belong to this key's organization, and legacy ids need --legacy."),
        429 => {
            let waited = api
                .retry_after()
                .map(|d| format!("; the server asked to wait {}", human(d)))
                .unwrap_or_default();
            Failure::new(
                API,
                "rate_limited",
                format!("Rate limited (429 Too Many Requests: {message}){waited}."),
            )
            .hint("Wait a minute and try again; programs using the same key share its 100 requests per minute.")
        }
        _ => Failure::new(
            API,
            "server_error",
            format!("Could not {} (HTTP {status}: {message}).", stage.doing()),
        )
        .hint("The service may be having trouble; try again in a minute."),
    };
    failure.status(status)
}

fn wait_failure(wait: &WaitError) -> Failure {
    let r = wait.reference().clone();
    let resume = format!("Resume with `pipevideo wait {r}`.");
    let seen = match wait.last_status() {
        Some(status) => format!(" (last status {status}, {} polls)", wait.polls()),
        None => format!(" ({} polls)", wait.polls()),
    };
    let failure = match wait.kind() {
        WaitErrorKind::Failed(generation) => {
            let (cause, message, hint) = match generation.failure() {
                Some(f) => (
                    f.cause,
                    f.message.trim_end_matches('.').to_owned(),
                    failure_hint(f.cause),
                ),
                None => (FailureCause::Other, "no reason given".into(), failure_hint(FailureCause::Other)),
            };
            Failure::new(
                GENERATION_FAILED,
                "generation_failed",
                format!("Generation {r} failed ({cause}): {message}."),
            )
            .hint(hint)
        }
        WaitErrorKind::DeadlineExceeded { deadline, .. } => Failure::new(
            DEADLINE,
            "deadline",
            format!("Generation {r} did not finish within {}{seen}.", human(*deadline)),
        )
        .hint(format!(
            "It keeps running on the server: resume with `pipevideo wait {r}` (--timeout sets how long to wait)."
        )),
        WaitErrorKind::Cancelled => Failure::interrupted(Some(r.clone()), &format!("while waiting for {r}")),
        WaitErrorKind::Unauthorized { message } => Failure::new(
            API,
            "unauthorized",
            format!("The API key was refused while waiting for {r} ({}).", message.trim_end_matches('.')),
        )
        .hint(format!("Check the key (no spaces or newlines; not revoked), then {}", lower_first(&resume)))
        .status(401),
        WaitErrorKind::NotFound { message } => Failure::new(
            API,
            "not_found",
            format!("Generation {r} was not found ({}).", message.trim_end_matches('.')),
        )
        .hint("Check the reference: it must belong to this key's organization, and legacy ids need --legacy.")
        .status(404),
        WaitErrorKind::Fatal { message } => Failure::new(
            API,
            "wait_failed",
            format!("Waiting for {r} failed: {}{seen}.", message.trim_end_matches('.')),
        )
        .hint(resume),
        _ => Failure::new(API, "wait_failed", format!("{wait}.")).hint(resume),
    };
    failure.reference(Some(r))
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

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use http::{HeaderMap, StatusCode};
    use pipevideo::{ApiError, ApiKeyError};

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
