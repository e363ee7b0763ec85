//! What a transport reports when an exchange fails, in the retry engine's terms.
//!
//! The `Transport` trait itself is added by the transports work; these kinds are defined first
//! because the retry engine decides on them.

use std::fmt;

/// How far a failed exchange got, which decides whether a retry can duplicate work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The request never left: DNS failure, connection refused, TLS handshake failure.
    /// Always safe to retry, even a create.
    NotSent,
    /// The request may have reached the server: a timeout or reset after sending, a body cut
    /// off. Safe to retry only for reads, or a create that carries an idempotency key.
    MaybeSent,
}

/// A transport-level failure: no usable HTTP response was received.
///
/// Carries a kind for the retry engine and a message for people. It never names the HTTP
/// library that produced it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct TransportError {
    kind: FailureKind,
    message: String,
}

impl TransportError {
    /// A failure of the given kind.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// The request never left the client.
    pub fn not_sent(message: impl Into<String>) -> Self {
        Self::new(FailureKind::NotSent, message)
    }

    /// The request may have reached the server.
    pub fn maybe_sent(message: impl Into<String>) -> Self {
        Self::new(FailureKind::MaybeSent, message)
    }

    /// How far the exchange got.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }

    /// What went wrong, for people.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotSent => "request not sent",
            Self::MaybeSent => "request may have been sent",
        })
    }
}
