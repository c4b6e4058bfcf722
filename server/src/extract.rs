//! The path and query extractors of the routes, whose refusals are
//! [`ApiError`]s.
//!
//! Why: axum's own `Path` and `Query` refuse a bad request with a
//! `text/plain` body (`?from=1&from=2`: "Failed to deserialize query
//! string: duplicate field `from`"; a path segment that is not UTF-8), and
//! every refusal of the server is promised in OpenAI's JSON shape. These
//! wrap them and answer their refusals as a 400 of that shape, with the
//! same text.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// [`Path`], refusing with an [`ApiError`].
pub(crate) struct ApiPath<T>(pub(crate) T);

/// [`Query`], refusing with an [`ApiError`].
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(e) => Err(ApiError::bad_request(e.body_text())),
        }
    }
}
