//! The tool-parser actor: partial arguments while they stream, interleaved
//! calls, calls cut off (max_tokens, cancel, failure) never handed out as
//! valid, watchers that get a call before the stream ends, and deferred
//! requests.

mod common;

use std::time::Duration;

use common::*;
use rivulet_actors::{
    DeferredRequest, Outcome, ParsedToolCall, Runtime, RuntimeConfig, ToolCallState, ToolCallWatch,
};
use rivulet_core::{Chunk, Error, FinishReason, Message, ToolCall};
use serde_json::json;

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        arbiters: 1,
        ..RuntimeConfig::default()
    })
}

fn start(part: usize, id: &str, name: &str) -> Step {
    Step::Chunk(Chunk::ToolCallStart {
        part,
        id: id.into(),
        name: name.into(),
    })
}

fn delta(part: usize, id: &str, d: &str) -> Step {
    Step::Chunk(Chunk::ToolCall {
        part,
        id: id.into(),
        delta: d.into(),
    })
}

fn end(part: usize, id: &str) -> Step {
    Step::Chunk(Chunk::tool_call_end(part, id))
}

/// A call streamed whole: its start, its arguments in one delta, its end.
fn call(part: usize, id: &str, name: &str, args: &str) -> [Step; 3] {
    [start(part, id, name), delta(part, id, args), end(part, id)]
}

/// The watch's next call, which must come within 5 s (`why` says when).
async fn call_within(watch: &mut ToolCallWatch, why: &str) -> ParsedToolCall {
    tokio::time::timeout(Duration::from_secs(5), watch.next_call())
        .await
        .expect(why)
        .expect("a call, not the watch's end")
}

fn finish(reason: FinishReason, raw: &str) -> Step {
    Step::Chunk(Chunk::FinishReason {
        reason,
        raw: raw.into(),
    })
}

#[tokio::test]
async fn partial_arguments_grow_while_interleaved_calls_stream() {
    let rt = runtime();
    let g1 = gate();
    let g2 = gate();
    let steps = vec![
        start(0, "call_a", "sqrt"),
        start(1, "call_b", "weather"),
        delta(1, "call_b", "{\"city\": \"Edin"),
        delta(0, "call_a", "{\"number\": 42"),
        Step::Gate(g1.clone()),
        delta(1, "call_b", "burgh\", \"days\": [1, 2"),
        delta(0, "call_a", "42}"),
        end(0, "call_a"),
        Step::Gate(g2.clone()),
        delta(1, "call_b", "]}"),
        end(1, "call_b"),
        finish(FinishReason::ToolCalls, "tool_calls"),
    ];
    let handle = rt.start(ScriptedProvider::new(steps), request(), opts());
    let h = handle.clone();
    let wait_len = move |n: usize| {
        let h = h.clone();
        tokio::task::spawn_blocking(move || wait_until(Duration::from_secs(5), || h.len() == n))
    };

    assert!(wait_len(4).await.unwrap());
    let p = handle.partial_tool_calls().await;
    assert_eq!(p.len(), 2);
    assert_eq!(p[0].call.id, "call_a");
    assert_eq!(p[0].call.args, "{\"number\": 42");
    // The number is torn: not shown yet.
    assert_eq!(p[0].args, Some(json!({})));
    assert_eq!(p[0].state, ToolCallState::Streaming);
    assert_eq!(p[1].args, Some(json!({"city": "Edin"})));
    assert!(handle.tool_calls().await.is_empty());

    g1.add_permits(1);
    assert!(wait_len(7).await.unwrap());
    let p = handle.partial_tool_calls().await;
    assert_eq!(p[0].args, Some(json!({"number": 4242})));
    assert_eq!(p[0].state, ToolCallState::Ended);
    assert_eq!(p[1].args, Some(json!({"city": "Edinburgh", "days": [1]})));
    assert_eq!(p[1].state, ToolCallState::Streaming);
    let calls = handle.tool_calls().await;
    assert_eq!(
        calls,
        vec![ParsedToolCall {
            call: ToolCall {
                id: "call_a".into(),
                name: "sqrt".into(),
                args: "{\"number\": 4242}".into(),
                signature: None,
            },
            args: Ok(json!({"number": 4242})),
        }]
    );

    g2.add_permits(1);
    handle.finish().await.unwrap();
    let calls = handle.tool_calls().await;
    assert_eq!(calls.len(), 2);
    assert_eq!(
        calls[1].args,
        Ok(json!({"city": "Edinburgh", "days": [1, 2]}))
    );
    let p = handle.partial_tool_calls().await;
    assert_eq!(p[1].state, ToolCallState::Ended);
    rt.shutdown();
}

#[tokio::test]
async fn calls_cut_off_by_max_tokens_are_invalid() {
    let rt = runtime();
    // As the OpenAI decoder does at a `length` finish: every open call is
    // ended, then the finish reason follows.
    let steps = vec![
        start(0, "a", "sqrt"),
        delta(0, "a", "{\"number\": 1}"),
        end(0, "a"),
        start(1, "b", "sqrt"),
        delta(1, "b", "{\"number\": 12"),
        start(2, "c", "now"),
        end(1, "b"),
        end(2, "c"),
        finish(FinishReason::MaxTokens, "length"),
    ];
    let handle = rt.start(ScriptedProvider::new(steps), request(), opts());
    let watched: Vec<ParsedToolCall> = {
        let w = handle.watch_tool_calls();
        tokio::task::spawn_blocking(move || w.collect())
            .await
            .unwrap()
    };
    handle.finish().await.unwrap();
    let calls = handle.tool_calls().await;
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].args, Ok(json!({"number": 1})));
    assert_eq!(
        calls[1].args,
        Err(
            "cut off by max_tokens: invalid JSON arguments: EOF while parsing an object at byte 13"
                .to_string()
        )
    );
    assert_eq!(calls[1].call.args, "{\"number\": 12");
    assert_eq!(
        calls[2].args,
        Err("cut off by max_tokens before its arguments".to_string())
    );
    // The watcher saw the same verdicts (the empty one waited for the finish).
    assert_eq!(watched, calls);
    let p = handle.partial_tool_calls().await;
    assert!(
        matches!(&p[1].state, ToolCallState::Invalid(m) if m.starts_with("cut off by max_tokens"))
    );
    rt.shutdown();
}

/// The same verdicts when the finish comes in a later read than the call
/// ends: the parser has seen the ends by then (it is nudged at each), and a
/// call whose arguments do not parse waits for the next chunk before it is
/// handed out, as an empty one does, so a watcher gets the reason the
/// finish gives (an eager tool run reported the bare JSON error).
#[tokio::test]
async fn a_call_cut_off_by_a_later_max_tokens_finish_reaches_the_watcher_as_cut_off() {
    let rt = runtime();
    let mut steps = Vec::from(call(0, "a", "sqrt", "{\"number\": 1}"));
    steps.extend(call(1, "b", "sqrt", "{\"number\": 12"));
    steps.push(Step::Sleep(Duration::from_millis(50)));
    steps.push(finish(FinishReason::MaxTokens, "length"));
    let handle = rt.start(ScriptedProvider::new(steps), request(), opts());
    let mut watch = handle.watch_tool_calls();
    let first = call_within(&mut watch, "the valid call arrives before the finish").await;
    assert_eq!(first.args, Ok(json!({"number": 1})));
    let second = watch.next_call().await.unwrap();
    assert_eq!(
        second.args,
        Err(
            "cut off by max_tokens: invalid JSON arguments: EOF while parsing an object at byte 13"
                .to_string()
        )
    );
    assert!(watch.next_call().await.is_none());
    assert_eq!(handle.tool_calls().await, vec![first, second]);
    rt.shutdown();
}

#[tokio::test]
async fn calls_open_when_the_stream_fails_or_is_cancelled_never_complete() {
    let rt = runtime();
    for cancel in [false, true] {
        let mut steps = vec![
            start(0, "a", "sqrt"),
            delta(0, "a", "{\"number\": 16}"),
            end(0, "a"),
            start(1, "b", "sqrt"),
            delta(1, "b", "{\"number\": 2"),
        ];
        steps.push(if cancel {
            Step::Stall
        } else {
            Step::Fail(Error::connection("reset by peer"))
        });
        let handle = rt.start(ScriptedProvider::new(steps), request(), opts());
        let watch = handle.watch_tool_calls();
        if cancel {
            let h = handle.clone();
            assert!(tokio::task::spawn_blocking(move || wait_until(
                Duration::from_secs(5),
                || h.len() == 5
            ))
            .await
            .unwrap());
            handle.cancel();
        }
        assert!(handle.finish().await.is_err());
        let watched: Vec<ParsedToolCall> = tokio::task::spawn_blocking(move || watch.collect())
            .await
            .unwrap();
        let calls = handle.tool_calls().await;
        assert_eq!(calls.len(), 1, "only the call that ended");
        assert_eq!(calls[0].args, Ok(json!({"number": 16})));
        assert_eq!(watched, calls);
        let p = handle.partial_tool_calls().await;
        assert_eq!(p[1].call.args, "{\"number\": 2");
        assert_eq!(p[1].args, Some(json!({})));
        let ToolCallState::Invalid(why) = &p[1].state else {
            panic!("{:?}", p[1].state)
        };
        let expected = if cancel {
            "cut off: the stream ended before the call did (cancelled)"
        } else {
            "cut off: the stream ended before the call did (connection error: reset by peer)"
        };
        assert_eq!(why, expected);
    }
    rt.shutdown();
}

#[tokio::test]
async fn invalid_json_is_reported_when_the_call_ends() {
    let rt = runtime();
    let mut steps = Vec::from(call(0, "a", "f", "{\"x\": 1,}"));
    steps.extend(call(1, "b", "g", "[1, 2]"));
    let handle = rt.start(ScriptedProvider::new(steps), request(), opts());
    handle.finish().await.unwrap();
    let calls = handle.tool_calls().await;
    assert_eq!(
        calls[0].args,
        Err("invalid JSON arguments: trailing comma at byte 8".to_string())
    );
    assert_eq!(
        calls[1].args,
        Err("the arguments must be a JSON object, not an array".to_string())
    );
    rt.shutdown();
}

#[tokio::test]
async fn a_watcher_gets_a_call_as_soon_as_it_ends() {
    let rt = runtime();
    let g = gate();
    let steps = vec![
        start(0, "a", "sqrt"),
        delta(0, "a", "{\"number\": 4242}"),
        end(0, "a"),
        // The provider stalls until the test opens the gate: the call must
        // reach the watcher before the stream goes on.
        Step::Gate(g.clone()),
        Step::Chunk(Chunk::text_start(1)),
        Step::Chunk(Chunk::text(1, "done")),
        Step::Chunk(Chunk::text_end(1)),
    ];
    let handle = rt.start(ScriptedProvider::new(steps), request(), opts());
    let mut watch = handle.watch_tool_calls();
    let first = call_within(&mut watch, "the call arrives while the provider stalls").await;
    assert_eq!(first.call.id, "a");
    assert_eq!(first.args, Ok(json!({"number": 4242})));
    assert_eq!(handle.outcome(), None);
    g.add_permits(1);
    assert!(watch.next_call().await.is_none());
    assert_eq!(handle.finish().await.unwrap().text(), "done");
    // A watcher that joins after the end gets the replay.
    let late: Vec<ParsedToolCall> = handle.watch_tool_calls().collect();
    assert_eq!(late, vec![first]);
    rt.shutdown();
}

#[tokio::test]
async fn a_deferred_request_starts_when_it_is_ready() {
    let rt = runtime();
    let provider = ScriptedProvider::new(text_steps(&["Hi"]));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let prepare: DeferredRequest = Box::pin(async move {
        rx.await.map_err(|_| Error::cancelled())?;
        let mut r = request();
        r.messages.push(Message::assistant("earlier"));
        Ok(r)
    });
    let handle = rt.start_deferred(provider.clone(), prepare, opts());
    let wait = Duration::from_millis(200);
    tokio::time::sleep(wait).await;
    assert_eq!(provider.probe.opens(), 0);
    assert_eq!(handle.outcome(), None);
    tx.send(()).unwrap();
    let done = handle.finish().await.unwrap();
    assert_eq!(done.text(), "Hi");
    assert_eq!(done.input.len(), 2);
    assert_eq!(done.messages().len(), 3);
    assert_eq!(provider.probe.opens(), 1);
    // The time to the first chunk counts from the request's readiness,
    // not from the start of the wait for it.
    let first = handle.time_to_first_chunk().expect("a first chunk");
    assert!(first < wait, "{first:?}");

    // A cancel during the wait ends the stream without opening.
    let provider = ScriptedProvider::new(text_steps(&["never"]));
    let prepare: DeferredRequest = Box::pin(futures::future::pending());
    let handle = rt.start_deferred(provider.clone(), prepare, opts());
    handle.cancel();
    assert!(matches!(
        handle.finish().await,
        Err(Error::Cancelled { .. })
    ));
    assert_eq!(provider.probe.opens(), 0);

    // An error building the request is the stream's error.
    let prepare: DeferredRequest = Box::pin(async { Err(Error::bad_request("no history")) });
    let handle = rt.start_deferred(provider.clone(), prepare, opts());
    assert_eq!(handle.finish().await.unwrap_err().message(), "no history");
    assert!(matches!(handle.outcome(), Some(Outcome::Failed(_))));
    rt.shutdown();
}

/// `text` cut into pieces of `size` bytes (ASCII only).
fn pieces(text: &str, size: usize) -> Vec<&str> {
    text.as_bytes()
        .chunks(size)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect()
}

#[tokio::test]
async fn arguments_nested_too_deep_make_that_call_invalid_and_nothing_else() {
    // 20,000 arrays inside each other (40 KB of brackets): snapshots, clones
    // and drops of such a value used to overflow the arbiter's stack.
    let rt = runtime();
    let g = gate();
    let deep = format!("{{\"a\": {}{}}}", "[".repeat(20_000), "]".repeat(20_000));
    let deep_pieces = pieces(&deep, 64);
    let (first, rest) = deep_pieces.split_at(deep_pieces.len() / 4);
    let mut steps = vec![
        start(0, "deep", "f"),
        start(1, "ok", "weather"),
        delta(1, "ok", "{\"city\": \"Edin"),
    ];
    steps.extend(first.iter().map(|p| delta(0, "deep", p)));
    let before_gate = steps.len();
    steps.push(Step::Gate(g.clone()));
    steps.push(delta(1, "ok", "burgh\", \"days\": [[1, 2], [3]]}"));
    steps.extend(rest.iter().map(|p| delta(0, "deep", p)));
    steps.extend([
        end(1, "ok"),
        end(0, "deep"),
        finish(FinishReason::ToolCalls, "tool_calls"),
    ]);
    let handle = rt.start(ScriptedProvider::new(steps), request(), opts());
    let mut watch = handle.watch_tool_calls();

    // Mid-stream, about 10,000 levels in: the partial arguments stop at the
    // bound.
    let h = handle.clone();
    let waited = tokio::task::spawn_blocking(move || {
        wait_until(Duration::from_secs(10), || h.len() == before_gate)
    });
    assert!(waited.await.unwrap());
    let p = handle.partial_tool_calls().await;
    assert_eq!(p[0].state, ToolCallState::Streaming);
    // The object and 126 arrays: 127 levels.
    let shown = format!("{{\"a\":{}{}}}", "[".repeat(126), "]".repeat(126));
    assert_eq!(p[0].args.as_ref().unwrap().to_string(), shown);
    assert_eq!(p[1].args, Some(json!({"city": "Edin"})));
    g.add_permits(1);

    let done = handle.finish().await.unwrap();
    assert_eq!(done.tool_calls()[0].args, deep);
    let why = "invalid JSON arguments: nested too deeply: more than 127 arrays and objects \
               inside each other at byte 132"
        .to_string();
    let ok_args = "{\"city\": \"Edinburgh\", \"days\": [[1, 2], [3]]}";
    let expected = vec![
        ParsedToolCall {
            call: ToolCall {
                id: "deep".into(),
                name: "f".into(),
                args: deep.clone(),
                signature: None,
            },
            args: Err(why.clone()),
        },
        ParsedToolCall {
            call: ToolCall {
                id: "ok".into(),
                name: "weather".into(),
                args: ok_args.into(),
                signature: None,
            },
            args: Ok(json!({"city": "Edinburgh", "days": [[1, 2], [3]]})),
        },
    ];
    assert_eq!(handle.tool_calls().await, expected);
    let p = handle.partial_tool_calls().await;
    assert_eq!(p[0].state, ToolCallState::Invalid(why));
    assert_eq!(p[0].args.as_ref().unwrap().to_string(), shown);
    assert_eq!(p[1].state, ToolCallState::Ended);
    // Watchers get both (in the order the actor saw them end).
    let mut watched = Vec::new();
    while let Some(c) = watch.next_call().await {
        watched.push(c);
    }
    watched.sort_by(|a, b| a.call.id.cmp(&b.call.id));
    assert_eq!(watched, expected);
    rt.shutdown();
}

/// The accumulator and the tool parser start only once something needs
/// them (`followers.rs`): a stream nobody asks about runs with its
/// provider actor alone; a snapshot starts the accumulator, a question
/// about tool calls the parser; and a stream that ends with them never
/// started still has its whole response and calls.
#[test]
fn the_followers_start_when_first_asked_and_answer_whole_either_way() {
    let rt = runtime();
    let g = gate();
    let mut steps = text_steps(&["a", "b"]);
    steps.extend(call(1, "c1", "get", r#"{"q": 1}"#));
    steps.push(Step::Gate(g.clone()));
    steps.push(finish(FinishReason::ToolCalls, "tool_calls"));
    let asked = rt.start(ScriptedProvider::new(steps.clone()), request(), opts());
    assert!(wait_until(Duration::from_secs(5), || asked.len() == 7));
    assert_eq!(rt.stats().live_actors, 1, "only the provider actor runs");

    use futures::executor::block_on;
    assert_eq!(block_on(asked.snapshot()).text(), "ab");
    assert_eq!(rt.stats().live_actors, 2, "+ the accumulator");
    let calls = block_on(asked.tool_calls());
    assert_eq!(rt.stats().live_actors, 3, "+ the tool parser");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].args, Ok(json!({"q": 1})));

    // The same stream, asked nothing until it has ended.
    let unasked = rt.start(ScriptedProvider::new(steps), request(), opts());
    g.add_permits(2);
    let done = unasked.blocking().finish().unwrap();
    assert_eq!(done.text(), "ab");
    assert_eq!(done.tool_calls()[0].args, r#"{"q": 1}"#);
    let calls = block_on(unasked.tool_calls());
    assert_eq!(
        (calls[0].call.name.as_str(), &calls[0].args),
        ("get", &Ok(json!({"q": 1})))
    );
    assert_eq!(asked.blocking().finish().unwrap().text(), "ab");
    assert!(rt.wait_idle(Duration::from_secs(5)), "{:?}", rt.stats());
    rt.shutdown();
}
