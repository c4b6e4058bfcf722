//! The health check: `GET path` over a plain TCP connection until the
//! answer is `200`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The pause between two health checks while a child starts.
const INTERVAL: Duration = Duration::from_millis(100);
/// One health request may take this long.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Checks `GET path` at `addr` every [`INTERVAL`] until it answers `200`.
/// Never ends otherwise: the caller bounds it with the startup timeout and
/// the child's exit.
pub(super) async fn until_healthy(addr: SocketAddr, path: &str) {
    while !check(addr, path).await {
        tokio::time::sleep(INTERVAL).await;
    }
}

/// `GET path` over a plain TCP connection; whether the status is 200.
async fn check(addr: SocketAddr, path: &str) -> bool {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.ok()?;
        let mut head = Vec::with_capacity(64);
        let mut buf = [0u8; 64];
        while !head.contains(&b'\n') && head.len() < 1024 {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        let line = String::from_utf8_lossy(&head);
        let mut parts = line.split_whitespace();
        let version = parts.next()?;
        let code = parts.next()?;
        Some(version.starts_with("HTTP/") && code == "200")
    };
    matches!(tokio::time::timeout(TIMEOUT, attempt).await, Ok(Some(true)))
}
