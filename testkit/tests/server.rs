//! The testkit server, driven by a raw TCP client.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use rivulet_testkit::{After, Framing, Generated, Replay, Server, Split};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const REQUEST: &[u8] =
    b"POST /v1/chat/completions?api-version=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k\r\nContent-Length: 9\r\n\r\n{\"a\":\"b\"}";

async fn send(server: &Server) -> TcpStream {
    let mut s = TcpStream::connect(server.addr()).await.unwrap();
    s.write_all(REQUEST).await.unwrap();
    s
}

fn split_response(raw: &[u8]) -> (String, Vec<u8>) {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    (
        String::from_utf8(raw[..end].to_vec()).unwrap(),
        raw[end + 4..].to_vec(),
    )
}

#[tokio::test]
async fn records_the_request_and_replays_the_body() {
    let server = Server::start(vec![
        Replay::sse("data: 1\n\ndata: [DONE]\n\n").split(Split::Lines)
    ])
    .await;
    let mut s = send(&server).await;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let (head, body) = split_response(&raw);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("content-type: text/event-stream"));
    assert!(head.contains("connection: close"));
    assert_eq!(body, b"data: 1\n\ndata: [DONE]\n\n");

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/v1/chat/completions?api-version=1");
    assert_eq!(reqs[0].header("authorization"), Some("Bearer k"));
    assert!(reqs[0].headers.iter().all(|(k, _)| *k == k.to_lowercase()));
    assert_eq!(reqs[0].json()["a"], "b");
    assert_eq!(server.connections(), 1);
    assert_eq!(server.bytes_written(0), body.len() as u64);
    assert!(server.wait_all_closed(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn answers_each_connection_in_turn_and_repeats_the_last() {
    let server = Server::start(vec![
        Replay::json(429, "{}").header("retry-after", "7"),
        Replay::sse("data: [DONE]\n\n"),
    ])
    .await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let mut s = send(&server).await;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        statuses.push(split_response(&raw).0.lines().next().unwrap().to_string());
    }
    assert_eq!(
        statuses,
        [
            "HTTP/1.1 429 Too Many Requests",
            "HTTP/1.1 200 OK",
            "HTTP/1.1 200 OK"
        ]
    );
    assert_eq!(server.connections(), 3);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn bytes_split_with_a_delay_arrive_one_by_one() {
    let server = Server::start(vec![Replay::sse("abcd")
        .split(Split::Bytes)
        .delay(Duration::from_millis(30))])
    .await;
    let mut s = send(&server).await;
    let mut reads = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        reads.push(buf[..n].to_vec());
    }
    // The head comes first (possibly with the first byte), then one byte per read.
    let body_reads: Vec<_> = reads.iter().skip(1).collect();
    assert!(body_reads.len() >= 3, "{reads:?}");
    assert!(body_reads.iter().all(|r| r.len() == 1), "{reads:?}");
}

#[tokio::test]
async fn stall_keeps_the_socket_until_the_client_goes() {
    let server = Server::start(vec![Replay::sse("data: x\n\n").then(After::Stall)]).await;
    let mut s = send(&server).await;
    let mut buf = [0u8; 4096];
    let mut got = Vec::new();
    while !got.ends_with(b"data: x\n\n") {
        let n = s.read(&mut buf).await.unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    // Nothing more comes, and the connection stays open.
    let more = tokio::time::timeout(Duration::from_millis(100), s.read(&mut buf)).await;
    assert!(more.is_err(), "the server should stall");
    assert_eq!(server.open_connections(), 1);
    assert_eq!(
        server.wait_client_closed(Duration::from_millis(10)).await,
        None
    );

    let dropped_at = Instant::now();
    drop(s);
    let noticed = server
        .wait_client_closed(Duration::from_secs(5))
        .await
        .unwrap();
    assert!(noticed >= dropped_at);
    assert!(server.wait_all_closed(Duration::from_secs(5)).await);
    assert_eq!(server.client_closed_at(0), Some(noticed));
}

#[tokio::test]
async fn abort_resets_mid_body() {
    let server = Server::start(vec![Replay::sse("data: x\n\n")
        .header("content-length", "1000")
        .then(After::Abort)])
    .await;
    let mut s = send(&server).await;
    let mut raw = Vec::new();
    let res = s.read_to_end(&mut raw).await;
    // Either the reset surfaces, or the body is visibly short of its length.
    if res.is_ok() {
        let (_, body) = split_response(&raw);
        assert!(body.len() < 1000);
    }
    assert!(server.wait_all_closed(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn generated_stream_blocks_when_the_client_stops_reading() {
    let server = Server::start(vec![Replay::generated(1_000_000, Duration::ZERO, "tok")]).await;
    let mut s = send(&server).await;
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).await.unwrap();
    assert!(n > 0);

    // Stop reading: the socket buffers fill and the writer blocks.
    let mut last = 0;
    let mut stable = 0;
    for _ in 0..200 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = server.bytes_written(0);
        if now == last {
            stable += 1;
            if stable >= 5 {
                break;
            }
        } else {
            stable = 0;
            last = now;
        }
    }
    assert!(stable >= 5, "bytes_written kept growing: {last}");
    let full = 1_000_000 * 100;
    assert!(last < full, "the whole stream was written: {last}");

    drop(s);
    assert!(server
        .wait_client_closed(Duration::from_secs(5))
        .await
        .is_some());
    assert!(server.wait_all_closed(Duration::from_secs(5)).await);
}

#[tokio::test]
async fn generated_stream_ends_with_finish_and_done() {
    let server = Server::start(vec![Replay::generated(3, Duration::from_millis(1), "hi")]).await;
    let mut s = send(&server).await;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let (_, body) = split_response(&raw);
    let body = String::from_utf8(body).unwrap();
    let events: Vec<&str> = body.split("\n\n").filter(|e| !e.is_empty()).collect();
    assert_eq!(events.len(), 5);
    assert!(events[0].contains(r#""delta":{"content":"hi"}"#));
    assert!(events[3].contains(r#""finish_reason":"stop""#));
    assert_eq!(events[4], "data: [DONE]");
    assert_eq!(server.bytes_written(0), body.len() as u64);
}

#[tokio::test]
async fn a_generated_openai_stream_goes_out_as_its_writes() {
    let g = Generated::openai(2_000, Framing::Frames(16 * 1024));
    let server = Server::start(vec![Replay::from_generated(g.clone())]).await;
    let mut s = send(&server).await;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let (head, body) = split_response(&raw);
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert_eq!(body, g.writes().collect::<Vec<_>>().concat());
    assert!(body.ends_with(b"data: [DONE]\n\n\r\n0\r\n\r\n"));
    assert_eq!(server.bytes_written(0), body.len() as u64);
}

/// The server keeps serving while the test thread blocks and the client runs
/// on another thread without any runtime.
#[test]
fn works_without_the_callers_runtime() {
    let server = Server::start_blocking(vec![Replay::sse("data: [DONE]\n\n")]);
    let addr = server.addr();
    let client = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(REQUEST).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        raw
    });
    let raw = client.join().unwrap();
    assert!(raw.ends_with(b"data: [DONE]\n\n"));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn client_that_never_sends_a_request_is_noticed() {
    let server = Server::start(vec![Replay::sse("data: [DONE]\n\n")]).await;
    let s = TcpStream::connect(server.addr()).await.unwrap();
    drop(s);
    assert!(server
        .wait_client_closed(Duration::from_secs(5))
        .await
        .is_some());
    assert!(server.requests().is_empty());
    assert!(server.wait_all_closed(Duration::from_secs(5)).await);
}
