//! `Model::fallback`: loopback servers replaying recorded transcripts. The
//! first model answers overloaded (Anthropic's recorded `overloaded_error`,
//! as an HTTP 529 body and as an in-stream error event) or 503; the next
//! one answers. A failure after content, or one a retry cannot help,
//! never falls back.

use std::time::{Duration, Instant};

use futures::StreamExt;
use rivulet::{Chunk, ErrorKind, Model, TimeoutKind};
use rivulet_testkit::{wire, After, Replay, Server, Split};

/// The recorded overloaded error object (`data:` of
/// `anthropic/error_overloaded_fragment.sse`), which Anthropic also sends
/// as the body of an HTTP 529.
fn overloaded_body() -> Vec<u8> {
    let sse = String::from_utf8(wire("anthropic/error_overloaded_fragment.sse")).unwrap();
    let data = sse
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("a data line");
    data.as_bytes().to_vec()
}

const OPENAI_TEXT: &str = "4200 + 42 equals 4242.";
const ANTHROPIC_TEXT: &str = "4200 + 42 = 4242";

fn anthropic(server: &Server, name: &str) -> Model {
    Model::new(&format!("anthropic/{name}"))
        .base_url(server.url())
        .api_key("sk-ant-test")
        .backoff(Duration::from_millis(10))
}

fn openai(server: &Server) -> Model {
    Model::new("openai/gpt-4o")
        .base_url(format!("{}/v1", server.url()))
        .api_key("sk-test")
}

/// Every chunk one consumer saw, as `-o chunks` lines.
async fn chunk_lines(response: &rivulet::StreamResponse) -> Vec<String> {
    response
        .chunk_stream()
        .map(|c| match c {
            Ok(c) => rivulet::json::chunk_line(&c),
            Err(e) => format!("error: {e}"),
        })
        .collect()
        .await
}

/// An overloaded Anthropic model (HTTP 529, twice: its own retry) falls
/// back to an OpenAI model, which answers; three consumers see the same
/// chunks, all of them OpenAI's, and the response is OpenAI's.
#[tokio::test(flavor = "multi_thread")]
async fn an_overloaded_model_falls_back_to_the_next() {
    let first = Server::start(vec![Replay::json(529, overloaded_body())]).await;
    let second = Server::start(vec![Replay::sse(wire(
        "openai-chat/text_include_usage.sse",
    ))
    .split(Split::Lines)])
    .await;
    let model = anthropic(&first, "claude-sonnet-4-5")
        .retries(1)
        .fallback_to([openai(&second).retries(0)]);
    let response = model.stream("What is 4200 + 42?");
    let (a, b, c) = tokio::join!(
        chunk_lines(&response),
        chunk_lines(&response),
        chunk_lines(&response)
    );
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert!(a.iter().all(|l| !l.starts_with("error")), "{a:?}");

    let done = response.finish().await.expect("the fallback answers");
    assert_eq!(done.text(), OPENAI_TEXT);
    assert_eq!(done.provider, "openai");
    assert_eq!(done.model, "gpt-4o-2024-08-06");
    // Only the answering model's usage: nothing of the failed one.
    assert_eq!(
        (done.usage.input_tokens, done.usage.output_tokens),
        (Some(16), Some(10))
    );
    assert_eq!(first.requests().len(), 2, "its own retry first");
    assert_eq!(second.requests().len(), 1);
    assert_eq!(
        second.requests()[0].json()["messages"][0]["content"],
        "What is 4200 + 42?"
    );

    let routing = response.routing().expect("a model with fallbacks");
    assert_eq!(
        (routing.provider_id.as_str(), routing.model.as_str()),
        ("openai", "gpt-4o")
    );
    assert_eq!(routing.skipped.len(), 1);
    let skipped = &routing.skipped[0];
    assert_eq!(
        (skipped.provider_id.as_str(), skipped.model.as_str()),
        ("anthropic", "claude-sonnet-4-5")
    );
    assert_eq!(skipped.error.kind(), ErrorKind::Overloaded);
    assert_eq!(skipped.error.status(), Some(529));
    assert_eq!(skipped.error.message(), "Overloaded");
}

/// The recorded in-stream `overloaded_error` event (HTTP 200, then
/// `event: error` before any content) falls back too; by id, the next
/// model of the same provider is sent the same request under its name,
/// through the same base URL and key.
#[tokio::test(flavor = "multi_thread")]
async fn an_in_stream_overloaded_event_falls_back_by_id() {
    let server = Server::start(vec![
        Replay::sse(wire("anthropic/error_overloaded_fragment.sse")),
        Replay::sse(wire("anthropic/text.sse")).split(Split::Lines),
    ])
    .await;
    let model = anthropic(&server, "claude-sonnet-4-5")
        .retries(0)
        .max_tokens(64)
        .fallback(["anthropic/claude-sonnet-4-0"]);
    let response = model.stream("What is 4200 + 42?");
    let done = response.finish().await.expect("the fallback answers");
    assert_eq!(done.text(), ANTHROPIC_TEXT);
    assert_eq!(done.model, "claude-sonnet-4-20250514");
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].json()["model"], "claude-sonnet-4-5");
    assert_eq!(requests[1].json()["model"], "claude-sonnet-4-0");
    // The same request otherwise: messages and parameters.
    assert_eq!(requests[1].json()["max_tokens"], 64);
    assert_eq!(
        requests[1].json()["messages"],
        requests[0].json()["messages"]
    );
    assert_eq!(requests[1].header("x-api-key"), Some("sk-ant-test"));
    let routing = response.routing().unwrap();
    assert_eq!(routing.model, "claude-sonnet-4-0");
    assert_eq!(routing.skipped[0].error.kind(), ErrorKind::Overloaded);
}

/// A 503 falls back; with two fallbacks that both fail the same way, the
/// stream fails with the last model's error and the routing lists the
/// two before it.
#[tokio::test(flavor = "multi_thread")]
async fn every_model_failing_ends_with_the_last_error() {
    let server = Server::start(vec![Replay::new(503, "")]).await;
    let model = openai(&server)
        .retries(0)
        .fallback(["openai/gpt-4o-mini", "openai/gpt-5-mini"]);
    let response = model.stream("q");
    let err = response.finish().await.expect_err("every model fails");
    assert_eq!(err.kind(), ErrorKind::Server);
    assert_eq!(err.status(), Some(503));
    let models: Vec<_> = server
        .requests()
        .iter()
        .map(|r| r.json()["model"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(models, ["gpt-4o", "gpt-4o-mini", "gpt-5-mini"]);
    let routing = response.routing().unwrap();
    assert_eq!(routing.model, "gpt-5-mini");
    let skipped: Vec<_> = routing.skipped.iter().map(|s| s.model.as_str()).collect();
    assert_eq!(skipped, ["gpt-4o", "gpt-4o-mini"]);
    let snapshot = response.snapshot().await;
    assert_eq!(snapshot.model, "gpt-5-mini");
}

/// A model whose connection breaks after content has been streamed does
/// not fall back, though a broken connection is retryable: what the
/// consumers saw stays, with the error.
#[tokio::test(flavor = "multi_thread")]
async fn a_failure_after_content_does_not_fall_back() {
    let body = wire("openai-chat/text_include_usage.sse");
    // The recorded stream cut after its third event, then reset.
    let cut = body
        .windows(2)
        .enumerate()
        .filter(|(_, w)| w == b"\n\n")
        .nth(2)
        .map(|(i, _)| i + 2)
        .unwrap();
    let first = Server::start(vec![Replay::sse(body[..cut].to_vec()).then(After::Abort)]).await;
    let second = Server::start(vec![Replay::sse(wire(
        "openai-chat/text_include_usage.sse",
    ))])
    .await;
    let model = openai(&first).retries(0).fallback_to([openai(&second)]);
    let response = model.stream("q");
    let err = response.finish().await.expect_err("the cut is an error");
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(err.is_retryable());
    assert_eq!(second.connections(), 0, "no fallback after content");
    let snapshot = response.snapshot().await;
    assert!(!snapshot.text().is_empty());
    assert!(OPENAI_TEXT.starts_with(&snapshot.text()));
    let routing = response.routing().unwrap();
    assert_eq!(routing.model, "gpt-4o");
    assert!(routing.is_first_choice());
}

/// A bad key is not something another model fixes by retrying: no
/// fallback (the recorded 401 body).
#[tokio::test(flavor = "multi_thread")]
async fn an_error_a_retry_cannot_help_does_not_fall_back() {
    let first = Server::start(vec![Replay::json(
        401,
        wire("anthropic/error_http401_authentication.json"),
    )])
    .await;
    let second = Server::start(vec![Replay::sse(wire(
        "openai-chat/text_include_usage.sse",
    ))])
    .await;
    let model = anthropic(&first, "claude-sonnet-4-5").fallback_to([openai(&second)]);
    let err = model.call("q").await.expect_err("401");
    assert_eq!(err.kind(), ErrorKind::Authentication);
    assert_eq!(second.connections(), 0);
}

/// The total timeout covers every model tried: 900 ms of backoff on the
/// first model, then a second that never answers, and the stream ends at
/// the total timeout (1.2 s from the start), not 1.2 s after the second
/// started.
#[tokio::test(flavor = "multi_thread")]
async fn the_total_timeout_covers_every_model() {
    let first = Server::start(vec![Replay::json(529, overloaded_body())]).await;
    let second = Server::start(vec![Replay::sse(Vec::new()).then(After::Stall)]).await;
    let model = anthropic(&first, "claude-sonnet-4-5")
        .retries(2)
        .backoff(Duration::from_millis(300))
        .total_timeout(Duration::from_millis(1200))
        .fallback_to([openai(&second)]);
    let started = Instant::now();
    let err = model.call("q").await.expect_err("times out");
    let elapsed = started.elapsed();
    assert!(
        matches!(
            err,
            rivulet::Error::Timeout {
                which: TimeoutKind::Total,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(first.requests().len(), 3);
    assert_eq!(second.connections(), 1);
    assert!(elapsed >= Duration::from_millis(1200), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2000), "{elapsed:?}");
}

/// A cancel while the fallback is being tried stops it: the stream ends
/// cancelled and the second server sees its connection close.
#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_the_fallback() {
    let first = Server::start(vec![Replay::json(529, overloaded_body())]).await;
    let second = Server::start(vec![Replay::sse(Vec::new()).then(After::Stall)]).await;
    let model = anthropic(&first, "claude-sonnet-4-5")
        .retries(0)
        .fallback_to([openai(&second)]);
    let response = model.stream("q");
    let deadline = Instant::now() + Duration::from_secs(5);
    while second.connections() == 0 {
        assert!(Instant::now() < deadline, "the fallback was never tried");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(response.routing().unwrap().provider_id, "openai");
    response.cancel();
    let err = response.finish().await.expect_err("cancelled");
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    assert!(second.wait_all_closed(Duration::from_secs(2)).await);
    let chunks = chunk_lines(&response).await;
    assert_eq!(chunks.len(), 1, "only the terminal error: {chunks:?}");
}

/// Without fallbacks there is no routing record, and the stream behaves
/// as before.
#[tokio::test(flavor = "multi_thread")]
async fn no_fallbacks_no_routing() {
    let server = Server::start(vec![Replay::sse(wire(
        "openai-chat/text_include_usage.sse",
    ))])
    .await;
    let response = openai(&server).stream("q");
    let mut chunks = response.chunk_stream();
    let mut text = String::new();
    while let Some(c) = chunks.next().await {
        if let Chunk::Text { delta, .. } = &*c.unwrap() {
            text.push_str(delta);
        }
    }
    assert_eq!(text, OPENAI_TEXT);
    assert_eq!(response.routing(), None);
}
