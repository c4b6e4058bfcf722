//! Vertex AI credentials from a service-account key file
//! (`GOOGLE_APPLICATION_CREDENTIALS`): an RS256-signed JWT exchanged at the
//! key's `token_uri` for an OAuth access token (RFC 7523), cached until
//! shortly before it expires.
//!
//! The JWT is three base64url segments; the signature is RSASSA-PKCS1-v1_5
//! with SHA-256 from `ring` (already in the build through rustls, and
//! constant-time).

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::Url;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use rivulet_core::{ApiKey, Error, ErrorContext, TimeoutKind};
use serde_json::{json, Value};

use crate::http;

/// The OAuth scope asked for.
pub const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
/// The token endpoint when the key file names none.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The JWT bearer grant of RFC 7523.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How long a signed assertion is valid (Google's maximum).
const ASSERTION_LIFETIME: Duration = Duration::from_secs(3600);
/// A token is renewed this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// Token endpoint answers are read up to this size.
const TOKEN_BODY_LIMIT: usize = 64 * 1024;
/// The longest `expires_in` believed: Google's tokens live an hour (12
/// hours at most, extended); anything longer is kept this long, and an
/// absurd value cannot overflow the refresh time.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// A service account: who it is, its private key and a cached token.
///
/// `Debug` prints the account's e-mail and token endpoint, never the key or
/// a token.
pub struct ServiceAccount {
    client_email: String,
    token_uri: String,
    key_id: Option<String>,
    project_id: Option<String>,
    key: Arc<RsaKeyPair>,
    /// The token and when to renew it. An async mutex, held across the
    /// exchange on purpose: the streams that find the token stale at once
    /// wait for one exchange instead of each making their own. The wait is
    /// bounded by the HTTP client's connect and read timeouts.
    cache: futures::lock::Mutex<Option<(ApiKey, Instant)>>,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("client_email", &self.client_email)
            .field("token_uri", &self.token_uri)
            .finish()
    }
}

fn invalid(what: impl fmt::Display) -> Error {
    Error::bad_request(format!("invalid service-account key: {what}"))
}

impl ServiceAccount {
    /// Reads a key file. Errors name the file and what is wrong with it,
    /// never its content.
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::bad_request(format!(
                "cannot read the service-account key file {}: {e}",
                path.display()
            ))
        })?;
        Self::from_json(&text)
            .map_err(|e| Error::bad_request(format!("{} ({})", e.message(), path.display())))
    }

    /// Parses a key file's JSON (`client_email`, `private_key` in PEM,
    /// optional `private_key_id`, `token_uri`, `project_id`).
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let v: Value = serde_json::from_str(text).map_err(|_| invalid("the file is not JSON"))?;
        let field = |name: &str| {
            v.get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let client_email = field("client_email").ok_or_else(|| invalid("no client_email"))?;
        let pem = field("private_key").ok_or_else(|| invalid("no private_key"))?;
        let token_uri = field("token_uri").unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string());
        match Url::parse(&token_uri) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
            _ => {
                return Err(invalid(format!(
                    "token_uri {token_uri:?} is not an http(s) URL"
                )))
            }
        }
        Ok(ServiceAccount {
            client_email,
            token_uri,
            key_id: field("private_key_id"),
            project_id: field("project_id"),
            key: Arc::new(parse_private_key(&pem)?),
            cache: futures::lock::Mutex::new(None),
        })
    }

    /// The account's e-mail (the JWT's issuer).
    pub fn client_email(&self) -> &str {
        &self.client_email
    }

    /// Where the JWT is exchanged.
    pub fn token_uri(&self) -> &str {
        &self.token_uri
    }

    /// The key file's project, used when `GOOGLE_CLOUD_PROJECT` is not set.
    pub fn project_id(&self) -> Option<&str> {
        self.project_id.as_deref()
    }

    /// The signed JWT asking for [`SCOPE`], issued at `now`.
    pub fn assertion(&self, now: SystemTime) -> Result<String, Error> {
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let mut header = json!({"alg": "RS256", "typ": "JWT"});
        if let Some(kid) = &self.key_id {
            header["kid"] = json!(kid);
        }
        let claims = json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": iat,
            "exp": iat + ASSERTION_LIFETIME.as_secs(),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| Error::unsupported("could not sign the service-account assertion"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// An access token: the cached one while it is fresh, else a new one
    /// from the token endpoint.
    pub async fn access_token(
        &self,
        provider: &str,
        client: &reqwest::Client,
    ) -> Result<ApiKey, Error> {
        let mut cache = self.cache.lock().await;
        if let Some((token, refresh_at)) = cache.as_ref() {
            if Instant::now() < *refresh_at {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = self.exchange(provider, client).await?;
        let refresh_at = Instant::now() + lifetime.saturating_sub(REFRESH_MARGIN);
        *cache = Some((token.clone(), refresh_at));
        Ok(token)
    }

    async fn exchange(
        &self,
        provider: &str,
        client: &reqwest::Client,
    ) -> Result<(ApiKey, Duration), Error> {
        let assertion = self.assertion(SystemTime::now())?;
        tracing::debug!(provider, token_uri = %self.token_uri, "exchanging a service-account assertion");
        let resp = client
            .post(&self.token_uri)
            .form(&[
                ("grant_type", GRANT_TYPE),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| {
                http::transport_error(
                    provider,
                    &e,
                    "requesting an access token",
                    TimeoutKind::Connect,
                )
            })?;
        let status = resp.status().as_u16();
        let body = http::read_limited(resp, TOKEN_BODY_LIMIT).await;
        let v: Value = serde_json::from_slice(&body).unwrap_or_default();
        let text = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
        if !(200..300).contains(&status) {
            // {"error":"invalid_grant","error_description":"…"}
            let message = text("error_description")
                .or_else(|| text("error"))
                .map(str::to_string)
                .unwrap_or_else(|| format!("HTTP {status}"));
            let mut ctx = ErrorContext::new(format!(
                "the token endpoint refused the service account: {message}"
            ))
            .provider(provider)
            .status(status);
            ctx.code = text("error").map(str::to_string);
            return Err(if status >= 500 {
                Error::Server {
                    status,
                    ctx: Box::new(ctx),
                }
            } else {
                Error::Authentication { ctx: Box::new(ctx) }
            });
        }
        let token = text("access_token").ok_or_else(|| Error::Authentication {
            ctx: Box::new(
                ErrorContext::new("the token endpoint's answer has no access_token")
                    .provider(provider)
                    .status(status),
            ),
        })?;
        let lifetime = v
            .get("expires_in")
            .and_then(Value::as_u64)
            .map(|secs| Duration::from_secs(secs).min(MAX_TOKEN_LIFETIME))
            .unwrap_or(ASSERTION_LIFETIME);
        Ok((ApiKey::new(token), lifetime))
    }
}

/// An RSA private key from PEM: PKCS#8 (`BEGIN PRIVATE KEY`, what Google
/// issues) or PKCS#1 (`BEGIN RSA PRIVATE KEY`).
fn parse_private_key(pem: &str) -> Result<RsaKeyPair, Error> {
    let pem = pem.replace("\\n", "\n");
    let mut label = None;
    let mut body = String::new();
    for line in pem.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("-----BEGIN ") {
            label = Some(rest.trim_end_matches('-').trim().to_string());
        } else if line.starts_with("-----END ") {
            break;
        } else if label.is_some() {
            body.push_str(line);
        }
    }
    let label = label.ok_or_else(|| invalid("private_key is not PEM"))?;
    let der = STANDARD
        .decode(body.as_bytes())
        .map_err(|_| invalid("private_key is not valid base64"))?;
    let parsed = match label.as_str() {
        "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
        "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
        _ => return Err(invalid(format!("private_key is a {label}, not an RSA key"))),
    };
    parsed.map_err(|e| invalid(format!("private_key was rejected ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_key_files_say_why_without_echoing() {
        let err = |json: &str| ServiceAccount::from_json(json).unwrap_err().to_string();
        assert!(err("nope").contains("not JSON"));
        assert!(err(r#"{"private_key":"x"}"#).contains("client_email"));
        assert!(err(r#"{"client_email":"a@b"}"#).contains("private_key"));
        let e = err(r#"{"client_email":"a@b","private_key":"SECRETSTUFF"}"#);
        assert!(e.contains("not PEM") && !e.contains("SECRETSTUFF"), "{e}");
        let e = err(
            "{\"client_email\":\"a@b\",\"private_key\":\"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n\"}",
        );
        assert!(e.contains("rejected"), "{e}");
        let e = err(
            "{\"client_email\":\"a@b\",\"token_uri\":\"ftp://x\",\"private_key\":\"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----\\n\"}",
        );
        assert!(e.contains("token_uri"), "{e}");
    }
}
