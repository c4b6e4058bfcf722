//! Random and adversarial bytes into every decoder: nothing panics, and a
//! body cut anywhere decodes exactly as the whole body does. The stable
//! companion of the cargo-fuzz targets in `fuzz/` (which need nightly).
//!
//! Inputs: random bytes; the recorded transcripts mutated (truncated, bytes
//! flipped, garbage spliced in); and the shapes an attacker reaches for:
//! JSON nested 100,000 deep, a multi-megabyte line, torn and invalid UTF-8,
//! an eventstream prelude that claims 4 GiB.

use proptest::prelude::*;
use rivulet_core::{Chunk, Error, ErrorKind};
use rivulet_providers::{anthropic, bedrock, cohere, google, openai, responses};
use rivulet_testkit::{wire, wire_files};

type Decoded = Vec<Result<Chunk, Error>>;

/// One decoder, by name, fed `pieces`.
fn decode(which: &str, pieces: &[&[u8]]) -> Decoded {
    let p = pieces.iter();
    match which {
        "openai" => openai::decode_pieces("openai", true, p),
        "openrouter" => openai::decode_pieces("openrouter", false, p),
        "groq" => openai::decode_pieces("groq", false, p),
        "responses" => responses::decode_pieces(true, p),
        "anthropic" => anthropic::decode_pieces("anthropic", true, p),
        "google" => google::decode_pieces("google", true, p),
        "cohere" => cohere::decode_pieces(true, p),
        "bedrock" => bedrock::decode_pieces(true, p),
        other => unreachable!("no decoder {other}"),
    }
}

const DECODERS: [&str; 8] = [
    "openai",
    "openrouter",
    "groq",
    "responses",
    "anthropic",
    "google",
    "cohere",
    "bedrock",
];

/// Decodes `body` whole and cut at `cut`: both must agree (and neither
/// panic). Returns the whole body's result.
fn whole_and_cut(which: &str, body: &[u8], cut: usize) -> Decoded {
    let k = cut % (body.len() + 1);
    let whole = decode(which, &[body]);
    let split = decode(which, &[&body[..k], &body[k..]]);
    assert_eq!(whole, split, "{which}: cut at {k} of {} bytes", body.len());
    whole
}

/// The decoder for a transcript's directory, if it has one here.
fn decoder_for(file: &str) -> Option<&'static str> {
    let dir = file.split('/').next()?;
    Some(match dir {
        "openai-chat" | "deepseek" | "xai" | "mistral" | "azure" | "llamacpp" | "ollama" => {
            "openai"
        }
        "groq" => "groq",
        "openrouter" => "openrouter",
        "openai-responses" => "responses",
        "anthropic" => "anthropic",
        "gemini" => "google",
        "cohere" => "cohere",
        "bedrock" => "bedrock",
        _ => return None,
    })
}

/// Every recorded body a decoder reads, with its decoder.
fn transcripts() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    for dir in [
        "openai-chat",
        "deepseek",
        "xai",
        "mistral",
        "azure",
        "groq",
        "openrouter",
        "openai-responses",
        "anthropic",
        "gemini",
        "cohere",
    ] {
        for f in wire_files(dir, ".sse") {
            if let Some(d) = decoder_for(&f) {
                out.push((d, wire(&f)));
            }
        }
    }
    for f in wire_files("bedrock", ".bin") {
        out.push(("bedrock", wire(&f)));
    }
    out
}

/// The last result is an error of `kind`, or the stream ended cleanly.
fn ends_cleanly_or_with(out: &Decoded, kinds: &[ErrorKind]) -> bool {
    match out.last() {
        Some(Err(e)) => kinds.contains(&e.kind()),
        _ => true,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes(body in proptest::collection::vec(any::<u8>(), 0..2048), cut in any::<usize>(), d in 0..DECODERS.len()) {
        whole_and_cut(DECODERS[d], &body, cut);
    }

    /// SSE-shaped noise: random field lines, so the decoders' JSON paths
    /// are reached, not just the line parser's.
    #[test]
    fn random_events(
        lines in proptest::collection::vec(
            prop_oneof![
                "data: \\{[\"a-z:,\\[\\]\\{\\}0-9 ]{0,60}\\}".prop_map(String::from),
                "event: [a-z_.]{1,30}".prop_map(String::from),
                ": [ -~]{0,20}".prop_map(String::from),
                Just(String::new()),
                Just("data: [DONE]".to_string()),
            ],
            0..40,
        ),
        cut in any::<usize>(),
        d in 0..DECODERS.len() - 1,
    ) {
        let body = lines.join("\n");
        whole_and_cut(DECODERS[d], body.as_bytes(), cut);
    }

    /// The real transcripts, damaged: truncated, a byte changed, garbage
    /// spliced in. Whatever comes out, a cut body agrees with the whole.
    #[test]
    fn mutated_transcripts(
        pick in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        garbage in proptest::collection::vec(any::<u8>(), 0..16),
        mode in 0..3u8,
        cut in any::<usize>(),
    ) {
        let all = transcripts();
        let (which, body) = &all[pick.index(all.len())];
        let i = at.index(body.len());
        let mut damaged = body.clone();
        match mode {
            0 => damaged.truncate(i),
            1 => damaged[i] = byte,
            _ => {
                damaged.splice(i..i, garbage);
            }
        }
        whole_and_cut(which, &damaged, cut);
    }
}

#[test]
fn deep_nesting_in_every_decoder() {
    let deep = "[".repeat(100_000);
    for which in &DECODERS[..DECODERS.len() - 1] {
        // Nesting where a JSON object is expected, and inside the fields
        // each protocol reads.
        for body in [
            format!("data: {deep}\n\n"),
            format!("data: {{\"choices\":{deep}\n\n"),
            format!("event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{deep}\n\n"),
            format!("data: {{\"candidates\":[{{\"content\":{{\"parts\":{deep}\n\n"),
        ] {
            let out = whole_and_cut(which, body.as_bytes(), body.len() / 2);
            assert!(
                ends_cleanly_or_with(&out, &[ErrorKind::Protocol, ErrorKind::Connection]),
                "{which}: {:?}",
                out.last()
            );
            assert!(out.iter().any(|r| r.is_err()), "{which}: deep nesting accepted");
        }
    }
}

#[test]
fn a_megabyte_line_decodes_whole() {
    // One text delta of 2 MiB inside a real OpenAI chunk's envelope.
    let text = "x".repeat(2 << 20);
    let body = format!(
        "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}},\"finish_reason\":null}}]}}\n\ndata: [DONE]\n\n"
    );
    let pieces: Vec<&[u8]> = body.as_bytes().chunks(16 * 1024).collect();
    let out = decode("openai", &pieces);
    let got: String = out
        .iter()
        .filter_map(|r| match r {
            Ok(Chunk::Text { delta, .. }) => Some(delta.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), text.len());
    assert!(got == text);
}

#[test]
fn torn_and_invalid_utf8() {
    let body = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"h\u{e9}llo \u{1F600}\"}}]}\n\ndata: [DONE]\n\n";
    let bytes = body.as_bytes();
    // Every cut, including inside the two- and four-byte characters.
    let whole = decode("openai", &[bytes]);
    for k in 0..=bytes.len() {
        assert_eq!(
            decode("openai", &[&bytes[..k], &bytes[k..]]),
            whole,
            "cut at {k}"
        );
    }
    // Invalid UTF-8 in a data line is a typed error, for every SSE decoder.
    let mut bad = bytes.to_vec();
    let at = body.find('h').unwrap_or(0);
    bad[at] = 0xff;
    for which in &DECODERS[..DECODERS.len() - 1] {
        let out = whole_and_cut(which, &bad, at + 1);
        assert!(
            matches!(out.last(), Some(Err(e)) if e.kind() == ErrorKind::Protocol),
            "{which}: {:?}",
            out.last()
        );
    }
}

#[test]
fn an_eventstream_prelude_claiming_4_gib() {
    // total length u32::MAX, headers 0, prelude CRC correct: the decoder
    // must refuse it, not wait for (or allocate) 4 GiB.
    let mut prelude = Vec::new();
    prelude.extend_from_slice(&u32::MAX.to_be_bytes());
    prelude.extend_from_slice(&0u32.to_be_bytes());
    let crc = crc32(&prelude);
    prelude.extend_from_slice(&crc.to_be_bytes());
    prelude.extend_from_slice(b"more bytes that never add up");
    let out = whole_and_cut("bedrock", &prelude, 5);
    assert!(
        matches!(out.last(), Some(Err(e)) if e.kind() == ErrorKind::Protocol),
        "{:?}",
        out.last()
    );
}

/// CRC-32 (IEEE), bit by bit: the eventstream prelude's checksum, written
/// here so the test does not lean on the code under test.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}
