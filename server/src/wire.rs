//! The HTTP API's request and answer bodies, as plain serde structs.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use rivulet_core::{ContentPart, Message, Role};

/// `POST /v1/streams`: what to generate. Exactly one of `messages` and
/// `prompt`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRequest {
    /// `provider/model`; the server's default model when absent.
    pub model: Option<String>,
    /// The conversation so far.
    pub messages: Option<Vec<WireMessage>>,
    /// A single user message.
    pub prompt: Option<String>,
    /// A system prompt, sent before the messages.
    pub system: Option<String>,
    /// The most tokens to generate (1 or more).
    pub max_tokens: Option<u32>,
    /// Sampling temperature (finite, 0 or more).
    pub temperature: Option<f64>,
    /// Sampling seed, for providers that support one.
    pub seed: Option<i64>,
    /// Tool definitions, as `rivulet --tools` reads them.
    pub tools: Option<Value>,
    /// A JSON Schema (an object) the response must follow.
    pub format: Option<Value>,
}

/// What a start request says of the model, whatever its messages' shape:
/// [`StartRequest`]'s fields of that name, and those of `POST
/// /v1/ai-sdk/chat`'s body (flattened into it). `StartRequest` spells the
/// fields out rather than flattening this: serde cannot deny unknown
/// fields beside a flattened struct, and a misspelt field of `POST
/// /v1/streams` is a 400, where the chat body must take whatever an app's
/// `body` option adds.
#[derive(Debug, Default, Deserialize)]
pub struct ModelSettings {
    /// `provider/model`; the server's default model when absent.
    pub model: Option<String>,
    /// The most tokens to generate (1 or more).
    pub max_tokens: Option<u32>,
    /// Sampling temperature (finite, 0 or more).
    pub temperature: Option<f64>,
    /// Sampling seed, for providers that support one.
    pub seed: Option<i64>,
    /// Tool definitions, as `rivulet --tools` reads them.
    pub tools: Option<Value>,
    /// A JSON Schema (an object) the response must follow.
    pub format: Option<Value>,
}

/// A message on the wire: `content` is a string (one text part) or
/// rivulet's content parts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: Role,
    /// The message's content.
    pub content: WireContent,
}

/// See [`WireMessage::content`].
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum WireContent {
    /// One text part.
    Text(String),
    /// Parts as rivulet serializes them.
    Parts(Vec<ContentPart>),
}

impl From<WireMessage> for Message {
    fn from(m: WireMessage) -> Message {
        match m.content {
            WireContent::Text(t) => Message::new(m.role, t),
            WireContent::Parts(content) => Message {
                role: m.role,
                content,
            },
        }
    }
}

/// `201` to `POST /v1/streams`.
#[derive(Debug, Serialize)]
pub struct Started {
    /// The stream's id.
    pub id: String,
    /// Where its events are (`GET` it for SSE).
    pub events_url: String,
}

/// One stream in `GET /v1/streams` (and the head of `GET /v1/streams/{id}`).
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The stream's id.
    pub id: String,
    /// `provider/model`.
    pub model: String,
    /// `running`, `finished`, `failed` or `cancelled`.
    pub status: &'static str,
    /// Chunks in its log so far.
    pub chunks: usize,
    /// SSE clients attached now.
    pub attachers: usize,
    /// When it started (RFC 3339, UTC).
    pub started: String,
    /// With `--redis`: the node that runs it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// `{"error": {...}}`: the body of an error answer, and the event a stream
/// that fails midway ends with.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

/// The error itself.
#[derive(Debug, Serialize)]
pub struct ErrorDetail<'a> {
    pub message: &'a str,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub param: Option<&'a str>,
    pub code: Option<&'a str>,
}
