//! The runtime over real loopback HTTP: cancellation closes the socket,
//! backpressure reaches TCP, every timeout fires against a stalled server
//! keeping the partial text, and thousands of streams leave nothing behind.

use std::time::{Duration, Instant};

use futures::StreamExt;
use rivulet::Event;
use rivulet::{Chunk, Error, ErrorKind, Model, Policy, TimeoutKind};
use rivulet_testkit::{wire, After, Replay, Server, Split};

fn model(server: &Server) -> Model {
    Model::new("openai/gen")
        .base_url(format!("{}/v1", server.url()))
        .api_key("sk-test")
        .retries(0)
}

/// Reads content chunks until `n` text deltas have arrived.
async fn read_deltas(
    stream: &mut (impl futures::Stream<Item = Result<rivulet::SharedChunk, Error>> + Unpin),
    n: usize,
) {
    let mut seen = 0;
    while seen < n {
        match stream.next().await {
            Some(Ok(c)) if matches!(&*c, Chunk::Text { .. }) => seen += 1,
            Some(Ok(_)) => {}
            other => panic!("stream ended early: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_closes_the_socket_within_100ms() {
    let server = Server::start(vec![Replay::generated(
        100_000,
        Duration::from_millis(5),
        "abcd",
    )])
    .await;
    let response = model(&server).stream("go");
    let mut chunks = response.chunk_stream();
    read_deltas(&mut chunks, 5).await;
    let cancelled_at = Instant::now();
    response.cancel();
    let closed_at = server
        .wait_client_closed(Duration::from_secs(2))
        .await
        .expect("the server never saw the client close");
    let took = closed_at.saturating_duration_since(cancelled_at);
    assert!(
        took < Duration::from_millis(100),
        "socket closed {took:?} after cancel"
    );
    // The consumer ends with Cancelled; what came before stays.
    let mut last = None;
    while let Some(item) = chunks.next().await {
        last = Some(item);
    }
    assert_eq!(last.unwrap().unwrap_err().kind(), ErrorKind::Cancelled);
    let partial = response.snapshot().await;
    assert!(
        partial.text().starts_with("abcdabcdabcdabcdabcd"),
        "{}",
        partial.text()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_last_handle_closes_the_socket() {
    let server = Server::start(vec![Replay::generated(
        100_000,
        Duration::from_millis(5),
        "abcd",
    )])
    .await;
    let response = model(&server).stream("go");
    let mut chunks = response.chunk_stream();
    read_deltas(&mut chunks, 3).await;
    let dropped_at = Instant::now();
    drop(chunks);
    drop(response);
    let closed_at = server
        .wait_client_closed(Duration::from_secs(2))
        .await
        .expect("never closed");
    assert!(closed_at.saturating_duration_since(dropped_at) < Duration::from_millis(100));
}

/// Samples the server's written byte count until it stops moving.
async fn settled_bytes(server: &Server) -> u64 {
    let mut last = server.bytes_written(0);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = server.bytes_written(0);
        if now == last {
            return now;
        }
        last = now;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_lossless_subscriber_slows_the_server_a_detached_one_does_not() {
    const N: usize = 200_000;
    // Lossless: the subscriber reads a few chunks and stops; the provider
    // actor stops reading the socket, TCP fills up, the server's writes block.
    let server = Server::start(vec![Replay::generated(N, Duration::ZERO, "abcd")]).await;
    let response = model(&server).stream("go");
    let mut sub = response.subscribe(Policy::Lossless { capacity: 16 });
    for _ in 0..10 {
        sub.next().await;
    }
    let stalled = settled_bytes(&server).await;
    // And it stays stalled: a second look a second later.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stalled = stalled.max(server.bytes_written(0));
    // Reading again lets it continue to the end.
    let mut more = 0;
    while let Some(e) = sub.next().await {
        if matches!(e, Event::End(_)) {
            break;
        }
        more += 1;
    }
    // metadata, text start, N deltas, text end, finish reason: none lost.
    assert_eq!(10 + more, N + 4);
    let total = server.bytes_written(0);
    assert!(
        stalled < total / 4,
        "server wrote {stalled} of {total} bytes to a stalled client"
    );

    // Detached: the same slow reader never slows the stream.
    let server = Server::start(vec![Replay::generated(N, Duration::ZERO, "abcd")]).await;
    let response = model(&server).stream("go");
    let mut sub = response.subscribe(Policy::Detached { capacity: 16 });
    for _ in 0..10 {
        sub.next().await;
    }
    // The server writes everything while the subscriber still sits at 10
    // chunks. (Waiting for the count, not for it to settle: on a loaded
    // machine the client can pause longer than a sampling interval.)
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while server.bytes_written(0) < total && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        server.bytes_written(0),
        total,
        "a detached subscriber slowed the server"
    );
    drop(sub);
    response.finish().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_timeout_fires_when_no_head_arrives() {
    // Accepts, reads, never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let m = Model::new("openai/gen")
        .base_url(url)
        .api_key("k")
        .retries(0)
        .connect_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let err = m.call("go").await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                which: TimeoutKind::Connect,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    hold.abort();
}

#[tokio::test(flavor = "multi_thread")]
async fn first_chunk_timeout_fires_after_a_role_only_chunk() {
    let body = String::from_utf8(wire("openai-chat/text_include_usage.sse")).unwrap();
    let role_only: String = body.split_inclusive("\n\n").take(1).collect();
    let server = Server::start(vec![Replay::sse(role_only).then(After::Stall)]).await;
    let m = model(&server).first_chunk_timeout(Duration::from_millis(300));
    let response = m.stream("go");
    let err = response.finish().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                which: TimeoutKind::FirstChunk,
                ..
            }
        ),
        "{err:?}"
    );
    // The message names the limit, and the error its provider.
    assert_eq!(
        err.to_string(),
        "first_chunk timeout: openai: no first content chunk within 300 ms"
    );
    assert_eq!(err.provider(), Some("openai"));
    // The metadata of the role chunk was kept.
    assert_eq!(response.snapshot().await.model, "gpt-4o-2024-08-06");
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_timeout_is_not_reset_by_keep_alives() {
    let body = String::from_utf8(wire("openai-chat/text_include_usage.sse")).unwrap();
    let mut stream: String = body.split_inclusive("\n\n").take(3).collect();
    // OpenRouter-style comments every 50 ms for 2 s: they must not count.
    for _ in 0..40 {
        stream.push_str(": OPENROUTER PROCESSING\n\n");
    }
    let server = Server::start(vec![Replay::sse(stream)
        .split(Split::Lines)
        .delay(Duration::from_millis(50))
        .then(After::Stall)])
    .await;
    let m = model(&server).idle_timeout(Duration::from_millis(400));
    let response = m.stream("go");
    let err = response.finish().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                which: TimeoutKind::Idle,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(response.snapshot().await.text(), "4200");
}

#[tokio::test(flavor = "multi_thread")]
async fn total_timeout_fires_on_a_slow_stream_keeping_the_text() {
    let server = Server::start(vec![Replay::generated(
        1000,
        Duration::from_millis(10),
        "ab",
    )])
    .await;
    let m = model(&server).total_timeout(Duration::from_millis(400));
    let response = m.stream("go");
    let err = response.finish().await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                which: TimeoutKind::Total,
                ..
            }
        ),
        "{err:?}"
    );
    let text = response.snapshot().await.text();
    assert!(
        text.len() >= 10 && text.len() < 2000 && text.chars().all(|c| c == 'a' || c == 'b'),
        "{text}"
    );
}

/// The wait a 429 or a 503 asks for (`Retry-After: 1`) is honoured before
/// the retry.
#[tokio::test(flavor = "multi_thread")]
async fn retry_after_is_honoured_before_the_first_chunk() {
    let unavailable = br#"{"error":{"message":"Service unavailable","type":"server_error"}}"#;
    for (status, body) in [(429, RATE_LIMITED), (503, &unavailable[..])] {
        let server = Server::start(vec![
            Replay::json(status, body.to_vec()).header("Retry-After", "1"),
            Replay::sse(wire("openai-chat/text_include_usage.sse")),
        ])
        .await;
        // A runtime of its own: a 429's Retry-After pauses every new
        // stream to the provider in the runtime, which would hold up the
        // other tests of this binary on the global one.
        let rt = rivulet::Runtime::new(rivulet::RuntimeConfig::default());
        let m = model(&server)
            .retries(1)
            .backoff(Duration::from_millis(10))
            .runtime(rt.clone());
        let started = Instant::now();
        let r = m.call("go").await.unwrap();
        rt.shutdown();
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(1), "{status}: {waited:?}");
        assert!(waited < Duration::from_secs(10), "{status}: {waited:?}");
        assert_eq!(r.text(), "4200 + 42 equals 4242.");
        assert_eq!(server.connections(), 2);
    }
}

const RATE_LIMITED: &[u8] =
    br#"{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}"#;

/// A server that asks for an absurd wait is not waited for: one request,
/// then the RateLimit error at once, carrying the wait it asked for.
#[tokio::test(flavor = "multi_thread")]
async fn an_absurd_retry_after_fails_at_once() {
    let cases = [
        ("Retry-After", "999999", Duration::from_secs(999_999)),
        // Used to panic in Duration::from_secs_f64 (reported as a
        // malformed stream); now it is the longest wait there is.
        (
            "retry-after-ms",
            "1e300",
            rivulet_providers::errors::RETRY_AFTER_LIMIT,
        ),
    ];
    for (header, value, asked) in cases {
        let server = Server::start(vec![
            Replay::json(429, RATE_LIMITED.to_vec()).header(header, value),
            Replay::sse(wire("openai-chat/text_include_usage.sse")),
        ])
        .await;
        let m = model(&server).retries(3);
        let started = Instant::now();
        let err = m.call("go").await.unwrap_err();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(err.kind(), ErrorKind::RateLimit, "{header}: {err}");
        assert_eq!(err.retry_after(), Some(asked), "{header}");
        assert_eq!(err.message(), "Rate limit reached");
        assert_eq!(server.connections(), 1, "{header}");
    }
}

/// A date in the year 9999 is a wait of 8,000 years: not waited for.
#[tokio::test(flavor = "multi_thread")]
async fn a_retry_after_date_in_9999_fails_at_once() {
    let server = Server::start(vec![Replay::json(429, RATE_LIMITED.to_vec())
        .header("Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT")])
    .await;
    let err = model(&server).retries(3).call("go").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimit);
    let years = err.retry_after().unwrap().as_secs() / (365 * 86_400);
    assert!((7_900..8_000).contains(&years), "{years}");
    assert_eq!(server.connections(), 1);
}

/// The limit is the caller's: with `max_retry_wait(500 ms)`, a 429 that
/// asks for 2 s fails at once.
#[tokio::test(flavor = "multi_thread")]
async fn max_retry_wait_is_the_callers() {
    let server = Server::start(vec![
        Replay::json(429, RATE_LIMITED.to_vec()).header("Retry-After", "2"),
        Replay::sse(wire("openai-chat/text_include_usage.sse")),
    ])
    .await;
    let m = model(&server)
        .retries(1)
        .max_retry_wait(Duration::from_millis(500));
    let err = m.call("go").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimit);
    assert_eq!(err.retry_after(), Some(Duration::from_secs(2)));
    assert_eq!(server.connections(), 1);
}
