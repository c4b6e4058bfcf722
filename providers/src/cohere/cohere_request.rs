//! From a core [`Request`] to a Cohere v2 chat request body.

use rivulet_core::{ContentPart, Error, Message, Request, Role, ToolChoice};

use super::cohere_id::ID;
use super::cohere_wire::{
    self, CohereChatMessage, CohereChatRequest, CohereFunctionCall, CohereFunctionDefinition,
    CohereMessageContent, CohereResponseFormat, CohereTool, Thinking, ToolCall,
};
use crate::config::thinking_budget;

/// The streaming request body.
///
/// Tool outputs become `tool` messages (before the rest of their message:
/// they answer the previous assistant turn). An assistant turn's thoughts
/// go back as its `tool_plan` when it calls tools (that is what Cohere's
/// plan is), and are not sent otherwise. Images in user turns go as
/// `image_url` parts (a URL or a `data:` URL); Cohere takes no files, and
/// no images elsewhere: those are refused with [`Error::Unsupported`].
///
/// `Params::tool_choice`: `REQUIRED` or `NONE` (auto is the default and
/// not sent); a named tool, which Cohere cannot name, is sent as the only
/// tool with `REQUIRED`. `parallel_tool_calls: false`, more than one
/// choice and spoken output are refused.
pub fn chat_request(request: &Request) -> Result<CohereChatRequest, Error> {
    crate::media::only_in_user_turns(ID, &request.messages)?;
    crate::options::check_tool_choice(ID, request)?;
    crate::options::check_unsupported(ID, &request.params, false, false)?;
    crate::options::check_no_audio(ID, request)?;
    let p = &request.params;
    let only = match &p.tool_choice {
        Some(ToolChoice::Tool(name)) => Some(name.as_str()),
        _ => None,
    };
    let mut chat_messages = Vec::new();
    for m in &request.messages {
        chat_messages.extend(messages(m)?);
    }
    Ok(CohereChatRequest {
        model: request.model.clone(),
        messages: chat_messages,
        tools: request
            .tools
            .iter()
            .filter(|t| match only {
                Some(name) => t.name == name,
                None => true,
            })
            .map(|t| CohereTool {
                kind: "function".into(),
                function: CohereFunctionDefinition {
                    name: t.name.clone(),
                    description: t.description.clone(),
                    parameters: t.parameters.clone(),
                },
            })
            .collect(),
        temperature: p.temperature,
        p: p.top_p,
        max_tokens: p.max_tokens,
        seed: p.seed,
        stop_sequences: p.stop.clone(),
        response_format: request.format.as_ref().map(|f| CohereResponseFormat {
            kind: "json_object".into(),
            json_schema: f.schema.clone(),
        }),
        thinking: p.thinking.map(|t| Thinking {
            kind: "enabled".into(),
            token_budget: thinking_budget(t),
        }),
        tool_choice: match p.tool_choice {
            None | Some(ToolChoice::Auto) => None,
            Some(ToolChoice::None) => Some("NONE".into()),
            Some(ToolChoice::Required | ToolChoice::Tool(_)) => Some("REQUIRED".into()),
        },
        stream: true,
    })
}

/// The user content with its images: parts in order; `None` without
/// images (the text goes as a string).
fn parts(message: &Message) -> Result<Option<Vec<cohere_wire::CohereContentPart>>, Error> {
    if !message
        .content
        .iter()
        .any(|p| matches!(p, ContentPart::Image(_) | ContentPart::File(_)))
    {
        return Ok(None);
    }
    let mut out = Vec::new();
    for part in &message.content {
        match part {
            ContentPart::Text(t) if !t.text.is_empty() => {
                out.push(cohere_wire::CohereContentPart::Text {
                    text: t.text.clone(),
                })
            }
            _ => out.extend(image_part(part)?),
        }
    }
    Ok(Some(out))
}

/// An image as an `image_url` part (a URL or a `data:` URL); files are
/// refused; `None` for other parts.
fn image_part(part: &ContentPart) -> Result<Option<cohere_wire::CohereContentPart>, Error> {
    Ok(Some(match part {
        ContentPart::Image(m) => cohere_wire::CohereContentPart::ImageUrl {
            image_url: cohere_wire::CohereImageUrl {
                url: crate::media::url_or_data_url(ID, "an image", m)?,
            },
        },
        ContentPart::File(_) => return Err(crate::media::unsupported(ID, "files")),
        _ => return Ok(None),
    }))
}

fn messages(message: &Message) -> Result<Vec<CohereChatMessage>, Error> {
    // Tool messages take text and documents, not images: those a tool
    // returned go in a user message right after, introduced by the call.
    let mut out = crate::media::text_only_tool_messages(
        message,
        |o| CohereChatMessage {
            role: "tool".into(),
            content: Some(o.result.clone().into()),
            tool_call_id: Some(o.id.clone()),
            ..Default::default()
        },
        |text| cohere_wire::CohereContentPart::Text { text },
        image_part,
        |parts| CohereChatMessage {
            role: "user".into(),
            content: Some(CohereMessageContent::Parts(parts)),
            ..Default::default()
        },
    )?;
    let role = match message.role {
        Role::System => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => return Ok(out),
    };
    let has_text = message
        .content
        .iter()
        .any(|p| matches!(p, ContentPart::Text(_)));
    let tool_calls: Vec<ToolCall> = message
        .content
        .iter()
        .filter_map(|part| match part {
            ContentPart::ToolCall(c) if message.role == Role::Assistant => Some(ToolCall {
                id: c.id.clone(),
                kind: "function".into(),
                function: CohereFunctionCall {
                    name: c.name.clone(),
                    arguments: c.args_text().to_string(),
                },
            }),
            _ => None,
        })
        .collect();
    let plan: String = message
        .content
        .iter()
        .filter_map(|p| match p {
            ContentPart::Thought(t) => Some(t.thought.as_str()),
            _ => None,
        })
        .collect();
    let parts = parts(message)?;
    if has_text || parts.is_some() || !tool_calls.is_empty() {
        let content = match parts {
            Some(parts) => Some(CohereMessageContent::Parts(parts)),
            None => has_text.then(|| message.text().into()),
        };
        out.push(CohereChatMessage {
            role: role.into(),
            content,
            tool_plan: (!tool_calls.is_empty() && !plan.is_empty()).then_some(plan),
            tool_calls,
            tool_call_id: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet_core::{Format, Params, ThinkingLevel, Thought, ToolDefinition, ToolOutput};
    use serde_json::json;

    #[test]
    fn full_body() {
        let request = Request {
            model: "command-a-03-2025".into(),
            messages: vec![
                Message::system("s"),
                Message::user("weather?"),
                Message {
                    role: Role::Assistant,
                    content: vec![
                        ContentPart::Thought(Thought {
                            thought: "I will use the weather tool.".into(),
                            ..Default::default()
                        }),
                        ContentPart::ToolCall(rivulet_core::ToolCall {
                            id: "weather_1".into(),
                            name: "weather".into(),
                            args: r#"{"location":"SF"}"#.into(),
                            signature: None,
                        }),
                    ],
                },
                Message {
                    role: Role::Tool,
                    content: vec![ContentPart::ToolOutput(ToolOutput {
                        id: "weather_1".into(),
                        name: "weather".into(),
                        result: "sunny".into(),
                        is_error: false,
                        attachments: Vec::new(),
                    })],
                },
            ],
            params: Params {
                temperature: Some(0.3),
                max_tokens: Some(200),
                top_p: Some(0.9),
                seed: Some(5),
                stop: vec!["END".into()],
                thinking: Some(ThinkingLevel::Low),
                ..Default::default()
            },
            tools: vec![ToolDefinition {
                name: "weather".into(),
                description: "Get the weather.".into(),
                parameters: json!({"type":"object"}),
            }],
            format: Some(Format {
                name: "A".into(),
                schema: json!({"type":"object"}),
            }),
            ..Default::default()
        };
        let body = serde_json::to_value(chat_request(&request).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "command-a-03-2025",
                "messages": [
                    {"role":"system","content":"s"},
                    {"role":"user","content":"weather?"},
                    {"role":"assistant","tool_plan":"I will use the weather tool.","tool_calls":[{"id":"weather_1","type":"function","function":{"name":"weather","arguments":"{\"location\":\"SF\"}"}}]},
                    {"role":"tool","content":"sunny","tool_call_id":"weather_1"}
                ],
                "tools": [{"type":"function","function":{"name":"weather","description":"Get the weather.","parameters":{"type":"object"}}}],
                "temperature": 0.3,
                "p": 0.9,
                "max_tokens": 200,
                "seed": 5,
                "stop_sequences": ["END"],
                "response_format": {"type":"json_object","json_schema":{"type":"object"}},
                "thinking": {"type":"enabled","token_budget":1024},
                "stream": true
            })
        );
    }
}
