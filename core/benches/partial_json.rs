//! Throughput of the incremental JSON parser: documents of 1 KB to 1 MB fed
//! in small deltas (as tool-call arguments and structured outputs arrive).
//! The parser is linear, so MB/s should stay flat as documents grow; a
//! parser that re-parsed its buffer per delta would fall off with size.
//!
//! `cargo bench -p rivulet-core --bench partial_json`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rivulet_core::PartialJson;
use serde_json::{json, Value};

/// A document of about `size` bytes: an object of records with strings
/// (escapes and non-ASCII included), numbers, booleans and nested arrays.
fn document(size: usize) -> String {
    let mut items = Vec::new();
    let mut text_len = 2;
    let mut i = 0u64;
    while text_len < size {
        let item = json!({
            "id": i,
            "title": format!("Record \"{i}\" — caf\u{e9} \u{1F600}"),
            "score": (i as f64) * 1.25 - 3.5,
            "ok": i & 1 == 0,
            "tags": ["alpha", "beta", {"nested": [i, i + 1, null]}],
        });
        text_len += item.to_string().len() + 1;
        items.push(item);
        i += 1;
    }
    serde_json::to_string(&json!({ "items": items })).unwrap()
}

/// `text` cut into deltas of about `n` bytes, on char boundaries.
fn deltas(text: &str, n: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + n).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        out.push(&text[start..end]);
        start = end;
    }
    out
}

fn feed(pieces: &[&str]) -> Value {
    let mut p = PartialJson::new();
    for piece in pieces {
        p.feed(piece).unwrap();
    }
    p.into_value().unwrap()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("partial_json");
    group.sample_size(10);
    for size in [1 << 10, 16 << 10, 256 << 10, 1 << 20] {
        let doc = document(size);
        let pieces = deltas(&doc, 8);
        assert_eq!(
            feed(&pieces),
            serde_json::from_str::<Value>(&doc).unwrap(),
            "the benchmark parses correctly"
        );
        group.throughput(Throughput::Bytes(doc.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("feed_8_byte_deltas", size),
            &pieces,
            |b, pieces| b.iter(|| feed(black_box(pieces))),
        );
        // The floor: serde_json on the whole text at once.
        group.bench_with_input(
            BenchmarkId::new("serde_json_whole", size),
            &doc,
            |b, doc| b.iter(|| serde_json::from_str::<Value>(black_box(doc)).unwrap()),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
