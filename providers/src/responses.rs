//! The OpenAI Responses API (`POST {base}/responses`), provider id
//! `openai-responses`.
//!
//! - [`responses_wire`]: the request and event types.
//! - [`responses_request`]: a core `Request` as a request body.
//! - `responses_id`: the provider id, [`ID`], in a leaf of its own: this file
//!   and the request builder both name it, neither through the other.
//! - [`responses_decoder`]: SSE events to chunks, without I/O
//!   ([`ResponsesDecoder`]).
//! - [`OpenAiResponses`]: the [`Provider`], over HTTP (this file).

pub mod responses_decoder;
mod responses_id;
pub mod responses_request;
pub mod responses_wire;

use std::fmt;
use std::sync::Arc;

use rivulet_core::{Error, OpenFuture, Provider, Request};

pub use responses_decoder::ResponsesDecoder;
pub use responses_id::ID;

use crate::config::ProviderConfig;
use crate::decode::{self, Decoded};
use crate::http::Endpoint;

/// The variable holding the key.
pub const KEY_VAR: &str = "OPENAI_API_KEY";
/// The variable that overrides the base URL.
pub const BASE_URL_VAR: &str = "OPENAI_BASE_URL";
/// The base URL when neither the config nor the variable gives one.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// The Responses API provider. Cheap to clone; clones share the client.
#[derive(Clone)]
pub struct OpenAiResponses {
    endpoint: Arc<Endpoint>,
}

impl OpenAiResponses {
    /// Builds the provider from `config` and the environment (the config
    /// wins): `OPENAI_API_KEY` (required), `OPENAI_BASE_URL`.
    pub fn new(config: ProviderConfig) -> Result<Self, Error> {
        let endpoint = Endpoint::bearer_sse(
            ID,
            &config,
            &[BASE_URL_VAR],
            DEFAULT_BASE_URL,
            &[KEY_VAR],
            "/responses",
        )?;
        Ok(OpenAiResponses {
            endpoint: Arc::new(endpoint),
        })
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        self.endpoint.url().as_str()
    }
}

impl fmt::Debug for OpenAiResponses {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OpenAiResponses")
            .field(&self.endpoint)
            .finish()
    }
}

impl Provider for OpenAiResponses {
    fn id(&self) -> &str {
        ID
    }

    fn open(&self, request: &Request) -> OpenFuture {
        let body = responses_request::responses_request(request);
        self.endpoint
            .open_sse(request, body, ResponsesDecoder::new(ID), |_| None)
    }
}

/// Decodes a body already in memory, delivered in `pieces`. For tests and
/// benchmarks.
pub fn decode_pieces<I, B>(raw_events: bool, pieces: I) -> Decoded
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    decode::decode_sse_pieces(ResponsesDecoder::new(ID).raw_events(raw_events), pieces)
}
