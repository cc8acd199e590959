//! Model packages from a real S3-compatible server: SeaweedFS (`weed`, built from its pinned Go
//! module by scripts/build-seaweedfs.sh; see common/seaweedfs.rs), started by the test on
//! loopback with credentials.
//! Loads, health, metrics, a corrupted package, and the store killed and brought back.

mod common;

use common::seaweedfs::{credentials, SeaweedFs};
use common::{as_strs, error_of, free_port, Server};
use object_store::ObjectStore;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

fn cache_dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("iw-model-cache-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

async fn metrics(s: &Server) -> String {
    s.text("/metrics").await.2
}

#[tokio::test]
async fn models_load_from_s3_survive_the_store_going_down_and_recover_without_restart() {
    credentials();
    let mut fs = SeaweedFs::start();
    fs.create_bucket("models").await;
    for m in ["sentiment", "topic", "email"] {
        fs.upload("prod", m, false).await;
    }
    let cache = cache_dir();
    let endpoint = fs.endpoint();
    let args = |preload: &'static str, cache: &PathBuf| -> Vec<String> {
        vec![
            "--model-source".into(),
            "s3".into(),
            "--s3-uri".into(),
            "s3://models/prod".into(),
            "--s3-endpoint".into(),
            endpoint.clone(),
            "--preload".into(),
            preload.into(),
            "--model-cache-dir".into(),
            cache.display().to_string(),
        ]
    };
    let a = args("sentiment", &cache);
    let s = Server::ready(&a.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (status, body) = s.get("/v1/models").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["models"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(names, ["email", "sentiment", "topic"], "{body}");
    let (status, body) = s.post("/v1/models/sentiment/predict", json!({"text": "what a lovely day"})).await;
    assert_eq!((status, body["label"].as_str()), (200, Some("positive")), "{body}");
    let (status, health) = s.get("/storage/health").await;
    assert_eq!(status, 200, "{health}");
    assert_eq!((health["reachable"].as_bool(), health["bucket_readable"].as_bool()), (Some(true), Some(true)));
    let m = metrics(&s).await;
    assert!(m.contains(r#"source="s3://models/prod/sentiment""#), "model info names the store: {m}");
    assert!(m.contains(r#"inferwatch_dependency_up{dependency="storage",required="true"} 1"#));
    assert!(m.contains(r#"inferwatch_dependency_bytes_total{dependency="storage",direction="in"}"#));
    assert!(m.contains(r#"inferwatch_dependency_request_duration_seconds_count{dependency="storage",operation="get"}"#));
    assert!(cache.join("sentiment/model.json").exists(), "the package is cached on disk");

    // The store dies: the loaded model keeps serving, a new load fails clearly.
    fs.kill();
    s.wait_for("/storage/health", 503).await;
    let (status, health) = s.get("/storage/health").await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["reachable"], false);
    assert!(health["error"].as_str().is_some());
    let (status, _) = s.post("/v1/models/sentiment/predict", json!({"text": "still here"})).await;
    assert_eq!(status, 200, "a loaded model keeps serving");
    let (status, body) = s.post("/v1/models/topic/predict", json!({"text": "the rocket reached orbit"})).await;
    assert_eq!(status, 503, "{body}");
    assert!(error_of(&body, "model_unavailable").contains("s3://models/prod/topic"), "{body}");
    let m = metrics(&s).await;
    assert!(m.contains(r#"inferwatch_model_load_failures_total{model="topic",reason="store"} 1"#), "{m}");
    assert!(m.contains(r#"inferwatch_dependency_errors_total{dependency="storage",operation="list"}"#), "{m}");

    // A restart while the store is down loads from the disk cache.
    let b = args("sentiment", &cache);
    let restarted = Server::ready(&b.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let (status, body) = restarted.post("/v1/models/sentiment/predict", json!({"text": "lovely"})).await;
    assert_eq!(status, 200, "{body}");
    drop(restarted);

    // The store returns: the failed load succeeds without a restart.
    fs.spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = s.post("/v1/models/topic/predict", json!({"text": "the rocket reached orbit"})).await;
        if status == 200 {
            assert_eq!(body["top_k"][0]["label"], "sci.space", "{body}");
            break;
        }
        assert!(Instant::now() < deadline, "topic never loaded after the store came back: {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    s.wait_for("/storage/health", 200).await;
}

#[tokio::test]
async fn a_corrupted_package_in_the_store_is_refused_by_its_checksum() {
    credentials();
    let fs = SeaweedFs::start();
    fs.create_bucket("models").await;
    fs.upload("bad", "email", true).await;
    let cache = cache_dir();
    let endpoint = fs.endpoint();
    let cache_s = cache.display().to_string();
    let s = Server::start(&[
        "--model-source",
        "s3",
        "--s3-uri",
        "s3://models/bad",
        "--s3-endpoint",
        &endpoint,
        "--preload",
        "email",
        "--model-cache-dir",
        &cache_s,
    ])
    .await;
    let (status, body) = s.post("/v1/models/email/predict", json!({"subject": "hi", "body": "hello"})).await;
    assert_eq!(status, 503, "{body}");
    assert!(error_of(&body, "model_unavailable").contains("sha256"), "{body}");
    let (status, body) = s.get("/ready").await;
    assert_eq!(status, 503, "{body}");
}

#[test]
fn a_bad_storage_configuration_is_refused_at_start() {
    // Flag errors come from clap on stderr; start-up errors are logged as a JSON line on stdout.
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_inference-server")).args(args).output().expect("server binary runs");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    };
    let (ok, text) = run(&["--model-source", "s3"]);
    assert!(!ok && text.contains("--s3-uri"), "{text}");
    let (ok, text) = run(&["--model-source", "s3", "--s3-uri", "http://bucket/x", "--port", "0"]);
    assert!(!ok && text.contains("s3://bucket/prefix"), "{text}");
}

/// The disk cache keeps the last good package: a file in a folder below the package's
/// (`sentiment/old/model.onnx`) is not taken for the package's own, and a corrupt upload is
/// refused without replacing the cached copy, which a restart with the store down still loads.
#[tokio::test]
async fn the_disk_cache_keeps_the_last_good_package_and_ignores_nested_folders() {
    credentials();
    let mut fs = SeaweedFs::start();
    fs.create_bucket("models").await;
    fs.upload("p", "sentiment", false).await;
    fs.client("models")
        .put(&object_store::path::Path::from("p/sentiment/old/model.onnx"), b"not a model".to_vec().into())
        .await
        .expect("a nested file");
    let cache = cache_dir();
    let (endpoint, cache_s) = (fs.endpoint(), cache.display().to_string());
    let args = [
        "--model-source",
        "s3",
        "--s3-uri",
        "s3://models/p",
        "--s3-endpoint",
        &endpoint,
        "--preload",
        "sentiment",
        "--model-cache-dir",
        &cache_s,
    ];
    let first = Server::ready(&args).await;
    let (status, body) = first.post("/v1/models/sentiment/predict", json!({"text": "lovely"})).await;
    assert_eq!(status, 200, "the nested file is not the package's model.onnx: {body}");
    drop(first);

    fs.upload("p", "sentiment", true).await;
    let second = Server::start(&args).await;
    let (status, body) = second.post("/v1/models/sentiment/predict", json!({"text": "lovely"})).await;
    assert_eq!(status, 503, "{body}");
    assert!(error_of(&body, "model_unavailable").contains("sha256"), "{body}");
    drop(second);

    fs.kill();
    let third = Server::ready(&args).await;
    let (status, body) = third.post("/v1/models/sentiment/predict", json!({"text": "lovely"})).await;
    assert_eq!(status, 200, "the cached copy is the last good one: {body}");
}

/// The store stops while a job waits for a model its worker does not hold (never loaded there,
/// not in its disk cache): an API-only replica that has the model accepts the job, and the
/// worker replica's runs fail transiently and are released for a retry, never failed. Once the
/// store is back the job finishes: nothing accepted is lost, and its attempts show the retries.
#[tokio::test]
async fn a_job_whose_model_store_stops_is_retried_and_finishes_when_the_store_returns() {
    credentials();
    let mut fs = SeaweedFs::start();
    fs.create_bucket("models").await;
    for m in ["sentiment", "topic"] {
        fs.upload("prod", m, false).await;
    }
    let redis = common::redis::Redis::start();
    let redis_url = redis.url();
    let replica = |preload: &str, workers: &str, cache: PathBuf| -> Vec<String> {
        let mut args = fs.server_args("prod", &cache);
        args.extend(
            ["--preload", preload, "--redis-url", redis_url.as_str(), "--job-workers", workers]
                .into_iter()
                .chain(["--job-claim-idle-ms", "300", "--job-max-attempts", "100"])
                .map(String::from),
        );
        args
    };
    let worker_args = replica("sentiment", "2", cache_dir());
    let _worker = Server::ready(&worker_args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let api_args = replica("topic", "0", cache_dir());
    let api = Server::ready(&api_args.iter().map(String::as_str).collect::<Vec<_>>()).await;
    fs.kill();
    api.wait_for("/storage/health", 503).await;
    let (status, body) =
        api.post("/v1/models/topic/jobs", json!({"inputs": [{"text": "the rocket reached orbit"}]})).await;
    assert_eq!(status, 202, "{body}");
    let id = body["job_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, job) = api.get(&format!("/v1/jobs/{id}")).await;
        assert_ne!(job["status"], "failed", "a transient store failure failed the job: {job}");
        assert_ne!(job["status"], "done", "done without its model's store: {job}");
        if job["attempts"].as_u64() >= Some(2) {
            break;
        }
        assert!(Instant::now() < deadline, "the job was not retried: {job}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    fs.spawn();
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let (_, job) = api.get(&format!("/v1/jobs/{id}")).await;
        if job["status"] == "done" {
            break job;
        }
        assert_ne!(job["status"], "failed", "{job}");
        assert!(Instant::now() < deadline, "the job did not finish after the store came back: {job}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(job["predictions"][0]["label"].as_str().map(str::is_empty), Some(false), "{job}");
}

/// `--model-version` from S3: `<name>/<version>/` beside the unversioned `<name>/`; each pin
/// serves its own package and reports it; a pin the store lacks keeps the server unready naming
/// both versions; with the store down, a restart serves the pinned version from its disk copy.
#[tokio::test]
async fn a_pinned_version_is_served_from_its_s3_folder_and_from_the_disk_cache_when_the_store_is_down() {
    credentials();
    let mut fs = SeaweedFs::start();
    fs.create_bucket("models").await;
    fs.upload("v", "sentiment", false).await;
    fs.upload_to("v/sentiment/1.1.0", "sentiment", false, Some("1.1.0")).await;
    let cache = cache_dir();
    let (endpoint, cache_s) = (fs.endpoint(), cache.display().to_string());
    let args = |version: &'static str| -> Vec<String> {
        [
            "--model-source",
            "s3",
            "--s3-uri",
            "s3://models/v",
            "--s3-endpoint",
            &endpoint,
            "--preload",
            "sentiment",
            "--model-cache-dir",
            &cache_s,
            "--model-version",
            version,
        ]
        .map(String::from)
        .to_vec()
    };
    for (version, folder) in [("1.1.0", "v/sentiment/1.1.0"), ("1.0.0", "v/sentiment")] {
        let s = Server::ready(&as_strs(&args(version))).await;
        let (_, meta) = s.get("/v2/models/sentiment").await;
        assert_eq!(meta["versions"], json!([version]), "{meta}");
        assert!(meta["parameters"]["source"].as_str().unwrap().ends_with(folder), "{meta}");
        let info = format!(r#"inferwatch_model_info{{model="sentiment",kind="sentiment",version="{version}""#);
        assert!(metrics(&s).await.contains(&info), "the info metric names {version}");
    }

    let s = Server::start(&as_strs(&args("2.0.0"))).await;
    s.wait_for("/ready", 503).await;
    let (_, body) = s.post("/v1/models/sentiment/predict", json!({"text": "lovely"})).await;
    let error = error_of(&body, "model_unavailable");
    assert!(error.contains("version 2.0.0 is pinned") && error.contains("version 1.0.0"), "{error}");
    drop(s);

    fs.kill();
    let s = Server::ready(&as_strs(&args("1.1.0"))).await;
    let (_, meta) = s.get("/v2/models/sentiment").await;
    assert_eq!(meta["versions"], json!(["1.1.0"]), "from the disk cache: {meta}");
}
