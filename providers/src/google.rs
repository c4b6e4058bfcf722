//! Google Gemini: the Gemini API (`google`) and Vertex AI (`vertex`), which
//! share one wire format (`…/models/{model}:streamGenerateContent?alt=sse`).
//!
//! - [`google_wire`]: the request and response types.
//! - [`google_request`]: a core `Request` as a request body.
//! - [`google_decoder`]: SSE events to chunks, without I/O
//!   ([`GoogleDecoder`]).
//! - [`partial_args`]: streamed function-call arguments as JSON text.
//! - [`auth`]: Vertex service-account credentials.
//! - [`Google`]: the [`Provider`] for both, over HTTP (this file).

pub mod auth;
pub mod google_decoder;
pub mod google_request;
pub mod google_wire;
pub mod partial_args;

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderName, AUTHORIZATION};
use reqwest::Url;
use rivulet_core::{ApiKey, ChunkStream, Error, ErrorContext, OpenFuture, Provider, Request};

pub use auth::ServiceAccount;
pub use google_decoder::GoogleDecoder;

use crate::config::{self, env, ProviderConfig};
use crate::decode::{self, Decoded};
use crate::http;
use crate::http::Endpoint;

/// The Gemini API's provider id.
pub const GOOGLE: &str = "google";
/// Vertex AI's provider id.
pub const VERTEX: &str = "vertex";

/// The Gemini API when no base URL is given.
pub const GEMINI_DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com";
/// Variables holding the Gemini API key, in order of preference.
pub const GEMINI_KEY_VARS: &[&str] = &["GEMINI_API_KEY", "GOOGLE_API_KEY"];
/// Variables overriding the Gemini API base URL, in order of preference.
pub const GEMINI_BASE_URL_VARS: &[&str] = &["GEMINI_BASE_URL", "GOOGLE_BASE_URL"];

/// A ready OAuth access token for Vertex AI.
pub const VERTEX_TOKEN_VAR: &str = "VERTEX_ACCESS_TOKEN";
/// A service-account key file for Vertex AI.
pub const VERTEX_CREDENTIALS_VAR: &str = "GOOGLE_APPLICATION_CREDENTIALS";
/// The Google Cloud project of Vertex AI requests.
pub const VERTEX_PROJECT_VAR: &str = "GOOGLE_CLOUD_PROJECT";
/// The Vertex AI location (region, or `global`).
pub const VERTEX_LOCATION_VAR: &str = "GOOGLE_CLOUD_LOCATION";
/// Overrides Vertex AI's host (`https://{location}-aiplatform.googleapis.com`).
pub const VERTEX_BASE_URL_VAR: &str = "VERTEX_BASE_URL";
/// The location when `GOOGLE_CLOUD_LOCATION` is not set.
pub const VERTEX_DEFAULT_LOCATION: &str = "us-central1";

/// Vertex AI settings that can be given in code instead of the
/// environment ([`Google::vertex_with`]).
#[derive(Debug, Default)]
pub struct VertexOptions {
    /// The Google Cloud project (else `GOOGLE_CLOUD_PROJECT`, else the
    /// service account's `project_id`).
    pub project: Option<String>,
    /// The location (else `GOOGLE_CLOUD_LOCATION`, else `us-central1`).
    pub location: Option<String>,
    /// Credentials (else the file `GOOGLE_APPLICATION_CREDENTIALS` names),
    /// used when no access token is given.
    pub service_account: Option<ServiceAccount>,
}

/// How requests are authenticated.
enum GoogleAuth {
    /// A key or token already in the headers, kept to scrub it from errors.
    Static(ApiKey),
    /// A service account whose token is fetched (and cached) per request.
    ServiceAccount(ServiceAccount),
}

/// A Gemini provider: the Gemini API ([`Google::gemini`]) or Vertex AI
/// ([`Google::vertex`]), with its endpoint, credentials and HTTP client.
///
/// Cheap to clone; clones share the client and any cached token.
#[derive(Clone)]
pub struct Google {
    inner: Arc<GoogleInner>,
}

struct GoogleInner {
    id: &'static str,
    /// Everything up to the model: `…/v1beta/models`.
    models_url: Url,
    auth: GoogleAuth,
    /// Content type, accept, the caller's extra headers (sensitive) and,
    /// for static credentials, the key or token (sensitive, and the key
    /// errors are scrubbed of).
    http: Endpoint,
}

impl Google {
    /// The Gemini API: `POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse`
    /// with the key in `x-goog-api-key`. Base from the config, else
    /// `GEMINI_BASE_URL`/`GOOGLE_BASE_URL`, else the public API; key from
    /// the config, else `GEMINI_API_KEY`/`GOOGLE_API_KEY`
    /// ([`Error::MissingApiKey`] without one).
    pub fn gemini(config: ProviderConfig) -> Result<Self, Error> {
        let base = config::base_url(
            GOOGLE,
            &config,
            GEMINI_BASE_URL_VARS,
            GEMINI_DEFAULT_BASE_URL,
        )?;
        let key = config::api_key(&config, GEMINI_KEY_VARS)
            .ok_or_else(|| Error::missing_api_key(GOOGLE, GEMINI_KEY_VARS[0]))?;
        let headers = http::request_headers(
            GOOGLE,
            "text/event-stream",
            &config.headers,
            Some((
                HeaderName::from_static("x-goog-api-key"),
                key.expose().to_string(),
            )),
        )?;
        let mut models_url = parse(GOOGLE, &base)?;
        push_path(GOOGLE, &mut models_url, &versioned(&base, "v1beta"))?;
        push_path(GOOGLE, &mut models_url, &["models"])?;
        Google::with(GOOGLE, models_url, GoogleAuth::Static(key), headers)
    }

    /// Vertex AI: `POST https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}/publishers/google/models/{model}:streamGenerateContent?alt=sse`
    /// (host `aiplatform.googleapis.com` for location `global`; the config's
    /// base URL or `VERTEX_BASE_URL` replaces the host).
    ///
    /// Credentials, in order: the config's key or `VERTEX_ACCESS_TOKEN`, sent
    /// as `Authorization: Bearer`; else the service-account key file named
    /// by `GOOGLE_APPLICATION_CREDENTIALS`, whose signed JWT is exchanged
    /// for a token at the first request ([`ServiceAccount`]). The project
    /// is `GOOGLE_CLOUD_PROJECT`, else the key file's `project_id`; the
    /// location `GOOGLE_CLOUD_LOCATION`, else `us-central1`.
    pub fn vertex(config: ProviderConfig) -> Result<Self, Error> {
        Google::vertex_with(config, VertexOptions::default())
    }

    /// [`Google::vertex`] with settings given here rather than read from
    /// the environment; what `options` leaves `None` still comes from it.
    /// The config's key (an access token) wins over a service account.
    pub fn vertex_with(config: ProviderConfig, options: VertexOptions) -> Result<Self, Error> {
        let service_account = match options.service_account {
            Some(sa) => Some(sa),
            None => match env(VERTEX_CREDENTIALS_VAR) {
                Some(path) if config::api_key(&config, &[VERTEX_TOKEN_VAR]).is_none() => Some(
                    ServiceAccount::from_file(Path::new(&path))
                        .map_err(|e| e.with_provider(VERTEX))?,
                ),
                _ => None,
            },
        };
        let (auth, token) = match config::api_key(&config, &[VERTEX_TOKEN_VAR]) {
            Some(token) => (GoogleAuth::Static(token.clone()), Some(token)),
            None => match service_account {
                Some(sa) => (GoogleAuth::ServiceAccount(sa), None),
                None => {
                    return Err(Error::MissingApiKey {
                        variable: VERTEX_TOKEN_VAR.into(),
                        ctx: Box::new(ErrorContext::new(format!(
                            "no credentials for vertex: set {VERTEX_TOKEN_VAR} or {VERTEX_CREDENTIALS_VAR}"
                        ))
                        .provider(VERTEX)),
                    })
                }
            },
        };
        let project = options
            .project
            .filter(|p| !p.is_empty())
            .or_else(|| env(VERTEX_PROJECT_VAR))
            .or_else(|| match &auth {
                GoogleAuth::ServiceAccount(sa) => sa.project_id().map(str::to_string),
                GoogleAuth::Static(_) => None,
            })
            .ok_or_else(|| Error::MissingApiKey {
                variable: VERTEX_PROJECT_VAR.into(),
                ctx: Box::new(
                    ErrorContext::new(format!(
                        "no Google Cloud project for vertex: set {VERTEX_PROJECT_VAR}"
                    ))
                    .provider(VERTEX),
                ),
            })?;
        let location = options
            .location
            .filter(|l| !l.is_empty())
            .or_else(|| env(VERTEX_LOCATION_VAR))
            .unwrap_or_else(|| VERTEX_DEFAULT_LOCATION.into());
        let default_host = if location == "global" {
            "https://aiplatform.googleapis.com".to_string()
        } else {
            format!("https://{location}-aiplatform.googleapis.com")
        };
        let base = config::base_url(VERTEX, &config, &[VERTEX_BASE_URL_VAR], &default_host)?;
        let auth_header = token.as_ref().map(|t| (AUTHORIZATION, http::bearer(t)));
        let headers =
            http::request_headers(VERTEX, "text/event-stream", &config.headers, auth_header)?;
        let mut models_url = parse(VERTEX, &base)?;
        push_path(VERTEX, &mut models_url, &versioned(&base, "v1"))?;
        push_path(
            VERTEX,
            &mut models_url,
            &[
                "projects",
                &project,
                "locations",
                &location,
                "publishers",
                "google",
                "models",
            ],
        )?;
        Google::with(VERTEX, models_url, auth, headers)
    }

    fn with(
        id: &'static str,
        models_url: Url,
        auth: GoogleAuth,
        headers: HeaderMap,
    ) -> Result<Self, Error> {
        let key = match &auth {
            GoogleAuth::Static(k) => Some(k.clone()),
            GoogleAuth::ServiceAccount(_) => None,
        };
        let http = Endpoint::sse(id, models_url.to_string(), key, headers)?;
        Ok(Google {
            inner: Arc::new(GoogleInner {
                id,
                models_url,
                auth,
                http,
            }),
        })
    }

    /// The URL a request for `model` goes to.
    pub fn url(&self, model: &str) -> Result<String, Error> {
        self.inner.url(model).map(String::from)
    }
}

/// The version segment to add to `base`: none when it already ends with
/// one (`…/v1beta`, `…/v1`).
fn versioned<'a>(base: &str, version: &'a str) -> Vec<&'a str> {
    let last = base.rsplit('/').next().unwrap_or_default();
    let has_version = last.len() > 1
        && last.starts_with('v')
        && last[1..].starts_with(|c: char| c.is_ascii_digit());
    if has_version {
        Vec::new()
    } else {
        vec![version]
    }
}

fn parse(id: &str, base: &str) -> Result<Url, Error> {
    Url::parse(base).map_err(|e| {
        Error::bad_request(format!("invalid base URL {base:?}: {e}")).with_provider(id)
    })
}

/// Appends path segments (percent-encoded).
fn push_path(id: &str, url: &mut Url, segments: &[&str]) -> Result<(), Error> {
    url.path_segments_mut()
        .map_err(|_| Error::bad_request("invalid base URL").with_provider(id))?
        .pop_if_empty()
        .extend(segments);
    Ok(())
}

impl fmt::Debug for Google {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let auth = match &i.auth {
            GoogleAuth::Static(_) if i.id == GOOGLE => "api key ***".to_string(),
            GoogleAuth::Static(_) => "access token ***".to_string(),
            GoogleAuth::ServiceAccount(sa) => format!("service account {}", sa.client_email()),
        };
        f.debug_struct("Google")
            .field("id", &i.id)
            .field("models_url", &i.models_url.as_str())
            .field("auth", &auth)
            .field(
                "extra_headers",
                &http::extra_header_names(i.http.headers(), &["x-goog-api-key", "authorization"]),
            )
            .finish()
    }
}

impl Provider for Google {
    fn id(&self) -> &str {
        self.inner.id
    }

    fn open(&self, request: &Request) -> OpenFuture {
        let inner = self.inner.clone();
        let request = request.clone();
        let http = &self.inner.http;
        http.boxed(async move { inner.open(&request).await })
    }
}

impl GoogleInner {
    fn url(&self, model: &str) -> Result<Url, Error> {
        let model = model.strip_prefix("models/").unwrap_or(model);
        if model.is_empty() {
            return Err(Error::bad_request(format!(
                "{} needs a model name ({}/MODEL)",
                self.id, self.id
            )));
        }
        let mut url = self.models_url.clone();
        push_path(
            self.id,
            &mut url,
            &[&format!("{model}:streamGenerateContent")],
        )?;
        url.set_query(Some("alt=sse"));
        Ok(url)
    }

    async fn open(&self, request: &Request) -> Result<ChunkStream, Error> {
        let id = self.id;
        let url = self.url(&request.model)?;
        let mut headers = self.http.headers().clone();
        let mut token = None;
        if let GoogleAuth::ServiceAccount(sa) = &self.auth {
            let t = sa.access_token(id, self.http.client()).await?;
            let what = "the access token is not a valid header value";
            headers.insert(
                AUTHORIZATION,
                http::secret_header(id, &http::bearer(&t), what)?,
            );
            token = Some(t);
        }
        let body = crate::options::request_body(
            request,
            google_request::generate_content_request(id, request),
        )?;
        let resp = self.http.post(url, headers, body).await?;
        if !resp.status().is_success() {
            // Gemini sends its errors as plain JSON, even under a
            // text/event-stream content type.
            let (err, body) = http::error_response(id, resp).await;
            return Err(refine_http_error(id, err, &body));
        }
        let resp = self
            .http
            .expect_stream(resp, |body| {
                error_body(body).map(|e| google_decoder::google_error(id, None, &e, None))
            })
            .await?;
        let decoder = GoogleDecoder::new(id).raw_events(request.raw_events);
        let key = match &self.auth {
            GoogleAuth::Static(k) => Some(k.clone()),
            GoogleAuth::ServiceAccount(_) => token,
        };
        Ok(self.http.decode_sse(resp, decoder, key))
    }
}

/// A Google error body: `{"error":{…}}`, or the same in a one-element list.
fn error_body(body: &[u8]) -> Option<google_wire::GoogleErrorBody> {
    // Through a `Value`: serde would also read a list as a struct's fields
    // in order.
    let v = match serde_json::from_slice::<serde_json::Value>(body).ok()? {
        serde_json::Value::Array(items) => items.into_iter().next()?,
        v => v,
    };
    serde_json::from_value::<google_wire::GoogleErrorResponse>(
        v.get("error")?.is_object().then_some(v)?,
    )
    .ok()
    .map(|r| r.error)
}

/// The generic HTTP error, read again with Google's error body in mind
/// (reason and status codes, an invalid key answered with 400).
fn refine_http_error(id: &str, err: Error, body: &str) -> Error {
    match (error_body(body.as_bytes()), err.status()) {
        (Some(e), Some(status)) => {
            google_decoder::google_error(id, Some(status), &e, err.retry_after())
        }
        _ => err,
    }
}

/// Decodes a body already in memory, delivered in `pieces`: the SSE parser
/// and the decoder exactly as over HTTP, without the HTTP.
///
/// ```
/// use rivulet_core::Response;
/// use rivulet_providers::google::decode_pieces;
///
/// let body = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hé\"}]}, \"finishReason\": \"STOP\"}]}\r\n\r\n";
/// let bytes = body.as_bytes();
/// let mut r = Response::default();
/// for c in decode_pieces("google", false, [&bytes[..50], &bytes[50..]]) {
///     r.apply(&c.unwrap());
/// }
/// assert_eq!(r.text(), "Hé");
/// ```
pub fn decode_pieces<I, B>(provider: &str, raw_events: bool, pieces: I) -> Decoded
where
    I: IntoIterator<Item = B>,
    B: AsRef<[u8]>,
{
    decode::decode_sse_pieces(GoogleDecoder::new(provider).raw_events(raw_events), pieces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_as_objects_or_lists() {
        let one = br#"{"error":{"code":404,"message":"m","status":"NOT_FOUND"}}"#;
        let list = br#"[{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED"}}]"#;
        assert_eq!(
            error_body(one).unwrap().status.as_deref(),
            Some("NOT_FOUND")
        );
        assert_eq!(error_body(list).unwrap().code, Some(429));
        assert_eq!(error_body(br#"{"candidates":[]}"#), None);
        assert_eq!(error_body(b"[]"), None);
        assert_eq!(error_body(b"nope"), None);
    }

    #[test]
    fn versions_are_not_doubled() {
        assert_eq!(versioned("https://h", "v1beta"), ["v1beta"]);
        assert!(versioned("https://h/v1beta", "v1beta").is_empty());
        assert!(versioned("https://h/v1", "v1beta").is_empty());
        assert!(versioned("https://h/v1beta1", "v1").is_empty());
        assert_eq!(versioned("https://h/vertex", "v1"), ["v1"]);
    }
}
