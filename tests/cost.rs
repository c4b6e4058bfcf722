//! `Response::cost()` over real recorded transcripts, replayed by a
//! loopback server through the whole pipeline, against figures computed
//! by hand from each transcript's usage and the built-in price table
//! (`core/data/prices.json`). Prices are USD per million tokens, so each
//! figure below is "sum of tokens × price" divided by 1e6.

use std::time::Duration;

use futures::StreamExt;
use rivulet::{Chunk, Model, Response};
use rivulet_testkit::{wire, Replay, Server, Split};

/// The figures are exact decimals; f64 sums of a few products stay
/// within a hair of them.
fn assert_usd(got: f64, want: f64) {
    assert!((got - want).abs() < 1e-12, "cost {got} != {want}");
}

async fn finished(model: &str, transcript: &str, base: impl Fn(&Server) -> String) -> Response {
    let server = Server::start(vec![Replay::sse(wire(transcript)).split(Split::Lines)]).await;
    Model::new(model)
        .base_url(base(&server))
        .api_key("test-key")
        .retries(0)
        .stream("q")
        .finish()
        .await
        .unwrap_or_else(|e| panic!("{transcript}: {e}"))
}

/// Streams `transcript` a line every 40 ms, cancels right after the
/// first text delta, and returns the snapshot once the stream has ended
/// (as cancelled).
async fn cancelled_after_first_text(
    model: &str,
    transcript: &str,
    base: impl Fn(&Server) -> String,
) -> Response {
    let server = Server::start(vec![Replay::sse(wire(transcript))
        .split(Split::Lines)
        .delay(Duration::from_millis(40))])
    .await;
    let response = Model::new(model)
        .base_url(base(&server))
        .api_key("test-key")
        .retries(0)
        .stream("q");
    let mut chunks = response.chunk_stream();
    while let Some(chunk) = chunks.next().await {
        if matches!(
            &*chunk.expect("no failure before the cancel"),
            Chunk::Text { .. }
        ) {
            break;
        }
    }
    response.cancel();
    let err = response.finish().await.expect_err("cancelled");
    assert_eq!(err.kind(), rivulet::ErrorKind::Cancelled);
    response.snapshot().await
}

fn root(s: &Server) -> String {
    s.url()
}

fn v1(s: &Server) -> String {
    format!("{}/v1", s.url())
}

/// Anthropic: input and output, no cache; the model is the dated id the
/// wire names, priced as its alias `claude-sonnet-4`.
#[tokio::test(flavor = "multi_thread")]
async fn anthropic_text() {
    let r = finished("anthropic/claude-sonnet-4-0", "anthropic/text.sse", root).await;
    assert_eq!(r.model, "claude-sonnet-4-20250514");
    assert_eq!(
        (r.usage.input_tokens, r.usage.output_tokens),
        (Some(17), Some(15))
    );
    // 17 × $3 + 15 × $15 = 276 per million.
    let cost = r.cost().expect("claude-sonnet-4 is priced");
    assert_usd(cost.total, 0.000276);
    assert_usd(cost.parts.as_ref().unwrap().input, 0.000051);
    assert_usd(cost.parts.as_ref().unwrap().output, 0.000225);
    assert_eq!(cost.parts.as_ref().unwrap().cache_read, 0.0);
    assert!(
        cost.source.contains("platform.claude.com"),
        "{}",
        cost.source
    );
}

/// Anthropic after server-side compaction: the final usage (181 in, 8
/// out, no cache) is the truth, not message_start's 55,096 cache reads.
#[tokio::test(flavor = "multi_thread")]
async fn anthropic_usage_that_falls_is_priced_at_its_last_snapshot() {
    let r = finished(
        "anthropic/claude-sonnet-4-6",
        "anthropic/compaction_usage_falls.sse",
        root,
    )
    .await;
    assert_eq!(r.usage.cache_read_tokens, Some(0));
    // 181 × $3 + 8 × $15 = 663 per million.
    assert_usd(r.cost().unwrap().total, 0.000663);
}

/// A stream cancelled after its first text delta costs what it used so
/// far: message_start's usage, cache reads included (100 uncached input,
/// 55,096 read from the cache, 7 output).
#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_stream_has_its_cost_so_far() {
    let snapshot = cancelled_after_first_text(
        "anthropic/claude-sonnet-4-6",
        "anthropic/compaction_usage_falls.sse",
        root,
    )
    .await;
    assert_eq!(snapshot.text(), "Hello!");
    assert_eq!(snapshot.usage.input_tokens, Some(55_196));
    assert_eq!(snapshot.usage.cache_read_tokens, Some(55_096));
    assert_eq!(snapshot.usage.output_tokens, Some(7));
    // 100 × $3 + 55,096 × $0.30 + 7 × $15 = 16,933.8 per million.
    let cost = snapshot.cost().expect("usage so far is priced");
    assert_usd(cost.total, 0.0169338);
    assert_usd(cost.parts.as_ref().unwrap().cache_read, 0.0165288);
}

/// Anthropic's cache writes, in the wire's own usage shape (no recorded
/// stream here wrote to the cache): input counts reads and writes too.
#[test]
fn anthropic_cache_writes_and_reads() {
    let wire_usage: rivulet::providers::anthropic::anthropic_wire::Usage = serde_json::from_str(
        r#"{"input_tokens":10,"cache_creation_input_tokens":100,"cache_read_input_tokens":1000,"output_tokens":50}"#,
    )
    .unwrap();
    let mut r = Response::new("anthropic", "claude-sonnet-4-20250514", vec![]);
    r.usage = rivulet::providers::anthropic::anthropic_decoder::usage_from_wire(&wire_usage);
    assert_eq!(r.usage.input_tokens, Some(1110));
    // 10 × $3 + 100 × $3.75 + 1,000 × $0.30 + 50 × $15 = 1,455 per million.
    let cost = r.cost().unwrap();
    assert_usd(cost.total, 0.001455);
    assert_usd(cost.parts.as_ref().unwrap().cache_write, 0.000375);
    assert_usd(cost.parts.as_ref().unwrap().cache_read, 0.0003);
}

/// OpenAI Chat Completions, a reasoning model cut off by max_tokens: all
/// 50 output tokens were reasoning, billed at the output price.
#[tokio::test(flavor = "multi_thread")]
async fn openai_reasoning_tokens() {
    let r = finished(
        "openai/gpt-5-mini",
        "openai-chat/finish_length_reasoning_model.sse",
        v1,
    )
    .await;
    assert_eq!(r.model, "gpt-5-mini-2025-08-07");
    assert_eq!(r.usage.reasoning_tokens, Some(50));
    // 13 × $0.25 + 50 × $2 = 103.25 per million.
    let cost = r.cost().unwrap();
    assert_usd(cost.total, 0.00010325);
    assert_usd(cost.parts.as_ref().unwrap().reasoning, 0.0001);
    assert_eq!(cost.parts.as_ref().unwrap().output, 0.0);
}

/// OpenAI Chat Completions and the Responses API, same model and shape.
#[tokio::test(flavor = "multi_thread")]
async fn openai_chat_and_responses() {
    let chat = finished("openai/gpt-4o", "openai-chat/text_include_usage.sse", v1).await;
    // 16 × $2.50 + 10 × $10 = 140 per million.
    assert_usd(chat.cost().unwrap().total, 0.00014);
    let responses = finished("openai-responses/gpt-4o", "openai-responses/text.sse", v1).await;
    assert_eq!(responses.provider, "openai-responses");
    // 16 × $2.50 + 11 × $10 = 150 per million.
    assert_usd(responses.cost().unwrap().total, 0.00015);
}

/// Gemini reports thoughts apart from the candidates; core's output
/// includes them, and they cost the output price.
#[tokio::test(flavor = "multi_thread")]
async fn gemini_thoughts() {
    let r = finished("google/gemini-2.5-flash", "gemini/thoughts.sse", root).await;
    assert_eq!(r.usage.input_tokens, Some(30));
    assert_eq!(r.usage.reasoning_tokens, Some(1947));
    // The last usageMetadata has no candidatesTokenCount: all 1,947
    // output tokens are thoughts.
    assert_eq!(r.usage.output_tokens, Some(1947));
    // 30 × $0.30 + 1,947 × $2.50 = 4,876.5 per million.
    assert_usd(r.cost().unwrap().total, 0.0048765);
    assert_usd(
        r.cost().unwrap().parts.unwrap().reasoning,
        1947.0 * 2.5 / 1e6,
    );
}

/// A model the table does not price has no cost, not a cost of 0.
#[tokio::test(flavor = "multi_thread")]
async fn an_unpriced_model_has_no_cost() {
    let r = finished("groq/llama-3.3-70b-versatile", "groq/tool_call.sse", v1).await;
    assert!(r.usage.input_tokens.is_some() && r.usage.output_tokens.is_some());
    assert_eq!(r.cost(), None, "{:?}", r.usage);
}

/// OpenAI reports usage only at the end: a stream cancelled before it has
/// no cost yet (unknown), not a cost of 0.
#[tokio::test(flavor = "multi_thread")]
async fn usage_not_reported_yet_gives_no_cost() {
    let snapshot =
        cancelled_after_first_text("openai/gpt-4o", "openai-chat/text_include_usage.sse", v1).await;
    assert!(!snapshot.text().is_empty());
    assert!(snapshot.usage.is_empty(), "{:?}", snapshot.usage);
    assert_eq!(snapshot.cost(), None);
}

/// A cost the provider reports on the wire wins over the table: OpenRouter
/// bills `usage.cost` (here $0.000222 for 12 + 5 tokens of Claude 3.5
/// Sonnet through Bedrock), xAI `cost_in_usd_ticks` (1,721,250 ticks of
/// 1e-10 USD: $0.000172125), whatever any price row says.
#[tokio::test]
async fn a_cost_the_provider_reports_wins_over_the_table() {
    let r = finished(
        "openrouter/anthropic/claude-3.5-sonnet",
        "openrouter/anthropic_via_openrouter.sse",
        |s| format!("{}/v1", s.url()),
    )
    .await;
    let cost = r.cost().expect("reported");
    assert_usd(cost.total, 0.000222);
    assert_eq!(cost.parts, None);
    assert_eq!(cost.source, "reported by openrouter");
    assert_eq!(cost.date, None);

    let r = finished("xai/grok-3-mini", "xai/text_reasoning_content.sse", |s| {
        format!("{}/v1", s.url())
    })
    .await;
    let cost = r.cost().expect("reported");
    assert_usd(cost.total, 0.000172125);
    assert_eq!(cost.source, "reported by xai");
}
