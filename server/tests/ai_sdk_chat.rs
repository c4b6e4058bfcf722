//! `POST /v1/ai-sdk/chat` against the AI SDK's own chat transport: the
//! `ai` npm package's `DefaultChatTransport` (what `useChat` posts with)
//! sends its `UIMessage`s over loopback HTTP to a running `rivulet serve`
//! whose provider replays real recorded transcripts, and `readUIMessageStream`
//! assembles the answer (tests/js/chat_transport.mjs). Checked: the message
//! the SDK gets, the request rivulet sends the provider for the SDK's own
//! history (tool calls and their results included), that aborting the
//! request (`useChat`'s `stop()`) cancels the generation, and that a
//! `resumable` chat's generation outlives its page and is resumed by the
//! SDK's own chat class (`resumeStream`, tests/js/use_chat_resume.mjs).
//!
//! Needs `node` and `(cd tests/js && npm ci)`; without them the tests skip
//! with a message, except under CI, where they fail.

use std::time::{Duration, Instant};

use rivulet_server::ServeConfig;
use rivulet_testkit::{wire, Replay, Server};
use serde_json::{json, Value};

#[path = "support/ai_sdk_node.rs"]
mod ai_sdk_node;
#[path = "support/serve.rs"]
mod serve_support;

use serve_support::start_with;

/// A `rivulet serve` on a loopback port, its models pointed at `upstream`.
struct Running {
    base: String,
    token: Option<String>,
}

impl Running {
    async fn start(upstream: &Server, token: Option<&str>) -> Running {
        let config = ServeConfig {
            token: token.map(str::to_string),
            ..ServeConfig::default()
        };
        Running {
            base: start_with(upstream, config).await,
            token: token.map(str::to_string),
        }
    }

    /// What the AI SDK's transport makes of posting `messages` with the
    /// app's `body`; `abort_after` aborts after that many message
    /// snapshots. None when the client is missing (outside CI).
    async fn chat(
        &self,
        body: Value,
        messages: Value,
        abort_after: Option<usize>,
    ) -> Option<Value> {
        let input = json!({
            "api": format!("{}/v1/ai-sdk/chat", self.base),
            "token": self.token,
            "body": body,
            "messages": messages,
            "abortAfterParts": abort_after,
        })
        .to_string();
        tokio::task::spawn_blocking(move || {
            ai_sdk_node::run("chat_transport.mjs", input.as_bytes())
        })
        .await
        .unwrap()
    }

    /// What the SDK's chat class holds after `input`'s step
    /// (tests/js/use_chat_resume.mjs), with the server's chat route and
    /// token filled in. None when the client is missing (outside CI).
    async fn use_chat(&self, mut input: Value) -> Option<Value> {
        input["api"] = json!(format!("{}/v1/ai-sdk/chat", self.base));
        input["token"] = json!(self.token);
        let input = input.to_string();
        tokio::task::spawn_blocking(move || {
            ai_sdk_node::run("use_chat_resume.mjs", input.as_bytes())
        })
        .await
        .unwrap()
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut r = reqwest::Client::new().request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// `GET /v1/streams/{id}` once its status is `want`.
    async fn wait_status(&self, id: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, v) = self
                .request(reqwest::Method::GET, &format!("/v1/streams/{id}"), None)
                .await;
            if v["status"] == want {
                return v;
            }
            assert!(Instant::now() < deadline, "never {want}: {v}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// A provider answering once with `n` chunks of `"tok "`, `gap_ms` apart.
async fn paced(n: usize, gap_ms: u64) -> Server {
    Server::start(vec![Replay::generated(
        n,
        Duration::from_millis(gap_ms),
        "tok ",
    )])
    .await
}

/// The JSON body of the `n`th request the provider received.
fn upstream_body(upstream: &Server, n: usize) -> Value {
    let requests = upstream.requests();
    serde_json::from_slice(&requests[n].body).expect("a JSON request body")
}

fn texts(message: &Value) -> Vec<&str> {
    message["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "text")
        .map(|p| p["text"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_use_chat_turn_streams_the_answer_and_sends_the_history() {
    let upstream = Server::start(vec![Replay::sse(wire(
        "openai-chat/text_include_usage.sse",
    ))])
    .await;
    let server = Running::start(&upstream, None).await;
    let Some(read) = server
        .chat(
            json!({"model": "openai/gpt-4o", "system": "Be brief.", "max_tokens": 50}),
            json!([{"id": "u1", "role": "user",
                    "parts": [{"type": "text", "text": "What is 4200 + 42?"}]}]),
            None,
        )
        .await
    else {
        return;
    };
    assert_eq!(read["status"], 200, "{read}");
    assert_eq!(read["errors"], json!([]), "{read}");
    let message = &read["message"];
    assert_eq!(message["role"], "assistant");
    assert_eq!(texts(message), ["4200 + 42 equals 4242."]);
    assert_eq!(
        message["metadata"]["usage"],
        json!({"inputTokens": 16, "outputTokens": 10, "totalTokens": 26,
               "reasoningTokens": 0, "cachedInputTokens": 0})
    );
    // The provider got the system prompt and the SDK's user message.
    let sent = upstream_body(&upstream, 0);
    assert_eq!(
        sent["messages"],
        json!([{"role": "system", "content": "Be brief."},
               {"role": "user", "content": "What is 4200 + 42?"}])
    );
    assert_eq!(sent["model"], "gpt-4o");
    // The generation is a registered stream, finished with the same text.
    let id = read["streamId"].as_str().expect("x-rivulet-stream-id");
    assert_eq!(message["id"], format!("msg-{id}"));
    let v = server.wait_status(id, "finished").await;
    assert_eq!(
        v["response"]["content"],
        json!([{"type": "text", "text": "4200 + 42 equals 4242."}])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tool_calls_and_the_apps_results_go_back_to_the_provider() {
    let upstream = Server::start(vec![
        Replay::sse(wire("openai-chat/parallel_tool_calls.sse")),
        Replay::sse(wire("openai-chat/text_include_usage.sse")),
    ])
    .await;
    let server = Running::start(&upstream, None).await;
    let user = json!({"id": "u1", "role": "user",
                      "parts": [{"type": "text", "text": "Weather and AAPL?"}]});
    let Some(first) = server.chat(json!({}), json!([user]), None).await else {
        return;
    };
    assert_eq!(first["errors"], json!([]), "{first}");
    let mut assistant = first["message"].clone();
    // The calls as the SDK assembled them, given their results the way an
    // app's `addToolResult` does: the part moves to `output-available`.
    let mut calls = Vec::new();
    for part in assistant["parts"].as_array_mut().unwrap() {
        let kind = part["type"].as_str().unwrap().to_string();
        if let Some(name) = kind.strip_prefix("tool-") {
            assert_eq!(part["state"], "input-available", "{part}");
            calls.push((
                part["toolCallId"].as_str().unwrap().to_string(),
                name.to_string(),
                part["input"].clone(),
            ));
            part["state"] = json!("output-available");
            part["output"] = json!({"ok": name});
        }
    }
    let names: Vec<&str> = calls.iter().map(|(_, n, _)| n.as_str()).collect();
    assert_eq!(names, ["GetWeatherArgs", "get_stock_price"]);
    assert_eq!(
        calls[0].2,
        json!({"city": "Edinburgh", "country": "GB", "units": "c"})
    );

    let Some(second) = server.chat(json!({}), json!([user, assistant]), None).await else {
        return;
    };
    assert_eq!(second["errors"], json!([]), "{second}");
    assert_eq!(texts(&second["message"]), ["4200 + 42 equals 4242."]);
    // The second request: the user message, the assistant's calls with the
    // SDK's inputs as their arguments, then each result under its call's id.
    let sent = upstream_body(&upstream, 1);
    let messages = sent["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 4, "{sent}");
    assert_eq!(
        messages[0],
        json!({"role": "user", "content": "Weather and AAPL?"})
    );
    assert_eq!(messages[1]["role"], "assistant");
    let sent_calls: Vec<(String, String, Value)> = messages[1]["tool_calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["function"]["name"].as_str().unwrap().to_string(),
                serde_json::from_str(c["function"]["arguments"].as_str().unwrap()).unwrap(),
            )
        })
        .collect();
    assert_eq!(sent_calls, calls);
    for (message, (id, name, _)) in messages[2..].iter().zip(&calls) {
        assert_eq!(
            *message,
            json!({"role": "tool", "tool_call_id": id,
                   "content": json!({"ok": name}).to_string()})
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_aborts_the_request_and_cancels_the_generation() {
    // 500 chunks 20 ms apart: ten seconds unless something stops it.
    let upstream = paced(500, 20).await;
    let server = Running::start(&upstream, None).await;
    let Some(read) = server
        .chat(
            json!({}),
            json!([{"id": "u1", "role": "user", "parts": [{"type": "text", "text": "go"}]}]),
            Some(3),
        )
        .await
    else {
        return;
    };
    assert_eq!(read["aborted"], true, "{read}");
    assert_eq!(read["errors"], json!([]), "{read}");
    let id = read["streamId"].as_str().expect("x-rivulet-stream-id");
    let v = server.wait_status(id, "cancelled").await;
    assert!(v["chunks"].as_u64().unwrap() < 400, "{v}");
    assert!(
        upstream
            .wait_client_closed(Duration::from_secs(5))
            .await
            .is_some(),
        "the provider's connection stayed open"
    );
    // Nothing left to resume.
    let (status, _) = server
        .request(reqwest::Method::GET, "/v1/ai-sdk/chat/chat-1/stream", None)
        .await;
    assert_eq!(status, 204);
}

/// The chat ended its request without an error.
fn assert_ready(chat: &Value) {
    assert_eq!(
        (&chat["status"], &chat["error"]),
        (&json!("ready"), &Value::Null),
        "{chat}"
    );
}

/// The text of the chat's last message if it is the assistant's.
fn assistant_text(chat: &Value) -> String {
    let last = chat["messages"].as_array().unwrap().last().unwrap();
    assert_eq!(last["role"], "assistant", "{chat}");
    texts(last).concat()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resumable_chat_outlives_its_page_and_use_chat_resumes_it() {
    // 500 chunks 10 ms apart: five seconds, time for the page to go and
    // come back while the generation runs, even when node starts slowly.
    let upstream = paced(500, 10).await;
    let server = Running::start(&upstream, None).await;
    let Some(sent) = server
        .use_chat(json!({"mode": "send", "chatId": "chat-r", "text": "go",
                         "body": {"resumable": true}, "stopAfterChars": 8}))
        .await
    else {
        return;
    };
    assert_ready(&sent);
    let partial = assistant_text(&sent);
    assert!(
        partial.starts_with("tok tok ") && partial.len() < 2000,
        "{partial:?}"
    );
    let id = sent["streamId"].as_str().expect("x-rivulet-stream-id");
    // The page is gone; the generation runs on, its provider still read.
    assert!(
        upstream
            .wait_client_closed(Duration::from_millis(300))
            .await
            .is_none(),
        "the provider's connection was closed"
    );
    let (_, v) = server
        .request(reqwest::Method::GET, &format!("/v1/streams/{id}"), None)
        .await;
    assert_eq!(
        (&v["status"], &v["attachers"]),
        (&json!("running"), &json!(0)),
        "{v}"
    );

    // The page loads again with the history its app saved (the user's
    // message) and resumes: the whole answer, as one assistant message.
    let user = sent["messages"][0].clone();
    assert_eq!(user["role"], "user");
    let Some(resumed) = server
        .use_chat(json!({"mode": "resume", "chatId": "chat-r", "messages": [user]}))
        .await
    else {
        return;
    };
    assert_ready(&resumed);
    assert_eq!(
        resumed["messages"].as_array().unwrap().len(),
        2,
        "{resumed}"
    );
    assert_eq!(assistant_text(&resumed), "tok ".repeat(500));
    assert_eq!(resumed["messages"][1]["id"], format!("msg-{id}"));
    assert_eq!(
        resumed["requests"],
        json!([{"method": "GET", "status": 200,
                "url": format!("{}/v1/ai-sdk/chat/chat-r/stream", server.base)}])
    );
    assert_eq!(resumed["streamId"], id);
    server.wait_status(id, "finished").await;

    // Once it has ended there is nothing to resume: the SDK gets a 204 and
    // leaves the chat as it was.
    let Some(again) = server
        .use_chat(json!({"mode": "resume", "chatId": "chat-r", "messages": [user]}))
        .await
    else {
        return;
    };
    assert_eq!(again["messages"], json!([user]), "{again}");
    assert_ready(&again);
    assert_eq!(again["requests"][0]["status"], 204, "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resumable_chat_is_cancelled_by_its_id() {
    // 500 chunks 20 ms apart: ten seconds unless something stops it.
    let upstream = paced(500, 20).await;
    let server = Running::start(&upstream, Some("s3cret")).await;
    let Some(sent) = server
        .use_chat(json!({"mode": "send", "chatId": "chat-c", "text": "go",
                         "body": {"resumable": true}, "stopAfterChars": 4}))
        .await
    else {
        return;
    };
    assert_eq!(sent["error"], Value::Null, "{sent}");
    let id = sent["streamId"].as_str().expect("x-rivulet-stream-id");
    // `stop()` only closed the request.
    assert!(upstream
        .wait_client_closed(Duration::from_millis(200))
        .await
        .is_none());
    let (status, v) = server
        .request(reqwest::Method::POST, "/v1/ai-sdk/chat/chat-c/cancel", None)
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (&v["id"], &v["status"]),
        (&json!(id), &json!("cancelled")),
        "{v}"
    );
    assert!(
        upstream
            .wait_client_closed(Duration::from_secs(5))
            .await
            .is_some(),
        "the provider's connection stayed open"
    );
    // Nothing runs for the chat now, and nothing for a chat never seen.
    for (method, path) in [
        (reqwest::Method::GET, "/v1/ai-sdk/chat/chat-c/stream"),
        (reqwest::Method::POST, "/v1/ai-sdk/chat/chat-c/cancel"),
        (reqwest::Method::GET, "/v1/ai-sdk/chat/never/stream"),
    ] {
        let (status, v) = server.request(method, path, None).await;
        assert_eq!(status, 204, "{path}: {v}");
    }
    // Both routes want the token.
    for r in [
        reqwest::Client::new().get(format!("{}/v1/ai-sdk/chat/chat-c/stream", server.base)),
        reqwest::Client::new().post(format!("{}/v1/ai-sdk/chat/chat-c/cancel", server.base)),
    ] {
        assert_eq!(r.send().await.unwrap().status().as_u16(), 401);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_bodies_get_400s_and_the_token_is_required() {
    let upstream = Server::start(vec![Replay::sse(wire(
        "openai-chat/text_include_usage.sse",
    ))])
    .await;
    let server = Running::start(&upstream, Some("s3cret")).await;
    let post = |body: &'static str| {
        let server = &server;
        async move {
            server
                .request(reqwest::Method::POST, "/v1/ai-sdk/chat", Some(body))
                .await
        }
    };
    let message = |v: &Value| {
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };

    let (status, v) = post("{").await;
    assert_eq!(status, 400, "{v}");
    assert!(
        message(&v).starts_with("the body is not an AI SDK chat request: "),
        "{v}"
    );

    let (status, v) = post(r#"{"messages": []}"#).await;
    assert_eq!(
        (status, message(&v)),
        (400, "messages must not be empty".into())
    );

    let (status, v) =
        post(r#"{"messages": [{"role": "user", "parts": [{"type": "video"}]}]}"#).await;
    assert_eq!(
        (status, message(&v)),
        (
            400,
            "messages[0].parts[0]: unsupported part type \"video\"".into()
        )
    );

    let (status, v) = post(
        r#"{"messages": [{"role": "user", "parts": [{"type": "text", "text": "q"}]}], "max_tokens": 0}"#,
    )
    .await;
    assert_eq!(
        (status, message(&v)),
        (400, "max_tokens must be 1 or more".into())
    );

    // Without the token: 401, and nothing reached the provider.
    let r = reqwest::Client::new()
        .post(format!("{}/v1/ai-sdk/chat", server.base))
        .header("content-type", "application/json")
        .body(r#"{"messages": [{"role": "user", "parts": [{"type": "text", "text": "q"}]}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(upstream.requests().is_empty());
}
