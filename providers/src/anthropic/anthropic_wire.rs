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
    /// The model that answers, by id.
    pub model: String,
    /// Required by the API.
    pub max_tokens: u32,
    /// The system prompt, sent apart from `messages`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemPrompt>,
    /// The conversation's turns, in order.
    pub messages: Vec<AnthropicMessage>,
    /// The client tools the model may call.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<AnthropicTool>,
    /// How the model may or must use `tools`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<AnthropicToolChoice>,
    /// The sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling: the cumulative probability cut-off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Strings that stop generation when the model produces one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// Turns on extended thinking, with its token budget.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<AnthropicThinkingConfig>,
    /// Whether the response is streamed as server-sent events (rivulet sends `true`).
    pub stream: bool,
}

/// The system prompt: text, or text blocks (to mark a cache breakpoint).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SystemPrompt {
    /// The prompt as a plain string.
    Text(String),
    /// The prompt as `text` blocks, which can carry `cache_control`.
    Blocks(Vec<AnthropicSystemBlock>),
}

/// `{type: "text", text, cache_control?}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnthropicSystemBlock {
    /// Always `"text"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The block's text.
    pub text: String,
    /// A cache breakpoint on this block.
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
    /// The turn's content.
    pub content: AnthropicMessageContent,
}

/// A message's content: a plain string (a single text block), or blocks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AnthropicMessageContent {
    /// A plain string: a single text block.
    Text(String),
    /// A list of content blocks.
    Blocks(Vec<RequestBlock>),
}

/// A content block of a request message: one rivulet knows, or a block sent
/// back exactly as the API produced it (server-tool blocks and unknown
/// types, kept as provider parts).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RequestBlock {
    /// A block of a type rivulet builds.
    Known(KnownBlock),
    /// A block with a cache breakpoint on it.
    Cached(CachedBlock),
    /// A block sent back exactly as the API produced it.
    Raw(Value),
}

/// A block and its `cache_control`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CachedBlock {
    /// The block, its fields inlined beside `cache_control`.
    #[serde(flatten)]
    pub block: KnownBlock,
    /// The block's cache breakpoint.
    pub cache_control: CacheControl,
}

/// The request blocks rivulet builds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum KnownBlock {
    /// A `text` block.
    Text {
        /// The block's text.
        text: String,
    },
    /// A thought sent back with its signature (the API checks it).
    Thinking {
        /// The thought's text, as the API produced it.
        thinking: String,
        /// The signature the API gave the thought.
        signature: String,
    },
    /// Encrypted thinking, sent back unchanged.
    RedactedThinking {
        /// The encrypted thinking, as the API produced it.
        data: String,
    },
    /// A `tool_use` block: a tool call the model made.
    ToolUse {
        /// The call's id, which the `tool_result` names in `tool_use_id`.
        id: String,
        /// The name of the tool called.
        name: String,
        /// The call's arguments, a JSON object.
        input: Value,
    },
    /// A `tool_result` block: the output of a tool call, in a `user` turn.
    ToolResult {
        /// The `id` of the `tool_use` block this answers.
        tool_use_id: String,
        /// The tool's output.
        content: AnthropicToolResultContent,
        /// Whether the tool failed; sent only when `true`.
        #[serde(default, skip_serializing_if = "is_false")]
        is_error: bool,
    },
    /// An image: its bytes (JPEG, PNG, GIF or WebP) or a URL.
    Image {
        /// Where the image's content is.
        source: Source,
    },
    /// A document: a PDF's bytes, plain text, or a URL.
    Document {
        /// Where the document's content is.
        source: Source,
    },
}

/// A tool result's content: its text, or blocks (text, images, documents)
/// when the tool returned media.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AnthropicToolResultContent {
    /// The output as a string.
    Text(String),
    /// The output as `text`, `image` and `document` blocks.
    Blocks(Vec<KnownBlock>),
}

/// Where an image's or a document's content is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Source {
    /// Bytes in base64.
    Base64 {
        /// The content's media type, e.g. `image/png` or `application/pdf`.
        media_type: String,
        /// The content's bytes, base64-encoded.
        data: String,
    },
    /// A URL the API fetches.
    Url {
        /// The URL of the image or document.
        url: String,
    },
    /// A plain-text document, as text.
    Text {
        /// The document's media type, `text/plain`.
        media_type: String,
        /// The document's text.
        data: String,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A client tool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnthropicTool {
    /// The tool's name, which the model calls it by.
    pub name: String,
    /// What the tool does, for the model; left out when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The JSON Schema of the tool's input.
    pub input_schema: Value,
    /// A cache breakpoint on this tool.
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
    /// The tool that must be called, with `type: "tool"`.
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
    /// The `type`; rivulet sends `"enabled"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The most tokens the model may use to think.
    pub budget_tokens: u32,
}

// --------------------------------------------------------------- response

/// One event of the stream (the `data:` JSON; its `type` repeats the SSE
/// event name).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnthropicEvent {
    /// `message_start`: the first event, with the message's metadata.
    MessageStart {
        /// The message as it starts: its id, model and usage.
        message: AnthropicMessageStart,
    },
    /// `content_block_start`: a content block begins.
    ContentBlockStart {
        /// The block's position in the message; its deltas and its stop carry the same index.
        index: u64,
        /// Kept as JSON: a block rivulet does not know is passed on whole
        /// as a provider part. [`AnthropicContentBlock`] is its typed reading.
        content_block: Value,
    },
    /// `content_block_delta`: a piece of a block's content.
    ContentBlockDelta {
        /// The index of the block the piece belongs to.
        index: u64,
        /// The piece.
        delta: AnthropicBlockDelta<'static>,
    },
    /// `content_block_stop`: a content block is complete.
    ContentBlockStop {
        /// The index of the block that is complete.
        index: u64,
    },
    /// `message_delta`: the stop reason and a usage snapshot.
    MessageDelta {
        /// The stop reason and stop sequence.
        #[serde(default)]
        delta: MessageDeltaBody,
        /// Cumulative token counts.
        #[serde(default)]
        usage: Option<Usage>,
    },
    /// `message_stop`: the last event of the stream.
    MessageStop,
    /// `ping`: carries nothing.
    Ping,
    /// `error`: the stream failed.
    Error {
        /// The error's type and message.
        error: AnthropicErrorObject,
        /// The request's id, when the event has one.
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
    /// The message's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The model that answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The first usage snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
}

/// A content block as it starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AnthropicContentBlock {
    /// A `text` block.
    Text {
        /// The block's initial text; the rest comes in `text_delta`s.
        #[serde(default)]
        text: String,
    },
    /// A `thinking` block.
    Thinking {
        /// The block's initial thought text; the rest comes in `thinking_delta`s.
        #[serde(default)]
        thinking: String,
        /// The block's initial signature; the rest comes in `signature_delta`s.
        #[serde(default)]
        signature: String,
    },
    /// Arrives whole here, with no deltas.
    RedactedThinking {
        /// The encrypted thinking, to be sent back unchanged.
        data: String,
    },
    /// A `tool_use` block: a client tool call.
    ToolUse {
        /// The call's id.
        id: String,
        /// The name of the tool called.
        name: String,
        /// The input as the block starts; the arguments come in `input_json_delta`s.
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
    /// `text_delta`: text for a `text` block.
    TextDelta {
        /// The text this delta appends to the content block.
        text: Cow<'a, str>,
    },
    /// `thinking_delta`: thought text for a `thinking` block.
    ThinkingDelta {
        /// The thought text this delta appends to the content block.
        thinking: Cow<'a, str>,
    },
    /// `signature_delta`: the signature of a `thinking` block.
    SignatureDelta {
        /// The signature text this delta carries.
        signature: Cow<'a, str>,
    },
    /// `input_json_delta`: a fragment of a `tool_use` block's input.
    InputJsonDelta {
        /// A fragment of the input's JSON text; the fragments in order make up the input.
        partial_json: Cow<'a, str>,
    },
    /// `citations_delta`: a citation for a `text` block.
    CitationsDelta {
        /// The citation object, kept as JSON.
        #[serde(default)]
        citation: Value,
    },
    /// A delta type this version does not know.
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
    /// The event's `type`; `content_block_delta` for the events it reads.
    #[serde(default, rename = "type")]
    pub kind: Option<&'a str>,
    /// The event's `index`: the block the piece belongs to.
    #[serde(default)]
    pub index: Option<u64>,
    /// The event's `delta`.
    #[serde(default, borrow)]
    pub delta: Option<DeltaFields<'a>>,
}

/// [`AnthropicDeltaEvent::delta`]: the fields of the pieces it reads.
#[derive(Debug, Default, Deserialize)]
pub struct DeltaFields<'a> {
    /// The delta's `type`, e.g. `text_delta`.
    #[serde(default, rename = "type")]
    pub kind: Option<&'a str>,
    /// The `text` of a `text_delta`.
    #[serde(default, borrow, deserialize_with = "crate::decode::lent_str")]
    pub text: Option<Cow<'a, str>>,
    /// The `thinking` of a `thinking_delta`.
    #[serde(default, borrow, deserialize_with = "crate::decode::lent_str")]
    pub thinking: Option<Cow<'a, str>>,
    /// The `signature` of a `signature_delta`.
    #[serde(default, borrow, deserialize_with = "crate::decode::lent_str")]
    pub signature: Option<Cow<'a, str>>,
    /// The `partial_json` of an `input_json_delta`.
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
    /// Why the model stopped: `end_turn`, `max_tokens`, `stop_sequence`, `tool_use`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<String>,
    /// The stop sequence the model produced, when that is why it stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_sequence: Option<String>,
}

/// Token counts, cumulative. `input_tokens` excludes the cached parts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens, not counting those read from or written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Output tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Input tokens written to the prompt cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_creation_input_tokens: Option<u64>,
    /// Input tokens read from the prompt cache.
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
    /// Tokens written to the prompt cache with a 5-minute lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_5m_input_tokens: Option<u64>,
    /// Tokens written to the prompt cache with a 1-hour lifetime.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_1h_input_tokens: Option<u64>,
}

/// `usage.server_tool_use`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerToolUse {
    /// Web search requests made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_search_requests: Option<u64>,
    /// Web fetch requests made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_fetch_requests: Option<u64>,
}

/// `error` of an error event or an HTTP error body.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnthropicErrorObject {
    /// `overloaded_error`, `api_error`, …
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The error's description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// An HTTP error body (`{"type":"error","error":{…},"request_id":…}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnthropicErrorResponse {
    /// The error's type and message.
    pub error: AnthropicErrorObject,
    /// The request's id, when the body has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}
