//! The `rivulet` command line: `rivulet [OPTIONS] [PROMPT]`.
//!
//! [`args`] (flags, parsed by clap), `config` (from flags to a model),
//! `prompt` (the argument and standard input), `attach` (`-a`: images
//! and files), [`output`] (how chunks and responses are printed in each
//! `-o` mode), `fanout` (`--subscribers`) and [`run`] (drives one stream
//! and returns the exit status).

pub mod args;
mod attach;
mod config;
mod fanout;
pub mod output;
mod prompt;
mod run;
#[cfg(feature = "serve")]
pub mod serve;

pub use args::{Args, Command, OutputMode};
pub use prompt::Stdin;
pub use run::{exit_code, run};

/// Exit statuses, as DESIGN.md specifies them (and `rivulet --help` lists).
pub mod exit {
    /// Done (a requested cancel counts as done).
    pub const OK: i32 = 0;
    /// The fan-out check found consumers that saw different chunks.
    pub const MISMATCH: i32 = 1;
    /// Usage or configuration (bad flag or file, unknown model, missing key).
    pub const USAGE: i32 = 2;
    /// The provider answered with an error (HTTP status or in-band event).
    pub const PROVIDER: i32 = 3;
    /// A timeout fired.
    pub const TIMEOUT: i32 = 4;
    /// The connection failed or dropped.
    pub const CONNECTION: i32 = 5;
    /// The stream was malformed (or in an encoding rivulet cannot read).
    pub const MALFORMED: i32 = 6;
    /// With `--format`: the response did not parse (a refusal included).
    pub const FORMAT: i32 = 7;
}
