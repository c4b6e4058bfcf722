//! Images and files a tool returned, sent with its output, against real
//! recorded requests (`testdata/wire/tool-outputs/`, SOURCES.md): for each,
//! the core tool output the recording stands for is sent after its call,
//! and the part of the body that carries it is compared with the recording.

mod common;

use std::sync::Arc;

use common::{base64_any, media_from_url, run};
use rivulet_core::{ContentPart, Media, Message, Provider, Request, Role, ToolCall, ToolOutput};
use rivulet_providers::bedrock;
use rivulet_testkit::{wire, Replay, Server};
use serde_json::{json, Value};

fn ok(id: &str) -> Replay {
    match id {
        "anthropic" => Replay::sse(wire("anthropic/text.sse")),
        "openai-responses" => Replay::sse(wire("openai-responses/text.sse")),
        "vertex" => Replay::sse(wire("gemini/text.sse")),
        "bedrock" => Replay::new(200, wire("bedrock/converse_stream_text.bin"))
            .header("content-type", bedrock::EVENTSTREAM),
        _ => Replay::sse(wire("openai-chat/text_include_usage.sse")),
    }
}

fn provider(id: &str, url: &str) -> Arc<dyn Provider> {
    common::provider_or_vertex(id, url)
}

/// The body provider `id` sends for a call to `get_file` (id `call_id`)
/// answered by `output`.
async fn sent(id: &str, call_id: &str, output: ToolOutput) -> Value {
    let server = Server::start(vec![ok(id)]).await;
    let base = match id {
        "openai" | "openai-responses" => format!("{}/v1", server.url()),
        _ => server.url(),
    };
    let p = provider(id, &base);
    let req = Request {
        model: "m".into(),
        messages: vec![
            Message::user("Use the get_file tool."),
            Message {
                role: Role::Assistant,
                content: vec![ContentPart::ToolCall(ToolCall {
                    id: call_id.into(),
                    name: "get_file".into(),
                    args: "{}".into(),
                    signature: None,
                })],
            },
            Message {
                role: Role::Tool,
                content: vec![ContentPart::ToolOutput(output)],
            },
        ],
        ..Default::default()
    };
    let out = run(p.as_ref(), &req).await;
    assert!(out.error.is_none(), "{id}: {:?}", out.error);
    server.requests().remove(0).json()
}

fn output(id: &str, result: &str, attachments: Vec<ContentPart>) -> ToolOutput {
    ToolOutput {
        id: id.into(),
        name: "get_file".into(),
        result: result.into(),
        is_error: false,
        attachments,
    }
}

fn recorded(file: &str) -> Value {
    serde_json::from_slice(&wire(&format!("tool-outputs/{file}"))).unwrap()
}

#[tokio::test]
async fn anthropic_tool_result_blocks() {
    for file in [
        "anthropic_image_url.request.json",
        "anthropic_document_pdf_base64.request.json",
    ] {
        let body = recorded(file);
        let mut want = body["messages"].as_array().unwrap().last().unwrap()["content"][0].clone();
        let block = &want["content"][0];
        let source = &block["source"];
        let media = match source["type"].as_str().unwrap() {
            "url" => Media::url(source["url"].as_str().unwrap()),
            _ => Media::data(
                source["media_type"].as_str().unwrap(),
                base64_any(source["data"].as_str().unwrap()),
            ),
        };
        let part = match block["type"].as_str().unwrap() {
            "image" => ContentPart::Image(media),
            _ => ContentPart::File(media),
        };
        let call = want["tool_use_id"].as_str().unwrap().to_string();
        let got = sent("anthropic", &call, output(&call, "", vec![part])).await;
        // `is_error: false` is the default, which we leave out.
        want.as_object_mut().unwrap().remove("is_error");
        assert_eq!(got["messages"][2]["content"][0], want, "{file}");
    }
}

#[tokio::test]
async fn responses_function_call_output_parts() {
    for file in [
        "openai_responses_file_url.request.json",
        "openai_responses_image_url.request.json",
    ] {
        let body = recorded(file);
        let want = body["input"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == "function_call_output")
            .unwrap()
            .clone();
        let item = &want["output"][0];
        let part = match item["type"].as_str().unwrap() {
            "input_image" => {
                ContentPart::Image(media_from_url(item["image_url"].as_str().unwrap()))
            }
            _ => ContentPart::File(Media::url(item["file_url"].as_str().unwrap())),
        };
        let call = want["call_id"].as_str().unwrap().to_string();
        let got = sent("openai-responses", &call, output(&call, "", vec![part])).await;
        let ours = got["input"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["type"] == "function_call_output")
            .unwrap()
            .clone();
        assert_eq!(ours, want, "{file}");
    }
}

#[tokio::test]
async fn vertex_function_response_parts() {
    let body = recorded("vertex_image_url.request.json");
    let last = body["contents"].as_array().unwrap().last().unwrap();
    let want = &last["parts"][0]["function_response"];
    let file = &want["parts"][0]["file_data"];
    let part = ContentPart::Image(
        Media::url(file["file_uri"].as_str().unwrap())
            .with_media_type(file["mime_type"].as_str().unwrap()),
    );
    let got = sent("vertex", "c1", output("c1", "", vec![part])).await;
    let ours = &got["contents"][2]["parts"][0]["functionResponse"];
    // google-genai writes snake_case and sends the call's id; we send
    // camelCase (the API reads both) and no id (see the request builder).
    assert_eq!(ours["name"], want["name"]);
    assert_eq!(ours["response"], want["response"]);
    assert_eq!(
        ours["parts"],
        json!([{"fileData": {"fileUri": file["file_uri"], "mimeType": file["mime_type"]}}])
    );
}

#[tokio::test]
async fn bedrock_tool_result_document() {
    let body = recorded("bedrock_document_pdf_bytes.request.json");
    let last = body["messages"].as_array().unwrap().last().unwrap();
    let mut want = last["content"][0]["toolResult"].clone();
    let doc = &want["content"][0]["document"];
    assert_eq!(doc["format"], "pdf");
    let part = ContentPart::File(Media::data(
        "application/pdf",
        base64_any(doc["source"]["bytes"].as_str().unwrap()),
    ));
    let call = want["toolUseId"].as_str().unwrap().to_string();
    let got = sent("bedrock", &call, output(&call, "", vec![part])).await;
    // `status: success` is the default, which we leave out.
    assert_eq!(
        want.as_object_mut().unwrap().remove("status"),
        Some(json!("success"))
    );
    let ours = &got["messages"].as_array().unwrap().last().unwrap()["content"][0]["toolResult"];
    assert_eq!(ours, &want);
}

#[tokio::test]
async fn chat_completions_tool_media_follow_in_a_user_message() {
    let body = recorded("openai_chat_image_url.request.json");
    let messages = body["messages"].as_array().unwrap();
    let at = messages.iter().position(|m| m["role"] == "tool").unwrap();
    let tool = &messages[at];
    let image = messages[at + 1]["content"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == "image_url")
        .unwrap()
        .clone();
    let call = tool["tool_call_id"].as_str().unwrap().to_string();
    let part = ContentPart::Image(media_from_url(image["image_url"]["url"].as_str().unwrap()));
    let got = sent(
        "openai",
        &call,
        output(&call, tool["content"].as_str().unwrap(), vec![part]),
    )
    .await;
    let ours = got["messages"].as_array().unwrap();
    assert_eq!(ours[2], *tool, "the tool message, as recorded");
    assert_eq!(
        ours[3],
        json!({"role": "user", "content": [
            {"type": "text", "text": format!("Attachments of tool call {call} (get_file):")},
            image,
        ]})
    );
}
