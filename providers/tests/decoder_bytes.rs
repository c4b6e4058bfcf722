//! The decoder fed bytes directly, without HTTP: every split point, torn
//! UTF-8, other line endings, garbage.

mod common;

use common::{check_grammar, compare, expectations, fold};
use rivulet_core::{Chunk, ErrorKind};
use rivulet_providers::openai::decode_pieces;
use rivulet_testkit::{wire, Replay, Server, Split};

/// Decodes `body` whole, then split in two at every byte offset, and checks
/// each split gives the same chunks (and the whole matches the expectation).
fn every_split_point(file: &str, provider: &str) {
    let body = wire(file);
    let whole = decode_pieces(provider, false, [&body[..]]);
    let want = &expectations()[file];
    let diffs = compare(&fold(whole.clone()), want);
    assert!(diffs.is_empty(), "{file}: {diffs:?}");
    for k in 0..=body.len() {
        let split = decode_pieces(provider, false, [&body[..k], &body[k..]]);
        assert_eq!(split, whole, "{file} split at byte {k}");
    }
}

#[test]
fn every_split_point_text_include_usage() {
    every_split_point("openai-chat/text_include_usage.sse", "openai");
}

#[test]
fn every_split_point_parallel_tool_calls() {
    every_split_point("openai-chat/parallel_tool_calls.sse", "openai");
}

#[test]
fn every_split_point_refusal() {
    every_split_point("openai-chat/refusal_2.sse", "openai");
}

#[test]
fn every_split_point_openrouter_comments_and_error() {
    every_split_point("openrouter/mid_stream_error_chunk.sse", "openrouter");
}

#[test]
fn every_split_point_azure_and_groq() {
    every_split_point("azure/chat_prompt_filter_results.sse", "azure");
    every_split_point("groq/tool_call.sse", "groq");
    every_split_point("mistral/reasoning_short.sse", "mistral");
    every_split_point("llamacpp/ik_llama_no_done_fragment.sse", "llamacpp");
}

#[test]
fn one_byte_pieces() {
    for (file, provider) in [
        ("openai-chat/parallel_tool_calls_2.sse", "openai"),
        ("mistral/magistral_thinking.sse", "mistral"),
        ("groq/error_event_after_text.sse", "groq"),
    ] {
        let body = wire(file);
        let whole = decode_pieces(provider, false, [&body[..]]);
        let bytes = decode_pieces(provider, false, body.chunks(1));
        assert_eq!(bytes, whole, "{file}");
    }
}

/// The emoji of the DeepSeek answer, torn at each of its inner bytes.
#[test]
fn multibyte_character_torn_across_reads() {
    let file = "deepseek/reasoner_reasoning_content.sse";
    let body = wire(file);
    let emoji = "😊".as_bytes();
    let at = body
        .windows(emoji.len())
        .position(|w| w == emoji)
        .expect("the transcript has the emoji");
    let whole = decode_pieces("deepseek", false, [&body[..]]);
    for k in at + 1..at + emoji.len() {
        let torn = decode_pieces("deepseek", false, [&body[..k], &body[k..]]);
        assert_eq!(torn, whole, "torn at {k}");
    }
    // Three pieces: one byte of the character alone in the middle.
    let torn = decode_pieces(
        "deepseek",
        false,
        [&body[..at + 1], &body[at + 1..at + 2], &body[at + 2..]],
    );
    assert_eq!(torn, whole);
    let r = fold(whole).response;
    assert_eq!(r.texts(), ["Hello there! 😊 How can I help you today?"]);
}

fn with_line_ends(body: &[u8], end: &str) -> Vec<u8> {
    String::from_utf8(body.to_vec())
        .unwrap()
        .replace('\n', end)
        .into_bytes()
}

#[test]
fn crlf_and_cr_line_endings() {
    for (file, provider) in [
        ("openai-chat/text_include_usage.sse", "openai"),
        ("openrouter/mid_stream_error_chunk.sse", "openrouter"),
        ("groq/error_event_tool_use_failed.sse", "groq"),
    ] {
        let lf = wire(file);
        let want = decode_pieces(provider, false, [&lf[..]]);
        for end in ["\r\n", "\r"] {
            let body = with_line_ends(&lf, end);
            assert_eq!(
                decode_pieces(provider, false, [&body[..]]),
                want,
                "{file} {end:?}"
            );
            // Torn between every CR and its LF (or after every CR).
            let pieces: Vec<&[u8]> = body.split_inclusive(|b| *b == b'\r').collect();
            assert_eq!(
                decode_pieces(provider, false, pieces),
                want,
                "{file} {end:?} torn"
            );
        }
    }
}

#[tokio::test]
async fn crlf_over_http_byte_by_byte() {
    let body = with_line_ends(&wire("openai-chat/text_include_usage.sse"), "\r\n");
    let server = Server::start(vec![Replay::sse(body).split(Split::Bytes)]).await;
    let p = common::provider("openai", &format!("{}/v1", server.url()));
    let outcome = common::run(p.as_ref(), &common::request("m")).await;
    let diffs = compare(
        &outcome,
        &expectations()["openai-chat/text_include_usage.sse"],
    );
    assert!(diffs.is_empty(), "{diffs:?}");
}

/// Cuts `text_include_usage.sse` after its 5th event and appends `tail`.
fn five_events_then(tail: &[u8]) -> Vec<u8> {
    let body = wire("openai-chat/text_include_usage.sse");
    let mut cut = 0;
    for _ in 0..5 {
        cut += body[cut..].windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    }
    [&body[..cut], tail].concat()
}

#[test]
fn garbage_bytes_keep_what_came_before() {
    // Invalid UTF-8, then what would have been a valid event.
    let body = five_events_then(
        b"\xff\xfe\x00garbage\n\ndata: {\"choices\":[{\"delta\":{\"content\":\"late\"}}]}\n\n",
    );
    for pieces in [vec![&body[..]], body.chunks(7).collect()] {
        let out = fold(decode_pieces("openai", false, pieces));
        let err = out.error.as_ref().expect("an error");
        assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
        assert_eq!(err.provider(), Some("openai"));
        // "420" "0" " +" " " from events 2..5 (the first only opens the text).
        assert_eq!(out.response.texts(), ["4200 + "]);
        assert_eq!(out.chunks.last(), Some(&Chunk::TextEnd { part: 0 }));
        check_grammar(&out.chunks).unwrap();
    }
}

#[test]
fn malformed_json_keeps_what_came_before() {
    let body = five_events_then(b"data: {\"choices\": [oops\n\ndata: [DONE]\n\n");
    let out = fold(decode_pieces("openai", false, [&body[..]]));
    let err = out.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::Protocol);
    assert!(err.message().contains("[oops"), "{}", err.message());
    assert_eq!(out.response.texts(), ["4200 + "]);
    assert_eq!(out.after_error, 0);
}

#[test]
fn truncated_without_done_is_a_connection_error() {
    // Cut mid-event: the bytes that came all parse, the rest is missing.
    let body = five_events_then(b"data: {\"choices\":[{\"delta\":{\"con");
    let out = fold(decode_pieces("openai", false, [&body[..]]));
    let err = out.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::Connection);
    assert!(err.is_retryable());
    assert_eq!(
        err.message(),
        "the stream ended before [DONE] or a finish reason: the response is truncated (the connection was probably cut)"
    );
    assert_eq!(out.response.texts(), ["4200 + "]);
}

#[test]
fn raw_events_are_one_per_event_and_typed() {
    use rivulet_providers::openai::openai_wire::ChatCompletionChunk;
    let body = wire("openrouter/anthropic_via_openrouter.sse");
    let plain = decode_pieces("openrouter", false, [&body[..]]);
    let raw = decode_pieces("openrouter", true, [&body[..]]);
    let raws: Vec<_> = raw
        .iter()
        .filter_map(|c| match c {
            Ok(Chunk::Raw(r)) => Some(r.clone()),
            _ => None,
        })
        .collect();
    let data_events = String::from_utf8(body.clone())
        .unwrap()
        .matches("data: ")
        .count();
    assert_eq!(raws.len(), data_events);
    assert_eq!(raws[0].provider(), "openrouter");
    let typed = raws[0].downcast_ref::<ChatCompletionChunk>().unwrap();
    assert_eq!(typed.provider.as_deref(), Some("Amazon Bedrock"));
    assert_eq!(raws.last().unwrap().json(), "[DONE]");
    // Without the raw chunks, the same stream.
    let without: Vec<_> = raw
        .into_iter()
        .filter(|c| !matches!(c, Ok(Chunk::Raw(_))))
        .collect();
    assert_eq!(without, plain);
}
