//! A real redis-server of a test's own: on a free loopback port, without
//! persistence, killed when dropped. For the shared log's tests
//! (rivulet-redis, `rivulet serve --redis`).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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
