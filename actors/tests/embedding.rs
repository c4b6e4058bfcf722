//! The runtime from plain threads, from both tokio runtime flavours, and
//! its shutdown.

mod common;

use std::time::Duration;

use common::*;
use rivulet_actors::{
    BlockingSubscription, Event, Outcome, Policy, Runtime, RuntimeConfig, RuntimeStats,
    StreamHandle, Subscription,
};
use rivulet_core::Error;

#[test]
fn public_types_are_send_and_sync_where_natural() {
    fn send<T: Send>() {}
    fn sync<T: Sync>() {}
    fn unpin_stream<T: futures::Stream<Item = Event> + Unpin>() {}
    send::<Runtime>();
    sync::<Runtime>();
    send::<StreamHandle>();
    sync::<StreamHandle>();
    send::<Subscription>();
    send::<BlockingSubscription>();
    unpin_stream::<Subscription>();
}

#[test]
fn the_blocking_api_works_from_a_plain_thread() {
    let rt = Runtime::new(RuntimeConfig::default());
    let rt2 = rt.clone();
    std::thread::spawn(move || {
        let handle = rt2.start(
            ScriptedProvider::new(text_steps(&["from ", "a thread"])),
            request(),
            opts(),
        );
        let events: Vec<Event> = handle.blocking().subscribe(Policy::default()).collect();
        assert_eq!(text_of(&events), "from a thread");
        assert_eq!(end_of(&events), Outcome::Finished);
        assert_eq!(handle.blocking().snapshot().text(), "from a thread");
        assert_eq!(handle.blocking().finish().unwrap().text(), "from a thread");
        assert!(handle.blocking().tool_calls().is_empty());
    })
    .join()
    .unwrap();
    assert!(rt.wait_idle(Duration::from_secs(5)));
    rt.shutdown();
}

#[tokio::test]
async fn the_async_api_works_inside_a_current_thread_runtime() {
    let rt = Runtime::new(RuntimeConfig::default());
    let mut steps = text_steps(&["cur", "rent"]);
    steps.insert(2, Step::Sleep(Duration::from_millis(20)));
    let handle = rt.start(ScriptedProvider::new(steps), request(), opts());
    let a = handle.subscribe(Policy::default());
    let b = handle.subscribe(Policy::Detached { capacity: 1 });
    let (a, b) = tokio::join!(collect(a), collect(b));
    assert_eq!(a, b);
    assert_eq!(text_of(&a), "current");
    assert_eq!(handle.snapshot().await.text(), "current");
    assert_eq!(handle.finish().await.unwrap().text(), "current");
    rt.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_async_api_works_inside_a_multi_thread_runtime() {
    let rt = Runtime::new(RuntimeConfig {
        arbiters: 3,
        ..RuntimeConfig::default()
    });
    let mut tasks = Vec::new();
    for i in 0..9 {
        let rt = rt.clone();
        tasks.push(tokio::spawn(async move {
            let word = format!("stream{i}");
            let handle = rt.start(
                ScriptedProvider::new(text_steps(&[&word])),
                request(),
                opts(),
            );
            let events = collect(handle.subscribe(Policy::default())).await;
            assert_eq!(text_of(&events), word);
            assert_eq!(end_of(&events), Outcome::Finished);
            handle.finish().await.unwrap().text()
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap(), format!("stream{i}"));
    }
    rt.shutdown();
}

#[test]
fn the_global_runtime_starts_on_first_use() {
    let rt = Runtime::global();
    assert!(std::ptr::eq(rt, Runtime::global()));
    let handle = rt.start(
        ScriptedProvider::new(text_steps(&["global"])),
        request(),
        opts(),
    );
    assert_eq!(handle.blocking().finish().unwrap().text(), "global");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_in_flight_streams_and_every_consumer_sees_its_end() {
    let rt = Runtime::new(RuntimeConfig {
        arbiters: 2,
        ..RuntimeConfig::default()
    });
    let mut handles = Vec::new();
    let mut async_consumers = Vec::new();
    let mut blocking_consumers = Vec::new();
    for _ in 0..4 {
        let mut steps = text_steps(&["in ", "flight"]);
        steps.truncate(3);
        steps.push(Step::Stall);
        let provider = ScriptedProvider::new(steps);
        let handle = rt.start(provider.clone(), request(), opts());
        for _ in 0..2 {
            async_consumers.push(tokio::spawn(collect(handle.subscribe(Policy::default()))));
            let sub = handle
                .blocking()
                .subscribe(Policy::Detached { capacity: 8 });
            blocking_consumers.push(std::thread::spawn(move || sub.collect::<Vec<_>>()));
        }
        handles.push((handle, provider));
    }
    for (h, _) in &handles {
        let h = h.clone();
        assert!(tokio::task::spawn_blocking(move || wait_until(Duration::from_secs(5), || h.len() == 3))
            .await
            .unwrap());
    }

    let rt2 = rt.clone();
    tokio::task::spawn_blocking(move || rt2.shutdown())
        .await
        .unwrap();
    rt.shutdown(); // idempotent

    for c in async_consumers {
        let events = c.await.unwrap();
        assert_eq!(text_of(&events), "in flight");
        assert!(is_cancelled(&end_of(&events)), "{events:?}");
    }
    for c in blocking_consumers {
        let events = c.join().unwrap();
        assert_eq!(text_of(&events), "in flight");
        assert!(is_cancelled(&end_of(&events)), "{events:?}");
    }
    for (h, provider) in &handles {
        assert!(matches!(h.finish().await, Err(Error::Cancelled { .. })));
        assert_eq!(h.snapshot().await.text(), "in flight");
        assert!(provider.probe.state().dropped_at.is_some());
    }
    assert_eq!(rt.stats(), RuntimeStats::default());

    // After shutdown a stream ends at once, cancelled.
    let late = rt.start(ScriptedProvider::new(text_steps(&["x"])), request(), opts());
    assert!(matches!(late.finish().await, Err(Error::Cancelled { .. })));
    let events = collect(late.subscribe(Policy::default())).await;
    assert_eq!(events.len(), 1);
    assert!(is_cancelled(&end_of(&events)));
}

#[test]
fn shutdown_does_not_wait_forever_for_a_consumer_that_does_not_read() {
    let rt = Runtime::new(RuntimeConfig::default());
    let mut steps = numbered(10);
    steps.pop();
    steps.push(Step::Stall);
    let handle = rt.start(ScriptedProvider::new(steps), request(), opts());
    let sub = handle
        .blocking()
        .subscribe(Policy::Detached { capacity: 2 });
    assert!(wait_until(Duration::from_secs(5), || handle.len() == 11));

    let t0 = std::time::Instant::now();
    rt.shutdown();
    assert!(t0.elapsed() < Duration::from_secs(5));
    // The consumer reads the log itself: after the shutdown it still gets
    // every chunk the stream received, then exactly one terminal event.
    let events: Vec<Event> = sub.collect();
    assert_eq!(chunks_of(&events).len(), 11);
    assert!(is_cancelled(&end_of(&events)));
    assert!(matches!(
        handle.blocking().finish(),
        Err(Error::Cancelled { .. })
    ));
    assert_eq!(handle.blocking().snapshot().text(), numbered_text(10));
}
