//! `ServerDelay::read` over any `Retry-After` and `Date` header bytes, any wall clock and the
//! body's `data.retry_after` (read by `ApiError::from_response` from any JSON value): never
//! panics, the later of body and header wins, a readable header is never reported malformed
//! and an unreadable one always is; the retry engine's decision on the result never panics and
//! never retries earlier than asked.
//!
//! Input layout: byte 0 flags, bytes 1..9 wall clock (seconds since the epoch), then up to
//! three header values and a body, separated by `\n` (`retry-after`, `retry-after`, `date`,
//! JSON value put into `{"data":{"retry_after":…}}`).
#![no_main]

use std::time::{Duration, Instant, SystemTime};

use http::{
    HeaderMap, HeaderValue, StatusCode,
    header::{DATE, RETRY_AFTER},
};
use libfuzzer_sys::fuzz_target;
use pipevideo_core::{
    ApiError,
    policy::RetryPolicy,
    retry::{DelaySource, Outcome, RequestKind, RetryBudget, RetryState, ServerDelay, Verdict},
};
use rand::{SeedableRng, rngs::SmallRng};

fuzz_target!(|data: &[u8]| {
    let [flags, w0, w1, w2, w3, w4, w5, w6, w7, rest @ ..] = data else {
        return;
    };
    let secs = u64::from_le_bytes([*w0, *w1, *w2, *w3, *w4, *w5, *w6, *w7]);
    // Any representable wall clock, including the epoch and far futures.
    let wall = SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(secs >> (flags & 0x1f)))
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let mut parts = rest.splitn(4, |&b| b == b'\n');
    let ra1 = parts.next().unwrap_or_default();
    let ra2 = parts.next().unwrap_or_default();
    let date = parts.next().unwrap_or_default();
    let body_value = parts.next().unwrap_or_default();

    let mut headers = HeaderMap::new();
    let mut readable: Vec<bool> = Vec::new();
    for (i, value) in [ra1, ra2].into_iter().enumerate() {
        if flags & (0x20 << i) != 0
            && let Ok(v) = HeaderValue::from_bytes(value)
        {
            readable.push(v.to_str().is_ok());
            headers.append(RETRY_AFTER, v);
        }
    }
    if flags & 0x80 != 0
        && let Ok(v) = HeaderValue::from_bytes(date)
    {
        headers.insert(DATE, v);
    }

    // The body's `retry_after`, exactly as the error decoder reads it.
    let mut body = br#"{"message":"Rate limit exceeded.","data":{"retry_after":"#.to_vec();
    body.extend_from_slice(body_value);
    body.extend_from_slice(b"}}");
    let api = ApiError::from_response(StatusCode::TOO_MANY_REQUESTS, &headers, &body);
    let from_body = api.retry_after();

    let asked = ServerDelay::read(from_body, &headers, wall);
    // The later one wins; the body when neither header said more.
    if let Some(b) = from_body {
        let d = asked.delay().expect("a body delay is never lost");
        assert!(d >= b);
        if d == b {
            assert_eq!(asked.source(), Some(DelaySource::Body));
        }
    }
    if asked.delay().is_none() {
        assert!(from_body.is_none());
    }
    // A header that is not even visible ASCII is always malformed.
    if readable.iter().any(|r| !r) {
        assert!(asked.header_malformed());
    }
    if readable.is_empty() {
        assert!(!asked.header_malformed());
        assert_eq!(asked.delay(), from_body);
    }
    // Pure digits are always readable, however many.
    for v in headers.get_all(RETRY_AFTER) {
        let t = v.to_str().map(str::trim).unwrap_or("");
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            let d = asked.delay().expect("delta-seconds are read");
            let want = t.parse::<u64>().map_or(Duration::MAX, Duration::from_secs);
            assert!(d >= want);
        }
    }

    // The retry engine on that answer: never a panic, never earlier than asked.
    let now = Instant::now();
    let policy = RetryPolicy::default();
    let mut state = RetryState::new(&policy, RequestKind::Read, now);
    let mut budget = RetryBudget::default();
    let mut rng = SmallRng::seed_from_u64(u64::from(*flags));
    let outcome = Outcome::response(StatusCode::TOO_MANY_REQUESTS, from_body, &headers, wall);
    let decision = state.decide(outcome, now, &mut budget, &mut rng);
    let _ = decision.to_string();
    if let (Verdict::Retry { at, .. }, Some(d)) = (decision.verdict(), asked.delay()) {
        assert!(
            at.saturating_duration_since(now) >= d,
            "retried earlier than asked"
        );
    }
});
