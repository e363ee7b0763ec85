//! An HTTP-half wrapper that shows a person what the SDK is dealing with: every 429, 5xx, cut
//! connection or broken body, as it happens, so a run with `--emulator-faults` shows the SDK
//! retrying and pacing itself. It sees method, path and status only: never headers, never the
//! key, never a query string (video URLs carry a signature there).

use std::sync::Arc;

use pipevideo::ApiError;
use pipevideo::core::transport::{
    Cause, ChunkSink, DownloadBody, DownloadOptions, FailureKind, HttpClient, MissingTls,
    SendOptions, TransportError,
};

use crate::duration::human;
use crate::ui::Ui;

/// Wraps the HTTP half of a transport and reports to the [`Ui`]; the clock is the runtime's,
/// joined in a `Stack` (see `session.rs`), so there is nothing of it to forward here.
#[derive(Debug, Clone)]
pub(crate) struct Observed<T> {
    inner: T,
    ui: Arc<Ui>,
}

impl<T> Observed<T> {
    pub(crate) fn new(inner: T, ui: Arc<Ui>) -> Self {
        Self { inner, ui }
    }
}

fn label(request: &http::Request<Vec<u8>>) -> String {
    format!("{} {}", request.method(), request.uri().path())
}

#[async_trait::async_trait]
impl<T: HttpClient> HttpClient for Observed<T> {
    async fn send(
        &self,
        request: http::Request<Vec<u8>>,
        options: SendOptions,
    ) -> Result<http::Response<Vec<u8>>, TransportError> {
        let what = label(&request);
        self.ui.request_sent();
        let result = self.inner.send(request, options).await;
        match &result {
            Ok(response) => {
                let status = response.status();
                if status.as_u16() == 429 {
                    let api = ApiError::from_response(status, response.headers(), response.body());
                    let asked = api
                        .retry_after()
                        .map(|d| format!("the server asked to wait {}", human(d)))
                        .or_else(|| {
                            api.retry_after_header()
                                .map(|h| format!("Retry-After: {h}"))
                        })
                        .unwrap_or_else(|| "no wait given".into());
                    self.ui.trouble(&format!(
                        "{what}: 429 Too Many Requests ({asked}); no request of this client goes out before then"
                    ));
                } else if status.is_server_error() {
                    self.ui.trouble(&format!(
                        "{what}: HTTP {} {}; the SDK backs off before retrying",
                        status.as_u16(),
                        status.canonical_reason().unwrap_or("")
                    ));
                } else if status.is_success()
                    && serde_json::from_slice::<serde::de::IgnoredAny>(response.body()).is_err()
                {
                    self.ui.trouble(&format!(
                        "{what}: HTTP {} with a cut-off body; the SDK retries only if that is safe",
                        status.as_u16()
                    ));
                }
            }
            Err(e) => {
                let happened = match e.cause() {
                    Cause::Connect => "could not connect",
                    Cause::Timeout => "timed out",
                    Cause::Io => "the connection was cut mid-answer",
                    Cause::InvalidResponse => "the answer was not valid HTTP",
                    _ => "failed",
                };
                let next = match e.kind() {
                    FailureKind::NotSent => "the SDK retries",
                    FailureKind::MaybeSent => {
                        "it may have arrived, so the SDK retries only if that is safe (a read, or a create with its idempotency key)"
                    }
                    FailureKind::Permanent => "a retry cannot help",
                };
                self.ui.trouble(&format!("{what}: {happened}; {next}"));
            }
        }
        result
    }

    async fn download(
        &self,
        request: http::Request<Vec<u8>>,
        sink: &mut dyn ChunkSink,
        options: DownloadOptions,
    ) -> Result<http::Response<DownloadBody>, TransportError> {
        self.ui.request_sent();
        self.inner.download(request, sink, options).await
    }

    fn tls_support(&self) -> Result<(), MissingTls> {
        self.inner.tls_support()
    }
}
