//! A local Pipevideo API server for tests, demos and CI: the documented protocol, realistic state, faults on demand.
#![deny(missing_docs)]
#![forbid(unsafe_code)]
