//! The bench program of `rivulet serve`: what a stream costs once it leaves
//! the process, next to the same stream consumed in-process.
//!
//! ```sh
//! cargo build --release -p rivulet-cli
//! cargo run --release -p rivulet-server --example serve_bench [-- --runs 5]
//! ```
//!
//! The server is the real `rivulet serve` binary (`target/release/rivulet`,
//! or `--rivulet PATH`), started afresh for every run of a scenario with
//! `-m openai/bench` pointed at a loopback provider in this process. The
//! provider sends testkit's real-shaped OpenAI chunks (every field of a
//! recorded chunk, the `obfuscation` padding, chunked transfer coding; the
//! bench program's servers, `bench/src/main.rs`), one event per write.
//! Every client is a child process of this same binary; the SSE and
//! gateway clients are raw tokio sockets with a minimal HTTP/SSE reader, so
//! they cost the machine little. The server's CPU is the kernel's count
//! for its process (`/proc/PID/stat`, read before and after a phase: to
//! the nearest 10 ms, over phases of a second or more), its memory
//! `VmRSS`; an in-process client's CPU is its own `getrusage` over the
//! same phase.
//!
//! Three scenarios, the targets of issue 12:
//! 1. first chunk: `--latency-streams` (100) streams at once, each of
//!    `--latency-chunks` chunks 2 ms apart, `--latency-rounds` in a row;
//!    the provider writes the time into the first content chunk and the
//!    consumer subtracts it from the time it holds that chunk's text: an
//!    in-process consumer of `Model::stream` against an SSE client of
//!    `POST /v1/streams` + `GET /v1/streams/{id}/events`. The provider
//!    waits 20 ms before its first content chunk, so the SSE client is
//!    attached by then: the POST's and the attach's own times are not in
//!    the figure; they are reported beside it (and any stream whose client
//!    attached late is counted).
//! 2. fan-out: one stream of `--fanout-chunks` chunks `--fanout-pace-ms`
//!    apart, `--attachers` (1,000) SSE clients. Every client checks it got
//!    every chunk, in order, with the text sent. The server's CPU over the
//!    stream (from the provider's first chunk to the last client's `end`)
//!    per chunk per attacher; its resident memory with every client
//!    attached and idle (the provider holding the stream back) minus
//!    before the first attached, per attacher. The same provider and
//!    clients then go through the floor relay (`serve_bench/floor.rs`,
//!    the cheapest relay there is), whose CPU is printed beside.
//! 3. gateway: `--gateway-streams` (500) `POST /v1/chat/completions`
//!    (`stream: true`) at once, each of `--gateway-chunks` chunks
//!    `--gateway-pace-ms` apart (testkit's paced server, as the bench
//!    program's concurrent scenario), against the same streams consumed
//!    in-process; CPU per chunk of the server process over that of the
//!    in-process client.
//!
//! The runs go round-robin over the scenarios; each figure is the median
//! over the runs with the min–max beside it, and each ratio or difference
//! is taken within a run before its median is taken. At the end it prints
//! the targets as met or not and a block ready for the README.
//!
//! `--only latency,gateway,fanout` runs some of the scenarios;
//! `--only redis` runs issue 13's instead (`rivulet serve --redis`, two
//! nodes and a redis-server: see `serve_bench/redis.rs`);
//! `--server-prefix "valgrind --tool=callgrind"` runs the server under a
//! profiler (its CPU and memory figures then mean nothing).

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rivulet_testkit::bench::{
    self, arg, cpu_us, load_average, mono_ns, raise_fd_limit, reap, run_delay_us, self_cpu_us,
    stamp_server, status_kib, thousands, Seen, Stamping, Stat,
};
use rivulet_testkit::{Framing, Generated, Replay, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// Issue 13's scenarios (`--only redis`), in a file of their own.
#[path = "serve_bench/redis.rs"]
mod redis;

// The fan-out scenario's floor: the cheapest relay, as a child process.
#[path = "serve_bench/floor.rs"]
mod floor;

/// The model every stream asks for; the server's `-m` too.
const MODEL: &str = "openai/bench";

/// Before the first content chunk of a latency stream: a fast model's time
/// to first token, and time enough for an SSE client to attach.
const LEAD: Duration = Duration::from_millis(20);

/// Between two chunks of a latency stream.
const PACE: Duration = Duration::from_millis(2);

// ---------------------------------------------------------------- raw HTTP

/// A response read off a raw socket: the head parsed (httparse), the body
/// read as it arrives.
struct Raw {
    sock: TcpStream,
    status: u16,
    chunked: bool,
    length: Option<usize>,
    /// Body bytes read along with the head.
    rest: Vec<u8>,
}

/// Sends one HTTP/1.1 request on a new connection and reads the head of
/// the answer.
async fn send(addr: &str, method: &str, path: &str, body: &str) -> std::io::Result<Raw> {
    let mut sock = TcpStream::connect(addr).await?;
    sock.set_nodelay(true)?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    sock.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(4096);
    loop {
        if sock.read_buf(&mut buf).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut head = httparse::Response::new(&mut headers);
        let len = match head.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => continue,
            Err(e) => return Err(std::io::Error::other(e)),
        };
        let header = |name: &str| {
            head.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).to_ascii_lowercase())
        };
        let chunked = header("transfer-encoding").is_some_and(|v| v.contains("chunked"));
        let length = header("content-length").and_then(|v| v.trim().parse().ok());
        return Ok(Raw {
            status: head.code.unwrap_or(0),
            chunked,
            length,
            rest: buf[len..].to_vec(),
            sock,
        });
    }
}

impl Raw {
    /// Hands the body to `f` as it arrives (de-chunked) until `f` returns
    /// true or the body ends.
    async fn read_body(mut self, mut f: impl FnMut(&[u8]) -> bool) -> std::io::Result<()> {
        let mut dechunk = self.chunked.then(Dechunk::default);
        let mut left = if self.chunked { None } else { self.length };
        let mut buf = std::mem::take(&mut self.rest);
        buf.reserve(8192);
        let mut out = Vec::new();
        loop {
            if !buf.is_empty() {
                match &mut dechunk {
                    Some(d) => {
                        out.clear();
                        let ended = d.feed(&buf, &mut out)?;
                        if f(&out) || ended {
                            return Ok(());
                        }
                    }
                    None => {
                        let take = left.map_or(buf.len(), |l| l.min(buf.len()));
                        if f(&buf[..take]) {
                            return Ok(());
                        }
                        if let Some(l) = &mut left {
                            *l -= take;
                        }
                    }
                }
            }
            if left == Some(0) {
                return Ok(());
            }
            buf.clear();
            if self.sock.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        }
    }

    /// The whole body.
    async fn body(self) -> std::io::Result<Vec<u8>> {
        let mut all = Vec::new();
        self.read_body(|b| {
            all.extend_from_slice(b);
            false
        })
        .await?;
        Ok(all)
    }
}

/// Undoes chunked transfer coding, fed as bytes arrive.
#[derive(Default)]
struct Dechunk {
    state: DechunkState,
    size: usize,
}

#[derive(Default, PartialEq)]
enum DechunkState {
    #[default]
    Size,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    Done,
}

impl Dechunk {
    /// Appends the data in `input` to `out`; true once the last chunk has
    /// been read.
    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> std::io::Result<bool> {
        use DechunkState::*;
        let bad = || std::io::Error::other("bad chunked body");
        while let Some(&b) = input.first() {
            if self.state == Data {
                let n = self.size.min(input.len());
                out.extend_from_slice(&input[..n]);
                input = &input[n..];
                self.size -= n;
                if self.size == 0 {
                    self.state = DataCr;
                }
                continue;
            }
            input = &input[1..];
            self.state = match (&self.state, b) {
                (Size, b';') => Extension,
                (Size | Extension, b'\r') => SizeLf,
                (Size | Extension | SizeLf, b'\n') if self.size == 0 => Done,
                (Size | Extension | SizeLf, b'\n') => Data,
                (Size, _) => {
                    let digit = (b as char).to_digit(16).ok_or_else(bad)? as usize;
                    self.size = self
                        .size
                        .checked_mul(16)
                        .and_then(|s| s.checked_add(digit))
                        .ok_or_else(bad)?;
                    Size
                }
                (Extension, _) => Extension,
                (DataCr, b'\r') => DataLf,
                (DataLf, b'\n') => Size,
                (Done, _) => return Ok(true),
                _ => return Err(bad()),
            };
        }
        Ok(self.state == Done)
    }
}

/// One server-sent event.
struct SseEvent<'a> {
    id: &'a [u8],
    event: &'a [u8],
    data: &'a [u8],
}

/// The least of an SSE parser: `id`, `event`, `data` (lines joined),
/// comments skipped.
#[derive(Default)]
struct Sse {
    /// A line torn across two reads.
    torn: Vec<u8>,
    id: Vec<u8>,
    event: Vec<u8>,
    data: Vec<u8>,
}

impl Sse {
    /// Calls `f` with every event `bytes` completes; true as soon as `f`
    /// returns true.
    fn feed(&mut self, mut bytes: &[u8], f: &mut impl FnMut(SseEvent<'_>) -> bool) -> bool {
        while let Some(nl) = memchr::memchr(b'\n', bytes) {
            let done = if self.torn.is_empty() {
                self.line(&bytes[..nl], f)
            } else {
                let mut torn = std::mem::take(&mut self.torn);
                torn.extend_from_slice(&bytes[..nl]);
                let done = self.line(&torn, f);
                torn.clear();
                self.torn = torn;
                done
            };
            bytes = &bytes[nl + 1..];
            if done {
                return true;
            }
        }
        self.torn.extend_from_slice(bytes);
        false
    }

    fn line(&mut self, line: &[u8], f: &mut impl FnMut(SseEvent<'_>) -> bool) -> bool {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            if self.data.is_empty() && self.event.is_empty() {
                return false;
            }
            let done = f(SseEvent {
                id: &self.id,
                event: &self.event,
                data: &self.data,
            });
            self.id.clear();
            self.event.clear();
            self.data.clear();
            return done;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(0) => return false, // a comment (keep-alive)
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"id" => {
                self.id.clear();
                self.id.extend_from_slice(value);
            }
            b"event" => {
                self.event.clear();
                self.event.extend_from_slice(value);
            }
            b"data" => {
                if !self.data.is_empty() {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
            }
            _ => {}
        }
        false
    }
}

/// A `text_chunk` event's data (`{"type":"text_chunk","part":0,"delta":…}`).
#[derive(serde::Deserialize)]
struct TextChunk<'a> {
    #[serde(borrow)]
    delta: Cow<'a, str>,
}

/// An OpenAI `chat.completion.chunk`: just `choices[0].delta.content`.
#[derive(serde::Deserialize)]
struct CompletionChunk<'a> {
    #[serde(borrow)]
    choices: Vec<CompletionChoice<'a>>,
}
#[derive(serde::Deserialize)]
struct CompletionChoice<'a> {
    #[serde(borrow)]
    delta: Option<CompletionDelta<'a>>,
}
#[derive(serde::Deserialize)]
struct CompletionDelta<'a> {
    #[serde(borrow)]
    content: Option<Cow<'a, str>>,
}

/// `201` to `POST /v1/streams`.
#[derive(serde::Deserialize)]
struct Started {
    events_url: String,
}

// ---------------------------------------------------------------- clients

/// The journey of a stamped stream's first delta in ns, checking the
/// rest of the text and the count against what the provider sent.
fn latency(seen: &Seen, chunks: usize, rest: &str) -> u64 {
    assert_eq!(seen.deltas, chunks as u64, "deltas");
    let (stamp, at) = seen.first.as_ref().expect("a first delta");
    assert!(
        seen.text.strip_prefix(stamp.as_str()) == Some(rest),
        "the text after the stamp differs from the one sent"
    );
    let written: u64 = stamp.parse().expect("a stamped first delta");
    at.saturating_sub(written)
}

/// As `rivulet serve` builds its models (cli/src/serve.rs: the connect
/// and idle timeouts at their defaults), pointed at the provider.
fn model(url: &str) -> rivulet::Model {
    rivulet::Model::new(MODEL)
        .base_url(format!("{url}/v1"))
        .api_key("bench")
        .connect_timeout(Duration::from_secs(10))
        .idle_timeout(Duration::from_secs(120))
}

/// The runtime `rivulet serve` runs on (cli/src/serve.rs).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// One stream consumed in-process, as the server consumes it.
async fn in_process(m: &rivulet::Model) -> Seen {
    let response = m.stream("go");
    let mut chunks = response.chunk_stream();
    let mut seen = Seen::default();
    while let Some(c) = chunks.next().await {
        if let rivulet::Chunk::Text { delta, .. } = &*c.expect("chunk") {
            seen.delta(delta);
        }
    }
    seen
}

/// One stream through the server: `POST /v1/streams`, then its events.
/// Returns what was seen, the POST's time to its `201` body and the
/// attach's time to the response head (ns), and when the attach was done.
async fn through_server(addr: &str) -> (Seen, u64, u64, u64) {
    let t0 = mono_ns();
    let path = start_stream(addr).await;
    let t1 = mono_ns();
    let (seen, t2) = follow(addr, &path).await;
    (seen, t1 - t0, t2 - t1, t2)
}

/// `POST /v1/streams` on `addr`; the path of the stream's events.
async fn start_stream(addr: &str) -> String {
    let body = format!(r#"{{"model":"{MODEL}","prompt":"go"}}"#);
    let posted = send(addr, "POST", "/v1/streams", &body)
        .await
        .expect("POST /v1/streams");
    assert_eq!(posted.status, 201, "POST /v1/streams");
    let started: Started =
        serde_json::from_slice(&posted.body().await.expect("201 body")).expect("201 JSON");
    started.events_url
}

/// One SSE client of a stream on `addr`, to its `end` (checked to be
/// `finished`): what it saw, and when its response head came.
async fn follow(addr: &str, path: &str) -> (Seen, u64) {
    let events = send(addr, "GET", path, "").await.expect("GET events");
    assert_eq!(events.status, 200, "GET events on {addr}");
    let attached = mono_ns();
    let mut seen = Seen::default();
    let mut sse = Sse::default();
    let mut end = String::new();
    events
        .read_body(|bytes| {
            sse.feed(bytes, &mut |e| match e.event {
                b"text_chunk" => {
                    let c: TextChunk = serde_json::from_slice(e.data).expect("text_chunk JSON");
                    seen.delta(&c.delta);
                    false
                }
                b"end" => {
                    end = String::from_utf8_lossy(e.data).into_owned();
                    true
                }
                _ => false,
            })
        })
        .await
        .expect("events");
    assert_eq!(end, r#"{"status":"finished"}"#, "end event on {addr}");
    (seen, attached)
}

/// The text of content chunks 1.. of a stamped stream.
fn text_after_stamp(chunks: usize) -> String {
    let g = Generated::openai(chunks, Framing::Events);
    (1..chunks).map(|i| g.token(i)).collect()
}

/// `slots` tasks at once on a runtime of its own, slot `i` starting
/// `i × stagger_us` µs in and running `f()` `rounds` times in a row: every
/// result.
fn staggered<T, F, Fut>(slots: usize, rounds: usize, stagger_us: u64, f: F) -> Vec<T>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = T> + Send,
    T: Send + 'static,
{
    runtime().block_on(async move {
        let tasks: Vec<_> = (0..slots)
            .map(|slot| {
                let f = f.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_micros(slot as u64 * stagger_us)).await;
                    let mut out = Vec::with_capacity(rounds);
                    for _ in 0..rounds {
                        out.push(f().await);
                    }
                    out
                })
            })
            .collect();
        let mut all = Vec::new();
        for t in tasks {
            all.extend(t.await.expect("slot"));
        }
        all
    })
}

/// The first-chunk scenario's client: `SLOTS` streams at once, slot `i`
/// starting `i × STAGGER_US` in and running `ROUNDS` streams in a row.
/// `__latency inproc|sse URL|ADDR SLOTS ROUNDS CHUNKS STAGGER_US`.
fn latency_client(args: &[String]) {
    let (how, target) = (args[0].clone(), args[1].clone());
    let n = |i: usize| -> usize { args[i].parse().expect("a number") };
    let (slots, rounds, chunks, stagger) = (n(2), n(3), n(4), n(5) as u64);
    raise_fd_limit();
    let rest = Arc::new(text_after_stamp(chunks));
    let m = model(&target);
    let (cpu_before, started) = (self_cpu_us(), Instant::now());
    let wait_before = run_delay_us("self").unwrap_or(f64::NAN);
    let samples = staggered(slots, rounds, stagger, move || {
        let (how, target, m, rest) = (how.clone(), target.clone(), m.clone(), rest.clone());
        async move {
            if how == "inproc" {
                let seen = in_process(&m).await;
                (latency(&seen, chunks, &rest), 0, 0, false)
            } else {
                let (seen, post, attach, attached) = through_server(&target).await;
                let stamp: u64 = seen.first.as_ref().map_or(0, |f| f.0.parse().unwrap_or(0));
                (
                    latency(&seen, chunks, &rest),
                    post,
                    attach,
                    attached > stamp,
                )
            }
        }
    });
    // Whatever the streams left running settles before the CPU is read.
    std::thread::sleep(SETTLE);
    let cpu_after = self_cpu_us();
    let wall = started.elapsed() - SETTLE;
    let (cpu, sys) = (
        (cpu_after.0 + cpu_after.1) - (cpu_before.0 + cpu_before.1),
        cpu_after.1 - cpu_before.1,
    );
    let wait = run_delay_us("self").unwrap_or(f64::NAN) - wait_before;
    let lat: Vec<u64> = samples.iter().map(|s| s.0).collect();
    let post: Vec<u64> = samples.iter().map(|s| s.1).collect();
    let attach: Vec<u64> = samples.iter().map(|s| s.2).collect();
    let late = samples.iter().filter(|s| s.3).count();
    println!(
        "{}",
        serde_json::json!({
            "lat_ns": lat, "post_ns": post, "attach_ns": attach, "late": late,
            "phase_cpu_us": cpu, "phase_sys_us": sys, "wall_us": wall.as_micros() as u64,
            "wait_us": wait,
        })
    );
}

/// The fan-out scenario's client: `N` SSE clients of one stream. Prints
/// `{"attached": N}` once every one has its response head, then, once
/// every one has its `end`, what they got (each checked).
/// `__fanout ADDR EVENTS_PATH N CHUNKS`.
fn fanout_client(args: &[String]) {
    let (addr, path) = (args[0].clone(), args[1].clone());
    let n: usize = args[2].parse().expect("attachers");
    let chunks: usize = args[3].parse().expect("chunks");
    raise_fd_limit();
    let text = Arc::new(Generated::openai(chunks, Framing::Events).text());
    let events = runtime().block_on(async move {
        let (attached_tx, mut attached_rx) = tokio::sync::mpsc::channel::<()>(n.max(1));
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (addr, path, text, attached) = (
                    addr.clone(),
                    path.clone(),
                    text.clone(),
                    attached_tx.clone(),
                );
                tokio::spawn(async move {
                    let events = send(&addr, "GET", &path, "").await.expect("GET events");
                    assert_eq!(events.status, 200, "GET events");
                    let _ = attached.send(()).await;
                    drop(attached);
                    attacher(events, chunks, &text).await
                })
            })
            .collect();
        drop(attached_tx);
        let mut attached = 0;
        while attached_rx.recv().await.is_some() {
            attached += 1;
        }
        assert_eq!(attached, n, "attached");
        println!("{}", serde_json::json!({ "attached": attached }));
        let _ = std::io::stdout().flush();
        let mut events = 0;
        for t in tasks {
            events += t.await.expect("attacher");
        }
        events
    });
    println!("{}", serde_json::json!({ "events": events }));
}

/// One attacher of the fan-out: reads every event, checks that the ids
/// run 0, 1, 2, … without a gap, that the text is the one sent in as
/// many deltas as chunks, and that the stream finished. Returns the
/// events it got (`end` included).
async fn attacher(events: Raw, chunks: usize, text: &str) -> usize {
    let mut sse = Sse::default();
    let (mut got, mut next_id, mut deltas) = (0usize, 0u64, 0usize);
    let mut seen = String::with_capacity(text.len());
    let mut end = String::new();
    events
        .read_body(|bytes| {
            sse.feed(bytes, &mut |e| {
                got += 1;
                if e.event == b"end" {
                    end = String::from_utf8_lossy(e.data).into_owned();
                    return true;
                }
                let id: u64 = std::str::from_utf8(e.id)
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .expect("an event id");
                assert_eq!(id, next_id, "event ids");
                next_id += 1;
                if e.event == b"text_chunk" {
                    let c: TextChunk = serde_json::from_slice(e.data).expect("text_chunk JSON");
                    seen.push_str(&c.delta);
                    deltas += 1;
                }
                false
            })
        })
        .await
        .expect("events");
    assert_eq!(end, r#"{"status":"finished"}"#, "end event");
    assert_eq!(deltas, chunks, "text chunks");
    assert!(seen == text, "the text differs from the one sent");
    got
}

/// The gateway scenario's client: `N` streamed chat completions at once,
/// each checked. `__gateway ADDR N CHUNKS`.
fn gateway_client(args: &[String]) {
    let addr = args[0].clone();
    let n: usize = args[1].parse().expect("streams");
    let chunks: usize = args[2].parse().expect("chunks");
    raise_fd_limit();
    let text = Arc::new(Generated::openai(chunks, Framing::Events).text());
    let body = Arc::new(
        serde_json::json!({
            "model": MODEL,
            "stream": true,
            "stream_options": {"include_usage": true},
            "messages": [{"role": "user", "content": "go"}],
        })
        .to_string(),
    );
    let deltas = runtime().block_on(async move {
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (addr, body, text) = (addr.clone(), body.clone(), text.clone());
                tokio::spawn(async move {
                    let r = send(&addr, "POST", "/v1/chat/completions", &body)
                        .await
                        .expect("POST /v1/chat/completions");
                    assert_eq!(r.status, 200, "POST /v1/chat/completions");
                    let (mut sse, mut seen, mut deltas, mut done) =
                        (Sse::default(), String::new(), 0usize, false);
                    r.read_body(|bytes| {
                        sse.feed(bytes, &mut |e| {
                            if e.data == b"[DONE]" {
                                done = true;
                                return true;
                            }
                            let c: CompletionChunk =
                                serde_json::from_slice(e.data).expect("chunk JSON");
                            if let Some(t) = c
                                .choices
                                .into_iter()
                                .next()
                                .and_then(|c| c.delta)
                                .and_then(|d| d.content)
                            {
                                if !t.is_empty() {
                                    seen.push_str(&t);
                                    deltas += 1;
                                }
                            }
                            false
                        })
                    })
                    .await
                    .expect("completion stream");
                    assert!(done, "no [DONE]");
                    assert!(seen == *text, "the text differs from the one sent");
                    deltas
                })
            })
            .collect();
        let mut deltas = 0;
        for t in tasks {
            deltas += t.await.expect("stream");
        }
        deltas
    });
    assert_eq!(deltas, n * chunks, "deltas");
    println!("{}", serde_json::json!({ "deltas": deltas }));
}

/// The gateway scenario's in-process side: the same `N` streams consumed
/// in this process; prints the CPU this process used over them (from
/// before the first starts to 100 ms after the last ends, as the server's
/// is read). `__inproc_many URL N CHUNKS`.
fn inproc_many_client(args: &[String]) {
    let url = args[0].clone();
    let n: usize = args[1].parse().expect("streams");
    let chunks: usize = args[2].parse().expect("chunks");
    raise_fd_limit();
    let text = Generated::openai(chunks, Framing::Events).text();
    let rt = runtime();
    let before = self_cpu_us();
    let deltas = rt.block_on(async move {
        let m = model(&url);
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let m = m.clone();
                tokio::spawn(async move { in_process(&m).await })
            })
            .collect();
        let mut deltas = 0;
        for t in tasks {
            let seen = t.await.expect("stream");
            assert!(seen.text == text, "the text differs from the one sent");
            deltas += seen.deltas as usize;
        }
        tokio::time::sleep(SETTLE).await;
        deltas
    });
    let after = self_cpu_us();
    let (cpu, sys) = (
        (after.0 + after.1) - (before.0 + before.1),
        after.1 - before.1,
    );
    assert_eq!(deltas, n * chunks, "deltas");
    println!(
        "{}",
        serde_json::json!({ "deltas": deltas, "phase_cpu_us": cpu, "phase_sys_us": sys })
    );
}

/// After a phase, before its CPU is read: the work a phase leaves behind
/// (closing connections, ending actors) is counted in it.
const SETTLE: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------- the server

/// A `rivulet serve` process.
struct Serve {
    child: Child,
    addr: String,
    /// Its standard error after the "listening" line, for a failure.
    log: Arc<Mutex<String>>,
}

impl Serve {
    /// Starts `rivulet serve` on a free loopback port with `MODEL` pointed
    /// at `provider`, and waits for it to listen.
    fn start(rivulet: &str, provider: &str, max_streams: usize, max_attachers: usize) -> Serve {
        Serve::start_with(rivulet, provider, max_streams, max_attachers, &[])
    }

    /// As [`Serve::start`], with `extra` arguments to `rivulet serve`.
    fn start_with(
        rivulet: &str,
        provider: &str,
        max_streams: usize,
        max_attachers: usize,
        extra: &[String],
    ) -> Serve {
        // `--server-prefix "valgrind --tool=callgrind"`: run it under a
        // profiler.
        let mut command: Vec<String> = str_arg("--server-prefix")
            .map(|p| p.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        command.push(rivulet.to_string());
        let mut child = Command::new(&command[0])
            .args(&command[1..])
            .args([
                "serve",
                "--addr",
                "127.0.0.1:0",
                "-m",
                MODEL,
                "--drain",
                "1s",
            ])
            .args(["--max-streams", &max_streams.to_string()])
            .args(["--max-attachers", &max_attachers.to_string()])
            .args(extra)
            .env("OPENAI_BASE_URL", format!("{provider}/v1"))
            .env("OPENAI_API_KEY", "bench")
            .env_remove("RUST_LOG")
            .env_remove("RIVULET_MODEL")
            .env_remove("RIVULET_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {rivulet}: {e}"));
        let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(at) = line.split("listening on http://").nth(1) {
                        break at.trim().to_string();
                    }
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("rivulet serve did not start");
                }
            }
        };
        let log = Arc::new(Mutex::new(String::new()));
        let kept = log.clone();
        // Read its standard error to the end, so the pipe never fills.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut log = kept.lock().unwrap_or_else(|p| p.into_inner());
                if log.len() < 1 << 16 {
                    log.push_str(&line);
                    log.push('\n');
                }
            }
        });
        Serve { child, addr, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its CPU time so far, user and system, µs.
    fn cpu_us(&self) -> (f64, f64) {
        cpu_us(self.pid()).expect("the server's /proc/PID/stat")
    }

    /// How long its threads have waited for a core, µs.
    fn run_delay_us(&self) -> f64 {
        run_delay_us(&self.pid().to_string()).expect("the server's schedstat")
    }

    /// Its resident memory now, KiB.
    fn rss_kib(&self) -> f64 {
        status_kib(&self.pid().to_string(), "VmRSS").expect("the server's VmRSS") as f64
    }

    /// SIGTERM, then waits for it (SIGKILL after 10 s).
    fn stop(mut self) {
        self.end();
    }

    fn end(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        // SAFETY: a signal to our own child, which has not been reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner()).clone();
        eprintln!("rivulet serve did not stop within 10 s of SIGTERM; killed. Its log:\n{log}");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.end();
    }
}

/// A child of this program whose output is read line by line.
struct Lines {
    child: Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Lines {
    fn spawn(args: &[String]) -> Lines {
        let mut child = Command::new(std::env::current_exe().expect("current exe"))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn a client");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Lines { child, lines }
    }

    /// The next JSON line it prints.
    fn next(&mut self) -> serde_json::Value {
        let line = self
            .lines
            .next()
            .and_then(Result::ok)
            .expect("a line from the client (did it fail?)");
        serde_json::from_str(&line).expect("the client's JSON")
    }

    /// Waits for it; its CPU over its life, µs.
    // The child is reaped by wait4 in `reap`.
    #[allow(clippy::zombie_processes)]
    fn finish(self) -> f64 {
        let (ok, cpu) = reap(&self.child);
        assert!(ok, "the client failed");
        cpu
    }
}

// ---------------------------------------------------------------- parent

/// The scenarios, in the order each run takes them.
#[derive(Clone, Copy)]
enum Sc {
    LatencyInProcess,
    LatencyServe,
    GatewayInProcess,
    GatewayServe,
    Fanout,
    FanoutFloor,
}
impl Sc {
    /// The scenario's name for `--only`.
    fn group(self) -> &'static str {
        match self {
            Sc::LatencyInProcess | Sc::LatencyServe => "latency",
            Sc::GatewayInProcess | Sc::GatewayServe => "gateway",
            Sc::Fanout | Sc::FanoutFloor => "fanout",
        }
    }
}

const ALL: [Sc; 6] = [
    Sc::LatencyInProcess,
    Sc::LatencyServe,
    Sc::GatewayInProcess,
    Sc::GatewayServe,
    Sc::Fanout,
    Sc::FanoutFloor,
];

/// One run of one scenario.
#[derive(Clone, Debug, Default)]
struct Figures {
    /// First-chunk latencies, ns.
    lat: Vec<u64>,
    /// `POST /v1/streams` to its `201` body, ns.
    post: Vec<u64>,
    /// `GET …/events` to its response head, ns.
    attach: Vec<u64>,
    /// Streams whose SSE client attached after the first content chunk was
    /// written.
    late: usize,
    /// CPU over the measured phase, µs (the server's, or the in-process
    /// client's).
    cpu_us: f64,
    /// The part of it in the kernel, µs.
    sys_us: f64,
    /// Content chunks over the phase (per attacher for the fan-out).
    chunks: f64,
    /// Fan-out: attachers.
    attachers: f64,
    /// Fan-out: the server's VmRSS before the first attacher and with all
    /// attached and idle, KiB.
    rss_before: f64,
    rss_idle: f64,
    /// Fan-out: the server's CPU to take every attacher, µs.
    attach_cpu_us: f64,
    /// Fan-out: from the provider's release to the last `end`; latency:
    /// the client's streams, from the first start to the last end; ms.
    wall_ms: f64,
    /// Latency through the server: the SSE client's own CPU over its
    /// streams, µs.
    client_cpu_us: f64,
    /// Latency: how long the threads of the in-process client, or of the
    /// server, waited for a core over the streams, µs.
    wait_us: f64,
    /// Latency through the server: the same for the SSE client.
    client_wait_us: f64,
}

/// A warning when a server's CPU figure (µs) is too small for the 10 ms
/// ticks it is counted in.
fn coarse(cpu_us: Stat) -> &'static str {
    if cpu_us.min < 500_000.0 {
        "  (under 500 ms: coarse, the kernel counts it in 10 ms ticks)"
    } else {
        ""
    }
}

/// The `p`-th percentile (nearest rank) of `v`, in µs.
fn pct(v: &[u64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_unstable();
    let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1] as f64 / 1e3
}

fn u64s(v: &serde_json::Value) -> Vec<u64> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x.as_u64()).collect())
        .unwrap_or_default()
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

fn str_arg(flag: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).cloned()
}

/// `target/release/rivulet` beside this example (`target/release/examples/`).
fn default_rivulet() -> String {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(|examples| examples.parent())
        .map(|dir| dir.join("rivulet").display().to_string())
        .unwrap_or_else(|| "rivulet".into())
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        Some("__latency") => return latency_client(&argv[1..]),
        Some("__fanout") => return fanout_client(&argv[1..]),
        Some("__fanout_floor") => return floor::fanout_floor(&argv[1..]),
        Some("__gateway") => return gateway_client(&argv[1..]),
        Some("__inproc_many") => return inproc_many_client(&argv[1..]),
        Some("__xnode") => return redis::xnode_client(&argv[1..]),
        _ => {}
    }
    let runs = arg("--runs", 5).max(1);
    let lat_streams = arg("--latency-streams", 100).max(1);
    let lat_rounds = arg("--latency-rounds", 5).max(1);
    let lat_chunks = arg("--latency-chunks", 50).max(2);
    let attachers = arg("--attachers", 1000).max(1);
    let fan_chunks = arg("--fanout-chunks", 200).max(1);
    let fan_pace = Duration::from_millis(arg("--fanout-pace-ms", 10) as u64);
    let gw_streams = arg("--gateway-streams", 500).max(1);
    let gw_chunks = arg("--gateway-chunks", 100).max(1);
    let gw_pace = Duration::from_millis(arg("--gateway-pace-ms", 20) as u64);
    let rivulet = str_arg("--rivulet").unwrap_or_else(default_rivulet);
    if !std::path::Path::new(&rivulet).is_file() {
        eprintln!(
            "serve_bench: no rivulet binary at {rivulet}: build it first (cargo build --release -p rivulet-cli) or name it with --rivulet PATH"
        );
        std::process::exit(2);
    }
    raise_fd_limit();
    if str_arg("--only").as_deref() == Some("redis") {
        return redis::bench(&rivulet);
    }

    // The providers. Latency: stamped, 2 ms apart after a 20 ms lead (the
    // bench program's stamping server). Gateway: the bench program's paced
    // server. Fan-out: one stamping server per run, each held by a gate.
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let stamped = rt
        .block_on(stamp_server(Stamping {
            chunks: lat_chunks,
            lead: LEAD,
            pace: Some(PACE),
            stamp: true,
            gate: None,
        }))
        .url;
    let paced_server = rt.block_on(Server::start(vec![Replay::from_generated(
        Generated::openai(gw_chunks, Framing::Events),
    )
    .delay(gw_pace)]));
    let paced = paced_server.url();
    // Slot i starts i/N of a stream's length after slot 0: first chunks
    // spread over time rather than all at once.
    let stream_us = (LEAD + PACE * (lat_chunks as u32 + 2)).as_micros() as usize;
    let stagger_us = stream_us / lat_streams;
    let max_streams = 2 * lat_streams.max(gw_streams);

    eprintln!(
        "rivulet serve bench ({rivulet}): medians of {runs} runs; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let load_before = load_average();
    // `--only latency,gateway,fanout`: some of the scenarios.
    let only = str_arg("--only");
    let chosen: Vec<Sc> = ALL
        .into_iter()
        .filter(|sc| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|name| name.trim() == sc.group()))
        })
        .collect();
    let ran = bench::round_robin(runs, chosen.len(), |i| match chosen[i] {
        Sc::LatencyInProcess | Sc::LatencyServe => {
            let inproc = matches!(chosen[i], Sc::LatencyInProcess);
            let server = (!inproc).then(|| Serve::start(&rivulet, &stamped, max_streams, 256));
            let target = server
                .as_ref()
                .map_or(stamped.clone(), |srv| srv.addr.clone());
            let how = if inproc { "inproc" } else { "sse" };
            let before = server.as_ref().map(Serve::cpu_us);
            let wait_before = server.as_ref().map(Serve::run_delay_us);
            let run = bench::run_child(&[
                s("__latency"),
                s(how),
                target,
                s(lat_streams),
                s(lat_rounds),
                s(lat_chunks),
                s(stagger_us),
            ]);
            let phase_cpu = run.output["phase_cpu_us"].as_f64().unwrap_or(f64::NAN);
            let phase_wait = run.output["wait_us"].as_f64().unwrap_or(f64::NAN);
            let wait_us = match (&server, wait_before) {
                (Some(srv), Some(before)) => srv.run_delay_us() - before,
                _ => phase_wait,
            };
            // The in-process client's CPU is the stream's; the server's is,
            // when there is one (the SSE client's is its own).
            let phase_sys = run.output["phase_sys_us"].as_f64().unwrap_or(f64::NAN);
            let (cpu_us, sys_us) = match (&server, before) {
                (Some(srv), Some(before)) => {
                    let after = srv.cpu_us();
                    (
                        (after.0 + after.1) - (before.0 + before.1),
                        after.1 - before.1,
                    )
                }
                _ => (phase_cpu, phase_sys),
            };
            if let Some(srv) = server {
                srv.stop();
            }
            Figures {
                cpu_us,
                sys_us,
                client_cpu_us: if inproc { 0.0 } else { phase_cpu },
                wait_us,
                client_wait_us: if inproc { 0.0 } else { phase_wait },
                chunks: (lat_streams * lat_rounds * lat_chunks) as f64,
                wall_ms: run.output["wall_us"].as_f64().unwrap_or(f64::NAN) / 1e3,
                lat: u64s(&run.output["lat_ns"]),
                post: u64s(&run.output["post_ns"]),
                attach: u64s(&run.output["attach_ns"]),
                late: run.output["late"].as_u64().unwrap_or(0) as usize,
                ..Figures::default()
            }
        }
        Sc::GatewayInProcess => {
            let run =
                bench::run_child(&[s("__inproc_many"), s(&paced), s(gw_streams), s(gw_chunks)]);
            Figures {
                cpu_us: run.output["phase_cpu_us"].as_f64().unwrap_or(f64::NAN),
                sys_us: run.output["phase_sys_us"].as_f64().unwrap_or(f64::NAN),
                chunks: run.output["deltas"].as_f64().unwrap_or(f64::NAN),
                ..Figures::default()
            }
        }
        Sc::GatewayServe => {
            let server = Serve::start(&rivulet, &paced, max_streams, 256);
            let before = server.cpu_us();
            let run =
                bench::run_child(&[s("__gateway"), s(&server.addr), s(gw_streams), s(gw_chunks)]);
            std::thread::sleep(SETTLE);
            let after = server.cpu_us();
            server.stop();
            Figures {
                cpu_us: (after.0 + after.1) - (before.0 + before.1),
                sys_us: after.1 - before.1,
                chunks: run.output["deltas"].as_f64().unwrap_or(f64::NAN),
                ..Figures::default()
            }
        }
        Sc::Fanout => fanout_run(&rt, Some(&rivulet), attachers, fan_chunks, fan_pace),
        Sc::FanoutFloor => fanout_run(&rt, None, attachers, fan_chunks, fan_pace),
    });
    let load_after = load_average();
    let mut all = vec![Vec::new(); ALL.len()];
    for (sc, figures) in chosen.into_iter().zip(ran) {
        all[sc as usize] = figures;
    }

    report(&Report {
        all,
        runs,
        lat_streams,
        lat_rounds,
        lat_chunks,
        attachers,
        fan_chunks,
        fan_pace,
        gw_streams,
        gw_chunks,
        gw_pace,
        load_before,
        load_after,
    });
}

/// One run of the fan-out scenario: through `rivulet serve` (the binary at
/// `rivulet`) or, with `None`, through the floor relay (`serve_bench/floor.rs`).
fn fanout_run(
    rt: &tokio::runtime::Runtime,
    rivulet: Option<&str>,
    attachers: usize,
    chunks: usize,
    pace: Duration,
) -> Figures {
    let (open, gate) = tokio::sync::watch::channel(false);
    let provider = rt.block_on(stamp_server(Stamping {
        chunks,
        lead: Duration::ZERO,
        pace: Some(pace),
        stamp: false,
        gate: Some(gate),
    }));
    /// The process relaying the stream.
    enum Relay {
        Serve(Serve),
        Floor(Lines),
    }
    let (relay, addr, events_url) = match rivulet {
        Some(rivulet) => {
            let server = Serve::start(rivulet, &provider.url, 64, attachers.max(256));
            let addr = server.addr.clone();
            let events_url = rt.block_on(async {
                let body = format!(r#"{{"model":"{MODEL}","prompt":"go"}}"#);
                let posted = send(&addr, "POST", "/v1/streams", &body)
                    .await
                    .expect("POST /v1/streams");
                assert_eq!(posted.status, 201, "POST /v1/streams");
                let started: Started =
                    serde_json::from_slice(&posted.body().await.expect("201 body"))
                        .expect("201 JSON");
                started.events_url
            });
            (Relay::Serve(server), addr, events_url)
        }
        None => {
            let mut floor =
                Lines::spawn(&[s("__fanout_floor"), provider.url.clone(), s(attachers)]);
            let addr = floor.next()["addr"]
                .as_str()
                .expect("the floor's address")
                .to_string();
            (Relay::Floor(floor), addr, floor::EVENTS_PATH.to_string())
        }
    };
    let pid = match &relay {
        Relay::Serve(server) => server.pid(),
        Relay::Floor(floor) => floor.child.id(),
    };
    let cpu = || cpu_us(pid).expect("the relay's /proc/PID/stat");
    let rss = || status_kib(&pid.to_string(), "VmRSS").expect("the relay's VmRSS") as f64;
    // The stream is running, held by the provider: its request is in.
    let deadline = Instant::now() + Duration::from_secs(10);
    while provider.requests.load(Ordering::SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the provider got no request");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(200));
    let rss_before = rss();
    let cpu_0 = cpu();
    let mut client = Lines::spawn(&[s("__fanout"), s(&addr), events_url, s(attachers), s(chunks)]);
    let attached = client.next();
    assert_eq!(attached["attached"].as_u64(), Some(attachers as u64));
    std::thread::sleep(Duration::from_millis(300));
    let rss_idle = rss();
    let cpu_1 = cpu();
    let released = Instant::now();
    let _ = open.send(true);
    let done = client.next();
    let wall = released.elapsed();
    let cpu_2 = cpu();
    let events = done["events"].as_u64().unwrap_or(0);
    client.finish();
    match relay {
        Relay::Serve(server) => server.stop(),
        Relay::Floor(floor) => {
            floor.finish();
        }
    }
    assert!(events as usize >= attachers * (chunks + 1), "events");
    let total = |c: (f64, f64)| c.0 + c.1;
    Figures {
        cpu_us: total(cpu_2) - total(cpu_1),
        sys_us: cpu_2.1 - cpu_1.1,
        chunks: chunks as f64,
        attachers: attachers as f64,
        rss_before,
        rss_idle,
        attach_cpu_us: total(cpu_1) - total(cpu_0),
        wall_ms: wall.as_secs_f64() * 1e3,
        ..Figures::default()
    }
}

/// Everything the report needs.
struct Report {
    all: Vec<Vec<Figures>>,
    runs: usize,
    lat_streams: usize,
    lat_rounds: usize,
    lat_chunks: usize,
    attachers: usize,
    fan_chunks: usize,
    fan_pace: Duration,
    gw_streams: usize,
    gw_chunks: usize,
    gw_pace: Duration,
    load_before: f64,
    load_after: f64,
}

fn report(r: &Report) {
    let runs = r.runs;
    let has = |sc: Sc| !r.all[sc as usize].is_empty();
    let fig = |sc: Sc, run: usize| &r.all[sc as usize][run];
    let stat = |g: &dyn Fn(usize) -> f64| Stat::of((0..runs).map(g).collect());
    let (lat_c, a_str, g_str) = (
        thousands(r.lat_streams),
        thousands(r.attachers),
        thousands(r.gw_streams),
    );
    // (what, figure, bound, unit, decimals); judged on the median.
    let mut targets: Vec<(String, Stat, f64, &str, usize)> = Vec::new();
    let mut out = String::new();
    let mut md = String::new();

    if has(Sc::LatencyServe) {
        let p = |sc: Sc, q: f64| stat(&|run| pct(&fig(sc, run).lat, q));
        let diff = |q: f64| {
            stat(&|run| {
                pct(&fig(Sc::LatencyServe, run).lat, q)
                    - pct(&fig(Sc::LatencyInProcess, run).lat, q)
            })
        };
        let serve_p = |q: f64, g: &dyn Fn(&Figures) -> &Vec<u64>| {
            stat(&|run| pct(g(fig(Sc::LatencyServe, run)), q))
        };
        let late: usize = (0..runs).map(|run| fig(Sc::LatencyServe, run).late).sum();
        let samples = r.lat_streams * r.lat_rounds;
        let aside = format!(
            "`POST /v1/streams` to its `201`, p50 {}, p99 {}; `GET …/events` to its response head, p50 {}, p99 {}; clients attached after the provider's first content chunk: {late} of {}",
            serve_p(50.0, &|f| &f.post).show(0, " µs"),
            serve_p(99.0, &|f| &f.post).show(0, " µs"),
            serve_p(50.0, &|f| &f.attach).show(0, " µs"),
            serve_p(99.0, &|f| &f.attach).show(0, " µs"),
            samples * runs,
        );
        let _ = writeln!(
            out,
            "\nfirst text chunk, from the provider's write to the consumer: {lat_c} streams at once, {} in a row each ({samples} a run), {} chunks 2 ms apart",
            r.lat_rounds, r.lat_chunks
        );
        let _ = writeln!(md, "| first text chunk, from the provider's write to the consumer ({lat_c} streams at once, chunks 2 ms apart) | p50 | p99 |");
        let _ = writeln!(md, "|---|---|---|");
        for (name, md_name, sc) in [
            (
                "in-process (Model::stream)",
                "in-process: `Model::stream`",
                Sc::LatencyInProcess,
            ),
            (
                "SSE client of rivulet serve",
                "SSE client of `rivulet serve`",
                Sc::LatencyServe,
            ),
        ] {
            let (p50, p99) = (p(sc, 50.0).show(0, " µs"), p(sc, 99.0).show(0, " µs"));
            let _ = writeln!(out, "  {name:<30} p50 {p50}  p99 {p99}");
            let _ = writeln!(md, "| {md_name} | {p50} | {p99} |");
        }
        let per_chunk = |sc: Sc| stat(&|run| fig(sc, run).cpu_us / fig(sc, run).chunks);
        let cores = |sc: Sc| stat(&|run| fig(sc, run).cpu_us / 1e3 / fig(sc, run).wall_ms);
        let client = stat(&|run| {
            let f = fig(Sc::LatencyServe, run);
            f.client_cpu_us / f.chunks
        });
        let waited = |g: &dyn Fn(&Figures) -> f64, sc: Sc| {
            stat(&|run| g(fig(sc, run)) / fig(sc, run).wall_ms)
        };
        let sys = |sc: Sc| stat(&|run| fig(sc, run).sys_us / fig(sc, run).chunks);
        let cpu_line = format!(
            "CPU per chunk: in-process {} ({} in the kernel; {} cores busy), the server process {} ({} in the kernel; {} cores busy) and its SSE client {}. Threads runnable but waiting for a core (`/proc/PID/task/*/schedstat`), ms per second of streams: in-process {}, the server {}, its SSE client {}",
            per_chunk(Sc::LatencyInProcess).show(2, " µs"),
            sys(Sc::LatencyInProcess).show(2, " µs"),
            cores(Sc::LatencyInProcess).show(2, ""),
            per_chunk(Sc::LatencyServe).show(2, " µs"),
            sys(Sc::LatencyServe).show(2, " µs"),
            cores(Sc::LatencyServe).show(2, ""),
            client.show(2, " µs"),
            waited(&|f| f.wait_us, Sc::LatencyInProcess).show(0, ""),
            waited(&|f| f.wait_us, Sc::LatencyServe).show(0, ""),
            waited(&|f| f.client_wait_us, Sc::LatencyServe).show(0, ""),
        );
        let (d50, d99) = (diff(50.0).show(0, " µs"), diff(99.0).show(0, " µs"));
        let _ = writeln!(
            out,
            "  through the server, above in-process: p50 {d50}  p99 {d99}"
        );
        let _ = writeln!(out, "  not in the figures: {aside}");
        let _ = writeln!(out, "  {cpu_line}");
        let _ = writeln!(
            md,
            "| through the server, above in-process | {d50} | {d99} |"
        );
        let _ = writeln!(md);
        let _ = writeln!(md, "Not in those figures (the SSE client attaches before the provider's first content chunk, 20 ms after its response head): {aside}. {cpu_line}.");
        let _ = writeln!(md);
        targets.push((
            format!(
                "first text chunk through rivulet serve, {lat_c} streams: p99 above in-process"
            ),
            diff(99.0),
            1000.0,
            " µs",
            0,
        ));
    }

    let mut md_rows = String::new();
    if has(Sc::Fanout) {
        let fan = |g: &dyn Fn(&Figures) -> f64| stat(&|run| g(fig(Sc::Fanout, run)));
        let fan_cpu = fan(&|f| f.cpu_us / (f.chunks * f.attachers));
        let fan_sys = fan(&|f| f.sys_us / (f.chunks * f.attachers));
        let fan_mem = fan(&|f| (f.rss_idle - f.rss_before) / f.attachers);
        let fan_attach = fan(&|f| f.attach_cpu_us / f.attachers);
        let fan_wall = fan(&|f| f.wall_ms);
        let fan_rss = fan(&|f| f.rss_idle / 1024.0);
        let (chunks, pace) = (r.fan_chunks, r.fan_pace.as_millis());
        let _ = writeln!(
            out,
            "\none stream of {chunks} chunks {pace} ms apart, {a_str} SSE attachers (rivulet serve)"
        );
        let _ = writeln!(
            out,
            "  server CPU per chunk per attacher {} ({} in the kernel)  to attach one {}  wall {} (the stream alone: {} ms)",
            fan_cpu.show(2, " µs"),
            fan_sys.show(2, " µs"),
            fan_attach.show(0, " µs"),
            fan_wall.show(0, " ms"),
            (r.fan_pace * chunks as u32).as_millis()
        );
        let _ = writeln!(
            out,
            "  server CPU over the stream {}{}",
            fan(&|f| f.cpu_us / 1e3).show(0, " ms"),
            coarse(fan(&|f| f.cpu_us))
        );
        let _ = writeln!(
            out,
            "  server resident memory per idle attacher {}  ({} with all attached)",
            fan_mem.show(1, " KiB"),
            fan_rss.show(1, " MiB")
        );
        let _ = writeln!(
            md_rows,
            "| one stream of {chunks} chunks {pace} ms apart, {a_str} SSE attachers: CPU per chunk per attacher (from the provider's first chunk to the last `end`) | {} ({} in the kernel) |",
            fan_cpu.show(2, " µs"),
            fan_sys.show(2, " µs"),
        );
        if has(Sc::FanoutFloor) {
            let floor = |g: &dyn Fn(&Figures) -> f64| stat(&|run| g(fig(Sc::FanoutFloor, run)));
            let floor_cpu = floor(&|f| f.cpu_us / (f.chunks * f.attachers));
            let floor_sys = floor(&|f| f.sys_us / (f.chunks * f.attachers));
            let over = stat(&|run| {
                let (r, f) = (fig(Sc::Fanout, run), fig(Sc::FanoutFloor, run));
                (r.cpu_us / (r.chunks * r.attachers)) / (f.cpu_us / (f.chunks * f.attachers))
            });
            let figures = format!(
                "{} ({} in the kernel); rivulet serve {}",
                floor_cpu.show(2, " µs"),
                floor_sys.show(2, " µs"),
                over.show(2, "× the floor"),
            );
            let _ = writeln!(
                out,
                "  floor (serve_bench/floor.rs: one thread, each event built once, a blocking write per attacher) CPU per chunk per attacher {figures}"
            );
            let _ = writeln!(
                md_rows,
                "| the same through the floor relay (`serve_bench/floor.rs`: one thread, each event built once and written to every attacher with a blocking write) | {figures} |"
            );
        }
        let _ = writeln!(
            md_rows,
            "| the same: resident memory per idle attacher (all attached before the first chunk, minus none attached) | {} |",
            fan_mem.show(1, " KiB")
        );
        targets.push((
            format!("one stream, {a_str} SSE attachers: server CPU per chunk per attacher"),
            fan_cpu,
            3.0,
            " µs",
            2,
        ));
        targets.push((
            format!("one stream, {a_str} SSE attachers: resident memory per idle attacher"),
            fan_mem,
            16.0,
            " KiB",
            1,
        ));
    }

    if has(Sc::GatewayServe) {
        let per_chunk = |sc: Sc| stat(&|run| fig(sc, run).cpu_us / fig(sc, run).chunks);
        let gw_ratio = stat(&|run| {
            let (g, i) = (fig(Sc::GatewayServe, run), fig(Sc::GatewayInProcess, run));
            (g.cpu_us / g.chunks) / (i.cpu_us / i.chunks)
        });
        let sys = |sc: Sc| stat(&|run| fig(sc, run).sys_us / fig(sc, run).chunks);
        let (chunks, pace) = (r.gw_chunks, r.gw_pace.as_millis());
        let _ = writeln!(out, "\n{g_str} streams × {chunks} chunks {pace} ms apart");
        let _ = writeln!(
            out,
            "  in-process (Model::stream)                         CPU per chunk {} ({} in the kernel)",
            per_chunk(Sc::GatewayInProcess).show(2, " µs"),
            sys(Sc::GatewayInProcess).show(2, " µs"),
        );
        let _ = writeln!(
            out,
            "  /v1/chat/completions (stream: true), server process CPU per chunk {} ({} in the kernel): {} in-process",
            per_chunk(Sc::GatewayServe).show(2, " µs"),
            sys(Sc::GatewayServe).show(2, " µs"),
            gw_ratio.show(2, "×")
        );
        for (name, sc) in [
            ("server", Sc::GatewayServe),
            ("in-process", Sc::GatewayInProcess),
        ] {
            let cpu = stat(&|run| fig(sc, run).cpu_us);
            let _ = writeln!(
                out,
                "  {name} CPU over the streams {}{}",
                stat(&|run| fig(sc, run).cpu_us / 1e3).show(0, " ms"),
                coarse(cpu)
            );
        }
        let _ = writeln!(
            md_rows,
            "| {g_str} streams × {chunks} chunks {pace} ms apart through `/v1/chat/completions` (`stream: true`): CPU per chunk | {} ({} in the kernel): {} the same streams in-process ({}, {} in the kernel) |",
            per_chunk(Sc::GatewayServe).show(2, " µs"),
            sys(Sc::GatewayServe).show(2, " µs"),
            gw_ratio.show(2, "×"),
            per_chunk(Sc::GatewayInProcess).show(2, " µs"),
            sys(Sc::GatewayInProcess).show(2, " µs"),
        );
        targets.push((
            format!("/v1/chat/completions, {g_str} streams: server CPU per chunk over in-process"),
            gw_ratio,
            2.0,
            "×",
            2,
        ));
    }
    if !md_rows.is_empty() {
        let _ = writeln!(md, "| the server process | |");
        let _ = writeln!(md, "|---|---|");
        md.push_str(&md_rows);
        let _ = writeln!(md);
    }
    print!("{out}");

    let mut md_targets = String::new();
    println!("\ntargets of issue 12 (median, min–max over the runs):");
    for (what, stat, bound, unit, prec) in &targets {
        let line = stat.judge(what, *bound, unit, *prec);
        println!("  {line}");
        let _ = writeln!(md_targets, "- {line}");
    }
    let _ = writeln!(md, "Targets of issue 12, judged on the median:");
    let _ = writeln!(md);
    md.push_str(&md_targets);
    let _ = writeln!(md);
    let widest = targets
        .iter()
        .map(|t| (t.1.max - t.1.min) / t.2)
        .fold(0.0, f64::max);
    let _ = writeln!(
        md,
        "Each figure: median of {runs} runs taken round-robin over the scenarios, (min–max) over the runs; differences and ratios are taken within a run. The widest range of a target's figure was {:.0}% of its bound. {} cores; 1-minute load average {:.1} before the runs, {:.1} after.",
        widest * 100.0,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        r.load_before,
        r.load_after,
    );
    println!("\n---- markdown for the README ----\n{md}");
}
