//! The mirror: one task per mirrored stream, copying it into Redis.
//!
//! The task owns everything it needs (the stream's handle and a detached
//! subscription, its keys, its place in the log); [`Mirror`] is a cheap
//! handle that watches it. One loop:
//!
//! 1. claim the id (a Lua script: the lease and the meta hash, unless
//!    another node owns the id), then
//! 2. wait for the next event (or the lease's refresh time), take every
//!    other event that is ready without waiting, and send them as one
//!    write: one request per batch, however busy the stream, and the
//!    node's writer (`writer.rs`) sends the batches of every mirror that
//!    are ready at once in one round trip. When a
//!    third of the lease has passed since they last did, the lease and the
//!    copy's expiry are renewed and the copy and the cancel flag checked,
//!    in the same write. A write of chunks alone is not waited for: the
//!    writer confirms its chunks, and the mirror reads the answer (almost
//!    always there by then) before it sends the next, so each chunk wakes
//!    the task once;
//! 3. after the end's write is answered, stop.
//!
//! Every write is idempotent (entries carry their offsets as ids; `XADD`
//! of an id already there is refused and counts as done), so a pipeline
//! whose reply was lost is simply sent again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::{FutureExt, StreamExt};
use redis::{Cmd, Pipeline, Value};
use rivulet::{Event, Outcome, Policy, StreamHandle, Subscription};
use tokio::sync::watch;
use tokio::task::AbortHandle;
use tokio::time::{sleep, sleep_until};

use crate::error::within;
use crate::keys::{EntryId, Keys};
use crate::listener::Command;
use crate::metrics::{Counters, MirrorCounters};
use crate::record::{push_chunk_json, EndRecord, CHUNK, END, TYPE};
use crate::writer::{refused, Confirm, Failed, Pending};
use crate::Node;

/// Claims stream `ARGV[6]` for node `ARGV[1]`: takes the lease and writes
/// the meta hash and the index entry, unless another node holds the lease
/// or is named in an existing meta hash. Returns nil when claimed (again,
/// for a retry whose reply was lost), or the other owner.
/// Loads the claim script into Redis (`SCRIPT LOAD`), retrying every
/// second until Redis takes it, then sets `loaded`. A node runs it once,
/// as it starts; it stops early when the node is gone (it holds the only
/// `loaded` left).
pub(crate) async fn load_claim_script(
    mut conn: redis::aio::ConnectionManager,
    loaded: Arc<AtomicBool>,
    timeout: Duration,
) {
    while Arc::strong_count(&loaded) > 1 {
        let mut load = redis::cmd("SCRIPT");
        load.arg("LOAD").arg(CLAIM);
        if within(timeout, load.query_async::<String>(&mut conn))
            .await
            .is_ok()
        {
            loaded.store(true, Ordering::Release);
            return;
        }
        sleep(Duration::from_secs(1)).await;
    }
}

/// The hash of [`CLAIM`], by which claims invoke it once Redis has it.
static CLAIM_SHA: LazyLock<String> =
    LazyLock::new(|| redis::Script::new(CLAIM).get_hash().to_string());

const CLAIM: &str = r"
local lease = redis.call('GET', KEYS[1])
if lease and lease ~= ARGV[1] then return lease end
local owner = redis.call('HGET', KEYS[2], 'owner')
if owner and owner ~= ARGV[1] then return owner end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('HSET', KEYS[2], 'model', ARGV[3], 'owner', ARGV[1], 'started', ARGV[4], 'status', 'running')
redis.call('PEXPIRE', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[6])
return false
";

/// Closes the copy of a mirror that gave up: appends the failed end after
/// whatever made it into the log (which may be more than was confirmed: a
/// pipeline whose reply was lost), sets the status and expiry and lets the
/// lease go. Idempotent (a log that already ends is left alone) and only
/// for the copy this node registered: a Redis that lost it (restarted
/// empty) gets no stray keys. Returns 1 when it closed the copy, 2 when
/// the copy already ended (an earlier try whose reply was lost), 0 when
/// the copy is not this node's.
const CLOSE_LOST: &str = r"
if redis.call('HGET', KEYS[2], 'owner') ~= ARGV[1] then return 0 end
local seq = 0
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
if last then
  if last[2][1] == 'end' then return 2 end
  seq = tonumber(string.match(last[1], '^0%-(%d+)$')) or 0
end
redis.call('XADD', KEYS[1], '0-' .. (seq + 1), 'end', ARGV[2])
redis.call('HSET', KEYS[2], 'status', 'failed', 'ended', ARGV[3], 'chunks', seq)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('DEL', KEYS[3])
return 1
";

/// How a mirror ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MirrorEnd {
    /// Every chunk and the stream's end are in Redis.
    Complete,
    /// Another node owns this id; nothing was written.
    Refused {
        /// The node that owns it.
        owner: String,
    },
    /// It gave up ([`Config::max_lag`](crate::Config::max_lag) or
    /// [`Config::max_outage`](crate::Config::max_outage)); the local stream
    /// went on unaffected.
    Lost {
        /// Why, as the failure in Redis says.
        reason: String,
        /// Whether that failure made it into Redis as the copy's end (if
        /// not, other nodes see the lease expire instead, or, when Redis
        /// lost the copy, nothing).
        recorded: bool,
    },
    /// [`Mirror::abort`] stopped it: nothing more was written, so other
    /// nodes see the lease expire, as for a node that died.
    Aborted,
}

/// Where a mirror is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MirrorState {
    /// Claiming the id in Redis.
    Starting,
    /// Registered: other nodes can find, follow and cancel the stream.
    Registered,
    /// Done; nothing more is written.
    Ended(MirrorEnd),
}

/// What one mirror has done so far (see [`Mirror::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MirrorStats {
    /// Chunks Redis has confirmed.
    pub chunks: u64,
    /// Requests sent (its pipelines and the claim, retries included). The
    /// node's writer sends the pipelines of all its mirrors that are ready
    /// together, so several streams' requests may share one round trip
    /// ([`Metrics::round_trips`](crate::Metrics::round_trips) counts those).
    pub round_trips: u64,
    /// Chunks in the local log not yet confirmed, at the last step.
    pub lag: u64,
}

/// A handle on one stream's mirror, from [`Node::mirror`]. Cheap to clone;
/// dropping it does not stop the mirror.
#[derive(Clone)]
pub struct Mirror {
    state: watch::Receiver<MirrorState>,
    stats: Arc<MirrorCounters>,
    task: AbortHandle,
}

impl Mirror {
    /// Where the mirror is now.
    pub fn state(&self) -> MirrorState {
        self.state.borrow().clone()
    }

    /// Waits until the stream is registered in Redis (other nodes can then
    /// find it; `Ok` also when the mirror has ended since), or the mirror
    /// ended without registering it (the reason). While Redis is down this
    /// waits up to [`Config::max_outage`](crate::Config::max_outage): bound
    /// it with a timeout where a caller is waiting.
    pub async fn registered(&self) -> Result<(), MirrorEnd> {
        let mut state = self.state.clone();
        let seen = state
            .wait_for(|s| !matches!(s, MirrorState::Starting))
            .await
            .map(|s| s.clone());
        match seen {
            _ if self.stats.registered.load(Ordering::Acquire) => Ok(()),
            Ok(MirrorState::Ended(end)) => Err(end),
            Ok(_) => Ok(()),
            // The task is gone without a word: it was aborted.
            Err(_) => Err(MirrorEnd::Aborted),
        }
    }

    /// Waits until the mirror is done, and says how it ended.
    pub async fn done(&self) -> MirrorEnd {
        let mut state = self.state.clone();
        let seen = state
            .wait_for(|s| matches!(s, MirrorState::Ended(_)))
            .await
            .map(|s| s.clone());
        match seen {
            Ok(MirrorState::Ended(end)) => end,
            _ => MirrorEnd::Aborted,
        }
    }

    /// What it has done so far.
    pub fn stats(&self) -> MirrorStats {
        MirrorStats {
            chunks: self.stats.chunks.load(Ordering::Relaxed),
            round_trips: self.stats.round_trips.load(Ordering::Relaxed),
            lag: self.stats.lag.load(Ordering::Relaxed),
        }
    }

    /// Stops mirroring at once, writing nothing more: not the end, not the
    /// lease. Other nodes then see what they would see if this node died:
    /// the lease expires and their followers end with a failure naming this
    /// node. The local stream is unaffected.
    pub fn abort(&self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror")
            .field("state", &self.state())
            .field("stats", &self.stats())
            .finish()
    }
}

pub(crate) fn spawn(node: Node, id: &str, model: &str, stream: StreamHandle) -> Mirror {
    let (state_tx, state) = watch::channel(MirrorState::Starting);
    let stats = Arc::new(MirrorCounters::default());
    let capacity = node.config().batch.clamp(1, 1024);
    node.counters()
        .mirrors_running
        .fetch_add(1, Ordering::Relaxed);
    node.tell_listener(Command::Register(id.to_string(), stream.clone()));
    let task = Task {
        keys: Keys::new(&node.config().prefix, id),
        id: id.to_string(),
        model: model.to_string(),
        subscription: Some(stream.subscribe(Policy::Detached { capacity })),
        stream: Some(stream),
        next_offset: 0,
        json_hint: 0,
        reported_lag: 0,
        settled: false,
        refreshed: None,
        stats: stats.clone(),
        state: state_tx,
        node,
    };
    let handle = tokio::spawn(task.run());
    Mirror {
        state,
        stats,
        task: handle.abort_handle(),
    }
}

/// The mirror task's state. Its `Drop` does the bookkeeping, so an aborted
/// task leaves the node's gauges and listener right too.
struct Task {
    node: Node,
    keys: Keys,
    id: String,
    model: String,
    /// Dropped when the mirror gives up, so the stream is no longer held.
    stream: Option<StreamHandle>,
    subscription: Option<Subscription>,
    /// The offset after the last chunk taken from the subscription.
    next_offset: u64,
    /// The length of the last chunk's JSON line: room for the next one's,
    /// so that its command is one allocation.
    json_hint: usize,
    /// The lag last added to the node's gauge.
    reported_lag: u64,
    /// Taken off the node's books (see `settle`).
    settled: bool,
    /// When the lease and the copy's expiry were last renewed by a write.
    refreshed: Option<Instant>,
    stats: Arc<MirrorCounters>,
    state: watch::Sender<MirrorState>,
}

/// Why a mirror gives up, and whether to close its copy in Redis.
struct Loss {
    reason: String,
    record: bool,
}

impl Loss {
    /// Gave up on a bound: the copy is closed with a failure.
    fn gave_up(reason: impl Into<String>) -> Loss {
        Loss {
            reason: reason.into(),
            record: true,
        }
    }
}

/// What one write carries.
#[derive(Default)]
struct WriteBatch {
    /// An `XADD` per chunk.
    chunks: Vec<Cmd>,
    end: Option<Outcome>,
}

/// A write sent, and what to do with its answer.
struct InFlight {
    pending: Pending,
    /// The chunks it carries and the offset after them, to send again.
    confirm: Option<(u64, u64)>,
    /// It carries the lease's checks (the copy exists, the cancel flag),
    /// whose replies are its last two.
    checked: bool,
}

impl Task {
    async fn run(mut self) {
        let end = match self.mirror().await {
            Ok(end) => end,
            // Boxed, as the claim and each send: the task lives as long
            // as its stream, and inline it would keep room for them all.
            Err(loss) => Box::pin(self.lose(loss)).await,
        };
        // The books first: whoever sees the end sees them right.
        self.settle();
        self.state.send_replace(MirrorState::Ended(end));
    }

    /// Takes this mirror off the node's gauges and the listener's map,
    /// once.
    fn settle(&mut self) {
        if self.settled {
            return;
        }
        self.settled = true;
        let counters = self.node.counters();
        counters
            .lag_chunks
            .fetch_sub(self.reported_lag as i64, Ordering::Relaxed);
        self.reported_lag = 0;
        counters.mirrors_running.fetch_sub(1, Ordering::Relaxed);
        self.node
            .tell_listener(Command::Unregister(self.id.clone()));
    }

    /// Claims the id, then copies the stream to its end. `Err` is why it
    /// gave up.
    async fn mirror(&mut self) -> Result<MirrorEnd, Loss> {
        if let Some(owner) = Box::pin(self.claim()).await? {
            return Ok(MirrorEnd::Refused { owner });
        }
        self.stats.registered.store(true, Ordering::Release);
        self.state.send_replace(MirrorState::Registered);
        let refresh = self.node.config().lease / 3;
        // One timer for the mirror's life, moved only when a write renews
        // the lease: a new one per wait was a timer-wheel insert and
        // removal per chunk.
        let mut due = self.renewal_due(refresh);
        let idle = sleep_until(due);
        tokio::pin!(idle);
        // The last write sent, whose answer is looked at only when there
        // is more to send (or to end): it almost always came meanwhile, and
        // awaiting it then costs nothing, where waiting for it as soon as
        // it was sent woke this task a second time per write. The round
        // that sent it has already confirmed its chunks (see `writer.rs`);
        // what is left is the rare failure, sent again before anything
        // newer, so that Redis gets every write in order.
        let mut in_flight: Option<InFlight> = None;
        loop {
            let mut batch = WriteBatch::default();
            let Some(subscription) = self.subscription.as_mut() else {
                return Err(Loss::gave_up("the subscription is gone"));
            };
            let first = tokio::select! {
                event = subscription.next() => Some(event),
                // Nothing written for a third of the lease: renew it alone.
                () = &mut idle => None,
            };
            if let Some(sent) = in_flight.take() {
                Box::pin(self.answered(sent)).await?;
            }
            if let Some(event) = first {
                self.take(&mut batch, event);
            }
            let cap = self.node.config().batch.max(1);
            while batch.end.is_none() && batch.chunks.len() < cap {
                let Some(subscription) = self.subscription.as_mut() else {
                    break;
                };
                match subscription.next().now_or_never() {
                    Some(event) => self.take(&mut batch, event),
                    None => break,
                }
            }
            let ended = batch.end.is_some();
            let sent = self.send(batch);
            if ended || sent.checked {
                // The end's answer says the mirror is complete, and the
                // checks' replies are read at once: a cancel found there
                // should not wait for the next chunk. Boxed: a wait for an
                // answer (a retry's backoff) is rare, while a mirror waits for
                // chunks most of its life; inline, every mirror's task
                // would keep room for it.
                Box::pin(self.answered(sent)).await?;
                if ended {
                    return Ok(MirrorEnd::Complete);
                }
            } else {
                in_flight = Some(sent);
            }
            let next = self.renewal_due(refresh);
            if next != due {
                due = next;
                idle.as_mut().reset(due);
            }
        }
    }

    /// When the lease is next due for renewal: a third of it after the
    /// last write that renewed it (or from now, before the first).
    fn renewal_due(&self, refresh: Duration) -> tokio::time::Instant {
        let since = self.refreshed.unwrap_or_else(Instant::now);
        tokio::time::Instant::from_std(since + refresh)
    }

    /// Adds one event to the batch.
    fn take(&mut self, batch: &mut WriteBatch, event: Option<Event>) {
        match event {
            Some(Event::Chunk(chunk)) => {
                let offset = chunk.offset();
                self.next_offset = offset + 1;
                let id = EntryId::new(offset);
                let type_name = chunk.type_name();
                let (key, hint) = (&self.keys.log, self.json_hint);
                // The command holds the line: sized for it (by the last
                // one's length), it is one allocation, not a few.
                let room = 4 + key.len() + id.len() + TYPE.len() + type_name.len() + CHUNK.len();
                let mut xadd = Cmd::with_capacity(7, room + hint + hint / 4);
                xadd.arg("XADD")
                    .arg(key)
                    .arg(id.as_str())
                    .arg(TYPE)
                    .arg(type_name)
                    .arg(CHUNK);
                push_chunk_json(&mut xadd, &chunk);
                self.json_hint = match xadd.args_iter().last() {
                    Some(redis::Arg::Simple(line)) => line.len(),
                    _ => 0,
                };
                batch.chunks.push(xadd);
            }
            // Only a windowed log loses chunks; the offsets written show
            // the gap.
            Some(Event::Missed(_)) => {}
            Some(Event::End(outcome)) => batch.end = Some(outcome),
            // A subscription ends after its end event; this is defensive.
            None => {
                batch.end = Some(Outcome::failed(rivulet::Error::connection(
                    "the stream's log closed without an end",
                )))
            }
        }
    }

    /// Runs the claim script until it answers (or the mirror gives up):
    /// `None` when this node owns the id.
    ///
    /// The script goes by its hash (`EVALSHA`) once the node has loaded it
    /// into Redis ([`load_claim_script`]): its 1.2 KiB of text would
    /// otherwise travel with every stream's claim, and be held twice in
    /// memory while it does. A Redis that does not have it (restarted
    /// since) answers `NOSCRIPT`, and the claim sends the text, which
    /// caches it again; so does a claim before the node has loaded it, or
    /// while Redis is unreachable, with the retries of every write.
    async fn claim(&mut self) -> Result<Option<String>, Loss> {
        if self.node.claim_script_loaded() {
            self.count_round_trip();
            let timeout = self.node.config().request_timeout;
            let mut conn = self.node.conn();
            let mut pipe = pipeline();
            pipe.add_command(self.claim_command(true));
            match within(timeout, pipe.query_async::<Vec<Value>>(&mut conn)).await {
                Ok(reply) if refused(&reply).is_none() => {
                    return Ok(reply.first().and_then(crate::record::text));
                }
                _ => Counters::add(&self.node.counters().errors, 1),
            }
        }
        let reply = self.request(vec![self.claim_command(false)]).await?;
        Ok(reply.first().and_then(crate::record::text))
    }

    /// The claim, by the script's hash (`by_hash`) or with its text.
    fn claim_command(&self, by_hash: bool) -> Cmd {
        let config = self.node.config();
        let (command, script) = if by_hash {
            ("EVALSHA", CLAIM_SHA.as_str())
        } else {
            ("EVAL", CLAIM)
        };
        let mut claim = redis::cmd(command);
        claim
            .arg(script)
            .arg(3)
            .arg(&self.keys.owner)
            .arg(&self.keys.meta)
            .arg(crate::keys::index(&config.prefix))
            .arg(&config.node_id)
            .arg(millis(config.lease))
            .arg(&self.model)
            .arg(now_ms())
            .arg(millis(config.retention))
            .arg(&self.id);
        claim
    }

    /// Sends one batch with the lease refresh (or, with the end, the
    /// closing writes) through the node's writer, without waiting for
    /// Redis: [`answered`](Self::answered) looks at the answer.
    fn send(&mut self, batch: WriteBatch) -> InFlight {
        let config = self.node.config();
        let WriteBatch {
            chunks: mut commands,
            end,
        } = batch;
        // The chunks and the offset after the last of them, which is the
        // next one to take.
        let confirm = (!commands.is_empty()).then_some((commands.len() as u64, self.next_offset));
        let mut checked = false;
        match &end {
            Some(outcome) => {
                let record = EndRecord::new(outcome);
                let mut xadd = redis::cmd("XADD");
                xadd.arg(&self.keys.log)
                    .arg(EntryId::new(self.next_offset).as_str())
                    .arg(END)
                    .arg(record.to_json());
                commands.push(xadd);
                self.close(&mut commands, &record.status, self.next_offset);
            }
            None => {
                // The renewals and checks ride along only when a third of
                // the lease has passed since they last did, on the first
                // write (which creates the log) and on a write with no
                // chunk (the refresh of an idle stream): at a chunk or two
                // per round trip they were four of a write's six commands.
                let refresh = config.lease / 3;
                if confirm.is_none() || self.refreshed.is_none_or(|t| t.elapsed() >= refresh) {
                    checked = true;
                    let mut set = redis::cmd("SET");
                    set.arg(&self.keys.owner)
                        .arg(&config.node_id)
                        .arg("PX")
                        .arg(millis(config.lease));
                    commands.push(set);
                    self.expire(&mut commands);
                    self.refreshed = Some(Instant::now());
                    // Whether Redis still has the copy (one restarted
                    // without persistence has lost it).
                    let mut exists = redis::cmd("EXISTS");
                    exists.arg(&self.keys.meta);
                    // The fallback for a cancel whose message was missed.
                    let mut cancel = redis::cmd("HGET");
                    cancel.arg(&self.keys.meta).arg("cancel");
                    commands.extend([exists, cancel]);
                }
            }
        }
        InFlight {
            pending: self.submit(commands, confirm),
            confirm,
            checked,
        }
    }

    /// Waits for a write's answer (sending it again until Redis takes it,
    /// or the mirror gives up), then does what its replies say.
    async fn answered(&mut self, sent: InFlight) -> Result<(), Loss> {
        let InFlight {
            pending,
            confirm,
            checked,
        } = sent;
        let reply = self.retry(pending, confirm).await?;
        self.report_lag();
        if checked {
            if let [.., exists, cancel] = reply.as_slice() {
                if matches!(exists, Value::Int(0)) {
                    return Err(Loss {
                        reason: "its copy vanished from Redis (restarted empty, or evicted)".into(),
                        record: false,
                    });
                }
                if crate::record::text(cancel).as_deref() == Some("1") {
                    if let Some(stream) = &self.stream {
                        tracing::debug!(stream = %self.id, "cancel found in the meta hash");
                        stream.cancel();
                    }
                }
            }
        }
        if self.lag() > self.node.config().max_lag {
            return Err(Loss::gave_up(format!(
                "it fell more than {} chunks behind",
                self.node.config().max_lag
            )));
        }
        Ok(())
    }

    /// The closing writes after the terminal entry: the status, the
    /// retention, and the lease let go.
    fn close(&self, commands: &mut Vec<Cmd>, status: &str, chunks: u64) {
        let mut hset = redis::cmd("HSET");
        hset.arg(&self.keys.meta)
            .arg("status")
            .arg(status)
            .arg("ended")
            .arg(now_ms())
            .arg("chunks")
            .arg(chunks);
        commands.push(hset);
        self.expire(commands);
        let mut del = redis::cmd("DEL");
        del.arg(&self.keys.owner);
        commands.push(del);
    }

    /// The log and the meta hash expire the retention after this write.
    fn expire(&self, commands: &mut Vec<Cmd>) {
        let retention = millis(self.node.config().retention);
        for key in [&self.keys.log, &self.keys.meta] {
            let mut expire = redis::cmd("PEXPIRE");
            expire.arg(key).arg(retention);
            commands.push(expire);
        }
    }

    /// One more request to Redis sent alone (not through the node's
    /// writer), on this mirror's books and the node's.
    fn count_round_trip(&self) {
        self.stats.round_trips.fetch_add(1, Ordering::Relaxed);
        Counters::add(&self.node.counters().round_trips, 1);
    }

    /// Hands `commands` to the node's writer (with the other mirrors'
    /// writes of its round); `confirm` is the chunks they carry and the
    /// offset after them.
    fn submit(&self, commands: Vec<Cmd>, confirm: Option<(u64, u64)>) -> Pending {
        // The node counts the writer's rounds; this mirror, its tries.
        self.stats.round_trips.fetch_add(1, Ordering::Relaxed);
        let confirm = confirm.map(|(chunks, through)| Confirm {
            mirror: self.stats.clone(),
            chunks,
            through,
        });
        self.node.writer().send(commands, confirm)
    }

    /// Sends `commands` and waits until Redis takes all of them (see
    /// [`retry`](Self::retry)).
    async fn request(&mut self, commands: Vec<Cmd>) -> Result<Vec<Value>, Loss> {
        let pending = self.submit(commands, None);
        self.retry(pending, None).await
    }

    /// Waits for a write's answer, sending it again until Redis takes all
    /// of it, with backoff (50 ms doubling to 1 s); `Err` once the mirror
    /// is past its lag or outage bound.
    async fn retry(
        &mut self,
        mut pending: Pending,
        confirm: Option<(u64, u64)>,
    ) -> Result<Vec<Value>, Loss> {
        let (max_outage, max_lag) = {
            let c = self.node.config();
            (c.max_outage, c.max_lag)
        };
        let mut backoff = Duration::from_millis(50);
        let mut failing_since: Option<Instant> = None;
        loop {
            let Failed { why, commands } = match pending.answer().await {
                Some(Ok(reply)) => return Ok(reply),
                Some(Err(failed)) => failed,
                // The writer is gone with the write: nothing to send again.
                None => return Err(Loss::gave_up("the node's writer has stopped")),
            };
            Counters::add(&self.node.counters().errors, 1);
            tracing::debug!(stream = %self.id, "mirror write failed: {why}");
            let since = *failing_since.get_or_insert_with(Instant::now);
            self.report_lag();
            if since.elapsed() >= max_outage {
                return Err(Loss::gave_up(format!(
                    "Redis failed for {max_outage:?} (last: {why})"
                )));
            }
            if self.lag() > max_lag {
                return Err(Loss::gave_up(format!(
                    "it fell more than {max_lag} chunks behind (last: {why})"
                )));
            }
            sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
            pending = self.submit(commands, confirm);
        }
    }

    /// Gives up: lets the stream go, and closes the copy in Redis with a
    /// failure saying why, if Redis takes it within another outage bound.
    async fn lose(&mut self, loss: Loss) -> MirrorEnd {
        let Loss { reason, record } = loss;
        tracing::warn!(stream = %self.id, "mirror lost: {reason}");
        Counters::add(&self.node.counters().mirrors_lost, 1);
        self.subscription = None;
        self.stream = None;
        self.node
            .tell_listener(Command::Unregister(self.id.clone()));
        if !record {
            return MirrorEnd::Lost {
                reason,
                recorded: false,
            };
        }
        let config = self.node.config();
        let error = rivulet::Error::connection(format!(
            "the mirror of this stream on node {} was lost: {reason}; the rest of the stream is \
             not in the shared log",
            config.node_id,
        ));
        let mut close = redis::cmd("EVAL");
        close
            .arg(CLOSE_LOST)
            .arg(3)
            .arg(&self.keys.log)
            .arg(&self.keys.meta)
            .arg(&self.keys.owner)
            .arg(&config.node_id)
            .arg(EndRecord::new(&Outcome::failed(error)).to_json())
            .arg(now_ms())
            .arg(millis(config.retention));
        let recorded = matches!(
            self.request(vec![close]).await.as_deref(),
            Ok([Value::Int(1 | 2)])
        );
        MirrorEnd::Lost { reason, recorded }
    }

    /// Chunks in the local log not yet confirmed.
    fn lag(&self) -> u64 {
        let len = self.stream.as_ref().map_or(0, |s| s.len() as u64);
        len.saturating_sub(self.stats.confirmed.load(Ordering::Relaxed))
    }

    /// Moves the node's lag gauge by this mirror's change.
    fn report_lag(&mut self) {
        let lag = self.lag();
        self.stats.lag.store(lag, Ordering::Relaxed);
        let delta = lag as i64 - self.reported_lag as i64;
        self.node
            .counters()
            .lag_chunks
            .fetch_add(delta, Ordering::Relaxed);
        self.reported_lag = lag;
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        self.settle();
        // Dropped before `run` set an end: aborted.
        self.state.send_if_modified(|s| {
            if matches!(s, MirrorState::Ended(_)) {
                false
            } else {
                *s = MirrorState::Ended(MirrorEnd::Aborted);
                true
            }
        });
    }
}

/// A pipeline whose reply holds every command's result, errors included
/// (see [`refused`]).
fn pipeline() -> Pipeline {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    pipe
}

fn millis(d: Duration) -> u64 {
    d.as_millis().max(1) as u64
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
