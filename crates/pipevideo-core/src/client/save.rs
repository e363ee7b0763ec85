//! Saving a video to a file in one call: [`Client::save`], [`SaveOptions`], [`SavedVideo`].
//!
//! The file is written as a temporary file beside the target and renamed into place when
//! complete, so the target either does not change or holds the whole video:
//!
//! 1. The target is checked before anything is sent: an existing target is refused unless
//!    [`SaveOptions::overwrite`], a directory always, a missing directory too.
//! 2. The temporary file (`.{name}.{random}.part` in the target's directory, see
//!    [`temp_file_name`]) is created with `create_new` (`O_CREAT | O_EXCL`, through `tempfile`):
//!    a name that exists, a symlink included, is never opened, and another name is tried. So a
//!    directory that cannot be written is also found before any request.
//! 3. The video streams into it under the [`DownloadPolicy`] (timeouts, deadline, size cap), a
//!    cut body resuming with `Range` from the bytes written ([`VideoFetch`]).
//! 4. Complete: `fsync`, then an atomic rename onto the target (without `overwrite`, one that
//!    refuses to replace a target created in the meantime), then an `fsync` of the directory.
//!
//! The temporary file is removed on every failure, on cancel through the token, and when the
//! future is dropped (Ctrl-C).
//!
//! Writes are blocking `std::fs` calls on the task that runs the save (the core has no runtime
//! to move them to): a local disk takes them into its page cache at once, but the final
//! `fsync` waits for the disk.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::download::Destination;
use super::{CancelToken, Client, lock};
use crate::download::{Placement, TEMP_NAME_TRIES, VideoFetch, temp_file_name};
use crate::model::Generation;
use crate::policy::DownloadPolicy;
use crate::transport::{ChunkSink, Transport};
use crate::{DownloadError, Error, GenerationRef};

/// Options of one [`Client::save`].
///
/// ```
/// use pipevideo_core::client::{CancelToken, SaveOptions};
///
/// let options = SaveOptions::new().overwrite(true).with_cancel(CancelToken::new());
/// assert!(options.overwrites());
/// ```
#[derive(Debug, Clone, Default)]
pub struct SaveOptions {
    overwrite: bool,
    cancel: Option<CancelToken>,
    policy: Option<DownloadPolicy>,
}

impl SaveOptions {
    /// Refuse an existing target, the client's download policy, no cancel token.
    pub fn new() -> Self {
        Self::default()
    }

    /// Replace an existing target (atomically: it holds the old file or the new one).
    #[must_use]
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.overwrite = overwrite;
        self
    }

    /// A token that cancels the save from elsewhere (the temporary file is removed).
    #[must_use]
    pub fn with_cancel(mut self, token: CancelToken) -> Self {
        self.cancel = Some(token);
        self
    }

    /// Bounds for this save instead of the client's
    /// ([`ClientBuilder::download_policy`](super::ClientBuilder::download_policy)).
    #[must_use]
    pub fn with_policy(mut self, policy: DownloadPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// Whether an existing target is replaced.
    pub fn overwrites(&self) -> bool {
        self.overwrite
    }
}

/// Which video to save: a generation at hand (its video URL is used, and refreshed if it
/// expired), or a reference (the generation is retrieved first).
#[derive(Debug, Clone, Copy)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed by nature: the generation, or its reference"
)]
pub enum VideoSource<'a> {
    /// A completed generation, as a wait returned it.
    Generation(&'a Generation),
    /// A generation's reference: retrieved first.
    Reference(&'a GenerationRef),
}

impl<'a> From<&'a Generation> for VideoSource<'a> {
    fn from(generation: &'a Generation) -> Self {
        Self::Generation(generation)
    }
}

impl<'a> From<&'a GenerationRef> for VideoSource<'a> {
    fn from(reference: &'a GenerationRef) -> Self {
        Self::Reference(reference)
    }
}

impl VideoSource<'_> {
    fn reference(&self) -> &GenerationRef {
        match self {
            Self::Generation(g) => g.reference(),
            Self::Reference(r) => r,
        }
    }
}

/// A video saved by [`Client::save`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SavedVideo {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// The host's `Content-Type`, if it sent one.
    pub content_type: Option<String>,
    /// How long the save took, from the call to the rename.
    pub elapsed: Duration,
    /// How many times a cut download went on with a new request.
    pub resumes: u32,
    /// How many times an expired video URL was refreshed.
    pub refreshes: u32,
}

impl<T: Transport> Client<T> {
    /// Saves the generation's video to `path`, safely, bounded and resumable: streamed into a
    /// temporary file beside `path` (created with `create_new`, never through a symlink),
    /// `fsync`ed and renamed into place; an existing `path` is refused unless
    /// [`SaveOptions::overwrite`]; the temporary file is removed on every failure, on cancel and
    /// when the future is dropped.
    ///
    /// 1. The target is checked before anything is sent: an existing target is refused unless
    ///    [`SaveOptions::overwrite`], a directory always, a missing directory too.
    /// 2. The temporary file (`.{name}.{random}.part` beside the target, see
    ///    [`temp_file_name`]) is created with `create_new` (`O_CREAT | O_EXCL`): a name that
    ///    exists, a symlink included, is never opened, and another name is tried. A directory
    ///    that cannot be written is found here, also before any request.
    /// 3. The video streams into it, a cut body resuming with `Range` from the bytes written
    ///    ([`VideoFetch`]).
    /// 4. Complete: `fsync`, then an atomic rename onto the target (without `overwrite`, one
    ///    that refuses to replace a target created in the meantime), then an `fsync` of the
    ///    directory.
    ///
    /// Writes are blocking `std::fs` calls on the task that runs the save (the core has no
    /// runtime to move them to): a local disk takes them into its page cache at once, but the
    /// final `fsync` waits for the disk.
    ///
    /// `video` is a `&Generation` (a completed one, as a wait returns it) or a
    /// `&GenerationRef` (retrieved first). The download keeps the client's
    /// [`DownloadPolicy`] (or [`SaveOptions::with_policy`]): a stall or an over-size video is a
    /// [`DownloadError`] naming the bound; a cut body continues with `Range` from the bytes
    /// written, or starts over when the host cannot resume; an expired signed URL is refreshed.
    /// Progress ([`Event::Downloading`](crate::poll::Event::Downloading)) goes to the
    /// generation's [`progress`](Client::progress) streams; a stream subscribed after the wait
    /// ended ends with the save.
    ///
    /// Errors are [`Error::Download`] (local file failures have
    /// [`DownloadError::io_kind`], `AlreadyExists` for a kept target; a cancel is
    /// [`ErrorKind::Cancelled`](crate::ErrorKind::Cancelled)), or the retrieve's error.
    ///
    /// ```no_run
    /// # async fn demo<T: pipevideo_core::transport::Transport>(client: pipevideo_core::client::Client<T>, video: pipevideo_core::model::Generation) -> Result<(), pipevideo_core::Error> {
    /// use pipevideo_core::client::SaveOptions;
    ///
    /// let saved = client.save(&video, "cat.mp4", SaveOptions::new()).await?;
    /// println!("{} bytes in {}", saved.bytes, saved.path.display());
    /// # Ok(()) }
    /// ```
    pub async fn save<'a>(
        &self,
        video: impl Into<VideoSource<'a>>,
        path: impl AsRef<Path>,
        options: SaveOptions,
    ) -> Result<SavedVideo, Error> {
        let started = self.inner.transport.now();
        let video = video.into();
        let path = path.as_ref();
        let reference = video.reference().clone();
        let local =
            |what: &str, e: &io::Error| Error::from(DownloadError::local(&reference, what, e));
        let (dir, name) =
            check_target(path, options.overwrite).map_err(|(what, e)| local(&what, &e))?;
        let temp = self
            .create_temp(&dir, &name)
            .map_err(|e| local(&format!("cannot create a file in {}", dir.display()), &e))?;
        let generation = match video {
            VideoSource::Generation(g) => Cow::Borrowed(g),
            VideoSource::Reference(r) => Cow::Owned(self.retrieve(r).await?),
        };
        let policy = options.policy.unwrap_or(self.inner.settings.download);
        let mut fetch = VideoFetch::new(&generation).resumable().with_policy(policy);
        let mut sink = FileSink(BufWriter::with_capacity(WRITE_BUFFER, temp.as_file()));
        let result = self
            .fetch_bounded(&mut fetch, &mut sink, options.cancel.as_ref())
            .await;
        self.end_report(&reference);
        let bytes = result?;
        sink.0
            .flush()
            .and_then(|()| temp.as_file().sync_all())
            .map_err(|e| local("cannot write the video", &e))?;
        drop(sink);
        let placed = if options.overwrite {
            temp.persist(path).map(drop)
        } else {
            temp.persist_noclobber(path).map(drop)
        };
        placed.map_err(|e| {
            let what = if e.error.kind() == io::ErrorKind::AlreadyExists {
                format!(
                    "{} appeared during the download and is kept",
                    path.display()
                )
            } else {
                format!("cannot move the video to {}", path.display())
            };
            local(&what, &e.error)
        })?;
        // The rename is durable once the directory is: best effort (some file systems refuse).
        if let Ok(d) = File::open(&dir) {
            let _ = d.sync_all();
        }
        Ok(SavedVideo {
            path: path.to_path_buf(),
            bytes,
            content_type: fetch.content_type().map(str::to_owned),
            elapsed: self
                .inner
                .transport
                .now()
                .saturating_duration_since(started),
            resumes: fetch.resumes(),
            refreshes: fetch.refreshes(),
        })
    }

    /// The temporary file, under a name from the OS RNG, created with `create_new`.
    fn create_temp(
        &self,
        dir: &Path,
        name: &std::ffi::OsStr,
    ) -> io::Result<tempfile::NamedTempFile> {
        let mut last = io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name");
        for _ in 0..TEMP_NAME_TRIES {
            let temp_name = temp_file_name(name, &mut lock(&self.inner.shared).entropy);
            let mut builder = tempfile::Builder::new();
            builder.prefix(&temp_name).rand_bytes(0);
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                // What `File::create` asks for: the umask then gives the usual 0644.
                builder.permissions(std::fs::Permissions::from_mode(0o666));
            }
            match builder.tempfile_in(dir) {
                Ok(file) => return Ok(file),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }
}

/// Bytes gathered before one write to the file: 256 KiB.
const WRITE_BUFFER: usize = 1 << 18;

/// The target's directory and file name, if it may be written: refused when it is a directory,
/// when its directory does not exist, or when it exists and `overwrite` is off.
fn check_target(
    path: &Path,
    overwrite: bool,
) -> Result<(PathBuf, std::ffi::OsString), (String, io::Error)> {
    let shown = path.display();
    let name = path.file_name().ok_or_else(|| {
        (
            format!("{shown} does not name a file"),
            io::Error::from(io::ErrorKind::InvalidInput),
        )
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err((
                format!("{} is not a directory", dir.display()),
                io::Error::from(io::ErrorKind::NotADirectory),
            ));
        }
        Err(e) => return Err((format!("the directory {} is not usable", dir.display()), e)),
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Err((
            format!("{shown} is a directory"),
            io::Error::from(io::ErrorKind::IsADirectory),
        )),
        Ok(_) if !overwrite => Err((
            format!("{shown} exists and is kept (overwrite it on purpose)"),
            io::Error::from(io::ErrorKind::AlreadyExists),
        )),
        Ok(_) => Ok((dir, name.to_os_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((dir, name.to_os_string())),
        Err(e) => Err((format!("cannot inspect {shown}"), e)),
    }
}

/// The temporary file as a destination: buffered writes, rewound on a start-over.
struct FileSink<'a>(BufWriter<&'a File>);

#[async_trait::async_trait]
impl ChunkSink for FileSink<'_> {
    async fn write_chunk(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.0.write_all(chunk)
    }

    async fn finish(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl Destination for FileSink<'_> {
    fn place(&mut self, placement: Placement, kept: u64) -> io::Result<()> {
        let at = match placement {
            Placement::Append => kept,
            Placement::StartOver => 0,
        };
        self.0.flush()?;
        self.0.get_ref().set_len(at)?;
        self.0.seek(SeekFrom::Start(at))?;
        Ok(())
    }
}
