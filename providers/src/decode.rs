//! What every decoder shares (Chat Completions, Responses, Anthropic,
//! Gemini, Cohere, Bedrock): the [`EventDecoder`] contract (a pure state
//! machine from wire events to chunks), the [`Driver`] that implements it
//! once for every [`Protocol`] (each protocol says only what its events
//! mean; the driver keeps the phase, the provider id, raw events and the
//! rules of the end and of failure), the [`DecodeStream`] that drives one
//! over a body, [`decode_all`] and [`decode_sse_pieces`] that drive one over
//! bytes in memory, part numbering, usage deltas, raw chunks, and in-band
//! error codes.
//!
//! A decoder never does I/O: the provider feeds it events read over HTTP,
//! tests feed it events parsed from bytes in memory.

use std::borrow::Cow;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::{Stream, StreamExt};
use rivulet_core::{ApiKey, Chunk, Error, RawEvent, Usage};

use crate::sse::{SseEvent, SseParser, SseRef};

/// What a decoder returns per event: chunks, possibly ending with one error.
pub type Decoded = Vec<Result<Chunk, Error>>;

/// Where a decoder is in its stream. Once it leaves `Streaming` it stays
/// out: [`EventDecoder::is_done`] is true and further input is ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Streaming,
    /// The protocol's terminal event, or a clean end of the byte stream.
    Done,
    /// An error was returned; nothing follows it.
    Failed,
}

/// A wire decoder: events in, chunks out.
///
/// After [`EventDecoder::is_done`] turns true (a terminal event, an error,
/// or [`EventDecoder::finish`]), every method returns nothing.
pub trait EventDecoder: Send + 'static {
    /// One parsed wire event (an SSE event, an eventstream message).
    type Event;

    /// Decodes one event.
    fn feed(&mut self, event: &Self::Event) -> Decoded;

    /// The body ended: a normal end after the terminal event, else
    /// [`cut_short`](crate::errors::cut_short)'s [`Error::Connection`] (the response was cut short).
    fn finish(&mut self) -> Decoded;

    /// The stream failed with `err` (in the transport, or in an event the
    /// decoder read): ends the open text or thought parts (what arrived is
    /// kept; tool calls stay open, a cut-off call must never run), pushes
    /// the error and makes the decoder done. Only called while it is not.
    fn fail_into(&mut self, out: &mut Decoded, err: Error);

    /// True once the stream is over: the caller can drop the connection.
    fn is_done(&self) -> bool;

    /// The transport failed with `err`: [`EventDecoder::fail_into`], or
    /// nothing if the stream was already over.
    fn fail(&mut self, err: Error) -> Decoded {
        let mut out = Vec::new();
        if !self.is_done() {
            self.fail_into(&mut out, err);
        }
        out
    }
}

/// What an event means for the stream as a whole, as a [`Protocol`]
/// reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// More events follow.
    Continue,
    /// The protocol's terminal event: the stream is over, nothing follows.
    Done,
}

/// One wire protocol's part of a decoder: its events and what each one
/// means. The [`Driver`] does the rest, once for every protocol: it skips
/// input after the end, fails the stream on an error (ending the open text
/// and thought parts first) and keeps the provider id and the raw-events
/// switch ([`Wire`]).
pub trait Protocol: Send + 'static {
    /// One parsed wire event (an SSE event, an eventstream message), which
    /// the protocol reads borrowed ([`WireEvent::View`]).
    type Event: WireEvent;

    /// Reads one event, pushing its chunks to `out`. An `Err` fails the
    /// stream: the driver calls [`Protocol::interrupt`] and pushes the
    /// error after what `out` holds.
    fn event(
        &mut self,
        wire: &Wire,
        event: <Self::Event as WireEvent>::View<'_>,
        out: &mut Decoded,
    ) -> Result<Flow, Error>;

    /// The body ended before the protocol's terminal event: `Ok` after
    /// pushing what closes a stream that may end this way (a Gemini stream
    /// ends with its body), else the error ([`cut_short`](crate::errors::cut_short)), which fails the
    /// stream.
    fn end(&mut self, wire: &Wire, out: &mut Decoded) -> Result<(), Error>;

    /// The stream is failing: ends the open text and thought parts (what
    /// arrived is kept), and may report what is known so far (Gemini's
    /// usage). Tool calls stay open whatever the protocol: a cut-off call
    /// must never run.
    fn interrupt(&mut self, wire: &Wire, out: &mut Decoded);
}

/// A wire event, owned, and the view of it a [`Protocol`] reads: an SSE
/// event is read as an [`SseRef`], which the parser lends without copying
/// the event out of the body's frame.
pub trait WireEvent: Send + 'static {
    /// The event, borrowed.
    type View<'a>: Copy;

    /// The event, borrowed.
    fn view(&self) -> Self::View<'_>;
}

impl WireEvent for SseEvent {
    type View<'a> = SseRef<'a>;

    fn view(&self) -> SseRef<'_> {
        SseEvent::view(self)
    }
}

/// What a [`Driver`] tells its protocol about the stream being decoded.
#[derive(Clone, Debug)]
pub struct Wire {
    provider: String,
    raw_events: bool,
}

impl Wire {
    /// The provider id, for errors, raw events and provider parts.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Whether the user asked for raw events ([`Chunk::Raw`]).
    pub fn raw_events(&self) -> bool {
        self.raw_events
    }

    /// Pushes a raw chunk of the event `json` when raw events are on:
    /// typed when the event parsed.
    pub(crate) fn push_raw<T: std::any::Any + Send + Sync>(
        &self,
        out: &mut Decoded,
        json: &str,
        typed: Option<T>,
    ) {
        if !self.raw_events {
            return;
        }
        let raw = match typed {
            Some(t) => RawEvent::new(&self.provider, json, t),
            None => RawEvent::untyped(&self.provider, json),
        };
        out.push(Ok(Chunk::Raw(raw)));
    }

    /// Parses one event's `data` (the event `json`, trimmed) as `T`. With
    /// raw events on, also pushes the raw chunk: typed when the data
    /// parsed, as text when it did not. The serde error goes back to the
    /// caller, which words its own protocol error.
    pub(crate) fn parse<T>(
        &self,
        out: &mut Decoded,
        json: &str,
        data: &str,
    ) -> Result<T, serde_json::Error>
    where
        T: serde::de::DeserializeOwned + Clone + std::any::Any + Send + Sync,
    {
        match serde_json::from_str::<T>(data) {
            Ok(parsed) => {
                if self.raw_events {
                    self.push_raw(out, json, Some(parsed.clone()));
                }
                Ok(parsed)
            }
            Err(e) => {
                self.push_raw::<T>(out, json, None);
                Err(e)
            }
        }
    }
}

/// A decoder: one [`Protocol`] and the rules every protocol shares.
///
/// Each protocol module names its own (`openai::ChatDecoder` is
/// `Driver<ChatCompletions>`) and gives it a `new`.
#[derive(Debug)]
pub struct Driver<P> {
    wire: Wire,
    phase: Phase,
    protocol: P,
}

impl<P: Protocol> Driver<P> {
    /// A decoder of `protocol` for `provider` (used in errors and raw
    /// events).
    pub(crate) fn with(provider: &str, protocol: P) -> Self {
        Driver {
            wire: Wire {
                provider: provider.to_string(),
                raw_events: false,
            },
            phase: Phase::Streaming,
            protocol,
        }
    }

    /// Also emit a [`Chunk::Raw`] for each event (typed as the protocol's
    /// wire type where it parses).
    pub fn raw_events(mut self, on: bool) -> Self {
        self.wire.raw_events = on;
        self
    }

    /// Decodes one event, borrowed, appending its chunks to `out`: the
    /// path of a body, with neither a copy of the event nor a `Vec` of its
    /// own.
    pub fn feed_into(&mut self, event: <P::Event as WireEvent>::View<'_>, out: &mut Decoded) {
        if self.is_done() {
            return;
        }
        match self.protocol.event(&self.wire, event, out) {
            Ok(Flow::Continue) => {}
            Ok(Flow::Done) => self.phase = Phase::Done,
            Err(err) => self.fail_into(out, err),
        }
    }
}

/// A protocol whose structured output can come as the calls of a tool
/// (Anthropic Messages and Bedrock Converse, which have no JSON-schema
/// output mode; see [`FORMAT_TOOL`](crate::config::FORMAT_TOOL)): its
/// decoder reads that tool's calls as text ([`Driver::format_tool`]).
pub trait FormatToolProtocol: Protocol {
    /// Where the protocol keeps the name of the tool that carries
    /// structured output (`None`: the request has no format).
    fn format_tool_mut(&mut self) -> &mut Option<String>;
}

impl<P: FormatToolProtocol> Driver<P> {
    /// The name of the tool that carries structured output
    /// ([`FORMAT_TOOL`](crate::config::FORMAT_TOOL) when the request has a
    /// format): its calls come out as text chunks (the JSON it writes, as
    /// Mirascope does for `tool`-mode formats), and the `tool_use` stop
    /// after them, when no other tool was called, as `stop`.
    pub fn format_tool(mut self, name: Option<&str>) -> Self {
        *self.protocol.format_tool_mut() = name.map(str::to_string);
        self
    }
}

impl<P: Protocol> EventDecoder for Driver<P> {
    type Event = P::Event;

    /// Decodes one event.
    fn feed(&mut self, event: &P::Event) -> Decoded {
        let mut out = Vec::new();
        self.feed_into(event.view(), &mut out);
        out
    }

    /// The byte stream ended: a normal end after the terminal event (or
    /// where the protocol allows one), else [`cut_short`](crate::errors::cut_short)'s error.
    fn finish(&mut self) -> Decoded {
        let mut out = Vec::new();
        if self.is_done() {
            return out;
        }
        match self.protocol.end(&self.wire, &mut out) {
            Ok(()) => self.phase = Phase::Done,
            Err(err) => self.fail_into(&mut out, err),
        }
        out
    }

    /// The stream failed with `err`: ends the open text and thought parts
    /// (never a tool call) and pushes the error.
    fn fail_into(&mut self, out: &mut Decoded, err: Error) {
        self.protocol.interrupt(&self.wire, out);
        self.phase = Phase::Failed;
        out.push(Err(err.with_provider(&self.wire.provider)));
    }

    /// True once the stream is over (the terminal event, an error, or
    /// [`EventDecoder::finish`]): further input is ignored, the caller can
    /// drop the connection.
    fn is_done(&self) -> bool {
        self.phase != Phase::Streaming
    }
}

/// A stream of parsed wire events, or of a body's frames: the input of a
/// [`DecodeStream`].
pub type EventStream<E> = Pin<Box<dyn Stream<Item = Result<E, Error>> + Send>>;

/// What a [`DecodeStream`] drives: a decoder and whatever turns the items
/// of its input (parsed events, or a body's frames) into events for it.
pub trait Feed: Send + 'static {
    /// One item of the input.
    type Item;

    /// Decodes one item, appending the chunks to `out`.
    fn item(&mut self, item: Self::Item, out: &mut Decoded);

    /// The input ended, appending the last chunks to `out`
    /// ([`EventDecoder::finish`]).
    fn end(&mut self, out: &mut Decoded);

    /// The input failed with `err` ([`EventDecoder::fail`]).
    fn fail(&mut self, err: Error, out: &mut Decoded);

    /// True once the stream is over ([`EventDecoder::is_done`]).
    fn is_done(&self) -> bool;
}

/// A decoder fed events already parsed (Bedrock's eventstream messages),
/// each lent to it as its view: the chunks go straight to the stream's
/// buffer, with no `Vec` per event.
#[derive(Debug)]
pub struct EventFeed<P>(pub Driver<P>);

impl<P: Protocol> Feed for EventFeed<P> {
    type Item = P::Event;

    fn item(&mut self, event: P::Event, out: &mut Decoded) {
        self.0.feed_into(event.view(), out);
    }

    fn end(&mut self, out: &mut Decoded) {
        out.extend(self.0.finish());
    }

    fn fail(&mut self, err: Error, out: &mut Decoded) {
        if !self.0.is_done() {
            self.0.fail_into(out, err);
        }
    }

    fn is_done(&self) -> bool {
        self.0.is_done()
    }
}

/// An SSE body's frames through an [`SseParser`] into a decoder, each
/// event lent to the decoder as it is parsed ([`SseParser::feed_with`]):
/// no event is copied out of its frame or queued.
#[derive(Debug)]
pub struct SseFeed<P> {
    parser: SseParser,
    decoder: Driver<P>,
}

impl<P: Protocol<Event = SseEvent>> SseFeed<P> {
    /// Feeds a body to `decoder`.
    pub fn new(decoder: Driver<P>) -> Self {
        SseFeed {
            parser: SseParser::new(),
            decoder,
        }
    }
}

impl<P: Protocol<Event = SseEvent>> Feed for SseFeed<P> {
    type Item = bytes::Bytes;

    fn item(&mut self, frame: bytes::Bytes, out: &mut Decoded) {
        let decoder = &mut self.decoder;
        let parsed = self
            .parser
            .feed_with(&frame, |event| decoder.feed_into(event, out));
        if let Err(e) = parsed {
            Feed::fail(self, e, out);
        }
    }

    fn end(&mut self, out: &mut Decoded) {
        match self.parser.finish() {
            Ok(()) => out.extend(self.decoder.finish()),
            Err(e) => Feed::fail(self, e, out),
        }
    }

    fn fail(&mut self, err: Error, out: &mut Decoded) {
        if !self.decoder.is_done() {
            self.decoder.fail_into(out, err);
        }
    }

    fn is_done(&self) -> bool {
        self.decoder.is_done()
    }
}

/// The chunk stream of a provider: its input through a [`Feed`] (an SSE
/// body through an [`SseFeed`], parsed events through an [`EventFeed`]). It
/// drops the input (closing the connection) as soon as the decoder is
/// done, and when dropped itself. Errors are scrubbed of the key.
pub struct DecodeStream<F: Feed> {
    input: Option<EventStream<F::Item>>,
    feed: F,
    /// Chunks decoded and not yet returned, last first: one buffer for the
    /// whole stream, filled once per input item.
    ready: Vec<Result<Chunk, Error>>,
    key: Option<ApiKey>,
}

impl<F: Feed> DecodeStream<F> {
    /// Decodes `input` with `feed`; errors are scrubbed of `key`.
    pub fn new(input: EventStream<F::Item>, feed: F, key: Option<ApiKey>) -> Self {
        DecodeStream {
            input: Some(input),
            feed,
            ready: Vec::new(),
            key,
        }
    }
}

impl<F: Feed> Unpin for DecodeStream<F> {}

impl<F: Feed> Stream for DecodeStream<F> {
    type Item = Result<Chunk, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(item) = this.ready.pop() {
                return Poll::Ready(Some(
                    item.map_err(|e| crate::errors::redact(e, this.key.as_ref())),
                ));
            }
            let Some(input) = this.input.as_mut() else {
                return Poll::Ready(None);
            };
            match input.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(item))) => this.feed.item(item, &mut this.ready),
                Poll::Ready(Some(Err(e))) => this.feed.fail(e, &mut this.ready),
                Poll::Ready(None) => {
                    this.feed.end(&mut this.ready);
                    this.input = None;
                }
                Poll::Pending => return Poll::Pending,
            }
            this.ready.reverse();
            if this.feed.is_done() {
                if let Some(mut input) = this.input.take() {
                    // One more poll sees the end of the body if it is
                    // already here (the connection can go back to the
                    // pool); if it is not, the connection is dropped.
                    let _ = input.poll_next_unpin(cx);
                }
            }
        }
    }
}

/// Drives `decoder` over events already parsed (a body in memory): for
/// tests and benchmarks. Stops at the first error or when the decoder is
/// done.
pub fn decode_all<P, I>(decoder: Driver<P>, events: I) -> Decoded
where
    P: Protocol,
    I: IntoIterator<Item = Result<P::Event, Error>>,
{
    drive(EventFeed(decoder), events)
}

/// Drives `feed` over `items` in memory, as a [`DecodeStream`] would.
fn drive<F: Feed>(mut feed: F, items: impl IntoIterator<Item = Result<F::Item, Error>>) -> Decoded {
    let mut out = Vec::new();
    for item in items {
        match item {
            Ok(item) => feed.item(item, &mut out),
            Err(e) => feed.fail(e, &mut out),
        }
        if feed.is_done() {
            return out;
        }
    }
    feed.end(&mut out);
    out
}

/// Decodes an SSE body already in memory, delivered in `pieces` (as a
/// network would cut it): the SSE parser and the decoder exactly as over
/// HTTP, without the HTTP.
pub fn decode_sse_pieces<P, I, B>(decoder: Driver<P>, pieces: I) -> Decoded
where
    P: Protocol<Event = SseEvent>,
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let frames = pieces
        .into_iter()
        .map(|p| Ok(bytes::Bytes::copy_from_slice(p.as_ref())));
    drive(SseFeed::new(decoder), frames)
}

/// Hands out part numbers in order of first appearance.
#[derive(Clone, Debug, Default)]
pub(crate) struct Parts {
    next: usize,
}

impl Parts {
    /// The next part number, handed out.
    pub(crate) fn take(&mut self) -> usize {
        let p = self.next;
        self.next += 1;
        p
    }

    /// The number [`Parts::take`] hands out next.
    pub(crate) fn peek(&self) -> usize {
        self.next
    }
}

/// A decoder's fast path: a small type that reads the common event (a
/// text delta) borrowed, tried before the whole parse (Chat Completions'
/// `TextChunk`, Gemini's `TextResponse`, Bedrock's `TextBlockDelta`). An
/// event of the known shape that carries more than text is no miss, only
/// one the small type cannot read; a server whose every event carries
/// fields the type does not know would fail it every time, so after
/// [`FastPath::MISSES`] misses in a row it is no longer tried (each miss
/// costs a parse).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastPath {
    /// Misses in a row.
    misses: u8,
}

impl FastPath {
    /// Misses in a row after which the fast path is no longer tried.
    pub(crate) const MISSES: u8 = 8;

    /// A fast path that is never tried: for tests that compare the whole
    /// parse with it.
    #[cfg(test)]
    pub(crate) fn closed() -> Self {
        FastPath {
            misses: Self::MISSES,
        }
    }

    /// `data` read as `T`, while the fast path is still tried: `None` when
    /// it is not, or when `data` is not of `T`'s shape (a miss).
    #[inline]
    pub(crate) fn read<'a, T: serde::Deserialize<'a>>(&mut self, data: &'a str) -> Option<T> {
        if self.misses >= Self::MISSES {
            return None;
        }
        match serde_json::from_str::<T>(data) {
            Ok(read) => {
                self.misses = 0;
                Some(read)
            }
            Err(_) => {
                self.misses += 1;
                None
            }
        }
    }
}

/// Turns usage reports into the deltas core expects, whether the provider
/// sends one total (OpenAI), cumulative snapshots (Anthropic, Gemini) or
/// reports that omit fields: consumers only ever add, and what they add up
/// to is always the latest value of every field reported
/// ([`Usage::delta_since`]). A snapshot below the one before is the
/// provider correcting itself, and its delta is negative.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct UsageTracker {
    /// What the deltas sent so far add up to: per field, the latest value
    /// reported. A field a report omits keeps its value (it does not count
    /// twice when it reappears).
    sent: Usage,
}

impl UsageTracker {
    /// Pushes the delta that brings what was sent to `snapshot`, as a
    /// chunk (none when it changes nothing).
    pub(crate) fn report(&mut self, snapshot: Usage, out: &mut Decoded) {
        let delta = snapshot.delta_since(&self.sent);
        if !delta.is_empty() {
            self.sent.apply(&delta);
            out.push(Ok(Chunk::UsageDelta {
                usage: Box::new(delta),
            }));
        }
    }
}

/// Deserializes an optional string borrowed from the input when it has no
/// escapes, for `#[serde(default, borrow, deserialize_with = ...)]` on an
/// `Option<Cow<'a, str>>` field: serde's `borrow` reaches a `Cow` only
/// when it is the field's own type, and inside an `Option` it copies every
/// string.
pub(crate) fn lent_str<'de: 'a, 'a, D>(d: D) -> Result<Option<Cow<'a, str>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(serde::Deserialize)]
    struct Lent<'a>(#[serde(borrow)] Cow<'a, str>);
    let lent: Option<Lent<'a>> = serde::Deserialize::deserialize(d)?;
    Ok(lent.map(|l| l.0))
}

/// `v[key]` as text, when it is a string (citation objects, whose
/// fields vary by kind, are read this way rather than typed).
pub(crate) fn str_field(v: &serde_json::Value, key: &str) -> Option<String> {
    v.get(key)?.as_str().map(str::to_owned)
}

/// `v[key]` as an index, when it is a non-negative integer that fits.
pub(crate) fn index_field(v: &serde_json::Value, key: &str) -> Option<usize> {
    usize::try_from(v.get(key)?.as_u64()?).ok()
}

/// What a decoder of `protocol` makes of `events` and the end of the body,
/// each chunk or error as its `Debug` line: for tests that compare two
/// ways of decoding the same stream.
#[cfg(test)]
pub(crate) fn decoded_lines<P: Protocol>(
    provider: &str,
    protocol: P,
    events: &[P::Event],
) -> Vec<String> {
    let mut d = Driver::with(provider, protocol);
    let mut out: Vec<String> = Vec::new();
    for e in events {
        out.extend(d.feed(e).iter().map(|c| format!("{c:?}")));
    }
    out.extend(d.finish().iter().map(|c| format!("{c:?}")));
    out
}

/// What a caller of `decoder` sees of `events` and the end of the body:
/// the chunks applied to one response, and the error the stream ended
/// with, if any. For tests.
#[cfg(test)]
pub(crate) fn response_of<P: Protocol>(
    mut decoder: Driver<P>,
    events: &[P::Event],
) -> (rivulet_core::Response, Option<Error>) {
    let mut out = Vec::new();
    for e in events {
        out.extend(decoder.feed(e));
    }
    out.extend(decoder.finish());
    let mut r = rivulet_core::Response::default();
    let mut err = None;
    for c in out {
        match c {
            Ok(c) => r.apply(&c),
            Err(e) => err = Some(e),
        }
    }
    (r, err)
}

/// Asserts that a protocol with its fast path (`fast()`) and without it
/// (`whole()`) decode every recording alike: the same chunks and errors, in
/// the same order. Returns how many events `on_fast_path` says the fast
/// path read, so that a test can check it covered more than refusals.
#[cfg(test)]
pub(crate) fn assert_decodes_alike<P: Protocol>(
    provider: &str,
    recordings: &[(std::path::PathBuf, Vec<P::Event>)],
    fast: impl Fn() -> P,
    whole: impl Fn() -> P,
    on_fast_path: impl Fn(&P::Event) -> bool,
) -> usize {
    let mut on_it = 0;
    for (f, events) in recordings {
        assert_eq!(
            decoded_lines(provider, fast(), events),
            decoded_lines(provider, whole(), events),
            "{}",
            f.display()
        );
        on_it += events.iter().filter(|e| on_fast_path(e)).count();
    }
    on_it
}

/// The events of every recorded `.sse` transcript in `testdata/wire`, by
/// file: for tests that must hold on every real stream.
#[cfg(test)]
pub(crate) fn recorded_sse_events() -> Vec<(std::path::PathBuf, Vec<SseEvent>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/wire");
    let mut files = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "sse") {
                files.push(f);
            }
        }
    }
    assert!(files.len() > 50, "{} transcripts", files.len());
    files
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).unwrap();
            let mut events = Vec::new();
            let _ = crate::sse::SseParser::new().feed(&bytes, &mut events);
            (f, events)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::error_from_code;
    use rivulet_core::{ErrorKind, UsageDelta};

    /// The hot fields borrow from the event (no copy per chunk) unless an
    /// escape forces a copy; either way they read the same.
    #[test]
    fn optional_strings_are_lent_from_the_event() {
        use crate::openai::openai_wire::ChatCompletionChunk;
        let json = r#"{"id":"c1","choices":[{"delta":{"reasoning":"hm"},"finish_reason":"stop"}]}"#;
        let c: ChatCompletionChunk = serde_json::from_str(json).unwrap();
        assert!(matches!(c.id, Some(Cow::Borrowed("c1"))));
        let choice = &c.choices.as_deref().unwrap()[0];
        assert!(matches!(choice.finish_reason, Some(Cow::Borrowed("stop"))));
        let delta = choice.delta.as_ref().unwrap();
        assert!(matches!(delta.reasoning, Some(Cow::Borrowed("hm"))));
        let c: ChatCompletionChunk =
            serde_json::from_str(r#"{"id":"c\u0031","model":null}"#).unwrap();
        assert!(matches!(c.id, Some(Cow::Owned(ref id)) if id == "c1"));
        assert_eq!(c.model, None);

        use crate::anthropic::anthropic_wire::{AnthropicBlockDelta, AnthropicDeltaEvent};
        let json =
            r#"{"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"Hi"}}"#;
        let hot: AnthropicDeltaEvent = serde_json::from_str(json).unwrap();
        match hot.block_delta() {
            Some((
                2,
                AnthropicBlockDelta::TextDelta {
                    text: Cow::Borrowed("Hi"),
                },
            )) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn codes_map_to_kinds() {
        let k = |c: &str| error_from_code("p", Some(c), Some("m")).kind();
        assert_eq!(k("rate_limit_exceeded"), ErrorKind::RateLimit);
        assert_eq!(k("insufficient_quota"), ErrorKind::PermissionDenied);
        assert_eq!(k("server_error"), ErrorKind::Server);
        assert_eq!(k("throttlingException"), ErrorKind::RateLimit);
        assert_eq!(k("serviceUnavailableException"), ErrorKind::Overloaded);
        assert_eq!(k("validationException"), ErrorKind::BadRequest);
        assert_eq!(k("accessDeniedException"), ErrorKind::PermissionDenied);
        assert_eq!(k("invalid_prompt"), ErrorKind::BadRequest);
        assert_eq!(k("request_too_large"), ErrorKind::BadRequest);
        assert_eq!(k("something_new"), ErrorKind::Server);
        let e = error_from_code("p", None, None);
        assert_eq!(e.kind(), ErrorKind::Server);
        assert_eq!(e.code(), None);
        assert_eq!(e.provider(), Some("p"));
        assert!(!error_from_code("p", Some("insufficient_quota"), None).is_retryable());
    }

    #[test]
    fn usage_reports_become_deltas() {
        let mut t = UsageTracker::default();
        let mut out = Vec::new();
        let snap = |i, o| Usage {
            input_tokens: Some(i),
            output_tokens: o,
            ..Default::default()
        };
        let delta = |i, o| UsageDelta {
            input_tokens: i,
            output_tokens: o,
            ..Default::default()
        };
        let sent = |out: &mut Decoded| -> Vec<UsageDelta> {
            out.drain(..)
                .map(|c| match c {
                    Ok(Chunk::UsageDelta { usage }) => *usage,
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let mut total = Usage::default();
        let mut fold = |deltas: &[UsageDelta]| {
            for d in deltas {
                total.apply(d);
            }
            total
        };
        t.report(snap(15, None), &mut out);
        let d = sent(&mut out);
        assert_eq!(d, [delta(Some(15), None)]);
        assert_eq!(fold(&d), snap(15, None));
        // Nothing new: nothing sent.
        t.report(snap(15, None), &mut out);
        assert!(out.is_empty());
        // Output appears; input went down: the provider corrected itself,
        // and the last snapshot is the truth.
        t.report(snap(13, Some(8)), &mut out);
        let d = sent(&mut out);
        assert_eq!(d, [delta(Some(-2), Some(8))]);
        assert_eq!(fold(&d), snap(13, Some(8)));
        // Growth after a dip counts from the dip.
        t.report(snap(16, Some(8)), &mut out);
        let d = sent(&mut out);
        assert_eq!(d, [delta(Some(3), None)]);
        assert_eq!(fold(&d), snap(16, Some(8)));
        // A report that omits the input leaves it as it is, and does not
        // make it count again when it reappears.
        let output = |o| Usage {
            output_tokens: Some(o),
            ..Default::default()
        };
        t.report(output(10), &mut out);
        t.report(snap(16, Some(10)), &mut out);
        let d = sent(&mut out);
        assert_eq!(d, [delta(None, Some(2))]);
        assert_eq!(fold(&d), snap(16, Some(10)));
    }
}
