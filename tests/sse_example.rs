//! `examples/sse_server.rs` over loopback, against a loopback provider
//! replaying a recorded stream: fan-out, late join, `Last-Event-ID` resume
//! and cancel, as an SSE client sees them.

#[allow(dead_code)]
#[path = "../examples/sse_server.rs"]
mod sse_server;

use std::pin::Pin;
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use rivulet::Model;
use rivulet_testkit::{wire, Replay, Server, Split};
use serde_json::Value;

const TEXT: &str = "4200 + 42 equals 4242.";

/// One SSE event as a client sees it: `id` (chunks only), `event`, `data`.
#[derive(Clone, Debug, PartialEq)]
struct Seen {
    id: Option<u64>,
    event: String,
    data: String,
}

/// Serves the example's router for generations of the provider at
/// `upstream`; returns its base URL.
async fn serve(upstream: &Server) -> String {
    let model = Model::new("openai/gpt-4o")
        .base_url(format!("{}/v1", upstream.url()))
        .api_key("sk-test")
        .retries(0);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, sse_server::router(model)).await });
    format!("http://{addr}")
}

/// `POST /streams`: the new stream's events URL.
async fn start(base: &str, prompt: &str) -> String {
    let resp = reqwest::Client::new()
        .post(format!("{base}/streams"))
        .body(prompt.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    format!("{base}{}", body["events_url"].as_str().unwrap())
}

type Events = Pin<Box<dyn Stream<Item = Seen> + Send>>;

/// `GET` an events URL (with `Last-Event-ID` if given): its SSE events.
async fn attach(url: &str, last_event_id: Option<&str>) -> Events {
    let mut req = reqwest::Client::new().get(url);
    if let Some(id) = last_event_id {
        req = req.header("last-event-id", id);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    Box::pin(resp.bytes_stream().eventsource().map(|e| {
        let e = e.expect("well-formed SSE");
        // A client keeps the last id it saw; only chunks set one.
        let id = (e.event != "end").then(|| e.id.parse().expect("a chunk's id is its offset"));
        Seen {
            id,
            event: e.event,
            data: e.data,
        }
    }))
}

/// Reads events up to `event: end` (included); fails after 30 s.
async fn until_end(events: &mut Events) -> Vec<Seen> {
    let read = async {
        let mut out = Vec::new();
        while let Some(seen) = events.next().await {
            let end = seen.event == "end";
            out.push(seen);
            if end {
                break;
            }
        }
        out
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("no `end` event within 30 s")
}

/// The text the `text_chunk` events carry.
fn text(events: &[Seen]) -> String {
    events
        .iter()
        .filter(|e| e.event == "text_chunk")
        .map(|e| {
            let chunk: Value = serde_json::from_str(&e.data).unwrap();
            chunk["delta"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_fan_out_join_late_and_resume_after_last_event_id() {
    // A recorded OpenAI stream, a line per write, 5 ms apart: the first
    // clients attach while it is live.
    let upstream = Server::start(vec![Replay::sse(wire(
        "openai-chat/text_include_usage.sse",
    ))
    .split(Split::Lines)
    .delay(Duration::from_millis(5))])
    .await;
    let base = serve(&upstream).await;
    let url = start(&base, "What is 4200 + 42?").await;
    let (mut a, mut b) = (attach(&url, None).await, attach(&url, None).await);
    let (a, b) = tokio::join!(until_end(&mut a), until_end(&mut b));
    assert_eq!(a, b, "two live clients saw different events");
    assert_eq!(text(&a), TEXT);
    let end = a.last().unwrap();
    assert_eq!(
        (end.event.as_str(), end.data.as_str()),
        ("end", r#"{"outcome":"finished"}"#)
    );
    // Chunk events: ids are the offsets 0, 1, 2, …; `event` is the data's type.
    let chunks = &a[..a.len() - 1];
    for (i, seen) in chunks.iter().enumerate() {
        assert_eq!(seen.id, Some(i as u64));
        let chunk: Value = serde_json::from_str(&seen.data).unwrap();
        assert_eq!(chunk["type"], seen.event.as_str());
    }

    // Late: after the end, a new client replays everything.
    let late = until_end(&mut attach(&url, None).await).await;
    assert_eq!(late, a);
    // Resume: exactly what follows the offset in Last-Event-ID.
    let n = chunks.len();
    for k in [0, n / 2, n - 1] {
        let rest = until_end(&mut attach(&url, Some(&k.to_string())).await).await;
        assert_eq!(rest, a[k + 1..], "after Last-Event-ID: {k}");
    }
    assert_eq!(upstream.connections(), 1, "one generation for every client");

    // Bad input: an id that is not an offset, a stream that does not exist.
    let bad = reqwest::Client::new()
        .get(&url)
        .header("last-event-id", "seven")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let missing = reqwest::get(format!("{base}/streams/99/events"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_every_client_and_closes_the_upstream_connection() {
    let upstream = Server::start(vec![Replay::generated(
        100_000,
        Duration::from_millis(5),
        "abcd",
    )])
    .await;
    let base = serve(&upstream).await;
    let url = start(&base, "go").await;
    let (mut a, mut b) = (attach(&url, None).await, attach(&url, None).await);
    // Both are live: a few chunks each.
    for events in [&mut a, &mut b] {
        for _ in 0..5 {
            assert_ne!(events.next().await.unwrap().event, "end");
        }
    }
    let cancel = reqwest::Client::new()
        .post(url.replace("/events", "/cancel"))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 204);
    upstream
        .wait_client_closed(Duration::from_secs(5))
        .await
        .expect("the upstream connection stayed open after cancel");
    for events in [&mut a, &mut b] {
        let rest = until_end(events).await;
        let end = rest.last().unwrap();
        assert_eq!(end.data, r#"{"outcome":"cancelled"}"#);
    }
    // A client that attaches after the cancel gets what was received, then the end.
    let late = until_end(&mut attach(&url, None).await).await;
    assert_eq!(late.last().unwrap().data, r#"{"outcome":"cancelled"}"#);
    assert!(text(&late).starts_with("abcdabcd"));
}
