//! [`StreamHandle`]: the caller's side of one stream.

use std::fmt;
use std::sync::Arc;

use rivulet_core::{Error, Response};

use crate::event::Outcome;
use crate::fallback::Routing;
use crate::followers::Followers;
use crate::messages::{CatchUp, PartialCalls, Snapshot, ToolCalls};
use crate::options::Policy;
use crate::shared::{CancelOnDrop, Shared};
use crate::stats::lock;
use crate::subscription::Subscription;
use crate::tool_calls::{ParsedToolCall, PartialToolCall};

/// A handle to one stream: subscribe to its chunks, read its response,
/// cancel it.
///
/// - **Replay**: the stream's chunks go into one append-only log. Every
///   subscription reads it with a cursor of its own, so one made late first
///   replays what was received so far, then follows live; `snapshot`,
///   `finish` and the tool-call methods fold the whole log. Every chunk has
///   an offset, its position in the log (0, 1, 2, …), and
///   [`subscribe_from`](StreamHandle::subscribe_from) resumes right after one.
/// - **Drop**: cloning is cheap. Every clone and every subscription (and
///   [`ToolCallWatch`]) holds the stream; when the last of them is dropped,
///   the stream is cancelled (the provider's connection closes at once)
///   unless `run_to_completion` was set. Futures returned by its methods
///   borrow the handle and hold nothing more.
#[derive(Clone)]
pub struct StreamHandle {
    /// Held by every clone and subscription: the last one cancels.
    guard: Arc<CancelOnDrop>,
    followers: Arc<Followers>,
}

impl StreamHandle {
    /// The handle of `shared`'s stream, whose followers are `followers`;
    /// `runtime` (the runtime it runs on) is kept alive while the stream is
    /// used.
    pub(crate) fn new(
        runtime: impl std::any::Any + Send + Sync,
        shared: Arc<Shared>,
        followers: Arc<Followers>,
    ) -> Self {
        // The guard keeps the followers too, as long as any subscription
        // lives, whether or not a handle does.
        let keep = (runtime, followers.clone());
        StreamHandle {
            guard: CancelOnDrop::new(shared, keep),
            followers,
        }
    }

    fn shared(&self) -> &Shared {
        &self.guard.shared
    }

    /// What every subscription holds: the last one dropped cancels.
    pub(crate) fn guard(&self) -> &Arc<CancelOnDrop> {
        &self.guard
    }

    /// A new subscription for async code: it replays the log from the start
    /// (offset 0), then follows live, and ends with one
    /// [`Event::End`](crate::event::Event::End).
    ///
    /// `policy` says whether it may hold the stream back:
    /// [`Policy::Detached`] (the default) never does, however long it is
    /// left unread; [`Policy::Lossless`] holds the provider back while its
    /// consumer is `capacity` chunks behind, so it must be read (or
    /// dropped). With a window, a subscription that starts or falls behind
    /// the window first receives [`Event::Missed`](crate::event::Event::Missed).
    /// Dropping it ends this subscription; see [`Subscription`] for how it
    /// holds the stream alive.
    pub fn subscribe(&self, policy: Policy) -> Subscription {
        Subscription::start(&self.guard, policy, 0)
    }

    /// A new subscription that resumes right after the chunk at `offset`
    /// (see [`SharedChunk::offset`](crate::SharedChunk::offset)): its first
    /// chunk is the one at `offset + 1`, so a consumer that saw everything
    /// up to `offset` loses nothing and sees nothing twice. It then follows
    /// live, as [`StreamHandle::subscribe`], with the same policy and drop
    /// rules.
    ///
    /// - An offset beyond the end waits for it: the chunks up to and
    ///   including `offset` are skipped as they arrive. A stream that ends
    ///   before reaching it gives just the terminal event.
    /// - With a window, an offset that has fallen out of it first gives
    ///   [`Event::Missed`](crate::event::Event::Missed) with how many chunks after
    ///   `offset` are gone, then the oldest chunk still kept.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use futures::stream;
    /// # use rivulet_actors::{Event, Policy, Runtime, RuntimeConfig, StreamOptions};
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
    /// // A consumer that saw the chunk at offset 0 resumes with offset 1.
    /// let rest: Vec<u64> = stream
    ///     .blocking()
    ///     .subscribe_from(0, Policy::default())
    ///     .filter_map(|event| event.offset())
    ///     .collect();
    /// assert_eq!(rest, [1, 2]);
    /// # rt.shutdown();
    /// ```
    pub fn subscribe_from(&self, offset: u64, policy: Policy) -> Subscription {
        Subscription::start(&self.guard, policy, offset.saturating_add(1))
    }

    /// Cancels the stream: the HTTP body is dropped at once, so the
    /// connection closes. Usage and content received so far stay, and
    /// every subscription (late ones included) ends with `Error::Cancelled`
    /// after the chunks received before. A no-op once the stream has ended.
    /// Dropping every handle and subscription does the same (unless the
    /// stream runs to completion).
    pub fn cancel(&self) {
        self.shared().ctl.cancel();
    }

    /// The response as accumulated so far: the whole log folded, from the
    /// start, whenever it is called (no subscription, no policy: it never
    /// holds the stream back). Asked while the stream runs, it starts the
    /// stream's accumulator actor if nothing has yet (a stream nobody asks
    /// runs without one, and folds its log once, at the end).
    pub async fn snapshot(&self) -> Response {
        self.followers
            .acc
            .ask(Snapshot, self.shared(), |s| {
                s.response.get().map(|r| (**r).clone())
            })
            .await
    }

    /// Waits for the end. `Ok` with the final response (the whole log,
    /// however late it is called), or the error; the partial response stays
    /// available from `snapshot()`. Waiting never holds the stream back, and
    /// dropping the future does not cancel it.
    pub async fn finish(&self) -> Result<Response, Error> {
        self.shared().wait_end().await
    }

    /// For a stream with fallback models
    /// ([`StreamOptions::fallbacks`](crate::options::StreamOptions::fallbacks)):
    /// which model answers (or is being tried now) and why the ones tried
    /// before it did not. `None` for a stream without fallbacks: its own
    /// model is the only one it tries.
    pub fn routing(&self) -> Option<Routing> {
        lock(&self.shared().routing).as_deref().cloned()
    }

    /// The outcome, once the stream has ended (`None` while it runs).
    pub fn outcome(&self) -> Option<Outcome> {
        self.shared().log.outcome()
    }

    /// Waits for the end and returns the outcome, without copying the
    /// response as [`finish`](Self::finish) does: for a caller that only
    /// needs to know when and how the stream ended (a supervisor, a
    /// metrics task). Once it returns, `snapshot()` and `finish()` give the
    /// final response. Waiting never holds the stream back, and dropping
    /// the future does not cancel it.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use futures::stream;
    /// # use rivulet_actors::{Outcome, Runtime, RuntimeConfig, StreamOptions};
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
    /// let outcome = futures::executor::block_on(stream.ended());
    /// assert!(matches!(outcome, Outcome::Finished));
    /// assert!(stream.time_to_first_chunk().is_some());
    /// # rt.shutdown();
    /// ```
    pub async fn ended(&self) -> Outcome {
        self.shared().wait_outcome().await
    }

    /// How long the first content chunk (text, thought, tool call, …)
    /// took to arrive, as the provider actor decoded it: counted from when
    /// the stream's request was ready (for a next turn, once it was
    /// built), a wait for a rate limit's slot, retries and fallbacks
    /// included; the figure the telemetry span records as
    /// `gen_ai.response.time_to_first_chunk`. `None` before it has arrived,
    /// and for ever for a stream that ended without content.
    pub fn time_to_first_chunk(&self) -> Option<std::time::Duration> {
        self.shared().time_to_first_chunk()
    }

    /// Complete tool calls with their arguments parsed, as the tool-parser
    /// actor has them now: calls that have ended, in content order, valid
    /// (`args: Ok`) or not (`args: Err` with why). A call still streaming, or
    /// cut off before its end, is not listed. Never holds the stream back.
    /// Asked while the stream runs, it starts the tool-parser actor if
    /// nothing has yet, as [`partial_tool_calls`](Self::partial_tool_calls)
    /// and [`watch_tool_calls`](Self::watch_tool_calls) do.
    pub async fn tool_calls(&self) -> Vec<ParsedToolCall> {
        self.followers
            .tools
            .ask(ToolCalls, self.shared(), |s| {
                s.tools.get().map(|t| t.complete.clone())
            })
            .await
    }

    /// Every tool call seen so far, with its arguments parsed as far as
    /// they have streamed and its state: streaming, ended, or invalid (cut
    /// off calls included, with their raw text). Never holds the stream
    /// back.
    pub async fn partial_tool_calls(&self) -> Vec<PartialToolCall> {
        self.followers
            .tools
            .ask(PartialCalls, self.shared(), |s| {
                s.tools.get().map(|t| t.all.clone())
            })
            .await
    }

    /// Each complete tool call as soon as it has ended, while the model may
    /// still be streaming (what eager tool execution runs on). It replays
    /// the calls that ended before, then follows live, and ends with the
    /// stream. Calls come in the order they end; invalid ones come too
    /// (`args: Err`), so a consumer sees every call the model completed.
    ///
    /// It never holds the stream back (calls queue up unread), and it
    /// holds the stream alive like a handle: dropping it stops watching,
    /// and cancels the stream if it was the last handle.
    pub fn watch_tool_calls(&self) -> ToolCallWatch {
        let rx = lock(&self.shared().tool_watch).subscribe();
        // Calls may have ended since the parser last looked at the log; a
        // parked parser starts here, so that later call ends nudge it.
        if let Some(tools) = self.followers.tools.addr() {
            tools.do_send(CatchUp);
        }
        ToolCallWatch {
            rx,
            _handle: self.clone(),
        }
    }

    /// Number of chunks appended so far (those a window dropped included):
    /// the offset the next chunk will have.
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

/// Complete tool calls as they end: an async `Stream`, or an `Iterator` for
/// blocking code (see [`StreamHandle::watch_tool_calls`]). It keeps the
/// stream alive while it is held.
pub struct ToolCallWatch {
    rx: tokio::sync::mpsc::UnboundedReceiver<ParsedToolCall>,
    _handle: StreamHandle,
}

impl ToolCallWatch {
    /// The next complete call, or `None` once the stream has ended and
    /// every call was delivered.
    pub async fn next_call(&mut self) -> Option<ParsedToolCall> {
        self.rx.recv().await
    }
}

impl futures::Stream for ToolCallWatch {
    type Item = ParsedToolCall;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<ParsedToolCall>> {
        self.rx.poll_recv(cx)
    }
}

impl Iterator for ToolCallWatch {
    type Item = ParsedToolCall;
    /// Blocks the thread: not for async code.
    fn next(&mut self) -> Option<ParsedToolCall> {
        futures::executor::block_on(self.rx.recv())
    }
}

impl fmt::Debug for ToolCallWatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolCallWatch").finish_non_exhaustive()
    }
}
