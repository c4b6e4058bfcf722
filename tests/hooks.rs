//! Hooks and transforms on replayed recorded transcripts: each hook fires
//! exactly once per event, in order, beside other consumers; a panicking
//! hook is reported, not fatal; a slow hook never slows the stream
//! unless asked to; map/filter keep errors; `smooth` re-cuts text.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use rivulet::hooks::HookKind;
use rivulet::transform::{Cut, ItemsExt, Smooth, StreamItemsExt};
use rivulet::{Chunk, ErrorKind, Hooks, Model};
use rivulet_testkit::{wire, Replay, Server, Split};

const ANSWER: &str = "4200 + 42 equals 4242.";

async fn serve(transcript: &str, delay_ms: u64) -> Server {
    Server::start(vec![Replay::sse(wire(transcript))
        .split(Split::Lines)
        .delay(Duration::from_millis(delay_ms))])
    .await
}

fn model(server: &Server, name: &str) -> Model {
    Model::new(name)
        .base_url(format!("{}/v1", server.url()))
        .api_key("test-key")
        .retries(0)
}

/// Everything the hooks saw, in order.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
    fn hooks(&self) -> Hooks {
        let (c, f, e) = (self.clone(), self.clone(), self.clone());
        Hooks::new()
            .on_chunk(move |chunk| c.push(format!("{} {}", chunk.offset(), chunk.type_name())))
            .on_finish(move |r| f.push(format!("finish {}", r.text())))
            .on_error(move |err, partial| {
                e.push(format!("error {} {}", err.kind().as_str(), partial.text()))
            })
    }
}

/// Hooks started beside three other consumers see every chunk once, in
/// the log's order (the same chunks the consumers saw), then finish once.
#[tokio::test(flavor = "multi_thread")]
async fn each_hook_fires_once_per_event_in_order_beside_other_consumers() {
    let server = serve("openai-chat/text_include_usage.sse", 5).await;
    let response = model(&server, "openai/gpt-4o").stream("q");
    let seen = Seen::default();
    let run = response.run_hooks(seen.hooks());
    let consume = || async {
        response
            .chunk_stream()
            .map(|c| {
                let c = c.unwrap();
                format!("{} {}", c.offset(), c.type_name())
            })
            .collect::<Vec<_>>()
            .await
    };
    let (a, b, c) = tokio::join!(consume(), consume(), consume());
    let report = run.finished().await;
    assert!(report.panics.is_empty());
    let seen = seen.take();
    let (last, chunks) = seen.split_last().unwrap();
    assert_eq!(last, &format!("finish {ANSWER}"));
    assert_eq!(chunks, &a[..], "the hooks saw what the consumers saw");
    assert_eq!(a, b);
    assert_eq!(a, c);
    let offsets: Vec<u64> = chunks
        .iter()
        .map(|s| s.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(offsets, (0..chunks.len() as u64).collect::<Vec<_>>());
    assert_eq!(report.chunks, chunks.len() as u64);
}

/// A stream failing after some text: every chunk, then `on_error` once
/// with the error and the text so far; `on_finish` never.
#[tokio::test(flavor = "multi_thread")]
async fn on_error_fires_once_with_the_partial_response() {
    let server = serve("groq/error_event_after_text.sse", 0).await;
    let response = model(&server, "groq/openai/gpt-oss-120b").stream("q");
    let seen = Seen::default();
    let report = response.run_hooks(seen.hooks()).finished().await;
    let partial = response.snapshot().await;
    assert!(!partial.text().is_empty());
    let seen = seen.take();
    let errors: Vec<_> = seen.iter().filter(|s| s.starts_with("error")).collect();
    assert_eq!(
        errors,
        [&format!(
            "error {} {}",
            response.finish().await.unwrap_err().kind().as_str(),
            partial.text()
        )]
    );
    assert!(seen.last().unwrap().starts_with("error"));
    assert!(!seen.iter().any(|s| s.starts_with("finish")));
    assert_eq!(report.chunks as usize, seen.len() - 1);
}

/// A hook that panics (on the second chunk) is reported; it is called
/// again for later chunks, the other hooks get every event, and the
/// stream and its other consumers are untouched.
#[tokio::test(flavor = "multi_thread")]
async fn a_panicking_hook_is_reported_not_fatal() {
    let server = serve("openai-chat/text_include_usage.sse", 0).await;
    let response = model(&server, "openai/gpt-4o").stream("q");
    let seen = Seen::default();
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    let hooks = seen.hooks().on_chunk(move |c| {
        *counted.lock().unwrap() += 1;
        if c.offset() == 1 {
            panic!("hook failed at offset 1");
        }
    });
    let report = response.run_hooks(hooks).finished().await;
    assert_eq!(response.finish().await.unwrap().text(), ANSWER);
    assert_eq!(report.panics.len(), 1);
    let p = &report.panics[0];
    assert_eq!((p.hook, p.index, p.offset), (HookKind::Chunk, 1, Some(1)));
    assert_eq!(p.message, "hook failed at offset 1");
    assert_eq!(*calls.lock().unwrap(), report.chunks);
    let seen = seen.take();
    assert_eq!(seen.len() as u64, report.chunks + 1);
    assert_eq!(seen.last().unwrap(), &format!("finish {ANSWER}"));
}

/// A hook that blocks does not hold the stream back: the stream finishes
/// while it is blocked, and once released it sees everything.
#[tokio::test(flavor = "multi_thread")]
async fn a_slow_hook_never_slows_the_stream() {
    let server = serve("openai-chat/text_include_usage.sse", 0).await;
    let response = model(&server, "openai/gpt-4o").stream("q");
    let (release, blocked) = mpsc::channel::<()>();
    let blocked = Mutex::new(blocked);
    let seen = Seen::default();
    let hooks = seen.hooks().on_chunk(move |c| {
        if c.offset() == 0 {
            let _ = blocked.lock().unwrap().recv();
        }
    });
    let run = response.run_hooks(hooks);
    let done = tokio::time::timeout(Duration::from_secs(10), response.finish())
        .await
        .expect("the stream finishes while the hook is blocked")
        .unwrap();
    assert_eq!(done.text(), ANSWER);
    release.send(()).unwrap();
    let report = run.finished().await;
    assert_eq!(seen.take().last().unwrap(), &format!("finish {ANSWER}"));
    assert_eq!(report.chunks as usize, response.handle().len());
}

/// Asked for (`lossless`), a blocked hook holds the stream back: a long
/// generated stream stays near its start until the hook is released.
#[tokio::test(flavor = "multi_thread")]
async fn a_lossless_hook_holds_the_stream_back() {
    let server = Server::start(vec![Replay::generated(2000, Duration::ZERO, "abcd")]).await;
    let response = model(&server, "openai/gen").stream("q");
    let (release, blocked) = mpsc::channel::<()>();
    let blocked = Mutex::new(blocked);
    let hooks = Hooks::new().lossless(1).on_chunk(move |c| {
        if c.offset() == 0 {
            let _ = blocked.lock().unwrap().recv();
        }
    });
    let run = response.run_hooks(hooks);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(response.outcome(), None, "held back");
    assert!(response.handle().len() < 100, "{}", response.handle().len());
    release.send(()).unwrap();
    let report = run.finished().await;
    assert!(report.chunks > 2000);
    assert_eq!(response.finish().await.unwrap().text(), "abcd".repeat(2000));
}

/// map/filter on the text iterators, async and blocking: `Ok` items are
/// mapped, and the error still comes last.
#[tokio::test(flavor = "multi_thread")]
async fn map_and_filter_keep_the_error() {
    let server = serve("groq/error_event_after_text.sse", 0).await;
    let response = model(&server, "groq/openai/gpt-oss-120b").stream("q");
    let items: Vec<_> = response
        .text_stream("")
        .filter_items(|t| !t.is_empty())
        .map_items(|t| t.len())
        .collect()
        .await;
    let (last, lens) = items.split_last().unwrap();
    assert_eq!(last.as_ref().unwrap_err().kind(), ErrorKind::BadRequest);
    let text = response.snapshot().await.text();
    assert_eq!(
        lens.iter().map(|l| *l.as_ref().unwrap()).sum::<usize>(),
        text.len()
    );
    let blocking = response.clone();
    let last = tokio::task::spawn_blocking(move || {
        blocking
            .blocking()
            .text_stream("")
            .filter_items(|_| false)
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(last.len(), 1, "only the error: {last:?}");
    assert!(last[0].is_err());
}

/// `smooth` on the recorded stream: its deltas ("420", "0", " +", …)
/// come out whole words, the same text in all, async and blocking.
#[tokio::test(flavor = "multi_thread")]
async fn smooth_recuts_the_text_by_word() {
    let server = serve("openai-chat/text_include_usage.sse", 0).await;
    let response = model(&server, "openai/gpt-4o").stream("q");
    let started = std::time::Instant::now();
    let words: Vec<String> = response
        .chunk_stream()
        .smooth(Smooth::new(Cut::Word, Duration::from_millis(60)))
        .text("")
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(words, ["4200 ", "+ ", "42 ", "equals ", "4242."]);
    // At a steady pace (the whole replay arrives at once): "+ ", "42 "
    // and "equals " each waited 60 ms after the word before; "4242." is
    // what the end let out, at once.
    assert!(
        started.elapsed() >= Duration::from_millis(180),
        "{:?}",
        started.elapsed()
    );
    let blocking = response.clone();
    let chunks = tokio::task::spawn_blocking(move || {
        blocking
            .blocking()
            .chunk_stream()
            .smooth(Smooth::words())
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    })
    .await
    .unwrap();
    let texts: Vec<&str> = chunks
        .iter()
        .filter_map(|c| match c {
            Chunk::Text { delta, .. } => Some(delta.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(texts, ["4200 ", "+ ", "42 ", "equals ", "4242."]);
    // Everything else passes through, in order.
    let kinds: Vec<&str> = chunks.iter().map(|c| c.type_name()).collect();
    assert_eq!(kinds.first(), Some(&"metadata_chunk"));
    assert!(kinds.contains(&"usage_delta_chunk"));
    assert!(kinds.contains(&"text_end_chunk"));
}
