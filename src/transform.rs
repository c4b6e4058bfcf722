//! Transforms over a stream's iterators: map and filter any of them
//! (errors always pass through), and re-chunk the chunk stream
//! ([`Transform`], [`Smooth`]).
//!
//! Every adapter here is an `Iterator` over a blocking iterator and a
//! `futures::Stream` over an async one, so the same call serves both.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::Stream;
use rivulet_actors::SharedChunk;
use rivulet_core::{Chunk, Error};

use crate::consume::Chunks;
use crate::render::{Render, TextRender};

/// The methods of [`ItemsExt`] and [`StreamItemsExt`]: one body for both.
macro_rules! item_methods {
    () => {
        /// Each `Ok` item through `f`.
        fn map_items<U, F: FnMut(T) -> U>(self, f: F) -> Items<Self, Map<F>> {
            Items::new(self, Map(f))
        }

        /// Only the `Ok` items `keep` accepts (errors always pass).
        fn filter_items<P: FnMut(&T) -> bool>(self, keep: P) -> Items<Self, Filter<P>> {
            Items::new(self, Filter(keep))
        }

        /// Each `Ok` item through `f`; `None` drops it (errors always pass).
        fn filter_map_items<U, F: FnMut(T) -> Option<U>>(self, f: F) -> Items<Self, FilterMap<F>> {
            Items::new(self, FilterMap(f))
        }
    };
}

/// Map and filter for any of a stream's blocking iterators
/// (`response.blocking().text_stream(…)`, `.chunk_stream()`, … and the adapters
/// here; [`StreamItemsExt`] does the same for the async ones), item by
/// item. Only `Ok` items are mapped or filtered: an error always reaches
/// the consumer, as the iterator's last item.
///
/// ```
/// use rivulet::transform::ItemsExt;
/// # use rivulet::{Chunk, Model};
/// # use std::sync::Arc;
/// # use futures::stream;
/// # use rivulet_core::{ChunkStream, OpenFuture, Provider, Request};
/// # struct Echo;
/// # impl Provider for Echo {
/// #     fn id(&self) -> &str { "echo" }
/// #     fn open(&self, _: &Request) -> OpenFuture {
/// #         let chunks: ChunkStream = Box::pin(stream::iter(
/// #             [Chunk::text_start(0), Chunk::text(0, "hello "), Chunk::text(0, "world"), Chunk::text_end(0)].map(Ok),
/// #         ));
/// #         Box::pin(async move { Ok(chunks) })
/// #     }
/// # }
/// # let response = Model::new("echo/v1").with_provider(Arc::new(Echo)).stream("hi");
/// let shouted: Vec<String> = response
///     .blocking()
///     .text_stream("")
///     .map_items(|t| t.to_uppercase())
///     .filter_items(|t| !t.trim().is_empty())
///     .collect::<Result<_, _>>()
///     .unwrap();
/// assert_eq!(shouted, ["HELLO ", "WORLD"]);
/// ```
pub trait ItemsExt<T>: Iterator<Item = Result<T, Error>> + Sized {
    item_methods!();
}

impl<T, I: Iterator<Item = Result<T, Error>>> ItemsExt<T> for I {}

/// [`ItemsExt`] for the async iterators (`futures::Stream`s): the same
/// map and filter, errors always passing.
pub trait StreamItemsExt<T>: Stream<Item = Result<T, Error>> + Sized {
    item_methods!();
}

impl<T, S: Stream<Item = Result<T, Error>>> StreamItemsExt<T> for S {}

/// What [`Items`] does to each `Ok` item: [`Map`], [`Filter`] or
/// [`FilterMap`].
pub trait ItemFn<T> {
    /// The items it gives.
    type Out;
    /// The item for `t`, or `None` to drop it.
    fn call(&mut self, t: T) -> Option<Self::Out>;
}

/// [`ItemsExt::map_items`]'s function.
pub struct Map<F>(F);
/// [`ItemsExt::filter_items`]'s predicate.
pub struct Filter<P>(P);
/// [`ItemsExt::filter_map_items`]'s function.
pub struct FilterMap<F>(F);

impl<T, U, F: FnMut(T) -> U> ItemFn<T> for Map<F> {
    type Out = U;
    fn call(&mut self, t: T) -> Option<U> {
        Some((self.0)(t))
    }
}

impl<T, P: FnMut(&T) -> bool> ItemFn<T> for Filter<P> {
    type Out = T;
    fn call(&mut self, t: T) -> Option<T> {
        (self.0)(&t).then_some(t)
    }
}

impl<T, U, F: FnMut(T) -> Option<U>> ItemFn<T> for FilterMap<F> {
    type Out = U;
    fn call(&mut self, t: T) -> Option<U> {
        (self.0)(t)
    }
}

/// The adapter of [`ItemsExt`]: an `Iterator` or a `Stream`, as its inner
/// iterator is.
pub struct Items<S, F> {
    inner: S,
    f: F,
}

impl<S, F> Items<S, F> {
    fn new(inner: S, f: F) -> Self {
        Items { inner, f }
    }
}

impl<S, F, T> Iterator for Items<S, F>
where
    S: Iterator<Item = Result<T, Error>>,
    F: ItemFn<T>,
{
    type Item = Result<F::Out, Error>;
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            match self.inner.next()? {
                Ok(t) => {
                    if let Some(u) = self.f.call(t) {
                        return Some(Ok(u));
                    }
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<S, F, T> Stream for Items<S, F>
where
    S: Stream<Item = Result<T, Error>> + Unpin,
    F: ItemFn<T> + Unpin,
{
    type Item = Result<F::Out, Error>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(t))) => {
                    if let Some(u) = this.f.call(t) {
                        return Poll::Ready(Some(Ok(u)));
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A chunk-level transform: what to emit for each chunk (none, the same,
/// or others), what to emit at the end, and at what pace.
pub trait Transform {
    /// The chunks to emit for `chunk`, pushed onto `out`.
    fn push(&mut self, chunk: &Chunk, out: &mut VecDeque<Paced>);
    /// What is still held, when the stream ends (finished or failed: held
    /// content comes before the error).
    fn end(&mut self, out: &mut VecDeque<Paced>) {
        let _ = out;
    }
}

/// A chunk a transform emits, and how long after the previous paced chunk
/// it may go out (`None`: at once).
#[derive(Clone, Debug, PartialEq)]
pub struct Paced {
    /// The chunk.
    pub chunk: Chunk,
    /// The least time since the previous paced chunk.
    pub after: Option<Duration>,
}

impl Paced {
    /// `chunk`, at once.
    pub fn now(chunk: Chunk) -> Self {
        Paced { chunk, after: None }
    }
}

/// How [`Smooth`] cuts text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// A word and the whitespace after it.
    Word,
    /// A line and its newline(s).
    Line,
}

/// Re-chunks text deltas by word or by line and lets them out at a steady
/// pace, as the Vercel AI SDK's `smoothStream` does: text is held until a
/// whole word (or line) has arrived, then each goes out `delay` after the
/// one before; any other chunk first lets out the text held (at once),
/// then goes through unchanged, as does the end of the stream.
///
/// ```
/// use rivulet::transform::{Cut, Smooth};
/// use std::time::Duration;
/// let smooth = Smooth::new(Cut::Word, Duration::from_millis(10));
/// # let _ = smooth;
/// ```
#[derive(Clone, Debug)]
pub struct Smooth {
    cut: Cut,
    delay: Duration,
    held: String,
    part: usize,
}

impl Smooth {
    /// Cut by `cut`, `delay` apart.
    pub fn new(cut: Cut, delay: Duration) -> Self {
        Smooth {
            cut,
            delay,
            held: String::new(),
            part: 0,
        }
    }

    /// Word by word, 10 ms apart (the AI SDK's defaults).
    pub fn words() -> Self {
        Smooth::new(Cut::Word, Duration::from_millis(10))
    }

    /// Line by line, 10 ms apart.
    pub fn lines() -> Self {
        Smooth::new(Cut::Line, Duration::from_millis(10))
    }

    /// Where the first whole piece of `held` ends, if one has arrived:
    /// as the AI SDK's patterns (`\S+\s+`, `\n+`) match, with the text
    /// before the match, and the whitespace (or newlines) as far as it
    /// has arrived.
    fn piece_end(&self) -> Option<usize> {
        let s = &self.held;
        let run_end = |from: usize, in_run: fn(char) -> bool| {
            from + s[from..]
                .find(|c: char| !in_run(c))
                .unwrap_or(s.len() - from)
        };
        match self.cut {
            Cut::Word => {
                let word = s.find(|c: char| !c.is_whitespace())?;
                let space = word + s[word..].find(char::is_whitespace)?;
                Some(run_end(space, char::is_whitespace))
            }
            Cut::Line => {
                let nl = s.find('\n')?;
                Some(run_end(nl, |c| c == '\n'))
            }
        }
    }

    fn release_held(&mut self, out: &mut VecDeque<Paced>) {
        if !self.held.is_empty() {
            let text = std::mem::take(&mut self.held);
            out.push_back(Paced::now(Chunk::text(self.part, text)));
        }
    }
}

impl Transform for Smooth {
    fn push(&mut self, chunk: &Chunk, out: &mut VecDeque<Paced>) {
        match chunk {
            Chunk::Text { part, delta } => {
                if *part != self.part {
                    self.release_held(out);
                    self.part = *part;
                }
                self.held.push_str(delta);
                while let Some(end) = self.piece_end() {
                    let rest = self.held.split_off(end);
                    let piece = std::mem::replace(&mut self.held, rest);
                    out.push_back(Paced {
                        chunk: Chunk::text(self.part, piece),
                        after: Some(self.delay),
                    });
                }
            }
            other => {
                self.release_held(out);
                out.push_back(Paced::now(other.clone()));
            }
        }
    }

    fn end(&mut self, out: &mut VecDeque<Paced>) {
        self.release_held(out);
    }
}

/// A map over chunks as a [`Transform`]: `f` gives the chunk to emit, or
/// `None` to drop it.
pub struct MapChunks<F>(pub F);

impl<F: FnMut(&Chunk) -> Option<Chunk>> Transform for MapChunks<F> {
    fn push(&mut self, chunk: &Chunk, out: &mut VecDeque<Paced>) {
        if let Some(c) = (self.0)(chunk) {
            out.push_back(Paced::now(c));
        }
    }
}

/// A chunk iterator through a [`Transform`]: `Result<Chunk, Error>` items,
/// an error after whatever the transform still held.
pub struct Transformed<S, T> {
    inner: S,
    transform: T,
    queue: VecDeque<Paced>,
    error: Option<Error>,
    ended: bool,
    last_paced: Option<Instant>,
    /// The async pace: the sleep until the next paced chunk may go.
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S, T> Transformed<S, T> {
    fn new(inner: S, transform: T) -> Self {
        Transformed {
            inner,
            transform,
            queue: VecDeque::new(),
            error: None,
            ended: false,
            last_paced: None,
            sleep: None,
        }
    }

    /// When the front of the queue may go out (`None`: now).
    fn due(&self) -> Option<Instant> {
        let after = self.queue.front()?.after?;
        let due = self.last_paced? + after;
        (due > Instant::now()).then_some(due)
    }

    fn pop(&mut self) -> Option<Result<Chunk, Error>> {
        let paced = self.queue.pop_front()?;
        if paced.after.is_some() {
            self.last_paced = Some(Instant::now());
        }
        Some(Ok(paced.chunk))
    }
}

impl<S, T: Transform> Transformed<S, T> {
    fn take(&mut self, item: Option<Result<SharedChunk, Error>>) {
        match item {
            Some(Ok(c)) => self.transform.push(&c, &mut self.queue),
            Some(Err(e)) => {
                self.transform.end(&mut self.queue);
                self.error = Some(e);
                self.ended = true;
            }
            None => {
                self.transform.end(&mut self.queue);
                self.ended = true;
            }
        }
    }

    /// Text deltas only, `sep` between text parts (as `text_stream`).
    pub fn text(self, sep: &str) -> Items<Self, FilterMap<impl FnMut(Chunk) -> Option<String>>> {
        let mut render = TextRender::new(sep);
        Items::new(self, FilterMap(move |c: Chunk| render.render(&c)))
    }
}

impl<S, T> Iterator for Transformed<S, T>
where
    S: Iterator<Item = Result<SharedChunk, Error>>,
    T: Transform,
{
    type Item = Result<Chunk, Error>;
    /// Blocks the thread (for the pace too): not for async code.
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if !self.queue.is_empty() {
                if let Some(due) = self.due() {
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
                return self.pop();
            }
            if self.ended {
                return self.error.take().map(Err);
            }
            let item = self.inner.next();
            self.take(item);
        }
    }
}

impl<S, T> Stream for Transformed<S, T>
where
    S: Stream<Item = Result<SharedChunk, Error>> + Unpin,
    T: Transform + Unpin,
{
    type Item = Result<Chunk, Error>;
    /// The pace uses tokio's timer: poll it inside a tokio runtime.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if !this.queue.is_empty() {
                if let Some(due) = this.due() {
                    let due = tokio::time::Instant::from_std(due);
                    let sleep = this
                        .sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                    if sleep.deadline() != due {
                        sleep.as_mut().reset(due);
                    }
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                }
                return Poll::Ready(this.pop());
            }
            if this.ended {
                return Poll::Ready(this.error.take().map(Err));
            }
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(item) => this.take(item),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

// Chunk transforms on the chunk iterators: kept here, beside the adapter.
impl<S> Chunks<S> {
    /// These chunks through `transform` ([`Smooth`], [`MapChunks`] or your
    /// own): an `Iterator` over a blocking subscription, a `Stream` over an
    /// async one. Owned chunks come out (a transform may make new ones).
    pub fn transform<T: Transform>(self, transform: T) -> Transformed<Self, T> {
        Transformed::new(self, transform)
    }

    /// These chunks re-cut and paced by [`Smooth`].
    pub fn smooth(self, smooth: Smooth) -> Transformed<Self, Smooth> {
        self.transform(smooth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smooth_all(mut s: Smooth, chunks: &[Chunk]) -> Vec<Paced> {
        let mut out = VecDeque::new();
        for c in chunks {
            s.push(c, &mut out);
        }
        s.end(&mut out);
        out.into()
    }

    fn texts(out: &[Paced]) -> Vec<String> {
        out.iter()
            .map(|p| match &p.chunk {
                Chunk::Text { delta, .. } => delta.to_string(),
                other => format!("<{}>", other.type_name()),
            })
            .collect()
    }

    #[test]
    fn words_are_cut_whole_whatever_the_deltas() {
        let out = smooth_all(
            Smooth::words(),
            &[
                Chunk::text_start(0),
                Chunk::text(0, "Hel"),
                Chunk::text(0, "lo, wor"),
                Chunk::text(0, "ld!  How "),
                Chunk::text(0, "are\nyou"),
                Chunk::text_end(0),
            ],
        );
        assert_eq!(
            texts(&out),
            [
                "<text_start_chunk>",
                "Hello, ",
                "world!  ",
                "How ",
                "are\n",
                "you",
                "<text_end_chunk>"
            ]
        );
        // Whole words are paced; what the end lets out goes at once.
        assert_eq!(out[1].after, Some(Duration::from_millis(10)));
        assert_eq!(out[5].after, None);
    }

    #[test]
    fn lines_and_multibyte_text() {
        let out = smooth_all(
            Smooth::lines(),
            &[
                Chunk::text(0, "première ligne\n"),
                Chunk::text(0, "\nzweite 👋"),
                Chunk::text(0, " Zeile\nlast"),
            ],
        );
        assert_eq!(
            texts(&out),
            ["première ligne\n", "\n", "zweite 👋 Zeile\n", "last"]
        );
    }

    #[test]
    fn a_new_part_lets_the_held_text_out() {
        let out = smooth_all(
            Smooth::words(),
            &[
                Chunk::text(0, "one tw"),
                Chunk::text(1, "three"),
                Chunk::ToolCallStart {
                    part: 2,
                    id: "c".into(),
                    name: "f".into(),
                },
            ],
        );
        assert_eq!(
            texts(&out),
            ["one ", "tw", "three", "<tool_call_start_chunk>"]
        );
        assert_eq!(
            out.iter()
                .map(|p| p.chunk.part().unwrap())
                .collect::<Vec<_>>(),
            [0, 0, 1, 2]
        );
    }
}
