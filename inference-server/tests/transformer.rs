//! A team's own transformer text classifier (`featurizer.type: hf_transformer`): a BERT-style
//! graph with `input_ids`, `attention_mask`, `token_type_ids` -> `logits` and its Hugging Face
//! `tokenizer.json`, made by the pinned fixture script `tests/fixtures/transformer_package.py`
//! (random weights; see its doc for why the graph is written with `onnx.helper`), served by the
//! real server: its probabilities equal onnxruntime's golden ones to 1e-4 through v1 (one text
//! per request, and one padded batch), v2 REST and a batch job through a real `redis-server`;
//! drift and feedback series exist for it.

mod common;

use common::redis::Redis;
use common::{as_strs, tempdir, Server};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const NAME: &str = "bert-sentiment";
const LABELS: [&str; 3] = ["negative", "neutral", "positive"];

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The package, made by the fixture script with the test venv's pinned onnx, onnxruntime and
/// tokenizers (scripts/install-deps.sh).
fn package(tag: &str) -> PathBuf {
    let dir = tempdir(tag);
    let out = std::process::Command::new(repo().join(".cache/venv-test/bin/python"))
        .arg(repo().join("tests/fixtures/transformer_package.py"))
        .arg(dir.join(NAME))
        .args(["--name", NAME])
        .output()
        .expect("the test venv's python runs (scripts/install-deps.sh makes it)");
    assert!(out.status.success(), "transformer_package.py failed: {}", String::from_utf8_lossy(&out.stderr));
    dir
}

fn golden(dir: &Path) -> Vec<(String, Vec<f64>)> {
    let g: Value = serde_json::from_slice(&std::fs::read(dir.join(NAME).join("golden.json")).unwrap()).unwrap();
    g["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let p = c["probabilities"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
            (c["input"]["text"].as_str().unwrap().to_string(), p)
        })
        .collect()
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-4, "{what}: {got:?} vs onnxruntime {want:?}");
    }
}

fn v1_probabilities(p: &Value) -> Vec<f64> {
    LABELS.iter().map(|l| p["probabilities"][l].as_f64().unwrap()).collect()
}

#[tokio::test]
async fn a_transformer_classifier_answers_as_onnxruntime_does_through_every_route() {
    let dir = package("transformer");
    let cases = golden(&dir);
    let redis = Redis::start();
    let dir_s = dir.display().to_string();
    let args: Vec<String> =
        ["--model-dir", &dir_s, "--preload", NAME, "--redis-url", &redis.url()].map(String::from).to_vec();
    let s = Server::ready(&as_strs(&args)).await;

    // v1, one text per request.
    for (text, want) in &cases {
        let (status, body) = s.post(&format!("/v1/models/{NAME}/predict"), json!({"text": text})).await;
        assert_eq!(status, 200, "{body}");
        assert_close(text, &v1_probabilities(&body), want);
    }
    // v1, every text in one padded batch (short and truncated texts side by side).
    let inputs: Vec<Value> = cases.iter().map(|(t, _)| json!({"text": t})).collect();
    let (status, body) = s.post(&format!("/v1/models/{NAME}/predict"), json!({"inputs": inputs})).await;
    assert_eq!(status, 200, "{body}");
    let preds = body["predictions"].as_array().unwrap().clone();
    for ((text, want), p) in cases.iter().zip(&preds) {
        assert_close(&format!("batched: {text}"), &v1_probabilities(p), want);
    }
    // v2 REST (JSON tensors).
    let texts: Vec<&str> = cases.iter().map(|(t, _)| t.as_str()).collect();
    let (status, body) = s
        .post(
            &format!("/v2/models/{NAME}/infer"),
            json!({"inputs": [{"name": "text", "shape": [texts.len()], "datatype": "BYTES", "data": texts}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let out = body["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "probabilities").unwrap().clone();
    let flat: Vec<f64> = out["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    for ((text, want), got) in cases.iter().zip(flat.chunks(3)) {
        assert_close(&format!("v2: {text}"), got, want);
    }
    // A batch job through Redis.
    let (status, job) = s.post(&format!("/v1/models/{NAME}/jobs"), json!({"inputs": inputs})).await;
    assert_eq!(status, 202, "{job}");
    let id = job["job_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(30);
    let done = loop {
        let (_, body) = s.get(&format!("/v1/jobs/{id}")).await;
        if body["status"] == "done" {
            break body;
        }
        assert!(Instant::now() < deadline && body["status"] != "failed", "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for ((text, want), p) in cases.iter().zip(done["predictions"].as_array().unwrap()) {
        assert_close(&format!("job: {text}"), &v1_probabilities(p), want);
    }

    // Feedback for a prediction, and the drift and quality series of the model.
    let first = preds[0]["prediction_id"].as_str().unwrap();
    let (status, body) =
        s.post(&format!("/v1/models/{NAME}/feedback"), json!({"prediction_id": first, "label": "neutral"})).await;
    assert_eq!((status, body["matched"].as_u64()), (200, Some(1)), "{body}");
    let (_, _, metrics) = s.text("/metrics").await;
    for feature in ["input_tokens", "unknown_token_share", "predicted_label", "confidence"] {
        let observed = format!(r#"inferwatch_drift_observations_total{{model="{NAME}",version="0.1.0","#);
        let line = metrics.lines().any(|l| l.starts_with(&observed) && l.contains(&format!(r#"feature="{feature}""#)));
        assert!(line, "a drift series for {feature}");
    }
    let truncated = cases.last().unwrap();
    assert!(truncated.0.split(' ').count() > 64, "the last golden case is beyond max_length");
    assert!(
        metrics.contains(&format!(r#"inferwatch_feedback_total{{model="{NAME}",outcome="matched"}} 1"#)),
        "the feedback is counted"
    );
}

/// The package with the built-in sentiment model's tokenizer (30,752 tokens) in place of its own
/// (300): ids past the graph's embedding table are found at load, never in a request.
#[tokio::test]
async fn a_tokenizer_from_another_model_is_refused_at_load() {
    let dir = package("transformer-wrong-tokenizer");
    std::fs::copy(common::models_dir().join("sentiment/tokenizer.json"), dir.join(NAME).join("tokenizer.json"))
        .unwrap();
    let s = Server::start(&["--model-dir", dir.to_str().unwrap(), "--preload", NAME]).await;
    let error = s.load_error(NAME).await;
    assert!(error.contains("a tokenizer that does not match the model"), "{error}");
    let (status, _) = s.post(&format!("/v1/models/{NAME}/predict"), json!({"text": "hello"})).await;
    assert_eq!(status, 503);
    let (status, _) = s.get("/health").await;
    assert_eq!(status, 200, "the server is alive");
}
