//! # rivulet-redis
//!
//! Redis Streams as rivulet's shared log, so that a generation started on
//! any node can be followed, resumed and cancelled from every node (a
//! browser that reconnects through a load balancer, a second device, a
//! "stop" pressed elsewhere). A library, usable without `rivulet serve`.
//!
//! - **Mirror** ([`Node::mirror`]): the owner copies each local stream, as
//!   it streams, into a Redis Stream: batched `XADD`s, one pipeline per
//!   batch of ready chunks, then the terminal entry and an expiry. It reads
//!   the stream detached, so Redis being slow or down never holds the
//!   generation back; it retries, and gives up past a bound.
//! - **Lease**: while a stream runs its owner refreshes a key with an
//!   expiry. A follower that finds it expired without the stream's end
//!   ends with a failure naming the owner: never a hang on a dead node.
//! - **Follow** ([`Node::follow`]): any node reads any stream from any
//!   offset, replaying from Redis and following live with `XREAD BLOCK`.
//! - **Cancel** ([`Node::cancel`]): any node asks the owner, over the
//!   owner's pub/sub channel (and a flag the owner also checks on each
//!   lease refresh); the owner's listener cancels the local stream, which
//!   closes its upstream connection.
//! - **Status** ([`Node::status`], [`Node::list`], [`Node::snapshot`]) and
//!   [`Node::metrics`] for a `/metrics` endpoint.
//!
//! ```no_run
//! use futures::StreamExt;
//! use rivulet::Model;
//! use rivulet_redis::{Config, Node, RemoteEvent};
//!
//! # async fn run() -> Result<(), rivulet_redis::Error> {
//! // Node A owns a generation and mirrors it.
//! let a = Node::start(Config::new("redis://127.0.0.1:6379"))?;
//! let response = Model::new("openai/gpt-4o-mini").stream("Hello");
//! let mirror = a.mirror("st_1", "openai/gpt-4o-mini", response.handle());
//! let _ = mirror.registered().await;
//!
//! // Node B (another process) follows it from the start, or resumes
//! // after the offset a client last saw.
//! let b = Node::start(Config::new("redis://127.0.0.1:6379"))?;
//! let mut follower = b.follow("st_1", None).await?;
//! while let Some(event) = follower.next().await {
//!     match event? {
//!         RemoteEvent::Chunk(chunk) => println!("{} {}", chunk.offset(), chunk.json()),
//!         RemoteEvent::End(outcome) => println!("end: {outcome:?}"),
//!     }
//! }
//! // Or stops it, wherever it runs.
//! b.cancel("st_1").await?;
//! # Ok(()) }
//! ```
//!
//! ## Key layout
//! For a stream `ID` under [`Config::prefix`] `P` (default `rivulet`):
//!
//! | key | type | holds |
//! | --- | --- | --- |
//! | `P:ID:log` | stream | one entry per chunk, id `0-(offset+1)`, fields `t` (type name) and `c` (the chunk's JSON line, as `rivulet -o chunks` prints it); then one terminal entry, field `end`: `{"status":"finished"}` or `{"status":"cancelled"\|"failed","error":{"kind","message",…}}` |
//! | `P:ID:meta` | hash | `model`, `owner` (node id), `started` (ms since the epoch), `status` (`running`, then as the end), at the end `ended` and `chunks`; `cancel` = `1` once a cancel was asked |
//! | `P:ID:owner` | string | the owner's node id, `PX` the lease, refreshed every third of it; deleted at the end |
//! | `P:streams` | sorted set | every stream id, scored by its start (ms) |
//! | `P:cancel:NODE` | pub/sub channel | stream ids node `NODE` is asked to cancel |
//! | `P:chat:CHAT` | string | the id of the stream last started for chat `CHAT` ([`Node::set_chat`]), `PX` the retention |
//!
//! Entry ids carry offsets, so the SSE `id:` of a chunk and its place in
//! Redis are the same number (plus one: Redis refuses `0-0`), and resuming
//! after offset `k` is one `XREAD … STREAMS P:ID:log 0-(k+1)`. The log and
//! the meta hash expire [`Config::retention`] after the stream's last
//! write; the index is pruned as it is listed. The layout assumes one Redis
//! (or a primary and its replicas), not a cluster.
//!
//! ## Connections
//! A [`Node`] shares one multiplexed connection ([`redis`]'s
//! `ConnectionManager`, RESP3: it reconnects with backoff and resubscribes
//! the cancel channel) among all its mirrors, reads and its cancel
//! listener: pipelines of many streams interleave on it, each answered in
//! order. The followers of a node share a second connection: one task (the
//! tail) reads the live end of every followed stream with one `XREAD
//! BLOCK` over all their keys, which holds its connection until it answers.
//!
//! How a chunk travels from the provider's socket to its consumer, file
//! by file, and why the log is shared memory: `docs/ARCHITECTURE.md` in the
//! repository.

#![warn(missing_docs)]

mod config;
mod error;
mod follower;
mod keys;
mod listener;
mod metrics;
mod mirror;
mod node;
mod record;
mod status;
mod tail;
mod writer;

pub use config::{Config, DEFAULT_LEASE, DEFAULT_RETENTION};
pub use error::Error;
pub use follower::{Follower, RemoteChunk, RemoteEvent};
pub use metrics::Metrics;
pub use mirror::{Mirror, MirrorEnd, MirrorState, MirrorStats};
pub use node::{CancelRequest, Node};
pub use status::{Snapshot, StreamStatus};
