//! A long-running process plateaus: rounds of hundreds of concurrent
//! streams, each round ending with nothing alive, leave neither heap nor
//! resident memory behind (issue 11, point 8).
//!
//! A binary of its own: its global allocator counts the live heap, and no
//! other test's memory is measured. The replay server runs in a child
//! process (this binary again, see [`replay_server_child`]), so the RSS
//! measured here is the client's alone.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rivulet::actors::RuntimeStats;
use rivulet::{Model, Runtime, RuntimeConfig};
use rivulet_testkit::{wire, Replay, Server, Split};

const ROUNDS: usize = 5;
/// Concurrent streams per round: enough for glibc to keep ~20 MiB after a
/// round without the runtime's trimming, few enough for a debug build.
const STREAMS: usize = 500;
const TEXT: &str = "I'm unable to provide real-time weather updates. To get the current weather in San Francisco, I recommend checking a reliable weather website or a weather app.";
const SERVER_ENV: &str = "RIVULET_PLATEAU_SERVER";
const MIB: usize = 1 << 20;
/// What a trimmed process may hold above where it started; see the test.
const RESIDUE: usize = 6 * MIB;
/// RSS that moves less than this in 50 ms is still (see the loop that
/// waits for the trim).
const STILL: usize = MIB / 8;

/// Live heap bytes: the system allocator, counted.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counter is
// only updated after a successful call.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            LIVE.fetch_add(new_size, Ordering::Relaxed);
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn live_heap() -> usize {
    LIVE.load(Ordering::Relaxed)
}

/// Resident set size in bytes, from /proc/self/statm.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("statm's second field");
    pages * 4096
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / MIB as f64
}

/// The server child; killed (and reaped) when the test ends, even by a panic.
struct ServerChild(Child);

impl Drop for ServerChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts [`replay_server_child`] in a child process; returns it and its URL.
fn start_server_child() -> (ServerChild, String) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut child = ServerChild(
        Command::new(exe)
            .args(["--exact", "replay_server_child", "--ignored", "--nocapture"])
            .env(SERVER_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start the server child"),
    );
    let stdout = child.0.stdout.take().expect("piped stdout");
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.expect("the server child's stdout");
        // libtest may print "test replay_server_child ... " on the same line.
        if let Some(url) = line.split("URL ").nth(1) {
            return (child, url.trim().to_string());
        }
    }
    panic!("the server child ended without printing its URL");
}

/// Not a test: the loopback server of
/// `rounds_of_concurrent_streams_give_their_memory_back`, run by it in a
/// child process. It replays a recorded OpenAI stream line by line, 1 ms
/// apart (so a round's streams are all open at once), prints its URL and
/// serves until its stdin closes. Without [`SERVER_ENV`] it does nothing.
#[test]
#[ignore = "the server half of rounds_of_concurrent_streams_give_their_memory_back"]
fn replay_server_child() {
    if std::env::var_os(SERVER_ENV).is_none() {
        return;
    }
    let server = Server::start_blocking(vec![Replay::sse(wire("openai-chat/text_no_usage.sse"))
        .split(Split::Lines)
        .delay(Duration::from_millis(1))]);
    println!("URL {}", server.url());
    // Until the parent closes our stdin (it ends, or it panicked).
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
}

/// One stream's text: read as it streams (through a subscription) or
/// from the awaited response.
async fn one_stream(model: Model, streamed: bool) -> String {
    if !streamed {
        return model.call("go").await.expect("call").text();
    }
    let response = model.stream("go");
    let mut deltas = response.text_stream("\n");
    let mut text = String::new();
    while let Some(delta) = deltas.next().await {
        text.push_str(&delta.expect("delta"));
    }
    text
}

#[test]
fn rounds_of_concurrent_streams_give_their_memory_back() {
    // No arena beyond those glibc already made: the test measures what the
    // runtime keeps, not how glibc spreads a process over arenas. With its
    // default (up to 8 per core, made when threads contend), an arena made
    // in one round and not the others left that round's RSS about 2.3 MiB
    // higher, and the plateau check below failed, in 3 runs of 17 (1 of
    // 8 on the provider of before session 12). Set here, after the test
    // harness's threads may have made theirs: 12 runs of 12 passed, one
    // with a round 1.1 MiB above the one before, the others within 0.5.
    // SAFETY: mallopt only sets a glibc tunable; no allocation is live
    // across the call that it could affect.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
    let (_server, url) = start_server_child();
    let tokio = tokio::runtime::Runtime::new().expect("tokio runtime");
    let runtime = Runtime::new(RuntimeConfig::default());
    let model = Model::new("openai/gpt-4o")
        .base_url(format!("{url}/v1"))
        .api_key("sk-test")
        .retries(0)
        .runtime(runtime.clone());
    // One stream first: lazily built things (the HTTP client, the TLS
    // configuration) are not the rounds' doing.
    assert_eq!(tokio.block_on(one_stream(model.clone(), true)), TEXT);
    assert!(runtime.wait_idle(Duration::from_secs(10)));
    let rss_start = rss();

    let mut live_after = Vec::new();
    let mut rss_after = Vec::new();
    for round in 0..ROUNDS {
        let started = Instant::now();
        let texts = tokio.block_on(futures::future::join_all(
            (0..STREAMS).map(|i| one_stream(model.clone(), i < STREAMS / 2)),
        ));
        assert!(texts.iter().all(|t| t == TEXT), "round {round}: {texts:?}");
        drop(texts);
        assert!(
            runtime.wait_idle(Duration::from_secs(10)),
            "round {round}: {:?}",
            runtime.stats()
        );
        assert_eq!(runtime.stats(), RuntimeStats::default());
        let took = started.elapsed();

        // The runtime trims once it has been quiet for a moment: wait for
        // the memory to come back, up to a generous bound.
        let deadline = Instant::now() + Duration::from_secs(10);
        // The bound is what the trim leaves (2.5-4.7 MiB above the start),
        // not what a burst holds before it (15+ MiB): with a looser one the
        // loop could stop before the trim and the rounds would compare a
        // trimmed process with an untrimmed one. What the trim leaves is
        // mostly glibc's per-thread caches (tcache: up to 7 freed chunks of
        // each small size per thread, which `malloc_trim` does not touch
        // and whose pages stay resident): with them off
        // (`GLIBC_TUNABLES=glibc.malloc.tcache_count=0`) 0.5 MiB is left.
        // They fill up over the first rounds, more so since the provider
        // actors run on this test's tokio workers (`Placement::Caller`),
        // and then stop growing.
        //
        // And wait until it holds still: the trim gives the pages back over some
        // milliseconds, and a reading taken while it runs catches RSS on
        // its way down. Taken at the first reading under the bound, a
        // round's figure was such a reading in 24 of 40 rounds, up to
        // 4.1 MiB above where RSS stood a second later, and the plateau
        // check below failed when that round was the last (1 run in 16).
        let mut last = rss();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            let now = rss();
            if now <= rss_start + RESIDUE && now.abs_diff(last) <= STILL {
                break;
            }
            last = now;
        }
        live_after.push(live_heap());
        rss_after.push(rss());
        eprintln!(
            "round {round}: {STREAMS} streams in {took:?}; then RSS {:.1} MiB (start {:.1}), live heap {} KiB",
            mib(rss_after[round]),
            mib(rss_start),
            live_after[round] / 1024,
        );
        assert!(
            rss_after[round] <= rss_start + RESIDUE,
            "round {round}: RSS stayed at {:.1} MiB, {:.1} MiB above the start, 10 s after \
             the last stream ended",
            mib(rss_after[round]),
            mib(rss_after[round] - rss_start),
        );
    }
    // Nothing is kept per stream: the live heap is where the first round
    // (which sized the runtime's and tokio's queues) left it.
    for (round, live) in live_after.iter().enumerate().skip(1) {
        assert!(
            *live <= live_after[0] + 16 * 1024,
            "live heap after each round (bytes): {live_after:?} (round {round})"
        );
    }
    // And the process plateaus.
    assert!(
        rss_after[ROUNDS - 1] <= rss_after[1] + 2 * MIB,
        "RSS after each round (MiB): {:?}",
        rss_after.iter().map(|b| mib(*b)).collect::<Vec<_>>()
    );
    runtime.shutdown();
}
