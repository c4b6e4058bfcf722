//! Fan-out, replay, backpressure, windows, snapshots and tool calls.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use rivulet_actors::{
    Event, Outcome, ParsedToolCall, Policy, Runtime, RuntimeConfig, RuntimeStats, StreamOptions,
};
use rivulet_core::{Chunk, Error, ToolCall, UsageDelta};

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        arbiters: 2,
        ..RuntimeConfig::default()
    })
}

/// Text chunks with a pause every 10, so subscribers follow live as well as replay.
fn paced(n: usize) -> Vec<Step> {
    let mut steps = Vec::new();
    for (i, s) in numbered(n).into_iter().enumerate() {
        if i % 10 == 0 {
            steps.push(Step::Sleep(Duration::from_millis(2)));
        }
        steps.push(s);
    }
    steps
}

#[test]
fn sixteen_mixed_subscribers_see_identical_chunks_and_one_end() {
    let rt = runtime();
    let provider = ScriptedProvider::new(paced(200));
    let handle = rt.start(provider.clone(), request(), opts());

    let mut threads = Vec::new();
    for i in 0..16 {
        let policy = if i % 4 == 3 {
            Policy::Detached { capacity: 4 }
        } else {
            Policy::Lossless { capacity: 8 }
        };
        if i % 2 == 0 {
            let sub = handle.subscribe(policy);
            threads.push(std::thread::spawn(move || {
                let mut sub = sub;
                let events = futures::executor::block_on(async {
                    let mut v = Vec::new();
                    while let Some(e) = sub.next().await {
                        v.push(e);
                    }
                    v
                });
                // Nothing after the terminal event.
                assert!(futures::executor::block_on(sub.next()).is_none());
                events
            }));
        } else {
            let mut sub = handle.blocking().subscribe(policy);
            threads.push(std::thread::spawn(move || {
                let events: Vec<Event> = sub.by_ref().collect();
                assert!(sub.next().is_none());
                events
            }));
        }
    }
    let all: Vec<Vec<Event>> = threads.into_iter().map(|t| t.join().unwrap()).collect();

    let first = chunks_of(&all[0]);
    assert_eq!(first.len(), 202);
    assert_eq!(text_of(&all[0]), numbered_text(200));
    for events in &all {
        assert_eq!(end_of(events), Outcome::Finished);
        let chunks = chunks_of(events);
        assert_eq!(chunks.len(), first.len());
        // The same chunks at the same offsets.
        for (a, b) in chunks.iter().zip(&first) {
            assert_eq!((a, a.offset()), (b, b.offset()));
        }
        assert!(!events.iter().any(|e| matches!(e, Event::Missed(_))));
    }
    let response = handle.blocking().finish().unwrap();
    assert_eq!(response.text(), numbered_text(200));
    assert_eq!(response.provider, "scripted");
    assert_eq!(response.messages().len(), 2);
    assert_eq!(handle.len(), 202);
    assert_eq!(provider.probe.opens(), 1);
    rt.shutdown();
}

#[tokio::test]
async fn late_joiners_replay_everything_then_the_end() {
    let rt = runtime();
    let provider = ScriptedProvider::new(text_steps(&["a", "b", "c"]));
    let handle = rt.start(provider, request(), opts());
    assert_eq!(handle.finish().await.unwrap().text(), "abc");
    assert_eq!(handle.outcome(), Some(Outcome::Finished));

    let events = collect(handle.subscribe(Policy::default())).await;
    assert_eq!(events.len(), 6);
    assert_eq!(
        chunks_of(&events)
            .iter()
            .map(|c| (**c).clone())
            .collect::<Vec<_>>(),
        vec![
            Chunk::text_start(0),
            Chunk::text(0, "a"),
            Chunk::text(0, "b"),
            Chunk::text(0, "c"),
            Chunk::text_end(0)
        ]
    );
    assert_eq!(end_of(&events), Outcome::Finished);

    let blocking = handle
        .blocking()
        .subscribe(Policy::Detached { capacity: 1 });
    let events = tokio::task::spawn_blocking(move || blocking.collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(text_of(&events), "abc");
    assert_eq!(end_of(&events), Outcome::Finished);
    drop(handle);
    assert!(rt.wait_idle(Duration::from_secs(5)));
    rt.shutdown();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_mid_stream_replays_then_follows_live() {
    let rt = runtime();
    let mut steps = text_steps(&["a", "b"]);
    steps.truncate(3); // start, a, b
    steps.push(Step::Sleep(Duration::from_millis(150)));
    steps.push(Step::Chunk(Chunk::text(0, "c")));
    steps.push(Step::Chunk(Chunk::text_end(0)));
    let provider = ScriptedProvider::new(steps);
    let handle = rt.start(provider, request(), opts());
    let early = handle.subscribe(Policy::default());
    let h = handle.clone();
    assert!(tokio::task::spawn_blocking(
        move || wait_until(Duration::from_secs(5), || h.len() == 3)
    )
    .await
    .unwrap());
    // Joins while the provider sleeps: replays 3 chunks, then sees the rest live.
    let late = handle.subscribe(Policy::default());
    let (early, late) = tokio::join!(collect(early), collect(late));
    assert_eq!(early, late);
    assert_eq!(text_of(&late), "abc");
    assert_eq!(end_of(&late), Outcome::Finished);
    rt.shutdown();
}

#[test]
fn a_lossless_slow_subscriber_holds_the_provider_to_its_capacity() {
    const CAP: usize = 8;
    let rt = runtime();
    // Always ready: only backpressure can stop the provider.
    let gate = gate();
    let mut steps = vec![Step::OpenGate(gate.clone())];
    steps.extend(numbered(300));
    let provider = ScriptedProvider::new(steps);
    let handle = rt.start(provider.clone(), request(), opts());
    let sub = handle
        .blocking()
        .subscribe(Policy::Lossless { capacity: CAP });
    gate.add_permits(1);

    let mut taken = 0usize;
    let mut max_ahead = 0usize;
    let mut hit_limit = 0;
    for event in sub {
        if let Event::Chunk(_) = event {
            taken += 1;
        }
        let pulled = provider.probe.pulled();
        max_ahead = max_ahead.max(pulled.saturating_sub(taken));
        assert!(
            pulled <= taken + CAP,
            "provider pulled {pulled} chunks, consumer has taken {taken}"
        );
        if taken % 50 == 1 && taken < 300 {
            // Pause: the provider runs exactly to the limit and stops there.
            assert!(wait_until(Duration::from_secs(5), || provider
                .probe
                .pulled()
                == taken + CAP));
            std::thread::sleep(Duration::from_millis(30));
            assert_eq!(provider.probe.pulled(), taken + CAP);
            max_ahead = max_ahead.max(provider.probe.pulled() - taken);
            hit_limit += 1;
        }
    }
    assert_eq!(taken, 302);
    assert_eq!(max_ahead, CAP);
    assert_eq!(hit_limit, 6);
    assert_eq!(
        handle.blocking().finish().unwrap().text(),
        numbered_text(300)
    );
    rt.shutdown();
}

#[test]
fn a_detached_slow_subscriber_does_not_slow_the_stream() {
    let rt = runtime();
    let provider = ScriptedProvider::new(numbered(500));
    let handle = rt.start(provider.clone(), request(), opts());
    let mut sub = handle
        .blocking()
        .subscribe(Policy::Detached { capacity: 4 });
    // Not reading at all: the stream still runs to its end.
    let response = handle.blocking().finish().unwrap();
    assert_eq!(provider.probe.pulled(), 502);
    assert_eq!(response.text(), numbered_text(500));
    // The subscriber then reads behind, from the log, losing nothing.
    let events: Vec<Event> = sub.by_ref().collect();
    assert_eq!(chunks_of(&events).len(), 502);
    assert_eq!(text_of(&events), numbered_text(500));
    assert_eq!(end_of(&events), Outcome::Finished);
    rt.shutdown();
}

#[test]
fn a_window_keeps_the_last_chunks_and_reports_what_was_missed() {
    let rt = runtime();
    let provider = ScriptedProvider::new(numbered(98)); // 100 chunks
    let handle = rt.start(
        provider,
        request(),
        StreamOptions {
            window: Some(10),
            ..opts()
        },
    );
    let response = handle.blocking().finish().unwrap();
    // The accumulator saw everything, whatever the window.
    assert_eq!(response.text(), numbered_text(98));
    assert_eq!(handle.len(), 100);

    let events: Vec<Event> = handle
        .blocking()
        .subscribe(Policy::Detached { capacity: 4 })
        .collect();
    assert_eq!(events[0], Event::Missed(90));
    let chunks = chunks_of(&events);
    assert_eq!(chunks.len(), 10);
    assert_eq!(*chunks[0], Chunk::text(0, "w89 "));
    assert_eq!(*chunks[9], Chunk::text_end(0));
    assert_eq!(end_of(&events), Outcome::Finished);
    assert_eq!(events.len(), 12);
    rt.shutdown();
}

#[test]
fn a_detached_subscriber_that_falls_out_of_the_window_is_told_and_continues() {
    let rt = runtime();
    let provider = ScriptedProvider::new(numbered(198)); // 200 chunks
    let handle = rt.start(
        provider,
        request(),
        StreamOptions {
            window: Some(20),
            ..opts()
        },
    );
    let mut sub = handle
        .blocking()
        .subscribe(Policy::Detached { capacity: 2 });
    handle.blocking().finish().unwrap();
    let events: Vec<Event> = sub.by_ref().collect();
    // Whatever it had buffered before falling out, plus what it missed,
    // plus the window, accounts for every chunk exactly once.
    let missed: u64 = events
        .iter()
        .map(|e| match e {
            Event::Missed(n) => *n,
            _ => 0,
        })
        .sum();
    let got = chunks_of(&events).len() as u64;
    assert!(missed > 0);
    assert_eq!(missed + got, 200);
    assert_eq!(
        *chunks_of(&events).last().unwrap().as_ref(),
        Chunk::text_end(0)
    );
    assert_eq!(end_of(&events), Outcome::Finished);
    rt.shutdown();
}

#[test]
fn snapshot_folds_the_log_so_far() {
    let rt = runtime();
    let mut steps = vec![
        Step::Chunk(Chunk::Metadata {
            id: Some("resp_1".into()),
            model: Some("m-2024".into()),
        }),
        Step::Chunk(Chunk::UsageDelta {
            usage: Box::new(UsageDelta {
                input_tokens: Some(7),
                ..Default::default()
            }),
        }),
    ];
    steps.extend(text_steps(&["Hel", "lo"]).into_iter().take(3));
    steps.push(Step::Stall);
    let provider = ScriptedProvider::new(steps);
    let handle = rt.start(provider, request(), opts());
    assert!(wait_until(Duration::from_secs(5), || handle.len() == 5));
    let snap = handle.blocking().snapshot();
    assert_eq!(snap.text(), "Hello");
    assert_eq!(snap.id.as_deref(), Some("resp_1"));
    assert_eq!(snap.model, "m-2024");
    assert_eq!(snap.usage.input_tokens, Some(7));
    assert_eq!(handle.outcome(), None);

    handle.cancel();
    let err = handle.blocking().finish().unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }));
    let snap = handle.blocking().snapshot();
    assert_eq!(snap.text(), "Hello");
    assert_eq!(snap.usage.input_tokens, Some(7));
    rt.shutdown();
}

/// The response is built at the accumulator's first catch-up: one asked
/// for before any chunk still names the provider, the model and the
/// input, and so does the final one of a stream that never sent a chunk.
#[test]
fn a_snapshot_before_any_chunk_names_the_provider_model_and_input() {
    let rt = runtime();
    let handle = rt.start(
        ScriptedProvider::new(vec![Step::OpenStall]),
        request(),
        opts(),
    );
    let snap = handle.blocking().snapshot();
    assert_eq!(
        (snap.provider.as_str(), snap.model.as_str()),
        ("scripted", "m")
    );
    assert_eq!(snap.input, request().messages);
    assert!(snap.content.is_empty());

    handle.cancel();
    let err = handle.blocking().finish().unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }));
    let done = handle.blocking().snapshot();
    assert_eq!(
        (done.provider.as_str(), done.model.as_str()),
        ("scripted", "m")
    );
    assert_eq!(done.input, request().messages);
    rt.shutdown();
}

/// `ended` waits for the outcome (the final response published too: a
/// snapshot after it is the final one), and the time to the first chunk
/// is known once the first content chunk is in: a metadata chunk before
/// it does not count, so the 30 ms between them are in it (counting the
/// metadata, it would be the ~20 ms wait to open). Only that lower bound
/// is asserted: how long the wait to open counts depends on when the
/// provider actor started, which a loaded machine may delay.
#[test]
fn ended_gives_the_outcome_and_the_first_chunk_counts_from_the_start() {
    let rt = runtime();
    let open = gate();
    let mut steps = vec![
        Step::OpenGate(open.clone()),
        Step::Chunk(Chunk::Metadata {
            id: Some("resp_1".into()),
            model: None,
        }),
        Step::Sleep(Duration::from_millis(30)),
    ];
    steps.extend(text_steps(&["Hi"]));
    let started = std::time::Instant::now();
    let handle = rt.start(ScriptedProvider::new(steps), request(), opts());
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(handle.time_to_first_chunk(), None);
    open.add_permits(1);
    assert_eq!(handle.blocking().ended(), Outcome::Finished);
    let elapsed = started.elapsed();
    let first = handle.time_to_first_chunk().expect("a first chunk");
    assert!(
        first >= Duration::from_millis(30) && first <= elapsed,
        "{first:?} of {elapsed:?}"
    );
    assert_eq!(handle.blocking().snapshot().text(), "Hi");

    // A failure before any content: the error, and no first chunk.
    let handle = rt.start(
        ScriptedProvider::new(vec![
            Step::Chunk(Chunk::Metadata {
                id: Some("resp_2".into()),
                model: None,
            }),
            Step::Fail(Error::protocol("garbage")),
        ]),
        request(),
        opts(),
    );
    assert_eq!(
        handle.blocking().ended(),
        Outcome::failed(Error::protocol("garbage"))
    );
    assert_eq!(handle.time_to_first_chunk(), None);
    rt.shutdown();
}

/// `ended` from async code, on a stream cancelled while it waits.
#[tokio::test]
async fn ended_waits_for_a_cancel() {
    let rt = runtime();
    let mut steps = text_steps(&["Hel"]);
    steps.truncate(2);
    steps.push(Step::Stall);
    let handle = rt.start(ScriptedProvider::new(steps), request(), opts());
    let waiter = {
        let handle = handle.clone();
        tokio::spawn(async move { handle.ended().await })
    };
    assert!(wait_until(Duration::from_secs(5), || handle.len() == 2));
    assert!(handle.time_to_first_chunk().is_some());
    assert_eq!(handle.outcome(), None);
    handle.cancel();
    let outcome = waiter.await.expect("waiter");
    assert!(is_cancelled(&outcome), "{outcome:?}");
    assert_eq!(handle.blocking().snapshot().text(), "Hel");
    rt.shutdown();
}

#[tokio::test]
async fn tool_calls_are_parsed_when_they_end() {
    let rt = runtime();
    let start = |part, id: &str, name: &str| {
        Step::Chunk(Chunk::ToolCallStart {
            part,
            id: id.into(),
            name: name.into(),
        })
    };
    let delta = |part, id: &str, d: &str| {
        Step::Chunk(Chunk::ToolCall {
            part,
            id: id.into(),
            delta: d.into(),
        })
    };
    let end = |part, id: &str| {
        Step::Chunk(Chunk::ToolCallEnd {
            part,
            id: id.into(),
            signature: None,
        })
    };
    let steps = vec![
        start(0, "a", "sqrt"),
        start(1, "b", "now"),
        delta(0, "a", "{\"n\":"),
        start(2, "c", "bad"),
        delta(2, "c", "{\"x\""),
        start(3, "d", "cut"),
        delta(3, "d", "{\"y\":1"),
        delta(0, "a", "16}"),
        end(1, "b"),
        end(2, "c"),
        end(0, "a"),
        Step::Stall,
    ];
    let provider = ScriptedProvider::new(steps);
    let handle = rt.start(provider, request(), opts());
    let h = handle.clone();
    assert!(tokio::task::spawn_blocking(
        move || wait_until(Duration::from_secs(5), || h.len() == 11)
    )
    .await
    .unwrap());

    let calls = handle.tool_calls().await;
    let names: Vec<&str> = calls.iter().map(|c| c.call.name.as_str()).collect();
    assert_eq!(names, vec!["sqrt", "now", "bad"]);
    assert_eq!(
        calls[0],
        ParsedToolCall {
            call: ToolCall {
                id: "a".into(),
                name: "sqrt".into(),
                args: "{\"n\":16}".into(),
                signature: None,
            },
            args: Ok(serde_json::json!({"n": 16})),
        }
    );
    assert_eq!(calls[1].args, Ok(serde_json::json!({})));
    assert_eq!(calls[2].call.args, "{\"x\"");
    assert!(calls[2].args.is_err());

    handle.cancel();
    assert!(handle.finish().await.is_err());
    // The call that never ended is not listed, before or after the end.
    let after = handle.tool_calls().await;
    assert_eq!(after, calls);
    let response = handle.snapshot().await;
    assert_eq!(response.tool_calls().len(), 3);
    assert_eq!(response.incomplete_tool_calls().len(), 1);
    rt.shutdown();
}

#[test]
fn a_panicking_provider_fails_the_stream_not_the_arbiter() {
    let rt = Runtime::new(RuntimeConfig {
        arbiters: 1,
        ..RuntimeConfig::default()
    });
    let mut steps = text_steps(&["a", "b"]);
    steps.truncate(3);
    steps.push(Step::Panic);
    let handle = rt.start(ScriptedProvider::new(steps), request(), opts());
    let events: Vec<Event> = handle.blocking().subscribe(Policy::default()).collect();
    assert_eq!(text_of(&events), "ab");
    assert!(matches!(
        end_of(&events),
        Outcome::Failed(e) if matches!(*e, Error::Protocol { .. })
    ));
    assert_eq!(handle.blocking().snapshot().text(), "ab");

    // The same (only) arbiter still runs streams.
    let handle = rt.start(
        ScriptedProvider::new(text_steps(&["ok"])),
        request(),
        opts(),
    );
    assert_eq!(handle.blocking().finish().unwrap().text(), "ok");
    drop(handle);
    assert!(rt.wait_idle(Duration::from_secs(5)));
    assert_eq!(rt.stats(), RuntimeStats::default());
    rt.shutdown();
}

#[test]
fn a_provider_error_mid_stream_keeps_what_was_received() {
    let rt = runtime();
    let mut steps = text_steps(&["par", "tial"]);
    steps.truncate(3);
    steps.push(Step::Chunk(Chunk::UsageDelta {
        usage: Box::new(UsageDelta {
            output_tokens: Some(2),
            ..Default::default()
        }),
    }));
    steps.push(Step::Fail(Error::protocol("garbage")));
    let handle = rt.start(ScriptedProvider::new(steps), request(), opts());
    let events: Vec<Event> = handle.blocking().subscribe(Policy::default()).collect();
    assert_eq!(end_of(&events), Outcome::failed(Error::protocol("garbage")));
    assert_eq!(handle.blocking().finish(), Err(Error::protocol("garbage")));
    let snap = handle.blocking().snapshot();
    assert_eq!(snap.text(), "partial");
    assert_eq!(snap.usage.output_tokens, Some(2));
    rt.shutdown();
}
