//! SigV4 against AWS's published test vectors (the aws-sig-v4-test-suite:
//! credentials `AKIDEXAMPLE` / `wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY`,
//! 20150830T123600Z, us-east-1, service `service`) and the signing-key
//! example of the AWS documentation; then a signed Bedrock request as the
//! loopback server received it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rivulet_core::{ApiKey, Message, Provider, Request};
use rivulet_providers::bedrock::{self, Bedrock, BedrockAuth};
use rivulet_providers::sigv4::{self, Credentials, SignableRequest};
use rivulet_providers::ProviderConfig;
use rivulet_testkit::{wire, Replay, Server};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const DATE: &str = "20150830T123600Z";

fn creds(session_token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: ApiKey::new(SECRET),
        session_token: session_token.map(ApiKey::new),
    }
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn suite(
    method: &str,
    path: &str,
    query: &str,
    extra: &[(&str, &str)],
    body: &str,
) -> sigv4::Signature {
    let mut h = headers(&[("Host", "example.amazonaws.com"), ("X-Amz-Date", DATE)]);
    h.extend(headers(extra));
    sigv4::sign(
        &SignableRequest {
            method,
            path,
            query,
            headers: &h,
            body: body.as_bytes(),
        },
        &creds(None),
        "us-east-1",
        "service",
        DATE,
    )
}

#[test]
fn get_vanilla() {
    let s = suite("GET", "/", "", &[], "");
    assert_eq!(
        s.canonical_request,
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        s.string_to_sign,
        "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\nbb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"
    );
    assert_eq!(
        s.authorization,
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
}

#[test]
fn post_vanilla() {
    let s = suite("POST", "/", "", &[], "");
    assert_eq!(
        s.signature,
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"
    );
}

#[test]
fn post_x_www_form_urlencoded() {
    let s = suite(
        "POST",
        "/",
        "",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        "Param1=value1",
    );
    assert_eq!(s.signed_headers, "content-type;host;x-amz-date");
    assert!(s
        .canonical_request
        .ends_with("\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"));
    assert_eq!(
        s.signature,
        "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"
    );
}

#[test]
fn get_vanilla_query_order_key_case() {
    let s = suite("GET", "/", "Param2=value2&Param1=value1", &[], "");
    assert!(s
        .canonical_request
        .starts_with("GET\n/\nParam1=value1&Param2=value2\n"));
    assert_eq!(
        s.signature,
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
    );
}

#[test]
fn get_utf8() {
    // The suite's request line is `GET /ሴ`: encoded once in the canonical URI.
    let s = suite("GET", "/ሴ", "", &[], "");
    assert!(s.canonical_request.starts_with("GET\n/%E1%88%B4\n"));
    assert_eq!(
        s.signature,
        "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"
    );
}

/// AWS documentation, "Examples of how to derive a signing key for
/// Signature Version 4": 20120215, us-east-1, iam.
#[test]
fn derived_signing_key() {
    assert_eq!(
        sigv4::hex(&sigv4::signing_key(SECRET, "20120215", "us-east-1", "iam")),
        "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
    );
}

fn fixed_clock() -> SystemTime {
    // 2015-08-30T12:36:00Z
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

/// A Bedrock request signed with a session token, as received: the model
/// id's `:` is encoded once in the path and twice in the canonical URI,
/// the signed headers are the ones sent, and recomputing the signature from
/// the received request gives the one sent.
#[tokio::test]
async fn a_signed_bedrock_request_as_received() {
    let server = Server::start(vec![Replay::new(
        200,
        wire("bedrock/converse_stream_text.bin"),
    )
    .header("content-type", bedrock::EVENTSTREAM)])
    .await;
    let p = Bedrock::with_auth(
        ProviderConfig {
            base_url: Some(server.url()),
            ..Default::default()
        },
        Some("eu-west-3"),
        BedrockAuth::SigV4(creds(Some("FQoGZXIvYXdzEXAMPLE"))),
    )
    .unwrap()
    .with_clock(fixed_clock);
    let req = Request {
        model: "us.amazon.nova-micro-v1:0".into(),
        messages: vec![Message::user("What is the capital of France?")],
        ..Default::default()
    };
    let mut stream = p.open(&req).await.expect("opened");
    use futures::StreamExt;
    let mut text = String::new();
    while let Some(c) = stream.next().await {
        if let rivulet_core::Chunk::Text { delta, .. } = c.expect("no error") {
            text.push_str(&delta);
        }
    }
    assert!(text.starts_with("The capital of France is Paris."));

    let got = server.requests().remove(0);
    assert_eq!(
        got.path,
        "/model/us.amazon.nova-micro-v1%3A0/converse-stream"
    );
    assert_eq!(got.header("x-amz-date"), Some(DATE));
    assert_eq!(
        got.header("x-amz-security-token"),
        Some("FQoGZXIvYXdzEXAMPLE")
    );
    assert_eq!(
        got.header("x-amz-content-sha256"),
        Some(sigv4::sha256_hex(&got.body).as_str())
    );
    let auth = got.header("authorization").unwrap().to_string();
    let prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/eu-west-3/bedrock/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token, Signature=";
    assert!(auth.starts_with(prefix), "{auth}");

    let signed: Vec<(String, String)> = [
        "host",
        "x-amz-content-sha256",
        "x-amz-date",
        "x-amz-security-token",
    ]
    .iter()
    .map(|h| (h.to_string(), got.header(h).unwrap().to_string()))
    .collect();
    assert_eq!(signed[0].1, server.url().trim_start_matches("http://"));
    let again = sigv4::sign(
        &SignableRequest {
            method: "POST",
            path: &got.path,
            query: "",
            headers: &signed,
            body: &got.body,
        },
        &creds(Some("FQoGZXIvYXdzEXAMPLE")),
        "eu-west-3",
        "bedrock",
        DATE,
    );
    assert!(again
        .canonical_request
        .starts_with("POST\n/model/us.amazon.nova-micro-v1%253A0/converse-stream\n\n"));
    assert_eq!(again.authorization, auth);
}
