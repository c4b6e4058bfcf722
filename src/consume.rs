//! One adaptor for every consumer of a stream's events.
//!
//! A consumer (the chunks, rendered text, structured partials) is one step
//! function from the next [`Event`] to what it makes of it ([`Step`]).
//! [`Consume`] drives a consumer over a source of events: over an async
//! [`Subscription`](crate::Subscription) it is a `futures::Stream`, over a
//! [`BlockingSubscription`](crate::BlockingSubscription) an `Iterator`. So
//! each consumer is written once, whichever way it is read.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use rivulet_actors::{Event, Outcome, SharedChunk};
use rivulet_core::Error;

/// What a [`Consumer`] makes of one event.
#[derive(Debug)]
pub enum Step<T> {
    /// An item to yield; more may follow.
    Yield(T),
    /// Nothing to yield for this event: read the next one.
    Skip,
    /// The last item: yield it, then end.
    Last(T),
    /// End without yielding anything more.
    Done,
}

/// A step function over a stream's events, driven by [`Consume`].
///
/// `step` is called with each event in turn, and with `None` if the source
/// ends without a terminal [`Event::End`] (a subscription whose stream went
/// away). After it returns [`Step::Last`] or [`Step::Done`] it is not
/// called again.
pub trait Consumer {
    /// What the consumer yields.
    type Item;
    /// What the next event (or the source's end) gives.
    fn step(&mut self, event: Option<Event>) -> Step<Self::Item>;
}

/// A [`Consumer`] driven over a source of [`Event`]s: a `futures::Stream`
/// when the source is one (an async [`Subscription`](crate::Subscription)),
/// an `Iterator` when the source is one (a
/// [`BlockingSubscription`](crate::BlockingSubscription), or events from
/// elsewhere). [`Chunks`], [`Rendered`](crate::Rendered) and
/// [`StructuredStream`](crate::StructuredStream) are its kinds.
pub struct Consume<S, C> {
    events: S,
    consumer: C,
    done: bool,
}

impl<S, C> Consume<S, C> {
    /// Drives `consumer` over `events`.
    pub fn with(events: S, consumer: C) -> Self {
        Consume {
            events,
            consumer,
            done: false,
        }
    }
}

impl<S, C: Consumer> Consume<S, C> {
    /// The consumer's step on `event`: `Some(item)` to yield (`None` at the
    /// end), `None` to read on.
    fn advance(&mut self, event: Option<Event>) -> Option<Option<C::Item>> {
        match self.consumer.step(event) {
            Step::Yield(item) => Some(Some(item)),
            Step::Skip => None,
            Step::Last(item) => {
                self.done = true;
                Some(Some(item))
            }
            Step::Done => {
                self.done = true;
                Some(None)
            }
        }
    }
}

impl<S: Iterator<Item = Event>, C: Consumer> Iterator for Consume<S, C> {
    type Item = C::Item;
    fn next(&mut self) -> Option<C::Item> {
        while !self.done {
            let event = self.events.next();
            if let Some(item) = self.advance(event) {
                return item;
            }
        }
        None
    }
}

impl<S: Stream<Item = Event> + Unpin, C: Consumer + Unpin> Stream for Consume<S, C> {
    type Item = C::Item;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<C::Item>> {
        let this = &mut *self;
        while !this.done {
            let event = match Pin::new(&mut this.events).poll_next(cx) {
                Poll::Ready(event) => event,
                Poll::Pending => return Poll::Pending,
            };
            if let Some(item) = this.advance(event) {
                return Poll::Ready(item);
            }
        }
        Poll::Ready(None)
    }
}

/// The chunks of a source of events as `Result`s: `Ok(chunk)` for each
/// chunk, one `Err` if the stream failed, then the end.
///
/// ```
/// use rivulet::{Chunk, Chunks, Event, Outcome};
///
/// // Events that came another way (another node, a test).
/// let events = vec![Event::End(Outcome::Finished)];
/// assert_eq!(Chunks::new(events.into_iter()).count(), 0);
/// ```
pub type Chunks<S> = Consume<S, ChunkConsumer>;

impl<S> Chunks<S> {
    /// The chunks of any [`Event`] source: a subscription, or events that
    /// came another way (another node, a test).
    pub fn new(events: S) -> Self {
        Consume::with(events, ChunkConsumer)
    }
}

/// The step of [`Chunks`]: each chunk, then the stream's error if it
/// failed.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChunkConsumer;

impl Consumer for ChunkConsumer {
    type Item = Result<SharedChunk, Error>;
    fn step(&mut self, event: Option<Event>) -> Step<Self::Item> {
        match event {
            Some(Event::Chunk(c)) => Step::Yield(Ok(c)),
            // Only a stream with a window (started on a runtime, not by a
            // Model) can drop chunks before a detached reader gets them;
            // the typed iterators skip the gap (documented on
            // StreamResponse), `subscribe` reports it.
            Some(Event::Missed(_)) => Step::Skip,
            Some(Event::End(Outcome::Finished)) | None => Step::Done,
            Some(Event::End(Outcome::Failed(e))) => Step::Last(Err(Arc::unwrap_or_clone(e))),
        }
    }
}

/// A consumer of chunks rather than events: what every typed iterator
/// builds on [`ChunkConsumer`].
pub(crate) trait ChunkStep {
    type Item;
    /// What `chunk` gives (`Skip` for nothing).
    fn chunk(&mut self, chunk: SharedChunk) -> Step<Self::Item>;
    /// The stream failed with `e`.
    fn error(&mut self, e: Error) -> Self::Item;
}

/// Runs `step` on what [`ChunkConsumer`] makes of `event`.
pub(crate) fn on_chunks<T: ChunkStep>(step: &mut T, event: Option<Event>) -> Step<T::Item> {
    match ChunkConsumer.step(event) {
        Step::Yield(Ok(chunk)) | Step::Last(Ok(chunk)) => step.chunk(chunk),
        Step::Yield(Err(e)) | Step::Last(Err(e)) => Step::Last(step.error(e)),
        Step::Skip => Step::Skip,
        Step::Done => Step::Done,
    }
}
