//! A scripted provider for the runtime tests: no HTTP, just a list of steps
//! per `open`, with probes that record what the runtime did to it.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use rivulet_actors::{Event, Outcome, SharedChunk, StreamOptions};
use rivulet_core::{Chunk, ChunkStream, Error, OpenFuture, Provider, Request};

/// One step of a script.
#[derive(Clone, Debug)]
pub enum Step {
    /// The open future resolves to this error.
    OpenFail(Error),
    /// The open future never resolves.
    OpenStall,
    /// The open future takes this long.
    OpenSleep(Duration),
    /// The open future waits for a permit of this gate (see [`gate`]), so a
    /// test can subscribe before the first chunk is produced.
    OpenGate(Arc<tokio::sync::Semaphore>),
    /// The stream yields this chunk.
    Chunk(Chunk),
    /// The stream waits for a permit of this gate (mid-stream).
    Gate(Arc<tokio::sync::Semaphore>),
    /// The stream waits this long.
    Sleep(Duration),
    /// The stream works this long before its next step, never pending: a
    /// provider whose chunks are always ready, however slow.
    Busy(Duration),
    /// The stream yields this error (and ends).
    Fail(Error),
    /// The stream is pending forever.
    Stall,
    /// Polling the stream panics.
    Panic,
}

/// What the runtime did to the provider.
#[derive(Default)]
pub struct Probe {
    /// Calls to `open`.
    pub opens: AtomicUsize,
    /// Chunks the streams handed out.
    pub pulled: AtomicUsize,
    state: Mutex<ProbeState>,
    changed: Condvar,
}

#[derive(Default, Clone, Copy, Debug)]
pub struct ProbeState {
    /// When the last stream was dropped.
    pub dropped_at: Option<Instant>,
    /// Whether the last stream ran to its end (`None`).
    pub ran_out: bool,
    /// When the last content chunk was handed out.
    pub last_content_at: Option<Instant>,
}

impl Probe {
    pub fn opens(&self) -> usize {
        self.opens.load(Ordering::SeqCst)
    }

    pub fn pulled(&self) -> usize {
        self.pulled.load(Ordering::SeqCst)
    }

    pub fn state(&self) -> ProbeState {
        *self.state.lock().unwrap()
    }

    fn update(&self, f: impl FnOnce(&mut ProbeState)) {
        f(&mut self.state.lock().unwrap());
        self.changed.notify_all();
    }

    /// Waits until a stream has been dropped; returns when it was.
    pub fn wait_dropped(&self, timeout: Duration) -> Option<Instant> {
        let g = self.state.lock().unwrap();
        let (g, _) = self
            .changed
            .wait_timeout_while(g, timeout, |s| s.dropped_at.is_none())
            .unwrap();
        g.dropped_at
    }
}

/// A provider that plays one script per `open` (the last one repeats).
pub struct ScriptedProvider {
    scripts: Vec<Vec<Step>>,
    pub probe: Arc<Probe>,
}

impl ScriptedProvider {
    pub fn new(script: Vec<Step>) -> Arc<Self> {
        Self::attempts(vec![script])
    }

    pub fn attempts(scripts: Vec<Vec<Step>>) -> Arc<Self> {
        assert!(!scripts.is_empty());
        Arc::new(ScriptedProvider {
            scripts,
            probe: Arc::new(Probe::default()),
        })
    }
}

impl Provider for ScriptedProvider {
    fn id(&self) -> &str {
        "scripted"
    }

    fn open(&self, _request: &Request) -> OpenFuture {
        let n = self.probe.opens.fetch_add(1, Ordering::SeqCst);
        let mut steps: VecDeque<Step> = self.scripts[n.min(self.scripts.len() - 1)].clone().into();
        let probe = self.probe.clone();
        Box::pin(async move {
            loop {
                match steps.front() {
                    Some(Step::OpenFail(e)) => return Err(e.clone()),
                    Some(Step::OpenStall) => futures::future::pending::<()>().await,
                    Some(Step::OpenSleep(d)) => tokio::time::sleep(*d).await,
                    Some(Step::OpenGate(g)) => g.acquire().await.unwrap().forget(),
                    _ => break,
                }
                steps.pop_front();
            }
            let stream: ChunkStream = Box::pin(ScriptStream {
                steps,
                sleep: None,
                gate: None,
                probe,
            });
            Ok(stream)
        })
    }
}

type Acquire = Pin<
    Box<
        dyn Future<Output = Result<tokio::sync::OwnedSemaphorePermit, tokio::sync::AcquireError>>
            + Send,
    >,
>;

struct ScriptStream {
    steps: VecDeque<Step>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    gate: Option<Acquire>,
    probe: Arc<Probe>,
}

impl Stream for ScriptStream {
    type Item = Result<Chunk, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            let Some(step) = self.steps.front().cloned() else {
                self.probe.update(|s| s.ran_out = true);
                return Poll::Ready(None);
            };
            match step {
                Step::Chunk(c) => {
                    self.steps.pop_front();
                    self.probe.pulled.fetch_add(1, Ordering::SeqCst);
                    if c.is_content() {
                        self.probe
                            .update(|s| s.last_content_at = Some(Instant::now()));
                    }
                    return Poll::Ready(Some(Ok(c)));
                }
                Step::Sleep(d) => {
                    let sleep = self
                        .sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(d)));
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.sleep = None;
                    self.steps.pop_front();
                }
                Step::Busy(d) => {
                    let until = std::time::Instant::now() + d;
                    while std::time::Instant::now() < until {
                        std::hint::spin_loop();
                    }
                    self.steps.pop_front();
                }
                Step::Gate(g) => {
                    let acquire = self
                        .gate
                        .get_or_insert_with(|| Box::pin(g.clone().acquire_owned()));
                    match acquire.as_mut().poll(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(permit) => {
                            if let Ok(p) = permit {
                                p.forget();
                            }
                        }
                    }
                    self.gate = None;
                    self.steps.pop_front();
                }
                Step::Fail(e) => {
                    self.steps.clear();
                    return Poll::Ready(Some(Err(e)));
                }
                Step::Stall => return Poll::Pending,
                Step::Panic => panic!("scripted provider panic"),
                Step::OpenFail(_) | Step::OpenStall | Step::OpenSleep(_) | Step::OpenGate(_) => {
                    self.steps.pop_front();
                }
            }
        }
    }
}

impl Drop for ScriptStream {
    fn drop(&mut self) {
        self.probe.update(|s| s.dropped_at = Some(Instant::now()));
    }
}

/// A closed gate for [`Step::OpenGate`]; open it with `add_permits(1)`.
pub fn gate() -> Arc<tokio::sync::Semaphore> {
    Arc::new(tokio::sync::Semaphore::new(0))
}

/// `text_start`, one `text` per word, `text_end`, on part 0.
pub fn text_steps(words: &[&str]) -> Vec<Step> {
    let mut v = vec![Step::Chunk(Chunk::text_start(0))];
    v.extend(words.iter().map(|w| Step::Chunk(Chunk::text(0, *w))));
    v.push(Step::Chunk(Chunk::text_end(0)));
    v
}

/// `n` text deltas `"w0 "`, `"w1 "`, … on part 0 (with start and end).
pub fn numbered(n: usize) -> Vec<Step> {
    let words: Vec<String> = (0..n).map(|i| format!("w{i} ")).collect();
    let refs: Vec<&str> = words.iter().map(|s| s.as_str()).collect();
    text_steps(&refs)
}

/// The text `numbered(n)` produces.
pub fn numbered_text(n: usize) -> String {
    (0..n).map(|i| format!("w{i} ")).collect()
}

pub fn opts() -> StreamOptions {
    StreamOptions {
        provider_id: "scripted".into(),
        model: "m".into(),
        ..Default::default()
    }
}

pub fn request() -> Request {
    Request {
        model: "m".into(),
        messages: vec![rivulet_core::Message::user("hi")],
        ..Default::default()
    }
}

/// Drains an async subscription.
pub async fn collect(mut sub: rivulet_actors::Subscription) -> Vec<Event> {
    let mut out = Vec::new();
    while let Some(ev) = sub.next().await {
        out.push(ev);
    }
    out
}

/// The text deltas of a list of events.
pub fn text_of(events: &[Event]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Chunk(c) => match &**c {
                Chunk::Text { delta, .. } => Some(delta.as_str()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The chunks of a list of events.
pub fn chunks_of(events: &[Event]) -> Vec<SharedChunk> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Chunk(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

/// The terminal event's outcome; asserts it is the only one and the last.
pub fn end_of(events: &[Event]) -> Outcome {
    let ends: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e, Event::End(_)))
        .collect();
    assert_eq!(ends.len(), 1, "exactly one terminal event: {events:?}");
    match events.last() {
        Some(Event::End(o)) => o.clone(),
        other => panic!("the terminal event must come last, got {other:?}"),
    }
}

/// Polls `cond` every millisecond until it holds or `timeout` passes.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    cond()
}

/// Whether an outcome is `Failed(Cancelled)`.
pub fn is_cancelled(o: &Outcome) -> bool {
    matches!(o, Outcome::Failed(e) if matches!(**e, Error::Cancelled { .. }))
}
