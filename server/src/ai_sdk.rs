//! `?format=ai-sdk`: a rivulet stream as the Vercel AI SDK's UI message
//! stream protocol (v1), so `useChat` front ends read rivulet unchanged.
//!
//! The protocol is SSE with one JSON object per `data:` line and a final
//! `data: [DONE]`; the response carries the header
//! [`HEADER_NAME`]`: `[`HEADER_VALUE`]. The part shapes follow the `ai`
//! package's own schema (`uiMessageChunkSchema` in `ai` 6.0): `start`,
//! `start-step`, `text-start`/`-delta`/`-end`, `reasoning-start`/`-delta`/`-end`,
//! `tool-input-start`/`-delta`/`-available` (or `tool-input-error` when the
//! model wrote arguments that are not JSON), `finish-step`, `finish`,
//! `error` and `abort`.
//!
//! The protocol has no usage part; the AI SDK's own servers send usage in
//! `finish`'s `messageMetadata` when the app asks for it. rivulet always
//! does, as `{"usage": {...}}` in the SDK's `LanguageModelUsage` names
//! (`inputTokens`, `outputTokens`, `totalTokens`, `reasoningTokens`,
//! `cachedInputTokens`; a count the provider did not report is left out), so
//! the client's `message.metadata.usage` is the stream's usage.
//!
//! [`Encoder`] is pure: it turns the chunks a subscriber sees, and the
//! stream's end, into frame bytes, and does no I/O. One encoder serves one
//! client and must see the stream from its first chunk (the AI SDK resumes a
//! stream by replaying it whole, which is what a new encoder over a replayed
//! subscription does).
//!
//! ```
//! use rivulet_server::ai_sdk::Encoder;
//! use rivulet::{Chunk, Outcome};
//!
//! let mut encoder = Encoder::new("msg-1");
//! let mut out = Vec::new();
//! for chunk in [Chunk::text_start(0), Chunk::text(0, "Hi"), Chunk::text_end(0)] {
//!     encoder.push_chunk(&chunk, &mut out);
//! }
//! encoder.push_end(&Outcome::Finished, &mut out);
//! let sse = String::from_utf8(out).unwrap();
//! assert!(sse.starts_with("data: {\"type\":\"start\",\"messageId\":\"msg-1\"}\n\n"));
//! assert!(sse.contains("data: {\"type\":\"text-delta\",\"id\":\"0\",\"delta\":\"Hi\"}\n\n"));
//! assert!(sse.ends_with("data: {\"type\":\"finish\"}\n\ndata: [DONE]\n\n"));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Serialize, Serializer};

use rivulet::{Chunk, ErrorKind, Event, FinishReason, Outcome, Usage};

/// The response header that marks a UI message stream; its value is
/// [`HEADER_VALUE`]. The AI SDK's own server sets it beside
/// `content-type: text/event-stream`.
pub const HEADER_NAME: &str = "x-vercel-ai-ui-message-stream";

/// The protocol version in [`HEADER_NAME`]: `v1`.
pub const HEADER_VALUE: &str = "v1";

/// The frame that closes every UI message stream.
pub const DONE: &[u8] = b"data: [DONE]\n\n";

/// The state of one client's UI message stream: which parts are open and
/// the arguments of the tool calls in flight (their JSON is parsed whole
/// when the call ends, for `tool-input-available`'s `input`).
///
/// Feed it every [`Event`] of a subscription ([`Encoder::push_event`]), or
/// the chunks and the end separately; each call appends complete SSE frames
/// to `out`. After the end it writes nothing more.
#[derive(Debug)]
pub struct Encoder {
    message_id: String,
    started: bool,
    ended: bool,
    // Open parts by rivulet part index; the index, as a string, is the
    // part's id on the wire (unique within the message).
    open_text: BTreeSet<usize>,
    open_reasoning: BTreeSet<usize>,
    calls: BTreeMap<usize, OpenCall>,
    finish_reason: Option<FinishReason>,
    usage: Usage,
}

/// A tool call between its start and its end.
#[derive(Debug)]
struct OpenCall {
    id: String,
    name: String,
    args: String,
}

impl Encoder {
    /// An encoder for the assistant message `message_id` (the `start`
    /// part's `messageId`, which becomes the client's `UIMessage.id`).
    pub fn new(message_id: impl Into<String>) -> Self {
        Encoder {
            message_id: message_id.into(),
            started: false,
            ended: false,
            open_text: BTreeSet::new(),
            open_reasoning: BTreeSet::new(),
            calls: BTreeMap::new(),
            finish_reason: None,
            usage: Usage::default(),
        }
    }

    /// Writes `start` and `start-step` if nothing was written yet. Every
    /// other method does this first; call it to send them before the first
    /// chunk arrives.
    pub fn push_start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        frame(
            out,
            &Part::Start {
                message_id: &self.message_id,
            },
        );
        frame(out, &Part::StartStep);
    }

    /// Encodes one subscription event: a chunk ([`Encoder::push_chunk`]),
    /// the end ([`Encoder::push_end`]), or chunks this client missed (a
    /// lossy subscription fell behind), which the client is told about with
    /// an `error` part since its message is now incomplete.
    pub fn push_event(&mut self, event: &Event, out: &mut Vec<u8>) {
        match event {
            Event::Chunk(chunk) => self.push_chunk(chunk, out),
            Event::End(outcome) => self.push_end(outcome, out),
            Event::Missed(n) => {
                if self.ended {
                    return;
                }
                self.push_start(out);
                let text = format!("this client fell behind and missed {n} chunks of the stream");
                frame(out, &Part::Error { error_text: &text });
            }
        }
    }

    /// Encodes one chunk. Usage, metadata and raw chunks have no UI part and
    /// write nothing (the finish reason and the usage are kept for
    /// `finish`); so do audio
    /// and provider-specific parts, which the protocol has no part for.
    pub fn push_chunk(&mut self, chunk: &Chunk, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.push_start(out);
        match chunk {
            Chunk::TextStart { part } => self.open_text(*part, out),
            Chunk::Text { part, delta } => {
                // A delta for a part not started (never on rivulet's
                // decoders, but cheap to survive) opens it: the client
                // rejects a delta for an unknown id.
                self.open_text(*part, out);
                frame(
                    out,
                    &Part::TextDelta {
                        id: PartId(*part),
                        delta,
                    },
                );
            }
            Chunk::TextEnd { part } => {
                if self.open_text.remove(part) {
                    frame(out, &Part::TextEnd { id: PartId(*part) });
                }
            }
            Chunk::ThoughtStart { part } => self.open_reasoning(*part, out),
            Chunk::Thought { part, delta } => {
                self.open_reasoning(*part, out);
                frame(
                    out,
                    &Part::ReasoningDelta {
                        id: PartId(*part),
                        delta,
                    },
                );
            }
            Chunk::ThoughtEnd { part, .. } => {
                // A redacted thought has no text: its start and end still
                // make an (empty) reasoning part, as the model did think.
                self.open_reasoning(*part, out);
                self.open_reasoning.remove(part);
                frame(out, &Part::ReasoningEnd { id: PartId(*part) });
            }
            Chunk::ToolCallStart { part, id, name } => {
                let call = OpenCall {
                    id: call_id(id, *part),
                    name: name.clone(),
                    args: String::new(),
                };
                frame(
                    out,
                    &Part::ToolInputStart {
                        tool_call_id: &call.id,
                        tool_name: &call.name,
                    },
                );
                self.calls.insert(*part, call);
            }
            Chunk::ToolCall { part, delta, .. } => {
                // Without its start the call has no name, and the client
                // has no part to add the delta to: skip it.
                if let Some(call) = self.calls.get_mut(part) {
                    call.args.push_str(delta);
                    frame(
                        out,
                        &Part::ToolInputDelta {
                            tool_call_id: &call.id,
                            input_text_delta: delta,
                        },
                    );
                }
            }
            Chunk::ToolCallEnd { part, .. } => {
                if let Some(call) = self.calls.remove(part) {
                    tool_input_end(&call, out);
                }
            }
            Chunk::FinishReason { reason, .. } => self.finish_reason = Some(*reason),
            Chunk::UsageDelta { usage } => self.usage.apply(usage),
            Chunk::Audio { .. }
            | Chunk::ProviderPart { .. }
            | Chunk::Citation { .. }
            | Chunk::Metadata { .. }
            | Chunk::Raw(_) => {}
        }
    }

    /// Encodes the stream's end and [`DONE`]:
    /// - finished: the parts still open end, then `finish-step` and
    ///   `finish` with the finish reason in the protocol's names (`stop`,
    ///   `length`, `tool-calls`, `content-filter`, `other`) and the usage
    ///   in its `messageMetadata` (see the module's doc);
    /// - failed: `error` with the error's text (its kind and message, as
    ///   rivulet prints it), `finish-step`, `finish` with reason `error`; the
    ///   parts received so far stay in the client's message, unfinished;
    /// - cancelled: `abort` with the reason, as the AI SDK's own server
    ///   sends when its request is aborted.
    pub fn push_end(&mut self, outcome: &Outcome, out: &mut Vec<u8>) {
        if self.ended {
            return;
        }
        self.push_start(out);
        self.ended = true;
        match outcome {
            Outcome::Finished => {
                for part in std::mem::take(&mut self.open_text) {
                    frame(out, &Part::TextEnd { id: PartId(part) });
                }
                for part in std::mem::take(&mut self.open_reasoning) {
                    frame(out, &Part::ReasoningEnd { id: PartId(part) });
                }
                frame(out, &Part::FinishStep);
                frame(
                    out,
                    &Part::Finish {
                        finish_reason: self.finish_reason.map(finish_reason),
                        message_metadata: (!self.usage.is_empty()).then(|| Metadata {
                            usage: SdkUsage::from(&self.usage),
                        }),
                    },
                );
            }
            Outcome::Failed(error) if error.kind() == ErrorKind::Cancelled => {
                let reason = error.to_string();
                frame(out, &Part::Abort { reason: &reason });
            }
            Outcome::Failed(error) => {
                let text = error.to_string();
                frame(out, &Part::Error { error_text: &text });
                frame(out, &Part::FinishStep);
                frame(
                    out,
                    &Part::Finish {
                        finish_reason: Some("error"),
                        message_metadata: None,
                    },
                );
            }
        }
        out.extend_from_slice(DONE);
        self.calls.clear();
    }

    /// True once the end has been written: the client's stream is complete.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    fn open_text(&mut self, part: usize, out: &mut Vec<u8>) {
        if self.open_text.insert(part) {
            frame(out, &Part::TextStart { id: PartId(part) });
        }
    }

    fn open_reasoning(&mut self, part: usize, out: &mut Vec<u8>) {
        if self.open_reasoning.insert(part) {
            frame(out, &Part::ReasoningStart { id: PartId(part) });
        }
    }
}

/// `tool-input-available` with the arguments parsed, or `tool-input-error`
/// with the raw text when they are not JSON (the client shows the call as
/// failed, as the AI SDK does for invalid calls). No arguments at all is
/// `{}`, as rivulet sends such a call back to providers.
fn tool_input_end(call: &OpenCall, out: &mut Vec<u8>) {
    let text = call.args.trim();
    let parsed = if text.is_empty() {
        Ok(serde_json::Value::Object(Default::default()))
    } else {
        serde_json::from_str::<serde_json::Value>(text)
    };
    match parsed {
        Ok(input) => frame(
            out,
            &Part::ToolInputAvailable {
                tool_call_id: &call.id,
                tool_name: &call.name,
                input: &input,
            },
        ),
        Err(e) => {
            let error_text = format!("the model's arguments are not valid JSON: {e}");
            frame(
                out,
                &Part::ToolInputError {
                    tool_call_id: &call.id,
                    tool_name: &call.name,
                    input: &serde_json::Value::String(call.args.clone()),
                    error_text: &error_text,
                },
            );
        }
    }
}

/// The provider's call id; a provider without ids (rivulet keeps theirs
/// empty) gets one from the part index, since the client keys calls by id.
fn call_id(id: &str, part: usize) -> String {
    if id.is_empty() {
        format!("call-{part}")
    } else {
        id.to_owned()
    }
}

/// rivulet's finish reason in the protocol's names (the `finish` part's
/// enum: stop, length, content-filter, tool-calls, error, other).
fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Stop => "stop",
        FinishReason::MaxTokens | FinishReason::ContextLengthExceeded => "length",
        FinishReason::ToolCalls => "tool-calls",
        FinishReason::ContentFilter => "content-filter",
        FinishReason::Refusal | FinishReason::Other => "other",
    }
}

/// Appends `data: {json}\n\n`.
fn frame(out: &mut Vec<u8>, part: &Part<'_>) {
    let start = out.len();
    out.extend_from_slice(b"data: ");
    // Serializing strings and JSON values into a Vec cannot fail; should it
    // ever, drop the half-written frame rather than send a broken one.
    if serde_json::to_writer(&mut *out, part).is_err() {
        out.truncate(start);
        return;
    }
    out.extend_from_slice(b"\n\n");
}

/// A part id on the wire: rivulet's part index, written as a JSON string
/// (the protocol's ids are strings) without allocating one.
#[derive(Clone, Copy, Debug)]
struct PartId(usize);

impl Serialize for PartId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl fmt::Display for PartId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// The UI message stream parts rivulet sends, as the `ai` package's
/// `uiMessageChunkSchema` spells them.
#[derive(Serialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
enum Part<'a> {
    Start {
        message_id: &'a str,
    },
    StartStep,
    TextStart {
        id: PartId,
    },
    TextDelta {
        id: PartId,
        delta: &'a str,
    },
    TextEnd {
        id: PartId,
    },
    ReasoningStart {
        id: PartId,
    },
    ReasoningDelta {
        id: PartId,
        delta: &'a str,
    },
    ReasoningEnd {
        id: PartId,
    },
    ToolInputStart {
        tool_call_id: &'a str,
        tool_name: &'a str,
    },
    ToolInputDelta {
        tool_call_id: &'a str,
        input_text_delta: &'a str,
    },
    ToolInputAvailable {
        tool_call_id: &'a str,
        tool_name: &'a str,
        input: &'a serde_json::Value,
    },
    ToolInputError {
        tool_call_id: &'a str,
        tool_name: &'a str,
        input: &'a serde_json::Value,
        error_text: &'a str,
    },
    FinishStep,
    Finish {
        #[serde(skip_serializing_if = "Option::is_none")]
        finish_reason: Option<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        message_metadata: Option<Metadata>,
    },
    Error {
        error_text: &'a str,
    },
    Abort {
        reason: &'a str,
    },
}

/// `finish`'s `messageMetadata`.
#[derive(Debug, Serialize)]
struct Metadata {
    usage: SdkUsage,
}

/// Usage in the AI SDK's `LanguageModelUsage` names.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SdkUsage {
    #[serde(skip_serializing_if = "Option::is_none")]
    input_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cached_input_tokens: Option<u64>,
}

impl From<&Usage> for SdkUsage {
    fn from(u: &Usage) -> Self {
        SdkUsage {
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            total_tokens: u.total_tokens(),
            reasoning_tokens: u.reasoning_tokens,
            cached_input_tokens: u.cache_read_tokens,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet::Error;

    /// The frames `chunks` then `end` make, one string per frame.
    fn encode(chunks: &[Chunk], end: Option<Outcome>) -> Vec<String> {
        let mut encoder = Encoder::new("m1");
        let mut out = Vec::new();
        for chunk in chunks {
            encoder.push_chunk(chunk, &mut out);
        }
        if let Some(end) = end {
            encoder.push_end(&end, &mut out);
        }
        let text = String::from_utf8(out).expect("frames are UTF-8");
        assert!(text.ends_with("\n\n") || text.is_empty(), "{text:?}");
        text.split_terminator("\n\n")
            .map(|f| {
                f.strip_prefix("data: ")
                    .unwrap_or_else(|| panic!("not a data frame: {f:?}"))
                    .to_owned()
            })
            .collect()
    }

    #[test]
    fn a_text_stream_is_start_step_text_and_finish() {
        let frames = encode(
            &[
                Chunk::Metadata {
                    id: Some("r1".into()),
                    model: Some("gpt".into()),
                },
                Chunk::text_start(0),
                Chunk::text(0, "Hel"),
                Chunk::text(0, "lo \"x\""),
                Chunk::text_end(0),
                Chunk::FinishReason {
                    reason: FinishReason::Stop,
                    raw: "stop".into(),
                },
            ],
            Some(Outcome::Finished),
        );
        assert_eq!(
            frames,
            [
                r#"{"type":"start","messageId":"m1"}"#,
                r#"{"type":"start-step"}"#,
                r#"{"type":"text-start","id":"0"}"#,
                r#"{"type":"text-delta","id":"0","delta":"Hel"}"#,
                r#"{"type":"text-delta","id":"0","delta":"lo \"x\""}"#,
                r#"{"type":"text-end","id":"0"}"#,
                r#"{"type":"finish-step"}"#,
                r#"{"type":"finish","finishReason":"stop"}"#,
                "[DONE]",
            ]
        );
    }

    #[test]
    fn reasoning_and_tool_calls_take_the_sdk_shapes() {
        let frames = encode(
            &[
                Chunk::ThoughtStart { part: 0 },
                Chunk::Thought {
                    part: 0,
                    delta: "hmm".into(),
                },
                Chunk::ThoughtEnd {
                    part: 0,
                    signature: Some("sig".into()),
                    redacted: None,
                },
                Chunk::ToolCallStart {
                    part: 1,
                    id: "call_a".into(),
                    name: "get_weather".into(),
                },
                Chunk::ToolCallStart {
                    part: 2,
                    id: "".into(),
                    name: "now".into(),
                },
                Chunk::ToolCall {
                    part: 1,
                    id: "call_a".into(),
                    delta: "{\"city\":".into(),
                },
                Chunk::ToolCall {
                    part: 1,
                    id: "call_a".into(),
                    delta: "\"Paris\"}".into(),
                },
                Chunk::tool_call_end(2, ""),
                Chunk::tool_call_end(1, "call_a"),
                Chunk::FinishReason {
                    reason: FinishReason::ToolCalls,
                    raw: "tool_calls".into(),
                },
            ],
            Some(Outcome::Finished),
        );
        assert_eq!(
            frames[2..],
            [
                r#"{"type":"reasoning-start","id":"0"}"#,
                r#"{"type":"reasoning-delta","id":"0","delta":"hmm"}"#,
                r#"{"type":"reasoning-end","id":"0"}"#,
                r#"{"type":"tool-input-start","toolCallId":"call_a","toolName":"get_weather"}"#,
                r#"{"type":"tool-input-start","toolCallId":"call-2","toolName":"now"}"#,
                r#"{"type":"tool-input-delta","toolCallId":"call_a","inputTextDelta":"{\"city\":"}"#,
                r#"{"type":"tool-input-delta","toolCallId":"call_a","inputTextDelta":"\"Paris\"}"}"#,
                r#"{"type":"tool-input-available","toolCallId":"call-2","toolName":"now","input":{}}"#,
                r#"{"type":"tool-input-available","toolCallId":"call_a","toolName":"get_weather","input":{"city":"Paris"}}"#,
                r#"{"type":"finish-step"}"#,
                r#"{"type":"finish","finishReason":"tool-calls"}"#,
                "[DONE]",
            ]
        );
    }

    #[test]
    fn arguments_that_are_not_json_end_in_tool_input_error() {
        let frames = encode(
            &[
                Chunk::ToolCallStart {
                    part: 0,
                    id: "c".into(),
                    name: "f".into(),
                },
                Chunk::ToolCall {
                    part: 0,
                    id: "c".into(),
                    delta: "{\"a\":".into(),
                },
                Chunk::tool_call_end(0, "c"),
            ],
            None,
        );
        let last: serde_json::Value = serde_json::from_str(&frames[4]).unwrap();
        assert_eq!(last["type"], "tool-input-error");
        assert_eq!(last["toolCallId"], "c");
        assert_eq!(last["toolName"], "f");
        assert_eq!(last["input"], "{\"a\":");
        let error_text = last["errorText"].as_str().unwrap();
        assert!(error_text.starts_with("the model's arguments are not valid JSON"));
    }

    #[test]
    fn a_failure_sends_error_then_finish_error_and_keeps_parts_open() {
        let error = Error::from_status("groq", 500, "boom", None, None);
        let frames = encode(
            &[Chunk::text_start(0), Chunk::text(0, "partial")],
            Some(Outcome::failed(error)),
        );
        assert_eq!(
            frames[4..],
            [
                r#"{"type":"error","errorText":"server error 500: groq: boom (HTTP 500)"}"#,
                r#"{"type":"finish-step"}"#,
                r#"{"type":"finish","finishReason":"error"}"#,
                "[DONE]",
            ]
        );
    }

    #[test]
    fn a_cancel_sends_abort_and_done() {
        let frames = encode(&[], Some(Outcome::failed(Error::cancelled())));
        assert_eq!(frames.len(), 4, "{frames:?}");
        let abort: serde_json::Value = serde_json::from_str(&frames[2]).unwrap();
        assert_eq!(abort["type"], "abort");
        assert_eq!(abort["reason"], Error::cancelled().to_string());
        assert_eq!(frames[3], "[DONE]");
    }

    #[test]
    fn a_normal_end_closes_open_parts_and_nothing_follows_the_end() {
        let mut encoder = Encoder::new("m");
        let mut out = Vec::new();
        encoder.push_chunk(&Chunk::text(3, "x"), &mut out);
        encoder.push_chunk(
            &Chunk::Thought {
                part: 4,
                delta: "y".into(),
            },
            &mut out,
        );
        encoder.push_end(&Outcome::Finished, &mut out);
        let len = out.len();
        encoder.push_chunk(&Chunk::text(3, "late"), &mut out);
        encoder.push_end(&Outcome::Finished, &mut out);
        encoder.push_event(&Event::Missed(2), &mut out);
        assert_eq!(out.len(), len);
        assert!(encoder.is_ended());
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            concat!(
                "data: {\"type\":\"start\",\"messageId\":\"m\"}\n\n",
                "data: {\"type\":\"start-step\"}\n\n",
                "data: {\"type\":\"text-start\",\"id\":\"3\"}\n\n",
                "data: {\"type\":\"text-delta\",\"id\":\"3\",\"delta\":\"x\"}\n\n",
                "data: {\"type\":\"reasoning-start\",\"id\":\"4\"}\n\n",
                "data: {\"type\":\"reasoning-delta\",\"id\":\"4\",\"delta\":\"y\"}\n\n",
                "data: {\"type\":\"text-end\",\"id\":\"3\"}\n\n",
                "data: {\"type\":\"reasoning-end\",\"id\":\"4\"}\n\n",
                "data: {\"type\":\"finish-step\"}\n\n",
                "data: {\"type\":\"finish\"}\n\n",
                "data: [DONE]\n\n",
            )
        );
    }

    #[test]
    fn a_missed_gap_is_reported_as_an_error_part() {
        let mut encoder = Encoder::new("m");
        let mut out = Vec::new();
        encoder.push_event(&Event::Missed(7), &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with(
            "data: {\"type\":\"error\",\"errorText\":\"this client fell behind and missed 7 chunks of the stream\"}\n\n"
        ));
    }

    #[test]
    fn a_start_is_written_once_and_chunks_without_parts_write_nothing_else() {
        let mut encoder = Encoder::new("m");
        let mut out = Vec::new();
        encoder.push_start(&mut out);
        let started = out.len();
        encoder.push_start(&mut out);
        encoder.push_chunk(
            &Chunk::UsageDelta {
                usage: Box::default(),
            },
            &mut out,
        );
        encoder.push_chunk(
            &Chunk::provider_part(0, "anthropic", "x", serde_json::json!({})),
            &mut out,
        );
        encoder.push_chunk(
            &Chunk::ToolCall {
                part: 9,
                id: "unknown".into(),
                delta: "{}".into(),
            },
            &mut out,
        );
        encoder.push_chunk(&Chunk::tool_call_end(9, "unknown"), &mut out);
        assert_eq!(out.len(), started);
    }
}
