//! Reading a request body whole, within a deadline.
//!
//! A client could otherwise send its body a byte at a time and hold its
//! connection for as long as it likes (tower-http's body timeout bounds
//! only the gap between two frames). This middleware reads every body
//! before the handler runs, within
//! [`ServeConfig::body_timeout`](crate::ServeConfig::body_timeout) and the
//! body limit, and hands the handler the bytes.

use std::sync::Arc;

use axum::body::{Body, HttpBody as _};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::app::App;
use super::ApiError;

/// 408 past the deadline, 413 past the limit (at once when the declared
/// length is past it), 400 when the body cannot be
/// read; otherwise the request goes on with its body in memory.
pub(crate) async fn read_whole(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let limit = app.config.body_limit;
    // A declared `content-length` (the body's exact size hint) over the
    // limit is refused now, not after waiting for bytes it would refuse.
    if body.size_hint().lower() > limit as u64 {
        return ApiError::too_large(limit).into_response();
    }
    let read = axum::body::to_bytes(body, limit);
    let bytes = match tokio::time::timeout(app.config.body_timeout, read).await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) if is_too_large(&e) => return ApiError::too_large(limit).into_response(),
        Ok(Err(e)) => {
            return ApiError::bad_request(format!("the request body could not be read: {e}"))
                .into_response()
        }
        Err(_) => return ApiError::body_timeout(app.config.body_timeout).into_response(),
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Whether reading failed on the length limit (axum wraps http-body-util's
/// `LengthLimitError`).
fn is_too_large(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// Whether `body` is a JSON object (by its first byte that is not
/// whitespace; the parser judges the rest). The JSON routes refuse
/// anything else before parsing: serde's derived structs also read an
/// array of their fields in order, which no client means
/// (`["local", null, "Say hi"]` started a stream).
pub(crate) fn is_json_object(body: &[u8]) -> bool {
    body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}
