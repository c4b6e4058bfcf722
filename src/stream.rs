//! `StreamResponse`: the caller's view of one streaming call.
//!
//! Every iterator here is its own subscription to the stream's log, so each
//! one replays what was already received and then continues live, and any
//! number of them can run at once (one generation, many consumers).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use rivulet_actors::{
    BlockingSubscription, Event, Outcome, ParsedToolCall, Policy, StreamHandle, Subscription,
};
use rivulet_core::{Chunk, Error, Response};

use crate::parts::{BlockingPartStreams, PartStreams};

/// A streaming response. Returned at once by [`crate::Model::stream`];
/// errors surface while iterating.
///
/// Async iterators (`text_stream`, `chunk_stream`, …) implement
/// `futures::Stream`; each has a `_blocking` twin implementing `Iterator`
/// for synchronous code. Items are `Result`s: a failed stream yields its
/// error once, then ends; what was received before stays in
/// [`StreamResponse::snapshot`].
#[derive(Clone)]
pub struct StreamResponse {
    handle: StreamHandle,
}

impl StreamResponse {
    /// Wraps a runtime handle.
    pub fn new(handle: StreamHandle) -> Self {
        StreamResponse { handle }
    }

    /// The runtime handle underneath.
    pub fn handle(&self) -> &StreamHandle {
        &self.handle
    }

    /// A raw subscription with its own backpressure policy.
    pub fn subscribe(&self, policy: Policy) -> Subscription {
        self.handle.subscribe(policy)
    }

    /// A raw blocking subscription with its own backpressure policy.
    pub fn subscribe_blocking(&self, policy: Policy) -> BlockingSubscription {
        self.handle.subscribe_blocking(policy)
    }

    /// Every chunk, typed (match on [`Chunk`]).
    pub fn chunk_stream(&self) -> Chunks<Subscription> {
        Chunks::new(self.handle.subscribe(Policy::default()))
    }

    /// [`StreamResponse::chunk_stream`] for synchronous code.
    pub fn chunk_stream_blocking(&self) -> Chunks<BlockingSubscription> {
        Chunks::new(self.handle.subscribe_blocking(Policy::default()))
    }

    /// Text deltas only, with `sep` between text parts.
    pub fn text_stream(&self, sep: &str) -> Rendered<Subscription, TextRender> {
        Rendered::new(self.chunk_stream(), TextRender::new(sep))
    }

    /// [`StreamResponse::text_stream`] for synchronous code.
    pub fn text_stream_blocking(&self, sep: &str) -> Rendered<BlockingSubscription, TextRender> {
        Rendered::new(self.chunk_stream_blocking(), TextRender::new(sep))
    }

    /// Every part rendered readably (thoughts and tool calls included), the
    /// streaming form of [`Response::pretty`].
    pub fn pretty_stream(&self) -> Rendered<Subscription, PrettyRender> {
        Rendered::new(self.chunk_stream(), PrettyRender::default())
    }

    /// [`StreamResponse::pretty_stream`] for synchronous code.
    pub fn pretty_stream_blocking(&self) -> Rendered<BlockingSubscription, PrettyRender> {
        Rendered::new(self.chunk_stream_blocking(), PrettyRender::default())
    }

    /// One substream per content part (text, thought, tool call).
    pub fn streams(&self) -> PartStreams {
        PartStreams::new(self.chunk_stream())
    }

    /// [`StreamResponse::streams`] for synchronous code.
    pub fn streams_blocking(&self) -> BlockingPartStreams {
        BlockingPartStreams::new(self.chunk_stream_blocking())
    }

    /// Waits for the end: the final response, or the error (the partial
    /// response stays in [`StreamResponse::snapshot`]).
    pub async fn finish(&self) -> Result<Response, Error> {
        self.handle.finish().await
    }

    /// [`StreamResponse::finish`] for synchronous code.
    pub fn finish_blocking(&self) -> Result<Response, Error> {
        self.handle.finish_blocking()
    }

    /// The response as received so far.
    pub async fn snapshot(&self) -> Response {
        self.handle.snapshot().await
    }

    /// [`StreamResponse::snapshot`] for synchronous code.
    pub fn snapshot_blocking(&self) -> Response {
        self.handle.snapshot_blocking()
    }

    /// Complete tool calls with parsed arguments.
    pub async fn tool_calls(&self) -> Vec<ParsedToolCall> {
        self.handle.tool_calls().await
    }

    /// Stops the generation: the connection closes at once. Whatever was
    /// received (usage included) stays; consumers end with `Error::Cancelled`.
    pub fn cancel(&self) {
        self.handle.cancel()
    }

    /// How the stream ended, once it has.
    pub fn outcome(&self) -> Option<Outcome> {
        self.handle.outcome()
    }
}

/// Chunks of a subscription as `Result`s: `Ok(chunk)` for each chunk, one
/// `Err` if the stream failed, then the end.
pub struct Chunks<S> {
    events: S,
    done: bool,
}

impl<S> Chunks<S> {
    pub(crate) fn new(events: S) -> Self {
        Chunks {
            events,
            done: false,
        }
    }

    // One mapping for both the Iterator and the Stream impls.
    fn map(&mut self, event: Option<Event>) -> Option<Option<Result<Arc<Chunk>, Error>>> {
        match event {
            Some(Event::Chunk(c)) => Some(Some(Ok(c))),
            // Only detached subscribers with a window miss chunks; the
            // typed iterators are lossless, so there is nothing to report.
            Some(Event::Missed(_)) => None,
            Some(Event::End(Outcome::Finished)) | None => {
                self.done = true;
                Some(None)
            }
            Some(Event::End(Outcome::Failed(e))) => {
                self.done = true;
                Some(Some(Err(e)))
            }
        }
    }
}

impl<S: Iterator<Item = Event>> Iterator for Chunks<S> {
    type Item = Result<Arc<Chunk>, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let event = self.events.next();
            if let Some(item) = self.map(event) {
                return item;
            }
        }
        None
    }
}

impl<S: Stream<Item = Event> + Unpin> Stream for Chunks<S> {
    type Item = Result<Arc<Chunk>, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        while !self.done {
            let event = match Pin::new(&mut self.events).poll_next(cx) {
                Poll::Ready(e) => e,
                Poll::Pending => return Poll::Pending,
            };
            if let Some(item) = self.map(event) {
                return Poll::Ready(item);
            }
        }
        Poll::Ready(None)
    }
}

/// Turns chunks into strings for display.
pub trait Render {
    /// The string to show for `chunk`, if any.
    fn render(&mut self, chunk: &Chunk) -> Option<String>;
}

/// Text deltas, with a separator between text parts.
pub struct TextRender {
    sep: String,
    seen_text: bool,
}

impl TextRender {
    /// Renders text deltas with `sep` between text parts.
    pub fn new(sep: &str) -> Self {
        TextRender {
            sep: sep.to_string(),
            seen_text: false,
        }
    }
}

impl Render for TextRender {
    fn render(&mut self, chunk: &Chunk) -> Option<String> {
        match chunk {
            Chunk::TextStart { .. } => {
                let first = !self.seen_text;
                self.seen_text = true;
                (!first && !self.sep.is_empty()).then(|| self.sep.clone())
            }
            Chunk::Text { delta, .. } if !delta.is_empty() => Some(delta.clone()),
            _ => None,
        }
    }
}

/// Every part readably: the same text as [`Response::pretty`], streamed.
#[derive(Default)]
pub struct PrettyRender {
    parts: usize,
    audio_parts: std::collections::HashSet<usize>,
}

impl PrettyRender {
    fn start(&mut self, header: &str) -> Option<String> {
        let sep = if self.parts > 0 { "\n\n" } else { "" };
        self.parts += 1;
        let s = format!("{sep}{header}");
        (!s.is_empty()).then_some(s)
    }
}

impl Render for PrettyRender {
    fn render(&mut self, chunk: &Chunk) -> Option<String> {
        match chunk {
            Chunk::TextStart { .. } => self.start(""),
            Chunk::ThoughtStart { .. } => self.start("**Thinking:**\n"),
            Chunk::ToolCallStart { name, .. } => self.start(&format!("**ToolCall ({name}):** ")),
            Chunk::ProviderPart {
                provider,
                kind,
                json,
                ..
            } => self.start(&format!("**{provider} {kind}:** {json}")),
            Chunk::RedactedThought { .. } => Some("(redacted)".to_string()),
            Chunk::Audio {
                part,
                transcript_delta,
                ..
            } => {
                let mut out = String::new();
                if self.audio_parts.insert(*part) {
                    out.push_str(&self.start("**Audio:** ").unwrap_or_default());
                }
                out.push_str(transcript_delta.as_deref().unwrap_or(""));
                (!out.is_empty()).then_some(out)
            }
            Chunk::Text { delta, .. }
            | Chunk::Thought { delta, .. }
            | Chunk::ToolCall { delta, .. }
                if !delta.is_empty() =>
            {
                Some(delta.clone())
            }
            _ => None,
        }
    }
}

/// A chunk iterator or stream rendered to strings.
pub struct Rendered<S, R> {
    chunks: Chunks<S>,
    render: R,
}

impl<S, R> Rendered<S, R> {
    fn new(chunks: Chunks<S>, render: R) -> Self {
        Rendered { chunks, render }
    }
}

impl<S: Iterator<Item = Event>, R: Render> Iterator for Rendered<S, R> {
    type Item = Result<String, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.chunks.next()? {
                Ok(c) => {
                    if let Some(s) = self.render.render(&c) {
                        return Some(Ok(s));
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<S: Stream<Item = Event> + Unpin, R: Render + Unpin> Stream for Rendered<S, R> {
    type Item = Result<String, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match Pin::new(&mut this.chunks).poll_next(cx) {
                Poll::Ready(Some(Ok(c))) => {
                    if let Some(s) = this.render.render(&c) {
                        return Poll::Ready(Some(Ok(s)));
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(r: &mut impl Render, chunks: &[Chunk]) -> String {
        chunks.iter().filter_map(|c| r.render(c)).collect()
    }

    fn two_texts_and_a_call() -> Vec<Chunk> {
        vec![
            Chunk::text_start(0),
            Chunk::text(0, "Hello"),
            Chunk::text_end(0),
            Chunk::ToolCallStart {
                part: 1,
                id: "c".into(),
                name: "sqrt".into(),
            },
            Chunk::ToolCall {
                part: 1,
                id: "c".into(),
                delta: "{\"number\":4}".into(),
            },
            Chunk::ToolCallEnd {
                part: 1,
                id: "c".into(),
                signature: None,
            },
            Chunk::text_start(2),
            Chunk::text(2, "World"),
            Chunk::text_end(2),
        ]
    }

    #[test]
    fn text_render_separates_text_parts_only() {
        let chunks = two_texts_and_a_call();
        assert_eq!(render(&mut TextRender::new("\n"), &chunks), "Hello\nWorld");
        assert_eq!(
            render(&mut TextRender::new(" | "), &chunks),
            "Hello | World"
        );
    }

    #[test]
    fn pretty_render_matches_response_pretty() {
        let chunks = two_texts_and_a_call();
        let mut r = Response::default();
        chunks.iter().for_each(|c| r.apply(c));
        assert_eq!(render(&mut PrettyRender::default(), &chunks), r.pretty());
        assert_eq!(
            r.pretty(),
            "Hello\n\n**ToolCall (sqrt):** {\"number\":4}\n\nWorld"
        );
    }

    #[test]
    fn pretty_render_of_redacted_thoughts_and_provider_parts() {
        let chunks = vec![
            Chunk::ThoughtStart { part: 0 },
            Chunk::RedactedThought {
                part: 0,
                data: "opaque".into(),
            },
            Chunk::ThoughtEnd {
                part: 0,
                signature: None,
            },
            Chunk::ProviderPart {
                part: 1,
                provider: "anthropic".into(),
                kind: "server_tool_use".into(),
                json: serde_json::json!({"id": "s"}),
            },
            Chunk::text_start(2),
            Chunk::text(2, "Done"),
            Chunk::text_end(2),
        ];
        let mut r = Response::default();
        chunks.iter().for_each(|c| r.apply(c));
        assert_eq!(render(&mut PrettyRender::default(), &chunks), r.pretty());
        assert_eq!(
            r.pretty(),
            "**Thinking:**\n(redacted)\n\n**anthropic server_tool_use:** {\"id\":\"s\"}\n\nDone"
        );
    }
}
