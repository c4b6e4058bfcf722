//! `rivulet-providers`: rivulet's wire protocols, one [`Provider`] each.
//!
//! Written: OpenAI Chat Completions and the servers that speak it (see
//! [`family`]), the OpenAI Responses API ([`responses`]), Anthropic Messages
//! ([`anthropic`]), Gemini through the Gemini API and Vertex AI
//! ([`google`]), Cohere v2 ([`cohere`]) and Bedrock ConverseStream
//! ([`bedrock`]). Every provider is built by id with [`build`]:
//!
//! ```
//! use rivulet_core::ApiKey;
//! use rivulet_providers::{build, ProviderConfig};
//!
//! let provider = build("groq", ProviderConfig {
//!     api_key: Some(ApiKey::new("gsk-example")),
//!     ..Default::default()
//! }).unwrap();
//! assert_eq!(provider.id(), "groq");
//! ```
//!
//! Layout: `http` (private, `http.rs` over the folder `http/`: one
//! provider's endpoint, its URL, headers and credentials, over the
//! transport: the client, error responses, `Retry-After`),
//! [`media`] (images and files: refusals, media types),
//! [`options`] (request options: checks, `extra_body`), `conversation`
//! (private: the system prompt and tool-call arguments as several request
//! builders send them), [`sse`]
//! (event-stream parsing), [`eventstream`] (AWS
//! binary framing), [`sigv4`] (AWS request signing), [`decode`] (what every
//! decoder shares: the decoder contract, the stream that drives it over a
//! body, usage deltas, raw chunks, in-band error codes), `streamed_text`
//! (private: the text and thought parts several decoders share), one
//! module per protocol ([`openai`], [`responses`], [`anthropic`],
//! [`google`], [`cohere`], [`bedrock`]): the provider in `<protocol>.rs`, and beside it
//! the folder `<protocol>/` with its wire types (`<protocol>_wire.rs`),
//! request body (`<protocol>_request.rs`) and decoder
//! (`<protocol>_decoder.rs`; Google's also `auth.rs` and `partial_args.rs`),
//! each a public module of the same name,
//! [`family`] (the OpenAI-compatible ids, endpoints, keys, quirks),
//! [`config`].
//!
//! How a chunk travels from the provider's socket to its consumer, file
//! by file, and why the log is shared memory: `docs/ARCHITECTURE.md` in the
//! repository.
#![warn(missing_docs)]

pub mod anthropic;
pub mod bedrock;
pub mod cohere;
pub mod config;
mod conversation;
pub mod decode;
pub mod errors;
pub mod eventstream;
pub mod family;
pub mod google;
mod http;
pub mod media;
pub mod openai;
pub mod options;
pub mod responses;
pub mod sigv4;
pub mod sse;
mod streamed_text;

use std::sync::Arc;

use rivulet_core::{Error, Provider};

pub use anthropic::Anthropic;
pub use bedrock::Bedrock;
pub use cohere::Cohere;
pub use config::ProviderConfig;
pub use google::Google;
pub use openai::OpenAiCompatible;
pub use responses::OpenAiResponses;

/// Every provider id [`build`] knows: the OpenAI-compatible family first,
/// then the other protocols.
pub const PROVIDER_IDS: &[&str] = &[
    "openai",
    "groq",
    "xai",
    "deepseek",
    "mistral",
    "azure",
    "openrouter",
    "litellm",
    "ollama",
    "vllm",
    "llamacpp",
    responses::ID,
    anthropic::ID,
    google::GOOGLE,
    google::VERTEX,
    cohere::ID,
    bedrock::ID,
];

/// Builds the provider `id`. The config wins over environment variables,
/// which win over defaults.
///
/// Errors: a required key (or Azure's endpoint, or Vertex's project)
/// missing → [`Error::MissingApiKey`]; an unknown id or an invalid base URL
/// or header → [`Error::BadRequest`].
pub fn build(id: &str, config: ProviderConfig) -> Result<Arc<dyn Provider>, Error> {
    if let Some(family) = family::find(id) {
        return Ok(built(OpenAiCompatible::new(family, config)?));
    }
    Ok(match id {
        responses::ID => built(OpenAiResponses::new(config)?),
        anthropic::ID => built(Anthropic::new(config)?),
        google::GOOGLE => built(Google::gemini(config)?),
        google::VERTEX => built(Google::vertex(config)?),
        cohere::ID => built(Cohere::new(config)?),
        bedrock::ID => built(Bedrock::new(config)?),
        _ => {
            return Err(Error::bad_request(format!(
                "unknown provider {id:?}; known providers: {}",
                PROVIDER_IDS.join(", ")
            )))
        }
    })
}

/// Logs a built provider (its `Debug` never shows a key) and shares it.
fn built<P: Provider + std::fmt::Debug>(provider: P) -> Arc<dyn Provider> {
    tracing::debug!(provider = ?provider, "built provider");
    Arc::new(provider)
}

/// The environment variable holding `id`'s API key, when it uses one, so
/// a CLI can say what to set.
pub fn key_variable(id: &str) -> Option<&'static str> {
    if let Some(family) = family::find(id) {
        return family.key_var;
    }
    match id {
        responses::ID => Some(responses::KEY_VAR),
        anthropic::ID => Some(anthropic::KEY_VAR),
        google::GOOGLE => Some(google::GEMINI_KEY_VARS[0]),
        google::VERTEX => Some(google::VERTEX_TOKEN_VAR),
        cohere::ID => Some(cohere::KEY_VAR),
        // Bedrock signs with an access key pair (or takes a Bedrock API
        // key, `AWS_BEARER_TOKEN_BEDROCK`); the access key id is what a
        // user sets first.
        bedrock::ID => Some(bedrock::ACCESS_KEY_VAR),
        _ => None,
    }
}
