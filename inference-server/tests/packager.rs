//! `inferwatch-package` (the real binary): a team's exported text classifier plus a held-out
//! sample become a package the server serves. Its held-out accuracy and golden probabilities,
//! computed by the server's own code, equal onnxruntime's (the fixture script's, from the same
//! graph and sample); the built-in hashed family packages the same way; bad samples are refused
//! naming the line; `--upload` puts the package where `--model-version` finds it in a real
//! SeaweedFS, and `--register` makes it a version of a real MLflow registry.

mod common;

use common::mlflow::Mlflow;
use common::seaweedfs::{credentials, SeaweedFs};
use common::{models_dir, tempdir, Server};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// An exported model: `model.onnx` and `tokenizer.json` from `from`, and its `model.json` with
/// what the packager computes taken out.
fn export(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for f in ["model.onnx", "tokenizer.json"] {
        std::fs::copy(from.join(f), to.join(f)).unwrap();
    }
    let mut meta = read_json(&from.join("model.json"));
    for k in ["sha256", "metrics", "reference_distribution", "format"] {
        meta.as_object_mut().unwrap().remove(k);
    }
    std::fs::write(to.join("model.json"), meta.to_string()).unwrap();
}

/// The transformer fixture (tests/fixtures/transformer_package.py) and its held-out sample.
fn fixture(dir: &Path) -> (PathBuf, PathBuf) {
    let (pkg, held) = (dir.join("fixture"), dir.join("held_out.jsonl"));
    let out = Command::new(repo().join(".cache/venv-test/bin/python"))
        .arg(repo().join("tests/fixtures/transformer_package.py"))
        .arg(&pkg)
        .arg("--held-out")
        .arg(&held)
        .output()
        .expect("the test venv's python runs (scripts/install-deps.sh makes it)");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (pkg, held)
}

fn package(model: &Path, held_out: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_inferwatch-package"))
        .arg("--model")
        .arg(model)
        .arg("--held-out")
        .arg(held_out)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("inferwatch-package runs")
}

fn golden_probabilities(golden: &Value) -> Vec<(Value, Vec<f64>)> {
    golden["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (c["input"].clone(), c["probabilities"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
        })
        .collect()
}

fn assert_same_cases(ours: &Value, theirs: &Value) {
    let theirs = golden_probabilities(theirs);
    let mut compared = 0;
    for (input, p) in golden_probabilities(ours) {
        if let Some((_, q)) = theirs.iter().find(|(i, _)| *i == input) {
            assert!(p.iter().zip(q).all(|(a, b)| (a - b).abs() <= 1e-4), "{input}: {p:?} vs {q:?}");
            compared += 1;
        }
    }
    assert!(compared >= 20, "only {compared} golden cases in common");
}

#[tokio::test]
async fn a_transformer_export_becomes_a_package_whose_figures_equal_onnxruntimes() {
    let dir = tempdir("packager-transformer");
    let (fixture_pkg, held) = fixture(&dir);
    export(&fixture_pkg, &dir.join("export"));
    let out = dir.join("models/bert-sentiment");
    let run = package(&dir.join("export"), &held, &out, &[]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert!(String::from_utf8_lossy(&run.stdout).contains("accuracy 0.37 on 200 held-out examples"), "{run:?}");

    let ours = read_json(&out.join("model.json"));
    let theirs = read_json(&fixture_pkg.join("model.json"));
    assert_eq!(ours["metrics"]["accuracy"], theirs["metrics"]["accuracy"], "the server's code and onnxruntime agree");
    assert_eq!(ours["sha256"], theirs["sha256"]);
    assert_eq!(ours["format"], "inferwatch-model/v1");
    let features: Vec<&str> = ours["reference_distribution"]["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(features, ["input_tokens", "unknown_token_share", "predicted_label", "confidence"]);
    assert_eq!(ours["metrics"]["calibration"]["bins"], 15);
    assert_same_cases(&read_json(&out.join("golden.json")), &read_json(&fixture_pkg.join("golden.json")));

    let s = Server::ready(&["--model-dir", dir.join("models").to_str().unwrap()]).await;
    let (status, body) = s.post("/v1/models/bert-sentiment/predict", json!({"text": "Wonderful!"})).await;
    assert_eq!(status, 200, "{body}");
}

/// The built-in sentiment graph (hashed n-gram family) through the packager, its sample the
/// built-in golden inputs labelled with their golden answers: accuracy 1, and the packager's
/// golden equals the committed one.
#[tokio::test]
async fn the_built_in_family_packages_the_same_way() {
    let dir = tempdir("packager-hashed");
    export(&models_dir().join("sentiment"), &dir.join("export"));
    let golden = read_json(&models_dir().join("sentiment/golden.json"));
    let labels = ["negative", "neutral", "positive"];
    let lines: String = golden_probabilities(&golden)
        .iter()
        .filter(|(input, _)| input["text"].as_str().is_some_and(|t| !t.trim().is_empty()))
        .map(|(input, p)| {
            let best = (0..3).max_by(|a, b| p[*a].total_cmp(&p[*b])).unwrap();
            format!("{}\n", json!({"input": input, "label": labels[best]}))
        })
        .collect();
    std::fs::write(dir.join("held.jsonl"), lines).unwrap();
    let out = dir.join("models/sentiment");
    let run = package(&dir.join("export"), &dir.join("held.jsonl"), &out, &[]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let ours = read_json(&out.join("model.json"));
    assert_eq!(ours["metrics"]["accuracy"], 1.0);
    assert_same_cases(&read_json(&out.join("golden.json")), &golden);
}

#[test]
fn bad_held_out_samples_and_unsupported_kinds_are_refused_naming_the_cause() {
    let dir = tempdir("packager-bad");
    export(&models_dir().join("sentiment"), &dir.join("export"));
    let cases = [
        ("{\"input\": {\"text\": \"fine\"}, \"label\": \"positive\"}\nnot json\n", "line 2"),
        ("{\"input\": {\"text\": \"fine\"}, \"label\": \"great\"}\n", "held-out line 1: label 'great' is not one of"),
        ("{\"input\": {\"txt\": \"fine\"}, \"label\": \"positive\"}\n", "held-out lines 1-1"),
        ("\n", "the held-out sample is empty"),
    ];
    for (i, (sample, expected)) in cases.iter().enumerate() {
        let held = dir.join(format!("held-{i}.jsonl"));
        std::fs::write(&held, sample).unwrap();
        let run = package(&dir.join("export"), &held, &dir.join(format!("out-{i}")), &[]);
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success() && err.contains(expected), "{expected:?} in {err}");
    }
    let recsys = dir.join("recsys");
    std::fs::create_dir_all(&recsys).unwrap();
    for f in ["model.onnx", "model.json", "encoders.json"] {
        std::fs::copy(models_dir().join("recsys").join(f), recsys.join(f)).unwrap();
    }
    std::fs::write(dir.join("r.jsonl"), "{\"input\": {\"user_id\": \"1\", \"item_id\": \"2\"}, \"label\": \"x\"}\n")
        .unwrap();
    let run = package(&recsys, &dir.join("r.jsonl"), &dir.join("out-r"), &[]);
    assert!(String::from_utf8_lossy(&run.stderr).contains("recsys packages come from training/"), "{run:?}");
}

/// `--upload` writes `<prefix>/<name>/<version>/` in a real SeaweedFS, where a server pinned to
/// that version finds and serves it; `--register --alias` makes it a version of a real MLflow
/// registry, which a server resolving the alias serves.
#[tokio::test]
async fn an_uploaded_and_registered_package_is_served_by_version_and_by_alias() {
    credentials();
    let fs = SeaweedFs::start();
    // One bucket for both: the MLflow artifact store is where a team uploads (and SeaweedFS
    // here grows volumes for one collection only, `-volume.max=4`).
    fs.create_bucket("mlflow").await;
    let mlflow = Mlflow::start(fs.endpoint());
    let dir = tempdir("packager-upload");
    let (fixture_pkg, held) = fixture(&dir);
    export(&fixture_pkg, &dir.join("export"));
    let (endpoint, tracking) = (fs.endpoint(), mlflow.url());
    let upload = ["--upload", "s3://mlflow/teams", "--s3-endpoint", &endpoint];
    let register = ["--register", &tracking, "--alias", "champion"];
    let run = package(&dir.join("export"), &held, &dir.join("out"), &[&upload[..], &register[..]].concat());
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("uploaded to s3://mlflow/teams/bert-sentiment/0.1.0/"), "{stdout}");
    assert!(stdout.contains("registered as models:/bert-sentiment/1 (@champion)"), "{stdout}");

    let cache = dir.join("cache");
    let pinned = [
        "--model-source",
        "s3",
        "--s3-uri",
        "s3://mlflow/teams",
        "--s3-endpoint",
        &endpoint,
        "--preload",
        "bert-sentiment",
        "--model-version",
        "0.1.0",
        "--model-cache-dir",
        cache.to_str().unwrap(),
    ];
    let s = Server::ready(&pinned).await;
    let (_, meta) = s.get("/v2/models/bert-sentiment").await;
    assert_eq!(meta["versions"], json!(["0.1.0"]), "{meta}");
    assert!(meta["parameters"]["source"].as_str().unwrap().ends_with("teams/bert-sentiment/0.1.0"), "{meta}");

    let registry_cache = dir.join("registry-cache");
    let by_alias = [
        "--model-source",
        "mlflow",
        "--mlflow-tracking-uri",
        &tracking,
        "--mlflow-model-uri",
        "models:/bert-sentiment@champion",
        "--s3-endpoint",
        &endpoint,
        "--model-cache-dir",
        registry_cache.to_str().unwrap(),
    ];
    let r = Server::ready(&by_alias).await;
    let (_, meta) = r.get("/v2/models/bert-sentiment").await;
    let source = meta["parameters"]["source"].as_str().unwrap();
    assert!(source.starts_with("mlflow:models:/bert-sentiment/1?") && source.contains("alias=champion"), "{meta}");
    let (status, body) = r.post("/v1/models/bert-sentiment/predict", json!({"text": "Wonderful!"})).await;
    assert_eq!(status, 200, "{body}");
}
