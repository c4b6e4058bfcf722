//! Bench support, shared by the bench programs (`bench/src/main.rs`,
//! `server/examples/serve_bench.rs`): what the kernel counts for a process
//! (CPU, resident memory), medians with their range over runs taken
//! round-robin, and a loopback server that writes the time into a stream's
//! first content chunk, so a consumer in another process can tell how long
//! that chunk took to reach it.
//!
//! Linux: the figures come from `/proc` and `wait4`.

use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::{Framing, Generated};

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process on the
/// machine, so a time written by one process can be compared with a time
/// read in another.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the local struct.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// What one consumer saw of a stream.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// Non-empty text deltas.
    pub deltas: u64,
    /// The first text delta, and when it reached the consumer
    /// ([`mono_ns`]).
    pub first: Option<(String, u64)>,
    /// The whole text (a consumer may keep it itself, or take it from
    /// elsewhere at the end).
    pub text: String,
}

impl Seen {
    /// One text delta reached the consumer: an empty one is not counted.
    pub fn delta(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        if self.first.is_none() {
            self.first = Some((text.to_string(), mono_ns()));
        }
        self.text.push_str(text);
        self.deltas += 1;
    }
}

/// Raises this process's soft limit on open files to its hard limit (a
/// bench opens thousands of sockets; children inherit the limit).
pub fn raise_fd_limit() {
    // SAFETY: plain libc calls on a local struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// This process's peak resident set size (`VmHWM`), in KiB.
///
/// Not `ru_maxrss` from `wait4`: Linux carries the high-water mark of the
/// address space a child had before `exec` (a copy of the parent's) into
/// it, so every child would report at least its parent's size.
///
/// # Panics
/// Without `/proc/self/status`.
pub fn peak_rss_kib() -> u64 {
    status_kib("self", "VmHWM").expect("VmHWM in /proc/self/status")
}

/// A `kB` field of `/proc/{pid}/status` (`VmRSS`, `VmHWM`, …); `pid` may be
/// `self`.
pub fn status_kib(pid: &str, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix(field)?
            .strip_prefix(':')?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    })
}

/// The CPU time process `pid` has used so far (every thread, live or
/// gone), user and system, in µs, from `/proc/{pid}/stat`: counted in clock
/// ticks, so to the nearest 10 ms on most kernels. For a process that is
/// not a child (or not yet reaped); a child's whole-life figure is
/// [`run_child`]'s.
pub fn cpu_us(pid: u32) -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which may hold spaces and parentheses:
    // state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let us = |ticks: u64| ticks as f64 * 1e6 / hz as f64;
    (hz > 0).then(|| (us(utime), us(stime)))
}

/// How long the threads of process `pid` (may be `self`) alive now have
/// waited, runnable, for a core, in µs (`/proc/{pid}/task/*/schedstat`):
/// what a machine with too few cores adds to a stream's latency.
pub fn run_delay_us(pid: &str) -> Option<f64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let ns: u64 = tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .sum();
    Some(ns as f64 / 1e3)
}

/// The CPU time this process has used so far (every thread), user and
/// system, in µs (`getrusage`): for a figure over one phase of a process.
pub fn self_cpu_us() -> (f64, f64) {
    // SAFETY: getrusage writes into the local struct.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    (timeval_us(usage.ru_utime), timeval_us(usage.ru_stime))
}

fn timeval_us(t: libc::timeval) -> f64 {
    t.tv_sec as f64 * 1e6 + t.tv_usec as f64
}

/// Waits for the child `child` and returns whether it exited with 0 and
/// the CPU time (user + system) it used over its life, in µs, as `wait4`
/// reports it.
pub fn reap(child: &Child) -> (bool, f64) {
    let (ok, usage) = wait_usage(child);
    (ok, usage.cpu_us)
}

/// What `wait4` reports of a child's whole life (every thread).
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// User + system CPU time, µs.
    pub cpu_us: f64,
    /// Voluntary context switches: a thread gave up its core to wait (on a
    /// socket, a futex: a wake-up handed to another thread).
    pub switches_voluntary: u64,
    /// Involuntary context switches: a thread was preempted.
    pub switches_involuntary: u64,
}

/// Waits for the child `child`: whether it exited with 0, and its
/// [`Usage`].
pub fn wait_usage(child: &Child) -> (bool, Usage) {
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: wait4 on our own child, with valid pointers.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::wait4(pid, &mut status, 0, &mut usage);
        usage
    };
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (
        ok,
        Usage {
            cpu_us: timeval_us(usage.ru_utime) + timeval_us(usage.ru_stime),
            switches_voluntary: usage.ru_nvcsw as u64,
            switches_involuntary: usage.ru_nivcsw as u64,
        },
    )
}

/// What a child of [`run_child`] printed and the CPU it used.
#[derive(Clone, Debug)]
pub struct ChildRun {
    /// The JSON object the child printed on its standard output.
    pub output: serde_json::Value,
    /// User + system CPU time over the child's life, µs (`wait4`).
    pub cpu_us: f64,
    /// The rest of what `wait4` reports: context switches.
    pub usage: Usage,
}

/// Runs this same program with `args` as a child, reads the JSON object it
/// prints and its CPU time.
///
/// # Panics
/// When the child fails or prints something else.
pub fn run_child(args: &[String]) -> ChildRun {
    run_program(&std::env::current_exe().expect("current exe"), args)
}

/// Runs the program `exe` with `args` as a child, reads the JSON object it
/// prints and its CPU time (as [`run_child`] does with this program).
///
/// # Panics
/// When the child cannot start, fails or prints something else.
// The child is reaped by wait4 in `wait_usage` (std's wait() would not give
// rusage).
#[allow(clippy::zombie_processes)]
pub fn run_program(exe: &std::path::Path, args: &[String]) -> ChildRun {
    let mut child = Command::new(exe)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn a child");
    let mut text = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut text)
        .expect("read the child's output");
    let (ok, usage) = wait_usage(&child);
    assert!(ok, "child {args:?} failed");
    ChildRun {
        output: serde_json::from_str(text.trim()).expect("the child's figures"),
        cpu_us: usage.cpu_us,
        usage,
    }
}

/// The runtime of a bench client process: tokio with 2 worker threads, as
/// many as the VM's cores.
pub fn client_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Runs `streams` streams at once, each `stream()` on a task of its own,
/// and checks that each saw exactly `sent`'s text in one delta per chunk;
/// returns the deltas. `who` names the client in a failed check.
///
/// # Panics
/// When a stream panics or saw other text.
pub async fn all_streams<F, Fut>(who: &str, streams: usize, sent: &Generated, stream: F) -> u64
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Seen> + Send + 'static,
{
    let tasks: Vec<_> = (0..streams).map(|_| tokio::spawn(stream())).collect();
    let mut deltas = 0;
    for t in tasks {
        let seen = t.await.expect("stream task");
        assert!(
            sent.is_text(&seen.text),
            "{who}: the text differs from the one sent"
        );
        assert_eq!(seen.deltas, sent.n_chunks as u64, "{who}: deltas");
        deltas += seen.deltas;
    }
    deltas
}

/// What a bench client process prints at its end, for [`run_child`]: the
/// text deltas it received, its wall time and its peak RSS.
pub fn print_figures(deltas: u64, wall: Duration) {
    println!(
        "{}",
        serde_json::json!({"deltas": deltas, "wall_us": wall.as_micros() as u64, "peak_rss_kib": peak_rss_kib()})
    );
}

/// Every run of every one of `n` scenarios, `[scenario][run]`: `f(i)` runs
/// scenario `i` once. The runs go round-robin over the scenarios, so the
/// figures a ratio compares are measured close together: on a shared
/// machine, a slow minute then skews both sides of a ratio rather than one.
pub fn round_robin<T>(runs: usize, n: usize, mut f: impl FnMut(usize) -> T) -> Vec<Vec<T>> {
    let mut all: Vec<Vec<T>> = (0..n).map(|_| Vec::new()).collect();
    for run in 0..runs {
        eprint!("run {}/{runs}: ", run + 1);
        for (i, runs_of_i) in all.iter_mut().enumerate() {
            runs_of_i.push(f(i));
            eprint!(".");
        }
        eprintln!();
    }
    all
}

/// The median of a figure over the runs, and its range.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    /// The middle value, or the mean of the middle two.
    pub median: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
}

impl Stat {
    /// The median and range of `v`.
    ///
    /// # Panics
    /// When `v` is empty.
    pub fn of(mut v: Vec<f64>) -> Stat {
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        Stat {
            median: (v[(n - 1) / 2] + v[n / 2]) / 2.0,
            min: v[0],
            max: v[n - 1],
        }
    }

    /// The range around the median, as a fraction of it.
    pub fn spread(&self) -> f64 {
        (self.max - self.min) / self.median.abs().max(f64::MIN_POSITIVE)
    }

    /// `what: median (min–max) ≤ bound: met` (or `NOT MET`): a target
    /// judged on the median.
    pub fn judge(&self, what: &str, bound: f64, unit: &str, prec: usize) -> String {
        let verdict = if self.median <= bound {
            "met"
        } else {
            "NOT MET"
        };
        format!(
            "{what}: {} ≤ {bound}{unit}: {verdict}",
            self.show(prec, unit)
        )
    }

    /// `what: median (min–max) < bound: met` (or `NOT MET`): a target of
    /// being ahead (strictly below), judged on the median.
    pub fn judge_below(&self, what: &str, bound: f64, unit: &str, prec: usize) -> String {
        let verdict = if self.median < bound {
            "met"
        } else {
            "NOT MET"
        };
        format!(
            "{what}: {} < {bound}{unit}: {verdict}",
            self.show(prec, unit)
        )
    }

    /// `median (min–max)` with `prec` decimals and `unit` after the median.
    pub fn show(&self, prec: usize, unit: &str) -> String {
        format!(
            "{:.prec$}{unit} ({:.prec$}–{:.prec$})",
            self.median, self.min, self.max
        )
    }
}

/// The number after `flag` on the command line, or `default`.
///
/// # Panics
/// When it is not a number.
pub fn arg(flag: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("a number"))
        .unwrap_or(default)
}

/// `n` with a comma every three digits, as the README writes numbers.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let first = match digits.len() % 3 {
        0 => 3,
        r => r,
    };
    let mut out = digits[..first].to_string();
    for group in digits.as_bytes()[first..].chunks(3) {
        out.push(',');
        out.push_str(std::str::from_utf8(group).unwrap_or_default());
    }
    out
}

/// The 1-minute load average, from `/proc/loadavg`.
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// How [`stamp_server`] answers each request: testkit's
/// [`Generated::openai`] stream of `chunks` content chunks, one event per
/// write, whose first content token is the CLOCK_MONOTONIC time
/// ([`mono_ns`]) of its write when `stamp` is set.
#[derive(Clone, Debug)]
pub struct Stamping {
    /// Content chunks per stream.
    pub chunks: usize,
    /// Between the response head and the first write of events: the
    /// client is waiting on the body by then.
    pub lead: Duration,
    /// The role chunk and the first content chunk go out in one write;
    /// then, with `Some(p)`, every other event `p` after the one before
    /// (on a fixed schedule, so sleeps that overshoot do not add up); with
    /// `None`, the rest in one write 1 ms later.
    pub pace: Option<Duration>,
    /// Write the first content token as the time of its write (decimal
    /// nanoseconds) instead of its text.
    pub stamp: bool,
    /// When set, the first events wait (after `lead`) until it holds
    /// `true`.
    pub gate: Option<watch::Receiver<bool>>,
}

/// A running [`stamp_server`].
#[derive(Clone, Debug)]
pub struct StampServer {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Requests read whole so far.
    pub requests: Arc<AtomicUsize>,
}

/// Starts a loopback server on the current tokio runtime that answers
/// every request as `how` says and closes the connection after each
/// response, so every client connects the same way.
///
/// # Panics
/// When it cannot bind 127.0.0.1.
pub async fn stamp_server(how: Stamping) -> StampServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the stamping server");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = requests.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let _ = sock.set_nodelay(true);
            let (how, counted) = (how.clone(), counted.clone());
            tokio::spawn(async move {
                if read_request(&mut sock).await.is_none() {
                    return;
                }
                counted.fetch_add(1, Ordering::SeqCst);
                respond(&mut sock, how).await;
            });
        }
    });
    StampServer { url, requests }
}

/// Reads a whole request (head and body), so closing the socket after the
/// response cannot reset it. `None` when the client goes first.
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<()> {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    let body_len = loop {
        let n = sock.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        req.extend_from_slice(&buf[..n]);
        if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            break (end + 4 + len).saturating_sub(req.len());
        }
    };
    let mut left = body_len;
    while left > 0 {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => left = left.saturating_sub(n),
        }
    }
    Some(())
}

async fn respond(sock: &mut tokio::net::TcpStream, how: Stamping) {
    let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n";
    if sock.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    tokio::time::sleep(how.lead).await;
    if let Some(mut gate) = how.gate.clone() {
        if gate.wait_for(|open| *open).await.is_err() {
            return;
        }
    }
    // testkit's generated stream, its first token replaced by the stamp
    // (the tokens listed out, so that the cycle of tokens does not bring
    // the stamp back).
    let mut g = Generated::openai(how.chunks, Framing::Events);
    if how.stamp {
        let stamp = mono_ns().to_string();
        g.tokens = (0..how.chunks.max(1))
            .map(|i| match i {
                0 => stamp.clone(),
                _ => g.token(i).to_string(),
            })
            .collect();
    }
    let mut writes = g.writes();
    let first: Vec<u8> = writes.by_ref().take(2).flatten().collect();
    if sock.write_all(&first).await.is_err() {
        return;
    }
    match how.pace {
        None => {
            // The first token comes alone, as a model's does.
            tokio::time::sleep(Duration::from_millis(1)).await;
            let rest: Vec<u8> = writes.flatten().collect();
            let _ = sock.write_all(&rest).await;
        }
        Some(pace) => {
            let mut next = tokio::time::Instant::now();
            for piece in writes {
                next += pace;
                tokio::time::sleep_until(next).await;
                if sock.write_all(&piece).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = sock.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_is_the_median_and_range() {
        let s = Stat::of(vec![3.0, 1.0, 2.0, 10.0]);
        assert_eq!((s.median, s.min, s.max), (2.5, 1.0, 10.0));
        assert_eq!(s.show(1, " µs"), "2.5 µs (1.0–10.0)");
        assert_eq!(Stat::of(vec![4.0, 1.0, 2.0]).median, 2.0);
        assert_eq!(
            s.judge("x", 3.0, " µs", 1),
            "x: 2.5 µs (1.0–10.0) ≤ 3 µs: met"
        );
        assert_eq!(s.judge("x", 2.0, "×", 0), "x: 2× (1–10) ≤ 2×: NOT MET");
        assert_eq!(
            s.judge_below("x", 3.0, "×", 1),
            "x: 2.5× (1.0–10.0) < 3×: met"
        );
        assert_eq!(
            s.judge_below("x", 2.5, "×", 1),
            "x: 2.5× (1.0–10.0) < 2.5×: NOT MET"
        );
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(7), "7");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn own_status_and_cpu_are_readable() {
        assert!(peak_rss_kib() > 0);
        assert!(status_kib("self", "VmRSS").is_some());
        assert!(cpu_us(std::process::id()).is_some());
        let (user, sys) = self_cpu_us();
        assert!(user + sys > 0.0);
        assert!(run_delay_us("self").is_some());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_first_token_is_the_time_of_its_write_and_only_it() {
        let before = mono_ns();
        let server = stamp_server(Stamping {
            chunks: 40,
            lead: Duration::ZERO,
            pace: Some(Duration::from_micros(100)),
            stamp: true,
            gate: None,
        })
        .await;
        let addr = server.url.trim_start_matches("http://").to_string();
        let mut sock = tokio::net::TcpStream::connect(addr).await.unwrap();
        sock.write_all(b"POST / HTTP/1.1\r\ncontent-length: 2\r\n\r\n{}")
            .await
            .unwrap();
        let mut body = Vec::new();
        sock.read_to_end(&mut body).await.unwrap();
        let body = String::from_utf8(body).unwrap();
        let contents: Vec<String> = body
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .filter_map(|v| {
                v["choices"][0]["delta"]["content"]
                    .as_str()
                    .map(String::from)
            })
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(contents.len(), 40);
        let stamp: u64 = contents[0].parse().unwrap();
        assert!(stamp >= before && stamp <= mono_ns());
        let g = Generated::openai(40, Framing::Events);
        assert_eq!(
            contents[1..],
            (1..40).map(|i| g.token(i).to_string()).collect::<Vec<_>>()
        );
        assert_eq!(server.requests.load(Ordering::SeqCst), 1);
    }
}
