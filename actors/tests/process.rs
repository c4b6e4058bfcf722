//! The process supervisor against real child processes: this test binary
//! itself, re-executed as a tiny health server (see `child_health_server`),
//! and `/bin/sh` for children that fail.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{opts, request, ScriptedProvider, Step};
use rivulet_actors::{Event, Policy, ProcessPhase, ProcessSpec, Runtime, RuntimeConfig};
use rivulet_core::{Chunk, ErrorKind};

const PORT_VAR: &str = "RIVULET_TEST_CHILD_PORT";

/// Not a test when run normally (returns at once). As a child (the port
/// variable set), it serves `200 ok` on every request until it is killed.
#[test]
fn child_health_server() {
    let Ok(port) = std::env::var(PORT_VAR) else {
        return;
    };
    let listener = std::net::TcpListener::bind(("127.0.0.1", port.parse::<u16>().unwrap()))
        .expect("child: bind");
    for conn in listener.incoming() {
        let Ok(mut conn) = conn else { continue };
        let mut buf = [0u8; 1024];
        let mut got = Vec::new();
        while !got.windows(4).any(|w| w == b"\r\n\r\n") {
            match conn.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
        let _ =
            conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    }
}

fn health_child(name: &str) -> ProcessSpec {
    ProcessSpec::new(name, std::env::current_exe().unwrap())
        .args([
            "child_health_server",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PORT_VAR, "{port}")
        .startup_timeout(Duration::from_secs(30))
        .backoff(Duration::from_millis(50))
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn get_health(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn starts_on_first_use_and_is_healthy() {
    let rt = Runtime::new(RuntimeConfig::default());
    let handle = rt.supervise(health_child("first-use"));
    std::thread::sleep(Duration::from_millis(200));
    let status = handle.status();
    assert_eq!(
        status.phase,
        ProcessPhase::Idle,
        "nothing runs before first use"
    );
    assert_eq!(status.pid, None);

    let addr = handle.ready_blocking().unwrap();
    assert!(addr.ip().is_loopback());
    let status = handle.status();
    assert_eq!(status.phase, ProcessPhase::Ready);
    assert_eq!((status.starts, status.restarts), (1, 0));
    let pid = status.pid.unwrap();
    assert!(alive(pid));
    assert!(get_health(addr).starts_with("HTTP/1.1 200"));

    // One process per name: the same handle, the same child.
    let again = rt.supervise(health_child("first-use"));
    assert_eq!(again.ready_blocking().unwrap(), addr);
    assert_eq!(again.status().pid, Some(pid));
    assert_eq!(rt.process("first-use").unwrap().status().pid, Some(pid));

    rt.shutdown();
    assert!(!alive(pid), "shutdown leaves no orphan");
    assert_eq!(handle.status().phase, ProcessPhase::Stopped);
}

#[tokio::test(flavor = "current_thread")]
async fn ready_works_from_async_code() {
    let rt = Runtime::new(RuntimeConfig::default());
    let handle = rt.supervise(health_child("async"));
    let addr = handle.ready().await.unwrap();
    assert_eq!(handle.status().addr, Some(addr));
    let pid = handle.status().pid.unwrap();
    drop(handle);
    drop(rt);
    assert!(!alive(pid), "dropping the runtime kills the child");
}

#[test]
fn a_killed_child_is_restarted() {
    let rt = Runtime::new(RuntimeConfig::default());
    let handle = rt.supervise(health_child("restart"));
    handle.ready_blocking().unwrap();
    let first = handle.status().pid.unwrap();
    unsafe { libc::kill(first as i32, libc::SIGKILL) };

    wait_for("the restart", Duration::from_secs(30), || {
        let s = handle.status();
        s.restarts == 1 && s.phase == ProcessPhase::Ready
    });
    let addr = handle.ready_blocking().unwrap();
    let status = handle.status();
    let second = status.pid.unwrap();
    assert_ne!(first, second);
    assert!(!alive(first), "the dead child was reaped");
    assert_eq!(status.starts, 2);
    assert_eq!(status.last_error.unwrap().kind(), ErrorKind::Connection);
    assert!(get_health(addr).starts_with("HTTP/1.1 200"));

    handle.stop();
    assert!(handle.wait_stopped(Duration::from_secs(10)));
    assert!(!alive(second));
    let err = handle.ready_blocking().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    // A stopped process can be supervised anew under its name.
    let fresh = rt.supervise(health_child("restart"));
    fresh.ready_blocking().unwrap();
    let third = fresh.status().pid.unwrap();
    rt.shutdown();
    assert!(!alive(third));
}

#[test]
fn a_missing_program_is_unsupported_and_names_the_hint() {
    let rt = Runtime::new(RuntimeConfig::default());
    let handle = rt.supervise(
        ProcessSpec::new("missing", "/nonexistent/rivulet-test-server")
            .hint("run scripts/setup-everything.sh"),
    );
    let err = handle.ready_blocking().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("/nonexistent/rivulet-test-server"), "{msg}");
    assert!(msg.contains("scripts/setup-everything.sh"), "{msg}");
    assert_eq!(handle.status().phase, ProcessPhase::Failed);
    rt.shutdown();
}

#[test]
fn a_child_that_exits_fails_with_its_output() {
    let dir = std::env::temp_dir().join(format!("rivulet-process-test-{}", std::process::id()));
    let log = dir.join("exits.log");
    let rt = Runtime::new(RuntimeConfig::default());
    let handle = rt.supervise(
        ProcessSpec::new("exits", "/bin/sh")
            .args(["-c", "echo 'boom on port {port}' >&2; exit 3"])
            .log_file(&log)
            .backoff(Duration::from_millis(10))
            .max_failed_starts(2),
    );
    let err = handle.ready_blocking().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("before it was healthy"), "{msg}");
    assert!(msg.contains("boom on port"), "{msg}");
    let status = handle.status();
    assert_eq!(status.phase, ProcessPhase::Failed);
    assert_eq!((status.starts, status.restarts), (2, 1));
    // The log file holds the last start's output.
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.starts_with("boom on port "), "{logged}");
    assert_eq!(logged.lines().count(), 1, "{logged}");
    rt.shutdown();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn without_a_log_file_errors_quote_the_captured_output() {
    let rt = Runtime::new(RuntimeConfig::default());
    let handle = rt.supervise(
        ProcessSpec::new("exits-piped", "/bin/sh")
            .args([
                "-c",
                "echo out-line; echo 'error: no model at /x.gguf' >&2; exit 1",
            ])
            .max_failed_starts(1),
    );
    let msg = handle.ready_blocking().unwrap_err().to_string();
    assert!(msg.contains("no model at /x.gguf"), "{msg}");
    assert!(msg.contains("out-line"), "{msg}");
    rt.shutdown();
}

#[test]
fn a_child_that_never_gets_healthy_is_killed() {
    let rt = Runtime::new(RuntimeConfig::default());
    let handle = rt.supervise(
        ProcessSpec::new("silent", "/bin/sh")
            .args(["-c", "exec sleep 60"])
            .startup_timeout(Duration::from_millis(400))
            .max_failed_starts(1),
    );
    let started = Instant::now();
    let (tx, rx) = std::sync::mpsc::channel();
    {
        let handle = handle.clone();
        std::thread::spawn(move || tx.send(handle.ready_blocking()));
    }
    wait_for("the child", Duration::from_secs(10), || {
        handle.status().pid.is_some()
    });
    let pid = handle.status().pid.unwrap();
    let err = rx.recv().unwrap().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(err.to_string().contains("within"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!alive(pid), "the unhealthy child was killed and reaped");
    rt.shutdown();
}

/// The supervisor never stalls the streams. One arbiter carries a stream
/// that sends a chunk every 5 ms while the server is killed and restarted,
/// and the first restart fails: the stand-in exits at once, leaving behind
/// a helper that holds its output pipes open (as a wrapper script's
/// background job would), so the supervisor must not wait for their end
/// before it quotes the output. Every gap between two chunks the consumer
/// receives stays small: well under the 500 ms that the supervisor, when it
/// ran on the arbiters, held them for while it waited for that output.
#[test]
fn streams_keep_their_pace_while_a_killed_server_is_restarted() {
    let dir = std::env::temp_dir().join(format!("rivulet-process-pace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let count = dir.join("starts");
    // Start 1 and 3 serve; start 2 fails.
    let script = r#"n=$(cat "$COUNT" 2>/dev/null || echo 0)
echo $((n + 1)) > "$COUNT"
if [ "$n" = 1 ]; then
  sleep 3 &
  echo "error: failed to load the model" >&2
  exit 1
fi
exec "$SERVER" child_health_server --exact --nocapture --test-threads=1"#;
    let rt = Runtime::new(RuntimeConfig {
        arbiters: 1,
        ..RuntimeConfig::default()
    });
    let server = rt.supervise(
        ProcessSpec::new("paced", "/bin/sh")
            .args(["-c", script])
            .env("COUNT", &count)
            .env("SERVER", std::env::current_exe().unwrap())
            .env(PORT_VAR, "{port}")
            .startup_timeout(Duration::from_secs(30))
            .backoff(Duration::from_millis(50)),
    );
    server.ready_blocking().unwrap();
    let first = server.status().pid.unwrap();

    let mut steps = vec![Step::Chunk(Chunk::text_start(0))];
    for i in 0..6000 {
        steps.push(Step::Chunk(Chunk::text(0, format!("w{i} "))));
        steps.push(Step::Sleep(Duration::from_millis(5)));
    }
    let stream = rt.start(ScriptedProvider::new(steps), request(), opts());
    let events = stream.blocking().subscribe(Policy::default());
    let consumer = std::thread::spawn(move || {
        let mut arrivals = Vec::new();
        for event in events {
            if let Event::Chunk(_) = event {
                arrivals.push(Instant::now());
            }
        }
        arrivals
    });

    std::thread::sleep(Duration::from_millis(200));
    unsafe { libc::kill(first as i32, libc::SIGKILL) };
    wait_for("two restarts", Duration::from_secs(30), || {
        let s = server.status();
        s.restarts == 2 && s.phase == ProcessPhase::Ready
    });
    std::thread::sleep(Duration::from_millis(200));
    stream.cancel();
    let arrivals = consumer.join().unwrap();

    let status = server.status();
    assert_eq!(status.starts, 3);
    let why = status.last_error.unwrap().to_string();
    assert!(why.contains("before it was healthy"), "{why}");
    assert!(why.contains("error: failed to load the model"), "{why}");
    assert!(arrivals.len() > 50, "{} chunks", arrivals.len());
    let max_gap = arrivals.windows(2).map(|w| w[1] - w[0]).max().unwrap();
    assert!(
        max_gap < Duration::from_millis(250),
        "a chunk waited {max_gap:?} while the server restarted"
    );
    let second = status.pid.unwrap();
    rt.shutdown();
    assert!(!alive(second));
    let _ = std::fs::remove_dir_all(dir);
}
