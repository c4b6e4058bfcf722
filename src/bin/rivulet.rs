//! The `rivulet` command. See `rivulet --help` and DESIGN.md's CLI section.

use clap::Parser;

fn main() {
    // Logs go to stderr and only when asked for (RUST_LOG); stdout is the
    // stream itself.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args = rivulet::cli::Args::parse();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let status = rivulet::cli::run(
        args,
        &mut std::io::stdin().lock(),
        &mut stdout.lock(),
        &mut stderr.lock(),
    );
    std::process::exit(status);
}
