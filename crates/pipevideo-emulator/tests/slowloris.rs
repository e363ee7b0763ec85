//! Slow and idle connections cannot take the emulator down: a connection that does not send
//! its request headers within the header read timeout is closed, and past the connection cap
//! new connections wait to be accepted instead of piling up.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use pipevideo_emulator::Emulator;

/// Whether the server closed `stream` within `within` (an EOF or a reset; not a read timeout).
fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {} // a 408 or the like before the close
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false;
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn slow_and_idle_connections_are_closed_and_the_server_keeps_serving() {
    let emu = Emulator::builder()
        .max_connections(4)
        .header_read_timeout(Duration::from_millis(300))
        .start_in_background()
        .unwrap();
    let addr = emu.addr();
    let start = Instant::now();
    // Four half-sent heads (one trickling a byte every 50 ms) fill the cap; two more connections
    // that send nothing wait behind them.
    let mut slow: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"GET /v1/engines HTTP/1.1\r\nHost: localhost\r\n")
                .unwrap();
            s
        })
        .collect();
    let mut trickle = slow[0].try_clone().unwrap();
    let trickler = thread::spawn(move || {
        for _ in 0..40 {
            if trickle.write_all(b"x").is_err() {
                return true;
            }
            thread::sleep(Duration::from_millis(50));
        }
        false
    });
    let mut idle: Vec<TcpStream> = (0..2).map(|_| TcpStream::connect(addr).unwrap()).collect();

    // A real request is still answered, once the slow ones are gone.
    let mut real = TcpStream::connect(addr).unwrap();
    real.write_all(b"GET /v1/engines HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    real.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = String::new();
    real.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "served after {:?}",
        start.elapsed()
    );

    for (i, s) in slow.iter_mut().chain(idle.iter_mut()).enumerate() {
        assert!(
            closed_within(s, Duration::from_secs(2)),
            "connection {i} is still open"
        );
    }
    assert!(trickler.join().unwrap(), "the trickling connection was cut");
    assert_eq!(emu.requests().len(), 1, "only the real request got through");
}

#[test]
fn a_zero_header_timeout_or_connection_cap_is_refused() {
    let err = Emulator::builder()
        .header_read_timeout(Duration::ZERO)
        .start_in_background()
        .unwrap_err();
    assert!(err.to_string().contains("header_read_timeout"), "{err}");
    let err = Emulator::builder()
        .max_connections(0)
        .start_in_background()
        .unwrap_err();
    assert!(err.to_string().contains("max_connections"), "{err}");
}

#[test]
fn a_body_trickled_too_slowly_is_answered_408_and_closed() {
    let emu = Emulator::builder()
        .header_read_timeout(Duration::from_millis(300))
        .start_in_background()
        .unwrap();
    let mut slow = TcpStream::connect(emu.addr()).unwrap();
    slow.write_all(
        b"POST /v1/responses HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"model\"",
    )
    .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let start = Instant::now();
    let mut answer = String::new();
    let _ = slow.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}
