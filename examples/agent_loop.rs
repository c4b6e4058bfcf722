//! The seeds' tool loop: a square-root tool, text and thoughts streamed with
//! their own formatting, tool-call substreams left to complete silently,
//! then the calls run and the conversation resumed until the model answers.
//!
//! ```python
//! while True:
//!     for stream in response.streams(): ...
//!     if response.tool_calls:
//!         response = response.resume(response.execute_tools())
//!     else:
//!         break
//! ```
//!
//! `OPENAI_API_KEY=… cargo run --example agent_loop -- "What's the square root of 4242?"`
//! (any provider: `RIVULET_MODEL=anthropic/… cargo run --example agent_loop`).

use std::io::Write;

use rivulet::{ContentType, Model, ThinkingLevel, Tool, Toolkit};
use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Deserialize, JsonSchema)]
struct SqrtArgs {
    /// The number to take the square root of.
    number: f64,
}

fn main() -> Result<(), rivulet::Error> {
    let id = std::env::var("RIVULET_MODEL").unwrap_or_else(|_| "openai/gpt-4o-mini".into());
    let query = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "What's the square root of 4242?".into());

    let toolkit = Toolkit::new().with(Tool::new(
        "sqrt_tool",
        "Computes the square root of a number",
        |args: SqrtArgs| Ok::<_, String>(args.number.sqrt()),
    ));
    let mut model = Model::new(&id).max_tokens(1000).tools(&toolkit);
    if std::env::var_os("RIVULET_THINKING").is_some() {
        model = model.thinking(ThinkingLevel::Medium);
    }

    let mut response = model.stream(query.as_str());
    // Create a loop for tool calling.
    loop {
        // Stream text and thoughts; tool call streams complete silently.
        for stream in response.blocking().streams() {
            let stream = stream?;
            match stream.content_type() {
                ContentType::Text => {
                    for delta in stream {
                        print!("{}", delta?);
                        std::io::stdout().flush().ok();
                    }
                    println!();
                }
                ContentType::Thought => {
                    print!("Thinking: ");
                    for delta in stream {
                        print!("{}", delta?);
                        std::io::stdout().flush().ok();
                    }
                    println!();
                }
                ContentType::ToolCall => {}
            }
        }
        if response.blocking().tool_calls().is_empty() {
            break;
        }
        let outputs = response.blocking().execute_tools(&toolkit);
        for o in &outputs {
            eprintln!(
                "[{} -> {}{}]",
                o.name,
                o.result,
                if o.is_error { " (error)" } else { "" }
            );
        }
        response = response.resume(outputs);
    }
    let done = response.blocking().finish()?;
    eprintln!(
        "[{} messages; usage {:?}]",
        done.messages().len(),
        done.usage
    );
    Ok(())
}
