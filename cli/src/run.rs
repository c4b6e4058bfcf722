//! Drives one stream for the CLI and maps its outcome to an exit status.

use std::io::Write;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rivulet_core::{Error, ErrorKind, Message, Response};
use serde_json::Value;

use super::args::{Args, OutputMode};
use super::config::{model_from, model_id, UsageError};
use super::exit;
use super::fanout::FanOut;
use super::output::TextOutput;
use super::prompt::{prompt, Stdin};
use rivulet::json::{chunk_line, error_line, response_json};
use rivulet::render::{PrettyRender, Render};
use rivulet::structured::{parse_response, PartialText};
use rivulet::StreamResponse;

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
        // The response arrived whole; it is not what --format asked for.
        ErrorKind::Parse => exit::FORMAT,
        _ => exit::PROVIDER,
    }
}

fn usage_error(err: &mut dyn Write, e: &UsageError) -> i32 {
    let _ = writeln!(err, "rivulet: {}", e.message);
    if e.model {
        model_hint(err);
    }
    exit::USAGE
}

/// Printed only when the model is the problem.
fn model_hint(err: &mut dyn Write) {
    let _ = writeln!(
        err,
        "rivulet: choose a model with -m provider/model (providers: {}, {})",
        rivulet::local::PROVIDER_ID,
        rivulet::providers::PROVIDER_IDS.join(", ")
    );
}

/// Runs the CLI; returns the exit status. See [`Stdin`] for when standard
/// input is read. It blocks (it runs its own small tokio runtime for the
/// `--subscribers` consumers): call it from synchronous code, not from an
/// async task.
///
/// `out` and `err` are written a line or a delta at a time; give it
/// writers that lock per write (`std::io::stdout()`, not a `StdoutLock`
/// held for the whole run), so that log lines from other threads are never
/// kept waiting on them.
pub fn run(args: Args, stdin: Stdin<'_>, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    #[cfg(feature = "serve")]
    if let Some(super::args::Command::Serve(s)) = &args.command {
        return super::serve::run(s, err);
    }
    if args.output == OutputMode::Partials && args.format.is_none() {
        let e = UsageError::new("-o partials needs --format SCHEMA.json".into());
        return usage_error(err, &e);
    }
    let model = match model_from(&args) {
        Ok(m) => m,
        Err(e) => return usage_error(err, &e),
    };
    let prompt = match prompt(args.prompt.as_deref(), stdin) {
        Ok(p) => p,
        Err(message) => return usage_error(err, &UsageError::new(message)),
    };
    let mut messages = Vec::new();
    if let Some(s) = &args.system {
        messages.push(Message::system(s.clone()));
    }
    let mut user = Message::user(prompt);
    for a in &args.attach {
        match super::attach::attachment(a) {
            Ok(part) => user.content.push(part),
            Err(message) => return usage_error(err, &UsageError::new(message)),
        }
    }
    messages.push(user);

    // One thread: the printing consumer and the --subscribers tasks take
    // turns on it; the stream itself runs on the rivulet runtime's threads.
    let rt = match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => {
            let _ = writeln!(err, "rivulet: cannot start a tokio runtime: {e}");
            return exit::USAGE;
        }
    };
    let started = Instant::now();
    let response = model.stream(messages);
    let fan_out = (args.subscribers > 1).then(|| {
        let _in_runtime = rt.enter();
        FanOut::start(&response, args.subscribers)
    });
    let (ending, counts) = rt.block_on(print(&args, &response, fan_out.as_ref(), out));
    let elapsed = started.elapsed();
    let snapshot = rt.block_on(response.snapshot());
    let mut status = finish(&args, &snapshot, ending, out, err);
    if let Some(fan_out) = fan_out {
        if !rt.block_on(fan_out.report(err)) {
            status = exit::MISMATCH;
        }
    }
    if args.stats {
        print_stats(err, &snapshot, &counts, elapsed);
    }
    status
}

/// Counts for `--stats`.
#[derive(Default)]
struct Counts {
    chunks: u64,
    content_chunks: u64,
    first_chunk: Option<Duration>,
}

/// How the printing consumer's stream ended.
#[derive(Default)]
struct Ending {
    /// How the stream failed, if it did.
    failure: Option<Error>,
    /// With `-o partials`: the text stopped parsing as JSON.
    parse_failure: Option<Error>,
    /// Something was printed (text and pretty modes end with a newline).
    printed: bool,
}

/// Reads the stream to its end, printing each chunk as `-o` says.
async fn print(
    args: &Args,
    response: &StreamResponse,
    fan_out: Option<&FanOut>,
    out: &mut dyn Write,
) -> (Ending, Counts) {
    let started = Instant::now();
    let mut text = TextOutput::default();
    let mut pretty = PrettyRender::default();
    let mut partials = PartialText::default();
    let mut p = Ending::default();
    let mut counts = Counts::default();
    let mut chunks = response.chunk_stream();
    while let Some(item) = chunks.next().await {
        let chunk = match item {
            Ok(chunk) => chunk,
            Err(e) => {
                p.failure = Some(e);
                continue;
            }
        };
        counts.chunks += 1;
        if let Some(f) = fan_out {
            f.saw(&chunk);
        }
        let rendered = match args.output {
            OutputMode::Text => text.render(&chunk),
            OutputMode::Pretty => pretty.render(&chunk),
            OutputMode::Chunks => Some(chunk_line(&chunk) + "\n"),
            OutputMode::Partials if p.parse_failure.is_none() => match partials.push(&chunk) {
                Some(Ok(json)) => Some(json.to_string() + "\n"),
                Some(Err(e)) => {
                    p.parse_failure = Some(e);
                    None
                }
                None => None,
            },
            OutputMode::Json | OutputMode::Partials => None,
        };
        if let Some(s) = rendered {
            p.printed = true;
            let _ = out.write_all(s.as_bytes());
            let _ = out.flush();
        }
        if chunk.is_content() {
            counts.content_chunks += 1;
            counts.first_chunk.get_or_insert_with(|| started.elapsed());
            if args.cancel_after == Some(counts.content_chunks) {
                response.cancel();
            }
        }
    }
    if let Some(f) = fan_out {
        f.ended(p.failure.as_ref());
    }
    (p, counts)
}

/// Prints the ending (the closing line, the `-o json` object, the error)
/// and returns the exit status.
fn finish(
    args: &Args,
    snapshot: &Response,
    ending: Ending,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let Ending {
        failure,
        parse_failure,
        printed,
    } = ending;
    // With --format: the final object, or why there is none. A stream that
    // failed has no final object, and its own error wins.
    let (parsed, parse_failure) = match (&args.format, &failure) {
        (Some(_), None) => match parse_response::<Value>(snapshot) {
            Ok(v) => (Some(v), parse_failure),
            // The final text decides (a refusal says so).
            Err(e) => (None, Some(e)),
        },
        _ => (None, parse_failure),
    };
    let failure = failure.or(parse_failure);
    match (args.output, &failure) {
        (OutputMode::Text | OutputMode::Pretty, _) if printed => {
            let _ = writeln!(out);
        }
        (OutputMode::Chunks | OutputMode::Partials, Some(e)) => {
            let _ = writeln!(out, "{}", error_line(e));
        }
        (OutputMode::Json, _) => {
            let mut v = response_json(snapshot, failure.as_ref());
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

    let Some(e) = &failure else {
        return exit::OK;
    };
    if e.kind() != ErrorKind::Cancelled
        && !matches!(
            args.output,
            OutputMode::Json | OutputMode::Chunks | OutputMode::Partials
        )
    {
        let _ = writeln!(err, "rivulet: {e}");
    }
    // The local model not set up: another model is the way out.
    if e.kind() == ErrorKind::Unsupported
        && model_id(args).split('/').next() == Some(rivulet::local::PROVIDER_ID)
    {
        model_hint(err);
    }
    exit_code(e)
}

fn print_stats(err: &mut dyn Write, snapshot: &Response, c: &Counts, elapsed: Duration) {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let u = &snapshot.usage;
    let show = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_else(|| "?".into());
    let _ = writeln!(
        err,
        "stats: first chunk {}, {} chunks ({} content) in {:.3}s = {:.1} chunks/s; usage: input {} output {} reasoning {} cache read {}",
        c.first_chunk
            .map(|d| format!("{:.1}ms", d.as_secs_f64() * 1000.0))
            .unwrap_or_else(|| "never".into()),
        c.chunks,
        c.content_chunks,
        secs,
        c.chunks as f64 / secs,
        show(u.input_tokens),
        show(u.output_tokens),
        show(u.reasoning_tokens),
        show(u.cache_read_tokens),
    );
    // Cost from the usage known (so far, for a cancelled or failed
    // stream); unknown when the model is not priced or usage is missing.
    let _ = match snapshot.cost() {
        Some(c) => match &c.date {
            Some(date) => writeln!(
                err,
                "stats: cost ${:.6} (prices: {}, read {date})",
                c.total, c.source
            ),
            None => writeln!(err, "stats: cost ${:.6} ({})", c.total, c.source),
        },
        None => writeln!(err, "stats: cost unknown"),
    };
    // Generation speed: output tokens after the first one, over the time
    // since the first content chunk (so startup and prompt time do not count).
    if let (Some(out), Some(first)) = (u.output_tokens, c.first_chunk) {
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
        let not_json = Error::Parse {
            ctx: Box::new(ErrorContext::new("expected value at line 1 column 1")),
        };
        assert_eq!(exit_code(&not_json), 7);
        let in_band = Error::Server {
            status: 500,
            ctx: Box::new(ErrorContext::new("in-band")),
        };
        assert_eq!(exit_code(&in_band), 3);
    }
}
