//! Anthropic Messages wire types: plain serde structs, nothing else.
//!
//! Stream types are lenient: optional fields default, unknown fields are
//! ignored, and unknown event, block and delta types parse (as `Unknown` /
//! `Other`) so that a new kind of event never breaks a stream.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------- request

/// `POST /v1/messages` body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MessagesRequest {
    pub model: String,
    /// Required by the API.
    pub max_tokens: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemPrompt>,
    pub messages: Vec<AnthropicMessage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<AnthropicTool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<AnthropicToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<AnthropicThinkingConfig>,
    pub stream: bool,
}

/// The system prompt: text, or text blocks (to mark a cache breakpoint).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SystemPrompt {
    Text(String),
    Blocks(Vec<AnthropicSystemBlock>),
}

/// `{type: "text", text, cache_control?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnthropicSystemBlock {
    /// Always `"text"`.
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<CacheControl>,
}

/// `cache_control: {type: "ephemeral", ttl?}`: the prompt may be cached
/// up to and including the block it is on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheControl {
    /// Always `"ephemeral"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// `5m` or `1h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<String>,
}

/// One turn of the conversation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnthropicMessage {
    /// `user` or `assistant`.
    pub role: String,
    pub content: AnthropicMessageContent,
}

/// A message's content: a plain string (a single text block), or blocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AnthropicMessageContent {
    Text(String),
    Blocks(Vec<RequestBlock>),
}

/// A content block of a request message: one rivulet knows, or a block sent
/// back exactly as the API produced it (server-tool blocks and unknown
/// types, kept as provider parts).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestBlock {
    Known(KnownBlock),
    /// A block with a cache breakpoint on it.
    Cached(CachedBlock),
    Raw(Value),
}

/// A block and its `cache_control`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CachedBlock {
    #[serde(flatten)]
    pub block: KnownBlock,
    pub cache_control: CacheControl,
}

/// The request blocks rivulet builds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KnownBlock {
    Text {
        text: String,
    },
    /// A thought sent back with its signature (the API checks it).
    Thinking {
        thinking: String,
        signature: String,
    },
    /// Encrypted thinking, sent back unchanged.
    RedactedThinking {
        data: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        content: AnthropicToolResultContent,
        #[serde(default, skip_serializing_if = "is_false")]
        is_error: bool,
    },
    /// An image: its bytes (JPEG, PNG, GIF or WebP) or a URL.
    Image {
        source: Source,
    },
    /// A document: a PDF's bytes, plain text, or a URL.
    Document {
        source: Source,
    },
}

/// A tool result's content: its text, or blocks (text, images, documents)
/// when the tool returned media.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AnthropicToolResultContent {
    Text(String),
    Blocks(Vec<KnownBlock>),
}

/// Where an image's or a document's content is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Source {
    /// Bytes in base64.
    Base64 { media_type: String, data: String },
    /// A URL the API fetches.
    Url { url: String },
    /// A plain-text document, as text.
    Text { media_type: String, data: String },
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A client tool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnthropicTool {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub input_schema: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_control: Option<CacheControl>,
}

/// `tool_choice: {type, name?, disable_parallel_tool_use?}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnthropicToolChoice {
    /// `auto`, `any` (some tool must be called), `tool` (`name` must be
    /// called) or `none`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// At most one tool call.
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable_parallel_tool_use: bool,
}

impl AnthropicToolChoice {
    /// A choice of `kind` (`auto`, `any`, `none`).
    pub fn kind(kind: &str) -> Self {
        AnthropicToolChoice {
            kind: kind.into(),
            name: None,
            disable_parallel_tool_use: false,
        }
    }

    /// `{type: "tool", name}`.
    pub fn tool(name: &str) -> Self {
        AnthropicToolChoice {
            name: Some(name.into()),
            ..AnthropicToolChoice::kind("tool")
        }
    }
}

/// `thinking: {type: "enabled", budget_tokens}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnthropicThinkingConfig {
    #[serde(rename = "type")]
    pub kind: String,
    pub budget_tokens: u32,
}

// --------------------------------------------------------------- response

/// One event of the stream (the `data:` JSON; its `type` repeats the SSE
/// event name).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnthropicEvent {
    MessageStart {
        message: AnthropicMessageStart,
    },
    ContentBlockStart {
        index: u64,
        /// Kept as JSON: a block rivulet does not know is passed on whole
        /// as a provider part. [`AnthropicContentBlock`] is its typed reading.
        content_block: Value,
    },
    ContentBlockDelta {
        index: u64,
        delta: AnthropicBlockDelta<'static>,
    },
    ContentBlockStop {
        index: u64,
    },
    MessageDelta {
        #[serde(default)]
        delta: MessageDeltaBody,
        #[serde(default)]
        usage: Option<Usage>,
    },
    MessageStop,
    Ping,
    Error {
        error: AnthropicErrorObject,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_id: Option<String>,
    },
    /// An event type this version does not know: ignored.
    #[serde(other)]
    Unknown,
}

/// `message_start.message`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AnthropicMessageStart {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// A content block as it starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnthropicContentBlock {
    Text {
        #[serde(default)]
        text: String,
    },
    Thinking {
        #[serde(default)]
        thinking: String,
        #[serde(default)]
        signature: String,
    },
    /// Arrives whole here, with no deltas.
    RedactedThinking { data: String },
    ToolUse {
        id: String,
        name: String,
        #[serde(default)]
        input: Value,
    },
    /// `server_tool_use`, `*_tool_result` and any other block type.
    #[serde(other)]
    Other,
}

/// `content_block_delta.delta`: owned in a [`AnthropicEvent`], borrowed from
/// the event when read as a [`AnthropicDeltaEvent`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnthropicBlockDelta<'a> {
    TextDelta {
        text: Cow<'a, str>,
    },
    ThinkingDelta {
        thinking: Cow<'a, str>,
    },
    SignatureDelta {
        signature: Cow<'a, str>,
    },
    InputJsonDelta {
        partial_json: Cow<'a, str>,
    },
    CitationsDelta {
        #[serde(default)]
        citation: Value,
    },
    #[serde(other)]
    Other,
}

/// The hot event, `content_block_delta` with a text, thinking, signature
/// or tool-argument piece, read field by field and borrowed from the event
/// (a [`AnthropicEvent`], tagged, is buffered whole before it is read). Every
/// field is optional so that any event reads; [`AnthropicDeltaEvent::block_delta`]
/// says whether it is one.
#[derive(Debug, Default, Deserialize)]
pub struct AnthropicDeltaEvent<'a> {
    #[serde(default, rename = "type")]
    pub kind: Option<&'a str>,
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default, borrow)]
    pub delta: Option<DeltaFields<'a>>,
}

/// [`AnthropicDeltaEvent::delta`]: the fields of the pieces it reads.
#[derive(Debug, Default, Deserialize)]
pub struct DeltaFields<'a> {
    #[serde(default, rename = "type")]
    pub kind: Option<&'a str>,
    #[serde(default, borrow, deserialize_with = "crate::decode::lent_str")]
    pub text: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "crate::decode::lent_str")]
    pub thinking: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "crate::decode::lent_str")]
    pub signature: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "crate::decode::lent_str")]
    pub partial_json: Option<Cow<'a, str>>,
}

impl<'a> AnthropicDeltaEvent<'a> {
    /// The block index and the piece, when this is a `content_block_delta`
    /// of a kind it reads, with its field: exactly what a [`AnthropicEvent`]
    /// reads of such an event.
    pub fn block_delta(self) -> Option<(u64, AnthropicBlockDelta<'a>)> {
        if self.kind != Some("content_block_delta") {
            return None;
        }
        let d = self.delta?;
        let delta = match d.kind? {
            "text_delta" => AnthropicBlockDelta::TextDelta { text: d.text? },
            "thinking_delta" => AnthropicBlockDelta::ThinkingDelta {
                thinking: d.thinking?,
            },
            "signature_delta" => AnthropicBlockDelta::SignatureDelta {
                signature: d.signature?,
            },
            "input_json_delta" => AnthropicBlockDelta::InputJsonDelta {
                partial_json: d.partial_json?,
            },
            _ => return None,
        };
        Some((self.index?, delta))
    }
}

/// `message_delta.delta`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageDeltaBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequence: Option<String>,
}

/// Token counts, cumulative. `input_tokens` excludes the cached parts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_read_input_tokens: Option<u64>,
    /// `cache_creation_input_tokens` by cache lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation: Option<CacheCreation>,
    /// Requests the server tools made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_tool_use: Option<ServerToolUse>,
}

/// `usage.cache_creation`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheCreation {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_5m_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_1h_input_tokens: Option<u64>,
}

/// `usage.server_tool_use`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerToolUse {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_search_requests: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_fetch_requests: Option<u64>,
}

/// `error` of an error event or an HTTP error body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnthropicErrorObject {
    /// `overloaded_error`, `api_error`, …
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An HTTP error body (`{"type":"error","error":{…},"request_id":…}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnthropicErrorResponse {
    pub error: AnthropicErrorObject,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}
