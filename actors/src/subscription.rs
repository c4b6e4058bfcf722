//! Subscriptions: each consumer reads the stream's log itself.
//!
//! A subscription keeps its own cursor into the log, from the start (or
//! right after the offset given to `subscribe_from*`), so a late joiner
//! replays, then follows live. It takes the events past its cursor on the
//! consumer's own thread, up to its policy's `capacity` (at most
//! [`MAX_BATCH`]) under one lock of the log, and hands them out one by one. When it has caught up it leaves
//! its waker in the log's wait list; the provider wakes the list once per
//! read from the network, and on a busy arbiter once per pass (see
//! `crate::idle`). Async consumers ([`Subscription`]) are woken as tasks,
//! blocking ones ([`BlockingSubscription`]) by unparking their thread.
//!
//! Why no actor and channel between the log and the consumer: an actor on
//! the arbiter that copied each chunk into the consumer's channel cost a
//! wake-up of the arbiter whenever the consumer made room, a channel send
//! and receive per chunk, and the actor's own memory. One stream of
//! 1,000,000 chunks in 16 KiB frames took 2.01–2.20 s of CPU with it and
//! 1.26–1.41 s reading in place (`bench __client rivulet`, 3 runs; see
//! the commit).
//!
//! Lossless backpressure is accounted on the consumer side: each
//! subscription counts what its consumer has taken, and the provider stops
//! reading while any lossless consumer is `capacity` entries behind.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use crate::event::Event;
use crate::log::{Progress, Waiting};
use crate::options::Policy;
use crate::shared::{CancelOnDrop, Shared};

/// The most events one read of the log takes, whatever the policy's
/// capacity. Each event taken and not yet handed out holds 64 bytes in
/// the subscription's buffer, which keeps the room of its largest batch:
/// a mirror subscribing with a capacity of 256 held 16 KiB per stream
/// (`serve_bench --only redis`). Smaller batches cost locks: 8 consumers
/// of one 1,000,000-chunk stream took 1.56–1.73 s of CPU reading 8 events
/// at a time, 1.39–1.50 s reading 32 (`bench __client`, 3 runs each).
const MAX_BATCH: usize = 32;

/// The room for events a subscription keeps while it waits, once its
/// reads have become small: a large first batch (the first chunks of a
/// stream often come in one read) gives its room back when the consumer
/// has caught up after [`SMALL_READS`] reads in a row of at most this
/// many, so a paced stream's idle subscription holds 256 bytes of buffer,
/// not its largest batch's. A consumer whose reads stay large (a fast
/// stream, whose last read of a frame may be small) keeps its room:
/// giving it back at every wait and growing it again cost 1.3% more
/// instructions for 8 consumers of one stream in 16 KiB frames
/// (callgrind).
const IDLE_ROOM: usize = 4;

/// See [`IDLE_ROOM`].
const SMALL_READS: u8 = 8;

/// What both subscription kinds share: the stream, the cursor and the
/// events taken but not handed out, the consumer's progress for
/// backpressure, and the exactly-one-terminal-event bookkeeping.
struct Cursor {
    /// Held for its drop: when the last subscription or handle of a
    /// stream goes, the stream is cancelled (see `CancelOnDrop`).
    _guard: Arc<CancelOnDrop>,
    /// The guard's stream, held directly: a poll reads the log through it
    /// without touching the guard's allocation, one cold cache line less
    /// per chunk when thousands of streams take turns (callgrind).
    shared: Arc<Shared>,
    /// The next log entry to take.
    next: u64,
    /// Events taken from the log, not yet handed to the consumer.
    ready: VecDeque<Event>,
    /// Reads in a row that took at most [`IDLE_ROOM`] events.
    small_reads: u8,
    /// How many events one read of the log takes at most.
    batch: usize,
    waiting: Waiting,
    /// The waker last put on the log's wait list: a poll with the same
    /// one, while it is still there, need not take the log's lock.
    armed: Option<Waker>,
    progress: Option<Arc<Progress>>,
    done: bool,
}

impl Cursor {
    fn new(handle: Arc<CancelOnDrop>, policy: Policy, from: u64) -> Self {
        let (capacity, progress) = match policy {
            Policy::Lossless { capacity } => {
                let p = Progress::new(capacity, from);
                handle.shared.log.add_lossless(&p);
                (capacity, Some(p))
            }
            Policy::Detached { capacity } => (capacity, None),
        };
        Cursor {
            shared: handle.shared.clone(),
            _guard: handle,
            next: from,
            ready: VecDeque::new(),
            small_reads: 0,
            batch: capacity.clamp(1, MAX_BATCH),
            waiting: Waiting::default(),
            armed: None,
            progress,
            done: false,
        }
    }

    /// The next event, or `Pending` with `waker` registered with the log.
    fn poll_event(&mut self, waker: &Waker) -> Poll<Option<Event>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.ready.is_empty() {
            let log = &self.shared.log;
            let same = self.armed.as_ref().is_some_and(|w| w.will_wake(waker));
            if same && log.still_waiting(&self.waiting) {
                // Registered when it last read up to the end, and not woken
                // since: nothing was notified, so nothing new to read.
                self.trim();
                return Poll::Pending;
            }
            let registered = log.read(
                &mut self.next,
                self.batch,
                &mut self.ready,
                waker,
                &mut self.waiting,
            );
            if registered && !same {
                self.armed = Some(waker.clone());
            }
            self.small_reads = match self.ready.len() {
                n if n <= IDLE_ROOM => self.small_reads.saturating_add(1),
                _ => 0,
            };
        }
        match self.ready.pop_front() {
            Some(event) => {
                self.took(&event);
                Poll::Ready(Some(event))
            }
            None => {
                self.trim();
                Poll::Pending
            }
        }
    }

    /// Gives back the room of a large batch while waiting, once reads are
    /// small (see [`IDLE_ROOM`]).
    fn trim(&mut self) {
        if self.ready.capacity() > IDLE_ROOM && self.small_reads >= SMALL_READS {
            self.ready.shrink_to(IDLE_ROOM);
        }
    }

    /// Accounts for an event handed to the consumer.
    fn took(&mut self, event: &Event) {
        let n = match event {
            Event::Chunk(_) => 1,
            Event::Missed(n) => *n,
            Event::End(_) => {
                self.done = true;
                self.leave();
                return;
            }
        };
        if let Some(p) = &self.progress {
            p.advance(n);
            self.shared.ctl.progress();
        }
    }

    /// Stops holding the provider back.
    fn leave(&mut self) {
        if let Some(p) = self.progress.take() {
            self.shared.log.remove_lossless(&p);
            self.shared.ctl.progress();
        }
    }
}

impl Drop for Cursor {
    fn drop(&mut self) {
        self.leave();
    }
}

/// An async subscription to one stream: a `futures::Stream` of [`Event`]s
/// ending with exactly one [`Event::End`]; after it the stream yields `None`.
///
/// Made by [`StreamHandle::subscribe`](crate::StreamHandle::subscribe) and
/// [`StreamHandle::subscribe_from`](crate::StreamHandle::subscribe_from).
///
/// - **Replay**: it reads the stream's log with a cursor of its own, from
///   the start (a late subscription first replays every chunk received so
///   far, then follows live) or right after the offset given to
///   `subscribe_from`. Each [`Event::Chunk`] carries its offset
///   ([`SharedChunk::offset`](crate::SharedChunk::offset)): 0, 1, 2, … with
///   no gap, unless the log has a window and the subscription fell out of it,
///   which it is told first by [`Event::Missed`].
/// - **Policy**: the [`Policy`] it was made with. A detached one never slows
///   the stream, however long it is left unread; a lossless one holds the
///   provider back while its consumer is `capacity` chunks behind, so it
///   must be read (or dropped).
/// - **Drop**: dropping it ends this subscription only; a lossless one stops
///   holding the stream back. While it lives it keeps the stream alive
///   like a [`StreamHandle`](crate::StreamHandle): when the last handle and
///   subscription of a stream are dropped, the stream is cancelled (unless
///   it runs to completion).
/// - If the runtime shuts down underneath it, it still ends with one
///   `Event::End` (the stream's outcome, or cancelled).
pub struct Subscription {
    cursor: Cursor,
}

impl Subscription {
    /// Subscribes from log entry `from` (0: the start).
    pub(crate) fn start(handle: &Arc<CancelOnDrop>, policy: Policy, from: u64) -> Subscription {
        Subscription {
            cursor: Cursor::new(handle.clone(), policy, from),
        }
    }
}

impl futures::Stream for Subscription {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Event>> {
        self.get_mut().cursor.poll_event(cx.waker())
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("done", &self.cursor.done)
            .finish_non_exhaustive()
    }
}

/// A blocking subscription to one stream: an `Iterator` of [`Event`]s
/// ending with exactly one [`Event::End`].
///
/// The blocking twin of [`Subscription`], made by
/// [`BlockingHandle::subscribe`](crate::BlockingHandle::subscribe)
/// and [`BlockingHandle::subscribe_from`](crate::BlockingHandle::subscribe_from)
/// (`handle.blocking()`).
/// The same replay, offset, policy and drop rules apply. Call it from plain
/// threads (or `spawn_blocking`), not from an async task: `next` blocks the
/// thread until the stream has something for it.
pub struct BlockingSubscription {
    cursor: Cursor,
    /// Unparks the thread that waits in `next`; remade when another thread
    /// reads.
    waker: Option<(Thread, Waker)>,
}

impl BlockingSubscription {
    /// Subscribes from log entry `from` (0: the start).
    pub(crate) fn start(
        handle: &Arc<CancelOnDrop>,
        policy: Policy,
        from: u64,
    ) -> BlockingSubscription {
        BlockingSubscription {
            cursor: Cursor::new(handle.clone(), policy, from),
            waker: None,
        }
    }

    /// The waker that unparks this thread.
    fn thread_waker(&mut self) -> Waker {
        let me = std::thread::current();
        match &self.waker {
            Some((thread, waker)) if thread.id() == me.id() => waker.clone(),
            _ => {
                let waker = Waker::from(Arc::new(Unpark(me.clone())));
                self.waker = Some((me, waker.clone()));
                waker
            }
        }
    }

    /// Waits for the next event until `deadline` (for ever without one).
    fn wait(&mut self, deadline: Option<Instant>) -> Option<Event> {
        let waker = self.thread_waker();
        loop {
            if let Poll::Ready(event) = self.cursor.poll_event(&waker) {
                return event;
            }
            // A wake-up between the registration and the park leaves the
            // thread's token set: the park returns at once.
            match deadline {
                None => std::thread::park(),
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    std::thread::park_timeout(deadline - now);
                }
            }
        }
    }

    /// Like [`Iterator::next`], but gives up after `timeout` (returning
    /// `None` without ending the subscription: call it again to go on).
    /// `None` after the terminal event, as `next`.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Event> {
        self.wait(Some(Instant::now() + timeout))
    }
}

/// Wakes a blocking subscription's thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

impl Iterator for BlockingSubscription {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.wait(None)
    }
}

impl fmt::Debug for BlockingSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingSubscription")
            .field("done", &self.cursor.done)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::noop_waker;
    use rivulet_core::Chunk;

    /// A burst of chunks read in one batch, then small reads and a wait:
    /// the subscription keeps room for [`IDLE_ROOM`] events, not for its
    /// first batch, and reads on without losing any.
    #[test]
    fn a_waiting_subscription_gives_back_a_large_batchs_room() {
        let shared = Arc::new(Shared::new(0, None, false, Arc::default(), Arc::default()));
        let guard = CancelOnDrop::new(shared.clone(), ());
        let mut cursor = Cursor::new(guard, Policy::Detached { capacity: 64 }, 0);
        let waker = noop_waker();
        let text = |i: usize| Chunk::text(0, format!("{i}"));
        for i in 0..20 {
            shared.log.append(text(i));
        }
        for i in 0..20 {
            match cursor.poll_event(&waker) {
                Poll::Ready(Some(Event::Chunk(c))) => assert_eq!(*c, text(i)),
                other => panic!("chunk {i}: {other:?}"),
            }
        }
        assert!(cursor.ready.capacity() >= 20, "read in one batch");
        // Caught up after a large read: the room stays (a fast stream's
        // next read is as large).
        assert!(cursor.poll_event(&waker).is_pending());
        assert!(cursor.ready.capacity() >= 20);

        // Small reads, then a wait: the room goes back once they are
        // SMALL_READS in a row.
        let one_more = |cursor: &mut Cursor, i: usize| {
            shared.log.append(text(i));
            shared.log.notify();
            match cursor.poll_event(&waker) {
                Poll::Ready(Some(Event::Chunk(c))) => assert_eq!(*c, text(i)),
                other => panic!("chunk {i}: {other:?}"),
            }
            assert!(cursor.poll_event(&waker).is_pending());
        };
        let small = 20 + SMALL_READS as usize;
        for i in 20..small {
            assert!(cursor.ready.capacity() >= 20, "room kept before read {i}");
            one_more(&mut cursor, i);
        }
        assert!(cursor.ready.capacity() <= IDLE_ROOM);
        one_more(&mut cursor, small);
        assert!(cursor.ready.capacity() <= IDLE_ROOM);
    }
}
