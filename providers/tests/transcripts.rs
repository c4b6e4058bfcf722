//! Every OpenAI-family transcript in testdata/wire, served byte for byte by
//! the loopback server (whole, line by line, byte by byte) through the real
//! provider over HTTP, folded with `Response::apply` and compared with the
//! expectations computed independently by `expected/generate.py`.

mod common;

use common::{base_url, expectations, over_http, provider};
use rivulet_testkit::{wire, wire_files, Replay, Split};
use serde_json::Value;

/// The transcript directories of the OpenAI-compatible family.
const DIRS: &[&str] = &[
    "openai-chat",
    "groq",
    "xai",
    "deepseek",
    "mistral",
    "azure",
    "openrouter",
    "ollama",
    "llamacpp",
];

#[test]
fn every_transcript_has_an_expectation() {
    let expected = expectations();
    let mut files = Vec::new();
    for dir in DIRS {
        files.extend(wire_files(dir, ".sse"));
        files.extend(
            wire_files(dir, ".json")
                .into_iter()
                .filter(|f| !f.ends_with(".request.json")),
        );
    }
    let keys: Vec<String> = expected.keys().cloned().collect();
    files.sort();
    assert_eq!(
        files, keys,
        "regenerate with python3 providers/tests/expected/generate.py"
    );
    assert_eq!(files.len(), 35);
}

/// The expected request path for a provider behind the testkit server.
fn expected_path(id: &str) -> &'static str {
    if id == "azure" {
        "/openai/deployments/test-model/chat/completions?api-version=2024-10-21"
    } else {
        "/v1/chat/completions"
    }
}

async fn check_all(split: Split) {
    let mut failures = Vec::new();
    for (file, want) in expectations() {
        let id = want["provider"].as_str().unwrap().to_string();
        let status = want["status"].as_u64().unwrap() as u16;
        let body = wire(&file);
        let replay = if status == 200 {
            Replay::sse(body)
        } else {
            Replay::json(status, body)
        };
        let (_, _, diffs) = over_http(
            replay.split(split),
            |url| provider(&id, &base_url(&id, url)),
            "test-model",
            &want,
            expected_path(&id),
        )
        .await;
        if !diffs.is_empty() {
            failures.push(format!("{file} ({split:?}):\n  {}", diffs.join("\n  ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcripts_whole() {
    check_all(Split::Whole).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcripts_by_line() {
    check_all(Split::Lines).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcripts_by_byte() {
    check_all(Split::Bytes).await;
}

/// A few expectations spelled out by hand, read off the transcripts, so a
/// mistake shared by the decoder and the generator would still show.
#[test]
fn hand_checked_expectations() {
    let e = expectations();
    let text = |f: &str, i: usize| e[f]["content"][i]["text"].clone();
    assert_eq!(
        text("openai-chat/text_include_usage.sse", 0),
        "4200 + 42 equals 4242."
    );
    assert_eq!(
        text("openai-chat/refusal_2.sse", 0),
        "I'm very sorry, but I can't assist with that request."
    );
    assert_eq!(e["openai-chat/refusal_2.sse"]["finish_reason"], "refusal");
    assert_eq!(e["openai-chat/refusal_2.sse"]["raw_finish_reason"], "stop");
    assert_eq!(
        text("mistral/text.sse", 0),
        "Hello, world! This is a test response."
    );
    assert_eq!(
        text("deepseek/reasoner_reasoning_content.sse", 1),
        "Hello there! 😊 How can I help you today?"
    );
    assert_eq!(
        text("azure/chat_prompt_filter_results.sse", 0),
        "Capital of Denmark."
    );
    assert_eq!(text("openrouter/anthropic_via_openrouter.sse", 0), "Hello!");
    assert_eq!(text("xai/text_reasoning_content.sse", 1), "Grok");
    assert_eq!(
        text("openai-chat/multiple_choices_n3.sse", 0),
        r#"{"city":"San Francisco","temperature":65,"units":"f"}"#
    );
    assert_eq!(
        e["mistral/reasoning_short.sse"]["content"][0]["thought"],
        "The user is asking for 2+2. This is basic arithmetic. 2+2=4."
    );
    assert_eq!(
        e["ollama/openai_compat_fragment.sse"]["content"][0]["thought"],
        "Okay, theOkay"
    );

    let calls = &e["openai-chat/parallel_tool_calls.sse"]["content"];
    assert_eq!(calls[0]["id"], "call_JMW1whyEaYG438VE1OIflxA2");
    assert_eq!(calls[0]["name"], "GetWeatherArgs");
    assert_eq!(
        calls[0]["args"],
        serde_json::json!({"city": "Edinburgh", "country": "GB", "units": "c"})
    );
    assert_eq!(calls[1]["name"], "get_stock_price");
    assert_eq!(
        calls[1]["args"],
        serde_json::json!({"ticker": "AAPL", "exchange": "NASDAQ"})
    );
    let mistral = &e["mistral/incremental_tool_call.sse"]["content"][0];
    assert_eq!(mistral["name"], "webSearchTool");
    assert_eq!(
        mistral["args"],
        serde_json::json!({"query": "current Berlin weather"})
    );

    let usage = |f: &str| e[f]["usage"].clone();
    assert_eq!(
        usage("openai-chat/text_include_usage.sse"),
        serde_json::json!({"input_tokens": 16, "output_tokens": 10, "cache_read_tokens": 0, "reasoning_tokens": 0,
                           "input_audio_tokens": 0, "output_audio_tokens": 0})
    );
    assert_eq!(
        usage("deepseek/tool_call.sse"),
        serde_json::json!({"input_tokens": 339, "output_tokens": 83, "cache_read_tokens": 320, "reasoning_tokens": 39})
    );
    assert_eq!(
        usage("groq/tool_call.sse"),
        serde_json::json!({"input_tokens": 210, "output_tokens": 15})
    );
    assert_eq!(
        usage("xai/text_reasoning_content.sse")["output_tokens"],
        342
    );
    // The provider's price: xAI's 1,721,250 ticks of 1e-10 dollars, and
    // OpenRouter's 0.000222 and 0.0076509169000000005 dollars, in
    // billionths of a dollar.
    assert_eq!(
        usage("xai/text_reasoning_content.sse")["cost_nano_usd"],
        172_125
    );
    assert_eq!(
        usage("openrouter/anthropic_via_openrouter.sse")["cost_nano_usd"],
        222_000
    );
    assert_eq!(
        usage("openrouter/web_search_annotations.sse")["cost_nano_usd"],
        7_650_917
    );
    // xAI's prompt by modality.
    assert_eq!(
        usage("xai/text_reasoning_content.sse")["input_text_tokens"],
        12
    );

    let err = &e["groq/error_event_after_text.sse"]["error"];
    assert_eq!(err["kind"], "bad_request");
    assert_eq!(err["code"], "tool_use_failed");
    assert_eq!(
        err["message"],
        "Tool choice is required, but model did not call a tool"
    );
    let err = &e["openrouter/mid_stream_error_chunk.sse"]["error"];
    assert_eq!(
        (err["kind"].clone(), err["message"].clone()),
        ("bad_request".into(), "Token limit reached".into())
    );
    // A fragment: the recording stops before any finish reason, as a cut
    // connection would.
    assert_eq!(
        e["openai-chat/audio_fragment.sse"]["error"]["kind"],
        "connection"
    );
    assert_eq!(
        e["llamacpp/ik_llama_no_done_fragment.sse"]["error"],
        Value::Null
    );
    assert_eq!(
        e["openai-chat/error_http401_invalid_key.json"]["error"]["kind"],
        "authentication"
    );
}
