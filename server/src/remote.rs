//! Streams across nodes (`rivulet serve --redis`): every stream this node
//! starts is mirrored into the shared log (rivulet-redis), and a stream
//! this node does not hold is served from there: replayed and followed
//! from any offset, shown, listed and cancelled, whichever node owns it.
//!
//! Redis trouble never touches local streams (the mirror reads them
//! detached); it only makes the other nodes' streams unavailable here, with
//! a 503 or an `end: failed` naming the shared log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, UNIX_EPOCH};

use axum::body::Bytes;
use axum::response::Response;
use futures::{Stream, StreamExt};
use rivulet_redis::{Node, RemoteEvent, StreamStatus};
use serde_json::{json, Value};

use super::end::{end_frame, failure};
use super::events::ai_sdk_response;
use super::registry::Entry;
use super::sse::frame;
use super::wire::Summary;
use super::ApiError;
use rivulet::json::response_json;
use rivulet::{Error, Outcome};

/// How long `POST /v1/streams` waits for the mirror to register a new
/// stream, so that another node finds it at once. Past it the stream runs
/// and answers anyway (Redis is slow or down: it is mirrored when it can
/// be, or not at all).
const REGISTER_WAIT: Duration = Duration::from_secs(1);

/// How many streams of other nodes `GET /v1/streams` lists.
const LIST_LIMIT: usize = 1000;

/// This node's handle on the shared log, and the clients following other
/// nodes' streams through it.
pub(crate) struct Remote {
    pub node: Node,
    /// Followers attached here, by stream id: each holds a Redis
    /// connection of its own (an `XREAD BLOCK` holds its connection), so
    /// they count against `max_attachers` like local attachers.
    followers: Arc<Mutex<HashMap<String, usize>>>,
}

/// One follower, counted while it lives.
pub(crate) struct Following {
    followers: Arc<Mutex<HashMap<String, usize>>>,
    id: String,
}

impl Drop for Following {
    fn drop(&mut self) {
        let mut followers = lock(&self.followers);
        if let Some(n) = followers.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                followers.remove(&self.id);
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Remote {
    pub fn new(node: Node) -> Self {
        Remote {
            node,
            followers: Arc::default(),
        }
    }

    /// Mirrors a stream this node just started (at once: the mirror is a
    /// task of its own, and dropping the handle does not stop it).
    pub fn mirror(&self, entry: &Entry) -> rivulet_redis::Mirror {
        self.node
            .mirror(&entry.id, &entry.model, entry.response.handle())
    }

    /// Returns once other nodes can find the stream `mirror` copies, or
    /// after [`REGISTER_WAIT`].
    pub async fn registered(entry: &Entry, mirror: &rivulet_redis::Mirror) {
        match tokio::time::timeout(REGISTER_WAIT, mirror.registered()).await {
            Ok(Ok(())) => {}
            Ok(Err(end)) => {
                tracing::warn!(id = %entry.id, ?end, "the stream is not mirrored");
            }
            Err(_) => {
                tracing::warn!(id = %entry.id, "the shared log is slow: mirroring continues");
            }
        }
    }

    /// Records in the shared log that stream `id` answers the AI SDK chat
    /// `chat`, so a page that resumes it through another node finds it.
    /// Not waited for, as the mirror: the answer is already streaming here.
    pub fn record_chat(&self, chat: String, id: String) {
        let node = self.node.clone();
        tokio::spawn(async move {
            if let Err(e) = node.set_chat(&chat, &id).await {
                tracing::warn!(%id, error = %e, "the shared log did not record the stream's chat");
            }
        });
    }

    /// The running stream of the AI SDK chat `chat`, wherever it runs, by
    /// the shared log; `None` when the chat has none running there.
    pub async fn chat_stream(&self, chat: &str) -> Result<Option<String>, ApiError> {
        let unavailable = |e: rivulet_redis::Error| ApiError::unavailable(e.to_string());
        let Some(id) = self.node.chat(chat).await.map_err(unavailable)? else {
            return Ok(None);
        };
        match self.node.status(&id).await {
            Ok(status) => Ok(status.outcome.is_none().then_some(id)),
            Err(rivulet_redis::Error::NotFound(_)) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    /// Counts one more follower of `id` unless `max` follow it here.
    fn follow_slot(&self, id: &str, max: usize) -> Option<Following> {
        let mut followers = lock(&self.followers);
        let n = followers.entry(id.to_string()).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Following {
            followers: self.followers.clone(),
            id: id.to_string(),
        })
    }

    fn followers_of(&self, id: &str) -> usize {
        lock(&self.followers).get(id).copied().unwrap_or(0)
    }

    /// The shared log's series for `/metrics` (Prometheus text).
    pub fn metrics(&self) -> String {
        let m = self.node.metrics();
        let followers: usize = lock(&self.followers).values().sum();
        let series: [(&str, &str, &str, u64); 8] = [
            (
                "rivulet_redis_mirrors_running",
                "gauge",
                "Streams of this node being mirrored now.",
                m.mirrors_running,
            ),
            (
                "rivulet_redis_mirror_lag_chunks",
                "gauge",
                "Chunks the mirrors have yet to write, over every stream.",
                m.lag_chunks,
            ),
            (
                "rivulet_redis_chunks_mirrored_total",
                "counter",
                "Chunks written to the shared log.",
                m.chunks_mirrored,
            ),
            (
                "rivulet_redis_round_trips_total",
                "counter",
                "Pipelines sent by the mirrors.",
                m.round_trips,
            ),
            (
                "rivulet_redis_errors_total",
                "counter",
                "Failed requests to the shared log.",
                m.errors,
            ),
            (
                "rivulet_redis_reconnects_total",
                "counter",
                "Reconnections to Redis.",
                m.reconnects,
            ),
            (
                "rivulet_redis_mirrors_lost_total",
                "counter",
                "Mirrors given up (past the lag or outage bound).",
                m.mirrors_lost,
            ),
            (
                "rivulet_redis_followers",
                "gauge",
                "SSE clients here following another node's stream.",
                followers as u64,
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in series {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
            ));
        }
        out
    }

    /// Opens a follower of `id` after offset `after`, counted against
    /// `max` followers of that stream on this node.
    async fn open(
        &self,
        id: &str,
        after: Option<u64>,
        max: usize,
        retry_after: Duration,
    ) -> Result<(rivulet_redis::Follower, Following), ApiError> {
        let slot = self.follow_slot(id, max).ok_or_else(|| {
            ApiError::busy(
                format!("{max} clients follow this stream here, the most it takes"),
                retry_after,
            )
        })?;
        let follower = self
            .node
            .follow(id, after)
            .await
            .map_err(not_found_or_503)?;
        Ok((follower, slot))
    }

    /// `GET /v1/streams/{id}/events` for another node's stream: the same
    /// events a client of the owner gets (ids are the same offsets).
    pub async fn events(
        &self,
        id: &str,
        after: Option<u64>,
        max: usize,
        retry_after: Duration,
    ) -> Result<impl Stream<Item = Bytes> + Send + 'static, ApiError> {
        let (follower, slot) = self.open(id, after, max, retry_after).await?;
        Ok(follower.scan((false, slot), |(ended, _slot), event| {
            if *ended {
                return futures::future::ready(None);
            }
            let out = match event {
                Ok(RemoteEvent::Chunk(c)) => frame(Some(c.offset()), c.type_name(), c.json()),
                Ok(RemoteEvent::End(outcome)) => {
                    *ended = true;
                    end_frame(&outcome)
                }
                Err(e) => {
                    *ended = true;
                    end_frame(&Outcome::failed(e.to_stream_error()))
                }
            };
            futures::future::ready(Some(out))
        }))
    }

    /// `?format=ai-sdk` for another node's stream: the whole stream through
    /// an encoder, as for a local one.
    pub async fn ai_sdk(
        &self,
        id: &str,
        max: usize,
        retry_after: Duration,
        keep_alive: Duration,
    ) -> Result<Response, ApiError> {
        let (follower, slot) = self.open(id, None, max, retry_after).await?;
        Ok(ai_sdk_response(
            format!("msg-{id}"),
            follower,
            slot,
            keep_alive,
            |encoder, event, out| match event {
                Ok(RemoteEvent::Chunk(c)) => match c.parse() {
                    Ok(chunk) => encoder.push_chunk(&chunk, out),
                    Err(e) => encoder.push_end(
                        &Outcome::failed(Error::protocol(format!(
                            "the shared log holds a chunk that does not parse: {e}"
                        ))),
                        out,
                    ),
                },
                Ok(RemoteEvent::End(outcome)) => encoder.push_end(&outcome, out),
                Err(e) => encoder.push_end(&Outcome::failed(e.to_stream_error()), out),
            },
        ))
    }

    /// `GET /v1/streams/{id}` for another node's stream: its status and
    /// the response folded from the shared log.
    pub async fn show(&self, id: &str) -> Result<Value, ApiError> {
        let snapshot = self.node.snapshot(id).await.map_err(not_found_or_503)?;
        let mut v = json!(self.summary(&snapshot.status));
        v["response"] = response_json(
            &snapshot.response,
            failure(snapshot.status.outcome.as_ref()),
        );
        Ok(v)
    }

    /// The streams of every node the shared log knows, newest first
    /// excluded: oldest first, as the local list. Empty when Redis does not
    /// answer (the local streams are listed anyway).
    pub async fn list(&self) -> Vec<Summary> {
        match self.node.list(LIST_LIMIT).await {
            Ok(all) => all.iter().map(|s| self.summary(s)).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "the shared log did not list its streams");
                Vec::new()
            }
        }
    }

    /// `POST /v1/streams/{id}/cancel` for another node's stream: asks the
    /// owner, then waits (up to 5 s) for the shared log to show the end.
    pub async fn cancel(&self, id: &str) -> Result<Summary, ApiError> {
        self.node.cancel(id).await.map_err(not_found_or_503)?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let status = self.node.status(id).await.map_err(not_found_or_503)?;
            if status.outcome.is_some() || tokio::time::Instant::now() >= deadline {
                return Ok(self.summary(&status));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn summary(&self, s: &StreamStatus) -> Summary {
        Summary {
            id: s.id.clone(),
            model: s.model.clone(),
            status: s.status(),
            chunks: s.chunks as usize,
            attachers: self.followers_of(&s.id),
            started: started_text(s.started_ms),
            owner: Some(s.owner.clone()),
        }
    }
}

/// 404 for a stream the shared log does not have; 503 when it cannot be
/// asked.
fn not_found_or_503(e: rivulet_redis::Error) -> ApiError {
    match e {
        rivulet_redis::Error::NotFound(id) => ApiError::not_found(format!(
            "no stream {id:?} here or in the shared log (never started, or freed after its retention)"
        )),
        e => ApiError::unavailable(e.to_string()),
    }
}

/// The RFC 3339 time of `started_ms` (milliseconds since the epoch), read
/// from the shared log: capped at the last millisecond of year 9999, the
/// format's last, so a corrupt or hostile value there cannot fail the
/// formatting (`to_string` would panic) and the listing with it.
fn started_text(started_ms: u64) -> String {
    /// 9999-12-31T23:59:59.999Z.
    const LAST_MS: u64 = 253_402_300_799_999;
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(started_ms.min(LAST_MS)))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::started_text;

    #[test]
    fn a_start_time_past_year_9999_is_capped_not_a_panic() {
        assert_eq!(started_text(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(started_text(1_765_000_000_123), "2025-12-06T05:46:40.123Z");
        assert_eq!(started_text(u64::MAX), "9999-12-31T23:59:59.999Z");
    }
}
