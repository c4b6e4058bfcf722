//! Bedrock ConverseStream decoding: a pure state machine from eventstream
//! messages to core [`Chunk`]s.
//!
//! The rules:
//! - blocks are keyed by `contentBlockIndex`: `contentBlockStart` with
//!   `toolUse` starts a tool call (id = `toolUseId`); text and reasoning
//!   blocks start at their first delta (`text` → text,
//!   `reasoningContent.text` → thought; `signature` and `redactedContent`
//!   are kept for the thought's end, a redacted block is a thought without
//!   text); `contentBlockStop` ends the block;
//! - a server tool (`toolUse` with `type: "server_tool_use"`, e.g.
//!   Nova's `nova_code_interpreter`: the server runs it) and its
//!   `toolResult` are not tool calls: each is one `provider_part_chunk`
//!   when its block stops, holding the block as Converse shows it
//!   (`{"toolUse": {…, "input": <the streamed input, parsed>}}`,
//!   `{"toolResult": {…, "content": [<the streamed pieces>]}}`), with the
//!   block's `type` as kind; a block of a kind added after this was written
//!   is kept the same way;
//! - the structured-output tool (see [`BedrockDecoder::format_tool`]) is text:
//!   its `toolUse` start is a text start, its `toolUse.input` deltas text
//!   deltas (the JSON it writes), its end a text end;
//! - `messageStop` → the finish reason (`end_turn`, `stop_sequence` →
//!   `stop`; `tool_use` → `tool_calls`; `max_tokens`;
//!   `guardrail_intervened`, `content_filtered` → `content_filter`;
//!   `model_context_window_exceeded` → `context_length_exceeded`; raw kept;
//!   `tool_use` when only the structured-output tool was called → `stop`);
//! - `metadata` → usage, and the end of the stream; EOF after
//!   `messageStop` is a normal end too, EOF before it a cut-short stream (a connection error);
//! - exception messages (`:message-type: exception`) → typed errors by
//!   `:exception-type`, keeping everything before them.
//!
//! Open text and thoughts end on an error; tool calls end only at their
//! `contentBlockStop` or a clean `messageStop` (never after `max_tokens` or
//! an error: a cut-off call must never run). Server blocks end at their
//! `contentBlockStop` or at `messageStop`, never on an error (as
//! Anthropic's provider blocks).

use std::sync::Arc;

use rivulet_core::{Chunk, Error, ErrorContext, FinishReason, Usage};
use serde_json::{Map, Value};

use super::bedrock_wire::{
    BedrockBlockDelta, BedrockEvent, BedrockMessageStart, BlockStart, ContentBlockDelta,
    ContentBlockStart, ContentBlockStop, ExceptionPayload, MessageStop, Metadata, TextBlockDelta,
    TokenUsage,
};
use crate::decode::{
    Decoded, Driver, FastPath, Flow, FormatToolProtocol, Parts, Protocol, UsageTracker, Wire,
};
use crate::errors::error_from_code;
use crate::errors::truncate;
use crate::eventstream::EventStreamMessage;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BedrockKind {
    Text,
    Thought,
    Tool,
    /// The structured-output tool: its input streamed as text.
    Format,
}

#[derive(Clone, Debug)]
struct BedrockBlock {
    index: u64,
    kind: BedrockKind,
    part: usize,
    /// Tool calls: the call id.
    id: Arc<str>,
    signature: Option<String>,
    redacted: Option<String>,
}

/// A block the server produced and ran itself (a server tool's `toolUse`,
/// its `toolResult`, or a kind of block this decoder does not know): kept
/// whole, as a provider part, when it stops.
#[derive(Clone, Debug)]
struct ServerBlock {
    index: u64,
    /// The block's key in Converse: `toolUse`, `toolResult`, …
    key: String,
    /// The provider part's kind: the block's `type`, else its key.
    kind: String,
    /// The block's fields from its start.
    fields: Value,
    /// `toolUse`: the input's JSON text, from the deltas.
    input: String,
    /// `toolResult`: the content pieces, from the deltas.
    content: Vec<Value>,
}

impl ServerBlock {
    fn new(index: u64, key: &str, fields: Value) -> Self {
        let kind = fields
            .get("type")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
            .unwrap_or(key)
            .to_string();
        ServerBlock {
            index,
            key: key.to_string(),
            kind,
            fields,
            input: String::new(),
            content: Vec::new(),
        }
    }

    /// The block as Converse shows it, with what its deltas carried.
    fn into_json(self) -> Value {
        let mut fields = self.fields;
        if let Value::Object(m) = &mut fields {
            if self.key == "toolUse" {
                // A document, as a client tool's input: `{}` when nothing
                // came, the raw text when it is not JSON.
                let input = if self.input.trim().is_empty() {
                    Value::Object(Map::new())
                } else {
                    serde_json::from_str(&self.input).unwrap_or(Value::String(self.input))
                };
                m.insert("input".into(), input);
            } else if self.key == "toolResult" || !self.content.is_empty() {
                m.insert("content".into(), Value::Array(self.content));
            }
        }
        let mut block = Map::new();
        block.insert(self.key, fields);
        Value::Object(block)
    }
}

/// The ConverseStream decoder.
///
/// ```
/// use rivulet_core::Response;
/// use rivulet_providers::bedrock::BedrockDecoder;
/// use rivulet_providers::decode::EventDecoder;
/// use rivulet_providers::eventstream::{Header, EventStreamMessage};
///
/// let event = |kind: &str, json: &str| {
///     EventStreamMessage::new(
///         vec![
///             Header::string(":event-type", kind),
///             Header::string(":message-type", "event"),
///         ],
///         json.as_bytes().to_vec(),
///     )
/// };
/// let mut d = BedrockDecoder::new("bedrock");
/// let mut r = Response::default();
/// for m in [
///     event("contentBlockDelta", r#"{"contentBlockIndex":0,"delta":{"text":"Hi"},"p":"abc"}"#),
///     event("contentBlockStop", r#"{"contentBlockIndex":0}"#),
///     event("messageStop", r#"{"stopReason":"end_turn"}"#),
///     event("metadata", r#"{"usage":{"inputTokens":3,"outputTokens":1,"totalTokens":4}}"#),
/// ] {
///     for c in d.feed(&m) {
///         r.apply(&c.unwrap());
///     }
/// }
/// assert!(d.is_done());
/// assert_eq!(r.text(), "Hi");
/// assert_eq!(r.usage.input_tokens, Some(3));
/// ```
pub type BedrockDecoder = Driver<ConverseStream>;

/// The ConverseStream protocol: what each event means.
#[derive(Debug, Default)]
pub struct ConverseStream {
    parts: Parts,
    blocks: Vec<BedrockBlock>,
    /// Open server blocks (see [`ServerBlock`]).
    server: Vec<ServerBlock>,
    usage: UsageTracker,
    /// `messageStop` seen: only `metadata` should follow, and the body may
    /// end.
    stopped: bool,
    format_tool: Option<String>,
    /// Tool calls started (the format tool's excluded).
    tool_calls: usize,
    /// Whether the format tool was called.
    format_called: bool,
    /// The fast path of text deltas ([`TextBlockDelta`]).
    text_deltas: FastPath,
}

impl BedrockDecoder {
    /// A decoder for `provider` (used in errors and raw events); raw
    /// events are each message as the SDKs show it
    /// (`{"contentBlockDelta": {…}}`, typed as [`BedrockEvent`]).
    pub fn new(provider: &str) -> Self {
        Driver::with(provider, ConverseStream::default())
    }
}

impl FormatToolProtocol for ConverseStream {
    fn format_tool_mut(&mut self) -> &mut Option<String> {
        &mut self.format_tool
    }
}

impl ConverseStream {
    fn on_event(&mut self, provider: &str, event: BedrockEvent, out: &mut Decoded) -> Flow {
        match event {
            BedrockEvent::MessageStart(BedrockMessageStart { .. }) => {}
            BedrockEvent::ContentBlockStart(ContentBlockStart {
                content_block_index,
                start,
            }) => {
                if let Some(start) = start {
                    self.start(content_block_index, start, out);
                }
            }
            BedrockEvent::ContentBlockDelta(ContentBlockDelta {
                content_block_index: index,
                delta,
            }) => self.delta(index, delta.unwrap_or_default(), out),
            BedrockEvent::ContentBlockStop(ContentBlockStop {
                content_block_index,
            }) => {
                let (done, open): (Vec<_>, Vec<_>) = std::mem::take(&mut self.blocks)
                    .into_iter()
                    .partition(|b| b.index == content_block_index);
                self.blocks = open;
                for b in done {
                    out.push(Ok(end_chunk(b)));
                }
                self.end_server(provider, out, |b| b.index == content_block_index);
            }
            BedrockEvent::MessageStop(MessageStop { stop_reason, .. }) => {
                if self.stopped {
                    return Flow::Continue;
                }
                let raw = stop_reason.unwrap_or_default();
                let reason = match finish_reason(&raw) {
                    // Only the structured-output tool was called: the
                    // answer is done.
                    FinishReason::ToolCalls if self.format_called && self.tool_calls == 0 => {
                        FinishReason::Stop
                    }
                    other => other,
                };
                let clean = matches!(reason, FinishReason::Stop | FinishReason::ToolCalls);
                let (ending, cut): (Vec<_>, Vec<_>) = std::mem::take(&mut self.blocks)
                    .into_iter()
                    .partition(|b| clean || b.kind != BedrockKind::Tool);
                // Tool calls cut by the stop stay open (never run).
                self.blocks = cut;
                for b in ending {
                    out.push(Ok(end_chunk(b)));
                }
                // What the server ran is done whatever the stop.
                self.end_server(provider, out, |_| true);
                out.push(Ok(Chunk::FinishReason { reason, raw }));
                self.stopped = true;
            }
            BedrockEvent::Metadata(Metadata { usage, .. }) => {
                if let Some(u) = usage {
                    self.usage.report(usage_from_wire(&u), out);
                }
                if self.stopped {
                    return Flow::Done;
                }
            }
        }
        Flow::Continue
    }

    /// A `contentBlockStart`: a client tool call (the format tool's as
    /// text), or a server block.
    fn start(&mut self, index: u64, start: BlockStart, out: &mut Decoded) {
        if let Some(tool) = start.tool_use {
            if tool.kind.as_deref() == Some("server_tool_use") {
                let mut fields = tool.other;
                if let Some(id) = tool.tool_use_id {
                    fields.insert("toolUseId".into(), Value::String(id));
                }
                if let Some(name) = tool.name {
                    fields.insert("name".into(), Value::String(name));
                }
                fields.insert("type".into(), Value::String("server_tool_use".into()));
                self.server
                    .push(ServerBlock::new(index, "toolUse", Value::Object(fields)));
                return;
            }
            let kind = if tool.name.is_some() && tool.name == self.format_tool {
                BedrockKind::Format
            } else {
                BedrockKind::Tool
            };
            self.block(index, kind, tool.tool_use_id, tool.name, out);
        } else if let Some(result) = start.tool_result {
            self.server
                .push(ServerBlock::new(index, "toolResult", Value::Object(result)));
        } else if let Some((key, fields)) = start.other.into_iter().next() {
            self.server.push(ServerBlock::new(index, &key, fields));
        }
    }

    /// Ends the server blocks `which` selects: one provider part each.
    fn end_server(
        &mut self,
        provider: &str,
        out: &mut Decoded,
        which: impl Fn(&ServerBlock) -> bool,
    ) {
        let (done, open): (Vec<_>, Vec<_>) = std::mem::take(&mut self.server)
            .into_iter()
            .partition(|b| which(b));
        self.server = open;
        for b in done {
            // Numbered when it ends: it is one chunk, so its part cannot
            // come before a part that already showed.
            let part = self.parts.take();
            let kind = b.kind.clone();
            out.push(Ok(Chunk::provider_part(
                part,
                provider,
                kind,
                b.into_json(),
            )));
        }
    }

    /// The open block of `index` and `kind`, started if needed.
    fn block(
        &mut self,
        index: u64,
        kind: BedrockKind,
        id: Option<String>,
        name: Option<String>,
        out: &mut Decoded,
    ) -> usize {
        if let Some(i) = self
            .blocks
            .iter()
            .position(|b| b.index == index && b.kind == kind)
        {
            return i;
        }
        let part = self.parts.take();
        match kind {
            BedrockKind::Tool => self.tool_calls += 1,
            BedrockKind::Format => self.format_called = true,
            BedrockKind::Text | BedrockKind::Thought => {}
        }
        let id: Arc<str> = match kind {
            BedrockKind::Tool => id
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| format!("tooluse_{index}"))
                .into(),
            _ => Arc::from(""),
        };
        out.push(Ok(match kind {
            BedrockKind::Text | BedrockKind::Format => Chunk::TextStart { part },
            BedrockKind::Thought => Chunk::ThoughtStart { part },
            BedrockKind::Tool => Chunk::ToolCallStart {
                part,
                id: id.clone(),
                name: name.unwrap_or_default(),
            },
        }));
        self.blocks.push(BedrockBlock {
            index,
            kind,
            part,
            id,
            signature: None,
            redacted: None,
        });
        self.blocks.len() - 1
    }

    /// A text delta of block `index`: the text part's chunk, the part
    /// started first if needed. Empty text is nothing.
    fn text(&mut self, index: u64, text: &str, out: &mut Decoded) {
        if text.is_empty() {
            return;
        }
        let i = self.block(index, BedrockKind::Text, None, None, out);
        out.push(Ok(Chunk::Text {
            part: self.blocks[i].part,
            delta: text.into(),
        }));
    }

    fn delta(&mut self, index: u64, delta: BedrockBlockDelta, out: &mut Decoded) {
        if let Some(text) = delta.text {
            self.text(index, &text, out);
        }
        if let Some(result) = delta.tool_result {
            let i = match self.server.iter().position(|b| b.index == index) {
                Some(i) => i,
                // A result that never started: kept all the same.
                None => {
                    self.server.push(ServerBlock::new(
                        index,
                        "toolResult",
                        Value::Object(Map::new()),
                    ));
                    self.server.len() - 1
                }
            };
            match result {
                Value::Array(pieces) => self.server[i].content.extend(pieces),
                Value::Null => {}
                piece => self.server[i].content.push(piece),
            }
        }
        if let Some(input) = delta
            .tool_use
            .and_then(|t| t.input)
            .filter(|t| !t.is_empty())
        {
            let server = self.server.iter_mut().find(|b| b.index == index);
            let format = self
                .blocks
                .iter()
                .find(|b| b.index == index && b.kind == BedrockKind::Format);
            if let Some(b) = server {
                b.input.push_str(&input);
            } else if let Some(b) = format {
                out.push(Ok(Chunk::Text {
                    part: b.part,
                    delta: input.into(),
                }));
            } else {
                let i = self.block(index, BedrockKind::Tool, None, None, out);
                let b = &self.blocks[i];
                out.push(Ok(Chunk::ToolCall {
                    part: b.part,
                    id: b.id.clone(),
                    delta: input.into(),
                }));
            }
        }
        if let Some(r) = delta.reasoning_content {
            if let Some(text) = r.text.filter(|t| !t.is_empty()) {
                let i = self.block(index, BedrockKind::Thought, None, None, out);
                out.push(Ok(Chunk::Thought {
                    part: self.blocks[i].part,
                    delta: text.into(),
                }));
            }
            if let Some(sig) = r.signature.filter(|s| !s.is_empty()) {
                let i = self.block(index, BedrockKind::Thought, None, None, out);
                self.blocks[i]
                    .signature
                    .get_or_insert_with(String::new)
                    .push_str(&sig);
            }
            if let Some(red) = r.redacted_content.filter(|s| !s.is_empty()) {
                let i = self.block(index, BedrockKind::Thought, None, None, out);
                self.blocks[i]
                    .redacted
                    .get_or_insert_with(String::new)
                    .push_str(&red);
            }
        }
    }

    /// The error of an exception message.
    fn on_exception(provider: &str, kind: &str, payload: &str) -> Error {
        let message = serde_json::from_str::<ExceptionPayload>(payload)
            .ok()
            .and_then(|p| p.message)
            .unwrap_or_else(|| truncate(payload, 300));
        exception_error(provider, kind, &message)
    }
}

fn end_chunk(b: BedrockBlock) -> Chunk {
    match b.kind {
        BedrockKind::Text | BedrockKind::Format => Chunk::TextEnd { part: b.part },
        BedrockKind::Thought => Chunk::ThoughtEnd {
            part: b.part,
            signature: b.signature,
            redacted: b.redacted,
        },
        BedrockKind::Tool => Chunk::tool_call_end(b.part, b.id),
    }
}

impl Protocol for ConverseStream {
    type Event = EventStreamMessage;

    fn event(
        &mut self,
        wire: &Wire,
        message: &EventStreamMessage,
        out: &mut Decoded,
    ) -> Result<Flow, Error> {
        let payload = String::from_utf8_lossy(message.payload());
        let payload = payload.trim();
        let provider = wire.provider();
        let message_type = message.str_header(":message-type").unwrap_or("event");
        match message_type {
            "event" => {
                let kind = message.str_header(":event-type").unwrap_or_default();
                if kind == "contentBlockDelta" && !wire.raw_events() {
                    // The common delta, read borrowed (see
                    // `TextBlockDelta`); it decodes exactly as the whole
                    // parse would.
                    if let Some(d) = self.text_deltas.read::<TextBlockDelta>(payload) {
                        self.text(d.content_block_index, &d.delta.text, out);
                        return Ok(Flow::Continue);
                    }
                }
                let parsed = match kind {
                    "messageStart" => serde_json::from_str(payload).map(BedrockEvent::MessageStart),
                    "contentBlockStart" => {
                        serde_json::from_str(payload).map(BedrockEvent::ContentBlockStart)
                    }
                    "contentBlockDelta" => {
                        serde_json::from_str(payload).map(BedrockEvent::ContentBlockDelta)
                    }
                    "contentBlockStop" => {
                        serde_json::from_str(payload).map(BedrockEvent::ContentBlockStop)
                    }
                    "messageStop" => serde_json::from_str(payload).map(BedrockEvent::MessageStop),
                    "metadata" => serde_json::from_str(payload).map(BedrockEvent::Metadata),
                    // An event type added after this was written: ignored.
                    _ => {
                        wire.push_raw::<BedrockEvent>(out, &sdk_json(kind, payload), None);
                        return Ok(Flow::Continue);
                    }
                };
                let event = parsed.map_err(|e| {
                    crate::errors::malformed(format_args!("{kind} event"), e, payload)
                })?;
                if wire.raw_events() {
                    wire.push_raw(out, &sdk_json(kind, payload), Some(event.clone()));
                }
                Ok(self.on_event(provider, event, out))
            }
            "exception" => {
                let kind = message
                    .str_header(":exception-type")
                    .unwrap_or("exception")
                    .to_string();
                wire.push_raw::<BedrockEvent>(out, &sdk_json(&kind, payload), None);
                Err(Self::on_exception(provider, &kind, payload))
            }
            "error" => {
                let code = message.str_header(":error-code").map(String::from);
                let text = message
                    .str_header(":error-message")
                    .map(String::from)
                    .unwrap_or_else(|| truncate(payload, 300));
                Err(error_from_code(provider, code.as_deref(), Some(&text)))
            }
            _ => Ok(Flow::Continue),
        }
    }

    /// After `messageStop` the end of the body is a normal end (the
    /// `metadata` never came); before it, the response was cut short.
    fn end(&mut self, _: &Wire, _: &mut Decoded) -> Result<(), Error> {
        if self.stopped {
            Ok(())
        } else {
            Err(crate::errors::cut_short("messageStop"))
        }
    }

    fn interrupt(&mut self, _: &Wire, out: &mut Decoded) {
        let (ending, tools): (Vec<_>, Vec<_>) = std::mem::take(&mut self.blocks)
            .into_iter()
            .partition(|b| b.kind != BedrockKind::Tool);
        self.blocks = tools;
        for b in ending {
            out.push(Ok(end_chunk(b)));
        }
    }
}

/// `{"<kind>": <payload>}`: the SDKs' shape of an event.
fn sdk_json(kind: &str, payload: &str) -> String {
    let payload = if payload.is_empty() { "{}" } else { payload };
    format!(
        "{{{}:{payload}}}",
        serde_json::Value::String(kind.to_string())
    )
}

/// The normalized finish reason of a Converse `stopReason`.
pub fn finish_reason(raw: &str) -> FinishReason {
    match raw {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "tool_use" => FinishReason::ToolCalls,
        "max_tokens" => FinishReason::MaxTokens,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        "model_context_window_exceeded" => FinishReason::ContextLengthExceeded,
        _ => FinishReason::Other,
    }
}

/// Core [`Usage`] from Converse `usage`.
///
/// Core counts cache reads and writes as parts of the input. Bedrock's
/// `inputTokens` leaves them out for the models that cache (Anthropic's
/// convention, where `totalTokens` is input + output + cache read + cache
/// write): that is detected from the total and the cache counts added to
/// the input.
pub fn usage_from_wire(u: &TokenUsage) -> Usage {
    let read = u.cache_read_input_tokens;
    let write = u.cache_write_input_tokens;
    let mut input = u.input_tokens;
    if let (Some(i), Some(o), Some(t)) = (u.input_tokens, u.output_tokens, u.total_tokens) {
        let cache = read.unwrap_or(0).saturating_add(write.unwrap_or(0));
        if cache > 0 && i.saturating_add(o).saturating_add(cache) == t {
            input = Some(i.saturating_add(cache));
        }
    }
    Usage {
        input_tokens: input,
        output_tokens: u.output_tokens,
        cache_read_tokens: read,
        cache_write_tokens: write,
        ..Default::default()
    }
}

/// A typed error from an exception message (`:exception-type`) or an
/// `x-amzn-errortype`.
pub fn exception_error(provider: &str, kind: &str, message: &str) -> Error {
    let ctx = Box::new(
        ErrorContext::new(message)
            .provider(provider)
            .code(kind.to_string()),
    );
    let name = kind.to_ascii_lowercase();
    match name.as_str() {
        "throttlingexception" => Error::RateLimit {
            retry_after: None,
            ctx,
        },
        "modelstreamerrorexception" | "internalserverexception" => {
            Error::Server { status: 500, ctx }
        }
        "validationexception" => Error::BadRequest { ctx },
        "serviceunavailableexception" => Error::Overloaded { ctx },
        "accessdeniedexception" => Error::PermissionDenied { ctx },
        "resourcenotfoundexception" => Error::NotFound { ctx },
        "modeltimeoutexception" => Error::Timeout {
            which: rivulet_core::TimeoutKind::FirstChunk,
            ctx,
        },
        "unrecognizedclientexception"
        | "invalidsignatureexception"
        | "expiredtokenexception"
        | "missingauthenticationtokenexception"
        | "incompletesignatureexception" => Error::Authentication { ctx },
        _ => error_from_code(provider, Some(kind), Some(message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::EventDecoder;
    use crate::eventstream::Header;
    use rivulet_core::{ErrorKind, Response};

    fn event(kind: &str, json: &str) -> EventStreamMessage {
        EventStreamMessage::new(
            vec![
                Header::string(":event-type", kind),
                Header::string(":content-type", "application/json"),
                Header::string(":message-type", "event"),
            ],
            json.as_bytes().to_vec(),
        )
    }

    fn exception(kind: &str, json: &str) -> EventStreamMessage {
        EventStreamMessage::new(
            vec![
                Header::string(":exception-type", kind),
                Header::string(":content-type", "application/json"),
                Header::string(":message-type", "exception"),
            ],
            json.as_bytes().to_vec(),
        )
    }

    /// Every recorded Bedrock stream decodes the same with
    /// [`TextBlockDelta`] tried first as with the whole parse only: the
    /// same chunks, the same errors, in the same order.
    #[test]
    fn the_text_delta_path_decodes_every_recording_as_the_whole_parse_does() {
        let root =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/wire/bedrock");
        let mut recordings = Vec::new();
        for f in std::fs::read_dir(&root).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_none_or(|e| e != "bin") {
                continue;
            }
            let messages: Vec<EventStreamMessage> =
                crate::eventstream::decode_pieces([std::fs::read(&f).unwrap()])
                    .into_iter()
                    .map(Result::unwrap)
                    .collect();
            // Every recording is a stream that decodes without an error.
            let lines =
                crate::decode::decoded_lines("bedrock", ConverseStream::default(), &messages);
            assert!(
                !lines.iter().any(|l| l.starts_with("Err")),
                "{}",
                f.display()
            );
            recordings.push((f, messages));
        }
        let files = recordings.len();
        let fast = crate::decode::assert_decodes_alike(
            "bedrock",
            &recordings,
            ConverseStream::default,
            || ConverseStream {
                text_deltas: FastPath::closed(),
                ..ConverseStream::default()
            },
            |m| {
                m.str_header(":event-type") == Some("contentBlockDelta")
                    && serde_json::from_slice::<TextBlockDelta>(m.payload()).is_ok()
            },
        );
        // The comparison covers the fast path, not only its refusals.
        assert!(
            files >= 5 && fast >= 10,
            "{files} files, {fast} fast deltas"
        );
    }

    #[test]
    fn a_text_delta_with_escapes_or_another_field_decodes_as_the_whole_parse_does() {
        let messages = [
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"a\"b\u00e9"},"p":"xy"}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":""}}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":1,"delta":{"text":"t","future":1}}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":2,"delta":{"reasoningContent":{"text":"hm"}}}"#,
            ),
            event("contentBlockStop", r#"{"contentBlockIndex":0}"#),
            event("messageStop", r#"{"stopReason":"end_turn"}"#),
        ];
        let whole = ConverseStream {
            text_deltas: FastPath::closed(),
            ..ConverseStream::default()
        };
        let lines = crate::decode::decoded_lines("bedrock", ConverseStream::default(), &messages);
        assert_eq!(
            lines,
            crate::decode::decoded_lines("bedrock", whole, &messages)
        );
        let (r, err) = run(&messages);
        assert!(err.is_none(), "{err:?}");
        // Two text parts (blocks 0 and 1), joined by a line.
        assert_eq!(r.text(), "a\"bé\nt");
    }

    fn run(messages: &[EventStreamMessage]) -> (Response, Option<Error>) {
        crate::decode::response_of(BedrockDecoder::new("bedrock"), messages)
    }

    #[test]
    fn exceptions_keep_what_came_before() {
        for (kind, want) in [
            ("throttlingException", ErrorKind::RateLimit),
            ("modelStreamErrorException", ErrorKind::Server),
            ("validationException", ErrorKind::BadRequest),
            ("internalServerException", ErrorKind::Server),
            ("serviceUnavailableException", ErrorKind::Overloaded),
            ("accessDeniedException", ErrorKind::PermissionDenied),
        ] {
            let (r, err) = run(&[
                event(
                    "contentBlockDelta",
                    r#"{"contentBlockIndex":0,"delta":{"text":"par"}}"#,
                ),
                exception(kind, r#"{"message":"went wrong"}"#),
                event(
                    "contentBlockDelta",
                    r#"{"contentBlockIndex":0,"delta":{"text":"tial"}}"#,
                ),
            ]);
            let err = err.unwrap();
            assert_eq!(err.kind(), want, "{kind}");
            assert_eq!(err.message(), "went wrong");
            assert_eq!(err.code(), Some(kind));
            assert_eq!(r.text(), "par");
        }
    }

    #[test]
    fn eof_after_message_stop_is_fine_before_it_is_not() {
        let (r, err) = run(&[
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"text":"a"}}"#,
            ),
            event("messageStop", r#"{"stopReason":"max_tokens"}"#),
        ]);
        assert!(err.is_none());
        assert_eq!(r.finish_reason, Some(FinishReason::MaxTokens));
        let (_, err) = run(&[event(
            "contentBlockDelta",
            r#"{"contentBlockIndex":0,"delta":{"text":"a"}}"#,
        )]);
        assert_eq!(err.unwrap().kind(), ErrorKind::Connection);
    }

    #[test]
    fn format_tool_beside_a_real_call_still_finishes_with_tool_calls() {
        let mut d = BedrockDecoder::new("bedrock").format_tool(Some("__fmt"));
        let mut r = Response::default();
        for m in [
            event(
                "contentBlockStart",
                r#"{"contentBlockIndex":0,"start":{"toolUse":{"toolUseId":"a","name":"__fmt"}}}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"toolUse":{"input":"{}"}}}"#,
            ),
            event(
                "contentBlockStart",
                r#"{"contentBlockIndex":1,"start":{"toolUse":{"toolUseId":"b","name":"f"}}}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":1,"delta":{"toolUse":{"input":"{}"}}}"#,
            ),
            event("messageStop", r#"{"stopReason":"tool_use"}"#),
        ] {
            for c in d.feed(&m) {
                r.apply(&c.unwrap());
            }
        }
        assert_eq!(r.text(), "{}");
        assert_eq!(r.tool_calls().len(), 1);
        assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls));
    }

    #[test]
    fn server_blocks_are_provider_parts_and_never_calls() {
        let (r, err) = run(&[
            event(
                "contentBlockStart",
                r#"{"contentBlockIndex":0,"start":{"toolUse":{"name":"nova_grounding","toolUseId":"t1","type":"server_tool_use"}}}"#,
            ),
            // No input came: `{}`.
            event("contentBlockStop", r#"{"contentBlockIndex":0}"#),
            // A result whose start never came, in two pieces.
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":1,"delta":{"toolResult":[{"text":"a"}]}}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":1,"delta":{"toolResult":[{"text":"b"}]}}"#,
            ),
            event("contentBlockStop", r#"{"contentBlockIndex":1}"#),
            // A kind of block from the future, still open at messageStop.
            event(
                "contentBlockStart",
                r#"{"contentBlockIndex":2,"start":{"hologram":{"depth":3}}}"#,
            ),
            event("messageStop", r#"{"stopReason":"end_turn"}"#),
        ]);
        assert!(err.is_none(), "{err:?}");
        let parts: Vec<_> = r
            .content
            .iter()
            .map(|p| match p {
                rivulet_core::ContentPart::Provider(p) => (p.kind.as_str(), p.json.clone()),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            parts,
            [
                (
                    "server_tool_use",
                    serde_json::json!({"toolUse": {"name": "nova_grounding", "toolUseId": "t1",
                                                   "type": "server_tool_use", "input": {}}})
                ),
                (
                    "toolResult",
                    serde_json::json!({"toolResult": {"content": [{"text": "a"}, {"text": "b"}]}})
                ),
                ("hologram", serde_json::json!({"hologram": {"depth": 3}})),
            ]
        );
        assert_eq!(r.finish_reason, Some(FinishReason::Stop));
    }

    #[test]
    fn a_server_block_cut_by_an_exception_is_not_kept() {
        let (r, err) = run(&[
            event(
                "contentBlockStart",
                r#"{"contentBlockIndex":0,"start":{"toolUse":{"name":"nova_code_interpreter","toolUseId":"t1","type":"server_tool_use"}}}"#,
            ),
            event(
                "contentBlockDelta",
                r#"{"contentBlockIndex":0,"delta":{"toolUse":{"input":"{\"snippet\":"}}}"#,
            ),
            exception("modelStreamErrorException", r#"{"message":"boom"}"#),
        ]);
        assert_eq!(err.unwrap().kind(), ErrorKind::Server);
        assert!(r.content.is_empty());
    }

    #[test]
    fn cache_tokens_join_the_input() {
        let u: TokenUsage = serde_json::from_str(
            r#"{"inputTokens":10,"outputTokens":5,"totalTokens":115,"cacheReadInputTokens":100}"#,
        )
        .unwrap();
        let u = usage_from_wire(&u);
        assert_eq!(
            (u.input_tokens, u.cache_read_tokens),
            (Some(110), Some(100))
        );
        let u: TokenUsage = serde_json::from_str(
            r#"{"inputTokens":110,"outputTokens":5,"totalTokens":115,"cacheReadInputTokens":100}"#,
        )
        .unwrap();
        assert_eq!(usage_from_wire(&u).input_tokens, Some(110));
    }
}
