//! Cohere v2 Chat wire types: plain serde structs, nothing else.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------- request

/// `POST /v2/chat` body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CohereChatRequest {
    pub model: String,
    pub messages: Vec<CohereChatMessage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<CohereTool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Top-p.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<CohereResponseFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<Thinking>,
    /// `REQUIRED` or `NONE`; absent, the model decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<String>,
    pub stream: bool,
}

/// One message: `system`, `user`, `assistant` or `tool`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CohereChatMessage {
    pub role: String,
    /// Text, or parts when a user message carries images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<CohereMessageContent>,
    /// Assistant: the plan the model wrote before calling tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_plan: Option<String>,
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
    Text(String),
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
    Text { text: String },
    ImageUrl { image_url: CohereImageUrl },
}

/// An image: a URL or a `data:` URL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohereImageUrl {
    pub url: String,
}

/// A call in an assistant message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    /// Always `"function"`.
    #[serde(rename = "type")]
    pub kind: String,
    pub function: CohereFunctionCall,
}

/// A function name and its JSON arguments as text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohereFunctionCall {
    pub name: String,
    pub arguments: String,
}

/// `{type: "function", function: {name, description, parameters}}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CohereTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: CohereFunctionDefinition,
}

/// A function the model may call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CohereFunctionDefinition {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// `{type: "json_object", json_schema}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CohereResponseFormat {
    #[serde(rename = "type")]
    pub kind: String,
    pub json_schema: Value,
}

/// `{type: "enabled", token_budget}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thinking {
    #[serde(rename = "type")]
    pub kind: String,
    pub token_budget: u32,
}

// --------------------------------------------------------------- response

/// One stream event; the SSE `event:` name equals its `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum CohereEvent {
    #[serde(rename = "message-start")]
    MessageStart {
        #[serde(default)]
        id: Option<String>,
    },
    #[serde(rename = "content-start")]
    ContentStart {
        #[serde(default)]
        index: u64,
        #[serde(default)]
        delta: Option<ContentDelta>,
    },
    #[serde(rename = "content-delta")]
    ContentDelta {
        #[serde(default)]
        index: u64,
        #[serde(default)]
        delta: Option<ContentDelta>,
    },
    #[serde(rename = "content-end")]
    ContentEnd {
        #[serde(default)]
        index: u64,
    },
    #[serde(rename = "tool-plan-delta")]
    ToolPlanDelta {
        #[serde(default)]
        delta: Option<ToolPlanDelta>,
    },
    #[serde(rename = "tool-call-start")]
    ToolCallStart {
        #[serde(default)]
        index: u64,
        #[serde(default)]
        delta: Option<CohereToolCallDelta>,
    },
    #[serde(rename = "tool-call-delta")]
    ToolCallDelta {
        #[serde(default)]
        index: u64,
        #[serde(default)]
        delta: Option<CohereToolCallDelta>,
    },
    #[serde(rename = "tool-call-end")]
    ToolCallEnd {
        #[serde(default)]
        index: u64,
    },
    #[serde(rename = "message-end")]
    MessageEnd {
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
    #[serde(default)]
    pub message: Option<ContentMessage>,
}

/// `message` of a content delta.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentMessage {
    #[serde(default)]
    pub content: Option<CohereContent>,
}

/// A content piece: `text` or `thinking`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohereContent {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub thinking: Option<String>,
}

/// The hot event, `content-delta`, read field by field and borrowed from
/// the event (a [`CohereEvent`], tagged, is buffered whole before it is
/// read): the fields a [`CohereEvent::ContentDelta`] reads, typed alike.
#[derive(Debug, Default, Deserialize)]
pub struct ContentDeltaEvent<'a> {
    #[serde(default, rename = "type")]
    pub kind: Option<&'a str>,
    #[serde(default)]
    pub index: u64,
    #[serde(default, borrow)]
    pub delta: Option<LentDelta<'a>>,
}

/// [`ContentDelta`], borrowed.
#[derive(Debug, Default, Deserialize)]
pub struct LentDelta<'a> {
    #[serde(default, borrow)]
    pub message: Option<LentMessage<'a>>,
}

/// [`ContentMessage`], borrowed.
#[derive(Debug, Default, Deserialize)]
pub struct LentMessage<'a> {
    #[serde(default, borrow)]
    pub content: Option<LentContent<'a>>,
}

/// [`CohereContent`], borrowed.
#[derive(Debug, Default, Deserialize)]
pub struct LentContent<'a> {
    #[serde(
        default,
        rename = "type",
        borrow,
        deserialize_with = "crate::decode::lent_str"
    )]
    pub kind: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "crate::decode::lent_str")]
    pub text: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "crate::decode::lent_str")]
    pub thinking: Option<Cow<'a, str>>,
}

/// `delta` of `tool-plan-delta`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolPlanDelta {
    #[serde(default)]
    pub message: Option<ToolPlanMessage>,
}

/// `{tool_plan}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolPlanMessage {
    #[serde(default)]
    pub tool_plan: Option<String>,
}

/// `delta` of tool-call events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CohereToolCallDelta {
    #[serde(default)]
    pub message: Option<ToolCallMessage>,
}

/// `{tool_calls}`: one object (not a list) in stream events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallMessage {
    #[serde(default)]
    pub tool_calls: Option<ToolCallPiece>,
}

/// `{id?, type?, function: {name?, arguments?}}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCallPiece {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<FunctionPiece>,
}

/// `{name?, arguments?}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FunctionPiece {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
}

/// `delta` of `message-end`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageEndDelta {
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<ChatUsage>,
    /// An error message, when `finish_reason` is `ERROR`.
    #[serde(default)]
    pub error: Option<String>,
}

/// `usage`: billed units, processed tokens and cached tokens.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatUsage {
    #[serde(default)]
    pub billed_units: Option<TokenCounts>,
    #[serde(default)]
    pub tokens: Option<TokenCounts>,
    #[serde(default)]
    pub cached_tokens: Option<serde_json::Number>,
}

/// `{input_tokens, output_tokens}`. Numbers: Cohere documents them as
/// doubles, and sends integers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenCounts {
    #[serde(default)]
    pub input_tokens: Option<serde_json::Number>,
    #[serde(default)]
    pub output_tokens: Option<serde_json::Number>,
}
