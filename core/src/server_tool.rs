//! Tools the provider ran itself (web search, code execution, file
//! search, MCP, …), read the same way from every provider's parts.
//!
//! They arrive as [`ProviderPart`]s, kept whole so they go back to the
//! provider unchanged; [`ProviderPart::server_tool`] reads one as a
//! [`ServerTool`]: the tool's name, the id that links a call to its
//! result, and the call's input and the result's output. They are never
//! [`crate::ToolCall`]s: nothing runs them on this side, and
//! [`crate::Response::tool_calls`] does not list them.

use serde::Serialize;
use serde_json::Value;

use crate::ProviderPart;

/// Which half of a server tool's use a part holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerToolPhase {
    /// The call (Anthropic `server_tool_use`, Bedrock's server `toolUse`,
    /// Gemini `executableCode` and `toolCall`).
    Call,
    /// Its result (Anthropic `*_tool_result`, Bedrock's server
    /// `toolResult`, Gemini `codeExecutionResult` and `toolResponse`).
    Result,
    /// Both in one item (the Responses API's `*_call` items).
    CallAndResult,
}

/// A provider part read as a server tool's call or result.
///
/// ```
/// use rivulet_core::{ProviderPart, ServerToolPhase};
/// let part = ProviderPart {
///     provider: "anthropic".into(),
///     kind: "server_tool_use".into(),
///     json: serde_json::json!({"type": "server_tool_use", "id": "srvtoolu_1",
///                              "name": "web_search", "input": {"query": "rust"}}),
/// };
/// let tool = part.server_tool().unwrap();
/// assert_eq!((tool.name.as_str(), tool.phase), ("web_search", ServerToolPhase::Call));
/// assert_eq!(tool.id.as_deref(), Some("srvtoolu_1"));
/// assert_eq!(tool.input.unwrap()["query"], "rust");
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServerTool {
    /// The tool, as the provider names it: `web_search`, `code_execution`,
    /// `bash_code_execution`, `file_search`, `code_interpreter`, `mcp`,
    /// `nova_code_interpreter`, Gemini's `GOOGLE_SEARCH_WEB`, …
    pub name: String,
    /// The id linking a call and its result, when the provider gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Whether this part holds the call, its result or both.
    pub phase: ServerToolPhase,
    /// What the tool was asked (a query, code, arguments).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// What it gave back (search results, program output).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
}

impl ProviderPart {
    /// This part as a server tool's call or result; `None` for provider
    /// parts that are neither (Anthropic `compaction`, `mcp_list_tools`,
    /// Gemini parts of other kinds, …).
    pub fn server_tool(&self) -> Option<ServerTool> {
        let j = &self.json;
        let s = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
        let field = |v: &Value, key: &str| v.get(key).filter(|x| !x.is_null()).cloned();
        let tool = |name: String, id, phase, input, output| ServerTool {
            name,
            id,
            phase,
            input,
            output,
        };
        use ServerToolPhase::*;
        let kind = self.kind.as_str();
        Some(match kind {
            // Anthropic.
            "server_tool_use" | "mcp_tool_use" if j.get("toolUse").is_none() => {
                tool(s(j, "name")?, s(j, "id"), Call, field(j, "input"), None)
            }
            "mcp_tool_result" => tool(
                "mcp".into(),
                s(j, "tool_use_id"),
                Result,
                None,
                field(j, "content"),
            ),
            k if k.ends_with("_tool_result") && j.get("toolResult").is_none() => tool(
                k.trim_end_matches("_tool_result").into(),
                s(j, "tool_use_id"),
                Result,
                None,
                field(j, "content"),
            ),
            // Bedrock: the block under its key.
            _ if j.get("toolUse").is_some() => {
                let u = &j["toolUse"];
                tool(
                    s(u, "name")?,
                    s(u, "toolUseId"),
                    Call,
                    field(u, "input"),
                    None,
                )
            }
            _ if j.get("toolResult").is_some() => {
                let r = &j["toolResult"];
                let name = s(r, "type")
                    .map_or_else(String::new, |t| t.trim_end_matches("_result").to_string());
                tool(name, s(r, "toolUseId"), Result, None, field(r, "content"))
            }
            // Gemini.
            "executableCode" => {
                let c = &j["executableCode"];
                tool(
                    "code_execution".into(),
                    s(c, "id"),
                    Call,
                    Some(c.clone()),
                    None,
                )
            }
            "codeExecutionResult" => {
                let r = &j["codeExecutionResult"];
                tool(
                    "code_execution".into(),
                    s(r, "id"),
                    Result,
                    None,
                    Some(r.clone()),
                )
            }
            "toolCall" => {
                let c = &j["toolCall"];
                tool(s(c, "toolType")?, s(c, "id"), Call, field(c, "args"), None)
            }
            "toolResponse" => {
                let r = &j["toolResponse"];
                let name = s(r, "toolType").unwrap_or_default();
                tool(name, s(r, "id"), Result, None, field(r, "response"))
            }
            // The Responses API: one item, call and result.
            "web_search_call" => tool(
                "web_search".into(),
                s(j, "id"),
                CallAndResult,
                field(j, "action"),
                field(&j["action"], "sources"),
            ),
            "file_search_call" => tool(
                "file_search".into(),
                s(j, "id"),
                CallAndResult,
                field(j, "queries"),
                field(j, "results"),
            ),
            "code_interpreter_call" => tool(
                "code_interpreter".into(),
                s(j, "id"),
                CallAndResult,
                field(j, "code"),
                field(j, "outputs"),
            ),
            "mcp_call" => tool(
                "mcp".into(),
                s(j, "id"),
                CallAndResult,
                Some(serde_json::json!({
                    "server_label": j.get("server_label"),
                    "name": j.get("name"),
                    "arguments": j.get("arguments"),
                })),
                field(j, "output").or_else(|| field(j, "error")),
            ),
            k if k.ends_with("_call") && self.provider == "openai-responses" => tool(
                k.trim_end_matches("_call").into(),
                s(j, "id"),
                CallAndResult,
                None,
                None,
            ),
            _ => return None,
        })
    }
}
