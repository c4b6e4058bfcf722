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
    /// The conversation's messages, in order.
    pub messages: Vec<BedrockMessage>,
    /// The system prompt: text blocks and cache points.
    pub system: Vec<BedrockSystemBlock>,
    /// `inferenceConfig`: the token limit, sampling parameters and stop sequences.
    pub inference_config: InferenceConfig,
    /// `toolConfig`: the tools and the tool choice; left out when there are no tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_config: Option<BedrockToolConfig>,
    /// `additionalModelRequestFields`: model-specific fields beyond the base set (e.g.
    /// Anthropic's `thinking`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_model_request_fields: Option<Value>,
}

/// A `user` or `assistant` message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BedrockMessage {
    /// `user` or `assistant`.
    pub role: String,
    /// The message's content blocks.
    pub content: Vec<BedrockContentBlock>,
}

/// A system block: `{text}`, or a cache point after the ones before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BedrockSystemBlock {
    /// `{text}`: system prompt text.
    Text(String),
    /// `{cachePoint}`: a cache point after the blocks before it.
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
    /// `{text}`: text.
    Text(String),
    /// `{toolUse}`: a tool call the model made.
    ToolUse(ToolUseBlock),
    /// `{toolResult}`: the output of a tool call.
    ToolResult(ToolResultBlock),
    /// `{reasoningContent}`: reasoning sent back.
    ReasoningContent(ReasoningBlock),
    /// `{image}`: an image.
    Image(ImageBlock),
    /// `{document}`: a document.
    Document(DocumentBlock),
    /// `{cachePoint}`: a cache point after the content before it.
    CachePoint(CachePoint),
    /// A block sent back as Bedrock gave it (a provider part: a server
    /// tool's `toolUse` or `toolResult`).
    #[serde(untagged)]
    Raw(Value),
}

/// `{format, source}`: `png`, `jpeg`, `gif` or `webp`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageBlock {
    /// The image format: `png`, `jpeg`, `gif` or `webp`.
    pub format: String,
    /// The image's content.
    pub source: MediaSource,
}

/// `{format, name, source}`: `pdf`, `csv`, `doc`, `docx`, `xls`, `xlsx`,
/// `html`, `txt` or `md`, with a name the model sees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentBlock {
    /// The document format, e.g. `pdf` or `txt`.
    pub format: String,
    /// The document's name, which the model sees.
    pub name: String,
    /// The document's content.
    pub source: MediaSource,
}

/// Where an image's or a document's content is: bytes (base64 in JSON)
/// or an S3 object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MediaSource {
    /// `bytes`: the content, base64-encoded.
    Bytes(String),
    /// `s3Location`: the S3 object that holds the content.
    S3Location(S3Location),
}

/// `{uri: "s3://bucket/key"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Location {
    /// The object's `s3://` URI.
    pub uri: String,
}

/// `{toolUseId, name, input}`; `input` is a JSON document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolUseBlock {
    /// `toolUseId`: the call's id, which the `toolResult` names.
    pub tool_use_id: String,
    /// The name of the tool called.
    pub name: String,
    /// The call's arguments, a JSON document.
    pub input: Value,
}

/// `{toolUseId, content: [{text}], status?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolResultBlock {
    /// `toolUseId`: the id of the `toolUse` block this answers.
    pub tool_use_id: String,
    /// The result's pieces.
    pub content: Vec<BedrockToolResultContent>,
    /// `"error"` for a failed tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

/// A piece of a tool result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BedrockToolResultContent {
    /// `{text}`: text.
    Text(String),
    /// `{image}`: an image.
    Image(ImageBlock),
    /// `{document}`: a document.
    Document(DocumentBlock),
}

/// Reasoning sent back: its text and signature, or the redacted bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ReasoningBlock {
    /// `reasoningText`: the reasoning text and its signature.
    ReasoningText(ReasoningText),
    /// Base64, as received.
    RedactedContent(String),
}

/// `{text, signature?}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasoningText {
    /// The reasoning text.
    pub text: String,
    /// The signature that verifies the text came from the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// `inferenceConfig`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InferenceConfig {
    /// `maxTokens`: the most tokens the response may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// The sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// `topP`: nucleus sampling's cumulative probability cut-off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// `stopSequences`: strings that stop generation when the model produces one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
}

/// `toolConfig`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BedrockToolConfig {
    /// The tools, and any cache point after them.
    pub tools: Vec<BedrockTool>,
    /// `toolChoice`: how the model may or must use the tools.
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
    /// The name of the tool that must be called.
    pub name: String,
}

/// `{toolSpec}`, or a cache point after the tools before it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BedrockTool {
    /// `{toolSpec}`: a tool's definition.
    ToolSpec(ToolSpec),
    /// `{cachePoint}`: a cache point after the tools before it.
    CachePoint(CachePoint),
}

/// `{name, description, inputSchema: {json}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolSpec {
    /// The tool's name, which the model calls it by.
    pub name: String,
    /// Left out when empty: Converse rejects an empty description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// `inputSchema`: the JSON Schema of the tool's input.
    pub input_schema: InputSchema,
}

/// `{json}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputSchema {
    /// The JSON Schema.
    pub json: Value,
}

// --------------------------------------------------------------- response

/// One stream event, keyed by its `:event-type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum BedrockEvent {
    /// `messageStart`: the message begins.
    MessageStart(BedrockMessageStart),
    /// `contentBlockStart`: a content block begins.
    ContentBlockStart(ContentBlockStart),
    /// `contentBlockDelta`: a piece of a block's content.
    ContentBlockDelta(ContentBlockDelta),
    /// `contentBlockStop`: a content block is complete.
    ContentBlockStop(ContentBlockStop),
    /// `messageStop`: generation ended, with the stop reason.
    MessageStop(MessageStop),
    /// `metadata`: token usage and metrics.
    Metadata(Metadata),
}

/// `messageStart`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BedrockMessageStart {
    /// The message's role.
    #[serde(default)]
    pub role: Option<String>,
}

/// `contentBlockStart`: sent for tool-use blocks only.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStart {
    /// `contentBlockIndex`: the block's position in the message.
    #[serde(default)]
    pub content_block_index: u64,
    /// What kind of block starts.
    #[serde(default)]
    pub start: Option<BlockStart>,
}

/// `start`: one key, naming the kind of block.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockStart {
    /// `toolUse`: a tool call starts.
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
    /// `toolUseId`: the call's id.
    #[serde(default)]
    pub tool_use_id: Option<String>,
    /// The name of the tool called.
    #[serde(default)]
    pub name: Option<String>,
    /// `type`: `"server_tool_use"` for a tool the server runs.
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
    /// `contentBlockIndex`: the index of the block the piece belongs to.
    #[serde(default)]
    pub content_block_index: u64,
    /// The piece.
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
    /// Text this delta appends to a text block.
    #[serde(default)]
    pub text: Option<String>,
    /// `toolUse`: a fragment of a tool call's input.
    #[serde(default)]
    pub tool_use: Option<ToolUseDelta>,
    /// `reasoningContent`: reasoning text, its signature or redacted content.
    #[serde(default)]
    pub reasoning_content: Option<ReasoningDelta>,
    /// Pieces of a server tool's result content (`[{json: {…}}]`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_result: Option<Value>,
}

/// `{input}`: a fragment of the JSON arguments.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolUseDelta {
    /// A fragment of the arguments' JSON text.
    #[serde(default)]
    pub input: Option<String>,
}

/// `{text}`, `{signature}` or `{redactedContent}` (base64).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReasoningDelta {
    /// Reasoning text this delta appends.
    #[serde(default)]
    pub text: Option<String>,
    /// The reasoning's signature.
    #[serde(default)]
    pub signature: Option<String>,
    /// `redactedContent`: reasoning the model provider encrypted, in base64.
    #[serde(default)]
    pub redacted_content: Option<String>,
}

/// `contentBlockStop`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentBlockStop {
    /// `contentBlockIndex`: the index of the block that is complete.
    #[serde(default)]
    pub content_block_index: u64,
}

/// `messageStop`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageStop {
    /// `stopReason`: why the model stopped (`end_turn`, `tool_use`, `max_tokens`, …).
    #[serde(default)]
    pub stop_reason: Option<String>,
    /// `additionalModelResponseFields`: model-specific response fields, as JSON.
    #[serde(default)]
    pub additional_model_response_fields: Option<Value>,
}

/// `metadata`: the last event.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// Token counts of the response.
    #[serde(default)]
    pub usage: Option<TokenUsage>,
    /// Metrics (`latencyMs`), kept as JSON.
    #[serde(default)]
    pub metrics: Option<Value>,
}

/// `usage`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenUsage {
    /// `inputTokens`: input tokens (whether cache reads and writes count in it depends
    /// on the model).
    #[serde(default)]
    pub input_tokens: Option<u64>,
    /// `outputTokens`: tokens the model generated.
    #[serde(default)]
    pub output_tokens: Option<u64>,
    /// `totalTokens`: the total token count.
    #[serde(default)]
    pub total_tokens: Option<u64>,
    /// `cacheReadInputTokens`: input tokens read from the prompt cache.
    #[serde(default)]
    pub cache_read_input_tokens: Option<u64>,
    /// `cacheWriteInputTokens`: input tokens written to the prompt cache.
    #[serde(default)]
    pub cache_write_input_tokens: Option<u64>,
}

/// An exception message's payload.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionPayload {
    /// The exception's message (`message` or `Message` in the JSON).
    #[serde(default, alias = "Message")]
    pub message: Option<String>,
}
