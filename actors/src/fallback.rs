//! Fallback models: what to try when a stream's model cannot answer, and
//! the record of which model did.
//!
//! The provider actor tries the stream's own model first, with its
//! retries. When its last attempt fails with a retryable error before any
//! content chunk (overloaded, 5xx, 429, a connection that failed), it
//! moves to the next [`Fallback`], with that model's own retries, and so
//! on. Nothing from a model that failed reaches the log (chunks before the
//! first content chunk are held back until then), so consumers see one
//! model's answer, whichever it is. A failure after content never falls
//! back: what was shown cannot be taken back.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rivulet_core::{Error, Provider, Request};

/// A model to try when the ones before it could not answer (see
/// [`StreamOptions::fallbacks`](crate::StreamOptions::fallbacks)).
#[derive(Clone)]
pub struct Fallback {
    /// The provider that serves it.
    pub provider: Arc<dyn Provider>,
    /// Its provider id, for the response and the record.
    pub provider_id: String,
    /// Its model name.
    pub model: String,
    /// The request to send it; `None` sends the stream's own request with
    /// `model` in place of the model name.
    pub request: Option<Box<Request>>,
    /// Its own retries before the next fallback is tried.
    pub retries: u32,
    /// Its own first backoff delay (doubled each retry, up to the stream's
    /// `max_retry_wait`).
    pub backoff: Duration,
}

impl fmt::Debug for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The request holds the conversation: never printed.
        f.debug_struct("Fallback")
            .field("provider_id", &self.provider_id)
            .field("model", &self.model)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

/// A model that was tried and did not answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Skipped {
    /// Its provider id.
    pub provider_id: String,
    /// Its model name.
    pub model: String,
    /// Why: its last attempt's error.
    pub error: Arc<Error>,
}

/// Which model a stream's answer comes from, and why the ones tried before
/// it did not answer. While the stream runs it names the model being
/// tried; once a content chunk has arrived it no longer changes.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Routing {
    /// The provider id of the model answering (or tried last).
    pub provider_id: String,
    /// Its model name, as requested.
    pub model: String,
    /// The models tried before it, in order.
    pub skipped: Vec<Skipped>,
}

impl Routing {
    /// Whether the stream's own model answered (no fallback was used).
    pub fn is_first_choice(&self) -> bool {
        self.skipped.is_empty()
    }
}
