//! What a person (or a script) sees: a spinner on a terminal, plain lines otherwise, nothing but
//! one JSON document with `--json`.
//!
//! Progress and notes go to stderr; results go to stdout, so `pipevideo generate … > out.txt`
//! keeps the results and shows the progress.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use pipevideo::core::poll::Event;
use pipevideo::{GenerationRef, Status};

use crate::duration::human;

/// How output is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// A terminal: spinner and download bar on stderr.
    Fancy,
    /// Not a terminal (or `-v`): plain progress lines on stderr.
    Plain,
    /// `--json`: no progress, one JSON document on stdout.
    Json,
}

impl Mode {
    pub(crate) fn detect(json: bool, verbose: bool) -> Self {
        if json {
            Self::Json
        } else if !verbose && std::io::stdout().is_terminal() && std::io::stderr().is_terminal() {
            Self::Fancy
        } else {
            Self::Plain
        }
    }
}

/// The reporter shared by the commands and the observing transport.
#[derive(Debug)]
pub(crate) struct Ui {
    mode: Mode,
    bar: Mutex<Option<ProgressBar>>,
    state: Mutex<WaitState>,
    requests: AtomicU32,
    troubles: AtomicU32,
}

#[derive(Debug, Default)]
struct WaitState {
    reference: Option<String>,
    status: Option<Status>,
    polls: u32,
    started: Option<Instant>,
}

impl Ui {
    pub(crate) fn new(mode: Mode) -> Self {
        Self {
            mode,
            bar: Mutex::new(None),
            state: Mutex::new(WaitState::default()),
            requests: AtomicU32::new(0),
            troubles: AtomicU32::new(0),
        }
    }

    /// A line for a person, on stderr (above the spinner if there is one). Silent with `--json`.
    /// Control characters (which a server's text may carry) are escaped.
    pub(crate) fn note(&self, line: &str) {
        let line = &*printable(line);
        match self.mode {
            Mode::Json => {}
            Mode::Plain => eprintln!("{line}"),
            Mode::Fancy => match lock(&self.bar).as_ref() {
                Some(bar) => bar.println(line),
                None => eprintln!("{line}"),
            },
        }
    }

    /// A result line on stdout (text modes only).
    pub(crate) fn result(&self, line: &str) {
        let line = &*printable(line);
        if self.mode != Mode::Json {
            let bar = lock(&self.bar);
            match bar.as_ref() {
                Some(bar) => bar.suspend(|| println!("{line}")),
                None => println!("{line}"),
            }
        }
    }

    /// One HTTP exchange went out (counted for the summary).
    pub(crate) fn request_sent(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// An exchange the SDK will have to handle (429, 5xx, cut connection, broken body).
    pub(crate) fn trouble(&self, line: &str) {
        self.troubles.fetch_add(1, Ordering::Relaxed);
        self.note(&format!("  ↻ {line}"));
    }

    pub(crate) fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(crate) fn troubles(&self) -> u32 {
        self.troubles.load(Ordering::Relaxed)
    }

    /// A wait on `reference` starts: the spinner appears.
    pub(crate) fn start_wait(&self, reference: &GenerationRef) {
        {
            let mut state = lock(&self.state);
            *state = WaitState {
                reference: Some(reference.to_string()),
                status: None,
                polls: 0,
                started: Some(Instant::now()),
            };
        }
        if self.mode == Mode::Fancy {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner:.cyan} {msg} {elapsed:.dim}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            *lock(&self.bar) = Some(bar);
            self.refresh();
        } else {
            self.note(&format!("Waiting for {reference}…"));
        }
    }

    /// A progress event of the wait.
    pub(crate) fn event(&self, event: &Event) {
        match event {
            Event::PollSent { attempt, .. } => {
                lock(&self.state).polls = *attempt;
            }
            Event::StatusChanged { to, .. } => {
                let line = {
                    let mut state = lock(&self.state);
                    state.status = Some(to.clone());
                    let elapsed = state.started.map(|s| s.elapsed()).unwrap_or_default();
                    format!(
                        "  status {:<11} after {} ({} poll{})",
                        to.to_string(),
                        human(elapsed),
                        state.polls,
                        if state.polls == 1 { "" } else { "s" }
                    )
                };
                if self.mode == Mode::Plain {
                    self.note(&line);
                }
            }
            _ => {}
        }
        self.refresh();
    }

    fn refresh(&self) {
        if let Some(bar) = lock(&self.bar).as_ref() {
            let state = lock(&self.state);
            let status = state
                .status
                .as_ref()
                .map_or_else(|| "created".to_owned(), ToString::to_string);
            let status = printable(&status).into_owned();
            bar.set_message(format!(
                "{} {status} · {} poll{}",
                state.reference.as_deref().unwrap_or(""),
                state.polls,
                if state.polls == 1 { "" } else { "s" }
            ));
        }
    }

    /// The wait ended: the spinner goes away. Returns (polls, time waited).
    pub(crate) fn end_wait(&self) -> (u32, Duration) {
        if let Some(bar) = lock(&self.bar).take() {
            bar.finish_and_clear();
        }
        let state = lock(&self.state);
        (
            state.polls,
            state.started.map(|s| s.elapsed()).unwrap_or_default(),
        )
    }

    /// A download starts: a byte counter on a terminal.
    pub(crate) fn start_download(&self, what: &str) -> Option<ProgressBar> {
        match self.mode {
            Mode::Fancy => {
                let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner:.cyan} downloading {msg} {bytes} ({binary_bytes_per_sec}) {elapsed:.dim}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                );
                bar.set_message(what.to_owned());
                bar.enable_steady_tick(Duration::from_millis(100));
                *lock(&self.bar) = Some(bar.clone());
                Some(bar)
            }
            Mode::Plain => {
                self.note(&format!("Downloading {what}…"));
                None
            }
            Mode::Json => None,
        }
    }

    /// A download's progress: the bar shows the bytes kept, the rate, and once the host
    /// announced the size, how far along it is.
    pub(crate) fn download_event(&self, event: &Event) {
        match event {
            Event::Downloading { received, total } => {
                if let Some(bar) = lock(&self.bar).as_ref() {
                    if let Some(total) = total
                        && bar.length() != Some(*total)
                    {
                        bar.set_length(*total);
                        bar.set_style(
                            ProgressStyle::with_template(
                                "{spinner:.cyan} downloading {msg} {wide_bar} {bytes}/{total_bytes} ({binary_bytes_per_sec}, {eta})",
                            )
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                        );
                    }
                    bar.set_position(*received);
                }
            }
            Event::DownloadResumed { offset } => {
                let line = if *offset == 0 {
                    "  the download was cut and the host cannot resume: starting over".to_owned()
                } else {
                    format!("  the download was cut: resuming from byte {offset}")
                };
                self.note(&line);
            }
            _ => {}
        }
    }

    pub(crate) fn end_download(&self) {
        if let Some(bar) = lock(&self.bar).take() {
            bar.finish_and_clear();
        }
    }

    /// Prints a JSON document on stdout (`--json` only).
    pub(crate) fn json(&self, value: &serde_json::Value) {
        if self.mode == Mode::Json {
            let mut out = std::io::stdout().lock();
            let _ = serde_json::to_writer_pretty(&mut out, value);
            let _ = writeln!(out);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `text` with every control character but newline escaped (a tab too: it can hide text) (`\u{1b}`), so that text
/// from a server (an error message, a status, a model name) cannot move the cursor, change
/// colours or retitle the terminal. Borrows when there is nothing to escape.
pub(crate) fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() && c != '\n';
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

#[cfg(test)]
mod printable_tests {
    use super::printable;

    #[test]
    fn escape_sequences_and_other_controls_are_escaped_text_is_kept() {
        assert_eq!(
            printable("bad \u{1b}[31mred\u{7}\r over"),
            "bad \\u{1b}[31mred\\u{7}\\u{d} over"
        );
        assert_eq!(
            printable("line one\n\tline two é ↻"),
            "line one\n\\u{9}line two é ↻"
        );
        assert!(matches!(printable("plain"), std::borrow::Cow::Borrowed(_)));
        // C1 controls too (some terminals take U+009B as CSI).
        assert_eq!(printable("a\u{9b}b"), "a\\u{9b}b");
    }
}
