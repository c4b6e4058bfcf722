//! Heap allocations per chunk on each protocol's text path: a recorded
//! transcript whose first text-delta event is repeated 10,000 times in
//! place (real bytes, a long answer's shape), decoded from 16 KiB pieces
//! as a socket gives them, SSE parser included. A counting global
//! allocator counts every `alloc` and `realloc` during the decode.
//!
//! The figure is what the decode costs per chunk beyond the chunk itself;
//! the `Vec` that collects the chunks grows by doubling, a few allocations
//! in all. Bedrock's body is binary: its first text-delta message, a whole
//! checksummed frame, is repeated the same way.
//!
//! `cargo bench -p rivulet-providers --bench alloc`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use rivulet_core::Chunk;
use rivulet_providers::decode::Decoded;
use rivulet_testkit::{wire, Framing, Generated};

/// The system allocator, counting calls and bytes.
struct Counting;

static CALLS: AtomicUsize = AtomicUsize::new(0);
static BYTES: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        CALLS.fetch_add(1, Relaxed);
        BYTES.fetch_add(layout.size(), Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        CALLS.fetch_add(1, Relaxed);
        BYTES.fetch_add(new_size, Relaxed);
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const REPEAT: usize = 10_000;

/// One decode of a body in memory.
type Decode<'a> = Box<dyn Fn() -> Decoded + 'a>;

/// `body` with its first event that contains `marker` repeated `REPEAT`
/// times in place.
fn repeated(body: &[u8], marker: &str) -> Vec<u8> {
    let text = String::from_utf8(body.to_vec()).expect("UTF-8 transcript");
    let sep = if text.contains("\r\n\r\n") {
        "\r\n\r\n"
    } else {
        "\n\n"
    };
    let at = text.find(marker).expect("the marker");
    let start = text[..at].rfind(sep).map_or(0, |i| i + sep.len());
    let end = at + text[at..].find(sep).expect("the event's end") + sep.len();
    let event = &text[start..end];
    let mut out = text[..start].to_string();
    out.push_str(&event.repeat(REPEAT));
    out.push_str(&text[end..]);
    out.into_bytes()
}

/// An eventstream `body` with its first message that contains `marker`
/// repeated `REPEAT` times in place (each message is a whole frame with
/// its own checksums, so the copies are valid messages).
fn repeated_message(body: &[u8], marker: &str) -> Vec<u8> {
    let mut at = 0;
    while at + 4 <= body.len() {
        let len = u32::from_be_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]) as usize;
        let message = &body[at..at + len];
        if message
            .windows(marker.len())
            .any(|w| w == marker.as_bytes())
        {
            let mut out = body[..at].to_vec();
            out.extend_from_slice(&message.repeat(REPEAT));
            out.extend_from_slice(&body[at + len..]);
            return out;
        }
        at += len;
    }
    panic!("no message contains {marker}");
}

/// Runs `decode` once to warm up, then counts one run: (allocations,
/// bytes allocated, text and thought chunks out).
fn count(decode: impl Fn() -> Decoded) -> (usize, usize, usize) {
    let chunks = decode();
    assert!(chunks.iter().all(Result::is_ok), "the stream decodes");
    drop(chunks);
    let (calls, bytes) = (CALLS.load(Relaxed), BYTES.load(Relaxed));
    let chunks = decode();
    let (calls, bytes) = (CALLS.load(Relaxed) - calls, BYTES.load(Relaxed) - bytes);
    let deltas = chunks
        .iter()
        .filter(|c| matches!(c, Ok(Chunk::Text { .. } | Chunk::Thought { .. })))
        .count();
    (calls, bytes, deltas)
}

fn main() {
    const PIECE: usize = 16 * 1024;
    let openai = {
        let g = Generated::openai(REPEAT, Framing::Events);
        (0..g.events())
            .flat_map(|i| g.event(i).unwrap_or_default())
            .collect::<Vec<u8>>()
    };
    let anthropic = repeated(&wire("anthropic/text.sse"), "text_delta");
    let responses = repeated(
        &wire("openai-responses/text.sse"),
        "\"type\":\"response.output_text.delta\"",
    );
    let cohere = repeated(&wire("cohere/text.sse"), "\"type\":\"content-delta\"");
    let gemini = repeated(&wire("gemini/text.sse"), "\"text\"");
    let bedrock = repeated_message(&wire("bedrock/converse_stream_text.bin"), "\"text\"");
    let rows: [(&str, Decode); 6] = [
        (
            "openai (generated)",
            Box::new(|| {
                rivulet_providers::openai::decode_pieces("openai", false, openai.chunks(PIECE))
            }),
        ),
        (
            "anthropic/text.sse",
            Box::new(|| {
                rivulet_providers::anthropic::decode_pieces(
                    "anthropic",
                    false,
                    anthropic.chunks(PIECE),
                )
            }),
        ),
        (
            "openai-responses/text.sse",
            Box::new(|| {
                rivulet_providers::responses::decode_pieces(false, responses.chunks(PIECE))
            }),
        ),
        (
            "cohere/text.sse",
            Box::new(|| rivulet_providers::cohere::decode_pieces(false, cohere.chunks(PIECE))),
        ),
        (
            "gemini/text.sse",
            Box::new(|| {
                rivulet_providers::google::decode_pieces("google", false, gemini.chunks(PIECE))
            }),
        ),
        (
            "bedrock/converse_stream_text.bin",
            Box::new(|| rivulet_providers::bedrock::decode_pieces(false, bedrock.chunks(PIECE))),
        ),
    ];
    println!(
        "| stream, {REPEAT} text events | allocations per delta | bytes allocated per delta |"
    );
    println!("| --- | --- | --- |");
    for (name, decode) in rows {
        let (calls, bytes, deltas) = count(decode);
        println!(
            "| {name} | {:.2} | {:.0} |",
            calls as f64 / deltas as f64,
            bytes as f64 / deltas as f64
        );
    }
}
