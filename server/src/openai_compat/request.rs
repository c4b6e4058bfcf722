//! An OpenAI Chat Completions request body → a rivulet [`Model`] and
//! messages, or an OpenAI-style 400.

use std::collections::HashMap;

use rivulet_core::{
    ContentPart, Format, Message, Role, Text, ThinkingLevel, ToolCall, ToolDefinition, ToolOutput,
};

use super::completions_wire::{self, ChatMessage, ChatRequest, Content, ResponseFormat, Stop};
use crate::ApiError;
use rivulet::Model;

/// A parsed request: what to stream and how to answer.
#[derive(Debug)]
pub struct ChatCall {
    /// The model with the request's parameters, tools and format.
    pub model: Model,
    /// The conversation.
    pub messages: Vec<Message>,
    /// `stream: true`: answer with `chat.completion.chunk` events.
    pub stream: bool,
    /// `stream_options.include_usage`: end the stream with a usage chunk.
    pub include_usage: bool,
}

/// Reads a request body. A body that is not a valid request gets a 400 whose
/// `param` names the offending field (`messages[1].tool_call_id`).
///
/// ```
/// use rivulet_server::openai_compat::parse_request;
/// let call = parse_request(br#"{"model": "anthropic/claude-sonnet-4-0",
///     "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 50}"#).unwrap();
/// assert_eq!(call.model.provider_id(), "anthropic");
/// assert_eq!(call.messages[0].text(), "Hi");
/// let bad = parse_request(br#"{"model": "openai/gpt-4o", "messages": "hi"}"#).unwrap_err();
/// assert_eq!(bad.param.as_deref(), Some("messages"));
/// ```
pub fn parse_request(body: &[u8]) -> Result<ChatCall, ApiError> {
    if !crate::body::is_json_object(body) {
        return Err(ApiError::invalid(
            "invalid request body: it must be a JSON object".into(),
            None,
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    let request: ChatRequest = serde_path_to_error::deserialize(de).map_err(|e| {
        let param = error_param(&e.path().to_string(), &e.inner().to_string());
        ApiError::invalid(format!("invalid request body: {}", e.inner()), param)
    })?;
    convert(request)
}

/// The field a deserialization error is about: its path, and for a missing
/// field the field itself, which serde names only in the message (the path
/// stops at the object that lacks it).
fn error_param(path: &str, message: &str) -> Option<String> {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(field, _)| field);
    // `.` is serde_path_to_error's name for the root.
    match (path, missing) {
        (".", None) => None,
        (".", Some(field)) => Some(field.to_string()),
        (path, None) => Some(path.to_string()),
        (path, Some(field)) => Some(format!("{path}.{field}")),
    }
}

fn convert(r: ChatRequest) -> Result<ChatCall, ApiError> {
    let model = model_of(&r.model)?;
    if r.n.is_some_and(|n| n != 1) {
        return Err(ApiError::unsupported("n", "only n = 1 is supported"));
    }
    if r.logprobs == Some(true) {
        return Err(ApiError::unsupported(
            "logprobs",
            "log probabilities are not supported",
        ));
    }
    // rivulet leaves the choice to the model: `auto` is the only choice.
    match &r.tool_choice {
        None => {}
        Some(v) if v == "auto" => {}
        Some(_) => {
            return Err(ApiError::unsupported(
                "tool_choice",
                "only tool_choice \"auto\" is supported",
            ))
        }
    }

    // OpenAI's own answer to a 0, so a client sees the error it knows.
    for (name, value) in [
        ("max_completion_tokens", r.max_completion_tokens),
        ("max_tokens", r.max_tokens),
    ] {
        if value == Some(0) {
            return Err(ApiError::invalid(
                format!(
                    "Invalid '{name}': integer below minimum value. \
                     Expected a value >= 1, but got 0 instead."
                ),
                Some(name.into()),
            ));
        }
    }
    let mut params = rivulet_core::Params {
        max_tokens: r.max_completion_tokens.or(r.max_tokens),
        temperature: r.temperature,
        top_p: r.top_p,
        seed: r.seed,
        ..Default::default()
    };
    if let Some(t) = r
        .temperature
        .filter(|t| !rivulet::model::valid_temperature(*t))
    {
        return Err(ApiError::invalid(
            format!("temperature must be a number of 0 or more, not {t}"),
            Some("temperature".into()),
        ));
    }
    params.stop = match r.stop {
        None => Vec::new(),
        Some(Stop::One(s)) => vec![s],
        Some(Stop::Many(v)) => v,
    };
    params.thinking = match r.reasoning_effort.as_deref() {
        None => None,
        Some("minimal" | "low") => Some(ThinkingLevel::Low),
        Some("medium") => Some(ThinkingLevel::Medium),
        Some("high") => Some(ThinkingLevel::High),
        Some(other) => {
            return Err(ApiError::unsupported(
                "reasoning_effort",
                &format!("reasoning_effort {other:?} is not supported (low, medium, high)"),
            ))
        }
    };
    let mut model = model.params(params);

    if let Some(tools) = r.tools {
        let mut defs = Vec::with_capacity(tools.len());
        for (i, t) in tools.into_iter().enumerate() {
            if t.kind != "function" {
                return Err(ApiError::unsupported(
                    &format!("tools[{i}].type"),
                    &format!("tool type {:?} is not supported (function)", t.kind),
                ));
            }
            defs.push(ToolDefinition {
                name: t.function.name,
                description: t.function.description.unwrap_or_default(),
                parameters: t
                    .function
                    .parameters
                    .unwrap_or_else(|| serde_json::json!({"type": "object", "properties": {}})),
            });
        }
        model = model.tools(defs);
    }

    match r.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => {
            return Err(ApiError::unsupported(
                "response_format.type",
                "response_format json_object is not supported; use json_schema",
            ))
        }
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            let Some(schema) = json_schema.schema else {
                return Err(ApiError::invalid(
                    "response_format.json_schema.schema is required".into(),
                    Some("response_format.json_schema.schema".into()),
                ));
            };
            model = model.format_schema(Format {
                name: json_schema.name,
                schema,
            });
        }
    }

    Ok(ChatCall {
        model,
        messages: messages(r.messages)?,
        stream: r.stream.unwrap_or(false),
        include_usage: r
            .stream_options
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
    })
}

/// `provider/model`, for a provider rivulet knows (or `local`).
fn model_of(id: &str) -> Result<Model, ApiError> {
    let model = Model::new(id);
    let known = model.provider_id() == rivulet::local::PROVIDER_ID
        || rivulet::providers::PROVIDER_IDS.contains(&model.provider_id());
    if !known || (model.model_name().is_empty() && model.provider_id() != "local") {
        return Err(ApiError {
            code: Some("model_not_found"),
            ..ApiError::invalid(
                format!(
                    "model {id:?} is not \"provider/model\" for a known provider ({}, local)",
                    rivulet::providers::PROVIDER_IDS.join(", ")
                ),
                Some("model".into()),
            )
        });
    }
    Ok(model)
}

fn messages(wire: Vec<ChatMessage>) -> Result<Vec<Message>, ApiError> {
    if wire.is_empty() {
        return Err(ApiError::invalid(
            "messages must not be empty".into(),
            Some("messages".into()),
        ));
    }
    // A tool message names only its call's id; the tool's name (which
    // Gemini needs) comes from the assistant message that made the call.
    let mut names: HashMap<String, String> = HashMap::new();
    let mut out: Vec<Message> = Vec::with_capacity(wire.len());
    for (i, m) in wire.into_iter().enumerate() {
        let param = |field: &str| Some(format!("messages[{i}].{field}"));
        match m {
            ChatMessage::System { content } | ChatMessage::Developer { content } => {
                out.push(Message {
                    role: Role::System,
                    content: text_parts(content, param("content"))?,
                })
            }
            ChatMessage::User { content } => out.push(Message {
                role: Role::User,
                content: text_parts(content, param("content"))?,
            }),
            ChatMessage::Assistant {
                content,
                tool_calls,
            } => {
                let mut parts = match content {
                    Some(c) => text_parts(c, param("content"))?,
                    None => Vec::new(),
                };
                for call in tool_calls.unwrap_or_default() {
                    names.insert(call.id.clone(), call.function.name.clone());
                    parts.push(ContentPart::ToolCall(ToolCall {
                        id: call.id,
                        name: call.function.name,
                        args: call.function.arguments,
                        signature: None,
                    }));
                }
                out.push(Message {
                    role: Role::Assistant,
                    content: parts,
                });
            }
            ChatMessage::Tool {
                content,
                tool_call_id,
            } => {
                let Some(name) = names.get(&tool_call_id).cloned() else {
                    return Err(ApiError::invalid(
                        format!("tool_call_id {tool_call_id:?} answers no earlier tool call"),
                        param("tool_call_id"),
                    ));
                };
                let result = text_parts(content, param("content"))?
                    .iter()
                    .filter_map(|p| match p {
                        ContentPart::Text(t) => Some(t.text.as_str()),
                        _ => None,
                    })
                    .collect();
                let output = ContentPart::ToolOutput(ToolOutput {
                    id: tool_call_id,
                    name,
                    result,
                    is_error: false,
                    attachments: Vec::new(),
                });
                // Outputs of one turn's calls travel together, as
                // `StreamResponse::resume` sends them.
                match out.last_mut() {
                    Some(last) if last.role == Role::Tool => last.content.push(output),
                    _ => out.push(Message {
                        role: Role::Tool,
                        content: vec![output],
                    }),
                }
            }
        }
    }
    Ok(out)
}

fn text_parts(content: Content, param: Option<String>) -> Result<Vec<ContentPart>, ApiError> {
    match content {
        Content::Text(text) => Ok(vec![ContentPart::Text(Text { text })]),
        Content::Parts(parts) => parts
            .into_iter()
            .map(
                |p: completions_wire::ContentPart| match (p.kind.as_str(), p.text) {
                    ("text", Some(text)) => Ok(ContentPart::Text(Text { text })),
                    ("text", None) => Err(ApiError::invalid(
                        "a text content part needs its text".into(),
                        param.clone(),
                    )),
                    (other, _) => Err(ApiError {
                        code: Some("unsupported_value"),
                        ..ApiError::invalid(
                            format!("content part type {other:?} is not supported (text)"),
                            param.clone(),
                        )
                    }),
                },
            )
            .collect(),
    }
}
