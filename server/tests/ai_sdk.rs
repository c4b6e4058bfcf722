//! `?format=ai-sdk` against the real `ai` npm package: recorded provider
//! streams go through rivulet's decoders, the chunks through
//! `server::ai_sdk::Encoder`, and the bytes through the AI SDK's own client
//! (`DefaultChatTransport`, then `readUIMessageStream`, in
//! tests/js/read_ui_message_stream.mjs). The message the SDK assembles must
//! hold what rivulet's own `Response` holds.
//!
//! Needs `node` and `(cd tests/js && npm ci)`; without them the tests skip
//! with a message, except under CI, where they fail.

use futures::StreamExt;
use rivulet::{Error, Event, Model, Policy, Response};
use rivulet_server::ai_sdk::Encoder;
use rivulet_testkit::{wire, Replay, Server};
use serde_json::{json, Value};

#[path = "support/ai_sdk_node.rs"]
mod ai_sdk_node;

/// A recorded transcript decoded by rivulet and encoded for the AI SDK:
/// the outcome, the response as rivulet has it, and the SSE bytes.
struct Run {
    result: Result<Response, Error>,
    snapshot: Response,
    sse: Vec<u8>,
}

/// `model` ("provider/name") against the replay server.
fn model(model: &str, server: &Server) -> Model {
    // OpenAI-compatible providers take the `/v1` prefix in their base URL,
    // Anthropic adds it itself.
    let base = if model.starts_with("anthropic/") {
        server.url()
    } else {
        format!("{}/v1", server.url())
    };
    Model::new(model)
        .base_url(base)
        .api_key("sk-test")
        .retries(0)
}

async fn run(name: &str, transcript: &str) -> Run {
    let server = Server::start(vec![Replay::sse(wire(transcript))]).await;
    let response = model(name, &server).stream("q");
    let mut subscription = response.subscribe(Policy::default());
    let mut encoder = Encoder::new("msg-1");
    let mut sse = Vec::new();
    while let Some(event) = subscription.next().await {
        encoder.push_event(&event, &mut sse);
        if matches!(event, Event::End(_)) {
            break;
        }
    }
    assert!(encoder.is_ended(), "the subscription ended without End");
    Run {
        result: response.finish().await,
        snapshot: response.snapshot().await,
        sse,
    }
}

/// The AI SDK's reading of `sse`: `{"message": UIMessage, "errors": [..]}`,
/// or None (with a note) when node or the npm install is missing outside CI.
fn read_with_ai_sdk(sse: &[u8]) -> Option<Value> {
    ai_sdk_node::run("read_ui_message_stream.mjs", sse)
}

/// The message's parts of `kind` ("text", "reasoning"), their texts.
fn texts(message: &Value, kind: &str) -> Vec<String> {
    parts(message)
        .iter()
        .filter(|p| p["type"] == kind)
        .map(|p| p["text"].as_str().expect("a text").to_owned())
        .collect()
}

/// The message's tool calls: (id, name, input), from its `tool-{name}` parts.
fn tool_calls(message: &Value) -> Vec<(String, String, Value)> {
    parts(message)
        .iter()
        .filter_map(|p| {
            let name = p["type"].as_str()?.strip_prefix("tool-")?;
            assert_eq!(p["state"], "input-available", "{p}");
            Some((
                p["toolCallId"].as_str()?.to_owned(),
                name.to_owned(),
                p["input"].clone(),
            ))
        })
        .collect()
}

fn parts(message: &Value) -> &Vec<Value> {
    message["parts"].as_array().expect("a message with parts")
}

/// rivulet's own view of the same stream, in the same shapes.
fn rivulet_texts(response: &Response) -> Vec<String> {
    response.texts().into_iter().map(str::to_owned).collect()
}

fn rivulet_thoughts(response: &Response) -> Vec<String> {
    response
        .thoughts()
        .into_iter()
        .map(|t| t.thought.clone())
        .collect()
}

fn rivulet_tool_calls(response: &Response) -> Vec<(String, String, Value)> {
    response
        .tool_calls()
        .into_iter()
        .map(|c| {
            let args = c.args_json().expect("the recorded arguments are JSON");
            (c.id.clone(), c.name.clone(), args)
        })
        .collect()
}

/// A transcript that finishes, read by the AI SDK without an error: rivulet's
/// response and the SDK's final message (None when the client is missing).
async fn read_finished(model: &str, transcript: &str) -> Option<(Response, Value)> {
    let run = run(model, transcript).await;
    let response = run.result.expect("the recorded stream finishes");
    let mut read = read_with_ai_sdk(&run.sse)?;
    assert_eq!(read["errors"], json!([]), "{read}");
    Some((response, read["message"].take()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_text_stream_reads_as_the_same_text() {
    let Some((response, message)) =
        read_finished("openai/gpt-4o-mini", "openai-chat/text_include_usage.sse").await
    else {
        return;
    };
    let message = &message;
    assert_eq!(message["id"], "msg-1");
    assert_eq!(message["role"], "assistant");
    let text = texts(message, "text");
    assert_eq!(text, rivulet_texts(&response));
    assert_eq!(text, ["4200 + 42 equals 4242."]);
    for part in parts(message).iter().filter(|p| p["type"] == "text") {
        assert_eq!(part["state"], "done", "{part}");
    }
    assert!(tool_calls(message).is_empty());
    // The transcript's usage, in the SDK's names, as the message's metadata.
    assert_eq!(
        message["metadata"],
        json!({"usage": {
            "inputTokens": 16,
            "outputTokens": 10,
            "totalTokens": 26,
            "reasoningTokens": 0,
            "cachedInputTokens": 0,
        }})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn parallel_tool_calls_read_as_the_same_calls_with_exact_inputs() {
    let Some((response, message)) =
        read_finished("openai/gpt-4o-mini", "openai-chat/parallel_tool_calls.sse").await
    else {
        return;
    };
    let calls = tool_calls(&message);
    assert_eq!(calls, rivulet_tool_calls(&response));
    let names: Vec<&str> = calls.iter().map(|(_, name, _)| name.as_str()).collect();
    assert_eq!(names, ["GetWeatherArgs", "get_stock_price"]);
    assert_eq!(
        calls[0].2,
        json!({"city": "Edinburgh", "country": "GB", "units": "c"})
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thinking_stream_reads_as_the_same_reasoning_and_text() {
    let Some((response, message)) =
        read_finished("anthropic/claude-sonnet-4-0", "anthropic/thinking.sse").await
    else {
        return;
    };
    let message = &message;
    let reasoning = texts(message, "reasoning");
    assert_eq!(reasoning, rivulet_thoughts(&response));
    assert!(!reasoning.is_empty() && !reasoning[0].is_empty());
    assert_eq!(texts(message, "text"), rivulet_texts(&response));
    // Reasoning comes first, as the model thought before answering.
    let kinds: Vec<&str> = parts(message)
        .iter()
        .filter_map(|p| p["type"].as_str())
        .collect();
    assert_eq!(kinds[..2], ["step-start", "reasoning"], "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_mid_stream_arrives_as_the_error_part_after_the_partial_text() {
    let run = run(
        "groq/openai/gpt-oss-120b",
        "groq/error_event_after_text.sse",
    )
    .await;
    let error = run
        .result
        .expect_err("the recorded stream ends in an error");
    let Some(read) = read_with_ai_sdk(&run.sse) else {
        return;
    };
    assert_eq!(read["errors"], json!([error.to_string()]), "{read}");
    assert!(
        error.to_string().contains("Tool choice is required"),
        "{error}"
    );
    let message = &read["message"];
    let text = texts(message, "text");
    assert_eq!(text, rivulet_texts(&run.snapshot));
    assert!(!text.is_empty() && text[0].ends_with("maybe"), "{text:?}");
    assert_eq!(texts(message, "reasoning"), rivulet_thoughts(&run.snapshot));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_stream_ends_in_abort_which_the_sdk_accepts() {
    let server = Server::start(vec![Replay::generated(
        100_000,
        std::time::Duration::from_millis(2),
        "abcd",
    )])
    .await;
    let response = model("openai/gen", &server).stream("q");
    let mut subscription = response.subscribe(Policy::default());
    let mut encoder = Encoder::new("msg-1");
    let mut sse = Vec::new();
    let mut deltas = 0;
    while let Some(event) = subscription.next().await {
        if let Event::Chunk(chunk) = &event {
            if matches!(&**chunk, rivulet::Chunk::Text { .. }) {
                deltas += 1;
                if deltas == 5 {
                    response.cancel();
                }
            }
        }
        encoder.push_event(&event, &mut sse);
        if matches!(event, Event::End(_)) {
            break;
        }
    }
    let frames = String::from_utf8(sse.clone()).expect("UTF-8");
    assert!(
        frames.ends_with("\"}\n\ndata: [DONE]\n\n") && frames.contains("{\"type\":\"abort\""),
        "{frames}"
    );
    let snapshot = response.snapshot().await;
    let Some(read) = read_with_ai_sdk(&sse) else {
        return;
    };
    assert_eq!(read["errors"], json!([]), "{read}");
    let text = texts(&read["message"], "text");
    assert_eq!(text, rivulet_texts(&snapshot));
    assert!(text[0].starts_with("abcdabcdabcdabcdabcd"), "{text:?}");
}

#[test]
fn arguments_that_are_not_json_reach_the_sdk_as_a_failed_call() {
    use rivulet::{Chunk, Outcome};
    let mut encoder = Encoder::new("msg-1");
    let mut sse = Vec::new();
    for chunk in [
        Chunk::ToolCallStart {
            part: 0,
            id: "call_1".into(),
            name: "lookup".into(),
        },
        Chunk::ToolCall {
            part: 0,
            id: "call_1".into(),
            delta: "{\"q\": ".into(),
        },
        Chunk::tool_call_end(0, "call_1"),
    ] {
        encoder.push_chunk(&chunk, &mut sse);
    }
    encoder.push_end(&Outcome::Finished, &mut sse);
    let Some(read) = read_with_ai_sdk(&sse) else {
        return;
    };
    assert_eq!(read["errors"], json!([]), "{read}");
    let call = &parts(&read["message"])[1];
    assert_eq!(call["type"], "tool-lookup", "{call}");
    assert_eq!(call["toolCallId"], "call_1");
    assert_eq!(call["state"], "output-error");
    assert_eq!(call["rawInput"], "{\"q\": ");
    let error = call["errorText"].as_str().expect("an error text");
    assert!(
        error.starts_with("the model's arguments are not valid JSON"),
        "{error}"
    );
}
