//! A recorded answer, no model needed: a loopback server
//! replays a real recorded OpenAI transcript byte for byte, line by line with
//! a small delay so the streaming is visible, and the `rivulet` CLI streams
//! it through the whole pipeline (HTTP, SSE, decoder, actors) with `--stats`.
//!
//! `cargo run --release --example replay -- "Your prompt"` (the answer is the
//! recorded one, whatever the prompt; extra flags go to the CLI).

use std::time::Duration;

use clap::Parser;
use rivulet_testkit::{wire, Replay, Server, Split};

fn main() {
    // The replay server ignores the key; the provider needs one to be built.
    // Set before any thread starts.
    if std::env::var_os("OPENAI_API_KEY").is_none() {
        std::env::set_var("OPENAI_API_KEY", "replay-needs-no-key");
    }
    let transcript = "openai-chat/text_include_usage.sse";
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let server = rt.block_on(Server::start(vec![Replay::sse(wire(transcript))
        .split(Split::Lines)
        .delay(Duration::from_millis(40))]));
    eprintln!("replaying testdata/wire/{transcript} from {}", server.url());

    let mut argv = vec![
        "rivulet".to_string(),
        "-m".into(),
        "openai/gpt-4o".into(),
        "--base-url".into(),
        format!("{}/v1", server.url()),
        "--stats".into(),
    ];
    let user: Vec<String> = std::env::args().skip(1).collect();
    if user.iter().all(|a| a.starts_with('-')) {
        argv.push("What is 4200 + 42?".into());
    }
    argv.extend(user);
    let args = rivulet_cli::Args::parse_from(argv);
    // Not locked for the whole run: the runtime's threads may log to stderr.
    let status = rivulet_cli::run(
        args,
        rivulet_cli::Stdin {
            reader: &mut std::io::stdin(),
            terminal: std::io::IsTerminal::is_terminal(&std::io::stdin()),
        },
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    std::process::exit(status);
}
