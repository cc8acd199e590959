//! A real `redis-server` (Debian's) for tests.

use super::free_port;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A real redis-server on loopback with AOF (`appendfsync always`), so a kill loses nothing
/// that was acknowledged to a client.
pub struct Redis {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    /// TLS only (`--port 0 --tls-port`), with this certificate and key, when set.
    tls: Option<(PathBuf, PathBuf)>,
}

impl Redis {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("iw-redis-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Redis { child: None, port: free_port(), dir, tls: None };
        r.spawn();
        r
    }

    /// A redis-server that speaks TLS only, with `cert` and `key` (PEM); no client certificates.
    pub fn start_tls(cert: &std::path::Path, key: &std::path::Path) -> Self {
        let dir = std::env::temp_dir().join(format!("iw-redis-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let tls = Some((cert.to_path_buf(), key.to_path_buf()));
        let mut r = Redis { child: None, port: free_port(), dir, tls };
        r.spawn();
        r
    }

    pub fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--bind", "127.0.0.1", "--save", ""]).args([
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            self.dir.to_str().unwrap(),
        ]);
        match &self.tls {
            None => cmd.args(["--port", &self.port.to_string()]),
            Some((cert, key)) => cmd
                .args(["--port", "0", "--tls-port", &self.port.to_string(), "--tls-auth-clients", "no"])
                .arg("--tls-cert-file")
                .arg(cert)
                .arg("--tls-key-file")
                .arg(key),
        };
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (make deps)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        if self.tls.is_some() {
            // Plain RESP cannot speak to a TLS port: wait for it to accept connections.
            while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
                assert!(Instant::now() < deadline, "redis-server (TLS) did not start");
                std::thread::sleep(Duration::from_millis(50));
            }
            return;
        }
        while self.command(&["PING"]).as_deref() != Some("+PONG\r\n") {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/0", self.port)
    }

    /// SIGKILL: no shutdown, no final save.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// One raw RESP command; the raw reply.
    pub fn command(&self, args: &[&str]) -> Option<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s.write_all(req.as_bytes()).ok()?;
        let mut buf = vec![0u8; 1 << 16];
        let n = s.read(&mut buf).ok()?;
        Some(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
