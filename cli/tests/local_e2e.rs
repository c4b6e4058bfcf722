//! End to end against the real local model: SmolLM2-135M-Instruct on a
//! llama.cpp `llama-server` that the runtime supervises.
//!
//! These tests need `scripts/setup-local.sh` (the README's test command runs
//! it first). Without it they fail, naming that command: they never skip.
//!
//! They run one at a time (one lock): the server's `/metrics` counters are
//! read before and after a request, and two generations at once would also
//! fight for the machine's two cores. Most share one server; the ones that
//! stop or kill their server start their own runtime (and so their own
//! server).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use rivulet::local::{self, LocalConfig, ProcessHandle};
use rivulet::{Chunk, ErrorKind, Format, Model, Runtime, RuntimeConfig, TimeoutKind};
use serde_json::{json, Value};

// ---------------------------------------------------------------- harness

fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// Fails (never skips) when the setup has not run.
fn require_setup() -> LocalConfig {
    let config = LocalConfig::from_env();
    if let Err(e) = config.check() {
        panic!("the end-to-end tests need the local model: {e}");
    }
    config
}

struct Shared {
    rt: Runtime,
    server: ProcessHandle,
    addr: SocketAddr,
}

/// The runtime (and server) most tests share.
fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        require_setup();
        let rt = Runtime::new(RuntimeConfig::default());
        let server = local::server(&rt).unwrap();
        let addr = server.ready_blocking().expect("llama-server did not start");
        Shared { rt, server, addr }
    })
}

fn model(rt: &Runtime) -> Model {
    Model::new("local")
        .runtime(rt.clone())
        .temperature(0.0)
        .seed(42)
}

/// One HTTP/1.1 request over a plain TCP connection; (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut body = raw[split + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, String::from_utf8(body).unwrap())
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size = std::str::from_utf8(&raw[..eol]).unwrap();
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
}

/// A counter or gauge from the server's `/metrics` (`llamacpp:NAME`).
fn metric(addr: SocketAddr, name: &str) -> f64 {
    let (status, text) = http(addr, "GET", "/metrics", None);
    assert_eq!(status, 200, "{text}");
    let key = format!("llamacpp:{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .unwrap_or_else(|| panic!("no {key} in /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits until the server has no request in flight, so its counters are final.
fn settle(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    std::thread::sleep(Duration::from_millis(300));
    while metric(addr, "requests_processing") > 0.0 {
        assert!(Instant::now() < deadline, "the server kept generating");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn signal(pid: u32, sig: i32) {
    assert_eq!(
        unsafe { libc::kill(pid as i32, sig) },
        0,
        "kill({pid}, {sig})"
    );
}

/// The text deltas of a stream, as they arrived, and how it ended.
fn text_deltas(
    chunks: impl Iterator<Item = Result<rivulet::SharedChunk, rivulet::Error>>,
) -> (Vec<String>, Option<rivulet::Error>) {
    let mut deltas = Vec::new();
    for item in chunks {
        match item {
            Ok(c) => {
                if let Chunk::Text { delta, .. } = &*c {
                    deltas.push(delta.to_string());
                }
            }
            Err(e) => return (deltas, Some(e)),
        }
    }
    (deltas, None)
}

// ------------------------------------------------------------------ tests

#[test]
fn streamed_text_equals_the_non_streamed_text() {
    let _g = serial();
    let s = shared();
    assert_eq!(s.server.status().addr, Some(s.addr));
    let prompt = "Name three colors of the rainbow.";
    // Non-streamed first: a plain POST, no prompt cache, so both requests
    // evaluate the same prompt from scratch.
    let (status, body) = http(
        s.addr,
        "POST",
        "/v1/chat/completions",
        Some(&json!({
            "messages": [{"role": "user", "content": prompt}],
            "temperature": 0.0,
            "seed": 42,
            "max_tokens": 48,
            "stream": false,
            "cache_prompt": false,
        })),
    );
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let expected = body["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!expected.trim().is_empty());

    let response = model(&s.rt).max_tokens(48).stream(prompt);
    let (deltas, error) = text_deltas(response.blocking().chunk_stream());
    assert!(error.is_none(), "{error:?}");
    assert!(deltas.len() > 3, "streamed in pieces: {deltas:?}");
    let done = response.blocking().finish().unwrap();
    assert_eq!(deltas.concat(), expected);
    assert_eq!(done.text(), expected);
    assert_eq!(
        done.usage.output_tokens,
        body["usage"]["completion_tokens"].as_u64()
    );
    // The model is named as rivulet names it (the server's `--alias`),
    // not by the GGUF file's path on this machine.
    let name = require_setup().model_name();
    assert_eq!(done.model, name);
    assert_eq!(body["model"], json!(name));
}

#[test]
fn eight_subscribers_share_one_generation() {
    let _g = serial();
    let s = shared();
    settle(s.addr);
    let predicted = metric(s.addr, "tokens_predicted_total");

    let response = model(&s.rt)
        .max_tokens(40)
        .stream("Give me two tips for learning to cook.");
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let chunks = response.blocking().chunk_stream();
            std::thread::spawn(move || {
                chunks
                    .map(|c| serde_json::to_string(&*c.unwrap()).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let seen: Vec<Vec<String>> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    let done = response.blocking().finish().unwrap();
    assert!(seen[0].len() > 5, "{:?}", seen[0]);
    for other in &seen[1..] {
        assert_eq!(other, &seen[0], "every subscriber saw the same chunks");
    }

    settle(s.addr);
    let grew = metric(s.addr, "tokens_predicted_total") - predicted;
    let out = done.usage.output_tokens.unwrap() as f64;
    eprintln!("fan-out: 8 subscribers, {} chunks each, the server generated {grew} tokens, usage says {out}", seen[0].len());
    assert!(out > 0.0);
    assert_eq!(
        grew, out,
        "the server generated once ({out} tokens), not 8 times"
    );
}

#[test]
fn a_cancel_stops_the_servers_generation() {
    let _g = serial();
    let s = shared();
    let prompt = "Count from 1 to 500, one number per line.";

    // The control: left alone, this prompt runs long.
    let control = model(&s.rt).max_tokens(150).call_blocking(prompt).unwrap();
    assert!(
        control.usage.output_tokens.unwrap() >= 100,
        "the prompt must run long for the test to mean anything: {:?}",
        control.usage
    );

    settle(s.addr);
    let before = metric(s.addr, "tokens_predicted_total");
    let response = model(&s.rt).max_tokens(400).stream(prompt);
    let mut content = 0;
    let mut ended = None;
    for item in response.blocking().chunk_stream() {
        match item {
            Ok(c) if c.is_content() => {
                content += 1;
                if content == 5 {
                    response.cancel();
                }
            }
            Ok(_) => {}
            Err(e) => ended = Some(e),
        }
    }
    assert_eq!(ended.map(|e| e.kind()), Some(ErrorKind::Cancelled));
    let err = response.blocking().finish().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    let partial = response.blocking().snapshot();
    assert!(!partial.text().is_empty());
    std::thread::sleep(Duration::from_secs(1));
    settle(s.addr);
    let grew = metric(s.addr, "tokens_predicted_total") - before;
    eprintln!(
        "cancel: control generated {:?} tokens; cancelled at 5 chunks, the server generated {grew}",
        control.usage.output_tokens
    );
    let control = control.usage.output_tokens.unwrap() as f64;
    assert!(
        grew < 100.0 && grew * 4.0 < control,
        "the server generated {grew} tokens after a cancel at 5 chunks (max_tokens 400)"
    );
}

/// The same through `rivulet serve`: a stream started over HTTP and
/// cancelled by another HTTP client stops the model's generation too (the
/// server's own `/metrics`), and the attached client gets `end: cancelled`.
#[test]
fn a_cancel_through_rivulet_serve_stops_the_servers_generation() {
    use futures::StreamExt;
    let _g = serial();
    let s = shared();
    let prompt = "Count from 1 to 500, one number per line.";
    settle(s.addr);
    let before = metric(s.addr, "tokens_predicted_total");
    let tokio_rt = tokio::runtime::Runtime::new().unwrap();
    let (content, end) = tokio_rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let rt = s.rt.clone();
        let config = rivulet_server::ServeConfig {
            prepare: Some(std::sync::Arc::new(move |m: Model| {
                m.runtime(rt.clone()).temperature(0.0).seed(42)
            })),
            ..rivulet_server::ServeConfig::default()
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(rivulet_server::serve(listener, config, async {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::new();
        let started: Value = client
            .post(format!("{base}/v1/streams"))
            .header("content-type", "application/json")
            .body(json!({"prompt": prompt, "max_tokens": 400}).to_string())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .map(|t| serde_json::from_str(&t).unwrap())
            .unwrap();
        let id = started["id"].as_str().expect("a stream id").to_string();
        let events = client
            .get(format!("{base}/v1/streams/{id}/events"))
            .send()
            .await
            .unwrap();
        let mut frames = events.bytes_stream();
        let (mut buf, mut content, mut end) = (String::new(), 0, None);
        let read = async {
            while let Some(frame) = frames.next().await {
                buf.push_str(&String::from_utf8_lossy(&frame.unwrap()));
                while let Some(at) = buf.find("\n\n") {
                    let event: String = buf.drain(..at + 2).collect();
                    if event.contains("event: text_chunk\n") {
                        content += 1;
                        if content == 5 {
                            // Another client cancels.
                            let r = reqwest::Client::new()
                                .post(format!("{base}/v1/streams/{id}/cancel"))
                                .send()
                                .await
                                .unwrap();
                            assert_eq!(r.status().as_u16(), 200);
                        }
                    } else if event.contains("event: end\n") {
                        end = event
                            .lines()
                            .find_map(|l| l.strip_prefix("data: "))
                            .map(String::from);
                    }
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(120), read)
            .await
            .expect("the events ended");
        let _ = stop.send(());
        server.await.unwrap().unwrap();
        (content, end)
    });
    assert!(content >= 5, "{content} text chunks before the end");
    assert_eq!(end.as_deref(), Some(r#"{"status":"cancelled"}"#));
    std::thread::sleep(Duration::from_secs(1));
    settle(s.addr);
    let grew = metric(s.addr, "tokens_predicted_total") - before;
    eprintln!("cancel through the server at 5 text chunks: the model generated {grew} tokens");
    // Left alone the prompt runs to max_tokens (400; the test above checks
    // that it runs long).
    assert!(
        grew < 100.0,
        "the model generated {grew} tokens after a cancel at 5 chunks"
    );
}

#[test]
fn a_json_schema_request_streams_a_valid_object() {
    let _g = serial();
    let s = shared();
    let schema = json!({
        "type": "object",
        "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
        "required": ["title", "year"]
    });
    let response = model(&s.rt)
        .max_tokens(80)
        .format_schema(Format {
            name: "book".into(),
            schema,
        })
        .stream("Recommend a fantasy book: give its title and the year it was published.");
    let mut prefixes = Vec::new();
    let mut text = String::new();
    for item in response.blocking().chunk_stream() {
        if let Chunk::Text { delta, .. } = &*item.unwrap() {
            text.push_str(delta);
            prefixes.push(text.clone());
        }
    }
    assert!(prefixes.len() > 3, "streamed in pieces: {prefixes:?}");
    for pair in prefixes.windows(2) {
        assert!(pair[1].starts_with(&pair[0]) && pair[1].len() > pair[0].len());
    }
    let done = response.blocking().finish().unwrap();
    assert_eq!(done.text(), text);
    let v: Value =
        serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    assert!(v["title"].is_string(), "{v}");
    assert!(v["year"].is_i64() || v["year"].is_u64(), "{v}");
}

#[test]
fn an_idle_timeout_fires_against_a_stopped_server_keeping_the_partial_text() {
    let _g = serial();
    require_setup();
    let rt = Runtime::new(RuntimeConfig::default());
    let server = local::server(&rt).unwrap();
    server.ready_blocking().unwrap();
    let pid = server.status().pid.unwrap();

    let response = model(&rt)
        .max_tokens(200)
        .idle_timeout(Duration::from_secs(1))
        .stream("Count from 1 to 500, one number per line.");
    let mut received = String::new();
    let mut content = 0;
    let mut stopped_at = None;
    let mut error = None;
    for item in response.blocking().chunk_stream() {
        match item {
            Ok(c) => {
                if let Chunk::Text { delta, .. } = &*c {
                    received.push_str(delta);
                }
                if c.is_content() {
                    content += 1;
                    if content == 5 {
                        signal(pid, libc::SIGSTOP);
                        stopped_at = Some(Instant::now());
                    }
                }
            }
            Err(e) => error = Some(e),
        }
    }
    signal(pid, libc::SIGCONT);
    let error = error.expect("the stream must fail");
    assert!(
        matches!(
            error,
            rivulet::Error::Timeout {
                which: TimeoutKind::Idle,
                ..
            }
        ),
        "{error}"
    );
    let waited = stopped_at.unwrap().elapsed();
    assert!(waited >= Duration::from_millis(500), "{waited:?}");
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    let partial = response.blocking().snapshot();
    assert!(!received.is_empty());
    assert_eq!(partial.text(), received, "the partial text is kept");

    // Resumed, the server serves the next call.
    let next = model(&rt).max_tokens(8).call_blocking("Say hi.").unwrap();
    assert!(!next.text().is_empty());
    assert_eq!(server.status().restarts, 0);
    rt.shutdown();
    assert!(!alive(pid));
}

#[test]
fn a_killed_server_is_a_connection_error_and_is_restarted() {
    let _g = serial();
    require_setup();
    let rt = Runtime::new(RuntimeConfig::default());
    let server = local::server(&rt).unwrap();
    server.ready_blocking().unwrap();
    let pid = server.status().pid.unwrap();

    let response = model(&rt)
        .max_tokens(300)
        .stream("Count from 1 to 500, one number per line.");
    let mut content = 0;
    let mut received = String::new();
    let mut error = None;
    for item in response.blocking().chunk_stream() {
        match item {
            Ok(c) => {
                if let Chunk::Text { delta, .. } = &*c {
                    received.push_str(delta);
                }
                if c.is_content() {
                    content += 1;
                    if content == 5 {
                        signal(pid, libc::SIGKILL);
                    }
                }
            }
            Err(e) => error = Some(e),
        }
    }
    let error = error.expect("the stream must fail");
    assert_eq!(error.kind(), ErrorKind::Connection, "{error}");
    assert_eq!(response.blocking().snapshot().text(), received);

    // The supervisor restarts it; the next call works.
    let next = model(&rt).max_tokens(8).call_blocking("Say hi.").unwrap();
    assert!(!next.text().is_empty());
    let status = server.status();
    assert_eq!(status.restarts, 1, "{status:?}");
    let new_pid = status.pid.unwrap();
    assert_ne!(new_pid, pid);
    assert!(!alive(pid), "the killed server was reaped");
    rt.shutdown();
    assert!(!alive(new_pid));
}

#[test]
fn the_server_starts_on_first_use_and_never_outlives_its_runtime() {
    let _g = serial();
    require_setup();
    let rt = Runtime::new(RuntimeConfig::default());
    assert!(
        rt.process(local::PROCESS_NAME).is_none(),
        "nothing before use"
    );
    let answer = model(&rt).max_tokens(8).call_blocking("Say hi.").unwrap();
    assert!(!answer.text().is_empty());
    let server = rt
        .process(local::PROCESS_NAME)
        .expect("started on first use");
    let pid = server.status().pid.unwrap();
    assert!(alive(pid));
    drop(server);
    drop(rt);
    assert!(!alive(pid), "dropping the runtime kills the server");
}

/// The pids of every running llama-server on the machine.
fn llama_servers() -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let first = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        if first.ends_with(b"llama-server") {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn the_cli_streams_from_the_local_model_by_default_and_leaves_no_server() {
    let _g = serial();
    require_setup();
    let before = llama_servers();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_rivulet"))
        .args([
            "--stats",
            "--max-tokens",
            "24",
            "--temperature",
            "0",
            "Say hello.",
        ])
        .env_remove("RIVULET_MODEL")
        .env_remove("RUST_LOG")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stdout.trim().is_empty());
    assert!(stderr.contains("stats: first chunk"), "{stderr}");
    assert!(!stderr.contains("output ?"), "usage is known: {stderr}");

    // The CLI's server died with it.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let new: Vec<u32> = llama_servers()
            .into_iter()
            .filter(|p| !before.contains(p))
            .collect();
        if new.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "orphaned llama-server: {new:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
