//! What a transport reports when an exchange fails, and when it cannot reach https at all.

use std::fmt;
use std::io;
use std::time::Duration;

/// How far a failed exchange got, which decides whether a retry can duplicate work.
///
/// Closed: a request was not sent, may have been sent, or cannot succeed however often it is
/// sent. A transport picks one; the retry engine matches them all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(
    clippy::exhaustive_enums,
    reason = "closed by nature: not sent, maybe sent, or permanent"
)]
pub enum FailureKind {
    /// The request never left: DNS failure, connection refused, TLS handshake failure.
    /// Always safe to retry, even a create.
    NotSent,
    /// The request may have reached the server: a timeout or reset after sending, a body cut
    /// off. Safe to retry only for reads, or a create that carries an idempotency key.
    MaybeSent,
    /// Retrying the same request cannot help, whether or not it was sent: the response body
    /// exceeded its cap, the request cannot be put on the wire (a header value the HTTP library
    /// refuses), or the download's sink failed. The retry engine stops at once.
    Permanent,
}

/// What went wrong in a failed exchange, in more detail than [`FailureKind`].
///
/// The cause is for callers that want to react to one failure in particular (report a
/// too-large body, tell a timeout from a reset); the retry engine only needs the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// No connection could be made: DNS, refused, TLS handshake.
    Connect,
    /// The attempt ran past its [`SendOptions::timeout`](super::SendOptions::timeout) (or a download's idle timeout).
    Timeout,
    /// The connection failed after it was made: reset, closed early, body cut off.
    Io,
    /// The response body is larger than the cap; reading stopped when the cap was crossed.
    BodyTooLarge {
        /// The cap in bytes that was exceeded.
        limit: u64,
    },
    /// The request cannot be expressed by the HTTP library (for example a header value that is
    /// not visible ASCII, or a URL it rejects). Nothing was sent.
    InvalidRequest,
    /// The server's response is not valid HTTP, or cannot be represented as an
    /// [`http::Response`].
    InvalidResponse,
    /// The sink of a download refused a chunk.
    Sink,
    /// Anything else.
    Other,
}

/// A transport-level failure: no usable HTTP response was received.
///
/// Carries a [`FailureKind`] for the retry engine, a [`Cause`] for callers, and a message for
/// people. It never names the HTTP library that produced it.
///
/// ```
/// use pipevideo_core::transport::{Cause, FailureKind, TransportError};
///
/// let err = TransportError::body_too_large(1024);
/// assert_eq!(err.kind(), FailureKind::Permanent);
/// assert_eq!(err.cause(), Cause::BodyTooLarge { limit: 1024 });
/// assert_eq!(err.to_string(), "not retryable: response body exceeds the 1024-byte limit");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct TransportError {
    kind: FailureKind,
    cause: Cause,
    message: String,
}

impl TransportError {
    /// A failure of the given kind, with [`Cause::Other`].
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            cause: Cause::Other,
            message: message.into(),
        }
    }

    /// The request never left the client.
    pub fn not_sent(message: impl Into<String>) -> Self {
        Self::new(FailureKind::NotSent, message)
    }

    /// The request may have reached the server.
    pub fn maybe_sent(message: impl Into<String>) -> Self {
        Self::new(FailureKind::MaybeSent, message)
    }

    /// No connection could be made ([`FailureKind::NotSent`], [`Cause::Connect`]).
    pub fn connect(message: impl Into<String>) -> Self {
        Self::not_sent(message).with_cause(Cause::Connect)
    }

    /// The attempt ran past its timeout after the request may have left
    /// ([`FailureKind::MaybeSent`], [`Cause::Timeout`]).
    pub fn timeout(timeout: Duration) -> Self {
        Self::maybe_sent(format!("no complete response within {timeout:?}"))
            .with_cause(Cause::Timeout)
    }

    /// The response body is larger than `limit` bytes ([`FailureKind::Permanent`],
    /// [`Cause::BodyTooLarge`]).
    pub fn body_too_large(limit: u64) -> Self {
        Self::new(
            FailureKind::Permanent,
            format!("response body exceeds the {limit}-byte limit"),
        )
        .with_cause(Cause::BodyTooLarge { limit })
    }

    /// The request cannot be put on the wire ([`FailureKind::Permanent`],
    /// [`Cause::InvalidRequest`]).
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new(FailureKind::Permanent, message).with_cause(Cause::InvalidRequest)
    }

    /// The download's sink failed ([`FailureKind::Permanent`], [`Cause::Sink`]).
    pub fn sink(error: &io::Error) -> Self {
        Self::new(
            FailureKind::Permanent,
            format!("download sink failed: {error}"),
        )
        .with_cause(Cause::Sink)
    }

    /// The same error with another cause.
    #[must_use]
    pub fn with_cause(mut self, cause: Cause) -> Self {
        self.cause = cause;
        self
    }

    /// How far the exchange got.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// What went wrong, in detail.
    pub fn cause(&self) -> Cause {
        self.cause
    }

    /// What went wrong, for people.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether this is a timeout.
    pub fn is_timeout(&self) -> bool {
        self.cause == Cause::Timeout
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotSent => "request not sent",
            Self::MaybeSent => "request may have been sent",
            Self::Permanent => "not retryable",
        })
    }
}

/// A transport that cannot reach `https://` URLs because it was built without a TLS backend.
///
/// Cargo features choose a transport's TLS backend (`rustls` or `native-tls` for reqwest). A
/// build without one can still speak plain `http://` (a local emulator), so this is not a
/// compile error; instead [`HttpClient::tls_support`](super::HttpClient::tls_support) reports it and
/// [`ClientBuilder::build`](crate::client::ClientBuilder::build) refuses an `https://` base URL
/// with [`InputError::Tls`](crate::InputError::Tls), before anything is sent. The message names
/// the feature to enable.
///
/// ```
/// use pipevideo_core::transport::MissingTls;
///
/// let missing = MissingTls::new("the reqwest transport", "enable the `rustls` feature");
/// assert_eq!(
///     missing.to_string(),
///     "the reqwest transport was built without TLS and cannot reach https:// URLs: \
///      enable the `rustls` feature"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{transport} was built without TLS and cannot reach https:// URLs: {remedy}")]
pub struct MissingTls {
    transport: &'static str,
    remedy: &'static str,
}

impl MissingTls {
    /// `transport` names the transport ("the reqwest transport"); `remedy` says which feature
    /// brings TLS ("enable the `rustls` or `native-tls` feature of `pipevideo`").
    pub const fn new(transport: &'static str, remedy: &'static str) -> Self {
        Self { transport, remedy }
    }

    /// The transport's name, as given to [`new`](Self::new).
    pub const fn transport(&self) -> &'static str {
        self.transport
    }

    /// What to enable, as given to [`new`](Self::new).
    pub const fn remedy(&self) -> &'static str {
        self.remedy
    }
}
