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
#![warn(missing_docs)]

mod blocking;
pub mod consume;
pub mod hooks;
mod input;
pub mod json;
pub mod local;
pub mod model;
mod parts;
pub mod render;
pub mod schema;
mod stream;
pub mod structured;
pub mod telemetry;
pub mod tools;
pub mod transform;

// The names most code uses are here; the rest of each module's public
// items (the consumer step types, hook reports, renderers, the local
// model's process, the runtime's statistics) stay in their module
// (`rivulet::render::TextRender`), and the runtime's other types under
// `rivulet::actors`, so the crate's root lists what a caller reaches for.
pub use blocking::Blocking;
pub use consume::Chunks;
pub use hooks::Hooks;
pub use input::Input;
pub use model::Model;
pub use parts::{BlockingPartStream, BlockingPartStreams, ContentType, PartStream, PartStreams};
pub use render::Rendered;
pub use stream::{EagerTools, Resume, StreamResponse};
pub use structured::{Partial, StructuredStream};
pub use tools::{Tool, ToolDefinitions, Toolkit};

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
    ParsedToolCall, PartialToolCall, Placement, Runtime, RuntimeConfig, SharedChunk, StreamOptions,
    ToolCallState,
};
pub use rivulet_core::{
    ApiKey, Audio, CacheBreakpoints, CacheTtl, Chunk, ContentPart, Error, ErrorContext, ErrorKind,
    FinishReason, Format, Media, Message, Params, ProviderPart, RawEvent, Request, Response, Role,
    Text, ThinkingLevel, Thought, TimeoutKind, ToolCall, ToolChoice, ToolDefinition, ToolOutput,
    Usage, UsageDelta,
};
pub use rivulet_providers::ProviderConfig;

/// The runtime underneath: its statistics, fallbacks and routing, the
/// blocking view of a [`StreamHandle`], and everything else it exports.
pub use rivulet_actors as actors;
/// The wire decoders (and [`providers::PROVIDER_IDS`]), for their typed events (`Chunk::Raw` downcasts to
/// e.g. `providers::openai::openai_wire::ChatCompletionChunk`).
pub use rivulet_providers as providers;
