//! The `rivulet` command line: `rivulet [OPTIONS] [PROMPT]`.
//!
//! Split in three: [`args`] (flags, parsed by clap), [`output`] (how chunks
//! and responses are printed in each `-o` mode) and [`run`] (drives one
//! stream and returns the exit status).

pub mod args;
pub mod output;
mod run;

pub use args::{Args, OutputMode};
pub use run::{exit_code, run};

/// Exit statuses, as DESIGN.md specifies them.
pub mod exit {
    /// Done (a requested cancel counts as done).
    pub const OK: i32 = 0;
    /// The fan-out check found consumers that saw different chunks.
    pub const MISMATCH: i32 = 1;
    /// Usage or configuration (missing key, bad flag).
    pub const USAGE: i32 = 2;
    /// The provider answered with an error (HTTP status or in-band event).
    pub const PROVIDER: i32 = 3;
    /// A timeout fired.
    pub const TIMEOUT: i32 = 4;
    /// The connection failed or dropped.
    pub const CONNECTION: i32 = 5;
    /// The stream was malformed.
    pub const MALFORMED: i32 = 6;
}
