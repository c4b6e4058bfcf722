//! OpenTelemetry GenAI semantic conventions, through `tracing`.
//!
//! rivulet emits, with the target [`TARGET`] (`rivulet::gen_ai`):
//!
//! - one span per stream, `chat` (its OpenTelemetry name `chat {model}`,
//!   kind client), with `gen_ai.operation.name`, `gen_ai.provider.name`,
//!   `gen_ai.request.model` and the request's parameters
//!   (`gen_ai.request.max_tokens`, `temperature`, `top_p`, `seed`,
//!   `stop_sequences`), `gen_ai.response.model`, `gen_ai.response.id`,
//!   `gen_ai.response.finish_reasons`, `gen_ai.usage.input_tokens` and
//!   `output_tokens` (and the cache and reasoning counts when reported),
//!   `gen_ai.response.time_to_first_chunk` (seconds), and `error.type`
//!   (rivulet's error kind: `rate_limit`, `timeout`, …) with an error
//!   status when it fails;
//! - one span per tool run by a [`Toolkit`](crate::Toolkit),
//!   `execute_tool` (named `execute_tool {name}`, kind internal), with
//!   `gen_ai.tool.name`, `gen_ai.tool.call.id`, `gen_ai.tool.type` and
//!   `gen_ai.tool.description`;
//! - at each stream's end, metric events in the form
//!   `tracing-opentelemetry`'s `MetricsLayer` records as histograms:
//!   `gen_ai.client.token.usage` (one per token type, `gen_ai.token.type`
//!   `input` or `output`) and `gen_ai.client.operation.duration`
//!   (seconds).
//!
//! The attribute names are those of the GenAI conventions
//! (open-telemetry/semantic-conventions-genai, `gen-ai-spans.md` and
//! `gen-ai-metrics.md`). Any `tracing` subscriber sees them; the `otel`
//! feature adds `telemetry::otel`, which wires them to an OpenTelemetry
//! exporter over OTLP.
//!
//! Prompts, outputs and tool arguments and results are recorded only when
//! content capture is on ([`set_capture_content`], or
//! `OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true`). API keys
//! and headers are never recorded.

use rivulet_actors::ParsedToolCall;
use rivulet_core::{ToolCall, ToolOutput};
use tracing::field::Empty;
use tracing::Span;

use crate::Tool;

pub use rivulet_actors::telemetry::{
    capture_content, messages_json, provider_name, set_capture_content, CAPTURE_CONTENT_VAR, TARGET,
};

#[cfg(feature = "otel")]
pub mod otel;

/// The `execute_tool {name}` span of one call.
pub(crate) fn execute_tool_span(call: &ToolCall, tool: Option<&Tool>) -> Span {
    let span = tracing::info_span!(
        target: TARGET,
        "execute_tool",
        otel.name = %format_args!("execute_tool {}", call.name),
        otel.kind = "internal",
        otel.status_code = Empty,
        gen_ai.operation.name = "execute_tool",
        gen_ai.tool.name = %call.name,
        gen_ai.tool.call.id = %call.id,
        gen_ai.tool.type = "function",
        gen_ai.tool.description = Empty,
        gen_ai.tool.call.arguments = Empty,
        gen_ai.tool.call.result = Empty,
        error.type = Empty,
    );
    if span.is_disabled() {
        return span;
    }
    if let Some(tool) = tool {
        span.record("gen_ai.tool.description", tool.description());
    }
    if capture_content() {
        span.record("gen_ai.tool.call.arguments", call.args.as_str());
    }
    span
}

/// Records how a call ended on its span: `error.type` (`unknown_tool`,
/// `invalid_arguments` or `tool_error`) when its output is an error, and
/// the result when content capture is on.
pub(crate) fn tool_done(span: &Span, call: &ParsedToolCall, output: &ToolOutput) {
    if span.is_disabled() {
        return;
    }
    if capture_content() {
        span.record("gen_ai.tool.call.result", output.result.as_str());
    }
    if output.is_error {
        let error_type = if output.result.starts_with("unknown tool: ") {
            "unknown_tool"
        } else if call.args.is_err() {
            "invalid_arguments"
        } else {
            "tool_error"
        };
        span.record("error.type", error_type);
        span.record("otel.status_code", "ERROR");
    }
}
