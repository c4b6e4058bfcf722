//! Criterion benches of the pipeline's stages: SSE + OpenAI decoding of the
//! recorded transcripts and of a long generated stream, the accumulator fold,
//! and the log fanned out to 1, 8 and 64 subscribers.
//!
//! `cargo bench --bench pipeline`

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use rivulet::providers::openai::decode_pieces;
use rivulet::{Chunk, Policy, Request, Response, Runtime, RuntimeConfig, StreamOptions};
use rivulet_core::{OpenFuture, Provider};
use rivulet_testkit::{wire, Framing, Generated};

/// A generated OpenAI stream of `n` content chunks shaped as the real API
/// sends them (every field, the padding, tokens of a few characters), as
/// the bench program's server sends it.
fn generated_body(n: usize) -> Vec<u8> {
    let g = Generated::openai(n, Framing::Events);
    (0..g.events())
        .flat_map(|i| g.event(i).unwrap_or_default())
        .collect()
}

fn decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    let bodies = [
        (
            "text_include_usage",
            wire("openai-chat/text_include_usage.sse"),
        ),
        (
            "parallel_tool_calls",
            wire("openai-chat/parallel_tool_calls.sse"),
        ),
        ("generated_10k", generated_body(10_000)),
    ];
    for (name, body) in &bodies {
        let chunks = decode_pieces("openai", false, [body]).len();
        // MB/s of wire bytes, read in 16 KiB pieces as a socket would give them.
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("bytes", name), body, |b, body| {
            b.iter(|| decode_pieces("openai", false, body.chunks(16 * 1024)).len())
        });
        group.throughput(Throughput::Elements(chunks as u64));
        group.bench_with_input(BenchmarkId::new("chunks", name), body, |b, body| {
            b.iter(|| decode_pieces("openai", false, body.chunks(16 * 1024)).len())
        });
    }
    group.finish();
}

fn text_chunks(n: usize) -> Vec<Chunk> {
    let mut v = vec![Chunk::text_start(0)];
    v.extend((0..n).map(|_| Chunk::text(0, "abcd")));
    v.push(Chunk::text_end(0));
    v
}

fn fold(c: &mut Criterion) {
    let chunks = text_chunks(10_000);
    let mut group = c.benchmark_group("fold");
    group.throughput(Throughput::Elements(chunks.len() as u64));
    group.bench_function("text_10k", |b| {
        b.iter(|| {
            let mut r = Response::default();
            for ch in &chunks {
                r.apply(ch);
            }
            r.content.len()
        })
    });
    group.finish();
}

/// A provider whose chunks are all ready at once: measures the runtime alone.
struct Ready(Arc<Vec<Chunk>>);

impl Provider for Ready {
    fn id(&self) -> &str {
        "ready"
    }
    fn open(&self, _: &Request) -> OpenFuture {
        let chunks = self.0.clone();
        Box::pin(async move {
            let n = chunks.len();
            let s = futures::stream::iter((0..n).map(move |i| Ok(chunks[i].clone())));
            Ok(Box::pin(s) as rivulet_core::ChunkStream)
        })
    }
}

fn fan_out(c: &mut Criterion) {
    let chunks = Arc::new(text_chunks(10_000));
    let runtime = Runtime::new(RuntimeConfig::default());
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let mut group = c.benchmark_group("log");
    group.throughput(Throughput::Elements(chunks.len() as u64));
    for subs in [1usize, 8, 64] {
        group.bench_with_input(BenchmarkId::new("subscribers", subs), &subs, |b, &subs| {
            b.iter(|| {
                let provider: Arc<dyn Provider> = Arc::new(Ready(chunks.clone()));
                let handle = runtime.start(provider, Request::default(), StreamOptions::default());
                tokio.block_on(async {
                    let tasks: Vec<_> = (0..subs)
                        .map(|_| {
                            let mut sub = handle.subscribe(Policy::Lossless { capacity: 256 });
                            tokio::spawn(async move {
                                let mut n = 0usize;
                                while sub.next().await.is_some() {
                                    n += 1;
                                }
                                n
                            })
                        })
                        .collect();
                    for t in tasks {
                        assert_eq!(t.await.expect("subscriber"), chunks.len() + 1);
                    }
                })
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).sample_size(20);
    targets = decode, fold, fan_out
}
criterion_main!(benches);
