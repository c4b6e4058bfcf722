//! From a core [`Request`] to a `generateContent` request body (Gemini API
//! and Vertex AI alike).

use rivulet_core::{
    ContentPart, Error, Media, MediaSource, Message, Request, Role, ToolChoice as Choice,
};
use serde_json::{json, Map, Value};

use super::google_wire::{
    Blob, FunctionCallingConfig, FunctionDeclaration, FunctionResponse, GenerateContentRequest,
    GenerationConfig, GoogleContent, GoogleFileData, GoogleFunctionCall, GoogleThinkingConfig,
    GoogleTool, GoogleToolConfig, Part,
};
use crate::config::thinking_budget;
use crate::conversation::{args_object, system_texts};

/// The streaming request body for `request`, sent by provider `provider`
/// (`google` or `vertex`: provider parts of either are sent back to both,
/// others are not).
///
/// - system messages → `systemInstruction`;
/// - `Params::thinking` → `thinkingConfig {includeThoughts: true,
///   thinkingBudget}` with 1024/4096/16384 tokens;
/// - `Request::format` → `responseMimeType: application/json` and
///   `responseJsonSchema`;
/// - tools → one `functionDeclarations` entry with JSON Schema parameters
///   (`parametersJsonSchema`, taken as given);
/// - images and files → `inlineData` (bytes with their media type) or
///   `fileData` (a URI), in user turns only ([`Error::Unsupported`]
///   elsewhere, and for bytes of no media type);
/// - `Params::tool_choice` → `toolConfig.functionCallingConfig` (`AUTO`,
///   `NONE`, `ANY`, `ANY` with `allowedFunctionNames` for a named tool);
///   `Params::n` → `candidateCount` (the first candidate is streamed);
///   `parallel_tool_calls: false` and spoken output are refused.
pub fn generate_content_request(
    provider: &str,
    request: &Request,
) -> Result<GenerateContentRequest, Error> {
    crate::media::only_in_user_turns(provider, &request.messages)?;
    crate::options::check_tool_choice(provider, request)?;
    crate::options::check_unsupported(provider, &request.params, false, true)?;
    crate::options::check_no_audio(provider, request)?;
    let p = &request.params;
    let system: Vec<Part> = system_texts(&request.messages).map(text_part).collect();
    let config = GenerationConfig {
        temperature: p.temperature,
        top_p: p.top_p,
        max_output_tokens: p.max_tokens,
        seed: p.seed,
        stop_sequences: p.stop.clone(),
        thinking_config: p.thinking.map(|level| GoogleThinkingConfig {
            include_thoughts: true,
            thinking_budget: thinking_budget(level),
        }),
        response_mime_type: request
            .format
            .as_ref()
            .map(|_| "application/json".to_string()),
        response_json_schema: request.format.as_ref().map(|f| f.schema.clone()),
        candidate_count: p.n,
    };
    let tool_config = p.tool_choice.as_ref().map(|c| {
        let (mode, allowed) = match c {
            Choice::Auto => ("AUTO", Vec::new()),
            Choice::None => ("NONE", Vec::new()),
            Choice::Required => ("ANY", Vec::new()),
            Choice::Tool(name) => ("ANY", vec![name.clone()]),
        };
        GoogleToolConfig {
            function_calling_config: FunctionCallingConfig {
                mode: mode.into(),
                allowed_function_names: allowed,
            },
        }
    });
    let declarations: Vec<FunctionDeclaration> = request
        .tools
        .iter()
        .map(|t| FunctionDeclaration {
            name: t.name.clone(),
            description: t.description.clone(),
            parameters_json_schema: t.parameters.clone(),
        })
        .collect();
    let mut contents = Vec::new();
    for m in &request.messages {
        contents.extend(content(provider, m)?);
    }
    Ok(GenerateContentRequest {
        contents,
        system_instruction: (!system.is_empty()).then(|| GoogleContent {
            role: Some("user".into()),
            parts: system,
        }),
        tools: if declarations.is_empty() {
            Vec::new()
        } else {
            vec![GoogleTool {
                function_declarations: declarations,
            }]
        },
        tool_config,
        generation_config: (!config.is_empty()).then_some(config),
    })
}

/// An image or a file as an `inlineData` or `fileData` part.
fn media_part(provider: &str, what: &str, m: &Media) -> Result<Part, Error> {
    let (key, value) = match &m.source {
        MediaSource::Url { url } => (
            "fileData",
            serde_json::to_value(GoogleFileData {
                mime_type: m.media_type.clone(),
                file_uri: url.clone(),
            }),
        ),
        MediaSource::Data { .. } => (
            "inlineData",
            serde_json::to_value(Blob {
                mime_type: crate::media::media_type(provider, what, m)?.to_string(),
                data: m.base64().unwrap_or_default(),
            }),
        ),
    };
    let value = value.map_err(|e| Error::bad_request(format!("cannot encode {what}: {e}")))?;
    Ok(Part {
        other: Map::from_iter([(key.to_string(), value)]),
        ..Default::default()
    })
}

fn text_part(text: String) -> Part {
    Part {
        text: Some(text),
        ..Default::default()
    }
}

/// Whether a provider part from `from` is sent to `to`: the Gemini API and
/// Vertex AI speak the same parts.
fn same_family(from: &str, to: &str) -> bool {
    let google = |p: &str| matches!(p, "google" | "vertex");
    from == to || (google(from) && google(to))
}

/// One core message as a `GoogleContent`; `None` for system messages and
/// messages with nothing to send.
///
/// User turns (and tool messages) put their tool outputs first, as
/// `functionResponse` parts. Model turns keep their order: text, thoughts
/// that carry a signature (as `thought: true` parts with it), function
/// calls with their signature, and Google provider parts as they came. A
/// thought with no text that only carries a signature stands for a
/// signature that came on a text part: it goes back on the part before it
/// (else the next one, else a part of its own). Unsigned thoughts are
/// summaries no API needs back and are dropped, as are audio parts.
fn content(provider: &str, m: &Message) -> Result<Option<GoogleContent>, Error> {
    let role = match m.role {
        Role::System => return Ok(None),
        Role::User | Role::Tool => "user",
        Role::Assistant => "model",
    };
    let model = m.role == Role::Assistant;
    let mut parts: Vec<Part> = Vec::new();
    if !model {
        for part in &m.content {
            let ContentPart::ToolOutput(o) = part else {
                continue;
            };
            let value = serde_json::from_str::<Value>(&o.result)
                .unwrap_or_else(|_| Value::String(o.result.clone()));
            let key = if o.is_error { "error" } else { "output" };
            let mut media = Vec::new();
            for a in &o.attachments {
                match a {
                    ContentPart::Image(m) => media.push(media_part(provider, "an image", m)?),
                    ContentPart::File(m) => media.push(media_part(provider, "a file", m)?),
                    _ => {}
                }
            }
            // A tool that only returned media answers with an empty object.
            let response = if o.result.is_empty() && !media.is_empty() {
                json!({})
            } else {
                json!({ key: value })
            };
            parts.push(Part {
                function_response: Some(FunctionResponse {
                    id: None,
                    name: o.name.clone(),
                    response,
                    parts: media,
                }),
                ..Default::default()
            });
        }
    }
    // Signatures waiting for the next part.
    let mut waiting: Vec<String> = Vec::new();
    for part in &m.content {
        let built = match part {
            ContentPart::Text(t) if !t.text.is_empty() => text_part(t.text.clone()),
            ContentPart::Thought(t) if model && t.redacted.is_none() => match &t.signature {
                Some(sig) if t.thought.is_empty() => {
                    match parts.last_mut().filter(|p| p.thought_signature.is_none()) {
                        Some(previous) => previous.thought_signature = Some(sig.clone()),
                        None => waiting.push(sig.clone()),
                    }
                    continue;
                }
                Some(sig) => Part {
                    text: Some(t.thought.clone()),
                    thought: Some(true),
                    thought_signature: Some(sig.clone()),
                    ..Default::default()
                },
                None => continue,
            },
            ContentPart::ToolCall(c) if model => Part {
                function_call: Some(GoogleFunctionCall {
                    // Ids are not sent: Gemini matches responses by name and
                    // order, and most ids here were made up by the decoder.
                    id: None,
                    name: Some(c.name.clone()),
                    args: Some(args_object(c)),
                    ..Default::default()
                }),
                thought_signature: c.signature.clone(),
                ..Default::default()
            },
            ContentPart::Provider(p) if same_family(&p.provider, provider) => {
                match serde_json::from_value::<Part>(p.json.clone()) {
                    Ok(part) => part,
                    Err(_) => continue,
                }
            }
            ContentPart::Image(media) => media_part(provider, "an image", media)?,
            ContentPart::File(media) => media_part(provider, "a file", media)?,
            _ => continue,
        };
        let mut built = built;
        if built.thought_signature.is_none() && !waiting.is_empty() {
            built.thought_signature = Some(waiting.remove(0));
        }
        parts.push(built);
        // Any other waiting signature goes on a part of its own.
        parts.extend(waiting.drain(..).map(signature_part));
    }
    parts.extend(waiting.into_iter().map(signature_part));
    Ok((!parts.is_empty()).then(|| GoogleContent {
        role: Some(role.into()),
        parts,
    }))
}

/// A part that only carries a signature (as Gemini itself sends at the end
/// of some streams).
fn signature_part(signature: String) -> Part {
    Part {
        text: Some(String::new()),
        thought_signature: Some(signature),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet_core::{
        Format, Params, ProviderPart, ThinkingLevel, Thought, ToolCall, ToolDefinition, ToolOutput,
    };

    fn body(request: &Request) -> Value {
        serde_json::to_value(generate_content_request("google", request).unwrap()).unwrap()
    }

    fn sig_only(sig: &str) -> ContentPart {
        ContentPart::Thought(Thought {
            signature: Some(sig.into()),
            ..Default::default()
        })
    }

    #[test]
    fn parameters_system_tools_and_format() {
        let request = Request {
            model: "gemini".into(),
            messages: vec![Message::system("be brief"), Message::user("hi")],
            params: Params {
                temperature: Some(0.5),
                max_tokens: Some(50),
                top_p: Some(0.9),
                seed: Some(7),
                stop: vec!["END".into()],
                thinking: Some(ThinkingLevel::Medium),
                ..Default::default()
            },
            tools: vec![ToolDefinition {
                name: "weather".into(),
                description: "Get the weather.".into(),
                parameters: json!({"type": "object"}),
            }],
            format: Some(Format {
                name: "Book".into(),
                schema: json!({"type": "object"}),
            }),
            ..Default::default()
        };
        assert_eq!(
            body(&request),
            json!({
                "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                "systemInstruction": {"role": "user", "parts": [{"text": "be brief"}]},
                "tools": [{"functionDeclarations": [{
                    "name": "weather",
                    "description": "Get the weather.",
                    "parametersJsonSchema": {"type": "object"},
                }]}],
                "generationConfig": {
                    "temperature": 0.5,
                    "topP": 0.9,
                    "maxOutputTokens": 50,
                    "seed": 7,
                    "stopSequences": ["END"],
                    "thinkingConfig": {"includeThoughts": true, "thinkingBudget": 4096},
                    "responseMimeType": "application/json",
                    "responseJsonSchema": {"type": "object"},
                },
            })
        );
        let bare = body(&Request {
            model: "m".into(),
            messages: vec![Message::user("q")],
            ..Default::default()
        });
        assert_eq!(
            bare,
            json!({"contents": [{"role": "user", "parts": [{"text": "q"}]}]})
        );
    }

    #[test]
    fn history_with_signatures_calls_and_outputs() {
        let request = Request {
            model: "m".into(),
            messages: vec![
                Message::user("q"),
                Message {
                    role: Role::Assistant,
                    content: vec![
                        ContentPart::Thought(Thought {
                            thought: "summary".into(),
                            signature: Some("T".into()),
                            redacted: None,
                        }),
                        ContentPart::Thought(Thought {
                            thought: "unsigned".into(),
                            ..Default::default()
                        }),
                        ContentPart::text("OK"),
                        sig_only("S"),
                        ContentPart::ToolCall(ToolCall {
                            id: "call_2".into(),
                            name: "f".into(),
                            args: r#"{"a":1}"#.into(),
                            signature: Some("F".into()),
                        }),
                        ContentPart::Provider(ProviderPart {
                            provider: "vertex".into(),
                            kind: "executableCode".into(),
                            json: json!({"executableCode": {"code": "1"}}),
                        }),
                        ContentPart::Provider(ProviderPart {
                            provider: "anthropic".into(),
                            kind: "server_tool_use".into(),
                            json: json!({"type": "server_tool_use"}),
                        }),
                    ],
                },
                Message {
                    role: Role::Tool,
                    content: vec![
                        ContentPart::ToolOutput(ToolOutput {
                            id: "call_2".into(),
                            name: "f".into(),
                            result: r#"{"temp": 20}"#.into(),
                            is_error: false,
                            attachments: Vec::new(),
                        }),
                        ContentPart::ToolOutput(ToolOutput {
                            id: "call_3".into(),
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
            body(&request)["contents"],
            json!([
                {"role": "user", "parts": [{"text": "q"}]},
                {"role": "model", "parts": [
                    {"text": "summary", "thought": true, "thoughtSignature": "T"},
                    {"text": "OK", "thoughtSignature": "S"},
                    {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "F"},
                    {"executableCode": {"code": "1"}},
                ]},
                {"role": "user", "parts": [
                    {"functionResponse": {"name": "f", "response": {"output": {"temp": 20}}}},
                    {"functionResponse": {"name": "g", "response": {"error": "boom"}}},
                ]},
            ])
        );
    }

    #[test]
    fn lone_signatures() {
        let turn = |content| {
            body(&Request {
                model: "m".into(),
                messages: vec![Message {
                    role: Role::Assistant,
                    content,
                }],
                ..Default::default()
            })["contents"][0]["parts"]
                .clone()
        };
        // First in the turn: goes on the next part.
        assert_eq!(
            turn(vec![sig_only("S"), ContentPart::text("a")]),
            json!([{"text": "a", "thoughtSignature": "S"}])
        );
        // Alone: a part of its own.
        assert_eq!(
            turn(vec![sig_only("S")]),
            json!([{"text": "", "thoughtSignature": "S"}])
        );
        // After a signed call: the call keeps its own, the text gets it.
        assert_eq!(
            turn(vec![
                ContentPart::ToolCall(ToolCall {
                    id: "c".into(),
                    name: "f".into(),
                    args: String::new(),
                    signature: Some("F".into()),
                }),
                sig_only("S"),
                ContentPart::text("a"),
            ]),
            json!([
                {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "F"},
                {"text": "a", "thoughtSignature": "S"},
            ])
        );
    }
}
