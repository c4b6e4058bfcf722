//! The fan-out scenario's floor: the cheapest honest relay of one stream
//! to many SSE clients, run against the same provider and the same clients
//! as `rivulet serve`.
//!
//! Why: the target (3 µs of server CPU per chunk per attacher) is only
//! worth chasing if a server can reach it on this machine at all. Every
//! attacher needs a write per chunk, and on loopback the receiving side's
//! TCP work runs in the writer's system call; this program measures what
//! that costs with nothing else around it.
//!
//! It is as little as a relay can be: one thread; the upstream read and
//! parsed as the SSE client of the other scenarios reads (memchr lines,
//! the chunk's content borrowed from the frame); each text chunk's event
//! (`id`, `event: text_chunk`, `data:` the same JSON fields the clients
//! check) built once, in its HTTP chunk, and written to every attacher in
//! turn with a blocking `write_all`. No tasks, no wake-ups, no log, no
//! replay, no backpressure: a stalled client would stall everyone, which
//! a real server cannot accept, so the figure is a floor, not a rival.
//! It sends only the text chunks and `end`; `rivulet serve` also sends the
//! stream's few other chunks (its finish and usage), one in a hundred of
//! this scenario's events.

use std::io::Write as _;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{raise_fd_limit, send, CompletionChunk, Sse, MODEL};

/// The path the floor's clients ask for (any path gets the stream).
pub(crate) const EVENTS_PATH: &str = "/events";

/// `__fanout_floor PROVIDER_URL N`: starts the stream upstream (the
/// provider holds it until its gate opens), prints `{"addr": …}`, takes
/// `N` SSE clients, then relays the stream to all of them and exits.
pub(crate) fn fanout_floor(args: &[String]) {
    let provider = args[0].trim_start_matches("http://").to_string();
    let n: usize = args[1].parse().expect("attachers");
    raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the floor");
        let body = format!(
            r#"{{"model":"{}","stream":true,"messages":[{{"role":"user","content":"go"}}]}}"#,
            MODEL.trim_start_matches("openai/")
        );
        let upstream = send(&provider, "POST", "/v1/chat/completions", &body)
            .await
            .expect("POST upstream");
        assert_eq!(upstream.status, 200, "upstream status");
        println!(
            "{}",
            serde_json::json!({ "addr": listener.local_addr().expect("addr").to_string() })
        );
        let _ = std::io::stdout().flush();

        let mut attachers = Vec::with_capacity(n);
        while attachers.len() < n {
            let (mut sock, _) = listener.accept().await.expect("accept");
            let _ = sock.set_nodelay(true);
            read_head(&mut sock).await;
            sock.write_all(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\ntransfer-encoding: chunked\r\n\r\n",
            )
            .await
            .expect("response head");
            let sock = sock.into_std().expect("a std socket");
            sock.set_nonblocking(false).expect("blocking writes");
            attachers.push(sock);
        }

        let mut sse = Sse::default();
        let mut id = 0u64;
        let mut frame = Vec::with_capacity(512);
        upstream
            .read_body(|bytes| {
                sse.feed(bytes, &mut |e| {
                    if e.data == b"[DONE]" {
                        return true;
                    }
                    let chunk: CompletionChunk =
                        serde_json::from_slice(e.data).expect("an upstream chunk");
                    let Some(delta) = chunk
                        .choices
                        .first()
                        .and_then(|c| c.delta.as_ref())
                        .and_then(|d| d.content.as_deref())
                        .filter(|text| !text.is_empty())
                    else {
                        return false;
                    };
                    let data = serde_json::json!({"type": "text_chunk", "part": 0, "delta": delta});
                    let event = format!("id: {id}\nevent: text_chunk\ndata: {data}\n\n");
                    id += 1;
                    http_chunk(&mut frame, event.as_bytes());
                    for sock in &mut attachers {
                        sock.write_all(&frame).expect("write an event");
                    }
                    false
                })
            })
            .await
            .expect("the upstream body");
        http_chunk(
            &mut frame,
            b"event: end\ndata: {\"status\":\"finished\"}\n\n",
        );
        frame.extend_from_slice(b"0\r\n\r\n");
        for sock in &mut attachers {
            sock.write_all(&frame).expect("write the end");
        }
    });
}

/// `event` as one chunk of a chunked HTTP body, in `frame`.
fn http_chunk(frame: &mut Vec<u8>, event: &[u8]) {
    frame.clear();
    let _ = write!(frame, "{:x}\r\n", event.len());
    frame.extend_from_slice(event);
    frame.extend_from_slice(b"\r\n");
}

/// Reads a request head (the clients send no body).
async fn read_head(sock: &mut tokio::net::TcpStream) {
    let mut head = Vec::with_capacity(256);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut buf).await.expect("a request head");
        assert!(n > 0, "a client went before its request head");
        head.extend_from_slice(&buf[..n]);
    }
}
