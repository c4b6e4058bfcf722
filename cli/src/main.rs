//! The `rivulet` command. See `rivulet --help` and DESIGN.md's CLI section.

use std::io::IsTerminal;

use clap::Parser;

fn main() {
    // Logs go to stderr and only when asked for (RUST_LOG); stdout is the
    // stream itself. They are written by a thread of their own, and dropped
    // rather than waited for when stderr cannot keep up: logging must never
    // block the threads that carry the stream.
    let (logs, flush_logs) = tracing_appender::non_blocking(std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(logs)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let args = rivulet_cli::Args::parse();
    let stdin = std::io::stdin();
    let terminal = stdin.is_terminal();
    // Neither stdout nor stderr is locked for the whole run: each write
    // takes the lock for itself.
    let status = rivulet_cli::run(
        args,
        rivulet_cli::Stdin {
            reader: &mut stdin.lock(),
            terminal,
        },
        &mut std::io::stdout(),
        &mut std::io::stderr(),
    );
    // `exit` runs no destructors: flush what is logged first (bounded: the
    // guard gives up after about a second).
    drop(flush_logs);
    std::process::exit(status);
}
