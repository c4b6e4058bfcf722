//! A chunk's JSON line is all the shared log keeps of it: every chunk of
//! real recorded streams, from every wire family, must come back from its
//! line as the chunk it was, and print the same line again. (No Redis
//! here: this is the format the mirror writes and a follower parses.)

mod support;

use std::collections::BTreeSet;

use futures::StreamExt;
use rivulet::Chunk;
use rivulet_testkit::{wire, Replay, Server};
use support::model;

/// (provider, transcript): text, thoughts with signatures and redactions,
/// parallel tool calls, provider parts, audio, usage, refusals.
const TRANSCRIPTS: &[(&str, &str)] = &[
    ("openai", "openai-chat/parallel_tool_calls.sse"),
    ("openai", "openai-chat/audio_fragment.sse"),
    ("openai", "openai-chat/refusal.sse"),
    ("openai-responses", "openai-responses/reasoning_summary.sse"),
    (
        "openai-responses",
        "openai-responses/function_calls_parallel.sse",
    ),
    (
        "openai-responses",
        "openai-responses/code_interpreter_call.sse",
    ),
    ("anthropic", "anthropic/thinking.sse"),
    ("anthropic", "anthropic/redacted_thinking.sse"),
    ("anthropic", "anthropic/server_tool_code_execution.sse"),
    (
        "google",
        "gemini/function_call_thought_signature_gemini3.sse",
    ),
    ("google", "gemini/code_execution_usage_falls.sse"),
    ("cohere", "cohere/tool_call.sse"),
    ("mistral", "mistral/magistral_thinking.sse"),
    ("deepseek", "deepseek/reasoner_reasoning_content.sse"),
    ("groq", "groq/reasoning_tool_call_x_groq_usage.sse"),
];

#[tokio::test]
async fn every_chunk_of_real_streams_round_trips_through_its_line() {
    let mut kinds = BTreeSet::new();
    let mut checked = 0;
    for &(provider, file) in TRANSCRIPTS {
        for raw in [false, true] {
            let server = Server::start(vec![Replay::sse(wire(file))]).await;
            let response = model(provider, &server.url()).raw_events(raw).stream("q");
            let mut chunks = response.chunk_stream();
            let mut n = 0;
            while let Some(chunk) = chunks.next().await {
                let chunk = match chunk {
                    Ok(chunk) => chunk,
                    // A recorded fragment ends cut short; its chunks count.
                    Err(_) if file.contains("_fragment") => break,
                    Err(e) => panic!("{file}: {e}"),
                };
                let line = serde_json::to_string(&*chunk).unwrap();
                let back: Chunk =
                    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{file}: {line}: {e}"));
                assert_eq!(serde_json::to_string(&back).unwrap(), line, "{file}");
                match (&back, &*chunk) {
                    // A raw event comes back untyped: its line is the check.
                    (Chunk::Raw(_), Chunk::Raw(_)) => {}
                    (back, chunk) => assert_eq!(back, chunk, "{file}: {line}"),
                }
                kinds.insert(chunk.type_name());
                n += 1;
            }
            assert!(n > 0, "{file}: no chunks");
            checked += n;
        }
    }
    let want: BTreeSet<&str> = [
        "text_start_chunk",
        "text_chunk",
        "text_end_chunk",
        "thought_start_chunk",
        "thought_chunk",
        "thought_end_chunk",
        "tool_call_start_chunk",
        "tool_call_chunk",
        "tool_call_end_chunk",
        "audio_chunk",
        "provider_part_chunk",
        "usage_delta_chunk",
        "finish_reason_chunk",
        "metadata_chunk",
        "raw_chunk",
    ]
    .into();
    assert_eq!(kinds, want, "every kind of chunk, from real streams");
    assert!(checked > 1000, "{checked} chunks");
}
