//! [`StreamHandle`]: the caller's side of one stream.

use std::fmt;
use std::sync::Arc;

use actix::Addr;
use rivulet_core::{Error, Response};

use crate::accumulator::Accumulator;
use crate::messages::{Snapshot, ToolCalls};
use crate::runtime::Runtime;
use crate::stream::Shared;
use crate::subscriber::{BlockingSubscription, Subscription};
use crate::tool_parser::ToolParser;
use crate::{Outcome, ParsedToolCall, Policy};

/// What every handle clone and every subscription of one stream hold.
/// When the last of them goes, the stream is cancelled (unless it runs to
/// completion).
pub(crate) struct HandleInner {
    /// Keeps the runtime (and its threads) alive while the stream is used.
    _runtime: Runtime,
    pub(crate) shared: Arc<Shared>,
    acc: Addr<Accumulator>,
    tools: Addr<ToolParser>,
}

impl Drop for HandleInner {
    fn drop(&mut self) {
        if !self.shared.run_to_completion {
            self.shared.ctl.cancel();
        }
    }
}

/// A handle to one stream. A cheap clone; when the last handle (and every
/// subscription) is dropped, the stream is cancelled unless
/// `run_to_completion` was set.
#[derive(Clone)]
pub struct StreamHandle {
    inner: Arc<HandleInner>,
}

impl StreamHandle {
    pub(crate) fn new(
        runtime: Runtime,
        shared: Arc<Shared>,
        acc: Addr<Accumulator>,
        tools: Addr<ToolParser>,
    ) -> Self {
        StreamHandle {
            inner: Arc::new(HandleInner {
                _runtime: runtime,
                shared,
                acc,
                tools,
            }),
        }
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }

    /// A new subscriber for async code: replays the log from the start, then
    /// follows live.
    ///
    /// A lossless subscription holds the stream back while its consumer is
    /// `capacity` chunks behind, so it must be read (or dropped). With a
    /// window, a subscriber that starts or falls behind the window first
    /// receives [`Event::Missed`](crate::Event::Missed).
    pub fn subscribe(&self, policy: Policy) -> Subscription {
        Subscription::start(&self.inner, policy)
    }

    /// A new subscriber for blocking code, over a crossbeam channel.
    pub fn subscribe_blocking(&self, policy: Policy) -> BlockingSubscription {
        BlockingSubscription::start(&self.inner, policy)
    }

    /// Cancels the stream: the HTTP body is dropped at once, so the
    /// connection closes. Usage and content received so far stay.
    /// A no-op once the stream has ended.
    pub fn cancel(&self) {
        self.shared().ctl.cancel();
    }

    /// The response as accumulated so far (the whole log folded).
    pub async fn snapshot(&self) -> Response {
        let shared = self.shared();
        if let Some(r) = shared.response.get() {
            return r.clone();
        }
        match self.inner.acc.send(Snapshot).await {
            Ok(r) => r,
            // The accumulator has stopped; it publishes before it goes (or
            // when it is dropped), so the final response is there or coming.
            Err(_) => shared.wait_for(|s| s.response.get().cloned()).await,
        }
    }

    /// [`StreamHandle::snapshot`] for synchronous code. Do not call it from
    /// an async task (it blocks the thread).
    pub fn snapshot_blocking(&self) -> Response {
        futures::executor::block_on(self.snapshot())
    }

    /// Waits for the end. `Ok` with the final response, or the error; the
    /// partial response stays available from `snapshot()`.
    pub async fn finish(&self) -> Result<Response, Error> {
        self.shared().wait_end().await
    }

    /// [`StreamHandle::finish`] for synchronous code. Do not call it from an
    /// async task (it blocks the thread).
    pub fn finish_blocking(&self) -> Result<Response, Error> {
        futures::executor::block_on(self.finish())
    }

    /// The outcome, once the stream has ended.
    pub fn outcome(&self) -> Option<Outcome> {
        self.shared().log.outcome()
    }

    /// Complete tool calls with their arguments parsed, as the tool-parser
    /// actor has them now.
    pub async fn tool_calls(&self) -> Vec<ParsedToolCall> {
        let shared = self.shared();
        if let Some(t) = shared.tools.get() {
            return t.clone();
        }
        match self.inner.tools.send(ToolCalls).await {
            Ok(t) => t,
            Err(_) => shared.wait_for(|s| s.tools.get().cloned()).await,
        }
    }

    /// [`StreamHandle::tool_calls`] for synchronous code.
    pub fn tool_calls_blocking(&self) -> Vec<ParsedToolCall> {
        futures::executor::block_on(self.tool_calls())
    }

    /// Number of chunks appended so far.
    pub fn len(&self) -> usize {
        self.shared().log.len() as usize
    }

    /// Whether no chunk has been appended yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for StreamHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamHandle")
            .field("len", &self.len())
            .field("outcome", &self.outcome())
            .finish()
    }
}
