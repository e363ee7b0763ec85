//! End-to-end suites of the Pipevideo SDK over every transport and the emulator.
//!
//! - [`chaos`]: a client scaled to an emulator's clock and a recording transport, shared by
//!   the chaos soak and the secret sweep.
//! - [`server`]: a scripted loopback HTTP/1.1 server on raw `std::net` sockets, which can
//!   misbehave on purpose (reset mid-body, stall before the headers, send without end).
//! - [`redis_server`]: a real `redis-server` on a free loopback port, for the shared-pacing
//!   proof (`tests/shared_pacing.rs`, with its worker `src/bin/pacing_worker.rs`).
//! - [`conformance`]: the transport contract of
//!   [`pipevideo_core::transport`], written once as generic async functions; the
//!   [`transport_conformance!`] macro instantiates every case as a `#[test]` for one transport
//!   and one executor (see `tests/reqwest.rs` and `tests/surf.rs`).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod chaos;
pub mod conformance;
// One launcher for both suites: the Redis store's own tests keep it beside them (the crate is
// published and tested alone), and the end-to-end suites take the same file.
#[path = "../../crates/pipevideo-redis/tests/common/mod.rs"]
pub mod redis_server;
pub mod server;

/// Instantiate the whole transport conformance suite for one transport on one executor.
///
/// `transport` is an expression building the transport (evaluated once per test); `block_on`
/// is a path to a function `fn(impl Future<Output = ()>)` that runs a future to completion on
/// the executor under test.
///
/// ```text
/// pipevideo_tests::transport_conformance! {
///     transport: pipevideo_surf::SurfTransport::new(),
///     block_on: async_std::task::block_on,
/// }
/// ```
#[macro_export]
macro_rules! transport_conformance {
    (transport: $make:expr, block_on: $block_on:path $(,)?) => {
        $crate::transport_conformance!(@cases $make, $block_on;
            every_status_and_body_pass_through,
            html_502_is_a_response,
            request_is_sent_faithfully,
            repeated_response_headers_are_kept,
            non_ascii_request_header_is_refused_before_sending,
            non_ascii_response_header,
            connection_refused_is_not_sent,
            reset_mid_body_is_maybe_sent,
            closed_mid_body_is_maybe_sent,
            slow_headers_time_out_as_maybe_sent,
            slow_body_times_out,
            declared_oversized_body_is_refused_at_once,
            a_huge_declared_length_is_not_allocated,
            endless_body_stops_at_the_cap,
            body_at_the_cap_is_accepted,
            redirect_is_returned_not_followed,
            download_streams_in_chunks,
            download_of_an_error_status_writes_nothing,
            download_stops_at_max_bytes,
            download_idle_timeout,
            download_sink_failure_is_permanent,
            sleep_and_now_share_one_clock,
            wall_clock_is_the_system_clock
        );
    };
    (@cases $make:expr, $block_on:path; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let transport = $make;
                $block_on($crate::conformance::$case(&transport));
            }
        )*
    };
}
