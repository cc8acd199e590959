//! A real Prometheus (the pinned binary `make test` installs) scraping the given targets every
//! second and evaluating the given rule file, for tests; killed when dropped.

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Wait until `url` answers 2xx (at most a minute).
pub async fn wait_http(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !reqwest::get(url).await.map(|r| r.status().is_success()).unwrap_or(false) {
        assert!(Instant::now() < deadline, "{url} never came up");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

impl Prometheus {
    /// Start with its config and data in `dir`, scraping `targets` (host:port, job `inferwatch`,
    /// label namespace="test") with `rules` loaded, alerting to `alertmanager` when given; wait
    /// until it is ready.
    pub async fn start(dir: &Path, rules: &Value, targets: &[String], alertmanager: Option<&str>) -> Self {
        std::fs::write(dir.join("rules.yml"), serde_json::to_string(rules).unwrap()).unwrap();
        let port = super::free_port();
        let mut cfg = json!({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "900ms"},
            "rule_files": [dir.join("rules.yml")],
            "scrape_configs": [{"job_name": "inferwatch", "static_configs": [{"targets": targets, "labels": {"namespace": "test"}}]}],
        });
        if let Some(am) = alertmanager {
            cfg["alerting"] = json!({"alertmanagers": [{"static_configs": [{"targets": [am]}]}]});
        }
        std::fs::write(dir.join("prometheus.yml"), serde_json::to_string(&cfg).unwrap()).unwrap();
        let child = Command::new("prometheus")
            .args([
                &format!("--config.file={}", dir.join("prometheus.yml").display()),
                &format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
                &format!("--web.listen-address=127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed (make test installs it)");
        let p = Self { child, url: format!("http://127.0.0.1:{port}") };
        wait_http(&format!("{}/-/ready", p.url)).await;
        p
    }

    /// The result vector of an instant query.
    pub async fn query(&self, expr: &str) -> Vec<Value> {
        let r: Value = reqwest::Client::new()
            .get(format!("{}/api/v1/query", self.url))
            .query(&[("query", expr)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(r["status"], "success", "{expr}: {r}");
        r["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}
