//! A loopback OpenAI-style server that paces its chunks, for measuring a
//! client process from outside (its peak RSS, its context switches) with
//! nothing else in that process.
//!
//! ```text
//! cargo run --release -p rivulet-actors --example paced_server -- 200 2
//! # prints the URL, then serves every connection 200 chunks 2 ms apart
//! /usr/bin/time -v target/release/examples/bench __client rivulet URL 500 1 200
//! ```
//!
//! The arguments are the chunks per response (200) and the pause between
//! two chunks in milliseconds (2), as the bench program's paced scenario.

use std::time::Duration;

use rivulet_testkit::{Framing, Generated, Replay, Server};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap_or_else(|_| panic!("not a number: {a}")))
        .collect();
    let chunks = args.first().copied().unwrap_or(200);
    let pace = Duration::from_millis(args.get(1).copied().unwrap_or(2) as u64);
    rivulet_testkit::bench::raise_fd_limit();
    let server = Server::start_blocking(vec![Replay::from_generated(Generated::openai(
        chunks,
        Framing::Events,
    ))
    .delay(pace)]);
    println!("{}", server.url());
    loop {
        std::thread::park();
    }
}
