//! `streams()`: one substream per content part.
//!
//! A single subscription is demultiplexed by part index. Parts are handed
//! out in the order they start; chunks of other parts that arrive while one
//! substream is being read (interleaved tool calls) are buffered for theirs.
//! A substream that is skipped or dropped stops buffering: its content still
//! reaches the final response through the accumulator.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures::Stream;
use rivulet_actors::{BlockingSubscription, Event, SharedChunk, Subscription};
use rivulet_core::{Chunk, ContentPart, Error, Text, Thought, ToolCall};

use crate::consume::Chunks;

/// What a substream carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentType {
    Text,
    Thought,
    ToolCall,
}

impl ContentType {
    /// `"text"`, `"thought"` or `"tool_call"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentType::Text => "text",
            ContentType::Thought => "thought",
            ContentType::ToolCall => "tool_call",
        }
    }
}

/// What a part's end chunk carries, to be sent back on resume: a thought's
/// signature and redacted content, a tool call's signature.
#[derive(Clone, Debug, Default)]
struct Seal {
    signature: Option<String>,
    redacted: Option<String>,
}

struct PartBuf {
    deltas: VecDeque<String>,
    ended: bool,
    /// What the part's end chunk carried.
    seal: Seal,
    /// The substream was dropped: stop buffering for it.
    abandoned: bool,
}

#[derive(Default)]
struct Demux {
    parts: HashMap<usize, PartBuf>,
    /// Parts started and not yet handed out, in start order.
    announced: VecDeque<(usize, ContentType, String, String)>,
    ended: bool,
    error: Option<Error>,
    error_taken: bool,
}

impl Demux {
    fn push(&mut self, item: Option<Result<SharedChunk, Error>>) {
        let chunk = match item {
            Some(Ok(c)) => c,
            Some(Err(e)) => {
                self.ended = true;
                self.error = Some(e);
                return;
            }
            None => {
                self.ended = true;
                return;
            }
        };
        let start =
            |kind, id: &str, name: &str, part| (part, kind, id.to_string(), name.to_string());
        match &*chunk {
            Chunk::TextStart { part } => self.open(start(ContentType::Text, "", "", *part)),
            Chunk::ThoughtStart { part } => self.open(start(ContentType::Thought, "", "", *part)),
            Chunk::ToolCallStart { part, id, name } => {
                self.open(start(ContentType::ToolCall, id, name, *part))
            }
            Chunk::Text { part, delta }
            | Chunk::Thought { part, delta }
            | Chunk::ToolCall { part, delta, .. } => {
                if let Some(p) = self.parts.get_mut(part).filter(|p| !p.abandoned) {
                    p.deltas.push_back(delta.to_string());
                }
            }
            Chunk::TextEnd { part } => self.close(*part, Seal::default()),
            Chunk::ToolCallEnd {
                part, signature, ..
            } => self.close(
                *part,
                Seal {
                    signature: signature.clone(),
                    redacted: None,
                },
            ),
            Chunk::ThoughtEnd {
                part,
                signature,
                redacted,
            } => self.close(
                *part,
                Seal {
                    signature: signature.clone(),
                    redacted: redacted.clone(),
                },
            ),
            _ => {}
        }
    }

    fn open(&mut self, announced: (usize, ContentType, String, String)) {
        self.parts.insert(
            announced.0,
            PartBuf {
                deltas: VecDeque::new(),
                ended: false,
                seal: Seal::default(),
                abandoned: false,
            },
        );
        self.announced.push_back(announced);
    }

    fn close(&mut self, part: usize, seal: Seal) {
        if let Some(p) = self.parts.get_mut(&part) {
            p.ended = true;
            p.seal = seal;
        }
    }

    fn take_error(&mut self) -> Option<Error> {
        if self.error_taken {
            return None;
        }
        self.error_taken = true;
        self.error.clone()
    }
}

/// What the part substreams of one response share: the one subscription
/// they read and the demultiplexer that sorts its chunks by part.
struct Source<S> {
    chunks: Chunks<S>,
    demux: Demux,
}

type SourceRef<S> = Arc<Mutex<Source<S>>>;

fn lock<S>(s: &SourceRef<S>) -> MutexGuard<'_, Source<S>> {
    // A panic while the lock was held cannot leave the demux half-updated in
    // a way that matters more than losing the stream; keep going.
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// The substreams of a response, in the order their parts start.
/// `Iterator` (blocking) or `Stream` (async), by subscription type.
pub struct PartStreamsOf<S> {
    shared: SourceRef<S>,
}

/// Async substreams ([`crate::StreamResponse::streams`]).
pub type PartStreams = PartStreamsOf<Subscription>;
/// Blocking substreams ([`crate::Blocking::streams`]).
pub type BlockingPartStreams = PartStreamsOf<BlockingSubscription>;
/// One async substream.
pub type PartStream = PartStreamOf<Subscription>;
/// One blocking substream.
pub type BlockingPartStream = PartStreamOf<BlockingSubscription>;

impl<S> PartStreamsOf<S> {
    pub(crate) fn new(chunks: Chunks<S>) -> Self {
        PartStreamsOf {
            shared: Arc::new(Mutex::new(Source {
                chunks,
                demux: Demux::default(),
            })),
        }
    }

    /// The next announced part, the error, the end, or `None` to pull more.
    fn ready(&self, shared: &mut Source<S>) -> Option<Option<Result<PartStreamOf<S>, Error>>> {
        if let Some((part, content_type, id, name)) = shared.demux.announced.pop_front() {
            return Some(Some(Ok(PartStreamOf {
                shared: self.shared.clone(),
                part,
                content_type,
                id,
                name,
                partial: String::new(),
                finished: false,
            })));
        }
        if shared.demux.ended {
            return Some(shared.demux.take_error().map(Err));
        }
        None
    }
}

impl<S: Iterator<Item = Event>> Iterator for PartStreamsOf<S> {
    type Item = Result<PartStreamOf<S>, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        let shared = self.shared.clone();
        let mut guard = lock(&shared);
        loop {
            if let Some(r) = self.ready(&mut guard) {
                return r;
            }
            let item = guard.chunks.next();
            guard.demux.push(item);
        }
    }
}

impl<S: Stream<Item = Event> + Unpin> Stream for PartStreamsOf<S> {
    type Item = Result<PartStreamOf<S>, Error>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let shared = self.shared.clone();
        let mut guard = lock(&shared);
        loop {
            if let Some(r) = self.ready(&mut guard) {
                return Poll::Ready(r);
            }
            match Pin::new(&mut guard.chunks).poll_next(cx) {
                Poll::Ready(item) => guard.demux.push(item),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// One content part's deltas. Keeps what it has yielded in
/// [`PartStreamOf::partial`]; `collect_part` (`collect_part_blocking`) drains it into
/// the final part. Dropping it unread is fine: the part still completes in
/// the response.
pub struct PartStreamOf<S> {
    shared: SourceRef<S>,
    part: usize,
    content_type: ContentType,
    id: String,
    name: String,
    partial: String,
    finished: bool,
}

impl<S> PartStreamOf<S> {
    /// Text, thought or tool call.
    pub fn content_type(&self) -> ContentType {
        self.content_type
    }
    /// The part's index in the response's content.
    pub fn part(&self) -> usize {
        self.part
    }
    /// The tool call's id (empty for text and thoughts).
    pub fn id(&self) -> &str {
        &self.id
    }
    /// The tool's name (empty for text and thoughts).
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Everything yielded so far.
    pub fn partial(&self) -> &str {
        &self.partial
    }

    /// The next delta, the error, the end, or `None` to pull more.
    fn ready(&mut self, shared: &mut Source<S>) -> Option<Option<Result<String, Error>>> {
        if self.finished {
            return Some(None);
        }
        let buf = shared.demux.parts.get_mut(&self.part)?;
        if let Some(d) = buf.deltas.pop_front() {
            self.partial.push_str(&d);
            return Some(Some(Ok(d)));
        }
        if buf.ended {
            self.finished = true;
            return Some(None);
        }
        if shared.demux.ended {
            self.finished = true;
            return Some(shared.demux.take_error().map(Err));
        }
        None
    }

    fn into_part(self, seal: Seal) -> ContentPart {
        match self.content_type {
            ContentType::Text => ContentPart::Text(Text {
                text: self.partial.clone(),
            }),
            ContentType::Thought => ContentPart::Thought(Thought {
                thought: self.partial.clone(),
                signature: seal.signature,
                redacted: seal.redacted,
            }),
            ContentType::ToolCall => ContentPart::ToolCall(ToolCall {
                id: self.id.clone(),
                name: self.name.clone(),
                args: self.partial.clone(),
                signature: seal.signature,
            }),
        }
    }

    fn seal(&self) -> Seal {
        lock(&self.shared)
            .demux
            .parts
            .get(&self.part)
            .map(|p| p.seal.clone())
            .unwrap_or_default()
    }
}

impl<S: Iterator<Item = Event>> PartStreamOf<S> {
    /// Reads the rest of the part and returns it whole (blocking twin of
    /// `collect_part`).
    pub fn collect_part_blocking(mut self) -> Result<ContentPart, Error> {
        for d in self.by_ref() {
            d?;
        }
        let seal = self.seal();
        Ok(self.into_part(seal))
    }
}

impl<S: Stream<Item = Event> + Unpin> PartStreamOf<S> {
    /// Reads the rest of the part and returns it whole.
    pub async fn collect_part(mut self) -> Result<ContentPart, Error> {
        use futures::StreamExt;
        while let Some(d) = self.next().await {
            d?;
        }
        let seal = self.seal();
        Ok(self.into_part(seal))
    }
}

impl<S: Iterator<Item = Event>> Iterator for PartStreamOf<S> {
    type Item = Result<String, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        let shared = self.shared.clone();
        let mut guard = lock(&shared);
        loop {
            if let Some(r) = self.ready(&mut guard) {
                return r;
            }
            let item = guard.chunks.next();
            guard.demux.push(item);
        }
    }
}

impl<S: Stream<Item = Event> + Unpin> Stream for PartStreamOf<S> {
    type Item = Result<String, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let shared = self.shared.clone();
        let mut guard = lock(&shared);
        loop {
            if let Some(r) = self.ready(&mut guard) {
                return Poll::Ready(r);
            }
            match Pin::new(&mut guard.chunks).poll_next(cx) {
                Poll::Ready(item) => guard.demux.push(item),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S> Drop for PartStreamOf<S> {
    fn drop(&mut self) {
        let mut guard = lock(&self.shared);
        if let Some(p) = guard.demux.parts.get_mut(&self.part) {
            p.abandoned = true;
            p.deltas.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet_actors::Outcome;

    fn events(chunks: Vec<Chunk>, end: Outcome) -> std::vec::IntoIter<Event> {
        let mut v: Vec<Event> = chunks
            .into_iter()
            .map(|c| Event::Chunk(SharedChunk::new(c)))
            .collect();
        v.push(Event::End(end));
        v.into_iter()
    }

    fn streams(chunks: Vec<Chunk>, end: Outcome) -> PartStreamsOf<std::vec::IntoIter<Event>> {
        PartStreamsOf::new(Chunks::new(events(chunks, end)))
    }

    fn call(part: usize, id: &str, delta: &str) -> Chunk {
        Chunk::ToolCall {
            part,
            id: id.into(),
            delta: delta.into(),
        }
    }

    fn interleaved() -> Vec<Chunk> {
        vec![
            Chunk::ThoughtStart { part: 0 },
            Chunk::Thought {
                part: 0,
                delta: "hm".into(),
            },
            Chunk::ThoughtEnd {
                part: 0,
                signature: Some("sig".into()),
                redacted: Some("opaque".into()),
            },
            Chunk::ToolCallStart {
                part: 1,
                id: "a".into(),
                name: "f".into(),
            },
            Chunk::ToolCallStart {
                part: 2,
                id: "b".into(),
                name: "g".into(),
            },
            call(2, "b", "{\"y\":"),
            call(1, "a", "{\"x\":"),
            call(2, "b", "2}"),
            call(1, "a", "1}"),
            Chunk::ToolCallEnd {
                part: 1,
                id: "a".into(),
                signature: None,
            },
            Chunk::ToolCallEnd {
                part: 2,
                id: "b".into(),
                signature: None,
            },
        ]
    }

    #[test]
    fn interleaved_parts_come_out_whole_and_in_start_order() {
        let mut parts = Vec::new();
        for s in streams(interleaved(), Outcome::Finished) {
            let s = s.unwrap();
            let kind = s.content_type();
            let name = s.name().to_string();
            let deltas: Vec<String> = s.map(Result::unwrap).collect();
            parts.push((kind, name, deltas));
        }
        assert_eq!(
            parts,
            vec![
                (ContentType::Thought, "".into(), vec!["hm".into()]),
                (
                    ContentType::ToolCall,
                    "f".into(),
                    vec!["{\"x\":".into(), "1}".into()]
                ),
                (
                    ContentType::ToolCall,
                    "g".into(),
                    vec!["{\"y\":".into(), "2}".into()]
                ),
            ]
        );
    }

    #[test]
    fn skipped_parts_are_fine_and_collect_gives_the_part() {
        let mut it = streams(interleaved(), Outcome::Finished);
        let thought = it.next().unwrap().unwrap();
        // Skip the first tool call entirely (dropped unread).
        drop(it.next().unwrap().unwrap());
        let second = it.next().unwrap().unwrap();
        assert_eq!(
            second.collect_part_blocking().unwrap(),
            ContentPart::ToolCall(ToolCall {
                id: "b".into(),
                name: "g".into(),
                args: "{\"y\":2}".into(),
                signature: None,
            })
        );
        assert_eq!(
            thought.collect_part_blocking().unwrap(),
            ContentPart::Thought(Thought {
                thought: "hm".into(),
                signature: Some("sig".into()),
                redacted: Some("opaque".into())
            })
        );
        assert!(it.next().is_none());
    }

    #[test]
    fn collect_keeps_redacted_data_and_tool_call_signatures() {
        let chunks = vec![
            Chunk::ThoughtStart { part: 0 },
            Chunk::ThoughtEnd {
                part: 0,
                signature: None,
                redacted: Some("opaque".into()),
            },
            // A provider part gets no substream.
            Chunk::provider_part(1, "anthropic", "server_tool_use", serde_json::json!({})),
            Chunk::ToolCallStart {
                part: 2,
                id: "c".into(),
                name: "f".into(),
            },
            call(2, "c", "{}"),
            Chunk::ToolCallEnd {
                part: 2,
                id: "c".into(),
                signature: Some("sig".into()),
            },
        ];
        let mut it = streams(chunks, Outcome::Finished);
        let thought = it.next().unwrap().unwrap();
        assert_eq!(
            thought.collect_part_blocking().unwrap(),
            ContentPart::Thought(Thought {
                thought: String::new(),
                signature: None,
                redacted: Some("opaque".into()),
            })
        );
        let call = it.next().unwrap().unwrap();
        assert_eq!(
            call.collect_part_blocking().unwrap(),
            ContentPart::ToolCall(ToolCall {
                id: "c".into(),
                name: "f".into(),
                args: "{}".into(),
                signature: Some("sig".into()),
            })
        );
        assert!(it.next().is_none());
    }

    #[test]
    fn a_failure_mid_part_reaches_the_open_substream_once() {
        let chunks = vec![Chunk::text_start(0), Chunk::text(0, "par")];
        let mut it = streams(chunks, Outcome::failed(Error::connection("reset")));
        let mut text = it.next().unwrap().unwrap();
        assert_eq!(text.next().unwrap().unwrap(), "par");
        assert_eq!(
            text.next().unwrap().unwrap_err().kind(),
            rivulet_core::ErrorKind::Connection
        );
        assert!(text.next().is_none());
        assert_eq!(text.partial(), "par");
        // The error was delivered already: the parent just ends.
        assert!(it.next().is_none());
    }
}
