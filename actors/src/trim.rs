//! Gives the memory that a burst of streams freed back to the OS once the
//! runtime has gone quiet.
//!
//! Why: glibc's malloc keeps freed memory. Six rounds of 2,000 concurrent
//! streams in one process (a loopback server in another process replaying
//! a recorded OpenAI stream, debug build, one arbiter, glibc 2.36) each
//! ended with zero live streams, actors and tasks, and with the live heap
//! where the first round left it (307 KiB, counted by a counting global
//! allocator: nothing is kept per stream). Yet RSS stayed at 79.0, 83.0,
//! 83.5, 82.2, 82.2 and 86.0 MiB, against 15.4 MiB before the first round
//! (peak 102-108 MiB). `malloc_info` showed why: the arbiter's arena had
//! shrunk from its 91 MiB peak to 57 MiB, 56 MiB of it free in 424 chunks,
//! and a test worker's arena held 11 MiB free. glibc gives back only the
//! top of a heap, and a few small allocations that outlive the burst (the
//! runtime's, tokio's) sit above the freed ones. What was tried, RSS after
//! each round:
//!
//! - `mallopt(M_ARENA_MAX, 1)`: 78.2-87.1 MiB; `(.., 2)`: 79.2-82.8 MiB.
//!   Fewer arenas do not help: the free memory is fragmented inside one;
//! - mimalloc as the global allocator: 64.3-97.6 MiB, jumping between
//!   rounds;
//! - `malloc_trim(0)` once the round has ended: 17.6-18.4 MiB, 2-3 MiB
//!   above the start and flat over the rounds. It took 7-16 ms (2 cores
//!   under load) to release 62 MiB; `mallinfo2` alone takes 0.2 ms.
//!
//! With this module: 17.3-17.9 MiB after each round, against 15.2 MiB
//! before the first (`tests/memory_plateau.rs` runs 500 streams a round:
//! 31.1 MiB without it, 16.6-17.4 with it, against 15.1-15.4).
//!
//! What a trim cannot give back is glibc's per-thread caches (tcache: up to
//! 7 freed chunks of each small size per thread, kept as allocated, so
//! their pages stay resident). Since the provider actors run on the
//! caller's tokio workers (`Placement::Caller`), more threads free chunks
//! and the same test ends each round 2.5-4.7 MiB above its start, rising
//! over the first rounds and then flat; with the caches off
//! (`GLIBC_TUNABLES=glibc.malloc.tcache_count=0`) 0.5 MiB.
//!
//! So the runtime trims, on glibc, [`QUIET`] after its live streams
//! dropped to zero if none is alive then and at least [`MIN_PEAK`] were
//! alive at once since it last trimmed or chose not to. The trim runs on
//! the runtime's system thread, never on an arbiter carrying chunks, and a
//! process that runs a few streams at a time never pays for it (its heap
//! never grew much). A library cannot choose its users' global allocator;
//! with another one (jemalloc, mimalloc) glibc's heap is nearly empty and
//! the trim costs next to nothing.

use std::sync::Arc;
use std::time::Duration;

use actix_rt::ArbiterHandle;

use crate::stats::Counters;

/// How long after its live streams dropped to zero the runtime looks again,
/// and trims if none is alive then: a burst that follows sooner finds the
/// heap as the last one left it, without a round trip to the OS.
pub(crate) const QUIET: Duration = Duration::from_millis(500);

/// How many streams must have been alive at once since the last look for
/// a trim to be worth it. One stream at its peak holds about 45 KiB, so
/// this many grew the heap by about 3 MiB; below that, glibc's own
/// trimming of the heap's top does well enough.
pub(crate) const MIN_PEAK: usize = 64;

/// Starts the task that trims after each burst, on `arbiter` (the
/// runtime's system thread). It ends when that arbiter stops.
pub(crate) fn start(arbiter: &ArbiterHandle, counters: Arc<Counters>) {
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        arbiter.spawn(watch(counters));
    }
}

async fn watch(counters: Arc<Counters>) {
    loop {
        counters.went_idle().await;
        tokio::time::sleep(QUIET).await;
        if counters.snapshot().live_streams > 0 {
            // Busy again: the next drop to zero wakes us. (One that came
            // and went during the sleep left a permit: we look again.)
            continue;
        }
        if counters.take_peak() >= MIN_PEAK {
            release_free_memory();
        }
    }
}

/// Returns the free pages of every malloc arena to the OS.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own free lists, under each
    // arena's lock; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
