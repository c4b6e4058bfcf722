//! Anthropic Messages decoding: a pure state machine from SSE events to
//! core [`Chunk`]s. No I/O.
//!
//! The rules:
//! 1. `message_start`: metadata (`id`, `model`) and the first usage snapshot;
//! 2. each content block is one part, numbered by our own counter in block
//!    order (the wire `index` only routes deltas to their block):
//!    - `text` → text chunks;
//!    - `thinking` → thought chunks; its `signature_delta` is kept and put
//!      on the thought's end chunk;
//!    - `redacted_thinking` (whole at its start) → a thought whose end
//!      chunk carries the opaque data (`redacted`);
//!    - `tool_use` → tool-call chunks with the block's id; the structured
//!      output tool (see [`AnthropicDecoder::format_tool`]) → text chunks instead;
//!    - `server_tool_use`, `*_tool_result` and unknown blocks → one
//!      `provider_part_chunk` when the block stops, with the block's JSON
//!      (and its streamed `input` parsed in);
//! 3. `message_delta`: the finish reason (`stop_reason`, raw kept) and a
//!    usage snapshot. Snapshots are cumulative and the last one is the
//!    truth: each becomes a signed delta, negative where a count went down
//!    (after server-side compaction the final `message_delta` reports the
//!    last iteration's input and no cache read, below `message_start`'s);
//! 4. `ping` emits nothing (a raw chunk only when asked for), so it never
//!    counts as progress;
//! 5. `message_stop` ends the stream; EOF before it is a truncated stream;
//! 6. `error` ends the stream with the error its `error.type` names.
//!
//! On any error the open text and thought parts are ended (so what arrived
//! is kept), open tool calls and provider blocks are not (a cut-off call
//! must never run).

use std::collections::BTreeMap;
use std::sync::Arc;

use rivulet_core::{
    Chunk, Citation, CitationKind, Delta, Error, ErrorContext, FinishReason, ProviderPart,
    TimeoutKind, Usage,
};
use serde_json::Value;

use super::anthropic_wire::{
    self, AnthropicBlockDelta, AnthropicContentBlock, AnthropicDeltaEvent, AnthropicErrorObject,
    AnthropicEvent,
};
use crate::decode::{
    Decoded, Driver, Flow, FormatToolProtocol, Parts, Protocol, UsageTracker, Wire,
};
use crate::errors::error_from_code;
use crate::errors::truncate;
use crate::sse::{SseEvent, SseRef};

/// An open content block.
#[derive(Clone, Debug)]
enum AnthropicBlock {
    Text {
        part: usize,
    },
    Thought {
        part: usize,
        signature: Option<String>,
    },
    /// A `redacted_thinking` block: its opaque data, sent on the end chunk.
    Redacted {
        part: usize,
        data: String,
    },
    Tool {
        part: usize,
        id: Arc<str>,
        /// The block's own `input` when it was not `{}`, sent if no
        /// `input_json_delta` comes.
        initial: Option<String>,
        got_delta: bool,
    },
    /// The structured-output tool, streamed as text.
    FormatText {
        part: usize,
    },
    Provider {
        part: usize,
        kind: String,
        block: Value,
        input: String,
    },
}

/// The Anthropic Messages decoder.
///
/// ```
/// use rivulet_core::Response;
/// use rivulet_providers::anthropic::AnthropicDecoder;
/// use rivulet_providers::decode::EventDecoder;
/// use rivulet_providers::sse::SseEvent;
///
/// let mut d = AnthropicDecoder::new("anthropic");
/// let mut r = Response::default();
/// for (event, data) in [
///     ("message_start", r#"{"type":"message_start","message":{"id":"msg_1","model":"claude","usage":{"input_tokens":5,"output_tokens":1}}}"#),
///     ("content_block_start", r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
///     ("ping", r#"{"type": "ping"}"#),
///     ("content_block_delta", r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}"#),
///     ("content_block_stop", r#"{"type":"content_block_stop","index":0}"#),
///     ("message_delta", r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":3}}"#),
///     ("message_stop", r#"{"type":"message_stop"}"#),
/// ] {
///     for c in d.feed(&SseEvent::new(event, data)) {
///         r.apply(&c.unwrap());
///     }
/// }
/// assert!(d.finish().is_empty());
/// assert_eq!(r.text(), "Hi");
/// assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (Some(5), Some(3)));
/// assert_eq!(r.raw_finish_reason.as_deref(), Some("end_turn"));
/// ```
pub type AnthropicDecoder = Driver<Messages>;

/// The Anthropic Messages protocol: what each event means.
#[derive(Debug, Default)]
pub struct Messages {
    format_tool: Option<String>,
    parts: Parts,
    /// Open blocks by wire index.
    blocks: BTreeMap<u64, AnthropicBlock>,
    metadata_sent: bool,
    finish_sent: bool,
    /// Client tool calls seen (the structured-output tool excluded).
    tool_calls: usize,
    /// The latest value of every usage field reported so far.
    wire_usage: anthropic_wire::Usage,
    /// The usage deltas sent.
    usage: UsageTracker,
}

impl AnthropicDecoder {
    /// A decoder for `provider` (used in errors, raw events and provider
    /// parts); raw events are typed as [`AnthropicEvent`] where they parse,
    /// pings included.
    pub fn new(provider: &str) -> Self {
        Driver::with(provider, Messages::default())
    }
}

impl FormatToolProtocol for Messages {
    fn format_tool_mut(&mut self) -> &mut Option<String> {
        &mut self.format_tool
    }
}

impl Messages {
    fn on_block_start(&mut self, index: u64, json: Value, out: &mut Decoded) -> Result<(), Error> {
        if self.blocks.contains_key(&index) {
            return Err(Error::protocol(format!(
                "content block {index} started twice"
            )));
        }
        // A known type with an unexpected shape is kept whole, like an
        // unknown one, rather than dropped.
        let typed = serde_json::from_value::<AnthropicContentBlock>(json.clone())
            .unwrap_or(AnthropicContentBlock::Other);
        let part = self.parts.take();
        let block = match typed {
            AnthropicContentBlock::Text { text } => {
                out.push(Ok(Chunk::TextStart { part }));
                push_text(out, part, &text);
                AnthropicBlock::Text { part }
            }
            AnthropicContentBlock::Thinking {
                thinking,
                signature,
            } => {
                out.push(Ok(Chunk::ThoughtStart { part }));
                push_thought(out, part, &thinking);
                AnthropicBlock::Thought {
                    part,
                    signature: Some(signature).filter(|s| !s.is_empty()),
                }
            }
            AnthropicContentBlock::RedactedThinking { data } => {
                out.push(Ok(Chunk::ThoughtStart { part }));
                AnthropicBlock::Redacted { part, data }
            }
            AnthropicContentBlock::ToolUse { id, name, input } => {
                if self.format_tool.as_deref() == Some(name.as_str()) {
                    out.push(Ok(Chunk::TextStart { part }));
                    AnthropicBlock::FormatText { part }
                } else {
                    self.tool_calls += 1;
                    let id: Arc<str> = id.into();
                    out.push(Ok(Chunk::ToolCallStart {
                        part,
                        id: id.clone(),
                        name,
                    }));
                    let initial = match &input {
                        Value::Object(m) if m.is_empty() => None,
                        Value::Null => None,
                        other => Some(other.to_string()),
                    };
                    AnthropicBlock::Tool {
                        part,
                        id,
                        initial,
                        got_delta: false,
                    }
                }
            }
            AnthropicContentBlock::Other => AnthropicBlock::Provider {
                part,
                kind: json
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("unknown")
                    .to_string(),
                block: json,
                input: String::new(),
            },
        };
        self.blocks.insert(index, block);
        Ok(())
    }

    fn on_delta(
        &mut self,
        index: u64,
        delta: AnthropicBlockDelta<'_>,
        out: &mut Decoded,
    ) -> Result<(), Error> {
        if !self.blocks.contains_key(&index) {
            // A delta for a block that never started (a stream joined late,
            // as in a published fragment): text and thinking open their part
            // implicitly; anything else cannot be placed.
            let block = match &delta {
                AnthropicBlockDelta::TextDelta { .. } => {
                    let part = self.parts.take();
                    out.push(Ok(Chunk::TextStart { part }));
                    AnthropicBlock::Text { part }
                }
                AnthropicBlockDelta::ThinkingDelta { .. } => {
                    let part = self.parts.take();
                    out.push(Ok(Chunk::ThoughtStart { part }));
                    AnthropicBlock::Thought {
                        part,
                        signature: None,
                    }
                }
                AnthropicBlockDelta::CitationsDelta { .. } | AnthropicBlockDelta::Other => {
                    return Ok(())
                }
                _ => {
                    return Err(Error::protocol(format!(
                        "a {} for content block {index}, which never started",
                        delta_name(&delta)
                    )));
                }
            };
            self.blocks.insert(index, block);
        }
        let Some(block) = self.blocks.get_mut(&index) else {
            return Ok(());
        };
        let mismatch = match (block, &delta) {
            (
                AnthropicBlock::Text { part } | AnthropicBlock::FormatText { part },
                AnthropicBlockDelta::TextDelta { text },
            ) => {
                push_text(out, *part, text);
                false
            }
            (
                AnthropicBlock::Thought { part, .. },
                AnthropicBlockDelta::ThinkingDelta { thinking },
            ) => {
                push_thought(out, *part, thinking);
                false
            }
            (
                AnthropicBlock::Thought { signature, .. },
                AnthropicBlockDelta::SignatureDelta { signature: s },
            ) => {
                signature.get_or_insert_with(String::new).push_str(s);
                false
            }
            (
                AnthropicBlock::Tool {
                    part,
                    id,
                    got_delta,
                    ..
                },
                AnthropicBlockDelta::InputJsonDelta { partial_json },
            ) => {
                *got_delta = true;
                if !partial_json.is_empty() {
                    out.push(Ok(Chunk::ToolCall {
                        part: *part,
                        id: id.clone(),
                        delta: Delta::new(partial_json),
                    }));
                }
                false
            }
            (
                AnthropicBlock::FormatText { part },
                AnthropicBlockDelta::InputJsonDelta { partial_json },
            ) => {
                push_text(out, *part, partial_json);
                false
            }
            (
                AnthropicBlock::Provider { input, .. },
                AnthropicBlockDelta::InputJsonDelta { partial_json },
            ) => {
                input.push_str(partial_json);
                false
            }
            (AnthropicBlock::Text { part }, AnthropicBlockDelta::CitationsDelta { citation }) => {
                out.push(Ok(Chunk::Citation {
                    part: *part,
                    citation: Box::new(citation_of(citation)),
                }));
                false
            }
            // Citations elsewhere have no text to belong to; unknown
            // deltas are ignored.
            (_, AnthropicBlockDelta::CitationsDelta { .. } | AnthropicBlockDelta::Other) => false,
            // A provider block's other deltas have nowhere to go.
            (AnthropicBlock::Provider { .. }, _) => false,
            _ => true,
        };
        if mismatch {
            return Err(Error::protocol(format!(
                "a {} does not fit content block {index}",
                delta_name(&delta)
            )));
        }
        Ok(())
    }

    fn end_block(&mut self, provider: &str, block: AnthropicBlock, out: &mut Decoded) {
        match block {
            AnthropicBlock::Text { part } | AnthropicBlock::FormatText { part } => {
                out.push(Ok(Chunk::TextEnd { part }))
            }
            AnthropicBlock::Thought { part, signature } => out.push(Ok(Chunk::ThoughtEnd {
                part,
                signature,
                redacted: None,
            })),
            AnthropicBlock::Redacted { part, data } => out.push(Ok(Chunk::ThoughtEnd {
                part,
                signature: None,
                redacted: Some(data),
            })),
            AnthropicBlock::Tool {
                part,
                id,
                initial,
                got_delta,
            } => {
                if let Some(args) = initial.filter(|_| !got_delta) {
                    out.push(Ok(Chunk::ToolCall {
                        part,
                        id: id.clone(),
                        delta: args.into(),
                    }));
                }
                out.push(Ok(Chunk::ToolCallEnd {
                    part,
                    id,
                    signature: None,
                }));
            }
            AnthropicBlock::Provider {
                part,
                kind,
                mut block,
                input,
            } => {
                if !input.trim().is_empty() {
                    let value =
                        serde_json::from_str::<Value>(&input).unwrap_or(Value::String(input));
                    if let Value::Object(m) = &mut block {
                        m.insert("input".into(), value);
                    }
                }
                out.push(Ok(Chunk::ProviderPart {
                    part,
                    block: Box::new(ProviderPart {
                        provider: provider.to_string(),
                        kind,
                        json: block,
                    }),
                }));
            }
        }
    }

    /// Ends every open block (blocks have all stopped on a normal stream).
    fn end_all(&mut self, provider: &str, out: &mut Decoded) {
        for (_, block) in std::mem::take(&mut self.blocks) {
            self.end_block(provider, block, out);
        }
    }

    fn on_finish(&mut self, provider: &str, raw: &str, out: &mut Decoded) {
        if self.finish_sent {
            return;
        }
        self.finish_sent = true;
        self.end_all(provider, out);
        let reason = match finish_reason(raw) {
            // Only the structured-output tool was called: the answer is done.
            FinishReason::ToolCalls if self.tool_calls == 0 && self.format_tool.is_some() => {
                FinishReason::Stop
            }
            other => other,
        };
        out.push(Ok(Chunk::FinishReason {
            reason,
            raw: raw.to_string(),
        }));
    }

    fn on_usage(&mut self, u: &anthropic_wire::Usage, out: &mut Decoded) {
        // A later snapshot may omit fields: keep the last value of each.
        let keep = |now: Option<u64>, before: Option<u64>| now.or(before);
        self.wire_usage = anthropic_wire::Usage {
            input_tokens: keep(u.input_tokens, self.wire_usage.input_tokens),
            output_tokens: keep(u.output_tokens, self.wire_usage.output_tokens),
            cache_creation_input_tokens: keep(
                u.cache_creation_input_tokens,
                self.wire_usage.cache_creation_input_tokens,
            ),
            cache_read_input_tokens: keep(
                u.cache_read_input_tokens,
                self.wire_usage.cache_read_input_tokens,
            ),
            cache_creation: u.cache_creation.or(self.wire_usage.cache_creation),
            server_tool_use: u.server_tool_use.or(self.wire_usage.server_tool_use),
        };
        self.usage.report(usage_from_wire(&self.wire_usage), out);
    }
}

impl Protocol for Messages {
    type Event = SseEvent;

    fn event(&mut self, wire: &Wire, event: SseRef<'_>, out: &mut Decoded) -> Result<Flow, Error> {
        // The JSON is padded with spaces inside the data line.
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        // The hot event first, borrowed; with raw events on, every event
        // is read as a AnthropicEvent, the raw chunk's type.
        if !wire.raw_events() {
            let hot = serde_json::from_str::<AnthropicDeltaEvent>(data).ok();
            if let Some((index, delta)) = hot.and_then(AnthropicDeltaEvent::block_delta) {
                self.on_delta(index, delta, out)?;
                return Ok(Flow::Continue);
            }
        }
        let parsed = match wire.parse::<AnthropicEvent>(out, event.data, data) {
            Ok(parsed) => parsed,
            Err(_) if event.event == "error" => {
                return Err(Error::Server {
                    status: 500,
                    ctx: Box::new(ErrorContext::new(format!(
                        "error event: {}",
                        truncate(data, 300)
                    ))),
                })
            }
            Err(e) => {
                return Err(crate::errors::malformed(
                    format_args!("{} event", event.event),
                    e,
                    data,
                ))
            }
        };
        let provider = wire.provider();
        match parsed {
            AnthropicEvent::MessageStart { message } => {
                if !self.metadata_sent {
                    self.metadata_sent = true;
                    let id = message.id.filter(|s| !s.is_empty());
                    let model = message.model.filter(|s| !s.is_empty());
                    if id.is_some() || model.is_some() {
                        out.push(Ok(Chunk::Metadata { id, model }));
                    }
                }
                if let Some(u) = &message.usage {
                    self.on_usage(u, out);
                }
            }
            AnthropicEvent::ContentBlockStart {
                index,
                content_block,
            } => self.on_block_start(index, content_block, out)?,
            AnthropicEvent::ContentBlockDelta { index, delta } => {
                self.on_delta(index, delta, out)?
            }
            AnthropicEvent::ContentBlockStop { index } => {
                if let Some(block) = self.blocks.remove(&index) {
                    self.end_block(provider, block, out);
                }
            }
            AnthropicEvent::MessageDelta { delta, usage } => {
                if let Some(reason) = delta.stop_reason.filter(|r| !r.is_empty()) {
                    self.on_finish(provider, &reason, out);
                }
                if let Some(u) = &usage {
                    self.on_usage(u, out);
                }
            }
            AnthropicEvent::MessageStop => {
                self.end_all(provider, out);
                return Ok(Flow::Done);
            }
            AnthropicEvent::Error { error, .. } => return Err(error_from_object(provider, &error)),
            AnthropicEvent::Ping | AnthropicEvent::Unknown => {}
        }
        Ok(Flow::Continue)
    }

    /// Before `message_stop` the response was cut short.
    fn end(&mut self, _: &Wire, _: &mut Decoded) -> Result<(), Error> {
        Err(crate::errors::cut_short("message_stop"))
    }

    fn interrupt(&mut self, wire: &Wire, out: &mut Decoded) {
        // Provider blocks cut off stay open, as tool calls do.
        let (ending, open): (BTreeMap<_, _>, BTreeMap<_, _>) = std::mem::take(&mut self.blocks)
            .into_iter()
            .partition(|(_, b)| {
                matches!(
                    b,
                    AnthropicBlock::Text { .. }
                        | AnthropicBlock::FormatText { .. }
                        | AnthropicBlock::Thought { .. }
                        | AnthropicBlock::Redacted { .. }
                )
            });
        self.blocks = open;
        for (_, block) in ending {
            self.end_block(wire.provider(), block, out);
        }
    }
}

fn push_text(out: &mut Decoded, part: usize, text: &str) {
    if !text.is_empty() {
        out.push(Ok(Chunk::Text {
            part,
            delta: Delta::new(text),
        }));
    }
}

fn push_thought(out: &mut Decoded, part: usize, text: &str) {
    if !text.is_empty() {
        out.push(Ok(Chunk::Thought {
            part,
            delta: Delta::new(text),
        }));
    }
}

/// An Anthropic citation as a [`Citation`]: `web_search_result_location`
/// (a URL), `char_location`, `page_location` and `content_block_location`
/// (a span of a document in the request), `search_result_location`; the
/// whole text block is what it supports.
fn citation_of(json: &Value) -> Citation {
    let text = |key: &str| crate::decode::str_field(json, key);
    let kind = match json.get("type").and_then(Value::as_str) {
        Some("web_search_result_location") => CitationKind::Url,
        Some("char_location" | "page_location" | "content_block_location") => {
            CitationKind::Document
        }
        Some("search_result_location") => CitationKind::SearchResult,
        _ => CitationKind::Other,
    };
    Citation {
        url: text("url").or_else(|| text("source")),
        title: text("title").or_else(|| text("document_title")),
        cited_text: text("cited_text"),
        ..Citation::new(kind, json.clone())
    }
}

fn delta_name(delta: &AnthropicBlockDelta<'_>) -> &'static str {
    match delta {
        AnthropicBlockDelta::TextDelta { .. } => "text_delta",
        AnthropicBlockDelta::ThinkingDelta { .. } => "thinking_delta",
        AnthropicBlockDelta::SignatureDelta { .. } => "signature_delta",
        AnthropicBlockDelta::InputJsonDelta { .. } => "input_json_delta",
        AnthropicBlockDelta::CitationsDelta { .. } => "citations_delta",
        AnthropicBlockDelta::Other => "delta",
    }
}

/// The normalized finish reason of a `stop_reason` (named as the other
/// decoders' mappers are).
pub fn finish_reason(raw: &str) -> FinishReason {
    match raw {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" => FinishReason::MaxTokens,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::Refusal,
        "model_context_window_exceeded" => FinishReason::ContextLengthExceeded,
        // `pause_turn` and anything new.
        _ => FinishReason::Other,
    }
}

/// Core [`Usage`] from an Anthropic usage snapshot: the input includes the
/// tokens read from and written to the prompt cache (Anthropic counts them
/// apart from `input_tokens`).
pub fn usage_from_wire(u: &anthropic_wire::Usage) -> Usage {
    let parts = [
        u.input_tokens,
        u.cache_creation_input_tokens,
        u.cache_read_input_tokens,
    ];
    let input = parts.iter().any(Option::is_some).then(|| {
        parts
            .iter()
            .flatten()
            .fold(0u64, |a, b| a.saturating_add(*b))
    });
    let creation = u.cache_creation.unwrap_or_default();
    let tools = u.server_tool_use.unwrap_or_default();
    Usage {
        input_tokens: input,
        output_tokens: u.output_tokens,
        cache_read_tokens: u.cache_read_input_tokens,
        cache_write_tokens: u.cache_creation_input_tokens,
        cache_write_5m_tokens: creation.ephemeral_5m_input_tokens,
        cache_write_1h_tokens: creation.ephemeral_1h_input_tokens,
        web_search_requests: tools.web_search_requests,
        web_fetch_requests: tools.web_fetch_requests,
        ..Default::default()
    }
}

/// The error an Anthropic error object stands for, by its `type`
/// (mid-stream `event: error`, or an error body sent with a 200): read as
/// any in-band code ([`error_from_code`]: `overloaded_error`,
/// `rate_limit_error`, `billing_error`, `request_too_large`, …), except
/// Anthropic's own `timeout_error`.
pub fn error_from_object(provider: &str, e: &AnthropicErrorObject) -> Error {
    let kind = e.kind.as_deref().filter(|k| !k.is_empty());
    let err = error_from_code(provider, kind, e.message.as_deref());
    if kind == Some("timeout_error") {
        return Error::Timeout {
            which: TimeoutKind::FirstChunk,
            ctx: Box::new(err.context().clone()),
        };
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::EventDecoder;
    use rivulet_core::ErrorKind;

    fn feed_all(d: &mut AnthropicDecoder, events: &[(&str, &str)]) -> Decoded {
        let mut out = Vec::new();
        for (event, data) in events {
            out.extend(d.feed(&SseEvent::new(*event, *data)));
        }
        out
    }

    fn ok(v: Decoded) -> Vec<Chunk> {
        v.into_iter().map(|c| c.unwrap()).collect()
    }

    const STOP: (&str, &str) = ("message_stop", r#"{"type":"message_stop"}"#);

    #[test]
    fn format_tool_becomes_text_and_a_stop() {
        let mut d = AnthropicDecoder::new("anthropic").format_tool(Some("__fmt"));
        let chunks = ok(feed_all(
            &mut d,
            &[
                (
                    "content_block_start",
                    r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"__fmt","input":{}}}"#,
                ),
                (
                    "content_block_delta",
                    r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":""}}"#,
                ),
                (
                    "content_block_delta",
                    r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}"#,
                ),
                (
                    "content_block_delta",
                    r#"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"1}"}}"#,
                ),
                (
                    "content_block_stop",
                    r#"{"type":"content_block_stop","index":0}"#,
                ),
                (
                    "message_delta",
                    r#"{"type":"message_delta","delta":{"stop_reason":"tool_use"}}"#,
                ),
                STOP,
            ],
        ));
        assert_eq!(
            chunks,
            vec![
                Chunk::TextStart { part: 0 },
                Chunk::text(0, "{\"a\":"),
                Chunk::text(0, "1}"),
                Chunk::TextEnd { part: 0 },
                Chunk::FinishReason {
                    reason: FinishReason::Stop,
                    raw: "tool_use".into()
                },
            ]
        );
        assert!(d.is_done());
    }

    #[test]
    fn a_tool_whose_input_comes_whole_at_start() {
        let mut d = AnthropicDecoder::new("anthropic");
        let chunks = ok(feed_all(
            &mut d,
            &[
                (
                    "content_block_start",
                    r#"{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"f","input":{"x":1}}}"#,
                ),
                (
                    "content_block_stop",
                    r#"{"type":"content_block_stop","index":0}"#,
                ),
            ],
        ));
        assert_eq!(
            chunks[1],
            Chunk::ToolCall {
                part: 0,
                id: "t".into(),
                delta: r#"{"x":1}"#.into()
            }
        );
    }

    #[test]
    fn errors_keep_text_and_thoughts_but_not_tool_calls() {
        let mut d = AnthropicDecoder::new("anthropic");
        let out = feed_all(
            &mut d,
            &[
                (
                    "content_block_start",
                    r#"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
                ),
                (
                    "content_block_delta",
                    r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hm"}}"#,
                ),
                (
                    "content_block_start",
                    r#"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"t","name":"f","input":{}}}"#,
                ),
                (
                    "content_block_delta",
                    r#"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"x"}}"#,
                ),
                (
                    "error",
                    r#"{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}"#,
                ),
            ],
        );
        let (chunks, errs): (Vec<_>, Vec<_>) = out.into_iter().partition(Result::is_ok);
        let chunks = ok(chunks);
        assert!(chunks.contains(&Chunk::thought_end(0)));
        assert!(!chunks
            .iter()
            .any(|c| matches!(c, Chunk::ToolCallEnd { .. })));
        let err = errs.into_iter().next().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::RateLimit);
        assert_eq!(err.code(), Some("rate_limit_error"));
        assert_eq!(err.provider(), Some("anthropic"));
        assert!(d.is_done());
        assert!(d
            .feed(&SseEvent::new(
                "message_stop",
                "{\"type\":\"message_stop\"}"
            ))
            .is_empty());
        assert!(d.finish().is_empty());
    }

    #[test]
    fn protocol_errors() {
        let kind = |events: &[(&str, &str)]| {
            let mut d = AnthropicDecoder::new("anthropic");
            let mut out = feed_all(&mut d, events);
            out.extend(d.finish());
            out.into_iter().find_map(Result::err).map(|e| e.kind())
        };
        // Malformed JSON.
        assert_eq!(
            kind(&[("content_block_delta", "{not json")]),
            Some(ErrorKind::Protocol)
        );
        // A tool delta for a block that never started.
        assert_eq!(
            kind(&[(
                "content_block_delta",
                r#"{"type":"content_block_delta","index":3,"delta":{"type":"input_json_delta","partial_json":"{"}}"#
            )]),
            Some(ErrorKind::Protocol)
        );
        // A thinking delta on a text block.
        assert_eq!(
            kind(&[
                (
                    "content_block_start",
                    r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#
                ),
                (
                    "content_block_delta",
                    r#"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"x"}}"#
                ),
            ]),
            Some(ErrorKind::Protocol)
        );
        // EOF before message_stop, even after a stop reason: cut short.
        assert_eq!(
            kind(&[(
                "message_delta",
                r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"}}"#
            )]),
            Some(ErrorKind::Connection)
        );
        // Unknown events and deltas are fine.
        assert_eq!(
            kind(&[
                ("future_event", r#"{"type":"future_event","x":1}"#),
                (
                    "content_block_start",
                    r#"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#
                ),
                (
                    "content_block_delta",
                    r#"{"type":"content_block_delta","index":0,"delta":{"type":"future_delta"}}"#
                ),
                (
                    "content_block_delta",
                    r#"{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{}}}"#
                ),
                STOP,
            ]),
            None
        );
    }

    #[test]
    fn error_types() {
        let kind = |t: &str| {
            error_from_object(
                "anthropic",
                &AnthropicErrorObject {
                    kind: Some(t.into()),
                    message: Some("m".into()),
                },
            )
        };
        assert_eq!(kind("overloaded_error").kind(), ErrorKind::Overloaded);
        assert!(matches!(
            kind("api_error"),
            Error::Server { status: 500, .. }
        ));
        assert_eq!(kind("rate_limit_error").kind(), ErrorKind::RateLimit);
        assert_eq!(
            kind("authentication_error").kind(),
            ErrorKind::Authentication
        );
        assert_eq!(kind("permission_error").kind(), ErrorKind::PermissionDenied);
        assert_eq!(kind("billing_error").kind(), ErrorKind::PermissionDenied);
        assert_eq!(kind("timeout_error").kind(), ErrorKind::Timeout);
        assert_eq!(kind("timeout_error").code(), Some("timeout_error"));
        assert_eq!(kind("not_found_error").kind(), ErrorKind::NotFound);
        assert_eq!(kind("invalid_request_error").kind(), ErrorKind::BadRequest);
        assert_eq!(kind("request_too_large").kind(), ErrorKind::BadRequest);
        assert_eq!(kind("something_new").kind(), ErrorKind::Server);
        assert_eq!(kind("api_error").message(), "m");
        assert_eq!(kind("api_error").status(), None);
    }

    #[test]
    fn stop_reasons() {
        assert_eq!(finish_reason("end_turn"), FinishReason::Stop);
        assert_eq!(finish_reason("stop_sequence"), FinishReason::Stop);
        assert_eq!(finish_reason("max_tokens"), FinishReason::MaxTokens);
        assert_eq!(finish_reason("tool_use"), FinishReason::ToolCalls);
        assert_eq!(finish_reason("refusal"), FinishReason::Refusal);
        assert_eq!(finish_reason("pause_turn"), FinishReason::Other);
    }

    #[test]
    fn usage_includes_the_cache() {
        let u = usage_from_wire(&anthropic_wire::Usage {
            input_tokens: Some(10),
            output_tokens: Some(3),
            cache_creation_input_tokens: Some(100),
            cache_read_input_tokens: Some(1000),
            cache_creation: Some(anthropic_wire::CacheCreation {
                ephemeral_5m_input_tokens: Some(40),
                ephemeral_1h_input_tokens: Some(60),
            }),
            server_tool_use: None,
        });
        assert_eq!(u.input_tokens, Some(1110));
        assert_eq!(u.cache_read_tokens, Some(1000));
        assert_eq!(u.cache_write_tokens, Some(100));
        assert_eq!(
            (u.cache_write_5m_tokens, u.cache_write_1h_tokens),
            (Some(40), Some(60))
        );
        assert_eq!(u.web_search_requests, None);
        assert_eq!(
            usage_from_wire(&anthropic_wire::Usage::default()),
            Usage::default()
        );
    }
}
