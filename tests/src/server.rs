//! A scripted loopback HTTP/1.1 server on raw `std::net` sockets.
//!
//! Each connection runs on its own thread: the server reads one request, records it, asks the
//! script for a [`Reply`] and acts it out, then closes the connection. Raw sockets make the
//! faults easy to stage exactly: a reset in the middle of a body, headers that never come, a
//! body that never ends.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

/// One request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recorded {
    /// The method, as sent.
    pub method: String,
    /// The request target (path and query).
    pub target: String,
    /// Every header in wire order: lower-cased name, raw value bytes.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The body (read by `Content-Length`).
    pub body: Vec<u8>,
}

impl Recorded {
    /// Every value of the header `name` (lower case), in order.
    pub fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

/// What the server does with a request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Reply {
    /// Write these bytes verbatim and keep the connection open for the next request
    /// (keep-alive).
    Raw(Vec<u8>),
    /// Write these bytes verbatim, then close (FIN). A `Content-Length` larger than what
    /// follows stages a body cut off by a clean close.
    Close(Vec<u8>),
    /// Wait, then act out the inner reply.
    After(Duration, Box<Reply>),
    /// Write these bytes, then reset the connection (RST, not FIN).
    ResetAfter(Vec<u8>),
    /// Write `head`, then body chunks of `chunk` bytes in chunked transfer encoding (`head`
    /// must say `transfer-encoding: chunked`, see [`chunked_head`]) until the client goes away
    /// or `cap` bytes were written; then the final empty chunk.
    Endless {
        /// Status line and headers, with the blank line.
        head: Vec<u8>,
        /// The size of each write.
        chunk: usize,
        /// Stop after this many body bytes.
        cap: u64,
    },
    /// Write `head`, then `count` chunks of `chunk` bytes with `pause` between them, then close.
    Trickle {
        /// Status line and headers, with the blank line.
        head: Vec<u8>,
        /// The size of each write.
        chunk: usize,
        /// How many chunks.
        count: usize,
        /// The pause between two chunks.
        pause: Duration,
    },
}

/// A response with `Content-Length` added after `headers`.
pub fn response(status: u16, reason: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    let mut out = head(status, reason, headers);
    // `head` ends with the blank line; insert Content-Length before it.
    out.truncate(out.len() - 2);
    out.extend_from_slice(format!("content-length: {}\r\n\r\n", body.len()).as_bytes());
    out.extend_from_slice(body);
    out
}

/// A status line and headers ending with the blank line.
pub fn head(status: u16, reason: &str, headers: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n").into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A status line and headers for a chunked body ([`Reply::Endless`]).
pub fn chunked_head(status: u16, reason: &str, headers: &[(&str, &[u8])]) -> Vec<u8> {
    let mut all = headers.to_vec();
    all.push(("transfer-encoding", b"chunked"));
    head(status, reason, &all)
}

type Script = dyn Fn(&Recorded) -> Reply + Send + Sync;

struct Shared {
    script: Box<Script>,
    requests: Mutex<Vec<Recorded>>,
    connections: AtomicUsize,
    body_bytes_sent: AtomicU64,
    stop: AtomicBool,
}

/// A running scripted server; it stops when dropped.
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Server {
    /// Start a server on an ephemeral loopback port, answering every request with `script`.
    pub fn start(script: impl Fn(&Recorded) -> Reply + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address");
        let shared = Arc::new(Shared {
            script: Box::new(script),
            requests: Mutex::new(Vec::new()),
            connections: AtomicUsize::new(0),
            body_bytes_sent: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let accept = Arc::clone(&shared);
        thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                accept.connections.fetch_add(1, Ordering::SeqCst);
                let shared = Arc::clone(&accept);
                thread::spawn(move || {
                    // A client that goes away mid-reply is part of the script; ignore errors.
                    let _ = serve(stream, &shared);
                });
            }
        });
        Self { addr, shared }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How many connections were accepted.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }

    /// How many body bytes [`Reply::Endless`] and [`Reply::Trickle`] managed to write.
    pub fn body_bytes_sent(&self) -> u64 {
        self.shared.body_bytes_sent.load(Ordering::SeqCst)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

/// A loopback URL on which nothing listens: connecting to it is refused.
pub fn refused_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    drop(listener);
    format!("http://{addr}/")
}

fn serve(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let Some(request) = read_request(&mut reader)? else {
            return Ok(());
        };
        let reply = (shared.script)(&request);
        shared
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(request);
        if let Reply::Raw(bytes) = &reply {
            let mut stream = &stream;
            stream.write_all(bytes)?;
            stream.flush()?;
            continue;
        }
        return act(stream, reply, shared);
    }
}

fn act(mut stream: TcpStream, reply: Reply, shared: &Shared) -> io::Result<()> {
    match reply {
        Reply::Raw(bytes) | Reply::Close(bytes) => {
            stream.write_all(&bytes)?;
            stream.flush()?;
            stream.shutdown(std::net::Shutdown::Write)?;
            // Let the client read everything before the socket goes away.
            let mut sink = [0u8; 1024];
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
        }
        Reply::After(delay, inner) => {
            thread::sleep(delay);
            act(stream, *inner, shared)?;
        }
        Reply::ResetAfter(bytes) => {
            stream.write_all(&bytes)?;
            stream.flush()?;
            // Give the bytes time to reach the client before the reset overtakes them.
            thread::sleep(Duration::from_millis(50));
            socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO))?;
            drop(stream);
        }
        Reply::Endless { head, chunk, cap } => {
            stream.write_all(&head)?;
            let mut block = format!("{chunk:x}\r\n").into_bytes();
            block.extend(std::iter::repeat_n(b'x', chunk));
            block.extend_from_slice(b"\r\n");
            let mut sent = 0u64;
            while sent < cap {
                stream.write_all(&block)?;
                sent += chunk as u64;
                shared
                    .body_bytes_sent
                    .fetch_add(chunk as u64, Ordering::SeqCst);
            }
            stream.write_all(b"0\r\n\r\n")?;
            stream.flush()?;
            stream.shutdown(std::net::Shutdown::Write)?;
            let mut drain = [0u8; 1024];
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            while matches!(stream.read(&mut drain), Ok(n) if n > 0) {}
        }
        Reply::Trickle {
            head,
            chunk,
            count,
            pause,
        } => {
            stream.write_all(&head)?;
            let block = vec![b'v'; chunk];
            for i in 0..count {
                if i > 0 {
                    thread::sleep(pause);
                }
                stream.write_all(&block)?;
                stream.flush()?;
                shared
                    .body_bytes_sent
                    .fetch_add(chunk as u64, Ordering::SeqCst);
            }
        }
    }
    Ok(())
}

fn read_request(reader: &mut BufReader<TcpStream>) -> io::Result<Option<Recorded>> {
    let mut line = Vec::new();
    if reader.read_until(b'\n', &mut line)? == 0 {
        return Ok(None); // the accept loop's wake-up connection, or a probe
    }
    let line = String::from_utf8_lossy(&line).trim_end().to_owned();
    let mut parts = line.splitn(3, ' ');
    let method = parts.next().unwrap_or_default().to_owned();
    let target = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut raw = Vec::new();
        if reader.read_until(b'\n', &mut raw)? == 0 {
            return Ok(None);
        }
        while matches!(raw.last(), Some(b'\n' | b'\r')) {
            raw.pop();
        }
        if raw.is_empty() {
            break;
        }
        let colon = raw.iter().position(|&b| b == b':').unwrap_or(raw.len());
        let name = String::from_utf8_lossy(&raw[..colon]).to_ascii_lowercase();
        let value = raw
            .get(colon + 1..)
            .unwrap_or_default()
            .trim_ascii()
            .to_vec();
        headers.push((name, value));
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| std::str::from_utf8(v).ok()?.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(Some(Recorded {
        method,
        target,
        headers,
        body,
    }))
}
