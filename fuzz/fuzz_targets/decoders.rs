//! Every SSE decoder on the same bytes: whole and cut at any point must
//! give the same chunks and errors, and nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rivulet_providers::{anthropic, cohere, decode::Decoded, google, openai, responses};

type Decode = fn(&[&[u8]]) -> Decoded;

const DECODERS: [Decode; 6] = [
    |p| openai::decode_pieces("openai", true, p.iter()),
    |p| openai::decode_pieces("openrouter", false, p.iter()),
    |p| responses::decode_pieces(true, p.iter()),
    |p| anthropic::decode_pieces("anthropic", true, p.iter()),
    |p| google::decode_pieces("google", true, p.iter()),
    |p| cohere::decode_pieces(true, p.iter()),
];

fuzz_target!(|input: &[u8]| {
    // Byte 0 picks the decoder, bytes 1-2 the cut; the rest is the body.
    let Some((&[which, a, b], body)) = input.split_first_chunk::<3>() else {
        return;
    };
    let decode = DECODERS[usize::from(which) % DECODERS.len()];
    let k = usize::from(u16::from_le_bytes([a, b])) % (body.len() + 1);
    let whole = decode(&[body]);
    let split = decode(&[&body[..k], &body[k..]]);
    assert_eq!(whole, split, "cut at {k}");
});
