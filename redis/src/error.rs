//! [`Error`]: what can go wrong talking to the shared log.

use std::time::Duration;

/// A failure of the shared log, as opposed to a failure of a stream (which
/// a stream's [`Outcome`](rivulet::Outcome) reports).
#[derive(Clone, Debug, thiserror::Error)]
pub enum Error {
    /// The URL in the [`Config`](crate::Config) is not a Redis URL (the URL
    /// itself is not repeated: it may hold a password).
    #[error("the Redis URL does not parse: {0}")]
    Url(String),
    /// Redis answered with an error or the connection failed.
    #[error("the shared log (Redis) failed: {0}")]
    Redis(#[from] redis::RedisError),
    /// Redis did not answer within the request timeout.
    #[error("the shared log (Redis) did not answer within {0:?}")]
    Timeout(Duration),
    /// No stream of that id in the shared log (never mirrored, or expired).
    #[error("no stream {0:?} in the shared log")]
    NotFound(String),
    /// An entry or key that this crate did not write, or cannot read.
    #[error("unreadable shared log entry: {0}")]
    Corrupt(String),
}

impl Error {
    /// The stream error a consumer of a followed stream should see for this
    /// failure: a connection error naming the shared log, so that an SSE
    /// client gets an `end` that says the relay failed, not the generation.
    pub fn to_stream_error(&self) -> rivulet::Error {
        rivulet::Error::connection(self.to_string())
    }
}

/// Runs `request` with `limit` as its deadline.
pub(crate) async fn within<T>(
    limit: Duration,
    request: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, Error> {
    match tokio::time::timeout(limit, request).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(Error::Redis(e)),
        Err(_) => Err(Error::Timeout(limit)),
    }
}
