//! The AWS event stream encoding (`application/vnd.amazon.eventstream`),
//! as Bedrock's ConverseStream sends it.
//!
//! Each message is
//! `[total_len u32][headers_len u32][prelude_crc u32][headers][payload][message_crc u32]`,
//! big-endian, where `prelude_crc` is the CRC-32 (IEEE) of the first 8
//! bytes and `message_crc` that of everything before it. A header is
//! `name_len u8, name, type u8, value`.
//!
//! Both checksums are verified: a corrupted message is an
//! [`Error::Protocol`] and ends the stream, it is never skipped (the bytes
//! after it cannot be trusted to start a message). Messages torn across
//! reads are reassembled; a body that ends inside a message was cut short,
//! an [`Error::Connection`].
//!
//! Written over `crc32fast` rather than `aws-smithy-eventstream`, which
//! brings in `aws-smithy-types` and its own dependencies (time,
//! base64-simd, …) for a format this small.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use rivulet_core::Error;

use crate::decode::EventStream;

/// The largest message accepted (the format's documented limit).
pub const MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024;

/// Prelude (12 bytes) and message CRC (4 bytes).
const OVERHEAD: usize = 16;

/// A header value, by the format's type tags 0–9.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderValue {
    /// Tags 0 (true) and 1 (false).
    Bool(bool),
    /// Tag 2: a signed byte.
    Byte(i8),
    /// Tag 3: a big-endian `i16`.
    Short(i16),
    /// Tag 4: a big-endian `i32`.
    Int(i32),
    /// Tag 5: a big-endian `i64`.
    Long(i64),
    /// Tag 6: bytes, after a 2-byte length.
    Bytes(Vec<u8>),
    /// Tag 7: UTF-8 text, after a 2-byte length.
    String(String),
    /// Tag 8: milliseconds since the Unix epoch.
    Timestamp(i64),
    /// Tag 9: 16 bytes.
    Uuid([u8; 16]),
}

impl HeaderValue {
    /// The string, for string headers.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            HeaderValue::String(s) => Some(s),
            _ => None,
        }
    }
}

/// One header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// The header's name (`:event-type`, `:message-type`, …).
    pub name: String,
    /// Its typed value.
    pub value: HeaderValue,
}

impl Header {
    /// A string header.
    pub fn string(name: impl Into<String>, value: impl Into<String>) -> Self {
        Header {
            name: name.into(),
            value: HeaderValue::String(value.into()),
        }
    }
}

/// One decoded message: its header block as it came on the wire, and
/// its payload, both shared with the frame they were read from (no copy).
/// The headers were checked when the message was read; a lookup walks the
/// block, a few short headers, rather than building a list per message.
#[derive(Clone, PartialEq, Eq)]
pub struct EventStreamMessage {
    /// The encoded header block (`name_len, name, type, value`, repeated).
    headers: Bytes,
    payload: Bytes,
}

impl EventStreamMessage {
    /// A message with `headers` and `payload`.
    pub fn new(headers: Vec<Header>, payload: impl Into<Bytes>) -> Self {
        EventStreamMessage {
            headers: encode_headers(&headers).into(),
            payload: payload.into(),
        }
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Every header, in order.
    pub fn headers(&self) -> Vec<Header> {
        let mut out = Vec::new();
        // Checked when the message was read, or made by `new`, which
        // writes only what reads back: the walk cannot fail.
        let _ = walk_headers(&self.headers, |name, value| {
            out.push(Header {
                name: name.to_string(),
                value: value.to_owned(),
            });
            false
        });
        out
    }

    /// The first header named `name`.
    pub fn header(&self, name: &str) -> Option<HeaderValue> {
        self.find(name).map(|v| v.to_owned())
    }

    /// The first header named `name`, when it is a string: borrowed from
    /// the message.
    pub fn str_header(&self, name: &str) -> Option<&str> {
        match self.find(name)? {
            RawValue::String(s) => Some(s),
            _ => None,
        }
    }

    fn find(&self, name: &str) -> Option<RawValue<'_>> {
        let mut found = None;
        let _ = walk_headers(&self.headers, |n, value| {
            if n == name {
                found = Some(value);
            }
            found.is_some()
        });
        found
    }

    /// The message's wire bytes, checksums included. For tests and fakes.
    ///
    /// ```
    /// use rivulet_providers::eventstream::{decode_pieces, Header, EventStreamMessage};
    ///
    /// let m = EventStreamMessage::new(vec![Header::string(":event-type", "messageStop")], &b"{}"[..]);
    /// let bytes = m.encode();
    /// let decoded = decode_pieces(bytes.chunks(3));
    /// assert_eq!(decoded, vec![Ok(m)]);
    /// ```
    pub fn encode(&self) -> Vec<u8> {
        let headers = &self.headers;
        let total = OVERHEAD + headers.len() + self.payload.len();
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&(total as u32).to_be_bytes());
        out.extend_from_slice(&(headers.len() as u32).to_be_bytes());
        let prelude_crc = crc32fast::hash(&out);
        out.extend_from_slice(&prelude_crc.to_be_bytes());
        out.extend_from_slice(headers);
        out.extend_from_slice(&self.payload);
        let message_crc = crc32fast::hash(&out);
        out.extend_from_slice(&message_crc.to_be_bytes());
        out
    }
}

impl fmt::Debug for EventStreamMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStreamMessage")
            .field("headers", &self.headers())
            .field("payload", &self.payload)
            .finish()
    }
}

/// The encoded header block of `headers`. Names and values longer than
/// the format allows are cut to its limits, text on a character's
/// boundary, so the block always reads back.
fn encode_headers(list: &[Header]) -> Vec<u8> {
    let mut headers = Vec::new();
    for h in list {
        let name = cut(&h.name, 255);
        headers.push(name.len() as u8);
        headers.extend_from_slice(name.as_bytes());
        match &h.value {
            HeaderValue::Bool(true) => headers.push(0),
            HeaderValue::Bool(false) => headers.push(1),
            HeaderValue::Byte(b) => {
                headers.push(2);
                headers.extend_from_slice(&b.to_be_bytes());
            }
            HeaderValue::Short(v) => {
                headers.push(3);
                headers.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Int(v) => {
                headers.push(4);
                headers.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Long(v) => {
                headers.push(5);
                headers.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Bytes(b) => {
                headers.push(6);
                let b = &b[..b.len().min(u16::MAX as usize)];
                headers.extend_from_slice(&(b.len() as u16).to_be_bytes());
                headers.extend_from_slice(b);
            }
            HeaderValue::String(s) => {
                headers.push(7);
                let b = cut(s, u16::MAX as usize).as_bytes();
                headers.extend_from_slice(&(b.len() as u16).to_be_bytes());
                headers.extend_from_slice(b);
            }
            HeaderValue::Timestamp(v) => {
                headers.push(8);
                headers.extend_from_slice(&v.to_be_bytes());
            }
            HeaderValue::Uuid(u) => {
                headers.push(9);
                headers.extend_from_slice(u);
            }
        }
    }
    headers
}

/// `s`, or its longest start of at most `max` bytes that ends on a
/// character's boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut n = s.len().min(max);
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

/// Reassembles messages from bytes as they arrive.
#[derive(Debug, Default)]
pub struct FrameDecoder {
    buf: BytesMut,
    /// The checked prelude of the message being received: its total length.
    pending_len: Option<usize>,
    failed: bool,
}

impl FrameDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        if !self.failed {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Bytes received and not yet part of a returned message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete message, `None` until one is complete. After an
    /// error the decoder stays failed and returns nothing more.
    pub fn next_message(&mut self) -> Result<Option<EventStreamMessage>, Error> {
        if self.failed {
            return Ok(None);
        }
        match self.try_next() {
            Err(e) => {
                self.failed = true;
                self.buf.clear();
                Err(e)
            }
            ok => ok,
        }
    }

    fn try_next(&mut self) -> Result<Option<EventStreamMessage>, Error> {
        let total = match self.pending_len {
            Some(t) => t,
            None => {
                if self.buf.len() < 12 {
                    return Ok(None);
                }
                let total = be_u32(&self.buf[0..4]) as usize;
                let headers_len = be_u32(&self.buf[4..8]) as usize;
                let prelude_crc = be_u32(&self.buf[8..12]);
                if crc32fast::hash(&self.buf[0..8]) != prelude_crc {
                    return Err(Error::protocol(
                        "eventstream prelude checksum mismatch: the message is corrupted",
                    ));
                }
                if !(OVERHEAD..=MAX_MESSAGE_LEN).contains(&total) {
                    return Err(Error::protocol(format!(
                        "eventstream message length {total} is out of range"
                    )));
                }
                if headers_len > total - OVERHEAD {
                    return Err(Error::protocol(format!(
                        "eventstream headers length {headers_len} exceeds the message ({total} bytes)"
                    )));
                }
                self.pending_len = Some(total);
                total
            }
        };
        if self.buf.len() < total {
            return Ok(None);
        }
        self.pending_len = None;
        let mut frame = self.buf.split_to(total);
        let message_crc = be_u32(&frame[total - 4..]);
        if crc32fast::hash(&frame[..total - 4]) != message_crc {
            return Err(Error::protocol(
                "eventstream message checksum mismatch: the message is corrupted",
            ));
        }
        let headers_len = be_u32(&frame[4..8]) as usize;
        frame.advance(12);
        let headers = frame.split_to(headers_len).freeze();
        frame.truncate(frame.len() - 4);
        walk_headers(&headers, |_, _| false)?;
        Ok(Some(EventStreamMessage {
            headers,
            payload: frame.freeze(),
        }))
    }
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// A header value borrowed from its message's header block.
#[derive(Clone, Copy, Debug)]
enum RawValue<'a> {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Int(i32),
    Long(i64),
    Bytes(&'a [u8]),
    String(&'a str),
    Timestamp(i64),
    Uuid([u8; 16]),
}

impl RawValue<'_> {
    fn to_owned(self) -> HeaderValue {
        match self {
            RawValue::Bool(v) => HeaderValue::Bool(v),
            RawValue::Byte(v) => HeaderValue::Byte(v),
            RawValue::Short(v) => HeaderValue::Short(v),
            RawValue::Int(v) => HeaderValue::Int(v),
            RawValue::Long(v) => HeaderValue::Long(v),
            RawValue::Bytes(v) => HeaderValue::Bytes(v.to_vec()),
            RawValue::String(v) => HeaderValue::String(v.to_string()),
            RawValue::Timestamp(v) => HeaderValue::Timestamp(v),
            RawValue::Uuid(v) => HeaderValue::Uuid(v),
        }
    }
}

/// Walks an encoded header block, calling `f` with each header until it
/// returns true. An `Err` says what is malformed: the block is checked
/// this way once, when its message is read, so later walks cannot fail.
fn walk_headers<'a>(
    mut b: &'a [u8],
    mut f: impl FnMut(&'a str, RawValue<'a>) -> bool,
) -> Result<(), Error> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Result<&'a [u8], Error> {
        if b.len() < n {
            return Err(Error::protocol("eventstream header cut short"));
        }
        let (head, rest) = b.split_at(n);
        *b = rest;
        Ok(head)
    }
    fn arr<const N: usize>(b: &mut &[u8]) -> Result<[u8; N], Error> {
        let mut a = [0u8; N];
        a.copy_from_slice(take(b, N)?);
        Ok(a)
    }
    while !b.is_empty() {
        let name_len = take(&mut b, 1)?[0] as usize;
        let name = std::str::from_utf8(take(&mut b, name_len)?)
            .map_err(|_| Error::protocol("eventstream header name is not UTF-8"))?;
        let tag = take(&mut b, 1)?[0];
        let value = match tag {
            0 => RawValue::Bool(true),
            1 => RawValue::Bool(false),
            2 => RawValue::Byte(i8::from_be_bytes(arr(&mut b)?)),
            3 => RawValue::Short(i16::from_be_bytes(arr(&mut b)?)),
            4 => RawValue::Int(i32::from_be_bytes(arr(&mut b)?)),
            5 => RawValue::Long(i64::from_be_bytes(arr(&mut b)?)),
            6 | 7 => {
                let len = u16::from_be_bytes(arr(&mut b)?) as usize;
                let bytes = take(&mut b, len)?;
                if tag == 6 {
                    RawValue::Bytes(bytes)
                } else {
                    RawValue::String(std::str::from_utf8(bytes).map_err(|_| {
                        Error::protocol(format!("eventstream header {name} is not UTF-8"))
                    })?)
                }
            }
            8 => RawValue::Timestamp(i64::from_be_bytes(arr(&mut b)?)),
            9 => RawValue::Uuid(arr(&mut b)?),
            other => {
                return Err(Error::protocol(format!(
                    "eventstream header {name} has unknown type {other}"
                )))
            }
        };
        if f(name, value) {
            break;
        }
    }
    Ok(())
}

/// Decodes a body, as a stream of messages. Items after the first `Err`
/// are none.
pub fn messages<S>(bytes: S) -> EventStream<EventStreamMessage>
where
    S: Stream<Item = Result<Bytes, Error>> + Send + 'static,
{
    Box::pin(MessageStream {
        inner: Box::pin(bytes),
        decoder: FrameDecoder::new(),
        done: false,
    })
}

struct MessageStream {
    inner: Pin<Box<dyn Stream<Item = Result<Bytes, Error>> + Send>>,
    decoder: FrameDecoder,
    done: bool,
}

impl Stream for MessageStream {
    type Item = Result<EventStreamMessage, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match this.decoder.next_message() {
                Ok(Some(m)) => return Poll::Ready(Some(Ok(m))),
                Err(e) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Ok(None) => {}
            }
            match this.inner.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(bytes))) => this.decoder.push(&bytes),
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(None) => {
                    this.done = true;
                    let left = this.decoder.buffered();
                    if left > 0 {
                        return Poll::Ready(Some(Err(cut_inside_a_message(left))));
                    }
                    return Poll::Ready(None);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A body that ended inside a message, `received` bytes of it in: cut
/// short, like any body that ends before its terminal event
/// ([`crate::errors::cut_short`]).
fn cut_inside_a_message(received: usize) -> Error {
    crate::errors::cut_short(&format!(
        "the end of an eventstream message ({received} bytes of it received)"
    ))
}

/// Decodes a body already in memory, delivered in `pieces` (as a network
/// would cut it). For tests; stops after the first error.
pub fn decode_pieces<I, B>(pieces: I) -> Vec<Result<EventStreamMessage, Error>>
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    let mut decoder = FrameDecoder::new();
    let mut out = Vec::new();
    for piece in pieces {
        decoder.push(piece.as_ref());
        loop {
            match decoder.next_message() {
                Ok(Some(m)) => out.push(Ok(m)),
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }
    if decoder.buffered() > 0 {
        out.push(Err(cut_inside_a_message(decoder.buffered())));
    }
    out
}

// Bedrock's decoder reads whole messages: a message is its own view.
impl crate::decode::WireEvent for EventStreamMessage {
    type View<'a> = &'a EventStreamMessage;

    fn view(&self) -> &Self {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rivulet_core::ErrorKind;

    fn sample() -> EventStreamMessage {
        EventStreamMessage::new(
            vec![
                Header::string(":event-type", "contentBlockDelta"),
                Header::string(":content-type", "application/json"),
                Header::string(":message-type", "event"),
                Header {
                    name: "n".into(),
                    value: HeaderValue::Long(-5),
                },
                Header {
                    name: "f".into(),
                    value: HeaderValue::Bool(false),
                },
                Header {
                    name: "u".into(),
                    value: HeaderValue::Uuid([7; 16]),
                },
            ],
            r#"{"delta":{"text":"é"}}"#.as_bytes().to_vec(),
        )
    }

    #[test]
    fn overlong_names_and_values_are_cut_on_a_character_and_read_back() {
        let m = EventStreamMessage::new(
            vec![Header::string("é".repeat(200), "ü".repeat(40_000))],
            &b"{}"[..],
        );
        let headers = m.headers();
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0].name, "é".repeat(127));
        assert_eq!(
            m.str_header(&"é".repeat(127)),
            Some("ü".repeat(32_767).as_str())
        );
        assert_eq!(decode_pieces([m.encode()]), vec![Ok(m)]);
    }

    #[test]
    fn round_trip_at_every_split() {
        let m = sample();
        let bytes = [m.encode(), m.encode()].concat();
        for k in 0..=bytes.len() {
            let out = decode_pieces([&bytes[..k], &bytes[k..]]);
            assert_eq!(out, vec![Ok(m.clone()), Ok(m.clone())], "split at {k}");
        }
        assert_eq!(decode_pieces(bytes.chunks(1)).len(), 2);
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[i] ^= 1 << bit;
                let out = decode_pieces([&bad]);
                assert!(
                    matches!(out.last(), Some(Err(e)) if e.kind() == ErrorKind::Protocol),
                    "byte {i} bit {bit}: {out:?}"
                );
                assert!(out.iter().all(|r| r.is_err()), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn truncation_and_bad_lengths() {
        let bytes = sample().encode();
        let out = decode_pieces([&bytes[..bytes.len() - 1]]);
        assert!(matches!(&out[..], [Err(e)] if e.kind() == ErrorKind::Connection));
        let message = out[0].as_ref().unwrap_err().message();
        assert!(message.contains("eventstream message"), "{message}");
        // A length below the overhead, with a valid prelude checksum.
        let mut prelude = Vec::new();
        prelude.extend_from_slice(&8u32.to_be_bytes());
        prelude.extend_from_slice(&0u32.to_be_bytes());
        let crc = crc32fast::hash(&prelude);
        prelude.extend_from_slice(&crc.to_be_bytes());
        let out = decode_pieces([&prelude]);
        assert!(matches!(&out[..], [Err(e)] if e.message().contains("out of range")));
    }
}
