//! `POST /v1/ai-sdk/chat`'s body: the request the Vercel AI SDK's chat
//! transport (`DefaultChatTransport`, what `useChat` posts with) sends, and
//! its `UIMessage`s as rivulet messages.
//!
//! The conversion follows the SDK's own `convertToModelMessages` (`ai`
//! 6.0), so a conversation reaches the model as it would through an AI SDK
//! server: a system message's text parts joined; a user message's text and
//! file parts; an assistant message cut into steps at each `step-start`,
//! each step an assistant message (text, reasoning, tool calls) followed by
//! a tool message with the results of its finished calls; a user message's
//! other parts are left out, as the SDK leaves them. Parts that carry
//! nothing for the model (`source-url`, `source-document`, `data-*`) are
//! left out, as the SDK does without a converter of its own; a part of a
//! type the SDK does not define is a 400.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::Value;

use crate::wire::ModelSettings;
use rivulet_core::{ContentPart, Media, Message, Role, Text, Thought, ToolCall, ToolOutput};

/// The body `DefaultChatTransport` posts: the chat's id and its whole
/// history as `UIMessage`s, and whatever the app added (its `body`
/// option): here, the options of `POST /v1/streams` and `resumable`. The
/// transport's other fields (the `trigger`, a `messageId`) and any an app
/// adds are ignored: whether a message is submitted or regenerated, the
/// history sent is what the model answers.
#[derive(Debug, Deserialize)]
pub struct UiChatRequest {
    /// The chat's id: its running generation can be resumed and cancelled
    /// by it (`/v1/ai-sdk/chat/{id}/stream`, `/cancel`).
    #[serde(default)]
    pub id: Option<String>,
    /// Keep generating when the request goes away (a page reloaded or
    /// offline), for `useChat`'s `resume` to pick up; `stop()` then no
    /// longer stops the generation: `/v1/ai-sdk/chat/{id}/cancel` does.
    #[serde(default)]
    pub resumable: bool,
    /// The conversation so far, the new user message last.
    pub messages: Vec<UiMessage>,
    /// A system prompt, sent before the messages.
    #[serde(default)]
    pub system: Option<String>,
    /// `model`, `max_tokens`, `temperature`, `seed`, `tools`, `format`.
    #[serde(flatten)]
    pub settings: ModelSettings,
}

/// One `UIMessage`: a role and its parts. The parts stay JSON until
/// converted: their `type` is open-ended (`tool-<name>`, `data-<name>`).
#[derive(Debug, Deserialize)]
pub struct UiMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The message's parts, in order.
    #[serde(default)]
    pub parts: Vec<Value>,
}

/// `messages` as rivulet messages; the error names the message and part
/// that cannot be read.
pub fn to_messages(messages: Vec<UiMessage>) -> Result<Vec<Message>, String> {
    let mut out = Vec::new();
    for (i, message) in messages.into_iter().enumerate() {
        let at = |j: usize, why: String| format!("messages[{i}].parts[{j}]: {why}");
        match message.role.as_str() {
            "system" => {
                let mut text = String::new();
                for part in &message.parts {
                    if part_type(part) == Some("text") {
                        text.push_str(str_field(part, "text").unwrap_or_default());
                    }
                }
                out.push(Message::system(text));
            }
            "user" => {
                let mut content = Vec::new();
                for (j, part) in message.parts.iter().enumerate() {
                    // As the SDK: a user message sends its text and files
                    // only (reasoning and tool parts have no place in it).
                    match read_part(part).map_err(|why| at(j, why))? {
                        Read::Content(
                            c @ (ContentPart::Text(_)
                            | ContentPart::Image(_)
                            | ContentPart::File(_)),
                        ) => content.push(c),
                        Read::Content(_) | Read::Tool(_) | Read::StepStart | Read::Nothing => {}
                    }
                }
                out.push(Message {
                    role: Role::User,
                    content,
                });
            }
            "assistant" => {
                let mut step = Step::default();
                for (j, part) in message.parts.iter().enumerate() {
                    match read_part(part).map_err(|why| at(j, why))? {
                        Read::Content(c) => step.content.push(c),
                        Read::Tool(tool) => step.tool(tool),
                        Read::StepStart => step.flush(&mut out),
                        Read::Nothing => {}
                    }
                }
                step.flush(&mut out);
            }
            other => {
                return Err(format!(
                    "messages[{i}].role must be system, user or assistant, not {other:?}"
                ))
            }
        }
    }
    Ok(out)
}

/// One step of an assistant message: what the model said, then the
/// outputs of the calls it made.
#[derive(Default)]
struct Step {
    content: Vec<ContentPart>,
    outputs: Vec<ContentPart>,
}

impl Step {
    fn tool(&mut self, tool: ToolPart) {
        // A call still streaming its input was never made.
        if tool.state == "input-streaming" {
            return;
        }
        let output = match tool.state.as_str() {
            "output-available" => Some((json_text(&tool.output), false)),
            "output-error" => Some((tool.error_text.clone().unwrap_or_default(), true)),
            "output-denied" => Some((
                tool.denied_reason
                    .clone()
                    .unwrap_or_else(|| "Tool call execution denied.".into()),
                true,
            )),
            _ => None,
        };
        if let Some((result, is_error)) = output {
            self.outputs.push(ContentPart::ToolOutput(ToolOutput {
                id: tool.call.id.clone(),
                name: tool.call.name.clone(),
                result,
                is_error,
                attachments: Vec::new(),
            }));
        }
        self.content.push(ContentPart::ToolCall(tool.call));
    }

    fn flush(&mut self, out: &mut Vec<Message>) {
        if !self.content.is_empty() {
            out.push(Message {
                role: Role::Assistant,
                content: std::mem::take(&mut self.content),
            });
        }
        if !self.outputs.is_empty() {
            out.push(Message {
                role: Role::Tool,
                content: std::mem::take(&mut self.outputs),
            });
        }
    }
}

/// What one part gives.
enum Read {
    Content(ContentPart),
    Tool(ToolPart),
    StepStart,
    Nothing,
}

/// A tool part: the call, and where it got to.
struct ToolPart {
    call: ToolCall,
    state: String,
    output: Value,
    error_text: Option<String>,
    denied_reason: Option<String>,
}

fn part_type(part: &Value) -> Option<&str> {
    part.get("type").and_then(Value::as_str)
}

fn str_field<'a>(part: &'a Value, name: &str) -> Option<&'a str> {
    part.get(name).and_then(Value::as_str)
}

fn required<'a>(part: &'a Value, name: &str) -> Result<&'a str, String> {
    str_field(part, name).ok_or_else(|| format!("{name} must be a string"))
}

fn read_part(part: &Value) -> Result<Read, String> {
    let Some(kind) = part_type(part) else {
        return Err("type must be a string".into());
    };
    Ok(match kind {
        "text" => Read::Content(ContentPart::Text(Text {
            text: required(part, "text")?.to_string(),
        })),
        "reasoning" => Read::Content(ContentPart::Thought(Thought {
            thought: required(part, "text")?.to_string(),
            ..Thought::default()
        })),
        "file" => Read::Content(file_part(part)?),
        "step-start" => Read::StepStart,
        "source-url" | "source-document" => Read::Nothing,
        "dynamic-tool" => Read::Tool(tool_part(part, required(part, "toolName")?)?),
        _ if kind.starts_with("data-") => Read::Nothing,
        _ => match kind.strip_prefix("tool-") {
            Some(name) if !name.is_empty() => Read::Tool(tool_part(part, name)?),
            _ => return Err(format!("unsupported part type {kind:?}")),
        },
    })
}

/// A `file` part: an image when its media type says so, else a file; a
/// `data:` URL becomes the bytes it holds.
fn file_part(part: &Value) -> Result<ContentPart, String> {
    let url = required(part, "url")?;
    let media_type = required(part, "mediaType")?;
    let media = match url.strip_prefix("data:") {
        Some(rest) => {
            let (head, data) = rest
                .split_once(',')
                .ok_or("url is a data: URL without a comma")?;
            if !head.ends_with(";base64") {
                return Err("url is a data: URL that is not base64".into());
            }
            let bytes = STANDARD
                .decode(data.as_bytes())
                .map_err(|e| format!("url is a data: URL whose base64 is invalid: {e}"))?;
            Media::data(media_type, bytes)
        }
        None => Media::url(url).with_media_type(media_type),
    };
    let media = match str_field(part, "filename") {
        Some(name) => media.with_filename(name),
        None => media,
    };
    Ok(if media_type.starts_with("image/") {
        ContentPart::Image(media)
    } else {
        ContentPart::File(media)
    })
}

fn tool_part(part: &Value, name: &str) -> Result<ToolPart, String> {
    let state = required(part, "state")?.to_string();
    // An errored call may have no parsed input, only the raw text.
    let input = match part.get("input") {
        Some(v) if !v.is_null() => v,
        _ => part.get("rawInput").unwrap_or(&Value::Null),
    };
    let args = match input {
        Value::Null => String::new(),
        Value::String(raw) if state == "output-error" => raw.clone(),
        v => v.to_string(),
    };
    Ok(ToolPart {
        call: ToolCall {
            id: required(part, "toolCallId")?.to_string(),
            name: name.to_string(),
            args,
            signature: None,
        },
        state,
        output: part.get("output").cloned().unwrap_or(Value::Null),
        error_text: str_field(part, "errorText").map(str::to_string),
        denied_reason: part
            .get("approval")
            .and_then(|a| a.get("reason"))
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

/// A tool's output as the text sent back: a string as it is, anything
/// else as its JSON.
fn json_text(output: &Value) -> String {
    match output {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        v => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn convert(messages: Value) -> Result<Vec<Message>, String> {
        to_messages(serde_json::from_value(messages).unwrap())
    }

    #[test]
    fn a_conversation_with_a_finished_tool_step_becomes_call_then_output() {
        let messages = convert(json!([
            {"id": "s", "role": "system", "parts": [{"type": "text", "text": "Be "}, {"type": "text", "text": "brief."}]},
            {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "Weather in Paris?"}]},
            {"id": "a1", "role": "assistant", "parts": [
                {"type": "step-start"},
                {"type": "reasoning", "text": "Look it up.", "state": "done"},
                {"type": "tool-get_weather", "toolCallId": "call_1", "state": "output-available",
                 "input": {"city": "Paris"}, "output": {"temp_c": 18}},
                {"type": "step-start"},
                {"type": "text", "text": "18 °C.", "state": "done"},
                {"type": "source-url", "sourceId": "x", "url": "https://example.com"},
                {"type": "data-weather", "data": {"temp": 18}}
            ]},
            {"id": "u2", "role": "user", "parts": [{"type": "text", "text": "Thanks"}]}
        ]))
        .unwrap();
        let roles: Vec<Role> = messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [
                Role::System,
                Role::User,
                Role::Assistant,
                Role::Tool,
                Role::Assistant,
                Role::User
            ]
        );
        assert_eq!(messages[0].text(), "Be brief.");
        assert_eq!(
            messages[2].content,
            vec![
                ContentPart::Thought(Thought {
                    thought: "Look it up.".into(),
                    ..Thought::default()
                }),
                ContentPart::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "get_weather".into(),
                    args: r#"{"city":"Paris"}"#.into(),
                    signature: None,
                }),
            ]
        );
        assert_eq!(
            messages[3].content,
            vec![ContentPart::ToolOutput(ToolOutput {
                id: "call_1".into(),
                name: "get_weather".into(),
                result: r#"{"temp_c":18}"#.into(),
                is_error: false,
                attachments: Vec::new(),
            })]
        );
        assert_eq!(messages[4].content, vec![ContentPart::text("18 °C.")]);
        assert_eq!(messages[5].text(), "Thanks");
    }

    #[test]
    fn errored_denied_and_streaming_calls() {
        let messages = convert(json!([{"role": "assistant", "parts": [
            {"type": "dynamic-tool", "toolName": "search", "toolCallId": "c1",
             "state": "output-error", "input": null, "rawInput": "{\"q\":", "errorText": "bad JSON"},
            {"type": "tool-delete", "toolCallId": "c2", "state": "output-denied",
             "input": {}, "approval": {"id": "a", "approved": false, "reason": "not allowed"}},
            {"type": "tool-later", "toolCallId": "c3", "state": "input-streaming", "input": {"x": 1}},
            {"type": "tool-pending", "toolCallId": "c4", "state": "input-available", "input": "text"}
        ]}]))
        .unwrap();
        assert_eq!(messages.len(), 2);
        let calls: Vec<(&str, &str, &str)> = messages[0]
            .content
            .iter()
            .filter_map(|p| match p {
                ContentPart::ToolCall(c) => Some((c.id.as_str(), c.name.as_str(), c.args.as_str())),
                _ => None,
            })
            .collect();
        assert_eq!(
            calls,
            [
                ("c1", "search", "{\"q\":"),
                ("c2", "delete", "{}"),
                ("c4", "pending", "\"text\"")
            ]
        );
        let outputs: Vec<(&str, &str, bool)> = messages[1]
            .content
            .iter()
            .filter_map(|p| match p {
                ContentPart::ToolOutput(o) => Some((o.id.as_str(), o.result.as_str(), o.is_error)),
                _ => None,
            })
            .collect();
        assert_eq!(
            outputs,
            [("c1", "bad JSON", true), ("c2", "not allowed", true)]
        );
    }

    #[test]
    fn files_become_images_or_files_and_data_urls_their_bytes() {
        let messages = convert(json!([{"role": "user", "parts": [
            {"type": "file", "mediaType": "image/png", "url": "data:image/png;base64,iVBORw=="},
            {"type": "file", "mediaType": "application/pdf", "filename": "a.pdf",
             "url": "https://example.com/a.pdf"}
        ]}]))
        .unwrap();
        assert_eq!(
            messages[0].content,
            vec![
                ContentPart::Image(Media::data("image/png", vec![0x89, b'P', b'N', b'G'])),
                ContentPart::File(
                    Media::url("https://example.com/a.pdf")
                        .with_media_type("application/pdf")
                        .with_filename("a.pdf")
                ),
            ]
        );
    }

    #[test]
    fn what_cannot_be_read_is_named() {
        let err = |v: Value| convert(v).unwrap_err();
        assert_eq!(
            err(json!([{"role": "tool", "parts": []}])),
            "messages[0].role must be system, user or assistant, not \"tool\""
        );
        assert_eq!(
            err(
                json!([{"role": "user", "parts": [{"type": "text", "text": "a"}, {"type": "video"}]}])
            ),
            "messages[0].parts[1]: unsupported part type \"video\""
        );
        assert_eq!(
            err(json!([{"role": "user", "parts": [{"type": "text"}]}])),
            "messages[0].parts[0]: text must be a string"
        );
        assert_eq!(
            err(json!([{"role": "user", "parts": [{"type": "file", "mediaType": "image/png", "url": "data:image/png;base64,%%%"}]}])),
            "messages[0].parts[0]: url is a data: URL whose base64 is invalid: Invalid symbol 37, offset 0."
        );
    }

    #[test]
    fn a_user_message_sends_its_text_and_files_only() {
        let messages = convert(json!([{"role": "user", "parts": [
            {"type": "reasoning", "text": "hm"},
            {"type": "text", "text": "q"},
            {"type": "tool-x", "toolCallId": "c", "state": "output-available", "input": {}, "output": 1},
            {"type": "step-start"}
        ]}]))
        .unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].content, vec![ContentPart::text("q")]);
    }
}
