//! `rivulet-testkit`: test support for every rivulet crate.
//!
//! - [`Server`]: a loopback HTTP/1.1 server that replays scripted responses
//!   ([`Replay`]) byte for byte, cut into pieces ([`Split`]), with delays,
//!   stalls and aborts ([`After`]), and records what it received.
//! - [`Replay::generated`]: a lazily generated OpenAI chat-completion stream
//!   of any length, for runtime tests (backpressure, cancellation).
//! - [`wire`]: the recorded transcripts of `testdata/wire/`.
//! - [`bench`](mod@bench): what the bench programs share: CPU and memory as the
//!   kernel counts them, medians over round-robin runs, and a server that
//!   stamps a stream's first chunk with the time of its write.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use rivulet_testkit::{wire, Replay, Server, Split};
//!
//! let body = wire("openai-chat/text_include_usage.sse");
//! let server = Server::start(vec![Replay::sse(body).split(Split::Lines)]).await;
//! // point a provider at server.url() …
//! # drop(server);
//! # }
//! ```

pub mod bench;
mod redis_server;
mod replay;
mod request;
mod server;
mod wire;

pub use redis_server::RedisServer;
pub use replay::{After, Framing, Generated, Protocol, Replay, Split, Writes};
pub use request::RecordedRequest;
pub use server::Server;
pub use wire::{wire, wire_dir, wire_files};
