//! Prediction ids and ground-truth feedback against the real server: ids on every answer,
//! feedback scored into the quality metrics exactly once, every kind of bad feedback refused with
//! a JSON error and nothing counted; and with a real `redis-server`, feedback matched at a second
//! process and across a restart of the one that predicted.

mod common;

use common::redis::Redis;
use common::{error_of, Server};
use serde_json::{json, Value};

const SENTIMENT: &str = r#"model="sentiment",version="1.0.0""#;

fn id_of(v: &Value) -> String {
    let id = v["prediction_id"].as_str().unwrap_or_else(|| panic!("no prediction_id in {v}"));
    assert_eq!(id.len(), 24, "{id}");
    id.to_string()
}

async fn labelled(s: &Server, label: &str) -> f64 {
    s.metric(&format!(r#"inferwatch_labelled_predictions_total{{{SENTIMENT},true_label="{label}"}}"#))
        .await
        .unwrap_or(-1.0)
}

#[tokio::test]
async fn every_answer_carries_prediction_ids_and_the_client_request_id_is_echoed() {
    let s = Server::ready(&[]).await;
    let c = reqwest::Client::new();
    let r = c
        .post(s.url("/v1/models/sentiment/predict"))
        .header("x-request-id", "order-42")
        .json(&json!({"text": "what a lovely day"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "order-42");
    let header = r.headers()["x-prediction-id"].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    assert_eq!(id_of(&body), header);

    let r = c
        .post(s.url("/v1/models/topic/predict"))
        .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        .json(&json!({"inputs": [{"text": "the rocket reached orbit"}, {"text": "the goalie saved it"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert!(r.headers().get("x-prediction-id").is_none(), "a list has one id per item, not one header");
    let body: Value = r.json().await.unwrap();
    let ids: Vec<String> = body["predictions"].as_array().unwrap().iter().map(id_of).collect();
    assert_ne!(ids[0], ids[1]);

    let (_, rec) = s.post("/v1/models/recsys/recommend", json!({"user_id": "196", "k": 3})).await;
    id_of(&rec);
    let (status, v2) = s
        .post(
            "/v2/models/email/infer",
            json!({"id": "req-7", "inputs": [{"name": "subject", "shape": [2], "datatype": "BYTES", "data": ["hi", "WIN NOW"]},
                                  {"name": "body", "shape": [2], "datatype": "BYTES", "data": ["lunch?", "free money"]}]}),
        )
        .await;
    assert_eq!(status, 200, "{v2}");
    assert_eq!(v2["id"], "req-7", "the OIP request id is returned");
    let v2_ids = v2["parameters"]["prediction_ids"].as_array().unwrap();
    assert_eq!(v2_ids.len(), 2);

    let off = Server::ready(&["--prediction-ids", "false"]).await;
    let (_, plain) = off.post("/v1/models/sentiment/predict", json!({"text": "fine"})).await;
    assert!(plain.get("prediction_id").is_none(), "{plain}");
    let (status, body) =
        off.post("/v1/models/sentiment/feedback", json!({"prediction_id": "x", "label": "neutral"})).await;
    assert_eq!(status, 404);
    assert!(error_of(&body, "feedback_disabled").contains("--prediction-ids=false"));
}

#[tokio::test]
async fn feedback_is_scored_once_into_accuracy_confusion_satisfaction_and_delay() {
    let s = Server::ready(&[]).await;
    let texts = ["I love this wonderful film", "an awful, boring mess", "I love it, truly great"];
    let (_, body) = s.post("/v1/models/sentiment/predict", json!({"inputs": texts.map(|t| json!({"text": t}))})).await;
    let preds = body["predictions"].as_array().unwrap();
    let labels: Vec<&str> = preds.iter().map(|p| p["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["positive", "negative", "positive"], "{body}");
    let ids: Vec<String> = preds.iter().map(id_of).collect();
    assert_eq!(labelled(&s, "positive").await, 0.0, "quality series exist from the load");

    // Two right, one wrong (the third is really negative), with a satisfaction and a thumb.
    let (status, r) = s
        .post(
            "/v1/models/sentiment/feedback",
            json!({"feedback": [
                {"prediction_id": ids[0], "label": "positive", "satisfaction": 5},
                {"prediction_id": ids[1], "label": "negative", "thumbs": "up"},
                {"prediction_id": ids[2], "label": "negative"},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!((r["matched"].as_u64(), r["rejected"].as_u64()), (Some(3), Some(0)), "{r}");
    assert_eq!(labelled(&s, "positive").await, 1.0);
    assert_eq!(labelled(&s, "negative").await, 2.0);
    let correct = |l: &'static str| {
        let s = &s;
        async move { s.metric(&format!(r#"inferwatch_correct_predictions_total{{{SENTIMENT},true_label="{l}"}}"#)).await }
    };
    assert_eq!((correct("positive").await, correct("negative").await), (Some(1.0), Some(1.0)));
    let confusion =
        format!(r#"inferwatch_confusion_total{{{SENTIMENT},true_label="negative",predicted_label="positive"}}"#);
    assert_eq!(s.metric(&confusion).await, Some(1.0));
    assert_eq!(s.metric(&format!("inferwatch_satisfaction_score_count{{{SENTIMENT}}}")).await, Some(1.0));
    assert_eq!(s.metric(&format!("inferwatch_satisfaction_score_sum{{{SENTIMENT}}}")).await, Some(5.0));
    assert_eq!(s.metric(&format!(r#"inferwatch_feedback_votes_total{{{SENTIMENT},vote="up"}}"#)).await, Some(1.0));
    assert_eq!(s.metric(&format!("inferwatch_feedback_delay_seconds_count{{{SENTIMENT}}}")).await, Some(3.0));
    let expected = s.metric(&format!("inferwatch_labelled_predictions_expected_correct_total{{{SENTIMENT}}}")).await;
    let confidence_sum: f64 = preds.iter().map(|p| p["confidence"].as_f64().unwrap()).sum();
    assert!((expected.unwrap() - confidence_sum).abs() < 1e-4, "{expected:?} vs {confidence_sum}");

    // Resending counts nothing; a satisfaction arriving later for a labelled prediction counts.
    let (status, dup) =
        s.post("/v1/models/sentiment/feedback", json!({"prediction_id": ids[2], "label": "negative"})).await;
    assert_eq!(status, 409, "{dup}");
    assert!(error_of(&dup, "duplicate_feedback").contains("counted once"));
    let (status, later) =
        s.post("/v1/models/sentiment/feedback", json!({"prediction_id": ids[2], "satisfaction": 1})).await;
    assert_eq!(status, 200, "{later}");
    assert_eq!(labelled(&s, "negative").await, 2.0);
    assert_eq!(s.metric(&format!("inferwatch_satisfaction_score_count{{{SENTIMENT}}}")).await, Some(2.0));

    // A list answers per item: matched, duplicate, unknown, another model's prediction.
    let (_, topic) = s.post("/v1/models/topic/predict", json!({"text": "the shuttle launch"})).await;
    let (_, fresh) = s.post("/v1/models/sentiment/predict", json!({"text": "nice"})).await;
    let (status, mixed) = s
        .post(
            "/v1/models/sentiment/feedback",
            json!({"feedback": [
                {"prediction_id": id_of(&fresh), "label": "positive"},
                {"prediction_id": ids[0], "label": "positive"},
                {"prediction_id": "0123456789abcdef01234567", "label": "positive"},
                {"prediction_id": id_of(&topic), "label": "positive"},
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{mixed}");
    let outcomes: Vec<&str> =
        mixed["results"].as_array().unwrap().iter().map(|r| r["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["matched", "duplicate", "unknown_prediction", "model_mismatch"], "{mixed}");
    assert_eq!(s.metric(r#"inferwatch_feedback_total{model="sentiment",outcome="matched"}"#).await, Some(5.0));
    assert_eq!(s.metric(r#"inferwatch_feedback_total{model="sentiment",outcome="duplicate"}"#).await, Some(2.0));
    assert_eq!(
        s.metric(r#"inferwatch_feedback_total{model="sentiment",outcome="unknown_prediction"}"#).await,
        Some(1.0)
    );
}

#[tokio::test]
async fn bad_feedback_is_refused_with_a_json_error_and_nothing_is_counted() {
    let s = Server::ready(&["--max-feedback-items", "5"]).await;
    let (_, p) = s.post("/v1/models/sentiment/predict", json!({"text": "it is a film"})).await;
    let id = id_of(&p);
    let post = |body: Value| s.post("/v1/models/sentiment/feedback", body);
    let cases: Vec<(Value, u16, &str, &str)> = vec![
        (json!({"prediction_id": id, "label": "happy"}), 422, "validation_error", "not one of the model's labels"),
        (json!({"prediction_id": id, "rating": 4}), 422, "validation_error", "wrong type"),
        (json!({"prediction_id": id, "values": [1.0]}), 422, "validation_error", "wrong type"),
        (json!({"prediction_id": id, "satisfaction": 0}), 422, "validation_error", "1 to 5"),
        (json!({"prediction_id": id, "thumbs": "meh"}), 422, "validation_error", "unknown variant"),
        (json!({"prediction_id": id}), 422, "validation_error", "no feedback"),
        (json!({"label": "neutral"}), 422, "validation_error", "prediction_id"),
        (json!({"prediction_id": 7, "label": "neutral"}), 422, "validation_error", "invalid type"),
        (json!({"prediction_id": "x".repeat(65), "label": "neutral"}), 422, "validation_error", "1 to 64"),
        (
            json!({"prediction_id": "does-not-exist", "label": "neutral"}),
            404,
            "unknown_prediction",
            "unknown or expired",
        ),
        (json!({"feedback": []}), 422, "validation_error", "empty"),
        (
            json!({"feedback": [{"prediction_id": id, "label": "neutral"}, {"prediction_id": id, "label": "bad"}]}),
            422,
            "validation_error",
            "feedback[1]",
        ),
        (
            json!({"feedback": (0..6).map(|i| json!({"prediction_id": i.to_string(), "label": "neutral"})).collect::<Vec<_>>()}),
            413,
            "too_many_items",
            "limit of 5",
        ),
        (json!(["not", "an", "object"]), 422, "validation_error", "expected a feedback item"),
    ];
    for (body, status, kind, needle) in cases {
        let (got, answer) = post(body.clone()).await;
        assert_eq!(got, status, "{body} -> {answer}");
        let msg = error_of(&answer, kind);
        assert!(msg.contains(needle), "{body}: {msg}");
    }
    let (status, answer) =
        s.post_raw("/v1/models/sentiment/feedback", "application/json", "{\"prediction_id\": ").await;
    assert_eq!(status, 400);
    error_of(&answer, "invalid_json");
    let (status, answer) = s.post("/v1/models/nope/feedback", json!({"prediction_id": id, "label": "neutral"})).await;
    assert_eq!(status, 404);
    error_of(&answer, "model_not_found");
    for label in ["negative", "neutral", "positive"] {
        assert_eq!(labelled(&s, label).await, 0.0, "nothing counted for {label}");
    }
    // The id is still good for the right feedback.
    let (status, ok) = post(json!({"prediction_id": id, "label": "neutral"})).await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(labelled(&s, "neutral").await, 1.0);
}

#[tokio::test]
async fn ratings_and_forecasts_score_squared_and_percentage_errors() {
    let s = Server::ready(&[]).await;
    let (_, r) = s.post("/v1/models/recsys/predict", json!({"user_id": "196", "item_id": "242"})).await;
    let rating = r["rating"].as_f64().unwrap();
    let (status, fb) = s.post("/v1/models/recsys/feedback", json!({"prediction_id": id_of(&r), "rating": 5.0})).await;
    assert_eq!(status, 200, "{fb}");
    let sq = s.metric(r#"inferwatch_rating_squared_error_total{model="recsys",version="1.0.0"}"#).await.unwrap();
    assert!((sq - (rating - 5.0).powi(2)).abs() < 1e-4, "{sq} vs {rating}");
    let (status, bad) = s.post("/v1/models/recsys/feedback", json!({"prediction_id": id_of(&r), "rating": 9})).await;
    assert_eq!(status, 422);
    assert!(error_of(&bad, "validation_error").contains("rating range 1 to 5"));
    let (_, rec) = s.post("/v1/models/recsys/recommend", json!({"user_id": "196", "k": 3})).await;
    let (status, bad) = s.post("/v1/models/recsys/feedback", json!({"prediction_id": id_of(&rec), "rating": 3})).await;
    assert_eq!(status, 422, "a recommendation list takes no rating: {bad}");
    let (status, _) =
        s.post("/v1/models/recsys/feedback", json!({"prediction_id": id_of(&rec), "thumbs": "down"})).await;
    assert_eq!(status, 200);

    let values: Vec<f64> =
        (0..48).map(|i| 100.0 + f64::from(i) + 10.0 * (f64::from(i) * std::f64::consts::PI / 6.0).sin()).collect();
    let (_, t) = s.post("/v1/models/trend/predict", json!({"values": values, "horizon": 3})).await;
    let forecast: Vec<f64> = t["forecast"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    let observed = [150.0, 0.0];
    let (status, fb) =
        s.post("/v1/models/trend/feedback", json!({"prediction_id": id_of(&t), "values": observed})).await;
    assert_eq!(status, 200, "{fb}");
    let ape =
        s.metric(r#"inferwatch_forecast_absolute_percentage_error_sum{model="trend",version="1.0.0"}"#).await.unwrap();
    let count = s.metric(r#"inferwatch_forecast_absolute_percentage_error_count{model="trend",version="1.0.0"}"#).await;
    assert_eq!(count, Some(1.0), "the observed zero is skipped");
    assert!((ape - ((forecast[0] - 150.0) / 150.0).abs()).abs() < 1e-9, "{ape}");
    let (_, t2) = s.post("/v1/models/trend/predict", json!({"values": values, "horizon": 2})).await;
    let (status, bad) =
        s.post("/v1/models/trend/feedback", json!({"prediction_id": id_of(&t2), "values": [1.0, 2.0, 3.0]})).await;
    assert_eq!(status, 422);
    assert!(error_of(&bad, "validation_error").contains("forecast 2 steps"), "{bad}");
}

#[tokio::test]
async fn feedback_for_one_servers_prediction_counts_once_at_another_and_survives_its_restart() {
    let redis = Redis::start();
    let url = redis.url();
    let mut first = Server::ready(&["--redis-url", &url, "--job-workers", "0"]).await;
    let second = Server::ready(&["--redis-url", &url, "--job-workers", "0"]).await;
    let (_, body) = first
        .post("/v1/models/email/predict", json!({"inputs": [{"subject": "hello", "body": "lunch at noon?"}, {"subject": "WIN", "body": "free money, click now"}]}))
        .await;
    let ids: Vec<String> = body["predictions"].as_array().unwrap().iter().map(id_of).collect();
    // Graceful stop: the writer flushes what it holds; the records are in Redis, not in the process.
    first.terminate();
    let stored = redis.command(&["EXISTS", &format!("inferwatch:prediction:{}", ids[0])]);
    assert_eq!(stored.as_deref(), Some(":1\r\n"), "the record is in Redis after the predicting process stopped");

    let feedback = json!({"prediction_id": ids[0], "label": "ham"});
    let (status, r) = second.post("/v1/models/email/feedback", feedback.clone()).await;
    assert_eq!(status, 200, "{r}");
    let restarted = Server::ready(&["--redis-url", &url, "--job-workers", "0"]).await;
    let (status, dup) = restarted.post("/v1/models/email/feedback", feedback).await;
    assert_eq!(status, 409, "counted once across processes: {dup}");
    let (status, r) =
        restarted.post("/v1/models/email/feedback", json!({"prediction_id": ids[1], "label": "spam"})).await;
    assert_eq!(status, 200, "{r}");
    let ham = r#"inferwatch_labelled_predictions_total{model="email",version="1.0.0",true_label="ham"}"#;
    assert_eq!(second.metric(ham).await, Some(1.0));
    assert_eq!(restarted.metric(ham).await, Some(0.0), "the duplicate counted nothing at the restarted process");
    let store_up = r#"inferwatch_dependency_up{dependency="prediction_store",required="false"}"#;
    assert_eq!(restarted.metric(store_up).await, Some(1.0));
}

#[tokio::test]
async fn with_redis_down_predictions_still_answer_and_feedback_is_a_503_that_counts_nothing() {
    let mut redis = Redis::start();
    let s = Server::ready(&["--redis-url", &redis.url(), "--job-workers", "0"]).await;
    let (_, before) = s.post("/v1/models/sentiment/predict", json!({"text": "a fine film"})).await;
    let id = id_of(&before);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await; // the writer stores it
    redis.kill();
    let (status, p) = s.post("/v1/models/sentiment/predict", json!({"text": "still answered"})).await;
    assert_eq!(status, 200, "{p}");
    id_of(&p);
    let (status, body) =
        s.post("/v1/models/sentiment/feedback", json!({"prediction_id": id, "label": "positive"})).await;
    assert_eq!(status, 503, "{body}");
    assert!(error_of(&body, "feedback_store_unavailable").contains("retry the feedback later"));
    assert_eq!(labelled(&s, "positive").await, 0.0);
    let dropped = r#"inferwatch_prediction_records_dropped_total{store="redis",reason="store_error"}"#;
    for _ in 0..50 {
        if s.metric(dropped).await.unwrap_or(0.0) >= 1.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        s.metric(dropped).await.unwrap_or(0.0) >= 1.0,
        "the record written while Redis was down is counted as dropped"
    );
    assert_eq!(
        s.metric(r#"inferwatch_dependency_up{dependency="prediction_store",required="false"}"#).await,
        Some(0.0)
    );

    // Redis back: the record written before the outage is matched (append-only persistence).
    redis.spawn();
    let mut answered = 0;
    for _ in 0..50 {
        let (status, _) =
            s.post("/v1/models/sentiment/feedback", json!({"prediction_id": id, "label": "positive"})).await;
        answered = status;
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(answered, 200, "feedback for the pre-outage prediction is matched once Redis is back");
    assert_eq!(labelled(&s, "positive").await, 1.0);
}
