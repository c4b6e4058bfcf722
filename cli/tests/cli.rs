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

impl Run {
    /// Fails unless stderr contains `text`.
    fn says(&self, text: &str) {
        assert!(
            self.stderr.contains(text),
            "{text:?} not in stderr: {}",
            self.stderr
        );
    }

    /// Fails unless stderr starts with `text`.
    fn opens_with(&self, text: &str) {
        assert!(
            self.stderr.starts_with(text),
            "stderr does not start with {text:?}: {}",
            self.stderr
        );
    }
}

/// Runs the CLI with a clean environment: no key or model leaks in from the
/// machine, and a fake key unless the test removes it.
async fn rivulet(args: &[&str], key: bool) -> Run {
    let mut env = vec![];
    if key {
        env.push(("OPENAI_API_KEY", "sk-test-not-a-real-key"));
        env.push(("GROQ_API_KEY", "gsk-test-not-a-real-key"));
    }
    rivulet_with(args, &env, None, HANG).await
}

/// Longer than any run of the CLI in these tests: a run that takes longer
/// has hung, and fails its test instead of hanging it.
const HANG: Duration = Duration::from_secs(120);

/// Runs the CLI with a clean environment plus `env`, `stdin` piped in (or
/// none), and kills it if it has not exited after `limit`.
async fn rivulet_with(
    args: &[&str],
    env: &[(&str, &str)],
    stdin: Option<&[u8]>,
    limit: Duration,
) -> Run {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let stdin = stdin.map(<[u8]>::to_vec);
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rivulet"));
        cmd.args(&args)
            .env_remove("RIVULET_MODEL")
            .env_remove("OPENAI_API_KEY")
            .env_remove("OPENAI_BASE_URL")
            .env_remove("GROQ_API_KEY")
            .env_remove("RUST_LOG")
            .envs(env)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run rivulet");
        use std::io::Read;
        // Fed and drained on threads of their own, so a full pipe never
        // stalls the CLI (or this test).
        let feed = child.stdin.take().map(|mut pipe| {
            let input = stdin.unwrap_or_default();
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = pipe.write_all(&input);
            })
        });
        let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
            std::thread::spawn(move || {
                let mut text = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut text);
                }
                String::from_utf8_lossy(&text).into_owned()
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
        let deadline = std::time::Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait for rivulet") {
                break status;
            }
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "rivulet {args:?} hung: still running after {limit:?}; stderr: {}",
                    stderr.join().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(feed) = feed {
            let _ = feed.join();
        }
        Run {
            status: status.code().unwrap_or(-1),
            stdout: stdout.join().expect("stdout"),
            stderr: stderr.join().expect("stderr"),
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

/// The messages the CLI sent when run with `args` (and `-m`, `--base-url`)
/// and `stdin` piped in; it printed the recorded answer.
async fn sent_with_stdin(args: &[&str], stdin: &[u8]) -> Value {
    let s = serve(Replay::sse(wire("openai-chat/text_include_usage.sse"))).await;
    let url = base(&s);
    let mut all = vec!["-m", "openai/gpt-4o", "--base-url", &url];
    all.extend_from_slice(args);
    let key = [("OPENAI_API_KEY", "sk-test")];
    let r = rivulet_with(&all, &key, Some(stdin), HANG).await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("{TEXT}\n"));
    s.requests()[0].json()["messages"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn prompt_comes_from_stdin_when_absent() {
    assert_eq!(
        sent_with_stdin(&[], b"What is 4200 + 42?").await,
        json!([{"role": "user", "content": "What is 4200 + 42?"}])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn piped_stdin_follows_the_prompt_argument_after_a_blank_line() {
    assert_eq!(
        sent_with_stdin(&["Answer this:"], b"What is\n4200 + 42?\n").await,
        json!([{"role": "user", "content": "Answer this:\n\nWhat is\n4200 + 42?\n"}])
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
    r.says("OPENAI_API_KEY");
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
    r.says("authentication failed");
    r.says("Incorrect API key provided");
    assert!(!r.stderr.contains("choose a model"), "{}", r.stderr);
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
    r.says("connection error");
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

/// Fans the recorded parallel tool calls out to `n` consumers: one
/// generation, and every consumer saw the chunks `-o chunks` printed.
async fn fan_out(n: u32) {
    let s =
        serve(Replay::sse(wire("openai-chat/parallel_tool_calls.sse")).split(Split::Lines)).await;
    let n = n.to_string();
    let r = against(
        &s,
        "openai/gpt-4o",
        &["--subscribers", &n, "-o", "chunks", "q"],
    )
    .await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    let chunks = lines(&r.stdout);
    let calls = chunks
        .iter()
        .filter(|c| c["type"] == "tool_call_start_chunk")
        .count();
    assert_eq!(calls, 2);
    assert_eq!(
        r.stderr,
        format!(
            "rivulet: {n} subscribers saw the same {} chunks\n",
            chunks.len()
        )
    );
    assert_eq!(s.connections(), 1, "one generation, not {n}");
}

#[tokio::test(flavor = "multi_thread")]
async fn subscribers_all_see_the_same_chunks() {
    fan_out(8).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_thousand_subscribers_are_tasks_not_threads() {
    // One thread each exhausted the process long before 100,000.
    fan_out(100_000).await;
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
    r.says("usage: input 16 output 10");
    r.says("first chunk");
    // gpt-4o-2024-08-06 at gpt-4o's prices: 16 × $2.50 + 10 × $10 per million.
    r.says("stats: cost $0.000140 (prices: https://docs.sim.ai/");
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_say_when_the_cost_is_unknown() {
    let s = serve(Replay::sse(wire("groq/tool_call.sse"))).await;
    let r = against(&s, "groq/llama-3.3-70b-versatile", &["--stats", "q"]).await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    r.says("usage: input 210 output 15");
    r.says("stats: cost unknown");
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
        "/../tests/fixtures/json_schema_book.sse"
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

/// `-o json --format` over a recorded answer that is not the format:
/// exit status 7, `parsed: null` and a `parse` error.
async fn unparsed_json(transcript: &str) -> Value {
    let s = serve(Replay::sse(wire(transcript))).await;
    let schema = temp_json("book.json", &book_schema());
    let r = against(
        &s,
        "openai/gpt-4o",
        &["--format", &schema, "-o", "json", "q"],
    )
    .await;
    assert_eq!(r.status, 7, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["parsed"], Value::Null);
    assert_eq!(v["error"]["kind"], json!("parse"));
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refusal_with_format_has_parsed_null_and_the_error() {
    let v = unparsed_json("openai-chat/refusal.sse").await;
    assert_eq!(
        v["error"]["message"],
        json!("the model refused: I'm sorry, I can't assist with that request.")
    );
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "I'm sorry, I can't assist with that request."}])
    );

    let s = serve(Replay::sse(wire("openai-chat/refusal.sse"))).await;
    let schema = temp_json("book.json", &book_schema());
    let r = against(
        &s,
        "openai/gpt-4o",
        &["--format", &schema, "-o", "partials", "q"],
    )
    .await;
    assert_eq!(r.status, 7, "{}", r.stderr);
    assert_eq!(
        lines(&r.stdout),
        vec![
            json!({"type": "error", "kind": "parse", "message": "the model refused: I'm sorry, I can't assist with that request."})
        ]
    );
}

/// A refused `--redis` value (or `RIVULET_REDIS`) is not repeated in the
/// error: a mistyped URL may carry a password.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_redis_url_is_not_echoed() {
    let url = "http://user:hunter2@127.0.0.1:6379";
    for (args, env) in [
        (vec!["serve", "--redis", url], vec![]),
        (vec!["serve"], vec![("RIVULET_REDIS", url)]),
    ] {
        let r = rivulet_with(&args, &env, None, HANG).await;
        assert_eq!(r.status, 2, "{}", r.stderr);
        assert!(r.stderr.contains("takes a Redis URL"), "{}", r.stderr);
        assert!(!r.stderr.contains("hunter2"), "{}", r.stderr);
    }
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
async fn tool_choice_and_extra_body_reach_the_request() {
    let s = serve(Replay::sse(wire("openai-chat/parallel_tool_calls.sse"))).await;
    let tools = json!([{"name": "get_stock_price", "description": "A stock's price.", "parameters": {
        "type": "object", "properties": {"ticker": {"type": "string"}}, "required": ["ticker"]
    }}]);
    let file = temp_json("choice_tools.json", &tools);
    let args = [
        "--tools",
        &file,
        "--tool-choice",
        "get_stock_price",
        "--extra-body",
        r#"{"service_tier": "flex", "metadata": {"run": "7"}}"#,
        "q",
    ];
    let r = against(&s, "openai/gpt-4o", &args).await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    let sent = s.requests()[0].json();
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "function", "function": {"name": "get_stock_price"}})
    );
    assert_eq!(sent["service_tier"], json!("flex"));
    assert_eq!(sent["metadata"], json!({"run": "7"}));

    for (args, says) in [
        (
            vec!["--tool-choice", "nope", "--tools", &file, "q"],
            "--tool-choice nope: no such tool in ",
        ),
        (
            vec!["--tool-choice", "get_stock_price", "q"],
            "--tool-choice get_stock_price: naming a tool needs --tools",
        ),
        (
            vec!["--extra-body", "[1]", "q"],
            "--extra-body: must be a JSON object, not an array",
        ),
    ] {
        let r = against(&s, "openai/gpt-4o", &args).await;
        assert_eq!(r.status, 2, "{}", r.stderr);
        r.says(says);
    }
    // The refusals sent nothing.
    assert_eq!(s.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_default_local_model_without_setup_names_the_setup_command() {
    let r = rivulet_with(
        &["hi"],
        &[("RIVULET_LLAMA_SERVER", "/nonexistent/llama-server")],
        None,
        HANG,
    )
    .await;
    assert_eq!(r.status, 2, "{}", r.stderr);
    r.says("scripts/setup-local.sh");
    r.says("/nonexistent/llama-server");
    // The model is the problem here: another one is the way out.
    r.says("choose a model with -m provider/model");
}

// ---- Logging ----

#[tokio::test(flavor = "multi_thread")]
async fn rust_log_trace_neither_hangs_nor_changes_the_output() {
    // The runtime's threads log while the CLI prints and reports on the same
    // stderr: no lock may be held across the run.
    let s =
        serve(Replay::sse(wire("openai-chat/text_include_usage.sse")).split(Split::Lines)).await;
    let url = base(&s);
    let r = rivulet_with(
        &["-m", "openai/gpt-4o", "--base-url", &url, "--stats", "q"],
        &[
            ("OPENAI_API_KEY", "sk-test-not-a-real-key"),
            ("RUST_LOG", "trace"),
        ],
        None,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("{TEXT}\n"));
    assert!(r.stderr.contains("TRACE"), "no trace logs: {}", r.stderr);
    r.says("sending streaming request");
    r.says("usage: input 16 output 10");
    assert!(!r.stderr.contains('\x1b'), "colour codes in a pipe");
    assert!(
        !r.stderr.contains("sk-test-not-a-real-key"),
        "the key leaked"
    );
}

// ---- Fan-out ----

#[tokio::test(flavor = "multi_thread")]
async fn subscribers_beyond_the_cap_are_refused_naming_the_flag() {
    let r = rivulet(
        &["-m", "openai/gpt-4o", "--subscribers", "250001", "q"],
        true,
    )
    .await;
    assert_eq!(r.status, 2);
    r.says("--subscribers");
    r.says("250001");
}

// ---- Timeouts ----

/// A loopback server that accepts connections and never answers.
fn silent_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_times_out_by_default() {
    // No timeout flags: the default connect limit (10 s) ends it.
    let url = silent_server();
    let started = std::time::Instant::now();
    let model = ["-m", "openai/gpt-4o", "--base-url", &url];
    let args = [&model[..], &["--retries", "0", "-o", "json", "q"]].concat();
    let key = [("OPENAI_API_KEY", "sk-test")];
    let r = rivulet_with(&args, &key, None, Duration::from_secs(60)).await;
    assert_eq!(r.status, 4, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["error"]["kind"], "timeout");
    assert_eq!(v["error"]["which"], "connect");
    assert!(started.elapsed() >= Duration::from_secs(10));
}

// ---- Bad input and messages ----

#[tokio::test(flavor = "multi_thread")]
async fn values_that_cannot_be_right_are_refused_naming_the_flag() {
    for (args, flag) in [
        (&["--temperature", "NaN"][..], "--temperature"),
        (&["--temperature", "inf"], "--temperature"),
        (&["--temperature", "-inf"], "--temperature"),
        (&["--temperature", "-0.5"], "--temperature"),
        (&["--max-tokens", "0"], "--max-tokens"),
        (&["--connect-timeout", "soon"], "--connect-timeout"),
    ] {
        let mut all = vec!["-m", "openai/gpt-4o"];
        all.extend_from_slice(args);
        all.push("hi");
        let r = rivulet(&all, true).await;
        assert_eq!(r.status, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(flag), "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(args[1]), "{args:?}: {}", r.stderr);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_id_without_a_model_name_or_provider_is_refused() {
    let r = rivulet(&["-m", "openai", "hi"], true).await;
    assert_eq!(r.status, 2);
    r.opens_with("rivulet: -m openai: no model name (use -m openai/MODEL");
    r.says("choose a model with -m provider/model");
    let r = rivulet(&["-m", "nope/model", "hi"], true).await;
    assert_eq!(r.status, 2);
    r.opens_with("rivulet: -m nope/model: unknown provider \"nope\"\n");
    r.says("openai, groq");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_model_hint_only_when_the_model_is_the_problem() {
    // A missing key: the key is the problem.
    let r = rivulet(&["-m", "openai/gpt-4o", "hi"], false).await;
    assert_eq!(r.status, 2);
    r.says("OPENAI_API_KEY");
    assert!(!r.stderr.contains("choose a model"), "{}", r.stderr);
    // A bad flag value.
    let r = rivulet(&["-m", "openai/gpt-4o", "--max-tokens", "0", "hi"], true).await;
    assert!(!r.stderr.contains("choose a model"), "{}", r.stderr);
    // The provider's own error: exit_3_for_an_http_error_with_the_provider_message.
}

#[tokio::test(flavor = "multi_thread")]
async fn a_format_schema_that_is_not_an_object_is_refused() {
    let file = temp_json("schema.json", &json!([book_schema()]));
    let r = rivulet(&["-m", "openai/gpt-4o", "--format", &file, "q"], true).await;
    assert_eq!(r.status, 2);
    assert_eq!(
        r.stderr,
        format!("rivulet: --format {file}: the schema must be a JSON object, not an array\n")
    );
    a_missing_file_is_named("--format").await;
}

/// `flag` given a file that does not exist: a usage error naming both.
async fn a_missing_file_is_named(flag: &str) {
    let path = "/nonexistent/file.json";
    let r = rivulet(&["-m", "openai/gpt-4o", flag, path, "q"], true).await;
    assert_eq!(r.status, 2);
    r.opens_with(&format!("rivulet: {flag} {path}: "));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_response_that_does_not_parse_into_the_format_exits_7() {
    // A real text answer where JSON was asked for.
    let schema = temp_json("book.json", &book_schema());
    let s = serve(Replay::sse(wire("openai-chat/text_include_usage.sse"))).await;
    let r = against(&s, "openai/gpt-4o", &["--format", &schema, "q"]).await;
    assert_eq!(r.status, 7, "{}", r.stderr);
    assert_eq!(r.stdout, format!("{TEXT}\n"));
    r.says("rivulet: could not parse structured output: ");
    assert!(!r.stderr.contains("choose a model"), "{}", r.stderr);

    let v = unparsed_json("openai-chat/text_include_usage.sse").await;
    assert_eq!(v["content"], json!([{"type": "text", "text": TEXT}]));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_encoded_stream_names_its_encoding() {
    // rivulet asks for no compression and decodes none: a stream encoded
    // anyway (or claiming to be) cannot be read, and the error says why.
    for encoding in ["br", "zstd", "gzip"] {
        let s = serve(
            Replay::sse(wire("openai-chat/text_include_usage.sse"))
                .header("content-encoding", encoding),
        )
        .await;
        let r = against(&s, "openai/gpt-4o", &["q"]).await;
        assert_eq!(r.status, 6, "{encoding}: {}", r.stderr);
        assert!(
            r.stderr.contains(&format!("Content-Encoding: {encoding}")),
            "{encoding}: {}",
            r.stderr
        );
        assert_eq!(r.stdout, "");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_tools_file_is_named() {
    a_missing_file_is_named("--tools").await;
    let file = temp_json(
        "tools.json",
        &json!([{"description": "No name.", "parameters": {"type": "object"}}]),
    );
    let r = rivulet(&["-m", "openai/gpt-4o", "--tools", &file, "q"], true).await;
    assert_eq!(r.status, 2);
    assert_eq!(
        r.stderr,
        format!("rivulet: --tools {file}: tool definition 1: missing field `name`\n")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn text_mode_prints_the_tool_calls() {
    let s =
        serve(Replay::sse(wire("openai-chat/parallel_tool_calls.sse")).split(Split::Bytes)).await;
    let tools = temp_json(
        "tools.json",
        &json!([
            {"name": "GetWeatherArgs", "parameters": {"type": "object"}},
            {"name": "get_stock_price", "parameters": {"type": "object"}}
        ]),
    );
    let r = against(&s, "openai/gpt-4o", &["--tools", &tools, "q"]).await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "tool call: GetWeatherArgs {\"city\": \"Edinburgh\", \"country\": \"GB\", \"units\": \"c\"}\n\
         tool call: get_stock_price {\"ticker\": \"AAPL\", \"exchange\": \"NASDAQ\"}\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn help_lists_every_exit_status_and_the_key_variables() {
    let r = rivulet(&["--help"], false).await;
    assert_eq!(r.status, 0);
    let help = r.stdout;
    for status in [
        "  0  done",
        "  1  --subscribers",
        "  2  usage",
        "  3  the provider",
        "  4  a timeout",
        "  5  the connection",
        "  6  the stream was malformed",
        "  7  --format",
    ] {
        assert!(help.contains(status), "{status:?} missing from --help");
    }
    for var in [
        "RIVULET_MODEL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "RUST_LOG",
    ] {
        assert!(help.contains(var), "{var} missing from --help");
    }
    assert!(help.contains("[default: 10s]"), "{help}");
    assert!(help.contains("[default: 120s]"), "{help}");
}

/// `-a` with a local JPEG and an image URL: the CLI sends the user message
/// of a real recorded request (`openai-chat/image_base64_input.request.json`:
/// the prompt, then the image as a `data:` URL, typed from its bytes even
/// though the file is named `.bin`), then the URL as an `image_url`.
#[tokio::test(flavor = "multi_thread")]
async fn attach_sends_a_local_image_and_a_url() {
    use base64::Engine as _;
    let recorded: Value =
        serde_json::from_slice(&wire("openai-chat/image_base64_input.request.json")).unwrap();
    let message = &recorded["messages"][0];
    let data_url = message["content"][1]["image_url"]["url"].as_str().unwrap();
    let b64 = data_url.strip_prefix("data:image/jpeg;base64,").unwrap();
    let jpeg = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    let path =
        std::env::temp_dir().join(format!("rivulet-cli-{}-vegetable.bin", std::process::id()));
    std::fs::write(&path, &jpeg).unwrap();
    let url =
        "https://t3.ftcdn.net/jpg/00/85/79/92/360_F_85799278_0BBGV9OAdQDTLnKwAPBCcg1J7QtiieJY.jpg";

    let s = serve(Replay::sse(wire("openai-chat/text_include_usage.sse"))).await;
    let prompt = message["content"][0]["text"].as_str().unwrap();
    let file = path.to_str().unwrap();
    let r = against(
        &s,
        "openai/gpt-4.1-nano",
        &["-a", file, "--attach", url, prompt],
    )
    .await;
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, format!("{TEXT}\n"));
    let sent = s.requests()[0].json();
    let mut want = message.clone();
    want["content"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "image_url", "image_url": {"url": url}}));
    assert_eq!(sent["messages"], json!([want]));
    assert_eq!(sent["model"], recorded["model"]);
    let _ = std::fs::remove_file(&path);
}

/// A file that cannot be read, and a kind the provider cannot take, are
/// refused before anything is sent: a usage error naming `-a`, and the
/// provider's `unsupported` error.
#[tokio::test(flavor = "multi_thread")]
async fn attach_refusals_send_nothing() {
    let s = serve(Replay::sse(wire("openai-chat/text_include_usage.sse"))).await;
    let r = against(&s, "openai/gpt-4o", &["-a", "/no/such/photo.png", "hi"]).await;
    assert_eq!(r.status, 2, "{}", r.stderr);
    r.says("-a /no/such/photo.png: ");
    let url = base(&s);
    let args = [
        "-m",
        "deepseek/deepseek-chat",
        "--base-url",
        &url,
        "-a",
        "https://x.org/a.png",
        "hi",
    ];
    let key = [("DEEPSEEK_API_KEY", "sk-test")];
    let r = rivulet_with(&args, &key, None, HANG).await;
    assert_eq!(r.status, 2, "{}", r.stderr);
    r.says("deepseek cannot take images");
    assert!(s.requests().is_empty());
}
