//! The retry engine: retry decisions, one deadline per call, a client-wide retry budget and
//! client-side pacing, all sans-IO (`now` and the RNG come in as arguments).
//!
//! Being written: [`pacing`] is the first part.

pub mod pacing;
