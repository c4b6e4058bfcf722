//! What a subscription receives: an [`Event`] per chunk (with its offset),
//! and how the stream ended, its [`Outcome`].

use std::sync::Arc;

use rivulet_core::Error;

use crate::segment::SharedChunk;

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

/// What a subscription receives.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// The next chunk, with its offset in the log
    /// ([`SharedChunk::offset`]).
    Chunk(SharedChunk),
    /// The subscription fell out of the log's window; this many chunks were lost to it.
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
