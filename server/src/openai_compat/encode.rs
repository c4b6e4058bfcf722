//! rivulet's chunks and responses → OpenAI's `chat.completion.chunk` SSE
//! frames and `chat.completion` objects.

use rivulet_core::{Chunk, ContentPart, Error, FinishReason, Response, Usage};
use serde::Serialize;

use super::completions_wire::{
    ChunkChoice, ChunkDelta, Completion, CompletionChoice, CompletionChunk, CompletionDetails,
    CompletionMessage, FunctionDelta, PromptDetails, ToolCallDelta, WireFunction, WireToolCall,
    WireUsage,
};
use crate::ApiError;

/// Turns one stream's chunks into SSE frames, as OpenAI streams a chat
/// completion: a role chunk first, then content, `reasoning_content` and
/// `tool_calls` deltas, a chunk with the finish reason, a usage chunk with
/// no choices (when asked for) and `data: [DONE]`. A failure ends the
/// stream with an `{"error": {...}}` event instead, which the official SDKs
/// raise as an error.
///
/// Text parts are joined with `"\n"` and so are thoughts, so a client's
/// accumulated `content` equals [`Response::text`].
///
/// ```
/// use rivulet_server::openai_compat::ChunkEncoder;
/// use rivulet::Chunk;
/// let mut enc = ChunkEncoder::new("chatcmpl-1", "gpt-4o", 7, false);
/// let mut out = String::new();
/// enc.encode(&Chunk::text(0, "Hi"), &mut out);
/// enc.finish(&mut out);
/// assert!(out.starts_with("data: {\"id\":\"chatcmpl-1\""));
/// assert!(out.ends_with("data: [DONE]\n\n"));
/// ```
#[derive(Debug)]
pub struct ChunkEncoder {
    id: String,
    model: String,
    created: u64,
    include_usage: bool,
    role_sent: bool,
    /// The part of each tool call, in the order they started: a call's
    /// OpenAI `index` is its position here.
    tool_parts: Vec<usize>,
    /// The last text and thought parts seen, to put `"\n"` between parts.
    text_part: Option<usize>,
    thought_part: Option<usize>,
    usage: Usage,
    finish: Option<(FinishReason, String)>,
    /// Where each chunk's JSON is serialized before it goes into a frame:
    /// kept, so a chunk costs no allocation of its own.
    json: Vec<u8>,
    /// A delta chunk's JSON up to its choice: `{"id":…,"object":…,
    /// "created":…,"model":…,"choices":[`, serialized once, with the first
    /// frame (the model is settled by then). Why: serializing the whole
    /// chunk for every delta was the server's largest cost of its own in a
    /// streamed completion (callgrind: 15% of its instructions, most of it
    /// these fields and their names escaped again each time).
    head: Vec<u8>,
}

impl ChunkEncoder {
    /// An encoder for the completion `id` (`chatcmpl-…`) of `model`, created
    /// at `created` (Unix seconds). `include_usage` is the request's
    /// `stream_options.include_usage`.
    pub fn new(id: &str, model: &str, created: u64, include_usage: bool) -> Self {
        ChunkEncoder {
            id: id.to_string(),
            model: model.to_string(),
            created,
            include_usage,
            role_sent: false,
            tool_parts: Vec::new(),
            text_part: None,
            thought_part: None,
            usage: Usage::default(),
            finish: None,
            json: Vec::new(),
            head: Vec::new(),
        }
    }

    /// Appends the frames for `chunk` to `out` (none for chunks OpenAI's
    /// stream has no place for: audio, provider blocks, raw events).
    pub fn encode(&mut self, chunk: &Chunk, out: &mut String) {
        match chunk {
            Chunk::TextStart { part } => self.text(*part, "", out, content),
            Chunk::Text { part, delta } => self.text(*part, delta, out, content),
            Chunk::ThoughtStart { part } => self.text(*part, "", out, reasoning),
            Chunk::Thought { part, delta } => self.text(*part, delta, out, reasoning),
            Chunk::ToolCallStart { part, id, name } => {
                let index = self.tool_parts.len();
                self.tool_parts.push(*part);
                let delta = ToolCallDelta {
                    index,
                    id: Some(id),
                    kind: Some("function"),
                    function: FunctionDelta {
                        name: Some(name),
                        arguments: "",
                    },
                };
                self.frame(out, tool_call(delta));
            }
            Chunk::ToolCall { part, delta, .. } => {
                // A fragment of a call that never started has no index to
                // go under; the accumulated response drops it too.
                let Some(index) = self.tool_parts.iter().position(|p| p == part) else {
                    return;
                };
                if delta.is_empty() {
                    return;
                }
                let delta = ToolCallDelta {
                    index,
                    id: None,
                    kind: None,
                    function: FunctionDelta {
                        name: None,
                        arguments: delta,
                    },
                };
                self.frame(out, tool_call(delta));
            }
            Chunk::UsageDelta { usage } => self.usage.apply(usage),
            Chunk::FinishReason { reason, raw } => self.finish = Some((*reason, raw.clone())),
            Chunk::Metadata { model: Some(m), .. } if !self.role_sent => self.model.clone_from(m),
            _ => {}
        }
    }

    /// The stream ended normally: appends the finish-reason chunk, the usage
    /// chunk when asked for, and `data: [DONE]`.
    pub fn finish(&mut self, out: &mut String) {
        let reason = finish_reason(
            self.finish.as_ref().map(|(r, _)| *r),
            !self.tool_parts.is_empty(),
        );
        self.write(out, ChunkDelta::default(), Some(reason));
        if self.include_usage {
            let chunk = CompletionChunk {
                id: &self.id,
                object: "chat.completion.chunk",
                created: self.created,
                model: &self.model,
                choices: &[],
                usage: Some(Some(wire_usage(&self.usage))),
            };
            push_data(out, &mut self.json, &chunk);
        }
        out.push_str("data: [DONE]\n\n");
    }

    /// The stream failed (or was cancelled): appends the `{"error": {...}}`
    /// event that ends it. What was sent before stays with the client.
    pub fn fail(&mut self, error: &Error, out: &mut String) {
        let e = ApiError::from_error(error);
        out.push_str("data: ");
        out.push_str(&e.to_json());
        out.push_str("\n\n");
    }

    /// Text or reasoning (as `delta_of` says) of `part`, after a `"\n"`
    /// when a part of the same kind came before it.
    fn text(
        &mut self,
        part: usize,
        text: &str,
        out: &mut String,
        delta_of: fn(&str) -> ChunkDelta<'_>,
    ) {
        let is_text = delta_of("").content.is_some();
        let last = if is_text {
            &mut self.text_part
        } else {
            &mut self.thought_part
        };
        let new_part = last.is_some_and(|p| p != part);
        *last = Some(part);
        if new_part {
            self.frame(out, delta_of("\n"));
        }
        if !text.is_empty() {
            self.frame(out, delta_of(text));
        }
    }

    fn frame(&mut self, out: &mut String, delta: ChunkDelta<'_>) {
        self.write(out, delta, None);
    }

    fn write(&mut self, out: &mut String, delta: ChunkDelta<'_>, finish: Option<&'static str>) {
        if !self.role_sent {
            self.role_sent = true;
            // As OpenAI does: `"content": ""` when text follows; no content
            // when the answer opens with tool calls (OpenAI sends null), so
            // a client's accumulated content stays null without text.
            let role = ChunkDelta {
                role: Some("assistant"),
                content: delta.content.map(|_| ""),
                ..Default::default()
            };
            self.write(out, role, None);
        }
        let choice = ChunkChoice {
            index: 0,
            delta,
            logprobs: None,
            finish_reason: finish,
        };
        if self.head.is_empty() {
            self.head = chunk_head(&self.id, self.created, &self.model);
        }
        // The chunk as `CompletionChunk` serializes it: the head, the one
        // choice, then `usage` (null on every delta chunk) when asked for.
        self.json.clear();
        self.json.extend_from_slice(&self.head);
        match &choice {
            // Most chunks: text. The choice as serde writes it, its field
            // names not escaped again for each chunk (`text_choice_as_serde_writes_it`).
            ChunkChoice {
                index: 0,
                delta:
                    ChunkDelta {
                        role: None,
                        content: Some(text),
                        reasoning_content: None,
                        tool_calls: None,
                    },
                logprobs: None,
                finish_reason: None,
            } => {
                self.json.extend_from_slice(TEXT_CHOICE_HEAD);
                // A string: cannot fail.
                let _ = serde_json::to_writer(&mut self.json, text);
                self.json.extend_from_slice(TEXT_CHOICE_TAIL);
            }
            // A choice of strings, numbers and options: cannot fail.
            _ => {
                let _ = serde_json::to_writer(&mut self.json, &choice);
            }
        }
        self.json.extend_from_slice(match self.include_usage {
            true => b"],\"usage\":null}",
            false => b"]}",
        });
        push_line(out, &self.json);
    }
}

/// A text delta's choice is these around its text's JSON string.
const TEXT_CHOICE_HEAD: &[u8] = br#"{"index":0,"delta":{"content":"#;
const TEXT_CHOICE_TAIL: &[u8] = br#"},"logprobs":null,"finish_reason":null}"#;

/// The JSON of a chunk of `id` and `model` up to its choices' first
/// element: `CompletionChunk`'s own serialization, cut before `]}`.
fn chunk_head(id: &str, created: u64, model: &str) -> Vec<u8> {
    let chunk = CompletionChunk {
        id,
        object: "chat.completion.chunk",
        created,
        model,
        choices: &[],
        usage: None,
    };
    let mut head = serde_json::to_vec(&chunk).unwrap_or_default();
    // `…"choices":[]}`
    head.truncate(head.len().saturating_sub("]}".len()));
    head
}

fn content(text: &str) -> ChunkDelta<'_> {
    ChunkDelta {
        content: Some(text),
        ..Default::default()
    }
}

fn reasoning(text: &str) -> ChunkDelta<'_> {
    ChunkDelta {
        reasoning_content: Some(text),
        ..Default::default()
    }
}

fn tool_call(delta: ToolCallDelta<'_>) -> ChunkDelta<'_> {
    ChunkDelta {
        tool_calls: Some([delta]),
        ..Default::default()
    }
}

/// Appends `value`'s `data:` line to `out`, serialized into `json` first
/// (cleared, its room kept), so `out` grows once, to its size.
fn push_data(out: &mut String, json: &mut Vec<u8>, value: &impl Serialize) {
    json.clear();
    // Strings, numbers and options only: serializing cannot fail.
    if serde_json::to_writer(&mut *json, value).is_err() {
        json.clear();
    }
    push_line(out, json);
}

/// Appends the `data:` line of `json` to `out`.
fn push_line(out: &mut String, json: &[u8]) {
    // serde_json writes UTF-8.
    let line = std::str::from_utf8(json).unwrap_or_default();
    out.reserve("data: ".len() + line.len() + "\n\n".len());
    out.push_str("data: ");
    out.push_str(line);
    out.push_str("\n\n");
}

/// rivulet's finish reason as OpenAI names it. A refusal becomes
/// `content_filter`, a full context `length`; with no reason given, a
/// response that made tool calls finished with `tool_calls`, others `stop`.
pub fn finish_reason(reason: Option<FinishReason>, made_tool_calls: bool) -> &'static str {
    match reason {
        Some(FinishReason::Stop) => "stop",
        Some(FinishReason::MaxTokens | FinishReason::ContextLengthExceeded) => "length",
        Some(FinishReason::ToolCalls) => "tool_calls",
        Some(FinishReason::ContentFilter | FinishReason::Refusal) => "content_filter",
        Some(FinishReason::Other) | None if made_tool_calls => "tool_calls",
        Some(FinishReason::Other) | None => "stop",
    }
}

/// rivulet's usage as OpenAI reports it: unknown counts are 0; the details
/// appear when the provider gave them.
pub fn wire_usage(u: &Usage) -> WireUsage {
    let prompt = u.input_tokens.unwrap_or(0);
    let completion = u.output_tokens.unwrap_or(0);
    WireUsage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt.saturating_add(completion),
        prompt_tokens_details: u
            .cache_read_tokens
            .map(|cached_tokens| PromptDetails { cached_tokens }),
        completion_tokens_details: u
            .reasoning_tokens
            .map(|reasoning_tokens| CompletionDetails { reasoning_tokens }),
    }
}

/// The `chat.completion` object for a finished response: its text (parts
/// joined with `"\n"`, `null` when there is none), thoughts as
/// `reasoning_content`, tool calls, finish reason and usage.
pub fn completion_json(id: &str, model: &str, created: u64, response: &Response) -> String {
    let texts = response.texts();
    let thoughts: Vec<&str> = response
        .thoughts()
        .iter()
        .map(|t| t.thought.as_str())
        .collect();
    let tool_calls: Vec<WireToolCall<'_>> = response
        .content
        .iter()
        .filter_map(|p| match p {
            ContentPart::ToolCall(c) => Some(WireToolCall {
                id: &c.id,
                kind: "function",
                function: WireFunction {
                    name: &c.name,
                    arguments: &c.args,
                },
            }),
            _ => None,
        })
        .collect();
    let finish = finish_reason(response.finish_reason, !tool_calls.is_empty());
    let completion = Completion {
        id,
        object: "chat.completion",
        created,
        model: if response.model.is_empty() {
            model
        } else {
            &response.model
        },
        choices: [CompletionChoice {
            index: 0,
            message: CompletionMessage {
                role: "assistant",
                content: (!texts.is_empty()).then(|| texts.join("\n")),
                reasoning_content: (!thoughts.is_empty()).then(|| thoughts.join("\n")),
                tool_calls,
                refusal: None,
            },
            logprobs: None,
            finish_reason: finish,
        }],
        usage: wire_usage(&response.usage),
    };
    serde_json::to_string(&completion).unwrap_or_default()
}
