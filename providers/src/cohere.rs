//! Cohere's v2 Chat API (`POST {base}/v2/chat`), provider id `cohere`.
//!
//! - [`cohere_wire`]: the request and event types.
//! - [`cohere_request`]: a core `Request` as a request body.
//! - `cohere_id`: the provider id, [`ID`], in a leaf of its own: this file
//!   and the request builder both name it, neither through the other.
//! - [`cohere_decoder`]: SSE events to chunks, without I/O
//!   ([`CohereDecoder`]).
//! - [`Cohere`]: the [`Provider`], over HTTP (this file).

pub mod cohere_decoder;
mod cohere_id;
pub mod cohere_request;
pub mod cohere_wire;

use std::fmt;
use std::sync::Arc;

use rivulet_core::{Error, OpenFuture, Provider, Request};

pub use cohere_decoder::CohereDecoder;
pub use cohere_id::ID;

use crate::config::ProviderConfig;
use crate::decode::{self, Decoded};
use crate::http::Endpoint;

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
    endpoint: Arc<Endpoint>,
}

impl Cohere {
    /// Builds the provider from `config` and the environment (the config
    /// wins): `CO_API_KEY` or `COHERE_API_KEY` (required), `CO_API_URL` or
    /// `COHERE_BASE_URL`.
    pub fn new(config: ProviderConfig) -> Result<Self, Error> {
        let endpoint = Endpoint::bearer_sse(
            ID,
            &config,
            BASE_URL_VARS,
            DEFAULT_BASE_URL,
            &[KEY_VAR, ALT_KEY_VAR],
            "/v2/chat",
        )?;
        Ok(Cohere {
            endpoint: Arc::new(endpoint),
        })
    }

    /// The URL requests go to.
    pub fn url(&self) -> &str {
        self.endpoint.url().as_str()
    }
}

impl fmt::Debug for Cohere {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Cohere").field(&self.endpoint).finish()
    }
}

impl Provider for Cohere {
    fn id(&self) -> &str {
        ID
    }

    fn open(&self, request: &Request) -> OpenFuture {
        let body = cohere_request::chat_request(request);
        self.endpoint
            .open_sse(request, body, CohereDecoder::new(ID), |_| None)
    }
}

/// Decodes a body already in memory, delivered in `pieces`. For tests and
/// benchmarks.
pub fn decode_pieces<I, B>(raw_events: bool, pieces: I) -> Decoded
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    decode::decode_sse_pieces(CohereDecoder::new(ID).raw_events(raw_events), pieces)
}
