//! The bad-input table: every kind of bad input the SDK can be handed, each with the exact
//! typed error and the exact message a user sees. Nothing here panics, and input the SDK must
//! refuse never reaches the wire: the client-level cases run over a transport that counts
//! requests, and the count stays at zero.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use futures_executor::block_on;
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use pipevideo_core::WaitErrorKind;
use pipevideo_core::client::{Client, WaitOptions};
use pipevideo_core::model::{CreateGeneration, CreateResponse, Usage};
use pipevideo_core::policy::WaitPolicy;
use pipevideo_core::policy::WaitPolicyError;
use pipevideo_core::poll::{PollFailure, Poller};
use pipevideo_core::retry::ServerDelay;
use pipevideo_core::transport::testing::{FnTransport, VirtualClock};
use pipevideo_core::transport::{
    Cause, ChunkSink, DownloadBody, DownloadOptions, FailureKind, HttpClient, MissingTls,
    SendOptions, Stack, Transport, TransportError,
};
use pipevideo_core::webhook::{SecretError, Verifier, VerifyError, WebhookSecret};
use pipevideo_core::{
    ApiError, ApiKey, ApiKeyError, Attribution, AttributionError, BaseUrl, BaseUrlError, Error,
    Flavor, GenerationId, GenerationRef, IdError, IdempotencyKey, IdempotencyKeyError, InputError,
    RefParseError, RequestError, Status, codec, codec::RequestEncoder,
};

const KEY: &str = "pv_a1b2c3d4e5f6";

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// A client over a transport that counts every request and answers each with `body` (200).
fn counting_client(
    body: &'static [u8],
) -> (
    Client<impl Transport + std::fmt::Debug + use<>>,
    Arc<AtomicUsize>,
) {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    let transport = FnTransport::new(VirtualClock::new(Instant::now()), move |_request| {
        counter.fetch_add(1, Ordering::SeqCst);
        async move { Ok::<_, TransportError>(Response::new(body.to_vec())) }
    });
    let client = Client::builder(transport)
        .api_key(ApiKey::new(KEY).unwrap())
        .seed(1)
        .build()
        .unwrap();
    (client, sent)
}

/// The one `InputError` inside an error, whether it came back bare or wrapped by a create.
fn input_error(e: &Error) -> &InputError {
    match e {
        Error::Input(i) => i,
        Error::Create(c) => match c.error() {
            Error::Input(i) => i,
            other => panic!("expected an input error, got {other:?}"),
        },
        other => panic!("expected an input error, got {other:?}"),
    }
}

fn api_429(body: &[u8]) -> ApiError {
    ApiError::from_response(StatusCode::TOO_MANY_REQUESTS, &HeaderMap::new(), body)
}

fn retry_after_header(value: &str) -> ServerDelay {
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::RETRY_AFTER,
        HeaderValue::from_str(value).unwrap(),
    );
    ServerDelay::read(None, &headers, SystemTime::UNIX_EPOCH)
}

// ---------------------------------------------------------------------------------------------
// API keys
// ---------------------------------------------------------------------------------------------

#[test]
fn key_with_a_space() {
    let e = ApiKey::new("pv_a1b2 c3d4").unwrap_err();
    assert_eq!(e, ApiKeyError::Whitespace { position: 7 });
    assert_eq!(
        e.to_string(),
        "the API key contains whitespace at byte 7; remove stray spaces or newlines \
         (a copy-paste artefact and the most common cause of 401 Unauthorized)"
    );
}

#[test]
fn key_with_a_trailing_newline() {
    let e = ApiKey::new(format!("{KEY}\n")).unwrap_err();
    assert_eq!(e, ApiKeyError::Whitespace { position: 15 });
    let e: Error = InputError::from(e).into();
    assert_eq!(
        e.to_string(),
        "invalid API key: the API key contains whitespace at byte 15; remove stray spaces or \
         newlines (a copy-paste artefact and the most common cause of 401 Unauthorized)"
    );
    assert!(
        !e.to_string().contains(KEY),
        "the key itself is never echoed"
    );
}

#[test]
fn key_empty() {
    let e = ApiKey::new("").unwrap_err();
    assert_eq!(e, ApiKeyError::Empty);
    assert_eq!(e.to_string(), "the API key is empty");
}

#[test]
fn key_with_a_control_character() {
    let e = ApiKey::new("pv_a1\u{7f}b2").unwrap_err();
    assert_eq!(e, ApiKeyError::Control { position: 5 });
    assert_eq!(
        e.to_string(),
        "the API key contains a control character at byte 5"
    );
}

#[test]
fn key_missing_from_the_builder() {
    let transport = FnTransport::new(VirtualClock::new(Instant::now()), |_r| async {
        Ok::<_, TransportError>(Response::new(Vec::new()))
    });
    let e = Client::builder(transport).build().unwrap_err();
    assert!(
        matches!(e, Error::Input(InputError::ApiKey(ApiKeyError::Missing))),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "invalid API key: no API key was given: pass one, or set PIPEVIDEO_API_KEY"
    );
}

#[test]
fn key_not_ascii_is_refused_before_any_header_is_built() {
    // Accepted as a key (no whitespace, no control), refused by the encoder: an HTTP header
    // cannot carry it portably.
    let key = ApiKey::new("pv_clé").unwrap();
    let e = RequestEncoder::new(BaseUrl::default(), key.clone()).unwrap_err();
    assert_eq!(e, InputError::KeyNotAscii { position: 5 });
    assert_eq!(
        e.to_string(),
        "invalid API key: non-ASCII character at byte 5"
    );
    let transport = FnTransport::new(VirtualClock::new(Instant::now()), |_r| async {
        Ok::<_, TransportError>(Response::new(Vec::new()))
    });
    let e = Client::builder(transport).api_key(key).build().unwrap_err();
    assert!(
        matches!(e, Error::Input(InputError::KeyNotAscii { position: 5 })),
        "{e:?}"
    );
}

#[test]
fn key_rotation_to_a_bad_key_keeps_the_old_one_and_sends_nothing() {
    let (client, sent) = counting_client(br#"{"credit_balance":1}"#);
    let e = client
        .set_api_key(ApiKey::new("pv_ñ").unwrap())
        .unwrap_err();
    assert!(
        matches!(e, Error::Input(InputError::KeyNotAscii { position: 3 })),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "invalid API key: non-ASCII character at byte 3"
    );
    assert_eq!(sent.load(Ordering::SeqCst), 0);
    // The client still works with its old key.
    block_on(client.usage()).unwrap();
    assert_eq!(sent.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------------------------
// Generation ids and references
// ---------------------------------------------------------------------------------------------

#[test]
fn id_with_a_slash() {
    let e = GenerationId::new("gen_1/../../usage").unwrap_err();
    // `..` is looked for first.
    assert_eq!(e, IdError::Forbidden { what: "`..`" });
    let e = GenerationId::new("gen_1/x").unwrap_err();
    assert_eq!(e, IdError::Forbidden { what: "`/`" });
    assert_eq!(
        e.to_string(),
        "the generation id contains `/`, which would change the request path"
    );
}

#[test]
fn id_with_dot_dot() {
    let e = GenerationId::new("..").unwrap_err();
    assert_eq!(e, IdError::Forbidden { what: "`..`" });
    assert_eq!(
        Error::from(e).to_string(),
        "invalid generation id: the generation id contains `..`, which would change the request path"
    );
}

#[test]
fn id_with_a_percent() {
    let e = GenerationId::new("gen_%2F").unwrap_err();
    assert_eq!(e, IdError::Forbidden { what: "`%`" });
    assert_eq!(
        e.to_string(),
        "the generation id contains `%`, which would change the request path"
    );
}

#[test]
fn id_empty() {
    let e = GenerationId::new("").unwrap_err();
    assert_eq!(e, IdError::Empty);
    assert_eq!(e.to_string(), "the generation id is empty");
}

#[test]
fn id_with_whitespace_or_query() {
    assert_eq!(
        GenerationId::new("gen_1 ").unwrap_err(),
        IdError::Forbidden { what: "whitespace" }
    );
    assert_eq!(
        GenerationId::new("gen_1?x=1").unwrap_err(),
        IdError::Forbidden { what: "`?`" }
    );
    assert_eq!(
        GenerationId::new("gen_1#f").unwrap_err(),
        IdError::Forbidden { what: "`#`" }
    );
}

#[test]
fn reference_with_an_unknown_flavour() {
    let e = "v2:gen_1".parse::<GenerationRef>().unwrap_err();
    assert_eq!(e, RefParseError::Flavor("v2".to_owned()));
    assert_eq!(
        Error::from(e).to_string(),
        "invalid generation reference: unknown API flavour `v2` (expected `responses:` or \
         `legacy:` before the id)"
    );
}

#[test]
fn reference_with_a_bad_id() {
    let e = "legacy:".parse::<GenerationRef>().unwrap_err();
    assert_eq!(e, RefParseError::Id(IdError::Empty));
    assert_eq!(e.to_string(), "the generation id is empty");
    let e = "responses:gen/1".parse::<GenerationRef>().unwrap_err();
    assert_eq!(e, RefParseError::Id(IdError::Forbidden { what: "`/`" }));
    assert_eq!(
        Error::from(e).to_string(),
        "invalid generation reference: the generation id contains `/`, which would change the \
         request path"
    );
}

#[test]
fn id_of_a_single_dot() {
    // URL normalisation would drop a `.` segment and poll `/v1/responses/` instead.
    let e = "responses:.".parse::<GenerationRef>().unwrap_err();
    assert_eq!(
        e,
        RefParseError::Id(IdError::Forbidden { what: "a lone `.`" })
    );
    assert_eq!(
        e.to_string(),
        "the generation id contains a lone `.`, which would change the request path"
    );
}

#[test]
fn model_slug_empty_or_dot_dot_is_refused_and_nothing_is_sent() {
    let (client, sent) = counting_client(br#"{"model":{}}"#);
    let e = block_on(client.model(" ")).unwrap_err();
    assert_eq!(
        input_error(&e),
        &InputError::Request(RequestError::Empty { field: "slug" })
    );
    assert_eq!(e.to_string(), "invalid request: `slug` must not be empty");
    let e = block_on(client.model("..")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid request: `slug` must not be `.` or `..`"
    );
    assert_eq!(sent.load(Ordering::SeqCst), 0);
}

// ---------------------------------------------------------------------------------------------
// Prompts and request bodies
// ---------------------------------------------------------------------------------------------

#[test]
fn prompt_empty_is_refused_by_the_client_and_nothing_is_sent() {
    let (client, sent) = counting_client(br#"{"id":"gen_1","status":"queued"}"#);
    for prompt in ["", "   \n\t"] {
        let e = block_on(client.create(&CreateResponse::new("moonshotai/kimi-k2.5", prompt)))
            .unwrap_err();
        assert_eq!(
            input_error(&e),
            &InputError::Request(RequestError::Empty { field: "input" })
        );
        assert_eq!(e.to_string(), "invalid request: `input` must not be empty");
    }
    assert_eq!(sent.load(Ordering::SeqCst), 0);
}

#[test]
fn legacy_prompt_empty_is_refused_and_nothing_is_sent() {
    let (client, sent) = counting_client(br#"{"id":"gen_1","status":"pending"}"#);
    let e =
        block_on(client.create_legacy(&CreateGeneration::new("google/veo-3.1", ""))).unwrap_err();
    assert_eq!(
        input_error(&e),
        &InputError::Request(RequestError::Empty { field: "prompt" })
    );
    assert_eq!(e.to_string(), "invalid request: `prompt` must not be empty");
    assert_eq!(sent.load(Ordering::SeqCst), 0);
}

#[test]
fn model_empty_is_refused_by_validate() {
    let e = CreateResponse::new("", "A paper plane")
        .validate()
        .unwrap_err();
    assert_eq!(e, RequestError::Empty { field: "model" });
    assert_eq!(e.to_string(), "`model` must not be empty");
}

#[test]
fn aspect_ratio_malformed_is_refused_by_the_encoder() {
    let encoder = RequestEncoder::new(BaseUrl::default(), ApiKey::new(KEY).unwrap()).unwrap();
    let body = CreateResponse::new("moonshotai/kimi-k2.5", "A cat").aspect_ratio("16x9");
    let e = encoder.create_response(&body, None).unwrap_err();
    assert_eq!(
        input_error(&e),
        &InputError::Request(RequestError::InvalidValue {
            field: "aspectRatio",
            reason: "must look like `16:9` (two positive whole numbers)",
        })
    );
    assert_eq!(
        e.to_string(),
        "invalid request: `aspectRatio` must look like `16:9` (two positive whole numbers)"
    );
}

#[test]
fn zero_canvas_is_refused() {
    let e = CreateResponse::new("moonshotai/kimi-k2.5", "A cat")
        .canvas(0, 1920)
        .validate()
        .unwrap_err();
    assert_eq!(
        e,
        RequestError::InvalidValue {
            field: "width",
            reason: "must be positive"
        }
    );
    assert_eq!(e.to_string(), "`width` must be positive");
}

// ---------------------------------------------------------------------------------------------
// Attribution headers
// ---------------------------------------------------------------------------------------------

#[test]
fn attribution_app_name_too_long() {
    let e = Attribution::new().app_name(&"a".repeat(257)).unwrap_err();
    assert_eq!(
        e,
        AttributionError::TooLong {
            header: "X-Application-Name",
            chars: 257,
            max: 256
        }
    );
    assert_eq!(
        e.to_string(),
        "`X-Application-Name` has 257 characters, more than the 256 allowed"
    );
    // 256 characters are fine.
    assert!(Attribution::new().app_name(&"a".repeat(256)).is_ok());
}

#[test]
fn attribution_title_with_a_newline() {
    let e = Attribution::new()
        .title("My App\r\nX-Injected: 1")
        .unwrap_err();
    assert_eq!(
        e,
        AttributionError::Control {
            header: "X-Pipevideo-Title"
        }
    );
    assert_eq!(
        e.to_string(),
        "`X-Pipevideo-Title` contains a control character"
    );
    assert_eq!(
        Error::from(e).to_string(),
        "invalid attribution header: `X-Pipevideo-Title` contains a control character"
    );
}

#[test]
fn attribution_referer_too_long_or_not_http() {
    let long = format!("https://example.com/{}", "p".repeat(2048));
    let e = Attribution::new().referer(&long).unwrap_err();
    assert_eq!(
        e,
        AttributionError::TooLong {
            header: "HTTP-Referer",
            chars: 2068,
            max: 2048
        }
    );
    let e = Attribution::new()
        .referer("ftp://example.com/app")
        .unwrap_err();
    assert_eq!(e, AttributionError::NotHttpUrl);
    assert_eq!(
        e.to_string(),
        "`HTTP-Referer` must be an http:// or https:// URL"
    );
}

#[test]
fn attribution_empty_value() {
    let e = Attribution::new().app_name("  ").unwrap_err();
    assert_eq!(
        e,
        AttributionError::Empty {
            header: "X-Application-Name"
        }
    );
    assert_eq!(e.to_string(), "`X-Application-Name` must not be empty");
}

/// Issue 19, item 10: non-ASCII text used to pass here and then fail every request in both
/// transports (neither sends obs-text). It is refused when the attribution is built, and the
/// error names the character and where it is.
#[test]
fn attribution_non_ascii_is_refused_with_the_character_named() {
    let e = Attribution::new().title("Vidéos ✓").unwrap_err();
    assert_eq!(
        e,
        AttributionError::NotAscii {
            header: "X-Pipevideo-Title",
            character: 'é',
            position: 3,
        }
    );
    assert_eq!(
        e.to_string(),
        "`X-Pipevideo-Title` has 'é' (U+00E9) at character 3: only visible ASCII and spaces \
         can travel in an HTTP header"
    );
    let e = Attribution::new().app_name("app\u{7f}").unwrap_err();
    assert!(matches!(e, AttributionError::Control { .. }), "{e:?}");
    let e = Attribution::new().app_name("renderer‐2").unwrap_err();
    assert!(
        matches!(
            e,
            AttributionError::NotAscii {
                character: '‐',
                position: 8,
                ..
            }
        ),
        "{e:?}"
    );
    // A referer with a non-ASCII path is sent percent-encoded, which any header carries; a
    // non-ASCII host must be given in punycode (the core carries no IDNA tables), and the
    // error names the character.
    assert_eq!(
        Attribution::new()
            .referer("https://exämple.com/vidéo")
            .unwrap_err(),
        AttributionError::NotAscii {
            header: "HTTP-Referer",
            character: 'ä',
            position: 10,
        }
    );
    let a = Attribution::new()
        .referer("https://xn--exmple-cua.com/vidéo")
        .unwrap();
    let (_, value) = a.headers().next().unwrap();
    assert_eq!(value, "https://xn--exmple-cua.com/vid%C3%A9o");
    // Every value kept is a valid header value with no CR, LF or NUL.
    assert!(value.to_str().is_ok());
}

// ---------------------------------------------------------------------------------------------
// Base URLs
// ---------------------------------------------------------------------------------------------

#[test]
fn base_url_without_a_scheme() {
    let e = BaseUrl::parse("api.pipevideo.co/v1").unwrap_err();
    assert_eq!(
        e,
        BaseUrlError::Parse("relative URL without a base".to_owned())
    );
    assert_eq!(
        Error::from(e).to_string(),
        "invalid base URL: not an absolute URL: relative URL without a base"
    );
}

#[test]
fn base_url_with_a_query() {
    let e = BaseUrl::parse("https://api.pipevideo.co/v1?key=pv_x").unwrap_err();
    assert_eq!(e, BaseUrlError::Query);
    assert_eq!(
        e.to_string(),
        "the base URL must not contain a query string"
    );
}

#[test]
fn base_url_with_a_fragment_or_user_info() {
    assert_eq!(
        BaseUrl::parse("https://api.pipevideo.co/v1#x").unwrap_err(),
        BaseUrlError::Fragment
    );
    let e = BaseUrl::parse("https://user:pass@api.pipevideo.co/v1").unwrap_err();
    assert_eq!(e, BaseUrlError::UserInfo);
    assert_eq!(
        e.to_string(),
        "the base URL must not contain a user name or password"
    );
}

#[test]
fn base_url_plain_http_to_a_remote_host() {
    let e = BaseUrl::parse("http://api.pipevideo.co/v1").unwrap_err();
    assert_eq!(
        e,
        BaseUrlError::InsecureHttp {
            host: "api.pipevideo.co".to_owned()
        }
    );
    assert_eq!(
        e.to_string(),
        "plain http:// to `api.pipevideo.co` would send the API key unencrypted; use https://, \
         a loopback host, or BaseUrl::parse_allowing_insecure_http"
    );
    // Loopback is fine.
    assert!(BaseUrl::parse("http://127.0.0.1:3001/v1").is_ok());
    assert!(BaseUrl::parse("http://[::1]:3001/v1").is_ok());
}

#[test]
fn base_url_with_another_scheme() {
    let e = BaseUrl::parse("ftp://api.pipevideo.co/v1").unwrap_err();
    assert_eq!(e, BaseUrlError::Scheme("ftp".to_owned()));
    assert_eq!(e.to_string(), "unsupported scheme `ftp` (use https://)");
}

// ---------------------------------------------------------------------------------------------
// Other header values
// ---------------------------------------------------------------------------------------------

#[test]
fn idempotency_key_not_ascii() {
    let e = IdempotencyKey::new("order-é").unwrap_err();
    assert_eq!(e, IdempotencyKeyError::Invalid { position: 6 });
    assert_eq!(
        Error::from(e).to_string(),
        "invalid idempotency key: the idempotency key has a character that is not visible \
         ASCII at byte 6"
    );
}

#[test]
fn idempotency_key_too_long_or_empty() {
    let e = IdempotencyKey::new("k".repeat(256)).unwrap_err();
    assert_eq!(e, IdempotencyKeyError::TooLong { len: 256 });
    assert_eq!(
        e.to_string(),
        "the idempotency key has 256 characters, more than the 255 allowed"
    );
    assert_eq!(
        IdempotencyKey::new("").unwrap_err(),
        IdempotencyKeyError::Empty
    );
}

#[test]
fn webhook_header_not_utf8() {
    let secret = WebhookSecret::new("whsec_c2VjcmV0").unwrap();
    let mut headers = HeaderMap::new();
    headers.insert("svix-id", HeaderValue::from_bytes(b"msg_\xff").unwrap());
    headers.insert("svix-timestamp", HeaderValue::from_static("1709827200"));
    headers.insert("svix-signature", HeaderValue::from_static("v1,c2ln"));
    let e = Verifier::new(secret.clone())
        .verify(&headers, b"{}", SystemTime::UNIX_EPOCH)
        .unwrap_err();
    assert_eq!(e, VerifyError::UnreadableHeader("svix-id"));
    assert_eq!(
        e.to_string(),
        "the `svix-id` webhook header is not UTF-8 text"
    );
    // A UTF-8 id that is not ASCII is read (as `sign` and `WebhookHeaders::new` accept it) and
    // judged by its signature like any other.
    headers.insert(
        "svix-id",
        HeaderValue::from_bytes("msg_é".as_bytes()).unwrap(),
    );
    let e = Verifier::new(secret)
        .verify(&headers, b"{}", SystemTime::UNIX_EPOCH)
        .unwrap_err();
    assert_eq!(e, VerifyError::NoMatchingSignature);
}

// ---------------------------------------------------------------------------------------------
// retry_after in the body, and the Retry-After header
// ---------------------------------------------------------------------------------------------

#[test]
fn retry_after_negative() {
    let e = api_429(br#"{"message":"Rate limit exceeded.","data":{"retry_after":-1}}"#);
    assert_eq!(e.retry_after(), None);
    assert_eq!(
        e.to_string(),
        "HTTP 429 Too Many Requests: Rate limit exceeded."
    );
    let d = retry_after_header("-1");
    assert_eq!(d.delay(), None);
    assert!(d.header_malformed());
}

#[test]
fn retry_after_nan() {
    // JSON has no NaN literal: such a body is not JSON at all, so only the raw body is kept.
    let e = api_429(br#"{"message":"Rate limit exceeded.","data":{"retry_after":NaN}}"#);
    assert_eq!(e.retry_after(), None);
    assert_eq!(
        e.message(),
        "Too Many Requests (body is not a JSON error object)"
    );
    // As a string it parses to NaN, which is refused.
    let e = api_429(br#"{"message":"Rate limit exceeded.","data":{"retry_after":"NaN"}}"#);
    assert_eq!(e.retry_after(), None);
    let d = retry_after_header("NaN");
    assert_eq!(d.delay(), None);
    assert!(d.header_malformed());
}

#[test]
fn retry_after_huge() {
    let e = api_429(br#"{"message":"Rate limit exceeded.","data":{"retry_after":1e12}}"#);
    assert_eq!(e.retry_after(), Some(Duration::MAX));
    assert_eq!(
        e.to_string(),
        "HTTP 429 Too Many Requests: Rate limit exceeded. (retry after: beyond any deadline)"
    );
    // As a header, `1e12` is neither delta-seconds nor a date; 10^12 in digits is read.
    assert!(retry_after_header("1e12").header_malformed());
    assert_eq!(
        retry_after_header("1000000000000").delay(),
        Some(Duration::from_secs(1_000_000_000_000))
    );
}

#[test]
fn retry_after_words() {
    let e = api_429(br#"{"message":"Rate limit exceeded.","data":{"retry_after":"soon"}}"#);
    assert_eq!(e.retry_after(), None);
    let d = retry_after_header("soon");
    assert_eq!(d.delay(), None);
    assert!(d.header_malformed());
    // The header is still kept verbatim for the record.
    let mut headers = HeaderMap::new();
    headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("soon"));
    let e = ApiError::from_response(StatusCode::TOO_MANY_REQUESTS, &headers, b"");
    assert_eq!(e.retry_after_header(), Some("soon"));
    assert_eq!(e.message(), "Too Many Requests (empty body)");
}

// ---------------------------------------------------------------------------------------------
// Statuses never documented
// ---------------------------------------------------------------------------------------------

#[test]
fn undocumented_status_is_kept_and_is_not_terminal() {
    let body = br#"{"id":"gen_1","status":"throttled"}"#;
    for flavor in [Flavor::Responses, Flavor::Legacy] {
        let g = codec::decode_generation(flavor, &Response::new(body.to_vec())).unwrap();
        assert_eq!(g.status(), &Status::Unknown("throttled".to_owned()));
        assert!(!g.status().is_terminal());
        assert_eq!(g.status().to_string(), "throttled");
    }
}

#[test]
fn undocumented_status_never_ends_a_wait() {
    let t0 = Instant::now();
    let reference: GenerationRef = "responses:gen_1".parse().unwrap();
    let policy = WaitPolicy::default()
        .with_deadline(Duration::from_secs(60))
        .unwrap();
    let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(3);
    let mut poller = Poller::<Status>::resume(reference, policy, t0, Duration::ZERO, &mut rng);
    let mut now = t0;
    let mut polls = 0;
    let outcome = loop {
        if let Some(outcome) = poller.poll_outcome() {
            break outcome;
        }
        if poller.poll_transmit(now).is_some() {
            polls += 1;
            poller.handle_response(now, Ok(Status::from_wire("paused_for_review")));
            assert!(!poller.is_finished());
            continue;
        }
        now = poller.poll_timeout().unwrap();
        poller.handle_timeout(now);
    };
    assert!(polls > 1);
    assert_eq!(
        now,
        t0 + Duration::from_secs(60),
        "ends exactly at its deadline"
    );
    assert_eq!(
        outcome.last_status,
        Some(Status::Unknown("paused_for_review".to_owned()))
    );
    assert_eq!(
        outcome.to_string(),
        "responses:gen_1: wait deadline exceeded (last status: paused_for_review)"
    );
}

#[test]
fn undocumented_http_status_is_an_api_error_not_retried() {
    let e = ApiError::from_response(
        StatusCode::from_u16(418).unwrap(),
        &HeaderMap::new(),
        b"short and stout",
    );
    assert!(!e.retryable());
    assert_eq!(
        e.to_string(),
        "HTTP 418 I'm a teapot (body is not a JSON error object)"
    );
    let e = ApiError::from_response(StatusCode::from_u16(599).unwrap(), &HeaderMap::new(), b"");
    assert_eq!(e.to_string(), "HTTP 599 (empty body)");
}

// ---------------------------------------------------------------------------------------------
// JSON with wrong types
// ---------------------------------------------------------------------------------------------

#[test]
fn wrong_type_in_usage_names_the_json_path() {
    let body = br#"{"credit_balance":100,"daily_usage":[{"date":"2026-03-07"},{"date":20260307}]}"#;
    let Err(Error::Decode(e)) = codec::decode_usage(&Response::new(body.to_vec())) else {
        panic!("expected a decode error");
    };
    assert_eq!(e.path(), "daily_usage[1].date");
    assert_eq!(e.what(), "Usage");
    assert_eq!(
        e.to_string(),
        "could not decode the Usage in an HTTP 200 response at `daily_usage[1].date`: \
         invalid type: integer `20260307`, expected a string at line 1 column 75"
    );
    assert!(e.raw_body().contains("20260307"));
}

#[test]
fn wrong_type_for_the_generation_id() {
    let body = br#"{"id":42,"status":"queued"}"#;
    let Err(Error::Decode(e)) =
        codec::decode_generation(Flavor::Responses, &Response::new(body.to_vec()))
    else {
        panic!("expected a decode error");
    };
    assert_eq!(e.path(), "id");
    assert_eq!(
        e.to_string(),
        "could not decode the ResponseObject in an HTTP 200 response at `id`: \
         invalid type: integer `42`, expected a string at line 1 column 8"
    );
}

#[test]
fn generation_id_that_would_change_the_path_is_a_decode_error() {
    let body = br#"{"id":"../usage","status":"queued"}"#;
    let Err(Error::Decode(e)) =
        codec::decode_generation(Flavor::Legacy, &Response::new(body.to_vec()))
    else {
        panic!("expected a decode error");
    };
    assert_eq!(e.path(), "id");
    assert_eq!(
        e.message(),
        "the generation id contains `..`, which would change the request path"
    );
}

#[test]
fn body_that_is_not_json_at_all() {
    let Err(Error::Decode(e)) =
        codec::decode_json::<Usage, _>(&Response::new(b"<html>ok</html>".to_vec()))
    else {
        panic!("expected a decode error");
    };
    assert_eq!(e.path(), ".");
    assert_eq!(
        e.to_string(),
        "could not decode the Usage in an HTTP 200 response at `.`: \
         expected value at line 1 column 1"
    );
}

// ---------------------------------------------------------------------------------------------
// Bodies over the cap
// ---------------------------------------------------------------------------------------------

#[test]
fn body_over_the_cap_is_a_typed_transport_error_and_is_not_retried() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    let transport = FnTransport::new(VirtualClock::new(Instant::now()), move |_request| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, TransportError>(Response::new(vec![b' '; 4096])) }
    });
    let client = Client::builder(transport)
        .api_key(ApiKey::new(KEY).unwrap())
        .body_limit(1024)
        .seed(1)
        .build()
        .unwrap();
    let e = block_on(client.usage()).unwrap_err();
    let Error::Transport(t) = &e else {
        panic!("expected a transport error, got {e:?}");
    };
    assert_eq!(t.kind(), FailureKind::Permanent);
    assert_eq!(t.cause(), Cause::BodyTooLarge { limit: 1024 });
    assert_eq!(
        e.to_string(),
        "not retryable: response body exceeds the 1024-byte limit"
    );
    assert_eq!(
        sent.load(Ordering::SeqCst),
        1,
        "a body over the cap is never asked again"
    );
}

#[test]
fn error_body_over_the_parse_limit_is_kept_short() {
    let mut body = br#"{"message":"x","pad":""#.to_vec();
    body.resize(pipevideo_core::ERROR_BODY_PARSE_LIMIT + 10, b'a');
    body.extend_from_slice(b"\"}");
    let e = ApiError::from_response(StatusCode::BAD_GATEWAY, &HeaderMap::new(), &body);
    assert_eq!(e.message(), "Bad Gateway (body is not a JSON error object)");
    assert_eq!(e.body_len(), body.len());
    assert_eq!(e.raw_body().len(), pipevideo_core::RAW_BODY_LIMIT);
}

// ---------------------------------------------------------------------------------------------
// Webhook secrets
// ---------------------------------------------------------------------------------------------

#[test]
fn webhook_secret_without_the_prefix() {
    let e = WebhookSecret::new("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err();
    assert_eq!(e, SecretError::MissingPrefix);
    assert_eq!(
        e.to_string(),
        "the webhook secret does not start with `whsec_`; copy the whole secret from the \
         endpoint's page in the dashboard"
    );
    assert!(!format!("{e:?}").contains("MfKQ"));
}

#[test]
fn webhook_secret_not_base64_or_with_a_newline() {
    let e = WebhookSecret::new("whsec_MfKQ9r8G!KYq").unwrap_err();
    assert_eq!(e, SecretError::NotBase64 { position: Some(14) });
    assert_eq!(
        e.to_string(),
        "the webhook secret is not `whsec_` followed by base64 (invalid character at byte 14)"
    );
    let e = WebhookSecret::new("whsec_MfKQ9r8G\n").unwrap_err();
    assert_eq!(e, SecretError::Whitespace { position: 14 });
    let e = VerifyError::from(WebhookSecret::new("whsec_").unwrap_err());
    assert_eq!(e, VerifyError::BadSecret(SecretError::Empty));
    assert_eq!(e.to_string(), "the webhook secret is empty");
}

// ---------------------------------------------------------------------------------------------
// Waits
// ---------------------------------------------------------------------------------------------

#[test]
fn wait_with_a_zero_deadline_is_refused_and_nothing_is_sent() {
    assert_eq!(
        WaitPolicy::default()
            .with_deadline(Duration::ZERO)
            .unwrap_err(),
        WaitPolicyError::ZeroDeadline
    );
    let (client, sent) = counting_client(br#"{"id":"gen_1","status":"queued"}"#);
    let reference: GenerationRef = "responses:gen_1".parse().unwrap();
    let e =
        block_on(client.wait_with(&reference, WaitOptions::new().with_deadline(Duration::ZERO)))
            .unwrap_err();
    let Error::Wait(w) = &e else {
        panic!("expected a wait error, got {e:?}");
    };
    assert_eq!(w.reference(), &reference);
    assert!(
        matches!(w.kind(), WaitErrorKind::Fatal { message } if message == "the wait deadline must be positive"),
        "{w:?}"
    );
    assert_eq!(sent.load(Ordering::SeqCst), 0);
}

#[test]
fn a_poll_failure_message_is_kept_verbatim() {
    // The poller keeps the server's words for the outcome (nothing is re-worded or lost).
    let t0 = Instant::now();
    let reference: GenerationRef = "legacy:gen_1".parse().unwrap();
    let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(3);
    let mut poller = Poller::<Status>::resume(
        reference,
        WaitPolicy::default(),
        t0,
        Duration::ZERO,
        &mut rng,
    );
    assert!(poller.poll_transmit(t0).is_some());
    poller.handle_response(
        t0,
        Err(PollFailure::Fatal {
            message: "invalid request: `prompt` must not be empty".to_owned(),
        }),
    );
    let outcome = poller.poll_outcome().unwrap();
    assert_eq!(outcome.to_string(), "legacy:gen_1: polling failed");
}

// ---------------------------------------------------------------------------------------------
// A transport built without TLS
// ---------------------------------------------------------------------------------------------

/// A transport that says what a reqwest transport built without `rustls`/`native-tls` says.
struct WithoutTls<T>(T);

const NO_TLS: MissingTls = MissingTls::new(
    "the test transport",
    "enable the `rustls` feature of the test",
);

/// Only the HTTP half is wrapped; the clock is the test's own, joined in a [`Stack`].
#[async_trait::async_trait]
impl<T: HttpClient> HttpClient for WithoutTls<T> {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        options: SendOptions,
    ) -> Result<Response<Vec<u8>>, TransportError> {
        self.0.send(request, options).await
    }

    async fn download(
        &self,
        request: http::Request<Vec<u8>>,
        sink: &mut dyn ChunkSink,
        options: DownloadOptions,
    ) -> Result<Response<DownloadBody>, TransportError> {
        self.0.download(request, sink, options).await
    }

    fn tls_support(&self) -> Result<(), MissingTls> {
        Err(NO_TLS)
    }
}

#[test]
fn an_https_base_url_on_a_transport_without_tls_is_refused_when_the_client_is_built() {
    let sent = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&sent);
    let clock = VirtualClock::new(Instant::now());
    let http = WithoutTls(FnTransport::new(clock.clone(), move |_request| {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, TransportError>(Response::new(br#"{"data":[]}"#.to_vec())) }
    }));
    let transport = Arc::new(Stack::new(http, clock));
    // The default base URL is https://api.pipevideo.co/v1.
    let e = Client::builder(Arc::clone(&transport))
        .api_key(ApiKey::new(KEY).unwrap())
        .build()
        .unwrap_err();
    assert!(
        matches!(&e, Error::Input(InputError::Tls(m)) if *m == NO_TLS),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "the test transport was built without TLS and cannot reach https:// URLs: enable the \
         `rustls` feature of the test"
    );
    assert!(!e.is_retryable());
    // Plain http (an emulator on loopback) is what such a build is for: it works.
    let client = Client::builder(transport)
        .api_key(ApiKey::new(KEY).unwrap())
        .base_url(BaseUrl::parse("http://127.0.0.1:3001/v1").unwrap())
        .build()
        .unwrap();
    block_on(client.engines()).unwrap();
    assert_eq!(sent.load(Ordering::SeqCst), 1);
}
