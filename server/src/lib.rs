//! `rivulet serve`: an HTTP/SSE server where any number of clients attach to
//! a generation, resume from an offset and cancel it.
//!
//! Built on the crate's public API (`Model`, `StreamResponse`) as any user
//! would; compiled with the `server` feature (on by default). The HTTP API
//! is in README.md and docs/DESIGN.md:
//!
//! - `POST /v1/streams` starts a generation → `201 {"id","events_url"}`
//! - `GET /v1/streams/{id}/events` — SSE, resumable (`Last-Event-ID`, `?from=`);
//!   `?format=ai-sdk`: the AI SDK's UI message stream, always from the start
//! - `GET /v1/streams/{id}` — status and the `-o json` snapshot
//! - `GET /v1/streams` — streams in flight and recently finished
//! - `POST /v1/streams/{id}/cancel`
//! - `POST /v1/ai-sdk/chat` — what `useChat` posts (`UIMessage`s), answered
//!   with the UI message stream; cancelled when its last attacher goes
//!   unless the body says `"resumable": true`
//! - `GET /v1/ai-sdk/chat/{chat}/stream` — the chat's running generation
//!   replayed (`useChat`'s `resume`), `204` when none runs;
//!   `POST /v1/ai-sdk/chat/{chat}/cancel` cancels it
//! - `POST /v1/chat/completions` — OpenAI-compatible; the generation is a
//!   registered stream (`x-rivulet-stream-id`), cancelled when its last
//!   attacher goes
//! - `GET /metrics` — Prometheus text
//! - `GET /` — a web page: the streams, start one, watch one, cancel
//!
//! [`serve`] runs it on a listener until a shutdown future completes.
//!
//! The encodings a stream leaves the process in and the OpenAI-compatible
//! endpoint are in [`ai_sdk`] and [`openai_compat`].
//!
//! How a chunk travels from the provider's socket to its consumer, file
//! by file, and why the log is shared memory: `docs/ARCHITECTURE.md` in the
//! repository.
#![warn(missing_docs)]

mod accept;
pub mod ai_sdk;
mod auth;
mod body;
mod direct;
mod error;
mod events;
mod extract;
mod fanout;
mod frames;
mod metrics;
pub mod openai_compat;
mod origin;
mod page;
mod registry;
mod remote;
mod routes;
mod socket;
mod sse;
mod ui_messages;
mod wire;

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;

pub use error::ApiError;
pub use origin::check_allowed_origin;

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

/// What every handler shares.
pub(crate) struct App {
    config: ServeConfig,
    registry: registry::Registry,
    /// With `--redis`: the shared log.
    remote: Option<remote::Remote>,
    /// Set on shutdown: nothing new starts.
    draining: AtomicBool,
    /// A model per id, prepared once: its clones share one provider, so
    /// streams of one model reuse its HTTP client and connections.
    models: Mutex<HashMap<String, Model>>,
}

/// Model ids the server keeps prepared; ids beyond (ids are free-form, a
/// client could send endless ones) get a model of their own each time.
const MAX_MODELS: usize = 64;

impl App {
    /// The prepared model `id` (a clone: setting parameters on it changes
    /// no other stream's).
    fn model(&self, id: &str) -> Model {
        let mut models = self.models.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = models.get(id) {
            return m.clone();
        }
        let mut model = Model::new(id);
        if let Some(prepare) = &self.config.prepare {
            model = prepare(model);
        }
        if models.len() < MAX_MODELS {
            models.insert(id.to_string(), model.clone());
        }
        model
    }
}

/// Serves the HTTP API on `listener` until `shutdown` completes; then
/// accepts nothing more, lets in-flight streams run for up to
/// `config.drain`, cancels the rest (every attacher gets its `end` event)
/// and returns once every connection has closed, or `config.drain` after
/// the last stream ended (a client that stopped reading cannot hold the
/// shutdown; its connection task ends when it goes or with the runtime).
///
/// Refuses (`InvalidInput`) a listener on a non-loopback address without a
/// token. Call it inside a tokio runtime.
pub async fn serve(
    listener: TcpListener,
    config: ServeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let addr = listener.local_addr()?;
    check_exposure(addr, config.token.as_deref())?;
    for origin in &config.allowed_origins {
        check_allowed_origin(origin).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    }
    let remote = match &config.redis {
        Some(redis) => Some(remote::Remote::new(
            rivulet_redis::Node::start(redis.clone())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?,
        )),
        None => None,
    };
    let app = Arc::new(App {
        remote,
        registry: registry::Registry::new(config.max_kept),
        config,
        draining: AtomicBool::new(false),
        models: Mutex::default(),
    });
    let sweeper = tokio::spawn(sweep(app.clone()));
    let draining = app.clone();
    let (drained, on_drained) = tokio::sync::oneshot::channel::<()>();
    let stop = async move {
        shutdown.await;
        draining.draining.store(true, Ordering::SeqCst);
        // Drain in the background: axum stops accepting now and waits for
        // the open connections, which end once every stream has ended.
        tokio::spawn(async move {
            draining.registry.drain(draining.config.drain).await;
            let _ = drained.send(());
        });
    };
    let grace = app.config.drain;
    let header_timeout = app.config.header_timeout;
    let server = accept::serve(listener, routes::router(app), header_timeout, stop);
    // Once every stream has ended, clients get `drain` again to read their
    // `end`; one that does not read (its socket full) would otherwise hold
    // the shutdown forever. Its connection task is left to end when the
    // client goes (or with the runtime).
    let lingering = async {
        if on_drained.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    let result = tokio::select! {
        r = server => r,
        _ = lingering => Ok(()),
    };
    sweeper.abort();
    result
}

/// Refuses a non-loopback address without a token.
pub fn check_exposure(addr: std::net::SocketAddr, token: Option<&str>) -> io::Result<()> {
    if addr.ip().is_loopback() || token.is_some_and(|t| !t.is_empty()) {
        return Ok(());
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{addr} is not a loopback address: serving it needs --token"),
    ))
}

/// Frees finished streams past their retention, checking a few times per
/// retention period.
async fn sweep(app: Arc<App>) {
    let every =
        (app.config.retention / 4).clamp(Duration::from_millis(10), Duration::from_secs(30));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        app.registry.sweep(app.config.retention);
    }
}

/// Completes on ctrl-c or (on Unix) SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
