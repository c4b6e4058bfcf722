//! `rivulet-actors`: the actix runtime that drives any [`Provider`].
//!
//! One call is one small group of actors over one append-only log:
//! a provider actor reads the provider's chunk stream and appends to the log;
//! an accumulator actor folds the log into the [`Response`]; a tool-parser
//! actor turns tool-call chunks into complete calls; each subscription reads
//! the log itself, with a cursor of its own, on its consumer's thread
//! (async or blocking). See `docs/DESIGN.md`.
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
//! let events: Vec<Event> = stream.blocking().subscribe(Policy::default()).collect();
//! assert_eq!(events.len(), 4);
//! assert_eq!(events[3], Event::End(Outcome::Finished));
//! assert_eq!(stream.blocking().finish().unwrap().text(), "Hello");
//! rt.shutdown();
//! ```
//!
//! How a chunk travels from the provider's socket to its consumer, file
//! by file, and why the log is shared memory: `docs/ARCHITECTURE.md` in the
//! repository.

#![warn(missing_docs)]

pub use rivulet_core::{Chunk, Error, Provider, Request, Response, ToolCall};

mod accumulator;
mod blocking;
mod event;
mod fallback;
mod followers;
mod handle;
mod heap;
mod idle;
mod limits;
mod log;
mod messages;
mod options;
mod process;
mod provider_actor;
mod runtime;
mod segment;
mod shared;
mod stats;
mod subscription;
pub mod telemetry;
mod timer;
mod tool_calls;
mod tool_parser;
mod trim;
#[cfg(test)]
mod wake_count;

pub use blocking::BlockingHandle;
pub use event::{Event, Outcome};
pub use fallback::{Fallback, Routing, Skipped};
pub use handle::{StreamHandle, ToolCallWatch};
pub use heap::heap_in_use;
pub use limits::LimitStats;
pub use options::{
    DeferredRequest, Placement, Policy, RuntimeConfig, RuntimeStats, StreamOptions,
    DEFAULT_MAX_RETRY_WAIT,
};
pub use process::{ProcessHandle, ProcessPhase, ProcessSpec, ProcessStatus};
pub use runtime::Runtime;
pub use segment::SharedChunk;
pub use subscription::{BlockingSubscription, Subscription};
pub use tool_calls::{ParsedToolCall, PartialToolCall, ToolCallState};
