//! Callbacks on a stream's events: `on_chunk`, `on_finish`, `on_error`.
//!
//! The hooks of one [`Hooks`] run in order on a thread of their own (a
//! blocking task when started inside a tokio runtime), fed by a
//! subscription of their own, which reads the stream's log, so they see
//! every chunk exactly once, in the log's order, whoever else reads the
//! stream. The subscription is detached by
//! default, so a slow hook never slows the stream (it reads behind, from
//! the log); [`Hooks::lossless`] asks for backpressure instead. A hook
//! that panics is reported ([`HookReport::panics`] and an error log) and
//! the others, and later events, go on.

use std::panic::{catch_unwind, AssertUnwindSafe};

use futures::channel::oneshot;
use rivulet_actors::{Event, Outcome, Policy, SharedChunk, StreamHandle};
use rivulet_core::{Error, Response};

use crate::StreamResponse;

type ChunkHook = Box<dyn FnMut(&SharedChunk) + Send>;
type FinishHook = Box<dyn FnMut(&Response) + Send>;
type ErrorHook = Box<dyn FnMut(&Error, &Response) + Send>;

/// Callbacks for one stream's events; start them with
/// [`StreamResponse::run_hooks`].
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use rivulet::Hooks;
/// # use rivulet::{Chunk, Model};
/// # use futures::stream;
/// # use rivulet_core::{ChunkStream, OpenFuture, Provider, Request};
/// # struct Echo;
/// # impl Provider for Echo {
/// #     fn id(&self) -> &str { "echo" }
/// #     fn open(&self, _: &Request) -> OpenFuture {
/// #         let chunks: ChunkStream = Box::pin(stream::iter(
/// #             [Chunk::text_start(0), Chunk::text(0, "hi"), Chunk::text_end(0)].map(Ok),
/// #         ));
/// #         Box::pin(async move { Ok(chunks) })
/// #     }
/// # }
/// # let model = Model::new("echo/v1").with_provider(Arc::new(Echo));
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let done = seen.clone();
/// let response = model.stream("hello");
/// let run = response.run_hooks(
///     Hooks::new()
///         .on_chunk(move |c| log.lock().unwrap().push(c.type_name().to_string()))
///         .on_finish(move |r| done.lock().unwrap().push(format!("finished: {}", r.text()))),
/// );
/// let report = run.wait();
/// assert!(report.panics.is_empty());
/// assert_eq!(
///     *seen.lock().unwrap(),
///     ["text_start_chunk", "text_chunk", "text_end_chunk", "finished: hi"]
/// );
/// ```
pub struct Hooks {
    on_chunk: Vec<ChunkHook>,
    on_finish: Vec<FinishHook>,
    on_error: Vec<ErrorHook>,
    policy: Policy,
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks::new()
    }
}

impl Hooks {
    /// No hooks yet; detached (a slow hook never slows the stream).
    pub fn new() -> Hooks {
        Hooks {
            on_chunk: Vec::new(),
            on_finish: Vec::new(),
            on_error: Vec::new(),
            policy: Policy::default(),
        }
    }

    /// Called with every chunk, in order (each knows its
    /// [offset](SharedChunk::offset)).
    pub fn on_chunk(mut self, f: impl FnMut(&SharedChunk) + Send + 'static) -> Self {
        self.on_chunk.push(Box::new(f));
        self
    }

    /// Called once with the final response when the stream finishes.
    pub fn on_finish(mut self, f: impl FnMut(&Response) + Send + 'static) -> Self {
        self.on_finish.push(Box::new(f));
        self
    }

    /// Called once when the stream fails, is cancelled or times out, with
    /// the error and what was received before it.
    pub fn on_error(mut self, f: impl FnMut(&Error, &Response) + Send + 'static) -> Self {
        self.on_error.push(Box::new(f));
        self
    }

    /// Backpressure: the stream waits (its provider stops reading) while
    /// the hooks are `capacity` chunks behind. For hooks that must throttle
    /// the stream; a hook that blocks then stops it.
    pub fn lossless(mut self, capacity: usize) -> Self {
        self.policy = Policy::Lossless {
            capacity: capacity.max(1),
        };
        self
    }
}

/// Which hook a [`HookPanic`] came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookKind {
    /// An `on_chunk` hook.
    Chunk,
    /// An `on_finish` hook.
    Finish,
    /// An `on_error` hook.
    Error,
}

/// A hook that panicked: which, at which chunk, and its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookPanic {
    /// The kind of hook.
    pub hook: HookKind,
    /// Its position among the hooks of that kind (0 for the first added).
    pub index: usize,
    /// The chunk's offset, for an `on_chunk` hook.
    pub offset: Option<u64>,
    /// The panic's message.
    pub message: String,
}

/// How the hooks' run went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HookReport {
    /// Chunks handed to the `on_chunk` hooks.
    pub chunks: u64,
    /// Chunks the hooks never saw: a windowed stream dropped them before
    /// a detached run read them.
    pub missed: u64,
    /// Every panic of a hook, in order.
    pub panics: Vec<HookPanic>,
}

/// Hooks running on a stream; their [`HookReport`] once the stream has
/// ended and every hook has returned. Dropping it lets them run on.
pub struct HookRun {
    done: oneshot::Receiver<HookReport>,
}

impl HookRun {
    /// Waits for the report.
    pub async fn finished(self) -> HookReport {
        self.done.await.unwrap_or_default()
    }

    /// [`HookRun::finished`] for synchronous code (it blocks the thread).
    pub fn wait(self) -> HookReport {
        futures::executor::block_on(self.finished())
    }
}

// Running hooks: kept in a block of their own.
impl StreamResponse {
    /// Runs `hooks` on this stream's events (see [`Hooks`]): every chunk
    /// from the start (a late start replays what came before), then
    /// `on_finish` or `on_error` once. They run on a thread of their own
    /// (a blocking task inside a tokio runtime), never on the stream's,
    /// and, unless [`Hooks::lossless`], never hold the stream back. Their
    /// subscription holds the stream like an iterator does: dropping every
    /// other handle does not cancel a stream whose hooks still run.
    pub fn run_hooks(&self, hooks: Hooks) -> HookRun {
        let handle = self.handle().clone();
        let events = handle.blocking().subscribe(hooks.policy);
        let (tx, done) = oneshot::channel();
        let work = move || {
            let _ = tx.send(run(hooks, events, &handle));
        };
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn_blocking(work);
            }
            Err(_) => {
                let spawned = std::thread::Builder::new()
                    .name("rivulet-hooks".into())
                    .spawn(work);
                if let Err(e) = spawned {
                    tracing::error!(error = %e, "cannot start a thread for the stream's hooks");
                }
            }
        }
        HookRun { done }
    }
}

fn run(mut hooks: Hooks, events: impl Iterator<Item = Event>, handle: &StreamHandle) -> HookReport {
    let mut report = HookReport::default();
    for event in events {
        match event {
            Event::Chunk(chunk) => {
                report.chunks += 1;
                let offset = chunk.offset();
                for (i, hook) in hooks.on_chunk.iter_mut().enumerate() {
                    guard(&mut report, HookKind::Chunk, i, Some(offset), || {
                        hook(&chunk)
                    });
                }
            }
            Event::Missed(n) => report.missed += n,
            Event::End(Outcome::Finished) => {
                // The final response: published as the stream ends.
                let response = handle.blocking().finish();
                match response {
                    Ok(r) => {
                        for (i, hook) in hooks.on_finish.iter_mut().enumerate() {
                            guard(&mut report, HookKind::Finish, i, None, || hook(&r));
                        }
                    }
                    Err(e) => call_error(&mut hooks, &mut report, &e, handle),
                }
                break;
            }
            Event::End(Outcome::Failed(e)) => {
                call_error(&mut hooks, &mut report, &e, handle);
                break;
            }
        }
    }
    report
}

fn call_error(hooks: &mut Hooks, report: &mut HookReport, e: &Error, handle: &StreamHandle) {
    let partial = handle.blocking().snapshot();
    for (i, hook) in hooks.on_error.iter_mut().enumerate() {
        guard(report, HookKind::Error, i, None, || hook(e, &partial));
    }
}

/// Runs one hook call, reporting a panic instead of passing it on.
fn guard(
    report: &mut HookReport,
    hook: HookKind,
    index: usize,
    offset: Option<u64>,
    call: impl FnOnce(),
) {
    if let Err(payload) = catch_unwind(AssertUnwindSafe(call)) {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic".to_string());
        tracing::error!(?hook, index, offset, %message, "a stream hook panicked");
        report.panics.push(HookPanic {
            hook,
            index,
            offset,
            message,
        });
    }
}
