//! Test support: the provider side (real recorded transcripts served by
//! the testkit's loopback server) and readers of both sides. The
//! redis-server of the test's own is testkit's `RedisServer`.

#![allow(dead_code)] // each test binary uses its part

use std::time::{Duration, Instant};

use futures::StreamExt;
use rivulet::{Event, Model, Outcome, Policy, StreamResponse};
use rivulet_redis::{Follower, RemoteEvent};
#[allow(unused_imports)] // each test binary uses its part
pub use rivulet_testkit::RedisServer;

/// The model for a transcript served by the testkit server at `url`.
pub fn model(provider: &str, url: &str) -> Model {
    let base = match provider {
        "anthropic" | "google" | "cohere" => url.to_string(),
        _ => format!("{url}/v1"),
    };
    Model::new(&format!("{provider}/test-model"))
        .base_url(base)
        .api_key("sk-test")
        .retries(0)
}

/// Every chunk of a local stream as (offset, JSON line) — the line as
/// `rivulet -o chunks` prints it and the SSE `data:` carries it — and its
/// end.
pub async fn local_lines(response: &StreamResponse) -> (Vec<(u64, String)>, Outcome) {
    let mut sub = response.subscribe(Policy::default());
    let mut lines = Vec::new();
    while let Some(event) = guard(sub.next()).await {
        match event {
            Event::Chunk(c) => lines.push((c.offset(), serde_json::to_string(&*c).unwrap())),
            Event::Missed(n) => panic!("missed {n}"),
            Event::End(outcome) => return (lines, outcome),
        }
    }
    panic!("the subscription ended without an end");
}

/// What a follower yields, as (offset, line), and how it ended: its
/// outcome, or the error it ended with.
pub async fn remote_lines(
    follower: &mut Follower,
) -> (Vec<(u64, String)>, Result<Outcome, rivulet_redis::Error>) {
    let mut lines = Vec::new();
    while let Some(item) = guard(follower.next()).await {
        match item {
            Ok(RemoteEvent::Chunk(c)) => lines.push((c.offset(), c.json().to_string())),
            Ok(RemoteEvent::End(outcome)) => {
                assert!(follower.next().await.is_none(), "nothing after the end");
                return (lines, Ok(outcome));
            }
            Err(e) => {
                assert!(follower.next().await.is_none(), "nothing after an error");
                return (lines, Err(e));
            }
        }
    }
    panic!("the follower ended without an end or an error");
}

/// How long a test waits for any one event before calling it a hang.
const HANG: Duration = Duration::from_secs(30);

/// `next` within [`HANG`], or a panic: a test fails, it never hangs.
async fn guard<T>(next: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(HANG, next)
        .await
        .expect("no event within 30 s: a hang")
}

/// Waits until `check` holds, polling every 5 ms; panics after `limit`.
pub async fn wait_until(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
