//! Packages that are wrong are refused at load with a message naming what is wrong (the
//! contract in docs/model-package.md): each broken copy of the built-in sentiment package is
//! served by one real server, whose `/ready` names every failure, and none of them answers.

mod common;

use common::{models_dir, tempdir, Server};
use serde_json::{json, Value};

/// A copy of the sentiment package under `dir/name` with `change` applied to its model.json.
fn broken(dir: &std::path::Path, name: &str, change: impl Fn(&mut Value)) {
    let dst = dir.join(name);
    std::fs::create_dir_all(&dst).unwrap();
    for f in std::fs::read_dir(models_dir().join("sentiment")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dst.join(f.file_name())).unwrap();
    }
    let mut meta: Value = serde_json::from_slice(&std::fs::read(dst.join("model.json")).unwrap()).unwrap();
    change(&mut meta);
    std::fs::write(dst.join("model.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
}

/// A package's name, the change that breaks its model.json, and what the refusal must say.
type Case = (&'static str, fn(&mut Value), &'static str);

#[tokio::test]
async fn broken_packages_are_refused_at_load_naming_the_field() {
    let dir = tempdir("refusals");
    let cases: [Case; 6] = [
        ("wrong-inputs", |m| m["inputs"][0]["name"] = "input_ids".into(), r#"do not match the graph's inputs ["ids"]"#),
        ("tokenizer-mismatch", |m| m["featurizer"]["vocab_size"] = 12.into(), "model.json says 12"),
        ("newer-format", |m| m["format"] = "inferwatch-model/v2".into(), "newer than this server reads"),
        (
            "labels-not-logits",
            |m| {
                m["labels"] = json!(["negative", "neutral", "positive", "mixed"]);
                m["outputs"][0]["shape"] = json!(["batch", 4]);
            },
            "labels name 4 classes",
        ),
        ("outputs-not-labels", |m| m["outputs"][0]["shape"] = json!(["batch", 5]), "outputs[0].shape says 5 classes"),
        (
            "missing-reference",
            |m| {
                let features = m["reference_distribution"]["features"].as_array_mut().unwrap();
                features.retain(|f| f["name"] != "confidence");
            },
            r#"reference_distribution.features has no reference for ["confidence"]"#,
        ),
    ];
    for (name, change, _) in &cases {
        broken(&dir, name, change);
    }
    let s = Server::start(&["--model-dir", dir.to_str().unwrap(), "--preload", "all"]).await;
    // Preloads run one after another: wait until every one has ended.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let ready = loop {
        let (status, ready) = s.get("/ready").await;
        assert_eq!(status, 503, "{ready}");
        let settled =
            cases.iter().all(|(name, _, _)| ready["models"][name]["error"].as_str().is_some_and(|e| e != "not loaded"));
        if settled || std::time::Instant::now() > deadline {
            break ready;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    for (name, _, expected) in &cases {
        let error = ready["models"][name]["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{name}: expected {expected:?} in {error:?}");
        let (status, _) = s.post(&format!("/v1/models/{name}/predict"), json!({"text": "hello"})).await;
        assert_eq!(status, 503, "{name} must not answer");
    }
    let (_, _, metrics) = s.text("/metrics").await;
    assert!(
        metrics.contains(r#"inferwatch_model_load_failures_total{model="newer-format",reason="invalid_package"}"#),
        "load failures are counted with their reason"
    );
}
