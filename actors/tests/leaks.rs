//! Many streams in a row leave nothing behind. In a binary of its own, so
//! no other test disturbs the memory measurement.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rivulet_actors::{Event, Outcome, Policy, Runtime, RuntimeConfig, RuntimeStats};

/// Resident set size in bytes, from /proc/self/statm.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[test]
fn ten_thousand_streams_leave_no_actor_task_or_memory_behind() {
    const STREAMS: usize = 10_000;
    let rt = Runtime::new(RuntimeConfig {
        arbiters: 2,
        ..RuntimeConfig::default()
    });
    let started = Instant::now();
    let mut rss_at_2000 = 0;
    for i in 0..STREAMS {
        let provider = ScriptedProvider::new(text_steps(&["a", "b", "c"]));
        let handle = rt.start(provider, request(), opts());
        let events: Vec<Event> = if i % 2 == 0 {
            futures::executor::block_on(collect(handle.subscribe(Policy::default())))
        } else {
            handle
                .blocking()
                .subscribe(Policy::Detached { capacity: 2 })
                .collect()
        };
        assert_eq!(events.len(), 6);
        assert_eq!(end_of(&events), Outcome::Finished);
        assert_eq!(handle.blocking().finish().unwrap().text(), "abc");
        if i + 1 == 2_000 {
            assert!(rt.wait_idle(Duration::from_secs(10)));
            rss_at_2000 = rss();
        }
    }
    assert!(rt.wait_idle(Duration::from_secs(10)), "{:?}", rt.stats());
    assert_eq!(rt.stats(), RuntimeStats::default());
    let growth = rss().saturating_sub(rss_at_2000);
    eprintln!(
        "{STREAMS} streams in {:?}; RSS grew by {} KiB between stream 2000 and {STREAMS}",
        started.elapsed(),
        growth / 1024
    );
    assert!(growth < 4 << 20, "RSS grew by {growth} bytes");
    rt.shutdown();
}
