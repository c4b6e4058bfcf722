//! `rivulet serve --redis` across processes: two real `rivulet serve`
//! processes, A and B, sharing one real redis-server of the test's own,
//! with testkit's loopback provider sending real-shaped OpenAI chunks, one
//! event per write, 2 ms apart. Each stream is started on A; B has never
//! seen it but through Redis.

use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures::StreamExt;
use rivulet_testkit::{Framing, Generated, RedisServer, Replay, Server};
use serde_json::{json, Value};

#[path = "support/serve_process.rs"]
mod serve_process;
use serve_process::ServeProcess;

/// One server-sent event.
#[derive(Clone, Debug, PartialEq)]
struct Sse {
    id: String,
    event: String,
    data: String,
}

/// A `rivulet serve --redis` node.
struct Node {
    process: ServeProcess,
    base: String,
    client: reqwest::Client,
}

impl Node {
    /// Starts `rivulet serve --redis` as node `name`, its default model
    /// pointed at `upstream`.
    fn start(name: &str, redis: &RedisServer, upstream: &Server, lease: &str) -> Node {
        let process = ServeProcess::start(
            &upstream.url(),
            &[
                "--redis",
                &redis.url(),
                "--node-id",
                name,
                "--lease",
                lease,
                "--max-streams",
                "400",
                "--drain",
                "100ms",
            ],
        );
        Node {
            base: process.base.clone(),
            process,
            client: reqwest::Client::new(),
        }
    }

    /// Kills it at once (SIGKILL), as a crash.
    fn kill(&mut self) {
        self.process.kill();
    }

    async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Starts a stream here; its id.
    async fn start_stream(&self) -> String {
        let (status, v) = self.post("/v1/streams", r#"{"prompt":"hi"}"#).await;
        assert_eq!(status, 201, "{v}");
        v["id"].as_str().unwrap().to_string()
    }

    /// The stream's events here, after `last_id` when given.
    async fn events(
        &self,
        id: &str,
        last_id: Option<&str>,
    ) -> impl futures::Stream<Item = Sse> + Unpin {
        let mut r = self
            .client
            .get(format!("{}/v1/streams/{id}/events", self.base));
        if let Some(k) = last_id {
            r = r.header("last-event-id", k);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{}", r.text().await.unwrap());
        Box::pin(r.bytes_stream().eventsource().map(|e| {
            let e = e.expect("well-formed SSE");
            Sse {
                id: e.id,
                event: e.event,
                data: e.data,
            }
        }))
    }

    /// Every event (after `last_id`) up to and with `end`.
    async fn read_all(&self, id: &str, last_id: Option<&str>) -> Vec<Sse> {
        read_to_end(self.events(id, last_id).await, Vec::new()).await
    }
}

/// `seen`, then the rest of `events` up to and with `end` (within 30 s).
async fn read_to_end(
    mut events: impl futures::Stream<Item = Sse> + Unpin,
    mut seen: Vec<Sse>,
) -> Vec<Sse> {
    let read = async {
        while let Some(e) = events.next().await {
            let end = e.event == "end";
            seen.push(e);
            if end {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .expect("the events ended within 30 s");
    seen
}

/// Reads `events` until the event with id `offset` (inclusive).
async fn read_through(
    events: &mut (impl futures::Stream<Item = Sse> + Unpin),
    offset: u64,
) -> Vec<Sse> {
    let mut seen = Vec::new();
    while let Some(e) = events.next().await {
        let at = e.id.parse::<u64>().ok();
        seen.push(e);
        if at == Some(offset) {
            return seen;
        }
    }
    panic!("the events ended before offset {offset}: {seen:?}");
}

/// A provider streaming `n` real-shaped OpenAI chunks, one event per write,
/// 2 ms apart, to every connection.
async fn provider(n: usize) -> Server {
    Server::start(vec![Replay::from_generated(Generated::openai(
        n,
        Framing::Events,
    ))
    .delay(Duration::from_millis(2))])
    .await
}

/// The chunk events are offsets 0, 1, 2, … and then comes `end` with `data`.
fn assert_whole(events: &[Sse], end_data: &str) {
    let (end, chunks) = events.split_last().expect("events");
    assert_eq!((end.event.as_str(), end.data.as_str()), ("end", end_data));
    for (i, e) in chunks.iter().enumerate() {
        assert_eq!(e.id, i.to_string(), "{e:?}");
    }
}

const FINISHED: &str = r#"{"status":"finished"}"#;
const CANCELLED: &str = r#"{"status":"cancelled"}"#;

#[tokio::test(flavor = "multi_thread")]
async fn b_follows_a_stream_of_a_mid_stream_and_a_client_resumes_on_a_after_b() {
    let redis = RedisServer::start();
    let upstream = provider(300).await;
    let a = Node::start("a", &redis, &upstream, "5s");
    let b = Node::start("b", &redis, &upstream, "5s");
    let id = a.start_stream().await;
    let mut on_a = a.events(&id, None).await;
    let first = read_through(&mut on_a, 20).await;
    // Mid-stream, B (which never saw it start) attaches.
    let on_b = b.read_all(&id, None).await;
    let on_a = read_to_end(on_a, first).await;
    assert_whole(&on_a, FINISHED);
    assert!(on_a.len() > 300, "{}", on_a.len());
    assert_eq!(on_b, on_a, "B's client sees exactly A's client's sequence");

    // A second stream: a client reads B up to offset k, drops, and resumes
    // on A with Last-Event-ID: k.
    let id = a.start_stream().await;
    let k = 37;
    let mut on_b = b.events(&id, None).await;
    let before = read_through(&mut on_b, k).await;
    drop(on_b);
    let rest = a.read_all(&id, Some(&k.to_string())).await;
    assert_eq!(rest[0].id, (k + 1).to_string());
    let mut whole = before;
    whole.extend(rest);
    assert_whole(&whole, FINISHED);
    assert_eq!(whole, a.read_all(&id, None).await);

    // B shows and lists A's stream as A does.
    let (status, on_b) = b.get(&format!("/v1/streams/{id}")).await;
    assert_eq!(status, 200, "{on_b}");
    let (_, on_a) = a.get(&format!("/v1/streams/{id}")).await;
    assert_eq!(on_b["owner"], json!("a"));
    assert_eq!(on_b["status"], json!("finished"));
    assert_eq!(on_b["chunks"], on_a["chunks"]);
    assert_eq!(on_b["response"]["content"], on_a["response"]["content"]);
    assert_eq!(on_b["response"]["usage"], on_a["response"]["usage"]);
    // And the AI SDK's form of it: byte for byte what A sends.
    let ai_sdk = |node: &Node| {
        let url = format!("{}/v1/streams/{id}/events?format=ai-sdk", node.base);
        let client = node.client.clone();
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let (from_a, from_b) = (ai_sdk(&a).await, ai_sdk(&b).await);
    assert!(from_a.ends_with("data: [DONE]\n\n"), "{from_a}");
    assert_eq!(from_b, from_a);
    let (_, list) = b.get("/v1/streams").await;
    let listed: Vec<&Value> = list["streams"].as_array().unwrap().iter().collect();
    assert!(
        listed
            .iter()
            .any(|s| s["id"] == json!(id) && s["owner"] == json!("a")),
        "{list}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cancel_through_b_closes_as_upstream_and_ends_every_attacher() {
    let redis = RedisServer::start();
    let upstream = provider(5000).await;
    let a = Node::start("a", &redis, &upstream, "5s");
    let b = Node::start("b", &redis, &upstream, "5s");
    let id = a.start_stream().await;
    let mut on_a = a.events(&id, None).await;
    let mut on_b = b.events(&id, None).await;
    let seen_a = read_through(&mut on_a, 10).await;
    let seen_b = read_through(&mut on_b, 10).await;
    let asked = Instant::now();
    let (status, v) = b.post(&format!("/v1/streams/{id}/cancel"), "").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], json!("cancelled"));
    let closed = upstream
        .wait_client_closed(Duration::from_secs(5))
        .await
        .expect("A's upstream connection closed");
    let took = closed.saturating_duration_since(asked);
    eprintln!("cancel on B: A's upstream closed {took:?} later");
    assert!(
        took < Duration::from_millis(200),
        "A's upstream closed {took:?} after the cancel on B"
    );
    for events in [
        read_to_end(on_a, seen_a).await,
        read_to_end(on_b, seen_b).await,
    ] {
        let end = events.last().unwrap();
        assert_eq!((end.event.as_str(), end.data.as_str()), ("end", CANCELLED));
        assert!(events.len() < 5000, "cancelled mid-stream");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn when_a_dies_bs_attachers_end_failed_naming_it_within_the_lease() {
    let redis = RedisServer::start();
    let upstream = provider(5000).await;
    let mut a = Node::start("a", &redis, &upstream, "2s");
    let b = Node::start("b", &redis, &upstream, "2s");
    let id = a.start_stream().await;
    let mut on_b = b.events(&id, None).await;
    let seen = read_through(&mut on_b, 10).await;
    let killed = Instant::now();
    a.kill();
    let events = read_to_end(on_b, seen).await;
    let took = killed.elapsed();
    eprintln!("A killed: B's attacher ended {took:?} later");
    let end = events.last().unwrap();
    assert_eq!(end.event, "end");
    let v: Value = serde_json::from_str(&end.data).unwrap();
    assert_eq!(v["status"], json!("failed"), "{v}");
    let message = v["message"].as_str().unwrap();
    assert!(message.contains("node a"), "{message}");
    // Lease (2 s) + 1 s.
    assert!(
        took < Duration::from_secs(3),
        "B's attacher ended {took:?} after A died"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_going_down_spares_as_local_attachers_and_mirroring_resumes_after() {
    let mut redis = RedisServer::start();
    let upstream = provider(1000).await;
    let a = Node::start("a", &redis, &upstream, "5s");
    let b = Node::start("b", &redis, &upstream, "5s");
    let id = a.start_stream().await;
    let mut on_a = a.events(&id, None).await;
    let mut on_b = b.events(&id, None).await;
    let seen_a = read_through(&mut on_a, 10).await;
    let seen_b = read_through(&mut on_b, 10).await;
    redis.kill();
    // A's own client reads the whole stream, as without Redis.
    let on_a = read_to_end(on_a, seen_a).await;
    assert_whole(&on_a, FINISHED);
    assert_eq!(on_a.len(), a.read_all(&id, None).await.len());
    // B's client is told the shared log failed.
    let on_b = read_to_end(on_b, seen_b).await;
    let end: Value = serde_json::from_str(&on_b.last().unwrap().data).unwrap();
    assert_eq!(end["status"], json!("failed"), "{end}");
    assert_eq!(end["kind"], json!("connection"), "{end}");
    // And B cannot find streams of A meanwhile: a clear 503, not a hang.
    let (status, v) = b.get("/v1/streams/st_unknown").await;
    assert_eq!(status, 503, "{v}");
    assert_eq!(v["error"]["code"], json!("shared_log_unavailable"));

    redis.restart();
    // New streams mirror again once the nodes have reconnected.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let id = a.start_stream().await;
        let (status, _) = b.get(&format!("/v1/streams/{id}")).await;
        if status == 200 {
            let on_b = b.read_all(&id, None).await;
            assert_whole(&on_b, FINISHED);
            assert_eq!(on_b, a.read_all(&id, None).await);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "streams of A never reached B after Redis came back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_streams_reach_b_with_nothing_lost_duplicated_or_reordered() {
    let redis = RedisServer::start();
    let upstream = provider(50).await;
    let a = std::sync::Arc::new(Node::start("a", &redis, &upstream, "5s"));
    let b = std::sync::Arc::new(Node::start("b", &redis, &upstream, "5s"));
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids.push(a.start_stream().await);
    }
    let followers: Vec<_> = ids
        .iter()
        .map(|id| {
            let (b, id) = (b.clone(), id.clone());
            tokio::spawn(async move { b.read_all(&id, None).await })
        })
        .collect();
    for (id, follower) in ids.iter().zip(followers) {
        let on_b = follower.await.unwrap();
        assert_whole(&on_b, FINISHED);
        assert_eq!(on_b, a.read_all(id, None).await, "stream {id}");
    }
}

/// Posts an AI SDK chat turn to `node` as `useChat` does, for a
/// `resumable` generation; reads the answer's first bytes and goes away
/// (a page reloaded). The stream's id.
async fn post_resumable_chat_and_leave(node: &Node, chat: &str) -> String {
    let body = json!({"id": chat, "resumable": true, "messages": [
        {"id": "u1", "role": "user", "parts": [{"type": "text", "text": "hi"}]}]});
    let r = node
        .client
        .post(format!("{}/v1/ai-sdk/chat", node.base))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let id = r.headers()["x-rivulet-stream-id"]
        .to_str()
        .unwrap()
        .to_string();
    let mut body = r.bytes_stream();
    assert!(body.next().await.is_some(), "the answer began");
    // A moment for A to record the chat in Redis (not waited for by the
    // answer; a page takes far longer to come back).
    tokio::time::sleep(Duration::from_millis(50)).await;
    id
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chat_posted_to_a_resumes_and_is_cancelled_through_b() {
    let redis = RedisServer::start();
    // 1,500 chunks 2 ms apart: three seconds a stream.
    let upstream = provider(1500).await;
    let a = Node::start("a", &redis, &upstream, "5s");
    let b = Node::start("b", &redis, &upstream, "5s");
    let chat_stream = |node: &Node, chat: &str| {
        node.client
            .get(format!("{}/v1/ai-sdk/chat/{chat}/stream", node.base))
            .send()
    };

    // The page went away from A and comes back through B: B replays the
    // chat's generation from the shared log, byte for byte what A sends.
    let id = post_resumable_chat_and_leave(&a, "chat-x").await;
    let resumed = chat_stream(&b, "chat-x").await.unwrap();
    assert_eq!(resumed.status().as_u16(), 200);
    assert_eq!(resumed.headers()["x-rivulet-stream-id"], id.as_str());
    let on_b = resumed.text().await.unwrap();
    assert!(on_b.ends_with("data: [DONE]\n\n"), "{on_b}");
    let on_a = a
        .client
        .get(format!("{}/v1/streams/{id}/events?format=ai-sdk", a.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(on_b, on_a);
    let (_, v) = a.get(&format!("/v1/streams/{id}")).await;
    assert_eq!(
        (&v["status"], &v["chunks"]),
        (&json!("finished"), &json!(1505)),
        "{v}"
    );
    // Ended: nothing to resume on either node.
    for node in [&a, &b] {
        assert_eq!(
            chat_stream(node, "chat-x").await.unwrap().status().as_u16(),
            204
        );
    }

    // Another chat, cancelled through B by the chat's id.
    let id = post_resumable_chat_and_leave(&a, "chat-y").await;
    let (status, v) = b.post("/v1/ai-sdk/chat/chat-y/cancel", "").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (&v["id"], &v["owner"], &v["status"]),
        (&json!(id), &json!("a"), &json!("cancelled")),
        "{v}"
    );
    let (_, v) = a.get(&format!("/v1/streams/{id}")).await;
    assert_eq!(v["status"], json!("cancelled"), "{v}");
    assert!(v["chunks"].as_u64().unwrap() < 1500, "{v}");
    let (status, _) = b.post("/v1/ai-sdk/chat/chat-y/cancel", "").await;
    assert_eq!(status, 204);
}
