//! AWS Signature Version 4, for Bedrock: HMAC-SHA256 over a canonical
//! request, written from the AWS documentation ("Create a signed AWS API
//! request") and checked against the published test suite.
//!
//! Paths are canonicalized the way every service but S3 wants: each path
//! segment of the request *as sent* is URI-encoded once more. A Bedrock
//! model id such as `us.amazon.nova-micro-v1:0` is sent as
//! `us.amazon.nova-micro-v1%3A0` and signed as `us.amazon.nova-micro-v1%253A0`.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use ring::{digest, hmac};
use rivulet_core::ApiKey;

/// The algorithm name in the string to sign and the `Authorization` header.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";

/// AWS credentials. `Debug` shows the access key id only.
#[derive(Clone)]
pub struct Credentials {
    /// The access key id (`AKIA…`, `ASIA…`), sent in the clear.
    pub access_key_id: String,
    /// The secret key; only signatures made with it are sent.
    pub secret_access_key: ApiKey,
    /// Temporary credentials' session token, sent as `x-amz-security-token`.
    pub session_token: Option<ApiKey>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .field("session_token", &self.session_token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// A request to sign: the method, the path and query exactly as sent
/// (percent-encoded), the headers to sign (including `host` and
/// `x-amz-date`) and the body.
///
/// `Debug` prints the value of `x-amz-security-token` (a session token,
/// a credential) as `***`.
#[derive(Clone)]
pub struct SignableRequest<'a> {
    /// The HTTP method (`POST`).
    pub method: &'a str,
    /// The path, percent-encoded as sent.
    pub path: &'a str,
    /// The query string without `?`, percent-encoded as sent (or empty).
    pub query: &'a str,
    /// The headers to sign, `host` and `x-amz-date` among them.
    pub headers: &'a [(String, String)],
    /// The body, whose SHA-256 is signed.
    pub body: &'a [u8],
}

/// What signing produced; `authorization` is the header value.
///
/// `Debug` prints the session token inside `canonical_request` as `***`
/// (the signature and the rest are not secret: they sign one request).
#[derive(Clone, PartialEq, Eq)]
pub struct Signature {
    /// The canonical request, as hashed (for comparing with AWS's own).
    pub canonical_request: String,
    /// The string to sign, as signed.
    pub string_to_sign: String,
    /// The signed headers' names, `;`-separated.
    pub signed_headers: String,
    /// The signature, in lowercase hex.
    pub signature: String,
    /// The `Authorization` header's value.
    pub authorization: String,
}

/// The header that carries a session token (a credential).
const SESSION_TOKEN_HEADER: &str = "x-amz-security-token";

impl fmt::Debug for SignableRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| {
                let secret = name.eq_ignore_ascii_case(SESSION_TOKEN_HEADER);
                (name.as_str(), if secret { "***" } else { value.as_str() })
            })
            .collect();
        f.debug_struct("SignableRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &headers)
            .field("body", &format_args!("{} bytes", self.body.len()))
            .finish()
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The canonical request has a line `x-amz-security-token:VALUE`.
        let canonical: Vec<String> = self
            .canonical_request
            .split('\n')
            .map(|line| match line.split_once(':') {
                Some((name, _)) if name.eq_ignore_ascii_case(SESSION_TOKEN_HEADER) => {
                    format!("{name}:***")
                }
                _ => line.to_string(),
            })
            .collect();
        f.debug_struct("Signature")
            .field("canonical_request", &canonical.join("\n"))
            .field("string_to_sign", &self.string_to_sign)
            .field("signed_headers", &self.signed_headers)
            .field("signature", &self.signature)
            .field("authorization", &self.authorization)
            .finish()
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Hex SHA-256 of `data` (the payload hash, `x-amz-content-sha256`).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = [0; 32];
    // An HMAC-SHA256 tag is 32 bytes.
    out.copy_from_slice(tag.as_ref());
    out
}

/// The signing key: `HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region),
/// service), "aws4_request")`, `date` as `YYYYMMDD`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, b"aws4_request")
}

/// RFC 3986 percent-encoding as SigV4 wants it: every byte but
/// `A-Z a-z 0-9 - _ . ~` is `%XX` (uppercase hex).
pub fn uri_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` sequences (a malformed one is kept as it is).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hexval = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hexval(b[i + 1]), hexval(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The canonical URI of a path as sent: each segment encoded once more.
pub fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    path.split('/')
        .map(uri_encode)
        .collect::<Vec<_>>()
        .join("/")
}

/// The canonical query string: pairs decoded, re-encoded, sorted.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (
                uri_encode(&percent_decode(k)),
                uri_encode(&percent_decode(v)),
            )
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Signs `req` for `region` and `service` at `amz_date` (`YYYYMMDDTHHMMSSZ`,
/// the value of the request's `x-amz-date` header).
pub fn sign(
    req: &SignableRequest<'_>,
    credentials: &Credentials,
    region: &str,
    service: &str,
    amz_date: &str,
) -> Signature {
    // Canonical headers: lowercase names, trimmed values with inner runs
    // of spaces collapsed, sorted by name, repeated names joined by ",".
    let mut headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.trim().to_ascii_lowercase(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    headers.sort_by(|a, b| a.0.cmp(&b.0));
    let mut merged: Vec<(String, String)> = Vec::new();
    for (k, v) in headers {
        match merged.last_mut() {
            Some((lk, lv)) if *lk == k => {
                lv.push(',');
                lv.push_str(&v);
            }
            _ => merged.push((k, v)),
        }
    }
    let canonical_headers: String = merged.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = merged
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        canonical_uri(req.path),
        canonical_query(req.query),
        canonical_headers,
        signed_headers,
        sha256_hex(req.body)
    );
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let key = signing_key(
        credentials.secret_access_key.expose(),
        date,
        region,
        service,
    );
    let signature = hex(&hmac(&key, string_to_sign.as_bytes()));
    let authorization = format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        credentials.access_key_id
    );
    Signature {
        canonical_request,
        string_to_sign,
        signed_headers,
        signature,
        authorization,
    }
}

/// `YYYYMMDDTHHMMSSZ` (UTC) for `time`.
pub fn amz_date(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        assert_eq!(amz_date(UNIX_EPOCH), "19700101T000000Z");
        // 2015-08-30T12:36:00Z, the test suite's date.
        assert_eq!(
            amz_date(UNIX_EPOCH + Duration::from_secs(1_440_938_160)),
            "20150830T123600Z"
        );
        // A leap day.
        assert_eq!(
            amz_date(UNIX_EPOCH + Duration::from_secs(951_825_600)),
            "20000229T120000Z"
        );
    }

    #[test]
    fn encoding() {
        assert_eq!(uri_encode("a:b/c d~"), "a%3Ab%2Fc%20d~");
        assert_eq!(
            canonical_uri("/model/us.amazon.nova-micro-v1%3A0/converse-stream"),
            "/model/us.amazon.nova-micro-v1%253A0/converse-stream"
        );
        assert_eq!(canonical_query("b=2&a=%20x&a=1"), "a=%20x&a=1&b=2");
        assert_eq!(percent_decode("%zz%41%4"), "%zzA%4");
    }

    /// A session token is a credential: neither the request to sign nor
    /// the signature prints it.
    #[test]
    fn debug_hides_the_session_token() {
        const TOKEN: &str = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN";
        let headers = [
            (
                "host".to_string(),
                "bedrock-runtime.us-east-1.amazonaws.com".to_string(),
            ),
            ("x-amz-date".to_string(), "20150830T123600Z".to_string()),
            ("X-Amz-Security-Token".to_string(), TOKEN.to_string()),
        ];
        let req = SignableRequest {
            method: "POST",
            path: "/model/m/converse-stream",
            query: "",
            headers: &headers,
            body: b"{}",
        };
        let credentials = Credentials {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: ApiKey::new("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"),
            session_token: Some(ApiKey::new(TOKEN)),
        };
        let signature = sign(
            &req,
            &credentials,
            "us-east-1",
            "bedrock",
            "20150830T123600Z",
        );
        assert!(
            signature.canonical_request.contains(TOKEN),
            "signed with it"
        );
        for printed in [format!("{req:?}"), format!("{signature:?}")] {
            assert!(!printed.contains(TOKEN), "{printed}");
            assert!(
                printed.contains("ecurity-token:***") || printed.contains("\"***\""),
                "{printed}"
            );
        }
        assert!(format!("{signature:?}").contains(&signature.signature));
    }
}
