//! Every OpenAI Responses, Cohere and Bedrock transcript in testdata/wire,
//! served by the loopback server (whole, by lines — fixed 7-byte pieces for
//! the binary Bedrock bodies — and byte by byte) through the real provider
//! over HTTP, folded with `Response::apply` and compared with the
//! expectations computed independently by `expected/generate_native.py`.
//! Also the decoders fed bytes directly: every split point, corrupted and
//! truncated eventstream frames, mid-stream exceptions.

mod common;

use std::collections::BTreeMap;

use common::{check_grammar, compare, fold, over_http, provider, request, run};
use rivulet_core::{Chunk, ErrorKind, PartialJson};
use rivulet_providers::{bedrock, cohere, eventstream, responses};
use rivulet_testkit::{wire, wire_files, Replay, Server, Split};
use serde_json::{json, Value};

const DIRS: &[(&str, &str)] = &[
    ("openai-responses", ".sse"),
    ("cohere", ".sse"),
    ("bedrock", ".bin"),
];

/// The Bedrock model every transcript is requested with: its `:` must be
/// percent-encoded in the path.
const BEDROCK_MODEL: &str = "us.amazon.nova-micro-v1:0";

fn expectations() -> BTreeMap<String, Value> {
    serde_json::from_str(include_str!("expected/native.json")).expect("native.json")
}

#[test]
fn every_transcript_has_an_expectation() {
    let mut files = Vec::new();
    for (dir, ext) in DIRS {
        files.extend(wire_files(dir, ext));
        files.extend(
            wire_files(dir, ".json")
                .into_iter()
                .filter(|f| !f.ends_with(".request.json")),
        );
    }
    files.sort();
    let keys: Vec<String> = expectations().keys().cloned().collect();
    assert_eq!(
        files, keys,
        "regenerate with python3 providers/tests/expected/generate_native.py"
    );
    assert_eq!(files.len(), 23);
}

fn base_url(id: &str, server: &str) -> String {
    match id {
        "openai-responses" => format!("{server}/v1"),
        _ => server.to_string(),
    }
}

fn expected_path(id: &str) -> &'static str {
    match id {
        "openai-responses" => "/v1/responses",
        "cohere" => "/v2/chat",
        _ => "/model/us.amazon.nova-micro-v1%3A0/converse-stream",
    }
}

fn model(id: &str) -> &'static str {
    if id == "bedrock" {
        BEDROCK_MODEL
    } else {
        "test-model"
    }
}

fn replay(file: &str, status: u16) -> Replay {
    let body = wire(file);
    if status != 200 {
        let r = Replay::json(status, body);
        return if file.starts_with("bedrock/") {
            r.header(
                "x-amzn-errortype",
                "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            )
        } else {
            r
        };
    }
    if file.ends_with(".bin") {
        Replay::new(200, body).header("content-type", bedrock::EVENTSTREAM)
    } else {
        Replay::sse(body)
    }
}

async fn check_all(split: Split) {
    let mut failures = Vec::new();
    for (file, want) in expectations() {
        let id = want["provider"].as_str().unwrap().to_string();
        let status = want["status"].as_u64().unwrap() as u16;
        // Binary bodies have no lines: cut them into 7-byte pieces instead.
        let split = match split {
            Split::Lines if file.ends_with(".bin") => Split::Every(7),
            s => s,
        };
        let (_, _, diffs) = over_http(
            replay(&file, status).split(split),
            |url| provider(&id, &base_url(&id, url)),
            model(&id),
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

/// A few expectations spelled out by hand, read off the transcripts (and
/// the Bedrock `.decoded.txt` listings), so a mistake shared by the
/// decoders and the generator would still show.
#[test]
fn hand_checked_expectations() {
    let e = expectations();
    let text = |f: &str, i: usize| e[f]["content"][i]["text"].clone();
    assert_eq!(
        text("openai-responses/text.sse", 0),
        "4200 + 42 equals 4242."
    );
    assert_eq!(
        text("openai-responses/refusal.sse", 0),
        "I'm sorry, I can't assist with that."
    );
    assert_eq!(
        e["openai-responses/refusal.sse"]["finish_reason"],
        "refusal"
    );
    let r = &e["openai-responses/reasoning_summary.sse"];
    assert_eq!(r["content"].as_array().unwrap().len(), 4);
    assert_eq!(r["content"][3]["text"], "3");
    assert!(r["content"][0]["thought"]
        .as_str()
        .unwrap()
        .starts_with("**Exploring prime numbers**"));
    assert_eq!(
        r["content"][2]["signature"],
        "rs_0a1097cbfef27a8c00696afa2459008196a08a4261aba00f56"
    );
    assert_eq!(
        r["usage"],
        json!({"input_tokens": 32, "output_tokens": 839, "cache_read_tokens": 0, "reasoning_tokens": 832})
    );
    let calls = &e["openai-responses/function_calls_parallel.sse"]["content"];
    assert_eq!(calls[0]["id"], "call_sKC7OABqf2A2PTLCm0CLeRWV");
    assert_eq!(calls[0]["args"], json!({"password": "mellon"}));
    assert_eq!(calls[1]["id"], "call_OdR3s3xop0vtgkDyWRMLafuH");
    assert_eq!(calls[1]["args"], json!({"password": "radiance"}));
    let inc = &e["openai-responses/incomplete_max_output_tokens.sse"];
    assert_eq!(
        (
            inc["finish_reason"].clone(),
            inc["raw_finish_reason"].clone()
        ),
        ("max_tokens".into(), "max_output_tokens".into())
    );
    let quota = &e["openai-responses/error_insufficient_quota.sse"]["error"];
    assert_eq!(quota["kind"], "permission_denied");
    assert_eq!(quota["code"], "insufficient_quota");

    assert_eq!(
        text("cohere/text.sse", 0),
        "The capital of France is Paris."
    );
    assert_eq!(
        e["cohere/text.sse"]["usage"],
        json!({"input_tokens": 507, "output_tokens": 10, "cache_read_tokens": 448})
    );
    let tc = &e["cohere/tool_call.sse"]["content"];
    assert_eq!(tc[1]["name"], "weather");
    assert_eq!(tc[1]["args"], json!({"location": "San Francisco"}));
    assert_eq!(tc[2]["id"], "cityAttractions_pyxssbwnq9fq");
    let empty = &e["cohere/empty_args_tool_call.sse"]["content"][1];
    assert_eq!(
        (empty["name"].clone(), empty["args_text"].clone()),
        ("currentTime".into(), "".into())
    );
    assert_eq!(text("cohere/reasoning.sse", 1), "The answer to 2 + 2 is 4.");

    assert!(text("bedrock/converse_stream_text.bin", 0)
        .as_str()
        .unwrap()
        .starts_with("The capital of France is Paris. Paris is not"));
    let tool = &e["bedrock/converse_stream_tool_use.bin"]["content"][1];
    assert_eq!(tool["id"], "tooluse_lAG_zP8QRHmSYOwZzzaCqA");
    assert_eq!(tool["args"], json!({"city": "Paris"}));
    let reasoning = &e["bedrock/converse_stream_reasoning.bin"];
    assert_eq!(
        text("bedrock/converse_stream_reasoning.bin", 1),
        "Hello! It's nice to meet you. How can I help you today?"
    );
    assert!(reasoning["content"][0]["signature"]
        .as_str()
        .unwrap()
        .starts_with("Eu0CCkgIBxAB"));
    let redacted = &e["bedrock/converse_stream_redacted_reasoning.bin"]["content"];
    assert!(redacted[0]["redacted"]
        .as_str()
        .unwrap()
        .starts_with("RXRrRUNrZ0lC"));
    assert!(redacted[1]["redacted"]
        .as_str()
        .unwrap()
        .starts_with("RXFBRENrZ0lC"));
    assert_eq!(
        e["bedrock/converse_stream_tool_use.bin"]["usage"],
        json!({"input_tokens": 471, "output_tokens": 91})
    );

    // Read off converse_stream_server_tool_code_interpreter.decoded.txt:
    // the server's code interpreter call and its result are provider
    // parts; only final_result is a tool call.
    let server = &e["bedrock/converse_stream_server_tool_code_interpreter.bin"];
    assert_eq!(
        server["content"][0],
        json!({"type": "provider", "provider": "bedrock", "kind": "server_tool_use",
               "json": {"toolUse": {"toolUseId": "tooluse_VQNZJRUFMoqZzszVsRd4og",
                                    "name": "nova_code_interpreter", "type": "server_tool_use",
                                    "input": {"snippet": "1234 * 5678"}}}})
    );
    assert_eq!(
        server["content"][1],
        json!({"type": "provider", "provider": "bedrock", "kind": "nova_code_interpreter_result",
               "json": {"toolResult": {"toolUseId": "tooluse_VQNZJRUFMoqZzszVsRd4og",
                                       "status": "success", "type": "nova_code_interpreter_result",
                                       "content": [{"json": {"stdOut": "7006652", "stdErr": "",
                                                             "exitCode": 0, "isError": false}}]}}})
    );
    assert_eq!(server["content"][2]["name"], "final_result");
    assert_eq!(server["content"][2]["args_text"], "{\"result\":7006652.0}");
    assert_eq!(server["content"].as_array().unwrap().len(), 3);
    assert_eq!(server["finish_reason"], "tool_calls");

    // The custom tool's input, joined from the 24 deltas of
    // custom_tool_call_text.sse, wrapped as {"input": …}.
    let custom = &e["openai-responses/custom_tool_call_text.sse"];
    assert_eq!(
        custom["content"],
        json!([{"type": "tool_call", "id": "call_g8yRNFvYwhYY5Eb3rGIAxf8l", "name": "setHtml",
                "args_text": r#"{"input":"<main><h1>Streaming custom tool input</h1><p>This must arrive progressively.</p></main>"}"#,
                "args": {"input": "<main><h1>Streaming custom tool input</h1><p>This must arrive progressively.</p></main>"},
                "signature": "ctc_0bbd8ccbe12a7c9b006a61f8e3d35c8192a57844f5fbd26f2d"}])
    );
    assert_eq!(custom["finish_reason"], "tool_calls");

    // Server-run items: provider parts, never tool calls.
    let kinds = |f: &str| -> Vec<String> {
        e[f]["content"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| {
                p["kind"]
                    .as_str()
                    .unwrap_or(p["type"].as_str().unwrap())
                    .to_string()
            })
            .collect()
    };
    assert_eq!(
        kinds("openai-responses/web_search_call.sse"),
        ["thought", "web_search_call", "thought", "text"]
    );
    let search = &e["openai-responses/web_search_call.sse"]["content"][1]["json"];
    assert_eq!(
        search["id"],
        "ws_00a60507bf41223d0068c9d30021d081a0962d80d50c12e317"
    );
    assert_eq!(search["action"]["query"], "weather: San Francisco, CA");
    assert_eq!(
        kinds("openai-responses/file_search_call.sse"),
        ["file_search_call", "text"]
    );
    assert_eq!(
        e["openai-responses/file_search_call.sse"]["content"][0]["json"]["queries"],
        json!(["What is the capital of France?"])
    );
    assert_eq!(
        kinds("openai-responses/code_interpreter_call.sse"),
        [
            "thought",
            "code_interpreter_call",
            "code_interpreter_call",
            "code_interpreter_call",
            "text"
        ]
    );
    let code: Vec<&str> = e["openai-responses/code_interpreter_call.sse"]["content"]
        .as_array()
        .unwrap()[1..4]
        .iter()
        .map(|p| p["json"]["code"].as_str().unwrap())
        .collect();
    assert_eq!(
        code,
        [
            "n = pow(123456, 123)\nlen(str(n))",
            "str(n)[:100], str(n)[-100:]",
            "n"
        ]
    );
    assert_eq!(
        kinds("openai-responses/mcp_call.sse"),
        ["mcp_list_tools", "thought", "mcp_call", "thought", "text"]
    );
    let mcp = &e["openai-responses/mcp_call.sse"]["content"][2]["json"];
    assert_eq!(
        (mcp["name"].clone(), mcp["arguments"].clone()),
        (
            "ask_question".into(),
            r#"{"repoName":"pydantic/pydantic-ai","question":"What is the pydantic/pydantic-ai repository about?"}"#.into()
        )
    );
    for f in [
        "openai-responses/web_search_call.sse",
        "openai-responses/file_search_call.sse",
        "openai-responses/code_interpreter_call.sse",
        "openai-responses/mcp_call.sse",
    ] {
        assert_eq!(e[f]["finish_reason"], "stop", "{f}");
    }
}

/// A custom tool's free-text input streams as the arguments
/// `{"input": "…"}`: at every chunk the arguments so far parse as a
/// partial JSON object whose `input` is the text received so far, and the
/// whole is one JSON object, which the tool parser accepts.
#[test]
fn custom_tool_input_streams_as_a_json_object() {
    let body = wire("openai-responses/custom_tool_call_text.sse");
    let chunks: Vec<Chunk> = responses::decode_pieces(false, [&body[..]])
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let mut json = PartialJson::new();
    let mut args = String::new();
    let mut inputs = Vec::new();
    for c in &chunks {
        if let Chunk::ToolCall { delta, .. } = c {
            args.push_str(delta);
            json.feed(delta).unwrap();
            inputs.push(json.snapshot().unwrap()["input"].clone());
        }
    }
    // The opening `{"input":"`, the 24 pieces, the closing `"}`.
    assert_eq!(inputs.len(), 26);
    assert_eq!(inputs[0], "");
    assert_eq!(inputs[1], "<");
    assert_eq!(inputs[7], "<main><h1>Streaming");
    let whole =
        "<main><h1>Streaming custom tool input</h1><p>This must arrive progressively.</p></main>";
    assert_eq!(inputs[24], whole);
    assert_eq!(inputs[25], whole);
    assert_eq!(json.finish().unwrap(), json!({ "input": whole }));
    assert_eq!(responses::responses_decoder::custom_input(&args), whole);
}

// ----------------------------------------------------- bytes, no HTTP

fn decode(file: &str, pieces: Vec<&[u8]>) -> Vec<Result<Chunk, rivulet_core::Error>> {
    match file.split('/').next() {
        Some("openai-responses") => responses::decode_pieces(false, pieces),
        Some("cohere") => cohere::decode_pieces(false, pieces),
        _ => bedrock::decode_pieces(false, pieces),
    }
}

/// Every transcript split in two at every byte offset decodes the same as
/// whole (for Bedrock: every frame torn at every byte boundary reassembles),
/// and the whole matches the expectation.
#[test]
fn every_split_point() {
    let want = expectations();
    for (dir, ext) in DIRS {
        for file in wire_files(dir, ext) {
            let body = wire(&file);
            let whole = decode(&file, vec![&body[..]]);
            let diffs = compare(&fold(whole.clone()), &want[&file]);
            assert!(diffs.is_empty(), "{file}: {diffs:?}");
            if *ext == ".bin" {
                // Every frame torn at every byte boundary reassembles.
                let frames = eventstream::decode_pieces([&body[..]]);
                assert!(frames.iter().all(Result::is_ok), "{file}");
                for k in 0..=body.len() {
                    let torn = eventstream::decode_pieces([&body[..k], &body[k..]]);
                    assert_eq!(torn, frames, "{file} torn at byte {k}");
                }
            }
            // Through the decoder: about 300 offsets of each body (the
            // byte-by-byte runs, here and over HTTP, tear every event at
            // every byte anyway).
            let step = (body.len() / 300).max(1);
            for k in (0..=body.len()).step_by(step) {
                let split = decode(&file, vec![&body[..k], &body[k..]]);
                assert_eq!(split, whole, "{file} split at byte {k}");
            }
            let bytes = decode(&file, body.chunks(1).collect());
            assert_eq!(bytes, whole, "{file} byte by byte");
        }
    }
}

/// The offsets at which each eventstream message of `body` starts, read
/// from the big-endian length prefix of each.
fn frame_starts(body: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut at = 0;
    while at < body.len() {
        starts.push(at);
        let len = u32::from_be_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]);
        at += len as usize;
    }
    assert_eq!(at, body.len());
    starts
}

/// The text of `converse_stream_text.bin`'s first three deltas (its
/// messages 1–3 after `messageStart`, read off the `.decoded.txt`).
const FIRST_THREE_DELTAS: &str = "The capital of France is Paris. Paris is not";

#[test]
fn a_flipped_crc_bit_is_a_protocol_error_never_skipped() {
    let body = wire("bedrock/converse_stream_text.bin");
    let starts = frame_starts(&body);
    let fifth = starts[4];
    let sixth = starts[5];
    // Bit 0 of the prelude CRC (bytes 8..12) and of the message CRC (the
    // last 4 bytes) of the fifth message.
    for at in [fifth + 11, sixth - 1] {
        let mut bad = body.clone();
        bad[at] ^= 1;
        for pieces in [vec![&bad[..]], bad.chunks(7).collect()] {
            let out = fold(bedrock::decode_pieces(false, pieces));
            let err = out.error.as_ref().expect("an error");
            assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
            assert!(err.message().contains("checksum"), "{err}");
            assert_eq!(err.provider(), Some("bedrock"));
            assert_eq!(out.response.texts(), [FIRST_THREE_DELTAS]);
            assert_eq!(out.after_error, 0);
            check_grammar(&out.chunks).unwrap();
        }
    }
}

#[test]
fn a_body_cut_inside_a_frame_is_a_connection_error() {
    let body = wire("bedrock/converse_stream_text.bin");
    let starts = frame_starts(&body);
    let out = fold(bedrock::decode_pieces(false, [&body[..starts[4] + 20]]));
    let err = out.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::Connection);
    assert!(
        err.message()
            .contains("ended before the end of an eventstream message (20 bytes of it received)"),
        "{err}"
    );
    assert_eq!(out.response.texts(), [FIRST_THREE_DELTAS]);
    // Cut between two frames, before messageStop: truncated too.
    let out = fold(bedrock::decode_pieces(false, [&body[..starts[4]]]));
    let err = out.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::Connection);
    assert!(err.message().contains("ended before messageStop"), "{err}");
    assert_eq!(out.response.texts(), [FIRST_THREE_DELTAS]);
}

/// An eventstream frame built by hand from the format's description
/// (lengths, string headers, CRC-32 of the prelude and of the message).
fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut h = Vec::new();
    for (name, value) in headers {
        h.push(name.len() as u8);
        h.extend_from_slice(name.as_bytes());
        h.push(7);
        h.extend_from_slice(&(value.len() as u16).to_be_bytes());
        h.extend_from_slice(value.as_bytes());
    }
    let total = 16 + h.len() + payload.len();
    let mut out = Vec::new();
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(h.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&h);
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_be_bytes());
    out
}

fn exception_frame(kind: &str, message: &str) -> Vec<u8> {
    frame(
        &[
            (":exception-type", kind),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        json!({ "message": message }).to_string().as_bytes(),
    )
}

/// Four messages of `converse_stream_text.bin`, an exception, then the
/// rest (which must not be read).
fn text_then_exception(kind: &str) -> Vec<u8> {
    let body = wire("bedrock/converse_stream_text.bin");
    let cut = frame_starts(&body)[4];
    [
        &body[..cut],
        &exception_frame(kind, "Too many tokens, please wait.")[..],
        &body[cut..],
    ]
    .concat()
}

#[tokio::test]
async fn mid_stream_exceptions_are_typed_and_keep_prior_text() {
    for (kind, want) in [
        ("throttlingException", ErrorKind::RateLimit),
        ("modelStreamErrorException", ErrorKind::Server),
        ("validationException", ErrorKind::BadRequest),
        ("internalServerException", ErrorKind::Server),
        ("serviceUnavailableException", ErrorKind::Overloaded),
        ("accessDeniedException", ErrorKind::PermissionDenied),
    ] {
        let body = text_then_exception(kind);
        let server = Server::start(vec![Replay::new(200, body)
            .header("content-type", bedrock::EVENTSTREAM)
            .split(Split::Every(5))])
        .await;
        let p = provider("bedrock", &server.url());
        let out = run(p.as_ref(), &request(BEDROCK_MODEL)).await;
        let err = out.error.as_ref().expect("an error");
        assert_eq!(err.kind(), want, "{kind}");
        assert_eq!(err.message(), "Too many tokens, please wait.");
        assert_eq!(err.code(), Some(kind));
        assert_eq!(err.provider(), Some("bedrock"));
        assert_eq!(
            err.is_retryable(),
            matches!(
                want,
                ErrorKind::RateLimit | ErrorKind::Server | ErrorKind::Overloaded
            )
        );
        assert_eq!(out.response.texts(), [FIRST_THREE_DELTAS], "{kind}");
        assert_eq!(out.response.finish_reason, None);
        assert_eq!(out.chunks.last(), Some(&Chunk::TextEnd { part: 0 }));
        assert_eq!(out.after_error, 0);
    }
}

#[test]
fn raw_events_show_the_sdk_shape() {
    use rivulet_providers::bedrock::bedrock_wire::BedrockEvent;
    let body = wire("bedrock/converse_stream_tool_use.bin");
    let plain = bedrock::decode_pieces(false, [&body[..]]);
    let raw = bedrock::decode_pieces(true, [&body[..]]);
    let raws: Vec<_> = raw
        .iter()
        .filter_map(|c| match c {
            Ok(Chunk::Raw(r)) => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(raws.len(), frame_starts(&body).len());
    let start: Value = serde_json::from_str(raws[0].json()).unwrap();
    assert_eq!(start["messageStart"]["role"], "assistant");
    assert!(matches!(
        raws[21].downcast_ref::<BedrockEvent>(),
        Some(BedrockEvent::ContentBlockStart(_))
    ));
    let without: Vec<_> = raw
        .into_iter()
        .filter(|c| !matches!(c, Ok(Chunk::Raw(_))))
        .collect();
    assert_eq!(without, plain);

    use rivulet_providers::responses::responses_wire::ResponsesEvent;
    let body = wire("openai-responses/text.sse");
    let raw = responses::decode_pieces(true, [&body[..]]);
    let first = raw.iter().find_map(|c| match c {
        Ok(Chunk::Raw(r)) => Some(r.clone()),
        _ => None,
    });
    assert!(matches!(
        first.unwrap().downcast_ref::<ResponsesEvent>(),
        Some(ResponsesEvent::Created { .. })
    ));
}
