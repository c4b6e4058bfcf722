//! Content parts and messages.

use serde::{Deserialize, Serialize};

use crate::Media;

/// Generated or given text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Text {
    /// The text.
    pub text: String,
}

/// The model's reasoning. `signature` (Anthropic, Gemini, Bedrock) and
/// `redacted` (encrypted reasoning) must be sent back unchanged when the
/// conversation resumes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Thought {
    /// The reasoning text (empty when the provider sent it only redacted).
    pub thought: String,
    /// The provider's opaque token for the thought.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The encrypted or redacted reasoning, as the provider sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redacted: Option<String>,
}

/// A call the model asks for. `args` is the JSON text as the model wrote it.
///
/// `signature` is the provider's opaque token for the call (Gemini 3 signs
/// its function calls); like a thought's, it must be sent back unchanged
/// when the conversation resumes.
///
/// A call to a freeform tool, whose input is free text rather than JSON
/// (OpenAI Responses' custom tools), has the text wrapped as
/// `{"input": "<the text>"}` in `args`, so arguments are always one JSON
/// object; its `signature` is the provider's id for the call (`ctc_…`),
/// which tells the request builder to send it back as a custom call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call; the [`ToolOutput`] answering it
    /// carries the same.
    pub id: String,
    /// The name of the tool called.
    pub name: String,
    /// The arguments' JSON text, as the model wrote it.
    pub args: String,
    /// The provider's opaque token for the call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

impl ToolCall {
    /// The arguments as JSON; an error when the model wrote invalid JSON.
    pub fn args_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        serde_json::from_str(self.args_text())
    }

    /// The arguments' JSON text as sent back to a provider: `{}` for a call
    /// the model made without arguments, since APIs want an object.
    ///
    /// ```
    /// use rivulet_core::ToolCall;
    ///
    /// let call = ToolCall { name: "now".into(), ..Default::default() };
    /// assert_eq!(call.args_text(), "{}");
    /// ```
    pub fn args_text(&self) -> &str {
        if self.args.trim().is_empty() {
            "{}"
        } else {
            &self.args
        }
    }
}

/// The result of running a tool, sent back to the model.
///
/// `attachments` are the images and files the tool returned beside its
/// text (`ContentPart::Image` and `ContentPart::File`; other parts are
/// not sent). Providers that take them in a tool result send them there
/// (Anthropic, Responses, Gemini, Bedrock); Chat Completions and Cohere,
/// whose tool messages are text only, send them in a user message right
/// after the tool messages, introduced by the call's id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolOutput {
    /// The id of the [`ToolCall`] this answers.
    pub id: String,
    /// The name of the tool that ran.
    pub name: String,
    /// What the tool returned, as text.
    pub result: String,
    /// The tool failed and `result` says why; the model is told so.
    #[serde(default)]
    pub is_error: bool,
    /// Images and files the tool returned beside its text.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<ContentPart>,
}

/// Generated audio: the base64 pieces as received, and the transcript.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Audio {
    /// The provider's id for the audio, to refer to it in a later turn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Base64 data, concatenated piece by piece as the provider sent it.
    pub data: String,
    /// The transcript of the audio, as the provider sent it.
    pub transcript: String,
}

impl Audio {
    /// The audio itself: `data` decoded from base64.
    ///
    /// Providers send the audio in pieces, each its own base64 string; a
    /// piece whose length is not a multiple of three bytes ends in `=`
    /// padding, so the concatenation is decoded piece by piece, splitting
    /// after each run of padding. An error when the data is not base64.
    ///
    /// ```
    /// use rivulet_core::Audio;
    /// // "RIFF" then "WAVE" + "f", sent as two padded pieces.
    /// let a = Audio { data: "UklGRg==V0FWRWY=".into(), ..Default::default() };
    /// assert_eq!(a.bytes().unwrap(), b"RIFFWAVEf");
    /// ```
    pub fn bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::STANDARD;
        let mut out = Vec::with_capacity(self.data.len() / 4 * 3);
        let mut rest = self.data.as_str();
        while !rest.is_empty() {
            // A piece ends after its padding, or at the end.
            let end = match rest.find('=') {
                Some(i) => i + rest[i..].bytes().take_while(|b| *b == b'=').count(),
                None => rest.len(),
            };
            engine.decode_vec(&rest[..end], &mut out)?;
            rest = &rest[end..];
        }
        Ok(out)
    }
}

/// A provider-specific block kept as the provider sent it: Anthropic's
/// server-tool blocks (`server_tool_use`, `*_tool_result`) and block types
/// rivulet does not know, Gemini's parts other than text and function calls
/// (`executableCode`, …).
///
/// Nothing in it is interpreted; it is kept so that the response shows it
/// and so that the provider that sent it gets it back, unchanged, in the
/// history of a resumed conversation. Other providers skip it.
///
/// ```
/// use rivulet_core::ProviderPart;
/// let p = ProviderPart {
///     provider: "anthropic".into(),
///     kind: "server_tool_use".into(),
///     json: serde_json::json!({"type": "server_tool_use", "id": "srvtoolu_1"}),
/// };
/// assert_eq!(p.json["id"], "srvtoolu_1");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProviderPart {
    /// The provider id that produced it (`"anthropic"`, `"google"`, …).
    pub provider: String,
    /// The provider's name for the block (`"server_tool_use"`, …).
    pub kind: String,
    /// The whole block, as the provider would accept it back.
    pub json: serde_json::Value,
}

/// One part of a message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentPart {
    /// Text (`{"type": "text", "text"}`).
    Text(Text),
    /// The model's reasoning (`{"type": "thought", …}`).
    Thought(Thought),
    /// A call to a tool the model asks for (`{"type": "tool_call", …}`).
    ToolCall(ToolCall),
    /// A tool's result, sent back to the model (`{"type": "tool_output", …}`).
    ToolOutput(ToolOutput),
    /// Generated audio (`{"type": "audio", …}`).
    Audio(Audio),
    /// A provider-specific block (`{"type": "provider", …}`).
    Provider(ProviderPart),
    /// An image sent to the model (`{"type": "image", "url" | "data", …}`).
    Image(Media),
    /// A file sent to the model: a PDF or another document
    /// (`{"type": "file", "url" | "data", …}`).
    File(Media),
}

impl ContentPart {
    /// A text part.
    pub fn text(text: impl Into<String>) -> Self {
        ContentPart::Text(Text { text: text.into() })
    }

    /// The image or file this part sends, if it is one.
    pub fn media(&self) -> Option<&Media> {
        match self {
            ContentPart::Image(m) | ContentPart::File(m) => Some(m),
            _ => None,
        }
    }
}

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions for the model.
    System,
    /// The person (or program) asking.
    User,
    /// The model.
    Assistant,
    /// Tool results.
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
    /// Who said it.
    pub role: Role,
    /// What was said, part by part.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_arguments_are_an_error_not_a_stack_overflow() {
        // serde_json bounds the recursion (127 containers), as PartialJson does.
        let call = |args: String| ToolCall {
            args,
            ..Default::default()
        };
        let ok = "[".repeat(127) + &"]".repeat(127);
        assert!(call(ok).args_json().is_ok());
        for n in [128, 20_000, 100_000] {
            let e = call("[".repeat(n)).args_json().unwrap_err();
            assert_eq!(
                e.to_string(),
                "recursion limit exceeded at line 1 column 128"
            );
        }
    }
}
