//! The transport conformance suite over reqwest on a tokio runtime.

use std::future::Future;

use pipevideo_core::transport::{Clock, HttpClient, SendOptions};
use pipevideo_reqwest::ReqwestTransport;
use pipevideo_tests::server::{Recorded, Reply, Server, response};

fn block_on(future: impl Future<Output = ()>) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(future);
}

pipevideo_tests::transport_conformance! {
    transport: ReqwestTransport::new().expect("a reqwest client"),
    block_on: block_on,
}

/// A client the user built with reqwest's default redirect policy follows a redirect to
/// another host, but without the `Authorization` header.
#[test]
fn user_client_with_default_redirects_drops_authorization_across_hosts() {
    block_on(async {
        let elsewhere =
            Server::start(|_: &Recorded| Reply::Raw(response(200, "OK", &[], b"there")));
        let location = elsewhere.url("/collect");
        let server = Server::start(move |_: &Recorded| {
            Reply::Raw(response(
                302,
                "Found",
                &[("location", location.as_bytes())],
                b"",
            ))
        });
        let transport = ReqwestTransport::from(reqwest::Client::new());
        let request = http::Request::get(server.url("/"))
            .header("authorization", "Bearer pv_secret")
            .body(Vec::new())
            .unwrap();
        let reply = transport.send(request, SendOptions::new()).await.unwrap();
        assert_eq!(reply.body(), b"there");
        let seen = elsewhere.requests();
        assert_eq!(seen.len(), 1);
        assert!(
            seen[0].header_values("authorization").is_empty(),
            "{:?}",
            seen[0]
        );
        assert_eq!(
            server.requests()[0].header_values("authorization"),
            [b"Bearer pv_secret"]
        );
    });
}

/// `now` follows tokio's clock, so paused time drives the transport in virtual time.
#[test]
fn now_follows_tokio_paused_time() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
        .block_on(async {
            let transport = ReqwestTransport::new().unwrap();
            let before = transport.now();
            transport.sleep(std::time::Duration::from_secs(3600)).await;
            assert!(transport.now() - before >= std::time::Duration::from_secs(3600));
        });
}
