//! The provider actor: opens the provider's stream, reads it and appends
//! chunks to the log, enforcing the per-stream timeouts, retries,
//! backpressure and cancellation.
//!
//! The actor is a task of its own that owns the call (the [`Job`]) and
//! ends with it: the "actors with tokio" shape, not an actix `Context`. It
//! runs on the caller's tokio runtime or on the stream's arbiter (see
//! [`Placement`](crate::Placement)). It receives no message: cancel requests and "room
//! again" signals arrive through the stream's
//! [`Control`](crate::shared::Control); subscriptions are woken through the
//! log's wait list, followers by a nudge per batch. Why not actix: a
//! `Context` polls its mailbox every time its task wakes, and this task
//! wakes for every read of the response body. With 500 streams 2 ms apart
//! (`bench`'s concurrency scenario, `perf record --call-graph dwarf`) the
//! mailbox polls of a mailbox that never receives anything were 3% of the
//! client's CPU.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::future::poll_fn;
use futures::StreamExt;
use rivulet_core::{Chunk, Error, Provider, Request, TimeoutKind};
use tokio::time::Instant;
use tracing::Instrument;

use crate::event::Outcome;
use crate::fallback::{Fallback, Routing, Skipped};
use crate::followers::Followers;
use crate::idle;
use crate::limits::Limits;
use crate::options::StreamOptions;
use crate::shared::Shared;
use crate::stats::{lock, Member, TaskGuard};
use crate::telemetry::ChatTelemetry;
use crate::timer::{earliest, race, Deadline, Raced, Timer};

/// Consecutive ready chunks after which the provider yields its arbiter
/// thread (and wakes its subscriptions), so a provider whose stream is always
/// ready cannot starve the other actors of the arbiter.
const BURST: u32 = 64;

/// How many appended chunks between two nudges of the followers, when the
/// provider actor runs on their arbiter.
const FOLLOW_BATCH: u64 = 64;

/// The same when it runs elsewhere (the caller's runtime): each nudge then
/// wakes the arbiter's thread from another, a futex wake and two context
/// switches. One stream of 100,000 chunks in 16 KiB frames: with 64, the
/// nudges and the arbiter's wake-ups were a fifth of the client's CPU. The
/// accumulator folds a batch under the log's lock (about 20 ns a chunk),
/// so this bounds that hold to some 20 µs.
const REMOTE_FOLLOW_BATCH: u64 = 1024;

/// Ends the stream exactly once and tells the followers. Dropping it
/// without an outcome (the job was dropped: shutdown, or its actor never
/// started) ends the stream as cancelled, so no consumer waits forever.
pub(crate) struct Finisher {
    shared: Arc<Shared>,
    followers: Arc<Followers>,
}

impl Finisher {
    pub(crate) fn new(shared: Arc<Shared>, followers: Arc<Followers>) -> Self {
        Finisher { shared, followers }
    }

    fn nudge_followers(&self) {
        self.followers.nudge();
    }

    /// Makes the tool parser look at the log now (a tool call has ended:
    /// a watcher may run it while the model streams on). A parser nobody
    /// has asked anything yet stays parked: a watcher starts it.
    fn nudge_tools(&self) {
        self.followers.tools.nudge();
    }

    fn end(&self, outcome: Outcome) {
        self.shared.finish(outcome);
        self.followers.end();
    }
}

impl Drop for Finisher {
    fn drop(&mut self) {
        // Almost always the job has ended the stream already: no error to
        // build (two allocations per stream) only to be refused.
        if self.shared.log.has_ended() {
            return;
        }
        if self.shared.finish(Outcome::failed(Error::cancelled())) {
            self.followers.end();
        }
    }
}

/// The request of a call: known at the start, or still to be built.
pub(crate) enum RequestSource {
    Ready(Box<Request>),
    /// Resolved by the job before anything is sent; the per-stream clocks
    /// start once it has.
    Deferred(crate::options::DeferredRequest),
}

/// Everything one call needs to run.
pub(crate) struct Job {
    pub(crate) provider: Arc<dyn Provider>,
    pub(crate) request: RequestSource,
    pub(crate) options: StreamOptions,
    pub(crate) finisher: Finisher,
    /// The runtime's per-provider limits.
    pub(crate) limits: Arc<Limits>,
}

impl Job {
    /// The call, to its end. Not an `async fn`: that would keep the `Job`
    /// it takes for as long as the stream lives, beside the fields moved
    /// out of it (288 bytes more in every stream).
    fn run(self, running: Running) -> impl std::future::Future<Output = ()> {
        let Job {
            provider,
            request,
            options,
            finisher,
            limits,
        } = self;
        async move {
            let _running = running;
            // Kept boxed: this future lives as long as the stream, and an inline
            // `Request` would widen it by the request's size in every stream.
            let request: Box<Request> = match request {
                RequestSource::Ready(r) => r,
                RequestSource::Deferred(mut prepare) => {
                    let shared = &finisher.shared;
                    let mut timer = Timer::default();
                    let failed = match race(prepare.as_mut(), &shared.ctl, &mut timer, None, || {})
                        .await
                    {
                        Raced::Done(Ok(r)) => {
                            let _ = shared.input.set(r.messages.clone());
                            Ok(Box::new(r))
                        }
                        Raced::Done(Err(e)) => Err(e),
                        Raced::Cancelled => Err(Error::cancelled()),
                        Raced::Timeout(k) => Err(Error::timeout(k)),
                        Raced::Panicked => Err(Error::protocol("building the request panicked")),
                    };
                    match failed {
                        Ok(r) => r,
                        Err(e) => {
                            drop(prepare);
                            let_go(provider, options);
                            return finisher.end(Outcome::failed(e));
                        }
                    }
                }
            };
            if !options.fallbacks.is_empty() {
                *lock(&finisher.shared.routing) = Some(Box::new(Routing {
                    provider_id: options.provider_id.clone(),
                    model: options.model.clone(),
                    skipped: Vec::new(),
                }));
            }
            // The GenAI span (see `telemetry`): the request's parameters, and
            // its messages only when content capture is on; never keys.
            let telemetry = ChatTelemetry::start(&options, &request);
            let span = telemetry.span().clone();
            let mut driver = Driver::new(&options, &finisher, &limits, telemetry);
            let outcome = driver
                .drive(&*provider, &request)
                .instrument(span.clone())
                .await;
            let ttfc = finisher.shared.time_to_first_chunk();
            span.in_scope(|| {
                tracing::info!(
                    chunks = driver.appended,
                    ttfc_ms = ttfc.map(|d| d.as_secs_f64() * 1e3),
                    attempts = driver.attempts,
                    outcome = outcome_label(&outcome),
                    "stream ended"
                )
            });
            let answered = lock(&finisher.shared.routing)
                .as_ref()
                .map(|r| (r.provider_id.clone(), r.model.clone()));
            let (provider_id, model) =
                answered.unwrap_or_else(|| (options.provider_id.clone(), options.model.clone()));
            let error = match &outcome {
                Outcome::Failed(e) => Some(&**e),
                Outcome::Finished => None,
            };
            let elapsed = driver.start.elapsed();
            driver
                .telemetry
                .end(&provider_id, &model, ttfc, elapsed, error);
            drop(request);
            let_go(provider, options);
            finisher.end(outcome);
        }
    }
}

/// Drops what a job holds that may hold its runtime, before the job ends
/// its stream: a provider may (the local model's supervises its server
/// on the runtime), and so may the fallbacks' in `options`. Ending the
/// stream wakes its caller, who may then drop the last other handle to
/// the runtime; were this task still holding one, the runtime would shut
/// down here, on its own arbiter, instead of on the caller's thread, where
/// the shutdown joins what it stops (the local model's server included).
fn let_go(provider: Arc<dyn Provider>, options: StreamOptions) {
    drop_quietly(provider);
    drop_quietly(options);
}

fn outcome_label(outcome: &Outcome) -> &'static str {
    match outcome {
        Outcome::Finished => "finished",
        Outcome::Failed(e) => match &**e {
            Error::Timeout { which, .. } => match which {
                TimeoutKind::Connect => "timeout_connect",
                TimeoutKind::FirstChunk => "timeout_first_chunk",
                TimeoutKind::Idle => "timeout_idle",
                TimeoutKind::Total => "timeout_total",
            },
            e => e.kind().as_str(),
        },
    }
}

/// The provider actor. See the module docs.
pub(crate) struct ProviderActor {
    job: Job,
    member: Member,
}

impl ProviderActor {
    pub(crate) fn new(job: Job, member: Member) -> Self {
        ProviderActor { job, member }
    }

    /// Spawns the actor's task on the current thread's `LocalSet` (an
    /// arbiter's). If the arbiter stops first, the task is dropped with
    /// its job, whose [`Finisher`] ends the stream as cancelled.
    pub(crate) fn start(self) {
        // The job's future is the task's whole future: wrapped in an
        // `async` block it would be kept twice (see `Endpoint::boxed`).
        actix_rt::spawn(self.into_task());
    }

    /// Spawns the actor's task on `runtime` (the caller's,
    /// [`Placement::Caller`](crate::Placement::Caller)). Called from the
    /// arbiter's thread, never from one of `runtime`'s workers: a task
    /// spawned from a worker goes to that worker's LIFO slot, which no
    /// other worker steals, so a caller that then blocked its thread on
    /// the stream would wait for it forever. From another thread, it is
    /// queued for any worker. If `runtime` shuts down first, the task is
    /// dropped with its job, whose [`Finisher`] ends the stream as
    /// cancelled.
    pub(crate) fn start_on(self, runtime: &tokio::runtime::Handle) {
        runtime.spawn(self.into_task());
    }

    /// The actor's whole life: its job, counted as running.
    fn into_task(self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let ProviderActor { job, member } = self;
        member.started();
        let running = Running {
            _task: TaskGuard::new(member.counters()),
            member,
        };
        job.run(running)
    }
}

/// The provider actor counted as running (an actor and a task of the
/// runtime's statistics) for as long as its job's future exists, whether
/// the job ends, is cancelled or is dropped by a shutdown.
struct Running {
    _task: TaskGuard,
    member: Member,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.member.stopped();
    }
}

/// How one attempt (one `open`) ended.
enum Attempt {
    /// The stream is over.
    Done(Outcome),
    /// A retryable failure before any content chunk.
    Retry(Error),
}

fn after(t: Instant, d: Duration) -> Option<Instant> {
    t.checked_add(d)
}

fn panicked() -> Error {
    Error::protocol("the provider panicked while streaming")
}

/// Drops a provider value, containing a panic in its destructor.
fn drop_quietly<T>(value: T) {
    let _ = catch_unwind(AssertUnwindSafe(move || drop(value)));
}

/// Why [`Driver::read`] stopped taking chunks.
enum Read {
    /// A lossless consumer is `capacity` behind.
    Blocked,
    /// [`BURST`] chunks in a row without waiting: yield the thread.
    Burst,
    /// The stream ended.
    Finished,
    /// The stream failed.
    Failed(Error),
    Cancelled,
    Timeout(TimeoutKind),
    /// Polling the stream panicked.
    Panicked,
}

/// The state of one call while it runs.
struct Driver<'a> {
    opts: &'a StreamOptions,
    fin: &'a Finisher,
    limits: &'a Limits,
    /// The provider id of the model being tried (a fallback's, once one is).
    provider_id: &'a str,
    /// The stream's GenAI span and what it records at the end.
    telemetry: ChatTelemetry,
    shared: &'a Shared,
    start: Instant,
    timer: Timer,
    got_content: bool,
    /// Arrival of the last content chunk, pushed forward by the time spent
    /// waiting for a lossless consumer (the idle clock stops meanwhile).
    last_content: Instant,
    /// The next content chunk reads the clock into `last_content`: set
    /// while waiting for the network and every `BURST` chunks. The chunks
    /// decoded from one read arrived together, so they read it once: a
    /// clock read per chunk was 1.5–1.9% of a long stream's CPU in 16 KiB
    /// frames (perf).
    clock_due: bool,
    /// Non-content chunks received before the first content chunk: held
    /// back so that an attempt that fails and is retried leaves no
    /// duplicate metadata or usage in the log.
    pending: Vec<Chunk>,
    appended: u64,
    since_nudge: u64,
    batch: u64,
    /// Chunks were appended since subscriptions were last woken.
    dirty: bool,
    /// The first content chunk was appended since: wake the subscriptions now
    /// rather than when the arbiter goes idle.
    urgent: bool,
    attempts: u32,
    /// The last chunk appended was a tool call's end.
    after_call_end: bool,
}

impl<'a> Driver<'a> {
    fn new(
        opts: &'a StreamOptions,
        fin: &'a Finisher,
        limits: &'a Limits,
        telemetry: ChatTelemetry,
    ) -> Self {
        let start = Instant::now();
        // With a window the log cannot trim past the followers, so nudge
        // them often enough that it stays close to its size.
        let batch = match opts.window {
            Some(w) => ((w / 2).max(1) as u64).min(FOLLOW_BATCH),
            None if idle::on_arbiter() => FOLLOW_BATCH,
            None => REMOTE_FOLLOW_BATCH,
        };
        Driver {
            opts,
            fin,
            limits,
            provider_id: &opts.provider_id,
            telemetry,
            shared: &fin.shared,
            start,
            timer: Timer::default(),
            got_content: false,
            last_content: start,
            clock_due: true,
            pending: Vec::new(),
            appended: 0,
            since_nudge: 0,
            batch,
            dirty: false,
            urgent: false,
            attempts: 0,
            after_call_end: false,
        }
    }

    fn total(&self) -> Option<Deadline> {
        let d = self.opts.total_timeout?;
        Some((after(self.start, d)?, TimeoutKind::Total))
    }

    fn first(&self) -> Option<Deadline> {
        if self.got_content {
            return None;
        }
        let d = self.opts.first_chunk_timeout?;
        Some((after(self.start, d)?, TimeoutKind::FirstChunk))
    }

    fn idle(&self) -> Option<Deadline> {
        if !self.got_content {
            return None;
        }
        let d = self.opts.idle_timeout?;
        Some((after(self.last_content, d)?, TimeoutKind::Idle))
    }

    fn read_target(&self) -> Option<Deadline> {
        earliest(earliest(self.first(), self.idle()), self.total())
    }

    /// Runs the call to its outcome: the stream's own model with its
    /// retries, then each fallback in turn while the failure before the
    /// first content chunk is one a retry could help with.
    async fn drive(&mut self, provider: &dyn Provider, request: &Request) -> Outcome {
        let opts = self.opts;
        let mut err = match self
            .drive_model(provider, request, opts.retries, opts.backoff)
            .await
        {
            Ok(outcome) => return outcome,
            Err(e) => e,
        };
        for fallback in &opts.fallbacks {
            if self.shared.ctl.is_cancelled() {
                return self.fail(Error::cancelled());
            }
            // Nothing the failed model sent before failing is kept.
            self.pending.clear();
            self.fall_back(fallback, err);
            self.provider_id = &fallback.provider_id;
            // Boxed: held across the fallback's whole stream, an inline
            // `Request` would widen this future in every stream.
            let swapped: Box<Request>;
            let request = match &fallback.request {
                Some(r) => &**r,
                None => {
                    let mut r = Box::new(request.clone());
                    r.model.clone_from(&fallback.model);
                    swapped = r;
                    &*swapped
                }
            };
            err = match self
                .drive_model(
                    &*fallback.provider,
                    request,
                    fallback.retries,
                    fallback.backoff,
                )
                .await
            {
                Ok(outcome) => return outcome,
                Err(e) => e,
            };
        }
        self.fail(err)
    }

    /// Records that the model tried so far failed with `err` and that
    /// `next` is tried now.
    fn fall_back(&mut self, next: &Fallback, err: Error) {
        let mut routing = lock(&self.shared.routing);
        let routing = routing.get_or_insert_with(Default::default);
        tracing::info!(
            from = %routing.model,
            to = %next.model,
            error = err.kind().as_str(),
            "falling back"
        );
        let failed = Skipped {
            provider_id: std::mem::take(&mut routing.provider_id),
            model: std::mem::take(&mut routing.model),
            error: Arc::new(err),
        };
        routing.skipped.push(failed);
        routing.provider_id.clone_from(&next.provider_id);
        routing.model.clone_from(&next.model);
    }

    /// One model's attempts and backoffs. `Ok` is the stream's outcome;
    /// `Err` a retryable failure before any content chunk, once the
    /// model's retries are spent (or the server asked to wait longer than
    /// `max_retry_wait`): the next fallback may answer instead.
    async fn drive_model(
        &mut self,
        provider: &dyn Provider,
        request: &Request,
        retries: u32,
        first_backoff: Duration,
    ) -> Result<Outcome, Error> {
        let mut backoff = first_backoff;
        let mut attempts = 0u32;
        loop {
            if self.shared.ctl.is_cancelled() {
                return Ok(self.fail(Error::cancelled()));
            }
            self.attempts += 1;
            attempts += 1;
            let err = match self.attempt(provider, request).await {
                Attempt::Done(outcome) => return Ok(outcome),
                Attempt::Retry(e) => e,
            };
            let max_wait = self.opts.max_retry_wait;
            let asked = err.retry_after().unwrap_or_default();
            if let Error::RateLimit {
                retry_after: Some(wait),
                ..
            } = &err
            {
                // The provider is limiting this client, not this stream:
                // every new attempt to it waits that long. A wait this
                // stream would not honour is not imposed on the others.
                if *wait <= max_wait {
                    self.limits.pause(self.provider_id, *wait);
                }
            }
            if attempts > retries {
                return Err(err);
            }
            if asked > max_wait {
                // Waiting that long would look like a hang (a server once
                // asked for 11 days): the caller gets the error, with the
                // wait it asked for, and decides (or a fallback answers).
                tracing::debug!(
                    attempt = self.attempts,
                    asked_ms = asked.as_millis() as u64,
                    max_ms = max_wait.as_millis() as u64,
                    "the server asks to wait longer than max_retry_wait: not retrying"
                );
                return Err(err);
            }
            // What the failed attempt sent before failing is not kept: the
            // next attempt will send it again.
            self.pending.clear();
            let delay = backoff.min(max_wait).max(asked);
            backoff = backoff.saturating_mul(2);
            tracing::debug!(
                attempt = self.attempts,
                error = err.kind().as_str(),
                delay_ms = delay.as_millis() as u64,
                "retrying"
            );
            // Boxed: the backoff is the cold path, and a `Sleep` inline
            // would widen this future, which lives as long as the stream.
            let mut sleep = Box::pin(tokio::time::sleep(delay));
            let target = earliest(self.first(), self.total());
            let shared = self.shared;
            match race(sleep.as_mut(), &shared.ctl, &mut self.timer, target, || {}).await {
                Raced::Done(()) => {}
                Raced::Cancelled => return Ok(self.fail(Error::cancelled())),
                Raced::Timeout(k) => return Ok(self.fail(self.timed_out(k))),
                Raced::Panicked => return Ok(self.fail(panicked())),
            }
        }
    }

    /// One `open` and the reading of its stream, holding a slot of the
    /// provider's limit from before the connection until the end.
    async fn attempt(&mut self, provider: &dyn Provider, request: &Request) -> Attempt {
        let shared = self.shared;
        let opened_at = Instant::now();
        let connect = self
            .opts
            .connect_timeout
            .and_then(|d| after(opened_at, d))
            .map(|t| (t, TimeoutKind::Connect));
        let target = earliest(earliest(connect, self.first()), self.total());
        // Waiting for a slot (or for a 429's pause to end) is part of
        // connecting: the connect timeout counts it.
        let _slot = {
            let mut enter = Box::pin(self.limits.enter(self.provider_id, &request.model));
            match race(enter.as_mut(), &shared.ctl, &mut self.timer, target, || {}).await {
                Raced::Done(slot) => slot,
                Raced::Timeout(TimeoutKind::Connect) => {
                    return self.failed(self.timed_out(TimeoutKind::Connect))
                }
                Raced::Timeout(k) => return Attempt::Done(self.fail(self.timed_out(k))),
                Raced::Cancelled => return Attempt::Done(self.fail(Error::cancelled())),
                Raced::Panicked => return Attempt::Done(self.fail(panicked())),
            }
        };
        let mut open = match catch_unwind(AssertUnwindSafe(|| provider.open(request))) {
            Ok(open) => open,
            Err(_) => return Attempt::Done(self.fail(panicked())),
        };
        let opened = race(open.as_mut(), &shared.ctl, &mut self.timer, target, || {}).await;
        drop_quietly(open);
        let mut stream = match opened {
            Raced::Done(Ok(stream)) => stream,
            Raced::Done(Err(e)) => return self.failed(e),
            // Our connect timer is a failed connection attempt: retryable.
            // The first-chunk and total timers count from the start of the
            // call, so retrying after them cannot help.
            Raced::Timeout(TimeoutKind::Connect) => {
                return self.failed(self.timed_out(TimeoutKind::Connect))
            }
            Raced::Timeout(k) => return Attempt::Done(self.fail(self.timed_out(k))),
            Raced::Cancelled => return Attempt::Done(self.fail(Error::cancelled())),
            Raced::Panicked => return Attempt::Done(self.fail(panicked())),
        };

        let mut streak = 0u32;
        loop {
            // One future for every chunk until the loop has something to
            // do besides reading: a new race per chunk wrote its state into
            // a cold part of this future for each of them.
            let read = poll_fn(|cx| self.read(&mut stream, &mut streak, cx)).await;
            let outcome = match read {
                Read::Blocked => {
                    if let Err(outcome) = self.wait_for_room().await {
                        drop_quietly(stream);
                        return Attempt::Done(outcome);
                    }
                    continue;
                }
                Read::Burst => {
                    streak = 0;
                    self.clock_due = true;
                    self.wake_readers();
                    tokio::task::yield_now().await;
                    // A stream that is never pending never lets the timer
                    // be polled: check the deadline by hand.
                    if let Some((at, kind)) = self.read_target() {
                        if Instant::now() >= at {
                            drop_quietly(stream);
                            return Attempt::Done(self.fail(self.timed_out(kind)));
                        }
                    }
                    continue;
                }
                Read::Failed(e) => {
                    drop_quietly(stream);
                    return self.failed(e);
                }
                Read::Finished => Outcome::Finished,
                Read::Cancelled => Outcome::failed(Error::cancelled()),
                Read::Timeout(k) => Outcome::failed(self.timed_out(k)),
                Read::Panicked => Outcome::failed(panicked()),
            };
            // Drop the stream (and with it the HTTP body and the socket)
            // before anything else.
            drop_quietly(stream);
            self.flush_pending();
            return Attempt::Done(outcome);
        }
    }

    /// Takes the chunks `stream` has ready into the log, until it must
    /// wait (`Pending`: the network, a cancel or the timer wakes it) or
    /// the caller has something else to do ([`Read`]). What [`race`] does
    /// for one future, for a run of chunks: cancel is checked before each
    /// poll, the waker registered for it and the timer polled only when
    /// the stream is about to wait.
    fn read(
        &mut self,
        stream: &mut rivulet_core::ChunkStream,
        streak: &mut u32,
        cx: &mut Context<'_>,
    ) -> Poll<Read> {
        let shared = self.shared;
        loop {
            // Checked first: after waiting for room, the burst that was
            // under way when the consumer fell behind still yields.
            if *streak >= BURST {
                return Poll::Ready(Read::Burst);
            }
            if shared.ctl.is_cancelled() {
                return Poll::Ready(Read::Cancelled);
            }
            match catch_unwind(AssertUnwindSafe(|| stream.poll_next_unpin(cx))) {
                Ok(Poll::Ready(Some(Ok(chunk)))) => {
                    *streak += 1;
                    if self.accept(chunk) {
                        return Poll::Ready(Read::Blocked);
                    }
                }
                Ok(Poll::Ready(Some(Err(e)))) => return Poll::Ready(Read::Failed(e)),
                Ok(Poll::Ready(None)) => return Poll::Ready(Read::Finished),
                Ok(Poll::Pending) => break,
                Err(_) => return Poll::Ready(Read::Panicked),
            }
        }
        shared.ctl.register(cx.waker());
        if shared.ctl.is_cancelled() {
            return Poll::Ready(Read::Cancelled);
        }
        // About to wait for the network: the burst is over, so wake the
        // subscriptions once for all of it. The first token goes at once
        // (it is the latency users feel); later ones with the rest of the
        // arbiter's pass (see `idle`).
        *streak = 0;
        self.clock_due = true;
        if std::mem::take(&mut self.dirty)
            && (std::mem::take(&mut self.urgent) || !idle::defer_notify(&self.fin.shared))
        {
            shared.log.notify();
        }
        let target = self.read_target();
        self.timer.poll(cx, target).map(Read::Timeout)
    }

    /// A failure from the provider: retry it if nothing has been shown yet
    /// and a retry can help.
    fn failed(&mut self, e: Error) -> Attempt {
        if !self.got_content && e.is_retryable() {
            Attempt::Retry(e)
        } else {
            Attempt::Done(self.fail(e))
        }
    }

    /// The terminal failure: what was held back is kept (usage so far stays
    /// on the response).
    /// The error of a `kind` timeout: its limit and the provider named.
    fn timed_out(&self, kind: TimeoutKind) -> Error {
        let limit = match kind {
            TimeoutKind::Connect => self.opts.connect_timeout,
            TimeoutKind::FirstChunk => self.opts.first_chunk_timeout,
            TimeoutKind::Idle => self.opts.idle_timeout,
            TimeoutKind::Total => self.opts.total_timeout,
        };
        let e = match limit {
            Some(limit) => Error::timeout_after(kind, limit),
            None => Error::timeout(kind),
        };
        e.with_provider(self.provider_id)
    }

    fn fail(&mut self, e: Error) -> Outcome {
        self.flush_pending();
        Outcome::failed(e)
    }

    /// Takes one chunk from the provider. Returns whether a lossless
    /// consumer is now too far behind.
    fn accept(&mut self, chunk: Chunk) -> bool {
        if chunk.is_content() {
            if std::mem::take(&mut self.clock_due) {
                self.last_content = Instant::now();
            }
            let mut blocked = false;
            if !self.got_content {
                self.got_content = true;
                self.urgent = true;
                // The clock was due: nothing before was content.
                self.shared
                    .set_time_to_first_chunk(self.last_content - self.start);
                blocked = self.flush_pending();
            }
            self.push(chunk) || blocked
        } else if self.got_content {
            self.push(chunk)
        } else {
            self.pending.push(chunk);
            false
        }
    }

    fn flush_pending(&mut self) -> bool {
        let mut blocked = false;
        for chunk in std::mem::take(&mut self.pending) {
            blocked |= self.push(chunk);
        }
        blocked
    }

    fn push(&mut self, chunk: Chunk) -> bool {
        // The tool parser is nudged on every call end and on the chunk after
        // (which tells whether a max_tokens finish cut the call off), once
        // the chunk is in the log: the parser may run on another thread at
        // once (the provider actor is not always on its arbiter), and
        // nudged before the append it could miss the very chunk it was
        // nudged for.
        let call_end = matches!(chunk, Chunk::ToolCallEnd { .. });
        let nudge_tools = call_end || std::mem::take(&mut self.after_call_end);
        self.after_call_end = call_end;
        self.telemetry.saw(&chunk);
        let blocked = self.shared.log.append(chunk);
        self.appended += 1;
        self.dirty = true;
        self.since_nudge += 1;
        if self.since_nudge >= self.batch {
            self.since_nudge = 0;
            self.fin.nudge_followers();
        } else if nudge_tools {
            self.fin.nudge_tools();
        }
        blocked
    }

    fn wake_readers(&mut self) {
        self.urgent = false;
        if std::mem::take(&mut self.dirty) {
            self.shared.log.notify();
        }
    }

    /// Stops reading until no lossless consumer is `capacity` behind. Only
    /// the total timeout and cancel can interrupt the wait: the idle clock
    /// does not run while we are the slow side.
    async fn wait_for_room(&mut self) -> Result<(), Outcome> {
        self.wake_readers();
        let shared = self.shared;
        let began = Instant::now();
        let target = self.total();
        let timer = &mut self.timer;
        let waited = poll_fn(|cx| {
            shared.ctl.register(cx.waker());
            // Park before checking: a consumer that advances after the check
            // sees the flag and wakes us (see `Control::progress`).
            shared.ctl.park();
            // `Err(None)`: cancelled; `Err(Some(kind))`: timed out.
            if shared.ctl.is_cancelled() {
                return Poll::Ready(Err(None));
            }
            if !shared.log.blocked() {
                return Poll::Ready(Ok(()));
            }
            timer.poll(cx, target).map(|k| Err(Some(k)))
        })
        .await;
        shared.ctl.unpark();
        self.last_content += began.elapsed();
        waited.map_err(|stop| {
            let e = match stop {
                None => Error::cancelled(),
                Some(kind) => self.timed_out(kind),
            };
            self.fail(e)
        })
    }
}
