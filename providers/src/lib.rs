//! `rivulet-providers`: rivulet's wire protocols, one [`Provider`] each.
//!
//! Written so far: OpenAI Chat Completions and the servers that speak it
//! (see [`family`]), Anthropic Messages ([`anthropic`]) and Gemini, through
//! the Gemini API and Vertex AI ([`google`]). Every provider is built by id
//! with [`build`]:
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
//! (event-stream parsing), [`decode`] (what decoders share: the decode loop
//! over a body, cumulative usage), one folder per protocol ([`openai`],
//! [`anthropic`], [`google`]: wire types, request body, decoder, provider),
//! [`family`] (the OpenAI-compatible ids, endpoints, keys, quirks),
//! [`config`].

pub mod anthropic;
pub mod config;
pub mod decode;
pub mod family;
pub mod google;
pub mod http;
pub mod openai;
pub mod sse;

use std::sync::Arc;

use rivulet_core::{Error, Provider};

pub use anthropic::Anthropic;
pub use config::ProviderConfig;
pub use google::Google;
pub use openai::OpenAiCompatible;

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
    "anthropic",
    "google",
    "vertex",
];

/// Provider ids whose protocols are not written yet: [`build`] answers
/// [`Error::Unsupported`] for them.
pub const PLANNED_PROVIDER_IDS: &[&str] = &["openai-responses", "cohere", "bedrock"];

/// Builds the provider `id`. The config wins over environment variables,
/// which win over defaults.
///
/// Errors: a required key (or Azure's endpoint, or Vertex's project)
/// missing → [`Error::MissingApiKey`]; a protocol not written yet →
/// [`Error::Unsupported`]; an unknown id or an invalid base URL or header →
/// [`Error::BadRequest`].
pub fn build(id: &str, config: ProviderConfig) -> Result<Arc<dyn Provider>, Error> {
    if let Some(family) = family::find(id) {
        return Ok(built(OpenAiCompatible::new(family, config)?));
    }
    match id {
        anthropic::ID => return Ok(built(Anthropic::new(config)?)),
        google::GOOGLE => return Ok(built(Google::gemini(config)?)),
        google::VERTEX => return Ok(built(Google::vertex(config)?)),
        _ => {}
    }
    if PLANNED_PROVIDER_IDS.contains(&id) {
        return Err(Error::unsupported(format!(
            "the {id} protocol is not implemented yet; available: {}",
            PROVIDER_IDS.join(", ")
        ))
        .with_provider(id));
    }
    Err(Error::bad_request(format!(
        "unknown provider {id:?}; known providers: {}",
        PROVIDER_IDS.join(", ")
    )))
}

/// Logs a built provider (its `Debug` never shows a key) and shares it.
fn built<P: Provider + std::fmt::Debug>(provider: P) -> Arc<dyn Provider> {
    tracing::debug!(provider = ?provider, "built provider");
    Arc::new(provider)
}

/// The environment variable holding `id`'s API key, when it uses one
/// (also for the planned protocols, so a CLI can say what to set).
pub fn key_variable(id: &str) -> Option<&'static str> {
    if let Some(family) = family::find(id) {
        return family.key_var;
    }
    match id {
        "openai-responses" => Some("OPENAI_API_KEY"),
        anthropic::ID => Some(anthropic::KEY_VAR),
        google::GOOGLE => Some(google::GEMINI_KEY_VARS[0]),
        google::VERTEX => Some(google::VERTEX_TOKEN_VAR),
        "cohere" => Some("CO_API_KEY"),
        _ => None,
    }
}
