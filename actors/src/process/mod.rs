//! [`ProcessSupervisor`]: a child process (a local model server, say)
//! supervised as one more actor of the runtime.
//!
//! The actor spawns its command on a free loopback port, polls
//! `GET <health_path>` over a plain TCP connection until the answer is
//! `200`, restarts the process with backoff when it dies, and kills (and
//! reaps) it when it is stopped, when its runtime shuts down or is dropped:
//! the child lives in a guard whose `Drop` kills it, and the guard lives in
//! the actor, which dies with its arbiter. On Linux the child also gets
//! `SIGKILL` if the thread that spawned it ends (`PR_SET_PDEATHSIG`), so not
//! even a process that exits without dropping its runtime (a `static`
//! runtime, `std::process::exit`) leaves an orphan behind.
//!
//! Nothing is spawned before the first [`ProcessHandle::ready`]. The
//! actor knows nothing of what the process is: the root crate gives it a
//! [`ProcessSpec`] (its `local` provider runs `llama-server` this way).

mod spec;
mod status;

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix::fut::{wrap_future, ActorFutureExt};
use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Message, SpawnHandle};
use rivulet_core::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

pub use spec::ProcessSpec;
pub use status::{ProcessPhase, ProcessStatus};

use crate::stats::lock;

/// How often the supervisor looks at its child (exit, health while starting).
const POLL: Duration = Duration::from_millis(100);
/// One health request may take this long.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);
/// How many lines of the child's log an error message quotes.
const LOG_TAIL_LINES: usize = 12;

type Waiter = oneshot::Sender<Result<SocketAddr, Error>>;

/// To the supervisor: answer with the address once the process is healthy
/// (starting it if needed).
struct WaitReady(Waiter);

impl Message for WaitReady {
    type Result = ();
}

/// To the supervisor: kill the process and stop.
struct Stop;

impl Message for Stop {
    type Result = ();
}

/// A handle on a supervised process. A cheap clone; dropping it does not
/// stop the process (the runtime owns it): [`ProcessHandle::stop`] does.
#[derive(Clone)]
pub struct ProcessHandle {
    name: Arc<str>,
    addr: actix::Addr<ProcessSupervisor>,
    status: Arc<Mutex<ProcessStatus>>,
}

impl fmt::Debug for ProcessHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessHandle")
            .field("name", &self.name)
            .field("status", &self.status())
            .finish()
    }
}

impl ProcessHandle {
    /// Waits until the process answers its health check and returns its
    /// loopback address; starts it on first use and after it gave up.
    /// Works from any async runtime.
    ///
    /// Errors: the program cannot be spawned → [`Error::Unsupported`] (the
    /// message names the program and the spec's hint); it kept exiting or
    /// never became healthy → [`Error::Connection`] quoting its log; the
    /// supervisor was stopped → [`Error::Cancelled`].
    pub async fn ready(&self) -> Result<SocketAddr, Error> {
        let (tx, rx) = oneshot::channel();
        self.addr.do_send(WaitReady(tx));
        rx.await.unwrap_or_else(|_| Err(self.gone()))
    }

    /// [`ProcessHandle::ready`] for synchronous code (not from inside an
    /// async task).
    pub fn ready_blocking(&self) -> Result<SocketAddr, Error> {
        let (tx, rx) = oneshot::channel();
        self.addr.do_send(WaitReady(tx));
        rx.blocking_recv().unwrap_or_else(|_| Err(self.gone()))
    }

    fn gone(&self) -> Error {
        let mut e = Error::cancelled();
        e.context_mut().message = format!("the {} supervisor has stopped", self.name);
        e
    }

    /// What the supervisor knows now: phase, pid, address, restart count.
    pub fn status(&self) -> ProcessStatus {
        lock(&self.status).clone()
    }

    /// Kills the process and stops supervising it. Asynchronous: the kill
    /// happens on the supervisor's thread (use [`ProcessHandle::wait_stopped`]).
    pub fn stop(&self) {
        self.addr.do_send(Stop);
    }

    /// Blocks until the supervisor has stopped (its child killed and
    /// reaped), or `timeout` passes; returns whether it stopped.
    pub fn wait_stopped(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.status().phase == ProcessPhase::Stopped || !self.addr.connected() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.status().phase == ProcessPhase::Stopped || !self.addr.connected()
    }
}

/// Starts a supervisor on `arbiter` (called by `Runtime::supervise`).
pub(crate) fn start(spec: ProcessSpec, arbiter: &actix_rt::ArbiterHandle) -> ProcessHandle {
    let status = Arc::new(Mutex::new(ProcessStatus::default()));
    let name: Arc<str> = spec.name.as_str().into();
    let actor = ProcessSupervisor {
        spec,
        status: status.clone(),
        child: None,
        tail: Tail::default(),
        generation: 0,
        checking: false,
        failed_starts: 0,
        restart_timer: None,
        waiters: Vec::new(),
    };
    let addr = ProcessSupervisor::start_in_arbiter(arbiter, move |_| actor);
    ProcessHandle { name, addr, status }
}

/// A running child. Dropping it kills the process and reaps it.
struct Running {
    child: Child,
    addr: SocketAddr,
    spawned: Instant,
    healthy: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// See the module docs.
pub struct ProcessSupervisor {
    spec: ProcessSpec,
    status: Arc<Mutex<ProcessStatus>>,
    child: Option<Running>,
    /// The last lines the current child wrote (when there is no log file).
    tail: Tail,
    /// Bumped at each spawn, so a health answer from an earlier child is ignored.
    generation: u64,
    checking: bool,
    failed_starts: u32,
    restart_timer: Option<SpawnHandle>,
    waiters: Vec<Waiter>,
}

impl Actor for ProcessSupervisor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.run_interval(POLL, |act, ctx| act.poll(ctx));
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        self.shut();
    }
}

impl Drop for ProcessSupervisor {
    fn drop(&mut self) {
        // The arbiter went away without `stopped` (runtime shutdown): the
        // child guard kills the process as it is dropped.
        self.shut();
    }
}

impl Handler<WaitReady> for ProcessSupervisor {
    type Result = ();

    fn handle(&mut self, msg: WaitReady, ctx: &mut Context<Self>) {
        match self.phase() {
            ProcessPhase::Ready => {
                let addr = self.child.as_ref().map(|c| c.addr);
                match addr {
                    Some(addr) => {
                        let _ = msg.0.send(Ok(addr));
                    }
                    None => {
                        self.waiters.push(msg.0);
                        self.spawn(ctx);
                    }
                }
            }
            ProcessPhase::Stopped => {
                let _ = msg.0.send(Err(stopped_error(&self.spec)));
            }
            ProcessPhase::Idle | ProcessPhase::Failed => {
                self.waiters.push(msg.0);
                self.failed_starts = 0;
                self.spawn(ctx);
            }
            ProcessPhase::Starting | ProcessPhase::Backoff => self.waiters.push(msg.0),
        }
    }
}

impl Handler<Stop> for ProcessSupervisor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        self.shut();
        ctx.stop();
    }
}

fn stopped_error(spec: &ProcessSpec) -> Error {
    let mut e = Error::cancelled();
    e.context_mut().message = format!("the {} supervisor has stopped", spec.name);
    e
}

impl ProcessSupervisor {
    fn phase(&self) -> ProcessPhase {
        lock(&self.status).phase
    }

    fn set(&self, f: impl FnOnce(&mut ProcessStatus)) {
        f(&mut lock(&self.status));
    }

    /// Kills the child, fails the waiters, marks the status stopped.
    fn shut(&mut self) {
        let was = self.phase();
        self.child = None; // kills and reaps
        if was != ProcessPhase::Stopped {
            tracing::debug!(process = %self.spec.name, "supervisor stopped");
        }
        let err = stopped_error(&self.spec);
        for w in self.waiters.drain(..) {
            let _ = w.send(Err(err.clone()));
        }
        self.set(|s| {
            s.phase = ProcessPhase::Stopped;
            s.pid = None;
        });
    }

    fn answer(&mut self, result: Result<SocketAddr, Error>) {
        for w in self.waiters.drain(..) {
            let _ = w.send(result.clone());
        }
    }

    fn spawn(&mut self, ctx: &mut Context<Self>) {
        if let Some(t) = self.restart_timer.take() {
            ctx.cancel_future(t);
        }
        self.child = None;
        self.generation += 1;
        self.checking = false;
        let spec = &self.spec;
        let restart = lock(&self.status).starts > 0;

        let spawned = free_port().and_then(|port| {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let mut cmd = Command::new(&spec.program);
            let port_s = port.to_string();
            let with_port = |s: &OsString| match s.to_str() {
                Some(t) if t.contains("{port}") => OsString::from(t.replace("{port}", &port_s)),
                _ => s.clone(),
            };
            cmd.args(spec.args.iter().map(with_port));
            for (k, v) in &spec.env {
                cmd.env(k, with_port(v));
            }
            cmd.stdin(Stdio::null());
            match &spec.log_file {
                Some(path) => {
                    if let Some(dir) = path.parent() {
                        let _ = std::fs::create_dir_all(dir);
                    }
                    let out = File::create(path)?;
                    cmd.stdout(out.try_clone()?).stderr(out);
                }
                None => {
                    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
                }
            }
            die_with_parent(&mut cmd);
            let mut child = cmd.spawn()?;
            let tail = Tail::default();
            if let Some(out) = child.stdout.take() {
                tail.drain(out);
            }
            if let Some(err) = child.stderr.take() {
                tail.drain(err);
            }
            Ok((child, addr, tail))
        });

        match spawned {
            Ok((child, addr, tail)) => {
                self.tail = tail;
                let pid = child.id();
                tracing::info!(process = %spec.name, pid, %addr, restart, "spawned");
                self.child = Some(Running {
                    child,
                    addr,
                    spawned: Instant::now(),
                    healthy: false,
                });
                self.set(|s| {
                    s.phase = ProcessPhase::Starting;
                    s.pid = Some(pid);
                    s.addr = Some(addr);
                    if s.starts > 0 {
                        s.restarts += 1;
                    }
                    s.starts += 1;
                });
            }
            Err(e) => {
                let err = Error::unsupported(spec.with_hint(format!(
                    "cannot start {} ({}): {e}",
                    spec.name,
                    spec.program.display()
                )));
                tracing::warn!(process = %spec.name, error = %err, "spawn failed");
                self.set(|s| {
                    s.phase = ProcessPhase::Failed;
                    s.pid = None;
                    s.last_error = Some(err.clone());
                });
                self.answer(Err(err));
            }
        }
    }

    fn poll(&mut self, ctx: &mut Context<Self>) {
        let Some(running) = self.child.as_mut() else {
            return;
        };
        let exited = running.child.try_wait().ok().flatten();
        let healthy = running.healthy;
        let age = running.spawned.elapsed();
        let addr = running.addr;
        match (exited, healthy) {
            (Some(status), true) => self.died(status, ctx),
            (Some(status), false) => {
                self.start_failed(format!("exited ({status}) before it was healthy"), ctx)
            }
            (None, true) => {}
            (None, false) if age > self.spec.startup_timeout => self.start_failed(
                format!(
                    "did not answer GET {} with 200 within {:?}",
                    self.spec.health_path, self.spec.startup_timeout
                ),
                ctx,
            ),
            (None, false) => {
                if !self.checking {
                    self.checking = true;
                    let generation = self.generation;
                    let check = check_health(addr, self.spec.health_path.clone());
                    ctx.spawn(wrap_future(check).map(move |ok, act: &mut Self, _ctx| {
                        if act.generation != generation {
                            return;
                        }
                        act.checking = false;
                        if ok {
                            act.became_ready();
                        }
                    }));
                }
            }
        }
    }

    fn became_ready(&mut self) {
        let Some(running) = self.child.as_mut() else {
            return;
        };
        running.healthy = true;
        let addr = running.addr;
        tracing::info!(
            process = %self.spec.name,
            %addr,
            startup_ms = running.spawned.elapsed().as_millis() as u64,
            "healthy"
        );
        self.failed_starts = 0;
        self.set(|s| s.phase = ProcessPhase::Ready);
        self.answer(Ok(addr));
    }

    /// A healthy child exited: restart it after the first backoff.
    fn died(&mut self, status: ExitStatus, ctx: &mut Context<Self>) {
        let message = format!("{} died ({status})", self.spec.name);
        tracing::warn!(process = %self.spec.name, %status, "died; restarting");
        let err = Error::connection(message);
        self.child = None;
        self.set(|s| {
            s.pid = None;
            s.last_error = Some(err);
        });
        self.schedule_restart(self.spec.backoff, ctx);
    }

    fn start_failed(&mut self, why: String, ctx: &mut Context<Self>) {
        self.child = None; // kill it if it still runs
        self.failed_starts += 1;
        let mut message = format!("{} {why}", self.spec.name);
        let tail = match &self.spec.log_file {
            Some(path) => log_tail(path),
            None => self.tail.text(),
        };
        if let Some(tail) = tail {
            message.push_str(&format!("; its last output:\n{tail}"));
        }
        let err = Error::connection(self.spec.with_hint(message));
        tracing::warn!(process = %self.spec.name, error = %err, attempt = self.failed_starts, "start failed");
        self.set(|s| {
            s.pid = None;
            s.last_error = Some(err.clone());
        });
        if self.failed_starts >= self.spec.max_failed_starts {
            self.set(|s| s.phase = ProcessPhase::Failed);
            self.answer(Err(err));
        } else {
            let factor = 1u32 << (self.failed_starts - 1).min(16);
            let delay = (self.spec.backoff * factor).min(self.spec.max_backoff);
            self.schedule_restart(delay, ctx);
        }
    }

    fn schedule_restart(&mut self, delay: Duration, ctx: &mut Context<Self>) {
        self.set(|s| s.phase = ProcessPhase::Backoff);
        self.restart_timer = Some(ctx.run_later(delay, |act, ctx| {
            act.restart_timer = None;
            if act.phase() == ProcessPhase::Backoff {
                act.spawn(ctx);
            }
        }));
    }
}

/// The last lines a child wrote to its pipes. Reader threads drain the
/// pipes (so the child never blocks on a full one) and end with the child.
#[derive(Clone, Default)]
struct Tail {
    lines: Arc<Mutex<VecDeque<String>>>,
    /// Reader threads still running.
    readers: Arc<std::sync::atomic::AtomicUsize>,
}

impl Tail {
    fn drain(&self, pipe: impl Read + Send + 'static) {
        use std::sync::atomic::Ordering;
        let lines = self.lines.clone();
        let readers = self.readers.clone();
        readers.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name("rivulet-child-output".into())
            .spawn(move || {
                use std::io::BufRead;
                let mut reader = std::io::BufReader::new(pipe);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(b'\n', &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {}
                    }
                    let line = String::from_utf8_lossy(&buf).trim_end().to_string();
                    if line.is_empty() {
                        continue;
                    }
                    let mut g = lock(&lines);
                    if g.len() == LOG_TAIL_LINES {
                        g.pop_front();
                    }
                    g.push_back(line);
                }
                readers.fetch_sub(1, Ordering::SeqCst);
            });
        if let Err(e) = spawned {
            self.readers.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(error = %e, "cannot spawn a thread to read a child's output");
        }
    }

    /// The captured lines, once the readers have reached the end of the
    /// pipes of a child that is gone (waiting at most half a second).
    fn text(&self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_millis(500);
        while self.readers.load(std::sync::atomic::Ordering::SeqCst) > 0
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        let g = lock(&self.lines);
        (!g.is_empty()).then(|| g.iter().cloned().collect::<Vec<_>>().join("\n"))
    }
}

/// Asks the kernel for a free loopback port. Another process may take it
/// before the child binds it; the child then exits and the next start picks
/// another port.
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the closure runs in the forked child before exec and only
    // calls async-signal-safe functions (prctl, getppid, _exit).
    let parent = std::process::id() as libc::pid_t;
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died between fork and prctl.
            if libc::getppid() != parent {
                libc::_exit(1);
            }
            Ok(())
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_: &mut Command) {}

/// `GET path` over a plain TCP connection; whether the status is 200.
async fn check_health(addr: SocketAddr, path: String) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = Vec::with_capacity(64);
        let mut buf = [0u8; 64];
        while !head.contains(&b'\n') && head.len() < 1024 {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        let mut parts = line.split_whitespace();
        let version = parts.next()?;
        let code = parts.next()?;
        Some(version.starts_with("HTTP/") && code == "200")
    };
    matches!(
        tokio::time::timeout(HEALTH_TIMEOUT, attempt).await,
        Ok(Some(true))
    )
}

/// The last lines of a log file (at most 8 KiB of it).
fn log_tail(path: &std::path::Path) -> Option<String> {
    let mut f = File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(8192))).ok()?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: VecDeque<&str> = VecDeque::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        if lines.len() == LOG_TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }
    if lines.is_empty() {
        return None;
    }
    Some(lines.into_iter().collect::<Vec<_>>().join("\n"))
}
