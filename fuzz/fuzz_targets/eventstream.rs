//! AWS eventstream framing and the Bedrock decoder behind it: whole and cut
//! at any point agree, and nothing panics (lengths, CRCs and headers are
//! all attacker-controlled).
#![no_main]

use libfuzzer_sys::fuzz_target;
use rivulet_providers::{bedrock, eventstream};

fuzz_target!(|input: &[u8]| {
    let Some((cut, body)) = input.split_first_chunk::<2>() else {
        return;
    };
    let k = usize::from(u16::from_le_bytes(*cut)) % (body.len() + 1);
    let whole = eventstream::decode_pieces([body]);
    let split = eventstream::decode_pieces([&body[..k], &body[k..]]);
    assert_eq!(whole.len(), split.len(), "cut at {k}");
    let chunks = bedrock::decode_pieces(true, [body]);
    let chunks_split = bedrock::decode_pieces(true, [&body[..k], &body[k..]]);
    assert_eq!(chunks, chunks_split, "cut at {k}");
});
