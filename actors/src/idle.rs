//! Log notifications deferred until the arbiter is about to go idle.
//!
//! When a provider actor has appended what one read gave it, it wakes its
//! log's readers, and each subscriber actor's delivery wakes its consumer,
//! which usually runs on another thread (the caller's tokio runtime, or a
//! blocking thread). When many streams share an arbiter their chunks arrive
//! one at a time, so waking at once would wake a consumer thread per chunk:
//! a futex wake, a few microseconds of work, and the thread parks again.
//! Deferring the wake-up until the arbiter has nothing left to do hands all
//! the deliveries of that pass over together, and the consumer thread wakes
//! once for them. It also polls each subscriber actor once per pass rather
//! than once per read.
//!
//! The arbiters' tokio runtimes call [`flush`] from `on_thread_park`; tokio
//! then runs the woken tasks instead of parking. A busy arbiter may not
//! park for a while, so the queue is also flushed when it holds
//! [`MAX_DEFERRED`] streams, which bounds how long a delivery can wait. On a
//! thread without the hook, [`defer_notify`] declines and the caller wakes
//! the readers itself.

use std::cell::RefCell;
use std::sync::Arc;

use crate::stream::Shared;

/// Streams whose readers may wait for one pass of the arbiter. Past this
/// many, waiting would add latency for little gain: one consumer wake-up
/// already serves this many deliveries.
pub(crate) const MAX_DEFERRED: usize = 64;

thread_local! {
    /// `None` on threads whose runtime does not flush on park.
    static DEFERRED: RefCell<Option<Vec<Arc<Shared>>>> = const { RefCell::new(None) };
}

/// Marks this thread as one whose runtime calls [`flush`] before parking.
/// Called on an arbiter's thread as its runtime is built.
pub(crate) fn install() {
    DEFERRED.with(|d| *d.borrow_mut() = Some(Vec::new()));
}

/// Queues a wake-up of `shared`'s log readers for when this thread's
/// runtime runs out of work. Returns false, queuing nothing, where no
/// runtime flushes: the caller must wake them now.
pub(crate) fn defer_notify(shared: &Arc<Shared>) -> bool {
    let full = DEFERRED.with(|d| match d.borrow_mut().as_mut() {
        None => None,
        Some(list) => {
            list.push(shared.clone());
            Some(list.len() >= MAX_DEFERRED)
        }
    });
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

/// Wakes the readers of every stream queued on this thread.
pub(crate) fn flush() {
    let queued = DEFERRED.with(|d| d.borrow_mut().as_mut().map(std::mem::take));
    // Notified outside the borrow: a woken task may defer again.
    for shared in queued.into_iter().flatten() {
        shared.log.notify();
    }
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
