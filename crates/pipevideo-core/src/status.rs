//! One lifecycle for both API generations.

use std::fmt;

/// Where a generation is in its lifecycle, for both API generations.
///
/// The legacy API says `pending`/`processing`, the responses API `queued`/`in_progress`; both map
/// onto one lifecycle: [`Status::Queued`] → [`Status::Running`] → [`Status::Completed`] |
/// [`Status::Failed`]. Only `Completed` and `Failed` are terminal. A status string the SDK does not
/// know is kept as [`Status::Unknown`]: it is never an error and never terminal, so a wait goes on
/// (within its deadline) when the server adds a new state.
///
/// ```
/// use pipevideo_core::Status;
/// assert_eq!(Status::from_wire("pending"), Status::Queued);
/// assert_eq!(Status::from_wire("in_progress"), Status::Running);
/// assert!(Status::from_wire("completed").is_terminal());
/// let odd = Status::from_wire("throttled");
/// assert!(!odd.is_terminal());
/// assert_eq!(odd.to_string(), "throttled");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// Accepted, not started (`pending` on the legacy API, `queued` on the responses API).
    Queued,
    /// Being orchestrated or rendered (`processing` legacy, `in_progress` responses).
    Running,
    /// Finished with a video. Terminal.
    Completed,
    /// Finished without a video. Terminal.
    Failed,
    /// A status string this SDK does not know, kept verbatim. Never terminal.
    Unknown(String),
}

impl Status {
    /// Maps a wire status string of either API generation. Never fails.
    pub fn from_wire(s: &str) -> Self {
        match s {
            "pending" | "queued" => Self::Queued,
            // `running` is this SDK's own word (what `Display` and `Serialize` print), so that
            // what the SDK writes reads back.
            "processing" | "in_progress" | "running" => Self::Running,
            "completed" => Self::Completed,
            "failed" => Self::Failed,
            other => Self::Unknown(other.to_owned()),
        }
    }

    /// Whether the generation can no longer change: `Completed` or `Failed`.
    pub fn is_terminal(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed)
    }

    /// The lifecycle word used in this SDK's output (`queued`, `running`, `completed`,
    /// `failed`, or the unknown string as received).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Unknown(s) => s,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Status {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Self::from_wire(&s))
    }
}

impl serde::Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
