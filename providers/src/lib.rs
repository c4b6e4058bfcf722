//! `rivulet-providers`: rivulet's wire protocols, one [`Provider`] each.
//!
//! Written so far: OpenAI Chat Completions and the servers that speak it
//! (see [`family`]), the OpenAI Responses API ([`responses`]), Cohere v2
//! ([`cohere`]) and Bedrock ConverseStream ([`bedrock`]). Every provider is
//! built by id with [`build`]:
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
//! Layout: [`http`] (client, error responses, `Retry-After`), [`sse`]
//! (event-stream parsing), [`eventstream`] (AWS binary framing), [`sigv4`]
//! (AWS request signing), [`decode`] (what the newer decoders share: the
//! decoder contract and the stream that drives it), one folder per protocol
//! (wire types, request body, decoder, provider: [`openai`], [`responses`],
//! [`cohere`], [`bedrock`]), [`family`] (ids, endpoints, keys, quirks),
//! [`config`].

pub mod bedrock;
pub mod cohere;
pub mod config;
pub mod decode;
pub mod eventstream;
pub mod family;
pub mod http;
pub mod openai;
pub mod responses;
pub mod sigv4;
pub mod sse;

use std::sync::Arc;

use rivulet_core::{Error, Provider};

pub use bedrock::Bedrock;
pub use cohere::Cohere;
pub use config::ProviderConfig;
pub use openai::OpenAiCompatible;
pub use responses::OpenAiResponses;

/// Every provider id [`build`] knows.
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
    "openai-responses",
    "cohere",
    "bedrock",
];

/// Provider ids whose protocols are not written yet: [`build`] answers
/// [`Error::Unsupported`] for them.
pub const PLANNED_PROVIDER_IDS: &[&str] = &["anthropic", "google", "vertex"];

/// Builds the provider `id`. The config wins over environment variables,
/// which win over defaults.
///
/// Errors: a required key (or Azure's endpoint) missing →
/// [`Error::MissingApiKey`]; a protocol not written yet →
/// [`Error::Unsupported`]; an unknown id or an invalid base URL or header →
/// [`Error::BadRequest`].
pub fn build(id: &str, config: ProviderConfig) -> Result<Arc<dyn Provider>, Error> {
    if let Some(family) = family::find(id) {
        let provider = OpenAiCompatible::new(family, config)?;
        tracing::debug!(provider = ?provider, "built provider");
        return Ok(Arc::new(provider));
    }
    let provider: Arc<dyn Provider> = match id {
        responses::ID => Arc::new(OpenAiResponses::new(config)?),
        cohere::ID => Arc::new(Cohere::new(config)?),
        bedrock::ID => Arc::new(Bedrock::new(config)?),
        _ => return Err(unknown(id)),
    };
    tracing::debug!(provider = id, "built provider");
    Ok(provider)
}

fn unknown(id: &str) -> Error {
    if PLANNED_PROVIDER_IDS.contains(&id) {
        return Error::unsupported(format!(
            "the {id} protocol is not implemented yet; available: {}",
            PROVIDER_IDS.join(", ")
        ))
        .with_provider(id);
    }
    Error::bad_request(format!(
        "unknown provider {id:?}; known providers: {}",
        PROVIDER_IDS.join(", ")
    ))
}

/// The environment variable holding `id`'s API key, when it uses one
/// (also for the planned protocols, so a CLI can say what to set).
pub fn key_variable(id: &str) -> Option<&'static str> {
    if let Some(family) = family::find(id) {
        return family.key_var;
    }
    match id {
        responses::ID => Some(responses::KEY_VAR),
        "anthropic" => Some("ANTHROPIC_API_KEY"),
        "google" => Some("GEMINI_API_KEY"),
        cohere::ID => Some(cohere::KEY_VAR),
        // Bedrock signs with an access key pair (or takes a Bedrock API
        // key, `AWS_BEARER_TOKEN_BEDROCK`); the access key id is what a
        // user sets first.
        bedrock::ID => Some(bedrock::ACCESS_KEY_VAR),
        _ => None,
    }
}
