//! The real server on loopback: every route, every model, and every kind of bad input.

mod common;

use common::{error_of, Server};
use serde_json::json;
use std::io::{Read, Write};
use std::time::Duration;

#[tokio::test]
async fn health_answers_ok() {
    let s = Server::start(&[]).await;
    let (status, body) = s.get("/health").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
}

#[tokio::test]
async fn ready_lists_every_model_loaded() {
    let s = Server::ready(&[]).await;
    let (status, body) = s.get("/ready").await;
    assert_eq!(status, 200);
    for m in ["sentiment", "topic", "email", "recsys", "trend"] {
        assert_eq!(body["models"][m]["loaded"], true, "{body}");
    }
}

#[tokio::test]
async fn ready_is_503_and_names_a_model_whose_checksum_fails() {
    let dir = tempdir("corrupt");
    copy_package("trend", &dir);
    copy_package("sentiment", &dir);
    let onnx = dir.join("trend/model.onnx");
    let mut bytes = std::fs::read(&onnx).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&onnx, bytes).unwrap();
    let s = Server::start(&["--model-dir", dir.to_str().unwrap()]).await;
    s.wait_for("/v2/models/sentiment/ready", 200).await;
    let (status, body) = s.get("/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["models"]["sentiment"]["loaded"], true);
    assert_eq!(body["models"]["trend"]["loaded"], false);
    assert!(body["models"]["trend"]["error"].as_str().unwrap().contains("sha256"), "{body}");
    assert!(error_of(&body, "not_ready").contains("trend"));
    let (status, body) = s.post("/v1/models/trend/predict", json!({"values": [1, 2, 3, 4], "horizon": 1})).await;
    assert_eq!(status, 503);
    error_of(&body, "model_unavailable");
}

/// A package whose drift reference is malformed fails its load with an error naming the feature
/// (model.json is not covered by the checksum, so this is the check that catches it).
#[tokio::test]
async fn a_malformed_drift_reference_fails_the_load_naming_the_feature() {
    let dir = tempdir("bad-reference");
    copy_package("topic", &dir);
    copy_package("sentiment", &dir);
    let path = dir.join("topic/model.json");
    let mut meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    meta["reference_distribution"]["features"][0]["shares"] = json!([0.5, 0.5]);
    std::fs::write(&path, meta.to_string()).unwrap();
    let s = Server::start(&["--model-dir", dir.to_str().unwrap()]).await;
    s.wait_for("/v2/models/sentiment/ready", 200).await;
    let (status, body) = s.get("/ready").await;
    assert_eq!(status, 503, "{body}");
    let error = body["models"]["topic"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("reference_distribution.features input_tokens") && error.contains("2 shares"), "{body}");
    let (_, _, metrics) = s.text("/metrics").await;
    assert!(metrics.contains(r#"inferwatch_model_load_failures_total{model="topic",reason="invalid_package"}"#));
}

/// Every referenced bin exists at zero after load; a prediction moves exactly one bin per feature.
#[tokio::test]
async fn a_prediction_counts_one_bin_of_each_drift_feature() {
    let s = Server::ready(&[]).await;
    let count = |metrics: &str, feature: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| {
                l.starts_with("inferwatch_drift_observations_total{")
                    && l.contains(r#"model="email""#)
                    && l.contains(&format!(r#"feature="{feature}""#))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let (_, _, before) = s.text("/metrics").await;
    assert!(before.contains(r#"feature="body_chars",bin="+Inf"} 0"#), "bins exist at zero");
    let (status, _) = s.post("/v1/models/email/predict", json!({"subject": "lunch", "body": "see you at noon"})).await;
    assert_eq!(status, 200);
    let (_, _, after) = s.text("/metrics").await;
    for f in ["input_tokens", "unknown_token_share", "subject_chars", "body_chars", "predicted_label", "confidence"] {
        assert_eq!(count(&after, f) - count(&before, f), 1.0, "{f}");
    }
    assert!(after.contains(r#"inferwatch_drift_reference_ratio{model="email",version="#));
    assert!(
        after.contains(r#"side="input",feature="subject_chars",bin="10"} 1"#),
        "a 5-character subject is in bin 10"
    );
}

#[tokio::test]
async fn sentiment_predicts_label_confidence_and_all_probabilities() {
    let s = Server::ready(&[]).await;
    let (status, body) =
        s.post("/v1/models/sentiment/predict", json!({"text": "I love this movie, it is wonderful"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["label"], "positive");
    let probs = body["probabilities"].as_object().unwrap();
    assert_eq!(probs.len(), 3);
    let sum: f64 = probs.values().map(|v| v.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-4);
    assert_eq!(body["confidence"], body["probabilities"]["positive"]);
    let (_, body) = s.post("/v1/models/sentiment/predict", json!({"text": "this is terrible, awful and broken"})).await;
    assert_eq!(body["label"], "negative");
}

#[tokio::test]
async fn batch_requests_return_one_prediction_per_input_in_order() {
    let s = Server::ready(&[]).await;
    let (status, body) = s
        .post(
            "/v1/models/sentiment/predict",
            json!({"inputs": [{"text": "great, I love it"}, {"text": "horrible, I hate it"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let preds = body["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 2);
    assert_eq!((preds[0]["label"].as_str(), preds[1]["label"].as_str()), (Some("positive"), Some("negative")));
}

/// 64 sentiment requests in flight at once share model runs (dynamic batching): each still gets
/// exactly the answer its text gets from a server with batching off, and every row runs once.
#[tokio::test]
async fn concurrent_requests_share_runs_and_each_gets_its_own_answer() {
    let unbatched = Server::ready(&["--dynamic-batching", "false"]).await;
    let batched = Server::ready(&[]).await;
    let moods = ["awful, broken, I hate it", "wonderful, I love it", "it was fine I guess"];
    let texts: Vec<String> = (0..64).map(|i| format!("review {i}: {}", moods[i % 3])).collect();
    let mut want = Vec::new();
    for t in &texts {
        let (status, body) = unbatched.post("/v1/models/sentiment/predict", json!({"text": t})).await;
        assert_eq!(status, 200, "{body}");
        want.push(body);
    }
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, t) in texts.iter().enumerate() {
        let request = client.post(batched.url("/v1/models/sentiment/predict")).json(&json!({"text": t}));
        tasks.spawn(async move {
            let response = request.send().await.expect("request");
            (i, response.status().as_u16(), response.json::<serde_json::Value>().await.expect("json"))
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (i, status, got) = done.expect("task");
        assert_eq!(status, 200, "{got}");
        assert_eq!(got["label"], want[i]["label"], "request {i}");
        for label in ["negative", "neutral", "positive"] {
            let (a, b) = (got["probabilities"][label].as_f64(), want[i]["probabilities"][label].as_f64());
            assert!((a.unwrap_or(-1.0) - b.unwrap_or(1.0)).abs() < 1e-5, "request {i}: {got} vs {}", want[i]);
        }
    }
    let rows_ran = |metrics: String| {
        let series = r#"inferwatch_model_run_rows_sum{model="sentiment",version="1.0.0"} "#;
        metrics.lines().find_map(|l| l.strip_prefix(series)).and_then(|v| v.parse::<f64>().ok())
    };
    assert_eq!(rows_ran(batched.text("/metrics").await.2), Some(64.0), "every row ran exactly once");
    assert_eq!(rows_ran(unbatched.text("/metrics").await.2), Some(0.0), "no shared runs with batching off");
}

#[tokio::test]
async fn topic_returns_top_k_labels() {
    let s = Server::ready(&[]).await;
    let (status, body) = s
        .post(
            "/v1/models/topic/predict",
            json!({"text": "the space shuttle launch to orbit was delayed by nasa engineers"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["label"], "sci.space");
    let top = body["top_k"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    assert!(top[0]["probability"].as_f64() >= top[1]["probability"].as_f64());
}

#[tokio::test]
async fn email_flags_spam_with_probability() {
    let s = Server::ready(&[]).await;
    let (status, body) = s
        .post("/v1/models/email/predict", json!({"subject": "WIN MONEY NOW", "body": "Click here to claim your free prize! Limited offer, act now, 100% free"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["spam"].as_bool(), body["label"].as_str()), (Some(true), Some("spam")));
    let (_, body) = s
        .post("/v1/models/email/predict", json!({"subject": "Re: patch for the build script", "body": "I tested your patch on the cvs head and it works; the makefile still needs the exmh fix."}))
        .await;
    assert_eq!(body["spam"], false, "{body}");
}

#[tokio::test]
async fn recsys_rates_known_pairs_and_reports_each_cold_start_kind() {
    let s = Server::ready(&[]).await;
    let cases = [
        (json!(196), json!(242), "none"),
        (json!("no-such-user"), json!("242"), "unknown_user"),
        (json!("196"), json!("no-such-item"), "unknown_item"),
        (json!("x"), json!("y"), "both"),
    ];
    for (u, i, kind) in cases {
        let (status, body) = s.post("/v1/models/recsys/predict", json!({"user_id": u, "item_id": i})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["cold_start"], kind);
        let r = body["rating"].as_f64().unwrap();
        assert!((1.0..=5.0).contains(&r));
    }
}

#[tokio::test]
async fn recommend_returns_k_unseen_items_sorted_by_rating() {
    let s = Server::ready(&[]).await;
    let (status, body) = s.post("/v1/models/recsys/recommend", json!({"user_id": "196", "k": 5})).await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().unwrap();
    assert_eq!(items.len(), 5);
    let r: Vec<f64> = items.iter().map(|i| i["rating"].as_f64().unwrap()).collect();
    assert!(r.windows(2).all(|w| w[0] >= w[1]));
    let (status, body) = s.post("/v1/models/recsys/recommend", json!({"user_id": "196", "k": 0})).await;
    assert_eq!(status, 422);
    assert!(error_of(&body, "validation_error").contains('k'));
    let (status, body) = s.post("/v1/models/sentiment/recommend", json!({"user_id": "196"})).await;
    assert_eq!(status, 422);
    error_of(&body, "unsupported_for_model_kind");
}

#[tokio::test]
async fn trend_forecasts_detects_direction_and_flags_anomalies() {
    let s = Server::ready(&[]).await;
    let mut values: Vec<f64> =
        (0..48).map(|t| 100.0 + 0.8 * f64::from(t) + 5.0 * (f64::from(t) * std::f64::consts::PI / 6.0).sin()).collect();
    values[30] += 40.0;
    let ts: Vec<f64> = (0..48).map(|t| 1_600_000_000.0 + 86400.0 * f64::from(t)).collect();
    let (status, body) = s
        .post(
            "/v1/models/trend/predict",
            json!({"values": values, "timestamps": ts, "horizon": 12, "season_length": 12}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["direction"], "up");
    assert_eq!(body["method"], "model");
    assert_eq!(body["forecast"].as_array().unwrap().len(), 12);
    assert_eq!(body["forecast_timestamps"][0].as_f64(), Some(1_600_000_000.0 + 86400.0 * 48.0));
    assert!(body["p_value"].as_f64().unwrap() < 0.05);
    assert!(body["anomalies"].as_array().unwrap().iter().any(|a| a["index"] == 30), "{body}");
}

#[tokio::test]
async fn short_trend_series_gets_the_labelled_fallback() {
    let s = Server::ready(&[]).await;
    let (status, body) = s.post("/v1/models/trend/predict", json!({"values": [1.0, 2.0, 3.0], "horizon": 2})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["method"], "trend_line");
    assert_eq!(body["forecast"], json!([2.0, 2.0]), "three points are no significant trend: flat at their mean");
    assert!(body["note"].as_str().unwrap().contains("no season found in 3 values"), "{body}");
}

/// The README's example: two years of AirPassengers. Its season cannot be detected from two
/// repetitions, and the trend is not significant: the forecast must be flat, not the climb
/// from 169 to 316 the trained model made from the last single step.
#[tokio::test]
async fn the_readme_trend_example_gets_a_forecast_consistent_with_its_direction() {
    let s = Server::ready(&[]).await;
    let values = json!([
        112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118, 115, 126, 141, 135, 125, 149, 170, 170, 158, 133,
        114, 140
    ]);
    let (status, body) = s.post("/v1/models/trend/predict", json!({"values": values, "horizon": 6})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["direction"], "flat");
    assert_eq!(body["method"], "trend_line");
    let forecast: Vec<f64> = body["forecast"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!(forecast.iter().all(|v| (v - forecast[0]).abs() < 1e-9 && (100.0..=180.0).contains(v)), "{forecast:?}");
    // With the season given, two seasons are enough for the model, and it climbs by the drift.
    let (_, seasonal) =
        s.post("/v1/models/trend/predict", json!({"values": values, "horizon": 6, "season_length": 12})).await;
    assert_eq!(seasonal["method"], "model", "{seasonal}");
}

#[tokio::test]
async fn unknown_model_returns_404_with_json_error() {
    let s = Server::ready(&[]).await;
    let (status, body) = s.post("/v1/models/nope/predict", json!({"text": "hi"})).await;
    assert_eq!(status, 404);
    assert!(error_of(&body, "model_not_found").contains("nope"));
    let (status, body) = s.get("/v2/models/nope").await;
    assert_eq!(status, 404);
    error_of(&body, "model_not_found");
    let (status, body) = s.get("/no/such/route").await;
    assert_eq!(status, 404);
    error_of(&body, "not_found");
}

#[tokio::test]
async fn malformed_json_returns_400() {
    let s = Server::ready(&[]).await;
    let (status, body) = s.post_raw("/v1/models/sentiment/predict", "application/json", "{\"text\": ").await;
    assert_eq!(status, 400);
    error_of(&body, "invalid_json");
    let (status, body) =
        s.post_raw("/v1/models/trend/predict", "application/json", r#"{"values": [1, NaN, 3], "horizon": 1}"#).await;
    assert_eq!(status, 400, "NaN is not JSON");
    error_of(&body, "invalid_json");
}

#[tokio::test]
async fn unknown_content_type_returns_415() {
    let s = Server::ready(&[]).await;
    let (status, body) = s.post_raw("/v1/models/sentiment/predict", "text/plain", "{\"text\": \"hi\"}").await;
    assert_eq!(status, 415);
    error_of(&body, "unsupported_media_type");
}

#[tokio::test]
async fn wrong_types_missing_fields_and_empty_inputs_return_422_with_the_reason() {
    let s = Server::ready(&[]).await;
    let cases = [
        ("sentiment", json!({"text": 42}), "invalid type"),
        ("sentiment", json!({"txt": "hello"}), "unknown field"),
        ("sentiment", json!({"text": "   "}), "must not be empty"),
        ("sentiment", json!({"inputs": []}), "must not be empty"),
        ("sentiment", json!({"inputs": "hello"}), "must be a list"),
        ("sentiment", json!(["hello"]), "JSON object"),
        ("email", json!({"subject": "", "body": ""}), "must not both be empty"),
        ("recsys", json!({"user_id": "1"}), "item_id"),
        ("recsys", json!({"user_id": "", "item_id": "1"}), "user_id"),
        ("trend", json!({"values": [1.0, 2.0], "horizon": 1}), "at least 3"),
        ("trend", json!({"values": [1.0, 2.0, 3.0], "horizon": 0}), "horizon"),
        ("trend", json!({"values": [1.0, 2.0, 3.0], "horizon": 1000}), "horizon"),
        ("trend", json!({"values": [1.0, "NaN", 3.0], "horizon": 1}), "invalid type"),
        ("trend", json!({"values": [1.0, 2.0, 3.0], "horizon": 1, "season_length": 9}), "season_length"),
        ("trend", json!({"values": [1.0, 2.0, 3.0], "horizon": 1, "timestamps": [3, 2, 1]}), "increasing"),
        ("trend", json!({"values": [1.0, 2.0, 3.0], "horizon": -1}), "invalid value"),
    ];
    for (model, body, needle) in cases {
        let (status, resp) = s.post(&format!("/v1/models/{model}/predict"), body.clone()).await;
        assert_eq!(status, 422, "{model} {body} -> {resp}");
        let msg = error_of(&resp, "validation_error");
        assert!(msg.contains(needle), "{model} {body}: {msg:?} lacks {needle:?}");
    }
}

#[tokio::test]
async fn too_many_items_and_too_long_text_return_422() {
    let s = Server::ready(&["--max-batch-items", "4", "--max-text-bytes", "1000"]).await;
    let inputs: Vec<_> = (0..5).map(|_| json!({"text": "fine"})).collect();
    let (status, body) = s.post("/v1/models/sentiment/predict", json!({"inputs": inputs})).await;
    assert_eq!(status, 422);
    assert!(error_of(&body, "validation_error").contains("too many items"));
    let (status, body) = s.post("/v1/models/sentiment/predict", json!({"text": "a".repeat(1001)})).await;
    assert_eq!(status, 422);
    assert!(error_of(&body, "validation_error").contains("limit"));
}

#[tokio::test]
async fn oversized_body_returns_413() {
    let s = Server::ready(&["--max-body-bytes", "10000"]).await;
    let (status, body) = s.post("/v1/models/sentiment/predict", json!({"text": "x ".repeat(20_000)})).await;
    assert_eq!(status, 413);
    assert!(error_of(&body, "payload_too_large").contains("10000"));
    let (status, _) = s.get("/health").await;
    assert_eq!(status, 200, "the server survives");
}

/// Open a request whose body never completes: it holds a concurrency permit until the timeout.
fn stalled_request(port: u16) -> std::net::TcpStream {
    let mut c = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(c, "POST /v1/models/sentiment/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"text\"").unwrap();
    c.flush().unwrap();
    c
}

#[tokio::test]
async fn requests_beyond_the_concurrency_limit_get_429_and_probes_still_answer() {
    let s = Server::ready(&["--concurrency-limit", "1", "--request-timeout-ms", "5000"]).await;
    let _held = stalled_request(s.port);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (status, body) = s.post("/v1/models/sentiment/predict", json!({"text": "hello"})).await;
    assert_eq!(status, 429, "{body}");
    error_of(&body, "overloaded");
    assert_eq!(s.get("/health").await.0, 200);
    assert_eq!(s.get("/ready").await.0, 200);
}

#[tokio::test]
async fn a_request_past_the_timeout_gets_504() {
    let s = Server::ready(&["--request-timeout-ms", "300"]).await;
    let mut c = stalled_request(s.port);
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = c.read(&mut buf).unwrap();
    let resp = String::from_utf8_lossy(&buf[..n]);
    assert!(resp.starts_with("HTTP/1.1 504"), "{resp}");
    assert!(resp.contains("\"type\":\"timeout\""), "{resp}");
}

#[tokio::test]
async fn sigterm_drains_an_in_flight_request_before_exiting() {
    let mut s = Server::ready(&[]).await;
    let mut c = std::net::TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    let body = br#"{"text": "a calm and pleasant day"}"#;
    write!(c, "POST /v1/models/sentiment/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
    c.write_all(&body[..10]).unwrap();
    c.flush().unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(s.pid(), libc::SIGTERM) }, 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.write_all(&body[10..]).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = vec![0u8; 4096];
    let n = c.read(&mut buf).unwrap();
    let resp = String::from_utf8_lossy(&buf[..n]);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    drop(c);
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn metrics_cover_http_models_cache_and_process_after_traffic() {
    let s = Server::ready(&[]).await;
    s.post("/v1/models/sentiment/predict", json!({"text": "good"})).await;
    s.post("/v1/models/recsys/predict", json!({"user_id": "nobody", "item_id": "242"})).await;
    s.post("/v1/models/trend/predict", json!({"values": [1, 2, 3], "horizon": 1})).await;
    s.post("/v1/models/sentiment/predict", json!({"text": ""})).await;
    let (status, ct, text) = s.text("/metrics").await;
    assert_eq!(status, 200);
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let om = reqwest::Client::new()
        .get(s.url("/metrics"))
        .header("accept", "application/openmetrics-text;version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(om.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    assert!(om.text().await.unwrap().ends_with("# EOF\n"));
    for needle in [
        r#"inferwatch_http_requests_total{route="/v1/models/{name}/predict",method="POST",status="200"}"#,
        r#"inferwatch_predictions_total{model="sentiment",version="1.0.0",outcome="success"} 1"#,
        r#"inferwatch_predictions_total{model="sentiment",version="1.0.0",outcome="invalid_input"} 1"#,
        r#"inferwatch_predicted_labels_total{model="sentiment",version="1.0.0",label="positive"} 1"#,
        r#"inferwatch_prediction_stage_duration_seconds_count{model="sentiment",version="1.0.0",stage="infer"} 1"#,
        r#"inferwatch_recsys_cold_starts_total{model="recsys",version="1.0.0",kind="unknown_user"} 1"#,
        r#"inferwatch_trend_fallbacks_total{model="trend",version="1.0.0",reason="no_season"} 1"#,
        r#"inferwatch_model_cache_models 5"#,
        r#"inferwatch_model_load_duration_seconds_count{model="topic",phase="warmup"} 1"#,
        r#"inferwatch_model_info{model="email",kind="email",version="1.0.0""#,
        "inferwatch_model_cpu_seconds_total{",
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "inferwatch_build_info{",
    ] {
        assert!(text.contains(needle), "missing {needle}\n{text}");
    }
    assert!(!text.contains("nobody"), "user ids never become label values");
}

#[tokio::test]
async fn metrics_pass_promtool_check_metrics() {
    let s = Server::ready(&[]).await;
    s.post("/v1/models/email/predict", json!({"subject": "hi", "body": "lunch?"})).await;
    let (_, _, text) = s.text("/metrics").await;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (make test installs Debian's prometheus package)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && report.trim().is_empty(), "promtool check metrics:\n{report}");
}

#[tokio::test]
async fn metrics_can_be_switched_off_without_breaking_the_endpoint() {
    let s = Server::ready(&["--metrics", "false"]).await;
    s.post("/v1/models/sentiment/predict", json!({"text": "good"})).await;
    let (status, _, text) = s.text("/metrics").await;
    assert_eq!(status, 200);
    assert!(!text.contains("inferwatch_predictions_total{"));
    assert!(text.contains("inferwatch_model_cache_models 5"));
}

#[tokio::test]
async fn oip_v2_metadata_readiness_and_infer_for_every_kind() {
    let s = Server::ready(&[]).await;
    let (status, body) = s.get("/v2").await;
    assert_eq!((status, body["name"].as_str()), (200, Some("inferwatch")));
    assert_eq!(s.get("/v2/health/live").await.0, 200);
    assert_eq!(s.get("/v2/health/ready").await.0, 200);
    assert_eq!(s.get("/v2/models/topic/ready").await.0, 200);
    let (status, meta) = s.get("/v2/models/sentiment").await;
    assert_eq!(status, 200);
    assert_eq!(meta["inputs"][0]["name"], "text");
    assert_eq!(meta["versions"][0], "1.0.0");

    let (status, body) = s
        .post("/v2/models/sentiment/infer", json!({"id": "r1", "inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["I love it", "I hate it"]}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], "r1");
    let out = |name: &str| body["outputs"].as_array().unwrap().iter().find(|o| o["name"] == name).cloned().unwrap();
    assert_eq!(out("label")["data"], json!(["positive", "negative"]));
    assert_eq!(out("probabilities")["shape"], json!([2, 3]));

    let (status, body) = s
        .post(
            "/v2/models/recsys/infer",
            json!({"inputs": [
            {"name": "user_id", "shape": [1], "datatype": "INT64", "data": [196]},
            {"name": "item_id", "shape": [1], "datatype": "BYTES", "data": ["242"]}],
            "outputs": [{"name": "rating"}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outputs"].as_array().unwrap().len(), 1);

    let (status, body) = s
        .post("/v2/models/trend/infer", json!({"inputs": [{"name": "values", "shape": [1, 6], "datatype": "FP64", "data": [[1, 2, 3, 4, 5, 6]]}], "parameters": {"horizon": 2}}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = s
        .post("/v2/models/email/infer", json!({"inputs": [{"name": "subject", "shape": [1], "datatype": "BYTES", "data": ["FREE money"]}, {"name": "body", "shape": [1], "datatype": "BYTES", "data": ["click now"]}]}))
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = s
        .post(
            "/v2/models/sentiment/infer",
            json!({"inputs": [{"name": "text", "shape": [3], "datatype": "BYTES", "data": ["only one"]}]}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(error_of(&body, "validation_error").contains("shape"));
    let (status, body) = s
        .post(
            "/v2/models/recsys/infer",
            json!({"inputs": [{"name": "user_id", "shape": [1], "datatype": "BYTES", "data": ["1"]}]}),
        )
        .await;
    assert_eq!(status, 422);
    assert!(error_of(&body, "validation_error").contains("item_id"));
    let (status, _) = s.get("/v2/models/sentiment/versions/9.9.9").await;
    assert_eq!(status, 404);
}

/// One v2 request per kind, asking for every output.
fn infer_all_outputs(kind: &str) -> serde_json::Value {
    match kind {
        "sentiment" | "topic" => {
            json!({"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "data": ["good film", "the space shuttle"]}]})
        }
        "email" => {
            json!({"inputs": [{"name": "subject", "shape": [1], "datatype": "BYTES", "data": ["FREE money"]}, {"name": "body", "shape": [1], "datatype": "BYTES", "data": ["click now"]}]})
        }
        "recsys" => {
            json!({"inputs": [{"name": "user_id", "shape": [2], "datatype": "BYTES", "data": ["196", "nobody"]}, {"name": "item_id", "shape": [2], "datatype": "BYTES", "data": ["242", "302"]}]})
        }
        _ => json!({"inputs": [{"name": "values", "shape": [30], "datatype": "FP64",
            "data": (0..30).map(|i| 10.0 + f64::from(i) + if i == 17 { 40.0 } else { 0.0 }).collect::<Vec<_>>()}],
            "parameters": {"horizon": 4}}),
    }
}

/// The v2 metadata is generated from the same table the encoder writes from: for every model,
/// each output an infer answer carries is listed in `GET /v2/models/{name}` with its datatype and
/// rank, and every listed output is in the answer.
#[tokio::test]
async fn v2_metadata_lists_every_output_an_infer_answer_carries() {
    let s = Server::ready(&[]).await;
    for kind in ["sentiment", "topic", "email", "recsys", "trend"] {
        let (status, meta) = s.get(&format!("/v2/models/{kind}")).await;
        assert_eq!(status, 200, "{kind}: {meta}");
        let (status, answer) = s.post(&format!("/v2/models/{kind}/infer"), infer_all_outputs(kind)).await;
        assert_eq!(status, 200, "{kind}: {answer}");
        let listed = meta["outputs"].as_array().unwrap();
        let carried = answer["outputs"].as_array().unwrap();
        assert_eq!(listed.len(), carried.len(), "{kind}: metadata {listed:?} vs answer {carried:?}");
        for out in carried {
            let spec = listed.iter().find(|m| m["name"] == out["name"]);
            let spec = spec.unwrap_or_else(|| panic!("{kind}: output {} missing from metadata", out["name"]));
            assert_eq!(spec["datatype"], out["datatype"], "{kind}: {}", out["name"]);
            let (meta_shape, shape) = (spec["shape"].as_array().unwrap(), out["shape"].as_array().unwrap());
            assert_eq!(meta_shape.len(), shape.len(), "{kind}: rank of {}", out["name"]);
            for (m, d) in meta_shape.iter().zip(shape) {
                assert!(
                    m == &json!(-1) || m == d,
                    "{kind}: {} shape {shape:?} vs metadata {meta_shape:?}",
                    out["name"]
                );
            }
        }
    }
}

/// A body in the binary tensor data extension, as tritonclient sends it: a JSON header of
/// `header_len` bytes, then each input's data (BYTES as 4-byte little-endian lengths + bytes).
fn binary_body(header: &serde_json::Value, data: &[u8]) -> (Vec<u8>, usize) {
    let mut body = serde_json::to_vec(header).unwrap();
    let n = body.len();
    body.extend_from_slice(data);
    (body, n)
}

fn bytes_elements(items: &[&str]) -> Vec<u8> {
    items.iter().flat_map(|t| (t.len() as u32).to_le_bytes().into_iter().chain(t.bytes())).collect()
}

async fn post_binary(s: &Server, header_len: usize, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{}/v2/models/sentiment/infer", s.base))
        .header("Inference-Header-Content-Length", header_len.to_string())
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn v2_binary_tensor_extension_in_and_out() {
    let s = Server::ready(&[]).await;
    let data = bytes_elements(&["I love this", "I hate this"]);
    let header = json!({"inputs": [{"name": "text", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": data.len()}}],
        "parameters": {"binary_data_output": true}});
    let (body, n) = binary_body(&header, &data);
    let resp = post_binary(&s, n, body.clone()).await;
    assert_eq!(resp.status(), 200);
    let json_len: usize = resp.headers()["inference-header-content-length"].to_str().unwrap().parse().unwrap();
    let bytes = resp.bytes().await.unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&bytes[..json_len]).unwrap();
    let mut offset = json_len;
    let mut labels = Vec::new();
    for out in answer["outputs"].as_array().unwrap() {
        assert!(out.get("data").is_none(), "binary outputs carry no JSON data: {out}");
        let size = out["parameters"]["binary_data_size"].as_u64().unwrap() as usize;
        let raw = &bytes[offset..offset + size];
        offset += size;
        if out["name"] == "label" {
            let mut rest = raw;
            while !rest.is_empty() {
                let len = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
                labels.push(String::from_utf8(rest[4..4 + len].to_vec()).unwrap());
                rest = &rest[4 + len..];
            }
        }
        if out["name"] == "probabilities" {
            assert_eq!(size, 2 * 3 * 4, "2 x 3 FP32");
        }
    }
    assert_eq!(offset, bytes.len(), "every byte is claimed by an output");
    assert_eq!(labels, ["positive", "negative"]);

    // A header length past the body, and binary data no input claims, are clear 4xx errors.
    assert_eq!(post_binary(&s, body.len() + 10, body.clone()).await.status(), 400);
    let mut extra = body;
    extra.extend_from_slice(b"junk");
    let resp = post_binary(&s, n, extra).await;
    assert_eq!(resp.status(), 422);
    let e: serde_json::Value = resp.json().await.unwrap();
    assert!(error_of(&e, "validation_error").contains("not claimed"), "{e}");
}

#[tokio::test]
async fn openapi_document_lists_every_public_route() {
    let s = Server::start(&[]).await;
    let (status, doc) = s.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/models/{name}/predict",
        "/v1/models/{name}/recommend",
        "/v2/models/{name}/infer",
        "/health",
        "/ready",
        "/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing from openapi.json");
    }
}

fn tempdir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("inferwatch-test-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn copy_package(name: &str, to: &std::path::Path) {
    let src = common::models_dir().join(name);
    let dst = to.join(name);
    std::fs::create_dir_all(&dst).unwrap();
    for f in std::fs::read_dir(src).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), dst.join(f.file_name())).unwrap();
    }
}

#[tokio::test]
async fn dependency_health_endpoints_say_disabled_for_built_in_models() {
    let s = Server::start(&[]).await;
    for path in ["/storage/health", "/mlflow/health"] {
        let (status, body) = s.get(path).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("disabled")), "{path}: {body}");
    }
}
