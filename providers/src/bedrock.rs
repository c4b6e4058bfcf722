//! AWS Bedrock ConverseStream (`POST {base}/model/{modelId}/converse-stream`),
//! provider id `bedrock`: a binary eventstream body, SigV4-signed requests.
//!
//! - [`bedrock_wire`]: the request and event types.
//! - [`bedrock_request`]: a core `Request` as a request body.
//! - `bedrock_id`: the provider id, [`ID`], in a leaf of its own: this file
//!   and the request builder both name it, neither through the other.
//! - [`bedrock_decoder`]: eventstream messages to chunks, without I/O
//!   ([`BedrockDecoder`]).
//! - [`Bedrock`]: the [`Provider`], over HTTP (this file).
//!
//! Credentials: a Bedrock API key (the config's key, else
//! `AWS_BEARER_TOKEN_BEDROCK`) is sent as a bearer token; otherwise the
//! request is signed with `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and
//! `AWS_SESSION_TOKEN`. The region comes from `AWS_REGION` (or
//! `AWS_DEFAULT_REGION`); `BEDROCK_BASE_URL` (or the config's base URL)
//! replaces `https://bedrock-runtime.{region}.amazonaws.com`.

pub mod bedrock_decoder;
mod bedrock_id;
pub mod bedrock_request;
pub mod bedrock_wire;

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::header::{HeaderMap, HeaderName, AUTHORIZATION};
use reqwest::Url;
use rivulet_core::{ApiKey, ChunkStream, Error, OpenFuture, Provider, Request};

pub use bedrock_decoder::BedrockDecoder;
pub use bedrock_id::ID;

use crate::config::{self, ProviderConfig};
use crate::decode::{self, DecodeStream, Decoded};
use crate::eventstream::{self, EventStreamMessage};
use crate::http;
use crate::http::Endpoint;
use crate::sigv4::{self, Credentials, SignableRequest};

/// The SigV4 service name.
pub const SERVICE: &str = "bedrock";
/// The access key id variable.
pub const ACCESS_KEY_VAR: &str = "AWS_ACCESS_KEY_ID";
/// The secret access key variable.
pub const SECRET_KEY_VAR: &str = "AWS_SECRET_ACCESS_KEY";
/// The session token variable (temporary credentials).
pub const SESSION_TOKEN_VAR: &str = "AWS_SESSION_TOKEN";
/// A Bedrock API key, sent as a bearer token instead of signing.
pub const BEARER_TOKEN_VAR: &str = "AWS_BEARER_TOKEN_BEDROCK";
/// The region variables, in order.
pub const REGION_VARS: &[&str] = &["AWS_REGION", "AWS_DEFAULT_REGION"];
/// The variable that overrides the endpoint.
pub const BASE_URL_VAR: &str = "BEDROCK_BASE_URL";
/// The content type of a stream.
pub const EVENTSTREAM: &str = "application/vnd.amazon.eventstream";

/// How requests are authenticated. `Debug` never shows a secret.
#[derive(Clone)]
pub enum BedrockAuth {
    /// SigV4 with these credentials.
    SigV4(Credentials),
    /// A Bedrock API key as `Authorization: Bearer`.
    Bearer(ApiKey),
}

impl fmt::Debug for BedrockAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BedrockAuth::SigV4(c) => f.debug_tuple("SigV4").field(c).finish(),
            BedrockAuth::Bearer(_) => f.write_str("Bearer(***)"),
        }
    }
}

impl BedrockAuth {
    fn secrets(&self) -> Vec<&ApiKey> {
        match self {
            BedrockAuth::SigV4(c) => std::iter::once(&c.secret_access_key)
                .chain(c.session_token.as_ref())
                .collect(),
            BedrockAuth::Bearer(k) => vec![k],
        }
    }
}

/// The Bedrock provider. Cheap to clone; clones share the client.
#[derive(Clone)]
pub struct Bedrock {
    inner: Arc<BedrockInner>,
}

struct BedrockInner {
    base: Url,
    region: String,
    auth: BedrockAuth,
    /// The unsigned headers, and the main secret (the bearer token or the
    /// secret access key) mid-stream errors are scrubbed of.
    http: Endpoint,
    /// The clock, replaceable in tests (the `x-amz-date` of a request).
    now: fn() -> SystemTime,
}

impl Bedrock {
    /// Builds the provider from `config` and the environment (see the
    /// module documentation). A missing credential is
    /// [`Error::MissingApiKey`] naming the variable to set; so is a missing
    /// region when no base URL is given.
    pub fn new(config: ProviderConfig) -> Result<Self, Error> {
        let auth = match config::api_key(&config, &[BEARER_TOKEN_VAR]) {
            Some(key) => BedrockAuth::Bearer(key),
            None => {
                let id = config::env(ACCESS_KEY_VAR)
                    .ok_or_else(|| Error::missing_api_key(ID, ACCESS_KEY_VAR))?;
                let secret = config::env(SECRET_KEY_VAR)
                    .ok_or_else(|| Error::missing_api_key(ID, SECRET_KEY_VAR))?;
                BedrockAuth::SigV4(Credentials {
                    access_key_id: id,
                    secret_access_key: ApiKey::new(secret),
                    session_token: config::env(SESSION_TOKEN_VAR).map(ApiKey::new),
                })
            }
        };
        let region = REGION_VARS.iter().find_map(|v| config::env(v));
        Self::with_auth(config, region.as_deref(), auth)
    }

    /// Builds the provider with explicit credentials (the environment is
    /// read only for the base URL). Without a base URL in `config` or
    /// `BEDROCK_BASE_URL`, `region` is required; with one, the region
    /// defaults to the one in a `bedrock-runtime.{region}.amazonaws.com`
    /// host, else `us-east-1`.
    pub fn with_auth(
        config: ProviderConfig,
        region: Option<&str>,
        auth: BedrockAuth,
    ) -> Result<Self, Error> {
        let given_base = config
            .base_url
            .clone()
            .filter(|b| !b.trim().is_empty())
            .or_else(|| config::env(BASE_URL_VAR));
        let region = region.map(str::trim).filter(|r| !r.is_empty());
        let (base, region) = match (given_base, region) {
            (Some(base), region) => {
                let cfg = ProviderConfig {
                    base_url: Some(base),
                    ..Default::default()
                };
                let base = config::base_url(ID, &cfg, &[], "")?;
                let region = region
                    .map(String::from)
                    .or_else(|| region_of(&base))
                    .unwrap_or_else(|| "us-east-1".into());
                (base, region)
            }
            (None, Some(region)) => (
                format!("https://bedrock-runtime.{region}.amazonaws.com"),
                region.to_string(),
            ),
            (None, None) => return Err(Error::missing_api_key(ID, REGION_VARS[0])),
        };
        let base = Url::parse(&base)
            .map_err(|e| Error::bad_request(format!("invalid base URL: {e}")).with_provider(ID))?;
        if !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(
                Error::bad_request(format!("invalid AWS region {region:?}")).with_provider(ID)
            );
        }
        let headers = http::request_headers(ID, EVENTSTREAM, &config.headers, None)?;
        let secret = auth.secrets().first().map(|k| (*k).clone());
        let http = Endpoint::new(ID, base.to_string(), secret, headers, EVENTSTREAM)?;
        Ok(Bedrock {
            inner: Arc::new(BedrockInner {
                base,
                region,
                auth,
                http,
                now: SystemTime::now,
            }),
        })
    }

    /// The URL a request for `model` goes to: the model id is one
    /// percent-encoded path segment (`us.amazon.nova-micro-v1%3A0`).
    pub fn url(&self, model: &str) -> Result<Url, Error> {
        self.inner.url(model)
    }

    /// The region requests are signed for.
    pub fn region(&self) -> &str {
        &self.inner.region
    }

    /// The same provider with a fixed clock, so a test can predict the
    /// signature.
    pub fn with_clock(self, now: fn() -> SystemTime) -> Self {
        let i = &self.inner;
        Bedrock {
            inner: Arc::new(BedrockInner {
                base: i.base.clone(),
                region: i.region.clone(),
                auth: i.auth.clone(),
                http: i.http.clone(),
                now,
            }),
        }
    }
}

/// The region in a `bedrock-runtime.{region}.amazonaws.com` URL.
fn region_of(base: &str) -> Option<String> {
    let host = Url::parse(base).ok()?.host_str()?.to_string();
    let rest = host.strip_prefix("bedrock-runtime.")?;
    let region = rest.split('.').next()?;
    (!region.is_empty() && rest.contains(".amazonaws.")).then(|| region.to_string())
}

impl fmt::Debug for Bedrock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bedrock")
            .field("base", &self.inner.base.as_str())
            .field("region", &self.inner.region)
            .field("auth", &self.inner.auth)
            .finish()
    }
}

impl Provider for Bedrock {
    fn id(&self) -> &str {
        ID
    }

    fn open(&self, request: &Request) -> OpenFuture {
        let inner = self.inner.clone();
        let request = request.clone();
        let scrub = self.inner.clone();
        http::boxed(async move { inner.open(&request).await }, move |e| {
            scrub.redact(e.with_provider(ID))
        })
    }
}

impl BedrockInner {
    fn url(&self, model: &str) -> Result<Url, Error> {
        if model.trim().is_empty() {
            return Err(
                Error::bad_request("bedrock needs a model id (bedrock/MODEL_ID)").with_provider(ID),
            );
        }
        let path = format!(
            "{}/model/{}/converse-stream",
            self.base.path().trim_end_matches('/'),
            sigv4::uri_encode(model)
        );
        let mut url = self.base.clone();
        url.set_path(&path);
        Ok(url)
    }

    fn redact(&self, mut err: Error) -> Error {
        for key in self.auth.secrets() {
            err = crate::errors::redact(err, Some(key));
        }
        err
    }

    /// The request headers, signed when the auth is SigV4.
    fn headers(&self, url: &Url, body: &[u8]) -> Result<HeaderMap, Error> {
        let mut headers = self.http.headers().clone();
        let invalid = "a credential contains characters not allowed in a header";
        match &self.auth {
            BedrockAuth::Bearer(key) => {
                headers.insert(
                    AUTHORIZATION,
                    http::secret_header(ID, &http::bearer(key), invalid)?,
                );
            }
            BedrockAuth::SigV4(creds) => {
                let amz_date = sigv4::amz_date((self.now)());
                let payload_hash = sigv4::sha256_hex(body);
                // The Host header hyper sends: the port only when it is not
                // the scheme's default.
                let host = match (url.host_str(), url.port()) {
                    (Some(h), Some(p)) => format!("{h}:{p}"),
                    (Some(h), None) => h.to_string(),
                    (None, _) => return Err(Error::bad_request("the URL has no host")),
                };
                let mut signed = vec![
                    ("host".to_string(), host),
                    ("x-amz-content-sha256".to_string(), payload_hash),
                    ("x-amz-date".to_string(), amz_date),
                ];
                if let Some(token) = &creds.session_token {
                    signed.push((
                        "x-amz-security-token".to_string(),
                        token.expose().to_string(),
                    ));
                }
                let signature = sigv4::sign(
                    &SignableRequest {
                        method: "POST",
                        path: url.path(),
                        query: url.query().unwrap_or(""),
                        headers: &signed,
                        body,
                    },
                    creds,
                    &self.region,
                    SERVICE,
                    &signature_date(&signed),
                );
                for (name, value) in signed.into_iter().skip(1) {
                    let name = HeaderName::from_bytes(name.as_bytes())
                        .map_err(|_| Error::bad_request("invalid header name"))?;
                    headers.insert(name, http::secret_header(ID, &value, invalid)?);
                }
                headers.insert(
                    AUTHORIZATION,
                    http::secret_header(ID, &signature.authorization, invalid)?,
                );
            }
        }
        Ok(headers)
    }

    async fn open(&self, request: &Request) -> Result<ChunkStream, Error> {
        let url = self.url(&request.model)?;
        let body =
            crate::options::request_body(request, bedrock_request::converse_request(request))?;
        let headers = self.headers(&url, &body)?;
        let resp = self.http.post(url, headers, body).await?;
        if !resp.status().is_success() {
            let error_type = resp
                .headers()
                .get("x-amzn-errortype")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.split(':').next().unwrap_or_default().trim().to_string())
                .filter(|v| !v.is_empty());
            let (err, _) = http::error_response(ID, resp).await;
            return Err(http_error(err, error_type));
        }
        let resp = self.http.expect_stream(resp, |_| None).await?;
        let messages = eventstream::messages(self.http.body(resp));
        let decoder = BedrockDecoder::new(ID)
            .raw_events(request.raw_events)
            .format_tool(request.format.as_ref().map(|_| crate::config::FORMAT_TOOL));
        // Mid-stream errors are scrubbed of the main secret.
        let secret = self.http.key().cloned();
        Ok(Box::pin(DecodeStream::new(
            messages,
            decode::EventFeed(decoder),
            secret,
        )))
    }
}

/// The `x-amz-date` among the signed headers.
fn signature_date(signed: &[(String, String)]) -> String {
    signed
        .iter()
        .find(|(k, _)| k == "x-amz-date")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| sigv4::amz_date(UNIX_EPOCH))
}

/// An HTTP error with Bedrock's `x-amzn-errortype` as its code: the
/// status decides the kind, except where the error type says more (an
/// invalid signature comes with 403 but is an authentication failure; a
/// 503 `ServiceUnavailableException` is an overload).
fn http_error(err: Error, error_type: Option<String>) -> Error {
    let Some(kind) = error_type else { return err };
    let status = err.status().unwrap_or(400);
    let message = err.message().to_string();
    let retry_after = err.retry_after();
    let typed = bedrock_decoder::exception_error(ID, &kind, &message);
    let mut out = match typed.kind() {
        rivulet_core::ErrorKind::Authentication | rivulet_core::ErrorKind::Overloaded => {
            let mut typed = typed;
            // The wait a 503 asked for stays on the overload.
            typed.context_mut().retry_after = retry_after;
            typed
        }
        _ => Error::from_status(ID, status, message, Some(kind), retry_after),
    };
    out.context_mut().status = Some(status);
    out
}

/// Decodes a body already in memory, delivered in `pieces`: the frame
/// parser and the decoder exactly as over HTTP. For tests and benchmarks.
pub fn decode_pieces<I, B>(raw_events: bool, pieces: I) -> Decoded
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    decode::decode_all::<bedrock_decoder::ConverseStream, Vec<Result<EventStreamMessage, Error>>>(
        BedrockDecoder::new(ID).raw_events(raw_events),
        eventstream::decode_pieces(pieces),
    )
}
