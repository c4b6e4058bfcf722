//! Counters a node keeps about its mirrors and its connection, for a
//! `/metrics` endpoint.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

/// What [`Node::metrics`](crate::Node::metrics) returns: one reading of the
/// node's counters. Counters only grow; gauges go up and down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Metrics {
    /// Gauge: mirrors running now (registered or trying to).
    pub mirrors_running: u64,
    /// Gauge: chunks in local logs not yet confirmed by Redis, summed over
    /// the running mirrors (as of each mirror's last step).
    pub lag_chunks: u64,
    /// Counter: chunks Redis confirmed.
    pub chunks_mirrored: u64,
    /// Counter: round trips to Redis for the mirrors: each claim, and each
    /// pipeline the node's writer sent with the mirrors' writes of its
    /// round (retries included).
    pub round_trips: u64,
    /// Counter: requests to Redis that failed or timed out (mirrors,
    /// the cancel listener; not followers, whose caller gets the error).
    pub errors: u64,
    /// Counter: times the node's connection was lost and a reconnect began.
    pub reconnects: u64,
    /// Counter: mirrors that gave up (past `max_lag` or `max_outage`).
    pub mirrors_lost: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub mirrors_running: AtomicI64,
    pub lag_chunks: AtomicI64,
    pub chunks_mirrored: AtomicU64,
    pub round_trips: AtomicU64,
    pub errors: AtomicU64,
    pub reconnects: AtomicU64,
    pub mirrors_lost: AtomicU64,
}

impl Counters {
    pub fn read(&self) -> Metrics {
        let gauge = |g: &AtomicI64| g.load(Ordering::Relaxed).max(0) as u64;
        let counter = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Metrics {
            mirrors_running: gauge(&self.mirrors_running),
            lag_chunks: gauge(&self.lag_chunks),
            chunks_mirrored: counter(&self.chunks_mirrored),
            round_trips: counter(&self.round_trips),
            errors: counter(&self.errors),
            reconnects: counter(&self.reconnects),
            mirrors_lost: counter(&self.mirrors_lost),
        }
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// One mirror's counters, shared by its task, its handle and the node's
/// writer, which confirms the mirror's chunks as Redis answers (so that
/// they are right at once, though the task looks at the answer only when
/// it next has work: see `mirror.rs`).
#[derive(Debug, Default)]
pub(crate) struct MirrorCounters {
    /// The claim succeeded (set before the state says so).
    pub registered: AtomicBool,
    /// Chunks Redis has confirmed.
    pub chunks: AtomicU64,
    /// The offset after the last chunk Redis has confirmed.
    pub confirmed: AtomicU64,
    pub round_trips: AtomicU64,
    pub lag: AtomicU64,
}
