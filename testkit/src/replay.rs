//! What the server sends back: a [`Replay`] per connection.

use std::time::Duration;

/// How a response body is cut into writes.
///
/// Each piece is written with its own `write` call on a socket with
/// `TCP_NODELAY`, so the client tends to receive the body in these pieces
/// (the kernel may still merge pieces the client has not read yet; add a
/// [`Replay::delay`] to make the boundaries firm).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Split {
    /// The whole body in one write.
    #[default]
    Whole,
    /// One write per line, cut after each `'\n'`.
    Lines,
    /// One byte per write.
    Bytes,
    /// Pieces of this many bytes (the last one may be shorter). `Every(0)` is `Whole`.
    Every(usize),
}

/// What the server does once the body has been written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum After {
    /// Close the connection cleanly (FIN): for a body without
    /// `Content-Length` this is how the client learns the body ended.
    #[default]
    Close,
    /// Keep the socket open and send nothing more until the client goes.
    Stall,
    /// Reset the connection (RST) after the pieces. For a body without
    /// `Content-Length` the client cannot tell a clean end from an abrupt one
    /// unless the RST itself surfaces as an error; add a `content-length`
    /// header larger than the body to make the truncation certain.
    Abort,
}

/// How a generated body is cut into writes (see [`Generated::framing`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Framing {
    /// One event per write: a server that sends each token as the model
    /// generates it.
    #[default]
    Events,
    /// Pieces of this many bytes, cut wherever the count falls (inside an
    /// event as often as not): a fast server whose events fill whole TLS
    /// records, 16 KiB each. `Frames(0)` is `Events`.
    Frames(usize),
}

/// Which API's events a [`Generated`] stream carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Protocol {
    /// OpenAI chat completions: `data:` chunks, `data: [DONE]` last.
    #[default]
    OpenAiChat,
    /// Anthropic Messages: named events (`event:` then `data:`), as
    /// recorded in `testdata/wire/anthropic/text.sse`.
    AnthropicMessages,
}

/// The recorded chunk's constant fields (`openai-chat/text_include_usage.sse`).
const CREATED: u64 = 1766084435;
const MODEL: &str = "gpt-4o-2024-08-06";
const SERVICE_TIER: &str = "default";
const SYSTEM_FINGERPRINT: &str = "fp_deacdd5f6f";
/// `obfuscation` pads a chunk's delta to about this many characters: in the
/// recordings a content delta plus its padding comes to 16.
const PADDED_DELTA: usize = 16;
/// The model of the recorded Anthropic stream (`anthropic/text.sse`).
const ANTHROPIC_MODEL: &str = "claude-sonnet-4-20250514";
/// The `prompt_tokens` of the usage chunk (and Anthropic's `input_tokens`).
const PROMPT_TOKENS: usize = 16;

/// The text of [`Generated::openai`]: English cut into tokens as a GPT
/// tokenizer cuts it (1 to 8 characters, mostly a leading space and a
/// word), with a paragraph break, a quote and a non-ASCII word among them so
/// that some deltas carry JSON escapes, as real text does.
const TOKENS: &[&str] = &[
    " The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".", " It",
    "'s", " a", " \"", "caf", "é", "\"", " story", ",", " told", " in", " short", " pieces",
    ".\n\n", "Each", " token", " arrives", " alone", ":", " one", " to", " eight", " letters", ".",
];

/// A lazily generated OpenAI chat-completion stream (see
/// [`Replay::generated`] and [`Replay::from_generated`]).
///
/// Every chunk carries every field a real one does (as recorded in
/// `testdata/wire/openai-chat/text_include_usage.sse`): `id`, `object`,
/// `created`, `model`, `service_tier`, `system_fingerprint`,
/// `choices[].logprobs: null`, `usage: null`, and an `obfuscation` string
/// that pads the delta to about 16 characters, as the API pads it.
///
/// The events are content chunk `i` with text [`Generated::token`]`(i)` for
/// `i` in `0..n_chunks`, a finish chunk (`finish_reason: "stop"`, empty
/// delta) and `data: [DONE]`; with `role_and_usage`, a role chunk comes
/// first and a usage chunk (`choices: []`) before `[DONE]`, as the API sends
/// them when asked for usage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// Number of content chunks.
    pub n_chunks: usize,
    /// Content chunk `i` carries `tokens[i % tokens.len()]` (an empty list
    /// gives empty deltas).
    pub tokens: Vec<String>,
    /// The chunks' `id`.
    pub id: String,
    /// A role chunk first (`delta: {"role":"assistant","content":"","refusal":null}`)
    /// and a usage chunk last (`prompt_tokens` 16, `completion_tokens`
    /// `n_chunks`).
    pub role_and_usage: bool,
    /// How the body is cut into writes.
    pub framing: Framing,
    /// The API whose events these are.
    pub protocol: Protocol,
    /// Each write goes out as one HTTP/1.1 chunk (`transfer-encoding:
    /// chunked`), as API servers send a stream; hyper then hands a client
    /// the body one HTTP chunk at a time however the kernel merged the
    /// writes. Without it the body is close-delimited and a client reads
    /// whatever has arrived.
    pub chunked: bool,
}

impl Generated {
    /// `n_chunks` content chunks all carrying `chunk_text`, id
    /// `chatcmpl-gen`, no role or usage chunk, one event per write,
    /// close-delimited: the stream of [`Replay::generated`].
    pub fn new(n_chunks: usize, chunk_text: &str) -> Self {
        Generated {
            n_chunks,
            tokens: vec![chunk_text.to_string()],
            id: "chatcmpl-gen".into(),
            role_and_usage: false,
            framing: Framing::Events,
            protocol: Protocol::OpenAiChat,
            chunked: false,
        }
    }

    /// A stream shaped as the real API sends it: `n_chunks` content chunks
    /// of English tokens (1 to 8 characters), an id as long as a real one,
    /// the role and usage chunks, chunked transfer coding, and `framing`.
    pub fn openai(n_chunks: usize, framing: Framing) -> Self {
        Generated {
            n_chunks,
            tokens: TOKENS.iter().map(|t| t.to_string()).collect(),
            id: "chatcmpl-GenXqWlR3sT0pE9vN2bY7cKd4hJ8u".into(),
            role_and_usage: true,
            framing,
            protocol: Protocol::OpenAiChat,
            chunked: true,
        }
    }

    /// An Anthropic Messages stream shaped as the real API sends it
    /// (`testdata/wire/anthropic/text.sse`: every event and field of the
    /// recording, the spaces it pads its JSON with, one `ping` after the
    /// first text delta): `message_start`, `content_block_start`,
    /// `n_chunks` `text_delta`s of the same English tokens as
    /// [`Generated::openai`], `content_block_stop`, `message_delta` (usage:
    /// `output_tokens` `n_chunks`) and `message_stop`, in chunked transfer
    /// coding, cut as `framing` says.
    pub fn anthropic(n_chunks: usize, framing: Framing) -> Self {
        Generated {
            n_chunks,
            tokens: TOKENS.iter().map(|t| t.to_string()).collect(),
            id: "msg_01GenXqWlR3sT0pE9vN2bY7c".into(),
            role_and_usage: true,
            framing,
            protocol: Protocol::AnthropicMessages,
            chunked: true,
        }
    }

    /// The text of content chunk `i`.
    pub fn token(&self, i: usize) -> &str {
        match self.tokens.len() {
            0 => "",
            n => &self.tokens[i % n],
        }
    }

    /// The whole text of the stream: what a client must end up with.
    pub fn text(&self) -> String {
        (0..self.n_chunks).map(|i| self.token(i)).collect()
    }

    /// Whether `text` is exactly the stream's text (without building it).
    pub fn is_text(&self, text: &str) -> bool {
        let mut rest = text;
        for i in 0..self.n_chunks {
            match rest.strip_prefix(self.token(i)) {
                Some(r) => rest = r,
                None => return false,
            }
        }
        rest.is_empty()
    }

    /// The number of events, `[DONE]` included.
    pub fn events(&self) -> usize {
        match self.protocol {
            // message_start, content_block_start, the deltas, a ping after
            // the first, content_block_stop, message_delta, message_stop.
            Protocol::AnthropicMessages => self.n_chunks + 5 + usize::from(self.n_chunks > 0),
            Protocol::OpenAiChat => self.n_chunks + if self.role_and_usage { 4 } else { 2 },
        }
    }

    /// The `i`-th event of the stream, or `None` past the end.
    pub fn event(&self, i: usize) -> Option<Vec<u8>> {
        if self.protocol == Protocol::AnthropicMessages {
            return self.anthropic_event(i);
        }
        let first = usize::from(self.role_and_usage);
        let finish = first + self.n_chunks;
        let (choices, usage, padded) = if i >= first && i < finish {
            let text = self.token(i - first);
            (
                format!(
                    r#"[{{"index":0,"delta":{{"content":{}}},"logprobs":null,"finish_reason":null}}]"#,
                    json_string(text)
                ),
                "null".to_string(),
                text.chars().count(),
            )
        } else if i == finish {
            (
                r#"[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]"#.to_string(),
                "null".to_string(),
                6,
            )
        } else if self.role_and_usage && i == 0 {
            (
                r#"[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]"#.to_string(),
                "null".to_string(),
                2,
            )
        } else if self.role_and_usage && i == finish + 1 {
            let (p, c) = (PROMPT_TOKENS, self.n_chunks);
            (
                "[]".to_string(),
                format!(
                    r#"{{"prompt_tokens":{p},"completion_tokens":{c},"total_tokens":{},"prompt_tokens_details":{{"cached_tokens":0,"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}}"#,
                    p + c
                ),
                1,
            )
        } else if i == self.events() - 1 {
            return Some(b"data: [DONE]\n\n".to_vec());
        } else {
            return None;
        };
        Some(
            format!(
                r#"data: {{"id":{},"object":"chat.completion.chunk","created":{CREATED},"model":"{MODEL}","service_tier":"{SERVICE_TIER}","system_fingerprint":"{SYSTEM_FINGERPRINT}","choices":{choices},"usage":{usage},"obfuscation":"{}"}}"#,
                json_string(&self.id),
                obfuscation(i, PADDED_DELTA.saturating_sub(padded).max(1)),
            )
            .into_bytes()
            .into_iter()
            .chain(*b"\n\n")
            .collect(),
        )
    }

    /// The `i`-th event of an Anthropic stream (see [`Generated::anthropic`]).
    fn anthropic_event(&self, i: usize) -> Option<Vec<u8>> {
        let n = self.n_chunks;
        // Where the deltas lie: from event 2, with the ping third.
        let ping = (n > 0).then_some(3);
        let after = 2 + n + usize::from(n > 0);
        // The recording pads most events' JSON with 1 to 14 spaces before
        // the closing brace.
        let pad = " ".repeat(1 + pad_len(i, 14));
        let (kind, data) = if i == 0 {
            (
                "message_start",
                format!(
                    r#"{{"type":"message_start","message":{{"model":"{ANTHROPIC_MODEL}","id":{},"type":"message","role":"assistant","content":[],"stop_reason":null,"stop_sequence":null,"usage":{{"input_tokens":{PROMPT_TOKENS},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"cache_creation":{{"ephemeral_5m_input_tokens":0,"ephemeral_1h_input_tokens":0}},"output_tokens":1,"service_tier":"standard"}}}}}}"#,
                    json_string(&self.id)
                ),
            )
        } else if i == 1 {
            (
                "content_block_start",
                format!(
                    r#"{{"type":"content_block_start","index":0,"content_block":{{"type":"text","text":""}}{pad}}}"#
                ),
            )
        } else if Some(i) == ping {
            ("ping", r#"{"type": "ping"}"#.to_string())
        } else if i < after {
            let k = if i == 2 { 0 } else { i - 3 };
            (
                "content_block_delta",
                format!(
                    r#"{{"type":"content_block_delta","index":0,"delta":{{"type":"text_delta","text":{}}}{pad}}}"#,
                    json_string(self.token(k))
                ),
            )
        } else if i == after {
            (
                "content_block_stop",
                format!(r#"{{"type":"content_block_stop","index":0{pad}}}"#),
            )
        } else if i == after + 1 {
            (
                "message_delta",
                format!(
                    r#"{{"type":"message_delta","delta":{{"stop_reason":"end_turn","stop_sequence":null}},"usage":{{"input_tokens":{PROMPT_TOKENS},"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":{n}}}{pad}}}"#
                ),
            )
        } else if i == after + 2 {
            ("message_stop", format!(r#"{{"type":"message_stop"{pad}}}"#))
        } else {
            return None;
        };
        Some(format!("event: {kind}\ndata: {data}\n\n").into_bytes())
    }

    /// The body as the server writes it: one `Vec` per write, framed as
    /// `framing` and `chunked` say (the chunked body's terminator rides on
    /// the last write).
    pub fn writes(&self) -> Writes<'_> {
        Writes {
            generated: self,
            next: 0,
            pending: Vec::new(),
            done: false,
        }
    }
}

/// The writes of a [`Generated`] body, produced as they are asked for.
#[derive(Debug)]
pub struct Writes<'a> {
    generated: &'a Generated,
    /// The next event to produce.
    next: usize,
    /// Bytes of produced events not yet written (`Frames` only).
    pending: Vec<u8>,
    done: bool,
}

impl Iterator for Writes<'_> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        if self.done {
            return None;
        }
        let g = self.generated;
        let piece = match g.framing {
            Framing::Frames(size) if size > 0 => {
                while self.pending.len() < size {
                    let Some(event) = g.event(self.next) else {
                        break;
                    };
                    self.pending.extend_from_slice(&event);
                    self.next += 1;
                }
                let take = size.min(self.pending.len());
                self.pending.drain(..take).collect()
            }
            _ => {
                let event = g.event(self.next).unwrap_or_default();
                self.next += 1;
                event
            }
        };
        self.done = self.next >= g.events() && self.pending.is_empty();
        if !g.chunked {
            return (!piece.is_empty()).then_some(piece);
        }
        let mut out = Vec::with_capacity(piece.len() + 16);
        if !piece.is_empty() {
            out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            out.extend_from_slice(&piece);
            out.extend_from_slice(b"\r\n");
        }
        if self.done {
            out.extend_from_slice(b"0\r\n\r\n");
        }
        Some(out)
    }
}

/// `s` as a JSON string literal.
fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A number in `0..n` that looks random and is the same on every run.
fn pad_len(seed: usize, n: usize) -> usize {
    obfuscation(seed, 1).as_bytes()[0] as usize % n
}

/// `len` letters and digits that look random and are the same on every run
/// (the API's padding is random; its content does not matter, its length
/// does).
fn obfuscation(seed: usize, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    // splitmix64
    let mut x = seed as u64;
    (0..len)
        .map(|_| {
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            ALPHABET[(z % ALPHABET.len() as u64) as usize] as char
        })
        .collect()
}

/// One scripted HTTP response.
///
/// ```
/// use std::time::Duration;
/// use rivulet_testkit::{After, Replay, Split};
///
/// let r = Replay::sse("data: [DONE]\n\n")
///     .split(Split::Lines)
///     .delay(Duration::from_millis(5))
///     .then(After::Stall)
///     .header("x-request-id", "req_1");
/// assert_eq!(r.status, 200);
/// assert_eq!(r.pieces().len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replay {
    /// HTTP status code.
    pub status: u16,
    /// Response headers, written in this order (`connection: close` is added
    /// unless a `connection` header is given).
    pub headers: Vec<(String, String)>,
    /// The body, ignored when `generated` is set.
    pub body: Vec<u8>,
    /// How the body is cut into writes.
    pub split: Split,
    /// Pause between two pieces (not before the first).
    pub delay: Duration,
    /// What happens after the body.
    pub then: After,
    /// When set, the body is a generated stream produced lazily and
    /// written as [`Generated::writes`] cuts it; `body` and `split` are
    /// ignored, `delay` comes between two writes.
    pub generated: Option<Generated>,
}

impl Replay {
    /// A response with `status`, no headers and `body`.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Replay {
            status,
            headers: Vec::new(),
            body: body.into(),
            split: Split::Whole,
            delay: Duration::ZERO,
            then: After::Close,
            generated: None,
        }
    }

    /// `200` with `content-type: text/event-stream`.
    pub fn sse(body: impl Into<Vec<u8>>) -> Self {
        Replay::new(200, body).header("content-type", "text/event-stream")
    }

    /// `status` with `content-type: application/json`.
    pub fn json(status: u16, body: impl Into<Vec<u8>>) -> Self {
        Replay::new(status, body).header("content-type", "application/json")
    }

    /// An OpenAI chat-completion SSE stream of `n_chunks` content chunks of
    /// `chunk_text`, then a finish chunk (`finish_reason: "stop"`) and
    /// `data: [DONE]`, one event per write with `delay` between events
    /// ([`Generated::new`]).
    ///
    /// The events are produced as they are written, so `n_chunks` can be
    /// huge; [`crate::Server::bytes_written`] shows how far the client read.
    pub fn generated(n_chunks: usize, delay: Duration, chunk_text: &str) -> Self {
        Replay::from_generated(Generated::new(n_chunks, chunk_text)).delay(delay)
    }

    /// `200` with `content-type: text/event-stream` and the body
    /// `generated` (adding `transfer-encoding: chunked` when it is chunked).
    ///
    /// ```
    /// use std::time::Duration;
    /// use rivulet_testkit::{Framing, Generated, Replay};
    ///
    /// // As a fast server sends it: 16 KiB HTTP chunks.
    /// let r = Replay::from_generated(Generated::openai(100_000, Framing::Frames(16 * 1024)));
    /// assert!(r.headers.iter().any(|(k, v)| k == "transfer-encoding" && v == "chunked"));
    /// // As a model generates it: one event per write, 20 ms apart.
    /// let r = Replay::from_generated(Generated::openai(200, Framing::Events))
    ///     .delay(Duration::from_millis(20));
    /// # drop(r);
    /// ```
    pub fn from_generated(generated: Generated) -> Self {
        let mut r = Replay::sse(Vec::new());
        if generated.chunked {
            r = r.header("transfer-encoding", "chunked");
        }
        r.generated = Some(generated);
        r
    }

    /// Sets how the body is cut into writes.
    pub fn split(mut self, split: Split) -> Self {
        self.split = split;
        self
    }

    /// Sets the pause between pieces.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Sets what happens after the body.
    pub fn then(mut self, then: After) -> Self {
        self.then = then;
        self
    }

    /// Adds a header; a header of the same name (case-insensitive) is replaced.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(&name));
        self.headers.push((name, value.into()));
        self
    }

    /// The body cut as `split` says (empty for a generated stream).
    pub fn pieces(&self) -> Vec<&[u8]> {
        if self.generated.is_some() || self.body.is_empty() {
            return Vec::new();
        }
        match self.split {
            Split::Whole | Split::Every(0) => vec![&self.body[..]],
            Split::Every(n) => self.body.chunks(n).collect(),
            Split::Bytes => self.body.chunks(1).collect(),
            Split::Lines => self.body.split_inclusive(|b| *b == b'\n').collect(),
        }
    }
}

/// The reason phrase of common status codes.
pub(crate) fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        413 => "Payload Too Large",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        529 => "Site Overloaded",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cover_the_body() {
        let r = Replay::sse("a\nbc\n\nd");
        assert_eq!(
            r.clone().split(Split::Lines).pieces(),
            vec![&b"a\n"[..], b"bc\n", b"\n", b"d"]
        );
        assert_eq!(r.clone().split(Split::Bytes).pieces().len(), 7);
        assert_eq!(
            r.clone().split(Split::Every(3)).pieces(),
            vec![&b"a\nb"[..], b"c\n\n", b"d"]
        );
        assert_eq!(r.split(Split::Every(0)).pieces().len(), 1);
    }

    #[test]
    fn generated_events_are_valid_json() {
        let g = Generated::new(2, "a \"quoted\" é");
        for i in 0..3 {
            let ev = String::from_utf8(g.event(i).unwrap()).unwrap();
            let data = ev.strip_prefix("data: ").unwrap().trim_end();
            let v: serde_json::Value = serde_json::from_str(data).unwrap();
            assert_eq!(v["id"], "chatcmpl-gen");
        }
        let first: serde_json::Value = serde_json::from_slice(&g.event(0).unwrap()[6..]).unwrap();
        assert_eq!(first["choices"][0]["delta"]["content"], "a \"quoted\" é");
        assert_eq!(g.event(3).unwrap(), b"data: [DONE]\n\n");
        assert_eq!(g.event(4), None);
    }

    /// The data of each `data: {...}` event of an SSE body.
    fn chunks(body: &[u8]) -> Vec<serde_json::Value> {
        String::from_utf8(body.to_vec())
            .unwrap()
            .split("\n\n")
            .filter_map(|e| e.strip_prefix("data: {"))
            .map(|d| serde_json::from_str(&format!("{{{d}")).unwrap())
            .collect()
    }

    /// A value with every string, number and boolean replaced by its type,
    /// so that two chunks compare by the fields they carry.
    fn shape(v: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), shape(v))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
            Value::String(_) => "string".into(),
            Value::Number(_) => "number".into(),
            Value::Bool(_) => "bool".into(),
            Value::Null => Value::Null,
        }
    }

    /// Undoes chunked transfer coding; panics on a malformed body.
    fn dechunk(mut body: &[u8]) -> (Vec<u8>, usize) {
        let (mut out, mut n) = (Vec::new(), 0);
        loop {
            let eol = body.windows(2).position(|w| w == b"\r\n").unwrap();
            let len =
                usize::from_str_radix(std::str::from_utf8(&body[..eol]).unwrap(), 16).unwrap();
            body = &body[eol + 2..];
            if len == 0 {
                assert_eq!(body, b"\r\n");
                return (out, n);
            }
            out.extend_from_slice(&body[..len]);
            assert_eq!(&body[len..len + 2], b"\r\n");
            body = &body[len + 2..];
            n += 1;
        }
    }

    #[test]
    fn openai_chunks_carry_every_field_of_a_recorded_one() {
        let recorded = chunks(&crate::wire("openai-chat/text_include_usage.sse"));
        let g = Generated::openai(40, Framing::Events);
        let body: Vec<u8> = (0..g.events()).flat_map(|i| g.event(i).unwrap()).collect();
        let generated = chunks(&body);
        assert_eq!(generated.len(), 40 + 3);
        // Role chunk, content chunks, finish chunk, usage chunk: each has
        // the fields of its recorded counterpart, no more, no fewer.
        let last = recorded.len() - 1;
        assert_eq!(shape(&generated[0]), shape(&recorded[0]));
        for c in &generated[1..41] {
            assert_eq!(shape(c), shape(&recorded[1]));
        }
        assert_eq!(shape(&generated[41]), shape(&recorded[last - 1]));
        assert_eq!(shape(&generated[42]), shape(&recorded[last]));
        assert_eq!(generated[42]["usage"]["completion_tokens"], 40);
        assert_eq!(generated[42]["usage"]["total_tokens"], 56);
        assert!(body.ends_with(b"data: [DONE]\n\n"));
        assert_eq!(g.event(g.events()), None);

        // The text is the tokens', a few characters each, and the padding
        // tops a delta up to 16 characters as the API's does.
        let mut text = String::new();
        for c in &generated[1..41] {
            let delta = c["choices"][0]["delta"]["content"].as_str().unwrap();
            let pad = c["obfuscation"].as_str().unwrap();
            assert!((1..=8).contains(&delta.chars().count()), "{delta:?}");
            assert_eq!(delta.chars().count() + pad.len(), 16, "{delta:?} {pad:?}");
            text.push_str(delta);
        }
        assert_eq!(text, g.text());
        assert!(g.is_text(&text));
        assert!(!g.is_text(&text[..text.len() - 1]) && !g.is_text(&format!("{text}.")));
        assert!(text.contains("\n\n") && text.contains('"') && text.contains('é'));
        // Real ids are this long.
        assert_eq!(g.id.len(), "chatcmpl-CoDWl5rS0pF10P0W0TDVgY3NA26dk".len());
    }

    /// The `(event, data)` pairs of a named-event SSE body.
    fn named_events(body: &[u8]) -> Vec<(String, serde_json::Value)> {
        String::from_utf8(body.to_vec())
            .unwrap()
            .split("\n\n")
            .filter_map(|e| {
                let (kind, data) = e.split_once('\n')?;
                Some((
                    kind.strip_prefix("event: ")?.to_string(),
                    serde_json::from_str(data.strip_prefix("data: ")?).unwrap(),
                ))
            })
            .collect()
    }

    #[test]
    fn anthropic_events_carry_every_field_of_a_recorded_one() {
        let recorded = named_events(&crate::wire("anthropic/text.sse"));
        let recorded_kinds: Vec<&str> = recorded.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            recorded_kinds,
            [
                "message_start",
                "content_block_start",
                "content_block_delta",
                "ping",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop"
            ]
        );
        let g = Generated::anthropic(40, Framing::Events);
        let body: Vec<u8> = (0..g.events()).flat_map(|i| g.event(i).unwrap()).collect();
        let generated = named_events(&body);
        assert_eq!(generated.len(), g.events());
        assert_eq!(g.event(g.events()), None);
        // The recording's sequence with 40 deltas: each event has the
        // fields of its recorded counterpart, no more, no fewer.
        let mut expected: Vec<&(String, serde_json::Value)> = recorded[..3].iter().collect();
        expected.push(&recorded[3]);
        expected.extend(std::iter::repeat_n(&recorded[4], 39));
        expected.extend(&recorded[5..]);
        assert_eq!(generated.len(), expected.len());
        for ((kind, data), (rkind, rdata)) in generated.iter().zip(expected) {
            assert_eq!(kind, rkind);
            assert_eq!(shape(data), shape(rdata), "{kind}");
            assert_eq!(data["type"], rdata["type"]);
        }
        let text: String = generated
            .iter()
            .filter_map(|(_, d)| d["delta"]["text"].as_str())
            .collect();
        assert_eq!(text, g.text());
        assert_eq!(generated[g.events() - 2].1["usage"]["output_tokens"], 40);
        // Real ids are this long.
        assert_eq!(g.id.len(), "msg_018bk6q16LtrDpGDm6TyXTgn".len());
        // Chunked and framed as the OpenAI stream is.
        let frames = Generated::anthropic(1_000, Framing::Frames(16 * 1024));
        let events: Vec<u8> = (0..frames.events())
            .flat_map(|i| frames.event(i).unwrap())
            .collect();
        assert_eq!(
            dechunk(&frames.writes().collect::<Vec<_>>().concat()).0,
            events
        );
    }

    #[test]
    fn frames_are_16_kib_http_chunks_cut_anywhere() {
        let g = Generated::openai(1_000, Framing::Frames(16 * 1024));
        let events: Vec<u8> = (0..g.events()).flat_map(|i| g.event(i).unwrap()).collect();
        let writes: Vec<Vec<u8>> = g.writes().collect();
        let (body, n) = dechunk(&writes.concat());
        assert_eq!(body, events);
        assert_eq!(n, events.len().div_ceil(16 * 1024));
        assert_eq!(writes.len(), n);
        for w in &writes[..n - 1] {
            assert!(w.starts_with(b"4000\r\n"), "{:?}", &w[..8]);
        }
        // An event straddles the first frame's end.
        assert!(!writes[0].ends_with(b"\n\n\r\n"));
    }

    #[test]
    fn events_are_one_http_chunk_per_write() {
        let g = Generated::openai(3, Framing::Events);
        let writes: Vec<Vec<u8>> = g.writes().collect();
        assert_eq!(writes.len(), g.events());
        let (last, others) = writes.split_last().unwrap();
        for (i, w) in others.iter().enumerate() {
            // One whole HTTP chunk holding one event.
            let terminated = [&w[..], b"0\r\n\r\n"].concat();
            assert_eq!(dechunk(&terminated), (g.event(i).unwrap(), 1));
        }
        // The last carries the terminator.
        assert_eq!(dechunk(last), (b"data: [DONE]\n\n".to_vec(), 1));
        // Close-delimited, as `Replay::generated` sends it: the bare events.
        let plain = Generated::new(3, "hi");
        let writes: Vec<Vec<u8>> = plain.writes().collect();
        assert_eq!(
            writes,
            (0..5).map(|i| plain.event(i).unwrap()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn header_replaces_same_name() {
        let r = Replay::json(401, "{}").header("Content-Type", "text/plain");
        assert_eq!(
            r.headers,
            vec![("Content-Type".to_string(), "text/plain".to_string())]
        );
    }
}
