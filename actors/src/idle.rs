//! Deliveries deferred until the arbiter is about to go idle.
//!
//! A subscriber actor that has caught up is woken when its stream's log
//! grows, and its delivery wakes the consumer, which usually runs on
//! another thread (the caller's tokio runtime, or a blocking thread). When
//! many streams share an arbiter their chunks arrive one at a time, so
//! delivering at once would wake a consumer thread per chunk: a futex wake,
//! a few microseconds of work, and the thread parks again. Waiting instead
//! until the arbiter has nothing left to do hands over all the deliveries
//! of that pass together, and the consumer thread wakes once for them.
//!
//! The arbiters' tokio runtimes call [`flush`] from `on_thread_park`; tokio
//! then runs the woken tasks instead of parking. A busy arbiter may not
//! park for a while, so the queue is also flushed when it holds
//! [`MAX_DEFERRED`] tasks, which bounds how long a delivery can wait. On a
//! thread without the hook, [`idle`] is ready at once.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// Deliveries that may wait for one pass of the arbiter. Past this many,
/// waiting would add latency for little gain: one consumer wake-up already
/// serves this many deliveries.
pub(crate) const MAX_DEFERRED: usize = 64;

thread_local! {
    /// `None` on threads whose runtime does not flush on park.
    static DEFERRED: RefCell<Option<Vec<Waker>>> = const { RefCell::new(None) };
}

/// Marks this thread as one whose runtime calls [`flush`] before parking.
/// Called on an arbiter's thread as its runtime is built.
pub(crate) fn install() {
    DEFERRED.with(|d| *d.borrow_mut() = Some(Vec::new()));
}

/// Wakes every task waiting in [`idle`] on this thread.
pub(crate) fn flush() {
    let wakers = DEFERRED.with(|d| d.borrow_mut().as_mut().map(std::mem::take));
    // Woken outside the borrow: a waker may run code that defers again.
    for w in wakers.into_iter().flatten() {
        w.wake();
    }
}

/// Ready once this thread's runtime has run out of other work (or the
/// queue is full); ready at once where no runtime flushes.
pub(crate) fn idle() -> Idle {
    Idle { queued: false }
}

/// See [`idle`].
#[must_use = "futures do nothing unless polled"]
pub(crate) struct Idle {
    queued: bool,
}

impl Future for Idle {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Once queued, any poll means a flush (or a spurious wake-up, which
        // only delivers a little early).
        if self.queued {
            return Poll::Ready(());
        }
        let full = DEFERRED.with(|d| match d.borrow_mut().as_mut() {
            None => None,
            Some(list) => {
                list.push(cx.waker().clone());
                Some(list.len() >= MAX_DEFERRED)
            }
        });
        match full {
            None => Poll::Ready(()),
            Some(full) => {
                self.queued = true;
                if full {
                    flush();
                }
                Poll::Pending
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll_once(f: &mut Idle, count: &Arc<Count>) -> Poll<()> {
        let waker = Waker::from(count.clone());
        Pin::new(f).poll(&mut Context::from_waker(&waker))
    }

    #[test]
    fn without_the_hook_idle_is_ready_at_once() {
        std::thread::spawn(|| {
            let count = Arc::new(Count(AtomicUsize::new(0)));
            assert_eq!(poll_once(&mut idle(), &count), Poll::Ready(()));
        })
        .join()
        .unwrap();
    }

    #[test]
    fn waits_for_a_flush_or_a_full_queue() {
        std::thread::spawn(|| {
            install();
            let count = Arc::new(Count(AtomicUsize::new(0)));
            let mut first = idle();
            assert_eq!(poll_once(&mut first, &count), Poll::Pending);
            flush();
            assert_eq!(count.0.load(Ordering::SeqCst), 1);
            assert_eq!(poll_once(&mut first, &count), Poll::Ready(()));

            let mut waiting: Vec<Idle> = (0..MAX_DEFERRED).map(|_| idle()).collect();
            for (i, f) in waiting.iter_mut().enumerate() {
                assert_eq!(poll_once(f, &count), Poll::Pending);
                // The last one fills the queue and wakes them all.
                let woken = if i + 1 == MAX_DEFERRED {
                    MAX_DEFERRED
                } else {
                    0
                };
                assert_eq!(count.0.load(Ordering::SeqCst), 1 + woken);
            }
        })
        .join()
        .unwrap();
    }
}
