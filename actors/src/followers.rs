//! A stream's followers (the accumulator and the tool parser), each started
//! on its arbiter only once it has something to do.
//!
//! Why not start them with the stream: they are lazy followers of the log,
//! nudged once per batch of chunks (64 or 1,024, see `provider_actor`) and
//! at the end, so a stream shorter than a batch, nobody asking for a
//! snapshot or watching its tool calls, gives them nothing to do before
//! its end. Started anyway, each cost an actix mailbox, a task on the
//! arbiter and a dozen allocations (5,000 streams of 50 chunks: 29 of the
//! 80 allocation calls per stream above the floor client's, heaptrack), and
//! 2 KiB per stream in flight (500 streams, heaptrack at the heap's peak).
//! Such a stream's followers are never started: at the end the provider
//! drops them, and a dropped follower folds the log and publishes what it
//! holds (its `Drop`), exactly what the actor would have done on its last
//! nudge.
//!
//! The parked actor sits behind a mutex, taken once to start it or end it
//! and on each nudge (an uncontended lock: the provider is the only
//! nudger; a handle takes it only to start a follower it asks something).

use std::sync::Mutex;

use actix::dev::channel::channel;
use actix::{Actor, Addr, Context, Handler, Message};
use actix_rt::ArbiterHandle;

use crate::accumulator::Accumulator;
use crate::messages::CatchUp;
use crate::shared::Shared;
use crate::stats::lock;
use crate::tool_parser::ToolParser;

/// The accumulator and the tool parser of one stream. Shared by the
/// provider actor (which nudges and ends them) and the stream's handles
/// (which ask them), never by the followers themselves: no cycle keeps a
/// parked follower alive.
pub(crate) struct Followers {
    pub(crate) acc: Lazy<Accumulator>,
    pub(crate) tools: Lazy<ToolParser>,
}

impl Followers {
    pub(crate) fn new(acc: Accumulator, tools: ToolParser, arbiter: ArbiterHandle) -> Self {
        Followers {
            acc: Lazy::new(acc, arbiter.clone()),
            tools: Lazy::new(tools, arbiter),
        }
    }

    /// A batch of chunks is in the log: both fold it, started if they were
    /// not (with a window the log cannot trim past them).
    pub(crate) fn nudge(&self) {
        self.acc.nudge_or_start();
        self.tools.nudge_or_start();
    }

    /// The stream has ended: see [`Lazy::end`]. The tool parser first:
    /// the response's publication wakes whoever awaits `finish()`, who
    /// may ask for the tool calls next, and should find them published
    /// rather than start a parser for them.
    pub(crate) fn end(&self) {
        self.tools.end();
        self.acc.end();
    }
}

/// An actor that has not started yet, or its address.
pub(crate) struct Lazy<A: Actor<Context = Context<A>>> {
    slot: Mutex<LazyState<A>>,
    arbiter: ArbiterHandle,
}

enum LazyState<A: Actor<Context = Context<A>>> {
    Parked(A),
    Started(Addr<A>),
    /// Ended while parked: it was dropped, and published as it went.
    Ended,
}

/// actix's default mailbox capacity (`actix::dev::DEFAULT_CAPACITY` is
/// not public), which `Actor::start_in_arbiter` would use.
const MAILBOX_CAPACITY: usize = 16;

impl<A> Lazy<A>
where
    A: Actor<Context = Context<A>> + Handler<CatchUp> + Send,
{
    fn new(actor: A, arbiter: ArbiterHandle) -> Self {
        Lazy {
            slot: Mutex::new(LazyState::Parked(actor)),
            arbiter,
        }
    }

    /// The actor's address, starting it on its arbiter if it is parked.
    /// `None` once the stream has ended without it: what it would answer
    /// is published in the stream's shared state, or about to be.
    ///
    /// The address is made here, so a message sent at once waits in the
    /// mailbox until the actor runs. If the arbiter is gone, the actor is
    /// dropped with the closure that would have run it, and publishes.
    pub(crate) fn addr(&self) -> Option<Addr<A>> {
        let mut slot = lock(&self.slot);
        let actor = match std::mem::replace(&mut *slot, LazyState::Ended) {
            LazyState::Parked(actor) => actor,
            other => {
                let addr = match &other {
                    LazyState::Started(addr) => Some(addr.clone()),
                    _ => None,
                };
                *slot = other;
                return addr;
            }
        };
        let (tx, rx) = channel(MAILBOX_CAPACITY);
        let addr = Addr::new(tx);
        *slot = LazyState::Started(addr.clone());
        drop(slot);
        self.arbiter.spawn_fn(move || {
            Context::with_receiver(rx).run(actor);
        });
        Some(addr)
    }

    /// Asks the actor `msg`, starting it if it is parked. Once it has
    /// stopped, or the stream ended without it, the answer is what it
    /// published, read from the stream's shared state by `published`: a
    /// follower publishes before it stops or when it is dropped, so that
    /// value is there or coming.
    pub(crate) async fn ask<M, T>(
        &self,
        msg: M,
        shared: &Shared,
        mut published: impl FnMut(&Shared) -> Option<T>,
    ) -> T
    where
        A: Handler<M>,
        M: Message<Result = T> + Send + 'static,
        T: Send + 'static,
    {
        if let Some(value) = published(shared) {
            return value;
        }
        if let Some(addr) = self.addr() {
            if let Ok(value) = addr.send(msg).await {
                return value;
            }
        }
        shared.wait_for(published).await
    }

    /// Tells a started actor to look at the log; a parked one is left
    /// parked (it reads the log from where it is whenever it starts).
    pub(crate) fn nudge(&self) {
        if let LazyState::Started(addr) = &*lock(&self.slot) {
            addr.do_send(CatchUp);
        }
    }

    fn nudge_or_start(&self) {
        if let Some(addr) = self.addr() {
            addr.do_send(CatchUp);
        }
    }

    /// The stream has ended (its outcome is in the log): a started actor
    /// is nudged to fold the rest, publish and stop; a parked one is
    /// dropped here, which does the same on this thread.
    fn end(&self) {
        let parked = {
            let mut slot = lock(&self.slot);
            match &*slot {
                LazyState::Started(addr) => {
                    addr.do_send(CatchUp);
                    return;
                }
                LazyState::Ended => return,
                LazyState::Parked(_) => std::mem::replace(&mut *slot, LazyState::Ended),
            }
        };
        // Outside the lock: publishing wakes whoever waits for the end.
        drop(parked);
    }
}
