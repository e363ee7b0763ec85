//! The transport conformance suite over surf, on async-std, on smol's executor and on tokio.

use pipevideo_surf::SurfTransport;

pipevideo_tests::transport_conformance! {
    transport: SurfTransport::new(),
    block_on: async_std::task::block_on,
}

/// The same suite again, driven by `async_io::block_on` (smol's executor) instead.
mod on_smol {
    use pipevideo_surf::SurfTransport;

    pipevideo_tests::transport_conformance! {
        transport: SurfTransport::new(),
        block_on: async_io::block_on,
    }
}

/// And on a tokio runtime: surf's sockets run on async-std's reactor and the timers on
/// async-io's, whatever executor polls the futures.
mod on_tokio {
    use pipevideo_surf::SurfTransport;

    fn block_on(future: impl std::future::Future<Output = ()>) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
            .block_on(future);
    }

    pipevideo_tests::transport_conformance! {
        transport: SurfTransport::new(),
        block_on: block_on,
    }
}
