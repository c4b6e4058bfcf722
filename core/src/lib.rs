//! `rivulet-core`: the data model every other rivulet crate speaks.
//!
//! Pure data and logic, no I/O: [`Chunk`]s (the unit that flows), content
//! parts and [`Message`]s, the [`Response`] they fold into, [`Usage`],
//! [`FinishReason`], the [`Error`] enum, the [`Request`] a caller builds and
//! the [`Provider`] trait a wire protocol implements.
//!
//! ```
//! use rivulet_core::{Chunk, Response};
//!
//! let mut response = Response::default();
//! response.apply(&Chunk::text_start(0));
//! response.apply(&Chunk::text(0, "Hello, "));
//! response.apply(&Chunk::text(0, "world"));
//! assert_eq!(response.text(), "Hello, world");
//! ```
//!
//! How a chunk travels from the provider's socket to its consumer, file
//! by file, and why the log is shared memory: `docs/ARCHITECTURE.md` in the
//! repository.
#![warn(missing_docs)]

pub mod chunk;
pub mod citation;
pub mod content;
pub mod cost;
pub mod delta;
pub mod error;
pub mod finish;
pub mod media;
pub mod partial_json;
pub mod provider;
pub mod request;
pub mod response;
pub mod secret;
pub mod server_tool;
pub mod usage;

pub use chunk::{AudioDelta, Chunk, RawEvent};
pub use citation::{Citation, CitationKind};
pub use content::{
    Audio, ContentPart, Message, ProviderPart, Role, Text, Thought, ToolCall, ToolOutput,
};
pub use cost::{Cost, CostParts, Price, PriceRow, PriceTable};
pub use delta::Delta;
pub use error::{Error, ErrorContext, ErrorKind, TimeoutKind};
pub use finish::FinishReason;
pub use media::{Media, MediaSource};
pub use partial_json::{PartialJson, PartialJsonError, PartialJsonErrorKind};
pub use provider::{ChunkStream, OpenFuture, Provider};
pub use request::{
    AudioOutput, CacheBreakpoints, CacheTtl, Format, Params, Request, ThinkingLevel, ToolChoice,
    ToolDefinition,
};
pub use response::Response;
pub use secret::ApiKey;
pub use server_tool::{ServerTool, ServerToolPhase};
pub use usage::{Usage, UsageDelta};
