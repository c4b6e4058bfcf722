//! Anthropic Messages (`POST {base}/v1/messages`, streamed).
//!
//! - [`anthropic_wire`]: the request and event types.
//! - [`anthropic_request`]: a core `Request` as a request body.
//! - [`anthropic_decoder`]: SSE events to chunks, without I/O
//!   ([`AnthropicDecoder`]).
//! - [`Anthropic`]: the [`Provider`], over HTTP (this file).

pub mod anthropic_decoder;
pub mod anthropic_request;
pub mod anthropic_wire;

use std::fmt;
use std::sync::Arc;

use reqwest::header::{HeaderName, HeaderValue};
use rivulet_core::{Error, OpenFuture, Provider, Request};

pub use anthropic_decoder::AnthropicDecoder;
pub use anthropic_request::{DEFAULT_MAX_TOKENS, FORMAT_TOOL};

use crate::config::{self, ProviderConfig};
use crate::decode::{self, Decoded};
use crate::http;
use crate::http::Endpoint;

/// The provider id.
pub const ID: &str = "anthropic";
/// The API when neither the config nor `ANTHROPIC_BASE_URL` gives one.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The variable holding the key.
pub const KEY_VAR: &str = "ANTHROPIC_API_KEY";
/// The variable that overrides the base URL.
pub const BASE_URL_VAR: &str = "ANTHROPIC_BASE_URL";
/// The `anthropic-version` header sent (a caller's header of the same name wins).
pub const API_VERSION: &str = "2023-06-01";

/// The Anthropic Messages provider: endpoint, key and HTTP client.
///
/// Cheap to clone; clones share the client (and its connection pool).
#[derive(Clone)]
pub struct Anthropic {
    /// `x-api-key` (sensitive), `anthropic-version`, content type and the
    /// caller's extra headers (sensitive).
    endpoint: Arc<Endpoint>,
}

impl Anthropic {
    /// Builds the provider from `config` and the environment (the config
    /// wins). Fails without a key ([`Error::MissingApiKey`]) or with an
    /// invalid base URL or header ([`Error::BadRequest`]).
    pub fn new(config: ProviderConfig) -> Result<Self, Error> {
        let base = config::base_url(ID, &config, &[BASE_URL_VAR], DEFAULT_BASE_URL)?;
        let key = config::api_key(&config, &[KEY_VAR])
            .ok_or_else(|| Error::missing_api_key(ID, KEY_VAR))?;
        let mut headers = http::request_headers(
            ID,
            "text/event-stream",
            &config.headers,
            Some((
                HeaderName::from_static("x-api-key"),
                key.expose().to_string(),
            )),
        )?;
        if !headers.contains_key("anthropic-version") {
            headers.insert(
                HeaderName::from_static("anthropic-version"),
                HeaderValue::from_static(API_VERSION),
            );
        }
        let url = messages_url(&base);
        Ok(Anthropic {
            endpoint: Arc::new(Endpoint::sse(ID, url, Some(key), headers)?),
        })
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        self.endpoint.url().as_str()
    }
}

/// `{base}/v1/messages`; a base that already ends in `/v1` or
/// `/v1/messages` is completed rather than doubled.
fn messages_url(base: &str) -> String {
    if base.ends_with("/v1/messages") {
        base.to_string()
    } else if base.ends_with("/v1") {
        format!("{base}/messages")
    } else {
        format!("{base}/v1/messages")
    }
}

impl fmt::Debug for Anthropic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Anthropic").field(&self.endpoint).finish()
    }
}

impl Provider for Anthropic {
    fn id(&self) -> &str {
        ID
    }

    fn open(&self, request: &Request) -> OpenFuture {
        let body = anthropic_request::messages_request(ID, request);
        let decoder =
            AnthropicDecoder::new(ID).format_tool(request.format.as_ref().map(|_| FORMAT_TOOL));
        self.endpoint.open_sse(request, body, decoder, |body| {
            error_body(body).map(|e| anthropic_decoder::error_from_object(ID, &e.error))
        })
    }
}

/// An error body (`{"type":"error","error":{…}}`); only an object (serde
/// would also read a list as the struct's fields in order).
fn error_body(body: &[u8]) -> Option<anthropic_wire::AnthropicErrorResponse> {
    let v = serde_json::from_slice::<serde_json::Value>(body).ok()?;
    if !v.get("error").is_some_and(serde_json::Value::is_object) {
        return None;
    }
    serde_json::from_value(v).ok()
}

/// Decodes a body already in memory, delivered in `pieces`: the SSE parser
/// and the decoder exactly as over HTTP, without the HTTP.
///
/// ```
/// use rivulet_core::Response;
/// use rivulet_providers::anthropic::decode_pieces;
///
/// let body = concat!(
///     "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
///     "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hé\"}}\n\n",
///     "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
/// );
/// let bytes = body.as_bytes();
/// let mut r = Response::default();
/// for c in decode_pieces("anthropic", false, [&bytes[..150], &bytes[150..]]) {
///     r.apply(&c.unwrap());
/// }
/// assert_eq!(r.text(), "Hé");
/// ```
pub fn decode_pieces<I, B>(provider: &str, raw_events: bool, pieces: I) -> Decoded
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    decode::decode_sse_pieces(
        AnthropicDecoder::new(provider).raw_events(raw_events),
        pieces,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies() {
        let e = error_body(br#"{"type":"error","error":{"type":"api_error","message":"m"}}"#);
        assert_eq!(e.unwrap().error.kind.as_deref(), Some("api_error"));
        assert!(error_body(br#"[{"type":"api_error"}]"#).is_none());
        assert!(error_body(br#"{"id":"msg_1"}"#).is_none());
    }

    #[test]
    fn urls() {
        assert_eq!(
            messages_url("https://api.anthropic.com"),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(messages_url("http://h/v1"), "http://h/v1/messages");
        assert_eq!(messages_url("http://h/v1/messages"), "http://h/v1/messages");
        assert_eq!(messages_url("http://h/proxy"), "http://h/proxy/v1/messages");
    }
}
