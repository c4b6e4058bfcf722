//! From a core [`Request`] to a Responses API request body.

use rivulet_core::{ContentPart, Error, Message, Request, Role, ToolCall, ToolChoice};

use super::responses_decoder::custom_input;
use super::responses_id::ID;
use super::responses_wire::{
    FunctionOutput, FunctionTool, InputContent, InputItem, ReasoningConfig,
    ResponsesJsonSchemaFormat, ResponsesRequest, SummaryText, TextConfig,
};
use crate::media::url_or_data_url;

/// The streaming request body.
///
/// - The leading system messages become `instructions`; a system message
///   later in the conversation stays in place as a `developer` message.
/// - User text is `input_text`, assistant text `output_text`; tool calls
///   are `function_call` items (without their `fc_` item id, so they never
///   need their reasoning item beside them), tool outputs
///   `function_call_output` items.
/// - A custom (freeform) tool's call, which the decoder marks with its
///   `ctc_…` item id as signature, goes back as a `custom_tool_call` item
///   (without that id, as function calls) whose `input` is the free text
///   unwrapped from the call's `{"input": …}` arguments (see
///   [`custom_input`]); its outputs as `custom_tool_call_output` items.
/// - Provider parts (the items the server ran: `web_search_call`, …) are
///   not sent: with their ids the API wants their reasoning items beside
///   them, and a reasoning item without summary or encrypted content is
///   not kept.
/// - Thoughts whose signature is a reasoning item id (`rs_…`, as this
///   decoder sets it) go back as `reasoning` items (consecutive thoughts of
///   one item together, with the encrypted content); other thoughts (another
///   provider's) have no id the API would accept and are not sent.
/// - Images are `input_image` parts (a URL or a `data:` URL, `detail:
///   auto`), files `input_file` parts (`file_url`, or `filename` and the
///   bytes as a `data:` URL in `file_data`). Either outside a user turn is
///   refused ([`Error::Unsupported`]).
/// - `tool_choice` and `parallel_tool_calls` are sent as given (a named
///   tool as `{type: function, name}`); more than one choice (`n`) and
///   spoken output are refused ([`Error::Unsupported`]).
/// - `seed` and `stop` have no Responses equivalent and are not sent.
pub fn responses_request(request: &Request) -> Result<ResponsesRequest, Error> {
    crate::media::only_in_user_turns(ID, &request.messages)?;
    crate::options::check_tool_choice(ID, request)?;
    crate::options::check_unsupported(ID, &request.params, true, false)?;
    crate::options::check_no_audio(ID, request)?;
    let p = &request.params;
    let leading_system = request
        .messages
        .iter()
        .take_while(|m| m.role == Role::System)
        .count();
    let instructions: Vec<String> = request.messages[..leading_system]
        .iter()
        .map(Message::text)
        .filter(|t| !t.is_empty())
        .collect();
    // The calls made to custom tools: their outputs are custom too.
    let custom: Vec<&str> = request
        .messages
        .iter()
        .filter(|m| m.role == Role::Assistant)
        .flat_map(|m| &m.content)
        .filter_map(|p| match p {
            ContentPart::ToolCall(c) if is_custom(c) => Some(c.id.as_str()),
            _ => None,
        })
        .collect();
    let mut input = Vec::new();
    for m in &request.messages[leading_system..] {
        items(m, &custom, &mut input)?;
    }
    Ok(ResponsesRequest {
        model: request.model.clone(),
        input,
        instructions: (!instructions.is_empty()).then(|| instructions.join("\n\n")),
        tools: request
            .tools
            .iter()
            .map(|t| FunctionTool {
                kind: "function".into(),
                name: t.name.clone(),
                description: t.description.clone(),
                parameters: t.parameters.clone(),
            })
            .collect(),
        temperature: p.temperature,
        top_p: p.top_p,
        max_output_tokens: p.max_tokens,
        text: request.format.as_ref().map(|f| TextConfig {
            format: ResponsesJsonSchemaFormat {
                kind: "json_schema".into(),
                name: f.name.clone(),
                schema: f.schema.clone(),
                strict: true,
            },
        }),
        reasoning: p.thinking.map(|t| ReasoningConfig {
            effort: t.as_str().into(),
            summary: "auto".into(),
        }),
        tool_choice: p.tool_choice.as_ref().map(|c| {
            let mode = |m: &str| super::responses_wire::ResponsesToolChoice::Mode(m.into());
            match c {
                ToolChoice::Auto => mode("auto"),
                ToolChoice::None => mode("none"),
                ToolChoice::Required => mode("required"),
                ToolChoice::Tool(name) => super::responses_wire::ResponsesToolChoice::Function {
                    kind: "function".into(),
                    name: name.clone(),
                },
            }
        }),
        parallel_tool_calls: p.parallel_tool_calls,
        stream: true,
    })
}

/// An image as `input_image`, a file as `input_file` (`file_url`, or
/// `filename` and the bytes as a `data:` URL); `None` for other parts.
fn media_content(part: &ContentPart) -> Result<Option<InputContent>, Error> {
    Ok(Some(match part {
        ContentPart::Image(m) => InputContent::InputImage {
            image_url: url_or_data_url(ID, "an image", m)?,
            detail: "auto".into(),
        },
        ContentPart::File(m) => match m.as_url() {
            Some(url) => InputContent::InputFile {
                file_url: Some(url.into()),
                filename: None,
                file_data: None,
            },
            None => InputContent::InputFile {
                file_url: None,
                filename: Some(crate::media::filename(m)),
                file_data: Some(url_or_data_url(ID, "a file", m)?),
            },
        },
        _ => return Ok(None),
    }))
}

/// Whether `call` was made to a custom (freeform) tool: the decoder sets
/// its `ctc_…` item id as the signature.
fn is_custom(call: &ToolCall) -> bool {
    call.signature
        .as_deref()
        .is_some_and(|s| s.starts_with("ctc_"))
}

/// One core message as input items, in order; `custom` lists the ids of
/// the custom tools' calls.
fn items(message: &Message, custom: &[&str], out: &mut Vec<InputItem>) -> Result<(), Error> {
    // Tool outputs answer the previous assistant turn: they go first.
    for part in &message.content {
        if let ContentPart::ToolOutput(o) = part {
            let call_id = o.id.clone();
            let output = o.result.clone();
            out.push(if custom.contains(&o.id.as_str()) {
                InputItem::CustomToolCallOutput { call_id, output }
            } else if o.attachments.is_empty() {
                InputItem::FunctionCallOutput {
                    call_id,
                    output: FunctionOutput::Text(output),
                }
            } else {
                // Text first (when there is any), then the media.
                let mut parts = Vec::new();
                if !output.is_empty() {
                    parts.push(InputContent::InputText { text: output });
                }
                for a in &o.attachments {
                    parts.extend(media_content(a)?);
                }
                InputItem::FunctionCallOutput {
                    call_id,
                    output: FunctionOutput::Parts(parts),
                }
            });
        }
    }
    let role = match message.role {
        Role::System => "developer",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => return Ok(()),
    };
    let assistant = message.role == Role::Assistant;
    let mut texts: Vec<InputContent> = Vec::new();
    let flush = |texts: &mut Vec<InputContent>, out: &mut Vec<InputItem>| {
        if !texts.is_empty() {
            out.push(InputItem::Message {
                role: role.into(),
                content: std::mem::take(texts),
            });
        }
    };
    for part in &message.content {
        match part {
            ContentPart::Text(t) => texts.push(if assistant {
                InputContent::OutputText {
                    text: t.text.clone(),
                }
            } else {
                InputContent::InputText {
                    text: t.text.clone(),
                }
            }),
            ContentPart::Thought(t) if assistant => {
                let Some(id) = t.signature.as_deref().filter(|s| s.starts_with("rs_")) else {
                    continue;
                };
                flush(&mut texts, out);
                let summary = (!t.thought.is_empty()).then(|| SummaryText {
                    kind: "summary_text".into(),
                    text: t.thought.clone(),
                });
                // Consecutive thoughts of one reasoning item are one item.
                if let Some(InputItem::Reasoning {
                    id: last,
                    summary: s,
                    encrypted_content,
                }) = out.last_mut()
                {
                    if last == id {
                        s.extend(summary);
                        if t.redacted.is_some() {
                            encrypted_content.clone_from(&t.redacted);
                        }
                        continue;
                    }
                }
                out.push(InputItem::Reasoning {
                    id: id.to_string(),
                    summary: summary.into_iter().collect(),
                    encrypted_content: t.redacted.clone(),
                });
            }
            ContentPart::ToolCall(c) if assistant && is_custom(c) => {
                flush(&mut texts, out);
                out.push(InputItem::CustomToolCall {
                    call_id: c.id.clone(),
                    name: c.name.clone(),
                    input: custom_input(&c.args),
                });
            }
            ContentPart::ToolCall(c) if assistant => {
                flush(&mut texts, out);
                out.push(InputItem::FunctionCall {
                    call_id: c.id.clone(),
                    name: c.name.clone(),
                    arguments: c.args_text().to_string(),
                });
            }
            ContentPart::Image(_) | ContentPart::File(_) => texts.extend(media_content(part)?),
            _ => {}
        }
    }
    flush(&mut texts, out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet_core::{Params, ThinkingLevel, Thought, ToolCall, ToolOutput};
    use serde_json::json;

    #[test]
    fn history_with_reasoning_calls_and_outputs() {
        let request = Request {
            model: "gpt-5".into(),
            messages: vec![
                Message::system("Be brief."),
                Message::user("weather?"),
                Message {
                    role: Role::Assistant,
                    content: vec![
                        ContentPart::Thought(Thought {
                            thought: "a".into(),
                            signature: Some("rs_1".into()),
                            redacted: None,
                        }),
                        ContentPart::Thought(Thought {
                            thought: "b".into(),
                            signature: Some("rs_1".into()),
                            redacted: Some("gAAA".into()),
                        }),
                        ContentPart::Thought(Thought {
                            thought: "not ours".into(),
                            signature: Some("anthropic-sig".into()),
                            redacted: None,
                        }),
                        ContentPart::text("Checking."),
                        ContentPart::ToolCall(ToolCall {
                            id: "call_1".into(),
                            name: "weather".into(),
                            args: String::new(),
                            signature: None,
                        }),
                    ],
                },
                Message {
                    role: Role::Tool,
                    content: vec![ContentPart::ToolOutput(ToolOutput {
                        id: "call_1".into(),
                        name: "weather".into(),
                        result: "sunny".into(),
                        is_error: false,
                        attachments: Vec::new(),
                    })],
                },
                Message::system("Answer in French."),
            ],
            params: Params {
                max_tokens: Some(100),
                seed: Some(1),
                stop: vec!["x".into()],
                thinking: Some(ThinkingLevel::High),
                ..Default::default()
            },
            ..Default::default()
        };
        let body = serde_json::to_value(responses_request(&request).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "gpt-5",
                "instructions": "Be brief.",
                "input": [
                    {"type":"message","role":"user","content":[{"type":"input_text","text":"weather?"}]},
                    {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"a"},{"type":"summary_text","text":"b"}],"encrypted_content":"gAAA"},
                    {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Checking."}]},
                    {"type":"function_call","call_id":"call_1","name":"weather","arguments":"{}"},
                    {"type":"function_call_output","call_id":"call_1","output":"sunny"},
                    {"type":"message","role":"developer","content":[{"type":"input_text","text":"Answer in French."}]}
                ],
                "max_output_tokens": 100,
                "reasoning": {"effort":"high","summary":"auto"},
                "stream": true
            })
        );
    }

    #[test]
    fn custom_tool_calls_and_their_outputs_go_back_as_custom_items() {
        let request = Request {
            model: "gpt-5".into(),
            messages: vec![
                Message::user("html?"),
                Message {
                    role: Role::Assistant,
                    content: vec![
                        ContentPart::ToolCall(ToolCall {
                            id: "call_c".into(),
                            name: "setHtml".into(),
                            args: r#"{"input":"<p>\"hi\"</p>\n"}"#.into(),
                            signature: Some("ctc_1".into()),
                        }),
                        ContentPart::ToolCall(ToolCall {
                            id: "call_f".into(),
                            name: "weather".into(),
                            args: r#"{"input":"x"}"#.into(),
                            signature: None,
                        }),
                        ContentPart::Provider(rivulet_core::ProviderPart {
                            provider: "openai-responses".into(),
                            kind: "web_search_call".into(),
                            json: json!({"id": "ws_1", "type": "web_search_call"}),
                        }),
                    ],
                },
                Message {
                    role: Role::Tool,
                    content: vec![
                        ContentPart::ToolOutput(ToolOutput {
                            id: "call_c".into(),
                            name: "setHtml".into(),
                            result: "rendered".into(),
                            is_error: false,
                            attachments: Vec::new(),
                        }),
                        ContentPart::ToolOutput(ToolOutput {
                            id: "call_f".into(),
                            name: "weather".into(),
                            result: "sunny".into(),
                            is_error: false,
                            attachments: Vec::new(),
                        }),
                    ],
                },
            ],
            ..Default::default()
        };
        let body = serde_json::to_value(responses_request(&request).unwrap()).unwrap();
        assert_eq!(
            body["input"],
            json!([
                {"type":"message","role":"user","content":[{"type":"input_text","text":"html?"}]},
                {"type":"custom_tool_call","call_id":"call_c","name":"setHtml","input":"<p>\"hi\"</p>\n"},
                {"type":"function_call","call_id":"call_f","name":"weather","arguments":"{\"input\":\"x\"}"},
                {"type":"custom_tool_call_output","call_id":"call_c","output":"rendered"},
                {"type":"function_call_output","call_id":"call_f","output":"sunny"}
            ])
        );
    }
}
