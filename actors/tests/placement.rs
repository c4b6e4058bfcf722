//! Where a stream's provider actor runs (`RuntimeConfig::placement`), and
//! that a caller blocking a worker of its runtime on the stream still sees
//! it end.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use rivulet_actors::{Placement, Runtime, RuntimeConfig};
use rivulet_core::{OpenFuture, Provider, Request};

/// A scripted provider that notes the name of the thread each `open` is
/// called on: the provider actor's.
struct Where {
    inner: Arc<ScriptedProvider>,
    threads: Mutex<Vec<String>>,
}

impl Where {
    fn new(words: usize) -> Arc<Where> {
        Arc::new(Where {
            inner: ScriptedProvider::new(numbered(words)),
            threads: Mutex::new(Vec::new()),
        })
    }

    fn threads(&self) -> Vec<String> {
        self.threads.lock().expect("threads").clone()
    }
}

impl Provider for Where {
    fn id(&self) -> &str {
        self.inner.id()
    }

    fn open(&self, request: &Request) -> OpenFuture {
        let name = std::thread::current().name().unwrap_or("").to_string();
        self.threads.lock().expect("threads").push(name);
        self.inner.open(request)
    }
}

fn runtime(placement: Placement) -> Runtime {
    Runtime::new(RuntimeConfig {
        placement,
        ..RuntimeConfig::default()
    })
}

fn caller_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("caller-worker")
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The text of one stream of `provider`, started and awaited on `tokio`.
fn text_on(tokio: &tokio::runtime::Runtime, rt: &Runtime, provider: &Arc<Where>) -> String {
    tokio.block_on(async {
        let handle = rt.start(provider.clone(), request(), opts());
        handle.finish().await.expect("finished").text()
    })
}

#[test]
fn by_default_a_stream_started_on_a_multi_threaded_runtime_is_read_there() {
    let rt = runtime(Placement::default());
    let tokio = caller_runtime(2);
    let provider = Where::new(20);
    assert_eq!(text_on(&tokio, &rt, &provider), numbered_text(20));
    assert_eq!(provider.threads(), ["caller-worker"]);
    rt.shutdown();
}

#[test]
fn a_stream_started_elsewhere_or_placed_on_the_arbiter_is_read_on_the_arbiter() {
    let on_arbiter = |name: &str| name.starts_with("actix-rt|");
    // Placement::Arbiter, from a multi-threaded runtime.
    let rt = runtime(Placement::Arbiter);
    let tokio = caller_runtime(2);
    let provider = Where::new(5);
    assert_eq!(text_on(&tokio, &rt, &provider), numbered_text(5));
    let threads = provider.threads();
    assert!(threads.len() == 1 && on_arbiter(&threads[0]), "{threads:?}");
    rt.shutdown();

    // The default, from a current-thread runtime and from no runtime.
    let rt = runtime(Placement::Caller);
    let provider = Where::new(5);
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let from_current = text_on(&current, &rt, &provider);
    let from_none = rt
        .start(provider.clone(), request(), opts())
        .blocking()
        .finish()
        .expect("finished")
        .text();
    assert_eq!(
        (from_current, from_none),
        (numbered_text(5), numbered_text(5))
    );
    let threads = provider.threads();
    assert!(
        threads.len() == 2 && threads.iter().all(|t| on_arbiter(t)),
        "{threads:?}"
    );
    rt.shutdown();
}

/// The provider actor is handed to the caller's runtime from the arbiter,
/// not spawned from the caller's worker: spawned there, it would sit in that
/// worker's LIFO slot, which the other workers never steal, and a caller
/// blocking that worker on the stream would wait for it forever.
#[test]
fn a_caller_blocking_its_worker_on_the_stream_still_sees_it_end() {
    let rt = runtime(Placement::Caller);
    let tokio = caller_runtime(2);
    let provider = Where::new(50);
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let (rt2, provider2) = (rt.clone(), provider.clone());
    tokio.spawn(async move {
        // Blocks this worker until the stream ends.
        let handle = rt2.start(provider2, request(), opts());
        let _ = done_tx.send(handle.blocking().finish().map(|r| r.text()));
    });
    let text = done_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the blocked caller saw its stream end")
        .expect("finished");
    assert_eq!(text, numbered_text(50));
    assert_eq!(provider.threads(), ["caller-worker"]);
    rt.shutdown();
}

/// A stream read on the caller's runtime ends as cancelled, for every
/// consumer, when that runtime shuts down under it, and keeps what came
/// before.
#[test]
fn a_stream_whose_caller_runtime_shuts_down_ends_cancelled() {
    let rt = runtime(Placement::Caller);
    let tokio = caller_runtime(2);
    // Ten words, then a pause (before the text's end) the shutdown falls into.
    let mut steps = numbered(10);
    steps.insert(11, Step::Sleep(Duration::from_secs(30)));
    let provider = ScriptedProvider::new(steps);
    let handle = tokio.block_on(async { rt.start(provider.clone(), request(), opts()) });
    let events = handle
        .blocking()
        .subscribe(rivulet_actors::Policy::default());
    assert!(
        wait_until(Duration::from_secs(5), || provider.probe.pulled() >= 11),
        "the first ten words never came"
    );
    let began = std::time::Instant::now();
    tokio.shutdown_timeout(Duration::from_secs(5));
    let events: Vec<_> = events.collect();
    assert!(
        began.elapsed() < Duration::from_secs(5),
        "{:?}",
        began.elapsed()
    );
    assert!(is_cancelled(&end_of(&events)), "{:?}", end_of(&events));
    assert_eq!(text_of(&events), numbered_text(10));
    let response = handle.blocking().snapshot();
    assert_eq!(response.text(), numbered_text(10));
    rt.shutdown();
}
