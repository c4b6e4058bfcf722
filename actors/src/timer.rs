//! The provider actor's one timer and the race of a future against cancel
//! and the deadlines.
//!
//! The per-stream timeouts (connect, first chunk, idle, total) share a
//! single lazily re-armed tokio `Sleep`: a content chunk only records its
//! arrival time, and the timer is moved only when it fires early (the real
//! deadline has since moved later) or when a deadline moves earlier. That
//! keeps timer-wheel operations off the per-chunk path.

use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::future::poll_fn;
use rivulet_core::TimeoutKind;
use tokio::time::{sleep_until, Instant, Sleep};

use crate::shared::Control;

/// When a timeout fires, and which one.
pub(crate) type Deadline = (Instant, TimeoutKind);

/// The earlier of two optional deadlines (`a` on ties).
pub(crate) fn earliest(a: Option<Deadline>, b: Option<Deadline>) -> Option<Deadline> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y.0 < x.0 { y } else { x }),
        (x, None) => x,
        (None, y) => y,
    }
}

/// One lazily armed sleep. See the module docs.
#[derive(Default)]
pub(crate) struct Timer {
    sleep: Option<Pin<Box<Sleep>>>,
    armed: Option<Instant>,
}

impl Timer {
    /// Polls for `target`; `Ready` with its kind once it has passed.
    pub(crate) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        target: Option<Deadline>,
    ) -> Poll<TimeoutKind> {
        let Some((at, kind)) = target else {
            return Poll::Pending;
        };
        loop {
            let sleep = match &mut self.sleep {
                None => {
                    // Allocated on first use only: streams without timeouts
                    // never touch the timer wheel.
                    self.armed = Some(at);
                    self.sleep.insert(Box::pin(sleep_until(at)))
                }
                Some(s) => {
                    // Move the timer only when the deadline came closer; a
                    // later deadline is handled when the timer fires early.
                    if !matches!(self.armed, Some(a) if a <= at) {
                        s.as_mut().reset(at);
                        self.armed = Some(at);
                    }
                    s
                }
            };
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            if self.armed == Some(at) || Instant::now() >= at {
                return Poll::Ready(kind);
            }
            // Fired for a deadline that has since moved later: re-arm.
            sleep.as_mut().reset(at);
            self.armed = Some(at);
        }
    }
}

/// How a race ended.
pub(crate) enum Raced<T> {
    /// The future resolved.
    Done(T),
    /// The stream was cancelled.
    Cancelled,
    /// A deadline passed.
    Timeout(TimeoutKind),
    /// Polling the future panicked: a provider bug, which must not take the
    /// arbiter (and every other stream on it) down.
    Panicked,
}

/// Polls `fut` until it resolves, the stream is cancelled or `target`
/// passes. `on_pending` runs each time `fut` is about to wait (the provider
/// uses it to wake its subscriptions once per burst).
pub(crate) async fn race<F: Future + ?Sized>(
    mut fut: Pin<&mut F>,
    ctl: &Control,
    timer: &mut Timer,
    target: Option<Deadline>,
    mut on_pending: impl FnMut(),
) -> Raced<F::Output> {
    poll_fn(move |cx| {
        if ctl.is_cancelled() {
            return Poll::Ready(Raced::Cancelled);
        }
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(v)) => return Poll::Ready(Raced::Done(v)),
            Ok(Poll::Pending) => {}
            Err(_) => return Poll::Ready(Raced::Panicked),
        }
        // About to wait: a cancel must wake us too. Registered only now: a
        // future that is ready (the chunks of one read, one after another)
        // waits for nothing, and registering was an atomic exchange per
        // chunk. Checked again after, for a cancel that came in between.
        ctl.register(cx.waker());
        if ctl.is_cancelled() {
            return Poll::Ready(Raced::Cancelled);
        }
        on_pending();
        timer.poll(cx, target).map(Raced::Timeout)
    })
    .await
}
