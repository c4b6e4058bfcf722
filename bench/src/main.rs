//! The bench program: the runtime's cost next to two floors and its Rust
//! peers, and the targets of issue 17 judged on it.
//!
//! `cargo run --release -p rivulet-bench [-- --runs 5 --chunks 100000 --concurrent 500 --many 5000 --log-chunks 1000000]`
//!
//! The parent starts loopback servers that send OpenAI chat-completion
//! chunks as the real API does (testkit's [`Generated::openai`]: every field
//! of a recorded chunk, the `obfuscation` padding, tokens of a few
//! characters, chunked transfer coding), either in 16 KiB frames (a fast
//! server) or one event per write (a model generating). It runs each client
//! as a child process of this same binary, so each figure is a whole client
//! process: CPU = user + sys and context switches as the kernel reports them
//! through `wait4`, peak RSS as the client's own `VmHWM`. The runs go
//! round-robin over the scenarios; every figure is the median over the runs,
//! with the min–max beside it, and every ratio is taken within a run (a
//! client against the floor measured just before it) before its median is
//! taken.
//!
//! Two floors, no runtime in either:
//! - the floor: reqwest + eventsource-stream + serde_json into an owned
//!   struct, what a hand-written client usually is;
//! - the true floor: reqwest's `bytes_stream`, lines found with memchr in
//!   each frame without copying the rest of the buffer, serde_json into
//!   borrowed fields reading only `choices[0].delta.content`.
//!
//! Two Rust peers, as their users call them: async-openai's
//! `chat().create_stream` (`OpenAIConfig::with_api_base` on the loopback
//! server) and genai's `exec_chat_stream` (a service target resolver giving
//! the loopback endpoint to its OpenAI adapter). They run in a program of
//! their own, `bench/peers` (a workspace apart, which this one builds first
//! into its own target directory), so that their crates' features never
//! reach rivulet's build: genai turns on serde_json's `preserve_order`.
//!
//! rivulet is measured doing everything it does: the provider actor and its
//! replay log, the accumulator and tool-parser actors, a subscriber per
//! consumer. Every client checks the text it received (and rivulet its
//! usage) against what the server sent.
//!
//! Scenarios: one stream of `--chunks` in either framing (rivulet with 1 and
//! 8 consumers); `--concurrent` streams of 200 chunks one event per write
//! 2 ms apart; `--many` streams of 50 chunks 20 ms apart (the same chunks
//! per second offered as the 2 ms scenario, spread over ten times the
//! connections); the replay log of one `--log-chunks` stream; the first
//! text delta's latency (median of `--latency-streams` sequential streams);
//! Anthropic Messages events (testkit's [`Generated::anthropic`]), one
//! stream in 16 KiB frames and `--concurrent` streams 2 ms apart, for the
//! true floor (its own: `type` and `delta.text` borrowed) and rivulet.
//!
//! At the end it prints the targets of issue 17 as met or not and markdown
//! tables and a spread line ready for the README.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rivulet_testkit::bench::{
    self, all_streams, arg, client_runtime, load_average, mono_ns, peak_rss_kib, print_figures,
    raise_fd_limit, stamp_server, thousands, Seen, Stamping, Stat,
};
use rivulet_testkit::{Framing, Generated, Protocol, Replay, Server};

/// A fast server's frame: a full TLS record.
const FRAME: usize = 16 * 1024;

// ---------------------------------------------------------------- clients

/// The floor's view of a chunk: just what it needs, owned.
#[derive(serde::Deserialize)]
struct FloorChunk {
    choices: Vec<FloorChoice>,
}
#[derive(serde::Deserialize)]
struct FloorChoice {
    delta: FloorDelta,
}
#[derive(serde::Deserialize)]
struct FloorDelta {
    content: Option<String>,
}

/// The true floor's view of a chunk: `choices[0].delta.content`, borrowed
/// from the line when it has no escapes; every other field is skipped.
#[derive(serde::Deserialize)]
struct LeanChunk<'a> {
    #[serde(borrow, default)]
    choices: FirstChoice<'a>,
}
#[derive(serde::Deserialize)]
struct LeanChoice<'a> {
    #[serde(borrow, default)]
    delta: Option<LeanDelta<'a>>,
}
#[derive(serde::Deserialize)]
struct LeanDelta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

/// The first element of `choices`; the others are skipped unread (no `Vec`).
#[derive(Default)]
struct FirstChoice<'a>(Option<LeanChoice<'a>>);

impl<'de: 'a, 'a> serde::Deserialize<'de> for FirstChoice<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for Visit<'a> {
            type Value = FirstChoice<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of choices")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Self::Value, A::Error> {
                let first = seq.next_element()?;
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(FirstChoice(first))
            }
        }
        d.deserialize_seq(Visit(std::marker::PhantomData))
    }
}

fn body() -> String {
    serde_json::json!({
        "model": "bench",
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "go"}],
    })
    .to_string()
}

/// The request body of an Anthropic Messages stream.
fn anthropic_body() -> String {
    serde_json::json!({
        "model": "bench",
        "max_tokens": 4096,
        "stream": true,
        "messages": [{"role": "user", "content": "go"}],
    })
    .to_string()
}

async fn post(client: &reqwest::Client, url: &str, protocol: Protocol) -> reqwest::Response {
    let (path, body) = match protocol {
        Protocol::OpenAiChat => ("chat/completions", body()),
        Protocol::AnthropicMessages => ("messages", anthropic_body()),
    };
    client
        .post(format!("{url}/v1/{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request")
}

/// One floor stream: eventsource-stream events, each parsed into an owned
/// struct.
async fn floor_stream(client: &reqwest::Client, url: &str) -> Seen {
    use eventsource_stream::Eventsource;
    let mut events = post(client, url, Protocol::OpenAiChat)
        .await
        .bytes_stream()
        .eventsource();
    let mut seen = Seen::default();
    while let Some(ev) = events.next().await {
        let ev = ev.expect("floor event");
        if ev.data == "[DONE]" {
            break;
        }
        let chunk: FloorChunk = serde_json::from_str(&ev.data).expect("floor json");
        if let Some(c) = chunk
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.delta.content)
        {
            seen.delta(&c);
        }
    }
    seen
}

/// One true-floor stream: each frame of the body is cut into lines with
/// memchr where it lies; only a line torn across two frames is copied.
async fn lean_stream(client: &reqwest::Client, url: &str, protocol: Protocol) -> Seen {
    let line = match protocol {
        Protocol::OpenAiChat => lean_line,
        Protocol::AnthropicMessages => lean_anthropic_line,
    };
    let mut frames = post(client, url, protocol).await.bytes_stream();
    let mut seen = Seen::default();
    let mut torn: Vec<u8> = Vec::new();
    let mut done = false;
    while let Some(frame) = frames.next().await {
        let frame = frame.expect("true floor frame");
        let mut rest = &frame[..];
        if !torn.is_empty() {
            let Some(end) = memchr::memchr(b'\n', rest) else {
                torn.extend_from_slice(rest);
                continue;
            };
            torn.extend_from_slice(&rest[..end]);
            done |= line(&torn, &mut seen);
            torn.clear();
            rest = &rest[end + 1..];
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', rest) {
            done |= line(&rest[start..end], &mut seen);
            start = end + 1;
        }
        torn.extend_from_slice(&rest[start..]);
        if done {
            break;
        }
    }
    seen
}

/// One line for the true floor; true at `data: [DONE]`.
fn lean_line(line: &[u8], seen: &mut Seen) -> bool {
    let Some(data) = line.strip_prefix(b"data: ") else {
        return false; // the blank line between events
    };
    if data == b"[DONE]" {
        return true;
    }
    let chunk: LeanChunk = serde_json::from_slice(data).expect("true floor json");
    if let Some(text) = chunk
        .choices
        .0
        .and_then(|c| c.delta)
        .and_then(|d| d.content)
    {
        seen.delta(&text);
    }
    false
}

/// The true floor's view of an Anthropic event: its `type` and
/// `delta.text`, borrowed from the line when it has no escapes.
#[derive(serde::Deserialize)]
struct LeanEvent<'a> {
    #[serde(borrow, rename = "type")]
    kind: &'a str,
    #[serde(borrow, default)]
    delta: Option<LeanTextDelta<'a>>,
}
#[derive(serde::Deserialize)]
struct LeanTextDelta<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
}

/// One line of an Anthropic stream for the true floor; true at
/// `message_stop`. The `event:` lines are skipped: each `data:` names its
/// type again.
fn lean_anthropic_line(line: &[u8], seen: &mut Seen) -> bool {
    let Some(data) = line.strip_prefix(b"data: ") else {
        return false;
    };
    let event: LeanEvent = serde_json::from_slice(data).expect("true floor json");
    match event.kind {
        "content_block_delta" => {
            if let Some(text) = event.delta.and_then(|d| d.text) {
                seen.delta(&text);
            }
            false
        }
        "message_stop" => true,
        _ => false,
    }
}

fn model(url: &str, protocol: Protocol) -> rivulet::Model {
    let (name, base) = match protocol {
        Protocol::OpenAiChat => ("openai/bench", format!("{url}/v1")),
        Protocol::AnthropicMessages => ("anthropic/bench", url.to_string()),
    };
    rivulet::Model::new(name)
        .base_url(base)
        .api_key("bench")
        .retries(0)
}

/// One rivulet stream with `subs` consumers: what the first one saw (its
/// text is the accumulator's). Checks the usage and that every consumer
/// saw every delta.
async fn rivulet_stream(m: &rivulet::Model, subs: usize, n_chunks: usize) -> Seen {
    let response = m.stream("go");
    let mut others = Vec::new();
    for _ in 1..subs {
        let mut chunks = response.chunk_stream();
        others.push(tokio::spawn(async move {
            let mut n = 0u64;
            while let Some(c) = chunks.next().await {
                if matches!(&*c.expect("chunk"), rivulet::Chunk::Text { delta, .. } if !delta.is_empty()) {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut chunks = response.chunk_stream();
    let mut seen = Seen::default();
    while let Some(c) = chunks.next().await {
        if let rivulet::Chunk::Text { delta, .. } = &*c.expect("chunk") {
            if !delta.is_empty() {
                if seen.first.is_none() {
                    seen.first = Some((delta.to_string(), mono_ns()));
                }
                seen.deltas += 1;
            }
        }
    }
    for o in others {
        assert_eq!(
            o.await.expect("subscriber"),
            seen.deltas,
            "subscribers disagree"
        );
    }
    let done = response.finish().await.expect("finish");
    assert_eq!(done.usage.output_tokens, Some(n_chunks as u64), "usage");
    seen.text = done.text();
    seen
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("client")
}

/// The clients, by the name the parent gives a child.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Floor,
    Lean,
    Rivulet,
    AsyncOpenAi,
    Genai,
}

impl Who {
    fn arg(self) -> &'static str {
        match self {
            Who::Floor => "floor",
            Who::Lean => "lean",
            Who::Rivulet => "rivulet",
            Who::AsyncOpenAi => "async-openai",
            Who::Genai => "genai",
        }
    }

    fn parse(s: &str) -> Who {
        [
            Who::Floor,
            Who::Lean,
            Who::Rivulet,
            Who::AsyncOpenAi,
            Who::Genai,
        ]
        .into_iter()
        .find(|w| w.arg() == s)
        .unwrap_or_else(|| panic!("no client {s:?}"))
    }

    /// Its name in the text report.
    fn name(self) -> &'static str {
        match self {
            Who::Floor => "floor (reqwest+eventsource+serde)",
            Who::Lean => "true floor (memchr+borrowed serde)",
            Who::Rivulet => "rivulet, 1 subscriber",
            Who::AsyncOpenAi => "async-openai",
            Who::Genai => "genai",
        }
    }
}

/// One client of one kind, shared by its streams (each crate's client holds
/// its connection pool).
#[derive(Clone)]
enum Client {
    Http(Who, reqwest::Client, String, Protocol),
    // Boxed: a Model is ten times the size of the other variant.
    Rivulet(Box<rivulet::Model>),
}

impl Client {
    /// The floor and the peers speak OpenAI chat completions only.
    fn new(who: Who, url: &str, protocol: Protocol) -> Client {
        assert!(
            protocol == Protocol::OpenAiChat || matches!(who, Who::Lean | Who::Rivulet),
            "{} speaks OpenAI chat completions only",
            who.arg()
        );
        match who {
            Who::Floor | Who::Lean => Client::Http(who, http_client(), url.to_string(), protocol),
            Who::Rivulet => Client::Rivulet(Box::new(model(url, protocol))),
            Who::AsyncOpenAi | Who::Genai => {
                panic!("{} runs in the peers' program", who.arg())
            }
        }
    }

    /// One stream with `subs` consumers (rivulet only; the others have one).
    async fn stream(&self, subs: usize, n_chunks: usize) -> Seen {
        match self {
            Client::Http(Who::Floor, http, url, _) => floor_stream(http, url).await,
            Client::Http(_, http, url, protocol) => lean_stream(http, url, *protocol).await,
            Client::Rivulet(m) => rivulet_stream(m, subs, n_chunks).await,
        }
    }
}

/// Runs one client scenario in this (child) process and prints its figures:
/// `__client CLIENT URL STREAMS SUBS N_CHUNKS [openai|anthropic]`.
fn client(args: &[String]) {
    let who = Who::parse(&args[0]);
    let url = args[1].clone();
    let streams: usize = args[2].parse().expect("streams");
    let subs: usize = args[3].parse().expect("subs");
    let n_chunks: usize = args[4].parse().expect("chunks");
    let protocol = protocol_arg(args.get(5));
    raise_fd_limit();
    let started = Instant::now();
    let deltas = client_runtime().block_on(async move {
        let client = Client::new(who, &url, protocol);
        // Both protocols carry the same tokens.
        let sent = Generated::openai(n_chunks, Framing::Events);
        all_streams(who.arg(), streams, &sent, move || {
            let client = client.clone();
            async move { client.stream(subs, n_chunks).await }
        })
        .await
    });
    print_figures(deltas, started.elapsed());
}

/// One rivulet stream that keeps its replay log (the default), read by one
/// subscriber that keeps nothing: `__log URL N_CHUNKS`. Prints its peak RSS
/// and the text's bytes. The text is checked where the response holds it,
/// without a copy, so that the peak is the log's and the response's.
fn log_client(args: &[String]) {
    let url = args[0].clone();
    let n_chunks: usize = args[1].parse().expect("chunks");
    let text_bytes = client_runtime().block_on(async move {
        let m = model(&url, Protocol::OpenAiChat);
        let response = m.stream("go");
        let mut chunks = response.chunk_stream();
        let mut deltas = 0usize;
        while let Some(c) = chunks.next().await {
            if matches!(&*c.expect("chunk"), rivulet::Chunk::Text { delta, .. } if !delta.is_empty())
            {
                deltas += 1;
            }
        }
        assert_eq!(deltas, n_chunks, "log: deltas");
        let done = response.finish().await.expect("finish");
        assert_eq!(done.usage.output_tokens, Some(n_chunks as u64), "usage");
        let texts = done.texts();
        assert!(
            texts.len() == 1 && Generated::openai(n_chunks, Framing::Events).is_text(texts[0]),
            "log: the text differs from the one sent"
        );
        texts[0].len()
    });
    println!(
        "{}",
        serde_json::json!({"deltas": n_chunks, "wall_us": 0, "text_bytes": text_bytes, "peak_rss_kib": peak_rss_kib()})
    );
}

/// Sequential streams from the stamping server (see [`stamped_server`]): the
/// median time from the first text event's write to the socket to its text
/// in the consumer. `__latency CLIENT URL STREAMS`.
fn latency_client(args: &[String]) {
    let who = Who::parse(&args[0]);
    let url = args[1].clone();
    let n: usize = args[2].parse().expect("n");
    let mut lat: Vec<u64> = client_runtime().block_on(async move {
        let client = Client::new(who, &url, Protocol::OpenAiChat);
        let mut v = Vec::new();
        for _ in 0..n {
            let seen = client.stream(1, STAMPED_CHUNKS).await;
            let (text, at) = seen.first.expect("a first delta");
            let written: u64 = text.parse().expect("a stamped first delta");
            v.push(at.saturating_sub(written));
        }
        v
    });
    lat.sort_unstable();
    println!(
        "{}",
        serde_json::json!({"deltas": 0, "wall_us": 0, "first_delta_us": lat[lat.len() / 2] as f64 / 1e3})
    );
}

/// The protocol a child is told: `anthropic`, or OpenAI chat completions.
fn protocol_arg(arg: Option<&String>) -> Protocol {
    match arg.map(String::as_str) {
        Some("anthropic") => Protocol::AnthropicMessages,
        _ => Protocol::OpenAiChat,
    }
}

/// Content chunks of a stamped stream.
const STAMPED_CHUNKS: usize = 6;

/// The server of the latency figure. It answers each request with the
/// response head, waits 2 ms (so the client is waiting on the body), then
/// writes the role chunk and the first content chunk, whose text is the
/// CLOCK_MONOTONIC time of the write, and 1 ms later the rest of the stream.
/// Connections are closed after each response, so every client connects
/// the same way.
async fn stamped_server() -> String {
    stamp_server(Stamping {
        chunks: STAMPED_CHUNKS,
        lead: Duration::from_millis(2),
        pace: None,
        stamp: true,
        gate: None,
    })
    .await
    .url
}

// ---------------------------------------------------------------- parent

/// One run of one client process.
#[derive(Clone, Copy, Debug, Default)]
struct Figures {
    cpu_us: f64,
    peak_rss_kib: f64,
    wall_us: f64,
    first_delta_us: f64,
    deltas: f64,
    /// Voluntary + involuntary context switches over the process's life.
    switches: f64,
    /// The text's bytes (the replay log's client).
    text_bytes: f64,
}

impl Figures {
    fn per_chunk_us(&self) -> f64 {
        self.cpu_us / self.deltas.max(1.0)
    }
    fn switches_per_chunk(&self) -> f64 {
        self.switches / self.deltas.max(1.0)
    }
}

/// Builds the peers' program (`bench/peers`, a workspace of its own) into
/// this program's target directory and returns its path.
fn build_peers() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let (dir, target) = match exe.parent().and_then(|d| Some((d, d.parent()?))) {
        Some(found) => found,
        None => panic!("no target directory above {}", exe.display()),
    };
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/Cargo.toml");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("building the peers' program ({manifest})");
    let ok = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--manifest-path",
            manifest,
            "--target-dir",
        ])
        .arg(target)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cannot build {manifest}");
    dir.join("bench-peers")
}

/// Runs a child client (the peers' program for a peer, this one for the
/// others): its CPU and context switches from wait4, its other figures from
/// what it printed.
fn run_child(args: &[String], peers: &Path) -> Figures {
    let peer = [Who::AsyncOpenAi, Who::Genai].map(Who::arg);
    let run = match args.get(1) {
        Some(who) if peer.contains(&who.as_str()) => bench::run_program(peers, args),
        _ => bench::run_child(args),
    };
    let v = &run.output;
    let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
    Figures {
        cpu_us: run.cpu_us,
        peak_rss_kib: f("peak_rss_kib"),
        wall_us: f("wall_us"),
        first_delta_us: f("first_delta_us"),
        deltas: f("deltas"),
        switches: (run.usage.switches_voluntary + run.usage.switches_involuntary) as f64,
        text_bytes: f("text_bytes"),
    }
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

/// The scenarios, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Sc {
    /// One stream of `--chunks` in 16 KiB frames, with this many consumers.
    Frames(Who, usize),
    /// The same, one event per write.
    Events(Who, usize),
    /// `--concurrent` streams, 2 ms apart; `Conc1`: one such stream alone.
    Conc(Who),
    Conc1(Who),
    /// `--many` streams, 20 ms apart; `Many1`: one such stream alone.
    Many(Who),
    Many1(Who),
    /// The first text delta's latency.
    Lat(Who),
    /// Anthropic Messages: one stream of `--chunks` in 16 KiB frames;
    /// `--concurrent` streams 2 ms apart; one such stream alone.
    AnthropicOne(Who),
    AnthropicConc(Who),
    AnthropicConc1(Who),
    /// One `--log-chunks` stream kept in rivulet's replay log; `LogBase`:
    /// the same client on a stream of [`LOG_BASE_CHUNKS`].
    Log,
    LogBase,
}

/// A one-stream scenario of a framing: [`Sc::Frames`] or [`Sc::Events`].
type OneStream = fn(Who, usize) -> Sc;
/// A scenario of each client: [`Sc::Conc`], [`Sc::Many`], ….
type Pick = fn(Who) -> Sc;

/// The replay log figure's baseline stream: long enough to start every
/// buffer the long one has, short enough to add nothing to them.
const LOG_BASE_CHUNKS: usize = 1000;

use Who::{AsyncOpenAi, Floor, Genai, Lean, Rivulet};

/// Every client of the concurrency scenarios, in the order they are printed.
const EVERY: [Who; 5] = [Lean, Floor, Rivulet, AsyncOpenAi, Genai];

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        Some("__client") => return client(&argv[1..]),
        Some("__log") => return log_client(&argv[1..]),
        Some("__latency") => return latency_client(&argv[1..]),
        // For profiling one client alone: `bench __serve N [MS] [frames]`
        // prints the URL and serves N-chunk streams, one event per write MS
        // milliseconds apart (or 16 KiB frames), until killed.
        // `bench __stamp`: the stamping server of the latency figure, alone.
        Some("__stamp") => {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            println!("{}", rt.block_on(stamped_server()));
            loop {
                std::thread::park();
            }
        }
        Some("__serve") => {
            let n = argv.get(1).and_then(|v| v.parse().ok()).unwrap_or(100_000);
            let pace = argv.get(2).and_then(|v| v.parse().ok()).unwrap_or(0);
            let framing = match argv.get(3).map(String::as_str) {
                Some("frames") => Framing::Frames(FRAME),
                _ => Framing::Events,
            };
            let server =
                Server::start_blocking(vec![Replay::from_generated(Generated::openai(n, framing))
                    .delay(Duration::from_millis(pace))]);
            println!("{}", server.url());
            loop {
                std::thread::park();
            }
        }
        _ => {}
    }
    let chunks = arg("--chunks", 100_000);
    let runs = arg("--runs", 5).max(1);
    let concurrent = arg("--concurrent", 500).max(2);
    let concurrent_chunks = arg("--concurrent-chunks", 200);
    let many = arg("--many", 5000).max(2);
    let many_chunks = arg("--many-chunks", 50);
    let many_pace = arg("--many-pace-ms", 20);
    let log_chunks = arg("--log-chunks", 1_000_000).max(LOG_BASE_CHUNKS + 1);
    let latency_streams = arg("--latency-streams", 200).max(1);
    let (n_str, c_str, m_str, l_str) = (
        thousands(chunks),
        thousands(concurrent),
        thousands(many),
        thousands(log_chunks),
    );

    raise_fd_limit();
    let peers = build_peers();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let serve_as = |g: Generated, pace| {
        rt.block_on(Server::start(vec![Replay::from_generated(g).delay(pace)]))
    };
    let serve = |n, framing, pace| serve_as(Generated::openai(n, framing), pace);
    let frames = serve(chunks, Framing::Frames(FRAME), Duration::ZERO);
    let events = serve(chunks, Framing::Events, Duration::ZERO);
    let paced = serve(concurrent_chunks, Framing::Events, Duration::from_millis(2));
    let many_paced = serve(
        many_chunks,
        Framing::Events,
        Duration::from_millis(many_pace as u64),
    );
    let log = serve(log_chunks, Framing::Frames(FRAME), Duration::ZERO);
    let log_base = serve(LOG_BASE_CHUNKS, Framing::Frames(FRAME), Duration::ZERO);
    let stamped = rt.block_on(stamped_server());
    let anthropic_frames = serve_as(
        Generated::anthropic(chunks, Framing::Frames(FRAME)),
        Duration::ZERO,
    );
    let anthropic_paced = serve_as(
        Generated::anthropic(concurrent_chunks, Framing::Events),
        Duration::from_millis(2),
    );

    // The content chunks' average size, over a cycle of the tokens and more.
    let sample = Generated::openai(1000, Framing::Events);
    let event_bytes: usize = (1..=1000)
        .map(|i| sample.event(i).map_or(0, |e| e.len()))
        .sum();
    let delta_chars: usize = (0..1000).map(|i| sample.token(i).chars().count()).sum();
    let per = 1000.0;
    eprintln!(
        "rivulet bench: OpenAI chunks of {:.0} bytes on average (deltas of {:.1} characters); medians of {runs} runs",
        event_bytes as f64 / per,
        delta_chars as f64 / per
    );

    let client = |who: Who, url: &str, streams: usize, subs: usize, n: usize| {
        vec![
            s("__client"),
            s(who.arg()),
            s(url),
            s(streams),
            s(subs),
            s(n),
        ]
    };
    let (f, e, p, mp) = (frames.url(), events.url(), paced.url(), many_paced.url());
    let mut scenarios: Vec<(Sc, Vec<String>)> = Vec::new();
    for (who, subs) in [(Floor, 1), (Lean, 1), (Rivulet, 1), (Rivulet, 8)] {
        scenarios.push((Sc::Frames(who, subs), client(who, &f, 1, subs, chunks)));
    }
    for (who, subs) in [(Floor, 1), (Lean, 1), (Rivulet, 1), (Rivulet, 8)] {
        scenarios.push((Sc::Events(who, subs), client(who, &e, 1, subs, chunks)));
    }
    for who in EVERY {
        let (n, c) = (concurrent, concurrent_chunks);
        scenarios.push((Sc::Conc(who), client(who, &p, n, 1, c)));
        scenarios.push((Sc::Conc1(who), client(who, &p, 1, 1, c)));
    }
    for who in EVERY {
        scenarios.push((Sc::Many(who), client(who, &mp, many, 1, many_chunks)));
        scenarios.push((Sc::Many1(who), client(who, &mp, 1, 1, many_chunks)));
    }
    scenarios.push((Sc::Log, vec![s("__log"), log.url(), s(log_chunks)]));
    scenarios.push((
        Sc::LogBase,
        vec![s("__log"), log_base.url(), s(LOG_BASE_CHUNKS)],
    ));
    for who in [Lean, Rivulet] {
        let anthropic = |url: String, streams, n| {
            let mut args = client(who, &url, streams, 1, n);
            args.push(s("anthropic"));
            args
        };
        let (n, c) = (concurrent, concurrent_chunks);
        let (af, ap) = (anthropic_frames.url(), anthropic_paced.url());
        scenarios.push((Sc::AnthropicOne(who), anthropic(af, 1, chunks)));
        scenarios.push((Sc::AnthropicConc(who), anthropic(ap.clone(), n, c)));
        scenarios.push((Sc::AnthropicConc1(who), anthropic(ap, 1, c)));
    }
    for who in [Floor, Lean, Rivulet] {
        scenarios.push((
            Sc::Lat(who),
            vec![
                s("__latency"),
                s(who.arg()),
                s(&stamped),
                s(latency_streams),
            ],
        ));
    }
    let load_before = load_average();
    let all = bench::round_robin(runs, scenarios.len(), |i| {
        run_child(&scenarios[i].1, &peers)
    });
    let load_after = load_average();

    // Figures per run, then their median and range over the runs.
    let stat = |g: &dyn Fn(usize) -> f64| Stat::of((0..runs).map(g).collect());
    let fig = |sc: Sc, r: usize| {
        let i = scenarios
            .iter()
            .position(|(x, _)| *x == sc)
            .unwrap_or_else(|| panic!("no scenario {sc:?}"));
        all[i][r]
    };
    let cpu = |sc: Sc| stat(&|r| fig(sc, r).per_chunk_us());
    let cpu_x =
        |sc: Sc, base: Sc| stat(&|r| fig(sc, r).per_chunk_us() / fig(base, r).per_chunk_us());
    let switches = |sc: Sc| stat(&|r| fig(sc, r).switches_per_chunk());
    let rss = |sc: Sc| stat(&|r| fig(sc, r).peak_rss_kib / 1024.0);
    let wall = |sc: Sc| stat(&|r| fig(sc, r).wall_us / 1e3);
    // KiB per stream above a 1-stream process of the same client.
    let per_stream_run = |many: Sc, one: Sc, n: usize, r: usize| {
        (fig(many, r).peak_rss_kib - fig(one, r).peak_rss_kib) / (n - 1) as f64
    };
    let per_stream = |many: Sc, one: Sc, n: usize| stat(&|r| per_stream_run(many, one, n, r));
    let per_stream_x = |many: Sc, one: Sc, base: Sc, base1: Sc, n: usize| {
        stat(&|r| per_stream_run(many, one, n, r) / per_stream_run(base, base1, n, r))
    };
    let lat = |sc: Sc| stat(&|r| fig(sc, r).first_delta_us);
    let lat_over =
        |sc: Sc, base: Sc| stat(&|r| fig(sc, r).first_delta_us - fig(base, r).first_delta_us);
    // The replay log: bytes per chunk above the baseline process, less the
    // text's.
    let log_beyond = stat(&|r| {
        let (long, base) = (fig(Sc::Log, r), fig(Sc::LogBase, r));
        ((long.peak_rss_kib - base.peak_rss_kib) * 1024.0 - long.text_bytes) / log_chunks as f64
    });
    let log_text = stat(&|r| fig(Sc::Log, r).text_bytes / log_chunks as f64);
    let log_above =
        stat(&|r| (fig(Sc::Log, r).peak_rss_kib - fig(Sc::LogBase, r).peak_rss_kib) / 1024.0);

    // ---------------------------------------------------------------- text report
    let mut spreads: Vec<f64> = Vec::new();
    let mut out = String::new();
    let ones: [(&str, OneStream); 2] = [
        ("16 KiB frames", Sc::Frames),
        ("one event per write", Sc::Events),
    ];
    for (how, one) in ones {
        let _ = writeln!(out, "\none stream of {n_str} chunks, {how}");
        for (who, subs) in [(Floor, 1), (Lean, 1), (Rivulet, 1), (Rivulet, 8)] {
            let sc = one(who, subs);
            let name = if subs == 8 {
                "rivulet, 8 subscribers"
            } else {
                who.name()
            };
            let _ = writeln!(
                out,
                "  {name:<36} {} µs/chunk  {}x floor  {}x true floor  wall {} ms  peak RSS {} MiB  {} switches/chunk",
                cpu(sc).show(2, ""),
                cpu_x(sc, one(Floor, 1)).show(2, ""),
                cpu_x(sc, one(Lean, 1)).show(2, ""),
                wall(sc).show(0, ""),
                rss(sc).show(1, ""),
                switches(sc).show(3, ""),
            );
        }
    }
    let concs: [(String, usize, Pick, Pick); 2] = [
        (
            format!("{c_str} streams x {concurrent_chunks} chunks, one event per write 2 ms apart"),
            concurrent,
            Sc::Conc,
            Sc::Conc1,
        ),
        (
            format!(
                "{m_str} streams x {many_chunks} chunks, one event per write {many_pace} ms apart"
            ),
            many,
            Sc::Many,
            Sc::Many1,
        ),
    ];
    for (title, n, sc_of, one_of) in &concs {
        let _ = writeln!(out, "\n{title}");
        for who in EVERY {
            let sc = sc_of(who);
            let _ = writeln!(
                out,
                "  {:<36} {} µs/chunk  {}x floor  {}x true floor  {} switches/chunk  wall {} ms  peak RSS {} MiB, {} KiB per stream above a 1-stream process",
                who.name(),
                cpu(sc).show(2, ""),
                cpu_x(sc, sc_of(Floor)).show(2, ""),
                cpu_x(sc, sc_of(Lean)).show(2, ""),
                switches(sc).show(2, ""),
                wall(sc).show(0, ""),
                rss(sc).show(1, ""),
                per_stream(sc, one_of(who), *n).show(1, ""),
            );
        }
    }
    let log_line = format!(
        "Replay log: one stream of {l_str} chunks in 16 KiB frames, one subscriber keeping nothing: peak RSS {} above the same client on {} chunks; the text {} B/chunk; beyond the text {} (the log and the accumulated response).",
        log_above.show(1, " MiB"),
        thousands(LOG_BASE_CHUNKS),
        log_text.show(2, ""),
        log_beyond.show(1, " B/chunk"),
    );
    let _ = writeln!(
        out,
        "\nAnthropic Messages: one stream of {n_str} chunks in 16 KiB frames; {c_str} streams x {concurrent_chunks} chunks, one event per write 2 ms apart"
    );
    for who in [Lean, Rivulet] {
        let (one, conc) = (Sc::AnthropicOne(who), Sc::AnthropicConc(who));
        let _ = writeln!(
            out,
            "  {:<36} one stream {} µs/chunk  {}x true floor  peak RSS {} MiB;  {c_str} streams {} µs/chunk  {}x true floor  {} switches/chunk  {} KiB per stream",
            who.name(),
            cpu(one).show(2, ""),
            cpu_x(one, Sc::AnthropicOne(Lean)).show(2, ""),
            rss(one).show(1, ""),
            cpu(conc).show(2, ""),
            cpu_x(conc, Sc::AnthropicConc(Lean)).show(2, ""),
            switches(conc).show(2, ""),
            per_stream(conc, Sc::AnthropicConc1(who), concurrent).show(1, ""),
        );
    }
    let _ = writeln!(out, "\n{log_line}");
    let latency = format!(
        "First text delta, from the server's write of the event to the consumer, median of {latency_streams} sequential streams: floor {}, true floor {}, rivulet {} ({} over the floor, {} over the true floor).",
        lat(Sc::Lat(Floor)).show(1, " µs"),
        lat(Sc::Lat(Lean)).show(1, " µs"),
        lat(Sc::Lat(Rivulet)).show(1, " µs"),
        lat_over(Sc::Lat(Rivulet), Sc::Lat(Floor)).show(1, " µs"),
        lat_over(Sc::Lat(Rivulet), Sc::Lat(Lean)).show(1, " µs"),
    );
    let _ = writeln!(out, "\n{latency}");
    print!("{out}");

    // ---------------------------------------------------------------- targets
    // Issue 17's targets: (what, figure, bound, unit, decimals, strictly
    // below); judged on the median.
    let mut targets: Vec<(String, Stat, f64, &str, usize, bool)> = Vec::new();
    // Against the floor, for information.
    let mut info: Vec<(String, Stat)> = Vec::new();
    for (how, one) in ones {
        for (subs, n, bound) in [("1 consumer", 1, 1.5), ("8 consumers", 8, 1.8)] {
            let what = format!("one stream of {n_str} chunks, {how}, {subs}: CPU per chunk");
            let sc = one(Rivulet, n);
            targets.push((
                format!("{what} over the true floor's"),
                cpu_x(sc, one(Lean, 1)),
                bound,
                "×",
                2,
                false,
            ));
            info.push((what, cpu_x(sc, one(Floor, 1))));
        }
    }
    let what = format!("{c_str} streams x {concurrent_chunks} chunks 2 ms apart");
    targets.push((
        format!("{what}: CPU per chunk over the true floor's"),
        cpu_x(Sc::Conc(Rivulet), Sc::Conc(Lean)),
        1.3,
        "×",
        2,
        false,
    ));
    targets.push((
        format!("{what}: memory per stream over the true floor's"),
        per_stream_x(
            Sc::Conc(Rivulet),
            Sc::Conc1(Rivulet),
            Sc::Conc(Lean),
            Sc::Conc1(Lean),
            concurrent,
        ),
        1.3,
        "×",
        2,
        false,
    ));
    info.push((
        format!("{what}: CPU per chunk"),
        cpu_x(Sc::Conc(Rivulet), Sc::Conc(Floor)),
    ));
    info.push((
        format!("{what}: memory per stream"),
        per_stream_x(
            Sc::Conc(Rivulet),
            Sc::Conc1(Rivulet),
            Sc::Conc(Floor),
            Sc::Conc1(Floor),
            concurrent,
        ),
    ));
    let what = format!("{m_str} streams x {many_chunks} chunks {many_pace} ms apart");
    for peer in [AsyncOpenAi, Genai] {
        let name = peer.arg();
        targets.push((
            format!("{what}: CPU per chunk over {name}'s"),
            cpu_x(Sc::Many(Rivulet), Sc::Many(peer)),
            1.0,
            "×",
            2,
            true,
        ));
        targets.push((
            format!("{what}: memory per stream over {name}'s"),
            per_stream_x(
                Sc::Many(Rivulet),
                Sc::Many1(Rivulet),
                Sc::Many(peer),
                Sc::Many1(peer),
                many,
            ),
            1.0,
            "×",
            2,
            true,
        ));
    }
    info.push((
        format!("{what}: CPU per chunk"),
        cpu_x(Sc::Many(Rivulet), Sc::Many(Floor)),
    ));
    let info_lean: Vec<(String, Stat)> = vec![
        (
            format!("Anthropic, one stream of {n_str} chunks, 16 KiB frames: CPU per chunk"),
            cpu_x(Sc::AnthropicOne(Rivulet), Sc::AnthropicOne(Lean)),
        ),
        (
            format!("Anthropic, {c_str} streams: CPU per chunk"),
            cpu_x(Sc::AnthropicConc(Rivulet), Sc::AnthropicConc(Lean)),
        ),
        (
            format!("Anthropic, {c_str} streams: memory per stream"),
            per_stream_x(
                Sc::AnthropicConc(Rivulet),
                Sc::AnthropicConc1(Rivulet),
                Sc::AnthropicConc(Lean),
                Sc::AnthropicConc1(Lean),
                concurrent,
            ),
        ),
    ];
    targets.push((
        format!("replay log, {l_str} chunks: bytes per chunk beyond the text"),
        log_beyond,
        24.0,
        " B",
        1,
        false,
    ));
    targets.push((
        "first text delta: time after the true floor's".to_string(),
        lat_over(Sc::Lat(Rivulet), Sc::Lat(Lean)),
        20.0,
        " µs",
        1,
        false,
    ));
    let mut md_targets = String::new();
    println!("\ntargets of issue 17 (median, min–max over the runs):");
    for (what, stat, bound, unit, prec, below) in &targets {
        let line = if *below {
            stat.judge_below(what, *bound, unit, *prec)
        } else {
            stat.judge(what, *bound, unit, *prec)
        };
        println!("  {line}");
        let _ = writeln!(md_targets, "- {line}");
        if *unit == "×" {
            spreads.push(stat.spread());
        }
    }
    println!("against the floor (information):");
    for (what, stat) in &info {
        println!("  {what}: {} the floor's", stat.show(2, "×"));
        spreads.push(stat.spread());
    }
    println!("Anthropic, against its true floor (information; no target):");
    for (what, stat) in &info_lean {
        println!("  {what}: {} the true floor's", stat.show(2, "×"));
        spreads.push(stat.spread());
    }

    // ---------------------------------------------------------------- markdown
    // A CPU cell: the figure, and against the true floor unless it is one.
    let cell_cpu = |sc: Sc, lean: Sc| {
        if sc == lean {
            cpu(sc).show(2, "")
        } else {
            format!("{} ({})", cpu(sc).show(2, ""), cpu_x(sc, lean).show(2, "×"))
        }
    };
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| scenario (OpenAI chunks unless marked Anthropic) | true floor | floor (reqwest + eventsource-stream) | rivulet | async-openai | genai |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|");
    for (how, one) in ones {
        let lean = one(Lean, 1);
        let _ = writeln!(
            md,
            "| 1 stream × {n_str}, {how}: CPU µs/chunk (× true floor) | {} | {} | {} | | |",
            cell_cpu(lean, lean),
            cell_cpu(one(Floor, 1), lean),
            cell_cpu(one(Rivulet, 1), lean),
        );
        let _ = writeln!(
            md,
            "| same, 8 consumers | | | {} | | |",
            cell_cpu(one(Rivulet, 8), lean),
        );
    }
    for (title, n, sc_of, one_of) in &concs {
        let short = title
            .replace(" x ", " × ")
            .replace(", one event per write", "");
        let row = |f: &dyn Fn(Who) -> String| EVERY.map(f).join(" | ");
        let _ = writeln!(
            md,
            "| {short}: CPU µs/chunk (× true floor) | {} |",
            row(&|w| cell_cpu(sc_of(w), sc_of(Lean)))
        );
        let _ = writeln!(
            md,
            "| context switches per chunk at that pace | {} |",
            row(&|w| switches(sc_of(w)).show(2, ""))
        );
        let _ = writeln!(
            md,
            "| memory per stream at that pace (KiB above a 1-stream process) | {} |",
            row(&|w| per_stream(sc_of(w), one_of(w), *n).show(1, ""))
        );
    }
    let _ = writeln!(
        md,
        "| Anthropic: 1 stream × {n_str}, 16 KiB frames: CPU µs/chunk (× true floor) | {} | | {} | | |",
        cell_cpu(Sc::AnthropicOne(Lean), Sc::AnthropicOne(Lean)),
        cell_cpu(Sc::AnthropicOne(Rivulet), Sc::AnthropicOne(Lean)),
    );
    let _ = writeln!(
        md,
        "| Anthropic: {c_str} streams × {concurrent_chunks} chunks 2 ms apart: CPU µs/chunk (× true floor) | {} | | {} | | |",
        cell_cpu(Sc::AnthropicConc(Lean), Sc::AnthropicConc(Lean)),
        cell_cpu(Sc::AnthropicConc(Rivulet), Sc::AnthropicConc(Lean)),
    );
    let _ = writeln!(
        md,
        "| Anthropic: memory per stream at that pace (KiB above a 1-stream process) | {} | | {} | | |",
        per_stream(Sc::AnthropicConc(Lean), Sc::AnthropicConc1(Lean), concurrent).show(1, ""),
        per_stream(Sc::AnthropicConc(Rivulet), Sc::AnthropicConc1(Rivulet), concurrent).show(1, ""),
    );
    let _ = writeln!(
        md,
        "| replay log, 1 stream × {l_str} (peak RSS above a {}-chunk stream's) | | | {}: {} beyond the text ({} B/chunk) | | |",
        thousands(LOG_BASE_CHUNKS),
        log_above.show(1, " MiB"),
        log_beyond.show(1, " B/chunk"),
        log_text.show(2, ""),
    );
    let _ = writeln!(
        md,
        "| first text delta, µs from the server's write (median of {latency_streams}) | {} | {} | {} | | |",
        lat(Sc::Lat(Lean)).show(1, ""),
        lat(Sc::Lat(Floor)).show(1, ""),
        lat(Sc::Lat(Rivulet)).show(1, ""),
    );
    let _ = writeln!(
        md,
        "| peak RSS, 1 stream × {n_str}, 16 KiB frames, MiB | {} | {} | {} with its replay log | | |",
        rss(Sc::Frames(Lean, 1)).show(1, ""),
        rss(Sc::Frames(Floor, 1)).show(1, ""),
        rss(Sc::Frames(Rivulet, 1)).show(1, ""),
    );
    let _ = writeln!(md);
    let _ = writeln!(md, "Targets of issue 17, judged on the median:");
    let _ = writeln!(md);
    md.push_str(&md_targets);
    let widest = spreads.iter().cloned().fold(0.0, f64::max);
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "Each figure: median of {runs} runs taken round-robin over the scenarios, (min–max) over the runs; ratios are taken within a run. The widest range of a ratio was {:.0}% of its median. {} cores; 1-minute load average {load_before:.1} before the runs, {load_after:.1} after.",
        widest * 100.0,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!("\n---- markdown for the README ----\n{md}");
}
