//! Command-line flags.

use std::time::Duration;

use clap::{Parser, ValueEnum};

/// How the response is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputMode {
    /// Text deltas as they arrive.
    Text,
    /// Every part readably (thoughts, tool calls).
    Pretty,
    /// One JSON object per chunk.
    Chunks,
    /// The final response as one JSON object.
    Json,
    /// With --format: the partial object each time it changes.
    Partials,
}

/// Reasoning effort.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Thinking {
    Low,
    Medium,
    High,
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 500ms, 30s)"))
}

/// Stream an LLM response.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "rivulet",
    version,
    about = "Stream LLM responses: every provider, fan-out, cancellation, timeouts."
)]
pub struct Args {
    /// The prompt; read from standard input when absent.
    pub prompt: Option<String>,

    /// provider/model, e.g. openai/gpt-4o-mini [default: $RIVULET_MODEL, else the embedded local model]
    #[arg(short, long, env = "RIVULET_MODEL")]
    pub model: Option<String>,

    /// Override the provider's base URL.
    #[arg(long)]
    pub base_url: Option<String>,

    /// System prompt.
    #[arg(short, long)]
    pub system: Option<String>,

    #[arg(long)]
    pub max_tokens: Option<u32>,

    #[arg(long)]
    pub temperature: Option<f64>,

    #[arg(long)]
    pub seed: Option<i64>,

    /// Reasoning effort for models that think.
    #[arg(long, value_enum)]
    pub thinking: Option<Thinking>,

    /// Tool definitions (JSON array of {name, description, parameters}); calls are printed, not run.
    #[arg(long, value_name = "FILE.json")]
    pub tools: Option<std::path::PathBuf>,

    /// JSON Schema the response must follow.
    #[arg(long, value_name = "SCHEMA.json")]
    pub format: Option<std::path::PathBuf>,

    /// Output mode.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: OutputMode,

    #[arg(long, value_parser = duration)]
    pub connect_timeout: Option<Duration>,

    #[arg(long, value_parser = duration)]
    pub first_chunk_timeout: Option<Duration>,

    #[arg(long, value_parser = duration)]
    pub idle_timeout: Option<Duration>,

    #[arg(long, value_parser = duration)]
    pub total_timeout: Option<Duration>,

    /// Retries before the first content chunk.
    #[arg(long)]
    pub retries: Option<u32>,

    /// Fan the stream out to N consumers and check they all saw the same chunks.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub subscribers: u32,

    /// Cancel after N content chunks.
    #[arg(long)]
    pub cancel_after: Option<u64>,

    /// Time to first chunk, chunks/s and usage, on stderr.
    #[arg(long)]
    pub stats: bool,
}
