//! The supervision loop: one task that owns the child, its state and the
//! callers waiting for it, and reacts to one event at a time (a command
//! from a handle, the child's exit, its health check passing, the startup
//! timeout, the end of a backoff).

use std::net::SocketAddr;
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rivulet_core::Error;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};

use super::child::RunningChild;
use super::health;
use super::spec::ProcessSpec;
use super::status::{ProcessPhase, ProcessStatus};
use crate::stats::lock;

pub(super) type Waiter = oneshot::Sender<Result<SocketAddr, Error>>;

/// From a handle to the supervisor.
pub(super) enum Command {
    /// Answer with the address once the process is healthy (starting it if
    /// needed).
    WaitReady(Waiter),
    /// Kill the process and stop.
    Stop,
}

/// The child, as far as the loop is concerned.
enum ChildState {
    /// No child: not started yet, or given up (the status says which).
    Waiting,
    /// Spawned; healthy by `deadline` or it counts as a failed start.
    Starting {
        child: RunningChild,
        deadline: Instant,
    },
    Ready(RunningChild),
    /// Restarts at `until`.
    Backoff {
        until: Instant,
    },
}

enum SupervisorEvent {
    Command(Command),
    /// Every handle is gone (the runtime dropped without stopping it).
    Orphaned,
    Exited(Option<ExitStatus>),
    Healthy,
    StartTimedOut,
    BackoffOver,
}

pub(super) struct Supervisor {
    spec: ProcessSpec,
    status: Arc<Mutex<ProcessStatus>>,
    state: ChildState,
    /// Consecutive failed starts.
    failed_starts: u32,
    waiters: Vec<Waiter>,
}

impl Supervisor {
    pub(super) fn new(spec: ProcessSpec, status: Arc<Mutex<ProcessStatus>>) -> Self {
        Supervisor {
            spec,
            status,
            state: ChildState::Waiting,
            failed_starts: 0,
            waiters: Vec::new(),
        }
    }

    /// Supervises until stopped; the child is killed and reaped on return.
    pub(super) async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            match self.next_event(&mut commands).await {
                SupervisorEvent::Command(Command::WaitReady(waiter)) => {
                    self.wait_ready(waiter).await
                }
                SupervisorEvent::Command(Command::Stop) | SupervisorEvent::Orphaned => break,
                SupervisorEvent::Exited(status) => self.exited(status).await,
                SupervisorEvent::Healthy => self.became_ready(),
                SupervisorEvent::StartTimedOut => {
                    let why = format!(
                        "did not answer GET {} with 200 within {:?}",
                        self.spec.health_path, self.spec.startup_timeout
                    );
                    self.start_failed(why).await;
                }
                SupervisorEvent::BackoffOver => self.spawn().await,
            }
        }
        self.shut().await;
    }

    async fn next_event(
        &mut self,
        commands: &mut mpsc::UnboundedReceiver<Command>,
    ) -> SupervisorEvent {
        let command = async {
            commands
                .recv()
                .await
                .map_or(SupervisorEvent::Orphaned, SupervisorEvent::Command)
        };
        match &mut self.state {
            ChildState::Waiting => command.await,
            // A command cancels a health check in flight; the next round
            // starts a new one at once.
            ChildState::Starting { child, deadline } => {
                let addr = child.addr;
                tokio::select! {
                    event = command => event,
                    status = child.exited() => SupervisorEvent::Exited(status),
                    () = health::until_healthy(addr, &self.spec.health_path) => SupervisorEvent::Healthy,
                    () = sleep_until(*deadline) => SupervisorEvent::StartTimedOut,
                }
            }
            ChildState::Ready(child) => tokio::select! {
                event = command => event,
                status = child.exited() => SupervisorEvent::Exited(status),
            },
            ChildState::Backoff { until } => tokio::select! {
                event = command => event,
                () = sleep_until(*until) => SupervisorEvent::BackoffOver,
            },
        }
    }

    fn set(&self, f: impl FnOnce(&mut ProcessStatus)) {
        f(&mut lock(&self.status));
    }

    fn answer(&mut self, result: Result<SocketAddr, Error>) {
        for waiter in self.waiters.drain(..) {
            let _ = waiter.send(result.clone());
        }
    }

    async fn wait_ready(&mut self, waiter: Waiter) {
        match &self.state {
            ChildState::Ready(child) => {
                let _ = waiter.send(Ok(child.addr));
            }
            ChildState::Starting { .. } | ChildState::Backoff { .. } => self.waiters.push(waiter),
            ChildState::Waiting => {
                self.waiters.push(waiter);
                self.failed_starts = 0;
                self.spawn().await;
            }
        }
    }

    async fn spawn(&mut self) {
        self.state = ChildState::Waiting;
        let restart = lock(&self.status).starts > 0;
        match RunningChild::spawn(&self.spec).await {
            Ok(child) => {
                let (pid, addr) = (child.pid, child.addr);
                tracing::info!(process = %self.spec.name, pid, %addr, restart, "spawned");
                self.set(|s| {
                    s.phase = ProcessPhase::Starting;
                    s.pid = Some(pid);
                    s.addr = Some(addr);
                    if s.starts > 0 {
                        s.restarts += 1;
                    }
                    s.starts += 1;
                });
                let deadline = Instant::now() + self.spec.startup_timeout;
                self.state = ChildState::Starting { child, deadline };
            }
            Err(e) => {
                let spec = &self.spec;
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

    fn became_ready(&mut self) {
        let ChildState::Starting { child, .. } =
            std::mem::replace(&mut self.state, ChildState::Waiting)
        else {
            return;
        };
        let addr = child.addr;
        tracing::info!(
            process = %self.spec.name,
            %addr,
            startup_ms = child.spawned.elapsed().as_millis() as u64,
            "healthy"
        );
        self.state = ChildState::Ready(child);
        self.failed_starts = 0;
        self.set(|s| s.phase = ProcessPhase::Ready);
        self.answer(Ok(addr));
    }

    async fn exited(&mut self, status: Option<ExitStatus>) {
        let status = status.map_or_else(|| "unknown status".to_string(), |s| s.to_string());
        match &self.state {
            ChildState::Starting { .. } => {
                self.start_failed(format!("exited ({status}) before it was healthy"))
                    .await
            }
            ChildState::Ready(_) => self.died(status),
            ChildState::Waiting | ChildState::Backoff { .. } => {}
        }
    }

    /// A healthy child exited: restart it after the first backoff.
    fn died(&mut self, status: String) {
        tracing::warn!(process = %self.spec.name, %status, "died; restarting");
        let err = Error::connection(format!("{} died ({status})", self.spec.name));
        self.set(|s| {
            s.pid = None;
            s.last_error = Some(err);
        });
        self.backoff(self.spec.backoff);
    }

    /// The child exited or timed out before it was healthy: kill it if it
    /// still runs, and restart it with a growing backoff, or give up.
    async fn start_failed(&mut self, why: String) {
        let ChildState::Starting { mut child, .. } =
            std::mem::replace(&mut self.state, ChildState::Waiting)
        else {
            return;
        };
        child.kill().await;
        let tail = child.output.last_lines().await;
        drop(child);
        self.failed_starts += 1;
        let mut message = format!("{} {why}", self.spec.name);
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
            self.backoff((self.spec.backoff * factor).min(self.spec.max_backoff));
        }
    }

    fn backoff(&mut self, delay: Duration) {
        self.state = ChildState::Backoff {
            until: Instant::now() + delay,
        };
        self.set(|s| s.phase = ProcessPhase::Backoff);
    }

    /// Kills and reaps the child, fails the waiters, marks the status stopped.
    async fn shut(&mut self) {
        if let ChildState::Starting { child, .. } | ChildState::Ready(child) = &mut self.state {
            child.kill().await;
        }
        self.state = ChildState::Waiting;
        tracing::debug!(process = %self.spec.name, "supervisor stopped");
        self.answer(Err(stopped_error(&self.spec.name)));
        self.set(|s| {
            s.phase = ProcessPhase::Stopped;
            s.pid = None;
        });
    }
}

/// What `ready` says once the supervisor has stopped.
pub(super) fn stopped_error(name: &str) -> Error {
    let mut e = Error::cancelled();
    e.context_mut().message = format!("the {name} supervisor has stopped");
    e
}
