//! Bedrock Converse wire types: plain serde structs, nothing else.
//!
//! On the wire each stream event is the bare event object, named by the
//! eventstream `:event-type` header; [`BedrockEvent`] is the SDKs' shape,
//! `{"contentBlockDelta": {…}}`, which is also what a raw chunk shows.
//! Every payload carries a random-length `"p"` padding field: ignored.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

// ---------------------------------------------------------------- request

/// The Converse (and ConverseStream) request body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConverseRequest {
    pub messages: Vec<BedrockMessage>,
    pub system: Vec<BedrockSystemBlock>,
    pub inference_config: InferenceConfig,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<BedrockToolConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Value>,
}

/// A `user` or `assistant` message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BedrockMessage {
    pub role: String,
    pub content: Vec<BedrockContentBlock>,
}

/// A system block: `{text}`, or a cache point after the ones before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BedrockSystemBlock {
    Text(String),
    CachePoint(CachePoint),
}

/// `{type: "default"}`: the prompt may be cached up to here.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachePoint {
    /// Always `"default"`.
    #[serde(rename = "type")]
    pub kind: String,
}

impl Default for CachePoint {
    fn default() -> Self {
        CachePoint {
            kind: "default".into(),
        }
    }
}

/// A content block: exactly one key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BedrockContentBlock {
    Text(String),
    ToolUse(ToolUseBlock),
    ToolResult(ToolResultBlock),
    ReasoningContent(ReasoningBlock),
    Image(ImageBlock),
    Document(DocumentBlock),
    CachePoint(CachePoint),
    /// A block sent back as Bedrock gave it (a provider part: a server
    /// tool's `toolUse` or `toolResult`).
    #[serde(untagged)]
    Raw(Value),
}

/// `{format, source}`: `png`, `jpeg`, `gif` or `webp`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageBlock {
    pub format: String,
    pub source: MediaSource,
}

/// `{format, name, source}`: `pdf`, `csv`, `doc`, `docx`, `xls`, `xlsx`,
/// `html`, `txt` or `md`, with a name the model sees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentBlock {
    pub format: String,
    pub name: String,
    pub source: MediaSource,
}

/// Where an image's or a document's content is: bytes (base64 in JSON)
/// or an S3 object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MediaSource {
    Bytes(String),
    S3Location(S3Location),
}

/// `{uri: "s3://bucket/key"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Location {
    pub uri: String,
}

/// `{toolUseId, name, input}`; `input` is a JSON document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlock {
    pub tool_use_id: String,
    pub name: String,
    pub input: Value,
}

/// `{toolUseId, content: [{text}], status?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultBlock {
    pub tool_use_id: String,
    pub content: Vec<BedrockToolResultContent>,
    /// `"error"` for a failed tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// A piece of a tool result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BedrockToolResultContent {
    Text(String),
    Image(ImageBlock),
    Document(DocumentBlock),
}

/// Reasoning sent back: its text and signature, or the redacted bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReasoningBlock {
    ReasoningText(ReasoningText),
    /// Base64, as received.
    RedactedContent(String),
}

/// `{text, signature?}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasoningText {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// `inferenceConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
}

/// `toolConfig`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BedrockToolConfig {
    pub tools: Vec<BedrockTool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<BedrockToolChoice>,
}

/// `toolChoice`: exactly one key, `{"auto": {}}`, `{"any": {}}` or
/// `{"tool": {"name"}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BedrockToolChoice {
    /// The model decides (the default).
    Auto(Empty),
    /// Some tool must be called.
    Any(Empty),
    /// This tool must be called.
    Tool(SpecificTool),
}

/// `{}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// `{name}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecificTool {
    pub name: String,
}

/// `{toolSpec}`, or a cache point after the tools before it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BedrockTool {
    ToolSpec(ToolSpec),
    CachePoint(CachePoint),
}

/// `{name, description, inputSchema: {json}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    pub name: String,
    /// Left out when empty: Converse rejects an empty description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub input_schema: InputSchema,
}

/// `{json}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSchema {
    pub json: Value,
}

// --------------------------------------------------------------- response

/// One stream event, keyed by its `:event-type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BedrockEvent {
    MessageStart(BedrockMessageStart),
    ContentBlockStart(ContentBlockStart),
    ContentBlockDelta(ContentBlockDelta),
    ContentBlockStop(ContentBlockStop),
    MessageStop(MessageStop),
    Metadata(Metadata),
}

/// `messageStart`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BedrockMessageStart {
    #[serde(default)]
    pub role: Option<String>,
}

/// `contentBlockStart`: sent for tool-use blocks only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStart {
    #[serde(default)]
    pub content_block_index: u64,
    #[serde(default)]
    pub start: Option<BlockStart>,
}

/// `start`: one key, naming the kind of block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_use: Option<ToolUseStart>,
    /// A server tool's result (`{toolUseId, status, type}`, e.g. `type:
    /// "nova_code_interpreter_result"`); its content follows in deltas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_result: Option<Map<String, Value>>,
    /// A kind of block added after this was written, kept whole.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `{toolUseId, name, type?}`: `type` is `"server_tool_use"` for a tool
/// the server runs itself (Nova's `nova_code_interpreter`, …).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseStart {
    #[serde(default)]
    pub tool_use_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Any other field, kept for a server tool's provider part.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `contentBlockDelta`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockDelta {
    #[serde(default)]
    pub content_block_index: u64,
    #[serde(default)]
    pub delta: Option<BedrockBlockDelta>,
}

/// The common `contentBlockDelta`, a text delta and nothing else, read
/// borrowed: the decoder tries it before [`ContentBlockDelta`], so a text
/// delta costs no allocation beyond its chunk. Any other field (another
/// kind of delta, one added after this was written) makes it fail, and the
/// event is read whole.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct TextBlockDelta<'a> {
    #[serde(default)]
    pub content_block_index: u64,
    #[serde(borrow)]
    pub delta: TextOnly<'a>,
    /// Bedrock's padding against length side channels.
    #[serde(default, rename = "p")]
    _p: serde::de::IgnoredAny,
}

/// The `delta` of a [`TextBlockDelta`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TextOnly<'a> {
    #[serde(borrow)]
    pub text: Cow<'a, str>,
}

/// `delta`: one of `text`, `toolUse`, `reasoningContent`, `toolResult`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BedrockBlockDelta {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub tool_use: Option<ToolUseDelta>,
    #[serde(default)]
    pub reasoning_content: Option<ReasoningDelta>,
    /// Pieces of a server tool's result content (`[{json: {…}}]`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_result: Option<Value>,
}

/// `{input}`: a fragment of the JSON arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolUseDelta {
    #[serde(default)]
    pub input: Option<String>,
}

/// `{text}`, `{signature}` or `{redactedContent}` (base64).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningDelta {
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub signature: Option<String>,
    #[serde(default)]
    pub redacted_content: Option<String>,
}

/// `contentBlockStop`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStop {
    #[serde(default)]
    pub content_block_index: u64,
}

/// `messageStop`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStop {
    #[serde(default)]
    pub stop_reason: Option<String>,
    #[serde(default)]
    pub additional_model_response_fields: Option<Value>,
}

/// `metadata`: the last event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    #[serde(default)]
    pub usage: Option<TokenUsage>,
    #[serde(default)]
    pub metrics: Option<Value>,
}

/// `usage`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub total_tokens: Option<u64>,
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub cache_write_input_tokens: Option<u64>,
}

/// An exception message's payload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionPayload {
    #[serde(default, alias = "Message")]
    pub message: Option<String>,
}
