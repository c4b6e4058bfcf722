//! From a core [`Request`] to a Chat Completions request body.

use rivulet_core::{ContentPart, Error, Media, Message, Request, Role, ToolChoice};

use super::openai_wire::{
    self, AudioParam, ChatContent, ChatFileData, ChatFunctionCall, ChatFunctionDefinition,
    ChatImageUrl, ChatJsonSchemaFormat, ChatMessage, ChatRequest, ChatResponseFormat, ChatTool,
    ChatToolCall, StreamOptions, ToolName,
};
use crate::family::{Family, FileInput, MaxTokensField};
use crate::media;

/// The streaming request body for `family`.
///
/// `include_usage` adds `stream_options: {include_usage: true}`, which
/// makes OpenAI send the usage chunk; it is dropped for servers that reject
/// it.
///
/// Images go as `image_url` parts (a URL, or the bytes as a `data:` URL)
/// and files in the family member's form ([`FileInput`]); a member that
/// cannot take one, or a file URL where only bytes go, is refused with
/// [`Error::Unsupported`], as is an image or file outside a user turn.
///
/// `tool_choice`, `parallel_tool_calls` and `n` are sent as given (a
/// named tool as `{type: function, function: {name}}`, "required" as the
/// member's word for it); spoken output as `modalities: ["text",
/// "audio"]` and `audio: {voice, format}`, by the members that speak
/// (refused by the others).
pub fn chat_request(
    family: &Family,
    request: &Request,
    include_usage: bool,
) -> Result<ChatRequest, Error> {
    media::only_in_user_turns(family.id, &request.messages)?;
    crate::options::check_tool_choice(family.id, request)?;
    if !family.audio_output {
        crate::options::check_no_audio(family.id, request)?;
    }
    let p = &request.params;
    let (max_tokens, max_completion_tokens) = match family.max_tokens_field {
        MaxTokensField::MaxTokens => (p.max_tokens, None),
        MaxTokensField::MaxCompletionTokens => (None, p.max_tokens),
    };
    let mut chat_messages = Vec::new();
    for m in &request.messages {
        chat_messages.extend(messages(family, m)?);
    }
    Ok(ChatRequest {
        model: request.model.clone(),
        messages: chat_messages,
        temperature: p.temperature,
        max_tokens,
        max_completion_tokens,
        top_p: p.top_p,
        seed: p.seed,
        stop: p.stop.clone(),
        tools: request
            .tools
            .iter()
            .map(|t| ChatTool {
                kind: "function".into(),
                function: ChatFunctionDefinition {
                    name: t.name.clone(),
                    description: t.description.clone(),
                    parameters: t.parameters.clone(),
                },
            })
            .collect(),
        response_format: request.format.as_ref().map(|f| ChatResponseFormat {
            kind: "json_schema".into(),
            json_schema: ChatJsonSchemaFormat {
                name: f.name.clone(),
                schema: f.schema.clone(),
                strict: true,
            },
        }),
        reasoning_effort: p
            .thinking
            .filter(|_| family.reasoning_effort)
            .map(|t| t.as_str().to_string()),
        tool_choice: p.tool_choice.as_ref().map(|c| match c {
            ToolChoice::Auto => openai_wire::ChatToolChoice::Mode("auto".into()),
            ToolChoice::None => openai_wire::ChatToolChoice::Mode("none".into()),
            ToolChoice::Required => {
                openai_wire::ChatToolChoice::Mode(family.required_tool_choice.into())
            }
            ToolChoice::Tool(name) => openai_wire::ChatToolChoice::Function {
                kind: "function".into(),
                function: ToolName { name: name.clone() },
            },
        }),
        parallel_tool_calls: p.parallel_tool_calls,
        n: p.n,
        modalities: match request.audio {
            Some(_) => vec!["text".into(), "audio".into()],
            None => Vec::new(),
        },
        audio: request.audio.as_ref().map(|a| AudioParam {
            voice: a.voice.clone(),
            format: a.format.clone(),
        }),
        stream: true,
        stream_options: include_usage.then_some(StreamOptions {
            include_usage: true,
        }),
    })
}

/// An image or a file as a content part in `family`'s form.
fn media_part(
    family: &Family,
    part: &ContentPart,
) -> Result<Option<openai_wire::ChatContentPart>, Error> {
    let id = family.id;
    let url = |what: &str, m: &Media| media::url_or_data_url(id, what, m);
    Ok(Some(match part {
        ContentPart::Image(m) if family.images => openai_wire::ChatContentPart::ImageUrl {
            image_url: ChatImageUrl {
                url: url("an image", m)?,
            },
        },
        ContentPart::File(m) => match family.files {
            FileInput::FilePart { urls } if urls || m.as_url().is_none() => {
                openai_wire::ChatContentPart::File {
                    file: ChatFileData {
                        filename: media::filename(m),
                        file_data: url("a file", m)?,
                    },
                }
            }
            FileInput::FilePart { .. } => {
                return Err(media::unsupported(
                    id,
                    format_args!("a file by URL ({}); send its bytes", m.describe()),
                ))
            }
            FileInput::DocumentUrl => openai_wire::ChatContentPart::DocumentUrl {
                document_url: url("a file", m)?,
            },
            FileInput::None => return Err(media::unsupported(id, "files")),
        },
        ContentPart::Image(_) => return Err(media::unsupported(id, "images")),
        _ => return Ok(None),
    }))
}

/// One core message as Chat Completions messages.
///
/// Tool outputs become `tool` messages (one per output, before the rest of
/// the message, since they answer the previous assistant turn); images and
/// files a tool returned follow in a user message. Thoughts
/// are not sent back: Chat Completions has no field for them, and DeepSeek
/// rejects `reasoning_content` in input. Audio parts are not sent either.
/// Text alone is sent as a string; with images or files the content is a
/// list of parts, in the message's order.
fn messages(family: &Family, message: &Message) -> Result<Vec<ChatMessage>, Error> {
    // Tool messages take text only: what the tools returned beside it goes
    // in a user message right after them, each call's introduced by its id.
    let mut out = media::text_only_tool_messages(
        message,
        |o| ChatMessage {
            role: "tool".into(),
            content: Some(o.result.clone().into()),
            tool_call_id: Some(o.id.clone()),
            ..Default::default()
        },
        |text| openai_wire::ChatContentPart::Text { text },
        |a| media_part(family, a),
        |parts| ChatMessage {
            role: "user".into(),
            content: Some(ChatContent::Parts(parts)),
            ..Default::default()
        },
    )?;

    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        // A tool message's outputs went out above; stray text has nowhere to go.
        Role::Tool => return Ok(out),
    };
    let tool_calls: Vec<ChatToolCall> = message
        .content
        .iter()
        .filter_map(|part| match part {
            ContentPart::ToolCall(c) if message.role == Role::Assistant => Some(ChatToolCall {
                id: c.id.clone(),
                kind: "function".into(),
                function: ChatFunctionCall {
                    name: c.name.clone(),
                    arguments: c.args_text().to_string(),
                },
            }),
            _ => None,
        })
        .collect();
    let mut media_parts = false;
    let mut parts = Vec::new();
    for part in &message.content {
        match part {
            ContentPart::Text(t) if !t.text.is_empty() => {
                parts.push(openai_wire::ChatContentPart::Text {
                    text: t.text.clone(),
                })
            }
            _ => {
                if let Some(p) = media_part(family, part)? {
                    media_parts = true;
                    parts.push(p);
                }
            }
        }
    }
    let has_text = message
        .content
        .iter()
        .any(|p| matches!(p, ContentPart::Text(_)));
    let content = if media_parts {
        Some(ChatContent::Parts(parts))
    } else if has_text || tool_calls.is_empty() {
        Some(message.text().into())
    } else {
        // An assistant turn that only calls tools has `content: null`.
        None
    };
    if has_text || media_parts || !tool_calls.is_empty() {
        out.push(ChatMessage {
            role: role.into(),
            content,
            tool_calls,
            tool_call_id: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::family;
    use rivulet_core::{Format, Params, ThinkingLevel, ToolCall, ToolDefinition, ToolOutput};
    use serde_json::json;

    fn body(family_id: &str, request: &Request) -> serde_json::Value {
        serde_json::to_value(chat_request(family::find(family_id).unwrap(), request, true).unwrap())
            .unwrap()
    }

    #[test]
    fn parameters_and_family_quirks() {
        let request = Request {
            model: "m".into(),
            messages: vec![Message::system("s"), Message::user("u")],
            params: Params {
                temperature: Some(0.5),
                max_tokens: Some(50),
                top_p: Some(0.9),
                seed: Some(7),
                stop: vec!["END".into()],
                thinking: Some(ThinkingLevel::High),
                ..Default::default()
            },
            ..Default::default()
        };
        let openai = body("openai", &request);
        assert_eq!(openai["max_completion_tokens"], 50);
        assert!(openai.get("max_tokens").is_none());
        assert_eq!(openai["reasoning_effort"], "high");
        assert_eq!(openai["temperature"], 0.5);
        assert_eq!(openai["top_p"], 0.9);
        assert_eq!(openai["seed"], 7);
        assert_eq!(openai["stop"], json!(["END"]));
        assert_eq!(openai["stream"], true);
        assert_eq!(openai["stream_options"], json!({"include_usage": true}));
        assert_eq!(
            openai["messages"],
            json!([{"role":"system","content":"s"},{"role":"user","content":"u"}])
        );

        let deepseek = body("deepseek", &request);
        assert_eq!(deepseek["max_tokens"], 50);
        assert!(deepseek.get("max_completion_tokens").is_none());
        assert!(deepseek.get("reasoning_effort").is_none());
        for id in ["groq", "xai", "openrouter"] {
            assert_eq!(body(id, &request)["reasoning_effort"], "high", "{id}");
        }
        let bare = body(
            "ollama",
            &Request {
                model: "m".into(),
                ..Default::default()
            },
        );
        for absent in [
            "temperature",
            "top_p",
            "seed",
            "stop",
            "tools",
            "response_format",
            "max_tokens",
        ] {
            assert!(bare.get(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn tools_format_and_tool_history() {
        let request = Request {
            model: "m".into(),
            messages: vec![
                Message::user("weather?"),
                Message {
                    role: Role::Assistant,
                    content: vec![ContentPart::ToolCall(ToolCall {
                        id: "call_1".into(),
                        name: "weather".into(),
                        args: r#"{"city":"Paris"}"#.into(),
                        signature: None,
                    })],
                },
                Message {
                    role: Role::User,
                    content: vec![
                        ContentPart::ToolOutput(ToolOutput {
                            id: "call_1".into(),
                            name: "weather".into(),
                            result: "sunny".into(),
                            is_error: false,
                            attachments: Vec::new(),
                        }),
                        ContentPart::text("thanks"),
                    ],
                },
            ],
            tools: vec![ToolDefinition {
                name: "weather".into(),
                description: "Get the weather.".into(),
                parameters: json!({"type":"object"}),
            }],
            format: Some(Format {
                name: "Answer".into(),
                schema: json!({"type":"object"}),
            }),
            ..Default::default()
        };
        let b = body("openai", &request);
        assert_eq!(
            b["messages"],
            json!([
                {"role":"user","content":"weather?"},
                {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"weather","arguments":"{\"city\":\"Paris\"}"}}]},
                {"role":"tool","content":"sunny","tool_call_id":"call_1"},
                {"role":"user","content":"thanks"}
            ])
        );
        assert_eq!(
            b["tools"],
            json!([{"type":"function","function":{"name":"weather","description":"Get the weather.","parameters":{"type":"object"}}}])
        );
        assert_eq!(
            b["response_format"],
            json!({"type":"json_schema","json_schema":{"name":"Answer","schema":{"type":"object"},"strict":true}})
        );
    }

    #[test]
    fn without_include_usage() {
        let request = Request {
            model: "m".into(),
            ..Default::default()
        };
        let b = serde_json::to_value(
            chat_request(family::find("vllm").unwrap(), &request, false).unwrap(),
        )
        .unwrap();
        assert!(b.get("stream_options").is_none());
        assert_eq!(b["stream"], true);
    }
}
