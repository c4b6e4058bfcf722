//! The seeds' `streams()` pattern: stream text and thoughts with different
//! formatting while tool-call substreams complete silently, and fan the same
//! generation out to a logger at the same time.
//!
//! `OPENAI_API_KEY=… cargo run --example streams -- "What's the square root of 4242?"`
//! (any provider: `RIVULET_MODEL=groq/… cargo run --example streams`).

use std::io::Write;

use rivulet::{ContentType, Model, Policy};

fn main() -> Result<(), rivulet::Error> {
    let id = std::env::var("RIVULET_MODEL").unwrap_or_else(|_| "openai/gpt-4o-mini".into());
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "What's the square root of 4242?".into());
    let response = Model::new(&id).max_tokens(400).stream(prompt.as_str());

    // A second consumer of the same generation: it never slows the first.
    let log = response
        .blocking()
        .subscribe(Policy::Detached { capacity: 256 });
    let logger = std::thread::spawn(move || log.count());

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
                }
                println!();
            }
            // Skipped: the call still completes in the response.
            ContentType::ToolCall => {}
        }
    }
    let done = response.blocking().finish()?;
    for call in done.tool_calls() {
        println!("tool call {}({})", call.name, call.args);
    }
    let events = logger.join().unwrap_or(0);
    eprintln!("[{events} events logged; usage {:?}]", done.usage);
    Ok(())
}
