//! One child: spawned on a free loopback port with `{port}` filled in, its
//! output piped to [`Output`], killed (never waited for synchronously) when
//! it is dropped, and on Linux killed as well when the thread that spawned
//! it ends.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::output::Output;
use super::spec::ProcessSpec;

/// How long a killed child may take to be reaped. `SIGKILL` cannot be
/// caught, so only a process stuck in the kernel takes longer; it is then
/// left to tokio's reaper rather than holding up a shutdown.
const REAP_GRACE: Duration = Duration::from_secs(5);

/// A running (or just exited, not yet handled) child.
pub(super) struct RunningChild {
    pub(super) child: tokio::process::Child,
    pub(super) pid: u32,
    pub(super) addr: SocketAddr,
    pub(super) spawned: Instant,
    pub(super) output: Output,
}

impl RunningChild {
    /// Spawns `spec`'s command. Must run on a tokio runtime: the output is
    /// drained by tasks of that runtime.
    pub(super) async fn spawn(spec: &ProcessSpec) -> std::io::Result<RunningChild> {
        let port = free_port()?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let port = port.to_string();
        let with_port = |s: &OsString| match s.to_str() {
            Some(t) if t.contains("{port}") => OsString::from(t.replace("{port}", &port)),
            _ => s.clone(),
        };
        let mut cmd = std::process::Command::new(&spec.program);
        cmd.args(spec.args.iter().map(with_port));
        for (k, v) in &spec.env {
            cmd.env(k, with_port(v));
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        die_with_parent(&mut cmd);
        let mut cmd = tokio::process::Command::from(cmd);
        // The last resort when the supervisor is dropped without stopping
        // (its runtime torn down): a kill without a wait.
        cmd.kill_on_drop(true);

        let log = match &spec.log_file {
            Some(path) => Some(Output::create_log(path).await?),
            None => None,
        };
        let mut child = cmd.spawn()?;
        let output = Output::drain(child.stdout.take(), child.stderr.take(), log);
        Ok(RunningChild {
            // `None` only once the child has been reaped, which it cannot
            // have been yet.
            pid: child.id().unwrap_or_default(),
            child,
            addr,
            spawned: Instant::now(),
            output,
        })
    }

    /// Kills the child if it still runs and reaps it (waiting at most
    /// [`REAP_GRACE`]).
    pub(super) async fn kill(&mut self) {
        // An error: it has already been reaped.
        let _ = self.child.start_kill();
        if tokio::time::timeout(REAP_GRACE, self.child.wait())
            .await
            .is_err()
        {
            tracing::warn!(pid = self.pid, "a killed child was not reaped in time");
        }
    }

    /// Waits until the child exits.
    pub(super) async fn exited(&mut self) -> Option<ExitStatus> {
        self.child.wait().await.ok()
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

/// `SIGKILL` for the child when the thread that spawned it ends: the
/// supervisor's thread, which ends after it killed its child, or with the
/// whole process (a `static` runtime, `std::process::exit`), so not even
/// that leaves an orphan behind.
#[cfg(target_os = "linux")]
fn die_with_parent(cmd: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: the closure runs in the forked child before exec and only
    // calls async-signal-safe functions (prctl, getppid, _exit).
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
fn die_with_parent(_: &mut std::process::Command) {}
