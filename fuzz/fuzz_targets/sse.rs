//! The SSE layer: any bytes, whole or cut at any point, give the same
//! events (or the same error), and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rivulet_providers::sse::parse_pieces;

fuzz_target!(|input: &[u8]| {
    // The first two bytes choose where the body is cut; the rest is the body.
    let Some((cut, body)) = input.split_first_chunk::<2>() else {
        return;
    };
    let k = usize::from(u16::from_le_bytes(*cut)) % (body.len() + 1);
    let whole = parse_pieces([body]);
    let split = parse_pieces([&body[..k], &body[k..]]);
    assert_eq!(whole, split, "cut at {k}");
    let bytewise = parse_pieces(body.chunks(1));
    assert_eq!(whole, bytewise);
});
