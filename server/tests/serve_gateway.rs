//! `rivulet serve` as a gateway, through the real running server: the
//! official `openai` Python SDK on `POST /v1/chat/completions`, a second
//! client attached to the same generation by its `x-rivulet-stream-id`,
//! cancel when the chat client goes, and `?format=ai-sdk` read by the `ai`
//! npm package's own reader. The upstream is testkit's replay server
//! replaying real recorded transcripts.
//!
//! Needs python's `openai` (tests/python/requirements.txt) and `node` with
//! `(cd tests/js && npm ci)`; without them those tests skip with a message,
//! except under CI, where they fail.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use rivulet::json::chunk_line;
use rivulet::{Model, Response};
use rivulet_server::openai_compat::STREAM_ID_HEADER;
use rivulet_server::ServeConfig;
use rivulet_testkit::{wire, Replay, Server, Split};
use serde_json::{json, Value};

#[path = "support/openai_sdk.rs"]
mod openai_sdk;
#[path = "support/serve.rs"]
mod serve_support;

use serve_support::{start_with, MODEL};
const TOOLS: &str = "openai-chat/parallel_tool_calls.sse";
const TEXT: &str = "openai-chat/text_include_usage.sse";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// True when `ok`; otherwise skips with `why`, or fails under CI.
fn available(ok: bool, why: &str) -> bool {
    if !ok {
        assert!(!in_ci(), "CI: {why}");
        eprintln!("skipped: {why}");
    }
    ok
}

fn python_sdk() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success());
    available(
        ok,
        "python's `openai` module is missing \
         (python3 -m pip install -r tests/python/requirements.txt)",
    )
}

fn ai_package() -> bool {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js");
    let ok = Command::new("node").arg("--version").output().is_ok()
        && js.join("node_modules/ai/package.json").is_file();
    available(
        ok,
        "node or tests/js/node_modules is missing (cd tests/js && npm ci)",
    )
}

/// `transcript`, a line per write, `delay` apart.
fn replay(transcript: &str, delay: Duration) -> Replay {
    Replay::sse(wire(transcript))
        .split(Split::Lines)
        .delay(delay)
}

fn point(model: Model, upstream: &Server) -> Model {
    model
        .base_url(format!("{}/v1", upstream.url()))
        .api_key("sk-test")
        .retries(0)
}

/// The server on a loopback port, every model pointed at `upstream`.
async fn start_server(upstream: &Server) -> String {
    start_with(upstream, ServeConfig::default()).await
}

/// `transcript` streamed in-process: the response and its chunks as
/// `rivulet -o chunks` prints them.
async fn direct(transcript: &str) -> (Response, Vec<String>) {
    let upstream = Server::start(vec![Replay::sse(wire(transcript))]).await;
    let response = point(Model::new(MODEL), &upstream).stream("go");
    let mut chunks = response.chunk_stream();
    let mut lines = Vec::new();
    while let Some(c) = chunks.next().await {
        lines.push(chunk_line(&c.expect("the transcript streams")));
    }
    (response.finish().await.unwrap(), lines)
}

async fn get_json(url: String) -> Value {
    let body = reqwest::get(url).await.unwrap().bytes().await.unwrap();
    serde_json::from_slice(&body).unwrap()
}

async fn post(url: String, body: Value) -> reqwest::Response {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
}

/// A streamed chat completion started, and its stream id.
async fn start_chat(base: &str) -> (reqwest::Response, String) {
    let chat = post(
        format!("{base}/v1/chat/completions"),
        json!({"model": MODEL, "stream": true,
            "messages": [{"role": "user", "content": "go"}]}),
    )
    .await;
    assert_eq!(chat.status(), 200);
    let id = chat.headers()[STREAM_ID_HEADER]
        .to_str()
        .unwrap()
        .to_string();
    (chat, id)
}

async fn status(base: &str, id: &str) -> Value {
    get_json(format!("{base}/v1/streams/{id}")).await["status"].clone()
}

/// The chunk events' data on `/v1/streams/{id}/events`, up to `end`, and
/// the end's data.
async fn attach(base: &str, id: &str) -> (Vec<String>, String) {
    let response = reqwest::get(format!("{base}/v1/streams/{id}/events"))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = response.bytes_stream().eventsource();
    let mut lines = Vec::new();
    while let Some(e) = events.next().await {
        let e = e.unwrap();
        if e.event == "end" {
            return (lines, e.data);
        }
        lines.push(e.data);
    }
    panic!("no end event after {lines:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_openai_sdk_streams_through_the_server_as_a_direct_run() {
    if !python_sdk() {
        return;
    }
    let (done, _) = direct(TOOLS).await;
    let upstream = Server::start(vec![Replay::sse(wire(TOOLS))]).await;
    let base = start_server(&upstream).await;
    let tools = json!([{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": {}}}}]);
    let mut got = openai_sdk::run(vec![
        format!("{base}/v1"),
        MODEL.into(),
        "stream".into(),
        tools.to_string(),
    ])
    .await;
    let id = got["id"].take();
    assert!(id.as_str().unwrap().starts_with("chatcmpl-st_"), "{id}");
    let u = &done.usage;
    assert_eq!(
        got,
        json!({
            "id": null,
            "content": null,
            "reasoning_content": null,
            "tool_calls": done.tool_calls().iter().map(|c| json!({
                "id": c.id, "name": c.name, "arguments": c.args,
            })).collect::<Vec<_>>(),
            "finish_reason": "tool_calls",
            "usage": {
                "prompt_tokens": u.input_tokens.unwrap(),
                "completion_tokens": u.output_tokens.unwrap(),
                "total_tokens": u.input_tokens.unwrap() + u.output_tokens.unwrap(),
                "cached_tokens": u.cache_read_tokens,
                "reasoning_tokens": u.reasoning_tokens,
            },
        })
    );
    assert_eq!(done.tool_calls().len(), 2);
    // The SDK's tool reached the provider.
    assert_eq!(
        upstream.requests()[0].json()["tools"][0]["function"]["name"],
        "f"
    );
}

/// The chat client's stream is a registered stream: a second client
/// attached by `x-rivulet-stream-id` sees the same chunks, and it is listed.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_client_attaches_to_the_chat_completion_stream() {
    let (_, lines) = direct(TEXT).await;
    let upstream = Server::start(vec![replay(TEXT, Duration::from_millis(20))]).await;
    let base = start_server(&upstream).await;
    let (chat, id) = start_chat(&base).await;
    let (seen, end) = attach(&base, &id).await;
    assert_eq!(seen, lines);
    assert_eq!(end, r#"{"status":"finished"}"#);
    // The chat client read its whole answer meanwhile.
    let body = chat.text().await.unwrap();
    assert!(body.ends_with("data: [DONE]\n\n"), "{body}");
    // The status turns from `running` once the final response is published,
    // a moment after the log's end reached the attachers.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let list = loop {
        let list = get_json(format!("{base}/v1/streams")).await;
        if list["streams"][0]["status"] != json!("running") || std::time::Instant::now() > deadline
        {
            break list;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(list["streams"][0]["id"], json!(id));
    assert_eq!(list["streams"][0]["model"], json!(MODEL));
    assert_eq!(list["streams"][0]["status"], json!("finished"));
}

/// The chat client going mid-stream, with no other attacher, cancels the
/// generation and closes the upstream connection.
#[tokio::test(flavor = "multi_thread")]
async fn the_chat_client_leaving_alone_cancels_the_upstream() {
    let upstream = Server::start(vec![replay(TEXT, Duration::from_millis(200))]).await;
    let base = start_server(&upstream).await;
    let (chat, id) = start_chat(&base).await;
    let mut body = chat.bytes_stream();
    let first = body.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "), "{first:?}");
    assert_eq!(status(&base, &id).await, json!("running"));
    drop(body);
    upstream
        .wait_client_closed(Duration::from_secs(5))
        .await
        .expect("the upstream connection closed");
    for _ in 0..100 {
        if status(&base, &id).await == json!("cancelled") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the stream was not cancelled: {}", status(&base, &id).await);
}

/// The chat route sits behind the token and the body limit, and refuses in
/// the same OpenAI shape as the other routes.
#[tokio::test(flavor = "multi_thread")]
async fn the_chat_route_takes_the_token_and_the_body_limit() {
    let upstream = Server::start(vec![Replay::sse(wire(TEXT))]).await;
    let config = ServeConfig {
        token: Some("T".into()),
        body_limit: 64,
        ..ServeConfig::default()
    };
    let base = start_with(&upstream, config).await;
    let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "go"}]});
    let send = |token: &'static str, body: String| {
        reqwest::Client::new()
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (token, body, want, code) in [
        ("wrong", body.to_string(), 401, "invalid_token"),
        ("T", "x".repeat(65), 413, "body_too_large"),
        ("T", "{".into(), 400, "null"),
    ] {
        let r = send(token, body).await.unwrap();
        assert_eq!(r.status(), want);
        let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(
            v["error"]["code"].to_string().trim_matches('"'),
            code,
            "{v}"
        );
        assert!(v["error"]["type"].is_string(), "{v}");
        assert!(v["error"].get("param").is_some(), "{v}");
    }
    assert!(upstream.requests().is_empty());
}

/// `?format=ai-sdk` read by the `ai` package reaches rivulet's final text
/// and tool calls.
#[tokio::test(flavor = "multi_thread")]
async fn the_ai_sdk_reads_a_stream_through_the_server() {
    if !ai_package() {
        return;
    }
    for transcript in [TEXT, TOOLS] {
        let (done, _) = direct(transcript).await;
        let upstream = Server::start(vec![Replay::sse(wire(transcript))]).await;
        let base = start_server(&upstream).await;
        let started = post(format!("{base}/v1/streams"), json!({"prompt": "go"})).await;
        let started: Value = serde_json::from_slice(&started.bytes().await.unwrap()).unwrap();
        let url = format!(
            "{base}{}?format=ai-sdk",
            started["events_url"].as_str().unwrap()
        );
        // A resume offset is ignored: the whole stream comes.
        let response = reqwest::Client::new()
            .get(url)
            .header("last-event-id", "3")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["x-vercel-ai-ui-message-stream"], "v1");
        let sse = response.bytes().await.unwrap();
        let read = read_with_ai_sdk(&sse);
        assert_eq!(read["errors"], json!([]), "{read}");
        let parts = read["message"]["parts"].as_array().unwrap();
        let texts: Vec<&str> = parts
            .iter()
            .filter(|p| p["type"] == "text")
            .map(|p| p["text"].as_str().unwrap())
            .collect();
        assert_eq!(texts, done.texts(), "{transcript}");
        let calls: Vec<Value> = parts
            .iter()
            .filter(|p| p["type"].as_str().unwrap().starts_with("tool-"))
            .map(|p| json!([p["toolCallId"], p["type"], p["input"]]))
            .collect();
        let want: Vec<Value> = done
            .tool_calls()
            .iter()
            .map(|c| json!([c.id, format!("tool-{}", c.name), c.args_json().unwrap()]))
            .collect();
        assert_eq!(calls, want, "{transcript}");
    }
}

fn read_with_ai_sdk(sse: &[u8]) -> Value {
    let mut child = Command::new("node")
        .arg("read_ui_message_stream.mjs")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let mut stdin = child.stdin.take().unwrap();
    let bytes = sse.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&bytes));
    let output = child.wait_with_output().expect("node runs");
    writer.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the script prints JSON")
}
