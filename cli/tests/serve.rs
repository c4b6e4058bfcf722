//! `rivulet serve` over loopback: a real HTTP client (reqwest, SSE parsed by
//! eventsource-stream) against the server in-process, with testkit's replay
//! server as the upstream provider replaying a real recorded OpenAI
//! transcript line by line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures::StreamExt;
use rivulet::json::chunk_line;
use rivulet::Model;
use rivulet_server::{serve, ServeConfig};
use rivulet_testkit::{wire, Replay, Server, Split};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;

#[path = "support/serve_process.rs"]
mod serve_process;
use serve_process::ServeProcess;

const TRANSCRIPT: &str = "openai-chat/text_include_usage.sse";

/// The tests that compare times (the stalled client, the cancel) run alone:
/// they take this lock for writing, every other test for reading, so no
/// other test's load lands in the middle of a measurement.
static TIMED: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

/// The transcript, a line per write, `delay` apart.
fn transcript(delay: Duration) -> Replay {
    Replay::sse(wire(TRANSCRIPT))
        .split(Split::Lines)
        .delay(delay)
}

fn point_at(upstream: &Server) -> rivulet_server::Prepare {
    let url = format!("{}/v1", upstream.url());
    Arc::new(move |m: Model| m.base_url(url.clone()).api_key("sk-test").retries(0))
}

/// The transcript's chunks as `rivulet -o chunks` prints them, streamed
/// in-process.
async fn expected_lines() -> Vec<String> {
    let upstream = Server::start(vec![transcript(Duration::ZERO)]).await;
    let model = point_at(&upstream)(Model::new("openai/gpt-4o-mini"));
    let response = model.stream("hi");
    let mut chunks = response.chunk_stream();
    let mut lines = Vec::new();
    while let Some(c) = chunks.next().await {
        lines.push(chunk_line(&c.expect("the transcript streams")));
    }
    assert!(lines.len() > 5, "{lines:?}");
    lines
}

/// A response's server-sent events.
fn sse(r: reqwest::Response) -> impl futures::Stream<Item = Sse> + Unpin {
    Box::pin(r.bytes_stream().eventsource().map(|e| {
        let e = e.expect("well-formed SSE");
        Sse {
            id: e.id,
            event: e.event,
            data: e.data,
        }
    }))
}

/// A running server and how to stop it.
struct Running {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<std::io::Result<()>>,
    client: reqwest::Client,
    token: Option<String>,
}

/// A server (the default config) and one stream of the transcript run to
/// its end: the upstream (kept for the test's length), the server, the
/// stream's id and its finished status.
async fn finished_stream() -> (Server, Running, String, Value) {
    let upstream = Server::start(vec![transcript(Duration::ZERO)]).await;
    let server = Running::start(config(&upstream)).await;
    let id = server.start_stream().await;
    let v = server.wait_status(&id, "finished").await;
    (upstream, server, id, v)
}

impl Running {
    async fn start(config: ServeConfig) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel();
        let token = config.token.clone();
        let done = tokio::spawn(serve(listener, config, async {
            let _ = stopped.await;
        }));
        Running {
            base,
            stop: Some(stop),
            done,
            client: reqwest::Client::new(),
            token,
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.client.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    async fn post(&self, path: &str, body: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let r = self
            .req(reqwest::Method::POST, path)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
        (status, headers, v)
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.req(reqwest::Method::GET, path).send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
        (status, v)
    }

    /// The server's address, `127.0.0.1:port`.
    fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Sends `request` as is on a connection of its own and reads the
    /// answer until the server closes it.
    async fn raw(&self, request: &str) -> String {
        let mut socket = tokio::net::TcpStream::connect(self.addr()).await.unwrap();
        socket.write_all(request.as_bytes()).await.unwrap();
        read_until_closed(&mut socket).await
    }

    /// A connection with a tiny receive buffer (4 KiB) that has asked for
    /// stream `id`'s events and read nothing yet: a client that can be
    /// made to fall behind.
    async fn attach_small(&self, id: &str) -> tokio::net::TcpStream {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut small = socket.connect(self.addr().parse().unwrap()).await.unwrap();
        let request = format!("GET /v1/streams/{id}/events HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n");
        small.write_all(request.as_bytes()).await.unwrap();
        small
    }

    /// Starts a stream; returns its id.
    async fn start_stream(&self) -> String {
        let (status, _, v) = self.post("/v1/streams", r#"{"prompt":"hi"}"#).await;
        assert_eq!(status, 201, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        assert_eq!(v["events_url"], json!(format!("/v1/streams/{id}/events")));
        id
    }

    /// Opens the stream's events (after `last_id` when given).
    async fn events(
        &self,
        id: &str,
        last_id: Option<&str>,
    ) -> impl futures::Stream<Item = Sse> + Unpin {
        let mut r = self.req(reqwest::Method::GET, &format!("/v1/streams/{id}/events"));
        if let Some(k) = last_id {
            r = r.header("last-event-id", k);
        }
        let r = r.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["content-type"], "text/event-stream");
        sse(r)
    }

    /// Every event of the stream (after `last_id`), up to and with `end`.
    async fn read_all(&self, id: &str, last_id: Option<&str>) -> Vec<Sse> {
        let mut events = self.events(id, last_id).await;
        let mut seen = Vec::new();
        let bound = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(e) = events.next().await {
                let end = e.event == "end";
                seen.push(e);
                if end {
                    break;
                }
            }
        });
        bound.await.expect("the events ended within 10 s");
        seen
    }

    async fn wait_status(&self, id: &str, want: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (status, v) = self.get(&format!("/v1/streams/{id}")).await;
            assert_eq!(status, 200, "{v}");
            if v["status"] == want {
                return v;
            }
            assert!(Instant::now() < deadline, "still {v}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.done)
            .await
            .expect("the server stopped within 10 s")
            .unwrap()
            .unwrap();
    }
}

/// The last event before the connection closes (within 10 s).
async fn last_event(mut events: impl futures::Stream<Item = Sse> + Unpin) -> Sse {
    let mut last = None;
    let read = async {
        while let Some(e) = events.next().await {
            last = Some(e);
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the events ended within 10 s");
    last.expect("at least one event")
}

/// One server-sent event.
#[derive(Clone, Debug, Default, PartialEq)]
struct Sse {
    id: String,
    event: String,
    data: String,
}

fn config(upstream: &Server) -> ServeConfig {
    ServeConfig {
        default_model: "openai/gpt-4o-mini".into(),
        prepare: Some(point_at(upstream)),
        ..ServeConfig::default()
    }
}

/// Chunk events as (id, event, data), checked against `lines` from offset `from`.
fn assert_chunks(events: &[Sse], lines: &[String], from: usize) {
    let (end, chunks) = events.split_last().expect("at least the end event");
    assert_eq!(end.event, "end");
    assert_eq!(end.data, r#"{"status":"finished"}"#);
    let want: Vec<Sse> = lines
        .iter()
        .enumerate()
        .skip(from)
        .map(|(i, line)| Sse {
            id: i.to_string(),
            event: serde_json::from_str::<Value>(line).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string(),
            data: line.clone(),
        })
        .collect();
    assert_eq!(chunks, &want[..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_clients_see_the_transcript() {
    let _shared = TIMED.read().await;
    let lines = expected_lines().await;
    let upstream = Server::start(vec![transcript(Duration::from_millis(5))]).await;
    let server = Arc::new(Running::start(config(&upstream)).await);
    let id = server.start_stream().await;
    let clients: Vec<_> = (0..50)
        .map(|_| {
            let (server, id) = (server.clone(), id.clone());
            tokio::spawn(async move { server.read_all(&id, None).await })
        })
        .collect();
    for c in clients {
        assert_chunks(&c.await.unwrap(), &lines, 0);
    }
    // One upstream request for all of them.
    assert_eq!(upstream.connections(), 1);
    Arc::into_inner(server).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_joiner_gets_everything_and_the_snapshot_is_the_json_output() {
    let _shared = TIMED.read().await;
    let lines = expected_lines().await;
    let (_upstream, server, id, v) = finished_stream().await;
    assert_eq!(v["chunks"], json!(lines.len()));
    assert_eq!(v["model"], json!("openai/gpt-4o-mini"));
    assert_eq!(v["response"]["error"], Value::Null);
    assert_eq!(v["response"]["finish_reason"], json!("stop"));
    let text: String = lines
        .iter()
        .filter_map(|l| {
            let c: Value = serde_json::from_str(l).unwrap();
            (c["type"] == "text_chunk").then(|| c["delta"].as_str().unwrap().to_string())
        })
        .collect();
    assert_eq!(v["response"]["content"][0]["text"], json!(text));
    assert_chunks(&server.read_all(&id, None).await, &lines, 0);
    let (status, list) = server.get("/v1/streams").await;
    assert_eq!(status, 200);
    let listed = &list["streams"][0];
    assert_eq!(listed["id"], json!(id));
    assert_eq!(listed["status"], json!("finished"));
    assert_eq!(listed["chunks"], json!(lines.len()));
    assert_eq!(listed["attachers"], json!(0));
    server.stop().await;
}

/// An HTTP/1.0 client (no chunked coding) gets the events through hyper,
/// the response ending with the connection.
#[tokio::test(flavor = "multi_thread")]
async fn an_http_1_0_client_gets_the_events_until_the_connection_closes() {
    let _shared = TIMED.read().await;
    let lines = expected_lines().await;
    let (_upstream, server, id, _) = finished_stream().await;
    let raw = server
        .raw(&format!("GET /v1/streams/{id}/events HTTP/1.0\r\n\r\n"))
        .await;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.0 200"), "{head}");
    assert!(!head.to_lowercase().contains("transfer-encoding"), "{head}");
    let events = parse_events(body);
    assert_chunks(&events, &lines, 0);
    server.stop().await;
}

/// A HEAD on the events gets the response head alone.
#[tokio::test(flavor = "multi_thread")]
async fn a_head_request_on_the_events_gets_the_head_alone() {
    let _shared = TIMED.read().await;
    let (_upstream, server, id, _) = finished_stream().await;
    let raw = server
        .raw(&format!(
            "HEAD /v1/streams/{id}/events HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
        ))
        .await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.contains("content-type: text/event-stream\r\n"), "{raw}");
    assert!(raw.ends_with("\r\n\r\n"), "nothing after the head: {raw}");
    assert_eq!(raw.matches("\r\n\r\n").count(), 1, "{raw}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_resumes_after_the_last_event_id_with_nothing_lost_or_repeated() {
    let _shared = TIMED.read().await;
    let lines = expected_lines().await;
    let upstream = Server::start(vec![transcript(Duration::from_millis(5))]).await;
    let server = Running::start(config(&upstream)).await;
    let id = server.start_stream().await;
    let k = 3;
    let mut first = Vec::new();
    {
        let mut events = server.events(&id, None).await;
        while first.len() <= k {
            first.push(events.next().await.unwrap());
        }
        // Dropped here: the client disconnects at offset k.
    }
    assert_eq!(first.last().unwrap().id, k.to_string());
    let rest = server.read_all(&id, Some(&k.to_string())).await;
    assert_chunks(&rest, &lines, k + 1);
    let mut whole = first;
    whole.extend(rest);
    assert_chunks(&whole, &lines, 0);
    // `?from=k` is the same as `Last-Event-ID: k`.
    let r = server
        .req(
            reqwest::Method::GET,
            &format!("/v1/streams/{id}/events?from={k}"),
        )
        .send()
        .await
        .unwrap();
    let from: Vec<Sse> = sse(r).collect().await;
    assert_chunks(&from, &lines, k + 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_client_delays_neither_the_generation_nor_the_others() {
    let _alone = TIMED.write().await;
    // A long stream (testkit's generated OpenAI stream, ~12 MB of SSE) so
    // that the stalled client's socket buffers fill and its writes block.
    let n = 3000;
    let upstream = Server::start(vec![Replay::generated(
        n,
        Duration::ZERO,
        &"x".repeat(4000),
    )])
    .await;
    let server = Arc::new(
        Running::start(ServeConfig {
            drain: Duration::from_millis(300),
            ..config(&upstream)
        })
        .await,
    );
    // The same stream twice, read by three clients: first alone, then with
    // a stalled client attached before them.
    let (alone, _) = three_clients_read(&server, n, false).await;
    let (beside, stalled) = three_clients_read(&server, n, true).await;
    eprintln!(
        "three clients read {n} chunks in {alone:?} alone, {beside:?} beside a stalled client"
    );
    // Scheduling noise aside, the stalled client costs the others nothing;
    // a server that waited for it would never finish (the read bound is 10 s).
    assert!(
        beside <= alone * 2 + Duration::from_millis(250),
        "{beside:?} beside a stalled client against {alone:?} alone"
    );
    // Nor does it keep the server from stopping: after the drain, a client
    // that does not read its end in time is let go.
    Arc::into_inner(server).unwrap().stop().await;
    drop(stalled);
}

/// A client that stops reading until its socket is full, then reads on,
/// gets every event once and in order, in well-formed chunked coding: the
/// stream's writer hands it back to its own response with the bytes its
/// socket did not take, and it joins the writer again once caught up.
#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_falls_behind_then_catches_up_gets_every_event_once() {
    let _alone = TIMED.write().await;
    // ~32 MB over 2 s or more: the stall (1 s) fills the socket and the
    // server's send buffer (4 MB at most by Linux's default `tcp_wmem`),
    // and the stream goes on after the client has caught up.
    let n = 2000;
    let text = "y".repeat(16000);
    let upstream = Server::start(vec![Replay::generated(n, Duration::from_millis(1), &text)]).await;
    let server = Running::start(config(&upstream)).await;
    let id = server.start_stream().await;
    let mut slow = server.attach_small(&id).await;
    // A client beside it that keeps up.
    let (fast_server, fast_id) = (&server, id.clone());
    let fast = async move { fast_server.read_all(&fast_id, None).await };
    let slow = async move {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        read_chunked_events(&mut slow).await
    };
    let (fast, slow) = tokio::join!(fast, slow);
    for events in [&fast, &slow] {
        let (end, chunks) = events.split_last().unwrap();
        let ids: Vec<&str> = chunks.iter().map(|e| e.id.as_str()).collect();
        let want: Vec<String> = (0..chunks.len()).map(|i| i.to_string()).collect();
        assert_eq!(ids, want, "chunk offsets");
        let texts = chunks.iter().filter(|e| e.event == "text_chunk").count();
        assert_eq!(texts, n);
        assert_eq!(
            (end.event.as_str(), end.data.as_str()),
            ("end", r#"{"status":"finished"}"#)
        );
    }
    // Event for event the same, data included (but the end's id, which
    // eventsource-stream carries over from the event before).
    assert_eq!(slow[..slow.len() - 1], fast[..fast.len() - 1]);
    server.stop().await;
}

/// Reads one SSE response off `socket` up to its last chunk, checking its
/// chunked coding, and parses its events.
async fn read_chunked_events(socket: &mut tokio::net::TcpStream) -> Vec<Sse> {
    use tokio::io::AsyncReadExt;
    let mut raw = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        while !raw.ends_with(b"\r\n0\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the last chunk");
            raw.extend_from_slice(&buf[..n]);
        }
    });
    read.await.expect("the response ended within 20 s");
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&raw[..head_end]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    // The chunked coding: a hex size line, that many bytes, CRLF; size 0 last.
    let mut body = Vec::new();
    let mut rest = &raw[head_end..];
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a size line");
        let size = std::str::from_utf8(&rest[..line_end]).unwrap();
        let size = usize::from_str_radix(size, 16).unwrap_or_else(|_| panic!("size {size:?}"));
        rest = &rest[line_end + 2..];
        if size == 0 {
            assert_eq!(rest, b"\r\n");
            break;
        }
        body.extend_from_slice(&rest[..size]);
        assert_eq!(&rest[size..size + 2], b"\r\n", "a chunk ends with CRLF");
        rest = &rest[size + 2..];
    }
    parse_events(&String::from_utf8(body).unwrap())
}

/// The events of an SSE body as the server writes them (`id:`, `event:`,
/// `data:`, each one line); comment lines are skipped, any other line
/// fails the test.
fn parse_events(body: &str) -> Vec<Sse> {
    let mut events = Vec::new();
    for block in body.split("\n\n").filter(|b| !b.is_empty()) {
        let mut e = Sse::default();
        for line in block.lines() {
            match line.split_once(": ") {
                Some(("id", v)) => e.id = v.to_string(),
                Some(("event", v)) => e.event = v.to_string(),
                Some(("data", v)) => e.data = v.to_string(),
                _ => assert!(line.starts_with(':'), "an unknown line {line:?}"),
            }
        }
        if !e.event.is_empty() {
            events.push(e);
        }
    }
    events
}

/// Starts a stream of `n` text chunks, optionally attaches a client that
/// never reads (returned, to keep it attached), then three clients that
/// read it all; returns how long the slowest of them took from the start.
async fn three_clients_read(
    server: &Arc<Running>,
    n: usize,
    stall: bool,
) -> (Duration, Option<tokio::net::TcpStream>) {
    let started = Instant::now();
    let id = server.start_stream().await;
    // A client that never reads.
    let stalled = match stall {
        true => Some(server.attach_small(&id).await),
        false => None,
    };
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (server, id) = (server.clone(), id.clone());
            tokio::spawn(async move { server.read_all(&id, None).await })
        })
        .collect();
    for r in readers {
        let events = r.await.unwrap();
        let texts = events.iter().filter(|e| e.event == "text_chunk").count();
        assert_eq!(texts, n);
        assert_eq!(events.last().unwrap().data, r#"{"status":"finished"}"#);
    }
    let took = started.elapsed();
    let v = server.wait_status(&id, "finished").await;
    // The stalled client is still attached, far behind.
    assert_eq!(v["attachers"], json!(u8::from(stall)));
    (took, stalled)
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_from_another_client_ends_every_attacher_and_closes_the_upstream() {
    let _alone = TIMED.write().await;
    let upstream = Server::start(vec![transcript(Duration::from_millis(100))]).await;
    let server = Arc::new(Running::start(config(&upstream)).await);
    let id = server.start_stream().await;
    let mut attachers = Vec::new();
    for _ in 0..3 {
        let mut events = server.events(&id, None).await;
        // Each has seen the stream start before the cancel.
        let first = events.next().await.unwrap();
        assert_eq!(first.id, "0");
        attachers.push(tokio::spawn(last_event(events)));
    }
    let cancelled_at = Instant::now();
    let (status, _, v) = server.post(&format!("/v1/streams/{id}/cancel"), "").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["status"], json!("cancelled"));
    for a in attachers {
        let end = a.await.unwrap();
        assert_eq!(end.event, "end");
        assert_eq!(end.data, r#"{"status":"cancelled"}"#);
    }
    let closed = upstream
        .wait_client_closed(Duration::from_secs(5))
        .await
        .expect("the upstream connection closed");
    // From sending the cancel to the provider seeing its connection close
    // (measured here: ~1.5 ms with the other tests running).
    let took = closed.saturating_duration_since(cancelled_at);
    assert!(
        took < Duration::from_millis(100),
        "the upstream closed {took:?} after the cancel"
    );
    assert!(upstream.wait_all_closed(Duration::from_secs(5)).await);
    Arc::into_inner(server).unwrap().stop().await;
}

fn assert_error(status: u16, v: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{v}");
    let e = &v["error"];
    assert_eq!(e["code"], json!(want_code), "{v}");
    assert!(e["type"].is_string(), "{v}");
    assert!(!e["message"].as_str().unwrap().is_empty(), "{v}");
}

async fn each_error_status(token: Option<&str>) {
    let upstream = Server::start(vec![transcript(Duration::from_millis(200))]).await;
    let server = Running::start(ServeConfig {
        token: token.map(String::from),
        max_streams: 1,
        max_attachers: 1,
        body_limit: 1024,
        retry_after: Duration::from_secs(3),
        drain: Duration::from_millis(50),
        ..config(&upstream)
    })
    .await;
    for body in [
        "not json",
        r#"{"prompt": 5}"#,
        r#"{}"#,
        r#"{"prompt":"hi","messages":[{"role":"user","content":"hi"}]}"#,
        r#"{"prompt":"hi","model":"openai"}"#,
        r#"{"prompt":"hi","model":"nope/x"}"#,
        r#"{"prompt":"hi","max_tokens":0}"#,
        r#"{"prompt":"hi","format":[1]}"#,
        r#"{"prompt":"hi","tools":[{"description":"no name"}]}"#,
        r#"{"prompt":"hi","unknown_field":1}"#,
        // The fields in order, as serde's derived structs also read them.
        r#"["local",null,"Say hi",null,3,null,null,null,null]"#,
    ] {
        let (status, _, v) = server.post("/v1/streams", body).await;
        assert_error(status, &v, 400, "bad_request");
    }
    let big = format!(r#"{{"prompt":"{}"}}"#, "x".repeat(2000));
    let (status, _, v) = server.post("/v1/streams", &big).await;
    assert_error(status, &v, 413, "body_too_large");
    for path in [
        "/v1/streams/st_nope",
        "/v1/streams/st_nope/events",
        "/nowhere",
    ] {
        let (status, v) = server.get(path).await;
        assert_error(status, &v, 404, "not_found");
    }
    let (status, _, v) = server.post("/v1/streams/st_nope/cancel", "").await;
    assert_error(status, &v, 404, "not_found");
    let (status, _, v) = server.post("/v1/streams/st_nope", "").await;
    assert_error(status, &v, 405, "method_not_allowed");
    // Limits: one stream running, one attacher each.
    let id = server
        .post(
            "/v1/streams",
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
        )
        .await;
    assert_eq!(id.0, 201, "{}", id.2);
    let id = id.2["id"].as_str().unwrap().to_string();
    let (status, headers, v) = server.post("/v1/streams", r#"{"prompt":"hi"}"#).await;
    assert_error(status, &v, 429, "limit_reached");
    assert_eq!(headers["retry-after"], "3");
    let attached = server.events(&id, None).await;
    let (status, v) = server.get(&format!("/v1/streams/{id}/events")).await;
    assert_error(status, &v, 429, "limit_reached");
    drop(attached);
    // The place is given back once the server sees the client go.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.get(&format!("/v1/streams/{id}")).await.1["attachers"] != json!(0) {
        assert!(
            Instant::now() < deadline,
            "the attacher was never counted off"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(server.events(&id, None).await);
    let (status, v) = server
        .get(&format!("/v1/streams/{id}/events?from=minus-one"))
        .await;
    assert_error(status, &v, 400, "bad_request");
    // What axum's own extractors refuse comes in the same JSON shape.
    let (status, v) = server
        .get(&format!("/v1/streams/{id}/events?from=1&from=2"))
        .await;
    assert_error(status, &v, 400, "bad_request");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("duplicate field"),
        "{v}"
    );
    let (status, v) = server.get("/v1/streams/%ff/events").await;
    assert_error(status, &v, 400, "bad_request");
    let (status, _, v) = server.post("/", "").await;
    assert_error(status, &v, 405, "method_not_allowed");
    // A long unknown id is not echoed whole.
    let (status, v) = server
        .get(&format!("/v1/streams/{}", "x".repeat(20_000)))
        .await;
    assert_error(status, &v, 404, "not_found");
    assert!(v["error"]["message"].as_str().unwrap().len() < 300, "{v}");
    // A stream that ends gives its place back.
    let (status, _, v) = server.post(&format!("/v1/streams/{id}/cancel"), "").await;
    assert_eq!((status, &v["status"]), (200, &json!("cancelled")));
    let (status, _, v) = server.post("/v1/streams", r#"{"prompt":"hi"}"#).await;
    assert_eq!(status, 201, "{v}");
    if let Some(token) = token {
        let anon = reqwest::Client::new();
        for auth in [None, Some("wrong"), Some(&token[1..])] {
            let mut r = anon.get(format!("{}/v1/streams", server.base));
            if let Some(a) = auth {
                r = r.bearer_auth(a);
            }
            let r = r.send().await.unwrap();
            let status = r.status().as_u16();
            assert_eq!(r.headers()["www-authenticate"], "Bearer");
            let v: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
            assert_error(status, &v, 401, "invalid_token");
        }
        // The scheme is case-insensitive; the token is not.
        let r = anon
            .get(format!("{}/v1/streams", server.base))
            .header("authorization", format!("bearer {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_error_status_without_a_token() {
    let _shared = TIMED.read().await;
    each_error_status(None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn each_error_status_with_a_token() {
    let _shared = TIMED.read().await;
    each_error_status(Some("s3cret-token")).await;
}

#[test]
fn a_non_loopback_address_is_refused_without_a_token() {
    let addr = "192.0.2.1:8787".parse().unwrap();
    let e = rivulet_server::check_exposure(addr, None).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert!(e.to_string().contains("--token"), "{e}");
    assert!(rivulet_server::check_exposure(addr, Some("")).is_err());
    assert!(rivulet_server::check_exposure(addr, Some("t")).is_ok());
    assert!(rivulet_server::check_exposure("127.0.0.1:1".parse().unwrap(), None).is_ok());
    assert!(rivulet_server::check_exposure("[::1]:1".parse().unwrap(), None).is_ok());
    // The command refuses before it binds anything.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rivulet"))
        .args(["serve", "--addr", "0.0.0.0:0"])
        .env_remove("RIVULET_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("0.0.0.0:0 is not a loopback address: serving it needs --token"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_drains_then_cancels_and_every_attacher_gets_its_end() {
    let _shared = TIMED.read().await;
    let upstream = Server::start(vec![transcript(Duration::from_millis(200))]).await;
    let seen = events_across_shutdown(&upstream, Duration::from_millis(300)).await;
    let end = seen.last().unwrap();
    assert_eq!(end.event, "end");
    assert_eq!(end.data, r#"{"status":"cancelled"}"#);
    assert!(upstream.wait_all_closed(Duration::from_secs(5)).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn finished_streams_are_freed_after_the_retention() {
    let _shared = TIMED.read().await;
    let upstream = Server::start(vec![transcript(Duration::ZERO)]).await;
    let server = Running::start(ServeConfig {
        retention: Duration::from_millis(200),
        ..config(&upstream)
    })
    .await;
    let id = server.start_stream().await;
    server.wait_status(&id, "finished").await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, v) = server.get(&format!("/v1/streams/{id}")).await;
        if status == 404 {
            assert_error(status, &v, 404, "not_found");
            break;
        }
        assert!(Instant::now() < deadline, "never freed: {v}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn past_max_kept_the_oldest_finished_stream_is_freed_first() {
    let _shared = TIMED.read().await;
    let upstream = Server::start(vec![transcript(Duration::ZERO)]).await;
    let server = Running::start(ServeConfig {
        max_kept: 2,
        ..config(&upstream)
    })
    .await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let id = server.start_stream().await;
        server.wait_status(&id, "finished").await;
        ids.push(id);
    }
    // Kept: the two that ended last. The third was started while two had
    // ended, so nothing was over the limit until the next start.
    let id = server.start_stream().await;
    server.wait_status(&id, "finished").await;
    let (status, v) = server.get(&format!("/v1/streams/{}", ids[0])).await;
    assert_error(status, &v, 404, "not_found");
    let (status, _) = server.get(&format!("/v1/streams/{}", ids[1])).await;
    assert_eq!(status, 200);
    let (status, list) = server.get("/v1/streams").await;
    assert_eq!(status, 200);
    let listed: Vec<&str> = list["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [&ids[1], &ids[2], &id]);
    server.stop().await;
}

/// Reads from `socket` until the server closes it (within 5 s); what it
/// sent.
async fn read_until_closed(socket: &mut tokio::net::TcpStream) -> String {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), socket.read_to_end(&mut got))
        .await
        .expect("the server closed the connection within 5 s")
        .expect("a clean close");
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn half_a_request_head_is_let_go_after_the_header_timeout() {
    let _shared = TIMED.read().await;
    let upstream = Server::start(vec![transcript(Duration::ZERO)]).await;
    let server = Running::start(ServeConfig {
        header_timeout: Duration::from_millis(300),
        ..config(&upstream)
    })
    .await;
    let addr = server.addr().to_string();
    // Nothing at all, and half a head (slowloris).
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut half = tokio::net::TcpStream::connect(&addr).await.unwrap();
    half.write_all(b"GET /v1/streams HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ")
        .await
        .unwrap();
    read_until_closed(&mut silent).await;
    read_until_closed(&mut half).await;
    // The server still answers everyone else.
    let (status, _) = server.get("/v1/streams").await;
    assert_eq!(status, 200);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_does_not_arrive_in_time_gets_408() {
    let _shared = TIMED.read().await;
    let upstream = Server::start(vec![transcript(Duration::ZERO)]).await;
    let server = Running::start(ServeConfig {
        body_timeout: Duration::from_millis(300),
        ..config(&upstream)
    })
    .await;
    let addr = server.addr().to_string();
    for path in ["/v1/streams", "/v1/chat/completions"] {
        let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
        slow.write_all(
            format!(
                "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
                 content-length: 100\r\n\r\n{{\"prompt\": "
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let answer = read_until_closed(&mut slow).await;
        assert!(answer.starts_with("HTTP/1.1 408 "), "{path}: {answer}");
        let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
        let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{answer}"));
        assert_error(408, &v, 408, "request_timeout");
        assert_eq!(
            v["error"]["message"],
            json!("the request body did not arrive within 0.3 s")
        );
    }
    // Nothing was started.
    let (_, list) = server.get("/v1/streams").await;
    assert_eq!(list["streams"], json!([]));
    server.stop().await;
}

/// A body declared longer than the limit is refused at once, without
/// waiting for bytes that would be refused anyway (it used to get a 408
/// after the body timeout).
#[tokio::test(flavor = "multi_thread")]
async fn a_declared_length_over_the_limit_gets_413_at_once() {
    let _shared = TIMED.read().await;
    let upstream = Server::start(vec![transcript(Duration::ZERO)]).await;
    let server = Running::start(ServeConfig {
        body_limit: 1024,
        body_timeout: Duration::from_secs(30),
        ..config(&upstream)
    })
    .await;
    let addr = server.addr().to_string();
    for path in ["/v1/streams", "/v1/chat/completions"] {
        let mut sock = tokio::net::TcpStream::connect(&addr).await.unwrap();
        sock.write_all(
            format!(
                "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
                 content-length: 99999999999\r\n\r\n{{}}"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(10), read_until_closed(&mut sock))
            .await
            .unwrap_or_else(|_| panic!("{path}: no answer within 10 s"));
        assert!(answer.starts_with("HTTP/1.1 413 "), "{path}: {answer}");
        let body = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
        let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("{answer}"));
        assert_error(413, &v, 413, "body_too_large");
    }
    server.stop().await;
}

/// Both formats of the events: the plain SSE and the AI SDK's UI message
/// stream (a proxy cuts either during a long pause without them).
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_stream_gets_keep_alive_comments() {
    let _shared = TIMED.read().await;
    for query in ["", "?format=ai-sdk"] {
        let upstream = Server::start(vec![transcript(Duration::from_millis(300))]).await;
        let server = Running::start(ServeConfig {
            keep_alive: Duration::from_millis(50),
            ..config(&upstream)
        })
        .await;
        let id = server.start_stream().await;
        let r = server
            .req(
                reqwest::Method::GET,
                &format!("/v1/streams/{id}/events{query}"),
            )
            .send()
            .await
            .unwrap();
        let mut body = r.bytes_stream();
        let mut seen = String::new();
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(bytes) = body.next().await {
                seen.push_str(&String::from_utf8_lossy(&bytes.unwrap()));
                // A comment line: a line that starts with ':'.
                if seen.starts_with(':') || seen.contains("\n:") {
                    return true;
                }
            }
            // The stream ended without one.
            false
        })
        .await;
        assert!(
            matches!(found, Ok(true)),
            "{query}: no keep-alive comment in {seen:?}"
        );
        drop(body);
        server.post(&format!("/v1/streams/{id}/cancel"), "").await;
        server.stop().await;
    }
}

/// The `rivulet serve` command itself: serves, and on SIGTERM cancels what
/// is still running after --drain, gives the attacher its end, exits 0.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn the_command_serves_and_sigterm_ends_every_attacher() {
    let _shared = TIMED.read().await;
    let upstream = Server::start(vec![transcript(Duration::from_millis(300))]).await;
    let mut process = ServeProcess::start(&upstream.url(), &["--drain", "100ms"]);
    let pid = process.pid() as i32;
    let server = Running {
        base: process.base.clone(),
        stop: None,
        done: tokio::spawn(async { Ok(()) }),
        client: reqwest::Client::new(),
        token: None,
    };
    let id = server.start_stream().await;
    let mut events = server.events(&id, None).await;
    assert_eq!(events.next().await.unwrap().id, "0");
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let end = last_event(events).await;
    assert_eq!(
        (end.event.as_str(), end.data.as_str()),
        ("end", r#"{"status":"cancelled"}"#)
    );
    let mut child = process.take();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_stream_ends_with_its_error_kind_and_message() {
    let _shared = TIMED.read().await;
    let upstream = Server::start(vec![Replay::json(
        401,
        wire("openai-chat/error_http401_invalid_key.json"),
    )])
    .await;
    let server = Running::start(config(&upstream)).await;
    let id = server.start_stream().await;
    let events = server.read_all(&id, None).await;
    let [end] = &events[..] else {
        panic!("{events:?}")
    };
    assert_eq!(end.event, "end");
    let data: Value = serde_json::from_str(&end.data).unwrap();
    assert_eq!(data["status"], json!("failed"));
    assert_eq!(data["kind"], json!("authentication"));
    let message = data["message"].as_str().unwrap();
    assert!(
        message.starts_with("Incorrect API key provided"),
        "{message}"
    );
    assert_eq!(data["error"]["status"], json!(401));
    let v = server.wait_status(&id, "failed").await;
    assert_eq!(v["response"]["error"]["kind"], json!("authentication"));
    // Counted as failed, with no chunk and no first chunk.
    let text = scrape(&server).await;
    for (outcome, n) in [("finished", "0"), ("failed", "1"), ("cancelled", "0")] {
        let series = format!(r#"rivulet_streams_total{{outcome="{outcome}"}}"#);
        assert_eq!(metric(&text, &series), n, "{outcome}");
    }
    assert_eq!(metric(&text, "rivulet_chunks_total"), "0");
    assert_eq!(
        metric(&text, "rivulet_time_to_first_chunk_seconds_count"),
        "0"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_request_fields_reach_the_provider() {
    let _shared = TIMED.read().await;
    let upstream =
        Server::start(vec![transcript(Duration::ZERO), transcript(Duration::ZERO)]).await;
    let server = Running::start(config(&upstream)).await;
    let body = json!({
        "model": "openai/gpt-4o",
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "What is 2+2?"},
            {"role": "assistant", "content": "4"},
            {"role": "user", "content": "And 3+3?"}
        ],
        "max_tokens": 50,
        "temperature": 0.5,
        "tools": [{"name": "add", "description": "Adds", "parameters": {"type": "object"}}],
        "format": {"title": "answer", "type": "object", "properties": {"n": {"type": "integer"}}}
    });
    let (status, _, v) = server.post("/v1/streams", &body.to_string()).await;
    assert_eq!(status, 201, "{v}");
    let id = v["id"].as_str().unwrap();
    server.wait_status(id, "finished").await;
    let sent = upstream.requests()[0].json();
    assert_eq!(sent["model"], json!("gpt-4o"));
    assert_eq!(
        sent["max_tokens"]
            .as_u64()
            .or(sent["max_completion_tokens"].as_u64()),
        Some(50)
    );
    assert_eq!(sent["temperature"], json!(0.5));
    let roles: Vec<&str> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(sent["messages"][0]["content"], json!("Be brief."));
    assert_eq!(sent["tools"][0]["function"]["name"], json!("add"));
    assert_eq!(
        sent["response_format"]["json_schema"]["name"],
        json!("answer")
    );
    // The next request to the same model carries only its own fields.
    let (status, _, v) = server
        .post("/v1/streams", r#"{"model":"openai/gpt-4o","prompt":"hi"}"#)
        .await;
    assert_eq!(status, 201, "{v}");
    server
        .wait_status(v["id"].as_str().unwrap(), "finished")
        .await;
    let sent = upstream.requests()[1].json();
    assert_eq!(sent["model"], json!("gpt-4o"));
    for field in [
        "tools",
        "response_format",
        "temperature",
        "max_tokens",
        "max_completion_tokens",
    ] {
        assert!(sent.get(field).is_none(), "{field} in {sent}");
    }
    assert_eq!(sent["messages"].as_array().unwrap().len(), 1);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_lets_a_stream_finish_within_the_drain() {
    let _shared = TIMED.read().await;
    let lines = expected_lines().await;
    let upstream = Server::start(vec![transcript(Duration::from_millis(20))]).await;
    let seen = events_across_shutdown(&upstream, Duration::from_secs(8)).await;
    assert_chunks(&seen, &lines, 0);
}

/// Starts a stream, attaches, stops the server (with `drain`) once the
/// first event arrived, and returns every event the attacher saw.
async fn events_across_shutdown(upstream: &Server, drain: Duration) -> Vec<Sse> {
    let server = Running::start(ServeConfig {
        drain,
        ..config(upstream)
    })
    .await;
    let id = server.start_stream().await;
    let mut events = server.events(&id, None).await;
    let first = events.next().await.unwrap();
    assert_eq!(first.id, "0");
    let reader = tokio::spawn(async move {
        let mut all = vec![first];
        while let Some(e) = events.next().await {
            all.push(e);
        }
        all
    });
    server.stop().await;
    reader.await.unwrap()
}

/// The value of the exposition line `series` (name and labels).
fn metric(text: &str, series: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
        .to_string()
}

async fn scrape(server: &Running) -> String {
    let r = server
        .req(reqwest::Method::GET, "/metrics")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    r.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_streams_chunks_attachers_and_the_first_chunk() {
    let _shared = TIMED.read().await;
    let lines = expected_lines().await;
    let upstream = Server::start(vec![
        transcript(Duration::ZERO),
        transcript(Duration::from_millis(100)),
    ])
    .await;
    let server = Running::start(ServeConfig {
        token: Some("s3cret".into()),
        ..config(&upstream)
    })
    .await;
    // Without the token: refused, as every route.
    let r = reqwest::get(format!("{}/metrics", server.base))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    let done = server.start_stream().await;
    assert_chunks(&server.read_all(&done, None).await, &lines, 0);
    // A slow one, attached to and running while scraped, then cancelled.
    let slow = server.start_stream().await;
    let mut events = server.events(&slow, None).await;
    assert_eq!(events.next().await.unwrap().id, "0");
    // The finished stream's end is counted once its status shows it.
    let (_, v) = server.get(&format!("/v1/streams/{done}")).await;
    assert_eq!(v["status"], json!("finished"));
    let text = scrape(&server).await;
    assert_eq!(metric(&text, "rivulet_streams_in_flight"), "1");
    assert_eq!(metric(&text, "rivulet_attachers"), "1");
    // The running stream's chunks so far count too: at least the one read.
    let so_far: usize = metric(&text, "rivulet_chunks_total").parse().unwrap();
    assert!(
        so_far > lines.len() && so_far <= 2 * lines.len(),
        "{so_far} chunks, {} in the finished stream",
        lines.len()
    );
    assert_eq!(
        metric(&text, r#"rivulet_streams_total{outcome="finished"}"#),
        "1"
    );
    assert_eq!(
        metric(&text, r#"rivulet_streams_total{outcome="cancelled"}"#),
        "0"
    );

    let (status, _, v) = server.post(&format!("/v1/streams/{slow}/cancel"), "").await;
    assert_eq!(status, 200, "{v}");
    let slow_chunks = v["chunks"].as_u64().unwrap();
    assert_eq!(last_event(events).await.event, "end");
    // The attacher is counted off once the server has closed its response,
    // a moment after the client read `end`.
    let mut text = scrape(&server).await;
    for _ in 0..100 {
        if metric(&text, "rivulet_attachers") == "0" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        text = scrape(&server).await;
    }
    assert_eq!(metric(&text, "rivulet_streams_in_flight"), "0");
    assert_eq!(metric(&text, "rivulet_attachers"), "0");
    // The server's heap in use, on glibc: more than nothing, less than
    // the whole machine.
    if cfg!(all(target_os = "linux", target_env = "gnu")) {
        let heap: u64 = metric(&text, "rivulet_heap_in_use_bytes").parse().unwrap();
        assert!((1..1 << 34).contains(&heap), "{heap}");
    }
    for (outcome, n) in [("finished", "1"), ("failed", "0"), ("cancelled", "1")] {
        let series = format!(r#"rivulet_streams_total{{outcome="{outcome}"}}"#);
        assert_eq!(metric(&text, &series), n, "{outcome}");
    }
    assert_eq!(
        metric(&text, "rivulet_chunks_total"),
        (lines.len() as u64 + slow_chunks).to_string()
    );
    // Both streams had a first chunk; every one within 30 s.
    assert_eq!(
        metric(&text, "rivulet_time_to_first_chunk_seconds_count"),
        "2"
    );
    assert_eq!(
        metric(
            &text,
            r#"rivulet_time_to_first_chunk_seconds_bucket{le="30"}"#
        ),
        "2"
    );
    assert_eq!(
        metric(
            &text,
            r#"rivulet_time_to_first_chunk_seconds_bucket{le="+Inf"}"#
        ),
        "2"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_is_served_and_the_events_take_the_token_in_the_query() {
    let _shared = TIMED.read().await;
    let lines = expected_lines().await;
    let upstream = Server::start(vec![transcript(Duration::ZERO)]).await;
    let server = Running::start(ServeConfig {
        token: Some("s3cret".into()),
        ..config(&upstream)
    })
    .await;
    // The page holds no data: served without the token.
    let r = reqwest::get(format!("{}/", server.base)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "text/html; charset=utf-8");
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<title>rivulet serve</title>"));

    let id = server.start_stream().await;
    let events = |query: &str| {
        let url = format!("{}/v1/streams/{id}/events{query}", server.base);
        async move { reqwest::get(url).await.unwrap() }
    };
    for bad in ["", "?token=", "?token=s3cre", "?token=s3cret2"] {
        assert_eq!(events(bad).await.status().as_u16(), 401, "{bad:?}");
    }
    let r = events("?token=s3cret").await;
    assert_eq!(r.status().as_u16(), 200);
    let read: Vec<Sse> = sse(r).collect().await;
    assert_chunks(&read, &lines, 0);
    // Only the events route takes it: elsewhere it is the header or nothing.
    let r = reqwest::get(format!("{}/v1/streams?token=s3cret", server.base))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    server.stop().await;
}
