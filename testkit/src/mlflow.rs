//! A real MLflow tracking server (`mlflow server` from the pinned .cache/venv-mlflow) with a
//! SQLite backend store and an S3 artifact store, on loopback. Killed on drop.

use crate::{free_port, models_dir};
use serde_json::Value;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

fn repo() -> PathBuf {
    crate::repo_root()
}

/// A real MLflow tracking server. Killed on drop.
pub struct Mlflow {
    child: Option<Child>,
    host: String,
    port: u16,
    dir: PathBuf,
    s3_endpoint: String,
}

impl Mlflow {
    /// On loopback, its artifacts in the S3 bucket `mlflow` at `s3_endpoint`.
    pub fn start(s3_endpoint: String) -> Self {
        Self::start_on("127.0.0.1", s3_endpoint)
    }

    /// Listening on `host` (the e2e node's bridge address, so pods reach it).
    pub fn start_on(host: &str, s3_endpoint: String) -> Self {
        let dir = std::env::temp_dir().join(format!("iw-mlflow-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut m = Mlflow { child: None, host: host.to_string(), port: free_port(), dir, s3_endpoint };
        m.spawn();
        m
    }

    pub fn url(&self) -> String {
        format!("http://{}:{}", self.host, self.port)
    }

    pub fn spawn(&mut self) {
        let log = std::fs::File::create(self.dir.join("mlflow.log")).unwrap();
        let child = Command::new(repo().join(".cache/venv-mlflow/bin/mlflow"))
            .process_group(0)
            .args(["server", "--host", &self.host, "--port", &self.port.to_string(), "--workers", "1"])
            .arg("--backend-store-uri")
            .arg(format!("sqlite:///{}", self.dir.join("mlflow.db").display()))
            .args(["--default-artifact-root", "s3://mlflow/artifacts", "--no-serve-artifacts"])
            .env("MLFLOW_S3_ENDPOINT_URL", &self.s3_endpoint)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("mlflow is installed (make deps creates .cache/venv-mlflow)");
        self.child = Some(child);
        let health = format!("{}/health", self.url());
        crate::wait_until("mlflow server", &self.dir.join("mlflow.log"), Duration::from_secs(120), || {
            Command::new("curl").args(["-sf", &health]).output().is_ok_and(|o| o.status.success())
        });
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            // `mlflow server` runs gunicorn and its workers: kill the whole process group.
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", c.id())]).status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Register built-in packages (alias `champion`); the JSON lines the helper prints.
    pub fn register(&self, names: &[&str]) -> Vec<Value> {
        self.register_from(&models_dir(), names)
    }

    /// Register the packages `names` of `models` as new versions (alias `champion` moves to
    /// them); the JSON lines the helper prints.
    pub fn register_from(&self, models: &std::path::Path, names: &[&str]) -> Vec<Value> {
        let out = Command::new(repo().join(".cache/venv-mlflow/bin/python"))
            .arg(repo().join("tests/mlflow/register_models.py"))
            .args(["--tracking-uri", &self.url(), "--models-dir", models.to_str().unwrap()])
            .args(names)
            .env("MLFLOW_S3_ENDPOINT_URL", &self.s3_endpoint)
            .output()
            .unwrap();
        assert!(out.status.success(), "register_models.py failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with('{'))
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Mlflow {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
