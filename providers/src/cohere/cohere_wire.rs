//! Cohere v2 Chat wire types: plain serde structs, nothing else.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------- request

/// `POST /v2/chat` body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CohereChatRequest {
    /// The name of the model to use.
    pub model: String,
    /// The conversation so far, in order.
    pub messages: Vec<CohereChatMessage>,
    /// The tools the model may call; left out when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<CohereTool>,
    /// The sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Top-p.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
    /// The maximum number of tokens to generate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// A seed for sampling, for repeatable outputs on a best-effort basis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    /// Strings that stop generation when the model writes one; left out when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    /// Structured output: the JSON Schema the answer must follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<CohereResponseFormat>,
    /// Reasoning settings: `{type: "enabled", token_budget}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Thinking>,
    /// `REQUIRED` or `NONE`; absent, the model decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<String>,
    /// `true` for a stream of SSE events.
    pub stream: bool,
}

/// One message: `system`, `user`, `assistant` or `tool`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CohereChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// Text, or parts when a user message carries images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<CohereMessageContent>,
    /// Assistant: the plan the model wrote before calling tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_plan: Option<String>,
    /// Assistant: the tool calls the model made; left out when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
    /// Tool: the call this answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

/// A message's content: text, or parts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CohereMessageContent {
    /// Plain text, sent as a JSON string.
    Text(String),
    /// A list of content parts.
    Parts(Vec<CohereContentPart>),
}

impl From<String> for CohereMessageContent {
    fn from(text: String) -> Self {
        CohereMessageContent::Text(text)
    }
}

/// `{type: "text", text}` or `{type: "image_url", image_url: {url}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CohereContentPart {
    /// `{type: "text", text}`: a piece of text.
    Text {
        /// The text.
        text: String,
    },
    /// `{type: "image_url", image_url}`: an image.
    ImageUrl {
        /// The image's URL.
        image_url: CohereImageUrl,
    },
}

/// An image: a URL or a `data:` URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohereImageUrl {
    /// A URL, or a `data:` URL carrying the image bytes in base64.
    pub url: String,
}

/// A call in an assistant message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The call's id; the `tool` message that answers it names it in `tool_call_id`.
    pub id: String,
    /// Always `"function"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function called and its arguments.
    pub function: CohereFunctionCall,
}

/// A function name and its JSON arguments as text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohereFunctionCall {
    /// The function's name.
    pub name: String,
    /// The arguments: a JSON object, as text.
    pub arguments: String,
}

/// `{type: "function", function: {name, description, parameters}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CohereTool {
    /// `type`: always `"function"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function's name, description and parameters.
    pub function: CohereFunctionDefinition,
}

/// A function the model may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CohereFunctionDefinition {
    /// The function's name.
    pub name: String,
    /// What the function does, for the model.
    pub description: String,
    /// The function's parameters, as a JSON Schema.
    pub parameters: Value,
}

/// `{type: "json_object", json_schema}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CohereResponseFormat {
    /// `type`: `"json_object"` here.
    #[serde(rename = "type")]
    pub kind: String,
    /// The JSON Schema the answer must follow.
    pub json_schema: Value,
}

/// `{type: "enabled", token_budget}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thinking {
    /// `type`: `"enabled"` turns reasoning on.
    #[serde(rename = "type")]
    pub kind: String,
    /// The maximum number of tokens the model may spend on reasoning.
    pub token_budget: u32,
}

// --------------------------------------------------------------- response

/// One stream event; the SSE `event:` name equals its `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum CohereEvent {
    /// `message-start`: the first event of the stream.
    #[serde(rename = "message-start")]
    MessageStart {
        /// The id of the generated message.
        #[serde(default)]
        id: Option<String>,
    },
    /// `content-start`: a content block begins.
    #[serde(rename = "content-start")]
    ContentStart {
        /// The index of the content block.
        #[serde(default)]
        index: u64,
        /// The block's first content: its type and any first text or thinking.
        #[serde(default)]
        delta: Option<ContentDelta>,
    },
    /// `content-delta`: a piece of a content block.
    #[serde(rename = "content-delta")]
    ContentDelta {
        /// The index of the content block.
        #[serde(default)]
        index: u64,
        /// The new piece of text or thinking.
        #[serde(default)]
        delta: Option<ContentDelta>,
    },
    /// `content-end`: a content block ends.
    #[serde(rename = "content-end")]
    ContentEnd {
        /// The index of the content block.
        #[serde(default)]
        index: u64,
    },
    /// `tool-plan-delta`: a piece of the tool plan.
    #[serde(rename = "tool-plan-delta")]
    ToolPlanDelta {
        /// The new piece of the plan.
        #[serde(default)]
        delta: Option<ToolPlanDelta>,
    },
    /// `tool-call-start`: a tool call begins.
    #[serde(rename = "tool-call-start")]
    ToolCallStart {
        /// The index of the tool call.
        #[serde(default)]
        index: u64,
        /// The call's id and function name, and any first arguments.
        #[serde(default)]
        delta: Option<CohereToolCallDelta>,
    },
    /// `tool-call-delta`: a piece of a tool call's arguments.
    #[serde(rename = "tool-call-delta")]
    ToolCallDelta {
        /// The index of the tool call.
        #[serde(default)]
        index: u64,
        /// The new piece of the arguments.
        #[serde(default)]
        delta: Option<CohereToolCallDelta>,
    },
    /// `tool-call-end`: a tool call ends.
    #[serde(rename = "tool-call-end")]
    ToolCallEnd {
        /// The index of the tool call.
        #[serde(default)]
        index: u64,
    },
    /// `message-end`: the last event, with the finish reason and usage.
    #[serde(rename = "message-end")]
    MessageEnd {
        /// The finish reason, the usage and any error.
        #[serde(default)]
        delta: Option<MessageEndDelta>,
    },
    /// Citations, debug events and anything newer: ignored.
    #[serde(other)]
    Unknown,
}

/// `delta` of content events: `{message: {content: {type?, text?, thinking?}}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentDelta {
    /// The message piece: its content.
    #[serde(default)]
    pub message: Option<ContentMessage>,
}

/// `message` of a content delta.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentMessage {
    /// The content piece.
    #[serde(default)]
    pub content: Option<CohereContent>,
}

/// A content piece: `text` or `thinking`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohereContent {
    /// `type`: `text` or `thinking`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// A piece of the answer's text, on `text` content.
    #[serde(default)]
    pub text: Option<String>,
    /// A piece of the model's reasoning, on `thinking` content.
    #[serde(default)]
    pub thinking: Option<String>,
}

/// The hot event, `content-delta`, read field by field and borrowed from
/// the event (a [`CohereEvent`], tagged, is buffered whole before it is
/// read): the fields a [`CohereEvent::ContentDelta`] reads, typed alike.
#[derive(Debug, Default, Deserialize)]
pub struct ContentDeltaEvent<'a> {
    /// `type`: the event type; only a `content-delta` is read this way.
    #[serde(default, rename = "type")]
    pub kind: Option<&'a str>,
    /// The index of the content block.
    #[serde(default)]
    pub index: u64,
    /// The new piece of text or thinking.
    #[serde(default, borrow)]
    pub delta: Option<LentDelta<'a>>,
}

/// [`ContentDelta`], borrowed.
#[derive(Debug, Default, Deserialize)]
pub struct LentDelta<'a> {
    /// The message piece: its content.
    #[serde(default, borrow)]
    pub message: Option<LentMessage<'a>>,
}

/// [`ContentMessage`], borrowed.
#[derive(Debug, Default, Deserialize)]
pub struct LentMessage<'a> {
    /// The content piece.
    #[serde(default, borrow)]
    pub content: Option<LentContent<'a>>,
}

/// [`CohereContent`], borrowed.
#[derive(Debug, Default, Deserialize)]
pub struct LentContent<'a> {
    /// `type`: `text` or `thinking`.
    #[serde(
        default,
        rename = "type",
        borrow,
        deserialize_with = "crate::decode::lent_str"
    )]
    pub kind: Option<Cow<'a, str>>,
    /// A piece of the answer's text, on `text` content.
    #[serde(default, borrow, deserialize_with = "crate::decode::lent_str")]
    pub text: Option<Cow<'a, str>>,
    /// A piece of the model's reasoning, on `thinking` content.
    #[serde(default, borrow, deserialize_with = "crate::decode::lent_str")]
    pub thinking: Option<Cow<'a, str>>,
}

/// `delta` of `tool-plan-delta`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolPlanDelta {
    /// The message piece: its tool plan.
    #[serde(default)]
    pub message: Option<ToolPlanMessage>,
}

/// `{tool_plan}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolPlanMessage {
    /// A piece of the plan the model writes before calling tools.
    #[serde(default)]
    pub tool_plan: Option<String>,
}

/// `delta` of tool-call events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohereToolCallDelta {
    /// The message piece: its tool call.
    #[serde(default)]
    pub message: Option<ToolCallMessage>,
}

/// `{tool_calls}`: one object (not a list) in stream events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallMessage {
    /// The piece of the tool call.
    #[serde(default)]
    pub tool_calls: Option<ToolCallPiece>,
}

/// `{id?, type?, function: {name?, arguments?}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallPiece {
    /// The call's id, on `tool-call-start`.
    #[serde(default)]
    pub id: Option<String>,
    /// The function's name, or a piece of its arguments.
    #[serde(default)]
    pub function: Option<FunctionPiece>,
}

/// `{name?, arguments?}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionPiece {
    /// The function's name, on `tool-call-start`.
    #[serde(default)]
    pub name: Option<String>,
    /// A piece of the arguments' JSON text.
    #[serde(default)]
    pub arguments: Option<String>,
}

/// `delta` of `message-end`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEndDelta {
    /// Why generation stopped: `COMPLETE`, `STOP_SEQUENCE`, `MAX_TOKENS`, `TOOL_CALL`,
    /// `ERROR`, …
    #[serde(default)]
    pub finish_reason: Option<String>,
    /// The token counts of the request.
    #[serde(default)]
    pub usage: Option<ChatUsage>,
    /// An error message, when `finish_reason` is `ERROR`.
    #[serde(default)]
    pub error: Option<String>,
}

/// `usage`: billed units, processed tokens and cached tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatUsage {
    /// The tokens billed.
    #[serde(default)]
    pub billed_units: Option<TokenCounts>,
    /// The tokens the model processed.
    #[serde(default)]
    pub tokens: Option<TokenCounts>,
    /// The prompt tokens that hit the cache.
    #[serde(default)]
    pub cached_tokens: Option<serde_json::Number>,
}

/// `{input_tokens, output_tokens}`. Numbers: Cohere documents them as
/// doubles, and sends integers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCounts {
    /// The input tokens.
    #[serde(default)]
    pub input_tokens: Option<serde_json::Number>,
    /// The output tokens.
    #[serde(default)]
    pub output_tokens: Option<serde_json::Number>,
}
