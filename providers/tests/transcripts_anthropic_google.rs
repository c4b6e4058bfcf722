//! Every Anthropic and Gemini transcript in testdata/wire, served by the
//! loopback server (whole, line by line, byte by byte) through the real
//! providers over HTTP, folded with `Response::apply` and compared with the
//! expectations computed independently by
//! `expected/generate_anthropic_google.py`. Then the pure decoders, fed
//! the same bytes split at every offset.

mod common;

use std::sync::Arc;

use common::{
    anthropic_google_expectations, check_grammar, compare, fold, over_http, request, run, KEY,
};
use rivulet_core::{ApiKey, Chunk, ContentPart, ErrorKind, Provider};
use rivulet_providers::google::{Google, VertexOptions};
use rivulet_providers::{anthropic, build, google, ProviderConfig};
use rivulet_testkit::{wire, wire_files, Replay, Server, Split};
use serde_json::{json, Value};

const PROJECT: &str = "test-project";

/// Provider `id` pointed at the testkit server `url` with [`KEY`].
fn provider(id: &str, url: &str) -> Arc<dyn Provider> {
    let config = ProviderConfig {
        base_url: Some(url.to_string()),
        api_key: Some(ApiKey::new(KEY)),
        ..Default::default()
    };
    if id == "vertex" {
        // Project and location given in code: nothing read from the environment.
        let options = VertexOptions {
            project: Some(PROJECT.into()),
            location: Some("us-central1".into()),
            service_account: None,
        };
        return Arc::new(Google::vertex_with(config, options).unwrap());
    }
    build(id, config).unwrap_or_else(|e| panic!("cannot build {id}: {e}"))
}

fn expected_path(id: &str) -> String {
    match id {
        "anthropic" => "/v1/messages".into(),
        "google" => "/v1beta/models/test-model:streamGenerateContent?alt=sse".into(),
        "vertex" => format!(
            "/v1/projects/{PROJECT}/locations/us-central1/publishers/google/models/test-model:streamGenerateContent?alt=sse"
        ),
        other => panic!("{other}"),
    }
}

/// The credentials header each provider must send.
fn expected_auth(id: &str) -> (&'static str, String) {
    match id {
        "anthropic" => ("x-api-key", KEY.to_string()),
        "google" => ("x-goog-api-key", KEY.to_string()),
        _ => ("authorization", format!("Bearer {KEY}")),
    }
}

/// The response as the recording had it: Gemini errors are JSON under
/// `text/event-stream`, Anthropic's under `application/json`.
fn replay(file: &str, status: u16) -> Replay {
    let body = wire(file);
    if status == 200 {
        Replay::sse(body)
    } else if file.starts_with("gemini/") {
        Replay::new(status, body).header("content-type", "text/event-stream")
    } else {
        Replay::json(status, body)
    }
}

#[test]
fn every_transcript_has_an_expectation() {
    let mut files = Vec::new();
    for dir in ["anthropic", "gemini"] {
        files.extend(
            wire_files(dir, "")
                .into_iter()
                .filter(|f| !f.ends_with(".request.json")),
        );
    }
    files.sort();
    let keys: Vec<String> = anthropic_google_expectations().keys().cloned().collect();
    assert_eq!(
        files, keys,
        "regenerate with python3 providers/tests/expected/generate_anthropic_google.py"
    );
    assert_eq!(files.len(), 29);
}

async fn check_all(split: Split) {
    let mut failures = Vec::new();
    for (file, want) in anthropic_google_expectations() {
        let id = want["provider"].as_str().unwrap().to_string();
        let status = want["status"].as_u64().unwrap() as u16;
        let (outcome, req, mut diffs) = over_http(
            replay(&file, status).split(split),
            |url| provider(&id, url),
            "test-model",
            &want,
            &expected_path(&id),
        )
        .await;
        if let Some(req) = req {
            let (name, value) = expected_auth(&id);
            if req.header(name) != Some(value.as_str()) {
                diffs.push(format!("header {name}: {:?}", req.header(name)));
            }
        }
        if let Some(e) = &outcome.error {
            if e.to_string().contains(KEY) {
                diffs.push(format!("the key leaks into the error: {e}"));
            }
        }
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

/// A decoder's `decode_pieces` for the transcript's provider.
fn decode(file: &str, raw: bool, pieces: Vec<&[u8]>) -> Vec<Result<Chunk, rivulet_core::Error>> {
    if file.starts_with("anthropic/") {
        anthropic::decode_pieces("anthropic", raw, pieces)
    } else {
        let id = if file.contains("vertex") {
            "vertex"
        } else {
            "google"
        };
        google::decode_pieces(id, raw, pieces)
    }
}

/// The pure decoder: whole matches the expectation, and every split in two
/// (CRLF torn, UTF-8 torn, padded JSON torn) gives the same chunks.
fn every_split_point(file: &str) {
    let body = wire(file);
    let whole = decode(file, false, vec![&body[..]]);
    let diffs = compare(&fold(whole.clone()), &anthropic_google_expectations()[file]);
    assert!(diffs.is_empty(), "{file}: {diffs:?}");
    for k in 0..=body.len() {
        let split = decode(file, false, vec![&body[..k], &body[k..]]);
        assert_eq!(split, whole, "{file} split at byte {k}");
    }
}

#[test]
fn every_split_point_anthropic_thinking() {
    every_split_point("anthropic/thinking.sse");
}

#[test]
fn every_split_point_anthropic_server_tools() {
    // Multi-byte characters (emoji, ×, ⃣) and provider parts.
    every_split_point("anthropic/server_tool_code_execution.sse");
}

#[test]
fn every_split_point_anthropic_error_fragment() {
    every_split_point("anthropic/error_api_error_fragment.sse");
}

#[test]
fn every_split_point_gemini_crlf() {
    every_split_point("gemini/function_call_thought_signature_gemini3.sse");
    every_split_point("gemini/thoughts.sse");
    every_split_point("gemini/vertex_text.sse");
}

#[test]
fn one_byte_pieces_everywhere() {
    for (file, _) in anthropic_google_expectations() {
        if !file.ends_with(".sse") {
            continue;
        }
        let body = wire(&file);
        let whole = decode(&file, false, vec![&body[..]]);
        assert_eq!(
            decode(&file, false, body.chunks(1).collect()),
            whole,
            "{file}"
        );
        check_grammar(&fold(whole).chunks).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
}

#[test]
fn raw_events_are_one_per_event_and_typed() {
    use rivulet_providers::anthropic::anthropic_wire::AnthropicEvent;
    use rivulet_providers::google::google_wire::GenerateContentResponse;
    for (file, typed_name) in [
        ("anthropic/text_many_pings.sse", "anthropic"),
        ("gemini/thoughts.sse", "google"),
    ] {
        let body = wire(file);
        let plain = decode(file, false, vec![&body[..]]);
        let with_raw = decode(file, true, vec![&body[..]]);
        let raws: Vec<_> = with_raw
            .iter()
            .filter_map(|c| match c {
                Ok(Chunk::Raw(r)) => Some(r.clone()),
                _ => None,
            })
            .collect();
        let events = String::from_utf8(body.clone())
            .unwrap()
            .matches("data: ")
            .count();
        assert_eq!(raws.len(), events, "{file}");
        assert_eq!(raws[0].provider(), typed_name);
        if typed_name == "anthropic" {
            // Pings are events too, with raw events on; never content.
            let pings = raws
                .iter()
                .filter(|r| r.downcast_ref::<AnthropicEvent>() == Some(&AnthropicEvent::Ping))
                .count();
            assert_eq!(pings, 4);
        } else {
            let first = raws[0].downcast_ref::<GenerateContentResponse>().unwrap();
            assert_eq!(first.model_version.as_deref(), Some("gemini-2.5-flash"));
        }
        let without: Vec<_> = with_raw
            .into_iter()
            .filter(|c| !matches!(c, Ok(Chunk::Raw(_))))
            .collect();
        assert_eq!(without, plain, "{file}");
    }
}

/// Pings produce nothing at all: the decoded chunks of the transcript with
/// its four pings equal those of the same stream without them.
#[test]
fn pings_emit_nothing() {
    let body = String::from_utf8(wire("anthropic/text_many_pings.sse")).unwrap();
    let without = body.replace("event: ping\ndata: {\"type\": \"ping\"}\n\n", "");
    assert_eq!(body.matches("ping").count(), 8);
    assert!(!without.contains("ping"));
    assert_eq!(
        anthropic::decode_pieces("anthropic", false, [body.as_bytes()]),
        anthropic::decode_pieces("anthropic", false, [without.as_bytes()])
    );
}

/// A few expectations spelled out by hand, read off the transcripts, so a
/// mistake shared by the decoders and the generator would still show.
#[test]
fn hand_checked_expectations() {
    let e = anthropic_google_expectations();
    let content = |f: &str| e[f]["content"].clone();
    assert_eq!(
        content("anthropic/text.sse"),
        json!([{"type": "text", "text": "4200 + 42 = 4242"}])
    );
    assert_eq!(
        e["anthropic/text.sse"]["usage"],
        json!({"input_tokens": 17, "output_tokens": 15, "cache_read_tokens": 0, "cache_write_tokens": 0,
               "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0})
    );
    // Cumulative: message_delta's 4714 input replaces message_start's 2293.
    assert_eq!(
        e["anthropic/server_tool_code_execution.sse"]["usage"]["input_tokens"],
        4714
    );
    let server = content("anthropic/server_tool_code_execution.sse");
    assert_eq!(server[2]["type"], "provider");
    assert_eq!(server[2]["kind"], "server_tool_use");
    assert_eq!(
        server[2]["json"]["input"],
        json!({"command": "echo \"65465-6544 * 65464-6+1.02255\" | bc -l"})
    );
    assert_eq!(server[2]["json"]["id"], "srvtoolu_01MwXaweAHve88x6s3Fc8x6Q");
    assert_eq!(server[3]["kind"], "bash_code_execution_tool_result");
    assert_eq!(server[3]["json"]["content"]["stdout"], "-428330955.97745\n");
    assert_eq!(
        server[0]["thought"],
        "Let me calculate this mathematical expression."
    );
    assert!(server[0]["signature"]
        .as_str()
        .unwrap()
        .starts_with("EusBClsIDRgCKkBp"));

    let redacted = content("anthropic/redacted_thinking.sse");
    assert!(redacted[0]["redacted"]
        .as_str()
        .unwrap()
        .starts_with("EqkECkYIBxgCKkA8"));
    assert!(redacted[1]["redacted"]
        .as_str()
        .unwrap()
        .starts_with("EtgBCkYIBxgCKkDQ"));
    assert_eq!(redacted[0]["thought"], "");

    let tools = content("anthropic/tool_use_parallel.sse");
    assert_eq!(tools[1]["id"], "toolu_015cUijgET79LXjgeYQerN2h");
    assert_eq!(tools[1]["args"], json!({"password": "mellon"}));
    assert_eq!(tools[2]["args"], json!({"password": "radiance"}));
    assert_eq!(
        e["anthropic/tool_use_parallel.sse"]["finish_reason"],
        "tool_calls"
    );

    let err = &e["anthropic/error_api_error_fragment.sse"];
    assert_eq!(
        err["error"],
        json!({"kind": "server", "message": "Internal server error", "code": "api_error", "status": null})
    );
    assert_eq!(
        err["content"],
        json!([{"type": "text", "text": "d with a replacement character ("}])
    );
    assert_eq!(
        e["anthropic/error_overloaded_fragment.sse"]["error"]["kind"],
        "overloaded"
    );
    assert_eq!(
        e["anthropic/error_http404_model.json"]["error"]["message"],
        "model: this-model-does-not-exist-12345"
    );

    assert_eq!(
        content("gemini/text_gemini2_no_index.sse"),
        json!([{"type": "text", "text": "The capital of France is Paris.\n"}])
    );
    // The last snapshot: the prompt count went from 15 down to 13.
    assert_eq!(
        e["gemini/text_gemini2_no_index.sse"]["usage"],
        json!({"input_tokens": 13, "output_tokens": 8,
               // All of it text, by the last snapshot's details.
               "input_text_tokens": 13, "output_text_tokens": 8})
    );
    assert_eq!(
        e["gemini/text.sse"]["usage"],
        json!({"input_tokens": 13, "output_tokens": 138, "reasoning_tokens": 75,
               "input_text_tokens": 13})
    );
    let calls = content("gemini/function_call_parallel.sse");
    assert_eq!(
        (calls[0]["id"].clone(), calls[1]["id"].clone()),
        (json!("call_0"), json!("call_1"))
    );
    assert!(calls[0]["signature"]
        .as_str()
        .unwrap()
        .starts_with("CikB0e2Kbw5t"));
    assert!(calls[1].get("signature").is_none());
    assert_eq!(
        e["gemini/function_call_parallel.sse"]["finish_reason"],
        "tool_calls"
    );
    let vertex = content("gemini/vertex_text.sse");
    assert_eq!(vertex[0], json!({"type": "text", "text": "OK"}));
    assert!(vertex[1]["signature"]
        .as_str()
        .unwrap()
        .starts_with("CiQBjz1rX"));
    assert_eq!(
        e["gemini/error_http400_invalid_key.txt"]["error"]["kind"],
        "authentication"
    );
    assert_eq!(
        e["gemini/error_http404_model.txt"]["error"]["kind"],
        "not_found"
    );
    assert_eq!(e["gemini/thoughts.sse"]["content"][1]["text"], "3");

    // Server-side compaction: message_start says input 100 + cache read
    // 55,096; the final message_delta 181 and 0, which is the answer.
    assert_eq!(
        e["anthropic/compaction_usage_falls.sse"]["usage"],
        json!({"input_tokens": 181, "output_tokens": 8, "cache_read_tokens": 0, "cache_write_tokens": 0,
               "cache_write_5m_tokens": 0, "cache_write_1h_tokens": 0})
    );
    assert_eq!(
        content("anthropic/compaction_usage_falls.sse")[1]["text"],
        "Hello! 👋"
    );
    // Gemini's last snapshot: 147 prompt + 360 tool-use prompt, 108
    // candidates + 168 thoughts (thoughts went 101, gone, 67, 168).
    assert_eq!(
        e["gemini/code_execution_usage_falls.sse"]["usage"],
        json!({"input_tokens": 507, "output_tokens": 276, "reasoning_tokens": 168,
               // The prompt's own text; the tool-use prompt is not detailed.
               "input_text_tokens": 147})
    );
    // The last snapshot leaves out the candidates count (21 before): zero.
    assert_eq!(
        e["gemini/builtin_tools_usage_omitted.sse"]["usage"],
        json!({"input_tokens": 87, "output_tokens": 78, "reasoning_tokens": 78,
               "input_text_tokens": 87})
    );
    // Streamed arguments (partialArgs), assembled.
    let args = |f: &str, i: usize| content(f)[i]["args_text"].clone();
    assert_eq!(
        args("gemini/vertex_stream_args.sse", 0),
        r#"{"location":"Boston"}"#
    );
    assert_eq!(
        args("gemini/vertex_stream_args.sse", 1),
        r#"{"location":"San Francisco"}"#
    );
    assert_eq!(
        args("gemini/vertex_stream_args_no_terminal.sse", 0),
        r#"{"operations":[{"action":"add","description":"Fresh red apple","itemid":"apple_001","price":0.5},{"action":"add","description":"Ripe yellow banana","itemid":"banana_001","price":0.3}]}"#
    );
    let nested = content("gemini/vertex_stream_args_nested.sse");
    assert_eq!(nested[0]["name"], "cookRecipe");
    assert_eq!(
        nested[0]["args"]["recipe"]["ingredients"][9],
        json!({"amount": "1/2 tsp", "name": "Pepper"})
    );
    assert_eq!(
        nested[0]["args"]["recipe"]["steps"][0],
        "Preheat oven to 375°F (190°C)."
    );
    assert_eq!(
        nested[0]["args"]["recipe"]["steps"][4],
        "In a 9x13 baking dish, spread a thin layer of meat sauce."
    );
    let screens = content("gemini/vertex_stream_args_after_no_args_call.sse");
    assert_eq!(
        (screens[1]["name"].clone(), screens[1]["args_text"].clone()),
        (json!("read_theme"), json!("{}"))
    );
    for (i, id) in [(2, "A"), (3, "B"), (4, "C")] {
        assert_eq!(screens[i]["args"], json!({"id": id}));
    }
}

/// Usage follows every cumulative snapshot of a real stream, down as well
/// as up: after each event the folded usage is the provider's numbers at
/// that event (read off the recordings by hand).
#[test]
fn usage_follows_every_snapshot() {
    use rivulet_core::{Response, Usage};
    use rivulet_providers::decode::EventDecoder;
    use rivulet_providers::sse::{parse_pieces, SseEvent};

    fn usage_per_event(file: &str, mut d: impl EventDecoder<Event = SseEvent>) -> Vec<Usage> {
        let mut r = Response::default();
        let mut seen = Vec::new();
        for event in parse_pieces([wire(file)]) {
            for c in d.feed(&event.unwrap()) {
                r.apply(&c.unwrap());
            }
            seen.push(r.usage);
        }
        seen
    }
    // `prompt` is the prompt's TEXT count in `promptTokensDetails`.
    let u = |input, output, reasoning, prompt| Usage {
        input_tokens: Some(input),
        output_tokens: Some(output),
        reasoning_tokens: Some(reasoning),
        input_text_tokens: Some(prompt),
        ..Default::default()
    };

    let seen = usage_per_event(
        "gemini/code_execution_usage_falls.sse",
        google::GoogleDecoder::new("google"),
    );
    assert_eq!(
        seen,
        [
            u(46, 51 + 101, 101, 46),
            // The candidate and thought counts left out: zero.
            u(46, 0, 0, 46),
            u(46, 22 + 67, 67, 46),
            u(46, 46 + 67, 67, 46),
            u(46, 57 + 67, 67, 46),
            u(147 + 360, 108 + 168, 168, 147),
        ]
    );

    let seen = usage_per_event(
        "anthropic/compaction_usage_falls.sse",
        anthropic::AnthropicDecoder::new("anthropic"),
    );
    let anthropic_usage = |input, output, cache_read| Usage {
        input_tokens: Some(input),
        output_tokens: Some(output),
        cache_read_tokens: Some(cache_read),
        cache_write_tokens: Some(0),
        // `cache_creation` splits the (no) cache writes by lifetime.
        cache_write_5m_tokens: Some(0),
        cache_write_1h_tokens: Some(0),
        ..Default::default()
    };
    assert_eq!(seen[0], anthropic_usage(100 + 55_096, 7, 55_096));
    assert_eq!(seen.last(), Some(&anthropic_usage(181, 8, 0)));
}

/// The mid-stream error fragments keep what came before the error, over
/// HTTP, and the error says what the provider said.
#[tokio::test]
async fn mid_stream_errors_keep_prior_content() {
    let server = Server::start(vec![Replay::sse(wire(
        "anthropic/error_api_error_fragment.sse",
    ))
    .split(Split::Lines)])
    .await;
    let p = provider("anthropic", &server.url());
    let out = run(p.as_ref(), &request("m")).await;
    let err = out.error.unwrap();
    assert!(
        matches!(err, rivulet_core::Error::Server { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(err.message(), "Internal server error");
    assert!(err.is_retryable());
    assert_eq!(out.response.text(), "d with a replacement character (");
    assert_eq!(out.chunks.last(), Some(&Chunk::TextEnd { part: 0 }));

    let server = Server::start(vec![Replay::sse(wire(
        "anthropic/error_overloaded_fragment.sse",
    ))])
    .await;
    let p = provider("anthropic", &server.url());
    let out = run(p.as_ref(), &request("m")).await;
    let err = out.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::Overloaded);
    assert_eq!(err.message(), "Overloaded");
    assert_eq!(err.code(), Some("overloaded_error"));
}

/// A stream cut before `message_stop` keeps its text; the cut-off tool call
/// stays incomplete and is never listed as a call.
#[tokio::test]
async fn truncated_streams_are_connection_errors() {
    let body = wire("anthropic/tool_use_parallel.sse");
    let text = String::from_utf8(body).unwrap();
    let cut = text.find("\"partial_json\":\"rd").unwrap();
    let cut = text[..cut].rfind("\n\n").unwrap() + 2;
    let server = Server::start(vec![Replay::sse(text[..cut].to_string())]).await;
    let p = provider("anthropic", &server.url());
    let out = run(p.as_ref(), &request("m")).await;
    let err = out.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::Connection);
    assert!(err.message().contains("ended before message_stop"), "{err}");
    assert_eq!(
        out.response.text(),
        "I'll retrieve the secrets for both passwords you provided."
    );
    assert!(out.response.tool_calls().is_empty());
    assert_eq!(out.response.incomplete_tool_calls()[0].args, "{\"passwo");

    // Gemini: EOF is the normal end, but not before a finish reason.
    let body = String::from_utf8(wire("gemini/text.sse")).unwrap();
    let first = body.find("\r\n\r\n").unwrap() + 4;
    let server = Server::start(vec![Replay::sse(body[..first].to_string())]).await;
    let p = provider("google", &server.url());
    let out = run(p.as_ref(), &request("m")).await;
    let err = out.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::Connection);
    assert!(
        err.message().contains("ended before a finish reason"),
        "{err}"
    );
    assert!(out.response.text().starts_with("To find the sum"));
    // Usage known so far stays.
    assert_eq!(out.response.usage.input_tokens, Some(13));
}

/// Anthropic's 404 was recorded gzip-encoded: such a body is decoded
/// before its message is read.
#[tokio::test]
async fn gzip_encoded_error_bodies() {
    use std::io::Write;
    let body = wire("anthropic/error_http404_model.json");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&body).unwrap();
    let server = Server::start(vec![
        Replay::json(404, gz.finish().unwrap()).header("content-encoding", "gzip")
    ])
    .await;
    let p = provider("anthropic", &server.url());
    let err = run(p.as_ref(), &request("m")).await.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.message(), "model: this-model-does-not-exist-12345");
    assert_eq!(err.code(), Some("not_found_error"));
}

/// Errors sent with a 200 as a JSON body, and other content types.
#[tokio::test]
async fn json_bodies_instead_of_streams() {
    let cases: [(&str, Replay, ErrorKind); 3] = [
        (
            "anthropic",
            Replay::json(
                200,
                r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            ),
            ErrorKind::Overloaded,
        ),
        (
            "google",
            Replay::json(
                200,
                r#"[{"error":{"code":429,"message":"Resource exhausted","status":"RESOURCE_EXHAUSTED"}}]"#,
            ),
            ErrorKind::RateLimit,
        ),
        (
            "vertex",
            Replay::new(200, "<html>").header("content-type", "text/html"),
            ErrorKind::Protocol,
        ),
    ];
    for (id, replay, kind) in cases {
        let server = Server::start(vec![replay]).await;
        let p = provider(id, &server.url());
        let err = run(p.as_ref(), &request("m")).await.error.unwrap();
        assert_eq!(err.kind(), kind, "{id}: {err}");
        assert_eq!(err.provider(), Some(id));
    }
}

/// Keys never appear in a provider's Debug print.
#[test]
fn keys_stay_out_of_debug_prints() {
    let config = || ProviderConfig {
        base_url: Some("http://127.0.0.1:1".into()),
        api_key: Some(ApiKey::new(KEY)),
        headers: vec![("x-custom".into(), "custom-secret".into())],
    };
    let a = rivulet_providers::Anthropic::new(config()).unwrap();
    let g = Google::gemini(config()).unwrap();
    let v = Google::vertex_with(
        config(),
        VertexOptions {
            project: Some("p".into()),
            ..Default::default()
        },
    )
    .unwrap();
    for printed in [format!("{a:?}"), format!("{g:?}"), format!("{v:?}")] {
        assert!(!printed.contains(KEY), "{printed}");
        assert!(!printed.contains("custom-secret"), "{printed}");
        assert!(printed.contains("x-custom"), "{printed}");
    }
}

/// The folded response's history sends the thinking back: the content of
/// a decoded transcript, as the next request's assistant turn.
#[tokio::test]
async fn decoded_thoughts_go_back_in_history() {
    let body = wire("anthropic/redacted_thinking.sse");
    let out = fold(anthropic::decode_pieces("anthropic", false, [&body[..]]));
    let mut history = vec![rivulet_core::Message::user("hi")];
    // The fold had no input: its history is this assistant turn alone.
    history.extend(out.response.messages());
    history.push(rivulet_core::Message::user("and?"));
    let server = Server::start(vec![Replay::sse(wire("anthropic/text.sse"))]).await;
    let p = provider("anthropic", &server.url());
    let mut req = request("m");
    req.messages = history;
    assert!(run(p.as_ref(), &req).await.error.is_none());
    let sent = server.requests()[0].json();
    let turn = &sent["messages"][1];
    assert_eq!(turn["role"], "assistant");
    assert_eq!(turn["content"][0]["type"], "redacted_thinking");
    assert_eq!(
        turn["content"][0]["data"],
        Value::String(match &out.response.content[0] {
            ContentPart::Thought(t) => t.redacted.clone().unwrap(),
            other => panic!("{other:?}"),
        })
    );
    assert_eq!(turn["content"][1]["type"], "redacted_thinking");
    assert_eq!(turn["content"][2]["type"], "text");
}
