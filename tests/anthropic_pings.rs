//! Anthropic `ping` events through the real runtime: they keep the
//! connection busy but are not content, so they never reset the idle
//! timeout.
//!
//! `anthropic/text_many_pings.sse` is served one line every 80 ms, so its
//! events (three lines each) arrive 240 ms apart:
//!
//! | ms   | event                                   |
//! | ---- | --------------------------------------- |
//! | 400  | content_block_start (text starts)       |
//! | 640  | text_delta "4200 + 42 ="                |
//! | 880  | ping                                    |
//! | 1120 | text_delta " 4242"                      |
//! | 1360 | ping                                    |
//! | 1600 | content_block_stop (text ends): the last content |
//! | 1840 | ping                                    |
//! | 2080 | ping                                    |
//! | 2320 | message_delta (finish reason, usage)    |
//! | 2560 | message_stop                            |
//!
//! With an idle timeout of 720 ms, longer than the 240 ms between pings
//! (and than any gap between content chunks, 480 ms at most), the timeout
//! still fires at ~2320 ms, 720 ms after the last content chunk: had the
//! pings counted, the last one (2080 ms) would have pushed it to 2800 ms,
//! after the stream's end at 2560 ms, and the stream would have finished.

use std::time::{Duration, Instant};

use rivulet::{ErrorKind, Model, TimeoutKind};
use rivulet_testkit::{wire, Replay, Server, Split};

const LINE_DELAY: Duration = Duration::from_millis(80);

async fn serve() -> Server {
    Server::start(vec![Replay::sse(wire("anthropic/text_many_pings.sse"))
        .split(Split::Lines)
        .delay(LINE_DELAY)])
    .await
}

fn model(server: &Server, idle: Duration) -> Model {
    Model::new("anthropic/claude-sonnet-4-0")
        .base_url(server.url())
        .api_key("sk-ant-test-1234")
        .retries(0)
        .idle_timeout(idle)
}

#[tokio::test(flavor = "multi_thread")]
async fn pings_do_not_reset_the_idle_timeout() {
    let server = serve().await;
    let started = Instant::now();
    let response = model(&server, Duration::from_millis(720)).stream("What is 4200 + 42?");
    let err = response.finish().await.expect_err("the idle timeout fires");
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        matches!(
            err,
            rivulet::Error::Timeout {
                which: TimeoutKind::Idle,
                ..
            }
        ),
        "{err:?}"
    );
    // Fired after the last content chunk plus the limit, not at a ping.
    // That it fired before the end (message_stop, 960 ms after the text) is
    // what the Timeout kind above says: the upper bound here only catches a
    // hang, as a busy machine can delay the waking consumer by far more
    // than the 260 ms between the deadline and message_stop.
    assert!(elapsed >= Duration::from_millis(2300), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
    // The text received is kept.
    let partial = response.snapshot().await;
    assert_eq!(partial.text(), "4200 + 42 = 4242");
    assert_eq!(partial.provider, "anthropic");
}

/// The control: the same stream with a limit longer than its longest
/// content gap (960 ms, from the text's end to message_stop) completes.
#[tokio::test(flavor = "multi_thread")]
async fn the_same_stream_completes_under_a_longer_limit() {
    let server = serve().await;
    let response = model(&server, Duration::from_millis(1200)).stream("What is 4200 + 42?");
    let done = response.finish().await.expect("the stream completes");
    assert_eq!(done.text(), "4200 + 42 = 4242");
    assert_eq!(done.raw_finish_reason.as_deref(), Some("end_turn"));
    assert_eq!(
        (done.usage.input_tokens, done.usage.output_tokens),
        (Some(17), Some(15))
    );
    assert_eq!(done.id.as_deref(), Some("msg_01DWdQ9Z3WPKooaaD2oVqLtX"));
}
