//! Redis over TLS (`rediss://`) against a real `redis-server` speaking TLS only, with
//! certificates made by `openssl` for the test: a private CA named by `--redis-ca-file` lets
//! jobs and feedback through; a certificate from another CA, or none of the system's roots,
//! is refused (the queue reports down, predictions go on); a CA file with a plain `redis://`
//! URL stops the start.

mod common;

use common::redis::Redis;
use common::tls::certificates;
use common::{error_of, tempdir, Server};
use serde_json::json;
use std::time::{Duration, Instant};

async fn wait_done(s: &Server, id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = s.get(&format!("/v1/jobs/{id}")).await;
        if status == 200 && body["status"] == "done" {
            return body;
        }
        assert!(Instant::now() < deadline, "job {id} not done: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn jobs_and_feedback_go_through_redis_over_tls_with_a_private_ca() {
    let dir = tempdir("redis-tls-ok");
    let (ca, cert, key) = certificates(&dir, "ok");
    let redis = Redis::start_tls(&cert, &key);
    assert!(redis.url().starts_with("rediss://"));
    let s = Server::ready(&[
        "--preload",
        "sentiment",
        "--redis-url",
        &redis.url(),
        "--redis-ca-file",
        ca.to_str().expect("path"),
    ])
    .await;
    let (status, body) =
        s.post("/v1/models/sentiment/jobs", json!({"inputs": [{"text": "lovely"}, {"text": "dreadful"}]})).await;
    assert_eq!(status, 202, "{body}");
    let done = wait_done(&s, body["job_id"].as_str().expect("job id")).await;
    assert_eq!(done["predictions"].as_array().map(Vec::len), Some(2), "{done}");
    // Prediction records wait in the same Redis: feedback finds them.
    let (_, p) = s.post("/v1/models/sentiment/predict", json!({"text": "a fine day"})).await;
    let id = p["prediction_id"].as_str().expect("prediction id");
    let (status, fb) = s.post("/v1/models/sentiment/feedback", json!({"prediction_id": id, "label": "positive"})).await;
    assert_eq!(status, 200, "{fb}");
    let (status, ready) = s.get("/ready").await;
    assert_eq!((status, &ready["dependencies"]["queue"]["up"]), (200, &json!(true)), "{ready}");
}

#[tokio::test]
async fn a_redis_certificate_no_trusted_ca_signed_is_refused_and_predictions_go_on() {
    let dir = tempdir("redis-tls-bad");
    let (_, cert, key) = certificates(&dir, "served");
    let (other_ca, _, _) = certificates(&dir, "other");
    let redis = Redis::start_tls(&cert, &key);
    let url = redis.url();
    for extra in [vec!["--redis-ca-file", other_ca.to_str().expect("path")], vec![]] {
        let args = [
            vec!["--preload", "sentiment", "--prediction-store", "memory", "--redis-url", url.as_str()],
            extra.clone(),
        ]
        .concat();
        let s = Server::ready(&args).await;
        let (status, body) = s.post("/v1/models/sentiment/jobs", json!({"inputs": [{"text": "lovely"}]})).await;
        assert_eq!(status, 503, "{extra:?}: {body}");
        error_of(&body, "queue_unavailable");
        let (status, _) = s.post("/v1/models/sentiment/predict", json!({"text": "still served"})).await;
        assert_eq!(status, 200);
        let (status, ready) = s.get("/ready").await;
        assert_eq!((status, &ready["dependencies"]["queue"]["up"]), (200, &json!(false)), "{ready}");
    }
}

#[tokio::test]
async fn a_redis_ca_file_without_a_tls_url_or_unreadable_stops_the_start() {
    let dir = tempdir("redis-tls-conf");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, "not a certificate").expect("file");
    let missing = dir.join("missing.pem");
    let (good_ca, _, _) = certificates(&dir, "conf");
    for (url, file, says) in [
        ("redis://127.0.0.1:1/0", &good_ca, "not rediss://"),
        ("rediss://127.0.0.1:1/0", &missing, "cannot read the Redis CA file"),
        ("rediss://127.0.0.1:1/0", &ca, "holds no PEM certificate"),
    ] {
        let text = common::start_refused(&[
            "--redis-url".as_ref(),
            url.as_ref(),
            "--redis-ca-file".as_ref(),
            file.as_os_str(),
        ]);
        assert!(text.contains(says), "{says}: {text}");
    }
}
