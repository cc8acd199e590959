//! Just enough HTTP for the suite: GETs and POSTs to the processes and pods it starts, and a
//! webhook sink for Alertmanager's notifications. Written on `std::net` so the e2e crate does not pull an
//! HTTP stack into its own build (it compiles apart from the workspace's test build).

use anyhow::{bail, Context as _, Result};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `GET path` on `addr` (HTTP/1.0, so the answer is never chunked); the body of a 200.
pub fn get(addr: &str, path: &str) -> Result<String> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut text = String::new();
    s.read_to_string(&mut text)?;
    let status = text.lines().next().unwrap_or_default().to_string();
    if !status.starts_with("HTTP/1.0 200") && !status.starts_with("HTTP/1.1 200") {
        bail!("GET {path} on {addr}: {status}");
    }
    Ok(text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// `POST path` with a JSON `body` on `addr` (HTTP/1.0: one connection per request, as a client
/// without a pool makes them); the status and the body, whatever the status. A server may answer
/// and close before the body is sent (a refusal by size or load): the answer is still read, and
/// when none arrived the error says [`CLOSED_EARLY`].
pub fn post(addr: &str, path: &str, body: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    let head = format!(
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let written = s.write_all(head.as_bytes()).and_then(|()| s.write_all(body.as_bytes()));
    let mut raw = Vec::new();
    let read = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw);
    match text.split_whitespace().nth(1).and_then(|c| c.parse().ok()) {
        Some(status) => Ok((status, text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())),
        None => match (written, read) {
            (Err(e), _) => bail!("POST {path} on {addr}: {CLOSED_EARLY} ({e})"),
            (Ok(()), Err(e)) => bail!("POST {path} on {addr}: reading the answer: {e}"),
            (Ok(()), Ok(_)) => bail!("POST {path} on {addr}: no status line in {text:?}"),
        },
    }
}

/// What [`post`] says when the server closed the connection before the body was sent and no
/// answer could be read.
pub const CLOSED_EARLY: &str = "closed before the body was sent";

/// Percent-encode a query-string value.
pub fn query_escape(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A Prometheus instant query on `addr`: the `data.result` vector.
pub fn prometheus_query(addr: &str, expr: &str) -> Result<Vec<Value>> {
    let body = get(addr, &format!("/api/v1/query?query={}", query_escape(expr)))?;
    let v: Value = serde_json::from_str(&body)?;
    if v["status"] != "success" {
        bail!("{expr}: {v}");
    }
    Ok(v["data"]["result"].as_array().cloned().unwrap_or_default())
}

/// Records the path and JSON body of every POST it receives, until dropped with the test.
pub struct WebhookSink {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    seen: Arc<Mutex<Vec<(String, Value)>>>,
}

impl WebhookSink {
    /// Listen on a free loopback port.
    pub fn start() -> Result<Self> {
        Self::start_on("127.0.0.1")
    }

    /// Listen on a free port of `ip` (the real node's bridge address, for receivers in pods).
    pub fn start_on(ip: &str) -> Result<Self> {
        let listener = TcpListener::bind((ip, 0))?;
        let url = format!("http://{}", listener.local_addr()?);
        let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
        let store = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                if let Ok(Some(post)) = read_post(conn) {
                    if let Ok(mut s) = store.lock() {
                        s.push(post);
                    }
                }
            }
        });
        Ok(Self { url, seen })
    }

    /// Every (path, body) so far.
    pub fn seen(&self) -> Vec<(String, Value)> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The alerts named `alertname` with `status` (firing/resolved) posted to `path`.
    pub fn alerts(&self, path: &str, alertname: &str, status: &str) -> Vec<Value> {
        self.seen()
            .into_iter()
            .filter(|(p, _)| p == path)
            .flat_map(|(_, body)| body["alerts"].as_array().cloned().unwrap_or_default())
            .filter(|a| a["labels"]["alertname"] == alertname && a["status"] == status)
            .collect()
    }
}

fn read_post(conn: TcpStream) -> Result<Option<(String, Value)>> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length.min(16 << 20)];
    reader.read_exact(&mut body)?;
    let mut conn = conn;
    conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    Ok(line.starts_with("POST").then(|| (path, serde_json::from_slice(&body).unwrap_or(Value::Null))))
}
