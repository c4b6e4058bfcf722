//! Cohere's v2 Chat API (`POST {base}/v2/chat`), provider id `cohere`.
//!
//! - [`wire`]: the request and event types.
//! - [`request`]: a core `Request` as a request body.
//! - [`Decoder`]: SSE events to chunks, without I/O.
//! - [`Cohere`]: the [`Provider`], over HTTP.

pub mod decoder;
pub mod request;
pub mod wire;

use std::fmt;
use std::sync::Arc;

use reqwest::header::{HeaderMap, AUTHORIZATION};
use rivulet_core::{ApiKey, ChunkStream, Error, OpenFuture, Provider, Request};

pub use decoder::Decoder;

use crate::config::{self, ProviderConfig};
use crate::decode::{self, DecodeStream, Decoded};
use crate::{http, sse};

/// The provider id.
pub const ID: &str = "cohere";
/// The variable holding the key (the Cohere SDK's name).
pub const KEY_VAR: &str = "CO_API_KEY";
/// Also accepted for the key.
pub const ALT_KEY_VAR: &str = "COHERE_API_KEY";
/// The variables that override the base URL, in order.
pub const BASE_URL_VARS: &[&str] = &["CO_API_URL", "COHERE_BASE_URL"];
/// The base URL when neither the config nor a variable gives one.
pub const DEFAULT_BASE_URL: &str = "https://api.cohere.com";

/// The Cohere provider. Cheap to clone; clones share the client.
#[derive(Clone)]
pub struct Cohere {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    key: ApiKey,
    headers: HeaderMap,
    client: reqwest::Client,
}

impl Cohere {
    /// Builds the provider from `config` and the environment (the config
    /// wins): `CO_API_KEY` or `COHERE_API_KEY` (required), `CO_API_URL` or
    /// `COHERE_BASE_URL`.
    pub fn new(config: ProviderConfig) -> Result<Self, Error> {
        let base = config::base_url(ID, &config, BASE_URL_VARS, DEFAULT_BASE_URL)?;
        let key = config::api_key(&config, &[KEY_VAR, ALT_KEY_VAR])
            .ok_or_else(|| Error::missing_api_key(ID, KEY_VAR))?;
        let headers = http::request_headers(
            ID,
            "text/event-stream",
            &config.headers,
            Some((AUTHORIZATION, http::bearer(&key))),
        )?;
        let url = if base.ends_with("/v2/chat") {
            base
        } else {
            format!("{base}/v2/chat")
        };
        Ok(Cohere {
            inner: Arc::new(Inner {
                url,
                key,
                headers,
                client: http::client()?,
            }),
        })
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        &self.inner.url
    }
}

impl fmt::Debug for Cohere {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cohere")
            .field("url", &self.inner.url)
            .field("key", &"***")
            .finish()
    }
}

impl Provider for Cohere {
    fn id(&self) -> &str {
        ID
    }

    fn open(&self, request: &Request) -> OpenFuture {
        let inner = self.inner.clone();
        let request = request.clone();
        Box::pin(async move {
            inner
                .open(&request)
                .await
                .map_err(|e| http::redact(e.with_provider(ID), Some(&inner.key)))
        })
    }
}

impl Inner {
    async fn open(&self, request: &Request) -> Result<ChunkStream, Error> {
        let body = http::json_body(&request::chat_request(request))?;
        tracing::debug!(provider = ID, url = %self.url, "sending cohere chat request");
        let resp = http::open_stream(
            ID,
            &self.client,
            &self.url,
            self.headers.clone(),
            body,
            "text/event-stream",
            |_| None,
        )
        .await?;
        let events = sse::events(http::body_stream(ID, resp));
        let decoder = Decoder::new(ID).raw_events(request.raw_events);
        Ok(Box::pin(DecodeStream::new(
            events,
            decoder,
            Some(self.key.clone()),
        )))
    }
}

/// Decodes a body already in memory, delivered in `pieces`. For tests and
/// benchmarks.
pub fn decode_pieces<I, B>(raw_events: bool, pieces: I) -> Decoded
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    decode::decode_sse_pieces(Decoder::new(ID).raw_events(raw_events), pieces)
}
