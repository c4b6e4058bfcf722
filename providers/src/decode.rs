//! What every SSE decoder shares: the [`Decode`] interface of a pure decoder
//! (events in, chunks out, no I/O), the [`DecodeStream`] that drives one
//! over an HTTP body, [`decode_pieces`] that drives one over bytes in memory
//! (tests, benchmarks), and small helpers for raw events.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use rivulet_core::{ApiKey, Chunk, Error, RawEvent, Usage};

use crate::http;
use crate::sse::{self, SseEvent, SseStream};

/// What a decoder returns per event: chunks, possibly ending with one error.
pub type Decoded = Vec<Result<Chunk, Error>>;

/// A wire protocol's decoder: a state machine from SSE events to chunks.
///
/// After it returns an error, or once [`Decode::is_done`], it ignores
/// further input and returns nothing.
pub trait Decode {
    /// Decodes one event.
    fn feed(&mut self, event: &SseEvent) -> Decoded;
    /// The byte stream ended: a normal end, or a truncated stream (an error).
    fn finish(&mut self) -> Decoded;
    /// The transport failed with `err`: keeps what can be kept (ends the
    /// open text or thought part) and returns the error.
    fn fail(&mut self, err: Error) -> Decoded;
    /// True once the stream is over: the caller can drop the connection.
    fn is_done(&self) -> bool;
}

/// Turns cumulative usage snapshots (Anthropic, Gemini) into the deltas
/// core expects, with [`Usage::delta_since`]: consumers only ever add, and
/// snapshots are never summed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CumulativeUsage {
    /// What the deltas emitted so far add up to: per field, the largest
    /// value reported (a snapshot that goes down adds nothing).
    sent: Usage,
}

impl CumulativeUsage {
    /// The delta from what was sent to `snapshot`, if it adds anything.
    pub(crate) fn update(&mut self, snapshot: &Usage) -> Option<Usage> {
        let delta = snapshot.delta_since(&self.sent);
        self.sent.add(&delta);
        (!delta.is_empty()).then_some(delta)
    }
}

/// A [`Chunk::Raw`] for `data`, typed when the decoder parsed it.
pub(crate) fn raw_chunk<T: std::any::Any + Send + Sync>(
    provider: &str,
    data: &str,
    typed: Option<T>,
) -> Chunk {
    Chunk::Raw(match typed {
        Some(t) => RawEvent::new(provider, data, t),
        None => RawEvent::untyped(provider, data),
    })
}

/// The chunk stream of a response: SSE events through a decoder. It drops
/// the body (and so closes the connection) as soon as the decoder is done,
/// and when dropped itself. Errors are scrubbed of the API key.
pub struct DecodeStream<D> {
    events: Option<SseStream>,
    decoder: D,
    pending: VecDeque<Result<Chunk, Error>>,
    key: Option<ApiKey>,
}

impl<D> DecodeStream<D> {
    /// Decodes `events` with `decoder`; errors are scrubbed of `key`.
    pub fn new(events: SseStream, decoder: D, key: Option<ApiKey>) -> Self {
        DecodeStream {
            events: Some(events),
            decoder,
            pending: VecDeque::new(),
            key,
        }
    }
}

impl<D: Decode + Unpin> Stream for DecodeStream<D> {
    type Item = Result<Chunk, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(item) = this.pending.pop_front() {
                return Poll::Ready(Some(item.map_err(|e| http::redact(e, this.key.as_ref()))));
            }
            let Some(events) = this.events.as_mut() else {
                return Poll::Ready(None);
            };
            match events.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(event))) => this.pending.extend(this.decoder.feed(&event)),
                Poll::Ready(Some(Err(e))) => this.pending.extend(this.decoder.fail(e)),
                Poll::Ready(None) => {
                    this.pending.extend(this.decoder.finish());
                    this.events = None;
                }
                Poll::Pending => return Poll::Pending,
            }
            if this.decoder.is_done() {
                if let Some(mut events) = this.events.take() {
                    // The body usually ends right behind the terminator. One
                    // more poll sees that end if it is already here, which
                    // lets the connection go back to the pool; if it is not,
                    // the connection is dropped rather than waited for.
                    let _ = events.poll_next_unpin(cx);
                }
            }
        }
    }
}

/// Decodes a body already in memory, delivered in `pieces`: the SSE parser
/// and `decoder` exactly as over HTTP, without the HTTP.
pub fn decode_pieces<D, I, B>(mut decoder: D, pieces: I) -> Decoded
where
    D: Decode,
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let mut out = Vec::new();
    for event in sse::parse_pieces(pieces) {
        match event {
            Ok(event) => out.extend(decoder.feed(&event)),
            Err(e) => out.extend(decoder.fail(e)),
        }
        if decoder.is_done() {
            return out;
        }
    }
    out.extend(decoder.finish());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_usage_sends_only_growth() {
        let mut c = CumulativeUsage::default();
        let snap = |i, o| Usage {
            input_tokens: Some(i),
            output_tokens: o,
            ..Default::default()
        };
        assert_eq!(c.update(&snap(15, None)), Some(snap(15, None)));
        // Nothing new: nothing sent.
        assert_eq!(c.update(&snap(15, None)), None);
        // Output appears; input went down, which adds nothing.
        assert_eq!(
            c.update(&snap(13, Some(8))),
            Some(Usage {
                output_tokens: Some(8),
                ..Default::default()
            })
        );
        // Growth after a dip counts from the largest value sent.
        assert_eq!(c.update(&snap(16, Some(8))), Some(snap(1, None)));
    }
}
