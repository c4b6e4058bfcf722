//! Command-line flags.
//!
//! Every flag has a one-line description (`rivulet --help`), and values
//! that cannot be right are refused here, naming the flag (clap exits with
//! status 2): a temperature that is not a finite number, `--max-tokens 0`,
//! a duration that does not parse.

use std::time::Duration;

use clap::{Parser, ValueEnum};

/// How the response is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputMode {
    /// Text deltas as they arrive, and each tool call once it has ended.
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
    /// A little reasoning.
    Low,
    /// Some reasoning.
    Medium,
    /// As much reasoning as the model offers.
    High,
}

/// The most `--subscribers` the CLI accepts. Each extra consumer is a task
/// and a subscription, about 2.5 KB (100,000 took 270 MB in all), so this
/// bounds the fan-out's memory at under a gigabyte.
pub const MAX_SUBSCRIBERS: u32 = 250_000;

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 500ms, 30s; 0 for none)"))
}

fn temperature(s: &str) -> Result<f64, String> {
    let t: f64 = s
        .parse()
        .map_err(|_| "not a number (use e.g. 0.7)".to_string())?;
    if !rivulet::model::valid_temperature(t) {
        return Err("must be a finite number, 0 or more (e.g. 0.7)".into());
    }
    Ok(t)
}

/// A timeout flag's value: `0` means none.
pub fn limit(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// Exit statuses and environment, after the flags in `--help`.
const AFTER_HELP: &str = "\
Exit status:
  0  done (a requested cancel counts as done)
  1  --subscribers: the consumers did not all see the same chunks
  2  usage or configuration: a bad flag or file, an unknown model, a missing key
  3  the provider answered with an error (HTTP status or in-band error event)
  4  a timeout fired
  5  the connection failed or dropped
  6  the stream was malformed, or in an encoding rivulet cannot read
  7  --format: the response did not parse as JSON (a refusal included)

Environment:
  RIVULET_MODEL                       the model when -m is absent
  OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, GROQ_API_KEY, ...
                                      provider keys (PROVIDER_API_KEY)
  OPENAI_BASE_URL, ANTHROPIC_BASE_URL, ...
                                      provider endpoints (PROVIDER_BASE_URL)
  RUST_LOG                            logs on stderr, e.g. RUST_LOG=debug
  RIVULET_LLAMA_SERVER, RIVULET_LOCAL_MODEL, RIVULET_CACHE
                                      the local model's server, GGUF file, cache";

/// Subcommands. Without one, `rivulet` streams its prompt.
#[derive(Clone, Debug, clap::Subcommand)]
pub enum Command {
    /// Serve streams over HTTP: start, attach (SSE), resume, list, cancel.
    #[cfg(feature = "serve")]
    Serve(super::serve_args::ServeArgs),
}

/// Stream an LLM response.
#[derive(Clone, Debug, Parser)]
#[command(
    name = "rivulet",
    version,
    about = "Stream LLM responses: every provider, fan-out, cancellation, timeouts.",
    after_help = AFTER_HELP,
    // `rivulet help` stays a prompt, as before there were subcommands.
    disable_help_subcommand = true
)]
pub struct Args {
    /// A subcommand instead of a prompt (`rivulet serve`).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The prompt; piped standard input is appended after a blank line (read alone when no prompt is given).
    pub prompt: Option<String>,

    /// The model, e.g. openai/gpt-4o-mini [default: $RIVULET_MODEL, else local: the embedded model].
    #[arg(short, long, env = "RIVULET_MODEL", value_name = "PROVIDER/MODEL")]
    pub model: Option<String>,

    /// Override the provider's base URL.
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// System prompt.
    #[arg(short, long, value_name = "TEXT")]
    pub system: Option<String>,

    /// Attach an image or file (repeatable): a local path (type read from its content) or an http(s)/gs/s3 URL.
    #[arg(short = 'a', long = "attach", value_name = "PATH|URL")]
    pub attach: Vec<String>,

    /// The most tokens to generate (1 or more).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_tokens: Option<u32>,

    /// Sampling temperature: a finite number, 0 or more.
    #[arg(long, value_name = "T", value_parser = temperature, allow_hyphen_values = true)]
    pub temperature: Option<f64>,

    /// Sampling seed, for providers that support one.
    #[arg(long, value_name = "N")]
    pub seed: Option<i64>,

    /// Reasoning effort for models that think.
    #[arg(long, value_enum)]
    pub thinking: Option<Thinking>,

    /// Tool definitions (JSON array of {name, description, parameters}); calls are printed, not run.
    #[arg(long, value_name = "FILE.json")]
    pub tools: Option<std::path::PathBuf>,

    /// Which tool the model may call: auto, none, required, or a tool's name (needs --tools).
    #[arg(long, value_name = "auto|none|required|NAME")]
    pub tool_choice: Option<String>,

    /// JSON object merged into the provider's request body (a JSON merge patch), for options rivulet has no flag for.
    #[arg(long, value_name = "JSON")]
    pub extra_body: Option<String>,

    /// JSON Schema (an object) the response must follow; see -o partials and exit status 7.
    #[arg(long, value_name = "SCHEMA.json")]
    pub format: Option<std::path::PathBuf>,

    /// Output mode.
    #[arg(short, long, value_enum, default_value = "text")]
    pub output: OutputMode,

    /// Limit on connecting and receiving the response head (0: none).
    #[arg(long, value_name = "DURATION", value_parser = duration, default_value = "10s")]
    pub connect_timeout: Duration,

    /// Limit from the start to the first content chunk (0: none).
    #[arg(long, value_name = "DURATION", value_parser = duration, default_value = "120s")]
    pub first_chunk_timeout: Duration,

    /// Limit between two content chunks (0: none).
    #[arg(long, value_name = "DURATION", value_parser = duration, default_value = "120s")]
    pub idle_timeout: Duration,

    /// Limit on the whole stream, retries included (0 or absent: none).
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub total_timeout: Option<Duration>,

    /// Retries before the first content chunk [default: 2].
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,

    /// Fan the stream out to N consumers (at most 250000) and check they all saw the same chunks.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::value_parser!(u32).range(1..=MAX_SUBSCRIBERS as i64)
    )]
    pub subscribers: u32,

    /// Cancel after N content chunks (a requested cancel exits with 0).
    #[arg(long, value_name = "N")]
    pub cancel_after: Option<u64>,

    /// Time to first chunk, chunks/s, usage and output tokens/s, on stderr.
    #[arg(long)]
    pub stats: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("rivulet").chain(args.iter().copied()))
    }

    #[test]
    fn timeouts_default_to_generous_limits_and_zero_is_none() {
        let a = parse(&["hi"]).unwrap();
        assert_eq!(limit(a.connect_timeout), Some(Duration::from_secs(10)));
        assert_eq!(limit(a.first_chunk_timeout), Some(Duration::from_secs(120)));
        assert_eq!(limit(a.idle_timeout), Some(Duration::from_secs(120)));
        assert_eq!(a.total_timeout, None);
        let a = parse(&[
            "--connect-timeout",
            "0",
            "--first-chunk-timeout",
            "0s",
            "--idle-timeout",
            "0",
            "--total-timeout",
            "0",
            "hi",
        ])
        .unwrap();
        assert_eq!(limit(a.connect_timeout), None);
        assert_eq!(limit(a.first_chunk_timeout), None);
        assert_eq!(limit(a.idle_timeout), None);
        assert_eq!(a.total_timeout.and_then(limit), None);
    }

    #[test]
    fn every_flag_has_a_one_line_description() {
        use clap::CommandFactory;
        let cmd = Args::command();
        for arg in cmd.get_arguments() {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            assert!(
                !help.trim().is_empty(),
                "{} has no description",
                arg.get_id()
            );
            assert!(!help.contains('\n'), "{}: {help}", arg.get_id());
        }
        let help = Args::command().render_long_help().to_string();
        let cap = format!("at most {MAX_SUBSCRIBERS}");
        assert!(help.contains(&cap), "--subscribers should say {cap}");
    }

    #[test]
    fn serve_is_a_subcommand_and_other_words_stay_prompts() {
        let a = parse(&["help"]).unwrap();
        assert_eq!(a.prompt.as_deref(), Some("help"));
        assert!(a.command.is_none());
        let a = parse(&["-m", "openai/gpt-4o", "Tell me a story."]).unwrap();
        assert_eq!(a.prompt.as_deref(), Some("Tell me a story."));
        #[cfg(feature = "serve")]
        {
            let a = parse(&["serve", "--addr", "127.0.0.1:9000", "--token", "s3cret"]).unwrap();
            let Some(Command::Serve(s)) = &a.command else {
                panic!("{a:?}")
            };
            assert_eq!(s.addr.port(), 9000);
            assert_eq!(s.token.as_ref().map(|t| t.expose()), Some("s3cret"));
            // The token is a secret: no Debug print shows it.
            assert!(!format!("{a:?}").contains("s3cret"), "{a:?}");
            let a = parse(&[
                "serve",
                "--allow-origin",
                "http://localhost:3000",
                "--allow-origin",
                "https://app.example",
            ])
            .unwrap();
            let Some(Command::Serve(s)) = &a.command else {
                panic!("{a:?}")
            };
            assert_eq!(
                s.allow_origins,
                ["http://localhost:3000", "https://app.example"]
            );
            let e = parse(&["serve", "--allow-origin", "http://localhost:3000/"]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
            assert!(e.to_string().contains("is not an origin"), "{e}");
        }
    }

    #[test]
    fn temperature_must_be_finite() {
        assert_eq!(
            parse(&["--temperature", "0.7"]).unwrap().temperature,
            Some(0.7)
        );
        for bad in ["NaN", "nan", "inf", "-inf", "infinity", "-0.5", "warm"] {
            let e = parse(&["--temperature", bad]).unwrap_err();
            assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
            assert!(e.to_string().contains("--temperature"), "{e}");
        }
    }
}
