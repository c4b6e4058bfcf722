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

/// A lazily generated OpenAI chat-completion stream (see [`Replay::generated`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// Number of content chunks before the finish chunk.
    pub n_chunks: usize,
    /// The `delta.content` of every content chunk.
    pub chunk_text: String,
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
    /// When set, the body is an endless-looking generated stream produced
    /// lazily, one event per write; `body` and `split` are ignored.
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
    /// `data: [DONE]`, one event per write with `delay` between events.
    ///
    /// The events are produced as they are written, so `n_chunks` can be
    /// huge; [`crate::Server::bytes_written`] shows how far the client read.
    pub fn generated(n_chunks: usize, delay: Duration, chunk_text: &str) -> Self {
        let mut r = Replay::sse(Vec::new()).delay(delay);
        r.generated = Some(Generated {
            n_chunks,
            chunk_text: chunk_text.to_string(),
        });
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

impl Generated {
    /// The `i`-th event of the stream, or `None` past the end. Events
    /// `0..n_chunks` carry the text, then come the finish chunk and `[DONE]`.
    pub fn event(&self, i: usize) -> Option<Vec<u8>> {
        const HEAD: &str = r#"data: {"id":"chatcmpl-gen","object":"chat.completion.chunk","model":"gen","choices":[{"index":0,"delta":"#;
        if i < self.n_chunks {
            let text = serde_json::to_string(&self.chunk_text).unwrap_or_else(|_| "\"\"".into());
            Some(
                format!("{HEAD}{{\"content\":{text}}},\"finish_reason\":null}}]}}\n\n")
                    .into_bytes(),
            )
        } else if i == self.n_chunks {
            Some(format!("{HEAD}{{}},\"finish_reason\":\"stop\"}}]}}\n\n").into_bytes())
        } else if i == self.n_chunks + 1 {
            Some(b"data: [DONE]\n\n".to_vec())
        } else {
            None
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
        let g = Generated {
            n_chunks: 2,
            chunk_text: "a \"quoted\" é".into(),
        };
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

    #[test]
    fn header_replaces_same_name() {
        let r = Replay::json(401, "{}").header("Content-Type", "text/plain");
        assert_eq!(
            r.headers,
            vec![("Content-Type".to_string(), "text/plain".to_string())]
        );
    }
}
