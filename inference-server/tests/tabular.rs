//! A team's own tabular classifier (`featurizer.type: tabular`): a scikit-learn pipeline
//! (standard scaling, then a random forest) trained on the breast cancer data set scikit-learn
//! ships, exported with skl2onnx by the pinned fixture script `tests/fixtures/tabular_package.py`,
//! made into a package by `inferwatch-package` from its held-out quarter, and served by the real
//! server: its probabilities equal onnxruntime's to 1e-4 for every held-out row through v1
//! (records and arrays) and v2 REST; rows at fault get a 422 naming the feature; a package whose
//! columns do not fit its graph is refused at load; and in a real Prometheus a shifted stream of
//! one feature lifts that feature's PSI above 0.25 and leaves every other feature's stable.

mod common;

use common::prometheus::Prometheus;
use common::{tempdir, Server};
use inferwatch_monitoring::{alerts, drift};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const NAME: &str = "breast-cancer";
const SHIFTED: &str = "mean_radius";

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The fixture's export and held-out rows, packaged by `inferwatch-package`: returns the model
/// directory (`<dir>/packages/breast-cancer`) and the fixture directory.
fn package(tag: &str) -> (PathBuf, PathBuf) {
    let dir = tempdir(tag);
    let export = dir.join("export");
    let out = Command::new(repo().join(".cache/venv-test/bin/python"))
        .arg(repo().join("tests/fixtures/tabular_package.py"))
        .arg(&export)
        .args(["--name", NAME])
        .output()
        .expect("the test venv's python runs (scripts/install-deps.sh makes it)");
    assert!(out.status.success(), "tabular_package.py failed: {}", String::from_utf8_lossy(&out.stderr));
    let packages = dir.join("packages");
    let out = Command::new(env!("CARGO_BIN_EXE_inferwatch-package"))
        .arg("--model")
        .arg(&export)
        .arg("--held-out")
        .arg(export.join("held-out.jsonl"))
        .arg("--out")
        .arg(packages.join(NAME))
        .output()
        .unwrap();
    assert!(out.status.success(), "inferwatch-package failed: {}", String::from_utf8_lossy(&out.stderr));
    (packages, export)
}

/// The held-out rows (records, file order) and onnxruntime's probabilities for them.
fn held_out(export: &Path) -> (Vec<Value>, Vec<Vec<f64>>) {
    let rows = std::fs::read_to_string(export.join("held-out.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["input"].clone())
        .collect();
    let expected: Value = serde_json::from_slice(&std::fs::read(export.join("expected.json")).unwrap()).unwrap();
    let probabilities = expected["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect())
        .collect();
    (rows, probabilities)
}

/// The feature names in column order, from the package.
fn feature_names(packages: &Path) -> Vec<String> {
    let meta: Value = serde_json::from_slice(&std::fs::read(packages.join(NAME).join("model.json")).unwrap()).unwrap();
    meta["featurizer"]["features"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap().into()).collect()
}

fn labels(packages: &Path) -> Vec<String> {
    let meta: Value = serde_json::from_slice(&std::fs::read(packages.join(NAME).join("model.json")).unwrap()).unwrap();
    meta["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap().into()).collect()
}

fn assert_close(what: &str, got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() <= 1e-4, "{what}: {got:?} vs onnxruntime {want:?}");
    }
}

#[tokio::test]
async fn a_scikit_learn_pipeline_answers_as_onnxruntime_does_and_refuses_bad_rows_by_feature() {
    let (packages, export) = package("tabular");
    let (rows, want) = held_out(&export);
    let names = feature_names(&packages);
    let labels = labels(&packages);
    let s = Server::ready(&["--model-dir", packages.to_str().unwrap(), "--preload", NAME]).await;
    let predict = format!("/v1/models/{NAME}/predict");
    let v1 = |p: &Value| -> Vec<f64> { labels.iter().map(|l| p["probabilities"][l].as_f64().unwrap()).collect() };

    // v1: one record per request, then every row as a record list and as an array list.
    for (i, (row, want)) in rows.iter().zip(&want).enumerate().take(20) {
        let (status, body) = s.post(&predict, row.clone()).await;
        assert_eq!(status, 200, "{body}");
        assert_close(&format!("row {i}"), &v1(&body), want);
    }
    let arrays: Vec<Value> =
        rows.iter().map(|r| json!(names.iter().map(|n| r[n].clone()).collect::<Vec<_>>())).collect();
    for (form, inputs) in [("records", rows.clone()), ("arrays", arrays.clone())] {
        let (status, body) = s.post(&predict, json!({ "inputs": inputs })).await;
        assert_eq!(status, 200, "{body}");
        let preds = body["predictions"].as_array().unwrap();
        assert_eq!(preds.len(), want.len());
        for (i, (p, want)) in preds.iter().zip(&want).enumerate() {
            assert_close(&format!("{form} row {i}"), &v1(p), want);
        }
    }
    // v2 REST: one FP32 tensor [rows, features]; metadata names the features.
    let flat: Vec<Value> = arrays.iter().flat_map(|a| a.as_array().unwrap().clone()).collect();
    let tensor = json!({"name": "features", "shape": [rows.len(), names.len()], "datatype": "FP32", "data": flat});
    let (status, body) = s.post(&format!("/v2/models/{NAME}/infer"), json!({ "inputs": [tensor] })).await;
    assert_eq!(status, 200, "{body}");
    let out = body["outputs"].as_array().unwrap().iter().find(|o| o["name"] == "probabilities").unwrap().clone();
    let got: Vec<f64> = out["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    for (i, (got, want)) in got.chunks(labels.len()).zip(&want).enumerate() {
        assert_close(&format!("v2 row {i}"), got, want);
    }
    let (_, meta) = s.get(&format!("/v2/models/{NAME}")).await;
    assert_eq!(meta["inputs"][0]["shape"], json!([-1, names.len()]), "{meta}");
    assert_eq!(meta["parameters"]["features"].as_array().unwrap().len(), names.len(), "{meta}");

    // Rows at fault: 422 naming the item and the feature.
    let mut missing = rows[0].clone();
    missing.as_object_mut().unwrap().remove("worst_area");
    let mut unknown = rows[0].clone();
    unknown["zip_code"] = json!(12345);
    let mut text = rows[0].clone();
    text["mean_texture"] = json!("high");
    let cases = [
        (missing, "missing feature 'worst_area'"),
        (unknown, "unknown feature 'zip_code'"),
        (text, "feature 'mean_texture': invalid type: string \"high\", expected f64"),
        (json!({"inputs": [arrays[0], [1.0, 2.0]]}), "inputs[1]: 2 values; the model takes 30 features"),
        (json!({"mean_radius": 1e300}), "feature 'mean_radius': 1e300 is outside the float32 range"),
        (json!({}), "missing feature 'mean_radius' (30 of 30 missing)"),
    ];
    for (body, says) in cases {
        let (status, answer) = s.post(&predict, body).await;
        assert_eq!(status, 422, "{answer}");
        let message = answer["error"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{says}: {answer}");
    }
    let bad_shape = json!({"name": "features", "shape": [2, 3], "datatype": "FP32", "data": [1, 2, 3, 4, 5, 6]});
    let (status, answer) = s.post(&format!("/v2/models/{NAME}/infer"), json!({ "inputs": [bad_shape] })).await;
    assert_eq!(status, 422, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("3 values; the model takes 30 features"), "{answer}");

    // Feedback lands on the prediction; every column has a drift series.
    let (_, one) = s.post(&predict, rows[1].clone()).await;
    let id = one["prediction_id"].as_str().unwrap();
    let (status, body) =
        s.post(&format!("/v1/models/{NAME}/feedback"), json!({"prediction_id": id, "label": labels[0]})).await;
    assert_eq!((status, body["matched"].as_u64()), (200, Some(1)), "{body}");
    let (_, _, metrics) = s.text("/metrics").await;
    for feature in names.iter().map(String::as_str).chain(["predicted_label", "confidence"]) {
        let series = format!(r#"inferwatch_drift_observations_total{{model="{NAME}",version="1.0.0","#);
        let found = metrics.lines().any(|l| l.starts_with(&series) && l.contains(&format!(r#"feature="{feature}""#)));
        assert!(found, "a drift series for {feature}");
    }
    let labelled = format!(
        r#"inferwatch_labelled_predictions_total{{model="{NAME}",version="1.0.0",true_label="{}"}} 1"#,
        labels[0]
    );
    assert!(metrics.contains(&labelled), "the label is counted for accuracy: {labelled}");
}

/// The packages below differ from a good one in one field each; the load fails naming it.
#[tokio::test]
async fn a_package_whose_columns_do_not_fit_its_graph_is_refused_at_load_naming_the_field() {
    let (packages, _) = package("tabular-refusals");
    let good: Value = serde_json::from_slice(&std::fs::read(packages.join(NAME).join("model.json")).unwrap()).unwrap();
    type Edit = fn(&mut Value);
    let edits: [(&str, Edit, &str); 4] = [
        (
            "fewer-columns",
            |m| {
                m["featurizer"]["features"].as_array_mut().unwrap().pop();
            },
            "inputs[0].shape says 30 features, but featurizer.features lists 29",
        ),
        ("three-labels", |m| m["labels"] = json!(["a", "b", "c"]), "labels name 3 classes"),
        (
            "reserved-name",
            |m| m["featurizer"]["features"][0]["name"] = json!("confidence"),
            "featurizer.features[0] 'confidence': the name is reserved",
        ),
        ("no-output", |m| m["featurizer"]["output"] = json!("scores"), "the graph has no output named 'scores'"),
    ];
    for (tag, edit, says) in edits {
        let dir = tempdir(&format!("tabular-{tag}"));
        let pkg = dir.join(NAME);
        std::fs::create_dir_all(&pkg).unwrap();
        for f in ["model.onnx", "golden.json"] {
            std::fs::copy(packages.join(NAME).join(f), pkg.join(f)).unwrap();
        }
        let mut meta = good.clone();
        edit(&mut meta);
        std::fs::write(pkg.join("model.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
        let s = Server::start(&["--model-dir", dir.to_str().unwrap(), "--preload", NAME]).await;
        let error = s.load_error(NAME).await;
        assert!(error.contains(says), "{tag}: {error}");
    }
}

/// Real Prometheus, the generated drift rules (a 2-minute window so this test has a PSI): the
/// held-out rows sent five times, with one feature doubled, put all of that feature in its top
/// bin (PSI far above 0.25) while every other feature keeps its held-out shares (PSI near 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shifted_feature_lifts_its_psi_above_the_threshold_in_prometheus_and_no_other() {
    let (packages, export) = package("tabular-drift");
    let (rows, _) = held_out(&export);
    let names = feature_names(&packages);
    let port = common::free_port();
    let s = Server::ready_on(port, &["--model-dir", packages.to_str().unwrap(), "--preload", NAME]).await;
    let d = drift::Drift { window: "2m".into(), min_observations: 10, ..Default::default() };
    let scope = alerts::Scope { selector: r#"job="inferwatch""#.into(), ..alerts::Scope::default() };
    let rules =
        alerts::rule_file(&alerts::Slo { drift: d, ..alerts::Slo::default() }, &scope, &alerts::Timing::default());
    let dir = tempdir("tabular-prometheus");
    let prom =
        Prometheus::start(&dir, &serde_json::to_value(&rules).unwrap(), &[format!("127.0.0.1:{port}")], None).await;

    let shifted: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r[SHIFTED] = json!(r[SHIFTED].as_f64().unwrap() * 2.0 + 20.0);
            r
        })
        .collect();
    for _ in 0..5 {
        let (status, body) = s.post(&format!("/v1/models/{NAME}/predict"), json!({ "inputs": shifted })).await;
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let psi = format!(r#"{}{{model="{NAME}",side="input"}}"#, drift::records::PSI);
    let deadline = Instant::now() + Duration::from_secs(90);
    let by_feature = loop {
        let result = prom.query(&psi).await;
        if result.len() == names.len() {
            break result;
        }
        assert!(Instant::now() < deadline, "a PSI for each of the {} features; got {}", names.len(), result.len());
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let mut others: f64 = 0.0;
    for r in by_feature {
        let feature = r["metric"]["feature"].as_str().unwrap();
        let value: f64 = r["value"][1].as_str().unwrap().parse().unwrap();
        if feature != SHIFTED {
            others = others.max(value);
        } else {
            eprintln!("PSI of the shifted {feature}: {value:.3}");
        }
        if feature == SHIFTED {
            assert!(value > drift::PSI_SIGNIFICANT, "{feature}: PSI {value}");
        } else {
            assert!(value < drift::PSI_STABLE, "{feature} did not move: PSI {value}");
        }
    }
    eprintln!("largest PSI of the other {} features: {others:.4}", names.len() - 1);
}
