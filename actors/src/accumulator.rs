//! The accumulator actor: folds the log into the stream's [`Response`].
//!
//! It is a lazy follower: the provider nudges it once per batch of chunks
//! (and at the end) instead of waking it per chunk, and a `snapshot()`
//! makes it catch up before answering. When the stream ends it publishes
//! the final response into the stream's shared state and stops, so later
//! `snapshot()`/`finish()` calls need no actor.

use std::sync::Arc;

use actix::{Actor, ActorContext, Context, Handler, MessageResult};
use rivulet_core::Response;

use crate::log::Follower;
use crate::messages::{CatchUp, Snapshot};
use crate::shared::Shared;
use crate::stats::{lock, Member};

/// The fold itself, separate from the actor so that it publishes whatever
/// it has when dropped: if the arbiter is torn down (shutdown) or the actor
/// never starts, `finish()` still gets a response instead of waiting forever.
pub(crate) struct Fold {
    shared: Arc<Shared>,
    response: Response,
    cursor: u64,
    published: bool,
}

impl Fold {
    pub(crate) fn new(shared: Arc<Shared>, response: Response) -> Self {
        Fold {
            shared,
            response,
            cursor: 0,
            published: false,
        }
    }

    /// Folds every entry up to the log's end. Returns whether the stream has
    /// ended (everything has then been folded).
    fn catch_up(&mut self) -> bool {
        // A deferred request's messages become the input once known.
        if self.response.input.is_empty() {
            if let Some(input) = self.shared.input.get() {
                self.response.input.clone_from(input);
            }
        }
        // Before the first chunk the model may still change (a fallback
        // answering): the response names the one being tried. Once chunks
        // arrive it cannot change, and the wire's own model name wins.
        if self.cursor == 0 {
            if let Some(r) = lock(&self.shared.routing).as_deref() {
                self.response.provider.clone_from(&r.provider_id);
                self.response.model.clone_from(&r.model);
            }
        }
        // Folded under the log's lock: no copy of the batch, no reference
        // count touched per chunk.
        let response = &mut self.response;
        self.shared
            .log
            .follow(Follower::Accumulator, &mut self.cursor, |chunk| {
                response.apply(chunk)
            })
    }

    fn publish(&mut self) {
        if !self.published {
            self.published = true;
            self.shared
                .publish_response(std::mem::take(&mut self.response));
        }
    }
}

impl Drop for Fold {
    fn drop(&mut self) {
        if !self.published {
            self.catch_up();
            self.publish();
        }
    }
}

/// See the module docs.
pub(crate) struct Accumulator {
    fold: Fold,
    member: Member,
}

impl Accumulator {
    pub(crate) fn new(fold: Fold, member: Member) -> Self {
        Accumulator { fold, member }
    }
}

impl Actor for Accumulator {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Context<Self>) {
        self.member.started();
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        // Normally already published at the end; this covers a stop before
        // it (the runtime is going away).
        if !self.fold.published {
            self.fold.catch_up();
            self.fold.publish();
        }
        self.member.stopped();
    }
}

impl Handler<CatchUp> for Accumulator {
    type Result = ();

    fn handle(&mut self, _msg: CatchUp, ctx: &mut Context<Self>) {
        if !self.fold.published && self.fold.catch_up() {
            self.fold.publish();
            ctx.stop();
        }
    }
}

impl Handler<Snapshot> for Accumulator {
    type Result = MessageResult<Snapshot>;

    fn handle(&mut self, _msg: Snapshot, ctx: &mut Context<Self>) -> Self::Result {
        if self.fold.published {
            // Only reachable if a snapshot was queued behind the final
            // catch-up; the published value is the answer.
            return MessageResult(
                self.fold
                    .shared
                    .response
                    .get()
                    .map(|r| (**r).clone())
                    .unwrap_or_default(),
            );
        }
        let ended = self.fold.catch_up();
        let response = self.fold.response.clone();
        if ended {
            self.fold.publish();
            ctx.stop();
        }
        MessageResult(response)
    }
}
