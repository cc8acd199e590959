//! Start the real `inference-server` binary on a loopback port and talk HTTP to it.

#![allow(dead_code)]

pub mod prometheus;
pub mod redis;
pub mod tls;
#[allow(unused_imports)]
pub use testkit::{free_port, mlflow, reserve, seaweedfs};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running server process; killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub port: u16,
}

pub fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

impl Server {
    /// Start with extra flags and wait until `/health` answers.
    pub async fn start(args: &[&str]) -> Self {
        Self::start_on(free_port(), args).await
    }

    /// Start on a given port and wait for `/ready`.
    pub async fn ready_on(port: u16, args: &[&str]) -> Self {
        let s = Self::start_on(port, args).await;
        s.wait_for("/ready", 200).await;
        s
    }

    /// Start on a given port and wait until `/health` answers.
    pub async fn start_on(port: u16, args: &[&str]) -> Self {
        Self::spawn(port, &[&["--log", "warn"], args].concat(), Stdio::null()).await
    }

    /// Start at log level info with standard output (the JSON log lines) written to `log`,
    /// and wait until `/health` answers.
    pub async fn start_logging_to(log: &Path, args: &[&str]) -> Self {
        let file = std::fs::File::create(log).unwrap();
        Self::spawn(free_port(), &[&["--log", "info", "--log-format", "json"], args].concat(), file.into()).await
    }

    async fn spawn(port: u16, args: &[&str], stdout: Stdio) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_inference-server"));
        cmd.args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(args)
            .stdout(stdout)
            .stderr(Stdio::inherit());
        if !args.contains(&"--model-dir") {
            cmd.arg("--model-dir").arg(models_dir());
        }
        let child = cmd.spawn().expect("server binary starts");
        let server = Self { child, base: format!("http://127.0.0.1:{port}"), port };
        server.wait_for("/health", 200).await;
        server
    }

    /// Start with the built-in models and wait for `/ready`.
    pub async fn ready(args: &[&str]) -> Self {
        let s = Self::start(args).await;
        s.wait_for("/ready", 200).await;
        s
    }

    pub async fn wait_for(&self, path: &str, status: u16) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = reqwest::get(format!("{}{path}", self.base)).await {
                if r.status().as_u16() == status {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "{path} never answered {status}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The load error `/ready` names for `model` once its load has failed (at most 30 s).
    pub async fn load_error(&self, model: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, ready) = self.get("/ready").await;
            let error = ready["models"][model]["error"].as_str().unwrap_or_default().to_string();
            if error != "not loaded" && !error.is_empty() || Instant::now() > deadline {
                return error;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let r = reqwest::get(self.url(path)).await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn text(&self, path: &str) -> (u16, String, String) {
        let r = reqwest::get(self.url(path)).await.unwrap();
        let ct = r.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_string()).unwrap_or_default();
        (r.status().as_u16(), ct, r.text().await.unwrap())
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let r = reqwest::Client::new().post(self.url(path)).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, serde_json::Value) {
        let r = reqwest::Client::new()
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    /// Stop with SIGTERM (a graceful shutdown) and wait for the process to exit.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status();
        let _ = self.child.wait();
    }

    /// The value of one series on `/metrics` (exact label set as the server writes it), or
    /// `None` when the series is absent.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let (_, _, text) = self.text("/metrics").await;
        text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.split(' ').next()?.parse().ok())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run the server with `args` (and the built-in models, port 0) expecting it to refuse to
/// start; its output, for the message it gave.
pub fn start_refused(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_inference-server"))
        .args(["--port", "0", "--preload", "sentiment", "--log-format", "pretty", "--model-dir"])
        .arg(models_dir())
        .args(args)
        .output()
        .expect("the server binary runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "started with {args:?}: {text}");
    text
}

/// Owned arguments as the `&str`s the server starters take.
pub fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A fresh directory under the system temp dir for this test process.
pub fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("inferwatch-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A model directory holding copies of the built-in packages `names`; those in `corrupted`
/// get a flipped last byte in `model.onnx`, so their checksum fails and every load of them does.
pub fn model_dir_with(tag: &str, names: &[&str], corrupted: &[&str]) -> PathBuf {
    let dir = tempdir(tag);
    for name in names {
        let dst = dir.join(name);
        std::fs::create_dir_all(&dst).unwrap();
        for f in std::fs::read_dir(models_dir().join(name)).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), dst.join(f.file_name())).unwrap();
        }
        if corrupted.contains(name) {
            let onnx = dst.join("model.onnx");
            let mut bytes = std::fs::read(&onnx).unwrap();
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
            std::fs::write(&onnx, bytes).unwrap();
        }
    }
    dir
}

/// Assert the error body shape and return its message.
pub fn error_of(body: &serde_json::Value, kind: &str) -> String {
    assert_eq!(body["type"], kind, "body: {body}");
    let msg = body["error"].as_str().unwrap_or_default().to_string();
    assert!(!msg.is_empty(), "error message is empty: {body}");
    msg
}
