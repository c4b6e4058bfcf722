//! OpenAI Chat Completions, and every server that speaks it.
//!
//! - [`wire`]: the request and chunk types.
//! - [`request`]: a core `Request` as a request body.
//! - [`Decoder`]: SSE events to chunks, without I/O.
//! - [`OpenAiCompatible`]: the [`Provider`], over HTTP.

pub mod decoder;
pub mod request;
pub mod wire;

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use rivulet_core::{ApiKey, Chunk, ChunkStream, Error, OpenFuture, Provider, Request};

pub use decoder::{Decoded, Decoder};

use crate::config::{Endpoint, ProviderConfig};
use crate::family::{Auth, Family, UrlStyle};
use crate::http::{self, BodyKind};
use crate::sse::{self, SseStream};

/// How much of a JSON body sent instead of a stream is read.
const JSON_BODY_LIMIT: usize = 1024 * 1024;

/// A Chat Completions provider: one member of the OpenAI-compatible family
/// ([`Family`]) with its endpoint, key and HTTP client.
///
/// Cheap to clone; clones share the client (and its connection pool).
#[derive(Clone)]
pub struct OpenAiCompatible {
    inner: Arc<Inner>,
}

struct Inner {
    family: &'static Family,
    endpoint: Endpoint,
    /// Kept to scrub it from error messages; it is sent from `headers`.
    key: Option<ApiKey>,
    /// Auth (marked sensitive), content type and the caller's extra headers.
    headers: HeaderMap,
    client: reqwest::Client,
    /// Cleared for good once the server rejects `stream_options`.
    include_usage: AtomicBool,
}

impl OpenAiCompatible {
    /// Builds the provider for `family` from `config` and the environment
    /// (the config wins). Fails when a required key or endpoint is missing,
    /// or a header is invalid.
    pub fn new(family: &'static Family, config: ProviderConfig) -> Result<Self, Error> {
        let settings = crate::config::resolve(family, &config)?;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(ACCEPT, HeaderValue::from_static("text/event-stream"));
        for (name, value) in &config.headers {
            // The value is never echoed: custom headers often carry secrets.
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Error::bad_request(format!("invalid header name {name:?}")).with_provider(family.id)
            })?;
            let mut value = HeaderValue::from_str(value).map_err(|_| {
                Error::bad_request(format!("invalid value for header {name}"))
                    .with_provider(family.id)
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        if let Some(key) = &settings.key {
            let (name, value) = match family.auth {
                Auth::Bearer => (AUTHORIZATION, format!("Bearer {}", key.expose())),
                Auth::ApiKeyHeader => {
                    (HeaderName::from_static("api-key"), key.expose().to_string())
                }
            };
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                Error::bad_request("the API key contains characters not allowed in a header")
                    .with_provider(family.id)
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        Ok(OpenAiCompatible {
            inner: Arc::new(Inner {
                family,
                endpoint: settings.endpoint,
                key: settings.key,
                headers,
                client: http::client()?,
                include_usage: AtomicBool::new(true),
            }),
        })
    }

    /// The family member this provider speaks for.
    pub fn family(&self) -> &'static Family {
        self.inner.family
    }

    /// The URL a request for `model` goes to.
    pub fn url(&self, model: &str) -> Result<String, Error> {
        self.inner.url(model)
    }
}

impl fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let extra: Vec<&str> = i
            .headers
            .keys()
            .map(HeaderName::as_str)
            .filter(|n| !matches!(*n, "authorization" | "api-key" | "content-type" | "accept"))
            .collect();
        f.debug_struct("OpenAiCompatible")
            .field("id", &i.family.id)
            .field("endpoint", &i.endpoint)
            .field("key", &i.key.as_ref().map(|_| "***"))
            .field("extra_headers", &extra)
            .field("include_usage", &i.include_usage.load(Ordering::Relaxed))
            .finish()
    }
}

impl Provider for OpenAiCompatible {
    fn id(&self) -> &str {
        self.inner.family.id
    }

    fn open(&self, request: &Request) -> OpenFuture {
        let inner = self.inner.clone();
        let request = request.clone();
        Box::pin(async move {
            let id = inner.family.id;
            inner
                .open(&request)
                .await
                .map_err(|e| http::redact(e.with_provider(id), inner.key.as_ref()))
        })
    }
}

impl Inner {
    fn url(&self, model: &str) -> Result<String, Error> {
        match self.family.url_style {
            UrlStyle::ChatCompletions => Ok(self.endpoint.chat_completions_url()),
            UrlStyle::AzureDeployment => self.endpoint.azure_deployment_url(model),
        }
    }

    async fn send(
        &self,
        url: &str,
        request: &Request,
        include_usage: bool,
    ) -> Result<reqwest::Response, Error> {
        let body = request::chat_request(self.family, request, include_usage);
        let body = serde_json::to_vec(&body)
            .map_err(|e| Error::bad_request(format!("cannot encode the request: {e}")))?;
        tracing::debug!(
            provider = self.family.id,
            url,
            include_usage,
            "sending chat completions request"
        );
        http::post(
            self.family.id,
            &self.client,
            url,
            self.headers.clone(),
            body,
        )
        .await
    }

    async fn open(&self, request: &Request) -> Result<ChunkStream, Error> {
        let id = self.family.id;
        let url = self.url(&request.model)?;
        let include_usage = self.include_usage.load(Ordering::Relaxed);
        let mut resp = self.send(&url, request, include_usage).await?;
        if !resp.status().is_success() {
            let (err, body) = http::error_response(id, resp).await;
            // "A provider that rejects it still works": retry once without
            // `stream_options`, and never send it to this server again.
            let rejected =
                matches!(err.status(), Some(400 | 422)) && body.contains("stream_options");
            if include_usage && rejected {
                tracing::debug!(
                    provider = id,
                    "server rejected stream_options; retrying without it"
                );
                self.include_usage.store(false, Ordering::Relaxed);
                resp = self.send(&url, request, false).await?;
                if !resp.status().is_success() {
                    return Err(http::error_response(id, resp).await.0);
                }
            } else {
                return Err(err);
            }
        }
        tracing::debug!(
            provider = id,
            status = resp.status().as_u16(),
            "response head received"
        );

        match http::body_kind(resp.headers()) {
            BodyKind::EventStream => {}
            BodyKind::Json => {
                let body = http::read_limited(resp, JSON_BODY_LIMIT).await;
                return Err(json_instead_of_stream(id, &body));
            }
            BodyKind::Other(content_type) => {
                return Err(Error::protocol(format!(
                    "expected text/event-stream, got {content_type}"
                )));
            }
        }
        let events = sse::events(http::body_stream(id, resp));
        let decoder = Decoder::new(id).raw_events(request.raw_events);
        Ok(Box::pin(DecodeStream::new(
            events,
            decoder,
            self.key.clone(),
        )))
    }
}

/// The error for a 2xx JSON answer to a streaming request: the provider's
/// error if the body is one, else a protocol error.
fn json_instead_of_stream(provider: &str, body: &[u8]) -> Error {
    if let Ok(e) = serde_json::from_slice::<wire::ErrorEvent>(body) {
        return decoder::inband_error(provider, &e.error);
    }
    Error::protocol(format!(
        "expected an event stream, got a JSON body (did the server ignore \"stream\": true?): {}",
        http::truncate(&String::from_utf8_lossy(body), 200)
    ))
}

/// The chunk stream: SSE events through the decoder. It drops the body (and
/// so closes the connection) as soon as the decoder is done, and when
/// dropped itself.
pub struct DecodeStream {
    events: Option<SseStream>,
    decoder: Decoder,
    pending: VecDeque<Result<Chunk, Error>>,
    key: Option<ApiKey>,
}

impl DecodeStream {
    /// Decodes `events` with `decoder`; errors are scrubbed of `key`.
    pub fn new(events: SseStream, decoder: Decoder, key: Option<ApiKey>) -> Self {
        DecodeStream {
            events: Some(events),
            decoder,
            pending: VecDeque::new(),
            key,
        }
    }
}

impl Stream for DecodeStream {
    type Item = Result<Chunk, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(item) = this.pending.pop_front() {
                return Poll::Ready(Some(item.map_err(|e| http::redact(e, this.key.as_ref()))));
            }
            let Some(events) = this.events.as_mut() else {
                return Poll::Ready(None);
            };
            match events.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(event))) => this.pending.extend(this.decoder.feed(&event)),
                Poll::Ready(Some(Err(e))) => this.pending.extend(this.decoder.fail(e)),
                Poll::Ready(None) => {
                    this.pending.extend(this.decoder.finish());
                    this.events = None;
                }
                Poll::Pending => return Poll::Pending,
            }
            if this.decoder.is_done() {
                if let Some(mut events) = this.events.take() {
                    // The body usually ends right behind `[DONE]`. One more
                    // poll sees that end if it is already here, which lets
                    // the connection go back to the pool; if it is not, the
                    // connection is dropped rather than waited for.
                    let _ = events.poll_next_unpin(cx);
                }
            }
        }
    }
}

/// Decodes a body already in memory, delivered in `pieces`: the SSE parser
/// and the decoder exactly as over HTTP, without the HTTP. For tests and
/// benchmarks.
///
/// ```
/// use rivulet_core::Response;
/// use rivulet_providers::openai::decode_pieces;
///
/// let body = "data: {\"choices\":[{\"delta\":{\"content\":\"Hé\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
/// let bytes = body.as_bytes();
/// let mut r = Response::default();
/// for c in decode_pieces("openai", false, [&bytes[..40], &bytes[40..]]) {
///     r.apply(&c.unwrap());
/// }
/// assert_eq!(r.text(), "Hé");
/// ```
pub fn decode_pieces<I, B>(provider: &str, raw_events: bool, pieces: I) -> Decoded
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let mut decoder = Decoder::new(provider).raw_events(raw_events);
    let mut out = Vec::new();
    for event in sse::parse_pieces(pieces) {
        match event {
            Ok(event) => out.extend(decoder.feed(&event)),
            Err(e) => out.extend(decoder.fail(e)),
        }
        if decoder.is_done() {
            return out;
        }
    }
    out.extend(decoder.finish());
    out
}
