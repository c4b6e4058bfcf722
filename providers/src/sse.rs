//! Server-sent events over a byte stream.
//!
//! Parsing is eventsource-stream's (WHATWG rules: LF, CR and CRLF line ends,
//! comments, multi-line `data`, a CR torn from its LF across reads, UTF-8
//! characters torn across reads). [`BodyGuard`] sits in front of it for two
//! gaps, and errors are mapped to rivulet's [`Error`]: transport errors stay
//! what they are, undecodable text is [`Error::Protocol`].

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use eventsource_stream::{EventStreamError, Eventsource};
use futures::{Stream, StreamExt};
use rivulet_core::Error;

/// One dispatched event: its type (`"message"` when the server named none)
/// and its data (several `data:` lines joined with `\n`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, `"message"` by default.
    pub event: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

impl SseEvent {
    /// A `message` event carrying `data`.
    pub fn message(data: impl Into<String>) -> Self {
        SseEvent {
            event: "message".into(),
            data: data.into(),
        }
    }

    /// An event of type `event` carrying `data`.
    pub fn new(event: impl Into<String>, data: impl Into<String>) -> Self {
        SseEvent {
            event: event.into(),
            data: data.into(),
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
    Box::pin(
        BodyGuard::new(Box::pin(bytes))
            .eventsource()
            .map(|item| match item {
                Ok(ev) => Ok(SseEvent {
                    event: ev.event,
                    data: ev.data,
                }),
                Err(EventStreamError::Transport(e)) => Err(e),
                // Only raised at the end of the stream: the guard catches
                // invalid bytes earlier, so this is a character cut short.
                Err(EventStreamError::Utf8(_)) => {
                    Err(Error::protocol("the stream ended inside a UTF-8 character"))
                }
                Err(EventStreamError::Parser(e)) => {
                    Err(Error::protocol(format!("malformed event stream: {e}")))
                }
            }),
    )
}

/// Parses a body already in memory, delivered in `pieces` (as a network
/// would cut it). For tests and benchmarks; stops after the first error.
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

/// How big a piece [`BodyGuard`] hands eventsource-stream, at most (up to
/// the next line end). Small enough that the parser's copy of the rest of
/// its buffer after each line stays cheap, large enough that a few events
/// go in one piece.
const SEGMENT: usize = 512;

/// Passes the body through unchanged, except:
///
/// - it fails at the first byte sequence that is not UTF-8 and cannot become
///   UTF-8 with more input (the valid bytes before it are still delivered,
///   so content before garbage is kept). The parser alone would buffer
///   everything after such bytes and report them only at the end.
/// - when the body ends with a CR, it adds an LF. The parser must wait after
///   a CR to see whether an LF follows, and at the end nothing follows: a
///   CR-terminated last event would never be dispatched.
pub struct BodyGuard<S> {
    inner: S,
    /// The last byte passed on was a CR.
    ends_with_cr: bool,
    ended: bool,
    /// The incomplete trailing sequence of the previous piece (at most 3
    /// bytes), already passed on; kept to validate across the boundary.
    carry: Vec<u8>,
    queued: VecDeque<Result<Bytes, Error>>,
    failed: bool,
}

impl<S> BodyGuard<S> {
    /// Wraps a byte stream.
    pub fn new(inner: S) -> Self {
        BodyGuard {
            inner,
            ends_with_cr: false,
            ended: false,
            carry: Vec::new(),
            queued: VecDeque::new(),
            failed: false,
        }
    }

    /// Queues `piece` cut after an LF every [`SEGMENT`] bytes or so, as
    /// zero-copy slices.
    ///
    /// eventsource-stream copies the rest of its buffer after every line it
    /// parses, so a read holding many events costs time quadratic in its
    /// size. Cut into segments of about 512 bytes, that copy stays bounded,
    /// while a read of one event (a model streaming at its own pace) passes
    /// through whole, as it would without this guard.
    fn queue_lines(&mut self, mut piece: Bytes) {
        while piece.len() > SEGMENT {
            // The last line end in the first SEGMENT bytes, else the first
            // one after (a line longer than a segment stays whole).
            let cut = memchr::memrchr(b'\n', &piece[..SEGMENT])
                .or_else(|| memchr::memchr(b'\n', &piece[SEGMENT..]).map(|at| at + SEGMENT));
            match cut {
                Some(at) if at + 1 < piece.len() => {
                    self.queued.push_back(Ok(piece.split_to(at + 1)));
                }
                _ => break,
            }
        }
        if !piece.is_empty() {
            self.queued.push_back(Ok(piece));
        }
    }

    fn check(&mut self, piece: Bytes) {
        if let Some(last) = piece.last() {
            self.ends_with_cr = *last == b'\r';
        }
        let joined;
        let text: &[u8] = if self.carry.is_empty() {
            &piece
        } else {
            joined = [self.carry.as_slice(), &piece].concat();
            &joined
        };
        match std::str::from_utf8(text) {
            Ok(_) => {
                self.carry.clear();
                self.queue_lines(piece);
            }
            Err(e) if e.error_len().is_none() => {
                // A character cut at the end of the piece: wait for the rest.
                self.carry = text[e.valid_up_to()..].to_vec();
                self.queue_lines(piece);
            }
            Err(e) => {
                let valid_in_piece = e.valid_up_to().saturating_sub(self.carry.len());
                if valid_in_piece > 0 {
                    self.queued.push_back(Ok(piece.slice(..valid_in_piece)));
                }
                self.queued.push_back(Err(Error::protocol(
                    "the stream is not valid UTF-8 (garbage bytes in the body)",
                )));
                self.failed = true;
            }
        }
    }
}

impl<S> Stream for BodyGuard<S>
where
    S: Stream<Item = Result<Bytes, Error>> + Unpin,
{
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(item) = self.queued.pop_front() {
                return Poll::Ready(Some(item));
            }
            if self.failed || self.ended {
                return Poll::Ready(None);
            }
            match self.inner.poll_next_unpin(cx) {
                // An empty piece queues nothing: read on.
                Poll::Ready(Some(Ok(piece))) => self.check(piece),
                Poll::Ready(None) => {
                    self.ended = true;
                    if std::mem::take(&mut self.ends_with_cr) {
                        return Poll::Ready(Some(Ok(Bytes::from_static(b"\n"))));
                    }
                    return Poll::Ready(None);
                }
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(events: &[Result<SseEvent, Error>]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| e.as_ref().ok())
            .map(|e| e.data.clone())
            .collect()
    }

    #[test]
    fn line_endings_comments_and_multiline_data() {
        for body in [
            "data: a\n\n: keep-alive\n\ndata: b\ndata: c\n\n",
            "data: a\r\n\r\n: keep-alive\r\n\r\ndata: b\r\ndata: c\r\n\r\n",
            "data: a\r\r: keep-alive\r\rdata: b\rdata: c\r\r",
        ] {
            let evs = parse_pieces([body]);
            assert_eq!(data(&evs), ["a", "b\nc"], "{body:?}");
        }
    }

    #[test]
    fn crlf_torn_between_reads_is_one_line_end() {
        let evs = parse_pieces(["data: a\r", "\n\r", "\ndata: b\r\n\r\n"]);
        assert_eq!(data(&evs), ["a", "b"]);
    }

    #[test]
    fn event_names() {
        let evs = parse_pieces(["event: error\ndata: {}\n\ndata: x\n\n"]);
        assert_eq!(evs[0].as_ref().unwrap(), &SseEvent::new("error", "{}"));
        assert_eq!(evs[1].as_ref().unwrap(), &SseEvent::message("x"));
    }

    #[test]
    fn utf8_torn_across_reads() {
        let body = "data: é😊\n\n".as_bytes();
        for k in 0..body.len() {
            let evs = parse_pieces([&body[..k], &body[k..]]);
            assert_eq!(data(&evs), ["é😊"], "split at {k}");
        }
    }

    #[test]
    fn invalid_utf8_fails_after_the_valid_events() {
        let evs = parse_pieces([&b"data: ok\n\ndata: x\xff\xfe"[..], b"data: later\n\n"]);
        assert_eq!(data(&evs), ["ok"]);
        assert!(matches!(evs.last(), Some(Err(Error::Protocol { .. }))));
    }

    #[test]
    fn incomplete_character_at_the_end_is_an_error() {
        let evs = parse_pieces([&b"data: ok\n\n\xe2\x82"[..]]);
        assert_eq!(data(&evs), ["ok"]);
        assert!(matches!(evs.last(), Some(Err(Error::Protocol { .. }))));
    }
}
