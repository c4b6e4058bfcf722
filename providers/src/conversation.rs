//! What several request builders share about the conversation they send,
//! beside what [`media`](crate::media) shares about images and files and
//! [`options`](crate::options) about request options: the system prompt
//! of the protocols that take it apart from the turns, and tool-call
//! arguments where a protocol wants a JSON object.

use rivulet_core::{Message, Role, ToolCall};
use serde_json::Value;

/// The texts of the system messages, in order, empty ones left out: the
/// system prompt of the protocols that take it apart from the turns
/// (Anthropic's `system`, Gemini's `systemInstruction`, Bedrock's
/// `system`), wherever the messages stand in the conversation.
pub(crate) fn system_texts(messages: &[Message]) -> impl Iterator<Item = String> + '_ {
    messages
        .iter()
        .filter(|m| m.role == Role::System)
        .map(Message::text)
        .filter(|t| !t.is_empty())
}

/// A tool call's arguments as the JSON object that Anthropic's `input`
/// and Gemini's `args` must be: arguments that do not parse as an object
/// (a call cut off, or invalid JSON) are sent as `{}`.
pub(crate) fn args_object(call: &ToolCall) -> Value {
    match call.args_json() {
        Ok(v @ Value::Object(_)) => v,
        _ => Value::Object(Default::default()),
    }
}
