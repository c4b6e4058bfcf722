//! What the shared log says about a stream without following it: its
//! status, the list of streams, a snapshot.

use std::collections::HashMap;

use redis::streams::StreamRangeReply;
use redis::{FromRedisValue, Value};
use rivulet::{Chunk, ErrorKind, Outcome, Response};

use crate::error::{within, Error};
use crate::follower::owner_lost;
use crate::keys::{self, Keys};
use crate::record::Entry;
use crate::Node;

/// A stream as the shared log has it (see [`Node::status`]).
#[derive(Clone, Debug, PartialEq)]
pub struct StreamStatus {
    /// Its id.
    pub id: String,
    /// The model its owner named.
    pub model: String,
    /// The node that owns (or owned) it.
    pub owner: String,
    /// When its owner registered it, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// Chunks in the shared log so far.
    pub chunks: u64,
    /// How it ended; `None` while it runs. A stream whose owner's lease
    /// expired before its end reads as failed, naming the owner.
    pub outcome: Option<Outcome>,
}

impl StreamStatus {
    /// `"running"`, `"finished"`, `"cancelled"` or `"failed"`: the words
    /// `rivulet serve` uses.
    pub fn status(&self) -> &'static str {
        match &self.outcome {
            None => "running",
            Some(Outcome::Finished) => "finished",
            Some(Outcome::Failed(e)) if e.kind() == ErrorKind::Cancelled => "cancelled",
            Some(Outcome::Failed(_)) => "failed",
        }
    }
}

/// A stream's status and its response so far (see [`Node::snapshot`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// Its status, as of the entries folded.
    pub status: StreamStatus,
    /// Its chunks folded.
    pub response: Response,
}

/// How many entries one `XRANGE` of a snapshot reads.
const PAGE: usize = 1000;

/// The status of each of `ids` (`None` for one that is not in Redis), in
/// one round trip.
pub(crate) async fn read(node: &Node, ids: &[String]) -> Result<Vec<Option<StreamStatus>>, Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let config = node.config();
    let mut pipe = redis::pipe();
    for id in ids {
        let keys = Keys::new(&config.prefix, id);
        // The lease is read first: the owner writes the end before it
        // lets the lease go, so a lease found missing here means the end,
        // if there is one, is in the log read next.
        pipe.cmd("EXISTS")
            .arg(&keys.owner)
            .cmd("HGETALL")
            .arg(&keys.meta)
            .cmd("XREVRANGE")
            .arg(&keys.log)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1);
    }
    let mut conn = node.conn();
    let reply: Vec<Value> = within(config.request_timeout, pipe.query_async(&mut conn)).await?;
    let mut out = Vec::with_capacity(ids.len());
    for (id, values) in ids.iter().zip(reply.chunks(3)) {
        let [lease, meta, last] = values else {
            return Err(Error::Corrupt(format!(
                "a status reply of {} values",
                values.len()
            )));
        };
        out.push(status_of(id, lease, meta, last)?);
    }
    Ok(out)
}

fn parse<T: FromRedisValue>(v: &Value, what: &str) -> Result<T, Error> {
    redis::from_redis_value_ref(v).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

fn status_of(
    id: &str,
    lease: &Value,
    meta: &Value,
    last: &Value,
) -> Result<Option<StreamStatus>, Error> {
    let alive: bool = parse(lease, "the lease")?;
    let meta: HashMap<String, String> = parse(meta, "the meta hash")?;
    let (Some(owner), Some(model)) = (meta.get("owner"), meta.get("model")) else {
        return Ok(None);
    };
    let last: StreamRangeReply = parse(last, "the last entry")?;
    let (chunks, outcome) = match last.ids.first().map(Entry::parse) {
        None => (0, None),
        Some(Ok(Entry::Chunk { offset, .. })) => (offset + 1, None),
        Some(Ok(Entry::End { chunks, outcome })) => (chunks, Some(outcome)),
        Some(Err(e)) => return Err(Error::Corrupt(e)),
    };
    let outcome = match outcome {
        None if !alive => Some(Outcome::failed(owner_lost(owner, id))),
        other => other,
    };
    Ok(Some(StreamStatus {
        id: id.to_string(),
        model: model.clone(),
        owner: owner.clone(),
        started_ms: meta
            .get("started")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        chunks,
        outcome,
    }))
}

pub(crate) async fn list(node: &Node, limit: usize) -> Result<Vec<StreamStatus>, Error> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let config = node.config();
    let index = keys::index(&config.prefix);
    let mut conn = node.conn();
    let ids: Vec<String> = within(
        config.request_timeout,
        redis::cmd("ZREVRANGE")
            .arg(&index)
            .arg(0)
            .arg(limit - 1)
            .query_async(&mut conn),
    )
    .await?;
    let statuses = read(node, &ids).await?;
    let gone: Vec<&String> = ids
        .iter()
        .zip(&statuses)
        .filter(|(_, s)| s.is_none())
        .map(|(id, _)| id)
        .collect();
    if !gone.is_empty() {
        // Their keys expired: drop them from the index too.
        within(
            config.request_timeout,
            redis::cmd("ZREM")
                .arg(&index)
                .arg(&gone)
                .query_async::<()>(&mut conn),
        )
        .await?;
    }
    Ok(statuses.into_iter().flatten().collect())
}

pub(crate) async fn snapshot(node: &Node, id: &str) -> Result<Snapshot, Error> {
    let mut status = read(node, &[id.to_string()])
        .await?
        .pop()
        .flatten()
        .ok_or_else(|| Error::NotFound(id.to_string()))?;
    let (provider, model) = status.model.split_once('/').unwrap_or((&status.model, ""));
    let mut response = Response::new(provider, model, Vec::new());
    let config = node.config();
    let log = Keys::new(&config.prefix, id).log;
    let mut conn = node.conn();
    let mut start = "-".to_string();
    let mut chunks = 0;
    'pages: loop {
        let page: StreamRangeReply = within(
            config.request_timeout,
            redis::cmd("XRANGE")
                .arg(&log)
                .arg(&start)
                .arg("+")
                .arg("COUNT")
                .arg(PAGE)
                .query_async(&mut conn),
        )
        .await?;
        for entry in &page.ids {
            match Entry::parse(entry).map_err(Error::Corrupt)? {
                Entry::Chunk { line, offset } => {
                    let chunk: Chunk = serde_json::from_str(&line.json).map_err(|e| {
                        Error::Corrupt(format!("the chunk at offset {offset}: {e}"))
                    })?;
                    response.apply(&chunk);
                    chunks = offset + 1;
                }
                Entry::End { outcome, .. } => {
                    status.outcome = Some(outcome);
                    break 'pages;
                }
            }
        }
        match page.ids.last() {
            // `(` makes the range start after that id.
            Some(last) if page.ids.len() == PAGE => start = format!("({}", last.id),
            _ => break,
        }
    }
    status.chunks = status.chunks.max(chunks);
    Ok(Snapshot { status, response })
}
