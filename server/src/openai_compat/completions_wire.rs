//! OpenAI Chat Completions bodies as plain serde structs, apart from the
//! logic that reads and writes them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

// ---- The request ----

/// `POST /v1/chat/completions`. Fields rivulet has no use for (`user`,
/// `store`, `metadata`, …) are accepted and ignored, as OpenAI-compatible
/// servers do; the ones that would change the answer are checked.
#[derive(Debug, Deserialize)]
pub struct ChatRequest {
    /// `provider/model`.
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub max_tokens: Option<u32>,
    /// The newer name of `max_tokens`; wins when both are given.
    pub max_completion_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    pub seed: Option<i64>,
    pub stop: Option<Stop>,
    pub tools: Option<Vec<ChatTool>>,
    pub tool_choice: Option<Value>,
    pub response_format: Option<ResponseFormat>,
    pub reasoning_effort: Option<String>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
    pub n: Option<u32>,
    pub logprobs: Option<bool>,
}

/// `stop`: one sequence or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

/// `stream_options`.
#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    pub include_usage: Option<bool>,
}

/// One message, by role.
#[derive(Debug, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
pub enum ChatMessage {
    System {
        content: Content,
    },
    Developer {
        content: Content,
    },
    User {
        content: Content,
    },
    Assistant {
        #[serde(default)]
        content: Option<Content>,
        #[serde(default)]
        tool_calls: Option<Vec<ChatToolCall>>,
    },
    Tool {
        content: Content,
        tool_call_id: String,
    },
}

/// A message's content: a string or content parts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// One content part. Only `text` parts are supported; the type is read as a
/// string so that the error can name the unsupported one.
#[derive(Debug, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
}

/// A tool call in an assistant message of the history.
#[derive(Debug, Deserialize)]
pub struct ChatToolCall {
    pub id: String,
    pub function: FunctionCall,
}

/// A call's function: its name and JSON arguments text.
#[derive(Debug, Deserialize)]
pub struct FunctionCall {
    pub name: String,
    #[serde(default)]
    pub arguments: String,
}

/// A tool definition: `{"type": "function", "function": {...}}`.
#[derive(Debug, Deserialize)]
pub struct ChatTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: FunctionDefinition,
}

/// A function tool's name, description and argument schema.
#[derive(Debug, Deserialize)]
pub struct FunctionDefinition {
    pub name: String,
    pub description: Option<String>,
    pub parameters: Option<Value>,
}

/// `response_format`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchema },
}

/// `response_format.json_schema`.
#[derive(Debug, Deserialize)]
pub struct JsonSchema {
    pub name: String,
    pub schema: Option<Value>,
}

// ---- The answers ----

/// One `chat.completion.chunk`.
#[derive(Debug, Serialize)]
pub struct CompletionChunk<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    /// One choice, or none on the usage chunk: borrowed, so a chunk
    /// allocates nothing to hold it.
    pub choices: &'a [ChunkChoice<'a>],
    /// Absent unless usage was asked for; then `null` on every chunk but the
    /// last, as OpenAI sends it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<WireUsage>>,
}

/// The one choice of a chunk.
#[derive(Debug, Serialize)]
pub struct ChunkChoice<'a> {
    pub index: u32,
    pub delta: ChunkDelta<'a>,
    /// Always `null`: log probabilities are not supported.
    pub logprobs: Option<()>,
    pub finish_reason: Option<&'static str>,
}

/// What a chunk adds to the message.
#[derive(Debug, Default, Serialize)]
pub struct ChunkDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<&'a str>,
    /// Reasoning text, under the name DeepSeek, xAI and vLLM use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<[ToolCallDelta<'a>; 1]>,
}

/// A piece of one tool call: the first carries its id, type and name.
#[derive(Debug, Serialize)]
pub struct ToolCallDelta<'a> {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: FunctionDelta<'a>,
}

/// A piece of a call's function.
#[derive(Debug, Serialize)]
pub struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<&'a str>,
    pub arguments: &'a str,
}

/// A whole `chat.completion`.
#[derive(Debug, Serialize)]
pub struct Completion<'a> {
    pub id: &'a str,
    pub object: &'static str,
    pub created: u64,
    pub model: &'a str,
    pub choices: [CompletionChoice<'a>; 1],
    pub usage: WireUsage,
}

/// The one choice of a completion.
#[derive(Debug, Serialize)]
pub struct CompletionChoice<'a> {
    pub index: u32,
    pub message: CompletionMessage<'a>,
    pub logprobs: Option<()>,
    pub finish_reason: &'static str,
}

/// The assistant's message.
#[derive(Debug, Serialize)]
pub struct CompletionMessage<'a> {
    pub role: &'static str,
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<WireToolCall<'a>>,
    pub refusal: Option<()>,
}

/// A complete tool call.
#[derive(Debug, Serialize)]
pub struct WireToolCall<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: WireFunction<'a>,
}

/// A complete call's function.
#[derive(Debug, Serialize)]
pub struct WireFunction<'a> {
    pub name: &'a str,
    pub arguments: &'a str,
}

/// Token usage, OpenAI's way.
#[derive(Debug, PartialEq, Serialize)]
pub struct WireUsage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_tokens_details: Option<PromptDetails>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_tokens_details: Option<CompletionDetails>,
}

/// `usage.prompt_tokens_details`.
#[derive(Debug, PartialEq, Serialize)]
pub struct PromptDetails {
    pub cached_tokens: u64,
}

/// `usage.completion_tokens_details`.
#[derive(Debug, PartialEq, Serialize)]
pub struct CompletionDetails {
    pub reasoning_tokens: u64,
}
