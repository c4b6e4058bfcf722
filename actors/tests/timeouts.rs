//! Every per-stream timeout fires with its kind and keeps what was received.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rivulet_actors::{Event, Outcome, Policy, Runtime, RuntimeConfig, StreamOptions};
use rivulet_core::{Chunk, Error, TimeoutKind, UsageDelta};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn usage(n: i64) -> Step {
    Step::Chunk(Chunk::UsageDelta {
        usage: Box::new(UsageDelta {
            output_tokens: Some(n),
            ..Default::default()
        }),
    })
}

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig::default())
}

#[test]
fn connect_timeout_when_open_never_resolves() {
    let rt = runtime();
    let provider = ScriptedProvider::new(vec![Step::OpenStall]);
    let t0 = Instant::now();
    let handle = rt.start(
        provider.clone(),
        request(),
        StreamOptions {
            connect_timeout: Some(ms(100)),
            retries: 0,
            ..opts()
        },
    );
    let events: Vec<Event> = handle.blocking().subscribe(Policy::default()).collect();
    let elapsed = t0.elapsed();
    assert_eq!(
        end_of(&events),
        Outcome::failed(
            Error::timeout_after(TimeoutKind::Connect, ms(100)).with_provider("scripted")
        )
    );
    assert_eq!(events.len(), 1);
    assert!(elapsed >= ms(100), "{elapsed:?}");
    assert!(elapsed < ms(1000), "{elapsed:?}");
    assert_eq!(provider.probe.opens(), 1);
    rt.shutdown();
}

#[test]
fn a_connect_timeout_is_retried_like_a_failed_connection() {
    let rt = runtime();
    let provider = ScriptedProvider::attempts(vec![
        vec![Step::OpenStall],
        vec![Step::OpenStall],
        text_steps(&["third", " time"]),
    ]);
    let handle = rt.start(
        provider.clone(),
        request(),
        StreamOptions {
            connect_timeout: Some(ms(50)),
            retries: 2,
            backoff: ms(10),
            ..opts()
        },
    );
    assert_eq!(handle.blocking().finish().unwrap().text(), "third time");
    assert_eq!(provider.probe.opens(), 3);
    rt.shutdown();
}

#[test]
fn first_chunk_timeout_counts_from_the_start_and_keeps_metadata() {
    let rt = runtime();
    let provider = ScriptedProvider::new(vec![
        Step::OpenSleep(ms(50)),
        Step::Chunk(Chunk::Metadata {
            id: Some("r1".into()),
            model: None,
        }),
        // Non-content chunks keep coming but are not content.
        Step::Sleep(ms(50)),
        usage(1),
        Step::Sleep(ms(50)),
        usage(1),
        Step::Stall,
    ]);
    let t0 = Instant::now();
    let handle = rt.start(
        provider.clone(),
        request(),
        StreamOptions {
            first_chunk_timeout: Some(ms(200)),
            idle_timeout: Some(ms(60)),
            ..opts()
        },
    );
    let err = handle.blocking().finish().unwrap_err();
    let elapsed = t0.elapsed();
    assert_eq!(
        err,
        Error::timeout_after(TimeoutKind::FirstChunk, ms(200)).with_provider("scripted")
    );
    assert!(elapsed >= ms(200), "{elapsed:?}");
    assert!(elapsed < ms(1000), "{elapsed:?}");
    let snap = handle.blocking().snapshot();
    assert_eq!(snap.id.as_deref(), Some("r1"));
    assert_eq!(snap.usage.output_tokens, Some(2));
    assert_eq!(snap.text(), "");
    // A timeout of ours is not retried.
    assert_eq!(provider.probe.opens(), 1);
    rt.shutdown();
}

#[test]
fn idle_timeout_is_not_reset_by_non_content_chunks() {
    let rt = runtime();
    let mut steps = text_steps(&["a", "b"]);
    steps.truncate(3);
    // Usage every 30 ms for 600 ms: an idle stream that is not silent.
    for _ in 0..20 {
        steps.push(Step::Sleep(ms(30)));
        steps.push(usage(1));
    }
    steps.push(Step::Chunk(Chunk::text(0, "c")));
    let provider = ScriptedProvider::new(steps);
    let handle = rt.start(
        provider.clone(),
        request(),
        StreamOptions {
            idle_timeout: Some(ms(150)),
            ..opts()
        },
    );
    let events: Vec<Event> = handle.blocking().subscribe(Policy::default()).collect();
    // From the provider handing out its last content chunk to the consumer
    // seeing the end: at least the idle timeout.
    let idle = provider.probe.state().last_content_at.unwrap().elapsed();
    assert_eq!(
        end_of(&events),
        Outcome::failed(Error::timeout_after(TimeoutKind::Idle, ms(150)).with_provider("scripted"))
    );
    assert!(idle >= ms(150), "{idle:?}");
    assert!(idle < ms(550), "{idle:?}");
    assert_eq!(text_of(&events), "ab");
    let usage_chunks = events
        .iter()
        .filter(|e| matches!(e, Event::Chunk(c) if matches!(**c, Chunk::UsageDelta { .. })))
        .count();
    assert!((3..=18).contains(&usage_chunks), "{usage_chunks}");
    let snap = handle.blocking().snapshot();
    assert_eq!(snap.text(), "ab");
    assert_eq!(snap.usage.output_tokens, Some(usage_chunks as u64));
    rt.shutdown();
}

#[test]
fn total_timeout_ends_a_stream_that_keeps_going() {
    let rt = runtime();
    let mut steps = vec![Step::Chunk(Chunk::text_start(0))];
    for i in 0..100 {
        steps.push(Step::Sleep(ms(20)));
        steps.push(Step::Chunk(Chunk::text(0, format!("{i},"))));
    }
    let provider = ScriptedProvider::new(steps);
    let t0 = Instant::now();
    let handle = rt.start(
        provider.clone(),
        request(),
        StreamOptions {
            total_timeout: Some(ms(300)),
            idle_timeout: Some(ms(200)),
            ..opts()
        },
    );
    let err = handle.blocking().finish().unwrap_err();
    let elapsed = t0.elapsed();
    assert_eq!(
        err,
        Error::timeout_after(TimeoutKind::Total, ms(300)).with_provider("scripted")
    );
    assert!(elapsed >= ms(300), "{elapsed:?}");
    assert!(elapsed < ms(1500), "{elapsed:?}");
    let text = handle.blocking().snapshot().text();
    let n = provider.probe.pulled() - 1;
    assert!(n >= 3, "{n}");
    let expected: String = (0..n).map(|i| format!("{i},")).collect();
    assert_eq!(text, expected);
    assert!(provider.probe.state().dropped_at.is_some());
    rt.shutdown();
}

/// A stream whose chunks are always ready is never idle, however long it
/// runs: the idle clock is read once per network read, and every so many
/// chunks of a read that never ends. Here 800 chunks, each ready after
/// half a millisecond of work: 400 ms without a pending poll, against an
/// idle timeout of 150 ms.
#[test]
fn a_stream_always_ready_for_longer_than_the_idle_timeout_finishes() {
    let rt = runtime();
    let n = 800;
    let mut steps = vec![Step::Chunk(Chunk::text_start(0))];
    for _ in 0..n {
        steps.push(Step::Busy(Duration::from_micros(500)));
        steps.push(Step::Chunk(Chunk::text(0, "x")));
    }
    let provider = ScriptedProvider::new(steps);
    let handle = rt.start(
        provider.clone(),
        request(),
        StreamOptions {
            idle_timeout: Some(ms(150)),
            ..opts()
        },
    );
    let response = handle.blocking().finish();
    assert_eq!(response.map(|r| r.text().len()), Ok(n));
    rt.shutdown();
}

#[test]
fn total_timeout_fires_during_a_retry_backoff() {
    let rt = runtime();
    let provider = ScriptedProvider::new(vec![Step::OpenFail(Error::from_status(
        "scripted", 503, "busy", None, None,
    ))]);
    let t0 = Instant::now();
    let handle = rt.start(
        provider.clone(),
        request(),
        StreamOptions {
            total_timeout: Some(ms(150)),
            retries: 5,
            backoff: ms(1000),
            ..opts()
        },
    );
    let err = handle.blocking().finish().unwrap_err();
    assert_eq!(
        err,
        Error::timeout_after(TimeoutKind::Total, ms(150)).with_provider("scripted")
    );
    assert!(t0.elapsed() < ms(900));
    assert_eq!(provider.probe.opens(), 1);
    rt.shutdown();
}

#[test]
fn waiting_on_a_lossless_consumer_does_not_count_as_idle() {
    let rt = runtime();
    let gate = gate();
    let mut steps = vec![Step::OpenGate(gate.clone())];
    steps.extend(numbered(20));
    let provider = ScriptedProvider::new(steps);
    let handle = rt.start(
        provider.clone(),
        request(),
        StreamOptions {
            idle_timeout: Some(ms(100)),
            ..opts()
        },
    );
    let mut sub = handle
        .blocking()
        .subscribe(Policy::Lossless { capacity: 2 });
    gate.add_permits(1);
    assert!(matches!(sub.next(), Some(Event::Chunk(_))));
    assert!(wait_until(Duration::from_secs(5), || provider
        .probe
        .pulled()
        == 3));
    // We are the slow side for 3 idle periods; the provider must not time out.
    std::thread::sleep(ms(300));
    assert_eq!(handle.outcome(), None);
    let rest: Vec<Event> = sub.collect();
    assert_eq!(chunks_of(&rest).len(), 21);
    assert_eq!(end_of(&rest), Outcome::Finished);
    rt.shutdown();
}
