//! [`BlockingHandle`]: a [`StreamHandle`] for synchronous code.
//!
//! The handle's methods are written once, for async code; this view gives
//! synchronous code the same ones, a blocking subscription and calls that
//! block the thread, as reqwest keeps its blocking API apart.

use rivulet_core::{Error, Response};

use crate::event::Outcome;
use crate::handle::StreamHandle;
use crate::options::Policy;
use crate::subscription::BlockingSubscription;
use crate::tool_calls::{ParsedToolCall, PartialToolCall};

/// A [`StreamHandle`] for synchronous code, from [`StreamHandle::blocking`].
/// Each method has the replay, policy and drop rules of the handle's method
/// of the same name. The waits block the thread: do not call them from an
/// async task.
#[derive(Clone, Copy, Debug)]
pub struct BlockingHandle<'a> {
    handle: &'a StreamHandle,
}

// Here rather than in `handle.rs`, so that the view depends on the
// handle and not the other way round.
impl StreamHandle {
    /// This handle for synchronous code: the same methods, as a blocking
    /// subscription and as calls that block the thread (do not call them
    /// from an async task).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use futures::stream;
    /// # use rivulet_actors::{Policy, Runtime, RuntimeConfig, StreamOptions};
    /// # use rivulet_core::{Chunk, ChunkStream, OpenFuture, Provider, Request};
    /// # struct Hello;
    /// # impl Provider for Hello {
    /// #     fn id(&self) -> &str { "hello" }
    /// #     fn open(&self, _: &Request) -> OpenFuture {
    /// #         let chunks: ChunkStream = Box::pin(stream::iter(
    /// #             [Chunk::text_start(0), Chunk::text(0, "Hello"), Chunk::text_end(0)].map(Ok),
    /// #         ));
    /// #         Box::pin(async move { Ok(chunks) })
    /// #     }
    /// # }
    /// # let rt = Runtime::new(RuntimeConfig::default());
    /// let stream = rt.start(Arc::new(Hello), Request::default(), StreamOptions::default());
    /// let events = stream.blocking().subscribe(Policy::default()).count();
    /// assert_eq!(events, 4); // three chunks and the end
    /// assert_eq!(stream.blocking().finish()?.text(), "Hello");
    /// # rt.shutdown();
    /// # Ok::<(), rivulet_core::Error>(())
    /// ```
    pub fn blocking(&self) -> BlockingHandle<'_> {
        BlockingHandle::new(self)
    }
}

impl<'a> BlockingHandle<'a> {
    fn new(handle: &'a StreamHandle) -> Self {
        BlockingHandle { handle }
    }

    /// [`StreamHandle::subscribe`] as an `Iterator`: `next` parks the thread
    /// until the stream has something for it.
    pub fn subscribe(&self, policy: Policy) -> BlockingSubscription {
        BlockingSubscription::start(self.handle.guard(), policy, 0)
    }

    /// [`StreamHandle::subscribe_from`] as an `Iterator`.
    pub fn subscribe_from(&self, offset: u64, policy: Policy) -> BlockingSubscription {
        BlockingSubscription::start(self.handle.guard(), policy, offset.saturating_add(1))
    }

    /// [`StreamHandle::snapshot`], blocking the thread.
    pub fn snapshot(&self) -> Response {
        futures::executor::block_on(self.handle.snapshot())
    }

    /// [`StreamHandle::finish`], blocking the thread.
    pub fn finish(&self) -> Result<Response, Error> {
        futures::executor::block_on(self.handle.finish())
    }

    /// [`StreamHandle::ended`], blocking the thread.
    pub fn ended(&self) -> Outcome {
        futures::executor::block_on(self.handle.ended())
    }

    /// [`StreamHandle::tool_calls`], blocking the thread.
    pub fn tool_calls(&self) -> Vec<ParsedToolCall> {
        futures::executor::block_on(self.handle.tool_calls())
    }

    /// [`StreamHandle::partial_tool_calls`], blocking the thread.
    pub fn partial_tool_calls(&self) -> Vec<PartialToolCall> {
        futures::executor::block_on(self.handle.partial_tool_calls())
    }
}
