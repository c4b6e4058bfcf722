//! What a caller asks for: messages, call parameters, tools.

use serde::{Deserialize, Serialize};

use crate::Message;

/// How hard a reasoning model should think.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThinkingLevel {
    /// OpenAI's `low` effort; a thinking budget of 1,024 tokens where the
    /// provider takes a budget (Anthropic, Gemini, Cohere, Bedrock).
    Low,
    /// OpenAI's `medium` effort; a budget of 4,096 tokens.
    Medium,
    /// OpenAI's `high` effort; a budget of 16,384 tokens.
    High,
}

impl ThinkingLevel {
    /// `"low"`, `"medium"` or `"high"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ThinkingLevel::Low => "low",
            ThinkingLevel::Medium => "medium",
            ThinkingLevel::High => "high",
        }
    }
}

/// Whether and which tool the model must call.
///
/// ```
/// use rivulet_core::ToolChoice;
/// let c: ToolChoice = serde_json::from_str(r#"{"tool":"get_weather"}"#).unwrap();
/// assert_eq!(c, ToolChoice::Tool("get_weather".into()));
/// assert_eq!(serde_json::to_string(&ToolChoice::Required).unwrap(), r#""required""#);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The model decides (every provider's default).
    Auto,
    /// No tool may be called.
    None,
    /// Some tool must be called.
    Required,
    /// This tool (by name; one of the request's tools) must be called.
    Tool(String),
}

/// Call parameters. `None` leaves the provider's default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// The most tokens to generate.
    pub max_tokens: Option<u32>,
    /// Nucleus sampling: the probability mass to sample from.
    pub top_p: Option<f64>,
    /// A seed, for providers that sample reproducibly with one.
    pub seed: Option<i64>,
    /// Texts that end the generation when the model writes them.
    #[serde(default)]
    pub stop: Vec<String>,
    /// Ask a reasoning model to think this hard.
    pub thinking: Option<ThinkingLevel>,
    /// Whether and which tool the model must call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
    /// `Some(false)`: at most one tool call per turn. A provider with no
    /// such switch refuses `Some(false)` ([`crate::Error::Unsupported`]);
    /// `Some(true)` is every provider's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// How many choices the provider generates (OpenAI `n`, Gemini
    /// `candidateCount`). The response streams the first choice (index
    /// 0) only; the others are generated, billed and dropped. Providers
    /// without it refuse more than one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
}

/// How long a cached prompt prefix lives, where the provider lets the
/// request say (Anthropic `ttl`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CacheTtl {
    /// `5m`, Anthropic's default.
    #[serde(rename = "5m")]
    FiveMinutes,
    /// `1h`.
    #[serde(rename = "1h")]
    OneHour,
}

impl CacheTtl {
    /// `"5m"` or `"1h"`.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheTtl::FiveMinutes => "5m",
            CacheTtl::OneHour => "1h",
        }
    }
}

/// Prompt-cache breakpoints: where the provider may cache the prompt up
/// to. Anthropic marks the block there with `cache_control`, Bedrock adds
/// a `cachePoint` block; providers that cache on their own (OpenAI,
/// Gemini, the rest) ignore them.
///
/// ```
/// use rivulet_core::{CacheBreakpoints, CacheTtl};
/// let cache = CacheBreakpoints { system: true, tools: true, ..Default::default() };
/// assert!(!cache.messages);
/// let hour = CacheBreakpoints { ttl: Some(CacheTtl::OneHour), ..cache };
/// assert_eq!(hour.ttl.unwrap().as_str(), "1h");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheBreakpoints {
    /// After the system prompt.
    #[serde(default)]
    pub system: bool,
    /// After the last tool definition.
    #[serde(default)]
    pub tools: bool,
    /// After the last message: the whole conversation so far.
    #[serde(default)]
    pub messages: bool,
    /// How long the cache lives; `None` is the provider's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<CacheTtl>,
}

/// Spoken output (OpenAI Chat Completions' `modalities: ["text",
/// "audio"]`): the voice and the audio format (`wav`, `mp3`, `pcm16`, …).
/// The audio streams as `audio_chunk`s; [`crate::Audio::bytes`] decodes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioOutput {
    /// The provider's voice name (`alloy`, …).
    pub voice: String,
    /// The audio format (`wav`, `mp3`, `pcm16`, …).
    pub format: String,
}

/// A tool the model may call: a name, a description and a JSON Schema of
/// its arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// The name the model calls it by.
    pub name: String,
    /// What the tool does and when to use it, for the model.
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// A structured-output format: the response must be JSON matching `schema`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Format {
    /// The format's name, as sent to the provider.
    pub name: String,
    /// The JSON Schema the response must match.
    pub schema: serde_json::Value,
}

/// One request to a provider.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request {
    /// The provider's model name (without the `provider/` prefix).
    pub model: String,
    /// The conversation so far.
    pub messages: Vec<Message>,
    /// Temperature, token limit and the other call parameters.
    pub params: Params,
    /// The tools the model may call.
    pub tools: Vec<ToolDefinition>,
    /// Structured output: the JSON the response must be.
    pub format: Option<Format>,
    /// Also emit a `raw_chunk` for each provider event.
    pub raw_events: bool,
    /// Prompt-cache breakpoints.
    pub cache: Option<CacheBreakpoints>,
    /// Spoken output, for providers that speak.
    pub audio: Option<AudioOutput>,
    /// A JSON object merged into the provider's request body last (a JSON
    /// merge patch, RFC 7386: objects merge key by key, `null` removes a
    /// key, anything else replaces): for fields rivulet does not model.
    pub extra_body: Option<serde_json::Value>,
}
