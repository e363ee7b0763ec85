//! The client conformance suite over reqwest on a tokio runtime, against the emulator.

#[path = "../src/client_cases.rs"]
mod client_cases;

use std::future::Future;

fn block_on(future: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future);
}

client_cases::client_conformance! {
    transport: pipevideo_reqwest::ReqwestTransport::new().expect("a reqwest client"),
    block_on: block_on,
}
