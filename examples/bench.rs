//! The bench program of issue 6: the runtime's cost next to the floor.
//!
//! `cargo run --release --example bench [-- --chunks 100000 --runs 5]`
//!
//! The parent starts loopback OpenAI-format servers (testkit) and runs each
//! client as a child process of this same binary, so each figure is a whole
//! client process: CPU = user + sys as the kernel reports it through
//! `wait4`, peak RSS as the client's own `VmHWM`, medians over `--runs`
//! runs taken round-robin over the scenarios. The floor is raw reqwest +
//! eventsource-stream + serde_json into a struct, no runtime.

use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rivulet_testkit::{Generated, Replay, Server};

const CHUNK_TEXT: &str = "abcd";

// ---------------------------------------------------------------- clients

/// The floor's view of a chunk: just what it needs.
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

fn body() -> serde_json::Value {
    serde_json::json!({
        "model": "bench",
        "stream": true,
        "messages": [{"role": "user", "content": "go"}],
    })
}

/// What one consumer saw of a stream.
struct Seen {
    deltas: u64,
    /// The first text delta, and when it reached the consumer
    /// (CLOCK_MONOTONIC, ns).
    first: Option<(String, u64)>,
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for the server and the client
/// processes.
fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the local struct.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// One floor stream.
async fn floor_stream(client: &reqwest::Client, url: &str) -> Seen {
    use eventsource_stream::Eventsource;
    let resp = client
        .post(format!("{url}/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(body().to_string())
        .send()
        .await
        .expect("floor request");
    let mut events = resp.bytes_stream().eventsource();
    let mut deltas = 0u64;
    let mut first = None;
    let mut text = String::new();
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
            if first.is_none() {
                first = Some((c.clone(), mono_ns()));
            }
            text.push_str(&c);
            deltas += 1;
        }
    }
    Seen { deltas, first }
}

fn model(url: &str) -> rivulet::Model {
    rivulet::Model::new("openai/bench")
        .base_url(format!("{url}/v1"))
        .api_key("bench")
        .retries(0)
}

/// One rivulet stream with `subs` consumers: what the first one saw.
async fn rivulet_stream(m: &rivulet::Model, subs: usize) -> Seen {
    let response = m.stream("go");
    let mut others = Vec::new();
    for _ in 1..subs {
        let mut chunks = response.chunk_stream();
        others.push(tokio::spawn(async move {
            let mut n = 0u64;
            while let Some(c) = chunks.next().await {
                if matches!(&*c.expect("chunk"), rivulet::Chunk::Text { .. }) {
                    n += 1;
                }
            }
            n
        }));
    }
    let mut chunks = response.chunk_stream();
    let mut deltas = 0u64;
    let mut first = None;
    while let Some(c) = chunks.next().await {
        if let rivulet::Chunk::Text { delta, .. } = &*c.expect("chunk") {
            if first.is_none() {
                first = Some((delta.to_string(), mono_ns()));
            }
            deltas += 1;
        }
    }
    for o in others {
        assert_eq!(o.await.expect("subscriber"), deltas, "subscribers disagree");
    }
    let done = response.finish().await.expect("finish");
    let first_len = first.as_ref().map_or(0, |(t, _)| t.len() as u64);
    assert_eq!(
        done.text().len() as u64,
        first_len + deltas.saturating_sub(1) * CHUNK_TEXT.len() as u64
    );
    Seen { deltas, first }
}

/// Runs one client scenario in this (child) process and prints its figures.
fn client(args: &[String]) {
    let scenario = args[0].as_str();
    let url = args[1].clone();
    let streams: usize = args[2].parse().expect("streams");
    let subs: usize = args.get(3).map(|s| s.parse().expect("subs")).unwrap_or(1);
    raise_fd_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let started = Instant::now();
    let deltas = rt.block_on(async move {
        let floor_client = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .expect("client");
        let m = model(&url);
        let mut tasks = Vec::new();
        for _ in 0..streams {
            let (fc, m, url) = (floor_client.clone(), m.clone(), url.clone());
            let floor = scenario == "floor";
            tasks.push(tokio::spawn(async move {
                if floor {
                    floor_stream(&fc, &url).await
                } else {
                    rivulet_stream(&m, subs).await
                }
            }));
        }
        let mut deltas = 0;
        for t in tasks {
            deltas += t.await.expect("task").deltas;
        }
        deltas
    });
    let wall = started.elapsed();
    println!(
        "{}",
        serde_json::json!({"deltas": deltas, "wall_us": wall.as_micros() as u64, "peak_rss_kib": peak_rss_kib()})
    );
}

/// This process's peak resident set size (`VmHWM`), in KiB.
///
/// Not `ru_maxrss` from `wait4`: Linux carries the high-water mark of the
/// address space a child had before `exec` (a copy of the parent's) into
/// it, so every client would report at least the bench parent's size.
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .expect("VmHWM in /proc/self/status")
}

/// Sequential streams from the stamping server (see [`stamp_server`]): the
/// median time from the first event's write to the socket to its text in
/// the consumer.
fn latency_client(args: &[String]) {
    let scenario = args[0].as_str();
    let url = args[1].clone();
    let n: usize = args[2].parse().expect("n");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut lat: Vec<u64> = rt.block_on(async move {
        let fc = reqwest::Client::builder()
            .tcp_nodelay(true)
            .build()
            .expect("client");
        let m = model(&url);
        let mut v = Vec::new();
        for _ in 0..n {
            let seen = if scenario == "floor" {
                floor_stream(&fc, &url).await
            } else {
                rivulet_stream(&m, 1).await
            };
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

/// The server of the latency figure. It answers each request with the
/// response head, waits 2 ms (so the client is waiting on the body), then
/// writes one event whose text is the CLOCK_MONOTONIC time of the write,
/// and 1 ms later the rest of a stream. Connections are closed after each response,
/// so both clients connect the same way.
async fn stamp_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the stamping server");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let _ = sock.set_nodelay(true);
            tokio::spawn(async move {
                // Read the whole request (head and body), so closing the
                // socket afterwards cannot reset it.
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                let body_len = loop {
                    let Ok(n) = sock.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    req.extend_from_slice(&buf[..n]);
                    if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        break (end + 4 + len).saturating_sub(req.len());
                    }
                };
                let mut left = body_len;
                while left > 0 {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => left = left.saturating_sub(n),
                    }
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
                // The events are testkit's generated stream (the bench's
                // other server), its first chunk's text replaced by the stamp.
                let stamp = Generated {
                    n_chunks: 1,
                    chunk_text: mono_ns().to_string(),
                };
                let first = stamp.event(0).unwrap_or_default();
                let _ = sock.write_all(&first).await;
                // The first token comes alone, as a model's does.
                tokio::time::sleep(Duration::from_millis(1)).await;
                let stream = Generated {
                    n_chunks: 5,
                    chunk_text: CHUNK_TEXT.to_string(),
                };
                let rest: Vec<u8> = (1..).map_while(|i| stream.event(i)).flatten().collect();
                let _ = sock.write_all(&rest).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    url
}

fn raise_fd_limit() {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

// ---------------------------------------------------------------- parent

#[derive(Clone, Copy, Debug, Default)]
struct Figures {
    cpu_us: f64,
    max_rss_kib: f64,
    wall_us: f64,
    first_delta_us: f64,
    deltas: f64,
}

/// Runs a child client and reads its rusage with wait4.
// The child is reaped by wait4 below (std's wait() would not give rusage).
#[allow(clippy::zombie_processes)]
fn run_child(args: &[String]) -> Figures {
    let exe = std::env::current_exe().expect("current exe");
    let child = Command::new(exe)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn client");
    let pid = child.id() as libc::pid_t;
    let mut out = child.stdout.expect("stdout");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut out, &mut text).expect("read client output");
    let mut status = 0;
    // SAFETY: wait4 on our own child, with valid pointers.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::wait4(pid, &mut status, 0, &mut usage);
        usage
    };
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "client {args:?} failed"
    );
    let tv = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    let v: serde_json::Value = serde_json::from_str(text.trim()).expect("client figures");
    Figures {
        cpu_us: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kib: v["peak_rss_kib"].as_f64().unwrap_or(0.0),
        wall_us: v["wall_us"].as_f64().unwrap_or(0.0),
        first_delta_us: v["first_delta_us"].as_f64().unwrap_or(0.0),
        deltas: v["deltas"].as_f64().unwrap_or(0.0),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Medians of `runs` runs of each scenario. The runs go round-robin over
/// the scenarios, so a floor and the rivulet runs it is compared with are
/// measured close together: on a shared machine, a slow minute then skews
/// both sides of a ratio rather than one.
fn measure(runs: usize, scenarios: &[Vec<String>]) -> Vec<Figures> {
    let mut all: Vec<Vec<Figures>> = vec![Vec::new(); scenarios.len()];
    for _ in 0..runs {
        for (i, args) in scenarios.iter().enumerate() {
            all[i].push(run_child(args));
        }
    }
    all.iter()
        .map(|runs| {
            let m = |f: fn(&Figures) -> f64| median(runs.iter().map(f).collect());
            Figures {
                cpu_us: m(|f| f.cpu_us),
                max_rss_kib: m(|f| f.max_rss_kib),
                wall_us: m(|f| f.wall_us),
                first_delta_us: m(|f| f.first_delta_us),
                deltas: m(|f| f.deltas),
            }
        })
        .collect()
}

fn arg(flag: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        Some("__client") => return client(&argv[1..]),
        Some("__latency") => return latency_client(&argv[1..]),
        // For profiling one client alone: `bench __serve N [MS]` prints the
        // URL and serves N-chunk streams, MS milliseconds apart, until killed.
        // `bench __stamp`: the stamping server of the latency figure, alone.
        Some("__stamp") => {
            let rt = tokio::runtime::Runtime::new().expect("runtime");
            println!("{}", rt.block_on(stamp_server()));
            loop {
                std::thread::park();
            }
        }
        Some("__serve") => {
            let n = argv.get(1).and_then(|v| v.parse().ok()).unwrap_or(100_000);
            let pace = argv.get(2).and_then(|v| v.parse().ok()).unwrap_or(0);
            let server = Server::start_blocking(vec![Replay::generated(
                n,
                Duration::from_millis(pace),
                CHUNK_TEXT,
            )]);
            println!("{}", server.url());
            loop {
                std::thread::park();
            }
        }
        _ => {}
    }
    let chunks = arg("--chunks", 100_000);
    let runs = arg("--runs", 5);
    let concurrent = arg("--concurrent", 1_000);
    let concurrent_chunks = arg("--concurrent-chunks", 200);
    let latency_streams = arg("--latency-streams", 200);

    raise_fd_limit();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let fast = rt.block_on(Server::start(vec![Replay::generated(
        chunks,
        Duration::ZERO,
        CHUNK_TEXT,
    )]));
    let paced = rt.block_on(Server::start(vec![Replay::generated(
        concurrent_chunks,
        Duration::from_millis(2),
        CHUNK_TEXT,
    )]));
    let stamped = rt.block_on(stamp_server());

    println!("rivulet bench: {chunks} chunks of {CHUNK_TEXT:?}; {concurrent} streams x {concurrent_chunks} chunks 2 ms apart; medians of {runs} runs");
    let client = |scenario: &str, url: &str, streams: usize, subs: usize| {
        vec![s("__client"), s(scenario), s(url), s(streams), s(subs)]
    };
    let latency =
        |scenario: &str| vec![s("__latency"), s(scenario), s(&stamped), s(latency_streams)];
    let figures = measure(
        runs,
        &[
            client("floor", &fast.url(), 1, 1),
            client("rivulet", &fast.url(), 1, 1),
            client("rivulet", &fast.url(), 1, 8),
            client("floor", &paced.url(), concurrent, 1),
            client("rivulet", &paced.url(), concurrent, 1),
            client("rivulet", &paced.url(), 1, 1),
            latency("floor"),
            latency("rivulet"),
        ],
    );
    let [floor, riv1, riv8, floor_c, riv_c, riv_c1, lat_floor, lat_riv] = figures[..] else {
        unreachable!("one figure per scenario")
    };

    let per_chunk = |f: &Figures| f.cpu_us / f.deltas.max(1.0);
    let row = |name: &str, f: &Figures, floor: &Figures| {
        println!(
            "{name:<34} {:>8.2} µs/chunk ({:>5.2}x)  wall {:>8.1} ms  peak RSS {:>8.1} MiB ({:>5.2}x)",
            per_chunk(f),
            per_chunk(f) / per_chunk(floor),
            f.wall_us / 1e3,
            f.max_rss_kib / 1024.0,
            f.max_rss_kib / floor.max_rss_kib,
        )
    };
    println!("\none stream of {chunks} chunks");
    row("floor (reqwest+eventsource+serde)", &floor, &floor);
    row("rivulet, 1 subscriber", &riv1, &floor);
    row("rivulet, 8 subscribers", &riv8, &floor);
    println!("\n{concurrent} concurrent streams x {concurrent_chunks} chunks, 2 ms apart");
    row("floor", &floor_c, &floor_c);
    row("rivulet, 1 subscriber", &riv_c, &floor_c);
    let per_stream_kib = (riv_c.max_rss_kib - riv_c1.max_rss_kib) / (concurrent.max(2) - 1) as f64;
    println!(
        "{:<34} {per_stream_kib:>8.1} KiB per stream above a 1-stream process",
        "rivulet memory"
    );
    let lat_over = lat_riv.first_delta_us - lat_floor.first_delta_us;
    println!(
        "\nfirst text delta, from its write to the socket to the consumer, median of {latency_streams} sequential streams:\n  floor {:.1} µs, rivulet {:.1} µs ({lat_over:+.1} µs)",
        lat_floor.first_delta_us, lat_riv.first_delta_us
    );

    let check =
        |ok: bool, what: String| println!("  [{}] {what}", if ok { "met" } else { "NOT MET" });
    println!("\ntargets");
    let r1 = per_chunk(&riv1) / per_chunk(&floor);
    check(
        r1 <= 1.25,
        format!("1 subscriber, one stream: {r1:.2}x <= 1.25x the floor's CPU per chunk"),
    );
    let rc = per_chunk(&riv_c) / per_chunk(&floor_c);
    check(
        rc <= 1.25,
        format!("1 subscriber, concurrent: {rc:.2}x <= 1.25x"),
    );
    let r8 = per_chunk(&riv8) / per_chunk(&floor);
    check(r8 <= 1.6, format!("8 subscribers: {r8:.2}x <= 1.6x"));
    check(
        per_stream_kib <= 48.0,
        format!("1,000 streams: {per_stream_kib:.1} KiB <= 48 KiB per stream"),
    );
    let rm = riv1.max_rss_kib / floor.max_rss_kib;
    check(
        rm <= 3.0,
        format!(
            "{chunks}-chunk stream with its replay log: {rm:.2}x <= 3x the floor's peak memory"
        ),
    );
    check(
        lat_over <= 50.0,
        format!("first delta: {lat_over:+.1} µs <= +50 µs next to the floor"),
    );
}
