//! Wake-ups deferred until the arbiter is about to go idle.
//!
//! When a provider actor has appended what one read gave it, it wakes its
//! log's readers, and each subscriber actor's delivery wakes its consumer,
//! which runs on another thread (the caller's tokio runtime, or a blocking
//! thread). When many streams share an arbiter their chunks arrive one at a
//! time, so waking at once would wake a consumer thread per chunk: a futex
//! wake, a few microseconds of work, the thread parks again, and tokio's
//! workers wake each other to look for more. Both wake-ups wait instead
//! until the arbiter has nothing left to do:
//!
//! - [`defer_notify`]: the provider's end-of-read wake-up of its log's
//!   readers, so a subscriber actor is polled once per pass;
//! - [`defer_wake`]: a subscription's wake-up of its consumer (see
//!   `ConsumerWake` in `subscriber.rs`), so the deliveries of one pass wake
//!   the consumer's runtime once.
//!
//! The first content chunk of a stream is never deferred: the time to the
//! first token is the latency users feel.
//!
//! The arbiters' tokio runtimes call [`flush`] from `on_thread_park`; tokio
//! then runs the woken tasks instead of parking. A busy arbiter may not
//! park for a while, so each queue is also flushed when it holds
//! [`MAX_DEFERRED`] entries, which bounds how long a delivery can wait; and
//! whatever is queued when the thread ends is woken then. On a thread
//! without the hook, the `defer_*` functions decline and the caller wakes
//! at once.

use std::cell::RefCell;
use std::sync::Arc;
use std::task::Waker;

use crate::stream::Shared;

/// Wake-ups of each kind that may wait for one pass of the arbiter. Past
/// this many, waiting would add latency for little gain: one wake-up of a
/// consumer's runtime already serves this many deliveries.
pub(crate) const MAX_DEFERRED: usize = 64;

/// What waits for the end of the pass.
#[derive(Default)]
struct Deferred {
    /// Streams whose log readers (subscriber actors) are to be woken.
    logs: Vec<Arc<Shared>>,
    /// Consumers (on other threads) that a subscriber actor delivered to.
    consumers: Vec<Waker>,
}

impl Drop for Deferred {
    /// The arbiter's thread is ending (shutdown): nothing may be left
    /// waiting, least of all a consumer on another thread.
    fn drop(&mut self) {
        for shared in self.logs.drain(..) {
            shared.log.notify();
        }
        for waker in self.consumers.drain(..) {
            waker.wake();
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

/// Queues a wake-up of `shared`'s log readers for when this thread's
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

/// Queues the wake-up of a consumer (a task or thread outside this
/// arbiter) for when this thread's runtime runs out of work, so the
/// deliveries of one pass wake the consumer's runtime once. Gives the
/// waker back where no runtime flushes: the caller must wake it now.
pub(crate) fn defer_wake(waker: Waker) -> Result<(), Waker> {
    // The waker moves into the queue only where there is one; otherwise
    // it stays here and goes back to the caller.
    let mut waker = Some(waker);
    let full = DEFERRED
        .try_with(|d| {
            let mut d = d.borrow_mut();
            let queue = d.as_mut()?;
            queue.consumers.extend(waker.take());
            Some(queue.consumers.len() >= MAX_DEFERRED)
        })
        .ok()
        .flatten();
    match waker {
        Some(waker) => Err(waker),
        None => {
            if full == Some(true) {
                flush();
            }
            Ok(())
        }
    }
}

/// Wakes the readers of every stream, and every consumer, queued on this
/// thread.
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
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll};

    use rivulet_core::Chunk;

    use super::*;

    fn shared() -> Arc<Shared> {
        Arc::new(Shared::new(
            0,
            None,
            false,
            actix_rt::Arbiter::current(),
            Arc::default(),
            Arc::default(),
        ))
    }

    fn poll(f: std::pin::Pin<&mut impl Future<Output = ()>>) -> Poll<()> {
        f.poll(&mut Context::from_waker(futures::task::noop_waker_ref()))
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

    struct Count(std::sync::atomic::AtomicUsize);
    impl std::task::Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[test]
    fn consumers_are_woken_by_a_flush_a_full_queue_or_the_thread_ending() {
        let count = Arc::new(Count(Default::default()));
        let woken = || count.0.load(std::sync::atomic::Ordering::SeqCst);
        let waker = Waker::from(count.clone());
        // Without the hook: handed back, to be woken now.
        assert!(defer_wake(waker.clone()).is_err());
        let c = count.clone();
        std::thread::spawn(move || {
            let woken = || c.0.load(std::sync::atomic::Ordering::SeqCst);
            let waker = Waker::from(c.clone());
            install();
            assert!(defer_wake(waker.clone()).is_ok());
            assert_eq!(woken(), 0, "woken before the flush");
            flush();
            assert_eq!(woken(), 1);
            for _ in 1..MAX_DEFERRED {
                assert!(defer_wake(waker.clone()).is_ok());
            }
            assert_eq!(woken(), 1);
            assert!(defer_wake(waker.clone()).is_ok());
            assert_eq!(woken(), 1 + MAX_DEFERRED, "a full queue is flushed");
            // Left queued when the thread ends.
            assert!(defer_wake(waker).is_ok());
        })
        .join()
        .unwrap();
        assert_eq!(woken(), 2 + MAX_DEFERRED, "the ending thread woke it");
    }

    #[test]
    fn readers_wait_for_a_flush_or_a_full_queue() {
        std::thread::spawn(|| {
            actix_rt::System::new().block_on(async {
                install();
                let s = shared();
                // A reader that has caught up waits for the log to grow.
                let mut reader = pin!(s.log.readable(0));
                assert_eq!(poll(reader.as_mut()), Poll::Pending);
                s.log.append(Chunk::text(0, "a"));
                assert!(defer_notify(&s));
                assert_eq!(poll(reader.as_mut()), Poll::Pending, "woken early");
                flush();
                assert_eq!(poll(reader.as_mut()), Poll::Ready(()));

                let mut reader = pin!(s.log.readable(1));
                assert_eq!(poll(reader.as_mut()), Poll::Pending);
                s.log.append(Chunk::text(0, "b"));
                for _ in 1..MAX_DEFERRED {
                    assert!(defer_notify(&s));
                }
                assert_eq!(poll(reader.as_mut()), Poll::Pending);
                // The queue is full: it is flushed without waiting for idle.
                assert!(defer_notify(&s));
                assert_eq!(poll(reader.as_mut()), Poll::Ready(()));
            })
        })
        .join()
        .unwrap();
    }
}
