//! What the commands that talk to the API share: [`Ctx`] (the session, the UI and the Ctrl-C
//! token they run with), running a request unless Ctrl-C comes first, and the argument checks
//! made before any request is sent (the generation reference, the `--output` path).

use std::future::Future;
use std::path::Path;
use std::sync::Arc;

use pipevideo::core::RefParseError;
use pipevideo::{CancelToken, Flavor, GenerationId, GenerationRef};

use crate::cli::RefArgs;
use crate::exit::{self, Failure};
use crate::session::Session;
use crate::ui::Ui;

/// What a command that talks to the API runs with.
pub(super) struct Ctx {
    pub(super) session: Session,
    pub(super) ui: Arc<Ui>,
    pub(super) cancel: CancelToken,
}

pub(super) fn reference(args: &RefArgs) -> Result<GenerationRef, Failure> {
    let bad = |e: String| {
        Failure::new(exit::USAGE, "usage", format!("That is not a generation reference: {e}."))
            .hint("Pass the reference `pipevideo generate` printed, e.g. responses:gen_abc123, or --legacy gen_abc123.")
    };
    match (&args.reference, &args.legacy) {
        (_, Some(id)) => GenerationId::new(id.trim())
            .map(|id| GenerationRef::new(Flavor::Legacy, id))
            .map_err(|e| bad(e.to_string())),
        (Some(r), None) => r
            .trim()
            .parse()
            .map_err(|e: RefParseError| bad(e.to_string())),
        (None, None) => Err(bad("none was given".into())),
    }
}

impl Ctx {
    /// Runs `fut` unless Ctrl-C comes first.
    pub(super) async fn interruptible<T>(
        &self,
        fut: impl Future<Output = T>,
        reference: Option<&GenerationRef>,
        what: &str,
    ) -> Result<T, Failure> {
        tokio::select! {
            value = fut => Ok(value),
            () = self.cancel.cancelled() => Err(Failure::interrupted(reference.cloned(), what)),
        }
    }
}

/// Refuses an `--output` path that cannot work before anything is created (and paid for): a
/// directory, a missing or unwritable directory, an existing file without `--force`. The
/// directory is probed with an unnamed temporary file (`O_TMPFILE` on Linux: no name ever
/// appears; elsewhere one is created and removed at once).
pub(super) fn check_output(path: &Path, force: bool) -> Result<(), Failure> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let refuse = |why: String, hint: &str| {
        Failure::new(
            exit::USAGE,
            "usage",
            format!("--output {}: {why}.", path.display()),
        )
        .hint(format!("Nothing was sent or created; {hint}"))
    };
    let elsewhere = "pick a path in an existing, writable directory.";
    if path.is_dir() {
        return Err(refuse("is a directory".into(), elsewhere));
    }
    if !dir.is_dir() {
        return Err(refuse(
            format!("the directory {} does not exist", dir.display()),
            elsewhere,
        ));
    }
    if let Err(e) = tempfile::tempfile_in(dir) {
        return Err(refuse(
            format!("the directory {} is not writable ({e})", dir.display()),
            elsewhere,
        ));
    }
    if !force && std::fs::symlink_metadata(path).is_ok() {
        return Err(refuse(
            "the file exists".into(),
            "pass --force to replace it, or pick another path.",
        ));
    }
    Ok(())
}
