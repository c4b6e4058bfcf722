//! One provider's endpoint ([`Endpoint`]): where its requests go, with
//! which headers and credentials, and the step from a response to a chunk
//! stream (check the head, decode the body, scrub the key from every error,
//! tag it with the provider id). The HTTP transport under it is
//! `transport.rs`.
//!
//! A provider keeps only what differs: how its URL, headers and
//! credentials are resolved, the request body, the decoder, and its own
//! extras (a retry, a token fetched per request, a signature).

use std::fmt;
use std::future::Future;

use bytes::Bytes;
use futures::Stream;
use reqwest::header::{HeaderMap, AUTHORIZATION};
use reqwest::Url;
use rivulet_core::{ApiKey, ChunkStream, Error, OpenFuture, Request};
use serde::Serialize;

use super::transport as http;
use crate::config::{self, ProviderConfig};
use crate::decode::{DecodeStream, Driver, Protocol, SseFeed};
use crate::sse::SseEvent;

/// Credential headers, and defaults that are not the caller's: `Debug`
/// leaves them out of the extra headers it names.
const HIDDEN_HEADERS: &[&str] = &[
    "authorization",
    "api-key",
    "x-api-key",
    "x-goog-api-key",
    "anthropic-version",
];

/// A provider's endpoint: its id, URL, key, request headers (credentials
/// included, marked sensitive), HTTP client and the content type its
/// streams come in. `Debug` never shows the key nor a header's value.
/// Clones share the client.
#[derive(Clone)]
pub(crate) struct Endpoint {
    id: &'static str,
    /// The URL requests go to, or the base of per-model URLs. Parsed
    /// once: parsing it for every request was about 20,000 instructions
    /// per stream (callgrind, 5,000 streams), against a clone of a few
    /// hundred.
    url: Url,
    /// Kept to scrub it from errors; it is sent from `headers`.
    key: Option<ApiKey>,
    headers: HeaderMap,
    client: reqwest::Client,
    /// The content type of a stream (`text/event-stream`).
    content_type: &'static str,
}

impl Endpoint {
    /// An endpoint with a new client ([`http::client`]).
    pub(crate) fn new(
        id: &'static str,
        url: String,
        key: Option<ApiKey>,
        headers: HeaderMap,
        content_type: &'static str,
    ) -> Result<Self, Error> {
        // The URL is left out of the message: a base URL may carry
        // credentials (`https://user:pass@…`).
        let url = Url::parse(&url).map_err(|e| {
            Error::bad_request(format!("invalid request URL: {e}")).with_provider(id)
        })?;
        Ok(Endpoint {
            id,
            url,
            key,
            headers,
            client: http::client()?,
            content_type,
        })
    }

    /// An SSE endpoint ([`Endpoint::new`] for `text/event-stream`).
    pub(crate) fn sse(
        id: &'static str,
        url: String,
        key: Option<ApiKey>,
        headers: HeaderMap,
    ) -> Result<Self, Error> {
        Endpoint::new(id, url, key, headers, "text/event-stream")
    }

    /// An SSE endpoint at `{base}{path}` (a base already ending in `path`
    /// is kept) with a required key sent as `Authorization: Bearer`: the
    /// base from the config, else the first of `base_vars` set, else
    /// `default_base`; the key from the config, else the first of
    /// `key_vars` set ([`Error::MissingApiKey`] naming the first without).
    pub(crate) fn bearer_sse(
        id: &'static str,
        config: &ProviderConfig,
        base_vars: &[&str],
        default_base: &str,
        key_vars: &[&str],
        path: &str,
    ) -> Result<Self, Error> {
        let base = config::base_url(id, config, base_vars, default_base)?;
        let key = config::api_key(config, key_vars)
            .ok_or_else(|| Error::missing_api_key(id, key_vars[0]))?;
        let headers = http::request_headers(
            id,
            "text/event-stream",
            &config.headers,
            Some((AUTHORIZATION, http::bearer(&key))),
        )?;
        let url = if base.ends_with(path) {
            base
        } else {
            format!("{base}{path}")
        };
        Endpoint::sse(id, url, Some(key), headers)
    }

    pub(crate) fn url(&self) -> &Url {
        &self.url
    }

    pub(crate) fn key(&self) -> Option<&ApiKey> {
        self.key.as_ref()
    }

    pub(crate) fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// `open` as a provider's [`OpenFuture`], its errors tagged with the
    /// provider id and scrubbed of the key.
    pub(crate) fn boxed<F>(&self, open: F) -> OpenFuture
    where
        F: Future<Output = Result<ChunkStream, Error>> + Send + 'static,
    {
        let (id, key) = (self.id, self.key.clone());
        boxed(open, move |e| {
            crate::errors::redact(e.with_provider(id), key.as_ref())
        })
    }

    /// Sends a JSON POST of `body` to `url` with `headers` and returns the
    /// response head, whatever its status.
    pub(crate) async fn post(
        &self,
        url: Url,
        headers: HeaderMap,
        body: Vec<u8>,
    ) -> Result<reqwest::Response, Error> {
        tracing::debug!(
            provider = self.id,
            url = url.as_str(),
            "sending streaming request"
        );
        http::post(self.id, &self.client, url, headers, body).await
    }

    /// Checks a successful response carries a stream ([`http::expect_stream`]).
    pub(crate) async fn expect_stream(
        &self,
        resp: reqwest::Response,
        json_error: impl FnOnce(&[u8]) -> Option<Error>,
    ) -> Result<reqwest::Response, Error> {
        http::expect_stream(self.id, resp, self.content_type, json_error).await
    }

    /// Sends `body` to the endpoint's URL with its headers and checks the
    /// response head: a non-2xx status becomes the provider's error
    /// ([`http::error_response`]), another body than a stream too
    /// ([`Endpoint::expect_stream`]).
    pub(crate) async fn open_stream(
        &self,
        body: Vec<u8>,
        json_error: impl FnOnce(&[u8]) -> Option<Error>,
    ) -> Result<reqwest::Response, Error> {
        let resp = self
            .post(self.url.clone(), self.headers.clone(), body)
            .await?;
        if !resp.status().is_success() {
            return Err(http::error_response(self.id, resp).await.0);
        }
        self.expect_stream(resp, json_error).await
    }

    /// The body of a response as bytes, for a provider's own framing.
    pub(crate) fn body(
        &self,
        resp: reqwest::Response,
    ) -> impl Stream<Item = Result<Bytes, Error>> + Send + 'static {
        http::body_stream(self.id, resp)
    }

    /// The SSE body of `resp` through `decoder`, its errors scrubbed of `key`.
    pub(crate) fn decode_sse<P>(
        &self,
        resp: reqwest::Response,
        decoder: Driver<P>,
        key: Option<ApiKey>,
    ) -> ChunkStream
    where
        P: Protocol<Event = SseEvent>,
    {
        let body = Box::pin(self.body(resp));
        Box::pin(DecodeStream::new(body, SseFeed::new(decoder), key))
    }

    /// The whole exchange of an SSE provider for `request`: sends `body`
    /// (the protocol's request body, or its builder's refusal) with the
    /// request's `extra_body` merged in ([`crate::options::request_body`])
    /// to the endpoint, checks the head (`json_error` reads the provider's
    /// own error shape in a JSON body) and decodes the stream with
    /// `decoder`, raw events on when the request asks for them; every error
    /// tagged and scrubbed of the key.
    pub(crate) fn open_sse<P, B, J>(
        self: &std::sync::Arc<Self>,
        request: &Request,
        body: Result<B, Error>,
        decoder: Driver<P>,
        json_error: J,
    ) -> OpenFuture
    where
        P: Protocol<Event = SseEvent>,
        B: Serialize,
        J: FnOnce(&[u8]) -> Option<Error> + Send + 'static,
    {
        let body = crate::options::request_body(request, body);
        let decoder = decoder.raw_events(request.raw_events);
        let this = self.clone();
        self.boxed(async move {
            let resp = this.open_stream(body?, json_error).await?;
            Ok(this.decode_sse(resp, decoder, this.key.clone()))
        })
    }
}

/// `open` as an [`OpenFuture`], its errors through `redact`.
pub(crate) fn boxed<F, R>(open: F, redact: R) -> OpenFuture
where
    F: Future<Output = Result<ChunkStream, Error>> + Send + 'static,
    R: FnOnce(Error) -> Error + Send + 'static,
{
    // A combinator, not `async move { open.await.map_err(redact) }`: an
    // async block keeps its captured `open` and the `open` it awaits in
    // separate slots, so every stream's request phase held the provider's
    // future twice (3.0 KiB per stream in heaptrack, 500 streams opening at
    // once).
    Box::pin(futures::TryFutureExt::map_err(open, redact))
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("id", &self.id)
            .field("url", &self.url.as_str())
            .field("key", &self.key.as_ref().map(|_| "***"))
            .field(
                "extra_headers",
                &http::extra_header_names(&self.headers, HIDDEN_HEADERS),
            )
            .finish()
    }
}
