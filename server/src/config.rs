//! How the server runs ([`ServeConfig`]) and the hook that prepares every
//! model it builds ([`Prepare`]).
//!
//! A module of its own, re-exported by the crate root: the shared state
//! (`app.rs`) holds a `ServeConfig`, and the root builds that state, so
//! with the configuration in the root the two would import each other.

use std::sync::Arc;
use std::time::Duration;

use rivulet::Model;

/// Changes every model the server builds (base URL, keys, timeouts,
/// runtime) before it streams.
pub type Prepare = Arc<dyn Fn(Model) -> Model + Send + Sync>;

/// How the server runs. [`ServeConfig::default`] gives the `rivulet serve`
/// defaults.
#[derive(Clone)]
pub struct ServeConfig {
    /// Bearer token every request must carry; required unless the address
    /// is loopback.
    pub token: Option<String>,
    /// The model when a request names none (`local`: the embedded model).
    pub default_model: String,
    /// Applied to every model before it streams.
    pub prepare: Option<Prepare>,
    /// Streams running at once; more get 429.
    pub max_streams: usize,
    /// SSE clients attached to one stream at once; more get 429.
    pub max_attachers: usize,
    /// The largest request body, in bytes; larger gets 413.
    pub body_limit: usize,
    /// A client must send its request head within this of connecting
    /// (slowloris: otherwise half a head holds a connection forever).
    pub header_timeout: Duration,
    /// And its whole request body within this; later gets 408.
    pub body_timeout: Duration,
    /// How long a finished stream stays readable before it is freed.
    pub retention: Duration,
    /// Finished streams kept at most, retention or not: past it the
    /// oldest-ended is freed first (each keeps its whole log).
    pub max_kept: usize,
    /// On shutdown, how long in-flight streams may run before they are
    /// cancelled.
    pub drain: Duration,
    /// A keep-alive comment is sent on an idle SSE connection this often.
    pub keep_alive: Duration,
    /// `Retry-After` on a 429.
    pub retry_after: Duration,
    /// The shared log (`--redis`): every stream started here is mirrored
    /// into it, and streams of other nodes are served from it.
    pub redis: Option<rivulet_redis::Config>,
    /// Origins (`http://localhost:3000`, or `http://localhost:*` for any
    /// port of that host) whose pages may use the server from a browser:
    /// they get CORS headers. A request from a page of any
    /// other origin but the server's own gets a 403 (see `--allow-origin`).
    pub allowed_origins: Vec<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            token: None,
            default_model: rivulet::local::PROVIDER_ID.to_string(),
            prepare: None,
            max_streams: 64,
            max_attachers: 256,
            body_limit: 1 << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
            retention: Duration::from_secs(600),
            max_kept: 1000,
            drain: Duration::from_secs(30),
            keep_alive: Duration::from_secs(15),
            retry_after: Duration::from_secs(1),
            redis: None,
            allowed_origins: Vec::new(),
        }
    }
}

impl std::fmt::Debug for ServeConfig {
    // The token is a secret: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("default_model", &self.default_model)
            .field("max_streams", &self.max_streams)
            .field("max_attachers", &self.max_attachers)
            .field("body_limit", &self.body_limit)
            .field("header_timeout", &self.header_timeout)
            .field("body_timeout", &self.body_timeout)
            .field("retention", &self.retention)
            .field("max_kept", &self.max_kept)
            .field("drain", &self.drain)
            .field("keep_alive", &self.keep_alive)
            .field("redis", &self.redis)
            .field("allowed_origins", &self.allowed_origins)
            .finish_non_exhaustive()
    }
}
