//! A local Pipevideo API server for tests, demos and CI: the documented protocol, realistic state,
//! faults on demand.
//!
//! The emulator is a real HTTP/1.1 server (hyper on tokio) that speaks both generations of the
//! Pipevideo API, keeps per-organization state (keys, credits, generations, usage), runs each
//! generation through `queued → in_progress → completed | failed` on a clock you can speed up,
//! serves the finished videos itself, delivers Svix-signed webhooks, and misbehaves exactly when and
//! how a test asks. It shares no code with the SDK: its wire types are its own, so a mistake in the
//! SDK's serde types cannot hide on both sides of a test.
//!
//! # Start it inside a test (tokio)
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use pipevideo_emulator::Emulator;
//!
//! // A "minute" lasts 0.6 s: generations finish in about 0.55 s, the rate-limit window is 0.6 s.
//! let emu = Emulator::builder().time_scale(0.01).seed(7).start().await?;
//! let base_url = emu.base_url(); // "http://127.0.0.1:<port>/v1": point PIPEVIDEO_API_URL here
//! let key = emu.demo_key();      // "pv_demo_<hex>": send as `Authorization: Bearer <key>`
//! assert!(base_url.ends_with("/v1") && key.starts_with("pv_demo_"));
//! // ... drive your client against base_url, then inspect what it sent:
//! assert!(emu.requests().is_empty());
//! emu.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Start it from code that has no tokio runtime (async-std, smol, plain threads)
//!
//! ```
//! use pipevideo_emulator::Emulator;
//!
//! let emu = Emulator::builder().time_scale(0.01).start_in_background()?;
//! println!("{} {}", emu.base_url(), emu.demo_key()); // `BackgroundEmulator` derefs to `Emulator`
//! emu.shutdown(); // or just drop it
//! # Ok::<(), pipevideo_emulator::StartError>(())
//! ```
//!
//! # Run it as a program
//!
//! `cargo run -p pipevideo-emulator` listens on `127.0.0.1:3001` (the product's own local port) and
//! prints the two environment variables to export (`PIPEVIDEO_API_URL`, `PIPEVIDEO_API_KEY`).
//! Options: `--port`, `--bind`, `--time-scale`, `--seed`, `--faults <JSON | @file>`, `--chaos <rate>`,
//! `--failure-rate`, `--webhook-url` (repeatable), `--webhook-secret` (or
//! `PIPEVIDEO_EMULATOR_WEBHOOK_SECRET`, never the applications' `PIPEVIDEO_WEBHOOK_SECRET`; only its
//! [`fingerprint`] is printed). `--help` lists them all.
//!
//! # The protocol
//!
//! | Route | Auth | Answer |
//! |---|---|---|
//! | `POST /v1/responses` | yes | `{ id, object: "response", status: "queued", model, engine, provider, created_at (s), output: [message] }` |
//! | `GET /v1/responses/{id}` | yes | as above with the current status, `completed_at` (s), and when completed `output[0].content` = `[output_text, { type: "output_video", video_url, mime_type, expires_at }]`, a top-level `video_url`, `usage { input_tokens, output_tokens, total_tokens, cost_usd }`; when failed `error { code, message }` and `errorMessage` |
//! | `GET /v1/engines` | **no** | `{ object: "list", engines: [{ id, name, description, default, models: [{ id, input_per_million_usd, output_per_million_usd, providers }] }] }` |
//! | `GET /v1/usage` | yes | `credit_balance` (cents), `totals`, `daily_usage`, `daily_usage_by_route`, `recent_requests` (times in **ms**) |
//! | `POST /v1/video/generations` | yes | `{ id, status: "pending", created_at (s) }` |
//! | `GET /v1/video/generations/{id}` | yes | `{ id, status: pending/processing/completed/failed, output_url, cost_cents, latency_ms, error_message, created_at (s), completed_at (ms) }` |
//! | `GET /v1/models`, `GET /v1/models/{slug}` | yes | the documented list and detail shapes (`slug` URL-encoded or not) |
//! | `GET /files/{id}.mp4?expires=&signature=` | signed URL | a small valid MP4 (`video/mp4`), or one of [`EmulatorBuilder::video_size`] bytes generated as it is served; `Accept-Ranges: bytes`, a strong `ETag`, `Range` (one range) with `206` + `Content-Range`, `If-Range`, `416` past the end; 403 when the signature is wrong, **410** once expired ([`EmulatorBuilder::video_url_ttl`]) |
//!
//! Ids are `gen_` + 24 lowercase alphanumerics; the output message id is `<id>_msg`. Models:
//! `moonshotai/kimi-k2.5` (providers `framerate`, `pipevideo`) and `anthropic/claude-opus-4.8`
//! (`pipevideo` only); legacy `google/veo-3.1` (`fal`, `replicate`), `kling-kling-video-v3-pro`
//! (`fal`), `veo-veo-3-1` (`replicate`). Every status code is 200 on success.
//!
//! **Errors** are `{ "message": ... }` ([`ErrorShape::Orpc`] switches to oRPC's
//! `{ defined, code, status, message }`): 400 for malformed JSON, unknown model, empty prompt,
//! unknown engine/provider or a provider that does not serve the model, and a zero balance
//! (`Insufficient credits...`); 401 for a missing, unknown (`Invalid API key`), expired
//! (`API key has expired`) or revoked (`API key has been revoked`) key — keys are matched exactly,
//! stray whitespace included; 404 for an unknown id or another organization's generation.
//!
//! **Keys.** Every emulator has the organization `org_demo` with [`Emulator::demo_key`] (active),
//! [`Emulator::expired_key`], [`Emulator::revoked_key`]; `org_other` with
//! [`Emulator::other_org_key`]; and `org_broke` (0 cents) with [`Emulator::no_credits_key`]. They
//! derive from the seed, so they are stable across runs with the same seed. Add more with
//! [`EmulatorBuilder::organization`].
//!
//! **Credits.** Prices: 12 cents per responses-API generation ([`EmulatorBuilder::price_cents`]);
//! legacy generations cost the model's per-second price times `duration` (default 5 s). A create
//! needs a positive balance (else 400). When the balance covers the price, the price is charged at
//! create; a generation that then fails is refunded in full at the moment its failure becomes
//! visible. When the balance is positive but below the price, the create succeeds, nothing is
//! charged, and the generation fails with [`FailureCause::InsufficientCredits`].
//!
//! # Time
//!
//! One factor, [`EmulatorBuilder::time_scale`], maps emulated time to real time: real = emulated ×
//! scale. It scales generation durations, the queued phase (10% of the duration, at most 3 s
//! emulated), the rate-limit window, the video URL lifetime (1 h emulated), the webhook retry
//! schedule and every `retry_after` the server sends. **`retry_after` values are real seconds to
//! wait:** at scale 1 a whole number of seconds rounded up (e.g. `42`); at any other scale the real
//! wait rounded up to the millisecond, so fractional (`0.42` for 42 emulated seconds at 0.01). A
//! `Retry-After` header carries whole seconds, rounded up (`1` for 0.42), or an HTTP-date rounded up
//! to the next second; neither ever asks for less than the real wait. Timestamps in bodies are real
//! wall-clock times, except that `completed_at` = `created_at` + the emulated latency, which keeps
//! `latency_ms` realistic (about 55 000) at any scale. [`Fault::SlowHeaders`] delays are real time.
//!
//! # Generations
//!
//! Durations come from a seeded [`DurationDistribution`] (default log-normal around 55 s). A
//! generation fails when its prompt (or `instructions`) contains a marker registered with
//! [`EmulatorBuilder::fail_prompts_containing`] or the built-in marker `[fail:<cause code>]`
//! (e.g. `[fail:provider_timeout]`, see [`FailureCause::code`]), else with probability
//! [`EmulatorBuilder::failure_rate`] (default 0.02) with a runtime cause. All randomness comes from
//! the seed, so one sequence of requests always gives the same ids, durations and failures; the
//! random failures draw from a stream of their own, so the n-th generation's fate depends only on
//! the seed and n. With the default seed (0) and rate, the first 50 generations all complete (a
//! test pins this); call `.failure_rate(0.0)` to rule random failures out entirely.
//!
//! # Rate limit and idempotency
//!
//! 100 requests per emulated minute per key ([`RateLimit`]), sliding window by default, counted on
//! every authenticated `/v1` request that passes authentication (401s and `GET /v1/engines` are not
//! counted; requests rejected with 429 are not counted either). Over it: 429
//! `{ "message": "Rate limit exceeded. Please try again later.", "data": { "retry_after": N } }`.
//!
//! A create with an `Idempotency-Key` header already seen for the same organization returns the
//! first create's body byte for byte (whatever the new body says, on either create route), with the
//! header `idempotent-replayed: true`, and creates and charges nothing ([`EmulatorBuilder::idempotency`] turns this off). The real API does not document
//! idempotency keys: this is emulator behaviour.
//!
//! # Faults
//!
//! See the [`fault`] module. Scripted rules and random faults are set at start
//! ([`EmulatorBuilder::fault`], [`EmulatorBuilder::random_faults`]), from the handle
//! ([`Emulator::push_fault`]...) or over HTTP, on the control plane below.
//!
//! **The control plane is guarded**, since a page in a browser on the same machine can reach a
//! loopback port: every `/_emulator/*` request needs the header `X-Emulator-Token` with the
//! run's token ([`Emulator::control_token`]: drawn from the OS RNG at start, printed by the
//! binary; 401 without it), a `Host` that names this machine (`localhost`, a loopback address,
//! the bound address, or a name given to [`EmulatorBuilder::allow_control_host`] /
//! `--control-host`, with any port; 403 otherwise, against DNS rebinding), and
//! `Content-Type: application/json` on `POST` and `PUT` (415 otherwise: a cross-site form
//! cannot send it). The API routes need none of this.
//!
//! | Control endpoint | Effect |
//! |---|---|
//! | `POST /_emulator/faults` | append one [`FaultRule`] or an array of them, e.g. `{"path_prefix":"/v1/responses","method":"POST","count":3,"fault":{"kind":"server_error"},"timing":"after"}` |
//! | `PUT /_emulator/faults` | replace the whole [`FaultConfig`] (`{"rules":[...],"random":{...}}`) |
//! | `PUT /_emulator/faults/random` | set (or with `null` clear) the [`RandomFaults`] |
//! | `GET`/`DELETE /_emulator/faults` | show / clear everything |
//! | `GET /_emulator/log?since=N`, `DELETE /_emulator/log` | the request log ([`LogEntry`] as JSON; the header `x-emulator-log-dropped` counts the entries the cap dropped) |
//! | `GET /_emulator/rate-limits` | per key fingerprint: requests, the rate limiter's 429s, all 429s ([`RateLimitReport`]) |
//! | `GET /_emulator/webhooks` | webhook attempts ([`WebhookAttempt`]) |
//! | `GET /_emulator/health` | `{ "ok": true, "base_url": ... }` |
//!
//! A connection reset ([`Fault::ResetMidBody`]) sends the real status line and headers with the
//! full `Content-Length`, half the body, then fails the body stream so hyper closes the connection:
//! the client sees an incomplete message (an EOF, not necessarily a TCP RST).
//!
//! The video host misbehaves on demand too (a rule with `.path("/files")`):
//! [`Fault::ResetMidBody`] cuts a video (or a `206` range) at half, [`Fault::StallBody`] sends
//! the headers and then nothing for a while, [`Fault::EndlessBody`] sends a body without a
//! `Content-Length` that never ends, and [`Fault::NoRanges`] answers as a host without range
//! support. An expiring signed URL is [`EmulatorBuilder::video_url_ttl`].
//!
//! # Webhooks
//!
//! With [`EmulatorBuilder::webhooks`], every generation's end sends `video.generation.completed`
//! (`{ eventType, generationId, status, outputUrl, errorMessage }`) to each endpoint, signed the
//! Svix way: `svix-id` (`msg_...`), `svix-timestamp` (real Unix seconds), `svix-signature`
//! `v1,<base64 HMAC-SHA256("{id}.{ts}.{body}")>` keyed by the base64-decoded secret after `whsec_`.
//! A non-2xx answer or a connection error is retried on the (scaled) schedule with the same
//! `svix-id` and body (Svix's schedule by default: 0 s, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h,
//! emulated). [`WebhookConfig::also_sign_with`] adds a second signature as during a secret
//! rotation; [`WebhookConfig::duplicate_deliveries`] sends each delivered message once more, to
//! test deduplication on `svix-id`. Attempts are listed by [`Emulator::webhook_deliveries`].
//!
//! # The request log
//!
//! Every `/v1` and `/files` request is logged ([`Emulator::requests`]) with arrival time, method,
//! path, headers (the key replaced by its [`fingerprint`]), body, status, the fault that struck and
//! whether it struck before or after processing, and the generation it created, if any. The log
//! keeps the most recent [`EmulatorBuilder::request_log_capacity`] entries (100 000 by default)
//! and counts the ones it dropped ([`Emulator::dropped_requests`]).
//!
//! # Connections
//!
//! A connection must send a request's headers within [`EmulatorBuilder::header_read_timeout`]
//! (30 s by default; it also bounds the idle time between two requests on one connection, and
//! a request body, answered `408` when slower), and
//! at most [`EmulatorBuilder::max_connections`] (512) are served at once: further ones wait to
//! be accepted. A slow or idle client cannot hold the emulator. Bound to an address that is not
//! loopback, the emulator logs a warning at start: anyone who can reach it can use its demo
//! keys.

#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

// Where things live (ARCHITECTURE.md has the map). `builder` configures and starts an emulator;
// `handle` is what a test holds. `server` is the HTTP plumbing: connections, faults, the control
// endpoints and the request log. A `/v1` or `/files` request goes through `routes` (matching,
// authentication, rate limit, error answers) to one of the `handlers` (creates check their body
// with `validate`), against the store in `state`; `reports` computes usage and model metrics;
// `webhook` delivers events. `catalog`, `config`, `fault`, `log` and `mp4` are the data; `file`
// generates the served video and reads `Range`.
mod builder;
mod catalog;
mod config;
pub mod fault;
mod file;
mod handle;
mod handlers;
mod log;
mod mp4;
mod reports;
mod routes;
mod server;
mod state;
mod validate;
mod webhook;

pub use builder::{EmulatorBuilder, StartError};
pub use config::{
    ApiKey, DurationDistribution, ErrorShape, FailureCause, KeyState, Organization, RateLimit,
    RateWindow, UnknownFailureCause, WebhookConfig, fingerprint,
};
pub use fault::{Fault, FaultConfig, FaultRule, FaultTiming, RandomFaults, RetryAfterHeader};
pub use handle::{BackgroundEmulator, Emulator, GenerationInfo};
pub use log::{AppliedFault, KeyRateLimits, LogEntry, RateLimitReport, WebhookAttempt};
pub use mp4::sample_mp4;

/// The port `cargo run -p pipevideo-emulator` listens on by default (the product's own local port).
pub const DEFAULT_PORT: u16 = 3001;
/// The organization of [`Emulator::demo_key`], [`Emulator::expired_key`], [`Emulator::revoked_key`].
pub const DEMO_ORG: &str = "org_demo";
/// The organization of [`Emulator::other_org_key`].
pub const OTHER_ORG: &str = "org_other";
/// The organization of [`Emulator::no_credits_key`] (0 cents).
pub const BROKE_ORG: &str = "org_broke";
