//! The SSE parser's cost per MiB of body: a 10 MiB body of small events
//! (real OpenAI chunk lines) next to one 10 MiB event. The parser is
//! linear, so the single event should cost about what the small events
//! cost per MiB; a parser that re-scanned its buffer on every read would be
//! orders of magnitude slower on the single event.
//!
//! For reference, the same bodies through eventsource-stream (which
//! rivulet used before) fed whole lines, the best that crate allows: cut
//! at line ends with memchr, a line copied only when a frame cuts it. Fed
//! whole reads instead, it is quadratic in a line's length.
//!
//! `sse` collects owned events ([`SseParser::feed`]); `sse_lent` hands
//! each to a sink borrowed ([`SseParser::feed_with`]), as the decoders
//! read them.
//!
//! `cargo bench -p rivulet-providers --bench sse`

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eventsource_stream::Eventsource;
use futures::StreamExt;
use rivulet_providers::sse::{SseEvent, SseParser};
use rivulet_testkit::wire;

const TARGET: usize = 10 << 20;

/// One real Chat Completions chunk event (a text delta), as recorded:
/// `data: {...}` and its blank line.
fn openai_event() -> Vec<u8> {
    let body = wire("openai-chat/text_include_usage.sse");
    let text = String::from_utf8(body).expect("UTF-8 transcript");
    let line = text
        .lines()
        .find(|l| l.contains(r#""delta":{"content":"#))
        .expect("a text delta line");
    format!("{line}\n\n").into_bytes()
}

/// About `TARGET` bytes of `event` repeated.
fn small_events(event: &[u8]) -> Vec<u8> {
    event.repeat(TARGET / event.len())
}

/// One `data:` line of `TARGET` bytes: the chunk's JSON repeated (no line
/// ends), as a huge tool-call argument or audio payload would arrive.
fn one_event(event: &[u8]) -> Vec<u8> {
    let json = event
        .trim_ascii_end()
        .strip_prefix(b"data: ")
        .expect("data");
    let mut body = b"data: ".to_vec();
    while body.len() < TARGET {
        body.extend_from_slice(json);
    }
    body.extend_from_slice(b"\n\n");
    body
}

/// Parses a body delivered in `frames`; the events, for checking.
fn parse<'a>(frames: impl Iterator<Item = &'a [u8]>) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    for frame in frames {
        parser.feed(frame, &mut events).expect("valid body");
    }
    parser.finish().expect("valid body");
    events
}

/// Parses a body delivered in `frames`, each event lent to a sink (as a
/// decoder reads them); the number of events.
fn lent<'a>(frames: impl Iterator<Item = &'a [u8]>) -> usize {
    let mut parser = SseParser::new();
    let mut events = 0;
    for frame in frames {
        parser
            .feed_with(frame, |event| {
                black_box(event.data);
                events += 1;
            })
            .expect("valid body");
    }
    parser.finish().expect("valid body");
    events
}

/// `body` in frames of `size` bytes, cut into whole lines (LF-terminated;
/// the bench bodies have no CR): zero-copy slices, except a line that a
/// frame cuts, which is joined in a buffer.
struct Lines {
    body: Bytes,
    size: usize,
    /// Where the next frame starts.
    at: usize,
    /// The rest of the current frame.
    frame: Bytes,
    partial: Vec<u8>,
}

impl Iterator for Lines {
    type Item = Result<Bytes, Infallible>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(end) = memchr::memchr(b'\n', &self.frame) {
                let line = self.frame.split_to(end + 1);
                if self.partial.is_empty() {
                    return Some(Ok(line));
                }
                self.partial.extend_from_slice(&line);
                return Some(Ok(Bytes::from(std::mem::take(&mut self.partial))));
            }
            self.partial.extend_from_slice(&self.frame);
            if self.at == self.body.len() {
                return None;
            }
            let end = (self.at + self.size).min(self.body.len());
            self.frame = self.body.slice(self.at..end);
            self.at = end;
        }
    }
}

/// eventsource-stream fed whole lines of `body` in frames of `size`: the
/// number of events.
fn eventsource_lines(body: &Bytes, size: usize) -> usize {
    let lines = Lines {
        body: body.clone(),
        size,
        at: 0,
        frame: Bytes::new(),
        partial: Vec::new(),
    };
    let events = futures::stream::iter(lines).eventsource();
    futures::executor::block_on(events.map(|e| e.expect("valid body")).count())
}

fn bench(c: &mut Criterion) {
    let event = openai_event();
    let small = small_events(&event);
    let one = one_event(&event);
    let events = small.len() / event.len();
    assert_eq!(parse(small.chunks(16 << 10)).len(), events);
    assert_eq!(parse(one.chunks(16 << 10))[0].data.len(), one.len() - 8);

    // Frames as a fast server's reads give them, as a model streaming at
    // its own pace writes them (one event per frame), and small.
    let cases: [(&str, &[u8], usize); 4] = [
        ("small_events/16KiB_frames", &small, 16 << 10),
        ("small_events/one_per_frame", &small, event.len()),
        ("one_event/16KiB_frames", &one, 16 << 10),
        ("one_event/1KiB_frames", &one, 1 << 10),
    ];
    let mut group = c.benchmark_group("sse");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    for (name, body, frame) in cases {
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), body, |b, body| {
            b.iter(|| black_box(parse(body.chunks(frame))).len())
        });
    }
    group.finish();

    // The decoders' path: each event lent to a sink, not collected.
    let mut group = c.benchmark_group("sse_lent");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    for (name, body, frame) in cases {
        assert_eq!(lent(body.chunks(frame)), parse(body.chunks(frame)).len());
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), body, |b, body| {
            b.iter(|| lent(body.chunks(frame)))
        });
    }
    group.finish();

    let mut group = c.benchmark_group("eventsource_stream_lines");
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(5));
    for (name, body, frame) in cases {
        let body = Bytes::copy_from_slice(body);
        assert_eq!(
            eventsource_lines(&body, frame),
            if body.len() == small.len() { events } else { 1 }
        );
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::from_parameter(name), &body, |b, body| {
            b.iter(|| eventsource_lines(body, frame))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
