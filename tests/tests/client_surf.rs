//! The client conformance suite over surf, on async-std and on smol's executor, against the
//! emulator: every case of the suite, the same list as for reqwest.
//!
//! `slow_headers_hit_the_attempt_timeout` used to be left out here: surf's own h1 pool handed
//! the connection of a timed-out attempt to the retry, which then waited for (or read) the
//! abandoned reply. `SurfTransport::new` now pools connections itself and reuses one only after
//! its exchange completed (see the pipevideo-surf crate docs and its
//! `tests/connection_reuse.rs`).

#[path = "../src/client_cases.rs"]
mod client_cases;

client_cases::client_conformance! {
    transport: pipevideo_surf::SurfTransport::new(),
    block_on: async_std::task::block_on,
}

/// The same cases driven by `async_io::block_on` (smol's executor).
mod on_smol {
    crate::client_cases::client_conformance! {
        transport: pipevideo_surf::SurfTransport::new(),
        block_on: async_io::block_on,
    }
}
