//! Exact JSON of the request parser and the encoder.

use std::sync::Arc;

use rivulet_core::{
    Chunk, ContentPart, Error, ErrorContext, FinishReason, Message, Response, Role, ThinkingLevel,
    ToolCall, ToolOutput, UsageDelta,
};

use super::*;
use crate::ApiError;

fn parse(body: serde_json::Value) -> Result<ChatCall, ApiError> {
    parse_request(body.to_string().as_bytes())
}

fn error_json(body: serde_json::Value) -> serde_json::Value {
    serde_json::from_str(&parse(body).unwrap_err().to_json()).unwrap()
}

#[test]
fn a_full_request_becomes_a_model_and_messages() {
    let call = parse(serde_json::json!({
        "model": "anthropic/claude-sonnet-4-0",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"x\":1}"}},
                {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "one"},
            {"role": "tool", "tool_call_id": "c2", "content": [{"type": "text", "text": "two"}]},
        ],
        "max_tokens": 10, "max_completion_tokens": 20, "temperature": 0.5, "seed": 7,
        "stop": "END", "reasoning_effort": "high", "tool_choice": "auto",
        "tools": [{"type": "function", "function": {"name": "f", "description": "F",
            "parameters": {"type": "object"}}}],
        "response_format": {"type": "json_schema", "json_schema": {"name": "Out", "schema": {"type": "object"}}},
        "stream": true, "stream_options": {"include_usage": true},
        "user": "ignored",
    }))
    .unwrap();
    assert!(call.stream && call.include_usage);
    let request = call.model.request(call.messages);
    assert_eq!(request.model, "claude-sonnet-4-0");
    assert_eq!(request.params.max_tokens, Some(20));
    assert_eq!(request.params.temperature, Some(0.5));
    assert_eq!(request.params.seed, Some(7));
    assert_eq!(request.params.stop, vec!["END"]);
    assert_eq!(request.params.thinking, Some(ThinkingLevel::High));
    assert_eq!(request.tools[0].name, "f");
    assert_eq!(request.tools[0].description, "F");
    assert_eq!(request.format.as_ref().unwrap().name, "Out");
    let call = |id: &str, name: &str, args: &str| {
        ContentPart::ToolCall(ToolCall {
            id: id.into(),
            name: name.into(),
            args: args.into(),
            signature: None,
        })
    };
    let output = |id: &str, name: &str, result: &str| {
        ContentPart::ToolOutput(ToolOutput {
            id: id.into(),
            name: name.into(),
            result: result.into(),
            is_error: false,
            attachments: Vec::new(),
        })
    };
    assert_eq!(
        request.messages,
        vec![
            Message::system("Be brief."),
            Message {
                role: Role::User,
                content: vec![ContentPart::text("a"), ContentPart::text("b")],
            },
            Message {
                role: Role::Assistant,
                content: vec![call("c1", "f", "{\"x\":1}"), call("c2", "g", "{}")],
            },
            Message {
                role: Role::Tool,
                content: vec![output("c1", "f", "one"), output("c2", "g", "two")],
            },
        ]
    );
}

#[test]
fn bad_bodies_get_openai_errors_naming_the_field() {
    assert_eq!(
        error_json(serde_json::json!({"model": "openai/gpt-4o", "messages": "hi"})),
        serde_json::json!({"error": {
            "message": "invalid request body: invalid type: string \"hi\", expected a sequence at line 1 column 16",
            "type": "invalid_request_error", "param": "messages", "code": null}})
    );
    assert_eq!(
        error_json(
            serde_json::json!({"model": "nope/x", "messages": [{"role": "user", "content": "a"}]})
        )["error"]["code"],
        "model_not_found"
    );
    let e = error_json(serde_json::json!({"model": "openai/gpt-4o", "messages": [
        {"role": "tool", "tool_call_id": "zz", "content": "a"}]}));
    assert_eq!(
        e,
        serde_json::json!({"error": {
            "message": "tool_call_id \"zz\" answers no earlier tool call",
            "type": "invalid_request_error", "param": "messages[0].tool_call_id", "code": null}})
    );
    let e = error_json(serde_json::json!({"model": "openai/gpt-4o", "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}));
    assert_eq!(e["error"]["param"], "messages[0].content");
    assert_eq!(e["error"]["code"], "unsupported_value");
    let e = error_json(
        serde_json::json!({"model": "openai/gpt-4o", "tool_choice": "required",
        "messages": [{"role": "user", "content": "a"}]}),
    );
    assert_eq!(e["error"]["param"], "tool_choice");
    let e = error_json(serde_json::json!({"model": "openai/gpt-4o", "messages": []}));
    assert_eq!(e["error"]["message"], "messages must not be empty");
    assert!(parse_request(b"{").is_err());
    let e = parse_request(br#"["openai/gpt-4o", [{"role": "user", "content": "a"}]]"#).unwrap_err();
    assert_eq!(e.message, "invalid request body: it must be a JSON object");
    assert!(parse_request(&vec![b'['; 100_000]).is_err());
}

/// A missing field is named in `param` (serde's path stops at the object
/// that lacks it), and a 0 token limit gets OpenAI's own error, as any
/// other invalid value.
#[test]
fn missing_fields_and_a_zero_token_limit_name_their_param() {
    let e = error_json(serde_json::json!({"messages": [{"role": "user", "content": "a"}]}));
    assert_eq!(e["error"]["param"], "model", "{e}");
    assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
    let e = error_json(serde_json::json!({"model": "openai/gpt-4o"}));
    assert_eq!(e["error"]["param"], "messages", "{e}");
    let e =
        error_json(serde_json::json!({"model": "openai/gpt-4o", "messages": [{"content": "a"}]}));
    assert_eq!(e["error"]["param"], "messages[0].role", "{e}");
    for name in ["max_tokens", "max_completion_tokens"] {
        let mut body = serde_json::json!({"model": "openai/gpt-4o",
            "messages": [{"role": "user", "content": "a"}]});
        body[name] = 0.into();
        assert_eq!(
            error_json(body),
            serde_json::json!({"error": {
                "message": format!("Invalid '{name}': integer below minimum value. Expected a value >= 1, but got 0 instead."),
                "type": "invalid_request_error", "param": name, "code": null}})
        );
    }
}

fn encode(chunks: &[Chunk], include_usage: bool, end: Option<Error>) -> Vec<String> {
    let mut enc = ChunkEncoder::new("chatcmpl-1", "m", 5, include_usage);
    let mut out = String::new();
    for c in chunks {
        enc.encode(c, &mut out);
    }
    match end {
        None => enc.finish(&mut out),
        Some(e) => enc.fail(&e, &mut out),
    }
    assert!(out.ends_with("\n\n"));
    out.trim_end()
        .split("\n\n")
        .map(|f| f.strip_prefix("data: ").unwrap().to_string())
        .collect()
}

const HEAD: &str =
    r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":5,"model":"m","#;

#[test]
fn text_and_usage_encode_as_openai_streams_them() {
    let frames = encode(
        &[
            Chunk::Metadata {
                id: Some("x".into()),
                model: Some("gpt-4o-2024".into()),
            },
            Chunk::text_start(0),
            Chunk::text(0, "Hi"),
            Chunk::text_end(0),
            Chunk::text_start(1),
            Chunk::text(1, "there"),
            Chunk::UsageDelta {
                usage: Box::new(UsageDelta {
                    input_tokens: Some(3),
                    output_tokens: Some(2),
                    cache_read_tokens: Some(1),
                    ..Default::default()
                }),
            },
            Chunk::FinishReason {
                reason: FinishReason::MaxTokens,
                raw: "length".into(),
            },
        ],
        true,
        None,
    );
    let head = HEAD.replace("\"m\"", "\"gpt-4o-2024\"");
    let choice = |delta: &str, finish: &str| {
        format!(
            r#"{head}"choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}],"usage":null}}"#
        )
    };
    assert_eq!(
        frames,
        vec![
            choice(r#"{"role":"assistant","content":""}"#, "null"),
            choice(r#"{"content":"Hi"}"#, "null"),
            choice(r#"{"content":"\n"}"#, "null"),
            choice(r#"{"content":"there"}"#, "null"),
            choice("{}", r#""length""#),
            format!(
                r#"{head}"choices":[],"usage":{{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,"prompt_tokens_details":{{"cached_tokens":1}}}}}}"#
            ),
            "[DONE]".to_string(),
        ]
    );
}

#[test]
fn tool_calls_and_reasoning_encode_with_indexes() {
    let frames = encode(
        &[
            Chunk::ThoughtStart { part: 0 },
            Chunk::Thought {
                part: 0,
                delta: "hm".into(),
            },
            Chunk::thought_end(0),
            Chunk::ToolCallStart {
                part: 1,
                id: Arc::from("a"),
                name: "f".into(),
            },
            Chunk::ToolCallStart {
                part: 2,
                id: Arc::from("b"),
                name: "g".into(),
            },
            Chunk::ToolCall {
                part: 2,
                id: Arc::from("b"),
                delta: "{}".into(),
            },
            Chunk::ToolCall {
                part: 1,
                id: Arc::from("a"),
                delta: "{\"x\":1}".into(),
            },
            Chunk::tool_call_end(1, "a"),
            Chunk::tool_call_end(2, "b"),
        ],
        false,
        None,
    );
    let choice = |delta: &str, finish: &str| {
        format!(
            r#"{HEAD}"choices":[{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}}}]}}"#
        )
    };
    assert_eq!(
        frames,
        vec![
            choice(r#"{"role":"assistant"}"#, "null"),
            choice(r#"{"reasoning_content":"hm"}"#, "null"),
            choice(
                r#"{"tool_calls":[{"index":0,"id":"a","type":"function","function":{"name":"f","arguments":""}}]}"#,
                "null"
            ),
            choice(
                r#"{"tool_calls":[{"index":1,"id":"b","type":"function","function":{"name":"g","arguments":""}}]}"#,
                "null"
            ),
            choice(
                r#"{"tool_calls":[{"index":1,"function":{"arguments":"{}"}}]}"#,
                "null"
            ),
            choice(
                r#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"x\":1}"}}]}"#,
                "null"
            ),
            choice("{}", r#""tool_calls""#),
            "[DONE]".to_string(),
        ]
    );
}

#[test]
fn a_failure_midway_ends_with_an_error_event() {
    let error = Error::RateLimit {
        retry_after: None,
        ctx: Box::new(ErrorContext::new("slow down")),
    };
    let frames = encode(&[Chunk::text(0, "part")], false, Some(error));
    assert_eq!(frames.len(), 3);
    assert_eq!(
        frames[2],
        r#"{"error":{"message":"rate limited: slow down","type":"rate_limit_error","param":null,"code":"rate_limit"}}"#
    );
}

#[test]
fn a_finished_response_becomes_a_chat_completion() {
    let mut r = Response::new("anthropic", "claude", Vec::new());
    for c in [
        Chunk::text(0, "Sure."),
        Chunk::ToolCallStart {
            part: 1,
            id: Arc::from("t1"),
            name: "f".into(),
        },
        Chunk::ToolCall {
            part: 1,
            id: Arc::from("t1"),
            delta: "{}".into(),
        },
        Chunk::tool_call_end(1, "t1"),
        Chunk::UsageDelta {
            usage: Box::new(UsageDelta {
                input_tokens: Some(4),
                output_tokens: Some(6),
                ..Default::default()
            }),
        },
        Chunk::FinishReason {
            reason: FinishReason::ToolCalls,
            raw: "tool_use".into(),
        },
    ] {
        r.apply(&c);
    }
    assert_eq!(
        completion_json("chatcmpl-1", "x", 5, &r),
        r#"{"id":"chatcmpl-1","object":"chat.completion","created":5,"model":"claude","choices":[{"index":0,"message":{"role":"assistant","content":"Sure.","tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{}"}}],"refusal":null},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":4,"completion_tokens":6,"total_tokens":10}}"#
    );
}

#[test]
fn text_choice_as_serde_writes_it() {
    use super::completions_wire::{ChunkChoice, ChunkDelta};
    for text in ["", "Hi", "a \"quoted\"\nline\t\u{1}é😀", "\\"] {
        let choice = ChunkChoice {
            index: 0,
            delta: ChunkDelta {
                content: Some(text),
                ..Default::default()
            },
            logprobs: None,
            finish_reason: None,
        };
        let serde = serde_json::to_string(&choice).unwrap();
        let mut enc = ChunkEncoder::new("chatcmpl-1", "m", 5, false);
        let mut out = String::new();
        // The role chunk first, then the text's.
        enc.encode(&Chunk::text(0, "x"), &mut out);
        let mut frames = String::new();
        enc.encode(&Chunk::text(0, text), &mut frames);
        if text.is_empty() {
            assert_eq!(frames, "");
            continue;
        }
        assert_eq!(frames, format!("data: {HEAD}\"choices\":[{serde}]}}\n\n"));
    }
}
