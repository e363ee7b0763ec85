//! The call driver: every one-off call (create, retrieve, catalogues, usage) runs one
//! [`Call`] state machine to its end. The driver paces, sends and sleeps as the machine says;
//! it holds no rule of its own.

use http::{Request, Response};
use tracing::Instrument;

use super::pacing::Slot;
use super::{Client, GenerationHandle, Shared, lock};
use crate::call::Call;
use crate::call::CallContext;
use crate::codec::{self, RequestEncoder};
use crate::model::{
    CreateGeneration, CreateResponse, EngineCatalog, Generation, ModelDetail, ModelList, Usage,
};
use crate::pacing::shared::SlotDecision;
use crate::poll::DurationKey;
use crate::retry::RequestKind;
use crate::transport::{SendOptions, Transport};
use crate::{CreateError, Error, Flavor, GenerationRef, IdempotencyKey};

impl<T: Transport> Client<T> {
    /// Creates a generation on the responses API (`POST /v1/responses`) and returns its handle
    /// without waiting. The request is validated first; nothing is sent if it is invalid.
    pub async fn create(&self, request: &CreateResponse) -> Result<GenerationHandle<T>, Error> {
        let key = self.new_idempotency_key();
        self.create_with_key(request, key).await
    }

    /// [`Client::create`] with a caller-chosen idempotency key (`None`: send none).
    pub async fn create_with_key(
        &self,
        request: &CreateResponse,
        key: Option<IdempotencyKey>,
    ) -> Result<GenerationHandle<T>, Error> {
        let encoder = self.encoder();
        encoder.create_response(request, key.as_ref())?;
        let learn_as = DurationKey::for_request(request);
        self.create_inner(Flavor::Responses, key, learn_as, move |e, k| {
            e.create_response(request, k)
        })
        .await
    }

    /// Creates a generation on the legacy API (`POST /v1/video/generations`).
    pub async fn create_legacy(
        &self,
        request: &CreateGeneration,
    ) -> Result<GenerationHandle<T>, Error> {
        let key = self.new_idempotency_key();
        self.create_legacy_with_key(request, key).await
    }

    /// [`Client::create_legacy`] with a caller-chosen idempotency key.
    pub async fn create_legacy_with_key(
        &self,
        request: &CreateGeneration,
        key: Option<IdempotencyKey>,
    ) -> Result<GenerationHandle<T>, Error> {
        let encoder = self.encoder();
        encoder.create_generation(request, key.as_ref())?;
        let learn_as = DurationKey::for_legacy_request(request);
        self.create_inner(Flavor::Legacy, key, learn_as, move |e, k| {
            e.create_generation(request, k)
        })
        .await
    }

    fn new_idempotency_key(&self) -> Option<IdempotencyKey> {
        self.inner
            .settings
            .idempotency
            .then(|| IdempotencyKey::generate(&mut lock(&self.inner.shared).entropy))
    }

    async fn create_inner(
        &self,
        flavor: Flavor,
        key: Option<IdempotencyKey>,
        learn_as: DurationKey,
        build: impl Fn(&RequestEncoder, Option<&IdempotencyKey>) -> Result<Request<Vec<u8>>, Error>,
    ) -> Result<GenerationHandle<T>, Error> {
        let kind = RequestKind::create(key.as_ref());
        let path = match flavor {
            Flavor::Responses => "/responses",
            Flavor::Legacy => "/video/generations",
        };
        let result = self
            .execute(
                "POST",
                path,
                kind,
                |e| build(e, key.as_ref()),
                |r, secret| codec::decode_generation_scrubbed(flavor, r, secret),
            )
            .await;
        match result {
            Ok(generation) => {
                tracing::info!(generation = %generation.reference(), "created");
                Ok(GenerationHandle {
                    client: self.clone(),
                    generation,
                    idempotency_key: key,
                    created: self.inner.transport.now(),
                    learn_as,
                })
            }
            Err(source) => Err(Error::Create(Box::new(CreateError {
                idempotency_key: key,
                source,
            }))),
        }
    }

    /// Creates a generation and waits for it: [`Client::create`] then
    /// [`GenerationHandle::wait`]. A failure after the create carries the reference.
    pub async fn generate(&self, request: &CreateResponse) -> Result<Generation, Error> {
        self.create(request).await?.wait().await
    }

    /// Retrieves a generation once (`GET /v1/responses/{id}` or the legacy route).
    pub async fn retrieve(&self, reference: &GenerationRef) -> Result<Generation, Error> {
        let flavor = reference.flavor();
        let path = match flavor {
            Flavor::Responses => "/responses/{id}",
            Flavor::Legacy => "/video/generations/{id}",
        };
        self.execute(
            "GET",
            path,
            RequestKind::Read,
            |e| e.retrieve(reference),
            |r, secret| codec::decode_generation_scrubbed(flavor, r, secret),
        )
        .await
    }

    /// `GET /v1/engines`: the public catalogue (sent without the key).
    pub async fn engines(&self) -> Result<EngineCatalog, Error> {
        self.execute(
            "GET",
            "/engines",
            RequestKind::Read,
            RequestEncoder::engines,
            |r, _| codec::decode_engines(r),
        )
        .await
    }

    /// `GET /v1/usage`: balance and usage.
    pub async fn usage(&self) -> Result<Usage, Error> {
        self.execute(
            "GET",
            "/usage",
            RequestKind::Read,
            RequestEncoder::usage,
            |r, _| codec::decode_usage(r),
        )
        .await
    }

    /// `GET /v1/models` (legacy catalogue).
    pub async fn models(&self) -> Result<ModelList, Error> {
        self.execute(
            "GET",
            "/models",
            RequestKind::Read,
            RequestEncoder::models,
            |r, _| codec::decode_models(r),
        )
        .await
    }

    /// `GET /v1/models/{slug}` (legacy).
    pub async fn model(&self, slug: &str) -> Result<ModelDetail, Error> {
        self.execute(
            "GET",
            "/models/{slug}",
            RequestKind::Read,
            |e| e.model(slug),
            |r, _| codec::decode_model(r),
        )
        .await
    }

    /// One call: pace, send, decide, sleep, repeat — until the retry engine says done or give up.
    async fn execute<R>(
        &self,
        method: &'static str,
        path: &'static str,
        kind: RequestKind,
        build: impl Fn(&RequestEncoder) -> Result<Request<Vec<u8>>, Error>,
        decode: impl Fn(&Response<Vec<u8>>, &str) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let span = tracing::debug_span!("pipevideo.call", method, path);
        self.execute_inner(kind, build, decode)
            .instrument(span)
            .await
    }

    async fn execute_inner<R>(
        &self,
        kind: RequestKind,
        build: impl Fn(&RequestEncoder) -> Result<Request<Vec<u8>>, Error>,
        decode: impl Fn(&Response<Vec<u8>>, &str) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let transport = &self.inner.transport;
        let settings = &self.inner.settings;
        let mut call = Call::new(&settings.retry, kind, transport.now());
        loop {
            let now = transport.now();
            let transmit = call.poll_transmit(now, &mut lock(&self.inner.shared).pacer);
            if let Some(outcome) = call.poll_outcome() {
                return outcome;
            }
            let Some(transmit) = transmit else {
                if let Some(wake) = call.poll_timeout() {
                    transport.sleep_until(wake).await;
                }
                call.handle_timeout(transport.now());
                continue;
            };
            let encoder = self.encoder();
            let request = build(&encoder)?;
            // The key's slot across processes (with a shared store): waited for until the
            // call's deadline at most, like the local pacer's; the attempt's time starts after.
            let result = match self.shared_slot(transmit.deadline).await {
                Slot::Go => {
                    let timeout = match self.inner.store {
                        Some(_) => call.attempt_timeout(transport.now()),
                        None => transmit.timeout,
                    };
                    let options = SendOptions::new()
                        .with_timeout(timeout)
                        .with_body_limit(settings.body_limit);
                    transport.send(request, options).await
                }
                Slot::TooLate(first_slot) => {
                    Err(SlotDecision::too_late_error(first_slot, transport.now()))
                }
                Slot::Refused(error) => return Err(Error::Pacing(error)),
            };
            let (now, wall_now) = (transport.now(), transport.wall_now());
            let secret = encoder.secret();
            let held_before = {
                let mut shared = lock(&self.inner.shared);
                let Shared {
                    pacer, budget, rng, ..
                } = &mut *shared;
                let held_before = pacer.held_until();
                let mut ctx = CallContext::new(pacer, budget, rng, wall_now).with_secret(secret);
                match result {
                    Ok(response) => {
                        call.handle_response(now, &response, |r| decode(r, secret), &mut ctx);
                    }
                    Err(error) => call.handle_transport_error(now, error, &mut ctx),
                }
                held_before
            };
            self.publish_hold(now, held_before).await;
            if let Some(decision) = call.last_decision() {
                tracing::debug!(attempt = decision.attempt(), decision = %decision, "attempt");
            }
            if let Some(outcome) = call.poll_outcome() {
                return outcome;
            }
        }
    }
}
