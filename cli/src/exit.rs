//! Exit statuses, as DESIGN.md specifies them (and `rivulet --help` lists).
//!
//! A leaf of its own, not inline in the crate root: running a prompt
//! (`run.rs`) and the server (`serve.rs`) return these, and the root
//! re-exports `run`; with the codes in the root, `run.rs` and the root
//! would import each other.

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
