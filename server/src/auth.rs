//! The bearer token: every request must carry `Authorization: Bearer TOKEN`
//! when the server has one. Compared in constant time, so the answer's
//! timing does not tell how much of a guess was right.
//!
//! The events route also takes the token as `?token=`: a browser's
//! `EventSource` cannot send headers. Compared the same way; a header, when
//! present, wins.

use std::sync::Arc;

use axum::extract::{Query, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::app::App;
use super::ApiError;

/// Refuses requests without the server's token (a no-op without one).
pub(crate) async fn require_token(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &app.config.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            // The scheme is case-insensitive (RFC 9110); the token is not.
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_string())
            .or_else(|| query_token(&request))
            .unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            return ApiError::unauthorized().into_response();
        }
    }
    next.run(request).await
}

#[derive(serde::Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// `?token=` on a `GET /v1/streams/{id}/events`.
fn query_token(request: &Request) -> Option<String> {
    let is_events = request.method() == axum::http::Method::GET
        && request.uri().path().starts_with("/v1/streams/")
        && request.uri().path().ends_with("/events");
    if !is_events {
        return None;
    }
    Query::<TokenQuery>::try_from_uri(request.uri())
        .ok()?
        .0
        .token
}
