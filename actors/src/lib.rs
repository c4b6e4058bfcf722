//! `rivulet-actors`: the actix runtime that drives any [`Provider`].
//!
//! One call is one small group of actors over one append-only log:
//! a provider actor reads the provider's chunk stream and appends to the log;
//! an accumulator actor folds the log into the [`Response`]; a tool-parser
//! actor turns tool-call chunks into complete calls; subscriber actors hand
//! chunks to their consumers over channels (tokio for async code, crossbeam
//! for blocking code). See `shared/DESIGN.md`.
//!
//! This file is the crate's public surface (the contract the root crate
//! builds on).

use std::sync::Arc;
use std::time::Duration;

pub use rivulet_core::{Chunk, Error, Provider, Request, Response, ToolCall};

/// Per-stream limits and policies.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Opening the connection and receiving the response head.
    pub connect_timeout: Option<Duration>,
    /// From the start of the call to the first content chunk.
    pub first_chunk_timeout: Option<Duration>,
    /// Between two content chunks (non-content chunks do not reset it).
    pub idle_timeout: Option<Duration>,
    /// The whole stream, retries included.
    pub total_timeout: Option<Duration>,
    /// How many times to retry a retryable error before the first content chunk.
    pub retries: u32,
    /// First backoff delay; doubled each retry. `Retry-After` wins when larger.
    pub backoff: Duration,
    /// Keep generating when every handle has been dropped.
    pub run_to_completion: bool,
    /// Keep at most this many chunks in the log; older ones are dropped and a
    /// subscriber that falls out of the window is told how many it missed.
    pub window: Option<usize>,
    /// The provider id and model name, for tracing and the Response.
    pub provider_id: String,
    pub model: String,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            connect_timeout: None,
            first_chunk_timeout: None,
            idle_timeout: None,
            total_timeout: None,
            retries: 2,
            backoff: Duration::from_millis(500),
            run_to_completion: false,
            window: None,
            provider_id: String::new(),
            model: String::new(),
        }
    }
}

/// How a subscriber keeps up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Never loses a chunk; when it is more than `capacity` chunks behind, the
    /// provider actor stops reading the socket, so TCP slows the server.
    Lossless { capacity: usize },
    /// Never slows the stream; reads behind from the log at its own pace.
    Detached { capacity: usize },
}

impl Default for Policy {
    fn default() -> Self {
        Policy::Lossless { capacity: 64 }
    }
}

/// How a stream ended. Every consumer sees exactly one.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The provider ended the stream normally.
    Finished,
    /// It failed, was cancelled (`Error::Cancelled`) or timed out (`Error::Timeout`).
    Failed(Error),
}

/// What a subscriber receives.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The next chunk (shared with every other consumer, never copied).
    Chunk(Arc<Chunk>),
    /// The subscriber fell out of the log's window; this many chunks were lost to it.
    Missed(u64),
    /// The terminal event; nothing follows.
    End(Outcome),
}

/// Configuration of a runtime.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Number of actix arbiters (threads) streams are spread over.
    pub arbiters: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig { arbiters: 1 }
    }
}

/// Counters of what is alive, to check that finished streams leave nothing behind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Streams whose actors are still running.
    pub live_streams: usize,
    /// Actors of any kind still running.
    pub live_actors: usize,
    /// Futures spawned by actors and not finished.
    pub live_tasks: usize,
}

/// The runtime: actix arbiters on their own threads, usable from any tokio
/// runtime and from synchronous code. A cheap clone.
#[derive(Clone)]
pub struct Runtime {/* implementation-defined */}

impl Runtime {
    /// Starts a runtime with its own threads.
    pub fn new(config: RuntimeConfig) -> Runtime {
        let _ = config;
        todo!()
    }

    /// The process-wide runtime, started on first use.
    pub fn global() -> &'static Runtime {
        todo!()
    }

    /// Starts one call: spawns its actors and returns at once. Nothing is
    /// sent before this returns; errors surface through the handle.
    pub fn start(
        &self,
        provider: Arc<dyn Provider>,
        request: Request,
        options: StreamOptions,
    ) -> StreamHandle {
        let _ = (provider, request, options);
        todo!()
    }

    /// What is alive now.
    pub fn stats(&self) -> RuntimeStats {
        todo!()
    }

    /// Cancels every in-flight stream (each consumer sees its terminal
    /// event), then stops the arbiters.
    pub fn shutdown(&self) {
        todo!()
    }
}

/// A handle to one stream. A cheap clone; when the last handle (and every
/// subscription) is dropped, the stream is cancelled unless
/// `run_to_completion` was set.
#[derive(Clone)]
pub struct StreamHandle {/* implementation-defined */}

impl StreamHandle {
    /// A new subscriber for async code: replays the log from the start, then
    /// follows live.
    pub fn subscribe(&self, policy: Policy) -> Subscription {
        let _ = policy;
        todo!()
    }

    /// A new subscriber for blocking code, over a crossbeam channel.
    pub fn subscribe_blocking(&self, policy: Policy) -> BlockingSubscription {
        let _ = policy;
        todo!()
    }

    /// Cancels the stream: the HTTP body is dropped at once, so the
    /// connection closes. Usage and content received so far stay.
    pub fn cancel(&self) {
        todo!()
    }

    /// The response as accumulated so far (the whole log folded).
    pub async fn snapshot(&self) -> Response {
        todo!()
    }

    /// [`StreamHandle::snapshot`] for synchronous code.
    pub fn snapshot_blocking(&self) -> Response {
        todo!()
    }

    /// Waits for the end. `Ok` with the final response, or the error; the
    /// partial response stays available from `snapshot()`.
    pub async fn finish(&self) -> Result<Response, Error> {
        todo!()
    }

    /// [`StreamHandle::finish`] for synchronous code.
    pub fn finish_blocking(&self) -> Result<Response, Error> {
        todo!()
    }

    /// The outcome, once the stream has ended.
    pub fn outcome(&self) -> Option<Outcome> {
        todo!()
    }

    /// Complete tool calls with their arguments parsed, as the tool-parser
    /// actor has them now.
    pub async fn tool_calls(&self) -> Vec<ParsedToolCall> {
        todo!()
    }

    /// Number of chunks appended so far.
    pub fn len(&self) -> usize {
        todo!()
    }
}

/// A tool call as the tool-parser actor sees it once it has ended.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedToolCall {
    pub call: ToolCall,
    /// The parsed arguments, or why they are invalid (the raw text is in `call.args`).
    pub args: Result<serde_json::Value, String>,
}

/// An async subscription: a `futures::Stream` of [`Event`]s ending with `Event::End`.
pub struct Subscription {/* implementation-defined */}

/// A blocking subscription: an `Iterator` of [`Event`]s ending with `Event::End`.
pub struct BlockingSubscription {/* implementation-defined */}
