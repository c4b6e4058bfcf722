//! `POST /v1/chat/completions` against the official `openai` Python SDK
//! (pinned in tests/python/requirements.txt): real recorded provider
//! transcripts are decoded by rivulet, served through the handler over
//! loopback, and what the SDK accumulates must equal rivulet's own Response.

use std::process::Command;
use std::sync::{Arc, Mutex};

use rivulet::{Message, Model, Response, StreamResponse};
use rivulet_server::openai_compat::{router, StartedChat, STREAM_ID_HEADER};
use rivulet_testkit::{wire, Replay, Server};
use serde_json::{json, Value};

#[path = "support/openai_sdk.rs"]
mod openai_sdk;

/// True when python's `openai` module is importable. Missing, the tests
/// skip with a message, unless `CI` is set: then they fail.
fn sdk_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import openai"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and python's `openai` module is missing: \
             python3 -m pip install -r tests/python/requirements.txt"
        );
        eprintln!(
            "skipped: python's `openai` module is missing \
             (python3 -m pip install -r tests/python/requirements.txt)"
        );
    }
    ok
}

/// The handler on a loopback port, starting each generation on `model`
/// redirected to `upstream`; the last stream started lands in `started`.
async fn gateway(
    upstream: String,
    started: Arc<Mutex<Option<StreamResponse>>>,
) -> std::net::SocketAddr {
    let start = move |model: Model, messages: Vec<Message>| {
        let response = model
            .base_url(upstream.clone())
            .api_key("sk-test")
            .retries(0)
            .stream(messages);
        *started.lock().unwrap() = Some(response.clone());
        Ok(StartedChat {
            stream_id: "s1".into(),
            response,
            guard: None,
        })
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(Arc::new(start))).await });
    addr
}

/// What the SDK must have accumulated, from rivulet's own response.
fn expected(r: &Response, finish_reason: &str) -> Value {
    let texts = r.texts();
    let thoughts: Vec<&str> = r.thoughts().iter().map(|t| t.thought.as_str()).collect();
    json!({
        "id": "chatcmpl-s1",
        "content": (!texts.is_empty()).then(|| r.text()),
        "reasoning_content": (!thoughts.is_empty()).then(|| thoughts.join("\n")),
        "tool_calls": r.tool_calls().iter().map(|c| json!({
            "id": c.id, "name": c.name, "arguments": c.args,
        })).collect::<Vec<_>>(),
        "finish_reason": finish_reason,
        "usage": {
            "prompt_tokens": r.usage.input_tokens.unwrap(),
            "completion_tokens": r.usage.output_tokens.unwrap(),
            "total_tokens": r.usage.input_tokens.unwrap() + r.usage.output_tokens.unwrap(),
            "cached_tokens": r.usage.cache_read_tokens,
            "reasoning_tokens": r.usage.reasoning_tokens,
        },
    })
}

/// Replays `transcript` for `model` through the gateway to the SDK, once
/// streaming and once not; returns what the SDK printed for the stream.
async fn through_sdk(transcript: &str, model: &str, path: &str, finish_reason: &str) -> Value {
    let tools = json!([{"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": {}}}}]);
    let mut seen = Vec::new();
    for mode in ["stream", "create"] {
        let upstream = Server::start(vec![Replay::sse(wire(transcript))]).await;
        let started = Arc::new(Mutex::new(None));
        let addr = gateway(format!("{}{path}", upstream.url()), started.clone()).await;
        let got = openai_sdk::run(vec![
            format!("http://{addr}/v1"),
            model.to_string(),
            mode.to_string(),
            tools.to_string(),
        ])
        .await;
        let response = started.lock().unwrap().take().expect("no stream started");
        let done = response.finish().await.unwrap();
        assert_eq!(got, expected(&done, finish_reason), "{transcript} {mode}");
        // The SDK's request reached the provider in its own wire format,
        // with the tool.
        let sent = upstream.requests()[0].json();
        assert_eq!(
            sent["tools"][0]["name"]
                .as_str()
                .or(sent["tools"][0]["function"]["name"].as_str()),
            Some("f"),
            "{sent}"
        );
        seen.push(got);
    }
    seen.swap_remove(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_text_with_usage() {
    if !sdk_available() {
        return;
    }
    let got = through_sdk(
        "openai-chat/text_include_usage.sse",
        "openai/gpt-4o",
        "/v1",
        "stop",
    )
    .await;
    assert!(
        got["content"].as_str().unwrap().starts_with("4200"),
        "{got}"
    );
    assert!(got["usage"]["prompt_tokens"].as_u64().unwrap() > 0, "{got}");
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_parallel_tool_calls() {
    if !sdk_available() {
        return;
    }
    let got = through_sdk(
        "openai-chat/parallel_tool_calls.sse",
        "openai/gpt-4o",
        "/v1",
        "tool_calls",
    )
    .await;
    assert_eq!(got["content"], Value::Null);
    let calls = got["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "{got}");
    assert_eq!(calls[0]["id"], "call_JMW1whyEaYG438VE1OIflxA2");
    assert_eq!(calls[0]["name"], "GetWeatherArgs");
}

/// A provider that is not OpenAI behind the OpenAI shape.
#[tokio::test(flavor = "multi_thread")]
async fn anthropic_parallel_tool_use() {
    if !sdk_available() {
        return;
    }
    let got = through_sdk(
        "anthropic/tool_use_parallel.sse",
        "anthropic/claude-sonnet-4-0",
        "",
        "tool_calls",
    )
    .await;
    let calls = got["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 2, "{got}");
    assert_eq!(calls[0]["id"], "toolu_015cUijgET79LXjgeYQerN2h");
    assert_eq!(calls[1]["id"], "toolu_01XZTimPexA7h3EVKesnKt5T");
    assert_eq!(calls[1]["name"], "secret_retrieval_tool");
}

#[tokio::test(flavor = "multi_thread")]
async fn deepseek_reasoning_content() {
    if !sdk_available() {
        return;
    }
    let got = through_sdk(
        "deepseek/reasoner_reasoning_content.sse",
        "deepseek/deepseek-reasoner",
        "",
        "stop",
    )
    .await;
    assert!(
        got["reasoning_content"]
            .as_str()
            .unwrap()
            .starts_with("Hmm,"),
        "{got}"
    );
    assert!(!got["content"].as_str().unwrap().is_empty(), "{got}");
}

/// A bad body gets OpenAI's 400 object, and the stream id header is on
/// every answer.
#[tokio::test(flavor = "multi_thread")]
async fn bad_body_is_a_400_in_openai_shape() {
    let upstream = Server::start(vec![Replay::sse(wire(
        "openai-chat/text_include_usage.sse",
    ))])
    .await;
    let addr = gateway(format!("{}/v1", upstream.url()), Arc::default()).await;
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/v1/chat/completions");
    let res = client
        .post(&url)
        .body(r#"{"model":"openai/gpt-4o","messages":[{"role":"user","content":7}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    // An internally tagged message is read whole: the path ends at it.
    assert_eq!(body["error"]["param"], "messages[0]");
    assert_eq!(body["error"]["code"], Value::Null);

    let res = client
        .post(&url)
        .body(r#"{"model":"openai/gpt-4o","messages":[{"role":"user","content":"go"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()[STREAM_ID_HEADER], "s1");
    let body: Value = serde_json::from_slice(&res.bytes().await.unwrap()).unwrap();
    assert_eq!(body["object"], "chat.completion");
}
