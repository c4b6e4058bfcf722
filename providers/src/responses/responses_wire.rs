//! OpenAI Responses API wire types: plain serde structs, nothing else.
//!
//! Stream events are a tagged enum on `type`; event types this crate does
//! not use (web search progress, MCP, image generation, …) parse as
//! [`ResponsesEvent::Unknown`] and are ignored: the items they are about are
//! read whole from `response.output_item.done`. Every field a decoder does
//! not need to trust is optional.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

// ---------------------------------------------------------------- request

/// `POST /responses` body.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponsesRequest {
    pub model: String,
    pub input: Vec<InputItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<FunctionTool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ResponsesToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    pub stream: bool,
}

/// `tool_choice`: `auto`, `none`, `required`, or `{type: "function", name}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResponsesToolChoice {
    Mode(String),
    Function {
        #[serde(rename = "type")]
        kind: String,
        name: String,
    },
}

/// One input item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputItem {
    /// A message: `user`, `system` or `developer` with `input_text`
    /// parts, `assistant` with `output_text` parts.
    Message {
        role: String,
        content: Vec<InputContent>,
    },
    /// A call the model made earlier.
    FunctionCall {
        call_id: String,
        name: String,
        arguments: String,
    },
    /// A tool's result.
    FunctionCallOutput {
        call_id: String,
        output: FunctionOutput,
    },
    /// A custom (freeform) tool call the model made earlier: its input is
    /// free text.
    CustomToolCall {
        call_id: String,
        name: String,
        input: String,
    },
    /// A custom tool's result.
    CustomToolCallOutput { call_id: String, output: String },
    /// Reasoning sent back: its id, summary and encrypted content.
    Reasoning {
        id: String,
        summary: Vec<SummaryText>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
}

/// A function call's output: text, or parts (text, images, files) when
/// the tool returned media.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FunctionOutput {
    Text(String),
    Parts(Vec<InputContent>),
}

/// A part of an input message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputContent {
    InputText {
        text: String,
    },
    OutputText {
        text: String,
    },
    /// An image: a URL or a `data:` URL; `detail` is required (`auto`).
    InputImage {
        image_url: String,
        detail: String,
    },
    /// A file: at a URL (`file_url`), or its bytes as a `data:` URL in
    /// `file_data` with its `filename`.
    InputFile {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_url: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_data: Option<String>,
    },
}

/// `{type: "summary_text", text}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SummaryText {
    /// Always `"summary_text"`.
    #[serde(rename = "type")]
    pub kind: String,
    pub text: String,
}

/// `{type: "function", name, description, parameters}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionTool {
    /// Always `"function"`.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

/// `text: {format}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextConfig {
    pub format: ResponsesJsonSchemaFormat,
}

/// `{type: "json_schema", name, schema, strict}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResponsesJsonSchemaFormat {
    /// Always `"json_schema"`.
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub schema: Value,
    pub strict: bool,
}

/// `reasoning: {effort, summary}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasoningConfig {
    pub effort: String,
    pub summary: String,
}

// --------------------------------------------------------------- response

/// The hot events (a text, reasoning or function-argument delta), read
/// field by field and borrowed from the event (a [`ResponsesEvent`], tagged,
/// is buffered whole before it is read): the fields those variants of
/// [`ResponsesEvent`] read, typed alike. Every field may be missing so that
/// any event reads; the decoder takes it only for those types.
#[derive(Debug, Default, Deserialize)]
pub struct ResponsesDeltaEvent<'a> {
    #[serde(default, rename = "type")]
    pub kind: Option<&'a str>,
    #[serde(default, borrow, deserialize_with = "crate::decode::lent_str")]
    pub item_id: Option<Cow<'a, str>>,
    #[serde(default)]
    pub content_index: u64,
    #[serde(default)]
    pub summary_index: u64,
    #[serde(default)]
    pub output_index: Option<u64>,
    #[serde(default, borrow, deserialize_with = "crate::decode::lent_str")]
    pub delta: Option<Cow<'a, str>>,
}

/// One stream event; the SSE `event:` name equals its `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ResponsesEvent {
    #[serde(rename = "response.created")]
    Created { response: ResponseObject },
    #[serde(rename = "response.in_progress")]
    InProgress { response: ResponseObject },
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        #[serde(default)]
        output_index: Option<u64>,
        item: OutputItem,
    },
    #[serde(rename = "response.output_item.done")]
    OutputItemDone {
        #[serde(default)]
        output_index: Option<u64>,
        item: OutputItem,
    },
    #[serde(rename = "response.content_part.done")]
    ContentPartDone {
        item_id: String,
        #[serde(default)]
        content_index: u64,
    },
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        item_id: String,
        #[serde(default)]
        content_index: u64,
        delta: String,
    },
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        item_id: String,
        #[serde(default)]
        content_index: u64,
    },
    #[serde(rename = "response.refusal.delta")]
    RefusalDelta {
        item_id: String,
        #[serde(default)]
        content_index: u64,
        delta: String,
    },
    #[serde(rename = "response.refusal.done")]
    RefusalDone {
        item_id: String,
        #[serde(default)]
        content_index: u64,
    },
    #[serde(rename = "response.reasoning_summary_text.delta")]
    ReasoningSummaryTextDelta {
        item_id: String,
        #[serde(default)]
        summary_index: u64,
        delta: String,
    },
    #[serde(rename = "response.reasoning_text.delta")]
    ReasoningTextDelta {
        item_id: String,
        #[serde(default)]
        content_index: u64,
        delta: String,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta {
        item_id: String,
        #[serde(default)]
        output_index: Option<u64>,
        delta: String,
    },
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone {
        item_id: String,
        #[serde(default)]
        arguments: Option<String>,
    },
    /// A piece of a custom (freeform) tool call's input: free text.
    #[serde(rename = "response.custom_tool_call_input.delta")]
    CustomToolCallInputDelta {
        item_id: String,
        #[serde(default)]
        output_index: Option<u64>,
        delta: String,
    },
    #[serde(rename = "response.custom_tool_call_input.done")]
    CustomToolCallInputDone {
        item_id: String,
        #[serde(default)]
        input: Option<String>,
    },
    /// A citation of the text of `item_id`'s part `content_index`:
    /// `url_citation`, `file_citation`, `container_file_citation`,
    /// `file_path` (kept as JSON).
    #[serde(rename = "response.output_text.annotation.added")]
    OutputTextAnnotationAdded {
        item_id: String,
        #[serde(default)]
        content_index: u64,
        annotation: Value,
    },
    #[serde(rename = "response.completed")]
    Completed { response: ResponseObject },
    #[serde(rename = "response.incomplete")]
    Incomplete { response: ResponseObject },
    #[serde(rename = "response.failed")]
    Failed { response: ResponseObject },
    /// A mid-stream error: `{error: {type, code, message, param}}` on the
    /// wire, or `{code, message, param}` at the top level as the typed
    /// SDKs describe it.
    #[serde(rename = "error")]
    Error {
        #[serde(default)]
        error: Option<ResponsesErrorObject>,
        #[serde(default)]
        code: Option<Value>,
        #[serde(default)]
        message: Option<String>,
        #[serde(default)]
        param: Option<Value>,
    },
    /// Any other event type: ignored.
    #[serde(other)]
    Unknown,
}

/// The `response` object of lifecycle events (only what the decoder reads).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponseObject {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub error: Option<ResponsesErrorObject>,
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
    #[serde(default)]
    pub usage: Option<ResponseUsage>,
}

/// An error: `{type?, code, message, param?}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponsesErrorObject {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<Value>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub param: Option<Value>,
}

/// `incomplete_details`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncompleteDetails {
    #[serde(default)]
    pub reason: Option<String>,
}

/// `usage` of a finished response.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseUsage {
    #[serde(default)]
    pub input_tokens: Option<u64>,
    #[serde(default)]
    pub input_tokens_details: Option<InputTokensDetails>,
    #[serde(default)]
    pub output_tokens: Option<u64>,
    #[serde(default)]
    pub output_tokens_details: Option<OutputTokensDetails>,
    #[serde(default)]
    pub total_tokens: Option<u64>,
}

/// `input_tokens_details`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTokensDetails {
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

/// `output_tokens_details`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    #[serde(default)]
    pub reasoning_tokens: Option<u64>,
}

/// An output item (`message`, `function_call`, `custom_tool_call`,
/// `reasoning`, `web_search_call`, …): the fields the decoder reads, and
/// the whole item as the server sent it in [`OutputItem::json`] (it
/// serializes back to that), so an item the decoder does not interpret is
/// kept unchanged.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub struct OutputItem {
    /// `type`.
    pub kind: String,
    pub id: Option<String>,
    pub status: Option<String>,
    /// `function_call`, `custom_tool_call`: the id tool outputs answer.
    pub call_id: Option<String>,
    pub name: Option<String>,
    /// `function_call`: the JSON arguments.
    pub arguments: Option<String>,
    /// `custom_tool_call`: the free-text input.
    pub input: Option<String>,
    /// `reasoning`: the encrypted reasoning, when the request included
    /// `reasoning.encrypted_content`.
    pub encrypted_content: Option<String>,
    /// The whole item, as sent.
    pub json: Value,
}

impl TryFrom<Value> for OutputItem {
    type Error = String;

    /// Only `type` must be there; a field of another shape than the
    /// decoder reads (an item type it does not know may use the same names
    /// differently) is left out of the typed fields, never an error.
    fn try_from(json: Value) -> Result<Self, Self::Error> {
        let text = |key: &str| json.get(key).and_then(Value::as_str).map(str::to_string);
        let kind =
            text("type").ok_or_else(|| "an output item without a string `type`".to_string())?;
        Ok(OutputItem {
            kind,
            id: text("id"),
            status: text("status"),
            call_id: text("call_id"),
            name: text("name"),
            arguments: text("arguments"),
            input: text("input"),
            encrypted_content: text("encrypted_content"),
            json,
        })
    }
}

impl From<OutputItem> for Value {
    fn from(item: OutputItem) -> Value {
        item.json
    }
}
