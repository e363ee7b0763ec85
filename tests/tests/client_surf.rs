//! The client conformance suite over surf, on async-std and on smol's executor, against the
//! emulator.
//!
//! Every case of the suite but one: `slow_headers_hit_the_attempt_timeout` fails on surf. After
//! an attempt times out waiting for headers, every retry times out too while the slow reply is
//! still pending (4 attempts × 300 ms, all "no complete response within 300ms"), where reqwest's
//! first retry succeeds at once. This points at surf's h1 connection pool handing the abandoned
//! connection to the next request. Reported to the transport's owner; the case joins this list
//! once the transport is fixed (to reproduce: add it to the list below).

#[path = "../src/client_cases.rs"]
mod client_cases;

macro_rules! surf_cases {
    ($block_on:path) => {
        $crate::client_cases::client_conformance!(@cases pipevideo_surf::SurfTransport::new(), $block_on;
            bad_request_is_final,
            no_credits_is_a_final_bad_request,
            unauthorized_is_final,
            not_found_is_final,
            orpc_error_shapes_through_the_client,
            retry_after_is_honoured_in_real_time,
            server_error_is_retried_with_backoff,
            html_gateway_pages_are_retried,
            connection_refused_is_a_typed_not_sent_error,
            reset_mid_body_is_retried,
            oversized_body_is_a_typed_error,
            pacing_keeps_every_window_under_the_limit,
            retried_create_keeps_its_idempotency_key,
            generate_and_download_a_valid_mp4,
            no_key_in_any_log_line,
        );
    };
}

surf_cases!(async_std::task::block_on);

/// The same cases driven by `async_io::block_on` (smol's executor).
mod on_smol {
    surf_cases!(async_io::block_on);
}
