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
    /// The model to run.
    pub model: String,
    /// The conversation as input items, oldest first.
    pub input: Vec<InputItem>,
    /// System instructions, sent apart from `input`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// The functions the model may call; left out when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<FunctionTool>,
    /// Sampling temperature; higher values give more varied output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling: only the tokens within this top probability mass are considered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Upper bound on generated tokens, visible output and reasoning included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Text output options: the JSON schema the answer must follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<TextConfig>,
    /// Reasoning effort and summary, for reasoning models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<ReasoningConfig>,
    /// Whether the model must call a tool, and which.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ResponsesToolChoice>,
    /// Whether the model may call several tools in one turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_tool_calls: Option<bool>,
    /// Whether the response streams as server-sent events.
    pub stream: bool,
}

/// `tool_choice`: `auto`, `none`, `required`, or `{type: "function", name}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResponsesToolChoice {
    /// A mode: `auto`, `none` or `required`.
    Mode(String),
    /// Forces a call to the named function.
    Function {
        /// Always `"function"` (JSON `type`).
        #[serde(rename = "type")]
        kind: String,
        /// The function the model must call.
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
        /// `user`, `system`, `developer` or `assistant`.
        role: String,
        /// The message's parts.
        content: Vec<InputContent>,
    },
    /// A call the model made earlier.
    FunctionCall {
        /// The call's id, which its output gives back as `call_id`.
        call_id: String,
        /// The function called.
        name: String,
        /// The arguments, as JSON text.
        arguments: String,
    },
    /// A tool's result.
    FunctionCallOutput {
        /// The `call_id` of the call this answers.
        call_id: String,
        /// What the tool returned.
        output: FunctionOutput,
    },
    /// A custom (freeform) tool call the model made earlier: its input is
    /// free text.
    CustomToolCall {
        /// The call's id, which its output gives back as `call_id`.
        call_id: String,
        /// The custom tool called.
        name: String,
        /// The call's free-text input.
        input: String,
    },
    /// A custom tool's result.
    CustomToolCallOutput {
        /// The `call_id` of the call this answers.
        call_id: String,
        /// What the tool returned, as text.
        output: String,
    },
    /// Reasoning sent back: its id, summary and encrypted content.
    Reasoning {
        /// The reasoning item's id, as the server sent it.
        id: String,
        /// The reasoning's summary parts.
        summary: Vec<SummaryText>,
        /// The reasoning in encrypted form, as the server sent it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        encrypted_content: Option<String>,
    },
}

/// A function call's output: text, or parts (text, images, files) when
/// the tool returned media.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FunctionOutput {
    /// Plain text.
    Text(String),
    /// A list of input parts.
    Parts(Vec<InputContent>),
}

/// A part of an input message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputContent {
    /// Text of a `user`, `system` or `developer` message, or of a tool's output.
    InputText {
        /// The text.
        text: String,
    },
    /// Text of an earlier `assistant` message.
    OutputText {
        /// The text.
        text: String,
    },
    /// An image: a URL or a `data:` URL; `detail` is required (`auto`).
    InputImage {
        /// The image's URL, or its bytes as a `data:` URL.
        image_url: String,
        /// The detail level the image is read at, such as `low`, `high` or `auto`.
        detail: String,
    },
    /// A file: at a URL (`file_url`), or its bytes as a `data:` URL in
    /// `file_data` with its `filename`.
    InputFile {
        /// The file's URL.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file_url: Option<String>,
        /// The file's name, sent with `file_data`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        filename: Option<String>,
        /// The file's bytes as a `data:` URL.
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
    /// The summary text.
    pub text: String,
}

/// `{type: "function", name, description, parameters}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionTool {
    /// Always `"function"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function's name, as the model calls it.
    pub name: String,
    /// What the function does, for the model to decide when to call it.
    pub description: String,
    /// The JSON Schema of the function's arguments.
    pub parameters: Value,
}

/// `text: {format}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TextConfig {
    /// The output format: a JSON schema.
    pub format: ResponsesJsonSchemaFormat,
}

/// `{type: "json_schema", name, schema, strict}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResponsesJsonSchemaFormat {
    /// Always `"json_schema"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A name for the schema.
    pub name: String,
    /// The JSON Schema the output must follow.
    pub schema: Value,
    /// Whether the output must adhere strictly to the schema.
    pub strict: bool,
}

/// `reasoning: {effort, summary}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasoningConfig {
    /// How much the model reasons, such as `low`, `medium` or `high`.
    pub effort: String,
    /// Which reasoning summary to return (`auto`, `concise` or `detailed`).
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
    /// The event type (JSON `type`), such as `response.output_text.delta`.
    #[serde(default, rename = "type")]
    pub kind: Option<&'a str>,
    /// The output item the delta belongs to.
    #[serde(default, borrow, deserialize_with = "crate::decode::lent_str")]
    pub item_id: Option<Cow<'a, str>>,
    /// The content part's index within the item (text and reasoning text deltas); 0 when absent.
    #[serde(default)]
    pub content_index: u64,
    /// The summary part's index within the reasoning item (summary deltas); 0 when absent.
    #[serde(default)]
    pub summary_index: u64,
    /// The item's position in the response's `output`.
    #[serde(default)]
    pub output_index: Option<u64>,
    /// The new text (or arguments text) the event adds.
    #[serde(default, borrow, deserialize_with = "crate::decode::lent_str")]
    pub delta: Option<Cow<'a, str>>,
}

/// One stream event; the SSE `event:` name equals its `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ResponsesEvent {
    /// `response.created`: the response was created.
    #[serde(rename = "response.created")]
    Created {
        /// The response as it stands.
        response: ResponseObject,
    },
    /// `response.in_progress`: the response is being generated.
    #[serde(rename = "response.in_progress")]
    InProgress {
        /// The response as it stands.
        response: ResponseObject,
    },
    /// `response.output_item.added`: an output item starts.
    #[serde(rename = "response.output_item.added")]
    OutputItemAdded {
        /// The item's position in the response's `output`.
        #[serde(default)]
        output_index: Option<u64>,
        /// The item as it starts.
        item: OutputItem,
    },
    /// `response.output_item.done`: an output item is complete.
    #[serde(rename = "response.output_item.done")]
    OutputItemDone {
        /// The item's position in the response's `output`.
        #[serde(default)]
        output_index: Option<u64>,
        /// The complete item.
        item: OutputItem,
    },
    /// `response.content_part.done`: a content part of an item is complete.
    #[serde(rename = "response.content_part.done")]
    ContentPartDone {
        /// The item the part belongs to.
        item_id: String,
        /// The part's index within the item.
        #[serde(default)]
        content_index: u64,
    },
    /// `response.output_text.delta`: a piece of output text.
    #[serde(rename = "response.output_text.delta")]
    OutputTextDelta {
        /// The message item the text belongs to.
        item_id: String,
        /// The content part's index within the item.
        #[serde(default)]
        content_index: u64,
        /// The new text.
        delta: String,
    },
    /// `response.output_text.done`: a text part is complete.
    #[serde(rename = "response.output_text.done")]
    OutputTextDone {
        /// The message item the text belongs to.
        item_id: String,
        /// The content part's index within the item.
        #[serde(default)]
        content_index: u64,
    },
    /// `response.refusal.delta`: a piece of a refusal.
    #[serde(rename = "response.refusal.delta")]
    RefusalDelta {
        /// The message item the refusal belongs to.
        item_id: String,
        /// The content part's index within the item.
        #[serde(default)]
        content_index: u64,
        /// The new refusal text.
        delta: String,
    },
    /// `response.refusal.done`: a refusal is complete.
    #[serde(rename = "response.refusal.done")]
    RefusalDone {
        /// The message item the refusal belongs to.
        item_id: String,
        /// The content part's index within the item.
        #[serde(default)]
        content_index: u64,
    },
    /// `response.reasoning_summary_text.delta`: a piece of a reasoning summary.
    #[serde(rename = "response.reasoning_summary_text.delta")]
    ReasoningSummaryTextDelta {
        /// The reasoning item the summary belongs to.
        item_id: String,
        /// The summary part's index within the item.
        #[serde(default)]
        summary_index: u64,
        /// The new summary text.
        delta: String,
    },
    /// `response.reasoning_text.delta`: a piece of reasoning text.
    #[serde(rename = "response.reasoning_text.delta")]
    ReasoningTextDelta {
        /// The reasoning item the text belongs to.
        item_id: String,
        /// The content part's index within the item.
        #[serde(default)]
        content_index: u64,
        /// The new reasoning text.
        delta: String,
    },
    /// `response.function_call_arguments.delta`: a piece of a function call's arguments.
    #[serde(rename = "response.function_call_arguments.delta")]
    FunctionCallArgumentsDelta {
        /// The `function_call` item the arguments belong to.
        item_id: String,
        /// The item's position in the response's `output`.
        #[serde(default)]
        output_index: Option<u64>,
        /// The new piece of the arguments' JSON text.
        delta: String,
    },
    /// `response.function_call_arguments.done`: a function call's arguments are complete.
    #[serde(rename = "response.function_call_arguments.done")]
    FunctionCallArgumentsDone {
        /// The `function_call` item.
        item_id: String,
        /// The whole arguments, as JSON text.
        #[serde(default)]
        arguments: Option<String>,
    },
    /// A piece of a custom (freeform) tool call's input: free text.
    #[serde(rename = "response.custom_tool_call_input.delta")]
    CustomToolCallInputDelta {
        /// The `custom_tool_call` item the input belongs to.
        item_id: String,
        /// The item's position in the response's `output`.
        #[serde(default)]
        output_index: Option<u64>,
        /// The new piece of the input.
        delta: String,
    },
    /// `response.custom_tool_call_input.done`: a custom tool call's input is complete.
    #[serde(rename = "response.custom_tool_call_input.done")]
    CustomToolCallInputDone {
        /// The `custom_tool_call` item.
        item_id: String,
        /// The whole input.
        #[serde(default)]
        input: Option<String>,
    },
    /// A citation of the text of `item_id`'s part `content_index`:
    /// `url_citation`, `file_citation`, `container_file_citation`,
    /// `file_path` (kept as JSON).
    #[serde(rename = "response.output_text.annotation.added")]
    OutputTextAnnotationAdded {
        /// The message item the cited text belongs to.
        item_id: String,
        /// The content part's index within the item.
        #[serde(default)]
        content_index: u64,
        /// The annotation, as the server sent it.
        annotation: Value,
    },
    /// `response.completed`: the response finished.
    #[serde(rename = "response.completed")]
    Completed {
        /// The finished response, with its usage.
        response: ResponseObject,
    },
    /// `response.incomplete`: the response ended early; `incomplete_details` says why.
    #[serde(rename = "response.incomplete")]
    Incomplete {
        /// The response, with its `incomplete_details` and usage.
        response: ResponseObject,
    },
    /// `response.failed`: the response failed; its `error` says why.
    #[serde(rename = "response.failed")]
    Failed {
        /// The response, with its `error`.
        response: ResponseObject,
    },
    /// A mid-stream error: `{error: {type, code, message, param}}` on the
    /// wire, or `{code, message, param}` at the top level as the typed
    /// SDKs describe it.
    #[serde(rename = "error")]
    Error {
        /// The error object, in the wire shape.
        #[serde(default)]
        error: Option<ResponsesErrorObject>,
        /// The error code, in the top-level shape.
        #[serde(default)]
        code: Option<Value>,
        /// The error message, in the top-level shape.
        #[serde(default)]
        message: Option<String>,
        /// The request parameter the error is about, in the top-level shape.
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
    /// The response's id.
    #[serde(default)]
    pub id: Option<String>,
    /// The model that generated the response.
    #[serde(default)]
    pub model: Option<String>,
    /// The response's status: `in_progress`, `completed`, `incomplete`, `failed`, …
    #[serde(default)]
    pub status: Option<String>,
    /// Why the response failed, on `response.failed`.
    #[serde(default)]
    pub error: Option<ResponsesErrorObject>,
    /// Why the response is incomplete, on `response.incomplete`.
    #[serde(default)]
    pub incomplete_details: Option<IncompleteDetails>,
    /// Token counts, once the response is finished.
    #[serde(default)]
    pub usage: Option<ResponseUsage>,
}

/// An error: `{type?, code, message, param?}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResponsesErrorObject {
    /// The error's type (JSON `type`), when sent.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    /// The error code, such as `rate_limit_exceeded` or `server_error`.
    #[serde(default)]
    pub code: Option<Value>,
    /// A description of what went wrong.
    #[serde(default)]
    pub message: Option<String>,
    /// The request parameter the error is about, if any.
    #[serde(default)]
    pub param: Option<Value>,
}

/// `incomplete_details`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncompleteDetails {
    /// Why the response stopped early: `max_output_tokens` or `content_filter`.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `usage` of a finished response.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseUsage {
    /// Tokens in the input.
    #[serde(default)]
    pub input_tokens: Option<u64>,
    /// A breakdown of `input_tokens`.
    #[serde(default)]
    pub input_tokens_details: Option<InputTokensDetails>,
    /// Tokens generated, reasoning included.
    #[serde(default)]
    pub output_tokens: Option<u64>,
    /// A breakdown of `output_tokens`.
    #[serde(default)]
    pub output_tokens_details: Option<OutputTokensDetails>,
    /// `input_tokens` plus `output_tokens`.
    #[serde(default)]
    pub total_tokens: Option<u64>,
}

/// `input_tokens_details`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputTokensDetails {
    /// Input tokens read from the prompt cache.
    #[serde(default)]
    pub cached_tokens: Option<u64>,
}

/// `output_tokens_details`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputTokensDetails {
    /// Output tokens spent reasoning.
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
    /// The item's id.
    pub id: Option<String>,
    /// The item's status, such as `in_progress` or `completed`.
    pub status: Option<String>,
    /// `function_call`, `custom_tool_call`: the id tool outputs answer.
    pub call_id: Option<String>,
    /// `function_call`, `custom_tool_call`: the tool's name.
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
