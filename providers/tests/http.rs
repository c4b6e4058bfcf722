//! HTTP behaviour: error responses, content types, faults, cancellation.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::{provider, request, run, KEY};
use futures::StreamExt;
use rivulet_core::{Chunk, Error, ErrorKind, Provider};
use rivulet_testkit::{wire, After, Replay, Server, Split};

async fn serve(replays: Vec<Replay>) -> (Server, std::sync::Arc<dyn rivulet_core::Provider>) {
    let server = Server::start(replays).await;
    let p = provider("openai", &format!("{}/v1", server.url()));
    (server, p)
}

async fn open_error(replay: Replay) -> Error {
    let (_server, p) = serve(vec![replay]).await;
    match p.open(&request("m")).await {
        Ok(_) => panic!("expected the open to fail"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn http_401_is_authentication_with_the_providers_message() {
    let e = open_error(Replay::json(
        401,
        wire("openai-chat/error_http401_invalid_key.json"),
    ))
    .await;
    assert_eq!(e.kind(), ErrorKind::Authentication);
    assert_eq!(
        e.message(),
        "Incorrect API key provided: invalid-*****2345. You can find your API key at https://platform.openai.com/account/api-keys."
    );
    assert_eq!(e.code(), Some("invalid_api_key"));
    assert_eq!(e.status(), Some(401));
    assert_eq!(e.provider(), Some("openai"));
    assert!(!e.is_retryable());
}

#[tokio::test]
async fn http_429_with_retry_after_seconds() {
    let body = r#"{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","code":"rate_limit_exceeded"}}"#;
    let e = open_error(Replay::json(429, body).header("Retry-After", "7")).await;
    assert!(
        matches!(&e, Error::RateLimit { retry_after: Some(d), .. } if *d == Duration::from_secs(7)),
        "{e:?}"
    );
    assert_eq!(e.message(), "Rate limit reached for gpt-4o");
    assert_eq!(e.code(), Some("rate_limit_exceeded"));
    assert!(e.is_retryable());
}

#[tokio::test]
async fn http_429_with_retry_after_date() {
    let at = SystemTime::now() + Duration::from_secs(120);
    let e = open_error(Replay::json(429, "{}").header("retry-after", httpdate::fmt_http_date(at)))
        .await;
    let wait = e.retry_after().expect("a retry-after");
    assert!(
        wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
        "{wait:?}"
    );
}

/// `Retry-After` and `retry-after-ms` count on an unavailable (503) or
/// overloaded (529) server too, not only on a 429.
#[tokio::test]
async fn retry_after_on_503_and_529() {
    let e = open_error(
        Replay::json(503, r#"{"error":{"message":"down for a moment"}}"#)
            .header("retry-after-ms", "1500"),
    )
    .await;
    assert!(matches!(e, Error::Server { status: 503, .. }), "{e:?}");
    assert_eq!(e.retry_after(), Some(Duration::from_millis(1500)));
    assert!(e.to_string().ends_with("(retry after 1.5s)"), "{e}");

    let server = Server::start(vec![Replay::json(
        529,
        r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
    )
    .header("retry-after", "4")])
    .await;
    let p = provider("anthropic", &server.url());
    let e = p.open(&request("m")).await.err().expect("an error");
    assert_eq!(e.kind(), ErrorKind::Overloaded, "{e}");
    assert_eq!(e.retry_after(), Some(Duration::from_secs(4)));
    assert!(e.is_retryable());
}

#[tokio::test]
async fn server_errors() {
    let e =
        open_error(Replay::new(500, "upstream crashed").header("content-type", "text/plain")).await;
    assert!(matches!(e, Error::Server { status: 500, .. }), "{e:?}");
    assert_eq!(e.message(), "upstream crashed");

    let e = open_error(Replay::json(
        503,
        r#"{"error":{"message":"The engine is currently overloaded","type":"overloaded_error"}}"#,
    ))
    .await;
    assert_eq!(e.kind(), ErrorKind::Overloaded);

    let e = open_error(Replay::new(502, "")).await;
    assert_eq!(e.message(), "HTTP 502 Bad Gateway");
    let e = open_error(Replay::json(
        404,
        r#"{"error":{"message":"The model `x` does not exist","code":"model_not_found"}}"#,
    ))
    .await;
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn status_and_content_type_are_checked_before_parsing() {
    // An error status with an event-stream content type and a JSON body.
    let e = open_error(
        Replay::new(
            400,
            r#"{"error":{"message":"bad schema","code":"invalid_schema"}}"#,
        )
        .header("content-type", "text/event-stream"),
    )
    .await;
    assert_eq!(e.kind(), ErrorKind::BadRequest);
    assert_eq!(e.message(), "bad schema");

    // 200 with an error object as JSON. An exhausted quota is not a
    // (retryable) rate limit: the account may not generate until it pays.
    let e = open_error(Replay::json(
        200,
        r#"{"error":{"message":"quota","type":"insufficient_quota"}}"#,
    ))
    .await;
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    assert_eq!(e.message(), "quota");

    // 200 with a non-streamed completion: the server ignored stream: true.
    let e = open_error(Replay::json(200, r#"{"id":"x","choices":[]}"#)).await;
    assert_eq!(e.kind(), ErrorKind::Protocol);
    assert!(e.message().contains("JSON"), "{}", e.message());

    let e =
        open_error(Replay::new(200, "<html>").header("content-type", "text/html; charset=utf-8"))
            .await;
    assert_eq!(e.kind(), ErrorKind::Protocol);
    assert!(e.message().contains("text/html"));
}

#[tokio::test]
async fn connection_refused_is_a_connection_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = provider("openai", &format!("http://127.0.0.1:{port}/v1"));
    let e = p.open(&request("m")).await.err().expect("refused");
    assert_eq!(e.kind(), ErrorKind::Connection);
    assert!(e.is_retryable());
    assert!(!e.message().contains(KEY));
}

#[tokio::test]
async fn garbage_over_http_keeps_the_text_before_it() {
    let body = wire("openai-chat/text_include_usage.sse");
    let cut = body.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    let cut = cut + body[cut..].windows(2).position(|w| w == b"\n\n").unwrap() + 2;
    let body = [&body[..cut], b"\x80\x81 not text at all\n\n"].concat();
    let (_server, p) = serve(vec![Replay::sse(body).split(Split::Lines)]).await;
    let out = run(p.as_ref(), &request("m")).await;
    assert_eq!(out.error.unwrap().kind(), ErrorKind::Protocol);
    assert_eq!(out.response.texts(), ["420"]);
}

#[tokio::test]
async fn connection_reset_mid_body_is_a_connection_error() {
    let body = wire("openai-chat/text_include_usage.sse");
    let half = &body[..body.len() / 2];
    let replay = Replay::sse(half.to_vec())
        .header("content-length", body.len().to_string())
        .then(After::Abort);
    let (_server, p) = serve(vec![replay]).await;
    let out = run(p.as_ref(), &request("m")).await;
    let e = out.error.expect("an error");
    assert_eq!(e.kind(), ErrorKind::Connection, "{e}");
    assert!(
        !out.response.text().is_empty(),
        "the text before the reset is kept"
    );
}

#[tokio::test]
async fn a_generated_stream_end_to_end() {
    let (server, p) = serve(vec![Replay::generated(500, Duration::ZERO, "tok ")]).await;
    let out = run(p.as_ref(), &request("m")).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(out.response.text(), "tok ".repeat(500));
    assert_eq!(out.response.raw_finish_reason.as_deref(), Some("stop"));
    assert_eq!(out.response.id.as_deref(), Some("chatcmpl-gen"));
    assert!(server.wait_all_closed(Duration::from_secs(5)).await);
}

/// Dropping the chunk stream closes the connection at once, and the server
/// sees it (a server that watches for disconnects stops generating).
#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    let (server, p) = serve(vec![Replay::generated(
        1_000_000,
        Duration::from_millis(2),
        "x",
    )])
    .await;
    let mut stream = p.open(&request("m")).await.unwrap();
    let mut texts = 0;
    while texts < 3 {
        if let Chunk::Text { .. } = stream.next().await.unwrap().unwrap() {
            texts += 1;
        }
    }
    assert_eq!(server.open_connections(), 1);
    let dropped = Instant::now();
    drop(stream);
    let noticed = server
        .wait_client_closed(Duration::from_secs(2))
        .await
        .expect("the server should see the client go");
    assert!(noticed.duration_since(dropped) < Duration::from_millis(500));
    assert!(server.wait_all_closed(Duration::from_secs(2)).await);
    assert!(server.bytes_written(0) < 1_000_000 * 50);
}

/// The same while the server stalls mid-stream.
#[tokio::test]
async fn dropping_a_stalled_stream_closes_the_connection() {
    let body = wire("openai-chat/text_include_usage.sse");
    let half = body[..body.len() / 2].to_vec();
    let (server, p) = serve(vec![Replay::sse(half).then(After::Stall)]).await;
    let mut stream = p.open(&request("m")).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert!(matches!(first, Chunk::Metadata { .. }));
    // Drain what was sent; then nothing comes.
    let mut got = 0;
    while tokio::time::timeout(Duration::from_millis(200), stream.next())
        .await
        .is_ok()
    {
        got += 1;
    }
    assert!(got > 0);
    assert_eq!(server.open_connections(), 1);
    drop(stream);
    assert!(server
        .wait_client_closed(Duration::from_secs(2))
        .await
        .is_some());
    assert!(server.wait_all_closed(Duration::from_secs(2)).await);
}

/// After `[DONE]` the stream ends at once, even if the server keeps the
/// connection open.
#[tokio::test]
async fn done_ends_the_stream_without_waiting_for_eof() {
    let body = wire("openai-chat/text_include_usage.sse");
    let (server, p) = serve(vec![Replay::sse(body).then(After::Stall)]).await;
    let out = tokio::time::timeout(Duration::from_secs(5), run(p.as_ref(), &request("m")))
        .await
        .expect("the stream should end at [DONE]");
    assert!(out.error.is_none());
    assert_eq!(out.response.text(), "4200 + 42 equals 4242.");
    assert!(server.wait_all_closed(Duration::from_secs(2)).await);
}

/// Many streams, in sequence and side by side, through one provider: every
/// connection is closed afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_streams_leave_no_connection_open() {
    let (server, p) = serve(vec![Replay::sse(wire(
        "openai-chat/text_include_usage.sse",
    ))])
    .await;
    for _ in 0..100 {
        let out = run(p.as_ref(), &request("m")).await;
        assert_eq!(out.response.text(), "4200 + 42 equals 4242.");
    }
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { run(p.as_ref(), &request("m")).await.response.text() })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), "4200 + 42 equals 4242.");
    }
    assert_eq!(server.connections(), 120);
    assert!(server.wait_all_closed(Duration::from_secs(5)).await);
}

/// Provider `id` pointed at `url`, the header its credential travels in,
/// and a stream it would accept (the redirect's target serves it, so a
/// followed redirect would end in a success). Bedrock signs with SigV4 and
/// a session token.
fn redirect_case(id: &str, url: &str) -> (Arc<dyn Provider>, &'static str, Replay) {
    use rivulet_core::ApiKey;
    use rivulet_providers::bedrock::{self, Bedrock, BedrockAuth};
    use rivulet_providers::sigv4::Credentials;
    use rivulet_providers::ProviderConfig;

    let openai = || Replay::sse(wire("openai-chat/text_include_usage.sse"));
    match id {
        "openai" => (
            provider("openai", &format!("{url}/v1")),
            "authorization",
            openai(),
        ),
        "anthropic" => (
            provider("anthropic", url),
            "x-api-key",
            Replay::sse(wire("anthropic/text.sse")),
        ),
        "google" => (
            provider("google", url),
            "x-goog-api-key",
            Replay::sse(wire("gemini/text.sse")),
        ),
        "azure" => (provider("azure", url), "api-key", openai()),
        "bedrock" => {
            let config = ProviderConfig {
                base_url: Some(url.to_string()),
                ..Default::default()
            };
            let auth = BedrockAuth::SigV4(Credentials {
                access_key_id: "AKIDEXAMPLE".into(),
                secret_access_key: ApiKey::new(AWS_SECRET),
                session_token: Some(ApiKey::new(SESSION_TOKEN)),
            });
            (
                Arc::new(Bedrock::with_auth(config, Some("us-east-1"), auth).unwrap()),
                "x-amz-security-token",
                Replay::new(200, wire("bedrock/converse_stream_text.bin"))
                    .header("content-type", bedrock::EVENTSTREAM),
            )
        }
        _ => unreachable!("{id}"),
    }
}

const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SESSION_TOKEN: &str = "session-token-secret-9f3e";

/// A redirect to another origin is refused: nothing reaches that origin
/// (no credential, no request at all), and the stream fails with a typed
/// error naming the status and the target's origin, never a key nor the
/// target's path and query.
#[tokio::test]
async fn redirects_to_another_origin_are_refused_with_every_credential() {
    for status in [301, 302, 307, 308] {
        for id in ["openai", "anthropic", "google", "azure", "bedrock"] {
            // The origin a redirect points to: it records what it gets.
            let ok = redirect_case(id, "http://127.0.0.1:9").2;
            let elsewhere = Server::start(vec![ok]).await;
            let location = format!("{}/collect?token=sk-leaked", elsewhere.url());
            let origin = Server::start(vec![
                Replay::new(status, "moved").header("location", location.as_str())
            ])
            .await;
            let (p, header, _) = redirect_case(id, &origin.url());
            let out = run(p.as_ref(), &request("m")).await;

            assert!(
                elsewhere.requests().is_empty(),
                "{id} {status}: {:?}",
                elsewhere.requests()
            );
            assert_eq!(elsewhere.connections(), 0, "{id} {status}");
            let sent = origin.requests();
            assert_eq!(sent.len(), 1, "{id} {status}");
            assert_eq!(sent[0].method, "POST");
            assert!(sent[0].header(header).is_some(), "{id}: no {header}");

            let e = out.error.expect("the redirect must fail the stream");
            assert_eq!(e.kind(), ErrorKind::BadRequest, "{id} {status}: {e}");
            assert_eq!(e.status(), Some(status), "{id}");
            assert_eq!(e.provider(), Some(id));
            assert!(!e.is_retryable());
            assert!(
                e.message()
                    .contains(&format!("to another origin ({})", elsewhere.url())),
                "{id}: {e}"
            );
            assert!(e.message().contains("does not follow redirects"), "{e}");
            for text in [e.to_string(), format!("{e:?}")] {
                for secret in [KEY, AWS_SECRET, SESSION_TOKEN, "sk-leaked", "/collect"] {
                    assert!(!text.contains(secret), "{id}: {text}");
                }
            }
            assert!(out.chunks.is_empty());
        }
    }
}

/// A redirect within the same origin is refused too (a 301/302 would turn
/// the POST into a GET without its body), and says so.
#[tokio::test]
async fn redirects_within_the_origin_are_refused() {
    let (server, p) = serve(vec![
        Replay::new(301, "").header("location", "/v2/chat/completions"),
        Replay::sse(wire("openai-chat/text_include_usage.sse")),
    ])
    .await;
    let e = p.open(&request("m")).await.err().expect("an error");
    assert_eq!(e.kind(), ErrorKind::BadRequest, "{e}");
    assert_eq!(e.status(), Some(301));
    assert!(
        e.message().contains(&format!(
            "to another path of the same origin ({})",
            server.url()
        )),
        "{e}"
    );
    assert_eq!(server.connections(), 1);

    // Without a Location there is nowhere to go.
    let e = open_error(Replay::new(308, "")).await;
    assert_eq!(e.kind(), ErrorKind::BadRequest);
    assert!(e.message().contains("without a usable Location"), "{e}");
}
