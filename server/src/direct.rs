//! The body of an SSE response whose events are written straight to the
//! client's socket (`socket.rs` says why), not handed to hyper.
//!
//! hyper writes the response head; once it has flushed it, the attacher's
//! events go out on the socket in HTTP/1.1's chunked coding: replayed by
//! this body from the log at the client's pace, then, once it has caught
//! up, by the stream's writer ([`fanout`](crate::fanout)) until the writer
//! hands it back (the client fell behind, or the stream ended). When the
//! `end` event is out the body ends and hyper writes the last chunk.
//!
//! The body never yields a frame to hyper: hyper's and this body's bytes
//! would interleave. For the same reason nothing between the handler and
//! hyper may change a response body (a compression layer would); the
//! router has no such layer.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use futures::StreamExt;
use http_body::{Body, Frame, SizeHint};
use rivulet::{Event, Subscription};

use super::end::end_frame;
use super::fanout::{Live, Slot};
use super::registry::Attached;
use super::socket::{push_chunk, BodyOut, Socket};
use super::subscribe::subscribe_after;

/// Bytes of events a replaying body gathers before writing them.
const BATCH: usize = 64 * 1024;

/// The events of one attacher, after offset `after` (all of them when
/// `None`), written to `socket`.
pub(crate) struct DirectEvents {
    out: BodyOut,
    attached: Attached,
    keep_alive: Duration,
    slot: Arc<Slot>,
    state: State,
}

enum State {
    /// This body writes: what is in `out`, then the chunks from `next`.
    Own(Own),
    /// The stream's writer writes.
    Live,
    /// The `end` event is out.
    Done,
}

struct Own {
    next: u64,
    subscription: Option<Subscription>,
    /// `out` ends with the `end` event.
    end: bool,
}

impl DirectEvents {
    pub(crate) fn new(
        socket: Arc<Socket>,
        attached: Attached,
        after: Option<u64>,
        keep_alive: Duration,
    ) -> Self {
        let next = after.map_or(0, |k| k.saturating_add(1));
        DirectEvents {
            out: BodyOut::new(socket),
            attached,
            keep_alive,
            slot: Arc::default(),
            state: State::Own(Own {
                next,
                subscription: None,
                end: false,
            }),
        }
    }

    /// Writes and reads on until the socket or the log has to wait, or the
    /// attacher joins the writer.
    fn poll_own(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let State::Own(own) = &mut self.state else {
            return Poll::Ready(Ok(()));
        };
        loop {
            ready!(self.out.poll_write(cx))?;
            if own.end {
                self.state = State::Done;
                return Poll::Ready(Ok(()));
            }
            let entry = self.attached.entry();
            let next = own.next;
            let subscription = own
                .subscription
                .get_or_insert_with(|| subscribe_after(&entry.response, next.checked_sub(1)));
            let out = &mut self.out.buf;
            while out.len() < BATCH && !own.end {
                match subscription.poll_next_unpin(cx) {
                    Poll::Ready(Some(Event::Chunk(chunk))) => {
                        let frame = entry.frames.event(&chunk, entry.attachers() > 1);
                        push_chunk(out, &frame);
                        own.next = chunk.offset() + 1;
                    }
                    Poll::Ready(Some(Event::Missed(_))) => {}
                    Poll::Ready(Some(Event::End(outcome))) => {
                        push_chunk(out, &end_frame(&outcome));
                        own.end = true;
                    }
                    // Not before the end event.
                    Poll::Ready(None) => own.end = true,
                    Poll::Pending => break,
                }
            }
            if !out.is_empty() || own.end {
                continue;
            }
            // Caught up: the writer takes it from here.
            let live = Live::new(self.out.socket().clone(), own.next, self.slot.clone());
            entry.fanout.join(&entry.response, live, self.keep_alive);
            self.state = State::Live;
            return Poll::Ready(Ok(()));
        }
    }
}

impl Body for DirectEvents {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Own(_) => ready!(this.poll_own(cx))?,
                State::Live => {
                    let back = ready!(this.slot.poll_back(cx));
                    if let Some(e) = back.error {
                        this.state = State::Done;
                        return Poll::Ready(Some(Err(e)));
                    }
                    this.out.buf = back.rest;
                    this.state = State::Own(Own {
                        next: back.next,
                        subscription: None,
                        end: back.end,
                    });
                }
                State::Done => return Poll::Ready(None),
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.state, State::Done)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

impl Drop for DirectEvents {
    fn drop(&mut self) {
        if let State::Live = self.state {
            self.attached.entry().fanout.leave(&self.slot);
        }
    }
}
