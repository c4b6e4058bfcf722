//! Errors in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

use rivulet_core::{Error, ErrorKind};

use super::wire::{ErrorBody, ErrorDetail};

/// An error answer: the HTTP status and the `error` object OpenAI clients
/// read (the official SDKs raise it as their `APIError`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompatError {
    /// The HTTP status (400 for a bad body).
    pub status: u16,
    /// What went wrong, for a person.
    pub message: String,
    /// OpenAI's error type (`invalid_request_error`, …).
    pub kind: &'static str,
    /// The request field at fault, as a path (`messages[0].content`).
    pub param: Option<String>,
    /// A machine-readable code (`model_not_found`, or rivulet's error kind).
    pub code: Option<&'static str>,
}

impl CompatError {
    /// A 400 `invalid_request_error`.
    pub fn invalid(message: String, param: Option<String>) -> Self {
        CompatError {
            status: 400,
            message,
            kind: "invalid_request_error",
            param,
            code: None,
        }
    }

    /// A 400 for a field rivulet cannot honour (code `unsupported_value`).
    pub fn unsupported(param: &str, message: &str) -> Self {
        CompatError {
            code: Some("unsupported_value"),
            ..CompatError::invalid(message.to_string(), Some(param.to_string()))
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
        CompatError {
            status,
            message: error.to_string(),
            kind: openai_type,
            param: None,
            code: Some(kind.as_str()),
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

impl std::fmt::Display for CompatError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CompatError {}
