//! The cancel listener: one task per node that owns the map of the node's
//! mirrored streams and cancels one when its id arrives on the node's
//! channel.
//!
//! The pushes come over the node's shared RESP3 connection, whose manager
//! resubscribes after a reconnect; the listener pings once a second so
//! that a lost connection is noticed (and re-established, and
//! resubscribed) even while no mirror writes.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Msg, PushInfo, PushKind};
use rivulet::StreamHandle;
use tokio::sync::mpsc;

use crate::error::within;
use crate::metrics::Counters;

/// What a mirror tells the listener.
pub(crate) enum Command {
    /// Stream `id` runs here: cancel it when asked.
    Register(String, StreamHandle),
    /// Stream `id` is no longer mirrored.
    Unregister(String),
}

pub(crate) struct Listener {
    pub conn: ConnectionManager,
    pub channel: String,
    pub pushes: mpsc::UnboundedReceiver<PushInfo>,
    pub commands: mpsc::UnboundedReceiver<Command>,
    pub counters: Arc<Counters>,
    pub timeout: Duration,
}

/// How often the listener checks its connection (and subscribes, until it
/// has).
const CHECK: Duration = Duration::from_secs(1);

pub(crate) async fn run(mut l: Listener) {
    let mut local: HashMap<String, StreamHandle> = HashMap::new();
    let mut subscribed = false;
    let mut check = tokio::time::interval(CHECK);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            command = l.commands.recv() => match command {
                Some(Command::Register(id, handle)) => {
                    local.insert(id, handle);
                }
                Some(Command::Unregister(id)) => {
                    local.remove(&id);
                }
                // Every Node clone (and so every mirror) is gone.
                None => break,
            },
            Some(push) = l.pushes.recv() => match push.kind {
                PushKind::Message => {
                    let Some(msg) = Msg::from_push_info(push) else { continue };
                    if msg.get_channel_name() != l.channel {
                        continue;
                    }
                    let Ok(id) = msg.get_payload::<String>() else { continue };
                    if let Some(handle) = local.get(&id) {
                        tracing::debug!(stream = %id, "cancel requested by another node");
                        handle.cancel();
                    }
                }
                PushKind::Disconnection => Counters::add(&l.counters.reconnects, 1),
                _ => {}
            },
            _ = check.tick() => {
                // The first tick is at once: subscribe before anything else.
                let result = if subscribed {
                    within(l.timeout, redis::cmd("PING").query_async::<()>(&mut l.conn)).await
                } else {
                    within(l.timeout, l.conn.subscribe(&l.channel)).await
                };
                match result {
                    Ok(()) => subscribed = true,
                    Err(e) => {
                        Counters::add(&l.counters.errors, 1);
                        tracing::debug!("cancel listener: {e}");
                    }
                }
            }
        }
    }
}
