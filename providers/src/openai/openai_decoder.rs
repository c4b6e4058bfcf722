//! Chat Completions decoding: a pure state machine from SSE events to core
//! [`Chunk`]s. No I/O: the provider feeds it events read over HTTP, tests
//! feed it events parsed from bytes in memory.
//!
//! The rules, in the order they apply to one chunk:
//! 1. metadata (`id`, `model`) once, from the first chunk that has either;
//! 2. choice 0 only (`n > 1` streams interleave other choices);
//! 3. the delta: reasoning (`reasoning_content`, else `reasoning`; Mistral's
//!    `thinking` pieces) → thought; `content` → text; `refusal` → text and a
//!    `refusal` finish; `tool_calls` → tool calls by id (falling back to
//!    index); `audio` → audio. A part starts when its kind differs from the
//!    open one and ends when another kind starts or at the finish;
//! 4. `finish_reason`: ends every open part, tool calls included;
//! 5. `usage` (else Groq's `x_groq.usage`) → one usage delta;
//! 6. `error` (OpenRouter) → a typed error that ends the stream.
//!
//! On any error the open text or thought part is ended (so what arrived is
//! kept), open tool calls are not (a cut-off call must never run).

use std::sync::Arc;

use rivulet_core::{
    Chunk, Citation, CitationKind, Delta, Error, ErrorContext, FinishReason, Usage,
};
use serde::Deserialize;
use serde_json::Value;

use super::openai_wire::{
    AudioDelta, ChatCompletionChunk, ChatErrorBody, ChatToolCallDelta, ChoiceDelta,
    CompletionUsage, ContentPiece, DeltaContent, ErrorEvent, TextChunk, ThinkingContent,
};
use crate::decode::{Driver, FastPath, Flow, Parts, Protocol, UsageTracker, Wire};
use crate::errors::error_from_code;
use crate::errors::truncate;
use crate::sse::{SseEvent, SseRef};
use crate::streamed_text::{OpenTextPart, TextKind};

pub use crate::decode::Decoded;

/// An open tool call.
#[derive(Clone, Debug)]
struct ToolSlot {
    id: Arc<str>,
    index: Option<u32>,
    part: usize,
}

/// The Chat Completions decoder ([`ChatCompletions`] in a [`Driver`]).
///
/// ```
/// use rivulet_core::{Chunk, Response};
/// use rivulet_providers::decode::EventDecoder;
/// use rivulet_providers::openai::ChatDecoder;
/// use rivulet_providers::sse::SseEvent;
///
/// let mut d = ChatDecoder::new("openai");
/// let mut r = Response::default();
/// for data in [
///     r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}"#,
///     r#"{"id":"c1","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
///     "[DONE]",
/// ] {
///     for c in d.feed(&SseEvent::message(data)) {
///         r.apply(&c.unwrap());
///     }
/// }
/// assert!(d.finish().is_empty());
/// assert_eq!(r.text(), "Hi");
/// assert_eq!(r.id.as_deref(), Some("c1"));
/// ```
pub type ChatDecoder = Driver<ChatCompletions>;

/// The Chat Completions protocol: what each chunk means.
#[derive(Debug, Default)]
pub struct ChatCompletions {
    parts: Parts,
    /// The open text, refusal or thought part (tool calls and audio are
    /// tracked apart).
    text: OpenTextPart,
    audio_part: Option<usize>,
    tools: Vec<ToolSlot>,
    metadata_sent: bool,
    finish_seen: bool,
    refusal_seen: bool,
    /// A choice other than the first was seen (and logged once).
    other_choices_seen: bool,
    /// How many of Perplexity's `citations` were passed on.
    cited_urls: usize,
    usage: UsageTracker,
    /// The fast path of text chunks ([`TextChunk`]), tried once the
    /// metadata was sent.
    text_chunks: FastPath,
}

impl ChatDecoder {
    /// A decoder for `provider` (used in errors and raw events); raw
    /// events are typed as [`ChatCompletionChunk`] or [`ErrorEvent`] where
    /// they parse.
    pub fn new(provider: &str) -> Self {
        Driver::with(provider, ChatCompletions::default())
    }
}

impl ChatCompletions {
    fn on_chunk(
        &mut self,
        provider: &str,
        chunk: &ChatCompletionChunk,
        out: &mut Decoded,
    ) -> Result<(), Error> {
        if !self.metadata_sent {
            let id = chunk
                .id
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            let model = chunk
                .model
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
            // Azure's first chunk has `"id":"","model":""`: wait for a real one.
            if id.is_some() || model.is_some() {
                self.metadata_sent = true;
                out.push(Ok(Chunk::Metadata { id, model }));
            }
        }
        // The response is the first choice; with `n` > 1 the others are
        // generated and dropped (said once in the log, not silently).
        let choices = chunk.choices.as_deref().unwrap_or_default();
        if !self.other_choices_seen && choices.iter().any(|c| c.index.unwrap_or(0) != 0) {
            self.other_choices_seen = true;
            tracing::debug!(
                provider = %provider,
                "choices other than index 0 are not kept (the response is choice 0)"
            );
        }
        let choice = choices.iter().find(|c| c.index.unwrap_or(0) == 0);
        if let Some(choice) = choice {
            if let Some(delta) = &choice.delta {
                self.on_delta(delta, out);
            }
            // Before the finish, which ends the text they belong to.
            self.on_cited_urls(chunk.citations.as_deref(), out);
            if let Some(reason) = choice.finish_reason.as_deref().filter(|r| !r.is_empty()) {
                self.on_finish(reason, out);
            }
        } else {
            self.on_cited_urls(chunk.citations.as_deref(), out);
        }
        // Groq puts usage in `x_groq`, and newer Groq also at the top level:
        // take one, never both.
        let usage = chunk
            .usage
            .as_deref()
            .or_else(|| chunk.x_groq.as_ref().and_then(|x| x.usage.as_ref()));
        if let Some(usage) = usage {
            self.on_usage(usage, out);
        }
        match &chunk.error {
            Some(error) => Err(inband_error(provider, error)),
            None => Ok(()),
        }
    }

    fn on_delta(&mut self, delta: &ChoiceDelta, out: &mut Decoded) {
        // One reasoning field per delta: servers migrating between the two
        // names may send both with the same text.
        let reasoning = [&delta.reasoning_content, &delta.reasoning]
            .into_iter()
            .flatten()
            .find(|s| !s.is_empty());
        if let Some(r) = reasoning {
            self.push_text(TextKind::Thought, r, out);
        }
        match &delta.content {
            Some(DeltaContent::Text(text)) => self.push_text(TextKind::Text, text, out),
            Some(DeltaContent::Pieces(pieces)) => {
                for piece in pieces {
                    match piece {
                        ContentPiece::Text { text } => self.push_text(TextKind::Text, text, out),
                        ContentPiece::Thinking { thinking } => match thinking {
                            ThinkingContent::Text(t) => self.push_text(TextKind::Thought, t, out),
                            ThinkingContent::Pieces(ts) => {
                                for t in ts.iter().filter_map(|t| t.text.as_deref()) {
                                    self.push_text(TextKind::Thought, t, out);
                                }
                            }
                        },
                        ContentPiece::Other => {}
                    }
                }
            }
            None => {}
        }
        if let Some(refusal) = delta.refusal.as_deref().filter(|r| !r.is_empty()) {
            self.refusal_seen = true;
            self.push_text(TextKind::Refusal, refusal, out);
        }
        for call in delta.tool_calls.iter().flatten() {
            self.on_tool_call(call, out);
        }
        if let Some(audio) = &delta.audio {
            self.on_audio(audio, out);
        }
        for annotation in delta.annotations.iter().flatten() {
            let citation = annotation_citation(annotation);
            self.cite(citation, out);
        }
    }

    /// Perplexity's cited URLs, each once: the list repeats on every chunk
    /// and may grow.
    fn on_cited_urls(&mut self, urls: Option<&[String]>, out: &mut Decoded) {
        let Some(urls) = urls else { return };
        for (i, url) in urls.iter().enumerate().skip(self.cited_urls) {
            let mut c = Citation::new(
                CitationKind::Url,
                serde_json::json!({"index": i + 1, "url": url}),
            );
            c.url = Some(url.clone());
            self.cite(c, out);
        }
        self.cited_urls = self.cited_urls.max(urls.len());
    }

    /// A citation of the open text part; one opens (and takes the text
    /// that follows) when none is.
    fn cite(&mut self, citation: Citation, out: &mut Decoded) {
        let part = self.text.open(TextKind::Text, &mut self.parts, out);
        out.push(Ok(Chunk::Citation {
            part,
            citation: Box::new(citation),
        }));
    }

    /// Appends to the open part of `kind`, starting one if another kind is open.
    #[inline]
    fn push_text(&mut self, kind: TextKind, text: &str, out: &mut Decoded) {
        self.text.push(kind, text, &mut self.parts, out);
    }

    fn end_tools(&mut self, out: &mut Decoded) {
        for t in self.tools.drain(..) {
            out.push(Ok(Chunk::ToolCallEnd {
                part: t.part,
                id: t.id,
                signature: None,
            }));
        }
    }

    fn end_all(&mut self, out: &mut Decoded) {
        self.text.end(out);
        self.end_tools(out);
    }

    fn on_tool_call(&mut self, call: &ChatToolCallDelta, out: &mut Decoded) {
        self.text.end(out);
        let function = call.function.as_ref();
        let id = call.id.as_deref().filter(|s| !s.is_empty());
        let name = function
            .and_then(|f| f.name.as_deref())
            .filter(|s| !s.is_empty());
        let slot = match id {
            Some(id) => match self.tools.iter().position(|t| &*t.id == id) {
                Some(i) => {
                    self.tools[i].index = self.tools[i].index.or(call.index);
                    i
                }
                None => {
                    // A new id on an index already in use: that call is over.
                    if let Some(index) = call.index {
                        let (over, open): (Vec<_>, Vec<_>) = std::mem::take(&mut self.tools)
                            .into_iter()
                            .partition(|t| t.index == Some(index));
                        self.tools = open;
                        for t in over {
                            out.push(Ok(Chunk::ToolCallEnd {
                                part: t.part,
                                id: t.id,
                                signature: None,
                            }));
                        }
                    }
                    self.start_tool(id.into(), call.index, name, out)
                }
            },
            None => {
                let known = match call.index {
                    Some(index) => self.tools.iter().rposition(|t| t.index == Some(index)),
                    None => self.tools.len().checked_sub(1),
                };
                match known {
                    Some(i) => i,
                    // The id never came: make one up so the fragments still
                    // assemble into a call.
                    None => {
                        let id = format!("call_{}", self.parts.peek());
                        self.start_tool(id.into(), call.index, name, out)
                    }
                }
            }
        };
        let args = function.and_then(|f| match &f.arguments {
            Some(Value::String(s)) => Some(Delta::new(s)),
            Some(Value::Null) | None => None,
            // Whole-object arguments (some local servers): as JSON text.
            Some(other) => Some(Delta::from(other.to_string())),
        });
        if let Some(args) = args.filter(|a| !a.is_empty()) {
            let t = &self.tools[slot];
            out.push(Ok(Chunk::ToolCall {
                part: t.part,
                id: t.id.clone(),
                delta: args,
            }));
        }
    }

    fn start_tool(
        &mut self,
        id: Arc<str>,
        index: Option<u32>,
        name: Option<&str>,
        out: &mut Decoded,
    ) -> usize {
        let part = self.parts.take();
        out.push(Ok(Chunk::ToolCallStart {
            part,
            id: id.clone(),
            name: name.unwrap_or_default().to_string(),
        }));
        self.tools.push(ToolSlot { id, index, part });
        self.tools.len() - 1
    }

    fn on_audio(&mut self, audio: &AudioDelta, out: &mut Decoded) {
        let non_empty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
        let (id, data, transcript) = (
            non_empty(&audio.id),
            non_empty(&audio.data),
            non_empty(&audio.transcript),
        );
        // The last audio delta may carry only `expires_at`.
        if id.is_none() && data.is_none() && transcript.is_none() {
            return;
        }
        self.text.end(out);
        let part = match self.audio_part {
            Some(p) => p,
            None => {
                let p = self.parts.take();
                self.audio_part = Some(p);
                p
            }
        };
        out.push(Ok(Chunk::Audio {
            part,
            audio: Box::new(rivulet_core::AudioDelta {
                id,
                data,
                transcript_delta: transcript,
            }),
        }));
    }

    fn on_finish(&mut self, raw: &str, out: &mut Decoded) {
        // OpenRouter repeats the finish reason on later chunks; the first counts.
        if self.finish_seen {
            return;
        }
        self.finish_seen = true;
        self.end_all(out);
        let reason = if self.refusal_seen {
            FinishReason::Refusal
        } else {
            finish_reason(raw)
        };
        out.push(Ok(Chunk::FinishReason {
            reason,
            raw: raw.to_string(),
        }));
    }

    fn on_usage(&mut self, wire: &CompletionUsage, out: &mut Decoded) {
        self.usage.report(usage_from_wire(wire), out);
    }
}

impl Protocol for ChatCompletions {
    type Event = SseEvent;

    fn event(&mut self, wire: &Wire, event: SseRef<'_>, out: &mut Decoded) -> Result<Flow, Error> {
        // Trimmed: some servers pad their JSON or add a trailing space.
        let data = event.data.trim();
        if event.event == "error" {
            // Groq: `event: error` after a 200, with no [DONE] after it.
            return Err(match serde_json::from_str::<ErrorEvent>(data) {
                Ok(e) => {
                    wire.push_raw(out, event.data, Some(e.clone()));
                    inband_error(wire.provider(), &e.error)
                }
                Err(_) => {
                    wire.push_raw::<ErrorEvent>(out, event.data, None);
                    Error::Server {
                        status: 500,
                        ctx: Box::new(ErrorContext::new(format!(
                            "error event: {}",
                            truncate(data, 300)
                        ))),
                    }
                }
            });
        }
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        if data == "[DONE]" {
            wire.push_raw::<ChatCompletionChunk<'static>>(out, event.data, None);
            self.end_all(out);
            return Ok(Flow::Done);
        }
        if self.metadata_sent && !wire.raw_events() {
            // The common chunk, read into a type a tenth of the size (see
            // `TextChunk`); it decodes exactly as the whole parse would.
            // A chunk of the known shape that carries more than text (a
            // finish, tool calls) goes on to the whole parse.
            if let Some(chunk) = self.text_chunks.read::<TextChunk>(data) {
                if let Some(text) = chunk.text() {
                    self.push_text(TextKind::Text, text, out);
                    return Ok(Flow::Continue);
                }
            }
        }
        match serde_json::from_str::<ChatCompletionChunk>(data) {
            Ok(chunk) => {
                if wire.raw_events() {
                    // The typed raw event must own its strings (it outlives
                    // this event); a `Value` can deserialize into any
                    // lifetime, so go through one. Opt-in, so off the hot path.
                    let owned = serde_json::from_str::<serde_json::Value>(data)
                        .and_then(ChatCompletionChunk::<'static>::deserialize)
                        .ok();
                    wire.push_raw(out, event.data, owned);
                }
                self.on_chunk(wire.provider(), &chunk, out)?;
                Ok(Flow::Continue)
            }
            Err(e) => {
                wire.push_raw::<ChatCompletionChunk<'static>>(out, event.data, None);
                Err(crate::errors::malformed("chat.completion.chunk", e, data))
            }
        }
    }

    /// After a finish reason the end of the body is a normal end (some
    /// servers never send `[DONE]`); before one, the response was cut
    /// short.
    fn end(&mut self, _: &Wire, out: &mut Decoded) -> Result<(), Error> {
        if !self.finish_seen {
            return Err(crate::errors::cut_short("[DONE] or a finish reason"));
        }
        self.end_all(out);
        Ok(())
    }

    fn interrupt(&mut self, _: &Wire, out: &mut Decoded) {
        self.text.end(out);
    }
}

/// The normalized finish reason of a Chat Completions `finish_reason`.
pub fn finish_reason(raw: &str) -> FinishReason {
    match raw {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::MaxTokens,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Other,
    }
}

/// Core [`Usage`] from a Chat Completions `usage` object.
///
/// `output_tokens` includes reasoning tokens, as core defines it. xAI
/// reports reasoning outside `completion_tokens` (its `total_tokens` is
/// prompt + completion + reasoning); that is detected from the totals and
/// the reasoning added back.
pub fn usage_from_wire(u: &CompletionUsage) -> Usage {
    let reasoning = u
        .completion_tokens_details
        .as_ref()
        .and_then(|d| d.reasoning_tokens);
    let prompt_details = u.prompt_tokens_details.as_ref();
    let mut output = u.completion_tokens;
    if let (Some(p), Some(c), Some(r), Some(t)) = (
        u.prompt_tokens,
        u.completion_tokens,
        reasoning,
        u.total_tokens,
    ) {
        let without = p.checked_add(c);
        let with = without.and_then(|s| s.checked_add(r));
        if r > 0 && with == Some(t) && without != Some(t) {
            output = c.checked_add(r);
        }
    }
    let completion_details = u.completion_tokens_details.as_ref();
    Usage {
        input_tokens: u.prompt_tokens,
        output_tokens: output,
        cache_read_tokens: prompt_details
            .and_then(|d| d.cached_tokens)
            .or(u.prompt_cache_hit_tokens),
        cache_write_tokens: prompt_details.and_then(|d| d.cache_write_tokens),
        reasoning_tokens: reasoning,
        input_text_tokens: prompt_details.and_then(|d| d.text_tokens),
        input_audio_tokens: prompt_details.and_then(|d| d.audio_tokens),
        input_image_tokens: prompt_details.and_then(|d| d.image_tokens),
        input_video_tokens: prompt_details.and_then(|d| d.video_tokens),
        output_audio_tokens: completion_details.and_then(|d| d.audio_tokens),
        output_image_tokens: completion_details.and_then(|d| d.image_tokens),
        // xAI's ticks are 1e-10 dollars; OpenRouter's cost is dollars.
        cost_nano_usd: u
            .cost_in_usd_ticks
            .map(|ticks| ticks / 10)
            .or_else(|| u.cost.and_then(nano_usd)),
        ..Default::default()
    }
}

/// Dollars as whole billionths; `None` for a price that is negative or
/// not a finite number.
fn nano_usd(dollars: f64) -> Option<u64> {
    let nanos = (dollars * 1e9).round();
    (nanos.is_finite() && nanos >= 0.0 && nanos < u64::MAX as f64).then_some(nanos as u64)
}

/// A typed error from an in-band `error` object (OpenRouter's error chunk,
/// Groq's `event: error`).
///
/// The kind comes from the HTTP status the error stands for (`status_code`,
/// or a numeric `code`), else from the code or type text
/// ([`error_from_code`]); an error that says nothing recognizable is a
/// server error.
pub fn inband_error(provider: &str, body: &ChatErrorBody) -> Error {
    let e = match body {
        ChatErrorBody::Object(e) => e,
        ChatErrorBody::Message(message) => {
            return Error::Server {
                status: 500,
                ctx: Box::new(ErrorContext::new(message.clone()).provider(provider)),
            }
        }
    };
    let message = e
        .message
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "the provider reported an error mid-stream".to_string());
    let code = match &e.code {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => e.kind.clone().filter(|s| !s.is_empty()),
    };
    let status = e
        .status_code
        .or_else(|| e.code.as_ref().and_then(Value::as_u64))
        .filter(|s| (400..=599).contains(s))
        .and_then(|s| u16::try_from(s).ok());
    if let Some(status) = status {
        return Error::from_status(provider, status, message, code, None);
    }
    error_from_code(provider, code.as_deref(), Some(&message))
}

/// An OpenRouter annotation: `{type: "url_citation", url_citation: {url,
/// title, content, start_index, end_index}}`.
fn annotation_citation(annotation: &Value) -> Citation {
    let inner = annotation.get("url_citation").unwrap_or(annotation);
    let text = |key: &str| crate::decode::str_field(inner, key);
    let index = |key: &str| crate::decode::index_field(inner, key);
    let kind = match annotation.get("type").and_then(Value::as_str) {
        Some("url_citation") => CitationKind::Url,
        Some("file_citation" | "file") => CitationKind::File,
        _ => CitationKind::Other,
    };
    // OpenRouter sends 0..0 when it cannot place the citation in the text.
    let (start, end) = match (index("start_index"), index("end_index")) {
        (Some(0), Some(0)) => (None, None),
        span => span,
    };
    Citation {
        url: text("url"),
        title: text("title"),
        cited_text: text("content"),
        start,
        end,
        ..Citation::new(kind, annotation.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::EventDecoder;
    use rivulet_core::ErrorKind;

    fn feed_all(d: &mut ChatDecoder, events: &[&str]) -> Vec<Result<Chunk, Error>> {
        let mut out = Vec::new();
        for e in events {
            out.extend(d.feed(&SseEvent::message(*e)));
        }
        out
    }

    fn ok(v: Vec<Result<Chunk, Error>>) -> Vec<Chunk> {
        v.into_iter().map(|c| c.unwrap()).collect()
    }

    /// Every recorded stream decodes the same with [`TextChunk`] tried
    /// first as with the whole parse only: the same chunks, the same
    /// errors, in the same order. Run over every `.sse` transcript, of any
    /// protocol: on bytes that are not chat completions both must fail
    /// alike.
    #[test]
    fn the_text_chunk_path_decodes_every_recording_as_the_whole_parse_does() {
        let fast_text_chunks = crate::decode::assert_decodes_alike(
            "p",
            &crate::decode::recorded_sse_events(),
            ChatCompletions::default,
            || ChatCompletions {
                text_chunks: FastPath::closed(),
                ..ChatCompletions::default()
            },
            |e| serde_json::from_str::<TextChunk>(&e.data).is_ok_and(|c| c.text().is_some()),
        );
        // The comparison covers the fast path, not only its refusals.
        assert!(fast_text_chunks > 200, "{fast_text_chunks}");
    }

    /// The usage chunk that ends a stream (`choices: []`) is read by
    /// `TextChunk` and refused by `text()`, not a failed parse (whose error
    /// allocates); two choices still fail it.
    #[test]
    fn the_text_chunk_reads_the_usage_chunk_and_refuses_it() {
        let usage = r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;
        let chunk = serde_json::from_str::<TextChunk>(usage).unwrap();
        assert_eq!(chunk.text(), None);
        let one = r#"{"choices":[{"index":0,"delta":{"content":"a"}}]}"#;
        assert_eq!(
            serde_json::from_str::<TextChunk>(one).unwrap().text(),
            Some("a")
        );
        let two = r#"{"choices":[{"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}"#;
        assert!(serde_json::from_str::<TextChunk>(two).is_err());
    }

    #[test]
    fn kinds_open_and_close_parts() {
        let mut d = ChatDecoder::new("x");
        let chunks = ok(feed_all(
            &mut d,
            &[
                r#"{"choices":[{"delta":{"reasoning_content":"hm"}}]}"#,
                r#"{"choices":[{"delta":{"content":"a"}}]}"#,
                r#"{"choices":[{"delta":{"content":"b","refusal":"no"}}]}"#,
                r#"{"choices":[{"delta":{},"finish_reason":"stop"}]}"#,
            ],
        ));
        assert_eq!(
            chunks,
            vec![
                Chunk::ThoughtStart { part: 0 },
                Chunk::Thought {
                    part: 0,
                    delta: "hm".into()
                },
                Chunk::thought_end(0),
                Chunk::TextStart { part: 1 },
                Chunk::text(1, "a"),
                Chunk::text(1, "b"),
                Chunk::TextEnd { part: 1 },
                Chunk::TextStart { part: 2 },
                Chunk::text(2, "no"),
                Chunk::TextEnd { part: 2 },
                Chunk::FinishReason {
                    reason: FinishReason::Refusal,
                    raw: "stop".into()
                },
            ]
        );
    }

    #[test]
    fn a_new_id_on_a_used_index_starts_a_new_call() {
        let mut d = ChatDecoder::new("x");
        let chunks = ok(feed_all(
            &mut d,
            &[
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{}"}}]}}]}"#,
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"b","function":{"name":"g","arguments":"{\"x\""}}]}}]}"#,
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}"#,
                "[DONE]",
            ],
        ));
        assert_eq!(
            chunks,
            vec![
                Chunk::ToolCallStart {
                    part: 0,
                    id: "a".into(),
                    name: "f".into()
                },
                Chunk::ToolCall {
                    part: 0,
                    id: "a".into(),
                    delta: "{}".into()
                },
                Chunk::ToolCallEnd {
                    part: 0,
                    id: "a".into(),
                    signature: None,
                },
                Chunk::ToolCallStart {
                    part: 1,
                    id: "b".into(),
                    name: "g".into()
                },
                Chunk::ToolCall {
                    part: 1,
                    id: "b".into(),
                    delta: "{\"x\"".into()
                },
                Chunk::ToolCall {
                    part: 1,
                    id: "b".into(),
                    delta: ":1}".into()
                },
                Chunk::ToolCallEnd {
                    part: 1,
                    id: "b".into(),
                    signature: None,
                },
            ]
        );
    }

    #[test]
    fn whole_object_arguments_and_missing_ids() {
        let mut d = ChatDecoder::new("x");
        let chunks = ok(feed_all(
            &mut d,
            &[
                r#"{"choices":[{"delta":{"tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]},"finish_reason":"tool_calls"}]}"#,
            ],
        ));
        assert_eq!(
            chunks,
            vec![
                Chunk::ToolCallStart {
                    part: 0,
                    id: "call_0".into(),
                    name: "f".into()
                },
                Chunk::ToolCall {
                    part: 0,
                    id: "call_0".into(),
                    delta: r#"{"a":1}"#.into()
                },
                Chunk::ToolCallEnd {
                    part: 0,
                    id: "call_0".into(),
                    signature: None,
                },
                Chunk::FinishReason {
                    reason: FinishReason::ToolCalls,
                    raw: "tool_calls".into()
                },
            ]
        );
    }

    #[test]
    fn truncated_stream_keeps_text_and_leaves_tool_calls_open() {
        let mut d = ChatDecoder::new("x");
        let mut out = feed_all(
            &mut d,
            &[
                r#"{"choices":[{"delta":{"content":"a"}}]}"#,
                r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"c","function":{"name":"f","arguments":"{"}}]}}]}"#,
            ],
        );
        out.extend(d.finish());
        let err = out.pop().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connection);
        assert!(
            err.message()
                .starts_with("the stream ended before [DONE] or a finish reason"),
            "{err}"
        );
        assert_eq!(err.provider(), Some("x"));
        let chunks = ok(out);
        assert!(chunks.contains(&Chunk::TextEnd { part: 0 }));
        assert!(!chunks
            .iter()
            .any(|c| matches!(c, Chunk::ToolCallEnd { .. })));
        assert!(d.is_done());
        assert!(d.feed(&SseEvent::message("[DONE]")).is_empty());
        assert!(d.finish().is_empty());
    }

    #[test]
    fn eof_after_finish_is_fine() {
        let mut d = ChatDecoder::new("x");
        let out = feed_all(
            &mut d,
            &[r#"{"choices":[{"delta":{"content":"a"},"finish_reason":"length"}]}"#],
        );
        assert_eq!(out.len(), 4);
        assert!(d.finish().is_empty());
        assert!(d.is_done());
    }

    #[test]
    fn malformed_json_is_a_protocol_error() {
        let mut d = ChatDecoder::new("x");
        let mut out = feed_all(
            &mut d,
            &[r#"{"choices":[{"delta":{"content":"a"}}]}"#, "{not json"],
        );
        let err = out.pop().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Protocol);
        assert!(err.message().contains("{not json"), "{}", err.message());
        assert_eq!(ok(out).last(), Some(&Chunk::TextEnd { part: 0 }));
    }

    #[test]
    fn usage_reports_become_deltas() {
        let mut d = ChatDecoder::new("x");
        let chunks = ok(feed_all(
            &mut d,
            &[
                r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":1}}"#,
                r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5}}"#,
                r#"{"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5}}"#,
            ],
        ));
        let mut total = Usage::default();
        for c in &chunks {
            if let Chunk::UsageDelta { usage } = c {
                total.apply(usage);
            }
        }
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            (total.input_tokens, total.output_tokens),
            (Some(10), Some(5))
        );
    }

    #[test]
    fn xai_reasoning_is_added_to_output() {
        let u: CompletionUsage = serde_json::from_str(
            r#"{"prompt_tokens":12,"completion_tokens":2,"total_tokens":354,"completion_tokens_details":{"reasoning_tokens":340}}"#,
        )
        .unwrap();
        assert_eq!(usage_from_wire(&u).output_tokens, Some(342));
        let u: CompletionUsage = serde_json::from_str(
            r#"{"prompt_tokens":343,"completion_tokens":180,"total_tokens":523,"completion_tokens_details":{"reasoning_tokens":153}}"#,
        )
        .unwrap();
        assert_eq!(usage_from_wire(&u).output_tokens, Some(180));
    }

    #[test]
    fn inband_error_kinds() {
        let kind = |json: &str| {
            let body: ChatErrorBody = serde_json::from_str(json).unwrap();
            inband_error("p", &body).kind()
        };
        assert_eq!(kind(r#"{"code":400,"message":"m"}"#), ErrorKind::BadRequest);
        assert_eq!(
            kind(r#"{"code":"x","status_code":429}"#),
            ErrorKind::RateLimit
        );
        assert_eq!(
            kind(r#"{"type":"rate_limit_exceeded"}"#),
            ErrorKind::RateLimit
        );
        assert_eq!(
            kind(r#"{"type":"overloaded_error"}"#),
            ErrorKind::Overloaded
        );
        assert_eq!(
            kind(r#"{"code":"invalid_api_key"}"#),
            ErrorKind::Authentication
        );
        assert_eq!(
            kind(r#"{"type":"server_error","message":"boom"}"#),
            ErrorKind::Server
        );
        assert_eq!(kind(r#""just text""#), ErrorKind::Server);
        assert_eq!(
            kind(r#"{"code":502,"message":"upstream"}"#),
            ErrorKind::Server
        );
    }

    #[test]
    fn raw_events_come_first_and_are_typed() {
        let mut d = ChatDecoder::new("openrouter").raw_events(true);
        let out = ok(feed_all(
            &mut d,
            &[
                r#"{"id":"g","choices":[{"delta":{"content":"a"}}]}"#,
                "[DONE]",
            ],
        ));
        let Chunk::Raw(raw) = &out[0] else {
            panic!("{out:?}")
        };
        assert_eq!(raw.provider(), "openrouter");
        assert_eq!(
            raw.downcast_ref::<ChatCompletionChunk>()
                .unwrap()
                .id
                .as_deref(),
            Some("g")
        );
        assert!(matches!(&out[4], Chunk::Raw(r) if r.json() == "[DONE]"));
    }
}
