//! State shared by everything that belongs to one stream: its log, its
//! cancel switch, the final values the followers publish, and the registry
//! of in-flight streams a runtime cancels on shutdown.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::Waker;
use std::time::Duration;

use futures::task::AtomicWaker;
use rivulet_core::{Error, Message, Response};
use tokio::sync::{mpsc, Notify};

use crate::event::Outcome;
use crate::fallback::Routing;
use crate::log::Log;
use crate::stats::{lock, Counters, StreamLife};
use crate::tool_calls::{ParsedToolCall, PartialToolCall};

/// The provider actor's wake-up line: cancel requests and "a lossless
/// consumer made room" both arrive here, from any thread, without a mailbox
/// message.
#[derive(Default)]
pub(crate) struct Control {
    cancelled: AtomicBool,
    /// Set while the provider waits for a lossless consumer to catch up.
    parked: AtomicBool,
    waker: AtomicWaker,
}

impl Control {
    /// Asks the provider actor to drop its stream and end with `Cancelled`.
    /// A no-op once the stream has ended.
    pub(crate) fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.waker.wake();
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    /// The provider registers its task before each check.
    pub(crate) fn register(&self, waker: &Waker) {
        self.waker.register(waker);
    }

    pub(crate) fn park(&self) {
        self.parked.store(true, Ordering::SeqCst);
    }

    pub(crate) fn unpark(&self) {
        self.parked.store(false, Ordering::SeqCst);
    }

    /// A lossless consumer advanced (or left): wake the provider if it is
    /// waiting for one. Costs one atomic load when it is not.
    pub(crate) fn progress(&self) {
        if self.parked.load(Ordering::SeqCst) {
            self.waker.wake();
        }
    }
}

/// The registry's table is not shrunk below this many entries: a runtime
/// with a few streams at a time never reallocates it.
const MIN_REGISTRY_CAPACITY: usize = 64;

/// In-flight streams of one runtime, so `shutdown` can cancel them. Weak
/// references: the registry never keeps a stream alive.
#[derive(Default)]
pub(crate) struct Registry {
    inner: Mutex<RegistryInner>,
}

#[derive(Default)]
struct RegistryInner {
    closed: bool,
    next_id: u64,
    streams: HashMap<u64, Weak<Shared>>,
}

impl Registry {
    /// Creates a stream's shared state under the registry lock, so a
    /// concurrent `shutdown` either sees it or has already closed the
    /// registry. Returns whether the stream was registered (`false` once
    /// the runtime is shut down).
    pub(crate) fn register(&self, make: impl FnOnce(u64) -> Arc<Shared>) -> (Arc<Shared>, bool) {
        let mut g = lock(&self.inner);
        let id = g.next_id;
        g.next_id += 1;
        let shared = make(id);
        if g.closed {
            return (shared, false);
        }
        g.streams.insert(id, Arc::downgrade(&shared));
        (shared, true)
    }

    fn remove(&self, id: u64) {
        let mut g = lock(&self.inner);
        g.streams.remove(&id);
        // A map keeps the capacity of its busiest moment: 2,000 concurrent
        // streams left 64 KiB here for good. Halve it as the streams end
        // (amortized O(1) per removal); a quiet runtime keeps a small table.
        let (len, capacity) = (g.streams.len(), g.streams.capacity());
        if capacity > MIN_REGISTRY_CAPACITY && len < capacity / 4 {
            g.streams.shrink_to((len * 2).max(MIN_REGISTRY_CAPACITY));
        }
    }

    /// Closes the registry and returns the streams still in flight; `None`
    /// if it was already closed (shutdown is idempotent).
    pub(crate) fn close(&self) -> Option<Vec<Arc<Shared>>> {
        let mut g = lock(&self.inner);
        if g.closed {
            return None;
        }
        g.closed = true;
        let streams = std::mem::take(&mut g.streams);
        Some(streams.into_values().filter_map(|w| w.upgrade()).collect())
    }
}

/// The tool parser's final lists, published when the stream ends.
#[derive(Clone, Debug, Default)]
pub(crate) struct ToolsFinal {
    /// Calls that ended, with their checked arguments.
    pub(crate) complete: Vec<ParsedToolCall>,
    /// Every call seen, cut-off ones included.
    pub(crate) all: Vec<PartialToolCall>,
}

/// Complete tool calls as the tool parser hands them out, for watchers
/// (eager execution): what was handed out so far is replayed to a new
/// watcher, then it follows live until the stream ends.
#[derive(Default)]
pub(crate) struct ToolWatch {
    dispatched: Vec<ParsedToolCall>,
    senders: Vec<mpsc::UnboundedSender<ParsedToolCall>>,
    ended: bool,
}

impl ToolWatch {
    pub(crate) fn dispatch(&mut self, call: ParsedToolCall) {
        self.senders.retain(|s| s.send(call.clone()).is_ok());
        self.dispatched.push(call);
    }

    /// No call will follow: every watcher's channel closes.
    pub(crate) fn end(&mut self) {
        self.ended = true;
        self.senders.clear();
    }

    pub(crate) fn subscribe(&mut self) -> mpsc::UnboundedReceiver<ParsedToolCall> {
        let (tx, rx) = mpsc::unbounded_channel();
        for call in &self.dispatched {
            let _ = tx.send(call.clone());
        }
        if !self.ended {
            self.senders.push(tx);
        }
        rx
    }
}

/// [`Shared::first_chunk`] before the first content chunk.
const NO_FIRST_CHUNK: u64 = u64::MAX;

/// Everything one stream's actors and handles share.
pub(crate) struct Shared {
    id: u64,
    /// The provider actor's time to the first content chunk, in
    /// nanoseconds, or [`NO_FIRST_CHUNK`]: set once, read by anyone
    /// without a lock.
    first_chunk: AtomicU64,
    pub(crate) log: Log,
    pub(crate) ctl: Control,
    /// The accumulator's final response, published when the stream ends
    /// (so `snapshot()`/`finish()` after the end need no actor).
    /// Boxed: empty for the whole life of the stream, it would otherwise
    /// hold a `Response`'s worth of bytes in every open stream.
    pub(crate) response: OnceLock<Box<Response>>,
    /// The tool parser's final lists.
    pub(crate) tools: OnceLock<ToolsFinal>,
    /// Complete tool calls handed out so far, and who watches them.
    pub(crate) tool_watch: Mutex<ToolWatch>,
    /// The request's messages, for a stream started before its request was
    /// known ([`crate::Runtime::start_deferred`]); the accumulator takes them
    /// as the response's input.
    pub(crate) input: OnceLock<Vec<Message>>,
    /// Set when a fallback model is tried (`None`: the stream's own model).
    /// Boxed and optional: most streams never fall back.
    pub(crate) routing: Mutex<Option<Box<Routing>>>,
    /// Signalled when the outcome is set or a final value is published.
    changed: Notify,
    pub(crate) counters: Arc<Counters>,
    registry: Arc<Registry>,
    life: Mutex<Weak<StreamLife>>,
    pub(crate) run_to_completion: bool,
}

impl Shared {
    pub(crate) fn new(
        id: u64,
        window: Option<usize>,
        run_to_completion: bool,
        counters: Arc<Counters>,
        registry: Arc<Registry>,
    ) -> Self {
        Shared {
            id,
            first_chunk: AtomicU64::new(NO_FIRST_CHUNK),
            log: Log::new(window),
            ctl: Control::default(),
            response: OnceLock::new(),
            tools: OnceLock::new(),
            tool_watch: Mutex::new(ToolWatch::default()),
            input: OnceLock::new(),
            routing: Mutex::new(None),
            changed: Notify::new(),
            counters,
            registry,
            life: Mutex::new(Weak::new()),
            run_to_completion,
        }
    }

    /// Ends the stream with `outcome` (the first call wins) and wakes every
    /// subscription. Returns whether this call ended it.
    pub(crate) fn finish(&self, outcome: Outcome) -> bool {
        if !self.log.finish(outcome) {
            return false;
        }
        self.log.notify();
        self.changed.notify_waiters();
        self.registry.remove(self.id);
        true
    }

    /// The stream's liveness token for a new actor: the live one, or a new
    /// one if every actor of the stream has already stopped (a subscription
    /// joining after the end).
    pub(crate) fn life(&self) -> Arc<StreamLife> {
        let mut g = lock(&self.life);
        if let Some(life) = g.upgrade() {
            return life;
        }
        let life = StreamLife::new(&self.counters);
        *g = Arc::downgrade(&life);
        life
    }

    pub(crate) fn publish_response(&self, response: Box<Response>) {
        let _ = self.response.set(response);
        self.changed.notify_waiters();
    }

    pub(crate) fn publish_tools(&self, tools: ToolsFinal) {
        let _ = self.tools.set(tools);
        self.changed.notify_waiters();
    }

    /// Waits until `ready` returns a value; it is re-evaluated after every
    /// change of the outcome or of the published values.
    pub(crate) async fn wait_for<T>(&self, mut ready: impl FnMut(&Self) -> Option<T>) -> T {
        loop {
            let notified = self.changed.notified();
            let mut notified = std::pin::pin!(notified);
            notified.as_mut().enable();
            if let Some(v) = ready(self) {
                return v;
            }
            notified.await;
        }
    }

    /// Records the time to the first content chunk (only the first call
    /// counts).
    pub(crate) fn set_time_to_first_chunk(&self, d: Duration) {
        // Below the "none" value whatever the delay: 584 years of nanoseconds.
        let ns = u64::try_from(d.as_nanos())
            .unwrap_or(NO_FIRST_CHUNK - 1)
            .min(NO_FIRST_CHUNK - 1);
        let _ = self.first_chunk.compare_exchange(
            NO_FIRST_CHUNK,
            ns,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// The provider actor's time to the first content chunk (from when
    /// the request was ready), once that has arrived.
    pub(crate) fn time_to_first_chunk(&self) -> Option<Duration> {
        match self.first_chunk.load(Ordering::Relaxed) {
            NO_FIRST_CHUNK => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }

    /// Waits for the end: the outcome, once the final response is
    /// published too (so a `snapshot` or `finish` after it is the final
    /// one), without copying the response.
    pub(crate) async fn wait_outcome(&self) -> Outcome {
        self.wait_for(|s| {
            s.response.get()?;
            s.log.outcome()
        })
        .await
    }

    /// Waits for the end and the final response.
    pub(crate) async fn wait_end(&self) -> Result<Response, Error> {
        match self.wait_outcome().await {
            // Published before `wait_outcome` returns.
            Outcome::Finished => Ok(self
                .response
                .get()
                .map(|r| (**r).clone())
                .unwrap_or_default()),
            Outcome::Failed(e) => Err(Arc::unwrap_or_clone(e)),
        }
    }
}

/// The stream's cancel-on-last-drop guard. Every handle clone, every
/// subscription and every tool-call watch holds one `Arc` of it; when the
/// last of them goes, the stream is cancelled (the provider's connection
/// closes), unless it runs to completion. It also keeps alive what the
/// stream runs on (the runtime's threads and the stream's own actors),
/// held opaquely so that this module imports neither.
pub(crate) struct CancelOnDrop {
    pub(crate) shared: Arc<Shared>,
    _keep: Box<dyn std::any::Any + Send + Sync>,
}

impl CancelOnDrop {
    /// The guard of `shared`'s stream, keeping `keep` alive with it.
    pub(crate) fn new(shared: Arc<Shared>, keep: impl std::any::Any + Send + Sync) -> Arc<Self> {
        Arc::new(CancelOnDrop {
            shared,
            _keep: Box::new(keep),
        })
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if !self.shared.run_to_completion {
            self.shared.ctl.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_gives_back_the_room_a_burst_took() {
        let registry = Registry::default();
        let streams = 2_000;
        lock(&registry.inner)
            .streams
            .extend((0..streams).map(|id| (id, Weak::new())));
        let burst = lock(&registry.inner).streams.capacity();
        assert!(burst >= 2_000, "{burst}");
        for id in 0..streams {
            registry.remove(id);
        }
        let quiet = lock(&registry.inner).streams.capacity();
        assert!(
            quiet <= 2 * MIN_REGISTRY_CAPACITY,
            "{quiet} of {burst} kept"
        );
    }
}
