//! End-to-end suites of the Pipevideo SDK over every transport and the emulator.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
