//! Models from a real MLflow registry: `mlflow server` (PyPI, pinned in
//! tests/mlflow/requirements.txt) with a SQLite backend store and a real SeaweedFS as its S3
//! artifact store; tests/mlflow/register_models.py registers the built-in packages into it.
//! Resolution by alias, lineage in metadata and metrics, and the registry killed and back.

mod common;

use common::mlflow::Mlflow;
use common::seaweedfs::{credentials, SeaweedFs};
use common::{as_strs, error_of, free_port, Server};
use serde_json::json;
use std::path::{Path, PathBuf};

fn server_args(mlflow: &Mlflow, s3: &str, uri: &str, cache: &Path) -> Vec<String> {
    [
        "--model-source",
        "mlflow",
        "--mlflow-tracking-uri",
        &mlflow.url(),
        "--mlflow-model-uri",
        uri,
        "--s3-endpoint",
        s3,
        "--model-cache-dir",
        cache.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn cache_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("iw-mlflow-cache-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[tokio::test]
async fn a_registered_model_is_resolved_served_with_its_lineage_and_survives_the_registry_going_down() {
    credentials();
    let fs = SeaweedFs::start();
    fs.create_bucket("mlflow").await;
    let mut mlflow = Mlflow::start(fs.endpoint());
    let registered = mlflow.register(&["sentiment"]);
    let run_id = registered[0]["run_id"].as_str().unwrap().to_string();
    assert_eq!(registered[0]["version"], "1");

    let cache = cache_dir();
    let args = server_args(&mlflow, &fs.endpoint(), "models:/sentiment@champion", &cache);
    let s = Server::ready(&as_strs(&args)).await;
    let (status, body) = s.post("/v1/models/sentiment/predict", json!({"text": "what a great day"})).await;
    assert_eq!((status, body["label"].as_str()), (200, Some("positive")), "{body}");

    // Lineage: registered version, run id and alias.
    let (_, meta) = s.get("/v2/models/sentiment").await;
    let source = meta["parameters"]["source"].as_str().unwrap().to_string();
    assert!(source.starts_with("mlflow:models:/sentiment/1?"), "{source}");
    assert!(source.contains(&format!("run_id={run_id}")) && source.contains("alias=champion"), "{source}");
    let (_, _, metrics) = s.text("/metrics").await;
    assert!(metrics.contains(&format!("run_id={run_id}")), "the model info metric carries the lineage");
    assert!(metrics.contains(r#"inferwatch_dependency_up{dependency="registry",required="true"} 1"#), "{metrics}");
    assert!(metrics.contains(
        r#"inferwatch_dependency_request_duration_seconds_count{dependency="registry",operation="get_alias"}"#
    ));
    let (status, health) = s.get("/mlflow/health").await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["resolved"]["run_id"], run_id.as_str());
    // Polling the health route does not poll the registry: one check answers for two seconds.
    let checks = r#"inferwatch_dependency_request_duration_seconds_count{dependency="registry",operation="health"}"#;
    let before = s.metric(checks).await;
    for _ in 0..5 {
        assert_eq!(s.get("/mlflow/health").await.0, 200);
    }
    assert_eq!(s.metric(checks).await, before, "answered from the last check");

    // `--model-version` pins a registry version over the URI's alias: version 2 is registered
    // (the alias moves to it) and a server pinned to 1 resolves and serves 1.
    let second = mlflow.register(&["sentiment"]);
    assert_eq!(second[0]["version"], "2");
    let pinned_cache = cache_dir();
    let mut pinned_args = server_args(&mlflow, &fs.endpoint(), "models:/sentiment@champion", &pinned_cache);
    pinned_args.extend(["--model-version".to_string(), "1".to_string()]);
    let pinned = Server::ready(&as_strs(&pinned_args)).await;
    let (_, meta) = pinned.get("/v2/models/sentiment").await;
    let source = meta["parameters"]["source"].as_str().unwrap().to_string();
    assert!(source.starts_with("mlflow:models:/sentiment/1?") && source.contains(&run_id), "{source}");
    drop(pinned);

    // The registry dies: the loaded model keeps serving; a restart loads the last version it knew.
    mlflow.kill();
    s.wait_for("/mlflow/health", 503).await;
    let (status, health) = s.get("/mlflow/health").await;
    assert_eq!(status, 503, "{health}");
    assert!(health["error"].as_str().is_some());
    let (status, _) = s.post("/v1/models/sentiment/predict", json!({"text": "still fine"})).await;
    assert_eq!(status, 200);
    let restarted = Server::ready(&as_strs(&args)).await;
    let (_, meta) = restarted.get("/v2/models/sentiment").await;
    assert!(meta["parameters"]["source"].as_str().unwrap().contains(&run_id), "{meta}");
    drop(restarted);

    // A server that never resolved it fails clearly, then loads once the registry is back.
    let fresh_cache = cache_dir();
    let fresh_args = server_args(&mlflow, &fs.endpoint(), "models:/sentiment@champion", &fresh_cache);
    let fresh = Server::start(&as_strs(&fresh_args)).await;
    let (status, body) = fresh.post("/v1/models/sentiment/predict", json!({"text": "hello"})).await;
    assert_eq!(status, 503, "{body}");
    assert!(error_of(&body, "model_unavailable").contains("MLflow registry unreachable"), "{body}");
    let (_, _, metrics) = fresh.text("/metrics").await;
    assert!(
        metrics.contains(r#"inferwatch_dependency_errors_total{dependency="registry",operation="get_alias"}"#),
        "{metrics}"
    );
    mlflow.spawn();
    let (status, body) = fresh.post("/v1/models/sentiment/predict", json!({"text": "hello again, lovely"})).await;
    assert_eq!(status, 200, "loads without a restart once the registry is back: {body}");
}

#[tokio::test]
async fn an_unknown_registered_model_or_version_is_a_clear_not_found() {
    credentials();
    let fs = SeaweedFs::start();
    fs.create_bucket("mlflow").await;
    let mlflow = Mlflow::start(fs.endpoint());
    mlflow.register(&["topic"]);
    let cache = cache_dir();
    let args = server_args(&mlflow, &fs.endpoint(), "models:/topic/7", &cache);
    let s = Server::start(&as_strs(&args)).await;
    let (status, body) = s.post("/v1/models/topic/predict", json!({"text": "orbit"})).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = s.get("/ready").await;
    assert_eq!(status, 503, "{body}");
}
