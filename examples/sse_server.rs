//! An SSE server on rivulet, in one page: any number of HTTP clients attach
//! to one generation, resume after a dropped connection, join late, cancel.
//!
//! ```text
//! cargo run --example sse_server                       # the embedded local model
//! cargo run --example sse_server -- openai/gpt-4o-mini # any id `rivulet -m` takes
//! curl -X POST localhost:8787/streams -d 'Tell me a story'  # 201 {"id":0,"events_url":…}
//! curl -N localhost:8787/streams/0/events                   # `id:` is the chunk's offset
//! curl -N localhost:8787/streams/0/events -H 'Last-Event-ID: 7'  # resumes after chunk 7
//! curl -X POST localhost:8787/streams/0/cancel
//! ```
//!
//! Each attacher is a subscription of its own with the default, detached
//! policy: a client that stops reading never slows the generation or the
//! other clients, and one that comes late replays from the start. A browser's
//! `EventSource` sends `Last-Event-ID` by itself when it reconnects (close
//! it on `end`). The streams are kept for good here so late joiners always
//! can; `rivulet serve` frees them after a retention time.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use rivulet::{ErrorKind, Event, Model, Outcome, Policy, StreamResponse};
use serde_json::{json, Value};

/// The model, and every generation started, by id (its index).
#[derive(Clone)]
struct App {
    model: Model,
    streams: Arc<Mutex<Vec<StreamResponse>>>,
}

impl App {
    fn streams(&self) -> MutexGuard<'_, Vec<StreamResponse>> {
        self.streams
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn find(&self, id: usize) -> Result<StreamResponse, StatusCode> {
        self.streams().get(id).cloned().ok_or(StatusCode::NOT_FOUND)
    }
}

/// The server's routes, serving generations of `model`.
pub fn router(model: Model) -> Router {
    let app = App {
        model,
        streams: Arc::default(),
    };
    Router::new()
        .route("/streams", post(start))
        .route("/streams/{id}/events", get(events))
        .route("/streams/{id}/cancel", post(cancel))
        .with_state(app)
}

/// `POST /streams` with the prompt as the body: starts a generation. It
/// runs to its end whoever is attached, since `App` keeps its handle.
async fn start(State(app): State<App>, prompt: String) -> (StatusCode, Json<Value>) {
    let response = app.model.stream(prompt);
    let mut streams = app.streams();
    let id = streams.len();
    streams.push(response);
    let url = format!("/streams/{id}/events");
    (
        StatusCode::CREATED,
        Json(json!({"id": id, "events_url": url})),
    )
}

/// `GET /streams/{id}/events`: the generation as SSE, from the start or
/// right after `Last-Event-ID`, then live, ending with `event: end`.
async fn events(
    State(app): State<App>,
    Path(id): Path<usize>,
    headers: HeaderMap,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, StatusCode> {
    let response = app.find(id)?;
    // A reconnecting client sends the last offset it saw: resume after it.
    let events = match headers.get("last-event-id") {
        None => response.subscribe(Policy::default()),
        Some(id) => {
            let offset = id.to_str().ok().and_then(|id| id.trim().parse().ok());
            let offset = offset.ok_or(StatusCode::BAD_REQUEST)?;
            response.subscribe_from(offset, Policy::default())
        }
    };
    let sse = events.map(|event| Ok(sse_event(event)));
    Ok(Sse::new(sse).keep_alive(KeepAlive::default()))
}

/// One subscription event as SSE: a chunk with its offset as `id` and its
/// type as `event` (the data is the chunk as `rivulet -o chunks` prints it),
/// or the outcome as `event: end`.
fn sse_event(event: Event) -> SseEvent {
    match event {
        Event::Chunk(chunk) => {
            let data = serde_json::to_string(&*chunk).unwrap_or_else(|e| e.to_string());
            SseEvent::default()
                .id(chunk.offset().to_string())
                .event(chunk.type_name())
                .data(data)
        }
        // Only a stream with a window loses chunks; a Model's never does.
        Event::Missed(n) => SseEvent::default().event("missed").data(n.to_string()),
        Event::End(outcome) => SseEvent::default()
            .event("end")
            .data(outcome_json(&outcome).to_string()),
    }
}

/// `{"outcome": "finished" | "cancelled" | "failed", "kind", "message"}`.
fn outcome_json(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Finished => json!({"outcome": "finished"}),
        Outcome::Failed(e) if e.kind() == ErrorKind::Cancelled => json!({"outcome": "cancelled"}),
        Outcome::Failed(e) => {
            json!({"outcome": "failed", "kind": e.kind().as_str(), "message": e.message()})
        }
    }
}

/// `POST /streams/{id}/cancel`: the provider's connection closes at once,
/// and every attacher gets `event: end` with `{"outcome":"cancelled"}`.
async fn cancel(State(app): State<App>, Path(id): Path<usize>) -> Result<StatusCode, StatusCode> {
    app.find(id)?.cancel();
    Ok(StatusCode::NO_CONTENT)
}

/// `sse_server [MODEL] [ADDR]`: MODEL as `rivulet -m` takes it (default
/// `$RIVULET_MODEL`, else `local`), ADDR default `127.0.0.1:8787`.
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let model = args
        .next()
        .or_else(|| std::env::var("RIVULET_MODEL").ok())
        .unwrap_or_else(|| "local".into());
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8787".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("serving {model} on http://{}", listener.local_addr()?);
    axum::serve(listener, router(Model::new(&model).max_tokens(512))).await
}
