//! The public API over real loopback HTTP: the async iterators and their
//! blocking twins, substreams, replay after the end, raw events, `call`.

use std::time::Duration;

use futures::StreamExt;
use rivulet::providers::openai::openai_wire::ChatCompletionChunk;
use rivulet::{
    Chunk, ContentPart, ContentType, Event, FinishReason, Model, Outcome, Policy, SharedChunk,
    ToolCall,
};
use rivulet_testkit::{wire, Replay, Server, Split};

const TEXT: &str = "4200 + 42 equals 4242.";

fn model(server: &Server) -> Model {
    Model::new("openai/gpt-4o")
        .base_url(format!("{}/v1", server.url()))
        .api_key("sk-test")
        .retries(0)
}

async fn text_server() -> Server {
    Server::start(vec![Replay::sse(wire(
        "openai-chat/text_include_usage.sse",
    ))
    .split(Split::Lines)])
    .await
}

#[tokio::test]
async fn text_stream_then_a_second_pass_replays_from_the_log() {
    let server = text_server().await;
    let response = model(&server).stream("What is 4200 + 42?");
    let first: Vec<String> = response
        .text_stream("\n")
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(first.concat(), TEXT);
    assert!(first.len() > 5, "deltas, not one blob: {first:?}");
    // Second pass: same deltas, from the log, no new request.
    let second: Vec<String> = response
        .text_stream("\n")
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(second, first);
    assert_eq!(server.connections(), 1);
    let done = response.finish().await.unwrap();
    assert_eq!(done.text(), TEXT);
    assert_eq!(done.finish_reason, Some(FinishReason::Stop));
    assert_eq!(done.usage.input_tokens, Some(16));
    assert_eq!(done.usage.output_tokens, Some(10));
    assert_eq!(done.messages().len(), 2);
    assert_eq!(done.messages()[1].text(), TEXT);
}

#[test]
fn blocking_twins_from_a_plain_thread() {
    let server = Server::start_blocking(vec![Replay::sse(wire(
        "openai-chat/text_include_usage.sse",
    ))]);
    let response = model(&server).stream("q");
    let text: String = response
        .blocking()
        .text_stream("\n")
        .map(Result::unwrap)
        .collect();
    assert_eq!(text, TEXT);
    let pretty: String = response
        .blocking()
        .pretty_stream()
        .map(Result::unwrap)
        .collect();
    assert_eq!(pretty, TEXT);
    assert_eq!(response.blocking().snapshot().text(), TEXT);
    assert_eq!(model(&server).call_blocking("again").unwrap().text(), TEXT);
}

#[tokio::test]
async fn streams_yield_one_substream_per_tool_call() {
    let server = Server::start(vec![Replay::sse(wire(
        "openai-chat/parallel_tool_calls.sse",
    ))
    .split(Split::Bytes)])
    .await;
    let response = model(&server).stream("weather and stock?");
    let mut streams = response.streams();
    let mut calls = Vec::new();
    while let Some(stream) = streams.next().await {
        let mut stream = stream.unwrap();
        assert_eq!(stream.content_type(), ContentType::ToolCall);
        let mut deltas = 0;
        while let Some(d) = stream.next().await {
            d.unwrap();
            deltas += 1;
        }
        assert!(deltas > 3);
        calls.push((
            stream.id().to_string(),
            stream.name().to_string(),
            stream.partial().to_string(),
        ));
    }
    assert_eq!(
        calls,
        vec![
            (
                "call_JMW1whyEaYG438VE1OIflxA2".to_string(),
                "GetWeatherArgs".to_string(),
                r#"{"city": "Edinburgh", "country": "GB", "units": "c"}"#.to_string()
            ),
            (
                "call_DNYTawLBoN8fj3KN6qU9N1Ou".to_string(),
                "get_stock_price".to_string(),
                r#"{"ticker": "AAPL", "exchange": "NASDAQ"}"#.to_string()
            ),
        ]
    );
    let done = response.finish().await.unwrap();
    assert_eq!(done.finish_reason, Some(FinishReason::ToolCalls));
    let parsed = response.tool_calls().await;
    assert_eq!(
        parsed[1].args.as_ref().unwrap(),
        &serde_json::json!({"ticker": "AAPL", "exchange": "NASDAQ"})
    );
}

#[tokio::test]
async fn a_skipped_substream_still_completes_and_collect_returns_the_part() {
    let server = Server::start(vec![Replay::sse(wire(
        "openai-chat/parallel_tool_calls.sse",
    ))])
    .await;
    let response = model(&server).stream("q");
    let mut streams = response.streams();
    // Skip the first call without reading it.
    drop(streams.next().await.unwrap().unwrap());
    let second = streams.next().await.unwrap().unwrap();
    assert_eq!(
        second.collect_part().await.unwrap(),
        ContentPart::ToolCall(ToolCall {
            id: "call_DNYTawLBoN8fj3KN6qU9N1Ou".into(),
            name: "get_stock_price".into(),
            args: r#"{"ticker": "AAPL", "exchange": "NASDAQ"}"#.into(),
            signature: None,
        })
    );
    assert!(streams.next().await.is_none());
    let done = response.finish().await.unwrap();
    assert_eq!(done.tool_calls()[0].name, "GetWeatherArgs");
    assert_eq!(
        done.tool_calls()[0].args,
        r#"{"city": "Edinburgh", "country": "GB", "units": "c"}"#
    );
}

#[tokio::test]
async fn raw_events_downcast_to_the_wire_type() {
    let server = text_server().await;
    let response = model(&server).raw_events(true).stream("q");
    let mut ids = Vec::new();
    let mut untyped = Vec::new();
    let mut chunks = response.chunk_stream();
    while let Some(c) = chunks.next().await {
        if let Chunk::Raw(raw) = &*c.unwrap() {
            match raw.downcast_ref::<ChatCompletionChunk>() {
                Some(typed) => ids.push(typed.id.clone()),
                None => untyped.push(raw.json().to_string()),
            }
        }
    }
    // One typed raw chunk per JSON event; the terminator kept as text.
    assert_eq!(ids.len(), 13);
    assert!(
        ids.iter()
            .all(|id| id.as_deref() == Some("chatcmpl-CoDWl5rS0pF10P0W0TDVgY3NA26dk")),
        "{ids:?}"
    );
    assert_eq!(untyped, vec!["[DONE]"]);
}

#[tokio::test]
async fn a_missing_key_surfaces_while_iterating() {
    // Built without a key: stream() still returns at once.
    std::env::remove_var("GROQ_API_KEY");
    let response = Model::new("groq/llama").stream("q");
    let mut text = response.text_stream("\n");
    let err = text.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), rivulet::ErrorKind::MissingApiKey);
    assert!(err.to_string().contains("GROQ_API_KEY"), "{err}");
    assert!(text.next().await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iterators_kept_but_never_polled_stall_nobody() {
    // Far more chunks than any channel holds, so an iterator that held the
    // stream back would stop it long before the end.
    const N: usize = 2_000;
    let server = Server::start(vec![Replay::generated(N, Duration::ZERO, "ab")]).await;
    let response = model(&server).stream("go");
    // Made before the first chunk, kept to the end, never polled.
    let idle = (
        response.text_stream(""),
        response.chunk_stream(),
        response.pretty_stream(),
        response.streams(),
        response.structured_stream::<serde_json::Value>(),
        response.blocking().text_stream(""),
        response.blocking().chunk_stream(),
        response.blocking().pretty_stream(),
        response.blocking().streams(),
        response.blocking().structured_stream::<serde_json::Value>(),
    );
    let read = response
        .text_stream("")
        .map(Result::unwrap)
        .collect::<String>();
    let read = tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the stream stalled behind iterators nobody polls");
    assert_eq!(read, "ab".repeat(N));
    assert_eq!(response.finish().await.unwrap().text(), "ab".repeat(N));
    // The idle ones lost nothing: they read behind, from the log.
    let late: String = idle.0.map(Result::unwrap).collect().await;
    assert_eq!(late, "ab".repeat(N));
    let late = tokio::task::spawn_blocking(move || idle.5.map(Result::unwrap).collect::<String>());
    assert_eq!(late.await.unwrap(), "ab".repeat(N));
}

#[tokio::test]
async fn chunks_carry_their_offsets_and_subscribe_from_resumes_after_one() {
    let server = text_server().await;
    let response = model(&server).stream("q");
    let all: Vec<SharedChunk> = response.chunk_stream().map(Result::unwrap).collect().await;
    let offsets: Vec<u64> = all.iter().map(SharedChunk::offset).collect();
    assert_eq!(offsets, (0..all.len() as u64).collect::<Vec<u64>>());
    for k in [0, all.len() as u64 / 2, all.len() as u64 - 1] {
        let rest: Vec<Event> = response
            .subscribe_from(k, Policy::default())
            .collect()
            .await;
        let want: Vec<Event> = all[k as usize + 1..]
            .iter()
            .cloned()
            .map(Event::Chunk)
            .chain([Event::End(Outcome::Finished)])
            .collect();
        assert_eq!(rest, want, "from {k}");
        let rest_offsets: Vec<u64> = rest.iter().filter_map(Event::offset).collect();
        assert_eq!(rest_offsets, offsets[k as usize + 1..], "from {k}");
    }
}

/// The request options set on a `Model` reach the wire: the system prompt
/// (once, also in a resumed conversation), a header, `extra_body`,
/// `tool_choice`, `parallel_tool_calls` and `n`; and the answer streams.
#[tokio::test]
async fn model_request_options_reach_the_wire() {
    let server = Server::start(vec![
        Replay::sse(wire("openai-chat/text_include_usage.sse")),
        Replay::sse(wire("openai-chat/text_include_usage.sse")),
    ])
    .await;
    let model = model(&server)
        .system("Be brief.")
        .header("X-Title", "rivulet-tests")
        .extra_body(serde_json::json!({"service_tier": "flex"}))
        .tools(vec![rivulet::ToolDefinition {
            name: "now".into(),
            description: "The time".into(),
            parameters: serde_json::json!({"type": "object"}),
        }])
        .tool_choice(rivulet::ToolChoice::Tool("now".into()))
        .parallel_tool_calls(false)
        .n(1);
    let response = model.stream("What is 4200 + 42?");
    assert_eq!(response.finish().await.unwrap().text(), TEXT);
    let req = &server.requests()[0];
    assert_eq!(req.header("x-title"), Some("rivulet-tests"));
    let body = req.json();
    assert_eq!(
        body["messages"],
        serde_json::json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is 4200 + 42?"},
        ])
    );
    assert_eq!(body["service_tier"], "flex");
    assert_eq!(
        body["tool_choice"],
        serde_json::json!({"type": "function", "function": {"name": "now"}})
    );
    assert_eq!(body["parallel_tool_calls"], false);
    assert_eq!(body["n"], 1);
    // A resumed conversation keeps its one system prompt.
    let next = response.resume("And doubled?").finish().await.unwrap();
    assert_eq!(next.text(), TEXT);
    let messages = server.requests()[1].json()["messages"].clone();
    assert_eq!(messages.as_array().unwrap().len(), 4, "{messages}");
    assert_eq!(messages[0]["role"], "system");
    assert_eq!(messages[1]["role"], "user");
}

/// A known provider without a model name fails before anything is sent,
/// naming the fix; an unknown provider still says so first.
#[tokio::test]
async fn a_provider_without_a_model_name_is_a_bad_request() {
    let server = text_server().await;
    let m = Model::new("openai")
        .base_url(format!("{}/v1", server.url()))
        .api_key("sk-test")
        .retries(0);
    let err = m.stream("hi").finish().await.unwrap_err();
    assert_eq!(err.kind(), rivulet::ErrorKind::BadRequest, "{err}");
    assert_eq!(err.provider(), Some("openai"));
    assert!(err.message().contains(r#"use "openai/MODEL""#), "{err}");
    assert_eq!(server.connections(), 0);
    let err = Model::new("nosuch")
        .stream("hi")
        .finish()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nosuch"), "{err}");
    assert!(!err.to_string().contains("no model name"), "{err}");
}
