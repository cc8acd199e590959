//! The monitoring contract against real components: a real Prometheus scrapes the real server
//! (with the generated recording rules and alerts loaded) while mixed traffic runs; every
//! dashboard query must return data; then the server is killed for real and a real
//! Alertmanager, with the shipped routing, delivers the critical alert to a local webhook sink,
//! and the resolution when the server is back. Grafana itself cannot run here: the dashboards'
//! queries are what is proven, against Prometheus.

mod common;

use common::prometheus::{wait_http, Prometheus};
use common::Server;
use inferwatch_monitoring::{alertmanager, alerts, dashboards};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Panels (title, query index) that are legitimately empty under this test's traffic.
const EMPTY_ALLOWED: &[(&str, usize, &str)] = &[
    ("Dependency errors", 0, "Redis answers every command in this test"),
    ("Redis (redis_exporter)", 0, "no redis_exporter runs in this test (external exporter)"),
    ("Redis (redis_exporter)", 1, "no redis_exporter runs in this test (external exporter)"),
    ("Redis (redis_exporter)", 2, "no redis_exporter runs in this test (external exporter)"),
    ("MinIO (its Prometheus endpoint)", 0, "no MinIO runs in this test (external exporter)"),
    ("MinIO (its Prometheus endpoint)", 1, "no MinIO runs in this test (external exporter)"),
    ("MinIO (its Prometheus endpoint)", 2, "no MinIO runs in this test (external exporter)"),
    ("Model load failures", 0, "no model fails to load in this test"),
    ("Memory", 1, "the test process may run without a cgroup memory limit"),
    ("Success and errors", 2, "no user request fails with a 5xx here (tests/slo.rs injects them)"),
    ("Memory saturation", 0, "the test process may run without a cgroup memory limit"),
    ("Time to exhaustion", 0, "memory must grow over the hour and have a limit"),
    ("Time to exhaustion", 1, "the model cache must grow over the hour; here it is full from the start"),
    ("Operator replicas up and leading", 0, "no operator runs in this test (e2e/tests/real_pods.rs runs it)"),
    ("Operator replicas up and leading", 1, "no operator runs in this test"),
    ("Reconciles by result", 0, "no operator runs in this test"),
    ("Reconcile duration (p50 / p99)", 0, "no operator runs in this test"),
    ("Reconcile duration (p50 / p99)", 1, "no operator runs in this test"),
    (
        "Drift above threshold",
        0,
        "whether a drift alert is pending depends on this test's odd traffic; tests/quality/test_drift.py fires them",
    ),
];

struct Proc(Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn tmp(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("inferwatch-stack-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A webhook sink: records (path, body) of every POST.
async fn sink() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    let seen: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let store = seen.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, body: axum::body::Bytes| {
        let store = store.clone();
        async move {
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            store.lock().unwrap().push((uri.path().to_string(), v));
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

/// Ground truth for a prediction answer (one item or `predictions`): one feedback item per
/// prediction, from `truth(i)`, sent to the model's feedback route.
async fn feed_back(
    c: &reqwest::Client,
    s: &Server,
    model: &str,
    answer: Option<Value>,
    truth: impl Fn(usize) -> Value,
) {
    let Some(answer) = answer else { return };
    let items: Vec<Value> = answer["predictions"].as_array().cloned().unwrap_or_else(|| vec![answer.clone()]);
    let feedback: Vec<Value> = items
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let mut f = truth(i);
            f["prediction_id"] = p.get("prediction_id")?.clone();
            Some(f)
        })
        .collect();
    let _ = c.post(s.url(&format!("/v1/models/{model}/feedback"))).json(&json!({ "feedback": feedback })).send().await;
}

async fn traffic(s: &Server) {
    let c = reqwest::Client::new();
    let post = |path: &str, body: Value| c.post(s.url(path)).json(&body).send();
    let answer = |r: reqwest::Result<reqwest::Response>| async move { r.ok()?.json::<Value>().await.ok() };
    for i in 0..30 {
        let r = post("/v1/models/sentiment/predict", json!({"inputs": [{"text": format!("a wonderful film {i}")}, {"text": "dull and awful"}, {"text": "it is a film"}]})).await;
        let labels = ["positive", "negative", "neutral"];
        feed_back(&c, s, "sentiment", answer(r).await, |k| json!({"label": labels[k], "satisfaction": 4})).await;
        let r = post("/v1/models/topic/predict", json!({"text": "the space shuttle orbit and nasa launch"})).await;
        feed_back(&c, s, "topic", answer(r).await, |_| json!({"label": "sci.space"})).await;
        let r = post("/v1/models/email/predict", json!({"inputs": [{"subject": "WIN MONEY", "body": "click here free prize"}, {"subject": "meeting", "body": "see you at the standup"}]})).await;
        let labels = ["spam", "ham"];
        feed_back(&c, s, "email", answer(r).await, |k| json!({"label": labels[k], "thumbs": "up"})).await;
        let r = post("/v1/models/recsys/predict", json!({"inputs": [{"user_id": "196", "item_id": "242"}, {"user_id": format!("new-{i}"), "item_id": "242"}]})).await;
        feed_back(&c, s, "recsys", answer(r).await, |k| json!({"rating": 4.0 - k as f64})).await;
        let r =
            post("/v1/models/trend/predict", json!({"values": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], "horizon": 3}))
                .await;
        feed_back(&c, s, "trend", answer(r).await, |_| json!({"values": [13.5, 14.0, 15.5]})).await;
        let _ = post("/v1/models/trend/predict", json!({"values": [1, 2, 3], "horizon": 2})).await;
        let _ = post(
            "/v2/models/sentiment/infer",
            json!({"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": ["fine"]}]}),
        )
        .await;
        // bad requests: 422, 404, 400
        let _ = post("/v1/models/sentiment/predict", json!({"text": ""})).await;
        let _ = post("/v1/models/nope/predict", json!({"text": "x"})).await;
        let _ =
            c.post(s.url("/v1/models/topic/predict")).header("content-type", "application/json").body("{").send().await;
        if i == 0 {
            let _ = post("/v1/models/sentiment/predict", json!({"text": "x".repeat(3_000_000)})).await;
        }
        if i % 10 == 0 {
            let _ = post("/v1/models/email/jobs", json!({"inputs": [{"subject": "hi", "body": "lunch?"}]})).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sees_every_dashboard_query_and_alertmanager_pages_on_a_real_outage() {
    // The cache holds four models and trend is not preloaded: trend traffic causes real
    // misses, loads and evictions.
    let server_port = port();
    // A real Redis behind the batch queue, so the queue and dependency panels have data.
    let redis = common::redis::Redis::start();
    let redis_url = redis.url();
    // A CPU request and no cgroup CPU limit, as the operator's default resources: the capacity
    // panels must fill from the request.
    let args = [
        "--preload",
        "sentiment,topic,email,recsys",
        "--cache-max-models",
        "4",
        "--redis-url",
        &redis_url,
        "--cpu-request-millicores",
        "500",
    ];
    let mut server = Some(Server::ready_on(server_port, &args).await);

    let (sink_url, seen) = sink().await;
    let dir = tmp("cfg");
    let am_port = port();
    let timing = alertmanager::RouteTiming {
        critical: ("1s".into(), "2s".into(), "1h".into()),
        ..alertmanager::RouteTiming::default()
    };
    let receivers = alertmanager::Receivers {
        page: format!("{sink_url}/page"),
        team: format!("{sink_url}/team"),
        digest: format!("{sink_url}/digest"),
    };
    std::fs::write(
        dir.join("alertmanager.yml"),
        serde_json::to_string(&alertmanager::config(&receivers, &timing)).unwrap(),
    )
    .unwrap();
    let _am = Proc(
        Command::new("prometheus-alertmanager")
            .args([
                &format!("--config.file={}", dir.join("alertmanager.yml").display()),
                &format!("--storage.path={}", dir.join("am-data").display()),
                &format!("--web.listen-address=127.0.0.1:{am_port}"),
                "--cluster.listen-address=",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-alertmanager is installed (make test installs it)"),
    );

    let scope = alerts::Scope { selector: r#"job="inferwatch""#.into(), ..alerts::Scope::default() };
    let fast = alerts::Timing {
        critical: "5s".into(),
        warning: "30s".into(),
        info: "30s".into(),
        rate_window: "30s".into(),
        baseline_window: "2m".into(),
    };
    // A short drift window and a small minimum so this short test's traffic has a PSI.
    let drift = inferwatch_monitoring::drift::Drift { window: "2m".into(), min_observations: 10, ..Default::default() };
    let rules = alerts::rule_file(&alerts::Slo { drift, ..alerts::Slo::default() }, &scope, &fast);
    let am = format!("127.0.0.1:{am_port}");
    let prom = Prometheus::start(
        &dir,
        &serde_json::to_value(&rules).unwrap(),
        &[format!("127.0.0.1:{server_port}")],
        Some(&am),
    )
    .await;
    wait_http(&format!("http://127.0.0.1:{am_port}/-/ready")).await;

    traffic(server.as_ref().unwrap()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let mut empty = Vec::new();
    let mut checked = 0;
    for d in dashboards::all() {
        for p in &d.panels {
            for (i, (expr, _)) in p.queries.iter().enumerate() {
                let expr = expr.replace("$namespace", ".*").replace("$model", ".*");
                checked += 1;
                if prom.query(&expr).await.is_empty() && !EMPTY_ALLOWED.iter().any(|(t, j, _)| *t == p.title && *j == i)
                {
                    empty.push(format!("{} / {} #{i}: {expr}", d.uid, p.title));
                }
            }
        }
    }
    assert!(empty.is_empty(), "{} of {checked} dashboard queries returned no data:\n{}", empty.len(), empty.join("\n"));
    assert!(
        !prom.query("inferwatch:prediction_latency_seconds:quantile5m").await.is_empty(),
        "recording rules evaluate"
    );

    // A real outage: the server process dies.
    drop(server.take());
    let fired = wait_for_webhook(&seen, "/page", "firing").await;
    assert_eq!(fired["labels"]["severity"], "critical");
    assert_eq!(fired["labels"]["job"], "inferwatch");
    assert!(fired["annotations"]["runbook_url"].as_str().unwrap().ends_with("InferwatchTargetDown.md"));

    // It comes back: the alert resolves.
    let _server = Server::ready_on(server_port, &args).await;
    wait_for_webhook(&seen, "/page", "resolved").await;
}

/// Wait until the sink got an InferwatchTargetDown alert with `status` on `path`.
async fn wait_for_webhook(seen: &Arc<Mutex<Vec<(String, Value)>>>, path: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let found = seen.lock().unwrap().iter().find_map(|(p, body)| {
            (p == path)
                .then(|| body["alerts"].as_array().cloned().unwrap_or_default())
                .into_iter()
                .flatten()
                .find(|a| a["labels"]["alertname"] == "InferwatchTargetDown" && a["status"] == status)
        });
        if let Some(a) = found {
            return a;
        }
        assert!(
            Instant::now() < deadline,
            "no {status} InferwatchTargetDown on {path}; sink saw {:?}",
            seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
