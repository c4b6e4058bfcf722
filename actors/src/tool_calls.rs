//! The tool calls the tool-parser actor reports: complete ones
//! ([`ParsedToolCall`]) and every call so far with its state
//! ([`PartialToolCall`], [`ToolCallState`]).

use rivulet_core::ToolCall;

/// A tool call as the tool-parser actor sees it once it has ended.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedToolCall {
    /// The call, with its arguments as the model wrote them.
    pub call: ToolCall,
    /// The parsed arguments, or why they are invalid (the raw text is in `call.args`).
    pub args: Result<serde_json::Value, String>,
}

/// Where a tool call is in its life (see [`PartialToolCall`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolCallState {
    /// Its arguments are still streaming.
    Streaming,
    /// It has ended and its arguments are one complete JSON object.
    Ended,
    /// It has ended with arguments that are not a JSON object, or it was cut
    /// off (by `max_tokens`, a cancel, a failure or a timeout). It is never
    /// run. The reason says which.
    Invalid(String),
}

/// A tool call as the tool-parser actor has it now: its raw argument text,
/// the arguments parsed so far (open strings, arrays and objects closed;
/// see [`rivulet_core::PartialJson`]) and its state.
#[derive(Clone, Debug, PartialEq)]
pub struct PartialToolCall {
    /// The call's part index in the response's content.
    pub part: usize,
    /// The call, with its argument text as received so far.
    pub call: ToolCall,
    /// The arguments parsed so far (the final value once ended); `None`
    /// before anything of them is visible.
    pub args: Option<serde_json::Value>,
    /// Streaming, ended or invalid.
    pub state: ToolCallState,
}
