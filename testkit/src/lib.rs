//! Test support shared by `inference-server`'s integration tests and the cluster e2e suite:
//! real SeaweedFS ([`seaweedfs`]) and MLflow ([`mlflow`]) processes started from the pinned
//! builds `make deps` makes, and ports handed out once per test process.

pub mod layers;
pub mod mlflow;
pub mod seaweedfs;

use std::net::TcpListener;
use std::path::PathBuf;

/// The repository's root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The built-in model packages (`models/`).
pub fn models_dir() -> PathBuf {
    repo_root().join("models")
}

/// A loopback port that is free now and has not been handed out before in this test process, so
/// two servers started side by side (and a SeaweedFS's gRPC companions) never get the same one.
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if reserve(port) {
            return port;
        }
    }
}

/// Poll `ready` until it holds, failing the test after `timeout` with `what` and the process's
/// log file to read.
pub fn wait_until(what: &str, log: &std::path::Path, timeout: std::time::Duration, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "{what} did not start; see {}", log.display());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// Mark `port` as handed out; false if it already was.
pub fn reserve(port: u16) -> bool {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    if handed_out.contains(&port) {
        return false;
    }
    handed_out.push(port);
    true
}
