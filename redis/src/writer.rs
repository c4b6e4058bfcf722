//! The mirrors' writes, sent together: the writes every mirror has ready
//! when a round starts go to Redis as one pipeline.
//!
//! Why: a mirror sends what its stream has ready, and at a chunk every 2 ms
//! that is one chunk: 100 such streams made 50,000 requests a second, each
//! its own trip through the redis crate's connection (a message to its
//! driver, a reply routed back) and its own read and reply in Redis. Here a
//! mirror hands its pipeline to the node's writer and waits for its own
//! replies; the writer sends every write queued meanwhile as one pipeline,
//! at most [`ROUNDS_IN_FLIGHT`] at a time, so writes that arrive while
//! Redis answers go together in the next round.
//!
//! Each write's commands stay together and in order in the round, and
//! each mirror gets exactly its own replies (errors included, as
//! `ignore_errors` pipelines answer), so what a mirror does with them does
//! not change. A round that fails (the connection, the timeout) fails
//! every write in it; each mirror then retries on its own schedule.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Pipeline, Value};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::error::within;
use crate::metrics::Counters;

/// Rounds sent and not yet answered, at most: one waits for Redis while
/// the next fills up.
const ROUNDS_IN_FLIGHT: usize = 4;

/// Writes in one round, at most (a round's pipeline and replies are held
/// until it is answered).
const MAX_WRITES: usize = 512;

/// One mirror's write and where its replies go.
struct Write {
    pipeline: Arc<Pipeline>,
    replies: oneshot::Sender<Result<Vec<Value>, String>>,
}

/// The node's writer: a cheap handle on its task.
#[derive(Clone)]
pub(crate) struct Writer {
    writes: mpsc::UnboundedSender<Write>,
}

impl Writer {
    /// Starts the writer's task on `conn`; it ends when every handle is
    /// gone. Each round counts one round trip in `counters`.
    pub(crate) fn spawn(
        conn: ConnectionManager,
        timeout: Duration,
        counters: Arc<Counters>,
    ) -> Self {
        let (writes, queue) = mpsc::unbounded_channel();
        tokio::spawn(run(queue, conn, timeout, counters));
        Writer { writes }
    }

    /// Sends `pipeline` in the next round: its replies, one per command,
    /// or why the round failed.
    pub(crate) async fn send(&self, pipeline: Arc<Pipeline>) -> Result<Vec<Value>, String> {
        let (replies, answer) = oneshot::channel();
        // Unbounded: each mirror has at most one write queued, so the
        // queue is as long as the mirrors are many.
        if self.writes.send(Write { pipeline, replies }).is_err() {
            return Err("the node's writer has stopped".into());
        }
        answer
            .await
            .unwrap_or_else(|_| Err("the node's writer has stopped".into()))
    }
}

async fn run(
    mut queue: mpsc::UnboundedReceiver<Write>,
    conn: ConnectionManager,
    timeout: Duration,
    counters: Arc<Counters>,
) {
    let in_flight = Arc::new(Semaphore::new(ROUNDS_IN_FLIGHT));
    while let Some(first) = queue.recv().await {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        // Everything queued by now goes in this round.
        let mut writes = vec![first];
        while writes.len() < MAX_WRITES {
            match queue.try_recv() {
                Ok(write) => writes.push(write),
                Err(_) => break,
            }
        }
        let (mut conn, counters) = (conn.clone(), counters.clone());
        tokio::spawn(async move {
            round(writes, &mut conn, timeout, &counters).await;
            drop(permit);
        });
    }
}

/// Sends `writes` as one pipeline and hands each its replies.
async fn round(
    writes: Vec<Write>,
    conn: &mut ConnectionManager,
    timeout: Duration,
    counters: &Counters,
) {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for write in &writes {
        for command in write.pipeline.cmd_iter() {
            pipe.add_command(command.clone());
        }
    }
    let commands = pipe.len();
    Counters::add(&counters.round_trips, 1);
    let result = within(timeout, pipe.query_async::<Vec<Value>>(conn)).await;
    drop(pipe);
    let replies = match result {
        Ok(replies) if replies.len() == commands => Ok(replies),
        Ok(replies) => Err(format!("{} replies to {commands} commands", replies.len())),
        Err(e) => Err(e.to_string()),
    };
    match replies {
        Ok(replies) => {
            let mut replies = replies.into_iter();
            for write in writes {
                let own = replies.by_ref().take(write.pipeline.len()).collect();
                let _ = write.replies.send(Ok(own));
            }
        }
        Err(why) => {
            for write in writes {
                let _ = write.replies.send(Err(why.clone()));
            }
        }
    }
}
