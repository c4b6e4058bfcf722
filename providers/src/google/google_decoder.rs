//! Gemini streaming decoding (Gemini API and Vertex AI): a pure state
//! machine from SSE events to core [`Chunk`]s. No I/O.
//!
//! Each event is a whole `GenerateContentResponse`; candidate 0 is read
//! (`index` absent counts as 0). The rules:
//! 1. metadata (`responseId`, `modelVersion`) once, from the first event
//!    that has either;
//! 2. parts, in order: consecutive `text` fragments are one text part,
//!    consecutive `thought: true` fragments one thought part, and a kind
//!    change ends the open part;
//!    - a `functionCall` with a name and no `willContinue` arrives whole:
//!      start, one delta with the arguments as JSON text, end; its id is
//!      the call's `id`, else `call_<part>`;
//!    - a `functionCall` with a name and `willContinue: true` (or
//!      `partialArgs`) starts a streamed call (Gemini 3's
//!      `streamFunctionCallArguments`): the parts after it carry no name
//!      and `partialArgs`, which become tool-call deltas as they come (see
//!      [`ArgsWriter`]); the first part without `willContinue` (often a
//!      bare `{}`) ends the call. A call still open when the finish reason
//!      comes stays incomplete;
//!    - `thoughtSignature` is kept where it came: a thought's ends the
//!      thought with it; a function call's goes on the call's end chunk; a
//!      text's becomes a thought with no text and that signature, right
//!      after the text part (the request builder puts it back on the text);
//!    - any other part (`executableCode`, `inlineData`, …) is a provider
//!      part with the whole part's JSON;
//! 3. `finishReason` (or a prompt `blockReason`) ends every part and gives
//!    the finish reason, raw kept; `STOP` with function calls in the turn is
//!    `tool_calls`;
//! 4. `usageMetadata` comes on most events as running totals, reported as
//!    they come. Totals can go down between events (gemini-2.0 restates the
//!    prompt count; around built-in tools the candidate and thought counts
//!    restart), and the last snapshot is what counts: the deltas are signed.
//!    A count reported before and missing from a later snapshot is zero
//!    there (proto3 JSON leaves zeros out); one never reported stays
//!    unknown, and a `usageMetadata` with no counts at all (Vertex's
//!    `trafficType` alone) is not a snapshot;
//! 5. there is no terminator: EOF after a finish reason is the normal end,
//!    EOF before one a truncated stream ([`Error::Connection`]);
//! 6. an `error` object in the stream ends it with that error.

use std::sync::Arc;

use rivulet_core::{
    Chunk, Citation, CitationKind, Delta, Error, ErrorContext, FinishReason, ProviderPart, Usage,
};
use serde_json::Value;

use super::google_wire::{
    GenerateContentResponse, GoogleErrorBody, GoogleFunctionCall, Part, TextResponse, UsageMetadata,
};
use super::partial_args::ArgsWriter;
use crate::decode::{Decoded, Driver, FastPath, Flow, Parts, Protocol, UsageTracker, Wire};
use crate::sse::{SseEvent, SseRef};
use crate::streamed_text::{OpenTextPart, TextKind};

/// A function call whose arguments are still arriving (`partialArgs`).
#[derive(Debug)]
struct StreamedCall {
    part: usize,
    id: Arc<str>,
    signature: Option<String>,
    args: ArgsWriter,
}

/// The Gemini decoder.
///
/// ```
/// use rivulet_core::Response;
/// use rivulet_providers::decode::EventDecoder;
/// use rivulet_providers::google::GoogleDecoder;
/// use rivulet_providers::sse::SseEvent;
///
/// let mut d = GoogleDecoder::new("google");
/// let mut r = Response::default();
/// for data in [
///     r#"{"candidates":[{"content":{"parts":[{"text":"Hel"}],"role":"model"}}],"usageMetadata":{"promptTokenCount":4},"responseId":"r1"}"#,
///     r#"{"candidates":[{"content":{"parts":[{"text":"lo"}],"role":"model"},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2}}"#,
/// ] {
///     for c in d.feed(&SseEvent::message(data)) {
///         r.apply(&c.unwrap());
///     }
/// }
/// for c in d.finish() {
///     r.apply(&c.unwrap());
/// }
/// assert_eq!(r.text(), "Hello");
/// assert_eq!((r.usage.input_tokens, r.usage.output_tokens), (Some(4), Some(2)));
/// assert_eq!(r.raw_finish_reason.as_deref(), Some("STOP"));
/// ```
pub type GoogleDecoder = Driver<Gemini>;

/// The Gemini streaming protocol: what each response means.
#[derive(Debug, Default)]
pub struct Gemini {
    parts: Parts,
    /// The open text or thought part.
    text: OpenTextPart,
    /// The latest text part: grounding citations belong to it.
    last_text: Option<usize>,
    /// Signatures that came on fragments of the open text part.
    text_signatures: Vec<String>,
    function_calls: usize,
    metadata_sent: bool,
    finish_seen: bool,
    /// The function call whose arguments are streaming.
    streamed: Option<StreamedCall>,
    /// The latest usage snapshot, as on the wire (zeros filled in).
    wire_usage: Option<UsageMetadata>,
    /// The latest usage snapshot.
    latest_usage: Option<Usage>,
    /// The usage deltas sent.
    usage: UsageTracker,
    /// The fast path of text responses ([`TextResponse`]), tried once the
    /// metadata was sent.
    text_responses: FastPath,
}

impl GoogleDecoder {
    /// A decoder for `provider` (`"google"` or `"vertex"`; used in errors,
    /// raw events and provider parts); raw events are typed as
    /// [`GenerateContentResponse`] where they parse.
    pub fn new(provider: &str) -> Self {
        Driver::with(provider, Gemini::default())
    }
}

impl Gemini {
    fn on_response(
        &mut self,
        provider: &str,
        r: GenerateContentResponse,
        out: &mut Decoded,
    ) -> Result<(), Error> {
        if !self.metadata_sent {
            let id = r.response_id.filter(|s| !s.is_empty());
            let model = r.model_version.filter(|s| !s.is_empty());
            if id.is_some() || model.is_some() {
                self.metadata_sent = true;
                out.push(Ok(Chunk::Metadata { id, model }));
            }
        }
        self.on_usage(r.usage_metadata.as_ref());
        if let Some(error) = &r.error {
            return Err(inband_error(provider, error));
        }
        let candidate = r
            .candidates
            .into_iter()
            .flatten()
            .find(|c| c.index.unwrap_or(0) == 0);
        if let Some(c) = candidate {
            for part in c.content.map(|c| c.parts).unwrap_or_default() {
                self.on_part(provider, part, out)?;
            }
            if let Some(grounding) = &c.grounding_metadata {
                self.on_grounding(grounding, out);
            }
            if let Some(reason) = c.finish_reason.filter(|r| !r.is_empty()) {
                self.on_finish(&reason, false, out);
            }
        } else if let Some(reason) = r
            .prompt_feedback
            .and_then(|f| f.block_reason)
            .filter(|r| !r.is_empty())
        {
            self.on_finish(&reason, true, out);
        }
        self.release_usage(out);
        Ok(())
    }

    /// Takes a response's usage snapshot (Gemini repeats the whole usage
    /// on every response); sent as deltas by `release_usage`.
    fn on_usage(&mut self, usage: Option<&UsageMetadata>) {
        if let Some(u) = usage {
            if let Some(snapshot) = restate(self.wire_usage.as_ref(), u) {
                self.latest_usage = Some(usage_from_wire(&snapshot));
                self.wire_usage = Some(snapshot);
            }
        }
    }

    fn on_part(&mut self, provider: &str, part: Part, out: &mut Decoded) -> Result<(), Error> {
        if let Some(call) = part.function_call {
            let signature = part.thought_signature.filter(|s| !s.is_empty());
            return self
                .on_function_call(call, signature, out)
                .map_err(Error::protocol);
        }
        let signature = part.thought_signature.clone().filter(|s| !s.is_empty());
        // A part with no data but a signature is read as an empty text (or
        // thought): the signature alone.
        let bare = part.other.is_empty() && part.function_response.is_none();
        if part.text.is_some() || bare {
            let text = part.text.as_deref().unwrap_or_default();
            if part.thought == Some(true) {
                self.push(TextKind::Thought, text, out);
                if let Some(sig) = signature {
                    // The signature closes the thought it came with (one
                    // with no text when none is open).
                    let p = self.open(TextKind::Thought, out);
                    self.text.close();
                    out.push(Ok(Chunk::ThoughtEnd {
                        part: p,
                        signature: Some(sig),
                        redacted: None,
                    }));
                }
            } else {
                self.push(TextKind::Text, text, out);
                if let Some(sig) = signature {
                    match self.text.part(TextKind::Text) {
                        // Kept for when the text part ends.
                        Some(_) => self.text_signatures.push(sig),
                        // An empty text with a signature: the signature alone.
                        None => {
                            self.end_current(out);
                            self.signature_only(sig, out);
                        }
                    }
                }
            }
            return Ok(());
        }
        // Something else: kept whole.
        self.end_current(out);
        let kind = part
            .other
            .keys()
            .next()
            .cloned()
            .unwrap_or_else(|| "part".to_string());
        let json = serde_json::to_value(&part).unwrap_or_default();
        let p = self.parts.take();
        out.push(Ok(Chunk::ProviderPart {
            part: p,
            block: Box::new(ProviderPart {
                provider: provider.to_string(),
                kind,
                json,
            }),
        }));
        Ok(())
    }

    /// A `functionCall` part: a whole call, or the start, a piece or the
    /// end of a streamed one. An error is the reason the part does not fit.
    fn on_function_call(
        &mut self,
        call: GoogleFunctionCall,
        signature: Option<String>,
        out: &mut Decoded,
    ) -> Result<(), String> {
        let streaming = !call.partial_args.is_empty() || call.will_continue == Some(true);
        match call.name.filter(|n| !n.is_empty()) {
            // A new call: one still streaming has had its last part.
            Some(name) => {
                self.end_streamed(out);
                self.end_current(out);
                let p = self.parts.take();
                self.function_calls += 1;
                let id: Arc<str> = call
                    .id
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| format!("call_{p}"))
                    .into();
                out.push(Ok(Chunk::ToolCallStart {
                    part: p,
                    id: id.clone(),
                    name,
                }));
                if !streaming {
                    let args = match call.args {
                        None | Some(serde_json::Value::Null) => "{}".to_string(),
                        Some(v) => v.to_string(),
                    };
                    out.push(Ok(Chunk::ToolCall {
                        part: p,
                        id: id.clone(),
                        delta: args.into(),
                    }));
                    out.push(Ok(Chunk::ToolCallEnd {
                        part: p,
                        id,
                        signature,
                    }));
                    return Ok(());
                }
                if call.args.is_some() {
                    return Err("a functionCall with both args and streamed arguments".into());
                }
                self.streamed = Some(StreamedCall {
                    part: p,
                    id,
                    signature,
                    args: ArgsWriter::default(),
                });
            }
            None => {
                let Some(open) = self.streamed.as_mut() else {
                    if !call.partial_args.is_empty() || call.args.is_some() {
                        return Err(
                            "a functionCall without a name, and no call is streaming".into()
                        );
                    }
                    // A closing `{}` with nothing open closes nothing.
                    return Ok(());
                };
                if call.args.is_some() {
                    return Err("a functionCall with both args and streamed arguments".into());
                }
                if open.signature.is_none() {
                    open.signature = signature;
                }
            }
        }
        if let Some(open) = self.streamed.as_mut() {
            for arg in &call.partial_args {
                let text = open.args.push(arg)?;
                if !text.is_empty() {
                    out.push(Ok(Chunk::ToolCall {
                        part: open.part,
                        id: open.id.clone(),
                        delta: text.into(),
                    }));
                }
            }
        }
        if call.will_continue != Some(true) {
            self.end_streamed(out);
        }
        Ok(())
    }

    /// Ends the streamed call, if one is open: the rest of its arguments'
    /// text (closing quotes and brackets), then its end.
    fn end_streamed(&mut self, out: &mut Decoded) {
        if let Some(mut call) = self.streamed.take() {
            out.push(Ok(Chunk::ToolCall {
                part: call.part,
                id: call.id.clone(),
                delta: call.args.finish().into(),
            }));
            out.push(Ok(Chunk::ToolCallEnd {
                part: call.part,
                id: call.id,
                signature: call.signature,
            }));
        }
    }

    /// Appends to the open part of `kind`, starting one if another kind is
    /// open; empty text is nothing.
    #[inline]
    fn push<T>(&mut self, kind: TextKind, text: T, out: &mut Decoded)
    where
        T: AsRef<str> + Into<Delta>,
    {
        if text.as_ref().is_empty() {
            return;
        }
        let part = self.open(kind, out);
        out.push(Ok(kind.delta(part, text.into())));
    }

    /// The open part of `kind`; when another is open, it is ended (with
    /// the signatures kept for a text part) and a part of `kind` started.
    /// Not [`OpenTextPart::open`], which would end a text part without its
    /// signatures.
    #[inline]
    fn open(&mut self, kind: TextKind, out: &mut Decoded) -> usize {
        if let Some(part) = self.text.part(kind) {
            return part;
        }
        self.end_current(out);
        let part = self.text.start(kind, &mut self.parts, out);
        if kind == TextKind::Text {
            self.last_text = Some(part);
        }
        part
    }

    /// Grounding metadata: one citation per source a support names (the
    /// span it supports, the source's URI and title), then one per source
    /// no support names; all belong to the latest text part (a text part
    /// opens for them when there is none). Each citation's `json` holds
    /// the source (`chunk`), the support (`support`) and the search
    /// queries (`webSearchQueries`). The empty `{}` of earlier chunks
    /// gives nothing.
    fn on_grounding(&mut self, g: &Value, out: &mut Decoded) {
        let list = |key: &str| {
            g.get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let sources = list("groundingChunks");
        let supports = list("groundingSupports");
        if sources.is_empty() && supports.is_empty() {
            return;
        }
        let queries = g.get("webSearchQueries").cloned().unwrap_or(Value::Null);
        let part = match self.last_text {
            Some(p) => p,
            // No text part yet: one opens.
            None => self.open(TextKind::Text, out),
        };
        let mut cited = vec![false; sources.len()];
        let push = |chunk: &Value, support: Option<&Value>, out: &mut Decoded| {
            let source = chunk
                .get("web")
                .or_else(|| chunk.get("retrievedContext"))
                .or_else(|| chunk.get("maps"));
            let text = |key: &str| source.and_then(|s| crate::decode::str_field(s, key));
            let kind = if chunk.get("web").is_some() || chunk.get("maps").is_some() {
                CitationKind::Url
            } else if chunk.get("retrievedContext").is_some() {
                CitationKind::Document
            } else {
                CitationKind::Other
            };
            let segment = support.and_then(|s| s.get("segment"));
            let index = |key: &str| segment.and_then(|s| crate::decode::index_field(s, key));
            let mut json = serde_json::json!({"chunk": chunk});
            if let Some(s) = support {
                json["support"] = s.clone();
            }
            if !queries.is_null() {
                json["webSearchQueries"] = queries.clone();
            }
            let citation = Citation {
                url: text("uri"),
                title: text("title"),
                cited_text: segment.and_then(|s| crate::decode::str_field(s, "text")),
                // A segment at the start of the text has no startIndex.
                start: segment.map(|_| index("startIndex").unwrap_or(0)),
                end: index("endIndex"),
                ..Citation::new(kind, json)
            };
            out.push(Ok(Chunk::Citation {
                part,
                citation: Box::new(citation),
            }));
        };
        for support in &supports {
            let indices = support
                .get("groundingChunkIndices")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for i in indices.iter().filter_map(Value::as_u64) {
                let Some(i) = usize::try_from(i).ok().filter(|i| *i < sources.len()) else {
                    continue;
                };
                cited[i] = true;
                push(&sources[i], Some(support), out);
            }
        }
        for (chunk, _) in sources.iter().zip(&cited).filter(|(_, c)| !**c) {
            push(chunk, None, out);
        }
    }

    /// A thought with no text that carries a text part's signature.
    fn signature_only(&mut self, signature: String, out: &mut Decoded) {
        let p = self.parts.take();
        out.push(Ok(Chunk::ThoughtStart { part: p }));
        out.push(Ok(Chunk::ThoughtEnd {
            part: p,
            signature: Some(signature),
            redacted: None,
        }));
    }

    /// Ends the open part; a text part's signatures follow it, each as a
    /// thought of its own.
    fn end_current(&mut self, out: &mut Decoded) {
        if let Some((TextKind::Text, _)) = self.text.end(out) {
            for sig in std::mem::take(&mut self.text_signatures) {
                self.signature_only(sig, out);
            }
        }
    }

    fn on_finish(&mut self, raw: &str, prompt_blocked: bool, out: &mut Decoded) {
        // Later events may repeat it; the first counts.
        if self.finish_seen {
            return;
        }
        self.finish_seen = true;
        self.end_current(out);
        let reason = if prompt_blocked {
            FinishReason::ContentFilter
        } else {
            match finish_reason(raw) {
                FinishReason::Stop if self.function_calls > 0 => FinishReason::ToolCalls,
                other => other,
            }
        };
        out.push(Ok(Chunk::FinishReason {
            reason,
            raw: raw.to_string(),
        }));
    }

    /// Reports the latest usage snapshot (nothing when it was reported
    /// already).
    fn release_usage(&mut self, out: &mut Decoded) {
        if let Some(u) = self.latest_usage {
            self.usage.report(u, out);
        }
    }
}

impl Protocol for Gemini {
    type Event = SseEvent;

    fn event(&mut self, wire: &Wire, event: SseRef<'_>, out: &mut Decoded) -> Result<Flow, Error> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Flow::Continue);
        }
        if self.metadata_sent && !wire.raw_events() {
            // The common response, read without buffering its parts (see
            // `TextResponse`); it decodes exactly as `on_response` would.
            if let Some(r) = self.text_responses.read::<TextResponse>(data) {
                if r.text_parts().is_some() {
                    self.on_usage(r.usage_metadata.as_ref());
                    // Each text moves into its chunk: an owned one (its
                    // JSON had escapes) keeps its buffer.
                    let [candidate] = r.candidates;
                    for part in candidate.content.parts {
                        self.push(TextKind::Text, part.text, out);
                    }
                    self.release_usage(out);
                    return Ok(Flow::Continue);
                }
            }
        }
        let response = wire
            .parse::<GenerateContentResponse>(out, event.data, data)
            .map_err(|e| crate::errors::malformed("GenerateContentResponse", e, data))?;
        self.on_response(wire.provider(), response, out)?;
        Ok(Flow::Continue)
    }

    /// The end of the body is how a Gemini stream ends: fine after a
    /// finish reason, a truncated response before.
    fn end(&mut self, _: &Wire, out: &mut Decoded) -> Result<(), Error> {
        if !self.finish_seen {
            return Err(crate::errors::cut_short("a finish reason"));
        }
        self.end_current(out);
        self.release_usage(out);
        Ok(())
    }

    /// Also reports the usage known so far.
    fn interrupt(&mut self, _: &Wire, out: &mut Decoded) {
        self.end_current(out);
        self.release_usage(out);
    }
}

/// The normalized finish reason of a `finishReason`.
pub fn finish_reason(raw: &str) -> FinishReason {
    match raw {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::MaxTokens,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        // MALFORMED_FUNCTION_CALL, UNEXPECTED_TOOL_CALL, LANGUAGE, OTHER, …
        _ => FinishReason::Other,
    }
}

/// The snapshot `now` stands for after `before`: `None` when it has no
/// count at all; otherwise `now`, where a count `before` had and `now`
/// leaves out is zero (proto3 JSON leaves zeros out).
fn restate(before: Option<&UsageMetadata>, now: &UsageMetadata) -> Option<UsageMetadata> {
    let counts = |u: &UsageMetadata| {
        [
            u.prompt_token_count,
            u.candidates_token_count,
            u.thoughts_token_count,
            u.cached_content_token_count,
            u.tool_use_prompt_token_count,
            u.total_token_count,
        ]
    };
    if counts(now).iter().all(Option::is_none) {
        return None;
    }
    let Some(before) = before else {
        return Some(*now);
    };
    let zero_if_gone = |now: Option<u64>, before: Option<u64>| now.or(before.map(|_| 0));
    Some(UsageMetadata {
        prompt_token_count: zero_if_gone(now.prompt_token_count, before.prompt_token_count),
        candidates_token_count: zero_if_gone(
            now.candidates_token_count,
            before.candidates_token_count,
        ),
        thoughts_token_count: zero_if_gone(now.thoughts_token_count, before.thoughts_token_count),
        cached_content_token_count: zero_if_gone(
            now.cached_content_token_count,
            before.cached_content_token_count,
        ),
        tool_use_prompt_token_count: zero_if_gone(
            now.tool_use_prompt_token_count,
            before.tool_use_prompt_token_count,
        ),
        total_token_count: zero_if_gone(now.total_token_count, before.total_token_count),
        // The lists are whole in each snapshot that has them.
        prompt_tokens_details: match now.prompt_tokens_details.is_empty() {
            true => before.prompt_tokens_details,
            false => now.prompt_tokens_details,
        },
        candidates_tokens_details: match now.candidates_tokens_details.is_empty() {
            true => before.candidates_tokens_details,
            false => now.candidates_tokens_details,
        },
    })
}

/// Core [`Usage`] from `usageMetadata`: input is the prompt (tool-use
/// prompt tokens included), output the candidates plus the thoughts
/// (Gemini counts them apart; core's output includes reasoning), reasoning
/// the thoughts, cache reads the cached content.
pub fn usage_from_wire(u: &UsageMetadata) -> Usage {
    let sum = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    };
    Usage {
        input_tokens: sum(u.prompt_token_count, u.tool_use_prompt_token_count),
        output_tokens: sum(u.candidates_token_count, u.thoughts_token_count),
        cache_read_tokens: u.cached_content_token_count,
        reasoning_tokens: u.thoughts_token_count,
        input_text_tokens: u.prompt_tokens_details.text,
        input_image_tokens: u.prompt_tokens_details.image,
        input_audio_tokens: u.prompt_tokens_details.audio,
        input_video_tokens: u.prompt_tokens_details.video,
        output_text_tokens: u.candidates_tokens_details.text,
        output_image_tokens: u.candidates_tokens_details.image,
        output_audio_tokens: u.candidates_tokens_details.audio,
        ..Default::default()
    }
}

/// The error a Google error object stands for: by the HTTP status it names
/// (`code`), except that an invalid API key (reason `API_KEY_INVALID`, or
/// status `UNAUTHENTICATED`) is an authentication error whatever the status
/// (Gemini answers a bad key with 400). The code kept is the reason when
/// there is one, else the status (`NOT_FOUND`).
pub fn google_error(
    provider: &str,
    http_status: Option<u16>,
    e: &GoogleErrorBody,
    retry_after: Option<std::time::Duration>,
) -> Error {
    let message = e
        .message
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "the provider reported an error".to_string());
    let code = e
        .reason()
        .map(str::to_string)
        .or_else(|| e.status.clone().filter(|s| !s.is_empty()));
    let auth =
        e.reason() == Some("API_KEY_INVALID") || e.status.as_deref() == Some("UNAUTHENTICATED");
    let status = http_status.or(e.code).filter(|s| (400..=599).contains(s));
    if auth {
        let mut ctx = ErrorContext::new(message).provider(provider);
        ctx.status = status;
        ctx.code = code;
        return Error::Authentication { ctx: Box::new(ctx) };
    }
    match status {
        Some(status) => Error::from_status(provider, status, message, code, retry_after),
        None => {
            let mut ctx = ErrorContext::new(message).provider(provider);
            ctx.code = code;
            Error::Server {
                status: 500,
                ctx: Box::new(ctx),
            }
        }
    }
}

/// An `error` object sent inside the stream (after a 200): no HTTP status
/// of its own, so its `code` decides.
fn inband_error(provider: &str, e: &GoogleErrorBody) -> Error {
    let mut err = google_error(provider, None, e, None);
    // The response itself was a 200: keep the status it stands for in the
    // kind, not as the HTTP status.
    err.context_mut().status = None;
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::EventDecoder;
    use rivulet_core::ErrorKind;

    /// Every recorded stream decodes the same with [`TextResponse`] tried
    /// first as with the whole parse only: the same chunks (usage deltas
    /// included), the same errors, in the same order. Run over every
    /// `.sse` transcript, of any protocol.
    #[test]
    fn the_text_response_path_decodes_every_recording_as_the_whole_parse_does() {
        let fast = crate::decode::assert_decodes_alike(
            "google",
            &crate::decode::recorded_sse_events(),
            Gemini::default,
            || Gemini {
                text_responses: FastPath::closed(),
                ..Gemini::default()
            },
            |e| {
                serde_json::from_str::<TextResponse>(e.data.trim())
                    .is_ok_and(|r| r.text_parts().is_some())
            },
        );
        // The comparison covers the fast path, not only its refusals.
        assert!(fast >= 8, "{fast}");
    }

    fn feed_all(d: &mut GoogleDecoder, events: &[&str]) -> Decoded {
        let mut out = Vec::new();
        for e in events {
            out.extend(d.feed(&SseEvent::message(*e)));
        }
        out
    }

    fn ok(v: Decoded) -> Vec<Chunk> {
        v.into_iter().map(|c| c.unwrap()).collect()
    }

    #[test]
    fn signatures_stay_where_they_came() {
        let mut d = GoogleDecoder::new("google");
        let mut out = feed_all(
            &mut d,
            &[
                r#"{"candidates":[{"content":{"parts":[{"text":"a","thought":true},{"text":"b","thought":true,"thoughtSignature":"S1"},{"text":"c","thought":true}]}}]}"#,
                r#"{"candidates":[{"content":{"parts":[{"text":"x"},{"text":"y","thoughtSignature":"S2"},{"text":"z"}]}}]}"#,
                r#"{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"k":1}},"thoughtSignature":"S3"},{"text":"","thoughtSignature":"S4"},{},{"thoughtSignature":"S5"}]},"finishReason":"STOP"}]}"#,
            ],
        );
        out.extend(d.finish());
        let chunks = ok(out);
        let thought_end = |part, s: Option<&str>| Chunk::ThoughtEnd {
            part,
            signature: s.map(str::to_string),
            redacted: None,
        };
        assert_eq!(
            chunks,
            vec![
                Chunk::ThoughtStart { part: 0 },
                Chunk::Thought {
                    part: 0,
                    delta: "a".into()
                },
                Chunk::Thought {
                    part: 0,
                    delta: "b".into()
                },
                thought_end(0, Some("S1")),
                Chunk::ThoughtStart { part: 1 },
                Chunk::Thought {
                    part: 1,
                    delta: "c".into()
                },
                thought_end(1, None),
                Chunk::TextStart { part: 2 },
                Chunk::text(2, "x"),
                Chunk::text(2, "y"),
                Chunk::text(2, "z"),
                Chunk::TextEnd { part: 2 },
                Chunk::ThoughtStart { part: 3 },
                thought_end(3, Some("S2")),
                Chunk::ToolCallStart {
                    part: 4,
                    id: "call_4".into(),
                    name: "f".into()
                },
                Chunk::ToolCall {
                    part: 4,
                    id: "call_4".into(),
                    delta: r#"{"k":1}"#.into()
                },
                Chunk::ToolCallEnd {
                    part: 4,
                    id: "call_4".into(),
                    signature: Some("S3".into())
                },
                Chunk::ThoughtStart { part: 5 },
                thought_end(5, Some("S4")),
                Chunk::ThoughtStart { part: 6 },
                thought_end(6, Some("S5")),
                Chunk::FinishReason {
                    reason: FinishReason::ToolCalls,
                    raw: "STOP".into()
                },
            ]
        );
    }

    #[test]
    fn usage_is_the_last_snapshot() {
        let mut d = GoogleDecoder::new("google");
        let mut out = feed_all(
            &mut d,
            &[
                r#"{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":15}}"#,
                r#"{"candidates":[{"content":{"parts":[{"text":"b"}]},"finishReason":"MAX_TOKENS"}],"usageMetadata":{"promptTokenCount":13,"candidatesTokenCount":8,"thoughtsTokenCount":2,"cachedContentTokenCount":4}}"#,
            ],
        );
        out.extend(d.finish());
        let mut total = Usage::default();
        for c in ok(out) {
            if let Chunk::UsageDelta { usage } = c {
                total.apply(&usage);
            }
        }
        assert_eq!(
            total,
            Usage {
                input_tokens: Some(13),
                output_tokens: Some(10),
                cache_read_tokens: Some(4),
                reasoning_tokens: Some(2),
                ..Default::default()
            }
        );
    }

    /// The folded usage after each event.
    fn usage_per_event(events: &[&str]) -> Vec<Usage> {
        let mut d = GoogleDecoder::new("google");
        let mut total = Usage::default();
        let mut seen = Vec::new();
        for e in events {
            for c in ok(d.feed(&SseEvent::message(*e))) {
                if let Chunk::UsageDelta { usage } = c {
                    total.apply(&usage);
                }
            }
            seen.push(total);
        }
        seen
    }

    fn counts(input: u64, output: u64, reasoning: Option<u64>) -> Usage {
        Usage {
            input_tokens: Some(input),
            output_tokens: Some(output),
            reasoning_tokens: reasoning,
            ..Default::default()
        }
    }

    /// Usage is reported as it comes, and a later snapshot that is lower
    /// (even after the finish reason) is the truth: the deltas go down.
    #[test]
    fn usage_follows_every_snapshot_down_as_well_as_up() {
        let seen = usage_per_event(&[
            r#"{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":15,"candidatesTokenCount":5,"thoughtsTokenCount":9}}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"b"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":13,"candidatesTokenCount":3,"thoughtsTokenCount":4}}"#,
            r#"{"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":2,"thoughtsTokenCount":1}}"#,
        ]);
        assert_eq!(
            seen,
            [
                counts(15, 14, Some(9)),
                counts(13, 7, Some(4)),
                counts(12, 3, Some(1))
            ]
        );
    }

    /// A count reported before and missing later is zero (proto3 JSON
    /// leaves zeros out); usage with no count at all is not a snapshot;
    /// a count never reported stays unknown.
    #[test]
    fn counts_that_disappear_are_zero() {
        let seen = usage_per_event(&[
            r#"{"usageMetadata":{"trafficType":"ON_DEMAND"}}"#,
            r#"{"usageMetadata":{"promptTokenCount":9,"candidatesTokenCount":21,"thoughtsTokenCount":35}}"#,
            r#"{"usageMetadata":{"trafficType":"ON_DEMAND"}}"#,
            r#"{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":87,"thoughtsTokenCount":78}}"#,
        ]);
        assert_eq!(seen[0], Usage::default());
        assert_eq!(seen[1], counts(9, 56, Some(35)));
        assert_eq!(seen[2], counts(9, 56, Some(35)));
        assert_eq!(seen[3], counts(87, 78, Some(78)));
        assert_eq!(seen[3].cache_read_tokens, None);
    }

    /// The tool-call chunks of a decoded stream: (part, kind, text).
    fn calls(chunks: &[Chunk]) -> Vec<(usize, &'static str, String)> {
        chunks
            .iter()
            .filter_map(|c| match c {
                Chunk::ToolCallStart { part, id, name } => {
                    Some((*part, "start", format!("{id} {name}")))
                }
                Chunk::ToolCall { part, delta, .. } => Some((*part, "delta", delta.to_string())),
                Chunk::ToolCallEnd {
                    part, signature, ..
                } => Some((*part, "end", signature.clone().unwrap_or_default())),
                _ => None,
            })
            .collect()
    }

    fn call_part(body: &str) -> String {
        format!(r#"{{"candidates":[{{"content":{{"parts":[{body}]}}}}]}}"#)
    }

    /// Streamed arguments (`partialArgs`) become deltas as they come; the
    /// first part without `willContinue` ends the call.
    #[test]
    fn streamed_arguments_become_deltas() {
        let events = [
            call_part(
                r#"{"functionCall":{"name":"f","willContinue":true},"thoughtSignature":"S"}"#,
            ),
            call_part(
                r#"{"functionCall":{"partialArgs":[{"jsonPath":"$.city","stringValue":"San ","willContinue":true}],"willContinue":true}}"#,
            ),
            call_part(r#"{"functionCall":{"willContinue":true}}"#),
            call_part(
                r#"{"functionCall":{"partialArgs":[{"jsonPath":"$.city","stringValue":"José"},{"jsonPath":"$.days","numberValue":3}],"willContinue":true}}"#,
            ),
            call_part(r#"{"functionCall":{}}"#),
            // Nothing open: a closing part closes nothing.
            call_part(r#"{"functionCall":{}}"#),
            // A one-part streamed call, ended by its own last piece.
            call_part(
                r#"{"functionCall":{"name":"g","partialArgs":[{"jsonPath":"$.ok","boolValue":true}]}}"#,
            ),
            r#"{"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP"}]}"#
                .to_string(),
        ];
        let refs: Vec<&str> = events.iter().map(String::as_str).collect();
        let mut d = GoogleDecoder::new("google");
        let mut out = feed_all(&mut d, &refs);
        out.extend(d.finish());
        let chunks = ok(out);
        let s = |p, k, t: &str| (p, k, t.to_string());
        assert_eq!(
            calls(&chunks),
            [
                s(0, "start", "call_0 f"),
                s(0, "delta", r#"{"city":"San "#),
                s(0, "delta", "José\""),
                s(0, "delta", r#","days":3"#),
                s(0, "delta", "}"),
                s(0, "end", "S"),
                s(1, "start", "call_1 g"),
                s(1, "delta", r#"{"ok":true"#),
                s(1, "delta", "}"),
                s(1, "end", ""),
            ]
        );
        let mut r = rivulet_core::Response::default();
        for c in &chunks {
            r.apply(c);
        }
        let calls = r.tool_calls();
        assert_eq!(calls[0].args, r#"{"city":"San José","days":3}"#);
        assert_eq!(calls[1].args, r#"{"ok":true}"#);
        assert_eq!(r.finish_reason, Some(FinishReason::ToolCalls));
    }

    /// A new named call ends the one streaming; a call still streaming at
    /// the finish reason stays incomplete (it must never run).
    #[test]
    fn streamed_calls_end_by_a_new_call_or_stay_incomplete() {
        let events = [
            call_part(r#"{"functionCall":{"name":"f","id":"a","willContinue":true}}"#),
            call_part(
                r#"{"functionCall":{"partialArgs":[{"jsonPath":"$.x[0]","stringValue":"1","willContinue":true}],"willContinue":true}}"#,
            ),
            call_part(r#"{"functionCall":{"name":"g","id":"b","args":{"y":2}}}"#),
            call_part(r#"{"functionCall":{"name":"h","id":"c","willContinue":true}}"#),
            call_part(
                r#"{"functionCall":{"partialArgs":[{"jsonPath":"$.z","stringValue":"cut"}],"willContinue":true}}"#,
            ),
            r#"{"candidates":[{"finishReason":"MAX_TOKENS"}]}"#.to_string(),
        ];
        let refs: Vec<&str> = events.iter().map(String::as_str).collect();
        let mut d = GoogleDecoder::new("google");
        let mut out = feed_all(&mut d, &refs);
        out.extend(d.finish());
        let mut r = rivulet_core::Response::default();
        for c in ok(out) {
            r.apply(&c);
        }
        let done: Vec<(&str, &str)> = r
            .tool_calls()
            .iter()
            .map(|c| (&*c.id, c.args.as_str()))
            .collect();
        assert_eq!(done, [("a", r#"{"x":["1"]}"#), ("b", r#"{"y":2}"#)]);
        let cut = r.incomplete_tool_calls();
        assert_eq!(cut.len(), 1);
        assert_eq!((&*cut[0].id, cut[0].args.as_str()), ("c", r#"{"z":"cut""#));
    }

    /// Pieces that do not fit are protocol errors, not wrong arguments.
    #[test]
    fn streamed_arguments_that_do_not_fit_are_protocol_errors() {
        let kind = |events: &[String]| {
            let refs: Vec<&str> = events.iter().map(String::as_str).collect();
            let mut d = GoogleDecoder::new("google");
            let out = feed_all(&mut d, &refs);
            out.into_iter().find_map(Result::err).map(|e| e.kind())
        };
        let start = call_part(r#"{"functionCall":{"name":"f","willContinue":true}}"#);
        let piece = |path: &str| {
            call_part(&format!(
                r#"{{"functionCall":{{"partialArgs":[{{"jsonPath":"{path}","stringValue":"v"}}],"willContinue":true}}}}"#
            ))
        };
        // Pieces with no call streaming.
        assert_eq!(kind(&[piece("$.a")]), Some(ErrorKind::Protocol));
        // A value set twice; a path that goes back; a path that is not one.
        for bad in [
            vec![start.clone(), piece("$.a"), piece("$.a")],
            vec![
                start.clone(),
                piece("$.a[0].b"),
                piece("$.a[1].b"),
                piece("$.a[0].c"),
            ],
            vec![start.clone(), piece("a.b")],
        ] {
            assert_eq!(kind(&bad), Some(ErrorKind::Protocol), "{bad:?}");
        }
        // Whole args on a streamed call.
        assert_eq!(
            kind(&[call_part(
                r#"{"functionCall":{"name":"f","args":{},"willContinue":true}}"#
            )]),
            Some(ErrorKind::Protocol)
        );
        assert_eq!(kind(&[start, piece("$.a"), piece("$.b")]), None);
    }

    #[test]
    fn eof_before_a_finish_reason_is_truncated_and_keeps_usage() {
        let mut d = GoogleDecoder::new("vertex");
        let mut out = feed_all(
            &mut d,
            &[
                r#"{"candidates":[{"content":{"parts":[{"text":"a"}]}}],"usageMetadata":{"promptTokenCount":3}}"#,
            ],
        );
        out.extend(d.finish());
        let err = out.pop().unwrap().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Connection);
        assert_eq!(err.provider(), Some("vertex"));
        let chunks = ok(out);
        // Usage is reported as it comes, before the text part ends.
        assert!(matches!(&chunks[2], Chunk::UsageDelta { usage } if usage.input_tokens == Some(3)));
        assert_eq!(chunks[3], Chunk::TextEnd { part: 0 });
        assert!(d.is_done());
        assert!(d.finish().is_empty());
    }

    #[test]
    fn blocked_prompts_errors_and_other_parts() {
        let mut d = GoogleDecoder::new("google");
        let mut out = feed_all(
            &mut d,
            &[
                r#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":7}}"#,
            ],
        );
        out.extend(d.finish());
        let chunks = ok(out);
        assert_eq!(
            chunks[0],
            Chunk::FinishReason {
                reason: FinishReason::ContentFilter,
                raw: "PROHIBITED_CONTENT".into()
            }
        );

        let mut d = GoogleDecoder::new("google");
        let out = feed_all(
            &mut d,
            &[
                r#"{"candidates":[{"content":{"parts":[{"executableCode":{"language":"PYTHON","code":"1+1"}}]}}]}"#,
                r#"{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}"#,
            ],
        );
        assert_eq!(
            out[0].as_ref().unwrap(),
            &Chunk::ProviderPart {
                part: 0,
                block: Box::new(ProviderPart {
                    provider: "google".into(),
                    kind: "executableCode".into(),
                    json: serde_json::json!({"executableCode": {"language": "PYTHON", "code": "1+1"}}),
                }),
            }
        );
        let err = out[1].as_ref().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::RateLimit);
        assert_eq!(err.code(), Some("RESOURCE_EXHAUSTED"));
        assert_eq!(err.status(), None);

        let mut d = GoogleDecoder::new("google");
        let out = feed_all(&mut d, &["{oops"]);
        assert_eq!(out[0].as_ref().unwrap_err().kind(), ErrorKind::Protocol);
    }

    #[test]
    fn finish_reasons() {
        assert_eq!(finish_reason("STOP"), FinishReason::Stop);
        assert_eq!(finish_reason("MAX_TOKENS"), FinishReason::MaxTokens);
        for r in [
            "SAFETY",
            "RECITATION",
            "BLOCKLIST",
            "PROHIBITED_CONTENT",
            "SPII",
        ] {
            assert_eq!(finish_reason(r), FinishReason::ContentFilter, "{r}");
        }
        assert_eq!(
            finish_reason("MALFORMED_FUNCTION_CALL"),
            FinishReason::Other
        );
        assert_eq!(finish_reason("OTHER"), FinishReason::Other);
    }

    #[test]
    fn error_bodies() {
        let body: GoogleErrorBody = serde_json::from_str(
            r#"{"code":400,"message":"API key not valid.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}"#,
        )
        .unwrap();
        let e = google_error("google", Some(400), &body, None);
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(e.code(), Some("API_KEY_INVALID"));
        assert_eq!(e.status(), Some(400));
        let body: GoogleErrorBody =
            serde_json::from_str(r#"{"code":404,"message":"no model","status":"NOT_FOUND"}"#)
                .unwrap();
        let e = google_error("google", Some(404), &body, None);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.code(), Some("NOT_FOUND"));
        assert_eq!(e.message(), "no model");
    }
}
