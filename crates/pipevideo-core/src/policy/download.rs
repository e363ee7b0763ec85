//! [`DownloadPolicy`]: the bounds of one video download, and how a cut one is resumed.

use std::time::Duration;

use crate::transport::DownloadOptions;

/// The bounds of a video download and its resumption, for `Client::download` and
/// `Client::save`.
///
/// A download is bounded four ways, each a typed error that names it
/// ([`DownloadBound`](crate::DownloadBound)): how long the host may take to send its headers,
/// how long the body may stall between two chunks, how long the whole download may take
/// (across resumes and URL refreshes), and how large the video may be. A download cut
/// mid-body is resumed (`Client::save` only: a sink cannot be rewound) up to
/// [`max_resumes`](Self::max_resumes) times in a row without a new byte.
///
/// ```
/// use std::time::Duration;
/// use pipevideo_core::policy::DownloadPolicy;
///
/// let policy = DownloadPolicy::default()
///     .with_idle_timeout(Duration::from_secs(10))
///     .with_max_bytes(512 << 20);
/// assert_eq!(policy.header_timeout(), DownloadPolicy::DEFAULT_HEADER_TIMEOUT);
/// assert_eq!(policy.attempt_options().max_bytes(), Some(512 << 20));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DownloadPolicy {
    header_timeout: Duration,
    idle_timeout: Duration,
    deadline: Duration,
    max_bytes: u64,
    max_resumes: u32,
    resume_delay: Duration,
}

impl DownloadPolicy {
    /// Time allowed until the host's response headers arrive: 30 s.
    pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
    /// Time the body may stall between two chunks: 30 s.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30);
    /// Time allowed for the whole download, resumes and refreshes included: 1 hour (the
    /// default size cap at about 5 Mbit/s).
    pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60 * 60);
    /// The largest video accepted: 2 GiB.
    pub const DEFAULT_MAX_BYTES: u64 = 2 << 30;
    /// Resumes in a row without a new byte before a cut download fails: 5.
    pub const DEFAULT_MAX_RESUMES: u32 = 5;
    /// The pause before a resume that follows an attempt which brought no new byte: 500 ms. A
    /// resume after progress goes at once.
    pub const DEFAULT_RESUME_DELAY: Duration = Duration::from_millis(500);

    /// The defaults (see the [module table](super)).
    pub const fn new() -> Self {
        Self {
            header_timeout: Self::DEFAULT_HEADER_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            deadline: Self::DEFAULT_DEADLINE,
            max_bytes: Self::DEFAULT_MAX_BYTES,
            max_resumes: Self::DEFAULT_MAX_RESUMES,
            resume_delay: Self::DEFAULT_RESUME_DELAY,
        }
    }

    /// Bound the time until the host's response headers arrive (per attempt).
    #[must_use]
    pub const fn with_header_timeout(mut self, timeout: Duration) -> Self {
        self.header_timeout = timeout;
        self
    }

    /// Bound the time the body may stall between two chunks.
    #[must_use]
    pub const fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Bound the whole download, across resumes and URL refreshes.
    #[must_use]
    pub const fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Refuse a video over `max` bytes: before writing anything when the host announces the
    /// size, else as soon as the next chunk would cross it (the file never grows past it).
    #[must_use]
    pub const fn with_max_bytes(mut self, max: u64) -> Self {
        self.max_bytes = max;
        self
    }

    /// How many resumes in a row may bring no new byte before a cut download fails (0: never
    /// resume).
    #[must_use]
    pub const fn with_max_resumes(mut self, resumes: u32) -> Self {
        self.max_resumes = resumes;
        self
    }

    /// The pause before a resume that follows an attempt which brought no new byte.
    #[must_use]
    pub const fn with_resume_delay(mut self, delay: Duration) -> Self {
        self.resume_delay = delay;
        self
    }

    /// The header timeout.
    pub const fn header_timeout(&self) -> Duration {
        self.header_timeout
    }

    /// The idle timeout between two chunks.
    pub const fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// The whole download's deadline.
    pub const fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The size cap in bytes.
    pub const fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Resumes in a row without a new byte.
    pub const fn max_resumes(&self) -> u32 {
        self.max_resumes
    }

    /// The pause before a resume that brought nothing.
    pub const fn resume_delay(&self) -> Duration {
        self.resume_delay
    }

    /// What one attempt asks of the transport: the header and idle timeouts and the size cap
    /// (the deadline and the cap across resumes are the client's to keep).
    pub const fn attempt_options(&self) -> DownloadOptions {
        DownloadOptions::new()
            .with_timeout(self.header_timeout)
            .with_idle_timeout(self.idle_timeout)
            .with_max_bytes(self.max_bytes)
    }
}

impl Default for DownloadPolicy {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_bound_every_way() {
        let p = DownloadPolicy::default();
        let o = p.attempt_options();
        assert_eq!(o.timeout(), Some(Duration::from_secs(30)));
        assert_eq!(o.idle_timeout(), Some(Duration::from_secs(30)));
        assert_eq!(o.max_bytes(), Some(2 * 1024 * 1024 * 1024));
        assert_eq!(p.deadline(), Duration::from_secs(3600));
        assert_eq!(p.max_resumes(), 5);
    }
}
