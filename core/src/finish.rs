//! Why generation stopped, normalized across providers.

use serde::{Deserialize, Serialize};

/// The normalized finish reason. The provider's own value travels beside it
/// (`Chunk::FinishReason::raw`, `Response::raw_finish_reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// The model ended its turn (or hit a stop sequence).
    Stop,
    /// The output token budget ran out.
    MaxTokens,
    /// The model stopped to have tools called.
    ToolCalls,
    /// The model refused.
    Refusal,
    /// A content filter cut the output.
    ContentFilter,
    /// The input and output did not fit the model's context window.
    ContextLengthExceeded,
    /// Anything else; see the raw value.
    Other,
}

impl FinishReason {
    /// The snake_case name (`"max_tokens"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::MaxTokens => "max_tokens",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::Refusal => "refusal",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::ContextLengthExceeded => "context_length_exceeded",
            FinishReason::Other => "other",
        }
    }
}

impl std::fmt::Display for FinishReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
