//! `streams()`: one substream per content part.
//!
//! A single subscription is demultiplexed by part index. Parts are handed
//! out in the order they start; chunks of other parts that arrive while one
//! substream is being read (interleaved tool calls) are buffered for theirs.
//! A substream that is skipped or dropped stops buffering: its content still
//! reaches the final response through the accumulator.
//!
//! Both kinds of substream (the parts, and one part's deltas) are one
//! adaptor, [`Demuxed`], over what each reads from the demultiplexer
//! ([`Reader`]), so the `Iterator` and the `Stream` are each written once.

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
    /// A text part's deltas.
    Text,
    /// A thought's deltas.
    Thought,
    /// A tool call's argument fragments.
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

/// A started part not yet handed out: its index, kind, tool call id and
/// tool name.
type Announced = (usize, ContentType, String, String);

/// Sorts one subscription's chunks by part.
#[derive(Default)]
pub struct Demux {
    parts: HashMap<usize, PartBuf>,
    /// Parts started and not yet handed out, in start order.
    announced: VecDeque<Announced>,
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

    fn open(&mut self, announced: Announced) {
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
pub struct Source<S> {
    chunks: Chunks<S>,
    demux: Demux,
}

/// The source, shared by a response's substreams. A substream holds the
/// lock only while it takes what is ready or pulls one chunk, never across
/// an `.await` (a `poll` returns with it released).
type SourceRef<S> = Arc<Mutex<Source<S>>>;

fn lock<S>(s: &SourceRef<S>) -> MutexGuard<'_, Source<S>> {
    // A panic while the lock was held cannot leave the demux half-updated in
    // a way that matters more than losing the stream; keep going.
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// What one kind of substream takes from the demultiplexer.
///
/// `pub`, with [`Demux`] and [`Source`], only because [`Demuxed`]'s bounds
/// name it; this module is private, so no user can name or implement it.
pub trait Reader {
    /// What it yields over a source of type `S`.
    type Item<S>;
    /// The next item, the end (`Some(None)`), or `None` to pull another
    /// chunk first.
    fn ready<S>(
        &mut self,
        source: &SourceRef<S>,
        demux: &mut Demux,
    ) -> Option<Option<Self::Item<S>>>;
    /// The substream was dropped.
    fn dropped(&mut self, _demux: &mut Demux) {}
}

/// A substream: a [`Reader`] over the source its response's substreams
/// share. An `Iterator` over a blocking subscription, a `Stream` over an
/// async one; see [`PartStreams`] and [`PartStream`].
pub struct Demuxed<S, R: Reader> {
    source: SourceRef<S>,
    reader: R,
}

impl<S: Iterator<Item = Event>, R: Reader> Iterator for Demuxed<S, R> {
    type Item = R::Item<S>;
    fn next(&mut self) -> Option<Self::Item> {
        let mut guard = lock(&self.source);
        loop {
            if let Some(r) = self.reader.ready(&self.source, &mut guard.demux) {
                return r;
            }
            let item = guard.chunks.next();
            guard.demux.push(item);
        }
    }
}

impl<S: Stream<Item = Event> + Unpin, R: Reader + Unpin> Stream for Demuxed<S, R> {
    type Item = R::Item<S>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let mut guard = lock(&this.source);
        loop {
            if let Some(r) = this.reader.ready(&this.source, &mut guard.demux) {
                return Poll::Ready(r);
            }
            match Pin::new(&mut guard.chunks).poll_next(cx) {
                Poll::Ready(item) => guard.demux.push(item),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<S, R: Reader> Drop for Demuxed<S, R> {
    fn drop(&mut self) {
        let mut guard = lock(&self.source);
        self.reader.dropped(&mut guard.demux);
    }
}

/// The substreams of a response, in the order their parts start, each
/// `Ok(PartStream)` or, once, the stream's error.
///
/// Async, from [`crate::StreamResponse::streams`]. Each substream reads the
/// response's one detached subscription, which replays from the start:
/// parts already complete come out first.
pub type PartStreams = Demuxed<Subscription, NextPart>;
/// [`PartStreams`] for synchronous code ([`crate::Blocking::streams`]): an
/// `Iterator` of `Iterator`s.
pub type BlockingPartStreams = Demuxed<BlockingSubscription, NextPart>;
/// One content part's deltas, in order, then its end (or, once, the
/// stream's error). Keeps what it has yielded in `partial()`;
/// `collect_part` drains it into the final part. Dropping it unread is
/// fine: the part still completes in the response.
pub type PartStream = Demuxed<Subscription, PartDeltas>;
/// [`PartStream`] for synchronous code: an `Iterator`.
pub type BlockingPartStream = Demuxed<BlockingSubscription, PartDeltas>;

/// The [`Reader`] of [`PartStreams`]: hands out each part as it starts.
pub struct NextPart;

impl<S> Demuxed<S, NextPart> {
    pub(crate) fn new(chunks: Chunks<S>) -> Self {
        Demuxed {
            source: Arc::new(Mutex::new(Source {
                chunks,
                demux: Demux::default(),
            })),
            reader: NextPart,
        }
    }
}

impl Reader for NextPart {
    type Item<S> = Result<Demuxed<S, PartDeltas>, Error>;
    fn ready<S>(
        &mut self,
        source: &SourceRef<S>,
        demux: &mut Demux,
    ) -> Option<Option<Self::Item<S>>> {
        if let Some((part, content_type, id, name)) = demux.announced.pop_front() {
            return Some(Some(Ok(Demuxed {
                source: source.clone(),
                reader: PartDeltas {
                    part,
                    content_type,
                    id,
                    name,
                    partial: String::new(),
                    finished: false,
                },
            })));
        }
        if demux.ended {
            return Some(demux.take_error().map(Err));
        }
        None
    }
}

/// The [`Reader`] of [`PartStream`]: one part's deltas.
pub struct PartDeltas {
    part: usize,
    content_type: ContentType,
    id: String,
    name: String,
    partial: String,
    finished: bool,
}

impl Reader for PartDeltas {
    type Item<S> = Result<String, Error>;
    fn ready<S>(&mut self, _: &SourceRef<S>, demux: &mut Demux) -> Option<Option<Self::Item<S>>> {
        if self.finished {
            return Some(None);
        }
        let buf = demux.parts.get_mut(&self.part)?;
        if let Some(d) = buf.deltas.pop_front() {
            self.partial.push_str(&d);
            return Some(Some(Ok(d)));
        }
        if buf.ended {
            self.finished = true;
            return Some(None);
        }
        if demux.ended {
            self.finished = true;
            return Some(demux.take_error().map(Err));
        }
        None
    }

    fn dropped(&mut self, demux: &mut Demux) {
        if let Some(p) = demux.parts.get_mut(&self.part) {
            p.abandoned = true;
            p.deltas.clear();
        }
    }
}

impl<S> Demuxed<S, PartDeltas> {
    /// Text, thought or tool call.
    pub fn content_type(&self) -> ContentType {
        self.reader.content_type
    }
    /// The part's index in the response's content.
    pub fn part(&self) -> usize {
        self.reader.part
    }
    /// The tool call's id (empty for text and thoughts).
    pub fn id(&self) -> &str {
        &self.reader.id
    }
    /// The tool's name (empty for text and thoughts).
    pub fn name(&self) -> &str {
        &self.reader.name
    }
    /// Everything yielded so far.
    pub fn partial(&self) -> &str {
        &self.reader.partial
    }

    /// The whole part, once every delta has been read.
    fn into_part(self) -> ContentPart {
        let seal = lock(&self.source)
            .demux
            .parts
            .get(&self.reader.part)
            .map(|p| p.seal.clone())
            .unwrap_or_default();
        let r = &self.reader;
        match r.content_type {
            ContentType::Text => ContentPart::Text(Text {
                text: r.partial.clone(),
            }),
            ContentType::Thought => ContentPart::Thought(Thought {
                thought: r.partial.clone(),
                signature: seal.signature,
                redacted: seal.redacted,
            }),
            ContentType::ToolCall => ContentPart::ToolCall(ToolCall {
                id: r.id.clone(),
                name: r.name.clone(),
                args: r.partial.clone(),
                signature: seal.signature,
            }),
        }
    }
}

/// Reads the rest of a part from a synchronous source and returns it whole.
fn collect_part<S: Iterator<Item = Event>>(
    mut part: Demuxed<S, PartDeltas>,
) -> Result<ContentPart, Error> {
    for d in part.by_ref() {
        d?;
    }
    Ok(part.into_part())
}

impl PartStream {
    /// Reads the rest of the part and returns it whole: the deltas not yet
    /// read, with what the part's end carried (a thought's signature and
    /// redacted content, a tool call's signature).
    pub async fn collect_part(mut self) -> Result<ContentPart, Error> {
        use futures::StreamExt;
        while let Some(d) = self.next().await {
            d?;
        }
        Ok(self.into_part())
    }
}

impl BlockingPartStream {
    /// [`PartStream::collect_part`], blocking the thread.
    pub fn collect_part(self) -> Result<ContentPart, Error> {
        collect_part(self)
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

    fn streams(chunks: Vec<Chunk>, end: Outcome) -> Demuxed<std::vec::IntoIter<Event>, NextPart> {
        Demuxed::new(Chunks::new(events(chunks, end)))
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
            collect_part(second).unwrap(),
            ContentPart::ToolCall(ToolCall {
                id: "b".into(),
                name: "g".into(),
                args: "{\"y\":2}".into(),
                signature: None,
            })
        );
        assert_eq!(
            collect_part(thought).unwrap(),
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
            collect_part(thought).unwrap(),
            ContentPart::Thought(Thought {
                thought: String::new(),
                signature: None,
                redacted: Some("opaque".into()),
            })
        );
        let call = it.next().unwrap().unwrap();
        assert_eq!(
            collect_part(call).unwrap(),
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
