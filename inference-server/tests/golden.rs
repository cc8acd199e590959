//! Every built-in model reproduces the outputs `training/` computed (golden.json) to 1e-4.
//! Text models also reproduce the exact feature ids, so the Rust featurizer is proven equal
//! to the Python one, not merely close.

use inference_server::featurize::trend::Direction;
use inference_server::models::recsys::{Recommendation, RecsysModel};
use inference_server::models::trend::{Method, TrendInput};
use inference_server::models::{LoadedModel, Model};
use inference_server::predict::{email_text, EmailInput};
use inference_server::runtime::Plan;
use inference_server::store::{LocalStore, ModelStore};
use inference_server::telemetry::Stages;
use serde_json::Value;
use std::path::PathBuf;

const TOL: f64 = 1e-4;

fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models")
}

async fn load(name: &str) -> (LoadedModel, Vec<Value>) {
    let store = LocalStore::new(models_dir());
    let (files, source) = store.fetch(name).await.expect("built-in package is readable");
    let meta = files.verified_meta().expect("checksum in model.json matches model.onnx");
    let (model, _) = LoadedModel::build(meta, &files, source, None).expect("package loads");
    let golden: Value =
        serde_json::from_slice(&std::fs::read(models_dir().join(name).join("golden.json")).unwrap()).unwrap();
    let cases = golden["cases"].as_array().unwrap().clone();
    assert!(cases.len() >= 50, "{name}: golden.json has only {} cases", cases.len());
    (model, cases)
}

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() <= TOL * expected.abs().max(1.0)
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
}

async fn text_model_matches_golden(name: &str) {
    let (model, cases) = load(name).await;
    let Model::Text(m) = &model.model else { panic!("{name} is not a text model") };
    for (i, case) in cases.iter().enumerate() {
        let input = &case["input"];
        let text = if input.get("subject").is_some() {
            email_text(&EmailInput {
                subject: input["subject"].as_str().unwrap().into(),
                body: input["body"].as_str().unwrap().into(),
            })
        } else {
            input["text"].as_str().unwrap().to_string()
        };
        let (probs, _) = m.predict(&[text.as_str()], &mut Stages::default()).unwrap();
        let expected = floats(&case["probabilities"]);
        assert_eq!(probs[0].len(), expected.len());
        for (a, e) in probs[0].iter().zip(&expected) {
            assert!(close(f64::from(*a), *e), "{name} case {i}: {:?} vs {expected:?} for {text:?}", probs[0]);
        }
    }
}

#[tokio::test]
async fn sentiment_reproduces_training_outputs() {
    text_model_matches_golden("sentiment").await;
}

#[tokio::test]
async fn topic_reproduces_training_outputs() {
    text_model_matches_golden("topic").await;
}

#[tokio::test]
async fn email_reproduces_training_outputs() {
    text_model_matches_golden("email").await;
}

#[tokio::test]
async fn text_featurizer_reproduces_python_feature_ids() {
    use inference_server::featurize::text::{TextFeaturizer, TextSettings};
    for name in ["sentiment", "topic", "email"] {
        let dir = models_dir().join(name);
        let meta: Value = serde_json::from_slice(&std::fs::read(dir.join("model.json")).unwrap()).unwrap();
        let settings: TextSettings = serde_json::from_value(meta["featurizer"].clone()).unwrap();
        let f = TextFeaturizer::new(&std::fs::read(dir.join("tokenizer.json")).unwrap(), settings).unwrap();
        let golden: Value = serde_json::from_slice(&std::fs::read(dir.join("golden.json")).unwrap()).unwrap();
        for case in golden["cases"].as_array().unwrap() {
            let input = &case["input"];
            let text = match input.get("text") {
                Some(t) => t.as_str().unwrap().to_string(),
                None => format!("{}\n{}", input["subject"].as_str().unwrap(), input["body"].as_str().unwrap()),
            };
            let expected: Vec<i64> = case["features"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
            assert_eq!(f.features(&text).unwrap(), expected, "{name}: {text:?}");
        }
    }
}

#[tokio::test]
async fn recsys_reproduces_ratings_and_top_k() {
    let (model, cases) = load("recsys").await;
    let Model::Recsys(m) = &model.model else { panic!("recsys is not a recommender") };
    let mut top_k_cases = 0;
    for case in &cases {
        let input = &case["input"];
        let user = input["user_id"].as_str().unwrap();
        if let Some(expected) = case.get("top_k") {
            top_k_cases += 1;
            let k = input["k"].as_u64().unwrap() as usize;
            let (items, unknown) = m.top_k(user, k, &mut Stages::default()).unwrap();
            assert!(!unknown);
            let expected = expected.as_array().unwrap();
            assert_eq!(items.len(), expected.len());
            for (got, want) in items.iter().zip(expected) {
                assert_eq!(got.item_id, want["item_id"].as_str().unwrap(), "user {user}");
                assert!(close(f64::from(got.rating), want["rating"].as_f64().unwrap()));
            }
        } else {
            let item = input["item_id"].as_str().unwrap();
            let out = m.predict(&[(user, item)], &mut Stages::default()).unwrap();
            let want = case["rating"].as_f64().unwrap();
            assert!(close(f64::from(out[0].0), want), "({user}, {item}): {} vs {want}", out[0].0);
        }
    }
    assert!(top_k_cases >= 3);
}

/// The score table built at load holds the graph's own answers: every user's recommendations
/// from it equal those of a recommender that runs the graph over the catalogue per request.
#[tokio::test]
async fn recsys_score_table_recommends_what_scoring_per_request_does() {
    let (model, _) = load("recsys").await;
    let Model::Recsys(table) = &model.model else { panic!("recsys is not a recommender") };
    assert!(table.has_score_table(), "the built-in recommender's table fits its budget");
    assert!(model.bytes > table.derived_bytes() && table.derived_bytes() > 0, "the cache counts the table");
    let store = LocalStore::new(models_dir());
    let (files, _) = store.fetch("recsys").await.unwrap();
    let meta = files.verified_meta().unwrap();
    let plan = Plan::compile(files.file("model.onnx").unwrap()).unwrap();
    let per_request = RecsysModel::with_score_table_limit(&meta, &files, plan, 0).unwrap();
    assert!(!per_request.has_score_table());
    let encoders: Value =
        serde_json::from_slice(&std::fs::read(models_dir().join("recsys/encoders.json")).unwrap()).unwrap();
    let mut users: Vec<&str> = encoders["users"].as_object().unwrap().keys().map(String::as_str).collect();
    users.sort_unstable();
    users.push("a user never seen in training");
    for user in users {
        let (a, a_unknown) = table.top_k(user, 25, &mut Stages::default()).unwrap();
        let (b, b_unknown) = per_request.top_k(user, 25, &mut Stages::default()).unwrap();
        assert_eq!(a_unknown, b_unknown, "user {user}");
        let ids = |r: &[Recommendation]| r.iter().map(|x| (x.item_id.clone(), x.rating)).collect::<Vec<_>>();
        assert_eq!(ids(&a), ids(&b), "user {user}");
    }
}

#[tokio::test]
async fn trend_reproduces_forecasts_and_analysis() {
    let (model, cases) = load("trend").await;
    let Model::Trend(m) = &model.model else { panic!("trend is not a trend model") };
    let (mut fallbacks, mut anomalies) = (0, 0);
    for (i, case) in cases.iter().enumerate() {
        let input = TrendInput {
            values: floats(&case["input"]["values"]),
            horizon: case["input"]["horizon"].as_u64().unwrap() as usize,
            season_length: case["input"].get("season_length").and_then(Value::as_u64).map(|p| p as usize),
        };
        let out = m.forecast(&input, &mut Stages::default()).unwrap();
        assert_eq!(out.season_length as u64, case["season_length"].as_u64().unwrap(), "case {i}");
        let method = if out.method == Method::Model { "model" } else { "trend_line" };
        assert_eq!(method, case["method"].as_str().unwrap(), "case {i}");
        fallbacks += usize::from(out.method == Method::TrendLine);
        let expected = floats(&case["forecast"]);
        assert_eq!(out.forecast.len(), expected.len());
        for (a, e) in out.forecast.iter().zip(&expected) {
            assert!(close(*a, *e), "case {i}: forecast {:?} vs {expected:?}", out.forecast);
        }
        assert!(close(out.analysis.slope, case["slope"].as_f64().unwrap()), "case {i} slope");
        assert!((out.analysis.p_value - case["p_value"].as_f64().unwrap()).abs() <= TOL, "case {i} p-value");
        let direction = match out.analysis.direction {
            Direction::Up => "up",
            Direction::Down => "down",
            Direction::Flat => "flat",
        };
        assert_eq!(direction, case["direction"].as_str().unwrap(), "case {i}");
        let idx: Vec<u64> = out.analysis.anomalies.iter().map(|a| a.index as u64).collect();
        let want: Vec<u64> = case["anomaly_indices"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
        assert_eq!(idx, want, "case {i} anomalies");
        anomalies += idx.len();
    }
    assert!(fallbacks > 0, "golden cases cover the fallback");
    assert!(anomalies > 0, "golden cases cover anomalies");
}
