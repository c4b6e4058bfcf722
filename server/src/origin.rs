//! Which web pages may talk to the server.
//!
//! A server on loopback without a token is reachable from every page the
//! user's browser opens. Two checks keep those pages out, as Jupyter and
//! Ollama do:
//!
//! - **`Origin`**: a browser names the page's origin on every cross-origin
//!   request (and on same-origin ones that are not `GET`/`HEAD`). A request
//!   whose `Origin` is neither the server's own (its `Host`) nor one given
//!   with `--allow-origin` gets a 403 before it does anything. Without this,
//!   a page could start generations (on the user's API keys) or cancel
//!   them with a "simple" request (a form post, `text/plain`), which the
//!   browser sends without asking first; CORS only stops it from reading
//!   the answer.
//! - **`Host`**, without a token: DNS rebinding points a page's own name at
//!   127.0.0.1, which makes the server the page's origin, so the browser
//!   sends no `Origin` on its `GET`s and lets it read the answers. A
//!   request whose `Host` is not a loopback name or address gets a 403.
//!   With a token the token protects the server; a request without `Host`
//!   (HTTP/1.0) is not from a browser.
//!
//! Clients that are not browsers send no `Origin` and are not affected.
//! The allowed origins also get CORS headers ([`cors`]), so their pages can
//! read the answers and send `Authorization`.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::app::App;
use super::ApiError;

/// Refuses requests from pages of origins the server does not allow, and,
/// without a token, requests for a host that is not loopback.
pub(crate) async fn check(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if app.config.token.is_none() {
        if let Some(host) = host {
            if !is_loopback_host(host) {
                return ApiError::forbidden(
                    "host_not_allowed",
                    format!(
                        "Host {host:?} is not a loopback name or address; a server without a token answers only requests for localhost, 127.0.0.1 or [::1] (behind a proxy that sends another, give the server --token)"
                    ),
                )
                .into_response();
            }
        }
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let origin = origin.to_str().unwrap_or_default();
        let allowed = host.is_some_and(|h| is_same_origin(origin, h))
            || is_allowed(&app.config.allowed_origins, origin);
        if !allowed {
            return ApiError::forbidden(
                "origin_not_allowed",
                format!("pages of {origin:?} may not use this server (rivulet serve --allow-origin ORIGIN)"),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// The CORS answers for `origins` (`--allow-origin` values): preflights
/// answered, the answers readable and `Authorization` allowed, for those
/// origins only.
pub(crate) fn cors(origins: &[String]) -> CorsLayer {
    let origins = origins.to_vec();
    CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin: &HeaderValue, _| {
            origin.to_str().is_ok_and(|o| is_allowed(&origins, o))
        }))
        .allow_methods([Method::GET, Method::HEAD, Method::POST])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            HeaderName::from_static(crate::openai_compat::STREAM_ID_HEADER),
            HeaderName::from_static(crate::ai_sdk::HEADER_NAME),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(600))
}

/// Checks an `--allow-origin` value: `scheme://host[:port]`, as a browser
/// writes an origin (no path, no trailing slash), or `scheme://host:*` for
/// every port of that host (a dev server that moves to the next free
/// port).
pub fn check_allowed_origin(origin: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "{origin:?} is not an origin: give scheme://host[:port] or scheme://host:*, e.g. http://localhost:3000"
        )
    };
    let (scheme, rest) = origin.split_once("://").ok_or_else(bad)?;
    let (host, any_port) = match rest.strip_suffix(":*") {
        Some(host) => (host, true),
        None => (rest, false),
    };
    // An IPv6 address must be closed by its bracket (`[::1]`: the colons
    // inside are its own); with `:*`, the host has no port of its own.
    let (closed, port) = match host.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((_, after)) => (true, !after.is_empty()),
            None => (false, false),
        },
        None => (true, host.contains(':')),
    };
    let valid = matches!(scheme, "http" | "https")
        && !host.is_empty()
        && closed
        && !(any_port && port)
        && !host.contains(['/', '?', '#', ' ', '*'])
        && HeaderValue::from_str(origin).is_ok();
    valid.then_some(()).ok_or_else(bad)
}

/// Whether the page origin `origin` is one of `allowed` (`--allow-origin`
/// values): the same origin, ASCII case aside (browsers send it in lower
/// case), or for `scheme://host:*` that scheme and host with any port,
/// the scheme's default (no port in the origin) included.
fn is_allowed(allowed: &[String], origin: &str) -> bool {
    allowed
        .iter()
        .any(|pattern| match pattern.strip_suffix(":*") {
            None => pattern.eq_ignore_ascii_case(origin),
            Some(base) => {
                origin
                    .get(..base.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(base))
                    && match &origin[base.len()..] {
                        // The scheme's own port, which an origin leaves out.
                        "" => true,
                        rest => rest.strip_prefix(':').is_some_and(|port| {
                            !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
                        }),
                    }
            }
        })
}

/// Whether `origin` (`http://host:port`) names the server that was asked
/// for as `host` (`host:port`). The scheme is not compared: behind a TLS
/// proxy the page is `https` and the server sees plain HTTP.
fn is_same_origin(origin: &str, host: &str) -> bool {
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

/// `localhost`, `*.localhost`, `127.x.y.z` or `[::1]`, with or without a
/// port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((ip, _)) => {
                return ip
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok_and(|ip| ip.is_loopback())
            }
            None => return false,
        },
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "localhost:8787",
            "LOCALHOST:1",
            "app.localhost:3000",
            "127.0.0.1",
            "127.0.0.1:8787",
            "127.1.2.3:80",
            "[::1]",
            "[::1]:8787",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8787",
            "localhost.evil.example",
            "128.0.0.1:8787",
            "10.0.0.1",
            "[::2]:8787",
            "[::1",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn same_origin_compares_host_and_port() {
        assert!(is_same_origin("http://127.0.0.1:8787", "127.0.0.1:8787"));
        assert!(is_same_origin("https://Rivulet.example", "rivulet.example"));
        assert!(!is_same_origin("http://127.0.0.1:3000", "127.0.0.1:8787"));
        assert!(!is_same_origin("http://localhost:8787", "127.0.0.1:8787"));
        assert!(!is_same_origin("null", "127.0.0.1:8787"));
    }

    #[test]
    fn allowed_origins_match_exactly_or_on_any_port() {
        let allowed = [
            "http://localhost:3000".to_string(),
            "https://App.example".to_string(),
            "http://127.0.0.1:*".to_string(),
        ];
        for ok in [
            "http://localhost:3000",
            "https://app.example",
            "http://127.0.0.1:5173",
            "http://127.0.0.1:1",
            "http://127.0.0.1",
        ] {
            assert!(is_allowed(&allowed, ok), "{ok}");
        }
        for refused in [
            "http://localhost:3001",
            "https://localhost:3000",
            "http://app.example",
            "https://app.example:8443",
            "http://127.0.0.1:",
            "http://127.0.0.10:5173",
            "http://127.0.0.1:5173.evil.example",
            "http://127.0.0.1.evil.example",
            "https://127.0.0.1:5173",
            "null",
        ] {
            assert!(!is_allowed(&allowed, refused), "{refused}");
        }
    }

    #[test]
    fn allowed_origins_are_origins() {
        for ok in [
            "http://localhost:3000",
            "https://app.example",
            "http://[::1]:5173",
            "http://localhost:*",
            "http://[::1]:*",
        ] {
            assert_eq!(check_allowed_origin(ok), Ok(()), "{ok}");
        }
        for bad in [
            "localhost:3000",
            "http://localhost:3000/",
            "http://app.example/chat",
            "ftp://app.example",
            "http://",
            "*",
            "http://*",
            "http://:*",
            "http://*.example",
            "http://localhost:3000:*",
            "http://[::1",
            "http://[::1:*",
        ] {
            assert_eq!(
                check_allowed_origin(bad),
                Err(format!(
                    "{bad:?} is not an origin: give scheme://host[:port] or scheme://host:*, e.g. http://localhost:3000"
                ))
            );
        }
    }
}
