//! A stream's writer: its new chunks written straight to the sockets of
//! the SSE attachers that keep up with it.
//!
//! Why: an attacher following live used to cost, per chunk, a task wake
//! and a trip through hyper's dispatcher and its response body, as much
//! CPU again as the write itself (`socket.rs` says more). The writer is
//! one task per stream with attachers: it reads the chunks that arrived
//! since its last pass, builds their events once, in HTTP's chunked coding,
//! and writes them to each attacher that keeps up with one non-blocking
//! write (one per attacher per pass, however many chunks the pass holds).
//!
//! It never waits on an attacher. One whose socket does not take the whole
//! pass at once (a slow or stalled client), or that joined behind the
//! pass, is handed back to its response body ([`Slot`]) with the bytes the
//! socket did not take and the offset it has reached; the body writes them
//! at the client's pace, reads on from the log itself, and joins again
//! once it has caught up. So a slow client slows nobody, and nothing is
//! lost or sent twice. The end of the stream is written to every attacher
//! and handed back with it (the body then ends the response).
//!
//! A writer with no attachers left stops, so a stream nobody follows live
//! costs nothing here; the next attacher to catch up starts another.

use std::os::fd::{BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::task::AtomicWaker;
use futures::StreamExt;
use rivulet::{Event, StreamResponse, Subscription};
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use super::end::end_frame;
use super::socket::{push_chunk, Socket};
use super::sse::push_chunk_event;
use super::subscribe::subscribe_after;

/// The most events one pass takes: a writer that fell behind a fast
/// stream catches up in passes of this many.
const PASS_EVENTS: usize = 256;

/// How a stream's attachers reach its writer, if it has one.
#[derive(Default)]
pub(crate) struct Fanout {
    joins: Arc<Mutex<Option<UnboundedSender<Msg>>>>,
}

/// An attacher that has caught up with the stream: its socket (hyper
/// flushed, and writes nothing until the body ends), the offset of the
/// next chunk it is owed, and where its body waits.
pub(crate) struct Live {
    socket: Arc<Socket>,
    /// `socket`'s file descriptor, beside the offset in the writer's list,
    /// so a pass writes to every attacher without reading each one's
    /// socket, readiness state or slot (three cache misses per attacher
    /// per pass).
    fd: RawFd,
    next: u64,
    slot: Arc<Slot>,
}

impl Live {
    pub(crate) fn new(socket: Arc<Socket>, next: u64, slot: Arc<Slot>) -> Self {
        Live {
            fd: socket.as_raw_fd(),
            socket,
            next,
            slot,
        }
    }

    /// Writes what the socket takes of `buf` now, without waiting.
    ///
    /// A `send` of its own, not tokio's `try_write`, which would read the
    /// socket's readiness first: a full socket's `WouldBlock` then leaves
    /// tokio believing it writable, and the body's next wait for it finds
    /// it full and waits properly.
    fn send(&self, buf: &[u8]) -> std::io::Result<usize> {
        // SAFETY: `fd` is `socket`'s, held open by the `Arc` beside it for
        // as long as `self` lives.
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        // MSG_NOSIGNAL: a client gone is an error, not a SIGPIPE.
        socket2::SockRef::from(&fd).send_with_flags(buf, libc::MSG_NOSIGNAL)
    }
}

enum Msg {
    Join(Live),
    /// An attacher's body went (its client did): drop its socket now
    /// rather than at the next chunk.
    Left,
}

/// Where an attacher's body waits while the writer writes for it.
#[derive(Default)]
pub(crate) struct Slot {
    back: Mutex<Option<HandBack>>,
    waker: AtomicWaker,
    /// The body is gone: the writer drops the attacher.
    gone: AtomicBool,
}

/// An attacher handed back to its body.
pub(crate) struct HandBack {
    /// The offset of the next chunk it is owed.
    pub(crate) next: u64,
    /// Bytes the writer owed it and its socket did not take: the body
    /// writes them first.
    pub(crate) rest: Vec<u8>,
    /// `rest` ends with the stream's `end` event.
    pub(crate) end: bool,
    /// Its socket failed: the body ends the connection.
    pub(crate) error: Option<std::io::Error>,
}

impl Slot {
    fn hand_back(&self, back: HandBack) {
        *lock(&self.back) = Some(back);
        self.waker.wake();
    }

    /// Ready once the writer has handed the attacher back.
    pub(crate) fn poll_back(&self, cx: &mut Context<'_>) -> Poll<HandBack> {
        if let Some(back) = lock(&self.back).take() {
            return Poll::Ready(back);
        }
        self.waker.register(cx.waker());
        match lock(&self.back).take() {
            Some(back) => Poll::Ready(back),
            None => Poll::Pending,
        }
    }

    fn is_gone(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here is a take, a put or a send: none can
    // panic halfway.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Fanout {
    /// Hands `live` to the stream's writer, starting one (on the current
    /// tokio runtime) if the stream has none.
    pub(crate) fn join(&self, response: &StreamResponse, live: Live, keep_alive: Duration) {
        let mut joins = lock(&self.joins);
        let live = match joins.as_ref() {
            Some(tx) => match tx.send(Msg::Join(live)) {
                Ok(()) => return,
                // Its writer stopped at the stream's end.
                Err(mpsc::error::SendError(Msg::Join(live))) => live,
                Err(_) => return,
            },
            None => live,
        };
        let subscription = subscribe_after(response, live.next.checked_sub(1));
        let (tx, rx) = mpsc::unbounded_channel();
        let writer = Writer {
            next: live.next,
            subscription,
            rx,
            joins: self.joins.clone(),
            live: Vec::new(),
            keep_alive,
        };
        // Cannot fail: the receiver is right here.
        let _ = tx.send(Msg::Join(live));
        *joins = Some(tx);
        tokio::spawn(writer.run());
    }

    /// `slot`'s body is gone; its writer drops it now.
    pub(crate) fn leave(&self, slot: &Slot) {
        slot.gone.store(true, Ordering::SeqCst);
        if let Some(tx) = lock(&self.joins).as_ref() {
            let _ = tx.send(Msg::Left);
        }
    }
}

struct Writer {
    /// The offset of the next chunk it reads.
    next: u64,
    subscription: Subscription,
    rx: UnboundedReceiver<Msg>,
    joins: Arc<Mutex<Option<UnboundedSender<Msg>>>>,
    live: Vec<Live>,
    keep_alive: Duration,
}

/// What [`Writer::build`] found.
enum Built {
    /// Nothing new.
    Nothing,
    /// A pass to write; `full`: it stopped at [`PASS_EVENTS`], not because
    /// nothing more was ready.
    Pass { full: bool },
    /// The subscription ended.
    Closed,
}

/// One pass: the events of the chunks `first..next`, in chunked coding,
/// then the stream's end if it came.
#[derive(Default)]
struct Pass {
    bytes: Vec<u8>,
    /// One chunk's event before it goes into `bytes` behind its size: kept
    /// from one chunk to the next, so a chunk allocates nothing.
    event: Vec<u8>,
    /// Each chunk's offset and where its event starts in `bytes`.
    starts: Vec<(u64, usize)>,
    /// Where the chunks' events end (the end event, if any, follows).
    chunks_end: usize,
    end: bool,
}

impl Writer {
    async fn run(mut self) {
        let start = Instant::now() + self.keep_alive;
        let mut tick = tokio::time::interval_at(start, self.keep_alive);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut sent = false;
        let mut pass = Pass::default();
        std::future::poll_fn(|cx| self.poll_run(cx, &mut tick, &mut sent, &mut pass)).await;
    }

    /// One wake-up: the joins, then the chunks that are ready (a pass of
    /// them at a time), then the keep-alive. Each source is polled with
    /// the task's own waker until it is pending, so the writer sleeps
    /// registered with all three and polls none of them twice.
    fn poll_run(
        &mut self,
        cx: &mut Context<'_>,
        tick: &mut Interval,
        sent: &mut bool,
        pass: &mut Pass,
    ) -> Poll<()> {
        loop {
            while let Poll::Ready(msg) = self.rx.poll_recv(cx) {
                match msg {
                    Some(msg) => self.take(msg),
                    // The stream's entry is gone.
                    None => {
                        self.hand_back_all();
                        return Poll::Ready(());
                    }
                }
            }
            if self.live.is_empty() && self.stop() {
                return Poll::Ready(());
            }
            let first = self.next;
            match self.build(cx, pass) {
                Built::Nothing => {}
                Built::Pass { full } => {
                    self.write(pass, first);
                    *sent = true;
                    if pass.end {
                        // Every attacher was handed back with the end.
                        return Poll::Ready(());
                    }
                    if full {
                        continue;
                    }
                }
                // A subscription ends after its end event: not reached.
                Built::Closed => {
                    self.hand_back_all();
                    return Poll::Ready(());
                }
            }
            if tick.poll_tick(cx).is_ready() {
                if !std::mem::take(sent) {
                    self.keep_alive_all();
                }
                continue;
            }
            return Poll::Pending;
        }
    }

    fn take(&mut self, msg: Msg) {
        match msg {
            Msg::Join(live) => self.live.push(live),
            Msg::Left => self.live.retain(|l| !l.slot.is_gone()),
        }
    }

    /// Stops unless an attacher joined meanwhile: the stream's next
    /// attacher to catch up starts another writer.
    fn stop(&mut self) -> bool {
        let shared = self.joins.clone();
        let mut joins = lock(&shared);
        while let Ok(msg) = self.rx.try_recv() {
            self.take(msg);
        }
        if self.live.is_empty() {
            *joins = None;
            true
        } else {
            false
        }
    }

    /// The events ready now, up to [`PASS_EVENTS`], into `pass`.
    fn build(&mut self, cx: &mut Context<'_>, pass: &mut Pass) -> Built {
        pass.bytes.clear();
        pass.starts.clear();
        pass.end = false;
        let mut taken = 0;
        while taken < PASS_EVENTS {
            match self.subscription.poll_next_unpin(cx) {
                Poll::Ready(Some(Event::Chunk(chunk))) => {
                    pass.starts.push((chunk.offset(), pass.bytes.len()));
                    pass.event.clear();
                    push_chunk_event(&mut pass.event, &chunk);
                    push_chunk(&mut pass.bytes, &pass.event);
                    self.next = chunk.offset() + 1;
                }
                // The server's logs are whole; the next chunk's offset
                // shows a gap should there be one.
                Poll::Ready(Some(Event::Missed(_))) => {}
                Poll::Ready(Some(Event::End(outcome))) => {
                    pass.chunks_end = pass.bytes.len();
                    push_chunk(&mut pass.bytes, &end_frame(&outcome));
                    pass.end = true;
                    return Built::Pass { full: false };
                }
                Poll::Ready(None) => return Built::Closed,
                Poll::Pending => break,
            }
            taken += 1;
        }
        pass.chunks_end = pass.bytes.len();
        match taken {
            0 => Built::Nothing,
            n => Built::Pass {
                full: n == PASS_EVENTS,
            },
        }
    }

    /// Writes the pass (`first..self.next`, then the end if it came) to
    /// every attacher, each from its own next chunk.
    fn write(&mut self, pass: &Pass, first: u64) {
        let next = self.next;
        let mut i = 0;
        // A gone attacher (its body dropped) was taken off on its `Left`,
        // read before this pass; one that went since gets a write it
        // never reads, or an error nobody takes.
        while i < self.live.len() {
            let live = &mut self.live[i];
            if live.next < first {
                // Joined behind this pass: its body reads the chunks in
                // between itself, then joins again.
                let live = self.live.swap_remove(i);
                hand_back(live, Vec::new(), false, None);
                continue;
            }
            let from = match pass.starts.partition_point(|&(o, _)| o < live.next) {
                k if k < pass.starts.len() => pass.starts[k].1,
                _ => pass.chunks_end,
            };
            let bytes = &pass.bytes[from..];
            live.next = live.next.max(next);
            if bytes.is_empty() {
                i += 1;
                continue;
            }
            if self.send_or_hand_back(i, bytes, pass.end) {
                i += 1;
            }
        }
    }

    /// A keep-alive comment to every attacher.
    fn keep_alive_all(&mut self) {
        let mut comment = Vec::new();
        push_chunk(&mut comment, super::sse::COMMENT);
        let mut i = 0;
        while i < self.live.len() {
            if self.send_or_hand_back(i, &comment, false) {
                i += 1;
            }
        }
    }

    /// Sends `bytes` (ending with the stream's end: `end`) to attacher `i`.
    /// True if it stays: its socket took them all and the stream goes on.
    /// Otherwise it is handed back, with what its socket did not take.
    fn send_or_hand_back(&mut self, i: usize, bytes: &[u8], end: bool) -> bool {
        let (rest, error) = match self.live[i].send(bytes) {
            Ok(n) if n == bytes.len() && !end => return true,
            Ok(n) => (bytes[n..].to_vec(), None),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => (bytes.to_vec(), None),
            Err(e) => (Vec::new(), Some(e)),
        };
        let live = self.live.swap_remove(i);
        hand_back(live, rest, end && error.is_none(), error);
        false
    }

    fn hand_back_all(&mut self) {
        for live in self.live.drain(..) {
            hand_back(live, Vec::new(), false, None);
        }
    }
}

fn hand_back(live: Live, rest: Vec<u8>, end: bool, error: Option<std::io::Error>) {
    let Live {
        next, slot, socket, ..
    } = live;
    // The writer lets go of the socket before the body may use it.
    drop(socket);
    slot.hand_back(HandBack {
        next,
        rest,
        end,
        error,
    });
}
