//! What goes over the wire: request bodies against the recorded ones,
//! authentication headers, the key kept out of prints, errors and logs,
//! and the `stream_options` fallback.

mod common;

use std::time::Duration;

use common::{media_from_url, provider, request, run, KEY};
use rivulet_core::{
    ApiKey, ContentPart, ErrorKind, Format, Message, Role, ThinkingLevel, ToolCall, ToolChoice,
    ToolDefinition, ToolOutput,
};
use rivulet_providers::{family, OpenAiCompatible, ProviderConfig};
use rivulet_testkit::{wire, RecordedRequest, Replay, Server};
use serde_json::{json, Value};

/// A short complete stream, for tests that only look at the request.
fn ok_stream() -> Replay {
    Replay::generated(1, Duration::ZERO, "ok")
}

/// Sends `req` through provider `id` and returns what the server received.
async fn sent(id: &str, req: &rivulet_core::Request) -> RecordedRequest {
    let server = Server::start(vec![ok_stream()]).await;
    let p = provider(id, &common::base_url(id, &server.url()));
    let out = run(p.as_ref(), req).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    server.requests().remove(0)
}

/// The core request a recorded Chat Completions body stands for.
fn core_request(recorded: &Value) -> rivulet_core::Request {
    let messages = recorded["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let role = match m["role"].as_str().unwrap() {
                "system" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                "tool" => Role::Tool,
                other => panic!("role {other}"),
            };
            let mut content = match &m["content"] {
                Value::String(text) if role == Role::Tool => {
                    vec![ContentPart::ToolOutput(ToolOutput {
                        id: m["tool_call_id"].as_str().unwrap().into(),
                        result: text.clone(),
                        ..Default::default()
                    })]
                }
                Value::String(text) => vec![ContentPart::text(text.clone())],
                Value::Array(parts) => parts.iter().map(chat_part).collect(),
                _ => Vec::new(),
            };
            for call in m["tool_calls"].as_array().into_iter().flatten() {
                content.push(ContentPart::ToolCall(ToolCall {
                    id: call["id"].as_str().unwrap().into(),
                    name: call["function"]["name"].as_str().unwrap().into(),
                    args: call["function"]["arguments"].as_str().unwrap().into(),
                    signature: None,
                }));
            }
            Message { role, content }
        })
        .collect();
    let tools = recorded["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|t| ToolDefinition {
                    name: t["function"]["name"].as_str().unwrap().into(),
                    description: t["function"]["description"]
                        .as_str()
                        .unwrap_or_default()
                        .into(),
                    parameters: t["function"]["parameters"].clone(),
                })
                .collect()
        })
        .unwrap_or_default();
    let format = recorded["response_format"]["json_schema"]
        .as_object()
        .map(|f| Format {
            name: f["name"].as_str().unwrap().into(),
            schema: f["schema"].clone(),
        });
    let mut req = rivulet_core::Request {
        model: recorded["model"].as_str().unwrap().into(),
        messages,
        tools,
        format,
        ..Default::default()
    };
    req.params.max_tokens = recorded["max_completion_tokens"]
        .as_u64()
        .or(recorded["max_tokens"].as_u64())
        .map(|n| n as u32);
    req.params.tool_choice = match &recorded["tool_choice"] {
        Value::String(mode) => match mode.as_str() {
            "auto" => Some(ToolChoice::Auto),
            "none" => Some(ToolChoice::None),
            "required" | "any" => Some(ToolChoice::Required),
            other => panic!("tool_choice {other}"),
        },
        Value::Object(named) => Some(ToolChoice::Tool(
            named["function"]["name"].as_str().unwrap().into(),
        )),
        _ => None,
    };
    req
}

/// A recorded content part as the core part it stands for.
fn chat_part(part: &Value) -> ContentPart {
    match part["type"].as_str().unwrap() {
        "text" => ContentPart::text(part["text"].as_str().unwrap()),
        "image_url" => {
            let url = &part["image_url"];
            ContentPart::Image(media_from_url(
                url["url"].as_str().or(url.as_str()).unwrap(),
            ))
        }
        "file" => {
            let file = &part["file"];
            ContentPart::File(
                media_from_url(file["file_data"].as_str().unwrap())
                    .with_filename(file["filename"].as_str().unwrap()),
            )
        }
        "document_url" => ContentPart::File(media_from_url(part["document_url"].as_str().unwrap())),
        other => panic!("part {other}"),
    }
}

/// The recorded messages in the equivalent form we send: content that is
/// all text as one string (what we send for text), an assistant turn that
/// only calls tools with `content: null`.
fn normal_messages(messages: &mut Value) {
    for m in messages.as_array_mut().unwrap() {
        let text_only: Option<String> = m["content"].as_array().and_then(|parts| {
            parts
                .iter()
                .map(|p| (p["type"] == "text").then(|| p["text"].as_str().unwrap()))
                .collect()
        });
        if let Some(text) = text_only {
            m["content"] = json!(text);
        }
        if m["role"] == "assistant" && m.get("content").is_none() {
            m["content"] = Value::Null;
        }
    }
}

/// Compares our body with the recorded one field by field. `not_ours`:
/// recorded fields we do not set; `only_ours`: fields we add that the
/// recorded client did not send.
fn compare_bodies(
    file: &str,
    ours: &Value,
    recorded: &Value,
    not_ours: &[&str],
    only_ours: &[&str],
) {
    let mut recorded = recorded.clone();
    normal_messages(&mut recorded["messages"]);
    // We do not send `strict` on tool definitions.
    if let Some(tools) = recorded.get_mut("tools").and_then(Value::as_array_mut) {
        for t in tools {
            t["function"].as_object_mut().unwrap().remove("strict");
        }
    }
    for (k, v) in recorded.as_object().unwrap() {
        if !not_ours.contains(&k.as_str()) {
            assert_eq!(&ours[k], v, "{file}: field {k}");
        }
    }
    for k in ours.as_object().unwrap().keys() {
        assert!(
            recorded.get(k).is_some() || only_ours.contains(&k.as_str()),
            "{file}: we send {k}, the recorded request does not"
        );
    }
}

#[tokio::test]
async fn bodies_match_the_recorded_requests() {
    // (file, provider, recorded fields we do not set, fields only we send)
    let cases: &[(&str, &str, &[&str], &[&str])] = &[
        (
            "openai-chat/text_include_usage.request.json",
            "openai",
            &[],
            &[],
        ),
        (
            "openai-chat/error_http401_invalid_key.request.json",
            "openai",
            &[],
            &[],
        ),
        (
            "openai-chat/finish_length_reasoning_model.request.json",
            "openai",
            &[],
            &[],
        ),
        ("openai-chat/refusal_2.request.json", "openai", &[], &[]),
        (
            "openai-chat/parallel_tool_calls_2.request.json",
            "openai",
            &[],
            &[],
        ),
        (
            "openai-chat/moderation_trailing_chunk.request.json",
            "openai",
            &["moderation"],
            &[],
        ),
        (
            "deepseek/reasoner_reasoning_content.request.json",
            "deepseek",
            &[],
            &[],
        ),
        (
            "openrouter/anthropic_via_openrouter.request.json",
            "openrouter",
            &[],
            &[],
        ),
        // OpenRouter takes either name; we send `max_tokens` outside OpenAI.
        (
            "openrouter/mid_stream_error_chunk.request.json",
            "openrouter",
            &["max_completion_tokens"],
            &["max_tokens"],
        ),
        (
            "mistral/magistral_thinking.request.json",
            "mistral",
            &[],
            &["stream_options"],
        ),
        (
            "groq/compound_web_search.request.json",
            "groq",
            &["n"],
            &["stream_options"],
        ),
        (
            "groq/error_event_after_text.request.json",
            "groq",
            &["n"],
            &["stream_options"],
        ),
        (
            "groq/error_event_tool_use_failed.request.json",
            "groq",
            &["n"],
            &["stream_options"],
        ),
        (
            "groq/reasoning_tool_call_x_groq_usage.request.json",
            "groq",
            &["n"],
            &["stream_options"],
        ),
        // Images and files, recorded without streaming.
        (
            "openai-chat/image_base64_input.request.json",
            "openai",
            &["stream"],
            &["stream_options"],
        ),
        (
            "openai-chat/file_pdf_base64_input.request.json",
            "openai",
            &["stream", "n"],
            &["stream_options"],
        ),
        (
            "openai-chat/image_url_after_tool_output.request.json",
            "openai",
            &["stream", "n"],
            &["stream_options"],
        ),
        // tool_choice: required, a named tool, none.
        (
            "openai-chat/tool_choice_required.request.json",
            "openai",
            &["stream"],
            &["stream_options"],
        ),
        (
            "openai-chat/tool_choice_named.request.json",
            "openai",
            &["stream"],
            &["stream_options"],
        ),
        (
            "openai-chat/tool_choice_none.request.json",
            "openai",
            &["stream"],
            &["stream_options"],
        ),
        (
            "groq/image_url_input.request.json",
            "groq",
            &["stream", "n"],
            &["stream_options"],
        ),
    ];
    for (file, id, not_ours, only_ours) in cases {
        let recorded: Value = serde_json::from_slice(&wire(file)).unwrap();
        let req = sent(id, &core_request(&recorded)).await;
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/v1/chat/completions");
        assert_eq!(req.header("content-type"), Some("application/json"));
        let ours = req.json();
        compare_bodies(file, &ours, &recorded, not_ours, only_ours);
        if *file == "openrouter/mid_stream_error_chunk.request.json" {
            assert_eq!(ours["max_tokens"], 10);
        }
        assert_eq!(ours["stream"], true, "{file}");
        assert_eq!(
            ours["stream_options"],
            json!({"include_usage": true}),
            "{file}"
        );
    }
}

#[tokio::test]
async fn parameters_and_thinking() {
    let mut req = request("gpt-5");
    req.params.temperature = Some(0.25);
    req.params.top_p = Some(0.5);
    req.params.seed = Some(42);
    req.params.stop = vec!["###".into()];
    req.params.thinking = Some(ThinkingLevel::Low);
    let body = sent("openai", &req).await.json();
    assert_eq!(body["temperature"], 0.25);
    assert_eq!(body["top_p"], 0.5);
    assert_eq!(body["seed"], 42);
    assert_eq!(body["stop"], json!(["###"]));
    assert_eq!(body["reasoning_effort"], "low");
    for id in ["groq", "xai", "openrouter"] {
        assert_eq!(
            sent(id, &req).await.json()["reasoning_effort"],
            "low",
            "{id}"
        );
    }
    for id in [
        "deepseek", "mistral", "ollama", "llamacpp", "vllm", "litellm", "azure",
    ] {
        assert!(
            sent(id, &req)
                .await
                .json()
                .get("reasoning_effort")
                .is_none(),
            "{id}"
        );
    }
}

#[tokio::test]
async fn bearer_auth_and_extra_headers() {
    let server = Server::start(vec![ok_stream()]).await;
    let p = rivulet_providers::build(
        "openai",
        ProviderConfig {
            base_url: Some(format!("{}/v1/", server.url())),
            api_key: Some(ApiKey::new(KEY)),
            headers: vec![("X-Title".into(), "rivulet-tests".into())],
        },
    )
    .unwrap();
    assert!(run(p.as_ref(), &request("m")).await.error.is_none());
    let req = &server.requests()[0];
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(req.header("x-title"), Some("rivulet-tests"));
    assert_eq!(req.header("api-key"), None);
}

#[tokio::test]
async fn azure_uses_the_deployment_url_and_api_key_header() {
    let server = Server::start(vec![Replay::sse(wire(
        "azure/chat_prompt_filter_results.sse",
    ))])
    .await;
    let p = provider("azure", &server.url());
    let out = run(p.as_ref(), &request("my-deployment")).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.response.text(), "Capital of Denmark.");
    let req = &server.requests()[0];
    assert_eq!(
        req.path,
        "/openai/deployments/my-deployment/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(req.header("api-key"), Some(KEY));
    assert_eq!(req.header("authorization"), None);
    // Azure takes max_tokens.
    let mut r = request("d");
    r.params.max_tokens = Some(9);
    assert_eq!(sent("azure", &r).await.json()["max_tokens"], 9);
}

#[tokio::test]
async fn keyless_providers_send_no_auth() {
    let server = Server::start(vec![ok_stream()]).await;
    let p = rivulet_providers::build(
        "llamacpp",
        ProviderConfig {
            base_url: Some(format!("{}/v1", server.url())),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(run(p.as_ref(), &request("m")).await.error.is_none());
    assert_eq!(server.requests()[0].header("authorization"), None);
}

#[tokio::test]
async fn the_key_stays_out_of_debug_prints_and_errors() {
    let config = ProviderConfig {
        base_url: Some("http://127.0.0.1:9/v1".into()),
        api_key: Some(ApiKey::new(KEY)),
        headers: vec![("x-extra".into(), "1".into())],
    };
    assert!(!format!("{config:?}").contains(KEY));
    let p = OpenAiCompatible::new(family::find("openai").unwrap(), config).unwrap();
    let debug = format!("{p:?}");
    assert!(!debug.contains(KEY), "{debug}");
    assert!(
        debug.contains("openai") && debug.contains("x-extra"),
        "{debug}"
    );

    // A server that echoes the key in its messages: HTTP error, then in-band.
    let echo = format!(
        r#"{{"error":{{"message":"Incorrect API key provided: {KEY}","code":"invalid_api_key"}}}}"#
    );
    let inband = format!(
        "data: {{\"error\":{{\"message\":\"bad key {KEY}\",\"code\":\"invalid_api_key\"}}}}\n\n"
    );
    let server = Server::start(vec![Replay::json(401, echo), Replay::sse(inband)]).await;
    let p = provider("openai", &format!("{}/v1", server.url()));
    for expected in [ErrorKind::Authentication, ErrorKind::Authentication] {
        let out = run(p.as_ref(), &request("m")).await;
        let e = out.error.expect("an error");
        assert_eq!(e.kind(), expected);
        for text in [e.to_string(), format!("{e:?}"), e.message().to_string()] {
            assert!(!text.contains(KEY), "{text}");
            assert!(text.contains("***"), "{text}");
        }
    }
}

#[tokio::test]
async fn include_usage_fallback() {
    let rejection = r#"{"error":{"message":"Unrecognized request argument supplied: stream_options","type":"invalid_request_error","param":"stream_options","code":null}}"#;
    let server = Server::start(vec![
        Replay::json(400, rejection),
        Replay::sse(wire("openai-chat/text_include_usage.sse")),
    ])
    .await;
    let p = provider("vllm", &format!("{}/v1", server.url()));
    let out = run(p.as_ref(), &request("m")).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.response.text(), "4200 + 42 equals 4242.");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(
        reqs[0].json()["stream_options"],
        json!({"include_usage": true})
    );
    assert!(reqs[1].json().get("stream_options").is_none());
    assert_eq!(reqs[1].json()["stream"], true);

    // The provider remembers: the next call goes without it at once.
    assert!(run(p.as_ref(), &request("m")).await.error.is_none());
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs[2].json().get("stream_options").is_none());
}

#[tokio::test]
async fn other_400s_are_not_retried() {
    let server = Server::start(vec![
        Replay::json(
            400,
            r#"{"error":{"message":"messages: field required","type":"invalid_request_error"}}"#,
        ),
        ok_stream(),
    ])
    .await;
    let p = provider("openai", &format!("{}/v1", server.url()));
    let e = run(p.as_ref(), &request("m"))
        .await
        .error
        .expect("an error");
    assert_eq!(e.kind(), ErrorKind::BadRequest);
    assert_eq!(e.message(), "messages: field required");
    assert_eq!(server.requests().len(), 1);
}

/// Mistral's documents (`document_url`, a URL or a `data:` URL) and images,
/// against the user messages of recorded requests (each recorded after a
/// tool call whose turn carries fields of that client only: the message
/// with the media is compared, field by field).
#[tokio::test]
async fn mistral_documents_and_images_match_the_recorded_messages() {
    for file in [
        "mistral/document_url_after_tool_output.request.json",
        "mistral/document_base64_after_tool_output.request.json",
        "mistral/image_url_after_tool_output.request.json",
    ] {
        let recorded: Value = serde_json::from_slice(&wire(file)).unwrap();
        let last = recorded["messages"].as_array().unwrap().last().unwrap();
        let req = rivulet_core::Request {
            model: recorded["model"].as_str().unwrap().into(),
            messages: vec![Message {
                role: Role::User,
                content: last["content"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(chat_part)
                    .collect(),
            }],
            ..Default::default()
        };
        let body = sent("mistral", &req).await.json();
        assert_eq!(body["messages"], json!([last]), "{file}");
        assert_eq!(body["model"], recorded["model"], "{file}");
    }
}

/// A member of the family that cannot take a kind says so before anything
/// is sent: no request reaches the server.
#[tokio::test]
async fn unsupported_media_is_refused_before_sending() {
    let image = ContentPart::Image(rivulet_core::Media::url("https://x/y.png"));
    let pdf = ContentPart::File(rivulet_core::Media::data(
        "application/pdf",
        b"%PDF".to_vec(),
    ));
    let pdf_url = ContentPart::File(rivulet_core::Media::url("https://x/y.pdf"));
    let cases: &[(&str, &ContentPart, &str)] = &[
        ("deepseek", &image, "deepseek cannot take images"),
        ("groq", &pdf, "groq cannot take files"),
        ("vllm", &pdf, "vllm cannot take files"),
        (
            "openai",
            &pdf_url,
            "openai cannot take a file by URL (https://x/y.pdf); send its bytes",
        ),
    ];
    for (id, part, message) in cases {
        let server = Server::start(vec![ok_stream()]).await;
        let p = provider(id, &common::base_url(id, &server.url()));
        let mut req = request("m");
        req.messages[0].content.push((*part).clone());
        let e = run(p.as_ref(), &req).await.error.expect("an error");
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{id}");
        assert_eq!(e.message(), *message, "{id}");
        assert_eq!(e.provider(), Some(*id));
        assert!(server.requests().is_empty(), "{id}: a request was sent");
    }
    // OpenRouter takes a file by URL in `file_data`; an image in a
    // system message goes nowhere.
    let mut req = request("m");
    req.messages[0].content.push(pdf_url.clone());
    let body = sent("openrouter", &req).await.json();
    assert_eq!(
        body["messages"][0]["content"][1],
        json!({"type": "file", "file": {"filename": "file", "file_data": "https://x/y.pdf"}})
    );
    let server = Server::start(vec![ok_stream()]).await;
    let p = provider("openai", &common::base_url("openai", &server.url()));
    let mut req = request("m");
    req.messages.insert(
        0,
        Message {
            role: Role::System,
            content: vec![image.clone()],
        },
    );
    let e = run(p.as_ref(), &req).await.error.expect("an error");
    assert_eq!(
        e.message(),
        "openai cannot take an image in a system message"
    );
    assert!(server.requests().is_empty());
}

/// Mistral's word for "some tool must be called" is `any`, as recorded.
#[tokio::test]
async fn mistral_required_tool_choice_is_any() {
    let file = "mistral/tool_choice_required.request.json";
    let recorded: Value = serde_json::from_slice(&wire(file)).unwrap();
    assert_eq!(recorded["tool_choice"], "any");
    let mut req = core_request(&recorded);
    req.params.tool_choice = Some(ToolChoice::Required);
    let body = sent("mistral", &req).await.json();
    assert_eq!(body["tool_choice"], recorded["tool_choice"]);
    assert_eq!(body["messages"], recorded["messages"]);
    // Its tools have no `type`: Mistral takes both forms, we send OpenAI's.
    assert_eq!(
        body["tools"][0]["function"],
        recorded["tools"][0]["function"]
    );
}

/// `parallel_tool_calls`, `n`, spoken output and `extra_body`, as the
/// OpenAI API documents them (no recorded request with them was found:
/// SOURCES.md); a member that does not speak refuses audio before sending.
#[tokio::test]
async fn parallel_tool_calls_n_audio_and_extra_body() {
    let mut req = request("gpt-4o-audio-preview");
    req.params.parallel_tool_calls = Some(false);
    req.params.n = Some(2);
    req.audio = Some(rivulet_core::AudioOutput {
        voice: "alloy".into(),
        format: "wav".into(),
    });
    req.extra_body = Some(json!({"service_tier": "flex", "stream_options": null}));
    let body = sent("openai", &req).await.json();
    assert_eq!(body["parallel_tool_calls"], false);
    assert_eq!(body["n"], 2);
    assert_eq!(body["modalities"], json!(["text", "audio"]));
    assert_eq!(body["audio"], json!({"voice": "alloy", "format": "wav"}));
    assert_eq!(body["service_tier"], "flex");
    // `null` removes a field (a JSON merge patch).
    assert!(body.get("stream_options").is_none(), "{body}");

    let server = Server::start(vec![ok_stream()]).await;
    let p = provider("groq", &common::base_url("groq", &server.url()));
    let e = run(p.as_ref(), &req).await.error.expect("an error");
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert_eq!(e.message(), "groq cannot take audio output");
    req.audio = None;
    req.extra_body = Some(json!("flex"));
    let e = run(p.as_ref(), &req).await.error.expect("an error");
    assert_eq!(e.kind(), ErrorKind::BadRequest);
    assert_eq!(
        e.message(),
        "extra_body must be a JSON object, not \"flex\""
    );
    assert!(server.requests().is_empty());
    // A named tool that is not one of the request's tools.
    req.extra_body = None;
    req.params.tool_choice = Some(ToolChoice::Tool("nope".into()));
    let e = run(p.as_ref(), &req).await.error.expect("an error");
    assert_eq!(e.kind(), ErrorKind::BadRequest);
    assert!(server.requests().is_empty());
}
