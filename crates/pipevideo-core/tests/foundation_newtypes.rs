//! Newtypes that refuse bad input before a request exists: base URL, attribution headers,
//! idempotency keys.

use pipevideo_core::{
    Attribution, AttributionError, BaseUrl, BaseUrlError, DEFAULT_BASE_URL, IdempotencyKey,
    IdempotencyKeyError,
};
use proptest::prelude::*;
use rand::{SeedableRng, rngs::SmallRng};

#[test]
fn base_url_accepts_and_normalises() {
    let cases = [
        ("https://api.pipevideo.co/v1", "https://api.pipevideo.co/v1"),
        (
            "https://api.pipevideo.co/v1/",
            "https://api.pipevideo.co/v1",
        ),
        (
            "https://api.pipevideo.co/v1///",
            "https://api.pipevideo.co/v1",
        ),
        (
            "  https://api.pipevideo.co//v1  ",
            "https://api.pipevideo.co/v1",
        ),
        ("https://proxy.example.com", "https://proxy.example.com"),
        (
            "https://proxy.example.com:8443/a/b/v1/",
            "https://proxy.example.com:8443/a/b/v1",
        ),
        ("HTTPS://API.PIPEVIDEO.CO/v1", "https://api.pipevideo.co/v1"),
        ("http://127.0.0.1:3001/v1", "http://127.0.0.1:3001/v1"),
        ("http://127.9.8.7/v1", "http://127.9.8.7/v1"),
        ("http://localhost:3001", "http://localhost:3001"),
        ("http://LOCALHOST:3001/", "http://localhost:3001"),
        ("http://[::1]:3001/v1", "http://[::1]:3001/v1"),
    ];
    for (input, shown) in cases {
        let b = BaseUrl::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(b.as_str(), shown, "{input}");
        assert_eq!(b.to_string(), shown);
        assert!(!b.is_insecure());
        assert_eq!(b.join("usage").as_str(), format!("{shown}/usage"));
        assert_eq!(b.join("/usage"), b.join("usage"));
    }
    assert_eq!(BaseUrl::default().as_str(), DEFAULT_BASE_URL);
    assert_eq!(BaseUrl::default(), DEFAULT_BASE_URL.parse().unwrap());
}

#[test]
fn base_url_refusals() {
    let insecure = |h: &str| BaseUrlError::InsecureHttp { host: h.into() };
    let cases: Vec<(&str, BaseUrlError)> = vec![
        ("http://api.pipevideo.co/v1", insecure("api.pipevideo.co")),
        ("http://10.0.0.5:3001/v1", insecure("10.0.0.5")),
        (
            "http://localhost.evil.com/v1",
            insecure("localhost.evil.com"),
        ),
        ("http://128.0.0.1/v1", insecure("128.0.0.1")),
        ("http://[::2]/v1", insecure("[::2]")),
        (
            "ftp://api.pipevideo.co/v1",
            BaseUrlError::Scheme("ftp".into()),
        ),
        (
            "https://user:pw@api.pipevideo.co/v1",
            BaseUrlError::UserInfo,
        ),
        ("https://user@api.pipevideo.co/v1", BaseUrlError::UserInfo),
        ("https://api.pipevideo.co/v1?x=1", BaseUrlError::Query),
        ("https://api.pipevideo.co/v1?", BaseUrlError::Query),
        ("https://api.pipevideo.co/v1#top", BaseUrlError::Fragment),
    ];
    for (input, want) in cases {
        assert_eq!(BaseUrl::parse(input), Err(want), "{input}");
    }
    for bad in ["", "api.pipevideo.co/v1", "/v1", "https://"] {
        assert!(
            matches!(BaseUrl::parse(bad), Err(BaseUrlError::Parse(_))),
            "{bad:?}"
        );
    }
    assert!(matches!(
        BaseUrl::parse("data:text/plain,x"),
        Err(BaseUrlError::NoHost)
    ));
    // Internationalised hosts only in punycode: the core carries no IDNA tables.
    let e = BaseUrl::parse("https://exämple.com/v1").unwrap_err();
    assert_eq!(
        e,
        BaseUrlError::NonAsciiHost {
            host: "exämple.com".into(),
            character: 'ä'
        }
    );
    assert!(
        e.to_string().contains("'ä'") && e.to_string().contains("punycode"),
        "{e}"
    );
    assert_eq!(
        BaseUrl::parse("https://XN--exmple-cua.com/v1")
            .unwrap()
            .as_str(),
        "https://xn--exmple-cua.com/v1"
    );
    // Numeric hosts other than a dotted quad are refused, not guessed at.
    for bad in [
        "http://127.1/v1",
        "https://[::1/v1",
        "https://a b.com/v1",
        "https://x.com:99999/",
    ] {
        assert!(
            matches!(BaseUrl::parse(bad), Err(BaseUrlError::Parse(_))),
            "{bad:?}"
        );
    }
    // The dangerous option accepts plain http anywhere, and says so.
    let b = BaseUrl::parse_allowing_insecure_http("http://10.0.0.5:3001/v1/").unwrap();
    assert!(b.is_insecure());
    assert_eq!(b.as_str(), "http://10.0.0.5:3001/v1");
    assert!(
        !BaseUrl::parse_allowing_insecure_http("https://x.example/v1")
            .unwrap()
            .is_insecure()
    );
    assert!(BaseUrl::parse_allowing_insecure_http("https://x.example/v1?q").is_err());
    let msg = BaseUrl::parse("http://api.pipevideo.co/v1")
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("unencrypted") && msg.contains("parse_allowing_insecure_http"),
        "{msg}"
    );
}

#[test]
fn attribution_rules() {
    let max = "a".repeat(256);
    let ok = Attribution::new()
        .app_name(&max)
        .unwrap()
        .title("Titulo - v2")
        .unwrap();
    assert_eq!(ok.app_name_str(), Some(max.as_str()));
    assert_eq!(ok.headers().count(), 2);
    assert!(Attribution::new().is_empty());

    let too_long = "é".repeat(257);
    let cases: Vec<(Result<Attribution, AttributionError>, AttributionError)> = vec![
        (
            Attribution::new().app_name(""),
            AttributionError::Empty {
                header: "X-Application-Name",
            },
        ),
        (
            Attribution::new().app_name("  "),
            AttributionError::Empty {
                header: "X-Application-Name",
            },
        ),
        (
            Attribution::new().app_name(&too_long),
            AttributionError::TooLong {
                header: "X-Application-Name",
                chars: 257,
                max: 256,
            },
        ),
        (
            Attribution::new().title("line\nbreak"),
            AttributionError::Control {
                header: "X-Pipevideo-Title",
            },
        ),
        (
            Attribution::new().title("nul\0"),
            AttributionError::Control {
                header: "X-Pipevideo-Title",
            },
        ),
        (
            Attribution::new().title("del\u{7f}"),
            AttributionError::Control {
                header: "X-Pipevideo-Title",
            },
        ),
        (
            Attribution::new().referer(""),
            AttributionError::Empty {
                header: "HTTP-Referer",
            },
        ),
        (
            Attribution::new().referer("example.com"),
            AttributionError::NotHttpUrl,
        ),
        (
            Attribution::new().referer("ftp://example.com"),
            AttributionError::NotHttpUrl,
        ),
        (
            Attribution::new().referer("javascript:alert(1)"),
            AttributionError::NotHttpUrl,
        ),
    ];
    for (got, want) in cases {
        assert_eq!(got, Err(want));
    }
    let long_url = format!("https://example.com/{}", "p".repeat(2048 - 20));
    assert_eq!(long_url.len(), 2048);
    assert!(Attribution::new().referer(&long_url).is_ok());
    let longer = format!("{long_url}q");
    assert_eq!(
        Attribution::new().referer(&longer),
        Err(AttributionError::TooLong {
            header: "HTTP-Referer",
            chars: 2049,
            max: 2048
        })
    );
    assert!(
        Attribution::new()
            .referer("http://localhost:3000/app")
            .is_ok()
    );
}

#[test]
fn idempotency_keys() {
    let mut rng = SmallRng::seed_from_u64(42);
    let a = IdempotencyKey::generate(&mut rng);
    let b = IdempotencyKey::generate(&mut rng);
    assert_ne!(a, b);
    for k in [&a, &b] {
        let hex = k.as_str().strip_prefix("pvidem_").unwrap();
        assert_eq!(hex.len(), 32);
        assert!(
            hex.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(k.to_string(), k.as_str());
        assert_eq!(IdempotencyKey::new(k.as_str()).as_ref(), Ok(k));
    }
    // Deterministic for a seed.
    assert_eq!(
        IdempotencyKey::generate(&mut SmallRng::seed_from_u64(42)),
        a
    );

    assert_eq!(IdempotencyKey::new(""), Err(IdempotencyKeyError::Empty));
    assert_eq!(
        IdempotencyKey::new("a b"),
        Err(IdempotencyKeyError::Invalid { position: 1 })
    );
    assert_eq!(
        IdempotencyKey::new("ключ"),
        Err(IdempotencyKeyError::Invalid { position: 0 })
    );
    assert_eq!(
        IdempotencyKey::new("x\n"),
        Err(IdempotencyKeyError::Invalid { position: 1 })
    );
    assert!(IdempotencyKey::new("~".repeat(255)).is_ok());
    assert_eq!(
        IdempotencyKey::new("~".repeat(256)),
        Err(IdempotencyKeyError::TooLong { len: 256 })
    );
}

proptest! {
    #[test]
    fn idempotency_key_validation_matches_the_rule(s in "\\PC{0,300}") {
        let ok = !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| (0x21..=0x7e).contains(&b));
        prop_assert_eq!(IdempotencyKey::new(s.clone()).is_ok(), ok);
        if ok {
            // Every accepted key is a valid header value.
            prop_assert!(http::HeaderValue::from_str(&s).is_ok());
        }
    }

    #[test]
    fn base_url_matches_the_url_crate(
        scheme in prop_oneof![Just("https"), Just("HTTP"), Just("http")],
        host in prop_oneof![
            Just("localhost".to_owned()),
            Just("127.0.0.1".to_owned()),
            Just("[::1]".to_owned()),
            Just("[0:0::1]".to_owned()),
            "[a-zA-Z][a-zA-Z0-9-]{0,8}(\\.[a-z]{2,4}){0,2}",
        ],
        port in proptest::option::of(prop_oneof![Just(80u16), Just(443), 1u16..]),
        path in "(/([a-zA-Z0-9._~%é -]{0,6}|\\.\\.|\\.)){0,5}/{0,2}",
    ) {
        // The core's own parser (no `url` crate in its dependencies) must give the same base
        // as the `url` crate, which the core used before, wherever both accept the input.
        let port = port.map(|p| format!(":{p}")).unwrap_or_default();
        let input = format!("{scheme}://{host}{port}{path}");
        let ours = BaseUrl::parse_allowing_insecure_http(&input);
        match url::Url::parse(&input) {
            Ok(mut u) => {
                let segs: Vec<String> = u.path().split('/').filter(|s| !s.is_empty()).map(String::from).collect();
                u.set_path(&format!("/{}", segs.iter().map(|s| format!("{s}/")).collect::<String>()));
                let want = u.as_str().strip_suffix('/').unwrap_or(u.as_str()).to_owned();
                let ours = ours.unwrap_or_else(|e| panic!("{input}: {e}"));
                prop_assert_eq!(ours.as_str(), want.as_str(), "{}", input);
            }
            Err(_) => prop_assert!(ours.is_err(), "{}", input),
        }
    }

    #[test]
    fn base_url_join_never_escapes_the_prefix(prefix in "(/[a-z0-9]{1,5}){0,3}/{0,3}", leaf in "[a-z]{1,8}") {
        let b = BaseUrl::parse(&format!("https://api.example.com{prefix}")).unwrap();
        let joined = b.join(&leaf);
        let want = format!("{}/{}", b.as_str(), leaf);
        prop_assert_eq!(joined.as_str(), want.as_str());
        prop_assert!(!b.as_str().ends_with('/'));
    }
}

/// Hosts and separators the URL standard reads differently from a plain splitter: each is
/// refused (base URL and referer alike), never read as another host. `url` (the crate the core
/// used to parse with) shows what the standard makes of them.
#[test]
fn urls_the_standard_reads_as_another_host_are_refused() {
    let cases = [
        // Text after an IPv6 literal that is not a port.
        ("http://[::1]junk/v1", None),
        ("https://[::1]evil.com:443/v1", None),
        // Hex IPv4 in upper case: loopback to the standard and to resolvers.
        ("https://0X7f000001/v1", Some("127.0.0.1")),
        ("https://0X7F.1/v1", Some("127.0.0.1")),
        // A backslash is a `/` to the standard: host `api.example.com`, not `evil.com`.
        (
            "https://api.example.com\\@evil.com/v1",
            Some("api.example.com"),
        ),
        ("https://api.example.com/v\\1", Some("api.example.com")),
    ];
    for (input, standard_host) in cases {
        let standard = url::Url::parse(input)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned));
        assert_eq!(
            standard.as_deref(),
            standard_host,
            "what the standard reads: {input}"
        );
        assert!(
            matches!(BaseUrl::parse(input), Err(BaseUrlError::Parse(_))),
            "base URL {input}: {:?}",
            BaseUrl::parse(input)
        );
        assert!(
            Attribution::new().referer(input).is_err(),
            "referer {input}"
        );
    }
}
