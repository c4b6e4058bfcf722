//! The tool-parser actor: turns tool-call chunks into complete calls with
//! parsed arguments.
//!
//! Arguments are collected per part index (so interleaved parallel calls
//! assemble correctly) and parsed only when the call's `ToolCallEnd`
//! arrives: a call cut off mid-stream is never listed, so it can never be
//! run. Like the accumulator it follows the log lazily and publishes its
//! final list when the stream ends.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::{Actor, ActorContext, Context, Handler, MessageResult};
use rivulet_core::{Chunk, ToolCall};

use crate::log::Follower;
use crate::messages::{CatchUp, ToolCalls};
use crate::stats::Member;
use crate::stream::Shared;
use crate::ParsedToolCall;

/// The parsing state; publishes what it has when dropped (see
/// `accumulator::Fold` for why).
pub(crate) struct Parser {
    shared: Arc<Shared>,
    cursor: u64,
    buf: Vec<Arc<Chunk>>,
    /// Calls that started and have not ended, by part index.
    open: BTreeMap<usize, ToolCall>,
    /// Complete calls, by part index (the order of the response's content).
    done: BTreeMap<usize, ParsedToolCall>,
    published: bool,
}

impl Parser {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Parser {
            shared,
            cursor: 0,
            buf: Vec::new(),
            open: BTreeMap::new(),
            done: BTreeMap::new(),
            published: false,
        }
    }

    fn apply(&mut self, chunk: &Chunk) {
        match chunk {
            Chunk::ToolCallStart { part, id, name } => {
                self.open.insert(
                    *part,
                    ToolCall {
                        id: id.clone(),
                        name: name.clone(),
                        args: String::new(),
                        signature: None,
                    },
                );
            }
            Chunk::ToolCall { part, delta, .. } => {
                // A delta without a start is ignored, as `Response::apply` does.
                if let Some(call) = self.open.get_mut(part) {
                    call.args.push_str(delta);
                }
            }
            Chunk::ToolCallEnd {
                part, signature, ..
            } => {
                if let Some(mut call) = self.open.remove(part) {
                    call.signature.clone_from(signature);
                    // `args_json` parses with serde_json and reads empty
                    // arguments as `{}`.
                    let args = call.args_json().map_err(|e| e.to_string());
                    self.done.insert(*part, ParsedToolCall { call, args });
                }
            }
            _ => {}
        }
    }

    /// Parses every entry up to the log's end; returns whether the stream
    /// has ended.
    fn catch_up(&mut self) -> bool {
        let ended = self
            .shared
            .log
            .follow(Follower::ToolParser, &mut self.cursor, &mut self.buf);
        let buf = std::mem::take(&mut self.buf);
        for chunk in &buf {
            self.apply(chunk);
        }
        self.buf = buf;
        self.buf.clear();
        ended
    }

    fn calls(&self) -> Vec<ParsedToolCall> {
        self.done.values().cloned().collect()
    }

    fn publish(&mut self) {
        if !self.published {
            self.published = true;
            self.shared.publish_tools(self.calls());
        }
    }
}

impl Drop for Parser {
    fn drop(&mut self) {
        if !self.published {
            self.catch_up();
            self.publish();
        }
    }
}

/// See the module docs.
pub(crate) struct ToolParser {
    parser: Parser,
    member: Member,
}

impl ToolParser {
    pub(crate) fn new(parser: Parser, member: Member) -> Self {
        ToolParser { parser, member }
    }
}

impl Actor for ToolParser {
    type Context = Context<Self>;

    fn started(&mut self, _ctx: &mut Context<Self>) {
        self.member.started();
    }

    fn stopped(&mut self, _ctx: &mut Context<Self>) {
        if !self.parser.published {
            self.parser.catch_up();
            self.parser.publish();
        }
        self.member.stopped();
    }
}

impl Handler<CatchUp> for ToolParser {
    type Result = ();

    fn handle(&mut self, _msg: CatchUp, ctx: &mut Context<Self>) {
        if !self.parser.published && self.parser.catch_up() {
            self.parser.publish();
            ctx.stop();
        }
    }
}

impl Handler<ToolCalls> for ToolParser {
    type Result = MessageResult<ToolCalls>;

    fn handle(&mut self, _msg: ToolCalls, ctx: &mut Context<Self>) -> Self::Result {
        if !self.parser.published && self.parser.catch_up() {
            self.parser.publish();
            ctx.stop();
        }
        MessageResult(self.parser.calls())
    }
}
