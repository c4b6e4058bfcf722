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
mod app;
mod auth;
mod body;
mod config;
mod direct;
mod end;
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
mod subscribe;
mod ui_messages;
mod wire;

use std::future::Future;
use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

pub use config::{Prepare, ServeConfig};
pub use error::ApiError;
pub use origin::check_allowed_origin;

use app::App;

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
    let app = Arc::new(App::new(config, remote));
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
