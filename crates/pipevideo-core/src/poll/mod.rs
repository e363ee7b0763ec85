//! Waiting for a generation: the sans-IO [`Poller`], the adaptive [`PollSchedule`], the
//! [`Fleet`] scheduler for many generations on one key, and a virtual-time [`sim`]ulator.
//!
//! (module docs being written)

mod distribution;
mod fleet;
mod learn;
mod poller;
mod progress;
mod schedule;
pub mod sim;

pub use distribution::{DistributionError, LogNormal};
pub use fleet::{Fleet, FleetError, FleetEvent};
pub use learn::DurationLearner;
pub use poller::{
    Outcome, OutcomeKind, PollFailure, Poller, Snapshot, Transmit, WaitPolicy, WaitPolicyError,
};
pub use progress::{Event, FailureKind};
pub use schedule::{AdaptiveSchedule, PollSchedule, ScheduleError};
