//! From flags to a [`Model`]: the model id, call parameters, timeouts, and
//! the `--tools` and `--format` files. Every refusal names its flag (and
//! file), and says whether the model is the problem.

use std::path::Path;

use rivulet_core::{Format, ThinkingLevel, ToolChoice};
use serde_json::Value;

use super::args::{limit, Args, Thinking};
use rivulet::model::check_model_id;
use rivulet::tools::tool_definitions_from_json;
use rivulet::Model;

/// The model used when neither `-m` nor `$RIVULET_MODEL` names one.
pub const DEFAULT_MODEL: &str = "local";

/// Why the flags cannot make a model.
#[derive(Debug, PartialEq)]
pub struct UsageError {
    /// What is wrong, naming the flag.
    pub message: String,
    /// The model id is the problem: the CLI then lists the providers.
    pub model: bool,
}

impl UsageError {
    /// A usage error where the model is not the problem.
    pub fn new(message: String) -> Self {
        UsageError {
            message,
            model: false,
        }
    }
}

/// The model id to use.
pub fn model_id(args: &Args) -> &str {
    args.model.as_deref().unwrap_or(DEFAULT_MODEL)
}

fn read_json(flag: &str, path: &Path) -> Result<Value, UsageError> {
    let fail =
        |e: &dyn std::fmt::Display| UsageError::new(format!("{flag} {}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| fail(&e))?;
    serde_json::from_str(&text).map_err(|e| fail(&e))
}

/// The `--format` schema: a JSON object, named by its `title`.
fn format_from(path: &Path) -> Result<Format, UsageError> {
    let schema = read_json("--format", path)?;
    if !schema.is_object() {
        return Err(UsageError::new(format!(
            "--format {}: the schema must be a JSON object, not {}",
            path.display(),
            kind_of(&schema)
        )));
    }
    let name = schema
        .get("title")
        .and_then(Value::as_str)
        .unwrap_or("output")
        .to_string();
    Ok(Format { name, schema })
}

/// `--tool-choice`: a mode, or the name of one of the `--tools`.
fn tool_choice_from(choice: &str, args: &Args) -> Result<ToolChoice, UsageError> {
    match choice {
        "auto" => return Ok(ToolChoice::Auto),
        "none" => return Ok(ToolChoice::None),
        "required" => return Ok(ToolChoice::Required),
        _ => {}
    }
    let Some(path) = &args.tools else {
        return Err(UsageError::new(format!(
            "--tool-choice {choice}: naming a tool needs --tools (or use auto, none, required)"
        )));
    };
    let tools = tool_definitions_from_json(read_json("--tools", path)?)
        .map_err(|e| UsageError::new(format!("--tools {}: {e}", path.display())))?;
    if !tools.iter().any(|t| t.name == choice) {
        return Err(UsageError::new(format!(
            "--tool-choice {choice}: no such tool in {} (or use auto, none, required)",
            path.display()
        )));
    }
    Ok(ToolChoice::Tool(choice.to_string()))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Builds the model from the flags.
pub fn model_from(args: &Args) -> Result<Model, UsageError> {
    let id = model_id(args);
    check_model_id("-m ", id).map_err(|message| UsageError {
        message,
        model: true,
    })?;
    let mut model = Model::new(id);
    // A zero limit is none: the model's own default (no limit) stays.
    if let Some(d) = limit(args.connect_timeout) {
        model = model.connect_timeout(d);
    }
    if let Some(d) = limit(args.first_chunk_timeout) {
        model = model.first_chunk_timeout(d);
    }
    if let Some(d) = limit(args.idle_timeout) {
        model = model.idle_timeout(d);
    }
    if let Some(d) = args.total_timeout.and_then(limit) {
        model = model.total_timeout(d);
    }
    if let Some(u) = &args.base_url {
        model = model.base_url(u.clone());
    }
    if let Some(n) = args.max_tokens {
        model = model.max_tokens(n);
    }
    if let Some(t) = args.temperature {
        model = model.temperature(t);
    }
    if let Some(s) = args.seed {
        model = model.seed(s);
    }
    if let Some(t) = args.thinking {
        model = model.thinking(match t {
            Thinking::Low => ThinkingLevel::Low,
            Thinking::Medium => ThinkingLevel::Medium,
            Thinking::High => ThinkingLevel::High,
        });
    }
    if let Some(n) = args.retries {
        model = model.retries(n);
    }
    if let Some(path) = &args.tools {
        let tools = tool_definitions_from_json(read_json("--tools", path)?)
            .map_err(|e| UsageError::new(format!("--tools {}: {e}", path.display())))?;
        model = model.tools(tools);
    }
    if let Some(choice) = &args.tool_choice {
        model = model.tool_choice(tool_choice_from(choice, args)?);
    }
    if let Some(body) = &args.extra_body {
        let body: Value = serde_json::from_str(body)
            .map_err(|e| UsageError::new(format!("--extra-body: not JSON: {e}")))?;
        if !body.is_object() {
            return Err(UsageError::new(format!(
                "--extra-body: must be a JSON object, not {}",
                kind_of(&body)
            )));
        }
        model = model.extra_body(body);
    }
    if let Some(path) = &args.format {
        model = model.format_schema(format_from(path)?);
    }
    Ok(model)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_file_accepts_both_shapes() {
        let v = serde_json::json!([
            {"name": "a", "description": "A", "parameters": {"type": "object"}},
            {"type": "function", "function": {"name": "b", "parameters": {"type": "object"}}}
        ]);
        let tools = tool_definitions_from_json(v).unwrap();
        assert_eq!(tools[0].name, "a");
        assert_eq!(tools[1].name, "b");
        assert_eq!(tools[1].description, "");
    }

    #[test]
    fn a_bad_tool_definition_is_named() {
        let v = serde_json::json!([
            {"name": "a", "parameters": {"type": "object"}},
            {"description": "no name", "parameters": {"type": "object"}}
        ]);
        let e = tool_definitions_from_json(v).unwrap_err();
        assert!(e.starts_with("tool definition 2: "), "{e}");
        assert!(e.contains("name"), "{e}");
    }

    #[test]
    fn zero_turns_a_timeout_off() {
        use clap::Parser;
        let args = Args::parse_from([
            "rivulet",
            "-m",
            "openai/gpt-4o",
            "--connect-timeout",
            "0",
            "--first-chunk-timeout",
            "0",
            "hi",
        ]);
        let model = format!("{:?}", model_from(&args).unwrap());
        assert!(model.contains("connect_timeout: None"), "{model}");
        assert!(model.contains("first_chunk_timeout: None"), "{model}");
        assert!(model.contains("idle_timeout: Some(120s)"), "{model}");
        assert!(model.contains("total_timeout: None"), "{model}");
    }

    #[test]
    fn model_ids_need_a_known_provider_and_a_model_name() {
        assert_eq!(check_model_id("-m ", "openai/gpt-4o"), Ok(()));
        assert_eq!(check_model_id("-m ", "openrouter/anthropic/claude"), Ok(()));
        assert_eq!(check_model_id("-m ", "local"), Ok(()));
        for (id, says) in [
            ("openai", "-m openai: no model name"),
            ("openai/", "-m openai/: no model name"),
            ("anthropic/ ", "no model name"),
            ("gpt-4o", "-m gpt-4o: unknown provider \"gpt-4o\""),
            ("", "unknown provider \"\""),
        ] {
            let args = <Args as clap::Parser>::parse_from(["rivulet", "-m", id, "hi"]);
            let e = model_from(&args).unwrap_err();
            assert!(e.model, "{id}");
            assert!(e.message.contains(says), "{id}: {}", e.message);
        }
    }
}
