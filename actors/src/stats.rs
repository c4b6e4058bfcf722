//! Counters of what is alive, so a long-running process can check that
//! finished streams leave nothing behind.
//!
//! The counters belong to one [`Runtime`](crate::Runtime) rather than to the
//! process: two runtimes (or two tests in one binary) must not see each
//! other's actors. Increments and decrements are plain atomics; only the
//! transition of a counter to zero takes a lock, to wake
//! [`Counters::wait_idle`] without polling.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::options::RuntimeStats;

/// Locks a mutex, ignoring poisoning: every critical section in this crate
/// leaves its data consistent even if a panic unwinds through it, and a
/// poisoned log must not turn one panicking consumer into a stuck stream.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The live counters of one runtime.
#[derive(Default)]
pub(crate) struct Counters {
    streams: AtomicUsize,
    actors: AtomicUsize,
    tasks: AtomicUsize,
    idle_lock: Mutex<()>,
    idle: Condvar,
    /// The most streams alive at once since [`Counters::take_peak`].
    peak: AtomicUsize,
    /// Notified (one permit) each time the live streams drop to zero.
    streams_idle: Notify,
}

impl Counters {
    /// What is alive now.
    pub(crate) fn snapshot(&self) -> RuntimeStats {
        RuntimeStats {
            live_streams: self.streams.load(Ordering::SeqCst),
            live_actors: self.actors.load(Ordering::SeqCst),
            live_tasks: self.tasks.load(Ordering::SeqCst),
        }
    }

    fn is_idle(&self) -> bool {
        self.snapshot() == RuntimeStats::default()
    }

    /// Decrements `counter`; returns whether it dropped to zero.
    fn dec(&self, counter: &AtomicUsize) -> bool {
        if counter.fetch_sub(1, Ordering::SeqCst) == 1 {
            // Taking the lock before notifying closes the window between a
            // waiter's check and its wait: the waiter holds the lock there.
            let _g = lock(&self.idle_lock);
            self.idle.notify_all();
            return true;
        }
        false
    }

    /// Waits until the live streams have dropped to zero since the last
    /// call returned (one waiter: the runtime's memory trimmer).
    pub(crate) async fn went_idle(&self) {
        self.streams_idle.notified().await;
    }

    /// The most streams alive at once since the last call; starts over
    /// from those alive now.
    pub(crate) fn take_peak(&self) -> usize {
        let now = self.streams.load(Ordering::SeqCst);
        self.peak.swap(now, Ordering::SeqCst)
    }

    /// Called from every actor's `started`.
    pub(crate) fn actor_started(&self) {
        self.actors.fetch_add(1, Ordering::SeqCst);
    }

    /// Called from every actor's `stopped`.
    pub(crate) fn actor_stopped(&self) {
        self.dec(&self.actors);
    }

    /// Blocks until no stream, actor or task is alive, or `timeout` passes.
    /// Returns whether the runtime became idle.
    pub(crate) fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut guard = lock(&self.idle_lock);
        loop {
            if self.is_idle() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            guard = self
                .idle
                .wait_timeout(guard, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}

/// Counts one spawned future for as long as it exists (RAII: the count drops
/// whether the future completes or is dropped half-way by a cancel or a
/// shutdown).
pub(crate) struct TaskGuard(Arc<Counters>);

impl TaskGuard {
    pub(crate) fn new(counters: &Arc<Counters>) -> Self {
        counters.tasks.fetch_add(1, Ordering::SeqCst);
        TaskGuard(counters.clone())
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.dec(&self.0.tasks);
    }
}

/// One live stream: every actor of the stream holds an `Arc` of it, so the
/// stream counts as live exactly as long as one of its actors exists.
pub(crate) struct StreamLife(Arc<Counters>);

impl StreamLife {
    pub(crate) fn new(counters: &Arc<Counters>) -> Arc<Self> {
        let live = counters.streams.fetch_add(1, Ordering::SeqCst) + 1;
        counters.peak.fetch_max(live, Ordering::SeqCst);
        Arc::new(StreamLife(counters.clone()))
    }
}

impl Drop for StreamLife {
    fn drop(&mut self) {
        if self.0.dec(&self.0.streams) {
            // A permit: a trimmer that is busy sleeping sees it next time.
            self.0.streams_idle.notify_one();
        }
    }
}

/// What every actor of a stream carries: the runtime's counters and the
/// stream's liveness token. `started`/`stopped` of each actor call into it.
pub(crate) struct Member {
    counters: Arc<Counters>,
    _life: Arc<StreamLife>,
}

impl Member {
    pub(crate) fn new(counters: Arc<Counters>, life: Arc<StreamLife>) -> Self {
        Member {
            counters,
            _life: life,
        }
    }

    pub(crate) fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    pub(crate) fn started(&self) {
        self.counters.actor_started();
    }

    pub(crate) fn stopped(&self) {
        self.counters.actor_stopped();
    }
}

#[cfg(test)]
mod tests {
    use futures::FutureExt;

    use super::*;

    #[test]
    fn the_peak_and_the_idle_signal_follow_the_live_streams() {
        let counters = Arc::new(Counters::default());
        assert!(counters.went_idle().now_or_never().is_none());
        let burst: Vec<_> = (0..3).map(|_| StreamLife::new(&counters)).collect();
        assert!(counters.went_idle().now_or_never().is_none());
        drop(burst);
        let next = StreamLife::new(&counters);
        // The drop to zero left its signal for a waiter that comes later.
        assert!(counters.went_idle().now_or_never().is_some());
        assert!(counters.went_idle().now_or_never().is_none());
        assert_eq!(counters.take_peak(), 3);
        // It starts over from the streams alive now.
        assert_eq!(counters.take_peak(), 1);
        drop(next);
        assert!(counters.went_idle().now_or_never().is_some());
        assert_eq!(counters.take_peak(), 1);
        assert_eq!(counters.take_peak(), 0);
    }
}
