//! The requests the server received, and the minimal HTTP/1.1 request reader.

use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest request head the server accepts.
const MAX_HEAD: usize = 64 * 1024;

/// One request as received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The connection it arrived on (0 for the first accepted connection).
    pub connection: usize,
    /// `GET`, `POST`, …
    pub method: String,
    /// The request target: path and query (`/v1/chat/completions?x=1`).
    pub path: String,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON (`Value::Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads one request (head and `Content-Length` body). `Ok(None)` when the
/// client closed before sending a complete request.
pub(crate) async fn read_request<R: AsyncRead + Unpin>(
    reader: &mut R,
    connection: usize,
) -> std::io::Result<Option<RecordedRequest>> {
    let mut buf = Vec::with_capacity(4096);
    let head_end = loop {
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            break end;
        }
        if buf.len() > MAX_HEAD {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "request head too large",
            ));
        }
        let mut chunk = [0u8; 4096];
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    };

    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or_default().split(' ');
    let method = request_line.next().unwrap_or_default().to_string();
    let path = request_line.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();

    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0u8; (length - body.len()).min(64 * 1024)];
        let n = reader.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);

    Ok(Some(RecordedRequest {
        connection,
        method,
        path,
        headers,
        body,
    }))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_head_and_body() {
        let raw = b"POST /v1/chat?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\nX-Key: V\r\n\r\n{\"a\":1}";
        let req = read_request(&mut &raw[..], 3).await.unwrap().unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/v1/chat?x=1");
        assert_eq!(req.header("x-key"), Some("V"));
        assert_eq!(req.header("X-KEY"), Some("V"));
        assert_eq!(req.json()["a"], 1);
        assert_eq!(req.connection, 3);
    }

    #[tokio::test]
    async fn incomplete_request_is_none() {
        let raw = b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc";
        assert_eq!(read_request(&mut &raw[..], 0).await.unwrap(), None);
        let raw = b"POST / HTTP/1.1\r\n";
        assert_eq!(read_request(&mut &raw[..], 0).await.unwrap(), None);
    }
}
