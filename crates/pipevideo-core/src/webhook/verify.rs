//! Signature and timestamp checks, and the signing helper for tests.

use std::time::{Duration, SystemTime};

use hmac_sha256::{HMAC, Hash};
use http::HeaderMap;

use super::{SecretError, WebhookEvent, WebhookSecret, b64};

/// The three headers of a delivery, as received, in either spelling: Svix's (`svix-id`,
/// `svix-timestamp`, `svix-signature`) or the Standard Webhooks one (`webhook-id`,
/// `webhook-timestamp`, `webhook-signature`).
///
/// Build it from an [`http::HeaderMap`] with [`WebhookHeaders::from_header_map`], or from plain
/// strings with [`WebhookHeaders::new`] when your framework has its own header type.
///
/// ```
/// use pipevideo_core::webhook::WebhookHeaders;
/// let mut map = http::HeaderMap::new();
/// map.insert("webhook-id", "msg_1".parse().unwrap());
/// map.insert("webhook-timestamp", "1709827200".parse().unwrap());
/// map.insert("webhook-signature", "v1,c2ln".parse().unwrap());
/// let headers = WebhookHeaders::from_header_map(&map).unwrap();
/// assert_eq!(headers, WebhookHeaders::new("msg_1", "1709827200", "v1,c2ln"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WebhookHeaders<'a> {
    id: &'a str,
    timestamp: &'a str,
    signature: &'a str,
}

/// Names looked up in a header map, Svix's spelling first.
const ID: [&str; 2] = ["svix-id", "webhook-id"];
const TIMESTAMP: [&str; 2] = ["svix-timestamp", "webhook-timestamp"];
const SIGNATURE: [&str; 2] = ["svix-signature", "webhook-signature"];

impl<'a> WebhookHeaders<'a> {
    /// The three header values as plain strings (the id, the Unix-seconds timestamp and the
    /// space-separated signature list), exactly as received: do not trim or re-format them,
    /// they are part of the signed content.
    pub fn new(id: &'a str, timestamp: &'a str, signature: &'a str) -> Self {
        Self {
            id,
            timestamp,
            signature,
        }
    }

    /// Reads the three headers from a header map, each under its `svix-` name or else its
    /// `webhook-` name.
    ///
    /// # Errors
    /// [`VerifyError::MissingHeader`] when one is absent under both names or empty, and
    /// [`VerifyError::UnreadableHeader`] when its value is not UTF-8 text.
    pub fn from_header_map(headers: &'a HeaderMap) -> Result<Self, VerifyError> {
        Ok(Self {
            id: lookup(headers, ID)?,
            timestamp: lookup(headers, TIMESTAMP)?,
            signature: lookup(headers, SIGNATURE)?,
        })
    }

    /// The delivery id (`svix-id`), the same on every retry of one delivery.
    pub fn id(&self) -> &'a str {
        self.id
    }

    /// The timestamp header (`svix-timestamp`, Unix seconds) as received.
    pub fn timestamp(&self) -> &'a str {
        self.timestamp
    }

    /// The signature header (`svix-signature`) as received.
    pub fn signature(&self) -> &'a str {
        self.signature
    }
}

fn lookup<'a>(headers: &'a HeaderMap, names: [&'static str; 2]) -> Result<&'a str, VerifyError> {
    let Some((name, value)) = names
        .iter()
        .find_map(|&name| headers.get(name).map(|value| (name, value)))
    else {
        return Err(VerifyError::MissingHeader(names[0]));
    };
    // UTF-8 rather than `to_str`'s visible ASCII: an id `sign` accepts (and `WebhookHeaders::new`
    // takes as a string) must read back from a header map too.
    let value =
        std::str::from_utf8(value.as_bytes()).map_err(|_| VerifyError::UnreadableHeader(name))?;
    if value.is_empty() {
        return Err(VerifyError::MissingHeader(name));
    }
    Ok(value)
}

/// Which check a delivery failed. Nothing here contains the secret.
///
/// The checks run in this order, and the first failure is reported: the three headers
/// ([`MissingHeader`](Self::MissingHeader), [`UnreadableHeader`](Self::UnreadableHeader)),
/// the signature ([`BadSignatureHeader`](Self::BadSignatureHeader),
/// [`NoMatchingSignature`](Self::NoMatchingSignature)), the timestamp
/// ([`BadTimestamp`](Self::BadTimestamp), [`TooOld`](Self::TooOld), [`TooNew`](Self::TooNew)),
/// then the body ([`Body`](Self::Body)). The signature is checked before the timestamp, so the
/// errors after it describe authentic deliveries only: a `TooOld` is a genuine delivery that
/// is stale (a replay, or this machine's clock is off), never a forgery.
///
/// Every variant means "reject the delivery" (answer with a 4xx); see the
/// [module docs](super) for a handler.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A required header is absent (under both spellings) or empty. Holds the name looked
    /// for (the `svix-` spelling when neither was present).
    #[error(
        "the `{0}` webhook header is missing or empty (the `webhook-` spelling is accepted too)"
    )]
    MissingHeader(&'static str),
    /// A header's value is not UTF-8 text. Holds its name.
    #[error("the `{0}` webhook header is not UTF-8 text")]
    UnreadableHeader(&'static str),
    /// The signature header has no `v1,<base64>` entry to check (it is empty, malformed, or
    /// only carries other signature versions).
    #[error("the signature header has no `v1,<base64>` entry")]
    BadSignatureHeader,
    /// No `v1` signature in the header matches the body under any configured secret: a wrong
    /// secret, a body changed in transit (or re-serialized before verifying: pass the raw
    /// bytes), or a forgery.
    #[error(
        "no webhook signature matches: check the endpoint secret and that the raw, unmodified \
         body is verified"
    )]
    NoMatchingSignature,
    /// The timestamp header is not a whole number of Unix seconds.
    #[error("the webhook timestamp is not a whole number of Unix seconds")]
    BadTimestamp,
    /// The delivery was signed longer ago than the tolerance allows.
    #[error(
        "the webhook timestamp is {}s in the past, more than the tolerance of {}s \
         (a replayed delivery, or this machine's clock is behind)",
        age.as_secs(), tolerance.as_secs()
    )]
    TooOld {
        /// How long ago the delivery was signed, measured from `now`.
        age: Duration,
        /// The tolerance in force.
        tolerance: Duration,
    },
    /// The delivery's timestamp is further in the future than the tolerance allows.
    #[error(
        "the webhook timestamp is {}s in the future, more than the tolerance of {}s \
         (this machine's clock is ahead)",
        ahead.as_secs(), tolerance.as_secs()
    )]
    TooNew {
        /// How far after `now` the delivery claims to have been signed
        /// ([`Duration::MAX`] when the timestamp is beyond what `SystemTime` can hold).
        ahead: Duration,
        /// The tolerance in force.
        tolerance: Duration,
    },
    /// The secret given as a string could not be parsed (see [`SecretError`]); produced by
    /// `?` on [`WebhookSecret::new`] in code that returns `VerifyError`.
    #[error(transparent)]
    BadSecret(#[from] SecretError),
    /// The body is authentic but is not the documented event JSON.
    #[error("the webhook body is not the documented event JSON at `{path}`: {message}")]
    Body {
        /// Where in the JSON the problem is (`generationId`, or `.` for the whole body).
        path: String,
        /// What is wrong there.
        message: String,
    },
}

/// Verifies webhook deliveries: signature, timestamp, then the event body.
///
/// Holds the endpoint secret (more than one while you rotate it on your side) and the
/// timestamp tolerance, [`Verifier::DEFAULT_TOLERANCE`] (5 minutes) unless changed. It reads no
/// clock: pass the time of receipt as `now`.
///
/// **Decisions.**
/// - Signed content is `{id}.{timestamp}.{body}` with the header values exactly as received,
///   HMAC-SHA256 keyed by the decoded secret; every space-separated entry of the signature
///   header is tried (Svix sends several while the sender rotates its secret), entries of
///   other versions than `v1` and malformed entries are skipped, and each comparison runs in
///   constant time (`hmac_sha256::Hash::verify` on the hashed tags).
/// - The tolerance is inclusive: a timestamp exactly 5 minutes before or after `now` passes,
///   one second more does not. The comparison is exact (`now` keeps its sub-second part).
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use pipevideo_core::{Status, webhook::{Verifier, VerifyError, WebhookHeaders, WebhookSecret, sign}};
///
/// let secret: WebhookSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse()?;
/// let verifier = Verifier::new(secret.clone()).with_tolerance(Duration::from_secs(60));
///
/// let body = br#"{"eventType":"video.generation.completed","generationId":"gen_abc123xyz",
///                 "status":"completed","outputUrl":"https://cdn.example/v.mp4","errorMessage":null}"#;
/// let sent = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_827_200);
/// let signed = sign(&secret, "msg_2bVl", sent, body); // what Svix would send
///
/// let event = verifier.verify_headers(signed.as_headers(), body, sent + Duration::from_secs(2))?;
/// assert_eq!(event.generation_id().as_str(), "gen_abc123xyz");
/// assert_eq!(event.status(), &Status::Completed);
///
/// let late = sent + Duration::from_secs(61);
/// assert!(matches!(
///     verifier.verify_headers(signed.as_headers(), body, late),
///     Err(VerifyError::TooOld { .. })
/// ));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Verifier {
    secrets: Vec<WebhookSecret>,
    tolerance: Duration,
}

impl Verifier {
    /// How far a delivery's timestamp may be from `now`, either way, by default: 5 minutes,
    /// as Svix and the Standard Webhooks spec recommend.
    pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

    /// A verifier for one endpoint secret, with the default tolerance.
    pub fn new(secret: WebhookSecret) -> Self {
        Self {
            secrets: vec![secret],
            tolerance: Self::DEFAULT_TOLERANCE,
        }
    }

    /// Sets the timestamp tolerance (inclusive, both directions). `Duration::ZERO` accepts only
    /// a timestamp equal to `now`; very large values switch replay protection off in effect.
    #[must_use]
    pub fn with_tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Also accepts signatures made with `secret`: useful while you move the receiving side
    /// from one endpoint secret to another. A delivery passes when any of its `v1` signatures
    /// matches under any of the secrets.
    #[must_use]
    pub fn with_additional_secret(mut self, secret: WebhookSecret) -> Self {
        self.secrets.push(secret);
        self
    }

    /// The timestamp tolerance in force.
    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// Verifies a delivery given its header map and raw body, and decodes the event.
    ///
    /// `body` must be the bytes as received, before any JSON parsing: re-serializing changes
    /// them and the signature no longer matches. `now` is the time of receipt.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: SystemTime,
    ) -> Result<WebhookEvent, VerifyError> {
        self.verify_headers(WebhookHeaders::from_header_map(headers)?, body, now)
    }

    /// Verifies a whole [`http::Request`] whose body holds the raw bytes (`Vec<u8>`,
    /// `bytes::Bytes`, `String`…): the shape hyper- and axum-based servers can collect a
    /// request into.
    ///
    /// ```
    /// # use std::time::{Duration, SystemTime};
    /// # use pipevideo_core::webhook::{Verifier, WebhookSecret, sign};
    /// # let secret = WebhookSecret::new("whsec_c2VjcmV0")?;
    /// # let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_827_200);
    /// let body = r#"{"eventType":"video.generation.completed","generationId":"gen_1","status":"completed"}"#;
    /// # let signed = sign(&secret, "msg_1", now, body.as_bytes());
    /// let request = http::Request::post("/webhooks/pipevideo")
    ///     .header("svix-id", signed.id())
    ///     .header("svix-timestamp", signed.timestamp())
    ///     .header("svix-signature", signed.signature())
    ///     .body(body.to_owned())?;
    /// let event = Verifier::new(secret).verify_request(&request, now)?;
    /// assert_eq!(event.generation_id().as_str(), "gen_1");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn verify_request<B: AsRef<[u8]>>(
        &self,
        request: &http::Request<B>,
        now: SystemTime,
    ) -> Result<WebhookEvent, VerifyError> {
        self.verify(request.headers(), request.body().as_ref(), now)
    }

    /// Verifies a delivery given its three header values as strings, and decodes the event.
    pub fn verify_headers(
        &self,
        headers: WebhookHeaders<'_>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<WebhookEvent, VerifyError> {
        let timestamp = self.check(headers, body, now)?;
        WebhookEvent::from_verified_body(body, headers.id, timestamp)
    }

    /// Checks the signature and the timestamp only, leaving the body undecoded: for payloads
    /// other than the documented event. Returns the signed timestamp.
    pub fn verify_signature(
        &self,
        headers: WebhookHeaders<'_>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<SystemTime, VerifyError> {
        self.check(headers, body, now)
    }

    fn check(
        &self,
        headers: WebhookHeaders<'_>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<SystemTime, VerifyError> {
        for (value, name) in [
            (headers.id, ID[0]),
            (headers.timestamp, TIMESTAMP[0]),
            (headers.signature, SIGNATURE[0]),
        ] {
            if value.is_empty() {
                return Err(VerifyError::MissingHeader(name));
            }
        }
        self.check_signature(headers, body)?;
        let Some(timestamp) = parse_timestamp(headers.timestamp)? else {
            return Err(VerifyError::TooNew {
                ahead: Duration::MAX,
                tolerance: self.tolerance,
            });
        };
        self.check_tolerance(timestamp, now)?;
        Ok(timestamp)
    }

    fn check_signature(&self, headers: WebhookHeaders<'_>, body: &[u8]) -> Result<(), VerifyError> {
        // Each expected tag is hashed once more, and every candidate is checked with
        // `Hash::verify` (SHA-256 of the candidate, compared in constant time with the hashed
        // tag): equal digests mean equal tags, a mismatch says nothing about where the tag
        // differs, and the body is hashed once per secret, not once per header entry.
        let expected: Vec<[u8; 32]> = self
            .secrets
            .iter()
            .map(|secret| Hash::hash(&tag(secret.expose(), headers.id, headers.timestamp, body)))
            .collect();
        let mut any_v1 = false;
        let mut matched = false;
        for entry in headers.signature.split_ascii_whitespace() {
            let Some(("v1", encoded)) = entry.split_once(',') else {
                continue;
            };
            let Ok(candidate) = b64::decode(encoded.as_bytes()) else {
                continue;
            };
            any_v1 = true;
            for hashed_tag in &expected {
                // `|`, not `||`: every pair is compared, whatever matched before. A candidate
                // of another length than 32 bytes cannot match; length is not secret.
                matched |= Hash::verify(&candidate, hashed_tag);
            }
        }
        if !any_v1 {
            return Err(VerifyError::BadSignatureHeader);
        }
        if matched {
            Ok(())
        } else {
            Err(VerifyError::NoMatchingSignature)
        }
    }

    fn check_tolerance(&self, timestamp: SystemTime, now: SystemTime) -> Result<(), VerifyError> {
        let tolerance = self.tolerance;
        match now.duration_since(timestamp) {
            Ok(age) if age > tolerance => Err(VerifyError::TooOld { age, tolerance }),
            Ok(_) => Ok(()),
            Err(e) if e.duration() > tolerance => Err(VerifyError::TooNew {
                ahead: e.duration(),
                tolerance,
            }),
            Err(_) => Ok(()),
        }
    }
}

/// Parses Unix seconds: ASCII digits only (no sign, no spaces, no fraction). `Ok(None)` is a
/// number of seconds beyond what `SystemTime` (or `u64`) can hold: the far future.
fn parse_timestamp(s: &str) -> Result<Option<SystemTime>, VerifyError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::BadTimestamp);
    }
    // All digits: the only possible failure is overflow.
    Ok(s.parse::<u64>()
        .ok()
        .and_then(|secs| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))))
}

/// HMAC-SHA256 of `{id}.{timestamp}.{body}` (HMAC accepts keys of any length).
fn tag(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> [u8; 32] {
    let mut mac = HMAC::new(key);
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize()
}

/// The headers of a delivery signed by [`sign`], for testing your own receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    id: String,
    timestamp: String,
    signature: String,
}

impl SignedHeaders {
    /// The delivery id, as passed to [`sign`].
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The `svix-timestamp` value: Unix seconds.
    pub fn timestamp(&self) -> &str {
        &self.timestamp
    }

    /// The `svix-signature` value: `v1,<base64>`.
    pub fn signature(&self) -> &str {
        &self.signature
    }

    /// The three values, ready for [`Verifier::verify_headers`].
    pub fn as_headers(&self) -> WebhookHeaders<'_> {
        WebhookHeaders::new(&self.id, &self.timestamp, &self.signature)
    }

    /// The three headers under their `svix-` names, as a request to your endpoint carries them.
    ///
    /// # Errors
    /// When the id passed to [`sign`] is not a valid header value (a control character, say).
    pub fn header_map(&self) -> Result<HeaderMap, http::header::InvalidHeaderValue> {
        let mut map = HeaderMap::with_capacity(3);
        map.insert(ID[0], self.id.parse()?);
        map.insert(TIMESTAMP[0], self.timestamp.parse()?);
        map.insert(SIGNATURE[0], self.signature.parse()?);
        Ok(map)
    }
}

/// Signs a delivery the way Svix does, to test your own webhook receiver.
///
/// Produces the `svix-signature` value `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`
/// and the matching id and timestamp headers. `timestamp` is rounded down to whole Unix
/// seconds (a time before 1970 becomes 0). To test rotation, sign with both secrets and join
/// the two signature values with a space.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use pipevideo_core::webhook::{Verifier, WebhookSecret, sign};
///
/// let secret = WebhookSecret::new("whsec_c2VjcmV0LWtleS1mb3ItdGVzdHM=")?;
/// let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_709_827_200);
/// let body = br#"{"eventType":"video.generation.completed","generationId":"gen_1","status":"failed","errorMessage":"provider timeout"}"#;
/// let signed = sign(&secret, "msg_1", at, body);
/// assert_eq!(signed.timestamp(), "1709827200");
/// assert!(signed.signature().starts_with("v1,"));
///
/// let headers = signed.header_map()?; // svix-id, svix-timestamp, svix-signature
/// let event = Verifier::new(secret).verify(&headers, body, at)?;
/// assert_eq!(event.error_message(), Some("provider timeout"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: SystemTime, body: &[u8]) -> SignedHeaders {
    let secs = timestamp
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let timestamp = secs.to_string();
    let signature = format!(
        "v1,{}",
        b64::encode(&tag(secret.expose(), id, &timestamp, body))
    );
    SignedHeaders {
        id: id.to_owned(),
        timestamp,
        signature,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_future_timestamp_is_too_new_not_a_panic() {
        let secret = WebhookSecret::from_bytes(b"k".to_vec()).unwrap();
        let v = Verifier::new(secret.clone());
        let ts = u64::MAX.to_string();
        let sig = format!("v1,{}", b64::encode(&tag(secret.expose(), "m", &ts, b"{}")));
        let err = v
            .verify_signature(
                WebhookHeaders::new("m", &ts, &sig),
                b"{}",
                SystemTime::UNIX_EPOCH,
            )
            .unwrap_err();
        assert!(matches!(err, VerifyError::TooNew { .. }), "{err:?}");
    }
}
