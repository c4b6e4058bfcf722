//! The one error type of rivulet, with the kinds users branch on.

use std::fmt;
use std::time::Duration;

/// What every error keeps: the provider, the HTTP status and the provider's
/// own message and code, where there are any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ErrorContext {
    /// The provider id (`"openai"`, `"groq"`, …).
    pub provider: Option<String>,
    /// The HTTP status of the response that carried the error.
    pub status: Option<u16>,
    /// The provider's message, or ours when the provider gave none.
    pub message: String,
    /// The provider's machine-readable code or type (`"invalid_api_key"`, …).
    pub code: Option<String>,
    /// How long the server asked to wait before sending the request again
    /// (`Retry-After`, `retry-after-ms`), on any error but
    /// [`Error::RateLimit`], which carries it in its own field: a 503 or
    /// a 529 (overloaded) may ask too. Read it with [`Error::retry_after`].
    pub retry_after: Option<Duration>,
}

impl ErrorContext {
    /// A context with just a message.
    pub fn new(message: impl Into<String>) -> Self {
        ErrorContext {
            message: message.into(),
            ..Default::default()
        }
    }

    /// Sets the provider.
    pub fn provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = Some(provider.into());
        self
    }

    /// Sets the HTTP status.
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Sets the provider's code.
    pub fn code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }
}

impl fmt::Display for ErrorContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.provider {
            write!(f, "{p}: ")?;
        }
        f.write_str(&self.message)?;
        match (self.status, &self.code) {
            (Some(s), Some(c)) => write!(f, " (HTTP {s}, {c})"),
            (Some(s), None) => write!(f, " (HTTP {s})"),
            (None, Some(c)) => write!(f, " ({c})"),
            (None, None) => Ok(()),
        }
    }
}

/// Which per-stream timeout fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimeoutKind {
    /// Opening the connection and receiving the response head.
    Connect,
    /// From the request to the first content chunk.
    FirstChunk,
    /// Between two content chunks (keep-alives and pings do not count).
    Idle,
    /// The whole stream.
    Total,
}

impl TimeoutKind {
    /// `"connect"`, `"first_chunk"`, `"idle"` or `"total"`.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeoutKind::Connect => "connect",
            TimeoutKind::FirstChunk => "first_chunk",
            TimeoutKind::Idle => "idle",
            TimeoutKind::Total => "total",
        }
    }
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every error rivulet reports.
///
/// Match on the variant to branch; [`Error::is_retryable`] says whether the
/// same request may succeed later. A stream that fails keeps what it had
/// received: the error travels beside the partial response, never instead.
///
/// ```
/// use rivulet_core::{Error, ErrorKind};
/// let e = Error::from_status("openai", 429, "slow down", None, None);
/// assert_eq!(e.kind(), ErrorKind::RateLimit);
/// assert!(e.is_retryable());
/// assert_eq!(e.status(), Some(429));
/// ```
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Error {
    /// The API key was refused (HTTP 401). Not retryable.
    #[error("authentication failed: {ctx}")]
    Authentication {
        /// The provider, status, message and code.
        ctx: Box<ErrorContext>,
    },
    /// The key may not use this model or feature (HTTP 403). Not retryable.
    #[error("permission denied: {ctx}")]
    PermissionDenied {
        /// The provider, status, message and code.
        ctx: Box<ErrorContext>,
    },
    /// The provider refused the request as sent (HTTP 400, 422, or any
    /// other status without a variant of its own), or rivulet did before
    /// sending it (an unknown provider, an invalid base URL or header, a
    /// `tool_choice` naming no tool: then `status` is `None`). Not
    /// retryable.
    #[error("bad request: {ctx}")]
    BadRequest {
        /// The provider, status, message and code.
        ctx: Box<ErrorContext>,
    },
    /// No such model or endpoint (HTTP 404). Not retryable.
    #[error("not found: {ctx}")]
    NotFound {
        /// The provider, status, message and code.
        ctx: Box<ErrorContext>,
    },
    /// Too many requests (HTTP 429). Retryable.
    #[error("rate limited: {ctx}{}", retry_note(*retry_after))]
    RateLimit {
        /// How long the provider asked to wait (`Retry-After`,
        /// `retry-after-ms`).
        retry_after: Option<Duration>,
        /// The provider, status, message and code.
        ctx: Box<ErrorContext>,
    },
    /// The provider failed (HTTP 5xx). Retryable.
    #[error("server error {status}: {ctx}{}", retry_note(ctx.retry_after))]
    Server {
        /// The HTTP status.
        status: u16,
        /// The provider, status, message and code.
        ctx: Box<ErrorContext>,
    },
    /// The provider is overloaded (HTTP 529, or an `overloaded` error code,
    /// also mid-stream). Retryable.
    #[error("overloaded: {ctx}{}", retry_note(ctx.retry_after))]
    Overloaded {
        /// The provider, status, message and code.
        ctx: Box<ErrorContext>,
    },
    /// The connection was refused or reset, or the stream ended before its
    /// terminal event. Retryable.
    #[error("connection error: {ctx}")]
    Connection {
        /// The provider, status, message and code.
        ctx: Box<ErrorContext>,
    },
    /// A per-stream timeout fired (or the provider answered HTTP 408).
    /// Retryable.
    #[error("{which} timeout: {ctx}")]
    Timeout {
        /// Which timeout.
        which: TimeoutKind,
        /// The provider, status, message and code.
        ctx: Box<ErrorContext>,
    },
    /// The stream's bytes did not parse as the protocol says. Not retryable.
    #[error("malformed stream: {ctx}")]
    Protocol {
        /// The provider, status, message and code.
        ctx: Box<ErrorContext>,
    },
    /// The stream was cancelled (a cancel call, or its last handle
    /// dropped). Not retryable.
    #[error("cancelled")]
    Cancelled {
        /// The provider, status, message and code.
        ctx: Box<ErrorContext>,
    },
    /// A tool rivulet ran for the model returned an error or panicked.
    #[error("tool {tool} failed: {ctx}")]
    ToolExecution {
        /// The tool's name.
        tool: String,
        /// The provider, status, message and code.
        ctx: Box<ErrorContext>,
    },
    /// The structured output did not parse into the requested format.
    #[error("could not parse structured output: {ctx}")]
    Parse {
        /// The provider, status, message and code.
        ctx: Box<ErrorContext>,
    },
    /// No API key was given or found in the environment.
    #[error("missing API key: set {variable} ({ctx})")]
    MissingApiKey {
        /// The environment variable the key is read from
        /// (`OPENAI_API_KEY`, …).
        variable: String,
        /// The provider, status, message and code.
        ctx: Box<ErrorContext>,
    },
    /// The request asks for something the provider or this build cannot
    /// do (a media kind, a feature); nothing was sent.
    #[error("unsupported: {ctx}")]
    Unsupported {
        /// The provider, status, message and code.
        ctx: Box<ErrorContext>,
    },
}

// Errors are rare and results are everywhere: every decoded chunk is a
// `Result<Chunk, Error>`, and every subscription's channel is sized for its
// terminal event. The context is boxed so an `Error` costs 40 bytes there,
// not a hundred.
const _: () = assert!(std::mem::size_of::<Error>() <= 40);

/// The variant of an [`Error`] without its data, for tables and exit codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// [`Error::Authentication`].
    Authentication,
    /// [`Error::PermissionDenied`].
    PermissionDenied,
    /// [`Error::BadRequest`].
    BadRequest,
    /// [`Error::NotFound`].
    NotFound,
    /// [`Error::RateLimit`].
    RateLimit,
    /// [`Error::Server`].
    Server,
    /// [`Error::Overloaded`].
    Overloaded,
    /// [`Error::Connection`].
    Connection,
    /// [`Error::Timeout`].
    Timeout,
    /// [`Error::Protocol`].
    Protocol,
    /// [`Error::Cancelled`].
    Cancelled,
    /// [`Error::ToolExecution`].
    ToolExecution,
    /// [`Error::Parse`].
    Parse,
    /// [`Error::MissingApiKey`].
    MissingApiKey,
    /// [`Error::Unsupported`].
    Unsupported,
}

impl ErrorKind {
    /// snake_case name, as printed by the CLI (`"rate_limit"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Authentication => "authentication",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::NotFound => "not_found",
            ErrorKind::RateLimit => "rate_limit",
            ErrorKind::Server => "server",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Connection => "connection",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::ToolExecution => "tool_execution",
            ErrorKind::Parse => "parse",
            ErrorKind::MissingApiKey => "missing_api_key",
            ErrorKind::Unsupported => "unsupported",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The variant, without data.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Authentication { .. } => ErrorKind::Authentication,
            Error::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Error::BadRequest { .. } => ErrorKind::BadRequest,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::RateLimit { .. } => ErrorKind::RateLimit,
            Error::Server { .. } => ErrorKind::Server,
            Error::Overloaded { .. } => ErrorKind::Overloaded,
            Error::Connection { .. } => ErrorKind::Connection,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Protocol { .. } => ErrorKind::Protocol,
            Error::Cancelled { .. } => ErrorKind::Cancelled,
            Error::ToolExecution { .. } => ErrorKind::ToolExecution,
            Error::Parse { .. } => ErrorKind::Parse,
            Error::MissingApiKey { .. } => ErrorKind::MissingApiKey,
            Error::Unsupported { .. } => ErrorKind::Unsupported,
        }
    }

    /// The shared context of any variant.
    pub fn context(&self) -> &ErrorContext {
        match self {
            Error::Authentication { ctx }
            | Error::PermissionDenied { ctx }
            | Error::BadRequest { ctx }
            | Error::NotFound { ctx }
            | Error::RateLimit { ctx, .. }
            | Error::Server { ctx, .. }
            | Error::Overloaded { ctx }
            | Error::Connection { ctx }
            | Error::Timeout { ctx, .. }
            | Error::Protocol { ctx }
            | Error::Cancelled { ctx }
            | Error::ToolExecution { ctx, .. }
            | Error::Parse { ctx }
            | Error::MissingApiKey { ctx, .. }
            | Error::Unsupported { ctx } => ctx,
        }
    }

    /// The shared context, mutably (to scrub or enrich a message).
    pub fn context_mut(&mut self) -> &mut ErrorContext {
        match self {
            Error::Authentication { ctx }
            | Error::PermissionDenied { ctx }
            | Error::BadRequest { ctx }
            | Error::NotFound { ctx }
            | Error::RateLimit { ctx, .. }
            | Error::Server { ctx, .. }
            | Error::Overloaded { ctx }
            | Error::Connection { ctx }
            | Error::Timeout { ctx, .. }
            | Error::Protocol { ctx }
            | Error::Cancelled { ctx }
            | Error::ToolExecution { ctx, .. }
            | Error::Parse { ctx }
            | Error::MissingApiKey { ctx, .. }
            | Error::Unsupported { ctx } => ctx,
        }
    }

    /// The provider id, when known.
    pub fn provider(&self) -> Option<&str> {
        self.context().provider.as_deref()
    }

    /// The HTTP status, when the error came with one.
    pub fn status(&self) -> Option<u16> {
        self.context().status
    }

    /// The provider's message (or ours).
    pub fn message(&self) -> &str {
        &self.context().message
    }

    /// The provider's error code or type, when it sent one.
    pub fn code(&self) -> Option<&str> {
        self.context().code.as_deref()
    }

    /// Fills in the provider when the error does not name one yet.
    pub fn with_provider(mut self, provider: &str) -> Self {
        let ctx = self.context_mut();
        if ctx.provider.is_none() {
            ctx.provider = Some(provider.to_string());
        }
        self
    }

    /// Whether sending the same request again can help.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::RateLimit { .. }
                | Error::Server { .. }
                | Error::Overloaded { .. }
                | Error::Connection { .. }
                | Error::Timeout { .. }
        )
    }

    /// How long the server asked us to wait before sending the request
    /// again (`Retry-After` or `retry-after-ms`): on a rate limit (429),
    /// and on any other status that carried one, such as an unavailable
    /// (503) or overloaded (529) server. The runtime honours it when it
    /// retries, and does not retry when it asks for more than its
    /// `max_retry_wait`.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimit { retry_after, .. } => *retry_after,
            other => other.context().retry_after,
        }
    }

    /// A malformed-stream error.
    pub fn protocol(message: impl Into<String>) -> Self {
        Error::Protocol {
            ctx: Box::new(ErrorContext::new(message)),
        }
    }

    /// A connection error.
    pub fn connection(message: impl Into<String>) -> Self {
        Error::Connection {
            ctx: Box::new(ErrorContext::new(message)),
        }
    }

    /// A timeout of the given kind.
    pub fn timeout(which: TimeoutKind) -> Self {
        Error::Timeout {
            which,
            ctx: Box::new(ErrorContext::new(format!(
                "no {} within the limit",
                which_phrase(which)
            ))),
        }
    }

    /// A timeout of `which` that fired after `limit`, which the message
    /// names (`no content chunk within 30 s`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use rivulet_core::{Error, TimeoutKind};
    /// let e = Error::timeout_after(TimeoutKind::Idle, Duration::from_millis(1500));
    /// assert_eq!(e.to_string(), "idle timeout: no content chunk within 1500 ms");
    /// ```
    pub fn timeout_after(which: TimeoutKind, limit: std::time::Duration) -> Self {
        let limit = if limit.subsec_millis() == 0 && limit.as_secs() > 0 {
            format!("{} s", limit.as_secs())
        } else {
            format!("{} ms", limit.as_millis())
        };
        Error::Timeout {
            which,
            ctx: Box::new(ErrorContext::new(format!(
                "no {} within {limit}",
                which_phrase(which)
            ))),
        }
    }

    /// The stream was cancelled by its caller.
    pub fn cancelled() -> Self {
        Error::Cancelled {
            ctx: Box::new(ErrorContext::new("the stream was cancelled")),
        }
    }

    /// An unsupported feature or configuration.
    pub fn unsupported(message: impl Into<String>) -> Self {
        Error::Unsupported {
            ctx: Box::new(ErrorContext::new(message)),
        }
    }

    /// A bad request detected on our side (bad model id, bad parameter).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::BadRequest {
            ctx: Box::new(ErrorContext::new(message)),
        }
    }

    /// The key variable `variable` of `provider` is not set.
    pub fn missing_api_key(provider: &str, variable: &str) -> Self {
        Error::MissingApiKey {
            variable: variable.to_string(),
            ctx: Box::new(
                ErrorContext::new(format!("no API key for {provider}")).provider(provider),
            ),
        }
    }

    /// Maps an HTTP error status and the provider's message to a kind.
    ///
    /// `code` is the provider's error code or type; some providers signal
    /// overload or rate limits with a code on an otherwise generic status.
    /// `retry_after` is the wait the response asked for, kept on any status
    /// ([`Error::retry_after`]).
    pub fn from_status(
        provider: &str,
        status: u16,
        message: impl Into<String>,
        code: Option<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        let mut ctx = Box::new(ErrorContext {
            provider: Some(provider.to_string()),
            status: Some(status),
            message: message.into(),
            code,
            retry_after: None,
        });
        if status != 429 {
            ctx.retry_after = retry_after;
        }
        let code = ctx.code.as_deref().unwrap_or("");
        match status {
            401 => Error::Authentication { ctx },
            403 => Error::PermissionDenied { ctx },
            404 => Error::NotFound { ctx },
            408 => Error::Timeout {
                which: TimeoutKind::FirstChunk,
                ctx,
            },
            429 => Error::RateLimit { retry_after, ctx },
            529 => Error::Overloaded { ctx },
            503 if code.contains("overload") => Error::Overloaded { ctx },
            500..=599 => Error::Server { status, ctx },
            _ if code.contains("overload") => Error::Overloaded { ctx },
            _ => Error::BadRequest { ctx },
        }
    }
}

/// `" (retry after 7s)"` when the server asked for a wait, else nothing.
fn retry_note(retry_after: Option<Duration>) -> String {
    retry_after
        .map(|d| format!(" (retry after {d:?})"))
        .unwrap_or_default()
}

fn which_phrase(which: TimeoutKind) -> &'static str {
    match which {
        TimeoutKind::Connect => "connection",
        TimeoutKind::FirstChunk => "first content chunk",
        TimeoutKind::Idle => "content chunk",
        TimeoutKind::Total => "end of stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        let k = |s| Error::from_status("p", s, "m", None, None).kind();
        assert_eq!(k(400), ErrorKind::BadRequest);
        assert_eq!(k(401), ErrorKind::Authentication);
        assert_eq!(k(403), ErrorKind::PermissionDenied);
        assert_eq!(k(404), ErrorKind::NotFound);
        assert_eq!(k(429), ErrorKind::RateLimit);
        assert_eq!(k(500), ErrorKind::Server);
        assert_eq!(k(529), ErrorKind::Overloaded);
    }

    #[test]
    fn retry_after_is_kept_on_every_status() {
        let wait = Some(Duration::from_secs(7));
        let e = Error::from_status("p", 429, "slow down", None, wait);
        assert!(matches!(e, Error::RateLimit { retry_after, .. } if retry_after == wait));
        assert_eq!(e.retry_after(), wait);
        assert_eq!(e.context().retry_after, None, "one home per error");
        for (status, kind) in [(503, ErrorKind::Server), (529, ErrorKind::Overloaded)] {
            let e = Error::from_status("p", status, "busy", None, wait);
            assert_eq!(e.kind(), kind);
            assert_eq!(e.retry_after(), wait, "{status}");
            assert!(e.to_string().ends_with("(retry after 7s)"), "{e}");
        }
        let e = Error::from_status("p", 503, "busy", Some("overloaded".into()), wait);
        assert_eq!(e.kind(), ErrorKind::Overloaded);
        assert_eq!(e.retry_after(), wait);
        assert_eq!(
            Error::from_status("p", 500, "m", None, None).retry_after(),
            None
        );
        assert_eq!(Error::connection("cut").retry_after(), None);
    }

    #[test]
    fn display_keeps_provider_status_and_message() {
        let e = Error::from_status(
            "openai",
            401,
            "Incorrect API key provided",
            Some("invalid_api_key".into()),
            None,
        );
        assert_eq!(
            e.to_string(),
            "authentication failed: openai: Incorrect API key provided (HTTP 401, invalid_api_key)"
        );
    }
}
