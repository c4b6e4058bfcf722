//! Structured output while it streams: [`Partial`] values and the
//! `structured_stream` iterators.
//!
//! The response's text deltas are fed, once each, to an incremental JSON
//! parser ([`rivulet_core::PartialJson`]); each time the partial object
//! changes, a [`Partial<T>`] is yielded. It holds the partial JSON (strings
//! as far as they have streamed, numbers and literals once complete, keys
//! once their value has started, open containers closed) and that JSON
//! deserialized into `T` when it fits.
//!
//! Nesting is bounded as serde_json bounds it
//! ([`PartialJson::MAX_DEPTH`](rivulet_core::PartialJson::MAX_DEPTH)): a
//! text nested deeper is an `Error::Parse` saying so, for the partials and
//! for `parse` alike, and no value deeper than the bound is ever built, so
//! a model's output cannot overflow a stack.

use rivulet_actors::{Event, SharedChunk};
use rivulet_core::{Chunk, Error, ErrorContext, FinishReason, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::consume::{on_chunks, ChunkStep, Consume, Consumer, Step};

/// The incremental JSON parser the partials come from, and its errors.
pub use rivulet_core::{PartialJson, PartialJsonError, PartialJsonErrorKind};

/// A structured output as far as it has streamed: the partial JSON (strings
/// as far as they have streamed, numbers and literals once complete, keys
/// once their value has started, open containers closed) and, when it fits,
/// that JSON as a `T`. Yielded by `StreamResponse::structured_stream` each
/// time the object changes, and returned by `parse_partial`.
///
/// **Making `T` fit early.** Serde fills a missing field only when told how,
/// so give `T` `#[derive(Default)]` and `#[serde(default)]` (on the struct,
/// and on nested structs): every partial then deserializes, fields not yet
/// received being empty (their `Default`). Fields of type `Option<_>` are
/// `None` until received. Without that, [`Partial::get`] is `None` until
/// every required field has arrived; [`Partial::json`] is always there.
///
/// ```
/// use rivulet::Partial;
/// use serde::Deserialize;
/// use serde_json::json;
///
/// #[derive(Debug, Default, PartialEq, Deserialize)]
/// #[serde(default)]
/// struct Book { title: String, author: String, pages: Option<u32> }
///
/// let p: Partial<Book> = Partial::new(json!({"title": "The Hob"}));
/// assert_eq!(
///     p.get(),
///     Some(&Book { title: "The Hob".into(), author: String::new(), pages: None })
/// );
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Partial<T> {
    json: Value,
    value: Option<T>,
}

impl<T: DeserializeOwned> Partial<T> {
    /// The partial `json`, deserialized into `T` when it fits.
    pub fn new(json: Value) -> Self {
        let value = T::deserialize(&json).ok();
        Partial { json, value }
    }
}

impl<T> Partial<T> {
    /// The partial JSON (`Value::Null` before anything is visible).
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// The partial value as a `T`, when the JSON so far deserializes into
    /// one (always, for a `T` with `#[serde(default)]`).
    pub fn get(&self) -> Option<&T> {
        self.value.as_ref()
    }

    /// [`Partial::get`], by value.
    pub fn into_inner(self) -> Option<T> {
        self.value
    }
}

fn parse_error(message: impl Into<String>) -> Error {
    Error::Parse {
        ctx: Box::new(ErrorContext::new(message)),
    }
}

/// The incremental parser's error as the user sees it.
fn partial_error(e: &PartialJsonError) -> Error {
    match e.kind() {
        PartialJsonErrorKind::TooDeep => parse_error(format!("the output is {e}")),
        _ => parse_error(format!("the output is not JSON: {e}")),
    }
}

/// serde_json's error as the user sees it. Its recursion limit (the same
/// bound as `PartialJson::MAX_DEPTH`) shows only in its message, which
/// does not say what it means.
fn serde_error(e: serde_json::Error) -> Error {
    let m = e.to_string();
    if m.starts_with("recursion limit exceeded") {
        return parse_error(format!(
            "the output is nested too deeply: more than {} arrays and objects inside each other ({m})",
            PartialJson::MAX_DEPTH
        ));
    }
    parse_error(m)
}

/// Parses a whole structured output: `Error::Parse` with serde's message
/// when the text is not a `T` (or with the refusal when the model refused,
/// or with "nested too deeply" past serde_json's recursion limit).
pub fn parse_response<T: DeserializeOwned>(response: &Response) -> Result<T, Error> {
    let text = response.text();
    if response.finish_reason == Some(FinishReason::Refusal) {
        return Err(parse_error(format!("the model refused: {text}")));
    }
    serde_json::from_str(&text).map_err(serde_error)
}

/// The text parts of a stream fed to an incremental parser, reporting the
/// partial JSON each time it changes: what `structured_stream` is made of,
/// for code that walks the chunks itself (the CLI's `-o partials`).
///
/// ```
/// use rivulet::structured::PartialText;
/// use rivulet::Chunk;
/// use serde_json::json;
///
/// let mut partial = PartialText::default();
/// assert_eq!(partial.push(&Chunk::text(0, r#"{"title": "The H"#)), Some(Ok(json!({"title": "The H"}))));
/// assert_eq!(partial.push(&Chunk::text_end(0)), None);
/// ```
#[derive(Debug, Default)]
pub struct PartialText {
    parser: PartialJson,
    version: u64,
    last: Option<Value>,
}

impl PartialText {
    /// Folds one chunk in: `Some(Ok(json))` when the partial JSON changed,
    /// `Some(Err)` once the text is known not to be JSON.
    pub fn push(&mut self, chunk: &Chunk) -> Option<Result<Value, Error>> {
        let Chunk::Text { delta, .. } = chunk else {
            return None;
        };
        if let Err(e) = self.parser.feed(delta) {
            return Some(Err(partial_error(&e)));
        }
        if self.parser.version() == self.version {
            return None;
        }
        self.version = self.parser.version();
        let now = self.parser.snapshot()?;
        if self.last.as_ref() == Some(&now) {
            return None;
        }
        self.last = Some(now.clone());
        Some(Ok(now))
    }

    /// The partial JSON so far (`Null` before anything is visible).
    pub fn current(&self) -> Result<Value, Error> {
        if let Some(e) = self.parser.error() {
            return Err(partial_error(e));
        }
        Ok(self.parser.snapshot().unwrap_or(Value::Null))
    }

    /// Feeds text known to extend what was fed before.
    pub fn feed_text(&mut self, text: &str) {
        let _ = self.parser.feed(text);
    }

    /// Bytes fed so far.
    pub fn fed(&self) -> usize {
        self.parser.len()
    }
}

/// Partial structured outputs, one per change: a `futures::Stream` over an
/// async subscription, an `Iterator` over a blocking one (see
/// [`Consume`]). A text that turns out not to be JSON, or nests deeper than
/// [`PartialJson::MAX_DEPTH`](rivulet_core::PartialJson::MAX_DEPTH), yields
/// one `Error::Parse`; a failed stream yields its error; then it ends.
/// Identical consecutive partials are never yielded.
pub type StructuredStream<S, T> = Consume<S, PartialConsumer<T>>;

impl<S, T> StructuredStream<S, T> {
    /// The partial structured outputs of `events`.
    pub fn new(events: S) -> Self {
        Consume::with(
            events,
            PartialConsumer {
                state: PartialText::default(),
                _t: std::marker::PhantomData,
            },
        )
    }
}

/// The step of [`StructuredStream`]: the text deltas through a
/// [`PartialText`], a [`Partial`] each time the JSON changes.
pub struct PartialConsumer<T> {
    state: PartialText,
    _t: std::marker::PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> ChunkStep for PartialConsumer<T> {
    type Item = Result<Partial<T>, Error>;
    fn chunk(&mut self, chunk: SharedChunk) -> Step<Self::Item> {
        match self.state.push(&chunk) {
            Some(Ok(json)) => Step::Yield(Ok(Partial::new(json))),
            Some(Err(e)) => Step::Last(Err(e)),
            None => Step::Skip,
        }
    }
    fn error(&mut self, e: Error) -> Self::Item {
        Err(e)
    }
}

impl<T: DeserializeOwned> Consumer for PartialConsumer<T> {
    type Item = Result<Partial<T>, Error>;
    fn step(&mut self, event: Option<Event>) -> Step<Self::Item> {
        on_chunks(self, event)
    }
}
