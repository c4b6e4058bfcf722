//! `GET /v1/streams/{id}/events`: one stream's chunks as server-sent events.
//!
//! Each attacher has its own detached subscription: it replays the log from
//! the start and then follows live, at its own pace, so a slow or stalled
//! client never holds the generation (or anyone else) back. Event ids are
//! chunk offsets (0, 1, 2, … in the stream's log): a client resuming with
//! `Last-Event-ID: k` (or `?from=k`) gets a subscription from right after
//! offset k (`subscribe_from`), nothing before it replayed.
//!
//! Over HTTP/1.1 the events are written straight to the client's socket
//! (`direct.rs`, `fanout.rs`); [`events`] is the same stream of frames
//! through hyper, for an HTTP/1.0 client.

use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderValue;
use axum::response::Response;
use futures::{Stream, StreamExt};

use super::ai_sdk::{Encoder, HEADER_NAME, HEADER_VALUE};
use super::end::end_frame;
use super::registry::{Attached, Entry};
use super::sse::with_keep_alive;
use super::subscribe::subscribe_after;
use rivulet::Event;

/// The SSE frames of `entry`'s events after offset `after` (all of them
/// when `None`), then `end`. `attached` is held until the client goes.
pub fn events(
    entry: &Entry,
    after: Option<u64>,
    attached: Attached,
) -> impl Stream<Item = Bytes> + Send + 'static {
    let subscription = subscribe_after(&entry.response, after);
    // (ended, the attacher's guard)
    let state = (false, attached);
    subscription
        .scan(state, move |(ended, attached), event| {
            if *ended {
                return futures::future::ready(None);
            }
            let out = match event {
                Event::Chunk(chunk) => {
                    let entry = attached.entry();
                    Some(entry.frames.event(&chunk, entry.attachers() > 1))
                }
                // Only a windowed log loses chunks, and the server's logs
                // are whole; the next chunk's id shows the gap should one be.
                Event::Missed(_) => None,
                Event::End(outcome) => {
                    *ended = true;
                    Some(end_frame(&outcome))
                }
            };
            futures::future::ready(Some(out))
        })
        .filter_map(futures::future::ready)
}

/// `?format=ai-sdk`: the whole stream, from its first chunk (the encoder
/// needs all of it; `Last-Event-ID` is ignored), as the AI SDK's UI message
/// stream, with a keep-alive comment once `keep_alive` passes with nothing
/// sent. `attached` is held until the client goes.
pub fn ai_sdk(entry: &Entry, attached: Attached, keep_alive: Duration) -> Response {
    let subscription = subscribe_after(&entry.response, None);
    ai_sdk_response(
        format!("msg-{}", entry.id),
        subscription,
        attached,
        keep_alive,
        |encoder, event, out| encoder.push_event(&event, out),
    )
}

/// The AI SDK's UI message stream of `items` for the message `message_id`:
/// `start` at once, then what `push` encodes of each item, until the
/// encoder has ended, with the plain SSE stream's keep-alive comments
/// (the SDK's SSE parser skips comments; a proxy would otherwise cut a
/// `useChat` stream during a long pause). `guard` is held until the client
/// goes. Shared by a local stream's events and another node's (`remote`).
pub(crate) fn ai_sdk_response<T: Send + 'static, G: Send + 'static>(
    message_id: String,
    items: impl Stream<Item = T> + Send + 'static,
    guard: G,
    keep_alive: Duration,
    push: fn(&mut Encoder, T, &mut Vec<u8>),
) -> Response {
    let mut encoder = Encoder::new(message_id);
    let mut start = Vec::new();
    encoder.push_start(&mut start);
    let first = futures::stream::once(futures::future::ready(start));
    let rest = items
        .scan((encoder, guard), move |(encoder, _guard), item| {
            if encoder.is_ended() {
                return futures::future::ready(None);
            }
            let mut out = Vec::new();
            push(encoder, item, &mut out);
            futures::future::ready(Some(out))
        })
        .filter(|out| futures::future::ready(!out.is_empty()));
    let mut response = with_keep_alive(first.chain(rest).map(Bytes::from), keep_alive);
    response
        .headers_mut()
        .insert(HEADER_NAME, HeaderValue::from_static(HEADER_VALUE));
    response
}
