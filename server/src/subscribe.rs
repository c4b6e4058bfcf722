//! An attacher's subscription to its stream's log.
//!
//! Every way of sending an attacher its events (hyper's body in
//! `events.rs`, the direct body in `direct.rs`, the stream's writer in
//! `fanout.rs`) reads the log through one of these, so they all read it the
//! same way. A leaf of its own so that those three name it without naming
//! each other (the writer is reached from the registry, which `events.rs`
//! uses).

use rivulet::{Policy, StreamResponse, Subscription};

/// The attacher's policy capacity: how many events one read of the log
/// may take (the runtime takes at most 32). A detached subscription never
/// holds the stream back; it reads behind from the log, losing nothing.
const BUFFER: usize = 64;

/// An attacher's subscription: detached with [`BUFFER`], from right after
/// offset `after` (`Last-Event-ID`), or from the start when `None`. Every
/// way of sending an attacher its events (hyper's body, the direct body,
/// the stream's writer) reads the log through one of these.
pub(crate) fn subscribe_after(response: &StreamResponse, after: Option<u64>) -> Subscription {
    let policy = Policy::Detached { capacity: BUFFER };
    match after {
        Some(k) => response.subscribe_from(k, policy),
        None => response.subscribe(policy),
    }
}
