//! Wake-ups deferred until the arbiter is about to go idle.
//!
//! When a provider actor has appended what one read gave it, it wakes the
//! subscriptions waiting on its log, whose consumers run on other threads
//! (the caller's tokio runtime, or blocking threads). When many streams
//! share an arbiter their chunks arrive one at a time, so waking at once
//! would wake a consumer thread per chunk: a futex wake, a few microseconds
//! of work, the thread parks again, and tokio's workers wake each other to
//! look for more. The wake-up waits instead until the arbiter has nothing
//! left to do ([`defer_notify`]), so the chunks of one pass over many
//! streams wake each consumer runtime once.
//!
//! The first content chunk of a stream is never deferred: the time to the
//! first token is the latency users feel.
//!
//! The arbiters' tokio runtimes call [`flush`] from `on_thread_park`; tokio
//! then runs the woken tasks instead of parking. A busy arbiter may not
//! park for a while, so the queue is also flushed when it holds
//! [`MAX_DEFERRED`] streams, which bounds how long a delivery can wait; and
//! whatever is queued when the thread ends is woken then. On a thread
//! without the hook, [`defer_notify`] declines and the caller wakes at
//! once.

use std::cell::RefCell;
use std::sync::Arc;

use crate::shared::Shared;

/// Streams whose wake-up may wait for one pass of the arbiter. Past this
/// many, waiting would add latency for little gain: one wake-up of a
/// consumer's runtime already serves this many deliveries.
pub(crate) const MAX_DEFERRED: usize = 64;

/// What waits for the end of the pass.
#[derive(Default)]
struct Deferred {
    /// Streams whose waiting subscriptions are to be woken.
    logs: Vec<Arc<Shared>>,
}

impl Drop for Deferred {
    /// The arbiter's thread is ending (shutdown): nothing may be left
    /// waiting, least of all a consumer on another thread.
    fn drop(&mut self) {
        for shared in self.logs.drain(..) {
            shared.log.notify();
        }
    }
}

thread_local! {
    /// `None` on threads whose runtime does not flush on park.
    static DEFERRED: RefCell<Option<Deferred>> = const { RefCell::new(None) };
}

/// Marks this thread as one whose runtime calls [`flush`] before parking.
/// Called on an arbiter's thread as its runtime is built.
pub(crate) fn install() {
    DEFERRED.with(|d| *d.borrow_mut() = Some(Deferred::default()));
}

/// Queues a wake-up of the subscriptions waiting on `shared`'s log for when this thread's
/// runtime runs out of work. Returns false, queuing nothing, where no
/// runtime flushes: the caller must wake them now.
pub(crate) fn defer_notify(shared: &Arc<Shared>) -> bool {
    // `try_with`: while the thread ends, its queue is gone; wake now.
    let full = DEFERRED
        .try_with(|d| match d.borrow_mut().as_mut() {
            None => None,
            Some(d) => {
                d.logs.push(shared.clone());
                Some(d.logs.len() >= MAX_DEFERRED)
            }
        })
        .ok()
        .flatten();
    match full {
        None => false,
        Some(full) => {
            if full {
                flush();
            }
            true
        }
    }
}

/// Whether this thread is an arbiter's (its runtime flushes on park).
pub(crate) fn on_arbiter() -> bool {
    DEFERRED.try_with(|d| d.borrow().is_some()).unwrap_or(false)
}

/// Wakes the subscriptions of every stream queued on this thread.
pub(crate) fn flush() {
    let queued = DEFERRED
        .try_with(|d| d.borrow_mut().as_mut().map(std::mem::take))
        .ok()
        .flatten();
    // Dropping the queue wakes everything in it (see `Drop`), outside the
    // borrow: a woken task may defer again.
    drop(queued);
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use rivulet_core::Chunk;

    use super::*;
    use crate::log::Waiting;
    use crate::wake_count::WakeCount;

    fn shared() -> Arc<Shared> {
        Arc::new(Shared::new(0, None, false, Arc::default(), Arc::default()))
    }

    #[test]
    fn without_the_hook_the_caller_notifies() {
        std::thread::spawn(|| {
            actix_rt::System::new().block_on(async {
                assert!(!defer_notify(&shared()));
            })
        })
        .join()
        .unwrap();
    }

    #[test]
    fn subscriptions_wait_for_a_flush_a_full_queue_or_the_thread_ending() {
        let count = std::thread::spawn(|| {
            actix_rt::System::new().block_on(async {
                install();
                let s = shared();
                let count = Arc::new(WakeCount::default());
                let woken = || count.get();
                let waker = std::task::Waker::from(count.clone());
                let mut waiting = Waiting::default();
                let mut out = VecDeque::new();
                // A subscription that has caught up waits for the log to grow.
                s.log.read(&mut 0, 8, &mut out, &waker, &mut waiting);
                assert!(out.is_empty());
                s.log.append(Chunk::text(0, "a"));
                assert!(defer_notify(&s));
                assert_eq!(woken(), 0, "woken early");
                flush();
                assert_eq!(woken(), 1);

                s.log.read(&mut 1, 8, &mut out, &waker, &mut waiting);
                s.log.append(Chunk::text(0, "b"));
                for _ in 1..MAX_DEFERRED {
                    assert!(defer_notify(&s));
                }
                assert_eq!(woken(), 1);
                // The queue is full: it is flushed without waiting for idle.
                assert!(defer_notify(&s));
                assert_eq!(woken(), 2);

                // Left queued when the thread ends.
                s.log.read(&mut 2, 8, &mut out, &waker, &mut waiting);
                s.log.append(Chunk::text(0, "c"));
                assert!(defer_notify(&s));
                assert_eq!(woken(), 2);
                count
            })
        })
        .join()
        .unwrap();
        let woken = count.get();
        assert_eq!(woken, 3, "the ending thread woke it");
    }
}
