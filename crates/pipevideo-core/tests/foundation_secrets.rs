//! Secrets stay secret: no error and no request type prints the API key, and the encoded
//! `Authorization` header is marked sensitive.

use http::{HeaderMap, StatusCode, header::AUTHORIZATION};
use pipevideo_core::{
    ApiError, ApiKey, ApiKeyError, Attribution, BaseUrl, Error, Flavor, GenerationRef,
    IdempotencyKey, InputError, RequestError, codec,
    codec::RequestEncoder,
    model::{ContentPart, CreateGeneration, CreateResponse, Input, Message},
    transport::TransportError,
};

const KEY: &str = "pv_a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6";

fn assert_no_key(what: &str, shown: &str) {
    assert!(!shown.contains(KEY), "{what} printed the key: {shown}");
    assert!(
        !shown.contains("a1b2c3d4e5f6a7b8"),
        "{what} printed part of the key: {shown}"
    );
}

fn check<T: std::fmt::Debug + std::fmt::Display>(what: &str, v: &T) {
    assert_no_key(what, &format!("{v:?}"));
    assert_no_key(what, &format!("{v:#?}"));
    assert_no_key(what, &v.to_string());
}

#[test]
fn errors_never_print_the_key() {
    let key = ApiKey::new(KEY).unwrap();
    check("ApiKey", &key);
    let enc = RequestEncoder::new(BaseUrl::default(), key.clone()).unwrap();
    check("RequestEncoder", &enc);

    let mut errors: Vec<Error> = vec![
        ApiKey::new(format!("{KEY}\n")).unwrap_err().into(),
        ApiKey::new(format!(" {KEY}")).unwrap_err().into(),
        ApiKey::new(format!("{KEY}\u{1}")).unwrap_err().into(),
        Error::Input(InputError::KeyNotAscii { position: 3 }),
        "gen/x"
            .parse::<pipevideo_core::GenerationId>()
            .unwrap_err()
            .into(),
        "nope:gen_x".parse::<GenerationRef>().unwrap_err().into(),
        BaseUrl::parse("http://example.com").unwrap_err().into(),
        Attribution::new().title("a\nb").unwrap_err().into(),
        IdempotencyKey::new("a b").unwrap_err().into(),
        RequestError::NoInputText.into(),
        TransportError::not_sent("connection refused").into(),
        TransportError::maybe_sent("reset after sending").into(),
    ];
    // Every API error shape, including one whose status table message mentions keys.
    for (status, body) in [
        (401, &br#"{"message":"API key has expired"}"#[..]),
        (429, br#"{"message":"Rate limit exceeded. Please try again later.","data":{"retry_after":42}}"#),
        (502, b"<html>Bad gateway</html>"),
        (500, b""),
    ] {
        errors.push(ApiError::from_response(StatusCode::from_u16(status).unwrap(), &HeaderMap::new(), body).into());
    }
    // Decode errors (which keep the raw body) from a real request/response pair.
    errors.push(
        codec::decode_generation(Flavor::Responses, &http::Response::new(b"{".to_vec()))
            .unwrap_err(),
    );
    // Input errors produced by the encoder itself.
    errors.push(
        enc.create_response(&CreateResponse::new("m", ""), None)
            .unwrap_err(),
    );
    errors.push(enc.model("..").unwrap_err());
    for e in &errors {
        check("Error", e);
        if let Error::Input(i) = e {
            check("InputError", i);
        }
    }
    check("ApiKeyError", &ApiKey::new(format!("{KEY} ")).unwrap_err());
    assert!(matches!(
        ApiKey::new(format!("{KEY} ")),
        Err(ApiKeyError::Whitespace { .. })
    ));
}

#[test]
fn request_types_never_print_the_key() {
    let key = ApiKey::new(KEY).unwrap();
    let enc = RequestEncoder::new(BaseUrl::default(), key)
        .unwrap()
        .with_attribution(Attribution::new().app_name("app").unwrap());
    let create = CreateResponse::new(
        "moonshotai/kimi-k2.5",
        Input::Messages(vec![Message::user([
            ContentPart::text("hi"),
            ContentPart::image("https://e.com/a.png"),
        ])]),
    )
    .provider_order(["framerate"]);
    let legacy = CreateGeneration::new("google/veo-3.1", "A cat").duration(5);
    check("CreateResponse", &create);
    check("CreateGeneration", &legacy);
    check("RequestEncoder", &enc);
    assert_eq!(
        create.to_string(),
        "create response with model `moonshotai/kimi-k2.5`, 1 message item(s) with 2 part(s)"
    );
    assert_eq!(
        legacy.to_string(),
        "create legacy generation with model `google/veo-3.1`, prompt of 5 characters"
    );
    assert_eq!(
        enc.to_string(),
        "requests to https://api.pipevideo.co/v1 with key pv_…(redacted)"
    );
    check("IdempotencyKey", &IdempotencyKey::new("k-1").unwrap());
    check("BaseUrl", &BaseUrl::default());
    check(
        "GenerationRef",
        &"legacy:gen_1".parse::<GenerationRef>().unwrap(),
    );

    let idem = IdempotencyKey::new("k-1").unwrap();
    let requests = [
        enc.create_response(&create, Some(&idem)).unwrap(),
        enc.create_generation(&legacy, Some(&idem)).unwrap(),
        enc.retrieve(&"responses:gen_1".parse().unwrap()).unwrap(),
        enc.usage().unwrap(),
        enc.models().unwrap(),
        enc.model("google/veo-3.1").unwrap(),
    ];
    for req in &requests {
        // http's Debug prints sensitive header values as `Sensitive`.
        assert_no_key("http::Request", &format!("{req:?}"));
        assert_no_key("HeaderMap", &format!("{:?}", req.headers()));
        let auth = &req.headers()[AUTHORIZATION];
        assert!(auth.is_sensitive());
        assert_no_key("Authorization header", &format!("{auth:?}"));
        // …while the bytes on the wire are the real key.
        assert_eq!(auth.as_bytes(), format!("Bearer {KEY}").as_bytes());
        assert_no_key("body", &String::from_utf8_lossy(req.body()));
    }
}
