//! The `rivulet` command line: `rivulet [OPTIONS] [PROMPT]`.
//!
//! [`args`] (flags, parsed by clap), `config` (from flags to a model),
//! `prompt` (the argument and standard input), `attach` (`-a`: images
//! and files), [`output`] (how chunks and responses are printed in each
//! `-o` mode), `fanout` (`--subscribers`), [`run`] (drives one stream
//! and returns the exit status) and [`exit`] (the statuses it returns).

pub mod args;
mod attach;
mod config;
pub mod exit;
mod fanout;
pub mod output;
mod prompt;
mod run;
#[cfg(feature = "serve")]
pub mod serve;
#[cfg(feature = "serve")]
mod serve_args;

pub use args::{Args, Command, OutputMode};
pub use prompt::Stdin;
pub use run::{exit_code, run};
