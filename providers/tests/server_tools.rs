//! Tools the provider ran itself, from real recorded streams (SOURCES.md),
//! read the same way on every provider: Anthropic's `server_tool_use` and
//! `*_tool_result` blocks, the Responses API's `web_search_call`,
//! `file_search_call`, `code_interpreter_call` and `mcp_call` items,
//! Bedrock's server `toolUse`/`toolResult`, Gemini's code execution and
//! built-in tool parts. None of them is ever a client tool call.

mod common;

use common::fold;
use rivulet_core::{Response, ServerTool, ServerToolPhase};
use rivulet_providers::{anthropic, bedrock, google, responses};
use rivulet_testkit::wire;
use serde_json::json;

fn decode(file: &str) -> Response {
    let body = wire(file);
    let whole = match file.split('/').next().unwrap() {
        "anthropic" => anthropic::decode_pieces("anthropic", false, [&body[..]]),
        "gemini" => google::decode_pieces("google", false, [&body[..]]),
        "bedrock" => bedrock::decode_pieces(false, [&body[..]]),
        _ => responses::decode_pieces(false, [&body[..]]),
    };
    let out = fold(whole);
    assert!(out.error.is_none(), "{file}: {:?}", out.error);
    out.response
}

fn names(tools: &[ServerTool]) -> Vec<(&str, ServerToolPhase)> {
    tools.iter().map(|t| (t.name.as_str(), t.phase)).collect()
}

#[test]
fn anthropic_server_tools_link_call_and_result() {
    let r = decode("anthropic/web_search_citations.sse");
    let tools = r.server_tools();
    use ServerToolPhase::*;
    assert_eq!(
        names(&tools),
        [
            ("web_search", Call),
            ("web_search", Result),
            ("web_search", Call),
            ("web_search", Result)
        ]
    );
    assert_eq!(
        tools[0].id.as_deref(),
        Some("srvtoolu_01FYcUbzEaqqQh1WBRj1QX3h")
    );
    assert_eq!(
        tools[0].input,
        Some(json!({"query": "San Francisco weather today"}))
    );
    assert_eq!(tools[1].id, tools[0].id);
    let results = tools[1].output.as_ref().unwrap().as_array().unwrap();
    assert_eq!(
        results[0]["title"],
        "San Francisco, CA Weather Forecast | AccuWeather"
    );
    assert!(
        r.tool_calls().is_empty(),
        "server tools are not client calls"
    );
    // Usage counts the searches (`usage.server_tool_use`).
    assert_eq!(r.usage.web_search_requests, Some(2));
    assert_eq!(r.usage.web_fetch_requests, Some(0));

    let r = decode("anthropic/server_tool_code_execution.sse");
    let tools = r.server_tools();
    assert_eq!(
        names(&tools),
        [
            ("bash_code_execution", Call),
            ("bash_code_execution", Result)
        ]
    );
    assert_eq!(
        tools[0].input,
        Some(json!({"command": "echo \"65465-6544 * 65464-6+1.02255\" | bc -l"}))
    );
    assert_eq!(tools[1].id, tools[0].id);
    assert!(r.tool_calls().is_empty());
}

#[test]
fn responses_server_tool_items() {
    use ServerToolPhase::CallAndResult;
    let r = decode("openai-responses/web_search_call.sse");
    let tools = r.server_tools();
    assert_eq!(names(&tools), [("web_search", CallAndResult)]);
    assert_eq!(
        tools[0].id.as_deref(),
        Some("ws_00a60507bf41223d0068c9d30021d081a0962d80d50c12e317")
    );
    assert_eq!(
        tools[0].input.as_ref().unwrap()["query"],
        "weather: San Francisco, CA"
    );
    assert_eq!(
        tools[0].output,
        Some(json!([{"name": "oai-weather", "type": "api"}]))
    );

    let r = decode("openai-responses/file_search_call.sse");
    let tools = r.server_tools();
    assert_eq!(names(&tools), [("file_search", CallAndResult)]);
    assert!(tools[0].input.as_ref().unwrap().is_array(), "the queries");

    let r = decode("openai-responses/code_interpreter_call.sse");
    let tools = r.server_tools();
    assert_eq!(tools.len(), 3);
    assert!(tools.iter().all(|t| t.name == "code_interpreter"));
    assert!(tools[0].input.as_ref().unwrap().is_string(), "the code");

    let r = decode("openai-responses/mcp_call.sse");
    let tools = r.server_tools();
    // `mcp_list_tools` lists tools; it is neither a call nor a result.
    assert_eq!(names(&tools), [("mcp", CallAndResult)]);
    assert_eq!(tools[0].input.as_ref().unwrap()["name"], "ask_question");
    assert!(tools[0]
        .output
        .as_ref()
        .unwrap()
        .as_str()
        .unwrap()
        .starts_with("The `pydantic/pydantic-ai` repository"));
    for f in [
        "openai-responses/web_search_call.sse",
        "openai-responses/file_search_call.sse",
        "openai-responses/code_interpreter_call.sse",
        "openai-responses/mcp_call.sse",
    ] {
        assert!(decode(f).tool_calls().is_empty(), "{f}");
    }
}

#[test]
fn bedrock_server_tool_beside_a_client_call() {
    let r = decode("bedrock/converse_stream_server_tool_code_interpreter.bin");
    let tools = r.server_tools();
    use ServerToolPhase::*;
    assert_eq!(
        names(&tools),
        [
            ("nova_code_interpreter", Call),
            ("nova_code_interpreter", Result)
        ]
    );
    assert_eq!(tools[0].input, Some(json!({"snippet": "1234 * 5678"})));
    assert_eq!(tools[1].id, tools[0].id);
    assert_eq!(
        tools[1].output.as_ref().unwrap()[0]["json"]["stdOut"],
        "7006652"
    );
    // The client tool is a tool call, and the only one.
    let calls = r.tool_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].name, "final_result");
}

#[test]
fn gemini_code_execution_and_built_in_tools() {
    use ServerToolPhase::*;
    let r = decode("gemini/code_execution_usage_falls.sse");
    let tools = r.server_tools();
    assert_eq!(
        names(&tools),
        [("code_execution", Call), ("code_execution", Result)]
    );
    assert_eq!(tools[0].input.as_ref().unwrap()["language"], "PYTHON");
    assert_eq!(
        tools[1].output.as_ref().unwrap()["output"],
        "-428330955.97745\n"
    );
    assert_eq!(tools[1].id, tools[0].id);

    let r = decode("gemini/builtin_tools_usage_omitted.sse");
    let tools = r.server_tools();
    // The result names no tool: it takes its call's, by id.
    assert_eq!(
        names(&tools),
        [("GOOGLE_SEARCH_WEB", Call), ("GOOGLE_SEARCH_WEB", Result)]
    );
    assert_eq!(
        tools[0].input,
        Some(json!({"queries": ["largest city in Mexico"]}))
    );
    assert!(r.tool_calls().is_empty());
}
