//! [`ProcessSpec`]: what to run and how to tell it is up.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// What to run and how to tell it is up. Built with [`ProcessSpec::new`]
/// and the builder methods.
///
/// ```
/// use std::time::Duration;
/// use rivulet_actors::ProcessSpec;
///
/// let spec = ProcessSpec::new("echo-server", "/usr/bin/my-server")
///     .args(["--host", "127.0.0.1", "--port", "{port}"])
///     .health_path("/health")
///     .startup_timeout(Duration::from_secs(30))
///     .hint("run scripts/setup.sh");
/// assert_eq!(spec.name, "echo-server");
/// ```
#[derive(Clone, Debug)]
pub struct ProcessSpec {
    /// Names the process in logs, errors and the runtime's registry (one
    /// supervised process per name and runtime).
    pub name: String,
    /// The executable.
    pub program: PathBuf,
    /// Arguments; every `{port}` in them becomes the chosen loopback port.
    pub args: Vec<OsString>,
    /// Extra environment variables (`{port}` in a value is replaced too).
    pub env: Vec<(OsString, OsString)>,
    /// The path polled with `GET` until it answers `200`.
    pub health_path: String,
    /// How long a start may take until the health check passes.
    pub startup_timeout: Duration,
    /// The first delay before a restart; doubled after each failed start.
    pub backoff: Duration,
    /// The longest delay before a restart.
    pub max_backoff: Duration,
    /// Consecutive failed starts after which the supervisor gives up (until
    /// the next [`ProcessHandle::ready`](crate::ProcessHandle::ready)).
    pub max_failed_starts: u32,
    /// A copy of the child's stdout and stderr, line by line (truncated at
    /// each start). The output is read through pipes either way, and errors
    /// quote its last lines either way.
    pub log_file: Option<PathBuf>,
    /// Appended to error messages, e.g. the command that installs the program.
    pub hint: String,
}

impl ProcessSpec {
    /// A spec with defaults: no arguments, `/health`, 120 s to start,
    /// 250 ms first backoff (up to 10 s), 3 failed starts before giving up.
    pub fn new(name: impl Into<String>, program: impl Into<PathBuf>) -> Self {
        ProcessSpec {
            name: name.into(),
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            health_path: "/health".into(),
            startup_timeout: Duration::from_secs(120),
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(10),
            max_failed_starts: 3,
            log_file: None,
            hint: String::new(),
        }
    }
    /// Appends arguments (`{port}` is replaced by the port).
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
    /// Adds an environment variable.
    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
    /// The health path (default `/health`).
    pub fn health_path(mut self, path: impl Into<String>) -> Self {
        self.health_path = path.into();
        self
    }
    /// How long a start may take (default 120 s).
    pub fn startup_timeout(mut self, d: Duration) -> Self {
        self.startup_timeout = d;
        self
    }
    /// The first restart delay (default 250 ms).
    pub fn backoff(mut self, d: Duration) -> Self {
        self.backoff = d;
        self
    }
    /// Consecutive failed starts before giving up (default 3, at least 1).
    pub fn max_failed_starts(mut self, n: u32) -> Self {
        self.max_failed_starts = n.max(1);
        self
    }
    /// Copies the child's output to this file (see [`ProcessSpec::log_file`]).
    pub fn log_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.log_file = Some(path.into());
        self
    }
    /// Text appended to error messages.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = hint.into();
        self
    }

    pub(super) fn with_hint(&self, message: String) -> String {
        if self.hint.is_empty() {
            message
        } else {
            format!("{message}; {}", self.hint)
        }
    }
}
