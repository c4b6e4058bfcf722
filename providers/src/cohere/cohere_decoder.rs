//! Cohere v2 Chat decoding: a pure state machine from SSE events to core
//! [`Chunk`]s.
//!
//! The rules:
//! - `message-start` → metadata (the id; Cohere does not name the model);
//! - `content-delta` → text (`text`) or thought (`thinking`), one part per
//!   content index and kind, started at its first non-empty delta and ended
//!   at `content-end`;
//! - `tool-plan-delta` → one thought part, ended when content or a tool
//!   call starts, or at `message-end`;
//! - `tool-call-start` / `-delta` / `-end` → a tool call by index (a call
//!   without arguments has no delta);
//! - `message-end` → usage (`tokens`, else `billed_units`; `cached_tokens`
//!   is part of `tokens.input_tokens`) and the finish reason (`COMPLETE`,
//!   `STOP_SEQUENCE` → `stop`, `MAX_TOKENS` → `max_tokens`, `TOOL_CALL` →
//!   `tool_calls`, `ERROR` → `other`; raw kept); it ends the stream;
//! - unknown events are ignored; EOF before `message-end` is a protocol
//!   error.
//!
//! Open text and thoughts end on an error; tool calls end only at
//! `tool-call-end` or a clean finish (never after `MAX_TOKENS`/`ERROR` or
//! an error: a cut-off call must never run).

use std::sync::Arc;

use rivulet_core::{Chunk, Delta, Error, FinishReason, Usage};
use serde_json::Number;

use super::cohere_wire::{ChatUsage, CohereEvent, ContentDeltaEvent};
use crate::decode::{Decoded, Driver, Flow, Parts, Protocol, UsageTracker, Wire};
use crate::errors::error_from_code;
use crate::errors::{provider_message, truncate};
use crate::sse::{SseEvent, SseRef};
use crate::streamed_text::TextKind;

/// The Cohere v2 decoder.
///
/// ```
/// use rivulet_core::Response;
/// use rivulet_providers::cohere::CohereDecoder;
/// use rivulet_providers::decode::EventDecoder;
/// use rivulet_providers::sse::SseEvent;
///
/// let mut d = CohereDecoder::new("cohere");
/// let mut r = Response::default();
/// for data in [
///     r#"{"type":"message-start","id":"m1"}"#,
///     r#"{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"Hi"}}}}"#,
///     r#"{"type":"message-end","delta":{"finish_reason":"COMPLETE"}}"#,
/// ] {
///     for c in d.feed(&SseEvent::message(data)) {
///         r.apply(&c.unwrap());
///     }
/// }
/// assert_eq!(r.text(), "Hi");
/// assert_eq!(r.raw_finish_reason.as_deref(), Some("COMPLETE"));
/// ```
pub type CohereDecoder = Driver<CohereChat>;

/// The Cohere v2 Chat protocol: what each event means.
#[derive(Debug, Default)]
pub struct CohereChat {
    parts: Parts,
    /// Open content parts: (content index, kind, part).
    contents: Vec<(u64, TextKind, usize)>,
    /// The open tool-plan thought.
    plan: Option<usize>,
    /// Open tool calls: (index, id, part).
    calls: Vec<(u64, Arc<str>, usize)>,
    metadata_sent: bool,
    usage: UsageTracker,
}

impl CohereDecoder {
    /// A decoder for `provider` (used in errors and raw events); raw
    /// events are typed as [`CohereEvent`].
    pub fn new(provider: &str) -> Self {
        Driver::with(provider, CohereChat::default())
    }
}

impl CohereChat {
    fn on_event(&mut self, event: CohereEvent, out: &mut Decoded) -> Flow {
        match event {
            CohereEvent::MessageStart { id } => {
                if let Some(id) = id.filter(|i| !i.is_empty()) {
                    if !self.metadata_sent {
                        self.metadata_sent = true;
                        out.push(Ok(Chunk::Metadata {
                            id: Some(id),
                            model: None,
                        }));
                    }
                }
            }
            CohereEvent::ContentStart { index, delta }
            | CohereEvent::ContentDelta { index, delta } => {
                let content = delta.and_then(|d| d.message).and_then(|m| m.content);
                let (thinking, text) = match &content {
                    Some(c) => (c.thinking.as_deref(), c.text.as_deref()),
                    None => (None, None),
                };
                self.on_content(index, thinking, text, out);
            }
            CohereEvent::ContentEnd { index } => {
                let (done, open): (Vec<_>, Vec<_>) = std::mem::take(&mut self.contents)
                    .into_iter()
                    .partition(|(i, _, _)| *i == index);
                self.contents = open;
                for (_, kind, part) in done {
                    out.push(Ok(kind.end(part)));
                }
            }
            CohereEvent::ToolPlanDelta { delta } => {
                let text = delta
                    .and_then(|d| d.message)
                    .and_then(|m| m.tool_plan)
                    .unwrap_or_default();
                if !text.is_empty() {
                    let part = match self.plan {
                        Some(p) => p,
                        None => {
                            let p = self.parts.take();
                            self.plan = Some(p);
                            out.push(Ok(Chunk::ThoughtStart { part: p }));
                            p
                        }
                    };
                    out.push(Ok(Chunk::Thought {
                        part,
                        delta: text.into(),
                    }));
                }
            }
            CohereEvent::ToolCallStart { index, delta }
            | CohereEvent::ToolCallDelta { index, delta } => {
                self.end_plan(out);
                let piece = delta.and_then(|d| d.message).and_then(|m| m.tool_calls);
                let (id, function) = match piece {
                    Some(p) => (p.id, p.function),
                    None => (None, None),
                };
                let name = function.as_ref().and_then(|f| f.name.clone());
                let args = function.and_then(|f| f.arguments).unwrap_or_default();
                let (call_id, part) = match self.calls.iter().find(|(i, _, _)| *i == index) {
                    Some((_, id, part)) => (id.clone(), *part),
                    None => {
                        let part = self.parts.take();
                        let id: Arc<str> = id
                            .filter(|i| !i.is_empty())
                            .unwrap_or_else(|| format!("call_{index}"))
                            .into();
                        out.push(Ok(Chunk::ToolCallStart {
                            part,
                            id: id.clone(),
                            name: name.unwrap_or_default(),
                        }));
                        self.calls.push((index, id.clone(), part));
                        (id, part)
                    }
                };
                if !args.is_empty() {
                    out.push(Ok(Chunk::ToolCall {
                        part,
                        id: call_id,
                        delta: args.into(),
                    }));
                }
            }
            CohereEvent::ToolCallEnd { index } => {
                if let Some(pos) = self.calls.iter().position(|(i, _, _)| *i == index) {
                    let (_, id, part) = self.calls.remove(pos);
                    out.push(Ok(Chunk::tool_call_end(part, id)));
                }
            }
            CohereEvent::MessageEnd { delta } => {
                let delta = delta.unwrap_or_default();
                self.end_open(out);
                let raw = delta.finish_reason.filter(|r| !r.is_empty());
                let reason = raw.as_deref().map(finish_reason);
                if matches!(reason, Some(FinishReason::Stop | FinishReason::ToolCalls)) {
                    for (_, id, part) in std::mem::take(&mut self.calls) {
                        out.push(Ok(Chunk::tool_call_end(part, id)));
                    }
                }
                if let Some(u) = &delta.usage {
                    self.usage.report(usage_from_wire(u), out);
                }
                if let (Some(reason), Some(raw)) = (reason, raw) {
                    out.push(Ok(Chunk::FinishReason { reason, raw }));
                }
                return Flow::Done;
            }
            CohereEvent::Unknown => {}
        }
        Flow::Continue
    }

    /// A content piece: ends the tool plan, then its thinking and its text.
    fn on_content(
        &mut self,
        index: u64,
        thinking: Option<&str>,
        text: Option<&str>,
        out: &mut Decoded,
    ) {
        self.end_plan(out);
        if let Some(t) = thinking {
            self.push(index, TextKind::Thought, t, out);
        }
        if let Some(t) = text {
            self.push(index, TextKind::Text, t, out);
        }
    }

    /// Appends to the open part of content `index` and `kind`, started at
    /// its first non-empty text (parts of other indices and kinds stay
    /// open: unlike Chat Completions', Cohere's contents end at their own
    /// `content-end`).
    fn push(&mut self, index: u64, kind: TextKind, text: &str, out: &mut Decoded) {
        if text.is_empty() {
            return;
        }
        let part = match self
            .contents
            .iter()
            .find(|(i, k, _)| *i == index && *k == kind)
        {
            Some((_, _, p)) => *p,
            None => {
                let p = self.parts.take();
                self.contents.push((index, kind, p));
                out.push(Ok(kind.start(p)));
                p
            }
        };
        out.push(Ok(kind.delta(part, Delta::new(text))));
    }

    fn end_plan(&mut self, out: &mut Decoded) {
        if let Some(part) = self.plan.take() {
            out.push(Ok(Chunk::thought_end(part)));
        }
    }

    /// Ends the plan and the open content parts (not tool calls).
    fn end_open(&mut self, out: &mut Decoded) {
        self.end_plan(out);
        for (_, kind, part) in std::mem::take(&mut self.contents) {
            out.push(Ok(kind.end(part)));
        }
    }
}

impl Protocol for CohereChat {
    type Event = SseEvent;

    fn event(&mut self, wire: &Wire, event: SseRef<'_>, out: &mut Decoded) -> Result<Flow, Error> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        if event.event == "error" {
            // Not documented for v2 and never captured: take the message
            // and code of whatever error body it is.
            wire.push_raw::<CohereEvent>(out, event.data, None);
            let (message, code) = provider_message(data.as_bytes());
            let message = message.unwrap_or_else(|| truncate(data, 300));
            return Err(error_from_code(
                wire.provider(),
                code.as_deref(),
                Some(&message),
            ));
        }
        // The hot event first, borrowed; with raw events on, every event
        // is read as a CohereEvent, the raw chunk's type.
        if !wire.raw_events() {
            let hot = serde_json::from_str::<ContentDeltaEvent>(data).ok();
            if let Some(hot) = hot.filter(|e| e.kind == Some("content-delta")) {
                let content = hot.delta.and_then(|d| d.message).and_then(|m| m.content);
                let (thinking, text) = match &content {
                    Some(c) => (c.thinking.as_deref(), c.text.as_deref()),
                    None => (None, None),
                };
                self.on_content(hot.index, thinking, text, out);
                return Ok(Flow::Continue);
            }
        }
        match wire.parse::<CohereEvent>(out, event.data, data) {
            Ok(parsed) => Ok(self.on_event(parsed, out)),
            Err(e) => Err(crate::errors::malformed(
                format_args!("{} event", event.event),
                e,
                data,
            )),
        }
    }

    /// Before `message-end` the response was cut short.
    fn end(&mut self, _: &Wire, _: &mut Decoded) -> Result<(), Error> {
        Err(crate::errors::cut_short("message-end"))
    }

    fn interrupt(&mut self, _: &Wire, out: &mut Decoded) {
        self.end_open(out);
    }
}

/// The normalized finish reason of a Cohere `finish_reason`.
pub fn finish_reason(raw: &str) -> FinishReason {
    match raw {
        "COMPLETE" | "STOP_SEQUENCE" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::MaxTokens,
        "TOOL_CALL" => FinishReason::ToolCalls,
        // v1 names, still listed by some SDKs.
        "ERROR_TOXIC" => FinishReason::ContentFilter,
        "ERROR_LIMIT" => FinishReason::ContextLengthExceeded,
        _ => FinishReason::Other,
    }
}

fn count(n: &Option<Number>) -> Option<u64> {
    let n = n.as_ref()?;
    n.as_u64().or_else(|| {
        n.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f.round() as u64)
    })
}

/// Core [`Usage`] from a Cohere `usage` object.
///
/// `tokens` (what the model processed) is preferred over `billed_units`:
/// `cached_tokens` counts against `tokens.input_tokens` (in the captures
/// it exceeds the billed input), and core's cache counts are parts of the
/// input.
pub fn usage_from_wire(u: &ChatUsage) -> Usage {
    let counts = u.tokens.as_ref().or(u.billed_units.as_ref());
    Usage {
        input_tokens: counts.and_then(|c| count(&c.input_tokens)),
        output_tokens: counts.and_then(|c| count(&c.output_tokens)),
        cache_read_tokens: count(&u.cached_tokens),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet_core::{ErrorKind, Response};

    fn run(events: &[(&str, &str)]) -> (Response, Option<Error>) {
        let events: Vec<SseEvent> = events
            .iter()
            .map(|(name, data)| SseEvent::new(*name, *data))
            .collect();
        crate::decode::response_of(CohereDecoder::new("cohere"), &events)
    }

    #[test]
    fn max_tokens_leaves_a_cut_call_open() {
        let (r, err) = run(&[
            (
                "tool-call-start",
                r#"{"type":"tool-call-start","index":0,"delta":{"message":{"tool_calls":{"id":"c1","type":"function","function":{"name":"f","arguments":""}}}}}"#,
            ),
            (
                "tool-call-delta",
                r#"{"type":"tool-call-delta","index":0,"delta":{"message":{"tool_calls":{"function":{"arguments":"{\"a\""}}}}}"#,
            ),
            (
                "message-end",
                r#"{"type":"message-end","delta":{"finish_reason":"MAX_TOKENS","usage":{"billed_units":{"input_tokens":3.0,"output_tokens":2}}}}"#,
            ),
        ]);
        assert!(err.is_none());
        assert!(r.tool_calls().is_empty());
        assert_eq!(r.incomplete_tool_calls()[0].id, "c1");
        assert_eq!(r.finish_reason, Some(FinishReason::MaxTokens));
        assert_eq!(
            (r.usage.input_tokens, r.usage.output_tokens),
            (Some(3), Some(2))
        );
    }

    #[test]
    fn truncated_and_error_events() {
        let (r, err) = run(&[(
            "content-delta",
            r#"{"type":"content-delta","index":0,"delta":{"message":{"content":{"text":"a"}}}}"#,
        )]);
        let err = err.unwrap();
        assert_eq!(err.kind(), ErrorKind::Connection);
        assert!(err.message().contains("before message-end"), "{err}");
        assert_eq!(r.text(), "a");
        let (_, err) = run(&[(
            "error",
            r#"{"message":"too many requests","code":"rate_limit"}"#,
        )]);
        let err = err.unwrap();
        assert_eq!(err.kind(), ErrorKind::RateLimit);
        assert_eq!(err.message(), "too many requests");
        let (_, err) = run(&[("content-delta", "{not json")]);
        assert_eq!(err.unwrap().kind(), ErrorKind::Protocol);
    }
}
