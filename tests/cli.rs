//! The `rivulet` binary against loopback replays of recorded transcripts:
//! each output mode and each exit status, asserted on what a user sees.

use std::process::{Command, Stdio};
use std::time::Duration;

use rivulet_testkit::{wire, After, Replay, Server, Split};
use serde_json::{json, Value};

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

/// Runs the CLI with a clean environment: no key or model leaks in from the
/// machine, and a fake key unless the test removes it.
async fn rivulet(args: &[&str], key: bool) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rivulet"));
        cmd.args(&args)
            .env_remove("RIVULET_MODEL")
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL")
            .env_remove("GROQ_API_KEY")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        if key {
            cmd.env("OPENAI_API_KEY", "sk-test-not-a-real-key")
                .env("GROQ_API_KEY", "gsk-test-not-a-real-key");
        }
        let out = cmd.output().expect("run rivulet");
        Run {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .expect("join")
}

async fn serve(replay: Replay) -> Server {
    Server::start(vec![replay]).await
}

fn base(server: &Server) -> String {
    format!("{}/v1", server.url())
}

/// Runs the CLI against `server` as `model`, with a fake key.
async fn against(server: &Server, model: &str, args: &[&str]) -> Run {
    let url = base(server);
    let mut all = vec!["-m", model, "--base-url", &url];
    all.extend_from_slice(args);
    rivulet(&all, true).await
}

const TEXT: &str = "4200 + 42 equals 4242.";

#[tokio::test(flavor = "multi_thread")]
async fn text_mode_prints_the_text() {
    let s =
        serve(Replay::sse(wire("openai-chat/text_include_usage.sse")).split(Split::Lines)).await;
    let r = against(&s, "openai/gpt-4o", &["What is 4200 + 42?"]).await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("{TEXT}\n"));
}

#[tokio::test(flavor = "multi_thread")]
async fn prompt_comes_from_stdin_when_absent() {
    let s = serve(Replay::sse(wire("openai-chat/text_include_usage.sse"))).await;
    let url = base(&s);
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = Command::new(env!("CARGO_BIN_EXE_rivulet"))
            .args(["-m", "openai/gpt-4o", "--base-url", &url])
            .env("OPENAI_API_KEY", "sk-test")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"What is 4200 + 42?")
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{TEXT}\n"));
    let sent: Value = serde_json::from_slice(&s.requests()[0].body).unwrap();
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": "What is 4200 + 42?"}])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pretty_mode_prints_tool_calls() {
    let s =
        serve(Replay::sse(wire("openai-chat/parallel_tool_calls.sse")).split(Split::Bytes)).await;
    let r = against(&s, "openai/gpt-4o", &["-o", "pretty", "weather?"]).await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "**ToolCall (GetWeatherArgs):** {\"city\": \"Edinburgh\", \"country\": \"GB\", \"units\": \"c\"}\n\n\
         **ToolCall (get_stock_price):** {\"ticker\": \"AAPL\", \"exchange\": \"NASDAQ\"}\n"
    );
}

fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn chunks_mode_prints_one_json_chunk_per_line() {
    let s = serve(Replay::sse(wire("openai-chat/text_include_usage.sse"))).await;
    let r = against(&s, "openai/gpt-4o", &["-o", "chunks", "q"]).await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    let chunks = lines(&r.stdout);
    let text: String = chunks
        .iter()
        .filter(|c| c["type"] == "text_chunk")
        .map(|c| c["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, TEXT);
    let content_types: Vec<&str> = chunks
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .filter(|t| t.starts_with("text"))
        .collect();
    assert_eq!(content_types.first(), Some(&"text_start_chunk"));
    assert_eq!(content_types.last(), Some(&"text_end_chunk"));
    let finish: Vec<&Value> = chunks
        .iter()
        .filter(|c| c["type"] == "finish_reason_chunk")
        .collect();
    assert_eq!(finish.len(), 1);
    assert_eq!(finish[0]["reason"], "stop");
    assert_eq!(finish[0]["raw"], "stop");
    let usage: Vec<&Value> = chunks
        .iter()
        .filter(|c| c["type"] == "usage_delta_chunk")
        .collect();
    assert_eq!(usage.len(), 1);
    assert_eq!(usage[0]["usage"]["input_tokens"], 16);
    assert_eq!(usage[0]["usage"]["output_tokens"], 10);
    assert!(chunks.iter().all(|c| c["type"] != "error"));
}

#[tokio::test(flavor = "multi_thread")]
async fn chunks_mode_ends_with_the_error_line() {
    let s = serve(Replay::sse(wire("groq/error_event_after_text.sse")).split(Split::Lines)).await;
    let r = against(&s, "groq/openai/gpt-oss-120b", &["-o", "chunks", "q"]).await;
    assert_eq!(r.status, 3, "{}", r.stderr);
    let chunks = lines(&r.stdout);
    let last = chunks.last().unwrap();
    assert_eq!(last["type"], "error");
    assert_eq!(last["kind"], "bad_request");
    assert_eq!(
        last["message"],
        "Tool choice is required, but model did not call a tool"
    );
    let text: String = chunks
        .iter()
        .filter(|c| c["type"] == "text_chunk")
        .map(|c| c["delta"].as_str().unwrap())
        .collect();
    assert_eq!(text, "maybe");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_mode_prints_the_response() {
    let s =
        serve(Replay::sse(wire("openai-chat/text_include_usage.sse")).split(Split::Bytes)).await;
    let r = against(&s, "openai/gpt-4o", &["-o", "json", "q"]).await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["provider"], "openai");
    assert_eq!(v["model"], "gpt-4o-2024-08-06");
    assert_eq!(v["id"], "chatcmpl-CoDWl5rS0pF10P0W0TDVgY3NA26dk");
    assert_eq!(v["finish_reason"], "stop");
    assert_eq!(v["usage"]["input_tokens"], 16);
    assert_eq!(v["usage"]["output_tokens"], 10);
    assert_eq!(v["usage"]["cache_read_tokens"], 0);
    assert_eq!(v["usage"]["reasoning_tokens"], 0);
    assert_eq!(v["usage"]["cache_write_tokens"], Value::Null);
    assert_eq!(v["content"], json!([{"type": "text", "text": TEXT}]));
    assert_eq!(v["error"], Value::Null);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_mode_keeps_what_was_received_on_failure() {
    let s = serve(Replay::sse(wire("groq/error_event_after_text.sse"))).await;
    let r = against(&s, "groq/openai/gpt-oss-120b", &["-o", "json", "q"]).await;
    assert_eq!(r.status, 3, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let texts: Vec<&Value> = v["content"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "text")
        .collect();
    assert_eq!(texts, vec![&json!({"type": "text", "text": "maybe"})]);
    assert_eq!(v["error"]["kind"], "bad_request");
    assert_eq!(v["error"]["code"], "tool_use_failed");
    assert_eq!(v["provider"], "groq");
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_2_for_a_missing_key_and_a_bad_flag() {
    let r = rivulet(&["-m", "openai/gpt-4o", "hi"], false).await;
    assert_eq!(r.status, 2);
    assert!(r.stderr.contains("OPENAI_API_KEY"), "{}", r.stderr);
    let r = rivulet(&["-o", "nope", "hi"], true).await;
    assert_eq!(r.status, 2);
    let r = rivulet(&["--idle-timeout", "soon", "hi"], true).await;
    assert_eq!(r.status, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_3_for_an_http_error_with_the_provider_message() {
    let s = serve(Replay::json(
        401,
        wire("openai-chat/error_http401_invalid_key.json"),
    ))
    .await;
    let r = against(&s, "openai/gpt-4o", &["hi"]).await;
    assert_eq!(r.status, 3);
    assert!(r.stderr.contains("authentication failed"), "{}", r.stderr);
    assert!(
        r.stderr.contains("Incorrect API key provided"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("sk-test-not-a-real-key"),
        "the key leaked: {}",
        r.stderr
    );
}

/// The first `n` events of a transcript.
fn first_events(path: &str, n: usize) -> Vec<u8> {
    let body = String::from_utf8(wire(path)).unwrap();
    let events: Vec<&str> = body.split_inclusive("\n\n").take(n).collect();
    events.concat().into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_4_for_a_timeout_keeping_the_partial_text() {
    // Role chunk, "420", "0": then the server goes quiet.
    let s = serve(
        Replay::sse(first_events("openai-chat/text_include_usage.sse", 3)).then(After::Stall),
    )
    .await;
    let r = against(
        &s,
        "openai/gpt-4o",
        &["--idle-timeout", "300ms", "-o", "json", "q"],
    )
    .await;
    assert_eq!(r.status, 4, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["content"], json!([{"type": "text", "text": "4200"}]));
    assert_eq!(v["error"]["kind"], "timeout");
    assert_eq!(v["error"]["which"], "idle");
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_5_for_a_refused_connection() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/v1");
    let r = rivulet(
        &[
            "-m",
            "openai/gpt-4o",
            "--base-url",
            &url,
            "--retries",
            "0",
            "hi",
        ],
        true,
    )
    .await;
    assert_eq!(r.status, 5, "{}", r.stderr);
    assert!(r.stderr.contains("connection error"), "{}", r.stderr);
}

/// A stream that ends before its terminal event was cut short (a clean
/// close and a cut connection look the same): exit 5, what came is kept.
#[tokio::test(flavor = "multi_thread")]
async fn exit_5_for_a_stream_that_ends_before_its_end() {
    // Role chunk, "420", "0": then the server closes, with no finish
    // reason and no [DONE].
    let s = serve(Replay::sse(first_events(
        "openai-chat/text_include_usage.sse",
        3,
    )))
    .await;
    let r = against(&s, "openai/gpt-4o", &["-o", "json", "q"]).await;
    assert_eq!(r.status, 5, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["content"], json!([{"type": "text", "text": "4200"}]));
    assert_eq!(v["error"]["kind"], "connection");
    assert_eq!(
        v["error"]["message"],
        "the stream ended before [DONE] or a finish reason: the response is truncated (the connection was probably cut)"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_6_for_a_malformed_stream() {
    let mut body = first_events("openai-chat/text_include_usage.sse", 2);
    body.extend_from_slice(b"data: {\"choices\": [garbage\n\n");
    let s = serve(Replay::sse(body)).await;
    let r = against(&s, "openai/gpt-4o", &["-o", "json", "q"]).await;
    assert_eq!(r.status, 6, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["content"], json!([{"type": "text", "text": "420"}]));
    assert_eq!(v["error"]["kind"], "protocol");
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribers_all_see_the_same_chunks() {
    let s =
        serve(Replay::sse(wire("openai-chat/parallel_tool_calls.sse")).split(Split::Lines)).await;
    let r = against(
        &s,
        "openai/gpt-4o",
        &["--subscribers", "8", "-o", "chunks", "q"],
    )
    .await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    let n = r.stdout.lines().count();
    assert!(
        r.stderr
            .contains(&format!("8 subscribers saw the same {n} chunks")),
        "{}",
        r.stderr
    );
    assert_eq!(s.connections(), 1, "one generation, not eight");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_after_n_chunks_is_done_and_closes_the_connection() {
    let s = serve(Replay::generated(1000, Duration::from_millis(20), "tok ")).await;
    let r = against(
        &s,
        "openai/gpt-4o",
        &["--cancel-after", "3", "-o", "chunks", "q"],
    )
    .await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    let chunks = lines(&r.stdout);
    let deltas = chunks.iter().filter(|c| c["type"] == "text_chunk").count();
    assert!(
        (2..10).contains(&deltas),
        "{deltas} text chunks after cancelling at 3 content chunks"
    );
    assert_eq!(chunks.last().unwrap()["kind"], "cancelled");
    assert!(s.wait_client_closed(Duration::from_secs(2)).await.is_some());
    assert!(
        s.bytes_written(0) < 200 * 1000,
        "the server kept generating"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_go_to_stderr() {
    let s = serve(Replay::sse(wire("openai-chat/text_include_usage.sse"))).await;
    let r = against(&s, "openai/gpt-4o", &["--stats", "q"]).await;
    assert_eq!(r.status, 0);
    assert_eq!(r.stdout, format!("{TEXT}\n"));
    assert!(
        r.stderr.contains("usage: input 16 output 10"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("first chunk"), "{}", r.stderr);
}

// ---- Tools and formats ----

/// Writes `value` to a fresh temporary file and returns its path.
fn temp_json(name: &str, value: &Value) -> String {
    let path = std::env::temp_dir().join(format!(
        "rivulet-cli-{}-{}-{name}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::write(&path, serde_json::to_vec(value).unwrap()).unwrap();
    path.to_string_lossy().into_owned()
}

fn book_schema() -> Value {
    json!({
        "title": "Book",
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "author": {"type": "string"},
            "year": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "summary": {"type": "string"}
        },
        "required": ["title", "author", "year", "tags", "summary"],
        "additionalProperties": false
    })
}

fn book_json() -> Value {
    json!({
        "title": "The Hobbit",
        "author": "J. R. R. Tolkien",
        "year": 1937,
        "tags": ["fantasy", "adventure"],
        "summary": "Bilbo\u{2019}s quest \"there and back\"."
    })
}

/// A constructed json_schema stream with the chunk shapes of the recorded
/// `openai-chat/finish_length.sse` (see tests/structured.rs).
fn book_stream() -> Vec<u8> {
    std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/json_schema_book.sse"
    ))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn format_with_json_output_adds_parsed() {
    let s = serve(Replay::sse(book_stream()).split(Split::Lines)).await;
    let schema = temp_json("book.json", &book_schema());
    let r = against(
        &s,
        "openai/gpt-4o",
        &["--format", &schema, "-o", "json", "A book?"],
    )
    .await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["parsed"], book_json());
    assert_eq!(v["error"], Value::Null);
    assert_eq!(v["finish_reason"], json!("stop"));
    let sent = s.requests()[0].json();
    assert_eq!(
        sent["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "Book", "schema": book_schema(), "strict": true}})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn partials_print_one_growing_object_per_change() {
    let s = serve(Replay::sse(book_stream()).split(Split::Bytes)).await;
    let schema = temp_json("book.json", &book_schema());
    let r = against(
        &s,
        "openai/gpt-4o",
        &["--format", &schema, "-o", "partials", "A book?"],
    )
    .await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    let lines = lines(&r.stdout);
    assert_eq!(lines.len(), 29);
    assert!(lines.iter().all(Value::is_object));
    assert_eq!(lines[0], json!({}));
    assert_eq!(lines[1], json!({"title": ""}));
    assert_eq!(lines[3], json!({"title": "The Hobbit"}));
    for w in lines.windows(2) {
        assert_ne!(w[0], w[1]);
        for (k, v) in w[0].as_object().unwrap() {
            let next = &w[1][k];
            match (v, next) {
                (Value::String(a), Value::String(b)) => assert!(b.starts_with(a.as_str())),
                (Value::Array(a), Value::Array(b)) => assert!(a.len() <= b.len()),
                _ => assert_eq!(v, next),
            }
        }
    }
    assert_eq!(lines.last().unwrap(), &book_json());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_with_format_has_parsed_null_and_the_error() {
    let s = serve(Replay::sse(wire("openai-chat/refusal.sse"))).await;
    let schema = temp_json("book.json", &book_schema());
    let r = against(
        &s,
        "openai/gpt-4o",
        &["--format", &schema, "-o", "json", "q"],
    )
    .await;
    assert_eq!(r.status, 3, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["parsed"], Value::Null);
    assert_eq!(v["error"]["kind"], json!("parse"));
    assert_eq!(
        v["error"]["message"],
        json!("the model refused: I'm sorry, I can't assist with that request.")
    );
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "I'm sorry, I can't assist with that request."}])
    );

    let s = serve(Replay::sse(wire("openai-chat/refusal.sse"))).await;
    let r = against(
        &s,
        "openai/gpt-4o",
        &["--format", &schema, "-o", "partials", "q"],
    )
    .await;
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert_eq!(
        lines(&r.stdout),
        vec![
            json!({"type": "error", "kind": "parse", "message": "the model refused: I'm sorry, I can't assist with that request."})
        ]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn partials_without_format_is_a_usage_error() {
    let r = rivulet(&["-m", "openai/gpt-4o", "-o", "partials", "q"], true).await;
    assert_eq!(r.status, 2);
    assert_eq!(
        r.stderr,
        "rivulet: -o partials needs --format SCHEMA.json\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_file_sends_the_definitions_and_calls_are_printed() {
    let s = serve(Replay::sse(wire("openai-chat/parallel_tool_calls.sse"))).await;
    let tools = json!([
        {"name": "GetWeatherArgs", "description": "Weather in a city.", "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "country": {"type": "string"}, "units": {"type": "string"}},
            "required": ["city", "country", "units"]
        }},
        {"type": "function", "function": {"name": "get_stock_price", "description": "A stock's price.", "parameters": {
            "type": "object",
            "properties": {"ticker": {"type": "string"}, "exchange": {"type": "string"}},
            "required": ["ticker", "exchange"]
        }}}
    ]);
    let file = temp_json("tools.json", &tools);
    let r = against(&s, "openai/gpt-4o", &["--tools", &file, "-o", "json", "q"]).await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    let sent = s.requests()[0].json();
    assert_eq!(
        sent["tools"],
        json!([
            {"type": "function", "function": {"name": "GetWeatherArgs", "description": "Weather in a city.", "parameters": tools[0]["parameters"]}},
            {"type": "function", "function": {"name": "get_stock_price", "description": "A stock's price.", "parameters": tools[1]["function"]["parameters"]}}
        ])
    );
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v["content"],
        json!([
            {"type": "tool_call", "id": "call_JMW1whyEaYG438VE1OIflxA2", "name": "GetWeatherArgs",
             "args": {"city": "Edinburgh", "country": "GB", "units": "c"}},
            {"type": "tool_call", "id": "call_DNYTawLBoN8fj3KN6qU9N1Ou", "name": "get_stock_price",
             "args": {"ticker": "AAPL", "exchange": "NASDAQ"}}
        ])
    );
    assert!(v.get("parsed").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_local_model_without_setup_names_the_setup_command() {
    let args: Vec<String> = vec!["hi".into()];
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_rivulet"))
            .args(&args)
            .env_remove("RIVULET_MODEL")
            .env_remove("RUST_LOG")
            .env("RIVULET_LLAMA_SERVER", "/nonexistent/llama-server")
            .stdin(Stdio::null())
            .output()
            .expect("run rivulet")
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("scripts/setup-local.sh"), "{stderr}");
    assert!(stderr.contains("/nonexistent/llama-server"), "{stderr}");
}
