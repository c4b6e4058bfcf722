//! Ten thousand streams in a row leave no actor, task or socket behind, and
//! memory stays flat. Its own test binary, so the runtime's counters see
//! only these streams.

use std::time::{Duration, Instant};

use rivulet::{Model, Runtime, RuntimeConfig};
use rivulet_testkit::{wire, Replay, Server};

fn model(server: &Server) -> Model {
    Model::new("openai/gen")
        .base_url(format!("{}/v1", server.url()))
        .api_key("sk-test")
        .retries(0)
}

fn rss_kib() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4
}

#[test]
fn ten_thousand_streams_leave_nothing_behind() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(Server::start(vec![Replay::sse(wire(
        "openai-chat/text_include_usage.sse",
    ))]));
    let runtime = Runtime::new(RuntimeConfig::default());
    let m = model(&server).runtime(runtime.clone());
    let mut baseline = 0;
    for i in 0..10_000 {
        let r = m.call_blocking("go").unwrap();
        assert_eq!(r.text(), "4200 + 42 equals 4242.");
        if i % 1_000 == 0 {
            server.forget_requests();
        }
        if i == 2_000 {
            baseline = rss_kib();
        }
    }
    let grown = rss_kib().saturating_sub(baseline);
    assert!(
        grown < 8 * 1024,
        "RSS grew {grown} KiB between stream 2,000 and 10,000"
    );
    // Counted, not assumed: the runtime's actors and tasks, the server's sockets.
    let deadline = Instant::now() + Duration::from_secs(5);
    while (runtime.stats().live_actors > 0 || server.open_connections() > 0)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let stats = runtime.stats();
    assert_eq!(
        (stats.live_streams, stats.live_actors, stats.live_tasks),
        (0, 0, 0)
    );
    assert_eq!(server.connections(), 10_000);
    assert_eq!(server.open_connections(), 0);
    runtime.shutdown();
}
