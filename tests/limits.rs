//! Per-provider limits on a runtime of the test's own (so no other test
//! shares them), against loopback servers that count connections.

use std::time::{Duration, Instant};

use rivulet::{ErrorKind, Model, Runtime, RuntimeConfig, TimeoutKind};
use rivulet_testkit::{wire, Generated, Replay, Server};

fn model(server: &Server, rt: &Runtime, name: &str) -> Model {
    Model::new(&format!("openai/{name}"))
        .base_url(format!("{}/v1", server.url()))
        .api_key("sk-test")
        .retries(0)
        .runtime(rt.clone())
}

/// A server answering every connection with `chunks` generated chunks,
/// `delay` apart.
async fn generated(chunks: usize, delay_ms: u64) -> Server {
    Server::start(vec![Replay::generated(
        chunks,
        Duration::from_millis(delay_ms),
        "abcd",
    )])
    .await
}

/// A server answering its first connection 429 with `retry_after`, the
/// others with the recorded text stream.
async fn rate_limited(retry_after: &str) -> Server {
    Server::start(vec![
        Replay::new(429, "").header("retry-after", retry_after),
        Replay::sse(wire("openai-chat/text_include_usage.sse")),
    ])
    .await
}

/// Waits (up to 5 s) until `check` holds.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// 20 streams against a limit of 4: the server never has more than 4
/// connections in use at once, 16 streams wait at first, and all 20
/// finish with the whole text.
#[tokio::test(flavor = "multi_thread")]
async fn twenty_streams_never_exceed_a_limit_of_four() {
    let rt = Runtime::new(RuntimeConfig::default());
    rt.limit("openai", Some(4));
    let chunks = 10;
    let server = generated(chunks, 20).await;
    let responses: Vec<_> = (0..20)
        .map(|_| model(&server, &rt, "gen").stream("q"))
        .collect();
    eventually("16 streams waiting, 4 in flight", || {
        let s = rt.limit_stats("openai");
        (s.in_flight, s.waiting) == (4, 16)
    })
    .await;
    assert_eq!(rt.limit_stats("openai").limit, Some(4));
    let want = Generated::new(chunks, "abcd").text();
    for r in &responses {
        assert_eq!(
            r.finish().await.expect("every stream finishes").text(),
            want
        );
    }
    assert_eq!(server.connections(), 20);
    assert_eq!(server.max_active_connections(), 4);
    let s = rt.limit_stats("openai");
    assert_eq!((s.in_flight, s.waiting), (0, 0));
    rt.shutdown();
}

/// The control for the test above: without a limit the same 20 streams
/// use more than 4 connections at once, so the count above is the
/// limit's doing.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_limit_the_streams_overlap() {
    let rt = Runtime::new(RuntimeConfig::default());
    let server = generated(10, 20).await;
    let responses: Vec<_> = (0..20)
        .map(|_| model(&server, &rt, "gen").stream("q"))
        .collect();
    for r in &responses {
        r.finish().await.expect("every stream finishes");
    }
    assert!(server.max_active_connections() > 4);
    rt.shutdown();
}

/// Waiting for a slot is part of connecting: with the only slot held by
/// a long stream, a stream with a 300 ms connect timeout fails with a
/// connect timeout, never having opened a connection.
#[tokio::test(flavor = "multi_thread")]
async fn waiting_for_a_slot_counts_against_the_connect_timeout() {
    let rt = Runtime::new(RuntimeConfig::default());
    rt.limit("openai", Some(1));
    let server = generated(1000, 10).await;
    let long = model(&server, &rt, "gen").stream("q");
    eventually("the long stream holds the slot", || {
        rt.limit_stats("openai").in_flight == 1
    })
    .await;
    let started = Instant::now();
    let err = model(&server, &rt, "gen")
        .connect_timeout(Duration::from_millis(300))
        .call("q")
        .await
        .expect_err("no slot within the connect timeout");
    let waited = started.elapsed();
    assert!(
        matches!(
            err,
            rivulet::Error::Timeout {
                which: TimeoutKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(waited >= Duration::from_millis(300), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    assert_eq!(server.connections(), 1);
    assert_eq!(rt.limit_stats("openai").waiting, 0);
    long.cancel();
    rt.shutdown();
}

/// A limit on one model leaves the provider's other models alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_model_limit() {
    let rt = Runtime::new(RuntimeConfig::default());
    rt.limit_model("openai", "slow", Some(1));
    let server = generated(20, 20).await;
    let slow: Vec<_> = (0..3)
        .map(|_| model(&server, &rt, "slow").stream("q"))
        .collect();
    let other: Vec<_> = (0..3)
        .map(|_| model(&server, &rt, "other").stream("q"))
        .collect();
    eventually("two of the model's streams wait, the others run", || {
        let m = rt.model_limit_stats("openai", "slow");
        let p = rt.limit_stats("openai");
        (m.in_flight, m.waiting, p.in_flight) == (1, 2, 4)
    })
    .await;
    for r in slow.iter().chain(&other) {
        r.finish().await.expect("every stream finishes");
    }
    rt.shutdown();
}

/// A 429 with `Retry-After: 2` pauses every new stream to the provider
/// for 2 s, not just the stream that got it: the two streams started
/// during the pause connect only after it, and wait meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn a_429_with_retry_after_pauses_the_others() {
    let rt = Runtime::new(RuntimeConfig::default());
    let server = rate_limited("2").await;
    let first = model(&server, &rt, "gpt-4o").retries(1).stream("q");
    eventually("the 429 pauses the provider", || {
        rt.limit_stats("openai").paused_for.is_some()
    })
    .await;
    let others: Vec<_> = (0..2)
        .map(|_| model(&server, &rt, "gpt-4o").stream("q"))
        .collect();
    eventually("the new streams wait", || {
        rt.limit_stats("openai").waiting >= 2
    })
    .await;
    assert_eq!(server.connections(), 1, "nothing connects during the pause");
    for r in std::iter::once(&first).chain(&others) {
        let done = r.finish().await.expect("answers after the pause");
        assert_eq!(done.text(), "4200 + 42 equals 4242.");
    }
    assert_eq!(server.connections(), 4);
    let rate_limited = server.accepted_at(0).unwrap();
    for conn in 1..4 {
        let at = server.accepted_at(conn).unwrap();
        let after = at.duration_since(rate_limited);
        assert!(
            after >= Duration::from_millis(1900),
            "conn {conn}: {after:?}"
        );
    }
    assert_eq!(rt.limit_stats("openai").paused_for, None);
    rt.shutdown();
}

/// A pause the stream would not wait for itself (beyond its
/// `max_retry_wait`) is not imposed on the others: the stream fails with
/// the 429 and the next one connects at once.
#[tokio::test(flavor = "multi_thread")]
async fn a_pause_longer_than_max_retry_wait_is_not_shared() {
    let rt = Runtime::new(RuntimeConfig::default());
    let server = rate_limited("3600").await;
    let err = model(&server, &rt, "gpt-4o")
        .retries(1)
        .call("q")
        .await
        .expect_err("an hour is too long");
    assert_eq!(err.kind(), ErrorKind::RateLimit);
    assert_eq!(rt.limit_stats("openai").paused_for, None);
    let started = Instant::now();
    model(&server, &rt, "gpt-4o")
        .call("q")
        .await
        .expect("not paused");
    assert!(started.elapsed() < Duration::from_secs(2));
    rt.shutdown();
}
