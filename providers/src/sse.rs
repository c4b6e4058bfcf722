//! Server-sent events over a byte stream.
//!
//! [`SseParser`] follows the WHATWG event-stream rules: LF, CR and CRLF line
//! ends (a CR that ends one frame and an LF that opens the next are one line
//! end), a leading BOM, `:` comments, the `data`, `event`, `id` and `retry`
//! fields, one space after the colon stripped, several `data` lines joined
//! with `\n`, a blank line dispatching, and an unterminated event at the end
//! of the stream dropped. Comments (keep-alives) and events without data
//! produce nothing, so they never look like content to the runtime's idle
//! timeout. Errors are mapped to rivulet's [`Error`]: transport errors stay
//! what they are, bytes that are not UTF-8 are [`Error::Protocol`], and so
//! is an event (or a line) longer than [`MAX_EVENT_LEN`]: a server that
//! never ends its line cannot grow the parser's memory without bound.
//!
//! It is ours rather than eventsource-stream's because that crate copies
//! the rest of its buffer after every line and re-parses the buffer on
//! every read, so one long line costs time quadratic in its length (4 MB of
//! `data:` took 2.2 s of CPU, 10 MB 25 s); fed whole lines it is linear but
//! three times slower than this parser (figures above [`SseParser`]'s
//! definition). Here each frame is scanned once with memchr, complete lines
//! are parsed in place, and only a line that a frame boundary cuts is
//! copied: the cost is linear in the body, whatever the line lengths.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use rivulet_core::Error;

/// One dispatched event: its type (`"message"` when the server named none),
/// its data (several `data:` lines joined with `\n`) and the last event ID
/// when it was dispatched.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, `"message"` by default.
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
    /// The last `id:` field seen in the stream so far (empty if none): as
    /// WHATWG's `lastEventId`, it carries over to later events.
    pub id: String,
}

impl SseEvent {
    /// A `message` event carrying `data`.
    pub fn message(data: impl Into<String>) -> Self {
        SseEvent::new("message", data)
    }

    /// An event of type `event` carrying `data`.
    pub fn new(event: impl Into<String>, data: impl Into<String>) -> Self {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: String::new(),
        }
    }
}

impl SseEvent {
    /// The event, borrowed, as a decoder reads it.
    pub fn view(&self) -> SseRef<'_> {
        SseRef {
            event: &self.event,
            data: &self.data,
            id: &self.id,
        }
    }
}

/// One dispatched event, borrowed from the parser and the frame it came
/// in: what [`SseParser::feed_with`] hands over, without a copy when the
/// event's lines came whole in one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SseRef<'a> {
    /// The `event:` field, `"message"` by default.
    pub event: &'a str,
    /// The `data:` lines, joined with `\n`.
    pub data: &'a str,
    /// The last `id:` field seen in the stream so far (empty if none).
    pub id: &'a str,
}

impl SseRef<'_> {
    /// The event, owned.
    pub fn to_owned(&self) -> SseEvent {
        SseEvent {
            event: self.event.to_string(),
            data: self.data.to_string(),
            id: self.id.to_string(),
        }
    }
}

/// A stream of parsed events.
pub type SseStream = Pin<Box<dyn Stream<Item = Result<SseEvent, Error>> + Send>>;

/// Parses `bytes` into events. Items after the first `Err` are unspecified;
/// callers stop there.
pub fn events<S>(bytes: S) -> SseStream
where
    S: Stream<Item = Result<Bytes, Error>> + Send + 'static,
{
    Box::pin(Events {
        body: Box::pin(bytes),
        parser: SseParser::new(),
        ready: VecDeque::new(),
        error: None,
        ended: false,
    })
}

/// Parses a body already in memory, delivered in `pieces` (as a network
/// would cut it), through the same stream as [`events`]. For tests and
/// benchmarks; stops after the first error.
pub fn parse_pieces<I, B>(pieces: I) -> Vec<Result<SseEvent, Error>>
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let chunks: Vec<Result<Bytes, Error>> = pieces
        .into_iter()
        .map(|p| Ok(Bytes::copy_from_slice(p.as_ref())))
        .collect();
    let mut stream = events(futures::stream::iter(chunks));
    let mut out = Vec::new();
    // The stream is in memory: every poll is ready, so a no-op waker suffices.
    futures::executor::block_on(async {
        while let Some(item) = stream.next().await {
            let stop = item.is_err();
            out.push(item);
            if stop {
                break;
            }
        }
    });
    out
}

/// The stream [`events`] returns: a body through an [`SseParser`].
struct Events<S> {
    body: Pin<Box<S>>,
    parser: SseParser,
    /// Events parsed and not yet returned.
    ready: VecDeque<SseEvent>,
    /// The error that follows `ready`.
    error: Option<Error>,
    /// Nothing more is read from the body.
    ended: bool,
}

impl<S> Stream for Events<S>
where
    S: Stream<Item = Result<Bytes, Error>>,
{
    type Item = Result<SseEvent, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Every field is Unpin (the body is boxed).
        let this = self.get_mut();
        loop {
            if let Some(event) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(event)));
            }
            if let Some(e) = this.error.take() {
                return Poll::Ready(Some(Err(e)));
            }
            if this.ended {
                return Poll::Ready(None);
            }
            let result = match this.body.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(frame))) => this.parser.feed(&frame, &mut this.ready),
                Poll::Ready(Some(Err(e))) => Err(e),
                Poll::Ready(None) => {
                    this.ended = true;
                    this.parser.finish()
                }
                Poll::Pending => return Poll::Pending,
            };
            if let Err(e) = result {
                this.error = Some(e);
                this.ended = true;
            }
        }
    }
}

/// A line that a frame boundary cut is kept in a buffer of this capacity at
/// most between lines; a bigger one (a long line) is freed once parsed, so a
/// stream that once carried a 10 MB line does not hold 10 MB until it ends.
const KEEP_CAPACITY: usize = 64 * 1024;

/// The most bytes one event may hold (its fields and data lines, line ends
/// included) before [`SseParser`] fails with [`Error::Protocol`]: 16 MiB,
/// as for the AWS eventstream's messages
/// ([`crate::eventstream::MAX_MESSAGE_LEN`]).
///
/// Why a limit: the parser buffers an event until its blank line, so a
/// server (or a proxy) that sends a line with no end would otherwise grow
/// memory until the process dies. Why this one: the largest real events
/// carry a whole image in base64 (an image generation's partial image, an
/// inline image part), a few MB; 16 MiB leaves room for those.
pub const MAX_EVENT_LEN: usize = 16 * 1024 * 1024;

// The figures that chose this parser over eventsource-stream 0.2.3, per
// 10 MiB body: small events are a real OpenAI chunk line
// (openai-chat/text_include_usage.sse) repeated, one event is a single
// 10 MiB `data:` line. 2 shared cores under load, release build.
//
// `cargo bench -p rivulet-providers --bench sse` (criterion, wall time;
// the range of the medians over three runs, two for eventsource-stream:
// load moved them by up to 2x, the ranking never):
//
// | body, frames                | SseParser     | eventsource-stream fed whole lines |
// | --------------------------- | ------------- | ---------------------------------- |
// | small events, 16 KiB        | 417-528 MiB/s | 133-208 MiB/s                      |
// | small events, one per frame | 300-493 MiB/s | 163-187 MiB/s                      |
// | one event, 16 KiB           | 646-904 MiB/s |  96-155 MiB/s                      |
// | one event, 1 KiB            | 475-949 MiB/s | 103-137 MiB/s                      |
//
// CPU time of the parsing thread (a throwaway harness, median of 25 runs
// taken round-robin), ms per MiB: SseParser 1.08 (small events, 16 KiB
// frames), 0.64 (one event, 16 KiB), 0.61 (one event, 1 KiB);
// eventsource-stream fed whole lines 2.81, 3.41, 4.04; eventsource-stream
// as rivulet fed it before (whole reads cut after a line end every ~512
// bytes) 2.87 on small events, but on one event 43 ms for 1 MiB and 165 ms
// for 2 MiB in 16 KiB frames, 642 ms and 2.57 s in 1 KiB frames: four
// times the time for twice the line. Peak memory of a 10 MiB line: 16 MiB
// (its buffer, grown by doubling, becomes the event's data).

/// An incremental event-stream parser: bytes in, in frames cut anywhere
/// (inside a line, a CRLF or a UTF-8 character), events out.
///
/// Each frame is checked for UTF-8 once and scanned for line ends once
/// (memchr); the lines it holds whole are parsed in place, and only the
/// start of a line that the frame's end cuts is copied, to be joined with
/// the rest from the next frames (a cut `data` line opening its event then
/// becomes the event's data without another copy). Time and memory are
/// linear in the input whatever the line lengths.
///
/// ```
/// use rivulet_providers::sse::{SseEvent, SseParser};
///
/// let mut parser = SseParser::new();
/// let mut events = Vec::new();
/// parser.feed(b"event: greeting\ndata: hel", &mut events).unwrap();
/// parser.feed(b"lo\r", &mut events).unwrap();
/// parser.feed(b"\n\r\n", &mut events).unwrap();
/// parser.finish().unwrap();
/// assert_eq!(events, [SseEvent::new("greeting", "hello")]);
/// ```
#[derive(Debug, Default)]
pub struct SseParser {
    /// The first bytes of a UTF-8 character cut by the end of a frame.
    torn: [u8; 3],
    torn_len: usize,
    /// The start of a line cut by the end of a frame.
    partial: String,
    /// The last frame ended with a CR: an LF opening the next one belongs to
    /// the same line end.
    after_cr: bool,
    /// A line has been parsed: a BOM is no longer expected.
    started: bool,
    /// The event type buffer, for a type whose event a frame boundary
    /// cut (else the type is borrowed from the frame).
    event: String,
    /// The data buffer, for data that a frame boundary cut or that several
    /// lines make (else the data is borrowed from the frame): each `data`
    /// line and an LF.
    data: String,
    /// The last event ID buffer.
    id: String,
    /// The reconnection time the server asked for.
    retry: Option<Duration>,
    /// An error was returned: further input is ignored.
    failed: bool,
}

/// The event being read, as far as the frame at hand holds it: borrowed
/// from the frame until the frame ends or a second `data` line comes, then
/// copied into the parser's buffers.
#[derive(Default)]
struct Fields<'t> {
    /// The only `data` line so far, when it came in this frame.
    data: Option<&'t str>,
    /// The `event` field, when it came in this frame.
    event: Option<&'t str>,
}

/// A line's meaning.
enum Line<'a> {
    /// Dispatches the event.
    Blank,
    Comment,
    /// A field's name and value.
    Field(&'a str, &'a str),
}

impl SseParser {
    /// A parser at the start of a stream.
    pub fn new() -> Self {
        SseParser::default()
    }

    /// Parses the next `frame` of the body, appending the events it
    /// completes to `out`.
    ///
    /// Fails with [`Error::Protocol`] at the first byte sequence that is not
    /// UTF-8 and cannot become UTF-8 with more input, without waiting for
    /// the end of its line; the events completed before it are appended.
    /// After an error, further input is ignored.
    pub fn feed(&mut self, frame: &[u8], out: &mut impl Extend<SseEvent>) -> Result<(), Error> {
        self.feed_with(frame, |event| out.extend(Some(event.to_owned())))
    }

    /// [`SseParser::feed`], handing each event to `sink` borrowed: from
    /// `frame` when the frame holds the event's lines whole (nothing is
    /// copied, nothing allocated), else from the parser's buffers.
    pub fn feed_with(
        &mut self,
        frame: &[u8],
        mut sink: impl FnMut(SseRef<'_>),
    ) -> Result<(), Error> {
        if self.failed {
            return Ok(());
        }
        let result = self
            .decode(frame, &mut sink)
            .and_then(|()| self.check_held());
        if result.is_err() {
            self.failed = true;
            // Nothing more is parsed: what a too long event held goes now.
            for buffer in [&mut self.partial, &mut self.data, &mut self.event] {
                *buffer = String::new();
            }
        }
        result
    }

    /// Fails once the event being read holds more than [`MAX_EVENT_LEN`]
    /// bytes. Checked once a frame, not once a byte: what is held exceeds
    /// the limit by at most a frame (hyper's reads are bounded) when it
    /// fails.
    fn check_held(&self) -> Result<(), Error> {
        let held = self.partial.len() + self.data.len() + self.event.len() + self.id.len();
        if held > MAX_EVENT_LEN {
            return Err(Error::protocol(format!(
                "an event of the stream is longer than {} MiB (a line without an end?)",
                MAX_EVENT_LEN >> 20
            )));
        }
        Ok(())
    }

    /// The body ended. Fails with [`Error::Protocol`] if it ended inside a
    /// UTF-8 character; an event without its blank line is dropped, as the
    /// standard says (a decoder reports the stream cut short).
    pub fn finish(&mut self) -> Result<(), Error> {
        if self.failed {
            return Ok(());
        }
        let torn = std::mem::take(&mut self.torn_len) > 0;
        self.partial = String::new();
        self.event.clear();
        self.data.clear();
        if torn {
            self.failed = true;
            return Err(Error::protocol("the stream ended inside a UTF-8 character"));
        }
        Ok(())
    }

    /// The reconnection time the last valid `retry:` field asked for.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// Passes the text of `frame` on to [`SseParser::text`], in one piece
    /// unless a character is torn at either end or the frame holds bytes
    /// that are not UTF-8 (the error, after the text before them).
    fn decode(&mut self, mut frame: &[u8], sink: &mut impl FnMut(SseRef<'_>)) -> Result<(), Error> {
        if self.torn_len > 0 {
            // Complete the character the last frame cut.
            let mut char = [0; 4];
            let have = self.torn_len;
            char[..have].copy_from_slice(&self.torn[..have]);
            let take = (utf8_width(char[0]) - have).min(frame.len());
            char[have..have + take].copy_from_slice(&frame[..take]);
            frame = &frame[take..];
            self.torn_len = 0;
            match std::str::from_utf8(&char[..have + take]) {
                Ok(text) => self.text(text, sink),
                Err(e) if e.error_len().is_none() => self.keep_torn(&char[..have + take]),
                Err(_) => return Err(not_utf8()),
            }
        }
        // The common case first: a frame of whole characters. `from_utf8`
        // checks ASCII a word at a time, where `utf8_chunks` goes byte by
        // byte: 11% of a long stream's CPU in 16 KiB frames (perf), gone.
        if let Ok(text) = std::str::from_utf8(frame) {
            self.text(text, sink);
            return Ok(());
        }
        let mut at = 0;
        for chunk in frame.utf8_chunks() {
            self.text(chunk.valid(), sink);
            let bad = chunk.invalid();
            at += chunk.valid().len() + bad.len();
            if bad.is_empty() {
                continue;
            }
            let incomplete = std::str::from_utf8(bad).is_err_and(|e| e.error_len().is_none());
            if at == frame.len() && incomplete {
                self.keep_torn(bad);
            } else {
                return Err(not_utf8());
            }
        }
        Ok(())
    }

    /// Keeps the start of a character cut by the end of a frame.
    fn keep_torn(&mut self, bytes: &[u8]) {
        self.torn[..bytes.len()].copy_from_slice(bytes);
        self.torn_len = bytes.len();
    }

    /// Splits the next piece of text into lines.
    fn text(&mut self, text: &str, sink: &mut impl FnMut(SseRef<'_>)) {
        if text.is_empty() {
            return;
        }
        let mut fields = Fields::default();
        let mut rest = text;
        if std::mem::take(&mut self.after_cr) {
            rest = rest.strip_prefix('\n').unwrap_or(rest);
        }
        while let Some(at) = memchr::memchr2(b'\n', b'\r', rest.as_bytes()) {
            let mut next = at + 1;
            if rest.as_bytes()[at] == b'\r' {
                match rest.as_bytes().get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
            if self.partial.is_empty() {
                let line = self.split(&rest[..at]);
                self.apply(line, &mut fields, sink);
            } else {
                self.cut_line(&rest[..at], sink);
            }
            rest = &rest[next..];
        }
        self.keep(fields);
        self.partial.push_str(rest);
    }

    /// Copies what a text lent the event being read, as the text ends
    /// inside the event.
    fn keep(&mut self, fields: Fields<'_>) {
        if let Some(value) = fields.data {
            self.push_data(value);
        }
        if let Some(value) = fields.event {
            self.event.clear();
            self.event.push_str(value);
        }
    }

    /// Parses the line that `partial` started and `end` completes.
    fn cut_line(&mut self, end: &str, sink: &mut impl FnMut(SseRef<'_>)) {
        let mut line = std::mem::take(&mut self.partial);
        line.push_str(end);
        let value_at = match self.split(&line) {
            // The first `data` line of its event (a long one is usually the
            // only one): its buffer becomes the data buffer, uncopied.
            Line::Field("data", value) if self.data.is_empty() => line.len() - value.len(),
            other => {
                // A cut line is the first line of its text: nothing before
                // it is lent, and what it lends dies with it.
                let mut fields = Fields::default();
                self.apply(other, &mut fields, sink);
                self.keep(fields);
                line.clear();
                if line.capacity() <= KEEP_CAPACITY {
                    self.partial = line;
                }
                return;
            }
        };
        line.drain(..value_at);
        line.push('\n');
        self.data = line;
    }

    /// What `line` (without its line end) means.
    fn split<'a>(&mut self, mut line: &'a str) -> Line<'a> {
        if !std::mem::replace(&mut self.started, true) {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        // A byte loop, not `str::find(':')`: the colon is a field name's
        // length in (4 for `data`), where `find`'s searcher cost ~60
        // instructions per line (callgrind, the bench's 500-stream client).
        // `:` is ASCII, so its byte index is a char boundary.
        match line.bytes().position(|b| b == b':') {
            _ if line.is_empty() => Line::Blank,
            Some(0) => Line::Comment,
            Some(at) => {
                let value = &line[at + 1..];
                Line::Field(&line[..at], value.strip_prefix(' ').unwrap_or(value))
            }
            None => Line::Field(line, ""),
        }
    }

    /// Applies one line; `fields` holds what the text at hand lends the
    /// event being read.
    fn apply<'t>(
        &mut self,
        line: Line<'t>,
        fields: &mut Fields<'t>,
        sink: &mut impl FnMut(SseRef<'_>),
    ) {
        match line {
            Line::Blank => self.dispatch(fields, sink),
            Line::Comment => {}
            Line::Field("event", value) => fields.event = Some(value),
            Line::Field("data", value) => match fields.data.take() {
                // A second line: the lines are joined in the buffer.
                Some(first) => {
                    self.push_data(first);
                    self.push_data(value);
                }
                None if self.data.is_empty() => fields.data = Some(value),
                None => self.push_data(value),
            },
            Line::Field("id", value) if !value.contains('\0') => {
                self.id.clear();
                self.id.push_str(value);
            }
            Line::Field("retry", value)
                if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) =>
            {
                // More digits than a u64 holds is no time anyone means.
                if let Ok(ms) = value.parse() {
                    self.retry = Some(Duration::from_millis(ms));
                }
            }
            Line::Field(..) => {}
        }
    }

    /// Appends one `data` line and its LF to the data buffer.
    fn push_data(&mut self, value: &str) {
        self.data.reserve(value.len() + 1);
        self.data.push_str(value);
        self.data.push('\n');
    }

    /// A blank line: the event read so far, if it has data.
    fn dispatch(&mut self, fields: &mut Fields<'_>, sink: &mut impl FnMut(SseRef<'_>)) {
        let Fields { data, event } = std::mem::take(fields);
        // Buffered data ends with the LF of its last line, which is not
        // part of the event.
        let data = data.or_else(|| self.data.strip_suffix('\n'));
        if let Some(data) = data {
            let event = event.unwrap_or(&self.event);
            sink(SseRef {
                event: if event.is_empty() { "message" } else { event },
                data,
                id: &self.id,
            });
        }
        // The buffers are kept for the next event, unless a long line grew
        // them.
        for buffer in [&mut self.data, &mut self.event] {
            if buffer.capacity() > KEEP_CAPACITY {
                *buffer = String::new();
            } else {
                buffer.clear();
            }
        }
    }
}

/// The length of the UTF-8 sequence `lead` starts (a lead byte).
fn utf8_width(lead: u8) -> usize {
    match lead {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        _ => 4,
    }
}

fn not_utf8() -> Error {
    Error::protocol("the stream is not valid UTF-8 (garbage bytes in the body)")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `body` delivered whole, line by line (a frame ends after every CR
    /// and LF), byte by byte, and in two frames cut at every byte.
    fn deliveries(body: &[u8]) -> Vec<Vec<&[u8]>> {
        let mut ways = vec![vec![body]];
        let mut lines = Vec::new();
        let mut start = 0;
        for (i, b) in body.iter().enumerate() {
            if matches!(b, b'\n' | b'\r') {
                lines.push(&body[start..=i]);
                start = i + 1;
            }
        }
        lines.push(&body[start..]);
        ways.push(lines);
        ways.push(body.chunks(1).collect());
        for k in 0..=body.len() {
            ways.push(vec![&body[..k], &body[k..]]);
        }
        ways
    }

    /// Every delivery of `body` parses to exactly `want`.
    fn check(body: &str, want: &[SseEvent]) {
        check_bytes(body.as_bytes(), want);
    }

    fn check_bytes(body: &[u8], want: &[SseEvent]) {
        for frames in deliveries(body) {
            let got: Vec<SseEvent> = parse_pieces(&frames)
                .into_iter()
                .map(|e| e.unwrap_or_else(|e| panic!("{frames:?}: {e}")))
                .collect();
            assert_eq!(got, want, "{frames:?}");
        }
    }

    fn with_id(mut event: SseEvent, id: &str) -> SseEvent {
        event.id = id.into();
        event
    }

    fn msg(data: &str) -> SseEvent {
        SseEvent::message(data)
    }

    #[test]
    fn lf_cr_and_crlf_line_ends() {
        let want = [msg("a"), msg("b\nc")];
        check("data: a\n\n: keep-alive\n\ndata: b\ndata: c\n\n", &want);
        check(
            "data: a\r\n\r\n: keep-alive\r\n\r\ndata: b\r\ndata: c\r\n\r\n",
            &want,
        );
        check("data: a\r\r: keep-alive\r\rdata: b\rdata: c\r\r", &want);
        // Mixed in one stream.
        check("data: a\r\n\ndata: b\rdata: c\n\r\n", &want);
    }

    #[test]
    fn a_cr_and_lf_torn_between_reads_are_one_line_end() {
        let evs = parse_pieces(["data: a\r", "\n\r", "\ndata: b\r\n\r\n"]);
        assert_eq!(data(&evs), ["a", "b"]);
        // Had the LF counted as a second line end, "a" would be dispatched
        // alone and "b" with it.
        let evs = parse_pieces(["data: a\r", "\ndata: b\r", "\n\r", "", "\n"]);
        assert_eq!(data(&evs), ["a\nb"]);
    }

    #[test]
    fn a_cr_at_the_end_of_the_body_ends_its_line() {
        check("data: a\r\r", &[msg("a")]);
        check("data: a\n\r", &[msg("a")]);
    }

    #[test]
    fn a_leading_bom_is_dropped_once() {
        check("\u{feff}data: a\n\n", &[msg("a")]);
        // A BOM anywhere else is part of its line: here a field name
        // ("\u{feff}data") that means nothing.
        check(
            "\u{feff}data: a\n\n\u{feff}data: b\n\ndata: c\n\n",
            &[msg("a"), msg("c")],
        );
        check("data: a\n\n\u{feff}\n", &[msg("a")]);
        // Only the first one at the start.
        check("\u{feff}\u{feff}data: a\n\n", &[]);
    }

    #[test]
    fn comments_yield_nothing() {
        check(": keep-alive\n\n:\n\n: x\r\n\r\n", &[]);
        check(": a\ndata: x\n: b\n\n", &[msg("x")]);
        // Field-less lines and unknown fields are ignored too.
        check("foo: bar\nbaz\n\ndata: x\n\n", &[msg("x")]);
    }

    #[test]
    fn one_space_after_the_colon_is_stripped() {
        check(
            "data:x\n\ndata: x\n\ndata:  x\n\ndata:\tx\n\ndata: x: y \n\n",
            &[msg("x"), msg("x"), msg(" x"), msg("\tx"), msg("x: y ")],
        );
        check("event:  e\ndata: x\n\n", &[SseEvent::new(" e", "x")]);
    }

    #[test]
    fn data_lines_are_joined_with_lf() {
        check("data: a\ndata: b\ndata: c\n\n", &[msg("a\nb\nc")]);
        // An empty `data` line, with or without its colon, is an empty
        // line of data.
        check("data: a\ndata\ndata:\ndata: b\n\n", &[msg("a\n\n\nb")]);
        check("data\n\n", &[msg("")]);
        check("data:\n\ndata: \n\n", &[msg(""), msg("")]);
    }

    #[test]
    fn a_blank_line_dispatches_only_an_event_with_data() {
        check("\n\n\r\n\r\r", &[]);
        // The event type without data is dropped with it.
        check("event: ping\n\ndata: x\n\n", &[msg("x")]);
        check(
            "event: ping\n\nevent: delta\ndata: x\n\n",
            &[SseEvent::new("delta", "x")],
        );
    }

    #[test]
    fn event_names() {
        let evs = parse_pieces(["event: error\ndata: {}\n\ndata: x\n\n"]);
        assert_eq!(evs[0].as_ref().unwrap(), &SseEvent::new("error", "{}"));
        assert_eq!(evs[1].as_ref().unwrap(), &SseEvent::message("x"));
        // The last `event` line wins; an empty one means `message`.
        check(
            "event: a\nevent: b\ndata: 1\n\nevent: a\nevent\ndata: 2\n\n",
            &[SseEvent::new("b", "1"), msg("2")],
        );
    }

    #[test]
    fn ids_carry_over_until_changed() {
        check(
            "id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
            &[with_id(msg("a"), "1"), with_id(msg("b"), "1"), msg("c")],
        );
        // An id with NUL is ignored; an id on an event without data still
        // sets the last event ID.
        check("id: 1\n\nid: 2\0\ndata: a\n\n", &[with_id(msg("a"), "1")]);
    }

    #[test]
    fn retry_takes_only_digits() {
        let retry = |body: &str| {
            let mut p = SseParser::new();
            let mut out = Vec::<SseEvent>::new();
            p.feed(body.as_bytes(), &mut out).unwrap();
            assert!(out.is_empty());
            p.retry()
        };
        assert_eq!(retry("retry: 1500\n"), Some(Duration::from_millis(1500)));
        assert_eq!(
            retry("retry: 1500\nretry: 15x\n"),
            Some(Duration::from_millis(1500))
        );
        for bad in [
            "retry: -1\n",
            "retry: 1.5\n",
            "retry:\n",
            "retry: 1 \n",
            "retry: 99999999999999999999999\n",
        ] {
            assert_eq!(retry(bad), None, "{bad:?}");
        }
        // It is no data: nothing is dispatched.
        check("retry: 10\n\n", &[]);
    }

    #[test]
    fn an_unterminated_last_event_is_dropped() {
        check("data: a\n\ndata: b\n", &[msg("a")]);
        check("data: a\n\ndata: b", &[msg("a")]);
        check("data: a\n\nevent: x\ndata: b\r", &[msg("a")]);
    }

    fn data(events: &[Result<SseEvent, Error>]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| e.as_ref().ok())
            .map(|e| e.data.clone())
            .collect()
    }

    #[test]
    fn utf8_torn_across_reads() {
        check("data: é😊\n\n", &[msg("é😊")]);
        check("\u{feff}data: 😊\r\n\r\n", &[msg("😊")]);
    }

    #[test]
    fn invalid_utf8_fails_after_the_valid_events() {
        let evs = parse_pieces([&b"data: ok\n\ndata: x\xff\xfe"[..], b"data: later\n\n"]);
        assert_eq!(data(&evs), ["ok"]);
        assert!(matches!(evs.last(), Some(Err(Error::Protocol { .. }))));
        // A truncated character before a line end.
        let evs = parse_pieces([&b"data: ok\n\ndata: \xe2\x82\n\n"[..]]);
        assert_eq!(data(&evs), ["ok"]);
        assert!(matches!(evs.last(), Some(Err(Error::Protocol { .. }))));
    }

    #[test]
    fn garbage_fails_before_its_line_ends() {
        let mut p = SseParser::new();
        let mut out = Vec::new();
        p.feed(b"data: ok\n\ndata: x", &mut out).unwrap();
        p.feed(b"y\xe2", &mut out).unwrap();
        let err = p.feed(b"z", &mut out).unwrap_err();
        assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
        assert_eq!(out, [msg("ok")]);
        // Nothing more comes out.
        p.feed(b"\n\ndata: later\n\n", &mut out).unwrap();
        assert_eq!(out, [msg("ok")]);
    }

    #[test]
    fn incomplete_character_at_the_end_is_an_error() {
        let evs = parse_pieces([&b"data: ok\n\n\xe2\x82"[..]]);
        assert_eq!(data(&evs), ["ok"]);
        assert!(matches!(evs.last(), Some(Err(Error::Protocol { .. }))));
    }

    #[test]
    fn transport_errors_pass_through_after_the_events_before() {
        let body = futures::stream::iter(vec![
            Ok(Bytes::from_static(b"data: a\n\ndata: b\n")),
            Err(Error::connection("reset")),
            Ok(Bytes::from_static(b"\n")),
        ]);
        let got: Vec<_> = futures::executor::block_on(events(body).collect());
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].as_ref().unwrap(), &msg("a"));
        assert!(matches!(got[1], Err(Error::Connection { .. })), "{got:?}");
    }

    /// One 8 MB `data:` line fed in 1 KiB frames parses to its exact
    /// payload, in linear time: eventsource-stream took minutes on it in a
    /// debug build (it re-scanned its buffer on every frame). The guard only
    /// catches a quadratic blow-up; speed is measured in the `sse` bench.
    #[test]
    fn a_long_line_in_small_frames_is_linear() {
        let payload: String = (0..8 << 20)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let body = format!(": hi\ndata: {payload}\n\ndata: next\n\n").into_bytes();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(parse_pieces(body.chunks(1 << 10)));
        });
        let events = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("an 8 MB line parses within 10 s");
        assert_eq!(events.len(), 2);
        let first = events[0].as_ref().expect("the long event");
        assert!(first.data == payload, "the payload differs");
        assert_eq!(events[1].as_ref().expect("the next event"), &msg("next"));
    }

    /// The hot path: an event whose lines a frame holds whole is lent
    /// from the frame; one that a frame boundary cuts, or that several
    /// data lines make, from the parser's buffer.
    #[test]
    fn whole_events_are_lent_from_the_frame() {
        let mut p = SseParser::new();
        let mut seen = Vec::new();
        let mut feed = |frame: &[u8]| {
            let range = frame.as_ptr_range();
            p.feed_with(frame, |e| {
                let lent = range.contains(&e.data.as_ptr());
                seen.push((lent, e.to_owned()));
            })
            .unwrap();
        };
        feed(b"event: e\ndata: {\"a\":1}\n\ndata: x\ndata: y\n\ndata: ab");
        feed(b"c\n\nevent: f\n");
        feed(b"data: d\n\n");
        assert_eq!(
            seen,
            [
                (true, SseEvent::new("e", r#"{"a":1}"#)),
                (false, msg("x\ny")),
                (false, msg("abc")),
                (true, SseEvent::new("f", "d")),
            ]
        );
    }

    #[test]
    fn a_long_cut_line_is_not_kept_once_parsed() {
        for field in ["data: ", "data: a\ndata: ", ": ", "event: ", "id: "] {
            let mut p = SseParser::new();
            let mut out = Vec::new();
            let body = format!("{field}{}", "x".repeat(1 << 20));
            for frame in body.as_bytes().chunks(1000) {
                p.feed(frame, &mut out).unwrap();
            }
            assert!(p.partial.capacity() >= 1 << 20, "{field:?}");
            p.feed(b"\n\n", &mut out).unwrap();
            assert!(p.partial.capacity() <= KEEP_CAPACITY, "{field:?}");
            assert!(p.data.capacity() <= KEEP_CAPACITY, "{field:?}");
            assert!(p.event.capacity() <= KEEP_CAPACITY, "{field:?}");
            if field.starts_with("data") {
                assert_eq!(out.len(), 1);
                assert!(out[0].data.ends_with(&"x".repeat(1 << 20)));
            }
        }
    }

    /// A line or an event past [`MAX_EVENT_LEN`] fails with a protocol
    /// error, keeps the events before it, and frees what it held; one just
    /// under the limit still parses (a few-MB base64 image is real).
    #[test]
    fn an_event_past_the_limit_fails_and_frees_its_buffers() {
        // One endless line, and many short data lines with no blank line.
        let endless = "x".repeat(64 << 10);
        let short = "data: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n".repeat(1 << 10);
        for (opening, frame) in [("data: ", endless.as_str()), ("", short.as_str())] {
            let mut p = SseParser::new();
            let mut out = Vec::new();
            p.feed(b"data: before\n\n", &mut out).unwrap();
            p.feed(opening.as_bytes(), &mut out).unwrap();
            let mut fed = opening.len();
            let err = loop {
                match p.feed(frame.as_bytes(), &mut out) {
                    Ok(()) => fed += frame.len(),
                    Err(e) => break e,
                }
                // What the event holds is most of what was fed (without
                // the `data: ` names).
                assert!(fed <= 2 * MAX_EVENT_LEN, "no error after {fed} bytes");
            };
            assert!(
                fed > MAX_EVENT_LEN - frame.len(),
                "failed early, at {fed} bytes"
            );
            assert!(matches!(err, Error::Protocol { .. }), "{err:?}");
            assert!(err.to_string().contains("longer than 16 MiB"), "{err}");
            assert_eq!(out, [msg("before")]);
            assert_eq!(p.partial.capacity() + p.data.capacity(), 0);
            // Further input is ignored.
            p.feed(b"\n\ndata: after\n\n", &mut out).unwrap();
            assert_eq!(out, [msg("before")]);
        }
        let mut p = SseParser::new();
        let mut out = Vec::new();
        let body = format!("data: {}\n\n", "y".repeat(MAX_EVENT_LEN - 16));
        for frame in body.as_bytes().chunks(64 << 10) {
            p.feed(frame, &mut out).unwrap();
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].data.len(), MAX_EVENT_LEN - 16);
    }
}
