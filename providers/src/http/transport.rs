//! The HTTP transport under every endpoint (`endpoint.rs`): the client,
//! sending, turning error responses into [`Error`]s (with the provider's
//! own message and code, and `Retry-After`), checking a response is an
//! event stream before parsing it, and keeping the API key out of error
//! messages. It knows nothing of providers beyond the key it scrubs.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_ENCODING, CONTENT_TYPE};
use reqwest::Url;
use rivulet_core::{ApiKey, Error, ErrorContext, TimeoutKind};
use tokio::time::{Instant, Sleep};

use crate::errors::{error_from_parts, provider_message, truncate};

/// Error bodies are read up to this size; providers send a few hundred bytes.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// The longest a TCP connection and its TLS handshake may take
/// ([`client`]'s connect timeout).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long a provider may stay silent: the response head must come
/// within it of sending the request ([`post`]), and a body that delivers
/// nothing during a whole check period this long fails ([`body_stream`]),
/// so after 10 to 20 minutes without a byte. Far above a provider's
/// silences (reasoning before the first token, a local model reading a
/// long prompt; pings and keep-alives are bytes), and a bound on a server
/// that stopped sending without closing.
pub(crate) const READ_TIMEOUT: Duration = Duration::from_secs(600);

/// The client every provider of this crate builds once and shares across its
/// calls: rustls, `TCP_NODELAY` (events are small and must not wait for
/// Nagle), no transparent gzip (decompression would hold events back
/// until a compressed block fills), no redirects, and [`CONNECT_TIMEOUT`]
/// on opening a connection; [`post`] and [`body_stream`] bound the
/// silences after it ([`READ_TIMEOUT`]).
///
/// Why timeouts here when streams have their own (connect, first chunk,
/// idle, total; none by default): a stream's timeouts count from the
/// call's start and include waiting for a slot of a concurrency limit, so
/// they cannot have defaults without failing queued streams; these count
/// only the network's silence, so a call never waits without bound on a
/// server that hangs. A silence before the response head fails as a
/// [`TimeoutKind::Connect`](rivulet_core::TimeoutKind) timeout, one in the
/// body as [`TimeoutKind::Idle`](rivulet_core::TimeoutKind).
///
/// Why not reqwest's `read_timeout`: it drops its timer after every frame
/// and registers a new one before the next, a timer-wheel insertion and
/// removal per chunk when events come one per write: one stream of
/// 100,000 chunks took 283–363 ms of CPU with it, 212–307 without
/// (`perf stat`, 5 alternating runs).
///
/// Redirects are refused because following one leaks the credentials and
/// loses the request: reqwest drops only `Authorization` on a redirect to
/// another origin, so `x-api-key`, `x-goog-api-key`, `api-key` and
/// `x-amz-security-token` would go to whoever the `Location` names, and a
/// 301/302 turns the streaming POST into a GET without its body. Provider
/// APIs do not redirect their streaming endpoints; a 3xx is reported
/// as an error instead.
pub fn client() -> Result<reqwest::Client, Error> {
    reqwest::Client::builder()
        .tcp_nodelay(true)
        .no_gzip()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .user_agent(concat!("rivulet/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::connection(format!("cannot build the HTTP client: {}", chain(&e))))
}

/// The headers of a provider's streaming requests: JSON in, `accept` out
/// (`text/event-stream`, Bedrock's eventstream), the caller's extra
/// headers, then the credentials (`auth`: header name and value, e.g.
/// `x-api-key`, or `authorization` with [`bearer`]). Extra headers and
/// credentials are marked sensitive (hyper then keeps them out of its debug
/// output) and their values are never echoed in errors: custom headers
/// often carry secrets too.
pub(crate) fn request_headers(
    provider: &str,
    accept: &'static str,
    extra: &[(String, String)],
    auth: Option<(HeaderName, String)>,
) -> Result<HeaderMap, Error> {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT, HeaderValue::from_static(accept));
    for (name, value) in extra {
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
            Error::bad_request(format!("invalid header name {name:?}")).with_provider(provider)
        })?;
        let value = secret_header(provider, value, &format!("invalid value for header {name}"))?;
        headers.insert(name, value);
    }
    if let Some((name, value)) = auth {
        let what = "the API key contains characters not allowed in a header";
        headers.insert(name, secret_header(provider, &value, what)?);
    }
    Ok(headers)
}

/// `Bearer {key}`, the value of an `authorization` header.
pub(crate) fn bearer(key: &ApiKey) -> String {
    format!("Bearer {}", key.expose())
}

/// A header value marked sensitive (hyper keeps it out of its own logs).
/// `what` is the error message: it must not contain the value.
pub(crate) fn secret_header(provider: &str, value: &str, what: &str) -> Result<HeaderValue, Error> {
    let mut value = HeaderValue::from_str(value)
        .map_err(|_| Error::bad_request(what.to_string()).with_provider(provider))?;
    value.set_sensitive(true);
    Ok(value)
}

/// The names of `headers` other than the standard ones and `hidden` (the
/// credentials), for `Debug` prints.
pub(crate) fn extra_header_names<'a>(headers: &'a HeaderMap, hidden: &[&str]) -> Vec<&'a str> {
    headers
        .keys()
        .map(HeaderName::as_str)
        .filter(|n| !matches!(*n, "content-type" | "accept") && !hidden.contains(n))
        .collect()
}

/// Sends a JSON POST and returns the response head, whatever its status,
/// except a redirect: the client does not follow them ([`client`]), and a
/// 3xx is a [`redirect_error`]. No head within [`READ_TIMEOUT`] is a
/// connect timeout.
pub(crate) async fn post(
    provider: &str,
    client: &reqwest::Client,
    url: Url,
    headers: HeaderMap,
    body: Vec<u8>,
) -> Result<reqwest::Response, Error> {
    post_within(provider, client, url, headers, body, READ_TIMEOUT).await
}

/// [`post`], the head due within `silence` (the tests' short one).
async fn post_within(
    provider: &str,
    client: &reqwest::Client,
    url: Url,
    headers: HeaderMap,
    body: Vec<u8>,
    silence: Duration,
) -> Result<reqwest::Response, Error> {
    let send = client.post(url).headers(headers).body(body).send();
    let resp = match tokio::time::timeout(silence, send).await {
        Ok(sent) => sent.map_err(|e| {
            transport_error(provider, &e, "sending the request", TimeoutKind::Connect)
        })?,
        Err(_) => {
            return Err(silent(
                provider,
                TimeoutKind::Connect,
                "waiting for the response head",
                silence,
            ))
        }
    };
    if resp.status().is_redirection() {
        return Err(redirect_error(provider, &resp));
    }
    Ok(resp)
}

/// A 3xx answer to a streaming request, as an [`Error::BadRequest`] with
/// its status: the base URL is not the API's, and a retry cannot help.
/// The message names the origin the `Location` points to (scheme, host,
/// port), never its path or query, which may carry a credential.
pub(crate) fn redirect_error(provider: &str, resp: &reqwest::Response) -> Error {
    let status = resp.status().as_u16();
    let target = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|location| resp.url().join(location.trim()).ok());
    let to = match target {
        Some(to) if to.origin() == resp.url().origin() => {
            format!("to another path of the same origin ({})", origin(&to))
        }
        Some(to) => format!("to another origin ({})", origin(&to)),
        None => "without a usable Location".to_string(),
    };
    let message = format!(
        "the server answered with a redirect {to}; rivulet does not follow redirects \
         (the request would lose its body, or its credentials would go elsewhere): \
         set the base URL to the API's own address"
    );
    Error::BadRequest {
        ctx: Box::new(ErrorContext::new(message).provider(provider).status(status)),
    }
}

/// `scheme://host[:port]`, without the path, query or any user info.
fn origin(url: &reqwest::Url) -> String {
    url.origin().ascii_serialization()
}

/// A reqwest failure as an [`Error`]: a `which` timeout when reqwest timed
/// out, `Connection` otherwise. The message names what we were doing and
/// the cause chain; reqwest puts the URL in it, never a header, so no key.
pub(crate) fn transport_error(
    provider: &str,
    e: &reqwest::Error,
    doing: &str,
    which: TimeoutKind,
) -> Error {
    let ctx = ErrorContext::new(format!("{doing}: {}", chain(e))).provider(provider);
    if e.is_timeout() {
        Error::Timeout {
            which,
            ctx: Box::new(ctx),
        }
    } else {
        Error::Connection { ctx: Box::new(ctx) }
    }
}

/// An error and every `source()` below it, joined with `": "`.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(source) = cur {
        let text = source.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = source.source();
    }
    out
}

/// The body of a non-2xx response as an [`Error`], plus the body text (the
/// caller may look for hints in it, e.g. a rejected parameter).
///
/// Boxed, as every wait on an error path here: a provider's request future
/// is as large as the largest future it awaits, so an inline body read
/// on a path that is rarely taken would make every stream's request phase
/// carry it.
pub(crate) fn error_response(
    provider: &str,
    resp: reqwest::Response,
) -> futures::future::BoxFuture<'_, (Error, String)> {
    Box::pin(read_error_response(provider, resp))
}

async fn read_error_response(provider: &str, resp: reqwest::Response) -> (Error, String) {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = read_limited(resp, ERROR_BODY_LIMIT).await;
    let err = error_from_parts(provider, status, &headers, &body, SystemTime::now());
    (err, String::from_utf8_lossy(&body).into_owned())
}

/// The body without its `Content-Encoding: gzip`. The client does not ask
/// for compression, but a server (or a proxy) may compress error bodies
/// anyway (Anthropic's 404 was recorded gzip-encoded); the compressed
/// bytes would make an unreadable message. A body that does not decode is
/// kept as it came.
fn decoded_body(headers: &HeaderMap, body: Vec<u8>) -> Vec<u8> {
    use std::io::Read;
    let gzip = headers
        .get(CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"));
    if !gzip {
        return body;
    }
    let mut out = Vec::new();
    let decoder = flate2::read::GzDecoder::new(&body[..]);
    match decoder.take(ERROR_BODY_LIMIT as u64).read_to_end(&mut out) {
        Ok(_) => out,
        Err(_) => body,
    }
}

/// What a successful response carries, judged by its `Content-Type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BodyKind {
    /// `text/event-stream`, or no content type at all (trusted as a stream).
    EventStream,
    /// JSON: the server ignored `stream: true`, or sent an error with 200.
    Json,
    /// Anything else, named.
    Other(String),
}

pub(crate) fn body_kind(headers: &HeaderMap) -> BodyKind {
    let Some(ct) = headers.get(CONTENT_TYPE) else {
        return BodyKind::EventStream;
    };
    let ct = String::from_utf8_lossy(ct.as_bytes()).to_ascii_lowercase();
    let essence = ct.split(';').next().unwrap_or_default().trim().to_string();
    if essence == "text/event-stream" {
        BodyKind::EventStream
    } else if essence == "application/json" || essence.ends_with("+json") {
        BodyKind::Json
    } else {
        BodyKind::Other(essence)
    }
}

/// Reads at most `limit` bytes of a body, without its gzip encoding
/// ([`decoded_body`]); a broken body yields what came.
pub(crate) async fn read_limited(resp: reqwest::Response, limit: usize) -> Vec<u8> {
    let headers = resp.headers().clone();
    let mut out = Vec::new();
    let mut stream = resp.bytes_stream();
    while let Some(Ok(piece)) = stream.next().await {
        let room = limit - out.len();
        out.extend_from_slice(&piece[..piece.len().min(room)]);
        if out.len() >= limit {
            break;
        }
    }
    decoded_body(&headers, out)
}

/// The body of a response as a byte stream of rivulet errors, failing
/// with an idle timeout once a whole [`READ_TIMEOUT`] passes without a
/// frame.
pub(crate) fn body_stream(
    provider: &str,
    resp: reqwest::Response,
) -> impl Stream<Item = Result<Bytes, Error>> + Send + 'static {
    body_stream_within(provider, resp, READ_TIMEOUT)
}

/// [`body_stream`] with another silence bound (the tests' short one).
fn body_stream_within(
    provider: &str,
    resp: reqwest::Response,
    silence: Duration,
) -> impl Stream<Item = Result<Bytes, Error>> + Send + 'static {
    Silence {
        frames: resp.bytes_stream(),
        provider: provider.to_string(),
        period: silence,
        check: None,
        progress: false,
        done: false,
    }
}

/// A body's frames, its errors as rivulet's, ending with an idle timeout
/// after a whole check period with none.
///
/// Why a period and a flag, not a deadline moved at every frame: a frame
/// only sets `progress`, so the per-chunk path touches no clock and no
/// timer (moving a tokio timer is a trip through the timer wheel). When
/// the check fires, a frame since the last one re-arms it; none fails the
/// body. So a silence fails after one to two periods.
struct Silence<S> {
    frames: S,
    provider: String,
    period: Duration,
    /// Armed at the first wait for a frame.
    check: Option<Pin<Box<Sleep>>>,
    /// A frame came since `check` was armed.
    progress: bool,
    /// The timeout was yielded: nothing more.
    done: bool,
}

impl<S> Stream for Silence<S>
where
    S: Stream<Item = reqwest::Result<Bytes>> + Unpin,
{
    type Item = Result<Bytes, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        // Every field is Unpin (the timer is boxed).
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = this.frames.poll_next_unpin(cx) {
            this.progress = true;
            let doing = "reading the stream";
            return Poll::Ready(item.map(|r| {
                r.map_err(|e| transport_error(&this.provider, &e, doing, TimeoutKind::Idle))
            }));
        }
        let period = this.period;
        let check = this
            .check
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(period)));
        while check.as_mut().poll(cx).is_ready() {
            if !std::mem::take(&mut this.progress) {
                this.done = true;
                let what = "reading the stream";
                return Poll::Ready(Some(Err(silent(
                    &this.provider,
                    TimeoutKind::Idle,
                    what,
                    period,
                ))));
            }
            check.as_mut().reset(Instant::now() + period);
        }
        Poll::Pending
    }
}

/// The error of a provider silent for `silence` while `doing`.
fn silent(provider: &str, which: TimeoutKind, doing: &str, silence: Duration) -> Error {
    let ctx = ErrorContext::new(format!(
        "{doing}: nothing from the server for {} s",
        silence.as_secs_f64()
    ))
    .provider(provider);
    Error::Timeout {
        which,
        ctx: Box::new(ctx),
    }
}

/// Checks that a successful response carries a body of content type
/// `expected` (an essence: `text/event-stream`), before any parsing; a
/// response without a content type is trusted.
///
/// A JSON body instead (an error sent with a 2xx, or a server that ignored
/// streaming) is read and becomes the error it describes: `json_error`
/// reads the provider's own error shape (`None` when the body is not one),
/// else the generic reading applies ([`provider_message`] and
/// [`error_from_code`](crate::errors::error_from_code)), else it is a
/// protocol error. Any other content type (an HTML page from a proxy) is a
/// protocol error.
pub(crate) async fn expect_stream(
    provider: &str,
    resp: reqwest::Response,
    expected: &str,
    json_error: impl FnOnce(&[u8]) -> Option<Error>,
) -> Result<reqwest::Response, Error> {
    tracing::debug!(
        provider,
        status = resp.status().as_u16(),
        "response head received"
    );
    let essence = match body_kind(resp.headers()) {
        BodyKind::EventStream => "text/event-stream".to_string(),
        BodyKind::Json => "application/json".to_string(),
        BodyKind::Other(essence) => essence,
    };
    let untyped = resp.headers().get(CONTENT_TYPE).is_none();
    if untyped || essence == expected {
        return match content_encoding(resp.headers()) {
            None => Ok(resp),
            Some(encoding) => Err(Error::protocol(format!(
                "the stream came with Content-Encoding: {encoding}, which rivulet cannot read \
                 (it decodes no compression: events must not wait for a compressed block)"
            ))),
        };
    }
    if essence == "application/json" {
        // Boxed: see `error_response`.
        let body = Box::pin(read_limited(resp, ERROR_BODY_LIMIT)).await;
        return Err(
            json_error(&body).unwrap_or_else(|| match provider_message(&body) {
                (Some(message), code) => {
                    crate::errors::error_from_code(provider, code.as_deref(), Some(&message))
                }
                (None, _) => Error::protocol(format!(
                    "expected {expected}, got a JSON body (did the server ignore streaming?): {}",
                    truncate(&String::from_utf8_lossy(&body), 200)
                )),
            }),
        );
    }
    Err(Error::protocol(format!(
        "expected {expected}, got {essence}"
    )))
}

/// A response's `Content-Encoding` other than `identity`, as it came (cut
/// short): [`client`] asks for none and decodes none, so a stream encoded
/// anyway (gzip from a proxy, br, zstd) is unreadable.
fn content_encoding(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_ENCODING)?;
    let value = String::from_utf8_lossy(value.as_bytes());
    let value = value.trim();
    (!value.is_empty() && !value.eq_ignore_ascii_case("identity")).then(|| truncate(value, 40))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors::*;
    use reqwest::header::HeaderValue;
    use rivulet_core::ErrorKind;
    use std::time::Duration;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn openai_error_body() {
        let body = br#"{"error":{"message":"Incorrect API key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        let e = error_from_parts("openai", 401, &HeaderMap::new(), body, SystemTime::now());
        assert_eq!(e.kind(), ErrorKind::Authentication);
        assert_eq!(e.message(), "Incorrect API key");
        assert_eq!(e.code(), Some("invalid_api_key"));
        assert_eq!(e.status(), Some(401));
        assert_eq!(e.provider(), Some("openai"));
    }

    #[test]
    fn other_body_shapes() {
        assert_eq!(
            provider_message(br#"{"message":"bad model","type":"invalid_model"}"#),
            (Some("bad model".into()), Some("invalid_model".into()))
        );
        assert_eq!(
            provider_message(br#"{"error":"model not loaded"}"#),
            (Some("model not loaded".into()), None)
        );
        assert_eq!(
            provider_message(br#"{"detail":[{"msg":"field required"},{"msg":"bad"}]}"#),
            (Some("field required; bad".into()), None)
        );
        assert_eq!(
            provider_message(
                br#"[{"error":{"code":400,"message":"nope","status":"INVALID_ARGUMENT"}}]"#
            ),
            (Some("nope".into()), Some("400".into()))
        );
        assert_eq!(provider_message(b"<html>"), (None, None));
    }

    #[test]
    fn fallback_messages() {
        let e = error_from_parts("p", 502, &HeaderMap::new(), b"", SystemTime::now());
        assert_eq!(e.message(), "HTTP 502 Bad Gateway");
        let e = error_from_parts(
            "p",
            500,
            &HeaderMap::new(),
            b" upstream died \n",
            SystemTime::now(),
        );
        assert_eq!(e.message(), "upstream died");
    }

    #[test]
    fn retry_after_forms() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            retry_after(&headers(&[("retry-after", "7")]), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "1.5")]), now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:50:07 GMT")]),
                now
            ),
            Some(Duration::from_secs(30))
        );
        // A date in the past means "now".
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "Sun, 06 Nov 1994 08:00:00 GMT")]),
                now
            ),
            Some(Duration::ZERO)
        );
        assert_eq!(
            retry_after(
                &headers(&[("retry-after", "7"), ("retry-after-ms", "250")]),
                now
            ),
            Some(Duration::from_millis(250))
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    /// Nothing a server sends makes the parser panic; absurd waits are
    /// reported (capped at the limit), nonsense is ignored.
    #[test]
    fn absurd_retry_after_values() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        let ms = |v: &'static str| retry_after(&headers(&[("retry-after-ms", v)]), now);
        let secs = |v: &'static str| retry_after(&headers(&[("retry-after", v)]), now);
        let limit = Some(RETRY_AFTER_LIMIT);
        // Used to panic in Duration::from_secs_f64.
        assert_eq!(ms("1e300"), limit);
        assert_eq!(ms("1e309"), limit, "parses as infinity");
        assert_eq!(ms("inf"), limit);
        assert_eq!(ms("18446744073709551615"), limit);
        assert_eq!(ms("18446744073709551616"), limit);
        assert_eq!(ms("0.5"), Some(Duration::from_micros(500)));
        assert_eq!(ms("-0"), Some(Duration::ZERO));
        for junk in ["NaN", "-1", "-inf", "", "1s", "0x10"] {
            assert_eq!(ms(junk), None, "{junk:?}");
        }
        assert_eq!(secs("999999"), Some(Duration::from_secs(999_999)));
        assert_eq!(secs("18446744073709551615"), limit);
        assert_eq!(secs("1e300"), limit);
        assert_eq!(secs("Infinity"), limit);
        for junk in [
            "NaN",
            "-5",
            "-1.5",
            "Sun, 06 Nov 1994",
            "99999999999999999999999x",
        ] {
            assert_eq!(secs(junk), None, "{junk:?}");
        }
        // A date in the year 9999: reported as it is (about 8,000 years).
        let far = secs("Fri, 31 Dec 9999 23:59:59 GMT").unwrap();
        assert!(far > Duration::from_secs(7_900 * 365 * 86_400), "{far:?}");
        assert!(far < RETRY_AFTER_LIMIT);
        // Garbage in retry-after-ms leaves Retry-After to speak.
        assert_eq!(
            retry_after(
                &headers(&[("retry-after-ms", "NaN"), ("retry-after", "3")]),
                now
            ),
            Some(Duration::from_secs(3))
        );
        // Bytes that are not text.
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        assert_eq!(retry_after(&h, now), None);
    }

    #[test]
    fn content_types() {
        assert_eq!(
            body_kind(&headers(&[(
                "content-type",
                "text/event-stream; charset=utf-8"
            )])),
            BodyKind::EventStream
        );
        assert_eq!(
            body_kind(&headers(&[("content-type", "Application/JSON")])),
            BodyKind::Json
        );
        assert_eq!(body_kind(&HeaderMap::new()), BodyKind::EventStream);
        assert_eq!(
            body_kind(&headers(&[("content-type", "text/html")])),
            BodyKind::Other("text/html".into())
        );
    }

    #[test]
    fn redaction() {
        let key = ApiKey::new("sk-live-123456");
        let e = Error::from_status(
            "p",
            401,
            "bad key sk-live-123456!",
            Some("sk-live-123456".into()),
            None,
        );
        let e = redact(e, Some(&key));
        assert_eq!(e.message(), "bad key ***!");
        assert_eq!(e.code(), Some("***"));
        assert_eq!(e.kind(), ErrorKind::Authentication);
    }

    #[test]
    fn gzip_error_bodies_are_decoded() {
        use std::io::Write;
        let body = br#"{"type":"error","error":{"type":"not_found_error","message":"model: x"}}"#;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(body).unwrap();
        let gz = gz.finish().unwrap();
        let h = headers(&[("content-encoding", "gzip")]);
        assert_eq!(decoded_body(&h, gz.clone()), body.to_vec());
        // Without the header, or when it lies, the bytes stay as they came.
        assert_eq!(decoded_body(&HeaderMap::new(), gz.clone()), gz);
        assert_eq!(decoded_body(&h, b"plain".to_vec()), b"plain".to_vec());
    }

    #[test]
    fn sensitive_request_headers() {
        let h = request_headers(
            "p",
            "text/event-stream",
            &[("x-extra".into(), "v".into())],
            Some((HeaderName::from_static("x-api-key"), "k-123".into())),
        )
        .unwrap();
        assert!(h["x-api-key"].is_sensitive());
        assert!(h["x-extra"].is_sensitive());
        assert_eq!(h[CONTENT_TYPE], "application/json");
        assert_eq!(extra_header_names(&h, &["x-api-key"]), ["x-extra"]);
        assert_eq!(h[ACCEPT], "text/event-stream");
        let e = request_headers(
            "p",
            "text/event-stream",
            &[],
            Some((HeaderName::from_static("x-api-key"), "a\nb".into())),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("a\nb"));
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate("héllo", 2), "hé…");
        assert_eq!(truncate("hi", 5), "hi");
    }

    /// A server that goes silent without closing: before its response head
    /// the call fails as a connect timeout, in its body as an idle one,
    /// with the bytes before the silence delivered. Short timeouts stand in
    /// for [`READ_TIMEOUT`]; the wiring is the same.
    #[tokio::test]
    async fn a_silent_server_times_out_at_the_transport() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            for head in [false, true] {
                let (mut sock, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                if head {
                    let _ = sock
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                              transfer-encoding: chunked\r\n\r\n7\r\ndata: a\r\n",
                        )
                        .await;
                }
                // Silent, and open until the test ends.
                held.push(sock);
            }
            std::future::pending::<()>().await;
        });
        let client = client().unwrap();
        let silence = Duration::from_millis(300);
        let post = |client: reqwest::Client, url: Url| async move {
            post_within("p", &client, url, HeaderMap::new(), b"{}".to_vec(), silence).await
        };

        let err = post(client.clone(), url.clone()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
        assert!(
            matches!(
                err,
                Error::Timeout {
                    which: TimeoutKind::Connect,
                    ..
                }
            ),
            "{err:?}"
        );

        let resp = post(client, url).await.expect("the response head");
        let started = Instant::now();
        let got: Vec<_> = body_stream_within("p", resp, silence).collect().await;
        // Failed after one to two periods of silence (plus scheduling: the
        // upper bound only shows it ended).
        let took = started.elapsed();
        assert!(
            took >= silence && took < Duration::from_secs(10),
            "{took:?}"
        );
        assert_eq!(got.len(), 2, "{got:?}");
        assert_eq!(got[0].as_ref().unwrap().as_ref(), b"data: a");
        let err = got[1].as_ref().unwrap_err();
        assert!(
            matches!(
                err,
                Error::Timeout {
                    which: TimeoutKind::Idle,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("reading the stream: nothing from the server for 0.3 s"),
            "{err}"
        );
    }
}
