//! From a core [`Request`] to a Messages request body.

use rivulet_core::{
    CacheBreakpoints, ContentPart, Error, Media, MediaSource, Message, Request, Role,
    ToolChoice as Choice, ToolOutput,
};

use super::anthropic_wire::{
    AnthropicMessage, AnthropicMessageContent, AnthropicSystemBlock, AnthropicThinkingConfig,
    AnthropicTool, AnthropicToolChoice, AnthropicToolResultContent, CacheControl, CachedBlock,
    KnownBlock, MessagesRequest, RequestBlock, Source, SystemPrompt,
};
pub use crate::config::FORMAT_TOOL;
use crate::config::{format_instruction, format_tool_description, thinking_budget, FormatChoice};
use crate::conversation::{args_object, system_texts};
use crate::media;

/// `max_tokens` when the caller gives none: the API requires one.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The streaming request body for `request`, sent by provider `provider`
/// (provider parts of other providers are not sent).
///
/// - system messages → `system` (joined with blank lines);
/// - `Params::thinking` → `thinking: {type: enabled, budget_tokens}` with
///   1024/4096/16384 tokens; `max_tokens` (default 4096) must exceed the
///   budget, so when it does not the budget is added to it;
/// - `Request::format` → a tool whose input is the structured output,
///   forced with `tool_choice: {type: tool}` (`any` when there are other
///   tools; left to the model, with an instruction in the system prompt,
///   when thinking is on, since the API refuses forced tools then);
/// - `Params::seed` has no Anthropic equivalent and is not sent;
/// - images → `image` blocks (JPEG, PNG, GIF or WebP bytes, or a URL),
///   files → `document` blocks (a PDF's bytes, plain text, or a URL); any
///   other media type, or either outside a user turn, is refused with
///   [`Error::Unsupported`];
/// - `Params::tool_choice` → `tool_choice` (`auto`, `none`, `any`, `tool`
///   with its name); it wins over the format's forced tool (the format is
///   then asked for in the system prompt), and `none` with a format is
///   refused, since the format's answer is a tool call;
///   `parallel_tool_calls: false` → `disable_parallel_tool_use: true`;
/// - `Request::cache` → `cache_control` on the system prompt (sent as a
///   text block), on the last tool and on the last block of the last
///   message, with its `ttl` when given;
/// - more than one choice (`n`) and spoken output are refused.
pub fn messages_request(provider: &str, request: &Request) -> Result<MessagesRequest, Error> {
    media::only_in_user_turns(provider, &request.messages)?;
    crate::options::check_tool_choice(provider, request)?;
    crate::options::check_unsupported(provider, &request.params, true, false)?;
    crate::options::check_no_audio(provider, request)?;
    let p = &request.params;
    if p.tool_choice == Some(Choice::None) && request.format.is_some() {
        return Err(Error::bad_request(
            "tool_choice none leaves no way to give the format's answer (a tool call)",
        )
        .with_provider(provider));
    }
    let cache = request.cache.unwrap_or_default();
    let budget = p.thinking.map(thinking_budget);
    let mut max_tokens = p.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS);
    if let Some(b) = budget {
        if max_tokens <= b {
            max_tokens = max_tokens.saturating_add(b);
        }
    }

    let mut system: Vec<String> = system_texts(&request.messages).collect();

    let mut tools: Vec<AnthropicTool> = request
        .tools
        .iter()
        .map(|t| AnthropicTool {
            name: t.name.clone(),
            description: t.description.clone(),
            input_schema: t.parameters.clone(),
            cache_control: None,
        })
        .collect();
    let mut tool_choice = p.tool_choice.as_ref().map(|c| match c {
        Choice::Auto => AnthropicToolChoice::kind("auto"),
        Choice::None => AnthropicToolChoice::kind("none"),
        Choice::Required => AnthropicToolChoice::kind("any"),
        Choice::Tool(name) => AnthropicToolChoice::tool(name),
    });
    if let Some(format) = &request.format {
        match FormatChoice::for_request(request) {
            FormatChoice::Instruct => system.push(format_instruction()),
            FormatChoice::Any => tool_choice = Some(AnthropicToolChoice::kind("any")),
            FormatChoice::Tool => tool_choice = Some(AnthropicToolChoice::tool(FORMAT_TOOL)),
        }
        tools.push(AnthropicTool {
            name: FORMAT_TOOL.into(),
            description: format_tool_description(format),
            input_schema: format.schema.clone(),
            cache_control: None,
        });
    }
    if p.parallel_tool_calls == Some(false) && !tools.is_empty() {
        tool_choice
            .get_or_insert_with(|| AnthropicToolChoice::kind("auto"))
            .disable_parallel_tool_use = true;
    }
    let control = cache_control(&cache);
    if cache.tools {
        if let Some(last) = tools.last_mut() {
            last.cache_control = control.clone();
        }
    }

    let mut messages = Vec::new();
    for m in &request.messages {
        messages.extend(message(provider, m)?);
    }
    if cache.messages {
        if let Some(last) = messages.last_mut() {
            mark_last_block(last, control.clone());
        }
    }
    let system = (!system.is_empty()).then(|| system.join("\n\n"));
    Ok(MessagesRequest {
        model: request.model.clone(),
        max_tokens,
        system: system.map(|text| match &control {
            Some(c) if cache.system => SystemPrompt::Blocks(vec![AnthropicSystemBlock {
                kind: "text".into(),
                text,
                cache_control: Some(c.clone()),
            }]),
            _ => SystemPrompt::Text(text),
        }),
        messages,
        tools,
        tool_choice,
        temperature: p.temperature,
        top_p: p.top_p,
        stop_sequences: p.stop.clone(),
        thinking: budget.map(|budget_tokens| AnthropicThinkingConfig {
            kind: "enabled".into(),
            budget_tokens,
        }),
        stream: true,
    })
}

/// `cache_control` for breakpoints of `cache`, `None` when there are none.
fn cache_control(cache: &CacheBreakpoints) -> Option<CacheControl> {
    (cache.system || cache.tools || cache.messages).then(|| CacheControl {
        kind: "ephemeral".into(),
        ttl: cache.ttl.map(|t| t.as_str().into()),
    })
}

/// Puts `control` on the last block of `message` (a text content becomes
/// a text block to carry it).
fn mark_last_block(message: &mut AnthropicMessage, control: Option<CacheControl>) {
    let Some(control) = control else { return };
    if let AnthropicMessageContent::Text(text) = &message.content {
        message.content =
            AnthropicMessageContent::Blocks(vec![RequestBlock::Known(KnownBlock::Text {
                text: text.clone(),
            })]);
    }
    let AnthropicMessageContent::Blocks(blocks) = &mut message.content else {
        return;
    };
    let Some(last) = blocks.pop() else { return };
    blocks.push(match last {
        RequestBlock::Known(block) | RequestBlock::Cached(CachedBlock { block, .. }) => {
            RequestBlock::Cached(CachedBlock {
                block,
                cache_control: control,
            })
        }
        RequestBlock::Raw(mut v) => {
            if let (Some(o), Ok(c)) = (v.as_object_mut(), serde_json::to_value(&control)) {
                o.insert("cache_control".into(), c);
            }
            RequestBlock::Raw(v)
        }
    });
}

/// A tool output as a `tool_result` block: its text, or (with images or
/// files) blocks: the text, then the media.
fn tool_result(provider: &str, o: &ToolOutput) -> Result<KnownBlock, Error> {
    let content = if o.attachments.is_empty() {
        AnthropicToolResultContent::Text(o.result.clone())
    } else {
        let mut blocks = Vec::new();
        if !o.result.is_empty() {
            blocks.push(KnownBlock::Text {
                text: o.result.clone(),
            });
        }
        for a in &o.attachments {
            match a {
                ContentPart::Image(m) => blocks.push(image(provider, m)?),
                ContentPart::File(m) => blocks.push(document(provider, m)?),
                _ => {}
            }
        }
        AnthropicToolResultContent::Blocks(blocks)
    };
    Ok(KnownBlock::ToolResult {
        tool_use_id: o.id.clone(),
        content,
        is_error: o.is_error,
    })
}

/// The image types the API reads.
const IMAGE_TYPES: &[&str] = &["image/jpeg", "image/png", "image/gif", "image/webp"];

/// An image as an `image` block.
fn image(provider: &str, m: &Media) -> Result<KnownBlock, Error> {
    let source = match m.as_url() {
        Some(url) => Source::Url { url: url.into() },
        None => {
            let media_type = media::essence(media::media_type(provider, "an image", m)?);
            if !IMAGE_TYPES.contains(&media_type.as_str()) {
                return Err(media::unsupported(
                    provider,
                    format_args!(
                        "an image of type {media_type} (it takes JPEG, PNG, GIF and WebP)"
                    ),
                ));
            }
            Source::Base64 {
                media_type,
                data: m.base64().unwrap_or_default(),
            }
        }
    };
    Ok(KnownBlock::Image { source })
}

/// A file as a `document` block: a URL, a PDF's bytes, or plain text.
fn document(provider: &str, m: &Media) -> Result<KnownBlock, Error> {
    let source = match &m.source {
        MediaSource::Url { url } => Source::Url { url: url.clone() },
        MediaSource::Data { data } => {
            let media_type = media::essence(media::media_type(provider, "a file", m)?);
            match media_type.as_str() {
                "application/pdf" => Source::Base64 {
                    media_type,
                    data: m.base64().unwrap_or_default(),
                },
                "text/plain" => Source::Text {
                    media_type,
                    data: String::from_utf8(data.to_vec()).map_err(|_| {
                        media::unsupported(provider, "a text/plain file that is not UTF-8")
                    })?,
                },
                other => {
                    return Err(media::unsupported(
                        provider,
                        format_args!("a file of type {other} (it takes PDF and plain text)"),
                    ))
                }
            }
        }
    };
    Ok(KnownBlock::Document { source })
}

/// One core message as a Messages turn; `None` for system messages and
/// messages with nothing to send (the API rejects empty content).
///
/// User turns put tool results first, as the API requires. Assistant turns
/// keep their order: thoughts with a signature (`thinking`) or redacted
/// data (`redacted_thinking`), text, tool calls (`tool_use`) and this
/// provider's parts, sent back as they came. Thoughts with neither cannot
/// be sent back (the API checks signatures) and are dropped, as are audio
/// parts and empty text.
fn message(provider: &str, m: &Message) -> Result<Option<AnthropicMessage>, Error> {
    let role = match m.role {
        Role::System => return Ok(None),
        Role::User | Role::Tool => "user",
        Role::Assistant => "assistant",
    };
    let assistant = m.role == Role::Assistant;
    let mut blocks: Vec<RequestBlock> = Vec::new();
    if !assistant {
        for part in &m.content {
            if let ContentPart::ToolOutput(o) = part {
                blocks.push(RequestBlock::Known(tool_result(provider, o)?));
            }
        }
    }
    for part in &m.content {
        let block = match part {
            ContentPart::Text(t) if !t.text.is_empty() => KnownBlock::Text {
                text: t.text.clone(),
            },
            ContentPart::Thought(t) if assistant => match (&t.redacted, &t.signature) {
                (Some(data), _) => KnownBlock::RedactedThinking { data: data.clone() },
                (None, Some(signature)) => KnownBlock::Thinking {
                    thinking: t.thought.clone(),
                    signature: signature.clone(),
                },
                (None, None) => continue,
            },
            ContentPart::ToolCall(c) if assistant => KnownBlock::ToolUse {
                id: c.id.clone(),
                name: c.name.clone(),
                input: args_object(c),
            },
            ContentPart::Provider(p) if p.provider == provider => {
                blocks.push(RequestBlock::Raw(p.json.clone()));
                continue;
            }
            ContentPart::Image(m) => image(provider, m)?,
            ContentPart::File(m) => document(provider, m)?,
            _ => continue,
        };
        blocks.push(RequestBlock::Known(block));
    }
    let content = match blocks.as_slice() {
        [] => return Ok(None),
        [RequestBlock::Known(KnownBlock::Text { text })] => {
            AnthropicMessageContent::Text(text.clone())
        }
        _ => AnthropicMessageContent::Blocks(blocks),
    };
    Ok(Some(AnthropicMessage {
        role: role.into(),
        content,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet_core::{
        Format, Params, ProviderPart, ThinkingLevel, Thought, ToolCall, ToolDefinition, ToolOutput,
    };
    use serde_json::{json, Value};

    fn body(request: &Request) -> Value {
        serde_json::to_value(messages_request("anthropic", request).unwrap()).unwrap()
    }

    #[test]
    fn parameters_and_defaults() {
        let request = Request {
            model: "claude".into(),
            messages: vec![Message::system("be brief"), Message::user("hi")],
            params: Params {
                temperature: Some(0.5),
                top_p: Some(0.9),
                seed: Some(7),
                stop: vec!["END".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            body(&request),
            json!({
                "model": "claude",
                "max_tokens": 4096,
                "system": "be brief",
                "messages": [{"role": "user", "content": "hi"}],
                "temperature": 0.5,
                "top_p": 0.9,
                "stop_sequences": ["END"],
                "stream": true,
            })
        );
    }

    #[test]
    fn thinking_budgets_and_max_tokens() {
        let with = |level, max| {
            let mut r = Request {
                model: "m".into(),
                messages: vec![Message::user("q")],
                ..Default::default()
            };
            r.params.thinking = Some(level);
            r.params.max_tokens = max;
            let b = body(&r);
            (b["thinking"].clone(), b["max_tokens"].as_u64().unwrap())
        };
        assert_eq!(
            with(ThinkingLevel::Low, None),
            (json!({"type": "enabled", "budget_tokens": 1024}), 4096)
        );
        // The default does not exceed the budget: the budget is added.
        assert_eq!(
            with(ThinkingLevel::Medium, None),
            (json!({"type": "enabled", "budget_tokens": 4096}), 8192)
        );
        assert_eq!(
            with(ThinkingLevel::High, Some(20000)),
            (json!({"type": "enabled", "budget_tokens": 16384}), 20000)
        );
        assert_eq!(with(ThinkingLevel::High, Some(1000)).1, 17384);
    }

    #[test]
    fn history_with_thoughts_tools_and_provider_parts() {
        let server_block = json!({"type": "server_tool_use", "id": "srvtoolu_1", "name": "bash_code_execution", "input": {"command": "ls"}});
        let request = Request {
            model: "m".into(),
            messages: vec![
                Message::user("q"),
                Message {
                    role: Role::Assistant,
                    content: vec![
                        ContentPart::Thought(Thought {
                            thought: "hm".into(),
                            signature: Some("sig".into()),
                            redacted: None,
                        }),
                        ContentPart::Thought(Thought {
                            redacted: Some("opaque".into()),
                            ..Default::default()
                        }),
                        // Another provider's summary: cannot be sent.
                        ContentPart::Thought(Thought {
                            thought: "unsigned".into(),
                            ..Default::default()
                        }),
                        ContentPart::text("calling"),
                        ContentPart::Provider(ProviderPart {
                            provider: "anthropic".into(),
                            kind: "server_tool_use".into(),
                            json: server_block.clone(),
                        }),
                        ContentPart::Provider(ProviderPart {
                            provider: "google".into(),
                            kind: "executableCode".into(),
                            json: json!({"executableCode": {}}),
                        }),
                        ContentPart::ToolCall(ToolCall {
                            id: "toolu_1".into(),
                            name: "f".into(),
                            args: r#"{"x":1}"#.into(),
                            signature: None,
                        }),
                        ContentPart::ToolCall(ToolCall {
                            id: "toolu_2".into(),
                            name: "g".into(),
                            args: String::new(),
                            signature: None,
                        }),
                    ],
                },
                Message {
                    role: Role::User,
                    content: vec![
                        ContentPart::text("and?"),
                        ContentPart::ToolOutput(ToolOutput {
                            id: "toolu_1".into(),
                            name: "f".into(),
                            result: "2".into(),
                            is_error: false,
                            attachments: Vec::new(),
                        }),
                        ContentPart::ToolOutput(ToolOutput {
                            id: "toolu_2".into(),
                            name: "g".into(),
                            result: "boom".into(),
                            is_error: true,
                            attachments: Vec::new(),
                        }),
                    ],
                },
            ],
            ..Default::default()
        };
        assert_eq!(
            body(&request)["messages"],
            json!([
                {"role": "user", "content": "q"},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "hm", "signature": "sig"},
                    {"type": "redacted_thinking", "data": "opaque"},
                    {"type": "text", "text": "calling"},
                    server_block,
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"x": 1}},
                    {"type": "tool_use", "id": "toolu_2", "name": "g", "input": {}},
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "2"},
                    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "boom", "is_error": true},
                    {"type": "text", "text": "and?"},
                ]},
            ])
        );
    }

    #[test]
    fn tools_and_format() {
        let tool = ToolDefinition {
            name: "weather".into(),
            description: "Get the weather.".into(),
            parameters: json!({"type": "object"}),
        };
        let format = Format {
            name: "Book".into(),
            schema: json!({"type": "object", "properties": {"title": {"type": "string"}}}),
        };
        let mut request = Request {
            model: "m".into(),
            messages: vec![Message::user("q")],
            format: Some(format.clone()),
            ..Default::default()
        };
        let b = body(&request);
        assert_eq!(
            b["tools"],
            json!([{
                "name": FORMAT_TOOL,
                "description": "Give the final answer as a Book object: the tool's input is the answer.",
                "input_schema": format.schema,
            }])
        );
        assert_eq!(
            b["tool_choice"],
            json!({"type": "tool", "name": FORMAT_TOOL})
        );

        request.tools = vec![tool];
        let b = body(&request);
        assert_eq!(b["tools"][0]["name"], "weather");
        assert_eq!(b["tools"][0]["input_schema"], json!({"type": "object"}));
        assert_eq!(b["tools"][1]["name"], FORMAT_TOOL);
        assert_eq!(b["tool_choice"], json!({"type": "any"}));

        request.params.thinking = Some(ThinkingLevel::Low);
        let b = body(&request);
        assert!(b.get("tool_choice").is_none());
        assert!(b["system"].as_str().unwrap().contains(FORMAT_TOOL));
    }
}
