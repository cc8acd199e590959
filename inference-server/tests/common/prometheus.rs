//! A real Prometheus (the pinned binary `make test` installs) scraping the given targets every
//! second and evaluating the given rule file, for tests; killed when dropped.

use serde_json::{json, Value};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Prometheus {
    child: Child,
    /// `http://127.0.0.1:<port>` (`https://` with [`Web`]).
    pub url: String,
    /// The client of [`Prometheus::query`] (trusting the test CA, with the basic auth user).
    client: reqwest::Client,
    auth: Option<(String, String)>,
}

/// Prometheus' own `--web.config.file`: TLS with a test CA's certificate, and one basic-auth user.
pub struct Web {
    /// The CA that signed `cert` (PEM).
    pub ca: std::path::PathBuf,
    /// Server certificate and key (PEM).
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
    /// The basic-auth user, its password, and the password's bcrypt hash (what Prometheus stores).
    pub user: String,
    pub password: String,
    pub bcrypt: String,
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
        Self::start_with(dir, rules, targets, alertmanager, None).await
    }

    /// As [`Prometheus::start`], serving HTTPS with basic auth when `web` is given.
    pub async fn start_with(
        dir: &Path,
        rules: &Value,
        targets: &[String],
        alertmanager: Option<&str>,
        web: Option<&Web>,
    ) -> Self {
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
        let mut args = vec![
            format!("--config.file={}", dir.join("prometheus.yml").display()),
            format!("--storage.tsdb.path={}", dir.join("prom-data").display()),
            format!("--web.listen-address=127.0.0.1:{port}"),
        ];
        let mut client = reqwest::Client::builder();
        if let Some(w) = web {
            let config = json!({
                "tls_server_config": {"cert_file": w.cert, "key_file": w.key},
                "basic_auth_users": {w.user.clone(): w.bcrypt},
            });
            std::fs::write(dir.join("web.yml"), serde_json::to_string(&config).unwrap()).unwrap();
            args.push(format!("--web.config.file={}", dir.join("web.yml").display()));
            let ca = reqwest::Certificate::from_pem(&std::fs::read(&w.ca).unwrap()).unwrap();
            client = client.add_root_certificate(ca);
        }
        let child = Command::new("prometheus")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed (make test installs it)");
        let scheme = if web.is_some() { "https" } else { "http" };
        let p = Self {
            child,
            url: format!("{scheme}://127.0.0.1:{port}"),
            client: client.build().unwrap(),
            auth: web.map(|w| (w.user.clone(), w.password.clone())),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !p.get("/-/ready").send().await.is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < deadline, "{} never came up", p.url);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        p
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        let r = self.client.get(format!("{}{path}", self.url));
        match &self.auth {
            Some((user, password)) => r.basic_auth(user, Some(password)),
            None => r,
        }
    }

    /// The result vector of an instant query.
    pub async fn query(&self, expr: &str) -> Vec<Value> {
        let r: Value = self.get("/api/v1/query").query(&[("query", expr)]).send().await.unwrap().json().await.unwrap();
        assert_eq!(r["status"], "success", "{expr}: {r}");
        r["data"]["result"].as_array().cloned().unwrap_or_default()
    }
}
