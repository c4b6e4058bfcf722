//! The tail: one task per node that reads the live end of every stream the
//! node's followers follow, with one `XREAD BLOCK` over all their keys on
//! one connection.
//!
//! Why one read for all: a follower with a connection of its own issues an
//! `XREAD` after every wake-up, so 100 followers of streams that send a
//! chunk every 2 ms are up to 50,000 round trips a second, and a node with
//! a thousand followers holds a thousand connections. On the project's
//! 2-core VM that queueing put cross-node delivery's p99 11.7 ms above
//! same-node at 100 streams (1.1 ms at 10). One read over every followed
//! key brings back what each of them has new in one round trip, and two
//! followers of one stream on one node share its read.
//!
//! A new follower must not wait out the current block (up to
//! [`Config::poll`](crate::Config::poll)): the tail then sends `CLIENT
//! UNBLOCK` for its connection over the node's shared one, and the block
//! returns at once with what it has.
//!
//! The tail hands each follower its entries through a small bounded
//! channel. A follower whose channel is full is left out of the next reads
//! (its cursor stays where its consumer is), so a slow client never holds
//! back the others, and nothing is buffered for it beyond the channel.
//! Every [`Config::poll`](crate::Config::poll) a follower that received
//! nothing is told so ([`Delivery::Idle`]); it then checks its owner's
//! lease itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, MultiplexedConnection};
use redis::streams::StreamReadReply;
use redis::{AsyncConnectionConfig, Client};
use tokio::sync::mpsc;
use tokio::time::{sleep, Instant};

use crate::error::{within, Error};
use crate::keys::sequence;
use crate::record::Entry;

/// Read batches a follower's channel holds before the tail leaves it out
/// of its reads: enough to cover a consumer's scheduling hiccup, small
/// enough that a stalled one holds little. One more slot is kept for a
/// failure, so that one always gets through.
const CHANNEL: usize = 4;

/// How long the tail waits before looking again when every follower's
/// channel is full (their consumers are all behind).
const FULL_RETRY: Duration = Duration::from_millis(5);

/// How often a new follower's `CLIENT UNBLOCK` is retried while the read
/// it must cut short has not reached Redis yet.
const UNBLOCK_RETRY: Duration = Duration::from_millis(1);

/// One read's entries of one stream, in order, with their sequence numbers
/// (offset + 1; the end's is the chunk count + 1). Shared by every follower
/// of that stream on this node; each takes the ones past its cursor.
pub(crate) type Batch = Arc<[(u64, Result<Entry, String>)]>;

/// What the tail hands a follower.
pub(crate) enum Delivery {
    /// Entries of its stream; those at or below its cursor are repeats.
    Entries(Batch),
    /// Nothing new for a whole poll: time to check the owner's lease.
    Idle,
    /// The read failed. The follower ends with this error.
    Failed(Error),
}

/// The node's handle on its tail task: cheap to clone.
#[derive(Clone)]
pub(crate) struct Tail {
    commands: mpsc::UnboundedSender<TailCommand>,
    ids: Arc<AtomicU64>,
}

/// One follower's place in the tail; dropping it stops the reads for it.
pub(crate) struct Watching {
    id: u64,
    deliveries: mpsc::Receiver<Delivery>,
    commands: mpsc::UnboundedSender<TailCommand>,
}

enum TailCommand {
    Watch {
        id: u64,
        key: String,
        /// The last sequence number the follower has (0: none).
        seq: u64,
        deliveries: mpsc::Sender<Delivery>,
    },
    Unwatch(u64),
}

/// What the tail task needs besides its commands.
pub(crate) struct Settings {
    /// RESP2: the tail's connection is its own, blocked by its reads.
    pub client: Client,
    /// The node's shared connection, for `CLIENT UNBLOCK`.
    pub shared: ConnectionManager,
    pub poll: Duration,
    pub timeout: Duration,
    pub batch: usize,
}

impl Tail {
    /// Spawns the tail task; it ends when every handle and every
    /// [`Watching`] is dropped.
    pub(crate) fn spawn(settings: Settings) -> Tail {
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(settings, rx));
        Tail {
            commands,
            ids: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Reads `key` from after sequence number `seq` on (0: from the start),
    /// until the returned [`Watching`] is dropped.
    pub(crate) fn watch(&self, key: String, seq: u64) -> Watching {
        let id = self.ids.fetch_add(1, Ordering::Relaxed);
        let (deliveries, rx) = mpsc::channel(CHANNEL + 1);
        // A send fails only once the task is gone; `next` then says so.
        let _ = self.commands.send(TailCommand::Watch {
            id,
            key,
            seq,
            deliveries,
        });
        Watching {
            id,
            deliveries: rx,
            commands: self.commands.clone(),
        }
    }
}

impl Watching {
    /// The next delivery; `None` only if the tail task is gone.
    pub(crate) async fn next(&mut self) -> Option<Delivery> {
        self.deliveries.recv().await
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.commands.send(TailCommand::Unwatch(self.id));
    }
}

/// One follower, as the tail task sees it.
struct Watcher {
    key: String,
    seq: u64,
    deliveries: mpsc::Sender<Delivery>,
    /// Whether it received anything since the last idle check.
    fed: bool,
}

async fn run(settings: Settings, mut commands: mpsc::UnboundedReceiver<TailCommand>) {
    let mut watchers: HashMap<u64, Watcher> = HashMap::new();
    let mut conn: Option<(MultiplexedConnection, i64)> = None;
    let mut idle_check = Instant::now() + settings.poll;
    let mut open = true;
    loop {
        while let Ok(command) = commands.try_recv() {
            apply(&mut watchers, command);
        }
        watchers.retain(|_, w| !w.deliveries.is_closed());
        if watchers.is_empty() {
            if !open {
                return;
            }
            match commands.recv().await {
                Some(command) => apply(&mut watchers, command),
                None => return,
            }
            continue;
        }
        if Instant::now() >= idle_check {
            for w in watchers.values_mut() {
                // A full channel means a busy follower, not an idle one.
                if !std::mem::take(&mut w.fed) {
                    let _ = w.deliveries.try_send(Delivery::Idle);
                }
            }
            idle_check = Instant::now() + settings.poll;
        }
        let reads = cursors(&watchers);
        let any = !reads.is_empty();
        let block = idle_check
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        let cmd = xread(&reads, block, settings.batch);
        if !any {
            // Every follower's channel is full: wait for room, or news.
            tokio::select! {
                command = commands.recv(), if open => match command {
                    Some(command) => apply(&mut watchers, command),
                    None => open = false,
                },
                _ = sleep(FULL_RETRY) => {}
            }
            continue;
        }
        let (c, client_id) = match &conn {
            Some(c) => c.clone(),
            None => match connect(&settings).await {
                Ok(c) => {
                    conn = Some(c.clone());
                    c
                }
                Err(e) => {
                    fail_all(&mut watchers, e);
                    continue;
                }
            },
        };
        let read = within(block + settings.timeout, async move {
            let mut c = c;
            cmd.query_async::<Option<StreamReadReply>>(&mut c).await
        });
        tokio::pin!(read);
        let mut unblock = false;
        let reply = loop {
            tokio::select! {
                biased;
                reply = &mut read => break reply,
                command = commands.recv(), if open => match command {
                    Some(command) => {
                        unblock |= matches!(command, TailCommand::Watch { .. });
                        apply(&mut watchers, command);
                    }
                    None => open = false,
                },
                _ = sleep(UNBLOCK_RETRY), if unblock => {
                    let mut shared = settings.shared.clone();
                    let done: Result<i64, _> = within(
                        settings.timeout,
                        redis::cmd("CLIENT").arg("UNBLOCK").arg(client_id).query_async(&mut shared),
                    )
                    .await;
                    // 0: the read has not reached Redis yet; try again.
                    unblock = !matches!(done, Ok(1) | Err(_));
                }
            }
        };
        match reply {
            Ok(reply) => deliver(&mut watchers, reply),
            Err(e) => {
                conn = None;
                fail_all(&mut watchers, e);
            }
        }
    }
}

fn apply(watchers: &mut HashMap<u64, Watcher>, command: TailCommand) {
    match command {
        TailCommand::Watch {
            id,
            key,
            seq,
            deliveries,
        } => {
            watchers.insert(
                id,
                Watcher {
                    key,
                    seq,
                    deliveries,
                    fed: true,
                },
            );
        }
        TailCommand::Unwatch(id) => {
            watchers.remove(&id);
        }
    }
}

/// Each key to read and where from: the least cursor of its followers
/// that have room for a batch.
fn cursors(watchers: &HashMap<u64, Watcher>) -> Vec<(&str, u64)> {
    let mut reads: HashMap<&str, u64> = HashMap::new();
    for w in watchers.values() {
        if !has_room(w) {
            continue;
        }
        reads
            .entry(w.key.as_str())
            .and_modify(|seq| *seq = (*seq).min(w.seq))
            .or_insert(w.seq);
    }
    reads.into_iter().collect()
}

async fn connect(settings: &Settings) -> Result<(MultiplexedConnection, i64), Error> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(Some(settings.timeout))
        .set_response_timeout(Some(settings.poll + settings.timeout));
    let mut conn = within(
        settings.timeout,
        settings
            .client
            .get_multiplexed_async_connection_with_config(&config),
    )
    .await?;
    let id: i64 = within(
        settings.timeout,
        redis::cmd("CLIENT").arg("ID").query_async(&mut conn),
    )
    .await?;
    Ok((conn, id))
}

/// `XREAD COUNT batch BLOCK block STREAMS keys… cursors…`: its reply is
/// `None` when the block ran out (or was cut short) with nothing new.
fn xread(reads: &[(&str, u64)], block: Duration, batch: usize) -> redis::Cmd {
    let mut cmd = redis::cmd("XREAD");
    cmd.arg("COUNT")
        .arg(batch)
        .arg("BLOCK")
        .arg(block.as_millis().max(1) as u64)
        .arg("STREAMS");
    for (key, _) in reads {
        cmd.arg(*key);
    }
    for (_, seq) in reads {
        cmd.arg(format!("0-{seq}"));
    }
    cmd
}

/// Whether a follower can take a batch (and still has the slot kept for a
/// failure).
fn has_room(w: &Watcher) -> bool {
    w.deliveries.capacity() > 1
}

fn deliver(watchers: &mut HashMap<u64, Watcher>, reply: Option<StreamReadReply>) {
    let Some(reply) = reply else { return };
    let mut batches: HashMap<String, Batch> = HashMap::new();
    for key in reply.keys {
        let batch: Batch = key
            .ids
            .iter()
            .map(|entry| {
                // An id this crate did not write sorts nowhere: it is
                // reported where it stands, as an unreadable entry.
                let seq = sequence(&entry.id).unwrap_or(0);
                (seq, Entry::parse(entry))
            })
            .collect();
        batches.insert(key.key, batch);
    }
    watchers.retain(|_, w| {
        let Some(batch) = batches.get(&w.key) else {
            return true;
        };
        // An entry this crate cannot read ends the follower (it yields
        // what precedes it, then the error): the cursor could not move
        // past it anyway.
        let corrupt = batch.iter().any(|(_, entry)| entry.is_err());
        let last = batch.iter().map(|&(seq, _)| seq).max().unwrap_or(0);
        if (last <= w.seq && !corrupt) || !has_room(w) {
            // Nothing new for it (another follower of the stream is
            // replaying further back), or no room: it is read again from
            // its own cursor later.
            return true;
        }
        let sent = w.deliveries.try_send(Delivery::Entries(batch.clone()));
        if sent.is_ok() {
            w.seq = last;
            w.fed = true;
        }
        !corrupt
    });
}

fn fail_all(watchers: &mut HashMap<u64, Watcher>, e: Error) {
    for (_, w) in watchers.drain() {
        let _ = w.deliveries.try_send(Delivery::Failed(e.clone()));
    }
}
