//! [`Blocking`]: a [`StreamResponse`] for synchronous code.
//!
//! The response's methods are written once, for async code; this view
//! gives synchronous code the same ones, as `Iterator`s over a blocking
//! subscription and as calls that block the thread, as reqwest keeps its
//! blocking API apart. Each has the replay, policy and drop rules of the
//! method it mirrors, documented there.

use rivulet_actors::{
    BlockingSubscription, Outcome, ParsedToolCall, PartialToolCall, Policy, StreamHandle,
};
use rivulet_core::{Error, Response, ToolOutput};
use serde::de::DeserializeOwned;

use crate::consume::Chunks;
use crate::parts::BlockingPartStreams;
use crate::render::{PrettyRender, Rendered, TextRender};
use crate::structured::{parse_response, Partial, StructuredStream};
use crate::{StreamResponse, Toolkit};

/// A [`StreamResponse`] for synchronous code, from
/// [`StreamResponse::blocking`]: its iterators are `Iterator`s, its waits
/// block the thread (do not call them from an async task). Each method has
/// the replay, policy and drop rules of the [`StreamResponse`] method of
/// the same name.
///
/// ```no_run
/// # fn main() -> Result<(), rivulet::Error> {
/// let response = rivulet::Model::new("openai/gpt-4o-mini").stream("Hello");
/// let blocking = response.blocking();
/// for text in blocking.text_stream("") {
///     print!("{}", text?);
/// }
/// let done = blocking.finish()?;
/// println!("\n{:?} tokens out", done.usage.output_tokens);
/// # Ok(()) }
/// ```
#[derive(Clone, Copy)]
pub struct Blocking<'a> {
    response: &'a StreamResponse,
}

// Here rather than in `stream.rs`, so that the view depends on the
// response and not the other way round.
impl StreamResponse {
    /// This response for synchronous code: the same iterators as
    /// `Iterator`s and the same waits as blocking calls, with the same
    /// replay, policy and drop rules as the methods they mirror. Do not
    /// call its waits from an async task (they block the thread).
    ///
    /// ```no_run
    /// # fn main() -> Result<(), rivulet::Error> {
    /// let response = rivulet::Model::new("openai/gpt-4o-mini").stream("Hello");
    /// for chunk in response.blocking().chunk_stream() {
    ///     println!("{} {}", chunk?.offset(), "…");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn blocking(&self) -> Blocking<'_> {
        Blocking::new(self)
    }
}

impl<'a> Blocking<'a> {
    fn new(response: &'a StreamResponse) -> Self {
        Blocking { response }
    }

    fn handle(&self) -> &'a StreamHandle {
        self.response.handle()
    }

    /// [`StreamResponse::subscribe`], as an `Iterator`.
    pub fn subscribe(&self, policy: Policy) -> BlockingSubscription {
        self.handle().blocking().subscribe(policy)
    }

    /// [`StreamResponse::subscribe_from`], as an `Iterator`.
    pub fn subscribe_from(&self, offset: u64, policy: Policy) -> BlockingSubscription {
        self.handle().blocking().subscribe_from(offset, policy)
    }

    /// [`StreamResponse::chunk_stream`], as an `Iterator`.
    pub fn chunk_stream(&self) -> Chunks<BlockingSubscription> {
        Chunks::new(self.subscribe(Policy::default()))
    }

    /// [`StreamResponse::text_stream`], as an `Iterator`.
    pub fn text_stream(&self, sep: &str) -> Rendered<BlockingSubscription, TextRender> {
        Rendered::new(self.subscribe(Policy::default()), TextRender::new(sep))
    }

    /// [`StreamResponse::pretty_stream`], as an `Iterator`.
    pub fn pretty_stream(&self) -> Rendered<BlockingSubscription, PrettyRender> {
        Rendered::new(self.subscribe(Policy::default()), PrettyRender::default())
    }

    /// [`StreamResponse::streams`], as an `Iterator` of `Iterator`s.
    pub fn streams(&self) -> BlockingPartStreams {
        BlockingPartStreams::new(self.chunk_stream())
    }

    /// [`StreamResponse::structured_stream`], as an `Iterator`.
    pub fn structured_stream<T: DeserializeOwned>(
        &self,
    ) -> StructuredStream<BlockingSubscription, T> {
        StructuredStream::new(self.subscribe(Policy::default()))
    }

    /// [`StreamResponse::finish`]: blocks until the end.
    pub fn finish(&self) -> Result<Response, Error> {
        self.handle().blocking().finish()
    }

    /// [`StreamResponse::ended`]: blocks until the end, and returns how
    /// the stream ended.
    pub fn ended(&self) -> Outcome {
        self.handle().blocking().ended()
    }

    /// [`StreamResponse::snapshot`]: the response as received so far.
    pub fn snapshot(&self) -> Response {
        self.handle().blocking().snapshot()
    }

    /// [`StreamResponse::tool_calls`]: the complete tool calls so far.
    pub fn tool_calls(&self) -> Vec<ParsedToolCall> {
        self.handle().blocking().tool_calls()
    }

    /// [`StreamResponse::partial_tool_calls`]: every tool call so far.
    pub fn partial_tool_calls(&self) -> Vec<PartialToolCall> {
        self.handle().blocking().partial_tool_calls()
    }

    /// [`StreamResponse::execute_tools`]: blocks until the end, then runs
    /// the calls (async tools on a runtime of their own).
    pub fn execute_tools(&self, toolkit: &Toolkit) -> Vec<ToolOutput> {
        crate::tools::block_on(self.response.execute_tools(toolkit))
    }

    /// [`StreamResponse::parse`]: blocks until the end, then parses.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        parse_response(&self.finish()?)
    }

    /// [`StreamResponse::parse_partial`]: the structured output so far.
    pub fn parse_partial<T: DeserializeOwned>(&self) -> Result<Partial<T>, Error> {
        let text = self.snapshot().text();
        self.response.partial_of(&text)
    }
}

impl std::fmt::Debug for Blocking<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocking").finish_non_exhaustive()
    }
}
