//! Responses API decoding: a pure state machine from SSE events to core
//! [`Chunk`]s.
//!
//! The rules:
//! - metadata (`id`, `model`) once, from the first `response` object;
//! - `response.output_text.delta` / `response.refusal.delta` → text, one
//!   part per output content part (item id, content index); a part starts
//!   at its first non-empty delta and ends at its `.done`,
//!   `content_part.done` or the item's `output_item.done`;
//! - `response.reasoning_summary_text.delta` (one part per summary part)
//!   and `response.reasoning_text.delta` (one part per content part) →
//!   thoughts. They end when their reasoning item is done, with the item id
//!   as `signature` and its `encrypted_content` as `redacted` (on the
//!   item's last thought), so the item can be sent back; an item with
//!   encrypted content and no text still gives one (empty) thought;
//! - function calls are keyed by item id (several can be open at once):
//!   they start at `output_item.added` (tool call id = `call_id`) and end at
//!   `function_call_arguments.done` or `output_item.done`, whose full
//!   arguments fill in whatever the deltas missed;
//! - custom (freeform) tool calls (`custom_tool_call` items, filled by
//!   `custom_tool_call_input.delta`) are tool calls the same way, ending at
//!   `custom_tool_call_input.done` or `output_item.done`. Their input is
//!   free text, not JSON: the call's arguments are `{"input": "<the
//!   text>"}` (see [`custom_args`]), streamed as such (the opening
//!   `{"input":"` with the start, each piece JSON-escaped, the closing `"}`
//!   at the end), so they are always one JSON object and a toolkit does not
//!   reject them; the end chunk's `signature` is the `ctc_…` item id, which
//!   tells the request builder to send the call back as a custom one;
//! - every other output item (`web_search_call`, `file_search_call`,
//!   `code_interpreter_call`, `image_generation_call`, `mcp_call`,
//!   `mcp_list_tools`, `computer_call`, …, and item types added after this
//!   was written) is one `provider_part_chunk` at its `output_item.done`,
//!   holding the item as sent, with its `type` as kind. An item announced
//!   by `output_item.added` whose `.done` never came is kept as announced
//!   at `response.completed` / `response.incomplete`. None is a tool call:
//!   the server ran them;
//! - `response.completed` → `stop` (`refusal` after a refusal, `tool_calls`
//!   after a function call), raw `completed`; `response.incomplete` →
//!   `incomplete_details.reason` (`max_output_tokens` → `max_tokens`,
//!   `content_filter`); usage only from these two;
//! - `error` events and `response.failed` → typed errors by code;
//! - unknown events are ignored; EOF before a terminal event is a protocol
//!   error.
//!
//! On an error the open text and thought parts are ended (what arrived is
//! kept), open tool calls are not (a cut-off call must never run); the
//! same holds for `response.incomplete`. Announced items whose `.done`
//! never came are not kept on an error.

use std::sync::Arc;

use rivulet_core::{Chunk, Citation, CitationKind, Delta, Error, FinishReason, Usage};
use serde_json::{Map, Value};

use super::responses_wire::{
    OutputItem, ResponseObject, ResponseUsage, ResponsesDeltaEvent, ResponsesErrorObject,
    ResponsesEvent,
};
use crate::decode::{Decoded, Driver, Flow, Parts, Protocol, UsageTracker, Wire};
use crate::errors::error_from_code;
use crate::sse::{SseEvent, SseRef};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ThoughtKind {
    Summary,
    Text,
}

#[derive(Clone, Debug)]
struct OpenText {
    item_id: String,
    content_index: u64,
    part: usize,
}

#[derive(Clone, Debug)]
struct OpenThought {
    item_id: String,
    kind: ThoughtKind,
    index: u64,
    part: usize,
}

#[derive(Clone, Debug)]
struct OpenCall {
    item_id: String,
    call_id: Arc<str>,
    part: usize,
    /// A custom tool's call: `args` is free text, sent wrapped.
    custom: bool,
    /// The arguments received so far (a custom call's: its free text).
    args: String,
}

/// The key a custom (freeform) tool call's free-text input is wrapped in:
/// its arguments are `{"input": "<the text>"}`.
pub const CUSTOM_INPUT_KEY: &str = "input";

/// The arguments of a custom tool call whose input is `input`:
/// `{"input": "<input>"}`, as the decoder streams them.
///
/// ```
/// use rivulet_providers::responses::responses_decoder::{custom_args, custom_input};
///
/// let args = custom_args("SELECT \"a\"\nFROM t");
/// assert_eq!(args, r#"{"input":"SELECT \"a\"\nFROM t"}"#);
/// assert_eq!(custom_input(&args), "SELECT \"a\"\nFROM t");
/// ```
pub fn custom_args(input: &str) -> String {
    format!("{CUSTOM_ARGS_OPEN}{}{CUSTOM_ARGS_CLOSE}", escape(input))
}

/// The free-text input of a custom tool call from its arguments: the
/// `input` string of `{"input": …}`, or the arguments themselves when they
/// are not in that form (a call made by hand with the bare text).
pub fn custom_input(args: &str) -> String {
    match serde_json::from_str::<Map<String, Value>>(args) {
        Ok(m) if m.len() == 1 => match m.get(CUSTOM_INPUT_KEY) {
            Some(Value::String(s)) => s.clone(),
            _ => args.to_string(),
        },
        _ => args.to_string(),
    }
}

/// What a custom call's arguments start and end with.
const CUSTOM_ARGS_OPEN: &str = r#"{"input":""#;
const CUSTOM_ARGS_CLOSE: &str = r#""}"#;

/// `text` as the inside of a JSON string. JSON escapes character by
/// character, so pieces escaped one by one join into the escaped whole.
fn escape(text: &str) -> String {
    let quoted = Value::String(text.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

/// The Responses API decoder.
///
/// ```
/// use rivulet_core::Response;
/// use rivulet_providers::decode::EventDecoder;
/// use rivulet_providers::responses::ResponsesDecoder;
/// use rivulet_providers::sse::SseEvent;
///
/// let mut d = ResponsesDecoder::new("openai-responses");
/// let mut r = Response::default();
/// for data in [
///     r#"{"type":"response.created","response":{"id":"resp_1","model":"gpt-4o"}}"#,
///     r#"{"type":"response.output_text.delta","item_id":"msg_1","content_index":0,"delta":"Hi"}"#,
///     r#"{"type":"response.completed","response":{"status":"completed","usage":{"input_tokens":3,"output_tokens":1}}}"#,
/// ] {
///     for c in d.feed(&SseEvent::message(data)) {
///         r.apply(&c.unwrap());
///     }
/// }
/// assert!(d.is_done());
/// assert_eq!(r.text(), "Hi");
/// assert_eq!(r.usage.output_tokens, Some(1));
/// ```
pub type ResponsesDecoder = Driver<Responses>;

/// The Responses API protocol: what each event means.
#[derive(Debug, Default)]
pub struct Responses {
    parts: Parts,
    texts: Vec<OpenText>,
    /// Every text part so far, open or ended: annotations can come after
    /// their text's end.
    text_parts: Vec<OpenText>,
    thoughts: Vec<OpenThought>,
    /// Reasoning items whose thoughts already ended, and their encrypted
    /// content announced by `output_item.added`.
    encrypted: Vec<(String, String)>,
    calls: Vec<OpenCall>,
    /// Item ids of the calls that ended: later events about them (the
    /// `output_item.done` after `function_call_arguments.done`) are no news.
    ended_calls: Vec<String>,
    /// Other items announced by `output_item.added` and not done yet, by
    /// id, as announced.
    announced: Vec<(String, OutputItem)>,
    metadata_sent: bool,
    refusal_seen: bool,
    call_seen: bool,
    usage: UsageTracker,
}

impl ResponsesDecoder {
    /// A decoder for `provider` (used in errors and raw events); raw
    /// events are typed as [`ResponsesEvent`].
    pub fn new(provider: &str) -> Self {
        Driver::with(provider, Responses::default())
    }
}

impl Responses {
    fn on_event(
        &mut self,
        provider: &str,
        event: ResponsesEvent,
        out: &mut Decoded,
    ) -> Result<Flow, Error> {
        match event {
            ResponsesEvent::Created { response } | ResponsesEvent::InProgress { response } => {
                self.metadata(&response, out);
            }
            ResponsesEvent::OutputItemAdded { item, .. } => self.item_added(item, out),
            ResponsesEvent::OutputItemDone { item, .. } => self.item_done(provider, item, out),
            ResponsesEvent::OutputTextDelta {
                item_id,
                content_index,
                delta,
            } => self.text(&item_id, content_index, &delta, out),
            ResponsesEvent::RefusalDelta {
                item_id,
                content_index,
                delta,
            } => {
                self.refusal_seen = true;
                self.text(&item_id, content_index, &delta, out);
            }
            ResponsesEvent::OutputTextDone {
                item_id,
                content_index,
            }
            | ResponsesEvent::RefusalDone {
                item_id,
                content_index,
            }
            | ResponsesEvent::ContentPartDone {
                item_id,
                content_index,
            } => self.end_texts(out, |t| {
                t.item_id == item_id && t.content_index == content_index
            }),
            ResponsesEvent::OutputTextAnnotationAdded {
                item_id,
                content_index,
                annotation,
            } => {
                let part = match self
                    .text_parts
                    .iter()
                    .find(|t| t.item_id == item_id && t.content_index == content_index)
                {
                    Some(t) => t.part,
                    // Cited before any of its text: the part opens now.
                    None => self.text_part(&item_id, content_index, out),
                };
                out.push(Ok(Chunk::Citation {
                    part,
                    citation: Box::new(citation_of(annotation)),
                }));
            }
            ResponsesEvent::ReasoningSummaryTextDelta {
                item_id,
                summary_index,
                delta,
            } => self.thought(&item_id, ThoughtKind::Summary, summary_index, &delta, out),
            ResponsesEvent::ReasoningTextDelta {
                item_id,
                content_index,
                delta,
            } => self.thought(&item_id, ThoughtKind::Text, content_index, &delta, out),
            ResponsesEvent::FunctionCallArgumentsDelta { item_id, delta, .. } => {
                self.function_args(&item_id, &delta, out)
            }
            ResponsesEvent::CustomToolCallInputDelta { item_id, delta, .. } => {
                if self.ended_calls.contains(&item_id) {
                    return Ok(Flow::Continue);
                }
                let i = self.call(&item_id, None, None, true, out);
                self.call_args(i, &delta, out);
            }
            ResponsesEvent::FunctionCallArgumentsDone { item_id, arguments }
            | ResponsesEvent::CustomToolCallInputDone {
                item_id,
                input: arguments,
            } => {
                if let Some(i) = self.calls.iter().position(|c| c.item_id == item_id) {
                    self.finish_call(i, arguments.as_deref(), out);
                }
            }
            ResponsesEvent::Completed { response } => {
                self.metadata(&response, out);
                self.end_texts(out, |_| true);
                self.end_thoughts(out, |_| true);
                while !self.calls.is_empty() {
                    self.finish_call(0, None, out);
                }
                self.end_announced(provider, out);
                self.usage(response.usage.as_ref(), out);
                let reason = if self.refusal_seen {
                    FinishReason::Refusal
                } else if self.call_seen {
                    FinishReason::ToolCalls
                } else {
                    FinishReason::Stop
                };
                let raw = response.status.unwrap_or_else(|| "completed".into());
                out.push(Ok(Chunk::FinishReason { reason, raw }));
                return Ok(Flow::Done);
            }
            ResponsesEvent::Incomplete { response } => {
                self.metadata(&response, out);
                self.end_texts(out, |_| true);
                self.end_thoughts(out, |_| true);
                self.end_announced(provider, out);
                self.usage(response.usage.as_ref(), out);
                let raw = response
                    .incomplete_details
                    .and_then(|d| d.reason)
                    .or(response.status)
                    .unwrap_or_else(|| "incomplete".into());
                let reason = match raw.as_str() {
                    "max_output_tokens" => FinishReason::MaxTokens,
                    "content_filter" => FinishReason::ContentFilter,
                    _ => FinishReason::Other,
                };
                out.push(Ok(Chunk::FinishReason { reason, raw }));
                return Ok(Flow::Done);
            }
            ResponsesEvent::Failed { response } => {
                let e = response.error.unwrap_or_default();
                return Err(object_error(provider, &e, "the response failed"));
            }
            ResponsesEvent::Error {
                error,
                code,
                message,
                param: _,
            } => {
                return Err(match error {
                    Some(e) => object_error(provider, &e, "error event"),
                    None => error_from_code(
                        provider,
                        code.as_ref().and_then(value_text).as_deref(),
                        message.as_deref(),
                    ),
                });
            }
            ResponsesEvent::Unknown => {}
        }
        Ok(Flow::Continue)
    }

    /// A piece of a function call's arguments.
    fn function_args(&mut self, item_id: &str, delta: &str, out: &mut Decoded) {
        if self.ended_calls.iter().any(|c| c == item_id) {
            return;
        }
        let i = self.call(item_id, None, None, false, out);
        self.call_args(i, delta, out);
    }

    /// The hot events, read borrowed ([`ResponsesDeltaEvent`]): true when `hot` was
    /// one of them, and decoded.
    fn on_hot(&mut self, hot: ResponsesDeltaEvent<'_>, out: &mut Decoded) -> bool {
        let (Some(kind), Some(item_id), Some(delta)) = (hot.kind, hot.item_id, hot.delta) else {
            return false;
        };
        match kind {
            "response.output_text.delta" => self.text(&item_id, hot.content_index, &delta, out),
            "response.reasoning_text.delta" => {
                let index = hot.content_index;
                self.thought(&item_id, ThoughtKind::Text, index, &delta, out)
            }
            "response.reasoning_summary_text.delta" => {
                let index = hot.summary_index;
                self.thought(&item_id, ThoughtKind::Summary, index, &delta, out)
            }
            "response.function_call_arguments.delta" => self.function_args(&item_id, &delta, out),
            _ => return false,
        }
        true
    }

    fn metadata(&mut self, response: &ResponseObject, out: &mut Decoded) {
        if self.metadata_sent {
            return;
        }
        let id = response.id.clone().filter(|s| !s.is_empty());
        let model = response.model.clone().filter(|s| !s.is_empty());
        if id.is_some() || model.is_some() {
            self.metadata_sent = true;
            out.push(Ok(Chunk::Metadata { id, model }));
        }
    }

    fn usage(&mut self, usage: Option<&ResponseUsage>, out: &mut Decoded) {
        if let Some(u) = usage {
            self.usage.report(usage_from_wire(u), out);
        }
    }

    fn item_added(&mut self, item: OutputItem, out: &mut Decoded) {
        let Some(id) = item.id.clone() else { return };
        match item.kind.as_str() {
            "function_call" | "custom_tool_call" => {
                if self.ended_calls.contains(&id) {
                    return;
                }
                let (custom, args) = call_fields(&item);
                let i = self.call(
                    &id,
                    item.call_id.as_deref(),
                    item.name.as_deref(),
                    custom,
                    out,
                );
                if let Some(args) = args {
                    self.call_args(i, args, out);
                }
            }
            "reasoning" => {
                if let Some(enc) = item.encrypted_content.filter(|e| !e.is_empty()) {
                    self.encrypted.push((id, enc));
                }
            }
            "message" => {}
            _ => {
                self.announced.retain(|(i, _)| *i != id);
                self.announced.push((id, item));
            }
        }
    }

    fn item_done(&mut self, provider: &str, item: OutputItem, out: &mut Decoded) {
        let known = matches!(
            item.kind.as_str(),
            "message" | "function_call" | "custom_tool_call" | "reasoning"
        );
        if !known {
            // Kept whole, with or without an id.
            if let Some(id) = &item.id {
                self.announced.retain(|(i, _)| i != id);
            }
            self.provider_part(provider, item, out);
            return;
        }
        let Some(id) = item.id.clone() else { return };
        match item.kind.as_str() {
            "message" => self.end_texts(out, |t| t.item_id == id),
            "function_call" | "custom_tool_call" => {
                if self.ended_calls.contains(&id) {
                    return;
                }
                let (custom, full) = call_fields(&item);
                let i = match self.calls.iter().position(|c| c.item_id == id) {
                    Some(i) => i,
                    // Never announced: start it now, from the full item.
                    None => self.call(
                        &id,
                        item.call_id.as_deref(),
                        item.name.as_deref(),
                        custom,
                        out,
                    ),
                };
                self.finish_call(i, full, out);
            }
            "reasoning" => {
                if let Some(enc) = item.encrypted_content.clone().filter(|e| !e.is_empty()) {
                    self.encrypted.retain(|(i, _)| *i != id);
                    self.encrypted.push((id.clone(), enc));
                }
                let had_parts = self.thoughts.iter().any(|t| t.item_id == id);
                if !had_parts {
                    // Encrypted reasoning without summary: keep it as an
                    // empty thought so it can be sent back.
                    if let Some(pos) = self.encrypted.iter().position(|(i, _)| *i == id) {
                        let (_, enc) = self.encrypted.remove(pos);
                        let part = self.parts.take();
                        out.push(Ok(Chunk::ThoughtStart { part }));
                        out.push(Ok(Chunk::ThoughtEnd {
                            part,
                            signature: Some(id),
                            redacted: Some(enc),
                        }));
                    }
                } else {
                    self.end_thoughts(out, |t| t.item_id == id);
                }
            }
            _ => {}
        }
    }

    fn text(&mut self, item_id: &str, content_index: u64, delta: &str, out: &mut Decoded) {
        if delta.is_empty() {
            return;
        }
        let part = match self
            .texts
            .iter()
            .find(|t| t.item_id == item_id && t.content_index == content_index)
        {
            Some(t) => t.part,
            None => self.text_part(item_id, content_index, out),
        };
        out.push(Ok(Chunk::text(part, delta)));
    }

    /// Opens the text part of `item_id`'s part `content_index`.
    fn text_part(&mut self, item_id: &str, content_index: u64, out: &mut Decoded) -> usize {
        let part = self.parts.take();
        let open = OpenText {
            item_id: item_id.to_string(),
            content_index,
            part,
        };
        self.texts.push(open.clone());
        self.text_parts.push(open);
        out.push(Ok(Chunk::TextStart { part }));
        part
    }

    fn thought(
        &mut self,
        item_id: &str,
        kind: ThoughtKind,
        index: u64,
        delta: &str,
        out: &mut Decoded,
    ) {
        if delta.is_empty() {
            return;
        }
        let part = match self
            .thoughts
            .iter()
            .find(|t| t.item_id == item_id && t.kind == kind && t.index == index)
        {
            Some(t) => t.part,
            None => {
                let part = self.parts.take();
                self.thoughts.push(OpenThought {
                    item_id: item_id.to_string(),
                    kind,
                    index,
                    part,
                });
                out.push(Ok(Chunk::ThoughtStart { part }));
                part
            }
        };
        out.push(Ok(Chunk::Thought {
            part,
            delta: Delta::new(delta),
        }));
    }

    /// An item the decoder does not interpret, whole: one provider part.
    fn provider_part(&mut self, provider: &str, item: OutputItem, out: &mut Decoded) {
        let part = self.parts.take();
        out.push(Ok(Chunk::provider_part(
            part, provider, item.kind, item.json,
        )));
    }

    /// The announced items whose `.done` never came, as announced.
    fn end_announced(&mut self, provider: &str, out: &mut Decoded) {
        for (_, item) in std::mem::take(&mut self.announced) {
            self.provider_part(provider, item, out);
        }
    }

    /// The open call of `item_id`, started if it is not open yet (a custom
    /// tool's when `custom`).
    fn call(
        &mut self,
        item_id: &str,
        call_id: Option<&str>,
        name: Option<&str>,
        custom: bool,
        out: &mut Decoded,
    ) -> usize {
        if let Some(i) = self.calls.iter().position(|c| c.item_id == item_id) {
            return i;
        }
        self.call_seen = true;
        let part = self.parts.take();
        // Tool outputs answer the `call_id`; the item id only stands in
        // when a server leaves it out.
        let call_id: Arc<str> = call_id.filter(|c| !c.is_empty()).unwrap_or(item_id).into();
        out.push(Ok(Chunk::ToolCallStart {
            part,
            id: call_id.clone(),
            name: name.unwrap_or_default().to_string(),
        }));
        if custom {
            out.push(Ok(Chunk::ToolCall {
                part,
                id: call_id.clone(),
                delta: Delta::new(CUSTOM_ARGS_OPEN),
            }));
        }
        self.calls.push(OpenCall {
            item_id: item_id.to_string(),
            call_id,
            part,
            custom,
            args: String::new(),
        });
        self.calls.len() - 1
    }

    fn call_args(&mut self, i: usize, delta: &str, out: &mut Decoded) {
        if delta.is_empty() {
            return;
        }
        let call = &mut self.calls[i];
        call.args.push_str(delta);
        let delta = if call.custom {
            Delta::new(&escape(delta))
        } else {
            Delta::new(delta)
        };
        out.push(Ok(Chunk::ToolCall {
            part: call.part,
            id: call.call_id.clone(),
            delta,
        }));
    }

    /// Ends call `i`; `full` (the arguments of a `.done` event, a custom
    /// call's input) fills in what the deltas did not carry.
    fn finish_call(&mut self, i: usize, full: Option<&str>, out: &mut Decoded) {
        if let Some(rest) = full.and_then(|f| f.strip_prefix(self.calls[i].args.as_str())) {
            if !rest.is_empty() {
                let rest = rest.to_string();
                self.call_args(i, &rest, out);
            }
        }
        let call = self.calls.remove(i);
        self.ended_calls.push(call.item_id.clone());
        if call.custom {
            out.push(Ok(Chunk::ToolCall {
                part: call.part,
                id: call.call_id.clone(),
                delta: Delta::new(CUSTOM_ARGS_CLOSE),
            }));
            // The item id marks the call as a custom tool's for the
            // request builder.
            out.push(Ok(Chunk::ToolCallEnd {
                part: call.part,
                id: call.call_id,
                signature: Some(call.item_id),
            }));
        } else {
            out.push(Ok(Chunk::tool_call_end(call.part, call.call_id)));
        }
    }

    fn end_texts(&mut self, out: &mut Decoded, which: impl Fn(&OpenText) -> bool) {
        let (done, open): (Vec<_>, Vec<_>) = std::mem::take(&mut self.texts)
            .into_iter()
            .partition(|t| which(t));
        self.texts = open;
        for t in done {
            out.push(Ok(Chunk::TextEnd { part: t.part }));
        }
    }

    /// Ends the thoughts `which` selects, each with its item id as the
    /// signature; the last thought of an item carries its encrypted content.
    fn end_thoughts(&mut self, out: &mut Decoded, which: impl Fn(&OpenThought) -> bool) {
        let (done, open): (Vec<_>, Vec<_>) = std::mem::take(&mut self.thoughts)
            .into_iter()
            .partition(|t| which(t));
        self.thoughts = open;
        for (n, t) in done.iter().enumerate() {
            let last_of_item = !done[n + 1..].iter().any(|o| o.item_id == t.item_id);
            let redacted = if last_of_item {
                self.encrypted
                    .iter()
                    .position(|(i, _)| *i == t.item_id)
                    .map(|pos| self.encrypted.remove(pos).1)
            } else {
                None
            };
            out.push(Ok(Chunk::ThoughtEnd {
                part: t.part,
                signature: Some(t.item_id.clone()),
                redacted,
            }));
        }
    }
}

impl Protocol for Responses {
    type Event = SseEvent;

    fn event(&mut self, wire: &Wire, event: SseRef<'_>, out: &mut Decoded) -> Result<Flow, Error> {
        let data = event.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(Flow::Continue);
        }
        // The hot events first, borrowed; with raw events on, every event
        // is read as a ResponsesEvent, the raw chunk's type.
        if !wire.raw_events() {
            if let Ok(hot) = serde_json::from_str::<ResponsesDeltaEvent>(data) {
                if self.on_hot(hot, out) {
                    return Ok(Flow::Continue);
                }
            }
        }
        let parsed = wire
            .parse::<ResponsesEvent>(out, event.data, data)
            .map_err(|e| {
                crate::errors::malformed(format_args!("{} event", event.event), e, data)
            })?;
        self.on_event(wire.provider(), parsed, out)
    }

    /// Before a terminal event the response was cut short.
    fn end(&mut self, _: &Wire, _: &mut Decoded) -> Result<(), Error> {
        Err(crate::errors::cut_short(
            "response.completed, response.incomplete or response.failed",
        ))
    }

    fn interrupt(&mut self, _: &Wire, out: &mut Decoded) {
        self.end_texts(out, |_| true);
        self.end_thoughts(out, |_| true);
    }
}

/// Of a `function_call` or `custom_tool_call` item: whether it is a custom
/// tool's, and its arguments (a custom call's input).
fn call_fields(item: &OutputItem) -> (bool, Option<&str>) {
    let custom = item.kind == "custom_tool_call";
    let args = if custom { &item.input } else { &item.arguments };
    (custom, args.as_deref())
}

/// Core [`Usage`] from a Responses `usage` object.
pub fn usage_from_wire(u: &ResponseUsage) -> Usage {
    Usage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cache_read_tokens: u
            .input_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens),
        reasoning_tokens: u
            .output_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens),
        ..Default::default()
    }
}

/// A string code, or a number written out.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A typed error from an error object: by `code`, else `type`.
fn object_error(provider: &str, e: &ResponsesErrorObject, fallback: &str) -> Error {
    let code = e
        .code
        .as_ref()
        .and_then(value_text)
        .or_else(|| e.kind.clone().filter(|k| !k.is_empty()));
    let message = e
        .message
        .as_deref()
        .filter(|m| !m.is_empty())
        .unwrap_or(fallback);
    error_from_code(provider, code.as_deref(), Some(message))
}

/// A Responses annotation as a [`Citation`]: `url_citation` (a span of
/// the text citing a URL), `file_citation` and `container_file_citation`
/// (a file; `index` is where in the text), `file_path`.
fn citation_of(annotation: Value) -> Citation {
    let text = |key: &str| crate::decode::str_field(&annotation, key);
    let index = |key: &str| crate::decode::index_field(&annotation, key);
    let kind = match annotation.get("type").and_then(Value::as_str) {
        Some("url_citation") => CitationKind::Url,
        Some("file_citation" | "container_file_citation" | "file_path") => CitationKind::File,
        _ => CitationKind::Other,
    };
    Citation {
        url: text("url"),
        title: text("title"),
        file_id: text("file_id"),
        filename: text("filename"),
        start: index("start_index").or_else(|| index("index")),
        end: index("end_index"),
        ..Citation::new(kind, annotation.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::EventDecoder;
    use rivulet_core::{ErrorKind, Response};

    fn run(events: &[&str]) -> (Vec<Chunk>, Option<Error>) {
        let mut d = ResponsesDecoder::new("openai-responses");
        let mut out = Vec::new();
        for e in events {
            out.extend(d.feed(&SseEvent::message(*e)));
        }
        out.extend(d.finish());
        let mut chunks = Vec::new();
        let mut err = None;
        for c in out {
            match c {
                Ok(c) => chunks.push(c),
                Err(e) => err = Some(e),
            }
        }
        (chunks, err)
    }

    fn fold(chunks: &[Chunk]) -> Response {
        let mut r = Response::default();
        for c in chunks {
            r.apply(c);
        }
        r
    }

    #[test]
    fn interleaved_function_calls_by_item_id() {
        let (chunks, err) = run(&[
            r#"{"type":"response.output_item.added","item":{"type":"function_call","id":"fc_a","call_id":"call_a","name":"f","arguments":""}}"#,
            r#"{"type":"response.output_item.added","item":{"type":"function_call","id":"fc_b","call_id":"call_b","name":"g","arguments":""}}"#,
            r#"{"type":"response.function_call_arguments.delta","item_id":"fc_b","delta":"{\"y\":"}"#,
            r#"{"type":"response.function_call_arguments.delta","item_id":"fc_a","delta":"{\"x\":1}"}"#,
            r#"{"type":"response.function_call_arguments.done","item_id":"fc_b","arguments":"{\"y\":2}"}"#,
            r#"{"type":"response.output_item.done","item":{"type":"function_call","id":"fc_a","call_id":"call_a","name":"f","arguments":"{\"x\":1}"}}"#,
            r#"{"type":"response.completed","response":{"status":"completed"}}"#,
        ]);
        assert!(err.is_none(), "{err:?}");
        let r = fold(&chunks);
        let calls = r.tool_calls();
        assert_eq!(calls.len(), 2);
        assert_eq!(
            (calls[0].id.as_str(), calls[0].args.as_str()),
            ("call_a", "{\"x\":1}")
        );
        assert_eq!(
            (calls[1].id.as_str(), calls[1].args.as_str()),
            ("call_b", "{\"y\":2}")
        );
        assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls));
        assert_eq!(r.raw_finish_reason.as_deref(), Some("completed"));
    }

    #[test]
    fn encrypted_reasoning_is_kept_with_the_item_id() {
        let (chunks, _) = run(&[
            r#"{"type":"response.output_item.added","item":{"type":"reasoning","id":"rs_1","summary":[]}}"#,
            r#"{"type":"response.reasoning_summary_text.delta","item_id":"rs_1","summary_index":0,"delta":"a"}"#,
            r#"{"type":"response.reasoning_summary_text.delta","item_id":"rs_1","summary_index":1,"delta":"b"}"#,
            r#"{"type":"response.output_item.done","item":{"type":"reasoning","id":"rs_1","encrypted_content":"gAAA"}}"#,
            r#"{"type":"response.output_item.done","item":{"type":"reasoning","id":"rs_2","encrypted_content":"gBBB"}}"#,
            r#"{"type":"response.completed","response":{}}"#,
        ]);
        let r = fold(&chunks);
        let t = r.thoughts();
        assert_eq!(t.len(), 3);
        assert_eq!(
            (
                t[0].thought.as_str(),
                t[0].signature.as_deref(),
                t[0].redacted.as_deref()
            ),
            ("a", Some("rs_1"), None)
        );
        assert_eq!(
            (
                t[1].thought.as_str(),
                t[1].signature.as_deref(),
                t[1].redacted.as_deref()
            ),
            ("b", Some("rs_1"), Some("gAAA"))
        );
        assert_eq!(
            (
                t[2].thought.as_str(),
                t[2].signature.as_deref(),
                t[2].redacted.as_deref()
            ),
            ("", Some("rs_2"), Some("gBBB"))
        );
        assert_eq!(r.finish_reason, Some(FinishReason::Stop));
    }

    #[test]
    fn both_error_shapes() {
        let (_, err) = run(&[
            r#"{"type":"error","code":"rate_limit_exceeded","message":"slow down","param":null}"#,
        ]);
        let err = err.unwrap();
        assert_eq!(err.kind(), ErrorKind::RateLimit);
        assert_eq!(err.message(), "slow down");
        assert_eq!(err.code(), Some("rate_limit_exceeded"));
        let (_, err) = run(&[
            r#"{"type":"error","error":{"type":"server_error","code":null,"message":"boom"}}"#,
        ]);
        let err = err.unwrap();
        assert_eq!(err.kind(), ErrorKind::Server);
        assert_eq!(err.code(), Some("server_error"));
        let (chunks, err) = run(&[
            r#"{"type":"response.output_text.delta","item_id":"m","content_index":0,"delta":"par"}"#,
            r#"{"type":"response.failed","response":{"status":"failed","error":{"code":"server_error","message":"The model failed"}}}"#,
        ]);
        let err = err.unwrap();
        assert_eq!(err.kind(), ErrorKind::Server);
        assert_eq!(err.message(), "The model failed");
        assert_eq!(fold(&chunks).text(), "par");
        assert_eq!(chunks.last(), Some(&Chunk::TextEnd { part: 0 }));
    }

    #[test]
    fn unknown_events_are_ignored_and_eof_is_cut_short() {
        let (chunks, err) = run(&[
            r#"{"type":"response.web_search_call.searching","item_id":"ws","output_index":0,"delta":{"odd":true}}"#,
            r#"{"type":"response.output_text.delta","item_id":"m","content_index":0,"delta":"x"}"#,
        ]);
        assert_eq!(err.unwrap().kind(), ErrorKind::Connection);
        assert_eq!(fold(&chunks).text(), "x");
    }

    #[test]
    fn custom_tool_input_is_escaped_and_filled_in_by_done() {
        let (chunks, err) = run(&[
            r#"{"type":"response.output_item.added","item":{"id":"ctc_1","type":"custom_tool_call","status":"in_progress","call_id":"call_1","input":"","name":"exec"}}"#,
            r#"{"type":"response.custom_tool_call_input.delta","delta":"echo \"h\u00e9\"\n","item_id":"ctc_1","output_index":0}"#,
            r#"{"type":"response.custom_tool_call_input.done","input":"echo \"h\u00e9\"\nls\t\\","item_id":"ctc_1","output_index":0}"#,
            r#"{"type":"response.output_item.done","item":{"id":"ctc_1","type":"custom_tool_call","status":"completed","call_id":"call_1","input":"echo \"h\u00e9\"\nls\t\\","name":"exec"}}"#,
            r#"{"type":"response.completed","response":{"status":"completed"}}"#,
        ]);
        assert!(err.is_none(), "{err:?}");
        let deltas: Vec<&str> = chunks
            .iter()
            .filter_map(|c| match c {
                Chunk::ToolCall { delta, .. } => Some(&**delta),
                _ => None,
            })
            .collect();
        assert_eq!(
            deltas,
            [r#"{"input":""#, r#"echo \"hé\"\n"#, r#"ls\t\\"#, r#""}"#]
        );
        let r = fold(&chunks);
        let call = r.tool_calls()[0];
        assert_eq!(call.args, r#"{"input":"echo \"hé\"\nls\t\\"}"#);
        assert_eq!(
            call.args_json().unwrap(),
            serde_json::json!({"input": "echo \"hé\"\nls\t\\"})
        );
        assert_eq!(call.signature.as_deref(), Some("ctc_1"));
        assert_eq!(custom_input(&call.args), "echo \"hé\"\nls\t\\");
        assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls));
    }

    #[test]
    fn a_custom_call_cut_off_stays_open() {
        let (chunks, err) = run(&[
            r#"{"type":"response.output_item.added","item":{"id":"ctc_1","type":"custom_tool_call","call_id":"call_1","name":"exec"}}"#,
            r#"{"type":"response.custom_tool_call_input.delta","delta":"rm -rf /tmp/x","item_id":"ctc_1"}"#,
        ]);
        assert_eq!(err.unwrap().kind(), ErrorKind::Connection);
        let r = fold(&chunks);
        assert!(r.tool_calls().is_empty());
        assert_eq!(
            r.incomplete_tool_calls()[0].args,
            r#"{"input":"rm -rf /tmp/x"#
        );
    }

    #[test]
    fn other_items_are_provider_parts_never_dropped() {
        let (chunks, err) = run(&[
            // Announced, never done: kept as announced at the end.
            r#"{"type":"response.output_item.added","item":{"id":"ig_1","type":"image_generation_call","status":"generating"}}"#,
            // A field named as one the decoder reads, of another shape.
            r#"{"type":"response.output_item.done","item":{"id":"ts_1","type":"tool_search_call","arguments":{"q":1},"input":[1]}}"#,
            // No id, a type from the future.
            r#"{"type":"response.output_item.done","item":{"type":"hologram_call","depth":3}}"#,
            r#"{"type":"response.output_text.delta","item_id":"m","content_index":0,"delta":"ok"}"#,
            r#"{"type":"response.completed","response":{"status":"completed"}}"#,
        ]);
        assert!(err.is_none(), "{err:?}");
        let r = fold(&chunks);
        let provider: Vec<(&str, serde_json::Value)> = r
            .content
            .iter()
            .filter_map(|p| match p {
                rivulet_core::ContentPart::Provider(p) => {
                    assert_eq!(p.provider, "openai-responses");
                    Some((p.kind.as_str(), p.json.clone()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            provider,
            [
                (
                    "tool_search_call",
                    serde_json::json!({"id":"ts_1","type":"tool_search_call","arguments":{"q":1},"input":[1]})
                ),
                (
                    "hologram_call",
                    serde_json::json!({"type":"hologram_call","depth":3})
                ),
                (
                    "image_generation_call",
                    serde_json::json!({"id":"ig_1","type":"image_generation_call","status":"generating"})
                ),
            ]
        );
        assert_eq!(r.text(), "ok");
        assert!(r.tool_calls().is_empty());
        assert_eq!(r.finish_reason, Some(FinishReason::Stop));
    }

    #[test]
    fn incomplete_leaves_cut_calls_open() {
        let (chunks, err) = run(&[
            r#"{"type":"response.output_item.added","item":{"type":"function_call","id":"fc","call_id":"c","name":"f"}}"#,
            r#"{"type":"response.function_call_arguments.delta","item_id":"fc","delta":"{\"a\":"}"#,
            r#"{"type":"response.incomplete","response":{"status":"incomplete","incomplete_details":{"reason":"content_filter"}}}"#,
        ]);
        assert!(err.is_none());
        let r = fold(&chunks);
        assert!(r.tool_calls().is_empty());
        assert_eq!(r.incomplete_tool_calls().len(), 1);
        assert_eq!(r.finish_reason, Some(FinishReason::ContentFilter));
        assert_eq!(r.raw_finish_reason.as_deref(), Some("content_filter"));
    }
}
