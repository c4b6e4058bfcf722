//! The `Provider` trait: given a request, open a stream of chunks.

use std::future::Future;
use std::pin::Pin;

use futures::Stream;

use crate::{Chunk, Error, Request};

/// The chunks of one response, in order. The stream ends after the last
/// chunk, or with one `Err` (nothing follows an error).
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Chunk, Error>> + Send>>;

/// Opening a stream: connecting, sending the request, checking the response
/// head. It resolves once the body starts, so the connect timeout covers it.
pub type OpenFuture = Pin<Box<dyn Future<Output = Result<ChunkStream, Error>> + Send>>;

/// One wire protocol. Implementations live in `rivulet-providers`; the
/// runtime in `rivulet-actors` drives any of them, and tests drive scripted
/// ones.
///
/// Dropping the returned stream must release the connection at once, so a
/// cancel really stops the server's generation.
pub trait Provider: Send + Sync + 'static {
    /// The provider id (`"openai"`, `"groq"`, …).
    fn id(&self) -> &str;

    /// Sends `request` and returns its chunk stream.
    fn open(&self, request: &Request) -> OpenFuture;
}
