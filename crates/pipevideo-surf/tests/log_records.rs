//! The key never reaches a `log` record, even at `TRACE`.
//!
//! async-h1's own client (`async_h1::client::connect`, which surf's own h1 client calls) logs
//! every request's `Debug` at `TRACE`, headers included. This crate's pool drives async-h1's
//! encoder and decoder itself and logs nothing of the request. The test captures every record
//! of the process (its own test binary: the logger is process-wide).
#![cfg(feature = "h1-client")]

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Mutex, PoisonError};
use std::thread;

use pipevideo_core::transport::{HttpClient, SendOptions};
use pipevideo_surf::SurfTransport;

const KEY: &str = "pv_LOGSWEEP0123456789abcdef";

static RECORDS: Mutex<String> = Mutex::new(String::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        let line = format!("{} {} {}\n", record.level(), record.target(), record.args());
        RECORDS
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_str(&line);
    }
    fn flush(&self) {}
}

fn take_records() -> String {
    std::mem::take(&mut *RECORDS.lock().unwrap_or_else(PoisonError::into_inner))
}

/// Answers every request of every connection with `200 ok`.
fn server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("address");
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            thread::spawn(move || {
                let mut reader = BufReader::new(stream);
                loop {
                    let mut line = String::new();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => {
                            let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                            if reader.get_mut().write_all(reply).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    addr
}

async fn send_with_key(transport: &SurfTransport, addr: SocketAddr) {
    let request = http::Request::get(format!("http://{addr}/v1/usage"))
        .header("authorization", format!("Bearer {KEY}"))
        .body(Vec::new())
        .expect("a request");
    let response = transport
        .send(request, SendOptions::new())
        .await
        .expect("an answer");
    assert_eq!(response.into_body(), b"ok");
}

#[test]
fn the_key_never_reaches_a_log_record_at_trace() {
    log::set_logger(&Capture).expect("no other logger");
    log::set_max_level(log::LevelFilter::Trace);
    let addr = server();
    async_io::block_on(async {
        // The capture sees async-h1's TRACE records: surf's own client leaks the key there.
        send_with_key(&SurfTransport::from(surf::Client::new()), addr).await;
        let records = take_records();
        assert!(
            records.contains(KEY),
            "the capture works: surf's own client logs the key at TRACE\n{records}"
        );

        // This crate's pool (new, and from a config): not once.
        send_with_key(&SurfTransport::new(), addr).await;
        let config = surf::Config::new().set_tcp_no_delay(true);
        send_with_key(&SurfTransport::try_from(config).expect("a transport"), addr).await;
        let records = take_records();
        assert_eq!(
            records.matches(KEY).count(),
            0,
            "the key is in the log records:\n{records}"
        );
        assert!(
            !records.contains("authorization"),
            "no request headers in the log records:\n{records}"
        );
    });
}
