//! The axum handler for `POST /v1/chat/completions`.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use rivulet_core::Message;

use super::encode::{completion_json, ChunkEncoder};
use super::request::parse_request;
use crate::ApiError;
use rivulet::{Chunks, Model, StreamResponse, Subscription};

/// The response header naming the generation, so other clients can attach
/// to it.
pub const STREAM_ID_HEADER: &str = "x-rivulet-stream-id";

/// A generation the server started for a chat completion request.
pub struct StartedChat {
    /// The server's id for the stream (sent as `x-rivulet-stream-id`; the
    /// completion's id is `chatcmpl-<id>`).
    pub stream_id: String,
    /// The stream.
    pub response: StreamResponse,
    /// Held while the client reads (dropped when it goes): the server's
    /// registry counts the client as an attacher with it, and cancels the
    /// generation when its last attacher goes. `None` when nothing needs
    /// to know.
    pub guard: Option<Box<dyn Send>>,
}

/// How the handler starts a generation: the server's registry (which
/// applies its own settings to the model, counts streams and may refuse
/// with a 429) or, in tests, a closure.
///
/// Any `Fn(Model, Vec<Message>) -> Result<StartedChat, ApiError>` is one.
pub trait StartChat: Send + Sync + 'static {
    /// Starts streaming `messages` to `model` (the request's parameters,
    /// tools and format are already on it).
    fn start(&self, model: Model, messages: Vec<Message>) -> Result<StartedChat, ApiError>;
}

impl<F> StartChat for F
where
    F: Fn(Model, Vec<Message>) -> Result<StartedChat, ApiError> + Send + Sync + 'static,
{
    fn start(&self, model: Model, messages: Vec<Message>) -> Result<StartedChat, ApiError> {
        self(model, messages)
    }
}

/// A router serving only `POST /v1/chat/completions`, to merge into the
/// server's.
pub fn router(start: Arc<dyn StartChat>) -> axum::Router {
    axum::Router::new()
        .route(
            "/v1/chat/completions",
            axum::routing::post(chat_completions),
        )
        .with_state(start)
}

/// `POST /v1/chat/completions`: an OpenAI Chat Completions request for any
/// provider. With `stream: true` the answer is `chat.completion.chunk`
/// events as OpenAI sends them; otherwise one `chat.completion` object once
/// the generation ends. Both carry `x-rivulet-stream-id`. A bad body gets
/// OpenAI's 400 error object; a generation that fails before answering
/// gets its error object with a status saying whose fault it was
/// ([`ApiError::from_error`]); a streamed one that fails midway ends
/// with an `{"error": ...}` event.
///
/// The stream is read at its own pace; a client that goes away drops its
/// subscription (and the generation, when nobody else holds it).
///
/// A body over the router's limit gets a 413 in the same shape.
pub async fn chat_completions(
    State(start): State<Arc<dyn StartChat>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            let mut error = ApiError::invalid(e.body_text(), None);
            error.status = e.status().as_u16();
            if error.status == 413 {
                error.code = Some("body_too_large");
            }
            return error.into_response();
        }
    };
    let call = match parse_request(&body) {
        Ok(call) => call,
        Err(e) => return e.into_response(),
    };
    let model_name = call.model.model_name().to_string();
    let started = match start.start(call.model, call.messages) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let id = format!("chatcmpl-{}", started.stream_id);
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let stream_id = HeaderValue::from_str(&started.stream_id).ok();

    let mut response = if call.stream {
        let encoder = ChunkEncoder::new(&id, &model_name, created, call.include_usage);
        sse_response(started.response, encoder, started.guard)
    } else {
        // The guard lives until the answer is ready, or until the client
        // goes and this future is dropped.
        let _guard = started.guard;
        match started.response.finish().await {
            Ok(done) => json_response(
                StatusCode::OK,
                completion_json(&id, &model_name, created, &done),
            ),
            Err(e) => ApiError::from_error(&e).into_response(),
        }
    };
    if let Some(v) = stream_id {
        response.headers_mut().insert(STREAM_ID_HEADER, v);
    }
    response
}

fn sse_response(
    stream: StreamResponse,
    encoder: ChunkEncoder,
    guard: Option<Box<dyn Send>>,
) -> Response {
    let body = CompletionBody {
        chunks: stream.chunk_stream(),
        encoder,
        keep: Some((stream, guard)),
    };
    super::super::sse::event_stream(Body::from_stream(body))
}

/// The SSE body of a streamed completion: each chunk's frames, then the
/// end's. A stream of its own rather than an `unfold`, whose state (the
/// chunks, the encoder, the stream) moved into a new future for every
/// frame.
struct CompletionBody {
    chunks: Chunks<Subscription>,
    encoder: ChunkEncoder,
    /// The generation (and the caller's guard) lives as long as the client
    /// reads; let go once the last frame is out.
    keep: Option<(StreamResponse, Option<Box<dyn Send>>)>,
}

impl futures::Stream for CompletionBody {
    type Item = Result<String, Infallible>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.keep.is_none() {
            return Poll::Ready(None);
        }
        let mut out = String::new();
        loop {
            // `out` is empty whenever this waits: a frame goes out as soon
            // as a chunk makes one.
            match ready!(this.chunks.poll_next_unpin(cx)) {
                Some(Ok(chunk)) => {
                    this.encoder.encode(&chunk, &mut out);
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(out)));
                    }
                }
                Some(Err(e)) => {
                    this.encoder.fail(&e, &mut out);
                    this.keep = None;
                    return Poll::Ready(Some(Ok(out)));
                }
                None => {
                    this.encoder.finish(&mut out);
                    this.keep = None;
                    return Poll::Ready(Some(Ok(out)));
                }
            }
        }
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}
