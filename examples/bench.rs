//! The bench program: the runtime's cost next to two floors.
//!
//! `cargo run --release --example bench [-- --runs 5 --chunks 100000 --concurrent 500]`
//!
//! The parent starts loopback servers that send OpenAI chat-completion
//! chunks as the real API does (testkit's [`Generated::openai`]: every field
//! of a recorded chunk, the `obfuscation` padding, tokens of a few
//! characters, chunked transfer coding), either in 16 KiB frames (a fast
//! server) or one event per write (a model generating). It runs each client
//! as a child process of this same binary, so each figure is a whole client
//! process: CPU = user + sys as the kernel reports it through `wait4`, peak
//! RSS as the client's own `VmHWM`. The runs go round-robin over the
//! scenarios; every figure is the median over the runs, with the min–max
//! beside it, and every ratio is taken within a run (a rivulet client against
//! the floor measured just before it) before its median is taken.
//!
//! Two floors, no runtime in either:
//! - the floor: reqwest + eventsource-stream + serde_json into an owned
//!   struct, what a hand-written client usually is;
//! - the true floor: reqwest's `bytes_stream`, lines found with memchr in
//!   each frame without copying the rest of the buffer, serde_json into
//!   borrowed fields reading only `choices[0].delta.content`.
//!
//! rivulet is measured doing everything it does: the provider actor and its
//! replay log, the accumulator and tool-parser actors, a subscriber per
//! consumer. Every client checks the text it received (and rivulet its
//! usage) against what the server sent.
//!
//! At the end it prints the targets as met or not and a markdown table and
//! spread line ready for the README.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rivulet_testkit::bench::{
    self, arg, load_average, mono_ns, peak_rss_kib, raise_fd_limit, stamp_server, thousands, Seen,
    Stamping, Stat,
};
use rivulet_testkit::{Framing, Generated, Replay, Server};

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

async fn post(client: &reqwest::Client, url: &str) -> reqwest::Response {
    client
        .post(format!("{url}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body())
        .send()
        .await
        .expect("request")
}

/// One floor stream: eventsource-stream events, each parsed into an owned
/// struct.
async fn floor_stream(client: &reqwest::Client, url: &str) -> Seen {
    use eventsource_stream::Eventsource;
    let mut events = post(client, url).await.bytes_stream().eventsource();
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
async fn lean_stream(client: &reqwest::Client, url: &str) -> Seen {
    let mut frames = post(client, url).await.bytes_stream();
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
            done |= lean_line(&torn, &mut seen);
            torn.clear();
            rest = &rest[end + 1..];
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', rest) {
            done |= lean_line(&rest[start..end], &mut seen);
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

fn model(url: &str) -> rivulet::Model {
    rivulet::Model::new("openai/bench")
        .base_url(format!("{url}/v1"))
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

/// Whether `text` is exactly the text `g` sent (without building it).
fn is_text_of(g: &Generated, text: &str) -> bool {
    let mut rest = text;
    for i in 0..g.n_chunks {
        match rest.strip_prefix(g.token(i)) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .build()
        .expect("client")
}

/// One stream of `client` ("floor", "lean" or "rivulet").
async fn one_stream(
    client: &str,
    http: &reqwest::Client,
    m: &rivulet::Model,
    url: &str,
    subs: usize,
    n_chunks: usize,
) -> Seen {
    match client {
        "floor" => floor_stream(http, url).await,
        "lean" => lean_stream(http, url).await,
        _ => rivulet_stream(m, subs, n_chunks).await,
    }
}

/// Runs one client scenario in this (child) process and prints its figures:
/// `__client CLIENT URL STREAMS SUBS N_CHUNKS`.
fn client(args: &[String]) {
    let which = args[0].clone();
    let url = args[1].clone();
    let streams: usize = args[2].parse().expect("streams");
    let subs: usize = args[3].parse().expect("subs");
    let n_chunks: usize = args[4].parse().expect("chunks");
    raise_fd_limit();
    let started = Instant::now();
    let deltas = runtime().block_on(async move {
        let http = http_client();
        let m = model(&url);
        let sent = Generated::openai(n_chunks, Framing::Events);
        let tasks: Vec<_> = (0..streams)
            .map(|_| {
                let (http, m, url, which) = (http.clone(), m.clone(), url.clone(), which.clone());
                tokio::spawn(
                    async move { one_stream(&which, &http, &m, &url, subs, n_chunks).await },
                )
            })
            .collect();
        let mut deltas = 0;
        for t in tasks {
            let seen = t.await.expect("stream task");
            assert!(
                is_text_of(&sent, &seen.text),
                "{which}: the text differs from the one sent"
            );
            assert_eq!(seen.deltas, n_chunks as u64, "{which}: deltas");
            deltas += seen.deltas;
        }
        deltas
    });
    let wall = started.elapsed();
    println!(
        "{}",
        serde_json::json!({"deltas": deltas, "wall_us": wall.as_micros() as u64, "peak_rss_kib": peak_rss_kib()})
    );
}

/// Sequential streams from the stamping server (see [`stamped_server`]): the
/// median time from the first text event's write to the socket to its text
/// in the consumer. `__latency CLIENT URL STREAMS`.
fn latency_client(args: &[String]) {
    let which = args[0].clone();
    let url = args[1].clone();
    let n: usize = args[2].parse().expect("n");
    let mut lat: Vec<u64> = runtime().block_on(async move {
        let http = http_client();
        let m = model(&url);
        let mut v = Vec::new();
        for _ in 0..n {
            let seen = one_stream(&which, &http, &m, &url, 1, STAMPED_CHUNKS).await;
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
}

impl Figures {
    fn per_chunk_us(&self) -> f64 {
        self.cpu_us / self.deltas.max(1.0)
    }
}

/// Runs a child client: its CPU from wait4, its other figures from what it
/// printed.
fn run_child(args: &[String]) -> Figures {
    let run = bench::run_child(args);
    let v = &run.output;
    Figures {
        cpu_us: run.cpu_us,
        peak_rss_kib: v["peak_rss_kib"].as_f64().unwrap_or(0.0),
        wall_us: v["wall_us"].as_f64().unwrap_or(0.0),
        first_delta_us: v["first_delta_us"].as_f64().unwrap_or(0.0),
        deltas: v["deltas"].as_f64().unwrap_or(0.0),
    }
}

/// Every run of every scenario, `[scenario][run]`, round-robin.
fn measure(runs: usize, scenarios: &[Vec<String>]) -> Vec<Vec<Figures>> {
    bench::round_robin(runs, scenarios.len(), |i| run_child(&scenarios[i]))
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

/// The scenarios, by name, in the order they run.
#[derive(Clone, Copy)]
enum Sc {
    FloorFrames,
    LeanFrames,
    Riv1Frames,
    Riv8Frames,
    FloorEvents,
    LeanEvents,
    Riv1Events,
    Riv8Events,
    FloorConc,
    LeanConc,
    RivConc,
    FloorConc1,
    LeanConc1,
    RivConc1,
    LatFloor,
    LatLean,
    LatRiv,
}
/// Every scenario, in declaration order: `all[sc as usize]` is `sc`'s runs.
const ALL: [Sc; 17] = [
    Sc::FloorFrames,
    Sc::LeanFrames,
    Sc::Riv1Frames,
    Sc::Riv8Frames,
    Sc::FloorEvents,
    Sc::LeanEvents,
    Sc::Riv1Events,
    Sc::Riv8Events,
    Sc::FloorConc,
    Sc::LeanConc,
    Sc::RivConc,
    Sc::FloorConc1,
    Sc::LeanConc1,
    Sc::RivConc1,
    Sc::LatFloor,
    Sc::LatLean,
    Sc::LatRiv,
];

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        Some("__client") => return client(&argv[1..]),
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
    let latency_streams = arg("--latency-streams", 200).max(1);
    let (n_str, c_str) = (thousands(chunks), thousands(concurrent));

    raise_fd_limit();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let serve = |n, framing, pace| {
        rt.block_on(Server::start(vec![Replay::from_generated(
            Generated::openai(n, framing),
        )
        .delay(pace)]))
    };
    let frames = serve(chunks, Framing::Frames(FRAME), Duration::ZERO);
    let events = serve(chunks, Framing::Events, Duration::ZERO);
    let paced = serve(concurrent_chunks, Framing::Events, Duration::from_millis(2));
    let stamped = rt.block_on(stamped_server());

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

    let client = |which: &str, url: &str, streams: usize, subs: usize, n: usize| {
        vec![s("__client"), s(which), s(url), s(streams), s(subs), s(n)]
    };
    let latency = |which: &str| vec![s("__latency"), s(which), s(&stamped), s(latency_streams)];
    let (f, e, p) = (frames.url(), events.url(), paced.url());
    let scenarios = ALL.map(|sc| match sc {
        Sc::FloorFrames => client("floor", &f, 1, 1, chunks),
        Sc::LeanFrames => client("lean", &f, 1, 1, chunks),
        Sc::Riv1Frames => client("rivulet", &f, 1, 1, chunks),
        Sc::Riv8Frames => client("rivulet", &f, 1, 8, chunks),
        Sc::FloorEvents => client("floor", &e, 1, 1, chunks),
        Sc::LeanEvents => client("lean", &e, 1, 1, chunks),
        Sc::Riv1Events => client("rivulet", &e, 1, 1, chunks),
        Sc::Riv8Events => client("rivulet", &e, 1, 8, chunks),
        Sc::FloorConc => client("floor", &p, concurrent, 1, concurrent_chunks),
        Sc::LeanConc => client("lean", &p, concurrent, 1, concurrent_chunks),
        Sc::RivConc => client("rivulet", &p, concurrent, 1, concurrent_chunks),
        Sc::FloorConc1 => client("floor", &p, 1, 1, concurrent_chunks),
        Sc::LeanConc1 => client("lean", &p, 1, 1, concurrent_chunks),
        Sc::RivConc1 => client("rivulet", &p, 1, 1, concurrent_chunks),
        Sc::LatFloor => latency("floor"),
        Sc::LatLean => latency("lean"),
        Sc::LatRiv => latency("rivulet"),
    });
    let load_before = load_average();
    assert!(ALL.iter().enumerate().all(|(i, sc)| *sc as usize == i));
    let all = measure(runs, &scenarios);
    let load_after = load_average();

    // Figures per run, then their median and range over the runs.
    let stat = |g: &dyn Fn(usize) -> f64| Stat::of((0..runs).map(g).collect());
    let fig = |sc: Sc, r: usize| all[sc as usize][r];
    let cpu = |sc: Sc| stat(&|r| fig(sc, r).per_chunk_us());
    let cpu_x =
        |sc: Sc, floor: Sc| stat(&|r| fig(sc, r).per_chunk_us() / fig(floor, r).per_chunk_us());
    let rss = |sc: Sc| stat(&|r| fig(sc, r).peak_rss_kib / 1024.0);
    let rss_x = |sc: Sc, floor: Sc| stat(&|r| fig(sc, r).peak_rss_kib / fig(floor, r).peak_rss_kib);
    let wall = |sc: Sc| stat(&|r| fig(sc, r).wall_us / 1e3);
    let per_stream = |many: Sc, one: Sc| {
        stat(&|r| (fig(many, r).peak_rss_kib - fig(one, r).peak_rss_kib) / (concurrent - 1) as f64)
    };
    let lat = |sc: Sc| stat(&|r| fig(sc, r).first_delta_us);
    let lat_over =
        |sc: Sc, floor: Sc| stat(&|r| fig(sc, r).first_delta_us - fig(floor, r).first_delta_us);

    // ---------------------------------------------------------------- text report
    let mut spreads: Vec<f64> = Vec::new();
    let mut out = String::new();
    // The single-stream scenarios: floor, true floor, rivulet 1 and 8.
    let groups = [
        (
            "16 KiB frames",
            [
                Sc::FloorFrames,
                Sc::LeanFrames,
                Sc::Riv1Frames,
                Sc::Riv8Frames,
            ],
        ),
        (
            "one event per write",
            [
                Sc::FloorEvents,
                Sc::LeanEvents,
                Sc::Riv1Events,
                Sc::Riv8Events,
            ],
        ),
    ];
    let names = [
        "floor (reqwest+eventsource+serde)",
        "true floor (memchr+borrowed serde)",
        "rivulet, 1 subscriber",
        "rivulet, 8 subscribers",
    ];
    for (how, scs) in groups {
        let _ = writeln!(out, "\none stream of {n_str} chunks, {how}");
        for (name, sc) in names.iter().zip(scs) {
            let _ = writeln!(
                out,
                "  {name:<36} {} µs/chunk  {}x floor  {}x true floor  wall {} ms  peak RSS {} MiB",
                cpu(sc).show(2, ""),
                cpu_x(sc, scs[0]).show(2, ""),
                cpu_x(sc, scs[1]).show(2, ""),
                wall(sc).show(0, ""),
                rss(sc).show(1, ""),
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{concurrent} streams x {concurrent_chunks} chunks, one event per write 2 ms apart"
    );
    for (name, sc, one) in [
        (names[0], Sc::FloorConc, Sc::FloorConc1),
        (names[1], Sc::LeanConc, Sc::LeanConc1),
        (names[2], Sc::RivConc, Sc::RivConc1),
    ] {
        let _ = writeln!(
            out,
            "  {name:<36} {} µs/chunk  {}x floor  {}x true floor  wall {} ms  peak RSS {} MiB, {} KiB per stream above a 1-stream process",
            cpu(sc).show(2, ""),
            cpu_x(sc, Sc::FloorConc).show(2, ""),
            cpu_x(sc, Sc::LeanConc).show(2, ""),
            wall(sc).show(0, ""),
            rss(sc).show(1, ""),
            per_stream(sc, one).show(1, ""),
        );
    }
    let latency = format!(
        "First text delta, from the server's write of the event to the consumer, median of {latency_streams} sequential streams: floor {}, true floor {}, rivulet {} ({} over the floor, {} over the true floor).",
        lat(Sc::LatFloor).show(1, " µs"),
        lat(Sc::LatLean).show(1, " µs"),
        lat(Sc::LatRiv).show(1, " µs"),
        lat_over(Sc::LatRiv, Sc::LatFloor).show(1, " µs"),
        lat_over(Sc::LatRiv, Sc::LatLean).show(1, " µs"),
    );
    let _ = writeln!(out, "\n{latency}");
    print!("{out}");

    // ---------------------------------------------------------------- targets
    // The benchmarks issue's targets, against the floor: (what, figure,
    // bound, unit, decimals); judged on the median.
    let mut targets: Vec<(String, Stat, f64, &str, usize)> = Vec::new();
    // Against the true floor, for information.
    let mut info: Vec<(String, Stat)> = Vec::new();
    for (how, [floor, lean, r1, r8]) in groups {
        for (subs, sc, bound) in [("1 subscriber", r1, 1.25), ("8 subscribers", r8, 1.6)] {
            let what = format!("{subs}, one stream, {how}: CPU per chunk");
            targets.push((
                format!("{what} over the floor's"),
                cpu_x(sc, floor),
                bound,
                "×",
                2,
            ));
            info.push((what, cpu_x(sc, lean)));
        }
        let what = format!("the {n_str}-chunk stream with its replay log, {how}: peak memory");
        targets.push((
            format!("{what} over the floor's"),
            rss_x(r1, floor),
            3.0,
            "×",
            2,
        ));
        info.push((what, rss_x(r1, lean)));
    }
    info.push((
        format!("1 subscriber, {c_str} streams: CPU per chunk"),
        cpu_x(Sc::RivConc, Sc::LeanConc),
    ));
    targets.push((
        format!("1 subscriber, {c_str} streams: CPU per chunk over the floor's"),
        cpu_x(Sc::RivConc, Sc::FloorConc),
        1.25,
        "×",
        2,
    ));
    targets.push((
        format!("{c_str} streams: memory per stream"),
        per_stream(Sc::RivConc, Sc::RivConc1),
        48.0,
        " KiB",
        1,
    ));
    targets.push((
        "first text delta: time after the floor's".to_string(),
        lat_over(Sc::LatRiv, Sc::LatFloor),
        50.0,
        " µs",
        1,
    ));
    let mut md_targets = String::new();
    println!(
        "\ntargets of the benchmarks issue, against the floor (median, min–max over the runs):"
    );
    for (what, stat, bound, unit, prec) in &targets {
        let line = stat.judge(what, *bound, unit, *prec);
        println!("  {line}");
        let _ = writeln!(md_targets, "- {line}");
        if *unit == "×" {
            spreads.push(stat.spread());
        }
    }
    println!("against the true floor (information):");
    for (what, stat) in &info {
        println!("  {what}: {} the true floor's", stat.show(2, "×"));
        spreads.push(stat.spread());
    }

    // ---------------------------------------------------------------- markdown
    let cell_cpu = |sc: Sc, floor: Sc, lean: Sc| {
        let c = cpu(sc);
        if sc as usize == floor as usize || sc as usize == lean as usize {
            c.show(2, " µs")
        } else {
            format!(
                "{}: {} floor, {} true floor",
                c.show(2, " µs"),
                cpu_x(sc, floor).show(2, "×"),
                cpu_x(sc, lean).show(2, "×")
            )
        }
    };
    let mut md = String::new();
    let _ = writeln!(md, "| CPU per chunk | one stream of {n_str} chunks, 16 KiB frames | one stream of {n_str} chunks, one event per write | {c_str} streams × {concurrent_chunks} chunks, one event per write 2 ms apart |");
    let _ = writeln!(md, "|---|---|---|---|");
    let md_names = [
        "floor: reqwest + eventsource-stream + serde_json",
        "true floor: reqwest + memchr + borrowed serde_json",
        "rivulet, 1 subscriber",
        "rivulet, 8 subscribers",
    ];
    let conc = [
        Some(Sc::FloorConc),
        Some(Sc::LeanConc),
        Some(Sc::RivConc),
        None,
    ];
    for i in 0..4 {
        let (fr, ev) = (groups[0].1, groups[1].1);
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            md_names[i],
            cell_cpu(fr[i], fr[0], fr[1]),
            cell_cpu(ev[i], ev[0], ev[1]),
            conc[i].map_or("–".to_string(), |sc| cell_cpu(
                sc,
                Sc::FloorConc,
                Sc::LeanConc
            )),
        );
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "| memory | peak RSS, one stream of {n_str} chunks, 16 KiB frames | per stream, {c_str} streams (peak RSS above a 1-stream process) |");
    let _ = writeln!(md, "|---|---|---|");
    for (i, (sc, many, one)) in [
        (Sc::FloorFrames, Sc::FloorConc, Sc::FloorConc1),
        (Sc::LeanFrames, Sc::LeanConc, Sc::LeanConc1),
        (Sc::Riv1Frames, Sc::RivConc, Sc::RivConc1),
    ]
    .into_iter()
    .enumerate()
    {
        let peak = if i == 2 {
            format!(
                "{} with its replay log: {} floor, {} true floor",
                rss(sc).show(1, " MiB"),
                rss_x(sc, Sc::FloorFrames).show(2, "×"),
                rss_x(sc, Sc::LeanFrames).show(2, "×")
            )
        } else {
            rss(sc).show(1, " MiB")
        };
        let _ = writeln!(
            md,
            "| {} | {peak} | {} |",
            md_names[i],
            per_stream(many, one).show(1, " KiB")
        );
    }
    let _ = writeln!(md);
    let _ = writeln!(md, "{latency}");
    let _ = writeln!(md);
    let _ = writeln!(
        md,
        "Targets of the benchmarks issue, against the floor, judged on the median:"
    );
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
