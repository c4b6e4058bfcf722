//! The incremental JSON parser against serde_json: fed in two pieces, it
//! accepts exactly what serde_json accepts (nesting bound included), with
//! the same value, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rivulet_core::PartialJson;

fuzz_target!(|input: &[u8]| {
    let Some((cut, body)) = input.split_first_chunk::<2>() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    let mut k = usize::from(u16::from_le_bytes(*cut)) % (text.len() + 1);
    while !text.is_char_boundary(k) {
        k -= 1;
    }
    let mut parser = PartialJson::new();
    let _ = parser.feed(&text[..k]);
    let _ = parser.snapshot();
    let _ = parser.feed(&text[k..]);
    let ours = parser.finish();
    let theirs = serde_json::from_str::<serde_json::Value>(text);
    match (ours, theirs) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(_), Err(_)) => {}
        (a, b) => panic!("PartialJson {a:?} but serde_json {b:?} on {text:?}"),
    }
});
