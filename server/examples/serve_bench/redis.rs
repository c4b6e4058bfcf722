//! `serve_bench --only redis`: the targets of issue 13, for `rivulet serve
//! --redis`. A redis-server of the bench's own (testkit's `RedisServer`,
//! started afresh for every run) and the real `rivulet serve` binary as
//! nodes A and B (`--redis URL --node-id a|b`), the provider testkit's
//! stamping server (real-shaped OpenAI chunks, one event per write).
//!
//! 1. cross-node delivery: `--latency-streams` (100) streams at once on A,
//!    `--latency-chunks` (50) chunks 2 ms apart after a 100 ms lead,
//!    `--latency-rounds` (5) in a row; each stream has one SSE client on A
//!    (same node) and one on B (through Redis: `XREAD BLOCK`). The figure
//!    is the journey of each stream's *first content chunk* (the provider
//!    writes its time into it), per stream and per client.
//! 2. mirroring cost: 100 streams × `--cpu-chunks` (200) chunks 2 ms
//!    apart, `--cpu-rounds` (5) in a row, one SSE client each on A, with
//!    and without `--redis`:
//!    A's CPU (`/proc/PID/stat`) per chunk and the ratio, taken within a
//!    run. Then a busy stream (`--busy-chunks`, 10,000, sent as fast as
//!    the socket takes them) on A: the `rivulet_redis_round_trips_total`
//!    and `rivulet_redis_chunks_mirrored_total` of A's `/metrics` over it.
//! 3. memory: `--memory-streams` (500) streams running on A at once (a
//!    chunk every 200 ms, no client), with and without `--redis`: A's
//!    VmRSS with them minus before them, per stream, and the same of its
//!    heap in use (`/metrics`' `rivulet_heap_in_use_bytes`, glibc's count
//!    of bytes allocated and not freed); the differences. The target is
//!    judged on the heap: VmRSS also moves with how glibc's arenas grew,
//!    by up to 8 KiB per stream between runs of one build.

use super::*;
use rivulet_testkit::RedisServer;

/// Before the first content chunk of a cross-node stream: time for the
/// `POST` (which waits for the stream's registration in Redis) and both
/// clients' attach on a loaded machine, so that the figure is one of
/// delivery, not of attaching late.
const XNODE_LEAD: Duration = Duration::from_millis(100);

/// Between two chunks of a stream of the memory scenario: running, but
/// slowly, so that the figure is one of streams held, not of traffic.
const SLOW_PACE: Duration = Duration::from_millis(200);

/// After the last of the memory scenario's streams started, before VmRSS
/// is read: each has had a few chunks mirrored by then.
const MEMORY_SETTLE: Duration = Duration::from_secs(1);

/// A node's pipelines to Redis so far (`/metrics`).
const TRIPS: &str = "rivulet_redis_round_trips_total";
/// A node's chunks written to Redis so far (`/metrics`).
const MIRRORED: &str = "rivulet_redis_chunks_mirrored_total";
/// A node's bytes allocated and not freed (`/metrics`, glibc).
const HEAP: &str = "rivulet_heap_in_use_bytes";

/// `--redis URL --node-id NAME` for a node, or nothing without Redis.
fn node_args(redis: Option<&RedisServer>, name: &str) -> Vec<String> {
    redis.map_or_else(Vec::new, |r| {
        vec![s("--redis"), r.url(), s("--node-id"), s(name)]
    })
}

/// The cross-node scenario's client: `SLOTS` streams at once on A, each
/// followed on A and on B, slot `i` starting `i × STAGGER_US` in.
/// `__xnode A B SLOTS ROUNDS CHUNKS STAGGER_US`; prints the first chunk's
/// journey to each client, ns.
pub fn xnode_client(args: &[String]) {
    let (a, b) = (args[0].clone(), args[1].clone());
    let n = |i: usize| -> usize { args[i].parse().expect("a number") };
    let (slots, rounds, chunks, stagger) = (n(2), n(3), n(4), n(5) as u64);
    raise_fd_limit();
    let rest = Arc::new(text_after_stamp(chunks));
    let samples = staggered(slots, rounds, stagger, move || {
        let (a, b, rest) = (a.clone(), b.clone(), rest.clone());
        async move {
            let path = start_stream(&a).await;
            let ((same, at_a), (cross, at_b)) = tokio::join!(follow(&a, &path), follow(&b, &path));
            let stamp: u64 = same.first.as_ref().map_or(0, |f| f.0.parse().unwrap_or(0));
            (
                latency(&same, chunks, &rest),
                latency(&cross, chunks, &rest),
                at_a.max(at_b) > stamp,
            )
        }
    });
    let same: Vec<u64> = samples.iter().map(|s| s.0).collect();
    let cross: Vec<u64> = samples.iter().map(|s| s.1).collect();
    let late = samples.iter().filter(|s| s.2).count();
    println!(
        "{}",
        serde_json::json!({"same_ns": same, "cross_ns": cross, "late": late})
    );
}

/// A series of a node's `/metrics`.
async fn metric(addr: &str, name: &str) -> f64 {
    let r = send(addr, "GET", "/metrics", "")
        .await
        .expect("GET /metrics");
    let body = String::from_utf8(r.body().await.expect("/metrics body")).expect("UTF-8");
    body.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics"))
}

/// The scenarios, in the order each run takes them.
#[derive(Clone, Copy, PartialEq)]
enum Sc {
    CrossNode,
    CpuPlain,
    CpuRedis,
    Busy,
    MemoryPlain,
    MemoryRedis,
}

const ALL: [Sc; 6] = [
    Sc::CrossNode,
    Sc::CpuPlain,
    Sc::CpuRedis,
    Sc::Busy,
    Sc::MemoryPlain,
    Sc::MemoryRedis,
];

/// One run of one scenario.
#[derive(Clone, Debug, Default)]
struct Run {
    /// Cross-node: first-chunk journeys to the client on A and on B, ns.
    same: Vec<u64>,
    cross: Vec<u64>,
    late: usize,
    /// A's CPU over the phase, µs, and the content chunks in it.
    cpu_us: f64,
    chunks: f64,
    /// Busy stream (and CPU with Redis): A's round trips and chunks
    /// mirrored over it.
    round_trips: f64,
    mirrored: f64,
    /// Memory: A's VmRSS growth per stream, KiB.
    kib_per_stream: f64,
    /// Memory: A's heap in use (`rivulet_heap_in_use_bytes`), its growth
    /// per stream, KiB.
    heap_kib_per_stream: f64,
}

/// `serve_bench --only redis`.
pub fn bench(rivulet: &str) {
    let runs = arg("--runs", 3).max(1);
    let streams = arg("--latency-streams", 100).max(1);
    let rounds = arg("--latency-rounds", 5).max(1);
    let lat_chunks = arg("--latency-chunks", 50).max(2);
    let cpu_chunks = arg("--cpu-chunks", 200).max(2);
    let cpu_rounds = arg("--cpu-rounds", 5).max(1);
    let busy_chunks = arg("--busy-chunks", 10_000).max(1);
    let mem_streams = arg("--memory-streams", 500).max(1);
    raise_fd_limit();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let paced = |chunks: usize, lead: Duration, pace: Option<Duration>, stamp: bool| {
        rt.block_on(stamp_server(Stamping {
            chunks,
            lead,
            pace,
            stamp,
            gate: None,
        }))
        .url
    };
    let stamped = paced(lat_chunks, XNODE_LEAD, Some(PACE), true);
    let cpu_provider = paced(cpu_chunks, LEAD, Some(PACE), true);
    let busy = paced(busy_chunks, LEAD, None, false);
    let slow = paced(100_000, Duration::ZERO, Some(SLOW_PACE), false);
    let stagger = |lead: Duration, chunks: usize| {
        (lead + PACE * (chunks as u32 + 2)).as_micros() as usize / streams
    };
    let max_streams = 2 * streams.max(mem_streams);

    eprintln!(
        "rivulet serve --redis bench ({rivulet}): medians of {runs} runs; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let load_before = load_average();
    let ran = bench::round_robin(runs, ALL.len(), |i| {
        let sc = ALL[i];
        let redis = matches!(
            sc,
            Sc::CrossNode | Sc::CpuRedis | Sc::Busy | Sc::MemoryRedis
        )
        .then(RedisServer::start);
        let provider = match sc {
            Sc::CrossNode => &stamped,
            Sc::CpuPlain | Sc::CpuRedis => &cpu_provider,
            Sc::Busy => &busy,
            Sc::MemoryPlain | Sc::MemoryRedis => &slow,
        };
        let a = Serve::start_with(
            rivulet,
            provider,
            max_streams,
            256,
            &node_args(redis.as_ref(), "a"),
        );
        let run = match sc {
            Sc::CrossNode => {
                let b = Serve::start_with(
                    rivulet,
                    provider,
                    max_streams,
                    256,
                    &node_args(redis.as_ref(), "b"),
                );
                let out = bench::run_child(&[
                    s("__xnode"),
                    a.addr.clone(),
                    b.addr.clone(),
                    s(streams),
                    s(rounds),
                    s(lat_chunks),
                    s(stagger(XNODE_LEAD, lat_chunks)),
                ]);
                b.stop();
                Run {
                    same: u64s(&out.output["same_ns"]),
                    cross: u64s(&out.output["cross_ns"]),
                    late: out.output["late"].as_u64().unwrap_or(0) as usize,
                    ..Run::default()
                }
            }
            Sc::CpuPlain | Sc::CpuRedis => {
                // With Redis, its counters too (read before the CPU, so
                // the scrape is outside the phase): how the mirror batches
                // chunks that come 2 ms apart.
                let counters = || {
                    (sc == Sc::CpuRedis).then(|| {
                        rt.block_on(async {
                            (
                                metric(&a.addr, TRIPS).await,
                                metric(&a.addr, MIRRORED).await,
                            )
                        })
                    })
                };
                let c0 = counters();
                let before = a.cpu_us();
                bench::run_child(&[
                    s("__latency"),
                    s("sse"),
                    a.addr.clone(),
                    s(streams),
                    s(cpu_rounds),
                    s(cpu_chunks),
                    s(stagger(LEAD, cpu_chunks)),
                ]);
                std::thread::sleep(SETTLE);
                let after = a.cpu_us();
                let (round_trips, mirrored) = match (c0, counters()) {
                    (Some(c0), Some(c1)) => (c1.0 - c0.0, c1.1 - c0.1),
                    _ => (0.0, 0.0),
                };
                Run {
                    cpu_us: (after.0 + after.1) - (before.0 + before.1),
                    chunks: (streams * cpu_rounds * cpu_chunks) as f64,
                    round_trips,
                    mirrored,
                    ..Run::default()
                }
            }
            Sc::Busy => rt.block_on(async {
                let (trips, mirrored) = (TRIPS, MIRRORED);
                let (t0, m0) = (
                    metric(&a.addr, trips).await,
                    metric(&a.addr, mirrored).await,
                );
                let path = start_stream(&a.addr).await;
                let (seen, _) = follow(&a.addr, &path).await;
                assert_eq!(seen.deltas, busy_chunks as u64, "busy stream deltas");
                // The mirror may still be behind the local log: wait for
                // it to catch up (the stream's chunks, its role and end).
                let deadline = Instant::now() + Duration::from_secs(10);
                while metric(&a.addr, mirrored).await - m0 < busy_chunks as f64
                    && Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                tokio::time::sleep(SETTLE).await;
                Run {
                    round_trips: metric(&a.addr, trips).await - t0,
                    mirrored: metric(&a.addr, mirrored).await - m0,
                    ..Run::default()
                }
            }),
            Sc::MemoryPlain | Sc::MemoryRedis => {
                std::thread::sleep(SETTLE);
                let before = a.rss_kib();
                let heap_before = rt.block_on(metric(&a.addr, HEAP));
                rt.block_on(async {
                    let started: Vec<_> = (0..mem_streams)
                        .map(|_| {
                            let addr = a.addr.clone();
                            tokio::spawn(async move { start_stream(&addr).await })
                        })
                        .collect();
                    for t in started {
                        t.await.expect("POST");
                    }
                });
                std::thread::sleep(MEMORY_SETTLE);
                let with = a.rss_kib();
                let heap_with = rt.block_on(metric(&a.addr, HEAP));
                Run {
                    kib_per_stream: (with - before) / mem_streams as f64,
                    heap_kib_per_stream: (heap_with - heap_before) / 1024.0 / mem_streams as f64,
                    ..Run::default()
                }
            }
        };
        a.stop();
        drop(redis);
        run
    });
    let load_after = load_average();
    let of = |sc: Sc| &ran[ALL.iter().position(|x| *x == sc).expect("scenario")];

    let xn = of(Sc::CrossNode);
    let same_p50 = Stat::of(xn.iter().map(|r| pct(&r.same, 50.0)).collect());
    let same_p99 = Stat::of(xn.iter().map(|r| pct(&r.same, 99.0)).collect());
    let cross_p50 = Stat::of(xn.iter().map(|r| pct(&r.cross, 50.0)).collect());
    let cross_p99 = Stat::of(xn.iter().map(|r| pct(&r.cross, 99.0)).collect());
    let diff_p99 = Stat::of(
        xn.iter()
            .map(|r| (pct(&r.cross, 99.0) - pct(&r.same, 99.0)) / 1e3)
            .collect(),
    );
    let late: usize = xn.iter().map(|r| r.late).sum();
    let per_chunk = |sc: Sc| -> Vec<f64> { of(sc).iter().map(|r| r.cpu_us / r.chunks).collect() };
    let (plain, mirrored) = (per_chunk(Sc::CpuPlain), per_chunk(Sc::CpuRedis));
    let ratio = Stat::of(plain.iter().zip(&mirrored).map(|(p, m)| m / p).collect());
    let cpu_plain_total = Stat::of(of(Sc::CpuPlain).iter().map(|r| r.cpu_us).collect());
    let busy_runs = of(Sc::Busy);
    let trips32 = Stat::of(
        busy_runs
            .iter()
            .map(|r| r.round_trips * 32.0 / r.mirrored)
            .collect(),
    );
    let per_trip = Stat::of(
        busy_runs
            .iter()
            .map(|r| r.mirrored / r.round_trips)
            .collect(),
    );
    let mem = |sc: Sc, g: fn(&Run) -> f64| -> Vec<f64> { of(sc).iter().map(g).collect() };
    let (mem_plain, mem_redis) = (
        mem(Sc::MemoryPlain, |r| r.kib_per_stream),
        mem(Sc::MemoryRedis, |r| r.kib_per_stream),
    );
    let (heap_plain, heap_redis) = (
        mem(Sc::MemoryPlain, |r| r.heap_kib_per_stream),
        mem(Sc::MemoryRedis, |r| r.heap_kib_per_stream),
    );
    let beyond = |with: &[f64], without: &[f64]| {
        Stat::of(with.iter().zip(without).map(|(r, p)| r - p).collect())
    };
    let mem_diff = beyond(&mem_redis, &mem_plain);
    let heap_diff = beyond(&heap_redis, &heap_plain);

    let mut out = String::new();
    let _ = writeln!(
        out,
        "cross-node delivery ({streams} streams at once on A, {rounds} rounds, {lat_chunks} chunks 2 ms apart; the first content chunk, provider write → SSE client, ms):"
    );
    let ms = |st: Stat| Stat {
        median: st.median / 1e3,
        min: st.min / 1e3,
        max: st.max / 1e3,
    };
    let _ = writeln!(
        out,
        "  same node (client on A):  p50 {}  p99 {}",
        ms(same_p50).show(2, " ms"),
        ms(same_p99).show(2, " ms")
    );
    let _ = writeln!(
        out,
        "  cross node (client on B): p50 {}  p99 {}",
        ms(cross_p50).show(2, " ms"),
        ms(cross_p99).show(2, " ms")
    );
    if late > 0 {
        let _ = writeln!(
            out,
            "  ({late} streams had a client attach after their first chunk was written)"
        );
    }
    let _ = writeln!(
        out,
        "mirroring cost ({streams} streams × {cpu_chunks} chunks 2 ms apart, {cpu_rounds} rounds, one SSE client each on A; A's CPU per chunk):"
    );
    let _ = writeln!(
        out,
        "  without --redis: {}   with: {}{}",
        Stat::of(plain.clone()).show(1, " µs"),
        Stat::of(mirrored.clone()).show(1, " µs"),
        coarse(cpu_plain_total)
    );
    let paced_per_trip = Stat::of(
        of(Sc::CpuRedis)
            .iter()
            .map(|r| r.mirrored / r.round_trips)
            .collect(),
    );
    let _ = writeln!(
        out,
        "  with --redis, chunks 2 ms apart: {} chunks per round trip",
        paced_per_trip.show(2, "")
    );
    let _ = writeln!(
        out,
        "busy stream ({} chunks at once): {} chunks per round trip",
        thousands(busy_chunks),
        per_trip.show(0, "")
    );
    let _ = writeln!(
        out,
        "memory ({mem_streams} running streams on A; VmRSS growth per stream): without --redis {}   with {}: {} beyond",
        Stat::of(mem_plain).show(1, " KiB"),
        Stat::of(mem_redis).show(1, " KiB"),
        mem_diff.show(1, " KiB"),
    );
    let _ = writeln!(
        out,
        "heap in use (the same; rivulet_heap_in_use_bytes growth per stream): without --redis {}   with {}",
        Stat::of(heap_plain).show(1, " KiB"),
        Stat::of(heap_redis).show(1, " KiB")
    );
    let _ = writeln!(
        out,
        "load average (1 min): {load_before:.2} before, {load_after:.2} after"
    );
    let _ = writeln!(out, "targets (issue 13), on the medians of {runs} runs:");
    let _ = writeln!(
        out,
        "  {}",
        diff_p99.judge("cross-node p99 above same-node", 5.0, " ms", 2)
    );
    let _ = writeln!(
        out,
        "  {}",
        ratio.judge("CPU per chunk, with --redis over without", 1.5, "×", 2)
    );
    let _ = writeln!(
        out,
        "  {}",
        trips32.judge(
            "Redis round trips per 32 chunks of a busy stream",
            1.0,
            "",
            2
        )
    );
    let _ = writeln!(
        out,
        "  {}",
        heap_diff.judge(
            "memory (heap in use) per mirrored stream beyond unmirrored",
            8.0,
            " KiB",
            1
        )
    );
    print!("{out}");
}
