//! Server-sent events on the wire: each event a ready frame of bytes, the
//! `text/event-stream` response, and its keep-alive comments.
//!
//! Why not axum's `Sse`: with one stream fanned out to many attachers, the
//! per-attacher work is what counts. axum's `Event` is a buffer each
//! attacher clones (an allocation and a copy per chunk per attacher), and
//! its keep-alive resets a timer on every event (a clock read and a trip
//! through the shared timer wheel per chunk per attacher). Here a frame is
//! `Bytes`, shared by every attacher (a reference count), and the
//! keep-alive is a ticking interval that only looks at whether anything
//! went out since its last tick.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::Response;
use futures::Stream;
use rivulet::json::{chunk_line, write_chunk_line};
use rivulet::SharedChunk;
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// One event: `id:` (when given), `event:` (a name of ours), `data:`.
/// `data` is JSON, one line; should it hold a line break anyway (a line
/// from the shared log is another process's), each of its lines gets a
/// `data:` field of its own, as SSE joins them, so it cannot end the event
/// or add a field.
pub(crate) fn frame(id: Option<u64>, event: &str, data: &str) -> Bytes {
    let mut out = Vec::with_capacity(data.len() + event.len() + 40);
    push_head(&mut out, id, event);
    let lines = data
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .flat_map(|l| l.split('\r'));
    for line in lines {
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out.push(b'\n');
    Bytes::from(out)
}

/// A chunk's event: `id:` its offset, `event:` its type, `data:` its
/// `-o chunks` line, written straight into the frame (no line of its own
/// to copy).
pub(crate) fn chunk_frame(chunk: &SharedChunk) -> Bytes {
    let mut out = Vec::with_capacity(96 + chunk.type_name().len() + 40);
    push_chunk_event(&mut out, chunk);
    Bytes::from(out)
}

/// Appends [`chunk_frame`]'s bytes to `out`: for a writer that keeps its
/// buffer from one chunk to the next.
pub(crate) fn push_chunk_event(out: &mut Vec<u8>, chunk: &SharedChunk) {
    push_head(out, Some(chunk.offset()), chunk.type_name());
    out.extend_from_slice(b"data: ");
    let data = out.len();
    let written = write_chunk_line(&mut *out, chunk).is_ok();
    if !written {
        // What `chunk_line` writes instead (an error line).
        out.truncate(data);
        out.extend_from_slice(chunk_line(chunk).as_bytes());
    }
    out.extend_from_slice(b"\n\n");
}

/// An event's `id:` (when given) and `event:` lines.
fn push_head(out: &mut Vec<u8>, id: Option<u64>, event: &str) {
    if let Some(id) = id {
        out.extend_from_slice(b"id: ");
        out.extend_from_slice(itoa::Buffer::new().format(id).as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(event.as_bytes());
    out.push(b'\n');
}

/// A `text/event-stream` response (not cached) with `body`: for streams
/// written as ready SSE frames.
pub(crate) fn event_stream(body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The response of `frames`, with a keep-alive comment (`:`) once a whole
/// `keep_alive` interval has passed with nothing sent: a connection is idle
/// at most twice `keep_alive` before a comment goes out.
pub(crate) fn with_keep_alive(
    frames: impl Stream<Item = Bytes> + Send + 'static,
    keep_alive: Duration,
) -> Response {
    let mut tick = tokio::time::interval_at(Instant::now() + keep_alive, keep_alive);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    event_stream(Body::from_stream(KeepAlive {
        frames: Box::pin(frames),
        tick,
        sent: false,
        ended: false,
    }))
}

/// The comment a keep-alive sends.
pub(crate) const COMMENT: &[u8] = b":\n\n";

struct KeepAlive<S> {
    frames: Pin<Box<S>>,
    tick: Interval,
    /// Whether a frame went out since the last tick.
    sent: bool,
    ended: bool,
}

impl<S: Stream<Item = Bytes>> Stream for KeepAlive<S> {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match self.frames.as_mut().poll_next(cx) {
            Poll::Ready(Some(frame)) => {
                self.sent = true;
                return Poll::Ready(Some(Ok(frame)));
            }
            Poll::Ready(None) => {
                self.ended = true;
                return Poll::Ready(None);
            }
            Poll::Pending => {}
        }
        while self.tick.poll_tick(cx).is_ready() {
            if !std::mem::take(&mut self.sent) {
                return Poll::Ready(Some(Ok(Bytes::from_static(COMMENT))));
            }
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    #[test]
    fn a_chunk_frame_is_a_frame_of_its_offset_type_and_line() {
        for chunk in [
            SharedChunk::at(7, rivulet::Chunk::text(0, "a \"quoted\"\nline")),
            SharedChunk::at(8, rivulet::Chunk::TextEnd { part: 0 }),
        ] {
            assert_eq!(
                chunk_frame(&chunk),
                frame(Some(chunk.offset()), chunk.type_name(), &chunk_line(&chunk))
            );
        }
    }

    #[test]
    fn a_text_chunk_line_is_the_one_serde_writes() {
        for (part, text) in [(0, ""), (3, "Hi"), (12345, "a \"q\"\n\t\u{1}é😀\\")] {
            let chunk = SharedChunk::at(9, rivulet::Chunk::text(part, text));
            let serde = serde_json::to_string(&*chunk).unwrap();
            assert_eq!(
                chunk_frame(&chunk),
                format!("id: 9\nevent: text_chunk\ndata: {serde}\n\n")
            );
        }
    }

    #[test]
    fn a_frame_is_its_fields_then_a_blank_line() {
        assert_eq!(
            frame(Some(12), "text_chunk", r#"{"delta":"a"}"#),
            "id: 12\nevent: text_chunk\ndata: {\"delta\":\"a\"}\n\n"
        );
        assert_eq!(
            frame(None, "end", r#"{"status":"finished"}"#),
            "event: end\ndata: {\"status\":\"finished\"}\n\n"
        );
    }

    #[test]
    fn line_breaks_in_data_cannot_end_the_event_or_add_a_field() {
        assert_eq!(
            frame(Some(1), "text_chunk", "a\n\nid: 9\r\nb\rc"),
            "id: 1\nevent: text_chunk\ndata: a\ndata: \ndata: id: 9\ndata: b\ndata: c\n\n"
        );
    }

    /// What the response's body sends, with the time (in keep-alive
    /// intervals, from the start) each piece went out.
    async fn sent(frames: impl Stream<Item = Bytes> + Send + 'static) -> Vec<(u128, String)> {
        let interval = Duration::from_millis(100);
        let start = Instant::now();
        let body = with_keep_alive(frames, interval).into_body();
        body.into_data_stream()
            .map(|b| {
                let at = start.elapsed().as_millis() / interval.as_millis();
                (at, String::from_utf8(b.unwrap().to_vec()).unwrap())
            })
            .collect()
            .await
    }

    #[tokio::test(start_paused = true)]
    async fn a_comment_goes_out_only_after_a_whole_idle_interval() {
        // Frames at 50, 100, 150 ms (busy), then one at 450 ms, then the end
        // at 500 ms.
        let frames = futures::stream::unfold(0u64, |i| async move {
            let wait = match i {
                0..=2 => 50,
                3 => 300,
                4 => 50,
                _ => return None,
            };
            tokio::time::sleep(Duration::from_millis(wait)).await;
            Some((Bytes::from(format!("{i}")), i + 1))
        });
        let got = sent(frames).await;
        let text: Vec<&str> = got.iter().map(|(_, s)| s.as_str()).collect();
        // Ticks at 100 (sent since: no comment), 200 (sent at 150: none),
        // 300 (nothing since 200: a comment), 400 (a comment).
        assert_eq!(text, ["0", "1", "2", ":\n\n", ":\n\n", "3", "4"]);
        assert_eq!(got[3].0, 3);
        assert_eq!(got[4].0, 4);
    }
}
