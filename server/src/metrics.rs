//! `GET /metrics`: the server's counters in the Prometheus text exposition
//! format (version 0.0.4).
//!
//! Hand-written rather than on `prometheus-client`: six series, one label,
//! plain atomics; the format is a few lines of text and a crate would add a
//! registry and encoder for no gain here.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Time-to-first-chunk bucket bounds, in seconds: a loopback provider
/// answers in milliseconds, a remote one in up to tens of seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// What the server counts over its life.
#[derive(Default)]
pub struct Metrics {
    finished: AtomicU64,
    failed: AtomicU64,
    cancelled: AtomicU64,
    /// Chunks of the streams that ended (a scrape adds the running ones').
    chunks: AtomicU64,
    /// Observations per bucket (not cumulative), the last one `+Inf`.
    first_chunk: [AtomicU64; BUCKETS.len() + 1],
    first_chunk_sum_us: AtomicU64,
}

/// The gauges, read from the registry when scraped.
pub struct Gauges {
    /// Streams started and not yet ended.
    pub in_flight: usize,
    /// SSE clients attached, over every stream.
    pub attachers: usize,
    /// Chunks in the logs of streams not yet counted by [`Metrics::chunks`].
    pub uncounted_chunks: u64,
    /// The process's heap in use, where glibc can tell.
    pub heap_in_use: Option<u64>,
}

impl Metrics {
    /// Counts a stream that ended with `status` (`finished`, `failed` or
    /// `cancelled`).
    pub fn ended(&self, status: &str) {
        let counter = match status {
            "finished" => &self.finished,
            "cancelled" => &self.cancelled,
            _ => &self.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the `n` chunks of an ended stream's log.
    pub fn chunks(&self, n: u64) {
        self.chunks.fetch_add(n, Ordering::Relaxed);
    }

    /// Records the time from a stream's start to its first content chunk.
    pub fn first_chunk(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(BUCKETS.len());
        self.first_chunk[i].fetch_add(1, Ordering::Relaxed);
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.first_chunk_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// The exposition text.
    pub fn render(&self, gauges: Gauges) -> String {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = write!(
            out,
            "# HELP rivulet_streams_in_flight Streams started and not yet ended.\n\
             # TYPE rivulet_streams_in_flight gauge\n\
             rivulet_streams_in_flight {}\n\
             # HELP rivulet_streams_total Streams ended, by outcome.\n\
             # TYPE rivulet_streams_total counter\n\
             rivulet_streams_total{{outcome=\"finished\"}} {}\n\
             rivulet_streams_total{{outcome=\"failed\"}} {}\n\
             rivulet_streams_total{{outcome=\"cancelled\"}} {}\n\
             # HELP rivulet_chunks_total Chunks appended to the streams' logs.\n\
             # TYPE rivulet_chunks_total counter\n\
             rivulet_chunks_total {}\n\
             # HELP rivulet_attachers SSE clients attached to a stream now.\n\
             # TYPE rivulet_attachers gauge\n\
             rivulet_attachers {}\n\
             # HELP rivulet_time_to_first_chunk_seconds From a stream's start to its first content chunk, observed when the stream ends.\n\
             # TYPE rivulet_time_to_first_chunk_seconds histogram\n",
            gauges.in_flight,
            load(&self.finished),
            load(&self.failed),
            load(&self.cancelled),
            load(&self.chunks) + gauges.uncounted_chunks,
            gauges.attachers,
        );
        let mut cumulative = 0;
        for (i, count) in self.first_chunk.iter().enumerate() {
            cumulative += load(count);
            let le = BUCKETS.get(i).map_or("+Inf".to_string(), f64::to_string);
            let _ = writeln!(
                out,
                "rivulet_time_to_first_chunk_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        let sum = load(&self.first_chunk_sum_us) as f64 / 1e6;
        let _ = write!(
            out,
            "rivulet_time_to_first_chunk_seconds_sum {sum}\n\
             rivulet_time_to_first_chunk_seconds_count {cumulative}\n"
        );
        if let Some(bytes) = gauges.heap_in_use {
            let _ = write!(
                out,
                "# HELP rivulet_heap_in_use_bytes Bytes allocated and not freed (glibc's mallinfo2), unlike resident memory not counting what the allocator keeps.\n\
                 # TYPE rivulet_heap_in_use_bytes gauge\n\
                 rivulet_heap_in_use_bytes {bytes}\n"
            );
        }
        out
    }
}
