//! Sans-IO encoding: every endpoint's method, path and headers; validation before sending;
//! ids and slugs that can never change the path.

use http::{Method, header};
use percent_encoding::percent_decode_str;
use pipevideo_core::{
    ApiKey, Attribution, BaseUrl, Error, Flavor, GenerationId, GenerationRef, IdempotencyKey,
    InputError, RequestError,
    codec::{RequestEncoder, USER_AGENT_VALUE},
    model::{ContentPart, CreateGeneration, CreateResponse, Input, Message},
};
use proptest::prelude::*;

fn encoder(base: &str) -> RequestEncoder {
    RequestEncoder::new(
        base.parse().unwrap(),
        ApiKey::new("pv_a1b2c3d4e5f6").unwrap(),
    )
    .unwrap()
}

fn id(s: &str) -> GenerationId {
    s.parse().unwrap()
}

#[test]
fn every_endpoint_method_path_and_auth() {
    let enc = encoder("https://api.pipevideo.co/v1");
    let create = CreateResponse::new("moonshotai/kimi-k2.5", "A paper plane");
    let legacy = CreateGeneration::new("google/veo-3.1", "A cat");
    let cases: Vec<(http::Request<Vec<u8>>, Method, &str, bool)> = vec![
        (
            enc.create_response(&create, None).unwrap(),
            Method::POST,
            "/v1/responses",
            true,
        ),
        (
            enc.retrieve_response(&id("gen_abc123xyz")).unwrap(),
            Method::GET,
            "/v1/responses/gen_abc123xyz",
            true,
        ),
        (enc.engines().unwrap(), Method::GET, "/v1/engines", false),
        (enc.usage().unwrap(), Method::GET, "/v1/usage", true),
        (
            enc.create_generation(&legacy, None).unwrap(),
            Method::POST,
            "/v1/video/generations",
            true,
        ),
        (
            enc.retrieve_generation(&id("gen_abc")).unwrap(),
            Method::GET,
            "/v1/video/generations/gen_abc",
            true,
        ),
        (enc.models().unwrap(), Method::GET, "/v1/models", true),
        (
            enc.model("google/veo-3.1").unwrap(),
            Method::GET,
            "/v1/models/google%2Fveo%2D3%2E1",
            true,
        ),
        (
            enc.retrieve(&"legacy:gen_x".parse().unwrap()).unwrap(),
            Method::GET,
            "/v1/video/generations/gen_x",
            true,
        ),
        (
            enc.retrieve(&"responses:gen_x".parse().unwrap()).unwrap(),
            Method::GET,
            "/v1/responses/gen_x",
            true,
        ),
    ];
    for (req, method, path, auth) in cases {
        assert_eq!(req.method(), method, "{path}");
        assert_eq!(req.uri().path(), path);
        assert_eq!(req.uri().host(), Some("api.pipevideo.co"));
        assert_eq!(req.uri().query(), None);
        let h = req.headers();
        assert_eq!(h.get(header::USER_AGENT).unwrap(), USER_AGENT_VALUE);
        assert!(USER_AGENT_VALUE.starts_with("pipevideo-rs/") && USER_AGENT_VALUE.len() > 13);
        assert_eq!(h.get(header::ACCEPT).unwrap(), "application/json");
        match h.get(header::AUTHORIZATION) {
            Some(v) => {
                assert!(auth, "{path} must not carry a key");
                assert_eq!(v.to_str().unwrap(), "Bearer pv_a1b2c3d4e5f6");
                assert!(
                    v.is_sensitive(),
                    "the Authorization header is marked sensitive"
                );
            }
            None => assert!(!auth, "{path} needs a key"),
        }
        if method == Method::POST {
            assert_eq!(h.get(header::CONTENT_TYPE).unwrap(), "application/json");
            let body: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
            assert!(body.is_object());
        } else {
            assert!(h.get(header::CONTENT_TYPE).is_none());
            assert!(req.body().is_empty());
        }
        assert!(h.get("idempotency-key").is_none());
    }
}

#[test]
fn create_bodies_and_idempotency_header() {
    let enc = encoder("https://api.pipevideo.co/v1");
    let key = IdempotencyKey::new("pvidem_0123").unwrap();
    let req = enc
        .create_response(
            &CreateResponse::new("moonshotai/kimi-k2.5", "A paper plane").aspect_ratio("16:9"),
            Some(&key),
        )
        .unwrap();
    assert_eq!(req.headers()["idempotency-key"], "pvidem_0123");
    let body: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"model": "moonshotai/kimi-k2.5", "input": "A paper plane", "aspectRatio": "16:9"})
    );
    let req = enc
        .create_generation(
            &CreateGeneration::new("google/veo-3.1", "A cat").duration(5),
            Some(&key),
        )
        .unwrap();
    assert_eq!(req.headers()["idempotency-key"], "pvidem_0123");
    let body: serde_json::Value = serde_json::from_slice(req.body()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"model": "google/veo-3.1", "prompt": "A cat", "duration": 5})
    );
}

#[test]
fn base_url_prefixes_and_loopback() {
    for (base, path) in [
        ("http://127.0.0.1:3001/v1", "/v1/usage"),
        ("http://localhost:3001", "/usage"),
        (
            "https://proxy.example.com/pipevideo/v1//",
            "/pipevideo/v1/usage",
        ),
        ("http://[::1]:8080/api/v1/", "/api/v1/usage"),
    ] {
        let req = encoder(base).usage().unwrap();
        assert_eq!(req.uri().path(), path, "{base}");
    }
}

#[test]
fn attribution_headers_are_sent() {
    let enc = encoder("https://api.pipevideo.co/v1").with_attribution(
        Attribution::new()
            .app_name("batch-renderer")
            .unwrap()
            .title("Batch Renderer - v2")
            .unwrap()
            .referer("https://example.com/app")
            .unwrap(),
    );
    for req in [enc.usage().unwrap(), enc.engines().unwrap()] {
        let h = req.headers();
        assert_eq!(h["x-application-name"], "batch-renderer");
        assert_eq!(h["x-pipevideo-title"], "Batch Renderer - v2");
        assert_eq!(h["http-referer"], "https://example.com/app");
    }
    assert!(
        encoder("https://api.pipevideo.co/v1")
            .usage()
            .unwrap()
            .headers()
            .get("x-application-name")
            .is_none()
    );
}

/// Every validation rule, one row each: refused with the named field, before any request.
#[test]
fn invalid_requests_are_refused_before_sending() {
    let enc = encoder("https://api.pipevideo.co/v1");
    let m = "moonshotai/kimi-k2.5";
    let img = |u: &str| {
        Input::Messages(vec![Message::user([
            ContentPart::text("go"),
            ContentPart::image(u),
        ])])
    };
    let responses: Vec<(CreateResponse, RequestError)> = vec![
        (
            CreateResponse::new("", "x"),
            RequestError::Empty { field: "model" },
        ),
        (
            CreateResponse::new(m, ""),
            RequestError::Empty { field: "input" },
        ),
        (
            CreateResponse::new(m, " \n\t"),
            RequestError::Empty { field: "input" },
        ),
        (
            CreateResponse::new(m, Input::Messages(vec![])),
            RequestError::Empty { field: "input" },
        ),
        (
            CreateResponse::new(m, Input::Messages(vec![Message::user([])])),
            RequestError::Empty {
                field: "input[].content",
            },
        ),
        (
            CreateResponse::new(
                m,
                Input::Messages(vec![Message::user([ContentPart::text("  ")])]),
            ),
            RequestError::NoInputText,
        ),
        (
            CreateResponse::new(
                m,
                Input::Messages(vec![Message::user([ContentPart::video(
                    "https://e.com/v.mp4",
                )])]),
            ),
            RequestError::NoInputText,
        ),
        (
            CreateResponse::new(m, img("http://e.com/a.png")),
            RequestError::InvalidUrl {
                field: "input_image.image_url.url",
                reason: "must be an https:// URL or a data: URI",
            },
        ),
        (
            CreateResponse::new(m, img("ftp://e.com/a.png")),
            RequestError::InvalidUrl {
                field: "input_image.image_url.url",
                reason: "must be an https:// URL or a data: URI",
            },
        ),
        (
            CreateResponse::new(m, img("data:image/png;base64")),
            RequestError::InvalidUrl {
                field: "input_image.image_url.url",
                reason: "is a data: URI without a `,` before its payload",
            },
        ),
        (
            CreateResponse::new(
                m,
                Input::Messages(vec![Message::user([
                    ContentPart::text("go"),
                    ContentPart::video("not a url"),
                ])]),
            ),
            RequestError::InvalidUrl {
                field: "input_video.video_url.url",
                reason: "must be an https:// URL or a data: URI",
            },
        ),
        (
            CreateResponse::new(m, "x").instructions(" "),
            RequestError::Empty {
                field: "instructions",
            },
        ),
        (
            CreateResponse::new(m, "x").canvas(0, 1920),
            RequestError::InvalidValue {
                field: "width",
                reason: "must be positive",
            },
        ),
        (
            CreateResponse::new(m, "x").canvas(1080, 0),
            RequestError::InvalidValue {
                field: "height",
                reason: "must be positive",
            },
        ),
        (
            CreateResponse::new(m, "x").aspect_ratio("wide"),
            RequestError::InvalidValue {
                field: "aspectRatio",
                reason: "must look like `16:9` (two positive whole numbers)",
            },
        ),
        (
            CreateResponse::new(m, "x").aspect_ratio("0:9"),
            RequestError::InvalidValue {
                field: "aspectRatio",
                reason: "must look like `16:9` (two positive whole numbers)",
            },
        ),
        (
            CreateResponse::new(m, "x").provider_order([""]),
            RequestError::Empty {
                field: "provider.order[]",
            },
        ),
    ];
    for (req, want) in responses {
        match enc.create_response(&req, None) {
            Err(Error::Input(InputError::Request(got))) => assert_eq!(got, want),
            other => panic!("expected {want:?}, got {other:?}"),
        }
        assert_eq!(req.validate(), Err(want));
    }
    let legacy: Vec<(CreateGeneration, RequestError)> = vec![
        (
            CreateGeneration::new("", "x"),
            RequestError::Empty { field: "model" },
        ),
        (
            CreateGeneration::new("google/veo-3.1", ""),
            RequestError::Empty { field: "prompt" },
        ),
        (
            CreateGeneration::with_fallbacks(Vec::<String>::new(), "x"),
            RequestError::Empty { field: "models" },
        ),
        (
            CreateGeneration::with_fallbacks(["a", " "], "x"),
            RequestError::Empty { field: "models[]" },
        ),
        (
            CreateGeneration::new("m", "x").duration(0),
            RequestError::InvalidValue {
                field: "duration",
                reason: "must be positive",
            },
        ),
        (
            CreateGeneration::new("m", "x").image_url("http://e.com/a.png"),
            RequestError::InvalidUrl {
                field: "imageUrl",
                reason: "must be an https:// URL or a data: URI",
            },
        ),
        (
            CreateGeneration::new("m", "x").resolution(""),
            RequestError::Empty {
                field: "resolution",
            },
        ),
        (
            CreateGeneration::new("m", "x").aspect_ratio("16/9"),
            RequestError::InvalidValue {
                field: "aspectRatio",
                reason: "must look like `16:9` (two positive whole numbers)",
            },
        ),
        (
            CreateGeneration::new("m", "x")
                .provider(pipevideo_core::model::LegacyProvider::slug("")),
            RequestError::Empty { field: "provider" },
        ),
    ];
    for (req, want) in legacy {
        match enc.create_generation(&req, None) {
            Err(Error::Input(InputError::Request(got))) => assert_eq!(got, want),
            other => panic!("expected {want:?}, got {other:?}"),
        }
    }
    // Both `model` and `models` (possible through deserialisation).
    let both: CreateGeneration =
        serde_json::from_str(r#"{"model":"a","models":["b"],"prompt":"x"}"#).unwrap();
    assert_eq!(
        both.validate(),
        Err(RequestError::Conflict {
            first: "model",
            second: "models"
        })
    );
    let neither: CreateGeneration = serde_json::from_str(r#"{"prompt":"x"}"#).unwrap();
    assert_eq!(
        neither.validate(),
        Err(RequestError::Missing { field: "model" })
    );
    // Valid edge cases pass.
    assert!(
        CreateGeneration::new("m", "x")
            .image_url("data:image/png;base64,AAAA")
            .validate()
            .is_ok()
    );
    assert!(
        CreateResponse::new(m, "x")
            .aspect_ratio("1:1")
            .validate()
            .is_ok()
    );
}

#[test]
fn model_slugs_are_one_segment() {
    let enc = encoder("https://api.pipevideo.co/v1");
    for slug in ["google/veo-3.1", "a?b#c", "../usage", "a b", "100%", "ü/é"] {
        let req = enc.model(slug).unwrap();
        let path = req.uri().path();
        let seg = path.strip_prefix("/v1/models/").expect(path);
        assert!(!seg.contains('/') && !seg.contains('?') && !seg.contains('#'));
        assert_eq!(percent_decode_str(seg).decode_utf8().unwrap(), slug);
        assert_eq!(req.uri().query(), None);
    }
    for bad in ["", "  ", ".", ".."] {
        assert!(
            matches!(enc.model(bad), Err(Error::Input(InputError::Request(_)))),
            "{bad:?}"
        );
    }
}

#[test]
fn non_ascii_keys_are_refused_by_the_encoder() {
    let key = ApiKey::new("pv_ключ").unwrap();
    assert!(matches!(
        RequestEncoder::new(BaseUrl::default(), key),
        Err(InputError::KeyNotAscii { position: 3 })
    ));
}

proptest! {
    /// Whatever id is accepted, the encoded path is the base path plus the route plus exactly
    /// one segment that decodes back to the id: an id can never change the path.
    #[test]
    fn generation_id_never_changes_the_path(raw in "\\PC{1,40}", legacy in any::<bool>()) {
        let Ok(gid) = GenerationId::new(raw.clone()) else { return Ok(()) };
        let flavor = if legacy { Flavor::Legacy } else { Flavor::Responses };
        let enc = encoder("https://api.pipevideo.co/v1/");
        let req = enc.retrieve(&GenerationRef::new(flavor, gid));
        if raw == "." {
            // Accepted by GenerationId, refused by the encoder (URL normalisation would drop it).
            prop_assert!(req.is_err());
            return Ok(());
        }
        let req = req.unwrap();
        let prefix = if legacy { "/v1/video/generations/" } else { "/v1/responses/" };
        let path = req.uri().path();
        let seg = path.strip_prefix(prefix);
        prop_assert!(seg.is_some(), "path {} lost its prefix", path);
        let seg = seg.unwrap();
        prop_assert!(!seg.is_empty() && !seg.contains('/'));
        prop_assert_eq!(req.uri().query(), None);
        prop_assert_eq!(percent_decode_str(seg).decode_utf8().unwrap(), raw.as_str());
        prop_assert_eq!(req.uri().host(), Some("api.pipevideo.co"));
    }

    /// Ids built from the characters that matter most are refused or kept in one segment.
    #[test]
    fn hostile_ids(raw in "[a-z./?#%\\\\ \t\n]{1,12}") {
        match GenerationId::new(raw.clone()) {
            Ok(gid) => {
                let seg = gid.path_segment();
                prop_assert!(!seg.contains('/') && !seg.contains('?') && !seg.contains('#'));
                let req = encoder("https://api.pipevideo.co/v1")
                    .retrieve(&GenerationRef::new(Flavor::Responses, gid))
                    .unwrap();
                prop_assert_eq!(req.uri().path().matches('/').count(), 3);
            }
            // A lone `.` is refused by GenerationId itself: URL normalisation would turn
            // `responses/.` into `responses/`.
            Err(_) => prop_assert!(
                raw == "."
                    || raw.contains(['/', '?', '#', '%', '\\', ' ', '\t', '\n'])
                    || raw.contains("..")
            ),
        }
    }
}

proptest! {
    /// The encoder builds URLs by concatenation; the `url` crate's join (which normalises)
    /// must agree on every base, id and slug the encoder accepts.
    #[test]
    fn request_urls_match_the_url_crates_join(
        origin in prop_oneof![
            Just("https://api.pipevideo.co"),
            Just("http://127.0.0.1:3001"),
            Just("http://[::1]:8080"),
            Just("https://EXAMPLE.com:443"),
        ],
        base_path in prop::collection::vec("[a-zA-Z0-9_~-]{1,6}", 0..3),
        trailing in any::<bool>(),
        raw_id in "\\PC{1,24}",
        slug in "\\PC{1,24}",
        legacy in any::<bool>(),
    ) {
        let mut base = format!("{origin}/{}", base_path.join("/"));
        if trailing { base.push('/'); }
        let base_url: BaseUrl = base.parse().unwrap();
        // The `url` crate (a dev-dependency only) resolves each path against the base.
        let url_base = url::Url::parse(&format!("{}/", base_url.as_str())).unwrap();
        let url_join = |path: &str| url_base.join(path).unwrap().to_string();
        let enc = encoder(&base);
        if let Ok(gid) = GenerationId::new(raw_id) {
            let reference = GenerationRef::new(
                if legacy { Flavor::Legacy } else { Flavor::Responses },
                gid,
            );
            if let Ok(req) = enc.retrieve(&reference) {
                let joined = base_url.join(&reference.retrieve_path());
                prop_assert_eq!(req.uri().to_string(), joined.as_str());
                prop_assert_eq!(joined, url_join(&reference.retrieve_path()));
            }
        }
        if let Ok(req) = enc.model(&slug) {
            let seg = percent_encoding::utf8_percent_encode(&slug, percent_encoding::NON_ALPHANUMERIC);
            let joined = base_url.join(&format!("models/{seg}"));
            prop_assert_eq!(req.uri().to_string(), joined.as_str());
            prop_assert_eq!(joined, url_join(&format!("models/{seg}")));
        }
        for (req, path) in [(enc.usage(), "usage"), (enc.engines(), "engines"), (enc.models(), "models")] {
            let joined = base_url.join(path);
            prop_assert_eq!(req.unwrap().uri().to_string(), joined.as_str());
            prop_assert_eq!(joined, url_join(path));
        }
    }
}

proptest! {
    /// Whatever valid request is built, the encoded body decodes back to the same request.
    #[test]
    fn encoded_bodies_decode_back(
        model in "[a-z]{1,8}/[a-z0-9.-]{1,8}",
        prompt in "\\PC{0,40}[a-z]\\PC{0,40}",
        instructions in proptest::option::of("[a-zA-Z ]{0,20}[a-z]"),
        canvas in proptest::option::of((1u32..8192, 1u32..8192)),
        ratio in proptest::option::of((1u32..100, 1u32..100)),
        order in proptest::collection::vec("[a-z]{1,10}", 0..3),
        messages in any::<bool>(),
        duration in proptest::option::of(1u32..600),
    ) {
        let enc = encoder("https://api.pipevideo.co/v1");
        let input: Input = if messages {
            Input::Messages(vec![Message::user([
                ContentPart::text(prompt.clone()),
                ContentPart::image("https://example.com/a.png"),
            ])])
        } else {
            prompt.clone().into()
        };
        let mut req = CreateResponse::new(model.clone(), input);
        if let Some(i) = &instructions { req = req.instructions(i.clone()); }
        if let Some((w, h)) = canvas { req = req.canvas(w, h); }
        if let Some((w, h)) = ratio { req = req.aspect_ratio(format!("{w}:{h}")); }
        if !order.is_empty() { req = req.provider_order(order.clone()); }
        let http_req = enc.create_response(&req, None).unwrap();
        let back: CreateResponse = serde_json::from_slice(http_req.body()).unwrap();
        prop_assert_eq!(back, req);

        let mut legacy = CreateGeneration::new(model, prompt);
        if let Some(d) = duration { legacy = legacy.duration(d); }
        if let Some((w, h)) = ratio { legacy = legacy.aspect_ratio(format!("{w}:{h}")); }
        let http_req = enc.create_generation(&legacy, None).unwrap();
        let back: CreateGeneration = serde_json::from_slice(http_req.body()).unwrap();
        prop_assert_eq!(back, legacy);
    }
}

/// A media URL needs `https`, a well-formed host (internationalised names allowed: the server
/// fetches it) and a numeric port; malformed ones are refused before sending.
#[test]
fn media_urls_need_a_well_formed_https_host_and_port() {
    let m = "moonshotai/kimi-k2.5";
    let with_image = |u: &str| {
        CreateResponse::new(
            m,
            Input::Messages(vec![Message::user([
                ContentPart::text("go"),
                ContentPart::image(u),
            ])]),
        )
    };
    for bad in [
        "https://a b.com/x.png",
        "https://[",
        "https://h:notaport/x.png",
        "https://[::1]x/a.png",
        "https://e.com\\@evil.com/a.png",
        "https:///a.png",
    ] {
        assert_eq!(
            with_image(bad).validate(),
            Err(RequestError::InvalidUrl {
                field: "input_image.image_url.url",
                reason: "must be an https:// URL or a data: URI",
            }),
            "{bad}"
        );
    }
    for good in [
        "https://e.com/a.png",
        "https://e.com:8443/a.png?sig=x",
        "https://bücher.example/a.png",
        "https://[2001:db8::1]/a.png",
        "https://10.0.0.1/a.png",
    ] {
        assert_eq!(with_image(good).validate(), Ok(()), "{good}");
    }
}
