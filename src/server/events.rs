//! `GET /v1/streams/{id}/events`: one stream's chunks as server-sent events.
//!
//! Each attacher has its own detached subscription: it replays the log from
//! the start and then follows live, at its own pace, so a slow or stalled
//! client never holds the generation (or anyone else) back. Event ids are
//! chunk offsets (0, 1, 2, … in the stream's log): a client resuming with
//! `Last-Event-ID: k` (or `?from=k`) gets a subscription from right after
//! offset k (`subscribe_from`), nothing before it replayed.

use std::convert::Infallible;

use axum::response::sse::Event as SseEvent;
use futures::{Stream, StreamExt};
use serde_json::{json, Value};

use super::registry::{failure, status, Attached, Entry};
use crate::cli::output::{chunk_line, error_json};
use crate::{Event, Outcome, Policy};

/// How many events a subscription buffers before its reader: a detached
/// subscription past this reads behind from the log, losing nothing.
const BUFFER: usize = 64;

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

/// The events of `entry` after offset `after` (all of them when `None`),
/// then `end`. `attached` is held until the client goes.
pub fn events(
    entry: &Entry,
    after: Option<u64>,
    attached: Attached,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static {
    let policy = Policy::Detached { capacity: BUFFER };
    let subscription = match after {
        Some(k) => entry.response.subscribe_from(k, policy),
        None => entry.response.subscribe(policy),
    };
    // (ended, the attacher's guard)
    let state = (false, attached);
    subscription
        .scan(state, move |(ended, _attached), event| {
            if *ended {
                return futures::future::ready(None);
            }
            let out = match event {
                Event::Chunk(chunk) => Some(
                    SseEvent::default()
                        .id(chunk.offset().to_string())
                        .event(chunk.type_name())
                        .data(chunk_line(&chunk)),
                ),
                // Only a windowed log loses chunks, and the server's logs
                // are whole; the next chunk's id shows the gap should one be.
                Event::Missed(_) => None,
                Event::End(outcome) => {
                    *ended = true;
                    Some(
                        SseEvent::default()
                            .event("end")
                            .data(end_data(Some(&outcome)).to_string()),
                    )
                }
            };
            futures::future::ready(Some(out))
        })
        .filter_map(|e| futures::future::ready(e.map(Ok)))
}
