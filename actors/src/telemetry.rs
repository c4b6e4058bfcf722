//! OpenTelemetry GenAI semantic conventions, through `tracing`.
//!
//! Each stream is one span, `chat` with `otel.name = "chat {model}"` and
//! the `gen_ai.*` attributes of the GenAI inference client span
//! (open-telemetry/semantic-conventions-genai, `docs/gen-ai/gen-ai-spans.md`):
//! the operation, provider and requested model and parameters at the
//! start; the response model, id, finish reasons, token usage and time to
//! first chunk as they become known; `error.type` and an error status when
//! it fails. At its end two metric events follow the conventions of
//! `gen_ai-metrics.md` in the shape `tracing-opentelemetry`'s
//! `MetricsLayer` turns into histograms: `gen_ai.client.token.usage`
//! (one event per token type) and `gen_ai.client.operation.duration`
//! (seconds). Everything has the target [`TARGET`], so
//! `RUST_LOG=rivulet::gen_ai=info` (or a layer's filter) selects it.
//!
//! Prompts and outputs (`gen_ai.input.messages`, `gen_ai.output.messages`,
//! tool arguments and results) are recorded only when the user opts in
//! ([`set_capture_content`], or `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`);
//! nothing here ever sees a key or a header.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use rivulet_core::{Chunk, ContentPart, Error, Message, Request, Response, Role, Usage};
use serde_json::{json, Value};
use tracing::field::Empty;
use tracing::Span;

use crate::options::StreamOptions;

/// The target of every GenAI span and metric event.
pub const TARGET: &str = "rivulet::gen_ai";

/// The environment variable the conventions name for capturing content.
pub const CAPTURE_CONTENT_VAR: &str = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";

/// 0: not decided yet (read the environment), 1: off, 2: on.
static CAPTURE: AtomicU8 = AtomicU8::new(0);

/// Whether spans record prompts, outputs and tool arguments and results
/// (`gen_ai.input.messages`, `gen_ai.output.messages`,
/// `gen_ai.tool.call.arguments`, `gen_ai.tool.call.result`) from now on,
/// for the whole process. Off unless set here or by
/// `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`: they may
/// hold personal data.
pub fn set_capture_content(on: bool) {
    CAPTURE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
}

/// Whether content is captured (see [`set_capture_content`]).
pub fn capture_content() -> bool {
    match CAPTURE.load(Ordering::Relaxed) {
        0 => {
            let on = std::env::var(CAPTURE_CONTENT_VAR)
                .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
            // Another thread may have decided meanwhile: its choice wins.
            let _ = CAPTURE.compare_exchange(
                0,
                if on { 2 } else { 1 },
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            CAPTURE.load(Ordering::Relaxed) == 2
        }
        v => v == 2,
    }
}

/// The `gen_ai.provider.name` for a rivulet provider id: the conventions'
/// well-known value where there is one, else the id itself.
pub fn provider_name(provider_id: &str) -> &str {
    match provider_id {
        "openai" | "openai-responses" => "openai",
        "anthropic" => "anthropic",
        "google" => "gcp.gemini",
        "vertex" => "gcp.vertex_ai",
        "bedrock" => "aws.bedrock",
        "azure" => "azure.ai.openai",
        "cohere" => "cohere",
        "mistral" => "mistral_ai",
        "groq" => "groq",
        "xai" => "x_ai",
        "deepseek" => "deepseek",
        other => other,
    }
}

/// The `error.type` of an error: its kind (`rate_limit`, `timeout`, …).
pub fn error_type(e: &Error) -> &'static str {
    e.kind().as_str()
}

/// Messages in the conventions' JSON message shape
/// (`gen-ai-input-messages.json`): `[{"role", "parts": [...]}]`.
pub fn messages_json(messages: &[Message]) -> Value {
    Value::Array(
        messages
            .iter()
            .map(|m| json!({"role": role(m.role), "parts": parts(&m.content)}))
            .collect(),
    )
}

fn role(r: Role) -> &'static str {
    match r {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
    }
}

fn parts(content: &[ContentPart]) -> Vec<Value> {
    content
        .iter()
        .map(|p| match p {
            ContentPart::Text(t) => json!({"type": "text", "content": t.text}),
            ContentPart::Thought(t) => json!({"type": "reasoning", "content": t.thought}),
            ContentPart::ToolCall(c) => json!({
                "type": "tool_call",
                "id": c.id,
                "name": c.name,
                "arguments": serde_json::from_str::<Value>(&c.args)
                    .unwrap_or_else(|_| Value::String(c.args.clone())),
            }),
            ContentPart::ToolOutput(o) => json!({
                "type": "tool_call_response",
                "id": o.id,
                "result": o.result,
            }),
            // Any other part (audio, provider blocks, …) as rivulet
            // serializes it: a generic part with its own `type`.
            other => serde_json::to_value(other).unwrap_or(Value::Null),
        })
        .collect()
}

/// A stream's GenAI span and what it needs to fill in at the end.
pub(crate) struct ChatTelemetry {
    span: Span,
    /// Set when some subscriber records the span: boxed, so a stream
    /// nobody traces (the stream's future holds this for its whole life)
    /// pays one pointer.
    seen: Option<Box<Seen>>,
}

/// What the end records, noted from the chunks as they are appended.
#[derive(Default)]
struct Seen {
    /// Content capture is on: the response is folded here for
    /// `gen_ai.output.messages`.
    output: Option<Response>,
    usage: Usage,
    response_id: Option<String>,
    response_model: Option<String>,
    finish_reason: Option<&'static str>,
}

impl Seen {
    fn saw(&mut self, chunk: &Chunk) {
        match chunk {
            Chunk::UsageDelta { usage } => self.usage.apply(usage),
            Chunk::Metadata { id, model } => {
                if id.is_some() {
                    self.response_id.clone_from(id);
                }
                if model.is_some() {
                    self.response_model.clone_from(model);
                }
            }
            Chunk::FinishReason { reason, .. } => self.finish_reason = Some(reason.as_str()),
            _ => {}
        }
        if let Some(r) = &mut self.output {
            r.apply(chunk);
        }
    }
}

impl ChatTelemetry {
    /// The span for a stream of `opts` sending `request`, with the
    /// attributes known at its start.
    pub(crate) fn start(opts: &StreamOptions, request: &Request) -> Self {
        let p = &request.params;
        let span = tracing::info_span!(
            target: TARGET,
            "chat",
            otel.name = %format_args!("chat {}", opts.model),
            otel.kind = "client",
            otel.status_code = Empty,
            gen_ai.operation.name = "chat",
            gen_ai.provider.name = provider_name(&opts.provider_id),
            gen_ai.request.model = %opts.model,
            gen_ai.request.stream = true,
            gen_ai.request.max_tokens = Empty,
            gen_ai.request.temperature = Empty,
            gen_ai.request.top_p = Empty,
            gen_ai.request.seed = Empty,
            gen_ai.request.stop_sequences = Empty,
            gen_ai.output.type = if request.format.is_some() { "json" } else { "text" },
            gen_ai.response.model = Empty,
            gen_ai.response.id = Empty,
            gen_ai.response.finish_reasons = Empty,
            gen_ai.response.time_to_first_chunk = Empty,
            gen_ai.usage.input_tokens = Empty,
            gen_ai.usage.output_tokens = Empty,
            gen_ai.usage.cache_read.input_tokens = Empty,
            gen_ai.usage.cache_creation.input_tokens = Empty,
            gen_ai.usage.reasoning.output_tokens = Empty,
            gen_ai.input.messages = Empty,
            gen_ai.output.messages = Empty,
            error.type = Empty,
        );
        let on = !span.is_disabled();
        let capture = on && capture_content();
        if on {
            // Recorded one by one: an `Option` field value reaches some
            // layers as its debug text.
            if let Some(n) = p.max_tokens {
                span.record("gen_ai.request.max_tokens", i64::from(n));
            }
            if let Some(t) = p.temperature {
                span.record("gen_ai.request.temperature", t);
            }
            if let Some(t) = p.top_p {
                span.record("gen_ai.request.top_p", t);
            }
            if let Some(seed) = p.seed {
                span.record("gen_ai.request.seed", seed);
            }
            if !p.stop.is_empty() {
                span.record(
                    "gen_ai.request.stop_sequences",
                    json!(p.stop).to_string().as_str(),
                );
            }
            if capture {
                span.record(
                    "gen_ai.input.messages",
                    messages_json(&request.messages).to_string().as_str(),
                );
            }
        }
        let seen = on.then(|| {
            Box::new(Seen {
                output: capture.then(Response::default),
                ..Seen::default()
            })
        });
        ChatTelemetry { span, seen }
    }

    /// The span, to run the stream in.
    pub(crate) fn span(&self) -> &Span {
        &self.span
    }

    /// Takes note of a chunk appended to the log (a cheap no-op unless the
    /// span is recorded).
    pub(crate) fn saw(&mut self, chunk: &Chunk) {
        let Some(seen) = &mut self.seen else {
            return;
        };
        seen.saw(chunk);
    }

    /// Records the end: response attributes, usage, time to first chunk,
    /// the error if any, and the two metric events. `model` is the model
    /// that answered (a fallback's, when one did).
    pub(crate) fn end(
        self,
        provider_id: &str,
        model: &str,
        ttfc: Option<Duration>,
        elapsed: Duration,
        error: Option<&Error>,
    ) {
        let Some(seen) = self.seen else {
            return;
        };
        let span = &self.span;
        let provider = provider_name(provider_id);
        let response_model = seen.response_model.as_deref().unwrap_or(model);
        span.record("gen_ai.response.model", response_model);
        if let Some(id) = &seen.response_id {
            span.record("gen_ai.response.id", id.as_str());
        }
        if let Some(reason) = seen.finish_reason {
            span.record(
                "gen_ai.response.finish_reasons",
                json!([reason]).to_string().as_str(),
            );
        }
        if let Some(t) = ttfc {
            span.record("gen_ai.response.time_to_first_chunk", t.as_secs_f64());
        }
        let u = &seen.usage;
        let fields = [
            ("gen_ai.usage.input_tokens", u.input_tokens),
            ("gen_ai.usage.output_tokens", u.output_tokens),
            ("gen_ai.usage.cache_read.input_tokens", u.cache_read_tokens),
            (
                "gen_ai.usage.cache_creation.input_tokens",
                u.cache_write_tokens,
            ),
            ("gen_ai.usage.reasoning.output_tokens", u.reasoning_tokens),
        ];
        for (field, value) in fields {
            if let Some(v) = value {
                // As i64: `tracing-opentelemetry` records a span's u64
                // field as its debug text.
                span.record(field, i64::try_from(v).unwrap_or(i64::MAX));
            }
        }
        if let Some(r) = &seen.output {
            let mut message = json!({"role": "assistant", "parts": parts(&r.content)});
            if let Some(reason) = seen.finish_reason {
                message["finish_reason"] = reason.into();
            }
            span.record(
                "gen_ai.output.messages",
                json!([message]).to_string().as_str(),
            );
        }
        let error_type = error.map(error_type);
        if let Some(t) = error_type {
            span.record("error.type", t);
            span.record("otel.status_code", "ERROR");
        }
        span.in_scope(|| {
            for (kind, tokens) in [("input", u.input_tokens), ("output", u.output_tokens)] {
                if let Some(tokens) = tokens {
                    tracing::event!(
                        target: TARGET,
                        tracing::Level::INFO,
                        histogram.gen_ai.client.token.usage = tokens,
                        gen_ai.token.type = kind,
                        gen_ai.operation.name = "chat",
                        gen_ai.provider.name = provider,
                        gen_ai.request.model = model,
                        gen_ai.response.model = response_model,
                        "gen_ai.client.token.usage"
                    );
                }
            }
            // `None` records nothing: no `error.type` on a success.
            tracing::event!(
                target: TARGET,
                tracing::Level::INFO,
                histogram.gen_ai.client.operation.duration = elapsed.as_secs_f64(),
                gen_ai.operation.name = "chat",
                gen_ai.provider.name = provider,
                gen_ai.request.model = model,
                gen_ai.response.model = response_model,
                error.type = error_type,
                "gen_ai.client.operation.duration"
            );
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet_core::{ToolCall, ToolOutput};

    #[test]
    fn messages_in_the_conventions_shape() {
        let messages = vec![
            Message::system("Be brief."),
            Message::user("Weather in Paris?"),
            Message {
                role: Role::Assistant,
                content: vec![ContentPart::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    args: r#"{"location":"Paris"}"#.into(),
                    signature: None,
                })],
            },
            Message {
                role: Role::Tool,
                content: vec![ContentPart::ToolOutput(ToolOutput {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    result: "rainy, 57°F".into(),
                    is_error: false,
                    attachments: Vec::new(),
                })],
            },
        ];
        assert_eq!(
            messages_json(&messages),
            json!([
                {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
                {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
                {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1",
                    "name": "get_weather", "arguments": {"location": "Paris"}}]},
                {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1",
                    "result": "rainy, 57°F"}]},
            ])
        );
    }

    #[test]
    fn provider_names_follow_the_registry() {
        assert_eq!(provider_name("openai-responses"), "openai");
        assert_eq!(provider_name("google"), "gcp.gemini");
        assert_eq!(provider_name("vertex"), "gcp.vertex_ai");
        assert_eq!(provider_name("bedrock"), "aws.bedrock");
        assert_eq!(provider_name("mistral"), "mistral_ai");
        assert_eq!(provider_name("xai"), "x_ai");
        assert_eq!(provider_name("ollama"), "ollama");
    }
}
