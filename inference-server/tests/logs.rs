//! The server's logs against the retention classes: the real binary (with a real
//! `redis-server` for batch jobs) writes its JSON lines to a file; each line is sorted by the
//! Promtail / Grafana Alloy template the generator ships (`log_classes::go_template`), run by
//! gtmpl, a Go text/template engine, as the shipper would run it; and every class must get the
//! events it exists for. The shipper itself (Promtail, Alloy, Vector) does not run here: no
//! binary of theirs is on this machine, and Promtail and Loki are AGPL.

mod common;

use common::redis::Redis;
use common::Server;
use inferwatch_monitoring::log_classes::{self, ACCESS, AUDIT, PREDICTION};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// A parsed log line and the class the generated pipeline gives it.
struct Line {
    class: String,
    json: Value,
}

impl Line {
    fn str(&self, field: &str) -> &str {
        self.json[field].as_str().unwrap_or_default()
    }
}

/// Every line of `log`, each of which must be one JSON object, sorted by the generated template.
fn classified(log: &Path) -> Vec<Line> {
    let template = log_classes::go_template();
    let text = std::fs::read_to_string(log).unwrap();
    text.lines()
        .map(|l| {
            let json: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("not one JSON object ({e}): {l}"));
            let target = json["target"].as_str().unwrap_or_default().to_string();
            let level = json["level"].as_str().unwrap_or_default().to_string();
            let fields: HashMap<String, gtmpl::Value> =
                [("target".to_string(), target.clone().into()), ("level".to_string(), level.clone().into())].into();
            let class = gtmpl::template(&template, gtmpl::Value::from(fields)).unwrap();
            assert_eq!(class, log_classes::classify(&target, &level), "{l}");
            Line { class, json }
        })
        .collect()
}

async fn post(s: &Server, path: &str, request_id: Option<&str>, body: Value) -> (u16, reqwest::header::HeaderMap) {
    let mut r = reqwest::Client::new().post(s.url(path)).json(&body);
    if let Some(id) = request_id {
        r = r.header("x-request-id", id);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.headers().clone())
}

async fn job_done(s: &Server, id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = s.get(&format!("/v1/jobs/{id}")).await;
        if body["status"] == "done" {
            return;
        }
        assert!(Instant::now() < deadline, "job never finished: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn every_retention_class_receives_the_events_meant_for_it() {
    let redis = Redis::start();
    let dir = common::model_dir_with("logs-models", &["sentiment", "topic", "trend", "email"], &["email"]);
    let log = common::tempdir("logs").join("server.jsonl");
    let redis_url = redis.url();
    let mut s = Server::start_logging_to(
        &log,
        &[
            "--model-dir",
            dir.to_str().unwrap(),
            "--preload",
            "sentiment",
            "--cache-max-models",
            "2",
            "--redis-url",
            &redis_url,
            "--access-log-sample",
            "1",
            "--prediction-log-sample",
            "1",
            "--prediction-log-payload",
            "true",
        ],
    )
    .await;
    s.wait_for("/ready", 200).await;

    let text = "the service was wonderful and the food even better";
    let (status, headers) = post(&s, "/v1/models/sentiment/predict", Some("order-7"), json!({"text": text})).await;
    assert_eq!(status, 200);
    let prediction_id = headers["x-prediction-id"].to_str().unwrap().to_string();
    let (status, headers) = post(&s, "/v1/models/sentiment/predict", None, json!({"text": 7})).await;
    assert_eq!(status, 422);
    let minted = headers["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(minted.len(), 24, "a request without an id gets a fresh one: {minted}");
    let (status, _) = post(&s, "/v1/models/email/predict", None, json!({"subject": "hi", "body": "x"})).await;
    assert_eq!(status, 503, "the corrupted email package fails its load");
    let (status, _) = post(&s, "/v1/models/topic/predict", None, json!({"text": "the rocket reached orbit"})).await;
    assert_eq!(status, 200);
    let (status, _) =
        post(&s, "/v1/models/trend/predict", None, json!({"values": [1, 2, 3, 4, 5, 6], "horizon": 2})).await;
    assert_eq!(status, 200, "trend loads and the least recently used model leaves the two-model cache");
    let (status, body) = s
        .post("/v1/models/topic/jobs", json!({"inputs": [{"text": "stocks fell"}, {"text": "the match was won"}]}))
        .await;
    assert_eq!(status, 202, "{body}");
    let job = body["job_id"].as_str().unwrap().to_string();
    job_done(&s, &job).await;
    let _ = s.get("/metrics").await;
    let written = s.metric(r#"inferwatch_log_lines_total{log="access",outcome="written"}"#).await;
    s.terminate();

    let lines = classified(&log);
    let of = |class: &'static str| lines.iter().filter(move |l| l.class == class);

    // audit: every kind of event, each with its fields.
    let events: Vec<&str> = of("audit").map(|l| l.str("event")).collect();
    for e in ["config", "model_loaded", "model_evicted", "model_failed", "job_accepted", "job_finished"] {
        assert!(events.contains(&e), "no {e} audit event in {events:?}");
    }
    let config = of("audit").find(|l| l.str("event") == "config").unwrap();
    assert_eq!(config.json["concurrency_limit"], 256);
    assert_eq!(config.json["prediction_log_payload"], true);
    let failed = of("audit").find(|l| l.str("event") == "model_failed").unwrap();
    assert_eq!((failed.str("model"), failed.str("level")), ("email", "WARN"), "kept a year although at WARN");
    let finished = of("audit").find(|l| l.str("event") == "job_finished").unwrap();
    assert_eq!(
        (finished.str("job"), finished.str("state"), &finished.json["items"]),
        (job.as_str(), "done", &json!(2))
    );
    assert!(of("audit").all(|l| l.str("target") == AUDIT));

    // performance: access lines with the route template, and prediction lines.
    let access: Vec<&Line> = lines.iter().filter(|l| l.str("target") == ACCESS).collect();
    let ok = access.iter().find(|l| l.str("request_id") == "order-7").expect("an access line for order-7");
    assert_eq!(ok.class, "performance");
    assert_eq!(
        (ok.str("method"), ok.str("route"), &ok.json["status"]),
        ("POST", "/v1/models/{name}/predict", &json!(200))
    );
    assert!(ok.json["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0), "{}", ok.json);
    assert!(access.iter().any(|l| l.str("request_id") == minted && l.json["status"] == 422));
    assert!(
        access.iter().all(|l| !["/ready", "/health", "/metrics"].contains(&l.str("route"))),
        "probes and scrapes get no access lines"
    );
    assert_eq!(written, Some(access.len() as f64), "the written counter counts the lines written");
    let p = lines
        .iter()
        .find(|l| l.str("target") == PREDICTION && l.str("prediction_id") == prediction_id)
        .expect("a prediction line for the answered id");
    assert_eq!(p.class, "performance");
    assert_eq!(
        (p.str("model"), p.str("label"), p.str("request_id"), p.str("payload")),
        ("sentiment", "positive", "order-7", text)
    );
    assert!(p.json["confidence"].as_f64().is_some_and(|c| c > 0.5), "{}", p.json);
    assert!(p.json["version"].is_string());
    let job_lines = lines.iter().filter(|l| l.str("target") == PREDICTION && l.str("model") == "topic").count();
    assert_eq!(job_lines, 3, "one line for the topic request and one per job item");
    let trend = lines.iter().find(|l| l.str("target") == PREDICTION && l.str("model") == "trend").unwrap();
    assert!(trend.json["value"].is_f64() && ["up", "down", "flat"].contains(&trend.str("label")), "{}", trend.json);

    // errors: the 5xx access line; application: the rest (startup).
    let failed_request = of("errors").find(|l| l.str("target") == ACCESS).expect("the 503 access line is an error");
    assert_eq!((&failed_request.json["status"], failed_request.str("level")), (&json!(503), "WARN"));
    assert!(of("application").any(|l| l.str("message") == "listening"), "the startup line is application");
}

#[tokio::test]
async fn the_per_second_cap_holds_lines_back_and_counts_them() {
    let log = common::tempdir("logs-cap").join("server.jsonl");
    let mut s = Server::start_logging_to(
        &log,
        &["--preload", "sentiment", "--log-max-lines-per-second", "2", "--prediction-log-sample", "0"],
    )
    .await;
    s.wait_for("/ready", 200).await;
    for i in 0..10 {
        let (status, _) = post(&s, "/v1/models/sentiment/predict", None, json!({"text": format!("fine {i}")})).await;
        assert_eq!(status, 200);
    }
    let written = s.metric(r#"inferwatch_log_lines_total{log="access",outcome="written"}"#).await.unwrap_or(0.0);
    let limited = s.metric(r#"inferwatch_log_lines_total{log="access",outcome="rate_limited"}"#).await.unwrap_or(0.0);
    s.terminate();
    let lines = classified(&log);
    let access = lines.iter().filter(|l| l.str("target") == ACCESS).count();
    assert_eq!(written + limited, 10.0, "every request is written or counted");
    assert!(limited >= 1.0, "ten requests in a second or two exceed a cap of two ({written} written)");
    assert_eq!(written, access as f64);
    assert!(lines.iter().all(|l| l.str("target") != PREDICTION), "a sample of 0 writes no prediction lines");
}
