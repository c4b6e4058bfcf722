//! A child's output. Tasks drain its stdout and stderr pipes (so the child
//! never blocks on a full pipe) into a bounded tail of its last lines, which
//! error messages quote, and copy it to the spec's log file if there is one.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::fs::File;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStderr, ChildStdout};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::stats::lock;

/// How many lines of the child's output the tail keeps.
const TAIL_LINES: usize = 12;
/// A longer line is kept (and quoted) in pieces of this many bytes, so a
/// child that writes no newline cannot grow the tail without bound.
const MAX_LINE: u64 = 4096;
/// How long the output of a child that is gone may take to reach its end.
/// A process the child started may hold its pipes open for as long as it
/// lives; the tail is quoted as it is then.
const GRACE: Duration = Duration::from_millis(500);
/// Lines queued for the log file before the pipes wait for it.
const LOG_QUEUE: usize = 64;

/// The output of one child.
pub(super) struct Output {
    tail: Tail,
    drains: Vec<JoinHandle<()>>,
    /// Ends by itself once the drains have ended (their senders dropped).
    writer: Option<JoinHandle<()>>,
}

impl Output {
    /// Creates (truncates) the log file, before the child is spawned so
    /// that a log file that cannot be written fails the start.
    pub(super) async fn create_log(path: &Path) -> std::io::Result<File> {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        File::create(path).await
    }

    /// Starts draining the child's pipes (on the current tokio runtime).
    pub(super) fn drain(
        stdout: Option<ChildStdout>,
        stderr: Option<ChildStderr>,
        log: Option<File>,
    ) -> Output {
        let tail = Tail::default();
        let (to_log, writer) = match log {
            Some(file) => {
                let (tx, rx) = mpsc::channel(LOG_QUEUE);
                (Some(tx), Some(tokio::spawn(write_log(file, rx))))
            }
            None => (None, None),
        };
        let mut drains = Vec::with_capacity(2);
        if let Some(pipe) = stdout {
            drains.push(tokio::spawn(drain(pipe, tail.clone(), to_log.clone())));
        }
        if let Some(pipe) = stderr {
            drains.push(tokio::spawn(drain(pipe, tail.clone(), to_log)));
        }
        Output {
            tail,
            drains,
            writer,
        }
    }

    /// The last lines of a child that is gone, once its pipes have reached
    /// their end and the log file is written, or after [`GRACE`].
    pub(super) async fn last_lines(&mut self) -> Option<String> {
        let finished = async {
            for drain in &mut self.drains {
                let _ = drain.await;
            }
            if let Some(writer) = &mut self.writer {
                let _ = writer.await;
            }
        };
        let _ = tokio::time::timeout(GRACE, finished).await;
        // A finished task must not be polled again; the others are aborted
        // when `self` is dropped.
        self.drains.retain(|d| !d.is_finished());
        if self.writer.as_ref().is_some_and(JoinHandle::is_finished) {
            self.writer = None;
        }
        self.tail.text()
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        // Pipes a grandchild still holds are not read any longer; the log
        // writer finishes what was queued.
        for drain in &self.drains {
            drain.abort();
        }
    }
}

/// Reads one pipe to its end, line by line, into the tail and the log.
async fn drain(pipe: impl AsyncRead + Unpin, tail: Tail, log: Option<mpsc::Sender<Vec<u8>>>) {
    let mut reader = BufReader::new(pipe);
    let mut line = Vec::new();
    loop {
        line.clear();
        match (&mut reader)
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        tail.push(&line);
        if let Some(log) = &log {
            // An error: the writer gave up (logged there); keep draining.
            let _ = log.send(line.clone()).await;
        }
    }
}

async fn write_log(mut file: File, mut lines: mpsc::Receiver<Vec<u8>>) {
    while let Some(line) = lines.recv().await {
        if let Err(e) = file.write_all(&line).await {
            tracing::warn!(error = %e, "cannot write a child's log file");
            return;
        }
    }
    if let Err(e) = file.flush().await {
        tracing::warn!(error = %e, "cannot write a child's log file");
    }
}

/// The last [`TAIL_LINES`] non-blank lines.
#[derive(Clone, Default)]
struct Tail(Arc<Mutex<VecDeque<String>>>);

impl Tail {
    fn push(&self, line: &[u8]) {
        let line = String::from_utf8_lossy(line).trim_end().to_string();
        if line.trim().is_empty() {
            return;
        }
        let mut lines = lock(&self.0);
        if lines.len() == TAIL_LINES {
            lines.pop_front();
        }
        lines.push_back(line);
    }

    fn text(&self) -> Option<String> {
        let lines = lock(&self.0);
        (!lines.is_empty()).then(|| lines.iter().cloned().collect::<Vec<_>>().join("\n"))
    }
}
