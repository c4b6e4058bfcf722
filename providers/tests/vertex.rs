//! Vertex AI credentials end to end, on loopback only: a service-account
//! key generated here, its RS256 JWT exchanged at a loopback token endpoint
//! (claims and signature checked with the public key, by the `rsa` crate,
//! independently of `ring`, which signs), the token sent as a Bearer to a
//! loopback Vertex endpoint, cached, and refused tokens reported.

mod common;

use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{compare, request, run};
use rivulet_core::{ErrorKind, Provider};
use rivulet_providers::google::{auth, Google, ServiceAccount, VertexOptions};
use rivulet_providers::ProviderConfig;
use rivulet_testkit::{wire, RecordedRequest, Replay, Server};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::sha2::Sha256;
use rsa::signature::Verifier;
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde_json::{json, Value};

const EMAIL: &str = "rivulet-test@test-project.iam.gserviceaccount.com";
const TOKEN: &str = "ya29.loopback-token";

/// One 2048-bit key for the whole file (generation is the slow part).
fn key() -> &'static (RsaPrivateKey, String) {
    static KEY: OnceLock<(RsaPrivateKey, String)> = OnceLock::new();
    KEY.get_or_init(|| {
        let private = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("keygen");
        let pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .expect("pem")
            .to_string();
        (private, pem)
    })
}

/// A key file as Google issues them, pointing at `token_uri`.
fn key_file(token_uri: &str) -> String {
    json!({
        "type": "service_account",
        "project_id": "key-file-project",
        "private_key_id": "kid-123",
        "private_key": key().1,
        "client_email": EMAIL,
        "client_id": "1234567890",
        "token_uri": token_uri,
    })
    .to_string()
}

fn token_ok() -> Replay {
    Replay::json(
        200,
        json!({"access_token": TOKEN, "expires_in": 3599, "token_type": "Bearer"}).to_string(),
    )
}

fn vertex(api: &Server, token_uri: &str, project: Option<&str>) -> Google {
    let sa = ServiceAccount::from_json(&key_file(token_uri)).unwrap();
    Google::vertex_with(
        ProviderConfig {
            base_url: Some(api.url()),
            ..Default::default()
        },
        VertexOptions {
            project: project.map(str::to_string),
            location: Some("global".into()),
            service_account: Some(sa),
        },
    )
    .unwrap()
}

/// The form fields of a token request.
fn form(req: &RecordedRequest) -> Vec<(String, String)> {
    req.body_text()
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap();
            (decode(k), decode(v))
        })
        .collect()
}

/// application/x-www-form-urlencoded decoding.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).unwrap()
}

/// Checks a JWT's signature with the public key; returns header and claims.
fn verify(jwt: &str, public: &RsaPublicKey) -> (Value, Value) {
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3, "{jwt}");
    let signature = Signature::try_from(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().as_slice())
        .expect("a signature");
    let message = format!("{}.{}", parts[0], parts[1]);
    VerifyingKey::<Sha256>::new(public.clone())
        .verify(message.as_bytes(), &signature)
        .expect("the signature verifies with the service account's public key");
    let part =
        |p: &str| serde_json::from_slice::<Value>(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
    (part(parts[0]), part(parts[1]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_account_jwt_is_exchanged_and_the_token_sent() {
    let token_server = Server::start(vec![token_ok()]).await;
    let token_uri = format!("{}/token", token_server.url());
    let api = Server::start(vec![Replay::sse(wire("gemini/vertex_text.sse"))]).await;
    let p = vertex(&api, &token_uri, Some("proj-42"));
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let out = run(&p, &request("gemini-3-flash-preview")).await;
    let want = &common::anthropic_google_expectations()["gemini/vertex_text.sse"];
    let diffs = compare(&out, want);
    assert!(diffs.is_empty(), "{diffs:?}");

    // The token request: a form POST with the JWT bearer grant.
    let treqs = token_server.requests();
    assert_eq!(treqs.len(), 1);
    assert_eq!(treqs[0].method, "POST");
    assert_eq!(treqs[0].path, "/token");
    assert_eq!(
        treqs[0].header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let fields = form(&treqs[0]);
    assert_eq!(fields[0], ("grant_type".into(), auth::GRANT_TYPE.into()));
    assert_eq!(fields[1].0, "assertion");
    let (header, claims) = verify(&fields[1].1, &key().0.to_public_key());
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "kid-123"})
    );
    assert_eq!(claims["iss"], EMAIL);
    assert_eq!(claims["aud"], token_uri.as_str());
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/cloud-platform"
    );
    let iat = claims["iat"].as_u64().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(before <= iat && iat <= now, "{iat}");
    assert_eq!(claims["exp"].as_u64().unwrap(), iat + 3600);

    // The API request: the token as a Bearer, to global's path.
    let areqs = api.requests();
    assert_eq!(
        areqs[0].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        areqs[0].path,
        "/v1/projects/proj-42/locations/global/publishers/google/models/gemini-3-flash-preview:streamGenerateContent?alt=sse"
    );

    // The token is cached: a second call does not ask again.
    let out = run(&p, &request("gemini-3-flash-preview")).await;
    assert!(out.error.is_none(), "{:?}", out.error);
    assert_eq!(token_server.requests().len(), 1);
    assert_eq!(api.requests().len(), 2);
    assert_eq!(
        api.requests()[1].header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );

    // Debug shows the account, never the key or the token.
    let printed = format!("{p:?}");
    assert!(printed.contains(EMAIL), "{printed}");
    assert!(
        !printed.contains("PRIVATE KEY") && !printed.contains(TOKEN),
        "{printed}"
    );
}

#[tokio::test]
async fn the_key_files_project_is_the_fallback() {
    let token_server = Server::start(vec![token_ok()]).await;
    let api = Server::start(vec![Replay::sse(wire("gemini/vertex_text.sse"))]).await;
    let p = vertex(&api, &format!("{}/token", token_server.url()), None);
    // Unless GOOGLE_CLOUD_PROJECT is set on this machine: then it wins.
    let project = std::env::var("GOOGLE_CLOUD_PROJECT")
        .ok()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| "key-file-project".into());
    assert!(
        p.url("m")
            .unwrap()
            .contains(&format!("/projects/{project}/locations/global/")),
        "{}",
        p.url("m").unwrap()
    );
}

#[tokio::test]
async fn a_refused_assertion_is_an_authentication_error() {
    let token_server = Server::start(vec![Replay::json(
        400,
        r#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
    )])
    .await;
    let api = Server::start(vec![Replay::sse(wire("gemini/vertex_text.sse"))]).await;
    let p = vertex(&api, &format!("{}/token", token_server.url()), Some("p"));
    let out = run(&p, &request("m")).await;
    let err = out.error.unwrap();
    assert_eq!(err.kind(), ErrorKind::Authentication, "{err}");
    assert_eq!(err.provider(), Some("vertex"));
    assert_eq!(err.code(), Some("invalid_grant"));
    assert!(err.message().contains("Invalid JWT Signature."), "{err}");
    // Nothing reached the API.
    assert_eq!(api.connections(), 0);

    // A token endpoint that is down: a connection error, retryable.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let p = vertex(&api, &format!("http://127.0.0.1:{port}/token"), Some("p"));
    let err = p.open(&request("m")).await.err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(err.is_retryable());
}

/// The JWT alone, at a fixed time: signed over its first two segments.
#[test]
fn assertions_are_signed_jwts() {
    let sa = ServiceAccount::from_json(&key_file("http://127.0.0.1:9/token")).unwrap();
    assert_eq!(sa.client_email(), EMAIL);
    assert_eq!(sa.project_id(), Some("key-file-project"));
    let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let jwt = sa.assertion(at).unwrap();
    let (_, claims) = verify(&jwt, &key().0.to_public_key());
    assert_eq!(
        claims,
        json!({
            "iss": EMAIL,
            "scope": auth::SCOPE,
            "aud": "http://127.0.0.1:9/token",
            "iat": 1_700_000_000u64,
            "exp": 1_700_003_600u64,
        })
    );
    // Another key does not verify it.
    let other = RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    let signature =
        Signature::try_from(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().as_slice()).unwrap();
    assert!(VerifyingKey::<Sha256>::new(other.to_public_key())
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
        .is_err());
    // A PKCS#1 key (`BEGIN RSA PRIVATE KEY`) is accepted too.
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let pkcs1 = key().0.to_pkcs1_pem(LineEnding::LF).unwrap().to_string();
    let file = json!({"client_email": EMAIL, "private_key": pkcs1}).to_string();
    let sa = ServiceAccount::from_json(&file).unwrap();
    assert_eq!(sa.token_uri(), auth::DEFAULT_TOKEN_URI);
    verify(&sa.assertion(at).unwrap(), &key().0.to_public_key());
}

/// A token endpoint's `expires_in` is the server's to choose: an absurd one
/// (`u64::MAX` seconds) is capped, neither overflowing the refresh time nor
/// refusing the token, which is sent and cached.
#[tokio::test]
async fn an_absurd_expires_in_is_capped() {
    let token_server = Server::start(vec![Replay::json(
        200,
        json!({"access_token": TOKEN, "expires_in": u64::MAX, "token_type": "Bearer"}).to_string(),
    )])
    .await;
    let api = Server::start(vec![Replay::sse(wire("gemini/vertex_text.sse"))]).await;
    let p = vertex(&api, &format!("{}/token", token_server.url()), Some("p"));
    for _ in 0..2 {
        let out = run(&p, &request("m")).await;
        assert!(out.error.is_none(), "{:?}", out.error);
    }
    assert_eq!(token_server.requests().len(), 1);
    let sent = api.requests();
    assert_eq!(sent.len(), 2);
    for req in &sent {
        assert_eq!(
            req.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
    }
}
