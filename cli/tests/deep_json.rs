//! JSON nested thousands of levels deep, from a model over loopback HTTP:
//! a typed error on that call or that output, never a stack overflow; the
//! stream, the other tool calls and the process live on.
//!
//! The streams are recorded OpenAI transcripts of `testdata/wire/` in which
//! only argument or content deltas are changed: each changed event is a
//! recorded event line whose delta string alone is replaced (see
//! `with_deltas`).

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rivulet::{ErrorKind, Model, Tool, ToolCallState, ToolOutput, Toolkit};
use rivulet_testkit::{wire, Replay, Server, Split};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

/// The events of a recorded SSE transcript (`data: …` blocks).
fn events(path: &str) -> Vec<String> {
    let text = String::from_utf8(wire(path)).unwrap();
    text.split_terminator("\n\n").map(str::to_string).collect()
}

/// `template` (a recorded event) once per piece, with its delta string
/// `"<key>":"<old>"` replaced by the piece, JSON-escaped.
fn with_deltas(template: &str, key: &str, old: &str, pieces: &[&str]) -> Vec<String> {
    let marker = format!("\"{key}\":{}", serde_json::to_string(old).unwrap());
    assert_eq!(
        template.matches(&marker).count(),
        1,
        "{marker} in {template}"
    );
    pieces
        .iter()
        .map(|p| {
            let new = format!("\"{key}\":{}", serde_json::to_string(p).unwrap());
            template.replace(&marker, &new)
        })
        .collect()
}

fn sse(events: Vec<String>) -> Vec<u8> {
    let mut body = events.join("\n\n");
    body.push_str("\n\n");
    body.into_bytes()
}

/// `text` cut into pieces of `size` bytes (ASCII only).
fn pieces(text: &str, size: usize) -> Vec<&str> {
    text.as_bytes()
        .chunks(size)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect()
}

/// `openai-chat/text_include_usage.sse` ("4200 + 42 equals 4242.") with its
/// content deltas replaced by `pieces`: the role event, then the recorded
/// first content event once per piece, then the recorded finish, usage and
/// `[DONE]` events.
fn text_stream(pieces: &[&str]) -> Vec<u8> {
    let recorded = events("openai-chat/text_include_usage.sse");
    let n = recorded.len();
    assert!(recorded[n - 3].contains("\"finish_reason\":\"stop\""));
    assert_eq!(recorded[n - 1], "data: [DONE]");
    let mut out = vec![recorded[0].clone()];
    out.extend(with_deltas(&recorded[1], "content", "420", pieces));
    out.extend_from_slice(&recorded[n - 3..]);
    sse(out)
}

/// `openai-chat/parallel_tool_calls.sse` (`GetWeatherArgs` for Edinburgh,
/// then `get_stock_price` for AAPL) with the weather call's argument deltas
/// replaced by `pieces`; the stock call is as recorded.
fn tool_stream(pieces: &[&str]) -> Vec<u8> {
    let recorded = events("openai-chat/parallel_tool_calls.sse");
    let first_args = "\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":";
    let at = recorded
        .iter()
        .position(|e| e.contains(first_args))
        .unwrap();
    let mut out = recorded[..at].to_vec();
    out.extend(with_deltas(&recorded[at], "arguments", "{\"ci", pieces));
    out.extend(
        recorded[at..]
            .iter()
            .filter(|e| !e.contains(first_args))
            .cloned(),
    );
    sse(out)
}

/// `n` arrays inside each other.
fn nested(n: usize) -> String {
    "[".repeat(n) + &"]".repeat(n)
}

fn http_model(server: &Server) -> Model {
    Model::new("openai/gpt-4o")
        .base_url(format!("{}/v1", server.url()))
        .api_key("sk-test")
        .retries(0)
}

#[derive(Deserialize, JsonSchema)]
struct WeatherArgs {
    city: Value,
}

#[derive(Deserialize, JsonSchema)]
struct StockArgs {
    ticker: String,
    exchange: String,
}

const TOO_DEEP: &str = "nested too deeply: more than 127 arrays and objects inside each other";

#[tokio::test(flavor = "multi_thread")]
async fn a_tool_call_nested_20000_deep_is_invalid_and_never_runs() {
    // `{"city": ` and 20,000 arrays: 40 KB of brackets, in 100-byte deltas.
    let deep = format!("{{\"city\": {}}}", nested(20_000));
    let server = Server::start(vec![
        Replay::sse(tool_stream(&pieces(&deep, 100))).split(Split::Lines)
    ])
    .await;
    let weather_runs = Arc::new(AtomicUsize::new(0));
    let stock_runs = Arc::new(AtomicUsize::new(0));
    let (w, s) = (weather_runs.clone(), stock_runs.clone());
    let toolkit = Toolkit::new()
        .with(Tool::new(
            "GetWeatherArgs",
            "Weather",
            move |a: WeatherArgs| {
                w.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(format!("sunny in {}", a.city))
            },
        ))
        .with(Tool::new(
            "get_stock_price",
            "Stock",
            move |a: StockArgs| {
                s.fetch_add(1, Ordering::SeqCst);
                Ok::<_, String>(format!("{} on {}: 187.5", a.ticker, a.exchange))
            },
        ));
    let response = http_model(&server)
        .tools(&toolkit)
        .stream("weather and stock?");
    let outputs = response.execute_tools(&toolkit).await;

    // The stream finished, with everything it carried.
    let done = response.finish().await.unwrap();
    assert_eq!(done.tool_calls()[0].args, deep);
    let why = format!("invalid JSON arguments: {TOO_DEEP} at byte 135");
    assert_eq!(
        outputs,
        vec![
            ToolOutput {
                id: "call_JMW1whyEaYG438VE1OIflxA2".into(),
                name: "GetWeatherArgs".into(),
                result: format!("invalid arguments for GetWeatherArgs: {why}"),
                is_error: true,
                attachments: Vec::new(),
            },
            ToolOutput {
                id: "call_DNYTawLBoN8fj3KN6qU9N1Ou".into(),
                name: "get_stock_price".into(),
                result: "AAPL on NASDAQ: 187.5".into(),
                is_error: false,
                attachments: Vec::new(),
            },
        ]
    );
    assert_eq!(weather_runs.load(Ordering::SeqCst), 0);
    assert_eq!(stock_runs.load(Ordering::SeqCst), 1);

    let calls = response.tool_calls().await;
    assert_eq!(calls[0].args, Err(why.clone()));
    assert_eq!(
        calls[1].call.args,
        "{\"ticker\": \"AAPL\", \"exchange\": \"NASDAQ\"}"
    );
    assert_eq!(
        calls[1].args,
        Ok(json!({"ticker": "AAPL", "exchange": "NASDAQ"}))
    );
    let partial = response.partial_tool_calls().await;
    assert_eq!(partial[0].state, ToolCallState::Invalid(why));
    assert_eq!(partial[1].state, ToolCallState::Ended);
}

/// A server replaying a text of 100,000 `[` in 100-byte deltas, and the text.
async fn deep_text_server() -> (Server, String) {
    let text = "[".repeat(100_000);
    let body = text_stream(&pieces(&text, 100));
    let server = Server::start(vec![Replay::sse(body).split(Split::Lines)]).await;
    (server, text)
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(default)]
struct Anything {
    items: Vec<Value>,
}

#[tokio::test(flavor = "multi_thread")]
async fn a_structured_output_nested_100000_deep_is_a_parse_error() {
    let (server, text) = deep_text_server().await;
    let response = http_model(&server).format::<Anything>().stream("q");

    // One partial (the first 100 levels), then the error, then the end.
    let items: Vec<_> = response.structured_stream::<Value>().collect().await;
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().unwrap().json().to_string(), nested(100));
    let e = items[1].as_ref().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse);
    assert_eq!(e.message(), format!("the output is {TOO_DEEP} at byte 127"));

    let e = response.parse::<Anything>().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse);
    assert_eq!(
        e.message(),
        format!("the output is {TOO_DEEP} (recursion limit exceeded at line 1 column 128)")
    );
    let e = response.parse_partial::<Anything>().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Parse);
    assert_eq!(e.message(), format!("the output is {TOO_DEEP} at byte 127"));
    // Nothing received is lost.
    assert_eq!(response.finish().await.unwrap().text(), text);
}

struct Run {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs the real `rivulet` binary; kills it if it has not ended in 60 s.
fn rivulet(args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rivulet"))
        .args(args)
        .env_remove("RUST_LOG")
        .env_remove("RIVULET_MODEL")
        .env_remove("OPENAI_BASE_URL")
        .env("OPENAI_API_KEY", "sk-test-not-a-real-key")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rivulet");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rivulet did not end within 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        status: status.code(),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_partials_of_a_100000_deep_text_end_with_a_clear_error() {
    let (server, _) = deep_text_server().await;
    let schema =
        std::env::temp_dir().join(format!("rivulet-deep-json-{}.json", std::process::id()));
    std::fs::write(
        &schema,
        json!({"type": "object", "properties": {"items": {"type": "array"}}}).to_string(),
    )
    .unwrap();
    let url = format!("{}/v1", server.url());
    let schema_arg = schema.to_string_lossy().into_owned();
    let run = tokio::task::spawn_blocking(move || {
        rivulet(&[
            "-m",
            "openai/gpt-4o",
            "--base-url",
            &url,
            "--format",
            &schema_arg,
            "-o",
            "partials",
            "q",
        ])
    })
    .await
    .unwrap();
    let _ = std::fs::remove_file(&schema);

    // Exited by itself (not killed by a signal such as SIGABRT), not as a
    // panic (101), and not as a success.
    let status = run.status.expect("exited, not killed by a signal");
    assert!(
        status != 0 && status != 101,
        "status {status}: {}",
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let lines: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // The first 100 levels, then the partials stop; the error says why.
    assert_eq!(
        lines,
        vec![
            serde_json::from_str::<Value>(&nested(100)).unwrap(),
            json!({
                "type": "error",
                "kind": "parse",
                "message": format!(
                    "the output is {TOO_DEEP} (recursion limit exceeded at line 1 column 128)"
                ),
            }),
        ]
    );
}
