//! `rivulet-actors`: the actix runtime that drives any [`Provider`].
//!
//! One call is one small group of actors over one append-only log:
//! a provider actor reads the provider's chunk stream and appends to the log;
//! an accumulator actor folds the log into the [`Response`]; a tool-parser
//! actor turns tool-call chunks into complete calls; subscriber actors hand
//! chunks to their consumers over channels (tokio for async code, crossbeam
//! for blocking code). See `docs/DESIGN.md`.
//!
//! This file is the crate's public surface (the contract the root crate
//! builds on); the implementation lives in the modules below.
//!
//! ```
//! use std::sync::Arc;
//! use futures::stream;
//! use rivulet_actors::{Event, Outcome, Policy, Runtime, RuntimeConfig, StreamOptions};
//! use rivulet_core::{Chunk, ChunkStream, OpenFuture, Provider, Request};
//!
//! struct Hello;
//! impl Provider for Hello {
//!     fn id(&self) -> &str { "hello" }
//!     fn open(&self, _: &Request) -> OpenFuture {
//!         let chunks: ChunkStream = Box::pin(stream::iter(
//!             [Chunk::text_start(0), Chunk::text(0, "Hello"), Chunk::text_end(0)].map(Ok),
//!         ));
//!         Box::pin(async move { Ok(chunks) })
//!     }
//! }
//!
//! let rt = Runtime::new(RuntimeConfig::default());
//! let stream = rt.start(Arc::new(Hello), Request::default(), StreamOptions::default());
//! let events: Vec<Event> = stream.subscribe_blocking(Policy::default()).collect();
//! assert_eq!(events.len(), 4);
//! assert_eq!(events[3], Event::End(Outcome::Finished));
//! assert_eq!(stream.finish_blocking().unwrap().text(), "Hello");
//! rt.shutdown();
//! ```
//!
//! How a chunk travels from the provider's socket to its consumer, file
//! by file, and why the log is shared memory: `docs/ARCHITECTURE.md` in the
//! repository.

#![warn(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

pub use rivulet_core::{Chunk, Error, Provider, Request, Response, ToolCall};

mod accumulator;
mod fallback;
mod handle;
mod idle;
mod limits;
mod log;
mod messages;
mod process;
mod provider_actor;
mod runtime;
mod segment;
mod stats;
mod stream;
mod subscriber;
pub mod telemetry;
mod timer;
mod tool_parser;
mod trim;

pub use fallback::{Fallback, Routing, Skipped};
pub use handle::{StreamHandle, ToolCallWatch};
pub use limits::LimitStats;
pub use process::{ProcessHandle, ProcessPhase, ProcessSpec, ProcessStatus};
pub use runtime::Runtime;
pub use segment::SharedChunk;
pub use subscriber::{BlockingSubscription, Subscription};

/// A request still to be built, for [`Runtime::start_deferred`].
pub type DeferredRequest =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Request, Error>> + Send>>;

/// The default [`StreamOptions::max_retry_wait`]: a minute.
pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

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
    /// First backoff delay; doubled each retry, up to `max_retry_wait`.
    /// `Retry-After` wins when larger.
    pub backoff: Duration,
    /// The longest wait before a retry ([`DEFAULT_MAX_RETRY_WAIT`], 60 s,
    /// by default). A server that asks for more (`Retry-After` or
    /// `retry-after-ms` on a 429, 503 or 529) is not waited for: the
    /// stream fails at once with the server's error, whose
    /// [`Error::retry_after`] is the wait it asked for.
    pub max_retry_wait: Duration,
    /// Keep generating when every handle has been dropped.
    pub run_to_completion: bool,
    /// Keep at most this many chunks in the log; older ones are dropped and a
    /// subscriber that falls out of the window is told how many it missed.
    /// Memory is freed a segment of the log at a time (16 chunks at first,
    /// then twice as many each segment, up to the window or 1,024 chunks,
    /// whichever is less), so up to a segment's chunks beyond the window
    /// may stay resident until then.
    pub window: Option<usize>,
    /// The provider id and model name, for tracing and the Response.
    pub provider_id: String,
    /// The model name (see `provider_id`).
    pub model: String,
    /// Models to try, in order, when this one fails with a retryable error
    /// before the first content chunk, after its own `retries` (see
    /// [`Fallback`]). Timeouts still count from the start of the stream:
    /// the first-chunk and total timeouts cover every model tried, the
    /// connect timeout each attempt. [`StreamHandle::routing`] says which
    /// model answered and why the others did not.
    pub fallbacks: Vec<Fallback>,
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
            max_retry_wait: DEFAULT_MAX_RETRY_WAIT,
            run_to_completion: false,
            window: None,
            provider_id: String::new(),
            model: String::new(),
            fallbacks: Vec::new(),
        }
    }
}

/// How a subscriber keeps up with its stream.
///
/// The default is `Detached { capacity: 64 }`: a subscriber that is kept but
/// not read stalls nobody.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Backpressure: when its consumer is `capacity` chunks behind, the
    /// provider actor stops reading the socket, so TCP slows the server,
    /// and the stream stops for every other consumer too. It never loses a
    /// chunk (with a window: as long as `capacity` is within the window).
    ///
    /// Use it when the consumer must throttle the provider: the log has a
    /// window (so a detached reader that falls behind would miss chunks),
    /// or memory must stay bounded by how fast the slowest consumer is. A
    /// lossless subscription must be read (or dropped): one left unread
    /// stops the stream.
    Lossless {
        /// How many chunks its consumer may be behind the provider (at least 1).
        capacity: usize,
    },
    /// Never slows the stream: it reads behind from the log at its own
    /// pace, so while the log holds the whole response (no window, the
    /// default) it loses nothing. With a window it may fall out of it, and
    /// is then told how much it missed ([`Event::Missed`]).
    Detached {
        /// How many events its channel holds ready for the consumer (at
        /// least 1); it never bounds how far behind the consumer may be.
        capacity: usize,
    },
}

impl Default for Policy {
    fn default() -> Self {
        Policy::Detached { capacity: 64 }
    }
}

/// How a stream ended. Every consumer sees exactly one.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// The provider ended the stream normally.
    Finished,
    /// It failed, was cancelled (`Error::Cancelled`) or timed out (`Error::Timeout`).
    ///
    /// Shared, so an `Event` is no bigger than a chunk and its offset:
    /// every subscription's channel is sized in events, and the outcome is
    /// cloned once per consumer.
    Failed(Arc<Error>),
}

impl Outcome {
    /// `Failed` with `error`.
    pub fn failed(error: Error) -> Outcome {
        Outcome::Failed(Arc::new(error))
    }
}

// See `Outcome::Failed`: an event is a chunk and its offset, no more.
const _: () = assert!(std::mem::size_of::<Event>() <= 64);

/// What a subscriber receives.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The next chunk, with its offset in the log
    /// ([`SharedChunk::offset`]).
    Chunk(SharedChunk),
    /// The subscriber fell out of the log's window; this many chunks were lost to it.
    Missed(u64),
    /// The terminal event; nothing follows.
    End(Outcome),
}

impl Event {
    /// The chunk's offset in the stream's log, for a chunk; to resume
    /// after it, pass it to `subscribe_from`.
    pub fn offset(&self) -> Option<u64> {
        match self {
            Event::Chunk(chunk) => Some(chunk.offset()),
            _ => None,
        }
    }
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

/// A tool call as the tool-parser actor sees it once it has ended.
#[derive(Clone, Debug, PartialEq)]
pub struct ParsedToolCall {
    /// The call, with its arguments as the model wrote them.
    pub call: ToolCall,
    /// The parsed arguments, or why they are invalid (the raw text is in `call.args`).
    pub args: Result<serde_json::Value, String>,
}

/// Where a tool call is in its life (see [`PartialToolCall`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolCallState {
    /// Its arguments are still streaming.
    Streaming,
    /// It has ended and its arguments are one complete JSON object.
    Ended,
    /// It has ended with arguments that are not a JSON object, or it was cut
    /// off (by `max_tokens`, a cancel, a failure or a timeout). It is never
    /// run. The reason says which.
    Invalid(String),
}

/// A tool call as the tool-parser actor has it now: its raw argument text,
/// the arguments parsed so far (open strings, arrays and objects closed;
/// see [`rivulet_core::PartialJson`]) and its state.
#[derive(Clone, Debug, PartialEq)]
pub struct PartialToolCall {
    /// The call's part index in the response's content.
    pub part: usize,
    /// The call, with its argument text as received so far.
    pub call: ToolCall,
    /// The arguments parsed so far (the final value once ended); `None`
    /// before anything of them is visible.
    pub args: Option<serde_json::Value>,
    /// Streaming, ended or invalid.
    pub state: ToolCallState,
}
