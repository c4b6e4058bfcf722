//! The HTTP routes and their handlers.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::accept::Direct;
use super::app::App;
use super::direct::DirectEvents;
use super::end::{failure, status};
use super::extract::{ApiPath, ApiQuery};
use super::openai_compat::{self, StartedChat, STREAM_ID_HEADER};
use super::registry::{Attached, Entry, Registration};
use super::remote::Remote;
use super::ui_messages::{to_messages, UiChatRequest};
use super::wire::{ModelSettings, StartRequest, Started, Summary};
use super::{auth, body, events, origin, page, sse, ApiError};
use rivulet::json::response_json;
use rivulet::{Format, Message, Model};

/// Every route, behind the origin check (`origin.rs`: pages of other
/// origins, and without a token hosts that are not loopback), the token
/// check and the body limit; with allowed origins, CORS outermost.
pub(crate) fn router(app: Arc<App>) -> Router {
    let router = Router::new()
        .route("/v1/streams", post(start).get(list))
        .route("/v1/streams/{id}", get(show))
        .route("/v1/streams/{id}/events", get(attach))
        .route("/v1/streams/{id}/cancel", post(cancel))
        .route("/v1/ai-sdk/chat", post(ui_chat))
        .route("/v1/ai-sdk/chat/{chat}/stream", get(ui_chat_stream))
        .route("/v1/ai-sdk/chat/{chat}/cancel", post(ui_chat_cancel))
        .route("/metrics", get(metrics))
        .with_state(app.clone())
        .merge(openai_compat::router(app.clone()))
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        // Bodies are read whole, within the deadline, after the token check.
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            body::read_whole,
        ))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            auth::require_token,
        ))
        // The page is static and holds no data: served without the token
        // (it asks for it in its own URL, `/?token=`).
        .route(
            "/",
            get(page::index).fallback(|| async { ApiError::method_not_allowed() }),
        )
        .layer(DefaultBodyLimit::max(app.config.body_limit))
        // Before everything, the page included: pages of other origins
        // are refused before any work (`origin.rs`).
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            origin::check,
        ));
    // Outermost: the allowed origins' preflights are answered here (a
    // browser sends them without the token).
    match app.config.allowed_origins.as_slice() {
        [] => router,
        origins => router.layer(origin::cors(origins)),
    }
}

/// `POST /v1/chat/completions` starts its generation here: registered like
/// `POST /v1/streams` (others attach, list and cancel it by its id), with
/// the chat client as its first attacher, and cancelled when its last
/// attacher goes.
impl openai_compat::StartChat for App {
    fn start(&self, model: Model, messages: Vec<Message>) -> Result<StartedChat, ApiError> {
        if self.draining.load(Ordering::SeqCst) {
            return Err(ApiError::draining());
        }
        let id = format!("{}/{}", model.provider_id(), model.model_name());
        let model = match &self.config.prepare {
            Some(prepare) => prepare(model),
            None => model,
        };
        let registration = Registration {
            cancel_unattached: true,
            chat: None,
        };
        let (entry, attached) = start_attached(self, id, model, messages, registration)?;
        Ok(StartedChat {
            stream_id: entry.id.clone(),
            response: entry.response.clone(),
            guard: Some(Box::new(attached)),
        })
    }
}

/// Starts a generation that its caller reads, as the chat endpoints do:
/// registered like `POST /v1/streams` (others attach, list and cancel it
/// by its id) and as `registration` says, the caller its first attacher.
fn start_attached(
    app: &App,
    id: String,
    model: Model,
    messages: Vec<Message>,
    registration: Registration,
) -> Result<(Arc<Entry>, Attached), ApiError> {
    let entry = app
        .registry
        .insert(
            id,
            || model.stream(messages),
            app.config.max_streams,
            registration,
        )
        .ok_or_else(|| streams_busy(app))?;
    if let Some(remote) = &app.remote {
        // Not waited for: the caller reads this stream here.
        remote.mirror(&entry);
    }
    // The first attacher of a new stream: the limit is at least 1, so
    // nothing else can have taken the place.
    let attached = entry
        .attach(app.config.max_attachers.max(1))
        .ok_or_else(|| ApiError::busy("this stream takes no attacher", app.config.retry_after))?;
    Ok((entry, attached))
}

/// The 429 of a stream with as many attachers as it takes.
fn attachers_busy(app: &App) -> ApiError {
    ApiError::busy(
        format!(
            "{} clients are attached to this stream, the most it takes",
            app.config.max_attachers
        ),
        app.config.retry_after,
    )
}

/// The 429 of a server running as many streams as it may.
fn streams_busy(app: &App) -> ApiError {
    ApiError::busy(
        format!(
            "{} streams are running, the most this server runs at once",
            app.config.max_streams
        ),
        app.config.retry_after,
    )
}

fn summary(app: &App, e: &Entry) -> Summary {
    Summary {
        id: e.id.clone(),
        model: e.model.clone(),
        status: status(e.outcome().as_ref()),
        chunks: e.response.handle().len(),
        attachers: e.attachers(),
        started: humantime::format_rfc3339_millis(e.started).to_string(),
        owner: app.remote.as_ref().map(|r| r.node.id().to_string()),
    }
}

fn not_found(id: &str) -> ApiError {
    // An id is the client's: a long one is not echoed whole.
    let shown: String = id.chars().take(100).collect();
    let cut = if shown.len() < id.len() { "…" } else { "" };
    ApiError::not_found(format!(
        "no stream {shown:?}{cut} (never started, or freed after its retention)"
    ))
}

/// `POST /v1/streams`.
async fn start(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&app, body)?;
    let request: StartRequest = json_object(&body, "a valid stream request")?;
    let (id, model, messages) = build(&app, request)?;
    let entry = app
        .registry
        .insert(
            id,
            || model.stream(messages),
            app.config.max_streams,
            Registration::default(),
        )
        .ok_or_else(|| streams_busy(&app))?;
    if let Some(remote) = &app.remote {
        // Answered once other nodes can find it (or after a bound).
        let mirror = remote.mirror(&entry);
        Remote::registered(&entry, &mirror).await;
    }
    let started = Started {
        events_url: format!("/v1/streams/{}/events", entry.id),
        id: entry.id.clone(),
    };
    Ok((StatusCode::CREATED, Json(started)).into_response())
}

/// A start request's body, unless it is too large or the server is
/// draining.
/// `body` as a `T`, which it must be as a JSON object
/// ([`body::is_json_object`]). `what` names `T` in the error (`a valid
/// stream request`).
fn json_object<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ApiError> {
    if !body::is_json_object(body) {
        return Err(ApiError::bad_request(format!(
            "the body is not {what}: it must be a JSON object"
        )));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("the body is not {what}: {e}")))
}

fn read_body(app: &App, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    let body = body.map_err(|e| match e.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(app.config.body_limit),
        _ => ApiError::bad_request(e.body_text()),
    })?;
    if app.draining.load(Ordering::SeqCst) {
        return Err(ApiError::draining());
    }
    Ok(body)
}

/// `POST /v1/ai-sdk/chat`: what a `useChat` front end posts (the AI SDK's
/// `DefaultChatTransport`: the chat's `UIMessage`s, and the app's `body`
/// option, which takes `POST /v1/streams`'s `model`, `system`,
/// `max_tokens`, … ), answered with the generation as a UI message stream
/// (as `?format=ai-sdk` sends it). The generation is a registered stream
/// (`x-rivulet-stream-id`: others attach, list and cancel it by its id),
/// with the posting client as its first attacher. It is cancelled when
/// its last attacher goes, so `useChat`'s `stop()` (which aborts the
/// request) stops the generation, unless the body says `"resumable":
/// true`: then it runs to its end whoever reads it, and
/// `GET /v1/ai-sdk/chat/{chat}/stream` gives it back to a page that
/// went away (`useChat`'s `resume`).
async fn ui_chat(
    State(app): State<Arc<App>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&app, body)?;
    let request: UiChatRequest = json_object(&body, "an AI SDK chat request")?;
    let history = to_messages(request.messages).map_err(ApiError::bad_request)?;
    if history.is_empty() {
        return Err(ApiError::bad_request("messages must not be empty"));
    }
    let (id, model) = configure(&app, request.settings)?;
    let messages: Vec<Message> = request
        .system
        .map(Message::system)
        .into_iter()
        .chain(history)
        .collect();
    let registration = Registration {
        cancel_unattached: !request.resumable,
        chat: request.id.clone(),
    };
    let (entry, attached) = start_attached(&app, id, model, messages, registration)?;
    if let (Some(remote), Some(chat)) = (&app.remote, request.id) {
        remote.record_chat(chat, entry.id.clone());
    }
    Ok(with_stream_id(
        events::ai_sdk(&entry, attached, app.config.keep_alive),
        &entry.id,
    ))
}

/// `response` with `id` in `x-rivulet-stream-id`.
fn with_stream_id(mut response: Response, id: &str) -> Response {
    if let Ok(v) = axum::http::HeaderValue::from_str(id) {
        response.headers_mut().insert(STREAM_ID_HEADER, v);
    }
    response
}

/// `GET /v1/ai-sdk/chat/{chat}/stream`: where `DefaultChatTransport`
/// reconnects (`useChat`'s `resume: true` on a page's load, and after a
/// network error). The chat's running generation, replayed from its start
/// and then followed live, as the transport expects by default
/// (`resumeStreamIsReplay`); `204 No Content` when the chat has none
/// running (never started here, or ended), which the SDK reads as nothing
/// to resume. With `--redis`, a chat posted to another node resumes here
/// from the shared log.
async fn ui_chat_stream(
    State(app): State<Arc<App>>,
    ApiPath(chat): ApiPath<String>,
) -> Result<Response, ApiError> {
    Ok(match find_chat(&app, &chat).await? {
        Some(ChatStream::Here(entry)) => {
            let attached = entry
                .attach(app.config.max_attachers)
                .ok_or_else(|| attachers_busy(&app))?;
            with_stream_id(
                events::ai_sdk(&entry, attached, app.config.keep_alive),
                &entry.id,
            )
        }
        Some(ChatStream::Elsewhere(remote, id)) => {
            let (max, retry) = (app.config.max_attachers, app.config.retry_after);
            with_stream_id(
                remote
                    .ai_sdk(&id, max, retry, app.config.keep_alive)
                    .await?,
                &id,
            )
        }
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// `POST /v1/ai-sdk/chat/{chat}/cancel`: cancels the chat's running
/// generation (what `stop()` cannot do for a `resumable` chat, whose
/// generation outlives its request) and answers with its summary, as
/// `POST /v1/streams/{id}/cancel` does; `204 No Content` when the chat has
/// none running. With `--redis`, wherever it runs.
async fn ui_chat_cancel(
    State(app): State<Arc<App>>,
    ApiPath(chat): ApiPath<String>,
) -> Result<Response, ApiError> {
    Ok(match find_chat(&app, &chat).await? {
        Some(ChatStream::Here(entry)) => Json(cancel_entry(&app, &entry).await).into_response(),
        Some(ChatStream::Elsewhere(remote, id)) => Json(remote.cancel(&id).await?).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// Where an AI SDK chat's running generation is.
enum ChatStream<'a> {
    /// On this node.
    Here(Arc<Entry>),
    /// On another node, by the shared log: the stream's id.
    Elsewhere(&'a Remote, String),
}

/// The chat's running generation: this node's own first, then (with
/// `--redis`) the one the shared log records; `None` when it has none.
async fn find_chat<'a>(app: &'a App, chat: &str) -> Result<Option<ChatStream<'a>>, ApiError> {
    if let Some(entry) = app.registry.chat(chat) {
        return Ok(Some(ChatStream::Here(entry)));
    }
    match &app.remote {
        Some(remote) => Ok(remote
            .chat_stream(chat)
            .await?
            .map(|id| ChatStream::Elsewhere(remote, id))),
        None => Ok(None),
    }
}

/// The model and messages a start request asks for; every refusal names
/// the field.
fn build(app: &App, r: StartRequest) -> Result<(String, Model, Vec<Message>), ApiError> {
    let (id, model) = configure(
        app,
        ModelSettings {
            model: r.model,
            max_tokens: r.max_tokens,
            temperature: r.temperature,
            seed: r.seed,
            tools: r.tools,
            format: r.format,
        },
    )?;
    let mut messages = Vec::new();
    if let Some(s) = r.system {
        messages.push(Message::system(s));
    }
    match (r.messages, r.prompt) {
        (Some(m), None) if !m.is_empty() => messages.extend(m.into_iter().map(Message::from)),
        (None, Some(p)) => messages.push(Message::user(p)),
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "give either messages or prompt, not both",
            ))
        }
        _ => {
            return Err(ApiError::bad_request(
                "give messages (a non-empty array) or prompt",
            ))
        }
    }
    Ok((id, model, messages))
}

/// The model's id and the model `r` asks for; every refusal names the
/// field.
fn configure(app: &App, r: ModelSettings) -> Result<(String, Model), ApiError> {
    let id = r.model.unwrap_or_else(|| app.config.default_model.clone());
    rivulet::model::check_model_id("model ", &id).map_err(ApiError::bad_request)?;
    let mut model = app.model(&id);
    if let Some(n) = r.max_tokens {
        if n == 0 {
            return Err(ApiError::bad_request("max_tokens must be 1 or more"));
        }
        model = model.max_tokens(n);
    }
    if let Some(t) = r.temperature {
        if !rivulet::model::valid_temperature(t) {
            return Err(ApiError::bad_request(
                "temperature must be a finite number, 0 or more",
            ));
        }
        model = model.temperature(t);
    }
    if let Some(s) = r.seed {
        model = model.seed(s);
    }
    if let Some(tools) = r.tools {
        let tools = rivulet::tools::tool_definitions_from_json(tools)
            .map_err(|e| ApiError::bad_request(format!("tools: {e}")))?;
        model = model.tools(tools);
    }
    if let Some(schema) = r.format {
        if !schema.is_object() {
            return Err(ApiError::bad_request("format must be a JSON Schema object"));
        }
        let name = schema
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("output")
            .to_string();
        model = model.format_schema(Format { name, schema });
    }
    Ok((id, model))
}

/// `GET /v1/streams`.
async fn list(State(app): State<Arc<App>>) -> Json<Value> {
    let mut streams: Vec<Summary> = app
        .registry
        .all()
        .iter()
        .map(|e| summary(&app, e))
        .collect();
    if let Some(remote) = &app.remote {
        // Every node's streams; this node's own as it knows them.
        let here: std::collections::HashSet<String> =
            streams.iter().map(|s| s.id.clone()).collect();
        let mut others: Vec<Summary> = remote
            .list()
            .await
            .into_iter()
            .filter(|s| !here.contains(&s.id))
            .collect();
        streams.append(&mut others);
        streams.sort_by(|a, b| a.started.cmp(&b.started));
    }
    Json(json!({ "streams": streams }))
}

/// `GET /v1/streams/{id}`: the summary, and the response so far as
/// `rivulet -o json` prints it.
async fn show(
    State(app): State<Arc<App>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let entry = match (app.registry.get(&id), &app.remote) {
        (Some(entry), _) => entry,
        (None, Some(remote)) => return remote.show(&id).await.map(Json),
        (None, None) => return Err(not_found(&id)),
    };
    // The outcome before the snapshot: once it is known the snapshot is
    // the final response; while running it is what has arrived so far.
    let outcome = entry.outcome();
    let snapshot = entry.response.snapshot().await;
    let mut v = json!(summary(&app, &entry));
    v["response"] = response_json(&snapshot, failure(outcome.as_ref()));
    Ok(Json(v))
}

/// `?from=N` and `?format=ai-sdk` on the events route.
#[derive(Deserialize)]
struct From {
    from: Option<String>,
    format: Option<String>,
}

/// `GET /v1/streams/{id}/events`.
async fn attach(
    State(app): State<Arc<App>>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<From>,
    method: Method,
    version: Version,
    direct: Option<Extension<Direct>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let local = app.registry.get(&id);
    let ai_sdk = match query.format.as_deref() {
        None | Some("sse") => false,
        Some("ai-sdk") => true,
        Some(f) => {
            return Err(ApiError::bad_request(format!(
                "format must be ai-sdk (or absent), not {f:?}"
            )))
        }
    };
    // `Last-Event-ID` wins: a browser's EventSource resends it on reconnect
    // to the same URL, `?from=` included.
    let resume = match headers.get("last-event-id") {
        _ if ai_sdk => None,
        Some(v) => Some(
            v.to_str()
                .map_err(|_| ApiError::bad_request("Last-Event-ID is not text"))?
                .to_string(),
        ),
        None => query.from,
    };
    let after = match resume.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => Some(s.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "Last-Event-ID / from must be a chunk offset (0, 1, 2, …), not {s:?}"
            ))
        })?),
    };
    let keep_alive = app.config.keep_alive;
    let entry = match (local, &app.remote) {
        (Some(entry), _) => entry,
        (None, Some(remote)) => {
            // Another node's stream, from the shared log.
            let (max, retry) = (app.config.max_attachers, app.config.retry_after);
            if ai_sdk {
                return remote.ai_sdk(&id, max, retry, app.config.keep_alive).await;
            }
            let events = remote.events(&id, after, max, retry).await?;
            return Ok(sse::with_keep_alive(events, keep_alive));
        }
        (None, None) => return Err(not_found(&id)),
    };
    let attached = entry
        .attach(app.config.max_attachers)
        .ok_or_else(|| attachers_busy(&app))?;
    if ai_sdk {
        // The encoder needs the whole stream: it always replays from the
        // start (the AI SDK resumes by replaying), whatever the client
        // resumes from.
        return Ok(events::ai_sdk(&entry, attached, app.config.keep_alive));
    }
    let plain_get = version == Version::HTTP_11 && method == Method::GET;
    if let (Some(Extension(Direct(socket))), true) = (direct, plain_get) {
        // Written straight to the socket (`socket.rs`), in HTTP/1.1's
        // chunked coding (not for HEAD, whose response has no body).
        let body = DirectEvents::new(socket, attached, after, keep_alive);
        return Ok(sse::event_stream(Body::new(body)));
    }
    let events = events::events(&entry, after, attached);
    Ok(sse::with_keep_alive(events, keep_alive))
}

/// `POST /v1/streams/{id}/cancel`: cancels, waits (briefly) for the end,
/// and answers with the stream's summary.
async fn cancel(
    State(app): State<Arc<App>>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Summary>, ApiError> {
    let entry = match (app.registry.get(&id), &app.remote) {
        (Some(entry), _) => entry,
        (None, Some(remote)) => return remote.cancel(&id).await.map(Json),
        (None, None) => return Err(not_found(&id)),
    };
    Ok(Json(cancel_entry(&app, &entry).await))
}

/// Cancels `entry`, waits (up to 5 s) for its end, and gives its summary.
async fn cancel_entry(app: &App, entry: &Entry) -> Summary {
    entry.response.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), entry.ended()).await;
    summary(app, entry)
}

/// `GET /metrics`: Prometheus text.
async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        match &app.remote {
            Some(remote) => app.registry.metrics() + &remote.metrics(),
            None => app.registry.metrics(),
        },
    )
}
