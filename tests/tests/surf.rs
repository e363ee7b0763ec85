//! The transport conformance suite over surf, on async-std and on smol's executor.

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
