//! The request bodies the anthropic, google and vertex providers send,
//! against the bodies recorded beside the transcripts: each recorded body
//! is read back into the core `Request` it stands for, that request is sent
//! through the provider to the loopback server, and what arrives is
//! compared with the recording as JSON values, after normalizing the
//! differences that carry no meaning (listed per protocol below).

mod common;

use std::sync::Arc;

use common::{base64_any, request, run, standard_base64, KEY};
use rivulet_core::{
    CacheBreakpoints, CacheTtl, ContentPart, Format, Media, Message, Provider, Request, Role,
    ThinkingLevel, Thought, ToolCall, ToolChoice, ToolDefinition, ToolOutput,
};
use rivulet_testkit::{wire, wire_files, RecordedRequest, Replay, Server};
use serde_json::{json, Map, Value};

fn provider(id: &str, url: &str) -> Arc<dyn Provider> {
    common::provider_or_vertex(id, url)
}

/// A loopback server that answers one stream in `id`'s protocol.
async fn server_for(id: &str) -> Server {
    let ok = if id == "anthropic" {
        "anthropic/text.sse"
    } else {
        "gemini/text.sse"
    };
    Server::start(vec![Replay::sse(wire(ok))]).await
}

/// Sends `req` through provider `id` and returns what the server received.
async fn sent(id: &str, req: &Request) -> RecordedRequest {
    let server = server_for(id).await;
    let p = provider(id, &server.url());
    let out = run(p.as_ref(), req).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    server.requests().remove(0)
}

fn level(budget: u64) -> Option<ThinkingLevel> {
    match budget {
        1024 => Some(ThinkingLevel::Low),
        4096 => Some(ThinkingLevel::Medium),
        16384 => Some(ThinkingLevel::High),
        _ => None,
    }
}

// ---------------------------------------------------------------- Anthropic

/// The core request a recorded Messages body stands for.
fn anthropic_request(recorded: &Value) -> Request {
    let blocks = |content: &Value| -> Vec<ContentPart> {
        match content {
            Value::String(s) => vec![ContentPart::text(s.clone())],
            Value::Array(items) => items
                .iter()
                .map(|b| match b["type"].as_str().unwrap() {
                    "text" => ContentPart::text(b["text"].as_str().unwrap()),
                    "thinking" => ContentPart::Thought(Thought {
                        thought: b["thinking"].as_str().unwrap().into(),
                        signature: Some(b["signature"].as_str().unwrap().into()),
                        redacted: None,
                    }),
                    "redacted_thinking" => ContentPart::Thought(Thought {
                        redacted: Some(b["data"].as_str().unwrap().into()),
                        ..Default::default()
                    }),
                    "tool_use" => ContentPart::ToolCall(ToolCall {
                        id: b["id"].as_str().unwrap().into(),
                        name: b["name"].as_str().unwrap().into(),
                        args: b["input"].to_string(),
                        signature: None,
                    }),
                    "tool_result" => ContentPart::ToolOutput(ToolOutput {
                        id: b["tool_use_id"].as_str().unwrap().into(),
                        result: b["content"].as_str().unwrap().into(),
                        ..Default::default()
                    }),
                    kind @ ("image" | "document") => {
                        let source = &b["source"];
                        let media_type = || source["media_type"].as_str().unwrap();
                        let data = source["data"].as_str().unwrap_or_default();
                        let media = match source["type"].as_str().unwrap() {
                            "url" => Media::url(source["url"].as_str().unwrap()),
                            "base64" => Media::data(media_type(), base64_any(data)),
                            "text" => Media::data(media_type(), data.as_bytes().to_vec()),
                            other => panic!("source {other}"),
                        };
                        if kind == "image" {
                            ContentPart::Image(media)
                        } else {
                            ContentPart::File(media)
                        }
                    }
                    other => panic!("block {other}"),
                })
                .collect(),
            other => panic!("content {other}"),
        }
    };
    let mut messages = Vec::new();
    match &recorded["system"] {
        Value::Null => {}
        system => messages.push(Message {
            role: Role::System,
            content: blocks(system),
        }),
    }
    for m in recorded["messages"].as_array().unwrap() {
        let role = match m["role"].as_str().unwrap() {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => panic!("role {other}"),
        };
        messages.push(Message {
            role,
            content: blocks(&m["content"]),
        });
    }
    let tools = recorded["tools"]
        .as_array()
        .into_iter()
        .flatten()
        // Server tools (`{"type": "code_execution_…"}`) are not client tools.
        .filter(|t| t.get("input_schema").is_some())
        .map(|t| ToolDefinition {
            name: t["name"].as_str().unwrap().into(),
            description: t["description"].as_str().unwrap_or_default().into(),
            parameters: t["input_schema"].clone(),
        })
        .collect();
    let mut req = Request {
        model: recorded["model"].as_str().unwrap().into(),
        messages,
        tools,
        ..Default::default()
    };
    req.params.max_tokens = recorded["max_tokens"].as_u64().map(|n| n as u32);
    req.params.temperature = recorded["temperature"].as_f64();
    req.params.tool_choice = match recorded["tool_choice"]["type"].as_str() {
        Some("auto") => Some(ToolChoice::Auto),
        Some("none") => Some(ToolChoice::None),
        Some("any") => Some(ToolChoice::Required),
        Some("tool") => Some(ToolChoice::Tool(
            recorded["tool_choice"]["name"].as_str().unwrap().into(),
        )),
        _ => None,
    };
    req.cache = anthropic_cache(recorded);
    req.params.thinking = recorded["thinking"]["budget_tokens"]
        .as_u64()
        .and_then(level);
    req
}

/// The cache breakpoints a recorded body carries: `cache_control` on the
/// system prompt, on the last tool, on the last block of the last message
/// (a breakpoint anywhere else has no rivulet form: the test would fail).
fn anthropic_cache(recorded: &Value) -> Option<CacheBreakpoints> {
    let control = |v: &Value| v.get("cache_control").cloned();
    let last = |v: &Value| v.as_array().and_then(|a| a.last()).cloned();
    let system = recorded["system"]
        .as_array()
        .and_then(|blocks| blocks.iter().find_map(control));
    let tools = last(&recorded["tools"]).and_then(|t| control(&t));
    let messages = last(&recorded["messages"])
        .and_then(|m| last(&m["content"]))
        .and_then(|b| control(&b));
    let any = system.as_ref().or(tools.as_ref()).or(messages.as_ref())?;
    Some(CacheBreakpoints {
        system: system.is_some(),
        tools: tools.is_some(),
        messages: messages.is_some(),
        ttl: any["ttl"].as_str().map(|t| match t {
            "5m" => CacheTtl::FiveMinutes,
            "1h" => CacheTtl::OneHour,
            other => panic!("ttl {other}"),
        }),
    })
}

/// Meaningless differences: a string content is a single text block, a
/// system prompt as one block without `cache_control` is its text.
fn anthropic_normal(body: &Value, not_ours: &[&str]) -> Value {
    let mut v = body.clone();
    let m = v.as_object_mut().unwrap();
    for k in not_ours {
        m.remove(*k);
    }
    if let Some(Value::Array(blocks)) = m.get("system") {
        if blocks.iter().all(|b| b.get("cache_control").is_none()) {
            let text: Vec<&str> = blocks.iter().filter_map(|b| b["text"].as_str()).collect();
            m.insert("system".into(), json!(text.join("\n\n")));
        }
    }
    for msg in m["messages"].as_array_mut().unwrap() {
        if let Value::String(s) = &msg["content"] {
            msg["content"] = json!([{"type": "text", "text": s}]);
        }
    }
    v
}

#[tokio::test]
async fn anthropic_bodies_match_the_recorded_requests() {
    let files = wire_files("anthropic", ".request.json");
    assert_eq!(files.len(), 20);
    for file in files {
        let recorded: Value = serde_json::from_slice(&wire(&file)).unwrap();
        // Fields of the recording no core Request expresses.
        let mut not_ours: Vec<&str> = if file.ends_with("server_tool_code_execution.request.json") {
            // A server tool, its tool_choice, and a 3000-token budget.
            vec!["tools", "tool_choice", "thinking"]
        } else if file.ends_with("compaction_usage_falls.request.json") {
            // Server-side compaction, and automatic caching (a top-level
            // `cache_control`; rivulet marks the blocks themselves).
            vec!["context_management", "cache_control"]
        } else {
            vec![]
        };
        if recorded["stream"] == false {
            // Recorded without streaming (we stream).
            not_ours.push("stream");
        }
        let not_ours = &not_ours[..];
        let req = anthropic_request(&recorded);
        let got = sent("anthropic", &req).await;
        assert_eq!(got.path, "/v1/messages", "{file}");
        assert_eq!(got.header("anthropic-version"), Some("2023-06-01"));
        assert_eq!(got.header("x-api-key"), Some(KEY));
        assert_eq!(got.header("content-type"), Some("application/json"));
        assert_eq!(
            anthropic_normal(&got.json(), not_ours),
            anthropic_normal(&recorded, not_ours),
            "{file}"
        );
        assert_eq!(got.json()["stream"], true, "{file}");
    }
}

/// The thinking request is a resumed conversation: the assistant turn sends
/// its thinking block back with the signature, byte for byte.
#[tokio::test]
async fn anthropic_thinking_goes_back_with_its_signature() {
    let recorded: Value = serde_json::from_slice(&wire("anthropic/thinking.request.json")).unwrap();
    let got = sent("anthropic", &anthropic_request(&recorded))
        .await
        .json();
    let block = &got["messages"][1]["content"][0];
    assert_eq!(block["type"], "thinking");
    assert_eq!(
        block["signature"],
        recorded["messages"][1]["content"][0]["signature"]
    );
    assert_eq!(
        block["thinking"],
        recorded["messages"][1]["content"][0]["thinking"]
    );
    assert_eq!(
        got["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024})
    );
}

/// Structured output through a forced tool, whose streamed input comes out
/// as text, with a `stop` finish.
#[tokio::test]
async fn anthropic_format_is_a_forced_tool_streamed_as_text() {
    let stream = concat!(
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_f\",\"model\":\"claude\",\"usage\":{\"input_tokens\":20,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_f\",\"name\":\"__rivulet_format__\",\"input\":{}}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"title\\\": \\\"Dune\"}}\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},\"usage\":{\"output_tokens\":12}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let server = Server::start(vec![Replay::sse(stream)]).await;
    let p = provider("anthropic", &server.url());
    let mut req = request("claude");
    let schema = json!({"type": "object", "properties": {"title": {"type": "string"}}});
    req.format = Some(Format {
        name: "Book".into(),
        schema: schema.clone(),
    });
    let out = run(p.as_ref(), &req).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.response.text(), r#"{"title": "Dune"}"#);
    assert!(out.response.tool_calls().is_empty());
    assert_eq!(
        out.response.finish_reason,
        Some(rivulet_core::FinishReason::Stop)
    );
    assert_eq!(out.response.raw_finish_reason.as_deref(), Some("tool_use"));
    let body = server.requests()[0].json();
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "__rivulet_format__"})
    );
    assert_eq!(body["tools"][0]["input_schema"], schema);
}

// -------------------------------------------------------------------- Gemini

/// The core request a recorded generateContent body stands for.
fn gemini_request(recorded: &Value) -> Request {
    let text = |c: &Value| -> String {
        c["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["text"].as_str().unwrap())
            .collect()
    };
    // Text parts joined, as one text part; images and files as theirs.
    let parts = |c: &Value| -> Vec<ContentPart> {
        let mut out = vec![ContentPart::text(String::new())];
        for p in c["parts"].as_array().unwrap() {
            let field = |camel: &str, snake: &str| p.get(camel).or_else(|| p.get(snake)).cloned();
            let media = if let Some(blob) = field("inlineData", "inline_data") {
                let mime = blob.get("mimeType").or_else(|| blob.get("mime_type"));
                Media::data(
                    mime.unwrap().as_str().unwrap(),
                    base64_any(blob["data"].as_str().unwrap()),
                )
            } else if let Some(file) = field("fileData", "file_data") {
                let uri = file.get("fileUri").or_else(|| file.get("file_uri"));
                let mime = file.get("mimeType").or_else(|| file.get("mime_type"));
                let m = Media::url(uri.unwrap().as_str().unwrap());
                match mime {
                    Some(mime) => m.with_media_type(mime.as_str().unwrap()),
                    None => m,
                }
            } else {
                if let ContentPart::Text(t) = &mut out[0] {
                    t.text.push_str(p["text"].as_str().unwrap());
                }
                continue;
            };
            let image = media
                .media_type
                .as_deref()
                .unwrap_or("")
                .starts_with("image/");
            out.push(if image {
                ContentPart::Image(media)
            } else {
                ContentPart::File(media)
            });
        }
        out
    };
    let mut messages = Vec::new();
    if !recorded["systemInstruction"].is_null() {
        messages.push(Message::system(text(&recorded["systemInstruction"])));
    }
    for c in recorded["contents"].as_array().unwrap() {
        let role = match c["role"].as_str().unwrap() {
            "user" => Role::User,
            "model" => Role::Assistant,
            other => panic!("role {other}"),
        };
        messages.push(Message {
            role,
            content: parts(c),
        });
    }
    let tools = recorded["tools"]
        .as_array()
        .into_iter()
        .flatten()
        // Built-in tools (`{"codeExecution": {}}`) are not client tools.
        .filter_map(|t| t["functionDeclarations"].as_array())
        .flatten()
        .map(|f| ToolDefinition {
            name: f["name"].as_str().unwrap().into(),
            description: f["description"].as_str().unwrap_or_default().into(),
            parameters: f
                .get("parameters")
                .or_else(|| f.get("parameters_json_schema"))
                .cloned()
                .unwrap(),
        })
        .collect();
    let config = &recorded["generationConfig"];
    let mut req = Request {
        model: "test-model".into(),
        messages,
        tools,
        ..Default::default()
    };
    req.format = config.get("responseJsonSchema").map(|schema| Format {
        name: schema["title"].as_str().unwrap_or_default().into(),
        schema: schema.clone(),
    });
    req.params.temperature = config["temperature"].as_f64();
    req.params.max_tokens = config["maxOutputTokens"].as_u64().map(|n| n as u32);
    let calling = &recorded["toolConfig"]["functionCallingConfig"];
    req.params.tool_choice = match (calling["mode"].as_str(), &calling["allowedFunctionNames"]) {
        (Some("AUTO"), _) => Some(ToolChoice::Auto),
        (Some("NONE"), _) => Some(ToolChoice::None),
        (Some("ANY"), Value::Array(names)) if names.len() == 1 => {
            Some(ToolChoice::Tool(names[0].as_str().unwrap().into()))
        }
        (Some("ANY"), _) => Some(ToolChoice::Required),
        _ => None,
    };
    // A budget that is none of ours: thinking on all the same, and the
    // budget left out of the comparison.
    req.params.thinking = config["thinkingConfig"]["thinking_budget"]
        .as_u64()
        .map(|b| level(b).unwrap_or(ThinkingLevel::Medium));
    req
}

/// Meaningless differences: the API takes snake_case and camelCase alike
/// (proto JSON); an empty `generationConfig` is an absent one; we always
/// send JSON Schema parameters (`parametersJsonSchema`), never the OpenAPI
/// subset (`parameters`), whatever the schema holds.
fn gemini_normal(body: &Value, not_ours: &[&str]) -> Value {
    let mut v = body.clone();
    let m = v.as_object_mut().unwrap();
    for key in not_ours.iter().filter(|k| !k.contains('.')) {
        m.remove(*key);
    }
    if let Some(Value::Object(config)) = m.get_mut("generationConfig") {
        if let Some(Value::Object(thinking)) = config.get_mut("thinkingConfig") {
            rename(thinking, "include_thoughts", "includeThoughts");
            rename(thinking, "thinking_budget", "thinkingBudget");
        }
        for path in not_ours {
            if let Some(key) = path.strip_prefix("generationConfig.") {
                match key.split_once('.') {
                    Some((outer, inner)) => {
                        if let Some(Value::Object(o)) = config.get_mut(outer) {
                            o.remove(inner);
                        }
                    }
                    None => {
                        config.remove(key);
                    }
                }
            }
        }
        if config.is_empty() {
            m.remove("generationConfig");
        }
    }
    for tool in items(m, "tools") {
        for f in tool["functionDeclarations"].as_array_mut().unwrap() {
            let f = f.as_object_mut().unwrap();
            rename(f, "parameters_json_schema", "parametersJsonSchema");
            rename(f, "parameters", "parametersJsonSchema");
        }
    }
    // Images and files: snake_case as camelCase, base64 in the standard
    // alphabet (google-genai sends the URL-safe one).
    for content in items(m, "contents") {
        for part in content["parts"].as_array_mut().unwrap() {
            let part = part.as_object_mut().unwrap();
            rename(part, "inline_data", "inlineData");
            rename(part, "file_data", "fileData");
            for key in ["inlineData", "fileData"] {
                if let Some(Value::Object(o)) = part.get_mut(key) {
                    rename(o, "mime_type", "mimeType");
                    rename(o, "file_uri", "fileUri");
                    if let Some(Value::String(data)) = o.get_mut("data") {
                        *data = standard_base64(data);
                    }
                }
            }
        }
    }
    v
}

/// The entries of the array at `key`, if there is one.
fn items<'a>(m: &'a mut Map<String, Value>, key: &str) -> impl Iterator<Item = &'a mut Value> {
    m.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
}

fn rename(m: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(x) = m.remove(from) {
        m.insert(to.into(), x);
    }
}

#[tokio::test]
async fn gemini_bodies_match_the_recorded_requests() {
    let files = wire_files("gemini", ".request.json");
    assert_eq!(files.len(), 18);
    for file in files {
        let recorded: Value = serde_json::from_slice(&wire(&file)).unwrap();
        let id = if file.contains("vertex") {
            "vertex"
        } else {
            "google"
        };
        let mut not_ours = vec![
            // Sent by the recording clients; text is the default.
            "generationConfig.responseModalities",
            // thoughts.request.json asks for 6400 tokens, not one of our levels.
            "generationConfig.thinkingConfig.thinkingBudget",
        ];
        if file.contains("usage_falls") || file.contains("usage_omitted") {
            // Built-in tools (code execution, search) and their tool config.
            not_ours.extend(["tools", "toolConfig"]);
        }
        let not_ours = &not_ours[..];
        let req = gemini_request(&recorded);
        let got = sent(id, &req).await;
        let want_path = if id == "vertex" {
            "/v1/projects/p/locations/global/publishers/google/models/test-model:streamGenerateContent?alt=sse"
        } else {
            "/v1beta/models/test-model:streamGenerateContent?alt=sse"
        };
        assert_eq!(got.path, want_path, "{file}");
        if id == "vertex" {
            assert_eq!(
                got.header("authorization"),
                Some(format!("Bearer {KEY}").as_str())
            );
            assert_eq!(got.header("x-goog-api-key"), None);
        } else {
            assert_eq!(got.header("x-goog-api-key"), Some(KEY));
            assert_eq!(got.header("authorization"), None);
        }
        assert_eq!(
            gemini_normal(&got.json(), not_ours),
            gemini_normal(&recorded, not_ours),
            "{file}"
        );
    }
    // The budget itself, for the levels.
    let mut req = request("m");
    req.params.thinking = Some(ThinkingLevel::High);
    assert_eq!(
        sent("google", &req).await.json()["generationConfig"]["thinkingConfig"],
        json!({"includeThoughts": true, "thinkingBudget": 16384})
    );
}

/// A decoded Gemini 3 function call goes back with its signature, and its
/// result as a functionResponse.
#[tokio::test]
async fn gemini_signatures_go_back_in_history() {
    let body = wire("gemini/function_call_thought_signature_gemini3.sse");
    let out = common::fold(rivulet_providers::google::decode_pieces(
        "google",
        false,
        [&body[..]],
    ));
    let call = out.response.tool_calls()[0].clone();
    let signature = call.signature.clone().unwrap();
    let mut req = request("gemini-3-pro-preview");
    req.messages.extend(out.response.messages());
    req.messages.push(Message {
        role: Role::Tool,
        content: vec![ContentPart::ToolOutput(ToolOutput {
            id: call.id.clone(),
            name: call.name.clone(),
            result: r#"{"country": "France"}"#.into(),
            is_error: false,
            attachments: Vec::new(),
        })],
    });
    let got = sent("google", &req).await.json();
    assert_eq!(
        got["contents"],
        json!([
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [
                {"functionCall": {"name": "get_country", "args": {}}, "thoughtSignature": signature},
            ]},
            {"role": "user", "parts": [
                {"functionResponse": {"name": "get_country", "response": {"output": {"country": "France"}}}},
            ]},
        ])
    );

    // A signature that came on a text part goes back on that text.
    let body = wire("gemini/vertex_text.sse");
    let out = common::fold(rivulet_providers::google::decode_pieces(
        "vertex",
        false,
        [&body[..]],
    ));
    let mut req = request("m");
    req.messages.extend(out.response.messages());
    let got = sent("vertex", &req).await.json();
    let part = &got["contents"][1]["parts"][0];
    assert_eq!(part["text"], "OK");
    assert!(part["thoughtSignature"]
        .as_str()
        .unwrap()
        .starts_with("CiQBjz1rX"));
    assert_eq!(got["contents"][1]["parts"].as_array().unwrap().len(), 1);
}

/// Kinds Anthropic and Gemini cannot take are refused before sending.
#[tokio::test]
async fn unsupported_media_is_refused_before_sending() {
    let untyped = Media {
        media_type: None,
        ..Media::data("image/png", b"\x89PNG".to_vec())
    };
    let cases: Vec<(&str, ContentPart, &str)> = vec![
        (
            "anthropic",
            ContentPart::Image(Media::data("image/tiff", b"II*".to_vec())),
            "anthropic cannot take an image of type image/tiff (it takes JPEG, PNG, GIF and WebP)",
        ),
        (
            "anthropic",
            ContentPart::File(Media::data("text/csv", b"a,b".to_vec())),
            "anthropic cannot take a file of type text/csv (it takes PDF and plain text)",
        ),
        (
            "google",
            ContentPart::Image(untyped),
            "google cannot take an image without a media type (unknown type, 4 bytes)",
        ),
    ];
    for (id, part, message) in cases {
        let server = server_for(id).await;
        let p = provider(id, &server.url());
        let mut req = request("m");
        req.messages[0].content.push(part);
        let e = run(p.as_ref(), &req).await.error.expect("an error");
        assert_eq!(e.kind(), rivulet_core::ErrorKind::Unsupported, "{id}");
        assert_eq!(e.message(), message, "{id}");
        assert!(server.requests().is_empty(), "{id}: a request was sent");
    }
}

/// Options without a recorded request (SOURCES.md), in the shapes the
/// providers document: Anthropic's `disable_parallel_tool_use` and a 1h
/// cache on the system prompt and the last tool; the caller's tool choice
/// over a format's forced tool; Gemini's `candidateCount`, and its refusal
/// of `parallel_tool_calls: false`.
#[tokio::test]
async fn options_in_their_documented_shapes() {
    let tool = |name: &str| ToolDefinition {
        name: name.into(),
        description: String::new(),
        parameters: json!({"type": "object"}),
    };
    let mut req = request("claude");
    req.messages.insert(0, Message::system("Be brief."));
    req.tools = vec![tool("a"), tool("b")];
    req.params.parallel_tool_calls = Some(false);
    req.cache = Some(CacheBreakpoints {
        system: true,
        tools: true,
        messages: false,
        ttl: Some(CacheTtl::OneHour),
    });
    let body = sent("anthropic", &req).await.json();
    let hour = json!({"type": "ephemeral", "ttl": "1h"});
    assert_eq!(
        body["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "Be brief.", "cache_control": hour}])
    );
    assert!(body["tools"][0].get("cache_control").is_none());
    assert_eq!(body["tools"][1]["cache_control"], hour);
    assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));

    // A format and a caller's choice: the choice wins, the format is asked
    // for in the system prompt; `none` with a format cannot work.
    req.cache = None;
    req.params.parallel_tool_calls = None;
    req.params.tool_choice = Some(ToolChoice::Tool("a".into()));
    req.format = Some(Format {
        name: "Book".into(),
        schema: json!({"type": "object"}),
    });
    let body = sent("anthropic", &req).await.json();
    assert_eq!(body["tool_choice"], json!({"type": "tool", "name": "a"}));
    assert!(body["system"]
        .as_str()
        .unwrap()
        .contains("__rivulet_format__"));
    req.params.tool_choice = Some(ToolChoice::None);
    let server = server_for("anthropic").await;
    let p = provider("anthropic", &server.url());
    let e = run(p.as_ref(), &req).await.error.expect("an error");
    assert_eq!(e.kind(), rivulet_core::ErrorKind::BadRequest);
    assert!(server.requests().is_empty());

    let mut req = request("gemini-2.5-flash");
    req.params.n = Some(3);
    let body = sent("google", &req).await.json();
    assert_eq!(body["generationConfig"], json!({"candidateCount": 3}));
    req.params.parallel_tool_calls = Some(false);
    let server = server_for("google").await;
    let p = provider("google", &server.url());
    let e = run(p.as_ref(), &req).await.error.expect("an error");
    assert_eq!(
        e.message(),
        "google cannot take parallel_tool_calls: false (it has no switch for it)"
    );
    assert!(server.requests().is_empty());
}
