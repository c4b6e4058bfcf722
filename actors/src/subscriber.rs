//! Subscriber actors and the consumer ends they feed.
//!
//! One subscriber actor per `subscribe*` call. It reads the log from the
//! start (or right after the offset given to `subscribe_from*`) with its
//! own cursor, so a late joiner replays, then follows live, and pushes each event into a bounded channel: a tokio channel for async
//! consumers ([`Subscription`]), a crossbeam channel for blocking ones
//! ([`BlockingSubscription`]). It waits on the log's `Notify` when it has
//! caught up, not on a mailbox message per chunk, and stops after it has
//! delivered the terminal event (or when its consumer goes away).
//!
//! Lossless backpressure is accounted on the consumer side: each
//! subscription counts what its consumer has taken, and the provider stops
//! reading while any lossless consumer is `capacity` entries behind.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Wake, Waker};

use actix::fut::{wrap_future, ActorFutureExt};
use actix::{Actor, ActorContext, AsyncContext, Context};
use crossbeam_channel::TrySendError;
use futures::task::AtomicWaker;
use rivulet_core::Error;
use tokio::sync::{mpsc, Notify};

use crate::event::{Event, Outcome};
use crate::idle;
use crate::log::Progress;
use crate::options::Policy;
use crate::stats::{Member, TaskGuard};
use crate::stream::{CancelOnDrop, Shared};

/// Where a subscriber actor delivers.
pub(crate) enum Sink {
    Async(mpsc::Sender<Event>),
    /// The `Notify` is signalled by the consumer after each receive (and
    /// when it goes away), so a full channel is waited on, never polled.
    Blocking(crossbeam_channel::Sender<Event>, Arc<Notify>),
}

/// Feeds an async consumer, from log entry `cursor` on, until the terminal
/// event or until it leaves.
async fn pump_async(shared: Arc<Shared>, tx: mpsc::Sender<Event>, mut cursor: u64) {
    let log = &shared.log;
    loop {
        // Take a slot first, so an event is only read from the log when it
        // can be delivered (and a departed consumer is noticed).
        let Ok(permit) = tx.reserve().await else {
            return;
        };
        let event = loop {
            if let Some(event) = log.next_event(&mut cursor) {
                break event;
            }
            tokio::select! {
                _ = log.readable(cursor) => {}
                _ = tx.closed() => return,
            }
        };
        let end = matches!(event, Event::End(_));
        permit.send(event);
        if end {
            return;
        }
    }
}

/// Feeds a blocking consumer, from log entry `cursor` on, until the
/// terminal event or until it leaves.
async fn pump_blocking(
    shared: Arc<Shared>,
    tx: crossbeam_channel::Sender<Event>,
    space: Arc<Notify>,
    mut cursor: u64,
) {
    loop {
        let mut event = match shared.log.next_event(&mut cursor) {
            Some(event) => event,
            None => {
                shared.log.readable(cursor).await;
                continue;
            }
        };
        let end = matches!(event, Event::End(_));
        loop {
            match tx.try_send(event) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    event = back;
                    // `notify_one` leaves a permit when nobody waits, so a
                    // receive between the failed send and this wait is not
                    // lost.
                    space.notified().await;
                }
                Err(TrySendError::Disconnected(_)) => return,
            }
        }
        if end {
            return;
        }
    }
}

/// The subscriber actor. See the module docs.
pub(crate) struct SubscriberActor {
    /// The stream, the consumer's end and the first log entry to deliver.
    feed: Option<(Arc<Shared>, Sink, u64)>,
    member: Member,
}

impl SubscriberActor {
    pub(crate) fn new(shared: Arc<Shared>, sink: Sink, from: u64, member: Member) -> Self {
        SubscriberActor {
            feed: Some((shared, sink, from)),
            member,
        }
    }
}

impl Actor for SubscriberActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        self.member.started();
        let Some((shared, sink, from)) = self.feed.take() else {
            ctx.stop();
            return;
        };
        let task = TaskGuard::new(self.member.counters());
        let pump = async move {
            let _task = task;
            match sink {
                Sink::Async(tx) => pump_async(shared, tx, from).await,
                Sink::Blocking(tx, space) => pump_blocking(shared, tx, space, from).await,
            }
        };
        ctx.spawn(wrap_future(pump).map(|(), _act, ctx: &mut Context<Self>| ctx.stop()));
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        self.member.stopped();
    }
}

/// What both subscription kinds share: the stream, the consumer's progress
/// for backpressure, and the exactly-one-terminal-event bookkeeping.
struct Consumer {
    handle: Arc<CancelOnDrop>,
    progress: Option<Arc<Progress>>,
    done: bool,
}

impl Consumer {
    fn new(handle: Arc<CancelOnDrop>, policy: Policy, from: u64) -> (Self, usize) {
        let (capacity, progress) = match policy {
            Policy::Lossless { capacity } => {
                let p = Progress::new(capacity, from);
                handle.shared.log.add_lossless(&p);
                (capacity, Some(p))
            }
            Policy::Detached { capacity } => (capacity, None),
        };
        let consumer = Consumer {
            handle,
            progress,
            done: false,
        };
        (consumer, capacity.max(1))
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
            self.handle.shared.ctl.progress();
        }
    }

    /// The channel closed without a terminal event: the subscriber actor
    /// was torn down (runtime shutdown). The consumer still gets exactly one
    /// terminal event, with the stream's outcome.
    fn closed(&mut self) -> Option<Event> {
        if self.done {
            return None;
        }
        self.done = true;
        self.leave();
        let outcome = self
            .handle
            .shared
            .log
            .outcome()
            .unwrap_or_else(|| Outcome::failed(Error::cancelled()));
        Some(Event::End(outcome))
    }

    /// Stops holding the provider back.
    fn leave(&mut self) {
        if let Some(p) = self.progress.take() {
            self.handle.shared.log.remove_lossless(&p);
            self.handle.shared.ctl.progress();
        }
    }
}

impl Drop for Consumer {
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
///   the start (a late subscriber first replays every chunk received so
///   far, then follows live) or right after the offset given to
///   `subscribe_from`. Each [`Event::Chunk`] carries its offset
///   ([`SharedChunk::offset`](crate::SharedChunk::offset)): 0, 1, 2, … with
///   no gap, unless the log has a window and the subscriber fell out of it,
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
    rx: mpsc::Receiver<Event>,
    consumer: Consumer,
    /// What the channel wakes instead of the consumer's own waker.
    wake: Arc<ConsumerWake>,
    waker: Waker,
}

impl Subscription {
    /// Subscribes from log entry `from` (0: the start).
    pub(crate) fn start(handle: &Arc<CancelOnDrop>, policy: Policy, from: u64) -> Subscription {
        let (consumer, capacity) = Consumer::new(handle.clone(), policy, from);
        let (tx, rx) = mpsc::channel(capacity);
        spawn(&handle.shared, Sink::Async(tx), from);
        let wake = Arc::new(ConsumerWake {
            waker: AtomicWaker::new(),
            urgent: AtomicBool::new(true),
        });
        let waker = Waker::from(wake.clone());
        Subscription {
            rx,
            consumer,
            wake,
            waker,
        }
    }
}

/// The waker the subscription's channel sees. A delivery made on an
/// arbiter wakes the consumer (on another thread) only at the end of the
/// arbiter's pass, with every other delivery of that pass (see
/// [`crate::idle`]): one wake-up of the consumer's runtime for many
/// streams, instead of one per chunk. Until the consumer has its first
/// content chunk it is woken at once: the time to the first token is the
/// latency users feel.
struct ConsumerWake {
    waker: AtomicWaker,
    urgent: AtomicBool,
}

impl Wake for ConsumerWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let Some(waker) = self.waker.take() else {
            return;
        };
        if self.urgent.load(Ordering::Relaxed) {
            waker.wake();
        } else if let Err(waker) = idle::defer_wake(waker) {
            waker.wake();
        }
    }
}

impl futures::Stream for Subscription {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Event>> {
        let this = self.get_mut();
        if this.consumer.done {
            return Poll::Ready(None);
        }
        this.wake.waker.register(cx.waker());
        match this.rx.poll_recv(&mut TaskContext::from_waker(&this.waker)) {
            Poll::Ready(Some(event)) => {
                if matches!(&event, Event::Chunk(c) if c.is_content()) {
                    this.wake.urgent.store(false, Ordering::Relaxed);
                }
                this.consumer.took(&event);
                Poll::Ready(Some(event))
            }
            Poll::Ready(None) => Poll::Ready(this.consumer.closed()),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("done", &self.consumer.done)
            .finish_non_exhaustive()
    }
}

/// A blocking subscription to one stream: an `Iterator` of [`Event`]s
/// ending with exactly one [`Event::End`].
///
/// The blocking twin of [`Subscription`], over a crossbeam channel, made by
/// [`StreamHandle::subscribe_blocking`](crate::StreamHandle::subscribe_blocking)
/// and [`StreamHandle::subscribe_from_blocking`](crate::StreamHandle::subscribe_from_blocking).
/// The same replay, offset, policy and drop rules apply. Call it from plain
/// threads (or `spawn_blocking`), not from an async task: `next` blocks the
/// thread.
pub struct BlockingSubscription {
    rx: Option<crossbeam_channel::Receiver<Event>>,
    space: Arc<Notify>,
    consumer: Consumer,
}

impl BlockingSubscription {
    /// Subscribes from log entry `from` (0: the start).
    pub(crate) fn start(
        handle: &Arc<CancelOnDrop>,
        policy: Policy,
        from: u64,
    ) -> BlockingSubscription {
        let (consumer, capacity) = Consumer::new(handle.clone(), policy, from);
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let space = Arc::new(Notify::new());
        spawn(&handle.shared, Sink::Blocking(tx, space.clone()), from);
        BlockingSubscription {
            rx: Some(rx),
            space,
            consumer,
        }
    }

    fn received(&mut self, event: Event) -> Event {
        // One permit for the subscriber actor, in case the channel was full.
        self.space.notify_one();
        self.consumer.took(&event);
        event
    }

    /// Like [`Iterator::next`], but gives up after `timeout` (returning
    /// `None` without ending the subscription: call it again to go on).
    /// `None` after the terminal event, as `next`.
    pub fn next_timeout(&mut self, timeout: std::time::Duration) -> Option<Event> {
        if self.consumer.done {
            return None;
        }
        let rx = self.rx.as_ref()?;
        match rx.recv_timeout(timeout) {
            Ok(event) => Some(self.received(event)),
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => self.consumer.closed(),
        }
    }
}

impl Iterator for BlockingSubscription {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if self.consumer.done {
            return None;
        }
        let rx = self.rx.as_ref()?;
        match rx.recv() {
            Ok(event) => Some(self.received(event)),
            Err(_) => self.consumer.closed(),
        }
    }
}

impl Drop for BlockingSubscription {
    fn drop(&mut self) {
        // Disconnect first, then wake the subscriber actor if it waits for
        // room: it sees the disconnection and stops.
        drop(self.rx.take());
        self.space.notify_one();
    }
}

impl fmt::Debug for BlockingSubscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingSubscription")
            .field("done", &self.consumer.done)
            .finish_non_exhaustive()
    }
}

/// Starts a subscriber actor on the stream's arbiter. If the runtime has
/// been shut down the actor never starts; its channel then closes and the
/// consumer gets the stream's outcome as its terminal event.
fn spawn(shared: &Arc<Shared>, sink: Sink, from: u64) {
    let member = Member::new(shared.counters.clone(), shared.life());
    let actor = SubscriberActor::new(shared.clone(), sink, from, member);
    SubscriberActor::start_in_arbiter(&shared.arbiter, move |_| actor);
}
