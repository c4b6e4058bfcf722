//! How a stream ended, as the server tells it: its status word, its error,
//! and the SSE `end` event every attacher gets last.
//!
//! A leaf of its own: the registry (metrics by status), the routes (a
//! stream's summary and snapshot), every way an attacher is sent its
//! events (`events.rs`, `direct.rs`, the writer in `fanout.rs`) and the
//! other nodes' streams (`remote.rs`) all say it the same way, and none of
//! them needs another for it.

use axum::body::Bytes;
use rivulet::json::error_json;
use rivulet::Outcome;
use rivulet_core::{Error, ErrorKind};
use serde_json::{json, Value};

use super::sse::frame;

/// `running`, `finished`, `failed` or `cancelled`.
pub fn status(outcome: Option<&Outcome>) -> &'static str {
    match outcome {
        None => "running",
        Some(Outcome::Finished) => "finished",
        Some(Outcome::Failed(e)) if e.kind() == ErrorKind::Cancelled => "cancelled",
        Some(Outcome::Failed(_)) => "failed",
    }
}

/// How the stream failed, if it did (a cancel included).
pub fn failure(outcome: Option<&Outcome>) -> Option<&Error> {
    match outcome {
        Some(Outcome::Failed(e)) => Some(e),
        _ => None,
    }
}

/// The `end` event's data: `{"status":"finished"}`,
/// `{"status":"cancelled"}` or `{"status":"failed","kind","message","error"}`.
pub fn end_data(outcome: Option<&Outcome>) -> Value {
    let mut v = json!({"status": status(outcome)});
    if let (Some(e), "failed") = (failure(outcome), status(outcome)) {
        v["kind"] = json!(e.kind().as_str());
        v["message"] = json!(e.message());
        v["error"] = error_json(e);
    }
    v
}

/// The `end` event of a stream that ended with `outcome`.
pub fn end_frame(outcome: &Outcome) -> Bytes {
    frame(None, "end", &end_data(Some(outcome)).to_string())
}
