//! The Redis batch queue against a real `redis-server` (Debian's), started by the test with
//! append-only persistence on a free loopback port: jobs, bad input, a dead worker's job
//! reclaimed, and Redis killed mid-way with every accepted job still completing.

mod common;

use common::redis::Redis;
use common::{error_of, Server};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

async fn wait_job(s: &Server, id: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let (status, body) = s.get(&format!("/v1/jobs/{id}")).await;
        if status == 200 && (body["status"] == "done" || body["status"] == "failed") {
            return body;
        }
        assert!(Instant::now() < deadline, "job {id} not finished: {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn texts(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"text": if i % 2 == 0 { format!("I love this, number {i}") } else { format!("awful thing {i}") }}))
        .collect()
}

#[tokio::test]
async fn a_job_is_accepted_processed_and_matches_direct_predictions() {
    let redis = Redis::start();
    let s = Server::ready(&["--redis-url", &redis.url()]).await;
    let items = texts(600); // more than one per-request chunk (256)
    let (status, body) = s.post("/v1/models/sentiment/jobs", json!({"inputs": items})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "queued");
    assert_eq!(body["items"], 600);
    let id = body["job_id"].as_str().unwrap().to_string();
    let done = wait_job(&s, &id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "done", "{done}");
    let preds = done["predictions"].as_array().unwrap();
    assert_eq!(preds.len(), 600);
    let (_, direct) = s.post("/v1/models/sentiment/predict", json!({"inputs": items[..256].to_vec()})).await;
    // Every item has its own prediction id; apart from it, the answers are /predict's.
    let ids: std::collections::HashSet<&str> = preds.iter().filter_map(|p| p["prediction_id"].as_str()).collect();
    assert_eq!(ids.len(), 600, "one distinct prediction id per job item");
    let without_id = |v: &[Value]| -> Vec<Value> {
        v.iter()
            .map(|p| {
                let mut p = p.clone();
                p.as_object_mut().map(|o| o.remove("prediction_id"));
                p
            })
            .collect()
    };
    assert!(
        without_id(&preds[..256]) == without_id(direct["predictions"].as_array().unwrap()),
        "same answers as /predict"
    );
    assert!(done["finished_at_ms"].as_u64() >= done["started_at_ms"].as_u64());

    let (_, _, metrics) = s.text("/metrics").await;
    assert!(metrics.contains(r#"inferwatch_batch_jobs_total{model="sentiment",outcome="done"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"inferwatch_dependency_up{dependency="queue",required="true"} 1"#));
    assert!(metrics
        .contains(r#"inferwatch_dependency_request_duration_seconds_count{dependency="queue",operation="submit"}"#));
    let (status, ready) = s.get("/ready").await;
    assert_eq!((status, &ready["dependencies"]["queue"]["up"]), (200, &json!(true)), "{ready}");
}

#[tokio::test]
async fn bad_jobs_are_refused_before_they_are_queued() {
    let redis = Redis::start();
    let s = Server::ready(&["--redis-url", &redis.url(), "--max-job-items", "300"]).await;
    let (status, body) = s.post("/v1/models/nope/jobs", json!({"inputs": [{"text": "x"}]})).await;
    assert_eq!(status, 404);
    error_of(&body, "model_not_found");
    for bad in [json!({}), json!({"inputs": []}), json!({"inputs": "text"})] {
        let (status, body) = s.post("/v1/models/sentiment/jobs", bad.clone()).await;
        assert_eq!(status, 422, "{bad}: {body}");
        error_of(&body, "validation_error");
    }
    let (status, body) = s.post("/v1/models/sentiment/jobs", json!({"inputs": texts(301)})).await;
    assert_eq!(status, 422);
    assert!(error_of(&body, "validation_error").contains("at most 300"));
    let mut items = texts(290);
    items[280] = json!({"text": ""});
    let (status, body) = s.post("/v1/models/sentiment/jobs", json!({"inputs": items})).await;
    assert_eq!(status, 422, "{body}");
    assert!(error_of(&body, "validation_error").contains("inputs[280]: text must not be empty"), "{body}");
    for id in ["0123456789abcdef0123456789abcdef", "not-a-job", "..%2F..%2Fetc"] {
        let (status, body) = s.get(&format!("/v1/jobs/{id}")).await;
        assert_eq!(status, 404, "{id}");
        error_of(&body, "job_not_found");
    }
    assert_eq!(redis.command(&["XLEN", "inferwatch:jobs"]).as_deref(), Some(":0\r\n"), "nothing was queued");
}

/// A job is checked in pieces of the per-request limit (256 items by default); an item that
/// does not even decode, deep in the second piece, is still named by its place in the job, as
/// `/predict` names it.
#[tokio::test]
async fn a_malformed_item_deep_in_a_job_is_named_by_its_position_in_the_job() {
    let redis = Redis::start();
    let s = Server::ready(&["--redis-url", &redis.url()]).await;
    let mut items = texts(300);
    items[280] = json!({"text": 5});
    let body = json!({"inputs": items});
    let (status, job) = s.post("/v1/models/sentiment/jobs", body.clone()).await;
    assert_eq!(status, 422, "{job}");
    let job_error = error_of(&job, "validation_error");
    assert!(job_error.starts_with("invalid inputs[280] (text input"), "{job_error}");
    let (status, direct) = s.post("/v1/models/sentiment/predict", json!({"inputs": texts(1)})).await;
    assert_eq!(status, 200, "{direct}");
    let mut short = texts(200);
    short[180] = json!({"text": 5});
    let (_, direct) = s.post("/v1/models/sentiment/predict", json!({"inputs": short})).await;
    assert!(error_of(&direct, "validation_error").starts_with("invalid inputs[180] (text input"), "{direct}");
    assert_eq!(redis.command(&["XLEN", "inferwatch:jobs"]).as_deref(), Some(":0\r\n"), "nothing was queued");
}

/// The queue is bounded: past `--max-queued-jobs` unfinished jobs a submission is a 429; every
/// job expires from its submission (the answer says when, so a client can tell an expired job
/// from a lost one); a finished job keeps its results, not its inputs.
#[tokio::test]
async fn the_queue_is_bounded_jobs_expire_from_submission_and_finished_jobs_drop_their_inputs() {
    let redis = Redis::start();
    let api = Server::ready(&["--redis-url", &redis.url(), "--job-workers", "0", "--max-queued-jobs", "2"]).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (status, body) = api.post("/v1/models/sentiment/jobs", json!({"inputs": texts(3)})).await;
        assert_eq!(status, 202, "{body}");
        let expires = body["expires_at_ms"].as_u64().expect("expires_at_ms");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        assert!(expires > now + 86_000_000 && expires <= now + 86_400_000, "a day from now: {body}");
        ids.push(body["job_id"].as_str().unwrap().to_string());
    }
    let (status, body) = api.post("/v1/models/sentiment/jobs", json!({"inputs": texts(3)})).await;
    assert_eq!(status, 429, "{body}");
    assert!(error_of(&body, "queue_full").contains("limit of 2 unfinished jobs"), "{body}");
    let key = format!("inferwatch:job:{}", ids[0]);
    let ttl = redis.command(&["PTTL", &key]).unwrap_or_default();
    let ttl: i64 = ttl.trim().trim_start_matches(':').parse().unwrap_or(-1);
    assert!(ttl > 86_000_000, "a queued job expires from its submission: PTTL {ttl}");
    assert_eq!(
        api.metric(r#"inferwatch_configured_limit{limit="queued_jobs"}"#).await,
        Some(2.0),
        "the cap is exported beside its use"
    );

    let _worker = Server::ready(&["--redis-url", &redis.url()]).await;
    for id in &ids {
        let job = wait_job(&api, id, Duration::from_secs(30)).await;
        assert_eq!(job["status"], "done", "{job}");
        assert_eq!(job["attempts"], 1, "{job}");
    }
    assert_eq!(redis.command(&["HEXISTS", &key, "items"]).as_deref(), Some(":0\r\n"), "inputs dropped");
    let (status, body) = api.post("/v1/models/sentiment/jobs", json!({"inputs": texts(3)})).await;
    assert_eq!(status, 202, "room again once jobs finish: {body}");
}

/// A job whose runs stop their worker every time is not reclaimed forever: once taken more than
/// `--job-max-attempts` times it is failed, listed on the dead-letter stream and counted. (Five
/// crashed runs are written into the job as its attempt count, as five dead workers leave it.)
#[tokio::test]
async fn a_job_that_never_finishes_is_dead_lettered_after_its_attempts() {
    let redis = Redis::start();
    let api = Server::ready(&["--redis-url", &redis.url(), "--job-workers", "0", "--job-max-attempts", "5"]).await;
    let (status, body) = api.post("/v1/models/sentiment/jobs", json!({"inputs": texts(2)})).await;
    assert_eq!(status, 202, "{body}");
    let id = body["job_id"].as_str().unwrap().to_string();
    redis.command(&["HSET", &format!("inferwatch:job:{id}"), "attempts", "5"]).expect("five crashed runs");
    let worker = Server::ready(&["--redis-url", &redis.url(), "--job-max-attempts", "5"]).await;
    let job = wait_job(&api, &id, Duration::from_secs(30)).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap_or("").contains("given up after 6 attempts"), "{job}");
    assert_eq!(redis.command(&["XLEN", "inferwatch:jobs:dead"]).as_deref(), Some(":1\r\n"));
    // The entry is acknowledged right after the outcome is stored.
    let deadline = Instant::now() + Duration::from_secs(10);
    while redis.command(&["XLEN", "inferwatch:jobs"]).as_deref() != Some(":0\r\n") {
        assert!(Instant::now() < deadline, "the dead-lettered job's entry was never acknowledged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let dead = worker.metric(r#"inferwatch_batch_jobs_total{model="sentiment",outcome="dead_lettered"}"#).await;
    assert_eq!(dead, Some(1.0));
}

#[tokio::test]
async fn without_a_queue_the_job_routes_say_so() {
    let s = Server::ready(&[]).await;
    let (status, body) = s.post("/v1/models/sentiment/jobs", json!({"inputs": [{"text": "x"}]})).await;
    assert_eq!(status, 404);
    assert!(error_of(&body, "queue_disabled").contains("--redis-url"));
    let (status, body) = s.get("/ready").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_job_left_by_a_dead_worker_is_reclaimed_and_finished() {
    let redis = Redis::start();
    // An API-only replica accepts the job; a worker that then dies takes it.
    let api = Server::ready(&["--redis-url", &redis.url(), "--job-workers", "0"]).await;
    let (status, body) =
        api.post("/v1/models/topic/jobs", json!({"inputs": [{"text": "the rocket reached orbit"}]})).await;
    assert_eq!(status, 202, "{body}");
    let id = body["job_id"].as_str().unwrap().to_string();
    let taken = redis
        .command(&[
            "XREADGROUP",
            "GROUP",
            "inferwatch-workers",
            "dead-worker",
            "COUNT",
            "10",
            "STREAMS",
            "inferwatch:jobs",
            ">",
        ])
        .unwrap();
    assert!(taken.contains(&id), "the dead worker took the job: {taken}");
    let (_, body) = api.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(body["status"], "queued");

    let worker = Server::ready(&["--redis-url", &redis.url(), "--job-claim-idle-ms", "300"]).await;
    let done = wait_job(&worker, &id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "done", "{done}");
    assert_eq!(done["predictions"][0]["top_k"][0]["label"], "sci.space", "{done}");
    let (_, _, metrics) = worker.text("/metrics").await;
    assert!(metrics.contains(r#"inferwatch_batch_jobs_total{model="topic",outcome="reclaimed"} 1"#), "{metrics}");
    assert_eq!(redis.command(&["XLEN", "inferwatch:jobs"]).as_deref(), Some(":0\r\n"), "acknowledged and removed");
}

#[tokio::test]
async fn redis_killed_mid_way_refuses_new_jobs_keeps_predicting_and_ready_and_loses_no_accepted_job() {
    let mut redis = Redis::start();
    let s = Server::ready(&["--redis-url", &redis.url(), "--job-claim-idle-ms", "500"]).await;
    let mut accepted = Vec::new();
    for i in 0..20 {
        let (status, body) = s.post("/v1/models/email/jobs", json!({"inputs": (0..50 + i * 10).map(|k| json!({"subject": format!("offer {k}"), "body": "win money now, click here"})).collect::<Vec<_>>()})).await;
        assert_eq!(status, 202, "{body}");
        accepted.push(body["job_id"].as_str().unwrap().to_string());
    }
    redis.kill();

    let (status, body) = s.post("/v1/models/email/jobs", json!({"inputs": [{"subject": "hi", "body": "hello"}]})).await;
    assert_eq!(status, 503, "{body}");
    assert!(error_of(&body, "queue_unavailable").contains("single predictions still work"));
    let (status, body) = s.post("/v1/models/email/predict", json!({"subject": "hi", "body": "see you at lunch"})).await;
    assert_eq!(status, 200, "single predictions keep working: {body}");
    // Readiness never depends on Redis: the pod stays in the Service, reporting the queue down.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, body) = s.get("/ready").await;
        assert_eq!(status, 200, "a Redis outage must not empty the Service: {body}");
        if body["dependencies"]["queue"]["up"] == json!(false) {
            break;
        }
        assert!(Instant::now() < deadline, "/ready never reported the queue down: {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (_, _, metrics) = s.text("/metrics").await;
    assert!(metrics.contains(r#"inferwatch_dependency_up{dependency="queue",required="true"} 0"#));
    assert!(metrics.contains(r#"inferwatch_batch_jobs_total{model="email",outcome="rejected"} 1"#), "{metrics}");

    redis.spawn();
    let mut done = 0;
    for id in &accepted {
        let job = wait_job(&s, id, Duration::from_secs(60)).await;
        assert_eq!(job["status"], "done", "{job}");
        assert_eq!(job["predictions"].as_array().unwrap().len(), job["items"].as_u64().unwrap() as usize);
        done += 1;
    }
    assert_eq!(done, accepted.len(), "count in == count out");
    s.wait_for("/ready", 200).await;
}

/// A worker's blocking read (`XREADGROUP ... BLOCK`) holds its Redis connection for the whole
/// wait, and Redis answers a connection's commands in order. On one shared connection every
/// submission and status read queued behind the workers' waits (about 2 s each, found by the
/// soak); each worker now waits on a connection of its own.
#[tokio::test]
async fn each_worker_waits_for_jobs_on_a_redis_connection_of_its_own() {
    let redis = Redis::start();
    let s = Server::ready(&["--preload", "sentiment", "--redis-url", &redis.url(), "--job-workers", "3"]).await;
    let (status, body) = s.post("/v1/models/sentiment/jobs", json!({"inputs": texts(2)})).await;
    assert_eq!(status, 202, "{body}");
    wait_job(&s, body["job_id"].as_str().unwrap(), Duration::from_secs(30)).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let clients = redis.command(&["CLIENT", "LIST"]).unwrap_or_default();
        let waiting = clients.lines().filter(|l| l.contains("cmd=xreadgroup")).count();
        if waiting == 3 {
            break;
        }
        assert!(Instant::now() < deadline, "{waiting} connections wait for jobs, not one per worker:\n{clients}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _) = s.get("/v1/jobs/0123456789abcdef0123456789abcdef").await;
    assert_eq!(status, 404, "a status read is answered while the workers wait");
}
