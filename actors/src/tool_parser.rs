//! The tool-parser actor: assembles each tool call's arguments from its
//! deltas with an incremental JSON parser, exposes the partial arguments
//! while they stream, and hands each call on once it has ended.
//!
//! - Arguments are collected per call (by part index, which each chunk
//!   carries with the call id), so interleaved parallel calls assemble
//!   correctly. Each delta is fed once to the call's [`PartialJson`]: the
//!   partial arguments are available at any moment
//!   ([`StreamHandle::partial_tool_calls`](crate::StreamHandle::partial_tool_calls))
//!   without re-parsing.
//! - When a call's `tool_call_end_chunk` arrives, its JSON syntax is checked
//!   (an empty argument text is `{}`; anything else must be one complete
//!   JSON object, nested at most
//!   [`PartialJson::MAX_DEPTH`](rivulet_core::PartialJson::MAX_DEPTH) deep,
//!   as serde_json allows). The call is then complete, valid or not, and is
//!   listed by `tool_calls()`. Arguments nested deeper fail at the first
//!   bracket too many, so no value this actor builds, clones or drops is
//!   deeper than that bound, whatever the model sends. Validation against
//!   the tool's own argument type is the toolkit's job, at execution.
//! - A call cut off by `max_tokens` is invalid: its JSON is incomplete, or,
//!   when a provider ends it at the finish with no argument text at all, the
//!   finish reason says so. A call still open when the stream ends
//!   (cancelled, failed, timed out) never completes. Either way its raw
//!   text is kept and it is never handed to an executor as valid.
//! - Watchers ([`StreamHandle::watch_tool_calls`](crate::StreamHandle::watch_tool_calls))
//!   receive each complete call as soon as it has ended: the provider actor
//!   nudges this actor on every `tool_call_end_chunk`, so a call can start
//!   running while the model is still streaming.
//!
//! Like the accumulator it is otherwise a lazy follower of the log, and it
//! publishes its final lists when the stream ends.

use std::collections::BTreeMap;
use std::sync::Arc;

use actix::{Actor, ActorContext, Context, Handler, MessageResult};
use rivulet_core::{Chunk, FinishReason, PartialJson, ToolCall};
use serde_json::Value;

use crate::event::Outcome;
use crate::log::Follower;
use crate::messages::{CatchUp, PartialCalls, ToolCalls};
use crate::shared::{Shared, ToolsFinal};
use crate::stats::{lock, Member};
use crate::tool_calls::{ParsedToolCall, PartialToolCall, ToolCallState};

/// One call being assembled.
struct Assembly {
    call: ToolCall,
    json: PartialJson,
    state: ToolCallState,
    /// Once ended: the checked arguments.
    args: Option<Result<Value, String>>,
    /// Handed to the watchers already.
    dispatched: bool,
}

impl Assembly {
    fn partial(&self, part: usize) -> PartialToolCall {
        PartialToolCall {
            part,
            call: self.call.clone(),
            args: match &self.args {
                Some(Ok(v)) => Some(v.clone()),
                _ => self.json.snapshot(),
            },
            state: self.state.clone(),
        }
    }

    fn parsed(&self) -> Option<ParsedToolCall> {
        Some(ParsedToolCall {
            call: self.call.clone(),
            args: self.args.clone()?,
        })
    }
}

/// The checked arguments of a call that has just ended.
fn check(call: &ToolCall, json: &PartialJson) -> Result<Value, String> {
    if call.args.trim().is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match json.finish() {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(other) => Err(format!(
            "the arguments must be a JSON object, not {}",
            match other {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            }
        )),
        Err(e) => Err(format!("invalid JSON arguments: {e}")),
    }
}

/// The parsing state; publishes what it has when dropped (see
/// `accumulator::Fold` for why).
pub(crate) struct Parser {
    shared: Arc<Shared>,
    cursor: u64,
    /// Every call seen, by part index (the order of the response's content).
    calls: BTreeMap<usize, Assembly>,
    /// Calls that ended since the last chunk that was not a call end: a
    /// `max_tokens` finish right after them means they were cut off.
    recent_ends: Vec<usize>,
    published: bool,
}

impl Parser {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Parser {
            shared,
            cursor: 0,
            calls: BTreeMap::new(),
            recent_ends: Vec::new(),
            published: false,
        }
    }

    fn apply(&mut self, chunk: &Chunk) {
        if !matches!(
            chunk,
            Chunk::ToolCallEnd { .. } | Chunk::FinishReason { .. }
        ) {
            self.recent_ends.clear();
        }
        match chunk {
            Chunk::ToolCallStart { part, id, name } => {
                self.calls.insert(
                    *part,
                    Assembly {
                        call: ToolCall {
                            id: id.to_string(),
                            name: name.clone(),
                            args: String::new(),
                            signature: None,
                        },
                        json: PartialJson::new(),
                        state: ToolCallState::Streaming,
                        args: None,
                        dispatched: false,
                    },
                );
            }
            Chunk::ToolCall { part, delta, .. } => {
                // A delta without a start, or after the end, is ignored, as
                // `Response::apply` does.
                if let Some(a) = self.calls.get_mut(part) {
                    if a.state == ToolCallState::Streaming {
                        a.call.args.push_str(delta);
                        // A syntax error is sticky in the parser and
                        // reported when the call ends.
                        let _ = a.json.feed(delta);
                    }
                }
            }
            Chunk::ToolCallEnd {
                part, signature, ..
            } => {
                if let Some(a) = self.calls.get_mut(part) {
                    if a.state == ToolCallState::Streaming {
                        a.call.signature.clone_from(signature);
                        let args = check(&a.call, &a.json);
                        a.state = match &args {
                            Ok(_) => ToolCallState::Ended,
                            Err(e) => ToolCallState::Invalid(e.clone()),
                        };
                        a.args = Some(args);
                        self.recent_ends.push(*part);
                    }
                }
            }
            Chunk::FinishReason {
                reason: FinishReason::MaxTokens,
                ..
            } => {
                for part in std::mem::take(&mut self.recent_ends) {
                    let Some(a) = self.calls.get_mut(&part) else {
                        continue;
                    };
                    let cut = match &a.args {
                        Some(Err(e)) => format!("cut off by max_tokens: {e}"),
                        // Ended by the finish without any argument text:
                        // the arguments never came.
                        Some(Ok(_)) if a.call.args.trim().is_empty() => {
                            "cut off by max_tokens before its arguments".to_string()
                        }
                        _ => continue,
                    };
                    a.state = ToolCallState::Invalid(cut.clone());
                    a.args = Some(Err(cut));
                }
            }
            Chunk::FinishReason { .. } => self.recent_ends.clear(),
            _ => {}
        }
    }

    /// Parses every entry up to the log's end and hands newly complete
    /// calls to the watchers; returns whether the stream has ended.
    fn catch_up(&mut self) -> bool {
        // Applied under the log's lock, in place: applying only updates
        // this actor's assemblies (watchers get calls in `dispatch`, after
        // the lock is released), and no chunk is cloned or buffered.
        let shared = Arc::clone(&self.shared);
        let mut cursor = self.cursor;
        let ended = shared
            .log
            .follow(Follower::ToolParser, &mut cursor, |chunk| self.apply(chunk));
        self.cursor = cursor;
        self.dispatch(ended);
        ended
    }

    /// Hands complete calls not handed out yet to the watchers. A call that
    /// ended without argument text, or with arguments that do not parse,
    /// waits for the next chunk (or the end): a `max_tokens` finish right
    /// after it makes it invalid, with that as the reason. A call whose
    /// arguments parse goes at once (a finish cannot change it).
    fn dispatch(&mut self, ended: bool) {
        let mut ready = Vec::new();
        for (part, a) in self.calls.iter_mut() {
            let Some(args) = &a.args else { continue };
            if a.dispatched {
                continue;
            }
            let may_be_cut = args.is_err() || a.call.args.trim().is_empty();
            let waits = !ended && may_be_cut && self.recent_ends.contains(part);
            if waits {
                continue;
            }
            a.dispatched = true;
            ready.push(ParsedToolCall {
                call: a.call.clone(),
                args: args.clone(),
            });
        }
        if !ready.is_empty() || ended {
            let mut watch = lock(&self.shared.tool_watch);
            for call in ready {
                watch.dispatch(call);
            }
            if ended {
                watch.end();
            }
        }
    }

    fn calls(&self) -> Vec<ParsedToolCall> {
        self.calls.values().filter_map(Assembly::parsed).collect()
    }

    fn partials(&self) -> Vec<PartialToolCall> {
        self.calls.iter().map(|(p, a)| a.partial(*p)).collect()
    }

    fn publish(&mut self) {
        if self.published {
            return;
        }
        self.published = true;
        // Calls still open now were cut off by the end of the stream.
        let why = match self.shared.log.outcome() {
            Some(Outcome::Failed(e)) => {
                format!("cut off: the stream ended before the call did ({e})")
            }
            _ => "cut off: the stream ended before the call did".to_string(),
        };
        for a in self.calls.values_mut() {
            if a.state == ToolCallState::Streaming {
                a.state = ToolCallState::Invalid(why.clone());
            }
        }
        self.dispatch(true);
        self.shared.publish_tools(ToolsFinal {
            complete: self.calls(),
            all: self.partials(),
        });
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

    fn catch_up(&mut self, ctx: &mut Context<Self>) {
        if !self.parser.published && self.parser.catch_up() {
            self.parser.publish();
            ctx.stop();
        }
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
        self.catch_up(ctx);
    }
}

impl Handler<ToolCalls> for ToolParser {
    type Result = MessageResult<ToolCalls>;

    fn handle(&mut self, _msg: ToolCalls, ctx: &mut Context<Self>) -> Self::Result {
        self.catch_up(ctx);
        MessageResult(self.parser.calls())
    }
}

impl Handler<PartialCalls> for ToolParser {
    type Result = MessageResult<PartialCalls>;

    fn handle(&mut self, _msg: PartialCalls, ctx: &mut Context<Self>) -> Self::Result {
        self.catch_up(ctx);
        MessageResult(self.parser.partials())
    }
}
