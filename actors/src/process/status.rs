//! [`ProcessStatus`]: what the supervisor tells its handles.

use std::net::SocketAddr;

use rivulet_core::Error;

/// Where a supervised process is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessPhase {
    /// Not started yet (nothing is spawned before the first `ready`).
    Idle,
    /// Spawned, waiting for the health check.
    Starting,
    /// Healthy.
    Ready,
    /// Waiting before a restart.
    Backoff,
    /// Gave up; the next `ready` tries again.
    Failed,
    /// Stopped for good (the handle was stopped or the runtime shut down).
    Stopped,
}

/// A snapshot of a supervised process.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessStatus {
    /// The phase.
    pub phase: ProcessPhase,
    /// The current child's pid, while there is one.
    pub pid: Option<u32>,
    /// The loopback address of the current (or last) child.
    pub addr: Option<SocketAddr>,
    /// How many times a child was spawned.
    pub starts: u64,
    /// How many of those were restarts after a child died or failed to start.
    pub restarts: u64,
    /// Why the last start failed or the last child died.
    pub last_error: Option<Error>,
}

impl Default for ProcessStatus {
    fn default() -> Self {
        ProcessStatus {
            phase: ProcessPhase::Idle,
            pid: None,
            addr: None,
            starts: 0,
            restarts: 0,
            last_error: None,
        }
    }
}
