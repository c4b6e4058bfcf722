//! Content parts and messages.

use serde::{Deserialize, Serialize};

/// Generated or given text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Text {
    pub text: String,
}

/// The model's reasoning. `signature` (Anthropic, Gemini, Bedrock) and
/// `redacted` (encrypted reasoning) must be sent back unchanged when the
/// conversation resumes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Thought {
    pub thought: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<String>,
}

/// A call the model asks for. `args` is the JSON text as the model wrote it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub args: String,
}

impl ToolCall {
    /// The arguments as JSON; an error when the model wrote invalid JSON.
    pub fn args_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        if self.args.trim().is_empty() {
            return Ok(serde_json::Value::Object(Default::default()));
        }
        serde_json::from_str(&self.args)
    }
}

/// The result of running a tool, sent back to the model.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolOutput {
    pub id: String,
    pub name: String,
    pub result: String,
    #[serde(default)]
    pub is_error: bool,
}

/// Generated audio: the base64 pieces as received, and the transcript.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Audio {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Base64 data, concatenated piece by piece as the provider sent it.
    pub data: String,
    pub transcript: String,
}

/// One part of a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    Text(Text),
    Thought(Thought),
    ToolCall(ToolCall),
    ToolOutput(ToolOutput),
    Audio(Audio),
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart::Text(Text { text: text.into() })
    }
}

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    System,
    User,
    Assistant,
    Tool,
}

/// One turn of a conversation.
///
/// ```
/// use rivulet_core::{Message, Role};
/// let m = Message::user("Recommend a fantasy book.");
/// assert_eq!(m.role, Role::User);
/// assert_eq!(m.text(), "Recommend a fantasy book.");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<ContentPart>,
}

impl Message {
    /// A message of `role` holding one text part.
    pub fn new(role: Role, text: impl Into<String>) -> Self {
        Message {
            role,
            content: vec![ContentPart::text(text)],
        }
    }
    /// A system message.
    pub fn system(text: impl Into<String>) -> Self {
        Self::new(Role::System, text)
    }
    /// A user message.
    pub fn user(text: impl Into<String>) -> Self {
        Self::new(Role::User, text)
    }
    /// An assistant message.
    pub fn assistant(text: impl Into<String>) -> Self {
        Self::new(Role::Assistant, text)
    }
    /// The message's text parts, joined without separator.
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text(t) => Some(t.text.as_str()),
                _ => None,
            })
            .collect()
    }
}
