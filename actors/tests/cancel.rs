//! Cancellation: explicit, by dropping every handle, and run-to-completion.

mod common;

use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt;
use rivulet_actors::{Event, Outcome, Policy, Runtime, RuntimeConfig, RuntimeStats, StreamOptions};
use rivulet_core::{Chunk, Error, UsageDelta};

/// `start`, `n` words, then a usage delta, then the stream stalls (a server
/// still generating, slowly).
fn stalls_after(n: usize) -> Vec<Step> {
    let mut steps = numbered(n);
    steps.pop(); // no text_end: still generating
    steps.push(Step::Chunk(Chunk::UsageDelta {
        usage: Box::new(UsageDelta {
            input_tokens: Some(3),
            ..Default::default()
        }),
    }));
    steps.push(Step::Stall);
    steps
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_after_n_chunks_drops_the_stream_at_once() {
    const N: usize = 5;
    let rt = Runtime::new(RuntimeConfig::default());
    let provider = ScriptedProvider::new(stalls_after(N));
    let handle = rt.start(provider.clone(), request(), opts());
    let mut sub = handle.subscribe(Policy::default());

    let mut events = Vec::new();
    let mut content = 0;
    while content < N + 1 {
        let ev = sub.next().await.unwrap();
        if let Event::Chunk(c) = &ev {
            if c.is_content() {
                content += 1;
            }
        }
        events.push(ev);
    }
    let cancelled_at = Instant::now();
    handle.cancel();
    while let Some(ev) = sub.next().await {
        events.push(ev);
    }
    let dropped_at = provider.probe.state().dropped_at.expect("stream dropped");
    let took = dropped_at.saturating_duration_since(cancelled_at);
    assert!(
        took < Duration::from_millis(100),
        "stream dropped after {took:?}"
    );

    assert!(is_cancelled(&end_of(&events)));
    assert_eq!(text_of(&events), numbered_text(N));
    assert!(matches!(
        handle.finish().await,
        Err(Error::Cancelled { .. })
    ));
    let snap = handle.snapshot().await;
    assert_eq!(snap.text(), numbered_text(N));
    assert_eq!(snap.usage.input_tokens, Some(3));
    assert!(is_cancelled(&handle.outcome().unwrap()));
    rt.shutdown();
}

#[test]
fn dropping_every_handle_cancels_the_stream() {
    let rt = Runtime::new(RuntimeConfig::default());
    let provider = ScriptedProvider::new(stalls_after(3));
    let handle = rt.start(provider.clone(), request(), opts());
    let mut sub = handle.blocking().subscribe(Policy::default());
    let clone = handle.clone();
    // Five chunks: start and three words, then the usage delta.
    for _ in 0..5 {
        assert!(matches!(sub.next(), Some(Event::Chunk(_))));
    }
    drop(handle);
    drop(clone);
    // The subscription still holds the stream.
    std::thread::sleep(Duration::from_millis(50));
    assert!(provider.probe.state().dropped_at.is_none());

    let dropped = Instant::now();
    drop(sub);
    let at = provider
        .probe
        .wait_dropped(Duration::from_secs(5))
        .expect("dropped");
    let took = at.saturating_duration_since(dropped);
    assert!(
        took < Duration::from_millis(100),
        "stream dropped after {took:?}"
    );
    assert!(!provider.probe.state().ran_out);
    assert!(rt.wait_idle(Duration::from_secs(5)));
    assert_eq!(rt.stats(), RuntimeStats::default());
    rt.shutdown();
}

#[test]
fn a_stream_that_runs_to_completion_survives_its_handles() {
    let rt = Runtime::new(RuntimeConfig::default());
    let mut steps = Vec::new();
    for s in numbered(10) {
        steps.push(Step::Sleep(Duration::from_millis(10)));
        steps.push(s);
    }
    let provider = ScriptedProvider::new(steps);
    let handle = rt.start(
        provider.clone(),
        request(),
        StreamOptions {
            run_to_completion: true,
            ..opts()
        },
    );
    drop(handle);
    provider
        .probe
        .wait_dropped(Duration::from_secs(5))
        .expect("dropped");
    assert!(provider.probe.state().ran_out, "the stream ran to its end");
    assert_eq!(provider.probe.pulled(), 12);
    assert!(rt.wait_idle(Duration::from_secs(5)));
    rt.shutdown();
}

#[test]
fn cancel_after_the_end_is_a_no_op() {
    let rt = Runtime::new(RuntimeConfig::default());
    let handle = rt.start(
        ScriptedProvider::new(text_steps(&["done"])),
        request(),
        opts(),
    );
    assert_eq!(handle.blocking().finish().unwrap().text(), "done");
    handle.cancel();
    handle.cancel();
    assert_eq!(handle.outcome(), Some(Outcome::Finished));
    assert_eq!(handle.blocking().finish().unwrap().text(), "done");
    let events: Vec<Event> = handle.blocking().subscribe(Policy::default()).collect();
    assert_eq!(end_of(&events), Outcome::Finished);
    rt.shutdown();
}

#[test]
fn cancel_while_opening_ends_at_once() {
    let rt = Runtime::new(RuntimeConfig::default());
    let provider = ScriptedProvider::new(vec![Step::OpenStall]);
    let handle = rt.start(provider.clone(), request(), opts());
    assert!(wait_until(Duration::from_secs(5), || provider
        .probe
        .opens()
        == 1));
    let t0 = Instant::now();
    handle.cancel();
    let err = handle.blocking().finish().unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }));
    assert!(t0.elapsed() < Duration::from_millis(100));
    assert_eq!(provider.probe.opens(), 1);
    rt.shutdown();
}

#[test]
fn cancel_while_held_back_by_a_lossless_subscriber() {
    let rt = Runtime::new(RuntimeConfig::default());
    let gate = gate();
    let mut steps = vec![Step::OpenGate(gate.clone())];
    steps.extend(numbered(100));
    let provider = ScriptedProvider::new(steps);
    let handle = rt.start(provider.clone(), request(), opts());
    let mut sub = handle
        .blocking()
        .subscribe(Policy::Lossless { capacity: 4 });
    gate.add_permits(1);
    assert!(matches!(sub.next(), Some(Event::Chunk(_))));
    assert!(wait_until(Duration::from_secs(5), || provider
        .probe
        .pulled()
        == 5));
    handle.cancel();
    provider
        .probe
        .wait_dropped(Duration::from_secs(5))
        .expect("dropped");
    let rest: Vec<Event> = sub.collect();
    assert_eq!(chunks_of(&rest).len(), 4);
    assert!(is_cancelled(&end_of(&rest)));
    rt.shutdown();
}
