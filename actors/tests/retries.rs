//! Retries before the first content chunk, with backoff and Retry-After.

mod common;

use std::time::{Duration, Instant};

use common::*;
use rivulet_actors::{Event, Outcome, Policy, Runtime, RuntimeConfig, StreamOptions};
use rivulet_core::{Chunk, Error, ErrorKind, UsageDelta};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn server_error() -> Error {
    Error::from_status("scripted", 503, "try later", None, None)
}

fn retrying() -> StreamOptions {
    StreamOptions {
        retries: 2,
        backoff: ms(10),
        ..opts()
    }
}

#[test]
fn open_fails_twice_then_succeeds() {
    let rt = Runtime::new(RuntimeConfig::default());
    let provider = ScriptedProvider::attempts(vec![
        vec![Step::OpenFail(server_error())],
        vec![Step::OpenFail(Error::connection("reset"))],
        text_steps(&["clean", " answer"]),
    ]);
    let handle = rt.start(provider.clone(), request(), retrying());
    let events: Vec<Event> = handle.blocking().subscribe(Policy::default()).collect();
    assert_eq!(end_of(&events), Outcome::Finished);
    assert_eq!(chunks_of(&events).len(), 4);
    assert_eq!(text_of(&events), "clean answer");
    assert_eq!(handle.blocking().finish().unwrap().text(), "clean answer");
    assert_eq!(provider.probe.opens(), 3);
    rt.shutdown();
}

#[test]
fn retries_are_bounded() {
    let rt = Runtime::new(RuntimeConfig::default());
    let provider = ScriptedProvider::new(vec![Step::OpenFail(server_error())]);
    let handle = rt.start(provider.clone(), request(), retrying());
    assert_eq!(handle.blocking().finish().unwrap_err(), server_error());
    assert_eq!(provider.probe.opens(), 3);
    rt.shutdown();
}

#[test]
fn backoff_doubles() {
    let rt = Runtime::new(RuntimeConfig::default());
    let provider = ScriptedProvider::new(vec![Step::OpenFail(server_error())]);
    let t0 = Instant::now();
    let handle = rt.start(
        provider.clone(),
        request(),
        StreamOptions {
            retries: 3,
            backoff: ms(40),
            ..opts()
        },
    );
    assert!(handle.blocking().finish().is_err());
    let elapsed = t0.elapsed();
    // 40 + 80 + 160
    assert!(elapsed >= ms(280), "{elapsed:?}");
    assert!(elapsed < ms(1500), "{elapsed:?}");
    assert_eq!(provider.probe.opens(), 4);
    rt.shutdown();
}

/// The wait a server asks for wins over a shorter backoff: on a rate
/// limit (429), and on an unavailable (503) or overloaded (529) server.
#[test]
fn retry_after_is_honoured_when_larger() {
    let rt = Runtime::new(RuntimeConfig::default());
    for status in [429, 503, 529] {
        let busy = Error::from_status("scripted", status, "slow down", None, Some(ms(300)));
        let provider =
            ScriptedProvider::attempts(vec![vec![Step::OpenFail(busy)], text_steps(&["ok"])]);
        let t0 = Instant::now();
        let handle = rt.start(provider.clone(), request(), retrying());
        assert_eq!(handle.blocking().finish().unwrap().text(), "ok");
        let elapsed = t0.elapsed();
        assert!(elapsed >= ms(300), "{status}: {elapsed:?}");
        assert!(elapsed < ms(1500), "{status}: {elapsed:?}");
        assert_eq!(provider.probe.opens(), 2);
    }
    rt.shutdown();
}

/// A server that asks for a longer wait than `max_retry_wait` is not
/// waited for: the stream fails at once with its error, which keeps the
/// wait it asked for, after one request.
#[test]
fn a_retry_after_beyond_the_limit_fails_at_once() {
    let rt = Runtime::new(RuntimeConfig::default());
    let asked = Duration::from_secs(999_999);
    let limited = Error::from_status("scripted", 429, "slow down", None, Some(asked));
    let overloaded = Error::from_status("scripted", 529, "overloaded", None, Some(ms(400)));
    for (error, options) in [
        (limited, retrying()),
        // The limit is the caller's: 400 ms is too long for 300.
        (
            overloaded,
            StreamOptions {
                max_retry_wait: ms(300),
                ..retrying()
            },
        ),
    ] {
        let provider = ScriptedProvider::attempts(vec![
            vec![Step::OpenFail(error.clone())],
            text_steps(&["never"]),
        ]);
        let t0 = Instant::now();
        let handle = rt.start(provider.clone(), request(), options);
        let err = handle.blocking().finish().unwrap_err();
        assert_eq!(err, error);
        assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
        assert_eq!(provider.probe.opens(), 1);
    }
    rt.shutdown();
}

/// Doubling backoffs stop growing at `max_retry_wait`.
#[test]
fn backoff_is_capped_by_the_limit() {
    let rt = Runtime::new(RuntimeConfig::default());
    let provider = ScriptedProvider::new(vec![Step::OpenFail(server_error())]);
    let t0 = Instant::now();
    let handle = rt.start(
        provider.clone(),
        request(),
        StreamOptions {
            retries: 3,
            backoff: Duration::from_secs(3600),
            max_retry_wait: ms(50),
            ..opts()
        },
    );
    assert_eq!(handle.blocking().finish().unwrap_err(), server_error());
    let elapsed = t0.elapsed();
    assert!(elapsed >= ms(150), "{elapsed:?}");
    assert!(elapsed < ms(2000), "{elapsed:?}");
    assert_eq!(provider.probe.opens(), 4);
    rt.shutdown();
}

#[test]
fn no_retry_after_a_content_chunk() {
    let rt = Runtime::new(RuntimeConfig::default());
    let mut first = text_steps(&["half"]);
    first.truncate(2);
    first.push(Step::Fail(server_error()));
    let provider = ScriptedProvider::attempts(vec![first, text_steps(&["whole"])]);
    let handle = rt.start(provider.clone(), request(), retrying());
    let events: Vec<Event> = handle.blocking().subscribe(Policy::default()).collect();
    assert_eq!(end_of(&events), Outcome::failed(server_error()));
    assert_eq!(text_of(&events), "half");
    assert_eq!(handle.blocking().snapshot().text(), "half");
    assert_eq!(provider.probe.opens(), 1);
    rt.shutdown();
}

#[test]
fn authentication_errors_are_not_retried() {
    let rt = Runtime::new(RuntimeConfig::default());
    let auth = Error::from_status("scripted", 401, "bad key", None, None);
    let provider = ScriptedProvider::attempts(vec![
        vec![Step::OpenFail(auth.clone())],
        text_steps(&["never"]),
    ]);
    let handle = rt.start(provider.clone(), request(), retrying());
    let err = handle.blocking().finish().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert_eq!(err, auth);
    assert_eq!(provider.probe.opens(), 1);
    rt.shutdown();
}

#[test]
fn chunks_before_a_retried_failure_are_not_duplicated() {
    let rt = Runtime::new(RuntimeConfig::default());
    let preamble = || {
        vec![
            Step::Chunk(Chunk::Metadata {
                id: Some("r".into()),
                model: None,
            }),
            Step::Chunk(Chunk::UsageDelta {
                usage: Box::new(UsageDelta {
                    input_tokens: Some(10),
                    ..Default::default()
                }),
            }),
        ]
    };
    let mut failing = preamble();
    failing.push(Step::Fail(server_error()));
    let mut ok = preamble();
    ok.extend(text_steps(&["once"]));
    let provider = ScriptedProvider::attempts(vec![failing, ok]);
    let handle = rt.start(provider.clone(), request(), retrying());
    let events: Vec<Event> = handle.blocking().subscribe(Policy::default()).collect();
    let names: Vec<&str> = chunks_of(&events).iter().map(|c| c.type_name()).collect();
    assert_eq!(
        names,
        vec![
            "metadata_chunk",
            "usage_delta_chunk",
            "text_start_chunk",
            "text_chunk",
            "text_end_chunk"
        ]
    );
    let response = handle.blocking().finish().unwrap();
    assert_eq!(response.usage.input_tokens, Some(10));
    assert_eq!(response.text(), "once");
    assert_eq!(provider.probe.opens(), 2);
    rt.shutdown();
}
