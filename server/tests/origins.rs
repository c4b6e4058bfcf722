//! Which web pages may use `rivulet serve` (src/origin.rs), over loopback
//! HTTP as a browser sends it: a page of another origin is refused before
//! anything starts, unless given with `allowed_origins`, which also gets
//! CORS answers; without a token, a request for a host that is not
//! loopback (DNS rebinding) is refused. The same in a real browser:
//! tests/browser.rs.

use rivulet_server::{serve, ServeConfig};
use rivulet_testkit::{wire, Replay, Server};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[path = "support/serve.rs"]
mod serve_support;

use serve_support::start_with;

const START: &str = r#"{"prompt": "What is 4200 + 42?"}"#;

struct Running {
    /// `host:port`.
    addr: String,
}

async fn start(upstream: &Server, token: Option<&str>, origins: &[&str]) -> Running {
    let config = ServeConfig {
        token: token.map(str::to_string),
        allowed_origins: origins.iter().map(|o| o.to_string()).collect(),
        ..ServeConfig::default()
    };
    let base = start_with(upstream, config).await;
    Running {
        addr: base.trim_start_matches("http://").to_string(),
    }
}

/// One request written as is; the response's status, headers (names
/// lowercased) and body.
async fn send(addr: &str, head: &str, body: &str) -> (u16, Vec<(String, String)>, String) {
    let mut socket = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "{head}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    socket.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default()[9..12].parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect();
    (status, headers, body.to_string())
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn error_code(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or_default();
    v["error"]["code"].as_str().unwrap_or_default().to_string()
}

/// How many streams the server has started.
async fn streams(server: &Running, token: Option<&str>) -> usize {
    let auth = token.map_or(String::new(), |t| format!("\r\nauthorization: Bearer {t}"));
    let (status, _, body) = send(
        &server.addr,
        &format!("GET /v1/streams HTTP/1.1\r\nhost: {}{auth}", server.addr),
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["streams"].as_array().unwrap().len()
}

fn upstream() -> Replay {
    Replay::sse(wire("openai-chat/text_include_usage.sse"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_of_another_origin_starts_nothing() {
    let upstream = Server::start(vec![upstream()]).await;
    let server = start(&upstream, None, &[]).await;
    // A form post or a `text/plain` fetch: the browser sends it without a
    // preflight, with the page's origin.
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let (status, headers, body) = send(
            &server.addr,
            &format!(
                "POST /v1/streams HTTP/1.1\r\nhost: {}\r\norigin: https://evil.example\r\ncontent-type: {content_type}",
                server.addr
            ),
            START,
        )
        .await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(error_code(&body), "origin_not_allowed");
        assert_eq!(header(&headers, "access-control-allow-origin"), None);
    }
    // Cancel by a guessed id gets the same answer, not a 404 that would
    // confirm the guess.
    let (status, _, body) = send(
        &server.addr,
        &format!(
            "POST /v1/streams/st_1_1_0/cancel HTTP/1.1\r\nhost: {}\r\norigin: null",
            server.addr
        ),
        "",
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (403, "origin_not_allowed".into())
    );
    assert_eq!(streams(&server, None).await, 0);
    assert!(upstream.requests().is_empty());

    // The server's own page (same host and port) and clients that are not
    // browsers (no Origin) start streams.
    let (status, _, body) = send(
        &server.addr,
        &format!(
            "POST /v1/streams HTTP/1.1\r\nhost: {0}\r\norigin: http://{0}\r\ncontent-type: application/json",
            server.addr
        ),
        START,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, _, body) = send(
        &server.addr,
        &format!("POST /v1/streams HTTP/1.1\r\nhost: {}", server.addr),
        START,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(streams(&server, None).await, 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_allowed_origin_gets_cors_answers() {
    let upstream = Server::start(vec![upstream()]).await;
    let origin = "http://localhost:3000";
    let server = start(&upstream, Some("s3cret"), &[origin]).await;
    // The preflight, sent without the token.
    let (status, headers, _) = send(
        &server.addr,
        &format!(
            "OPTIONS /v1/ai-sdk/chat HTTP/1.1\r\nhost: {}\r\norigin: {origin}\r\naccess-control-request-method: POST\r\naccess-control-request-headers: authorization,content-type",
            server.addr
        ),
        "",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(origin)
    );
    let allowed = header(&headers, "access-control-allow-headers").unwrap_or_default();
    assert!(
        allowed.contains("authorization") && allowed.contains("content-type"),
        "{allowed}"
    );
    assert!(
        header(&headers, "access-control-allow-methods").is_some_and(|m| m.contains("POST")),
        "{headers:?}"
    );
    // The request itself: answered, readable by the page, the stream id
    // exposed.
    let (status, headers, body) = send(
        &server.addr,
        &format!(
            "POST /v1/streams HTTP/1.1\r\nhost: {}\r\norigin: {origin}\r\nauthorization: Bearer s3cret\r\ncontent-type: application/json",
            server.addr
        ),
        START,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(origin)
    );
    let exposed = header(&headers, "access-control-expose-headers").unwrap_or_default();
    assert!(exposed.contains("x-rivulet-stream-id"), "{exposed}");
    // Another origin gets neither the preflight nor the request.
    let (_, headers, _) = send(
        &server.addr,
        &format!(
            "OPTIONS /v1/streams HTTP/1.1\r\nhost: {}\r\norigin: http://localhost:4000\r\naccess-control-request-method: POST",
            server.addr
        ),
        "",
    )
    .await;
    assert_eq!(header(&headers, "access-control-allow-origin"), None);
    let (status, _, body) = send(
        &server.addr,
        &format!(
            "POST /v1/streams HTTP/1.1\r\nhost: {}\r\norigin: http://localhost:4000\r\nauthorization: Bearer s3cret",
            server.addr
        ),
        START,
    )
    .await;
    assert_eq!(
        (status, error_code(&body)),
        (403, "origin_not_allowed".into())
    );
    assert_eq!(streams(&server, Some("s3cret")).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_origin_allowed_on_any_port_takes_every_port_of_that_host_only() {
    let upstream = Server::start(vec![upstream()]).await;
    let server = start(&upstream, None, &["http://localhost:*"]).await;
    let post = |origin: &'static str| {
        let addr = server.addr.clone();
        async move {
            send(
                &addr,
                &format!(
                    "POST /v1/streams HTTP/1.1\r\nhost: {addr}\r\norigin: {origin}\r\ncontent-type: application/json"
                ),
                START,
            )
            .await
        }
    };
    // A dev server on whichever port it found free.
    let (status, headers, body) = post("http://localhost:5174").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some("http://localhost:5174")
    );
    for other in [
        "https://localhost:5174",
        "http://localhost.evil.example:5174",
        "http://127.0.0.1:5174",
    ] {
        let (status, headers, body) = post(other).await;
        assert_eq!(
            (status, error_code(&body)),
            (403, "origin_not_allowed".into()),
            "{other}"
        );
        assert_eq!(header(&headers, "access-control-allow-origin"), None);
    }
    assert_eq!(streams(&server, None).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_token_only_loopback_hosts_are_answered() {
    let upstream = Server::start(vec![upstream()]).await;
    let open = start(&upstream, None, &[]).await;
    // DNS rebinding: the page's own name, pointed at 127.0.0.1. Its GETs
    // carry no Origin.
    for path in ["/v1/streams", "/", "/metrics"] {
        let (status, _, body) = send(
            &open.addr,
            &format!("GET {path} HTTP/1.1\r\nhost: rebind.evil.example:8787"),
            "",
        )
        .await;
        assert_eq!(
            (status, error_code(&body)),
            (403, "host_not_allowed".into()),
            "{path}"
        );
    }
    for host in ["localhost", "127.0.0.1:8787", "[::1]:8787"] {
        let (status, _, body) = send(
            &open.addr,
            &format!("GET /v1/streams HTTP/1.1\r\nhost: {host}"),
            "",
        )
        .await;
        assert_eq!(status, 200, "{host}: {body}");
    }
    // With a token the token guards it: any host, as behind a proxy.
    let guarded = start(&upstream, Some("s3cret"), &[]).await;
    let (status, _, body) = send(
        &guarded.addr,
        "GET /v1/streams HTTP/1.1\r\nhost: rivulet.example\r\nauthorization: Bearer s3cret",
        "",
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_allowed_origin_that_is_not_an_origin_is_refused_at_start() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = ServeConfig {
        allowed_origins: vec!["http://localhost:3000/".into()],
        ..ServeConfig::default()
    };
    let e = serve(listener, config, async {}).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
    assert_eq!(
        e.to_string(),
        "\"http://localhost:3000/\" is not an origin: give scheme://host[:port] or scheme://host:*, e.g. http://localhost:3000"
    );
}
