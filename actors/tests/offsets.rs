//! Chunk offsets on events and `subscribe_from`: resuming after an offset
//! loses nothing and repeats nothing.

mod common;

use std::time::Duration;

use common::*;
use rivulet_actors::{Event, Outcome, Policy, Runtime, RuntimeConfig, StreamOptions};

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        arbiters: 2,
        ..RuntimeConfig::default()
    })
}

/// 40 words: 42 chunks, so offsets cross two segment boundaries (16, 32).
const WORDS: usize = 40;
const N: u64 = WORDS as u64 + 2;

fn offsets(events: &[Event]) -> Vec<u64> {
    events.iter().filter_map(Event::offset).collect()
}

/// The chunks' offsets with the chunks themselves, to compare a tail.
fn offset_chunks(events: &[Event]) -> Vec<(u64, rivulet_core::Chunk)> {
    chunks_of(events)
        .iter()
        .map(|c| (c.offset(), (**c).clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_are_consecutive_from_zero_for_every_subscriber() {
    let rt = runtime();
    // A pause every 10 chunks, so subscribers follow live as well as replay.
    let mut steps = Vec::new();
    for (i, s) in numbered(WORDS).into_iter().enumerate() {
        if i % 10 == 0 {
            steps.push(Step::Sleep(Duration::from_millis(2)));
        }
        steps.push(s);
    }
    let handle = rt.start(ScriptedProvider::new(steps), request(), opts());
    let policies = [
        Policy::Detached { capacity: 1 },
        Policy::Detached { capacity: 64 },
        Policy::Lossless { capacity: 1 },
        Policy::Lossless { capacity: 8 },
    ];
    let asyncs: Vec<_> = policies
        .iter()
        .map(|p| tokio::spawn(collect(handle.subscribe(*p))))
        .collect();
    let blockings: Vec<_> = policies
        .iter()
        .map(|p| {
            let sub = handle.blocking().subscribe(*p);
            tokio::task::spawn_blocking(move || sub.collect::<Vec<Event>>())
        })
        .collect();
    let mut all = Vec::new();
    for t in asyncs.into_iter().chain(blockings) {
        all.push(t.await.unwrap());
    }
    // And one after the end, replaying the whole log.
    all.push(collect(handle.subscribe(Policy::default())).await);

    let want: Vec<u64> = (0..N).collect();
    for events in &all {
        assert_eq!(offsets(events), want);
        assert_eq!(end_of(events), Outcome::Finished);
        assert_eq!(offset_chunks(events), offset_chunks(&all[0]));
    }
    assert_eq!(text_of(&all[0]), numbered_text(WORDS));
    assert_eq!(handle.len() as u64, N);
    rt.shutdown();
}

#[test]
fn subscribe_from_gets_exactly_the_chunks_after_the_offset() {
    let rt = runtime();
    let handle = rt.start(ScriptedProvider::new(numbered(WORDS)), request(), opts());
    handle.blocking().finish().unwrap();
    let full: Vec<Event> = handle.blocking().subscribe(Policy::default()).collect();
    let full = offset_chunks(&full);
    assert_eq!(full.len() as u64, N);

    // The start, segment edges, the middle, the last chunk.
    for k in [0, 1, 15, 16, 20, 31, 32, N - 2, N - 1] {
        let tail = &full[k as usize + 1..];
        let blocking: Vec<Event> = handle
            .blocking()
            .subscribe_from(k, Policy::default())
            .collect();
        assert_eq!(offset_chunks(&blocking), tail, "from {k}, blocking");
        assert_eq!(end_of(&blocking), Outcome::Finished);
        let lossless = futures::executor::block_on(collect(
            handle.subscribe_from(k, Policy::Lossless { capacity: 2 }),
        ));
        assert_eq!(offset_chunks(&lossless), tail, "from {k}, async");
        assert_eq!(end_of(&lossless), Outcome::Finished);
    }
    // Beyond the end of a finished stream: nothing but the end.
    for k in [N, N + 5, u64::MAX] {
        let events: Vec<Event> = handle
            .blocking()
            .subscribe_from(k, Policy::default())
            .collect();
        assert_eq!(events, vec![Event::End(Outcome::Finished)], "from {k}");
    }
    rt.shutdown();
}

#[test]
fn subscribe_from_beyond_the_end_waits_for_it_then_gets_the_rest() {
    let rt = runtime();
    let gate = gate();
    // Ten chunks, then the stream waits for the gate, then the rest.
    let mut steps = numbered(WORDS);
    steps.insert(10, Step::Gate(gate.clone()));
    let handle = rt.start(ScriptedProvider::new(steps), request(), opts());
    assert!(wait_until(Duration::from_secs(5), || handle.len() == 10));

    // A lossless resumer past the end must not hold the stream back: it
    // has taken nothing, but there is nothing before it to take.
    let mut lossless = handle
        .blocking()
        .subscribe_from(25, Policy::Lossless { capacity: 2 });
    let mut detached = handle.blocking().subscribe_from(9, Policy::default());
    assert_eq!(detached.next_timeout(Duration::from_millis(100)), None);
    assert_eq!(lossless.next_timeout(Duration::from_millis(100)), None);
    gate.add_permits(1);

    let lossless = drain(lossless);
    let detached = drain(detached);
    let full: Vec<Event> = handle.blocking().subscribe(Policy::default()).collect();
    let full = offset_chunks(&full);
    assert_eq!(offset_chunks(&lossless), &full[26..]);
    assert_eq!(offset_chunks(&detached), &full[10..]);
    assert_eq!(end_of(&lossless), Outcome::Finished);
    assert_eq!(text_of(&detached), numbered_text(WORDS)[textlen(9)..]);
    rt.shutdown();
}

/// Every event up to the end; fails (rather than hangs) if the end does
/// not come within 10 s.
fn drain(mut sub: rivulet_actors::BlockingSubscription) -> Vec<Event> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut events = Vec::new();
    while !matches!(events.last(), Some(Event::End(_))) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match sub.next_timeout(left) {
            Some(event) => events.push(event),
            None => panic!("no end within 10 s; got {} events", events.len()),
        }
    }
    events
}

/// The length of the text of the first `n` words of `numbered`.
fn textlen(n: usize) -> usize {
    numbered_text(n).len()
}

#[test]
fn subscribe_from_an_offset_that_left_the_window_says_how_much_was_missed() {
    let rt = runtime();
    let handle = rt.start(
        ScriptedProvider::new(numbered(198)), // 200 chunks
        request(),
        StreamOptions {
            window: Some(20),
            ..opts()
        },
    );
    handle.blocking().finish().unwrap();
    // Chunks 50..180 are gone: 130 missed, then the window, 180..200.
    let events: Vec<Event> = handle
        .blocking()
        .subscribe_from(49, Policy::default())
        .collect();
    assert_eq!(events[0], Event::Missed(130));
    assert_eq!(offsets(&events), (180..200).collect::<Vec<u64>>());
    assert_eq!(end_of(&events), Outcome::Finished);
    // Inside the window: nothing missed.
    let events: Vec<Event> = handle
        .blocking()
        .subscribe_from(189, Policy::default())
        .collect();
    assert_eq!(offsets(&events), (190..200).collect::<Vec<u64>>());
    assert_eq!(events.len(), 11);
    rt.shutdown();
}
