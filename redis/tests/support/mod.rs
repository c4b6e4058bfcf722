//! Test support: a real redis-server of the test's own, and the provider
//! side (real recorded transcripts served by the testkit's loopback server).

#![allow(dead_code)] // each test binary uses its part

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::StreamExt;
use rivulet::{Event, Model, Outcome, Policy, StreamResponse};
use rivulet_redis::{Follower, RemoteEvent};

/// A redis-server on a free loopback port, without persistence, stopped
/// (SIGKILL) when dropped.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts one on a free port.
    ///
    /// # Panics
    /// When `redis-server` is not installed (with how to install it), or
    /// does not answer `PING` within 10 s.
    pub fn start() -> RedisServer {
        for _ in 0..5 {
            let port = free_port();
            if let Some(server) = RedisServer::start_on(port) {
                return server;
            }
        }
        panic!("redis-server did not start on any of 5 free ports");
    }

    /// Starts one on `port`; `None` when it exits at once (port taken).
    fn start_on(port: u16) -> Option<RedisServer> {
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--dir", &std::env::temp_dir().to_string_lossy()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
                "redis-server is not installed; these tests need a real one: \
                 apt-get install redis-server (scripts/setup-tests.sh does it)"
            ),
            Err(e) => panic!("cannot run redis-server: {e}"),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return None;
            }
            if ping(port) {
                return Some(RedisServer {
                    child: Some(child),
                    port,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server on port {port} did not answer PING within 10 s");
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL, as a crash) and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again, empty, on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let mut again = RedisServer::start_on(self.port)
            .unwrap_or_else(|| panic!("redis-server did not restart on port {}", self.port));
        self.child = again.child.take();
    }

    /// Sends one inline command and returns the raw reply (`"+OK\r\n"`).
    pub fn command(&self, command: &str) -> String {
        raw(self.port, &format!("{command}\r\n"))
    }

    /// `INFO commandstats`: calls of `command` (`"xadd"`) so far.
    pub fn calls(&self, command: &str) -> u64 {
        let info = raw(self.port, "INFO commandstats\r\n");
        let prefix = format!("cmdstat_{command}:calls=");
        info.lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local addr").port()
}

fn ping(port: u16) -> bool {
    raw(port, "PING\r\n").starts_with("+PONG")
}

/// Sends one inline command and reads its reply: a simple `+…` line or
/// one `$N` bulk string (empty if there is no server).
fn raw(port: u16, command: &str) -> String {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(command.as_bytes()).is_err() {
        return String::new();
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while !complete(&out) {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `out` holds a whole reply: a line, or `$N\r\n` and N bytes
/// and `\r\n`.
fn complete(out: &[u8]) -> bool {
    let Some(line_end) = out.windows(2).position(|w| w == b"\r\n") else {
        return false;
    };
    if out[0] != b'$' {
        return true;
    }
    match std::str::from_utf8(&out[1..line_end])
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
    {
        Some(len) => out.len() >= line_end + 2 + len + 2,
        None => true,
    }
}

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
