//! How a provider's failures become rivulet's [`Error`]: an HTTP error's
//! status, headers and body ([`error_from_parts`], [`provider_message`],
//! [`retry_after`]), an in-band error code inside a 200 stream
//! ([`error_from_code`]), a body that ended too soon ([`cut_short`]) or an
//! event that does not parse (`malformed`), and keys scrubbed from every
//! message (`redact`).
//!
//! Pure functions, no I/O: the HTTP plumbing (`http/`) and the decoders
//! (`decode.rs`) both map errors here, so neither imports the other.

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use rivulet_core::{ApiKey, Error, ErrorContext};
use serde_json::Value;

/// Maps an HTTP error (status, headers, body) to an [`Error`] with
/// [`Error::from_status`], keeping the provider's message and code.
///
/// The message comes from `{"error":{"message","type","code"}}`,
/// `{"error":"…"}`, `{"message":…}` or `{"detail":…}` bodies, else the
/// body text, else the status line.
pub fn error_from_parts(
    provider: &str,
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> Error {
    let (message, code) = provider_message(body);
    let message = message.unwrap_or_else(|| fallback_message(status, body));
    Error::from_status(provider, status, message, code, retry_after(headers, now))
}

fn fallback_message(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        let reason = StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("error");
        format!("HTTP {status} {reason}")
    } else {
        truncate(text, 500)
    }
}

/// The provider's message and code from a JSON error body.
pub fn provider_message(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(mut v) = serde_json::from_slice::<Value>(body) else {
        return (None, None);
    };
    // Some servers wrap the error in a one-element list.
    if let Value::Array(items) = v {
        match items.into_iter().next() {
            Some(first) => v = first,
            None => return (None, None),
        }
    }
    match v.get("error") {
        Some(Value::Object(e)) => (
            e.get("message").and_then(text_of),
            e.get("code")
                .and_then(text_of)
                .or_else(|| e.get("type").and_then(text_of)),
        ),
        Some(Value::String(s)) => (Some(s.clone()), code_of(&v)),
        _ => {
            let message = v
                .get("message")
                .and_then(text_of)
                .or_else(|| v.get("detail").and_then(detail_text));
            (message, code_of(&v))
        }
    }
}

fn code_of(v: &Value) -> Option<String> {
    v.get("code")
        .and_then(text_of)
        .or_else(|| v.get("type").and_then(text_of))
}

/// A string, or a number written out; nothing for null, objects and lists.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// FastAPI-style `detail`: a string or a list of `{msg}`.
fn detail_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let msgs: Vec<&str> = items
                .iter()
                .filter_map(|i| i.get("msg").and_then(Value::as_str))
                .collect();
            (!msgs.is_empty()).then(|| msgs.join("; "))
        }
        _ => None,
    }
}

/// The longest wait [`retry_after`] reports: anything longer (a huge
/// number, infinity, a date in the year 9999) is reported as this, about
/// 584 million years. Every consumer can then count it in `u64`
/// milliseconds or compare it without overflowing; the runtime never
/// sleeps that long (it fails at once when a server asks for more than
/// its `max_retry_wait`).
pub const RETRY_AFTER_LIMIT: Duration = Duration::from_millis(u64::MAX);

/// How long the server asked us to wait: `retry-after-ms` (OpenAI), else
/// `Retry-After` as seconds or as an HTTP-date (relative to `now`).
///
/// Never panics, whatever the headers hold: a value that is not a
/// non-negative number or a date (`NaN`, `-5`, `soon`) is ignored, a date
/// in the past means no wait, and huge values saturate at
/// [`RETRY_AFTER_LIMIT`].
pub fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(wait) = header("retry-after-ms").and_then(|v| wait_of(v, Unit::Millis)) {
        return Some(wait);
    }
    let value = header("retry-after")?;
    if let Some(wait) = wait_of(value, Unit::Seconds) {
        return Some(wait);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let wait = at.duration_since(now).unwrap_or(Duration::ZERO);
    Some(wait.min(RETRY_AFTER_LIMIT))
}

#[derive(Clone, Copy)]
enum Unit {
    Seconds,
    Millis,
}

/// A count of `unit`s as a wait: integers exactly, decimals (`1.5`,
/// `1e300`) to the nanosecond; saturating at [`RETRY_AFTER_LIMIT`] (so an
/// infinity is "longer than anyone waits"). `None` for anything else:
/// NaN, negative numbers, text.
fn wait_of(value: &str, unit: Unit) -> Option<Duration> {
    let wait = if let Ok(n) = value.parse::<u64>() {
        match unit {
            Unit::Seconds => Duration::from_secs(n),
            Unit::Millis => Duration::from_millis(n),
        }
    } else {
        let n = value.parse::<f64>().ok()?;
        if n.is_nan() || n < 0.0 {
            return None;
        }
        let secs = match unit {
            Unit::Seconds => n,
            Unit::Millis => n / 1000.0,
        };
        // Fails only for values too large for a Duration (and infinity).
        Duration::try_from_secs_f64(secs).unwrap_or(RETRY_AFTER_LIMIT)
    };
    Some(wait.min(RETRY_AFTER_LIMIT))
}

/// Cuts `text` to at most `max` characters, marking the cut.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// Replaces every occurrence of the key in the error's message and code
/// with `***`. Providers echo keys back in messages (OpenAI masks them, a
/// proxy may not); this is the last line of defence.
pub(crate) fn redact(err: Error, key: Option<&ApiKey>) -> Error {
    let Some(secret) = key.map(ApiKey::expose).filter(|s| s.len() >= 4) else {
        return err;
    };
    let leaks = err.message().contains(secret) || err.code().is_some_and(|c| c.contains(secret));
    if !leaks {
        return err;
    }
    map_context(err, |ctx| {
        ctx.message = ctx.message.replace(secret, "***");
        if let Some(code) = &mut ctx.code {
            *code = code.replace(secret, "***");
        }
    })
}

/// Applies `f` to the error's context, whatever the variant.
pub(crate) fn map_context(mut err: Error, f: impl FnOnce(&mut ErrorContext)) -> Error {
    f(err.context_mut());
    err
}

/// The error of an event that does not parse as `what` (`serde`'s `e`):
/// an [`Error::Protocol`] quoting the start of the data.
pub(crate) fn malformed(what: impl std::fmt::Display, e: serde_json::Error, data: &str) -> Error {
    Error::protocol(format!("malformed {what} ({e}): {}", truncate(data, 200)))
}

/// The error of a body that ended before `terminal`, the protocol's
/// terminal event (`"message_stop"`): an [`Error::Connection`], never
/// [`Error::Protocol`].
///
/// Every byte that came parsed; what is missing is the rest. Streaming
/// bodies are close-delimited or chunked, so a connection cut by a proxy, a
/// load balancer or the network looks exactly like a clean close: the
/// client cannot tell them apart, and a cut connection is what such an end
/// almost always is. Users retry a connection error (and the runtime does,
/// before the first content chunk) but not a malformed stream, which stays
/// for bytes that do not parse. What arrived before the end is kept, as
/// with any failure ([`EventDecoder::fail_into`](crate::decode::EventDecoder::fail_into)).
pub fn cut_short(terminal: &str) -> Error {
    Error::connection(format!(
        "the stream ended before {terminal}: the response is truncated (the connection was probably cut)"
    ))
}

/// A typed error from a provider's in-band error code (or type), for
/// errors reported inside a 200 stream, where there is no HTTP status.
///
/// Codes are matched by the words they contain (`rate_limit_exceeded`,
/// `throttlingException`, `server_error`, …); a code that says nothing
/// recognizable is a server error, as a failure the server reports about
/// itself mid-stream usually is.
pub fn error_from_code(provider: &str, code: Option<&str>, message: Option<&str>) -> Error {
    let message = message
        .filter(|m| !m.trim().is_empty())
        .unwrap_or("the provider reported an error mid-stream")
        .to_string();
    let mut ctx = ErrorContext::new(message).provider(provider);
    let code_text = code.filter(|c| !c.is_empty());
    ctx.code = code_text.map(String::from);
    let ctx = Box::new(ctx);
    let c = code_text.unwrap_or_default().to_ascii_lowercase();
    let has = |s: &str| c.contains(s);
    if has("insufficient_quota") || has("quota_exceeded") || has("billing") {
        // The account is out of credit: a retry cannot help until someone
        // pays, so this is not a (retryable) rate limit, although OpenAI
        // sends it with HTTP 429. The account is not allowed to generate.
        Error::PermissionDenied { ctx }
    } else if has("rate_limit") || has("throttl") || has("too_many") {
        Error::RateLimit {
            retry_after: None,
            ctx,
        }
    } else if has("overload") || has("unavailable") || has("capacity") {
        Error::Overloaded { ctx }
    } else if has("invalid_api_key") || has("authentication") || has("unauthorized") {
        Error::Authentication { ctx }
    } else if has("permission") || has("access_denied") || has("accessdenied") {
        Error::PermissionDenied { ctx }
    } else if has("not_found") || has("notfound") {
        Error::NotFound { ctx }
    } else if has("invalid")
        || has("validation")
        || has("bad_request")
        || has("context_length")
        || has("too_large")
        || has("unsupported")
    {
        Error::BadRequest { ctx }
    } else {
        Error::Server { status: 500, ctx }
    }
}
