//! Supervised child processes (a local model server, say).
//!
//! Each supervised process gets a thread of its own with a current-thread
//! tokio runtime, never an arbiter: the arbiters carry the streams' chunks,
//! and supervision waits (on the child, on its health check, on backoff
//! timers and on the end of its output when it failed) must not hold them up.
//! On that thread one task ([`supervisor`]) spawns the command on a free
//! loopback port, polls `GET <health_path>` until the answer is `200`,
//! restarts the process with backoff when it dies, and kills and reaps it
//! when it is stopped or its runtime shuts down or is dropped (the runtime
//! stops the supervisor and joins its thread). Its output is drained by
//! tasks into a tail that error messages quote ([`output`]).
//!
//! On Linux the child also gets `SIGKILL` when the thread that spawned it
//! ends (`PR_SET_PDEATHSIG`): that thread is the supervisor's, which ends
//! only after it killed its child, or with the whole process, so not even a
//! process that exits without dropping its runtime (a `static` runtime,
//! `std::process::exit`) leaves an orphan behind.
//!
//! Nothing is spawned before the first [`ProcessHandle::ready`]. The
//! supervisor knows nothing of what the process is: the root crate gives it
//! a [`ProcessSpec`] (its `local` provider runs `llama-server` this way).

mod child;
mod health;
mod output;
mod spec;
mod status;
mod supervisor;

use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rivulet_core::Error;
use tokio::sync::{mpsc, oneshot};

pub use spec::ProcessSpec;
pub use status::{ProcessPhase, ProcessStatus};

use crate::stats::lock;
use supervisor::{stopped_error, Command, Supervisor};

/// How long the supervisor's thread gives tasks still running when it ends
/// (a log file still being written).
const THREAD_END_GRACE: Duration = Duration::from_millis(500);

/// A handle on a supervised process. A cheap clone; dropping it does not
/// stop the process (the runtime owns it): [`ProcessHandle::stop`] does.
#[derive(Clone)]
pub struct ProcessHandle {
    name: Arc<str>,
    commands: mpsc::UnboundedSender<Command>,
    status: Arc<Mutex<ProcessStatus>>,
    /// The supervisor's thread, joined by the runtime's shutdown.
    thread: Arc<Mutex<Option<JoinHandle<()>>>>,
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
    /// never became healthy → [`Error::Connection`] quoting its last output;
    /// the supervisor was stopped → [`Error::Cancelled`].
    pub async fn ready(&self) -> Result<SocketAddr, Error> {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Command::WaitReady(tx));
        rx.await.unwrap_or_else(|_| Err(stopped_error(&self.name)))
    }

    /// [`ProcessHandle::ready`] for synchronous code (not from inside an
    /// async task).
    pub fn ready_blocking(&self) -> Result<SocketAddr, Error> {
        let (tx, rx) = oneshot::channel();
        let _ = self.commands.send(Command::WaitReady(tx));
        rx.blocking_recv()
            .unwrap_or_else(|_| Err(stopped_error(&self.name)))
    }

    /// What the supervisor knows now: phase, pid, address, restart count.
    pub fn status(&self) -> ProcessStatus {
        lock(&self.status).clone()
    }

    /// Kills the process and stops supervising it. Asynchronous: the kill
    /// happens on the supervisor's thread (use [`ProcessHandle::wait_stopped`]).
    pub fn stop(&self) {
        let _ = self.commands.send(Command::Stop);
    }

    /// Blocks until the supervisor has stopped (its child killed and
    /// reaped), or `timeout` passes; returns whether it stopped.
    pub fn wait_stopped(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.is_stopped() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.status().phase == ProcessPhase::Stopped || self.commands.is_closed()
    }

    /// Waits until the supervisor's thread has ended (after
    /// [`ProcessHandle::stop`]; bounded: the supervisor waits a bounded time
    /// for its killed child). Not from the supervisor's own thread.
    pub(crate) fn join(&self) {
        let thread = lock(&self.thread).take();
        if let Some(thread) = thread {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

/// Starts supervising `spec` on a thread of its own (called by
/// `Runtime::supervise`).
pub(crate) fn start(spec: ProcessSpec) -> ProcessHandle {
    let status = Arc::new(Mutex::new(ProcessStatus::default()));
    let name: Arc<str> = spec.name.as_str().into();
    let (commands, receiver) = mpsc::unbounded_channel();
    let supervisor = Supervisor::new(spec, status.clone());
    let spawned = std::thread::Builder::new()
        .name("rivulet-process".into())
        .spawn(move || {
            // Current-thread: the child must be spawned on this thread, the
            // one whose end `PR_SET_PDEATHSIG` watches.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            match runtime {
                Ok(runtime) => {
                    runtime.block_on(supervisor.run(receiver));
                    runtime.shutdown_timeout(THREAD_END_GRACE);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot build a process supervisor's runtime");
                }
            }
        });
    let thread = match spawned {
        Ok(thread) => Some(thread),
        Err(e) => {
            // The receiver is gone with the closure: `ready` says stopped.
            tracing::warn!(error = %e, "cannot spawn a process supervisor's thread");
            None
        }
    };
    ProcessHandle {
        name,
        commands,
        status,
        thread: Arc::new(Mutex::new(thread)),
    }
}
