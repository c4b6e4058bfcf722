//! [`Node`]: one process's handle on the shared log.

use std::sync::Arc;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, IntoConnectionInfo, ProtocolVersion, Value};
use rivulet::StreamHandle;
use tokio::sync::mpsc;

use crate::error::{within, Error};
use crate::follower::{self, Follower};
use crate::keys::{self, Keys};
use crate::listener::{self, Command};
use crate::metrics::{Counters, Metrics};
use crate::mirror::{self, Mirror};
use crate::record::text;
use crate::status::{self, Snapshot, StreamStatus};
use crate::tail::{self, Tail};
use crate::writer::Writer;
use crate::Config;

/// This node's handle on the shared log: mirror local streams into it,
/// follow, inspect and cancel any node's streams. Cheap to clone; every
/// clone shares one connection (multiplexed, reconnecting) and one cancel
/// listener.
///
/// It holds a background task (the cancel listener) that stops when the
/// last clone, and the last mirror, are dropped.
#[derive(Clone)]
pub struct Node {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    /// The followers' reads of the live log, all of them in one `XREAD
    /// BLOCK` on a connection of its own (it holds its connection, so it
    /// cannot share the multiplexed one).
    tail: Tail,
    /// RESP3 (pub/sub pushes on the same connection), reconnecting with
    /// backoff: the mirrors' writes, reads, and the cancel listener.
    conn: ConnectionManager,
    counters: Arc<Counters>,
    listener: mpsc::UnboundedSender<Command>,
    /// Set once Redis has the mirrors' claim script (see
    /// `mirror::load_claim_script`).
    claim_script: Arc<std::sync::atomic::AtomicBool>,
    /// Sends the mirrors' writes together (see `writer`).
    writer: Writer,
}

/// What [`Node::cancel`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelRequest {
    /// The node that owns the stream.
    pub owner: String,
    /// Whether the owner's listener heard it at once (it was subscribed).
    /// When it was not, the owner still sees the request on its next lease
    /// refresh (within a third of the lease), if it is alive.
    pub heard: bool,
}

/// Reads the owner, flags the request in the meta hash (the owner's
/// fallback) and publishes it on the owner's channel, atomically: a meta
/// hash that expired meanwhile is not brought back.
const CANCEL: &str = r"
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return false end
redis.call('HSET', KEYS[1], 'cancel', '1')
local heard = redis.call('PUBLISH', ARGV[1] .. owner, ARGV[2])
return {owner, heard}
";

impl Node {
    /// A node on `config`. It connects lazily and reconnects with backoff,
    /// so it starts even while Redis is down (see [`Node::ping`] to check).
    /// Errors only on a URL that is not a Redis URL.
    ///
    /// # Panics
    /// Outside a Tokio runtime (it spawns the cancel listener), like
    /// `tokio::spawn`.
    pub fn start(config: Config) -> Result<Node, Error> {
        // The redis crate's message for a bad URL does not repeat it.
        let info = config
            .url
            .as_str()
            .into_connection_info()
            .map_err(|e| Error::Url(e.to_string()))?;
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let shared = Client::open(info.clone().set_redis_settings(resp3))?;
        let client = Client::open(info)?;
        // Unbounded on purpose: the pushes are the cluster's cancels of this
        // node's streams (its own channel) and the connection's
        // reconnection notices, a few per cancel; the listener drains them
        // between PINGs that wait at most the request timeout. A bounded
        // channel would have to drop a cancel when full.
        let (pushes, push_rx) = mpsc::unbounded_channel();
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.request_timeout))
            .set_response_timeout(Some(config.request_timeout))
            .set_max_delay(std::time::Duration::from_secs(1))
            .set_number_of_retries(3)
            .set_push_sender(pushes)
            .set_automatic_resubscription();
        let conn = ConnectionManager::new_lazy_with_config(shared, manager)?;
        let counters = Arc::new(Counters::default());
        let (listener, commands) = mpsc::unbounded_channel();
        tokio::spawn(listener::run(listener::Listener {
            conn: conn.clone(),
            channel: keys::cancel_channel(&config.prefix, &config.node_id),
            pushes: push_rx,
            commands,
            counters: counters.clone(),
            timeout: config.request_timeout,
        }));
        let claim_script = Arc::new(std::sync::atomic::AtomicBool::new(false));
        tokio::spawn(crate::mirror::load_claim_script(
            conn.clone(),
            claim_script.clone(),
            config.request_timeout,
        ));
        let writer = Writer::spawn(conn.clone(), config.request_timeout, counters.clone());
        let tail = Tail::spawn(tail::Settings {
            client,
            shared: conn.clone(),
            poll: config.poll.max(std::time::Duration::from_millis(1)),
            timeout: config.request_timeout,
            batch: config.batch.max(1),
        });
        Ok(Node {
            inner: Arc::new(Inner {
                config,
                tail,
                conn,
                counters,
                listener,
                claim_script,
                writer,
            }),
        })
    }

    /// This node's id ([`Config::node_id`]).
    pub fn id(&self) -> &str {
        &self.inner.config.node_id
    }

    /// The configuration it was started with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// One `PING`: whether Redis answers now, within the request timeout.
    pub async fn ping(&self) -> Result<(), Error> {
        let mut conn = self.conn();
        within(
            self.inner.config.request_timeout,
            redis::cmd("PING").query_async::<()>(&mut conn),
        )
        .await
    }

    /// Starts mirroring the local stream `stream` under `id` (unique among
    /// the nodes; `model` is what [`Node::status`] reports). Returns at
    /// once; a task copies every chunk, from offset 0, and the end into
    /// Redis, refreshes this node's lease on the stream while it runs, and
    /// cancels the stream when another node asks ([`Node::cancel`]).
    ///
    /// - It reads the stream detached ([`rivulet::Policy::Detached`]): it
    ///   never holds the generation back, whatever Redis does. Chunks that
    ///   are ready together go in one pipeline (one round trip).
    /// - While Redis fails it retries (writes are idempotent: every entry
    ///   has its offset as id); past [`Config::max_lag`] chunks behind or
    ///   [`Config::max_outage`] of failures it gives up, and closes the
    ///   copy in Redis with a failure saying so once it can.
    /// - It holds the stream like a subscriber until the stream ends:
    ///   dropping every other handle does not cancel a mirrored stream
    ///   (cancel it, here or from any node). Dropping the returned
    ///   [`Mirror`] does not stop the mirroring; [`Mirror::abort`] does.
    pub fn mirror(&self, id: &str, model: &str, stream: &StreamHandle) -> Mirror {
        mirror::spawn(self.clone(), id, model, stream.clone())
    }

    /// Follows stream `id`, whichever node owns it: the entries after the
    /// chunk at offset `after` (from the start for `None`; an SSE
    /// `Last-Event-ID`), replayed from Redis, then live as the owner writes
    /// them, then the end. See [`Follower`] for what it yields and how it
    /// ends. Its live reads go through the node's tail: one `XREAD BLOCK` for every follower.
    /// A follower that is not read is left out of those reads, holding
    /// nobody back, and catches up when read again (see [`Follower`]).
    ///
    /// Errors: [`Error::NotFound`] for an unknown (or expired) id, or the
    /// failure to reach Redis.
    pub async fn follow(&self, id: &str, after: Option<u64>) -> Result<Follower, Error> {
        follower::open(self, id, after).await
    }

    /// Stream `id`'s status as the shared log has it: model, owner, start,
    /// chunks so far and, once ended, its outcome (a running stream whose
    /// owner's lease has expired reads as failed, naming the owner, as its
    /// followers end). [`Error::NotFound`] for an unknown or expired id.
    pub async fn status(&self, id: &str) -> Result<StreamStatus, Error> {
        status::read(self, &[id.to_string()])
            .await?
            .pop()
            .flatten()
            .ok_or_else(|| Error::NotFound(id.to_string()))
    }

    /// The most recent streams of every node, newest first, at most
    /// `limit`. Ids whose keys have expired are dropped from the index on
    /// the way.
    pub async fn list(&self, limit: usize) -> Result<Vec<StreamStatus>, Error> {
        status::list(self, limit).await
    }

    /// Stream `id`'s status and its response so far, folded from its
    /// chunks in Redis with [`rivulet::Response::apply`] (as the owner's
    /// accumulator folds them). The provider and model come from the
    /// `model` the owner gave, split at its first `/`; the request's input
    /// messages are not in the shared log, so `input` is empty.
    pub async fn snapshot(&self, id: &str) -> Result<Snapshot, Error> {
        status::snapshot(self, id).await
    }

    /// Asks the owner of stream `id`, wherever it runs, to cancel it: the
    /// owner's listener cancels the local stream (closing its upstream
    /// connection) as soon as the message arrives, and every follower then
    /// gets the `cancelled` end the owner records. Returns once Redis has
    /// published the request; a stream that already ended is unaffected.
    pub async fn cancel(&self, id: &str) -> Result<CancelRequest, Error> {
        let config = &self.inner.config;
        let keys = Keys::new(&config.prefix, id);
        let mut conn = self.conn();
        let reply: Value = within(
            config.request_timeout,
            redis::Script::new(CANCEL)
                .key(&keys.meta)
                .arg(keys::cancel_channel(&config.prefix, ""))
                .arg(id)
                .invoke_async(&mut conn),
        )
        .await?;
        match reply {
            Value::Nil => Err(Error::NotFound(id.to_string())),
            Value::Array(v) if v.len() == 2 => Ok(CancelRequest {
                owner: text(&v[0]).unwrap_or_default(),
                heard: matches!(v[1], Value::Int(n) if n > 0),
            }),
            other => Err(Error::Corrupt(format!("cancel answered {other:?}"))),
        }
    }

    /// Records that stream `id` answers the chat `chat` (an AI SDK chat's
    /// id, which its page resumes by), replacing whatever stream the chat
    /// had, so that every node finds it with [`Node::chat`]. The record
    /// expires with the copies ([`Config::retention`]).
    pub async fn set_chat(&self, chat: &str, id: &str) -> Result<(), Error> {
        let config = &self.inner.config;
        let mut conn = self.conn();
        within(
            config.request_timeout,
            redis::cmd("SET")
                .arg(keys::chat(&config.prefix, chat))
                .arg(id)
                .arg("PX")
                .arg(config.retention.as_millis().max(1) as u64)
                .query_async::<()>(&mut conn),
        )
        .await
    }

    /// The stream last recorded for chat `chat` by any node
    /// ([`Node::set_chat`]); `None` when none was, or its record expired.
    /// Whether it still runs is for [`Node::status`] to say.
    pub async fn chat(&self, chat: &str) -> Result<Option<String>, Error> {
        let config = &self.inner.config;
        let mut conn = self.conn();
        within(
            config.request_timeout,
            redis::cmd("GET")
                .arg(keys::chat(&config.prefix, chat))
                .query_async::<Option<String>>(&mut conn),
        )
        .await
    }

    /// The node's counters and gauges now: mirror lag, errors, reconnects,
    /// round trips (see [`Metrics`]).
    pub fn metrics(&self) -> Metrics {
        self.inner.counters.read()
    }

    pub(crate) fn conn(&self) -> ConnectionManager {
        self.inner.conn.clone()
    }

    /// Whether Redis has the mirrors' claim script cached.
    pub(crate) fn claim_script_loaded(&self) -> bool {
        self.inner
            .claim_script
            .load(std::sync::atomic::Ordering::Acquire)
    }

    pub(crate) fn writer(&self) -> &Writer {
        &self.inner.writer
    }

    pub(crate) fn tail(&self) -> &Tail {
        &self.inner.tail
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.inner.counters
    }

    /// Tells the cancel listener about a local stream (or that it ended).
    pub(crate) fn tell_listener(&self, command: Command) {
        // The listener stops only when every Node clone is gone, and the
        // caller holds one.
        let _ = self.inner.listener.send(command);
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}
