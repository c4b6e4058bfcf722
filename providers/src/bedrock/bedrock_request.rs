//! From a core [`Request`] to a Converse request body.

use rivulet_core::{ContentPart, Error, Media, Request, Role, ToolChoice as Choice};
use serde_json::{json, Value};

use super::bedrock_id::ID;
use super::bedrock_wire::{
    BedrockContentBlock, BedrockMessage, BedrockSystemBlock, BedrockTool, BedrockToolChoice,
    BedrockToolConfig, BedrockToolResultContent, CachePoint, ConverseRequest, DocumentBlock, Empty,
    ImageBlock, InferenceConfig, InputSchema, MediaSource, ReasoningBlock, ReasoningText,
    S3Location, SpecificTool, ToolResultBlock, ToolSpec, ToolUseBlock,
};
use crate::config::{
    format_instruction, format_tool_description, thinking_budget, FormatChoice, FORMAT_TOOL,
};
use crate::conversation::system_texts;
use crate::media;

/// The request body (the model is in the URL).
///
/// - System messages become `system` blocks; tool outputs `toolResult`
///   blocks of a user message; consecutive messages of one role are merged
///   (Converse wants the roles to alternate); empty text is left out (it
///   is rejected).
/// - Bedrock's own provider parts (a server tool's `toolUse` and
///   `toolResult` blocks) go back unchanged in the assistant message, as
///   Converse accepts them; other providers' are not sent.
/// - Thoughts go back as `reasoningContent`: redacted ones as
///   `redactedContent`, signed ones as `reasoningText` with their
///   signature; unsigned thoughts (another provider's) are not sent.
/// - `Params.thinking` becomes Anthropic's
///   `additionalModelRequestFields.thinking` (a budget below `max_tokens`,
///   at least 1024). `seed` has no Converse equivalent and is not sent.
/// - `Request.format` (Converse has no JSON-schema output mode) becomes a
///   tool whose input is the answer, [`FORMAT_TOOL`], as for Anthropic:
///   forced with `toolChoice: {tool}` (`{any}` when there are other
///   tools); with thinking on, Anthropic's models refuse a forced tool, so
///   the choice is left to the model and the system prompt asks for it.
/// - Images become `image` blocks (PNG, JPEG, GIF or WebP), files
///   `document` blocks (PDF, CSV, Word, Excel, HTML, plain text, Markdown)
///   named by their file name (its stem, in the characters Converse
///   allows) or `Document N`; the content is their bytes or an `s3://`
///   URI. Other URLs, other types and media outside user turns are
///   refused with [`Error::Unsupported`].
/// - `Params::tool_choice` → `toolChoice` (`auto`, `any`, `tool`); `none`
///   has no Converse form, so the tools are not sent (with a format its
///   tool stays, as the format needs it). The caller's choice wins over
///   the format's forced tool (the format is then asked for in the system
///   prompt).
/// - `Request::cache` → `cachePoint` blocks after the system prompt, after
///   the tools and at the end of the last message (Converse takes no
///   TTL: the cache lives its default time).
/// - `parallel_tool_calls: false`, more than one choice and spoken output
///   are refused: Converse has no switch for them.
pub fn converse_request(request: &Request) -> Result<ConverseRequest, Error> {
    media::only_in_user_turns(ID, &request.messages)?;
    crate::options::check_tool_choice(ID, request)?;
    crate::options::check_unsupported(ID, &request.params, false, false)?;
    crate::options::check_no_audio(ID, request)?;
    let cache = request.cache.unwrap_or_default();
    let p = &request.params;
    let mut documents = 0;
    let mut system: Vec<BedrockSystemBlock> = system_texts(&request.messages)
        .map(BedrockSystemBlock::Text)
        .collect();
    let mut messages: Vec<BedrockMessage> = Vec::new();
    let mut push = |role: &str, block: BedrockContentBlock| match messages.last_mut() {
        Some(m) if m.role == role => m.content.push(block),
        _ => messages.push(BedrockMessage {
            role: role.into(),
            content: vec![block],
        }),
    };
    for m in &request.messages {
        for part in &m.content {
            if let ContentPart::ToolOutput(o) = part {
                // The text (left out when empty beside media: Converse
                // rejects a blank text), then the images and documents.
                let mut content = Vec::new();
                if !o.result.is_empty() || o.attachments.is_empty() {
                    content.push(BedrockToolResultContent::Text(o.result.clone()));
                }
                for a in &o.attachments {
                    match a {
                        ContentPart::Image(m) => {
                            content.push(BedrockToolResultContent::Image(image(m)?))
                        }
                        ContentPart::File(m) => {
                            documents += 1;
                            content
                                .push(BedrockToolResultContent::Document(document(m, documents)?));
                        }
                        _ => {}
                    }
                }
                push(
                    "user",
                    BedrockContentBlock::ToolResult(ToolResultBlock {
                        tool_use_id: o.id.clone(),
                        content,
                        status: o.is_error.then(|| "error".into()),
                    }),
                );
            }
        }
        let role = match m.role {
            // In `system`, above.
            Role::System => continue,
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::Tool => continue,
        };
        let assistant = m.role == Role::Assistant;
        for part in &m.content {
            let block = match part {
                ContentPart::Text(t) if !t.text.is_empty() => {
                    BedrockContentBlock::Text(t.text.clone())
                }
                ContentPart::Thought(t) if assistant => {
                    if let Some(r) = &t.redacted {
                        BedrockContentBlock::ReasoningContent(ReasoningBlock::RedactedContent(
                            r.clone(),
                        ))
                    } else if t.signature.is_some() {
                        BedrockContentBlock::ReasoningContent(ReasoningBlock::ReasoningText(
                            ReasoningText {
                                text: t.thought.clone(),
                                signature: t.signature.clone(),
                            },
                        ))
                    } else {
                        continue;
                    }
                }
                ContentPart::ToolCall(c) if assistant => {
                    BedrockContentBlock::ToolUse(ToolUseBlock {
                        tool_use_id: c.id.clone(),
                        name: c.name.clone(),
                        // A document, not text: the arguments as JSON (the raw
                        // text as a string when the model wrote invalid JSON).
                        input: c
                            .args_json()
                            .unwrap_or_else(|_| Value::String(c.args.clone())),
                    })
                }
                ContentPart::Provider(p) if assistant && p.provider == ID => {
                    BedrockContentBlock::Raw(p.json.clone())
                }
                ContentPart::Image(m) => BedrockContentBlock::Image(image(m)?),
                ContentPart::File(m) => {
                    documents += 1;
                    BedrockContentBlock::Document(document(m, documents)?)
                }
                _ => continue,
            };
            push(role, block);
        }
    }
    let additional = p.thinking.map(|level| {
        let mut budget = thinking_budget(level);
        if let Some(max) = p.max_tokens {
            if max <= budget {
                budget = max.saturating_sub(1).max(1024);
            }
        }
        json!({"thinking": {"type": "enabled", "budget_tokens": budget}})
    });
    let tool = |name: &str, description: &str, schema: &Value| {
        BedrockTool::ToolSpec(ToolSpec {
            name: name.into(),
            description: description.into(),
            input_schema: InputSchema {
                json: schema.clone(),
            },
        })
    };
    let none = p.tool_choice == Some(Choice::None);
    let mut tools: Vec<BedrockTool> = request
        .tools
        .iter()
        .filter(|_| !none)
        .map(|t| tool(&t.name, &t.description, &t.parameters))
        .collect();
    let mut tool_choice = match &p.tool_choice {
        None | Some(Choice::None) => None,
        Some(Choice::Auto) => Some(BedrockToolChoice::Auto(Empty {})),
        Some(Choice::Required) => Some(BedrockToolChoice::Any(Empty {})),
        Some(Choice::Tool(name)) => {
            Some(BedrockToolChoice::Tool(SpecificTool { name: name.clone() }))
        }
    };
    if let Some(format) = &request.format {
        match FormatChoice::for_request(request) {
            FormatChoice::Instruct => system.push(BedrockSystemBlock::Text(format_instruction())),
            FormatChoice::Any => tool_choice = Some(BedrockToolChoice::Any(Empty {})),
            FormatChoice::Tool => {
                tool_choice = Some(BedrockToolChoice::Tool(SpecificTool {
                    name: FORMAT_TOOL.into(),
                }))
            }
        }
        tools.push(tool(
            FORMAT_TOOL,
            &format_tool_description(format),
            &format.schema,
        ));
    }
    if cache.system && !system.is_empty() {
        system.push(BedrockSystemBlock::CachePoint(CachePoint::default()));
    }
    if cache.tools && !tools.is_empty() {
        tools.push(BedrockTool::CachePoint(CachePoint::default()));
    }
    if cache.messages {
        if let Some(last) = messages.last_mut() {
            last.content
                .push(BedrockContentBlock::CachePoint(CachePoint::default()));
        }
    }
    let tool_config = (!tools.is_empty()).then_some(BedrockToolConfig { tools, tool_choice });
    Ok(ConverseRequest {
        messages,
        system,
        inference_config: InferenceConfig {
            max_tokens: p.max_tokens,
            temperature: p.temperature,
            top_p: p.top_p,
            stop_sequences: p.stop.clone(),
        },
        tool_config,
        additional_model_request_fields: additional,
    })
}

/// The content of `media`: its bytes, or the S3 object it names.
fn source(what: &str, m: &Media) -> Result<MediaSource, Error> {
    match m.as_url() {
        Some(uri) if uri.starts_with("s3://") => {
            Ok(MediaSource::S3Location(S3Location { uri: uri.into() }))
        }
        Some(url) => Err(media::unsupported(
            ID,
            format_args!("{what} by URL ({url}); send its bytes or an s3:// URI"),
        )),
        None => Ok(MediaSource::Bytes(m.base64().unwrap_or_default())),
    }
}

/// An image as an `image` block.
fn image(m: &Media) -> Result<ImageBlock, Error> {
    let media_type = media::essence(media::media_type(ID, "an image", m)?);
    let format = match media_type.as_str() {
        "image/png" => "png",
        "image/jpeg" | "image/jpg" => "jpeg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        other => {
            return Err(media::unsupported(
                ID,
                format_args!("an image of type {other} (it takes PNG, JPEG, GIF and WebP)"),
            ))
        }
    };
    Ok(ImageBlock {
        format: format.into(),
        source: source("an image", m)?,
    })
}

/// A file as a `document` block; `n` numbers the request's documents.
fn document(m: &Media, n: usize) -> Result<DocumentBlock, Error> {
    let media_type = media::media_type(ID, "a file", m)?;
    let format = match media::document_extension(media_type) {
        Some(ext) if ext != "json" => ext,
        _ => {
            return Err(media::unsupported(
                ID,
                format_args!(
                    "a file of type {} (it takes PDF, CSV, Word, Excel, HTML, text and Markdown)",
                    media::essence(media_type)
                ),
            ))
        }
    };
    Ok(DocumentBlock {
        format: format.into(),
        name: document_name(m.filename.as_deref(), n),
        source: source("a file", m)?,
    })
}

/// A document's name as Converse allows it: letters, digits, single
/// spaces, hyphens, parentheses and square brackets. The file name's stem,
/// other characters as spaces; `Document N` when nothing is left.
fn document_name(filename: Option<&str>, n: usize) -> String {
    let stem = filename
        .map(|f| f.rsplit_once('.').map_or(f, |(stem, _)| stem))
        .unwrap_or_default();
    let cleaned: String = stem
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '-' | '(' | ')' | '[' | ']') {
                c
            } else {
                ' '
            }
        })
        .collect();
    let name = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if name.is_empty() {
        format!("Document {n}")
    } else {
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet_core::{
        Message as CoreMessage, Params, ThinkingLevel, Thought, ToolCall, ToolOutput,
    };

    #[test]
    fn history_roles_and_reasoning() {
        let request = Request {
            model: "m".into(),
            messages: vec![
                CoreMessage::system("s"),
                CoreMessage::user("q"),
                CoreMessage {
                    role: Role::Assistant,
                    content: vec![
                        ContentPart::Thought(Thought {
                            thought: "t".into(),
                            signature: Some("sig".into()),
                            redacted: None,
                        }),
                        ContentPart::Thought(Thought {
                            thought: String::new(),
                            signature: None,
                            redacted: Some("UkVE".into()),
                        }),
                        ContentPart::Thought(Thought {
                            thought: "unsigned".into(),
                            ..Default::default()
                        }),
                        ContentPart::text(""),
                        ContentPart::ToolCall(ToolCall {
                            id: "tu_1".into(),
                            name: "f".into(),
                            args: r#"{"a":1}"#.into(),
                            signature: None,
                        }),
                    ],
                },
                CoreMessage {
                    role: Role::Tool,
                    content: vec![ContentPart::ToolOutput(ToolOutput {
                        id: "tu_1".into(),
                        name: "f".into(),
                        result: "boom".into(),
                        is_error: true,
                        attachments: Vec::new(),
                    })],
                },
                CoreMessage::user("and?"),
            ],
            params: Params {
                max_tokens: Some(2000),
                thinking: Some(ThinkingLevel::Medium),
                stop: vec!["X".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        let body = serde_json::to_value(converse_request(&request).unwrap()).unwrap();
        assert_eq!(
            body,
            json!({
                "messages": [
                    {"role":"user","content":[{"text":"q"}]},
                    {"role":"assistant","content":[
                        {"reasoningContent":{"reasoningText":{"text":"t","signature":"sig"}}},
                        {"reasoningContent":{"redactedContent":"UkVE"}},
                        {"toolUse":{"toolUseId":"tu_1","name":"f","input":{"a":1}}}
                    ]},
                    {"role":"user","content":[
                        {"toolResult":{"toolUseId":"tu_1","content":[{"text":"boom"}],"status":"error"}},
                        {"text":"and?"}
                    ]}
                ],
                "system": [{"text":"s"}],
                "inferenceConfig": {"maxTokens":2000,"stopSequences":["X"]},
                "additionalModelRequestFields": {"thinking":{"type":"enabled","budget_tokens":1999}}
            })
        );
    }
}
