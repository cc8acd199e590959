//! `inference-server probe [URL]`: one HTTP GET, exit 0 when it answers 200. For container
//! health checks where the image has no shell or curl (the distroless image; `compose.yaml`).
//! Written on `std::net` rather than with an HTTP client crate: it runs once, on loopback, and
//! must not start a runtime.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Default target: the readiness probe of a server on the default port.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080/ready";

/// Why a probe failed.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The URL is not `http://host:port/path`.
    #[error("probe URL must look like http://host:port/path, got {0}")]
    Url(String),
    /// Connecting, writing or reading failed.
    #[error("probe failed: {0}")]
    Io(#[from] std::io::Error),
    /// The server answered something other than 200.
    #[error("probe answered: {0}")]
    Status(String),
}

/// GET `url` with a 2-second budget per step; `Ok` on a 200 answer.
pub fn probe(url: &str) -> Result<(), ProbeError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| ProbeError::Url(url.into()))?;
    let (authority, path) = rest.split_once('/').map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let addr = authority
        .to_socket_addrs()
        .map_err(|_| ProbeError::Url(url.into()))?
        .next()
        .ok_or_else(|| ProbeError::Url(url.into()))?;
    let timeout = Duration::from_secs(2);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n")?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..n]);
    let status = line.lines().next().unwrap_or_default().to_string();
    if status.split_whitespace().nth(1) == Some("200") {
        Ok(())
    } else {
        Err(ProbeError::Status(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_that_is_not_plain_http_is_refused() {
        assert!(matches!(probe("https://x:1/ready"), Err(ProbeError::Url(_))));
        assert!(matches!(probe("http://"), Err(ProbeError::Url(_))));
    }

    #[test]
    fn nothing_listening_is_an_io_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap();
        assert!(matches!(probe(&format!("http://127.0.0.1:{port}/ready")), Err(ProbeError::Io(_))));
    }
}
