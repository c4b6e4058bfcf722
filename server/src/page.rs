//! `GET /`: a small web page, embedded in the binary (no build step, no
//! external assets): the streams, a box to start one, any stream as it
//! arrives (its SSE events, replayed from the start, so late join works),
//! and a cancel button. With a token, open it as `/?token=T`: the page sends
//! it as a bearer header, and as `?token=` on the events URL.

use axum::response::Html;

/// The page.
pub(crate) async fn index() -> Html<&'static str> {
    Html(include_str!("page.html"))
}
