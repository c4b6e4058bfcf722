//! How a stream and a runtime are configured: [`StreamOptions`] (limits,
//! timeouts, retries), [`Policy`] (how a subscription keeps up),
//! [`RuntimeConfig`] and the [`RuntimeStats`] a runtime reports.

use std::time::Duration;

use rivulet_core::{Error, Request};

use crate::fallback::Fallback;
// Named only in the docs' links.
#[cfg(doc)]
use crate::{Event, Runtime, StreamHandle};

/// A request still to be built, for [`Runtime::start_deferred`].
pub type DeferredRequest =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Request, Error>> + Send>>;

/// The default [`StreamOptions::max_retry_wait`]: a minute.
pub const DEFAULT_MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// Per-stream limits and policies.
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Opening the connection and receiving the response head, waiting for
    /// a slot of a concurrency limit included. None by default: the
    /// providers' HTTP transport has its own limits on a silent network (30
    /// s to connect, 10 minutes for the response head, a body silent for
    /// 10 to 20 minutes), which do not count a queue.
    pub connect_timeout: Option<Duration>,
    /// From the start of the call to the first content chunk. None by
    /// default.
    pub first_chunk_timeout: Option<Duration>,
    /// Between two content chunks (non-content chunks do not reset it).
    /// None by default.
    pub idle_timeout: Option<Duration>,
    /// The whole stream, retries included. None by default.
    pub total_timeout: Option<Duration>,
    /// How many times to retry a retryable error before the first content chunk.
    pub retries: u32,
    /// First backoff delay; doubled each retry, up to `max_retry_wait`.
    /// `Retry-After` wins when larger.
    pub backoff: Duration,
    /// The longest wait before a retry ([`DEFAULT_MAX_RETRY_WAIT`], 60 s,
    /// by default). A server that asks for more (`Retry-After` or
    /// `retry-after-ms` on a 429, 503 or 529) is not waited for: the
    /// stream fails at once with the server's error, whose
    /// [`Error::retry_after`] is the wait it asked for.
    pub max_retry_wait: Duration,
    /// Keep generating when every handle has been dropped.
    pub run_to_completion: bool,
    /// Keep at most this many chunks in the log; older ones are dropped and a
    /// subscription that falls out of the window is told how many it missed.
    /// Memory is freed a segment of the log at a time (32 chunks at first,
    /// then twice as many each segment, up to the window or 1,024 chunks,
    /// whichever is less), so up to a segment's chunks beyond the window
    /// may stay resident until then.
    pub window: Option<usize>,
    /// The provider id and model name, for tracing and the Response.
    pub provider_id: String,
    /// The model name (see `provider_id`).
    pub model: String,
    /// Models to try, in order, when this one fails with a retryable error
    /// before the first content chunk, after its own `retries` (see
    /// [`Fallback`]). Timeouts still count from the start of the stream:
    /// the first-chunk and total timeouts cover every model tried, the
    /// connect timeout each attempt. [`StreamHandle::routing`] says which
    /// model answered and why the others did not.
    pub fallbacks: Vec<Fallback>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            connect_timeout: None,
            first_chunk_timeout: None,
            idle_timeout: None,
            total_timeout: None,
            retries: 2,
            backoff: Duration::from_millis(500),
            max_retry_wait: DEFAULT_MAX_RETRY_WAIT,
            run_to_completion: false,
            window: None,
            provider_id: String::new(),
            model: String::new(),
            fallbacks: Vec::new(),
        }
    }
}

/// How a subscription keeps up with its stream.
///
/// The default is `Detached { capacity: 64 }`: a subscription that is kept but
/// not read stalls nobody.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Backpressure: when its consumer is `capacity` chunks behind, the
    /// provider actor stops reading the socket, so TCP slows the server,
    /// and the stream stops for every other consumer too. It never loses a
    /// chunk (with a window: as long as `capacity` is within the window).
    ///
    /// Use it when the consumer must throttle the provider: the log has a
    /// window (so a detached subscription that falls behind would miss chunks),
    /// or memory must stay bounded by how fast the slowest consumer is. A
    /// lossless subscription must be read (or dropped): one left unread
    /// stops the stream.
    Lossless {
        /// How many chunks its consumer may be behind the provider (at least 1).
        capacity: usize,
    },
    /// Never slows the stream: it reads behind from the log at its own
    /// pace, so while the log holds the whole response (no window, the
    /// default) it loses nothing. With a window it may fall out of it, and
    /// is then told how much it missed ([`Event::Missed`]).
    Detached {
        /// How many events one read of the log takes for the consumer (at
        /// least 1, at most 32); it never bounds how far behind the
        /// consumer may be.
        capacity: usize,
    },
}

impl Default for Policy {
    fn default() -> Self {
        Policy::Detached { capacity: 64 }
    }
}

/// Configuration of a runtime.
///
/// ```
/// use rivulet_actors::{Placement, Runtime, RuntimeConfig};
///
/// let rt = Runtime::new(RuntimeConfig {
///     placement: Placement::Arbiter,
///     ..RuntimeConfig::default()
/// });
/// # rt.shutdown();
/// ```
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// Number of actix arbiters (threads) streams are spread over.
    pub arbiters: usize,
    /// Where each stream's provider actor runs (the task that reads the
    /// provider's response, decodes it and appends to the log).
    pub placement: Placement,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            arbiters: 1,
            placement: Placement::default(),
        }
    }
}

/// Where a stream's provider actor runs: the task that sends the request,
/// reads the response, decodes it and appends the chunks to the log. The
/// accumulator and the tool parser run on the stream's arbiter either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Placement {
    /// On the tokio runtime the stream is started from, when that runtime
    /// is multi-threaded (as `#[tokio::main]`'s is); otherwise (a
    /// current-thread runtime, or no runtime) on the stream's arbiter.
    ///
    /// Consumers on that runtime are then woken where the chunk was
    /// decoded, without a hand-off between threads: with 5,000 streams at
    /// once, 12% less CPU per chunk and 4.6 KiB less memory per stream than
    /// [`Placement::Arbiter`] (`bench`), and the first chunk reaches an
    /// async consumer in a third of the time (p50 about 100 µs against
    /// 350 on the project's 2-core VM). The other way round: one fast
    /// stream read by 8 async consumers on a 2-worker runtime costs about
    /// 15% more CPU per chunk, as the consumers and the decoding share the
    /// runtime's workers and tokio moves them between the two; choose
    /// `Arbiter` for that.
    ///
    /// The runtime must have its I/O and time drivers enabled (as
    /// `enable_all()` does; reqwest needs them). If it shuts down while
    /// the stream runs, the stream ends as cancelled. The task is handed to
    /// the runtime from the stream's arbiter, so a caller that blocks its
    /// worker thread on the stream (a blocking method called from async
    /// code) does not hold the task back, as long as another worker is
    /// free.
    #[default]
    Caller,
    /// Always on the stream's arbiter, a thread of this
    /// [`Runtime`](crate::Runtime): the caller's runtime does none of the stream's
    /// work, and a caller that blocks every worker of its runtime on
    /// streams still sees them end.
    Arbiter,
}

/// Counters of what is alive, to check that finished streams leave nothing behind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuntimeStats {
    /// Streams whose actors are still running.
    pub live_streams: usize,
    /// Actors of any kind still running.
    pub live_actors: usize,
    /// Futures spawned by actors and not finished.
    pub live_tasks: usize,
}
