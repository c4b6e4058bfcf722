//! OpenAI Chat Completions, and every server that speaks it.
//!
//! - [`openai_wire`]: the request and chunk types.
//! - [`openai_request`]: a core `Request` as a request body.
//! - [`openai_decoder`]: SSE events to chunks, without I/O
//!   ([`ChatDecoder`]).
//! - [`OpenAiCompatible`]: the [`Provider`], over HTTP (this file).

pub mod openai_decoder;
pub mod openai_request;
pub mod openai_wire;

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use reqwest::header::{HeaderName, AUTHORIZATION};
use reqwest::Url;
use rivulet_core::{ChunkStream, Error, OpenFuture, Provider, Request};

pub use openai_decoder::{ChatDecoder, Decoded};

use crate::config::{self, ProviderConfig};
use crate::decode;
use crate::family::{AuthStyle, Family, UrlStyle};
use crate::http;
use crate::http::Endpoint;

/// A Chat Completions provider: one member of the OpenAI-compatible family
/// ([`Family`]) with its endpoint, key and HTTP client.
///
/// Cheap to clone; clones share the client (and its connection pool).
#[derive(Clone)]
pub struct OpenAiCompatible {
    inner: Arc<ChatInner>,
}

struct ChatInner {
    family: &'static Family,
    api_base: config::ApiBase,
    /// The key, and the headers: auth (marked sensitive), content type and
    /// the caller's extra headers.
    http: Endpoint,
    /// Cleared for good once the server rejects `stream_options`.
    include_usage: AtomicBool,
}

impl OpenAiCompatible {
    /// Builds the provider for `family` from `config` and the environment
    /// (the config wins). Fails when a required key or endpoint is missing,
    /// or a header is invalid.
    pub fn new(family: &'static Family, config: ProviderConfig) -> Result<Self, Error> {
        let settings = crate::config::resolve(family, &config)?;
        let auth = settings.key.as_ref().map(|key| match family.auth {
            AuthStyle::Bearer => (AUTHORIZATION, http::bearer(key)),
            AuthStyle::ApiKeyHeader => {
                (HeaderName::from_static("api-key"), key.expose().to_string())
            }
        });
        let headers = http::request_headers(family.id, "text/event-stream", &config.headers, auth)?;
        // The endpoint's URL is where requests go, parsed once; Azure's
        // names the deployment (the model), so it keeps the base.
        let url = match family.url_style {
            UrlStyle::ChatCompletions => settings.api_base.chat_completions_url(),
            UrlStyle::AzureDeployment => settings.api_base.base.clone(),
        };
        Ok(OpenAiCompatible {
            inner: Arc::new(ChatInner {
                family,
                api_base: settings.api_base,
                http: Endpoint::sse(family.id, url, settings.key, headers)?,
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
        self.inner.url(model).map(|url| url.as_str().to_owned())
    }
}

impl fmt::Debug for OpenAiCompatible {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let extra = http::extra_header_names(i.http.headers(), &["authorization", "api-key"]);
        f.debug_struct("OpenAiCompatible")
            .field("id", &i.family.id)
            .field("api_base", &i.api_base)
            .field("key", &i.http.key().map(|_| "***"))
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
        let http = &self.inner.http;
        http.boxed(async move { inner.open(&request).await })
    }
}

impl ChatInner {
    /// Borrowed when it is the endpoint's own: a request clones it once,
    /// as it is sent, not once here and again for `send`.
    fn url(&self, model: &str) -> Result<Cow<'_, Url>, Error> {
        match self.family.url_style {
            UrlStyle::ChatCompletions => Ok(Cow::Borrowed(self.http.url())),
            UrlStyle::AzureDeployment => self.api_base.azure_deployment(model).map(Cow::Owned),
        }
    }

    async fn send(
        &self,
        url: &Url,
        request: &Request,
        include_usage: bool,
    ) -> Result<reqwest::Response, Error> {
        let body = crate::options::request_body(
            request,
            openai_request::chat_request(self.family, request, include_usage),
        )?;
        tracing::debug!(provider = self.family.id, include_usage, "chat completions");
        self.http
            .post(url.clone(), self.http.headers().clone(), body)
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
        let resp = self
            .http
            .expect_stream(resp, |body| {
                let e = serde_json::from_slice::<openai_wire::ErrorEvent>(body).ok()?;
                Some(openai_decoder::inband_error(id, &e.error))
            })
            .await?;
        let decoder = ChatDecoder::new(id).raw_events(request.raw_events);
        Ok(self
            .http
            .decode_sse(resp, decoder, self.http.key().cloned()))
    }
}

/// The chunk stream: SSE events through the Chat Completions decoder.
pub type ChatDecodeStream = decode::DecodeStream<decode::SseFeed<openai_decoder::ChatCompletions>>;

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
    decode::decode_sse_pieces(ChatDecoder::new(provider).raw_events(raw_events), pieces)
}
