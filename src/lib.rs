//! # rivulet
//!
//! Stream LLM responses through actors. One generation, fanned out to as many
//! consumers as you like, replayable, cancellable for real, with per-stream
//! timeouts; every provider decoded into one chunk model.
//!
//! ```no_run
//! use rivulet::Model;
//!
//! # fn main() -> Result<(), rivulet::Error> {
//! let model = Model::new("openai/gpt-4o-mini").max_tokens(200);
//! let response = model.stream("Recommend a fantasy book.");
//! for delta in response.blocking().text_stream("\n") {
//!     print!("{}", delta?);
//! }
//! let done = response.blocking().finish()?;
//! println!("\n{:?} tokens out", done.usage.output_tokens);
//! # Ok(())
//! # }
//! ```
//!
//! The crates underneath: [`rivulet_core`] (data model), [`rivulet_providers`]
//! (wire decoders) and [`rivulet_actors`] (the runtime).
//!
//! How a chunk travels from the provider's socket to its consumer, file
//! by file, and why the log is shared memory: `docs/ARCHITECTURE.md` in the
//! repository.

mod blocking;
mod consume;
mod hooks;
mod input;
pub mod json;
pub mod local;
mod model;
mod parts;
mod render;
pub mod schema;
mod stream;
mod structured;
pub mod telemetry;
mod tools;
pub mod transform;

pub use blocking::Blocking;
pub use consume::{ChunkConsumer, Chunks, Consume, Consumer, Step};
pub use hooks::{HookKind, HookPanic, HookReport, HookRun, Hooks};
pub use input::Input;
pub use model::{check_model_id, valid_temperature, Model};
pub use parts::{BlockingPartStream, BlockingPartStreams, ContentType, PartStream, PartStreams};
pub use render::{PrettyRender, Render, RenderConsumer, Rendered, TextRender};
pub use stream::{EagerTools, Resume, StreamResponse};
pub use structured::{parse_response, Partial, PartialConsumer, PartialText, StructuredStream};
pub use tools::{tool_definitions_from_json, Tool, ToolDefinitions, Toolkit};

// A stream's consumers. Rustdoc shows each line's doc above the item's
// own, which comes from `rivulet_actors`.

/// A raw blocking subscription (an `Iterator`), from
/// [`Blocking::subscribe`] or [`Blocking::subscribe_from`]
/// (`response.blocking()`).
pub use rivulet_actors::BlockingSubscription;
/// What a [`Subscription`] yields: each chunk with its offset in the
/// stream's log, [`Event::Missed`] on a windowed stream, one terminal
/// [`Event::End`].
pub use rivulet_actors::Event;
/// How a stream ended: what every consumer's [`Event::End`] carries.
pub use rivulet_actors::Outcome;
/// How a subscription keeps up: detached (the default; stalls nobody) or
/// lossless (backpressure). See [`StreamResponse::subscribe`].
pub use rivulet_actors::Policy;
/// The runtime's handle to one stream, under a [`StreamResponse`]
/// ([`StreamResponse::handle`]; [`StreamResponse::new`] wraps one).
pub use rivulet_actors::StreamHandle;
/// A raw async subscription to a stream's events, from
/// [`StreamResponse::subscribe`] or [`StreamResponse::subscribe_from`].
pub use rivulet_actors::Subscription;

pub use rivulet_actors::{
    Fallback, LimitStats, ParsedToolCall, PartialToolCall, ProcessHandle, ProcessPhase,
    ProcessSpec, ProcessStatus, Routing, Runtime, RuntimeConfig, RuntimeStats, SharedChunk,
    Skipped, StreamOptions, ToolCallState, ToolCallWatch,
};
pub use rivulet_core::{
    ApiKey, Audio, CacheBreakpoints, CacheTtl, Chunk, ContentPart, Error, ErrorContext, ErrorKind,
    FinishReason, Format, Media, Message, Params, PartialJson, PartialJsonError,
    PartialJsonErrorKind, ProviderPart, RawEvent, Request, Response, Role, Text, ThinkingLevel,
    Thought, TimeoutKind, ToolCall, ToolChoice, ToolDefinition, ToolOutput, Usage, UsageDelta,
};
pub use rivulet_providers::{ProviderConfig, PROVIDER_IDS};

/// The wire decoders, for their typed events (`Chunk::Raw` downcasts to
/// e.g. `providers::openai::wire::ChatCompletionChunk`).
pub use rivulet_providers as providers;
