//! [`Runtime`]: actix arbiters on threads of their own.
//!
//! An actix `System` runs on a dedicated thread and owns `config.arbiters`
//! arbiters, each a thread with a current-thread tokio runtime. A stream's
//! actors are started with one message to its arbiter (`spawn_fn`), so
//! [`Runtime::start`] works from any thread: inside a tokio
//! runtime of either flavour, inside another actix system, or from plain
//! synchronous code. A stream's accumulator and tool parser run on one
//! arbiter (streams are spread round-robin); its provider actor runs there
//! too, or on the caller's multi-threaded tokio runtime
//! ([`Placement`]).

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, JoinHandle, ThreadId};
use std::time::Duration;

use actix_rt::{Arbiter, ArbiterHandle, System};
use rivulet_core::{Provider, Request};

use crate::accumulator::{Accumulator, Fold};
use crate::followers::Followers;
use crate::handle::StreamHandle;
use crate::limits::{LimitStats, Limits};
use crate::options::{Placement, RuntimeConfig, RuntimeStats, StreamOptions};
use crate::process::{self, ProcessHandle, ProcessSpec};
use crate::provider_actor::{Finisher, Job, ProviderActor, RequestSource};
use crate::shared::{Registry, Shared};
use crate::stats::{lock, Counters, Member};
use crate::tool_parser::{Parser, ToolParser};

/// How long `shutdown` waits for cancelled streams to deliver their
/// terminal events before it stops the arbiters anyway (a consumer that
/// never reads must not hang the shutdown; it reads its terminal event
/// from the log whenever it reads again).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// The runtime: actix arbiters on their own threads, usable from any tokio
/// runtime and from synchronous code. A cheap clone.
///
/// Dropping the last clone (every [`StreamHandle`] holds one) shuts the
/// runtime down without waiting; [`Runtime::shutdown`] is the graceful way.
///
/// Memory: on Linux with glibc, half a second after the last stream of a
/// burst (64 or more streams alive at once) has ended, if no stream is
/// alive then, the runtime asks glibc to return the heap pages that are
/// free to the OS (`malloc_trim`, 7-16 ms on the runtime's own thread for
/// 62 MiB): glibc would otherwise keep most of a burst's peak resident.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<RuntimeInner>,
}

struct RuntimeInner {
    system: System,
    arbiters: Vec<ArbiterHandle>,
    /// Our own threads: the system's and the arbiters'. Shutdown never joins
    /// (or waits on) the thread it is called from.
    threads: Vec<ThreadId>,
    joins: Mutex<Option<(JoinHandle<()>, Vec<Arbiter>)>>,
    next: AtomicUsize,
    counters: Arc<Counters>,
    registry: Arc<Registry>,
    /// Supervised child processes, by name.
    processes: Mutex<HashMap<String, ProcessHandle>>,
    closed: AtomicBool,
    /// Streams in flight per provider (and model), and 429 pauses.
    limits: Arc<Limits>,
    placement: Placement,
}

impl Runtime {
    /// Starts a runtime with its own threads.
    pub fn new(config: RuntimeConfig) -> Runtime {
        let n = config.arbiters.max(1);
        let (tx, rx) = std::sync::mpsc::channel();
        let system_thread = thread::Builder::new()
            .name("rivulet-system".into())
            .spawn(move || {
                let runner = System::new();
                let arbiters: Vec<Arbiter> = (0..n).map(|_| new_arbiter()).collect();
                let _ = tx.send((System::current(), arbiters, thread::current().id()));
                let _ = runner.run();
            })
            .expect("rivulet: cannot spawn the actor system thread");
        let (system, arbiters, system_id) = rx
            .recv()
            .expect("rivulet: the actor system thread failed to start");
        let counters = Arc::new(Counters::default());
        crate::trim::start(system.arbiter(), counters.clone());

        let mut threads = vec![system_id];
        for arbiter in &arbiters {
            let (tx, rx) = std::sync::mpsc::channel();
            arbiter.spawn_fn(move || {
                let _ = tx.send(thread::current().id());
            });
            if let Ok(id) = rx.recv() {
                threads.push(id);
            }
        }

        Runtime {
            inner: Arc::new(RuntimeInner {
                system,
                arbiters: arbiters.iter().map(Arbiter::handle).collect(),
                threads,
                joins: Mutex::new(Some((system_thread, arbiters))),
                next: AtomicUsize::new(0),
                counters,
                registry: Arc::new(Registry::default()),
                processes: Mutex::new(HashMap::new()),
                closed: AtomicBool::new(false),
                limits: Arc::new(Limits::default()),
                placement: config.placement,
            }),
        }
    }

    /// The process-wide runtime, started on first use. It lives as long as
    /// the process (shutting it down is final).
    pub fn global() -> &'static Runtime {
        static GLOBAL: OnceLock<Runtime> = OnceLock::new();
        GLOBAL.get_or_init(|| Runtime::new(RuntimeConfig::default()))
    }

    /// Starts one call: spawns its actors and returns at once. Nothing is
    /// sent before this returns; errors surface through the handle.
    ///
    /// After [`Runtime::shutdown`], the stream ends at once as cancelled.
    pub fn start(
        &self,
        provider: Arc<dyn Provider>,
        request: Request,
        options: StreamOptions,
    ) -> StreamHandle {
        let input = request.messages.clone();
        self.start_from(
            provider,
            RequestSource::Ready(Box::new(request)),
            input,
            options,
        )
    }

    /// Starts a call whose request is not known yet: `request` is awaited
    /// on the stream's arbiter first (for a conversation's next turn, once
    /// the previous turn has ended), then the call runs as with
    /// [`Runtime::start`]. The handle is returned at once; the per-stream
    /// timeouts count from the moment the request is ready, a cancel stops
    /// the wait, and an error from `request` ends the stream with it. The
    /// response's input messages are the request's, once known.
    pub fn start_deferred(
        &self,
        provider: Arc<dyn Provider>,
        request: crate::options::DeferredRequest,
        options: StreamOptions,
    ) -> StreamHandle {
        self.start_from(
            provider,
            RequestSource::Deferred(request),
            Vec::new(),
            options,
        )
    }

    fn start_from(
        &self,
        provider: Arc<dyn Provider>,
        request: RequestSource,
        input: Vec<rivulet_core::Message>,
        options: StreamOptions,
    ) -> StreamHandle {
        let inner = &self.inner;
        let arbiter = inner.arbiters
            [inner.next.fetch_add(1, Ordering::Relaxed) % inner.arbiters.len()]
        .clone();
        let (shared, registered) = inner.registry.register(|id| {
            Arc::new(Shared::new(
                id,
                options.window,
                options.run_to_completion,
                inner.counters.clone(),
                inner.registry.clone(),
            ))
        });
        if !registered {
            shared.ctl.cancel();
        }

        let life = shared.life();
        let member = || Member::new(inner.counters.clone(), life.clone());

        // Parked until they have something to do (see `crate::followers`).
        let followers = Arc::new(Followers::new(
            Accumulator::new(
                Fold::new(
                    shared.clone(),
                    options.provider_id.clone(),
                    options.model.clone(),
                    input,
                ),
                member(),
            ),
            ToolParser::new(Parser::new(shared.clone()), member()),
            arbiter.clone(),
        ));

        let job = Job {
            provider,
            request,
            options,
            finisher: Finisher::new(shared.clone(), followers.clone()),
            limits: inner.limits.clone(),
        };
        let provider_actor = ProviderActor::new(job, member());
        let caller = match inner.placement {
            Placement::Caller => caller_runtime(),
            Placement::Arbiter => None,
        };
        // One message to the arbiter, which starts the provider actor (or
        // hands it to the caller's runtime, see `ProviderActor::start_on`).
        // If the arbiter is gone, the closure is dropped with the actor in
        // it, and its guards end the stream (cancelled) as when an actor
        // never starts.
        arbiter.spawn_fn(move || match caller {
            Some(runtime) => provider_actor.start_on(&runtime),
            None => provider_actor.start(),
        });

        StreamHandle::new(self.clone(), shared, followers)
    }

    /// Supervises a child process (a local model server) on a thread of its
    /// own, never on the arbiters that carry the streams; see
    /// [`ProcessSpec`]. One process per name: while
    /// the process named `spec.name` is supervised, this returns its handle
    /// and ignores `spec`. Nothing is spawned before the first
    /// [`ProcessHandle::ready`]. The process is killed when the handle is
    /// stopped and when the runtime shuts down or is dropped.
    ///
    /// Supervised processes are not streams: [`Runtime::stats`] and
    /// [`Runtime::wait_idle`] do not count them.
    pub fn supervise(&self, spec: ProcessSpec) -> ProcessHandle {
        let inner = &self.inner;
        let mut processes = lock(&inner.processes);
        if let Some(handle) = processes.get(&spec.name) {
            if !handle.is_stopped() {
                return handle.clone();
            }
        }
        let name = spec.name.clone();
        let handle = process::start(spec);
        if inner.closed.load(Ordering::SeqCst) {
            // After shutdown: stopped before it starts anything.
            handle.stop();
            handle.join();
        } else {
            processes.insert(name, handle.clone());
        }
        handle
    }

    /// The supervised process named `name`, if there is one.
    pub fn process(&self, name: &str) -> Option<ProcessHandle> {
        lock(&self.inner.processes).get(name).cloned()
    }

    /// Limits the streams of `provider` (a provider id: `"openai"`) in
    /// flight at once, across this runtime, to `max` (`None` lifts the
    /// limit). A stream holds a slot from before it connects until its
    /// connection is done with, each retry and fallback taking one anew
    /// (a fallback at another provider takes that provider's); one
    /// without a free slot waits for it, and the wait counts against its
    /// connect timeout (and its first-chunk and total timeouts; a cancel
    /// ends it). A new limit applies to slots taken after it is set.
    ///
    /// Independently of any limit, a 429 with `Retry-After` (within the
    /// stream's `max_retry_wait`) pauses every new attempt to that
    /// provider until then. [`Runtime::limit_stats`] counts what waits.
    ///
    /// ```
    /// use rivulet_actors::{Runtime, RuntimeConfig};
    /// let rt = Runtime::new(RuntimeConfig::default());
    /// rt.limit("openai", Some(4));
    /// assert_eq!(rt.limit_stats("openai").limit, Some(4));
    /// # rt.shutdown();
    /// ```
    pub fn limit(&self, provider: &str, max: Option<usize>) {
        self.inner.limits.set(provider, None, max);
    }

    /// [`Runtime::limit`] for one model of a provider, as the request names
    /// it (`"gpt-4o"`); its streams also count against the provider's limit.
    pub fn limit_model(&self, provider: &str, model: &str, max: Option<usize>) {
        self.inner.limits.set(provider, Some(model), max);
    }

    /// A provider's limit, its streams in flight, how many wait for a slot
    /// or for a 429's pause to end, and how long that pause still runs.
    pub fn limit_stats(&self, provider: &str) -> LimitStats {
        self.inner.limits.stats(provider, None)
    }

    /// [`Runtime::limit_stats`] for a model with a limit of its own.
    pub fn model_limit_stats(&self, provider: &str, model: &str) -> LimitStats {
        self.inner.limits.stats(provider, Some(model))
    }

    /// What is alive now.
    pub fn stats(&self) -> RuntimeStats {
        self.inner.counters.snapshot()
    }

    /// Blocks until no stream, actor or task of this runtime is alive, or
    /// `timeout` passes; returns whether it became idle. Actors stop shortly
    /// after their consumers saw the terminal event, so this is how a
    /// caller (or a test) checks that finished streams left nothing behind.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.inner.counters.wait_idle(timeout)
    }

    /// Cancels every in-flight stream (each consumer sees its terminal
    /// event), then stops the arbiters. Idempotent.
    pub fn shutdown(&self) {
        self.inner.shutdown(true);
    }
}

impl RuntimeInner {
    fn on_own_thread(&self) -> bool {
        self.threads.contains(&thread::current().id())
    }

    fn shutdown(&self, graceful: bool) {
        let Some(streams) = self.registry.close() else {
            return;
        };
        self.closed.store(true, Ordering::SeqCst);
        // Supervised processes: killed on their own threads, in parallel
        // with the streams' cancels; joined below.
        let processes: Vec<ProcessHandle> = lock(&self.processes).drain().map(|(_, h)| h).collect();
        for process in &processes {
            process.stop();
        }
        for stream in &streams {
            stream.ctl.cancel();
        }
        drop(streams);
        let own = self.on_own_thread();
        if graceful && !own {
            // Let the cancelled streams deliver their terminal events and
            // their actors stop, so nothing is cut off mid-delivery.
            self.counters.wait_idle(SHUTDOWN_GRACE);
        }
        for arbiter in &self.arbiters {
            arbiter.stop();
        }
        self.system.stop();
        let joins = lock(&self.joins).take();
        if let (Some((system, arbiters)), false) = (joins, own) {
            // Stopped arbiters drop their actors; anything still running is
            // then ended by the actors' drop guards.
            for arbiter in arbiters {
                let _ = arbiter.join();
            }
            let _ = system.join();
        }
        for process in &processes {
            process.join();
        }
    }
}

impl Drop for RuntimeInner {
    fn drop(&mut self) {
        self.shutdown(false);
    }
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime")
            .field("arbiters", &self.inner.arbiters.len())
            .field("placement", &self.inner.placement)
            .field("stats", &self.stats())
            .finish()
    }
}

/// The tokio runtime this thread runs in, if it is multi-threaded: where
/// [`Placement::Caller`] puts a stream's provider actor. A current-thread
/// runtime is left out: its one thread may be the very one that blocks on
/// the stream.
fn caller_runtime() -> Option<tokio::runtime::Handle> {
    let runtime = tokio::runtime::Handle::try_current().ok()?;
    (runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread).then_some(runtime)
}

/// An arbiter whose runtime flushes deferred deliveries before it parks
/// (see [`crate::idle`]).
fn new_arbiter() -> Arbiter {
    Arbiter::with_tokio_rt(|| {
        crate::idle::install();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .on_thread_park(crate::idle::flush)
            .build()
            .expect("rivulet: cannot build an arbiter's runtime")
    })
}
