//! `--model-version` from a local directory: `<name>/<version>/` beside the unversioned
//! `<name>/` package, the version served reported in OIP metadata, `/ready`, the info metric and
//! the load log line; a pin the directory lacks keeps the server unready with a message naming
//! both versions; a version that is not one path segment is refused at start.

mod common;

use common::{model_dir_with, start_refused, Server};
use serde_json::json;

/// A model directory with the built-in sentiment package (1.0.0) and the same graph as
/// `sentiment/1.1.0/`.
fn two_versions(tag: &str) -> std::path::PathBuf {
    let dir = model_dir_with(tag, &["sentiment"], &[]);
    let v = dir.join("sentiment/1.1.0");
    std::fs::create_dir_all(&v).unwrap();
    for f in std::fs::read_dir(dir.join("sentiment")).unwrap() {
        let f = f.unwrap();
        if f.file_type().unwrap().is_file() {
            std::fs::copy(f.path(), v.join(f.file_name())).unwrap();
        }
    }
    let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(v.join("model.json")).unwrap()).unwrap();
    meta["version"] = "1.1.0".into();
    std::fs::write(v.join("model.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
    dir
}

#[tokio::test]
async fn each_pinned_version_is_served_from_its_own_folder_and_reported_everywhere() {
    let dir = two_versions("pins");
    let dir = dir.to_str().unwrap();
    for (version, folder) in [("1.1.0", "sentiment/1.1.0"), ("1.0.0", "sentiment")] {
        let log = std::env::temp_dir().join(format!("iw-versions-{}-{version}.log", std::process::id()));
        let s =
            Server::start_logging_to(&log, &["--model-dir", dir, "--preload", "sentiment", "--model-version", version])
                .await;
        s.wait_for("/ready", 200).await;
        let (_, meta) = s.get("/v2/models/sentiment").await;
        assert_eq!(meta["versions"], json!([version]), "{meta}");
        assert!(meta["parameters"]["source"].as_str().unwrap().ends_with(folder), "{meta}");
        let (_, ready) = s.get("/ready").await;
        assert_eq!(ready["models"]["sentiment"]["version"], version, "{ready}");
        let (status, _) = s.get(&format!("/v2/models/sentiment/versions/{version}/ready")).await;
        assert_eq!(status, 200);
        let other = if version == "1.0.0" { "1.1.0" } else { "1.0.0" };
        let (status, _) = s.get(&format!("/v2/models/sentiment/versions/{other}/ready")).await;
        assert_ne!(status, 200, "only the pinned version is served");
        let (_, _, metrics) = s.text("/metrics").await;
        let info = format!(r#"inferwatch_model_info{{model="sentiment",kind="sentiment",version="{version}""#);
        assert!(metrics.contains(&info), "the info metric names {version}");
        let (status, body) = s.post("/v1/models/sentiment/predict", json!({"text": "what a lovely day"})).await;
        assert_eq!((status, body["label"].as_str()), (200, Some("positive")), "{body}");
        drop(s);
        let lines = std::fs::read_to_string(&log).unwrap();
        assert!(
            lines.lines().any(|l| l.contains("model load phases") && l.contains(&format!(r#""version":"{version}""#))),
            "a load log line names {version}: {lines}"
        );
    }
}

#[tokio::test]
async fn a_pinned_version_the_directory_lacks_keeps_the_server_unready_naming_both_versions() {
    let dir = two_versions("missing-pin");
    let s =
        Server::start(&["--model-dir", dir.to_str().unwrap(), "--preload", "sentiment", "--model-version", "2.0.0"])
            .await;
    s.wait_for("/ready", 503).await;
    let (_, ready) = s.get("/ready").await;
    let error = ready["models"]["sentiment"]["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("version 2.0.0 is pinned") && error.contains("version 1.0.0"), "{ready}");
    let (status, _) = s.post("/v1/models/sentiment/predict", json!({"text": "hello"})).await;
    assert_eq!(status, 503, "no other version is served in its place");
}

#[test]
fn a_model_version_that_is_not_one_path_segment_is_refused_at_start() {
    for bad in ["../1.0.0", "1/2", "", "@"] {
        let out = start_refused(&["--model-version".as_ref(), bad.as_ref()]);
        assert!(out.contains("is not a model version"), "{bad:?}: {out}");
    }
}
