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
//! `ignore_errors` pipelines answer). A write whose commands all succeed
//! has its chunks confirmed on the mirror's books by the round itself, so
//! a mirror need not wake for the answer: it reads it when it next has
//! work. A write that fails (its round's connection or timeout, or an
//! error of its own) gets its commands back, for the mirror to send again
//! on its own schedule: a round moves the commands it sends, and copies
//! only those of a failed write.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Cmd, Value};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::error::within;
use crate::metrics::{Counters, MirrorCounters};

/// Rounds sent and not yet answered, at most: one waits for Redis while
/// the next fills up.
const ROUNDS_IN_FLIGHT: usize = 4;

/// Writes in one round, at most (a round's pipeline and replies are held
/// until it is answered).
const MAX_WRITES: usize = 512;

/// The chunks a write carries, for the round to put on the mirror's books
/// when Redis takes all of the write.
pub(crate) struct Confirm {
    pub mirror: Arc<MirrorCounters>,
    /// How many.
    pub chunks: u64,
    /// The offset after the last of them.
    pub through: u64,
}

/// A write Redis did not take, and its commands, to send again.
pub(crate) struct Failed {
    pub why: String,
    pub commands: Vec<Cmd>,
}

/// What became of a write: its replies, one per command, or why it failed.
pub(crate) type Answer = Result<Vec<Value>, Failed>;

/// One mirror's write and where its answer goes.
struct Write {
    commands: Vec<Cmd>,
    confirm: Option<Confirm>,
    answer: oneshot::Sender<Answer>,
}

/// A write sent and not yet looked at. Its answer wakes no one unless
/// someone is awaiting it; awaited after it came, it is there at once.
pub(crate) struct Pending(oneshot::Receiver<Answer>);

impl Pending {
    /// The write's answer; `None` if the writer stopped without one (the
    /// runtime is shutting down).
    pub(crate) async fn answer(self) -> Option<Answer> {
        self.0.await.ok()
    }
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

    /// Queues `commands` for the next round; with `confirm`, the round
    /// confirms those chunks when Redis takes every command.
    pub(crate) fn send(&self, commands: Vec<Cmd>, confirm: Option<Confirm>) -> Pending {
        let (answer, pending) = oneshot::channel();
        // Unbounded: each mirror has at most one write queued, so the
        // queue is as long as the mirrors are many.
        if let Err(mpsc::error::SendError(write)) = self.writes.send(Write {
            commands,
            confirm,
            answer,
        }) {
            let _ = write.answer.send(Err(Failed {
                why: "the node's writer has stopped".into(),
                commands: write.commands,
            }));
        }
        Pending(pending)
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

/// Sends `writes` as one pipeline and hands each its answer.
async fn round(
    writes: Vec<Write>,
    conn: &mut ConnectionManager,
    timeout: Duration,
    counters: &Counters,
) {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    // Each write's commands move into the round; what is left of the
    // write is where its answer goes.
    let mut owners = Vec::with_capacity(writes.len());
    for write in writes {
        owners.push((write.commands.len(), write.confirm, write.answer));
        for command in write.commands {
            pipe.add_command(command);
        }
    }
    let commands = pipe.len();
    Counters::add(&counters.round_trips, 1);
    let result = within(timeout, pipe.query_async::<Vec<Value>>(conn)).await;
    let replies = match result {
        Ok(replies) if replies.len() == commands => Ok(replies),
        Ok(replies) => Err(format!("{} replies to {commands} commands", replies.len())),
        Err(e) => Err(e.to_string()),
    };
    // A failed write's commands, copied out of the round (only then).
    let commands_of = |start: usize, len: usize| -> Vec<Cmd> {
        pipe.cmd_iter().skip(start).take(len).cloned().collect()
    };
    let mut start = 0;
    match replies {
        Ok(replies) => {
            let mut replies = replies.into_iter();
            for (len, confirm, answer) in owners {
                let own: Vec<Value> = replies.by_ref().take(len).collect();
                let _ = answer.send(match refused(&own) {
                    None => {
                        if let Some(confirm) = confirm {
                            confirm.apply(counters);
                        }
                        Ok(own)
                    }
                    Some(why) => Err(Failed {
                        why,
                        commands: commands_of(start, len),
                    }),
                });
                start += len;
            }
        }
        Err(why) => {
            for (len, _, answer) in owners {
                let _ = answer.send(Err(Failed {
                    why: why.clone(),
                    commands: commands_of(start, len),
                }));
                start += len;
            }
        }
    }
}

impl Confirm {
    fn apply(self, counters: &Counters) {
        let Confirm {
            mirror,
            chunks,
            through,
        } = self;
        mirror.confirmed.store(through, Ordering::Relaxed);
        mirror.chunks.fetch_add(chunks, Ordering::Relaxed);
        Counters::add(&counters.chunks_mirrored, chunks);
    }
}

/// The first error in a pipeline's reply that is not an `XADD` refusing an
/// entry that is already there (sent by an earlier try whose reply was
/// lost: every write is idempotent, so that one counts as done).
pub(crate) fn refused(reply: &[Value]) -> Option<String> {
    reply.iter().find_map(|v| match v {
        Value::ServerError(e) => {
            let already_there = e
                .details()
                .is_some_and(|d| d.contains("equal or smaller than the target stream top item"));
            (!already_there).then(|| e.to_string())
        }
        _ => None,
    })
}
