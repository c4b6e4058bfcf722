//! What a caller asks for: messages, call parameters, tools.

use serde::{Deserialize, Serialize};

use crate::Message;

/// How hard a reasoning model should think.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ThinkingLevel {
    Low,
    Medium,
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

/// Call parameters. `None` leaves the provider's default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub top_p: Option<f64>,
    pub seed: Option<i64>,
    #[serde(default)]
    pub stop: Vec<String>,
    pub thinking: Option<ThinkingLevel>,
}

/// A tool the model may call: a name, a description and a JSON Schema of
/// its arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// JSON Schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// A structured-output format: the response must be JSON matching `schema`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Format {
    pub name: String,
    pub schema: serde_json::Value,
}

/// One request to a provider.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Request {
    /// The provider's model name (without the `provider/` prefix).
    pub model: String,
    pub messages: Vec<Message>,
    pub params: Params,
    pub tools: Vec<ToolDefinition>,
    pub format: Option<Format>,
    /// Also emit a `raw_chunk` for each provider event.
    pub raw_events: bool,
}
