//! Errors as OpenAI-style JSON: `{"error":{"message","type","param","code"}}`.
//!
//! Every refusal the server makes goes through [`ApiError`], so a client
//! written against OpenAI's error shape can read ours.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rivulet_core::{Error, ErrorKind};

use super::wire::{ErrorBody, ErrorDetail};

/// An HTTP error answer, in OpenAI's shape: the status and the `error`
/// object OpenAI clients read (the official SDKs raise it as their
/// `APIError`). Every route answers its errors with it,
/// `POST /v1/chat/completions` included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status (400 for a bad body).
    pub status: u16,
    /// What went wrong, for a person.
    pub message: String,
    /// OpenAI's error type (`invalid_request_error`, …).
    pub kind: &'static str,
    /// The request field at fault, as a path (`messages[0].content`).
    pub param: Option<String>,
    /// A machine-readable code (`not_found`, `model_not_found`, or
    /// rivulet's error kind).
    pub code: Option<&'static str>,
    /// `Retry-After` (on a 429).
    pub retry_after: Option<Duration>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, code: &'static str, message: String) -> Self {
        ApiError {
            status: status.as_u16(),
            kind,
            code: Some(code),
            message,
            param: None,
            retry_after: None,
        }
    }

    /// 400: the request body or a parameter is wrong.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "bad_request",
            message.into(),
        )
    }

    /// 401: no bearer token, or the wrong one.
    pub fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid_token",
            "missing or wrong bearer token (Authorization: Bearer TOKEN)".into(),
        )
    }

    /// 403: a page of an origin the server does not allow, or (without a
    /// token) a host that is not loopback; `code` says which.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "permission_error",
            code,
            message.into(),
        )
    }

    /// 404: no such stream (never started, or freed after its retention).
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "not_found",
            message.into(),
        )
    }

    /// 405: the route exists, not with this method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "method_not_allowed",
            "this route does not take that method".into(),
        )
    }

    /// 413: the body is larger than the limit.
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            "body_too_large",
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// 408: the request body did not arrive within the deadline.
    pub fn body_timeout(deadline: Duration) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "invalid_request_error",
            "request_timeout",
            format!(
                "the request body did not arrive within {} s",
                deadline.as_secs_f64()
            ),
        )
    }

    /// 429 with `Retry-After`: a limit is reached.
    pub fn busy(message: impl Into<String>, retry_after: Duration) -> Self {
        ApiError {
            retry_after: Some(retry_after),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "limit_reached",
                message.into(),
            )
        }
    }

    /// 503: the shared log (Redis) cannot be asked about another node's
    /// stream now.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "shared_log_unavailable",
            message.into(),
        )
    }

    /// 503: the server is shutting down and starts nothing new.
    pub fn draining() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "shutting_down",
            "the server is shutting down".into(),
        )
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status(),
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.to_json(),
        )
            .into_response();
        if self.status == 401 {
            // RFC 6750: a 401 names the scheme it wants.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(d) = self.retry_after {
            // Whole seconds, at least one: `Retry-After: 0` invites a busy loop.
            let secs = d.as_secs().max(1);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl ApiError {
    /// A 400 `invalid_request_error`.
    pub fn invalid(message: String, param: Option<String>) -> Self {
        ApiError {
            status: 400,
            message,
            kind: "invalid_request_error",
            param,
            code: None,
            retry_after: None,
        }
    }

    /// A 400 for a field rivulet cannot honour (code `unsupported_value`).
    pub fn unsupported(param: &str, message: &str) -> Self {
        ApiError {
            code: Some("unsupported_value"),
            ..ApiError::invalid(message.to_string(), Some(param.to_string()))
        }
    }

    /// The generation's failure. The status says whose fault it is: the
    /// client's request (400), the upstream provider's answer (429, 502,
    /// 504) or a cancel (499, as nginx names a closed request). `code` is
    /// rivulet's error kind (`rate_limit`, `timeout`, …). The message is the
    /// error's own text, which never holds an API key.
    pub fn from_error(error: &Error) -> Self {
        let kind = error.kind();
        let (status, openai_type) = match kind {
            ErrorKind::BadRequest | ErrorKind::Unsupported | ErrorKind::Parse => {
                (400, "invalid_request_error")
            }
            ErrorKind::NotFound => (404, "invalid_request_error"),
            ErrorKind::RateLimit => (429, "rate_limit_error"),
            // The gateway's credentials for the provider are wrong or
            // missing: the client's own (if any) were fine.
            ErrorKind::Authentication | ErrorKind::PermissionDenied | ErrorKind::MissingApiKey => {
                (502, "upstream_authentication_error")
            }
            ErrorKind::Timeout => (504, "timeout_error"),
            ErrorKind::Cancelled => (499, "cancelled"),
            ErrorKind::Overloaded => (503, "server_error"),
            ErrorKind::Server
            | ErrorKind::Connection
            | ErrorKind::Protocol
            | ErrorKind::ToolExecution => (502, "server_error"),
        };
        ApiError {
            status,
            message: error.to_string(),
            kind: openai_type,
            param: None,
            code: Some(kind.as_str()),
            retry_after: None,
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> String {
        let body = ErrorBody {
            error: ErrorDetail {
                message: &self.message,
                kind: self.kind,
                param: self.param.as_deref(),
                code: self.code,
            },
        };
        // Plain strings and options: serializing cannot fail.
        serde_json::to_string(&body).unwrap_or_default()
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}
