//! Sans-IO encoding and decoding: typed requests to `http::Request<Vec<u8>>`, and
//! `http::Response` bodies to typed results.
//!
//! Nothing here sends anything. A transport moves the encoded request and hands back the
//! response; the retry and poll engines decide what happens next.
//!
//! ```
//! use pipevideo_core::{codec::RequestEncoder, ApiKey, BaseUrl, Flavor, IdempotencyKey, model::CreateResponse};
//!
//! let enc = RequestEncoder::new(BaseUrl::default(), ApiKey::new("pv_0123abcd")?)?;
//! let idem: IdempotencyKey = "order-42".parse()?;
//! let req = enc.create_response(&CreateResponse::new("moonshotai/kimi-k2.5", "A paper plane"), Some(&idem))?;
//! assert_eq!(req.method(), http::Method::POST);
//! assert_eq!(req.uri(), "https://api.pipevideo.co/v1/responses");
//! assert_eq!(req.headers()["idempotency-key"], "order-42");
//! assert!(req.headers()["authorization"].is_sensitive());
//!
//! // The answer, decoded into one view of the generation:
//! let resp = http::Response::new(br#"{"id":"gen_abc123xyz","object":"response","status":"queued"}"#.to_vec());
//! let g = pipevideo_core::codec::decode_generation(Flavor::Responses, &resp)?;
//! assert_eq!(g.reference().to_string(), "responses:gen_abc123xyz");
//! # Ok::<(), pipevideo_core::Error>(())
//! ```

use http::{
    HeaderMap, HeaderValue, Method, Request, Response,
    header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT},
};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Serialize, de::DeserializeOwned};

use crate::{
    ApiError, ApiKey, Attribution, BaseUrl, DecodeError, Error, Flavor, GenerationId,
    GenerationRef, IdempotencyKey,
    error::InputError,
    model::RequestError,
    model::{
        CreateGeneration, CreateResponse, EngineCatalog, Generation, LegacyGeneration, ModelDetail,
        ModelList, ResponseObject, Usage,
    },
};

/// The `User-Agent` every request carries: `pipevideo-rs/<crate version>`.
pub const USER_AGENT_VALUE: &str = concat!("pipevideo-rs/", env!("CARGO_PKG_VERSION"));

/// The name of the idempotency header set on create requests.
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// Builds the HTTP request of every endpoint: base URL, `Authorization: Bearer` (marked
/// sensitive), `User-Agent`, `Accept`, attribution headers, and for POST a JSON body with
/// `Content-Type: application/json`.
///
/// Its `Debug` shows the key redacted.
#[derive(Debug, Clone)]
pub struct RequestEncoder {
    base_url: BaseUrl,
    /// `base_url` with its trailing slash, the prefix of every request URL.
    base: String,
    auth: HeaderValue,
    attribution: Attribution,
}

impl RequestEncoder {
    /// An encoder for a base URL and key. Fails only if the key has a non-ASCII character
    /// (which no real key has, and which HTTP headers cannot carry portably).
    pub fn new(base_url: BaseUrl, key: ApiKey) -> Result<Self, InputError> {
        if let Some(position) = key.expose().bytes().position(|b| !b.is_ascii()) {
            return Err(InputError::KeyNotAscii { position });
        }
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", key.expose()))
            .map_err(|_| InputError::KeyNotAscii { position: 0 })?;
        auth.set_sensitive(true);
        Ok(Self {
            base: format!("{}/", base_url.as_str()),
            base_url,
            auth,
            attribution: Attribution::default(),
        })
    }

    /// Sets the attribution headers sent with every request.
    pub fn with_attribution(mut self, attribution: Attribution) -> Self {
        self.attribution = attribution;
        self
    }

    /// The base URL.
    pub fn base_url(&self) -> &BaseUrl {
        &self.base_url
    }

    /// The key, as the client must scrub it from server text (never printed).
    pub(crate) fn secret(&self) -> &str {
        self.auth
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default()
    }

    /// The attribution headers.
    pub fn attribution(&self) -> &Attribution {
        &self.attribution
    }

    /// `POST /v1/responses`, after [`CreateResponse::validate`].
    pub fn create_response(
        &self,
        body: &CreateResponse,
        idempotency_key: Option<&IdempotencyKey>,
    ) -> Result<Request<Vec<u8>>, Error> {
        body.validate()?;
        self.post("responses", body, idempotency_key)
    }

    /// `GET /v1/responses/{id}`.
    pub fn retrieve_response(&self, id: &GenerationId) -> Result<Request<Vec<u8>>, Error> {
        self.retrieve(&GenerationRef::new(Flavor::Responses, id.clone()))
    }

    /// `POST /v1/video/generations` (legacy), after [`CreateGeneration::validate`].
    pub fn create_generation(
        &self,
        body: &CreateGeneration,
        idempotency_key: Option<&IdempotencyKey>,
    ) -> Result<Request<Vec<u8>>, Error> {
        body.validate()?;
        self.post("video/generations", body, idempotency_key)
    }

    /// `GET /v1/video/generations/{id}` (legacy).
    pub fn retrieve_generation(&self, id: &GenerationId) -> Result<Request<Vec<u8>>, Error> {
        self.retrieve(&GenerationRef::new(Flavor::Legacy, id.clone()))
    }

    /// The retrieve request on the route of the reference's flavour.
    pub fn retrieve(&self, generation: &GenerationRef) -> Result<Request<Vec<u8>>, Error> {
        self.get(&generation.retrieve_path(), true)
    }

    /// `GET /v1/engines`: public, sent **without** `Authorization`.
    pub fn engines(&self) -> Result<Request<Vec<u8>>, Error> {
        self.get("engines", false)
    }

    /// `GET /v1/usage`.
    pub fn usage(&self) -> Result<Request<Vec<u8>>, Error> {
        self.get("usage", true)
    }

    /// `GET /v1/models` (legacy).
    pub fn models(&self) -> Result<Request<Vec<u8>>, Error> {
        self.get("models", true)
    }

    /// `GET /v1/models/{slug}` (legacy). The slug (`google/veo-3.1`) is percent-encoded into
    /// one path segment; an empty slug, `.` or `..` is refused.
    pub fn model(&self, slug: &str) -> Result<Request<Vec<u8>>, Error> {
        if slug.trim().is_empty() {
            return Err(RequestError::Empty { field: "slug" }.into());
        }
        if slug == "." || slug == ".." {
            return Err(RequestError::InvalidValue {
                field: "slug",
                reason: "must not be `.` or `..`",
            }
            .into());
        }
        let seg = utf8_percent_encode(slug, NON_ALPHANUMERIC).to_string();
        self.get(&format!("models/{seg}"), true)
    }

    fn get(&self, path: &str, auth: bool) -> Result<Request<Vec<u8>>, Error> {
        self.build(Method::GET, path, auth, Vec::new(), None)
    }

    fn post<T: Serialize>(
        &self,
        path: &str,
        body: &T,
        idempotency_key: Option<&IdempotencyKey>,
    ) -> Result<Request<Vec<u8>>, Error> {
        let bytes = serde_json::to_vec(body).map_err(|_| RequestError::InvalidValue {
            field: "body",
            reason: "could not be serialised as JSON",
        })?;
        self.build(Method::POST, path, true, bytes, idempotency_key)
    }

    fn build(
        &self,
        method: Method,
        path: &str,
        auth: bool,
        body: Vec<u8>,
        idempotency_key: Option<&IdempotencyKey>,
    ) -> Result<Request<Vec<u8>>, Error> {
        // The URL is the base (which always ends in `/`) and the path, concatenated: every
        // path comes from this encoder, with ids and slugs percent-encoded by a set that
        // covers the URL standard's path set and `%` itself, so the `url` crate's join would
        // produce the same string (`request_urls_match_the_url_crates_join` proves it) at three
        // parses' cost. What concatenation cannot do is normalise, so the one guarantee that
        // no id or slug changed the path lives here: a `.` or `..` segment is refused (an id
        // of `.` passes `GenerationId`'s checks). An id's `%` is encoded, so an id cannot spell
        // `%2e`; a slug's `.` is encoded to `%2E`, which `model` refuses before it gets here.
        let path = path.trim_start_matches('/');
        if path.split('/').any(|seg| seg == "." || seg == "..") {
            return Err(RequestError::InvalidValue {
                field: "path",
                reason: "contains a `.` or `..` segment, which would change the request path",
            }
            .into());
        }
        let mut url = String::with_capacity(self.base.len() + path.len());
        url.push_str(&self.base);
        url.push_str(path);
        let uri = http::Uri::try_from(url).map_err(|_| RequestError::InvalidValue {
            field: "path",
            reason: "does not form a valid URI with the base URL",
        })?;
        let is_post = method == Method::POST;
        let mut req = Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        let h = req.headers_mut();
        h.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        h.insert(ACCEPT, HeaderValue::from_static("application/json"));
        if auth {
            h.insert(AUTHORIZATION, self.auth.clone());
        }
        if is_post {
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        if let Some(k) = idempotency_key {
            // Visible ASCII by construction, so this cannot fail.
            if let Ok(v) = HeaderValue::from_str(k.as_str()) {
                h.insert(IDEMPOTENCY_KEY_HEADER, v);
            }
        }
        for (name, value) in self.attribution.headers() {
            h.insert(name, value.clone());
        }
        Ok(req)
    }
}

/// Shows the base URL and a redacted key: `requests to https://api.pipevideo.co/v1 with key pv_…`.
impl std::fmt::Display for RequestEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "requests to {} with key pv_…(redacted)", self.base_url)
    }
}

/// Decodes a response into `T`: non-2xx → [`Error::Api`], a 2xx body that does not decode →
/// [`Error::Decode`] with the JSON path. Never panics, whatever the bytes.
pub fn decode_json<T: DeserializeOwned, B: AsRef<[u8]>>(
    response: &Response<B>,
) -> Result<T, Error> {
    decode_parts(
        response.status(),
        response.headers(),
        response.body().as_ref(),
    )
}

/// [`decode_json`] from the parts of a response.
pub fn decode_parts<T: DeserializeOwned>(
    status: http::StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, Error> {
    if !status.is_success() {
        return Err(ApiError::from_response(status, headers, body).into());
    }
    // The fast path decodes directly; only a body that fails is decoded again, tracking the
    // JSON path for the error (serde_path_to_error costs about as much as the decode itself).
    let de = &mut serde_json::Deserializer::from_slice(body);
    if let Ok(value) = T::deserialize(de) {
        return Ok(value);
    }
    let what = short_type_name::<T>();
    let de = &mut serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        DecodeError::new(status, what, path, e.into_inner().to_string(), body)
    })?;
    Ok(value)
}

fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    full.rsplit("::").next().unwrap_or(full)
}

/// Decodes a create or retrieve answer of either flavour into a [`Generation`].
pub fn decode_generation<B: AsRef<[u8]>>(
    flavor: Flavor,
    response: &Response<B>,
) -> Result<Generation, Error> {
    decode_generation_parts(
        flavor,
        response.status(),
        response.headers(),
        response.body().as_ref(),
    )
}

/// [`decode_generation`], then scrubs `secret` (the key the request carried) and any `pv_…`
/// token from the generation's free-form text (failure messages, unnamed fields): what the
/// client does with every generation it hands out.
pub fn decode_generation_scrubbed<B: AsRef<[u8]>>(
    flavor: Flavor,
    response: &Response<B>,
    secret: &str,
) -> Result<Generation, Error> {
    let mut generation = decode_generation(flavor, response)?;
    generation.redact_secret(secret);
    Ok(generation)
}

/// [`decode_generation`] from the parts of a response.
pub fn decode_generation_parts(
    flavor: Flavor,
    status: http::StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Generation, Error> {
    let id_error = |e: crate::IdError| {
        Error::Decode(DecodeError::new(
            status,
            "generation",
            "id".into(),
            e.to_string(),
            body,
        ))
    };
    match flavor {
        Flavor::Responses => {
            let b: ResponseObject = decode_parts(status, headers, body)?;
            Generation::from_responses(b).map_err(id_error)
        }
        Flavor::Legacy => {
            let b: LegacyGeneration = decode_parts(status, headers, body)?;
            Generation::from_legacy(b).map_err(id_error)
        }
    }
}

/// Decodes `GET /v1/usage`.
pub fn decode_usage<B: AsRef<[u8]>>(response: &Response<B>) -> Result<Usage, Error> {
    decode_json(response)
}

/// Decodes `GET /v1/engines`.
pub fn decode_engines<B: AsRef<[u8]>>(response: &Response<B>) -> Result<EngineCatalog, Error> {
    decode_json(response)
}

/// Decodes `GET /v1/models`.
pub fn decode_models<B: AsRef<[u8]>>(response: &Response<B>) -> Result<ModelList, Error> {
    decode_json(response)
}

/// Decodes `GET /v1/models/{slug}`.
pub fn decode_model<B: AsRef<[u8]>>(response: &Response<B>) -> Result<ModelDetail, Error> {
    decode_json(response)
}
