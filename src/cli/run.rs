//! Drives one stream for the CLI and maps its outcome to an exit status.

use std::io::{Read, Write};
use std::time::Instant;

use rivulet_core::{Error, ErrorKind, Format, Message, ThinkingLevel, ToolDefinition};
use serde_json::Value;

use super::args::{Args, OutputMode, Thinking};
use super::exit;
use super::output::{chunk_line, error_line, response_json};
use crate::stream::{PrettyRender, Render, TextRender};
use crate::structured::{parse_response, PartialText};
use crate::Model;

/// The model used when neither `-m` nor `$RIVULET_MODEL` names one.
pub const DEFAULT_MODEL: &str = "local";

/// The exit status for a stream that ended with `error`.
pub fn exit_code(error: &Error) -> i32 {
    match error.kind() {
        ErrorKind::Cancelled => exit::OK,
        ErrorKind::MissingApiKey | ErrorKind::Unsupported => exit::USAGE,
        // A bad request we refused before sending (unknown provider id, bad
        // parameter) is configuration; one the provider answered is not.
        ErrorKind::BadRequest if error.status().is_none() => exit::USAGE,
        ErrorKind::Timeout => exit::TIMEOUT,
        ErrorKind::Connection => exit::CONNECTION,
        ErrorKind::Protocol => exit::MALFORMED,
        _ => exit::PROVIDER,
    }
}

fn usage_error(err: &mut dyn Write, message: &str) -> i32 {
    let _ = writeln!(err, "rivulet: {message}");
    exit::USAGE
}

fn read_json(path: &std::path::Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Tool definitions from a file: an array of `{name, description, parameters}`
/// or of OpenAI's `{"type":"function","function":{…}}`.
fn parse_tools(v: Value) -> Result<Vec<ToolDefinition>, String> {
    let items = match v {
        Value::Array(items) => items,
        other => vec![other],
    };
    items
        .into_iter()
        .map(|item| {
            let item = match item.get("function") {
                Some(f) => f.clone(),
                None => item,
            };
            serde_json::from_value::<ToolDefinition>(item)
                .map_err(|e| format!("tool definition: {e}"))
        })
        .collect()
}

/// Builds the model from the flags.
fn model_from(args: &Args) -> Result<Model, String> {
    let id = args
        .model
        .clone()
        .unwrap_or_else(|| DEFAULT_MODEL.to_string());
    let mut model = Model::new(&id);
    if let Some(u) = &args.base_url {
        model = model.base_url(u.clone());
    }
    if let Some(n) = args.max_tokens {
        model = model.max_tokens(n);
    }
    if let Some(t) = args.temperature {
        model = model.temperature(t);
    }
    if let Some(s) = args.seed {
        model = model.seed(s);
    }
    if let Some(t) = args.thinking {
        model = model.thinking(match t {
            Thinking::Low => ThinkingLevel::Low,
            Thinking::Medium => ThinkingLevel::Medium,
            Thinking::High => ThinkingLevel::High,
        });
    }
    if let Some(d) = args.connect_timeout {
        model = model.connect_timeout(d);
    }
    if let Some(d) = args.first_chunk_timeout {
        model = model.first_chunk_timeout(d);
    }
    if let Some(d) = args.idle_timeout {
        model = model.idle_timeout(d);
    }
    if let Some(d) = args.total_timeout {
        model = model.total_timeout(d);
    }
    if let Some(n) = args.retries {
        model = model.retries(n);
    }
    if let Some(path) = &args.tools {
        model = model.tools(parse_tools(read_json(path)?)?);
    }
    if let Some(path) = &args.format {
        let schema = read_json(path)?;
        let name = schema
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("output")
            .to_string();
        model = model.format_schema(Format { name, schema });
    }
    Ok(model)
}

/// Runs the CLI; returns the exit status. `stdin` is read only when no
/// prompt is given.
pub fn run(args: Args, stdin: &mut dyn Read, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    if args.output == OutputMode::Partials && args.format.is_none() {
        return usage_error(err, "-o partials needs --format SCHEMA.json");
    }
    let model = match model_from(&args) {
        Ok(m) => m,
        Err(e) => return usage_error(err, &e),
    };
    let prompt = match &args.prompt {
        Some(p) => p.clone(),
        None => {
            let mut s = String::new();
            if let Err(e) = stdin.read_to_string(&mut s) {
                return usage_error(err, &format!("reading the prompt from stdin: {e}"));
            }
            s
        }
    };
    if prompt.trim().is_empty() {
        return usage_error(err, "no prompt: pass one as an argument or on stdin");
    }
    let mut messages = Vec::new();
    if let Some(s) = &args.system {
        messages.push(Message::system(s.clone()));
    }
    messages.push(Message::user(prompt));

    let started = Instant::now();
    let response = model.stream(messages);

    // Extra consumers for --subscribers: each its own subscription, read on
    // its own thread, rendered to the same lines as `-o chunks`.
    let fan_out: Vec<_> = (1..args.subscribers)
        .map(|_| {
            let chunks = response.chunk_stream_blocking();
            std::thread::spawn(move || {
                chunks
                    .map(|r| match r {
                        Ok(c) => chunk_line(&c),
                        Err(e) => error_line(&e),
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut seen = Vec::new();

    let mut text = TextRender::new("\n");
    let mut pretty = PrettyRender::default();
    let mut partials = PartialText::default();
    let mut parse_failure = None;
    let mut printed = false;
    let mut chunks = 0u64;
    let mut content_chunks = 0u64;
    let mut first_chunk = None;
    let mut failure = None;
    for item in response.chunk_stream_blocking() {
        match item {
            Ok(chunk) => {
                chunks += 1;
                if args.subscribers > 1 {
                    seen.push(chunk_line(&chunk));
                }
                let rendered = match args.output {
                    OutputMode::Text => text.render(&chunk),
                    OutputMode::Pretty => pretty.render(&chunk),
                    OutputMode::Chunks => Some(chunk_line(&chunk) + "\n"),
                    OutputMode::Partials if parse_failure.is_none() => {
                        match partials.push(&chunk) {
                            Some(Ok(json)) => Some(json.to_string() + "\n"),
                            Some(Err(e)) => {
                                parse_failure = Some(e);
                                None
                            }
                            None => None,
                        }
                    }
                    OutputMode::Json | OutputMode::Partials => None,
                };
                if let Some(s) = rendered {
                    printed = true;
                    let _ = out.write_all(s.as_bytes());
                    let _ = out.flush();
                }
                if chunk.is_content() {
                    content_chunks += 1;
                    first_chunk.get_or_insert_with(|| started.elapsed());
                    if args.cancel_after == Some(content_chunks) {
                        response.cancel();
                    }
                }
            }
            Err(e) => {
                if args.subscribers > 1 {
                    seen.push(error_line(&e));
                }
                failure = Some(e);
            }
        }
    }
    let elapsed = started.elapsed();
    let snapshot = response.snapshot_blocking();
    // With --format: the final object, or why there is none. A stream that
    // failed has no final object, and its own error wins.
    let parsed = match (&args.format, &failure) {
        (Some(_), None) => match parse_response::<Value>(&snapshot) {
            Ok(v) => Some(v),
            Err(e) => {
                // The final text decides (a refusal says so).
                parse_failure = Some(e);
                None
            }
        },
        _ => None,
    };
    if failure.is_none() {
        failure = parse_failure;
    }

    match (args.output, &failure) {
        (OutputMode::Text | OutputMode::Pretty, _) if printed => {
            let _ = writeln!(out);
        }
        (OutputMode::Chunks | OutputMode::Partials, Some(e)) => {
            let _ = writeln!(out, "{}", error_line(e));
        }
        (OutputMode::Json, _) => {
            let mut v = response_json(&snapshot, failure.as_ref());
            if args.format.is_some() {
                v["parsed"] = parsed.unwrap_or(Value::Null);
            }
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&v).unwrap_or_default()
            );
        }
        _ => {}
    }
    let _ = out.flush();

    let mut status = failure.as_ref().map(exit_code).unwrap_or(exit::OK);
    if let Some(e) = &failure {
        if e.kind() != ErrorKind::Cancelled
            && !matches!(
                args.output,
                OutputMode::Json | OutputMode::Chunks | OutputMode::Partials
            )
        {
            let _ = writeln!(err, "rivulet: {e}");
        }
        if e.kind() == ErrorKind::MissingApiKey
            || (e.kind() == ErrorKind::BadRequest && e.status().is_none())
        {
            let _ = writeln!(
                err,
                "rivulet: choose a model with -m provider/model (providers: {}, {})",
                crate::local::PROVIDER_ID,
                crate::PROVIDER_IDS.join(", ")
            );
        }
    }

    for (i, handle) in fan_out.into_iter().enumerate() {
        match handle.join() {
            Ok(lines) if lines == seen => {}
            Ok(lines) => {
                let _ = writeln!(
                    err,
                    "rivulet: subscriber {} saw {} chunks, the first saw {}: fan-out mismatch",
                    i + 2,
                    lines.len(),
                    seen.len()
                );
                status = exit::MISMATCH;
            }
            Err(_) => {
                let _ = writeln!(err, "rivulet: subscriber {} panicked", i + 2);
                status = exit::MISMATCH;
            }
        }
    }
    if args.subscribers > 1 && status != exit::MISMATCH {
        let _ = writeln!(
            err,
            "rivulet: {} subscribers saw the same {} chunks",
            args.subscribers,
            seen.len()
        );
    }

    if args.stats {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let u = &snapshot.usage;
        let show = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
        let _ = writeln!(
            err,
            "stats: first chunk {}, {chunks} chunks ({content_chunks} content) in {:.3}s = {:.1} chunks/s; usage: input {} output {} reasoning {} cache read {}",
            first_chunk
                .map(|d| format!("{:.1}ms", d.as_secs_f64() * 1000.0))
                .unwrap_or_else(|| "never".into()),
            secs,
            chunks as f64 / secs,
            show(u.input_tokens),
            show(u.output_tokens),
            show(u.reasoning_tokens),
            show(u.cache_read_tokens),
        );
        // Generation speed: output tokens after the first one, over the time
        // since the first content chunk (so startup and prompt time do not count).
        if let (Some(out), Some(first)) = (u.output_tokens, first_chunk) {
            let gen = elapsed.saturating_sub(first).as_secs_f64();
            if out > 1 && gen > 0.0 {
                let _ = writeln!(
                    err,
                    "stats: {:.1} output tokens/s after the first chunk",
                    (out - 1) as f64 / gen
                );
            }
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet_core::{ErrorContext, TimeoutKind};

    #[test]
    fn exit_codes_follow_the_design() {
        assert_eq!(
            exit_code(&Error::missing_api_key("openai", "OPENAI_API_KEY")),
            2
        );
        assert_eq!(
            exit_code(&Error::from_status("openai", 401, "bad key", None, None)),
            3
        );
        assert_eq!(
            exit_code(&Error::from_status("openai", 503, "down", None, None)),
            3
        );
        assert_eq!(exit_code(&Error::timeout(TimeoutKind::Idle)), 4);
        assert_eq!(exit_code(&Error::connection("refused")), 5);
        assert_eq!(exit_code(&Error::protocol("garbage")), 6);
        assert_eq!(exit_code(&Error::cancelled()), 0);
        assert_eq!(exit_code(&Error::bad_request("unknown provider")), 2);
        let in_band = Error::Server {
            status: 500,
            ctx: Box::new(ErrorContext::new("in-band")),
        };
        assert_eq!(exit_code(&in_band), 3);
    }

    #[test]
    fn tools_file_accepts_both_shapes() {
        let v = serde_json::json!([
            {"name": "a", "description": "A", "parameters": {"type": "object"}},
            {"type": "function", "function": {"name": "b", "parameters": {"type": "object"}}}
        ]);
        let tools = parse_tools(v).unwrap();
        assert_eq!(tools[0].name, "a");
        assert_eq!(tools[1].name, "b");
        assert_eq!(tools[1].description, "");
    }
}
