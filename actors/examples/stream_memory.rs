//! Where a paced stream's bytes go in the actors' runtime, with a counting
//! allocator: `STREAMS` streams of `CHUNKS` text deltas (4 bytes each,
//! 2 ms apart, as the bench program's paced scenario), each read by one
//! async subscription, and the live heap bytes per stream measured at
//! three moments: just started, half-way, and all chunks in (before the
//! end). First, what each part of a stream takes before it opens.
//!
//! ```text
//! cargo run --release -p rivulet-actors --example stream_memory -- 500 200
//! ```
//!
//! Only the actors' share is here (no HTTP, no decoder): the provider
//! yields ready-made chunks. At the end it prints the process's context
//! switches per chunk (from `/proc/self/task/*/status`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use rivulet_actors::{Event, Policy, Runtime, RuntimeConfig, StreamHandle, StreamOptions};
use rivulet_core::{Chunk, ChunkStream, OpenFuture, Provider, Request};

/// Counts the bytes live on the heap.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's contract, forwarded.
        unsafe { System.realloc(ptr, layout, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// `n` text deltas of 4 bytes, `pace` apart, between a start and an end.
struct Paced {
    n: usize,
    pace: Duration,
}

impl Provider for Paced {
    fn id(&self) -> &str {
        "paced"
    }

    fn open(&self, _: &Request) -> OpenFuture {
        let (n, pace) = (self.n, self.pace);
        let chunks: ChunkStream = Box::pin(futures::stream::unfold(0, move |i| async move {
            if i > n + 1 {
                return None;
            }
            let chunk = match i {
                0 => Chunk::text_start(0),
                i if i == n + 1 => Chunk::text_end(0),
                i => {
                    tokio::time::sleep(pace).await;
                    Chunk::text(0, format!("{:04}", i % 10_000))
                }
            };
            Some((Ok(chunk), i + 1))
        }));
        Box::pin(async move { Ok(chunks) })
    }
}

/// The context switches of every thread of this process so far: those
/// still running, and those that ended, as the process's own counts.
fn context_switches() -> (u64, u64) {
    let count = |status: &str, key: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    let mut total = (0, 0);
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    for task in tasks.flatten() {
        let status = std::fs::read_to_string(task.path().join("status")).unwrap_or_default();
        let (v, n) = (
            count(&status, "voluntary_ctxt_switches:"),
            count(&status, "nonvoluntary_ctxt_switches:"),
        );
        let name = status.lines().next().unwrap_or_default();
        println!("  {name:<30} {v:>7} + {n:>7}");
        total.0 += v;
        total.1 += n;
    }
    total
}

/// A provider whose stream never opens.
struct Never;

impl Provider for Never {
    fn id(&self) -> &str {
        "never"
    }

    fn open(&self, _: &Request) -> OpenFuture {
        Box::pin(futures::future::pending())
    }
}

/// Starts `n` streams of `provider`.
fn start(rt: &Runtime, provider: Arc<dyn Provider>, n: usize) -> Vec<StreamHandle> {
    (0..n)
        .map(|_| {
            rt.start(
                provider.clone(),
                Request::default(),
                StreamOptions::default(),
            )
        })
        .collect()
}

/// The bytes per stream of each part of a stream that has not opened yet.
fn stages(rt: &Runtime, consumers: &tokio::runtime::Runtime, streams: usize) {
    let settle = || std::thread::sleep(Duration::from_millis(50));
    let mut at = live();
    let mut step = |what: &str| {
        settle();
        let now = live();
        println!(
            "{what:<40} {:>6.0} B per stream",
            (now - at) as f64 / streams as f64
        );
        at = now;
    };
    let handles = start(rt, Arc::new(Never), streams);
    step("started (provider actor, parked followers, shared state, handle)");
    let subs: Vec<_> = handles
        .iter()
        .map(|h| h.subscribe(Policy::default()))
        .collect();
    step("+ a subscription (its cursor)");
    let tasks: Vec<_> = subs
        .into_iter()
        .map(|mut sub| consumers.spawn(async move { while sub.next().await.is_some() {} }))
        .collect();
    step("+ its consumer task polling it");
    for h in &handles {
        h.cancel();
    }
    consumers.block_on(async {
        for t in tasks {
            let _ = t.await;
        }
    });
    drop(handles);
    rt.wait_idle(Duration::from_secs(10));
    step("all cancelled and dropped");
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let streams = args.first().copied().unwrap_or(500);
    let chunks = args.get(1).copied().unwrap_or(200);
    let pace = Duration::from_millis(2);
    let rt = Runtime::new(RuntimeConfig::default());
    let consumers = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let provider = Arc::new(Paced { n: chunks, pace });

    stages(&rt, &consumers, streams);
    let before = live();
    let per_stream = |at: isize| (at - before) as f64 / streams as f64;
    let handles = start(&rt, provider, streams);
    let tasks: Vec<_> = handles
        .iter()
        .map(|h| {
            let mut sub = h.subscribe(Policy::default());
            consumers.spawn(async move {
                let mut n = 0;
                while let Some(e) = sub.next().await {
                    if matches!(e, Event::Chunk(_)) {
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(20));
    println!("started:   {:.0} B per stream", per_stream(live()));
    let total = pace * chunks as u32;
    std::thread::sleep(total / 2);
    println!("half-way:  {:.0} B per stream", per_stream(live()));
    // Sample until the first stream has every chunk, before any ends.
    let mut peak = 0;
    while handles[0].len() < chunks + 1 {
        peak = peak.max(live());
        std::thread::sleep(Duration::from_millis(1));
    }
    println!(
        "all in:    {:.0} B per stream (peak sampled)",
        per_stream(peak)
    );
    let got: usize = consumers.block_on(async {
        let mut got = 0;
        for t in tasks {
            got += t.await.expect("consumer");
        }
        got
    });
    assert_eq!(got, streams * (chunks + 2));
    let (voluntary, involuntary) = context_switches();
    println!(
        "context switches (voluntary + involuntary, every thread): {voluntary} + {involuntary}, {:.3} per chunk",
        (voluntary + involuntary) as f64 / (streams * chunks) as f64
    );
    drop(handles);
    rt.shutdown();
}
