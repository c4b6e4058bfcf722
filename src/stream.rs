//! `StreamResponse`: the caller's view of one streaming call.
//!
//! Every iterator here is its own subscription to the stream's log, so each
//! one replays what was already received and then continues live, and any
//! number of them can run at once (one generation, many consumers). They
//! are detached: one that is kept but not polled stalls nobody.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures::Stream;
use rivulet_actors::{
    BlockingSubscription, Event, Outcome, ParsedToolCall, PartialToolCall, Policy, SharedChunk,
    StreamHandle, Subscription,
};
use rivulet_core::{Chunk, ContentPart, Error, Message, Response, Role, ToolOutput};
use serde::de::DeserializeOwned;

use crate::parts::{BlockingPartStreams, PartStreams};
use crate::structured::{parse_response, Partial, PartialText, StructuredStream};
use crate::{Input, Model, Toolkit};

/// A streaming response. Returned at once by [`crate::Model::stream`];
/// errors surface while iterating.
///
/// Async iterators (`text_stream`, `chunk_stream`, …) implement
/// `futures::Stream`; each has a `_blocking` twin implementing `Iterator`
/// for synchronous code. Items are `Result`s: a failed stream yields its
/// error once, then ends; what was received before stays in
/// [`StreamResponse::snapshot`].
///
/// # Replay
/// The stream's chunks go into one append-only log. Every iterator and
/// subscription reads it with a cursor of its own: one made late first
/// replays every chunk from the start, then follows live, so any number of
/// consumers see the same chunks, whenever they start. `snapshot`, `finish`
/// and the tool-call methods fold the whole log. Each chunk has an offset,
/// its position in the log (0, 1, 2, …: [`SharedChunk::offset`]);
/// [`subscribe_from`](StreamResponse::subscribe_from) resumes right after
/// one.
///
/// # Policy
/// The iterators are *detached* ([`Policy::default`]): one that is kept but
/// not polled never slows the stream or any other consumer. It reads behind
/// from the log, which holds the whole response, so it loses nothing. (On a
/// stream started on a [`Runtime`](crate::Runtime) with a window, a
/// consumer that falls out of the window loses chunks: the iterators skip
/// them, [`subscribe`](StreamResponse::subscribe) reports them as
/// [`Event::Missed`].) Backpressure, a consumer that throttles the
/// provider, is opt-in: [`subscribe`](StreamResponse::subscribe) with
/// [`Policy::Lossless`].
///
/// # Dropping
/// Clones are cheap and share one stream. Every clone, every iterator and
/// every subscription holds the stream: when the last of them is dropped,
/// the stream is cancelled (the provider's connection closes at once),
/// unless the model runs to completion ([`Model::run_to_completion`]).
/// Dropping one iterator ends only that iterator.
#[derive(Clone)]
pub struct StreamResponse {
    handle: StreamHandle,
    /// The model that started it, for `resume`.
    model: Option<Model>,
    /// The incremental parser behind `parse_partial`.
    partial: Arc<Mutex<PartialText>>,
}

impl StreamResponse {
    /// Wraps a runtime handle. A response built this way cannot `resume`
    /// (it does not know its model); [`Model::stream`] makes ones that can.
    /// It holds the stream like the handle does (see [Dropping](#dropping)).
    pub fn new(handle: StreamHandle) -> Self {
        StreamResponse {
            handle,
            model: None,
            partial: Arc::default(),
        }
    }

    pub(crate) fn with_model(handle: StreamHandle, model: Model) -> Self {
        StreamResponse {
            model: Some(model),
            ..StreamResponse::new(handle)
        }
    }

    /// The runtime handle underneath (clone it to hold the stream without
    /// this response).
    pub fn handle(&self) -> &StreamHandle {
        &self.handle
    }

    /// A raw subscription: every [`Event`] (each chunk with its offset,
    /// [`Event::Missed`] on a windowed stream, one terminal
    /// [`Event::End`]), with the `policy` you choose.
    ///
    /// It replays from the start, then follows live. [`Policy::Detached`]
    /// (the default, as the iterators) never slows the stream;
    /// [`Policy::Lossless`] is backpressure: while its consumer is
    /// `capacity` chunks behind, the provider stops reading the connection
    /// and the stream stops for everyone, so use it only for a consumer
    /// that must throttle the provider (or must not lose a chunk of a
    /// windowed stream), and read it (or drop it). Dropping it ends only
    /// this subscription (see [Dropping](#dropping)).
    pub fn subscribe(&self, policy: Policy) -> Subscription {
        self.handle.subscribe(policy)
    }

    /// [`StreamResponse::subscribe`] for synchronous code (an `Iterator`):
    /// the same replay, policy and drop rules.
    pub fn subscribe_blocking(&self, policy: Policy) -> BlockingSubscription {
        self.handle.subscribe_blocking(policy)
    }

    /// A raw subscription that resumes right after the chunk at `offset`
    /// (an [`Event::offset`] or [`SharedChunk::offset`] a consumer saw):
    /// nothing lost, nothing repeated. An offset beyond the end waits for
    /// it; one that fell out of a window first gives [`Event::Missed`]
    /// with how many chunks are gone. Otherwise as
    /// [`subscribe`](StreamResponse::subscribe): the same policy and drop
    /// rules. This is what an SSE server answers `Last-Event-ID` with.
    pub fn subscribe_from(&self, offset: u64, policy: Policy) -> Subscription {
        self.handle.subscribe_from(offset, policy)
    }

    /// [`StreamResponse::subscribe_from`] for synchronous code.
    pub fn subscribe_from_blocking(&self, offset: u64, policy: Policy) -> BlockingSubscription {
        self.handle.subscribe_from_blocking(offset, policy)
    }

    /// Every chunk, typed (match on [`Chunk`]; each knows its
    /// [offset](SharedChunk::offset)). Replays from the start, then follows
    /// live; detached, so leaving it unpolled stalls nobody; dropping it
    /// ends only this iterator (see [the type's docs](StreamResponse)).
    pub fn chunk_stream(&self) -> Chunks<Subscription> {
        Chunks::new(self.handle.subscribe(Policy::default()))
    }

    /// [`StreamResponse::chunk_stream`] for synchronous code: the same
    /// replay, policy and drop rules.
    pub fn chunk_stream_blocking(&self) -> Chunks<BlockingSubscription> {
        Chunks::new(self.handle.subscribe_blocking(Policy::default()))
    }

    /// Text deltas only, with `sep` between text parts. Replays from the
    /// start, then follows live; detached, so leaving it unpolled stalls
    /// nobody; dropping it ends only this iterator (see
    /// [the type's docs](StreamResponse)).
    pub fn text_stream(&self, sep: &str) -> Rendered<Subscription, TextRender> {
        Rendered::new(self.chunk_stream(), TextRender::new(sep))
    }

    /// [`StreamResponse::text_stream`] for synchronous code: the same
    /// replay, policy and drop rules.
    pub fn text_stream_blocking(&self, sep: &str) -> Rendered<BlockingSubscription, TextRender> {
        Rendered::new(self.chunk_stream_blocking(), TextRender::new(sep))
    }

    /// Every part rendered readably (thoughts and tool calls included), the
    /// streaming form of [`Response::pretty`]. Replays from the start, then
    /// follows live; detached, so leaving it unpolled stalls nobody;
    /// dropping it ends only this iterator (see
    /// [the type's docs](StreamResponse)).
    pub fn pretty_stream(&self) -> Rendered<Subscription, PrettyRender> {
        Rendered::new(self.chunk_stream(), PrettyRender::default())
    }

    /// [`StreamResponse::pretty_stream`] for synchronous code: the same
    /// replay, policy and drop rules.
    pub fn pretty_stream_blocking(&self) -> Rendered<BlockingSubscription, PrettyRender> {
        Rendered::new(self.chunk_stream_blocking(), PrettyRender::default())
    }

    /// One substream per content part (text, thought, tool call), all over
    /// one detached subscription: it replays from the start, then follows
    /// live, and neither it nor its substreams stall anyone when left
    /// unpolled. A substream skipped or dropped stops buffering (its part
    /// still reaches the final response); dropping them all ends the
    /// subscription (see [the type's docs](StreamResponse)).
    pub fn streams(&self) -> PartStreams {
        PartStreams::new(self.chunk_stream())
    }

    /// [`StreamResponse::streams`] for synchronous code: the same replay,
    /// policy and drop rules.
    pub fn streams_blocking(&self) -> BlockingPartStreams {
        BlockingPartStreams::new(self.chunk_stream_blocking())
    }

    /// For a model with fallbacks ([`Model::fallback`]): which model
    /// answered (or is being tried now) and why each one tried before it
    /// did not. `None` when the model has no fallbacks.
    pub fn routing(&self) -> Option<rivulet_actors::Routing> {
        self.handle.routing()
    }

    /// Waits for the end: the final response (the whole log, however late
    /// it is called), or the error (the partial response stays in
    /// [`StreamResponse::snapshot`]). Waiting never holds the stream back,
    /// and dropping the future does not cancel it.
    pub async fn finish(&self) -> Result<Response, Error> {
        self.handle.finish().await
    }

    /// [`StreamResponse::finish`] for synchronous code. Do not call it
    /// from an async task (it blocks the thread).
    pub fn finish_blocking(&self) -> Result<Response, Error> {
        self.handle.finish_blocking()
    }

    /// The response as received so far: the whole log folded, from the
    /// start, whenever it is called. It never holds the stream back.
    pub async fn snapshot(&self) -> Response {
        self.handle.snapshot().await
    }

    /// [`StreamResponse::snapshot`] for synchronous code. Do not call it
    /// from an async task (it blocks the thread).
    pub fn snapshot_blocking(&self) -> Response {
        self.handle.snapshot_blocking()
    }

    /// Complete tool calls with parsed arguments, as far as the stream has
    /// come: calls that have ended (`args: Err` for invalid ones). A call
    /// still streaming or cut off is not listed; after [`finish`](Self::finish)
    /// this is every call of the response. Never holds the stream back.
    pub async fn tool_calls(&self) -> Vec<ParsedToolCall> {
        self.handle.tool_calls().await
    }

    /// [`StreamResponse::tool_calls`] for synchronous code.
    pub fn tool_calls_blocking(&self) -> Vec<ParsedToolCall> {
        self.handle.tool_calls_blocking()
    }

    /// Every tool call so far with its arguments as far as they have
    /// streamed (partial JSON, open strings and containers closed) and its
    /// state: streaming, ended, or invalid (cut off by `max_tokens`, a cancel
    /// or a failure: such a call is never executed). Never holds the stream
    /// back.
    pub async fn partial_tool_calls(&self) -> Vec<PartialToolCall> {
        self.handle.partial_tool_calls().await
    }

    /// [`StreamResponse::partial_tool_calls`] for synchronous code.
    pub fn partial_tool_calls_blocking(&self) -> Vec<PartialToolCall> {
        self.handle.partial_tool_calls_blocking()
    }

    /// Waits for the end, then runs every complete tool call with
    /// `toolkit`, concurrently, and returns their outputs in the calls'
    /// order. Never fails: a call with invalid arguments, an unknown tool,
    /// a tool that errors or panics gives an output with `is_error: true`
    /// that the model sees. Calls cut off before their end are never run.
    /// Waiting never holds the stream back; dropping the future before the
    /// end runs nothing.
    ///
    /// ```no_run
    /// # use rivulet::{Model, Tool, Toolkit};
    /// # async fn f(toolkit: Toolkit) -> Result<(), rivulet::Error> {
    /// let model = Model::new("openai/gpt-4o-mini").tools(&toolkit);
    /// let mut response = model.stream("What's the square root of 4242?");
    /// loop {
    ///     let outputs = response.execute_tools(&toolkit).await;
    ///     if outputs.is_empty() {
    ///         break;
    ///     }
    ///     response = response.resume(outputs);
    /// }
    /// println!("{}", response.finish().await?.text());
    /// # Ok(()) }
    /// ```
    pub async fn execute_tools(&self, toolkit: &Toolkit) -> Vec<ToolOutput> {
        // A failed stream still ran its complete calls' course: they run.
        let _ = self.handle.finish().await;
        let calls = self.handle.tool_calls().await;
        toolkit.execute_all(&calls).await
    }

    /// [`StreamResponse::execute_tools`] for synchronous code: async tools
    /// run on a runtime of its own. Do not call it from async code.
    pub fn execute_tools_blocking(&self, toolkit: &Toolkit) -> Vec<ToolOutput> {
        crate::tools::block_on(self.execute_tools(toolkit))
    }

    /// Starts running tool calls now, each as soon as its
    /// `tool_call_end_chunk` arrives, while the model is still streaming.
    /// The calls run on a thread of their own (async tools on a runtime of
    /// their own), so nothing needs to poll them; await the returned
    /// [`EagerTools`] (or [`EagerTools::wait`] in blocking code) for the
    /// outputs, in the calls' order, once the stream has ended and every
    /// call has run. The same rules as [`execute_tools`](Self::execute_tools)
    /// apply: invalid or cut-off calls are never run. It replays the calls
    /// that ended before it was called and never holds the stream back.
    /// Its thread holds the stream until the stream ends: dropping every
    /// other clone does not cancel it meanwhile (call
    /// [`cancel`](Self::cancel)), and dropping the [`EagerTools`] does not
    /// stop the calls.
    ///
    /// ```no_run
    /// # async fn f(model: rivulet::Model, toolkit: rivulet::Toolkit) {
    /// let response = model.stream("What's the square root of 4242?");
    /// let running = response.execute_tools_eagerly(&toolkit);
    /// // … stream the text meanwhile …
    /// let outputs = running.await;
    /// let next = response.resume(outputs);
    /// # }
    /// ```
    pub fn execute_tools_eagerly(&self, toolkit: &Toolkit) -> EagerTools {
        let watch = self.handle.watch_tool_calls();
        let handle = self.handle.clone();
        let toolkit = toolkit.clone();
        let (tx, rx) = futures::channel::oneshot::channel();
        let run = move || {
            let outputs = crate::tools::block_on(async move {
                use futures::stream::{FuturesUnordered, StreamExt};
                let mut watch = watch;
                let mut running = FuturesUnordered::new();
                let mut outputs = Vec::new();
                loop {
                    tokio::select! {
                        call = watch.next_call() => match call {
                            Some(call) => {
                                let toolkit = toolkit.clone();
                                running.push(async move { toolkit.execute(&call).await });
                            }
                            None => break,
                        },
                        Some(out) = running.next(), if !running.is_empty() => outputs.push(out),
                    }
                }
                while let Some(out) = running.next().await {
                    outputs.push(out);
                }
                // The calls' order, as `execute_tools` gives it.
                let order: Vec<String> = handle
                    .tool_calls()
                    .await
                    .into_iter()
                    .map(|c| c.call.id)
                    .collect();
                outputs.sort_by_key(|o: &ToolOutput| order.iter().position(|id| *id == o.id));
                outputs
            });
            let _ = tx.send(outputs);
        };
        if let Err(e) = std::thread::Builder::new()
            .name("rivulet-tools".into())
            .spawn(run)
        {
            tracing::error!("cannot start the tool thread: {e}");
        }
        EagerTools { rx }
    }

    /// Streams the next turn of the conversation: this response's history
    /// ([`Response::messages`]: the input, then this turn with its thoughts,
    /// their signatures and its tool calls) followed by `content` (tool
    /// outputs as a tool message, and/or user content), with the same model,
    /// parameters, tools and format. Returns at once; the new request is
    /// sent once this stream has ended (at once if it already has).
    ///
    /// A response not started by a [`Model`] cannot resume: the new stream
    /// fails with `Error::Unsupported`.
    ///
    /// The new response holds this stream until it ends (it waits for its
    /// history), then only its own: dropping it is as for any response.
    pub fn resume(&self, content: impl Into<Resume>) -> StreamResponse {
        let content = content.into();
        let Some(model) = self.model.clone() else {
            return Model::new("unsupported/none").stream_failing(Error::unsupported(
                "resume needs a response started by a Model",
            ));
        };
        let previous = self.handle.clone();
        let next = model.clone();
        model.stream_after(Box::pin(async move {
            let done = match previous.finish().await {
                Ok(r) => r,
                Err(_) => previous.snapshot().await,
            };
            let mut messages = done.messages();
            messages.extend(content.into_messages());
            Ok(next.request(messages))
        }))
    }

    /// Every partial structured output, each time the partial object
    /// changes (see [`Partial`]). Replays from the start, then follows
    /// live; detached, so leaving it unpolled stalls nobody; dropping it
    /// ends only this iterator (see [the type's docs](StreamResponse)).
    ///
    /// ```no_run
    /// # #[derive(Debug, Default, serde::Deserialize, schemars::JsonSchema)]
    /// # #[serde(default)]
    /// # struct Book { title: String, author: String }
    /// # fn main() -> Result<(), rivulet::Error> {
    /// let model = rivulet::Model::new("openai/gpt-4o-mini").format::<Book>();
    /// let response = model.stream("Recommend a fantasy book.");
    /// for partial in response.structured_stream_blocking::<Book>() {
    ///     println!("{:?}", partial?.get()); // fields not received yet are empty
    /// }
    /// let book: Book = response.parse_blocking()?;
    /// # Ok(()) }
    /// ```
    pub fn structured_stream<T: DeserializeOwned>(&self) -> StructuredStream<Subscription, T> {
        StructuredStream::new(self.chunk_stream())
    }

    /// [`StreamResponse::structured_stream`] for synchronous code: the
    /// same replay, policy and drop rules.
    pub fn structured_stream_blocking<T: DeserializeOwned>(
        &self,
    ) -> StructuredStream<BlockingSubscription, T> {
        StructuredStream::new(self.chunk_stream_blocking())
    }

    /// Waits for the end and parses the text as a `T`: `Error::Parse` with
    /// serde's message when it is not one (or the refusal, when the model
    /// refused); the stream's error when it failed. Like
    /// [`finish`](Self::finish), it never holds the stream back.
    pub async fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        parse_response(&self.finish().await?)
    }

    /// [`StreamResponse::parse`] for synchronous code. Do not call it from
    /// an async task (it blocks the thread).
    pub fn parse_blocking<T: DeserializeOwned>(&self) -> Result<T, Error> {
        parse_response(&self.finish_blocking()?)
    }

    /// The structured output as far as it has streamed, at any moment
    /// (during the stream or after it). The text is parsed incrementally:
    /// each call feeds only what arrived since the previous one.
    /// `Error::Parse` once the text is known not to be JSON. It reads the
    /// [`snapshot`](Self::snapshot), so it never holds the stream back.
    pub async fn parse_partial<T: DeserializeOwned>(&self) -> Result<Partial<T>, Error> {
        let text = self.snapshot().await.text();
        self.partial_of(&text)
    }

    /// [`StreamResponse::parse_partial`] for synchronous code. Do not call
    /// it from an async task (it blocks the thread).
    pub fn parse_partial_blocking<T: DeserializeOwned>(&self) -> Result<Partial<T>, Error> {
        let text = self.snapshot_blocking().text();
        self.partial_of(&text)
    }

    fn partial_of<T: DeserializeOwned>(&self, text: &str) -> Result<Partial<T>, Error> {
        let mut state = self.partial.lock().unwrap_or_else(|p| p.into_inner());
        let fed = state.fed();
        // Text only grows; should it not, start over.
        if text.len() < fed || !text.is_char_boundary(fed) {
            *state = PartialText::default();
        }
        let fed = state.fed();
        state.feed_text(&text[fed..]);
        state.current().map(Partial::new)
    }

    /// Stops the generation: the connection closes at once. Whatever was
    /// received (usage included) stays; every consumer, late ones included,
    /// gets the chunks received before, then ends with `Error::Cancelled`.
    /// A no-op once the stream has ended. Dropping the last clone, iterator
    /// and subscription does the same (see [Dropping](#dropping)).
    pub fn cancel(&self) {
        self.handle.cancel()
    }

    /// How the stream ended, once it has (`None` while it runs).
    pub fn outcome(&self) -> Option<Outcome> {
        self.handle.outcome()
    }
}

/// What [`StreamResponse::resume`] adds to the conversation: tool outputs
/// (sent as one tool message) and/or user content.
///
/// ```
/// use rivulet::{Resume, ToolOutput};
/// let outputs = vec![ToolOutput { id: "call_1".into(), name: "sqrt_tool".into(), result: "65.13".into(), is_error: false, attachments: vec![] }];
/// let r: Resume = outputs.clone().into();
/// assert_eq!(r.clone().into_messages().len(), 1);
/// let both = Resume::from(outputs).user("Now round it.");
/// assert_eq!(both.into_messages().len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Resume {
    outputs: Vec<ToolOutput>,
    messages: Vec<Message>,
}

impl Resume {
    /// Tool outputs to send back.
    pub fn outputs(outputs: Vec<ToolOutput>) -> Self {
        Resume {
            outputs,
            messages: Vec::new(),
        }
    }

    /// Adds a user message after the tool outputs.
    pub fn user(mut self, text: impl Into<String>) -> Self {
        self.messages.push(Message::user(text));
        self
    }

    /// Adds messages after the tool outputs.
    pub fn messages(mut self, input: impl Into<Input>) -> Self {
        self.messages.extend(input.into().into_messages());
        self
    }

    /// The messages to append to the history.
    pub fn into_messages(self) -> Vec<Message> {
        let mut out = Vec::new();
        if !self.outputs.is_empty() {
            out.push(Message {
                role: Role::Tool,
                content: self
                    .outputs
                    .into_iter()
                    .map(ContentPart::ToolOutput)
                    .collect(),
            });
        }
        out.extend(self.messages);
        out
    }
}

impl From<Vec<ToolOutput>> for Resume {
    fn from(outputs: Vec<ToolOutput>) -> Self {
        Resume::outputs(outputs)
    }
}

impl From<&str> for Resume {
    fn from(text: &str) -> Self {
        Resume::default().user(text)
    }
}

impl From<String> for Resume {
    fn from(text: String) -> Self {
        Resume::default().user(text)
    }
}

impl From<Message> for Resume {
    fn from(m: Message) -> Self {
        Resume::default().messages(m)
    }
}

impl From<Vec<Message>> for Resume {
    fn from(m: Vec<Message>) -> Self {
        Resume::default().messages(m)
    }
}

impl<S: Into<String>> From<(Vec<ToolOutput>, S)> for Resume {
    fn from((outputs, text): (Vec<ToolOutput>, S)) -> Self {
        Resume::outputs(outputs).user(text)
    }
}

/// Tool calls running eagerly ([`StreamResponse::execute_tools_eagerly`]):
/// a future of their outputs, or [`EagerTools::wait`] in blocking code.
/// Dropping it does not stop the calls.
#[derive(Debug)]
pub struct EagerTools {
    rx: futures::channel::oneshot::Receiver<Vec<ToolOutput>>,
}

impl EagerTools {
    /// Blocks until the stream has ended and every call has run. Do not
    /// call it from async code (await the value instead).
    pub fn wait(self) -> Vec<ToolOutput> {
        futures::executor::block_on(self)
    }
}

impl Future for EagerTools {
    type Output = Vec<ToolOutput>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<ToolOutput>> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or_default())
    }
}

/// Chunks of a subscription as `Result`s: `Ok(chunk)` for each chunk, one
/// `Err` if the stream failed, then the end.
pub struct Chunks<S> {
    events: S,
    done: bool,
}

impl<S> Chunks<S> {
    /// The chunks of any [`Event`] source: a subscription, or events
    /// that came another way (another node, a test).
    pub fn new(events: S) -> Self {
        Chunks {
            events,
            done: false,
        }
    }

    // One mapping for both the Iterator and the Stream impls.
    fn map(&mut self, event: Option<Event>) -> Option<Option<Result<SharedChunk, Error>>> {
        match event {
            Some(Event::Chunk(c)) => Some(Some(Ok(c))),
            // Only a stream with a window (started on a runtime, not by a
            // Model) can drop chunks before a detached reader gets them;
            // the typed iterators skip the gap (documented on
            // StreamResponse), `subscribe` reports it.
            Some(Event::Missed(_)) => None,
            Some(Event::End(Outcome::Finished)) | None => {
                self.done = true;
                Some(None)
            }
            Some(Event::End(Outcome::Failed(e))) => {
                self.done = true;
                Some(Some(Err(Arc::unwrap_or_clone(e))))
            }
        }
    }
}

impl<S: Iterator<Item = Event>> Iterator for Chunks<S> {
    type Item = Result<SharedChunk, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let event = self.events.next();
            if let Some(item) = self.map(event) {
                return item;
            }
        }
        None
    }
}

impl<S: Stream<Item = Event> + Unpin> Stream for Chunks<S> {
    type Item = Result<SharedChunk, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        while !self.done {
            let event = match Pin::new(&mut self.events).poll_next(cx) {
                Poll::Ready(e) => e,
                Poll::Pending => return Poll::Pending,
            };
            if let Some(item) = self.map(event) {
                return Poll::Ready(item);
            }
        }
        Poll::Ready(None)
    }
}

/// Turns chunks into strings for display.
pub trait Render {
    /// The string to show for `chunk`, if any.
    fn render(&mut self, chunk: &Chunk) -> Option<String>;
}

/// Text deltas, with a separator between text parts.
pub struct TextRender {
    sep: String,
    seen_text: bool,
}

impl TextRender {
    /// Renders text deltas with `sep` between text parts.
    pub fn new(sep: &str) -> Self {
        TextRender {
            sep: sep.to_string(),
            seen_text: false,
        }
    }
}

impl Render for TextRender {
    fn render(&mut self, chunk: &Chunk) -> Option<String> {
        match chunk {
            Chunk::TextStart { .. } => {
                let first = !self.seen_text;
                self.seen_text = true;
                (!first && !self.sep.is_empty()).then(|| self.sep.clone())
            }
            Chunk::Text { delta, .. } if !delta.is_empty() => Some(delta.to_string()),
            _ => None,
        }
    }
}

/// Every part readably: the same text as [`Response::pretty`], streamed.
#[derive(Default)]
pub struct PrettyRender {
    parts: usize,
    audio_parts: std::collections::HashSet<usize>,
    /// Thoughts that showed some text (a redacted thought without any
    /// shows `(redacted)`, as [`Response::pretty`] does).
    thoughts_shown: std::collections::HashSet<usize>,
    /// Citations of text parts still open: shown when the part ends, after
    /// its text, as [`Response::pretty`] shows them.
    sources: std::collections::HashMap<usize, String>,
}

impl PrettyRender {
    fn start(&mut self, header: &str) -> Option<String> {
        let sep = if self.parts > 0 { "\n\n" } else { "" };
        self.parts += 1;
        let s = format!("{sep}{header}");
        (!s.is_empty()).then_some(s)
    }
}

impl Render for PrettyRender {
    fn render(&mut self, chunk: &Chunk) -> Option<String> {
        match chunk {
            Chunk::TextStart { .. } => self.start(""),
            Chunk::ThoughtStart { .. } => self.start("**Thinking:**\n"),
            Chunk::ToolCallStart { name, .. } => self.start(&format!("**ToolCall ({name}):** ")),
            Chunk::ProviderPart { block, .. } => self.start(&format!(
                "**{} {}:** {}",
                block.provider, block.kind, block.json
            )),
            Chunk::ThoughtEnd {
                part,
                redacted: Some(_),
                ..
            } if !self.thoughts_shown.contains(part) => Some("(redacted)".to_string()),
            Chunk::Audio { part, audio } => {
                let mut out = String::new();
                if self.audio_parts.insert(*part) {
                    out.push_str(&self.start("**Audio:** ").unwrap_or_default());
                }
                out.push_str(audio.transcript_delta.as_deref().unwrap_or(""));
                (!out.is_empty()).then_some(out)
            }
            Chunk::Thought { part, delta } if !delta.is_empty() => {
                self.thoughts_shown.insert(*part);
                Some(delta.to_string())
            }
            Chunk::Text { delta, .. } | Chunk::ToolCall { delta, .. } if !delta.is_empty() => {
                Some(delta.to_string())
            }
            Chunk::Citation { part, citation } => {
                let line = format!("\n[source: {}]", citation.label());
                self.sources.entry(*part).or_default().push_str(&line);
                None
            }
            Chunk::TextEnd { part } => self.sources.remove(part),
            _ => None,
        }
    }
}

/// A chunk iterator or stream rendered to strings.
pub struct Rendered<S, R> {
    chunks: Chunks<S>,
    render: R,
}

impl<S, R> Rendered<S, R> {
    fn new(chunks: Chunks<S>, render: R) -> Self {
        Rendered { chunks, render }
    }
}

impl<S: Iterator<Item = Event>, R: Render> Iterator for Rendered<S, R> {
    type Item = Result<String, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.chunks.next()? {
                Ok(c) => {
                    if let Some(s) = self.render.render(&c) {
                        return Some(Ok(s));
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<S: Stream<Item = Event> + Unpin, R: Render + Unpin> Stream for Rendered<S, R> {
    type Item = Result<String, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match Pin::new(&mut this.chunks).poll_next(cx) {
                Poll::Ready(Some(Ok(c))) => {
                    if let Some(s) = this.render.render(&c) {
                        return Poll::Ready(Some(Ok(s)));
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(r: &mut impl Render, chunks: &[Chunk]) -> String {
        chunks.iter().filter_map(|c| r.render(c)).collect()
    }

    fn two_texts_and_a_call() -> Vec<Chunk> {
        vec![
            Chunk::text_start(0),
            Chunk::text(0, "Hello"),
            Chunk::text_end(0),
            Chunk::ToolCallStart {
                part: 1,
                id: "c".into(),
                name: "sqrt".into(),
            },
            Chunk::ToolCall {
                part: 1,
                id: "c".into(),
                delta: "{\"number\":4}".into(),
            },
            Chunk::ToolCallEnd {
                part: 1,
                id: "c".into(),
                signature: None,
            },
            Chunk::text_start(2),
            Chunk::text(2, "World"),
            Chunk::text_end(2),
        ]
    }

    #[test]
    fn text_render_separates_text_parts_only() {
        let chunks = two_texts_and_a_call();
        assert_eq!(render(&mut TextRender::new("\n"), &chunks), "Hello\nWorld");
        assert_eq!(
            render(&mut TextRender::new(" | "), &chunks),
            "Hello | World"
        );
    }

    #[test]
    fn pretty_render_matches_response_pretty() {
        let chunks = two_texts_and_a_call();
        let mut r = Response::default();
        chunks.iter().for_each(|c| r.apply(c));
        assert_eq!(render(&mut PrettyRender::default(), &chunks), r.pretty());
        assert_eq!(
            r.pretty(),
            "Hello\n\n**ToolCall (sqrt):** {\"number\":4}\n\nWorld"
        );
    }

    #[test]
    fn pretty_render_of_redacted_thoughts_and_provider_parts() {
        let chunks = vec![
            Chunk::ThoughtStart { part: 0 },
            Chunk::ThoughtEnd {
                part: 0,
                signature: None,
                redacted: Some("opaque".into()),
            },
            Chunk::provider_part(
                1,
                "anthropic",
                "server_tool_use",
                serde_json::json!({"id": "s"}),
            ),
            Chunk::text_start(2),
            Chunk::text(2, "Done"),
            Chunk::text_end(2),
        ];
        let mut r = Response::default();
        chunks.iter().for_each(|c| r.apply(c));
        assert_eq!(render(&mut PrettyRender::default(), &chunks), r.pretty());
        assert_eq!(
            r.pretty(),
            "**Thinking:**\n(redacted)\n\n**anthropic server_tool_use:** {\"id\":\"s\"}\n\nDone"
        );
    }
}
