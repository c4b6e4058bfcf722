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

use rivulet_actors::{
    Outcome, ParsedToolCall, PartialToolCall, Policy, StreamHandle, Subscription,
};
use rivulet_core::{ContentPart, Error, Message, Response, Role, ToolOutput};
use serde::de::DeserializeOwned;

// Named only in the docs' links.
#[cfg(doc)]
use rivulet_actors::{Event, SharedChunk};
#[cfg(doc)]
use rivulet_core::Chunk;

use crate::consume::Chunks;
use crate::parts::PartStreams;
use crate::render::{PrettyRender, Rendered, TextRender};
use crate::structured::{parse_response, Partial, PartialText, StructuredStream};
use crate::{Input, Model, Toolkit};

/// A streaming response. Returned at once by [`crate::Model::stream`];
/// errors surface while iterating.
///
/// Its iterators (`text_stream`, `chunk_stream`, …) implement
/// `futures::Stream`, and its waits (`finish`, `snapshot`, …) are `async`.
/// Synchronous code reaches the same methods, as `Iterator`s and blocking
/// calls, through one view: [`StreamResponse::blocking`]. Items are
/// `Result`s: a failed stream yields its error once, then ends; what was
/// received before stays in [`StreamResponse::snapshot`].
///
/// ```no_run
/// # fn main() -> Result<(), rivulet::Error> {
/// let response = rivulet::Model::new("openai/gpt-4o-mini").stream("Hello");
/// for text in response.blocking().text_stream("") {
///     print!("{}", text?);
/// }
/// println!("\n{:?}", response.blocking().finish()?.usage);
/// # Ok(()) }
/// ```
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

    /// Every chunk, typed (match on [`Chunk`]; each knows its
    /// [offset](SharedChunk::offset)). Replays from the start, then follows
    /// live; detached, so leaving it unpolled stalls nobody; dropping it
    /// ends only this iterator (see [the type's docs](StreamResponse)).
    pub fn chunk_stream(&self) -> Chunks<Subscription> {
        Chunks::new(self.handle.subscribe(Policy::default()))
    }

    /// Text deltas only, with `sep` between text parts. Replays from the
    /// start, then follows live; detached, so leaving it unpolled stalls
    /// nobody; dropping it ends only this iterator (see
    /// [the type's docs](StreamResponse)).
    pub fn text_stream(&self, sep: &str) -> Rendered<Subscription, TextRender> {
        Rendered::new(
            self.handle.subscribe(Policy::default()),
            TextRender::new(sep),
        )
    }

    /// Every part rendered readably (thoughts and tool calls included), the
    /// streaming form of [`Response::pretty`]. Replays from the start, then
    /// follows live; detached, so leaving it unpolled stalls nobody;
    /// dropping it ends only this iterator (see
    /// [the type's docs](StreamResponse)).
    pub fn pretty_stream(&self) -> Rendered<Subscription, PrettyRender> {
        Rendered::new(
            self.handle.subscribe(Policy::default()),
            PrettyRender::default(),
        )
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

    /// The response as received so far: the whole log folded, from the
    /// start, whenever it is called. It never holds the stream back.
    pub async fn snapshot(&self) -> Response {
        self.handle.snapshot().await
    }

    /// Complete tool calls with parsed arguments, as far as the stream has
    /// come: calls that have ended (`args: Err` for invalid ones). A call
    /// still streaming or cut off is not listed; after [`finish`](Self::finish)
    /// this is every call of the response. Never holds the stream back.
    pub async fn tool_calls(&self) -> Vec<ParsedToolCall> {
        self.handle.tool_calls().await
    }

    /// Every tool call so far with its arguments as far as they have
    /// streamed (partial JSON, open strings and containers closed) and its
    /// state: streaming, ended, or invalid (cut off by `max_tokens`, a cancel
    /// or a failure: such a call is never executed). Never holds the stream
    /// back.
    pub async fn partial_tool_calls(&self) -> Vec<PartialToolCall> {
        self.handle.partial_tool_calls().await
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
        self.handle.ended().await;
        let calls = self.handle.tool_calls().await;
        toolkit.execute_all(&calls).await
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
    /// for partial in response.blocking().structured_stream::<Book>() {
    ///     println!("{:?}", partial?.get()); // fields not received yet are empty
    /// }
    /// let book: Book = response.blocking().parse()?;
    /// # Ok(()) }
    /// ```
    pub fn structured_stream<T: DeserializeOwned>(&self) -> StructuredStream<Subscription, T> {
        StructuredStream::new(self.handle.subscribe(Policy::default()))
    }

    /// Waits for the end and parses the text as a `T`: `Error::Parse` with
    /// serde's message when it is not one (or the refusal, when the model
    /// refused); the stream's error when it failed. Like
    /// [`finish`](Self::finish), it never holds the stream back.
    pub async fn parse<T: DeserializeOwned>(&self) -> Result<T, Error> {
        parse_response(&self.finish().await?)
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

    pub(crate) fn partial_of<T: DeserializeOwned>(&self, text: &str) -> Result<Partial<T>, Error> {
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

    /// Waits for the end and returns how the stream ended, without
    /// copying the response as [`finish`](Self::finish) does: for a task
    /// that only needs to know when and how (a supervisor, a metrics
    /// task). Once it returns, `snapshot()` and `finish()` give the final
    /// response. Waiting never holds the stream back, and dropping the
    /// future does not cancel it.
    pub async fn ended(&self) -> Outcome {
        self.handle.ended().await
    }

    /// How long the first content chunk (text, thought, tool call, …)
    /// took to arrive, counted from when the request was ready (at once
    /// for `stream`; for [`resume`](Self::resume), once the previous turn
    /// has ended and the request is built), a wait for a rate limit's
    /// slot, retries and fallbacks included: `None` until it has arrived,
    /// and for a stream that ends without content. A consumer sees the
    /// chunk a little later, when it reads it.
    pub fn time_to_first_chunk(&self) -> Option<std::time::Duration> {
        self.handle.time_to_first_chunk()
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
