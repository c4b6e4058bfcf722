//! [`Follower`]: one stream read from the shared log, from any node.
//!
//! It replays from the requested offset and follows live through the node's
//! tail (`tail.rs`: one `XREAD BLOCK` over every followed stream). When a
//! whole poll brings nothing new it checks the owner's lease: once the
//! lease is gone, whatever the owner managed to write is read, and if the
//! stream's end is not among it, the follower ends with a failure naming
//! the owner. So a follower never hangs on a dead owner: it ends within
//! about the lease plus twice [`Config::poll`](crate::Config::poll) of the
//! owner's last refresh.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::BoxStream;
use futures::Stream;
use redis::aio::ConnectionManager;
use redis::streams::{StreamRangeReply, StreamReadReply};
use rivulet::{Chunk, Outcome};

use crate::error::{within, Error};
use crate::keys::{sequence, Keys};
use crate::record::{ChunkLine, Entry};
use crate::tail::{Delivery, Watching};
use crate::Node;

/// What a [`Follower`] yields: the owner's chunks, with their offsets, then
/// its end.
#[derive(Clone, Debug, PartialEq)]
pub enum RemoteEvent {
    /// The next chunk.
    Chunk(RemoteChunk),
    /// The stream's end, as the owner recorded it (finished, cancelled or
    /// failed with the owner's error, equal to the owner's own), or a
    /// failure naming the owner when its lease expired first. Nothing
    /// follows.
    End(Outcome),
}

/// One chunk as the shared log holds it: its offset and its JSON line.
///
/// The line is kept as text because that is what a relay sends on (the
/// SSE `data:` is exactly this line, as `rivulet -o chunks` prints it): no
/// parse and print again per chunk and per follower. [`RemoteChunk::parse`]
/// gives the [`Chunk`] where one is needed (an AI SDK encoder, a fold).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteChunk {
    offset: u64,
    /// Read once by the node's tail, shared by every follower of the
    /// stream here: handing it on is a reference count, not a copy.
    line: Arc<ChunkLine>,
}

impl RemoteChunk {
    /// Its offset in the stream's log: the SSE `id:`, and what
    /// [`Node::follow`](crate::Node::follow) resumes after.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Its type name (`"text_chunk"`, …): the SSE `event:`.
    pub fn type_name(&self) -> &str {
        &self.line.type_name
    }

    /// Its JSON line, as `rivulet -o chunks` prints it: the SSE `data:`.
    pub fn json(&self) -> &str {
        &self.line.json
    }

    /// The chunk itself. A raw chunk comes back untyped (its JSON only).
    pub fn parse(&self) -> Result<Chunk, serde_json::Error> {
        serde_json::from_str(&self.line.json)
    }
}

/// A stream followed through the shared log, from [`Node::follow`]: a
/// `futures::Stream` of `Result<RemoteEvent, Error>`.
///
/// It yields the chunks after the requested offset, in order, each once,
/// then one [`RemoteEvent::End`], then nothing. If Redis fails (down,
/// timing out, an entry it cannot read) it yields that one `Err` instead
/// and ends: the stream may well still be running on its owner, and a
/// client can resume from the last offset it saw, through another node if
/// need be. Dropping it stops the node's reads for it.
///
/// It never holds the stream or other followers back: the node hands it
/// entries through a small bounded buffer, and while that is full (its
/// consumer is slow, or not reading) the node's shared reads leave it out
/// and its place in the log waits where its consumer is. Reading on
/// catches up from Redis, losing nothing while the stream's entries are
/// kept there.
pub struct Follower {
    id: String,
    owner: String,
    model: String,
    events: BoxStream<'static, Result<RemoteEvent, Error>>,
}

impl Follower {
    /// The stream's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The node that owns the stream.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The model its owner named.
    pub fn model(&self) -> &str {
        &self.model
    }
}

impl Stream for Follower {
    type Item = Result<RemoteEvent, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.events.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for Follower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follower")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

pub(crate) async fn open(node: &Node, id: &str, after: Option<u64>) -> Result<Follower, Error> {
    let config = node.config();
    let timeout = config.request_timeout;
    let mut conn = node.conn();
    let keys = Keys::new(&config.prefix, id);
    let meta: HashMap<String, String> = within(
        timeout,
        redis::cmd("HGETALL").arg(&keys.meta).query_async(&mut conn),
    )
    .await?;
    let (Some(owner), Some(model)) = (meta.get("owner"), meta.get("model")) else {
        return Err(Error::NotFound(id.to_string()));
    };
    let seq = after.map_or(0, |k| k + 1);
    let reader = Reader {
        watching: node.tail().watch(keys.log.clone(), seq),
        conn,
        keys,
        seq,
        pending: VecDeque::new(),
        done: false,
        failure: None,
        id: id.to_string(),
        owner: owner.clone(),
        timeout,
        batch: config.batch.max(1),
    };
    let events = futures::stream::unfold(reader, |mut reader| async move {
        let next = reader.next().await?;
        Some((next, reader))
    });
    Ok(Follower {
        id: id.to_string(),
        owner: owner.clone(),
        model: model.clone(),
        events: Box::pin(events),
    })
}

/// The follower's state: its place in the node's tail, and where it is in
/// the log.
struct Reader {
    watching: Watching,
    /// The node's shared connection, for the lease check and the last
    /// reads after it.
    conn: ConnectionManager,
    keys: Keys,
    /// The sequence number of the last entry taken (offset + 1; 0: none).
    seq: u64,
    /// Events read and not yet yielded.
    pending: VecDeque<RemoteEvent>,
    /// The end (or an error) was read: nothing more to read.
    done: bool,
    /// The error to yield once `pending` is out.
    failure: Option<Error>,
    id: String,
    owner: String,
    timeout: Duration,
    batch: usize,
}

impl Reader {
    async fn next(&mut self) -> Option<Result<RemoteEvent, Error>> {
        loop {
            // What was read before a failure goes out before it.
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if let Some(e) = self.failure.take() {
                return Some(Err(e));
            }
            if self.done {
                return None;
            }
            if let Err(e) = self.step().await {
                self.done = true;
                self.failure = Some(e);
            }
        }
    }

    /// Takes what the tail delivers next; when it says a poll went by
    /// with nothing new, checks the owner's lease.
    async fn step(&mut self) -> Result<(), Error> {
        match self.watching.next().await {
            Some(Delivery::Entries(batch)) => {
                for (seq, entry) in batch.iter() {
                    // Entries another follower of the stream on this node
                    // needed, or read again after a full channel.
                    if *seq <= self.seq && entry.is_ok() {
                        continue;
                    }
                    self.take(*seq, entry.clone().map_err(Error::Corrupt)?);
                    if self.done {
                        break;
                    }
                }
                return Ok(());
            }
            Some(Delivery::Idle) => {}
            Some(Delivery::Failed(e)) => return Err(e),
            None => {
                return Err(Error::Corrupt(
                    "the node's reader of the shared log stopped".into(),
                ))
            }
        }
        let alive: bool = within(
            self.timeout,
            redis::cmd("EXISTS")
                .arg(&self.keys.owner)
                .query_async(&mut self.conn),
        )
        .await?;
        if alive {
            return Ok(());
        }
        // The lease is gone: the owner ended the stream (its end is then
        // in the log: the end is written before the lease is let go) or
        // died. Read what is left.
        while !self.done && self.read().await? > 0 {}
        if !self.done {
            self.done = true;
            let outcome = match self.last_end().await? {
                // The cursor was past the end (resuming after an offset
                // the stream never reached): just the end, as locally.
                Some(outcome) => outcome,
                None => Outcome::failed(owner_lost(&self.owner, &self.id)),
            };
            self.pending.push_back(RemoteEvent::End(outcome));
        }
        Ok(())
    }

    /// The stream's end, if its last entry is one.
    async fn last_end(&mut self) -> Result<Option<Outcome>, Error> {
        let last: StreamRangeReply = within(
            self.timeout,
            redis::cmd("XREVRANGE")
                .arg(&self.keys.log)
                .arg("+")
                .arg("-")
                .arg("COUNT")
                .arg(1)
                .query_async(&mut self.conn),
        )
        .await?;
        match last.ids.first().map(Entry::parse) {
            Some(Ok(Entry::End { outcome, .. })) => Ok(Some(outcome)),
            Some(Err(e)) => Err(Error::Corrupt(e)),
            _ => Ok(None),
        }
    }

    /// One `XREAD` of what follows the cursor, without blocking: how many
    /// entries it returned.
    async fn read(&mut self) -> Result<usize, Error> {
        let reply: Option<StreamReadReply> = within(
            self.timeout,
            redis::cmd("XREAD")
                .arg("COUNT")
                .arg(self.batch)
                .arg("STREAMS")
                .arg(&self.keys.log)
                .arg(format!("0-{}", self.seq))
                .query_async(&mut self.conn),
        )
        .await?;
        let entries = reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .collect::<Vec<_>>();
        for entry in &entries {
            let seq = sequence(&entry.id).unwrap_or(0);
            self.take(seq, Entry::parse(entry).map_err(Error::Corrupt)?);
            if self.done {
                break;
            }
        }
        Ok(entries.len())
    }

    /// Takes entry `seq`: a chunk goes to `pending`; the end too, and
    /// stops reading.
    fn take(&mut self, seq: u64, entry: Entry) {
        self.seq = seq;
        match entry {
            Entry::Chunk { offset, line } => self
                .pending
                .push_back(RemoteEvent::Chunk(RemoteChunk { offset, line })),
            Entry::End { outcome, .. } => {
                self.pending.push_back(RemoteEvent::End(outcome));
                self.done = true;
            }
        }
    }
}

/// The failure a follower (and a status read) reports for a stream whose
/// owner's lease expired before its end.
pub(crate) fn owner_lost(owner: &str, id: &str) -> rivulet::Error {
    rivulet::Error::connection(format!(
        "owner node {owner} of stream {id} was lost: its lease expired before the stream ended"
    ))
}
