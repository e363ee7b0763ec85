//! The knobs, in one place: [`RetryPolicy`] (one call), [`WaitPolicy`] (one wait),
//! [`PacingPolicy`] (one client under the key's limit), [`DownloadPolicy`] (one video
//! download), and [`TimeScale`], which derives the first three for a server whose clock runs
//! faster or slower (the emulator).
//!
//! Policies are plain values with decorator-style builders (`with_*`), checked where a bad
//! number could do harm. The engines that apply them live elsewhere: the retry engine in
//! [`retry`](crate::retry), the poller and fleet in [`poll`](crate::poll), the pacer in
//! [`pacing`](crate::pacing).
//!
//! # Defaults
//!
//! Every number is configurable: [`RetryPolicy`] and [`Backoff`] per call,
//! [`RetryBudget`](crate::retry::RetryBudget) and [`PacingPolicy`] per client, [`WaitPolicy`]
//! per wait, [`DownloadPolicy`] per client or per save.
//!
//! | Setting | Default | Why |
//! |---|---|---|
//! | Per-attempt timeout | 30 s | Create answers at once (`queued`) and polls are small reads; 30 s tolerates a slow proxy yet leaves room for more attempts within the deadline. |
//! | Per-call deadline | 90 s | Room to wait out one full rate-limit window (a 429 asks at most ~60 s; the documented example is 42 s) and still make an attempt. |
//! | Attempts per call | 4 (1 + 3 retries) | Enough to ride out a blip or a proxy restart; more mostly adds load during an outage. |
//! | Backoff | base 500 ms, factor 2, cap 20 s, full jitter | Ceilings 0.5, 1, 2 s for the 3 retries; full jitter (uniform in `[0, ceiling]`) spreads many clients the most evenly. |
//! | Cap on server-asked waits | 120 s | Two rate-limit windows: a longer `retry_after` is not a rate limit the client can wait out within a call. |
//! | Create replay ([`CreateReplay`]) | with the idempotency key, as often as the attempts allow | The API says to retry 500s and the key lets a deduplicating server answer with the same generation; the docs do not promise deduplication, so `AtMostOnce` and `Never` bound what a server that ignores the key can cost. |
//! | Client-wide hold after a 429 | the asked delay, at most [`MAX_HOLD`](crate::retry::MAX_HOLD) (1 day) | Set by every 429, also one beyond a call's cap; a call that would wait for it longer than its cap fails at once with the time left. |
//! | Retry budget | 500 tokens; retry 5, retry after timeout 10; success refunds 1 | The AWS SDKs' retry quota: ~100 failed retries in a row stop retries client-wide. |
//! | Pacing | 90 requests per 60 s, bursts of 10 | A 10 % margin under the key's 100/min for arrival jitter and other users of the key. |
//! | Wait for a generation | 10 min ([`WaitPolicy::DEFAULT_DEADLINE`]) | Generations take about a minute; ten times that means something is wrong, and the error keeps the id for resuming. |
//! | Generate (create + wait) | the create call's deadline, then the wait's | No deadline of its own: `generate` is `create` (one call, 90 s) followed by `wait` (10 min). |
//! | Download: headers | 30 s per attempt | A video host answers at once or not at all; a stall before the headers must not hang a save. |
//! | Download: idle between chunks | 30 s | A stream that sends nothing for 30 s is stuck; a slow one still sends. |
//! | Download: whole download | 1 h | The size cap at about 5 Mbit/s; resumes and URL refreshes included. |
//! | Download: size cap | 2 GiB | Far above a generated clip (megabytes); an endless or wrong body stops there, and the file never grows past it. |
//! | Download: resumes | 5 in a row without a new byte, 500 ms apart; at once after progress | A cut download continues with `Range` from the bytes kept; a host that keeps cutting without sending anything is given up on. |
//!
//! The download bounds are about the video host and this machine's network, not the API's
//! clock: [`TimeScale`] leaves them as they are.
//!
mod backoff;
mod distribution;
mod download;
mod pacing;
mod retry;
mod scale;
mod schedule;
mod wait;

use std::time::Duration;

pub use backoff::{Backoff, Jitter};
pub use distribution::{DistributionError, LogNormal};
pub use download::DownloadPolicy;
pub use pacing::{MAX_WINDOW, PacingPolicy};
pub use retry::{CreateReplay, RetryPolicy};
pub use scale::{TimeScale, TimeScaleError};
pub use schedule::{AdaptiveSchedule, MAX_INTERVAL, PollSchedule, ScheduleError};
pub use wait::{TerminalWebhook, WaitPolicy, WaitPolicyError};

/// Seconds as a duration, saturating: NaN and anything at or below zero is zero, anything
/// beyond `Duration::MAX` (infinity included) is `Duration::MAX`. Every float that becomes a
/// duration in the policies and the poller goes through here, so that an extreme
/// configuration (a median of `Duration::MAX`, a far quantile) saturates instead of panicking.
pub(crate) fn saturating_secs(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        Duration::ZERO
    } else {
        Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
    }
}
