//! Mailbox messages between a stream's actors and its handles.
//!
//! Chunks themselves never travel through a mailbox: they are in the log.
//! Messages only say "look at the log" (once per batch of chunks and at the
//! end) or ask a follower for its current value.

use actix::Message;
use rivulet_core::Response;

use crate::tool_calls::{ParsedToolCall, PartialToolCall};

/// From the provider actor to the followers: new entries (a batch of them,
/// or the end) are in the log.
pub(crate) struct CatchUp;

impl Message for CatchUp {
    type Result = ();
}

/// To the accumulator: catch up with the log and reply with the response.
pub(crate) struct Snapshot;

impl Message for Snapshot {
    type Result = Response;
}

/// To the tool parser: catch up with the log and reply with the complete calls.
pub(crate) struct ToolCalls;

impl Message for ToolCalls {
    type Result = Vec<ParsedToolCall>;
}

/// To the tool parser: catch up with the log and reply with every call seen,
/// its partial arguments and its state.
pub(crate) struct PartialCalls;

impl Message for PartialCalls {
    type Result = Vec<PartialToolCall>;
}
